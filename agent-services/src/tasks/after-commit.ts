/**
 * What happens once a task's state change has committed, as named events with their subscribers:
 * the queue takes created tasks, metrics count, webhooks and push notifications deliver. stack.ts
 * registers every subscriber in one place. A subscriber's failure is logged, never passed back:
 * the change is already durable, and each subscriber has its own way to catch up (the reconciler
 * enqueues what the queue missed, the webhook sweep re-enqueues lost deliveries).
 */
import type { Task } from "../protocol/task";
import type { WarnLogger } from "../lib/logger";

export interface AfterCommitEvents {
  /** A new task; `deferEnqueue` when its creator (the A2A executor) enqueues it itself. */
  created: { task: Task; deferEnqueue: boolean };
  finished: { task: Task };
  /** A task waiting in input-required that its caller was just answered with (created, or asked again). */
  awaitingInput: { task: Task };
}

export type AfterCommitName = keyof AfterCommitEvents;
type Subscriber<K extends AfterCommitName> = (event: AfterCommitEvents[K]) => void | Promise<void>;

export class AfterCommit {
  private readonly subscribers: { [K in AfterCommitName]: Subscriber<K>[] } = { created: [], finished: [], awaitingInput: [] };

  constructor(private readonly log: WarnLogger) {}

  on<K extends AfterCommitName>(name: K, subscriber: Subscriber<K>): void {
    (this.subscribers[name] as Subscriber<K>[]).push(subscriber);
  }

  /** Calls every subscriber and waits for those that return a promise (enqueueing does, so a create answers once its task is queued). */
  async emit<K extends AfterCommitName>(name: K, event: AfterCommitEvents[K]): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const subscriber of this.subscribers[name] as Subscriber<K>[]) {
      try {
        const r = subscriber(event);
        if (r) pending.push(r.catch((e) => this.failed(name, event.task, e)));
      } catch (e) {
        this.failed(name, event.task, e);
      }
    }
    if (pending.length) await Promise.all(pending);
  }

  private failed(name: AfterCommitName, task: Task, e: unknown): void {
    this.log.warn({ taskId: task.id, event: name, err: (e as Error).message }, "after-commit subscriber failed");
  }
}
