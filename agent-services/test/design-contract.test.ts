/**
 * The contract of the design document, "A2A Protocol Best Practices for DealScale"
 * (../shared/design/000_8943fd1b53eefc55.txt), checked the way a client written from it uses the
 * stack: its agent ids and addresses, its card fields, its task fields, the outputs its patterns
 * read, launchCampaign as its pattern calls it, and its SSE frames through the `eventsource`
 * package's onmessage. Against a live stack with a local SMTP server.
 */
import { EventSource } from "eventsource";
import { startTestStack, type TestStack } from "./support/harness";
import { startSmtpSink, type SmtpSink } from "./support/smtp-sink";

let t: TestStack;
let tenant: string;
let token: string;
let smtp: SmtpSink;
let leadIds: string[];

beforeAll(async () => {
  smtp = await startSmtpSink();
  t = await startTestStack({
    SMTP_URL: smtp.url,
    SMTP_FROM: "DealScale <campaigns@dealscale.test>",
    CAMPAIGN_SWEEP_INTERVAL_MS: "200",
  });
  tenant = await t.tenant(10_000);
  token = t.token(tenant, ["a2a:call", "a2a:read"], "AudienceArchitect");
  // 240 leads: the first 40 (seeds) mostly on the pro plan and young, the rest mixed.
  const rows = ["email,first_name,company,plan,age"];
  for (let i = 0; i < 240; i++) {
    const seed = i < 40;
    const plan = seed ? (i % 5 === 0 ? "free" : "pro") : ["free", "team", "pro", "free", "team"][i % 5];
    rows.push(`lead${i}@contract.test,Lead${i},Company ${i % 17},${plan},${seed ? 25 + (i % 8) : 20 + ((i * 7) % 45)}`);
  }
  const imported = await run("DataEngineer", "importLeads", { csv: rows.join("\n") });
  leadIds = imported.outputs.leadIds;
}, 60_000);

afterAll(async () => {
  await t?.close();
  await smtp?.close();
});

async function create(agent: string, type: string, inputs: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const res = await t.request("POST", `/agents/${agent}/tasks`, { token, body: { type, inputs, ...extra } });
  if (res.status !== 202) throw new Error(`create ${agent}.${type}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

async function run(agent: string, type: string, inputs: Record<string, unknown>) {
  const task = await create(agent, type, inputs);
  return t.waitForStatus(token, agent, task.taskId, ["completed", "failed", "cancelled", "timeout"], 30_000);
}

describe("agent ids and addresses", () => {
  test.each([
    ["/agents/DataEngineer", "DataEngineer"],
    ["/agents/data-engineer", "data-engineer"],
    ["/data-engineer", "data-engineer"],
    ["/DataEngineer", "DataEngineer"],
  ])("GET %s is the DataEngineer card, answering in the id asked for", async (path, agentId) => {
    const res = await t.request("GET", path, { token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ agentId, canonicalAgentId: "data-engineer", alias: "DataEngineer", name: "DealScale Data Engineer" });
  });

  test("the document's create call works at its endpoint form and under /agents, and the task says which agent in the document's terms", async () => {
    // As the document's k6 script posts it: the endpoint plus /tasks, the agent named again in the body.
    const k6 = await t.request("POST", "/data-engineer/tasks", { token, body: { targetAgentId: "DataEngineer", type: "validateLeads", inputs: { leadIds: leadIds.slice(0, 3), tenantId: tenant } } });
    expect(k6.status).toBe(202);
    expect(k6.body).toMatchObject({ agentId: "data-engineer", targetAgentId: "DataEngineer", tenantId: tenant, requesterAgentId: "AudienceArchitect" });
    expect(k6.headers.get("location")).toBe(`/agents/data-engineer/tasks/${k6.body.taskId}`);
    // The same task under every form of the id.
    for (const agent of ["DataEngineer", "data-engineer"]) {
      expect((await t.request("GET", `/agents/${agent}/tasks/${k6.body.taskId}`, { token })).status).toBe(200);
    }
    expect((await t.request("GET", `/DataEngineer/tasks/${k6.body.taskId}`, { token })).status).toBe(200);
  });

  test("GET /tasks/:taskId finds a task by its id alone, for its own tenant only", async () => {
    const created = await create("DataEngineer", "validateLeads", { leadIds: leadIds.slice(0, 1) });
    const byId = await t.request("GET", `/tasks/${created.taskId}`, { token });
    expect(byId.status).toBe(200);
    expect(byId.body).toMatchObject({ taskId: created.taskId, agentId: "data-engineer", targetAgentId: "DataEngineer" });
    const other = t.token(await t.tenant(10));
    expect((await t.request("GET", `/tasks/${created.taskId}`, { token: other })).status).toBe(404);
    expect((await t.request("GET", "/tasks/not-a-uuid", { token })).status).toBe(404);
  });

  test("a body naming another agent than the URL is refused with its path; an unknown agent is 404", async () => {
    const wrong = await t.request("POST", "/agents/DataEngineer/tasks", { token, body: { targetAgentId: "AudienceArchitect", type: "validateLeads", inputs: {} } });
    expect(wrong.status).toBe(400);
    expect(wrong.body.error.details.errors[0].path).toBe("/targetAgentId");
    expect((await t.request("GET", "/agents/DataScientist", { token })).status).toBe(404);
  });

  test("the A2A card and bindings answer under the document's id too", async () => {
    const card = await t.request("GET", "/agents/AudienceArchitect/.well-known/agent-card.json");
    expect(card.status).toBe(200);
    expect(card.body.skills.map((s: { id: string }) => s.id)).toContain("scoreLookalike");
    const rpc = await t.request("POST", "/agents/AudienceArchitect/a2a/jsonrpc", { token, body: { jsonrpc: "2.0", id: 1, method: "GetTask", params: { id: "00000000-0000-4000-8000-000000000000" } }, headers: { "a2a-version": "1.0" } });
    expect(rpc.body.error.code).toBe(-32001); // TaskNotFound: the binding answered, not a 404 route
  });
});

describe("the card", () => {
  test("has every field of the document's example card, with the same meaning", async () => {
    const { body: card } = await t.request("GET", "/agents/AudienceArchitect", { token });
    expect(card).toMatchObject({
      agentId: "AudienceArchitect",
      version: expect.any(String),
      name: "DealScale Audience Architect",
      description: expect.any(String),
      endpoint: `${t.url}/agents/audience-architect`,
      authentication: { type: "bearer", headerName: "Authorization", required: true },
      rateLimit: { requestsPerMinute: expect.any(Number), burstSize: expect.any(Number) },
      sla: { availability: expect.stringMatching(/^\d+(\.\d+)?%$/), maxLatency: expect.any(String) },
      tenantAware: true,
      regions: expect.arrayContaining(["us-east-1", "eu-west-1"]),
      status: "active",
      maintainer: expect.stringContaining("@"),
      documentation: expect.stringMatching(/^https:\/\//),
    });
    const cap = card.capabilities.find((c: { id: string }) => c.id === "scoreLookalike");
    expect(cap).toMatchObject({ id: "scoreLookalike", name: "Score Lookalike Audience", description: expect.any(String), estimatedDuration: expect.any(String), creditsPerLead: 0.1, tags: ["ml", "scoring", "audience"] });
    expect(cap.inputs).toEqual(cap.inputSchema);
    expect(Object.keys(cap.inputs.properties)).toEqual(expect.arrayContaining(["seedLeadIds", "candidateLeadIds", "tenantId", "modelVersion"]));
    expect(cap.outputs.properties.scoredLeads.items.properties).toMatchObject({ leadId: {}, score: {}, confidence: {}, factors: { type: "array" } });
    expect(cap.outputs.properties.modelMetrics.properties).toMatchObject({ precision: {}, recall: {}, f1Score: {} });
    // A fixed-price capability has no creditsPerLead.
    expect(card.capabilities.find((c: { id: string }) => c.id === "segmentLeads").creditsPerLead).toBeUndefined();
    // The document's credit enforcement, verbatim: the capability found by id, priced per lead.
    const capability = card.capabilities.find((c: { id: string }) => c.id === "scoreLookalike");
    expect(capability.creditsPerLead * 10).toBe(1);
  });
});

describe("tasks and outputs", () => {
  test("scoreLookalike: scoredLeads with factors, modelMetrics.f1Score, topScoredLeadIds, creditsUsed; the A2ATask fields on every view", async () => {
    const created = await create("AudienceArchitect", "scoreLookalike", { seedLeadIds: leadIds.slice(0, 40), candidateLeadIds: leadIds.slice(40), tenantId: tenant }, { metadata: { campaign: "Q1" }, instanceId: "instance-3" });
    expect(created).toMatchObject({ targetAgentId: "AudienceArchitect", requesterAgentId: "AudienceArchitect", tenantId: tenant, actualDuration: null, metadata: { campaign: "Q1", instanceId: "instance-3" } });
    const done = await t.waitForStatus(token, "AudienceArchitect", created.taskId, ["completed", "failed"], 30_000);
    expect(done.status).toBe("completed");
    expect(done.actualDuration).toBeCloseTo((Date.parse(done.completedAt) - Date.parse(done.createdAt)) / 1000, 3);
    const { outputs } = done;
    expect(outputs.scoredLeads).toEqual(outputs.scores);
    expect(outputs.scoredLeads[0]).toMatchObject({ leadId: expect.any(String), score: expect.any(Number), confidence: expect.any(Number), factors: expect.any(Array) });
    expect(outputs.scoredLeads[0].factors.length).toBeGreaterThan(0);
    expect(outputs.modelMetrics.f1Score).toBe(outputs.modelMetrics.f1);
    expect(outputs.topScoredLeadIds.length).toBeGreaterThan(0);
    expect(outputs.creditsUsed).toBe(done.creditsUsed);
    expect(done.creditsUsed).toBe(20); // 200 candidates x 0.1
    const listed = (await t.request("GET", "/agents/AudienceArchitect/tasks?limit=5", { token })).body.tasks.find((x: { taskId: string }) => x.taskId === created.taskId);
    expect(listed).toMatchObject({ targetAgentId: "AudienceArchitect", tenantId: tenant, metadata: { campaign: "Q1" } });
  });

  test("metadata that is not an object, or too large, is a 400 with its path", async () => {
    for (const body of [{ metadata: [1] }, { metadata: { blob: "x".repeat(20_000) } }, { instanceId: 5 }]) {
      const res = await t.request("POST", "/agents/DataEngineer/tasks", { token, body: { type: "validateLeads", inputs: { leadIds: leadIds.slice(0, 1) }, ...body } });
      expect(res.status).toBe(400);
      expect(res.body.error.details.errors[0].path).toMatch(/^\/(metadata|instanceId)$/);
    }
  });

  test("a cancelled task keeps the fields and ends with an actualDuration", async () => {
    const created = await create("DataEngineer", "validateLeads", { leadIds: leadIds.slice(0, 2) });
    const res = await t.request("POST", `/DataEngineer/tasks/${created.taskId}/cancel`, { token, body: { reason: "changed my mind" } });
    if (res.status === 200) {
      expect(res.body).toMatchObject({ status: "cancelled", targetAgentId: "DataEngineer", tenantId: tenant });
      expect(res.body.actualDuration).toEqual(expect.any(Number));
    } else {
      // It finished first: the document's 409 for a bad transition.
      expect(res.status).toBe(409);
    }
  });
});

describe("launchCampaign as the document calls it", () => {
  const inputs = () => ({ audienceLeadIds: leadIds.slice(0, 3), campaignName: "Q1 Tech Executives", channels: ["email", "linkedin"], tenantId: tenant });

  test("without a template it uses the built-in one, stored in the task's inputs", async () => {
    const done = await run("CampaignOrchestrator", "launchCampaign", inputs());
    expect(done.status).toBe("completed");
    expect(done.outputs.campaignId).toEqual(expect.any(String));
    expect(done.inputs.template.body).toMatch(/\{\{firstName\|there\}\}/);
    const [mail] = smtp.to("lead0@contract.test");
    expect(mail?.subject).toBe("Lead0, a quick question about Company 0");
  });

  test("a tenant's own default template is used; a tenant that turned it off gets a 400 naming the input", async () => {
    await t.owner.query("UPDATE tenants SET settings = settings || $2::jsonb WHERE id = $1", [tenant, JSON.stringify({ campaignTemplate: { subject: "House style for {{firstName}}", body: "Hello {{firstName}}" } })]);
    const done = await run("CampaignOrchestrator", "launchCampaign", { ...inputs(), audienceLeadIds: leadIds.slice(3, 4) });
    expect(done.inputs.template).toEqual({ subject: "House style for {{firstName}}", body: "Hello {{firstName}}" });
    await t.owner.query("UPDATE tenants SET settings = settings || '{\"campaignTemplate\": false}'::jsonb WHERE id = $1", [tenant]);
    const res = await t.request("POST", "/agents/CampaignOrchestrator/tasks", { token, body: { type: "launchCampaign", inputs: inputs() } });
    expect(res.status).toBe(400);
    expect(res.body.error.details.errors[0].path).toBe("/inputs/template");
    await t.owner.query("UPDATE tenants SET settings = settings - 'campaignTemplate' WHERE id = $1", [tenant]);
  });
});

describe("SSE as the document streams it", () => {
  /** An EventSource with the bearer token (the package's fetch option), collecting onmessage frames. */
  function listen(path: string, headers: Record<string, string> = {}) {
    const frames: Array<{ data: any; lastEventId: string }> = [];
    const named: string[] = [];
    const es = new EventSource(t.url + path, {
      fetch: (input, init) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), authorization: `Bearer ${token}`, ...headers } }),
    });
    es.onmessage = (e) => frames.push({ data: JSON.parse(e.data), lastEventId: e.lastEventId });
    for (const name of ["state", "status", "progress"]) es.addEventListener(name, () => named.push(name));
    const ended = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        const last = frames[frames.length - 1]?.data.status;
        if (["completed", "failed", "cancelled", "timeout"].includes(last)) {
          clearInterval(check);
          es.close();
          resolve();
        }
      }, 20);
    });
    return { frames, named, ended, es };
  }

  test("onmessage receives the plain frames: the state first, then each status, ending on the terminal one", async () => {
    // A plugin agent answers to its PascalCase id as well.
    const task = await create("TestAgent", "slow", { ms: 600, steps: 3 });
    const { frames, named, ended } = listen(`/agents/TestAgent/tasks/${task.taskId}/stream`);
    await ended;
    expect(frames[0].data).toMatchObject({ taskId: task.taskId, status: expect.any(String), progress: expect.any(Number) });
    // Progress frames say the task is working, with the step's message in metadata.
    expect(frames.some((f) => f.data.status === "working" && typeof f.data.metadata?.message === "string")).toBe(true);
    expect(frames[frames.length - 1].data).toMatchObject({ taskId: task.taskId, status: "completed", timestamp: expect.any(String) });
    for (const f of frames) expect(f.lastEventId).toMatch(/^\d+$/);
    // The named frames still arrive for listeners of today's events.
    expect(named.length).toBeGreaterThan(0);
  });

  test("Last-Event-ID resumes the plain frames after the id given; ?frames=named sends no plain frames; a bad frames value is 400", async () => {
    const task = await create("DataEngineer", "validateLeads", { leadIds: leadIds.slice(0, 5) });
    await t.waitForStatus(token, "DataEngineer", task.taskId, ["completed"]);
    const all = listen(`/agents/DataEngineer/tasks/${task.taskId}/stream`, { "last-event-id": "0" });
    await all.ended;
    const statuses = (frames: Array<{ data: { status: string } }>) => frames.map((f) => f.data.status).filter((s, i, a) => s !== a[i - 1]);
    expect(statuses(all.frames)).toEqual(["submitted", "working", "completed"]);
    const resumed = listen(`/agents/DataEngineer/tasks/${task.taskId}/stream`, { "last-event-id": all.frames[0].lastEventId });
    await resumed.ended;
    expect(statuses(resumed.frames)).toEqual(["working", "completed"]);

    const res = await fetch(`${t.url}/agents/DataEngineer/tasks/${task.taskId}/stream?frames=named`, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    const blocks = text.split("\n\n").filter((b) => b.includes("data: "));
    expect(blocks.length).toBeGreaterThan(0);
    for (const b of blocks) expect(b).toMatch(/^id: \d+\nevent: /m);
    expect((await t.request("GET", `/agents/DataEngineer/tasks/${task.taskId}/stream?frames=fancy`, { token })).status).toBe(400);
  });
});
