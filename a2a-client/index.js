"use strict";
/**
 * The DealScale A2A client: the task API as the design document's patterns call it
 * (`createTask({targetAgentId, type, inputs})`, `waitForTask(taskId, {timeout})`, `cancelTask`),
 * over the REST routes, with SSE (reconnecting with Last-Event-ID, falling back to polling) for
 * waiting and typed errors for every refusal. 429 answers are retried after their Retry-After.
 * Plain CommonJS with types in index.d.ts: the a2a-task runner and the n8n node pack use it as is.
 * Requests go through a transport: fetch by default, or the host's own (n8n's request helpers).
 */

const TERMINAL = ["completed", "failed", "cancelled", "timeout"];
/** While streaming, the task is also read with GET this long after connecting, then at the longer interval. */
const STREAM_CHECK_FIRST_MS = 2_000;
const STREAM_CHECK_EVERY_MS = 15_000;
/** Consecutive stream failures after which waiting polls instead. */
const STREAM_FAILURES_BEFORE_POLLING = 3;
/** Rows per result-page request: the gateway's maximum. */
const RESULT_PAGE_SIZE = 10_000;

class A2AError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, code?: string, details?: any, body?: any, method?: string, path?: string, retryAfterSeconds?: number, cause?: unknown}} [info]
   */
  constructor(message, info = {}) {
    super(message, info.cause === undefined ? undefined : { cause: info.cause });
    this.name = new.target.name;
    this.status = info.status;
    this.code = info.code;
    this.details = info.details;
    this.body = info.body;
    this.method = info.method;
    this.path = info.path;
    this.retryAfterSeconds = info.retryAfterSeconds;
  }
}
/** 400 (a schema violation: details.errors[].path) or 413. */
class ValidationError extends A2AError {}
/** 401: no token, or one the gateway does not accept. */
class AuthenticationError extends A2AError {}
/** 403: a scope is missing, or the request names another tenant. */
class ForbiddenError extends A2AError {}
/** 402: details.requiredCredits, details.availableCredits. */
class InsufficientCreditsError extends A2AError {}
/** 404: unknown agent, capability or task. */
class NotFoundError extends A2AError {}
/** 409: a state transition the task cannot make (cancelling a finished task), a reused idempotency key. */
class ConflictError extends A2AError {}
/** 429 after the retries: retryAfterSeconds says how long to wait. */
class RateLimitedError extends A2AError {}
/** 503 and other 5xx: a dependency of the gateway is down. */
class UnavailableError extends A2AError {}
/** No answer at all: the gateway is not reachable. */
class ConnectionError extends A2AError {}
/** waitForTask's timeout passed; `task` is the last view seen (the task goes on running). */
class WaitTimeoutError extends A2AError {}

const BY_STATUS = { 400: ValidationError, 401: AuthenticationError, 402: InsufficientCreditsError, 403: ForbiddenError, 404: NotFoundError, 409: ConflictError, 413: ValidationError, 429: RateLimitedError };

/** The typed error for a refusal: "GET /path: HTTP 404 not_found message /inputs/x: detail". */
function errorFor(status, body, headers, method, path) {
  const err = body && typeof body === "object" && body.error && typeof body.error === "object" ? body.error : { message: typeof body === "string" ? body.slice(0, 500) : "" };
  const issues = err.details && Array.isArray(err.details.errors) ? ` ${err.details.errors.map((x) => `${x.path}: ${x.message}`).join("; ")}` : "";
  const message = `${method} ${path}: HTTP ${status} ${err.code || ""} ${err.message || ""}${issues}`.replace(/\s+/g, " ").trim();
  const Type = BY_STATUS[status] || (status >= 500 ? UnavailableError : A2AError);
  return new Type(message, { status, code: err.code, details: err.details, body, method, path, retryAfterSeconds: retryAfter(headers, err.details) });
}

function header(headers, name) {
  if (!headers) return undefined;
  if (typeof headers.get === "function") return headers.get(name) ?? undefined;
  const v = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function retryAfter(headers, details) {
  const h = Number(header(headers, "retry-after"));
  if (Number.isFinite(h) && h >= 0 && header(headers, "retry-after") !== undefined) return h;
  const d = Number(details && details.retryAfterSeconds);
  return Number.isFinite(d) && d > 0 ? d : undefined;
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      if (signal) signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    if (signal) signal.addEventListener("abort", onAbort, { once: true });
  });
}

const enc = encodeURIComponent;

function queryString(query) {
  if (!query) return "";
  const parts = Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => `${enc(k)}=${enc(String(v))}`);
  return parts.length ? `?${parts.join("&")}` : "";
}

/**
 * The default transport: fetch against `baseUrl` with the bearer token.
 * @param {{baseUrl: string, token: string | (() => string | Promise<string>), fetch?: typeof fetch}} o
 */
function fetchTransport(o) {
  const doFetch = o.fetch || globalThis.fetch;
  return async (req) => {
    const token = typeof o.token === "function" ? await o.token() : o.token;
    const headers = { accept: "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...(req.headers || {}) };
    if (req.body !== undefined) headers["content-type"] = "application/json";
    let res;
    try {
      res = await doFetch(o.baseUrl.replace(/\/+$/, "") + req.path + queryString(req.query), {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal: req.signal,
      });
    } catch (e) {
      if (req.signal && req.signal.aborted) throw e;
      throw new ConnectionError(`${req.method} ${req.path}: ${describe(e)}`, { method: req.method, path: req.path, cause: e });
    }
    const text = await res.text();
    let body = text;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, headers: res.headers, body };
  };
}

function describe(e) {
  const cause = e && e.cause ? `: ${e.cause.code || e.cause.message || e.cause}` : "";
  return `${e && e.message ? e.message : e}${cause}`;
}

/**
 * Reads one SSE response body; calls onEvent for each event (id, event name, data). Resolves when
 * the stream ends or onEvent returns true.
 */
async function readSse(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
    let idx;
    while ((idx = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, idx);
      buffer = buffer.slice(idx + 2);
      const ev = { id: undefined, event: "message", data: "" };
      let hasData = false;
      for (const line of block.split("\n")) {
        if (line.startsWith(":")) continue;
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "id") ev.id = val;
        else if (field === "event") ev.event = val;
        else if (field === "data") {
          ev.data += (hasData ? "\n" : "") + val;
          hasData = true;
        }
      }
      if (!hasData && ev.id === undefined) continue;
      if (onEvent(ev)) {
        await reader.cancel().catch(() => undefined);
        return;
      }
    }
  }
}

class A2AClient {
  /**
   * @param {import("./index").A2AClientOptions} options
   */
  constructor(options) {
    if (!options || (!options.transport && !options.baseUrl)) throw new TypeError("A2AClient needs a baseUrl (or a transport)");
    this.baseUrl = options.baseUrl ? options.baseUrl.replace(/\/+$/, "") : undefined;
    this.token = options.token;
    this.fetch = options.fetch || globalThis.fetch;
    this.transport = options.transport || fetchTransport({ baseUrl: this.baseUrl, token: options.token, fetch: this.fetch });
    this.rateLimitRetries = options.rateLimitRetries ?? 3;
    this.maxRetryAfterSeconds = options.maxRetryAfterSeconds ?? 60;
    /** taskId -> agent, so waitForTask(taskId) and cancelTask(taskId) need no agent. */
    this.agents = new Map();
  }

  /** One request; a refusal throws its typed error; a 429 is retried after its Retry-After. */
  async request(method, path, { query, body, signal } = {}) {
    for (let attempt = 0; ; attempt++) {
      const res = await this.transport({ method, path, query, body, signal });
      if (res.status >= 200 && res.status < 300) return res.body;
      const error = errorFor(res.status, res.body, res.headers, method, path);
      const wait = error.retryAfterSeconds;
      if (res.status !== 429 || attempt >= this.rateLimitRetries || wait === undefined || wait > this.maxRetryAfterSeconds) throw error;
      await sleep(wait * 1000, signal);
    }
  }

  /** The registry: every agent's summary. */
  async listAgents() {
    return (await this.request("GET", "/agents")).agents;
  }

  /** An agent's card (its id or the design document's: DataEngineer). */
  getCard(agentId) {
    return this.request("GET", `/agents/${enc(agentId)}`);
  }

  /**
   * Creates a task: `targetAgentId` (or `agentId`) is the agent, `type` the capability; the rest is
   * the create body (inputs, priority, idempotencyKey, callbackUrl, metadata, instanceId, tenantId).
   * The promise also has a `taskId` promise: the design document's map-reduce hands the pending
   * create's `.taskId` to waitForTask without awaiting the create, and waitForTask awaits it.
   */
  createTask(request, { signal } = {}) {
    const created = (async () => {
      const { targetAgentId, agentId, ...rest } = request || {};
      const agent = targetAgentId || agentId;
      if (!agent) throw new TypeError("createTask needs targetAgentId (or agentId)");
      const body = { ...rest, ...(targetAgentId ? { targetAgentId } : {}) };
      const task = await this.request("POST", `/agents/${enc(agent)}/tasks`, { body, signal });
      this.agents.set(task.taskId, task.agentId || agent);
      return task;
    })();
    const taskId = created.then((task) => task.taskId);
    // Rejections are the create's to report; nobody need await this one.
    taskId.catch(() => undefined);
    return Object.assign(created, { taskId });
  }

  /** The agent that runs a task: given, remembered from createTask, or read with GET /tasks/:taskId. */
  async agentOf(taskId, agentId, signal) {
    if (agentId) return agentId;
    let agent = this.agents.get(taskId);
    if (!agent) {
      agent = (await this.request("GET", `/tasks/${enc(taskId)}`, { signal })).agentId;
      this.agents.set(taskId, agent);
    }
    return agent;
  }

  async taskPath(taskId, agentId, signal) {
    return `/agents/${enc(await this.agentOf(taskId, agentId, signal))}/tasks/${enc(taskId)}`;
  }

  async getTask(taskId, { agentId, signal } = {}) {
    const id = await taskId;
    return this.request("GET", await this.taskPath(id, agentId, signal), { signal });
  }

  /** One page of an agent's tasks, newest first: {tasks, nextCursor}. */
  listTasks(agentId, { status, type, limit, cursor, signal } = {}) {
    return this.request("GET", `/agents/${enc(agentId)}/tasks`, { query: { status, type, limit, cursor }, signal });
  }

  /** Cancels a task (its reserved credits are released); a finished task is a ConflictError. */
  async cancelTask(taskId, reason, { agentId, signal } = {}) {
    const id = await taskId;
    return this.request("POST", `${await this.taskPath(id, agentId, signal)}/cancel`, { body: reason ? { reason } : {}, signal });
  }

  /** One page of a completed task's result set: {items, nextCursor, total}. */
  async resultPage(taskId, { agentId, cursor, limit = RESULT_PAGE_SIZE, signal } = {}) {
    return this.request("GET", `${await this.taskPath(taskId, agentId, signal)}/results`, { query: { limit, cursor }, signal });
  }

  /** Every row of a completed task's result set, a page at a time. */
  async *results(taskId, options = {}) {
    let cursor;
    do {
      const page = await this.resultPage(taskId, { ...options, cursor });
      for (const item of page.items || []) yield item;
      cursor = page.nextCursor || undefined;
    } while (cursor);
  }

  /**
   * Waits for a task to end and resolves to its final view, whatever the end (completed, failed,
   * cancelled, timeout). Follows the task's SSE stream, reconnecting with Last-Event-ID, and reads
   * the task with GET now and then (a stream can miss the end); after repeated stream failures, or
   * with `stream: false` or a custom transport without fetch, it polls. `timeout` (ms) rejects
   * with WaitTimeoutError; `signal` rejects with its reason. `onUpdate` sees status and progress,
   * `onNotice` what a log would want to say (a reconnect, the switch to polling).
   * @param {string} taskId
   * @param {import("./index").WaitOptions} [options]
   */
  async waitForTask(taskIdOrPending, options = {}) {
    const taskId = await taskIdOrPending;
    const stop = new AbortController();
    const abort = () => stop.abort(options.signal.reason);
    if (options.signal) {
      if (options.signal.aborted) throw options.signal.reason;
      options.signal.addEventListener("abort", abort, { once: true });
    }
    let last;
    let timer;
    if (options.timeout !== undefined) {
      timer = setTimeout(() => stop.abort(new WaitTimeoutError(`task ${taskId} did not end within ${options.timeout} ms`)), options.timeout);
    }
    try {
      return await this.follow(taskId, options, stop.signal, (view) => (last = view));
    } catch (e) {
      if (e instanceof WaitTimeoutError) e.task = last;
      throw e;
    } finally {
      clearTimeout(timer);
      if (options.signal) options.signal.removeEventListener("abort", abort);
    }
  }

  async follow(taskId, options, signal, seen) {
    const path = await this.taskPath(taskId, options.agentId, signal);
    const notice = options.onNotice || (() => undefined);
    const update = options.onUpdate || (() => undefined);
    const pollIntervalMs = options.pollIntervalMs ?? 1000;
    const getTask = async () => {
      const view = await this.request("GET", path, { signal });
      seen(view);
      return view;
    };
    let streaming = options.stream !== false && !!this.baseUrl && typeof this.fetch === "function";
    let lastEventId;
    let failures = 0;

    for (;;) {
      if (signal.aborted) throw signal.reason;
      if (streaming) {
        let terminal = false;
        let checked;
        const streamStop = new AbortController();
        const onAbort = () => streamStop.abort();
        signal.addEventListener("abort", onAbort, { once: true });
        // The stream is best effort (an event lost with Redis is not resent): read the task too.
        const check = (async () => {
          let wait = STREAM_CHECK_FIRST_MS;
          while (!streamStop.signal.aborted) {
            await sleep(wait, streamStop.signal);
            wait = STREAM_CHECK_EVERY_MS;
            try {
              const view = await getTask();
              if (TERMINAL.includes(view.status)) {
                checked = view;
                streamStop.abort();
                return;
              }
            } catch {
              /* the stream, or the next check, goes on */
            }
          }
        })().catch(() => undefined);
        try {
          const token = typeof this.token === "function" ? await this.token() : this.token;
          const headers = { authorization: `Bearer ${token}`, accept: "text/event-stream" };
          if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
          // Named frames only: the plain copies of each event are for EventSource.onmessage.
          const res = await this.fetch(`${this.baseUrl}${path}/stream?frames=named`, { headers, signal: streamStop.signal });
          if (!res.ok || !String(res.headers.get("content-type")).startsWith("text/event-stream")) {
            const text = await res.text().catch(() => "");
            let body = text;
            try {
              body = JSON.parse(text);
            } catch {
              /* keep the text */
            }
            if (res.status >= 400 && res.status < 500 && res.status !== 429) throw errorFor(res.status, body, res.headers, "GET", `${path}/stream`);
            throw new Error(`HTTP ${res.status}`);
          }
          await readSse(res, (ev) => {
            if (ev.id !== undefined && ev.id !== "") lastEventId = ev.id;
            if (ev.event === "error") return false;
            let data;
            try {
              data = JSON.parse(ev.data);
            } catch {
              return false;
            }
            failures = 0;
            if (ev.event === "progress") update({ status: "working", progress: data.progress, message: data.message });
            else if (ev.event === "state" || ev.event === "status") update({ status: data.status, progress: data.progress, message: data.progressMessage });
            if (TERMINAL.includes(data.status)) terminal = true;
            return terminal;
          });
        } catch (e) {
          if (signal.aborted) throw signal.reason;
          if (!checked) {
            if (e instanceof A2AError && e.status !== undefined) throw e;
            failures++;
            if (failures >= STREAM_FAILURES_BEFORE_POLLING) {
              notice("warn", `streaming unavailable (${describe(e)}); polling instead`);
              streaming = false;
              continue;
            }
            notice("warn", `stream interrupted (${describe(e)}); reconnecting`);
          }
        } finally {
          streamStop.abort();
          signal.removeEventListener("abort", onAbort);
          await check;
        }
        if (signal.aborted) throw signal.reason;
        if (checked && !terminal) {
          notice("info", `task ${taskId} ${checked.status} (read with GET: the stream did not say so)`);
          return checked;
        }
        if (terminal) {
          try {
            return await getTask();
          } catch (e) {
            if (signal.aborted) throw signal.reason;
            notice("warn", `could not read the finished task (${describe(e)}); retrying`);
            streaming = false;
            continue;
          }
        }
        // The stream ended without a terminal state (proxy timeout, restart): resume after lastEventId.
        await sleep(Math.min(500 * 2 ** failures, 5000), signal);
        continue;
      }
      try {
        const view = await getTask();
        update({ status: view.status, progress: view.progress, message: view.progressMessage });
        if (TERMINAL.includes(view.status)) return view;
      } catch (e) {
        if (signal.aborted) throw signal.reason;
        if (e instanceof A2AError && e.status !== undefined && e.status < 500 && e.status !== 429) throw e;
        notice("warn", `polling failed (${describe(e)}); retrying`);
      }
      await sleep(pollIntervalMs, signal);
    }
  }
}

module.exports = {
  A2AClient,
  fetchTransport,
  readSse,
  errorFor,
  TERMINAL_STATUSES: TERMINAL,
  RESULT_PAGE_SIZE,
  A2AError,
  ValidationError,
  AuthenticationError,
  ForbiddenError,
  InsufficientCreditsError,
  NotFoundError,
  ConflictError,
  RateLimitedError,
  UnavailableError,
  ConnectionError,
  WaitTimeoutError,
};
