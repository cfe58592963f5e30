/**
 * The Kestra flows in workflows/kestra/*.yml, checked as YAML without a Kestra server: ids,
 * namespace, task types, the structure each flow promises, that every `outputs.<id>` names a task
 * that runs before (or inside) the referencing one, that `inputs.<x>` names a declared input, and
 * that every a2a-task command line is one the runner accepts, for a capability the agent has.
 */
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../..");
const FLOWS = path.join(ROOT, "workflows/kestra");
// js-yaml is a dev dependency of the kestra-runner workspace: resolve it from there.
const yaml = createRequire(path.join(ROOT, "kestra-runner/package.json"))("js-yaml") as { load(s: string): any };
const { parseOptions } = require(path.join(ROOT, "kestra-runner/src/cli.js"));

const NAMESPACE = "dealscale.a2a";
const KNOWN_TYPES = new Set([
  "io.kestra.plugin.scripts.node.Commands",
  "io.kestra.plugin.core.log.Log",
  "io.kestra.plugin.core.debug.Return",
  "io.kestra.plugin.core.flow.Parallel",
  "io.kestra.plugin.core.flow.Sequential",
  "io.kestra.plugin.core.flow.ForEach",
  "io.kestra.plugin.core.flow.LoopUntil",
  "io.kestra.plugin.core.flow.Subflow",
  "io.kestra.plugin.core.http.Request",
  "io.kestra.plugin.core.execution.Fail",
]);
const COMMANDS = "io.kestra.plugin.scripts.node.Commands";

const capabilities = new Map<string, Set<string>>();
for (const dir of readdirSync(path.join(ROOT, "agent-services/src/agents"))) {
  try {
    const card = JSON.parse(readFileSync(path.join(ROOT, "agent-services/src/agents", dir, "card.json"), "utf8"));
    capabilities.set(card.agentId, new Set(card.capabilities.map((c: any) => c.name)));
  } catch {
    /* not an agent directory */
  }
}

interface Visited {
  task: any;
  /** ids of tasks nested in this one (its tasks, errors, then/else) */
  descendants: Set<string>;
  /** the task's own properties, without nested tasks */
  own: Record<string, unknown>;
}

const NESTED = ["tasks", "errors", "then", "else", "finally"];

/** Tasks in execution order (pre-order: a flowable's children after it, errors after tasks). */
function walk(tasks: any[] | undefined, out: Visited[] = []): Visited[] {
  for (const task of tasks ?? []) {
    const v: Visited = { task, descendants: new Set(), own: {} };
    for (const [k, val] of Object.entries(task)) if (!NESTED.includes(k)) v.own[k] = val;
    out.push(v);
    const start = out.length;
    for (const k of NESTED) if (Array.isArray(task[k])) walk(task[k], out);
    for (const d of out.slice(start)) v.descendants.add(d.task.id);
  }
  return out;
}

const strings = (x: unknown): string[] =>
  typeof x === "string" ? [x] : Array.isArray(x) ? x.flatMap(strings) : x && typeof x === "object" ? Object.values(x).flatMap(strings) : [];
/** Names after `outputs.` / `inputs.` inside Pebble expressions ({{ ... }}) only. */
const refs = (x: unknown, re: RegExp) =>
  strings(x)
    .flatMap((s) => [...s.matchAll(/\{\{([^]*?)\}\}/g)].map((m) => m[1]))
    .flatMap((expr) => [...expr.matchAll(re)].map((m) => m[1]));
const OUTPUT_REF = /\boutputs\.([A-Za-z_][A-Za-z0-9_]*)/g;
const INPUT_REF = /\binputs\.([A-Za-z_][A-Za-z0-9_]*)/g;

/** Splits a command line into arguments (double and single quotes, no expansion). */
function argv(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** References to outputs of tasks that have not run at that point (or do not exist). */
function outputRefErrors(flow: any): string[] {
  const visited = walk([...(flow.tasks ?? []), ...(flow.errors ?? [])]);
  const ids = visited.map((v) => v.task.id);
  const errors: string[] = [];
  visited.forEach((v, i) => {
    const before = new Set(ids.slice(0, i));
    for (const ref of refs(v.own, OUTPUT_REF)) {
      if (!before.has(ref) && !v.descendants.has(ref)) errors.push(`${flow.id}.${v.task.id} references outputs.${ref}, which has not run yet`);
    }
  });
  for (const ref of refs(flow.outputs ?? [], OUTPUT_REF)) if (!ids.includes(ref)) errors.push(`${flow.id} outputs reference unknown task ${ref}`);
  return errors;
}

const files = readdirSync(FLOWS).filter((f) => f.endsWith(".yml")).sort();
const flows = new Map(files.map((f) => [f, yaml.load(readFileSync(path.join(FLOWS, f), "utf8"))]));
const byId = (id: string) => [...flows.values()].find((f) => f.id === id);

test("the flows the issue asks for are there, one per file named after its id, in one namespace", () => {
  expect([...flows.values()].map((f) => f.id).sort()).toEqual(
    ["a2a_task", "distributed_enrichment", "enrich_with_fallback", "lookalike_campaign", "parallel_enrichment", "webhook_enrich_and_score"].sort(),
  );
  for (const [file, flow] of flows) {
    expect(file).toBe(`${flow.id}.yml`);
    expect(flow.namespace).toBe(NAMESPACE);
    expect(Array.isArray(flow.tasks) && flow.tasks.length).toBeTruthy();
  }
});

describe.each(files)("%s", (file) => {
  const flow = flows.get(file);
  const visited = walk([...(flow.tasks ?? []), ...(flow.errors ?? [])]);
  const ids = visited.map((v) => v.task.id);
  const inputIds = new Set((flow.inputs ?? []).map((i: any) => i.id));

  test("task ids are unique and every task type is a known Kestra 1.x core or Node script type", () => {
    expect(new Set(ids).size).toBe(ids.length);
    for (const { task } of visited) {
      expect(task.id).toMatch(/^[a-z][a-z0-9_]*$/);
      expect(KNOWN_TYPES).toContain(task.type);
    }
    for (const d of flow.pluginDefaults ?? []) expect(KNOWN_TYPES).toContain(d.type);
  });

  test("every outputs.<id> names a task that ran before it (or inside it)", () => {
    expect(outputRefErrors(flow)).toEqual([]);
  });

  test("every inputs.<x> names a declared input", () => {
    const all = refs([flow.tasks, flow.errors, flow.outputs, flow.pluginDefaults], INPUT_REF);
    for (const ref of all) if (!inputIds.has(ref)) throw new Error(`${flow.id} uses inputs.${ref}, not declared`);
  });

  test("every a2a-task command line is accepted by the runner, for a capability the agent has", () => {
    const commandTasks = visited.filter((v) => v.task.type === COMMANDS);
    for (const { task } of commandTasks) {
      // `exec` so the kill signal of a stopped execution reaches a2a-task, not only the shell.
      const lines = (task.commands as string[]).filter((l) => l.startsWith("exec a2a-task "));
      expect(lines).toHaveLength(1);
      expect(task.commands[task.commands.length - 1]).toBe(lines[0]);
      const args = argv(lines[0]).slice(2);
      const fileAt = args.indexOf("--inputs-file");
      if (fileAt >= 0) {
        expect(Object.keys(task.inputFiles ?? {})).toContain(args[fileAt + 1]);
        args.splice(fileAt, 2, "--inputs", "{}");
      }
      const o = parseOptions(args, { A2A_GATEWAY_URL: "http://gateway:8080", A2A_TOKEN: "t" });
      expect(capabilities.get(o.agent)).toBeDefined();
      expect(capabilities.get(o.agent)).toContain(o.capability);
      expect(lines[0]).toContain('--idempotency-key "{{ taskrun.id }}"');
    }
    if (commandTasks.length) {
      const env = flow.pluginDefaults.find((d: any) => d.type === COMMANDS).values.env;
      expect(env).toMatchObject({ A2A_GATEWAY_URL: expect.any(String), A2A_TOKEN: expect.stringContaining("secret(") });
    }
  });

  test("inputFiles that hold JSON are JSON once rendered (placeholders stubbed)", () => {
    for (const { task } of visited) {
      for (const [name, content] of Object.entries(task.inputFiles ?? {})) {
        if (!name.endsWith(".json")) continue;
        const stubbed = String(content)
          .replace(/\{\{ '\{\{' \}\}|\{\{ '\}\}' \}\}/g, "")
          .replace(/\{\{[^}]*\| toJson \}\}|\{\{ taskrun\.value \}\}/g, "null");
        expect(() => JSON.parse(stubbed)).not.toThrow();
      }
    }
  });
});

test("lookalike_campaign: inputs seedLeads and tenantId, a retry on each A2A task, an errors branch, enrich -> score -> campaign", () => {
  const f = byId("lookalike_campaign");
  expect(f.inputs.map((i: any) => i.id)).toEqual(expect.arrayContaining(["seedLeads", "tenantId"]));
  expect(f.inputs.find((i: any) => i.id === "seedLeads").type).toBe("JSON");
  const a2a = f.tasks.filter((t: any) => t.type === COMMANDS);
  expect(a2a.map((t: any) => t.id)).toEqual(["enrich_seeds", "score_lookalike", "launch_campaign"]);
  for (const t of a2a) expect(t.retry).toMatchObject({ type: expect.any(String), maxAttempts: expect.any(Number) });
  expect(f.errors.length).toBeGreaterThan(0);
  expect(a2a[2].inputFiles["inputs.json"]).toContain("outputs.score_lookalike.vars.result.topScoredLeadIds");
});

test("parallel_enrichment fans out with Parallel to three providers", () => {
  const f = byId("parallel_enrichment");
  const par = f.tasks.find((t: any) => t.type === "io.kestra.plugin.core.flow.Parallel");
  expect(par.tasks.map((t: any) => t.type)).toEqual([COMMANDS, COMMANDS, COMMANDS]);
  expect(par.tasks.map((t: any) => t.inputFiles["inputs.json"].match(/"provider": "(\w+)"/)[1])).toEqual(["apollo", "clearbit", "zoominfo"]);
});

test("distributed_enrichment runs ForEach over batches with a concurrencyLimit", () => {
  const each = byId("distributed_enrichment").tasks.find((t: any) => t.type === "io.kestra.plugin.core.flow.ForEach");
  expect(each.concurrencyLimit).toBeGreaterThan(0);
  expect(each.values).toContain("chunk(inputs.batchSize)");
  expect(each.tasks[0].inputFiles["inputs.json"]).toContain("{{ taskrun.value }}");
  expect(each.tasks[0].retry.maxAttempts).toBeGreaterThan(1);
});

test("enrich_with_fallback chains apollo -> clearbit -> internal through errors and allowFailure", () => {
  const f = byId("enrich_with_fallback");
  const ids = walk(f.tasks).map((v) => v.task.id);
  expect(ids.indexOf("enrich_apollo")).toBeLessThan(ids.indexOf("enrich_clearbit"));
  expect(ids.indexOf("enrich_clearbit")).toBeLessThan(ids.indexOf("enrich_internal"));
  expect(f.tasks[0].allowFailure).toBe(true);
  expect(f.tasks[0].errors[0].errors[0].id).toBe("enrich_internal");
});

test("webhook_enrich_and_score is started by a Webhook trigger and reads the request body", () => {
  const f = byId("webhook_enrich_and_score");
  expect(f.triggers).toEqual([expect.objectContaining({ type: "io.kestra.plugin.core.trigger.Webhook", key: expect.any(String) })]);
  expect(JSON.stringify(f.tasks)).toContain("trigger.body.leadIds");
});

test("a2a_task creates with http.Request, polls with LoopUntil, fails with Fail and returns the outputs", () => {
  const f = byId("a2a_task");
  expect(f.tasks.map((t: any) => t.type)).toEqual([
    "io.kestra.plugin.core.http.Request",
    "io.kestra.plugin.core.flow.LoopUntil",
    "io.kestra.plugin.core.http.Request",
    "io.kestra.plugin.core.execution.Fail",
  ]);
  const [create, loop, , fail] = f.tasks;
  expect(create).toMatchObject({ method: "POST", uri: expect.stringContaining("/agents/{{ inputs.agent }}/tasks") });
  expect(loop.tasks[0]).toMatchObject({ id: "poll", type: "io.kestra.plugin.core.http.Request", method: "GET" });
  expect(loop.condition).toContain("outputs.poll.body");
  expect(fail.condition).toContain("!= 'completed'");
  expect(f.outputs.map((o: any) => o.id)).toEqual(expect.arrayContaining(["taskId", "status", "result", "creditsUsed"]));
  expect(f.inputs.map((i: any) => i.id)).toEqual(expect.arrayContaining(["agent", "capability", "inputs"]));
});

test("the outputs check catches a step that reads a later or unknown task's outputs", () => {
  const bad = yaml.load(`
id: bad
namespace: dealscale.a2a
tasks:
  - id: first
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.second.vars.result }}"
  - id: second
    type: io.kestra.plugin.core.log.Log
    message: "{{ outputs.first.value }} {{ outputs.typo.vars.x }}"
outputs:
  - id: x
    type: STRING
    value: "{{ outputs.nope.value }}"
`);
  expect(outputRefErrors(bad)).toEqual([
    "bad.first references outputs.second, which has not run yet",
    "bad.second references outputs.typo, which has not run yet",
    "bad outputs reference unknown task nope",
  ]);
});
