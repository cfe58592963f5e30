/**
 * The worker runtime: one BullMQ worker per agent queue. For each job it moves the task to working,
 * runs the capability handler with a tenant-scoped db, progress reporting and an AbortSignal (fired
 * by a cancel or by the capability's SLA), validates the outputs and finishes the task. Retryable
 * errors go back to BullMQ; stalled jobs of dead workers run again, and the guarded transitions and
 * once-per-task ledger keep that from charging twice.
 */
import { UnrecoverableError, Worker, type Job } from "bullmq";
import Redis from "ioredis";
import type { Pool } from "pg";
import type { Logger as Pino } from "pino";
import type { AgentRegistry } from "../protocol/registry";
import { creditsToMilli, milliToCredits } from "../protocol/credits";
import { withTenant } from "../store/tenant-tx";
import type { TaskService } from "../tasks/task-service";
import { ResultSetWriter } from "../tasks/result-sets";
import type { RedisEventBus } from "../tasks/event-bus";
import { queueName, type TaskJobData } from "./queues";
import { asTaskError, type CapabilityHandler, type HandlerContext } from "../protocol/agent-contract";
import { ForeignJobs } from "./ownership";
import { ATTR, SpanKind, extractContext, withSpan } from "../lib/tracing";

export interface WorkerSettings {
  prefix: string;
  /** This deployment's id: jobs stamped with another one are left for their owner. */
  deploymentId: string;
  concurrency: number;
  lockMs: number;
}

type AbortKind = { kind: "cancelled" | "timeout" | "shutdown" };

/** A completed job's return value, shown on the dashboard. */
type JobOutcome = { status: "completed" | "cancelled" | "not_runnable" };

export class WorkerRuntime {
  private readonly workers: Worker<TaskJobData>[] = [];
  private readonly running = new Map<string, AbortController>();
  private readonly connection: Redis;
  private readonly foreign: ForeignJobs;

  constructor(
    private readonly redisUrl: string,
    private readonly pool: Pool,
    private readonly registry: AgentRegistry,
    private readonly handlers: Map<string, Record<string, CapabilityHandler>>,
    private readonly service: TaskService,
    private readonly events: RedisEventBus,
    private readonly log: Pino,
    private readonly settings: WorkerSettings,
  ) {
    this.connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    this.connection.on("error", () => undefined);
    this.foreign = new ForeignJobs(settings.deploymentId, log);
  }

  async start(agentIds: string[]): Promise<void> {
    await this.events.onCancel((taskId) => this.running.get(taskId)?.abort({ kind: "cancelled" } satisfies AbortKind));
    for (const agentId of agentIds) {
      const worker: Worker<TaskJobData> = new Worker<TaskJobData>(queueName(agentId), (job, token) => this.process(job, token, worker), {
        connection: this.connection,
        prefix: this.settings.prefix,
        concurrency: this.settings.concurrency,
        lockDuration: this.settings.lockMs,
        stalledInterval: this.settings.lockMs,
        maxStalledCount: 3,
      });
      worker.on("error", (err) => this.log.warn({ err: err.message, agentId }, "worker error"));
      worker.on("failed", (job, err) => {
        // A task that failed for good was already finished and logged as such; only attempts that
        // BullMQ runs again are worth a warning.
        if (err instanceof UnrecoverableError) this.log.info({ taskId: job?.id, err: err.message }, "job failed with its task");
        else this.log.warn({ taskId: job?.id, err: err.message, attemptsMade: job?.attemptsMade }, "job attempt failed");
      });
      this.workers.push(worker);
    }
  }

  /**
   * Stops taking jobs and gives running ones `graceMs` to finish; then aborts them, so their jobs
   * fail this attempt and run again on another worker (handlers are idempotent per task).
   */
  async close(graceMs = 10_000): Promise<void> {
    const closing = Promise.all(this.workers.map((w) => w.close()));
    const grace = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([closing, grace]);
    for (const controller of this.running.values()) controller.abort({ kind: "shutdown" } satisfies AbortKind);
    await closing;
    this.foreign.close();
    this.connection.disconnect();
  }

  /** One span per job run, a child of the creating request's span (its traceparent travels on the job). */
  private process(job: Job<TaskJobData>, token: string | undefined, worker: Worker<TaskJobData>): Promise<JobOutcome> {
    const { taskId, tenantId, agentId, type } = job.data;
    return withSpan(
      "task.run",
      {
        kind: SpanKind.CONSUMER,
        parent: extractContext(job.data.trace),
        attributes: { [ATTR.taskId]: taskId, [ATTR.tenantId]: tenantId, [ATTR.agentId]: agentId, [ATTR.capability]: type, [ATTR.attempt]: job.attemptsMade + 1 },
      },
      () => this.run(job, token, worker),
    );
  }

  /**
   * Runs the job's task. What BullMQ records is the task's end: a completed job for a completed (or
   * cancelled, or no longer runnable) task, a failed job with the task's error for a failed or
   * timed-out one, so the dashboard shows failures as failures.
   */
  private async run(job: Job<TaskJobData>, token: string | undefined, worker: Worker<TaskJobData>): Promise<JobOutcome> {
    const { taskId, tenantId, agentId, type } = job.data;
    const log = this.log.child({ taskId, agentId, capability: type, attempt: job.attemptsMade + 1 });
    if (this.foreign.isForeign(job.data)) await this.foreign.leave(job, token, worker, "stamped by another deployment");
    // A job of an older version carries no deployment: it is ours only if our database has its task.
    if (!job.data.deploymentId && !(await this.service.exists(tenantId, taskId))) await this.foreign.leave(job, token, worker, "its task is not in this deployment's database");
    const cap = this.registry.capability(agentId, type);
    if (!cap) return this.failed(tenantId, taskId, { code: "unknown_capability", message: `agent ${agentId} has no capability ${type}` });

    const started = await this.service.start(tenantId, taskId);
    if (!started) {
      if (await this.service.exists(tenantId, taskId)) log.info("task is no longer runnable (cancelled or finished); job dropped");
      else log.warn("this deployment's job names a task its database does not have; job dropped");
      return { status: "not_runnable" };
    }
    const task = started;
    const reserved = task.creditsReservedMilli;

    const handler = this.handlers.get(agentId)?.[type];
    if (!handler) return this.failed(tenantId, taskId, { code: "not_implemented", message: `capability ${agentId}.${type} is not implemented yet` });

    const startedAt = Date.now();
    const remaining = cap.slaMs - (startedAt - (task.startedAt?.getTime() ?? startedAt));
    const controller = new AbortController();
    this.running.set(taskId, controller);
    const timer = setTimeout(() => controller.abort({ kind: "timeout" } satisfies AbortKind), Math.max(0, remaining));
    const db: HandlerContext["db"] = (fn) => withTenant(this.pool, tenantId, fn);
    const ctx: HandlerContext = {
      taskId,
      tenantId,
      agentId,
      capability: type,
      inputs: task.inputs,
      attempt: task.attempts,
      db,
      results: new ResultSetWriter(db, taskId),
      progress: (pct, message) => this.progress(tenantId, taskId, pct, message),
      signal: controller.signal,
      log: {
        info: (msg, extra) => log.info(extra ?? {}, msg),
        warn: (msg, extra) => log.warn(extra ?? {}, msg),
        error: (msg, extra) => log.error(extra ?? {}, msg),
      },
    };

    let result: Awaited<ReturnType<CapabilityHandler>>;
    try {
      result = await untilAborted(handler(ctx), controller.signal);
    } catch (e) {
      const durationMs = Date.now() - startedAt;
      if (controller.signal.aborted) {
        const reason = controller.signal.reason as AbortKind;
        if (reason?.kind === "shutdown") throw new Error("worker shut down mid-task; the job runs again");
        if (reason?.kind === "timeout") {
          return this.failed(tenantId, taskId, { code: "timeout", message: `task exceeded its SLA of ${cap.capability.sla.maxLatency}` }, { status: "timeout", durationMs });
        }
        // A cancelled task was finished by the cancel itself; whatever the handler did is discarded.
        return { status: "cancelled" };
      }
      const err = e as Error;
      const taskError = asTaskError(e);
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const retryable = cap.capability.retryable !== false && (taskError ? taskError.options.retryable === true : true);
      if (retryable && !lastAttempt) {
        log.warn({ err: err.message }, "handler failed; BullMQ will retry");
        throw err;
      }
      const partial = cap.capability.pricing.onFailure === "chargePartial" && taskError?.options.creditsUsed !== undefined
        ? creditsToMilli(taskError.options.creditsUsed)
        : 0n;
      return this.failed(tenantId, taskId, { code: taskError?.code ?? "handler_error", message: err.message || String(e) }, { creditsUsedMilli: partial, durationMs });
    } finally {
      clearTimeout(timer);
      this.running.delete(taskId);
    }
    const issues = cap.validateOutputs(result.outputs);
    if (issues.length) {
      return this.failed(tenantId, taskId, { code: "invalid_output", message: `outputs do not match the schema: ${issues.map((i) => `${i.path} ${i.message}`).join("; ")}` }, { durationMs: Date.now() - startedAt });
    }
    const used = result.creditsUsed === undefined ? reserved : creditsToMilli(result.creditsUsed);
    // Every capability's outputs carry what was charged, as the design document's chains read it.
    const outputs = { ...result.outputs, creditsUsed: milliToCredits(used) };
    // A finish that cannot be written (Postgres down) throws, and BullMQ runs the job again.
    await this.service.finish(tenantId, taskId, { status: "completed", outputs, creditsUsedMilli: used, durationMs: Date.now() - startedAt });
    return { status: "completed" };
  }

  /** Finishes the task as failed (or timed out) and fails the job for good with the task's error. */
  private async failed(
    tenantId: string,
    taskId: string,
    error: { code: string; message: string },
    extra: { status?: "failed" | "timeout"; durationMs?: number; creditsUsedMilli?: bigint } = {},
  ): Promise<never> {
    const { status = "failed", ...rest } = extra;
    await this.service.finish(tenantId, taskId, { status, error, ...rest });
    throw new UnrecoverableError(`${status}: ${error.code}: ${error.message}`);
  }

  private async progress(tenantId: string, taskId: string, pct: number, message?: string): Promise<void> {
    await this.service.progress(tenantId, taskId, Math.max(0, Math.min(100, Math.round(pct))), message ?? null);
  }
}

/** Stops waiting for a handler that ignores its signal; its late result is dropped. */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
