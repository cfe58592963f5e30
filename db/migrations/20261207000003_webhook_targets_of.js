/**
 * webhook_targets_of(task_ids): the delivery targets of tasks that just finished, across tenants,
 * ids only (the style of webhook_delivery_candidates). The webhook service calls it once for all
 * the tasks that finish while its previous call runs, so the finish statement need not know about
 * webhooks, and the hot path pays one statement per batch instead of one tenant transaction each.
 * Being SECURITY DEFINER it sees every tenant's rows, so each join names the task's tenant itself.
 */
exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);
  await knex.raw(`
    CREATE FUNCTION webhook_targets_of(task_ids uuid[])
    RETURNS TABLE (task_id uuid, tenant_id uuid, kind text, target_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT t.id, t.tenant_id, 'callback', NULL::uuid FROM tasks t
        WHERE t.id = ANY (task_ids) AND t.callback_url IS NOT NULL AND t.completed_at IS NOT NULL
      UNION ALL
      SELECT t.id, t.tenant_id, 'push_config', p.id FROM tasks t
        JOIN task_push_configs p ON p.task_id = t.id AND p.tenant_id = t.tenant_id
        WHERE t.id = ANY (task_ids) AND t.completed_at IS NOT NULL
      UNION ALL
      SELECT t.id, t.tenant_id, 'subscription', s.id FROM tasks t
        JOIN webhook_subscriptions s ON s.tenant_id = t.tenant_id AND s.active AND t.status = ANY (s.events)
          AND (s.agent_id IS NULL OR s.agent_id = t.agent_id) AND (s.capability IS NULL OR s.capability = t.type)
          AND s.created_at <= t.completed_at
        WHERE t.id = ANY (task_ids) AND t.completed_at IS NOT NULL
    $$;
    REVOKE ALL ON FUNCTION webhook_targets_of(uuid[]) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION webhook_targets_of(uuid[]) TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw("DROP FUNCTION IF EXISTS webhook_targets_of(uuid[])");
};
