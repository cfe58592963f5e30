#!/usr/bin/env node
/**
 * Whole-tenant work at a real tenant's size, through the task API (npm run bench:scale).
 *
 * Its own database and queue prefix; one service process (gateway and workers, NODE_ENV=production,
 * the shipped agents) on this machine's Postgres and Redis. Two tenants:
 * - generated: 1,000,000 leads from bench/lib/generate-leads.mjs (people and organisations, about
 *   8 % near-duplicates; cached in ~/.cache/dealscale-bench), imported with `leads:import`;
 * - bank-full x22: the UCI bank marketing list (../shared/datasets/bank-full.csv, CC BY 4.0) imported
 *   22 times over (994,642 leads; `y` dropped so it cannot leak into the model).
 * And the plain bank-full tenant (45,211 leads).
 *
 * Figures: leads:import wall time, against the floor of Postgres alone COPYing the same rows (see
 * copyFloor) measured right after it; for each whole-tenant task, its task time (created -> completed
 * in Postgres) and the service's peak RSS while it ran: scoreLookalike (300 seeds), dedupeLeads
 * (dryRun), validateLeads, scoreLeads (an ICP profile), segmentLeads (k-means, k = 5). Baseline for scoreLookalike on bank-full: the model's own train + score
 * time over the same leads in this process (the compiled domain code, same seeds), so the ratio
 * shows what the task path adds. Bars (issue 11): import <= 15 s, scoreLookalike <= 30 s, dedupe
 * <= 5 min, validate <= 2 min, RSS < 1.5 GB, bank-full scoreLookalike <= 3 x the model.
 *
 * Options: --leads N (default 1,000,000), --skip-bank, --no-record. Env: BENCH_PG_URL
 * (postgres://postgres@127.0.0.1:5432), REDIS_URL (redis://127.0.0.1:6379).
 */
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { appendSection } from "./lib/results.mjs";
import { freePort } from "./lib/ports.mjs";
import { writeLeadsCsv } from "./lib/generate-leads.mjs";

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MAIN_JS = path.join(ROOT, "agent-services/dist/main.js");
const CLI_JS = path.join(ROOT, "agent-services/dist/cli/main.js");
const PG_URL = process.env.BENCH_PG_URL || "postgres://postgres@127.0.0.1:5432";
const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const args = process.argv.slice(2);
const LEADS = Number(args[args.indexOf("--leads") + 1] || 0) || 1_000_000;
const SKIP_BANK = args.includes("--skip-bank");
const BANK = path.resolve(ROOT, process.env.BANK_CSV || "../shared/datasets/bank-full.csv");
const CACHE = path.join(os.homedir(), ".cache/dealscale-bench");
const DB = `bench_scale_${process.pid}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rows = [];
const record = (what, value, bar = "") => {
  rows.push([what, value, bar]);
  console.log(`${what}: ${value}${bar ? `  (${bar})` : ""}`);
};

function cli(cliArgs, timeout = 600_000) {
  return execFileSync(process.execPath, [CLI_JS, ...cliArgs], {
    cwd: ROOT,
    env: { ...process.env, NODE_ENV: "production", DATABASE_URL: `${PG_URL}/${DB}`, A2A_JWT_SECRET: SECRET, APP_DB_PASSWORD: "bench" },
    encoding: "utf8",
    timeout,
    maxBuffer: 1 << 30,
  }).trim();
}
const SECRET = "bench-secret-".padEnd(40, "x");

function memoryMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+)/m.exec(status)[1]) / 1024;
}

async function api(port, token, method, p, body) {
  const res = await fetch(`http://127.0.0.1:${port}${p}`, { method, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
  const json = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** Runs one task to its end; returns it with the task time and the service's peak RSS meanwhile. */
async function runTask(svc, token, agent, type, inputs, timeoutMs = 900_000) {
  const created = await api(svc.port, token, "POST", `/agents/${agent}/tasks`, { type, inputs });
  // What the process holds when the task starts (the heap left by earlier tasks) is part of its peak.
  const startMb = memoryMb(svc.child.pid);
  let peak = 0;
  const until = Date.now() + timeoutMs;
  for (;;) {
    peak = Math.max(peak, memoryMb(svc.child.pid));
    const t = await api(svc.port, token, "GET", `/agents/${agent}/tasks/${created.taskId}`);
    if (["completed", "failed", "cancelled", "timeout"].includes(t.status)) {
      const seconds = (Date.parse(t.completedAt) - Date.parse(t.createdAt)) / 1000;
      if (t.status !== "completed") console.log(`${type}: ${t.status} ${JSON.stringify(t.error)}`);
      return { task: t, seconds, peakMb: peak, startMb };
    }
    if (Date.now() > until) throw new Error(`${type} did not finish in ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}

async function startService() {
  const port = await freePort();
  const child = spawn(process.execPath, [MAIN_JS], {
    cwd: ROOT,
    env: {
      ...process.env, NODE_ENV: "production", PORT: String(port), HOST: "127.0.0.1", DATABASE_URL: `${PG_URL}/${DB}`, REDIS_URL,
      A2A_JWT_SECRET: SECRET, APP_DB_PASSWORD: "bench", SEED_DEMO: "false", QUEUE_PREFIX: `{bench-scale-${process.pid}}`, LOG_LEVEL: "warn",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/ready`)).status === 200) return { child, port };
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error("service did not become ready");
}

function tenant(name) {
  const { tenantId } = JSON.parse(cli(["tenant:create", "--name", name, "--credits", "100000000"]));
  return { tenantId, token: cli(["token", "--tenant", tenantId, "--agent", "bench", "--ttl", "86400"]) };
}

function timedImport(tenantId, file) {
  const t0 = performance.now();
  const out = cli(["leads:import", "--tenant", tenantId, "--file", file]);
  return { seconds: (performance.now() - t0) / 1000, imported: Number(/"imported":(\d+)/.exec(out.slice(0, 100))[1]) };
}

/**
 * The floor under any importer, in the same run: Postgres alone loading the same rows (dumped from
 * the tenant as COPY text) into a copy of the leads table with the same indexes, checks and foreign
 * keys, through one COPY from this process. No CSV parsing, no mapping, no ids to make. Its foreign
 * keys are not checked row by row, as the import's are not (see bulkLoadAccess in lead-store.ts).
 */
async function copyFloor(tenantId) {
  const { to: copyTo, from: copyFrom } = require("pg-copy-streams");
  const { pipeline } = await import("node:stream/promises");
  const { createReadStream, createWriteStream, rmSync } = await import("node:fs");
  const file = path.join(CACHE, `floor-${process.pid}.copy`);
  const columns = "tenant_id, id, email, first_name, last_name, title, seniority, company, domain, industry, employee_count, phone, address, city, postcode, country, linkedin_url, source, attributes";
  const client = new pg.Client({ connectionString: `${PG_URL}/${DB}` });
  await client.connect();
  try {
    await pipeline(client.query(copyTo(`COPY (SELECT ${columns} FROM leads WHERE tenant_id = '${tenantId}' ORDER BY id) TO STDOUT`)), createWriteStream(file));
    await client.query(`CREATE TABLE bench_floor (LIKE leads INCLUDING ALL);
      ALTER TABLE bench_floor ADD FOREIGN KEY (tenant_id) REFERENCES tenants(id), ADD FOREIGN KEY (merged_into) REFERENCES bench_floor(id)`);
    await client.query("CHECKPOINT");
    const t0 = performance.now();
    await client.query("BEGIN; SET LOCAL session_replication_role = replica");
    await pipeline(createReadStream(file), client.query(copyFrom(`COPY bench_floor (${columns}) FROM STDIN`)));
    await client.query("COMMIT");
    return (performance.now() - t0) / 1000;
  } finally {
    await client.query("DROP TABLE IF EXISTS bench_floor").catch(() => undefined);
    await client.end();
    rmSync(file, { force: true });
  }
}

async function someLeadIds(tenantId, sql, n) {
  const client = new pg.Client({ connectionString: `${PG_URL}/${DB}` });
  await client.connect();
  try {
    return (await client.query(`SELECT id FROM leads WHERE tenant_id = $1 AND ${sql} ORDER BY md5(id::text) LIMIT ${n}`, [tenantId])).rows.map((r) => r.id);
  } finally {
    await client.end();
  }
}

/** bank-full without `y` (and `duration`, known only after the call) as a lead CSV; with labels for seeds. */
function bankCsv(times) {
  const lines = readFileSync(BANK, "utf8").split(/\r?\n/).filter(Boolean);
  const header = lines[0].split(",").map((h) => h.replace(/"/g, ""));
  const keep = header.map((h, i) => (h === "y" || h === "duration" ? -1 : i)).filter((i) => i >= 0);
  const yAt = header.indexOf("y");
  const out = [keep.map((i) => header[i]).join(",")];
  const yes = [];
  for (let t = 0; t < times; t++) {
    for (let r = 1; r < lines.length; r++) {
      const cells = lines[r].split(",").map((c) => c.replace(/"/g, ""));
      if (t === 0) yes.push(cells[yAt] === "yes");
      out.push(keep.map((i) => cells[i]).join(","));
    }
  }
  return { csv: out.join("\n") + "\n", yes };
}

const admin = new pg.Client({ connectionString: `${PG_URL}/postgres` });
await admin.connect();
let svc;
try {
  await admin.query(`CREATE DATABASE "${DB}"`);
  cli(["db:migrate"]);
  svc = await startService();
  mkdirSync(CACHE, { recursive: true });

  // --- generated tenant ------------------------------------------------------------------
  const genFile = path.join(CACHE, `leads-${LEADS}-seed7.csv`);
  if (!existsSync(genFile)) await writeLeadsCsv(genFile, LEADS, 7);
  const gen = tenant("generated");
  const imp = timedImport(gen.tenantId, genFile);
  record(`leads:import, ${imp.imported.toLocaleString("en")} generated leads (CLI, wall)`, `${imp.seconds.toFixed(1)} s`, "bar 15 s");
  const genFloor = await copyFloor(gen.tenantId);
  record(`the floor: Postgres alone COPYing the same rows into a copy of leads (baseline)`, `${genFloor.toFixed(1)} s; import / floor ${(imp.seconds / genFloor).toFixed(2)}`, "");
  const seeds = await someLeadIds(gen.tenantId, "attributes->>'plan' = 'enterprise' AND title = 'CEO'", 300);
  const lal = await runTask(svc, gen.token, "audience-architect", "scoreLookalike", { seedLeadIds: seeds });
  record(`scoreLookalike, whole generated tenant (${lal.task.outputs?.scoredCount ?? "?"} scored), task time`, `${lal.seconds.toFixed(1)} s, peak RSS ${lal.peakMb.toFixed(0)} MB (${lal.startMb.toFixed(0)} at start)`, "bar 30 s");
  const dd = await runTask(svc, gen.token, "data-engineer", "dedupeLeads", {});
  const o = dd.task.outputs ?? {};
  record(`dedupeLeads dryRun, whole generated tenant, task time`, `${dd.seconds.toFixed(1)} s, peak RSS ${dd.peakMb.toFixed(0)} MB (${dd.startMb.toFixed(0)} at start); ${o.duplicatesFound} duplicates in ${o.clusterCount} clusters, ${o.candidatePairs} pairs compared, blocks over ${o.blockSizeLimit} skipped (${o.skippedBlocks})`, "bar 5 min");
  const va = await runTask(svc, gen.token, "data-engineer", "validateLeads", {});
  record(`validateLeads, whole generated tenant, task time`, `${va.seconds.toFixed(1)} s, peak RSS ${va.peakMb.toFixed(0)} MB (${va.startMb.toFixed(0)} at start); ${va.task.outputs?.issueCount} issues`, "bar 2 min");
  const sc = await runTask(svc, gen.token, "audience-architect", "scoreLeads", { profile: { titles: ["ceo", "cto", "founder"], industries: ["software"], weights: { title: 2, industry: 1 } } });
  record(`scoreLeads, whole generated tenant (${sc.task.outputs?.scoredCount} scored), task time`, `${sc.seconds.toFixed(1)} s, peak RSS ${sc.peakMb.toFixed(0)} MB (${sc.startMb.toFixed(0)} at start)`, "");
  const sg = await runTask(svc, gen.token, "audience-architect", "segmentLeads", { method: "cluster", k: 5 });
  record(`segmentLeads (cluster, k = 5), whole generated tenant, task time`, `${sg.seconds.toFixed(1)} s, peak RSS ${sg.peakMb.toFixed(0)} MB (${sg.startMb.toFixed(0)} at start); segments ${sg.task.outputs?.segments?.map((x) => x.size).join(" / ")}`, "");

  if (!SKIP_BANK) {
    // --- bank-full, once and 22 times --------------------------------------------------------
    const once = bankCsv(1);
    const onceFile = path.join(CACHE, "bank-full-leads.csv");
    writeFileSync(onceFile, once.csv);
    const bank = tenant("bank-full");
    timedImport(bank.tenantId, onceFile);
    // Seeds: 300 of the `yes` rows, found again in the tenant by their content.
    const bankSeeds = await seedsByContent(bank, once.yes);
    const bl = await runTask(svc, bank.token, "audience-architect", "scoreLookalike", { seedLeadIds: bankSeeds });
    const model = modelTime(once.yes, bankSeeds.lines);
    record(`scoreLookalike, bank-full tenant (${bl.task.outputs?.scoredCount} candidates scored), task time`, `${bl.seconds.toFixed(2)} s`, "");
    record(`the model alone: train + score the same leads (baseline, this process)`, `${model.toFixed(2)} s`, "");
    record(`ratio task time / model time`, `${(bl.seconds / model).toFixed(2)}`, "bar 3");

    const times22 = path.join(CACHE, "bank-full-x22.csv");
    writeFileSync(times22, bankCsv(22).csv);
    const big = tenant("bank-full-x22");
    const bigImp = timedImport(big.tenantId, times22);
    record(`leads:import, bank-full x22 (${bigImp.imported.toLocaleString("en")} leads, CLI, wall)`, `${bigImp.seconds.toFixed(1)} s`, "bar 15 s");
    const bankFloor = await copyFloor(big.tenantId);
    record(`the floor: Postgres alone COPYing the same rows (baseline)`, `${bankFloor.toFixed(1)} s; import / floor ${(bigImp.seconds / bankFloor).toFixed(2)}`, "");
    const bigSeeds = await someLeadIds(big.tenantId, "attributes->>'poutcome' = 'success'", 300);
    const bb = await runTask(svc, big.token, "audience-architect", "scoreLookalike", { seedLeadIds: bigSeeds });
    record(`scoreLookalike, whole bank-full x22 tenant, task time`, `${bb.seconds.toFixed(1)} s, peak RSS ${bb.peakMb.toFixed(0)} MB (${bb.startMb.toFixed(0)} at start)`, "bar 30 s");
  }

  // The same generated list with every field quoted, as many CRM exports write it: such a file
  // goes through csv-parse, a file without a quote character through the plain splitter.
  const quotedFile = path.join(CACHE, `leads-${LEADS}-seed7-quoted.csv`);
  if (!existsSync(quotedFile)) await quoteEveryField(genFile, quotedFile);
  const quoted = timedImport(tenant("generated-quoted").tenantId, quotedFile);
  record(`leads:import, the generated list with every field quoted (csv-parse path), wall`, `${quoted.seconds.toFixed(1)} s; ${(quoted.seconds / imp.seconds).toFixed(2)} x the unquoted file`, "");
} finally {
  if (svc) {
    svc.child.kill("SIGTERM");
    await sleep(1000);
  }
  await admin.query(`DROP DATABASE IF EXISTS "${DB}" WITH (FORCE)`).catch(() => undefined);
  await admin.end();
}

/** Writes `from` again with every field in double quotes (no field of the generated list has one). */
async function quoteEveryField(from, to) {
  const { createReadStream, createWriteStream } = await import("node:fs");
  const { createInterface } = await import("node:readline");
  const out = createWriteStream(to);
  for await (const line of createInterface({ input: createReadStream(from) })) {
    if (!out.write(line.split(",").map((f) => `"${f}"`).join(",") + "\n")) await new Promise((r) => out.once("drain", r));
  }
  await new Promise((r) => out.end(r));
}

/** 300 seeds among the bank-full `yes` rows: the ids of those lines (`.lines` their line numbers). */
async function seedsByContent(bank, yes) {
  const client = new pg.Client({ connectionString: `${PG_URL}/${DB}` });
  await client.connect();
  try {
    const rowsDb = (await client.query("SELECT id, attributes FROM leads WHERE tenant_id = $1", [bank.tenantId])).rows;
    const lines = readFileSync(BANK, "utf8").split(/\r?\n/).filter(Boolean);
    const header = lines[0].split(",").map((h) => h.replace(/"/g, ""));
    const keyOf = (attrs) => header.filter((h) => h !== "y" && h !== "duration").map((h) => String(attrs[h])).join("|");
    const byKey = new Map();
    for (const r of rowsDb) {
      const k = keyOf(r.attributes);
      byKey.set(k, [...(byKey.get(k) ?? []), r.id]);
    }
    const yesLines = [];
    yes.forEach((y, i) => y && yesLines.push(i));
    const chosen = [];
    const ids = [];
    for (let k = 0; ids.length < 300 && k < yesLines.length; k++) {
      const line = yesLines[(k * 7919) % yesLines.length];
      const cells = lines[line + 1].split(",").map((c) => c.replace(/"/g, ""));
      const attrs = Object.fromEntries(header.map((h, j) => [h, /^-?\d+(\.\d+)?$/.test(cells[j]) ? Number(cells[j]) : cells[j]]));
      const hit = byKey.get(keyOf(attrs));
      if (hit?.length && !ids.includes(hit[0])) {
        ids.push(hit[0]);
        chosen.push(line);
      }
    }
    ids.lines = chosen;
    return ids;
  } finally {
    await client.end();
  }
}

/** Train + score time of the lookalike model on bank-full, in this process, with the task's seeds. */
function modelTime(yes, seedLines) {
  const domain = path.join(ROOT, "agent-services/dist/agents/audience-architect/domain");
  const { FrameBuilder } = require(path.join(domain, "frame.js"));
  const { trainWithHoldout, compileScorer, scoreFrame } = require(path.join(domain, "lookalike.js"));
  const lines = readFileSync(BANK, "utf8").split(/\r?\n/).filter(Boolean);
  const header = lines[0].split(",").map((h) => h.replace(/"/g, ""));
  const builder = new FrameBuilder();
  for (let r = 1; r < lines.length; r++) {
    const cells = lines[r].split(",").map((c) => c.replace(/"/g, ""));
    const rec = {};
    header.forEach((h, j) => {
      if (h === "y" || h === "duration") return;
      rec[h] = /^-?\d+(\.\d+)?$/.test(cells[j]) ? Number(cells[j]) : cells[j];
    });
    builder.add(rec);
  }
  const t0 = performance.now();
  const frame = builder.build();
  const seeds = seedLines;
  const seedSet = new Set(seeds);
  const others = [];
  for (let i = 0; i < yes.length; i++) if (!seedSet.has(i)) others.push(i);
  const trained = trainWithHoldout(frame, seeds, others, others, { seed: 1 });
  scoreFrame(compileScorer(trained.model), frame);
  return (performance.now() - t0) / 1000;
}

const table = ["| figure | value | bar |", "|---|---|---|", ...rows.map((r) => `| ${r[0]} | ${r[1]} | ${r[2]} |`)];
console.log("\n" + table.join("\n"));
if (!args.includes("--no-record")) {
  console.log(`appended to ${appendSection("whole-tenant work at 1,000,000 leads through the task API (bench/tenant-scale.mjs)", ["One service process (gateway + workers, NODE_ENV=production) on this machine's Postgres and Redis; task time = created -> completed.", "", ...table])}`);
}
