/**
 * segmentLeads: loads the leads (the given ones or all of the tenant's) and segments them by rules
 * or by clustering. Priced at a fixed credit, which the runtime charges from the reservation.
 */
import { TaskError, type CapabilityHandler } from "../../protocol/agent-contract";
import { DEFAULT_PAGE_SIZE } from "../../tasks/result-sets";
import { yieldToEventLoop } from "../../lib/event-loop";
import { segmentByClustersPausing, segmentByRules, type Rule } from "./domain/segments";
import { checkAborted, LeadTable, loadAllLeads, loadLeadsById } from "./lead-data";

interface Inputs {
  leadIds?: string[];
  method: "rules" | "cluster";
  rules?: Rule[];
  k?: number;
}

export const segmentLeads: CapabilityHandler = async (ctx) => {
  const inputs = ctx.inputs as unknown as Inputs;
  if (inputs.method === "rules" && !inputs.rules?.length) {
    throw new TaskError("invalid_input", "method rules needs at least one rule", { retryable: false });
  }
  const table = new LeadTable({ keepRecords: inputs.method === "rules" });
  await ctx.progress(1, "loading leads");
  const rows = inputs.leadIds
    ? await loadLeadsById(ctx, table, [...new Set(inputs.leadIds)], (done) => ctx.progress((50 * done) / inputs.leadIds!.length, `loaded ${done} leads`))
    : await loadAllLeads(ctx, table, new Set(), (n) => ctx.progress(Math.min(50, n / 2000), `loaded ${n} leads`));
  checkAborted(ctx.signal);
  await ctx.progress(60, inputs.method === "rules" ? "applying rules" : `clustering ${rows.length} leads into ${inputs.k ?? 5} groups`);
  // rows are 0..n-1 in load order (each lead added once), so segment rows are table rows.
  const segments =
    inputs.method === "rules"
      ? segmentByRules(table.records, inputs.rules!)
      : await segmentByClustersPausing(table.toFrame(), inputs.k ?? 5, 42, async () => {
          checkAborted(ctx.signal);
          await yieldToEventLoop();
        });
  checkAborted(ctx.signal);
  // Past a page of leads, membership goes to the result set ({leadId, segment}, segment by segment)
  // and each segment lists its first page of lead ids.
  let resultSet;
  if (rows.length > DEFAULT_PAGE_SIZE) {
    await ctx.progress(90, `storing ${rows.length} memberships`);
    for (const seg of segments) {
      for (let k = 0; k < seg.rows.length; k += 20_000) {
        await ctx.results.append(seg.rows.slice(k, k + 20_000).map((r) => ({ leadId: table.ids[r], segment: seg.name })));
      }
    }
    resultSet = ctx.results.summary("memberships", ctx.agentId, 0);
  }
  return {
    outputs: {
      method: inputs.method,
      leadCount: rows.length,
      segments: segments.map((s) => ({
        name: s.name,
        leadIds: s.rows.slice(0, DEFAULT_PAGE_SIZE).map((r) => table.ids[r]),
        size: s.rows.length,
        description: s.description,
        ...(s.rows.length > DEFAULT_PAGE_SIZE ? { leadIdsTruncated: true } : {}),
      })),
      ...(resultSet ? { resultSet } : {}),
    },
  };
};
