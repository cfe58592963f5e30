/**
 * validateLeads: a data-quality report over the given leads or every live lead of the tenant
 * (domain/validate + the dedupe matcher). The leads are read once, a page at a time: each page goes
 * into the matcher and is checked at once; duplicate issues follow when the matcher has compared
 * every lead. Issues beyond the first page go to the result set.
 */
import type { CapabilityHandler } from "../../protocol/agent-contract";
import { DEFAULT_PAGE_SIZE } from "../../tasks/result-sets";
import type { LeadField, LeadRecord } from "./domain/lead";
import { duplicateIssue, validateLeadRecords, type LeadIssue } from "./domain/validate";
import { loadLeads } from "./lead-store";
import { checkedDefaultCountry, matchLeads } from "./tenant-matching";

interface ValidateInputs {
  leadIds?: string[];
  staleAfterDays?: number;
  requiredFields?: LeadField[];
  defaultCountry?: string;
}

export const validateLeads: CapabilityHandler = async (ctx) => {
  const inputs = ctx.inputs as ValidateInputs;
  const defaultCountry = await checkedDefaultCountry(ctx, inputs.defaultCountry);
  await ctx.progress(5, "loading leads");
  const given = inputs.leadIds ? await ctx.db((tx) => loadLeads(tx, inputs.leadIds!)) : undefined;

  const options = { staleAfterDays: inputs.staleAfterDays, requiredFields: inputs.requiredFields, defaultCountry, now: new Date() };
  let checked = 0;
  let valid = 0;
  /** Leads with an issue other than being a duplicate (a duplicate among them was not counted valid). */
  const flagged = new Set<string>();
  const summary: Record<string, number> = {};
  const firstPage: LeadIssue[] = [];
  let buffer: LeadIssue[] = [];
  let issueCount = 0;
  // Issues are buffered; once there are more than a page, all of them go to the result set.
  const record = async (issues: LeadIssue[]) => {
    for (const issue of issues) {
      summary[issue.code] = (summary[issue.code] ?? 0) + 1;
      if (firstPage.length < DEFAULT_PAGE_SIZE) firstPage.push(issue);
      buffer.push(issue);
    }
    issueCount += issues.length;
    if (issueCount > DEFAULT_PAGE_SIZE && buffer.length >= 5000) {
      await ctx.results.append(buffer);
      buffer = [];
    }
  };
  const check = async (leads: LeadRecord[]) => {
    const report = validateLeadRecords(leads, options);
    checked += report.checked;
    valid += report.valid;
    for (const issue of report.issues) flagged.add(issue.leadId);
    await record(report.issues);
  };

  const { clusters } = await matchLeads(ctx, given, { defaultCountry }, { from: 5, to: 90 }, check);
  const duplicates: LeadIssue[] = [];
  for (const c of clusters) {
    for (const d of c.duplicateIds) {
      duplicates.push(duplicateIssue(d, c));
      if (!flagged.has(d)) valid--;
    }
  }
  await record(duplicates);
  let resultSet;
  if (issueCount > DEFAULT_PAGE_SIZE) {
    await ctx.results.append(buffer);
    resultSet = ctx.results.summary("issues", ctx.agentId, DEFAULT_PAGE_SIZE);
  }
  await ctx.progress(98, `${valid} of ${checked} leads without issues`);
  return { outputs: { checked, valid, issues: firstPage, issueCount, summary, defaultCountry: defaultCountry ?? null, ...(resultSet ? { resultSet } : {}) } };
};
