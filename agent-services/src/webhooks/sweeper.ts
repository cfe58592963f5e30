/**
 * The webhook sweep: the reconciler of deliveries. The observer enqueues a finished task's
 * deliveries right after its transaction commits; if the process dies between that commit and the
 * enqueue, or Redis does not answer, nothing else would. So every `intervalMs` the sweep asks the
 * database for tasks finished within the last `windowMs` (older than `graceMs`, to leave the normal
 * path its chance) that have a target with no recorded attempt, and enqueues those targets again.
 * The job id per (task, target) makes that idempotent; a job that finds its delivery settled does
 * nothing.
 *
 * It sees other tenants' tasks only as ids, through the SECURITY DEFINER function
 * webhook_delivery_candidates(), and reads targets per tenant through withTenant. It walks forward
 * from a watermark (the last (completed_at, id) it handled), so each pass reads only what finished
 * since the last one; after a restart it starts `windowMs` back, which covers a crash of the process
 * before it. The watermark only moves past tasks whose deliveries were enqueued.
 */
import type { Pool } from "pg";
import type { Logger as Pino } from "pino";
import { withTenant } from "../store/tenant-tx";
import { targetsOf } from "./webhook-store";
import type { WebhookJobData, WebhookQueue } from "./delivery";

export interface SweepSettings {
  intervalMs: number;
  windowMs: number;
  graceMs: number;
  pageSize?: number;
  maxPagesPerPass?: number;
}

const NIL_UUID = "00000000-0000-0000-0000-000000000000";

const CANDIDATES = `
  WITH b AS (
    SELECT now() - make_interval(secs => $3::float8) AS floor_ts, now() - make_interval(secs => $4::float8) AS until_ts
  ), a AS (
    SELECT CASE WHEN $1::timestamptz IS NULL OR $1::timestamptz < b.floor_ts THEN b.floor_ts ELSE $1::timestamptz END AS ts,
           CASE WHEN $1::timestamptz IS NULL OR $1::timestamptz < b.floor_ts THEN '${NIL_UUID}'::uuid ELSE $2::uuid END AS id,
           b.until_ts
    FROM b
  )
  SELECT c.task_id, c.tenant_id, c.completed_at::text AS ts, a.until_ts::text AS until
  FROM a LEFT JOIN LATERAL webhook_delivery_candidates(a.ts, a.id, a.until_ts, $5) c ON true`;

export class WebhookSweeper {
  private timer: NodeJS.Timeout | undefined;
  private runningPass: Promise<unknown> | undefined;
  /** Exact (microsecond) text timestamps, so the keyset comparison never rounds. */
  private watermark: { ts: string; id: string } | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly queue: WebhookQueue,
    private readonly log: Pino,
    private readonly settings: SweepSettings,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (!this.runningPass) this.runningPass = this.pass().finally(() => (this.runningPass = undefined));
    }, this.settings.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.runningPass;
  }

  /** One pass; returns how many deliveries it (re-)enqueued. Errors are logged and the pass tried again next time. */
  async pass(): Promise<{ enqueued: number; tasks: number }> {
    const pageSize = this.settings.pageSize ?? 500;
    let enqueued = 0;
    let tasks = 0;
    try {
      for (let page = 0; page < (this.settings.maxPagesPerPass ?? 20); page++) {
        const { rows } = await this.pool.query<{ task_id: string | null; tenant_id: string | null; ts: string | null; until: string }>(CANDIDATES, [
          this.watermark?.ts ?? null,
          this.watermark?.id ?? null,
          this.settings.windowMs / 1000,
          this.settings.graceMs / 1000,
          pageSize,
        ]);
        const found = rows.filter((r) => r.task_id !== null) as { task_id: string; tenant_id: string; ts: string; until: string }[];
        const byTenant = new Map<string, string[]>();
        for (const r of found) byTenant.set(r.tenant_id, [...(byTenant.get(r.tenant_id) ?? []), r.task_id]);
        for (const [tenantId, taskIds] of byTenant) {
          const targets = await withTenant(this.pool, tenantId, (tx) => targetsOf(tx, taskIds, true));
          const jobs: WebhookJobData[] = targets.map((t) => ({ tenantId, taskId: t.taskId, kind: t.kind, targetId: t.targetId }));
          await this.queue.add(jobs);
          enqueued += jobs.length;
        }
        tasks += found.length;
        if (found.length < pageSize) {
          // Everything finished before `until` is handled; next time start there.
          this.watermark = { ts: rows[0].until, id: NIL_UUID };
          break;
        }
        const last = found[found.length - 1];
        this.watermark = { ts: last.ts, id: last.task_id };
      }
      if (enqueued) this.log.info({ enqueued, tasks }, "webhook sweep re-enqueued deliveries");
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, "webhook sweep failed; will retry");
    }
    return { enqueued, tasks };
  }
}
