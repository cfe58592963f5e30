/**
 * Segmentation: by explicit rules (first matching rule wins) or by k-means clustering on
 * standardised numeric features and one-hot categoricals, with a deterministic seed (k-means++
 * initialisation from a seeded RNG), and each cluster named and described by the traits that set it
 * apart from the whole population.
 */
import { isMissing, toNumber, type Frame } from "./frame";
import { mulberry32 } from "./rng";
import { runSteps, runStepsPausing } from "../../../lib/steps";
import { fitVectorSpace, vectorize, type VectorSpace } from "./vectorize";

export type RuleOp = "eq" | "neq" | "in" | "nin" | "gt" | "gte" | "lt" | "lte" | "contains" | "exists";

export interface Rule {
  segment: string;
  field: string;
  op: RuleOp;
  value?: unknown;
}

export interface Segment {
  name: string;
  /** Row indices of the members. */
  rows: number[];
  description: string;
}

/**
 * The value of `field` in a flat lead record: the field as given, its camelCase form
 * (employee_count -> employeeCount), or an attribute key with or without an `attributes.` prefix.
 */
export function fieldValue(record: Record<string, unknown>, field: string): unknown {
  if (field in record) return record[field];
  const camel = field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
  if (camel in record) return record[camel];
  if (field.startsWith("attributes.")) {
    const bare = field.slice("attributes.".length);
    if (bare in record) return record[bare];
  } else if (`attributes.${field}` in record) return record[`attributes.${field}`];
  return undefined;
}

const norm = (v: unknown) => String(v).trim().toLowerCase();

function equals(a: unknown, b: unknown): boolean {
  if (isMissing(a) || b === null || b === undefined) return isMissing(a) && (b === null || b === undefined);
  const x = toNumber(a);
  const y = toNumber(b);
  if (!Number.isNaN(x) && !Number.isNaN(y)) return x === y;
  return norm(a) === norm(b);
}

function compare(a: unknown, b: unknown): number | undefined {
  if (isMissing(a) || b === null || b === undefined) return undefined;
  const x = toNumber(a);
  const y = toNumber(b);
  if (!Number.isNaN(x) && !Number.isNaN(y)) return x - y;
  // Not numbers: ISO dates and other strings compare as text.
  const s = String(a);
  const t = String(b);
  return s < t ? -1 : s > t ? 1 : 0;
}

/** Whether a record matches one rule. Strings compare case-insensitively; numbers (and numeric strings) as numbers. */
export function matches(record: Record<string, unknown>, rule: Rule): boolean {
  const v = fieldValue(record, rule.field);
  const list = Array.isArray(rule.value) ? rule.value : [rule.value];
  switch (rule.op) {
    case "exists":
      return (rule.value === false) === isMissing(v);
    case "eq":
      return equals(v, rule.value);
    case "neq":
      return !equals(v, rule.value);
    case "in":
      return list.some((x) => equals(v, x));
    case "nin":
      return !list.some((x) => equals(v, x));
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const c = compare(v, rule.value);
      if (c === undefined) return false;
      return rule.op === "gt" ? c > 0 : rule.op === "gte" ? c >= 0 : rule.op === "lt" ? c < 0 : c <= 0;
    }
    case "contains":
      if (isMissing(v) || rule.value === null || rule.value === undefined) return false;
      return norm(v).includes(norm(rule.value));
    default:
      return false;
  }
}

export const UNMATCHED_SEGMENT = "unmatched";

/**
 * Each record goes to the segment of the first rule it matches; records matching none go to
 * "unmatched". Segments come in the order their names first appear in the rules (empty ones too).
 */
export function segmentByRules(records: Record<string, unknown>[], rules: Rule[]): Segment[] {
  const segments = new Map<string, Segment>();
  const describe = (r: Rule) => `${r.field} ${r.op}${r.op === "exists" && r.value === undefined ? "" : ` ${JSON.stringify(r.value)}`}`;
  for (const r of rules) {
    const s = segments.get(r.segment);
    if (s) s.description += ` or ${describe(r)}`;
    else segments.set(r.segment, { name: r.segment, rows: [], description: `leads where ${describe(r)}` });
  }
  const unmatched: number[] = [];
  records.forEach((rec, i) => {
    const rule = rules.find((r) => matches(rec, r));
    if (rule) segments.get(rule.segment)!.rows.push(i);
    else unmatched.push(i);
  });
  const out = [...segments.values()];
  if (unmatched.length) out.push({ name: UNMATCHED_SEGMENT, rows: unmatched, description: "leads that match no rule" });
  return out;
}

export interface KMeansResult {
  assignments: Int32Array;
  centroids: Float64Array;
  k: number;
  dim: number;
  iterations: number;
  inertia: number;
}

/** Lloyd's k-means with k-means++ seeding from a seeded RNG: the same input gives the same clusters. */
export function kmeans(X: Float32Array | Float64Array, n: number, dim: number, k: number, seed = 42, maxIter = 100): KMeansResult {
  return runSteps(kmeansSteps(X, n, dim, k, seed, maxIter));
}

/** kmeans, yielding after each seeding pick and each iteration (a pass over every point). */
function* kmeansSteps(X: Float32Array | Float64Array, n: number, dim: number, k: number, seed: number, maxIter: number): Generator<void, KMeansResult> {
  k = Math.max(1, Math.min(k, n));
  const rng = mulberry32(seed);
  const centroids = new Float64Array(k * dim);
  const d2 = new Float64Array(n).fill(Infinity);
  const dist = (i: number, c: number) => {
    let s = 0;
    for (let j = 0; j < dim; j++) {
      const t = X[i * dim + j] - centroids[c * dim + j];
      s += t * t;
    }
    return s;
  };
  // k-means++
  let first = Math.floor(rng() * n);
  for (let c = 0; c < k; c++) {
    let pick = first;
    if (c > 0) {
      let total = 0;
      for (let i = 0; i < n; i++) total += d2[i];
      if (total > 0) {
        let r = rng() * total;
        pick = n - 1;
        for (let i = 0; i < n; i++) {
          r -= d2[i];
          if (r <= 0) {
            pick = i;
            break;
          }
        }
      } else pick = Math.floor(rng() * n);
    }
    for (let j = 0; j < dim; j++) centroids[c * dim + j] = X[pick * dim + j];
    for (let i = 0; i < n; i++) d2[i] = Math.min(d2[i], dist(i, c));
    first = pick;
    yield;
  }
  const assignments = new Int32Array(n).fill(-1);
  let it = 0;
  let inertia = 0;
  for (; it < maxIter; it++) {
    let changed = 0;
    inertia = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestD = Infinity;
      for (let c = 0; c < k; c++) {
        const d = dist(i, c);
        if (d < bestD) {
          bestD = d;
          best = c;
        }
      }
      inertia += bestD;
      if (assignments[i] !== best) {
        assignments[i] = best;
        changed++;
      }
    }
    if (changed === 0 && it > 0) break;
    const sums = new Float64Array(k * dim);
    const counts = new Float64Array(k);
    for (let i = 0; i < n; i++) {
      const c = assignments[i];
      counts[c]++;
      for (let j = 0; j < dim; j++) sums[c * dim + j] += X[i * dim + j];
    }
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) {
        // An empty cluster restarts at the point farthest from its centroid.
        let far = 0;
        let farD = -1;
        for (let i = 0; i < n; i++) {
          const d = dist(i, assignments[i]);
          if (d > farD) {
            farD = d;
            far = i;
          }
        }
        for (let j = 0; j < dim; j++) centroids[c * dim + j] = X[far * dim + j];
        assignments[far] = c;
        continue;
      }
      for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j] / counts[c];
    }
    yield;
  }
  return { assignments, centroids, k, dim, iterations: it, inertia };
}

interface Trait {
  short: string;
  long: string;
  strength: number;
}

/** Clusters the frame's rows into (at most) k segments, each named after its most distinctive traits. */
export function segmentByClusters(frame: Frame, k: number, seed = 42): Segment[] {
  return runSteps(segmentByClustersSteps(frame, k, seed));
}

/** segmentByClusters awaiting `pause()` between k-means iterations. */
export function segmentByClustersPausing(frame: Frame, k: number, seed: number, pause: () => Promise<void>): Promise<Segment[]> {
  return runStepsPausing(segmentByClustersSteps(frame, k, seed), pause);
}

function* segmentByClustersSteps(frame: Frame, k: number, seed: number): Generator<void, Segment[]> {
  const n = frame.size;
  if (n === 0) return [];
  const space = fitVectorSpace(frame);
  const X = vectorize(frame, space);
  yield;
  const dim = Math.max(1, space.dim);
  const km = space.dim > 0 ? yield* kmeansSteps(X, n, space.dim, k, seed, 100) : { assignments: new Int32Array(n), k: 1 };
  const members: number[][] = Array.from({ length: km.k }, () => []);
  for (let i = 0; i < n; i++) members[km.assignments[i]].push(i);
  const segments: Segment[] = [];
  const used = new Map<string, number>();
  members.forEach((rows, c) => {
    if (rows.length === 0) return;
    const traits = clusterTraits(frame, space, X, dim, rows);
    let name = traits.length ? traits.slice(0, 2).map((t) => t.short).join(", ") : "typical leads";
    const seen = used.get(name) ?? 0;
    used.set(name, seen + 1);
    if (seen) name = `${name} (${seen + 1})`;
    const description = traits.length
      ? `${rows.length} leads (${pct(rows.length / n)}): ${traits.slice(0, 4).map((t) => t.long).join("; ")}`
      : `${rows.length} leads (${pct(rows.length / n)}) close to the population average`;
    segments.push({ name, rows, description });
  });
  return segments.sort((a, b) => b.rows.length - a.rows.length || (a.name < b.name ? -1 : 1));
}

const pct = (x: number) => `${Math.round(x * 100)}%`;
const fmt = (x: number) => (Math.abs(x) >= 100 ? String(Math.round(x)) : String(Number(x.toPrecision(3))));

/** What sets a cluster apart: numeric means far from the overall mean (in sd), levels over-represented. */
function clusterTraits(frame: Frame, space: VectorSpace, X: Float32Array, dim: number, rows: number[]): Trait[] {
  const traits: Trait[] = [];
  const m = rows.length;
  const n = frame.size;
  space.dims.forEach((d, j) => {
    let s = 0;
    for (const i of rows) s += X[i * dim + j];
    const mean = s / m;
    if (d.kind === "numeric") {
      if (Math.abs(mean) < 0.5) return;
      const raw = d.mean + mean * d.sd;
      traits.push({
        short: `${mean > 0 ? "high" : "low"} ${d.feature}`,
        long: `${d.feature} ${mean > 0 ? "above" : "below"} average (mean ${fmt(raw)} vs ${fmt(d.mean)})`,
        strength: Math.abs(mean),
      });
    } else {
      let all = 0;
      for (let i = 0; i < n; i++) all += X[i * dim + j];
      const overall = all / n;
      if (mean < 0.3 || mean < 1.5 * overall) return;
      traits.push({
        short: `${d.feature} ${d.level}`,
        long: `${d.feature} = ${d.level} for ${pct(mean)} (vs ${pct(overall)} overall)`,
        strength: (mean - overall) / Math.sqrt(overall * (1 - overall) || 1),
      });
    }
  });
  return traits.sort((a, b) => b.strength - a.strength || (a.short < b.short ? -1 : 1));
}
