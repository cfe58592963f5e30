#!/usr/bin/env node
/**
 * Task-service throughput benchmark. Run from the repo root: `npm run bench` (builds, then runs this).
 *
 * What it measures, in one run, for the test-agent `noop` capability (1 credit, does nothing):
 *   1. end-to-end: the stack as `npm start` runs it (gateway + workers in one child process, its own
 *      database and queue prefix). N durable tasks are created over HTTP by C concurrent keep-alive
 *      clients (after a warm-up); the clock stops when all N are `completed` in Postgres.
 *      -> tasks/s, create latency p50/p99 per HTTP request, peak RSS of the service process.
 *   1a. the same through the A2A face: N A2A SendMessage calls (JSON-RPC binding, raw POSTs to
 *      /agents/test-agent/a2a/jsonrpc over the same HTTP client, bearer token) against a fresh stack
 *      like 1, each phase with its own database, queue prefix and tenant:
 *      - non-blocking (`configuration.returnImmediately: true`): the answer is the submitted task;
 *        -> requests/s, latency p50/p99, and end-to-end tasks/s until all N are `completed` in
 *        Postgres (comparable with 1);
 *      - blocking (the default: the answer is the task in its terminal state): -> requests/s, which
 *        is completed tasks/s as the client sees them, latency p50/p99.
 *      Every answer must be a JSON-RPC result holding a task (non-blocking: submitted, working or
 *      completed; blocking: completed); anything else counts as an error (JSON-RPC errors apart).
 *      Printed and recorded next to the REST figures of 1, with the ratios A2A/REST.
 *   2. where the time goes: create-only (a DEALSCALE_ROLES=gateway child; no worker drains its queue)
 *      -> creates/s; then drain-only (a DEALSCALE_ROLES=worker child started once everything is
 *      queued) -> completions/s. CPU per process group (service, postgres, redis, this client) is
 *      sampled from /proc for each window.
 *   3. the reference: @a2a-js/sdk's in-memory server (DefaultRequestHandler + InMemoryTaskStore over
 *      the SDK's express JSON-RPC handler, an executor that publishes a completed Task at once) in a
 *      child process, under blocking SendMessage from C concurrent clients, once through the SDK's
 *      own client (ClientFactory) and once as raw JSON-RPC POSTs -> requests/s.
 * It prints the figures and appends a dated section to bench/RESULTS.md.
 *
 * Needs Postgres (user postgres, trust auth) and Redis on 127.0.0.1, a build (agent-services/dist)
 * and @a2a-js/sdk in node_modules. Knobs (environment): BENCH_N (5000), BENCH_WARMUP (1000),
 * BENCH_CONCURRENCY (32), WORKER_CONCURRENCY (64, the service default), BENCH_PHASE_TIMEOUT_S (120), BENCH_PG_URL
 * (postgres://postgres@127.0.0.1:5432), REDIS_URL. Each phase stops at its timeout, reports what it
 * got, and the run then exits 1; the whole run is capped at BENCH_TOTAL_TIMEOUT_S (480).
 *   4. many tenants: phase 1 with the creates spread round-robin over BENCH_TENANTS (100) tenants.
 *   5. the scaling curve: BENCH_SCALE_GATEWAYS (2) gateway processes and N worker processes
 *      (BENCH_SCALE_WORKERS, "1,2,4") against one Postgres and one Redis, the clients spread over
 *      the gateways -> end-to-end tasks/s per N.
 * Beside each throughput: the CPU it cost, in CPU-ms per completed task (service processes +
 * Postgres + Redis, from /proc), so a deployment can size itself. The run exits 1 when it is
 * clearly broken: a phase failed or timed out, requests failed, or tasks were lost or failed.
 * Everything it creates (child processes, ds_bench_* databases, its Redis keys) is removed at the end.
 *
 * For profiling: BENCH_PHASES (comma list of e2e, a2a-nonblocking, a2a-blocking, split, reference, tenants, scale)
 * runs only those phases and prints their figures as JSON without touching RESULTS.md;
 * BENCH_CPU_PROF=DIR starts each service child with --cpu-prof, writing DIR/<phase name>.cpuprofile.
 */
import { spawn, execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import { freePort } from "./lib/ports.mjs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// The services and the CLI it starts use the development secret, which only NODE_ENV=development allows.
process.env.NODE_ENV ??= "development";
const SELF = fileURLToPath(import.meta.url);
const MAIN_JS = path.join(ROOT, "agent-services/dist/main.js");
const CLI_JS = path.join(ROOT, "agent-services/dist/cli/main.js");
const TEST_AGENT = path.join(ROOT, "agent-services/test/fixtures/test-agent.js");
const RESULTS_MD = path.join(ROOT, "bench/RESULTS.md");

const envInt = (name, fallback) => {
  const n = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a positive integer`);
  return n;
};
const N = envInt("BENCH_N", 5000);
/** Tenants of the many-tenant phase: its clients' creates go round-robin over this many tenants. */
const MANY_TENANTS = envInt("BENCH_TENANTS", 100);
/** The scaling curve: worker processes per point, and the gateway processes in front of them. */
const SCALE_WORKERS = (process.env.BENCH_SCALE_WORKERS ?? "1,2,4").split(",").map(Number).filter((n) => Number.isInteger(n) && n > 0);
const SCALE_GATEWAYS = envInt("BENCH_SCALE_GATEWAYS", 2);
const WARMUP = envInt("BENCH_WARMUP", 1000);
const CONCURRENCY = envInt("BENCH_CONCURRENCY", 32);
const WORKER_CONCURRENCY = envInt("WORKER_CONCURRENCY", 64);
const PHASE_TIMEOUT_MS = envInt("BENCH_PHASE_TIMEOUT_S", 120) * 1000;
const TOTAL_TIMEOUT_MS = envInt("BENCH_TOTAL_TIMEOUT_S", 480) * 1000;
const PG_URL = (process.env.BENCH_PG_URL || "postgres://postgres@127.0.0.1:5432").replace(/\/+$/, "");
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const POLL_MS = 100;
const REQUEST_TIMEOUT_MS = 30_000;
const CLEANUP_RESERVE_MS = 15_000;
const CLK_TCK = 100; // USER_HZ; 100 on every Linux this runs on (getconf CLK_TCK)

const PHASES = process.env.BENCH_PHASES ? new Set(process.env.BENCH_PHASES.split(",").map((p) => p.trim())) : undefined;
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;
const RUN_ID = randomBytes(4).toString("hex");
const STARTED = Date.now();
const CREATE_BODY = JSON.stringify({ type: "noop", inputs: {} });

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (msg) => console.error(`[bench +${((Date.now() - STARTED) / 1000).toFixed(1)}s] ${msg}`);

// ---------------------------------------------------------------------------------------------
// Deadlines: a phase gets PHASE_TIMEOUT_MS, never past the run's budget (minus time for cleanup).

const runDeadline = () => STARTED + TOTAL_TIMEOUT_MS - CLEANUP_RESERVE_MS;
const phaseDeadline = () => Math.min(Date.now() + PHASE_TIMEOUT_MS, runDeadline());

// ---------------------------------------------------------------------------------------------
// Small helpers: HTTP with keep-alive, percentiles.


const httpAgent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });

/** One HTTP request over the shared keep-alive agent; resolves {status, text}. */
function request(url, { method = "GET", headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
    const req = http.request(url, {
      method,
      agent: httpAgent,
      headers: { ...(data === undefined ? {} : { "content-type": "application/json", "content-length": Buffer.byteLength(data) }), ...headers },
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", reject);
    req.end(data);
  });
}

function percentile(sorted, q) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/**
 * Sends `count` requests from `concurrency` clients, each awaiting its answer before the next.
 * Stops early at the deadline or when failures pile up; returns rate, latencies and failures.
 */
async function runLoad({ count, concurrency, deadline, send }) {
  const latencies = [];
  const doneAt = [];
  const failures = new Map();
  let next = 0;
  let failed = 0;
  const maxFailures = Math.max(50, Math.ceil(count * 0.01));
  const client = async () => {
    while (next < count && Date.now() < deadline && failed < maxFailures) {
      const i = next++;
      const t = performance.now();
      try {
        await send(i);
        const now = performance.now();
        latencies.push(now - t);
        doneAt.push(now);
      } catch (e) {
        failed++;
        const key = String(e?.message ?? e).slice(0, 160);
        failures.set(key, (failures.get(key) ?? 0) + 1);
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  const elapsedMs = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  const fifth = Math.floor(doneAt.length / 5);
  return {
    ok: latencies.length,
    failed,
    failures: [...failures].map(([message, n]) => `${n}x ${message}`),
    elapsedMs,
    perSecond: latencies.length / (elapsedMs / 1000),
    p50Ms: percentile(latencies, 0.5),
    p99Ms: percentile(latencies, 0.99),
    // The rate over the first and the last fifth of the answers: does the service slow down as it fills?
    firstFifthPerSecond: fifth ? fifth / ((doneAt[fifth - 1] - t0) / 1000) : NaN,
    lastFifthPerSecond: fifth ? fifth / ((doneAt[doneAt.length - 1] - doneAt[doneAt.length - 1 - fifth]) / 1000) : NaN,
    timedOut: next < count && failed < maxFailures,
    aborted: failed >= maxFailures,
  };
}

// ---------------------------------------------------------------------------------------------
// Child processes: the service (any role mix) and the reference server. All are tracked so that
// cleanup and the watchdog can stop them.

const children = new Set();

function startChild(name, args, env) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const proc = { name, child, pid: child.pid, tail: [], lines: 0, exit: null };
  const keep = (buf) => {
    for (const line of buf.toString("utf8").split("\n")) {
      if (!line.trim()) continue;
      proc.lines++;
      proc.tail.push(line.slice(0, 400));
      if (proc.tail.length > 30) proc.tail.shift();
    }
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  children.add(proc);
  proc.exited = new Promise((resolve) => child.once("exit", (code, signal) => {
    proc.exit = { code, signal };
    children.delete(proc);
    resolve(proc.exit);
  }));
  return proc;
}

function assertAlive(proc) {
  if (proc.exit) throw new Error(`${proc.name} exited (${JSON.stringify(proc.exit)}); last output:\n  ${proc.tail.join("\n  ")}`);
}

async function stopChild(proc, graceMs = 5000) {
  if (!proc || proc.exit) return;
  proc.child.kill("SIGTERM");
  const done = await Promise.race([proc.exited, sleep(graceMs).then(() => null)]);
  if (!done) {
    proc.child.kill("SIGKILL");
    await proc.exited;
  }
}

/** Starts dist/main.js with the bench's settings; `roles` is DEALSCALE_ROLES. */
async function startService(name, { roles, dbName, queuePrefix, env = {} }) {
  const port = await freePort();
  const profile = CPU_PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF_DIR}`, `--cpu-prof-name=${name.replace(/[^\w.-]+/g, "_")}.cpuprofile`] : [];
  const proc = startChild(name, [...profile, MAIN_JS], {
    PORT: String(port),
    HOST: "127.0.0.1",
    DATABASE_URL: `${PG_URL}/${dbName}`,
    REDIS_URL,
    SEED_DEMO: "false",
    AGENT_PLUGINS: TEST_AGENT,
    QUEUE_PREFIX: queuePrefix,
    LOG_LEVEL: "warn",
    WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
    DEALSCALE_ROLES: roles,
    ...env,
  });
  proc.url = `http://127.0.0.1:${port}`;
  return proc;
}

async function waitHttpOk(proc, url, deadline) {
  for (;;) {
    assertAlive(proc);
    try {
      if ((await request(url)).status === 200) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) throw new Error(`${proc.name}: ${url} not 200 before the deadline`);
    await sleep(100);
  }
}

/** Runs the service's operator CLI against `dbName` and returns its stdout. */
function cli(dbName, args) {
  return execFileSync(process.execPath, [CLI_JS, ...args], {
    cwd: ROOT,
    env: { ...process.env, DATABASE_URL: `${PG_URL}/${dbName}` },
    encoding: "utf8",
    timeout: 30_000,
  }).trim();
}

/**
 * `count` tenants with credits, and a token each, made through the service's own modules (the CLI
 * would take a process per tenant).
 */
async function tenantsAndTokens(dbName, count) {
  const load = async (rel) => (await import(path.join(ROOT, "agent-services/dist", rel))).default;
  const [{ createTenant }, { signToken }, { loadConfig }] = await Promise.all([load("tasks/tenants.js"), load("gateway/auth.js"), load("config/config.js")]);
  const config = loadConfig({ ...process.env, DATABASE_URL: `${PG_URL}/${dbName}` });
  pg ??= (await import("pg")).default;
  const pool = new pg.Pool({ connectionString: `${PG_URL}/${dbName}`, max: 4 });
  try {
    const out = [];
    for (let i = 0; i < count; i++) {
      const { tenantId } = await createTenant(pool, `bench-${i}`, 10_000_000);
      out.push({ tenantId, token: signToken(config.jwtSecret, { agentId: "bench", tenantId, scopes: ["a2a:call", "a2a:read"] }, 3600, config.jwtIssuer) });
    }
    return out;
  } finally {
    await pool.end();
  }
}

function tenantAndToken(dbName) {
  const { tenantId } = JSON.parse(cli(dbName, ["tenant:create", "--name", "bench", "--credits", "10000000"]));
  const token = cli(dbName, ["token", "--tenant", tenantId, "--agent", "bench"]);
  return { tenantId, token };
}

// ---------------------------------------------------------------------------------------------
// Measuring processes from /proc: memory of one process, CPU per process group.

function memoryOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return { rssKb: kb("VmRSS"), hwmKb: kb("VmHWM") };
}

/** Samples VmRSS every 250 ms; stop() returns the peak seen and the kernel's VmHWM, in MB. */
function watchMemory(pid) {
  let peakKb = 0;
  let hwmKb = 0;
  const tick = () => {
    try {
      const m = memoryOf(pid);
      peakKb = Math.max(peakKb, m.rssKb);
      hwmKb = Math.max(hwmKb, m.hwmKb);
    } catch {
      /* process gone */
    }
  };
  tick();
  const timer = setInterval(tick, 250);
  return {
    stop() {
      tick();
      clearInterval(timer);
      return { peakRssMb: peakKb / 1024, hwmMb: hwmKb / 1024 };
    },
  };
}

/** CPU ticks so far of every process, by group, and of the whole machine. */
function cpuSnapshot(servicePids) {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1, 9).map(Number);
  const machineBusy = fields.reduce((a, b) => a + b, 0) - fields[3] - fields[4]; // minus idle and iowait
  const perPid = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const f = stat.slice(close + 2).split(" ");
    const pid = Number(entry);
    const group = servicePids.includes(pid) ? "service" : pid === process.pid ? "bench client" : comm === "postgres" ? "postgres" : comm.startsWith("redis-server") ? "redis" : null;
    if (group) perPid.set(pid, { group, ticks: Number(f[11]) + Number(f[12]) });
  }
  return { at: performance.now(), machineBusy, perPid };
}

/** Cores used per group between two snapshots (a process that exited in between is not counted). */
function cpuBetween(a, b) {
  const seconds = (b.at - a.at) / 1000;
  const cores = { service: 0, postgres: 0, redis: 0, "bench client": 0 };
  for (const [pid, { group, ticks }] of b.perPid) cores[group] += (ticks - (a.perPid.get(pid)?.ticks ?? 0)) / CLK_TCK / seconds;
  const machine = (b.machineBusy - a.machineBusy) / CLK_TCK / seconds;
  const known = Object.values(cores).reduce((x, y) => x + y, 0);
  return { ...cores, other: Math.max(0, machine - known), machine };
}

/** CPU-ms per completed task of the service processes, Postgres and Redis together, over a window of `seconds`. */
function cpuMsPerTask(cpu, seconds, tasks) {
  if (!cpu || !(tasks > 0) || !(seconds > 0)) return undefined;
  const of = (cores) => (cores * seconds * 1000) / tasks;
  return { total: of(cpu.service + cpu.postgres + cpu.redis), service: of(cpu.service), postgres: of(cpu.postgres), redis: of(cpu.redis) };
}

const formatCpuPerTask = (c) => (c ? `${c.total.toFixed(2)} (service ${c.service.toFixed(2)}, postgres ${c.postgres.toFixed(2)}, redis ${c.redis.toFixed(2)})` : "n/a");

const formatCpu = (c, label = "service") => c ? `${label} ${c.service.toFixed(2)}, postgres ${c.postgres.toFixed(2)}, redis ${c.redis.toFixed(2)}, bench client ${c["bench client"].toFixed(2)}, other ${c.other.toFixed(2)} (machine ${c.machine.toFixed(2)} of ${os.availableParallelism()})` : "n/a";

// ---------------------------------------------------------------------------------------------
// Postgres and Redis, as the owner: counting tasks, dropping the bench databases, removing keys.

let pg;
async function pgClient(dbName) {
  pg ??= (await import("pg")).default;
  const client = new pg.Client({ connectionString: `${PG_URL}/${dbName}` });
  await client.connect();
  return client;
}

async function taskCounts(db) {
  const { rows: [r] } = await db.query(
    `SELECT count(*) FILTER (WHERE status = 'completed')::int AS completed,
            count(*) FILTER (WHERE status IN ('failed', 'timeout', 'cancelled'))::int AS failed,
            count(*) FILTER (WHERE status IN ('submitted', 'working'))::int AS open,
            count(*)::int AS total
     FROM tasks`,
  );
  return r;
}

/** Polls until `target` tasks are terminal; returns the counts, when that was seen, and timedOut. */
async function waitForTerminal(db, target, deadline, procs) {
  for (;;) {
    procs.forEach(assertAlive);
    const counts = await taskCounts(db);
    const at = performance.now();
    if (counts.completed + counts.failed >= target) return { ...counts, at, timedOut: false };
    if (Date.now() > deadline) return { ...counts, at, timedOut: true };
    await sleep(POLL_MS);
  }
}

/** What every end-to-end measurement reports: from its requests, the terminal count and when its clock started. */
function runFigures(requests, done, t0) {
  const seconds = (done.at - t0) / 1000;
  const completed = done.completed - WARMUP;
  return {
    timedOut: requests.timedOut || done.timedOut,
    aborted: requests.aborted,
    created: requests.ok,
    completed,
    tasksInDatabase: done.total - WARMUP,
    failedTasks: done.failed,
    seconds,
    tasksPerSecond: completed / seconds,
  };
}

/** Completion timing from the rows themselves, for the tasks after the first `skip` created. */
async function taskTimings(db, skip) {
  const { rows: [r] } = await db.query(
    `WITH t AS (SELECT * FROM tasks ORDER BY created_at OFFSET $1)
     SELECT count(*) FILTER (WHERE status = 'completed')::int AS completed,
            extract(epoch FROM max(completed_at) - min(started_at))::float8 AS run_span_s,
            extract(epoch FROM percentile_disc(0.2) WITHIN GROUP (ORDER BY completed_at) - min(started_at))::float8 AS first_fifth_s,
            extract(epoch FROM max(completed_at) - percentile_disc(0.8) WITHIN GROUP (ORDER BY completed_at))::float8 AS last_fifth_s,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))::float8 AS e2e_p50_s,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))::float8 AS e2e_p99_s
     FROM t`,
    [skip],
  );
  return r;
}

/** The server settings these figures depend on most, as one line. */
async function postgresSettings() {
  const admin = await pgClient("postgres");
  try {
    const { rows } = await admin.query(
      `SELECT name, setting FROM pg_settings
       WHERE name IN ('server_version', 'autovacuum', 'synchronous_commit', 'fsync', 'shared_buffers', 'max_connections') ORDER BY name`,
    );
    return rows.map((r) => `${r.name}=${r.setting}`).join(", ");
  } finally {
    await admin.end();
  }
}

const benchDatabases = new Set();

async function dropBenchDatabases() {
  if (!benchDatabases.size) return;
  const admin = await pgClient("postgres");
  try {
    for (const name of benchDatabases) {
      await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      benchDatabases.delete(name);
    }
  } finally {
    await admin.end();
  }
}

const queuePrefixes = new Set();

async function removeQueueKeys() {
  if (!queuePrefixes.size) return;
  const { default: Redis } = await import("ioredis");
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    for (const prefix of queuePrefixes) {
      let cursor = "0";
      do {
        const [nextCursor, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
        if (keys.length) await redis.del(...keys);
        cursor = nextCursor;
      } while (cursor !== "0");
    }
  } finally {
    redis.disconnect();
  }
}

function newBenchTarget(label) {
  const dbName = `ds_bench_${RUN_ID}_${label}`;
  const queuePrefix = `{dsbench-${RUN_ID}-${label}}`;
  benchDatabases.add(dbName);
  queuePrefixes.add(queuePrefix);
  return { dbName, queuePrefix };
}

/** Sends `count` create requests to running gateways: request i goes to urls[i % n] with tokens[i % m]. */
function createTasks(urls, tokens, count, deadline) {
  const urlList = [urls].flat();
  const headers = [tokens].flat().map((token) => ({ authorization: `Bearer ${token}` }));
  return runLoad({
    count,
    concurrency: CONCURRENCY,
    deadline,
    send: async (i) => {
      const res = await request(`${urlList[i % urlList.length]}/agents/test-agent/tasks`, { method: "POST", headers: headers[i % headers.length], body: CREATE_BODY });
      if (res.status !== 202) throw new Error(`HTTP ${res.status}: ${res.text.slice(0, 120)}`);
    },
  });
}

/**
 * The JSON-RPC body of an A2A v1.0 SendMessage for the test-agent's `noop` skill, exactly as the
 * SDK's client serialises it (SendMessageRequest.toJSON, ProtoJSON names): the inputs are the one
 * data part, the skill is in message.metadata; blocking (the default) leaves returnImmediately out.
 */
function a2aSendBody(id, returnImmediately) {
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "SendMessage",
    params: {
      message: { messageId: randomUUID(), role: "ROLE_USER", parts: [{ data: {}, metadata: {}, mediaType: "application/json" }], metadata: { skill: "noop" } },
      configuration: returnImmediately ? { returnImmediately: true } : {},
      metadata: {},
    },
  });
}

const A2A_OPEN_STATES = ["TASK_STATE_SUBMITTED", "TASK_STATE_WORKING", "TASK_STATE_COMPLETED"];

/**
 * Sends `count` A2A SendMessage calls (JSON-RPC, raw POSTs over the shared keep-alive agent) to a
 * running gateway. An answer counts only if it is a JSON-RPC 2.0 result for this id holding a task
 * in an expected state; JSON-RPC errors are also counted on their own. Returns runLoad's figures
 * plus rpcErrors and the number of distinct task ids answered.
 */
async function sendA2AMessages(url, token, count, deadline, { blocking }) {
  const headers = { authorization: `Bearer ${token}`, "A2A-Version": "1.0" };
  const accept = blocking ? ["TASK_STATE_COMPLETED"] : A2A_OPEN_STATES;
  const taskIds = new Set();
  let rpcErrors = 0;
  let nextId = 0;
  const result = await runLoad({
    count,
    concurrency: CONCURRENCY,
    deadline,
    send: async () => {
      const id = ++nextId;
      const res = await request(`${url}/agents/test-agent/a2a/jsonrpc`, { method: "POST", headers, body: a2aSendBody(id, !blocking) });
      let body;
      try {
        body = JSON.parse(res.text);
      } catch {
        throw new Error(`HTTP ${res.status}, not JSON: ${res.text.slice(0, 120)}`);
      }
      if (body?.error) {
        rpcErrors++;
        throw new Error(`JSON-RPC error ${body.error.code} (HTTP ${res.status}): ${String(body.error.message).slice(0, 120)}`);
      }
      const task = body?.result?.task;
      if (res.status !== 200 || body?.jsonrpc !== "2.0" || body?.id !== id || typeof task?.id !== "string") {
        throw new Error(`HTTP ${res.status}, not a JSON-RPC result with a task for this request id: ${res.text.slice(0, 120)}`);
      }
      if (!accept.includes(task.status?.state)) throw new Error(`task ${task.status?.state ?? "without a state"}, expected ${accept.join(" or ")}`);
      taskIds.add(task.id);
    },
  });
  return { ...result, rpcErrors, distinctTasks: taskIds.size };
}

// ---------------------------------------------------------------------------------------------
// Phase 1: end to end, gateway and workers in one process, tasks created over REST or A2A.

/**
 * Starts a fresh stack (gateway + workers in one process, its own database and queue prefix),
 * warms it up with `load`, then sends N more with it and stops the clock when all N are terminal
 * in Postgres. `load(url, token, count, deadline)` resolves like runLoad.
 */
async function endToEnd(label, name, load, tenants = 1) {
  const deadline = phaseDeadline();
  const { dbName, queuePrefix } = newBenchTarget(label);
  const svc = await startService(`service (gateway+worker, ${name})`, { roles: "gateway,worker", dbName, queuePrefix });
  const memory = watchMemory(svc.pid);
  let db;
  try {
    await waitHttpOk(svc, `${svc.url}/ready`, deadline);
    const token = tenants === 1 ? tenantAndToken(dbName).token : (await tenantsAndTokens(dbName, tenants)).map((t) => t.token);
    db = await pgClient(dbName);

    log(`${name}: warm-up ${WARMUP}`);
    const warm = await load(svc.url, token, WARMUP, deadline);
    if (warm.ok < WARMUP) throw new Error(`warm-up failed: ${warm.failures.join("; ")}`);
    await waitForTerminal(db, WARMUP, deadline, [svc]);

    log(`${name}: ${N} tasks, ${CONCURRENCY} clients, WORKER_CONCURRENCY=${WORKER_CONCURRENCY}`);
    const cpu0 = cpuSnapshot([svc.pid]);
    const t0 = performance.now();
    const requests = await load(svc.url, token, N, deadline);
    const atRequestsDone = await taskCounts(db);
    const done = await waitForTerminal(db, WARMUP + requests.ok, deadline, [svc]);
    const cpu = cpuBetween(cpu0, cpuSnapshot([svc.pid]));
    const figures = runFigures(requests, done, t0);
    const timings = await taskTimings(db, WARMUP);
    return {
      ...figures,
      tenants,
      cpuMsPerTask: cpuMsPerTask(cpu, figures.seconds, figures.completed),
      requests,
      backlogWhenRequestsDone: atRequestsDone.open,
      taskLatencyP50Ms: timings.e2e_p50_s * 1000,
      taskLatencyP99Ms: timings.e2e_p99_s * 1000,
      cpu,
      memory: memory.stop(),
      serviceLogLines: svc.lines,
      serviceLogTail: svc.tail.slice(-3),
    };
  } finally {
    memory.stop();
    await db?.end();
    await stopChild(svc);
  }
}

const phaseEndToEnd = () => endToEnd("e2e", "end-to-end", createTasks);

/** 4: the same with the creates spread over many tenants (each tenant's writes serialise on its own balance row and audit chain). */
const phaseTenants = () => endToEnd("tenants", `end-to-end, ${MANY_TENANTS} tenants`, createTasks, MANY_TENANTS);

/**
 * 5: the scaling curve. For each N: a fresh database, SCALE_GATEWAYS gateway processes and N worker
 * processes on one Postgres and one Redis; the clients' creates go round-robin over the gateways and
 * over MANY_TENANTS tenants; the clock stops when all are terminal.
 */
async function phaseScale() {
  const points = [];
  for (const workers of SCALE_WORKERS) points.push(await scalePoint(workers));
  return { gateways: SCALE_GATEWAYS, points };
}

async function scalePoint(workers) {
  const deadline = phaseDeadline();
  const { dbName, queuePrefix } = newBenchTarget(`scale${workers}`);
  const name = (role, i, n) => `${role} ${i + 1} of ${n} (scale, ${workers} workers)`;
  const procs = [];
  let db;
  try {
    // Every process's pool counts against Postgres's max_connections: share them out, as a deployment must.
    const admin = await pgClient("postgres");
    const maxConnections = Number((await admin.query("SHOW max_connections")).rows[0].max_connections);
    await admin.end();
    const env = { DATABASE_POOL_MAX: String(Math.max(4, Math.min(60, Math.floor((maxConnections - 15) / (SCALE_GATEWAYS + workers))))) };
    // The first process migrates the fresh database; the others start once it is ready.
    procs.push(await startService(name("gateway", 0, SCALE_GATEWAYS), { roles: "gateway", dbName, queuePrefix, env }));
    await waitHttpOk(procs[0], `${procs[0].url}/ready`, deadline);
    for (let g = 1; g < SCALE_GATEWAYS; g++) procs.push(await startService(name("gateway", g, SCALE_GATEWAYS), { roles: "gateway", dbName, queuePrefix, env }));
    for (let w = 0; w < workers; w++) procs.push(await startService(name("worker", w, workers), { roles: "worker", dbName, queuePrefix, env }));
    for (const p of procs) await waitHttpOk(p, `${p.url}/ready`, deadline);
    const urls = procs.slice(0, SCALE_GATEWAYS).map((p) => p.url);
    const tokens = (await tenantsAndTokens(dbName, MANY_TENANTS)).map((t) => t.token);
    db = await pgClient(dbName);

    log(`scale, ${SCALE_GATEWAYS} gateways and ${workers} workers: warm-up ${WARMUP}, then ${N} tasks`);
    const warm = await createTasks(urls, tokens, WARMUP, deadline);
    if (warm.ok < WARMUP) throw new Error(`warm-up failed: ${warm.failures.join("; ")}; last log lines: ${procs.flatMap((p) => p.tail.slice(-2)).join(" | ")}`);
    await waitForTerminal(db, WARMUP, deadline, procs);
    const pids = procs.map((p) => p.pid);
    const cpu0 = cpuSnapshot(pids);
    const t0 = performance.now();
    const requests = await createTasks(urls, tokens, N, deadline);
    const done = await waitForTerminal(db, WARMUP + requests.ok, deadline, procs);
    const cpu = cpuBetween(cpu0, cpuSnapshot(pids));
    const figures = runFigures(requests, done, t0);
    return {
      workers,
      poolPerProcess: Number(env.DATABASE_POOL_MAX),
      ...figures,
      requests,
      cpu,
      cpuMsPerTask: cpuMsPerTask(cpu, figures.seconds, figures.completed),
    };
  } finally {
    await db?.end();
    for (const p of procs) await stopChild(p);
  }
}

/** 1a: the same, with non-blocking A2A SendMessage instead of REST creates. */
const phaseA2ANonBlocking = () =>
  endToEnd("a2anb", "A2A non-blocking", (url, token, count, deadline) => sendA2AMessages(url, token, count, deadline, { blocking: false }));

/**
 * 1a: blocking A2A SendMessage against a fresh stack: each call returns when its task is completed,
 * so requests/s is completed tasks/s as the client sees them. Postgres is checked to agree.
 */
async function phaseA2ABlocking() {
  const deadline = phaseDeadline();
  const { dbName, queuePrefix } = newBenchTarget("a2ablk");
  const svc = await startService("service (gateway+worker, A2A blocking)", { roles: "gateway,worker", dbName, queuePrefix });
  const memory = watchMemory(svc.pid);
  let db;
  try {
    await waitHttpOk(svc, `${svc.url}/ready`, deadline);
    const { token } = tenantAndToken(dbName);
    db = await pgClient(dbName);
    const send = (count) => sendA2AMessages(svc.url, token, count, deadline, { blocking: true });

    log(`A2A blocking: warm-up ${WARMUP}`);
    const warm = await send(WARMUP);
    if (warm.ok < WARMUP) throw new Error(`warm-up failed: ${warm.failures.join("; ")}`);

    log(`A2A blocking: ${N} SendMessage, ${CONCURRENCY} clients, WORKER_CONCURRENCY=${WORKER_CONCURRENCY}`);
    const cpu0 = cpuSnapshot([svc.pid]);
    const sends = await send(N);
    const cpu = cpuBetween(cpu0, cpuSnapshot([svc.pid]));
    const cpuPerTask = cpuMsPerTask(cpu, sends.ok / sends.perSecond, sends.ok);
    assertAlive(svc);
    const counts = await taskCounts(db);
    const timings = await taskTimings(db, WARMUP);
    return {
      ...sends,
      cpu,
      cpuMsPerTask: cpuPerTask,
      memory: memory.stop(),
      // Every answered task is completed in Postgres too (the warm-up's included).
      completedInDatabase: counts.completed - WARMUP,
      tasksInDatabase: counts.total - WARMUP,
      failedTasks: counts.failed,
      taskLatencyP50Ms: timings.e2e_p50_s * 1000,
      taskLatencyP99Ms: timings.e2e_p99_s * 1000,
      serviceLogLines: svc.lines,
      serviceLogTail: svc.tail.slice(-3),
    };
  } finally {
    memory.stop();
    await db?.end();
    await stopChild(svc);
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 2: create-only (gateway role, nothing drains), then drain-only (worker role).

async function phaseSplit() {
  const { dbName, queuePrefix } = newBenchTarget("split");
  const result = {};
  let db;
  let gateway;
  let worker;
  try {
    let deadline = phaseDeadline();
    gateway = await startService("gateway-only", { roles: "gateway", dbName, queuePrefix });
    const gatewayMemory = watchMemory(gateway.pid);
    await waitHttpOk(gateway, `${gateway.url}/ready`, deadline);
    const { token } = tenantAndToken(dbName);
    db = await pgClient(dbName);

    log(`create-only: warm-up ${WARMUP}, then ${N} creates`);
    const warm = await createTasks(gateway.url, token, WARMUP, deadline);
    if (warm.ok < WARMUP) throw new Error(`warm-up failed: ${warm.failures.join("; ")}`);
    const cpu0 = cpuSnapshot([gateway.pid]);
    const creates = await createTasks(gateway.url, token, N, deadline);
    const createCpu = cpuBetween(cpu0, cpuSnapshot([gateway.pid]));
    result.createOnly = { ...creates, cpu: createCpu, cpuMsPerTask: cpuMsPerTask(createCpu, creates.ok / creates.perSecond, creates.ok), memory: gatewayMemory.stop() };
    await stopChild(gateway); // the drain runs alone, as a worker replica would

    const queued = (await taskCounts(db)).open;
    log(`drain-only: ${queued} queued tasks, WORKER_CONCURRENCY=${WORKER_CONCURRENCY}`);
    deadline = phaseDeadline();
    const spawnedAt = performance.now();
    worker = await startService("worker-only", { roles: "worker", dbName, queuePrefix });
    const workerMemory = watchMemory(worker.pid);
    const cpu1 = cpuSnapshot([worker.pid]);
    const done = await waitForTerminal(db, WARMUP + creates.ok, deadline, [worker]);
    const cpu = cpuBetween(cpu1, cpuSnapshot([worker.pid]));
    const timings = await taskTimings(db, 0);
    result.drainOnly = {
      timedOut: done.timedOut,
      queued,
      completed: done.completed,
      failedTasks: done.failed,
      // From the rows: first task started -> last task completed (excludes the worker's start-up).
      completionsPerSecond: timings.completed / timings.run_span_s,
      // From spawning the worker to seeing them all done (includes start-up).
      completionsPerSecondFromSpawn: done.completed / ((done.at - spawnedAt) / 1000),
      firstFifthPerSecond: (timings.completed * 0.2) / timings.first_fifth_s,
      lastFifthPerSecond: (timings.completed * 0.2) / timings.last_fifth_s,
      cpu,
      cpuMsPerTask: cpuMsPerTask(cpu, (done.at - spawnedAt) / 1000, done.completed),
      memory: workerMemory.stop(),
      serviceLogLines: worker.lines,
      serviceLogTail: worker.tail.slice(-3),
    };
    return result;
  } finally {
    await db?.end();
    await stopChild(gateway);
    await stopChild(worker);
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 3: the @a2a-js/sdk in-memory reference server under blocking SendMessage.

function userMessage(Role) {
  return {
    messageId: randomUUID(),
    contextId: "",
    taskId: "",
    role: Role.ROLE_USER,
    parts: [{ content: { $case: "data", value: { skill: "noop", inputs: {} } }, metadata: undefined, filename: "", mediaType: "application/json" }],
    metadata: { skill: "noop" },
    extensions: [],
    referenceTaskIds: [],
  };
}

/** The JSON-RPC body a v1.0 client sends for a blocking SendMessage (proto JSON field names). */
function rawSendMessageBody(id) {
  return JSON.stringify({
    jsonrpc: "2.0",
    id,
    method: "SendMessage",
    params: {
      message: { messageId: randomUUID(), role: "ROLE_USER", parts: [{ data: { skill: "noop", inputs: {} }, mediaType: "application/json" }], metadata: { skill: "noop" } },
      configuration: { returnImmediately: false },
    },
  });
}

async function phaseReference() {
  const deadline = phaseDeadline();
  const sdkVersion = JSON.parse(readFileSync(path.join(ROOT, "node_modules/@a2a-js/sdk/package.json"), "utf8")).version;
  const { ClientFactory } = await import("@a2a-js/sdk/client");
  const { Role, TaskState } = await import("@a2a-js/sdk");

  const port = await freePort();
  const ref = startChild("reference server", [SELF, "--reference-server"], { REF_PORT: String(port) });
  const baseUrl = `http://127.0.0.1:${port}`;
  const memory = watchMemory(ref.pid);
  try {
    await waitHttpOk(ref, `${baseUrl}/.well-known/agent-card.json`, deadline);
    const client = await new ClientFactory().createFromUrl(baseUrl);
    const sendSdk = async () => {
      const result = await client.sendMessage({ tenant: "", message: userMessage(Role), configuration: undefined, metadata: undefined });
      if (result?.status?.state !== TaskState.TASK_STATE_COMPLETED) throw new Error(`not a completed task: ${JSON.stringify(result).slice(0, 120)}`);
    };
    const sendRaw = async (i) => {
      const res = await request(`${baseUrl}/a2a/jsonrpc`, { method: "POST", headers: { "A2A-Version": "1.0" }, body: rawSendMessageBody(i) });
      const body = res.status === 200 ? JSON.parse(res.text) : null;
      if (body?.result?.task?.status?.state !== "TASK_STATE_COMPLETED") throw new Error(`HTTP ${res.status}: ${res.text.slice(0, 120)}`);
    };

    log(`reference: warm-up ${WARMUP}, then ${N} blocking SendMessage with the SDK client, then ${N} raw`);
    const warm = await runLoad({ count: WARMUP, concurrency: CONCURRENCY, deadline, send: sendSdk });
    if (warm.ok < WARMUP) throw new Error(`warm-up failed: ${warm.failures.join("; ")}`);
    await runLoad({ count: WARMUP, concurrency: CONCURRENCY, deadline, send: sendRaw });
    let cpu0 = cpuSnapshot([ref.pid]);
    const sdkClient = await runLoad({ count: N, concurrency: CONCURRENCY, deadline, send: sendSdk });
    sdkClient.cpu = cpuBetween(cpu0, cpuSnapshot([ref.pid]));
    cpu0 = cpuSnapshot([ref.pid]);
    const raw = await runLoad({ count: N, concurrency: CONCURRENCY, deadline, send: sendRaw });
    raw.cpu = cpuBetween(cpu0, cpuSnapshot([ref.pid]));
    return { sdkVersion, sdkClient, raw, timedOut: sdkClient.timedOut || raw.timedOut, memory: memory.stop() };
  } finally {
    memory.stop();
    await stopChild(ref);
  }
}

/** Child-process mode: the SDK's in-memory server with an executor that completes at once. */
async function referenceServerMain() {
  const { default: express } = await import("express");
  const { DefaultRequestHandler, InMemoryTaskStore, AgentEvent } = await import("@a2a-js/sdk/server");
  const { jsonRpcHandler, agentCardHandler, UserBuilder } = await import("@a2a-js/sdk/server/express");
  const { TaskState, AGENT_CARD_PATH } = await import("@a2a-js/sdk");
  const port = Number(process.env.REF_PORT);

  const card = {
    name: "Reference noop agent",
    description: "Completes every task at once (throughput reference)",
    supportedInterfaces: [{ url: `http://127.0.0.1:${port}/a2a/jsonrpc`, protocolBinding: "JSONRPC", tenant: "", protocolVersion: "1.0" }],
    provider: undefined,
    version: "1.0.0",
    capabilities: { streaming: false, pushNotifications: false, extensions: [] },
    securitySchemes: {},
    securityRequirements: [],
    defaultInputModes: ["application/json"],
    defaultOutputModes: ["application/json"],
    skills: [{ id: "noop", name: "noop", description: "does nothing", tags: [], examples: [], inputModes: [], outputModes: [], securityRequirements: [] }],
    signatures: [],
  };
  const executor = {
    async execute(ctx, bus) {
      bus.publish(AgentEvent.task({
        id: ctx.taskId,
        contextId: ctx.contextId,
        status: { state: TaskState.TASK_STATE_COMPLETED, message: undefined, timestamp: new Date().toISOString() },
        artifacts: [{
          artifactId: randomUUID(),
          name: "result",
          description: "",
          parts: [{ content: { $case: "data", value: { ok: true } }, metadata: undefined, filename: "", mediaType: "application/json" }],
          metadata: undefined,
          extensions: [],
        }],
        history: [ctx.userMessage],
        metadata: undefined,
      }));
    },
    async cancelTask() {},
  };
  const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor);
  const app = express();
  app.use(`/${AGENT_CARD_PATH}`, agentCardHandler({ agentCardProvider: handler }));
  app.use("/a2a/jsonrpc", jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
  const server = app.listen(port, "127.0.0.1");
  server.keepAliveTimeout = 65_000;
  process.on("SIGTERM", () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

// ---------------------------------------------------------------------------------------------
// Reporting.

function machine() {
  const nproc = execFileSync("nproc", { encoding: "utf8" }).trim();
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? "unknown CPU";
  return { nproc, model, load: os.loadavg().map((l) => l.toFixed(2)).join(" ") };
}

const num = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : "n/a");
const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : "n/a");
const mb = (m) => (m ? `${num(m.peakRssMb)} MB (VmHWM ${num(m.hwmMb)} MB)` : "n/a");

function flags(r) {
  if (!r) return "";
  if (r.error) return ` **failed: ${r.error}**`;
  return r.timedOut ? " **(timed out: partial)**" : r.aborted ? " **(aborted: too many failed requests)**" : "";
}

function figureRows({ e2e, tenants, a2aNonBlocking: nb, a2aBlocking: blk, split, scale, ref }) {
  const rows = [];
  const ratio = (ours, theirs) => (Number.isFinite(ours) && Number.isFinite(theirs) && theirs > 0 ? (ours / theirs).toFixed(3) : "n/a");
  if (e2e) {
    rows.push([`end-to-end durable tasks/s (gateway + workers in one process)${flags(e2e)}`, num(e2e.tasksPerSecond)]);
    rows.push(["create latency p50 / p99 per request", `${ms(e2e.requests?.p50Ms)} / ${ms(e2e.requests?.p99Ms)}`]);
    rows.push(["creates/s while workers run in the same process (first fifth -> last fifth)", `${num(e2e.requests?.perSecond)} (${num(e2e.requests?.firstFifthPerSecond)} -> ${num(e2e.requests?.lastFifthPerSecond)})`]);
    rows.push(["tasks still open when the last create returned", `${e2e.backlogWhenRequestsDone ?? "n/a"} of ${e2e.created ?? "n/a"}`]);
    rows.push(["task latency created -> completed, p50 / p99", `${ms(e2e.taskLatencyP50Ms)} / ${ms(e2e.taskLatencyP99Ms)}`]);
    rows.push(["service peak RSS", mb(e2e.memory)]);
    rows.push(["CPU cores used during the run", formatCpu(e2e.cpu)]);
    rows.push(["CPU-ms per completed task (service + postgres + redis)", formatCpuPerTask(e2e.cpuMsPerTask)]);
  }
  if (tenants) {
    rows.push([`end-to-end durable tasks/s, creates spread over ${tenants.tenants ?? MANY_TENANTS} tenants${flags(tenants)}`, num(tenants.tasksPerSecond)]);
    rows.push(["  create latency p50 / p99 per request", `${ms(tenants.requests?.p50Ms)} / ${ms(tenants.requests?.p99Ms)}`]);
    rows.push(["  task latency created -> completed, p50 / p99", `${ms(tenants.taskLatencyP50Ms)} / ${ms(tenants.taskLatencyP99Ms)}`]);
    rows.push(["  CPU cores used during the run", formatCpu(tenants.cpu)]);
    rows.push(["  CPU-ms per completed task", formatCpuPerTask(tenants.cpuMsPerTask)]);
    rows.push(["ratio many tenants / one tenant: end-to-end tasks/s", ratio(tenants.tasksPerSecond, e2e?.tasksPerSecond)]);
  }
  const errors = (r) => (r ? `${r.failed ?? "n/a"} of ${Number.isFinite(r.ok + r.failed) ? r.ok + r.failed : "n/a"} (JSON-RPC errors ${r.rpcErrors ?? "n/a"})` : "n/a");
  if (nb) {
    const q = nb.requests;
    rows.push([`A2A SendMessage non-blocking (returnImmediately), end-to-end durable tasks/s (gateway + workers in one process)${flags(nb)}`, num(nb.tasksPerSecond)]);
    rows.push(["  SendMessage requests/s (first fifth -> last fifth)", `${num(q?.perSecond)} (${num(q?.firstFifthPerSecond)} -> ${num(q?.lastFifthPerSecond)})`]);
    rows.push(["  latency p50 / p99 per request", `${ms(q?.p50Ms)} / ${ms(q?.p99Ms)}`]);
    rows.push(["  errors (answers that were not a JSON-RPC result with a task)", errors(q)]);
    rows.push(["  tasks still open when the last send returned", `${nb.backlogWhenRequestsDone ?? "n/a"} of ${nb.created ?? "n/a"}`]);
    rows.push(["  task latency created -> completed, p50 / p99", `${ms(nb.taskLatencyP50Ms)} / ${ms(nb.taskLatencyP99Ms)}`]);
    rows.push(["  service peak RSS", mb(nb.memory)]);
    rows.push(["  CPU cores used during the run", formatCpu(nb.cpu)]);
    rows.push(["  CPU-ms per completed task", formatCpuPerTask(nb.cpuMsPerTask)]);
  }
  if (blk) {
    rows.push([`A2A SendMessage blocking (answer = completed task), requests/s = completed tasks/s seen by the client${flags(blk)}`, num(blk.perSecond)]);
    rows.push(["  first fifth -> last fifth of the answers", `${num(blk.firstFifthPerSecond)} -> ${num(blk.lastFifthPerSecond)}`]);
    rows.push(["  latency p50 / p99 per request", `${ms(blk.p50Ms)} / ${ms(blk.p99Ms)}`]);
    rows.push(["  errors (answers that were not a JSON-RPC result with a completed task)", errors(blk)]);
    rows.push(["  completed in Postgres / answered", `${blk.completedInDatabase ?? "n/a"} / ${blk.ok ?? "n/a"}`]);
    rows.push(["  task latency created -> completed in Postgres, p50 / p99", `${ms(blk.taskLatencyP50Ms)} / ${ms(blk.taskLatencyP99Ms)}`]);
    rows.push(["  service peak RSS", mb(blk.memory)]);
    rows.push(["  CPU cores used during the run", formatCpu(blk.cpu)]);
    rows.push(["  CPU-ms per completed task", formatCpuPerTask(blk.cpuMsPerTask)]);
  }
  if (nb || blk) {
    rows.push(["ratio A2A/REST: non-blocking SendMessage req/s / REST creates/s (workers in the process)", ratio(nb?.requests?.perSecond, e2e?.requests?.perSecond)]);
    rows.push(["ratio A2A/REST: non-blocking end-to-end tasks/s / REST end-to-end tasks/s", ratio(nb?.tasksPerSecond, e2e?.tasksPerSecond)]);
    rows.push(["ratio A2A/REST: blocking SendMessage req/s / REST end-to-end tasks/s", ratio(blk?.perSecond, e2e?.tasksPerSecond)]);
  }
  if (split) {
    const c = split.createOnly;
    const d = split.drainOnly;
    rows.push([`create-only creates/s (gateway role, nothing drains)${split.error ? flags(split) : c ? flags(c) : ""}`, num(c?.perSecond)]);
    rows.push(["  first fifth -> last fifth of the creates", `${num(c?.firstFifthPerSecond)} -> ${num(c?.lastFifthPerSecond)}`]);
    rows.push(["create-only latency p50 / p99", `${ms(c?.p50Ms)} / ${ms(c?.p99Ms)}`]);
    rows.push(["create-only CPU cores", formatCpu(c?.cpu)]);
    rows.push(["create-only CPU-ms per created task", formatCpuPerTask(c?.cpuMsPerTask)]);
    rows.push(["gateway-only peak RSS", mb(c?.memory)]);
    rows.push([`drain-only completions/s (worker role; first start -> last completion)${d ? flags(d) : ""}`, num(d?.completionsPerSecond)]);
    rows.push(["  first fifth -> last fifth of the completions", `${num(d?.firstFifthPerSecond)} -> ${num(d?.lastFifthPerSecond)}`]);
    rows.push(["drain-only completions/s counted from spawning the worker", num(d?.completionsPerSecondFromSpawn)]);
    rows.push(["drain-only CPU cores", formatCpu(d?.cpu)]);
    rows.push(["drain-only CPU-ms per completed task", formatCpuPerTask(d?.cpuMsPerTask)]);
    rows.push(["worker-only peak RSS", mb(d?.memory)]);
  }
  if (scale) {
    const first = scale.points?.[0];
    for (const pt of scale.points ?? []) {
      rows.push([`scale-out: ${scale.gateways} gateway processes + ${pt.workers} worker processes (DATABASE_POOL_MAX ${pt.poolPerProcess} each), ${MANY_TENANTS} tenants, end-to-end tasks/s${flags(pt)}`, num(pt.tasksPerSecond)]);
      rows.push([`  create latency p50 / p99; CPU-ms per task; x of ${first?.workers} worker(s)`, `${ms(pt.requests?.p50Ms)} / ${ms(pt.requests?.p99Ms)}; ${formatCpuPerTask(pt.cpuMsPerTask)}; ${ratio(pt.tasksPerSecond, first?.tasksPerSecond)}`]);
      rows.push(["  CPU cores used during the run", formatCpu(pt.cpu, "services")]);
    }
    if (scale.error) rows.push([`scale-out${flags(scale)}`, "n/a"]);
  }
  if (ref) {
    const v = ref.sdkVersion ? ` ${ref.sdkVersion}` : "";
    rows.push([`@a2a-js/sdk${v} in-memory reference, blocking SendMessage req/s, SDK client (ClientFactory)${flags(ref)}`, num(ref.sdkClient?.perSecond)]);
    rows.push(["  latency p50 / p99", `${ms(ref.sdkClient?.p50Ms)} / ${ms(ref.sdkClient?.p99Ms)}`]);
    rows.push(["  CPU cores", formatCpu(ref.sdkClient?.cpu, "reference server")]);
    rows.push(["same server, raw JSON-RPC POSTs (same HTTP client as our creates) req/s", num(ref.raw?.perSecond)]);
    rows.push(["  latency p50 / p99", `${ms(ref.raw?.p50Ms)} / ${ms(ref.raw?.p99Ms)}`]);
    rows.push(["  CPU cores", formatCpu(ref.raw?.cpu, "reference server")]);
    rows.push(["reference server peak RSS", mb(ref.memory)]);
    rows.push(["ratio ours/reference: end-to-end tasks/s / raw req/s", ratio(e2e?.tasksPerSecond, ref.raw?.perSecond)]);
    rows.push(["ratio ours/reference: end-to-end tasks/s / SDK-client req/s", ratio(e2e?.tasksPerSecond, ref.sdkClient?.perSecond)]);
    rows.push(["ratio ours/reference: create-only creates/s / raw req/s", ratio(split?.createOnly?.perSecond, ref.raw?.perSecond)]);
  }
  return rows;
}

function problems(results) {
  const lines = [];
  for (const [name, r] of Object.entries(results)) {
    if (!r) continue;
    if (r.error) lines.push(`${name}: ${r.error}`);
    for (const sub of [r, r.requests, r.createOnly, r.drainOnly, r.sdkClient, r.raw, ...(r.points ?? []), ...(r.points ?? []).map((pt) => pt.requests)]) {
      if (sub?.failures?.length) lines.push(`${name}: failed requests: ${sub.failures.slice(0, 3).join("; ")}`);
      if (sub?.failedTasks) lines.push(`${name}: ${sub.failedTasks} tasks ended failed/timeout/cancelled`);
      if (Number.isFinite(sub?.distinctTasks) && sub.distinctTasks !== sub.ok) lines.push(`${name}: ${sub.ok} answers named only ${sub.distinctTasks} distinct tasks`);
    }
    if (Number.isFinite(r.tasksInDatabase) && Number.isFinite(r.created ?? r.ok) && r.tasksInDatabase !== (r.created ?? r.ok)) {
      lines.push(`${name}: ${r.tasksInDatabase} tasks in Postgres for ${r.created ?? r.ok} accepted requests`);
    }
    if (Number.isFinite(r.completedInDatabase) && r.completedInDatabase !== r.ok) lines.push(`${name}: ${r.completedInDatabase} completed in Postgres for ${r.ok} completed answers`);
    for (const pt of r.points ?? []) {
      if (pt.tasksInDatabase !== pt.created) lines.push(`${name} (${pt.workers} workers): ${pt.tasksInDatabase} tasks in Postgres for ${pt.created} accepted requests`);
    }
  }
  return lines;
}

function report(results, date) {
  const m = machine();
  const rows = figureRows(results);
  const width = Math.max(...rows.map(([k]) => k.length));
  console.log(`\nDealScale task throughput, ${date}, machine: ${m.nproc} cores (nproc ${m.nproc}), ${m.model}`);
  console.log(`N=${N} (after ${WARMUP} warm-up), ${CONCURRENCY} concurrent clients, WORKER_CONCURRENCY=${WORKER_CONCURRENCY}, one tenant per phase but the many-tenant and scale-out ones (${MANY_TENANTS} tenants), load average at start ${results.loadAtStart}`);
  console.log(`postgres: ${results.postgres}\n`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(width)}  ${v}`);
  const issues = problems(results);
  if (issues.length) console.log(`\nproblems:\n  ${issues.join("\n  ")}`);

  const section = [
    "",
    `## ${date}: task service throughput (test-agent noop)`,
    "",
    `machine: ${m.nproc} cores (nproc ${m.nproc}), ${m.model}; Node ${process.version}; load average at start ${results.loadAtStart}`,
    `postgres: ${results.postgres}`,
    `parameters: N=${N} tasks (after ${WARMUP} warm-up), ${CONCURRENCY} concurrent keep-alive clients, WORKER_CONCURRENCY=${WORKER_CONCURRENCY}, one tenant per phase but the many-tenant and scale-out ones (${MANY_TENANTS} tenants), LOG_LEVEL=warn`,
    "",
    "| measurement | figure |",
    "|---|---|",
    ...rows.map(([k, v]) => `| ${k.trim()} | ${v} |`),
    ...(issues.length ? ["", "problems:", ...issues.map((l) => `- ${l}`)] : []),
    "",
  ].join("\n");
  if (!existsSync(RESULTS_MD)) {
    writeFileSync(RESULTS_MD, [
      "# Benchmark results",
      "",
      "Appended by `npm run bench` (bench/tasks-throughput.mjs; its header says what each figure means).",
      "One section per run. Figures depend on the machine and on whatever else ran on it: see the load",
      "average and the `other` CPU column, and compare runs from the same machine only.",
      "",
    ].join("\n"));
  }
  appendFileSync(RESULTS_MD, section);
  console.log(`\nappended to ${path.relative(process.cwd(), RESULTS_MD) || RESULTS_MD}`);
}

// ---------------------------------------------------------------------------------------------

async function cleanup() {
  await Promise.all([...children].map((p) => stopChild(p, 3000)));
  await dropBenchDatabases().catch((e) => log(`could not drop ${[...benchDatabases].join(", ")}: ${e.message}`));
  await removeQueueKeys().catch((e) => log(`could not remove Redis keys ${[...queuePrefixes].join(", ")}: ${e.message}`));
}

/** Runs one phase; an error becomes part of the results instead of ending the run. */
async function phase(name, fn) {
  if (Date.now() > runDeadline()) return { error: "skipped: the run's time budget is spent", timedOut: true };
  try {
    return await fn();
  } catch (e) {
    log(`${name} failed: ${e.message}`);
    return { error: e.message.split("\n")[0], detail: e.message };
  }
}

function preflight() {
  for (const [file, hint] of [[MAIN_JS, "run `npm run build`"], [CLI_JS, "run `npm run build`"], [TEST_AGENT, "the test-agent fixture is missing"]]) {
    if (!existsSync(file)) throw new Error(`${path.relative(ROOT, file)} not found: ${hint}`);
  }
  if (!existsSync(path.join(ROOT, "node_modules/@a2a-js/sdk/package.json"))) {
    throw new Error("@a2a-js/sdk is not installed: npm install -D -w agent-services @a2a-js/sdk@^1");
  }
}

async function main() {
  preflight();
  const date = execFileSync("date", ["-u", "+%F"], { encoding: "utf8" }).trim();
  const results = { loadAtStart: machine().load, postgres: await postgresSettings() };
  const watchdog = setTimeout(() => {
    log("total time budget exceeded; stopping");
    for (const p of children) p.child.kill("SIGKILL");
    cleanup().finally(() => process.exit(1));
  }, TOTAL_TIMEOUT_MS);
  watchdog.unref();
  process.once("SIGINT", () => cleanup().finally(() => process.exit(130)));

  try {
    const wanted = (key) => !PHASES || PHASES.has(key);
    if (wanted("e2e")) results.e2e = await phase("end-to-end", phaseEndToEnd);
    if (wanted("tenants")) results.tenants = await phase("many tenants", phaseTenants);
    if (wanted("a2a-nonblocking")) results.a2aNonBlocking = await phase("A2A non-blocking", phaseA2ANonBlocking);
    if (wanted("a2a-blocking")) results.a2aBlocking = await phase("A2A blocking", phaseA2ABlocking);
    if (wanted("split")) results.split = await phase("create-only/drain-only", phaseSplit);
    if (wanted("scale")) results.scale = await phase("scale-out", phaseScale);
    if (wanted("reference")) results.ref = await phase("reference", phaseReference);
  } finally {
    await cleanup();
  }
  if (PHASES) {
    console.log(JSON.stringify(results, null, 2));
    httpAgent.destroy();
    return;
  }
  report(results, date);
  httpAgent.destroy();
  const incomplete = [results.e2e, results.tenants, results.a2aNonBlocking, results.a2aBlocking, results.split, results.split?.createOnly, results.split?.drainOnly, results.scale, ...(results.scale?.points ?? []), results.ref]
    .some((r) => !r || r.error || r.timedOut || r.aborted);
  // A run with errors, lost or failed tasks is broken, whatever its figures: say so in the exit code.
  const broken = incomplete || problems(results).length > 0;
  if (broken) console.error("bench: the run is broken (see problems above); exit 1");
  process.exitCode = broken ? 1 : 0;
}

if (process.argv[2] === "--reference-server") {
  referenceServerMain().catch((e) => {
    console.error(`reference server failed: ${e.stack ?? e}`);
    process.exit(1);
  });
} else {
  main().catch(async (e) => {
    console.error(`bench failed: ${e.message}`);
    await cleanup().catch(() => undefined);
    process.exit(1);
  });
}
