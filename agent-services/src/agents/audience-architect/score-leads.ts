/**
 * scoreLeads: ICP fit 0-100 of each given lead against the tenant-defined profile, with reasons.
 * Charges 0.05 credit per lead found (the card's price), never more than reserved.
 */
import { TaskError, type CapabilityHandler } from "../../queue/handler";
import { checkProfile, scoreIcp, type IcpProfile } from "./domain/icp";
import { fieldValue } from "./domain/segments";
import { checkAborted, LeadTable, loadLeadsById } from "./lead-data";

export const CREDITS_PER_LEAD_MILLI = 50;

export const scoreLeads: CapabilityHandler = async (ctx) => {
  const inputs = ctx.inputs as unknown as { leadIds: string[]; profile: IcpProfile };
  const problems = checkProfile(inputs.profile);
  if (problems.length) throw new TaskError("invalid_input", problems.join("; "), { retryable: false });
  const ids = [...new Set(inputs.leadIds)];
  const table = new LeadTable();
  await ctx.progress(1, "loading leads");
  const rows = await loadLeadsById(ctx, table, ids, (done) => ctx.progress((60 * done) / ids.length, `loaded ${done} of ${ids.length} leads`));
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
  const found = new Set(scores.map((s) => s.leadId));
  return {
    outputs: { scores, notFound: ids.filter((id) => !found.has(id)) },
    creditsUsed: Math.min(CREDITS_PER_LEAD_MILLI * inputs.leadIds.length, CREDITS_PER_LEAD_MILLI * scores.length) / 1000,
  };
};
