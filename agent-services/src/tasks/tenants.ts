/**
 * Tenant administration: create tenants and grant credits. Run by operators through the CLI; goes
 * through the same tenant helper, so it works whether or not the connecting role bypasses RLS.
 */
import { randomUUID } from "node:crypto";
import type { Pool } from "pg";
import { withTenant } from "../store/tenant-tx";
import { creditsToMilli, milliToCredits } from "../protocol/credits";
import { appendAudit } from "./audit";
import type { TenantTx } from "../store/tenant-tx";

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

/** Tenant settings the agents read; each is optional. */
export interface TenantSettings {
  /** ISO 3166-1 alpha-2 country for phones of leads without a recognised country (dedupe, validation). */
  defaultCountry?: string;
  /** launchCampaign's template when a task gives none; false: every launch must give its own. */
  campaignTemplate?: { subject?: string; body: string; linkedinMessage?: string } | false;
}

export async function readTenantSettings(tx: TenantTx): Promise<TenantSettings> {
  const row = await tx.one<{ settings: TenantSettings }>("SELECT settings FROM tenants WHERE id = $1", [tx.tenantId]);
  return row?.settings ?? {};
}

/** Sets (or, with null, clears) settings keys; audited with the old and new values. */
export async function updateTenantSettings(pool: Pool, tenantId: string, change: { [K in keyof TenantSettings]?: TenantSettings[K] | null }): Promise<TenantSettings> {
  return withTenant(pool, tenantId, async (tx) => {
    const before = await tx.one<{ settings: TenantSettings }>("SELECT settings FROM tenants WHERE id = $1 FOR UPDATE", [tenantId]);
    if (!before) throw new Error(`tenant ${tenantId} not found`);
    const settings: Record<string, unknown> = { ...before.settings };
    for (const [k, v] of Object.entries(change)) {
      if (v === null) delete settings[k];
      else settings[k] = v;
    }
    await tx.query("UPDATE tenants SET settings = $1::jsonb, updated_at = now() WHERE id = $2", [JSON.stringify(settings), tenantId]);
    await appendAudit(tx, { eventType: "tenant_settings_changed", details: { before: before.settings, after: settings } });
    return settings as TenantSettings;
  });
}
