import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { startTestStack, type TestStack } from "./support/harness";
import { withTenant } from "../src/store/tenant-tx";
import { verifyAuditChain } from "../src/tasks/audit";

const run = promisify(execFile);
const CLI = path.resolve(__dirname, "../dist/cli/main.js");
let t: TestStack;
let tenant: string;
const A = "test-agent";

beforeAll(async () => {
  t = await startTestStack();
  tenant = await t.tenant(100);
  const token = t.token(tenant);
  for (let i = 0; i < 3; i++) {
    const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "noop", inputs: { n: i } } });
    await t.waitForStatus(token, A, res.body.taskId, ["completed"]);
  }
});
afterAll(async () => t?.close());

test("audit rows carry the design's fields and chain by hash per tenant", async () => {
  const rows = (await t.owner.query("SELECT * FROM audit_logs WHERE tenant_id = $1 ORDER BY seq", [tenant])).rows;
  expect(rows.map((r) => r.event_type)).toEqual(["tenant_created", "task_created", "task_completed", "task_created", "task_completed", "task_created", "task_completed"]);
  const created = rows[1];
  expect(created).toMatchObject({ calling_agent: "test-caller", target_agent: A, credits_milli: "1000" });
  expect(created.input_hash).toMatch(/^[0-9a-f]{64}$/);
  expect(rows[2].output_hash).toMatch(/^[0-9a-f]{64}$/);
  expect(rows[2].duration_ms).toEqual(expect.any(Number));
  for (let i = 1; i < rows.length; i++) expect(rows[i].prev_hash).toBe(rows[i - 1].hash);
  expect(await verifyAuditChain(t.owner, tenant)).toEqual({ ok: true, rows: 7 });
});

test("the app role can neither UPDATE nor DELETE audit rows", async () => {
  await expect(withTenant(t.app, tenant, (tx) => tx.query("UPDATE audit_logs SET error = 'x'"))).rejects.toThrow(/permission denied|append-only/);
  await expect(withTenant(t.app, tenant, (tx) => tx.query("DELETE FROM audit_logs"))).rejects.toThrow(/permission denied|append-only/);
  // Even the owner is refused by the trigger.
  await expect(t.owner.query("UPDATE audit_logs SET error = 'x' WHERE tenant_id = $1", [tenant])).rejects.toThrow(/append-only/);
  await expect(t.owner.query("DELETE FROM audit_logs WHERE tenant_id = $1", [tenant])).rejects.toThrow(/append-only/);
  await expect(t.owner.query("TRUNCATE audit_logs")).rejects.toThrow(/append-only/);
});

test("concurrent writers still produce one unbroken chain", async () => {
  const token = t.token(tenant);
  await Promise.all(Array.from({ length: 30 }, (_, i) => t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "noop", inputs: { n: 100 + i } } })));
  const v = await verifyAuditChain(t.owner, tenant);
  expect(v.ok).toBe(true);
  expect(v.rows).toBeGreaterThanOrEqual(37);
});

test("audit:verify exits 0 on an intact chain and non-zero on a tampered row", async () => {
  const env = { ...process.env, DATABASE_URL: t.config.databaseUrl, A2A_JWT_SECRET: t.config.jwtSecret };
  const good = await run("node", [CLI, "audit:verify", "--tenant", tenant], { env });
  expect(JSON.parse(good.stdout)).toMatchObject({ ok: true });

  // Someone with the owner's keys bypasses the trigger and edits history.
  await t.owner.query("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update");
  await t.owner.query("UPDATE audit_logs SET credits_milli = 0 WHERE tenant_id = $1 AND seq = 2", [tenant]);
  await t.owner.query("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_update");

  const bad = await run("node", [CLI, "audit:verify", "--tenant", tenant], { env }).then(
    () => null,
    (e: { code: number; stdout: string }) => e,
  );
  expect(bad).not.toBeNull();
  expect(bad!.code).toBe(1);
  expect(JSON.parse(bad!.stdout)).toMatchObject({ ok: false, firstBadSeq: 2, reason: "row content does not match its hash" });
});

test("a deleted row breaks the chain too", async () => {
  const other = await t.tenant(5);
  await withTenant(t.owner, other, (tx) => tx.query("INSERT INTO audit_logs (tenant_id, seq, event_type, prev_hash, hash) VALUES ($1, 0, 'credits_granted', '', '')", [other]));
  await withTenant(t.owner, other, (tx) => tx.query("INSERT INTO audit_logs (tenant_id, seq, event_type, prev_hash, hash) VALUES ($1, 0, 'credits_granted', '', '')", [other]));
  expect((await verifyAuditChain(t.owner, other)).ok).toBe(true);
  await t.owner.query("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update");
  await t.owner.query("DELETE FROM audit_logs WHERE tenant_id = $1 AND seq = 2", [other]);
  await t.owner.query("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_update");
  expect(await verifyAuditChain(t.owner, other)).toMatchObject({ ok: false, firstBadSeq: 2 });
});

describe("the chain head is anchored outside the chain (issue 10)", () => {
  const asOwnerBypassingTriggers = async (sql: string, params: unknown[]) => {
    await t.owner.query("ALTER TABLE audit_logs DISABLE TRIGGER audit_logs_no_update");
    try {
      await t.owner.query(sql, params);
    } finally {
      await t.owner.query("ALTER TABLE audit_logs ENABLE TRIGGER audit_logs_no_update");
    }
  };
  const grant = (tenantId: string) => withTenant(t.owner, tenantId, (tx) => tx.query("INSERT INTO audit_logs (tenant_id, seq, event_type, prev_hash, hash) VALUES ($1, 0, 'credits_granted', '', '')", [tenantId]));

  test("deleting the newest row, or the two newest, no longer verifies", async () => {
    const other = await t.tenant(5);
    for (let i = 0; i < 3; i++) await grant(other);
    expect(await verifyAuditChain(t.owner, other)).toEqual({ ok: true, rows: 4 });
    const head = await t.owner.query("SELECT seq, hash FROM audit_chain_heads WHERE chain = $1", [other]);
    const last = await t.owner.query("SELECT seq, hash FROM audit_logs WHERE tenant_id = $1 ORDER BY seq DESC LIMIT 1", [other]);
    expect(head.rows[0]).toEqual(last.rows[0]);

    await asOwnerBypassingTriggers("DELETE FROM audit_logs WHERE tenant_id = $1 AND seq = 4", [other]);
    expect(await verifyAuditChain(t.owner, other)).toMatchObject({ ok: false, rows: 3, firstBadSeq: 4, reason: expect.stringMatching(/newest rows were deleted/) });
    await asOwnerBypassingTriggers("DELETE FROM audit_logs WHERE tenant_id = $1 AND seq >= 3", [other]);
    expect(await verifyAuditChain(t.owner, other)).toMatchObject({ ok: false, rows: 2, firstBadSeq: 3 });
  });

  test("deleting a tenant's whole chain is caught too, and the CLI exits 1", async () => {
    const other = await t.tenant(5);
    await asOwnerBypassingTriggers("DELETE FROM audit_logs WHERE tenant_id = $1", [other]);
    expect(await verifyAuditChain(t.owner, other)).toMatchObject({ ok: false, rows: 0, firstBadSeq: 1 });
    const env = { ...process.env, DATABASE_URL: t.config.databaseUrl, A2A_JWT_SECRET: t.config.jwtSecret };
    const bad = await run("node", [CLI, "audit:verify", "--tenant", other], { env }).then(() => null, (e: { code: number; stdout: string }) => e);
    expect(bad?.code).toBe(1);
    expect(JSON.parse(bad!.stdout)).toMatchObject({ ok: false, reason: expect.stringMatching(/anchored head is at seq 1/) });
  });

  test("the head cannot be moved back, deleted or truncated, even by the owner; the app role cannot write it", async () => {
    const other = await t.tenant(5);
    await grant(other);
    await expect(t.owner.query("UPDATE audit_chain_heads SET seq = 1 WHERE chain = $1", [other])).rejects.toThrow(/only moves forward/);
    await expect(t.owner.query("DELETE FROM audit_chain_heads WHERE chain = $1", [other])).rejects.toThrow(/only moves forward/);
    await expect(t.owner.query("TRUNCATE audit_chain_heads")).rejects.toThrow(/only moves forward/);
    await expect(withTenant(t.app, other, (tx) => tx.query("UPDATE audit_chain_heads SET seq = seq + 1"))).rejects.toThrow(/permission denied/);
    // The app role reads its own tenant's head only.
    expect(await withTenant(t.app, other, (tx) => tx.query("SELECT chain FROM audit_chain_heads"))).toEqual([{ chain: other }]);
  });

  test("the anonymous chain of refused requests has its head too", async () => {
    await t.request("GET", "/agents", { token: "not-a-token" });
    const head = await t.owner.query("SELECT seq FROM audit_chain_heads WHERE tenant_id IS NULL");
    const last = await t.owner.query("SELECT max(seq) AS seq FROM audit_logs WHERE tenant_id IS NULL");
    expect(head.rows[0].seq).toBe(last.rows[0].seq);
  });
});
