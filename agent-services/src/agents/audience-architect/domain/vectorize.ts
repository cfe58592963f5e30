/**
 * Dense vectors from a frame for distance-based methods (k-means, the seed-centroid baseline):
 * numeric columns standardised (z-scores, missing imputed at the mean, i.e. 0), categorical columns
 * one-hot over their frequent levels (a column of nearly unique values, such as company names, is
 * left out).
 */
import type { Frame } from "./frame";

export interface VectorSpace {
  dim: number;
  /** What each dimension is: a numeric feature, or one level of a categorical feature. */
  dims: Array<{ feature: string; kind: "numeric"; mean: number; sd: number } | { feature: string; kind: "level"; level: string; code: number }>;
}

export interface VectorizeOptions {
  maxLevels?: number;
  minLevelShare?: number;
  /** Categorical columns with more distinct values than this share of the rows are identifiers. */
  maxDistinctShare?: number;
  exclude?: string[];
}

/** Fits the space on `rows` of the frame (all rows by default). */
export function fitVectorSpace(frame: Frame, rows?: ArrayLike<number>, options: VectorizeOptions = {}): VectorSpace {
  const idx = rows ?? Int32Array.from({ length: frame.size }, (_, i) => i);
  const n = idx.length;
  const maxLevels = options.maxLevels ?? 12;
  const minShare = options.minLevelShare ?? 0.02;
  const maxDistinct = options.maxDistinctShare ?? 0.5;
  const exclude = new Set(options.exclude ?? []);
  const dims: VectorSpace["dims"] = [];
  for (const c of frame.columns) {
    if (exclude.has(c.name)) continue;
    if (c.kind === "numeric") {
      let s = 0;
      let m = 0;
      for (let i = 0; i < n; i++) {
        const v = c.values[idx[i]];
        if (!Number.isNaN(v)) {
          s += v;
          m++;
        }
      }
      if (m === 0) continue;
      const mean = s / m;
      let v2 = 0;
      for (let i = 0; i < n; i++) {
        const v = c.values[idx[i]];
        if (!Number.isNaN(v)) v2 += (v - mean) ** 2;
      }
      const sd = Math.sqrt(v2 / m);
      if (sd > 0) dims.push({ feature: c.name, kind: "numeric", mean, sd });
      continue;
    }
    const counts = new Float64Array(c.levels.length);
    for (let i = 0; i < n; i++) if (c.codes[idx[i]] >= 0) counts[c.codes[idx[i]]]++;
    const distinct = counts.filter((x) => x > 0).length;
    if (n >= 20 && distinct > maxDistinct * n) continue;
    const levels = [...counts.keys()]
      .filter((code) => counts[code] >= Math.max(1, minShare * n) && counts[code] < n)
      .sort((a, b) => counts[b] - counts[a] || a - b)
      .slice(0, maxLevels);
    for (const code of levels) dims.push({ feature: c.name, kind: "level", level: c.levels[code], code });
  }
  return { dim: dims.length, dims };
}

/** Row-major vectors of `rows` (all rows by default) in the space. The frame must be the one fitted on. */
export function vectorize(frame: Frame, space: VectorSpace, rows?: ArrayLike<number>): Float32Array {
  const idx = rows ?? Int32Array.from({ length: frame.size }, (_, i) => i);
  const n = idx.length;
  const d = space.dim;
  // Single precision: a million leads by a hundred dimensions is 400 MB, not 800.
  const X = new Float32Array(n * d);
  const byName = new Map(frame.columns.map((c) => [c.name, c]));
  space.dims.forEach((dim, j) => {
    const c = byName.get(dim.feature);
    if (!c) return;
    if (dim.kind === "numeric" && c.kind === "numeric") {
      for (let i = 0; i < n; i++) {
        const v = c.values[idx[i]];
        X[i * d + j] = Number.isNaN(v) ? 0 : (v - dim.mean) / dim.sd;
      }
    } else if (dim.kind === "level" && c.kind === "categorical") {
      for (let i = 0; i < n; i++) X[i * d + j] = c.codes[idx[i]] === dim.code ? 1 : 0;
    }
  });
  return X;
}

/**
 * The plain baseline the lookalike model is measured against: negative Euclidean distance of each
 * candidate to the centroid of the seeds (higher = more similar). It looks only at the seeds, never
 * at how they differ from everyone else.
 */
export function centroidSimilarity(frame: Frame, seedRows: ArrayLike<number>, candidateRows: ArrayLike<number>): Float64Array {
  const space = fitVectorSpace(frame);
  const d = space.dim;
  const S = vectorize(frame, space, seedRows);
  const centroid = new Float64Array(d);
  for (let i = 0; i < seedRows.length; i++) for (let j = 0; j < d; j++) centroid[j] += S[i * d + j] / seedRows.length;
  const C = vectorize(frame, space, candidateRows);
  const out = new Float64Array(candidateRows.length);
  for (let i = 0; i < candidateRows.length; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += (C[i * d + j] - centroid[j]) ** 2;
    out[i] = -Math.sqrt(s);
  }
  return out;
}
