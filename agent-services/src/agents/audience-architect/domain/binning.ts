/**
 * Feature binning: numeric columns into quantile bins (equal-frequency over the training rows, a
 * run of equal values never split), categorical columns into their frequent levels plus one bucket
 * for rare (and unseen) levels; a missing value is always a bin of its own. A binning is plain JSON,
 * stored with the model, and encodes any frame column into bin indices with a precomputed lookup
 * (per dictionary level) or a binary search over the cut points.
 */
import { levelKey, toNumber, type Column } from "./frame";

export interface NumericBinning {
  kind: "numeric";
  feature: string;
  /** Bin i holds cuts[i-1] < x <= cuts[i]; bin cuts.length holds x > the last cut; then the missing bin. */
  cuts: number[];
}

export interface CategoricalBinning {
  kind: "categorical";
  feature: string;
  /** Bin i is levels[i]; then one bin for rare or unseen levels; then the missing bin. */
  levels: string[];
}

export type Binning = NumericBinning | CategoricalBinning;

export interface BinningOptions {
  /** Quantile bins per numeric feature (before the missing bin). */
  maxBins?: number;
  /** A categorical level needs at least this many training rows to be a bin of its own... */
  minLevelCount?: number;
  /** ...and at least this share of them. */
  minLevelShare?: number;
  /** At most this many levels keep their own bin (the most frequent). */
  maxLevels?: number;
}

export const DEFAULT_BINNING: Required<BinningOptions> = { maxBins: 10, minLevelCount: 10, minLevelShare: 0.002, maxLevels: 60 };

export function binCount(b: Binning): number {
  return b.kind === "numeric" ? b.cuts.length + 2 : b.levels.length + 2;
}

export function missingBin(b: Binning): number {
  return binCount(b) - 1;
}

/** The rare-level bucket of a categorical binning; -1 for numeric. */
export function rareBin(b: Binning): number {
  return b.kind === "categorical" ? b.levels.length : -1;
}

export function binLabels(b: Binning): string[] {
  if (b.kind === "categorical") return [...b.levels, "(other)", "(missing)"];
  const labels: string[] = [];
  const c = b.cuts;
  for (let i = 0; i <= c.length; i++) {
    if (c.length === 0) labels.push("(any)");
    else if (i === 0) labels.push(`<= ${fmt(c[0])}`);
    else if (i === c.length) labels.push(`> ${fmt(c[i - 1])}`);
    else labels.push(`${fmt(c[i - 1])} < x <= ${fmt(c[i])}`);
  }
  labels.push("(missing)");
  return labels;
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(4)));
}

/**
 * Fits the binning of one column on the training rows; undefined when the column cannot separate
 * anything there (a single value and nothing missing).
 */
export function fitBinning(col: Column, rows: ArrayLike<number>, options: BinningOptions = {}): Binning | undefined {
  const o = { ...DEFAULT_BINNING, ...options };
  if (col.kind === "numeric") {
    const present: number[] = [];
    let missing = 0;
    for (let i = 0; i < rows.length; i++) {
      const v = col.values[rows[i]];
      if (Number.isNaN(v)) missing++;
      else present.push(v);
    }
    const sorted = Float64Array.from(present).sort();
    const cuts = quantileCuts(sorted, o.maxBins);
    if (cuts.length === 0 && (missing === 0 || sorted.length === 0)) return undefined;
    return { kind: "numeric", feature: col.name, cuts };
  }
  const counts = new Float64Array(col.levels.length);
  let missing = 0;
  for (let i = 0; i < rows.length; i++) {
    const code = col.codes[rows[i]];
    if (code < 0) missing++;
    else counts[code]++;
  }
  const min = Math.max(o.minLevelCount, o.minLevelShare * rows.length);
  const kept = [...counts.keys()]
    .filter((code) => counts[code] >= min)
    .sort((a, b) => counts[b] - counts[a] || (col.levels[a] < col.levels[b] ? -1 : 1))
    .slice(0, o.maxLevels);
  const rare = rows.length - missing - kept.reduce((s, code) => s + counts[code], 0);
  const nonEmpty = kept.length + (rare > 0 ? 1 : 0) + (missing > 0 ? 1 : 0);
  if (nonEmpty < 2) return undefined;
  return { kind: "categorical", feature: col.name, levels: kept.map((code) => col.levels[code]) };
}

/**
 * Equal-frequency cut points over sorted values. A run of equal values stays in one bin; a large run
 * (a mass point such as 0 or -1) gets a bin of its own rather than swallowing its neighbours.
 */
export function quantileCuts(sorted: Float64Array, maxBins: number): number[] {
  const n = sorted.length;
  const cuts: number[] = [];
  let start = 0;
  let binsLeft = maxBins;
  while (start < n && binsLeft > 1) {
    const target = Math.max(1, Math.round((n - start) / binsLeft));
    let end = Math.min(n - 1, start + target - 1);
    const v = sorted[end];
    const groupStart = lowerBound(sorted, v);
    const groupEnd = upperBound(sorted, v) - 1;
    if (groupEnd - end > target / 2 && groupStart - start > target / 2) {
      end = groupStart - 1; // close the bin before the mass point
    } else {
      end = groupEnd;
    }
    if (end >= n - 1) break;
    cuts.push(sorted[end]);
    start = end + 1;
    binsLeft--;
  }
  return cuts;
}

function lowerBound(a: Float64Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function upperBound(a: Float64Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The bin of one number under a numeric binning. */
export function numericBin(cuts: number[], x: number): number {
  if (Number.isNaN(x)) return cuts.length + 1;
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x <= cuts[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * Bin index of every row of `col` (or of every row of a frame that lacks the column: all missing).
 * Categorical columns map each dictionary level once and then index an array per row.
 */
export function encodeColumn(b: Binning, col: Column | undefined, size: number): Uint16Array {
  const out = new Uint16Array(size);
  const miss = missingBin(b);
  if (!col) return out.fill(miss);
  if (b.kind === "numeric") {
    if (col.kind === "numeric") {
      const cuts = Float64Array.from(b.cuts);
      const m = cuts.length;
      const v = col.values;
      for (let i = 0; i < size; i++) {
        const x = v[i];
        if (x !== x) {
          out[i] = miss;
          continue;
        }
        let lo = 0;
        let hi = m;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (x <= cuts[mid]) hi = mid;
          else lo = mid + 1;
        }
        out[i] = lo;
      }
      return out;
    }
    const map = Uint16Array.from(col.levels, (l) => numericBin(b.cuts, toNumber(l)));
    for (let i = 0; i < size; i++) out[i] = col.codes[i] < 0 ? miss : map[col.codes[i]];
    return out;
  }
  const index = new Map<string, number>();
  b.levels.forEach((l, i) => index.set(levelKey(l), i));
  const rare = rareBin(b);
  if (col.kind === "categorical") {
    const map = Uint16Array.from(col.levels, (l) => index.get(levelKey(l)) ?? rare);
    const codes = col.codes;
    for (let i = 0; i < size; i++) {
      const c = codes[i];
      out[i] = c < 0 ? miss : map[c];
    }
    return out;
  }
  for (let i = 0; i < size; i++) {
    const x = col.values[i];
    out[i] = Number.isNaN(x) ? miss : index.get(levelKey(String(x))) ?? rare;
  }
  return out;
}
