/**
 * Wires the services together: pools, registry, queues, events, the task service, the gateway, the
 * workers and the reconciler. Used by `npm start`, the tests and the benchmark alike.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import type { Pool } from "pg";
import type { Config } from "./config/config";
import { AgentRegistry } from "./protocol/registry";
import { BUILTIN_AGENTS, loadAgentPlugins, type AgentModule } from "./agents";
import type { CapabilityHandler } from "./queue/handler";
import { createAppPool } from "./store/database";
import { TaskQueues } from "./queue/queues";
import { RedisEventBus } from "./tasks/event-bus";
import { TaskService } from "./tasks/task-service";
import { WorkerRuntime } from "./queue/worker-runtime";
import { Reconciler } from "./queue/reconciler";
import { createGateway } from "./gateway/app";
import { mountHealth } from "./ops/health";
import express from "express";

export interface Stack {
  config: Config;
  pool: Pool;
  registry: AgentRegistry;
  service: TaskService;
  queues: TaskQueues;
  events: RedisEventBus;
  reconciler: Reconciler;
  workers?: WorkerRuntime;
  server?: http.Server;
  url?: string;
  log: pino.Logger;
  /** Stops everything; running handlers get `graceMs` to finish before they are aborted. */
  stop(graceMs?: number): Promise<void>;
}

export function agentModules(config: Config): AgentModule[] {
  return [...BUILTIN_AGENTS, ...loadAgentPlugins(config.agentPlugins)];
}

/** Makes the agents table match the cards, so tasks can reference them. */
export async function syncRegistry(pool: Pool, modules: AgentModule[]): Promise<void> {
  for (const { card } of modules) {
    await pool.query(
      `INSERT INTO agents (id, name, version, status, card, updated_at) VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, version = EXCLUDED.version, status = EXCLUDED.status,
         card = EXCLUDED.card, updated_at = now()
       WHERE agents.card IS DISTINCT FROM EXCLUDED.card OR agents.status IS DISTINCT FROM EXCLUDED.status`,
      [card.agentId, card.name, card.version, card.status, card],
    );
  }
}

export async function startStack(config: Config, opts: { log?: pino.Logger; listen?: boolean } = {}): Promise<Stack> {
  const log = opts.log ?? pino({ level: config.logLevel, base: { service: "dealscale-a2a" } });
  const modules = agentModules(config);
  const registry = new AgentRegistry(modules.map((m) => m.card));
  const handlers = new Map<string, Record<string, CapabilityHandler>>(modules.map((m) => [m.card.agentId, m.handlers]));
  const pool = createAppPool(config, config.roles.worker ? Math.max(20, Math.min(config.workerConcurrency + 10, 60)) : 20);
  await syncRegistry(pool, modules);

  const queues = new TaskQueues(config.redisUrl, { prefix: config.queuePrefix, attempts: config.jobAttempts, backoffMs: config.jobBackoffMs });
  const events = new RedisEventBus(config.redisUrl);
  const service = new TaskService(pool, registry, queues, events, log);
  const reconciler = new Reconciler(pool, queues, service, events, log, config.reconcileIntervalMs);

  let workers: WorkerRuntime | undefined;
  if (config.roles.worker) {
    workers = new WorkerRuntime(config.redisUrl, pool, registry, handlers, service, events, log, {
      prefix: config.queuePrefix,
      concurrency: config.workerConcurrency,
      lockMs: config.workerLockMs,
    });
    const ids = config.workerAgents ?? registry.list().map((c) => c.agentId);
    const unknown = ids.filter((id) => !registry.card(id));
    if (unknown.length) throw new Error(`WORKER_AGENTS names unknown agents: ${unknown.join(", ")}`);
    await workers.start(ids);
  }
  reconciler.start();

  let server: http.Server | undefined;
  let url: string | undefined;
  if (opts.listen !== false) {
    // A worker-only process still answers /health and /ready for its orchestrator.
    const app = config.roles.gateway ? createGateway({
      pool,
      registry,
      service,
      events,
      log,
      jwtSecret: config.jwtSecret,
      jwtIssuer: config.jwtIssuer,
      maxBodyBytes: config.maxBodyBytes,
      sseHeartbeatMs: config.sseHeartbeatMs,
    }) : healthOnlyApp(pool, events);
    server = http.createServer(app);
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(config.port, config.host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    url = `http://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${port}`;
  }

  const stop = async (graceMs = 10_000) => {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
    await reconciler.stop();
    await workers?.close(graceMs);
    await queues.close();
    await events.close();
    await pool.end();
  };
  return { config, pool, registry, service, queues, events, reconciler, workers, server, url, log, stop };
}

function healthOnlyApp(pool: Pool, events: RedisEventBus): express.Express {
  const app = express();
  app.disable("x-powered-by");
  mountHealth(app, pool, () => events.ping());
  return app;
}
