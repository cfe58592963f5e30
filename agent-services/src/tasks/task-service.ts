/**
 * The task service: one object behind both faces (REST and A2A) and the workers. It composes the
 * parts, each in its own module: creation (task-creation.ts, with pricing.ts), the lifecycle
 * (task-lifecycle.ts) and reads (task-reads.ts). What follows a committed change (enqueueing,
 * metrics, webhooks) subscribes to `afterCommit`, in stack.ts.
 */
import type { Pool } from "pg";
import type { AgentRegistry } from "../protocol/registry";
import type { Task, TaskEvent } from "../protocol/task";
import type { Caller } from "./addressing";
import { AfterCommit } from "./after-commit";
import type { WarnLogger } from "../lib/logger";
import { auditRefusal, type AuditEventType } from "./audit";
import type { RedisEventBus } from "./event-bus";
import type { PricingCounts } from "./pricing";
import type { ResultPage } from "./result-sets";
import { TaskCreation, type A2ACreateOptions, type CreateTaskBody } from "./task-creation";
import { TaskLifecycle, type Outcome } from "./task-lifecycle";
import type { TaskQueue } from "./task-queue";
import { TaskReads, type ListTasksQuery, type TaskStream } from "./task-reads";

export type { Caller } from "./addressing";
export type { A2ACreateOptions, CreateTaskBody } from "./task-creation";
export type { Outcome } from "./task-lifecycle";
export type { ListTasksQuery, TaskStream } from "./task-reads";
export type { PricingCounts } from "./pricing";

export class TaskService {
  /** Subscribe here to what follows a committed change: created, started, finished. */
  readonly afterCommit: AfterCommit;
  private readonly creation: TaskCreation;
  private readonly lifecycle: TaskLifecycle;
  private readonly reads: TaskReads;

  constructor(
    private readonly pool: Pool,
    registry: AgentRegistry,
    private readonly queues: TaskQueue,
    live: RedisEventBus,
    private readonly log: WarnLogger,
    /** What pricing needs to know of a tenant's data, asked of whoever holds it (the leads, in stack.ts). */
    counts: PricingCounts,
  ) {
    this.afterCommit = new AfterCommit(log);
    this.creation = new TaskCreation({ pool, registry, live, afterCommit: this.afterCommit, counts, log });
    this.lifecycle = new TaskLifecycle({ pool, registry, live, afterCommit: this.afterCommit, queues });
    this.reads = new TaskReads({ pool, registry, live });
  }

  createTask(caller: Caller, agentId: string, body: CreateTaskBody, a2a?: A2ACreateOptions): Promise<{ task: Task; created: boolean }> {
    return this.creation.create(caller, agentId, body, a2a);
  }

  /**
   * The A2A face answered a caller with this task waiting in input-required (after storing any push
   * config the message gave): its push configs hear of it (the `awaitingInput` subscribers).
   */
  announceAwaitingInput(task: Task): Promise<void> {
    return this.afterCommit.emit("awaitingInput", { task });
  }

  /** An A2A task that asks its caller for the skill or inputs it needs (input-required); see TaskCreation. */
  createAwaitingInput(...args: Parameters<TaskCreation["createAwaitingInput"]>): Promise<Task> {
    return this.creation.createAwaitingInput(...args);
  }

  /**
   * Puts a created task on its queue; idempotent by job id. The `created` subscriber in stack.ts
   * calls it, and the A2A executor for a create it deferred. If Redis does not answer, the task
   * stays submitted and the reconciler enqueues it later.
   */
  async enqueue(task: Task): Promise<void> {
    try {
      await this.queues.enqueue({ taskId: task.id, tenantId: task.tenantId, agentId: task.agentId, type: task.type }, task.priority);
    } catch (e) {
      this.log.warn({ taskId: task.id, err: (e as Error).message }, "enqueue failed; the reconciler will retry");
    }
  }

  getTask(caller: Caller, agentId: string, taskId: string): Promise<Task> {
    return this.reads.get(caller, agentId, taskId);
  }

  getTaskById(caller: Caller, taskId: string): Promise<Task> {
    return this.reads.getById(caller, taskId);
  }

  listTasks(caller: Caller, agentId: string, query: ListTasksQuery): Promise<{ tasks: Task[]; nextCursor: string | null; total?: number }> {
    return this.reads.list(caller, agentId, query);
  }

  getResults(caller: Caller, agentId: string, taskId: string, query: { cursor?: unknown; limit?: unknown }): Promise<ResultPage> {
    return this.reads.results(caller, agentId, taskId, query);
  }

  openStream(caller: Caller, agentId: string, taskId: string, resumeFrom: string | undefined, onEvent: (e: TaskEvent) => void): Promise<TaskStream> {
    return this.reads.openStream(caller, agentId, taskId, resumeFrom, onEvent);
  }

  exists(tenantId: string, taskId: string): Promise<boolean> {
    return this.reads.exists(tenantId, taskId);
  }

  cancelTask(caller: Caller, agentId: string, taskId: string, reason = "cancelled by request"): Promise<Task> {
    return this.lifecycle.cancel(caller, agentId, taskId, reason);
  }

  start(tenantId: string, taskId: string): Promise<Task | null> {
    return this.lifecycle.start(tenantId, taskId);
  }

  progress(tenantId: string, taskId: string, percent: number, message: string | null): Promise<void> {
    return this.lifecycle.progress(tenantId, taskId, percent, message);
  }

  finish(tenantId: string, taskId: string, outcome: Outcome): Promise<Task | null> {
    return this.lifecycle.finish(tenantId, taskId, outcome);
  }

  /** Audits a refused request (the gateway's auth and tenant checks). */
  auditRefusal(caller: Caller, agentId: string, eventType: AuditEventType, error: string, details?: Record<string, unknown>): Promise<void> {
    return auditRefusal(this.pool, this.log, caller, agentId, eventType, error, details);
  }
}
