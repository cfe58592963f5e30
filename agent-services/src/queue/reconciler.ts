/**
 * Housekeeping that keeps every task moving: tasks left in submitted (Redis was down when they were
 * created, or their job was lost) are enqueued again, idempotently by job id; tasks working past
 * their SLA with no live worker are timed out and their credits released. It sees only ids, through
 * narrow SECURITY DEFINER functions, so it needs no role that bypasses row-level security.
 */
import type { Pool } from "pg";
import type { Logger as Pino } from "pino";
import type { TaskQueues } from "./queues";
import type { TaskService } from "../tasks/task-service";
import type { RedisEventBus } from "../tasks/event-bus";

export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private runningPass: Promise<unknown> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly queues: TaskQueues,
    private readonly service: TaskService,
    private readonly events: RedisEventBus,
    private readonly log: Pino,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (!this.runningPass) this.runningPass = this.pass().finally(() => (this.runningPass = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.runningPass;
  }

  /** One pass; returns what it did. Errors (a dependency down) are logged and tried next pass. */
  async pass(): Promise<{ requeued: number; timedOut: number }> {
    let requeued = 0;
    let timedOut = 0;
    try {
      const stranded = await this.pool.query<{ task_id: string; tenant_id: string; agent_id: string; type: string; priority: number }>(
        "SELECT * FROM stranded_submitted_tasks(make_interval(secs => $1), 500)",
        [Math.max(1, this.intervalMs / 1000)],
      );
      for (const t of stranded.rows) {
        const what = await this.queues.ensureEnqueued({ taskId: t.task_id, tenantId: t.tenant_id, agentId: t.agent_id, type: t.type }, t.priority);
        if (what !== "present") requeued++;
      }
      const overdue = await this.pool.query<{ task_id: string; tenant_id: string; type: string }>("SELECT * FROM overdue_working_tasks(500)");
      for (const t of overdue.rows) {
        const finished = await this.service.finish(t.tenant_id, t.task_id, {
          status: "timeout",
          error: { code: "timeout", message: `task exceeded the SLA of ${t.type}` },
        });
        if (finished) {
          timedOut++;
          this.events.publishCancel(t.task_id, "timeout").catch(() => undefined);
        }
      }
      if (requeued || timedOut) this.log.info({ requeued, timedOut }, "reconciler pass");
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "reconciler pass failed; will retry");
    }
    return { requeued, timedOut };
  }
}
