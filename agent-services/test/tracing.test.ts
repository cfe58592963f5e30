import http from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import pino from "pino";
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { SpanKind, context, trace } from "@opentelemetry/api";
import { loadConfig } from "../src/config/config";
import { startStack, type Stack } from "../src/stack";
import { ATTR, addSpanProcessor, traceMixin, tracedFetch, tracer } from "../src/lib/tracing";
import { startTestStack, sleep, type TestStack } from "./support/harness";

const A = "test-agent";
const exporter = new InMemorySpanExporter();
addSpanProcessor(new SimpleSpanProcessor(exporter));

let t: TestStack;
let s: Stack;
const lines: any[] = [];

beforeAll(async () => {
  // The harness stack only provides the database (no workers); the stack under test logs JSON to `lines`.
  t = await startTestStack({ DEALSCALE_ROLES: "gateway" });
  const sink = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n").filter(Boolean)) lines.push(JSON.parse(l));
      cb();
    },
  });
  s = await startStack(loadConfig({ ...t.env, DEALSCALE_ROLES: "gateway,worker", LOG_LEVEL: "debug" }), { log: pino({ level: "debug", mixin: traceMixin }, sink) });
});
afterAll(async () => {
  await s?.stop(0);
  await t?.close();
});

const spans = () => exporter.getFinishedSpans();
const attr = (span: ReadableSpan, name: string) => span.attributes[name];

async function waitFor<T>(what: string, fn: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function createAndRun(token: string, headers: Record<string, string>, marker: string): Promise<string> {
  const res = await fetch(`${s.url}/agents/${A}/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
    body: JSON.stringify({ type: "slow", inputs: { ms: 20, steps: 1, marker } }),
  });
  expect(res.status).toBe(202);
  const { taskId } = (await res.json()) as { taskId: string };
  await t.waitForStatus(token, A, taskId, ["completed"]);
  return taskId;
}

test("a create span and a run span share the trace id sent in traceparent, with the task id", async () => {
  const token = t.token(await t.tenant(10));
  const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
  const parentSpanId = "00f067aa0ba902b7";
  const taskId = await createAndRun(token, { traceparent: `00-${traceId}-${parentSpanId}-01` }, "traced");

  const create = await waitFor("the create span", () => spans().find((x) => x.name === "task.create" && attr(x, ATTR.taskId) === taskId));
  const run = await waitFor("the run span", () => spans().find((x) => x.name === "task.run" && attr(x, ATTR.taskId) === taskId));
  expect(create.spanContext().traceId).toBe(traceId);
  expect(create.parentSpanContext?.spanId).toBe(parentSpanId);
  expect(create.kind).toBe(SpanKind.SERVER);
  expect(create.attributes).toMatchObject({ [ATTR.agentId]: A, [ATTR.capability]: "slow" });

  expect(run.spanContext().traceId).toBe(traceId);
  expect(run.parentSpanContext?.spanId).toBe(create.spanContext().spanId);
  expect(run.kind).toBe(SpanKind.CONSUMER);
  expect(run.attributes).toMatchObject({ [ATTR.taskId]: taskId, [ATTR.agentId]: A, [ATTR.capability]: "slow", [ATTR.attempt]: 1 });

  // JSON logs carry the trace (and task) ids: the gateway's line during the request, the handler's during the run.
  const created = lines.find((l) => l.msg === "task created" && l.taskId === taskId);
  expect(created).toMatchObject({ trace_id: traceId, span_id: create.spanContext().spanId });
  const handlerLine = await waitFor("the handler's log line", () => lines.find((l) => l.msg === "slow done" && l.marker === "traced"));
  expect(handlerLine).toMatchObject({ trace_id: traceId, span_id: run.spanContext().spanId, taskId, agentId: A, capability: "slow" });
});

test("without a traceparent the create span starts a trace and the run span continues it", async () => {
  const token = t.token(await t.tenant(10));
  const taskId = await createAndRun(token, {}, "untraced");
  const create = await waitFor("the create span", () => spans().find((x) => x.name === "task.create" && attr(x, ATTR.taskId) === taskId));
  const run = await waitFor("the run span", () => spans().find((x) => x.name === "task.run" && attr(x, ATTR.taskId) === taskId));
  expect(create.parentSpanContext).toBeUndefined();
  expect(run.spanContext().traceId).toBe(create.spanContext().traceId);
  expect(lines.find((l) => l.msg === "slow done" && l.marker === "untraced")?.trace_id).toBe(create.spanContext().traceId);
});

test("a failed create is a span with the client error noted, not an error status", async () => {
  const token = t.token(await t.tenant(10));
  const res = await fetch(`${s.url}/agents/${A}/tasks`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "noop", inputs: { n: "not a number" } }),
  });
  expect(res.status).toBe(400);
  const span = await waitFor("the span", () => spans().find((x) => x.name === "task.create" && attr(x, "dealscale.error.status") === 400));
  expect(span.status.code).toBe(0); // UNSET
});

test("tracedFetch makes a client span and sends its traceparent", async () => {
  const seen: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers.traceparent as string | undefined);
    res.writeHead(req.url === "/fail" ? 503 : 200).end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.address() as AddressInfo).port;
  try {
    const outer = tracer().startSpan("outer");
    await context.with(trace.setSpan(context.active(), outer), async () => {
      expect((await tracedFetch(`http://127.0.0.1:${port}/hook?token=secret`, { method: "POST", body: "x" })).status).toBe(200);
      expect((await tracedFetch(`http://127.0.0.1:${port}/fail`)).status).toBe(503);
    });
    outer.end();
    const traceId = outer.spanContext().traceId;
    const clients = spans().filter((x) => x.kind === SpanKind.CLIENT && x.spanContext().traceId === traceId);
    expect(clients.map((c) => c.name)).toEqual(["POST", "GET"]);
    expect(clients[0].attributes).toMatchObject({
      "http.request.method": "POST",
      "url.full": `http://127.0.0.1:${port}/hook`, // no query string: it may carry keys
      "server.address": "127.0.0.1",
      "server.port": port,
      "http.response.status_code": 200,
    });
    expect(clients[1].status.code).toBe(2); // ERROR for a 5xx
    expect(seen[0]).toBe(`00-${traceId}-${clients[0].spanContext().spanId}-01`);
    expect(seen[1]).toBe(`00-${traceId}-${clients[1].spanContext().spanId}-01`);
  } finally {
    server.close();
  }
});
