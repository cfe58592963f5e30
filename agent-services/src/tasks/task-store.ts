/**
 * SQL for tasks, their events, the credit ledger and the audit log. Every function takes a
 * TenantTx, so row-level security scopes it; the exceptions are the creates, starts and finishes of
 * many tenants at once, whose SQL functions set each tenant themselves. State changes go through one
 * guarded UPDATE.
 */
import type { Pool, PoolClient } from "pg";
import type { TenantTx } from "../store/tenant-tx";
import { allowedFrom, type TaskState } from "../protocol/task-states";
import type { Task, TaskEvent } from "../protocol/task";

/** A tasks row as pg returns it (SELECT *) or as to_jsonb() renders it (timestamps as text, bigints as numbers). */
type TaskRow = Record<string, unknown>;

const date = (v: unknown): Date | null => (v == null ? null : v instanceof Date ? v : new Date(v as string));

/** The one place a tasks row becomes a Task. */
export function taskFromRow(r: TaskRow): Task {
  return {
    id: r.id as string,
    tenantId: r.tenant_id as string,
    agentId: r.agent_id as string,
    type: r.type as string,
    status: r.status as Task["status"],
    priority: r.priority as number,
    inputs: r.inputs as Task["inputs"],
    outputs: (r.outputs ?? null) as Task["outputs"],
    error: (r.error ?? null) as Task["error"],
    progress: r.progress as number,
    progressMessage: (r.progress_message ?? null) as string | null,
    idempotencyKey: (r.idempotency_key ?? null) as string | null,
    creditsReservedMilli: BigInt(r.credits_reserved_milli as string),
    creditsUsedMilli: BigInt(r.credits_used_milli as string),
    callingAgent: (r.calling_agent ?? null) as string | null,
    callbackUrl: (r.callback_url ?? null) as string | null,
    contextId: (r.context_id ?? null) as string | null,
    a2aMessage: (r.a2a_message ?? null) as Task["a2aMessage"],
    metadata: (r.metadata ?? {}) as Task["metadata"],
    inputRequest: (r.input_request ?? null) as Task["inputRequest"],
    attempts: r.attempts as number,
    createdAt: date(r.created_at)!,
    updatedAt: date(r.updated_at)!,
    startedAt: date(r.started_at),
    completedAt: date(r.completed_at),
  };
}

/** A state change: the task as it now is, and the event it was recorded as. */
export interface Changed {
  task: Task;
  event: TaskEvent;
}

function eventFromJson(j: Record<string, unknown>): TaskEvent {
  return { id: String(j.id), taskId: j.task_id as string, kind: j.kind as TaskEvent["kind"], data: j.data as Record<string, unknown>, createdAt: new Date(j.created_at as string).toISOString() };
}

export interface NewTask {
  id: string;
  agentId: string;
  type: string;
  priority: number;
  inputs: Record<string, unknown>;
  idempotencyKey: string | null;
  reservedMilli: bigint;
  callingAgent: string | null;
  callbackUrl: string | null;
  ip: string | null;
  userAgent: string | null;
  /** A2A only: the conversation the task belongs to, and the message that started it. */
  contextId?: string | null;
  a2aMessage?: Record<string, unknown> | null;
  metadata?: Record<string, unknown>;
  /**
   * `input-required`: an A2A task that waits for its caller to name a skill (type "", nothing
   * reserved), asking `inputRequest`. Default `submitted`.
   */
  status?: "submitted" | "input-required";
  inputRequest?: Record<string, unknown> | null;
  /**
   * The caller's answer to a task waiting in input-required: that task (same id) gets its skill and
   * inputs by UPDATE, and is submitted, or (`status` input-required) waits on with a new question.
   */
  continues?: boolean;
}

export type CreateOutcome =
  | { kind: "created"; task: Task; event: TaskEvent }
  | { kind: "existing"; task: Task; sameRequest: boolean }
  | { kind: "insufficient"; balance: bigint }
  | { kind: "no_tenant" };

/** Two creates with one idempotency key in a batch, or another process inserted the key first. */
export class IdempotencyRace extends Error {
  constructor() {
    super("a concurrent request with the same idempotencyKey is in flight");
    this.name = "IdempotencyRace";
  }
}

/** A create of a task for a tenant. */
export interface TenantCreate {
  tenantId: string;
  task: NewTask;
}

/**
 * Creates tasks of any tenants in one statement, ds_create_tasks() (migration 20261208000003): per
 * tenant, in request order, as a serial run of creates would, it locks the tenant row, finds
 * idempotency keys already used, reserves each task's cost from what is left of the balance (never
 * below zero), and inserts the accepted tasks with their reserve ledger rows, first events and
 * task_created audit rows. Throws IdempotencyRace (nothing is written) when a key collides with one
 * being inserted in the same call or concurrently.
 */
export async function createTasks(db: Pick<Pool, "query">, items: TenantCreate[]): Promise<CreateOutcome[]> {
  const batch = byTenant(items.map((create, ord) => ({ ord, create })), (c) => c.create.tenantId).map(([tenant, creates]) => ({
    tenant,
    items: creates.map(({ ord, create: { task: t } }) => ({
      ord, id: t.id, agent_id: t.agentId, type: t.type, priority: t.priority, inputs: t.inputs, idempotency_key: t.idempotencyKey,
      cost: t.reservedMilli.toString(), calling_agent: t.callingAgent, callback_url: t.callbackUrl, ip: t.ip, user_agent: t.userAgent?.slice(0, 500) ?? null,
      context_id: t.contextId ?? null, a2a_message: t.a2aMessage ?? null, metadata: t.metadata ?? null,
      status: t.status ?? "submitted", input_request: t.inputRequest ?? null, continues: !!t.continues,
      allowed: t.continues ? allowedFrom(t.status ?? "submitted") : null,
    })),
  }));
  let rows: { create_ord: number; outcome: string; task: TaskRow | null; event: Record<string, unknown> | null; same_request: boolean | null; balance_milli: string | null }[];
  try {
    ({ rows } = await db.query({ name: "ds_create_tasks", text: "SELECT * FROM ds_create_tasks($1::jsonb)", values: [JSON.stringify(batch)] }));
  } catch (e) {
    if ((e as { code?: string }).code === "DS409") throw new IdempotencyRace();
    throw e;
  }
  const outcomes: CreateOutcome[] = [];
  for (const r of rows) {
    outcomes[r.create_ord] =
      r.outcome === "created" ? { kind: "created", task: taskFromRow(r.task!), event: eventFromJson(r.event!) }
      : r.outcome === "existing" ? { kind: "existing", task: taskFromRow(r.task!), sameRequest: !!r.same_request }
      : r.outcome === "insufficient" ? { kind: "insufficient", balance: BigInt(r.balance_milli!) }
      : { kind: "no_tenant" };
  }
  return outcomes;
}

/**
 * Takes tasks of any tenants to working (a re-run of a stalled job takes its task again) and records
 * their events, in one statement: ds_start_tasks() sets each tenant before its tasks' statement, under
 * row-level security, and commits without waiting for the WAL flush. Null for a task no longer in a
 * state that may start (or not the tenant's); a task named twice is started once, both get it.
 */
export async function startTasks(pool: Pool, starts: { tenantId: string; taskId: string }[]): Promise<(Changed | null)[]> {
  const batch = byTenant(starts, (s) => s.tenantId).map(([tenant, own]) => ({ tenant, ids: [...new Set(own.map((s) => s.taskId))] }));
  const { rows } = await pool.query<{ task: Record<string, unknown>; event: Record<string, unknown> }>({
    name: "ds_start_tasks",
    text: "SELECT task, event FROM ds_start_tasks($1::jsonb, $2::text[])",
    values: [JSON.stringify(batch), allowedFrom("working")],
  });
  const started = new Map(rows.map((r) => [`${r.task.tenant_id}/${r.task.id}`, { task: taskFromRow(r.task), event: eventFromJson(r.event) }]));
  return starts.map((s) => started.get(`${s.tenantId.toLowerCase()}/${s.taskId.toLowerCase()}`) ?? null);
}

export interface Finish {
  status: Exclude<TaskState, "submitted" | "working">;
  outputs?: Record<string, unknown>;
  error?: { code: string; message: string };
  /** Charged, capped at the reservation; the rest of the reservation is released. */
  creditsUsedMilli: bigint;
  auditEvent: string;
  callingAgent?: string | null;
  durationMs?: number | null;
  /** Only finish the task if it belongs to this agent (requests name the agent in the path). */
  agentId?: string;
}

/** A finish of one task of a tenant. */
export interface TenantFinish {
  tenantId: string;
  taskId: string;
  finish: Finish;
}

/**
 * Finishes tasks of any tenants in one statement, ds_finish_tasks() (migration 20261208000001): per
 * tenant, the guarded transitions, charge and release ledger rows, the released credits back on the
 * balance, the status events and the audit rows, under row-level security for that tenant. A result
 * is null where the task was not in a state that may move to its target (a late result after a
 * cancel), or is not the tenant's: nothing is written for it. Finishes of one task apply in order.
 * `db` is a pool (the statement is its own transaction) or a client inside a transaction.
 */
export async function finishTasks(db: Pick<Pool, "query"> | Pick<PoolClient, "query">, items: TenantFinish[]): Promise<(Changed | null)[]> {
  const batch = byTenant(items.map((item, ord) => ({ ord, item })), (f) => f.item.tenantId).flatMap(([tenant, finishes]) =>
    // One UPDATE changes a row once, so a task finished twice goes in a second statement for the tenant.
    roundsOfDistinct(finishes, (f) => f.item.taskId.toLowerCase()).map((round) => ({
      tenant,
      items: round.map(({ ord, item: { taskId, finish: f } }) => ({
        ord,
        id: taskId,
        status: f.status,
        allowed: allowedFrom(f.status),
        outputs: f.outputs ?? null,
        error: f.error ?? null,
        used: f.creditsUsedMilli.toString(),
        audit_event: f.auditEvent,
        calling_agent: f.callingAgent ?? null,
        duration_ms: f.durationMs ?? null,
        error_text: f.error ? `${f.error.code}: ${f.error.message}`.slice(0, 2000) : null,
        agent_id: f.agentId ?? null,
      })),
    })),
  );
  const { rows } = await (db as Pool).query<{ finish_ord: number; task: Record<string, unknown>; event: Record<string, unknown> }>({
    name: "ds_finish_tasks",
    text: "SELECT finish_ord, task, event FROM ds_finish_tasks($1::jsonb)",
    values: [JSON.stringify(batch)],
  });
  const results: (Changed | null)[] = items.map(() => null);
  for (const r of rows) results[r.finish_ord] = { task: taskFromRow(r.task), event: eventFromJson(r.event) };
  return results;
}

/**
 * Items grouped by tenant (lower-cased), each group in arrival order, tenants sorted: every process
 * then takes tenants' locks in one order, so two cross-tenant statements cannot deadlock.
 */
function byTenant<T>(items: T[], tenantOf: (t: T) => string): [string, T[]][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const tenant = tenantOf(item).toLowerCase();
    const own = groups.get(tenant);
    if (own) own.push(item);
    else groups.set(tenant, [item]);
  }
  return [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function roundsOfDistinct<T>(items: T[], key: (t: T) => string): T[][] {
  const rounds: { keys: Set<string>; items: T[] }[] = [];
  for (const item of items) {
    const k = key(item);
    const last = rounds[rounds.length - 1];
    if (last && !last.keys.has(k)) {
      last.keys.add(k);
      last.items.push(item);
    } else {
      rounds.push({ keys: new Set([k]), items: [item] });
    }
  }
  return rounds.map((r) => r.items);
}

/** Records progress of a working task and its event; null when the task is no longer working. */
export async function recordProgress(tx: TenantTx, taskId: string, progress: number, message: string | null): Promise<TaskEvent | null> {
  const r = await tx.one<{ event: Record<string, unknown> | null }>(
    `WITH t AS (
       UPDATE tasks SET progress = $2, progress_message = $3, updated_at = now()
       WHERE id = $1 AND status = 'working' RETURNING tenant_id, id
     ), ev AS (
       INSERT INTO task_events (tenant_id, task_id, kind, data)
       SELECT tenant_id, id, 'progress', jsonb_strip_nulls(jsonb_build_object('progress', $2::int, 'message', $3::text)) FROM t
       RETURNING id, task_id, kind, data, created_at
     )
     SELECT (SELECT to_jsonb(ev) FROM ev) AS event`,
    [taskId, progress, message], "ds_record_progress",
  );
  return r?.event ? eventFromJson(r.event) : null;
}

export async function getTask(tx: TenantTx, agentId: string, taskId: string): Promise<Task | undefined> {
  const row = await tx.one<TaskRow>("SELECT * FROM tasks WHERE id = $1 AND agent_id = $2", [taskId, agentId]);
  return row && taskFromRow(row);
}

/** A task of the transaction's tenant by its id alone, whichever agent runs it. */
export async function getTaskById(tx: TenantTx, taskId: string): Promise<Task | undefined> {
  const row = await tx.one<TaskRow>("SELECT * FROM tasks WHERE id = $1", [taskId]);
  return row && taskFromRow(row);
}

export async function taskExists(tx: TenantTx, taskId: string): Promise<boolean> {
  return !!(await tx.one("SELECT 1 FROM tasks WHERE id = $1", [taskId]));
}

export interface ListQuery {
  agentId: string;
  statuses?: TaskState[];
  type?: string;
  contextId?: string;
  /** Only tasks whose status changed after this instant (ISO 8601). */
  updatedAfter?: string;
  limit: number;
  /** Opaque cursor: the last item of the previous page. */
  after?: { createdAt: string; id: string };
}

/** Listed tasks carry their exact (microsecond) creation time for the cursor; a JS Date would round it. */
export interface ListedTask {
  task: Task;
  cursor: string;
}

function taskFilter(q: Omit<ListQuery, "limit" | "after">): { where: string[]; params: unknown[] } {
  const params: unknown[] = [q.agentId];
  const where = ["agent_id = $1"];
  if (q.statuses?.length) where.push(`status = ANY($${params.push(q.statuses)}::text[])`);
  if (q.type) where.push(`type = $${params.push(q.type)}`);
  if (q.contextId) where.push(`context_id = $${params.push(q.contextId)}`);
  if (q.updatedAfter) where.push(`updated_at > $${params.push(q.updatedAfter)}::timestamptz`);
  return { where, params };
}

export async function listTasks(tx: TenantTx, q: ListQuery): Promise<ListedTask[]> {
  const { where, params } = taskFilter(q);
  if (q.after) {
    const a = params.push(q.after.createdAt);
    const b = params.push(q.after.id);
    where.push(`(created_at, id) < ($${a}::timestamptz, $${b}::uuid)`);
  }
  params.push(q.limit);
  const rows = await tx.query<TaskRow & { cursor_ts: string }>(
    `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_ts FROM tasks WHERE ${where.join(" AND ")} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
  return rows.map((r) => ({ task: taskFromRow(r), cursor: r.cursor_ts }));
}

export async function countTasks(tx: TenantTx, q: Omit<ListQuery, "limit" | "after">): Promise<number> {
  const { where, params } = taskFilter(q);
  const row = await tx.one<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE ${where.join(" AND ")}`, params);
  return row?.n ?? 0;
}

export async function eventsAfter(tx: TenantTx, taskId: string, afterId: string, limit = 1000): Promise<TaskEvent[]> {
  const rows = await tx.query<{ id: string; task_id: string; kind: TaskEvent["kind"]; data: Record<string, unknown>; created_at: Date }>(
    "SELECT id, task_id, kind, data, created_at FROM task_events WHERE task_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    [taskId, afterId, limit],
  );
  return rows.map((r) => ({ id: String(r.id), taskId: r.task_id, kind: r.kind, data: r.data, createdAt: r.created_at.toISOString() }));
}

export async function lastEventId(tx: TenantTx, taskId: string): Promise<string> {
  const row = await tx.one<{ id: string | null }>("SELECT max(id) AS id FROM task_events WHERE task_id = $1", [taskId]);
  return row?.id ? String(row.id) : "0";
}
