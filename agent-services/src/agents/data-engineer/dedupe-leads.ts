/**
 * dedupeLeads: finds duplicate leads (domain/matcher) among the given leads or the whole tenant
 * (streamed; see tenant-matching) and, in apply mode, merges them in Postgres. Clusters beyond the
 * first page go to the task's result set.
 */
import type { CapabilityHandler } from "../../protocol/agent-contract";
import { DEFAULT_PAGE_SIZE } from "../../tasks/result-sets";
import { applyMerges, loadLeads, loadLeadsByIds, lockDedupe, type MergeOutcome } from "./lead-store";
import { checkedDefaultCountry, matchLeads } from "./tenant-matching";
import type { DuplicateCluster } from "./domain/matcher";

interface DedupeInputs {
  leadIds?: string[];
  mode?: "dryRun" | "apply";
  threshold?: number;
  defaultCountry?: string;
}

export const dedupeLeads: CapabilityHandler = async (ctx) => {
  const inputs = ctx.inputs as DedupeInputs;
  const apply = inputs.mode === "apply";
  const threshold = inputs.threshold ?? 0.85;
  const defaultCountry = await checkedDefaultCountry(ctx, inputs.defaultCountry);
  await ctx.progress(5, "loading leads");

  const given = inputs.leadIds ? await ctx.db((tx) => loadLeads(tx, inputs.leadIds!)) : undefined;
  const match = await matchLeads(ctx, given, { threshold, defaultCountry }, { from: 5, to: 80 });

  let clusters = match.clusters;
  let merge: MergeOutcome | undefined;
  let changedMeanwhile = 0;
  if (apply && clusters.length) {
    await ctx.progress(85, `merging ${clusters.length} clusters`);
    ({ clusters, merge } = await ctx.db(async (tx) => {
      await lockDedupe(tx);
      // Lock the members and keep only clusters whose leads are all still live (none merged away
      // by another run since they were read).
      const ids = clusters.flatMap((c) => [c.survivorId, ...c.duplicateIds]);
      const live = new Set((await loadLeadsByIds(tx, ids, true)).map((l) => l.id));
      const current: DuplicateCluster[] = clusters.filter((c) => [c.survivorId, ...c.duplicateIds].every((id) => live.has(id)));
      changedMeanwhile = clusters.length - current.length;
      const outcome = await applyMerges(tx, current);
      // A cancelled or timed-out run must not commit its merges.
      if (ctx.signal.aborted) throw ctx.signal.reason;
      return { clusters: current, merge: outcome };
    }));
  }

  const duplicatesFound = clusters.reduce((n, c) => n + c.duplicateIds.length, 0);
  let resultSet;
  if (clusters.length > DEFAULT_PAGE_SIZE) {
    await ctx.progress(95, `storing ${clusters.length} clusters`);
    await ctx.results.append(clusters);
    resultSet = ctx.results.summary("clusters", ctx.agentId, DEFAULT_PAGE_SIZE);
  }
  await ctx.progress(98, `${duplicatesFound} duplicates in ${clusters.length} clusters`);
  return {
    outputs: {
      clusters: clusters.slice(0, DEFAULT_PAGE_SIZE),
      duplicatesFound,
      clusterCount: clusters.length,
      merged: apply && clusters.length > 0,
      mode: apply ? "apply" : "dryRun",
      threshold,
      defaultCountry: match.defaultCountry,
      leadsConsidered: match.leadsConsidered,
      candidatePairs: match.candidatePairs,
      skippedBlocks: match.skippedBlocks,
      blockSizeLimit: match.blockSizeLimit,
      fieldNotes: match.fieldNotes,
      ...(resultSet ? { resultSet } : {}),
      ...(merge ? { campaignMembersRepointed: merge.campaignMembersRepointed, clustersChangedMeanwhile: changedMeanwhile } : {}),
    },
  };
};
