/**
 * The task service: create, get, list, start, report progress, finish and cancel tasks. One service
 * behind both faces (REST now, A2A later). Each state change is one statement {transition, credits,
 * event, audit} run through the tenant's group commit; the event is published and the job enqueued
 * only after the commit.
 */
import { randomUUID } from "node:crypto";
import type { Pool } from "pg";
import type { AgentRegistry, RegisteredCapability } from "../protocol/registry";
import { estimateCostMilli, needsTenantLeadCount, type Capability } from "../protocol/agent-card";
import { milliToCredits } from "../protocol/credits";
import { isTaskState, type TaskState } from "../protocol/task-states";
import { withTenant } from "../store/tenant-tx";
import { isUuid } from "../lib/uuid";
import { TenantBatcher } from "../store/tenant-batcher";
import * as store from "./task-store";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, readResultPage, type ResultPage } from "./result-sets";
import type { ResultSetSummary } from "../protocol/agent-contract";
import { appendAnonymousAudit, appendAudit, type AuditEventType } from "./audit";
import { ServiceError, conflict, forbidden, insufficientCredits, invalidInput, notFound, unavailable } from "./errors";
import type { RedisEventBus } from "./event-bus";
import type { TaskQueue } from "./task-queue";
import { readTenantSettings } from "./tenants";
import { readEnvelope } from "./task-envelope";

export interface Caller {
  tenantId: string;
  agentId: string;
  scopes: string[];
  ip?: string | null;
  userAgent?: string | null;
}

export interface CreateTaskBody {
  type?: unknown;
  inputs?: unknown;
  priority?: unknown;
  idempotencyKey?: unknown;
  callbackUrl?: unknown;
  tenantId?: unknown;
  /** The design document's create fields: the agent again (it must be the one addressed), free-form metadata, an instance hint. */
  targetAgentId?: unknown;
  metadata?: unknown;
  instanceId?: unknown;
}

/** Counts a price depends on: a whole-tenant run is priced on the tenant's live leads. */
export interface PricingCounts {
  tenantLeads(tenantId: string): Promise<number>;
}

/** A task's event stream as openStream opens it. */
export interface TaskStream {
  /** The task as it was read. */
  task: store.TaskView;
  /** The id of its newest event when it was read. */
  lastId: string;
  /** With resumeFrom: the events after that id, in order. */
  missed: store.TaskEvent[];
  /** Delivers the events that arrived meanwhile, then every new one as it comes. */
  start(): void;
  close(): void;
}

/** What the A2A face adds to a create: its own task id, the conversation, and the message. */
export interface A2ACreateOptions {
  taskId?: string;
  contextId?: string;
  message?: Record<string, unknown>;
  /** Leave the task unqueued: the A2A executor enqueues it once its event stream listens. */
  deferEnqueue?: boolean;
}

export interface ListTasksQuery {
  status?: unknown;
  /** Several states at once (the A2A face: FAILED is our failed and timeout). */
  statuses?: TaskState[];
  type?: unknown;
  limit?: unknown;
  cursor?: unknown;
  contextId?: unknown;
  updatedAfter?: unknown;
  /** Also count all matching tasks (A2A ListTasks reports totalSize). */
  withTotal?: boolean;
}

export interface Logger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

/**
 * Told about tasks after their transaction committed: metrics, webhooks and push notifications hang
 * here. Observers must not throw (they are called without awaiting) and must not block.
 */
export interface TaskObserver {
  onCreated?(task: store.TaskRow): void;
  onStarted?(task: store.TaskRow): void;
  onFinished?(task: store.TaskRow): void;
}

export type Outcome =
  | { status: "completed"; outputs: Record<string, unknown>; creditsUsedMilli: bigint; durationMs?: number }
  | { status: "failed" | "timeout" | "cancelled"; error: { code: string; message: string }; creditsUsedMilli?: bigint; durationMs?: number };

const AUDIT_FOR: Record<Outcome["status"], AuditEventType> = {
  completed: "task_completed",
  failed: "task_failed",
  timeout: "task_timeout",
  cancelled: "task_cancelled",
};

const idempotencyConflict = () =>
  new ServiceError(409, "idempotency_conflict", "a concurrent request with the same idempotencyKey is in flight; retry it");

type FinishItem = { taskId: string; finish: store.Finish };
const CREATE = { kind: "create", runMany: store.createTasks } as const;
const FINISH = { kind: "finish", runMany: store.finishTasks } as const;

export class TaskService {
  private readonly batcher: TenantBatcher;
  private readonly observers: TaskObserver[] = [];

  constructor(
    private readonly pool: Pool,
    private readonly registry: AgentRegistry,
    private readonly queues: TaskQueue,
    private readonly events: RedisEventBus,
    private readonly log: Logger,
    /** What pricing needs to know of a tenant's data, asked of whoever holds it (the leads, in stack.ts). */
    private readonly counts: PricingCounts,
  ) {
    this.batcher = new TenantBatcher(pool);
  }

  observe(observer: TaskObserver): void {
    this.observers.push(observer);
  }

  private notify(hook: keyof TaskObserver, task: store.TaskRow): void {
    for (const o of this.observers) {
      try {
        o[hook]?.(task);
      } catch (e) {
        this.log.warn({ err: (e as Error).message, hook }, "task observer failed");
      }
    }
  }

  capabilityOf(agentId: string, type: string): RegisteredCapability {
    const card = this.registry.card(agentId);
    if (!card) throw notFound(`agent "${agentId}"`);
    const cap = this.registry.capability(agentId, type);
    if (!cap) throw notFound(`capability "${type}" of agent "${agentId}"`, { capabilities: card.capabilities.map((c) => c.name) });
    return cap;
  }

  async createTask(caller: Caller, agentId: string, body: CreateTaskBody, a2a: A2ACreateOptions = {}): Promise<{ task: store.TaskView; created: boolean }> {
    const { row, created } = await this.createTaskRow(caller, agentId, body, a2a);
    return { task: store.toView(row), created };
  }

  /**
   * Omitted inputs the card takes from a tenant setting (tenantDefaults), else from the schema's
   * default; written into the inputs, so the stored task shows what it ran with.
   */
  private async fillTenantDefaults(caller: Caller, capability: Capability, inputs: Record<string, unknown>): Promise<void> {
    const missing = Object.entries(capability.tenantDefaults ?? {}).filter(([input]) => inputs[input] === undefined);
    if (!missing.length) return;
    const settings = (await withTenant(this.pool, caller.tenantId, (tx) => readTenantSettings(tx))) as Record<string, unknown>;
    const properties = capability.inputSchema.properties as Record<string, { default?: unknown }>;
    for (const [input, setting] of missing) {
      if (settings[setting] === false) {
        throw invalidInput(`inputs.${input} is required: this tenant has turned off the default (${setting})`, { errors: [{ path: `/inputs/${input}`, message: `required (tenant setting ${setting} is false)` }] });
      }
      const value = settings[setting] ?? properties[input]?.default;
      if (value !== undefined) inputs[input] = structuredClone(value);
    }
  }

  /** The create behind both faces; the A2A face passes its task id, context and message. */
  async createTaskRow(caller: Caller, agentId: string, body: CreateTaskBody, a2a: A2ACreateOptions = {}): Promise<{ row: store.TaskRow; created: boolean }> {
    const card = this.registry.card(agentId);
    if (!card) throw notFound(`agent "${agentId}"`);
    if (card.status === "maintenance" || card.status === "retired") {
      throw new ServiceError(503, "agent_unavailable", `agent "${agentId}" is ${card.status}`);
    }
    const { type, inputs, priority, idempotencyKey, callbackUrl, targetAgentId, tenantId, metadata } = readEnvelope(body);
    const cap = this.capabilityOf(agentId, type);
    if (targetAgentId !== undefined && this.registry.canonicalId(targetAgentId) !== agentId) {
      throw invalidInput(`targetAgentId must name the agent addressed (${agentId} or ${card.alias})`, { errors: [{ path: "/targetAgentId", message: `must be ${card.alias}` }] });
    }
    const named = [tenantId, inputs.tenantId].filter((t) => t !== undefined);
    if (named.some((t) => t !== caller.tenantId)) {
      await this.auditRefusal(caller, agentId, "tenant_mismatch", "request names another tenant than its token", { namedTenant: String(named.find((t) => t !== caller.tenantId)) });
      throw forbidden("the request names another tenant than its token");
    }
    await this.fillTenantDefaults(caller, cap.capability, inputs);
    const schemaIssues = cap.validateInputs(inputs);
    if (schemaIssues.length) {
      const errors = schemaIssues.map((i) => ({ ...i, path: `/inputs${i.path === "/" ? "" : i.path}` }));
      throw invalidInput(`inputs do not match the ${type} schema: ${errors[0].path} ${errors[0].message}`, { errors });
    }

    // A whole-tenant run (its per-lead list omitted) is priced on the tenant's live leads.
    const tenantLeads = needsTenantLeadCount(cap.capability, inputs) ? await this.counts.tenantLeads(caller.tenantId) : undefined;
    const cost = estimateCostMilli(cap.capability, inputs, tenantLeads);
    const newTask: store.NewTask = {
      id: a2a.taskId ?? randomUUID(),
      agentId,
      type,
      priority,
      inputs,
      idempotencyKey,
      reservedMilli: cost,
      callingAgent: caller.agentId,
      callbackUrl,
      ip: caller.ip ?? null,
      userAgent: caller.userAgent ?? null,
      contextId: a2a.contextId ?? null,
      a2aMessage: a2a.message ?? null,
      metadata,
    };
    let outcome: store.CreateOutcome;
    try {
      outcome = await this.batcher.run(caller.tenantId, { ...CREATE, item: newTask });
    } catch (e) {
      if (e instanceof store.IdempotencyRace) throw idempotencyConflict();
      throw e;
    }

    switch (outcome.kind) {
      case "no_tenant":
        // A correctly signed token for a tenant that does not exist (deleted, or minted by mistake).
        await this.auditRefusal(caller, agentId, "unauthorized_access", "the token's tenant does not exist");
        throw new ServiceError(403, "unknown_tenant", "the token's tenant does not exist");
      case "insufficient":
        throw insufficientCredits(milliToCredits(cost), milliToCredits(outcome.balance));
      case "existing":
        if (!outcome.sameRequest) {
          throw new ServiceError(409, "idempotency_key_reused", "idempotencyKey was already used for a different request", { taskId: outcome.row.id });
        }
        return { row: outcome.row, created: false };
      case "created":
        if (!a2a.deferEnqueue) await this.enqueue(outcome.row);
        this.events.publish(outcome.event).catch(() => undefined);
        this.notify("onCreated", outcome.row);
        return { row: outcome.row, created: true };
    }
  }

  /**
   * Puts a created task on its queue. Idempotent by job id; if Redis does not answer, the task stays
   * submitted and the reconciler enqueues it later.
   */
  async enqueue(row: store.TaskRow): Promise<void> {
    try {
      await this.queues.enqueue({ taskId: row.id, tenantId: row.tenant_id, agentId: row.agent_id, type: row.type }, row.priority);
    } catch (e) {
      this.log.warn({ taskId: row.id, err: (e as Error).message }, "enqueue failed; the reconciler will retry");
    }
  }

  async getTask(caller: Caller, agentId: string, taskId: string): Promise<store.TaskView> {
    return store.toView(await this.getTaskRow(caller, agentId, taskId));
  }

  /** A task by its id alone (the design document's clients know only taskId); 404 for other tenants'. */
  async getTaskById(caller: Caller, taskId: string): Promise<store.TaskView> {
    if (!isUuid(taskId)) throw notFound(`task "${taskId}"`);
    const row = await withTenant(this.pool, caller.tenantId, (tx) => store.getTaskById(tx, taskId));
    if (!row) throw notFound(`task "${taskId}"`);
    return store.toView(row);
  }

  /**
   * What an event stream of a task starts from: subscribed to its live events first (held back
   * until `start`), then in one read the task and the id of its newest event, or with `resumeFrom`
   * every event after that id. The newest id is read before the task, so the state is never older
   * than it; read the other way round, an event committed in between would be in neither.
   * 404 for another tenant's or an unknown task, 503 when Redis cannot subscribe.
   */
  async openStream(caller: Caller, agentId: string, taskId: string, resumeFrom: string | undefined, onEvent: (e: store.TaskEvent) => void): Promise<TaskStream> {
    this.requireAgent(agentId);
    if (!isUuid(taskId)) throw notFound(`task "${taskId}"`);
    const held: store.TaskEvent[] = [];
    let live = false;
    let unsubscribe: () => void;
    try {
      unsubscribe = await this.events.subscribe(taskId, (e) => (live ? onEvent(e) : held.push(e)));
    } catch (e) {
      throw unavailable("redis", e);
    }
    try {
      const read = await withTenant(this.pool, caller.tenantId, async (tx) => {
        const lastId = await store.lastEventId(tx, taskId);
        const missed = resumeFrom ? await store.eventsAfter(tx, taskId, resumeFrom) : [];
        return { lastId, missed, row: await store.getTask(tx, agentId, taskId) };
      });
      if (!read.row) throw notFound(`task "${taskId}"`);
      return {
        task: store.toView(read.row),
        lastId: read.lastId,
        missed: read.missed,
        start() {
          live = true;
          for (const e of held.splice(0)) onEvent(e);
        },
        close: unsubscribe,
      };
    } catch (e) {
      unsubscribe();
      throw e;
    }
  }

  async getTaskRow(caller: Caller, agentId: string, taskId: string): Promise<store.TaskRow> {
    this.requireAgent(agentId);
    if (!isUuid(taskId)) throw notFound(`task "${taskId}"`);
    const row = await withTenant(this.pool, caller.tenantId, (tx) => store.getTask(tx, agentId, taskId));
    if (!row) throw notFound(`task "${taskId}"`);
    return row;
  }

  async listTasks(caller: Caller, agentId: string, query: ListTasksQuery): Promise<{ tasks: store.TaskView[]; nextCursor: string | null }> {
    const { rows, nextCursor } = await this.listTaskRows(caller, agentId, query);
    return { tasks: rows.map(store.toView), nextCursor };
  }

  async listTaskRows(caller: Caller, agentId: string, query: ListTasksQuery): Promise<{ rows: store.TaskRow[]; nextCursor: string | null; total?: number }> {
    this.requireAgent(agentId);
    if (query.status !== undefined && !isTaskState(query.status)) throw invalidInput(`status must be one of submitted, working, completed, failed, cancelled, timeout`, { errors: [{ path: "status", message: "unknown status" }] });
    const limit = query.limit === undefined ? 50 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw invalidInput("limit must be an integer from 1 to 500", { errors: [{ path: "limit", message: "must be 1..500" }] });
    let after: store.ListQuery["after"];
    if (query.cursor !== undefined) {
      after = decodeCursor(query.cursor);
      if (!after) throw invalidInput("cursor is not one this API returned", { errors: [{ path: "cursor", message: "invalid cursor" }] });
    }
    if (query.updatedAfter !== undefined && (typeof query.updatedAfter !== "string" || Number.isNaN(Date.parse(query.updatedAfter)))) {
      throw invalidInput("updatedAfter must be an ISO 8601 instant", { errors: [{ path: "updatedAfter", message: "must be ISO 8601" }] });
    }
    const filter = {
      agentId,
      statuses: query.statuses ?? (query.status ? [query.status as TaskState] : undefined),
      type: typeof query.type === "string" ? query.type : undefined,
      contextId: typeof query.contextId === "string" && query.contextId ? query.contextId : undefined,
      updatedAfter: query.updatedAfter as string | undefined,
    };
    const { rows, total } = await withTenant(this.pool, caller.tenantId, async (tx) => ({
      rows: await store.listTasks(tx, { ...filter, limit: limit + 1, after }),
      total: query.withTotal ? await store.countTasks(tx, filter) : undefined,
    }));
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      rows: page,
      nextCursor: rows.length > limit && last ? encodeCursor(last.cursor_ts, last.id) : null,
      total,
    };
  }

  /**
   * A page of a completed task's result set (outputs.resultSet); 404 when the task has none, 409
   * while it has not completed.
   */
  async getResults(caller: Caller, agentId: string, taskId: string, query: { cursor?: unknown; limit?: unknown }): Promise<ResultPage> {
    const limit = query.limit === undefined ? DEFAULT_PAGE_SIZE : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
      throw invalidInput(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}`, { errors: [{ path: "limit", message: `must be 1..${MAX_PAGE_SIZE}` }] });
    }
    if (query.cursor !== undefined && typeof query.cursor !== "string") throw invalidInput("cursor must be a string", { errors: [{ path: "cursor", message: "must be string" }] });
    const row = await this.getTaskRow(caller, agentId, taskId);
    if (row.status !== "completed") throw new ServiceError(409, "not_completed", `task ${taskId} is ${row.status}; its results can be read once it has completed`);
    const summary = row.outputs?.resultSet as ResultSetSummary | undefined;
    if (!summary) throw new ServiceError(404, "not_found", `task ${taskId} has no result set (its outputs hold the whole result)`);
    return withTenant(this.pool, caller.tenantId, (tx) => readResultPage(tx, taskId, summary.total, query.cursor as string | undefined, limit));
  }

  async cancelTask(caller: Caller, agentId: string, taskId: string, reason = "cancelled by request"): Promise<store.TaskView> {
    this.requireAgent(agentId);
    if (!isUuid(taskId)) throw notFound(`task "${taskId}"`);
    const finished = await this.finishAs(caller.tenantId, taskId, { status: "cancelled", error: { code: "cancelled", message: reason } }, { callingAgent: caller.agentId, agentId });
    if (!finished) {
      const now = await withTenant(this.pool, caller.tenantId, (tx) => store.getTask(tx, agentId, taskId));
      if (!now) throw notFound(`task "${taskId}"`);
      throw conflict(`task is ${now.status} and can no longer be cancelled`, { status: now.status });
    }
    this.events.publishCancel(taskId, reason).catch(() => undefined);
    // Best effort: a job left behind finds its task cancelled and is dropped by the worker.
    await this.queues.remove(agentId, taskId).catch(() => undefined);
    return store.toView(finished);
  }

  /**
   * Worker: takes the task to working; null when it was cancelled or finished meanwhile. Start and
   * progress touch only their task's rows, so they run in their own transactions, beside the
   * tenant's group commit rather than in it, and commit without waiting for the WAL flush: lost in
   * a database crash, they are written again when the job re-runs.
   */
  async start(tenantId: string, taskId: string): Promise<store.TaskRow | null> {
    const r = await withTenant(this.pool, tenantId, (tx) => store.startTask(tx, taskId), { asyncCommit: true });
    if (r) {
      this.events.publish(r.event).catch(() => undefined);
      this.notify("onStarted", r.row);
    }
    return r?.row ?? null;
  }

  /** Whether this database has the task (whatever its state): tells a job of ours from a stranger's. */
  async exists(tenantId: string, taskId: string): Promise<boolean> {
    return withTenant(this.pool, tenantId, async (tx) => !!(await tx.one("SELECT 1 FROM tasks WHERE id = $1", [taskId])));
  }

  async progress(tenantId: string, taskId: string, percent: number, message: string | null): Promise<void> {
    const event = await withTenant(this.pool, tenantId, (tx) => store.recordProgress(tx, taskId, percent, message), { asyncCommit: true });
    if (event) this.events.publish(event).catch(() => undefined);
  }

  /**
   * Finishes a task for the worker or the SLA sweeper: null when the task was no longer in a state
   * that allows it (e.g. a late result after a cancel), so nothing is charged twice.
   */
  async finish(tenantId: string, taskId: string, outcome: Outcome): Promise<store.TaskRow | null> {
    return this.finishAs(tenantId, taskId, outcome, {});
  }

  private async finishAs(tenantId: string, taskId: string, outcome: Outcome, who: { callingAgent?: string; agentId?: string }): Promise<store.TaskRow | null> {
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
    const r = await this.batcher.run<FinishItem, Awaited<ReturnType<typeof store.finishTasks>>[number]>(tenantId, { ...FINISH, item: { taskId, finish } });
    if (r) {
      this.events.publish(r.event).catch(() => undefined);
      this.notify("onFinished", r.row);
    }
    return r?.row ?? null;
  }

  /** Audits a refused request in the caller's tenant chain, or the anonymous one if that tenant does not exist. */
  async auditRefusal(caller: Caller, agentId: string, eventType: AuditEventType, error: string, details?: Record<string, unknown>): Promise<void> {
    const entry = { eventType, callingAgent: caller.agentId, targetAgent: agentId, ip: caller.ip, userAgent: caller.userAgent, error, details };
    try {
      const written = await withTenant(this.pool, caller.tenantId, async (tx) => {
        if (!(await tx.one("SELECT 1 FROM tenants WHERE id = $1", [caller.tenantId]))) return false;
        await appendAudit(tx, entry);
        return true;
      });
      if (!written) await appendAnonymousAudit(this.pool, { ...entry, details: { ...details, claimedTenant: caller.tenantId } });
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "could not audit a refused request");
    }
  }

  private requireAgent(agentId: string): void {
    if (!this.registry.card(agentId)) throw notFound(`agent "${agentId}"`);
  }
}

function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString("base64url");
}

function decodeCursor(cursor: unknown): { createdAt: string; id: string } | undefined {
  if (typeof cursor !== "string") return undefined;
  try {
    const [createdAt, id] = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as [string, string];
    if (typeof createdAt !== "string" || Number.isNaN(Date.parse(createdAt)) || !isUuid(id)) return undefined;
    return { createdAt, id };
  } catch {
    return undefined;
  }
}
