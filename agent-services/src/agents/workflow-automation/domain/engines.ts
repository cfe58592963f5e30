/**
 * Clients of the three workflow engines, written against their documented HTTP shapes. No
 * framework: the HTTP function is injected (the handler passes `tracedFetch`).
 *
 * n8n (https://docs.n8n.io/api/ , https://docs.n8n.io/integrations/builtin/core-nodes/n8n-nodes-base.webhook/):
 * - Runs are started by a workflow's Webhook trigger node: POST <base>/webhook/<path> (production URL,
 *   served only while the workflow is active). With "Respond: Immediately" n8n answers
 *   `{"message":"Workflow was started"}`; with "When last node finishes" / "Respond to Webhook" it
 *   answers with the workflow's data. The public REST API has no "execute workflow" endpoint
 *   (POST /api/v1/workflows/{id}/activate only activates), so "by REST API" means: read the workflow
 *   (GET /api/v1/workflows/{id}, header X-N8N-API-KEY), find its Webhook node and call that.
 * - GET /api/v1/executions/{id}?includeData=true: {id, finished, mode, startedAt, stoppedAt,
 *   workflowId, status: new|running|waiting|success|error|crashed|canceled|unknown, data}.
 * - GET /api/v1/workflows?limit=&cursor=: {data: [{id, name, active, tags, ...}], nextCursor}.
 *
 * Make (https://apps.make.com/gateway , Webhooks > Custom webhook / Webhook response):
 * - POST JSON to the scenario's webhook URL; without a Webhook response module Make queues the
 *   request and answers 200 with the text body "Accepted"; with one, the module's status and body.
 *   Make returns no run id, and listing scenarios needs Make's organisation API, so getWorkflowRun and
 *   listWorkflows are not available for Make.
 *
 * Kestra (https://kestra.io/docs/how-to-guides/api , https://kestra.io/docs/how-to-guides/inputs-api ,
 * https://kestra.io/docs/how-to-guides/synchonous-executions-api , https://kestra.io/docs/workflow-components/states):
 * - POST /api/v1/{tenant}/executions/{namespace}/{flowId} with the flow's inputs as
 *   multipart/form-data fields, basic auth (-u user:password); answers the execution
 *   {id, namespace, flowId, state: {current: CREATED, histories, startDate}, ...}. {tenant} is
 *   "main" in the open-source edition.
 * - GET /api/v1/{tenant}/executions/{executionId}: the execution with state.current (CREATED, QUEUED,
 *   RUNNING, PAUSED, RESTARTED, KILLING, SUCCESS, WARNING, FAILED, KILLED, CANCELLED, RETRYING,
 *   RETRIED, SKIPPED, ...), state.startDate / endDate and outputs.
 * - GET /api/v1/{tenant}/flows/search?namespace=&size=&page=: {results: [{id, namespace, disabled,
 *   ...}], total} (kestra-io/client-sdk FlowsApi.searchFlows).
 */

export type Engine = "n8n" | "make" | "kestra";
export type RunStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "timeout" | "unknown";
export type HttpFn = (url: string, init: RequestInit) => Promise<Response>;

export class EngineError extends Error {
  constructor(
    public readonly code: string,
    message: string,
    public readonly retryable: boolean,
    public readonly httpStatus?: number,
  ) {
    super(message);
    this.name = "EngineError";
  }
}

export interface RunSnapshot {
  runId: string;
  status: RunStatus;
  engineStatus: string;
  startedAt?: string;
  finishedAt?: string;
  outputs?: Record<string, unknown>;
  error?: string;
}

export const TERMINAL: ReadonlySet<RunStatus> = new Set(["succeeded", "failed", "cancelled", "timeout"]);

export interface CallOptions {
  signal: AbortSignal;
  timeoutMs: number;
}

export interface Http {
  fn: HttpFn;
  timeoutMs: number;
}

const iso = (v: unknown): string | undefined => {
  if (typeof v !== "string" || !v) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
};

/**
 * One HTTP call with a timeout and the task's signal, and engine answers turned into EngineErrors.
 * `replaySafe`: a 5xx may be retried (reads); a trigger's 5xx is not, the run may have started.
 */
export async function call(http: Http, engine: Engine, url: string, init: RequestInit, signal: AbortSignal, replaySafe: boolean): Promise<{ status: number; body: unknown; text: string; contentType: string }> {
  const timeout = AbortSignal.timeout(http.timeoutMs);
  let res: Response;
  try {
    res = await http.fn(url, { ...init, signal: AbortSignal.any([signal, timeout]), redirect: "manual" });
  } catch (e) {
    if (signal.aborted) throw signal.reason ?? e;
    if (timeout.aborted) throw new EngineError("engine_timeout", `${engine} did not answer within ${http.timeoutMs} ms (${redact(url)})`, replaySafe);
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    // Nothing reached the engine (refused, DNS, reset before a response): safe to try again.
    throw new EngineError("engine_unreachable", `${engine} is unreachable at ${redact(url)}: ${cause?.code ?? cause?.message ?? (e as Error).message}`, true);
  }
  const text = await res.text();
  const contentType = res.headers.get("content-type") ?? "";
  let body: unknown = text;
  if (/json/i.test(contentType) || /^\s*[[{]/.test(text)) {
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = text;
    }
  }
  if (res.status >= 200 && res.status < 300) return { status: res.status, body, text, contentType };
  const detail = engineMessage(body, text);
  const where = `${engine} answered ${res.status} for ${init.method ?? "GET"} ${redact(url)}${detail ? `: ${detail}` : ""}`;
  if (res.status === 401 || res.status === 403) throw new EngineError("engine_unauthorized", `${where} (check the ${engine} credentials in the tenant's settings.workflows.${engine} or the service environment)`, false, res.status);
  if (res.status === 404 || res.status === 410) throw new EngineError("workflow_not_found", where, false, res.status);
  if (res.status === 429 || res.status === 502 || res.status === 503 || res.status === 504) throw new EngineError("engine_unavailable", where, true, res.status);
  if (res.status >= 300 && res.status < 400) throw new EngineError("engine_redirect", `${where} (redirects are not followed)`, false, res.status);
  if (res.status >= 500) throw new EngineError("engine_error", where, replaySafe, res.status);
  throw new EngineError("engine_rejected", where, false, res.status);
}

function engineMessage(body: unknown, text: string): string {
  const b = body as { message?: unknown; error?: unknown } | null;
  if (b && typeof b === "object" && typeof b.message === "string") return b.message.slice(0, 300);
  if (b && typeof b === "object" && typeof b.error === "string") return b.error.slice(0, 300);
  return text.trim().slice(0, 300);
}

/** A URL for messages: no credentials, no query (webhook URLs and queries may carry secrets). */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return "<invalid url>";
  }
}

const asObject = (body: unknown, text: string): Record<string, unknown> =>
  body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : Array.isArray(body) ? { items: body } : text ? { body: text } : {};

// ---------------------------------------------------------------------------------------------- n8n

export interface N8nSettings {
  baseUrl?: string;
  apiKey?: string;
}

export const n8n = {
  /** POST JSON to a webhook URL. */
  async triggerWebhook(http: Http, url: string, payload: Record<string, unknown>, signal: AbortSignal, method = "POST") {
    const r = await call(http, "n8n", url, { method, headers: { "content-type": "application/json", accept: "application/json, text/plain;q=0.9" }, body: JSON.stringify(payload) }, signal, false);
    const started = (r.body as { message?: unknown } | null)?.message === "Workflow was started";
    return { status: (started ? "queued" : "succeeded") as RunStatus, response: asObject(r.body, r.text) };
  },

  apiHeaders(s: N8nSettings): Record<string, string> {
    if (!s.apiKey) throw new EngineError("engine_not_configured", "n8n API key missing: set settings.workflows.n8n.apiKey or N8N_API_KEY", false);
    return { "X-N8N-API-KEY": s.apiKey, accept: "application/json" };
  },

  base(s: N8nSettings): string {
    if (!s.baseUrl) throw new EngineError("engine_not_configured", "n8n base URL missing: set settings.workflows.n8n.baseUrl or N8N_BASE_URL", false);
    return s.baseUrl.replace(/\/+$/, "");
  },

  /** The production webhook of a workflow (its first enabled Webhook trigger node). */
  async webhookOf(http: Http, s: N8nSettings, workflowId: string, signal: AbortSignal): Promise<{ url: string; method: string; name: string }> {
    const r = await call(http, "n8n", `${n8n.base(s)}/api/v1/workflows/${encodeURIComponent(workflowId)}`, { headers: n8n.apiHeaders(s) }, signal, true);
    const wf = r.body as { name?: string; active?: boolean; nodes?: { type?: string; disabled?: boolean; webhookId?: string; parameters?: { path?: string; httpMethod?: string } }[] };
    const node = (wf.nodes ?? []).find((n) => n.type === "n8n-nodes-base.webhook" && !n.disabled);
    if (!node) throw new EngineError("workflow_not_triggerable", `n8n workflow ${workflowId} has no Webhook trigger node; add one (n8n starts executions by webhook)`, false);
    if (wf.active === false) throw new EngineError("workflow_inactive", `n8n workflow ${workflowId} is not active; n8n serves its production webhook only while it is active`, false);
    const path = (node.parameters?.path || node.webhookId || "").replace(/^\/+/, "");
    if (!path) throw new EngineError("workflow_not_triggerable", `the Webhook node of n8n workflow ${workflowId} has no path`, false);
    const method = (node.parameters?.httpMethod ?? "GET").toUpperCase();
    if (!["POST", "PUT", "PATCH"].includes(method)) throw new EngineError("workflow_not_triggerable", `the Webhook node of n8n workflow ${workflowId} accepts ${method}; use POST to pass a payload`, false);
    return { url: `${n8n.base(s)}/webhook/${path.split("/").map(encodeURIComponent).join("/")}`, method, name: wf.name ?? workflowId };
  },

  async execution(http: Http, s: N8nSettings, id: string, signal: AbortSignal): Promise<RunSnapshot> {
    const r = await call(http, "n8n", `${n8n.base(s)}/api/v1/executions/${encodeURIComponent(id)}?includeData=true`, { headers: n8n.apiHeaders(s) }, signal, true);
    const e = r.body as {
      id?: unknown; status?: string; finished?: boolean; startedAt?: string; stoppedAt?: string | null; workflowId?: string;
      data?: { resultData?: { lastNodeExecuted?: string; error?: { message?: string }; runData?: Record<string, { data?: { main?: { json?: unknown }[][] } }[]> } };
    };
    const engineStatus = e.status ?? (e.finished ? "success" : e.stoppedAt ? "error" : "running");
    const result = e.data?.resultData;
    const last = result?.lastNodeExecuted;
    const runs = last ? result?.runData?.[last] : undefined;
    const items = runs?.[runs.length - 1]?.data?.main?.[0]?.map((i) => i.json);
    return {
      runId: String(e.id ?? id),
      status: mapN8nStatus(engineStatus),
      engineStatus,
      startedAt: iso(e.startedAt),
      finishedAt: iso(e.stoppedAt ?? undefined),
      ...(last || items ? { outputs: { ...(e.workflowId ? { workflowId: e.workflowId } : {}), ...(last ? { lastNodeExecuted: last } : {}), ...(items ? { items } : {}) } } : {}),
      ...(result?.error?.message ? { error: result.error.message } : {}),
    };
  },

  async list(http: Http, s: N8nSettings, limit: number, signal: AbortSignal) {
    const out: { id: string; name: string; active: boolean; tags?: string[] }[] = [];
    let cursor: string | undefined;
    do {
      const q = new URLSearchParams({ limit: String(Math.min(250, limit - out.length)) });
      if (cursor) q.set("cursor", cursor);
      const r = await call(http, "n8n", `${n8n.base(s)}/api/v1/workflows?${q}`, { headers: n8n.apiHeaders(s) }, signal, true);
      const page = r.body as { data?: { id: unknown; name?: string; active?: boolean; tags?: { name?: string }[] }[]; nextCursor?: string | null };
      for (const w of page.data ?? []) {
        out.push({ id: String(w.id), name: w.name ?? String(w.id), active: w.active === true, ...(w.tags?.length ? { tags: w.tags.map((t) => String(t.name)) } : {}) });
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor && out.length < limit);
    return out.slice(0, limit);
  },
};

export function mapN8nStatus(s: string): RunStatus {
  switch (s) {
    case "new": return "queued";
    case "running": case "waiting": return "running";
    case "success": return "succeeded";
    case "error": case "crashed": case "failed": return "failed";
    case "canceled": case "cancelled": return "cancelled";
    default: return "unknown";
  }
}

// --------------------------------------------------------------------------------------------- Make

export const make = {
  async triggerWebhook(http: Http, url: string, payload: Record<string, unknown>, signal: AbortSignal) {
    const r = await call(http, "make", url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload) }, signal, false);
    // "Accepted": queued for the scenario; anything else came from a Webhook response module.
    if (typeof r.body === "string" && r.body.trim() === "Accepted") return { status: "queued" as RunStatus, response: { accepted: true } };
    return { status: "succeeded" as RunStatus, response: asObject(r.body, r.text) };
  },
};

// ------------------------------------------------------------------------------------------- Kestra

export interface KestraSettings {
  baseUrl?: string;
  username?: string;
  password?: string;
  tenant: string;
}

export const kestra = {
  base(s: KestraSettings): string {
    if (!s.baseUrl) throw new EngineError("engine_not_configured", "Kestra base URL missing: set settings.workflows.kestra.baseUrl or KESTRA_BASE_URL", false);
    return `${s.baseUrl.replace(/\/+$/, "")}/api/v1/${encodeURIComponent(s.tenant)}`;
  },

  headers(s: KestraSettings): Record<string, string> {
    return { accept: "application/json", ...(s.username ? { authorization: `Basic ${Buffer.from(`${s.username}:${s.password ?? ""}`).toString("base64")}` } : {}) };
  },

  /** Inputs as multipart/form-data fields: strings as they are, everything else as JSON. */
  form(payload: Record<string, unknown>): FormData {
    const form = new FormData();
    for (const [k, v] of Object.entries(payload)) {
      if (v === undefined || v === null) continue;
      form.append(k, typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : JSON.stringify(v));
    }
    return form;
  },

  async trigger(http: Http, s: KestraSettings, namespace: string, flowId: string, payload: Record<string, unknown>, signal: AbortSignal): Promise<RunSnapshot> {
    const url = `${kestra.base(s)}/executions/${encodeURIComponent(namespace)}/${encodeURIComponent(flowId)}`;
    const r = await call(http, "kestra", url, { method: "POST", headers: kestra.headers(s), body: kestra.form(payload) }, signal, false);
    return kestraSnapshot(r.body);
  },

  async execution(http: Http, s: KestraSettings, id: string, signal: AbortSignal): Promise<RunSnapshot> {
    const r = await call(http, "kestra", `${kestra.base(s)}/executions/${encodeURIComponent(id)}`, { headers: kestra.headers(s) }, signal, true);
    return kestraSnapshot(r.body, id);
  },

  async list(http: Http, s: KestraSettings, namespace: string | undefined, limit: number, signal: AbortSignal) {
    const q = new URLSearchParams({ size: String(limit), page: "1" });
    if (namespace) q.set("namespace", namespace);
    const r = await call(http, "kestra", `${kestra.base(s)}/flows/search?${q}`, { headers: kestra.headers(s) }, signal, true);
    const body = r.body as { results?: { id: string; namespace?: string; disabled?: boolean; description?: string; revision?: number }[] };
    return (body.results ?? []).slice(0, limit).map((f) => ({
      id: f.id,
      name: f.id,
      namespace: f.namespace ?? namespace ?? "",
      active: f.disabled !== true,
      ...(f.description ? { description: f.description } : {}),
      ...(f.revision !== undefined ? { revision: f.revision } : {}),
    }));
  },
};

function kestraSnapshot(body: unknown, fallbackId?: string): RunSnapshot {
  const e = body as { id?: string; namespace?: string; flowId?: string; state?: { current?: string; startDate?: string; endDate?: string }; outputs?: Record<string, unknown> };
  const id = e?.id ?? fallbackId;
  if (!id) throw new EngineError("engine_bad_response", "Kestra answered without an execution id", false);
  const engineStatus = e.state?.current ?? "UNKNOWN";
  return {
    runId: id,
    status: mapKestraState(engineStatus),
    engineStatus,
    startedAt: iso(e.state?.startDate),
    finishedAt: iso(e.state?.endDate),
    outputs: { ...(e.outputs ?? {}), ...(e.namespace ? { namespace: e.namespace } : {}), ...(e.flowId ? { flowId: e.flowId } : {}) },
  };
}

export function mapKestraState(s: string): RunStatus {
  switch (s) {
    case "CREATED": case "QUEUED": case "SUBMITTED": return "queued";
    case "RUNNING": case "PAUSED": case "RESTARTED": case "KILLING": case "RETRYING": case "RETRIED": case "BREAKPOINT": case "RESUBMITTED": return "running";
    case "SUCCESS": case "WARNING": return "succeeded";
    case "FAILED": return "failed";
    case "KILLED": case "CANCELLED": case "SKIPPED": return "cancelled";
    default: return "unknown";
  }
}

// ------------------------------------------------------------------------------------------ polling

/** Sleeps, or rejects with the signal's reason when it fires. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Polls a run until it ends, with exponential backoff (250 ms doubling up to `maxIntervalMs`),
 * until `deadline` (then the last snapshot is returned with `waitExpired`). Transient read errors
 * (retryable EngineErrors) are tolerated until the deadline.
 */
export async function followRun(
  get: () => Promise<RunSnapshot>,
  opts: { signal: AbortSignal; deadline: number; maxIntervalMs: number; onPoll?: (s: RunSnapshot, polls: number) => Promise<void> | void },
): Promise<RunSnapshot & { waitExpired?: boolean; polls: number }> {
  let delay = 250;
  let polls = 0;
  let last: RunSnapshot | undefined;
  for (;;) {
    try {
      last = await get();
      polls++;
      await opts.onPoll?.(last, polls);
      if (TERMINAL.has(last.status)) return { ...last, polls };
    } catch (e) {
      if (!(e instanceof EngineError) || !e.retryable || Date.now() + delay >= opts.deadline) throw e;
    }
    if (Date.now() + delay >= opts.deadline) return { ...(last as RunSnapshot), waitExpired: true, polls };
    await sleep(delay, opts.signal);
    delay = Math.min(opts.maxIntervalMs, delay * 2);
  }
}
