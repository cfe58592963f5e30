/** validateLeads: a data-quality report over the tenant's live leads (domain/validate + the dedupe matcher). */
import { TaskError, type CapabilityHandler } from "../../queue/handler";
import type { LeadField } from "./domain/lead";
import { findDuplicates } from "./domain/matcher";
import { validateLeadRecords } from "./domain/validate";
import { loadLeads } from "./lead-store";
import { MAX_DEDUPE_LEADS } from "./dedupe-leads";

interface ValidateInputs {
  leadIds?: string[];
  staleAfterDays?: number;
  requiredFields?: LeadField[];
}

export const validateLeads: CapabilityHandler = async (ctx) => {
  const inputs = ctx.inputs as ValidateInputs;
  await ctx.progress(5, "loading leads");
  const leads = await ctx.db((tx) => loadLeads(tx, { leadIds: inputs.leadIds, limit: MAX_DEDUPE_LEADS + 1 }));
  if (leads.length > MAX_DEDUPE_LEADS) {
    throw new TaskError("too_many_leads", `the tenant has more than ${MAX_DEDUPE_LEADS} live leads; pass leadIds to validate a subset`, { retryable: false });
  }
  await ctx.progress(30, `checking ${leads.length} leads for duplicates`);
  const { clusters } = findDuplicates(leads, { signal: ctx.signal });
  const duplicates = new Map<string, { survivorId: string; score: number }>();
  for (const c of clusters) for (const d of c.duplicateIds) duplicates.set(d, { survivorId: c.survivorId, score: c.score });
  const report = validateLeadRecords(leads, { staleAfterDays: inputs.staleAfterDays, requiredFields: inputs.requiredFields, duplicates });
  await ctx.progress(95, `${report.valid} of ${report.checked} leads without issues`);
  return { outputs: { ...report } };
};
