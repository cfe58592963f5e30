/** WorkflowAutomation: its handlers are made with the engines' defaults and the URL policy. */
import type { AgentCardSource } from "../../protocol/agent-card";
import type { Agent, AgentDeps } from "../agent";
import card from "./card.json";
import { createWorkflowHandlers } from "./handlers";

export function createAgent(deps: AgentDeps): Agent {
  const { workflows } = deps.config;
  return {
    card: card as AgentCardSource,
    handlers: createWorkflowHandlers({
      urlPolicy: deps.urlPolicy,
      defaults: { n8n: workflows.n8n, kestra: workflows.kestra },
      httpTimeoutMs: workflows.httpTimeoutMs,
      pollMaxIntervalMs: workflows.pollMaxIntervalMs,
    }),
  };
}
