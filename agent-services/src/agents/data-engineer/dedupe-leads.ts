/** dedupeLeads: finds duplicate leads (domain/matcher) and, in apply mode, merges them in Postgres. */
import { TaskError, type CapabilityHandler } from "../../queue/handler";
import { findDuplicates } from "./domain/matcher";
import { applyMerges, loadLeads, lockDedupe, type MergeOutcome } from "./lead-store";

/** Without leadIds the whole tenant is deduplicated in memory; past this many live leads, pass leadIds. */
export const MAX_DEDUPE_LEADS = 100_000;

interface DedupeInputs {
  leadIds?: string[];
  mode?: "dryRun" | "apply";
  threshold?: number;
}

export const dedupeLeads: CapabilityHandler = async (ctx) => {
  const inputs = ctx.inputs as DedupeInputs;
  const apply = inputs.mode === "apply";
  const threshold = inputs.threshold ?? 0.85;
  await ctx.progress(5, "loading leads");

  const run = await ctx.db(async (tx) => {
    if (apply) await lockDedupe(tx);
    const leads = await loadLeads(tx, { leadIds: inputs.leadIds, limit: MAX_DEDUPE_LEADS + 1, forUpdate: apply });
    if (leads.length > MAX_DEDUPE_LEADS) {
      throw new TaskError("too_many_leads", `the tenant has more than ${MAX_DEDUPE_LEADS} live leads; pass leadIds to deduplicate a subset`, { retryable: false });
    }
    const result = findDuplicates(leads, { threshold, signal: ctx.signal });
    let merge: MergeOutcome | undefined;
    if (apply) merge = await applyMerges(tx, result.clusters);
    // A cancelled or timed-out run must not commit its merges.
    if (ctx.signal.aborted) throw ctx.signal.reason;
    return { considered: leads.length, result, merge };
  });

  await ctx.progress(95, `${run.result.duplicatesFound} duplicates in ${run.result.clusters.length} clusters`);
  const { result, merge } = run;
  return {
    outputs: {
      clusters: result.clusters,
      duplicatesFound: result.duplicatesFound,
      merged: apply && result.clusters.length > 0,
      mode: apply ? "apply" : "dryRun",
      threshold,
      leadsConsidered: run.considered,
      candidatePairs: result.candidatePairs,
      ...(merge ? { campaignMembersRepointed: merge.campaignMembersRepointed } : {}),
    },
  };
};
