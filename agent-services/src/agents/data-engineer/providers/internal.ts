/**
 * The built-in provider: enriches from what the tenant already has, with no network and no key.
 *
 * - company, domain, industry, employee_count: the most common values among the tenant's leads
 *   that share the lead's email domain (the handler reads them once per task; see
 *   `CompanyKnowledge`); free-mail domains (gmail.com, ...) say nothing about an employer;
 * - domain: else the email's domain itself, when it is not free mail;
 * - title: normalised ("sr. software eng" -> "Senior Software Engineer");
 * - seniority: from the title, or the lead's own value normalised to our vocabulary.
 *
 * Its values fill empty fields only, except title and seniority, which it rewrites in normal form.
 */
import { count, normaliseSeniority, normaliseTitle, seniorityFromTitle, text } from "../enrich-normalise";
import { companyDomain } from "../domain/normalize";
import type { EnrichmentProvider, LeadFields, LeadRecord, ProviderOutcome } from "./types";

export interface CompanyFacts {
  company?: string;
  domain?: string;
  industry?: string;
  employee_count?: number;
  /** How many of the tenant's leads share the email domain. */
  leads: number;
}

/** Email domain (lower case) -> what the tenant's leads at that domain say about the company. */
export type CompanyKnowledge = Map<string, CompanyFacts>;

export class InternalProvider implements EnrichmentProvider {
  readonly name = "internal" as const;

  constructor(private readonly knowledge: CompanyKnowledge) {}

  async enrich(lead: LeadRecord): Promise<ProviderOutcome> {
    const fields: LeadFields = {};
    const extras: Record<string, unknown> = {};
    const employer = companyDomain(null, lead.email);
    const facts = employer ? this.knowledge.get(employer) : undefined;
    if (facts) {
      if (facts.company) fields.company = facts.company;
      if (facts.domain) fields.domain = facts.domain;
      if (facts.industry) fields.industry = facts.industry;
      if (facts.employee_count) fields.employee_count = facts.employee_count;
      extras.companyFromLeads = facts.leads;
    }
    if (!fields.domain && employer) fields.domain = employer;
    const title = normaliseTitle(text(lead.title));
    if (title) fields.title = title;
    const seniority = seniorityFromTitle(title) ?? normaliseSeniority(lead.seniority);
    if (seniority) fields.seniority = seniority;
    if (!Object.keys(fields).length) return { found: false, reason: "nothing to derive: no company email and no title" };
    return { found: true, fields, extras };
  }
}

/** Builds the knowledge from aggregated rows (email domain, most common values, lead count). */
export function companyKnowledge(rows: { email_domain: string; company: unknown; domain: unknown; industry: unknown; employee_count: unknown; leads: unknown }[]): CompanyKnowledge {
  const map: CompanyKnowledge = new Map();
  for (const r of rows) {
    map.set(r.email_domain, {
      company: text(r.company),
      domain: text(r.domain),
      industry: text(r.industry),
      employee_count: count(r.employee_count),
      leads: Number(r.leads) || 0,
    });
  }
  return map;
}
