/** The task lifecycle: the one transition table. Pure code; the store enforces it with guarded UPDATEs. */

/** `input-required`: an A2A task waiting for its caller to name a skill; nothing reserved, nothing queued. */
export const TASK_STATES = ["input-required", "submitted", "working", "completed", "failed", "cancelled", "timeout"] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const TERMINAL_STATES: readonly TaskState[] = ["completed", "failed", "cancelled", "timeout"];

/** For each target state, the states a task may be in to move there. */
const ALLOWED_FROM: Record<TaskState, readonly TaskState[]> = {
  "input-required": ["input-required"], // asked again: the skill is named, an input is still missing
  submitted: ["input-required"], // the caller named the skill (a new task is created submitted)
  working: ["submitted", "working"], // working -> working: a stalled job re-run by another worker
  completed: ["working"],
  failed: ["submitted", "working"],
  cancelled: ["input-required", "submitted", "working"],
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
