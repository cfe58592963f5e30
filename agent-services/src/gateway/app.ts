/**
 * The HTTP face of the task service: auth, tenancy, routes, SSE, and errors mapped to HTTP. Every
 * route but /health and /ready needs a bearer token.
 */
import express, { type NextFunction, type Request, type Response } from "express";
import type { Pool } from "pg";
import type { Logger as Pino } from "pino";
import type { AgentRegistry } from "../protocol/registry";
import type { TaskService, Caller } from "../tasks/task-service";
import type { RedisEventBus } from "../tasks/event-bus";
import { appendAnonymousAudit } from "../tasks/audit";
import { ServiceError } from "../tasks/errors";
import { AuthError, SCOPES, requireScope, verifyBearer } from "./auth";
import { toHttpError } from "./http-errors";
import type { RefusalAuditor, RefusalWriter } from "./refusal-audit";
import { streamTask } from "./sse";
import { mountHealth } from "../ops/health";
import { ATTR, SpanKind, extractContext, withSpan } from "../lib/tracing";
import type { AgentRateLimiter } from "./rate-limit";
import type { WebhookService } from "../webhooks/service";
import { mountWebhookRoutes } from "../webhooks/routes";
import { agentAliases, REQUESTED_AGENT_ID } from "./agent-aliases";
import { cardView } from "../protocol/card-view";
import { toView } from "../protocol/task-view";

export interface GatewayDeps {
  pool: Pool;
  registry: AgentRegistry;
  service: TaskService;
  events: RedisEventBus;
  log: Pino;
  jwtSecret: string;
  jwtIssuer?: string;
  maxBodyBytes: number;
  sseHeartbeatMs: number;
  /** The cards' rateLimit per tenant and agent (Redis); the A2A face calls `rateLimit.consume(tenantId, agentId)` too. */
  rateLimit?: AgentRateLimiter;
  /** Base URL the cards advertise as their endpoint; by default the URL the request came in on. */
  publicUrl?: string;
  /** Ops routes (/metrics, /ops/...) that carry their own auth; mounted beside /health, before any body parsing. */
  mountOps?: (app: express.Router) => void;
  /** The A2A bindings, which parse their own bodies and answer in their own error shapes. */
  mountA2A?: (app: express.Router, authenticate: Authenticate) => void;
  /** Webhook subscriptions (/webhooks) and the URL policy for callbackUrl. */
  webhooks?: WebhookService;
  /**
   * The agents' own routes (the CampaignOrchestrator's unsubscribe links and bounce reports): given
   * the router, this gateway's auth wrapper, its scope sets and the task service.
   */
  mountAgentRoutes?: (router: express.Router, kit: { route: (scopes: string[], fn: Handler) => express.RequestHandler; scopes: { read: string[]; call: string[] }; service: TaskService }) => void;
  /** Audits refused authentication, rate-limited per source address and aggregated. */
  refusals: RefusalAuditor;
}

type Handler = (req: Request, res: Response, caller: Caller) => Promise<void>;

export function createGateway(deps: GatewayDeps): express.Express {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", "loopback");

  app.use(agentAliases(deps.registry));
  mountHealth(app, deps.pool, () => deps.events.ping());
  deps.mountOps?.(app);
  deps.mountA2A?.(app, authenticator(deps));

  app.use(express.json({ limit: deps.maxBodyBytes, strict: true, type: ["application/json", "application/*+json"] }));

  const authenticate = authenticator(deps);

  /** Authenticates, checks scopes, and turns thrown errors into HTTP answers. */
  const route = (scopes: string[], fn: Handler) => async (req: Request, res: Response, next: NextFunction) => {
    try {
      const caller = await authenticate(req, scopes);
      // After auth, so the bucket is the token's tenant's: 429 rate_limited with Retry-After.
      if (deps.rateLimit && typeof req.params.agentId === "string") await deps.rateLimit.consume(caller.tenantId, req.params.agentId);
      await fn(req, res, caller);
    } catch (e) {
      next(e);
    }
  };
  const read = [SCOPES.read, SCOPES.call];
  const call = [SCOPES.call];

  app.get("/agents", route(read, async (_req, res) => {
    res.json({ agents: deps.registry.list().map(summary) });
  }));

  app.get("/agents/:agentId", route(read, async (req, res) => {
    const card = deps.registry.card(String(req.params.agentId));
    if (!card) throw new ServiceError(404, "not_found", `agent "${req.params.agentId}" not found`);
    res.json(cardView(card, deps.publicUrl ?? `${req.protocol}://${req.get("host")}`, res.locals[REQUESTED_AGENT_ID]));
  }));

  app.post("/agents/:agentId/tasks", route(call, async (req, res, caller) => {
    // The URL policy (no internal addresses) for callbackUrl; its shape is checked by the service.
    if (deps.webhooks && typeof req.body?.callbackUrl === "string") await deps.webhooks.validateUrl(req.body.callbackUrl, "/callbackUrl");
    const agentId = String(req.params.agentId);
    // The create span continues the caller's trace (W3C traceparent); the job carries it to the run span.
    const { task, created } = await withSpan(
      "task.create",
      { kind: SpanKind.SERVER, parent: extractContext(req.headers), attributes: { [ATTR.agentId]: agentId, [ATTR.tenantId]: caller.tenantId, [ATTR.capability]: String(req.body?.type ?? "") } },
      async (span) => {
        const r = await deps.service.createTask(caller, agentId, req.body ?? {});
        span.setAttribute(ATTR.taskId, r.task.id);
        deps.log.debug({ taskId: r.task.id, agentId, capability: r.task.type, created: r.created }, "task created");
        return r;
      },
    );
    if (!created) res.set("Idempotent-Replayed", "true");
    res.status(202).location(`/agents/${task.agentId}/tasks/${task.id}`).json(toView(task));
  }));

  app.get("/agents/:agentId/tasks", route(read, async (req, res, caller) => {
    const { tasks, nextCursor } = await deps.service.listTasks(caller, String(req.params.agentId), req.query);
    res.json({ tasks: tasks.map(toView), nextCursor });
  }));

  app.get("/agents/:agentId/tasks/:taskId", route(read, async (req, res, caller) => {
    res.json(toView(await deps.service.getTask(caller, String(req.params.agentId), String(req.params.taskId))));
  }));

  // By id alone: its agentId (for the agent's routes: stream, cancel, results) is in the answer.
  app.get("/tasks/:taskId", route(read, async (req, res, caller) => {
    res.json(toView(await deps.service.getTaskById(caller, String(req.params.taskId))));
  }));

  app.get("/agents/:agentId/tasks/:taskId/results", route(read, async (req, res, caller) => {
    res.json(await deps.service.getResults(caller, String(req.params.agentId), String(req.params.taskId), req.query));
  }));

  app.get("/agents/:agentId/tasks/:taskId/stream", route(read, async (req, res, caller) => {
    await streamTask(req, res, { service: deps.service, heartbeatMs: deps.sseHeartbeatMs }, caller, String(req.params.agentId), String(req.params.taskId));
  }));

  app.post("/agents/:agentId/tasks/:taskId/cancel", route(call, async (req, res, caller) => {
    const reason = typeof req.body?.reason === "string" ? req.body.reason.slice(0, 500) : undefined;
    res.json(toView(await deps.service.cancelTask(caller, String(req.params.agentId), String(req.params.taskId), reason)));
  }));

  if (deps.webhooks) mountWebhookRoutes(app, route, deps.webhooks, { read, call });
  deps.mountAgentRoutes?.(app, { route, scopes: { read, call }, service: deps.service });

  app.use((req, res) => {
    res.status(404).json({ error: { code: "not_found", message: `no route for ${req.method} ${req.path}` } });
  });

  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { status, body } = toHttpError(err);
    if (status >= 500 && status !== 503) deps.log.error({ err, path: req.path }, "unhandled error");
    if (status === 429 && body.error.details?.retryAfterSeconds) res.set("Retry-After", String(body.error.details.retryAfterSeconds));
    if (status === 401) res.set("WWW-Authenticate", 'Bearer realm="dealscale-a2a"');
    if (res.headersSent) {
      res.end();
      return;
    }
    res.status(status).json(body);
  });

  return app;
}

/**
 * Verifies the bearer token and the scopes a route needs. Refusals go through the refusal auditor
 * (401s in the anonymous chain, a missing scope in the caller's tenant chain), which answers a
 * source over its refusal rate with 429 before anything is written; thrown as AuthError otherwise.
 */
export function authenticator(deps: Pick<GatewayDeps, "refusals" | "jwtSecret" | "jwtIssuer">) {
  return async (req: Request, scopes: string[]): Promise<Caller> => {
    const agentId = typeof req.params.agentId === "string" ? req.params.agentId : "";
    let caller: Caller | undefined;
    try {
      const claims = verifyBearer(req.header("authorization"), deps.jwtSecret, deps.jwtIssuer);
      caller = { tenantId: claims.tenantId, agentId: claims.agentId, scopes: claims.scopes, ip: req.ip ?? null, userAgent: req.header("user-agent") ?? null };
      requireScope(claims, ...scopes);
      return caller;
    } catch (e) {
      if (!(e instanceof AuthError)) throw e;
      const retryAfterSeconds = await deps.refusals.refuse({
        chain: e.status === 403 && caller ? caller.tenantId : ANONYMOUS_CHAIN,
        ip: req.ip ?? null,
        userAgent: req.header("user-agent") ?? null,
        reason: e.message,
        callingAgent: caller?.agentId ?? e.claimed?.agentId ?? null,
        claimedTenant: e.claimed?.tenantId ?? null,
        targetAgent: agentId || null,
        method: req.method,
        path: req.path,
      });
      if (retryAfterSeconds !== undefined) {
        throw new ServiceError(429, "rate_limited", "too many refused requests from this address; retry later", { retryAfterSeconds });
      }
      throw e;
    }
  };
}

const ANONYMOUS_CHAIN = "anonymous";

/** Where the refusal auditor writes: the NULL-tenant chain, or the tenant's through the task service. */
export function refusalAuditWriter(pool: Pool, service: TaskService): RefusalWriter {
  return async (r, repeated) => {
    const details = { method: r.method, path: r.path, ...(repeated ? { repeated: true, ...repeated } : {}) };
    if (r.chain === ANONYMOUS_CHAIN) {
      await appendAnonymousAudit(pool, { eventType: "unauthorized_access", callingAgent: r.callingAgent, targetAgent: r.targetAgent, ip: r.ip, userAgent: r.userAgent, error: r.reason, details: { ...details, claimedTenant: r.claimedTenant } });
    } else {
      const caller: Caller = { tenantId: r.chain, agentId: r.callingAgent ?? "", scopes: [], ip: r.ip, userAgent: r.userAgent };
      await service.auditRefusal(caller, r.targetAgent ?? "", "unauthorized_access", r.reason, details);
    }
  };
}

export type Authenticate = ReturnType<typeof authenticator>;

function summary(card: ReturnType<AgentRegistry["list"]>[number]) {
  return {
    agentId: card.agentId,
    alias: card.alias,
    name: card.name,
    description: card.description,
    version: card.version,
    status: card.status,
    regions: card.regions,
    capabilities: card.capabilities.map((c) => c.name),
  };
}
