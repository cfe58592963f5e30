/**
 * The four DealScale agents: their cards and whatever capability handlers exist so far. A
 * capability without a handler still accepts tasks; the runtime fails them as "not implemented yet"
 * and releases their credits.
 */
import type { AgentCardSource } from "../protocol/agent-card";
import type { CapabilityHandler } from "../protocol/agent-contract";
import dataEngineer from "./data-engineer/card.json";
import audienceArchitect from "./audience-architect/card.json";
import campaignOrchestrator from "./campaign-orchestrator/card.json";
import workflowAutomation from "./workflow-automation/card.json";
import { handlers as dataEngineerHandlers } from "./data-engineer/handlers";
import { handlers as audienceArchitectHandlers } from "./audience-architect/handlers";
import { handlers as campaignOrchestratorHandlers } from "./campaign-orchestrator/handlers";
import { handlers as workflowAutomationHandlers } from "./workflow-automation/handlers";

export interface AgentModule {
  card: AgentCardSource;
  handlers: Record<string, CapabilityHandler>;
}

export const BUILTIN_AGENTS: AgentModule[] = [
  { card: dataEngineer as AgentCardSource, handlers: dataEngineerHandlers },
  { card: audienceArchitect as AgentCardSource, handlers: audienceArchitectHandlers },
  { card: campaignOrchestrator as AgentCardSource, handlers: campaignOrchestratorHandlers },
  { card: workflowAutomation as AgentCardSource, handlers: workflowAutomationHandlers },
];

/**
 * Extra agents from AGENT_PLUGINS (comma-separated module paths, each exporting {card, handlers}):
 * how a deployment adds its own agents, and how tests and benchmarks register theirs.
 */
export function loadAgentPlugins(paths: string[]): AgentModule[] {
  return paths.map((p) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(p) as Partial<AgentModule> & { default?: AgentModule };
    const m = (mod.default ?? mod) as AgentModule;
    if (!m.card || typeof m.handlers !== "object") throw new Error(`agent plugin ${p} must export {card, handlers}`);
    return m;
  });
}
