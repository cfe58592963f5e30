/**
 * The design document's orchestration patterns, as copied into examples/ (sequential chain,
 * parallel providers, map-reduce of 10,000 leads in batches of 500, fallback, cancel with refund),
 * run through @dealscale/a2a-client against a live stack: Apollo, Clearbit and ZoomInfo as local
 * fakes that know everyone, and a local SMTP server for the campaign.
 */
import { A2AClient, InsufficientCreditsError, NotFoundError, ValidationError, WaitTimeoutError } from "@dealscale/a2a-client";
import { startTestStack, type TestStack } from "./support/harness";
import { startProviderFakes, type ProviderFakes } from "./support/provider-fakes";
import { startSmtpSink, type SmtpSink } from "./support/smtp-sink";
import { setCandidateLeads } from "../../examples/support";
import { sequentialAgentChain } from "../../examples/sequential-chain";
import { parallelEnrichment } from "../../examples/parallel-enrichment";
import { distributedEnrichment } from "../../examples/map-reduce";
import { enrichWithFallback } from "../../examples/fallback";
import { cancelTask } from "../../examples/cancel-with-refund";
import { tenantBalance } from "../src/tasks/tenants";

let t: TestStack;
let fakes: ProviderFakes;
let smtp: SmtpSink;
let tenant: string;
let leadIds: string[];

beforeAll(async () => {
  fakes = await startProviderFakes();
  smtp = await startSmtpSink();
  t = await startTestStack({
    ...fakes.env,
    ENRICH_CONCURRENCY: "20",
    SMTP_URL: smtp.url,
    SMTP_FROM: "Examples <examples@dealscale.test>",
    CAMPAIGN_SWEEP_INTERVAL_MS: "200",
  });
  tenant = await t.tenant(100_000);
  // The examples' a2aClient reads these when first used.
  process.env.A2A_GATEWAY_URL = t.url;
  process.env.A2A_TOKEN = t.token(tenant, ["a2a:call", "a2a:read"], "Orchestrator");
  const csv = ["email,first_name,last_name,company,title"];
  for (let i = 0; i < 10_000; i++) csv.push(`lead${i}@company-${i % 97}.com,First${i},Last${i},Company ${i % 97},${i % 4 ? "Engineer" : "VP Sales"}`);
  const client = new A2AClient({ baseUrl: t.url, token: process.env.A2A_TOKEN });
  const imported = await client.createTask({ targetAgentId: "DataEngineer", type: "importLeads", inputs: { csv: csv.join("\n") } });
  leadIds = (await client.waitForTask(imported.taskId, { timeout: 60_000 })).outputs!.leadIds;
  expect(leadIds).toHaveLength(10_000);
}, 120_000);

afterAll(async () => {
  await t?.close();
  await fakes?.close();
  await smtp?.close();
});

const agentsOf = async () => (await t.owner.query("SELECT DISTINCT agent_id FROM tasks WHERE tenant_id = $1", [tenant])).rows.map((r) => r.agent_id).sort();

test("Pattern 1, sequential chain: enrich -> score -> campaign, as the document wrote it", async () => {
  setCandidateLeads(leadIds.slice(20, 2000));
  const result = await sequentialAgentChain(leadIds.slice(0, 20), tenant);
  expect(result.status).toBe("completed");
  expect(result.targetAgentId).toBe("CampaignOrchestrator");
  expect(result.outputs!.campaignId).toEqual(expect.any(String));
  // The campaign's audience is the scoring's top leads, mailed with the default template.
  expect(result.inputs.audienceLeadIds).toHaveLength(100);
  expect(result.inputs.template.body).toContain("{{firstName|there}}");
  expect(smtp.mails.length).toBeGreaterThan(0);
  expect(await agentsOf()).toEqual(expect.arrayContaining(["audience-architect", "campaign-orchestrator", "data-engineer"]));
}, 120_000);

test("Pattern 2, parallel providers: Apollo, Clearbit and ZoomInfo at once, merged per lead", async () => {
  const merged = await parallelEnrichment(leadIds.slice(3000, 3010), tenant);
  expect(merged).toHaveLength(10);
  for (const lead of merged) expect([...lead.enrichedBy].sort()).toEqual(["apollo", "clearbit", "zoominfo"]);
  expect(merged[0]).toMatchObject({ leadId: leadIds[3000], email: "lead3000@company-90.com" });
}, 60_000);

test("Pattern 3, map-reduce: 10,000 leads in 20 tasks of 500, reduced to every enriched lead", async () => {
  const before = (await t.owner.query("SELECT count(*)::int AS n FROM tasks WHERE tenant_id = $1 AND type = 'enrichLeads'", [tenant])).rows[0].n;
  const enriched = await distributedEnrichment(leadIds, tenant);
  expect(enriched).toHaveLength(10_000);
  expect(new Set(enriched.map((l) => l.leadId)).size).toBe(10_000);
  const batches = await t.owner.query("SELECT jsonb_array_length(inputs->'leadIds') AS n, metadata->>'instanceId' AS instance FROM tasks WHERE tenant_id = $1 AND type = 'enrichLeads' ORDER BY created_at OFFSET $2", [tenant, before]);
  expect(batches.rows).toHaveLength(20);
  expect(batches.rows.every((r) => r.n === 500)).toBe(true);
  // The document's instanceId is kept with each task.
  expect(new Set(batches.rows.map((r) => r.instance))).toEqual(new Set(["instance-0", "instance-1", "instance-2", "instance-3", "instance-4"]));
}, 240_000);

test("graceful degradation: Apollo down, the fallback gets the leads from Clearbit", async () => {
  fakes.down.add("apollo");
  try {
    const leads = await enrichWithFallback(leadIds.slice(5000, 5005), tenant);
    expect(leads).toHaveLength(5);
    expect(leads.every((l) => l.enrichedBy.includes("clearbit") && !l.enrichedBy.includes("apollo"))).toBe(true);
  } finally {
    fakes.down.delete("apollo");
  }
}, 90_000);

test("cancel with refund: the reservation comes back; a finished task cannot be cancelled", async () => {
  const client = new A2AClient({ baseUrl: t.url, token: process.env.A2A_TOKEN });
  const balance = await tenantBalance(t.owner, tenant);
  const task = await client.createTask({ targetAgentId: "TestAgent", type: "slow", inputs: { ms: 5000, steps: 5 } });
  const { task: cancelled, refunded } = await cancelTask(task.taskId, "changed plans");
  expect(cancelled.status).toBe("cancelled");
  expect(refunded).toBe(1);
  expect(await tenantBalance(t.owner, tenant)).toBe(balance);
  await expect(cancelTask(task.taskId, "again")).rejects.toThrow("Task cannot be cancelled");
});

describe("the client's typed errors and waiting", () => {
  test("402, 404 and 400 are typed; waitForTask's timeout rejects with WaitTimeoutError and the task goes on", async () => {
    const poor = await t.tenant(0);
    const client = new A2AClient({ baseUrl: t.url, token: t.token(poor) });
    await expect(client.createTask({ targetAgentId: "DataEngineer", type: "enrichLeads", inputs: { leadIds: leadIds.slice(0, 2), provider: "apollo" } })).rejects.toBeInstanceOf(InsufficientCreditsError);
    await expect(client.getCard("DataScientist")).rejects.toBeInstanceOf(NotFoundError);
    const bad = await client.createTask({ targetAgentId: "DataEngineer", type: "enrichLeads", inputs: { leadIds: ["x"], provider: "apollo" } }).catch((e) => e);
    expect(bad).toBeInstanceOf(ValidationError);
    expect(bad.details.errors[0].path).toBe("/inputs/leadIds/0");

    const rich = new A2AClient({ baseUrl: t.url, token: process.env.A2A_TOKEN });
    const slow = await rich.createTask({ targetAgentId: "TestAgent", type: "slow", inputs: { ms: 3000 } });
    const timedOut = await rich.waitForTask(slow.taskId, { timeout: 300 }).catch((e) => e);
    expect(timedOut).toBeInstanceOf(WaitTimeoutError);
    const done = await rich.waitForTask(slow.taskId, { timeout: 15_000 });
    expect(done.status).toBe("completed");
  });

  test("a 429 is waited out for its Retry-After, then the request goes through", async () => {
    let calls = 0;
    const client = new A2AClient({
      transport: async () => (++calls === 1 ? { status: 429, headers: { "retry-after": "1" }, body: { error: { code: "rate_limited", message: "slow down" } } } : { status: 200, headers: {}, body: { agents: [] } }),
    });
    const t0 = Date.now();
    expect(await client.listAgents()).toEqual([]);
    expect(calls).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });
});
