/**
 * Duplicate clusters over a task's leads: the leads it names (held in memory), or the tenant's
 * whole live population streamed from Postgres a page at a time into the matcher, which keeps only
 * normalised values. Members of the clusters are then loaded by id to pick survivors and merges.
 * Shared by dedupeLeads and validateLeads.
 */
import { yieldToEventLoop } from "../../lib/event-loop";
import { TaskError, type HandlerContext } from "../../protocol/agent-contract";
import { readTenantSettings } from "../../tasks/tenants";
import type { LeadRecord } from "./domain/lead";
import { countryCode } from "./domain/normalize";
import { clusterMatchesPausing, LeadMatcher, toCluster, type DuplicateCluster, type FieldNote, type MatchOptions } from "./domain/matcher";
import { forEachLivePage } from "../../store/lead-pages";
import { loadLeadsByIds, SELECT_LEAD } from "./lead-store";

const LOAD_CHUNK = 5000;

export interface TenantMatch {
  clusters: DuplicateCluster[];
  leadsConsidered: number;
  candidatePairs: number;
  skippedBlocks: number;
  /** Blocks larger than this were not compared (maxBlockSize, or less to stay within the pair budget). */
  blockSizeLimit: number | null;
  fieldNotes: FieldNote[];
  defaultCountry: string | null;
}

/**
 * The country to read phones without one with: the task's defaultCountry input, else the tenant's
 * setting, else none. An unknown country is the caller's mistake (a non-retryable task error).
 */
export async function checkedDefaultCountry(ctx: HandlerContext, input: unknown): Promise<string | undefined> {
  const country = typeof input === "string" && input ? input : (await ctx.db(readTenantSettings)).defaultCountry;
  if (country === undefined) return undefined;
  const code = countryCode(country);
  if (!code) throw new TaskError("invalid_country", `defaultCountry "${country}" is not a country (an ISO 3166-1 code such as US, or a name)`, { retryable: false });
  return code;
}

/**
 * Matches `leads` when given, else every live lead of the tenant; progress runs from `from` to `to`
 * percent. Clusters carry survivor, merged fields and per-link evidence. `onLeads` sees each page
 * as it is read, so a caller that needs the leads too reads the tenant once.
 */
export async function matchLeads(
  ctx: HandlerContext,
  leads: LeadRecord[] | undefined,
  options: MatchOptions,
  progress: { from: number; to: number },
  onLeads?: (leads: LeadRecord[]) => void | Promise<void>,
): Promise<TenantMatch> {
  const matcher = new LeadMatcher([], options);
  const span = progress.to - progress.from;
  let considered: number;
  if (leads) {
    for (const lead of leads) matcher.add(lead);
    await onLeads?.(leads);
    considered = leads.length;
  } else {
    considered = await forEachLivePage<LeadRecord & { id: string }>(ctx.db, ctx.signal, SELECT_LEAD, async (page) => {
      for (const lead of page) matcher.add(lead);
      await onLeads?.(page);
      await yieldToEventLoop();
      if (matcher.n % 50_000 < page.length) await ctx.progress(progress.from + span * 0.1, `read ${matcher.n} leads`);
    });
  }
  await ctx.progress(progress.from + span * 0.4, `comparing ${considered} leads`);
  matcher.finish();
  await yieldToEventLoop();
  const { groups, candidatePairs, skippedBlocks, blockSizeLimit } = await clusterMatchesPausing(matcher, { ...options, signal: ctx.signal }, yieldToEventLoop);
  await ctx.progress(progress.from + span * 0.8, `${groups.length} clusters found; reading their leads`);

  const byId = new Map<string, LeadRecord>();
  if (leads) for (const l of leads) byId.set(l.id, l);
  else {
    const ids = groups.flatMap((g) => g.members.map((i) => matcher.ids[i]));
    for (let k = 0; k < ids.length; k += LOAD_CHUNK) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      for (const l of await ctx.db((tx) => loadLeadsByIds(tx, ids.slice(k, k + LOAD_CHUNK)))) byId.set(l.id, l);
    }
  }
  // A lead merged away while the run read the others is no longer live: its group waits for the next run.
  const clusters = [];
  for (const g of groups) {
    if (!g.members.every((i) => byId.has(matcher.ids[i]))) continue;
    clusters.push(toCluster(matcher, g, byId));
    if (clusters.length % 1000 === 0) await yieldToEventLoop();
  }
  return { clusters, leadsConsidered: considered, candidatePairs, skippedBlocks, blockSizeLimit: Number.isFinite(blockSizeLimit) ? blockSizeLimit : null, fieldNotes: matcher.fieldNotes(), defaultCountry: options.defaultCountry ?? null };
}
