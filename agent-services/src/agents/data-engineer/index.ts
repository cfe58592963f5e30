/** DataEngineer: its card and handlers; enrichLeads is made with the providers' settings. */
import type { AgentCardSource } from "../../protocol/agent-card";
import type { Agent, AgentDeps } from "../agent";
import card from "./card.json";
import { handlers } from "./handlers";
import { createEnrichLeadsHandler } from "./enrich-leads";

export function createAgent(deps: AgentDeps): Agent {
  return {
    card: card as AgentCardSource,
    handlers: { ...handlers, enrichLeads: createEnrichLeadsHandler({ config: () => deps.config.enrichment }) },
  };
}
