/** The task lifecycle: the one transition table. Pure code; the store enforces it with guarded UPDATEs. */
export const TASK_STATES = ["submitted", "working", "completed", "failed", "cancelled", "timeout"] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const TERMINAL_STATES: readonly TaskState[] = ["completed", "failed", "cancelled", "timeout"];

/** For each target state, the states a task may be in to move there. */
const ALLOWED_FROM: Record<TaskState, readonly TaskState[]> = {
  submitted: [],
  working: ["submitted", "working"], // working -> working: a stalled job re-run by another worker
  completed: ["working"],
  failed: ["submitted", "working"],
  cancelled: ["submitted", "working"],
  timeout: ["working"],
};

export function allowedFrom(to: TaskState): readonly TaskState[] {
  return ALLOWED_FROM[to];
}

export function canTransition(from: TaskState, to: TaskState): boolean {
  return ALLOWED_FROM[to].includes(from);
}

export function isTerminal(state: TaskState): boolean {
  return TERMINAL_STATES.includes(state);
}

export function isTaskState(value: unknown): value is TaskState {
  return typeof value === "string" && (TASK_STATES as readonly string[]).includes(value);
}
