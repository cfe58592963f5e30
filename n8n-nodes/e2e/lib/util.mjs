/**
 * Small pieces the e2e runner and the n8n benchmark share: step lines, checks, polling, free ports,
 * child processes with their output in log files, and cleanup that also runs on failure and signals.
 */
import { spawn } from "node:child_process";
import { createWriteStream, readFileSync, existsSync } from "node:fs";
import net from "node:net";

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s`;

export function log(message) {
  console.log(`[${elapsed()}] ${message}`);
}

export class CheckError extends Error {}

let checks = 0;
/** One assertion; a failure stops the run with the message (and what was seen). */
export function check(condition, message, seen) {
  checks++;
  if (!condition) {
    const detail = seen === undefined ? "" : `\n    seen: ${typeof seen === "string" ? seen : JSON.stringify(seen)?.slice(0, 2000)}`;
    throw new CheckError(`check failed: ${message}${detail}`);
  }
  log(`  ok  ${message}`);
}
export const checkCount = () => checks;

/** Runs one named step, printing its start, its duration and its outcome. */
export async function step(name, fn) {
  log(`==> ${name}`);
  const t0 = Date.now();
  try {
    const result = await fn();
    log(`<== ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return result;
  } catch (e) {
    log(`FAILED ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    throw e;
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns something truthy; the error names `what` and the last value. */
export async function waitFor(what, probe, { timeoutMs = 30_000, intervalMs = 250 } = {}) {
  const until = Date.now() + timeoutMs;
  let last;
  let lastError;
  while (Date.now() < until) {
    try {
      last = await probe();
      lastError = undefined;
      if (last) return last;
    } catch (e) {
      lastError = e;
    }
    await sleep(intervalMs);
  }
  const tail = lastError ? `; last error: ${lastError.message}` : `; last value: ${JSON.stringify(last)?.slice(0, 500)}`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${tail}`);
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Cleanups run in reverse order of registration, once, on success, failure, SIGINT and SIGTERM. */
const cleanups = [];
let cleaning;
export function onCleanup(name, fn) {
  cleanups.push({ name, fn });
}
export function runCleanups() {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const { name, fn } = cleanups.pop();
      try {
        await fn();
      } catch (e) {
        console.error(`cleanup "${name}" failed: ${e.message}`);
      }
    }
  })();
  return cleaning;
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    runCleanups().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  });
}

/** The last `lines` lines of a log file, for failure messages. */
export function tailFile(file, lines = 40) {
  if (!existsSync(file)) return "";
  return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
}

/**
 * Runs a command to completion with its output captured; rejects with the output's tail when the
 * exit code is not 0 (unless `allowFailure`).
 */
export function run(cmd, args, { cwd, env, allowFailure = false, input, logFile } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["pipe", "pipe", "pipe"] });
    const out = [];
    const err = [];
    const sink = logFile ? createWriteStream(logFile, { flags: "a" }) : undefined;
    child.stdout.on("data", (d) => {
      out.push(d);
      sink?.write(d);
    });
    child.stderr.on("data", (d) => {
      err.push(d);
      sink?.write(d);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      sink?.end();
      const stdout = Buffer.concat(out).toString("utf8");
      const stderr = Buffer.concat(err).toString("utf8");
      if (code !== 0 && !allowFailure) {
        const tail = (stdout + "\n" + stderr).trim().split("\n").slice(-30).join("\n");
        return reject(new Error(`${cmd} ${args.join(" ")} exited with ${code ?? signal}:\n${tail}`));
      }
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin.end(input ?? "");
  });
}

/**
 * Starts a long-running process in its own process group (so its children, such as n8n's task
 * runner, stop with it), output appended to `logFile`. `stop()` sends SIGTERM to the group and
 * SIGKILL after `graceMs`.
 */
export function startProcess(name, cmd, args, { cwd, env, logFile, onLine } = {}) {
  const sink = createWriteStream(logFile, { flags: "a" });
  const child = spawn(cmd, args, { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  let buffered = "";
  const feed = (d) => {
    sink.write(d);
    if (!onLine) return;
    buffered += d.toString("utf8");
    let i;
    while ((i = buffered.indexOf("\n")) >= 0) {
      onLine(buffered.slice(0, i));
      buffered = buffered.slice(i + 1);
    }
  };
  child.stdout.on("data", feed);
  child.stderr.on("data", feed);
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  let stopping;
  const proc = {
    name,
    child,
    logFile,
    exited,
    get running() {
      return child.exitCode === null && child.signalCode === null;
    },
    stop(graceMs = 15_000) {
      stopping ??= (async () => {
        if (proc.running) {
          try {
            process.kill(-child.pid, "SIGTERM");
          } catch {
            /* the group is already gone */
          }
          const killer = setTimeout(() => {
            try {
              process.kill(-child.pid, "SIGKILL");
            } catch {
              /* the group is already gone */
            }
          }, graceMs);
          await exited;
          clearTimeout(killer);
        }
        await new Promise((resolve) => sink.end(resolve));
      })();
      return stopping;
    },
  };
  return proc;
}

/** p-th percentile (0-100) of numbers, nearest rank. */
export function percentile(values, p) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}
