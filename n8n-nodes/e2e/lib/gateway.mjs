/**
 * The DealScale side of the e2e run and the benchmark: a throw-away database on the local Postgres,
 * a real SMTP server in this process (campaign mails land here), and the gateway + workers started
 * from agent-services/dist (build it first: `npm run build` at the root) with the demo tenant seeded
 * and the test-agent plugin loaded.
 */
import { randomBytes } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { existsSync } from "node:fs";
import { log, onCleanup, run, startProcess, tailFile, waitFor } from "./util.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const require = createRequire(path.join(ROOT, "package.json"));
const { Client, Pool } = require("pg");

/** Seeded by the gateway on start (SEED_DEMO): 100,000 credits and 400 leads with fixed ids. */
export const DEMO_TENANT_ID = "0d3e0000-0000-4000-8000-000000000001";
const MAIN_JS = path.join(ROOT, "agent-services/dist/main.js");
const CLI_JS = path.join(ROOT, "agent-services/dist/cli/main.js");
const TEST_AGENT = path.join(ROOT, "agent-services/test/fixtures/test-agent.js");

const adminUrl = () => process.env.DEALSCALE_E2E_POSTGRES_URL || "postgres://postgres@127.0.0.1:5432/postgres";

/** Creates an empty database (the gateway migrates it on start); dropped again at cleanup. */
export async function createDatabase(prefix) {
  const name = `${prefix}_${randomBytes(4).toString("hex")}`;
  const admin = new Client({ connectionString: adminUrl() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  onCleanup(`drop database ${name}`, async () => {
    const c = new Client({ connectionString: adminUrl() });
    await c.connect();
    try {
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    } finally {
      await c.end();
    }
  });
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return url.toString();
}

/** A pool on the owner role (RLS is forced for the application role only), closed at cleanup. */
export function ownerPool(databaseUrl) {
  const pool = new Pool({ connectionString: databaseUrl, max: 2 });
  onCleanup("close owner pool", () => pool.end());
  return pool;
}

/** A local SMTP server that accepts every mail and keeps it, parsed. */
export async function startSmtp() {
  const { SMTPServer } = require("smtp-server");
  const { simpleParser } = require("mailparser");
  const received = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onData(stream, _session, cb) {
      simpleParser(stream).then(
        (mail) => {
          received.push(mail);
          cb();
        },
        (err) => cb(err),
      );
    },
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.server.address();
  onCleanup("stop SMTP server", () => new Promise((resolve) => server.close(resolve)));
  return { port, received };
}

/**
 * Starts `node agent-services/dist/main.js` (gateway + workers in one process) and waits for the URL
 * it prints. Deliveries to localhost are allowed (n8n runs there), retries are quick; campaigns send
 * through the SMTP server on `smtpPort` when given.
 */
export async function startGateway({ databaseUrl, smtpPort, workDir, extraEnv = {} }) {
  if (!existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: run \`npm run build\` at the repository root first`);
  const queuePrefix = `{dsn8n-${randomBytes(4).toString("hex")}}`;
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: databaseUrl,
    REDIS_URL: process.env.REDIS_URL || "redis://127.0.0.1:6379",
    A2A_JWT_SECRET: randomBytes(32).toString("hex"),
    // A test stack: the app role keeps its development password.
    NODE_ENV: "test",
    PORT: "0",
    HOST: "127.0.0.1",
    SEED_DEMO: "true",
    AGENT_PLUGINS: TEST_AGENT,
    QUEUE_PREFIX: queuePrefix,
    WEBHOOK_ALLOW_PRIVATE: "true",
    WEBHOOK_BACKOFF_MS: "1000",
    ...(smtpPort ? { SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, SMTP_FROM: "DealScale Campaigns <campaigns@dealscale.test>" } : {}),
    LOG_LEVEL: "warn",
    ...extraEnv,
  };
  const logFile = path.join(workDir, "gateway.log");
  let url;
  const proc = startProcess("gateway", process.execPath, [MAIN_JS], {
    cwd: ROOT,
    env,
    logFile,
    onLine(line) {
      const m = /listening on (http\S+)/.exec(line);
      if (m) url = m[1];
    },
  });
  onCleanup("stop gateway", async () => {
    await proc.stop();
    await dropQueueKeys(env.REDIS_URL, queuePrefix);
  });
  await waitFor("the gateway to listen", () => {
    if (!proc.running) throw new Error(`the gateway exited:\n${tailFile(logFile)}`);
    return url;
  }, { timeoutMs: 60_000, intervalMs: 100 });
  log(`gateway + workers on ${url} (log: ${logFile})`);
  return { url, env, proc, logFile };
}

/** BullMQ keys of this run's queue prefix, so repeated runs leave nothing behind in Redis. */
async function dropQueueKeys(redisUrl, prefix) {
  const Redis = require("ioredis");
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/** A bearer token from the operator CLI (`token --tenant --agent`), as an operator would mint one. */
export async function mintToken(gatewayEnv, tenantId, agentId, ttlSeconds = 6 * 3600) {
  const { stdout } = await run(process.execPath, [CLI_JS, "token", "--tenant", tenantId, "--agent", agentId, "--ttl", String(ttlSeconds)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: gatewayEnv.NODE_ENV, DATABASE_URL: gatewayEnv.DATABASE_URL, A2A_JWT_SECRET: gatewayEnv.A2A_JWT_SECRET },
  });
  return stdout.trim();
}

/** A small JSON client for the gateway's REST API. */
export function gatewayClient(url, token) {
  return async function request(method, pathname, body) {
    const res = await fetch(url + pathname, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    if (!res.ok) throw new Error(`${method} ${pathname} answered ${res.status}: ${text.slice(0, 500)}`);
    return parsed;
  };
}
