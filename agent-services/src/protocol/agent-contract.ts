/**
 * What a capability handler sees and returns. Handlers adapt the runtime to domain code; they get a
 * tenant-scoped database, a progress reporter, an AbortSignal that fires on cancel or SLA timeout,
 * and a logger.
 */
import type { TenantTx } from "../store/tenant-tx";

/** What a task's outputs say about its result set; `href` is where the pages are read. */
export interface ResultSetSummary {
  /** What each row is: "clusters", "issues", "scores". */
  items: string;
  total: number;
  href: string;
  /** Cursor of the row after the first page the outputs carry, null when they carry every row. */
  nextCursor: string | null;
}

/** Where a handler writes a result too large for its outputs, in order (tasks/result-sets.ts). */
export interface ResultRows {
  /** Items written so far. */
  readonly count: number;
  append(items: unknown[]): Promise<void>;
  /** The outputs' `resultSet`, when the outputs carry the first `inOutputs` items. */
  summary(items: string, agentId: string, inOutputs: number): ResultSetSummary;
}

export interface HandlerLogger {
  info(msg: string, extra?: Record<string, unknown>): void;
  warn(msg: string, extra?: Record<string, unknown>): void;
  error(msg: string, extra?: Record<string, unknown>): void;
}

export interface HandlerContext {
  taskId: string;
  tenantId: string;
  agentId: string;
  capability: string;
  inputs: Record<string, unknown>;
  /** 1 on the first run; higher when BullMQ retries or a stalled job runs again. */
  attempt: number;
  db<T>(fn: (tx: TenantTx) => Promise<T>): Promise<T>;
  progress(percent: number, message?: string): Promise<void>;
  signal: AbortSignal;
  log: HandlerLogger;
  /** The task's result set: rows too many for the outputs, read by callers in pages. */
  results: ResultRows;
}

export interface HandlerResult {
  outputs: Record<string, unknown>;
  /** Actual cost in credits when it differs from the reservation; never more than reserved. */
  creditsUsed?: number;
}

export type CapabilityHandler = (ctx: HandlerContext) => Promise<HandlerResult>;

/** A failure the handler knows about: a stable code, and whether running again could help. */
export class TaskError extends Error {
  constructor(
    public readonly code: string,
    message: string,
    public readonly options: { retryable?: boolean; creditsUsed?: number } = {},
  ) {
    super(message);
    this.name = "TaskError";
  }
}

/** Recognises a TaskError also from plugins that build their own (name "TaskError", a code). */
export function asTaskError(e: unknown): TaskError | undefined {
  if (e instanceof TaskError) return e;
  const err = e as { name?: unknown; code?: unknown; message?: unknown; options?: TaskError["options"] };
  if (err?.name === "TaskError" && typeof err.code === "string") {
    return new TaskError(err.code, String(err.message ?? ""), err.options ?? {});
  }
  return undefined;
}
