/**
 * The DataEngineer's SQL over the tenant-scoped transaction: reading leads, storing imported ones in
 * batches, and applying dedupe merges. Adapts the domain (which knows no database) to Postgres.
 */
import { createHash, randomBytes } from "node:crypto";
import type { TenantTx } from "../../store/tenant-tx";
import { LEAD_FIELDS, type LeadRecord } from "./domain/lead";
import type { LeadDraft, LeadSink } from "./domain/csv-import";
import type { DuplicateCluster } from "./domain/matcher";

export const SELECT_LEAD = `SELECT id, ${LEAD_FIELDS.map((f) => `${f.column} AS "${f.field}"`).join(", ")},
  attributes, created_at AS "createdAt", updated_at AS "updatedAt" FROM leads`;

/** The given live (not merged) leads, oldest first. */
export async function loadLeads(tx: TenantTx, leadIds: string[]): Promise<LeadRecord[]> {
  return tx.query<LeadRecord & { id: string }>(`${SELECT_LEAD} WHERE merged_into IS NULL AND id = ANY($1::uuid[]) ORDER BY created_at, id`, [leadIds]);
}

/** Live leads by id, in the caller's transaction (FOR UPDATE when merging them). */
export async function loadLeadsByIds(tx: TenantTx, ids: string[], forUpdate = false): Promise<LeadRecord[]> {
  if (!ids.length) return [];
  return tx.query<LeadRecord & { id: string }>(`${SELECT_LEAD} WHERE merged_into IS NULL AND id = ANY($1::uuid[]) ORDER BY id${forUpdate ? " FOR UPDATE" : ""}`, [ids]);
}

/** One dedupe apply at a time per tenant (transaction-scoped advisory lock). */
export async function lockDedupe(tx: TenantTx): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext('dedupe-leads:' || $1::text))", [tx.tenantId]);
}

const INSERT_COLUMNS = ["id", ...LEAD_FIELDS.map((f) => f.column), "attributes"];
const STAGE = "lead_import_stage";
/** Staged rows are moved into leads in one statement per this many rows (and at the end). */
const MOVE_EVERY = 50_000;
const AHEAD = 16;

/** A value in COPY text format: \N for null; backslash, tab, newline and carriage return escaped. */
const COPY_SPECIAL = /[\\\t\n\r]/;
function copyText(v: unknown): string {
  if (v === undefined || v === null) return "\\N";
  const s = String(v);
  if (!COPY_SPECIAL.test(s)) return s;
  return s.replace(/[\\\t\n\r]/g, (c) => (c === "\\" ? "\\\\" : c === "\t" ? "\\t" : c === "\n" ? "\\n" : "\\r"));
}

export interface BulkLoadAccess {
  /** COPY straight into leads: the role bypasses row-level security. */
  direct?: boolean;
  /** And without the per-row foreign-key triggers (see bulkLoadAccess). */
  withoutRowTriggers?: boolean;
}

/** The foreign keys of leads that an import guarantees by itself (see bulkLoadAccess). */
const SELF_GUARANTEED_KEYS = ["FOREIGN KEY (tenant_id) REFERENCES tenants(id)", "FOREIGN KEY (merged_into) REFERENCES leads(id)"];

/**
 * How the operator CLI may load the transaction's tenant's leads, asked once per import; undefined
 * when the tenant does not exist. `direct` when the role bypasses row-level security.
 * `withoutRowTriggers` when it is a superuser and nothing on leads fires on insert except the two
 * foreign keys an import guarantees itself: tenant_id is the transaction's tenant, locked here as
 * each row's check would lock it, and merged_into is never written. Postgres then skips those
 * per-row checks (session_replication_role, as pg_restore does), about a sixth of a million-row
 * import. Any other trigger, rule or foreign key on leads (a DBA's audit trigger, a later column)
 * keeps the checks on, and so does a trigger enabled for replica sessions only.
 */
export async function bulkLoadAccess(tx: TenantTx): Promise<BulkLoadAccess | undefined> {
  if (!(await tx.one("SELECT id FROM tenants WHERE id = $1 FOR KEY SHARE", [tx.tenantId]))) return undefined;
  const access = await tx.one<Required<BulkLoadAccess>>(
    `SELECT r.rolsuper OR r.rolbypassrls AS direct,
       r.rolsuper
       AND NOT EXISTS (
         SELECT 1 FROM pg_trigger t LEFT JOIN pg_constraint c ON c.oid = t.tgconstraint
         WHERE t.tgrelid = 'leads'::regclass AND (t.tgtype & 4) <> 0 AND t.tgenabled IN ('O', 'R')
           AND (c.oid IS NULL OR c.conrelid <> 'leads'::regclass OR pg_get_constraintdef(c.oid) <> ALL($1::text[])))
       AND NOT EXISTS (SELECT 1 FROM pg_rewrite WHERE ev_class = 'leads'::regclass) AS "withoutRowTriggers"
     FROM pg_roles r WHERE r.rolname = current_user`,
    [SELF_GUARANTEED_KEYS],
  );
  return { direct: access?.direct === true, withoutRowTriggers: access?.withoutRowTriggers === true };
}

/**
 * A sink for imports. `idFor(line)` gives each row its id: time-ordered for the CLI (index-friendly
 * at a million rows), derived from the task and the line for the capability, so a retried task
 * inserts nothing twice (ON CONFLICT DO NOTHING) and reports the same ids. Rows are bulk-loaded
 * with COPY into a temporary table of the transaction (COPY cannot write to a table under row-level
 * security) and moved into leads with one INSERT ... SELECT per 50,000 rows, which the tenant's
 * policy checks like any insert. `direct` copies straight into leads instead, twice as fast: only
 * for a connection that bypasses row-level security (the operator CLI as the owner), with fresh ids
 * (COPY has no ON CONFLICT), and it writes the transaction's tenant id itself. The ids are returned as soon as a batch is handed over; the whole
 * import is one transaction, so they exist together or not at all.
 */
export function leadImportSink(tx: TenantTx, idFor: (line: number) => string, options: BulkLoadAccess = {}): LeadSink {
  let staged = 0;
  let created = false;
  // Database steps run one after the other on the transaction's connection while the parser goes
  // on preparing batches (up to AHEAD of them), so parsing overlaps the inserts.
  let chain: Promise<void> = Promise.resolve();
  const pending: Array<Promise<void>> = [];
  const move = async () => {
    if (!staged) return;
    await tx.query(`INSERT INTO leads (tenant_id, ${INSERT_COLUMNS.join(", ")}) SELECT $1::uuid, ${INSERT_COLUMNS.join(", ")} FROM ${STAGE} ON CONFLICT (id) DO NOTHING`, [tx.tenantId]);
    await tx.query(`TRUNCATE ${STAGE}`);
    staged = 0;
  };
  const stage = async (data: Buffer, count: number) => {
    if (options.direct) {
      // Only around the COPY: nothing else in the transaction may run without its triggers.
      if (options.withoutRowTriggers) await tx.query("SET LOCAL session_replication_role = replica");
      await tx.copyIn(`COPY leads (tenant_id, ${INSERT_COLUMNS.join(", ")}) FROM STDIN`, data);
      if (options.withoutRowTriggers) await tx.query("SET LOCAL session_replication_role = origin");
      return;
    }
    if (!created) {
      const columns = ["id uuid", ...LEAD_FIELDS.map((f) => `${f.column} ${f.type === "integer" ? "integer" : "text"}`), "attributes jsonb"];
      await tx.query(`CREATE TEMPORARY TABLE ${STAGE} (${columns.join(", ")}) ON COMMIT DROP`);
      created = true;
    }
    await tx.copyIn(`COPY ${STAGE} (${INSERT_COLUMNS.join(", ")}) FROM STDIN`, data);
    staged += count;
    if (staged >= MOVE_EVERY) await move();
  };
  return {
    async insertBatch(rows: LeadDraft[]): Promise<string[]> {
      const ids = rows.map((r) => idFor(r.line));
      // One string built by appending: a million rows of per-row arrays and joins kept the GC busy.
      const prefix = options.direct ? `${tx.tenantId}\t` : "";
      let data = "";
      for (let k = 0; k < rows.length; k++) {
        const fields = rows[k].fields;
        data += prefix + ids[k];
        for (const f of LEAD_FIELDS) data += "\t" + copyText(fields[f.field]);
        data += "\t" + copyText(JSON.stringify(rows[k].attributes)) + "\n";
      }
      // Off the JavaScript heap at once: the appended string is a tree of small pieces, and batches
      // waiting their turn would otherwise be traced by every garbage collection.
      const bytes = Buffer.from(data);
      chain = chain.then(() => stage(bytes, rows.length));
      // Awaited below or by finish; this only keeps Node from reporting it unhandled meanwhile.
      chain.catch(() => undefined);
      pending.push(chain);
      // A failed step rejects every later one, so the import fails at the next batch at the latest.
      while (pending.length > AHEAD) await pending.shift();
      return ids;
    },
    async finish() {
      await chain;
      await move();
    },
  };
}

/** Random bytes drawn in bulk: one call per 4,096 ids instead of one per id (a million-row import). */
let randomPool = Buffer.alloc(0);
let randomAt = 0;

let lastMs = 0;
let sequence = 0;

/**
 * A time-ordered uuid (version 7), strictly increasing within the process: the millisecond, then a
 * 12-bit sequence in rand_a (RFC 9562, 6.2 method 1; past 4,096 ids in one millisecond the clock is
 * run ahead by one), then 62 random bits. Every new row lands at the right edge of the primary-key
 * index, where Postgres inserts without descending the tree.
 */
export function timeOrderedId(): string {
  if (randomAt + 8 > randomPool.length) {
    randomPool = randomBytes(8 * 4096);
    randomAt = 0;
  }
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else if (++sequence > 0xfff) {
    lastMs++;
    sequence = 0;
  }
  const b = Buffer.allocUnsafe(16);
  b.writeUIntBE(lastMs, 0, 6);
  b[6] = 0x70 | (sequence >> 8);
  b[7] = sequence & 0xff;
  randomPool.copy(b, 8, randomAt, randomAt + 8);
  randomAt += 8;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = b.toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
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
