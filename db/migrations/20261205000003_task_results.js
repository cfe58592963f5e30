/**
 * Result sets: the rows of a task's result too large for its outputs (every score of a
 * whole-tenant scoreLookalike, every cluster of a dedupe, every issue of a validation), in order,
 * read in pages through GET /agents/:agentId/tasks/:taskId/results. A run writes its rows in
 * batches and clears what an earlier attempt of the same task wrote; rows go with their task's
 * tenant (row-level security like every tenant table). Also an index for paging through a tenant's
 * live leads in id order (whole-tenant dedupe and validation).
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

    -- Whole-tenant runs page through a tenant's live leads in id order.
    CREATE INDEX leads_live_by_tenant_id ON leads (tenant_id, id) WHERE merged_into IS NULL;
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`DROP INDEX IF EXISTS leads_live_by_tenant_id; DROP TABLE IF EXISTS task_results`);
};
