/**
 * Creates of many tenants in one statement (ds_create_tasks): each tenant's reservations decided in
 * request order as serial creates would decide them, under row-level security, and the lock order
 * that keeps a create batch clear of a bulk lead import.
 */
import { randomUUID } from "node:crypto";
import type { Pool } from "pg";
import { testEnv, testDatabaseUrl, createMigratedDatabase, dropDatabase } from "./support/harness";
import { createAppPool, createOwnerPool } from "../src/store/database";
import { createTenant, tenantBalance } from "../src/tasks/tenants";
import { createTasks, IdempotencyRace, type NewTask } from "../src/tasks/task-store";
import { verifyAuditChain } from "../src/tasks/audit";
import type { Config } from "../src/config/config";

let config: Config;
let app: Pool;
let owner: Pool;
const A = "test-agent";

beforeAll(async () => {
  config = await createMigratedDatabase(testEnv(testDatabaseUrl()));
  app = createAppPool(config, 4);
  owner = createOwnerPool(config);
  await owner.query("INSERT INTO agents (id, name, version, status, card) VALUES ($1, $1, '1.0.0', 'active', '{}')", [A]);
});
afterAll(async () => {
  await app?.end();
  await owner?.end();
  if (config) await dropDatabase(config.databaseUrl);
});

const task = (cost: number, over: Partial<NewTask> = {}): NewTask => ({
  id: randomUUID(), agentId: A, type: "noop", priority: 5, inputs: { n: cost }, idempotencyKey: null, reservedMilli: BigInt(cost * 1000),
  callingAgent: "bench", callbackUrl: null, ip: null, userAgent: null, ...over,
});
const tasksOf = async (tenant: string) => (await owner.query("SELECT id, credits_reserved_milli::int AS reserved FROM tasks WHERE tenant_id = $1", [tenant])).rows;

test("creates of several tenants in one statement: each tenant reserves in request order from its own balance, audited in its own chain", async () => {
  const one = (await createTenant(owner, "one", 5)).tenantId;
  const two = (await createTenant(owner, "two", 3)).tenantId;
  const ghost = randomUUID();
  const [a1, a2, a3, b1, b2, g1] = [task(3), task(4), task(2), task(2), task(2), task(1)];
  const out = await createTasks(app, [
    { tenantId: two, task: b1 },
    { tenantId: one, task: a1 },
    { tenantId: ghost, task: g1 },
    { tenantId: one, task: a2 },
    { tenantId: two, task: b2 },
    { tenantId: one, task: a3 },
  ]);
  // one: 3 fits (5 -> 2), 4 does not, 2 still does (2 -> 0); two: 2 fits (3 -> 1), the second 2 does not.
  expect(out.map((o) => o.kind)).toEqual(["created", "created", "no_tenant", "insufficient", "insufficient", "created"]);
  expect(out[3]).toEqual({ kind: "insufficient", balance: 2000n });
  expect(out[4]).toEqual({ kind: "insufficient", balance: 1000n });
  expect(out[1]).toMatchObject({ kind: "created", task: { id: a1.id, tenantId: one, status: "submitted", creditsReservedMilli: 3000n } });
  expect(out[0]).toMatchObject({ kind: "created", event: { taskId: b1.id, kind: "status", data: { status: "submitted" } } });
  expect(await tenantBalance(owner, one)).toBe(0);
  expect(await tenantBalance(owner, two)).toBe(1);
  expect(await tasksOf(one)).toEqual(expect.arrayContaining([{ id: a1.id, reserved: 3000 }, { id: a3.id, reserved: 2000 }]));
  expect(await tasksOf(one)).toHaveLength(2);
  expect(await tasksOf(two)).toEqual([{ id: b1.id, reserved: 2000 }]);
  for (const t of [one, two]) expect(await verifyAuditChain(owner, t)).toMatchObject({ ok: true });
  const created = (await owner.query("SELECT tenant_id, count(*)::int AS n FROM audit_logs WHERE event_type = 'task_created' AND tenant_id = ANY($1) GROUP BY tenant_id", [[one, two]])).rows;
  expect(Object.fromEntries(created.map((r) => [r.tenant_id, r.n]))).toEqual({ [one]: 2, [two]: 1 });
});

test("an idempotency key already used answers with its task; a key twice in one statement writes nothing and throws IdempotencyRace", async () => {
  const ten = (await createTenant(owner, "keys", 10)).tenantId;
  const first = task(1, { idempotencyKey: "k1" });
  await createTasks(app, [{ tenantId: ten, task: first }]);
  const out = await createTasks(app, [
    { tenantId: ten, task: task(1, { idempotencyKey: "k1", inputs: { n: 1 } }) },
    { tenantId: ten, task: task(1, { idempotencyKey: "k1", inputs: { other: true } }) },
    { tenantId: ten, task: task(1) },
  ]);
  expect(out[0]).toMatchObject({ kind: "existing", task: { id: first.id }, sameRequest: true });
  expect(out[1]).toMatchObject({ kind: "existing", task: { id: first.id }, sameRequest: false });
  expect(out[2].kind).toBe("created");
  expect(await tenantBalance(owner, ten)).toBe(8);

  const before = await tasksOf(ten);
  await expect(createTasks(app, [
    { tenantId: ten, task: task(1) },
    { tenantId: ten, task: task(1, { idempotencyKey: "k2" }) },
    { tenantId: ten, task: task(1, { idempotencyKey: "k2" }) },
  ])).rejects.toBeInstanceOf(IdempotencyRace);
  expect(await tasksOf(ten)).toEqual(before);
  expect(await tenantBalance(owner, ten)).toBe(8);
});

test("a create is not held up by a bulk lead import, which keeps the tenant row FOR KEY SHARE while it runs", async () => {
  const ten = (await createTenant(owner, "import", 10)).tenantId;
  const importing = await owner.connect();
  try {
    await importing.query("BEGIN");
    await importing.query("SELECT 1 FROM tenants WHERE id = $1 FOR KEY SHARE", [ten]);
    const client = await app.connect();
    try {
      // Fails at once instead of waiting, had the create wanted a lock the import's conflicts with.
      await client.query("SET lock_timeout = '1s'");
      const { rows } = await client.query("SELECT outcome FROM ds_create_tasks($1::jsonb)", [JSON.stringify([{ tenant: ten, items: [{ ord: 0, id: randomUUID(), agent_id: A, type: "noop", priority: 5, inputs: {}, cost: "1000" }] }])]);
      expect(rows).toEqual([{ outcome: "created" }]);
    } finally {
      await client.query("RESET lock_timeout");
      client.release();
    }
  } finally {
    await importing.query("ROLLBACK");
    importing.release();
  }
});

test("the statement leaves no tenant set behind on a pooled connection, and puts back one it found", async () => {
  const ten = (await createTenant(owner, "setting", 10)).tenantId;
  const client = await app.connect();
  try {
    await createTasks(client, [{ tenantId: ten, task: task(1) }]);
    expect((await client.query("SELECT current_setting('app.current_tenant', true) AS t")).rows[0].t || "").toBe("");
    await client.query("BEGIN");
    await client.query("SELECT set_config('app.current_tenant', $1, true)", [ten]);
    await createTasks(client, [{ tenantId: ten, task: task(1) }]);
    expect((await client.query("SELECT current_setting('app.current_tenant', true) AS t")).rows[0].t).toBe(ten);
    await client.query("COMMIT");
  } finally {
    client.release();
  }
});

test("a task waiting for its skill is created without a reservation, and gets its skill, reservation and task_created audit row in place", async () => {
  const ten = (await createTenant(owner, "waiting", 5)).tenantId;
  const waiting = task(0, { type: "", inputs: {}, status: "input-required", inputRequest: { message: "which skill?" } });
  const [asked] = await createTasks(app, [{ tenantId: ten, task: waiting }]);
  expect(asked).toMatchObject({ kind: "created", task: { id: waiting.id, status: "input-required", creditsReservedMilli: 0n, inputRequest: { message: "which skill?" } } });
  expect(await tenantBalance(owner, ten)).toBe(5);
  const [named] = await createTasks(app, [{ tenantId: ten, task: task(2, { id: waiting.id, continues: true }) }]);
  expect(named).toMatchObject({ kind: "created", task: { id: waiting.id, status: "submitted", type: "noop", creditsReservedMilli: 2000n, inputRequest: null } });
  expect(await tenantBalance(owner, ten)).toBe(3);
  const audited = (await owner.query("SELECT event_type, credits_milli::int AS credits FROM audit_logs WHERE task_id = $1 ORDER BY seq", [waiting.id])).rows;
  expect(audited).toEqual([{ event_type: "task_awaiting_input", credits: 0 }, { event_type: "task_created", credits: 2000 }]);
  expect(await verifyAuditChain(owner, ten)).toMatchObject({ ok: true });
  // A task no longer waiting is not given another skill: nothing is written.
  await expect(createTasks(app, [{ tenantId: ten, task: task(1, { id: waiting.id, continues: true }) }])).rejects.toBeInstanceOf(IdempotencyRace);
  expect(await tenantBalance(owner, ten)).toBe(3);
});
