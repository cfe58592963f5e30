/**
 * The append-only, hash-chained audit log. The database computes each row's chain hash (trigger
 * audit_chain), anchors each chain's head in audit_chain_heads and refuses UPDATE and DELETE; this
 * module writes rows and verifies chains.
 */
import type { Pool } from "pg";
import type { TenantTx } from "../store/tenant-tx";
import { withTenant } from "../store/tenant-tx";
import type { WarnLogger } from "../lib/logger";

export type AuditEventType =
  | "task_created"
  | "task_awaiting_input"
  | "task_started"
  | "task_completed"
  | "task_failed"
  | "task_cancelled"
  | "task_timeout"
  | "credits_granted"
  | "tenant_created"
  | "tenant_settings_changed"
  | "unauthorized_access"
  | "tenant_mismatch";

export interface AuditEntry {
  eventType: AuditEventType;
  callingAgent?: string | null;
  targetAgent?: string | null;
  taskId?: string | null;
  userId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  inputHash?: string | null;
  outputHash?: string | null;
  durationMs?: number | null;
  creditsMilli?: bigint | null;
  error?: string | null;
  details?: Record<string, unknown> | null;
}

const INSERT = `INSERT INTO audit_logs (tenant_id, seq, event_type, calling_agent, target_agent, task_id, user_id, ip,
   user_agent, input_hash, output_hash, duration_ms, credits_milli, error, details, prev_hash, hash)
   VALUES ($1, 0, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, '', '')`;

function params(tenantId: string | null, e: AuditEntry): unknown[] {
  return [
    tenantId,
    e.eventType,
    e.callingAgent ?? null,
    e.targetAgent ?? null,
    e.taskId ?? null,
    e.userId ?? null,
    e.ip ?? null,
    e.userAgent?.slice(0, 500) ?? null,
    e.inputHash ?? null,
    e.outputHash ?? null,
    e.durationMs ?? null,
    e.creditsMilli?.toString() ?? null,
    e.error?.slice(0, 2000) ?? null,
    e.details ?? null,
  ];
}

export async function appendAudit(tx: TenantTx, entry: AuditEntry): Promise<void> {
  await tx.query(INSERT, params(tx.tenantId, entry));
}

/** For refused requests that never proved a tenant: the NULL-tenant chain, outside any tenant's view. */
export async function appendAnonymousAudit(pool: Pool, entry: AuditEntry): Promise<void> {
  await pool.query(INSERT, params(null, entry));
}

/** What a refused request is audited with: who asked, of which agent. */
export interface Refused {
  tenantId: string;
  agentId: string;
  ip?: string | null;
  userAgent?: string | null;
}

/**
 * Audits a refused request in the caller's tenant chain, or the anonymous one if that tenant does
 * not exist. Never throws: a refusal is answered whether or not its audit row could be written.
 */
export async function auditRefusal(
  pool: Pool,
  log: WarnLogger,
  caller: Refused,
  targetAgent: string,
  eventType: AuditEventType,
  error: string,
  details?: Record<string, unknown>,
): Promise<void> {
  const entry = { eventType, callingAgent: caller.agentId, targetAgent, ip: caller.ip, userAgent: caller.userAgent, error, details };
  try {
    const written = await withTenant(pool, caller.tenantId, async (tx) => {
      if (!(await tx.one("SELECT 1 FROM tenants WHERE id = $1", [caller.tenantId]))) return false;
      await appendAudit(tx, entry);
      return true;
    });
    if (!written) await appendAnonymousAudit(pool, { ...entry, details: { ...details, claimedTenant: caller.tenantId } });
  } catch (e) {
    log.warn({ err: (e as Error).message }, "could not audit a refused request");
  }
}

export interface VerifyResult {
  ok: boolean;
  rows: number;
  firstBadSeq?: number;
  reason?: string;
}

/**
 * Recomputes the tenant's chain row by row in the database, with the same digest the trigger used,
 * then holds its end against the head anchored in audit_chain_heads: rows deleted from the end of
 * the chain leave no gap, but leave the head pointing past it.
 */
export async function verifyAuditChain(pool: Pool, tenantId: string): Promise<VerifyResult> {
  return withTenant(pool, tenantId, async (tx) => {
    // The head first: rows appended while this runs lie past it and are left for the next check.
    const head = await tx.one<{ seq: string; hash: string }>("SELECT seq, hash FROM audit_chain_heads WHERE chain = $1", [tenantId]);
    if (!head) {
      const any = await tx.one("SELECT 1 FROM audit_logs WHERE tenant_id = $1 LIMIT 1", [tenantId]);
      return any ? { ok: false, rows: 0, firstBadSeq: 1, reason: "the chain has rows but no anchored head: audit_chain_heads was tampered with" } : { ok: true, rows: 0 };
    }
    const headSeq = Number(head.seq);
    const rows = await tx.query<{ seq: string; prev_hash: string; hash: string; recomputed: string }>(
      `SELECT seq, prev_hash, hash, audit_row_digest(prev_hash, a) AS recomputed
       FROM audit_logs a WHERE tenant_id = $1 AND seq <= $2 ORDER BY seq`,
      [tenantId, headSeq],
    );
    let prev = "0".repeat(64);
    let expectedSeq = 1;
    for (const r of rows) {
      const seq = Number(r.seq);
      if (seq !== expectedSeq) return { ok: false, rows: rows.length, firstBadSeq: expectedSeq, reason: "row missing from the chain" };
      if (r.prev_hash !== prev) return { ok: false, rows: rows.length, firstBadSeq: seq, reason: "prev_hash does not match the previous row" };
      if (r.hash !== r.recomputed) return { ok: false, rows: rows.length, firstBadSeq: seq, reason: "row content does not match its hash" };
      prev = r.hash;
      expectedSeq++;
    }
    if (rows.length < headSeq) {
      return {
        ok: false,
        rows: rows.length,
        firstBadSeq: rows.length + 1,
        reason: `the chain ends at seq ${rows.length} but its anchored head is at seq ${headSeq}: the newest rows were deleted`,
      };
    }
    if (head.hash !== prev) return { ok: false, rows: rows.length, firstBadSeq: rows.length, reason: "the newest row's hash differs from the anchored head" };
    return { ok: true, rows: rows.length };
  });
}
