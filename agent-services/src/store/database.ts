/**
 * Database bootstrap: create the database named in DATABASE_URL if it is missing, run the knex
 * migrations as the owner, and open the application pool as the non-owner app role.
 */
import path from "node:path";
import knexFactory from "knex";
import { Pool, Client } from "pg";
import type { Config } from "../config/config";

export const MIGRATIONS_DIR = path.resolve(__dirname, "../../../db/migrations");

export async function ensureDatabase(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (!name) throw new Error("DATABASE_URL names no database");
  const admin = new URL(databaseUrl);
  admin.pathname = "/postgres";
  const client = new Client({ connectionString: admin.toString() });
  client.on("error", () => undefined);
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (rowCount) return false;
    await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
    return true;
  } catch (e) {
    // Two processes starting at once: the loser sees duplicate_database, which is fine.
    if ((e as { code?: string }).code === "42P04") return false;
    throw e;
  } finally {
    await client.end();
  }
}

export function ownerKnex(config: Config) {
  const knex = knexFactory({
    client: "pg",
    connection: config.databaseUrl,
    pool: { min: 0, max: 4 },
    migrations: { directory: MIGRATIONS_DIR, loadExtensions: [".js"] },
  });
  // Migrations read the application role's name from here (roles are per deployment).
  return knex.withUserParams({ appRole: config.appDbRole, appPassword: config.appDbPassword });
}

export async function migrate(config: Config): Promise<string[]> {
  // Concurrent starters wait on one advisory lock; knex's own lock table would make the loser fail.
  const lock = new Client({ connectionString: config.databaseUrl });
  lock.on("error", () => undefined);
  await lock.connect();
  const knex = ownerKnex(config);
  try {
    await lock.query("SELECT pg_advisory_lock(7311, 1)");
    const [, applied] = await knex.migrate.latest();
    return applied as string[];
  } finally {
    await knex.destroy();
    await lock.end();
  }
}

/** The URL the application connects with: DATABASE_URL with the app role's credentials. */
export function appDatabaseUrl(config: Config): string {
  const url = new URL(config.databaseUrl);
  url.username = config.appDbRole;
  url.password = config.appDbPassword;
  return url.toString();
}

export function createAppPool(config: Config, max = 20): Pool {
  return survivingPool(new Pool({ connectionString: appDatabaseUrl(config), max, idleTimeoutMillis: 30_000 }));
}

export function createOwnerPool(config: Config, max = 4): Pool {
  return survivingPool(new Pool({ connectionString: config.databaseUrl, max }));
}

/**
 * A lost connection must never crash the process. pg-pool listens for errors only on idle clients;
 * a checked-out client whose server goes away (a failover, `pg_ctl stop -m immediate`) emits
 * `error` with no listener, which Node turns into an uncaught exception. The query in flight, or
 * the next one, still fails and the transaction helper discards that client.
 */
function survivingPool(pool: Pool): Pool {
  pool.on("error", () => undefined);
  pool.on("connect", (client) => {
    client.on("error", () => undefined);
  });
  return pool;
}
