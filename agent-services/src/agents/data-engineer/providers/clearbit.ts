/**
 * Clearbit Enrichment adapter, written against Clearbit's published API (clearbit.com/docs#enrichment-api,
 * help.clearbit.com "What is a 202 Status Code?"):
 *
 * - Combined lookup, `GET https://person.clearbit.com/v2/combined/find?email=` answering
 *   `{ person: {...} | null, company: {...} | null }`; Company lookup,
 *   `GET https://company.clearbit.com/v2/companies/find?domain=` answering the company object.
 * - Auth: `Authorization: Bearer <secret key>` (the docs also accept the key as the basic-auth user).
 * - 200 = found; 202 = the lookup is queued, ask again later (we retry after a short delay, a bounded
 *   number of times, then fail the lead as retryable); 404 = nobody known; 422 = invalid input.
 * - Person fields read: `employment { title, seniority, name, domain }`, `geo { city, country }`,
 *   `linkedin { handle }` ("in/..."), `location`, `timeZone`; company fields: `name`, `domain`,
 *   `category { industry, sector }`, `metrics { employees, employeesRange }`, `phone`, `linkedin { handle }`.
 * - Rate limits: 429 with Retry-After and X-RateLimit-Limit / -Remaining / -Reset; see http.ts.
 *
 * CLEARBIT_BASE_URL, when set, replaces both hosts (person.clearbit.com and company.clearbit.com).
 */
import { count, normaliseLinkedinUrl, normaliseSeniority, normaliseTitle, presentValues, seniorityFromTitle, text } from "../enrich-normalise";
import { companyDomain, normalizeDomain } from "../domain/normalize";
import { abortableSleep, joinUrl, readJson, send, statusError, type HttpDeps } from "./http";
import { ProviderError, type EnrichmentProvider, type LeadFields, type LeadRecord, type ProviderOutcome } from "./types";

export interface ClearbitSettings {
  apiKey: string;
  /** Default https://person.clearbit.com */
  personBaseUrl: string;
  /** Default https://company.clearbit.com */
  companyBaseUrl: string;
}

export class ClearbitProvider implements EnrichmentProvider {
  readonly name = "clearbit" as const;

  constructor(private readonly settings: ClearbitSettings, private readonly http: HttpDeps) {}

  async enrich(lead: LeadRecord, signal: AbortSignal): Promise<ProviderOutcome> {
    if (lead.email) {
      const url = joinUrl(this.settings.personBaseUrl, `/v2/combined/find?email=${encodeURIComponent(lead.email)}`);
      const body = await this.lookup(url, signal);
      if (body && (body.person || body.company)) return mapClearbit(body.person ?? null, body.company ?? null);
      if (body) return { found: false, reason: "clearbit knows nothing about this email" };
    }
    const domain = companyDomain(lead.domain, lead.email);
    if (domain) {
      const url = joinUrl(this.settings.companyBaseUrl, `/v2/companies/find?domain=${encodeURIComponent(domain)}`);
      const company = await this.lookup(url, signal);
      if (company) return mapClearbit(null, company);
    }
    return { found: false, reason: lead.email || domain ? "clearbit has no match" : "not enough to match: needs an email or a company domain" };
  }

  /** One lookup: the body on 200, undefined on 404, retries on 202 (queued) within the bounds. */
  private async lookup(url: string, signal: AbortSignal): Promise<any | undefined> {
    const sleep = this.http.sleep ?? abortableSleep;
    for (let attempt = 0; ; attempt++) {
      const res = await send("clearbit", this.http, url, { method: "GET", headers: { authorization: `Bearer ${this.settings.apiKey}`, accept: "application/json" } }, signal);
      if (res.status === 200) return readJson("clearbit", res);
      if (res.status === 404) {
        await res.body?.cancel().catch(() => undefined);
        return undefined;
      }
      if (res.status === 202) {
        await res.body?.cancel().catch(() => undefined);
        if (attempt >= this.http.policy.queuedRetries) {
          throw new ProviderError("clearbit", "provider_queued", `clearbit queued the lookup (202) and had no answer after ${attempt + 1} tries; try again later`, true, 202);
        }
        await sleep(this.http.policy.queuedDelayMs, signal);
        continue;
      }
      throw await statusError("clearbit", res);
    }
  }
}

/** Clearbit person + company -> our lead fields and the extras. */
export function mapClearbit(person: any, company: any): ProviderOutcome {
  const fields: LeadFields = {};
  const employment = person?.employment ?? {};
  const title = normaliseTitle(text(employment.title));
  if (title) fields.title = title;
  const seniority = seniorityFromTitle(title) ?? normaliseSeniority(employment.seniority);
  if (seniority) fields.seniority = seniority;
  const companyName = text(company?.name) ?? text(employment.name);
  if (companyName) fields.company = companyName;
  const domain = normalizeDomain(company?.domain) ?? normalizeDomain(employment.domain);
  if (domain) fields.domain = domain;
  const industry = text(company?.category?.industry);
  if (industry) fields.industry = industry;
  const employees = count(company?.metrics?.employees);
  if (employees) fields.employee_count = employees;
  const phone = text(person?.phone);
  if (phone) fields.phone = phone;
  const linkedin = normaliseLinkedinUrl(text(person?.linkedin?.handle));
  if (linkedin) fields.linkedin_url = linkedin;
  const city = text(person?.geo?.city);
  if (city) fields.city = city;
  const country = text(person?.geo?.country);
  if (country) fields.country = country;

  const extras = presentValues({
    personId: person?.id,
    role: employment.role,
    subRole: employment.subRole,
    location: person?.location,
    timeZone: person?.timeZone,
    state: person?.geo?.state,
    companyId: company?.id,
    sector: company?.category?.sector,
    employeesRange: company?.metrics?.employeesRange,
    companyPhone: company?.phone,
    companyLinkedin: company?.linkedin?.handle,
  });
  if (!Object.keys(fields).length && !Object.keys(extras).length) return { found: false, reason: "clearbit matched but returned no data" };
  return { found: true, fields, extras };
}
