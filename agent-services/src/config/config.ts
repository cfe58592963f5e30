/**
 * The one place configuration is read. Everything comes from environment variables, is validated
 * once at start, and is handed around as a typed object so no module reads process.env itself.
 */
export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  /** Role the application runs its queries as; never a role that bypasses row-level security. */
  appDbRole: string;
  appDbPassword: string;
  redisUrl: string;
  jwtSecret: string;
  jwtIssuer: string | undefined;
  operatorToken: string | undefined;
  workerConcurrency: number;
  /** BullMQ key prefix; braces make it a Redis Cluster hash tag. */
  queuePrefix: string;
  /** Run gateway and workers in one process (npm start) or only one of them. */
  roles: { gateway: boolean; worker: boolean };
  /** Agents whose queues this process works; all four by default. */
  workerAgents: string[] | undefined;
  /** Modules exporting {card, handlers} that add agents (AGENT_PLUGINS, comma-separated paths). */
  agentPlugins: string[];
  seedDemo: boolean;
  /** BullMQ lock duration: how soon a job of a dead worker is seen as stalled and run again. */
  workerLockMs: number;
  maxBodyBytes: number;
  sseHeartbeatMs: number;
  reconcileIntervalMs: number;
  jobAttempts: number;
  jobBackoffMs: number;
  logLevel: string;
}

export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

const DEV_SECRET = "dev-only-secret-change-me-0123456789abcdef";

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
      return fallback;
    }
    return n;
  };

  const url = (name: string, fallback: string, protocols: string[]): string => {
    const raw = env[name] || fallback;
    try {
      const u = new URL(raw);
      if (!protocols.includes(u.protocol)) {
        problems.push(`${name} must use ${protocols.join(" or ")}, got "${u.protocol}"`);
      }
    } catch {
      problems.push(`${name} is not a valid URL: "${raw}"`);
    }
    return raw;
  };

  const production = env.NODE_ENV === "production";
  const jwtSecret = env.A2A_JWT_SECRET || (production ? "" : DEV_SECRET);
  if (!jwtSecret) problems.push("A2A_JWT_SECRET is required when NODE_ENV=production");
  else if (jwtSecret.length < 32) problems.push("A2A_JWT_SECRET must be at least 32 characters");
  if (production && jwtSecret === DEV_SECRET) {
    problems.push("A2A_JWT_SECRET must not be the development default when NODE_ENV=production");
  }

  const roleNames = (env.DEALSCALE_ROLES || "gateway,worker").split(",").map((s) => s.trim());
  const unknownRoles = roleNames.filter((r) => r !== "gateway" && r !== "worker");
  if (unknownRoles.length) problems.push(`DEALSCALE_ROLES may list gateway and worker, got "${unknownRoles.join(",")}"`);

  const appDbRole = env.APP_DB_ROLE || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(appDbRole)) problems.push(`APP_DB_ROLE must be a plain lower-case identifier, got "${appDbRole}"`);

  const config: Config = {
    port: int("PORT", 8080, 0, 65535),
    host: env.HOST || "0.0.0.0",
    databaseUrl: url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dealscale", ["postgres:", "postgresql:"]),
    appDbRole,
    appDbPassword: env.APP_DB_PASSWORD || "dealscale_app",
    redisUrl: url("REDIS_URL", "redis://127.0.0.1:6379", ["redis:", "rediss:"]),
    jwtSecret,
    jwtIssuer: env.A2A_JWT_ISSUER || undefined,
    operatorToken: env.OPS_TOKEN || undefined,
    workerConcurrency: int("WORKER_CONCURRENCY", 64, 1, 1000),
    queuePrefix: env.QUEUE_PREFIX || "{dealscale}",
    roles: { gateway: roleNames.includes("gateway"), worker: roleNames.includes("worker") },
    workerAgents: env.WORKER_AGENTS ? env.WORKER_AGENTS.split(",").map((s) => s.trim()).filter(Boolean) : undefined,
    agentPlugins: (env.AGENT_PLUGINS || "").split(",").map((s) => s.trim()).filter(Boolean),
    seedDemo: env.SEED_DEMO !== "false",
    workerLockMs: int("WORKER_LOCK_MS", 30_000, 1_000, 600_000),
    maxBodyBytes: int("MAX_BODY_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
    sseHeartbeatMs: int("SSE_HEARTBEAT_MS", 20_000, 100, 300_000),
    reconcileIntervalMs: int("RECONCILE_INTERVAL_MS", 10_000, 100, 3_600_000),
    jobAttempts: int("JOB_ATTEMPTS", 3, 1, 50),
    jobBackoffMs: int("JOB_BACKOFF_MS", 1_000, 10, 600_000),
    logLevel: env.LOG_LEVEL || "info",
  };
  if (problems.length) throw new ConfigError(problems);
  return config;
}
