/**
 * Recent A2A task snapshots of this process, per tenant. The SDK reloads a task from its store on
 * every event it relays (the Task event, each status and artifact update), and the executor and the
 * bus need the task the admission just wrote: without this, one A2A task cost nine reads of its row,
 * each in its own transaction. Snapshots come from our own writes and the SDK's aggregate of the
 * events it relayed; unfinished ones live briefly, so a GetTask never sees a stale state for long.
 */
import type { Task } from "@a2a-js/sdk";
import { TaskState } from "@a2a-js/sdk";
import type { Task as DealScaleTask } from "../../protocol/task";

const FINAL = new Set<number>([TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED]);

export interface SnapshotOptions {
  /** How long the snapshot of an unfinished task is trusted. */
  liveMs: number;
  /** How long a finished task's snapshot is kept (it no longer changes). */
  finalMs: number;
  maxEntries: number;
}

interface Entry {
  task?: Task;
  row?: DealScaleTask;
  expires: number;
}

export class TaskSnapshots {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly opts: SnapshotOptions = { liveMs: 2_000, finalMs: 60_000, maxEntries: 10_000 }) {}

  putTask(tenantId: string, task: Task): void {
    const ttl = task.status && FINAL.has(task.status.state) ? this.opts.finalMs : this.opts.liveMs;
    this.set(tenantId, task.id, { ...this.fresh(tenantId, task.id), task: structuredClone(task), expires: Date.now() + ttl });
  }

  /** The row an admission wrote, for the executor and the bus (enqueue data, context id). */
  putRow(tenantId: string, row: DealScaleTask): void {
    this.set(tenantId, row.id, { ...this.fresh(tenantId, row.id), row, expires: Date.now() + this.opts.liveMs });
  }

  forget(tenantId: string, taskId: string): void {
    this.entries.delete(`${tenantId}/${taskId}`);
  }

  task(tenantId: string, taskId: string): Task | undefined {
    const t = this.fresh(tenantId, taskId)?.task;
    return t ? structuredClone(t) : undefined;
  }

  row(tenantId: string, taskId: string): DealScaleTask | undefined {
    return this.fresh(tenantId, taskId)?.row;
  }

  private fresh(tenantId: string, taskId: string): Entry | undefined {
    const key = `${tenantId}/${taskId}`;
    const e = this.entries.get(key);
    if (e && e.expires < Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  private set(tenantId: string, taskId: string, e: Entry): void {
    const key = `${tenantId}/${taskId}`;
    this.entries.delete(key);
    this.entries.set(key, e);
    // Oldest first: Map keeps insertion order.
    while (this.entries.size > this.opts.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }
}
