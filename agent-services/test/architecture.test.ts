/**
 * The house plan of agent-services/src (docs/architecture.md, "The map"): which folder may import
 * which. Every import of every source file is read (type-only ones too) and mapped to its folder;
 * an agent's domain/ is a folder of its own. Fails on a circle between folders, on an import the
 * map forbids, and on an entry of KNOWN that no longer happens (so the list only shrinks).
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

const SRC = path.resolve(__dirname, "../src");

/** Packages a domain folder must not touch: frameworks, drivers, transports. */
const FRAMEWORKS = /^(express|bullmq|ioredis|pg|knex|pino|prom-client|nodemailer|@opentelemetry\/|@a2a-js\/|@bull-board\/)/;

/** Folder -> folders it must not import ("*" for every other folder of src but the listed exceptions). */
const FORBIDDEN: Record<string, string[]> = {
  lib: ["*"],
  config: ["*"],
  store: ["protocol", "tasks", "queue", "gateway", "agents", "ops", "webhooks", "cli"],
  protocol: ["tasks", "queue", "gateway", "agents", "ops", "webhooks", "cli"],
  tasks: ["queue", "gateway", "agents", "ops", "webhooks", "cli"],
  queue: ["gateway", "agents", "webhooks", "cli"],
  webhooks: ["gateway", "agents", "cli"],
  ops: ["gateway", "agents", "webhooks", "cli"],
  agents: ["gateway", "cli"],
  gateway: ["store", "agents", "cli"],
};
/** What lib and config may use ("*" above): nothing but themselves. */
const SELF_ONLY = new Set(["lib", "config"]);

/** Imports the map forbids that are still there, each to be removed (the list may only shrink). */
const KNOWN = new Set<string>([]);

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = path.join(dir, e);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** "tasks", "agents" (an agent's own code: agents/<id>/...), or "domain" (agents/<id>/domain/...). */
function folderOf(file: string): string {
  const parts = path.relative(SRC, file).split(path.sep);
  if (parts.length === 1) return "(root)";
  if (parts[0] === "agents" && parts[2] === "domain") return "domain";
  return parts[0];
}

interface Import {
  file: string;
  spec: string;
  from: string;
  to: string | undefined;
}

const imports: Import[] = sourceFiles(SRC).flatMap((file) => {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+"([^"]+)"/gms), ...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => {
    const spec = m[1];
    const to = spec.startsWith(".") ? folderOf(path.resolve(path.dirname(file), spec) + ".ts") : undefined;
    return { file: path.relative(SRC, file), spec, from: folderOf(file), to };
  });
});

test("the import reader sees the code (a sanity check on the check)", () => {
  expect(imports.length).toBeGreaterThan(300);
  expect(imports.some((i) => i.from === "gateway" && i.to === "tasks")).toBe(true);
});

test("no circle between folders", () => {
  const graph = new Map<string, Set<string>>();
  for (const i of imports) {
    if (!i.to || i.to === i.from) continue;
    if (!graph.has(i.from)) graph.set(i.from, new Set());
    graph.get(i.from)!.add(i.to);
  }
  // A path back to the start from any folder is a circle; report it as a chain of folders.
  const circles: string[] = [];
  for (const start of graph.keys()) {
    const seen = new Set<string>();
    const walk = (node: string, trail: string[]): void => {
      for (const next of graph.get(node) ?? []) {
        if (next === start) circles.push([...trail, next].join(" -> "));
        else if (!seen.has(next)) {
          seen.add(next);
          walk(next, [...trail, next]);
        }
      }
    };
    walk(start, [start]);
  }
  expect(circles).toEqual([]);
});

test("no folder imports one the map forbids; domain code imports no framework", () => {
  const found = new Set<string>();
  const violations: string[] = [];
  for (const i of imports) {
    if (i.from === "domain") {
      if (!i.to && FRAMEWORKS.test(i.spec)) violations.push(`${i.file} imports ${i.spec}`);
      if (i.to && !["domain", "lib", "protocol"].includes(i.to)) violations.push(`${i.file} -> ${i.to}`);
      continue;
    }
    if (!i.to || i.to === i.from) continue;
    const rules = FORBIDDEN[i.from] ?? [];
    const forbidden = SELF_ONLY.has(i.from) ? i.to !== "lib" && i.to !== "config" : rules.includes(i.to) || (i.to === "domain" && rules.includes("agents"));
    if (!forbidden) continue;
    const key = `${i.file} -> ${i.to === "domain" ? "agents" : i.to}`;
    if (KNOWN.has(key)) found.add(key);
    else violations.push(`${key} (${i.spec})`);
  }
  expect(violations).toEqual([]);
  // A known exception that is gone comes off the list.
  expect([...KNOWN].filter((k) => !found.has(k))).toEqual([]);
});
