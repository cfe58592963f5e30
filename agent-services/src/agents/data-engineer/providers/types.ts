/**
 * What every enrichment provider adapter speaks: a lead in, a match (our lead fields plus the
 * provider's extras) or "no match" out, and a ProviderError for everything else. Pure types; no I/O.
 */

export const PROVIDER_NAMES = ["apollo", "clearbit", "zoominfo", "internal"] as const;
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** The lead columns enrichment may write (db/migrations core schema, table leads). */
export const ENRICHABLE_FIELDS = [
  "title",
  "seniority",
  "company",
  "domain",
  "industry",
  "employee_count",
  "phone",
  "linkedin_url",
  "city",
  "country",
] as const;
export type EnrichableField = (typeof ENRICHABLE_FIELDS)[number];

export type LeadFields = { [K in EnrichableField]?: K extends "employee_count" ? number : string };

/** A lead as the adapters see it (snake_case like the table). */
export interface LeadRecord {
  id: string;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  title: string | null;
  seniority: string | null;
  company: string | null;
  domain: string | null;
  industry: string | null;
  employee_count: number | null;
  phone: string | null;
  linkedin_url: string | null;
  city: string | null;
  country: string | null;
  attributes: Record<string, unknown>;
}

export type ProviderOutcome =
  | { found: true; fields: LeadFields; /** Provider data with no lead column; kept under attributes.enrichment.<provider>. */ extras: Record<string, unknown> }
  | { found: false; reason: string };

export interface EnrichmentProvider {
  readonly name: ProviderName;
  enrich(lead: LeadRecord, signal: AbortSignal): Promise<ProviderOutcome>;
}

/** `fetch` as the adapters use it; the handler injects `tracedFetch`, tests may inject anything. */
export type FetchFn = (url: string, init: RequestInit) => Promise<Response>;

export type ProviderErrorCode =
  | "provider_not_configured"
  | "provider_auth_failed"
  | "provider_rate_limited"
  | "provider_queued"
  | "provider_rejected"
  | "provider_error";

/**
 * A provider call that failed. `retryable` says whether the same call later could succeed (rate
 * limits, queued lookups, 5xx, network); `fatal` failures (missing or refused credentials) stop the
 * whole task because every other lead would fail the same way.
 */
export class ProviderError extends Error {
  constructor(
    public readonly provider: ProviderName,
    public readonly code: ProviderErrorCode,
    message: string,
    public readonly retryable: boolean,
    public readonly status?: number,
  ) {
    super(message);
    this.name = "ProviderError";
  }
  get fatal(): boolean {
    return this.code === "provider_not_configured" || this.code === "provider_auth_failed";
  }
}

/** Limits on waiting for a provider, so a task never sleeps past what its SLA can afford. */
export interface WaitPolicy {
  /** Longest single wait for a rate limit (429 Retry-After, exhausted X-RateLimit window); beyond it the lead fails as retryable. */
  maxWaitMs: number;
  /** How often a rate-limited (429) request is sent again before the lead fails. */
  maxRateLimitRetries: number;
  /** Clearbit 202 (lookup queued): how often to ask again, and how long to wait in between. */
  queuedRetries: number;
  queuedDelayMs: number;
  /** Per-request timeout. */
  timeoutMs: number;
}

export const DEFAULT_WAIT_POLICY: WaitPolicy = {
  maxWaitMs: 60_000,
  maxRateLimitRetries: 3,
  queuedRetries: 3,
  queuedDelayMs: 5_000,
  timeoutMs: 15_000,
};
