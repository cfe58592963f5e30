/**
 * Campaign SQL over the tenant-scoped transaction (row-level security pins every statement to the
 * transaction's tenant, so another tenant's leads and campaigns are simply invisible).
 */
import type { TenantTx } from "../../store/tenant-tx";
import type { CampaignStatus, Channel, MemberStatus } from "./domain/delivery";

export interface CampaignRow {
  id: string;
  tenant_id: string;
  name: string;
  status: CampaignStatus;
  channels: Channel[];
  template: { subject?: string; body: string; linkedinMessage?: string };
  schedule: { startAt: string; timezone?: string } | null;
  task_id: string | null;
  start_at: Date | null;
  lease_owner: string | null;
  lease_until: Date | null;
  pause_reason: string | null;
}

export interface AudienceLead {
  id: string;
  email: string | null;
  unsubscribed_at: Date | null;
  email_bounced_at: Date | null;
}

export interface PendingMember {
  member_id: string;
  channel: Channel;
  lead_id: string;
  email: string | null;
  first_name: string | null;
  last_name: string | null;
  title: string | null;
  company: string | null;
  domain: string | null;
  city: string | null;
  country: string | null;
  industry: string | null;
  linkedin_url: string | null;
  attributes: Record<string, unknown> | null;
  unsubscribed_at: Date | null;
  email_bounced_at: Date | null;
}

export async function tenantSettings(tx: TenantTx): Promise<unknown> {
  return (await tx.one<{ settings: unknown }>("SELECT settings FROM tenants WHERE id = $1", [tx.tenantId]))?.settings ?? {};
}

export async function campaignByTask(tx: TenantTx, taskId: string): Promise<CampaignRow | undefined> {
  return tx.one<CampaignRow>("SELECT * FROM campaigns WHERE task_id = $1", [taskId]);
}

export async function campaignById(tx: TenantTx, id: string): Promise<CampaignRow | undefined> {
  return tx.one<CampaignRow>("SELECT * FROM campaigns WHERE id = $1", [id]);
}

/** The requested leads this tenant can see; the others (another tenant's, or none at all) are not returned. */
export async function visibleLeads(tx: TenantTx, ids: string[]): Promise<AudienceLead[]> {
  return tx.query<AudienceLead>("SELECT id, email, unsubscribed_at, email_bounced_at FROM leads WHERE id = ANY($1::uuid[])", [ids]);
}

export async function insertCampaign(
  tx: TenantTx,
  c: { name: string; status: CampaignStatus; channels: Channel[]; template: unknown; schedule: unknown; taskId: string; startAt: Date | null },
): Promise<CampaignRow> {
  return (await tx.one<CampaignRow>(
    `INSERT INTO campaigns (tenant_id, name, status, channels, template, schedule, task_id, start_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *`,
    [tx.tenantId, c.name, c.status, c.channels, JSON.stringify(c.template), c.schedule === null ? null : JSON.stringify(c.schedule), c.taskId, c.startAt],
  ))!;
}

export async function insertMembers(
  tx: TenantTx,
  campaignId: string,
  members: { leadId: string; channel: Channel; status: MemberStatus; recipient: string | null; error: string | null }[],
): Promise<void> {
  if (!members.length) return;
  await tx.query(
    `INSERT INTO campaign_members (tenant_id, campaign_id, lead_id, channel, status, recipient, error)
     SELECT $1, $2, m.lead_id, m.channel, m.status, m.recipient, m.error
     FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[]) AS m(lead_id, channel, status, recipient, error)
     ON CONFLICT (campaign_id, lead_id, channel) DO NOTHING`,
    [tx.tenantId, campaignId, members.map((m) => m.leadId), members.map((m) => m.channel), members.map((m) => m.status), members.map((m) => m.recipient), members.map((m) => m.error)],
  );
  const skipped = members.filter((m) => m.status === "skipped");
  if (skipped.length) {
    await tx.query(
      `INSERT INTO campaign_events (tenant_id, campaign_id, lead_id, kind, data)
       SELECT $1, $2, s.lead_id, 'skipped', jsonb_build_object('channel', s.channel, 'reason', s.reason)
       FROM unnest($3::uuid[], $4::text[], $5::text[]) AS s(lead_id, channel, reason)`,
      [tx.tenantId, campaignId, skipped.map((m) => m.leadId), skipped.map((m) => m.channel), skipped.map((m) => m.error)],
    );
  }
}

/**
 * Takes the sender's lease: a running campaign, or a scheduled one that is due, whose lease is free,
 * expired or already ours. Moves it to running. Undefined when someone else sends it or it is not
 * runnable (paused, finished, not yet due).
 */
export async function claimCampaign(tx: TenantTx, id: string, owner: string, leaseMs: number): Promise<CampaignRow | undefined> {
  return tx.one<CampaignRow>(
    `UPDATE campaigns SET status = 'running', lease_owner = $2, lease_until = now() + make_interval(secs => $3::double precision / 1000),
       started_at = COALESCE(started_at, now()), updated_at = now()
     WHERE id = $1
       AND (status = 'running' OR (status = 'scheduled' AND start_at <= now()))
       AND (lease_until IS NULL OR lease_until < now() OR lease_owner = $2)
     RETURNING *`,
    [id, owner, leaseMs],
  );
}

/** Renews the lease and says whether the campaign is still running for this sender (a pause stops it). */
export async function renewLease(tx: TenantTx, id: string, owner: string, leaseMs: number): Promise<CampaignStatus | undefined> {
  const row = await tx.one<{ status: CampaignStatus }>(
    `UPDATE campaigns SET lease_until = CASE WHEN status = 'running' THEN now() + make_interval(secs => $3::double precision / 1000) ELSE NULL END,
       lease_owner = CASE WHEN status = 'running' THEN lease_owner ELSE NULL END
     WHERE id = $1 AND lease_owner = $2 RETURNING status`,
    [id, owner, leaseMs],
  );
  return row?.status;
}

/** Lets go of the lease; `retryInMs` keeps the sweep from taking the campaign before then. */
export async function releaseLease(tx: TenantTx, id: string, owner: string, retryInMs = 0): Promise<void> {
  await tx.query(
    `UPDATE campaigns SET lease_owner = NULL, lease_until = CASE WHEN status = 'running' THEN now() + make_interval(secs => $3::double precision / 1000) ELSE NULL END
     WHERE id = $1 AND lease_owner = $2`,
    [id, owner, retryInMs],
  );
}

export async function setCampaignStatus(tx: TenantTx, id: string, status: CampaignStatus, owner: string | null, reason?: string): Promise<void> {
  await tx.query(
    `UPDATE campaigns SET status = $2::text, pause_reason = COALESCE($4::text, pause_reason), lease_owner = NULL, lease_until = NULL, updated_at = now(),
       finished_at = CASE WHEN $2::text IN ('completed','cancelled','failed') THEN now() ELSE finished_at END
     WHERE id = $1 AND ($3::text IS NULL OR lease_owner = $3) AND status IN ('running','scheduled','paused','draft')`,
    [id, status, owner, reason ?? null],
  );
  await tx.query("INSERT INTO campaign_events (tenant_id, campaign_id, kind, data) SELECT $1::uuid, $2::uuid, $3::text, $4::jsonb WHERE $3::text IN ('paused','completed')", [
    tx.tenantId,
    id,
    status,
    JSON.stringify(reason ? { reason } : {}),
  ]);
}

/** Completes a campaign whose members are all handled; false while some are still pending. */
export async function completeIfDone(tx: TenantTx, id: string, owner: string): Promise<boolean> {
  const row = await tx.one<{ id: string }>(
    `UPDATE campaigns SET status = 'completed', lease_owner = NULL, lease_until = NULL, finished_at = now(), updated_at = now()
     WHERE id = $1 AND lease_owner = $2 AND status = 'running'
       AND NOT EXISTS (SELECT 1 FROM campaign_members m WHERE m.campaign_id = $1 AND m.status = 'pending')
     RETURNING id`,
    [id, owner],
  );
  if (row) await tx.query("INSERT INTO campaign_events (tenant_id, campaign_id, kind) VALUES ($1, $2, 'completed')", [tx.tenantId, id]);
  return !!row;
}

export async function pendingMembers(tx: TenantTx, campaignId: string, limit: number): Promise<PendingMember[]> {
  return tx.query<PendingMember>(
    `SELECT m.id AS member_id, m.channel, m.lead_id, l.email, l.first_name, l.last_name, l.title, l.company, l.domain, l.city,
            l.country, l.industry, l.linkedin_url, l.attributes, l.unsubscribed_at, l.email_bounced_at
     FROM campaign_members m JOIN leads l ON l.id = m.lead_id
     WHERE m.campaign_id = $1 AND m.status = 'pending'
     ORDER BY m.created_at, m.id LIMIT $2`,
    [campaignId, limit],
  );
}

export async function countPending(tx: TenantTx, campaignId: string): Promise<number> {
  return Number((await tx.one<{ n: string }>("SELECT count(*) AS n FROM campaign_members WHERE campaign_id = $1 AND status = 'pending'", [campaignId]))!.n);
}

/** Records one member's outcome; only a pending member moves (a retried run never rewrites history). */
export async function recordOutcome(
  tx: TenantTx,
  m: { memberId: string; campaignId: string; leadId: string; channel: Channel },
  outcome: { status: Exclude<MemberStatus, "pending">; messageId?: string; recipient?: string | null; error?: string; externalId?: string },
): Promise<void> {
  const row = await tx.one<{ id: string }>(
    `UPDATE campaign_members SET status = $2::text, message_id = COALESCE($3::text, message_id), recipient = COALESCE($4::text, recipient), error = $5::text,
       sent_at = CASE WHEN $2::text = 'sent' THEN now() ELSE sent_at END,
       bounced_at = CASE WHEN $2::text = 'bounced' THEN now() ELSE bounced_at END,
       bounce_reason = CASE WHEN $2::text = 'bounced' THEN $5::text ELSE bounce_reason END,
       updated_at = now()
     WHERE id = $1 AND status = 'pending' RETURNING id`,
    [m.memberId, outcome.status, outcome.messageId ?? null, outcome.recipient ?? null, outcome.error ?? null],
  );
  if (!row) return;
  if (outcome.status === "bounced") await tx.query("UPDATE leads SET email_bounced_at = COALESCE(email_bounced_at, now()) WHERE id = $1", [m.leadId]);
  await tx.query(
    "INSERT INTO campaign_events (tenant_id, campaign_id, member_id, lead_id, kind, data) VALUES ($1, $2, $3, $4, $5, $6)",
    [tx.tenantId, m.campaignId, m.memberId, m.leadId, outcome.status, JSON.stringify({ channel: m.channel, ...(outcome.messageId ? { messageId: outcome.messageId } : {}), ...(outcome.error ? { error: outcome.error } : {}), ...(outcome.externalId ? { externalId: outcome.externalId } : {}) })],
  );
}

export async function memberCounts(tx: TenantTx, campaignId: string): Promise<{ channel: string; status: string; was_sent: boolean; n: number }[]> {
  return tx.query(
    `SELECT channel, status, (sent_at IS NOT NULL) AS was_sent, count(*)::int AS n
     FROM campaign_members WHERE campaign_id = $1 GROUP BY 1, 2, 3`,
    [campaignId],
  );
}

/** Pauses a scheduled or running campaign; returns the status before, undefined when not found. */
export async function pauseCampaign(tx: TenantTx, id: string, reason: string | null): Promise<{ previous: CampaignStatus; status: CampaignStatus } | undefined> {
  const before = await tx.one<{ status: CampaignStatus }>("SELECT status FROM campaigns WHERE id = $1 FOR UPDATE", [id]);
  if (!before) return undefined;
  if (before.status === "scheduled" || before.status === "running" || before.status === "draft") {
    await tx.query("UPDATE campaigns SET status = 'paused', pause_reason = $2, updated_at = now() WHERE id = $1", [id, reason]);
    await tx.query("INSERT INTO campaign_events (tenant_id, campaign_id, kind, data) VALUES ($1, $2, 'paused', $3)", [tx.tenantId, id, JSON.stringify({ reason, previousStatus: before.status })]);
    return { previous: before.status, status: "paused" };
  }
  return { previous: before.status, status: before.status };
}

/** The unsubscribe link: the lead is suppressed, its member in that campaign marked unsubscribed. */
export async function unsubscribeLead(tx: TenantTx, leadId: string, campaignId: string): Promise<boolean> {
  const lead = await tx.one<{ id: string }>("UPDATE leads SET unsubscribed_at = COALESCE(unsubscribed_at, now()), updated_at = now() WHERE id = $1 RETURNING id", [leadId]);
  if (!lead) return false;
  const members = await tx.query<{ id: string; channel: string }>(
    `UPDATE campaign_members SET status = 'unsubscribed', updated_at = now()
     WHERE campaign_id = $1 AND lead_id = $2 AND channel = 'email' AND status IN ('sent','pending') RETURNING id, channel`,
    [campaignId, leadId],
  );
  const exists = await tx.one("SELECT 1 FROM campaigns WHERE id = $1", [campaignId]);
  if (exists) {
    await tx.query("INSERT INTO campaign_events (tenant_id, campaign_id, member_id, lead_id, kind) VALUES ($1, $2, $3, $4, 'unsubscribed')", [tx.tenantId, campaignId, members[0]?.id ?? null, leadId]);
  }
  return true;
}

/** A hard bounce reported after the fact: by Message-ID, else by the address of a member that was sent. */
export async function markBounced(tx: TenantTx, r: { messageId?: string; email?: string; reason: string }): Promise<number> {
  const rows = await tx.query<{ id: string; campaign_id: string; lead_id: string }>(
    `UPDATE campaign_members SET status = 'bounced', bounced_at = now(), bounce_reason = $3, updated_at = now()
     WHERE status = 'sent' AND (($1::text IS NOT NULL AND message_id = $1) OR ($1::text IS NULL AND $2::text IS NOT NULL AND lower(recipient) = lower($2)))
     RETURNING id, campaign_id, lead_id`,
    [r.messageId ?? null, r.email ?? null, r.reason],
  );
  for (const m of rows) {
    await tx.query("UPDATE leads SET email_bounced_at = COALESCE(email_bounced_at, now()) WHERE id = $1", [m.lead_id]);
    await tx.query("INSERT INTO campaign_events (tenant_id, campaign_id, member_id, lead_id, kind, data) VALUES ($1, $2, $3, $4, 'bounced', $5)", [
      tx.tenantId, m.campaign_id, m.id, m.lead_id, JSON.stringify({ reason: r.reason, reported: true }),
    ]);
  }
  return rows.length;
}
