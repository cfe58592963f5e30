/**
 * Fuzzed requests for both faces (the REST task API and the two A2A bindings): random JSON shaped
 * like the real bodies and not, wrong types in every field, prototype-polluting keys, deep nesting,
 * huge numbers, broken UTF-8, truncated JSON, bodies that are not JSON, wrong and lying headers
 * (content type, charset, encoding), and missing or forged tokens. Seeded, so a failure repeats.
 */
import { gzipSync } from "node:zlib";

export function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r = {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (xs) => xs[Math.floor(next() * xs.length)],
    chance: (p) => next() < p,
  };
  return r;
}

const STRINGS = ["", " ", "noop", "slow", "echo", "validateLeads", "enrichLeads", "dedupeLeads", "scoreLeads", "__proto__", "constructor", "null", "0", "-1", "1e309", "\u0000", "\ud800", "💥", "a".repeat(5000), "<script>", "' OR 1=1 --", "../../etc/passwd", "http://169.254.169.254/latest/meta-data", "file:///etc/passwd", "00000000-0000-0000-0000-000000000000"];
const NUMBERS = [0, -1, 1, 5, 10, 11, 1.5, 1e308, -1e308, 2 ** 53, Number.MAX_SAFE_INTEGER + 2, 0.0001];

function value(r, depth = 0) {
  const kind = r.int(depth > 4 ? 4 : 7);
  switch (kind) {
    case 0: return r.pick(STRINGS);
    case 1: return r.pick(NUMBERS);
    case 2: return r.chance(0.5);
    case 3: return null;
    case 4: return Array.from({ length: r.int(5) }, () => value(r, depth + 1));
    default: {
      const o = {};
      for (let i = r.int(5); i > 0; i--) o[r.pick(["type", "inputs", "priority", "leadIds", "__proto__", "constructor", "tenantId", "ms", "n", r.pick(STRINGS)])] = value(r, depth + 1);
      return o;
    }
  }
}

const maybe = (r, v) => (r.chance(0.6) ? v : value(r));

function restTaskBody(r) {
  const body = {};
  if (r.chance(0.9)) body.type = maybe(r, r.pick(["noop", "echo", "slow", "validateLeads", "dedupeLeads", "nope"]));
  if (r.chance(0.8)) body.inputs = maybe(r, r.pick([{}, { n: r.int(10) }, { leadIds: [r.pick(STRINGS)] }, { ms: r.pick(NUMBERS) }, { leads: [{ email: r.pick(STRINGS) }] }]));
  if (r.chance(0.3)) body.priority = value(r);
  if (r.chance(0.3)) body.idempotencyKey = value(r);
  if (r.chance(0.3)) body.callbackUrl = r.pick([...STRINGS, "http://127.0.0.1:1/x", "https://example.com/hook"]);
  if (r.chance(0.2)) body.tenantId = value(r);
  if (r.chance(0.1)) body[r.pick(STRINGS)] = value(r);
  return body;
}

function message(r) {
  const part = () => r.pick([
    { data: maybe(r, { n: r.int(3) }) },
    { text: maybe(r, "hello") },
    { raw: maybe(r, "aGVsbG8=") },
    { url: maybe(r, "https://example.com/f") },
    value(r),
  ]);
  return {
    messageId: maybe(r, `m-${r.int(1e9)}`),
    role: maybe(r, r.pick(["ROLE_USER", "ROLE_AGENT", "user"])),
    parts: r.chance(0.9) ? Array.from({ length: r.int(3) }, part) : value(r),
    ...(r.chance(0.7) ? { metadata: maybe(r, { skill: r.pick(["noop", "echo", "nope", "slow"]) }) } : {}),
    ...(r.chance(0.2) ? { taskId: value(r) } : {}),
  };
}

// Streaming methods (SendStreamingMessage, SubscribeToTask) are left out: a stream that stays open
// is not an answer to count.
const METHODS = ["SendMessage", "GetTask", "ListTasks", "CancelTask", "GetTaskPushNotificationConfig", "ListTaskPushNotificationConfigs", "CreateTaskPushNotificationConfig", "DeleteTaskPushNotificationConfig", "GetExtendedAgentCard", "message/send", "nope", ""];

function jsonRpcBody(r) {
  const method = maybe(r, r.pick(METHODS));
  const params = r.pick([
    { message: message(r), configuration: maybe(r, { returnImmediately: true }) },
    { id: maybe(r, "00000000-0000-4000-8000-000000000000"), name: value(r) },
    { pageSize: maybe(r, 5), status: value(r) },
    value(r),
  ]);
  const body = { jsonrpc: maybe(r, "2.0"), id: maybe(r, r.int(1000)), method, params };
  return r.chance(0.05) ? [body, body] : body;
}

const REST_A2A = ["message:send", "tasks", "tasks/00000000-0000-4000-8000-000000000000", "tasks/00000000-0000-4000-8000-000000000000:cancel", "tasks/x/pushNotificationConfigs", "extendedAgentCard", "nope"];

/** Bytes for a body: usually JSON, sometimes broken on purpose. */
function encode(r, obj) {
  const text = JSON.stringify(obj);
  switch (r.int(12)) {
    case 0: return { body: text.slice(0, Math.max(1, r.int(text.length))), note: "truncated" };
    case 1: return { body: Buffer.from([0xff, 0xfe, 0x7b, 0x22, 0xc3, 0x28, 0x22, 0x7d]), note: "invalid utf-8" };
    case 2: return { body: "[".repeat(5000) + "]".repeat(5000), note: "deep nesting" };
    case 3: return { body: gzipSync(Buffer.from(text)), headers: { "content-encoding": "gzip" }, note: "gzip" };
    case 4: return { body: Buffer.from(text), headers: { "content-encoding": r.pick(["gzip", "deflate", "br", "identity, gzip", "x-nope"]) }, note: "lying encoding" };
    case 5: return { body: text, headers: { "content-type": r.pick(["text/plain", "application/json; charset=koi8-r", "application/json; charset=utf-16", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded", ""]) }, note: "content type" };
    default: return { body: text, note: "json" };
  }
}

/** One fuzzed request: {method, path, headers, body, face, note}. `token` is a valid bearer. */
export function fuzzRequest(r, token, agents) {
  const agentId = r.chance(0.9) ? r.pick(agents) : r.pick(["nope", "%00", "..%2f..", "a".repeat(300)]);
  const face = r.pick(["rest", "jsonrpc", "a2a-rest"]);
  let method = "POST";
  let path;
  let obj;
  if (face === "rest") {
    const route = r.int(10);
    if (route < 6) path = `/agents/${agentId}/tasks`;
    else if (route < 8) path = `/agents/${agentId}/tasks/${r.pick(["00000000-0000-4000-8000-000000000000", "x", "%27"])}/cancel`;
    else {
      path = r.pick(["/webhooks", `/agents/${agentId}`, "/agents"]);
      method = r.pick(["POST", "GET", "DELETE", "PUT"]);
    }
    obj = restTaskBody(r);
  } else if (face === "jsonrpc") {
    path = `/agents/${agentId}/a2a/jsonrpc`;
    obj = jsonRpcBody(r);
  } else {
    path = `/agents/${agentId}/a2a/rest/${r.pick(REST_A2A)}`;
    method = r.chance(0.8) ? "POST" : "GET";
    obj = { message: message(r), configuration: maybe(r, { returnImmediately: true }) };
  }
  const { body, headers: extra = {}, note } = encode(r, obj);
  const headers = { "content-type": "application/json", "a2a-version": "1.0", ...extra };
  if (!headers["content-type"]) delete headers["content-type"];
  const auth = r.int(20);
  if (auth === 0) delete headers.authorization;
  else if (auth === 1) headers.authorization = "Bearer forged.token.value";
  else if (auth === 2) headers.authorization = `Basic ${Buffer.from("a:b").toString("base64")}`;
  else headers.authorization = `Bearer ${token}`;
  return { method, path, headers, body: method === "GET" ? undefined : body, face, note };
}
