/**
 * ZoomInfo Enterprise API adapter, written against ZoomInfo's published API (api-docs.zoominfo.com,
 * "Authentication", "Enrich Contact", "Enrich Company"; the same shapes the ZoomInfo Node SDK and
 * Jitterbit's ZoomInfo guide use):
 *
 * - `POST {base}/authenticate` with `{ "username", "password" }` answers `{ "jwt": "<token>" }`,
 *   good for 60 minutes; ZoomInfo asks clients not to authenticate per request, so tokens are
 *   cached per (base URL, user) for 55 minutes and renewed once on a 401.
 * - `POST {base}/enrich/contact` with `Authorization: Bearer <jwt>` and
 *   `{ "matchPersonInput": [{ emailAddress, firstName, lastName, companyName }], "outputFields": [...] }`
 *   answers `{ success, data: { outputFields, result: [{ input, data: [contact], matchStatus }] } }`.
 * - `POST {base}/enrich/company` with `{ "matchCompanyInput": [{ companyId | companyWebsite | companyName }], "outputFields": [...] }`
 *   answers the same envelope with company records (`name`, `website`, `employeeCount`, `primaryIndustry`, ...).
 * - Rate limits: 429 with Retry-After, X-RateLimit-Remaining / -Reset; see http.ts.
 *
 * Only username/password authentication is implemented; PKI (client id + private key) is not.
 */
import { createHash } from "node:crypto";
import { count, normaliseLinkedinUrl, normaliseSeniority, normaliseTitle, presentValues, seniorityFromTitle, text } from "../enrich-normalise";
import { companyDomain, normalizeDomain } from "../domain/normalize";
import { joinUrl, readJson, send, statusError, type HttpDeps } from "./http";
import { ProviderError, type EnrichmentProvider, type LeadFields, type LeadRecord, type ProviderOutcome } from "./types";

export interface ZoomInfoSettings {
  username: string;
  password: string;
  /** Default https://api.zoominfo.com */
  baseUrl: string;
}

export const ZOOMINFO_CONTACT_FIELDS = [
  "id", "firstName", "lastName", "email", "phone", "mobilePhone", "jobTitle", "managementLevel", "jobFunction",
  "city", "state", "country", "companyId", "companyName", "externalUrls", "contactAccuracyScore",
];
export const ZOOMINFO_COMPANY_FIELDS = ["id", "name", "website", "employeeCount", "primaryIndustry", "revenue", "city", "state", "country", "phone"];

const TOKEN_TTL_MS = 55 * 60_000;
const tokens = new Map<string, { jwt: string; expiresAt: number }>();

export class ZoomInfoProvider implements EnrichmentProvider {
  readonly name = "zoominfo" as const;
  private readonly tokenKey: string;

  constructor(private readonly settings: ZoomInfoSettings, private readonly http: HttpDeps, private readonly now: () => number = Date.now) {
    this.tokenKey = `${settings.baseUrl}|${settings.username}|${createHash("sha256").update(settings.password).digest("hex")}`;
  }

  private async token(signal: AbortSignal, renew = false): Promise<string> {
    const cached = tokens.get(this.tokenKey);
    if (!renew && cached && cached.expiresAt > this.now()) return cached.jwt;
    const res = await send("zoominfo", this.http, joinUrl(this.settings.baseUrl, "/authenticate"), {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ username: this.settings.username, password: this.settings.password }),
    }, signal);
    if (res.status !== 200) {
      const err = await statusError("zoominfo", res);
      // A refused login is a credentials problem whatever the status ZoomInfo chose for it.
      if (res.status >= 400 && res.status < 500) throw new ProviderError("zoominfo", "provider_auth_failed", `zoominfo refused the login: ${err.message}`, false, res.status);
      throw err;
    }
    const jwt = text((await readJson("zoominfo", res))?.jwt);
    if (!jwt) throw new ProviderError("zoominfo", "provider_error", "zoominfo /authenticate answered without a jwt", true, res.status);
    tokens.set(this.tokenKey, { jwt, expiresAt: this.now() + TOKEN_TTL_MS });
    return jwt;
  }

  /** POSTs an enrich request with the JWT, authenticating again once if the token was refused. */
  private async enrichCall(path: string, body: unknown, signal: AbortSignal): Promise<any | undefined> {
    for (let renew = false; ; renew = true) {
      const jwt = await this.token(signal, renew);
      const res = await send("zoominfo", this.http, joinUrl(this.settings.baseUrl, path), {
        method: "POST",
        headers: { authorization: `Bearer ${jwt}`, "content-type": "application/json", accept: "application/json" },
        body: JSON.stringify(body),
      }, signal);
      if (res.status === 401 && !renew) {
        await res.body?.cancel().catch(() => undefined);
        tokens.delete(this.tokenKey);
        continue;
      }
      if (res.status !== 200) throw await statusError("zoominfo", res);
      const json = await readJson("zoominfo", res);
      const result = json?.data?.result?.[0];
      if (!result) return undefined;
      if (typeof result.matchStatus === "string" && /LIMIT_EXCEEDED/i.test(result.matchStatus)) {
        throw new ProviderError("zoominfo", "provider_rate_limited", `zoominfo: ${result.matchStatus}`, true);
      }
      return Array.isArray(result.data) && result.data.length ? result.data[0] : undefined;
    }
  }

  async enrich(lead: LeadRecord, signal: AbortSignal): Promise<ProviderOutcome> {
    const domain = companyDomain(lead.domain, lead.email);
    let contact: any;
    if (lead.email || (lead.first_name && lead.last_name && lead.company)) {
      const input: Record<string, string> = {};
      if (lead.email) input.emailAddress = lead.email;
      if (lead.first_name) input.firstName = lead.first_name;
      if (lead.last_name) input.lastName = lead.last_name;
      if (lead.company) input.companyName = lead.company;
      contact = await this.enrichCall("/enrich/contact", { matchPersonInput: [input], outputFields: ZOOMINFO_CONTACT_FIELDS }, signal);
    }
    const companyId = contact?.companyId ?? contact?.company?.id;
    let company: any;
    if (companyId != null || domain || lead.company) {
      const input: Record<string, unknown> = companyId != null ? { companyId } : domain ? { companyWebsite: domain } : { companyName: lead.company };
      company = await this.enrichCall("/enrich/company", { matchCompanyInput: [input], outputFields: ZOOMINFO_COMPANY_FIELDS }, signal);
    }
    if (!contact && !company) return { found: false, reason: "zoominfo has no match" };
    return mapZoomInfo(contact ?? null, company ?? null);
  }
}

/** ZoomInfo contact + company records -> our lead fields and the extras. */
export function mapZoomInfo(contact: any, company: any): ProviderOutcome {
  const fields: LeadFields = {};
  const title = normaliseTitle(text(contact?.jobTitle));
  if (title) fields.title = title;
  const seniority = normaliseSeniority(contact?.managementLevel) ?? seniorityFromTitle(title);
  // "Non-Manager" says little; a title that says more wins.
  if (seniority) fields.seniority = seniority === "entry" ? seniorityFromTitle(title) ?? seniority : seniority;
  const companyName = text(company?.name) ?? text(contact?.companyName) ?? text(contact?.company?.name);
  if (companyName) fields.company = companyName;
  const domain = normalizeDomain(company?.website) ?? normalizeDomain(contact?.company?.website);
  if (domain) fields.domain = domain;
  const industry = Array.isArray(company?.primaryIndustry) ? text(company.primaryIndustry[0]) : text(company?.primaryIndustry);
  if (industry) fields.industry = industry;
  const employees = count(company?.employeeCount);
  if (employees) fields.employee_count = employees;
  const phone = text(contact?.phone) ?? text(contact?.mobilePhone);
  if (phone) fields.phone = phone;
  const urls: any[] = Array.isArray(contact?.externalUrls) ? contact.externalUrls : [];
  const linkedin = normaliseLinkedinUrl(text(urls.find((u) => /linkedin/i.test(String(u?.type ?? u?.url ?? "")))?.url));
  if (linkedin) fields.linkedin_url = linkedin;
  const city = text(contact?.city);
  if (city) fields.city = city;
  const country = text(contact?.country);
  if (country) fields.country = country;

  const extras = presentValues({
    personId: contact?.id,
    jobFunction: contact?.jobFunction,
    managementLevel: contact?.managementLevel,
    state: contact?.state,
    contactAccuracyScore: contact?.contactAccuracyScore,
    companyId: company?.id ?? contact?.companyId,
    revenue: company?.revenue,
    companyPhone: company?.phone,
  });
  if (!Object.keys(fields).length && !Object.keys(extras).length) return { found: false, reason: "zoominfo matched but returned no data" };
  return { found: true, fields, extras };
}
