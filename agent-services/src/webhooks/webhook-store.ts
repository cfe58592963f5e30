/**
 * SQL for webhook subscriptions, the tenant signing secret, delivery targets and delivery attempts.
 * Every function takes a TenantTx, so row-level security scopes it.
 */
import type { Pool } from "pg";
import type { TenantTx } from "../store/tenant-tx";
import { isUuid } from "../lib/uuid";
import { newSecret } from "./signing";

export const WEBHOOK_EVENTS = ["completed", "failed", "cancelled", "timeout"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface SubscriptionRow {
  id: string;
  tenant_id: string;
  url: string;
  events: WebhookEvent[];
  agent_id: string | null;
  capability: string | null;
  secret: string;
  active: boolean;
  created_at: Date;
}

export interface SubscriptionView {
  id: string;
  url: string;
  events: WebhookEvent[];
  agentId: string | null;
  capability: string | null;
  active: boolean;
  createdAt: string;
}

export function subscriptionView(row: SubscriptionRow): SubscriptionView {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    agentId: row.agent_id,
    capability: row.capability,
    active: row.active,
    createdAt: row.created_at.toISOString(),
  };
}

export async function insertSubscription(
  tx: TenantTx,
  s: { url: string; events: WebhookEvent[]; agentId: string | null; capability: string | null; secret: string },
): Promise<SubscriptionRow> {
  const row = await tx.one<SubscriptionRow>(
    `INSERT INTO webhook_subscriptions (tenant_id, url, events, agent_id, capability, secret)
     VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
    [tx.tenantId, s.url, s.events, s.agentId, s.capability, s.secret],
  );
  return row!;
}

export async function listSubscriptions(tx: TenantTx, limit = 1000): Promise<SubscriptionRow[]> {
  return tx.query<SubscriptionRow>("SELECT * FROM webhook_subscriptions ORDER BY created_at, id LIMIT $1", [limit]);
}

export async function countSubscriptions(tx: TenantTx): Promise<number> {
  return (await tx.one<{ n: number }>("SELECT count(*)::int AS n FROM webhook_subscriptions"))!.n;
}

export async function getSubscription(tx: TenantTx, id: string): Promise<SubscriptionRow | undefined> {
  if (!isUuid(id)) return undefined;
  return tx.one<SubscriptionRow>("SELECT * FROM webhook_subscriptions WHERE id = $1", [id]);
}

export async function deleteSubscription(tx: TenantTx, id: string): Promise<boolean> {
  if (!isUuid(id)) return false;
  return (await tx.query("DELETE FROM webhook_subscriptions WHERE id = $1 RETURNING id", [id])).length > 0;
}

/** A receiver answered 410 Gone: stop sending to this subscription. */
export async function deactivateSubscription(tx: TenantTx, id: string): Promise<void> {
  await tx.query("UPDATE webhook_subscriptions SET active = false WHERE id = $1", [id]);
}

/** The tenant's secret for callbackUrl deliveries, made on first use. Undefined when the tenant does not exist. */
export async function tenantSigningSecret(tx: TenantTx): Promise<{ secret: string; created_at: Date } | undefined> {
  const existing = await tx.one<{ secret: string; created_at: Date }>("SELECT secret, created_at FROM webhook_signing_secrets WHERE tenant_id = $1", [tx.tenantId]);
  if (existing) return existing;
  if (!(await tx.one("SELECT 1 FROM tenants WHERE id = $1", [tx.tenantId]))) return undefined;
  await tx.query("INSERT INTO webhook_signing_secrets (tenant_id, secret) VALUES ($1, $2) ON CONFLICT (tenant_id) DO NOTHING", [tx.tenantId, newSecret()]);
  return tx.one<{ secret: string; created_at: Date }>("SELECT secret, created_at FROM webhook_signing_secrets WHERE tenant_id = $1", [tx.tenantId]);
}

export async function rotateTenantSigningSecret(tx: TenantTx): Promise<{ secret: string; created_at: Date } | undefined> {
  if (!(await tx.one("SELECT 1 FROM tenants WHERE id = $1", [tx.tenantId]))) return undefined;
  return tx.one<{ secret: string; created_at: Date }>(
    `INSERT INTO webhook_signing_secrets (tenant_id, secret) VALUES ($1, $2)
     ON CONFLICT (tenant_id) DO UPDATE SET secret = EXCLUDED.secret, created_at = now()
     RETURNING secret, created_at`,
    [tx.tenantId, newSecret()],
  );
}

export type TargetKind = "callback" | "subscription" | "push_config";

export interface DeliveryTarget {
  taskId: string;
  kind: TargetKind;
  /** Subscription or push-config uuid; null for the task's callbackUrl. */
  targetId: string | null;
}

/**
 * Who hears of these finished tasks: each task's callbackUrl, its push configs, and the tenant's
 * active subscriptions matching its status (the event), agent and capability that existed when it
 * finished. One statement for a batch of tasks; the same rules as webhook_delivery_candidates().
 * `unattemptedOnly` (the sweep) keeps the targets with no recorded attempt of the task's end (a push
 * config may have had a delivery of the task's input-required state before).
 */
export async function targetsOf(tx: TenantTx, taskIds: string[], unattemptedOnly = false): Promise<DeliveryTarget[]> {
  if (!taskIds.length) return [];
  const rows = await tx.query<{ task_id: string; kind: TargetKind; target_id: string | null }>(
    `SELECT t.id AS task_id, 'callback' AS kind, NULL::uuid AS target_id FROM tasks t
       WHERE t.id = ANY($1::uuid[]) AND t.callback_url IS NOT NULL AND t.completed_at IS NOT NULL
         AND (NOT $2::boolean OR NOT EXISTS (
           SELECT 1 FROM webhook_deliveries d WHERE d.task_id = t.id AND d.subscription_id IS NULL AND d.push_config_id IS NULL))
     UNION ALL
     SELECT p.task_id, 'push_config', p.id FROM task_push_configs p JOIN tasks t ON t.id = p.task_id
       WHERE p.task_id = ANY($1::uuid[]) AND t.completed_at IS NOT NULL
         AND (NOT $2::boolean OR NOT EXISTS (
           SELECT 1 FROM webhook_deliveries d WHERE d.task_id = t.id AND d.push_config_id = p.id AND d.event = t.status))
     UNION ALL
     SELECT t.id, 'subscription', s.id FROM tasks t
       JOIN webhook_subscriptions s ON s.active AND t.status = ANY (s.events)
         AND (s.agent_id IS NULL OR s.agent_id = t.agent_id) AND (s.capability IS NULL OR s.capability = t.type)
         AND s.created_at <= t.completed_at
       WHERE t.id = ANY($1::uuid[]) AND t.completed_at IS NOT NULL
         AND (NOT $2::boolean OR NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.task_id = t.id AND d.subscription_id = s.id))`,
    [taskIds, unattemptedOnly],
    "ds_webhook_targets",
  );
  return rows.map((r) => ({ taskId: r.task_id, kind: r.kind, targetId: r.target_id }));
}

/**
 * The targets of finished tasks of any tenant, through webhook_targets_of() (ids only): one
 * statement, outside any tenant transaction, for a batch of tasks that just finished.
 */
export async function targetsOfFinished(pool: Pool, taskIds: string[]): Promise<(DeliveryTarget & { tenantId: string })[]> {
  if (!taskIds.length) return [];
  const { rows } = await pool.query<{ task_id: string; tenant_id: string; kind: TargetKind; target_id: string | null }>({
    name: "ds_webhook_targets_of",
    text: "SELECT task_id, tenant_id, kind, target_id FROM webhook_targets_of($1::uuid[])",
    values: [taskIds],
  });
  return rows.map((r) => ({ taskId: r.task_id, tenantId: r.tenant_id, kind: r.kind, targetId: r.target_id }));
}

export type DeliveryOutcome = "delivered" | "retry" | "failed" | "gone" | "refused";

export interface DeliveryAttempt {
  deliveryId: string;
  subscriptionId: string | null;
  pushConfigId: string | null;
  taskId: string;
  url: string;
  event: string;
  attempt: number;
  statusCode: number | null;
  error: string | null;
  outcome: DeliveryOutcome;
  durationMs: number | null;
}

export async function recordAttempt(tx: TenantTx, a: DeliveryAttempt): Promise<void> {
  await tx.query(
    `INSERT INTO webhook_deliveries (tenant_id, subscription_id, push_config_id, task_id, url, attempt, status_code, error,
                                     delivery_id, event, outcome, duration_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [tx.tenantId, a.subscriptionId, a.pushConfigId, a.taskId, a.url.slice(0, 2048), a.attempt, a.statusCode, a.error?.slice(0, 1000) ?? null,
      a.deliveryId, a.event, a.outcome, a.durationMs],
  );
}

/** Attempts so far for this delivery and whether one of them settled it (delivered, gone, refused). */
export async function deliveryState(tx: TenantTx, deliveryId: string): Promise<{ attempts: number; settled: boolean }> {
  const r = await tx.one<{ attempts: number; settled: boolean }>(
    `SELECT COALESCE(max(attempt), 0)::int AS attempts, COALESCE(bool_or(outcome IN ('delivered', 'gone', 'refused')), false) AS settled
     FROM webhook_deliveries WHERE delivery_id = $1`,
    [deliveryId],
  );
  return r ?? { attempts: 0, settled: false };
}
