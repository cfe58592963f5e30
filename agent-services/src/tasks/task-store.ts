/**
 * SQL for tasks, their events, the credit ledger and the audit log. Every function takes a
 * TenantTx, so row-level security scopes it; state changes go through one guarded UPDATE.
 */
import type { TenantTx } from "../store/tenant-tx";
import { allowedFrom, type TaskState } from "../protocol/task-states";
import { milliToCredits } from "../protocol/credits";

export interface TaskRow {
  id: string;
  tenant_id: string;
  agent_id: string;
  type: string;
  status: TaskState;
  priority: number;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown> | null;
  error: { code: string; message: string; details?: unknown } | null;
  progress: number;
  progress_message: string | null;
  idempotency_key: string | null;
  credits_reserved_milli: string;
  credits_used_milli: string;
  calling_agent: string | null;
  callback_url: string | null;
  attempts: number;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}

export interface TaskView {
  taskId: string;
  agentId: string;
  type: string;
  status: TaskState;
  priority: number;
  progress: number;
  progressMessage: string | null;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown> | null;
  error: TaskRow["error"];
  idempotencyKey: string | null;
  creditsReserved: number;
  creditsUsed: number;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  completedAt: string | null;
}

export function toView(row: TaskRow): TaskView {
  return {
    taskId: row.id,
    agentId: row.agent_id,
    type: row.type,
    status: row.status,
    priority: row.priority,
    progress: row.progress,
    progressMessage: row.progress_message,
    inputs: row.inputs,
    outputs: row.outputs,
    error: row.error,
    idempotencyKey: row.idempotency_key,
    creditsReserved: milliToCredits(row.credits_reserved_milli),
    creditsUsed: milliToCredits(row.credits_used_milli),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    startedAt: row.started_at?.toISOString() ?? null,
    completedAt: row.completed_at?.toISOString() ?? null,
  };
}

export interface TaskEvent {
  id: string;
  taskId: string;
  kind: "status" | "progress";
  data: Record<string, unknown>;
  createdAt: string;
}

/** A task row as to_jsonb() renders it: timestamps as text, bigints as numbers. */
function rowFromJson(j: Record<string, unknown>): TaskRow {
  const date = (v: unknown) => (v == null ? null : new Date(v as string));
  return {
    ...(j as unknown as TaskRow),
    credits_reserved_milli: String(j.credits_reserved_milli),
    credits_used_milli: String(j.credits_used_milli),
    created_at: date(j.created_at)!,
    updated_at: date(j.updated_at)!,
    started_at: date(j.started_at),
    completed_at: date(j.completed_at),
  };
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
}

export type CreateOutcome =
  | { kind: "created"; row: TaskRow; event: TaskEvent }
  | { kind: "existing"; row: TaskRow; sameRequest: boolean }
  | { kind: "insufficient"; balance: bigint }
  | { kind: "no_tenant" }
  | { kind: "race" };

/**
 * Creates a task in one statement: looks up the idempotency key, reserves the cost with a
 * conditional UPDATE that cannot overdraw (it locks the tenant row and re-checks after the lock),
 * inserts the task, its reserve ledger row, its first event and its task_created audit row. Nothing
 * is written unless everything is.
 */
export async function createTaskRow(tx: TenantTx, t: NewTask): Promise<CreateOutcome> {
  const r = await tx.one<{ created: Record<string, unknown> | null; existing: Record<string, unknown> | null; same: boolean | null; event: Record<string, unknown> | null; reserved: boolean; balance: string | null }>(
    `WITH existing AS (
       SELECT * FROM tasks WHERE $7::text IS NOT NULL AND agent_id = $3 AND idempotency_key = $7::text
     ), reserve AS (
       UPDATE tenants SET credits_balance_milli = credits_balance_milli - $8::bigint, updated_at = now()
       WHERE id = $2 AND credits_balance_milli >= $8::bigint AND NOT EXISTS (SELECT 1 FROM existing)
       RETURNING credits_balance_milli
     ), ins AS (
       INSERT INTO tasks (id, tenant_id, agent_id, type, status, priority, inputs, idempotency_key,
                          credits_reserved_milli, calling_agent, callback_url)
       SELECT $1, $2, $3, $4, 'submitted', $5, $6::jsonb, $7, $8, $9, $10 FROM reserve
       ON CONFLICT (tenant_id, agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
       RETURNING *
     ), ledger AS (
       INSERT INTO credit_ledger (tenant_id, task_id, kind, amount_milli)
       SELECT $2, id, 'reserve', $8 FROM ins WHERE $8::bigint > 0
     ), ev AS (
       INSERT INTO task_events (tenant_id, task_id, kind, data)
       SELECT $2, id, 'status', '{"status": "submitted", "progress": 0}'::jsonb FROM ins
       RETURNING id, task_id, kind, data, created_at
     ), aud AS (
       INSERT INTO audit_logs (tenant_id, seq, event_type, calling_agent, target_agent, task_id, ip, user_agent,
                               input_hash, credits_milli, details, prev_hash, hash)
       SELECT $2, 0, 'task_created', $9, $3, id, $11, $12, ${JSON_HASH("$6::jsonb")}, $8,
              jsonb_build_object('type', $4::text, 'priority', $5::int), '', '' FROM ins
     )
     SELECT (SELECT to_jsonb(ins) FROM ins) AS created,
            (SELECT to_jsonb(existing) FROM existing) AS existing,
            (SELECT existing.type = $4 AND existing.inputs = $6::jsonb FROM existing) AS same,
            (SELECT to_jsonb(ev) FROM ev) AS event,
            EXISTS (SELECT 1 FROM reserve) AS reserved,
            (SELECT credits_balance_milli FROM tenants WHERE id = $2) AS balance`,
    [t.id, tx.tenantId, t.agentId, t.type, t.priority, JSON.stringify(t.inputs), t.idempotencyKey, t.reservedMilli.toString(), t.callingAgent, t.callbackUrl, t.ip, t.userAgent?.slice(0, 500) ?? null], "ds_create_task",
  );
  if (r!.created) return { kind: "created", row: rowFromJson(r!.created), event: eventFromJson(r!.event!) };
  if (r!.existing) return { kind: "existing", row: rowFromJson(r!.existing), sameRequest: r!.same === true };
  if (r!.balance === null) return { kind: "no_tenant" };
  if (!r!.reserved) return { kind: "insufficient", balance: BigInt(r!.balance) };
  return { kind: "race" };
}

/** Takes a task to working (a re-run of a stalled job takes it again) and records the event. */
export async function startTask(tx: TenantTx, taskId: string): Promise<{ row: TaskRow; event: TaskEvent } | null> {
  const r = await tx.one<{ task: Record<string, unknown> | null; event: Record<string, unknown> | null }>(
    `WITH t AS (
       UPDATE tasks SET status = 'working', attempts = attempts + 1, started_at = COALESCE(started_at, now()), updated_at = now()
       WHERE id = $1 AND status = ANY($2::text[])
       RETURNING *
     ), ev AS (
       INSERT INTO task_events (tenant_id, task_id, kind, data)
       SELECT tenant_id, id, 'status', jsonb_build_object('status', 'working', 'progress', progress, 'attempt', attempts) FROM t
       RETURNING id, task_id, kind, data, created_at
     )
     SELECT (SELECT to_jsonb(t) FROM t) AS task, (SELECT to_jsonb(ev) FROM ev) AS event`,
    [taskId, allowedFrom("working")], "ds_start_task",
  );
  return r?.task ? { row: rowFromJson(r.task), event: eventFromJson(r.event!) } : null;
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
 * Finishes a task in one statement: the guarded transition, charge and release ledger rows, the
 * released credits back on the balance, the status event and the audit row. Null when the task was
 * not in a state that may move to `status` (a late result after a cancel): nothing is written then.
 */
export async function finishTask(tx: TenantTx, taskId: string, f: Finish): Promise<{ row: TaskRow; event: TaskEvent } | null> {
  const used = f.creditsUsedMilli < 0n ? 0n : f.creditsUsedMilli;
  const r = await tx.one<{ task: Record<string, unknown> | null; event: Record<string, unknown> | null }>(
    `WITH t AS (
       UPDATE tasks SET status = $2, outputs = COALESCE($4::jsonb, outputs), error = COALESCE($5::jsonb, error),
              credits_used_milli = LEAST($6::bigint, credits_reserved_milli),
              progress = CASE WHEN $2 = 'completed' THEN 100 ELSE progress END,
              completed_at = now(), updated_at = now()
       WHERE id = $1 AND status = ANY($3::text[]) AND ($11::text IS NULL OR agent_id = $11::text)
       RETURNING *
     ), led AS (
       INSERT INTO credit_ledger (tenant_id, task_id, kind, amount_milli)
       SELECT t.tenant_id, t.id, k.kind, k.amount FROM t
       CROSS JOIN LATERAL (VALUES ('charge', t.credits_used_milli), ('release', t.credits_reserved_milli - t.credits_used_milli)) AS k(kind, amount)
       WHERE k.amount > 0
     ), refund AS (
       UPDATE tenants SET credits_balance_milli = credits_balance_milli + (t.credits_reserved_milli - t.credits_used_milli), updated_at = now()
       FROM t WHERE tenants.id = t.tenant_id AND t.credits_reserved_milli > t.credits_used_milli
     ), ev AS (
       INSERT INTO task_events (tenant_id, task_id, kind, data)
       SELECT t.tenant_id, t.id, 'status', jsonb_build_object('status', t.status, 'progress', t.progress)
              || CASE WHEN $5::jsonb IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('error', $5::jsonb) END
       FROM t RETURNING id, task_id, kind, data, created_at
     ), aud AS (
       INSERT INTO audit_logs (tenant_id, seq, event_type, calling_agent, target_agent, task_id, input_hash, output_hash,
                               duration_ms, credits_milli, error, prev_hash, hash)
       SELECT t.tenant_id, 0, $7, COALESCE($8, t.calling_agent), t.agent_id, t.id, ${JSON_HASH("t.inputs")},
              CASE WHEN $4::jsonb IS NULL THEN NULL ELSE ${JSON_HASH("$4::jsonb")} END,
              $9, t.credits_used_milli, $10, '', '' FROM t
     )
     SELECT (SELECT to_jsonb(t) FROM t) AS task, (SELECT to_jsonb(ev) FROM ev) AS event`,
    [
      taskId,
      f.status,
      allowedFrom(f.status),
      f.outputs === undefined ? null : JSON.stringify(f.outputs),
      f.error === undefined ? null : JSON.stringify(f.error),
      used.toString(),
      f.auditEvent,
      f.callingAgent ?? null,
      f.durationMs ?? null,
      f.error ? `${f.error.code}: ${f.error.message}`.slice(0, 2000) : null,
      f.agentId ?? null,
    ], "ds_finish_task",
  );
  return r?.task ? { row: rowFromJson(r.task), event: eventFromJson(r.event!) } : null;
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

export async function getTask(tx: TenantTx, agentId: string, taskId: string): Promise<TaskRow | undefined> {
  return tx.one<TaskRow>("SELECT * FROM tasks WHERE id = $1 AND agent_id = $2", [taskId, agentId]);
}

export interface ListQuery {
  agentId: string;
  status?: TaskState;
  type?: string;
  limit: number;
  /** Opaque cursor: the last item of the previous page. */
  after?: { createdAt: string; id: string };
}

/** List rows carry their exact (microsecond) creation time for the cursor; a JS Date would round it. */
export type ListedTaskRow = TaskRow & { cursor_ts: string };

export async function listTasks(tx: TenantTx, q: ListQuery): Promise<ListedTaskRow[]> {
  const params: unknown[] = [q.agentId];
  const where = ["agent_id = $1"];
  if (q.status) where.push(`status = $${params.push(q.status)}`);
  if (q.type) where.push(`type = $${params.push(q.type)}`);
  if (q.after) {
    const a = params.push(q.after.createdAt);
    const b = params.push(q.after.id);
    where.push(`(created_at, id) < ($${a}::timestamptz, $${b}::uuid)`);
  }
  params.push(q.limit);
  return tx.query<ListedTaskRow>(
    `SELECT *, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_ts FROM tasks WHERE ${where.join(" AND ")} ORDER BY created_at DESC, id DESC LIMIT $${params.length}`,
    params,
  );
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
