/**
 * The deployment's identity (issue 10): one random id per database, made once. Every process of a
 * deployment reads the same id from the database it serves, so the default BullMQ prefix derived
 * from it is shared by the deployment's gateways and workers and differs from any other
 * deployment's on the same Redis; jobs carry it so a worker can tell another deployment's job from
 * its own.
 */

exports.up = async function up(knex) {
  const appRole = (knex.userParams && knex.userParams.appRole) || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]*$/.test(appRole)) throw new Error(`bad app role name ${appRole}`);
  await knex.raw(`
    CREATE TABLE deployment_identity (
      singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
      deployment_id uuid NOT NULL DEFAULT gen_random_uuid(),
      created_at timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO deployment_identity DEFAULT VALUES;
    GRANT SELECT ON deployment_identity TO ${appRole};
  `);
};

exports.down = async function down(knex) {
  await knex.raw("DROP TABLE IF EXISTS deployment_identity");
};
