/**
 * Mapping between DealScale tasks and A2A objects, in the SDK's in-memory (ts-proto) shapes. Pure
 * code: what a message asks for, what a task looks like to an A2A client, and the events a
 * state change becomes.
 */
import { Message as MessageCodec, Role, StreamResponse, TaskState, type Artifact, type Message, type Part, type Task, type TaskStatus } from "@a2a-js/sdk";
import type { TaskState as OurState } from "./task-states";
import type { Task as DealScaleTask } from "./task";
import { milliToCredits } from "./credits";


const TO_A2A: Record<OurState, TaskState> = {
  "input-required": TaskState.TASK_STATE_INPUT_REQUIRED,
  submitted: TaskState.TASK_STATE_SUBMITTED,
  working: TaskState.TASK_STATE_WORKING,
  completed: TaskState.TASK_STATE_COMPLETED,
  failed: TaskState.TASK_STATE_FAILED,
  cancelled: TaskState.TASK_STATE_CANCELED,
  // A2A has no timeout state: a task past its SLA failed, and its message says why.
  timeout: TaskState.TASK_STATE_FAILED,
};

export function toA2AState(state: OurState): TaskState {
  return TO_A2A[state];
}

/** Our states an A2A state filter selects; empty when no DealScale task can be in that state. */
export function fromA2AState(state: TaskState): OurState[] {
  return (Object.keys(TO_A2A) as OurState[]).filter((s) => TO_A2A[s] === state);
}

export const OUTPUTS_ARTIFACT_ID = "outputs";

const dataPart = (value: unknown): Part => ({ content: { $case: "data", value }, mediaType: "application/json", filename: "", metadata: {} });
const textPart = (value: string): Part => ({ content: { $case: "text", value }, mediaType: "text/plain", filename: "", metadata: {} });

export function contextIdOf(task: DealScaleTask): string {
  return task.contextId ?? task.id;
}

function agentMessage(task: DealScaleTask, parts: Part[]): Message {
  return {
    messageId: `${task.id}:${task.status}:${task.updatedAt.getTime()}`,
    contextId: contextIdOf(task),
    taskId: task.id,
    role: Role.ROLE_AGENT,
    parts,
    metadata: {},
    extensions: [],
    referenceTaskIds: [],
  };
}

export function statusOf(task: DealScaleTask): TaskStatus {
  let message: Message | undefined;
  if (task.error && task.status !== "completed") {
    message = agentMessage(task, [textPart(`${task.error.code}: ${task.error.message}`), dataPart({ code: task.error.code, message: task.error.message })]);
  } else if (task.status === "input-required" && task.inputRequest) {
    message = agentMessage(task, [textPart(String(task.inputRequest.message ?? "")), dataPart(task.inputRequest)]);
  } else if (task.status === "working" && task.progressMessage) {
    message = agentMessage(task, [textPart(task.progressMessage)]);
  }
  return { state: toA2AState(task.status), message, timestamp: task.updatedAt.toISOString() };
}

export function outputsArtifact(outputs: Record<string, unknown>): Artifact {
  return { artifactId: OUTPUTS_ARTIFACT_ID, name: "outputs", description: "The capability's validated outputs", parts: [dataPart(outputs)], metadata: {}, extensions: [] };
}

export const RESULTS_ARTIFACT_ID = "results";

/**
 * The artifacts of a completed task: its outputs and, when the result is larger than the outputs
 * carry (outputs.resultSet), how to read the rest in pages over the REST API.
 */
export function completedArtifacts(outputs: Record<string, unknown>): Artifact[] {
  const artifacts = [outputsArtifact(outputs)];
  const set = outputs.resultSet as Record<string, unknown> | undefined;
  if (set && typeof set === "object") {
    artifacts.push({
      artifactId: RESULTS_ARTIFACT_ID,
      name: "results",
      description:
        "The task's full result set, read in pages: GET {href}?cursor={nextCursor}&limit={1..10000} with the same bearer token; " +
        "each page answers { items, nextCursor, total } and the last has nextCursor null. The outputs artifact carries the first page.",
      parts: [dataPart({ ...set, method: "GET", pageSize: { default: 1000, max: 10_000 } })],
      metadata: {},
      extensions: [],
    });
  }
  return artifacts;
}

export function taskMetadata(task: DealScaleTask): Record<string, unknown> {
  return {
    dealscale: {
      agentId: task.agentId,
      capability: task.type,
      priority: task.priority,
      progress: task.progress,
      creditsReserved: milliToCredits(task.creditsReservedMilli),
      creditsUsed: milliToCredits(task.creditsUsedMilli),
    },
  };
}

export function toA2ATask(task: DealScaleTask): Task {
  return {
    id: task.id,
    contextId: contextIdOf(task),
    status: statusOf(task),
    artifacts: task.status === "completed" && task.outputs ? completedArtifacts(task.outputs) : [],
    history: task.a2aMessage ? [MessageCodec.fromJSON(task.a2aMessage)] : [],
    metadata: taskMetadata(task),
  };
}

export interface SkillRequest {
  skill: string;
  inputs: Record<string, unknown>;
  priority?: number;
}

/** Why a message does not say what to run: unreadable, a part of a kind we take no content of, or no skill named. */
export type SkillRequestRefusal = { refusal: "malformed" | "content_type" | "no_skill"; message: string };

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Reads what a message asks to run. The skill is named by our extension (`metadata.skill`, the
 * inputs in one data part), or, for a client that knows nothing of it, in the content itself: one
 * data part `{"skill": ..., "inputs": {...}}`, or a text part holding that JSON. On a task that
 * already has its skill (`skillOfTask`, waiting for inputs), such an object without "skill" is the
 * inputs it adds.
 */
export function parseSkillRequest(message: Message, requestMetadata?: Record<string, unknown>, skillOfTask?: string): SkillRequest | SkillRequestRefusal {
  const meta = { ...(requestMetadata ?? {}), ...(message.metadata ?? {}) };
  const others = message.parts.filter((p) => p.content && p.content.$case !== "data" && p.content.$case !== "text");
  if (others.length) return { refusal: "content_type", message: "only data and text parts are accepted; the inputs go in one data part" };
  const data = message.parts.filter((p) => p.content?.$case === "data");
  if (data.length > 1) return { refusal: "malformed", message: "send the inputs as exactly one data part" };
  const priority = meta.priority;
  if (priority !== undefined && (typeof priority !== "number" || !Number.isInteger(priority))) {
    return { refusal: "malformed", message: "message.metadata.priority must be an integer 1..10" };
  }
  const value = data.length ? (data[0].content as { value: unknown }).value : undefined;
  if (meta.skill !== undefined) {
    if (typeof meta.skill !== "string" || !meta.skill) return { refusal: "malformed", message: "message.metadata.skill must name the skill (capability) to run" };
    if (value !== undefined && !isObject(value)) return { refusal: "malformed", message: "the data part must hold the inputs object" };
    return { skill: meta.skill, inputs: (value ?? {}) as Record<string, unknown>, priority: priority as number | undefined };
  }
  const named = value !== undefined ? value : jsonOfText(message);
  if (isObject(named) && named.skill === undefined && skillOfTask) return { skill: skillOfTask, inputs: named, priority: priority as number | undefined };
  if (!isObject(named) || named.skill === undefined) return { refusal: "no_skill", message: "the message names no skill" };
  if (typeof named.skill !== "string" || !named.skill) return { refusal: "malformed", message: "skill must name the skill (capability) to run" };
  if (named.inputs !== undefined && !isObject(named.inputs)) return { refusal: "malformed", message: "inputs must be the skill's inputs object" };
  return { skill: named.skill, inputs: (named.inputs ?? {}) as Record<string, unknown>, priority: priority as number | undefined };
}

/** The JSON object a message's text spells, if its text parts together hold exactly one. */
function jsonOfText(message: Message): unknown {
  const text = message.parts.map((p) => (p.content?.$case === "text" ? p.content.value : "")).join("").trim();
  if (!text.startsWith("{")) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The body of an A2A push notification (v1.0: a StreamResponse carrying the task), as JSON. */
export function a2aPushBody(task: DealScaleTask): unknown {
  return StreamResponse.toJSON({ payload: { $case: "task", value: toA2ATask(task) } });
}
