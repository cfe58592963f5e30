import { loadConfig, ConfigError } from "../src/config/config";
import { creditsToMilli, milliToCredits } from "../src/protocol/credits";
import { durationToMs, estimateCostMilli, checkCard, type AgentCard } from "../src/protocol/agent-card";
import { allowedFrom, canTransition, isTerminal, TASK_STATES } from "../src/protocol/task-states";
import { AgentRegistry } from "../src/protocol/registry";
import { BUILTIN_AGENTS } from "../src/agents";

describe("config", () => {
  test("defaults to the local stack", () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ port: 8080, redisUrl: "redis://127.0.0.1:6379", roles: { gateway: true, worker: true }, maxBodyBytes: 1048576 });
    expect(c.databaseUrl).toBe("postgres://postgres@127.0.0.1:5432/dealscale");
  });
  test("names every bad variable at once", () => {
    try {
      loadConfig({ PORT: "http", DATABASE_URL: "mysql://x", REDIS_URL: "::", A2A_JWT_SECRET: "short", DEALSCALE_ROLES: "gateway,cook" });
      throw new Error("no error");
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const m = (e as Error).message;
      for (const name of ["PORT", "DATABASE_URL", "REDIS_URL", "A2A_JWT_SECRET", "DEALSCALE_ROLES"]) expect(m).toContain(name);
    }
  });
  test("production refuses the development secret and a missing one", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/A2A_JWT_SECRET is required/);
    expect(() => loadConfig({ NODE_ENV: "production", A2A_JWT_SECRET: "x".repeat(40) })).not.toThrow();
  });
});

describe("credits are exact milli-credits", () => {
  test.each([
    ["1", 1000n],
    ["0.5", 500n],
    [0.1, 100n],
    ["2500.125", 2500125n],
    ["-3", -3000n],
  ])("%s credits = %s milli", (c, m) => expect(creditsToMilli(c)).toBe(m));
  test("refuse more than three decimals or junk", () => {
    expect(() => creditsToMilli("0.0001")).toThrow(RangeError);
    expect(() => creditsToMilli("1e3")).toThrow(RangeError);
    expect(() => creditsToMilli("ten")).toThrow(RangeError);
  });
  test("0.1 x 3 leads is exactly 0.3", () => expect(milliToCredits(creditsToMilli(0.1) * 3n)).toBe(0.3));
});

describe("ISO 8601 durations", () => {
  test.each([
    ["PT30S", 30_000],
    ["PT5M", 300_000],
    ["PT1H30M", 5_400_000],
    ["P1D", 86_400_000],
    ["PT0.5S", 500],
  ])("%s", (iso, ms) => expect(durationToMs(iso)).toBe(ms));
  test.each(["P", "PT", "30S", "PT5X", ""])("refuses %j", (iso) => expect(() => durationToMs(iso)).toThrow(RangeError));
});

describe("the transition table", () => {
  test("terminal states have no way out", () => {
    for (const from of TASK_STATES.filter(isTerminal)) for (const to of TASK_STATES) expect(canTransition(from, to)).toBe(false);
  });
  test("the lifecycle of the design", () => {
    expect(allowedFrom("working")).toEqual(["submitted", "working"]);
    expect(allowedFrom("completed")).toEqual(["working"]);
    expect(allowedFrom("timeout")).toEqual(["working"]);
    expect([...allowedFrom("failed")].sort()).toEqual(["submitted", "working"]);
    expect([...allowedFrom("cancelled")].sort()).toEqual(["submitted", "working"]);
    expect(canTransition("submitted", "completed")).toBe(false);
    expect(allowedFrom("submitted")).toEqual([]);
  });
});

describe("agent cards", () => {
  test("the four DealScale cards pass the checks and their schemas compile", () => {
    const registry = new AgentRegistry(BUILTIN_AGENTS.map((a) => a.card));
    expect(registry.list().map((c) => c.agentId)).toEqual(["data-engineer", "audience-architect", "campaign-orchestrator", "workflow-automation"]);
    const names = registry.list().flatMap((c) => c.capabilities.map((x) => `${c.name}.${x.name}`));
    for (const n of [
      "DataEngineer.enrichLeads", "DataEngineer.dedupeLeads", "DataEngineer.validateLeads",
      "AudienceArchitect.scoreLookalike", "AudienceArchitect.segmentLeads", "AudienceArchitect.scoreLeads",
      "CampaignOrchestrator.launchCampaign", "CampaignOrchestrator.getCampaignStats", "CampaignOrchestrator.pauseCampaign",
      "WorkflowAutomation.triggerWorkflow", "WorkflowAutomation.getWorkflowRun", "WorkflowAutomation.listWorkflows",
    ]) expect(names).toContain(n);
  });
  test("schema errors name the JSON path", () => {
    const registry = new AgentRegistry(BUILTIN_AGENTS.map((a) => a.card));
    const enrich = registry.capability("data-engineer", "enrichLeads")!;
    expect(enrich.validateInputs({ leadIds: ["not-a-uuid"], provider: "apollo" })).toEqual([{ path: "/leadIds/0", message: 'must match format "uuid"' }]);
    expect(enrich.validateInputs({ leadIds: [] })).toEqual(expect.arrayContaining([{ path: "/provider", message: "must have required property 'provider'" }]));
  });
  test("per-lead pricing counts the items; a fixed price does not", () => {
    const card = BUILTIN_AGENTS[0].card;
    const enrich = card.capabilities.find((c) => c.name === "enrichLeads")!;
    expect(estimateCostMilli(enrich, { leadIds: ["a", "b", "c"] })).toBe(3000n);
    const fixed = { ...enrich, pricing: { fixedCredits: 2.5 } };
    expect(estimateCostMilli(fixed, { leadIds: ["a", "b", "c"] })).toBe(2500n);
  });
  test("a broken card is refused with every problem named", () => {
    const bad = { agentId: "Bad Agent", rateLimit: { requestsPerMinute: 0, burstSize: 1 }, capabilities: [
      { name: "x", inputSchema: { type: "array" }, outputSchema: { type: "object" }, pricing: {}, estimatedDuration: "soon", sla: { maxLatency: "PT1M" } },
    ] } as unknown as AgentCard;
    const problems = checkCard(bad);
    expect(problems.join("\n")).toMatch(/kebab-case/);
    expect(problems.join("\n")).toMatch(/rateLimit/);
    expect(problems.join("\n")).toMatch(/inputSchema must be an object/);
    expect(problems.join("\n")).toMatch(/exactly one of creditsPerLead or fixedCredits/);
    expect(problems.join("\n")).toMatch(/estimatedDuration/);
    expect(() => new AgentRegistry([bad])).toThrow(/invalid/);
  });
});
