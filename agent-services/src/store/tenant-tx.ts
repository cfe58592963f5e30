/**
 * The one tenant-scoped transaction helper. Every read or write of tenant data goes through it: it
 * opens a transaction, sets app.current_tenant transaction-locally (so a pooled connection never
 * carries a tenant into someone else's request) and runs the callback. Row-level security does the
 * rest. One hot path sets the tenant in SQL instead, the same way: the workers' starts of many
 * tenants go in one statement, ds_start_tasks(), which sets each tenant before its tasks (migration
 * 20261207000004).
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { isUuid } from "../lib/uuid";
import type { Pool, PoolClient, QueryResult, QueryResultRow } from "pg";
import { from as copyFrom } from "pg-copy-streams";

export interface TenantTx {
  readonly tenantId: string;
  /** `name` makes it a prepared statement, planned once per connection (the hot-path statements). */
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[], name?: string): Promise<R[]>;
  one<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[], name?: string): Promise<R | undefined>;
  /** Runs `COPY ... FROM STDIN` with `data` (COPY text format) as its input: bulk loads. */
  copyIn(sql: string, data: string | Buffer): Promise<void>;
  /**
   * With `lockTenant`: the tenant row's balance (milli-credits, as text) under its row lock, or null
   * when the tenant does not exist; undefined without the option.
   */
  readonly lockedBalance?: string | null;
}

export interface TenantTxOptions {
  /**
   * Commit without waiting for the WAL flush. Only for writes whose loss in a database crash is
   * harmless (a task's move to working, progress): the job runs again and writes them again.
   */
  asyncCommit?: boolean;
  /**
   * Lock the tenant's row (FOR UPDATE) in the transaction's first round trip, beside BEGIN: credit
   * reservations serialise on it, and a separate statement for the lock cost every create batch a
   * round trip inside the tenant's serial section.
   */
  lockTenant?: boolean;
}

export async function withTenant<T>(pool: Pool, tenantId: string, fn: (tx: TenantTx) => Promise<T>, options: TenantTxOptions = {}): Promise<T> {
  if (!isUuid(tenantId)) throw new TypeError(`tenant id must be a uuid, got "${tenantId}"`);
  const client: PoolClient = await pool.connect();
  let broken = false;
  try {
    // One round trip for both: the tenant id is checked to be a uuid above, so it is safe to inline.
    const id = tenantId.toLowerCase();
    const durability = options.asyncCommit ? "SET LOCAL synchronous_commit = off; " : "";
    const lock = options.lockTenant ? `; SELECT credits_balance_milli::text AS balance FROM tenants WHERE id = '${id}' FOR UPDATE` : "";
    const begun = (await client.query(`BEGIN; ${durability}SELECT set_config('app.current_tenant', '${id}', true)${lock}`)) as unknown as QueryResult[];
    const tx: TenantTx = {
      tenantId,
      lockedBalance: options.lockTenant ? ((begun[begun.length - 1].rows[0]?.balance as string | undefined) ?? null) : undefined,
      async query(sql, params, name) {
        return (await client.query({ text: sql, values: params as unknown[], name })).rows;
      },
      async one(sql, params, name) {
        return (await client.query({ text: sql, values: params as unknown[], name })).rows[0];
      },
      async copyIn(sql, data) {
        await pipeline(Readable.from([data]), client.query(copyFrom(sql)));
      },
    };
    const result = await fn(tx);
    await client.query("COMMIT");
    return result;
  } catch (e) {
    try {
      await client.query("ROLLBACK");
    } catch {
      broken = true;
    }
    throw e;
  } finally {
    client.release(broken);
  }
}
