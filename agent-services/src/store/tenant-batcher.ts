/**
 * Group commit per tenant. Writes that must serialise per tenant (the credit balance row, the audit
 * chain) would otherwise pay one WAL flush each while holding the tenant's locks, capping a tenant
 * at a few hundred writes per second. Operations that arrive while a tenant's transaction is in
 * flight run together in its next transaction: same locks, one commit. The operations of one kind
 * in a batch run as one multi-row statement, which saves the per-statement round trip and executor
 * start-up that otherwise dominate.
 *
 * An operation must be all-or-nothing and report business outcomes (short of credits, wrong state)
 * as values, not by throwing. If anything throws, the batch rolls back and each operation runs
 * again alone, so one bad operation fails only itself.
 */
import type { Pool } from "pg";
import { withTenant, type TenantTx } from "./tenant-tx";

/** Many items of one kind in one go; returns one result per item, in order. */
export interface BulkOp<I, R> {
  kind: string;
  item: I;
  runMany(tx: TenantTx, items: I[]): Promise<R[]>;
  /** The batch's transaction locks the tenant row in its first round trip (TenantTxOptions.lockTenant). */
  lockTenant?: boolean;
}

interface Pending {
  bulk: BulkOp<unknown, unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export class TenantBatcher {
  private readonly pending = new Map<string, Pending[]>();

  constructor(
    private readonly pool: Pool,
    private readonly maxBatch = 64,
  ) {}

  run<I, R>(tenantId: string, op: BulkOp<I, R>): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const p: Pending = { bulk: op as BulkOp<unknown, unknown>, resolve: resolve as (v: unknown) => void, reject };
      const queue = this.pending.get(tenantId);
      if (queue) {
        queue.push(p);
        return;
      }
      this.pending.set(tenantId, [p]);
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

  private async runBatch(tenantId: string, batch: Pending[]): Promise<void> {
    try {
      const groups = runsOfOneKind(batch);
      const lockTenant = batch.some((p) => p.bulk.lockTenant);
      const results = await withTenant(this.pool, tenantId, async (tx) => {
        const out: unknown[][] = [];
        for (const group of groups) out.push(await group[0].bulk.runMany(tx, group.map((p) => p.bulk.item)));
        return out;
      }, { lockTenant });
      groups.forEach((group, g) => group.forEach((p, i) => p.resolve(results[g][i])));
      return;
    } catch (e) {
      if (batch.length === 1) {
        batch[0].reject(e);
        return;
      }
      // Nothing of the batch committed: run each alone, so only the culprit fails.
    }
    for (const p of batch) {
      try {
        const [result] = await withTenant(this.pool, tenantId, (tx) => p.bulk.runMany(tx, [p.bulk.item]), { lockTenant: p.bulk.lockTenant });
        p.resolve(result);
      } catch (e) {
        p.reject(e);
      }
    }
  }
}

/**
 * Groups a batch by kind, kinds in order of first appearance, each group in arrival order. The
 * operations of one batch were all in flight at once, so any order between different kinds is a
 * valid serial order, and grouping keeps each kind to one statement however they interleave.
 */
function runsOfOneKind(batch: Pending[]): Pending[][] {
  const groups = new Map<string, Pending[]>();
  for (const p of batch) {
    const group = groups.get(p.bulk.kind);
    if (group) group.push(p);
    else groups.set(p.bulk.kind, [p]);
  }
  return [...groups.values()];
}
