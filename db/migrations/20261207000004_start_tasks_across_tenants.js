/**
 * ds_start_tasks(batch, allowed): takes tasks of several tenants to working in one statement, for
 * the workers' start path. `batch` is [{"tenant": uuid, "ids": [uuid, ...]}, ...]. SECURITY INVOKER:
 * it runs as the app role, under row-level security, and sets app.current_tenant itself before each
 * tenant's statement, exactly as the tenant helper does before a transaction's statements; so a task
 * id listed under the wrong tenant is simply not found. Commits without waiting for the WAL flush:
 * a start lost in a crash is written again when the job re-runs. One statement and no BEGIN/COMMIT:
 * one round trip for every start that arrived meanwhile, instead of three per tenant.
 */
exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);
  await knex.raw(`
    CREATE FUNCTION ds_start_tasks(batch jsonb, allowed text[])
    RETURNS TABLE (task jsonb, event jsonb)
    LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
    DECLARE
      b jsonb;
    BEGIN
      PERFORM set_config('synchronous_commit', 'off', true);
      FOR b IN SELECT value FROM jsonb_array_elements(batch) LOOP
        PERFORM set_config('app.current_tenant', (b->>'tenant')::uuid::text, true);
        RETURN QUERY
          WITH t AS (
            UPDATE tasks SET status = 'working', attempts = attempts + 1, started_at = COALESCE(started_at, now()), updated_at = now()
            WHERE id = ANY (ARRAY(SELECT jsonb_array_elements_text(b->'ids'))::uuid[]) AND status = ANY (allowed)
            RETURNING *
          ), ev AS (
            INSERT INTO task_events (tenant_id, task_id, kind, data)
            SELECT tenant_id, id, 'status', jsonb_build_object('status', 'working', 'progress', progress, 'attempt', attempts) FROM t
            RETURNING id, task_id, kind, data, created_at
          )
          SELECT to_jsonb(t), to_jsonb(ev) FROM t JOIN ev ON ev.task_id = t.id;
      END LOOP;
      PERFORM set_config('app.current_tenant', '', true);
    END
    $$;
    REVOKE ALL ON FUNCTION ds_start_tasks(jsonb, text[]) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION ds_start_tasks(jsonb, text[]) TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw("DROP FUNCTION IF EXISTS ds_start_tasks(jsonb, text[])");
};
