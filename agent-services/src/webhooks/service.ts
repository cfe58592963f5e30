/**
 * Webhooks and push notifications: subscriptions (REST), the tenant signing secret, the observer
 * that enqueues deliveries when a task finishes, the delivery worker and the sweep that re-enqueues
 * deliveries lost between a commit and its enqueue. Wired by stack.ts.
 */
import { randomUUID } from "node:crypto";
import type { Pool } from "pg";
import type { QueueHistory } from "../config/config";
import type { Logger as Pino } from "pino";
import type { AgentRegistry } from "../protocol/registry";
import { withTenant } from "../store/tenant-tx";
import type { Task } from "../protocol/task";
import type { Caller, TaskService } from "../tasks/task-service";
import { ServiceError, forbidden, invalidInput, notFound } from "../tasks/errors";
import { checkWebhookUrl, UrlPolicyError, type Resolver, type UrlPolicy } from "../lib/url-policy";
import { newSecret } from "./signing";
import * as store from "./webhook-store";
import { WebhookDeliverer, WebhookQueue, type A2AFormatter, type DeliveryOutcomeHook, type WebhookJobData } from "./delivery";
import { WebhookSweeper } from "./sweeper";
import { Coalescer } from "../lib/coalescer";
import { listPushConfigs } from "./push-config-store";

export interface WebhookSettings {
  redisUrl: string;
  prefix: string;
  history: QueueHistory;
  deploymentId: string;
  policy: UrlPolicy;
  attempts: number;
  backoffMs: number;
  timeoutMs: number;
  concurrency: number;
  sweepIntervalMs: number;
  sweepWindowMs: number;
  /** How old a finished task must be before the sweep looks at it; default min(interval, 10 s). */
  sweepGraceMs?: number;
  resolve?: Resolver;
  /** The body of 'a2a'-format push configs; without one they get the DealScale body. */
  a2aFormatter?: A2AFormatter;
  /** Told each delivery's outcome (the metrics). */
  onDeliveryOutcome?: DeliveryOutcomeHook;
}

export interface SubscriptionBody {
  url?: unknown;
  events?: unknown;
  agentId?: unknown;
  capability?: unknown;
  tenantId?: unknown;
}

type Issue = { path: string; message: string };

/** Each finished task fans out to every matching subscription: a bound keeps one tenant from amplifying. */
export const MAX_SUBSCRIPTIONS_PER_TENANT = 100;


export class WebhookService {
  readonly queue: WebhookQueue;
  private readonly deliverer: WebhookDeliverer;
  private readonly sweeper: WebhookSweeper;
  /** Finished tasks' targets, read for all the tasks that finish while one read runs. */
  private readonly finished: Coalescer<string, void>;
  private workerStarted = false;

  constructor(
    private readonly pool: Pool,
    private readonly registry: AgentRegistry,
    private readonly log: Pino,
    private readonly settings: WebhookSettings,
    /** For audit rows of refused requests (a body naming another tenant). */
    private readonly tasks?: TaskService,
  ) {
    this.queue = new WebhookQueue(settings.redisUrl, settings);
    this.deliverer = new WebhookDeliverer(settings.redisUrl, pool, log, settings);
    this.deliverer.formatter = settings.a2aFormatter;
    this.deliverer.onOutcome = settings.onDeliveryOutcome;
    this.finished = new Coalescer(async (taskIds) => {
      await this.enqueueFinished(taskIds);
      return taskIds.map(() => undefined);
    });
    this.sweeper = new WebhookSweeper(pool, this.queue, log, {
      intervalMs: settings.sweepIntervalMs,
      windowMs: settings.sweepWindowMs,
      graceMs: settings.sweepGraceMs ?? Math.min(settings.sweepIntervalMs, 10_000),
    });
  }

  /** Replaces the a2aFormatter the service was made with (tests swap it); returns the previous one. */
  setA2AFormatter(fn: A2AFormatter | undefined): A2AFormatter | undefined {
    const previous = this.deliverer.formatter;
    this.deliverer.formatter = fn;
    return previous;
  }

  /**
   * The `finished` subscriber: enqueues the task's deliveries without holding up the finish (a
   * failure is left to the sweep).
   */
  onFinished(task: Task): void {
    this.finished.run(task.id).catch((e) =>
      this.log.warn({ taskId: task.id, err: (e as Error).message }, "could not enqueue webhook deliveries; the sweep will"),
    );
  }

  /**
   * The `awaitingInput` subscriber: the task's push configs hear that it waits for its caller's
   * input (A2A push notifications are for every state the task passes through; subscriptions and
   * callback URLs hear of its end only). Best effort, retried like any delivery, not swept: if the
   * enqueue fails the configs still get the task's end.
   */
  async onAwaitingInput(task: Task): Promise<void> {
    try {
      const configs = await withTenant(this.pool, task.tenantId, (tx) => listPushConfigs(tx, task.id));
      // Each answer to the caller is an update of its own (a message received, the question asked again).
      const occurrence = randomUUID();
      await this.queue.add(configs.map((c) => ({ tenantId: task.tenantId, taskId: task.id, kind: "push_config" as const, targetId: c.id, state: "input-required" as const, occurrence })));
    } catch (e) {
      this.log.warn({ taskId: task.id, err: (e as Error).message }, "could not enqueue the input-required push deliveries");
    }
  }

  /** Enqueues one job per target of these finished tasks (any tenants'); idempotent (job id per task and target). */
  async enqueueFinished(taskIds: string[]): Promise<number> {
    const targets = await store.targetsOfFinished(this.pool, taskIds);
    const jobs: WebhookJobData[] = targets.map((t) => ({ tenantId: t.tenantId, taskId: t.taskId, kind: t.kind, targetId: t.targetId }));
    await this.queue.add(jobs);
    return jobs.length;
  }

  /** The delivery worker and the sweep (processes with the worker role). */
  startWorker(): void {
    if (this.workerStarted) return;
    this.workerStarted = true;
    this.deliverer.start();
    this.sweeper.start();
  }

  /** One sweep pass now (tests, operators). */
  sweep(): Promise<{ enqueued: number; tasks: number }> {
    return this.sweeper.pass();
  }

  async close(graceMs = 10_000): Promise<void> {
    await this.sweeper.stop();
    await this.deliverer.close(graceMs);
    await this.queue.close();
  }

  /**
   * Applies the URL policy to a URL a tenant registers (subscription, push config, callbackUrl);
   * throws a 400 naming `path`. Returns the URL as given.
   */
  async validateUrl(url: unknown, path: string): Promise<string> {
    try {
      await checkWebhookUrl(url, this.settings.policy, this.settings.resolve);
      return url as string;
    } catch (e) {
      if (e instanceof UrlPolicyError) throw invalidInput(`${path.replace(/^\//, "")} ${e.message}`, { errors: [{ path, message: e.message }] });
      throw e;
    }
  }

  async createSubscription(caller: Caller, body: SubscriptionBody): Promise<store.SubscriptionView & { secret: string }> {
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw invalidInput("request body must be a JSON object", { errors: [{ path: "/", message: "must be object" }] });
    if (body.tenantId !== undefined && body.tenantId !== caller.tenantId) {
      await this.tasks?.auditRefusal(caller, "", "tenant_mismatch", "webhook subscription names another tenant than its token", { namedTenant: String(body.tenantId) });
      throw forbidden("the request names another tenant than its token");
    }
    const issues: Issue[] = [];
    if (typeof body.url !== "string" || !/^https?:\/\//i.test(body.url)) issues.push({ path: "/url", message: "must be an http(s) URL" });
    let events: store.WebhookEvent[] = [];
    if (!Array.isArray(body.events) || body.events.length === 0) {
      issues.push({ path: "/events", message: `must be a non-empty list of ${store.WEBHOOK_EVENTS.join(", ")}` });
    } else {
      body.events.forEach((e, i) => {
        if (!(store.WEBHOOK_EVENTS as readonly unknown[]).includes(e)) issues.push({ path: `/events/${i}`, message: `must be one of ${store.WEBHOOK_EVENTS.join(", ")}` });
      });
      events = [...new Set(body.events as store.WebhookEvent[])];
    }
    const agentId = body.agentId ?? null;
    const capability = body.capability ?? null;
    if (agentId !== null && (typeof agentId !== "string" || !this.registry.card(agentId))) {
      issues.push({ path: "/agentId", message: "must be the id of a registered agent" });
    }
    if (capability !== null) {
      const known = typeof capability === "string" && (typeof agentId === "string"
        ? !!this.registry.capability(agentId, capability)
        : this.registry.list().some((c) => c.capabilities.some((k) => k.name === capability)));
      if (!known) issues.push({ path: "/capability", message: typeof agentId === "string" ? `must be a capability of agent "${agentId}"` : "must be the name of a registered capability" });
    }
    if (issues.length) throw invalidInput(`${issues[0].path.slice(1)} ${issues[0].message}`, { errors: issues });
    const url = await this.validateUrl(body.url, "/url");

    const secret = newSecret();
    try {
      const row = await withTenant(this.pool, caller.tenantId, async (tx) => {
        if ((await store.countSubscriptions(tx)) >= MAX_SUBSCRIPTIONS_PER_TENANT) {
          throw new ServiceError(409, "webhook_limit_reached", `a tenant may have at most ${MAX_SUBSCRIPTIONS_PER_TENANT} webhook subscriptions; delete one first`, { limit: MAX_SUBSCRIPTIONS_PER_TENANT });
        }
        return store.insertSubscription(tx, { url, events, agentId: agentId as string | null, capability: capability as string | null, secret });
      });
      return { ...store.subscriptionView(row), secret };
    } catch (e) {
      if ((e as { code?: string }).code === "23503") throw new ServiceError(403, "unknown_tenant", "the token's tenant does not exist");
      throw e;
    }
  }

  async listSubscriptions(caller: Caller): Promise<{ webhooks: store.SubscriptionView[] }> {
    const rows = await withTenant(this.pool, caller.tenantId, (tx) => store.listSubscriptions(tx));
    return { webhooks: rows.map(store.subscriptionView) };
  }

  async getSubscription(caller: Caller, id: string): Promise<store.SubscriptionView> {
    const row = await withTenant(this.pool, caller.tenantId, (tx) => store.getSubscription(tx, id));
    if (!row) throw notFound(`webhook "${id}"`);
    return store.subscriptionView(row);
  }

  /** Deletes the subscription; its deliveries not yet sent (retries included) are dropped. */
  async deleteSubscription(caller: Caller, id: string): Promise<void> {
    const deleted = await withTenant(this.pool, caller.tenantId, (tx) => store.deleteSubscription(tx, id));
    if (!deleted) throw notFound(`webhook "${id}"`);
  }

  /** The secret that signs deliveries to tasks' callbackUrls (made on first use). */
  async signingSecret(caller: Caller, rotate = false): Promise<{ secret: string; createdAt: string }> {
    const s = await withTenant(this.pool, caller.tenantId, (tx) => (rotate ? store.rotateTenantSigningSecret(tx) : store.tenantSigningSecret(tx)));
    if (!s) throw new ServiceError(403, "unknown_tenant", "the token's tenant does not exist");
    return { secret: s.secret, createdAt: s.created_at.toISOString() };
  }
}
