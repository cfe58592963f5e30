#!/usr/bin/env node
/**
 * The chaos suite (issue 10), `npm run test:chaos`: the faults an operator meets in production, on
 * a deployment of its own. It starts a PostgreSQL cluster and a Redis on free ports, runs the
 * gateway and two workers as separate processes (NODE_ENV=production, secrets of their own, the
 * test-agent plugin for tasks whose length it controls), and checks, with figures:
 *
 *   1. worker kill -9 mid-run (1,000 tasks): none lost, none charged twice, the audit chain
 *      verifies; the time from the kill until the killed worker's tasks are done elsewhere;
 *   2. Redis down for 12 s under load: creates still answer (202, or 503), every accepted task
 *      completes once Redis is back, every process survives;
 *   3. Postgres crashed (pg_ctl stop -m immediate) for 12 s under load: refusals are 503, every
 *      process survives, /ready comes back, every accepted task completes, credits stay exact;
 *   4. 1,000 fuzzed bodies on both faces (REST, A2A JSON-RPC and HTTP+JSON): no 5xx;
 *   5. the credit race: 200 concurrent creates against credits for 50: exactly 50 accepted.
 *
 * Exits non-zero when a check fails; prints the figures and appends them to bench/RESULTS.md
 * (--no-results to skip; --seed=N for another set of fuzzed bodies). Needs `npm run build` first
 * (the npm script does it).
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { PgCluster, RedisServer, Service, ROOT, TEST_AGENT, cli, freePort, log, sleep, until } from "./lib/infra.mjs";
import { fuzzRequest, rng } from "./lib/fuzz.mjs";
import { appendSection } from "../bench/lib/results.mjs";

const require = createRequire(path.join(ROOT, "package.json"));
const { Client } = require("pg");

const A = "test-agent";
const KILL_TASKS = 1000;
const OUTAGE_MS = 12_000;
const FUZZ_BODIES = 1000;
const WRITE_RESULTS = !process.argv.includes("--no-results");
const FUZZ_SEED = Number(process.argv.find((a) => a.startsWith("--seed="))?.slice(7) ?? 0xd5a1);

const checks = [];
const figures = [];
function check(ok, what, detail = "") {
  checks.push({ ok: !!ok, what, detail });
  log(`${ok ? "ok  " : "FAIL"} ${what}${detail ? ` (${detail})` : ""}`);
}
function figure(scenario, name, value) {
  figures.push({ scenario, name, value });
}

const workDir = mkdtempSync(path.join(os.tmpdir(), "dealscale-chaos-"));
const pg = new PgCluster(workDir, await freePort());
const redis = new RedisServer(workDir, await freePort());
const services = [];

async function main() {
  const started = Date.now();
  log(`work directory ${workDir}`);
  await pg.init();
  await redis.start();
  log(`PostgreSQL on ${pg.port}, Redis on ${redis.port}`);

  const env = {
    NODE_ENV: "production",
    A2A_JWT_SECRET: randomBytes(32).toString("hex"),
    APP_DB_PASSWORD: randomBytes(16).toString("hex"),
    DATABASE_URL: pg.url("dealscale"),
    REDIS_URL: redis.url(),
    HOST: "127.0.0.1",
    SEED_DEMO: "false",
    AGENT_PLUGINS: TEST_AGENT,
    LOG_LEVEL: "warn",
    WORKER_LOCK_MS: "3000",
    RECONCILE_INTERVAL_MS: "1000",
    JOB_BACKOFF_MS: "200",
  };
  const gateway = new Service("gateway", { ...env, DEALSCALE_ROLES: "gateway", PORT: String(await freePort()) }, workDir);
  await gateway.start(); // migrates the new database
  const workers = [];
  for (let i = 1; i <= 2; i++) {
    const w = new Service(`worker-${i}`, { ...env, DEALSCALE_ROLES: "worker", PORT: String(await freePort()) }, workDir);
    await w.start();
    workers.push(w);
  }
  services.push(gateway, ...workers);
  log(`gateway ${gateway.url} (pid ${gateway.pid}), workers pids ${workers.map((w) => w.pid).join(", ")}`);

  const tenant = (credits) => {
    const tenantId = cli(env, ["tenant:create", "--name", `chaos-${randomBytes(3).toString("hex")}`, "--credits", String(credits)]).tenantId;
    const token = cli(env, ["token", "--tenant", tenantId, "--agent", "chaos", "--ttl", "3600"]);
    return { tenantId, token };
  };
  const db = (sql, params) => query(pg.url("dealscale"), sql, params);

  // -- 1. a worker killed with SIGKILL mid-run --------------------------------------------------
  {
    const S = "worker kill -9";
    const { tenantId, token } = tenant(5000);
    const t0 = Date.now();
    const created = await createMany(gateway.url, token, KILL_TASKS, () => ({ type: "slow", inputs: { ms: 400, steps: 4 } }), 32);
    const ids = created.filter((c) => c.status === 202).map((c) => c.taskId);
    check(ids.length === KILL_TASKS, `${S}: all ${KILL_TASKS} creates accepted`, `${ids.length} × 202`);
    await until("30 % of the tasks to complete", async () => (await countStatus(db, tenantId)).completed >= KILL_TASKS * 0.3, 60_000, 50);
    const victim = workers[0];
    const inFlight = (await db("SELECT count(*)::int AS n FROM tasks WHERE tenant_id = $1 AND status = 'working'", [tenantId])).rows[0].n;
    const killedAt = Date.now();
    const victimPid = victim.pid;
    await victim.kill("SIGKILL");
    log(`${S}: killed ${victim.name} (pid ${victimPid}) with ${inFlight} tasks working`);
    await sleep(1000);
    await victim.start();
    log(`${S}: ${victim.name} restarted as pid ${victim.pid}`);
    await until("every task to finish", async () => {
      assertAllAlive();
      const c = await countStatus(db, tenantId);
      return c.submitted + c.working === 0;
    }, 180_000, 200);
    const counts = await countStatus(db, tenantId);
    check(counts.completed === KILL_TASKS, `${S}: 0 tasks lost, every task completed`, JSON.stringify(counts));
    const ledger = await ledgerFacts(db, tenantId);
    check(ledger.chargedTwice === 0 && ledger.charges === KILL_TASKS && ledger.reserves === KILL_TASKS, `${S}: 0 double charges (one reserve and one charge per task)`, JSON.stringify(ledger));
    const balance = cli(env, ["credits:balance", "--tenant", tenantId]).balance;
    check(balance === 5000 - KILL_TASKS, `${S}: the balance is exact`, `${balance} credits left of 5000`);
    const audit = auditVerify(env, tenantId);
    check(audit.ok, `${S}: the audit chain verifies`, `${audit.rows} rows`);
    const rerun = (await db(
      `SELECT count(*)::int AS n, max(extract(epoch FROM completed_at) * 1000)::bigint AS last
       FROM tasks WHERE tenant_id = $1 AND attempts > 1`, [tenantId])).rows[0];
    const recoveryMs = rerun.n ? Number(rerun.last) - killedAt : 0;
    check(rerun.n > 0, `${S}: the killed worker's tasks ran again elsewhere`, `${rerun.n} tasks ran twice`);
    figure(S, "tasks (slow, 400 ms each, 2 workers)", KILL_TASKS);
    figure(S, "tasks working on the killed worker", inFlight);
    figure(S, "tasks run again", rerun.n);
    figure(S, "recovery: kill → last re-run task completed", `${(recoveryMs / 1000).toFixed(1)} s (lock ${env.WORKER_LOCK_MS} ms)`);
    figure(S, "whole run", `${((Date.now() - t0) / 1000).toFixed(1)} s`);
    figure(S, "lost / double charges / audit", `${KILL_TASKS - counts.completed} / ${ledger.chargedTwice} / ${audit.ok ? "verifies" : "BROKEN"}`);
  }

  // -- 2. Redis down under load ---------------------------------------------------------------
  {
    const S = "Redis outage";
    const { tenantId, token } = tenant(5000);
    const run = await loadThrough(gateway.url, token, {
      stop: () => redis.stop(),
      start: () => redis.start(),
    });
    await outageChecks(S, run, db, tenantId, gateway, env);
  }

  // -- 3. Postgres crashed under load ---------------------------------------------------------
  {
    const S = "Postgres outage";
    const { tenantId, token } = tenant(5000);
    let readyAgainMs;
    const run = await loadThrough(gateway.url, token, {
      stop: () => pg.stop("immediate"),
      start: async () => {
        const restart = Date.now();
        await pg.start();
        await until("the gateway's /ready", async () => (await fetch(`${gateway.url}/ready`, { signal: AbortSignal.timeout(2000) })).status === 200, 60_000, 100);
        readyAgainMs = Date.now() - restart;
      },
      during: async () => {
        const ready = await fetch(`${gateway.url}/ready`, { signal: AbortSignal.timeout(3000) }).then((r) => r.status, () => 0);
        const health = await fetch(`${gateway.url}/health`, { signal: AbortSignal.timeout(3000) }).then((r) => r.status, () => 0);
        return { ready, health };
      },
    });
    check(run.during?.ready === 503 && run.during?.health === 200, `${S}: while it is down, /ready says 503 and /health 200`, JSON.stringify(run.during));
    figure(S, "pg_ctl start → the gateway's /ready answers 200", `${(readyAgainMs / 1000).toFixed(1)} s`);
    await outageChecks(S, run, db, tenantId, gateway, env);
  }

  // -- 4. fuzzed bodies on both faces ---------------------------------------------------------
  {
    const S = "fuzz";
    const { token } = tenant(100_000);
    const r = rng(FUZZ_SEED);
    const byStatus = new Map();
    const fives = [];
    const requests = Array.from({ length: FUZZ_BODIES }, () => fuzzRequest(r, token, [A, "data-engineer", "audience-architect", "campaign-orchestrator", "workflow-automation"]));
    const faces = { rest: 0, jsonrpc: 0, "a2a-rest": 0 };
    await pool(requests, 16, async (q) => {
      faces[q.face]++;
      let status;
      let text = "";
      try {
        const res = await fetch(gateway.url + q.path, { method: q.method, headers: q.headers, body: q.body, signal: AbortSignal.timeout(15_000) });
        status = res.status;
        text = (await res.text()).slice(0, 300);
        // JSON-RPC answers an internal error with HTTP 200 and code -32603: a 5xx in disguise.
        if (/"code":\s*-32603\b/.test(text)) status = "200 with -32603";
      } catch (e) {
        status = `error: ${e.cause?.code ?? e.name}`;
      }
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
      if (typeof status !== "number" || status >= 500) fives.push({ status, face: q.face, method: q.method, path: q.path, note: q.note, body: String(q.body ?? "").slice(0, 300), text });
    });
    assertAllAlive();
    check(fives.length === 0, `${S}: ${FUZZ_BODIES} fuzzed requests, 0 answered 5xx (or JSON-RPC -32603) or dropped`, fives.length ? JSON.stringify(fives.slice(0, 3)) : "");
    const table = [...byStatus].sort((a, b) => String(a[0]).localeCompare(String(b[0]))).map(([s, n]) => `${s}: ${n}`).join(", ");
    figure(S, "seed", FUZZ_SEED);
    figure(S, "requests by face", `REST ${faces.rest}, JSON-RPC ${faces.jsonrpc}, HTTP+JSON ${faces["a2a-rest"]}`);
    figure(S, "answers by status", table);
    figure(S, "5xx or internal errors", fives.length);
  }

  // -- 5. the credit race ------------------------------------------------------------------------
  {
    const S = "credit race";
    const { tenantId, token } = tenant(50);
    const answers = await createMany(gateway.url, token, 200, () => ({ type: "noop", inputs: {} }), 200);
    const accepted = answers.filter((a) => a.status === 202).length;
    const refused = answers.filter((a) => a.status === 402).length;
    check(accepted === 50 && refused === 150, `${S}: 200 concurrent creates against 50 credits: exactly 50 accepted, 150 refused with 402`, `${accepted} × 202, ${refused} × 402`);
    await until("the accepted tasks to finish", async () => {
      const c = await countStatus(db, tenantId);
      return c.submitted + c.working === 0;
    }, 60_000, 200);
    const balance = cli(env, ["credits:balance", "--tenant", tenantId]).balance;
    const low = (await db("SELECT min(credits_balance_milli)::bigint AS b FROM tenants WHERE id = $1", [tenantId])).rows[0].b;
    check(balance === 0 && Number(low) === 0, `${S}: the balance ends at exactly 0, never below`, `${balance}`);
    figure(S, "accepted / refused (402)", `${accepted} / ${refused}`);
  }

  assertAllAlive();
  check(true, "every process the suite did not kill is still running", services.map((s) => `${s.name} ${s.pid}`).join(", "));
  figure("suite", "duration", `${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** Creates `count` tasks with `concurrency` clients; [{status, taskId}]. */
async function createMany(url, token, count, body, concurrency) {
  const out = [];
  await pool(Array.from({ length: count }, (_, i) => i), concurrency, async () => {
    out.push(await createTask(url, token, body()));
  });
  return out;
}

async function createTask(url, token, body) {
  try {
    const res = await fetch(`${url}/agents/${A}/tasks`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const json = await res.json().catch(() => ({}));
    return { status: res.status, taskId: json.taskId, code: json.error?.code };
  } catch (e) {
    return { status: 0, error: e.cause?.code ?? e.name };
  }
}

/**
 * Creates a task every 40 ms for 3 s, through an outage of OUTAGE_MS, and 3 s after: each answer
 * with its time. `during()` is sampled halfway through the outage.
 */
async function loadThrough(url, token, outage) {
  const results = [];
  const inflight = new Set();
  const t0 = Date.now();
  let stoppedAt;
  let startedAt;
  let during;
  let done = false;
  const loader = (async () => {
    while (!done) {
      const sentAt = Date.now();
      const p = createTask(url, token, { type: "noop", inputs: {} }).then((r) => results.push({ ...r, sentAt }));
      inflight.add(p);
      p.finally(() => inflight.delete(p));
      assertAllAlive();
      await sleep(40);
    }
  })();
  await sleep(3000);
  stoppedAt = Date.now();
  await outage.stop();
  log(`outage: stopped at +${((stoppedAt - t0) / 1000).toFixed(1)} s`);
  await sleep(OUTAGE_MS / 2);
  if (outage.during) during = await outage.during();
  await sleep(OUTAGE_MS / 2);
  const restartAt = Date.now();
  await outage.start();
  startedAt = Date.now();
  log(`outage: started again at +${((startedAt - t0) / 1000).toFixed(1)} s (down ${((restartAt - stoppedAt) / 1000).toFixed(1)} s)`);
  await sleep(3000);
  done = true;
  await loader;
  await Promise.all(inflight);
  return { results, stoppedAt, restartAt, startedAt, during };
}

async function outageChecks(S, run, db, tenantId, gateway, env) {
  const { results, stoppedAt, restartAt } = run;
  const inOutage = results.filter((r) => r.sentAt >= stoppedAt && r.sentAt < restartAt);
  const accepted = results.filter((r) => r.status === 202);
  const unavailable = results.filter((r) => r.status === 503);
  const other = results.filter((r) => r.status !== 202 && r.status !== 503);
  check(other.length === 0, `${S}: every create answered 202 or 503`, other.length ? JSON.stringify(other.slice(0, 3)) : `${accepted.length} × 202, ${unavailable.length} × 503`);
  assertAllAlive();
  check(true, `${S}: gateway and workers survived it`, services.map((s) => s.pid).join(", "));
  const ids = accepted.map((r) => r.taskId);
  await until("every accepted task to complete", async () => {
    assertAllAlive();
    const { rows } = await db("SELECT count(*)::int AS n FROM tasks WHERE id = ANY($1) AND status = 'completed'", [ids]);
    return rows[0].n === ids.length;
  }, 120_000, 250);
  // How long after the dependency was back the tasks accepted while it was away were done.
  const heldIds = inOutage.filter((r) => r.status === 202).map((r) => r.taskId);
  const held = (await db("SELECT max(completed_at) AS last FROM tasks WHERE id = ANY($1)", [heldIds])).rows[0].last;
  const firstAfter = results.filter((r) => r.status === 202 && r.sentAt >= restartAt).sort((a, b) => a.sentAt - b.sentAt)[0];
  const counts = await countStatus(db, tenantId);
  check(counts.completed === ids.length && counts.submitted + counts.working === 0, `${S}: 0 accepted tasks lost; none left behind in the database`, JSON.stringify(counts));
  const ledger = await ledgerFacts(db, tenantId);
  const balance = cli(env, ["credits:balance", "--tenant", tenantId]).balance;
  check(ledger.chargedTwice === 0 && balance === 5000 - ledger.charges, `${S}: credits exact, 0 double charges`, `${balance} left, ${ledger.charges} charged`);
  const audit = auditVerify(env, tenantId);
  check(audit.ok, `${S}: the audit chain verifies`, `${audit.rows} rows`);
  figure(S, "outage", `${((restartAt - stoppedAt) / 1000).toFixed(1)} s`);
  figure(S, "creates during the outage: 202 / 503", `${inOutage.filter((r) => r.status === 202).length} / ${inOutage.filter((r) => r.status === 503).length}`);
  figure(S, "creates in all: 202 / 503 / other", `${accepted.length} / ${unavailable.length} / ${other.length}`);
  figure(S, "back → the last task accepted during the outage completed", held ? `${((new Date(held).getTime() - run.startedAt) / 1000).toFixed(1)} s (${heldIds.length} tasks)` : "none accepted during the outage");
  figure(S, "restart → first create accepted again", firstAfter ? `${((firstAfter.sentAt - restartAt) / 1000).toFixed(1)} s` : "none");
  figure(S, "lost / double charges / processes exited", `0 / ${ledger.chargedTwice} / 0`);
  void gateway;
}

function assertAllAlive() {
  for (const s of services) s.assertAlive();
}

async function countStatus(db, tenantId) {
  const { rows } = await db("SELECT status, count(*)::int AS n FROM tasks WHERE tenant_id = $1 GROUP BY status", [tenantId]);
  const out = { submitted: 0, working: 0, completed: 0, failed: 0, cancelled: 0, timeout: 0 };
  for (const r of rows) out[r.status] = r.n;
  return out;
}

async function ledgerFacts(db, tenantId) {
  const { rows } = await db(
    `SELECT
       (SELECT count(*)::int FROM credit_ledger WHERE tenant_id = $1 AND kind = 'reserve') AS reserves,
       (SELECT coalesce(sum(amount_milli), 0)::bigint / 1000 FROM credit_ledger WHERE tenant_id = $1 AND kind = 'charge') AS charges,
       (SELECT count(*)::int FROM (SELECT task_id FROM credit_ledger WHERE tenant_id = $1 AND kind = 'charge' GROUP BY task_id HAVING count(*) > 1) d) AS "chargedTwice"`,
    [tenantId],
  );
  return { reserves: rows[0].reserves, charges: Number(rows[0].charges), chargedTwice: rows[0].chargedTwice };
}

function auditVerify(env, tenantId) {
  try {
    return cli(env, ["audit:verify", "--tenant", tenantId]);
  } catch (e) {
    return { ok: false, rows: 0, error: String(e.stdout ?? e.message).slice(0, 300) };
  }
}

/** A fresh connection per query: the suite's own reads must survive the outages too. */
async function query(url, sql, params) {
  const c = new Client({ connectionString: url });
  c.on("error", () => undefined);
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end().catch(() => undefined);
  }
}

async function pool(items, concurrency, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

async function shutdown() {
  for (const s of services) await s.kill("SIGTERM").catch(() => undefined);
  await redis.stop().catch(() => undefined);
  await pg.stop("immediate").catch(() => undefined);
}

let failed = false;
try {
  await main();
} catch (e) {
  failed = true;
  console.error(`chaos: ${e.stack ?? e}`);
  for (const s of services) console.error(`--- ${s.name} (${s.logFile}) ---\n${s.logTail(15)}`);
  console.error(`--- postgres ---\n${pg.logTail(10)}`);
} finally {
  await shutdown();
}

const bad = checks.filter((c) => !c.ok);
console.log("\nfigures:");
for (const f of figures) console.log(`  ${f.scenario.padEnd(16)} ${f.name}: ${f.value}`);
console.log(`\n${checks.length - bad.length} of ${checks.length} checks passed${failed ? "; the suite stopped on an error" : ""}`);
if (WRITE_RESULTS && !failed) {
  const rows = ["| scenario | figure | value |", "|---|---|---|", ...figures.map((f) => `| ${f.scenario} | ${f.name} | ${f.value} |`)];
  const where = appendSection("chaos suite (issue 10), `npm run test:chaos`", [
    `${checks.length - bad.length} of ${checks.length} checks passed. Own PostgreSQL cluster and Redis, gateway and two workers as separate processes (NODE_ENV=production).`,
    "",
    ...rows,
  ]);
  console.log(`figures appended to ${path.relative(process.cwd(), where)}`);
}
if (bad.length || failed) {
  console.log(`work directory kept for the logs: ${workDir}`);
  process.exit(1);
}
rmSync(workDir, { recursive: true, force: true });
