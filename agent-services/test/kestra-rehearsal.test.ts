/**
 * The Kestra flows in workflows/kestra, rehearsed without a Kestra server: each flow's tasks are
 * walked in order with Kestra's semantics (support/kestra-rehearsal.ts), its Pebble expressions
 * rendered strictly, its a2a-task steps run for real against a live gateway and the real DealScale
 * agents (leads seeded in Postgres, campaigns sent to a local SMTP server, Apollo answered by a local
 * server speaking its API), its http.Request steps fetched. An output name that does not line up
 * between two steps fails the step that reads it; each flow's end state is checked in Postgres.
 * Then a2a-task against a stream that never says the task ended (which the rehearsal ran into), and
 * docker-compose.yml: it runs Kestra with these flows and the runner image they use.
 */
import { spawn } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { startTestStack, type TestStack } from "./support/harness";
import { startSmtpSink, type SmtpSink } from "./support/smtp-sink";
import {
  FLOWS_DIR,
  RUNNER_BIN,
  RUNNER_IMAGE,
  UndefinedVariableError,
  UnsupportedError,
  loadFlow,
  makeRunnerBin,
  prepareFlow,
  render,
  runFlow,
  runningProcesses,
  yaml,
  type Execution,
  type Flow,
  type RenderContext,
} from "./support/kestra-rehearsal";

const ROOT = path.resolve(__dirname, "../..");
const FLOW_IDS = readdirSync(FLOWS_DIR).filter((f) => f.endsWith(".yml")).map((f) => f.replace(/\.yml$/, "")).sort();
const APOLLO_KEY = "apollo-rehearsal-key";
/** Kestra's taskrun ids: 22 base62 characters; the flows pass them as idempotency keys. */
const KESTRA_ID = /^[0-9A-Za-z]{22}$/;

let t: TestStack;
let smtp: SmtpSink;
let apollo: http.Server;
let apolloCalls = 0;
let binDir: string;

/** Apollo's people/match: every address is a Head of Growth at the company of its domain (organizations/enrich: none). */
function apolloHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  let raw = "";
  req.on("data", (c) => (raw += c));
  req.on("end", () => {
    apolloCalls++;
    const json = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.headers["x-api-key"] !== APOLLO_KEY) return json(401, { error: "Invalid access credentials." });
    if (req.method === "POST" && req.url === "/api/v1/people/match") {
      const email = String(JSON.parse(raw || "{}").email ?? "");
      const domain = email.split("@")[1] ?? "";
      const name = domain.split(".")[0];
      return json(200, {
        person: email
          ? { id: `p-${email}`, title: "head of growth", seniority: "head", organization: { name: `${name[0].toUpperCase()}${name.slice(1)} Inc`, primary_domain: domain, industry: "computer software", estimated_num_employees: 120 } }
          : null,
      });
    }
    json(404, { error: "not found" });
  });
}

beforeAll(async () => {
  smtp = await startSmtpSink();
  apollo = http.createServer(apolloHandler);
  await new Promise<void>((resolve) => apollo.listen(0, "127.0.0.1", () => resolve()));
  t = await startTestStack({
    SMTP_URL: smtp.url,
    SMTP_FROM: "DealScale Campaigns <campaigns@dealscale.test>",
    APOLLO_API_KEY: APOLLO_KEY,
    APOLLO_BASE_URL: `http://127.0.0.1:${(apollo.address() as AddressInfo).port}`,
  });
  binDir = makeRunnerBin();
});
afterAll(async () => {
  for (const child of runningProcesses) child.kill("SIGKILL");
  if (binDir) rmSync(binDir, { recursive: true, force: true });
  await t?.close();
  await smtp?.close();
  apollo.closeAllConnections();
  await new Promise<void>((resolve) => apollo.close(() => resolve()));
});

// ---------------------------------------------------------------------------------------------
// helpers

type LeadSeed = Partial<Record<"email" | "first_name" | "title" | "company" | "industry", string>> & { employee_count?: number; attributes?: Record<string, unknown> };

async function addLeads(tenantId: string, leads: LeadSeed[]): Promise<string[]> {
  const ids: string[] = [];
  for (const l of leads) {
    const { rows } = await t.owner.query<{ id: string }>(
      `INSERT INTO leads (tenant_id, email, first_name, title, company, industry, employee_count, attributes)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id::text`,
      [tenantId, l.email ?? null, l.first_name ?? null, l.title ?? null, l.company ?? null, l.industry ?? null, l.employee_count ?? null, JSON.stringify(l.attributes ?? {})],
    );
    ids.push(rows[0].id);
  }
  return ids;
}

const leadsById = async (ids: string[]) =>
  new Map((await t.owner.query("SELECT id::text, email, title, domain, company, enriched_at FROM leads WHERE id = ANY($1::uuid[])", [ids])).rows.map((r) => [r.id, r]));

/** The A2A tasks of a tenant in Postgres, oldest first. */
const a2aTasks = async (tenantId: string, type?: string) =>
  (
    await t.owner.query(
      "SELECT id::text, agent_id, type, status, inputs, outputs, error, idempotency_key FROM tasks WHERE tenant_id = $1 AND ($2::text IS NULL OR type = $2) ORDER BY created_at, id",
      [tenantId, type ?? null],
    )
  ).rows;

/** Runs a flow for a tenant; a command still running after 25 s fails the test with its output. */
function rehearse(flow: Flow | string, tenantId: string, o: { inputs?: Record<string, unknown>; trigger?: { body: unknown } } = {}): Promise<Execution> {
  return runFlow(typeof flow === "string" ? loadFlow(flow) : flow, { ...o, kv: { A2A_GATEWAY_URL: t.url }, secrets: { A2A_TOKEN: t.token(tenantId) }, binDir, commandTimeoutMs: 25_000 });
}

/** taskId (or taskId[value] inside a ForEach) -> state, attempts. */
const runs = (e: Execution) => Object.fromEntries(e.taskRuns.map((r) => [r.value === undefined ? r.taskId : `${r.taskId}[${r.value}]`, { state: r.state, attempts: r.attempts }]));
const runOf = (e: Execution, taskId: string) => e.taskRuns.find((r) => r.taskId === taskId);
const logsOf = (e: Execution, taskId: string) => e.logs.filter((l) => l.taskId === taskId).map((l) => l.message);
const sorted = (xs: string[]) => [...xs].sort();

// ---------------------------------------------------------------------------------------------
// the rehearsal itself

describe("the rehearsal", () => {
  const ctx = (vars: Record<string, unknown>): RenderContext => ({ vars, kv: { A2A_GATEWAY_URL: "http://gw" }, secrets: {} });

  test("every flow stays within the subset it implements: task types, properties, triggers, the runner image without pulling it", () => {
    expect(FLOW_IDS).toEqual(["a2a_task", "distributed_enrichment", "enrich_with_fallback", "lookalike_campaign", "parallel_enrichment", "webhook_enrich_and_score"]);
    for (const id of FLOW_IDS) expect(() => prepareFlow(loadFlow(id))).not.toThrow();
  });

  test("renders the Pebble the flows use, with Pebble's precedences", () => {
    const c = ctx({ inputs: { ids: ["a", "b", "c"], n: 2, body: '{"status":"working"}' }, outputs: { s: { vars: { result: { top: ["x"] } } } } });
    expect(render('{"leadIds": {{ inputs.ids | toJson }}}', c)).toBe('{"leadIds": ["a","b","c"]}');
    // `??` binds tighter than `|`: the filter applies to the coalesced value, printed as JSON either way.
    expect(render("{{ outputs.nope.vars.result ?? [] | toJson }}", c)).toBe("[]");
    expect(render("{{ outputs.s.vars.result.top ?? [] | toJson }}", c)).toBe('["x"]');
    expect(render("{{ outputs.a.x ?? outputs.s.vars.result | toJson }}", c)).toBe('{"top":["x"]}');
    expect(render("{{ inputs.ids | chunk(inputs.n) }}", c)).toBe('[["a","b"],["c"]]');
    expect(render("{{ inputs.ids | length }} of {{ inputs.n }}", c)).toBe("3 of 2");
    expect(render("Hi {{ '{{' }}firstName|there{{ '}}' }}", c)).toBe("Hi {{firstName|there}}");
    expect(render("{{ fromJson(inputs.body).status != 'submitted' and fromJson(inputs.body).status != 'working' }}", c)).toBe("false");
    expect(render("{{ kv('A2A_GATEWAY_URL') }}/agents", c)).toBe("http://gw/agents");
  });

  test("reading an output or input that does not exist throws, naming it; anything outside the subset is refused", () => {
    const c = ctx({ inputs: {}, outputs: { score: { vars: { result: { topScoredLeadIds: [] } } } } });
    expect(() => render("{{ outputs.score.vars.result.topLeadIds | toJson }}", c)).toThrow(UndefinedVariableError);
    expect(() => render("{{ outputs.score.vars.result.topLeadIds | toJson }}", c)).toThrow(/outputs\.score\.vars\.result\.topLeadIds/);
    expect(() => render("{{ outputs.scores.vars }}", c)).toThrow(/outputs\.scores/);
    expect(() => render("{{ inputs.seedLeads }}", c)).toThrow(/inputs\.seedLeads/);
    expect(() => render("{{ inputs | sort }}", c)).toThrow(UnsupportedError);
    expect(() => render("{% if true %}x{% endif %}", c)).toThrow(UnsupportedError);
    expect(() => render("{{ outputs['score'] }}", c)).toThrow(UnsupportedError);

    const flow = (tasks: unknown[], extra: Record<string, unknown> = {}) => ({ id: "f", namespace: "dealscale.a2a", tasks, ...extra });
    expect(() => prepareFlow(flow([{ id: "s", type: "io.kestra.plugin.core.flow.Switch", value: "x", cases: {} }]))).toThrow(/does not implement/);
    expect(() => prepareFlow(flow([{ id: "l", type: "io.kestra.plugin.core.log.Log", message: "x", timeout: "PT1M" }]))).toThrow(/property "timeout"/);
    expect(() => prepareFlow(flow([{ id: "l", type: "io.kestra.plugin.core.log.Log", message: "x" }], { variables: { a: 1 } }))).toThrow(/flow property "variables"/);
    const commands = { id: "c", type: "io.kestra.plugin.scripts.node.Commands", commands: ["exec a2a-task --help"], containerImage: RUNNER_IMAGE, taskRunner: { type: "io.kestra.plugin.scripts.runner.docker.Docker" } };
    expect(() => prepareFlow(flow([commands]))).toThrow(/pullPolicy ALWAYS/);
    expect(() => prepareFlow(flow([{ ...commands, containerImage: "node:20" }]))).toThrow(/runs image node:20/);
  });

  test("a step that reads an output name the step before did not produce fails, and the errors branch runs", async () => {
    const flow = yaml.load(`
id: names
namespace: dealscale.a2a
tasks:
  - id: produce
    type: io.kestra.plugin.core.debug.Return
    format: "42"
  - id: consume
    type: io.kestra.plugin.core.log.Log
    message: "got {{ outputs.produce.vars.result }}"
  - id: never
    type: io.kestra.plugin.core.log.Log
    message: "not reached"
errors:
  - id: on_error
    type: io.kestra.plugin.core.log.Log
    message: "failed after {{ outputs.produce.value }}"
`) as Flow;
    const e = await runFlow(flow, { kv: {}, secrets: {}, binDir: "/nonexistent" });
    expect(e.state).toBe("FAILED");
    expect(runs(e)).toEqual({ produce: { state: "SUCCESS", attempts: 1 }, consume: { state: "FAILED", attempts: 1 }, on_error: { state: "SUCCESS", attempts: 1 } });
    expect(runOf(e, "consume")!.error).toMatch(/outputs\.produce\.vars is not defined/);
    expect(logsOf(e, "on_error")).toEqual(["failed after 42"]);
  });
});

// ---------------------------------------------------------------------------------------------
// the flows against the live stack

describe("lookalike_campaign", () => {
  let tenant: string;
  let seeds: string[];
  let twins: string[];

  beforeAll(async () => {
    tenant = await t.tenant(1000);
    // Seeds and their twins share a profile (Software, ~200 people, plan pro); the others do not.
    seeds = await addLeads(tenant, Array.from({ length: 6 }, (_, i) => ({ email: `seed${i}@softco${i}.io`, first_name: `Seed${i}`, title: "vp sales", industry: "Software", employee_count: 200, attributes: { plan: "pro", region: "emea" } })));
    twins = await addLeads(tenant, Array.from({ length: 10 }, (_, i) => ({ email: `twin${i}@twinco${i}.io`, first_name: `Twin${i}`, title: "VP Sales", industry: "Software", employee_count: 190 + i, attributes: { plan: "pro", region: "emea" } })));
    await addLeads(tenant, Array.from({ length: 24 }, (_, i) => ({ email: `other${i}@retail${i}.com`, first_name: `Other${i}`, title: "Analyst", industry: "Retail", employee_count: 5000 + i, attributes: { plan: "free", region: "apac" } })));
  });

  test("enriches the seeds, scores lookalikes and launches a campaign that mails the top-scored audience", async () => {
    const e = await rehearse("lookalike_campaign", tenant, { inputs: { seedLeads: seeds, tenantId: tenant, audienceSize: 10, campaignName: "Kestra lookalike" } });
    expect(e.error).toBeUndefined();
    expect(runs(e)).toEqual({
      enrich_seeds: { state: "SUCCESS", attempts: 1 },
      score_lookalike: { state: "SUCCESS", attempts: 1 },
      launch_campaign: { state: "SUCCESS", attempts: 1 },
      summary: { state: "SUCCESS", attempts: 1 },
    });
    expect(e.state).toBe("SUCCESS");

    // One A2A task per step, keyed by its Kestra task run.
    const tasks = await a2aTasks(tenant);
    expect(tasks.map((x) => [x.agent_id, x.type, x.status])).toEqual([
      ["data-engineer", "enrichLeads", "completed"],
      ["audience-architect", "scoreLookalike", "completed"],
      ["campaign-orchestrator", "launchCampaign", "completed"],
    ]);
    for (const x of tasks) expect(x.idempotency_key).toMatch(KESTRA_ID);
    expect(tasks[0].inputs).toEqual({ leadIds: seeds, provider: "internal", tenantId: tenant });
    expect(tasks[1].inputs).toEqual({ seedLeadIds: seeds, topN: 10, tenantId: tenant });

    // The seeds were enriched (company domain from the email).
    const seedRows = await leadsById(seeds);
    seeds.forEach((id, i) => expect(seedRows.get(id)).toMatchObject({ domain: `softco${i}.io`, enriched_at: expect.any(Date) }));

    // The audience is the score step's top 10, mostly the seeds' twins, never a seed.
    const audience = e.outputs.audienceLeadIds as string[];
    expect(audience).toEqual(tasks[1].outputs.topScoredLeadIds);
    expect(audience).toHaveLength(10);
    expect(audience.filter((id) => seeds.includes(id))).toEqual([]);
    expect(audience.filter((id) => twins.includes(id)).length).toBeGreaterThanOrEqual(8);
    expect(tasks[2].inputs.audienceLeadIds).toEqual(audience);

    // The campaign exists with those members, and each was mailed with the template rendered.
    const campaignId = e.outputs.campaignId as string;
    expect(campaignId).toBe(tasks[2].outputs.campaignId);
    const campaign = (await t.owner.query("SELECT name, channels, tenant_id::text FROM campaigns WHERE id = $1", [campaignId])).rows[0];
    expect(campaign).toEqual({ name: "Kestra lookalike", channels: ["email"], tenant_id: tenant });
    const members = (await t.owner.query("SELECT lead_id::text, status FROM campaign_members WHERE campaign_id = $1", [campaignId])).rows;
    expect(sorted(members.map((m) => m.lead_id))).toEqual(sorted(audience));
    expect(members.every((m) => m.status === "sent")).toBe(true);
    const byId = await leadsById(audience);
    for (const id of audience) {
      const lead = byId.get(id);
      const [mail] = smtp.to(lead.email);
      expect(mail?.subject).toBe(`Hi ${lead.email.split("@")[0].replace(/^./, (c: string) => c.toUpperCase())}`);
      expect(mail?.text).toContain("looks like a fit.");
      expect(mail?.text).toContain(`${t.url}/campaigns/unsubscribe?token=`);
    }
    expect(logsOf(e, "summary")).toEqual([`lookalike_campaign: 6 seeds enriched, 10 lookalikes, campaign ${campaignId} ${tasks[2].outputs.status} (10 members)`]);
  });

  test("a launch step reading an output name the score step does not produce fails the flow; no campaign is launched", async () => {
    const flow = loadFlow("lookalike_campaign");
    const launch = flow.tasks.find((x: any) => x.id === "launch_campaign");
    launch.inputFiles["inputs.json"] = launch.inputFiles["inputs.json"].replace("result.topScoredLeadIds", "result.topLeadIds");
    const campaignsBefore = (await a2aTasks(tenant, "launchCampaign")).length;
    const e = await rehearse(flow, tenant, { inputs: { seedLeads: seeds, tenantId: tenant, audienceSize: 10 } });
    expect(e.state).toBe("FAILED");
    expect(runs(e)).toMatchObject({ enrich_seeds: { state: "SUCCESS" }, score_lookalike: { state: "SUCCESS" }, launch_campaign: { state: "FAILED", attempts: 3 }, report_failure: { state: "SUCCESS" } });
    expect(runs(e).summary).toBeUndefined();
    expect(runOf(e, "launch_campaign")!.error).toMatch(/outputs\.score_lookalike\.vars\.result\.topLeadIds is not defined/);
    expect(logsOf(e, "report_failure")[0]).toMatch(new RegExp(`^lookalike_campaign failed for tenant ${tenant} \\(execution ${e.id}\\)`));
    expect((await a2aTasks(tenant, "launchCampaign")).length).toBe(campaignsBefore);
  });
});

describe("parallel_enrichment", () => {
  test("fans out to the three providers at once; the two without credentials fail, allowFailure keeps Apollo's result", async () => {
    const tenant = await t.tenant(1000);
    const ids = await addLeads(tenant, [{ email: "pia@parallel-one.io" }, { email: "pat@parallel-two.io" }, { email: "pim@parallel-three.io" }]);
    const before = apolloCalls;
    const e = await rehearse("parallel_enrichment", tenant, { inputs: { leadIds: ids, tenantId: tenant } });
    expect(runs(e)).toEqual({
      enrich_apollo: { state: "SUCCESS", attempts: 1 },
      // Retried (3 attempts) with the same task run id: each attempt after a failed task runs a new one.
      enrich_clearbit: { state: "WARNING", attempts: 3 },
      enrich_zoominfo: { state: "WARNING", attempts: 3 },
      fan_out: { state: "WARNING", attempts: 1 },
      merge: { state: "SUCCESS", attempts: 1 },
    });
    expect(e.state).toBe("WARNING");
    expect(e.peakConcurrency.fan_out).toBe(3);
    expect(e.outputs.enrichedByProvider).toEqual({ apollo: ids, clearbit: [], zoominfo: [] });
    expect(apolloCalls).toBeGreaterThanOrEqual(before + 3);

    const tasks = await a2aTasks(tenant, "enrichLeads");
    const byProvider = (p: string) => tasks.filter((x) => x.inputs.provider === p);
    expect(tasks).toHaveLength(7);
    expect(byProvider("apollo").map((x) => x.status)).toEqual(["completed"]);
    for (const p of ["clearbit", "zoominfo"]) {
      const attempts = byProvider(p);
      const key = attempts[0].idempotency_key;
      expect(key).toMatch(KESTRA_ID);
      expect(attempts.map((x) => x.idempotency_key)).toEqual([key, `${key}~2`, `${key}~3`]);
      for (const x of attempts) expect(x).toMatchObject({ status: "failed", error: { code: "provider_not_configured" } });
    }
    const leads = await leadsById(ids);
    for (const id of ids) expect(leads.get(id)).toMatchObject({ title: "Head of Growth", company: expect.stringMatching(/^Parallel-\w+ Inc$/), enriched_at: expect.any(Date) });
  });
});

describe("enrich_with_fallback", () => {
  test("Apollo and Clearbit without credentials fail in turn; the errors chain falls back to internal, which enriches the leads", async () => {
    const tenant = await t.tenant(1000);
    const ids = await addLeads(tenant, [{ email: "ana@fallback-co.io", title: "sr. software eng" }, { email: "ben@fallback-co.io", title: "ceo" }]);
    const before = apolloCalls;
    // As if APOLLO_API_KEY were unset: the handler reads the stack's config on each run.
    const saved = t.config.enrichment;
    t.config.enrichment = { ...saved, apollo: { ...saved.apollo, apiKey: undefined } };
    let e: Execution;
    try {
      e = await rehearse("enrich_with_fallback", tenant, { inputs: { leadIds: ids, tenantId: tenant } });
    } finally {
      t.config.enrichment = saved;
    }
    expect(runs(e)).toEqual({
      enrich_apollo: { state: "FAILED", attempts: 2 },
      enrich_clearbit: { state: "FAILED", attempts: 2 },
      enrich_internal: { state: "SUCCESS", attempts: 1 },
      try_clearbit: { state: "FAILED", attempts: 1 },
      try_apollo: { state: "WARNING", attempts: 1 },
      result: { state: "SUCCESS", attempts: 1 },
    });
    expect(e.state).toBe("WARNING");
    expect(apolloCalls).toBe(before);

    const tasks = await a2aTasks(tenant, "enrichLeads");
    // Each provider's second attempt ran its task again (key~2) rather than rejoining the failed one.
    const [apollo, clearbit, internal] = [tasks[0], tasks[2], tasks[4]].map((x) => x.idempotency_key);
    expect(tasks.map((x) => [x.inputs.provider, x.status, x.error?.code ?? null, x.idempotency_key])).toEqual([
      ["apollo", "failed", "provider_not_configured", apollo],
      ["apollo", "failed", "provider_not_configured", `${apollo}~2`],
      ["clearbit", "failed", "provider_not_configured", clearbit],
      ["clearbit", "failed", "provider_not_configured", `${clearbit}~2`],
      ["internal", "completed", null, internal],
    ]);
    for (const key of [apollo, clearbit, internal]) expect(key).toMatch(KESTRA_ID);
    expect(e.outputs.enrichment).toEqual(tasks[4].outputs);
    expect(sorted((e.outputs.enrichment as any).enrichedLeadIds)).toEqual(sorted(ids));
    const leads = await leadsById(ids);
    expect(leads.get(ids[0])).toMatchObject({ title: "Senior Software Engineer", domain: "fallback-co.io", enriched_at: expect.any(Date) });
  });

  test("with Apollo working, its result is the flow's and no fallback runs", async () => {
    const tenant = await t.tenant(1000);
    const ids = await addLeads(tenant, [{ email: "cat@apollo-first.io" }]);
    const e = await rehearse("enrich_with_fallback", tenant, { inputs: { leadIds: ids, tenantId: tenant } });
    expect(runs(e)).toEqual({ enrich_apollo: { state: "SUCCESS", attempts: 1 }, try_apollo: { state: "SUCCESS", attempts: 1 }, result: { state: "SUCCESS", attempts: 1 } });
    expect(e.state).toBe("SUCCESS");
    const tasks = await a2aTasks(tenant, "enrichLeads");
    expect(tasks.map((x) => [x.inputs.provider, x.status])).toEqual([["apollo", "completed"]]);
    expect(e.outputs.enrichment).toMatchObject({ enrichedLeadIds: ids, providersUsed: ["apollo"] });
  });

  test("when every provider is refused (no credits left) the flow fails and its errors branch reports it", async () => {
    const tenant = await t.tenant(0);
    const ids = await addLeads(tenant, [{ email: "dan@broke.io" }]);
    const e = await rehearse("enrich_with_fallback", tenant, { inputs: { leadIds: ids, tenantId: tenant } });
    expect(runs(e)).toMatchObject({
      enrich_apollo: { state: "FAILED", attempts: 2 },
      enrich_clearbit: { state: "FAILED", attempts: 2 },
      enrich_internal: { state: "FAILED", attempts: 2 },
      try_apollo: { state: "WARNING" },
      result: { state: "FAILED" },
      report_failure: { state: "SUCCESS" },
    });
    expect(runOf(e, "enrich_internal")!.error).toMatch(/exit code 5/);
    expect(runOf(e, "result")!.error).toMatch(/outputs\.enrich_internal is not defined/);
    expect(e.state).toBe("FAILED");
    expect(logsOf(e, "report_failure")).toEqual([`enrich_with_fallback: every provider failed (execution ${e.id})`]);
    expect(await a2aTasks(tenant)).toEqual([]);
  });
});

describe("distributed_enrichment", () => {
  test("enriches the leads in batches, at most concurrencyLimit (4) at a time, one A2A task per batch", async () => {
    const tenant = await t.tenant(1000);
    const ids = await addLeads(tenant, Array.from({ length: 10 }, (_, i) => ({ email: `u${i}@dist${i % 3}.io`, title: "sr. data eng" })));
    const e = await rehearse("distributed_enrichment", tenant, { inputs: { leadIds: ids, tenantId: tenant, batchSize: 3 } });
    const chunks = [ids.slice(0, 3), ids.slice(3, 6), ids.slice(6, 9), ids.slice(9)];
    expect(runs(e)).toEqual({
      ...Object.fromEntries(chunks.map((c) => [`enrich_batch[${JSON.stringify(c)}]`, { state: "SUCCESS", attempts: 1 }])),
      batches: { state: "SUCCESS", attempts: 1 },
      done: { state: "SUCCESS", attempts: 1 },
    });
    expect(e.state).toBe("SUCCESS");
    expect(e.peakConcurrency.batches).toBe(4);
    // Outputs of a task inside ForEach are keyed by the iteration's value.
    expect(sorted(Object.keys(e.taskOutputs.enrich_batch))).toEqual(sorted(chunks.map((c) => JSON.stringify(c))));

    const tasks = await a2aTasks(tenant, "enrichLeads");
    expect(sorted(tasks.map((x) => JSON.stringify(x.inputs.leadIds)))).toEqual(sorted(chunks.map((c) => JSON.stringify(c))));
    expect(tasks.every((x) => x.status === "completed" && x.inputs.provider === "internal")).toBe(true);
    expect(new Set(tasks.map((x) => x.idempotency_key)).size).toBe(4);
    const leads = await leadsById(ids);
    for (const id of ids) expect(leads.get(id)).toMatchObject({ title: "Senior Data Engineer", enriched_at: expect.any(Date) });
    expect(logsOf(e, "done")).toEqual(["distributed_enrichment: 10 leads in batches of 3 enriched"]);
  });
});

describe("webhook_enrich_and_score", () => {
  let tenant: string;
  let ids: string[];
  beforeAll(async () => {
    tenant = await t.tenant(1000);
    ids = await addLeads(tenant, [
      { email: "vera@hook-soft.io", first_name: "Vera", title: "vp sales", industry: "Software", company: "Hook Soft" },
      { email: "walt@hook-soft.io", first_name: "Walt", title: "Analyst", industry: "Software", company: "Hook Soft" },
      { email: "xena@gmail.com", first_name: "Xena", title: "VP Sales", industry: "Retail" },
    ]);
  });

  test("a webhook body starts validate -> enrich -> score for its leads, scored against its profile", async () => {
    const profile = { titles: ["vp sales"], industries: ["Software"] };
    const e = await rehearse("webhook_enrich_and_score", tenant, { trigger: { body: { leadIds: ids, tenantId: tenant, profile } } });
    expect(runs(e)).toEqual({
      validate: { state: "SUCCESS", attempts: 1 },
      enrich: { state: "SUCCESS", attempts: 1 },
      score: { state: "SUCCESS", attempts: 1 },
      summary: { state: "SUCCESS", attempts: 1 },
    });
    expect(e.state).toBe("SUCCESS");
    const [validate, enrich, score] = await a2aTasks(tenant);
    expect([validate.type, enrich.type, score.type]).toEqual(["validateLeads", "enrichLeads", "scoreLeads"]);
    expect([validate.status, enrich.status, score.status]).toEqual(["completed", "completed", "completed"]);
    expect(validate.outputs.checked).toBe(3);
    expect(score.inputs).toEqual({ leadIds: ids, profile, tenantId: tenant });
    expect(sorted(score.outputs.scores.map((s: any) => s.leadId))).toEqual(sorted(ids));
    const vera = score.outputs.scores.find((s: any) => s.leadId === ids[0]);
    expect(vera.score).toBeGreaterThan(score.outputs.scores.find((s: any) => s.leadId === ids[2]).score);
    expect(logsOf(e, "summary")).toEqual([`webhook_enrich_and_score: 3 checked, ${enrich.outputs.enrichedLeadIds.length} enriched, scored by task ${score.id}`]);
  });

  test("a body without the profile fails at the score step, after validate and enrich, and the errors branch reports it", async () => {
    const e = await rehearse("webhook_enrich_and_score", tenant, { trigger: { body: { leadIds: ids, tenantId: tenant } } });
    expect(e.state).toBe("FAILED");
    expect(runs(e)).toMatchObject({ validate: { state: "SUCCESS" }, enrich: { state: "SUCCESS" }, score: { state: "FAILED" }, report_failure: { state: "SUCCESS" } });
    expect(runOf(e, "score")!.error).toMatch(/trigger\.body\.profile is not defined/);
    expect(logsOf(e, "report_failure")).toEqual([`webhook_enrich_and_score failed (execution ${e.id})`]);
  });
});

describe("a2a_task", () => {
  test("creates the task over HTTP, polls it with LoopUntil until it ends, and returns its outputs", async () => {
    const tenant = await t.tenant(1000);
    const ids = await addLeads(tenant, [{ email: "yan@subflow.io", first_name: "Yan" }, { email: "bad-address", first_name: "Zoe" }]);
    const e = await rehearse("a2a_task", tenant, { inputs: { agent: "data-engineer", capability: "validateLeads", inputs: { leadIds: ids } } });
    expect(e.state).toBe("SUCCESS");
    expect(runs(e)).toMatchObject({ create: { state: "SUCCESS" }, poll: { state: "SUCCESS" }, wait: { state: "SUCCESS" }, final: { state: "SUCCESS" }, fail_unless_completed: { state: "SUCCESS" } });
    const [task] = await a2aTasks(tenant);
    expect(task).toMatchObject({ id: e.outputs.taskId, type: "validateLeads", status: "completed", idempotency_key: e.id, inputs: { leadIds: ids } });
    expect(e.outputs).toEqual({ taskId: task.id, status: "completed", result: task.outputs, creditsUsed: expect.any(Number) });
    expect((e.outputs.result as any).checked).toBe(2);
    expect(e.taskOutputs.wait.iterationCount).toBeGreaterThanOrEqual(1);
  });

  test("a task that fails fails the flow through Fail; the errors branch tries to cancel it", async () => {
    const tenant = await t.tenant(1000);
    const ids = await addLeads(tenant, [{ email: "amy@subflow.io" }]);
    const e = await rehearse("a2a_task", tenant, { inputs: { agent: "data-engineer", capability: "enrichLeads", inputs: { leadIds: ids, provider: "zoominfo" } } });
    expect(e.state).toBe("FAILED");
    const [task] = await a2aTasks(tenant);
    expect(task).toMatchObject({ status: "failed", error: { code: "provider_not_configured" } });
    expect(runs(e)).toMatchObject({ final: { state: "SUCCESS" }, fail_unless_completed: { state: "FAILED" }, cancel_on_error: { state: "WARNING" } });
    expect(runOf(e, "fail_unless_completed")!.error).toMatch(new RegExp(`A2A task ${task.id} ended failed: .*provider_not_configured`));
    // The cancel is refused (409: it has ended already); allowFailure keeps that from mattering.
    expect(runOf(e, "cancel_on_error")!.error).toMatch(/HTTP 409/);
  });
});

// ---------------------------------------------------------------------------------------------
// found by the rehearsal: a stream that never says the task ended

test("a2a-task does not hang on a stream that stays open without the task's end; it reads the task with GET", async () => {
  // The gateway's stream is best effort (an event published while its state snapshot is read, or
  // lost with Redis, is not sent): here one that sends a stale state, then only heartbeats.
  const taskId = "0d3e0000-0000-4000-8000-00000000abcd";
  const server = http.createServer((req, res) => {
    const json = (status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.method === "POST" && req.url === "/agents/data-engineer/tasks") return json(202, { taskId, status: "submitted", creditsReserved: 1 });
    if (req.url === `/agents/data-engineer/tasks/${taskId}/stream?frames=named`) {
      res.writeHead(200, { "content-type": "text/event-stream" });
      res.write(`id: 7\nevent: state\ndata: ${JSON.stringify({ taskId, status: "working", progress: 95 })}\n\n`);
      const beat = setInterval(() => res.write(": heartbeat\n\n"), 100);
      res.on("close", () => clearInterval(beat));
      return;
    }
    if (req.url === `/agents/data-engineer/tasks/${taskId}`) return json(200, { taskId, status: "completed", outputs: { checked: 3 }, creditsUsed: 0.5 });
    json(404, { error: { code: "not_found", message: req.url } });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  try {
    const started = Date.now();
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn(process.execPath, [RUNNER_BIN, "--agent", "data-engineer", "--capability", "validateLeads", "--timeout", "30"], {
        env: { PATH: process.env.PATH ?? "", A2A_GATEWAY_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, A2A_TOKEN: "t" },
        stdio: ["ignore", "pipe", "pipe"],
      });
      runningProcesses.add(child);
      let out = "";
      child.stdout!.on("data", (d) => (out += d));
      child.on("close", (c) => {
        runningProcesses.delete(child);
        resolve({ code: c, stdout: out });
      });
    });
    expect(code).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(stdout).toContain(`a2a-task: task ${taskId} completed (read with GET: the stream did not say so)`);
    const outputs = stdout.split("\n").map((l) => /^::(\{.*\})::$/.exec(l)).filter(Boolean).map((m) => JSON.parse(m![1])).find((j) => j.outputs)?.outputs;
    expect(outputs).toMatchObject({ taskId, status: "completed", result: { checked: 3 } });
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

// ---------------------------------------------------------------------------------------------
// the compose service that runs the flows on a real Kestra

test("docker-compose.yml runs Kestra 1.x with the flows mounted, and builds the runner image the flows start on the stack's network", () => {
  const compose = yaml.load(readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8")) as any;
  const kestra = compose.services.kestra;
  expect(kestra.image).toMatch(/^kestra\/kestra:\$\{KESTRA_TAG:-v1\.\d+\.\d+\}$/);
  const command: string[] = Array.isArray(kestra.command) ? kestra.command : kestra.command.split(/\s+/);
  expect(command.slice(0, 2)).toEqual(["server", "local"]);
  const flowPath = command[command.indexOf("--flow-path") + 1];
  expect(kestra.volumes).toContain(`./workflows/kestra:${flowPath}:ro`);
  expect(kestra.environment.SECRET_A2A_TOKEN).toBeDefined();

  const runner = compose.services["kestra-runner"];
  // Built from the repository root: the image needs the a2a-client package beside the runner.
  expect(runner.build).toEqual({ context: ".", dockerfile: "kestra-runner/Dockerfile" });
  expect(runner.image).toBe(RUNNER_IMAGE);
  expect(kestra.depends_on["kestra-runner"]).toEqual({ condition: "service_completed_successfully" });

  // The Docker task runner starts its containers on the stack's network, so the flows reach http://gateway:8080.
  const config = yaml.load(kestra.environment.KESTRA_CONFIGURATION) as any;
  const dockerDefaults = config.kestra.plugins.defaults.find((d: any) => d.type === "io.kestra.plugin.scripts.runner.docker.Docker");
  expect(dockerDefaults).toMatchObject({ forced: true, values: { networkMode: compose.networks.default.name } });
  const tmpDir: string = config.kestra.tasks["tmp-dir"].path;
  expect(kestra.volumes.some((v: string) => v.split(":")[0] === v.split(":")[1] && tmpDir.startsWith(v.split(":")[1]))).toBe(true);
});
