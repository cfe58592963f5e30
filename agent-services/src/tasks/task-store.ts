/**
 * SQL for tasks, their events, the credit ledger and the audit log. Every function takes a
 * TenantTx, so row-level security scopes it; state changes go through one guarded UPDATE.
 */
import type { Pool } from "pg";
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

/** sha256 of the jsonb rendering, which is canonical (key order, spacing), so equal JSON hashes equally. */
const JSON_HASH = (expr: string) => `encode(sha256(convert_to((${expr})::text, 'UTF8')), 'hex')`;

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

/**
 * Creates tasks for one tenant, in request order, as a serial run of creates would: locks the
 * tenant row, finds idempotency keys already used, reserves each task's cost from what is left of
 * the balance (never below zero), then inserts the accepted tasks with their reserve ledger rows,
 * first events and task_created audit rows in one statement. Throws IdempotencyRace (the caller's
 * transaction must roll back) when a key collides with one being inserted concurrently.
 */
export async function createTasks(tx: TenantTx, items: NewTask[]): Promise<CreateOutcome[]> {
  // The batch's transaction locked the row as it began (lockTenant); a caller of its own locks it here.
  const balance0 = tx.lockedBalance !== undefined
    ? tx.lockedBalance
    : ((await tx.one<{ balance: string }>("SELECT credits_balance_milli AS balance FROM tenants WHERE id = $1 FOR UPDATE", [tx.tenantId], "ds_lock_tenant"))?.balance ?? null);
  if (balance0 === null) return items.map(() => ({ kind: "no_tenant" }));

  const keyed = items.filter((t) => t.idempotencyKey !== null);
  const existing = new Map<string, { task: Task; same: boolean }>();
  if (keyed.length) {
    const rows = await tx.query<TaskRow & { same: boolean; req_key: string }>(
      `SELECT t.*, (t.type = r.type AND t.inputs = r.inputs::jsonb) AS same, r.agent_id || '/' || r.key AS req_key
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS r(agent_id, key, type, inputs)
       JOIN tasks t ON t.agent_id = r.agent_id AND t.idempotency_key = r.key`,
      [keyed.map((t) => t.agentId), keyed.map((t) => t.idempotencyKey), keyed.map((t) => t.type), keyed.map((t) => JSON.stringify(t.inputs))],
      "ds_existing_keys",
    );
    for (const r of rows) existing.set(r.req_key, { task: taskFromRow(r), same: r.same });
  }

  let balance = BigInt(balance0);
  let debit = 0n;
  const seenKeys = new Set<string>();
  const accepted: NewTask[] = [];
  const decided = items.map((t): CreateOutcome | NewTask => {
    if (t.idempotencyKey !== null) {
      const k = `${t.agentId}/${t.idempotencyKey}`;
      const hit = existing.get(k);
      if (hit) return { kind: "existing", task: hit.task, sameRequest: hit.same };
      if (seenKeys.has(k)) throw new IdempotencyRace();
      seenKeys.add(k);
    }
    if (t.reservedMilli > balance) return { kind: "insufficient", balance };
    balance -= t.reservedMilli;
    debit += t.reservedMilli;
    accepted.push(t);
    return t;
  });
  if (!accepted.length) return decided as CreateOutcome[];

  const r = await tx.one<{ created: Record<string, unknown>[]; events: Record<string, unknown>[] }>(
    `WITH req AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(ord int, id uuid, agent_id text, type text, priority int, inputs jsonb,
         idempotency_key text, cost bigint, calling_agent text, callback_url text, ip text, user_agent text,
         context_id text, a2a_message jsonb, metadata jsonb)
     ), debit AS (
       UPDATE tenants SET credits_balance_milli = credits_balance_milli - $2::bigint, updated_at = now()
       WHERE id = $3 AND $2::bigint > 0
     ), ins AS (
       INSERT INTO tasks (id, tenant_id, agent_id, type, status, priority, inputs, idempotency_key,
                          credits_reserved_milli, calling_agent, callback_url, context_id, a2a_message, metadata)
       SELECT id, $3, agent_id, type, 'submitted', priority, inputs, idempotency_key, cost, calling_agent, callback_url,
              context_id, a2a_message, COALESCE(metadata, '{}'::jsonb)
       FROM req ORDER BY ord
       ON CONFLICT (tenant_id, agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING *
     ), ledger AS (
       INSERT INTO credit_ledger (tenant_id, task_id, kind, amount_milli)
       SELECT $3, id, 'reserve', credits_reserved_milli FROM ins WHERE credits_reserved_milli > 0
     ), ev AS (
       INSERT INTO task_events (tenant_id, task_id, kind, data)
       SELECT $3, ins.id, 'status', '{"status": "submitted", "progress": 0}'::jsonb FROM ins JOIN req ON req.id = ins.id ORDER BY req.ord
       RETURNING id, task_id, kind, data, created_at
     ), aud AS (
       INSERT INTO audit_logs (tenant_id, seq, event_type, calling_agent, target_agent, task_id, ip, user_agent,
                               input_hash, credits_milli, details, prev_hash, hash)
       SELECT $3, 0, 'task_created', req.calling_agent, req.agent_id, req.id, req.ip, req.user_agent, ${JSON_HASH("req.inputs")},
              req.cost, jsonb_build_object('type', req.type, 'priority', req.priority), '', ''
       FROM req JOIN ins ON ins.id = req.id ORDER BY req.ord
     )
     SELECT (SELECT jsonb_agg(to_jsonb(ins)) FROM ins) AS created, (SELECT jsonb_agg(to_jsonb(ev)) FROM ev) AS events`,
    [
      JSON.stringify(accepted.map((t, ord) => ({
        ord, id: t.id, agent_id: t.agentId, type: t.type, priority: t.priority, inputs: t.inputs, idempotency_key: t.idempotencyKey,
        cost: t.reservedMilli.toString(), calling_agent: t.callingAgent, callback_url: t.callbackUrl, ip: t.ip, user_agent: t.userAgent?.slice(0, 500) ?? null,
        context_id: t.contextId ?? null, a2a_message: t.a2aMessage ?? null, metadata: t.metadata ?? null,
      }))),
      debit.toString(),
      tx.tenantId,
    ],
    "ds_create_tasks",
  );
  const created = new Map((r?.created ?? []).map((j) => [j.id as string, taskFromRow(j)]));
  const events = new Map((r?.events ?? []).map((j) => [j.task_id as string, eventFromJson(j)]));
  if (created.size !== accepted.length) throw new IdempotencyRace();
  return decided.map((d) => ("kind" in d ? d : { kind: "created", task: created.get(d.id)!, event: events.get(d.id)! }));
}

/**
 * Takes tasks of any tenants to working (a re-run of a stalled job takes its task again) and records
 * their events, in one statement: ds_start_tasks() sets each tenant before its tasks' statement, under
 * row-level security, and commits without waiting for the WAL flush. Null for a task no longer in a
 * state that may start (or not the tenant's); a task named twice is started once, both get it.
 */
export async function startTasks(pool: Pool, starts: { tenantId: string; taskId: string }[]): Promise<(Changed | null)[]> {
  const byTenant = new Map<string, Set<string>>();
  for (const s of starts) byTenant.set(s.tenantId, (byTenant.get(s.tenantId) ?? new Set()).add(s.taskId));
  const batch = [...byTenant].map(([tenant, ids]) => ({ tenant, ids: [...ids] }));
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

/**
 * Finishes tasks of one tenant in one statement: the guarded transitions, charge and release ledger
 * rows, the released credits back on the balance, the status events and the audit rows. A result
 * is null where the task was not in a state that may move to its target (a late result after a
 * cancel): nothing is written for it. Finishes of one task within a call apply in order.
 */
export async function finishTasks(tx: TenantTx, items: { taskId: string; finish: Finish }[]): Promise<(Changed | null)[]> {
  const results: (Changed | null)[] = [];
  // One UPDATE changes a row once, so a task finished twice in a batch is split across statements.
  for (const round of roundsOfDistinct(items, (i) => i.taskId)) results.push(...(await finishRound(tx, round)));
  return results;
}

async function finishRound(tx: TenantTx, items: { taskId: string; finish: Finish }[]): Promise<(Changed | null)[]> {
  const r = await tx.one<{ tasks: Record<string, unknown>[] | null; events: Record<string, unknown>[] | null }>(
    `WITH req AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(ord int, id uuid, status text, allowed text[], outputs jsonb, error jsonb,
         used bigint, audit_event text, calling_agent text, duration_ms int, error_text text, agent_id text)
     ), t AS (
       UPDATE tasks SET status = req.status, outputs = COALESCE(req.outputs, tasks.outputs), error = COALESCE(req.error, tasks.error),
              credits_used_milli = LEAST(GREATEST(req.used, 0), tasks.credits_reserved_milli),
              progress = CASE WHEN req.status = 'completed' THEN 100 ELSE tasks.progress END,
              completed_at = now(), updated_at = now()
       FROM req
       WHERE tasks.id = req.id AND tasks.status = ANY(req.allowed) AND (req.agent_id IS NULL OR tasks.agent_id = req.agent_id)
       RETURNING tasks.*, req.ord, req.audit_event, req.calling_agent AS req_calling_agent, req.duration_ms AS req_duration_ms,
                 req.error_text AS req_error_text, req.outputs AS req_outputs, req.error AS req_error
     ), led AS (
       INSERT INTO credit_ledger (tenant_id, task_id, kind, amount_milli)
       SELECT t.tenant_id, t.id, k.kind, k.amount FROM t
       CROSS JOIN LATERAL (VALUES ('charge', t.credits_used_milli), ('release', t.credits_reserved_milli - t.credits_used_milli)) AS k(kind, amount)
       WHERE k.amount > 0
     ), refund AS (
       UPDATE tenants SET credits_balance_milli = credits_balance_milli + s.total, updated_at = now()
       FROM (SELECT sum(credits_reserved_milli - credits_used_milli) AS total FROM t) s
       WHERE tenants.id = $2 AND s.total > 0
     ), ev AS (
       INSERT INTO task_events (tenant_id, task_id, kind, data)
       SELECT t.tenant_id, t.id, 'status', jsonb_build_object('status', t.status, 'progress', t.progress)
              || CASE WHEN t.req_error IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('error', t.req_error) END
       FROM t ORDER BY t.ord
       RETURNING id, task_id, kind, data, created_at
     ), aud AS (
       INSERT INTO audit_logs (tenant_id, seq, event_type, calling_agent, target_agent, task_id, input_hash, output_hash,
                               duration_ms, credits_milli, error, prev_hash, hash)
       SELECT t.tenant_id, 0, t.audit_event, COALESCE(t.req_calling_agent, t.calling_agent), t.agent_id, t.id, ${JSON_HASH("t.inputs")},
              CASE WHEN t.req_outputs IS NULL THEN NULL ELSE ${JSON_HASH("t.req_outputs")} END,
              t.req_duration_ms, t.credits_used_milli, t.req_error_text, '', ''
       FROM t ORDER BY t.ord
     )
     SELECT (SELECT jsonb_agg(to_jsonb(t)) FROM t) AS tasks, (SELECT jsonb_agg(to_jsonb(ev)) FROM ev) AS events`,
    [
      JSON.stringify(items.map(({ taskId, finish: f }, ord) => ({
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
      }))),
      tx.tenantId,
    ],
    "ds_finish_tasks",
  );
  const tasks = new Map((r?.tasks ?? []).map((j) => [j.id as string, taskFromRow(j)]));
  const events = new Map((r?.events ?? []).map((j) => [j.task_id as string, eventFromJson(j)]));
  return items.map(({ taskId }) => (tasks.has(taskId) ? { task: tasks.get(taskId)!, event: events.get(taskId)! } : null));
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
