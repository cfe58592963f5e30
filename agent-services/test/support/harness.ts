/**
 * Test harness: a throw-away database per test file, migrated for real, and the stack started on a
 * random port with the test-agent plugin. Everything talks to the real Postgres and Redis.
 */
import { randomBytes } from "node:crypto";
import path from "node:path";
import { Client, Pool } from "pg";
import { loadConfig, type Config } from "../../src/config/config";
import { ensureDatabase, migrate, createOwnerPool, createAppPool } from "../../src/store/database";
import { startStack, type Stack } from "../../src/stack";
import { signToken } from "../../src/gateway/auth";
import { createTenant } from "../../src/tasks/tenants";
import pino from "pino";

export const TEST_AGENT_PLUGIN = path.resolve(__dirname, "../fixtures/test-agent.js");
const BASE = process.env.TEST_DATABASE_BASE_URL || process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres";

export function testDatabaseUrl(): string {
  const url = new URL(BASE);
  url.pathname = `/ds_test_${randomBytes(5).toString("hex")}`;
  return url.toString();
}

export function testEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: "test",
    DATABASE_URL: databaseUrl,
    REDIS_URL: process.env.REDIS_URL || "redis://127.0.0.1:6379",
    A2A_JWT_SECRET: "test-secret-0123456789abcdef0123456789abcdef",
    PORT: "0",
    HOST: "127.0.0.1",
    AGENT_PLUGINS: TEST_AGENT_PLUGIN,
    SEED_DEMO: "false",
    QUEUE_PREFIX: `{dstest-${randomBytes(4).toString("hex")}}`,
    RECONCILE_INTERVAL_MS: "500",
    JOB_BACKOFF_MS: "50",
    LOG_LEVEL: "silent",
    // Every test request comes from 127.0.0.1: the refusal rate per address is tested on its own.
    AUTH_REFUSAL_BURST: "100000",
    ...extra,
  };
}

export async function createMigratedDatabase(env: Record<string, string>): Promise<Config> {
  const config = loadConfig(env);
  await ensureDatabase(config.databaseUrl);
  await migrate(config);
  return config;
}

export async function dropDatabase(databaseUrl: string): Promise<void> {
  const name = new URL(databaseUrl).pathname.slice(1);
  const admin = new URL(databaseUrl);
  admin.pathname = "/postgres";
  const c = new Client({ connectionString: admin.toString() });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await c.end();
  }
}

export interface TestStack {
  stack: Stack;
  config: Config;
  env: Record<string, string>;
  url: string;
  owner: Pool;
  /** A pool connected as the application role, for raw-SQL isolation checks. */
  app: Pool;
  tenant(credits?: number): Promise<string>;
  token(tenantId: string, scopes?: string[], agentId?: string): string;
  request(method: string, pathname: string, opts?: { token?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<{ status: number; body: any; headers: Headers }>;
  waitForStatus(token: string, agentId: string, taskId: string, statuses: string[], timeoutMs?: number): Promise<any>;
  close(): Promise<void>;
}

export async function startTestStack(extraEnv: Record<string, string> = {}): Promise<TestStack> {
  const env = testEnv(testDatabaseUrl(), extraEnv);
  const config = await createMigratedDatabase(env);
  const stack = await startStack(config, { log: pino({ level: env.LOG_LEVEL }) });
  const owner = createOwnerPool(config);
  const app = createAppPool(config, 4);
  const url = stack.url!;

  const t: TestStack = {
    stack,
    config,
    env,
    url,
    owner,
    app,
    async tenant(credits = 1000) {
      return (await createTenant(owner, `tenant-${randomBytes(3).toString("hex")}`, credits)).tenantId;
    },
    token(tenantId, scopes = ["a2a:call", "a2a:read"], agentId = "test-caller") {
      return signToken(config.jwtSecret, { agentId, tenantId, scopes }, 600);
    },
    async request(method, pathname, opts = {}) {
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined = opts.rawBody;
      if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined && !headers["content-type"]) headers["content-type"] = "application/json";
      const res = await fetch(url + pathname, { method, headers, body });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        /* not JSON: keep the text */
      }
      return { status: res.status, body: parsed, headers: res.headers };
    },
    async waitForStatus(token, agentId, taskId, statuses, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      let last: any;
      while (Date.now() < until) {
        last = (await t.request("GET", `/agents/${agentId}/tasks/${taskId}`, { token })).body;
        if (statuses.includes(last?.status)) return last;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`task ${taskId} did not reach ${statuses.join("/")} in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    },
    async close() {
      await stack.stop(0);
      await owner.end();
      await app.end();
      await dropDatabase(config.databaseUrl);
    },
  };
  return t;
}

/** Reads an SSE response into events until the stream ends or `until` says stop. */
export async function readSse(
  res: Response,
  until: (events: SseEvent[]) => boolean = () => false,
  timeoutMs = 15_000,
): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const deadline = setTimeout(() => reader.cancel().catch(() => undefined), timeoutMs);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let idx: number;
      while ((idx = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, idx);
        buffer = buffer.slice(idx + 2);
        const ev: SseEvent = { event: "message", data: "", comment: false };
        const lines = block.split("\n");
        if (lines.every((l) => l.startsWith(":"))) {
          events.push({ event: "comment", data: block, comment: true });
          continue;
        }
        for (const line of lines) {
          if (line.startsWith("id: ")) ev.id = line.slice(4);
          else if (line.startsWith("event: ")) ev.event = line.slice(7);
          else if (line.startsWith("data: ")) ev.data += line.slice(6);
        }
        if (ev.data || ev.id) events.push(ev);
        if (until(events)) {
          await reader.cancel().catch(() => undefined);
          return events;
        }
      }
    }
  } finally {
    clearTimeout(deadline);
  }
  return events;
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
  comment: boolean;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `fn` until it returns something truthy and returns that; throws naming `what` once
 * `timeoutMs` has passed. For state written a moment after what a test can observe directly.
 */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}
