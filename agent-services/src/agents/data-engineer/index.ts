/** DataEngineer: its card and handlers; enrichLeads is made with the providers' settings. */
import type { AgentCardSource } from "../../protocol/agent-card";
import type { Agent, AgentDeps } from "../agent";
import cardJson from "./card.json";
import { handlers } from "./handlers";
import { createEnrichLeadsHandler } from "./enrich-leads";

export const card = cardJson as AgentCardSource;

export function createAgent(deps: AgentDeps): Agent {
  return {
    card,
    handlers: { ...handlers, enrichLeads: createEnrichLeadsHandler({ config: () => deps.config.enrichment }) },
  };
}
