/**
 * Campaign delivery (issue 4, CampaignOrchestrator): what the core campaign tables lack to send,
 * track, schedule and stop campaigns.
 *
 * - leads.unsubscribed_at / leads.email_bounced_at: suppression; later campaigns skip such leads.
 * - campaigns: 'cancelled' as a status (the card has it), start_at (a scheduled send), the sender's
 *   lease (lease_owner, lease_until: exactly one process sends a campaign; a crashed sender's lease
 *   expires and the due-campaign sweep takes over), pause_reason, started_at / finished_at, and one
 *   campaign per launching task (a retried launch finds its campaign again).
 * - campaign_members: the per-member status set, recipient address, Message-ID (bounce matching),
 *   bounce details; indexes for the send loop and bounce lookups.
 * - campaign_events: an append-only trail of what happened to members (sent, bounced, unsubscribed,
 *   failed, skipped), tenant-scoped like every tenant table.
 * - due_campaigns(): the sweep's narrow cross-tenant view (ids only), like stranded_submitted_tasks.
 */

exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);

  await knex.raw(`
    ALTER TABLE leads
      ADD COLUMN unsubscribed_at timestamptz,
      ADD COLUMN email_bounced_at timestamptz;

    ALTER TABLE campaigns DROP CONSTRAINT IF EXISTS campaigns_status_check;
    ALTER TABLE campaigns
      ADD CONSTRAINT campaigns_status_check CHECK (status IN ('draft','scheduled','running','paused','completed','cancelled','failed')),
      ADD COLUMN start_at timestamptz,
      ADD COLUMN lease_owner text,
      ADD COLUMN lease_until timestamptz,
      ADD COLUMN pause_reason text,
      ADD COLUMN started_at timestamptz,
      ADD COLUMN finished_at timestamptz;
    CREATE UNIQUE INDEX campaigns_by_task ON campaigns (task_id) WHERE task_id IS NOT NULL;
    -- The sweep: scheduled campaigns that are due, and running ones whose sender's lease expired.
    CREATE INDEX campaigns_due ON campaigns (start_at) WHERE status = 'scheduled';
    CREATE INDEX campaigns_running ON campaigns (lease_until) WHERE status = 'running';

    ALTER TABLE campaign_members
      ADD CONSTRAINT campaign_members_status_check CHECK (status IN ('pending','sent','failed','bounced','unsubscribed','skipped')),
      ADD COLUMN recipient text,
      ADD COLUMN message_id text,
      ADD COLUMN bounced_at timestamptz,
      ADD COLUMN bounce_reason text,
      ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();
    CREATE INDEX campaign_members_pending ON campaign_members (campaign_id, created_at, id) WHERE status = 'pending';
    CREATE INDEX campaign_members_by_message ON campaign_members (tenant_id, message_id) WHERE message_id IS NOT NULL;
    CREATE INDEX campaign_members_by_recipient ON campaign_members (tenant_id, lower(recipient)) WHERE recipient IS NOT NULL;
    CREATE INDEX campaign_members_by_lead ON campaign_members (lead_id);

    CREATE TABLE campaign_events (
      id bigserial PRIMARY KEY,
      tenant_id uuid NOT NULL,
      campaign_id uuid NOT NULL REFERENCES campaigns(id),
      member_id uuid,
      lead_id uuid,
      kind text NOT NULL CHECK (kind IN ('sent','failed','bounced','unsubscribed','skipped','paused','started','completed')),
      data jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX campaign_events_by_campaign ON campaign_events (campaign_id, id);
    ALTER TABLE campaign_events ENABLE ROW LEVEL SECURITY;
    ALTER TABLE campaign_events FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON campaign_events
      USING (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)
      WITH CHECK (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid);

    CREATE FUNCTION due_campaigns(max_rows integer)
    RETURNS TABLE (campaign_id uuid, tenant_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      (SELECT id, tenant_id FROM campaigns WHERE status = 'scheduled' AND start_at <= now() ORDER BY start_at LIMIT max_rows)
      UNION ALL
      (SELECT id, tenant_id FROM campaigns WHERE status = 'running' AND lease_until < now() ORDER BY lease_until LIMIT max_rows)
    $$;

    GRANT SELECT, INSERT ON campaign_events TO ${appRole};
    GRANT USAGE, SELECT ON SEQUENCE campaign_events_id_seq TO ${appRole};
    REVOKE ALL ON FUNCTION due_campaigns(integer) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION due_campaigns(integer) TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`
    DROP FUNCTION IF EXISTS due_campaigns(integer);
    DROP TABLE IF EXISTS campaign_events;
    DROP INDEX IF EXISTS campaign_members_pending, campaign_members_by_message, campaign_members_by_recipient, campaign_members_by_lead;
    ALTER TABLE campaign_members DROP CONSTRAINT IF EXISTS campaign_members_status_check,
      DROP COLUMN IF EXISTS recipient, DROP COLUMN IF EXISTS message_id, DROP COLUMN IF EXISTS bounced_at,
      DROP COLUMN IF EXISTS bounce_reason, DROP COLUMN IF EXISTS created_at;
    DROP INDEX IF EXISTS campaigns_by_task, campaigns_due, campaigns_running;
    ALTER TABLE campaigns DROP CONSTRAINT IF EXISTS campaigns_status_check,
      DROP COLUMN IF EXISTS start_at, DROP COLUMN IF EXISTS lease_owner, DROP COLUMN IF EXISTS lease_until,
      DROP COLUMN IF EXISTS pause_reason, DROP COLUMN IF EXISTS started_at, DROP COLUMN IF EXISTS finished_at;
    ALTER TABLE campaigns ADD CONSTRAINT campaigns_status_check CHECK (status IN ('draft','scheduled','running','paused','completed','failed'));
    ALTER TABLE leads DROP COLUMN IF EXISTS unsubscribed_at, DROP COLUMN IF EXISTS email_bounced_at;
  `);
};
