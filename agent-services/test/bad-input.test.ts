/**
 * Bad input and dead dependencies: every refusal is an exact 4xx (or 503 when Postgres or Redis is
 * down), never a 500, and no refused request writes a task row.
 */
import http from "node:http";
import { gzipSync } from "node:zlib";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import { Pool } from "pg";
import pino from "pino";
import {
  startTestStack,
  testEnv,
  testDatabaseUrl,
  createMigratedDatabase,
  dropDatabase,
  sleep,
  type TestStack,
} from "./support/harness";
import { createTasks } from "../src/tasks/task-store";
import { loadConfig, type Config } from "../src/config/config";
import { createAppPool, createOwnerPool } from "../src/store/database";
import { AgentRegistry } from "../src/protocol/registry";
import { makeAgents, subscribeAfterCommit, syncRegistry } from "../src/stack";
import { countLiveLeads } from "../src/store/lead-pages";
import { TaskQueues } from "../src/queue/queues";
import { RedisEventBus } from "../src/tasks/event-bus";
import { TaskService } from "../src/tasks/task-service";
import { createGateway, refusalAuditWriter } from "../src/gateway/app";
import { RefusalAuditor } from "../src/gateway/refusal-audit";
import { signToken } from "../src/gateway/auth";
import { createTenant, tenantBalance } from "../src/tasks/tenants";

let t: TestStack;
let tenant: string;
let token: string;
const A = "test-agent";

beforeAll(async () => {
  t = await startTestStack();
  tenant = await t.tenant(1000);
  token = t.token(tenant);
});
afterAll(async () => t?.close());

const create = (body: unknown, tok = token) => t.request("POST", `/agents/${A}/tasks`, { token: tok, body });
const taskCount = async () => (await t.owner.query("SELECT count(*)::int AS n FROM tasks")).rows[0].n as number;

/** Runs the request, expects no task row to appear, and returns the answer. */
async function refused(fn: () => Promise<{ status: number; body: any; headers: Headers }>) {
  const before = await taskCount();
  const balance = await tenantBalance(t.owner, tenant);
  const res = await fn();
  expect(await taskCount()).toBe(before);
  expect(await tenantBalance(t.owner, tenant)).toBe(balance);
  return res;
}

const paths = (res: { body: any }) => (res.body.error.details.errors as { path: string }[]).map((e) => e.path);

describe("malformed and invalid bodies", () => {
  test("malformed JSON → 400 malformed_json", async () => {
    for (const rawBody of ['{"type": "noop",', "{type: noop}", "[1,2", "nul", '{"type":"noop"}}']) {
      const res = await refused(() => t.request("POST", `/agents/${A}/tasks`, { token, rawBody }));
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("malformed_json");
    }
  });

  test("JSON that is not an object (strict parser) → 400, not a 500", async () => {
    const res = await refused(() => t.request("POST", `/agents/${A}/tasks`, { token, rawBody: '"just a string"' }));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("malformed_json");
    const arr = await refused(() => t.request("POST", `/agents/${A}/tasks`, { token, rawBody: "[]" }));
    expect(arr.status).toBe(400);
    expect(arr.body.error.code).toBe("invalid_input");
    expect(paths(arr)).toEqual(["/"]);
  });

  test("a missing required field → 400 naming /inputs/ms", async () => {
    const res = await refused(() => create({ type: "slow", inputs: {} }));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_input");
    expect(paths(res)).toEqual(["/inputs/ms"]);
    expect(res.body.error.details.errors[0].message).toMatch(/required property 'ms'/);
  });

  test("inputs omitted altogether are validated as {} → 400 naming /inputs/ms", async () => {
    const res = await refused(() => create({ type: "slow" }));
    expect(res.status).toBe(400);
    expect(paths(res)).toEqual(["/inputs/ms"]);
  });

  test("a wrong type → 400 naming /inputs/ms", async () => {
    const res = await refused(() => create({ type: "slow", inputs: { ms: "fast" } }));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_input");
    expect(paths(res)).toEqual(["/inputs/ms"]);
    expect(res.body.error.details.errors[0].message).toMatch(/integer/);
  });

  test("a value out of the schema's range, an unknown property and a nested bad item each name their path", async () => {
    const neg = await refused(() => create({ type: "slow", inputs: { ms: -1 } }));
    expect(neg.status).toBe(400);
    expect(paths(neg)).toEqual(["/inputs/ms"]);
    const extra = await refused(() => create({ type: "slow", inputs: { ms: 1, bogus: true } }));
    expect(extra.status).toBe(400);
    expect(paths(extra)).toEqual(["/inputs/bogus"]);
    const nested = await refused(() => create({ type: "echo", inputs: { leadIds: ["a", 2, "c"] } }));
    expect(nested.status).toBe(400);
    expect(paths(nested)).toEqual(["/inputs/leadIds/1"]);
    const several = await refused(() => create({ type: "slow", inputs: { ms: "x", steps: 0 } }));
    expect(several.status).toBe(400);
    expect(paths(several).sort()).toEqual(["/inputs/ms", "/inputs/steps"]);
  });

  test("inputs that are not an object, or a missing type → 400 naming /inputs or /type", async () => {
    for (const inputs of [null, [], "x", 3]) {
      const res = await refused(() => create({ type: "noop", inputs }));
      expect(res.status).toBe(400);
      expect(paths(res)).toEqual(["/inputs"]);
    }
    for (const body of [{}, { type: "" }, { type: 7 }, { inputs: {} }]) {
      const res = await refused(() => create(body));
      expect(res.status).toBe(400);
      expect(paths(res)).toEqual(["/type"]);
    }
  });

  test("priority out of range or not an integer → 400 naming /priority", async () => {
    for (const priority of [0, 11, -3, 1.5, "5", null]) {
      const res = await refused(() => create({ type: "noop", inputs: {}, priority }));
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe("invalid_input");
      expect(paths(res)).toEqual(["/priority"]);
    }
    // The bounds themselves are fine.
    for (const priority of [1, 10]) expect((await create({ type: "noop", inputs: {}, priority })).status).toBe(202);
  });

  test("a bad idempotencyKey or callbackUrl → 400 naming its path", async () => {
    for (const idempotencyKey of ["", "k".repeat(201), 5]) {
      const res = await refused(() => create({ type: "noop", inputs: {}, idempotencyKey }));
      expect(res.status).toBe(400);
      expect(paths(res)).toEqual(["/idempotencyKey"]);
    }
    for (const callbackUrl of ["ftp://x", "not a url", 1]) {
      const res = await refused(() => create({ type: "noop", inputs: {}, callbackUrl }));
      expect(res.status).toBe(400);
      expect(paths(res)).toEqual(["/callbackUrl"]);
    }
  });
});

describe("unknown things", () => {
  test("an unknown agent → 404 on create, get, list, card and cancel", async () => {
    const res = await refused(() => t.request("POST", "/agents/no-such-agent/tasks", { token, body: { type: "noop", inputs: {} } }));
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
    expect(res.body.error.message).toMatch(/no-such-agent/);
    const id = randomUUID();
    for (const [method, path] of [
      ["GET", "/agents/no-such-agent"],
      ["GET", "/agents/no-such-agent/tasks"],
      ["GET", `/agents/no-such-agent/tasks/${id}`],
      ["POST", `/agents/no-such-agent/tasks/${id}/cancel`],
    ]) {
      const r = await refused(() => t.request(method, path, { token }));
      expect([path, r.status, r.body.error.code]).toEqual([path, 404, "not_found"]);
    }
  });

  test("an unknown capability → 404 listing the agent's capabilities", async () => {
    const res = await refused(() => create({ type: "teleport", inputs: {} }));
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
    expect(res.body.error.message).toMatch(/teleport/);
    expect(res.body.error.details.capabilities).toEqual(expect.arrayContaining(["noop", "slow", "echo"]));
  });

  test("GET of an unknown or non-uuid task id → 404", async () => {
    for (const id of [randomUUID(), "not-a-uuid", "1", "00000000-0000-0000-0000-00000000000g"]) {
      const res = await t.request("GET", `/agents/${A}/tasks/${id}`, { token });
      expect([id, res.status, res.body.error.code]).toEqual([id, 404, "not_found"]);
      const stream = await t.request("GET", `/agents/${A}/tasks/${id}/stream`, { token });
      expect([id, stream.status]).toEqual([id, 404]);
      const cancel = await refused(() => t.request("POST", `/agents/${A}/tasks/${id}/cancel`, { token }));
      expect([id, cancel.status]).toEqual([id, 404]);
    }
  });

  test("another tenant's task is a 404 too, not a 403", async () => {
    const created = await create({ type: "noop", inputs: {} });
    expect(created.status).toBe(202);
    const stranger = t.token(await t.tenant(10));
    const res = await t.request("GET", `/agents/${A}/tasks/${created.body.taskId}`, { token: stranger });
    expect(res.status).toBe(404);
    const cancel = await t.request("POST", `/agents/${A}/tasks/${created.body.taskId}/cancel`, { token: stranger });
    expect(cancel.status).toBe(404);
  });

  test("an unknown route → 404 JSON", async () => {
    const res = await t.request("GET", "/nowhere", { token });
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe("not_found");
  });
});

describe("body size", () => {
  test("a body over 1 MB → 413 payload_too_large", async () => {
    const big = { type: "noop", inputs: { pad: "x".repeat(1024 * 1024 + 10) } };
    const res = await refused(() => create(big));
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("payload_too_large");
  });

  test("a body just under 1 MB is parsed (and refused by the schema, not by size)", async () => {
    const res = await refused(() => create({ type: "noop", inputs: { pad: "x".repeat(1000 * 1000) } }));
    expect(res.status).toBe(400);
    expect(paths(res)).toEqual(["/inputs/pad"]);
  });

  test("MAX_BODY_BYTES=2048 → 413 at ~3 KB, while a small body is accepted", async () => {
    const small = await startTestStack({ MAX_BODY_BYTES: "2048" });
    try {
      const ten = await small.tenant(100);
      const tok = small.token(ten);
      const count = async () => (await small.owner.query("SELECT count(*)::int AS n FROM tasks")).rows[0].n;
      const body = { type: "echo", inputs: { message: "y".repeat(3 * 1024) } };
      expect(JSON.stringify(body).length).toBeGreaterThan(3000);
      expect(JSON.stringify(body).length).toBeLessThan(3300);
      const res = await small.request("POST", `/agents/${A}/tasks`, { token: tok, body });
      expect(res.status).toBe(413);
      expect(res.body.error.code).toBe("payload_too_large");
      expect(res.body.error.message).toMatch(/2048/);
      expect(await count()).toBe(0);
      const ok = await small.request("POST", `/agents/${A}/tasks`, { token: tok, body: { type: "echo", inputs: { message: "y".repeat(1500) } } });
      expect(ok.status).toBe(202);
      expect(await count()).toBe(1);
    } finally {
      await small.close();
    }
  });
});

describe("unreadable bodies on every face: 4xx, never 503 (issue 10)", () => {
  const faces = [
    { face: "REST", path: `/agents/${A}/tasks` },
    { face: "JSON-RPC", path: `/agents/${A}/a2a/jsonrpc` },
    { face: "HTTP+JSON", path: `/agents/${A}/a2a/rest/message:send` },
  ];
  const post = (path: string, body: Buffer | string, headers: Record<string, string>) =>
    fetch(t.url + path, { method: "POST", headers: { authorization: `Bearer ${token}`, ...headers }, body });
  const bomb = gzipSync(Buffer.from(`{"pad":"${"0".repeat(8 * 1024 * 1024)}"}`));

  test.each(faces)("$face: a bad Content-Encoding, a gzip bomb, an unsupported charset and an unknown encoding", async ({ face, path }) => {
    const cases: Array<[string, Buffer | string, Record<string, string>, number]> = [
      ["not gzip at all", "{\"jsonrpc\":\"2.0\"}", { "content-type": "application/json", "content-encoding": "gzip" }, 400],
      ["gzip bomb (8 MB inflated)", bomb, { "content-type": "application/json", "content-encoding": "gzip" }, 413],
      ["charset", "{}", { "content-type": "application/json; charset=koi8-r" }, 415],
      ["encoding", "{}", { "content-type": "application/json", "content-encoding": "br2" }, 415],
    ];
    for (const [what, body, headers, status] of cases) {
      const before = await taskCount();
      const res = await post(path, body, headers);
      expect({ what, face, status: res.status }).toEqual({ what, face, status });
      const json = (await res.json()) as any;
      if (face === "JSON-RPC") expect(json.error.code).toBe(-32600);
      expect(await taskCount()).toBe(before);
    }
  });

  test("JSON-RPC: a body that is not JSON is a parse error (-32700) with 400", async () => {
    const res = await post(`/agents/${A}/a2a/jsonrpc`, "{nope", { "content-type": "application/json" });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBe(-32700);
  });
});

describe("A2A bodies with nulls and wrong types anywhere: a 4xx or a JSON-RPC error of the caller's, never an internal error (issue 10)", () => {
  /** The body with each position in turn replaced by each of a few wrong values. */
  function variants(obj: unknown): unknown[] {
    const out: unknown[] = [];
    const walk = (o: unknown, set: (v: unknown) => unknown) => {
      for (const bad of [null, 1, "x", [], {}, true]) out.push(set(bad));
      if (o && typeof o === "object") {
        for (const k of Object.keys(o)) {
          const child = (o as Record<string, unknown>)[k];
          walk(child, (v) => set(Array.isArray(o) ? o.map((x, i) => (String(i) === k ? v : x)) : { ...(o as object), [k]: v }));
        }
      }
    };
    walk(obj, (v) => v);
    return out;
  }

  test("SendMessage on both bindings", async () => {
    const message = { messageId: "m1", role: "ROLE_USER", parts: [{ data: { n: 1 } }, { text: "hi" }], metadata: { skill: "noop" }, contextId: "c", referenceTaskIds: ["a"], extensions: ["x"] };
    const params = { message, configuration: { returnImmediately: true, acceptedOutputModes: ["a"], historyLength: 1 }, metadata: { a: 1 }, tenant: "" };
    const internal: string[] = [];
    for (const v of variants(params)) {
      for (const [path, body] of [["rest/message:send", v], ["jsonrpc", { jsonrpc: "2.0", id: 1, method: "SendMessage", params: v }]] as const) {
        const res = await fetch(`${t.url}/agents/${A}/a2a/${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "a2a-version": "1.0" }, body: JSON.stringify(body) });
        const text = await res.text();
        if (res.status >= 500 || /"code":-32603\b|"INTERNAL"/.test(text)) internal.push(`${path} ${res.status} ${JSON.stringify(v).slice(0, 160)} -> ${text.slice(0, 160)}`);
      }
    }
    expect(internal).toEqual([]);
  });

  test("a null part or a non-string bytes field is a 400 (REST) and invalid params (-32602, JSON-RPC)", async () => {
    const message = { messageId: "m2", role: "ROLE_USER", parts: [null], metadata: { skill: "noop" } };
    const rest = await fetch(`${t.url}/agents/${A}/a2a/rest/message:send`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ message }) });
    expect(rest.status).toBe(400);
    const rpc = await fetch(`${t.url}/agents/${A}/a2a/jsonrpc`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "SendMessage", params: { message } }) });
    expect(((await rpc.json()) as any)).toMatchObject({ id: 7, error: { code: -32602, message: "message.parts[0] must be an object" } });
    // A bytes field that is not base64 text is refused the same way.
    const raw = { ...message, parts: [{ raw: true }] };
    const rawRest = await fetch(`${t.url}/agents/${A}/a2a/rest/message:send`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ message: raw }) });
    expect(rawRest.status).toBe(400);
    expect(((await rawRest.json()) as any).error.message).toBe("message.parts[0].raw must be a string");
  });
});

describe("state conflicts", () => {
  test("cancel of a completed task → 409 invalid_transition, nothing changes", async () => {
    const created = await create({ type: "noop", inputs: { n: 9 } });
    expect(created.status).toBe(202);
    const done = await t.waitForStatus(token, A, created.body.taskId, ["completed"]);
    const ledger = async () => (await t.owner.query("SELECT kind, amount_milli::int AS amount FROM credit_ledger WHERE task_id = $1 ORDER BY kind", [created.body.taskId])).rows;
    const ledgerBefore = await ledger();
    const balance = await tenantBalance(t.owner, tenant);

    const res = await refused(() => t.request("POST", `/agents/${A}/tasks/${created.body.taskId}/cancel`, { token, body: { reason: "too late" } }));
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("invalid_transition");
    expect(res.body.error.details).toEqual({ status: "completed" });

    const after = await t.request("GET", `/agents/${A}/tasks/${created.body.taskId}`, { token });
    expect(after.body).toMatchObject({ status: "completed", outputs: done.outputs, updatedAt: done.updatedAt, completedAt: done.completedAt });
    expect(await ledger()).toEqual(ledgerBefore);
    expect(await tenantBalance(t.owner, tenant)).toBe(balance);
    const audit = await t.owner.query("SELECT event_type FROM audit_logs WHERE task_id = $1 ORDER BY seq", [created.body.taskId]);
    expect(audit.rows.map((r) => r.event_type)).toEqual(["task_created", "task_completed"]);
  });

  test("a second cancel of a cancelled task → 409 invalid_transition", async () => {
    const created = await create({ type: "slow", inputs: { ms: 5000, steps: 1 } });
    const first = await t.request("POST", `/agents/${A}/tasks/${created.body.taskId}/cancel`, { token });
    expect(first.status).toBe(200);
    expect(first.body.status).toBe("cancelled");
    const second = await t.request("POST", `/agents/${A}/tasks/${created.body.taskId}/cancel`, { token });
    expect(second.status).toBe(409);
    expect(second.body.error).toMatchObject({ code: "invalid_transition", details: { status: "cancelled" } });
  });
});

/* ------------------------------------------------------------------------------------------------ */
/* Dead dependencies: a gateway wired like src/stack.ts, but with Postgres or Redis pointing at a    */
/* port nothing listens on.                                                                         */
/* ------------------------------------------------------------------------------------------------ */

const DEAD_PG = "postgres://postgres@127.0.0.1:1/x";
const DEAD_REDIS = "redis://127.0.0.1:1";

interface Gateway {
  url: string;
  config: Config;
  request(method: string, pathname: string, opts?: { token?: string; body?: unknown }): Promise<{ status: number; body: any; headers: Headers }>;
  close(): Promise<void>;
}

async function serveGateway(pool: Pool, env: Record<string, string>): Promise<Gateway> {
  const config = loadConfig(env);
  const log = pino({ level: "silent" });
  const registry = new AgentRegistry(makeAgents(config, pool, log).map((a) => a.card));
  const queues = new TaskQueues(config.redisUrl, { prefix: config.queuePrefix!, deploymentId: randomUUID(), attempts: config.jobAttempts, backoffMs: config.jobBackoffMs });
  const events = new RedisEventBus(config.redisUrl);
  const service = new TaskService(pool, registry, queues, events, log, { tenantLeads: (tenantId) => countLiveLeads(pool, tenantId) });
  subscribeAfterCommit(service, {});
  const refusals = new RefusalAuditor(refusalAuditWriter(pool, service), config.refusalAudit, log);
  const app = createGateway({
    pool,
    registry,
    service,
    events,
    log,
    jwtSecret: config.jwtSecret,
    jwtIssuer: config.jwtIssuer,
    maxBodyBytes: config.maxBodyBytes,
    sseHeartbeatMs: config.sseHeartbeatMs,
    refusals,
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    config,
    async request(method, pathname, opts = {}) {
      const headers: Record<string, string> = {};
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      if (opts.body !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(url + pathname, { method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : null;
      } catch {
        /* keep the text */
      }
      return { status: res.status, body, headers: res.headers };
    },
    async close() {
      await refusals.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await queues.close();
      await events.close();
    },
  };
}

describe("Postgres down", () => {
  let gw: Gateway;
  let pool: Pool;
  let tok: string;

  beforeAll(async () => {
    pool = new Pool({ connectionString: DEAD_PG, connectionTimeoutMillis: 3000 });
    pool.on("error", () => undefined);
    gw = await serveGateway(pool, testEnv(DEAD_PG));
    tok = signToken(gw.config.jwtSecret, { agentId: "caller", tenantId: randomUUID(), scopes: ["a2a:call", "a2a:read"] }, 600);
  });
  afterAll(async () => {
    await gw?.close();
    await pool?.end();
  });

  test("POST a valid task → 503 dependency_unavailable", async () => {
    const res = await gw.request("POST", `/agents/${A}/tasks`, { token: tok, body: { type: "noop", inputs: { n: 1 } } });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("dependency_unavailable");
  });

  test("GET a task and list tasks → 503 dependency_unavailable", async () => {
    const res = await gw.request("GET", `/agents/${A}/tasks/${randomUUID()}`, { token: tok });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("dependency_unavailable");
    const list = await gw.request("GET", `/agents/${A}/tasks`, { token: tok });
    expect(list.status).toBe(503);
    const cancel = await gw.request("POST", `/agents/${A}/tasks/${randomUUID()}/cancel`, { token: tok });
    expect(cancel.status).toBe(503);
    const stream = await gw.request("GET", `/agents/${A}/tasks/${randomUUID()}/stream`, { token: tok });
    expect(stream.status).toBe(503);
  });

  test("what needs no database still answers: /health, the registry, validation, 401 and 403", async () => {
    expect((await gw.request("GET", "/health")).status).toBe(200);
    expect((await gw.request("GET", "/agents", { token: tok })).status).toBe(200);
    const invalid = await gw.request("POST", `/agents/${A}/tasks`, { token: tok, body: { type: "slow", inputs: {} } });
    expect(invalid.status).toBe(400);
    // The audit write fails too, but the refusal is still a clean 401 / 403.
    const noToken = await gw.request("GET", "/agents");
    expect(noToken.status).toBe(401);
    const readOnly = signToken(gw.config.jwtSecret, { agentId: "caller", tenantId: randomUUID(), scopes: ["a2a:read"] }, 600);
    const forbidden = await gw.request("POST", `/agents/${A}/tasks`, { token: readOnly, body: { type: "noop", inputs: {} } });
    expect(forbidden.status).toBe(403);
  });

  test("/ready → 503 with checks.postgres down and checks.redis ok", async () => {
    const res = await gw.request("GET", "/ready");
    expect(res.status).toBe(503);
    expect(res.body.ready).toBe(false);
    expect(res.body.checks.postgres).toMatch(/^down/);
    expect(res.body.checks.redis).toBe("ok");
  });
});

describe("Redis down", () => {
  let gw: Gateway;
  let env: Record<string, string>;
  let config: Config;
  let appPool: Pool;
  let owner: Pool;
  let ten: string;
  let tok: string;

  beforeAll(async () => {
    // A database of its own with no stack (and so no reconciler) attached to it.
    env = testEnv(testDatabaseUrl(), { REDIS_URL: DEAD_REDIS });
    config = await createMigratedDatabase(env);
    owner = createOwnerPool(config);
    appPool = createAppPool(config, 4);
    ten = (await createTenant(owner, "redis-down", 100)).tenantId;
    // The agents rows that startStack would sync, so tasks can reference them.
    await syncRegistry(appPool, makeAgents(config, appPool, pino({ level: "silent" })));
    gw = await serveGateway(appPool, env);
    tok = signToken(config.jwtSecret, { agentId: "caller", tenantId: ten, scopes: ["a2a:call", "a2a:read"] }, 600);
  });
  afterAll(async () => {
    await gw?.close();
    await appPool?.end();
    await owner?.end();
    if (config) await dropDatabase(config.databaseUrl);
  });

  test("a create still answers 202 and the task is durably in Postgres, submitted, credits reserved", async () => {
    const started = Date.now();
    const pending = gw.request("POST", `/agents/${A}/tasks`, { token: tok, body: { type: "echo", inputs: { leadIds: ["a", "b"] }, idempotencyKey: "redis-down-1" } });

    // The commit happens before the enqueue: the row is there whatever becomes of the answer.
    let rows: any[] = [];
    for (let until = Date.now() + 5000; Date.now() < until && rows.length === 0; await sleep(50)) {
      rows = (await owner.query("SELECT id, status, tenant_id, agent_id, type FROM tasks WHERE idempotency_key = 'redis-down-1'")).rows;
    }
    expect(rows).toEqual([{ id: expect.any(String), status: "submitted", tenant_id: ten, agent_id: A, type: "echo" }]);
    const ledger = await owner.query("SELECT kind FROM credit_ledger WHERE task_id = $1", [rows[0].id]);
    expect(ledger.rows).toEqual([{ kind: "reserve" }]);
    expect(await tenantBalance(owner, ten)).toBe(99);

    // And the caller gets its 202 promptly, not a hang until Redis comes back.
    const res = await pending;
    expect(res.status).toBe(202);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(res.body).toMatchObject({ taskId: rows[0].id, status: "submitted", creditsReserved: 1 });
    const got = await gw.request("GET", `/agents/${A}/tasks/${rows[0].id}`, { token: tok });
    expect(got.status).toBe(200);
    expect(got.body.status).toBe("submitted");
    // Nothing runs it while Redis is down: still submitted a moment later (the reconciler's job, tested elsewhere).
    await sleep(500);
    expect((await owner.query("SELECT status FROM tasks WHERE id = $1", [rows[0].id])).rows[0].status).toBe("submitted");
  });

  test("the SSE stream route answers 503 dependency_unavailable", async () => {
    // A task written straight through the store, so this test does not depend on the create path.
    const taskId = randomUUID();
    await createTasks(appPool, [{ tenantId: ten, task: { id: taskId, agentId: A, type: "noop", priority: 5, inputs: {}, idempotencyKey: null, reservedMilli: 0n, callingAgent: "caller", callbackUrl: null, ip: null, userAgent: null } }]);
    expect((await gw.request("GET", `/agents/${A}/tasks/${taskId}`, { token: tok })).status).toBe(200);
    const started = Date.now();
    const res = await gw.request("GET", `/agents/${A}/tasks/${taskId}/stream`, { token: tok });
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe("dependency_unavailable");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test("a cancel still answers 200 promptly: the task is cancelled in Postgres, the queue cleanup is best effort", async () => {
    const taskId = randomUUID();
    await createTasks(appPool, [{ tenantId: ten, task: { id: taskId, agentId: A, type: "noop", priority: 5, inputs: {}, idempotencyKey: null, reservedMilli: 0n, callingAgent: "caller", callbackUrl: null, ip: null, userAgent: null } }]);
    const started = Date.now();
    const res = await gw.request("POST", `/agents/${A}/tasks/${taskId}/cancel`, { token: tok, body: { reason: "redis is down" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ taskId, status: "cancelled" });
    expect(Date.now() - started).toBeLessThan(5000);
    expect((await owner.query("SELECT status FROM tasks WHERE id = $1", [taskId])).rows[0].status).toBe("cancelled");
  });

  test("/ready → 503 with checks.redis down and checks.postgres ok", async () => {
    const res = await gw.request("GET", "/ready");
    expect(res.status).toBe(503);
    expect(res.body.checks.postgres).toBe("ok");
    expect(res.body.checks.redis).toMatch(/^down/);
  });
});
