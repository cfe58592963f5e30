/**
 * Before anything starts: do Postgres and Redis answer, and do they let us in? If not, one line
 * that says what actually failed (nothing listening, a refused password, an unknown role, no
 * answer in time, a host that does not resolve) and the fix for that case, instead of a stack trace
 * from deep inside a driver.
 */
import { Client } from "pg";
import Redis from "ioredis";
import { withTimeout } from "../lib/with-timeout";

const HOW_TO_START = "start it with `docker compose up -d postgres redis` (README: Quick start), or install and start your distribution's package";
const TIMEOUT_MS = 3000;

interface DriverError {
  code?: string;
  message?: string;
}

/** The one line for a failed Postgres connection; `where` is host:port, `user` the URL's user. */
export function postgresProblem(e: DriverError, where: string, user: string): string {
  const message = (e.message ?? "").replace(/\.$/, "");
  const at = `PostgreSQL at ${where} (DATABASE_URL)`;
  switch (e.code) {
    case "ECONNREFUSED":
      return `PostgreSQL does not answer at ${where} (DATABASE_URL): nothing listens there; ${HOW_TO_START} (postgresql).`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `${at}: the host name does not resolve; fix the host in DATABASE_URL.`;
    case "28P01":
      return `${at} refused the password of user "${user}": fix the password in DATABASE_URL.`;
    case "28000":
      return /role .* does not exist/.test(message)
        ? `${at} has no role "${user}": create it (createuser --superuser ${user}) or put an existing owner in DATABASE_URL.`
        : `${at} refused user "${user}" (${message}): allow this client in pg_hba.conf, or use another user.`;
    case "3D000":
      return `${at}: ${message}; the maintenance database "postgres" must exist for the database to be created.`;
  }
  if (/timeout|timed out/i.test(message)) {
    return `${at} did not answer within ${TIMEOUT_MS / 1000} s: something accepts connections there but is not PostgreSQL, or a firewall drops them; check the host and port.`;
  }
  return `${at} refused the connection: ${message || e.code}.`;
}

export async function checkPostgres(databaseUrl: string): Promise<string | null> {
  const admin = new URL(databaseUrl);
  const where = `${admin.hostname}:${admin.port || 5432}`;
  const user = decodeURIComponent(admin.username) || process.env.PGUSER || "(the system user)";
  admin.pathname = "/postgres";
  const client = new Client({ connectionString: admin.toString(), connectionTimeoutMillis: TIMEOUT_MS });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await withTimeout(client.query("SELECT 1"), TIMEOUT_MS, "SELECT 1");
    return null;
  } catch (e) {
    return postgresProblem(e as DriverError, where, user);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The one line for a failed Redis connection. */
export function redisProblem(e: DriverError, where: string): string {
  const message = (e.message ?? "").replace(/\.$/, "");
  const at = `Redis at ${where} (REDIS_URL)`;
  if (e.code === "ECONNREFUSED" || /ECONNREFUSED/.test(message)) return `Redis does not answer at ${where} (REDIS_URL): nothing listens there; ${HOW_TO_START} (redis-server).`;
  if (e.code === "ENOTFOUND" || e.code === "EAI_AGAIN" || /ENOTFOUND|EAI_AGAIN/.test(message)) return `${at}: the host name does not resolve; fix the host in REDIS_URL.`;
  if (/NOAUTH|WRONGPASS|AUTH|invalid (username|password)/i.test(message)) return `${at} refused the credentials: ${message}; fix the user and password in REDIS_URL (redis://user:password@host:port).`;
  if (/timeout|timed out/i.test(message) || e.code === "ETIMEDOUT") return `${at} did not answer within ${TIMEOUT_MS / 1000} s: something accepts connections there but is not Redis, or a firewall drops them; check the host and port.`;
  return `${at} refused the connection: ${message || e.code}.`;
}

export async function checkRedis(redisUrl: string): Promise<string | null> {
  const u = new URL(redisUrl);
  const where = `${u.hostname}:${u.port || 6379}`;
  const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: TIMEOUT_MS, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  // ioredis rejects with "Connection is closed" once it gives up; the cause is the error it emitted.
  let cause: DriverError | undefined;
  redis.on("error", (e: DriverError) => (cause ??= e));
  try {
    await withTimeout(redis.connect().then(() => redis.ping()), TIMEOUT_MS + 500, "connect");
    return null;
  } catch (e) {
    return redisProblem(cause ?? (e as DriverError), where);
  } finally {
    redis.disconnect();
  }
}
