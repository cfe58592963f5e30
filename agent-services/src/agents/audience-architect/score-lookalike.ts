/**
 * scoreLookalike: loads the seeds, the candidates and a background sample of the tenant's leads,
 * trains (and stores) a lookalike model or loads the stored one named by modelVersion, and scores
 * the candidates in chunks, reporting progress and stopping between chunks when the task is
 * cancelled. Charges 0.1 credit per candidate actually scored (never more than reserved).
 */
import { TaskError, type CapabilityHandler, type HandlerContext } from "../../protocol/agent-contract";
import { DEFAULT_PAGE_SIZE } from "../../tasks/result-sets";
import { takeRows } from "./domain/frame";
import { compileScorer, confidenceOf, encodeFrame, factorsOf, logits, toScore, trainWithHoldout, MODEL_FORMAT, type LookalikeModel } from "./domain/lookalike";
import { hashString } from "./domain/rng";
import { yieldToEventLoop } from "../../lib/event-loop";
import { checkAborted, LeadTable, loadAllLeads, loadLeadSample, loadLeadsById } from "./lead-data";
import { loadModel, storeModel } from "./model-store";

interface Inputs {
  seedLeadIds: string[];
  candidateLeadIds?: string[];
  modelVersion?: string;
  topN?: number;
  minScore?: number;
}

export const CREDITS_PER_LEAD_MILLI = 100; // 0.1 credit, as the card prices it
/** Background leads the model contrasts the seeds with, at most. */
export const BACKGROUND_LIMIT = 50_000;
const CHUNK = 25_000;
const RESULT_BATCH = 20_000;

const round = (x: number, places: number) => Math.round(x * 10 ** places) / 10 ** places;

export const scoreLookalike: CapabilityHandler = async (ctx: HandlerContext) => {
  const inputs = ctx.inputs as unknown as Inputs;
  const seedIds = [...new Set(inputs.seedLeadIds)];
  const seedSet = new Set(seedIds);
  const topN = inputs.topN ?? 100;
  const minScore = inputs.minScore ?? 0;
  const table = new LeadTable();

  await ctx.progress(1, "loading seed leads");
  const seedRows = await loadLeadsById(ctx, table, seedIds);
  if (seedRows.length === 0) {
    throw new TaskError("seeds_not_found", "none of the seed leads exist for this tenant", { retryable: false });
  }

  let candidateRows: number[];
  if (inputs.candidateLeadIds) {
    const ids = inputs.candidateLeadIds.filter((id) => !seedSet.has(id));
    candidateRows = await loadLeadsById(ctx, table, ids, (done) => ctx.progress(5 + (25 * done) / Math.max(1, ids.length), `loaded ${done} of ${ids.length} candidates`));
  } else {
    candidateRows = await loadAllLeads(ctx, table, seedSet, (n) => ctx.progress(Math.min(30, 5 + n / 2000), `loaded ${n} candidate leads`));
  }

  let model: LookalikeModel;
  let version: string;
  let metrics: Record<string, unknown>;
  let source: "trained" | "stored";
  if (inputs.modelVersion) {
    await ctx.progress(35, `loading model ${inputs.modelVersion}`);
    const stored = await ctx.db((tx) => loadModel(tx, inputs.modelVersion!));
    if (!stored) throw new TaskError("model_not_found", `no lookalike model with version "${inputs.modelVersion}" for this tenant`, { retryable: false });
    if (stored.model.format !== MODEL_FORMAT) throw new TaskError("model_incompatible", `model ${stored.version} has format ${stored.model.format}`, { retryable: false });
    ({ model, version, metrics } = stored);
    source = "stored";
  } else {
    const salt = String(hashString([...seedIds].sort().join(",")));
    let backgroundRows: number[];
    if (inputs.candidateLeadIds) {
      await ctx.progress(32, "sampling the background population");
      backgroundRows = await loadLeadSample(ctx, table, seedIds, BACKGROUND_LIMIT, salt);
    } else {
      backgroundRows = sampleRows(candidateRows, BACKGROUND_LIMIT, Number(salt));
    }
    if (backgroundRows.length === 0) {
      throw new TaskError("no_background", "the tenant has no leads besides the seeds to contrast them with", { retryable: false });
    }
    checkAborted(ctx.signal);
    await ctx.progress(40, `training on ${seedRows.length} seeds against ${backgroundRows.length} background leads`);
    const trained = trainWithHoldout(table.toFrame(), seedRows, backgroundRows, candidateRows, { seed: Number(salt) || 1 });
    model = trained.model;
    metrics = roundMetrics(trained.metrics as unknown as Record<string, unknown>);
    version = `lal-${ctx.taskId}`;
    checkAborted(ctx.signal);
    await ctx.progress(55, `storing model ${version}`);
    await ctx.db((tx) => storeModel(tx, version, model, metrics));
    source = "trained";
  }

  const frame = table.toFrame();
  const scorer = compileScorer(model);
  const n = candidateRows.length;
  const scores = new Float64Array(n);
  for (let start = 0; start < n; start += CHUNK) {
    checkAborted(ctx.signal);
    const chunk = takeRows(frame, candidateRows.slice(start, start + CHUNK));
    const l = logits(scorer, encodeFrame(scorer, chunk), chunk.size);
    for (let i = 0; i < chunk.size; i++) scores[start + i] = toScore(l[i]);
    await ctx.progress(60 + (35 * Math.min(n, start + CHUNK)) / n, `scored ${Math.min(n, start + CHUNK)} of ${n} candidates`);
    await yieldToEventLoop();
  }
  checkAborted(ctx.signal);

  const order = Array.from({ length: n }, (_, i) => i)
    .filter((i) => scores[i] >= minScore)
    .sort((a, b) => scores[b] - scores[a] || (table.ids[candidateRows[a]] < table.ids[candidateRows[b]] ? -1 : 1));
  // The outputs carry the best page with confidence and factors; every score ({leadId, score}, best
  // first) goes to the result set when there are more.
  let resultSet;
  if (order.length > DEFAULT_PAGE_SIZE) {
    await ctx.progress(96, `storing ${order.length} scores`);
    for (let start = 0; start < order.length; start += RESULT_BATCH) {
      checkAborted(ctx.signal);
      await ctx.results.append(order.slice(start, start + RESULT_BATCH).map((i) => ({ leadId: table.ids[candidateRows[i]], score: round(scores[i], 2) })));
    }
    resultSet = ctx.results.summary("scores", ctx.agentId, DEFAULT_PAGE_SIZE);
  }
  const shown = order.slice(0, DEFAULT_PAGE_SIZE);
  const shownRows = shown.map((i) => candidateRows[i]);
  const shownFrame = takeRows(frame, shownRows);
  const encoded = encodeFrame(scorer, shownFrame);
  const out = shown.map((i, k) => ({
    leadId: table.ids[candidateRows[i]],
    score: round(scores[i], 2),
    confidence: round(confidenceOf(scorer, encoded, k), 3),
    factors: factorsOf(scorer, encoded, shownFrame, k, 5),
  }));

  const reservedMilli = CREDITS_PER_LEAD_MILLI * (inputs.candidateLeadIds ? inputs.candidateLeadIds.length : 1);
  const usedMilli = Math.min(reservedMilli, CREDITS_PER_LEAD_MILLI * n);
  return {
    outputs: {
      modelVersion: version,
      modelSource: source,
      scores: out,
      // The design document's names: scoredLeads is scores, f1Score is f1 (stored models predate it).
      scoredLeads: out,
      topScoredLeadIds: order.slice(0, topN).map((i) => table.ids[candidateRows[i]]),
      modelMetrics: { ...metrics, f1Score: metrics.f1 },
      scoredCount: n,
      ...(resultSet ? { resultSet } : {}),
      seedCount: seedRows.length,
      model: {
        method: model.method,
        seeds: model.seeds,
        background: model.background,
        features: [...model.features]
          .sort((a, b) => b.importance - a.importance)
          .slice(0, 20)
          .map((f) => ({ feature: f.name, importance: round(f.importance, 4), coefficient: round(f.coef, 4), informationValue: round(f.informationValue, 4) })),
      },
    },
    creditsUsed: usedMilli / 1000,
  };
};

/** Up to `limit` of `rows`, chosen deterministically by `seed` (all of them when they fit). */
function sampleRows(rows: number[], limit: number, seed: number): number[] {
  if (rows.length <= limit) return rows;
  return rows
    .map((r) => ({ r, h: hashString(String(r), seed >>> 0) }))
    .sort((a, b) => a.h - b.h || a.r - b.r)
    .slice(0, limit)
    .map((x) => x.r);
}

function roundMetrics(m: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(m)) out[k] = typeof v === "number" ? round(v, 4) : v;
  if ("precision" in m) {
    out.basis =
      "held-out seeds (20 %) scored among the candidates by a model trained on the other seeds: recall = held-out seeds scoring >= threshold; " +
      "precision = TPR / (TPR + FPR) on a balanced pool (the candidates are unlabelled, so a lower bound); auc = held-out seeds vs candidates; " +
      "lift = share of held-out seeds in the candidates' top decile / 10 %. The stored model is then refit on all seeds.";
  }
  return out;
}
