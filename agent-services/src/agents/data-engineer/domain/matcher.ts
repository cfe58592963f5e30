/**
 * Duplicate detection over leads, people and organisations alike: normalisation, blocking,
 * Fellegi-Sunter-style scoring, clustering with a guard against chaining, per-link evidence, and a
 * survivor with merged fields per cluster. Pure.
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
 * Phones that do not parse (no country, and none by default) are compared by their national digits;
 * organisation names by word overlap as well as Jaro-Winkler; addresses by house number and street.
 *
 * Blocking. Only leads sharing at least one blocking key are compared; there are several keys so a
 * typo in one field does not hide a duplicate: normalised email, the last seven digits of the phone,
 * LinkedIn profile, Soundex of the two names (in either order), Soundex of surname + postcode,
 * Soundex of given name + postcode, date of birth, normalised street address, house number + street
 * word, company domain + Soundex of either name, the normalised organisation name, each distinctive
 * word of it (with the postcode or city when known), the Soundex codes of its first two words, and
 * the value of any identifier-like attribute (mostly distinct values of 4+ characters). Keys are
 * hashed and sorted in typed arrays, so a million leads block in a few hundred megabytes. Blocks
 * larger than maxBlockSize (500) are skipped, and so are mid-sized blocks when all blocks together
 * would yield more than maxCandidatePairs (the smallest blocks, from the rarest keys, are kept):
 * both are counted in the result. A pair sharing several keys is scored once.
 *
 * Clustering. Matching pairs are merged into clusters strongest first (union-find); two clusters are
 * joined only if every pair across them scores at least chainGuard (default 0.5: each pair at least
 * as likely a match as not) and the result stays within maxClusterSize, so A~B~C chains cannot glue
 * unrelated leads together.
 */
import { LEAD_FIELD_NAMES, completeness, isEmpty, timeOf, type LeadRecord } from "./lead";
import {
  addressParts, companyDomain, countryCode, foldText, normalizeAddress, normalizeCompany, normalizeDate, normalizeDomain,
  normalizeEmail, normalizeFirstName, normalizeLinkedin, normalizeName, normalizePostcode, organisationTokens, phoneKey, soundex,
} from "./normalize";
import { runSteps, runStepsPausing } from "../../../lib/steps";
import { addressSimilarity, codeSimilarity, jaroWinkler, organisationSimilarity, phoneSimilarity, sharesWord, textSimilarity } from "./similarity";

export interface MatchOptions {
  /** Minimum match score (posterior probability) for a pair to be duplicates. Default 0.85. */
  threshold?: number;
  /** Pairs across two clusters must all score at least this to join them. Default 0.5. */
  chainGuard?: number;
  maxClusterSize?: number;
  maxBlockSize?: number;
  /** Candidate pairs to score at most (blocks largest first are skipped to stay within). Default max(2,000,000, 5 per lead). */
  maxCandidatePairs?: number;
  /** Country (ISO code or name) for phones of leads without a recognised country. */
  defaultCountry?: string;
  /** Checked between batches of comparisons; an aborted signal stops the work (throws its reason). */
  signal?: { aborted: boolean; reason?: unknown };
}

/** One field's part in a match: the values compared (normalised) and the evidence it gave, in bits. */
export interface LinkEvidence {
  field: string;
  a: string;
  b: string;
  /** log2 likelihood ratio: positive for agreement, negative for disagreement. */
  weight: number;
  /** How alike the values are, 0 to 1. */
  similarity: number;
  /** How the field was compared when not as itself (names swapped). */
  note?: string;
}

export interface ClusterLink {
  a: string;
  b: string;
  score: number;
  evidence: LinkEvidence[];
}

export interface DuplicateCluster {
  survivorId: string;
  duplicateIds: string[];
  /** The weakest link that joined the cluster (every link scores at least the threshold). */
  score: number;
  /** Fields (and attributes) the survivor takes from its duplicates. */
  mergedFields: Record<string, unknown>;
  links: ClusterLink[];
}

/** A field that was present on some leads but could not be compared as given. */
export interface FieldNote {
  field: string;
  count: number;
  handling: "ignored" | "comparedByDigits";
  reason: string;
}

export interface DedupeResult {
  clusters: DuplicateCluster[];
  duplicatesFound: number;
  candidatePairs: number;
  skippedBlocks: number;
  fieldNotes: FieldNote[];
}

type Kind = "exact" | "name" | "code" | "text" | "email" | "phone" | "organisation" | "address";

interface FieldSpec {
  key: string;
  kind: Kind;
  /** P(agree | same lead): the field's reliability, fixed a priori. */
  m: number;
  /** Prior chance agreement of two different leads on one value. */
  u0: number;
  /** Similarity below which a difference counts as full disagreement. */
  floor: number;
}

/** m and u0 per field: documented priors, not fitted to any data set. */
const FIELDS: FieldSpec[] = [
  { key: "email", kind: "email", m: 0.9, u0: 1e-6, floor: 0.9 },
  { key: "phone", kind: "phone", m: 0.85, u0: 1e-5, floor: 0.8 },
  { key: "linkedin", kind: "exact", m: 0.9, u0: 1e-6, floor: 1 },
  { key: "firstName", kind: "name", m: 0.9, u0: 0.01, floor: 0.8 },
  { key: "lastName", kind: "name", m: 0.9, u0: 0.002, floor: 0.8 },
  { key: "dob", kind: "code", m: 0.9, u0: 5e-5, floor: 0.6 },
  { key: "address", kind: "address", m: 0.85, u0: 1e-4, floor: 0.7 },
  { key: "city", kind: "name", m: 0.9, u0: 0.005, floor: 0.8 },
  { key: "postcode", kind: "code", m: 0.9, u0: 0.002, floor: 0.6 },
  { key: "country", kind: "exact", m: 0.95, u0: 0.1, floor: 1 },
  { key: "company", kind: "organisation", m: 0.8, u0: 0.001, floor: 0.8 },
  { key: "domain", kind: "exact", m: 0.8, u0: 0.001, floor: 1 },
];
const ATTRIBUTE_SPEC = { m: 0.7, u0: 0.01 };
const PSEUDO_LEADS = 1000;
const PERSONAL_IDS = ["email", "linkedin", "dob"];
const DOB_KEYS = new Set(["dob", "dateofbirth", "birthdate", "birthday", "dateofbirthday", "birth"]);
/** Block keys are 31-bit hashes packed with the lead's index into one double (53 bits). */
const LEAD_BITS = 22;
export const MAX_MATCH_LEADS = 2 ** LEAD_BITS;
const MIN_ROWS_FOR_ROW_IDS = 100;

const keyOf = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");

/** 31-bit FNV-1a hash of a blocking key. */
function hashKey(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 1) & 0x7fffffff;
}

/** A growable typed array of 32-bit integers (a million leads times a dozen keys stays compact). */
class IntList {
  data: Int32Array;
  length = 0;
  constructor(capacity = 1024, private readonly fill = 0) {
    this.data = new Int32Array(capacity).fill(fill);
  }
  set(i: number, v: number): void {
    if (i >= this.data.length) this.grow(i + 1);
    this.data[i] = v;
    if (i >= this.length) this.length = i + 1;
  }
  push(v: number): void {
    this.set(this.length, v);
  }
  get(i: number): number {
    return i < this.data.length ? this.data[i] : this.fill;
  }
  private grow(min: number): void {
    const next = new Int32Array(Math.max(min, this.data.length * 2)).fill(this.fill);
    next.set(this.data);
    this.data = next;
  }
}

/** One compared field: its interned values and, per lead, the code of its value (-1: missing). */
interface Column {
  spec: FieldSpec;
  codes: IntList;
  values: string[];
  index: Map<string, number>;
  counts: number[];
  n: number;
  uField: number;
  /** log2((1 - m) / (1 - u_f)) and log2(m / u_f), set by finish(). */
  disagree: number;
  agree: number;
  /** Agreement weight per value code (NaN until first used). */
  exact?: Float64Array;
  /** False for an attribute that cannot tell duplicates apart (see finish). */
  compared: boolean;
}

function attributeString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "object") return undefined;
  const s = typeof v === "string" ? foldText(v) : String(v).toLowerCase();
  return s === "" ? undefined : s;
}

const NOTE_REASONS: Record<string, { field: string; handling: FieldNote["handling"]; reason: string }> = {
  phoneDigits: { field: "phone", handling: "comparedByDigits", reason: "not a valid number for the lead's country or the default country; compared by its national digits" },
  phoneShort: { field: "phone", handling: "ignored", reason: "fewer than 7 digits" },
  email: { field: "email", handling: "ignored", reason: "not an email address" },
  linkedin: { field: "linkedinUrl", handling: "ignored", reason: "not a LinkedIn profile URL" },
  domain: { field: "domain", handling: "ignored", reason: "not a domain name or URL" },
  dob: { field: "dob", handling: "ignored", reason: "not a date" },
  country: { field: "country", handling: "ignored", reason: "not a recognised country (phones used the default country)" },
};

function specFor(key: string, sample: string): FieldSpec {
  const known = FIELDS.find((f) => f.key === key);
  if (known) return known;
  const kind: Kind = /^[0-9 .-]+$/.test(sample) ? "code" : "text";
  return { key, kind, m: ATTRIBUTE_SPEC.m, u0: ATTRIBUTE_SPEC.u0, floor: kind === "code" ? 0.6 : 0.8 };
}

/**
 * A pairwise scorer over a population of leads, built incrementally (`add` each lead, then
 * `finish`): value frequencies are taken from the whole population. Keeps only normalised, interned
 * values and lead ids, not the leads themselves.
 */
export class LeadMatcher {
  readonly ids: string[] = [];
  private readonly columns = new Map<string, Column>();
  private readonly noteCounts = new Map<string, number>();
  private readonly rowIdAttributes: string[] = [];
  private readonly defaultCountry?: string;
  private keyHashes = new IntList(4096);
  private keyLeads = new IntList(4096);
  private priorBits = 0;
  private finished = false;
  /** Per lead, its distinct key hashes, ascending (CSR layout: offsets into hashes). */
  private leadKeyOffsets?: Int32Array;
  private leadKeyHashes?: Int32Array;
  /** (hash << LEAD_BITS | lead), sorted: blocks are runs of one hash. */
  private blockIndex?: Float64Array;

  constructor(leads: Iterable<LeadRecord> = [], options: Pick<MatchOptions, "defaultCountry"> = {}) {
    this.defaultCountry = options.defaultCountry;
    for (const lead of leads) this.add(lead);
  }

  get n(): number {
    return this.ids.length;
  }

  add(lead: LeadRecord): void {
    if (this.finished) throw new Error("LeadMatcher.add after finish");
    if (this.ids.length >= MAX_MATCH_LEADS) throw new RangeError(`at most ${MAX_MATCH_LEADS} leads can be matched in one run`);
    const i = this.ids.length;
    this.ids.push(lead.id);
    const v = this.prepare(lead);
    for (const [k, x] of v) this.intern(k, x, i);
    const keys = new Set(blockingKeys(v));
    for (const key of keys) {
      this.keyHashes.push(hashKey(key));
      this.keyLeads.push(i);
    }
  }

  private note(kind: string): void {
    this.noteCounts.set(kind, (this.noteCounts.get(kind) ?? 0) + 1);
  }

  private prepare(lead: LeadRecord): Map<string, string> {
    const v = new Map<string, string>();
    const put = (k: string, x: string | undefined) => {
      if (x) v.set(k, x);
    };
    const given = (x: unknown) => typeof x === "string" && x.trim() !== "";
    put("email", normalizeEmail(lead.email));
    if (given(lead.email) && !v.has("email")) this.note("email");
    const phone = phoneKey(lead.phone, lead.country, this.defaultCountry);
    if (phone.kind !== "none") put("phone", phone.value);
    if (given(lead.phone)) {
      if (phone.kind === "digits") this.note("phoneDigits");
      else if (phone.kind === "none") this.note("phoneShort");
    }
    if (given(lead.country) && given(lead.phone) && !countryCode(lead.country)) this.note("country");
    put("linkedin", normalizeLinkedin(lead.linkedinUrl));
    if (given(lead.linkedinUrl) && !v.has("linkedin")) this.note("linkedin");
    put("firstName", normalizeFirstName(lead.firstName));
    put("lastName", normalizeName(lead.lastName));
    put("address", normalizeAddress(lead.address));
    put("city", foldText(lead.city));
    put("postcode", normalizePostcode(lead.postcode));
    put("country", foldText(lead.country));
    put("company", normalizeCompany(lead.company));
    put("domain", companyDomain(lead.domain, lead.email));
    if (given(lead.domain) && !normalizeDomain(lead.domain)) this.note("domain");
    for (const [k, raw] of Object.entries(lead.attributes ?? {})) {
      if (DOB_KEYS.has(keyOf(k))) {
        if (v.has("dob")) continue;
        put("dob", normalizeDate(raw));
        if (!isEmpty(raw) && !v.has("dob")) this.note("dob");
        continue;
      }
      put(`attr:${k}`, attributeString(raw));
    }
    return v;
  }

  private intern(key: string, x: string, lead: number): void {
    let col = this.columns.get(key);
    if (!col) {
      col = { spec: specFor(key, x), codes: new IntList(1024, -1), values: [], index: new Map(), counts: [], n: 0, uField: 0, disagree: 0, agree: 0, compared: true };
      this.columns.set(key, col);
    }
    let code = col.index.get(x);
    if (code === undefined) {
      code = col.values.length;
      col.values.push(x);
      col.index.set(x, code);
      col.counts.push(0);
    }
    col.counts[code]++;
    col.n++;
    col.codes.set(lead, code);
  }

  /** Completes the statistics and the block index; no more leads can be added. */
  finish(): this {
    if (this.finished) return this;
    this.finished = true;
    const n = this.n;
    this.priorBits = Math.log2(Math.max(n, PSEUDO_LEADS));
    for (const col of this.columns.values()) {
      let sumSq = 0;
      for (const c of col.counts) sumSq += (c / col.n) * (c / col.n);
      col.uField = (n * sumSq + PSEUDO_LEADS * col.spec.u0) / (n + PSEUDO_LEADS);
      // Numbers mixed with text in an attribute: compare as text.
      if (col.spec.kind === "code" && col.spec.key.startsWith("attr:") && col.values.some((x) => !/^[0-9 .-]+$/.test(x))) col.spec = { ...col.spec, kind: "text", floor: 0.8 };
      col.disagree = Math.log2((1 - col.spec.m) / (1 - col.uField));
      col.agree = Math.log2(col.spec.m / col.uField);
      col.exact = new Float64Array(col.values.length).fill(NaN);
      // An attribute whose values never repeat over many leads is a row identifier: no two leads
      // agree on it, duplicates included, so comparing it would only count against every pair.
      if (col.spec.key.startsWith("attr:") && col.n >= MIN_ROWS_FOR_ROW_IDS && col.values.length === col.n) {
        col.compared = false;
        this.rowIdAttributes.push(col.spec.key.slice(5));
      }
      // The interning index is only needed while adding.
      col.index.clear();
    }
    for (const key of this.identifierAttributes()) {
      const col = this.columns.get(key)!;
      for (let i = 0; i < n; i++) {
        const c = col.codes.get(i);
        if (c < 0) continue;
        this.keyHashes.push(hashKey(`a:${key}:${col.values[c]}`));
        this.keyLeads.push(i);
      }
    }
    this.buildIndex();
    return this;
  }

  private buildIndex(): void {
    const total = this.keyHashes.length;
    const hashes = this.keyHashes.data;
    const leads = this.keyLeads.data;
    const index = new Float64Array(total);
    for (let k = 0; k < total; k++) index[k] = hashes[k] * MAX_MATCH_LEADS + leads[k];
    index.sort();
    // Per-lead hash lists, ascending (the sorted index visits hashes in order).
    const offsets = new Int32Array(this.n + 1);
    for (let k = 0; k < total; k++) offsets[leads[k] + 1]++;
    for (let i = 0; i < this.n; i++) offsets[i + 1] += offsets[i];
    const fillAt = offsets.slice(0, this.n);
    const perLead = new Int32Array(total);
    for (let k = 0; k < total; k++) {
      const lead = index[k] % MAX_MATCH_LEADS;
      perLead[fillAt[lead]++] = (index[k] - lead) / MAX_MATCH_LEADS;
    }
    this.blockIndex = index;
    this.leadKeyOffsets = offsets;
    this.leadKeyHashes = perLead;
    this.keyHashes = new IntList(1);
    this.keyLeads = new IntList(1);
  }

  /** Attributes whose values are mostly distinct and 4+ characters long: usable as blocking keys. */
  private identifierAttributes(): string[] {
    const out: string[] = [];
    for (const [k, col] of this.columns) {
      if (!k.startsWith("attr:") || col.n < 2 || !col.compared) continue;
      let len = 0;
      col.values.forEach((x, c) => (len += x.length * col.counts[c]));
      if (col.values.length / col.n >= 0.3 && len / col.n >= 4) out.push(k);
    }
    return out;
  }

  /** Fields present on some leads that could not be compared as given, with how often. */
  fieldNotes(): FieldNote[] {
    const notes = [...this.noteCounts].map(([kind, count]) => ({ ...NOTE_REASONS[kind], count }));
    for (const name of this.rowIdAttributes) {
      notes.push({ field: `attributes.${name}`, handling: "ignored", reason: "every value is different (a row identifier), so it cannot show two leads to be one", count: this.columns.get(`attr:${name}`)!.n });
    }
    return notes;
  }

  private similarity(col: Column, a: string, b: string): number {
    switch (col.spec.kind) {
      case "email": {
        const [la, da] = splitAt(a);
        const [lb, db] = splitAt(b);
        return da === db ? jaroWinkler(la, lb) : 0;
      }
      case "code":
        return codeSimilarity(a, b);
      case "text":
        return textSimilarity(a, b);
      case "phone":
        return phoneSimilarity(a, b);
      case "organisation":
        return organisationSimilarity(a, b);
      case "address":
        return addressSimilarity(a, b);
      case "exact":
        return 0;
      default:
        return jaroWinkler(a, b);
    }
  }

  /** Weight of one field for codes ca, cb (both present), with the similarity behind it. */
  private fieldWeight(col: Column, ca: number, cb: number): [weight: number, similarity: number] {
    if (ca === cb) {
      let w = col.exact![ca];
      if (Number.isNaN(w)) {
        const others = Math.max(col.counts[ca] - 2, 0);
        w = Math.log2(col.spec.m / ((others + PSEUDO_LEADS * col.spec.u0) / (this.n + PSEUDO_LEADS)));
        col.exact![ca] = w;
      }
      return [w, 1];
    }
    const s = this.similarity(col, col.values[ca], col.values[cb]);
    return [this.interpolate(col, s), s];
  }

  private interpolate(col: Column, s: number): number {
    const { floor } = col.spec;
    if (floor >= 1 || s <= floor) return col.disagree;
    return col.disagree + (col.agree - col.disagree) * Math.min(1, (s - floor) / (1 - floor));
  }

  private code(key: string, i: number): number {
    return this.columns.get(key)?.codes.get(i) ?? -1;
  }

  /**
   * Total evidence (log2 likelihood ratio) that leads i and j are the same lead; with `evidence`,
   * each field's part is pushed onto it.
   */
  weight(i: number, j: number, evidence?: LinkEvidence[]): number {
    if (!this.finished) this.finish();
    let w = 0;
    let org: { w: number; e?: LinkEvidence } | undefined;
    const record = (col: Column, ca: number, cb: number, fw: number, s: number): LinkEvidence | undefined => {
      if (!evidence) return undefined;
      const key = col.spec.key;
      return { field: key.startsWith("attr:") ? `attributes.${key.slice(5)}` : key, a: col.values[ca], b: col.values[cb], weight: round2(fw), similarity: round2(s) };
    };
    let attrFor: { w: number; e?: LinkEvidence } | undefined;
    let attrAgainst: { w: number; e?: LinkEvidence } | undefined;
    for (const [key, col] of this.columns) {
      if (key === "firstName" || key === "lastName" || !col.compared) continue;
      const ca = col.codes.get(i);
      const cb = col.codes.get(j);
      if (ca < 0 || cb < 0) continue;
      let [fw, s] = this.fieldWeight(col, ca, cb);
      // Between two organisation records a name is the organisation's own, not one many
      // organisations share (as a given name is many people's): its repeats in the list are the
      // same organisation listed again, so agreeing on it is not discounted for its frequency.
      if (key === "company" && ca === cb && this.isOrganisationPair(i, j)) fw = Math.max(fw, this.uniqueAgreement(col));
      // Company name and company domain say the same thing: count the stronger one only.
      if (key === "company" || key === "domain") {
        if (!org || fw > org.w) org = { w: fw, e: record(col, ca, cb, fw, s) };
        continue;
      }
      // Free-form attributes are often facets of one thing (an agency's programme, fund and
      // enrolment): count the strongest agreement and the strongest disagreement among them only.
      if (key.startsWith("attr:")) {
        if (fw > 0 && (!attrFor || fw > attrFor.w)) attrFor = { w: fw, e: record(col, ca, cb, fw, s) };
        if (fw < 0 && (!attrAgainst || fw < attrAgainst.w)) attrAgainst = { w: fw, e: record(col, ca, cb, fw, s) };
        continue;
      }
      w += fw;
      const e = record(col, ca, cb, fw, s);
      if (e) evidence!.push(e);
    }
    for (const part of [org, attrFor, attrAgainst]) {
      if (!part) continue;
      w += part.w;
      if (part.e) evidence!.push(part.e);
    }
    if (this.differentOrganisations(i, j)) return -Infinity;
    return w + this.nameWeight(i, j, evidence);
  }

  /**
   * Two organisation records (no person name on either) whose names share no word and are not
   * alike are two organisations, however much else they share: restaurants of one hotel, tenants
   * of one building and desks behind one switchboard have the same address and phone. An email or
   * domain agreeing exactly still joins them.
   */
  private differentOrganisations(i: number, j: number): boolean {
    const company = this.columns.get("company");
    if (!company) return false;
    const ca = company.codes.get(i);
    const cb = company.codes.get(j);
    if (ca < 0 || cb < 0 || ca === cb || !this.isOrganisationPair(i, j)) return false;
    if (["email", "domain"].some((k) => this.code(k, i) >= 0 && this.code(k, i) === this.code(k, j))) return false;
    return !sharesWord(company.values[ca], company.values[cb]);
  }

  /** Neither lead names a person: both are organisations (by company name). */
  private isOrganisationPair(i: number, j: number): boolean {
    return !["firstName", "lastName"].some((k) => this.code(k, i) >= 0 || this.code(k, j) >= 0);
  }

  /** The agreement weight of a value nobody else in the list has. */
  private uniqueAgreement(col: Column): number {
    return Math.log2(col.spec.m / ((PSEUDO_LEADS * col.spec.u0) / (this.n + PSEUDO_LEADS)));
  }

  /** Names, straight or swapped (given name and surname exchanged), whichever fits better. */
  private nameWeight(i: number, j: number, evidence?: LinkEvidence[]): number {
    const first = this.columns.get("firstName");
    const last = this.columns.get("lastName");
    const fa = first ? first.codes.get(i) : -1;
    const fb = first ? first.codes.get(j) : -1;
    const la = last ? last.codes.get(i) : -1;
    const lb = last ? last.codes.get(j) : -1;
    const [wf, sf] = fa >= 0 && fb >= 0 ? this.fieldWeight(first!, fa, fb) : [0, 0];
    const [wl, sl] = la >= 0 && lb >= 0 ? this.fieldWeight(last!, la, lb) : [0, 0];
    const straight = wf + wl;
    let names = straight;
    let swapped: [number, number, number, number] | undefined;
    if (fa >= 0 && fb >= 0 && la >= 0 && lb >= 0) {
      const sCross1 = jaroWinkler(first!.values[fa], last!.values[lb]);
      const sCross2 = jaroWinkler(last!.values[la], first!.values[fb]);
      const cf = this.interpolate(first!, sCross1);
      const cl = this.interpolate(last!, sCross2);
      if (fa !== fb && cf + cl - 1 > straight) {
        names = cf + cl - 1;
        swapped = [cf, sCross1, cl, sCross2];
      }
      // Two full names that match neither way round are two people (colleagues share a company,
      // an office and a switchboard), unless a personal identifier agrees exactly.
      if (wf < 0 && wl < 0 && (cf < 0 || cl < 0) && !PERSONAL_IDS.some((k) => this.code(k, i) >= 0 && this.code(k, i) === this.code(k, j))) {
        return -Infinity;
      }
    }
    if (evidence) {
      if (swapped) {
        evidence.push({ field: "firstName", a: first!.values[fa], b: last!.values[lb], weight: round2(swapped[0] - 0.5), similarity: round2(swapped[1]), note: "compared with the other lead's lastName (names swapped)" });
        evidence.push({ field: "lastName", a: last!.values[la], b: first!.values[fb], weight: round2(swapped[2] - 0.5), similarity: round2(swapped[3]), note: "compared with the other lead's firstName (names swapped)" });
      } else {
        if (fa >= 0 && fb >= 0) evidence.push({ field: "firstName", a: first!.values[fa], b: first!.values[fb], weight: round2(wf), similarity: round2(sf) });
        if (la >= 0 && lb >= 0) evidence.push({ field: "lastName", a: last!.values[la], b: last!.values[lb], weight: round2(wl), similarity: round2(sl) });
      }
    }
    return names;
  }

  /** Match score in [0, 1]: the posterior probability of a match, prior odds 1 : max(N, 1000). */
  score(i: number, j: number): number {
    return 1 / (1 + Math.pow(2, this.priorBits - this.weight(i, j)));
  }

  /** Why i and j match: each compared field's values and weight, strongest first. */
  explain(i: number, j: number): LinkEvidence[] {
    const evidence: LinkEvidence[] = [];
    this.weight(i, j, evidence);
    return evidence.sort((x, y) => y.weight - x.weight);
  }

  /**
   * Calls `visit(i, j)` (i < j) once for each pair of leads sharing a blocking key, block by block;
   * blocks larger than maxBlockSize are skipped. Returns the pairs visited and the blocks skipped.
   */
  forEachCandidatePair(maxBlockSize: number, visit: (i: number, j: number) => void, maxPairs = Infinity): CandidateScan {
    return runSteps(this.candidatePairSteps(maxBlockSize, visit, maxPairs));
  }

  /** forEachCandidatePair in steps: it yields after each block once `every` pairs were visited since the last yield. */
  *candidatePairSteps(maxBlockSize: number, visit: (i: number, j: number) => void, maxPairs = Infinity, every = 20_000): Generator<void, CandidateScan> {
    if (!this.finished) this.finish();
    const index = this.blockIndex!;
    const limit = Math.min(maxBlockSize, this.blockSizeWithin(maxPairs));
    let pairs = 0;
    let skippedBlocks = 0;
    let start = 0;
    let sinceYield = 0;
    const members: number[] = [];
    while (start < index.length) {
      const hash = Math.floor(index[start] / MAX_MATCH_LEADS);
      let end = start + 1;
      while (end < index.length && Math.floor(index[end] / MAX_MATCH_LEADS) === hash) end++;
      const size = end - start;
      if (size > limit) skippedBlocks++;
      else if (size > 1) {
        members.length = 0;
        for (let k = start; k < end; k++) members.push(index[k] - hash * MAX_MATCH_LEADS);
        for (let x = 0; x < size; x++) {
          for (let y = x + 1; y < size; y++) {
            const i = members[x];
            const j = members[y];
            // Two keys of one lead can hash alike; a pair sharing an earlier key was visited there.
            if (i === j || this.sharedEarlierKey(i, j, hash)) continue;
            pairs++;
            sinceYield++;
            visit(i, j);
          }
        }
      }
      start = end;
      if (sinceYield >= every) {
        sinceYield = 0;
        yield;
      }
    }
    return { pairs, skippedBlocks, blockSizeLimit: limit };
  }

  /**
   * The largest block size whose blocks, together with all smaller ones, yield at most `maxPairs`
   * pairs. Small blocks come from rare keys and find most duplicates; the pair budget keeps a large
   * tenant's comparisons near-linear in its size when common keys make thousands of mid-sized blocks.
   */
  private blockSizeWithin(maxPairs: number): number {
    if (!Number.isFinite(maxPairs)) return Infinity;
    const index = this.blockIndex!;
    const bySize = new Map<number, number>();
    let start = 0;
    while (start < index.length) {
      const hash = Math.floor(index[start] / MAX_MATCH_LEADS);
      let end = start + 1;
      while (end < index.length && Math.floor(index[end] / MAX_MATCH_LEADS) === hash) end++;
      if (end - start > 1) bySize.set(end - start, (bySize.get(end - start) ?? 0) + 1);
      start = end;
    }
    let total = 0;
    let limit = 1;
    for (const size of [...bySize.keys()].sort((a, b) => a - b)) {
      total += bySize.get(size)! * ((size * (size - 1)) / 2);
      if (total > maxPairs) break;
      limit = size;
    }
    return total > maxPairs ? limit : Infinity;
  }

  /** Do i and j share a key hashing below `hash`? Then the pair was visited in that earlier block. */
  private sharedEarlierKey(i: number, j: number, hash: number): boolean {
    const off = this.leadKeyOffsets!;
    const h = this.leadKeyHashes!;
    let a = off[i];
    let b = off[j];
    const ea = off[i + 1];
    const eb = off[j + 1];
    while (a < ea && b < eb) {
      const x = h[a];
      const y = h[b];
      if (x >= hash || y >= hash) return false;
      if (x === y) return true;
      if (x < y) a++;
      else b++;
    }
    return false;
  }
}

function splitAt(email: string): [string, string] {
  const at = email.lastIndexOf("@");
  return [email.slice(0, at), email.slice(at + 1)];
}

function blockingKeys(v: Map<string, string>): string[] {
  const keys: string[] = [];
  const add = (k: string, ...parts: Array<string | undefined>) => {
    if (parts.every((p) => p)) keys.push(`${k}:${parts.join("|")}`);
  };
  add("e", v.get("email"));
  const phone = v.get("phone");
  if (phone) add("p", phone.replace(/\D/g, "").slice(-7));
  add("li", v.get("linkedin"));
  const sf = soundex(v.get("firstName") ?? "") || undefined;
  const sl = soundex(v.get("lastName") ?? "") || undefined;
  const postcode = v.get("postcode");
  if (sf && sl) add("n", ...[sf, sl].sort());
  add("lp", sl, postcode);
  add("fp", sf, postcode);
  add("d", v.get("dob"));
  const address = v.get("address");
  add("ad", address);
  const parts = address ? addressParts(address) : undefined;
  if (parts) add("ah", parts.number, parts.street);
  add("dl", v.get("domain"), sf);
  add("df", v.get("domain"), sl);
  const company = v.get("company");
  if (company) {
    add("c", company);
    const where = postcode ?? v.get("city") ?? "";
    const words = organisationTokens(company);
    for (const w of words) add("cw", w, where || "-");
    if (words.length >= 2) add("cs", soundex(words[0]), soundex(words[1]));
  }
  return keys;
}

export interface CandidateScan {
  pairs: number;
  skippedBlocks: number;
  /** Blocks larger than this were skipped. */
  blockSizeLimit: number;
}

export interface MatchGroup {
  /** Lead indexes in the matcher, the cluster's members. */
  members: number[];
  /** The links that joined the group: lead indexes and score. */
  links: Array<{ i: number; j: number; s: number }>;
}

/**
 * Scores every candidate pair of a finished matcher and clusters the matches (see the module
 * comment). Returns the groups of two or more leads, in order of their first lead.
 */
export interface ClusterResult {
  groups: MatchGroup[];
  candidatePairs: number;
  skippedBlocks: number;
  blockSizeLimit: number;
}

export function clusterMatches(matcher: LeadMatcher, options: MatchOptions = {}): ClusterResult {
  return runSteps(clusterSteps(matcher, options));
}

/**
 * clusterMatches awaiting `pause()` every 20,000 comparisons, so a long run leaves the event loop
 * free (a queue worker must keep renewing its job's lock meanwhile).
 */
export function clusterMatchesPausing(matcher: LeadMatcher, options: MatchOptions, pause: () => Promise<void>): Promise<ClusterResult> {
  return runStepsPausing(clusterSteps(matcher, options), pause);
}

function* clusterSteps(matcher: LeadMatcher, options: MatchOptions): Generator<void, ClusterResult> {
  const threshold = options.threshold ?? 0.85;
  const guard = options.chainGuard ?? 0.5;
  const maxCluster = options.maxClusterSize ?? 50;
  matcher.finish();
  const n = matcher.n;
  const checkAbort = () => {
    if (options.signal?.aborted) throw options.signal.reason ?? new Error("aborted");
  };

  const scores = new Map<number, number>();
  const pairId = (i: number, j: number) => (i < j ? i * n + j : j * n + i);
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
  let visited = 0;
  const budget = options.maxCandidatePairs ?? Math.max(2_000_000, 5 * n);
  const { pairs, skippedBlocks, blockSizeLimit } = yield* matcher.candidatePairSteps(options.maxBlockSize ?? 500, (i, j) => {
    if (++visited % 2000 === 0) checkAbort();
    const s = matcher.score(i, j);
    if (s >= threshold) {
      edges.push({ i, j, s });
      scores.set(pairId(i, j), s);
    }
  }, budget);
  edges.sort((x, y) => y.s - x.s || x.i - y.i || x.j - y.j);

  // Union-find with member lists and the links that joined each cluster.
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) parent[i] = i;
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
  const groups = [...members.entries()]
    .map(([r, m]) => ({ members: [...m].sort((x, y) => x - y), links: links.get(r) ?? [] }))
    .sort((x, y) => x.members[0] - y.members[0]);
  return { groups, candidatePairs: pairs, skippedBlocks, blockSizeLimit };
}

/** A group as the capability reports it: survivor, duplicates, merged fields, links with evidence. */
export function toCluster(matcher: LeadMatcher, group: MatchGroup, leadsById: Map<string, LeadRecord>): DuplicateCluster {
  const ids = matcher.ids;
  const leads = group.members.map((i) => {
    const lead = leadsById.get(ids[i]);
    if (!lead) throw new Error(`lead ${ids[i]} of a cluster was not loaded`);
    return lead;
  });
  const survivor = chooseSurvivor(leads);
  const duplicates = leads.filter((l) => l !== survivor);
  return {
    survivorId: survivor.id,
    duplicateIds: duplicates.map((d) => d.id),
    score: round(Math.min(...group.links.map((l) => l.s))),
    mergedFields: mergeInto(survivor, duplicates),
    links: group.links.map((l) => ({ a: ids[l.i], b: ids[l.j], score: round(l.s), evidence: matcher.explain(l.i, l.j) })),
  };
}

/** Finds the duplicate clusters among leads held in memory; see the module comment for the method. */
export function findDuplicates(leads: LeadRecord[], options: MatchOptions = {}): DedupeResult {
  const matcher = new LeadMatcher(leads, options).finish();
  const { groups, candidatePairs, skippedBlocks } = clusterMatches(matcher, options);
  const byId = new Map(leads.map((l) => [l.id, l]));
  const clusters = groups.map((g) => toCluster(matcher, g, byId));
  return { clusters, duplicatesFound: clusters.reduce((n, c) => n + c.duplicateIds.length, 0), candidatePairs, skippedBlocks, fieldNotes: matcher.fieldNotes() };
}

const round = (x: number) => Math.round(x * 10000) / 10000;
const round2 = (x: number) => (Number.isFinite(x) ? Math.round(x * 100) / 100 : x);

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
