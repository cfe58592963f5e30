/**
 * Tenant administration: create tenants and grant credits. Run by operators through the CLI; goes
 * through the same tenant helper, so it works whether or not the connecting role bypasses RLS.
 */
import { randomUUID } from "node:crypto";
import type { Pool } from "pg";
import { withTenant } from "../store/tenant-tx";
import { creditsToMilli, milliToCredits } from "../protocol/credits";
import { appendAudit } from "./audit";

export async function createTenant(pool: Pool, name: string, credits: number | string, id: string = randomUUID()): Promise<{ tenantId: string; credits: number }> {
  const milli = creditsToMilli(credits);
  if (milli < 0n) throw new RangeError("credits must not be negative");
  return withTenant(pool, id, async (tx) => {
    await tx.query("INSERT INTO tenants (id, name, credits_balance_milli) VALUES ($1, $2, $3)", [id, name, milli.toString()]);
    if (milli > 0n) {
      await tx.query("INSERT INTO credit_ledger (tenant_id, kind, amount_milli, note) VALUES ($1, 'grant', $2, 'initial credits')", [id, milli.toString()]);
    }
    await appendAudit(tx, { eventType: "tenant_created", creditsMilli: milli, details: { name } });
    return { tenantId: id, credits: milliToCredits(milli) };
  });
}

export async function grantCredits(pool: Pool, tenantId: string, credits: number | string, note = "granted"): Promise<{ tenantId: string; balance: number }> {
  const milli = creditsToMilli(credits);
  if (milli <= 0n) throw new RangeError("amount must be positive");
  return withTenant(pool, tenantId, async (tx) => {
    const row = await tx.one<{ balance: string }>(
      "UPDATE tenants SET credits_balance_milli = credits_balance_milli + $1, updated_at = now() WHERE id = $2 RETURNING credits_balance_milli AS balance",
      [milli.toString(), tenantId],
    );
    if (!row) throw new Error(`tenant ${tenantId} not found`);
    await tx.query("INSERT INTO credit_ledger (tenant_id, kind, amount_milli, note) VALUES ($1, 'grant', $2, $3)", [tenantId, milli.toString(), note]);
    await appendAudit(tx, { eventType: "credits_granted", creditsMilli: milli, details: { note } });
    return { tenantId, balance: milliToCredits(row.balance) };
  });
}

export async function tenantBalance(pool: Pool, tenantId: string): Promise<number | null> {
  const row = await withTenant(pool, tenantId, (tx) => tx.one<{ balance: string }>("SELECT credits_balance_milli AS balance FROM tenants WHERE id = $1", [tenantId]));
  return row ? milliToCredits(row.balance) : null;
}
