/**
 * Webhooks and push notifications end to end: a real HTTP receiver on 127.0.0.1 (the stack runs
 * with WEBHOOK_ALLOW_PRIVATE=true to reach it), real Postgres, Redis and workers. No traffic goes
 * anywhere but 127.0.0.1.
 */
import http from "node:http";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { eventually, startTestStack, sleep, type TestStack } from "./support/harness";
import { withTenant } from "../src/store/tenant-tx";
import { verifySignature } from "../src/webhooks/signing";
import { jobIdOf } from "../src/webhooks/delivery";
import { MAX_SUBSCRIPTIONS_PER_TENANT } from "../src/webhooks/service";
import {
  createPushConfig, deletePushConfig, getPushConfig, listPushConfigs, PushConfigInvalid, PushConfigTaskNotFound,
} from "../src/webhooks/push-config-store";
import type { Task } from "../src/protocol/task";

const A = "test-agent";

interface Hit {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A webhook receiver: records every request; answers each path from its script of status codes (then 200). */
class Receiver {
  readonly hits: Hit[] = [];
  private readonly scripts = new Map<string, number[]>();
  private server!: http.Server;
  url!: string;

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const path = req.url ?? "/";
        this.hits.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8") });
        const script = this.scripts.get(path);
        const status = script?.length ? script.shift()! : path.startsWith("/always-500") ? 500 : path.startsWith("/gone") ? 410 : 200;
        res.writeHead(status, { "content-type": "text/plain" }).end("ok");
      });
    });
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  script(path: string, statuses: number[]): string {
    this.scripts.set(path, [...statuses]);
    return this.url + path;
  }

  at(path: string): Hit[] {
    return this.hits.filter((h) => h.path === path);
  }

  async waitFor(path: string, n = 1, timeoutMs = 15_000): Promise<Hit[]> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      if (this.at(path).length >= n) return this.at(path);
      await sleep(25);
    }
    throw new Error(`receiver: ${path} got ${this.at(path).length} of ${n} requests in ${timeoutMs} ms`);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

let t: TestStack;
let rx: Receiver;

beforeAll(async () => {
  rx = await new Receiver().start();
  t = await startTestStack({
    WEBHOOK_ALLOW_PRIVATE: "true",
    WEBHOOK_BACKOFF_MS: "50",
    WEBHOOK_ATTEMPTS: "6",
    WEBHOOK_TIMEOUT_MS: "3000",
    WEBHOOK_SWEEP_INTERVAL_MS: "300",
  });
});
afterAll(async () => {
  await t?.close();
  await rx?.close();
});

async function tenantWithToken(scopes?: string[]) {
  const tenant = await t.tenant(1000);
  return { tenant, token: t.token(tenant, scopes) };
}

const subscribe = (token: string, body: unknown) => t.request("POST", "/webhooks", { token, body });
const runTask = async (token: string, body: Record<string, unknown>, statuses = ["completed", "failed", "cancelled", "timeout"]) => {
  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body });
  expect(res.status).toBe(202);
  return t.waitForStatus(token, A, res.body.taskId, statuses);
};
/**
 * The recorded attempts, once there are at least `expected`: an attempt's row is written after its
 * response came back, so a moment after the receiver saw the request.
 */
const attemptsOf = (where: string, params: unknown[], expected: number) =>
  eventually(`${expected} recorded delivery attempts`, async () => {
    const { rows } = await t.owner.query(`SELECT attempt, status_code, outcome, delivery_id::text, error FROM webhook_deliveries WHERE ${where} ORDER BY attempt, id`, params);
    return rows.length >= expected && rows;
  }, 5000);

test("a subscriber gets a signed delivery for a completed task, verifiable with the secret returned at creation", async () => {
  const { token } = await tenantWithToken();
  const created = await subscribe(token, { url: `${rx.url}/signed`, events: ["completed"], agentId: A });
  expect(created.status).toBe(201);
  expect(created.body).toMatchObject({ url: `${rx.url}/signed`, events: ["completed"], agentId: A, capability: null, active: true });
  expect(created.body.secret).toMatch(/^[A-Za-z0-9_-]{43}$/); // 32 bytes, base64url
  expect(created.headers.get("location")).toBe(`/webhooks/${created.body.id}`);

  // Listing and reading never show the secret again.
  const list = await t.request("GET", "/webhooks", { token });
  expect(list.body.webhooks).toEqual([expect.objectContaining({ id: created.body.id, events: ["completed"] })]);
  expect(list.body.webhooks[0]).not.toHaveProperty("secret");
  const one = await t.request("GET", `/webhooks/${created.body.id}`, { token });
  expect(one.status).toBe(200);
  expect(one.body).not.toHaveProperty("secret");
  expect(one.body.createdAt).toBe(created.body.createdAt);

  const task = await runTask(token, { type: "noop", inputs: { n: 7 } });
  const [hit] = await rx.waitFor("/signed");
  expect(hit.headers["content-type"]).toBe("application/json");
  expect(hit.headers["x-dealscale-event"]).toBe("completed");
  expect(hit.headers["x-dealscale-delivery"]).toMatch(/^[0-9a-f-]{36}$/);
  const body = JSON.parse(hit.body);
  expect(body).toMatchObject({ event: "completed", task: { taskId: task.taskId, status: "completed", outputs: { ok: true }, inputs: { n: 7 } } });
  expect(Date.parse(body.deliveredAt)).not.toBeNaN();

  const signature = hit.headers["x-dealscale-signature"] as string;
  expect(signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
  expect(verifySignature(created.body.secret, hit.body, signature)).toBe(true);
  expect(verifySignature(created.body.secret, hit.body.replace('"completed"', '"failed"'), signature)).toBe(false);
  expect(verifySignature(created.body.secret + "x", hit.body, signature)).toBe(false);
  expect(verifySignature("another-secret", hit.body, signature)).toBe(false);

  const rows = await attemptsOf("task_id = $1", [task.taskId], 1);
  expect(rows).toEqual([expect.objectContaining({ attempt: 1, status_code: 200, outcome: "delivered", delivery_id: hit.headers["x-dealscale-delivery"] })]);
});

test("a receiver answering 500 twice then 200 gets three attempts, all recorded, and one final delivery", async () => {
  const { token } = await tenantWithToken();
  const url = rx.script("/flaky", [500, 500, 200]);
  const sub = await subscribe(token, { url, events: ["completed"] });
  const task = await runTask(token, { type: "noop", inputs: {} });
  const hits = await rx.waitFor("/flaky", 3);
  await sleep(300);
  expect(rx.at("/flaky")).toHaveLength(3);
  // One delivery: the same id on every attempt, each attempt signed afresh.
  expect(new Set(hits.map((h) => h.headers["x-dealscale-delivery"])).size).toBe(1);
  for (const h of hits) expect(verifySignature(sub.body.secret, h.body, h.headers["x-dealscale-signature"] as string)).toBe(true);
  const rows = await attemptsOf("subscription_id = $1", [sub.body.id], 3);
  expect(rows.map((r) => [r.attempt, r.status_code, r.outcome])).toEqual([
    [1, 500, "retry"],
    [2, 500, "retry"],
    [3, 200, "delivered"],
  ]);
  expect(rows[0].error).toBe("HTTP 500");
  expect((await t.owner.query("SELECT DISTINCT task_id FROM webhook_deliveries WHERE subscription_id = $1", [sub.body.id])).rows).toEqual([{ task_id: task.taskId }]);
});

test("a callbackUrl given at task creation gets the task's final state, signed with the tenant's signing secret", async () => {
  const { token } = await tenantWithToken();
  const task = await runTask(token, { type: "echo", inputs: { leadIds: ["a", "b"], message: "hi" }, callbackUrl: `${rx.url}/callback` });
  const [hit] = await rx.waitFor("/callback");
  const body = JSON.parse(hit.body);
  expect(body.event).toBe("completed");
  expect(body.task).toMatchObject({ taskId: task.taskId, status: "completed", outputs: { echoed: { message: "hi" } }, creditsUsed: task.creditsUsed, progress: 100 });
  expect(body.task.completedAt).toBe(task.completedAt);

  const secret = await t.request("GET", "/webhooks/signing-secret", { token });
  expect(secret.status).toBe(200);
  expect(secret.headers.get("cache-control")).toBe("no-store");
  expect(verifySignature(secret.body.secret, hit.body, hit.headers["x-dealscale-signature"] as string)).toBe(true);

  // Rotation: a new secret from then on; the old one no longer verifies new deliveries.
  const rotated = await t.request("POST", "/webhooks/signing-secret/rotate", { token });
  expect(rotated.body.secret).not.toBe(secret.body.secret);
  expect((await t.request("GET", "/webhooks/signing-secret", { token })).body.secret).toBe(rotated.body.secret);
  await runTask(token, { type: "unimplemented", inputs: {}, callbackUrl: `${rx.url}/callback-2` });
  const [second] = await rx.waitFor("/callback-2");
  expect(JSON.parse(second.body)).toMatchObject({ event: "failed", task: { status: "failed", error: { code: "not_implemented" } } });
  expect(second.headers["x-dealscale-event"]).toBe("failed");
  expect(verifySignature(rotated.body.secret, second.body, second.headers["x-dealscale-signature"] as string)).toBe(true);
  expect(verifySignature(secret.body.secret, second.body, second.headers["x-dealscale-signature"] as string)).toBe(false);
});

test("subscriptions filter by event, agent and capability", async () => {
  const { token } = await tenantWithToken();
  const completedOnly = await subscribe(token, { url: `${rx.url}/f-completed`, events: ["completed"] });
  const failedUnimpl = await subscribe(token, { url: `${rx.url}/f-failed-unimpl`, events: ["failed"], agentId: A, capability: "unimplemented" });
  const otherAgent = await subscribe(token, { url: `${rx.url}/f-other-agent`, events: ["completed", "failed", "cancelled", "timeout"], agentId: "data-engineer" });
  const cancelled = await subscribe(token, { url: `${rx.url}/f-cancelled`, events: ["cancelled", "timeout"], capability: "slow" });
  for (const s of [completedOnly, failedUnimpl, otherAgent, cancelled]) expect(s.status).toBe(201);

  const ok = await runTask(token, { type: "noop", inputs: {} });
  const failed = await runTask(token, { type: "unimplemented", inputs: {} });
  const failedOther = await runTask(token, { type: "fail", inputs: {} }); // failed, but not the subscribed capability
  const slow = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "slow", inputs: { ms: 20_000, steps: 20 } } });
  await t.waitForStatus(token, A, slow.body.taskId, ["working"]);
  expect((await t.request("POST", `/agents/${A}/tasks/${slow.body.taskId}/cancel`, { token })).status).toBe(200);

  const [c] = await rx.waitFor("/f-completed");
  const [f] = await rx.waitFor("/f-failed-unimpl");
  const [x] = await rx.waitFor("/f-cancelled");
  await sleep(500); // anything else would have arrived by now
  expect(rx.at("/f-completed")).toHaveLength(1);
  expect(JSON.parse(c.body).task.taskId).toBe(ok.taskId);
  expect(rx.at("/f-failed-unimpl")).toHaveLength(1);
  expect(JSON.parse(f.body).task.taskId).toBe(failed.taskId);
  expect(rx.at("/f-cancelled")).toHaveLength(1);
  expect(JSON.parse(x.body)).toMatchObject({ event: "cancelled", task: { taskId: slow.body.taskId, status: "cancelled" } });
  expect(x.headers["x-dealscale-event"]).toBe("cancelled");
  expect(rx.at("/f-other-agent")).toHaveLength(0);
  // The failed task of another capability reached nobody.
  expect(await attemptsOf("task_id = $1", [failedOther.taskId], 0)).toEqual([]);
});

test("a subscription hears only its own tenant's tasks, though targets are read across tenants in one statement", async () => {
  const mine = await tenantWithToken();
  const theirs = await tenantWithToken();
  expect((await subscribe(mine.token, { url: `${rx.url}/only-mine`, events: ["completed"] })).status).toBe(201);
  // Finished together, so their targets are read in the same webhook_targets_of() call.
  const [own, foreign] = await Promise.all([runTask(mine.token, { type: "noop", inputs: {} }), runTask(theirs.token, { type: "noop", inputs: {} })]);
  const [hit] = await rx.waitFor("/only-mine");
  await sleep(500);
  expect(rx.at("/only-mine")).toHaveLength(1);
  expect(JSON.parse(hit.body).task.taskId).toBe(own.taskId);
  expect(await attemptsOf("task_id = $1", [foreign.taskId], 0)).toEqual([]);
  // Asked directly with both ids, the function names each task's own tenant.
  const both = await t.stack.webhooks.enqueueFinished([own.taskId, foreign.taskId]);
  expect(both).toBe(1);
});

test("DELETE stops deliveries, retries in flight included; a second DELETE is a 404", async () => {
  const { token } = await tenantWithToken();
  const keep = await subscribe(token, { url: `${rx.url}/del-keep`, events: ["completed"] });
  const gone = await subscribe(token, { url: `${rx.url}/del-gone`, events: ["completed"] });
  const del = await t.request("DELETE", `/webhooks/${gone.body.id}`, { token });
  expect(del.status).toBe(204);
  expect(del.body).toBeNull();
  expect((await t.request("DELETE", `/webhooks/${gone.body.id}`, { token })).status).toBe(404);
  expect((await t.request("GET", `/webhooks/${gone.body.id}`, { token })).status).toBe(404);
  await runTask(token, { type: "noop", inputs: {} });
  await rx.waitFor("/del-keep");
  await sleep(400);
  expect(rx.at("/del-gone")).toHaveLength(0);
  expect((await t.request("GET", "/webhooks", { token })).body.webhooks.map((w: any) => w.id)).toEqual([keep.body.id]);

  // A subscription whose receiver keeps failing: deleting it stops the retries.
  const failing = await subscribe(token, { url: `${rx.url}/always-500-del`, events: ["completed"] });
  await runTask(token, { type: "noop", inputs: {} });
  await rx.waitFor("/always-500-del", 1);
  expect((await t.request("DELETE", `/webhooks/${failing.body.id}`, { token })).status).toBe(204);
  const atDelete = rx.at("/always-500-del").length;
  await sleep(1800); // past every remaining backoff (50 ms doubling, 6 attempts)
  expect(rx.at("/always-500-del").length).toBeLessThanOrEqual(atDelete + 1); // at most the attempt already in flight
  expect(rx.at("/always-500-del").length).toBeLessThan(6);
});

test("a receiver answering 410 Gone deactivates its subscription", async () => {
  const { token } = await tenantWithToken();
  const sub = await subscribe(token, { url: `${rx.url}/gone-410`, events: ["completed"] });
  await runTask(token, { type: "noop", inputs: {} });
  await rx.waitFor("/gone-410");
  const until = Date.now() + 5000;
  let view: any;
  while (Date.now() < until && (view = (await t.request("GET", `/webhooks/${sub.body.id}`, { token })).body).active) await sleep(25);
  expect(view.active).toBe(false);
  expect((await attemptsOf("subscription_id = $1", [sub.body.id], 1)).map((r) => [r.status_code, r.outcome])).toEqual([[410, "gone"]]);
  await runTask(token, { type: "noop", inputs: {} });
  await sleep(400);
  expect(rx.at("/gone-410")).toHaveLength(1);
});

test("another tenant cannot see, read or delete your subscription; scopes are enforced", async () => {
  const a = await tenantWithToken();
  const b = await tenantWithToken();
  const sub = await subscribe(a.token, { url: `${rx.url}/tenancy`, events: ["completed"] });
  expect((await t.request("GET", "/webhooks", { token: b.token })).body).toEqual({ webhooks: [] });
  expect((await t.request("GET", `/webhooks/${sub.body.id}`, { token: b.token })).status).toBe(404);
  expect((await t.request("DELETE", `/webhooks/${sub.body.id}`, { token: b.token })).status).toBe(404);
  expect((await t.request("GET", `/webhooks/${sub.body.id}`, { token: a.token })).status).toBe(200);
  // B's tasks never reach A's subscriber.
  await runTask(b.token, { type: "noop", inputs: {} });
  await sleep(400);
  expect(rx.at("/tenancy")).toHaveLength(0);
  // Nor do the tenant secrets cross.
  const sa = (await t.request("GET", "/webhooks/signing-secret", { token: a.token })).body.secret;
  const sb = (await t.request("GET", "/webhooks/signing-secret", { token: b.token })).body.secret;
  expect(sa).not.toBe(sb);
  const c = await t.app.connect();
  try {
    expect((await c.query("SELECT count(*)::int AS n FROM webhook_signing_secrets")).rows[0].n).toBe(0); // app role, no tenant set
  } finally {
    c.release();
  }
  // A body naming another tenant is refused.
  expect((await subscribe(a.token, { url: `${rx.url}/x`, events: ["completed"], tenantId: b.tenant })).status).toBe(403);

  const reader = t.token(a.tenant, ["a2a:read"]);
  expect((await subscribe(reader, { url: `${rx.url}/x`, events: ["completed"] })).status).toBe(403);
  expect((await t.request("DELETE", `/webhooks/${sub.body.id}`, { token: reader })).status).toBe(403);
  expect((await t.request("GET", "/webhooks/signing-secret", { token: reader })).status).toBe(403);
  expect((await t.request("GET", "/webhooks", { token: reader })).body.webhooks).toHaveLength(1);
  expect((await t.request("GET", "/webhooks")).status).toBe(401);
});

test("bad subscriptions get a 400 naming the path", async () => {
  const { token } = await tenantWithToken();
  const bad = async (body: unknown) => {
    const res = await subscribe(token, body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("invalid_input");
    return res.body.error.details.errors.map((e: any) => e.path);
  };
  expect(await bad({ events: ["completed"] })).toEqual(["/url"]);
  expect(await bad({ url: "ftp://example.com/x", events: ["completed"] })).toEqual(["/url"]);
  expect(await bad({ url: `${rx.url}/x` })).toEqual(["/events"]);
  expect(await bad({ url: `${rx.url}/x`, events: [] })).toEqual(["/events"]);
  expect(await bad({ url: `${rx.url}/x`, events: ["completed", "exploded"] })).toEqual(["/events/1"]);
  expect(await bad({ url: `${rx.url}/x`, events: ["completed"], agentId: "nobody" })).toEqual(["/agentId"]);
  expect(await bad({ url: `${rx.url}/x`, events: ["completed"], agentId: A, capability: "enrichLeads" })).toEqual(["/capability"]);
  expect(await bad({ url: `${rx.url}/x`, events: ["completed"], capability: "noSuchCapability" })).toEqual(["/capability"]);
  expect(await bad({ url: 5, events: "completed" })).toEqual(["/url", "/events"]);
  expect(await bad([1, 2])).toEqual(["/"]);
  expect((await t.request("GET", "/webhooks/not-a-uuid", { token })).status).toBe(404);
  // capability alone may name any agent's capability
  expect((await subscribe(token, { url: `${rx.url}/x`, events: ["completed"], capability: "enrichLeads" })).status).toBe(201);
});

test("a tenant may have at most MAX_SUBSCRIPTIONS_PER_TENANT subscriptions", async () => {
  const { token } = await tenantWithToken();
  for (let i = 0; i < MAX_SUBSCRIPTIONS_PER_TENANT; i++) {
    expect((await subscribe(token, { url: `${rx.url}/cap-${i}`, events: ["timeout"] })).status).toBe(201);
  }
  const over = await subscribe(token, { url: `${rx.url}/cap-over`, events: ["timeout"] });
  expect(over.status).toBe(409);
  expect(over.body.error).toMatchObject({ code: "webhook_limit_reached", details: { limit: MAX_SUBSCRIPTIONS_PER_TENANT } });
  const first = (await t.request("GET", "/webhooks", { token })).body.webhooks[0];
  expect((await t.request("DELETE", `/webhooks/${first.id}`, { token })).status).toBe(204);
  expect((await subscribe(token, { url: `${rx.url}/cap-over`, events: ["timeout"] })).status).toBe(201);
});

test("push configs: signed with their own secret, A2A authentication and token headers, the A2A formatter's body", async () => {
  const { tenant, token } = await tenantWithToken();
  const other = await t.tenant(10);
  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "slow", inputs: { ms: 600, steps: 2 } } });
  const taskId = res.body.taskId;
  const previous = t.stack.webhooks.setA2AFormatter((row: Task) => ({ kind: "task", id: row.id, status: { state: row.status === "completed" ? "TASK_STATE_COMPLETED" : row.status } }));
  try {
    const a2a = await withTenant(t.app, tenant, (tx) => createPushConfig(tx, {
      taskId, url: `${rx.url}/push-a2a`, token: "notify-token-1", authentication: { schemes: ["Bearer"], credentials: "cred-xyz" }, configId: "cfg-1", format: "a2a",
    }));
    expect(a2a).toMatchObject({ task_id: taskId, config_id: "cfg-1", url: `${rx.url}/push-a2a`, token: "notify-token-1", format: "a2a" });
    expect(a2a.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const plain = await withTenant(t.app, tenant, (tx) => createPushConfig(tx, { taskId, url: `${rx.url}/push-plain-old` }));
    expect(plain.config_id).toBe(plain.id);
    // Same config id again: replaced in place, id and secret kept.
    const replaced = await withTenant(t.app, tenant, (tx) => createPushConfig(tx, { taskId, url: `${rx.url}/push-plain`, configId: plain.config_id }));
    expect(replaced).toMatchObject({ id: plain.id, secret: plain.secret, url: `${rx.url}/push-plain` });

    await withTenant(t.app, tenant, async (tx) => {
      expect((await listPushConfigs(tx, taskId)).map((c) => c.config_id).sort()).toEqual(["cfg-1", plain.config_id].sort());
      expect((await getPushConfig(tx, taskId, "cfg-1"))?.id).toBe(a2a.id);
      expect(await getPushConfig(tx, taskId, "nope")).toBeUndefined();
    });
    // Another tenant sees none of it and cannot attach configs to the task.
    await withTenant(t.app, other, async (tx) => {
      expect(await listPushConfigs(tx, taskId)).toEqual([]);
      expect(await getPushConfig(tx, taskId, "cfg-1")).toBeUndefined();
      expect(await deletePushConfig(tx, taskId, "cfg-1")).toBe(false);
      await expect(createPushConfig(tx, { taskId, url: `${rx.url}/evil` })).rejects.toBeInstanceOf(PushConfigTaskNotFound);
    });
    // Values that cannot be sent as header values are refused up front.
    await withTenant(t.app, tenant, async (tx) => {
      await expect(createPushConfig(tx, { taskId, url: `${rx.url}/bad`, token: "a\r\nX-Injected: 1" })).rejects.toMatchObject({ name: "PushConfigInvalid", field: "token" });
      await expect(createPushConfig(tx, { taskId, url: `${rx.url}/bad`, authentication: { schemes: ["Bearer x"], credentials: "c" } })).rejects.toBeInstanceOf(PushConfigInvalid);
      await expect(createPushConfig(tx, { taskId, url: `${rx.url}/bad`, authentication: { schemes: ["Bearer"], credentials: "c\n" } })).rejects.toBeInstanceOf(PushConfigInvalid);
    });

    await t.waitForStatus(token, A, taskId, ["completed"]);
    const [hit] = await rx.waitFor("/push-a2a");
    expect(hit.headers.authorization).toBe("Bearer cred-xyz");
    expect(hit.headers["x-a2a-notification-token"]).toBe("notify-token-1");
    expect(JSON.parse(hit.body)).toEqual({ kind: "task", id: taskId, status: { state: "TASK_STATE_COMPLETED" } });
    expect(verifySignature(a2a.secret!, hit.body, hit.headers["x-dealscale-signature"] as string)).toBe(true);

    const [p] = await rx.waitFor("/push-plain");
    expect(p.headers.authorization).toBeUndefined();
    expect(p.headers["x-a2a-notification-token"]).toBeUndefined();
    expect(JSON.parse(p.body)).toMatchObject({ event: "completed", task: { taskId, status: "completed" } });
    expect(verifySignature(plain.secret!, p.body, p.headers["x-dealscale-signature"] as string)).toBe(true);
    expect(rx.at("/push-plain-old")).toHaveLength(0);

    await withTenant(t.app, tenant, async (tx) => {
      expect(await deletePushConfig(tx, taskId, "cfg-1")).toBe(true);
      expect(await listPushConfigs(tx, taskId)).toHaveLength(1);
    });
  } finally {
    t.stack.webhooks.setA2AFormatter(previous);
  }
});

test("deliveries lost between commit and enqueue are sent by the sweep, and a duplicate notification never sends twice", async () => {
  const { tenant } = await tenantWithToken();
  const taskId = randomUUID();
  // A task committed as finished whose deliveries were never enqueued: as if the process died right after the commit.
  await withTenant(t.owner, tenant, (tx) => tx.query(
    `INSERT INTO tasks (id, tenant_id, agent_id, type, status, inputs, outputs, progress, callback_url, started_at, completed_at)
     VALUES ($1, $2, $3, 'noop', 'completed', '{}', '{"ok": true}', 100, $4, now(), now())`,
    [taskId, tenant, A, `${rx.url}/swept`],
  ));
  const [hit] = await rx.waitFor("/swept", 1, 10_000);
  expect(JSON.parse(hit.body).task).toMatchObject({ taskId, status: "completed" });

  // The observer firing again, the sweep running again, even the finished job gone from Redis: still one delivery.
  await t.stack.webhooks.enqueueFinished([taskId]);
  await t.stack.webhooks.sweep();
  await t.stack.webhooks.queue.queue.remove(jobIdOf({ taskId, kind: "callback", targetId: null }));
  await t.stack.webhooks.enqueueFinished([taskId]);
  await sleep(500);
  expect(rx.at("/swept")).toHaveLength(1);
  expect((await attemptsOf("task_id = $1", [taskId], 1)).map((r) => r.outcome)).toEqual(["delivered"]);
});

describe("without WEBHOOK_ALLOW_PRIVATE", () => {
  let strict: TestStack;
  beforeAll(async () => {
    strict = await startTestStack({ WEBHOOK_BACKOFF_MS: "50", WEBHOOK_SWEEP_INTERVAL_MS: "300" });
  });
  afterAll(async () => strict?.close());

  test("loopback and private URLs are refused with 400 at subscription and task creation", async () => {
    const tenant = await strict.tenant(100);
    const token = strict.token(tenant);
    for (const url of [`${rx.url}/x`, "http://localhost:9/x", "http://[::1]/x", "http://10.0.0.1/x", "http://169.254.169.254/latest/meta-data/", "http://0.0.0.0/"]) {
      const res = await strict.request("POST", "/webhooks", { token, body: { url, events: ["completed"] } });
      expect({ url, status: res.status }).toEqual({ url, status: 400 });
      expect(res.body.error.details.errors).toEqual([{ path: "/url", message: expect.stringMatching(/resolves to a (loopback|private|link-local|unspecified) address/) }]);
    }
    const task = await strict.request("POST", `/agents/${A}/tasks`, { token, body: { type: "noop", inputs: {}, callbackUrl: `${rx.url}/never` } });
    expect(task.status).toBe(400);
    expect(task.body.error.details.errors[0].path).toBe("/callbackUrl");
    expect((await strict.owner.query("SELECT count(*)::int AS n FROM tasks WHERE tenant_id = $1", [tenant])).rows[0].n).toBe(0);
  });

  test("a URL that slipped past creation is refused again at delivery time, after DNS resolution", async () => {
    const tenant = await strict.tenant(100);
    const token = strict.token(tenant);
    const port = new URL(rx.url).port;
    await withTenant(strict.owner, tenant, async (tx) => {
      await tx.query("INSERT INTO webhook_subscriptions (tenant_id, url, events, secret) VALUES ($1, $2, '{completed}', 's')", [tenant, `http://localhost:${port}/rebound`]);
      await tx.query("INSERT INTO webhook_subscriptions (tenant_id, url, events, secret) VALUES ($1, $2, '{completed}', 's')", [tenant, `http://127.0.0.1:${port}/rebound-literal`]);
    });
    const res = await strict.request("POST", `/agents/${A}/tasks`, { token, body: { type: "noop", inputs: {} } });
    await strict.waitForStatus(token, A, res.body.taskId, ["completed"]);
    const until = Date.now() + 10_000;
    let rows: any[] = [];
    while (Date.now() < until && rows.length < 2) {
      rows = (await strict.owner.query("SELECT url, outcome, status_code, error FROM webhook_deliveries WHERE task_id = $1 ORDER BY url", [res.body.taskId])).rows;
      await sleep(50);
    }
    expect(rows).toEqual([
      { url: `http://127.0.0.1:${port}/rebound-literal`, outcome: "refused", status_code: null, error: expect.stringMatching(/URL policy.*loopback/) },
      { url: `http://localhost:${port}/rebound`, outcome: "refused", status_code: null, error: expect.stringMatching(/URL policy.*loopback/) },
    ]);
    await sleep(300);
    expect(rx.at("/rebound")).toHaveLength(0);
    expect(rx.at("/rebound-literal")).toHaveLength(0);
  });
});
