/**
 * A task as the service hands it out, whoever asked: the REST view (task-view.ts), the A2A objects
 * (a2a-mapping.ts), webhooks and metrics are all functions of this one shape. The store maps its
 * rows into it; nothing outside tasks/ sees a database row.
 */
import type { TaskState } from "./task-states";

export interface TaskError {
  code: string;
  message: string;
  details?: unknown;
}

export interface Task {
  id: string;
  tenantId: string;
  agentId: string;
  /** The capability it runs. */
  type: string;
  status: TaskState;
  priority: number;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown> | null;
  error: TaskError | null;
  progress: number;
  progressMessage: string | null;
  idempotencyKey: string | null;
  creditsReservedMilli: bigint;
  creditsUsedMilli: bigint;
  /** The agent that asked for it (the token's subject). */
  callingAgent: string | null;
  callbackUrl: string | null;
  /** A2A only: the conversation it belongs to, and the message that started it (or named its skill). */
  contextId: string | null;
  a2aMessage: Record<string, unknown> | null;
  metadata: Record<string, unknown>;
  /** A2A only, while `input-required`: what the task asks its caller (the skills and their input schemas). */
  inputRequest: Record<string, unknown> | null;
  attempts: number;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
}

/** One entry of a task's event stream (task_events), as SSE and the live wire carry it. */
export interface TaskEvent {
  id: string;
  taskId: string;
  kind: "status" | "progress";
  data: Record<string, unknown>;
  createdAt: string;
  /** Live wire only, on a finish: what it changed, so a listener need not read the task again. */
  final?: FinalState;
}

/** The fields a finish sets, JSON-safe. */
export interface FinalState {
  status: Task["status"];
  outputs: Task["outputs"];
  error: Task["error"];
  progress: number;
  creditsUsedMilli: string;
  updatedAt: string;
  completedAt: string | null;
}

export function finalStateOf(task: Task): FinalState {
  return {
    status: task.status,
    outputs: task.outputs,
    error: task.error,
    progress: task.progress,
    creditsUsedMilli: task.creditsUsedMilli.toString(),
    updatedAt: task.updatedAt.toISOString(),
    completedAt: task.completedAt?.toISOString() ?? null,
  };
}

/** The task as it was before its finish, with the finish applied. */
export function withFinalState(task: Task, final: FinalState): Task {
  return {
    ...task,
    status: final.status,
    outputs: final.outputs,
    error: final.error,
    progress: final.progress,
    creditsUsedMilli: BigInt(final.creditsUsedMilli),
    updatedAt: new Date(final.updatedAt),
    completedAt: final.completedAt ? new Date(final.completedAt) : null,
  };
}
