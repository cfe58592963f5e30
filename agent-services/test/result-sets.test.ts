/**
 * Whole-tenant runs above the old 100,000-lead limit, result sets read in pages, the evidence of
 * each link in the outputs through the API, and cancelling a whole-tenant run.
 */
import { startTestStack, type TestStack } from "./support/harness";
import { completedArtifacts } from "../src/protocol/a2a-mapping";

const A = "data-engineer";
const PLAIN = 120_000;
const PAIRS = 1_200;

let t: TestStack;
let tenant: string;
let token: string;

beforeAll(async () => {
  t = await startTestStack();
  tenant = await t.tenant(100_000);
  token = t.token(tenant);
  // 120,000 unrelated people (random names, distinct mailboxes) and 1,200 planted pairs whose
  // second lead spells the mailbox in capitals and the given name as a nickname.
  await t.owner.query(
    `INSERT INTO leads (tenant_id, email, first_name, last_name)
     SELECT $1, 'p' || n || '@example.org', 'f' || substr(md5('f' || n), 1, 8), 'l' || substr(md5('l' || n), 1, 8)
     FROM generate_series(1, $2::int) AS n`,
    [tenant, PLAIN],
  );
  await t.owner.query(
    `INSERT INTO leads (tenant_id, email, first_name, last_name, company)
     SELECT $1, CASE WHEN k = 1 THEN 'william.' ELSE 'William.' END || 'q' || substr(md5('d' || n), 1, 10) || '@dup' || n || '.com',
            CASE WHEN k = 1 THEN 'William' ELSE 'Bill' END, 'Q' || substr(md5('d' || n), 1, 10), 'Company ' || n
     FROM generate_series(1, $2::int) AS n, generate_series(1, 2) AS k`,
    [tenant, PAIRS],
  );
}, 120_000);
afterAll(async () => t?.close());

/** GET that waits out the agent's rate limit (the status polling of these tests spends its burst). */
async function getPaced(pathname: string) {
  for (;;) {
    const res = await t.request("GET", pathname, { token });
    if (res.status !== 429) return res;
    await new Promise((r) => setTimeout(r, 1000 * Number(res.headers.get("retry-after") ?? 1)));
  }
}

async function start(type: string, inputs: Record<string, unknown>) {
  const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type, inputs } });
  expect([res.status, res.body?.error ?? null]).toEqual([202, null]);
  return res.body.taskId as string;
}

test("dedupeLeads over the whole tenant (above 100,000 leads): clusters with evidence, the rest in pages", async () => {
  const taskId = await start("dedupeLeads", {});
  const done = await t.waitForStatus(token, A, taskId, ["completed", "failed"], 180_000);
  expect(done.error).toBeNull();
  const out = done.outputs;
  expect(out).toMatchObject({ mode: "dryRun", leadsConsidered: PLAIN + 2 * PAIRS, duplicatesFound: PAIRS, clusterCount: PAIRS });
  expect(out.clusters).toHaveLength(1000);
  expect(out.resultSet).toEqual({ items: "clusters", total: PAIRS, href: `/agents/${A}/tasks/${taskId}/results`, nextCursor: expect.any(String) });

  // Evidence: the fields compared, both values, their weights.
  const [link] = out.clusters[0].links;
  const fields = Object.fromEntries(link.evidence.map((e: any) => [e.field, e]));
  expect(fields.email).toMatchObject({ a: expect.stringMatching(/^william\.q/), b: fields.email.a, similarity: 1 });
  expect(fields.email.weight).toBeGreaterThan(10);
  expect(fields.firstName).toMatchObject({ a: "william", b: "william" });
  // Company name and domain say one thing: the stronger (the domain) is counted and shown.
  expect(Object.keys(fields).sort()).toEqual(["domain", "email", "firstName", "lastName"]);

  // Every page, to the end; the first page of the set is the outputs' first rows.
  const seen: any[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: any = await getPaced(`${out.resultSet.href}?limit=500${cursor ? `&cursor=${cursor}` : ""}`);
    expect(page.status).toBe(200);
    expect(page.body.total).toBe(PAIRS);
    seen.push(...page.body.items);
    cursor = page.body.nextCursor;
    pages++;
  } while (cursor);
  expect(pages).toBe(3);
  expect(seen).toHaveLength(PAIRS);
  expect(seen.slice(0, 1000)).toEqual(out.clusters);
  expect(new Set(seen.map((c) => c.survivorId)).size).toBe(PAIRS);
  // The cursor in the outputs starts where they stop.
  const rest = await getPaced(`${out.resultSet.href}?cursor=${out.resultSet.nextCursor}&limit=10000`);
  expect(rest.body.items).toEqual(seen.slice(1000));
  expect(rest.body.nextCursor).toBeNull();

  // Bad paging input is a 400 naming the parameter; another tenant sees nothing.
  const bad = await getPaced(`${out.resultSet.href}?cursor=nonsense`);
  expect([bad.status, bad.body.error.details.errors[0].path]).toEqual([400, "cursor"]);
  const badLimit = await getPaced(`${out.resultSet.href}?limit=10001`);
  expect([badLimit.status, badLimit.body.error.details.errors[0].path]).toEqual([400, "limit"]);
  const other = await t.request("GET", out.resultSet.href, { token: t.token(await t.tenant(10)) });
  expect(other.status).toBe(404);
  const noScope = await t.request("GET", out.resultSet.href, { token: t.token(tenant, ["webhooks:manage"]) });
  expect(noScope.status).toBe(403);
}, 240_000);

test("scoreLeads and segmentLeads without leadIds cover the whole tenant; the rows past the first page are in the result set", async () => {
  const AA = "audience-architect";
  const res = await t.request("POST", `/agents/${AA}/tasks`, { token, body: { type: "scoreLeads", inputs: { profile: { titles: ["cto"], weights: { title: 1 } } } } });
  expect(res.status).toBe(202);
  // Reserved for every live lead of the tenant, at the card's 0.05 credit a lead.
  expect(res.body.creditsReserved).toBeCloseTo((PLAIN + 2 * PAIRS) * 0.05, 3);
  const scored = await t.waitForStatus(token, AA, res.body.taskId, ["completed", "failed"], 120_000);
  expect(scored.error).toBeNull();
  expect(scored.outputs).toMatchObject({ scoredCount: PLAIN + 2 * PAIRS, notFound: [], resultSet: { items: "scores", total: PLAIN + 2 * PAIRS } });
  expect(scored.outputs.scores).toHaveLength(1000);
  expect(scored.creditsUsed).toBeCloseTo((PLAIN + 2 * PAIRS) * 0.05, 3);
  const page = await getPaced(`${scored.outputs.resultSet.href}?limit=1000`);
  expect(page.body.items).toEqual(scored.outputs.scores);
  // Pages that start and end inside the stored chunks (500 items a row) read the same items as one
  // large page, and the cursor walks on from the middle of a chunk.
  const big = await getPaced(`${scored.outputs.resultSet.href}?limit=10000`);
  expect(big.body.items).toHaveLength(10000);
  const odd: any[] = [];
  let cursor: string | null = null;
  for (let k = 0; k < 5; k++) {
    const p: any = await getPaced(`${scored.outputs.resultSet.href}?limit=${k === 2 ? 1 : 777}${cursor ? `&cursor=${cursor}` : ""}`);
    odd.push(...p.body.items);
    cursor = p.body.nextCursor;
  }
  expect(odd).toHaveLength(4 * 777 + 1);
  expect(odd).toEqual(big.body.items.slice(0, odd.length));

  const seg = await t.request("POST", `/agents/${AA}/tasks`, { token, body: { type: "segmentLeads", inputs: { method: "rules", rules: [{ segment: "companies", field: "company", op: "exists" }] } } });
  const segmented = await t.waitForStatus(token, AA, seg.body.taskId, ["completed", "failed"], 120_000);
  expect(segmented.error).toBeNull();
  // The planted pairs have a company; the plain leads do not.
  const companies = segmented.outputs.segments.find((x: any) => x.name === "companies");
  expect(companies).toMatchObject({ size: 2 * PAIRS, leadIdsTruncated: true });
  expect(companies.leadIds).toHaveLength(1000);
  expect(segmented.outputs.resultSet).toMatchObject({ items: "memberships", total: PLAIN + 2 * PAIRS });
  const first = await getPaced(`${segmented.outputs.resultSet.href}?limit=10000`);
  expect([first.status, first.body.error ?? null]).toEqual([200, null]);
  expect(first.body.items[0]).toEqual({ leadId: expect.any(String), segment: expect.any(String) });
}, 240_000);

test("a task without a result set answers 404 on its results; one still running 409", async () => {
  const small = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "importLeads", inputs: { csv: "email\nz@z.org\n" } } });
  const done = await t.waitForStatus(token, A, small.body.taskId, ["completed"]);
  expect(done.outputs.resultSet).toBeUndefined();
  const none = await getPaced(`/agents/${A}/tasks/${small.body.taskId}/results`);
  expect(none.status).toBe(404);

  const running = await start("validateLeads", {});
  const early = await getPaced(`/agents/${A}/tasks/${running}/results`);
  expect(early.status).toBe(409);
  await t.request("POST", `/agents/${A}/tasks/${running}/cancel`, { token, body: {} });
  await t.waitForStatus(token, A, running, ["cancelled", "completed"], 60_000);
});

test("validateLeads over the whole tenant stops when cancelled mid-run", async () => {
  const taskId = await start("validateLeads", {});
  // Wait until it is reading the tenant's leads, then cancel.
  const t0 = Date.now();
  for (;;) {
    const now = (await t.request("GET", `/agents/${A}/tasks/${taskId}`, { token })).body;
    if (now.status === "working" && now.progress >= 5) break;
    if (Date.now() - t0 > 60_000) throw new Error(`never started: ${JSON.stringify(now)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const cancel = await t.request("POST", `/agents/${A}/tasks/${taskId}/cancel`, { token, body: { reason: "too big" } });
  expect(cancel.status).toBe(200);
  const end = await t.waitForStatus(token, A, taskId, ["cancelled", "completed", "failed"], 60_000);
  expect(end.status).toBe("cancelled");
  // Nothing was charged beyond the release, and the run left no readable result set.
  expect(end.creditsUsed).toBe(0);
  expect((await getPaced(`/agents/${A}/tasks/${taskId}/results`)).status).toBe(409);
}, 120_000);

test("the A2A task of a completed run with a result set carries a results artifact that says how to page it", () => {
  const outputs = { clusters: [], resultSet: { items: "clusters", total: 5000, href: "/agents/data-engineer/tasks/x/results", nextCursor: "cj oxMDAw" } };
  const artifacts = completedArtifacts(outputs);
  expect(artifacts.map((a) => a.artifactId)).toEqual(["outputs", "results"]);
  const part = artifacts[1].parts[0] as any;
  expect(part.content).toMatchObject({ $case: "data" });
  expect(part.content.value).toMatchObject({ items: "clusters", total: 5000, href: outputs.resultSet.href, method: "GET", pageSize: { default: 1000, max: 10000 } });
  expect(completedArtifacts({ x: 1 }).map((a) => a.artifactId)).toEqual(["outputs"]);
});
