/**
 * A push config may now hear of a task twice: when it waits for its caller's input (input-required)
 * and when it ends. The sweep, which re-enqueues the end's delivery to any target with no recorded
 * attempt, counts only attempts of the task's end (event = its final status) for push configs;
 * otherwise a delivered input-required notification would hide a lost final one.
 */
exports.up = async function up(knex) {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION webhook_delivery_candidates(after_ts timestamptz, after_id uuid, before_ts timestamptz, max_rows integer)
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
               AND NOT EXISTS (
                 SELECT 1 FROM webhook_deliveries d WHERE d.task_id = t.id AND d.push_config_id = p.id AND d.event = t.status))
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
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION webhook_delivery_candidates(after_ts timestamptz, after_id uuid, before_ts timestamptz, max_rows integer)
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
  `);
};
