/**
 * Webhooks and push notifications (issue 3): what the core tables lack for signed, retried,
 * crash-safe deliveries.
 *
 * - task_push_configs: the A2A config id (client-chosen, unique per task), a signing secret and the
 *   body format ('dealscale' or 'a2a').
 * - webhook_signing_secrets: one secret per tenant, signing deliveries to a task's callbackUrl
 *   (GET /webhooks/signing-secret hands it to the tenant).
 * - webhook_deliveries: the delivery id (stable per task and target), the event and the outcome of
 *   each attempt, so a delivered or refused target is never sent again.
 * - webhook_delivery_candidates(): the sweep's narrow, cross-tenant view: finished tasks that have a
 *   target with no recorded attempt (the enqueue after commit was lost), as ids and the task's
 *   finish time (its pagination key), never rows.
 */

exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);

  await knex.raw(`
    ALTER TABLE task_push_configs
      ADD COLUMN config_id text NOT NULL DEFAULT gen_random_uuid()::text CHECK (length(config_id) BETWEEN 1 AND 200),
      ADD COLUMN secret text,
      ADD COLUMN format text NOT NULL DEFAULT 'dealscale' CHECK (format IN ('dealscale', 'a2a'));
    CREATE UNIQUE INDEX task_push_configs_per_task ON task_push_configs (task_id, config_id);

    ALTER TABLE webhook_subscriptions
      ADD CONSTRAINT webhook_subscriptions_events CHECK (
        cardinality(events) > 0 AND events <@ ARRAY['completed', 'failed', 'cancelled', 'timeout']::text[]);
    CREATE INDEX webhook_subscriptions_by_tenant ON webhook_subscriptions (tenant_id, created_at, id);

    ALTER TABLE webhook_deliveries
      ADD COLUMN delivery_id uuid,
      ADD COLUMN event text,
      ADD COLUMN outcome text CHECK (outcome IN ('delivered', 'retry', 'failed', 'gone', 'refused')),
      ADD COLUMN duration_ms integer;
    CREATE INDEX webhook_deliveries_by_task ON webhook_deliveries (task_id) WHERE task_id IS NOT NULL;
    CREATE INDEX webhook_deliveries_by_delivery ON webhook_deliveries (delivery_id) WHERE delivery_id IS NOT NULL;

    -- The sweep walks recently finished tasks in (completed_at, id) order. Partial, so only the
    -- finishing UPDATE of a task adds an entry.
    CREATE INDEX tasks_finished ON tasks (completed_at, id) WHERE completed_at IS NOT NULL;

    CREATE TABLE webhook_signing_secrets (
      tenant_id uuid PRIMARY KEY REFERENCES tenants(id),
      secret text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    ALTER TABLE webhook_signing_secrets ENABLE ROW LEVEL SECURITY;
    ALTER TABLE webhook_signing_secrets FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON webhook_signing_secrets
      USING (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)
      WITH CHECK (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid);
  `);

  // Same style as stranded_submitted_tasks: SECURITY DEFINER, ids only, a row limit. A target
  // "has no attempt" when no webhook_deliveries row names it: the task's callback_url (neither
  // subscription nor push config), each push config of the task, each active subscription of the
  // tenant matching the task's status, agent and capability that existed when the task finished.
  await knex.raw(`
    CREATE FUNCTION webhook_delivery_candidates(after_ts timestamptz, after_id uuid, before_ts timestamptz, max_rows integer)
    RETURNS TABLE (task_id uuid, tenant_id uuid, completed_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT t.id, t.tenant_id, t.completed_at FROM tasks t
      WHERE t.completed_at IS NOT NULL
        AND (t.completed_at, t.id) > (after_ts, after_id) AND t.completed_at < before_ts
        AND t.status IN ('completed', 'failed', 'cancelled', 'timeout')
        AND (
          (t.callback_url IS NOT NULL AND NOT EXISTS (
             SELECT 1 FROM webhook_deliveries d
             WHERE d.task_id = t.id AND d.subscription_id IS NULL AND d.push_config_id IS NULL))
          OR EXISTS (
             SELECT 1 FROM task_push_configs p
             WHERE p.task_id = t.id
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.task_id = t.id AND d.push_config_id = p.id))
          OR EXISTS (
             SELECT 1 FROM webhook_subscriptions s
             WHERE s.tenant_id = t.tenant_id AND s.active AND t.status = ANY (s.events)
               AND (s.agent_id IS NULL OR s.agent_id = t.agent_id)
               AND (s.capability IS NULL OR s.capability = t.type)
               AND s.created_at <= t.completed_at
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.task_id = t.id AND d.subscription_id = s.id))
        )
      ORDER BY t.completed_at, t.id
      LIMIT max_rows
    $$;

    REVOKE ALL ON FUNCTION webhook_delivery_candidates(timestamptz, uuid, timestamptz, integer) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION webhook_delivery_candidates(timestamptz, uuid, timestamptz, integer) TO ${appRole};
    GRANT SELECT, INSERT, UPDATE ON webhook_signing_secrets TO ${appRole};
    GRANT UPDATE ON task_push_configs TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`
    DROP FUNCTION IF EXISTS webhook_delivery_candidates(timestamptz, uuid, timestamptz, integer);
    DROP TABLE IF EXISTS webhook_signing_secrets;
    DROP INDEX IF EXISTS tasks_finished;
    DROP INDEX IF EXISTS webhook_deliveries_by_delivery;
    DROP INDEX IF EXISTS webhook_deliveries_by_task;
    ALTER TABLE webhook_deliveries DROP COLUMN IF EXISTS delivery_id, DROP COLUMN IF EXISTS event,
      DROP COLUMN IF EXISTS outcome, DROP COLUMN IF EXISTS duration_ms;
    DROP INDEX IF EXISTS webhook_subscriptions_by_tenant;
    ALTER TABLE webhook_subscriptions DROP CONSTRAINT IF EXISTS webhook_subscriptions_events;
    DROP INDEX IF EXISTS task_push_configs_per_task;
    ALTER TABLE task_push_configs DROP COLUMN IF EXISTS config_id, DROP COLUMN IF EXISTS secret, DROP COLUMN IF EXISTS format;
  `);
};
