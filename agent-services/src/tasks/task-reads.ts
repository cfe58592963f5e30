/**
 * Reading tasks: one, a filtered page of them, a page of a completed task's result set, and a
 * task's event stream. Every read runs in the caller's tenant transaction, so row-level security
 * answers another tenant's task as not found.
 */
import type { Pool } from "pg";
import type { ResultSetSummary } from "../protocol/agent-contract";
import type { AgentRegistry } from "../protocol/registry";
import type { Task, TaskEvent } from "../protocol/task";
import { isTaskState, type TaskState } from "../protocol/task-states";
import { isUuid } from "../lib/uuid";
import { withTenant } from "../store/tenant-tx";
import { requireAgent, requireTaskId, type Caller } from "./addressing";
import { ServiceError, invalidInput, notFound, unavailable } from "./errors";
import type { RedisEventBus } from "./event-bus";
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, readResultPage, type ResultPage } from "./result-sets";
import * as store from "./task-store";

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

/** A task's event stream as openStream opens it. */
export interface TaskStream {
  /** The task as it was read. */
  task: Task;
  /** The id of its newest event when it was read. */
  lastId: string;
  /** With resumeFrom: the events after that id, in order. */
  missed: TaskEvent[];
  /** Delivers the events that arrived meanwhile, then every new one as it comes. */
  start(): void;
  close(): void;
}

export class TaskReads {
  constructor(private readonly deps: { pool: Pool; registry: AgentRegistry; live: RedisEventBus }) {}

  async get(caller: Caller, agentId: string, taskId: string): Promise<Task> {
    requireAgent(this.deps.registry, agentId);
    requireTaskId(taskId);
    const task = await withTenant(this.deps.pool, caller.tenantId, (tx) => store.getTask(tx, agentId, taskId));
    if (!task) throw notFound(`task "${taskId}"`);
    return task;
  }

  /** A task by its id alone (the design document's clients know only taskId); 404 for other tenants'. */
  async getById(caller: Caller, taskId: string): Promise<Task> {
    requireTaskId(taskId);
    const task = await withTenant(this.deps.pool, caller.tenantId, (tx) => store.getTaskById(tx, taskId));
    if (!task) throw notFound(`task "${taskId}"`);
    return task;
  }

  /** Whether this database has the task (whatever its state): tells a job of ours from a stranger's. */
  async exists(tenantId: string, taskId: string): Promise<boolean> {
    return withTenant(this.deps.pool, tenantId, (tx) => store.taskExists(tx, taskId));
  }

  async list(caller: Caller, agentId: string, query: ListTasksQuery): Promise<{ tasks: Task[]; nextCursor: string | null; total?: number }> {
    requireAgent(this.deps.registry, agentId);
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
    const { listed, total } = await withTenant(this.deps.pool, caller.tenantId, async (tx) => ({
      listed: await store.listTasks(tx, { ...filter, limit: limit + 1, after }),
      total: query.withTotal ? await store.countTasks(tx, filter) : undefined,
    }));
    const page = listed.slice(0, limit);
    const last = page[page.length - 1];
    return {
      tasks: page.map((l) => l.task),
      nextCursor: listed.length > limit && last ? encodeCursor(last.cursor, last.task.id) : null,
      total,
    };
  }

  /**
   * A page of a completed task's result set (outputs.resultSet); 404 when the task has none, 409
   * while it has not completed.
   */
  async results(caller: Caller, agentId: string, taskId: string, query: { cursor?: unknown; limit?: unknown }): Promise<ResultPage> {
    const limit = query.limit === undefined ? DEFAULT_PAGE_SIZE : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
      throw invalidInput(`limit must be an integer from 1 to ${MAX_PAGE_SIZE}`, { errors: [{ path: "limit", message: `must be 1..${MAX_PAGE_SIZE}` }] });
    }
    if (query.cursor !== undefined && typeof query.cursor !== "string") throw invalidInput("cursor must be a string", { errors: [{ path: "cursor", message: "must be string" }] });
    const task = await this.get(caller, agentId, taskId);
    if (task.status !== "completed") throw new ServiceError(409, "not_completed", `task ${taskId} is ${task.status}; its results can be read once it has completed`);
    const summary = task.outputs?.resultSet as ResultSetSummary | undefined;
    if (!summary) throw new ServiceError(404, "not_found", `task ${taskId} has no result set (its outputs hold the whole result)`);
    return withTenant(this.deps.pool, caller.tenantId, (tx) => readResultPage(tx, taskId, summary.total, query.cursor as string | undefined, limit));
  }

  /**
   * What an event stream of a task starts from: subscribed to its live events first (held back
   * until `start`), then in one read the task and the id of its newest event, or with `resumeFrom`
   * every event after that id. The newest id is read before the task, so the state is never older
   * than it; read the other way round, an event committed in between would be in neither.
   * 404 for another tenant's or an unknown task, 503 when Redis cannot subscribe.
   */
  async openStream(caller: Caller, agentId: string, taskId: string, resumeFrom: string | undefined, onEvent: (e: TaskEvent) => void): Promise<TaskStream> {
    requireAgent(this.deps.registry, agentId);
    requireTaskId(taskId);
    const held: TaskEvent[] = [];
    let live = false;
    let unsubscribe: () => void;
    try {
      unsubscribe = await this.deps.live.subscribe(taskId, (e) => (live ? onEvent(e) : held.push(e)));
    } catch (e) {
      throw unavailable("redis", e);
    }
    try {
      const read = await withTenant(this.deps.pool, caller.tenantId, async (tx) => {
        const lastId = await store.lastEventId(tx, taskId);
        const missed = resumeFrom ? await store.eventsAfter(tx, taskId, resumeFrom) : [];
        return { lastId, missed, task: await store.getTask(tx, agentId, taskId) };
      });
      if (!read.task) throw notFound(`task "${taskId}"`);
      return {
        task: read.task,
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
