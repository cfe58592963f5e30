/**
 * Result sets: the rows of a task's result too large for its outputs (every score of a
 * whole-tenant scoreLookalike, every cluster of a dedupe, every issue of a validation), in order,
 * read in pages through GET /agents/:agentId/tasks/:taskId/results. A run writes its rows in
 * batches and clears what an earlier attempt of the same task wrote; rows go with their task's
 * tenant (row-level security like every tenant table). Also the leads indexes for whole-tenant
 * runs at a million leads (see below).
 */
exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);

  await knex.raw(`
    CREATE TABLE task_results (
      tenant_id uuid NOT NULL REFERENCES tenants(id),
      task_id uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
      seq integer NOT NULL CHECK (seq >= 0),
      item jsonb NOT NULL,
      PRIMARY KEY (task_id, seq)
    );

    ALTER TABLE task_results ENABLE ROW LEVEL SECURITY;
    ALTER TABLE task_results FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON task_results
      USING (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)
      WITH CHECK (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid);

    GRANT SELECT, INSERT, DELETE ON task_results TO ${appRole};

    -- Whole-tenant runs page through a tenant's live leads in id order; the same index counts them
    -- (index-only). It replaces the created_at indexes (nothing orders a tenant's leads by time any
    -- more), and the lower(email) index goes too: no query uses it, and at a million-row import the
    -- three cost a third of the insert time.
    CREATE INDEX leads_live_by_tenant_id ON leads (tenant_id, id) WHERE merged_into IS NULL;
    DROP INDEX leads_by_tenant;
    DROP INDEX leads_live_by_tenant;
    DROP INDEX leads_by_email;
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`
    CREATE INDEX IF NOT EXISTS leads_by_tenant ON leads (tenant_id, created_at);
    CREATE INDEX IF NOT EXISTS leads_live_by_tenant ON leads (tenant_id, created_at) WHERE merged_into IS NULL;
    CREATE INDEX IF NOT EXISTS leads_by_email ON leads (tenant_id, lower(email));
    DROP INDEX IF EXISTS leads_live_by_tenant_id;
    DROP TABLE IF EXISTS task_results;
  `);
};
