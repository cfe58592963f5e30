/**
 * DataEngineer.enrichLeads: the handler that adapts the worker runtime to the enrichment domain
 * (enrich.ts, providers/*). It reads the tenant's leads and provider settings in the tenant's
 * transaction, asks the providers (every HTTP call through tracedFetch), writes the changed columns
 * back batch by batch, reports progress, honours the task's AbortSignal and charges
 * creditsPerLead for each lead a provider matched.
 *
 * Provider settings: the config loader's (config.ts, built into the handler by stack.ts) overridden per tenant by
 * tenants.settings.enrichment:
 *   { "apollo":   { "apiKey": "...", "baseUrl": "https://..." },
 *     "clearbit": { "apiKey": "...", "baseUrl": "https://..." },
 *     "zoominfo": { "username": "...", "password": "...", "baseUrl": "https://..." } }
 * A tenant's base URL must pass the webhook URL policy (no internal addresses in production).
 */
import type { EnrichmentConfig } from "../../config/config";
import { TaskError, type CapabilityHandler, type HandlerContext, type HandlerResult } from "../../protocol/agent-contract";
import { tracedFetch } from "../../lib/tracing";
import { checkWebhookUrl, makeUrlPolicy } from "../../lib/url-policy";
import type { TenantTx } from "../../store/tenant-tx";
import card from "./card.json";
import { enrichLead, enrichedLead, mapLimit, planUpdate, providerChain, type LeadChange, type LeadEnrichment, type Strategy } from "./enrich";
import { companyDomain } from "./domain/normalize";
import { ApolloProvider } from "./providers/apollo";
import { ClearbitProvider } from "./providers/clearbit";
import { abortableSleep, RateGate, type Sleep } from "./providers/http";
import { companyKnowledge, InternalProvider, type CompanyKnowledge } from "./providers/internal";
import { ENRICHABLE_FIELDS, PROVIDER_NAMES, ProviderError, type EnrichmentProvider, type FetchFn, type LeadRecord, type ProviderName, type WaitPolicy } from "./providers/types";
import { ZoomInfoProvider } from "./providers/zoominfo";

const capability = card.capabilities.find((c) => c.name === "enrichLeads")!;
const CREDITS_PER_LEAD = (capability.pricing as { creditsPerLead?: number }).creditsPerLead ?? 1;
/** Leads written (and progress reported) per batch. */
export const BATCH_SIZE = 25;

export interface EnrichLeadsDeps {
  /** Enrichment settings from the config loader (stack.ts); tenant settings override them per run. */
  config: () => EnrichmentConfig;
  /** The fetch the provider adapters use; tracedFetch by default. */
  fetch?: (provider: ProviderName) => FetchFn;
  sleep?: Sleep;
}

type TenantProviderSettings = Partial<Record<"apollo" | "clearbit" | "zoominfo", Record<string, unknown>>>;

const LEAD_COLUMNS = ["id", "email", "first_name", "last_name", ...ENRICHABLE_FIELDS, "attributes"].join(", ");

export function createEnrichLeadsHandler(deps: EnrichLeadsDeps): CapabilityHandler {
  return (ctx) => runEnrichLeads(ctx, deps);
}

async function runEnrichLeads(ctx: HandlerContext, deps: EnrichLeadsDeps): Promise<HandlerResult> {
  const inputs = ctx.inputs as { leadIds: string[]; provider: ProviderName; providers?: ProviderName[]; strategy?: Strategy };
  const chain = providerChain(inputs.provider, inputs.providers);
  const strategy: Strategy = inputs.strategy ?? "fallback";
  const config = deps.config();

  const { settings, leads, knowledge } = await ctx.db(async (tx) => {
    const tenant = await tx.one<{ settings: Record<string, unknown> | null }>("SELECT settings FROM tenants WHERE id = $1", [ctx.tenantId]);
    const rows = await tx.query<LeadRecord>(`SELECT ${LEAD_COLUMNS} FROM leads WHERE id = ANY($1::uuid[])`, [inputs.leadIds]);
    const knowledge = chain.includes("internal") ? await loadCompanyKnowledge(tx, rows) : new Map();
    const enrichment = tenant?.settings?.enrichment;
    return { settings: (enrichment && typeof enrichment === "object" ? enrichment : {}) as TenantProviderSettings, leads: rows, knowledge };
  });

  const providers = await buildProviders(chain, config, settings, knowledge, deps);

  const byId = new Map(leads.map((l) => [l.id, l]));
  const unknownLeadIds = inputs.leadIds.filter((id) => !byId.has(id));
  const ordered = inputs.leadIds.map((id) => byId.get(id)).filter((l): l is LeadRecord => !!l);
  if (unknownLeadIds.length) ctx.log.warn("leads not found for this tenant", { count: unknownLeadIds.length });

  const results: LeadEnrichment[] = [];
  const changes: LeadChange[] = [];
  const enrichedLeadIds: string[] = [];
  const enrichedLeads: Record<string, unknown>[] = [];
  const creditsFor = (n: number) => Math.round(n * CREDITS_PER_LEAD * 1000) / 1000;

  try {
    for (let start = 0; start < ordered.length; start += BATCH_SIZE) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const batch = ordered.slice(start, start + BATCH_SIZE);
      const outcomes = await mapLimit(batch, config.concurrency, (lead) => enrichLead(lead, providers, strategy, ctx.signal));
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const writes = outcomes.map((o) => ({ outcome: o, update: planUpdate(byId.get(o.leadId)!, o.contributions) }));
      await ctx.db(async (tx) => {
        const touchedOnly: string[] = [];
        for (const { outcome, update } of writes) {
          if (outcome.status !== "enriched") continue;
          const cols = Object.keys(update.set) as (keyof typeof update.set)[];
          if (!cols.length) {
            touchedOnly.push(outcome.leadId);
            continue;
          }
          const assignments = cols.map((c, i) => (c === "attributes" ? `attributes = $${i + 2}::jsonb` : `${c} = $${i + 2}`));
          const values = cols.map((c) => (c === "attributes" ? JSON.stringify(update.set[c]) : update.set[c]));
          await tx.query(`UPDATE leads SET ${assignments.join(", ")}, enriched_at = now(), updated_at = now() WHERE id = $1`, [outcome.leadId, ...values]);
        }
        if (touchedOnly.length) await tx.query("UPDATE leads SET enriched_at = now() WHERE id = ANY($1::uuid[])", [touchedOnly]);
      });
      for (const { outcome, update } of writes) {
        results.push(outcome);
        if (outcome.status === "enriched") {
          enrichedLeadIds.push(outcome.leadId);
          enrichedLeads.push(enrichedLead(byId.get(outcome.leadId)!, update.set, outcome.contributions));
        }
        changes.push(...update.changes);
      }
      const done = Math.min(start + BATCH_SIZE, ordered.length);
      await ctx.progress((done / ordered.length) * 100, `${done}/${ordered.length} leads looked up, ${enrichedLeadIds.length} enriched`);
    }
  } catch (e) {
    if (ctx.signal.aborted) throw e;
    const creditsUsed = creditsFor(enrichedLeadIds.length);
    if (e instanceof ProviderError) throw new TaskError(e.code, e.message, { retryable: e.retryable, creditsUsed });
    throw new TaskError("enrichment_failed", `enrichment stopped after ${results.length} of ${ordered.length} leads: ${(e as Error)?.message ?? String(e)}`, { retryable: true, creditsUsed });
  }

  const failed = results.filter((r) => r.status !== "enriched");
  const errors = results.flatMap((r) => r.attempts.filter((a) => a.outcome === "error").map((a) => ({ leadId: r.leadId, provider: a.provider, code: a.code, message: a.message, retryable: a.retryable })));
  // Every lead failed for reasons that may pass (rate limits, provider down): let the runtime try the task again.
  if (ordered.length && !enrichedLeadIds.length && failed.every((r) => r.status === "failed" && r.attempts.some((a) => a.outcome === "error" && a.retryable))) {
    throw new TaskError("provider_unavailable", `no lead could be enriched: ${errors[0]?.message ?? "providers failed"}`, { retryable: true, creditsUsed: 0 });
  }

  const queried = new Set(results.flatMap((r) => r.attempts.map((a) => a.provider)));
  const creditsUsed = creditsFor(enrichedLeadIds.length);
  return {
    outputs: {
      enrichedLeadIds,
      enrichedLeads,
      failedLeadIds: [...failed.map((r) => r.leadId), ...unknownLeadIds],
      changes,
      provider: inputs.provider,
      providersUsed: chain.filter((p) => queried.has(p)),
      strategy,
      notFoundLeadIds: failed.filter((r) => r.status === "not_found").map((r) => r.leadId),
      unknownLeadIds,
      errors,
    },
    creditsUsed,
  };
}

/** Company facts per email domain from the tenant's leads, for the internal provider. */
async function loadCompanyKnowledge(tx: TenantTx, leads: LeadRecord[]): Promise<CompanyKnowledge> {
  const domains = [...new Set(leads.map((l) => companyDomain(null, l.email)).filter((d): d is string => !!d))];
  if (!domains.length) return new Map();
  const rows = await tx.query<{ email_domain: string; company: unknown; domain: unknown; industry: unknown; employee_count: unknown; leads: unknown }>(
    `SELECT lower(split_part(email, '@', 2)) AS email_domain,
            mode() WITHIN GROUP (ORDER BY company) FILTER (WHERE company <> '') AS company,
            mode() WITHIN GROUP (ORDER BY domain) FILTER (WHERE domain <> '') AS domain,
            mode() WITHIN GROUP (ORDER BY industry) FILTER (WHERE industry <> '') AS industry,
            mode() WITHIN GROUP (ORDER BY employee_count) FILTER (WHERE employee_count > 0) AS employee_count,
            count(*)::int AS leads
       FROM leads
      WHERE email LIKE '%@%' AND lower(split_part(email, '@', 2)) = ANY($1::text[]) AND merged_into IS NULL
      GROUP BY 1`,
    [domains],
  );
  return companyKnowledge(rows);
}

/** Provider settings: the tenant's override for each key, else the environment's. */
function pick(tenant: Record<string, unknown> | undefined, key: string, fallback: string | undefined): string | undefined {
  const v = tenant?.[key];
  return typeof v === "string" && v.trim() ? v.trim() : fallback;
}

async function tenantBaseUrl(provider: ProviderName, tenant: Record<string, unknown> | undefined, fallback: string, config: EnrichmentConfig): Promise<string> {
  const raw = tenant?.baseUrl;
  if (raw === undefined || raw === null || raw === "") return fallback;
  try {
    const policy = makeUrlPolicy({ allowPrivate: config.tenantUrlPolicy.allowPrivate, allow: config.tenantUrlPolicy.allowHosts });
    const url = await checkWebhookUrl(raw, policy);
    if (url.username || url.password || url.search || url.hash) throw new Error("must be a plain base URL");
    return url.toString().replace(/\/+$/, "");
  } catch (e) {
    throw new TaskError("provider_settings_invalid", `tenant setting enrichment.${provider}.baseUrl ${(e as Error).message}`, { retryable: false, creditsUsed: 0 });
  }
}

function notConfigured(provider: ProviderName, what: string): TaskError {
  return new TaskError("provider_not_configured", `${provider} is not configured: set ${what}`, { retryable: false, creditsUsed: 0 });
}

async function buildProviders(chain: ProviderName[], config: EnrichmentConfig, settings: TenantProviderSettings, knowledge: CompanyKnowledge, deps: EnrichLeadsDeps): Promise<EnrichmentProvider[]> {
  const policy: WaitPolicy = {
    maxWaitMs: config.maxWaitMs,
    maxRateLimitRetries: config.maxRateLimitRetries,
    queuedRetries: config.queuedRetries,
    queuedDelayMs: config.queuedDelayMs,
    timeoutMs: config.timeoutMs,
  };
  const sleep = deps.sleep ?? abortableSleep;
  const http = (provider: ProviderName) => ({
    fetch: deps.fetch?.(provider) ?? ((url: string, init: RequestInit) => tracedFetch(url, init, { spanName: `enrich ${provider}`, attributes: { "dealscale.enrich.provider": provider } })),
    policy,
    gate: new RateGate(provider, policy, sleep),
    sleep,
  });

  const out: EnrichmentProvider[] = [];
  for (const name of chain) {
    if (!PROVIDER_NAMES.includes(name)) throw new TaskError("invalid_input", `unknown provider ${name}`, { retryable: false, creditsUsed: 0 });
    if (name === "internal") {
      out.push(new InternalProvider(knowledge));
    } else if (name === "apollo") {
      const t = settings.apollo;
      const apiKey = pick(t, "apiKey", config.apollo.apiKey);
      if (!apiKey) throw notConfigured(name, "APOLLO_API_KEY, or the tenant setting enrichment.apollo.apiKey");
      out.push(new ApolloProvider({ apiKey, baseUrl: await tenantBaseUrl(name, t, config.apollo.baseUrl, config) }, http(name)));
    } else if (name === "clearbit") {
      const t = settings.clearbit;
      const apiKey = pick(t, "apiKey", config.clearbit.apiKey);
      if (!apiKey) throw notConfigured(name, "CLEARBIT_API_KEY, or the tenant setting enrichment.clearbit.apiKey");
      const base = t?.baseUrl ? await tenantBaseUrl(name, t, "", config) : undefined;
      out.push(new ClearbitProvider({ apiKey, personBaseUrl: base ?? config.clearbit.personBaseUrl, companyBaseUrl: base ?? config.clearbit.companyBaseUrl }, http(name)));
    } else {
      const t = settings.zoominfo;
      const tenantCreds = pick(t, "username", undefined) && pick(t, "password", undefined);
      const username = tenantCreds ? pick(t, "username", undefined) : config.zoominfo.username;
      const password = tenantCreds ? pick(t, "password", undefined) : config.zoominfo.password;
      if (!username || !password) throw notConfigured(name, "ZOOMINFO_USERNAME and ZOOMINFO_PASSWORD, or the tenant settings enrichment.zoominfo.username and .password");
      out.push(new ZoomInfoProvider({ username, password, baseUrl: await tenantBaseUrl(name, t, config.zoominfo.baseUrl, config) }, http(name)));
    }
  }
  return out;
}
