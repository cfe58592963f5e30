/**
 * Lead enrichment, the domain part: run a lead through a provider chain (fallback) or all
 * providers at once (merge), and work out which lead columns change. No I/O of its own: providers
 * are handed in, and the caller writes what `planUpdate` returns.
 *
 * Strategies
 * - fallback: providers in order; the next one is asked when the previous found nothing or failed.
 *   The first match is applied.
 * - merge: all providers in parallel; each field takes the value of the first provider in the
 *   chain's order that has one (primary provider first), with `internal` always last: external
 *   providers outrank what the tenant's own data suggests.
 *
 * Overwriting
 * - Values from apollo, clearbit and zoominfo replace what the lead has (enrichment refreshes).
 * - Values from internal only fill empty fields, except title and seniority, which it rewrites in
 *   normal form.
 * - Provider data without a lead column goes to attributes.enrichment.<provider>.
 * Only columns whose value actually changes are written and reported.
 */
import { LEAD_FIELDS } from "./domain/lead";
import { ENRICHABLE_FIELDS, ProviderError, type EnrichableField, type EnrichmentProvider, type LeadFields, type LeadRecord, type ProviderName } from "./providers/types";

export type Strategy = "fallback" | "merge";

export interface Contribution {
  provider: ProviderName;
  fields: LeadFields;
  extras: Record<string, unknown>;
}

export interface ProviderAttempt {
  provider: ProviderName;
  outcome: "found" | "not_found" | "error";
  code?: string;
  message?: string;
  retryable?: boolean;
}

export interface LeadEnrichment {
  leadId: string;
  /** enriched: some provider matched; not_found: none did; failed: none matched and at least one failed. */
  status: "enriched" | "not_found" | "failed";
  contributions: Contribution[];
  attempts: ProviderAttempt[];
}

export interface FieldChange {
  from: unknown;
  to: unknown;
}

export interface LeadChange {
  leadId: string;
  provider: ProviderName;
  fields: Record<string, FieldChange>;
}

export interface LeadUpdate {
  /** Column -> new value; `attributes` holds the whole new attributes object. Empty: nothing to write. */
  set: Partial<Record<EnrichableField | "attributes", unknown>>;
  changes: LeadChange[];
}

/**
 * The provider chain from the task inputs: `providers` when given (with `provider`, the primary,
 * first when it is not listed), else just `provider`.
 */
export function providerChain(provider: ProviderName, providers?: ProviderName[]): ProviderName[] {
  if (!providers?.length) return [provider];
  return providers.includes(provider) ? [provider, ...providers.filter((p) => p !== provider)] : [provider, ...providers];
}

/** Asks the providers about one lead. Fatal provider errors (credentials) are thrown; the rest are recorded. */
export async function enrichLead(lead: LeadRecord, providers: EnrichmentProvider[], strategy: Strategy, signal: AbortSignal): Promise<LeadEnrichment> {
  const attempts: ProviderAttempt[] = [];
  const contributions: Contribution[] = [];
  const ask = async (p: EnrichmentProvider): Promise<Contribution | undefined> => {
    try {
      const outcome = await p.enrich(lead, signal);
      if (outcome.found) {
        attempts.push({ provider: p.name, outcome: "found" });
        return { provider: p.name, fields: outcome.fields, extras: outcome.extras };
      }
      attempts.push({ provider: p.name, outcome: "not_found", message: outcome.reason });
      return undefined;
    } catch (e) {
      if (signal.aborted) throw signal.reason ?? e;
      if (e instanceof ProviderError) {
        if (e.fatal) throw e;
        attempts.push({ provider: p.name, outcome: "error", code: e.code, message: e.message, retryable: e.retryable });
        return undefined;
      }
      throw e;
    }
  };

  if (strategy === "fallback") {
    for (const p of providers) {
      const c = await ask(p);
      if (c) {
        contributions.push(c);
        break;
      }
    }
  } else {
    const settled = await Promise.allSettled(providers.map(ask));
    const rejected = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (rejected) throw rejected.reason;
    for (const s of settled) if (s.status === "fulfilled" && s.value) contributions.push(s.value);
    // Attempts were recorded in completion order; report them in chain order.
    attempts.sort((a, b) => providers.findIndex((p) => p.name === a.provider) - providers.findIndex((p) => p.name === b.provider));
  }
  const status = contributions.length ? "enriched" : attempts.some((a) => a.outcome === "error") ? "failed" : "not_found";
  return { leadId: lead.id, status, contributions, attempts };
}

const REWRITES_WHEN_INTERNAL: ReadonlySet<EnrichableField> = new Set(["title", "seniority"]);

function isEmpty(v: unknown): boolean {
  return v === null || v === undefined || (typeof v === "string" && v.trim() === "");
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** Which columns the contributions change on this lead, and the per-provider change report. */
export function planUpdate(lead: LeadRecord, contributions: Contribution[]): LeadUpdate {
  const ordered = [...contributions.filter((c) => c.provider !== "internal"), ...contributions.filter((c) => c.provider === "internal")];
  const set: LeadUpdate["set"] = {};
  const byProvider = new Map<ProviderName, Record<string, FieldChange>>();
  const record = (provider: ProviderName, field: string, change: FieldChange) => {
    if (!byProvider.has(provider)) byProvider.set(provider, {});
    byProvider.get(provider)![field] = change;
  };

  for (const field of ENRICHABLE_FIELDS) {
    const winner = ordered.find((c) => !isEmpty(c.fields[field]));
    if (!winner) continue;
    const current = lead[field];
    if (winner.provider === "internal" && !isEmpty(current) && !REWRITES_WHEN_INTERNAL.has(field)) continue;
    const value = winner.fields[field];
    if (current === value) continue;
    set[field] = value;
    record(winner.provider, field, { from: current ?? null, to: value });
  }

  const attributes = lead.attributes ?? {};
  const previous = (attributes.enrichment && typeof attributes.enrichment === "object" ? attributes.enrichment : {}) as Record<string, unknown>;
  const enrichment: Record<string, unknown> = { ...previous };
  let attributesChanged = false;
  for (const c of ordered) {
    if (!Object.keys(c.extras).length || sameJson(previous[c.provider], c.extras)) continue;
    enrichment[c.provider] = c.extras;
    attributesChanged = true;
    record(c.provider, `attributes.enrichment.${c.provider}`, { from: previous[c.provider] ?? null, to: c.extras });
  }
  if (attributesChanged) set.attributes = { ...attributes, enrichment };

  const changes: LeadChange[] = [];
  for (const c of ordered) {
    const fields = byProvider.get(c.provider);
    if (fields) changes.push({ leadId: lead.id, provider: c.provider, fields });
  }
  return { set, changes };
}

/**
 * The lead as the enrichment left it, the design document's EnrichedLead: leadId, its fields after
 * the update under the API's names (firstName, employeeCount), and the providers that matched it.
 */
export function enrichedLead(lead: LeadRecord, set: LeadUpdate["set"], contributions: Contribution[]): Record<string, unknown> {
  const after = { ...lead, ...set } as Record<string, unknown>;
  const out: Record<string, unknown> = { leadId: lead.id };
  for (const f of LEAD_FIELDS) if (f.column in after && after[f.column] !== null) out[f.field] = after[f.column];
  out.attributes = after.attributes;
  out.enrichedBy = contributions.map((c) => c.provider);
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight, keeping the order of results. */
export async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i]);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== undefined) throw failed;
  return results;
}
