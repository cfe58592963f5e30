/**
 * The token matrix on a running stack: every missing, malformed, forged, expired or out-of-scope
 * token is refused with 401/403 and leaves an `unauthorized_access` audit row (401s in the
 * NULL-tenant chain, a 403 in the token's own tenant chain); a body naming another tenant is
 * refused with a `tenant_mismatch` row and writes no task.
 */
import { createHmac, randomBytes } from "node:crypto";
import jwt from "jsonwebtoken";
import { eventually, startTestStack, type TestStack } from "./support/harness";
import { signToken } from "../src/gateway/auth";
import { tenantBalance } from "../src/tasks/tenants";

let t: TestStack;
let tenant: string;
let other: string;
let token: string;
const A = "test-agent";

beforeAll(async () => {
  t = await startTestStack();
  tenant = await t.tenant(1000);
  other = await t.tenant(1000);
  token = t.token(tenant);
});
afterAll(async () => t?.close());

const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);
const claims = (extra: Record<string, unknown> = {}) => ({ agentId: "forger", tenantId: tenant, scopes: ["a2a:call", "a2a:read"], ...extra });

/** A unique User-Agent per request, so each test finds exactly the audit rows its own request left. */
const ua = () => `auth-test-${randomBytes(6).toString("hex")}`;

const auditRows = async (userAgent: string) =>
  (
    await t.owner.query(
      `SELECT tenant_id, event_type, calling_agent, target_agent, task_id, ip, error, details
       FROM audit_logs WHERE user_agent = $1 ORDER BY id`,
      [userAgent],
    )
  ).rows;

const taskCount = async (tenantId: string) =>
  (await t.owner.query("SELECT count(*)::int AS n FROM tasks WHERE tenant_id = $1", [tenantId])).rows[0].n as number;

const validBody = { type: "noop", inputs: { n: 1 } };

/** Sends a request with the given Authorization header (or none) and checks the 401 answer and its audit row. */
async function expect401(
  authorization: string | undefined,
  opts: { method?: string; path?: string; body?: unknown; claimedTenant?: string | null; callingAgent?: string | null; error: RegExp } = { error: /./ },
) {
  const method = opts.method ?? "POST";
  const path = opts.path ?? `/agents/${A}/tasks`;
  const userAgent = ua();
  const headers: Record<string, string> = { "user-agent": userAgent };
  if (authorization !== undefined) headers.authorization = authorization;
  const before = await taskCount(tenant);
  const res = await t.request(method, path, { headers, body: method === "POST" ? (opts.body ?? validBody) : undefined });

  expect(res.status).toBe(401);
  expect(res.body.error.code).toBe("unauthorized");
  expect(res.body.error.message).toMatch(opts.error);
  expect(res.headers.get("www-authenticate")).toBe('Bearer realm="dealscale-a2a"');

  const rows = await auditRows(userAgent);
  expect(rows).toHaveLength(1);
  expect(rows[0]).toMatchObject({
    tenant_id: null,
    event_type: "unauthorized_access",
    calling_agent: opts.callingAgent ?? null,
    target_agent: path.startsWith(`/agents/${A}`) ? A : null,
    task_id: null,
    ip: "127.0.0.1",
    details: { method, path, claimedTenant: opts.claimedTenant ?? null },
  });
  expect(rows[0].error).toMatch(opts.error);
  expect(await taskCount(tenant)).toBe(before);
  return rows[0];
}

describe("401: no provable tenant, audited in the NULL-tenant chain", () => {
  test("a request without Authorization is refused with WWW-Authenticate", async () => {
    await expect401(undefined, { error: /missing bearer token/ });
    await expect401(undefined, { method: "GET", path: "/agents", error: /missing bearer token/ });
    await expect401(undefined, { method: "GET", path: `/agents/${A}/tasks/${"0".repeat(8)}-0000-4000-8000-${"0".repeat(12)}`, error: /missing bearer token/ });
  });

  test.each([
    ["Basic x", "Basic scheme"],
    ["Bearer", "Bearer without a token"],
    ["Bearer  ", "Bearer with only spaces"],
    [`Bearer ${"a.b.c"} extra`, "two tokens"],
    [`Token ${"x".repeat(20)}`, "another scheme"],
  ])("a malformed header %j (%s) is refused", async (header) => {
    await expect401(header, { error: /Authorization must be 'Bearer <token>'|missing bearer token|invalid token/ });
  });

  test("a garbage bearer value is refused", async () => {
    await expect401("Bearer not-a-jwt", { error: /invalid token: jwt malformed/ });
  });

  test("an expired token is refused; its claimed tenant is kept in the row but it lands in the NULL chain", async () => {
    const expired = jwt.sign(claims({ iat: now() - 120, exp: now() - 60 }), t.config.jwtSecret, { algorithm: "HS256" });
    const row = await expect401(`Bearer ${expired}`, { claimedTenant: tenant, callingAgent: "forger", error: /jwt expired/ });
    expect(row.details.claimedTenant).toBe(tenant);
    // Nothing in the claimed tenant's own chain.
    const own = await t.owner.query("SELECT count(*)::int AS n FROM audit_logs WHERE tenant_id = $1 AND event_type = 'unauthorized_access'", [tenant]);
    expect(own.rows[0].n).toBe(0);
  });

  test("a token signed with another key is refused", async () => {
    const forged = signToken("another-secret-0123456789abcdef0123456789abcdef", claims(), 600);
    await expect401(`Bearer ${forged}`, { claimedTenant: tenant, callingAgent: "forger", error: /invalid signature/ });
  });

  test("an `alg: none` token is refused", async () => {
    const none = `${b64url({ alg: "none", typ: "JWT" })}.${b64url(claims({ iat: now(), exp: now() + 600 }))}.`;
    // Sanity: the token really is unsigned and decodes to the claims.
    expect(jwt.decode(none, { complete: true })).toMatchObject({ header: { alg: "none" }, payload: { tenantId: tenant } });
    await expect401(`Bearer ${none}`, { claimedTenant: tenant, callingAgent: "forger", error: /invalid token/ });
    // Also with the "None"/"NONE" spellings some libraries accept.
    for (const alg of ["None", "NONE"]) {
      const tok = `${b64url({ alg, typ: "JWT" })}.${b64url(claims({ iat: now(), exp: now() + 600 }))}.`;
      await expect401(`Bearer ${tok}`, { claimedTenant: tenant, callingAgent: "forger", error: /invalid token/ });
    }
  });

  test("an HS512 token signed with the right secret is refused (only HS256 is accepted)", async () => {
    const hs512 = jwt.sign(claims(), t.config.jwtSecret, { algorithm: "HS512", expiresIn: 600 });
    expect(jwt.verify(hs512, t.config.jwtSecret)).toMatchObject({ tenantId: tenant }); // it is a genuine token, just the wrong alg
    await expect401(`Bearer ${hs512}`, { claimedTenant: tenant, callingAgent: "forger", error: /invalid algorithm/ });
  });

  test("an RS256-labelled token HMAC-signed with the secret (algorithm confusion) is refused", async () => {
    const head = b64url({ alg: "RS256", typ: "JWT" });
    const body = b64url(claims({ iat: now(), exp: now() + 600 }));
    const sig = createHmac("sha256", t.config.jwtSecret).update(`${head}.${body}`).digest("base64url");
    await expect401(`Bearer ${head}.${body}.${sig}`, { claimedTenant: tenant, callingAgent: "forger", error: /invalid (algorithm|token)/ });
  });

  test("a correctly signed token without exp is refused", async () => {
    const noExp = jwt.sign(claims(), t.config.jwtSecret, { algorithm: "HS256" });
    expect((jwt.decode(noExp) as jwt.JwtPayload).exp).toBeUndefined();
    await expect401(`Bearer ${noExp}`, { error: /token has no expiry/ });
  });

  test("a correctly signed token whose tenantId is not a uuid is refused", async () => {
    for (const tenantId of ["acme", "", "' OR 1=1 --", `${tenant}x`, 42]) {
      const bad = jwt.sign(claims({ tenantId }), t.config.jwtSecret, { algorithm: "HS256", expiresIn: 600 });
      await expect401(`Bearer ${bad}`, { error: /token has no valid tenantId/ });
    }
  });

  test("a correctly signed token without agentId, or with scopes that are not a list of strings, is refused", async () => {
    const noAgent = jwt.sign({ tenantId: tenant, scopes: ["a2a:call"] }, t.config.jwtSecret, { algorithm: "HS256", expiresIn: 600 });
    await expect401(`Bearer ${noAgent}`, { error: /token has no agentId/ });
    const badScopes = jwt.sign(claims({ scopes: "a2a:call" }), t.config.jwtSecret, { algorithm: "HS256", expiresIn: 600 });
    await expect401(`Bearer ${badScopes}`, { error: /token scopes must be a list of strings/ });
  });

  test("the NULL-tenant chain the refusals were written to is intact and unreadable by the app role", async () => {
    const rows = (
      await t.owner.query(
        `SELECT seq::int AS seq, prev_hash, hash, audit_row_digest(prev_hash, a) AS recomputed
         FROM audit_logs a WHERE tenant_id IS NULL ORDER BY seq`,
      )
    ).rows;
    expect(rows.length).toBeGreaterThanOrEqual(10);
    let prev = "0".repeat(64);
    rows.forEach((r, i) => {
      expect(r.seq).toBe(i + 1);
      expect(r.prev_hash).toBe(prev);
      expect(r.hash).toBe(r.recomputed);
      prev = r.hash;
    });
    const asApp = await t.app.query("SELECT count(*)::int AS n FROM audit_logs WHERE tenant_id IS NULL");
    expect(asApp.rows[0].n).toBe(0);
  });
});

describe("403: a valid token without the scope, audited in the token's tenant chain", () => {
  test("a token with only a2a:read cannot create a task", async () => {
    const readOnly = t.token(tenant, ["a2a:read"], "reader");
    const userAgent = ua();
    const before = await taskCount(tenant);
    const balance = await tenantBalance(t.owner, tenant);
    const res = await t.request("POST", `/agents/${A}/tasks`, { token: readOnly, body: validBody, headers: { "user-agent": userAgent } });
    expect(res.status).toBe(403);
    expect(res.body.error).toEqual({ code: "forbidden", message: "token lacks scope a2a:call" });
    expect(res.headers.get("www-authenticate")).toBeNull();
    expect(await auditRows(userAgent)).toEqual([
      {
        tenant_id: tenant,
        event_type: "unauthorized_access",
        calling_agent: "reader",
        target_agent: A,
        task_id: null,
        ip: "127.0.0.1",
        error: "token lacks scope a2a:call",
        details: { method: "POST", path: `/agents/${A}/tasks` },
      },
    ]);
    expect(await taskCount(tenant)).toBe(before);
    expect(await tenantBalance(t.owner, tenant)).toBe(balance);
  });

  test("a token with only a2a:read cannot cancel a task, but can list agents and read the task", async () => {
    const created = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "slow", inputs: { ms: 1500, steps: 1 } } });
    expect(created.status).toBe(202);
    const taskId = created.body.taskId;

    const readOnly = t.token(tenant, ["a2a:read"], "reader");
    const userAgent = ua();
    const cancel = await t.request("POST", `/agents/${A}/tasks/${taskId}/cancel`, { token: readOnly, body: { reason: "nope" }, headers: { "user-agent": userAgent } });
    expect(cancel.status).toBe(403);
    expect(cancel.body.error.code).toBe("forbidden");
    expect(await auditRows(userAgent)).toEqual([
      expect.objectContaining({
        tenant_id: tenant,
        event_type: "unauthorized_access",
        calling_agent: "reader",
        target_agent: A,
        error: "token lacks scope a2a:call",
        details: { method: "POST", path: `/agents/${A}/tasks/${taskId}/cancel` },
      }),
    ]);

    const agents = await t.request("GET", "/agents", { token: readOnly });
    expect(agents.status).toBe(200);
    expect(agents.body.agents.map((a: any) => a.agentId)).toContain(A);
    const card = await t.request("GET", `/agents/${A}`, { token: readOnly });
    expect(card.status).toBe(200);
    expect(card.body.agentId).toBe(A);

    const got = await t.request("GET", `/agents/${A}/tasks/${taskId}`, { token: readOnly });
    expect(got.status).toBe(200);
    expect(got.body.taskId).toBe(taskId);
    expect(["submitted", "working"]).toContain(got.body.status);

    // The refused cancel did nothing: the task runs to completion, never cancelled.
    const done = await t.waitForStatus(readOnly, A, taskId, ["completed", "cancelled"]);
    expect(done.status).toBe("completed");
    const cancelled = await t.owner.query("SELECT count(*)::int AS n FROM audit_logs WHERE task_id = $1 AND event_type = 'task_cancelled'", [taskId]);
    expect(cancelled.rows[0].n).toBe(0);
  });

  test("a token with no scope at all cannot even read", async () => {
    const none = t.token(tenant, [], "nobody");
    const userAgent = ua();
    const res = await t.request("GET", "/agents", { token: none, headers: { "user-agent": userAgent } });
    expect(res.status).toBe(403);
    expect(res.body.error).toEqual({ code: "forbidden", message: "token lacks scope a2a:read or a2a:call" });
    expect(await auditRows(userAgent)).toEqual([expect.objectContaining({ tenant_id: tenant, event_type: "unauthorized_access", calling_agent: "nobody" })]);
  });

  test("a token with only a2a:call can both create and read", async () => {
    const callOnly = t.token(tenant, ["a2a:call"]);
    const res = await t.request("POST", `/agents/${A}/tasks`, { token: callOnly, body: validBody });
    expect(res.status).toBe(202);
    expect((await t.request("GET", `/agents/${A}/tasks/${res.body.taskId}`, { token: callOnly })).status).toBe(200);
  });

  test("the tenant's audit chain, refusals included, still verifies", async () => {
    const rows = (
      await t.owner.query(
        `SELECT seq::int AS seq, prev_hash, hash, audit_row_digest(prev_hash, a) AS recomputed
         FROM audit_logs a WHERE tenant_id = $1 ORDER BY seq`,
        [tenant],
      )
    ).rows;
    let prev = "0".repeat(64);
    rows.forEach((r, i) => {
      expect(r.seq).toBe(i + 1);
      expect(r.prev_hash).toBe(prev);
      expect(r.hash).toBe(r.recomputed);
      prev = r.hash;
    });
  });
});

describe("a correctly signed token for a tenant that does not exist", () => {
  test("cannot create a task: 403 unknown_tenant, audited in the NULL-tenant chain, nothing written", async () => {
    const ghost = "6f000000-0000-4000-8000-00000000dead";
    const userAgent = ua();
    const res = await t.request("POST", `/agents/${A}/tasks`, { token: t.token(ghost), body: validBody, headers: { "user-agent": userAgent } });
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe("unknown_tenant");
    expect(await taskCount(ghost)).toBe(0);
    expect(await auditRows(userAgent)).toEqual([
      expect.objectContaining({ tenant_id: null, event_type: "unauthorized_access", details: expect.objectContaining({ claimedTenant: ghost }) }),
    ]);
  });
});

describe("no token needed", () => {
  test("/health answers 200 without a token", async () => {
    const res = await t.request("GET", "/health");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  test("/ready answers 200 with postgres and redis ok, without a token", async () => {
    const res = await t.request("GET", "/ready");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ ready: true, checks: { postgres: "ok", redis: "ok" } });
  });
});

describe("a body naming another tenant than the token", () => {
  const mismatch = async (body: Record<string, unknown>, named: unknown) => {
    const userAgent = ua();
    const [mine, theirs] = [await taskCount(tenant), await taskCount(other)];
    const [myBalance, theirBalance] = [await tenantBalance(t.owner, tenant), await tenantBalance(t.owner, other)];
    const theirAudit = (await t.owner.query("SELECT count(*)::int AS n FROM audit_logs WHERE tenant_id = $1", [other])).rows[0].n;

    const res = await t.request("POST", `/agents/${A}/tasks`, { token, body, headers: { "user-agent": userAgent } });
    expect(res.status).toBe(403);
    expect(res.body.error).toEqual({ code: "forbidden", message: "the request names another tenant than its token" });

    expect(await auditRows(userAgent)).toEqual([
      {
        tenant_id: tenant,
        event_type: "tenant_mismatch",
        calling_agent: "test-caller",
        target_agent: A,
        task_id: null,
        ip: "127.0.0.1",
        error: "request names another tenant than its token",
        details: { namedTenant: String(named) },
      },
    ]);
    expect(await taskCount(tenant)).toBe(mine);
    expect(await taskCount(other)).toBe(theirs);
    expect(await tenantBalance(t.owner, tenant)).toBe(myBalance);
    expect(await tenantBalance(t.owner, other)).toBe(theirBalance);
    expect((await t.owner.query("SELECT count(*)::int AS n FROM audit_logs WHERE tenant_id = $1", [other])).rows[0].n).toBe(theirAudit);
  };

  test("top-level tenantId of another tenant → 403 and a tenant_mismatch row, no task", async () => {
    await mismatch({ ...validBody, tenantId: other }, other);
  });

  test("inputs.tenantId of another tenant → 403 and a tenant_mismatch row, no task", async () => {
    await mismatch({ type: "noop", inputs: { n: 1, tenantId: other } }, other);
  });

  test("a tenantId that is not even a string is a mismatch too", async () => {
    await mismatch({ ...validBody, tenantId: 7 }, 7);
  });

  test("a body naming the token's own tenant is accepted", async () => {
    const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { ...validBody, tenantId: tenant } });
    expect(res.status).toBe(202);
    const row = await t.owner.query("SELECT tenant_id FROM tasks WHERE id = $1", [res.body.taskId]);
    expect(row.rows).toEqual([{ tenant_id: tenant }]);
  });
});

describe("a flood of refusals (issue 10): rate-limited per source address before it is audited, repeats aggregated", () => {
  let s: TestStack;
  beforeAll(async () => {
    s = await startTestStack({ AUTH_REFUSALS_PER_SECOND: "2", AUTH_REFUSAL_BURST: "5", AUDIT_REFUSAL_WINDOW_MS: "400" });
  });
  afterAll(async () => s?.close());

  const rowsOf = async (userAgent: string) =>
    (await s.owner.query("SELECT tenant_id, ip, error, details FROM audit_logs WHERE user_agent = $1 ORDER BY seq", [userAgent])).rows;
  /** What the audit says happened: a plain row is one refusal, an aggregate row its count. */
  const counted = (rows: Array<{ details: any }>) => rows.reduce((n, r) => n + (r.details?.repeated ? r.details.count : 1), 0);

  test("200 forged requests from one address: the burst of 5 (and any refill meanwhile) answered 401, the rest 429 with Retry-After, a handful of audit rows that count all 200", async () => {
    const userAgent = ua();
    const forged = signToken("another-secret-0123456789abcdef0123456789abcdef", claims(), 600);
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => s.request("GET", `/agents/${A}/tasks`, { headers: { "user-agent": userAgent, authorization: `Bearer ${forged}`, "x-forwarded-for": "203.0.113.7" } })),
    );
    const seconds = (Date.now() - started) / 1000;
    const statuses = answers.map((a) => a.status);
    // The burst of 5, plus what the bucket refilled (2 a second) while a loaded machine served the flood.
    const refused = statuses.filter((x) => x === 401).length;
    expect(refused).toBeGreaterThanOrEqual(5);
    expect(refused).toBeLessThanOrEqual(5 + Math.floor(2 * seconds));
    expect(statuses.filter((x) => x === 429)).toHaveLength(200 - refused);
    const limited = answers.find((a) => a.status === 429)!;
    expect(limited.body.error.code).toBe("rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);

    // Another address is not held back by this one.
    const other = await s.request("GET", "/agents", { headers: { "user-agent": userAgent, authorization: `Bearer ${forged}`, "x-forwarded-for": "198.51.100.9" } });
    expect(other.status).toBe(401);

    const rows = await eventually("the aggregate row", async () => {
      const r = await rowsOf(userAgent);
      return counted(r) === 201 ? r : undefined;
    });
    // One row as the first refusal came, then a row with a count per window the flood lasted.
    const flood = rows.filter((r) => r.ip === "203.0.113.7");
    expect(flood.length).toBeLessThanOrEqual(5);
    expect(flood.every((r) => /invalid signature/.test(r.error) && r.tenant_id === null)).toBe(true);
    const aggregates = flood.filter((r) => r.details?.repeated);
    expect(aggregates.length).toBeGreaterThanOrEqual(1);
    expect(aggregates[0].details).toMatchObject({ method: "GET", paths: [`/agents/${A}/tasks`], firstAt: expect.any(String), lastAt: expect.any(String) });
    expect(counted(flood)).toBe(200);
    expect(aggregates.reduce((n, r) => n + r.details.rateLimited, 0)).toBe(200 - refused);
  });

  test("403s for a missing scope are aggregated in the tenant's own chain", async () => {
    const tenantId = await s.tenant(10);
    const userAgent = ua();
    const readOnly = s.token(tenantId, ["a2a:read"]);
    const answers = await Promise.all(Array.from({ length: 30 }, () => s.request("POST", `/agents/${A}/tasks`, { headers: { "user-agent": userAgent, "x-forwarded-for": "203.0.113.8" }, token: readOnly, body: validBody })));
    expect(answers.filter((a) => a.status === 403)).toHaveLength(5);
    expect(answers.filter((a) => a.status === 429)).toHaveLength(25);
    const rows = await eventually("the aggregate row", async () => {
      const r = await rowsOf(userAgent);
      return counted(r) === 30 ? r : undefined;
    });
    expect(rows.every((r) => r.tenant_id === tenantId)).toBe(true);
    expect(rows.length).toBeLessThanOrEqual(5);
    expect(await taskCount(tenantId)).toBe(0);
  });
});
