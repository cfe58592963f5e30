"use strict";
/**
 * a2a-task: runs one DealScale A2A task from a Kestra script task (io.kestra.plugin.scripts.node.Commands).
 *
 * Creates the task over the REST task API, follows it over SSE (reconnecting with Last-Event-ID,
 * reading it with GET now and then so a stream that misses the end cannot hang it, polling GET when
 * streaming is unavailable), prints progress as plain log lines, and on completion
 * emits the outputs and metrics with Kestra's `::{...}::` protocol (@kestra-io/libs). Failure, cancel
 * and timeout exit non-zero so Kestra's retry and errors handling apply; SIGTERM cancels the task.
 */
const fs = require("node:fs");
const path = require("node:path");
const { parseArgs } = require("node:util");
const Kestra = require("@kestra-io/libs");
const { A2AClient, A2AError } = require("@dealscale/a2a-client");

/** Exit codes, documented in --help. */
const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  CANCELLED: 3,
  TIMEOUT: 4,
  REFUSED: 5,
  UNREACHABLE: 6,
  SIGINT: 130,
  SIGTERM: 143,
};

const DEFAULT_MAX_VARS_BYTES = 64 * 1024;
const DEFAULT_OUTPUTS_FILE = "a2a-outputs.json";
const DEFAULT_RESULTS_FILE = "a2a-results.jsonl";
/** Ends after which another attempt under the same idempotency key runs the task again. */
const RETRYABLE_END = new Set(["failed", "cancelled", "timeout"]);
/** How many tasks one idempotency key can stand for (K, K~2, ... K~N): Kestra retries are fewer. */
const MAX_KEY_ATTEMPTS = 100;

const HELP = `Usage: a2a-task --agent AGENT --capability CAP --inputs JSON [options]

Runs one DealScale A2A task and follows it to the end. Made for Kestra's
io.kestra.plugin.scripts.node.Commands task (Process or Docker task runner).

Required (flag, or environment variable):
  --agent AGENT              agent id, e.g. data-engineer                       (A2A_AGENT)
  --capability CAP           capability (task type), e.g. enrichLeads           (A2A_CAPABILITY)
  --gateway URL              gateway base URL, e.g. http://dealscale:8080       (A2A_GATEWAY_URL)
  --token JWT                bearer token with scope a2a:call; the task runs
                             for the token's tenant                             (A2A_TOKEN)

Options:
  --tenant ID                the tenant the task must run for: sent with the
                             request, so a token of another tenant is refused
                             (exit 5) instead of running there                  (A2A_TENANT)
  --inputs JSON              the capability's inputs as a JSON object, as Kestra
                             renders "{{ ... | toJson }}" (default {})          (A2A_INPUTS)
  --inputs-file PATH         read the inputs JSON from a file instead
  --priority N               1-10, 10 most urgent (default: the service's, 5)   (A2A_PRIORITY)
  --idempotency-key K        use "{{ taskrun.id }}": a Kestra retry or restart
                             joins the earlier attempt's task while it runs or
                             once it completed (no second charge); after it
                             failed, was cancelled or timed out, the task runs
                             again under the key K~2 (K~3, ...)                 (A2A_IDEMPOTENCY_KEY)
  --timeout T                give up after T: ISO 8601 duration (PT90S, PT5M,
                             P1DT2H) or seconds (90); the task is cancelled     (A2A_TIMEOUT)
  --max-vars-bytes N         outputs larger than N bytes (serialized JSON) are
                             written to the outputs file instead of vars
                             (default ${DEFAULT_MAX_VARS_BYTES})                (A2A_MAX_VARS_BYTES)
  --outputs-file NAME        the outputs file, in the working directory
                             (default ${DEFAULT_OUTPUTS_FILE}); list it in the
                             Kestra task's outputFiles                          (A2A_OUTPUTS_FILE)
  --results-file NAME        when the task's result is read in pages (outputs.resultSet:
                             a whole-tenant dedupe's clusters, a whole-tenant lookalike's
                             scores), every row is fetched and written here, one JSON
                             object per line (default ${DEFAULT_RESULTS_FILE}); list it
                             in outputFiles                                      (A2A_RESULTS_FILE)
  --no-results               do not fetch result pages (outputs keep the first page)
  --poll-interval SECONDS    polling interval when streaming is unavailable (default 1)
  --no-stream                do not use SSE; poll GET .../tasks/:taskId
  -h, --help                 this help

Output (stdout):
  Progress is printed as plain log lines ("a2a-task: ..."). On completion one
  Kestra outputs line is printed:
    ::{"outputs":{"taskId":"...","agent":"...","capability":"...","status":"completed",
                  "creditsUsed":1.5,"durationMs":1234,"result":{...the task outputs...}}}::
  so a flow reads {{ outputs.<taskId>.vars.result.<key> }}. When the result is
  larger than --max-vars-bytes, "result" is left out and "outputsFile" names the
  file holding it ({"taskId",...,"outputs":{...}}); read it with
  {{ outputs.<taskId>.outputFiles['${DEFAULT_OUTPUTS_FILE}'] }}. When the outputs carry a
  resultSet (the first page of a larger result), every row is also written to the
  results file and vars gain "resultsFile" and "resultsCount".
  Metrics (Kestra metrics lines): timer a2a.duration (seconds), counter
  a2a.credits_used, both tagged with agent and capability.

Exit codes:
  0    the task completed
  1    the task failed (the error code and message are printed)
  2    bad arguments (usage error)
  3    the task was cancelled (by someone else)
  4    timed out: --timeout passed (the task is cancelled) or the task passed its SLA
  5    the gateway refused the request (invalid inputs, auth, credits, unknown agent...)
  6    the gateway could not be reached
  130  SIGINT, 143 SIGTERM: the task is cancelled, then a2a-task exits
`;

class UsageError extends Error {}

/** A refusal by the gateway (an HTTP answer), as opposed to no answer at all. */
const refused = (e) => e instanceof A2AError && e.status !== undefined;

/** Plain Kestra log line (INFO); never framed as `::...::`. */
function log(message) {
  let line = String(message).replace(/[\r\n\u0085\u2028\u2029]+/g, " ");
  process.stdout.write(`a2a-task: ${line}\n`);
}
function logError(message) {
  const line = String(message).replace(/[\r\n\u0085\u2028\u2029]+/g, " ");
  process.stderr.write(`a2a-task: ${line}\n`);
}

/**
 * Parses an ISO 8601 duration (PnDTnHnMnS, PnW) or a number of seconds into milliseconds.
 * @param {string} text
 * @returns {number}
 */
function parseDuration(text) {
  const s = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const m = /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(s);
  if (!m || s.toUpperCase() === "P" || /T$/i.test(s)) throw new UsageError(`--timeout: "${text}" is neither an ISO 8601 duration (PT90S) nor seconds`);
  const [, w, d, h, min, sec] = m.map((x) => (x === undefined ? 0 : Number(x)));
  return Math.round(((((w * 7 + d) * 24 + h) * 60 + min) * 60 + sec) * 1000);
}

/**
 * Reads the arguments and the environment into options.
 * @param {string[]} argv
 * @param {Record<string, string | undefined>} env
 */
function parseOptions(argv, env) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        agent: { type: "string" },
        capability: { type: "string" },
        inputs: { type: "string" },
        "inputs-file": { type: "string" },
        priority: { type: "string" },
        "idempotency-key": { type: "string" },
        timeout: { type: "string" },
        gateway: { type: "string" },
        token: { type: "string" },
        tenant: { type: "string" },
        "max-vars-bytes": { type: "string" },
        "outputs-file": { type: "string" },
        "results-file": { type: "string" },
        "no-results": { type: "boolean" },
        "poll-interval": { type: "string" },
        "no-stream": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (e) {
    throw new UsageError(/** @type {Error} */ (e).message);
  }
  const v = parsed.values;
  if (v.help) return { help: true };
  const pick = (flag, name) => {
    const x = v[flag] !== undefined ? v[flag] : env[name];
    return x === undefined || x === "" ? undefined : String(x);
  };
  const agent = pick("agent", "A2A_AGENT");
  const capability = pick("capability", "A2A_CAPABILITY");
  const gateway = pick("gateway", "A2A_GATEWAY_URL");
  const token = pick("token", "A2A_TOKEN");
  if (!agent) throw new UsageError("--agent (or A2A_AGENT) is required");
  if (!capability) throw new UsageError("--capability (or A2A_CAPABILITY) is required");
  if (!gateway) throw new UsageError("--gateway (or A2A_GATEWAY_URL) is required");
  if (!token) throw new UsageError("--token (or A2A_TOKEN) is required");
  try {
    new URL(gateway);
  } catch {
    throw new UsageError(`--gateway: "${gateway}" is not a URL`);
  }

  let inputsText = pick("inputs", "A2A_INPUTS");
  if (v["inputs-file"] !== undefined) {
    if (v.inputs !== undefined) throw new UsageError("give --inputs or --inputs-file, not both");
    try {
      inputsText = fs.readFileSync(String(v["inputs-file"]), "utf8");
    } catch (e) {
      throw new UsageError(`--inputs-file: ${/** @type {Error} */ (e).message}`);
    }
  }
  let inputs = {};
  if (inputsText !== undefined) {
    try {
      inputs = JSON.parse(inputsText);
    } catch (e) {
      throw new UsageError(`--inputs is not valid JSON: ${/** @type {Error} */ (e).message}`);
    }
    if (inputs === null || typeof inputs !== "object" || Array.isArray(inputs)) throw new UsageError("--inputs must be a JSON object");
  }

  let priority;
  const p = pick("priority", "A2A_PRIORITY");
  if (p !== undefined) {
    if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 10) throw new UsageError(`--priority must be an integer from 1 to 10, got "${p}"`);
    priority = Number(p);
  }
  const t = pick("timeout", "A2A_TIMEOUT");
  const timeoutMs = t === undefined ? undefined : parseDuration(t);
  if (timeoutMs !== undefined && timeoutMs <= 0) throw new UsageError("--timeout must be positive");

  const mv = pick("max-vars-bytes", "A2A_MAX_VARS_BYTES");
  if (mv !== undefined && !/^\d+$/.test(mv)) throw new UsageError(`--max-vars-bytes must be a whole number, got "${mv}"`);
  const outputsFile = pick("outputs-file", "A2A_OUTPUTS_FILE") || DEFAULT_OUTPUTS_FILE;
  if (outputsFile.includes("/") || outputsFile.includes("\\") || outputsFile.startsWith(".")) {
    throw new UsageError("--outputs-file must be a plain file name in the working directory");
  }
  const resultsFile = pick("results-file", "A2A_RESULTS_FILE") || DEFAULT_RESULTS_FILE;
  if (resultsFile.includes("/") || resultsFile.includes("\\") || resultsFile.startsWith(".")) {
    throw new UsageError("--results-file must be a plain file name in the working directory");
  }
  const pi = v["poll-interval"] !== undefined ? String(v["poll-interval"]) : "1";
  if (!/^\d+(\.\d+)?$/.test(pi) || Number(pi) <= 0) throw new UsageError(`--poll-interval must be a positive number of seconds, got "${pi}"`);

  return {
    help: false,
    agent,
    capability,
    gateway: gateway.replace(/\/+$/, ""),
    token,
    tenant: pick("tenant", "A2A_TENANT"),
    inputs,
    priority,
    idempotencyKey: pick("idempotency-key", "A2A_IDEMPOTENCY_KEY"),
    timeoutMs,
    maxVarsBytes: mv === undefined ? DEFAULT_MAX_VARS_BYTES : Number(mv),
    outputsFile,
    resultsFile: v["no-results"] ? undefined : resultsFile,
    pollIntervalMs: Math.round(Number(pi) * 1000),
    stream: !v["no-stream"],
  };
}

/**
 * Writes every row of a completed task's result set to `file`, one JSON object per line, a page at
 * a time. Returns the number of rows.
 * @param {A2AClient} client
 * @param {string} taskId
 * @param {string} agent
 * @param {string} file
 */
async function writeResultRows(client, taskId, agent, file) {
  const fd = fs.openSync(file, "w");
  let rows = 0;
  try {
    let cursor;
    do {
      const page = await client.resultPage(taskId, { agentId: agent, cursor });
      const items = Array.isArray(page.items) ? page.items : [];
      if (items.length) fs.writeSync(fd, items.map((x) => JSON.stringify(x)).join("\n") + "\n");
      rows += items.length;
      cursor = page.nextCursor || undefined;
    } while (cursor);
  } finally {
    fs.closeSync(fd);
  }
  return rows;
}

/**
 * Runs the CLI; resolves to the exit code.
 * @param {string[]} argv
 * @param {{env?: Record<string, string|undefined>, cwd?: string, signals?: boolean}} [ctx]
 * @returns {Promise<number>}
 */
async function main(argv, ctx = {}) {
  const env = ctx.env || process.env;
  const cwd = ctx.cwd || process.cwd();
  let o;
  try {
    o = parseOptions(argv, env);
  } catch (e) {
    if (e instanceof UsageError) {
      logError(`${e.message}`);
      logError("run a2a-task --help for the usage");
      return EXIT.USAGE;
    }
    throw e;
  }
  if (o.help) {
    process.stdout.write(HELP);
    return EXIT.OK;
  }

  // 429s surface at once: Kestra's own retry owns the waiting.
  const client = new A2AClient({ baseUrl: o.gateway, token: o.token, rateLimitRetries: 0 });
  const started = Date.now();
  /** @type {string | undefined} */
  let taskId;
  /** Aborts whatever is in flight when the run ends early (timeout, signal). */
  const stop = new AbortController();
  /** @type {{code: number, reason: string} | undefined} */
  let stopped;

  const cancelTask = async (reason) => {
    if (!taskId) return;
    try {
      const r = await client.cancelTask(taskId, reason, { agentId: o.agent, signal: AbortSignal.timeout(10_000) });
      log(`cancelled task ${taskId} (status ${r && r.status ? r.status : "cancelled"})`);
    } catch (e) {
      // 409: it had finished already.
      logError(`could not cancel task ${taskId}: ${/** @type {Error} */ (e).message}`);
    }
  };

  const halt = (code, reason) => {
    if (stopped) return;
    stopped = { code, reason };
    stop.abort(new Error(reason));
  };
  let timer;
  if (o.timeoutMs !== undefined) timer = setTimeout(() => halt(EXIT.TIMEOUT, `timed out after ${o.timeoutMs / 1000} s (--timeout)`), o.timeoutMs);
  const onSigterm = () => halt(EXIT.SIGTERM, "received SIGTERM");
  const onSigint = () => halt(EXIT.SIGINT, "received SIGINT");
  if (ctx.signals !== false) {
    process.on("SIGTERM", onSigterm);
    process.on("SIGINT", onSigint);
  }

  try {
    // 1. Create.
    const body = { agentId: o.agent, type: o.capability, inputs: o.inputs };
    if (o.priority !== undefined) body.priority = o.priority;
    if (o.idempotencyKey !== undefined) body.idempotencyKey = o.idempotencyKey;
    if (o.tenant !== undefined) body.tenantId = o.tenant;
    let created;
    try {
      // Not aborted by `stop`: a task created while we stop must still be known to be cancelled.
      created = await client.createTask(body, { signal: AbortSignal.timeout(30_000) });
      // A Kestra retry or restart keeps the task run id, so the key first returns the earlier
      // attempt's task. Joining it is right while it runs or once it completed (no second charge);
      // after it failed, was cancelled or timed out, this attempt must run the task again, under the
      // next free derivation of the key (deterministic, so a later attempt finds it too).
      for (let n = 2; o.idempotencyKey !== undefined && RETRYABLE_END.has(created.status); n++) {
        if (n > MAX_KEY_ATTEMPTS) throw new A2AError(`idempotency key "${o.idempotencyKey}" already stands for ${MAX_KEY_ATTEMPTS} tasks that did not complete`, { status: 409 });
        log(`task ${created.taskId} of an earlier attempt (idempotency key ${body.idempotencyKey}) ended ${created.status}; running it again`);
        body.idempotencyKey = `${o.idempotencyKey}~${n}`;
        created = await client.createTask(body, { signal: AbortSignal.timeout(30_000) });
      }
    } catch (e) {
      if (refused(e)) {
        logError(`the gateway refused the task: ${e.message}`);
        return EXIT.REFUSED;
      }
      logError(`cannot reach the gateway at ${o.gateway}: ${describe(e)}`);
      return EXIT.UNREACHABLE;
    }
    taskId = created.taskId;
    log(`task ${taskId} ${created.status} on ${o.agent}/${o.capability} (credits reserved ${created.creditsReserved})`);

    // 2. Follow.
    let final;
    try {
      if (!stopped) final = await follow(o, client, taskId, stop.signal);
    } catch (e) {
      if (!stopped) {
        logError(`cannot follow task ${taskId}: ${describe(e)}`);
        return refused(e) ? EXIT.REFUSED : EXIT.UNREACHABLE;
      }
    }
    if (stopped || !final) {
      const s = stopped || { code: EXIT.FAILED, reason: "stopped" };
      logError(`${s.reason}: cancelling task ${taskId}`);
      await cancelTask(`a2a-task: ${s.reason}`);
      return s.code;
    }

    // 3. Report.
    const durationMs = Date.now() - started;
    const tags = { agent: o.agent, capability: o.capability };
    const creditsUsed = Number(final.creditsUsed || 0);
    Kestra.timer("a2a.duration", durationMs / 1000, tags);
    Kestra.counter("a2a.credits_used", creditsUsed, tags);
    if (final.status === "completed") {
      const vars = { taskId, agent: o.agent, capability: o.capability, status: final.status, creditsUsed, durationMs };
      const result = final.outputs === undefined ? null : final.outputs;
      if (result && result.resultSet && o.resultsFile) {
        try {
          vars.resultsCount = await writeResultRows(client, taskId, o.agent, path.join(cwd, o.resultsFile));
          vars.resultsFile = o.resultsFile;
          log(`${vars.resultsCount} result rows written to ${o.resultsFile}`);
        } catch (e) {
          logError(`cannot read the result pages of task ${taskId}: ${describe(e)}`);
          return refused(e) ? EXIT.REFUSED : EXIT.UNREACHABLE;
        }
      }
      const serialized = JSON.stringify(result);
      if (Buffer.byteLength(serialized) > o.maxVarsBytes) {
        const file = path.join(cwd, o.outputsFile);
        fs.writeFileSync(file, JSON.stringify({ ...vars, outputs: result }));
        log(`outputs (${Buffer.byteLength(serialized)} bytes) written to ${o.outputsFile}`);
        Kestra.outputs({ ...vars, outputsFile: o.outputsFile, outputsBytes: Buffer.byteLength(serialized) });
      } else {
        Kestra.outputs({ ...vars, result });
      }
      log(`task ${taskId} completed in ${(durationMs / 1000).toFixed(1)} s, ${creditsUsed} credits used`);
      return EXIT.OK;
    }
    const err = final.error || {};
    const what = `${err.code || final.status}: ${err.message || "no message"}`;
    if (final.status === "cancelled") {
      logError(`task ${taskId} was cancelled (${what})`);
      return EXIT.CANCELLED;
    }
    if (final.status === "timeout") {
      logError(`task ${taskId} timed out on the service (${what})`);
      return EXIT.TIMEOUT;
    }
    logError(`task ${taskId} failed: ${what}`);
    return EXIT.FAILED;
  } finally {
    clearTimeout(timer);
    if (ctx.signals !== false) {
      process.off("SIGTERM", onSigterm);
      process.off("SIGINT", onSigint);
    }
  }
}

function describe(e) {
  const err = /** @type {any} */ (e);
  const cause = err && err.cause ? `: ${err.cause.code || err.cause.message || err.cause}` : "";
  return `${err && err.message ? err.message : err}${cause}`;
}

/**
 * Follows a task to its end with the client's waitForTask (SSE with Last-Event-ID, GET checks,
 * polling after repeated stream failures or with --no-stream), logging progress as it goes.
 * Resolves to the final task view; rejects with the signal's reason when it aborts.
 * @param {A2AClient} client
 */
function follow(o, client, taskId, signal) {
  let lastProgress = -1;
  return client.waitForTask(taskId, {
    agentId: o.agent,
    signal,
    stream: o.stream,
    pollIntervalMs: o.pollIntervalMs,
    onUpdate: ({ status, progress, message }) => {
      if (typeof progress === "number" && progress !== lastProgress) {
        lastProgress = progress;
        log(`task ${taskId} ${status || "working"} ${progress}%${message ? ` ${message}` : ""}`);
      } else if (status) log(`task ${taskId} ${status}`);
    },
    onNotice: (level, message) => (level === "info" ? log(message) : logError(message)),
  });
}

module.exports = { main, parseOptions, parseDuration, EXIT, HELP, UsageError };
