/**
 * The A2A face of each agent: its card at /agents/<id>/.well-known/agent-card.json, the JSON-RPC
 * binding at /agents/<id>/a2a/jsonrpc and the HTTP+JSON binding at /agents/<id>/a2a/rest, both
 * served by the SDK's handlers over our task service, task store, Redis bus and push configs.
 * In front of the SDK: our body limit, bearer auth with per-method scopes (audited like the REST
 * face), the token's tenant against any tenant the request names, and the agent's rate limit.
 */
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import type { Pool } from "pg";
import type { Logger as Pino } from "pino";
import { jsonRpcHandler, restHandler } from "@a2a-js/sdk/server/express";
import type { AgentRegistry } from "../../protocol/registry";
import type { TaskService, Caller } from "../../tasks/task-service";
import type { RedisEventBus } from "../../tasks/event-bus";
import { a2aCardJson, a2aPaths, toA2ACard } from "../../protocol/a2a-card";
import type { UrlPolicy } from "../../lib/url-policy";
import { SCOPES } from "../auth";
import { errorInfoOf, jsonRpcCode, restStatusName, toHttpError } from "../http-errors";
import type { Authenticate } from "../app";
import { ServiceError, invalidInput } from "../../tasks/errors";
import { CALLER_LOCAL, contextBuilderFor, userFromRequest } from "./caller-context";
import { DealScaleExecutor } from "./executor";
import { PgTaskStore } from "./pg-task-store";
import { PgPushConfigStore } from "./push-store";
import { TenantPushConfigs } from "../../webhooks/push-config-store";
import { RedisBusManager } from "./redis-bus";
import { TaskSnapshots } from "./task-snapshots";
import { DealScaleRequestHandler } from "./request-handler";
import { unreadableMessage } from "../../protocol/a2a-message-shape";

export interface A2ADeps {
  pool: Pool;
  registry: AgentRegistry;
  service: TaskService;
  events: RedisEventBus;
  log: Pino;
  authenticate: Authenticate;
  urlPolicy: UrlPolicy;
  maxBodyBytes: number;
  /** Base URL the cards advertise; by default the URL the request came in on. */
  publicUrl?: string;
  /** Per tenant and agent; throws a 429 ServiceError when over the card's rate. */
  rateLimit?: (caller: Caller, agentId: string) => Promise<void>;
  busWatchdogMs?: number;
}

const JSON_TYPES = ["application/json", "application/*+json"];
const A2A_JSON = "application/a2a+json";
const READ_METHODS = new Set(["GetTask", "ListTasks", "SubscribeToTask", "GetTaskPushNotificationConfig", "ListTaskPushNotificationConfigs", "GetExtendedAgentCard"]);
const REST_ROOTS = new Set(["message:send", "message:stream", "tasks", "extendedAgentCard"]);

export function mountA2A(app: Router, deps: A2ADeps): void {
  const cardsLoaded = new Date().toUTCString();
  for (const card of deps.registry.list()) {
    const agentId = card.agentId;
    const paths = a2aPaths(agentId);
    const snapshots = new TaskSnapshots();
    const busManager = new RedisBusManager({ agentId, service: deps.service, events: deps.events, snapshots, watchdogMs: deps.busWatchdogMs ?? 5000 });
    const requestHandler = DealScaleRequestHandler.create(
      { agentId, service: deps.service, snapshots, skills: card.capabilities.map((c) => ({ id: c.name, name: c.title, description: c.description, inputSchema: c.inputSchema })) },
      toA2ACard(card, deps.publicUrl ?? "http://localhost"),
      new PgTaskStore(agentId, deps.service, snapshots),
      new DealScaleExecutor(agentId, deps.service, snapshots),
      busManager,
      new PgPushConfigStore(new TenantPushConfigs(deps.pool), deps.urlPolicy),
      // Deliveries are the webhook worker's (durable, signed, retried), never the SDK's in-process sender.
      { send: async () => undefined },
    );

    // Discovery is public, as A2A clients expect: the card holds no tenant data. A card changes
    // only with a deployment, so it was last modified when this process loaded it; with the ETag,
    // a client's If-Modified-Since or If-None-Match gets a 304.
    app.get(paths.card, (req, res) => {
      res.set({ "Cache-Control": "public, max-age=300", "Last-Modified": cardsLoaded }).json(a2aCardJson(card, deps.publicUrl ?? requestBaseUrl(req)));
    });

    const jsonBody = express.json({ limit: deps.maxBodyBytes, type: JSON_TYPES });
    app.use(paths.jsonRpc, requireJson("jsonrpc"), jsonBody, bodyError("jsonrpc"), guard(deps, agentId, "jsonrpc"), jsonRpcHandler({ requestHandler, userBuilder: userFromRequest, contextBuilder: contextBuilderFor("jsonrpc") }));
    app.use(paths.rest, jsonUnlessA2AJsonAsked, requireJson("rest"), jsonBody, bodyError("rest"), guard(deps, agentId, "rest"), restHandler({ requestHandler, userBuilder: userFromRequest, contextBuilder: contextBuilderFor("rest") }));
  }
}

/** Auth, tenant and rate limit before the SDK; refusals in the binding's own error shape. */
function guard(deps: A2ADeps, agentId: string, binding: "jsonrpc" | "rest") {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const read = binding === "jsonrpc" ? READ_METHODS.has(String(req.body?.method)) : req.method === "GET" || /:subscribe$/.test(req.path);
      req.params.agentId = agentId;
      const caller = await deps.authenticate(req, read ? [SCOPES.read, SCOPES.call] : [SCOPES.call]);
      const named = binding === "jsonrpc" ? req.body?.params?.tenant : restTenant(req.path);
      if (named !== undefined && named !== null && typeof named !== "string") throw invalidInput("tenant must be a string");
      const unreadable = unreadableMessage(binding === "jsonrpc" ? req.body?.params?.message : req.body?.message);
      if (unreadable) throw invalidInput(unreadable);
      if (typeof named === "string" && named !== "" && named !== caller.tenantId) {
        await deps.service.auditRefusal(caller, agentId, "tenant_mismatch", "A2A request names another tenant than its token", { namedTenant: named });
        throw new ServiceError(403, "forbidden", "the request names another tenant than its token");
      }
      await deps.rateLimit?.(caller, agentId);
      res.locals[CALLER_LOCAL] = caller;
      next();
    } catch (e) {
      refuse(res, binding, e, req.body?.id);
    }
  };
}

/**
 * The SDK labels every HTTP+JSON answer application/a2a+json; the specification (11.1) says
 * application/json, as clients such as the a2a-tck check. A client that prefers application/a2a+json
 * (the SDK's own client asks for it first) gets that label, any other application/json: the body is
 * the same either way.
 */
function jsonUnlessA2AJsonAsked(req: Request, res: Response, next: NextFunction): void {
  if (req.accepts(["application/json", A2A_JSON]) !== A2A_JSON) {
    const setHeader = res.setHeader.bind(res);
    res.setHeader = ((name: string, value: number | string | readonly string[]) =>
      setHeader(name, name.toLowerCase() === "content-type" && typeof value === "string" ? value.replace(A2A_JSON, "application/json") : value)) as typeof res.setHeader;
  }
  next();
}

/** A body that is not JSON: ContentTypeNotSupported (-32005 / 415), where it would otherwise read as an empty request. */
function requireJson(binding: "jsonrpc" | "rest") {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.is(JSON_TYPES) === false) {
      refuse(res, binding, new ServiceError(415, "content_type_not_supported", `the body must be JSON (Content-Type application/json), not ${req.get("content-type") ?? "untyped"}`), undefined);
      return;
    }
    next();
  };
}

/** Malformed or oversized bodies answered in the binding's error shape (-32700 / 400, 413). */
function bodyError(binding: "jsonrpc" | "rest") {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction) => refuse(res, binding, err, undefined);
}

function restTenant(path: string): string | undefined {
  const first = path.split("/").filter(Boolean)[0];
  return first && !REST_ROOTS.has(first) && !first.startsWith("message:") ? decodeURIComponent(first) : undefined;
}

function refuse(res: Response, binding: "jsonrpc" | "rest", e: unknown, id: unknown): void {
  const { status, body } = toHttpError(e);
  const message = body.error.message;
  if (status === 401) res.set("WWW-Authenticate", 'Bearer realm="dealscale-a2a"');
  if (e instanceof ServiceError && e.details?.retryAfterSeconds) res.set("Retry-After", String(e.details.retryAfterSeconds));
  const details = [errorInfoOf(body.error.code, body.error.details)];
  if (binding === "jsonrpc") {
    res.status(status).json({ jsonrpc: "2.0", id: id ?? null, error: { code: jsonRpcCode(status, body.error.code), message, data: details } });
  } else {
    res.status(status).json({ error: { code: status, status: restStatusName(status), message, details } });
  }
}

function requestBaseUrl(req: Request): string {
  return `${req.protocol}://${req.get("host")}`;
}
