/**
 * The A2A project's conformance suite (a2a-tck, branch 1.0-dev) against a live stack, on both of our
 * bindings (JSON-RPC and HTTP+JSON), for data-engineer and audience-architect. The suite is run as
 * it is; the only addition is a pytest plugin that puts our bearer token on its requests
 * (bench/a2a-tck/dealscale_bearer.py), since it has no auth option.
 *
 *   A2A_TCK_DIR=/path/to/a2a-tck [A2A_TCK_PYTHON=python3] npm run bench:tck [-- --append] [-- PYTEST_ARGS...]
 *
 * A2A_TCK_PYTHON (default $A2A_TCK_DIR/.venv/bin/python) must have the suite's dependencies
 * (pytest, pytest-asyncio, httpx, grpcio, protobuf, googleapis-common-protos, jsonschema). The suite
 * cannot be fetched in CI, so CI runs our own tests of each requirement fixed; this script is for
 * the figures: per agent and binding, requirements passed / failed / untested / skipped by level,
 * the MUST failures by id, and pytest's own counts. "Untested" is a requirement the suite reports as
 * failed only because its set-up skipped: its prerequisite task comes from the suite's own test
 * agent (a bare text message that completes at once), which a real agent answers with
 * input-required. `--append` writes them to bench/RESULTS.md. Needs a
 * build (`npm run build`), Postgres and Redis as for the tests.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { appendSection } from "./lib/results.mjs";
import { DEMO_TENANT_ID, ROOT, createDatabase, mintToken, startGateway } from "../n8n-nodes/e2e/lib/gateway.mjs";
import { log, run, runCleanups } from "../n8n-nodes/e2e/lib/util.mjs";

const AGENTS = (process.env.A2A_TCK_AGENTS ?? "data-engineer,audience-architect").split(",");
const TRANSPORTS = ["jsonrpc", "http_json"];
const APPEND = process.argv.includes("--append");
/** Arguments after a second `--` go to pytest as they are (e.g. `-k PUSH -x`). */
const PYTEST_ARGS = process.argv.includes("--") ? process.argv.slice(process.argv.indexOf("--") + 1) : [];

async function main() {
  const tckDir = process.env.A2A_TCK_DIR;
  if (!tckDir || !existsSync(path.join(tckDir, "tests/compatibility"))) {
    throw new Error("set A2A_TCK_DIR to a checkout of github.com/a2aproject/a2a-tck (branch 1.0-dev)");
  }
  const python = process.env.A2A_TCK_PYTHON ?? path.join(tckDir, ".venv/bin/python");
  const work = mkdtempSync(path.join(os.tmpdir(), "dealscale-tck-"));
  const databaseUrl = await createDatabase("ds_tck");
  const gateway = await startGateway({ databaseUrl, workDir: work });
  const token = await mintToken(gateway.env, DEMO_TENANT_ID, "a2a-tck");

  const results = [];
  for (const agent of AGENTS) {
    const report = path.join(work, `${agent}-compatibility`);
    const junit = path.join(work, `${agent}-junit.xml`);
    log(`a2a-tck against ${agent} (${TRANSPORTS.join(", ")})`);
    const { stdout } = await run(python, [
      "-m", "pytest", "tests/compatibility", "-q", "-p", "dealscale_bearer",
      `--sut-host=${gateway.url}/agents/${agent}`, `--transport=${TRANSPORTS.join(",")}`,
      `--compatibility-report=${report}`, `--junitxml=${junit}`, ...PYTEST_ARGS,
    ], {
      cwd: tckDir,
      allowFailure: true,
      logFile: path.join(work, `${agent}-pytest.log`),
      env: { ...process.env, PYTHONPATH: [path.join(ROOT, "bench/a2a-tck"), tckDir, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter), DEALSCALE_TCK_BEARER: token },
    });
    results.push({ agent, pytest: pytestCounts(stdout), ...requirementCounts(`${report}.json`) });
  }

  const lines = [
    "`npm run bench:tck` (a2a-tck 1.0-dev, run unchanged but for the bearer header and waiting out 429s), per agent: requirements by",
    "level on each binding (passed / failed / untested / skipped; untested: reported failed because the suite's set-up skipped, its",
    "prerequisite task needing the suite's own test agent), then pytest's own test counts.",
    "",
    "| agent | binding | MUST | SHOULD | MAY | MUST failures |",
    "|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    for (const t of TRANSPORTS) {
      const c = r.byTransport[t];
      lines.push(`| ${r.agent} | ${t} | ${fmt(c.must)} | ${fmt(c.should)} | ${fmt(c.may)} | ${c.mustFailures.join(", ") || "none"} |`);
    }
  }
  lines.push("", ...results.map((r) => `- ${r.agent}: pytest ${r.pytest}`));
  console.log(lines.join("\n"));
  if (APPEND) log(`appended to ${appendSection("A2A conformance: a2a-tck 1.0-dev (issue 15)", lines)}`);
}

const fmt = (c) => `${c.passed} / ${c.failed} / ${c.untested} / ${c.skipped}`;

/** pytest's summary line: "12 failed, 140 passed, 30 skipped in 61.2s". */
function pytestCounts(stdout) {
  const line = stdout.trim().split("\n").reverse().find((l) => /\d+ (passed|failed)/.test(l)) ?? "no summary line";
  return line.replace(/=+/g, "").trim();
}

/** The suite's compatibility report, counted per binding and RFC 2119 level. */
function requirementCounts(file) {
  const report = JSON.parse(readFileSync(file, "utf8"));
  const byTransport = Object.fromEntries(TRANSPORTS.map((t) => [t, { must: zero(), should: zero(), may: zero(), mustFailures: [] }]));
  for (const [id, req] of Object.entries(report.per_requirement)) {
    const level = String(req.level).toLowerCase();
    for (const [t, status] of Object.entries(req.transports ?? {})) {
      const c = byTransport[t]?.[level];
      if (!c) continue;
      const s = String(status).toLowerCase();
      if (s.startsWith("pass")) c.passed++;
      else if (s.startsWith("fail") && setUpSkipped(req.transport_errors?.[t] ?? req.errors)) c.untested++;
      else if (s.startsWith("fail")) {
        c.failed++;
        if (level === "must") byTransport[t].mustFailures.push(id);
      } else c.skipped++;
    }
  }
  return { byTransport };
}

const zero = () => ({ passed: 0, failed: 0, untested: 0, skipped: 0 });

/** The suite records a test whose set-up called pytest.skip as failed, its error the skip's reason. */
const setUpSkipped = (errors) => Array.isArray(errors) && errors.length > 0 && errors.every((e) => /Skipped: /.test(String(e)));

main()
  .catch((e) => {
    console.error(e.stack ?? e.message);
    process.exitCode = 1;
  })
  .finally(() => runCleanups());
