/** AudienceArchitect: its card and handlers, which need nothing but the task's database. */
import type { AgentCardSource } from "../../protocol/agent-card";
import type { Agent } from "../agent";
import card from "./card.json";
import { handlers } from "./handlers";

export function createAgent(): Agent {
  return { card: card as AgentCardSource, handlers };
}
