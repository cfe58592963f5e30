/** Who asks (the token's tenant and agent) and the checks every task request starts with. */
import type { AgentCard } from "../protocol/agent-card";
import type { AgentRegistry } from "../protocol/registry";
import { isUuid } from "../lib/uuid";
import { notFound } from "./errors";

export interface Caller {
  tenantId: string;
  agentId: string;
  scopes: string[];
  ip?: string | null;
  userAgent?: string | null;
}

/** The agent's card; 404 for an agent this deployment does not run. */
export function requireAgent(registry: AgentRegistry, agentId: string): AgentCard {
  const card = registry.card(agentId);
  if (!card) throw notFound(`agent "${agentId}"`);
  return card;
}

/** 404 for a task id that cannot exist (not a UUID), before any query. */
export function requireTaskId(taskId: string): void {
  if (!isUuid(taskId)) throw notFound(`task "${taskId}"`);
}
