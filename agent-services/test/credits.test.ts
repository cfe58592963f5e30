import { startTestStack, type TestStack } from "./support/harness";
import { randomUUID } from "node:crypto";
import { tenantBalance } from "../src/tasks/tenants";
import { withTenant } from "../src/store/tenant-tx";

let t: TestStack;
const A = "test-agent";

beforeAll(async () => {
  // Hold tasks in the queue: no worker here, so reservations stay reserved while we count them.
  t = await startTestStack({ DEALSCALE_ROLES: "gateway" });
});
afterAll(async () => t?.close());

test("200 concurrent creates against credits for 10 accept exactly 10 and answer 402 to the rest", async () => {
  const tenant = await t.tenant(10); // noop costs 1 credit
  const token = t.token(tenant);
  const results = await Promise.all(
    Array.from({ length: 200 }, (_, i) => t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "noop", inputs: { n: i } } })),
  );
  const statuses = results.map((r) => r.status);
  expect(statuses.filter((s) => s === 202)).toHaveLength(10);
  expect(statuses.filter((s) => s === 402)).toHaveLength(190);
  const refused = results.find((r) => r.status === 402)!;
  expect(refused.body.error).toMatchObject({ code: "insufficient_credits", details: { requiredCredits: 1, availableCredits: 0 } });
  expect(await tenantBalance(t.owner, tenant)).toBe(0);
  const tasks = await t.owner.query("SELECT count(*)::int AS n FROM tasks WHERE tenant_id = $1", [tenant]);
  expect(tasks.rows[0].n).toBe(10); // refused creates left no half-written task
  const reserved = await t.owner.query("SELECT sum(amount_milli)::int AS s FROM credit_ledger WHERE tenant_id = $1 AND kind = 'reserve'", [tenant]);
  expect(reserved.rows[0].s).toBe(10_000);
});

test("a task priced per lead reserves creditsPerLead x items and 402 carries the numbers", async () => {
  const tenant = await t.tenant(1);
  const token = t.token(tenant);
  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "echo", inputs: { leadIds: ["a", "b", "c"] } } });
  expect(res.status).toBe(402);
  expect(res.body.error.details).toEqual({ requiredCredits: 1.5, availableCredits: 1 });
  const ok = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "echo", inputs: { leadIds: ["a", "b"] } } });
  expect(ok.status).toBe(202);
  expect(ok.body.creditsReserved).toBe(1);
  expect(await tenantBalance(t.owner, tenant)).toBe(0);
});

test("the ledger refuses a second charge or release for the same task", async () => {
  const tenant = await t.tenant(5);
  const token = t.token(tenant);
  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "noop", inputs: {} } });
  await t.owner.query("INSERT INTO credit_ledger (tenant_id, task_id, kind, amount_milli) VALUES ($1, $2, 'charge', 1000)", [tenant, res.body.taskId]);
  await expect(
    t.owner.query("INSERT INTO credit_ledger (tenant_id, task_id, kind, amount_milli) VALUES ($1, $2, 'charge', 1000)", [tenant, res.body.taskId]),
  ).rejects.toThrow(/credit_ledger_once_per_task/);
});

test("a whole-tenant run (its per-lead list omitted) reserves for every live lead of the tenant", async () => {
  const tenant = await t.tenant(100);
  const token = t.token(tenant);
  await withTenant(t.owner, tenant, (tx) =>
    tx.query("INSERT INTO leads (tenant_id, email) SELECT $1, 'lead' || g || '@example.com' FROM generate_series(1, 30) g", [tenant]),
  );
  const all = await t.request("POST", `/agents/data-engineer/tasks`, { token, body: { type: "validateLeads", inputs: {} } });
  expect(all.status).toBe(202);
  expect(all.body.creditsReserved).toBe(0.6); // 30 leads x 0.02
  const some = await t.request("POST", `/agents/data-engineer/tasks`, { token, body: { type: "validateLeads", inputs: { leadIds: [randomUUID(), randomUUID()] } } });
  expect(some.body.creditsReserved).toBe(0.04);
});
