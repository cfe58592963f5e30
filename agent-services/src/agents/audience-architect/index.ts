/** AudienceArchitect: its card and handlers, which need nothing but the task's database. */
import type { AgentCardSource } from "../../protocol/agent-card";
import type { Agent } from "../agent";
import cardJson from "./card.json";
import { handlers } from "./handlers";

export const card = cardJson as AgentCardSource;

export function createAgent(): Agent {
  return { card, handlers };
}
