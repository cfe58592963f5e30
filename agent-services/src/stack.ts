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
import { createAgents } from "./agents";
import type { Agent } from "./agents/agent";
import type { CapabilityHandler } from "./protocol/agent-contract";
import { createAppPool } from "./store/database";
import { countLiveLeads } from "./store/lead-pages";
import { defaultQueuePrefix, readDeploymentId } from "./store/deployment";
import { TaskQueues } from "./queue/queues";
import { RedisEventBus } from "./tasks/event-bus";
import { TaskService } from "./tasks/task-service";
import { WorkerRuntime } from "./queue/worker-runtime";
import { Reconciler } from "./queue/reconciler";
import { createGateway, refusalAuditWriter } from "./gateway/app";
import { RefusalAuditor } from "./gateway/refusal-audit";
import { mountHealth } from "./ops/health";
import { mountA2A } from "./gateway/a2a/routes";
import { a2aPushBody } from "./protocol/a2a-mapping";
import { createMetrics, mountMetrics, type Metrics } from "./ops/metrics";
import { mountQueueDashboard } from "./ops/queue-dashboard";
import { WebhookService } from "./webhooks/service";
import { makeUrlPolicy } from "./lib/url-policy";
import express from "express";
import { AgentRateLimiter } from "./gateway/rate-limit";
import { createServer } from "./gateway/tls";
import { flushTracing, initTracing, traceMixin } from "./lib/tracing";
import { SiemForwarder, createSink } from "./ops/siem-forwarder";

export interface Stack {
  config: Config;
  /** The deployment's id (one per database) and the BullMQ prefix in use (QUEUE_PREFIX or derived from the id). */
  deploymentId: string;
  queuePrefix: string;
  pool: Pool;
  registry: AgentRegistry;
  service: TaskService;
  queues: TaskQueues;
  events: RedisEventBus;
  reconciler: Reconciler;
  /** Prometheus metrics (served at /metrics); `metrics.recordWebhookDelivery(...)` for webhook senders. */
  metrics: Metrics;
  /** Webhook subscriptions and push-config deliveries (A2A-shaped for A2A push configs). */
  webhooks: WebhookService;
  workers?: WorkerRuntime;
  /** Per tenant+agent rate limits of the cards (gateway role); `rateLimit.consume(tenantId, agentId)`. */
  rateLimit?: AgentRateLimiter;
  /** Audit forwarding to AUDIT_SIEM_URL, when set. */
  siem?: SiemForwarder;
  /** The agents as made for this stack: card, handlers, routes and background work of each. */
  agents: Agent[];
  server?: http.Server;
  url?: string;
  log: pino.Logger;
  /** Stops everything; running handlers get `graceMs` to finish before they are aborted. */
  stop(graceMs?: number): Promise<void>;
}

export const DEV_SECRET_WARNING =
  "A2A_JWT_SECRET is unset: tokens are checked against the public development secret, so anyone can sign them; set A2A_JWT_SECRET for anything but a local try-out";

/**
 * Every agent of the configuration (built in and AGENT_PLUGINS), made with what agents are given.
 * `publicUrl` is where links in what they send point: PUBLIC_URL, else the listening gateway.
 */
export function makeAgents(config: Config, pool: Pool, log: pino.Logger, publicUrl: () => string | undefined = () => config.publicUrl, urlPolicy = tenantUrlPolicy(config)): Agent[] {
  return createAgents(config.agentPlugins, { config, pool, log, publicUrl, urlPolicy });
}

/** The rules for URLs tenants give (webhooks, push configs, SMTP hosts, engine URLs). */
function tenantUrlPolicy(config: Config) {
  return makeUrlPolicy({ allowPrivate: config.webhookAllowPrivate, allow: config.webhookAllowHosts });
}

/** Makes the agents table match the cards, so tasks can reference them. */
export async function syncRegistry(pool: Pool, agents: Pick<Agent, "card">[]): Promise<void> {
  for (const { card } of agents) {
    await pool.query(
      `INSERT INTO agents (id, name, version, status, card, updated_at) VALUES ($1, $2, $3, $4, $5, now())
       ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, version = EXCLUDED.version, status = EXCLUDED.status,
         card = EXCLUDED.card, updated_at = now()
       WHERE agents.card IS DISTINCT FROM EXCLUDED.card OR agents.status IS DISTINCT FROM EXCLUDED.status`,
      [card.agentId, card.name, card.version, card.status, card],
    );
  }
}

/**
 * What follows a committed change, in one place: a created task goes on its queue (the A2A
 * executor enqueues the ones it deferred) and is counted; a finished one is counted and its
 * webhook and push deliveries are enqueued; one waiting for input is pushed to its push configs.
 */
export function subscribeAfterCommit(service: TaskService, to: { metrics?: Metrics; webhooks?: WebhookService }): void {
  const { metrics, webhooks } = to;
  service.afterCommit.on("created", ({ task, deferEnqueue }) => (deferEnqueue ? undefined : service.enqueue(task)));
  if (metrics) {
    service.afterCommit.on("created", ({ task }) => metrics.taskCreated(task));
    service.afterCommit.on("finished", ({ task }) => metrics.taskFinished(task));
  }
  if (webhooks) {
    service.afterCommit.on("finished", ({ task }) => webhooks.onFinished(task));
    service.afterCommit.on("awaitingInput", ({ task }) => webhooks.onAwaitingInput(task));
  }
}

export async function startStack(config: Config, opts: { log?: pino.Logger; listen?: boolean } = {}): Promise<Stack> {
  initTracing(config.tracing);
  // Every log line written inside a span carries its trace_id and span_id.
  const log = opts.log ?? pino({ level: config.logLevel, base: { service: "dealscale-a2a" }, mixin: traceMixin });
  if (config.jwtSecretIsDevDefault) log.warn(DEV_SECRET_WARNING);
  const pool = createAppPool(config, config.databasePoolMax ?? (config.roles.worker ? Math.max(20, Math.min(config.workerConcurrency + 10, 60)) : 20));
  // The listening gateway's URL (known once it listens): the fallback for links without PUBLIC_URL.
  let gatewayUrl: string | undefined;
  const urlPolicy = tenantUrlPolicy(config);
  const agents = makeAgents(config, pool, log, () => config.publicUrl ?? gatewayUrl, urlPolicy);
  const registry = new AgentRegistry(agents.map((a) => a.card));
  const handlers = new Map<string, Record<string, CapabilityHandler>>(agents.map((a) => [a.card.agentId, a.handlers]));
  await syncRegistry(pool, agents);
  const deploymentId = await readDeploymentId(pool);
  const queuePrefix = config.queuePrefix ?? defaultQueuePrefix(deploymentId);

  const queues = new TaskQueues(config.redisUrl, { prefix: queuePrefix, deploymentId, attempts: config.jobAttempts, backoffMs: config.jobBackoffMs, history: config.queueHistory });
  const events = new RedisEventBus(config.redisUrl);
  const service = new TaskService(pool, registry, queues, events, log, { tenantLeads: (tenantId) => countLiveLeads(pool, tenantId) });
  const reconciler = new Reconciler(pool, queues, service, events, log, config.reconcileIntervalMs);

  // Metrics: task hooks in every process; queue depth for the queues this process serves (every
  // queue on a gateway, its agents' and the webhooks queue on a worker); tenant balances only on
  // gateways, so workers do not repeat that query. The queues are read at scrape time.
  const allAgentIds = () => registry.list().map((c) => c.agentId);
  const ownedQueues = (agentIds: string[]) => [...agentIds.map((id) => queues.queue(id)), webhooks.queue.queue];
  const metrics = createMetrics({
    queues: () => ownedQueues(config.roles.gateway ? allAgentIds() : config.workerAgents ?? allAgentIds()),
    pool: config.roles.gateway ? pool : undefined,
  });

  // Webhooks and push notifications: every process enqueues a finished task's deliveries; the
  // delivery worker and the sweep (re-enqueues deliveries lost between commit and enqueue) run
  // with the worker role.
  const webhooks = new WebhookService(pool, registry, log, {
    redisUrl: config.redisUrl,
    prefix: queuePrefix,
    deploymentId,
    history: config.queueHistory,
    policy: urlPolicy,
    attempts: config.webhookAttempts,
    backoffMs: config.webhookBackoffMs,
    timeoutMs: config.webhookTimeoutMs,
    concurrency: config.webhookConcurrency,
    sweepIntervalMs: config.webhookSweepIntervalMs,
    sweepWindowMs: config.webhookSweepWindowMs,
    a2aFormatter: a2aPushBody,
    onDeliveryOutcome: (outcome) => metrics.recordWebhookDelivery(outcome === "delivered" ? "delivered" : outcome === "retry" ? "retrying" : "failed"),
  }, service);

  subscribeAfterCommit(service, { metrics, webhooks });
  if (config.roles.worker) webhooks.startWorker();

  let workers: WorkerRuntime | undefined;
  if (config.roles.worker) {
    workers = new WorkerRuntime(config.redisUrl, pool, registry, handlers, service, events, log, {
      prefix: queuePrefix,
      deploymentId,
      concurrency: config.workerConcurrency,
      lockMs: config.workerLockMs,
    });
    const ids = config.workerAgents ?? registry.list().map((c) => c.agentId);
    const unknown = ids.filter((id) => !registry.card(id));
    if (unknown.length) throw new Error(`WORKER_AGENTS names unknown agents: ${unknown.join(", ")}`);
    await workers.start(ids);
  }
  reconciler.start();
  if (config.roles.worker) for (const agent of agents) agent.background?.start();

  let siem: SiemForwarder | undefined;
  if (config.auditSiem) {
    siem = new SiemForwarder(pool, createSink(config.auditSiem.url), log, { intervalMs: config.auditSiem.intervalMs, gapGraceMs: config.auditSiem.gapGraceMs });
    siem.start();
  }

  let rateLimit: AgentRateLimiter | undefined;
  if (config.roles.gateway) {
    rateLimit = new AgentRateLimiter(config.redisUrl, {
      keyPrefix: `dealscale-rl:${queuePrefix.replace(/[{}]/g, "")}`,
      limitOf: (agentId) => registry.card(agentId)?.rateLimit,
      log,
    });
    await rateLimit.ready();
  }

  const refusals = config.roles.gateway ? new RefusalAuditor(refusalAuditWriter(pool, service), config.refusalAudit, log) : undefined;

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
      publicUrl: config.publicUrl,
      rateLimit,
      webhooks,
      mountAgentRoutes: (router, kit) => {
        for (const agent of agents) agent.mountRoutes?.(router, kit);
      },
      refusals: refusals!,
      mountA2A: (a2a, authenticate) =>
        mountA2A(a2a, {
          pool,
          registry,
          service,
          events,
          log,
          authenticate,
          urlPolicy,
          maxBodyBytes: config.maxBodyBytes,
          publicUrl: config.publicUrl,
          rateLimit: rateLimit ? (caller, agentId) => rateLimit!.consume(caller.tenantId, agentId) : undefined,
        }),
      mountOps: (ops) => {
        mountMetrics(ops, metrics, config.metricsToken);
        mountQueueDashboard(ops, { queues: ownedQueues(allAgentIds()), operatorToken: config.operatorToken });
      },
    }) : healthOnlyApp(pool, events, (ops) => mountMetrics(ops, metrics, config.metricsToken));
    server = createServer(app, config.tls);
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(config.port, config.host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    url = `${config.tls ? "https" : "http"}://${config.host === "0.0.0.0" ? "127.0.0.1" : config.host}:${port}`;
    if (config.roles.gateway) gatewayUrl = url;
  }

  const stop = async (graceMs = 10_000) => {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server!.close(() => resolve()));
    }
    await refusals?.close();
    await reconciler.stop();
    for (const agent of agents) await agent.background?.stop();
    await siem?.stop();
    await rateLimit?.close();
    await workers?.close(graceMs);
    await webhooks.close(graceMs);
    await queues.close();
    await events.close();
    await pool.end();
    metrics.close();
    await flushTracing();
  };
  return { config, deploymentId, queuePrefix, pool, registry, service, queues, events, reconciler, metrics, webhooks, workers, rateLimit, siem, agents, server, url, log, stop };
}

function healthOnlyApp(pool: Pool, events: RedisEventBus, mountOps?: (app: express.Router) => void): express.Express {
  const app = express();
  app.disable("x-powered-by");
  mountHealth(app, pool, () => events.ping());
  mountOps?.(app);
  return app;
}
