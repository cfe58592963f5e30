/**
 * The one table from errors to HTTP answers, for both faces (REST and the A2A bindings): service
 * errors keep their status and code, auth errors are 401/403, body-parser refusals (malformed JSON,
 * too large, bad encoding or charset) are 4xx, and only a lost Postgres or Redis is a 503.
 */
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
