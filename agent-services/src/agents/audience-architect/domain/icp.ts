/**
 * Ideal-customer-profile fit: each criterion the profile names (industries, titles, seniorities,
 * countries, company size) scores a lead between 0 and 1; the score is the weighted mean times 100,
 * with a reason for every criterion. A criterion the lead has no data for scores 0 and says so.
 */
import { toNumber } from "./frame";

export interface IcpProfile {
  industries?: string[];
  titles?: string[];
  seniorities?: string[];
  countries?: string[];
  employeeCountMin?: number;
  employeeCountMax?: number;
  /** Criterion name (industry, title, seniority, country, employeeCount; plural forms accepted) to weight. */
  weights?: Record<string, number>;
}

export interface IcpLead {
  industry?: unknown;
  title?: unknown;
  seniority?: unknown;
  country?: unknown;
  employeeCount?: unknown;
}

export interface IcpScore {
  score: number;
  reasons: string[];
  criteria: Record<string, number>;
}

export type Criterion = "industry" | "title" | "seniority" | "country" | "employeeCount";

const ALIASES: Record<string, Criterion> = {
  industry: "industry",
  industries: "industry",
  title: "title",
  titles: "title",
  seniority: "seniority",
  seniorities: "seniority",
  country: "country",
  countries: "country",
  employeecount: "employeeCount",
  employee_count: "employeeCount",
  companysize: "employeeCount",
  size: "employeeCount",
};

const text = (v: unknown) => (typeof v === "string" || typeof v === "number" ? String(v).trim() : "");
const norm = (v: unknown) => text(v).toLowerCase().replace(/[^\p{L}\p{N}]+/gu, " ").trim();
const tokens = (v: unknown) => norm(v).split(" ").filter(Boolean);

/** ISO 3166 alpha-2 codes and English names, both ways, from the runtime's own region names. */
let countryIndex: Map<string, string> | undefined;
function countryCode(v: unknown): string | undefined {
  if (!countryIndex) {
    countryIndex = new Map();
    const names = new Intl.DisplayNames(["en"], { type: "region", fallback: "none" });
    for (let a = 65; a <= 90; a++) {
      for (let b = 65; b <= 90; b++) {
        const code = String.fromCharCode(a, b);
        let name: string | undefined;
        try {
          name = names.of(code);
        } catch {
          name = undefined;
        }
        if (!name || name === code) continue;
        countryIndex.set(code.toLowerCase(), code);
        countryIndex.set(norm(name), code);
      }
    }
    for (const [alias, code] of Object.entries({ usa: "US", "united states of america": "US", america: "US", uk: "GB", "great britain": "GB", england: "GB", uae: "AE", "south korea": "KR", russia: "RU", holland: "NL" })) {
      countryIndex.set(alias, code);
    }
  }
  const key = norm(v);
  return key ? countryIndex.get(key) ?? countryIndex.get(key.replace(/ /g, "")) : undefined;
}

export function normaliseWeights(profile: IcpProfile): Map<Criterion, number> {
  const present: Criterion[] = [];
  if (profile.industries?.length) present.push("industry");
  if (profile.titles?.length) present.push("title");
  if (profile.seniorities?.length) present.push("seniority");
  if (profile.countries?.length) present.push("country");
  if (profile.employeeCountMin !== undefined || profile.employeeCountMax !== undefined) present.push("employeeCount");
  const weights = new Map<Criterion, number>(present.map((c) => [c, 1]));
  for (const [k, w] of Object.entries(profile.weights ?? {})) {
    const c = ALIASES[k.toLowerCase()];
    if (c && weights.has(c)) weights.set(c, w);
  }
  return weights;
}

/** Problems that make the profile unusable (no criteria, all weights zero, min above max). */
export function checkProfile(profile: IcpProfile): string[] {
  const problems: string[] = [];
  const weights = normaliseWeights(profile);
  if (weights.size === 0) problems.push("the profile names no criteria (industries, titles, seniorities, countries, employeeCountMin/Max)");
  else if ([...weights.values()].every((w) => w === 0)) problems.push("every criterion of the profile has weight 0");
  if (profile.employeeCountMin !== undefined && profile.employeeCountMax !== undefined && profile.employeeCountMin > profile.employeeCountMax) {
    problems.push("employeeCountMin is above employeeCountMax");
  }
  for (const k of Object.keys(profile.weights ?? {})) if (!ALIASES[k.toLowerCase()]) problems.push(`unknown criterion "${k}" in weights`);
  return problems;
}

/** Title match: a profile title matches when all its words appear in the lead's title (so "VP Sales" matches "VP of Sales, EMEA"). */
function titleMatch(leadTitle: unknown, wanted: string[]): string | undefined {
  const have = new Set(tokens(leadTitle));
  return wanted.find((w) => {
    const t = tokens(w);
    return t.length > 0 && t.every((x) => have.has(x));
  });
}

function industryMatch(leadIndustry: unknown, wanted: string[]): string | undefined {
  const li = norm(leadIndustry);
  if (!li) return undefined;
  return wanted.find((w) => norm(w) === li) ?? wanted.find((w) => norm(w).length >= 3 && (li.includes(norm(w)) || norm(w).includes(li)));
}

export function scoreIcp(lead: IcpLead, profile: IcpProfile): IcpScore {
  const weights = normaliseWeights(profile);
  const reasons: string[] = [];
  const criteria: Record<string, number> = {};
  let total = 0;
  let got = 0;
  const add = (c: Criterion, value: number, reason: string) => {
    const w = weights.get(c) ?? 0;
    criteria[c] = value;
    total += w;
    got += w * value;
    reasons.push(reason);
  };
  if (weights.has("industry")) {
    const v = text(lead.industry);
    const m = industryMatch(v, profile.industries!);
    add("industry", m ? 1 : 0, !v ? "industry unknown" : m ? `industry "${v}" matches "${m}"` : `industry "${v}" is not in the profile`);
  }
  if (weights.has("title")) {
    const v = text(lead.title);
    const m = titleMatch(v, profile.titles!);
    add("title", m ? 1 : 0, !v ? "title unknown" : m ? `title "${v}" matches "${m}"` : `title "${v}" matches none of the profile's titles`);
  }
  if (weights.has("seniority")) {
    const v = text(lead.seniority);
    const m = profile.seniorities!.find((s) => norm(s) === norm(v));
    add("seniority", m ? 1 : 0, !v ? "seniority unknown" : m ? `seniority "${v}" matches` : `seniority "${v}" is not in the profile`);
  }
  if (weights.has("country")) {
    const v = text(lead.country);
    const code = countryCode(v);
    const m = profile.countries!.find((c) => (code && countryCode(c) === code) || norm(c) === norm(v));
    add("country", m ? 1 : 0, !v ? "country unknown" : m ? `country "${v}" matches "${m}"` : `country "${v}" is not in the profile`);
  }
  if (weights.has("employeeCount")) {
    const n = toNumber(lead.employeeCount);
    const min = profile.employeeCountMin ?? 0;
    const max = profile.employeeCountMax ?? Infinity;
    const range = `${min}${max === Infinity ? "+" : `-${max}`}`;
    if (Number.isNaN(n)) add("employeeCount", 0, "company size unknown");
    else if (n >= min && n <= max) add("employeeCount", 1, `company size ${n} is within ${range}`);
    else if ((n < min && n * 2 >= min) || (n > max && n <= max * 2)) add("employeeCount", 0.5, `company size ${n} is near ${range}`);
    else add("employeeCount", 0, `company size ${n} is outside ${range}`);
  }
  const score = total > 0 ? Math.round((1000 * got) / total) / 10 : 0;
  return { score, reasons, criteria };
}
