/**
 * Result sets: a task's large result as ordered items in task_results (up to ROW_ITEMS consecutive
 * items a row), written by the handler in batches and read by callers in pages. The cursor is
 * opaque to callers (the next item's position).
 */
import type { TenantTx } from "../store/tenant-tx";
import { invalidInput } from "./errors";
import type { ResultRows, ResultSetSummary } from "../protocol/agent-contract";

export const DEFAULT_PAGE_SIZE = 1000;
export const MAX_PAGE_SIZE = 10_000;
/** Items per task_results row (the migration's check allows at most 500). */
const ROW_ITEMS = 500;
/** Items per INSERT: one statement and transaction, a bounded parameter size. */
const WRITE_BATCH = 10_000;


export interface ResultPage {
  items: unknown[];
  nextCursor: string | null;
  total: number;
}

export const encodeCursor = (seq: number) => Buffer.from(`r:${seq}`).toString("base64url");

export function decodeCursor(cursor: string): number {
  const m = /^r:(\d{1,10})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!m) throw invalidInput("cursor is not one this API returned", { errors: [{ path: "cursor", message: "invalid cursor" }] });
  return Number(m[1]);
}

/** Appends a task's rows in order; the first call of a run clears what an earlier attempt wrote. */
export class ResultSetWriter implements ResultRows {
  private written = 0;
  private cleared = false;

  constructor(
    private readonly db: <T>(fn: (tx: TenantTx) => Promise<T>) => Promise<T>,
    private readonly taskId: string,
  ) {}

  get count(): number {
    return this.written;
  }

  async append(items: unknown[]): Promise<void> {
    for (let start = 0; start < items.length || !this.cleared; start += WRITE_BATCH) {
      const batch = items.slice(start, start + WRITE_BATCH);
      const chunks: unknown[][] = [];
      for (let k = 0; k < batch.length; k += ROW_ITEMS) chunks.push(batch.slice(k, k + ROW_ITEMS));
      const from = this.written;
      await this.db(async (tx) => {
        if (!this.cleared) await tx.query("DELETE FROM task_results WHERE task_id = $1", [this.taskId]);
        if (chunks.length) {
          // One jsonb parameter (an array of chunks), split server-side; every chunk but the last is full.
          await tx.query(
            `INSERT INTO task_results (tenant_id, task_id, seq, n, items)
             SELECT $1::uuid, $2::uuid, $3::integer + (o - 1) * ${ROW_ITEMS}, jsonb_array_length(x), x
             FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS u(x, o)`,
            [tx.tenantId, this.taskId, from, JSON.stringify(chunks)],
            "task_results_append",
          );
        }
      });
      this.cleared = true;
      this.written += batch.length;
    }
  }

  /** The outputs' description of the set, given how many rows the outputs carry themselves. */
  summary(items: string, agentId: string, inOutputs: number): ResultSetSummary {
    return {
      items,
      total: this.written,
      href: `/agents/${agentId}/tasks/${this.taskId}/results`,
      nextCursor: inOutputs < this.written ? encodeCursor(inOutputs) : null,
    };
  }
}

/** One page of a task's result set, from the cursor's row. */
export async function readResultPage(tx: TenantTx, taskId: string, total: number, cursor: string | undefined, limit: number): Promise<ResultPage> {
  const from = cursor ? decodeCursor(cursor) : 0;
  // The chunks that overlap [from, from + limit): a chunk starting after from - ROW_ITEMS.
  const rows = await tx.query<{ seq: number; items: unknown[] }>(
    "SELECT seq, items FROM task_results WHERE task_id = $1 AND seq > $2::integer - $4::integer AND seq < $2::integer + $3::integer ORDER BY seq",
    [taskId, from, limit, ROW_ITEMS],
    "task_results_page",
  );
  const items: unknown[] = [];
  for (const row of rows) {
    const skip = Math.max(0, from - row.seq);
    for (let k = skip; k < row.items.length && items.length < limit; k++) items.push(row.items[k]);
  }
  const next = from + items.length;
  return { items, nextCursor: next < total && items.length ? encodeCursor(next) : null, total };
}
