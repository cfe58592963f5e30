/**
 * SQL for tasks, their events, the credit ledger and the audit log. Every function takes a
 * TenantTx, so row-level security scopes it; state changes go through one guarded UPDATE.
 */
import { createHash } from "node:crypto";
import stringify from "safe-stable-stringify";
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

export function hashJson(value: unknown): string {
  return createHash("sha256").update(stringify(value) ?? "null").digest("hex");
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
}

/** Inserts the task, or returns the existing one with the same idempotency key (created=false). */
export async function insertTask(tx: TenantTx, t: NewTask): Promise<{ row: TaskRow; created: boolean }> {
  const inserted = await tx.one<TaskRow>(
    `INSERT INTO tasks (id, tenant_id, agent_id, type, status, priority, inputs, idempotency_key,
                        credits_reserved_milli, calling_agent, callback_url)
     VALUES ($1, $2, $3, $4, 'submitted', $5, $6, $7, $8, $9, $10)
     ON CONFLICT (tenant_id, agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
     RETURNING *`,
    [t.id, tx.tenantId, t.agentId, t.type, t.priority, t.inputs, t.idempotencyKey, t.reservedMilli.toString(), t.callingAgent, t.callbackUrl],
  );
  if (inserted) return { row: inserted, created: true };
  const existing = await tx.one<TaskRow>(
    "SELECT * FROM tasks WHERE agent_id = $1 AND idempotency_key = $2",
    [t.agentId, t.idempotencyKey],
  );
  if (!existing) throw new Error("idempotency conflict without an existing task");
  return { row: existing, created: false };
}

/**
 * Takes `amount` from the tenant's balance if it is there. The conditional UPDATE locks the tenant
 * row and re-checks the balance after the lock, so concurrent reservations can never overdraw.
 * Returns the balance left, or null with the balance seen when it was short.
 */
export async function reserveCredits(tx: TenantTx, taskId: string, amount: bigint): Promise<{ ok: boolean; balance: bigint }> {
  const row = await tx.one<{ balance: string }>(
    `WITH t AS (
       UPDATE tenants SET credits_balance_milli = credits_balance_milli - $1, updated_at = now()
       WHERE id = $2 AND credits_balance_milli >= $1
       RETURNING credits_balance_milli
     ), l AS (
       INSERT INTO credit_ledger (tenant_id, task_id, kind, amount_milli)
       SELECT $2, $3, 'reserve', $1 FROM t WHERE $1::bigint > 0
     )
     SELECT credits_balance_milli AS balance FROM t`,
    [amount.toString(), tx.tenantId, taskId],
  );
  if (row) return { ok: true, balance: BigInt(row.balance) };
  const current = await tx.one<{ balance: string }>("SELECT credits_balance_milli AS balance FROM tenants WHERE id = $1", [tx.tenantId]);
  return { ok: false, balance: BigInt(current?.balance ?? 0) };
}

/**
 * Settles a finished task's reservation: charges `usedMilli` and gives the rest back. Ledger rows
 * are unique per (task, kind), so settling twice is refused by the database, not by luck.
 */
export async function settleCredits(tx: TenantTx, taskId: string, reservedMilli: bigint, usedMilli: bigint): Promise<void> {
  const used = usedMilli < 0n ? 0n : usedMilli > reservedMilli ? reservedMilli : usedMilli;
  const release = reservedMilli - used;
  await tx.query(
    `WITH l AS (
       INSERT INTO credit_ledger (tenant_id, task_id, kind, amount_milli)
       SELECT $1, $2, k.kind, k.amount FROM (VALUES ('charge', $3::bigint), ('release', $4::bigint)) AS k(kind, amount)
       WHERE k.amount > 0
     )
     UPDATE tenants SET credits_balance_milli = credits_balance_milli + $4, updated_at = now()
     WHERE id = $1 AND $4::bigint > 0`,
    [tx.tenantId, taskId, used.toString(), release.toString()],
  );
}

export interface TransitionPatch {
  outputs?: Record<string, unknown>;
  error?: { code: string; message: string; details?: unknown };
  creditsUsedMilli?: bigint;
  progress?: number;
}

/** Moves a task to `to` only from the states the transition table allows; null if it was not there. */
export async function transition(tx: TenantTx, taskId: string, to: TaskState, patch: TransitionPatch = {}): Promise<TaskRow | null> {
  const terminal = to !== "working";
  const row = await tx.one<TaskRow>(
    `UPDATE tasks SET
       status = $2,
       outputs = COALESCE($4, outputs),
       error = COALESCE($5, error),
       credits_used_milli = COALESCE($6, credits_used_milli),
       progress = COALESCE($7, progress),
       attempts = attempts + CASE WHEN $2 = 'working' THEN 1 ELSE 0 END,
       started_at = CASE WHEN $2 = 'working' THEN COALESCE(started_at, now()) ELSE started_at END,
       completed_at = CASE WHEN $8 THEN now() ELSE completed_at END,
       updated_at = now()
     WHERE id = $1 AND status = ANY($3::text[])
     RETURNING *`,
    [
      taskId,
      to,
      allowedFrom(to),
      patch.outputs ?? null,
      patch.error ?? null,
      patch.creditsUsedMilli?.toString() ?? null,
      patch.progress ?? null,
      terminal,
    ],
  );
  return row ?? null;
}

export async function getTask(tx: TenantTx, agentId: string, taskId: string): Promise<TaskRow | undefined> {
  return tx.one<TaskRow>("SELECT * FROM tasks WHERE id = $1 AND agent_id = $2", [taskId, agentId]);
}

export async function setProgress(tx: TenantTx, taskId: string, progress: number, message: string | null): Promise<boolean> {
  const rows = await tx.query(
    `UPDATE tasks SET progress = $2, progress_message = $3, updated_at = now()
     WHERE id = $1 AND status = 'working' RETURNING id`,
    [taskId, progress, message],
  );
  return rows.length > 0;
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

export async function insertEvent(tx: TenantTx, taskId: string, kind: TaskEvent["kind"], data: Record<string, unknown>): Promise<TaskEvent> {
  const row = await tx.one<{ id: string; created_at: Date }>(
    "INSERT INTO task_events (tenant_id, task_id, kind, data) VALUES ($1, $2, $3, $4) RETURNING id, created_at",
    [tx.tenantId, taskId, kind, data],
  );
  return { id: String(row!.id), taskId, kind, data, createdAt: row!.created_at.toISOString() };
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
