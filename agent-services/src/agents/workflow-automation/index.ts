/** WorkflowAutomation: its handlers are made with the engines' defaults and the URL policy. */
import type { AgentCardSource } from "../../protocol/agent-card";
import type { Agent, AgentDeps } from "../agent";
import cardJson from "./card.json";
import { createWorkflowHandlers } from "./handlers";

export const card = cardJson as AgentCardSource;

export function createAgent(deps: AgentDeps): Agent {
  const { workflows } = deps.config;
  return {
    card,
    handlers: createWorkflowHandlers({
      urlPolicy: deps.urlPolicy,
      defaults: { n8n: workflows.n8n, kestra: workflows.kestra },
      httpTimeoutMs: workflows.httpTimeoutMs,
      pollMaxIntervalMs: workflows.pollMaxIntervalMs,
    }),
  };
}
