/**
 * Normalisation shared by the enrichment providers: job titles, seniority (one vocabulary for all
 * providers: Apollo's, the most detailed of the three), company domains and LinkedIn URLs. Pure.
 */

/** Seniority levels, highest first (Apollo's `person_seniorities` vocabulary). */
export const SENIORITIES = ["owner", "founder", "c_suite", "partner", "vp", "head", "director", "manager", "senior", "entry", "intern"] as const;
export type Seniority = (typeof SENIORITIES)[number];

const ACRONYMS = new Set([
  "ceo", "cto", "cfo", "coo", "cmo", "cio", "cro", "ciso", "cpo", "cso", "cdo", "chro",
  "vp", "svp", "evp", "avp", "gm", "hr", "it", "qa", "ux", "ui", "ai", "ml", "seo", "pr", "r&d", "b2b", "saas", "sdr", "bdr", "emea", "apac", "us", "uk",
]);
const EXPANSIONS: Record<string, string> = {
  sr: "Senior", "sr.": "Senior", snr: "Senior", jr: "Junior", "jr.": "Junior",
  mgr: "Manager", mngr: "Manager", dir: "Director", "dir.": "Director", eng: "Engineer", engr: "Engineer",
  mktg: "Marketing", mkt: "Marketing", ops: "Operations", acct: "Account", exec: "Executive", admin: "Administrator",
  asst: "Assistant", assoc: "Associate", dev: "Developer", pres: "President", "vice-president": "Vice President",
};
const SMALL_WORDS = new Set(["of", "and", "the", "for", "in", "at", "to", "on", "a", "an", "&", "de", "du", "la"]);

/** "sr. software eng" -> "Senior Software Engineer"; "vp of SALES" -> "VP of Sales". */
export function normaliseTitle(raw: string | null | undefined): string | undefined {
  if (!raw) return undefined;
  const words = raw.replace(/\s+/g, " ").trim().split(" ").filter(Boolean);
  if (!words.length) return undefined;
  return words
    .map((word, i) => {
      // Keep separators glued to words ("Sales,", "(EMEA)") while normalising the word itself.
      const m = /^([^\p{L}\p{N}&]*)(.*?)([^\p{L}\p{N}&.]*)$/u.exec(word)!;
      const [, pre, core, post] = m;
      const lower = core.toLowerCase();
      let out: string;
      if (EXPANSIONS[lower]) out = EXPANSIONS[lower];
      else if (ACRONYMS.has(lower.replace(/\.$/, ""))) out = lower.replace(/\.$/, "").toUpperCase();
      else if (i > 0 && SMALL_WORDS.has(lower)) out = lower;
      else out = lower.split("-").map((p) => (p ? p[0].toUpperCase() + p.slice(1) : p)).join("-");
      return pre + out + post;
    })
    .join(" ");
}

const SENIORITY_RULES: [RegExp, Seniority][] = [
  [/\bintern(ship)?\b/i, "intern"],
  [/\b(co-?founder|founder)\b/i, "founder"],
  [/\bowner\b/i, "owner"],
  [/\b(svp|evp|avp|vp|vice[- ]president)\b/i, "vp"],
  [/\b(chief|ceo|cto|cfo|coo|cmo|cio|cro|ciso|cpo|chro|president)\b/i, "c_suite"],
  [/\b(managing )?partner\b/i, "partner"],
  [/\bhead\b/i, "head"],
  [/\bdirector\b/i, "director"],
  [/\b(manager|mgr|supervisor|team lead)\b/i, "manager"],
  [/\b(senior|sr\.?|principal|staff|lead)\b/i, "senior"],
  [/\b(junior|jr\.?|associate|assistant|trainee|graduate|entry)\b/i, "entry"],
];

/** The seniority a job title implies; undefined when the title says nothing about it. */
export function seniorityFromTitle(title: string | null | undefined): Seniority | undefined {
  if (!title) return undefined;
  for (const [re, level] of SENIORITY_RULES) if (re.test(title)) return level;
  return undefined;
}

const SENIORITY_ALIASES: Record<string, Seniority> = {
  // Apollo's own values map to themselves.
  ...Object.fromEntries(SENIORITIES.map((s) => [s, s])),
  // ZoomInfo managementLevel.
  "c-level": "c_suite", "c level": "c_suite", "vp-level": "vp", "vp level": "vp", "director-level": "director", "manager-level": "manager", "non-manager": "entry",
  // Clearbit employment.seniority.
  executive: "c_suite",
  // Free text.
  "c-suite": "c_suite", "c suite": "c_suite", csuite: "c_suite", cxo: "c_suite", "vice president": "vp", "head of": "head", junior: "entry", mid: "senior",
};

/** A provider's or a user's seniority value in our vocabulary; undefined if unknown. */
export function normaliseSeniority(raw: unknown): Seniority | undefined {
  const values = Array.isArray(raw) ? raw : [raw];
  for (const v of values) {
    if (typeof v !== "string") continue;
    const key = v.trim().toLowerCase();
    const hit = SENIORITY_ALIASES[key] ?? SENIORITY_ALIASES[key.replace(/_/g, " ")] ?? SENIORITY_ALIASES[key.replace(/[ -]/g, "_")];
    if (hit) return hit;
  }
  return undefined;
}

/** A LinkedIn profile URL from a URL or a handle ("in/jane-doe"), as https://www.linkedin.com/in/... */
export function normaliseLinkedinUrl(raw: string | null | undefined): string | undefined {
  if (!raw) return undefined;
  const s = raw.trim();
  const path = s.replace(/^https?:\/\/([a-z]{2,3}\.)?(www\.)?linkedin\.com/i, "").replace(/^\/+/, "").replace(/\/+$/, "");
  if (!path || /\s/.test(path)) return undefined;
  return `https://www.linkedin.com/${path}`;
}

/** Trims a string; empty and non-strings become undefined. */
export function text(v: unknown): string | undefined {
  if (typeof v !== "string") return undefined;
  const t = v.trim();
  return t ? t : undefined;
}

/** The values that say something (not undefined, null, "" or an empty list), in the given order. */
export function presentValues(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && v.length === 0)));
}

/** A positive integer from a number or numeric string; undefined otherwise. */
export function count(v: unknown): number | undefined {
  const n = typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : NaN;
  return Number.isInteger(n) && n > 0 && n < 2 ** 31 ? n : undefined;
}
