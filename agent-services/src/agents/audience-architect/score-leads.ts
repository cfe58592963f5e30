/**
 * scoreLeads: ICP fit 0-100 of each given lead (or, without leadIds, every live lead of the tenant,
 * read a page at a time) against the tenant-defined profile, with reasons. Scores beyond the first
 * page go to the task's result set. Charges 0.05 credit per lead scored (the card's price), never
 * more than reserved.
 */
import { TaskError, type CapabilityHandler } from "../../queue/handler";
import { DEFAULT_PAGE_SIZE } from "../../tasks/result-sets";
import { checkProfile, scoreIcp, type IcpProfile } from "./domain/icp";
import { fieldValue } from "./domain/segments";
import { checkAborted, LeadTable, loadAllLeads, loadLeadsById } from "./lead-data";

export const CREDITS_PER_LEAD_MILLI = 50;

export const scoreLeads: CapabilityHandler = async (ctx) => {
  const inputs = ctx.inputs as unknown as { leadIds?: string[]; profile: IcpProfile };
  const problems = checkProfile(inputs.profile);
  if (problems.length) throw new TaskError("invalid_input", problems.join("; "), { retryable: false });
  const ids = inputs.leadIds ? [...new Set(inputs.leadIds)] : undefined;
  const table = new LeadTable();
  await ctx.progress(1, "loading leads");
  const rows = ids
    ? await loadLeadsById(ctx, table, ids, (done) => ctx.progress((60 * done) / ids.length, `loaded ${done} of ${ids.length} leads`))
    : await loadAllLeads(ctx, table, new Set(), (n) => ctx.progress(Math.min(60, 1 + n / 20_000), `loaded ${n} leads`));
  checkAborted(ctx.signal);
  const scores = rows.map((r) => {
    const rec = table.records[r];
    const s = scoreIcp(
      {
        industry: fieldValue(rec, "industry"),
        title: fieldValue(rec, "title"),
        seniority: fieldValue(rec, "seniority"),
        country: fieldValue(rec, "country"),
        employeeCount: fieldValue(rec, "employeeCount"),
      },
      inputs.profile,
    );
    return { leadId: table.ids[r], score: s.score, reasons: s.reasons, criteria: s.criteria };
  });
  scores.sort((a, b) => b.score - a.score || (a.leadId < b.leadId ? -1 : 1));
  let resultSet;
  if (scores.length > DEFAULT_PAGE_SIZE) {
    await ctx.progress(90, `storing ${scores.length} scores`);
    await ctx.results.append(scores);
    resultSet = ctx.results.summary("scores", ctx.agentId, DEFAULT_PAGE_SIZE);
  }
  const found = ids ? new Set(scores.map((s) => s.leadId)) : undefined;
  return {
    outputs: {
      scores: scores.slice(0, DEFAULT_PAGE_SIZE),
      scoredCount: scores.length,
      notFound: ids ? ids.filter((id) => !found!.has(id)) : [],
      ...(resultSet ? { resultSet } : {}),
    },
    // Whole-tenant runs reserve for the tenant's leads when the task was created; charge what was scored.
    creditsUsed: Math.min(CREDITS_PER_LEAD_MILLI * (ids?.length ?? scores.length), CREDITS_PER_LEAD_MILLI * scores.length) / 1000,
  };
};
