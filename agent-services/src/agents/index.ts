/**
 * The agents: the four DealScale agents and those of AGENT_PLUGINS, each made the same way, by
 * createAgent(deps) (agent.ts). A capability without a handler still accepts tasks; the runtime
 * fails them as "not implemented yet" and releases their credits.
 */
import type { AgentCardSource } from "../protocol/agent-card";
import type { Agent, AgentDeps, CreateAgent } from "./agent";
import * as dataEngineer from "./data-engineer";
import * as audienceArchitect from "./audience-architect";
import * as campaignOrchestrator from "./campaign-orchestrator";
import * as workflowAutomation from "./workflow-automation";

const BUILTIN_AGENTS: CreateAgent[] = [dataEngineer.createAgent, audienceArchitect.createAgent, campaignOrchestrator.createAgent, workflowAutomation.createAgent];

/** The built-in cards, for what needs the cards without making the agents (checks, the registry table). */
export const BUILTIN_CARDS: AgentCardSource[] = [dataEngineer.card, audienceArchitect.card, campaignOrchestrator.card, workflowAutomation.card];

/**
 * AGENT_PLUGINS (comma-separated module paths): how a deployment adds its own agents, and how tests
 * and benchmarks register theirs. A module exports createAgent(deps), as the built-in agents do,
 * or (the earlier shape, still read) a ready {card, handlers}.
 */
export function loadAgentPlugins(paths: string[]): CreateAgent[] {
  return paths.map((p) => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(p) as { createAgent?: CreateAgent; default?: Partial<Agent> & { createAgent?: CreateAgent } } & Partial<Agent>;
    const m = mod.default ?? mod;
    if (typeof m.createAgent === "function") return m.createAgent;
    if (!m.card || typeof m.handlers !== "object") throw new Error(`agent plugin ${p} must export createAgent(deps), or {card, handlers}`);
    const agent = { card: m.card, handlers: m.handlers } as Agent;
    return () => agent;
  });
}

/** Every agent of this configuration, made. */
export function createAgents(pluginPaths: string[], deps: AgentDeps): Agent[] {
  return [...BUILTIN_AGENTS, ...loadAgentPlugins(pluginPaths)].map((create) => create(deps));
}
