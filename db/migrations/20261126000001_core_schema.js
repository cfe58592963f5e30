/**
 * Core schema: tenants, agent registry, tasks and their events, the credit ledger, the append-only
 * audit log, leads, campaigns and webhook subscriptions; the application role and row-level security.
 *
 * The application role is a parameter (knex userParams.appRole) because roles are cluster-wide and
 * deployments name theirs. It never owns a table and never bypasses RLS.
 */

const TENANT_TABLES = [
  "tasks",
  "task_events",
  "credit_ledger",
  "audit_logs",
  "leads",
  "campaigns",
  "campaign_members",
  "webhook_subscriptions",
  "task_push_configs",
  "webhook_deliveries",
];

exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  const appPassword = (knex.userParams && knex.userParams.appPassword) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);

  await knex.raw(`
    DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${appRole}') THEN
        CREATE ROLE ${appRole} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD ${quoteLiteral(appPassword)};
      END IF;
    END $$;
  `);

  await knex.raw(`
    CREATE TABLE tenants (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      credits_balance_milli bigint NOT NULL DEFAULT 0 CHECK (credits_balance_milli >= 0),
      settings jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE agents (
      id text PRIMARY KEY,
      name text NOT NULL,
      version text NOT NULL,
      status text NOT NULL,
      card jsonb NOT NULL,
      updated_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE tasks (
      id uuid PRIMARY KEY,
      tenant_id uuid NOT NULL REFERENCES tenants(id),
      agent_id text NOT NULL REFERENCES agents(id),
      type text NOT NULL,
      status text NOT NULL CHECK (status IN ('submitted','working','completed','failed','cancelled','timeout')),
      priority integer NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
      inputs jsonb NOT NULL,
      outputs jsonb,
      error jsonb,
      progress integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
      progress_message text,
      idempotency_key text,
      credits_reserved_milli bigint NOT NULL DEFAULT 0 CHECK (credits_reserved_milli >= 0),
      credits_used_milli bigint NOT NULL DEFAULT 0 CHECK (credits_used_milli >= 0),
      calling_agent text,
      callback_url text,
      attempts integer NOT NULL DEFAULT 0,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      started_at timestamptz,
      completed_at timestamptz
    );
    CREATE UNIQUE INDEX tasks_idempotency ON tasks (tenant_id, agent_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
    CREATE INDEX tasks_listing ON tasks (tenant_id, agent_id, created_at DESC, id DESC);
    CREATE INDEX tasks_open ON tasks (status, created_at) WHERE status IN ('submitted','working');

    -- The high-volume tables below (events, ledger, audit) carry tenant_id without a foreign key to
    -- tenants: each such check locks the tenant row FOR KEY SHARE, and that row is the hottest one
    -- (every reservation updates it). Row-level security already pins tenant_id to the transaction's
    -- tenant, and task_id references a task, which references its tenant.
    CREATE TABLE task_events (
      id bigserial PRIMARY KEY,
      tenant_id uuid NOT NULL,
      task_id uuid NOT NULL, -- no FK: written only in the statement that moves its task
      kind text NOT NULL CHECK (kind IN ('status','progress')),
      data jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX task_events_by_task ON task_events (task_id, id);

    CREATE TABLE credit_ledger (
      id bigserial PRIMARY KEY,
      tenant_id uuid NOT NULL,
      task_id uuid REFERENCES tasks(id),
      kind text NOT NULL CHECK (kind IN ('grant','reserve','charge','release')),
      amount_milli bigint NOT NULL CHECK (amount_milli >= 0),
      note text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    -- A retried job or a duplicated event can never charge (or release) a task twice.
    CREATE UNIQUE INDEX credit_ledger_once_per_task ON credit_ledger (task_id, kind) WHERE task_id IS NOT NULL;
    CREATE INDEX credit_ledger_by_tenant ON credit_ledger (tenant_id, created_at);

    CREATE TABLE audit_logs (
      id bigserial PRIMARY KEY,
      tenant_id uuid,
      seq bigint NOT NULL,
      event_type text NOT NULL,
      calling_agent text,
      target_agent text,
      task_id uuid,
      user_id text,
      ip text,
      user_agent text,
      input_hash text,
      output_hash text,
      duration_ms integer,
      credits_milli bigint,
      error text,
      details jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      prev_hash text NOT NULL,
      hash text NOT NULL
    );
    -- Chain position per tenant; NULL tenant (requests that never named a valid tenant) chains on its own.
    CREATE UNIQUE INDEX audit_logs_chain ON audit_logs (COALESCE(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid), seq);

    CREATE TABLE leads (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants(id),
      email text,
      first_name text,
      last_name text,
      title text,
      seniority text,
      company text,
      domain text,
      industry text,
      employee_count integer,
      phone text,
      address text,
      city text,
      postcode text,
      country text,
      linkedin_url text,
      source text,
      attributes jsonb NOT NULL DEFAULT '{}'::jsonb,
      enriched_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX leads_by_tenant ON leads (tenant_id, created_at);
    CREATE INDEX leads_by_email ON leads (tenant_id, lower(email));

    CREATE TABLE campaigns (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants(id),
      name text NOT NULL,
      status text NOT NULL CHECK (status IN ('draft','scheduled','running','paused','completed','failed')),
      channels text[] NOT NULL,
      template jsonb NOT NULL DEFAULT '{}'::jsonb,
      schedule jsonb,
      task_id uuid REFERENCES tasks(id),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX campaigns_by_tenant ON campaigns (tenant_id, created_at);

    CREATE TABLE campaign_members (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants(id),
      campaign_id uuid NOT NULL REFERENCES campaigns(id),
      lead_id uuid NOT NULL REFERENCES leads(id),
      channel text NOT NULL,
      status text NOT NULL DEFAULT 'pending',
      error text,
      sent_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (campaign_id, lead_id, channel)
    );

    CREATE TABLE webhook_subscriptions (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants(id),
      url text NOT NULL,
      events text[] NOT NULL,
      agent_id text,
      capability text,
      secret text NOT NULL,
      active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    CREATE TABLE task_push_configs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants(id),
      task_id uuid NOT NULL REFERENCES tasks(id),
      url text NOT NULL,
      token text,
      authentication jsonb,
      created_at timestamptz NOT NULL DEFAULT now()
    );

    -- One row per delivery attempt: no foreign key to the hot tenant row (see task_events).
    CREATE TABLE webhook_deliveries (
      id bigserial PRIMARY KEY,
      tenant_id uuid NOT NULL,
      subscription_id uuid,
      push_config_id uuid,
      task_id uuid,
      url text NOT NULL,
      attempt integer NOT NULL,
      status_code integer,
      error text,
      created_at timestamptz NOT NULL DEFAULT now()
    );
  `);

  // The audit chain: each row's hash covers its fields and the previous row's hash of the same
  // tenant. Computed by the database so no code path can insert an unchained row. The function is
  // SECURITY DEFINER so it can see the tail of the NULL-tenant chain, which no tenant may read.
  await knex.raw(`
    -- plpgsql rather than sql: the trigger calls it per row, and a non-inlined SQL function would be
    -- planned again on every call.
    CREATE FUNCTION audit_row_digest(prev text, r audit_logs) RETURNS text
    LANGUAGE plpgsql IMMUTABLE AS $$
    BEGIN
      RETURN encode(sha256(convert_to(prev || '|' || jsonb_build_object(
        'tenant_id', r.tenant_id, 'seq', r.seq, 'event_type', r.event_type,
        'calling_agent', r.calling_agent, 'target_agent', r.target_agent, 'task_id', r.task_id,
        'user_id', r.user_id, 'ip', r.ip, 'user_agent', r.user_agent,
        'input_hash', r.input_hash, 'output_hash', r.output_hash, 'duration_ms', r.duration_ms,
        'credits_milli', r.credits_milli, 'error', r.error, 'details', r.details,
        'created_at_us', floor(extract(epoch FROM r.created_at) * 1000000)::bigint
      )::text, 'UTF8')), 'hex');
    END $$;

    CREATE FUNCTION audit_chain() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
    DECLARE
      last_seq bigint;
      last_hash text;
    BEGIN
      PERFORM pg_advisory_xact_lock(7311, hashtext(COALESCE(NEW.tenant_id::text, '')));
      SELECT a.seq, a.hash INTO last_seq, last_hash FROM audit_logs a
        WHERE COALESCE(a.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)
            = COALESCE(NEW.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid)
        ORDER BY a.seq DESC LIMIT 1;
      NEW.seq := COALESCE(last_seq, 0) + 1;
      NEW.prev_hash := COALESCE(last_hash, repeat('0', 64));
      NEW.created_at := clock_timestamp();
      NEW.hash := audit_row_digest(NEW.prev_hash, NEW);
      RETURN NEW;
    END $$;

    CREATE TRIGGER audit_logs_chain BEFORE INSERT ON audit_logs FOR EACH ROW EXECUTE FUNCTION audit_chain();

    CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$;
    CREATE TRIGGER audit_logs_no_update BEFORE UPDATE OR DELETE ON audit_logs FOR EACH ROW EXECUTE FUNCTION audit_append_only();
    CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
  `);

  // Row-level security: every tenant table is scoped to app.current_tenant, set transaction-locally
  // by the one tenant helper. missing_ok=true makes an unset tenant read as NULL, which matches no row.
  await knex.raw(`
    ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
    ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON tenants
      USING (id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)
      WITH CHECK (id = NULLIF(current_setting('app.current_tenant', true), '')::uuid);
  `);
  for (const table of TENANT_TABLES) {
    await knex.raw(`
      ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
      ALTER TABLE ${table} FORCE ROW LEVEL SECURITY;
      CREATE POLICY tenant_isolation ON ${table}
        USING (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)
        WITH CHECK (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid);
    `);
  }
  // Refused requests that never named a valid tenant are still audited, in the NULL-tenant chain,
  // which the application may append to but not read.
  await knex.raw(`
    CREATE POLICY anonymous_audit_insert ON audit_logs FOR INSERT
      WITH CHECK (tenant_id IS NULL);
  `);

  // Cross-tenant housekeeping (the reconciler, the SLA sweeper) sees only ids, through these
  // narrow SECURITY DEFINER functions, never the rows themselves.
  await knex.raw(`
    CREATE FUNCTION stranded_submitted_tasks(older_than interval, max_rows integer)
    RETURNS TABLE (task_id uuid, tenant_id uuid, agent_id text, type text, priority integer)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT id, tenant_id, agent_id, type, priority FROM tasks
      WHERE status = 'submitted' AND created_at < now() - older_than
      ORDER BY created_at LIMIT max_rows
    $$;

    CREATE FUNCTION overdue_working_tasks(max_rows integer)
    RETURNS TABLE (task_id uuid, tenant_id uuid, agent_id text, type text, started_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
      SELECT t.id, t.tenant_id, t.agent_id, t.type, t.started_at FROM tasks t
      JOIN agents a ON a.id = t.agent_id
      CROSS JOIN LATERAL jsonb_array_elements(a.card->'capabilities') cap
      WHERE t.status = 'working' AND cap->>'name' = t.type
        AND t.started_at + (cap->'sla'->>'maxLatency')::interval < now()
      ORDER BY t.started_at LIMIT max_rows
    $$;
  `);

  await knex.raw(`
    GRANT USAGE ON SCHEMA public TO ${appRole};
    GRANT SELECT, INSERT, UPDATE ON tenants, tasks, leads, campaigns, campaign_members, webhook_subscriptions, agents TO ${appRole};
    GRANT DELETE ON webhook_subscriptions, task_push_configs TO ${appRole};
    GRANT SELECT, INSERT ON task_events, credit_ledger, audit_logs, task_push_configs, webhook_deliveries TO ${appRole};
    GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${appRole};
    REVOKE ALL ON FUNCTION stranded_submitted_tasks(interval, integer) FROM PUBLIC;
    REVOKE ALL ON FUNCTION overdue_working_tasks(integer) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION stranded_submitted_tasks(interval, integer), overdue_working_tasks(integer) TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`
    DROP FUNCTION IF EXISTS overdue_working_tasks(integer);
    DROP FUNCTION IF EXISTS stranded_submitted_tasks(interval, integer);
    DROP TABLE IF EXISTS webhook_deliveries, task_push_configs, webhook_subscriptions, campaign_members,
      campaigns, leads, audit_logs, credit_ledger, task_events, tasks, agents, tenants CASCADE;
    DROP FUNCTION IF EXISTS audit_chain();
    DROP FUNCTION IF EXISTS audit_append_only();
    DROP FUNCTION IF EXISTS audit_row_digest(text, audit_logs);
  `);
};

function quoteLiteral(s) {
  return "'" + String(s).replace(/'/g, "''") + "'";
}
