/**
 * Prometheus metrics (prom-client) on a registry of their own, so several stacks can live in one
 * process (the tests start several). Task metrics come from the task service's after-commit events
 * (stack.ts subscribes `taskCreated` and `taskFinished`); queue depth and tenant balances are read on scrape, each
 * bounded by a timeout so a slow Redis or Postgres cannot hang a scrape.
 *
 * Counters count what happened in this process: with the gateway and the workers split, creations
 * are counted by the gateway and finishes by the workers (cancels by the gateway, timeouts by
 * whichever reconciler swept them), so dashboards sum over instances. The cluster-wide gauges (queue
 * depth, tenant credits) are read by several processes, so dashboards take their max.
 */
import type { Router } from "express";
import type { Pool } from "pg";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Task } from "../protocol/task";
import type { Queue } from "bullmq";
import { withTimeout } from "../lib/with-timeout";
import { bearerToken, tokenMatches } from "./queue-dashboard";

/** BullMQ job states reported per queue (BullMQ counts prioritized jobs apart from waiting ones). */
export const QUEUE_STATES = ["waiting", "active", "delayed", "failed", "prioritized", "completed"] as const;

/**
 * Seconds, 10 ms to 15 min and on to an hour (end-to-end latency includes queue wait, which can
 * exceed the run SLA). Every capability SLA in the cards (30 s, 5, 10 and 15 min) is a bucket bound,
 * so `histogram_quantile` against an SLA is exact at the threshold; the deploy test checks it.
 */
export const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600];

export const WEBHOOK_OUTCOMES = ["delivered", "failed", "retrying"] as const;
export type WebhookOutcome = (typeof WEBHOOK_OUTCOMES)[number];

const TERMINAL = new Set(["completed", "failed", "cancelled", "timeout"]);

export interface MetricsOptions {
  /** The queues whose depth is reported, read on every scrape: the agent queues and the webhooks queue. */
  queues?: () => Queue[];
  /** App-role pool for the tenant balance gauge; the gauge is collected only when given. */
  pool?: Pool;
  /** At most this many tenants (lowest balances first) on the tenant credits gauge. */
  tenantLimit?: number;
  /** Bound on each on-scrape read (Redis job counts, the tenant balance query). */
  collectTimeoutMs?: number;
}

export class Metrics {
  readonly registry = new Registry();

  private readonly duration: Histogram<"agent_id" | "task_type" | "status">;
  private readonly tasks: Counter<"agent_id" | "task_type" | "status">;
  private readonly creditsReserved: Counter<"agent_id">;
  private readonly creditsCharged: Counter<"agent_id">;
  private readonly webhookDeliveries: Counter<"outcome">;
  private readonly collectErrors: Counter<"collector">;

  constructor(private readonly opts: MetricsOptions = {}) {
    const registers = [this.registry];
    const timeoutMs = opts.collectTimeoutMs ?? 2000;
    collectDefaultMetrics({ register: this.registry });

    this.duration = new Histogram({
      name: "dealscale_a2a_task_duration_seconds",
      help: "End-to-end task latency in seconds, from creation (submitted, created_at) to the terminal state (completed_at): queue wait plus run. Observed once per task when it finishes, labelled with its terminal status.",
      labelNames: ["agent_id", "task_type", "status"],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.tasks = new Counter({
      name: "dealscale_a2a_tasks_total",
      help: 'Tasks by agent, capability and status: status="submitted" counts created tasks, the terminal statuses (completed, failed, cancelled, timeout) count finished ones.',
      labelNames: ["agent_id", "task_type", "status"],
      registers,
    });
    this.creditsReserved = new Counter({
      name: "dealscale_a2a_credits_reserved_total",
      help: "Credits reserved by created tasks (estimated cost held until the task finishes).",
      labelNames: ["agent_id"],
      registers,
    });
    this.creditsCharged = new Counter({
      name: "dealscale_a2a_credits_charged_total",
      help: "Credits charged by finished tasks (actual cost of completed tasks, partial cost of failed ones where the capability declares it).",
      labelNames: ["agent_id"],
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: "dealscale_a2a_webhook_deliveries_total",
      help: "Webhook and push-notification delivery attempts by outcome: delivered, failed (given up) or retrying.",
      labelNames: ["outcome"],
      registers,
    });
    for (const outcome of WEBHOOK_OUTCOMES) this.webhookDeliveries.inc({ outcome }, 0);
    this.collectErrors = new Counter({
      name: "dealscale_a2a_metrics_collect_errors_total",
      help: "On-scrape reads (queue job counts, tenant balances) that failed or timed out; their gauges are left empty for that scrape.",
      labelNames: ["collector"],
      registers,
    });

    const collectErrors = this.collectErrors;
    if (opts.queues) {
      const queues = opts.queues;
      new Gauge({
        name: "dealscale_a2a_queue_jobs",
        help: "BullMQ jobs per queue (agent-<id>, webhooks) and state (waiting, active, delayed, failed, prioritized, and the completed ones kept as history), read on scrape.",
        labelNames: ["queue", "state"],
        registers,
        async collect() {
          this.reset();
          await Promise.all(queues().map(async (queue) => {
            try {
              const counts = await withTimeout(queue.getJobCounts(...QUEUE_STATES), timeoutMs, "queue job counts");
              for (const state of QUEUE_STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
            } catch {
              collectErrors.inc({ collector: "queue_jobs" });
            }
          }));
        },
      });
    }
    if (opts.pool) {
      const pool = opts.pool;
      const limit = opts.tenantLimit ?? 1000;
      new Gauge({
        name: "dealscale_a2a_tenant_credits",
        help: `Tenant credit balance (credits), read on scrape; at most ${limit} tenants, lowest balances first.`,
        labelNames: ["tenant_id"],
        registers,
        async collect() {
          this.reset();
          try {
            const rows = await withTimeout(tenantBalances(pool, limit, timeoutMs), timeoutMs + 500, "tenant balances");
            for (const r of rows) this.set({ tenant_id: r.tenant_id }, Number(r.credits_balance_milli) / 1000);
          } catch {
            collectErrors.inc({ collector: "tenant_credits" });
          }
        },
      });
    }
  }

  /** For the webhook and push-notification senders: one call per delivery attempt's outcome. */
  recordWebhookDelivery(outcome: WebhookOutcome): void {
    if ((WEBHOOK_OUTCOMES as readonly string[]).includes(outcome)) this.webhookDeliveries.inc({ outcome });
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.registry.clear();
  }

  /** The `created` subscriber. */
  taskCreated(task: Task): void {
    this.tasks.inc({ agent_id: task.agentId, task_type: task.type, status: "submitted" });
    const reserved = Number(task.creditsReservedMilli);
    if (reserved > 0) this.creditsReserved.inc({ agent_id: task.agentId }, reserved / 1000);
  }

  /** The `finished` subscriber. */
  taskFinished(task: Task): void {
    if (!TERMINAL.has(task.status)) return;
    const labels = { agent_id: task.agentId, task_type: task.type, status: task.status };
    this.tasks.inc(labels);
    const end = task.completedAt ?? task.updatedAt;
    this.duration.observe(labels, Math.max(0, end.getTime() - task.createdAt.getTime()) / 1000);
    const used = Number(task.creditsUsedMilli);
    if (used > 0) this.creditsCharged.inc({ agent_id: task.agentId }, used / 1000);
  }
}

export function createMetrics(opts: MetricsOptions = {}): Metrics {
  return new Metrics(opts);
}

/**
 * Balances of all tenants through the narrow SECURITY DEFINER function (the app role cannot read
 * other tenants' rows), with a server-side statement timeout so an abandoned query does not linger.
 */
async function tenantBalances(pool: Pool, limit: number, timeoutMs: number): Promise<Array<{ tenant_id: string; credits_balance_milli: string }>> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query("BEGIN READ ONLY");
    await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(timeoutMs))}`);
    const { rows } = await client.query<{ tenant_id: string; credits_balance_milli: string }>(
      "SELECT tenant_id, credits_balance_milli FROM tenant_credit_balances($1)",
      [limit],
    );
    await client.query("COMMIT");
    return rows;
  } catch (e) {
    broken = true;
    throw e;
  } finally {
    // A failed transaction is rolled back by discarding the connection rather than reusing it.
    client.release(broken);
  }
}

/**
 * GET /metrics in the Prometheus text format. Scrapers carry no user token; when METRICS_TOKEN is
 * set the scrape must send `Authorization: Bearer <METRICS_TOKEN>`.
 */
export function mountMetrics(app: Router, metrics: Metrics, token?: string): void {
  app.get("/metrics", async (req, res) => {
    if (token && !tokenMatches(bearerToken(req.header("authorization")), token)) {
      res.set("WWW-Authenticate", 'Bearer realm="dealscale-a2a-metrics"');
      res.status(401).json({ error: { code: "unauthorized", message: "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>" } });
      return;
    }
    try {
      const { contentType, body } = await metrics.render();
      res.set("Content-Type", contentType).set("Cache-Control", "no-store").send(body);
    } catch (e) {
      res.status(500).type("text/plain").send(`# metrics collection failed: ${(e as Error).message}\n`);
    }
  });
}
