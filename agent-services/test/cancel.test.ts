import { startTestStack, readSse, sleep, type TestStack } from "./support/harness";
import { tenantBalance } from "../src/tasks/tenants";

let t: TestStack;
const A = "test-agent";

beforeAll(async () => {
  t = await startTestStack();
});
afterAll(async () => t?.close());

test("cancel during a running handler aborts it, refunds the reservation and discards its late result", async () => {
  const tenant = await t.tenant(10);
  const token = t.token(tenant);
  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "slow", inputs: { ms: 4000, steps: 8, marker: "cancel-me" } } });
  const stream = fetch(`${t.url}/agents/${A}/tasks/${res.body.taskId}/stream`, { headers: { authorization: `Bearer ${token}` } });
  await t.waitForStatus(token, A, res.body.taskId, ["working"]);
  await sleep(700); // a progress step or two in
  expect(await tenantBalance(t.owner, tenant)).toBe(9);

  const cancelled = await t.request("POST", `/agents/${A}/tasks/${res.body.taskId}/cancel`, { token, body: { reason: "user changed their mind" } });
  expect(cancelled.status).toBe(200);
  expect(cancelled.body).toMatchObject({ status: "cancelled", error: { code: "cancelled", message: "user changed their mind" } });
  expect(await tenantBalance(t.owner, tenant)).toBe(10);

  // The stream ends with the cancelled status, and no progress arrives after it: the handler stopped.
  const events = (await readSse(await stream)).filter((e) => !e.comment);
  expect(JSON.parse(events[events.length - 1].data).status).toBe("cancelled");
  const progressBefore = await t.owner.query("SELECT count(*)::int AS n FROM task_events WHERE task_id = $1 AND kind = 'progress'", [res.body.taskId]);
  await sleep(1500);
  const progressAfter = await t.owner.query("SELECT count(*)::int AS n FROM task_events WHERE task_id = $1 AND kind = 'progress'", [res.body.taskId]);
  expect(progressAfter.rows[0].n).toBe(progressBefore.rows[0].n);
  expect(progressAfter.rows[0].n).toBeLessThan(8);

  const final = await t.request("GET", `/agents/${A}/tasks/${res.body.taskId}`, { token });
  expect(final.body).toMatchObject({ status: "cancelled", outputs: null, creditsUsed: 0 });
  const ledger = await t.owner.query("SELECT kind FROM credit_ledger WHERE task_id = $1 ORDER BY kind", [res.body.taskId]);
  expect(ledger.rows.map((r) => r.kind)).toEqual(["release", "reserve"]);
  const audit = await t.owner.query("SELECT event_type FROM audit_logs WHERE task_id = $1 ORDER BY seq", [res.body.taskId]);
  expect(audit.rows.map((r) => r.event_type)).toEqual(["task_created", "task_cancelled"]);
});

test("cancelling a queued task takes it out before it runs", async () => {
  const gatewayOnly = await startTestStack({ DEALSCALE_ROLES: "gateway" });
  try {
    const tenant = await gatewayOnly.tenant(10);
    const token = gatewayOnly.token(tenant);
    const res = await gatewayOnly.request("POST", `/agents/${A}/tasks`, { token, body: { type: "noop", inputs: {} } });
    const c = await gatewayOnly.request("POST", `/agents/${A}/tasks/${res.body.taskId}/cancel`, { token });
    expect(c.body.status).toBe("cancelled");
    expect(await gatewayOnly.stack.queues.queue(A).getJob(res.body.taskId)).toBeUndefined();
    expect(await tenantBalance(gatewayOnly.owner, tenant)).toBe(10);
  } finally {
    await gatewayOnly.close();
  }
});

test("cancelling a finished task is an illegal transition: 409, nothing refunded twice", async () => {
  const tenant = await t.tenant(10);
  const token = t.token(tenant);
  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "noop", inputs: {} } });
  await t.waitForStatus(token, A, res.body.taskId, ["completed"]);
  const again = await t.request("POST", `/agents/${A}/tasks/${res.body.taskId}/cancel`, { token });
  expect(again.status).toBe(409);
  expect(again.body.error).toMatchObject({ code: "invalid_transition", details: { status: "completed" } });
  expect(await tenantBalance(t.owner, tenant)).toBe(9);
});

test("racing cancels: exactly one wins, the others get 409", async () => {
  const tenant = await t.tenant(10);
  const token = t.token(tenant);
  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "slow", inputs: { ms: 3000 } } });
  await t.waitForStatus(token, A, res.body.taskId, ["working"]);
  const all = await Promise.all(Array.from({ length: 8 }, () => t.request("POST", `/agents/${A}/tasks/${res.body.taskId}/cancel`, { token })));
  expect(all.map((r) => r.status).sort()).toEqual([200, 409, 409, 409, 409, 409, 409, 409]);
  expect(await tenantBalance(t.owner, tenant)).toBe(10);
});
