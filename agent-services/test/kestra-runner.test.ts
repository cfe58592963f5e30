/**
 * The Kestra runner (kestra-runner/bin/a2a-task.js) run as a child process, the way Kestra's
 * io.kestra.plugin.scripts.node.Commands runs it, against a live gateway and workers.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { startTestStack, sleep, type TestStack } from "./support/harness";

const BIN = path.resolve(__dirname, "../../kestra-runner/bin/a2a-task.js");
const A = "test-agent";
const FRAMED = /^::(\{.*\})::$/;
const execFileAsync = promisify(execFile);

let t: TestStack;
let tenant: string;
let token: string;
let workdir: string;

beforeAll(async () => {
  t = await startTestStack();
  tenant = await t.tenant(100_000);
  token = t.token(tenant);
  workdir = mkdtempSync(path.join(tmpdir(), "a2a-task-"));
});
/** Runners still alive after a test (one that failed or timed out) must not outlive it. */
const alive = new Set<ChildProcess>();
afterEach(() => {
  for (const child of alive) child.kill("SIGKILL");
  alive.clear();
});
afterAll(async () => {
  rmSync(workdir, { recursive: true, force: true });
  await t?.close();
});

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

function start(args: string[], env: Record<string, string> = {}): { child: ChildProcess; done: Promise<Run>; stdout: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: workdir,
    env: { PATH: process.env.PATH ?? "", A2A_GATEWAY_URL: t.url, A2A_TOKEN: token, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  alive.add(child);
  child.on("exit", () => alive.delete(child));
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const done = new Promise<Run>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr, lines: stdout.split("\n").filter((l) => l !== "") })),
  );
  return { child, done, stdout: () => stdout };
}
const run = (args: string[], env?: Record<string, string>) => start(args, env).done;

/** Every stdout line is a Kestra protocol line (JSON between `::`) or a plain log line. */
function expectKestraProtocol(lines: string[]) {
  for (const line of lines) {
    const m = FRAMED.exec(line);
    if (m) expect(() => JSON.parse(m[1])).not.toThrow();
    else {
      expect(line.startsWith("::")).toBe(false);
      expect(line.endsWith("::")).toBe(false);
    }
  }
}
const framed = (lines: string[]) => lines.map((l) => FRAMED.exec(l)).filter((m): m is RegExpExecArray => !!m).map((m) => JSON.parse(m[1]));
const outputsOf = (lines: string[]) => framed(lines).filter((j) => j.outputs).map((j) => j.outputs);
const metricsOf = (lines: string[]) => framed(lines).filter((j) => j.metrics).flatMap((j) => j.metrics);
const taskIdFrom = (text: string) => /task ([0-9a-f-]{36})/.exec(text)?.[1];

async function waitForTaskId(getStdout: () => string, timeoutMs = 10_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const id = taskIdFrom(getStdout());
    if (id) return id;
    await sleep(25);
  }
  throw new Error(`no task id printed; stdout: ${getStdout()}`);
}

test("installed as on a Process task runner's worker (npm pack, npm install -g), a2a-task is on the PATH and runs a task", async () => {
  // Asynchronous: the gateway under test runs in this process.
  const { stdout: packJson } = await execFileAsync("npm", ["pack", "--json", "--pack-destination", workdir], { cwd: path.dirname(path.dirname(BIN)) });
  const [packed] = JSON.parse(packJson);
  // Only the runner itself ships, with the a2a-client package bundled (it is on no registry): no tests, no flows.
  expect(packed.files.map((f: { path: string }) => f.path).sort()).toEqual([
    "bin/a2a-task.js", "node_modules/@dealscale/a2a-client/index.d.ts", "node_modules/@dealscale/a2a-client/index.js", "node_modules/@dealscale/a2a-client/package.json", "package.json", "src/cli.js",
  ]);
  // The bundled copy is taken out again after packing: the workspace resolves the live sibling.
  expect(existsSync(path.join(path.dirname(path.dirname(BIN)), "node_modules/@dealscale/a2a-client"))).toBe(false);
  const prefix = path.join(workdir, "global");
  await execFileAsync("npm", ["install", "-g", "--prefix", prefix, "--prefer-offline", "--no-audit", "--no-fund", path.join(workdir, packed.filename)]);
  // Run from outside the repository, so nothing resolves from its node_modules.
  const { stdout } = await execFileAsync("a2a-task", ["--agent", A, "--capability", "echo", "--inputs", '{"leadIds":["x"],"message":"installed"}'], {
    cwd: tmpdir(),
    env: { PATH: `${path.join(prefix, "bin")}${path.delimiter}${process.env.PATH}`, A2A_GATEWAY_URL: t.url, A2A_TOKEN: token },
    timeout: 30_000,
  });
  expect(outputsOf(stdout.split("\n"))[0]).toMatchObject({ status: "completed", result: { echoed: { leadIds: ["x"], message: "installed" } } });
});

test("--help documents the interface and exits 0", async () => {
  const r = await run(["--help"]);
  expect(r.code).toBe(0);
  for (const s of ["--agent", "--capability", "--inputs", "--priority", "--idempotency-key", "--timeout", "A2A_GATEWAY_URL", "A2A_TOKEN", "Exit codes", "143"]) {
    expect(r.stdout).toContain(s);
  }
});

test.each([
  [["--capability", "echo"], /--agent/],
  [["--agent", A], /--capability/],
  [["--agent", A, "--capability", "echo", "--inputs", "{not json"], /not valid JSON/],
  [["--agent", A, "--capability", "echo", "--inputs", "[1]"], /JSON object/],
  [["--agent", A, "--capability", "echo", "--priority", "11"], /--priority/],
  [["--agent", A, "--capability", "echo", "--timeout", "soon"], /--timeout/],
  [["--agent", A, "--capability", "echo", "--no-such-flag"], /Unknown option/],
])("bad arguments exit 2 with the reason: %j", async (args, reason) => {
  const r = await run(args as string[]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(reason);
});

test("a missing gateway or token is a usage error (2)", async () => {
  const r = await run(["--agent", A, "--capability", "noop"], { A2A_GATEWAY_URL: "", A2A_TOKEN: token });
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/A2A_GATEWAY_URL/);
});

test("a completed task emits its outputs and metrics with Kestra's protocol and exits 0", async () => {
  const r = await run(["--agent", A, "--capability", "slow", "--inputs", JSON.stringify({ ms: 400, steps: 2, marker: "k" }), "--priority", "7"]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expectKestraProtocol(r.lines);
  const outs = outputsOf(r.lines);
  expect(outs).toHaveLength(1);
  expect(outs[0]).toMatchObject({ agent: A, capability: "slow", status: "completed", creditsUsed: 1, result: { sleptMs: 400 } });
  const task = await t.request("GET", `/agents/${A}/tasks/${outs[0].taskId}`, { token });
  expect(task.body.status).toBe("completed");
  expect(task.body).toMatchObject({ priority: 7, inputs: { ms: 400, steps: 2, marker: "k" } });
  expect(outs[0].result).toEqual(task.body.outputs);
  // progress was followed (over SSE) and printed as plain log lines
  expect(r.lines.some((l) => /^a2a-task: task .* 50% step 1 of 2$/.test(l))).toBe(true);
  const metrics = metricsOf(r.lines);
  expect(metrics).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ name: "a2a.duration", type: "timer", tags: { agent: A, capability: "slow" } }),
      expect.objectContaining({ name: "a2a.credits_used", type: "counter", value: 1 }),
    ]),
  );
});

test("inputs and credits: echo's outputs and partial charge come through; the idempotency key replays the task", async () => {
  const args = ["--agent", A, "--capability", "echo", "--inputs", JSON.stringify({ leadIds: ["a", "b", "c"], message: "hi" }), "--idempotency-key", "kestra-idem-1"];
  const r1 = await run(args);
  const r2 = await run(args);
  expect([r1.code, r2.code]).toEqual([0, 0]);
  const [o1] = outputsOf(r1.lines);
  const [o2] = outputsOf(r2.lines);
  expect(o1).toMatchObject({ creditsUsed: 1, result: { echoed: { leadIds: ["a", "b", "c"], message: "hi" } } });
  expect(o2.taskId).toBe(o1.taskId);
  expect((await t.request("GET", `/agents/${A}/tasks/${o1.taskId}`, { token })).body.idempotencyKey).toBe("kestra-idem-1");
});

test("a retry under the same key after the task failed runs it again as key~2, then key~3; a running task is joined", async () => {
  const key = `kestra-retry-${Date.now()}`;
  const fail = ["--agent", A, "--capability", "fail", "--inputs", '{"used":0.5}', "--idempotency-key", key];
  const keysOf = async (prefix: string) =>
    (await t.owner.query("SELECT idempotency_key, status FROM tasks WHERE tenant_id = $1 AND idempotency_key LIKE $2 ORDER BY created_at", [tenant, `${prefix}%`])).rows;
  for (let attempt = 1; attempt <= 3; attempt++) expect((await run(fail)).code).toBe(1);
  expect(await keysOf(key)).toEqual([
    { idempotency_key: key, status: "failed" },
    { idempotency_key: `${key}~2`, status: "failed" },
    { idempotency_key: `${key}~3`, status: "failed" },
  ]);

  // An attempt that starts while the first one's task runs (a restarted worker) joins it.
  const slowKey = `${key}-slow`;
  const slow = ["--agent", A, "--capability", "slow", "--inputs", '{"ms":800}', "--idempotency-key", slowKey];
  const first = start(slow);
  await waitForTaskId(first.stdout);
  const [r1, r2] = await Promise.all([first.done, run(slow)]);
  expect([r1.code, r2.code]).toEqual([0, 0]);
  expect(outputsOf(r2.lines)[0].taskId).toBe(outputsOf(r1.lines)[0].taskId);
  expect(await keysOf(slowKey)).toEqual([{ idempotency_key: slowKey, status: "completed" }]);
});

test("--agent takes the design document's id (TestAgent for test-agent): the task runs on the canonical agent", async () => {
  const r = await run(["--agent", "TestAgent", "--capability", "slow", "--inputs", '{"ms":200}']);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  const [out] = outputsOf(r.lines);
  expect(out).toMatchObject({ agent: "TestAgent", status: "completed", result: { sleptMs: 200 } });
  const task = await t.request("GET", `/tasks/${out.taskId}`, { token });
  expect(task.body).toMatchObject({ agentId: A, targetAgentId: "TestAgent" });
});

test("--no-stream follows the task by polling", async () => {
  const r = await run(["--agent", A, "--capability", "slow", "--inputs", '{"ms":300}', "--no-stream", "--poll-interval", "0.1"]);
  expect(r.code).toBe(0);
  expectKestraProtocol(r.lines);
  expect(outputsOf(r.lines)[0]).toMatchObject({ status: "completed", result: { sleptMs: 300 } });
});

test("a failed task exits 1 with its error code and message", async () => {
  const r = await run(["--agent", A, "--capability", "fail", "--inputs", '{"used":0.5}']);
  expect(r.code).toBe(1);
  expectKestraProtocol(r.lines);
  expect(outputsOf(r.lines)).toHaveLength(0);
  expect(r.stderr).toMatch(/failed: boom: the test capability failed on purpose/);
});

test("a task past its SLA on the service exits 4", async () => {
  const r = await run(["--agent", A, "--capability", "tight", "--inputs", '{"ms":5000}']);
  expect(r.code).toBe(4);
  expect(r.stderr).toMatch(/timed out/);
});

test("a request the gateway refuses exits 5 with the reason (schema path)", async () => {
  const r = await run(["--agent", A, "--capability", "slow", "--inputs", '{"ms":"x"}']);
  expect(r.code).toBe(5);
  expect(r.stderr).toMatch(/HTTP 400/);
  expect(r.stderr).toMatch(/\/inputs\/ms/);
  const unknown = await run(["--agent", "no-such-agent", "--capability", "noop"]);
  expect(unknown.code).toBe(5);
  expect(unknown.stderr).toMatch(/HTTP 404/);
  const badToken = await run(["--agent", A, "--capability", "noop"], { A2A_TOKEN: "nope" });
  expect(badToken.code).toBe(5);
  expect(badToken.stderr).toMatch(/HTTP 401/);
});

test("--tenant (A2A_TENANT) pins the tenant: its own token runs, another tenant's token is refused (5) and creates nothing", async () => {
  const own = await run(["--agent", A, "--capability", "noop", "--tenant", tenant]);
  expect(own.code).toBe(0);
  expect(outputsOf(own.lines)[0]).toMatchObject({ status: "completed" });

  const other = await t.tenant(1_000);
  const before = await t.owner.query("SELECT count(*)::int AS n FROM tasks WHERE tenant_id = ANY($1::uuid[])", [[tenant, other]]);
  const wrong = await run(["--agent", A, "--capability", "noop"], { A2A_TENANT: other });
  expect(wrong.code).toBe(5);
  expect(wrong.stderr).toMatch(/HTTP 403/);
  const after = await t.owner.query("SELECT count(*)::int AS n FROM tasks WHERE tenant_id = ANY($1::uuid[])", [[tenant, other]]);
  expect(after.rows[0].n).toBe(before.rows[0].n);
  const audit = await t.owner.query("SELECT details FROM audit_logs WHERE event_type = 'tenant_mismatch' AND tenant_id = $1", [tenant]);
  expect(audit.rows.map((r) => r.details.namedTenant)).toContain(other);
});

test("an unreachable gateway exits 6", async () => {
  const r = await run(["--agent", A, "--capability", "noop", "--gateway", "http://127.0.0.1:1"]);
  expect(r.code).toBe(6);
  expect(r.stderr).toMatch(/cannot reach the gateway/);
});

test("--timeout exceeded cancels the task and exits 4", async () => {
  const r = await run(["--agent", A, "--capability", "slow", "--inputs", '{"ms":20000,"steps":20}', "--timeout", "PT1S"]);
  expect(r.code).toBe(4);
  expect(r.stderr).toMatch(/timed out after 1 s/);
  const taskId = taskIdFrom(r.stdout)!;
  expect(taskId).toBeDefined();
  const task = await t.waitForStatus(token, A, taskId, ["cancelled"], 5000);
  expect(task.status).toBe("cancelled");
  expectKestraProtocol(r.lines);
});

test("a task cancelled by someone else exits 3", async () => {
  const p = start(["--agent", A, "--capability", "slow", "--inputs", '{"ms":20000,"steps":20}']);
  const taskId = await waitForTaskId(p.stdout);
  await t.request("POST", `/agents/${A}/tasks/${taskId}/cancel`, { token, body: { reason: "from the test" } });
  const r = await p.done;
  expect(r.code).toBe(3);
  expect(r.stderr).toMatch(/cancelled/);
});

test("SIGTERM (a killed Kestra execution) cancels the A2A task and exits 143", async () => {
  const p = start(["--agent", A, "--capability", "slow", "--inputs", '{"ms":20000,"steps":20}']);
  const taskId = await waitForTaskId(p.stdout);
  await t.waitForStatus(token, A, taskId, ["working"], 5000);
  p.child.kill("SIGTERM");
  const r = await p.done;
  expect(r.code).toBe(143);
  expect(r.stderr).toMatch(/SIGTERM/);
  const task = await t.waitForStatus(token, A, taskId, ["cancelled"], 5000);
  expect(task.status).toBe("cancelled");
});

test("run as Kestra runs it (sh -c \"exec a2a-task ...\"), killing the shell's pid cancels the task", async () => {
  const child = spawn("/bin/sh", ["-c", `set -e; exec "${process.execPath}" "${BIN}" --agent ${A} --capability slow --inputs '{"ms":20000,"steps":20}'`], {
    cwd: workdir,
    env: { PATH: process.env.PATH ?? "", A2A_GATEWAY_URL: t.url, A2A_TOKEN: token },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  child.stdout!.on("data", (d) => (stdout += d));
  const closed = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
  const taskId = await waitForTaskId(() => stdout);
  child.kill("SIGTERM");
  expect(await closed).toBe(143);
  expect((await t.waitForStatus(token, A, taskId, ["cancelled"], 5000)).status).toBe("cancelled");
});

test("outputs over --max-vars-bytes go to the outputs file, named in the vars", async () => {
  const leadIds = Array.from({ length: 200 }, (_, i) => `lead-${i}-${"x".repeat(20)}`);
  const r = await run(["--agent", A, "--capability", "echo", "--inputs", JSON.stringify({ leadIds }), "--max-vars-bytes", "1024", "--outputs-file", "big.json", "--timeout", "40"]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  expectKestraProtocol(r.lines);
  const [o] = outputsOf(r.lines);
  expect(o).toMatchObject({ status: "completed", outputsFile: "big.json" });
  expect(o.result).toBeUndefined();
  expect(o.outputsBytes).toBeGreaterThan(1024);
  const file = path.join(workdir, "big.json");
  expect(existsSync(file)).toBe(true);
  const saved = JSON.parse(readFileSync(file, "utf8"));
  expect(saved).toMatchObject({ taskId: o.taskId, outputs: { echoed: { leadIds } } });
  // the default threshold is 64 KB: the same outputs stay in vars
  const small = await run(["--agent", A, "--capability", "echo", "--inputs", JSON.stringify({ leadIds }), "--timeout", "40"]);
  expect(outputsOf(small.lines)[0].result).toEqual({ echoed: { leadIds }, creditsUsed: 99.5 });
});

test("a result read in pages: every row goes to the results file (JSON Lines), named and counted in the vars; --no-results skips it", async () => {
  const r = await run(["--agent", A, "--capability", "rows", "--inputs", JSON.stringify({ count: 23456 }), "--results-file", "rows.jsonl", "--timeout", "40"]);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
  expectKestraProtocol(r.lines);
  const [o] = outputsOf(r.lines);
  expect(o).toMatchObject({ status: "completed", resultsFile: "rows.jsonl", resultsCount: 23456 });
  expect(o.result.resultSet).toMatchObject({ items: "rows", total: 23456 });
  const rows = readFileSync(path.join(workdir, "rows.jsonl"), "utf8").trimEnd().split("\n").map((l) => JSON.parse(l));
  expect(rows.map((x) => x.n)).toEqual(Array.from({ length: 23456 }, (_, n) => n));

  const skipped = await run(["--agent", A, "--capability", "rows", "--inputs", JSON.stringify({ count: 2000 }), "--no-results", "--timeout", "40"]);
  const [s] = outputsOf(skipped.lines);
  expect(s.resultsFile).toBeUndefined();
  expect(s.result.rows).toHaveLength(1000);
});

/**
 * A proxy in front of the gateway that lets the test break the SSE stream: `streamMode` "cut" ends
 * the first stream after its first event; "refuse" answers every stream with 503.
 */
async function withProxy(streamMode: "cut" | "refuse", fn: (url: string, seen: { lastEventIds: (string | undefined)[]; streams: number }) => Promise<void>) {
  const http = await import("node:http");
  const seen = { lastEventIds: [] as (string | undefined)[], streams: 0 };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const isStream = /\/stream(\?|$)/.test(req.url ?? "");
    if (isStream) {
      seen.streams++;
      seen.lastEventIds.push(req.headers["last-event-id"] as string | undefined);
      if (streamMode === "refuse") {
        res.writeHead(503, { "content-type": "application/json" }).end('{"error":{"code":"unavailable","message":"no streams here"}}');
        return;
      }
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host" && k !== "content-length") headers[k] = v;
    const up = await fetch(t.url + req.url, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined });
    res.writeHead(up.status, Object.fromEntries([...up.headers].filter(([k]) => !["content-length", "content-encoding", "transfer-encoding", "connection"].includes(k))));
    const reader = up.body!.getReader();
    const cut = isStream && seen.streams === 1;
    let buf = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      res.write(value);
      if (cut) {
        buf += Buffer.from(value).toString();
        if (/event: state[^]*\n\n/.test(buf)) {
          await reader.cancel().catch(() => undefined);
          break;
        }
      }
    }
    res.end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as import("node:net").AddressInfo;
  try {
    await fn(`http://127.0.0.1:${port}`, seen);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

test("a stream that ends early is resumed with Last-Event-ID", async () => {
  await withProxy("cut", async (url, seen) => {
    const r = await run(["--agent", A, "--capability", "slow", "--inputs", '{"ms":1200,"steps":4}', "--gateway", url]);
    expect(r.code).toBe(0);
    expectKestraProtocol(r.lines);
    expect(outputsOf(r.lines)[0]).toMatchObject({ status: "completed", result: { sleptMs: 1200 } });
    expect(seen.streams).toBeGreaterThanOrEqual(2);
    expect(seen.lastEventIds[0]).toBeUndefined();
    expect(seen.lastEventIds[1]).toMatch(/^\d+$/);
  });
});

test("when streaming is refused the runner falls back to polling", async () => {
  await withProxy("refuse", async (url, seen) => {
    const r = await run(["--agent", A, "--capability", "slow", "--inputs", '{"ms":300}', "--gateway", url, "--poll-interval", "0.1"]);
    expect(r.code).toBe(0);
    expect(seen.streams).toBe(3);
    expect(r.stderr).toMatch(/polling instead/);
    expect(outputsOf(r.lines)[0]).toMatchObject({ status: "completed", result: { sleptMs: 300 } });
  });
});
