/**
 * WorkflowAutomation against local HTTP servers on 127.0.0.1 that speak the documented shapes:
 * n8n (webhook trigger, public API with X-N8N-API-KEY), Make (scenario webhook answering
 * "Accepted") and Kestra (executions API with multipart/form-data inputs and basic auth).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { startTestStack, type TestStack } from "./support/harness";

const A = "workflow-automation";
let t: TestStack;
let tenant: string;
let token: string;

interface Seen { method: string; path: string; headers: http.IncomingHttpHeaders; body: Buffer }
type Handler = (req: Seen, res: http.ServerResponse) => void | Promise<void>;

async function server(handler: Handler): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const s = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const r = { method: req.method!, path: req.url!, headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(r);
      try {
        await handler(r, res);
      } catch (e) {
        res.writeHead(500).end(String(e));
      }
    });
  });
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", () => resolve()));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen, close: () => new Promise((resolve) => s.close(() => resolve())) };
}

const json = (res: http.ServerResponse, status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

const N8N_KEY = "n8n-test-key";
const polls = new Map<string, number>();
let n8nSrv: Awaited<ReturnType<typeof server>>;
let makeSrv: Awaited<ReturnType<typeof server>>;
let kestraSrv: Awaited<ReturnType<typeof server>>;
const KESTRA_AUTH = "Basic " + Buffer.from("admin@kestra.io:kestra").toString("base64");

beforeAll(async () => {
  n8nSrv = await server((req, res) => {
    const url = new URL(req.path, "http://x");
    if (url.pathname.startsWith("/webhook/")) {
      if (req.method !== "POST" || req.headers["content-type"] !== "application/json") return json(res, 400, { message: "expected a JSON POST" });
      if (url.pathname === "/webhook/lead-intake") return json(res, 200, { message: "Workflow was started" });
      if (url.pathname === "/webhook/answer") return json(res, 200, { ok: true, got: JSON.parse(req.body.toString()) });
      return json(res, 404, { code: 404, message: `The requested webhook "POST ${url.pathname.slice(9)}" is not registered.` });
    }
    if (req.headers["x-n8n-api-key"] !== N8N_KEY) return json(res, 401, { message: "unauthorized" });
    if (url.pathname === "/api/v1/workflows/wf1") {
      return json(res, 200, { id: "wf1", name: "Lead intake", active: true, nodes: [
        { name: "Webhook", type: "n8n-nodes-base.webhook", webhookId: "0f5c", parameters: { path: "lead-intake", httpMethod: "POST", responseMode: "onReceived" } },
        { name: "Set", type: "n8n-nodes-base.set", parameters: {} },
      ] });
    }
    if (url.pathname === "/api/v1/workflows/wf-off") return json(res, 200, { id: "wf-off", name: "Off", active: false, nodes: [{ type: "n8n-nodes-base.webhook", parameters: { path: "off", httpMethod: "POST" } }] });
    if (url.pathname === "/api/v1/workflows") {
      if (url.searchParams.get("cursor") === "page2") return json(res, 200, { data: [{ id: "wf3", name: "Third", active: false }], nextCursor: null });
      return json(res, 200, { data: [{ id: "wf1", name: "Lead intake", active: true, tags: [{ id: "t1", name: "crm" }] }, { id: "wf2", name: "Enrich", active: true }], nextCursor: "page2" });
    }
    const m = /^\/api\/v1\/executions\/(\w+)$/.exec(url.pathname);
    if (m) {
      if (m[1] === "404") return json(res, 404, { message: "Not Found" });
      const n = (polls.get(m[1]) ?? 0) + 1;
      polls.set(m[1], n);
      const done = m[1] !== "forever" && n >= 3;
      return json(res, 200, {
        id: m[1], workflowId: "wf1", mode: "webhook", finished: done, startedAt: "2026-01-01T10:00:00.000Z", stoppedAt: done ? "2026-01-01T10:00:05.000Z" : null,
        status: done ? "success" : "running",
        data: done ? { resultData: { lastNodeExecuted: "Set", runData: { Set: [{ data: { main: [[{ json: { leadId: "L1", score: 87 } }]] } }] } } } : { resultData: { runData: {} } },
      });
    }
    json(res, 404, { message: "not found" });
  });

  makeSrv = await server((req, res) => {
    if (req.path === "/hook/queue") return void res.writeHead(200, { "content-type": "text/plain" }).end("Accepted");
    if (req.path === "/hook/respond") return json(res, 200, { received: JSON.parse(req.body.toString()) });
    res.writeHead(410, { "content-type": "text/plain" }).end("There is no scenario listening for this webhook.");
  });

  kestraSrv = await server(async (req, res) => {
    if (req.headers.authorization !== KESTRA_AUTH) return json(res, 401, { message: "Unauthorized" });
    const url = new URL(req.path, "http://x");
    if (req.method === "POST" && url.pathname === "/api/v1/main/executions/company.team/hello") {
      // The documented shape: inputs as multipart/form-data fields.
      if (!String(req.headers["content-type"]).startsWith("multipart/form-data; boundary=")) return json(res, 415, { message: "multipart expected" });
      const form = await new Response(req.body, { headers: { "content-type": String(req.headers["content-type"]) } }).formData();
      const inputs = Object.fromEntries([...form.entries()].map(([k, v]) => [k, String(v)]));
      return json(res, 200, {
        id: "4wjtkzwVGBM9yKnjm3yv8r", namespace: "company.team", flowId: "hello", flowRevision: 1, inputs,
        state: { current: "CREATED", histories: [{ state: "CREATED", date: "2026-01-01T10:00:00.000000001Z" }], startDate: "2026-01-01T10:00:00.000000001Z" },
      });
    }
    const m = /^\/api\/v1\/main\/executions\/(\w+)$/.exec(url.pathname);
    if (req.method === "GET" && m) {
      const n = (polls.get(`k-${m[1]}`) ?? 0) + 1;
      polls.set(`k-${m[1]}`, n);
      const current = n < 2 ? "RUNNING" : "SUCCESS";
      return json(res, 200, { id: m[1], namespace: "company.team", flowId: "hello", state: { current, startDate: "2026-01-01T10:00:00.1Z", ...(current === "SUCCESS" ? { endDate: "2026-01-01T10:00:03.2Z" } : {}) }, outputs: current === "SUCCESS" ? { greeting: "hello Ada" } : {} });
    }
    if (req.method === "GET" && url.pathname === "/api/v1/main/flows/search") {
      const ns = url.searchParams.get("namespace");
      const flows = [{ id: "hello", namespace: "company.team", revision: 3, disabled: false }, { id: "nightly", namespace: "company.ops", revision: 1, disabled: true }];
      const results = flows.filter((f) => !ns || f.namespace === ns).slice(0, Number(url.searchParams.get("size")));
      return json(res, 200, { results, total: results.length });
    }
    json(res, 404, { message: "Not Found" });
  });

  t = await startTestStack({
    WEBHOOK_ALLOW_PRIVATE: "true",
    N8N_BASE_URL: n8nSrv.url,
    N8N_API_KEY: N8N_KEY,
    KESTRA_BASE_URL: kestraSrv.url,
    KESTRA_USERNAME: "admin@kestra.io",
    KESTRA_PASSWORD: "kestra",
    WORKFLOW_POLL_MAX_INTERVAL_MS: "100",
    WORKFLOW_HTTP_TIMEOUT_MS: "3000",
  });
  tenant = await t.tenant(1000);
  token = t.token(tenant);
});
afterAll(async () => {
  await t?.close();
  await Promise.all([n8nSrv?.close(), makeSrv?.close(), kestraSrv?.close()]);
});

async function run(type: string, inputs: Record<string, unknown>, tok = token) {
  const res = await t.request("POST", `/agents/${A}/tasks`, { token: tok, body: { type, inputs } });
  expect(res.status).toBe(202);
  return t.waitForStatus(tok, A, res.body.taskId, ["completed", "failed", "timeout", "cancelled"]);
}

test("n8n: a webhook URL is POSTed the payload as JSON", async () => {
  const done = await run("triggerWorkflow", { engine: "n8n", webhookUrl: `${n8nSrv.url}/webhook/answer`, payload: { leadId: "L1" }, wait: true });
  expect(done.status).toBe("completed");
  expect(done.outputs).toEqual({ engine: "n8n", status: "succeeded", response: { ok: true, got: { leadId: "L1" } }, creditsUsed: 1 });
  const started = await run("triggerWorkflow", { engine: "n8n", webhookUrl: `${n8nSrv.url}/webhook/lead-intake`, payload: {} });
  expect(started.outputs).toMatchObject({ status: "queued", response: { message: "Workflow was started" } });
});

test("n8n: a workflow id is triggered through its Webhook node, found with the API key", async () => {
  const before = n8nSrv.seen.length;
  const done = await run("triggerWorkflow", { engine: "n8n", workflowId: "wf1", payload: { leadId: "L2" } });
  expect(done.outputs).toMatchObject({ engine: "n8n", status: "queued", workflowId: "wf1", workflowName: "Lead intake" });
  const calls = n8nSrv.seen.slice(before);
  expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(["GET /api/v1/workflows/wf1", "POST /webhook/lead-intake"]);
  expect(calls[0].headers["x-n8n-api-key"]).toBe(N8N_KEY);
  expect(JSON.parse(calls[1].body.toString())).toEqual({ leadId: "L2" });

  const inactive = await run("triggerWorkflow", { engine: "n8n", workflowId: "wf-off" });
  expect(inactive.error).toMatchObject({ code: "workflow_inactive" });
  const unknown = await run("triggerWorkflow", { engine: "n8n", webhookUrl: `${n8nSrv.url}/webhook/nope` });
  expect(unknown.error.code).toBe("workflow_not_found");
  expect(unknown.error.message).toMatch(/not registered/);
});

test("n8n: getWorkflowRun follows an execution to its end; listWorkflows pages through the API", async () => {
  const run1 = await run("getWorkflowRun", { engine: "n8n", runId: "1001", waitForEnd: true });
  expect(run1.outputs).toMatchObject({
    engine: "n8n", runId: "1001", status: "succeeded", engineStatus: "success",
    startedAt: "2026-01-01T10:00:00.000Z", finishedAt: "2026-01-01T10:00:05.000Z",
    outputs: { lastNodeExecuted: "Set", items: [{ leadId: "L1", score: 87 }] },
  });
  expect(polls.get("1001")).toBe(3);
  const once = await run("getWorkflowRun", { engine: "n8n", runId: "1002" });
  expect(once.outputs).toMatchObject({ status: "running" });

  const list = await run("listWorkflows", { engine: "n8n", limit: 10 });
  expect(list.outputs).toEqual({ engine: "n8n", workflows: [
    { id: "wf1", name: "Lead intake", active: true, tags: ["crm"] },
    { id: "wf2", name: "Enrich", active: true },
    { id: "wf3", name: "Third", active: false },
  ], creditsUsed: 0.1 });
});

test("Make: the scenario webhook answers Accepted (queued) or the Webhook response module's body", async () => {
  const queued = await run("triggerWorkflow", { engine: "make", webhookUrl: `${makeSrv.url}/hook/queue`, payload: { a: 1 } });
  expect(queued.outputs).toEqual({ engine: "make", status: "queued", response: { accepted: true }, creditsUsed: 1 });
  expect(JSON.parse(makeSrv.seen[0].body.toString())).toEqual({ a: 1 });
  const answered = await run("triggerWorkflow", { engine: "make", webhookUrl: `${makeSrv.url}/hook/respond`, payload: { b: 2 } });
  expect(answered.outputs).toMatchObject({ status: "succeeded", response: { received: { b: 2 } } });
  const gone = await run("triggerWorkflow", { engine: "make", webhookUrl: `${makeSrv.url}/hook/deleted` });
  expect(gone.error.code).toBe("workflow_not_found");
  expect(gone.error.message).toMatch(/no scenario listening/);
  const list = await run("listWorkflows", { engine: "make" });
  expect(list.error.code).toBe("list_not_supported");
  const follow = await run("getWorkflowRun", { engine: "make", runId: "x" });
  expect(follow.error.code).toBe("not_supported");
});

test("Kestra: an execution is created with multipart inputs and basic auth, then followed to SUCCESS", async () => {
  const done = await run("triggerWorkflow", { engine: "kestra", namespace: "company.team", flowId: "hello", payload: { user: "Ada", count: 3, tags: ["a", "b"] }, wait: true });
  expect(done.status).toBe("completed");
  expect(done.outputs).toMatchObject({ engine: "kestra", runId: "4wjtkzwVGBM9yKnjm3yv8r", status: "succeeded", engineStatus: "SUCCESS", response: { greeting: "hello Ada" } });
  const post = kestraSrv.seen.find((r) => r.method === "POST")!;
  expect(post.path).toBe("/api/v1/main/executions/company.team/hello");
  expect(post.headers.authorization).toBe(KESTRA_AUTH);
  const form = await new Response(post.body, { headers: { "content-type": String(post.headers["content-type"]) } }).formData();
  expect(Object.fromEntries(form.entries())).toEqual({ user: "Ada", count: "3", tags: '["a","b"]' });

  const noWait = await run("triggerWorkflow", { engine: "kestra", namespace: "company.team", flowId: "hello", payload: {} });
  expect(noWait.outputs).toMatchObject({ status: "queued", engineStatus: "CREATED" });

  const followed = await run("getWorkflowRun", { engine: "kestra", runId: "exec42", waitForEnd: true });
  expect(followed.outputs).toMatchObject({ runId: "exec42", status: "succeeded", startedAt: "2026-01-01T10:00:00.100Z", finishedAt: "2026-01-01T10:00:03.200Z" });

  const flows = await run("listWorkflows", { engine: "kestra", namespace: "company.team" });
  expect(flows.outputs).toEqual({ engine: "kestra", workflows: [{ id: "hello", name: "hello", namespace: "company.team", active: true, revision: 3 }], creditsUsed: 0.1 });
});

test("a 401 from the engine is a clear failed task, not retried", async () => {
  const other = await t.tenant(100);
  await t.owner.query("UPDATE tenants SET settings = $2 WHERE id = $1", [other, { workflows: { n8n: { baseUrl: n8nSrv.url, apiKey: "wrong" }, kestra: { baseUrl: kestraSrv.url, username: "admin@kestra.io", password: "nope" } } }]);
  const tok = t.token(other);
  const n = await run("listWorkflows", { engine: "n8n" }, tok);
  expect(n.status).toBe("failed");
  expect(n.error.code).toBe("engine_unauthorized");
  expect(n.error.message).toMatch(/n8n answered 401.*settings\.workflows\.n8n/);
  const k = await run("triggerWorkflow", { engine: "kestra", namespace: "company.team", flowId: "hello" }, tok);
  expect(k.error.code).toBe("engine_unauthorized");
  expect((await t.owner.query("SELECT attempts FROM tasks WHERE id = $1", [k.taskId])).rows[0].attempts).toBe(1);
  // The tenant's own base URL with the operator's key would leak the key: a tenant URL brings its own key.
  await t.owner.query("UPDATE tenants SET settings = $2 WHERE id = $1", [other, { workflows: { n8n: { baseUrl: n8nSrv.url } } }]);
  const noKey = await run("listWorkflows", { engine: "n8n" }, tok);
  expect(noKey.error.code).toBe("engine_not_configured");
});

test("an unreachable engine is retryable: the task is retried, then fails clearly", async () => {
  const closed = await server(() => undefined);
  await closed.close();
  const done = await run("triggerWorkflow", { engine: "n8n", webhookUrl: `${closed.url}/webhook/x` });
  expect(done.status).toBe("failed");
  expect(done.error.code).toBe("engine_unreachable");
  expect(done.error.message).toMatch(/unreachable.*ECONNREFUSED/);
  expect((await t.owner.query("SELECT attempts FROM tasks WHERE id = $1", [done.taskId])).rows[0].attempts).toBe(3);
});

test("webhook URLs pass the URL policy; waiting honours cancel", async () => {
  const refused = await run("triggerWorkflow", { engine: "make", webhookUrl: "ftp://127.0.0.1/hook" });
  expect(refused.error.code).toBe("url_refused");

  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "getWorkflowRun", inputs: { engine: "n8n", runId: "forever", waitForEnd: true } } });
  await t.waitForStatus(token, A, res.body.taskId, ["working"]);
  const before = Date.now();
  await t.request("POST", `/agents/${A}/tasks/${res.body.taskId}/cancel`, { token, body: {} });
  const cancelled = await t.waitForStatus(token, A, res.body.taskId, ["cancelled"]);
  expect(cancelled.status).toBe("cancelled");
  const pollsAtCancel = polls.get("forever")!;
  await new Promise((r) => setTimeout(r, 400));
  expect(polls.get("forever")).toBe(pollsAtCancel); // the poller stopped
  expect(Date.now() - before).toBeLessThan(5000);
});
