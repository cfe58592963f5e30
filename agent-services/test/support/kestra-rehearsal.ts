/**
 * A rehearsal of the Kestra flows in workflows/kestra without a Kestra server: the subset of Kestra
 * 1.x the flows use, executed for real. Tasks run in order with Kestra's semantics for Sequential,
 * Parallel, ForEach, LoopUntil, `errors` branches, `allowFailure`, `retry` and pluginDefaults;
 * io.kestra.plugin.scripts.node.Commands runs its rendered commands with /bin/sh in a fresh working
 * directory holding its rendered inputFiles (the a2a-task CLI on the PATH, as in the runner image) and
 * reads the `::{"outputs":...}::` lines into outputs.<task>.vars; io.kestra.plugin.core.http.Request
 * is a real fetch. Expressions are rendered by a strict Pebble subset (a missing variable or attribute
 * throws, as Kestra's strict rendering does), so an output name that a step reads but no earlier step
 * produced fails that step.
 *
 * Anything outside the subset (a task type, a task property, a filter, a function, a tag) throws
 * UnsupportedError, which is never turned into a task failure: a flow change that the rehearsal cannot
 * check fails the test instead of slipping by. Retry intervals and LoopUntil check intervals are not
 * waited out (a short pause instead), so a run takes seconds.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";

const ROOT = path.resolve(__dirname, "../../..");
export const FLOWS_DIR = path.join(ROOT, "workflows/kestra");
export const RUNNER_BIN = path.join(ROOT, "kestra-runner/bin/a2a-task.js");
/** The image the flows' Docker task runner starts; docker-compose.yml builds it from kestra-runner/. */
export const RUNNER_IMAGE = "dealscale/kestra-runner:latest";
// js-yaml is a dev dependency of the kestra-runner workspace: resolve it from there.
export const yaml = createRequire(path.join(ROOT, "kestra-runner/package.json"))("js-yaml") as typeof import("js-yaml");

/** Fails the test, never a task: errors branches and allowFailure do not apply. */
export class RehearsalError extends Error {
  override name = "RehearsalError";
}
/** The flow uses something this rehearsal does not implement. */
export class UnsupportedError extends RehearsalError {
  override name = "UnsupportedError";
}
/** An expression read a variable or attribute that does not exist (Pebble strict mode). */
export class UndefinedVariableError extends Error {
  override name = "UndefinedVariableError";
}
/** A runnable task failed (non-zero exit, HTTP error, Fail task, rendering error). */
class TaskFailure extends Error {
  override name = "TaskFailure";
}

// ---------------------------------------------------------------------------------------------
// Pebble subset: `{{ expr }}` with literals ('x', 1, [a, b], true, null), variables and `.attr`,
// the functions kv, secret and fromJson, the filters toJson, length and chunk, and the operators
// `??` (120), `|` (100), `==` `!=` (30), `and` (15), `or` (10) with Pebble's precedences.

type Node =
  | { k: "lit"; v: unknown }
  | { k: "list"; items: Node[] }
  | { k: "var"; name: string }
  | { k: "attr"; obj: Node; name: string }
  | { k: "call"; name: string; args: Node[] }
  | { k: "filter"; input: Node; name: string; args: Node[] }
  | { k: "bin"; op: string; left: Node; right: Node };

interface Token {
  t: "str" | "num" | "id" | "op" | "end";
  v: string;
}

const BINARY: Record<string, number> = { or: 10, and: 15, "==": 30, "!=": 30, "|": 100, "??": 120 };

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      let s = "";
      i++;
      while (i < src.length && src[i] !== c) {
        if (src[i] === "\\" && i + 1 < src.length) i++;
        s += src[i++];
      }
      if (i >= src.length) throw new UnsupportedError(`unterminated string in {{ ${src} }}`);
      i++;
      out.push({ t: "str", v: s });
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+(\.[0-9]+)?/.exec(src.slice(i))!;
      out.push({ t: "num", v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      out.push({ t: m[0] === "and" || m[0] === "or" ? "op" : "id", v: m[0] });
      i += m[0].length;
    } else {
      const two = src.slice(i, i + 3) === "???" ? "???" : src.slice(i, i + 2);
      if (two === "???") throw new UnsupportedError(`operator ??? in {{ ${src} }}`);
      if (two === "??" || two === "==" || two === "!=") {
        out.push({ t: "op", v: two });
        i += 2;
      } else if ("|.(),[]".includes(c)) {
        out.push({ t: "op", v: c });
        i++;
      } else {
        throw new UnsupportedError(`"${c}" in {{ ${src} }}`);
      }
    }
  }
  out.push({ t: "end", v: "" });
  return out;
}

function parseExpression(src: string): Node {
  const tokens = tokenize(src);
  let p = 0;
  const peek = () => tokens[p];
  const next = () => tokens[p++];
  const expect = (v: string) => {
    const tok = next();
    if (tok.v !== v || (tok.t !== "op" && tok.t !== "id")) throw new UnsupportedError(`expected "${v}" in {{ ${src} }}, found "${tok.v}"`);
  };
  const args = (): Node[] => {
    const list: Node[] = [];
    expect("(");
    if (peek().v === ")" && peek().t === "op") {
      next();
      return list;
    }
    for (;;) {
      list.push(expr(0));
      const tok = next();
      if (tok.t === "op" && tok.v === ")") return list;
      if (!(tok.t === "op" && tok.v === ",")) throw new UnsupportedError(`expected "," or ")" in {{ ${src} }}`);
    }
  };
  const primary = (): Node => {
    const tok = next();
    if (tok.t === "str") return { k: "lit", v: tok.v };
    if (tok.t === "num") return { k: "lit", v: Number(tok.v) };
    if (tok.t === "op" && tok.v === "(") {
      const inner = expr(0);
      expect(")");
      return inner;
    }
    if (tok.t === "op" && tok.v === "[") {
      const items: Node[] = [];
      if (peek().t === "op" && peek().v === "]") {
        next();
        return { k: "list", items };
      }
      for (;;) {
        items.push(expr(0));
        const sep = next();
        if (sep.t === "op" && sep.v === "]") return { k: "list", items };
        if (!(sep.t === "op" && sep.v === ",")) throw new UnsupportedError(`expected "," or "]" in {{ ${src} }}`);
      }
    }
    if (tok.t === "id") {
      if (tok.v === "true" || tok.v === "false") return { k: "lit", v: tok.v === "true" };
      if (tok.v === "null" || tok.v === "none") return { k: "lit", v: null };
      if (tok.v === "not" || tok.v === "is" || tok.v === "in") throw new UnsupportedError(`"${tok.v}" in {{ ${src} }}`);
      if (peek().t === "op" && peek().v === "(") return { k: "call", name: tok.v, args: args() };
      return { k: "var", name: tok.v };
    }
    throw new UnsupportedError(`unexpected "${tok.v}" in {{ ${src} }}`);
  };
  const postfix = (): Node => {
    let node = primary();
    for (;;) {
      const tok = peek();
      if (tok.t === "op" && tok.v === ".") {
        next();
        const name = next();
        if (name.t !== "id") throw new UnsupportedError(`attribute name expected after "." in {{ ${src} }}`);
        node = { k: "attr", obj: node, name: name.v };
      } else if (tok.t === "op" && (tok.v === "[" || tok.v === "(")) {
        throw new UnsupportedError(`subscript or call on an expression in {{ ${src} }}`);
      } else {
        return node;
      }
    }
  };
  const expr = (min: number): Node => {
    let left = postfix();
    for (;;) {
      const tok = peek();
      const prec = tok.t === "op" ? BINARY[tok.v] : undefined;
      if (prec === undefined || prec < min) return left;
      next();
      if (tok.v === "|") {
        const name = next();
        if (name.t !== "id") throw new UnsupportedError(`filter name expected after "|" in {{ ${src} }}`);
        const fargs = peek().t === "op" && peek().v === "(" ? args() : [];
        left = { k: "filter", input: left, name: name.v, args: fargs };
      } else {
        left = { k: "bin", op: tok.v, left, right: expr(prec + 1) };
      }
    }
  };
  const tree = expr(0);
  if (peek().t !== "end") throw new UnsupportedError(`unexpected "${peek().v}" in {{ ${src} }}`);
  return tree;
}

export interface RenderContext {
  vars: Record<string, unknown>;
  kv: Record<string, string>;
  secrets: Record<string, string>;
}

const own = (o: unknown, key: string) => o !== null && typeof o === "object" && !Array.isArray(o) && Object.prototype.hasOwnProperty.call(o, key);

function exprPath(node: Node): string {
  switch (node.k) {
    case "var":
      return node.name;
    case "attr":
      return `${exprPath(node.obj)}.${node.name}`;
    case "call":
      return `${node.name}(...)`;
    default:
      return "(expression)";
  }
}

/** Pebble's equality: numbers by value, everything else strictly. */
function equals(a: unknown, b: unknown): boolean {
  if (typeof a === "number" && typeof b === "number") return a === b;
  return a === b;
}

function evaluate(node: Node, ctx: RenderContext): unknown {
  switch (node.k) {
    case "lit":
      return node.v;
    case "list":
      return node.items.map((n) => evaluate(n, ctx));
    case "var":
      if (!Object.prototype.hasOwnProperty.call(ctx.vars, node.name)) throw new UndefinedVariableError(`variable "${node.name}" is not defined`);
      return ctx.vars[node.name];
    case "attr": {
      const base = evaluate(node.obj, ctx);
      if (!own(base, node.name)) throw new UndefinedVariableError(`${exprPath(node)} is not defined (${exprPath(node.obj)} has no "${node.name}")`);
      return (base as Record<string, unknown>)[node.name];
    }
    case "call": {
      const args = node.args.map((a) => evaluate(a, ctx));
      if (node.name === "kv" || node.name === "secret") {
        if (args.length !== 1 || typeof args[0] !== "string") throw new UnsupportedError(`${node.name}() takes one key`);
        const store = node.name === "kv" ? ctx.kv : ctx.secrets;
        if (!Object.prototype.hasOwnProperty.call(store, args[0])) throw new TaskFailure(`${node.name}('${args[0]}') is not set`);
        return store[args[0]];
      }
      if (node.name === "fromJson") {
        if (args.length !== 1) throw new UnsupportedError("fromJson() takes one argument");
        if (args[0] === null) return null;
        if (typeof args[0] !== "string") throw new TaskFailure(`fromJson() of a ${typeof args[0]}`);
        return JSON.parse(args[0]);
      }
      throw new UnsupportedError(`function ${node.name}()`);
    }
    case "filter": {
      const input = evaluate(node.input, ctx);
      const args = node.args.map((a) => evaluate(a, ctx));
      if (node.name === "toJson") return input === null ? "null" : JSON.stringify(input);
      if (node.name === "length") {
        if (input === null) return 0;
        if (typeof input === "string" || Array.isArray(input)) return input.length;
        if (typeof input === "object") return Object.keys(input as object).length;
        throw new TaskFailure(`length of a ${typeof input}`);
      }
      if (node.name === "chunk") {
        if (input === null) return null;
        if (!Array.isArray(input)) throw new TaskFailure("'chunk' filter can only be applied to a list");
        const size = args[0];
        if (typeof size !== "number" || size < 1) throw new TaskFailure("'chunk' filter argument 'size' must be a positive number");
        const out: unknown[][] = [];
        for (let i = 0; i < input.length; i += Math.trunc(size)) out.push(input.slice(i, i + Math.trunc(size)));
        return out;
      }
      throw new UnsupportedError(`filter ${node.name}`);
    }
    case "bin": {
      if (node.op === "??") {
        try {
          const left = evaluate(node.left, ctx);
          if (left !== null && left !== undefined) return left;
        } catch (e) {
          if (!(e instanceof UndefinedVariableError)) throw e;
        }
        return evaluate(node.right, ctx);
      }
      if (node.op === "and" || node.op === "or") {
        const left = evaluate(node.left, ctx);
        if (typeof left !== "boolean") throw new TaskFailure(`"${node.op}" needs booleans`);
        if (node.op === "and" ? !left : left) return left;
        const right = evaluate(node.right, ctx);
        if (typeof right !== "boolean") throw new TaskFailure(`"${node.op}" needs booleans`);
        return right;
      }
      const l = evaluate(node.left, ctx);
      const r = evaluate(node.right, ctx);
      return node.op === "==" ? equals(l, r) : !equals(l, r);
    }
  }
}

/** How Kestra prints a value: maps and lists as JSON, null as nothing. */
function print(v: unknown): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/** Renders one template string: text with `{{ expr }}` (a `}}` inside a string literal does not close it). */
export function render(template: string, ctx: RenderContext): string {
  let out = "";
  let i = 0;
  for (;;) {
    const open = template.indexOf("{", i);
    if (open < 0 || open === template.length - 1) return out + template.slice(i);
    const kind = template[open + 1];
    if (kind === "%" || kind === "#") throw new UnsupportedError(`Pebble tag or comment "{${kind}" in: ${template}`);
    if (kind !== "{") {
      out += template.slice(i, open + 1);
      i = open + 1;
      continue;
    }
    out += template.slice(i, open);
    let j = open + 2;
    let quote: string | undefined;
    for (; j < template.length; j++) {
      const c = template[j];
      if (quote) {
        if (c === "\\") j++;
        else if (c === quote) quote = undefined;
      } else if (c === "'" || c === '"') {
        quote = c;
      } else if (c === "}" && template[j + 1] === "}") {
        break;
      }
    }
    if (j >= template.length) throw new UnsupportedError(`unclosed {{ in: ${template}`);
    out += print(evaluate(parseExpression(template.slice(open + 2, j)), ctx));
    i = j + 2;
  }
}

/** Renders strings inside maps and lists too (values only, as Kestra renders a task's properties). */
export function renderDeep(value: unknown, ctx: RenderContext): unknown {
  if (typeof value === "string") return render(value, ctx);
  if (Array.isArray(value)) return value.map((v) => renderDeep(v, ctx));
  if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderDeep(v, ctx)]));
  return value;
}

/** Kestra's TruthUtils: "false", "0", "-0", "" and null are false. */
export function truthy(rendered: string | null): boolean {
  return rendered !== null && !["false", "0", "-0", ""].includes(rendered.trim());
}

// ---------------------------------------------------------------------------------------------
// flows

export type Flow = Record<string, any>;
export type Task = Record<string, any>;
export type State = "SUCCESS" | "WARNING" | "FAILED";

const T = {
  commands: "io.kestra.plugin.scripts.node.Commands",
  log: "io.kestra.plugin.core.log.Log",
  ret: "io.kestra.plugin.core.debug.Return",
  request: "io.kestra.plugin.core.http.Request",
  fail: "io.kestra.plugin.core.execution.Fail",
  parallel: "io.kestra.plugin.core.flow.Parallel",
  sequential: "io.kestra.plugin.core.flow.Sequential",
  forEach: "io.kestra.plugin.core.flow.ForEach",
  loopUntil: "io.kestra.plugin.core.flow.LoopUntil",
  docker: "io.kestra.plugin.scripts.runner.docker.Docker",
  process: "io.kestra.plugin.core.runner.Process",
  webhook: "io.kestra.plugin.core.trigger.Webhook",
};

const FLOWABLE = { [T.parallel]: true, [T.sequential]: true, [T.forEach]: true, [T.loopUntil]: true };
const COMMON = ["id", "type", "description", "allowFailure"];
/** The properties the rehearsal implements, per task type; any other property is unsupported. */
const PROPERTIES: Record<string, string[]> = {
  [T.commands]: [...COMMON, "retry", "containerImage", "taskRunner", "env", "inputFiles", "outputFiles", "commands"],
  [T.log]: [...COMMON, "message", "level"],
  [T.ret]: [...COMMON, "format"],
  [T.request]: [...COMMON, "retry", "uri", "method", "headers", "body", "contentType"],
  [T.fail]: [...COMMON, "condition", "errorMessage"],
  [T.parallel]: [...COMMON, "tasks", "errors", "concurrent"],
  [T.sequential]: [...COMMON, "tasks", "errors"],
  [T.forEach]: [...COMMON, "tasks", "errors", "values", "concurrencyLimit"],
  [T.loopUntil]: [...COMMON, "tasks", "errors", "condition", "failOnMaxReached", "checkFrequency"],
};
const FLOW_KEYS = ["id", "namespace", "description", "inputs", "tasks", "errors", "outputs", "pluginDefaults", "triggers"];
const INPUT_TYPES = ["STRING", "INT", "FLOAT", "JSON"];

export function loadFlow(id: string): Flow {
  return yaml.load(readFileSync(path.join(FLOWS_DIR, `${id}.yml`), "utf8")) as Flow;
}

const isMap = (v: unknown): v is Record<string, any> => v !== null && typeof v === "object" && !Array.isArray(v);

/** Kestra's MapUtils.deepMerge: `b` wins, nested maps merged. */
function deepMerge(a: Record<string, any>, b: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = isMap(v) && isMap(out[k]) ? deepMerge(out[k], v) : v;
  return out;
}

/** Kestra's PluginDefaultService: every map with a `type` matching a default (equal or prefix) gets its values; the task's own win, forced ones win over the task. */
function applyDefaults(value: unknown, defaults: { type: string; values: Record<string, any>; forced?: boolean }[]): unknown {
  if (Array.isArray(value)) return value.map((v) => applyDefaults(v, defaults));
  if (!isMap(value)) return value;
  let out: Record<string, any> = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, applyDefaults(v, defaults)]));
  if (typeof out.type === "string") {
    for (const d of defaults) {
      if (out.type === d.type || out.type.startsWith(d.type)) out = d.forced ? deepMerge(out, d.values) : deepMerge(d.values, out);
    }
  }
  return out;
}

/** Applies the flow's pluginDefaults and checks every task, property and trigger is one the rehearsal implements. */
export function prepareFlow(raw: Flow): Flow {
  for (const key of Object.keys(raw)) if (!FLOW_KEYS.includes(key)) throw new UnsupportedError(`flow ${raw.id}: flow property "${key}"`);
  const defaults = (raw.pluginDefaults ?? []).map((d: any) => {
    for (const key of Object.keys(d)) if (!["type", "values", "forced"].includes(key)) throw new UnsupportedError(`flow ${raw.id}: pluginDefaults property "${key}"`);
    return { type: d.type, values: d.values ?? {}, forced: d.forced === true };
  });
  const flow = { ...raw, tasks: applyDefaults(raw.tasks, defaults), errors: applyDefaults(raw.errors ?? [], defaults) } as Flow;
  const seen = new Set<string>();
  const check = (tasks: Task[] | undefined, where: string) => {
    if (tasks === undefined) return;
    if (!Array.isArray(tasks)) throw new UnsupportedError(`${where}: tasks must be a list`);
    for (const task of tasks) {
      const allowed = PROPERTIES[task.type];
      if (!allowed) throw new UnsupportedError(`flow ${raw.id}: task ${task.id} has type ${task.type}, which the rehearsal does not implement`);
      for (const key of Object.keys(task)) if (!allowed.includes(key)) throw new UnsupportedError(`flow ${raw.id}: task ${task.id} (${task.type}) property "${key}"`);
      if (seen.has(task.id)) throw new UnsupportedError(`flow ${raw.id}: duplicate task id ${task.id}`);
      seen.add(task.id);
      if (task.retry !== undefined) retryAttempts(task);
      if (task.type === T.commands) checkRunner(task, raw.id);
      check(task.tasks, `${raw.id}.${task.id}`);
      check(task.errors, `${raw.id}.${task.id}`);
    }
  };
  check(flow.tasks, raw.id);
  check(flow.errors, raw.id);
  for (const input of raw.inputs ?? []) {
    if (!INPUT_TYPES.includes(input.type)) throw new UnsupportedError(`flow ${raw.id}: input ${input.id} of type ${input.type}`);
  }
  for (const output of raw.outputs ?? []) {
    if (!INPUT_TYPES.includes(output.type)) throw new UnsupportedError(`flow ${raw.id}: output ${output.id} of type ${output.type}`);
  }
  for (const trigger of raw.triggers ?? []) {
    if (trigger.type !== T.webhook) throw new UnsupportedError(`flow ${raw.id}: trigger type ${trigger.type}`);
  }
  return flow;
}

/** The Docker task runner must start the runner image without pulling it (it is built locally, not published). */
function checkRunner(task: Task, flowId: string): void {
  const runner = task.taskRunner ?? { type: T.process };
  if (runner.type === T.docker) {
    if (task.containerImage !== RUNNER_IMAGE) throw new UnsupportedError(`flow ${flowId}: task ${task.id} runs image ${task.containerImage}, not ${RUNNER_IMAGE}`);
    // Kestra's Docker runner pulls ALWAYS by default, which fails for an image built locally.
    if (runner.pullPolicy !== "IF_NOT_PRESENT" && runner.pullPolicy !== "NEVER") {
      throw new UnsupportedError(`flow ${flowId}: task ${task.id} pulls ${RUNNER_IMAGE} (pullPolicy ${runner.pullPolicy ?? "ALWAYS (the default)"}); the image is built locally`);
    }
    for (const key of Object.keys(runner)) if (!["type", "pullPolicy", "networkMode"].includes(key)) throw new UnsupportedError(`flow ${flowId}: task ${task.id} taskRunner property "${key}"`);
  } else if (runner.type !== T.process) {
    throw new UnsupportedError(`flow ${flowId}: task ${task.id} task runner ${runner.type}`);
  }
}

function retryAttempts(task: Task): number {
  const r = task.retry;
  if (r === undefined) return 1;
  if (!["constant", "exponential"].includes(r.type) || !Number.isInteger(r.maxAttempts) || r.maxAttempts < 1) {
    throw new UnsupportedError(`task ${task.id}: retry ${JSON.stringify(r)} (the rehearsal needs type constant|exponential and maxAttempts)`);
  }
  return r.maxAttempts;
}

/** ISO 8601 duration (PT2H, PT5S, P1D) in milliseconds. */
export function isoDurationMs(text: string): number {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(String(text));
  if (!m) throw new UnsupportedError(`duration ${text}`);
  const [, d, h, min, s] = m.map((x) => Number(x ?? 0));
  return (((d * 24 + h) * 60 + min) * 60 + s) * 1000;
}

export interface TaskRunRecord {
  taskId: string;
  type: string;
  /** ForEach value the task ran for. */
  value?: string;
  state: State;
  attempts: number;
  error?: string;
}

export interface Execution {
  id: string;
  state: State;
  /** The flow's outputs, typed. */
  outputs: Record<string, unknown>;
  /** outputs.<taskId> as the flow's expressions saw them. */
  taskOutputs: Record<string, any>;
  /** Task runs in the order they ended. */
  taskRuns: TaskRunRecord[];
  logs: { taskId: string; level: string; message: string }[];
  metrics: unknown[];
  /** Most iterations or branches in flight at once, per ForEach/Parallel task. */
  peakConcurrency: Record<string, number>;
  /** Why the execution failed (a flow output that could not be rendered), if not a task. */
  error?: string;
}

export interface RunOptions {
  inputs?: Record<string, unknown>;
  /** Present for a run started by the flow's Webhook trigger: `trigger.body`. */
  trigger?: { body: unknown };
  kv: Record<string, string>;
  secrets: Record<string, string>;
  /** A directory holding an `a2a-task` executable (see makeRunnerBin), first on the Commands' PATH. */
  binDir: string;
  /** Pause instead of retry and LoopUntil intervals (default 50 ms). */
  pauseMs?: number;
  /** Upper bound on one LoopUntil, whatever its maxDuration (default 30 s): not converging fails the test. */
  loopCapMs?: number;
  /** Kill a Commands process after this long (default 60 s). */
  commandTimeoutMs?: number;
}

/** A directory with `a2a-task` linked to the runner's bin, as the runner image installs it. */
export function makeRunnerBin(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "kestra-rehearsal-bin-"));
  symlinkSync(RUNNER_BIN, path.join(dir, "a2a-task"));
  return dir;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** A Kestra-style id (22 base62 characters). */
const kestraId = () => Array.from(randomBytes(22), (b) => BASE62[b % 62]).join("");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const worst = (a: State, b: State): State => (a === "FAILED" || b === "FAILED" ? "FAILED" : a === "WARNING" || b === "WARNING" ? "WARNING" : "SUCCESS");

/** Processes started by Commands tasks, so a test can kill what an aborted run left behind. */
export const runningProcesses = new Set<ChildProcess>();

interface Scope {
  /** Enclosing ForEach values, outermost first: outputs of tasks inside are keyed by them. */
  values: string[];
}

class Runner {
  readonly exec: Execution;
  private readonly flow: Flow;
  private readonly inputs: Record<string, unknown>;

  constructor(flow: Flow, private readonly o: RunOptions) {
    this.flow = prepareFlow(flow);
    this.inputs = this.resolveInputs(o.inputs ?? {});
    if (o.trigger && !(flow.triggers ?? []).some((t: any) => t.type === T.webhook)) throw new UnsupportedError(`flow ${flow.id} has no Webhook trigger`);
    this.exec = { id: kestraId(), state: "SUCCESS", outputs: {}, taskOutputs: {}, taskRuns: [], logs: [], metrics: [], peakConcurrency: {} };
  }

  private resolveInputs(given: Record<string, unknown>): Record<string, unknown> {
    const declared = new Map<string, any>((this.flow.inputs ?? []).map((i: any) => [i.id, i]));
    for (const key of Object.keys(given)) if (!declared.has(key)) throw new Error(`flow ${this.flow.id} has no input ${key}`);
    const out: Record<string, unknown> = {};
    for (const [id, input] of declared) {
      let v = given[id] !== undefined ? given[id] : input.defaults;
      if (v === undefined) {
        if (input.required === false) continue;
        throw new Error(`flow ${this.flow.id}: input ${id} is required`);
      }
      if (input.type === "JSON" && typeof v === "string") v = JSON.parse(v);
      if (input.type === "STRING" && typeof v !== "string") throw new Error(`input ${id} must be a string`);
      if (input.type === "INT" && !Number.isInteger(v)) throw new Error(`input ${id} must be an integer`);
      if (input.type === "FLOAT" && typeof v !== "number") throw new Error(`input ${id} must be a number`);
      out[id] = v;
    }
    return out;
  }

  private ctx(task: Task | undefined, taskrun: { id: string; value?: string; attemptsCount: number } | undefined): RenderContext {
    const vars: Record<string, unknown> = {
      flow: { id: this.flow.id, namespace: this.flow.namespace },
      execution: { id: this.exec.id },
      inputs: this.inputs,
      outputs: this.exec.taskOutputs,
    };
    if (this.o.trigger) vars.trigger = this.o.trigger;
    if (task) vars.task = { id: task.id, type: task.type };
    if (taskrun) vars.taskrun = taskrun.value === undefined ? { id: taskrun.id, attemptsCount: taskrun.attemptsCount } : taskrun;
    return { vars, kv: this.o.kv, secrets: this.o.secrets };
  }

  private setOutput(taskId: string, output: unknown, scope: Scope): void {
    if (!scope.values.length) {
      this.exec.taskOutputs[taskId] = output;
      return;
    }
    let node = (this.exec.taskOutputs[taskId] ??= {});
    for (const v of scope.values.slice(0, -1)) node = node[v] ??= {};
    node[scope.values[scope.values.length - 1]] = output;
  }

  async run(): Promise<Execution> {
    const root: Scope = { values: [] };
    let state = await this.runTasks(this.flow.tasks, root);
    if (state === "FAILED") {
      if (this.flow.errors?.length) await this.runTasks(this.flow.errors, root);
    } else {
      try {
        for (const output of this.flow.outputs ?? []) this.exec.outputs[output.id] = this.typed(output, render(String(output.value), this.ctx(undefined, undefined)));
      } catch (e) {
        if (e instanceof RehearsalError) throw e;
        state = "FAILED";
        this.exec.error = `flow output: ${(e as Error).message}`;
      }
    }
    this.exec.state = state;
    return this.exec;
  }

  private typed(output: any, text: string): unknown {
    if (output.type === "STRING") return text;
    if (output.type === "JSON") return JSON.parse(text);
    const n = Number(text);
    if (text.trim() === "" || Number.isNaN(n) || (output.type === "INT" && !Number.isInteger(n))) throw new Error(`output ${output.id}: "${text}" is not ${output.type}`);
    return n;
  }

  /** A list of tasks in order; stops at the first failure. */
  private async runTasks(tasks: Task[], scope: Scope): Promise<State> {
    let state: State = "SUCCESS";
    for (const task of tasks) {
      state = worst(state, await this.runTask(task, scope));
      if (state === "FAILED") return state;
    }
    return state;
  }

  private async runTask(task: Task, scope: Scope): Promise<State> {
    const taskrun = { id: kestraId(), value: scope.values.length ? scope.values[scope.values.length - 1] : undefined, attemptsCount: 0 };
    const record: TaskRunRecord = { taskId: task.id, type: task.type, state: "SUCCESS", attempts: 0 };
    if (taskrun.value !== undefined) record.value = taskrun.value;
    let state: State;
    // A flowable runs once (its iterations are its children's runs); a runnable counts its attempts.
    if (task.type in FLOWABLE) record.attempts = 1;
    switch (task.type) {
      case T.sequential:
        state = await this.withErrors(task, scope, () => this.runTasks(task.tasks, scope));
        break;
      case T.parallel:
        state = await this.withErrors(task, scope, () => this.parallel(task, task.tasks.map((child: Task) => () => this.runTask(child, scope)), task.concurrent ?? 0));
        break;
      case T.forEach:
        state = await this.withErrors(task, scope, () => this.forEach(task, taskrun, scope));
        break;
      case T.loopUntil:
        state = await this.withErrors(task, scope, () => this.loopUntil(task, taskrun, scope));
        break;
      default: {
        // A runnable task: attempts until one succeeds or retry.maxAttempts is reached (same taskrun id, as Kestra's RETRY_FAILED_TASK).
        const max = retryAttempts(task);
        state = "FAILED";
        for (let attempt = 1; attempt <= max; attempt++) {
          taskrun.attemptsCount = attempt;
          record.attempts = attempt;
          try {
            const output = await this.runnable(task, taskrun);
            if (output !== undefined) this.setOutput(task.id, output, scope);
            delete record.error;
            state = "SUCCESS";
            break;
          } catch (e) {
            if (e instanceof RehearsalError) throw e;
            record.error = `${(e as Error).name}: ${(e as Error).message}`;
            if (attempt < max) await sleep(this.o.pauseMs ?? 50);
          }
        }
      }
    }
    if (state === "FAILED" && task.allowFailure === true) state = "WARNING";
    record.state = state;
    this.exec.taskRuns.push(record);
    return state;
  }

  /** A flowable's children, then its `errors` branch if they failed; the flowable stays FAILED. */
  private async withErrors(task: Task, scope: Scope, body: () => Promise<State>): Promise<State> {
    let state: State;
    try {
      state = await body();
    } catch (e) {
      if (!(e instanceof TaskFailure || e instanceof UndefinedVariableError || e instanceof SyntaxError)) throw e;
      this.exec.logs.push({ taskId: task.id, level: "ERROR", message: (e as Error).message });
      state = "FAILED";
    }
    if (state === "FAILED" && task.errors?.length) await this.runTasks(task.errors, scope);
    return state;
  }

  private async parallel(task: Task, branches: (() => Promise<State>)[], limit: number): Promise<State> {
    let state: State = "SUCCESS";
    let inFlight = 0;
    let next = 0;
    const width = limit > 0 ? limit : branches.length;
    const lane = async () => {
      while (next < branches.length && state !== "FAILED") {
        const branch = branches[next++];
        inFlight++;
        this.exec.peakConcurrency[task.id] = Math.max(this.exec.peakConcurrency[task.id] ?? 0, inFlight);
        try {
          state = worst(state, await branch());
        } finally {
          inFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(width, branches.length) }, lane));
    return state;
  }

  private async forEach(task: Task, taskrun: { id: string; attemptsCount: number }, scope: Scope): Promise<State> {
    const rendered = typeof task.values === "string" ? JSON.parse(render(task.values, this.ctx(task, taskrun))) : renderDeep(task.values, this.ctx(task, taskrun));
    if (!Array.isArray(rendered)) throw new TaskFailure(`ForEach ${task.id}: values is not a list`);
    // Kestra hands each value to the iteration as a string, JSON for anything but a string.
    const values = rendered.map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
    const limit = task.concurrencyLimit ?? 1;
    return this.parallel(task, values.map((value) => () => this.runTasks(task.tasks, { values: [...scope.values, value] })), limit);
  }

  private async loopUntil(task: Task, taskrun: { id: string; attemptsCount: number }, scope: Scope): Promise<State> {
    const freq = task.checkFrequency ?? {};
    for (const key of Object.keys(freq)) if (!["interval", "maxDuration", "maxIterations"].includes(key)) throw new UnsupportedError(`LoopUntil ${task.id}: checkFrequency.${key}`);
    const maxMs = freq.maxDuration === undefined ? Infinity : isoDurationMs(freq.maxDuration);
    const cap = this.o.loopCapMs ?? 30_000;
    const started = Date.now();
    for (let iteration = 1; ; iteration++) {
      this.setOutput(task.id, { iterationCount: iteration }, scope);
      const state = await this.runTasks(task.tasks, scope);
      if (state === "FAILED") return state;
      if (truthy(render(String(task.condition), this.ctx(task, taskrun)))) return state;
      const elapsed = Date.now() - started;
      if ((freq.maxIterations !== undefined && iteration >= freq.maxIterations) || elapsed >= maxMs) {
        return task.failOnMaxReached === true ? "FAILED" : state;
      }
      if (elapsed >= cap) throw new RehearsalError(`LoopUntil ${task.id} did not meet its condition within the rehearsal's ${cap} ms`);
      await sleep(this.o.pauseMs ?? 50);
    }
  }

  /** One attempt of a runnable task; resolves to its outputs (undefined: none). */
  private async runnable(task: Task, taskrun: { id: string; value?: string; attemptsCount: number }): Promise<unknown> {
    const ctx = this.ctx(task, taskrun);
    switch (task.type) {
      case T.log:
        this.exec.logs.push({ taskId: task.id, level: task.level ?? "INFO", message: render(String(task.message), ctx) });
        return undefined;
      case T.ret:
        return { value: render(String(task.format), ctx) };
      case T.fail: {
        const fails = task.condition === undefined ? true : truthy(render(String(task.condition), ctx));
        if (fails) throw new TaskFailure(task.errorMessage === undefined ? "Task failure" : render(String(task.errorMessage), ctx));
        return undefined;
      }
      case T.request:
        return this.request(task, ctx);
      case T.commands:
        return this.commands(task, ctx);
      default:
        throw new UnsupportedError(`task type ${task.type}`);
    }
  }

  private async request(task: Task, ctx: RenderContext): Promise<unknown> {
    const uri = render(String(task.uri), ctx);
    const method = String(task.method ?? "GET");
    const headers = renderDeep(task.headers ?? {}, ctx) as Record<string, string>;
    if (task.contentType !== undefined) headers["content-type"] = String(task.contentType);
    const body = task.body === undefined ? undefined : render(String(task.body), ctx);
    const res = await fetch(uri, { method, headers, body, signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    // options.allowFailed is false by default: a 4xx/5xx answer fails the task.
    if (res.status >= 400) throw new TaskFailure(`${method} ${uri}: HTTP ${res.status} ${text.slice(0, 300)}`);
    return { uri, code: res.status, headers: Object.fromEntries(res.headers), body: text };
  }

  private async commands(task: Task, ctx: RenderContext): Promise<unknown> {
    const files = renderDeep(task.inputFiles ?? {}, ctx) as Record<string, unknown>;
    const env = renderDeep(task.env ?? {}, ctx) as Record<string, unknown>;
    const commands = renderDeep(task.commands, ctx);
    if (!Array.isArray(commands) || !commands.every((c) => typeof c === "string")) throw new UnsupportedError(`task ${task.id}: commands must be a list of strings`);
    for (const f of task.outputFiles ?? []) if (/[*?[\]{}]/.test(String(f))) throw new UnsupportedError(`task ${task.id}: outputFiles glob ${f}`);

    const dir = mkdtempSync(path.join(tmpdir(), `kestra-rehearsal-${task.id}-`));
    try {
      for (const [name, content] of Object.entries(files)) {
        if (typeof content !== "string" || name.includes("..") || path.isAbsolute(name)) throw new UnsupportedError(`task ${task.id}: inputFiles entry ${name}`);
        mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
        writeFileSync(path.join(dir, name), content);
      }
      const childEnv: Record<string, string> = {};
      for (const [k, v] of Object.entries(env)) {
        if (typeof v !== "string") throw new TaskFailure(`env ${k} is not a string`);
        childEnv[k] = v;
      }
      // Only the task's env and what the runner image provides (PATH with node and a2a-task), as in the container.
      childEnv.PATH = [this.o.binDir, path.dirname(process.execPath), "/usr/local/bin", "/usr/bin", "/bin"].join(":");
      childEnv.HOME = dir;
      childEnv.WORKING_DIR = dir;
      // Kestra's script tasks run `interpreter` (/bin/sh -c) over the commands joined by newlines, failing fast.
      const script = ["set -e", ...commands].join("\n");
      const { code, stdout, stderr } = await this.spawn(script, dir, childEnv);
      const vars: Record<string, unknown> = {};
      // Kestra reads `::{...}::` lines from both streams; every other line is a log line.
      for (const line of [...stdout, ...stderr]) {
        const m = /^::(\{.*\})::$/.exec(line);
        if (!m) continue;
        const msg = JSON.parse(m[1]);
        if (isMap(msg.outputs)) Object.assign(vars, msg.outputs);
        if (Array.isArray(msg.metrics)) this.exec.metrics.push(...msg.metrics.map((x: unknown) => ({ taskId: task.id, metric: x })));
      }
      if (code !== 0) throw new TaskFailure(`exit code ${code}: ${(stderr.length ? stderr : stdout).slice(-3).join(" | ")}`);
      const outputFiles: Record<string, string> = {};
      for (const name of task.outputFiles ?? []) {
        if (existsSync(path.join(dir, name))) outputFiles[name] = readFileSync(path.join(dir, name), "utf8");
      }
      return { exitCode: code, vars, outputFiles };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  private spawn(script: string, cwd: string, env: Record<string, string>): Promise<{ code: number; stdout: string[]; stderr: string[] }> {
    return new Promise((resolve, reject) => {
      const child = spawn("/bin/sh", ["-c", script], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
      runningProcesses.add(child);
      let out = "";
      let err = "";
      child.stdout!.on("data", (d) => (out += d));
      child.stderr!.on("data", (d) => (err += d));
      const limit = this.o.commandTimeoutMs ?? 60_000;
      let hung = false;
      const timer = setTimeout(() => {
        hung = true;
        child.kill("SIGKILL");
      }, limit);
      child.on("error", (e) => {
        clearTimeout(timer);
        runningProcesses.delete(child);
        reject(e);
      });
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        runningProcesses.delete(child);
        const lines = (text: string) => text.split("\n").filter((l) => l !== "");
        // A command that never ends is a bug to look at, not a task failure for retry to hide.
        if (hung) reject(new RehearsalError(`command still running after ${limit} ms, killed; stdout: ${out.slice(-2000)} stderr: ${err.slice(-2000)}`));
        else resolve({ code: code ?? (signal ? 128 : 1), stdout: lines(out), stderr: lines(err) });
      });
    });
  }
}

/** Runs a flow to its end; resolves to the execution. Rejects with UnsupportedError for anything outside the rehearsal's subset. */
export function runFlow(flow: Flow, options: RunOptions): Promise<Execution> {
  return new Runner(flow, options).run();
}
