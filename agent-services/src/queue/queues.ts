/**
 * BullMQ queues, one per agent. The job id is the task id, so enqueuing twice (the create path and
 * the reconciler racing) yields one job. Queue names share a hash tag for Redis Cluster.
 */
import { Queue, type JobsOptions } from "bullmq";
import Redis from "ioredis";
import { withTimeout } from "../lib/with-timeout";
import { traceCarrier } from "../lib/tracing";
import type { QueueHistory } from "../config/config";
import type { QueuedTask, TaskQueue } from "../tasks/task-queue";

export const queueName = (agentId: string) => `agent-${agentId}`;

export interface TaskJobData extends QueuedTask {
  /** W3C trace context (traceparent, tracestate) of the request that created the task: the run span's parent. */
  trace?: Record<string, string>;
  /** The deployment that owns the task (store/deployment.ts); absent on jobs of older versions. */
  deploymentId?: string;
}

export interface QueueSettings {
  prefix: string;
  /** Finished jobs kept for the dashboard (age in seconds and count, per queue). */
  history: QueueHistory;
  /** Stamped on every job, so a worker of another deployment sharing the prefix leaves it alone. */
  deploymentId: string;
  attempts: number;
  backoffMs: number;
}

/** BullMQ waits for a connection that may never come; nothing here may hang a request on it. */
const REDIS_TIMEOUT_MS = 2000;

/** Priority 10 is the most urgent; BullMQ runs lower numbers first. */
export const bullPriority = (priority: number) => 11 - priority;
/** The task's priority back from a job's BullMQ priority (its inverse). */
export const taskPriority = (bull: number) => 11 - bull;

export class TaskQueues implements TaskQueue {
  private readonly queues = new Map<string, Queue<TaskJobData>>();
  private readonly connection: Redis;

  constructor(redisUrl: string, private readonly settings: QueueSettings) {
    // The producer fails fast when Redis is down: the task is already committed and the
    // reconciler enqueues it later, so there is nothing to wait for here. Auto-pipelining sends the
    // adds of one event-loop turn in one write: loopback writes are most of Redis's cost to us.
    this.connection = new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false, enableAutoPipelining: true });
    this.connection.on("error", () => undefined);
  }

  queue(agentId: string): Queue<TaskJobData> {
    let q = this.queues.get(agentId);
    if (!q) {
      q = new Queue<TaskJobData>(queueName(agentId), { connection: this.connection, prefix: this.settings.prefix });
      q.on("error", () => undefined);
      this.queues.set(agentId, q);
    }
    return q;
  }

  jobOptions(taskId: string, priority: number): JobsOptions {
    return {
      jobId: taskId,
      attempts: this.settings.attempts,
      backoff: { type: "exponential", delay: this.settings.backoffMs },
      priority: bullPriority(priority),
      removeOnComplete: this.settings.history.completed,
      removeOnFail: this.settings.history.failed,
    };
  }

  async enqueue(data: TaskJobData, priority: number): Promise<void> {
    const trace = data.trace ?? traceCarrier();
    data = { ...data, deploymentId: this.settings.deploymentId, ...(trace ? { trace } : {}) };
    await withTimeout(this.queue(data.agentId).add(data.type, data, this.jobOptions(data.taskId, priority)), REDIS_TIMEOUT_MS, "enqueue");
  }

  /**
   * Makes sure a task left in submitted has a runnable job: adds it if missing, retries it if its
   * job already failed for good (e.g. the database was down on every attempt).
   */
  async ensureEnqueued(data: TaskJobData, priority: number): Promise<"added" | "retried" | "present"> {
    return withTimeout(this.ensure(data, priority), REDIS_TIMEOUT_MS * 2, "re-enqueue");
  }

  private async ensure(data: TaskJobData, priority: number): Promise<"added" | "retried" | "present"> {
    const q = this.queue(data.agentId);
    const job = await q.getJob(data.taskId);
    if (!job) {
      await this.enqueue(data, priority);
      return "added";
    }
    const state = await job.getState();
    if (state === "failed") {
      await job.retry("failed");
      return "retried";
    }
    if (state === "completed" || state === "unknown") {
      await job.remove().catch(() => undefined);
      await this.enqueue(data, priority);
      return "added";
    }
    return "present";
  }

  async remove(agentId: string, taskId: string): Promise<void> {
    const removal = async () => {
      const job = await this.queue(agentId).getJob(taskId);
      // An active job is locked by its worker and cannot be removed; the cancel signal stops it.
      if (job && !(await job.isActive())) await job.remove().catch(() => undefined);
    };
    await withTimeout(removal(), REDIS_TIMEOUT_MS, "remove job");
  }

  async ping(): Promise<boolean> {
    return (await this.connection.ping()) === "PONG";
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.connection.disconnect();
  }
}
