/**
 * What the task service needs of the queue, declared here so this folder imports nothing from
 * queue/ (which implements it: queue/queues.ts TaskQueues) while queue/ uses the task service.
 */
export interface QueuedTask {
  taskId: string;
  tenantId: string;
  agentId: string;
  type: string;
}

export interface TaskQueue {
  /** Puts a submitted task on its agent's queue. */
  enqueue(task: QueuedTask, priority: number): Promise<void>;
  /** Takes a task that has not started off its queue (a cancel); a running one is left to its signal. */
  remove(agentId: string, taskId: string): Promise<void>;
}
