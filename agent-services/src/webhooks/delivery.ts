/**
 * The `webhooks` BullMQ queue and its worker. One job per (finished task, target); the job id is
 * derived from that pair, so a duplicate finish notification, the sweep and the observer racing all
 * yield one job. The job carries ids only: the worker reads the task, the target's URL and secret at
 * delivery time (a deleted subscription or config stops its deliveries, retries included), signs the
 * body, applies the URL policy again at connect time, and records every attempt in
 * webhook_deliveries. A delivery settled once (2xx, 410, refused by policy) is never sent again.
 */
import { Queue, Worker, type Job, type JobsOptions } from "bullmq";
import Redis from "ioredis";
import type { Pool } from "pg";
import type { Logger as Pino } from "pino";
import { withTenant, type TenantTx } from "../store/tenant-tx";
import { withTimeout } from "../lib/with-timeout";
import { isTerminal } from "../protocol/task-states";
import type { Task } from "../protocol/task";
import { toView } from "../protocol/task-view";
import { getTaskById } from "../tasks/task-store";
import { postWebhook } from "./http-post";
import type { QueueHistory } from "../config/config";
import { ForeignJobs } from "../queue/ownership";
import { UrlPolicyError, type Resolver, type UrlPolicy } from "../lib/url-policy";
import { A2A_TOKEN_HEADER, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, deliveryId, signatureHeader } from "./signing";
import * as store from "./webhook-store";
import { pushConfigById, type PushConfigRow } from "./push-config-store";

export const WEBHOOK_QUEUE = "webhooks";

export interface WebhookJobData {
  tenantId: string;
  taskId: string;
  kind: store.TargetKind;
  targetId: string | null;
  /**
   * A delivery of a state the task passes through (input-required, to its push configs): sent only
   * while the task is still in it. Without it, the delivery of the task's end.
   */
  state?: "input-required";
  /** With `state`: which time the task was announced in it (each answer to its caller is an update). */
  occurrence?: string;
  /** The deployment that enqueued it (queue/ownership.ts). */
  deploymentId?: string;
}

export interface DeliverySettings {
  prefix: string;
  history: QueueHistory;
  deploymentId: string;
  attempts: number;
  backoffMs: number;
  timeoutMs: number;
  concurrency: number;
  policy: UrlPolicy;
  /** For tests of the policy at delivery time; the system resolver otherwise. */
  resolve?: Resolver;
}

/** Turns a finished task into the body of an 'a2a'-format push notification (set by the A2A layer). */
export type A2AFormatter = (task: Task) => unknown;

/** Told of every attempt's outcome, e.g. metrics.recordWebhookDelivery. Must not throw. */
export type DeliveryOutcomeHook = (outcome: store.DeliveryOutcome, kind: store.TargetKind) => void;

const KIND_TAG: Record<store.TargetKind, string> = { callback: "cb", subscription: "sub", push_config: "push" };

/** BullMQ job ids may not contain ':'; this one names the task, the target and an interim state's occurrence. */
export function jobIdOf(t: { taskId: string; kind: store.TargetKind; targetId: string | null; state?: string; occurrence?: string }): string {
  const interim = t.state ? `.${t.state}.${t.occurrence ?? ""}` : "";
  return `wh.${t.taskId}.${KIND_TAG[t.kind]}${t.targetId ? `.${t.targetId}` : ""}${interim}`;
}

const REDIS_TIMEOUT_MS = 2000;

export class WebhookQueue {
  private readonly connection: Redis;
  readonly queue: Queue<WebhookJobData>;

  constructor(redisUrl: string, private readonly settings: Pick<DeliverySettings, "prefix" | "deploymentId" | "attempts" | "backoffMs" | "history">) {
    // Fail fast like the task queues: a lost enqueue is picked up by the sweep.
    this.connection = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.connection.on("error", () => undefined);
    this.queue = new Queue<WebhookJobData>(WEBHOOK_QUEUE, { connection: this.connection, prefix: settings.prefix });
    this.queue.on("error", () => undefined);
  }

  jobOptions(data: WebhookJobData): JobsOptions {
    return {
      jobId: jobIdOf(data),
      attempts: this.settings.attempts,
      backoff: { type: "exponential", delay: this.settings.backoffMs, jitter: 0.2 },
      // Bounded history for the dashboard: the recorded outcome in webhook_deliveries, not Redis, is
      // what stops a second send.
      removeOnComplete: this.settings.history.completed,
      removeOnFail: this.settings.history.failed,
    };
  }

  /** Idempotent: a job id already present is left as it is. */
  async add(jobs: WebhookJobData[]): Promise<void> {
    if (!jobs.length) return;
    await withTimeout(
      this.queue.addBulk(jobs.map((data) => ({ name: data.kind, data: { ...data, deploymentId: this.settings.deploymentId }, opts: this.jobOptions(data) }))),
      REDIS_TIMEOUT_MS * 2,
      "enqueue webhook deliveries",
    );
  }

  async close(): Promise<void> {
    await this.queue.close().catch(() => undefined);
    this.connection.disconnect();
  }
}

interface Loaded {
  task: Task;
  url: string;
  secret: string;
  subscriptionId: string | null;
  push: PushConfigRow | null;
  attempt: number;
}

export class WebhookDeliverer {
  private worker: Worker<WebhookJobData> | undefined;
  private connection: Redis | undefined;
  private foreign: ForeignJobs | undefined;
  private readonly aborts = new Set<AbortController>();
  formatter: A2AFormatter | undefined;
  onOutcome: DeliveryOutcomeHook | undefined;

  constructor(
    private readonly redisUrl: string,
    private readonly pool: Pool,
    private readonly log: Pino,
    private readonly settings: DeliverySettings,
  ) {}

  start(): void {
    this.connection = new Redis(this.redisUrl, { maxRetriesPerRequest: null });
    this.connection.on("error", () => undefined);
    const lockMs = Math.max(30_000, this.settings.timeoutMs * 3);
    const foreign = new ForeignJobs(this.settings.deploymentId, this.log);
    this.foreign = foreign;
    const worker: Worker<WebhookJobData> = new Worker<WebhookJobData>(WEBHOOK_QUEUE, async (job, token) => {
      if (foreign.isForeign(job.data)) await foreign.leave(job, token, worker, "stamped by another deployment");
      return this.process(job);
    }, {
      connection: this.connection,
      prefix: this.settings.prefix,
      concurrency: this.settings.concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
    });
    this.worker = worker;
    this.worker.on("error", (err) => this.log.warn({ err: err.message }, "webhook worker error"));
  }

  /** Stops taking jobs; deliveries still in flight after `graceMs` are aborted and retried later. */
  async close(graceMs: number): Promise<void> {
    if (!this.worker) return;
    const closing = this.worker.close();
    await Promise.race([closing, new Promise<void>((r) => setTimeout(r, graceMs).unref())]);
    for (const c of this.aborts) c.abort();
    await closing;
    this.foreign?.close();
    this.connection?.disconnect();
  }

  /** One attempt of one delivery. Throws to have BullMQ retry it with backoff. */
  async process(job: Job<WebhookJobData>): Promise<void> {
    const data = job.data;
    const id = deliveryId(jobIdOf(data));
    const loaded = await withTenant(this.pool, data.tenantId, (tx) => this.load(tx, data, id));
    if (!loaded) return;
    const { task, url, secret, push } = loaded;
    const event = task.status;

    const body = this.body(task, event, push?.format ?? "dealscale");
    const headers: Record<string, string> = {
      "content-type": "application/json",
      "user-agent": "DealScale-Webhooks/1.0",
      [EVENT_HEADER]: event,
      [DELIVERY_HEADER]: id,
      [SIGNATURE_HEADER]: signatureHeader(secret, body),
    };
    if (push?.authentication?.schemes?.length && push.authentication.credentials) {
      headers.authorization = `${push.authentication.schemes[0]} ${push.authentication.credentials}`;
    }
    if (push?.token) headers[A2A_TOKEN_HEADER] = push.token;

    const controller = new AbortController();
    this.aborts.add(controller);
    const started = Date.now();
    let status: number | null = null;
    let error: string | null = null;
    let refused = false;
    try {
      status = (await postWebhook(url, body, headers, { policy: this.settings.policy, timeoutMs: this.settings.timeoutMs, signal: controller.signal, resolve: this.settings.resolve })).status;
    } catch (e) {
      const code = (e as { code?: string }).code;
      const policy = e instanceof UrlPolicyError || code === "EWEBHOOKPOLICY";
      // A header value that cannot be sent (a push config's token or credentials) fails every time.
      const unsendable = code === "ERR_INVALID_CHAR" || code === "ERR_HTTP_INVALID_HEADER_VALUE" || code === "ERR_INVALID_HTTP_TOKEN";
      refused = policy || unsendable;
      error = policy ? `refused by the URL policy: ${(e as Error).message}` : `${code ?? "error"}: ${(e as Error).message}`;
    } finally {
      this.aborts.delete(controller);
    }
    const durationMs = Date.now() - started;

    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const outcome: store.DeliveryOutcome =
      status !== null && status >= 200 && status < 300 ? "delivered"
      : status === 410 ? "gone"
      : refused ? "refused"
      : lastAttempt ? "failed" : "retry";
    if (status !== null && outcome !== "delivered" && outcome !== "gone") error = `HTTP ${status}`;

    await withTenant(this.pool, data.tenantId, async (tx) => {
      await store.recordAttempt(tx, {
        deliveryId: id,
        subscriptionId: data.kind === "subscription" ? data.targetId : null,
        pushConfigId: data.kind === "push_config" ? data.targetId : null,
        taskId: data.taskId,
        url,
        event,
        attempt: loaded.attempt,
        statusCode: status,
        error,
        outcome,
        durationMs,
      });
      if (outcome === "gone" && data.kind === "subscription") await store.deactivateSubscription(tx, data.targetId!);
    });
    try {
      this.onOutcome?.(outcome, data.kind);
    } catch {
      /* a metrics hook must not fail a delivery */
    }
    const log = { taskId: data.taskId, target: data.kind, targetId: data.targetId, deliveryId: id, attempt: loaded.attempt, status, error };
    if (outcome === "retry" || outcome === "failed") {
      this.log.warn(log, outcome === "retry" ? "webhook delivery failed; will retry" : "webhook delivery failed for good");
      throw new Error(`webhook delivery attempt ${loaded.attempt} failed: ${error}`);
    }
    if (outcome === "gone") this.log.info(log, "receiver answered 410 Gone; deliveries to it stop");
    if (outcome === "refused") this.log.warn(log, "webhook URL refused at delivery time");
  }

  private async load(tx: TenantTx, data: WebhookJobData, id: string): Promise<Loaded | null> {
    const task = await getTaskById(tx, data.taskId);
    // An interim state's delivery is moot once the task has moved on: its end is delivered instead.
    if (!task || (data.state ? task.status !== data.state : !isTerminal(task.status))) return null;
    const state = await store.deliveryState(tx, id);
    if (state.settled) return null;
    const base = { task, attempt: state.attempts + 1 };
    switch (data.kind) {
      case "callback": {
        const s = await store.tenantSigningSecret(tx);
        return task.callbackUrl && s ? { ...base, url: task.callbackUrl, secret: s.secret, subscriptionId: null, push: null } : null;
      }
      case "subscription": {
        const sub = data.targetId ? await store.getSubscription(tx, data.targetId) : undefined;
        return sub?.active ? { ...base, url: sub.url, secret: sub.secret, subscriptionId: sub.id, push: null } : null;
      }
      case "push_config": {
        const push = data.targetId ? await pushConfigById(tx, data.targetId) : undefined;
        if (!push || push.task_id !== task.id) return null;
        const secret = push.secret ?? (await store.tenantSigningSecret(tx))?.secret;
        return secret ? { ...base, url: push.url, secret, subscriptionId: null, push } : null;
      }
    }
  }

  private body(task: Task, event: string, format: "dealscale" | "a2a"): string {
    if (format === "a2a" && this.formatter) {
      try {
        return JSON.stringify(this.formatter(task));
      } catch (e) {
        this.log.warn({ taskId: task.id, err: (e as Error).message }, "A2A push formatter failed; sending the DealScale body");
      }
    }
    return JSON.stringify({ event, deliveredAt: new Date().toISOString(), task: toView(task) });
  }
}
