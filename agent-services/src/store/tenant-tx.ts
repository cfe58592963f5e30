/**
 * The one tenant-scoped transaction helper. Every read or write of tenant data goes through it: it
 * opens a transaction, sets app.current_tenant transaction-locally (so a pooled connection never
 * carries a tenant into someone else's request) and runs the callback. Row-level security does the
 * rest. The hot paths set the tenant in SQL instead, the same way: creates, starts and finishes of
 * many tenants go in one statement each, ds_create_tasks(), ds_start_tasks() and ds_finish_tasks(),
 * which set each tenant before its tasks and put the setting back (migrations 20261207000004,
 * 20261208000001 and 20261208000003).
 */
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { isUuid } from "../lib/uuid";
import type { Pool, PoolClient, QueryResultRow } from "pg";
import { from as copyFrom } from "pg-copy-streams";

export interface TenantTx {
  readonly tenantId: string;
  /** `name` makes it a prepared statement, planned once per connection (the hot-path statements). */
  query<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[], name?: string): Promise<R[]>;
  one<R extends QueryResultRow = QueryResultRow>(sql: string, params?: unknown[], name?: string): Promise<R | undefined>;
  /** Runs `COPY ... FROM STDIN` with `data` (COPY text format) as its input: bulk loads. */
  copyIn(sql: string, data: string | Buffer): Promise<void>;
}

export interface TenantTxOptions {
  /**
   * Commit without waiting for the WAL flush. Only for writes whose loss in a database crash is
   * harmless (a task's move to working, progress): the job runs again and writes them again.
   */
  asyncCommit?: boolean;
}

export async function withTenant<T>(pool: Pool, tenantId: string, fn: (tx: TenantTx) => Promise<T>, options: TenantTxOptions = {}): Promise<T> {
  if (!isUuid(tenantId)) throw new TypeError(`tenant id must be a uuid, got "${tenantId}"`);
  const client: PoolClient = await pool.connect();
  let broken = false;
  try {
    // One round trip for both: the tenant id is checked to be a uuid above, so it is safe to inline.
    const id = tenantId.toLowerCase();
    const durability = options.asyncCommit ? "SET LOCAL synchronous_commit = off; " : "";
    await client.query(`BEGIN; ${durability}SELECT set_config('app.current_tenant', '${id}', true)`);
    const tx: TenantTx = {
      tenantId,
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
