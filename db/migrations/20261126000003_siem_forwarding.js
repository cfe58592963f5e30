/**
 * SIEM forwarding of the audit log. The audit_logs row stays the source of truth; a forwarder reads
 * rows past a stored cursor, in id order, and sends them to the SIEM sink, so a crash or a sink
 * outage never loses one (at-least-once).
 *
 * - siem_cursor: one row, the id of the last audit row the sink accepted. The app role may read and
 *   move it; a forwarder holds the row (SELECT ... FOR UPDATE SKIP LOCKED) while it sends a batch, so
 *   only one replica forwards at a time.
 * - audit_rows_after(after_id, max_rows): the app role cannot read across tenants (RLS), so, like
 *   the reconciler's housekeeping functions, this narrow SECURITY DEFINER function returns the audit
 *   columns of rows after a given id, in id order, capped at max_rows (never more than 5,000).
 */

exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);

  await knex.raw(`
    CREATE TABLE siem_cursor (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      last_id bigint NOT NULL DEFAULT 0 CHECK (last_id >= 0),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO siem_cursor (id, last_id) VALUES (true, 0);

    CREATE FUNCTION audit_rows_after(after_id bigint, max_rows integer)
    RETURNS TABLE (
      id bigint, tenant_id uuid, seq bigint, event_type text, calling_agent text, target_agent text,
      task_id uuid, user_id text, ip text, user_agent text, input_hash text, output_hash text,
      duration_ms integer, credits_milli bigint, error text, details jsonb, created_at timestamptz,
      prev_hash text, hash text
    )
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT a.id, a.tenant_id, a.seq, a.event_type, a.calling_agent, a.target_agent, a.task_id, a.user_id,
             a.ip, a.user_agent, a.input_hash, a.output_hash, a.duration_ms, a.credits_milli, a.error, a.details,
             a.created_at, a.prev_hash, a.hash
      FROM audit_logs a
      WHERE a.id > after_id
      ORDER BY a.id
      LIMIT LEAST(GREATEST(max_rows, 0), 5000)
    $$;
  `);

  await knex.raw(`
    GRANT SELECT, UPDATE ON siem_cursor TO ${appRole};
    REVOKE ALL ON FUNCTION audit_rows_after(bigint, integer) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION audit_rows_after(bigint, integer) TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`
    DROP FUNCTION IF EXISTS audit_rows_after(bigint, integer);
    DROP TABLE IF EXISTS siem_cursor;
  `);
};
