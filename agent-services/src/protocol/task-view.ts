/**
 * A task on the wire as every REST route and DealScale-format webhook returns it: the type the
 * client package declares (A2ATask, our fields and the design document's), so the server and the
 * client cannot drift apart.
 */
import type { A2ATask } from "@dealscale/a2a-client";
import { agentAlias } from "./agent-card";
import { milliToCredits } from "./credits";
import type { Task } from "./task";

export type TaskView = A2ATask;

export function toView(task: Task): TaskView {
  return {
    taskId: task.id,
    agentId: task.agentId,
    targetAgentId: agentAlias(task.agentId),
    requesterAgentId: task.callingAgent,
    tenantId: task.tenantId,
    type: task.type,
    status: task.status,
    priority: task.priority,
    progress: task.progress,
    progressMessage: task.progressMessage,
    inputs: task.inputs,
    outputs: task.outputs,
    error: task.error,
    idempotencyKey: task.idempotencyKey,
    creditsReserved: milliToCredits(task.creditsReservedMilli),
    creditsUsed: milliToCredits(task.creditsUsedMilli),
    createdAt: task.createdAt.toISOString(),
    updatedAt: task.updatedAt.toISOString(),
    startedAt: task.startedAt?.toISOString() ?? null,
    completedAt: task.completedAt?.toISOString() ?? null,
    actualDuration: task.completedAt ? (task.completedAt.getTime() - task.createdAt.getTime()) / 1000 : null,
    metadata: task.metadata,
    ...(task.inputRequest ? { inputRequest: task.inputRequest } : {}),
  };
}
