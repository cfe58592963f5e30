/**
 * Ops (issue 3): Prometheus metrics from real tasks, /metrics auth, the bull-board dashboard behind
 * the operator token, and the deploy/ files (alert rules in sync with the cards, YAML that parses,
 * dashboards and rules naming only metrics the service exports).
 */
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const yaml = require("js-yaml") as { safeLoad(s: string): any; safeLoadAll(s: string): any[]; safeDump(o: unknown): string };
import { eventually, startTestStack, type TestStack } from "./support/harness";
import { tenantBalance } from "../src/tasks/tenants";
import { DURATION_BUCKETS, QUEUE_STATES } from "../src/ops/metrics";
import { queueName } from "../src/queue/queues";
import { loadConfig } from "../src/config/config";

const ROOT = path.resolve(__dirname, "../..");
const DEPLOY = path.join(ROOT, "deploy");
const A = "test-agent";
const OPS_TOKEN = "ops-token-0123456789abcdef";
const BUILTIN = ["data-engineer", "audience-architect", "campaign-orchestrator", "workflow-automation"];

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m) throw new Error(`unparseable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: m[3] === "+Inf" ? Infinity : Number(m[3]) });
  }
  return out;
}

/** The value of the one sample with this name whose labels include `labels`; undefined when none. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${hits.length} samples`);
  return hits[0]?.value;
}

async function scrape(t: TestStack, headers: Record<string, string> = {}) {
  const res = await fetch(`${t.url}/metrics`, { headers });
  return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
}

describe("metrics and the queue dashboard", () => {
  let t: TestStack;
  let tenant: string;
  let token: string;
  const views: any[] = [];

  beforeAll(async () => {
    t = await startTestStack({ OPS_TOKEN });
    tenant = await t.tenant(5000);
    token = t.token(tenant);
    const bodies = [
      { type: "noop", inputs: { n: 1 } },
      { type: "noop", inputs: { n: 2 } },
      { type: "echo", inputs: { leadIds: ["a", "b", "c", "d"], message: "x" } },
      { type: "fail", inputs: { used: 0.5 } },
    ];
    for (const body of bodies) {
      const res = await t.request("POST", `/agents/${A}/tasks`, { token, body });
      expect(res.status).toBe(202);
      views.push(await t.waitForStatus(token, A, res.body.taskId, ["completed", "failed"]));
    }
  });
  afterAll(async () => t?.close());

  test("task counters, the latency histogram and the credit counters follow the tasks that ran", async () => {
    const { status, type, text } = await scrape(t);
    expect(status).toBe(200);
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    const s = parseMetrics(text);
    const tasks = (task_type: string, st: string) => value(s, "dealscale_a2a_tasks_total", { agent_id: A, task_type, status: st });

    expect(tasks("noop", "submitted")).toBe(2);
    expect(tasks("noop", "completed")).toBe(2);
    expect(tasks("echo", "submitted")).toBe(1);
    expect(tasks("echo", "completed")).toBe(1);
    expect(tasks("fail", "submitted")).toBe(1);
    expect(tasks("fail", "failed")).toBe(1);
    expect(tasks("noop", "failed")).toBeUndefined();
    // completed 3, failed 1 over the agent: what the error-rate alert divides.
    const byStatus = (st: string) => s.filter((x) => x.name === "dealscale_a2a_tasks_total" && x.labels.agent_id === A && x.labels.status === st).reduce((n, x) => n + x.value, 0);
    expect([byStatus("submitted"), byStatus("completed"), byStatus("failed")]).toEqual([4, 3, 1]);

    const h = { agent_id: A, task_type: "noop", status: "completed" };
    expect(value(s, "dealscale_a2a_task_duration_seconds_count", h)).toBe(2);
    expect(value(s, "dealscale_a2a_task_duration_seconds_bucket", { ...h, le: "+Inf" })).toBe(2);
    expect(value(s, "dealscale_a2a_task_duration_seconds_bucket", { ...h, le: "3600" })).toBe(2);
    const sum = value(s, "dealscale_a2a_task_duration_seconds_sum", h)!;
    const expected = views.filter((v) => v.type === "noop").reduce((n, v) => n + (Date.parse(v.completedAt) - Date.parse(v.createdAt)) / 1000, 0);
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeCloseTo(expected, 2); // created -> completed, as the help text says
    expect(value(s, "dealscale_a2a_task_duration_seconds_count", { agent_id: A, task_type: "fail", status: "failed" })).toBe(1);
    expect(text).toMatch(/# HELP dealscale_a2a_task_duration_seconds .*creation.*completed_at/);

    // noop 1 + 1, echo 4 x 0.5 = 2, fail 2 reserved; charged: noop 1 + 1, echo 1.5 (what it used), fail 0.5 (partial).
    const reserved = views.reduce((n, v) => n + v.creditsReserved, 0);
    const used = views.reduce((n, v) => n + v.creditsUsed, 0);
    expect([reserved, used]).toEqual([6, 4]);
    expect(value(s, "dealscale_a2a_credits_reserved_total", { agent_id: A })).toBeCloseTo(reserved, 6);
    expect(value(s, "dealscale_a2a_credits_charged_total", { agent_id: A })).toBeCloseTo(used, 6);

    // default process metrics, on this stack's own registry
    expect(value(s, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    expect(value(s, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
  });

  test("the tenant credits gauge shows each tenant's balance, read through tenant_credit_balances()", async () => {
    const other = await t.tenant(250);
    const s = parseMetrics((await scrape(t)).text);
    expect(value(s, "dealscale_a2a_tenant_credits", { tenant_id: tenant })).toBe(await tenantBalance(t.owner, tenant));
    expect(value(s, "dealscale_a2a_tenant_credits", { tenant_id: tenant })).toBe(5000 - 4);
    expect(value(s, "dealscale_a2a_tenant_credits", { tenant_id: other })).toBe(250);
    // The app role may call the function (and only sees ids and balances), lowest balance first.
    const rows = (await t.app.query("SELECT tenant_id, credits_balance_milli::text AS b FROM tenant_credit_balances(1)")).rows;
    expect(rows).toEqual([{ tenant_id: other, b: "250000" }]);
    const direct = await t.app.query("SELECT count(*)::int AS n FROM tenants");
    expect(direct.rows[0].n).toBe(0); // no tenant set: RLS still hides the table itself
  });

  test("the queue gauge reports every agent queue in every state, with real counts", async () => {
    const q = t.stack.queues.queue("data-engineer");
    const job = await q.add("enrichLeads", { taskId: "metrics-probe", tenantId: tenant, agentId: "data-engineer", type: "enrichLeads" }, { jobId: "metrics-probe", delay: 600_000 });
    try {
      const s = parseMetrics((await scrape(t)).text);
      for (const agent of [A, ...BUILTIN]) {
        for (const state of QUEUE_STATES) {
          expect(value(s, "dealscale_a2a_queue_jobs", { queue: queueName(agent), state })).toEqual(expect.any(Number));
        }
      }
      expect(value(s, "dealscale_a2a_queue_jobs", { queue: queueName("data-engineer"), state: "delayed" })).toBe(1);
      expect(value(s, "dealscale_a2a_queue_jobs", { queue: queueName(A), state: "active" })).toBe(0);
      expect(value(s, "dealscale_a2a_metrics_collect_errors_total", { collector: "queue_jobs" })).toBeUndefined();
    } finally {
      await job.remove();
    }
  });

  test("webhook deliveries are counted by outcome through recordWebhookDelivery", async () => {
    let s = parseMetrics((await scrape(t)).text);
    for (const outcome of ["delivered", "failed", "retrying"]) expect(value(s, "dealscale_a2a_webhook_deliveries_total", { outcome })).toBe(0);
    t.stack.metrics.recordWebhookDelivery("delivered");
    t.stack.metrics.recordWebhookDelivery("delivered");
    t.stack.metrics.recordWebhookDelivery("retrying");
    s = parseMetrics((await scrape(t)).text);
    expect(value(s, "dealscale_a2a_webhook_deliveries_total", { outcome: "delivered" })).toBe(2);
    expect(value(s, "dealscale_a2a_webhook_deliveries_total", { outcome: "retrying" })).toBe(1);
    expect(value(s, "dealscale_a2a_webhook_deliveries_total", { outcome: "failed" })).toBe(0);
  });

  test("/metrics needs no token when METRICS_TOKEN is unset", async () => {
    expect((await scrape(t)).status).toBe(200);
  });

  test("/ops/queues: 401 without or with a wrong token, the dashboard with the bearer token", async () => {
    const get = (p: string, headers: Record<string, string> = {}) => fetch(`${t.url}${p}`, { headers, redirect: "manual" });
    const none = await get("/ops/queues");
    expect(none.status).toBe(401);
    expect((await none.json()).error.code).toBe("unauthorized");
    expect((await get("/ops/queues", { authorization: "Bearer wrong-token-0123456789" })).status).toBe(401);
    expect((await get("/ops/queues", { authorization: `Bearer ${OPS_TOKEN}x` })).status).toBe(401);

    const ok = await get("/ops/queues", { authorization: `Bearer ${OPS_TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toMatch(/text\/html/);
    expect(await ok.text()).toMatch(/<html[\s\S]*\/ops\/queues/i);

    // The board's API lists the agent queues (BullMQAdapter per agent), read-only.
    const api = await get("/ops/queues/api/queues", { authorization: `Bearer ${OPS_TOKEN}` });
    expect(api.status).toBe(200);
    const board = await api.json();
    const names = board.queues.map((q: any) => q.name);
    expect(names).toEqual(expect.arrayContaining([A, ...BUILTIN].map(queueName)));
    expect(board.queues.every((q: any) => q.readOnlyMode === true)).toBe(true);
    expect((await get("/ops/queues/api/queues")).status).toBe(401);
  });

  test("/ops/login sets an HTTP-only session cookie that opens the dashboard in a browser", async () => {
    const wrong = await fetch(`${t.url}/ops/login?token=nope-nope-nope-nope`, { redirect: "manual" });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("set-cookie")).toBeNull();

    const login = await fetch(`${t.url}/ops/login?token=${encodeURIComponent(OPS_TOKEN)}`, { redirect: "manual" });
    expect(login.status).toBe(303);
    expect(login.headers.get("location")).toBe("/ops/queues/");
    const setCookie = login.headers.get("set-cookie")!;
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/Path=\/ops/);
    expect(setCookie).not.toContain(OPS_TOKEN);
    const pair = setCookie.split(";")[0];

    const page = await fetch(`${t.url}/ops/queues/`, { headers: { cookie: `other=1; ${pair}` } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    // the page's assets load with the same cookie (the page sets <base href="/ops/queues/">)
    const asset = await fetch(`${t.url}/ops/queues/static/favicon-32x32.png`, { headers: { cookie: pair } });
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toMatch(/image\/png/);
    expect((await fetch(`${t.url}/ops/queues/static/favicon-32x32.png`)).status).toBe(401);

    const [name, val] = pair.split("=");
    const tampered = `${name}=${val.replace(/^\d+/, (n) => String(Number(n) + 3600))}`;
    expect((await fetch(`${t.url}/ops/queues/`, { headers: { cookie: tampered } })).status).toBe(401);
    const expired = `${name}=${Math.floor(Date.now() / 1000) - 10}.${val.split(".")[1]}`;
    expect((await fetch(`${t.url}/ops/queues/`, { headers: { cookie: expired } })).status).toBe(401);
  });
});

describe("queue history (issue 10)", () => {
  let t: TestStack;
  let token: string;
  const bearer = { authorization: `Bearer ${OPS_TOKEN}` };
  const boardJobs = async (queue: string, status: string) => {
    const res = await fetch(`${t.url}/ops/queues/api/queues?activeQueue=${encodeURIComponent(queue)}&status=${status}&page=1&jobsPerPage=50`, { headers: bearer });
    expect(res.status).toBe(200);
    const body = (await res.json()) as any;
    return body.queues.find((q: any) => q.name === queue).jobs as any[];
  };

  beforeAll(async () => {
    t = await startTestStack({ OPS_TOKEN, QUEUE_KEEP_COMPLETED_COUNT: "3", QUEUE_KEEP_FAILED_COUNT: "2" });
    token = t.token(await t.tenant(5000));
  });
  afterAll(async () => t?.close());

  test("a task that fails in its handler is a failed job with the task's error; completed ones stay as history, bounded by count", async () => {
    const run = async (body: unknown, status: string) => {
      const res = await t.request("POST", `/agents/${A}/tasks`, { token, body });
      return (await t.waitForStatus(token, A, res.body.taskId, [status])).taskId as string;
    };
    const failed = await run({ type: "fail", inputs: {} }, "failed");
    const bad = await run({ type: "badOutput", inputs: {} }, "failed");
    const done: string[] = [];
    for (let i = 0; i < 5; i++) done.push(await run({ type: "noop", inputs: { n: i } }, "completed"));

    const q = t.stack.queues.queue(A);
    const failedJob = await eventually("the failed job", async () => ((await q.getJob(failed))?.failedReason ? q.getJob(failed) : undefined));
    expect(await failedJob!.getState()).toBe("failed");
    expect(failedJob!.failedReason).toBe("failed: boom: the test capability failed on purpose");
    expect((await q.getJob(bad))?.failedReason).toMatch(/^failed: invalid_output: outputs do not match the schema/);

    // The newest three completed jobs are kept, with the task's end as their return value.
    const kept = await eventually("the completed history", async () => {
      const jobs = await q.getJobs(["completed"]);
      return jobs.length === 3 ? jobs : undefined;
    });
    expect(kept.map((j) => j.id).sort()).toEqual(done.slice(2).sort());
    expect(kept[0].returnvalue).toEqual({ status: "completed" });

    const onBoard = await boardJobs(queueName(A), "failed");
    expect(onBoard.map((j) => j.id).sort()).toEqual([failed, bad].sort());
    expect(onBoard.find((j) => j.id === failed).failedReason).toMatch(/boom/);
  });

  test("the board and the queue metric show the webhooks queue; the board shows the task's own priority", async () => {
    const res = await fetch(`${t.url}/ops/queues/api/queues`, { headers: bearer });
    const names = ((await res.json()) as any).queues.map((q: any) => q.name);
    expect(names).toEqual(expect.arrayContaining([...[A, ...BUILTIN].map(queueName), "webhooks"]));
    const s = parseMetrics((await scrape(t)).text);
    for (const state of QUEUE_STATES) expect(value(s, "dealscale_a2a_queue_jobs", { queue: "webhooks", state })).toEqual(expect.any(Number));

    // A delayed probe job as the task service enqueues it (priority 8 becomes BullMQ's 3).
    const q = t.stack.queues.queue("data-engineer");
    const probe = await q.add("enrichLeads", { taskId: "priority-probe", tenantId: "x", agentId: "data-engineer", type: "enrichLeads" }, { ...t.stack.queues.jobOptions("priority-probe", 8), delay: 600_000 });
    try {
      expect(probe.opts.priority).toBe(3);
      const [job] = await boardJobs(queueName("data-engineer"), "delayed");
      expect(job).toMatchObject({ id: "priority-probe", priority: 8, opts: expect.objectContaining({ priority: 8 }) });
    } finally {
      await probe.remove();
    }
  });
});

describe("with METRICS_TOKEN and without OPS_TOKEN", () => {
  let t: TestStack;
  const METRICS_TOKEN = "metrics-token-0123456789abcdef";
  beforeAll(async () => {
    t = await startTestStack({ METRICS_TOKEN });
  });
  afterAll(async () => t?.close());

  test("/metrics requires Authorization: Bearer <METRICS_TOKEN>", async () => {
    const none = await scrape(t);
    expect(none.status).toBe(401);
    expect(JSON.parse(none.text).error.message).toMatch(/METRICS_TOKEN/);
    expect((await scrape(t, { authorization: "Bearer metrics-token-0123456789abcdeX" })).status).toBe(401);
    expect((await scrape(t, { authorization: `Basic ${METRICS_TOKEN}` })).status).toBe(401);
    const ok = await scrape(t, { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain("# TYPE dealscale_a2a_tasks_total counter");
    expect((await t.request("GET", "/health")).status).toBe(200); // health stays open
  });

  test("without OPS_TOKEN the dashboard is not mounted: 404 saying OPS_TOKEN enables it", async () => {
    for (const p of ["/ops/queues", "/ops/queues/api/queues", `/ops/login?token=anything-at-all-123`]) {
      const res = await t.request("GET", p, { headers: { authorization: "Bearer whatever-0123456789abcdef" } });
      expect(res.status).toBe(404);
      expect(res.body.error.message).toMatch(/OPS_TOKEN/);
    }
  });

  test("ops tokens are validated by the config loader", () => {
    expect(() => loadConfig({ METRICS_TOKEN: "short" })).toThrow(/METRICS_TOKEN must be at least 16/);
    expect(() => loadConfig({ OPS_TOKEN: "has a space in it 0123456789" })).toThrow(/OPS_TOKEN/);
    expect(loadConfig({ NODE_ENV: "development", METRICS_TOKEN: "" }).metricsToken).toBeUndefined();
  });
});

describe("a worker-only process", () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack({ DEALSCALE_ROLES: "worker", WORKER_AGENTS: A });
  });
  afterAll(async () => t?.close());

  test("serves /metrics beside /health and /ready, with its own queues and no tenant query", async () => {
    const res = await scrape(t);
    expect(res.status).toBe(200);
    const s = parseMetrics(res.text);
    expect(value(s, "dealscale_a2a_queue_jobs", { queue: queueName(A), state: "waiting" })).toBe(0);
    expect(s.some((x) => x.name === "dealscale_a2a_queue_jobs" && x.labels.queue === queueName("data-engineer"))).toBe(false);
    expect(s.some((x) => x.name === "dealscale_a2a_tenant_credits")).toBe(false);
    expect(res.text).toContain("# TYPE dealscale_a2a_task_duration_seconds histogram");
    expect((await t.request("GET", "/ready")).status).toBe(200);
    expect((await t.request("GET", "/ops/queues")).status).toBe(404);
  });
});

describe("deploy/", () => {
  const walk = (dir: string): string[] =>
    readdirSync(dir).flatMap((f) => {
      const p = path.join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : [p];
    });
  const files = walk(DEPLOY);
  const cards = BUILTIN.map((id) => JSON.parse(readFileSync(path.join(ROOT, "agent-services/src/agents", id, "card.json"), "utf8")));
  const seconds = (iso: string) => {
    const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$/.exec(iso)!;
    return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
  };

  test("alerts.yml is exactly what generate-alerts.mjs makes from the agent cards", () => {
    const generated = execFileSync(process.execPath, [path.join(DEPLOY, "generate-alerts.mjs"), "--stdout"], { encoding: "utf8" });
    expect(readFileSync(path.join(DEPLOY, "prometheus/alerts.yml"), "utf8")).toBe(generated);
    execFileSync(process.execPath, [path.join(DEPLOY, "generate-alerts.mjs"), "--check"]);
  });

  test("the alert rules cover agent down, error rate, every capability's SLA and low tenant credits", () => {
    const rules = yaml.safeLoad(readFileSync(path.join(DEPLOY, "prometheus/alerts.yml"), "utf8")).groups.flatMap((g: any) => g.rules);
    const one = (name: string) => rules.filter((r: any) => r.alert === name);
    expect(one("DealscaleA2AAgentDown")[0]).toMatchObject({ for: "5m", expr: expect.stringMatching(/^up\{.*\} == 0$/) });
    expect(one("DealscaleA2AHighErrorRate")[0]).toMatchObject({ for: "10m", expr: expect.stringMatching(/failed\|timeout[\s\S]*sum by \(agent_id\)[\s\S]*> 0\.05$/) });
    expect(one("DealscaleA2ATenantCreditsLow")[0]).toMatchObject({ expr: expect.stringMatching(/dealscale_a2a_tenant_credits\) < 1000$/) });

    const sla = one("DealscaleA2ALatencyAboveSLA");
    const caps = cards.flatMap((c) => c.capabilities.map((cap: any) => ({ agent: c.agentId, name: cap.name, s: seconds(cap.sla.maxLatency) })));
    expect(sla).toHaveLength(caps.length);
    for (const cap of caps) {
      const rule = sla.find((r: any) => r.labels.agent_id === cap.agent && r.labels.task_type === cap.name);
      expect(rule).toBeDefined();
      expect(rule.for).toBe("5m");
      expect(rule.expr).toContain(`histogram_quantile(0.99,`);
      expect(rule.expr).toContain(`agent_id="${cap.agent}",task_type="${cap.name}"`);
      expect(rule.expr.endsWith(`> ${cap.s}`)).toBe(true);
      // the threshold is a bucket bound, so the quantile is exact where it matters
      expect(DURATION_BUCKETS).toContain(cap.s);
    }
  });

  test("every deploy YAML file (and docker-compose.yml) parses", () => {
    const yamlFiles = [...files.filter((f) => /\.ya?ml$/.test(f)), path.join(ROOT, "docker-compose.yml")];
    expect(yamlFiles.length).toBeGreaterThanOrEqual(10);
    for (const f of yamlFiles) {
      let docs: any[] = [];
      expect(() => (docs = yaml.safeLoadAll(readFileSync(f, "utf8")))).not.toThrow();
      expect(docs.filter(Boolean).length).toBeGreaterThan(0);
    }
  });

  // promtool from PROMTOOL (.ci/run fetches Debian's) or the PATH. Debian's build has no
  // Kubernetes service discovery, so the Kubernetes config is checked with its discovery block
  // swapped for a static target, and its relabelling by applying it below.
  const promtool = process.env.PROMTOOL || (() => {
    try {
      return execFileSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" }).trim() || undefined;
    } catch {
      return undefined;
    }
  })();
  const withPromtool = promtool ? test : test.skip;

  withPromtool("promtool: both Prometheus configs, the rules, and the rules' unit tests pass (issue 10)", () => {
    const check = (...args: string[]) => execFileSync(promtool!, args, { cwd: ROOT, encoding: "utf8", stdio: "pipe" });
    expect(check("check", "config", "deploy/prometheus/prometheus.yml")).toMatch(/SUCCESS/);
    const k8s = yaml.safeLoad(readFileSync(path.join(DEPLOY, "prometheus/prometheus-kubernetes.yml"), "utf8"));
    for (const job of k8s.scrape_configs) {
      expect(job.kubernetes_sd_configs).toEqual([{ role: "pod" }]);
      delete job.kubernetes_sd_configs;
      job.static_configs = [{ targets: ["10.0.0.1:8080"] }];
    }
    const copy = path.join(DEPLOY, "prometheus/.k8s-promtool-check.yml");
    writeFileSync(copy, yaml.safeDump(k8s));
    try {
      expect(check("check", "config", path.relative(ROOT, copy))).toMatch(/SUCCESS/);
    } finally {
      unlinkSync(copy);
    }
    expect(check("test", "rules", "deploy/prometheus/alerts.test.yml")).toMatch(/SUCCESS/);
  });

  test("on Kubernetes the relabelling names each pod's job as the alerts expect; other pods are dropped (issue 10)", () => {
    const k8s = yaml.safeLoad(readFileSync(path.join(DEPLOY, "prometheus/prometheus-kubernetes.yml"), "utf8"));
    const rules = k8s.scrape_configs[0].relabel_configs as Array<{ source_labels?: string[]; regex?: string; replacement?: string; target_label?: string; action?: string; separator?: string }>;
    /** Prometheus's relabelling for the actions used (keep, replace): anchored regex, $n in the replacement. */
    const relabel = (labels: Record<string, string>): Record<string, string> | null => {
      const out = { ...labels };
      for (const r of rules) {
        const value = (r.source_labels ?? []).map((l) => out[l] ?? "").join(r.separator ?? ";");
        const m = new RegExp(`^(?:${r.regex ?? "(.*)"})$`).exec(value);
        if ((r.action ?? "replace") === "keep") {
          if (!m) return null;
          continue;
        }
        if (m && r.target_label) out[r.target_label] = (r.replacement ?? "$1").replace(/\$(\d+)/g, (_, i) => m[Number(i)] ?? "");
      }
      return out;
    };
    const alerts = yaml.safeLoad(readFileSync(path.join(DEPLOY, "prometheus/alerts.yml"), "utf8"));
    const down = alerts.groups.flatMap((g: any) => g.rules).find((r: any) => r.alert === "DealscaleA2AAgentDown");
    const jobSelector = new RegExp(`^(?:${/job=~"([^"]+)"/.exec(down.expr)![1]})$`);
    const podOf = (doc: any) => doc.spec.template.metadata;
    const docs = ["gateway.yaml", "workers.yaml"].flatMap((f) => yaml.safeLoadAll(readFileSync(path.join(DEPLOY, "k8s", f), "utf8")).filter((d: any) => d?.kind === "Deployment"));
    expect(docs).toHaveLength(5);
    const jobs = docs.map((doc: any) => {
      const meta = podOf(doc);
      const sd: Record<string, string> = { __address__: "10.0.0.7", __meta_kubernetes_namespace: "ds", __meta_kubernetes_pod_name: doc.metadata.name };
      for (const [k, v] of Object.entries(meta.labels as Record<string, string>)) sd[`__meta_kubernetes_pod_label_${k.replace(/[^a-zA-Z0-9_]/g, "_")}`] = v;
      for (const [k, v] of Object.entries(meta.annotations as Record<string, string>)) sd[`__meta_kubernetes_pod_annotation_${k.replace(/[^a-zA-Z0-9_]/g, "_")}`] = v;
      const target = relabel(sd)!;
      expect(target).not.toBeNull();
      expect(target.__address__).toBe("10.0.0.7:8080");
      expect(target.__metrics_path__).toBe("/metrics");
      expect(target.job).toMatch(jobSelector);
      return target.job;
    });
    expect(jobs.sort()).toEqual(["dealscale-gateway", ...BUILTIN.map((a) => `dealscale-worker-${a}`)].sort());
    expect(relabel({ __address__: "10.0.0.9", __meta_kubernetes_pod_label_app_kubernetes_io_name: "something-else", __meta_kubernetes_pod_annotation_prometheus_io_scrape: "true" })).toBeNull();
  });

  test("docker-compose.yml requires the operator's own JWT secret and database passwords (issue 10)", () => {
    const text = readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8");
    for (const name of ["A2A_JWT_SECRET", "APP_DB_PASSWORD", "POSTGRES_PASSWORD"]) {
      const uses = [...text.matchAll(new RegExp(`\\$\\{${name}([^}]*)\\}`, "g"))].map((m) => m[1]);
      expect(uses.length).toBeGreaterThan(0);
      for (const use of uses) expect(use).toMatch(/^:\?set /);
    }
    const compose = ["docker-compose", "docker compose"].find((c) => {
      try {
        execFileSync("sh", ["-c", `${c} version`], { stdio: "ignore" });
        return true;
      } catch {
        return false;
      }
    });
    if (!compose) return;
    const base = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" };
    expect(() => execFileSync("sh", ["-c", `${compose} config -q`], { cwd: ROOT, env: base, stdio: "pipe" })).toThrow(/set (A2A_JWT_SECRET|APP_DB_PASSWORD|POSTGRES_PASSWORD)/);
    execFileSync("sh", ["-c", `${compose} config -q`], { cwd: ROOT, env: { ...base, A2A_JWT_SECRET: "a".repeat(64), APP_DB_PASSWORD: "b".repeat(32), POSTGRES_PASSWORD: "c".repeat(32) }, stdio: "pipe" });
  });

  test("prometheus.yml scrapes the gateway and the four workers on :8080/metrics every 15 s", () => {
    const prom = yaml.safeLoad(readFileSync(path.join(DEPLOY, "prometheus/prometheus.yml"), "utf8"));
    expect(prom.global.scrape_interval).toBe("15s");
    // Relative to the config file: the same path in the container and in a checkout (promtool).
    expect(prom.rule_files).toEqual(["alerts.yml"]);
    const targets = prom.scrape_configs.filter((j: any) => j.job_name.startsWith("dealscale-"))
      .flatMap((j: any) => { expect(j.metrics_path).toBe("/metrics"); return j.static_configs.flatMap((c: any) => c.targets); });
    expect(targets.sort()).toEqual(["gateway:8080", ...BUILTIN.map((a) => `worker-${a}:8080`)].sort());
    const compose = yaml.safeLoad(readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8"));
    for (const target of targets) expect(compose.services[target.split(":")[0]]).toBeDefined();
    expect(compose.services.prometheus.ports).toContain("9090:9090");
    expect(compose.services.grafana.ports).toContain("3000:3000");
  });

  test("k8s: gateway and one worker per agent, probes, resources, a Secret for credentials and an HPA each", () => {
    const docs = files.filter((f) => f.includes(`${path.sep}k8s${path.sep}`) && /\.ya?ml$/.test(f) && !f.endsWith("kustomization.yaml"))
      .flatMap((f) => yaml.safeLoadAll(readFileSync(f, "utf8"))).filter(Boolean);
    expect(docs.every((d) => !d.metadata.namespace)).toBe(true);
    const deployments = docs.filter((d) => d.kind === "Deployment");
    const hpas = docs.filter((d) => d.kind === "HorizontalPodAutoscaler");
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(["dealscale-gateway", ...BUILTIN.map((a) => `dealscale-worker-${a}`)].sort());
    expect(docs.some((d) => d.kind === "Service" && d.metadata.name === "dealscale-gateway")).toBe(true);
    for (const d of deployments) {
      const c = d.spec.template.spec.containers[0];
      const env = Object.fromEntries(c.env.map((e: any) => [e.name, e]));
      const worker = d.metadata.name.replace("dealscale-worker-", "");
      if (d.metadata.name === "dealscale-gateway") expect(env.DEALSCALE_ROLES.value).toBe("gateway");
      else expect([env.DEALSCALE_ROLES.value, env.WORKER_AGENTS.value]).toEqual(["worker", worker]);
      for (const k of ["DATABASE_URL", "REDIS_URL", "A2A_JWT_SECRET"]) expect(env[k].valueFrom.secretKeyRef.name).toBe("dealscale-a2a-secrets");
      expect(c.livenessProbe.httpGet.path).toBe("/health");
      expect(c.readinessProbe.httpGet.path).toBe("/ready");
      expect(c.resources.requests.cpu).toBeDefined();
      expect(c.resources.limits.memory).toBeDefined();
      const hpa = hpas.find((h) => h.spec.scaleTargetRef.name === d.metadata.name);
      expect(hpa).toMatchObject({ apiVersion: "autoscaling/v2", spec: { metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization" } } }] } });
    }
    expect(hpas).toHaveLength(deployments.length);
  });

  test("the Grafana dashboard and the rules use only metrics the service exports", async () => {
    const dash = JSON.parse(readFileSync(path.join(DEPLOY, "grafana/dashboards/dealscale-a2a.json"), "utf8"));
    expect(dash).toMatchObject({ uid: "dealscale-a2a", title: expect.any(String), schemaVersion: expect.any(Number) });
    const exprs: string[] = dash.panels.flatMap((p: any) => p.targets.map((x: any) => x.expr));
    for (const needle of ["dealscale_a2a_tasks_total", "histogram_quantile(0.5", "histogram_quantile(0.99", "dealscale_a2a_queue_jobs", "dealscale_a2a_credits_charged_total"]) {
      expect(exprs.some((e) => e.includes(needle))).toBe(true);
    }
    const ds = yaml.safeLoad(readFileSync(path.join(DEPLOY, "grafana/provisioning/datasources/prometheus.yml"), "utf8"));
    expect(ds.datasources[0]).toMatchObject({ type: "prometheus", uid: "prometheus", url: "http://prometheus:9090" });

    const t = await startTestStack();
    let exported: Set<string>;
    try {
      exported = new Set([...(await scrape(t)).text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
    } finally {
      await t.close();
    }
    const used = [readFileSync(path.join(DEPLOY, "prometheus/alerts.yml"), "utf8"), ...exprs].join("\n").match(/dealscale_a2a_[a-z_]+/g)!;
    for (const name of new Set(used)) expect([name, exported.has(name.replace(/_(bucket|count|sum)$/, ""))]).toEqual([name, true]);
  });
});
