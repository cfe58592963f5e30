/**
 * The one place configuration is read. Everything comes from environment variables, is validated
 * once at start, and is handed around as a typed object so no module reads process.env itself.
 */
import fs from "node:fs";
import tls from "node:tls";
import ipaddr from "ipaddr.js";
import { isPublishedSecret } from "./public-secrets";

export interface Config {
  port: number;
  host: string;
  databaseUrl: string;
  /** Role the application runs its queries as; never a role that bypasses row-level security. */
  appDbRole: string;
  appDbPassword: string;
  redisUrl: string;
  jwtSecret: string;
  /** A2A_JWT_SECRET was unset and the public development secret is in use (NODE_ENV=development or test only). */
  jwtSecretIsDevDefault: boolean;
  jwtIssuer: string | undefined;
  operatorToken: string | undefined;
  /** METRICS_TOKEN: when set, GET /metrics needs `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
  workerConcurrency: number;
  /**
   * DATABASE_POOL_MAX: Postgres connections this process may hold. Unset: 20, or for a worker
   * WORKER_CONCURRENCY + 10 up to 60. Every process's pool counts against max_connections.
   */
  databasePoolMax: number | undefined;
  /**
   * QUEUE_PREFIX: the BullMQ key prefix (braces make it a Redis Cluster hash tag). Unset, each
   * deployment derives its own from the id stored in its database (store/deployment.ts).
   */
  queuePrefix: string | undefined;
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
  /** PUBLIC_URL: the base URL A2A cards advertise; by default the URL a request came in on. */
  publicUrl: string | undefined;
  sseHeartbeatMs: number;
  reconcileIntervalMs: number;
  jobAttempts: number;
  jobBackoffMs: number;
  /**
   * How much finished-job history the queues keep for the dashboard, per queue: completed jobs for
   * QUEUE_KEEP_COMPLETED_SECONDS (1 day) up to QUEUE_KEEP_COMPLETED_COUNT (1,000), failed ones for
   * QUEUE_KEEP_FAILED_SECONDS (7 days) up to QUEUE_KEEP_FAILED_COUNT (10,000). The task rows in
   * Postgres are the record; this is only what the board shows.
   */
  queueHistory: QueueHistory;
  logLevel: string;
  /** TLS_CERT_FILE + TLS_KEY_FILE (+ TLS_CA_FILE): the gateway serves HTTPS itself, TLS 1.3 only. */
  tls: { certFile: string; keyFile: string; caFile?: string } | undefined;
  /** AUDIT_SIEM_URL: audit rows are also forwarded to a SIEM (http(s)://, syslog+udp://, syslog+tcp://). */
  auditSiem: { url: string; intervalMs: number; gapGraceMs: number } | undefined;
  /** Spans are always made (trace ids in logs); exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set. */
  tracing: { serviceName: string; otlpEndpoint: string | undefined };
  /** WEBHOOK_ALLOW_PRIVATE: deliveries may reach loopback and private addresses (development, tests). */
  webhookAllowPrivate: boolean;
  /** WEBHOOK_ALLOW_HOSTS: host names or address ranges (CIDR) webhooks may reach even though they are internal. */
  webhookAllowHosts: string[];
  webhookAttempts: number;
  webhookBackoffMs: number;
  webhookTimeoutMs: number;
  webhookConcurrency: number;
  /** How often the sweep re-enqueues deliveries lost between a task's commit and their enqueue. */
  webhookSweepIntervalMs: number;
  /** How far back the sweep looks after a (re)start. */
  webhookSweepWindowMs: number;
  /**
   * Refused authentication (401, a missing scope): AUTH_REFUSALS_PER_SECOND and AUTH_REFUSAL_BURST per
   * source address before it gets 429; identical refusals within AUDIT_REFUSAL_WINDOW_MS share one audit row.
   */
  refusalAudit: { perSecond: number; burst: number; windowMs: number };
  /** Enrichment providers of DataEngineer.enrichLeads (APOLLO_*, CLEARBIT_*, ZOOMINFO_*, ENRICH_*); built into the handler by stack.ts. */
  enrichment: EnrichmentConfig;
  /** CampaignOrchestrator: SMTP defaults (SMTP_URL, SMTP_FROM) and the due-campaign sweep; see campaignsFromEnv. */
  campaigns: CampaignConfig;
  /** WorkflowAutomation: engine base URLs and credentials (N8N_*, KESTRA_*, WORKFLOW_*); see workflowsFromEnv. */
  workflows: WorkflowConfig;
}

export interface QueueHistory {
  completed: { age: number; count: number };
  failed: { age: number; count: number };
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

  const int = (name: string, fallback: number, min: number, max: number) => intVar(env, problems, name, fallback, min, max);

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
  // Only a machine that says it is a developer's (or a test run) may use the published development
  // secret; anything else (production, staging, NODE_ENV forgotten) needs a secret of its own.
  const devOrTest = env.NODE_ENV === "development" || env.NODE_ENV === "test";
  const jwtSecretIsDevDefault = !env.A2A_JWT_SECRET && devOrTest;
  const jwtSecret = env.A2A_JWT_SECRET || (devOrTest ? DEV_SECRET : "");
  if (!jwtSecret) {
    problems.push(
      `A2A_JWT_SECRET is required (NODE_ENV is ${env.NODE_ENV ? `"${env.NODE_ENV}"` : "unset"}): set one of your own, e.g. \`openssl rand -hex 32\`; the built-in development secret works only with NODE_ENV=development or test (npm run dev)`,
    );
  } else if (jwtSecret.length < 32) {
    problems.push("A2A_JWT_SECRET must be at least 32 characters");
  } else if (!devOrTest && isPublishedSecret(jwtSecret)) {
    problems.push("A2A_JWT_SECRET is a value published in the DealScale repository (a default, an example or a test secret): anyone could sign tokens; set one of your own, e.g. `openssl rand -hex 32`");
  }
  // The database passwords: the app role's built-in default is public too, and so is any password
  // a copied example puts in DATABASE_URL.
  const ownerPassword = (() => {
    try {
      return decodeURIComponent(new URL(env.DATABASE_URL ?? "").password);
    } catch {
      return "";
    }
  })();
  if (!devOrTest && ownerPassword && isPublishedSecret(ownerPassword)) {
    problems.push("DATABASE_URL carries a password published in the DealScale repository: set the database owner's password of your own");
  }
  if (!devOrTest && (!env.APP_DB_PASSWORD || isPublishedSecret(env.APP_DB_PASSWORD))) {
    problems.push(`APP_DB_PASSWORD ${env.APP_DB_PASSWORD ? "is a value published in the DealScale repository" : "is required outside NODE_ENV=development or test"}: set the application role's password of your own`);
  }

  const roleNames = (env.DEALSCALE_ROLES || "gateway,worker").split(",").map((s) => s.trim());
  const unknownRoles = roleNames.filter((r) => r !== "gateway" && r !== "worker");
  if (unknownRoles.length) problems.push(`DEALSCALE_ROLES may list gateway and worker, got "${unknownRoles.join(",")}"`);

  const appDbRole = env.APP_DB_ROLE || "dealscale_app";
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(appDbRole)) problems.push(`APP_DB_ROLE must be a plain lower-case identifier, got "${appDbRole}"`);

  // Operator secrets travel in an Authorization header (and a URL for /ops/login): printable, no spaces.
  const opsSecret = (name: string): string | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === "") return undefined;
    if (raw.length < 16 || !/^[\x21-\x7e]+$/.test(raw)) problems.push(`${name} must be at least 16 printable characters without spaces`);
    else if (!devOrTest && isPublishedSecret(raw)) problems.push(`${name} is a value published in the DealScale repository: set one of your own`);
    return raw;
  };

  // Webhooks: where deliveries may go (a tenant must not aim the service at internal addresses).
  const allowPrivateRaw = (env.WEBHOOK_ALLOW_PRIVATE ?? "").trim().toLowerCase();
  if (!["", "true", "false", "1", "0"].includes(allowPrivateRaw)) problems.push(`WEBHOOK_ALLOW_PRIVATE must be true or false, got "${env.WEBHOOK_ALLOW_PRIVATE}"`);
  const webhookAllowPrivate = allowPrivateRaw === "true" || allowPrivateRaw === "1";
  if (production && webhookAllowPrivate) {
    problems.push("WEBHOOK_ALLOW_PRIVATE must not be true when NODE_ENV=production; list internal receivers in WEBHOOK_ALLOW_HOSTS instead");
  }
  const webhookAllowHosts = (env.WEBHOOK_ALLOW_HOSTS || "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean);
  for (const h of webhookAllowHosts) {
    const hostName = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$/.test(h);
    if (!ipaddr.isValidCIDR(h) && !ipaddr.isValid(h) && !hostName) problems.push(`WEBHOOK_ALLOW_HOSTS entries must be host names, IP addresses or CIDR ranges, got "${h}"`);
  }

  // TLS: certificate and key together, each an existing readable file, and a pair that loads.
  const readableFile = (name: string): string | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === "") return undefined;
    try {
      if (!fs.statSync(raw).isFile()) problems.push(`${name} must name a file, got "${raw}"`);
      else fs.accessSync(raw, fs.constants.R_OK);
    } catch (e) {
      problems.push(`${name} is not a readable file: "${raw}" (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    return raw;
  };
  const problemsBeforeTls = problems.length;
  const tlsCertFile = readableFile("TLS_CERT_FILE");
  const tlsKeyFile = readableFile("TLS_KEY_FILE");
  const tlsCaFile = readableFile("TLS_CA_FILE");
  if (!!tlsCertFile !== !!tlsKeyFile) problems.push("TLS_CERT_FILE and TLS_KEY_FILE must be given together");
  if (tlsCaFile && !tlsCertFile) problems.push("TLS_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE");
  if (tlsCertFile && tlsKeyFile && problems.length === problemsBeforeTls) {
    try {
      tls.createSecureContext({ cert: fs.readFileSync(tlsCertFile), key: fs.readFileSync(tlsKeyFile), ...(tlsCaFile ? { ca: fs.readFileSync(tlsCaFile) } : {}) });
    } catch (e) {
      problems.push(`TLS_CERT_FILE / TLS_KEY_FILE do not load as a PEM certificate and its private key: ${(e as Error).message}`);
    }
  }

  // SIEM forwarding of the audit log.
  const siemUrl = env.AUDIT_SIEM_URL || undefined;
  if (siemUrl) {
    try {
      const u = new URL(siemUrl);
      if (!["http:", "https:", "syslog+udp:", "syslog+tcp:"].includes(u.protocol)) {
        problems.push(`AUDIT_SIEM_URL must use http:, https:, syslog+udp: or syslog+tcp:, got "${u.protocol}"`);
      } else if (!u.hostname) {
        problems.push(`AUDIT_SIEM_URL needs a host, e.g. syslog+udp://siem.example:514, got "${siemUrl}"`);
      }
    } catch {
      problems.push(`AUDIT_SIEM_URL is not a valid URL: "${siemUrl}"`);
    }
  }

  const otlpEndpoint = env.OTEL_EXPORTER_OTLP_ENDPOINT ? url("OTEL_EXPORTER_OTLP_ENDPOINT", "", ["http:", "https:"]) : undefined;

  const config: Config = {
    port: int("PORT", 8080, 0, 65535),
    host: env.HOST || "0.0.0.0",
    databaseUrl: url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/dealscale", ["postgres:", "postgresql:"]),
    appDbRole,
    appDbPassword: env.APP_DB_PASSWORD || "dealscale_app",
    redisUrl: url("REDIS_URL", "redis://127.0.0.1:6379", ["redis:", "rediss:"]),
    jwtSecret,
    jwtSecretIsDevDefault,
    jwtIssuer: env.A2A_JWT_ISSUER || undefined,
    operatorToken: opsSecret("OPS_TOKEN"),
    metricsToken: opsSecret("METRICS_TOKEN"),
    workerConcurrency: int("WORKER_CONCURRENCY", 64, 1, 1000),
    databasePoolMax: env.DATABASE_POOL_MAX ? int("DATABASE_POOL_MAX", 20, 2, 1000) : undefined,
    queuePrefix: env.QUEUE_PREFIX || undefined,
    roles: { gateway: roleNames.includes("gateway"), worker: roleNames.includes("worker") },
    workerAgents: env.WORKER_AGENTS ? env.WORKER_AGENTS.split(",").map((s) => s.trim()).filter(Boolean) : undefined,
    agentPlugins: (env.AGENT_PLUGINS || "").split(",").map((s) => s.trim()).filter(Boolean),
    seedDemo: env.SEED_DEMO !== "false",
    workerLockMs: int("WORKER_LOCK_MS", 30_000, 1_000, 600_000),
    publicUrl: env.PUBLIC_URL ? url("PUBLIC_URL", env.PUBLIC_URL, ["http:", "https:"]).replace(/\/+$/, "") : undefined,
    maxBodyBytes: int("MAX_BODY_BYTES", 1024 * 1024, 1024, 64 * 1024 * 1024),
    sseHeartbeatMs: int("SSE_HEARTBEAT_MS", 20_000, 100, 300_000),
    reconcileIntervalMs: int("RECONCILE_INTERVAL_MS", 10_000, 100, 3_600_000),
    jobAttempts: int("JOB_ATTEMPTS", 3, 1, 50),
    jobBackoffMs: int("JOB_BACKOFF_MS", 1_000, 10, 600_000),
    queueHistory: {
      completed: { age: int("QUEUE_KEEP_COMPLETED_SECONDS", 86_400, 0, 90 * 86_400), count: int("QUEUE_KEEP_COMPLETED_COUNT", 1_000, 0, 1_000_000) },
      failed: { age: int("QUEUE_KEEP_FAILED_SECONDS", 7 * 86_400, 0, 90 * 86_400), count: int("QUEUE_KEEP_FAILED_COUNT", 10_000, 0, 1_000_000) },
    },
    logLevel: env.LOG_LEVEL || "info",
    tls: tlsCertFile && tlsKeyFile ? { certFile: tlsCertFile, keyFile: tlsKeyFile, ...(tlsCaFile ? { caFile: tlsCaFile } : {}) } : undefined,
    auditSiem: siemUrl
      ? { url: siemUrl, intervalMs: int("AUDIT_SIEM_INTERVAL_MS", 1_000, 10, 3_600_000), gapGraceMs: int("AUDIT_SIEM_GAP_GRACE_MS", 10_000, 0, 3_600_000) }
      : undefined,
    tracing: { serviceName: env.OTEL_SERVICE_NAME || "dealscale-a2a", otlpEndpoint },
    webhookAllowPrivate,
    webhookAllowHosts,
    webhookAttempts: int("WEBHOOK_ATTEMPTS", 8, 1, 50),
    webhookBackoffMs: int("WEBHOOK_BACKOFF_MS", 10_000, 10, 3_600_000),
    webhookTimeoutMs: int("WEBHOOK_TIMEOUT_MS", 10_000, 100, 120_000),
    webhookConcurrency: int("WEBHOOK_CONCURRENCY", 16, 1, 1000),
    webhookSweepIntervalMs: int("WEBHOOK_SWEEP_INTERVAL_MS", 30_000, 100, 3_600_000),
    webhookSweepWindowMs: int("WEBHOOK_SWEEP_WINDOW_MS", 3_600_000, 1_000, 7 * 24 * 3_600_000),
    refusalAudit: {
      perSecond: int("AUTH_REFUSALS_PER_SECOND", 5, 1, 100_000),
      burst: int("AUTH_REFUSAL_BURST", 20, 1, 1_000_000),
      windowMs: int("AUDIT_REFUSAL_WINDOW_MS", 10_000, 100, 3_600_000),
    },
    enrichment: enrichmentFromEnv(env, problems),
    campaigns: campaignsFromEnv(env, problems),
    workflows: workflowsFromEnv(env, problems),
  };
  if (problems.length) throw new ConfigError(problems);
  return config;
}

/**
 * Enrichment providers (DataEngineer.enrichLeads). Keys and base URLs come from the environment;
 * a tenant's `settings.enrichment.<provider>` overrides them per tenant (the handler merges the two).
 * A provider without credentials is simply unconfigured: tasks that ask for it fail with
 * provider_not_configured, nothing else is affected.
 */
export interface EnrichmentConfig {
  /** APOLLO_API_KEY, APOLLO_BASE_URL (default https://api.apollo.io). */
  apollo: { apiKey: string | undefined; baseUrl: string };
  /** CLEARBIT_API_KEY; CLEARBIT_BASE_URL replaces both person.clearbit.com and company.clearbit.com. */
  clearbit: { apiKey: string | undefined; personBaseUrl: string; companyBaseUrl: string };
  /** ZOOMINFO_USERNAME + ZOOMINFO_PASSWORD (POST /authenticate), ZOOMINFO_BASE_URL (default https://api.zoominfo.com). */
  zoominfo: { username: string | undefined; password: string | undefined; baseUrl: string };
  /** ENRICH_MAX_WAIT_MS: the longest single wait for a provider's rate limit; past it the lead fails as retryable. */
  maxWaitMs: number;
  /** ENRICH_RATE_LIMIT_RETRIES: how often a 429 is retried. */
  maxRateLimitRetries: number;
  /** ENRICH_QUEUED_RETRIES / ENRICH_QUEUED_DELAY_MS: Clearbit 202 (queued) retries and the delay between them. */
  queuedRetries: number;
  queuedDelayMs: number;
  /** ENRICH_TIMEOUT_MS: per provider request. */
  timeoutMs: number;
  /** ENRICH_CONCURRENCY: leads looked up in parallel per task. */
  concurrency: number;
  /** Base URLs from tenant settings must pass the webhook URL policy (WEBHOOK_ALLOW_PRIVATE, WEBHOOK_ALLOW_HOSTS). */
  tenantUrlPolicy: { allowPrivate: boolean; allowHosts: string[] };
}

/** An integer setting within [min, max]; unset or empty means the default. */
function intVar(env: Env, problems: string[], name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    problems.push(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
    return fallback;
  }
  return n;
}

/** A base URL of an outside service: http(s), no credentials, query or fragment; trailing slashes dropped. */
function plainBaseUrl(env: Env, problems: string[], name: string, fallback?: string): string | undefined {
  const raw = env[name] || fallback;
  if (!raw) return undefined;
  try {
    const u = new URL(raw);
    if (u.protocol !== "http:" && u.protocol !== "https:") problems.push(`${name} must use http: or https:, got "${u.protocol}"`);
    if (u.username || u.password || u.search || u.hash) problems.push(`${name} must be a plain base URL without credentials, query or fragment`);
  } catch {
    problems.push(`${name} is not a valid URL: "${raw}"`);
  }
  return raw.replace(/\/+$/, "");
}

/** A credential from the environment: trimmed, one line (it travels in a header). */
function singleLineSecret(env: Env, problems: string[], name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return undefined;
  if (/[\r\n]/.test(raw)) problems.push(`${name} must be a single line`);
  return raw.trim();
}

function enrichmentFromEnv(env: Env, problems: string[]): EnrichmentConfig {
  const int = (name: string, fallback: number, min: number, max: number) => intVar(env, problems, name, fallback, min, max);
  const baseUrl = (name: string, fallback: string): string => plainBaseUrl(env, problems, name, fallback) ?? "";
  const secret = (name: string) => singleLineSecret(env, problems, name);
  const zoominfoUsername = secret("ZOOMINFO_USERNAME");
  const zoominfoPassword = secret("ZOOMINFO_PASSWORD");
  if (!!zoominfoUsername !== !!zoominfoPassword) problems.push("ZOOMINFO_USERNAME and ZOOMINFO_PASSWORD must be given together");
  const clearbitBase = env.CLEARBIT_BASE_URL ? baseUrl("CLEARBIT_BASE_URL", "") : undefined;
  const allowPrivate = ["true", "1"].includes((env.WEBHOOK_ALLOW_PRIVATE ?? "").trim().toLowerCase());
  return {
    apollo: { apiKey: secret("APOLLO_API_KEY"), baseUrl: baseUrl("APOLLO_BASE_URL", "https://api.apollo.io") },
    clearbit: {
      apiKey: secret("CLEARBIT_API_KEY"),
      personBaseUrl: clearbitBase ?? "https://person.clearbit.com",
      companyBaseUrl: clearbitBase ?? "https://company.clearbit.com",
    },
    zoominfo: { username: zoominfoUsername, password: zoominfoPassword, baseUrl: baseUrl("ZOOMINFO_BASE_URL", "https://api.zoominfo.com") },
    maxWaitMs: int("ENRICH_MAX_WAIT_MS", 60_000, 0, 3_600_000),
    maxRateLimitRetries: int("ENRICH_RATE_LIMIT_RETRIES", 3, 0, 20),
    queuedRetries: int("ENRICH_QUEUED_RETRIES", 3, 0, 20),
    queuedDelayMs: int("ENRICH_QUEUED_DELAY_MS", 5_000, 0, 600_000),
    timeoutMs: int("ENRICH_TIMEOUT_MS", 15_000, 100, 600_000),
    concurrency: int("ENRICH_CONCURRENCY", 5, 1, 100),
    tenantUrlPolicy: {
      allowPrivate: allowPrivate && env.NODE_ENV !== "production",
      allowHosts: (env.WEBHOOK_ALLOW_HOSTS || "").split(",").map((s) => s.trim().toLowerCase()).filter(Boolean),
    },
  };
}


/**
 * CampaignOrchestrator. SMTP_URL (smtp://user:pass@host:587 or smtps://...:465) and SMTP_FROM are the
 * operator's default SMTP server; a tenant's `settings.smtp` replaces it for that tenant.
 */
export interface CampaignConfig {
  smtpUrl: string | undefined;
  smtpFrom: string | undefined;
  /** CAMPAIGN_SWEEP_INTERVAL_MS: how often due scheduled campaigns (and campaigns whose sender died) are looked for. */
  sweepIntervalMs: number;
  /** CAMPAIGN_LEASE_MS: how long a sender holds a campaign without renewing (renewed between sends). */
  leaseMs: number;
  /** CAMPAIGN_BATCH_SIZE: members per batch (progress is reported per batch). */
  batchSize: number;
}

function campaignsFromEnv(env: Env, problems: string[]): CampaignConfig {
  const int = (name: string, fallback: number, min: number, max: number) => intVar(env, problems, name, fallback, min, max);
  const smtpUrl = env.SMTP_URL || undefined;
  if (smtpUrl) {
    try {
      const u = new URL(smtpUrl);
      if (u.protocol !== "smtp:" && u.protocol !== "smtps:") problems.push(`SMTP_URL must use smtp: or smtps:, got "${u.protocol}"`);
      else if (!u.hostname) problems.push("SMTP_URL needs a host, e.g. smtp://user:pass@mail.example:587");
    } catch {
      problems.push("SMTP_URL is not a valid URL (smtp://user:pass@host:port)");
    }
  }
  const smtpFrom = env.SMTP_FROM || undefined;
  if (smtpFrom && (!/@/.test(smtpFrom) || /[\r\n]/.test(smtpFrom))) problems.push(`SMTP_FROM must be an address such as "DealScale <no-reply@example.com>", got "${smtpFrom}"`);
  return {
    smtpUrl,
    smtpFrom,
    sweepIntervalMs: int("CAMPAIGN_SWEEP_INTERVAL_MS", 15_000, 50, 3_600_000),
    leaseMs: int("CAMPAIGN_LEASE_MS", 120_000, 1_000, 3_600_000),
    batchSize: int("CAMPAIGN_BATCH_SIZE", 25, 1, 1000),
  };
}

/**
 * WorkflowAutomation engines. A tenant's `settings.workflows.{n8n,kestra}` replaces these per tenant
 * (base URLs given by tenants must pass the webhook URL policy; these, set by the operator, need not).
 */
export interface WorkflowConfig {
  /** N8N_BASE_URL (e.g. http://n8n:5678) and N8N_API_KEY (X-N8N-API-KEY). */
  n8n: { baseUrl: string | undefined; apiKey: string | undefined };
  /** KESTRA_BASE_URL, KESTRA_USERNAME + KESTRA_PASSWORD (basic auth), KESTRA_TENANT (default main). */
  kestra: { baseUrl: string | undefined; username: string | undefined; password: string | undefined; tenant: string };
  /** WORKFLOW_HTTP_TIMEOUT_MS: per request to an engine. */
  httpTimeoutMs: number;
  /** WORKFLOW_POLL_MAX_INTERVAL_MS: the longest pause between two polls of a run. */
  pollMaxIntervalMs: number;
}

function workflowsFromEnv(env: Env, problems: string[]): WorkflowConfig {
  const int = (name: string, fallback: number, min: number, max: number) => intVar(env, problems, name, fallback, min, max);
  const base = (name: string) => plainBaseUrl(env, problems, name);
  const secret = (name: string) => singleLineSecret(env, problems, name);
  const kestraUser = secret("KESTRA_USERNAME");
  const kestraPass = secret("KESTRA_PASSWORD");
  if (!!kestraUser !== !!kestraPass) problems.push("KESTRA_USERNAME and KESTRA_PASSWORD must be given together");
  const kestraTenant = env.KESTRA_TENANT || "main";
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(kestraTenant)) problems.push(`KESTRA_TENANT must be a plain identifier, got "${kestraTenant}"`);
  return {
    n8n: { baseUrl: base("N8N_BASE_URL"), apiKey: secret("N8N_API_KEY") },
    kestra: { baseUrl: base("KESTRA_BASE_URL"), username: kestraUser, password: kestraPass, tenant: kestraTenant },
    httpTimeoutMs: int("WORKFLOW_HTTP_TIMEOUT_MS", 30_000, 100, 600_000),
    pollMaxIntervalMs: int("WORKFLOW_POLL_MAX_INTERVAL_MS", 5_000, 10, 600_000),
  };
}
