/**
 * The capability handlers of this agent, by capability name; the runtime fails the others as not
 * implemented.
 *
 * They need the URL policy (webhook URLs and base URLs given by tenants must pass it, like webhook
 * subscriptions) and the engine defaults from the config, so the stack builds them with
 * `createWorkflowHandlers(deps)` in place of the empty static `handlers` below.
 */
import { TaskError, type CapabilityHandler, type HandlerContext } from "../../protocol/agent-contract";
import { tracedFetch } from "../../lib/tracing";
import { durationToMs } from "../../protocol/agent-card";
import { checkWebhookUrl, UrlPolicyError, type Resolver, type UrlPolicy } from "../../lib/url-policy";
import card from "./card.json";
import { EngineError, followRun, kestra, make, n8n, redact, type Engine, type Http, type HttpFn, type RunSnapshot } from "./domain/engines";
import { resolveEngines, type EngineDefaults, type ResolvedEngines } from "./domain/settings";

export interface WorkflowDeps {
  urlPolicy: UrlPolicy;
  resolve?: Resolver;
  defaults: EngineDefaults;
  httpTimeoutMs: number;
  pollMaxIntervalMs: number;
  http?: HttpFn;
}

/** How long a capability may wait for a run: its SLA less a margin to report the result. */
function waitBudgetMs(capability: string): number {
  const sla = card.capabilities.find((c) => c.name === capability)?.sla.maxLatency ?? "PT1M";
  const ms = durationToMs(sla) ?? 60_000;
  return Math.max(1_000, ms - Math.min(15_000, ms / 10));
}

export function createWorkflowHandlers(deps: WorkflowDeps): Record<string, CapabilityHandler> {
  const http: Http = { fn: deps.http ?? ((url, init) => tracedFetch(url, init, { spanName: `workflow ${init.method ?? "GET"}` })), timeoutMs: deps.httpTimeoutMs };

  /** A URL a tenant gave (a webhook, a base URL from settings) must pass the policy. */
  const allowed = async (url: string, what: string): Promise<string> => {
    try {
      await checkWebhookUrl(url, deps.urlPolicy, deps.resolve);
      return url;
    } catch (e) {
      if (e instanceof UrlPolicyError) throw new TaskError("url_refused", `${what} ${redact(url)} is refused: ${e.message}`, { retryable: false });
      throw e;
    }
  };

  const engines = async (ctx: HandlerContext): Promise<ResolvedEngines> => {
    const settings = await ctx.db(async (tx) => (await tx.one<{ settings: unknown }>("SELECT settings FROM tenants WHERE id = $1", [tx.tenantId]))?.settings ?? {});
    const r = resolveEngines(settings, deps.defaults);
    if (r.n8n.tenantBaseUrl && r.n8n.baseUrl) await allowed(r.n8n.baseUrl, "settings.workflows.n8n.baseUrl");
    if (r.kestra.tenantBaseUrl && r.kestra.baseUrl) await allowed(r.kestra.baseUrl, "settings.workflows.kestra.baseUrl");
    return r;
  };

  /** EngineErrors become TaskErrors with the same code; retryable only when nothing can have run twice. */
  const wrap = (fn: CapabilityHandler): CapabilityHandler => async (ctx) => {
    try {
      return await fn(ctx);
    } catch (e) {
      if (e instanceof EngineError) throw new TaskError(e.code, e.message, { retryable: e.retryable });
      throw e;
    }
  };

  const follow = (ctx: HandlerContext, engine: Engine, get: () => Promise<RunSnapshot>, budgetMs: number) =>
    followRun(get, {
      signal: ctx.signal,
      deadline: Date.now() + budgetMs,
      maxIntervalMs: deps.pollMaxIntervalMs,
      onPoll: (s, polls) => (polls === 1 || polls % 5 === 0 ? ctx.progress(Math.min(90, 10 + polls * 5), `${engine} run ${s.runId}: ${s.engineStatus}`) : undefined),
    });

  const triggerWorkflow = wrap(async (ctx) => {
    const i = ctx.inputs as { engine: Engine; webhookUrl?: string; workflowId?: string; namespace?: string; flowId?: string; payload?: Record<string, unknown>; wait?: boolean };
    const payload = i.payload ?? {};
    const started = Date.now();
    if (i.engine === "make") {
      if (!i.webhookUrl) throw new TaskError("invalid_input", "a Make scenario is triggered by its webhook: webhookUrl is required", { retryable: false });
      const r = await make.triggerWebhook(http, await allowed(i.webhookUrl, "webhookUrl"), payload, ctx.signal);
      return { outputs: { engine: "make", status: r.status, response: r.response } };
    }
    if (i.engine === "n8n") {
      let url: string;
      let method = "POST";
      let workflowName: string | undefined;
      if (i.webhookUrl) {
        url = await allowed(i.webhookUrl, "webhookUrl");
      } else if (i.workflowId) {
        const s = (await engines(ctx)).n8n;
        const hook = await n8n.webhookOf(http, s, i.workflowId, ctx.signal);
        ({ url, method } = hook);
        workflowName = hook.name;
      } else {
        throw new TaskError("invalid_input", "n8n needs webhookUrl, or workflowId (with the n8n API configured)", { retryable: false });
      }
      await ctx.progress(30, `calling the n8n webhook ${redact(url)}`);
      const r = await n8n.triggerWebhook(http, url, payload, ctx.signal, method);
      return { outputs: { engine: "n8n", status: r.status, response: r.response, ...(i.workflowId ? { workflowId: i.workflowId } : {}), ...(workflowName ? { workflowName } : {}) } };
    }
    // Kestra: the executions API.
    if (!i.namespace || !i.flowId) throw new TaskError("invalid_input", "a Kestra execution needs namespace and flowId", { retryable: false });
    const s = (await engines(ctx)).kestra;
    const run = await kestra.trigger(http, s, i.namespace, i.flowId, payload, ctx.signal);
    await ctx.progress(20, `Kestra execution ${run.runId}: ${run.engineStatus}`);
    const final = i.wait ? await follow(ctx, "kestra", () => kestra.execution(http, s, run.runId, ctx.signal), waitBudgetMs("triggerWorkflow") - (Date.now() - started)) : run;
    return {
      outputs: {
        engine: "kestra",
        runId: run.runId,
        status: final.status,
        engineStatus: final.engineStatus,
        ...(final.outputs ? { response: final.outputs } : {}),
        ...(final.startedAt ? { startedAt: final.startedAt } : {}),
        ...(final.finishedAt ? { finishedAt: final.finishedAt } : {}),
        ...("waitExpired" in final && final.waitExpired ? { waitExpired: true } : {}),
      },
    };
  });

  const getWorkflowRun = wrap(async (ctx) => {
    const i = ctx.inputs as { engine: Engine; runId: string; waitForEnd?: boolean };
    if (i.engine === "make") {
      throw new TaskError("not_supported", "Make scenario webhooks return no run id; follow Make runs in Make's scenario history", { retryable: false });
    }
    const e = await engines(ctx);
    const get = i.engine === "n8n" ? () => n8n.execution(http, e.n8n, i.runId, ctx.signal) : () => kestra.execution(http, e.kestra, i.runId, ctx.signal);
    const snap = i.waitForEnd ? await follow(ctx, i.engine, get, waitBudgetMs("getWorkflowRun")) : await get();
    const { polls: _polls, ...rest } = snap as RunSnapshot & { polls?: number };
    return { outputs: { engine: i.engine, ...rest } };
  });

  const listWorkflows = wrap(async (ctx) => {
    const i = ctx.inputs as { engine: Engine; namespace?: string; limit?: number };
    const limit = i.limit ?? 100;
    if (i.engine === "make") {
      throw new TaskError("list_not_supported", "listing Make scenarios is not available: Make scenarios are reached by their webhook URLs", { retryable: false });
    }
    const e = await engines(ctx);
    const workflows = i.engine === "n8n" ? await n8n.list(http, e.n8n, limit, ctx.signal) : await kestra.list(http, e.kestra, i.namespace, limit, ctx.signal);
    return { outputs: { engine: i.engine, workflows } };
  });

  return { triggerWorkflow, getWorkflowRun, listWorkflows };
}
