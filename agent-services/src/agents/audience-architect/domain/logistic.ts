/**
 * Weighted logistic regression with an L2 penalty, fitted by Newton-Raphson (the problems here have
 * tens of features, so the exact Hessian is cheap). The penalty pulls each coefficient towards
 * `priorMean` (0 by default); the intercept is not penalised.
 */

export interface LogisticOptions {
  l2?: number;
  priorMean?: number;
  maxIter?: number;
  tol?: number;
}

export interface LogisticFit {
  coef: Float64Array;
  intercept: number;
  iterations: number;
}

/** X is row-major, n rows of p features. */
export function fitLogistic(X: Float64Array, y: Uint8Array, w: Float64Array, n: number, p: number, options: LogisticOptions = {}): LogisticFit {
  const d = p + 1; // last entry is the intercept
  return newtonLogistic(y, w, n, p, new Float64Array(p).fill(options.priorMean ?? 0), options.l2 ?? 1, options.maxIter ?? 50, options.tol ?? 1e-7, (beta, g, H) => {
    for (let i = 0; i < n; i++) {
      const off = i * p;
      let z = beta[p];
      for (let j = 0; j < p; j++) z += beta[j] * X[off + j];
      const mu = 1 / (1 + Math.exp(-z));
      const r = w[i] * (mu - y[i]);
      const s = w[i] * mu * (1 - mu);
      for (let j = 0; j < p; j++) {
        const xj = X[off + j];
        g[j] += r * xj;
        const sx = s * xj;
        const row = j * d;
        for (let k = 0; k <= j; k++) H[row + k] += sx * X[off + k];
        H[row + p] += sx;
      }
      g[p] += r;
      H[p * d + p] += s;
    }
    // symmetrise (the loop filled the lower triangle and the intercept column)
    for (let j = 0; j < d; j++) for (let k = 0; k < j; k++) H[k * d + j] = H[j * d + k];
    for (let j = 0; j < p; j++) H[p * d + j] = H[j * d + p];
  });
}

/**
 * Newton's method for both fits: the intercept starts at the weighted log-odds, the coefficients at
 * their prior. Each iteration `accumulate` adds the log-likelihood's gradient and (full, symmetric)
 * Hessian at beta into the zeroed g and H (intercept last); the penalty is added here.
 */
function newtonLogistic(
  y: Uint8Array,
  w: Float64Array,
  n: number,
  dims: number,
  prior: Float64Array,
  l2: number,
  maxIter: number,
  tol: number,
  accumulate: (beta: Float64Array, g: Float64Array, H: Float64Array) => void,
): LogisticFit {
  const d = dims + 1;
  const beta = new Float64Array(d);
  beta.set(prior);
  let wy = 0;
  let wt = 0;
  for (let i = 0; i < n; i++) {
    wy += w[i] * y[i];
    wt += w[i];
  }
  beta[dims] = Math.log((wy + 1e-9) / (wt - wy + 1e-9));
  const g = new Float64Array(d);
  const H = new Float64Array(d * d);
  let it = 0;
  for (; it < maxIter; it++) {
    g.fill(0);
    H.fill(0);
    accumulate(beta, g, H);
    for (let k = 0; k < dims; k++) {
      g[k] += l2 * (beta[k] - prior[k]);
      H[k * d + k] += l2;
    }
    const step = solveSpd(H, g, d);
    let max = 0;
    for (let k = 0; k < d; k++) {
      beta[k] -= step[k];
      max = Math.max(max, Math.abs(step[k]));
    }
    if (max < tol) {
      it++;
      break;
    }
  }
  return { coef: beta.slice(0, dims), intercept: beta[dims], iterations: it };
}

/** Solves A x = b for a symmetric positive-definite A (Cholesky, with a tiny ridge if needed). */
export function solveSpd(A: Float64Array, b: Float64Array, d: number): Float64Array {
  for (let ridge = 0; ; ridge = ridge ? ridge * 10 : 1e-10) {
    const L = new Float64Array(d * d);
    let ok = true;
    for (let i = 0; i < d && ok; i++) {
      for (let j = 0; j <= i; j++) {
        let s = A[i * d + j] + (i === j ? ridge : 0);
        for (let k = 0; k < j; k++) s -= L[i * d + k] * L[j * d + k];
        if (i === j) {
          if (!(s > 0)) {
            ok = false;
            break;
          }
          L[i * d + i] = Math.sqrt(s);
        } else L[i * d + j] = s / L[j * d + j];
      }
    }
    if (!ok) {
      if (ridge > 1e3) throw new Error("matrix is not positive definite");
      continue;
    }
    const z = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let s = b[i];
      for (let k = 0; k < i; k++) s -= L[i * d + k] * z[k];
      z[i] = s / L[i * d + i];
    }
    const x = new Float64Array(d);
    for (let i = d - 1; i >= 0; i--) {
      let s = z[i];
      for (let k = i + 1; k < d; k++) s -= L[k * d + i] * x[k];
      x[i] = s / L[i * d + i];
    }
    return x;
  }
}

/**
 * The same regression over one-hot bins: each row has exactly one active bin per feature
 * (`bins[i * p + j]` is the global index of row i's bin for feature j), so the design is never
 * materialised. Coefficient k is pulled towards priorMean[k] with strength l2.
 */
export function fitBinLogistic(
  bins: Uint32Array,
  n: number,
  p: number,
  dims: number,
  y: Uint8Array,
  w: Float64Array,
  options: { l2?: number; priorMean?: Float64Array; maxIter?: number; tol?: number } = {},
): LogisticFit {
  const d = dims + 1;
  return newtonLogistic(y, w, n, dims, options.priorMean ?? new Float64Array(dims), options.l2 ?? 1, options.maxIter ?? 30, options.tol ?? 1e-6, (beta, g, H) => {
    for (let i = 0; i < n; i++) {
      const off = i * p;
      let z = beta[dims];
      for (let j = 0; j < p; j++) z += beta[bins[off + j]];
      const mu = 1 / (1 + Math.exp(-z));
      const r = w[i] * (mu - y[i]);
      const s = w[i] * mu * (1 - mu);
      for (let j = 0; j < p; j++) {
        const a = bins[off + j];
        g[a] += r;
        for (let k = 0; k < p; k++) H[a * d + bins[off + k]] += s;
        H[a * d + dims] += s;
        H[dims * d + a] += s;
      }
      g[dims] += r;
      H[dims * d + dims] += s;
    }
  });
}
