/**
 * `npm start`: check Postgres and Redis, create and migrate the database, seed the demo tenant,
 * start the gateway and workers (DEALSCALE_ROLES) and print the URL and a demo token.
 */
import { ConfigError, loadConfig } from "./config/config";
import { checkPostgres, checkRedis } from "./store/preflight";
import { ensureDatabase, migrate, ownerKnex } from "./store/database";
import { DEV_SECRET_WARNING, startStack } from "./stack";
import { signToken } from "./gateway/auth";

const DEMO_TENANT_ID = "0d3e0000-0000-4000-8000-000000000001";

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      console.error(e.message);
      process.exit(2);
    }
    throw e;
  }

  const down = (await Promise.all([checkPostgres(config.databaseUrl), checkRedis(config.redisUrl)])).filter(Boolean);
  if (down.length) {
    for (const line of down) console.error(line);
    process.exit(1);
  }

  if (config.roles.gateway) {
    await ensureDatabase(config.databaseUrl);
    await migrate(config);
    if (config.seedDemo) {
      const knex = ownerKnex(config);
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        const { seedDemo } = require("../../db/seeds/demo.js") as { seedDemo: (k: unknown, o: unknown) => Promise<unknown> };
        await seedDemo(knex, { tenantId: DEMO_TENANT_ID, tenantName: "Demo Tenant", credits: 100_000 });
      } finally {
        await knex.destroy();
      }
    }
  }

  if (config.jwtSecretIsDevDefault) console.error(`warning: ${DEV_SECRET_WARNING}`);
  const stack = await startStack(config);
  const roles = [config.roles.gateway && "gateway", config.roles.worker && "workers"].filter(Boolean).join(" + ");
  if (stack.url && config.roles.gateway) {
    const token = signToken(config.jwtSecret, { agentId: "demo-cli", tenantId: DEMO_TENANT_ID, scopes: ["a2a:call", "a2a:read"] }, 24 * 3600, config.jwtIssuer);
    console.log(`DealScale A2A ${roles} listening on ${stack.url}`);
    if (config.seedDemo) {
      console.log(`demo tenant ${DEMO_TENANT_ID}; token (24 h):\n${token}`);
      console.log(`try: curl -H "Authorization: Bearer $TOKEN" ${stack.url}/agents`);
    }
  } else {
    console.log(`DealScale A2A ${roles} running; health on ${stack.url}/health`);
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    stack.log.info({ signal }, "shutting down");
    stack.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
}

main().catch((e) => {
  console.error(`dealscale-a2a failed to start: ${(e as Error).message}`);
  process.exit(1);
});
