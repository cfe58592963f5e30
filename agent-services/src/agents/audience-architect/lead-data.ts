/**
 * Adapter between the tenant's leads table and the domain: reads lead rows through the handler's
 * tenant-scoped transactions (row-level security keeps other tenants' leads out) in pages, honouring
 * the AbortSignal between pages, and turns each lead into a flat record of features: the lead
 * columns that describe a lead (not its contact details) plus every scalar key of `attributes`.
 */
import type { HandlerContext } from "../../protocol/agent-contract";
import { forEachLivePage } from "../../store/lead-pages";
import { FrameBuilder, type Frame } from "./domain/frame";

/** Lead columns used as features, by the name the domain sees. Contact details are never features. */
export const LEAD_FEATURE_COLUMNS: Record<string, string> = {
  title: "title",
  seniority: "seniority",
  company: "company",
  domain: "domain",
  industry: "industry",
  employee_count: "employeeCount",
  city: "city",
  country: "country",
  source: "source",
};

// Leads merged into a survivor by dedupeLeads (merged_into) are left out of whole-tenant scans.
const SELECT = `SELECT id::text AS id, ${Object.keys(LEAD_FEATURE_COLUMNS).join(", ")}, attributes FROM leads`;
const PAGE = 5000;

export type LeadRow = Record<string, unknown> & { id: string; attributes?: Record<string, unknown> | null };

const FEATURE_COLUMNS = Object.entries(LEAD_FEATURE_COLUMNS);
const FEATURE_NAMES = new Set(Object.values(LEAD_FEATURE_COLUMNS));

/** A lead as a flat feature record. Attribute keys that clash with a lead column get an `attributes.` prefix. */
export function leadRecord(row: LeadRow): Record<string, unknown> {
  const rec: Record<string, unknown> = {};
  for (const [col, name] of FEATURE_COLUMNS) {
    const v = row[col];
    if (v !== null && v !== undefined) rec[name] = v;
  }
  const attrs = row.attributes;
  if (attrs && typeof attrs === "object" && !Array.isArray(attrs)) {
    for (const k in attrs) {
      const v = attrs[k];
      if (v === null || (typeof v !== "string" && typeof v !== "number" && typeof v !== "boolean")) continue;
      rec[FEATURE_NAMES.has(k) || k in rec ? `attributes.${k}` : k] = v;
    }
  }
  return rec;
}

export function checkAborted(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error("aborted");
}


/**
 * Leads collected once each (by id) into a columnar frame, and also as flat records when
 * `keepRecords` (rules and ICP scoring read records; a million of them cost hundreds of MB).
 */
export class LeadTable {
  readonly ids: string[] = [];
  readonly records: Record<string, unknown>[] = [];
  private readonly index = new Map<string, number>();
  private readonly builder = new FrameBuilder();
  private frame?: Frame;

  constructor(private readonly options: { keepRecords?: boolean } = {}) {}

  get size(): number {
    return this.ids.length;
  }

  /** The row index of the lead, adding it if new. */
  add(row: LeadRow): number {
    const known = this.index.get(row.id);
    if (known !== undefined) return known;
    const i = this.ids.length;
    const rec = leadRecord(row);
    this.ids.push(row.id);
    if (this.options.keepRecords) this.records.push(rec);
    this.index.set(row.id, i);
    this.builder.add(rec);
    this.frame = undefined;
    return i;
  }

  rowOf(id: string): number | undefined {
    return this.index.get(id);
  }

  toFrame(): Frame {
    return (this.frame ??= this.builder.build());
  }
}

/** Loads the given leads (those the tenant has; others are skipped); returns their rows in input order. */
export async function loadLeadsById(ctx: HandlerContext, table: LeadTable, ids: string[], onPage?: (done: number) => Promise<void>): Promise<number[]> {
  const rows: number[] = [];
  for (let i = 0; i < ids.length; i += PAGE) {
    checkAborted(ctx.signal);
    const page = ids.slice(i, i + PAGE);
    const found = await ctx.db((tx) => tx.query<LeadRow>(`${SELECT} WHERE id = ANY($1::uuid[])`, [page]));
    const byId = new Map(found.map((r) => [r.id, r]));
    for (const id of page) {
      const r = byId.get(id);
      if (r) rows.push(table.add(r));
    }
    await onPage?.(Math.min(ids.length, i + PAGE));
  }
  return rows;
}

/** Every live lead of the tenant as rows, a page at a time in id order; returns how many. */
export function forEachLeadRowPage(ctx: HandlerContext, onPage: (rows: LeadRow[]) => void | Promise<void>): Promise<number> {
  return forEachLivePage<LeadRow>(ctx.db, ctx.signal, SELECT, onPage, PAGE);
}

/** Loads every lead of the tenant except `exclude`, page by page in id order; returns their rows. */
export async function loadAllLeads(ctx: HandlerContext, table: LeadTable, exclude: Set<string>, onPage?: (loaded: number) => Promise<void>): Promise<number[]> {
  const rows: number[] = [];
  await forEachLeadRowPage(ctx, async (page) => {
    for (const r of page) if (!exclude.has(r.id)) rows.push(table.add(r));
    await onPage?.(rows.length);
  });
  return rows;
}

/**
 * A deterministic sample (ordered by a salted hash of the id) of up to `limit` of the tenant's leads
 * outside `exclude`: the background population a lookalike model contrasts the seeds with.
 */
export async function loadLeadSample(ctx: HandlerContext, table: LeadTable, exclude: string[], limit: number, salt: string): Promise<number[]> {
  checkAborted(ctx.signal);
  const found = await ctx.db((tx) =>
    tx.query<LeadRow>(`${SELECT} WHERE NOT (id = ANY($1::uuid[])) AND merged_into IS NULL ORDER BY md5(id::text || $2), id LIMIT $3`, [exclude, salt, limit]),
  );
  return found.map((r) => table.add(r));
}

export async function countLeads(ctx: HandlerContext): Promise<number> {
  const row = await ctx.db((tx) => tx.one<{ n: number }>("SELECT count(*)::int AS n FROM leads WHERE merged_into IS NULL"));
  return row?.n ?? 0;
}
