import pino from "pino";
import { loadConfig } from "../src/config/config";
import { startStack, type Stack } from "../src/stack";
import { startTestStack, type TestStack } from "./support/harness";
import { tenantBalance } from "../src/tasks/tenants";

let t: TestStack;
const A = "test-agent";
const extra: Stack[] = [];

beforeAll(async () => {
  // This stack has no workers: it is the database the other gateways below share.
  t = await startTestStack({ DEALSCALE_ROLES: "gateway" });
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

test("tasks created while Redis was down are accepted, kept in submitted, and run once it is back", async () => {
  const redisDown = await stackOnSameDb({ REDIS_URL: "redis://127.0.0.1:1", DEALSCALE_ROLES: "gateway", RECONCILE_INTERVAL_MS: "3600000" });
  const tenant = await t.tenant(10);
  const token = t.token(tenant);
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${redisDown.url}/agents/${A}/tasks`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "noop", inputs: { n: i } }),
    });
    expect(res.status).toBe(202);
    ids.push(((await res.json()) as { taskId: string }).taskId);
  }
  const stuck = await t.owner.query("SELECT status FROM tasks WHERE id = ANY($1)", [ids]);
  expect(stuck.rows.map((r) => r.status)).toEqual(["submitted", "submitted", "submitted"]);
  expect(await tenantBalance(t.owner, tenant)).toBe(7);

  // Redis answers again: a worker process with its reconciler picks the stranded tasks up.
  await stackOnSameDb({ DEALSCALE_ROLES: "worker", RECONCILE_INTERVAL_MS: "300" });
  for (const id of ids) await t.waitForStatus(token, A, id, ["completed"], 20_000);
  const charges = await t.owner.query("SELECT count(*)::int AS n FROM credit_ledger WHERE task_id = ANY($1) AND kind = 'charge'", [ids]);
  expect(charges.rows[0].n).toBe(3);
  expect(await tenantBalance(t.owner, tenant)).toBe(7);
  for (const s of extra.splice(0)) await s.stop(0);
});

test("a task working past its SLA with no live worker is timed out by the sweeper and refunded", async () => {
  const tenant = await t.tenant(10);
  const token = t.token(tenant);
  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "tight", inputs: { ms: 1 } } });
  // As if a worker took it and died with the job lost: working, started long ago, nothing queued.
  await t.owner.query("UPDATE tasks SET status = 'working', started_at = now() - interval '1 minute' WHERE id = $1", [res.body.taskId]);
  await t.stack.queues.queue(A).remove(res.body.taskId);
  await t.stack.reconciler.pass(); // the background pass may have done it already; either way:
  const done = await t.request("GET", `/agents/${A}/tasks/${res.body.taskId}`, { token });
  expect(done.body).toMatchObject({ status: "timeout", error: { code: "timeout" } });
  expect(await tenantBalance(t.owner, tenant)).toBe(10);
});
