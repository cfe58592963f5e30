/**
 * Apollo.io adapter, written against Apollo's published REST API:
 *
 * - People Enrichment, `POST {base}/api/v1/people/match` (https://docs.apollo.io/reference/people-enrichment,
 *   tutorial https://docs.apollo.io/docs/enrich-people-data): API key in the `x-api-key` header;
 *   identifying parameters `email`, `first_name`, `last_name`, `organization_name`, `domain`
 *   (sent as a JSON body). The answer is `{ person: {...} }`, or `person: null` when nothing matched
 *   (a 200 either way). We read `title`, `seniority`, `linkedin_url`, `city`, `state`, `country`,
 *   `phone_numbers[].sanitized_number|raw_number`, `departments`, `functions`, `headline`,
 *   `email_status` and `organization { name, primary_domain, industry, estimated_num_employees,
 *   website_url, linkedin_url, founded_year }`.
 * - Organization Enrichment, `GET {base}/api/v1/organizations/enrich?domain=` answering
 *   `{ organization: {...} }` (https://docs.apollo.io/reference/organization-enrichment): used when
 *   the person match carries no organisation data, or when the lead has no person to match.
 * - Rate limits: 429 with Retry-After, and `x-minute-requests-left` / `x-hourly-requests-left` /
 *   `x-24-hour-requests-left` on every answer (https://docs.apollo.io/reference/rate-limits); see http.ts.
 */
import { count, normaliseLinkedinUrl, normaliseSeniority, normaliseTitle, presentValues, seniorityFromTitle, text } from "../enrich-normalise";
import { companyDomain, normalizeDomain } from "../domain/normalize";
import { joinUrl, readJson, send, statusError, type HttpDeps } from "./http";
import type { EnrichmentProvider, LeadFields, LeadRecord, ProviderOutcome } from "./types";

export interface ApolloSettings {
  apiKey: string;
  /** Default https://api.apollo.io */
  baseUrl: string;
}

export class ApolloProvider implements EnrichmentProvider {
  readonly name = "apollo" as const;

  constructor(private readonly settings: ApolloSettings, private readonly http: HttpDeps) {}

  private headers(): Record<string, string> {
    return { "x-api-key": this.settings.apiKey, "content-type": "application/json", accept: "application/json", "cache-control": "no-cache" };
  }

  async enrich(lead: LeadRecord, signal: AbortSignal): Promise<ProviderOutcome> {
    const domain = companyDomain(lead.domain, lead.email);
    const canMatchPerson = !!lead.email || (!!lead.first_name && !!lead.last_name && (!!domain || !!lead.company));
    let person: any = null;
    if (canMatchPerson) {
      const body: Record<string, string> = {};
      if (lead.email) body.email = lead.email;
      if (lead.first_name) body.first_name = lead.first_name;
      if (lead.last_name) body.last_name = lead.last_name;
      if (lead.company) body.organization_name = lead.company;
      if (domain) body.domain = domain;
      const res = await send("apollo", this.http, joinUrl(this.settings.baseUrl, "/api/v1/people/match"), { method: "POST", headers: this.headers(), body: JSON.stringify(body) }, signal);
      if (res.status !== 200) {
        if (res.status === 404) return { found: false, reason: "apollo has no match for this person" };
        throw await statusError("apollo", res);
      }
      person = (await readJson("apollo", res))?.person ?? null;
    }

    let org: any = person?.organization ?? null;
    const orgDomain = normalizeDomain(org?.primary_domain) ?? domain;
    if (orgDomain && (!org || (org.industry == null && org.estimated_num_employees == null))) {
      const res = await send("apollo", this.http, joinUrl(this.settings.baseUrl, `/api/v1/organizations/enrich?domain=${encodeURIComponent(orgDomain)}`), { method: "GET", headers: this.headers() }, signal);
      if (res.status === 200) org = (await readJson("apollo", res))?.organization ?? org;
      else if (res.status !== 404 && res.status !== 422) throw await statusError("apollo", res);
      else await res.body?.cancel().catch(() => undefined);
    }

    if (!person && !org) return { found: false, reason: canMatchPerson ? "apollo has no match for this person" : "not enough to match: needs an email, or a name with a company or domain" };
    return mapApollo(person, org);
  }
}

/** Apollo person + organization -> our lead fields and the extras. */
export function mapApollo(person: any, org: any): ProviderOutcome {
  const fields: LeadFields = {};
  const title = normaliseTitle(text(person?.title));
  if (title) fields.title = title;
  const seniority = normaliseSeniority(person?.seniority) ?? seniorityFromTitle(title);
  if (seniority) fields.seniority = seniority;
  const company = text(org?.name);
  if (company) fields.company = company;
  const domain = normalizeDomain(org?.primary_domain) ?? normalizeDomain(org?.website_url);
  if (domain) fields.domain = domain;
  const industry = text(org?.industry);
  if (industry) fields.industry = industry;
  const employees = count(org?.estimated_num_employees);
  if (employees) fields.employee_count = employees;
  const phones: any[] = Array.isArray(person?.phone_numbers) ? person.phone_numbers : [];
  const phone = phones.map((p) => text(p?.sanitized_number) ?? text(p?.raw_number)).find(Boolean);
  if (phone) fields.phone = phone;
  const linkedin = normaliseLinkedinUrl(text(person?.linkedin_url));
  if (linkedin) fields.linkedin_url = linkedin;
  const city = text(person?.city);
  if (city) fields.city = city;
  const country = text(person?.country);
  if (country) fields.country = country;

  const extras = presentValues({
    personId: person?.id,
    headline: person?.headline,
    state: person?.state,
    emailStatus: person?.email_status,
    departments: person?.departments,
    functions: person?.functions,
    organizationId: org?.id,
    organizationLinkedinUrl: org?.linkedin_url,
    websiteUrl: org?.website_url,
    foundedYear: org?.founded_year,
    annualRevenue: org?.annual_revenue,
  });
  if (!Object.keys(fields).length && !Object.keys(extras).length) return { found: false, reason: "apollo matched but returned no data" };
  return { found: true, fields, extras };
}
