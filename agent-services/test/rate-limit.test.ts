import { randomUUID } from "node:crypto";
import path from "node:path";
import pino from "pino";
import { loadConfig } from "../src/config/config";
import { startStack, type Stack } from "../src/stack";
import { ServiceError } from "../src/tasks/errors";
import { startTestStack, sleep, TEST_AGENT_PLUGIN, type TestStack } from "./support/harness";

const LIMITED = "limited-agent"; // rateLimit: 60 requests per minute, bursts of 3
const LIMITED_PLUGIN = path.resolve(__dirname, "fixtures/limited-agent.js");

let t: TestStack;
const extra: Stack[] = [];

beforeAll(async () => {
  t = await startTestStack({ AGENT_PLUGINS: `${TEST_AGENT_PLUGIN},${LIMITED_PLUGIN}` });
});
afterAll(async () => {
  for (const s of extra) await s.stop(0);
  await t?.close();
});

async function stackOnSameDb(env: Record<string, string>): Promise<Stack> {
  const s = await startStack(loadConfig({ ...t.env, ...env }), { log: pino({ level: "silent" }) });
  extra.push(s);
  return s;
}

const createAt = (baseUrl: string, token: string, agentId = LIMITED) =>
  fetch(`${baseUrl}/agents/${agentId}/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "noop", inputs: {} }),
  });

/** Waits until the tenant's bucket is full again (60 rpm: a token a second, 3 s for all three). */
const refill = () => sleep(3100);

test("the 4th rapid request gets 429 with Retry-After; the first three pass", async () => {
  const token = t.token(await t.tenant(100));
  const statuses: number[] = [];
  let limited: Response | undefined;
  for (let i = 0; i < 4; i++) {
    const res = await createAt(t.url, token);
    statuses.push(res.status);
    if (res.status === 429) limited = res;
  }
  expect(statuses).toEqual([202, 202, 202, 429]);
  const retryAfter = limited!.headers.get("retry-after");
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
  const body = (await limited!.json()) as { error: { code: string; details: { retryAfterSeconds: number; burstSize: number; requestsPerMinute: number } } };
  expect(body.error.code).toBe("rate_limited");
  expect(body.error.details).toMatchObject({ retryAfterSeconds: Number(retryAfter), burstSize: 3, requestsPerMinute: 60 });
});

test("every authenticated /agents/:agentId route draws from the same bucket, per tenant and agent", async () => {
  const tenant = await t.tenant(100);
  const token = t.token(tenant);
  expect((await t.request("GET", `/agents/${LIMITED}`, { token })).status).toBe(200);
  expect((await t.request("GET", `/agents/${LIMITED}/tasks`, { token })).status).toBe(200);
  expect((await createAt(t.url, token)).status).toBe(202);
  expect((await t.request("GET", `/agents/${LIMITED}/tasks`, { token })).status).toBe(429);
  // Another agent of the same tenant has its own bucket (test-agent allows 100,000 at once).
  expect((await createAt(t.url, token, "test-agent")).status).toBe(202);
  // The registry is not an agent route.
  expect((await t.request("GET", "/agents", { token })).status).toBe(200);
  // Unauthenticated requests are refused before the limiter (401, not 429) and take no token.
  expect((await t.request("GET", `/agents/${LIMITED}/tasks`)).status).toBe(401);
});

test("another tenant is not affected by one tenant exhausting its bucket", async () => {
  const noisy = t.token(await t.tenant(100));
  const quiet = t.token(await t.tenant(100));
  for (let i = 0; i < 3; i++) expect((await createAt(t.url, noisy)).status).toBe(202);
  expect((await createAt(t.url, noisy)).status).toBe(429);
  for (let i = 0; i < 3; i++) expect((await createAt(t.url, quiet)).status).toBe(202);
  expect((await createAt(t.url, quiet)).status).toBe(429);
});

test("the limit is shared by two gateway replicas on the same Redis", async () => {
  const other = await stackOnSameDb({ DEALSCALE_ROLES: "gateway" });
  const token = t.token(await t.tenant(100));
  expect((await createAt(t.url, token)).status).toBe(202);
  expect((await createAt(other.url!, token)).status).toBe(202);
  expect((await createAt(t.url, token)).status).toBe(202);
  const res = await createAt(other.url!, token);
  expect(res.status).toBe(429);
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
});

test("tokens refill over time at the card's rate, not all at once", async () => {
  const token = t.token(await t.tenant(100));
  for (let i = 0; i < 3; i++) expect((await createAt(t.url, token)).status).toBe(202);
  const limited = await createAt(t.url, token);
  expect(limited.status).toBe(429);
  const retryAfter = Number(limited.headers.get("retry-after"));
  expect(retryAfter).toBe(1); // a token every second at 60 per minute

  await sleep(retryAfter * 1000 + 100);
  expect((await createAt(t.url, token)).status).toBe(202); // one token back...
  expect((await createAt(t.url, token)).status).toBe(429); // ...only one

  await refill();
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await createAt(t.url, token)).status);
  expect(statuses).toEqual([202, 202, 202, 429]); // a full bucket holds the burst, no more
});

test("rateLimit.consume is the function the A2A face calls: a ServiceError 429 with retryAfterSeconds", async () => {
  const tenant = await t.tenant(100);
  const limiter = t.stack.rateLimit!;
  for (let i = 0; i < 3; i++) await limiter.consume(tenant, LIMITED);
  const err = await limiter.consume(tenant, LIMITED).then(() => undefined, (e) => e);
  expect(err).toBeInstanceOf(ServiceError);
  expect(err).toMatchObject({ status: 429, code: "rate_limited", details: { retryAfterSeconds: 1 } });
  // Unknown agents are not limited here (their routes answer 404).
  await expect(limiter.consume(tenant, "no-such-agent")).resolves.toBeUndefined();
});

test("with Redis down the limiter fails open: requests are neither refused nor turned into 500s", async () => {
  const down = await stackOnSameDb({ REDIS_URL: "redis://127.0.0.1:1", DEALSCALE_ROLES: "gateway", RECONCILE_INTERVAL_MS: "3600000" });
  const token = t.token(await t.tenant(100));
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await createAt(down.url!, token)).status);
  expect(statuses).toEqual([202, 202, 202, 202, 202]);
  // The limiter does not wait for the missing Redis (no offline queue): calls that waited would each
  // run into the 500 ms bound, 2.5 s for five; failing at once leaves room for a slow machine.
  const started = Date.now();
  for (let i = 0; i < 5; i++) await down.rateLimit!.consume(randomUUID(), LIMITED);
  expect(Date.now() - started).toBeLessThan(2000);
  const list = await fetch(`${down.url}/agents/${LIMITED}/tasks`, { headers: { authorization: `Bearer ${token}` } });
  expect(list.status).toBe(200);
});

test("the A2A bindings draw from the same bucket: the 4th rapid SendMessage gets 429 with Retry-After", async () => {
  const token = t.token(await t.tenant(100));
  const send = () =>
    fetch(`${t.url}/agents/${LIMITED}/a2a/jsonrpc`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "A2A-Version": "1.0" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "SendMessage",
        params: { message: { messageId: randomUUID(), role: "ROLE_USER", parts: [{ data: {}, mediaType: "application/json" }], metadata: { skill: "noop" } }, configuration: { returnImmediately: true } },
      }),
    });
  const results = [];
  for (let i = 0; i < 4; i++) results.push(await send());
  expect(results.map((r) => r.status)).toEqual([200, 200, 200, 429]);
  for (const r of results.slice(0, 3)) expect(((await r.json()) as { result?: { task?: unknown } }).result?.task).toBeDefined();
  expect(Number(results[3].headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
  expect(((await results[3].json()) as { error: { code: number } }).error.code).toBe(429);
  // The REST face of the same agent is out of tokens too.
  expect((await createAt(t.url, token)).status).toBe(429);
});
