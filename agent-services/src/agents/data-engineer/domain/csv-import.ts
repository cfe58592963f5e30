/**
 * CSV import of leads, shared by the importLeads capability and the `leads:import` CLI command.
 * Streams the CSV (csv-parse) and hands rows to a sink in batches, so a file of a million rows never
 * sits in memory. Mapped columns become lead fields; columns whose header already names a field are
 * mapped automatically (case, spaces and underscores ignored, plus common synonyms); every other
 * column becomes a typed attribute (numbers as numbers, true/false as booleans, empty as absent).
 * Rows that cannot be read are reported with their line number, never dropped silently.
 * Pure domain code: the sink (which writes to the database) is passed in.
 */
import { Readable } from "node:stream";
import { StringDecoder } from "node:string_decoder";
import { parse } from "csv-parse";
import { LEAD_FIELDS, LEAD_FIELD_NAMES, type AttributeValue, type LeadField } from "./lead";
import { normalizeDomain } from "./normalize";

/** A problem with the mapping or the header: the import cannot start (a usage error). */
export class ImportSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ImportSetupError";
  }
}

export interface LeadDraft {
  /** Line of the CSV where the row starts (1 = the header). */
  line: number;
  fields: Partial<Record<LeadField, string | number>>;
  attributes: Record<string, AttributeValue>;
}

export interface RejectedRow {
  line: number;
  reason: string;
}

/** Where imported leads go; returns the new lead ids in the order of the drafts. */
export interface LeadSink {
  insertBatch(rows: LeadDraft[]): Promise<string[]>;
  /** Stores whatever the sink still holds; called once, after the last batch. */
  finish?(): Promise<void>;
}

export interface ImportOptions {
  /** CSV column -> lead field (or `attributes.<name>` to rename an attribute, or `-` to skip the column). */
  mapping?: Record<string, string>;
  /** Source label for leads whose row does not set one. */
  source?: string;
  batchSize?: number;
  signal?: { aborted: boolean; reason?: unknown };
  /**
   * The caller knows the input has no quote character (the CLI scans the file first): records are
   * split without csv-parse. A string input is checked here.
   */
  plain?: boolean;
  onRejected?(row: RejectedRow): void;
  /** After each batch is stored: its ids, in file order. */
  onBatch?(ids: string[], progress: { rows: number; imported: number; rejected: number }): void | Promise<void>;
}

export interface ImportSummary {
  imported: number;
  rejected: number;
  rows: number;
}

const MAX_TEXT = 10_000;

/** Header spellings (lower case, letters and digits only) that name a lead field. */
const SYNONYMS: Record<LeadField, string[]> = {
  email: ["email", "emailaddress", "email1", "mail", "workemail", "businessemail"],
  firstName: ["firstname", "givenname", "forename", "first"],
  lastName: ["lastname", "surname", "familyname", "last"],
  title: ["title", "jobtitle", "position"],
  seniority: ["seniority", "senioritylevel"],
  company: ["company", "companyname", "organization", "organisation", "accountname", "employer"],
  domain: ["domain", "companydomain", "website", "companywebsite", "web"],
  industry: ["industry", "sector"],
  employeeCount: ["employeecount", "employees", "numberofemployees", "headcount"],
  phone: ["phone", "phonenumber", "telephone", "tel", "mobile", "mobilephone", "workphone"],
  address: ["address", "address1", "addressline1", "street", "streetaddress"],
  city: ["city", "town", "suburb", "locality"],
  postcode: ["postcode", "postalcode", "zip", "zipcode"],
  country: ["country", "countrycode"],
  linkedinUrl: ["linkedinurl", "linkedin", "linkedinprofile"],
  source: ["source", "leadsource"],
};

const squash = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, "");

/** The lead field a header or mapping target names, if any (case/underscore/space-insensitive). */
export function fieldNamed(name: string): LeadField | undefined {
  const k = squash(name);
  for (const f of LEAD_FIELD_NAMES) if (squash(f) === k) return f;
  for (const f of LEAD_FIELD_NAMES) if (SYNONYMS[f].includes(k)) return f;
  return undefined;
}

type Target = { kind: "field"; field: LeadField } | { kind: "attribute"; name: string } | { kind: "skip" };

function parseTarget(column: string, target: string): Target {
  const t = target.trim();
  if (t === "-" || t.toLowerCase() === "ignore" || t.toLowerCase() === "skip") return { kind: "skip" };
  const attr = /^(?:attributes?[.:])(.+)$/i.exec(t);
  if (attr) return { kind: "attribute", name: attr[1] };
  const field = fieldNamed(t);
  if (!field) {
    throw new ImportSetupError(`column "${column}" is mapped to "${target}", which is not a lead field (one of ${LEAD_FIELD_NAMES.join(", ")}, attributes.<name>, or - to skip)`);
  }
  return { kind: "field", field };
}

/** Checks a mapping before any row is read; throws ImportSetupError naming the first problem. */
export function checkMapping(mapping: Record<string, string>): void {
  const seen = new Map<LeadField, string>();
  for (const [column, target] of Object.entries(mapping)) {
    const t = parseTarget(column, target);
    if (t.kind !== "field") continue;
    const other = seen.get(t.field);
    if (other !== undefined) throw new ImportSetupError(`columns "${other}" and "${column}" are both mapped to ${t.field}`);
    seen.set(t.field, column);
  }
}

/** `column=field` arguments (the last `=` separates them) to a mapping. */
export function parseMappingArgs(args: string[]): Record<string, string> {
  const mapping: Record<string, string> = {};
  for (const a of args) {
    const eq = a.lastIndexOf("=");
    if (eq <= 0 || eq === a.length - 1) throw new ImportSetupError(`--map needs column=field, got "${a}"`);
    mapping[a.slice(0, eq).trim()] = a.slice(eq + 1).trim();
  }
  checkMapping(mapping);
  return mapping;
}

interface ColumnPlan {
  index: number;
  header: string;
  target: Target;
}

/** How each column of the header is used: explicit mapping first, then automatic, else attribute. */
export function planColumns(header: string[], mapping: Record<string, string>): ColumnPlan[] {
  checkMapping(mapping);
  const names = header.map((h, i) => h.trim() || `column_${i + 1}`);
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new ImportSetupError(`the header names column "${n}" twice`);
    seen.add(n);
  }
  const mapped = new Map<string, string>();
  for (const [column, target] of Object.entries(mapping)) {
    const found = names.find((n) => n === column) ?? names.find((n) => n.toLowerCase() === column.toLowerCase());
    if (!found) throw new ImportSetupError(`--map names column "${column}", which is not in the CSV header (${names.join(", ")})`);
    mapped.set(found, target);
  }
  const taken = new Set<LeadField>();
  const plan: ColumnPlan[] = names.map((header, index) => {
    const m = mapped.get(header);
    const target = m !== undefined ? parseTarget(header, m) : undefined;
    if (target?.kind === "field") taken.add(target.field);
    return { index, header, target: target ?? { kind: "attribute", name: header } };
  });
  // Automatic mapping: exact field names before synonyms, each field once, never over an explicit one.
  for (const pass of ["exact", "synonym"] as const) {
    for (const col of plan) {
      if (mapped.has(col.header)) continue;
      if (col.target.kind !== "attribute" || col.target.name !== col.header) continue;
      const k = squash(col.header);
      const field = pass === "exact" ? LEAD_FIELD_NAMES.find((f) => squash(f) === k) : fieldNamed(col.header);
      if (field && !taken.has(field)) {
        taken.add(field);
        col.target = { kind: "field", field };
      }
    }
  }
  return plan;
}

const NUMBER = /^-?(?:0|[1-9]\d{0,14})(?:\.\d+)?$/;

/** An attribute cell as a typed value: numbers, booleans, text; empty is absent. */
export function typedValue(cell: string): AttributeValue | undefined {
  const s = cell.trim();
  if (s === "") return undefined;
  if (/^(true|false)$/i.test(s)) return s.toLowerCase() === "true";
  if (NUMBER.test(s)) return Number(s);
  return s;
}

const FIELD_TYPES = new Map<string, string>(LEAD_FIELDS.map((f) => [f.field, f.type]));

function toDraft(line: number, cells: string[], plan: ColumnPlan[], source: string | undefined): LeadDraft | RejectedRow {
  if (cells.length !== plan.length) {
    return { line, reason: `expected ${plan.length} columns, found ${cells.length}` };
  }
  const draft: LeadDraft = { line, fields: {}, attributes: {} };
  let filled = 0;
  for (const col of plan) {
    const raw = cells[col.index].trim();
    if (raw === "" || col.target.kind === "skip") continue;
    if (raw.length > MAX_TEXT) return { line, reason: `column "${col.header}" is longer than ${MAX_TEXT} characters` };
    filled++;
    if (col.target.kind === "attribute") {
      draft.attributes[col.target.name] = typedValue(raw)!;
      continue;
    }
    const field = col.target.field;
    if (FIELD_TYPES.get(field) === "integer") {
      const n = raw.replace(/[,_\s]/g, "");
      if (!/^\d{1,9}$/.test(n)) return { line, reason: `column "${col.header}" (${field}) must be a whole number, got "${raw}"` };
      draft.fields[field] = Number(n);
    } else if (field === "domain") {
      draft.fields[field] = domainOf(raw);
    } else {
      draft.fields[field] = raw;
    }
  }
  if (!filled) return { line, reason: "the row has no values" };
  if (source && draft.fields.source === undefined) draft.fields.source = source;
  return draft;
}

/** Lead lists repeat their companies' websites: each distinct one is normalised once per import run. */
const domainCache = new Map<string, string>();
function domainOf(raw: string): string {
  let d = domainCache.get(raw);
  if (d === undefined) {
    d = normalizeDomain(raw) ?? raw;
    if (domainCache.size >= 100_000) domainCache.clear();
    domainCache.set(raw, d);
  }
  return d;
}

/** Line breaks inside a record's quoted cells (CRLF, LF or CR each count once). */
function lineBreaksIn(cells: string[]): number {
  let n = 0;
  for (const cell of cells) {
    if (cell.indexOf("\n") < 0 && cell.indexOf("\r") < 0) continue;
    n += cell.match(/\r\n|\r|\n/g)!.length;
  }
  return n;
}

/** A row csv-parse skipped, placed after the `afterRecords`-th record it did return. */
interface SkippedRow {
  afterRecords: number;
  endLine?: number;
  message: string;
}

async function* oneByOne(records: AsyncIterable<string[]>): AsyncGenerator<string[][]> {
  for await (const record of records) yield [record];
}

/**
 * Records of a CSV without a single quote character, a chunk of input at a time: no field can be
 * quoted, so a record is a line split at commas. What csv-parse gives for the same text (the first
 * line break found, CRLF, LF or CR, is the record delimiter; a BOM is dropped), in a fraction of the
 * time: csv-parse's character loop was a third of a million-row import.
 */
async function* plainRecords(input: AsyncIterable<Buffer | string> | string[]): AsyncGenerator<string[][]> {
  const decoder = new StringDecoder("utf8");
  let rest = "";
  let started = false;
  let delimiter: string | undefined;
  const split = (text: string, last: boolean): string[][] => {
    if (!started && text.length) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      started = true;
    }
    delimiter ??= recordDelimiter(text, last);
    if (!delimiter) {
      rest = last ? "" : text;
      return last && text ? [fields(text)] : [];
    }
    const lines = text.split(delimiter);
    rest = lines.pop()!;
    if (last && rest) lines.push(rest);
    return lines.map(fields);
  };
  for await (const chunk of input) {
    const records = split(rest + (typeof chunk === "string" ? chunk : decoder.write(chunk)), false);
    if (records.length) yield records;
  }
  const records = split(rest + decoder.end(), true);
  if (records.length) yield records;
}

/** A line's fields, each without leading white space (csv-parse's `ltrim`, whose set is JavaScript's). */
function fields(line: string): string[] {
  const cells = line.split(",");
  for (let i = 0; i < cells.length; i++) {
    const c = cells[i].charCodeAt(0);
    if (c === 32 || (c >= 9 && c <= 13) || c > 127) cells[i] = cells[i].trimStart();
  }
  return cells;
}

/** The first line break in `text`; undefined while it cannot be told yet (none, or a CR at the end). */
function recordDelimiter(text: string, last: boolean): string | undefined {
  const lf = text.indexOf("\n");
  const cr = text.indexOf("\r");
  if (cr < 0 || (lf >= 0 && lf < cr)) return lf < 0 ? undefined : "\n";
  if (cr + 1 < text.length) return text[cr + 1] === "\n" ? "\r\n" : "\r";
  return last ? "\r" : undefined;
}

/**
 * Reads CSV text or a byte stream, stores the leads through `sink` in batches and reports rejected
 * rows through `onRejected`. Throws ImportSetupError when the header or the mapping is unusable.
 */
export async function importLeadsCsv(input: string | AsyncIterable<Buffer | string>, sink: LeadSink, options: ImportOptions = {}): Promise<ImportSummary> {
  const batchSize = options.batchSize ?? 1000;
  const mapping = options.mapping ?? {};
  checkMapping(mapping);
  // Line numbers are counted here as records are consumed, not by csv-parse: its `on_record` hook
  // builds an info object per record, a tenth of a million-row import's parsing time.
  const skipped: SkippedRow[] = [];
  const plain = options.plain === true || (typeof input === "string" && !input.includes('"'));
  let records$: AsyncIterable<string[][]>;
  if (plain) {
    records$ = plainRecords(typeof input === "string" ? [input] : input);
  } else {
    const parser = parse({
      bom: true,
      ltrim: true,
      relax_quotes: true,
      relax_column_count: true,
      skip_empty_lines: false,
      skip_records_with_error: true,
      // Runs while parsing, ahead of the loop below: it records where the skipped row fell.
      on_skip: (err: { message: string; lines?: number } | undefined) => {
        skipped.push({ afterRecords: parser.info.records, endLine: err?.lines, message: err?.message.replace(/^Invalid Record Length: /, "") ?? "unreadable row" });
        return undefined;
      },
    });
    const source = typeof input === "string" ? Readable.from([input]) : Readable.from(input);
    source.on("error", (e) => parser.destroy(e));
    source.pipe(parser);
    records$ = oneByOne(parser as AsyncIterable<string[]>);
  }

  let plan: ColumnPlan[] | undefined;
  let batch: LeadDraft[] = [];
  const summary: ImportSummary = { imported: 0, rejected: 0, rows: 0 };
  const reject = (r: RejectedRow) => {
    summary.rejected++;
    options.onRejected?.(r);
  };
  let records = 0;
  let lastLine = 0;
  const drainSkipped = (upToRecords: number) => {
    while (skipped.length && skipped[0].afterRecords <= upToRecords) {
      const s = skipped.shift()!;
      const line = lastLine + 1;
      const end = Math.max(line, s.endLine ?? line);
      lastLine = end;
      const r = { line, reason: end > line ? `${s.message} (lines ${line}-${end} could not be read)` : s.message };
      if (!plan) throw new ImportSetupError(`the header row cannot be read (line ${r.line}: ${r.reason})`);
      reject(r);
    }
  };
  const flush = async () => {
    if (!batch.length) return;
    if (options.signal?.aborted) throw options.signal.reason ?? new Error("aborted");
    const rows = batch;
    batch = [];
    const ids = await sink.insertBatch(rows);
    summary.imported += ids.length;
    await options.onBatch?.(ids, { rows: summary.rows, imported: summary.imported, rejected: summary.rejected });
  };

  /** Takes one record; true when the batch is full. */
  const take = (cells: string[]): boolean => {
    drainSkipped(records);
    records++;
    const line = lastLine + 1;
    lastLine = line + lineBreaksIn(cells);
    const blank = cells.length === 1 && cells[0].trim() === "";
    if (blank) return false;
    if (!plan) {
      plan = planColumns(cells, mapping);
      return false;
    }
    summary.rows++;
    const out = toDraft(line, cells, plan, options.source);
    if ("reason" in out) {
      reject(out);
      return false;
    }
    batch.push(out);
    return batch.length >= batchSize;
  };
  for await (const chunk of records$) {
    for (const cells of chunk) if (take(cells)) await flush();
  }
  drainSkipped(Infinity);
  if (!plan) throw new ImportSetupError("the CSV is empty: it needs a header row");
  await flush();
  await sink.finish?.();
  return summary;
}
