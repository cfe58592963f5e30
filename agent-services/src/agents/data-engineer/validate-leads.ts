/**
 * validateLeads: a data-quality report over the given leads or every live lead of the tenant
 * (domain/validate + the dedupe matcher). Whole-tenant runs read the leads twice, a page at a time:
 * once into the matcher, once to check each page; issues beyond the first page go to the result set.
 */
import type { CapabilityHandler } from "../../queue/handler";
import { DEFAULT_PAGE_SIZE } from "../../tasks/result-sets";
import type { LeadField, LeadRecord } from "./domain/lead";
import { validateLeadRecords, type LeadIssue } from "./domain/validate";
import { forEachLeadPage, loadLeads } from "./lead-store";
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
  const { clusters } = await matchLeads(ctx, given, { defaultCountry }, { from: 5, to: 50 });
  const duplicates = new Map<string, { survivorId: string; score: number }>();
  for (const c of clusters) for (const d of c.duplicateIds) duplicates.set(d, { survivorId: c.survivorId, score: c.score });

  const options = { staleAfterDays: inputs.staleAfterDays, requiredFields: inputs.requiredFields, duplicates, defaultCountry, now: new Date() };
  let checked = 0;
  let valid = 0;
  const summary: Record<string, number> = {};
  const firstPage: LeadIssue[] = [];
  let buffer: LeadIssue[] = [];
  let issueCount = 0;
  // Issues are buffered; once there are more than a page, all of them go to the result set.
  const check = async (leads: LeadRecord[]) => {
    const report = validateLeadRecords(leads, options);
    checked += report.checked;
    valid += report.valid;
    for (const [code, n] of Object.entries(report.summary)) summary[code] = (summary[code] ?? 0) + n;
    for (const issue of report.issues) {
      if (firstPage.length < DEFAULT_PAGE_SIZE) firstPage.push(issue);
      buffer.push(issue);
    }
    issueCount += report.issues.length;
    if (issueCount > DEFAULT_PAGE_SIZE && buffer.length >= 5000) {
      await ctx.results.append(buffer);
      buffer = [];
    }
  };
  await ctx.progress(50, "checking leads");
  if (given) await check(given);
  else {
    await forEachLeadPage(ctx.db, ctx.signal, async (page) => {
      await check(page);
      if (checked % 50_000 < page.length) await ctx.progress(50 + Math.min(45, checked / 20_000), `checked ${checked} leads`);
    });
  }
  let resultSet;
  if (issueCount > DEFAULT_PAGE_SIZE) {
    await ctx.results.append(buffer);
    resultSet = ctx.results.summary("issues", ctx.agentId, DEFAULT_PAGE_SIZE);
  }
  await ctx.progress(98, `${valid} of ${checked} leads without issues`);
  return { outputs: { checked, valid, issues: firstPage, issueCount, summary, defaultCountry: defaultCountry ?? null, ...(resultSet ? { resultSet } : {}) } };
};
