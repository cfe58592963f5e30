/**
 * The DataEngineer's SQL over the tenant-scoped transaction: reading leads, storing imported ones in
 * batches, and applying dedupe merges. Adapts the domain (which knows no database) to Postgres.
 */
import { createHash } from "node:crypto";
import type { TenantTx } from "../../store/tenant-tx";
import { LEAD_FIELDS, type LeadRecord } from "./domain/lead";
import type { LeadDraft, LeadSink } from "./domain/csv-import";
import type { DuplicateCluster } from "./domain/matcher";

const SELECT_LEAD = `SELECT id, ${LEAD_FIELDS.map((f) => `${f.column} AS "${f.field}"`).join(", ")},
  attributes, created_at AS "createdAt", updated_at AS "updatedAt" FROM leads`;

/** Live (not merged) leads: the given ones, or all of the tenant's, oldest first; at most `limit`. */
export async function loadLeads(tx: TenantTx, opts: { leadIds?: string[]; limit: number; forUpdate?: boolean }): Promise<LeadRecord[]> {
  const lock = opts.forUpdate ? " FOR UPDATE" : "";
  if (opts.leadIds) {
    return tx.query<LeadRecord & { id: string }>(
      `${SELECT_LEAD} WHERE merged_into IS NULL AND id = ANY($1::uuid[]) ORDER BY created_at, id LIMIT $2${lock}`,
      [opts.leadIds, opts.limit],
    );
  }
  return tx.query<LeadRecord & { id: string }>(`${SELECT_LEAD} WHERE merged_into IS NULL ORDER BY created_at, id LIMIT $1${lock}`, [opts.limit]);
}

/** Live leads by id, in the caller's transaction (FOR UPDATE when merging them). */
export async function loadLeadsByIds(tx: TenantTx, ids: string[], forUpdate = false): Promise<LeadRecord[]> {
  if (!ids.length) return [];
  return tx.query<LeadRecord & { id: string }>(`${SELECT_LEAD} WHERE merged_into IS NULL AND id = ANY($1::uuid[]) ORDER BY id${forUpdate ? " FOR UPDATE" : ""}`, [ids]);
}

/**
 * Every live lead of the tenant, in id order, a page at a time (each page its own short
 * transaction, so a million leads never sit in one result or hold one snapshot for minutes).
 * Stops with the signal's reason when it is aborted between pages.
 */
export async function forEachLeadPage(
  db: <T>(fn: (tx: TenantTx) => Promise<T>) => Promise<T>,
  signal: AbortSignal,
  onPage: (leads: LeadRecord[]) => void | Promise<void>,
  pageSize = 5000,
): Promise<number> {
  let after = "00000000-0000-0000-0000-000000000000";
  let total = 0;
  for (;;) {
    if (signal.aborted) throw signal.reason;
    const page = await db((tx) => tx.query<LeadRecord & { id: string }>(`${SELECT_LEAD} WHERE merged_into IS NULL AND id > $1::uuid ORDER BY id LIMIT $2`, [after, pageSize], "data_engineer_lead_page"));
    if (!page.length) return total;
    total += page.length;
    await onPage(page);
    after = page[page.length - 1].id;
    if (page.length < pageSize) return total;
  }
}

/** One dedupe apply at a time per tenant (transaction-scoped advisory lock). */
export async function lockDedupe(tx: TenantTx): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext('dedupe-leads:' || $1::text))", [tx.tenantId]);
}

const INSERT_COLUMNS = ["id", ...LEAD_FIELDS.map((f) => f.column), "attributes"];
const INSERT_SQL = `INSERT INTO leads (tenant_id, ${INSERT_COLUMNS.join(", ")})
  SELECT $1::uuid, u.* FROM unnest(
    $2::uuid[], ${LEAD_FIELDS.map((f, i) => `$${i + 3}::${f.type === "integer" ? "integer" : "text"}[]`).join(", ")}, $${LEAD_FIELDS.length + 3}::jsonb[]
  ) AS u(${INSERT_COLUMNS.join(", ")})
  ON CONFLICT (id) DO NOTHING`;

/**
 * A sink that inserts each batch with one statement. `idFor(line)` gives each row its id: random for
 * the CLI, derived from the task and the line for the capability, so a retried task inserts nothing
 * twice (ON CONFLICT DO NOTHING) and reports the same ids.
 */
export function leadImportSink(tx: TenantTx, idFor: (line: number) => string): LeadSink {
  return {
    async insertBatch(rows: LeadDraft[]): Promise<string[]> {
      const ids = rows.map((r) => idFor(r.line));
      const params: unknown[] = [tx.tenantId, ids];
      for (const f of LEAD_FIELDS) params.push(rows.map((r) => r.fields[f.field] ?? null));
      params.push(rows.map((r) => JSON.stringify(r.attributes)));
      await tx.query(INSERT_SQL, params, "data_engineer_import_batch");
      return ids;
    },
  };
}

/** A stable uuid (version 8, name-based) for row `line` of import task `taskId`. */
export function importLeadId(taskId: string, line: number): string {
  const h = createHash("sha256").update(`lead-import:${taskId}:${line}`).digest();
  h[6] = (h[6] & 0x0f) | 0x80;
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export interface MergeOutcome {
  survivorsUpdated: number;
  duplicatesMarked: number;
  campaignMembersRepointed: number;
}

/**
 * Applies dedupe clusters in the caller's transaction: each survivor takes its merged fields (only
 * where it is empty) and attributes (its own win), each duplicate is marked merged_into its survivor
 * (and so are leads merged into a duplicate earlier), and campaign memberships move to the survivor
 * unless it is already a member of that campaign on that channel.
 */
export async function applyMerges(tx: TenantTx, clusters: DuplicateCluster[]): Promise<MergeOutcome> {
  if (!clusters.length) return { survivorsUpdated: 0, duplicatesMarked: 0, campaignMembersRepointed: 0 };
  const survivors = clusters.map((c) => {
    const row: Record<string, unknown> = { id: c.survivorId, attributes: c.mergedFields.attributes ?? {} };
    for (const f of LEAD_FIELDS) if (c.mergedFields[f.field] !== undefined) row[f.column] = c.mergedFields[f.field];
    return row;
  });
  const recordType = ["id uuid", ...LEAD_FIELDS.map((f) => `${f.column} ${f.type === "integer" ? "integer" : "text"}`), "attributes jsonb"].join(", ");
  const fill = LEAD_FIELDS.map((f) => `${f.column} = CASE WHEN l.${f.column} IS NULL${f.type === "text" ? ` OR btrim(l.${f.column}) = ''` : ""} THEN COALESCE(v.${f.column}, l.${f.column}) ELSE l.${f.column} END`).join(",\n      ");
  const updated = await tx.query(
    `UPDATE leads l SET
      ${fill},
      attributes = COALESCE(v.attributes, '{}'::jsonb) || l.attributes,
      updated_at = now()
    FROM jsonb_to_recordset($1::jsonb) AS v(${recordType})
    WHERE l.id = v.id AND l.merged_into IS NULL
    RETURNING l.id`,
    [JSON.stringify(survivors)],
  );
  const dupIds: string[] = [];
  const survivorIds: string[] = [];
  for (const c of clusters) {
    for (const d of c.duplicateIds) {
      dupIds.push(d);
      survivorIds.push(c.survivorId);
    }
  }
  const marked = await tx.query(
    `UPDATE leads l SET merged_into = v.s, updated_at = now()
     FROM unnest($1::uuid[], $2::uuid[]) AS v(d, s)
     WHERE (l.id = v.d AND l.merged_into IS NULL) OR l.merged_into = v.d
     RETURNING l.id`,
    [dupIds, survivorIds],
  );
  // An unsubscribe is the person's: the survivor keeps the earliest one of its cluster (the column
  // comes with the campaign delivery migration; skipped where it does not exist).
  const hasUnsubscribe = await tx.one("SELECT 1 AS x FROM information_schema.columns WHERE table_name = 'leads' AND column_name = 'unsubscribed_at'");
  if (hasUnsubscribe) {
    await tx.query(
      `UPDATE leads s SET unsubscribed_at = d.at
       FROM (SELECT v.s, min(l.unsubscribed_at) AS at FROM leads l JOIN unnest($1::uuid[], $2::uuid[]) AS v(d, s) ON l.id = v.d
             WHERE l.unsubscribed_at IS NOT NULL GROUP BY v.s) AS d
       WHERE s.id = d.s AND s.unsubscribed_at IS NULL`,
      [dupIds, survivorIds],
    );
  }
  const moved = await tx.query(
    `UPDATE campaign_members m SET lead_id = x.s, updated_at = now()
     FROM (
       SELECT DISTINCT ON (cm.campaign_id, cm.channel, v.s) cm.id, v.s
       FROM campaign_members cm
       JOIN unnest($1::uuid[], $2::uuid[]) AS v(d, s) ON cm.lead_id = v.d
       WHERE NOT EXISTS (SELECT 1 FROM campaign_members e WHERE e.campaign_id = cm.campaign_id AND e.channel = cm.channel AND e.lead_id = v.s)
       ORDER BY cm.campaign_id, cm.channel, v.s, cm.updated_at DESC, cm.id
     ) AS x
     WHERE m.id = x.id
     RETURNING m.id`,
    [dupIds, survivorIds],
  );
  return { survivorsUpdated: updated.length, duplicatesMarked: marked.length, campaignMembersRepointed: moved.length };
}
