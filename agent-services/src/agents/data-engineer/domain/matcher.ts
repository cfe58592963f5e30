/**
 * Duplicate detection over leads: normalisation, blocking, Fellegi-Sunter-style scoring, clustering
 * with a guard against chaining, and a survivor with merged fields per cluster. Pure.
 *
 * Scoring. Each compared field contributes a log2 likelihood ratio: agreement on value v weighs
 * log2(m / u_v), disagreement log2((1 - m) / (1 - u_f)), a near-agreement (similarity s between the
 * field's floor and 1) is interpolated between the two, and a field missing on either side weighs 0.
 * m (how often a true duplicate agrees on the field) is a fixed, documented prior per field (below).
 * u (how often two different leads agree by chance) is estimated from the data being deduplicated,
 * without labels: u_v is the frequency of value v among the other leads, smoothed towards a prior
 * u0 with K = 1000 pseudo-leads; u_f is the chance agreement rate of the field. The match score is
 * the posterior probability with prior odds 1 : max(N, 1000) for N leads:
 * score = 1 / (1 + 2^(log2(max(N, 1000)) - W)). Two leads are duplicates when score >= threshold
 * (default 0.85). Nothing here is fitted to labelled data. Two refinements for correlated evidence:
 * company name and company domain count once (the stronger), and two leads whose full names match
 * neither way round are different people unless email, LinkedIn profile or date of birth agree
 * exactly (colleagues share company, office and switchboard; that must not make them one lead).
 *
 * Blocking. Only leads sharing at least one blocking key are compared; there are several keys so a
 * typo in one field does not hide a duplicate: normalised email, E.164 phone, LinkedIn profile,
 * Soundex of the two names (in either order), Soundex of surname + postcode, Soundex of given name +
 * postcode, date of birth, normalised street address, company domain + Soundex of either name, and
 * the value of any identifier-like attribute (mostly distinct values of 4+ characters). Blocks
 * larger than maxBlockSize are skipped (counted in the result).
 *
 * Clustering. Matching pairs are merged into clusters strongest first (union-find); two clusters are
 * joined only if every pair across them scores at least chainGuard (default 0.5: each pair at least
 * as likely a match as not) and the result stays within maxClusterSize, so A~B~C chains cannot glue
 * unrelated leads together.
 */
import { LEAD_FIELD_NAMES, completeness, isEmpty, timeOf, type LeadRecord } from "./lead";
import {
  companyDomain, foldText, normalizeAddress, normalizeCompany, normalizeDate, normalizeEmail, normalizeFirstName,
  normalizeLinkedin, normalizeName, normalizePhone, normalizePostcode, soundex,
} from "./normalize";
import { codeSimilarity, jaroWinkler, textSimilarity } from "./similarity";

export interface MatchOptions {
  /** Minimum match score (posterior probability) for a pair to be duplicates. Default 0.85. */
  threshold?: number;
  /** Pairs across two clusters must all score at least this to join them. Default 0.5. */
  chainGuard?: number;
  maxClusterSize?: number;
  maxBlockSize?: number;
  /** Checked between batches of comparisons; an aborted signal stops the work (throws its reason). */
  signal?: { aborted: boolean; reason?: unknown };
}

export interface DuplicateCluster {
  survivorId: string;
  duplicateIds: string[];
  /** The weakest link that joined the cluster (every link scores at least the threshold). */
  score: number;
  /** Fields (and attributes) the survivor takes from its duplicates. */
  mergedFields: Record<string, unknown>;
  links: Array<{ a: string; b: string; score: number }>;
}

export interface DedupeResult {
  clusters: DuplicateCluster[];
  duplicatesFound: number;
  candidatePairs: number;
  skippedBlocks: number;
}

type Kind = "exact" | "name" | "code" | "text" | "email";

interface FieldSpec {
  key: string;
  kind: Kind;
  /** P(agree | same person): the field's reliability, fixed a priori. */
  m: number;
  /** Prior chance agreement of two different people on one value. */
  u0: number;
  /** Similarity below which a difference counts as full disagreement. */
  floor: number;
}

/** m and u0 per field: documented priors, not fitted to any data set. */
const FIELDS: FieldSpec[] = [
  { key: "email", kind: "email", m: 0.9, u0: 1e-6, floor: 0.9 },
  { key: "phone", kind: "code", m: 0.85, u0: 1e-5, floor: 0.8 },
  { key: "linkedin", kind: "exact", m: 0.9, u0: 1e-6, floor: 1 },
  { key: "firstName", kind: "name", m: 0.9, u0: 0.01, floor: 0.8 },
  { key: "lastName", kind: "name", m: 0.9, u0: 0.002, floor: 0.8 },
  { key: "dob", kind: "code", m: 0.9, u0: 5e-5, floor: 0.6 },
  { key: "address", kind: "text", m: 0.85, u0: 1e-4, floor: 0.7 },
  { key: "city", kind: "name", m: 0.9, u0: 0.005, floor: 0.8 },
  { key: "postcode", kind: "code", m: 0.9, u0: 0.002, floor: 0.6 },
  { key: "country", kind: "exact", m: 0.95, u0: 0.1, floor: 1 },
  { key: "company", kind: "name", m: 0.8, u0: 0.001, floor: 0.85 },
  { key: "domain", kind: "exact", m: 0.8, u0: 0.001, floor: 1 },
];
const ATTRIBUTE_SPEC = { m: 0.7, u0: 0.01 };
const PSEUDO_LEADS = 1000;
const PERSONAL_IDS = ["email", "linkedin", "dob"];
const DOB_KEYS = new Set(["dob", "dateofbirth", "birthdate", "birthday", "dateofbirthday", "birth"]);

const keyOf = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");

interface Prepared {
  values: Map<string, string>;
  blocks: string[];
}

interface FieldStats {
  spec: FieldSpec;
  counts: Map<string, number>;
  uField: number;
  n: number;
  /** log2((1 - m) / (1 - u_f)) and log2(m / u_f), set once the counts are complete. */
  disagree: number;
  agree: number;
  /** Agreement weight per value, computed on first use. */
  exact: Map<string, number>;
}

function attributeString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "object") return undefined;
  const s = typeof v === "string" ? foldText(v) : String(v).toLowerCase();
  return s === "" ? undefined : s;
}

function prepare(lead: LeadRecord): Map<string, string> {
  const v = new Map<string, string>();
  const put = (k: string, x: string | undefined) => {
    if (x) v.set(k, x);
  };
  put("email", normalizeEmail(lead.email));
  put("phone", normalizePhone(lead.phone, lead.country));
  put("linkedin", normalizeLinkedin(lead.linkedinUrl));
  put("firstName", normalizeFirstName(lead.firstName));
  put("lastName", normalizeName(lead.lastName));
  put("address", normalizeAddress(lead.address));
  put("city", foldText(lead.city));
  put("postcode", normalizePostcode(lead.postcode));
  put("country", foldText(lead.country));
  put("company", normalizeCompany(lead.company));
  put("domain", companyDomain(lead.domain, lead.email));
  for (const [k, raw] of Object.entries(lead.attributes ?? {})) {
    const nk = keyOf(k);
    if (DOB_KEYS.has(nk)) {
      if (!v.has("dob")) put("dob", normalizeDate(raw));
      continue;
    }
    put(`attr:${k}`, attributeString(raw));
  }
  return v;
}

function specFor(key: string, sample: string): FieldSpec {
  const known = FIELDS.find((f) => f.key === key);
  if (known) return known;
  const kind: Kind = /^[0-9 .-]+$/.test(sample) ? "code" : "text";
  return { key, kind, m: ATTRIBUTE_SPEC.m, u0: ATTRIBUTE_SPEC.u0, floor: kind === "code" ? 0.6 : 0.8 };
}

/** A pairwise scorer over a fixed population of leads (frequencies are taken from it). */
export class LeadMatcher {
  readonly n: number;
  private readonly prepared: Prepared[];
  private readonly stats = new Map<string, FieldStats>();
  private readonly priorBits: number;

  constructor(readonly leads: LeadRecord[]) {
    this.n = leads.length;
    this.priorBits = Math.log2(Math.max(this.n, PSEUDO_LEADS));
    const values = leads.map(prepare);
    for (const vals of values) {
      for (const [k, x] of vals) {
        let st = this.stats.get(k);
        if (!st) {
          st = { spec: specFor(k, x), counts: new Map(), uField: 0, n: 0, disagree: 0, agree: 0, exact: new Map() };
          this.stats.set(k, st);
        }
        st.counts.set(x, (st.counts.get(x) ?? 0) + 1);
        st.n++;
      }
    }
    for (const st of this.stats.values()) {
      let sumSq = 0;
      for (const c of st.counts.values()) sumSq += (c / st.n) * (c / st.n);
      st.uField = (this.n * sumSq + PSEUDO_LEADS * st.spec.u0) / (this.n + PSEUDO_LEADS);
      // Numbers mixed with text in an attribute: compare as text.
      if (st.spec.kind === "code" && [...st.counts.keys()].some((x) => !/^[0-9 .-]+$/.test(x))) st.spec = { ...st.spec, kind: "text", floor: 0.8 };
      st.disagree = Math.log2((1 - st.spec.m) / (1 - st.uField));
      st.agree = Math.log2(st.spec.m / st.uField);
    }
    const idLike = this.identifierAttributes();
    this.prepared = values.map((vals) => ({ values: vals, blocks: blockingKeys(vals, idLike) }));
  }

  /** Attributes whose values are mostly distinct and 4+ characters long: usable as blocking keys. */
  private identifierAttributes(): Set<string> {
    const out = new Set<string>();
    for (const [k, st] of this.stats) {
      if (!k.startsWith("attr:") || st.n < 2) continue;
      let len = 0;
      for (const [x, c] of st.counts) len += x.length * c;
      if (st.counts.size / st.n >= 0.3 && len / st.n >= 4) out.add(k);
    }
    return out;
  }

  private fieldWeight(key: string, a: string, b: string): number {
    const st = this.stats.get(key)!;
    const { m, u0, floor, kind } = st.spec;
    const disagree = st.disagree;
    if (a === b) {
      let w = st.exact.get(a);
      if (w === undefined) {
        const others = Math.max((st.counts.get(a) ?? 0) - 2, 0);
        w = Math.log2(m / ((others + PSEUDO_LEADS * u0) / (this.n + PSEUDO_LEADS)));
        st.exact.set(a, w);
      }
      return w;
    }
    if (floor >= 1) return disagree;
    let s: number;
    switch (kind) {
      case "email": {
        const [la, da] = splitAt(a);
        const [lb, db] = splitAt(b);
        s = da === db ? jaroWinkler(la, lb) : 0;
        break;
      }
      case "code":
        s = codeSimilarity(a, b);
        break;
      case "text":
        s = textSimilarity(a, b);
        break;
      default:
        s = jaroWinkler(a, b);
    }
    if (s <= floor) return disagree;
    return disagree + (st.agree - disagree) * Math.min(1, (s - floor) / (1 - floor));
  }

  /** Total evidence (log2 likelihood ratio) that leads i and j are the same person. */
  weight(i: number, j: number): number {
    const a = this.prepared[i].values;
    const b = this.prepared[j].values;
    let w = 0;
    let org: number | undefined;
    for (const [k, x] of a) {
      if (k === "firstName" || k === "lastName") continue;
      const y = b.get(k);
      if (y === undefined) continue;
      const fw = this.fieldWeight(k, x, y);
      // Company name and company domain say the same thing: count the stronger one only.
      if (k === "company" || k === "domain") org = org === undefined ? fw : Math.max(org, fw);
      else w += fw;
    }
    if (org !== undefined) w += org;
    // Names, straight or swapped (given name and surname exchanged), whichever fits better.
    const fa = a.get("firstName");
    const la = a.get("lastName");
    const fb = b.get("firstName");
    const lb = b.get("lastName");
    const straight = (fa && fb ? this.fieldWeight("firstName", fa, fb) : 0) + (la && lb ? this.fieldWeight("lastName", la, lb) : 0);
    let names = straight;
    if (fa && lb && la && fb) {
      const first = this.fieldWeight("firstName", fa, fb);
      const last = this.fieldWeight("lastName", la, lb);
      const cf = this.crossWeight("firstName", fa, lb);
      const cl = this.crossWeight("lastName", la, fb);
      if (fa !== fb) names = Math.max(straight, cf + cl - 1);
      // Two full names that match neither way round are two people (colleagues share a company,
      // an office and a switchboard), unless a personal identifier agrees exactly.
      if (first < 0 && last < 0 && (cf < 0 || cl < 0) && !PERSONAL_IDS.some((k) => a.get(k) !== undefined && a.get(k) === b.get(k))) {
        return -Infinity;
      }
    }
    return w + names;
  }

  private crossWeight(key: string, a: string, b: string): number {
    const st = this.stats.get(key);
    if (!st) return 0;
    const s = a === b ? 1 : jaroWinkler(a, b);
    if (s <= st.spec.floor) return st.disagree;
    return st.disagree + (st.agree - st.disagree) * Math.min(1, (s - st.spec.floor) / (1 - st.spec.floor));
  }

  /** Match score in [0, 1]: the posterior probability of a match, prior odds 1 : max(N, 1000). */
  score(i: number, j: number): number {
    return 1 / (1 + Math.pow(2, this.priorBits - this.weight(i, j)));
  }

  /** Pairs (i < j) sharing at least one blocking key, each once. */
  candidatePairs(maxBlockSize: number): { pairs: Array<[number, number]>; skippedBlocks: number } {
    const blocks = new Map<string, number[]>();
    this.prepared.forEach((p, i) => {
      for (const key of p.blocks) {
        const list = blocks.get(key);
        if (list) list.push(i);
        else blocks.set(key, [i]);
      }
    });
    const seen = new Set<number>();
    const pairs: Array<[number, number]> = [];
    let skippedBlocks = 0;
    for (const members of blocks.values()) {
      if (members.length < 2) continue;
      if (members.length > maxBlockSize) {
        skippedBlocks++;
        continue;
      }
      for (let x = 0; x < members.length; x++) {
        for (let y = x + 1; y < members.length; y++) {
          const i = members[x];
          const j = members[y];
          const id = i < j ? i * this.n + j : j * this.n + i;
          if (seen.has(id)) continue;
          seen.add(id);
          pairs.push(i < j ? [i, j] : [j, i]);
        }
      }
    }
    return { pairs, skippedBlocks };
  }
}

function splitAt(email: string): [string, string] {
  const at = email.lastIndexOf("@");
  return [email.slice(0, at), email.slice(at + 1)];
}

function blockingKeys(v: Map<string, string>, idLike: Set<string>): string[] {
  const keys: string[] = [];
  const add = (k: string, ...parts: Array<string | undefined>) => {
    if (parts.every((p) => p)) keys.push(`${k}:${parts.join("|")}`);
  };
  add("e", v.get("email"));
  add("p", v.get("phone"));
  add("li", v.get("linkedin"));
  const sf = soundex(v.get("firstName") ?? "") || undefined;
  const sl = soundex(v.get("lastName") ?? "") || undefined;
  if (sf && sl) add("n", ...[sf, sl].sort());
  add("lp", sl, v.get("postcode"));
  add("fp", sf, v.get("postcode"));
  add("d", v.get("dob"));
  add("ad", v.get("address"));
  add("dl", v.get("domain"), sl);
  add("df", v.get("domain"), sf);
  for (const k of idLike) add(`a:${k}`, v.get(k));
  return keys;
}

/** Finds the duplicate clusters among leads; see the module comment for the method. */
export function findDuplicates(leads: LeadRecord[], options: MatchOptions = {}): DedupeResult {
  const threshold = options.threshold ?? 0.85;
  const guard = options.chainGuard ?? 0.5;
  const maxCluster = options.maxClusterSize ?? 50;
  const matcher = new LeadMatcher(leads);
  const { pairs, skippedBlocks } = matcher.candidatePairs(options.maxBlockSize ?? 500);
  const checkAbort = () => {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error("aborted");
  };

  const scores = new Map<number, number>();
  const pairId = (i: number, j: number) => (i < j ? i * matcher.n + j : j * matcher.n + i);
  const scoreOf = (i: number, j: number) => {
    const id = pairId(i, j);
    let s = scores.get(id);
    if (s === undefined) {
      s = matcher.score(i, j);
      scores.set(id, s);
    }
    return s;
  };

  const edges: Array<{ i: number; j: number; s: number }> = [];
  for (let k = 0; k < pairs.length; k++) {
    if (k % 2000 === 0) checkAbort();
    const [i, j] = pairs[k];
    const s = scoreOf(i, j);
    if (s >= threshold) edges.push({ i, j, s });
  }
  edges.sort((x, y) => y.s - x.s || x.i - y.i || x.j - y.j);

  // Union-find with member lists and the links that joined each cluster.
  const parent = leads.map((_, i) => i);
  const members = new Map<number, number[]>();
  const links = new Map<number, Array<{ i: number; j: number; s: number }>>();
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  const membersOf = (r: number) => members.get(r) ?? [r];
  for (const e of edges) {
    const ra = find(e.i);
    const rb = find(e.j);
    if (ra === rb) continue;
    const A = membersOf(ra);
    const B = membersOf(rb);
    if (A.length + B.length > maxCluster) continue;
    let ok = true;
    for (const a of A) {
      for (const b of B) {
        if (scoreOf(a, b) < guard) {
          ok = false;
          break;
        }
      }
      if (!ok) break;
    }
    if (!ok) continue;
    const [big, small] = A.length >= B.length ? [ra, rb] : [rb, ra];
    parent[small] = big;
    members.set(big, [...membersOf(big), ...membersOf(small)]);
    links.set(big, [...(links.get(big) ?? []), ...(links.get(small) ?? []), e]);
    members.delete(small);
    links.delete(small);
  }

  const clusters: DuplicateCluster[] = [];
  const roots = [...members.keys()].sort((x, y) => Math.min(...membersOf(x)) - Math.min(...membersOf(y)));
  for (const r of roots) {
    const group = membersOf(r).map((i) => leads[i]);
    const survivor = chooseSurvivor(group);
    const duplicates = group.filter((l) => l !== survivor);
    const ls = links.get(r) ?? [];
    clusters.push({
      survivorId: survivor.id,
      duplicateIds: duplicates.map((d) => d.id),
      score: round(Math.min(...ls.map((l) => l.s))),
      mergedFields: mergeInto(survivor, duplicates),
      links: ls.map((l) => ({ a: leads[l.i].id, b: leads[l.j].id, score: round(l.s) })),
    });
  }
  return { clusters, duplicatesFound: clusters.reduce((n, c) => n + c.duplicateIds.length, 0), candidatePairs: pairs.length, skippedBlocks };
}

const round = (x: number) => Math.round(x * 10000) / 10000;

/** The lead that survives: the most complete, then the most recently updated, then the oldest. */
export function chooseSurvivor(group: LeadRecord[]): LeadRecord {
  return [...group].sort(
    (a, b) =>
      completeness(b) - completeness(a) ||
      timeOf(b.updatedAt) - timeOf(a.updatedAt) ||
      timeOf(a.createdAt) - timeOf(b.createdAt) ||
      (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  )[0];
}

/**
 * What the survivor takes from its duplicates: each empty field from the most recently updated
 * duplicate that has it, and each attribute it lacks likewise (under `attributes`).
 */
export function mergeInto(survivor: LeadRecord, duplicates: LeadRecord[]): Record<string, unknown> {
  const byRecency = [...duplicates].sort((a, b) => timeOf(b.updatedAt) - timeOf(a.updatedAt));
  const merged: Record<string, unknown> = {};
  for (const f of LEAD_FIELD_NAMES) {
    if (!isEmpty(survivor[f])) continue;
    const donor = byRecency.find((d) => !isEmpty(d[f]));
    if (donor) merged[f] = donor[f];
  }
  const attrs: Record<string, unknown> = {};
  const own = survivor.attributes ?? {};
  for (const d of byRecency) {
    for (const [k, v] of Object.entries(d.attributes ?? {})) {
      if (isEmpty(v) || (k in own && !isEmpty(own[k])) || k in attrs) continue;
      attrs[k] = v;
    }
  }
  if (Object.keys(attrs).length) merged.attributes = attrs;
  return merged;
}
