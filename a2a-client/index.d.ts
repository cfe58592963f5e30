/** Types of the DealScale A2A client (index.js). */

/** A task id, or the pending `createTask(...).taskId`. */
export type TaskId = string | PromiseLike<string>;

/** `input-required`: an A2A task waiting for its caller to name a skill (only A2A messages create one). */
export type TaskStatus = "input-required" | "submitted" | "working" | "completed" | "failed" | "cancelled" | "timeout";

/** A task as every route returns it: ours and the design document's A2ATask fields. */
export interface A2ATask {
  taskId: string;
  /** The canonical agent id (data-engineer). */
  agentId: string;
  /** The design document's A2ATask fields: the agent by its document id, the caller's agentId, the tenant. */
  targetAgentId: string;
  requesterAgentId: string | null;
  tenantId: string;
  type: string;
  status: TaskStatus;
  priority: number;
  progress: number;
  progressMessage: string | null;
  inputs: Record<string, any>;
  outputs: Record<string, any> | null;
  error: { code: string; message: string; details?: unknown } | null;
  idempotencyKey: string | null;
  creditsReserved: number;
  creditsUsed: number;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  completedAt: string | null;
  /** Seconds from creation to the end, once the task has ended. */
  actualDuration: number | null;
  metadata: Record<string, unknown>;
  /** While `input-required`: what the task asks (the skills and their input schemas). */
  inputRequest?: Record<string, unknown>;
}

export interface CreateTaskRequest {
  /** The agent: the design document's id (DataEngineer) or ours (data-engineer). */
  targetAgentId?: string;
  agentId?: string;
  /** The capability. */
  type: string;
  inputs?: Record<string, unknown>;
  priority?: number;
  idempotencyKey?: string;
  callbackUrl?: string;
  metadata?: Record<string, unknown>;
  /** The document's load-balancing hint; kept in the task's metadata. */
  instanceId?: string;
  tenantId?: string;
}

export interface HttpRequest {
  method: string;
  /** From the gateway root, e.g. /agents/data-engineer/tasks. */
  path: string;
  query?: Record<string, string | number | undefined | null>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  headers: { get(name: string): string | null } | Record<string, string | string[] | undefined>;
  /** Parsed JSON (or the text when it is not JSON). */
  body: any;
}

/** Sends one request. A request that gets no answer throws (ConnectionError is the fetch transport's). */
export type Transport = (request: HttpRequest) => Promise<HttpResponse>;

export interface A2AClientOptions {
  /** The gateway, e.g. http://localhost:8080. Needed for streaming (waitForTask over SSE). */
  baseUrl?: string;
  /** The bearer token, or a function that returns one (minted per request). */
  token?: string | (() => string | Promise<string>);
  /** Replaces fetch for every request but the SSE stream; waiting then polls unless baseUrl and fetch are set too. */
  transport?: Transport;
  fetch?: typeof fetch;
  /** 429 answers retried after their Retry-After (default 3); 0 throws RateLimitedError at once. */
  rateLimitRetries?: number;
  /** A Retry-After longer than this (default 60 s) is not waited for. */
  maxRetryAfterSeconds?: number;
}

export interface WaitOptions {
  /** Milliseconds; WaitTimeoutError after it (the task goes on). */
  timeout?: number;
  agentId?: string;
  signal?: AbortSignal;
  /** false: poll GET instead of following the SSE stream. */
  stream?: boolean;
  /** Between polls (default 1000 ms). */
  pollIntervalMs?: number;
  onUpdate?(update: { status: TaskStatus; progress?: number; message?: string | null }): void;
  onNotice?(level: "info" | "warn", message: string): void;
}

export interface AgentSummary {
  agentId: string;
  alias: string;
  name: string;
  description: string;
  version: string;
  status: string;
  regions: string[];
  capabilities: string[];
}

export interface ResultPage {
  items: Record<string, unknown>[];
  nextCursor: string | null;
  total: number;
}

export declare class A2AClient {
  constructor(options: A2AClientOptions);
  request<T = any>(method: string, path: string, options?: { query?: HttpRequest["query"]; body?: unknown; signal?: AbortSignal }): Promise<T>;
  listAgents(): Promise<AgentSummary[]>;
  getCard(agentId: string): Promise<Record<string, any>>;
  /** The promise's `taskId` resolves to the new task's id: waitForTask accepts it unawaited. */
  createTask(request: CreateTaskRequest, options?: { signal?: AbortSignal }): Promise<A2ATask> & { taskId: Promise<string> };
  /** Without agentId the agent is the one createTask used, or read once with GET /tasks/:taskId. */
  getTask(taskId: TaskId, options?: { agentId?: string; signal?: AbortSignal }): Promise<A2ATask>;
  listTasks(agentId: string, options?: { status?: string; type?: string; limit?: number; cursor?: string; signal?: AbortSignal }): Promise<{ tasks: A2ATask[]; nextCursor: string | null }>;
  cancelTask(taskId: TaskId, reason?: string, options?: { agentId?: string; signal?: AbortSignal }): Promise<A2ATask>;
  resultPage(taskId: string, options?: { agentId?: string; cursor?: string; limit?: number; signal?: AbortSignal }): Promise<ResultPage>;
  results(taskId: string, options?: { agentId?: string; limit?: number; signal?: AbortSignal }): AsyncGenerator<Record<string, unknown>>;
  waitForTask(taskId: TaskId, options?: WaitOptions): Promise<A2ATask>;
}

export declare function fetchTransport(options: { baseUrl: string; token?: A2AClientOptions["token"]; fetch?: typeof fetch }): Transport;
export declare function readSse(res: Response, onEvent: (ev: { id?: string; event: string; data: string }) => boolean | void): Promise<void>;
export declare function errorFor(status: number, body: unknown, headers: HttpResponse["headers"] | undefined, method: string, path: string): A2AError;
export declare const TERMINAL_STATUSES: TaskStatus[];
export declare const RESULT_PAGE_SIZE: number;

/** What an A2AError carries (and its constructor takes). */
export interface A2AErrorInfo {
  /** The HTTP status; undefined when there was no answer. */
  status?: number;
  /** The gateway's error code (invalid_input, insufficient_credits, ...). */
  code?: string;
  details?: any;
  body?: any;
  method?: string;
  path?: string;
  retryAfterSeconds?: number;
  cause?: unknown;
}

export declare class A2AError extends Error {
  constructor(message: string, info?: A2AErrorInfo);
}
/** The info's fields are the error's own (declaration merging). */
export declare interface A2AError extends Omit<A2AErrorInfo, "cause"> {}
export declare class ValidationError extends A2AError {}
export declare class AuthenticationError extends A2AError {}
export declare class ForbiddenError extends A2AError {}
export declare class InsufficientCreditsError extends A2AError {}
export declare class NotFoundError extends A2AError {}
export declare class ConflictError extends A2AError {}
export declare class RateLimitedError extends A2AError {}
export declare class UnavailableError extends A2AError {}
export declare class ConnectionError extends A2AError {}
export declare class WaitTimeoutError extends A2AError {
  /** The last view of the task seen before the timeout. */
  task?: A2ATask;
}
