/**
 * The task service: create, get, list, cancel and finish tasks. One service behind both faces (REST
 * now, A2A later). Each state change is one tenant transaction {transition, credits, event, audit};
 * the event is published and the job enqueued only after the commit.
 */
import { randomUUID } from "node:crypto";
import type { Pool } from "pg";
import type { AgentRegistry, RegisteredCapability } from "../protocol/registry";
import { estimateCostMilli } from "../protocol/agent-card";
import { milliToCredits } from "../protocol/credits";
import { isTaskState, type TaskState } from "../protocol/task-states";
import { withTenant, isUuid, type TenantTx } from "../store/tenant-tx";
import * as store from "./task-store";
import { appendAudit, type AuditEventType } from "./audit";
import { ServiceError, conflict, forbidden, insufficientCredits, invalidInput, notFound } from "./errors";
import type { RedisEventBus } from "./event-bus";
import type { TaskQueues } from "../queue/queues";

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
}

export interface Logger {
  warn(obj: Record<string, unknown>, msg: string): void;
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

export class TaskService {
  constructor(
    private readonly pool: Pool,
    private readonly registry: AgentRegistry,
    private readonly queues: TaskQueues,
    private readonly events: RedisEventBus,
    private readonly log: Logger,
  ) {}

  capabilityOf(agentId: string, type: string): RegisteredCapability {
    const card = this.registry.card(agentId);
    if (!card) throw notFound(`agent "${agentId}"`);
    const cap = this.registry.capability(agentId, type);
    if (!cap) throw notFound(`capability "${type}" of agent "${agentId}"`, { capabilities: card.capabilities.map((c) => c.name) });
    return cap;
  }

  async createTask(caller: Caller, agentId: string, body: CreateTaskBody): Promise<{ task: store.TaskView; created: boolean }> {
    const card = this.registry.card(agentId);
    if (!card) throw notFound(`agent "${agentId}"`);
    if (card.status === "maintenance" || card.status === "retired") {
      throw new ServiceError(503, "agent_unavailable", `agent "${agentId}" is ${card.status}`);
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) throw invalidInput("request body must be a JSON object", { errors: [{ path: "/", message: "must be object" }] });
    if (typeof body.type !== "string" || !body.type) throw invalidInput("type is required", { errors: [{ path: "/type", message: "must be a capability name" }] });
    const cap = this.capabilityOf(agentId, body.type);
    const inputs = body.inputs === undefined ? {} : body.inputs;
    if (inputs === null || typeof inputs !== "object" || Array.isArray(inputs)) {
      throw invalidInput("inputs must be an object", { errors: [{ path: "/inputs", message: "must be object" }] });
    }
    const priority = body.priority === undefined ? 5 : body.priority;
    if (!Number.isInteger(priority) || (priority as number) < 1 || (priority as number) > 10) {
      throw invalidInput("priority must be an integer from 1 to 10", { errors: [{ path: "/priority", message: "must be integer 1..10" }] });
    }
    const key = body.idempotencyKey;
    if (key !== undefined && (typeof key !== "string" || key.length < 1 || key.length > 200)) {
      throw invalidInput("idempotencyKey must be a string of 1 to 200 characters", { errors: [{ path: "/idempotencyKey", message: "must be string(1..200)" }] });
    }
    const callbackUrl = body.callbackUrl;
    if (callbackUrl !== undefined && (typeof callbackUrl !== "string" || !/^https?:\/\//.test(callbackUrl))) {
      throw invalidInput("callbackUrl must be an http(s) URL", { errors: [{ path: "/callbackUrl", message: "must be http(s) URL" }] });
    }
    const named = [body.tenantId, (inputs as Record<string, unknown>).tenantId].filter((t) => t !== undefined);
    if (named.some((t) => t !== caller.tenantId)) {
      await this.auditRefusal(caller, agentId, "tenant_mismatch", "request names another tenant than its token", { namedTenant: String(named.find((t) => t !== caller.tenantId)) });
      throw forbidden("the request names another tenant than its token");
    }
    const schemaIssues = cap.validateInputs(inputs);
    if (schemaIssues.length) {
      throw invalidInput(`inputs do not match the ${body.type} schema: ${schemaIssues[0].path} ${schemaIssues[0].message}`, {
        errors: schemaIssues.map((i) => ({ ...i, path: `/inputs${i.path === "/" ? "" : i.path}` })),
      });
    }

    const cost = estimateCostMilli(cap.capability, inputs as Record<string, unknown>);
    const inputHash = store.hashJson(inputs);
    const taskId = randomUUID();
    const result = await withTenant(this.pool, caller.tenantId, async (tx) => {
      const { row, created } = await store.insertTask(tx, {
        id: taskId,
        agentId,
        type: body.type as string,
        priority: priority as number,
        inputs: inputs as Record<string, unknown>,
        idempotencyKey: (key as string | undefined) ?? null,
        reservedMilli: cost,
        callingAgent: caller.agentId,
        callbackUrl: (callbackUrl as string | undefined) ?? null,
      });
      if (!created) {
        if (row.type !== body.type || store.hashJson(row.inputs) !== inputHash) {
          throw new ServiceError(409, "idempotency_key_reused", "idempotencyKey was already used for a different request", { taskId: row.id });
        }
        return { row, created, event: null };
      }
      const reserved = await store.reserveCredits(tx, taskId, cost);
      if (!reserved.ok) throw insufficientCredits(milliToCredits(cost), milliToCredits(reserved.balance));
      const event = await store.insertEvent(tx, taskId, "status", { status: "submitted", progress: 0 });
      await appendAudit(tx, {
        eventType: "task_created",
        callingAgent: caller.agentId,
        targetAgent: agentId,
        taskId,
        ip: caller.ip,
        userAgent: caller.userAgent,
        inputHash,
        creditsMilli: cost,
        details: { type: body.type, priority },
      });
      return { row, created, event };
    });

    if (result.created) {
      try {
        await this.queues.enqueue({ taskId, tenantId: caller.tenantId, agentId, type: body.type }, priority as number);
      } catch (e) {
        // The task is committed; the reconciler enqueues it once Redis answers again.
        this.log.warn({ taskId, err: (e as Error).message }, "enqueue failed; the reconciler will retry");
      }
      if (result.event) this.events.publish(result.event).catch(() => undefined);
    }
    return { task: store.toView(result.row), created: result.created };
  }

  async getTask(caller: Caller, agentId: string, taskId: string): Promise<store.TaskView> {
    this.requireAgent(agentId);
    if (!isUuid(taskId)) throw notFound(`task "${taskId}"`);
    const row = await withTenant(this.pool, caller.tenantId, (tx) => store.getTask(tx, agentId, taskId));
    if (!row) throw notFound(`task "${taskId}"`);
    return store.toView(row);
  }

  async listTasks(
    caller: Caller,
    agentId: string,
    query: { status?: unknown; type?: unknown; limit?: unknown; cursor?: unknown },
  ): Promise<{ tasks: store.TaskView[]; nextCursor: string | null }> {
    this.requireAgent(agentId);
    if (query.status !== undefined && !isTaskState(query.status)) throw invalidInput(`status must be one of submitted, working, completed, failed, cancelled, timeout`, { errors: [{ path: "status", message: "unknown status" }] });
    const limit = query.limit === undefined ? 50 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) throw invalidInput("limit must be an integer from 1 to 500", { errors: [{ path: "limit", message: "must be 1..500" }] });
    let after: store.ListQuery["after"];
    if (query.cursor !== undefined) {
      after = decodeCursor(query.cursor);
      if (!after) throw invalidInput("cursor is not one this API returned", { errors: [{ path: "cursor", message: "invalid cursor" }] });
    }
    const rows = await withTenant(this.pool, caller.tenantId, (tx) =>
      store.listTasks(tx, { agentId, status: query.status as TaskState | undefined, type: typeof query.type === "string" ? query.type : undefined, limit: limit + 1, after }),
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      tasks: page.map(store.toView),
      nextCursor: rows.length > limit && last ? encodeCursor(last.cursor_ts, last.id) : null,
    };
  }

  async cancelTask(caller: Caller, agentId: string, taskId: string, reason = "cancelled by request"): Promise<store.TaskView> {
    this.requireAgent(agentId);
    if (!isUuid(taskId)) throw notFound(`task "${taskId}"`);
    const row = await withTenant(this.pool, caller.tenantId, async (tx) => {
      const current = await store.getTask(tx, agentId, taskId);
      if (!current) throw notFound(`task "${taskId}"`);
      const finished = await this.finishInTx(tx, current.id, { status: "cancelled", error: { code: "cancelled", message: reason } }, caller.agentId);
      if (!finished) {
        const now = await store.getTask(tx, agentId, taskId);
        throw conflict(`task is ${now?.status} and can no longer be cancelled`, { status: now?.status });
      }
      return finished;
    });
    this.events.publish(row.event).catch(() => undefined);
    this.events.publishCancel(taskId, reason).catch(() => undefined);
    // Best effort: a job left behind finds its task cancelled and is dropped by the worker.
    await this.queues.remove(agentId, taskId).catch(() => undefined);
    return store.toView(row.task);
  }

  /**
   * Finishes a task for the worker, the SLA sweeper or cancel: null when the task was no longer in a
   * state that allows it (e.g. a late result after a cancel), so nothing is charged twice.
   */
  async finish(tenantId: string, taskId: string, outcome: Outcome): Promise<store.TaskRow | null> {
    const result = await withTenant(this.pool, tenantId, (tx) => this.finishInTx(tx, taskId, outcome, null));
    if (result) this.events.publish(result.event).catch(() => undefined);
    return result?.task ?? null;
  }

  private async finishInTx(tx: TenantTx, taskId: string, outcome: Outcome, callingAgent: string | null): Promise<{ task: store.TaskRow; event: store.TaskEvent } | null> {
    const used = outcome.creditsUsedMilli ?? 0n;
    const task = await store.transition(tx, taskId, outcome.status, {
      outputs: outcome.status === "completed" ? outcome.outputs : undefined,
      error: outcome.status === "completed" ? undefined : outcome.error,
      creditsUsedMilli: used,
      progress: outcome.status === "completed" ? 100 : undefined,
    });
    if (!task) return null;
    const reserved = BigInt(task.credits_reserved_milli);
    const charged = used > reserved ? reserved : used;
    await store.settleCredits(tx, taskId, reserved, charged);
    if (charged !== used) task.credits_used_milli = charged.toString();
    const event = await store.insertEvent(tx, taskId, "status", {
      status: task.status,
      progress: task.progress,
      ...(outcome.status === "completed" ? {} : { error: outcome.error }),
    });
    await appendAudit(tx, {
      eventType: AUDIT_FOR[outcome.status],
      callingAgent: callingAgent ?? task.calling_agent,
      targetAgent: task.agent_id,
      taskId,
      inputHash: store.hashJson(task.inputs),
      outputHash: outcome.status === "completed" ? store.hashJson(outcome.outputs) : null,
      durationMs: outcome.durationMs ?? null,
      creditsMilli: charged,
      error: outcome.status === "completed" ? null : `${outcome.error.code}: ${outcome.error.message}`,
    });
    return { task, event };
  }

  async auditRefusal(caller: Caller, agentId: string, eventType: AuditEventType, error: string, details?: Record<string, unknown>): Promise<void> {
    await withTenant(this.pool, caller.tenantId, (tx) =>
      appendAudit(tx, { eventType, callingAgent: caller.agentId, targetAgent: agentId, ip: caller.ip, userAgent: caller.userAgent, error, details }),
    ).catch((e) => this.log.warn({ err: (e as Error).message }, "could not audit a refused request"));
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
