import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { loadConfig, ConfigError } from "../src/config/config";
import { isPublishedSecret } from "../src/config/public-secrets";
import { creditsToMilli, milliToCredits } from "../src/protocol/credits";
import { durationToMs, estimateCostMilli, checkCard, type AgentCard } from "../src/protocol/agent-card";
import { allowedFrom, canTransition, isTerminal, TASK_STATES } from "../src/protocol/task-states";
import { AgentRegistry } from "../src/protocol/registry";
import { BUILTIN_CARDS } from "../src/agents";

describe("config", () => {
  test("defaults to the local stack (NODE_ENV=development)", () => {
    const c = loadConfig({ NODE_ENV: "development" });
    expect(c).toMatchObject({ port: 8080, redisUrl: "redis://127.0.0.1:6379", roles: { gateway: true, worker: true }, maxBodyBytes: 1048576 });
    expect(c.databaseUrl).toBe("postgres://postgres@127.0.0.1:5432/dealscale");
    expect(c.databasePoolMax).toBeUndefined();
  });
  test("DATABASE_POOL_MAX sizes the process's pool; nonsense is refused", () => {
    expect(loadConfig({ NODE_ENV: "development", DATABASE_POOL_MAX: "12" }).databasePoolMax).toBe(12);
    expect(() => loadConfig({ NODE_ENV: "development", DATABASE_POOL_MAX: "1" })).toThrow(/DATABASE_POOL_MAX/);
    expect(() => loadConfig({ NODE_ENV: "development", DATABASE_POOL_MAX: "many" })).toThrow(/DATABASE_POOL_MAX/);
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
  const own = { A2A_JWT_SECRET: "x".repeat(40), APP_DB_PASSWORD: randomBytes(12).toString("hex") };
  test("production refuses the development secret and a missing one", () => {
    expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/A2A_JWT_SECRET is required/);
    expect(() => loadConfig({ NODE_ENV: "production", ...own })).not.toThrow();
  });
});

describe("secrets (issue 10)", () => {
  // Made here, so that they appear nowhere in the repository.
  const own = { A2A_JWT_SECRET: randomBytes(32).toString("hex"), APP_DB_PASSWORD: randomBytes(12).toString("hex") };
  const problemsOf = (env: Record<string, string>): string[] => {
    try {
      loadConfig(env);
      return [];
    } catch (e) {
      return (e as ConfigError).problems;
    }
  };

  test.each([undefined, "", "staging", "prod", "production"])("NODE_ENV=%p without A2A_JWT_SECRET refuses to start, with one line that says how", (nodeEnv) => {
    const problems = problemsOf({ ...(nodeEnv === undefined ? {} : { NODE_ENV: nodeEnv }), APP_DB_PASSWORD: own.APP_DB_PASSWORD });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^A2A_JWT_SECRET is required .*openssl rand -hex 32.*NODE_ENV=development or test/);
  });

  test.each(["development", "test"])("NODE_ENV=%s may use the development secret, and says it does", (nodeEnv) => {
    const c = loadConfig({ NODE_ENV: nodeEnv });
    expect(c.jwtSecretIsDevDefault).toBe(true);
    expect(loadConfig({ NODE_ENV: nodeEnv, ...own }).jwtSecretIsDevDefault).toBe(false);
  });

  test("outside development and test, a published secret is refused: compose's old default, the k8s example, the dev and test secrets", () => {
    for (const nodeEnv of ["production", "staging"]) {
      for (const secret of ["change-me-in-production-0123456789abcdef", "CHANGE-ME-at-least-32-characters-long-secret", "dev-only-secret-change-me-0123456789abcdef", "test-secret-0123456789abcdef0123456789abcdef"]) {
        expect(problemsOf({ NODE_ENV: nodeEnv, ...own, A2A_JWT_SECRET: secret })).toEqual([expect.stringMatching(/^A2A_JWT_SECRET is a value published in the DealScale repository/)]);
      }
      expect(problemsOf({ NODE_ENV: nodeEnv, ...own, APP_DB_PASSWORD: "dealscale_app" })).toEqual([expect.stringMatching(/^APP_DB_PASSWORD is a value published/)]);
      expect(problemsOf({ NODE_ENV: nodeEnv, A2A_JWT_SECRET: own.A2A_JWT_SECRET })).toEqual([expect.stringMatching(/^APP_DB_PASSWORD is required/)]);
      expect(problemsOf({ NODE_ENV: nodeEnv, ...own, OPS_TOKEN: "CHANGE-ME-operator-token" })).toEqual([expect.stringMatching(/^OPS_TOKEN is a value published/)]);
      expect(problemsOf({ NODE_ENV: nodeEnv, ...own, DATABASE_URL: "postgres://postgres:postgres@db:5432/dealscale" })).toEqual([expect.stringMatching(/^DATABASE_URL carries a password published/)]);
      expect(problemsOf({ NODE_ENV: nodeEnv, ...own, DATABASE_URL: `postgres://postgres:${own.APP_DB_PASSWORD}x@db:5432/dealscale` })).toEqual([]);
    }
  });

  test("every secret-like value written in the repository is on the published list", () => {
    const root = path.resolve(__dirname, "../..");
    const files = execFileSync("git", ["ls-files"], { cwd: root, encoding: "utf8" }).split("\n").filter((f) => f && !/package-lock\.json$|\.csv$|\.png$|\.svg$/.test(f));
    // Assignments of the service's secrets in any syntax the repository uses: env files, YAML,
    // compose defaults (${VAR:-value}), JS/TS objects, Kubernetes secret keys.
    const names = "A2A_JWT_SECRET|APP_DB_PASSWORD|OPS_TOKEN|METRICS_TOKEN|a2a-jwt-secret|app-db-password|ops-token|metrics-token|DEV_SECRET";
    const patterns = (code: boolean) => [
      // In code only quoted literals are values; elsewhere (YAML, env, Markdown) anything after the `:` or `=`.
      code
        ? new RegExp(`(?:${names})["']?\\s*[:=]\\s*["'\`]([^"'\`\\s]{6,})["'\`]`, "g")
        : new RegExp(`(?:${names})["']?\\s*[:=]\\s*["']?([^-"'\\s,}$()][^"'\\s,}$()]{5,})`, "g"),
      new RegExp(`\\$\\{(?:${names}):-([^}]+)\\}`, "g"),
    ];
    const found = new Map<string, string>();
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(path.join(root, file), "utf8");
      } catch {
        continue;
      }
      for (const re of patterns(/\.(ts|js|mjs|cjs)$/.test(file))) for (const m of text.matchAll(re)) found.set(m[1], file);
    }
    expect(found.size).toBeGreaterThan(3);
    const missing = [...found].filter(([value]) => !isPublishedSecret(value)).map(([value, file]) => `${value} (${file})`);
    expect(missing).toEqual([]);
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
    expect([...allowedFrom("cancelled")].sort()).toEqual(["input-required", "submitted", "working"]);
    expect(canTransition("submitted", "completed")).toBe(false);
    // Only an A2A task waiting for its skill moves to submitted; others are created so.
    expect(allowedFrom("submitted")).toEqual(["input-required"]);
    expect(allowedFrom("input-required")).toEqual(["input-required"]);
    expect(canTransition("input-required", "working")).toBe(false);
  });
});

describe("agent cards", () => {
  test("the four DealScale cards pass the checks and their schemas compile", () => {
    const registry = new AgentRegistry(BUILTIN_CARDS);
    expect(registry.list().map((c) => c.agentId)).toEqual(["data-engineer", "audience-architect", "campaign-orchestrator", "workflow-automation"]);
    const names = registry.list().flatMap((c) => c.capabilities.map((x) => `${c.alias}.${x.name}`));
    for (const n of [
      "DataEngineer.enrichLeads", "DataEngineer.dedupeLeads", "DataEngineer.validateLeads",
      "AudienceArchitect.scoreLookalike", "AudienceArchitect.segmentLeads", "AudienceArchitect.scoreLeads",
      "CampaignOrchestrator.launchCampaign", "CampaignOrchestrator.getCampaignStats", "CampaignOrchestrator.pauseCampaign",
      "WorkflowAutomation.triggerWorkflow", "WorkflowAutomation.getWorkflowRun", "WorkflowAutomation.listWorkflows",
    ]) expect(names).toContain(n);
  });
  test("schema errors name the JSON path", () => {
    const registry = new AgentRegistry(BUILTIN_CARDS);
    const enrich = registry.capability("data-engineer", "enrichLeads")!;
    expect(enrich.validateInputs({ leadIds: ["not-a-uuid"], provider: "apollo" })).toEqual([{ path: "/leadIds/0", message: 'must match format "uuid"' }]);
    expect(enrich.validateInputs({ leadIds: [] })).toEqual(expect.arrayContaining([{ path: "/provider", message: "must have required property 'provider'", missing: "provider" }]));
  });
  test("per-lead pricing counts the items; a fixed price does not", () => {
    const card = BUILTIN_CARDS[0];
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
