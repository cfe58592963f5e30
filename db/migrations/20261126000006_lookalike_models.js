/**
 * Trained lookalike models (AudienceArchitect scoreLookalike): the binnings, weights of evidence and
 * coefficients as JSON, with the metrics measured on held-out seeds. A task that names a
 * modelVersion scores with that stored model; one that names none trains a fresh model and stores it
 * here. Versions are unique per tenant; rows are written once and never changed.
 */
exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);

  await knex.raw(`
    CREATE TABLE lookalike_models (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      tenant_id uuid NOT NULL REFERENCES tenants(id),
      version text NOT NULL CHECK (length(version) BETWEEN 1 AND 50),
      model jsonb NOT NULL,
      metrics jsonb NOT NULL DEFAULT '{}'::jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tenant_id, version)
    );
    CREATE INDEX lookalike_models_latest ON lookalike_models (tenant_id, created_at DESC);

    ALTER TABLE lookalike_models ENABLE ROW LEVEL SECURITY;
    ALTER TABLE lookalike_models FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON lookalike_models
      USING (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid)
      WITH CHECK (tenant_id = NULLIF(current_setting('app.current_tenant', true), '')::uuid);

    GRANT SELECT, INSERT ON lookalike_models TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw(`DROP TABLE IF EXISTS lookalike_models`);
};
