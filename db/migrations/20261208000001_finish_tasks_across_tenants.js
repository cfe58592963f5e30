/**
 * ds_finish_tasks(batch): finishes tasks of several tenants in one statement, the workers' finish
 * path, as ds_start_tasks does for starts. `batch` is [{"tenant": uuid, "items": [...]}, ...], each
 * item a finish (task id, target status, the states it may move from, outputs or error, credits
 * used, audit event). SECURITY INVOKER: it runs as the app role, under row-level security, and sets
 * app.current_tenant before each tenant's statement, so a task listed under the wrong tenant is not
 * found; it puts back the setting it found, so a tenant transaction may call it for its own tenant.
 * A finish commits with the WAL flush (it charges credits): one flush for every finish that arrived
 * meanwhile, instead of one transaction of three round trips per tenant.
 *
 * Lock order, within one tenant: the finished tasks' rows, then the tenant row (the refund), then the
 * tenant's audit chain lock (the audit trigger's advisory lock). A create batch takes the tenant row
 * and then that lock, so the two cannot wait on each other in a cycle; the audit insert reads the refund's result to make
 * that order certain, since Postgres runs unreferenced data-modifying CTEs in no promised order.
 * Across tenants the caller lists tenants in one order (sorted), so two of these cannot deadlock
 * on each other's tenants either.
 */
exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);
  await knex.raw(`
    CREATE FUNCTION ds_finish_tasks(batch jsonb)
    RETURNS TABLE (finish_ord int, task jsonb, event jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
    DECLARE
      b jsonb;
      tenant uuid;
      previous text := current_setting('app.current_tenant', true);
    BEGIN
      FOR b IN SELECT value FROM jsonb_array_elements(batch) LOOP
        tenant := (b->>'tenant')::uuid;
        PERFORM set_config('app.current_tenant', tenant::text, true);
        RETURN QUERY
          WITH req AS (
            SELECT * FROM jsonb_to_recordset(b->'items') AS r(ord int, id uuid, status text, allowed text[], outputs jsonb, error jsonb,
              used bigint, audit_event text, calling_agent text, duration_ms int, error_text text, agent_id text)
          ), t AS (
            UPDATE tasks SET status = req.status, outputs = COALESCE(req.outputs, tasks.outputs), error = COALESCE(req.error, tasks.error),
                   credits_used_milli = LEAST(GREATEST(req.used, 0), tasks.credits_reserved_milli),
                   progress = CASE WHEN req.status = 'completed' THEN 100 ELSE tasks.progress END,
                   completed_at = now(), updated_at = now()
            FROM req
            WHERE tasks.id = req.id AND tasks.status = ANY (req.allowed) AND (req.agent_id IS NULL OR tasks.agent_id = req.agent_id)
            RETURNING tasks.*, req.ord AS req_ord, req.audit_event, req.calling_agent AS req_calling_agent, req.duration_ms AS req_duration_ms,
                      req.error_text AS req_error_text, req.outputs AS req_outputs, req.error AS req_error
          ), led AS (
            INSERT INTO credit_ledger (tenant_id, task_id, kind, amount_milli)
            SELECT t.tenant_id, t.id, k.kind, k.amount FROM t
            CROSS JOIN LATERAL (VALUES ('charge', t.credits_used_milli), ('release', t.credits_reserved_milli - t.credits_used_milli)) AS k(kind, amount)
            WHERE k.amount > 0
          ), refund AS (
            UPDATE tenants SET credits_balance_milli = credits_balance_milli + s.total, updated_at = now()
            FROM (SELECT sum(credits_reserved_milli - credits_used_milli) AS total FROM t) s
            WHERE tenants.id = tenant AND s.total > 0
            RETURNING 1
          ), ev AS (
            INSERT INTO task_events (tenant_id, task_id, kind, data)
            SELECT t.tenant_id, t.id, 'status', jsonb_build_object('status', t.status, 'progress', t.progress)
                   || CASE WHEN t.req_error IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('error', t.req_error) END
            FROM t ORDER BY t.req_ord
            RETURNING id, task_id, kind, data, created_at
          ), aud AS (
            INSERT INTO audit_logs (tenant_id, seq, event_type, calling_agent, target_agent, task_id, input_hash, output_hash,
                                    duration_ms, credits_milli, error, prev_hash, hash)
            SELECT t.tenant_id, 0, t.audit_event, COALESCE(t.req_calling_agent, t.calling_agent), t.agent_id, t.id,
                   encode(sha256(convert_to(t.inputs::text, 'UTF8')), 'hex'),
                   CASE WHEN t.req_outputs IS NULL THEN NULL ELSE encode(sha256(convert_to(t.req_outputs::text, 'UTF8')), 'hex') END,
                   t.req_duration_ms, t.credits_used_milli, t.req_error_text, '', ''
            FROM t CROSS JOIN (SELECT count(*) FROM refund) AS refunded
            ORDER BY t.req_ord
          )
          SELECT t.req_ord, to_jsonb(t) - ARRAY['req_ord', 'audit_event', 'req_calling_agent', 'req_duration_ms', 'req_error_text', 'req_outputs', 'req_error'], to_jsonb(ev)
          FROM t JOIN ev ON ev.task_id = t.id;
      END LOOP;
      PERFORM set_config('app.current_tenant', COALESCE(previous, ''), true);
    END
    $$;
    REVOKE ALL ON FUNCTION ds_finish_tasks(jsonb) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION ds_finish_tasks(jsonb) TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw("DROP FUNCTION IF EXISTS ds_finish_tasks(jsonb)");
};
