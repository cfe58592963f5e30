/**
 * Domain errors of the task service. Each carries the HTTP status and a stable code so the gateway
 * maps them without knowing where they came from; nothing here imports express.
 */
export class ServiceError extends Error {
  constructor(
    public readonly status: number,
    public readonly code: string,
    message: string,
    public readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "ServiceError";
  }
}

export const notFound = (what: string, details?: Record<string, unknown>) =>
  new ServiceError(404, "not_found", `${what} not found`, details);

export const invalidInput = (message: string, details?: Record<string, unknown>) =>
  new ServiceError(400, "invalid_input", message, details);

export const forbidden = (message: string) => new ServiceError(403, "forbidden", message);

export const conflict = (message: string, details?: Record<string, unknown>) =>
  new ServiceError(409, "invalid_transition", message, details);

export const insufficientCredits = (requiredCredits: number, availableCredits: number) =>
  new ServiceError(402, "insufficient_credits", `task needs ${requiredCredits} credits, tenant has ${availableCredits}`, {
    requiredCredits,
    availableCredits,
  });

export const unavailable = (dependency: string, cause?: unknown) =>
  new ServiceError(503, "dependency_unavailable", `${dependency} is unavailable`, {
    dependency,
    ...(cause instanceof Error ? { reason: cause.message } : {}),
  });

/** Connection-level failures of Postgres or Redis, as opposed to a query the database refused. */
export function isConnectionError(e: unknown): boolean {
  const err = e as { code?: string; message?: string };
  const codes = ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EAI_AGAIN", "57P01", "57P03", "08006", "08001", "08003", "53300"];
  if (err?.code && codes.includes(err.code)) return true;
  const m = err?.message ?? "";
  return /Connection terminated|connect ECONNREFUSED|Connection is closed|timeout exceeded when trying to connect|MaxRetriesPerRequest|Stream isn't writeable/i.test(m);
}
