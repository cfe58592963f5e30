/**
 * knex CLI configuration, e.g.
 *   npx knex --knexfile db/knexfile.js migrate:latest
 *   npx knex --knexfile db/knexfile.js seed:run      (demo tenant; DEMO_TENANT_ID, DEMO_TENANT_NAME, DEMO_CREDITS)
 * Migrations run as a role that may create tables and roles (DATABASE_URL); the application role
 * they create and grant to is userParams.appRole.
 */
module.exports = {
  client: "pg",
  connection: process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/dealscale",
  migrations: { directory: __dirname + "/migrations" },
  seeds: { directory: __dirname + "/seeds" },
  userParams: {
    appRole: process.env.APP_DB_ROLE || "dealscale_app",
    appPassword: process.env.APP_DB_PASSWORD || "dealscale_app",
  },
};
