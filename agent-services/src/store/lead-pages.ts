/**
 * Every live lead of the tenant, in id order, a page at a time: each page its own short
 * transaction (a million leads never sit in one result or hold one snapshot for minutes), and the
 * next page read while the caller works on this one. Stops with the signal's reason when it is
 * aborted between pages. `select` is a `SELECT ... FROM leads` whose rows carry `id`.
 */
import type { Pool } from "pg";
import { withTenant, type TenantTx } from "./tenant-tx";

export async function forEachLivePage<T extends { id: string }>(
  db: <R>(fn: (tx: TenantTx) => Promise<R>) => Promise<R>,
  signal: AbortSignal,
  select: string,
  onPage: (rows: T[]) => void | Promise<void>,
  pageSize = 5000,
): Promise<number> {
  // leads.id, not id: an output column named id (a text cast) would make Postgres sort the whole
  // tenant on every page instead of walking the index.
  const fetchAfter = (after: string) => {
    const page = db((tx) => tx.query<T>(`${select} WHERE leads.id > $1::uuid AND merged_into IS NULL ORDER BY leads.id LIMIT ${pageSize}`, [after]));
    // A page fetched ahead is not awaited when the run is cancelled meanwhile.
    page.catch(() => undefined);
    return page;
  };
  let next = fetchAfter("00000000-0000-0000-0000-000000000000");
  let total = 0;
  for (;;) {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
    const page = await next;
    const more = page.length === pageSize;
    if (more) next = fetchAfter(page[page.length - 1].id);
    total += page.length;
    await onPage(page);
    if (!more) return total;
  }
}

/** How many live (not merged) leads the tenant has: the item count of a whole-tenant run's price. */
export async function countLiveLeads(pool: Pool, tenantId: string): Promise<number> {
  return withTenant(pool, tenantId, async (tx) => (await tx.one<{ n: number }>("SELECT count(*)::int AS n FROM leads WHERE merged_into IS NULL"))?.n ?? 0);
}
