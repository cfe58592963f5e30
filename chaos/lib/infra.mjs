/**
 * What the chaos suite breaks: a PostgreSQL cluster and a Redis server of its own on free ports
 * (so stopping them touches nothing else on the machine), and the service's processes (gateway,
 * workers, the operator CLI) started from agent-services/dist exactly as a deployment runs them.
 */
import { spawn, execFileSync } from "node:child_process";
import { chownSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const MAIN_JS = path.join(ROOT, "agent-services/dist/main.js");
export const CLI_JS = path.join(ROOT, "agent-services/dist/cli/main.js");
export const TEST_AGENT = path.join(ROOT, "agent-services/test/fixtures/test-agent.js");

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function log(...args) {
  console.log(`[chaos ${new Date().toISOString().slice(11, 23)}]`, ...args);
}

export { freePort } from "../../bench/lib/ports.mjs";

/** Polls `fn` until it returns something truthy; throws naming `what` after `timeoutMs`. */
export async function until(what, fn, timeoutMs = 30_000, everyMs = 100) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

function postgresBin() {
  try {
    return execFileSync("pg_config", ["--bindir"], { encoding: "utf8" }).trim();
  } catch {
    const base = "/usr/lib/postgresql";
    const versions = existsSync(base) ? readdirSync(base).sort((a, b) => Number(b) - Number(a)) : [];
    if (!versions.length) throw new Error("no PostgreSQL server binaries found (pg_config or /usr/lib/postgresql/<version>/bin)");
    return path.join(base, versions[0], "bin");
  }
}

/**
 * A throw-away cluster: initdb into the work directory, trust authentication on 127.0.0.1. As root
 * (CI), the server binaries run as the postgres user, since they refuse to run as root.
 */
export class PgCluster {
  constructor(workDir, port) {
    this.dir = path.join(workDir, "pgdata");
    this.sockDir = path.join(workDir, "pgsock");
    this.logFile = path.join(workDir, "postgres.log");
    this.port = port;
    this.bin = postgresBin();
    this.asRoot = process.getuid?.() === 0;
  }

  url(database = "postgres") {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  run(tool, args) {
    const cmd = path.join(this.bin, tool);
    const [file, argv] = this.asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
    return execFileSync(file, argv, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  }

  async init() {
    for (const d of [this.dir, this.sockDir]) mkdirSync(d, { recursive: true });
    if (this.asRoot) {
      const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
      const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
      for (const d of [path.dirname(this.dir), this.dir, this.sockDir]) chownSync(d, uid, gid);
      openSync(this.logFile, "a");
      chownSync(this.logFile, uid, gid);
    }
    this.run("initdb", ["-D", this.dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]);
    await this.start();
  }

  async start() {
    const opts = [
      `-p ${this.port}`,
      "-c listen_addresses=127.0.0.1",
      `-c unix_socket_directories=${this.sockDir}`,
      "-c max_connections=300",
      // A process crash keeps what the OS holds, so durability against power loss buys nothing here.
      "-c fsync=off",
      "-c full_page_writes=off",
    ].join(" ");
    this.run("pg_ctl", ["-D", this.dir, "-l", this.logFile, "-o", opts, "-w", "-t", "60", "start"]);
  }

  /** `immediate` is a crash: every backend killed, recovery from the WAL on the next start. */
  async stop(mode = "fast") {
    this.run("pg_ctl", ["-D", this.dir, "-m", mode, "-w", "-t", "60", "stop"]);
  }

  logTail(lines = 20) {
    try {
      return readFileSync(this.logFile, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }
}

/** A Redis with an append-only file, so stopping and starting it loses nothing, as in production. */
export class RedisServer {
  constructor(workDir, port) {
    this.dir = path.join(workDir, "redis");
    this.port = port;
    this.proc = undefined;
    mkdirSync(this.dir, { recursive: true });
  }

  url() {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start() {
    const out = openSync(path.join(this.dir, "redis.log"), "a");
    this.proc = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--dir", this.dir, "--save", "", "--appendonly", "yes", "--appendfsync", "everysec"], { stdio: ["ignore", out, out] });
    const proc = this.proc;
    proc.exited = new Promise((resolve) => proc.once("exit", resolve));
    await until("Redis to accept connections", () => canConnect(this.port), 15_000, 50);
  }

  async stop() {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    proc.kill("SIGTERM");
    await proc.exited;
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => resolve(false));
  });
}

/**
 * One service process (`node agent-services/dist/main.js`), its output in a log file. `exit` is
 * set when it ends; the suite fails if a process it did not kill ends.
 */
export class Service {
  constructor(name, env, workDir) {
    this.name = name;
    this.env = env;
    this.logFile = path.join(workDir, `${name}.log`);
    this.proc = undefined;
    this.exit = null;
    this.killedOnPurpose = false;
  }

  get pid() {
    return this.proc?.pid;
  }

  get url() {
    return `http://127.0.0.1:${this.env.PORT}`;
  }

  async start() {
    const out = openSync(this.logFile, "a");
    this.exit = null;
    this.killedOnPurpose = false;
    this.proc = spawn(process.execPath, [MAIN_JS], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...this.env }, stdio: ["ignore", out, out] });
    const proc = this.proc;
    proc.exited = new Promise((resolve) => proc.once("exit", (code, signal) => {
      this.exit = { code, signal };
      resolve(this.exit);
    }));
    await until(`${this.name} to answer /health`, async () => {
      if (this.exit) throw new Error(`${this.name} exited (${JSON.stringify(this.exit)}) while starting:\n${this.logTail()}`);
      const res = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200;
    }, 60_000);
  }

  /** Throws if the process ended without the suite killing it. */
  assertAlive() {
    if (this.exit && !this.killedOnPurpose) throw new Error(`${this.name} (pid ${this.pid}) exited on its own: ${JSON.stringify(this.exit)}\n${this.logTail()}`);
  }

  async kill(signal = "SIGKILL") {
    if (!this.proc || this.exit) return;
    this.killedOnPurpose = true;
    this.proc.kill(signal);
    await this.proc.exited;
  }

  logTail(lines = 30) {
    try {
      return readFileSync(this.logFile, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }
}

/** The operator CLI with the deployment's environment; parsed JSON (or the raw text) of stdout. */
export function cli(env, args) {
  const out = execFileSync(process.execPath, [CLI_JS, ...args], { cwd: ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, encoding: "utf8", timeout: 60_000 });
  try {
    return JSON.parse(out);
  } catch {
    return out.trim();
  }
}
