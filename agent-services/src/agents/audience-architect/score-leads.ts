/**
 * scoreLeads: ICP fit 0-100 of each given lead (or, without leadIds, every live lead of the tenant,
 * read a page at a time) against the tenant-defined profile, with reasons. Scores beyond the first
 * page go to the task's result set. Charges 0.05 credit per lead scored (the card's price), never
 * more than reserved.
 */
import { TaskError, type CapabilityHandler } from "../../protocol/agent-contract";
import { DEFAULT_PAGE_SIZE } from "../../tasks/result-sets";
import { checkProfile, scoreIcp, type IcpLead, type IcpProfile } from "./domain/icp";
import { fieldValue } from "./domain/segments";
import { checkAborted, forEachLeadRowPage, leadRecord, LeadTable, loadLeadsById } from "./lead-data";

export const CREDITS_PER_LEAD_MILLI = 50;

/**
 * The fields ICP scoring reads, per lead, in arrival order; a repeated value is kept once (a
 * million leads share a few thousand titles and industries).
 */
class IcpLeads {
  readonly ids: string[] = [];
  readonly leads: IcpLead[] = [];
  private readonly values = new Map<unknown, unknown>();

  get size(): number {
    return this.ids.length;
  }

  add(id: string, rec: Record<string, unknown>): void {
    const shared = (v: unknown) => {
      if (typeof v !== "string") return v;
      const known = this.values.get(v);
      if (known !== undefined) return known;
      this.values.set(v, v);
      return v;
    };
    this.ids.push(id);
    this.leads.push({
      industry: shared(fieldValue(rec, "industry")),
      title: shared(fieldValue(rec, "title")),
      seniority: shared(fieldValue(rec, "seniority")),
      country: shared(fieldValue(rec, "country")),
      employeeCount: fieldValue(rec, "employeeCount"),
    });
  }
}

const RESULT_BATCH = 20_000;

export const scoreLeads: CapabilityHandler = async (ctx) => {
  const inputs = ctx.inputs as unknown as { leadIds?: string[]; profile: IcpProfile };
  const problems = checkProfile(inputs.profile);
  if (problems.length) throw new TaskError("invalid_input", problems.join("; "), { retryable: false });
  const ids = inputs.leadIds ? [...new Set(inputs.leadIds)] : undefined;
  const leads = new IcpLeads();
  await ctx.progress(1, "loading leads");
  if (ids) {
    const table = new LeadTable({ keepRecords: true });
    const rows = await loadLeadsById(ctx, table, ids, (done) => ctx.progress((60 * done) / ids.length, `loaded ${done} of ${ids.length} leads`));
    for (const r of rows) leads.add(table.ids[r], table.records[r]);
  } else {
    // Only the scored fields are kept, so a million leads fit in a fraction of their rows' memory.
    await forEachLeadRowPage(ctx, async (page) => {
      for (const row of page) leads.add(row.id, leadRecord(row));
      await ctx.progress(Math.min(60, 1 + leads.size / 20_000), `loaded ${leads.size} leads`);
    });
  }
  checkAborted(ctx.signal);
  const n = leads.size;
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) scores[i] = scoreIcp(leads.leads[i], inputs.profile).score;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || (leads.ids[a] < leads.ids[b] ? -1 : 1));
  // Reasons and criteria are made again for each row when it is written, not held for every lead.
  const row = (i: number) => {
    const s = scoreIcp(leads.leads[i], inputs.profile);
    return { leadId: leads.ids[i], score: s.score, reasons: s.reasons, criteria: s.criteria };
  };
  let resultSet;
  if (n > DEFAULT_PAGE_SIZE) {
    await ctx.progress(90, `storing ${n} scores`);
    for (let start = 0; start < n; start += RESULT_BATCH) {
      checkAborted(ctx.signal);
      await ctx.results.append(order.slice(start, start + RESULT_BATCH).map(row));
    }
    resultSet = ctx.results.summary("scores", ctx.agentId, DEFAULT_PAGE_SIZE);
  }
  const found = ids ? new Set(leads.ids) : undefined;
  return {
    outputs: {
      scores: order.slice(0, DEFAULT_PAGE_SIZE).map(row),
      scoredCount: n,
      notFound: ids ? ids.filter((id) => !found!.has(id)) : [],
      ...(resultSet ? { resultSet } : {}),
    },
    // Whole-tenant runs reserve for the tenant's leads when the task was created; charge what was scored.
    creditsUsed: Math.min(CREDITS_PER_LEAD_MILLI * (ids?.length ?? n), CREDITS_PER_LEAD_MILLI * n) / 1000,
  };
};
