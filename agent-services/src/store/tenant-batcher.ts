/**
 * Group commit per tenant. Writes that must serialise per tenant (the credit balance row, the audit
 * chain) would otherwise pay one WAL flush each while holding the tenant's locks, capping a tenant
 * at a few hundred writes per second. Operations that arrive while a tenant's transaction is in
 * flight are run together in its next transaction: same locks, one commit.
 *
 * An operation must be a single SQL statement (or otherwise all-or-nothing) that reports business
 * outcomes (short of credits, wrong state) as values, not by throwing. If any operation throws, the
 * batch rolls back and each operation runs again alone, so one bad operation fails only itself.
 */
import type { Pool } from "pg";
import { withTenant, type TenantTx } from "./tenant-tx";

export type TenantOp<T> = (tx: TenantTx) => Promise<T>;

interface Item {
  op: TenantOp<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class TenantBatcher {
  private readonly pending = new Map<string, Item[]>();

  constructor(
    private readonly pool: Pool,
    private readonly maxBatch = 64,
  ) {}

  run<T>(tenantId: string, op: TenantOp<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const item: Item = { op, resolve: resolve as (v: unknown) => void, reject };
      const queue = this.pending.get(tenantId);
      if (queue) {
        queue.push(item);
        return;
      }
      this.pending.set(tenantId, [item]);
      void this.drain(tenantId);
    });
  }

  private async drain(tenantId: string): Promise<void> {
    const queue = this.pending.get(tenantId)!;
    while (queue.length) {
      await this.runBatch(tenantId, queue.splice(0, this.maxBatch));
    }
    this.pending.delete(tenantId);
  }

  private async runBatch(tenantId: string, batch: Item[]): Promise<void> {
    if (batch.length > 1) {
      try {
        const results = await withTenant(this.pool, tenantId, async (tx) => {
          const out: unknown[] = [];
          for (const item of batch) out.push(await item.op(tx));
          return out;
        });
        batch.forEach((item, i) => item.resolve(results[i]));
        return;
      } catch {
        // Fall through: nothing of the batch committed; run each alone.
      }
    }
    for (const item of batch) {
      try {
        item.resolve(await withTenant(this.pool, tenantId, item.op));
      } catch (e) {
        item.reject(e);
      }
    }
  }
}
