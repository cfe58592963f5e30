import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { startTestStack, sleep, type TestStack } from "./support/harness";
import { tenantBalance } from "../src/tasks/tenants";

const MAIN = path.resolve(__dirname, "../dist/main.js");
let t: TestStack;
const children: ChildProcess[] = [];
const A = "test-agent";

/** A worker in its own process, as `npm start` would run it with DEALSCALE_ROLES=worker. */
async function startWorker(): Promise<ChildProcess> {
  const child = spawn(process.execPath, [MAIN], {
    env: { ...process.env, ...t.env, DEALSCALE_ROLES: "worker", WORKER_LOCK_MS: "1500", PORT: "0", LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start: ${out}`)), 20_000);
    child.stdout!.on("data", (d) => {
      out += d;
      if (out.includes("running")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.stderr!.on("data", (d) => (out += d));
    child.on("exit", (code) => reject(new Error(`worker exited ${code}: ${out}`)));
  });
  return child;
}

beforeAll(async () => {
  t = await startTestStack({ DEALSCALE_ROLES: "gateway" });
});
afterAll(async () => {
  for (const c of children) c.kill("SIGKILL");
  await t?.close();
});

test("a worker killed with SIGKILL mid-task: the job runs again elsewhere, completes once, is charged once", async () => {
  const tenant = await t.tenant(10);
  const token = t.token(tenant);
  const first = await startWorker();
  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "slow", inputs: { ms: 3000, steps: 6 } } });
  const taskId = res.body.taskId;

  // Wait until the first worker is visibly mid-task (a progress step stored), then kill it hard.
  for (let i = 0; i < 200; i++) {
    const p = await t.owner.query("SELECT count(*)::int AS n FROM task_events WHERE task_id = $1 AND kind = 'progress'", [taskId]);
    if (p.rows[0].n > 0) break;
    await sleep(50);
  }
  const mid = await t.request("GET", `/agents/${A}/tasks/${taskId}`, { token });
  expect(mid.body.status).toBe("working");
  first.kill("SIGKILL");
  await new Promise((r) => first.once("exit", r));

  const second = await startWorker();
  const done = await t.waitForStatus(token, A, taskId, ["completed", "failed", "timeout"], 30_000);
  expect(done.status).toBe("completed");
  expect(done.outputs.pid).toBe(second.pid);

  const row = await t.owner.query("SELECT attempts FROM tasks WHERE id = $1", [taskId]);
  expect(row.rows[0].attempts).toBe(2);
  const ledger = await t.owner.query("SELECT kind, count(*)::int AS n FROM credit_ledger WHERE task_id = $1 GROUP BY kind ORDER BY kind", [taskId]);
  expect(ledger.rows).toEqual([
    { kind: "charge", n: 1 },
    { kind: "reserve", n: 1 },
  ]);
  const audit = await t.owner.query("SELECT event_type FROM audit_logs WHERE task_id = $1 ORDER BY seq", [taskId]);
  expect(audit.rows.map((r) => r.event_type)).toEqual(["task_created", "task_completed"]);
  const completedEvents = await t.owner.query("SELECT count(*)::int AS n FROM task_events WHERE task_id = $1 AND data->>'status' = 'completed'", [taskId]);
  expect(completedEvents.rows[0].n).toBe(1);
  expect(await tenantBalance(t.owner, tenant)).toBe(9);
});

test("Postgres drops every connection of a worker mid-transaction: the process survives and the task still completes (issue 10)", async () => {
  const tenant = await t.tenant(10);
  const token = t.token(tenant);
  const worker = await startWorker();
  let exited: number | null | undefined;
  worker.once("exit", (code) => (exited = code));
  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "holdTx", inputs: { ms: 1500 } } });
  const taskId = res.body.taskId;

  // The handler's transaction is open and idle on a checked-out client: cut it, and every other
  // connection of the app role, as a failover or `pg_ctl stop -m immediate` would.
  const dbName = new URL(t.config.databaseUrl).pathname.slice(1);
  const idleInTx = () => t.owner.query("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND usename = $2 AND state = 'idle in transaction'", [dbName, t.config.appDbRole]);
  for (let i = 0; i < 200 && (await idleInTx()).rowCount === 0; i++) await sleep(25);
  const killed = await t.owner.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND usename = $2", [dbName, t.config.appDbRole]);
  expect(killed.rowCount).toBeGreaterThan(0);

  await sleep(1000);
  expect(exited).toBeUndefined();
  expect(worker.exitCode).toBeNull();
  const done = await t.waitForStatus(token, A, taskId, ["completed", "failed"], 30_000);
  expect(done.status).toBe("completed");
  const next = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "noop", inputs: {} } });
  expect((await t.waitForStatus(token, A, next.body.taskId, ["completed", "failed"])).status).toBe("completed");
  worker.kill("SIGKILL");
});
