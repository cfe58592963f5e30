import { testEnv, testDatabaseUrl, createMigratedDatabase, dropDatabase } from "./support/harness";
import { createAppPool, createOwnerPool } from "../src/store/database";
import { TenantBatcher, type BulkOp } from "../src/store/tenant-batcher";
import { createTenant } from "../src/tasks/tenants";
import type { Config } from "../src/config/config";
import type { Pool } from "pg";
import type { TenantTx } from "../src/store/tenant-tx";

let config: Config;
let app: Pool;
let owner: Pool;
let tenant: string;

beforeAll(async () => {
  config = await createMigratedDatabase(testEnv(testDatabaseUrl()));
  app = createAppPool(config, 4);
  owner = createOwnerPool(config);
  tenant = (await createTenant(owner, "batcher", 0)).tenantId;
});
afterAll(async () => {
  await app?.end();
  await owner?.end();
  if (config) await dropDatabase(config.databaseUrl);
});

/** A bulk op that inserts one lead per item, and throws for the item named "boom". */
function insertLead(calls: number[]): Pick<BulkOp<string, string>, "kind" | "runMany"> {
  return {
    kind: "lead",
    async runMany(tx: TenantTx, emails: string[]) {
      calls.push(emails.length);
      if (emails.includes("boom")) throw new Error("boom");
      const rows = await tx.query<{ email: string; id: string }>(
        "INSERT INTO leads (tenant_id, email) SELECT $1, e FROM unnest($2::text[]) AS e RETURNING email, id",
        [tx.tenantId, emails],
      );
      return emails.map((e) => rows.find((r) => r.email === e)!.id);
    },
  };
}

const leads = async () => (await owner.query("SELECT email FROM leads WHERE tenant_id = $1 ORDER BY email", [tenant])).rows.map((r) => r.email);

test("operations queued behind a tenant's transaction run together, as one statement, in one commit", async () => {
  const batcher = new TenantBatcher(app);
  const calls: number[] = [];
  const op = insertLead(calls);
  const emails = Array.from({ length: 20 }, (_, i) => `a${String(i).padStart(2, "0")}@x.test`);
  const ids = await Promise.all(emails.map((e) => batcher.run(tenant, { ...op, item: e })));
  expect(new Set(ids).size).toBe(20);
  expect(calls[0]).toBe(1); // the first runs at once
  expect(calls.length).toBeLessThan(20); // the rest waited and went together
  expect(calls.reduce((a, b) => a + b, 0)).toBe(20);
  expect(await leads()).toEqual(emails);
});

test("one failing operation rolls its batch back and fails alone; the others commit", async () => {
  await owner.query("DELETE FROM leads WHERE tenant_id = $1", [tenant]);
  const batcher = new TenantBatcher(app);
  const calls: number[] = [];
  const op = insertLead(calls);
  const results = await Promise.allSettled(["b1", "b2", "boom", "b3", "b4"].map((e) => batcher.run(tenant, { ...op, item: e })));
  expect(results.map((r) => r.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
  expect((results[2] as PromiseRejectedResult).reason.message).toBe("boom");
  expect(await leads()).toEqual(["b1", "b2", "b3", "b4"]);
  // b1 alone, then [b2, boom, b3, b4] together (rolled back), then each of those alone.
  expect(calls).toEqual([1, 4, 1, 1, 1, 1]);
});

test("interleaved kinds in one batch still run as one statement per kind", async () => {
  const batcher = new TenantBatcher(app);
  const a: number[] = [];
  const b: number[] = [];
  const opA = { ...insertLead(a), kind: "a" };
  const opB = { ...insertLead(b), kind: "b" };
  const first = batcher.run(tenant, { ...opA, item: "m0@x.test" });
  const rest = ["m1", "m2", "m3", "m4", "m5", "m6"].map((e, i) => batcher.run(tenant, { ...(i % 2 ? opB : opA), item: `${e}@x.test` }));
  const ids = await Promise.all([first, ...rest]);
  expect(new Set(ids).size).toBe(7);
  expect(a).toEqual([1, 3]);
  expect(b).toEqual([3]);
});

test("different tenants do not wait for each other", async () => {
  const other = (await createTenant(owner, "other", 0)).tenantId;
  const batcher = new TenantBatcher(app);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const slow: Pick<BulkOp<string, string>, "kind" | "runMany"> = {
    kind: "slow",
    async runMany(_tx, items) {
      await gate;
      return items;
    },
  };
  const blocked = batcher.run(tenant, { ...slow, item: "t1" });
  const free = await batcher.run(other, { ...insertLead([]), item: "o1@x.test" });
  expect(free).toEqual(expect.any(String));
  release();
  expect(await blocked).toBe("t1");
});

test("lockTenant: the first round trip locks the tenant row and hands its balance over; an unknown tenant gives null", async () => {
  const { withTenant } = await import("../src/store/tenant-tx");
  const { randomUUID } = await import("node:crypto");
  await withTenant(app, tenant, async (tx) => {
    expect(tx.lockedBalance).toBe("0");
    // Held until this transaction ends: another one cannot take the row.
    const other = await owner.connect();
    try {
      await other.query("BEGIN");
      await expect(other.query("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE NOWAIT", [tenant])).rejects.toThrow(/could not obtain lock/);
    } finally {
      await other.query("ROLLBACK");
      other.release();
    }
  }, { lockTenant: true });
  await withTenant(app, randomUUID(), async (tx) => expect(tx.lockedBalance).toBeNull(), { lockTenant: true });
  await withTenant(app, tenant, async (tx) => expect(tx.lockedBalance).toBeUndefined());
});

test("a batch with an op that asks for lockTenant runs with the row locked; one without does not", async () => {
  const seen: (string | null | undefined)[] = [];
  const batcher = new TenantBatcher(app);
  const peek = (lockTenant: boolean): BulkOp<number, number> => ({ kind: `peek-${lockTenant}`, item: 1, lockTenant, runMany: async (tx, items) => (seen.push(tx.lockedBalance), items) });
  await batcher.run(tenant, peek(true));
  await batcher.run(tenant, peek(false));
  expect(seen).toEqual(["0", undefined]);
});
