/**
 * A2A 1.0 interop, through the SDK's own client (ClientFactory.createFromUrl) against a running
 * gateway and workers, for both bindings: blocking and non-blocking SendMessage, streaming,
 * GetTask, ListTasks, CancelTask, SubscribeToTask, errors, and the tenant rule.
 */
import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import type { Client } from "@a2a-js/sdk/client";
import { TaskState, type Message, type StreamResponse, type Task } from "@a2a-js/sdk";
import { a2aClient, skillMessage, type Binding } from "./support/a2a";
import { startTestStack, type TestStack } from "./support/harness";
import { tenantBalance, updateTenantSettings } from "../src/tasks/tenants";

let t: TestStack;
let tenant: string;
let token: string;
const A = "test-agent";

beforeAll(async () => {
  t = await startTestStack();
  tenant = await t.tenant(1000);
  token = t.token(tenant);
});
afterAll(async () => t?.close());

const clientFor = (binding: Binding, tok = token): Promise<Client> => a2aClient(t.url, A, tok, binding);
const message = skillMessage;

const send = (client: Client, msg: Message, returnImmediately = false) =>
  client.sendMessage({ tenant: "", message: msg, configuration: { acceptedOutputModes: [], taskPushNotificationConfig: undefined, returnImmediately }, metadata: {} });

const asTask = (r: unknown) => r as Task;
const ledger = async (taskId: string) => (await t.owner.query("SELECT kind FROM credit_ledger WHERE task_id = $1", [taskId])).rows;
const dataOf = (task: Task) => (task.artifacts[0]?.parts[0]?.content as { value: unknown } | undefined)?.value;

test("the agent card is derived from the DealScale card and served at the well-known path", async () => {
  const res = await fetch(`${t.url}/agents/data-engineer/.well-known/agent-card.json`);
  expect(res.status).toBe(200);
  const card = (await res.json()) as any;
  expect(card.name).toBe("DealScale Data Engineer");
  expect(card.skills.map((s: any) => s.id)).toEqual(["enrichLeads", "dedupeLeads", "validateLeads", "importLeads"]);
  // A skill's name is the capability's human name; its tags hold both agent ids and the capability's tags.
  expect(card.skills[0]).toMatchObject({ name: "Enrich Leads", tags: ["DataEngineer", "data-engineer", "enrichment", "data"] });
  expect(card.capabilities).toMatchObject({ streaming: true, pushNotifications: true });
  const ext = card.capabilities.extensions[0];
  expect(ext.params.capabilities.enrichLeads.inputSchema.required).toContain("leadIds");
  expect(ext.params.capabilities.enrichLeads.pricing).toMatchObject({ creditsPerLead: 1 });
  expect(ext.params.invocation.skill).toMatch(/metadata.skill/);
  expect(card.securitySchemes.bearer.httpAuthSecurityScheme).toMatchObject({ scheme: "Bearer", bearerFormat: "JWT" });
  expect(card.supportedInterfaces).toEqual([
    expect.objectContaining({ url: `${t.url}/agents/data-engineer/a2a/jsonrpc`, protocolBinding: "JSONRPC", protocolVersion: "1.0" }),
    expect.objectContaining({ url: `${t.url}/agents/data-engineer/a2a/rest`, protocolBinding: "HTTP+JSON", protocolVersion: "1.0" }),
  ]);
});

describe.each(["JSONRPC", "HTTP+JSON"] as const)("over %s", (binding) => {
  test("a blocking SendMessage runs the skill and returns the completed task with its outputs artifact", async () => {
    const client = await clientFor(binding);
    const before = await tenantBalance(t.owner, tenant);
    const task = asTask(await send(client, message("echo", { leadIds: ["a", "b"], message: "hi" })));
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(task.artifacts[0].artifactId).toBe("outputs");
    expect(dataOf(task)).toEqual({ echoed: { leadIds: ["a", "b"], message: "hi" }, creditsUsed: 0.5 });
    const row = (await t.owner.query("SELECT status, context_id, credits_used_milli::int AS used FROM tasks WHERE id = $1", [task.id])).rows[0];
    expect(row).toEqual({ status: "completed", context_id: task.contextId, used: 500 });
    expect(await tenantBalance(t.owner, tenant)).toBe(before! - 0.5);
  });

  test("returnImmediately answers with the task at once; GetTask follows it to completion", async () => {
    const client = await clientFor(binding);
    const first = asTask(await send(client, message("slow", { ms: 400, steps: 2 }), true));
    expect([TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING]).toContain(first.status?.state);
    let task = first;
    for (let i = 0; i < 100 && task.status?.state !== TaskState.TASK_STATE_COMPLETED; i++) {
      await new Promise((r) => setTimeout(r, 50));
      task = await client.getTask({ tenant: "", id: first.id } as never);
    }
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(dataOf(task)).toMatchObject({ sleptMs: 400 });
    expect(task.history[0].messageId).toBeTruthy();
  });

  test("a non-blocking send holds no live subscription for its task, and GetTask sees its completion at once", async () => {
    const client = await clientFor(binding);
    const first = asTask(await send(client, message("slow", { ms: 300, steps: 1 }), true));
    // The answer's call is over: nothing of it follows the task on Redis (a blocking call's bus would).
    const redis = new Redis(process.env.REDIS_URL || "redis://127.0.0.1:6379");
    try {
      const [, subscribers] = (await redis.pubsub("NUMSUB", `dealscale:task:${first.id}`)) as [string, number];
      expect(Number(subscribers)).toBe(0);
    } finally {
      redis.disconnect();
    }
    await t.waitForStatus(token, A, first.id, ["completed"]);
    // No snapshot of the submitted task is left to answer for it.
    const now = await client.getTask({ tenant: "", id: first.id } as never);
    expect(now.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(dataOf(now)).toMatchObject({ sleptMs: 300 });
  });

  test("SendStreamingMessage streams the task, progress, the outputs artifact and the final status", async () => {
    const client = await clientFor(binding);
    const events: StreamResponse[] = [];
    for await (const e of client.sendMessageStream({ tenant: "", message: message("slow", { ms: 300, steps: 3 }), configuration: undefined, metadata: {} } as never)) events.push(e);
    const cases = events.map((e) => e.payload?.$case);
    expect(cases[0]).toBe("task");
    expect(cases).toContain("statusUpdate");
    expect(cases).toContain("artifactUpdate");
    const last = events[events.length - 1].payload as { $case: "statusUpdate"; value: { status: { state: TaskState } } };
    expect(last.$case).toBe("statusUpdate");
    expect(last.value.status.state).toBe(TaskState.TASK_STATE_COMPLETED);
    const progress = events.filter((e) => e.payload?.$case === "statusUpdate" && (e.payload.value.metadata as any)?.dealscale?.progress !== undefined);
    expect(progress.length).toBeGreaterThanOrEqual(2);
  });

  test("CancelTask stops a running task, refunds it, and a second cancel of a finished task is TaskNotCancelable", async () => {
    const client = await clientFor(binding);
    const before = await tenantBalance(t.owner, tenant);
    const started = asTask(await send(client, message("slow", { ms: 5000, steps: 10 }), true));
    await t.waitForStatus(token, A, started.id, ["working"]);
    const cancelled = await client.cancelTask({ tenant: "", id: started.id, metadata: {} } as never);
    expect(cancelled.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    expect((await t.owner.query("SELECT status FROM tasks WHERE id = $1", [started.id])).rows[0].status).toBe("cancelled");
    expect(await tenantBalance(t.owner, tenant)).toBe(before);

    const done = asTask(await send(client, message("noop", {})));
    const err = await client.cancelTask({ tenant: "", id: done.id, metadata: {} } as never).then(() => null, (e) => e);
    expect(err?.name).toBe("TaskNotCancelableError");
    if (binding === "JSONRPC") expect(err.envelopeCode).toBe(-32002);
  });

  test("GetTask of an unknown task is TaskNotFound", async () => {
    const client = await clientFor(binding);
    const err = await client.getTask({ tenant: "", id: randomUUID() } as never).then(() => null, (e) => e);
    expect(err?.name).toBe("TaskNotFoundError");
    if (binding === "JSONRPC") expect(err.envelopeCode).toBe(-32001);
    else expect(err.statusCode).toBe(404);
  });

  test("a failed task carries its error code and message", async () => {
    const client = await clientFor(binding);
    const task = asTask(await send(client, message("fail", {})));
    expect(task.status?.state).toBe(TaskState.TASK_STATE_FAILED);
    const parts = task.status?.message?.parts ?? [];
    expect((parts[0].content as { value: string }).value).toBe("boom: the test capability failed on purpose");
    expect((parts[1].content as { value: unknown }).value).toEqual({ code: "boom", message: "the test capability failed on purpose" });
  });

  test("inputs that break the skill's schema, or an unknown skill, are refused before any task exists", async () => {
    const client = await clientFor(binding);
    const before = (await t.owner.query("SELECT count(*)::int AS n FROM tasks")).rows[0].n;
    const bad = await send(client, message("slow", { ms: "soon" })).then(() => null, (e) => e);
    expect(bad?.message).toMatch(/\/inputs\/ms/);
    if (binding === "JSONRPC") expect(bad.envelopeCode).toBe(-32602);
    else expect(bad.statusCode).toBe(400);
    const unknown = await send(client, message("juggle", {})).then(() => null, (e) => e);
    expect(unknown?.message).toMatch(/juggle/);
    expect((await t.owner.query("SELECT count(*)::int AS n FROM tasks")).rows[0].n).toBe(before);
  });

  test("a tenant without enough credits is refused with the numbers (402)", async () => {
    const poor = await t.tenant(0.2);
    const client = await clientFor(binding, t.token(poor));
    const err = await send(client, message("noop", {})).then(() => null, (e) => e);
    expect(err?.message).toMatch(/needs 1 credits, tenant has 0.2/);
    if (binding === "JSONRPC") expect(err.envelopeCode).toBe(402);
    else expect(err.statusCode).toBe(402);
  });

  test("the same messageId sent twice returns the task it created", async () => {
    const client = await clientFor(binding);
    const msg = message("noop", { n: 7 });
    const a = asTask(await send(client, msg));
    const b = asTask(await send(client, { ...msg }));
    expect(b.id).toBe(a.id);
  });

  test("ListTasks lists the tenant's tasks and filters by context", async () => {
    const client = await clientFor(binding);
    const contextId = randomUUID();
    const a = asTask(await send(client, message("noop", { n: 1 }, { contextId })));
    const b = asTask(await send(client, message("noop", { n: 2 }, { contextId })));
    const res = await client.listTasks({ tenant: "", contextId, status: TaskState.TASK_STATE_UNSPECIFIED, pageSize: 10, pageToken: "", statusTimestampAfter: undefined });
    expect(res.tasks.map((x: Task) => x.id).sort()).toEqual([a.id, b.id].sort());
    expect(res.totalSize).toBe(2);
  });

  test("SubscribeToTask on a running task follows it to the end", async () => {
    const client = await clientFor(binding);
    const started = asTask(await send(client, message("slow", { ms: 600, steps: 3 }), true));
    const events: StreamResponse[] = [];
    for await (const e of client.resubscribeTask({ tenant: "", id: started.id } as never)) events.push(e);
    expect(events[0].payload?.$case).toBe("task");
    const last = events[events.length - 1].payload as { $case: string; value: { status?: { state: TaskState } } };
    expect(last.value.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
  });

  // a2a-tck: a generic A2A client knows nothing of metadata.skill.
  test("a skill named in the content runs without our extension: a data part {skill, inputs}, or a text part holding that JSON", async () => {
    const client = await clientFor(binding);
    const bare = (parts: Message["parts"]) => ({ ...message("unused", {}), metadata: {}, parts });
    const viaData = asTask(await send(client, bare([{ content: { $case: "data", value: { skill: "echo", inputs: { leadIds: ["a"], message: "data" } } }, mediaType: "", filename: "", metadata: {} }])));
    expect(viaData.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(dataOf(viaData)).toMatchObject({ echoed: { message: "data" } });
    const viaText = asTask(await send(client, bare([{ content: { $case: "text", value: JSON.stringify({ skill: "echo", inputs: { leadIds: ["b"], message: "text" } }) }, mediaType: "", filename: "", metadata: {} }])));
    expect(dataOf(viaText)).toMatchObject({ echoed: { message: "text" } });
  });

  // a2a-tck CORE-SEND-001, CORE-MULTI-*: a bare text message gets a task that asks which skill to run.
  test("a message naming no skill gets a task in INPUT_REQUIRED that lists the skills; the next message on it names one and runs it", async () => {
    const client = await clientFor(binding);
    const before = await tenantBalance(t.owner, tenant);
    const text = (value: string, taskId = "") => ({ ...message("unused", {}), metadata: {}, taskId, parts: [{ content: { $case: "text" as const, value }, mediaType: "", filename: "", metadata: {} }] });
    const asked = asTask(await send(client, text("hello agent")));
    expect(asked.status?.state).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);
    const question = asked.status?.message?.parts ?? [];
    expect((question[0].content as { value: string }).value).toMatch(new RegExp(`Which skill should run\\? Name one of noop, echo.*taskId ${asked.id}`));
    const offered = (question[1].content as { value: { skills: { id: string; inputSchema: unknown }[] } }).value.skills;
    expect(offered.find((k) => k.id === "echo")?.inputSchema).toMatchObject({ type: "object" });
    // Nothing reserved while it waits; its creation is audited as such.
    expect(await tenantBalance(t.owner, tenant)).toBe(before);
    const audited = (await t.owner.query("SELECT event_type FROM audit_logs WHERE task_id = $1", [asked.id])).rows;
    expect(audited).toEqual([{ event_type: "task_awaiting_input" }]);
    expect((await client.getTask({ tenant: "", id: asked.id } as never)).status?.state).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);
    const rest = await t.request("GET", `/agents/${A}/tasks/${asked.id}`, { token });
    expect(rest.body).toMatchObject({ status: "input-required", type: "", creditsReserved: 0, inputRequest: { skills: expect.any(Array) } });

    // Asked again without a skill, it keeps waiting.
    const still = asTask(await send(client, text("still thinking", asked.id)));
    expect(still).toMatchObject({ id: asked.id, status: { state: TaskState.TASK_STATE_INPUT_REQUIRED } });
    // Named: the same task runs the skill, charged as any task.
    const named = asTask(await send(client, text(JSON.stringify({ skill: "echo", inputs: { leadIds: ["a", "b"], message: "at last" } }), asked.id)));
    expect(named).toMatchObject({ id: asked.id, contextId: asked.contextId, status: { state: TaskState.TASK_STATE_COMPLETED } });
    expect(dataOf(named)).toMatchObject({ echoed: { message: "at last" } });
    expect(await tenantBalance(t.owner, tenant)).toBe(before! - 0.5);
    const row = (await t.owner.query("SELECT type, status, input_request FROM tasks WHERE id = $1", [asked.id])).rows[0];
    expect(row).toEqual({ type: "echo", status: "completed", input_request: null });
    // Ended, it takes no further message.
    const late = await send(client, text("one more", asked.id)).then(() => null, (e) => e);
    expect(late?.name).toBe("UnsupportedOperationError");
  });

  // Issue 15: where a skill can ask instead of fail, it asks (input-required) for the inputs it lacks.
  test("a skill named without an input it needs asks for it on the same task; the answer's inputs join those given before", async () => {
    const client = await clientFor(binding);
    const text = (value: string, taskId = "") => ({ ...message("unused", {}), metadata: {}, taskId, parts: [{ content: { $case: "text" as const, value }, mediaType: "", filename: "", metadata: {} }] });
    const asked = asTask(await send(client, text("hello")));
    const named = asTask(await send(client, text(JSON.stringify({ skill: "slow", inputs: { steps: 1, marker: "kept" } }), asked.id)));
    expect(named).toMatchObject({ id: asked.id, status: { state: TaskState.TASK_STATE_INPUT_REQUIRED } });
    const question = named.status?.message?.parts ?? [];
    expect((question[0].content as { value: string }).value).toMatch(new RegExp(`^slow needs inputs.ms: send it in a data part \\{"ms": \\.\\.\\.\\}.*taskId ${asked.id}`));
    expect((question[1].content as { value: unknown }).value).toMatchObject({ skill: "slow", missing: ["ms"], inputs: { steps: 1, marker: "kept" }, inputSchema: { required: ["ms"] } });
    const row = (await t.owner.query("SELECT type, status, credits_reserved_milli::int AS reserved FROM tasks WHERE id = $1", [asked.id])).rows[0];
    expect(row).toEqual({ type: "slow", status: "input-required", reserved: 0 });
    // The answer: just the missing input, in a data part.
    const done = asTask(await send(client, { ...text("", asked.id), parts: [{ content: { $case: "data", value: { ms: 20 } }, mediaType: "", filename: "", metadata: {} }] }));
    expect(done).toMatchObject({ id: asked.id, status: { state: TaskState.TASK_STATE_COMPLETED } });
    expect(dataOf(done)).toMatchObject({ sleptMs: 20 });
    expect((await t.owner.query("SELECT inputs FROM tasks WHERE id = $1", [asked.id])).rows[0].inputs).toEqual({ steps: 1, marker: "kept", ms: 20 });
    const audited = (await t.owner.query("SELECT event_type FROM audit_logs WHERE task_id = $1 ORDER BY seq", [asked.id])).rows.map((r) => r.event_type);
    expect(audited).toEqual(["task_awaiting_input", "task_awaiting_input", "task_created", "task_completed"]);
    // A first message that names the skill but lacks the input gets a task that asks for it.
    const direct = asTask(await send(client, message("slow", { steps: 1 })));
    expect(direct.status?.state).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);
    // An input of the wrong type is still refused: only absent inputs are asked for.
    const bad = await send(client, message("slow", { ms: "soon" })).then(() => null, (e) => e);
    expect(bad?.message).toMatch(/\/inputs\/ms/);
  });

  test("a task waiting for its skill can be cancelled: nothing was reserved, nothing is refunded", async () => {
    const client = await clientFor(binding);
    const asked = asTask(await send(client, { ...message("unused", {}), metadata: {}, parts: [{ content: { $case: "text", value: "hi" }, mediaType: "", filename: "", metadata: {} }] }));
    const cancelled = await client.cancelTask({ tenant: "", id: asked.id } as never);
    expect(cancelled.status?.state).toBe(TaskState.TASK_STATE_CANCELED);
    expect(await ledger(asked.id)).toEqual([]);
  });

  // a2a-tck CORE-SEND / JSONRPC-ERR: ContentTypeNotSupported for a part we take no content of.
  test("a part of a kind the agent takes no content of is ContentTypeNotSupported (-32005 / 415)", async () => {
    const client = await clientFor(binding);
    const file = { ...message("echo", {}), parts: [{ content: { $case: "url", value: "https://example.com/leads.csv" }, mediaType: "text/csv", filename: "leads.csv", metadata: {} }] } as Message;
    const err = await send(client, file).then(() => null, (e) => e);
    expect(err?.name).toBe("ContentTypeNotSupportedError");
    if (binding === "JSONRPC") expect(err.envelopeCode).toBe(-32005);
    else expect(err.statusCode).toBe(415);
  });

  // a2a-tck: a message naming a task is a follow-up, answered by the spec's errors.
  test("a message naming an unknown task is TaskNotFound; naming a finished one, UnsupportedOperation", async () => {
    const client = await clientFor(binding);
    const unknown = await send(client, message("noop", {}, { taskId: randomUUID() })).then(() => null, (e) => e);
    expect(unknown?.name).toBe("TaskNotFoundError");
    if (binding === "JSONRPC") expect(unknown.envelopeCode).toBe(-32001);
    else expect(unknown.statusCode).toBe(404);
    const done = asTask(await send(client, message("noop", {})));
    const again = await send(client, message("noop", {}, { taskId: done.id })).then(() => null, (e) => e);
    expect(again?.name).toBe("UnsupportedOperationError");
    expect(again.message).toMatch(/is completed and takes no further messages/);
  });

  test("another tenant's task is not found, and a request naming another tenant is refused", async () => {
    const other = await t.tenant(10);
    const mine = asTask(await send(await clientFor(binding), message("noop", {})));
    const theirs = await clientFor(binding, t.token(other));
    const err = await theirs.getTask({ tenant: "", id: mine.id } as never).then(() => null, (e) => e);
    expect(err?.name).toBe("TaskNotFoundError");
    const named = await theirs.getTask({ tenant, id: mine.id } as never).then(() => null, (e) => e);
    expect(named).not.toBeNull();
    expect(String(named.message)).toMatch(/another tenant|403/);
  });
});

// a2a-tck JSONRPC-ERR-003 / HTTP_JSON-ERR-002: every refusal carries a google.rpc.ErrorInfo.
test("gateway refusals keep their HTTP status and carry ErrorInfo (reason, domain, metadata) on both bindings", async () => {
  const rpc = await fetch(`${t.url}/agents/${A}/a2a/jsonrpc`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer nope" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 3, method: "GetTask", params: { id: "x" } }),
  });
  expect(rpc.status).toBe(401);
  expect(((await rpc.json()) as any).error).toMatchObject({
    code: 401,
    data: [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "UNAUTHORIZED", domain: "dealscale.io", metadata: { code: "unauthorized" } }],
  });
  const rest = await fetch(`${t.url}/agents/${A}/a2a/rest/message:send`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ message: { messageId: "m", role: "ROLE_USER", parts: [null] } }),
  });
  expect(rest.status).toBe(400);
  expect(((await rest.json()) as any).error).toMatchObject({ code: 400, status: "INVALID_ARGUMENT", details: [{ reason: "INVALID_INPUT", domain: "dealscale.io" }] });
  // Through the SDK: our ErrorInfo, not the generic INVALID_PARAMS one.
  const poor = await t.tenant(0.2);
  const credits = await fetch(`${t.url}/agents/${A}/a2a/jsonrpc`, {
    method: "POST",
    headers: { "content-type": "application/json", "a2a-version": "1.0", authorization: `Bearer ${t.token(poor)}` },
    body: JSON.stringify({ jsonrpc: "2.0", id: 4, method: "SendMessage", params: { message: { messageId: randomUUID(), role: "ROLE_USER", parts: [{ data: {} }], metadata: { skill: "noop" } } } }),
  });
  expect(((await credits.json()) as any).error).toMatchObject({ code: 402, data: [{ reason: "INSUFFICIENT_CREDITS", domain: "dealscale.io", metadata: { code: "insufficient_credits" } }] });
});

// a2a-tck JSONRPC-SSE-002 (ContentTypeNotSupported): a body that is not JSON.
test("a body that is not JSON is ContentTypeNotSupported on both bindings (-32005 / 415), not an empty request", async () => {
  for (const [path, code] of [["a2a/jsonrpc", -32005], ["a2a/rest/message:send", 415]] as const) {
    const res = await fetch(`${t.url}/agents/${A}/${path}`, { method: "POST", headers: { "content-type": "text/plain", authorization: `Bearer ${token}` }, body: "{'jsonrpc': '2.0'}" });
    expect(res.status).toBe(415);
    expect(((await res.json()) as any).error).toMatchObject({ code, [code === 415 ? "details" : "data"]: [{ reason: "CONTENT_TYPE_NOT_SUPPORTED", domain: "a2a-protocol.org" }] });
  }
});

// a2a-tck CORE-CAP (card caching): Last-Modified beside the ETag.
test("the card carries Last-Modified and answers If-Modified-Since with 304", async () => {
  const res = await fetch(`${t.url}/agents/${A}/.well-known/agent-card.json`);
  const lastModified = res.headers.get("last-modified");
  expect(Date.parse(lastModified ?? "")).toBeLessThanOrEqual(Date.now());
  expect(res.headers.get("etag")).toBeTruthy();
  // An explicit Cache-Control: with If-Modified-Since alone, fetch() adds "no-cache", which asks for a 200.
  const again = await fetch(`${t.url}/agents/${A}/.well-known/agent-card.json`, { headers: { "if-modified-since": lastModified!, "cache-control": "max-age=0" } });
  expect(again.status).toBe(304);
});

// a2a-tck HTTP_JSON-SVC-001 / HTTP_JSON-ERR-001: HTTP+JSON answers are application/json, unless a2a+json is asked for.
test("HTTP+JSON answers are labelled application/json, or application/a2a+json for a client that prefers it", async () => {
  const get = (accept?: string) => fetch(`${t.url}/agents/${A}/a2a/rest/tasks/${randomUUID()}`, { headers: { authorization: `Bearer ${token}`, "a2a-version": "1.0", ...(accept ? { accept } : {}) } });
  const plain = await get();
  expect(plain.status).toBe(404);
  expect(plain.headers.get("content-type")).toMatch(/^application\/json/);
  expect(((await plain.json()) as any).error.details[0]).toMatchObject({ reason: "TASK_NOT_FOUND" });
  expect((await get("application/a2a+json, application/json")).headers.get("content-type")).toMatch(/^application\/a2a\+json/);
});

// a2a-tck CORE-HIST-003: configuration.historyLength holds for a task answered without running (input-required).
test("a task answered at once (input-required) honours configuration.historyLength", async () => {
  const client = await clientFor("JSONRPC");
  const text = { ...message("unused", {}), metadata: {}, parts: [{ content: { $case: "text" as const, value: "hi" }, mediaType: "", filename: "", metadata: {} }] };
  const none = asTask(await client.sendMessage({ tenant: "", message: text, configuration: { acceptedOutputModes: [], returnImmediately: false, historyLength: 0 }, metadata: {} } as never));
  expect(none.status?.state).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);
  expect(none.history).toEqual([]);
  const all = asTask(await send(client, { ...text, messageId: randomUUID() }));
  expect(all.history).toHaveLength(1);
});

// Issue 15's example: a campaign without a template, for a tenant that turned the default off, asks for one.
test("launchCampaign without a template, for a tenant with no default, asks for the template instead of failing", async () => {
  const ten = await t.tenant(100);
  await updateTenantSettings(t.owner, ten, { campaignTemplate: false });
  const client = await a2aClient(t.url, "campaign-orchestrator", t.token(ten), "JSONRPC");
  const asked = asTask(await send(client, message("launchCampaign", { audienceLeadIds: [randomUUID()], campaignName: "Asked", channels: ["email"] })));
  expect(asked.status?.state).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);
  expect((asked.status?.message?.parts[1].content as { value: unknown }).value).toMatchObject({ skill: "launchCampaign", missing: ["template"] });
  expect(await tenantBalance(t.owner, ten)).toBe(100);
  const answered = asTask(await send(client, { ...message("unused", {}), metadata: {}, taskId: asked.id, parts: [{ content: { $case: "data", value: { template: { subject: "Hi", body: "Hello {{firstName}}" } } }, mediaType: "", filename: "", metadata: {} }] }));
  expect(answered.id).toBe(asked.id);
  expect(answered.status?.state).not.toBe(TaskState.TASK_STATE_INPUT_REQUIRED);
  const row = (await t.owner.query("SELECT type, inputs FROM tasks WHERE id = $1", [asked.id])).rows[0];
  expect(row).toMatchObject({ type: "launchCampaign", inputs: { campaignName: "Asked", template: { subject: "Hi", body: "Hello {{firstName}}" } } });
});

// @a2a-js/sdk 1.3's JSON-RPC client sends an absent status filter as UNRECOGNIZED.
test("ListTasks with the status filter UNRECOGNIZED lists unfiltered instead of refusing", async () => {
  const client = await clientFor("JSONRPC");
  const contextId = randomUUID();
  const a = asTask(await send(client, message("noop", { n: 3 }, { contextId })));
  const res = await client.listTasks({ tenant: "", contextId, status: TaskState.UNRECOGNIZED, pageSize: 10, pageToken: "", statusTimestampAfter: undefined });
  expect(res.tasks.map((x: Task) => x.id)).toEqual([a.id]);
});

test("a missing or forged token is refused on both bindings with 401", async () => {
  for (const path of ["a2a/jsonrpc", "a2a/rest/tasks/x"]) {
    const res = await fetch(`${t.url}/agents/${A}/${path}`, {
      method: path.endsWith("jsonrpc") ? "POST" : "GET",
      headers: { "content-type": "application/json", authorization: "Bearer nope" },
      body: path.endsWith("jsonrpc") ? JSON.stringify({ jsonrpc: "2.0", id: 1, method: "GetTask", params: { id: "x" } }) : undefined,
    });
    expect(res.status).toBe(401);
  }
});

test("a blocking SendMessage reads no task row: the SDK's reloads come from the snapshots, the end state from the finish's message", async () => {
  const client = await clientFor("JSONRPC");
  const reads = jest.spyOn(t.stack.service, "getTask");
  try {
    const task = asTask(await send(client, message("slow", { ms: 100, steps: 2 })));
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    expect(reads.mock.calls.length).toBe(0);
  } finally {
    reads.mockRestore();
  }
});
