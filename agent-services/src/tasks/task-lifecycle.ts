/**
 * A task's life after creation: started and told of progress by its worker, finished by the
 * worker, the SLA sweeper or a cancel. Each change is one guarded statement (task-store.ts); a
 * change the task's state no longer allows returns null and writes nothing, so nothing is charged
 * twice. Starts and finishes of all tenants share statements, one in flight each (lib/coalescer).
 * After the commit the live event goes out, and a finish emits `finished`.
 */
import type { Pool } from "pg";
import type { AgentRegistry } from "../protocol/registry";
import { finalStateOf, type Task } from "../protocol/task";
import { withTenant } from "../store/tenant-tx";
import { requireAgent, requireTaskId, type Caller } from "./addressing";
import type { AfterCommit } from "./after-commit";
import type { AuditEventType } from "./audit";
import { conflict, notFound } from "./errors";
import type { RedisEventBus } from "./event-bus";
import type { TaskQueue } from "./task-queue";
import * as store from "./task-store";
import { Coalescer } from "../lib/coalescer";

export type Outcome =
  | { status: "completed"; outputs: Record<string, unknown>; creditsUsedMilli: bigint; durationMs?: number }
  | { status: "failed" | "timeout" | "cancelled"; error: { code: string; message: string }; creditsUsedMilli?: bigint; durationMs?: number };

const AUDIT_FOR: Record<Outcome["status"], AuditEventType> = {
  completed: "task_completed",
  failed: "task_failed",
  timeout: "task_timeout",
  cancelled: "task_cancelled",
};

export interface LifecycleDeps {
  pool: Pool;
  registry: AgentRegistry;
  live: RedisEventBus;
  afterCommit: AfterCommit;
  queues: TaskQueue;
}

export class TaskLifecycle {
  /**
   * Starts (and finishes) of any tenants that arrive while one start (finish) statement runs go
   * together in the next; if that statement fails, each runs again alone.
   */
  private readonly starts: Coalescer<{ tenantId: string; taskId: string }, store.Changed | null>;
  private readonly finishes: Coalescer<store.TenantFinish, store.Changed | null>;

  constructor(private readonly deps: LifecycleDeps) {
    this.starts = new Coalescer((items) => store.startTasks(deps.pool, items), { eachAloneOnError: true });
    this.finishes = new Coalescer((items) => store.finishTasks(deps.pool, items), { eachAloneOnError: true });
  }

  /**
   * Worker: takes the task to working; null when it was cancelled or finished meanwhile. Start and
   * progress touch only their task's rows, so they run beside the tenant's group commit rather than
   * in it, and commit without waiting for the WAL flush: lost in a database crash, they are written
   * again when the job re-runs. Starts of all tenants share one statement (task-store startTasks).
   */
  async start(tenantId: string, taskId: string): Promise<Task | null> {
    const r = await this.starts.run({ tenantId, taskId });
    if (!r) return null;
    this.deps.live.publish(r.event).catch(() => undefined);
    return r.task;
  }

  async progress(tenantId: string, taskId: string, percent: number, message: string | null): Promise<void> {
    const event = await withTenant(this.deps.pool, tenantId, (tx) => store.recordProgress(tx, taskId, percent, message), { asyncCommit: true });
    if (event) this.deps.live.publish(event).catch(() => undefined);
  }

  /** Finishes a task for the worker or the SLA sweeper; null when its state no longer allows it (a late result after a cancel). */
  finish(tenantId: string, taskId: string, outcome: Outcome): Promise<Task | null> {
    return this.finishAs(tenantId, taskId, outcome, {});
  }

  /** A cancel asked for by a caller: 404 for a task it cannot see, 409 for one already finished. */
  async cancel(caller: Caller, agentId: string, taskId: string, reason: string): Promise<Task> {
    requireAgent(this.deps.registry, agentId);
    requireTaskId(taskId);
    const finished = await this.finishAs(caller.tenantId, taskId, { status: "cancelled", error: { code: "cancelled", message: reason } }, { callingAgent: caller.agentId, agentId });
    if (!finished) {
      const now = await withTenant(this.deps.pool, caller.tenantId, (tx) => store.getTask(tx, agentId, taskId));
      if (!now) throw notFound(`task "${taskId}"`);
      throw conflict(`task is ${now.status} and can no longer be cancelled`, { status: now.status });
    }
    this.deps.live.publishCancel(taskId, reason).catch(() => undefined);
    // Best effort: a job left behind finds its task cancelled and is dropped by the worker.
    await this.deps.queues.remove(agentId, taskId).catch(() => undefined);
    return finished;
  }

  private async finishAs(tenantId: string, taskId: string, outcome: Outcome, who: { callingAgent?: string; agentId?: string }): Promise<Task | null> {
    const finish: store.Finish = {
      status: outcome.status,
      outputs: outcome.status === "completed" ? outcome.outputs : undefined,
      error: outcome.status === "completed" ? undefined : outcome.error,
      creditsUsedMilli: outcome.creditsUsedMilli ?? 0n,
      auditEvent: AUDIT_FOR[outcome.status],
      callingAgent: who.callingAgent,
      durationMs: outcome.durationMs,
      agentId: who.agentId,
    };
    const r = await this.finishes.run({ tenantId, taskId, finish });
    if (!r) return null;
    this.deps.live.publish({ ...r.event, final: finalStateOf(r.task) }).catch(() => undefined);
    await this.deps.afterCommit.emit("finished", { task: r.task });
    return r.task;
  }
}
