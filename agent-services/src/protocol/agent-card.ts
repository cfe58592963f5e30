/**
 * The DealScale agent card: the one source of truth for an agent's capabilities, prices, limits and
 * schemas. The A2A card is derived from it at the edge. Pure types and checks, no I/O.
 */
import { creditsToMilli } from "./credits";

export type JsonSchema = Record<string, unknown>;

export interface CapabilityPricing {
  /** Price per item; the item count is the length of the input array named by `itemsFrom`. */
  creditsPerLead?: number;
  itemsFrom?: string;
  /**
   * When the `itemsFrom` array is omitted the capability works on all of the tenant's leads, so the
   * item count is the tenant's lead count ("tenantLeads"); without it an omitted array counts 1.
   */
  itemsWhenOmitted?: "tenantLeads";
  /** Fixed price per task, used when there is no per-lead price. */
  fixedCredits?: number;
  /** On failure or timeout: release everything, or charge what the handler reports as used. */
  onFailure?: "release" | "chargePartial";
}

export interface Capability {
  /** The capability's id: a task's `type` (the design document's capability `id`). */
  name: string;
  /** Its human name (the document's capability `name`, e.g. "Score Lookalike Audience"). */
  title: string;
  description: string;
  tags: string[];
  inputSchema: JsonSchema;
  outputSchema: JsonSchema;
  pricing: CapabilityPricing;
  /**
   * Inputs that, when omitted, are taken from a tenant setting (input name -> setting name), else
   * from the input schema's `default`; a setting of false means the tenant requires the input.
   */
  tenantDefaults?: Record<string, string>;
  /** ISO 8601 duration, e.g. PT30S. */
  estimatedDuration: string;
  sla: { maxLatency: string; availability?: number };
  retryable?: boolean;
}

export interface AgentCard {
  /** The canonical id: kebab-case, in URLs, stored tasks, queue names and metrics labels. */
  agentId: string;
  /** The design document's id for the agent (DataEngineer); routes everywhere like agentId. */
  alias: string;
  /** Human name, e.g. "DealScale Data Engineer". */
  name: string;
  maintainer: string;
  documentation: string;
  description: string;
  version: string;
  status: "active" | "degraded" | "maintenance" | "retired";
  tenantAware: boolean;
  regions: string[];
  rateLimit: { requestsPerMinute: number; burstSize: number };
  capabilities: Capability[];
}

/**
 * A card as an agent (or an AGENT_PLUGINS module) declares it: the design document's extra fields
 * may be left out, and completeCard fills them in.
 */
export type AgentCardSource = Omit<AgentCard, "alias" | "maintainer" | "documentation" | "capabilities"> &
  Partial<Pick<AgentCard, "alias" | "maintainer" | "documentation">> & {
    capabilities: Array<Omit<Capability, "title" | "tags"> & Partial<Pick<Capability, "title" | "tags">>>;
  };

/** The alias from the agentId, a capability's title from its id, no tags; maintainer and documentation stay as given. */
export function completeCard(card: AgentCardSource): AgentCard {
  return {
    ...card,
    alias: card.alias ?? agentAlias(card.agentId ?? ""),
    maintainer: card.maintainer ?? "",
    documentation: card.documentation ?? "",
    capabilities: (card.capabilities ?? []).map((c) => ({ ...c, title: c.title ?? c.name, tags: c.tags ?? [] })),
  };
}

/**
 * The form in which an agent id and its alias are one: case, hyphens and underscores ignored, so
 * data-engineer, DataEngineer and dataEngineer name the same agent.
 */
export function agentKey(id: string): string {
  return id.toLowerCase().replace(/[-_]/g, "");
}

/** The design document's id of an agent: its agentId in PascalCase (data-engineer -> DataEngineer). */
export function agentAlias(agentId: string): string {
  return agentId.replace(/(^|-)([a-z0-9])/g, (_, _dash, c: string) => c.toUpperCase());
}

/** ISO 8601 duration (days, hours, minutes, seconds) to milliseconds. */
export function durationToMs(iso: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(iso);
  if (!m || iso === "P" || iso.endsWith("T")) throw new RangeError(`not an ISO 8601 duration: "${iso}"`);
  const [, d, h, min, s] = m;
  return Math.round(((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(min ?? 0)) * 60_000 + Number(s ?? 0) * 1000);
}

/** Whether pricing this task needs the tenant's lead count (the per-lead list was omitted). */
export function needsTenantLeadCount(capability: Capability, inputs: Record<string, unknown>): boolean {
  const p = capability.pricing;
  return p.creditsPerLead !== undefined && p.itemsWhenOmitted === "tenantLeads" && !!p.itemsFrom && !Array.isArray(inputs[p.itemsFrom]);
}

/** Estimated cost of a task in milli-credits, from its card pricing and its inputs. */
export function estimateCostMilli(capability: Capability, inputs: Record<string, unknown>, tenantLeads?: number): bigint {
  const p = capability.pricing;
  if (p.creditsPerLead !== undefined) {
    const items = p.itemsFrom ? inputs[p.itemsFrom] : undefined;
    const count = Array.isArray(items) ? items.length : needsTenantLeadCount(capability, inputs) ? Math.max(1, tenantLeads ?? 1) : 1;
    return creditsToMilli(p.creditsPerLead) * BigInt(count);
  }
  return creditsToMilli(p.fixedCredits ?? 0);
}

/** Structural checks a card must pass before the registry accepts it. Returns the problems found. */
export function checkCard(card: AgentCard): string[] {
  const problems: string[] = [];
  if (!/^[a-z][a-z0-9-]{1,62}$/.test(card.agentId ?? "")) problems.push(`agentId "${card.agentId}" must be kebab-case`);
  if (card.alias !== agentAlias(card.agentId ?? "")) {
    problems.push(`${card.agentId}: alias "${card.alias}" must be the agentId in PascalCase`);
  }
  if (!card.rateLimit || card.rateLimit.requestsPerMinute <= 0 || card.rateLimit.burstSize <= 0) {
    problems.push(`${card.agentId}: rateLimit needs positive requestsPerMinute and burstSize`);
  }
  const names = new Set<string>();
  for (const cap of card.capabilities ?? []) {
    const where = `${card.agentId}.${cap.name}`;
    if (names.has(cap.name)) problems.push(`${where}: duplicate capability`);
    names.add(cap.name);
    if (!cap.title) problems.push(`${where}: needs a title (its human name)`);
    if (!Array.isArray(cap.tags) || cap.tags.some((t) => typeof t !== "string")) problems.push(`${where}: tags must be an array of strings`);
    for (const input of Object.keys(cap.tenantDefaults ?? {})) {
      const props = (cap.inputSchema?.properties ?? {}) as Record<string, unknown>;
      const required = (cap.inputSchema?.required ?? []) as string[];
      if (!(input in props) || required.includes(input)) problems.push(`${where}: tenantDefaults.${input} must be an optional input`);
    }
    if (cap.inputSchema?.type !== "object") problems.push(`${where}: inputSchema must be an object schema`);
    if (cap.outputSchema?.type !== "object") problems.push(`${where}: outputSchema must be an object schema`);
    const p = cap.pricing ?? {};
    if (p.itemsWhenOmitted !== undefined && (p.itemsWhenOmitted !== "tenantLeads" || !p.itemsFrom)) {
      problems.push(`${where}: itemsWhenOmitted must be "tenantLeads" and needs itemsFrom`);
    }
    if ((p.creditsPerLead === undefined) === (p.fixedCredits === undefined)) {
      problems.push(`${where}: pricing needs exactly one of creditsPerLead or fixedCredits`);
    }
    for (const [k, v] of [["creditsPerLead", p.creditsPerLead], ["fixedCredits", p.fixedCredits]] as const) {
      if (v !== undefined) {
        try {
          if (creditsToMilli(v) < 0n) problems.push(`${where}: ${k} must not be negative`);
        } catch (e) {
          problems.push(`${where}: ${(e as Error).message}`);
        }
      }
    }
    for (const [k, v] of [["estimatedDuration", cap.estimatedDuration], ["sla.maxLatency", cap.sla?.maxLatency]] as const) {
      try {
        durationToMs(v);
      } catch {
        problems.push(`${where}: ${k} must be an ISO 8601 duration`);
      }
    }
  }
  if (!names.size) problems.push(`${card.agentId}: no capabilities`);
  return problems;
}
