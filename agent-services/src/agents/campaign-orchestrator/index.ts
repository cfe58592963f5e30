/**
 * CampaignOrchestrator: its handlers, the due-campaign sweep (background work of the workers) and
 * its public routes (unsubscribe links, bounce reports).
 */
import type { AgentCardSource } from "../../protocol/agent-card";
import type { Agent, AgentDeps } from "../agent";
import cardJson from "./card.json";
import { createCampaignOrchestrator } from "./handlers";
import { mountCampaignRoutes } from "./routes";

export const card = cardJson as AgentCardSource;

export function createAgent(deps: AgentDeps): Agent {
  const { campaigns } = deps.config;
  const orchestrator = createCampaignOrchestrator({
    pool: deps.pool,
    secret: deps.config.jwtSecret,
    publicUrl: deps.publicUrl,
    smtpUrl: campaigns.smtpUrl,
    smtpFrom: campaigns.smtpFrom,
    urlPolicy: deps.urlPolicy,
    sweepIntervalMs: campaigns.sweepIntervalMs,
    leaseMs: campaigns.leaseMs,
    batchSize: campaigns.batchSize,
    log: deps.log,
  });
  return {
    card,
    handlers: orchestrator.handlers,
    mountRoutes: (router, kit) => mountCampaignRoutes(router, kit, { pool: deps.pool, unsubscribeKey: orchestrator.unsubscribeKey, service: kit.service }),
    background: orchestrator.scheduler,
  };
}
