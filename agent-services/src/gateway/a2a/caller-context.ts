/**
 * How the authenticated caller travels through the SDK: our auth middleware builds it, the
 * UserBuilder wraps it in the SDK's User, and our stores and executor read it back.
 */
import { ServerCallContext, type User } from "@a2a-js/sdk/server";
import type { ServerCallContextBuilderOptions } from "@a2a-js/sdk/server";
import { A2AError, ContentTypeNotSupportedError, JsonRpcRequestMalformedError, RestContentTypeNotSupportedError, RestRequestMalformedError } from "@a2a-js/sdk/errors";
import type { Request } from "express";
import type { Caller } from "../../tasks/task-service";
import { ServiceError } from "../../tasks/errors";
import { errorInfoOf, jsonRpcCode } from "../http-errors";

export type Transport = "jsonrpc" | "rest";

const TRANSPORT = "dealscale.transport";

export class CallerUser implements User {
  constructor(readonly caller: Caller) {}
  get isAuthenticated(): boolean {
    return true;
  }
  get userName(): string {
    return `${this.caller.tenantId}/${this.caller.agentId}`;
  }
}

export const CALLER_LOCAL = "caller";

/**
 * Set on a call's state by a non-blocking SendMessage: its answer is the submitted task and nobody
 * follows the task's events through this call, so its bus is a local one the SDK ends at once.
 */
export const DETACHED = "dealscale.detached";

export const isDetached = (context: ServerCallContext | undefined): boolean => context?.state.get(DETACHED) === true;

/** UserBuilder: the caller our auth middleware put on res.locals. */
export async function userFromRequest(req: Request): Promise<User> {
  const caller = req.res?.locals[CALLER_LOCAL] as Caller | undefined;
  if (!caller) throw new Error("A2A route reached without authentication");
  return new CallerUser(caller);
}

/** A ServerCallContextBuilder that remembers which binding the call came through. */
export function contextBuilderFor(transport: Transport) {
  return (options: ServerCallContextBuilderOptions): ServerCallContext => {
    const state = new Map<string, unknown>([
      ["headers", options.headers],
      [TRANSPORT, transport],
    ]);
    return new ServerCallContext({
      requestedExtensions: options.extensions,
      user: options.user,
      tenant: options.tenant,
      requestedVersion: options.requestedVersion,
      state,
    });
  };
}

export function callerOf(context: ServerCallContext | undefined): Caller {
  const user = context?.user;
  if (!(user instanceof CallerUser)) throw new Error("A2A call without an authenticated caller");
  // The tenant of a request (path or params) must be the token's; the gateway refuses a mismatch
  // with 403 before the SDK sees it, so this only guards against a route that forgot to.
  if (context?.tenant && context.tenant !== user.caller.tenantId) {
    throw new RequestMalformedForTenant();
  }
  return user.caller;
}

class RequestMalformedForTenant extends A2AError {
  constructor() {
    super("the request names another tenant than its token");
  }
}

/**
 * Our service errors as the A2A errors of the binding the call came through, carrying our ErrorInfo
 * (reason, domain, metadata) where the SDK would put the generic INVALID_PARAMS one.
 */
export function toA2AError(e: unknown, context: ServerCallContext | undefined): unknown {
  if (!(e instanceof ServiceError)) return e;
  const transport = context?.state.get(TRANSPORT) as Transport | undefined;
  const info = errorInfoOf(e.code, e.details);
  const error = transport === "rest"
    ? new RestRequestMalformedError({ message: e.message, statusCode: e.status, metadata: info.metadata })
    : new JsonRpcRequestMalformedError({ message: e.message, envelopeCode: jsonRpcCode(e.status, e.code), metadata: info.metadata });
  // The SDK types ErrorInfo's domain as the A2A one; ours names the service that refused.
  error.toErrorInfo = () => info as unknown as ReturnType<typeof error.toErrorInfo>;
  return error;
}

/** ContentTypeNotSupported in the binding's shape: -32005, or over HTTP+JSON the spec's 415 (the SDK's mapping says 400). */
export function contentTypeNotSupported(message: string, context: ServerCallContext | undefined): A2AError {
  return context?.state.get(TRANSPORT) === "rest" ? new RestContentTypeNotSupportedError({ message, statusCode: 415 }) : new ContentTypeNotSupportedError(message);
}
