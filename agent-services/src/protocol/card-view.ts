/**
 * The DealScale card as GET /agents/:agentId serves it: ours, with the design document's fields
 * beside it ("A2A Protocol Best Practices for DealScale", section 1). A capability's `id` is the
 * task type and its `name` the human name; `inputs` / `outputs` are the same JSON Schemas as
 * `inputSchema` / `outputSchema`; `creditsPerLead` is there when the price is per lead. Pure code.
 */
import { durationToMs, type AgentCard } from "./agent-card";

export const AUTHENTICATION = {
  type: "bearer",
  headerName: "Authorization",
  required: true,
  format: "JWT (HS256) with claims {agentId, tenantId, scopes, iat, exp}",
  scopes: { "a2a:call": "create and cancel tasks", "a2a:read": "read tasks, results and streams" },
} as const;

/** `requestedId` is the id the client used (an alias answers as the alias); the list uses agentId. */
export function cardView(card: AgentCard, baseUrl: string, requestedId?: string) {
  const slowest = Math.max(...card.capabilities.map((c) => durationToMs(c.sla.maxLatency)));
  const availability = Math.min(...card.capabilities.map((c) => c.sla.availability ?? 1));
  return {
    ...card,
    agentId: requestedId ?? card.agentId,
    canonicalAgentId: card.agentId,
    endpoint: `${baseUrl.replace(/\/+$/, "")}/agents/${card.agentId}`,
    authentication: AUTHENTICATION,
    sla: { availability: `${+(availability * 100).toFixed(3)}%`, maxLatency: `PT${slowest / 1000}S` },
    capabilities: card.capabilities.map(({ name, title, ...rest }) => ({
      id: name,
      name: title,
      ...rest,
      inputs: rest.inputSchema,
      outputs: rest.outputSchema,
      ...(rest.pricing.creditsPerLead !== undefined ? { creditsPerLead: rest.pricing.creditsPerLead } : {}),
    })),
  };
}
