/**
 * The due-campaign sweep (worker role). Scheduled campaigns are rows in Postgres with a start_at;
 * every few seconds the sweep asks due_campaigns() (ids only, across tenants) for those that are due
 * and for running campaigns whose sender's lease expired (a worker that died mid-send), and runs
 * them under a lease. Postgres is the only state, so a restart, a Redis flush or a second worker
 * changes nothing: whoever takes the lease sends, exactly one at a time.
 *
 * Why a sweep rather than a BullMQ delayed job: the campaign row is already the durable record of
 * "send at T", a pause or a reschedule is one UPDATE (no job to find and remove), and the same pass
 * recovers campaigns whose sender died. The price is up to one interval of delay.
 */
import type { Pool } from "pg";
import { withTenant } from "../../store/tenant-tx";
import { newSenderId, runCampaign, type SenderDeps } from "./sender";
import { releaseLease } from "./store";

export interface SchedulerLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export class CampaignScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly controller = new AbortController();
  private readonly owner = newSenderId("sweep");

  constructor(
    private readonly pool: Pool,
    private readonly deps: SenderDeps,
    private readonly log: SchedulerLogger,
    private readonly intervalMs: number,
    private readonly maxPerPass = 10,
  ) {}

  start(): void {
    if (this.timer || this.controller.signal.aborted) return;
    const tick = () => {
      this.running = this.pass().then(() => undefined)
        .catch((e) => this.log.warn({ err: (e as Error).message }, "campaign sweep failed"))
        .finally(() => {
          this.running = undefined;
          if (!this.controller.signal.aborted) this.timer = setTimeout(tick, this.intervalMs);
        });
    };
    this.timer = setTimeout(tick, Math.min(this.intervalMs, 1000));
  }

  /** One pass: every due campaign, concurrently, each under this sweeper's lease. Returns how many ran. */
  async pass(): Promise<number> {
    const { rows } = await this.pool.query<{ campaign_id: string; tenant_id: string }>("SELECT campaign_id, tenant_id FROM due_campaigns($1)", [this.maxPerPass]);
    await Promise.all(rows.map(async ({ campaign_id: campaignId, tenant_id: tenantId }) => {
      try {
        const r = await runCampaign(this.deps, (fn) => withTenant(this.pool, tenantId, fn), tenantId, campaignId, this.owner, this.controller.signal);
        if (r.claimed) this.log.info({ campaignId, tenantId, status: r.status, stoppedBy: r.stoppedBy }, "campaign send run finished");
        // Stopped by shutdown: hand the campaign back at once so another worker continues it.
        if (r.stoppedBy === "aborted") await withTenant(this.pool, tenantId, (tx) => releaseLease(tx, campaignId, this.owner, 0));
      } catch (e) {
        this.log.warn({ campaignId, tenantId, err: (e as Error).message }, "campaign send run failed");
      }
    }));
    return rows.length;
  }

  async stop(): Promise<void> {
    this.controller.abort({ kind: "shutdown" });
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }
}
