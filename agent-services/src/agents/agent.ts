/**
 * What an agent is to the stack: made by its createAgent(deps) (agents/<id>/index.ts, or an
 * AGENT_PLUGINS module), it brings its card and capability handlers, and may bring HTTP routes of
 * its own and background work. stack.ts makes every agent the same way and wires what they bring.
 */
import type { Request, RequestHandler, Response, Router } from "express";
import type { Pool } from "pg";
import type { Logger as Pino } from "pino";
import type { Config } from "../config/config";
import type { UrlPolicy } from "../lib/url-policy";
import type { AgentCardSource } from "../protocol/agent-card";
import type { CapabilityHandler } from "../protocol/agent-contract";
import type { Caller, TaskService } from "../tasks/task-service";

/** What an agent is given when it is made: configuration, the database, a log, the URL rules. */
export interface AgentDeps {
  config: Config;
  pool: Pool;
  log: Pino;
  /** The gateway's public URL (PUBLIC_URL, else the listening gateway's), for links in what agents send. */
  publicUrl: () => string | undefined;
  /** For URLs tenants give (webhooks, SMTP hosts, engine URLs). */
  urlPolicy: UrlPolicy;
}

/** An authenticated route handler: the gateway checked the token and its scopes before. */
export type AgentRouteHandler = (req: Request, res: Response, caller: Caller) => Promise<void>;

/** What the gateway lends an agent's routes: its auth wrapper, the scope sets, the task service. */
export interface AgentRouteKit {
  route: (scopes: string[], fn: AgentRouteHandler) => RequestHandler;
  scopes: { read: string[]; call: string[] };
  service: TaskService;
}

/** An agent: its card and handlers, and optionally HTTP routes of its own and background work. */
export interface Agent {
  card: AgentCardSource;
  handlers: Record<string, CapabilityHandler>;
  /** Mounted on the gateway (routes outside /agents, public or through kit.route). */
  mountRoutes?(router: Router, kit: AgentRouteKit): void;
  /** Runs in worker processes: started with them, stopped before the database closes. */
  background?: { start(): void; stop(): Promise<void> };
}

/** How every agent is made, built in or from AGENT_PLUGINS. */
export type CreateAgent = (deps: AgentDeps) => Agent;
