/** Ranking and classification metrics for lookalike models. */

/** Area under the ROC curve: the probability that a positive outscores a negative (ties count half). */
export function auc(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  const np = pos.length;
  const nn = neg.length;
  if (np === 0 || nn === 0) return NaN;
  const all = new Float64Array(np + nn);
  for (let i = 0; i < np; i++) all[i] = pos[i];
  for (let i = 0; i < nn; i++) all[np + i] = neg[i];
  const order = Uint32Array.from({ length: np + nn }, (_, i) => i).sort((a, b) => all[a] - all[b]);
  // Sum of the positives' mid-ranks.
  let rankSum = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && all[order[j + 1]] === all[order[i]]) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (order[k] < np) rankSum += midRank;
    i = j + 1;
  }
  return (rankSum - (np * (np + 1)) / 2) / (np * nn);
}

/** Indices of the k highest scores, best first (ties broken by lower index, so it is deterministic). */
export function topK(scores: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx.slice(0, Math.max(0, Math.min(k, idx.length)));
}

/** Share of positives among the k best-scored rows. */
export function precisionAtK(scores: ArrayLike<number>, labels: ArrayLike<number>, k: number): number {
  const top = topK(scores, k);
  let hits = 0;
  for (const i of top) hits += labels[i] ? 1 : 0;
  return top.length ? hits / top.length : NaN;
}

/** Positive rate in the best-scored `fraction` of rows over the overall positive rate. */
export function liftAt(scores: ArrayLike<number>, labels: ArrayLike<number>, fraction = 0.1): number {
  const k = Math.max(1, Math.round(scores.length * fraction));
  let total = 0;
  for (let i = 0; i < labels.length; i++) total += labels[i] ? 1 : 0;
  if (total === 0) return NaN;
  return precisionAtK(scores, labels, k) / (total / labels.length);
}

export interface HeldOutMetrics {
  precision: number;
  recall: number;
  f1: number;
  auc: number;
  lift: number;
  threshold: number;
  heldOutSeeds: number;
  candidates: number;
}

/**
 * Metrics of held-out seeds scored among the candidates. recall: share of held-out seeds at or above
 * `threshold`; precision: the precision at that threshold on a balanced pool (as many candidates as
 * seeds), TPR / (TPR + FPR), since the candidates' true labels are unknown (unlabelled, so a lower
 * bound); auc: held-out seeds against candidates; lift: share of held-out seeds in the candidates'
 * top decile (by score) over 10 %.
 */
export function heldOutMetrics(heldOut: ArrayLike<number>, candidates: ArrayLike<number>, threshold: number): HeldOutMetrics {
  const np = heldOut.length;
  const nc = candidates.length;
  let tp = 0;
  for (let i = 0; i < np; i++) if (heldOut[i] >= threshold) tp++;
  let fp = 0;
  for (let i = 0; i < nc; i++) if (candidates[i] >= threshold) fp++;
  const tpr = np ? tp / np : 0;
  const fpr = nc ? fp / nc : 0;
  const precision = tpr + fpr > 0 ? tpr / (tpr + fpr) : 0;
  const f1 = precision + tpr > 0 ? (2 * precision * tpr) / (precision + tpr) : 0;
  const sorted = Float64Array.from(candidates).sort();
  const decileCut = nc ? sorted[Math.min(nc - 1, Math.floor(nc * 0.9))] : Infinity;
  let inTop = 0;
  for (let i = 0; i < np; i++) if (heldOut[i] > decileCut || (nc && heldOut[i] === decileCut)) inTop++;
  const lift = np ? inTop / np / 0.1 : 0;
  return { precision, recall: tpr, f1, auc: nc && np ? auc(heldOut, candidates) : 0.5, lift, threshold, heldOutSeeds: np, candidates: nc };
}
