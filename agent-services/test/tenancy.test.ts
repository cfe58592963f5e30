import { startTestStack, readSse, type TestStack } from "./support/harness";
import { withTenant } from "../src/store/tenant-tx";

let t: TestStack;
let tenantA: string;
let tenantB: string;
let taskB: string;
const A = "test-agent";

const TENANT_TABLES = [
  "tenants", "tasks", "task_events", "credit_ledger", "audit_logs", "leads", "campaigns",
  "campaign_members", "webhook_subscriptions", "task_push_configs", "webhook_deliveries",
];

beforeAll(async () => {
  t = await startTestStack();
  tenantA = await t.tenant(100);
  tenantB = await t.tenant(100);
  const tokB = t.token(tenantB);
  taskB = (await t.request("POST", `/agents/${A}/tasks`, { token: tokB, body: { type: "slow", inputs: { ms: 30_000, steps: 30 } } })).body.taskId;
  await t.waitForStatus(tokB, A, taskB, ["working"]);
  // Give B a row in every tenant table, so "0 rows" below means the policy, not an empty table.
  await withTenant(t.owner, tenantB, async (tx) => {
    const lead = await tx.one<{ id: string }>("INSERT INTO leads (tenant_id, email) VALUES ($1, 'b@example.com') RETURNING id", [tenantB]);
    const camp = await tx.one<{ id: string }>("INSERT INTO campaigns (tenant_id, name, status, channels) VALUES ($1, 'b', 'draft', '{email}') RETURNING id", [tenantB]);
    await tx.query("INSERT INTO campaign_members (tenant_id, campaign_id, lead_id, channel) VALUES ($1, $2, $3, 'email')", [tenantB, camp!.id, lead!.id]);
    await tx.query("INSERT INTO webhook_subscriptions (tenant_id, url, events, secret) VALUES ($1, 'https://b.example/h', '{completed}', 's')", [tenantB]);
    await tx.query("INSERT INTO task_push_configs (tenant_id, task_id, url) VALUES ($1, $2, 'https://b.example/p')", [tenantB, taskB]);
    await tx.query("INSERT INTO webhook_deliveries (tenant_id, url, attempt) VALUES ($1, 'https://b.example/h', 1)", [tenantB]);
  });
});
afterAll(async () => t?.close());

test("tenant A cannot read, list, stream or cancel tenant B's task", async () => {
  const tokA = t.token(tenantA);
  expect((await t.request("GET", `/agents/${A}/tasks/${taskB}`, { token: tokA })).status).toBe(404);
  const list = await t.request("GET", `/agents/${A}/tasks`, { token: tokA });
  expect(list.status).toBe(200);
  expect(list.body.tasks).toEqual([]);
  const stream = await fetch(`${t.url}/agents/${A}/tasks/${taskB}/stream`, { headers: { authorization: `Bearer ${tokA}` } });
  expect(stream.status).toBe(404);
  await stream.text();
  expect((await t.request("POST", `/agents/${A}/tasks/${taskB}/cancel`, { token: tokA })).status).toBe(404);
  // B's task is untouched and B still sees it.
  const tokB = t.token(tenantB);
  expect((await t.request("GET", `/agents/${A}/tasks/${taskB}`, { token: tokB })).body.status).toBe("working");
  const events = await readSse(await fetch(`${t.url}/agents/${A}/tasks/${taskB}/stream`, { headers: { authorization: `Bearer ${tokB}` } }), (ev) => ev.length > 0);
  expect(events[0].event).toBe("state");
});

test("the app role sees none of B's rows with no tenant set, whatever the query", async () => {
  const c = await t.app.connect();
  try {
    const role = await c.query("SELECT current_user AS u, rolbypassrls, rolsuper FROM pg_roles WHERE rolname = current_user");
    expect(role.rows[0]).toMatchObject({ u: t.config.appDbRole, rolbypassrls: false, rolsuper: false });
    for (const table of TENANT_TABLES) {
      const r = await c.query(`SELECT count(*)::int AS n FROM ${table}`);
      expect({ table, n: r.rows[0].n }).toEqual({ table, n: 0 });
    }
    // Even naming B explicitly, or trying to widen the scope, finds nothing.
    expect((await c.query("SELECT * FROM tasks WHERE tenant_id = $1", [tenantB])).rowCount).toBe(0);
    expect((await c.query("SELECT * FROM tasks WHERE true OR tenant_id IS NULL")).rowCount).toBe(0);
  } finally {
    c.release();
  }
});

test("the app role with tenant A set sees only A's rows and cannot write into B", async () => {
  await withTenant(t.app, tenantA, async (tx) => {
    for (const table of TENANT_TABLES) {
      const col = table === "tenants" ? "id" : "tenant_id";
      const rows = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${col} = $1`, [tenantB]);
      expect({ table, n: rows[0].n }).toEqual({ table, n: 0 });
    }
    const updated = await tx.query("UPDATE tasks SET status = 'cancelled' WHERE id = $1 RETURNING id", [taskB]);
    expect(updated).toHaveLength(0);
    const credits = await tx.query("UPDATE tenants SET credits_balance_milli = 0 WHERE id = $1 RETURNING id", [tenantB]);
    expect(credits).toHaveLength(0);
  });
  await expect(
    withTenant(t.app, tenantA, (tx) => tx.query("INSERT INTO leads (tenant_id, email) VALUES ($1, 'x@example.com')", [tenantB])),
  ).rejects.toThrow(/row-level security/);
});

test("a tenant set inside one transaction does not leak to the next user of the pooled connection", async () => {
  const one = await t.app.connect();
  try {
    await one.query("BEGIN");
    await one.query("SELECT set_config('app.current_tenant', $1, true)", [tenantB]);
    expect((await one.query("SELECT count(*)::int AS n FROM tasks")).rows[0].n).toBeGreaterThan(0);
    await one.query("COMMIT");
    expect((await one.query("SELECT count(*)::int AS n FROM tasks")).rows[0].n).toBe(0);
  } finally {
    one.release();
  }
});

test("every tenant table has row-level security enabled and forced", async () => {
  const r = await t.owner.query(
    "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class WHERE relname = ANY($1) AND relkind = 'r' ORDER BY relname",
    [TENANT_TABLES],
  );
  expect(r.rows).toHaveLength(TENANT_TABLES.length);
  for (const row of r.rows) expect(row).toMatchObject({ relrowsecurity: true, relforcerowsecurity: true });
  // And every table a later migration adds with a tenant_id column (task_results, lookalike_models, ...).
  const withTenant = await t.owner.query(
    `SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c
     JOIN information_schema.columns i ON i.table_schema = 'public' AND i.table_name = c.relname AND i.column_name = 'tenant_id'
     WHERE c.relkind = 'r' ORDER BY c.relname`,
  );
  expect(withTenant.rows.map((x) => x.relname)).toEqual(expect.arrayContaining(["lookalike_models", "task_results"]));
  for (const row of withTenant.rows) expect(row).toMatchObject({ relrowsecurity: true, relforcerowsecurity: true });
});
