/**
 * Before anything starts: do Postgres and Redis answer? If not, one clear line saying which and how
 * to start it, instead of a stack trace from deep inside a driver.
 */
import { Client } from "pg";
import Redis from "ioredis";

const HOW_TO_START = "start it with `docker compose up -d postgres redis`, or install and start your distribution's package";

export async function checkPostgres(databaseUrl: string): Promise<string | null> {
  const admin = new URL(databaseUrl);
  const where = `${admin.hostname}:${admin.port || 5432}`;
  admin.pathname = "/postgres";
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: 3000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("SELECT 1");
    return null;
  } catch (e) {
    return `PostgreSQL does not answer at ${where} (DATABASE_URL): ${(e as Error).message || (e as { code?: string }).code}; ${HOW_TO_START} (postgresql).`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function checkRedis(redisUrl: string): Promise<string | null> {
  const u = new URL(redisUrl);
  const where = `${u.hostname}:${u.port || 6379}`;
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return null;
  } catch (e) {
    return `Redis does not answer at ${where} (REDIS_URL): ${(e as Error).message.replace(/\.$/, "")}; ${HOW_TO_START} (redis-server).`;
  } finally {
    redis.disconnect();
  }
}
