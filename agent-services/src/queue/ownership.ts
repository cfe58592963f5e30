/**
 * Jobs of another deployment. Two deployments share queues only when an operator gives both the
 * same QUEUE_PREFIX on one Redis; every job carries the id of the deployment that made it, and a
 * worker that takes another deployment's job puts it back instead of dropping it, and says so.
 *
 * BullMQ has no consumer affinity, and a worker that has just put a job back is the first to fetch
 * again, so putting it back alone would hand it to the same worker forever. For its first few
 * returns a job goes straight back to waiting while the returning worker holds off fetching for a
 * moment, so a live owner's worker takes it; after that (its owner is probably gone) it waits longer
 * and longer in the delayed set, without holding anyone up.
 */
import { DelayedError, WaitingError, type Job, type Worker } from "bullmq";
import type { Logger as Pino } from "pino";

const QUICK_RETURNS = 3;
export const HOLD_OFF_MS = 1_000;
const FIRST_DELAY_MS = 1_000;
export const MAX_DELAY_MS = 60_000;

export interface OwnedJobData {
  deploymentId?: string;
  /** How often workers of other deployments have put this job back. */
  returns?: number;
}

export class ForeignJobs {
  private readonly holdOffs = new Map<Worker, NodeJS.Timeout>();

  constructor(
    private readonly deploymentId: string,
    private readonly log: Pino,
  ) {}

  /** Stamped by another deployment (unstamped jobs come from older versions: undecided). */
  isForeign(data: OwnedJobData): boolean {
    return data.deploymentId !== undefined && data.deploymentId !== this.deploymentId;
  }

  async leave(job: Job, token: string | undefined, worker: Worker, why: string): Promise<never> {
    const data = job.data as OwnedJobData;
    const returns = (data.returns ?? 0) + 1;
    const quick = returns <= QUICK_RETURNS;
    const delayMs = quick ? 0 : Math.min(FIRST_DELAY_MS * 2 ** Math.min(returns - QUICK_RETURNS - 1, 20), MAX_DELAY_MS);
    this.log.warn(
      { jobId: job.id, queue: job.queueName, owner: data.deploymentId ?? "unknown", why, returns, retryInMs: delayMs },
      "job of another deployment on this Redis prefix (QUEUE_PREFIX): left for its owner; give each deployment its own prefix",
    );
    await job.updateData({ ...job.data, returns });
    if (quick) {
      this.holdOff(worker);
      await job.moveToWait(token);
      throw new WaitingError();
    }
    await job.moveToDelayed(Date.now() + Math.round(delayMs * (0.75 + Math.random() / 2)), token);
    throw new DelayedError();
  }

  /** Stops the worker fetching for HOLD_OFF_MS (jobs it is running go on). */
  private holdOff(worker: Worker): void {
    clearTimeout(this.holdOffs.get(worker));
    void worker.pause(true).catch(() => undefined);
    const timer = setTimeout(() => {
      this.holdOffs.delete(worker);
      if (!worker.closing) void worker.resume().catch(() => undefined);
    }, HOLD_OFF_MS);
    timer.unref();
    this.holdOffs.set(worker, timer);
  }

  close(): void {
    for (const timer of this.holdOffs.values()) clearTimeout(timer);
    this.holdOffs.clear();
  }
}
