/**
 * The one table from errors to answers, for both faces: HTTP status and body (REST, and the A2A
 * bindings' refusals before the SDK), the JSON-RPC error code and the HTTP+JSON status name (the
 * A2A bindings, before and inside the SDK). Service errors keep their status and code, auth errors
 * are 401/403, body-parser refusals (malformed JSON, too large, bad encoding or charset) are 4xx,
 * and only a lost Postgres or Redis is a 503.
 */
import { A2A_ERROR_DOMAIN, ERROR_INFO_TYPE } from "@a2a-js/sdk/errors";
import { ServiceError, isConnectionError } from "../tasks/errors";
import { AuthError } from "./auth";

export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

export function toHttpError(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof ServiceError) return { status: err.status, body: { error: { code: err.code, message: err.message, ...(err.details ? { details: err.details } : {}) } } };
  if (err instanceof AuthError) return { status: err.status, body: { error: { code: err.status === 401 ? "unauthorized" : "forbidden", message: err.message } } };
  const e = err as { type?: string; status?: number; message?: string; limit?: number };
  if (e?.type === "entity.too.large") return { status: 413, body: { error: { code: "payload_too_large", message: `request body is larger than ${e.limit} bytes` } } };
  if (e?.type === "entity.parse.failed") return { status: 400, body: { error: { code: "malformed_json", message: `request body is not valid JSON: ${e.message}` } } };
  if (e?.type === "encoding.unsupported" || e?.type === "charset.unsupported") return { status: 415, body: { error: { code: "unsupported_encoding", message: e.message ?? "unsupported encoding" } } };
  if (typeof e?.status === "number" && e.status >= 400 && e.status < 500) return { status: e.status, body: { error: { code: "bad_request", message: e.message ?? "bad request" } } };
  if (isConnectionError(err)) return { status: 503, body: { error: { code: "dependency_unavailable", message: "a backing service (Postgres or Redis) is unavailable; retry shortly" } } };
  return { status: 500, body: { error: { code: "internal", message: "internal error" } } };
}

/**
 * The JSON-RPC error code of a refusal: a body that is not JSON is a parse error, inputs that do not
 * fit (or name something that does not exist) invalid params, any other unreadable request an
 * invalid request; other refusals keep their HTTP status as an application-defined code (402
 * credits, 403 tenant, 409 conflict, 429 rate, 503 unavailable).
 */
export function jsonRpcCode(status: number, code: string): number {
  const spec = A2A_SPEC_ERRORS[code];
  if (spec) return spec.jsonRpc;
  if (code === "malformed_json") return -32700;
  if (code === "invalid_input" || code === "not_found") return -32602;
  if (status === 400 || status === 413 || status === 415) return -32600;
  return status;
}

/** Refusals the A2A specification names: its JSON-RPC code and ErrorInfo reason, in its domain. */
const A2A_SPEC_ERRORS: Record<string, { jsonRpc: number; reason: string }> = {
  content_type_not_supported: { jsonRpc: -32005, reason: "CONTENT_TYPE_NOT_SUPPORTED" },
};

/** The ErrorInfo domain of DealScale's own refusals; the A2A errors proper keep the SDK's "a2a-protocol.org". */
export const DEALSCALE_ERROR_DOMAIN = "dealscale.io";

export interface ErrorInfo {
  "@type": typeof ERROR_INFO_TYPE;
  reason: string;
  domain: string;
  metadata: Record<string, string>;
}

/**
 * The google.rpc.ErrorInfo an A2A binding carries for a DealScale refusal (JSON-RPC `error.data`,
 * HTTP+JSON `error.details`): the reason is our error code in UPPER_SNAKE_CASE, the metadata the
 * code and the details, each as a string (ErrorInfo metadata is a string map).
 */
export function errorInfoOf(code: string, details?: Record<string, unknown>): ErrorInfo {
  const metadata: Record<string, string> = { code };
  for (const [k, v] of Object.entries(details ?? {})) metadata[k] = typeof v === "string" ? v : JSON.stringify(v);
  const spec = A2A_SPEC_ERRORS[code];
  return { "@type": ERROR_INFO_TYPE, reason: spec?.reason ?? code.toUpperCase(), domain: spec ? A2A_ERROR_DOMAIN : DEALSCALE_ERROR_DOMAIN, metadata };
}

const STATUS_NAMES: Record<number, string> = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  402: "FAILED_PRECONDITION",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "FAILED_PRECONDITION",
  413: "INVALID_ARGUMENT",
  415: "INVALID_ARGUMENT",
  429: "RESOURCE_EXHAUSTED",
  500: "INTERNAL",
  503: "UNAVAILABLE",
};

/** The google.rpc status name the HTTP+JSON binding gives a refusal of this HTTP status. */
export function restStatusName(status: number): string {
  return STATUS_NAMES[status] ?? "UNKNOWN";
}
