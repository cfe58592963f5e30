/**
 * What the design document's patterns take for granted, so they run as written: `a2aClient` (the
 * @dealscale/a2a-client package, for the gateway at A2A_GATEWAY_URL with the token in A2A_TOKEN),
 * and the helpers and types the document names but does not define.
 */
import { A2AClient, type A2ATask } from "@dealscale/a2a-client";

let client: A2AClient | undefined;

function current(): A2AClient {
  const baseUrl = process.env.A2A_GATEWAY_URL;
  const token = process.env.A2A_TOKEN;
  if (!baseUrl || !token) throw new Error("set A2A_GATEWAY_URL and A2A_TOKEN (a token with scope a2a:call) to run the examples");
  client ??= new A2AClient({ baseUrl, token });
  return client;
}

/** The document's a2aClient, made when first used (so A2A_GATEWAY_URL can be set before). */
export const a2aClient = {
  createTask: (...args: Parameters<A2AClient["createTask"]>) => current().createTask(...args),
  waitForTask: (...args: Parameters<A2AClient["waitForTask"]>) => current().waitForTask(...args),
  getTask: (...args: Parameters<A2AClient["getTask"]>) => current().getTask(...args),
  cancelTask: (...args: Parameters<A2AClient["cancelTask"]>) => current().cancelTask(...args),
};

/** A lead as enrichLeads' outputs.enrichedLeads carries it. */
export interface EnrichedLead {
  leadId: string;
  enrichedBy: string[];
  [field: string]: unknown;
}

/** What the sequential chain resolves to: the launchCampaign task. */
export type CampaignResult = A2ATask;

export class AllProvidersFailedError extends Error {}

export function chunkArray<T>(items: T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  return chunks;
}

/**
 * The candidates the chain scores: the leads the examples' tenant was given (see setCandidateLeads;
 * the task API has no route that lists a tenant's leads).
 */
let candidates: string[] = [];
export function setCandidateLeads(leadIds: string[]): void {
  candidates = leadIds;
}
export async function getAllCandidateLeads(_tenantId: string): Promise<string[]> {
  return candidates;
}

/**
 * One record per lead from several providers' outputs: later providers fill what earlier ones left
 * empty. A provider whose task failed has no outputs (the pattern keeps every task that answered).
 */
export function mergeEnrichedData(outputs: Array<{ enrichedLeads?: EnrichedLead[] } | null>): EnrichedLead[] {
  const byLead = new Map<string, EnrichedLead>();
  for (const output of outputs) {
    for (const lead of output?.enrichedLeads ?? []) {
      const merged = byLead.get(lead.leadId);
      if (!merged) {
        byLead.set(lead.leadId, { ...lead });
        continue;
      }
      for (const [field, value] of Object.entries(lead)) {
        if (field === "enrichedBy") merged.enrichedBy = [...new Set([...merged.enrichedBy, ...lead.enrichedBy])];
        else if (merged[field] === undefined || merged[field] === null || merged[field] === "") merged[field] = value;
      }
    }
  }
  return [...byLead.values()];
}
