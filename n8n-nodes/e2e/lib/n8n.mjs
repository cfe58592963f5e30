/**
 * A real n8n for the e2e run and the benchmark: the node package built and packed, installed into a
 * fresh n8n user folder the way users install a community package by hand
 * (`npm install <package>` in ~/.n8n/nodes, which n8n scans at start), n8n's CLI for imports and
 * publishing, `n8n start` on Node 24 with everything that calls home switched off, and read access
 * to its executions (SQLite, the default database).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { log, onCleanup, run, startProcess, tailFile, waitFor } from "./util.mjs";

export const NODES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const PACKAGE_NAME = "n8n-nodes-dealscale-a2a";
export const AGENT_TYPE = `${PACKAGE_NAME}.a2aAgent`;
export const TRIGGER_TYPE = `${PACKAGE_NAME}.a2aTrigger`;
const DB_QUERY = path.join(path.dirname(fileURLToPath(import.meta.url)), "n8n-db-query.mjs");

/** `npm run build` and `npm pack` in n8n-nodes/: the tarball a registry would serve. */
export async function buildAndPack(workDir) {
  const logFile = path.join(workDir, "nodes-build.log");
  await run("npm", ["run", "build"], { cwd: NODES_DIR, logFile });
  const { stdout } = await run("npm", ["pack", "--json", "--pack-destination", workDir], { cwd: NODES_DIR });
  const [packed] = JSON.parse(stdout);
  return { tarball: path.join(workDir, packed.filename), files: packed.files.map((f) => f.path), version: packed.version };
}

/**
 * A new n8n user folder with the package installed in <folder>/.n8n/nodes. Peer dependencies are
 * not installed (n8n provides n8n-workflow to community nodes), nor are install scripts run: the
 * same as n8n's own installer, which strips peer dependencies and passes --ignore-scripts.
 */
export async function createUserFolder(workDir, tarball) {
  const userFolder = path.join(workDir, "n8n-home");
  const nodesDir = path.join(userFolder, ".n8n", "nodes");
  mkdirSync(nodesDir, { recursive: true });
  writeFileSync(path.join(nodesDir, "package.json"), JSON.stringify({ name: "installed-nodes", private: true, dependencies: {} }, null, 2) + "\n");
  await run("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--legacy-peer-deps", "--omit=dev", tarball], {
    cwd: nodesDir,
    logFile: path.join(workDir, "nodes-install.log"),
  });
  const installed = path.join(nodesDir, "node_modules", PACKAGE_NAME, "package.json");
  if (!existsSync(installed)) throw new Error(`${PACKAGE_NAME} is not in ${nodesDir}/node_modules after npm install`);
  return userFolder;
}

export class N8n {
  /**
   * @param {object} o
   * @param {ReturnType<import("./cache.mjs").paths>} o.paths  the cache (Node 24, n8n)
   * @param {string} o.userFolder  N8N_USER_FOLDER
   * @param {string} o.workDir  where logs go
   * @param {number} o.port  n8n's HTTP port (editor, REST, webhooks)
   * @param {number} o.brokerPort  the task-runner broker's port of `n8n start`
   */
  constructor({ paths, userFolder, workDir, port, brokerPort }) {
    this.paths = paths;
    this.userFolder = userFolder;
    this.workDir = workDir;
    this.port = port;
    this.brokerPort = brokerPort;
    this.url = `http://127.0.0.1:${port}`;
    this.encryptionKey = randomBytes(24).toString("hex");
    this.dbFile = path.join(userFolder, ".n8n", "database.sqlite");
    // n8n's temporary files (data-table uploads, ...) stay in the work folder, removed with it.
    this.tmpDir = path.join(workDir, "n8n-tmp");
    mkdirSync(this.tmpDir, { recursive: true });
    this.server = null;
  }

  /** The environment of every n8n process of this instance. */
  env(extra = {}) {
    return {
      PATH: `${path.dirname(this.paths.node)}${path.delimiter}${process.env.PATH}`,
      HOME: process.env.HOME,
      TZ: "UTC",
      TMPDIR: this.tmpDir,
      N8N_USER_FOLDER: this.userFolder,
      N8N_ENCRYPTION_KEY: this.encryptionKey,
      N8N_PORT: String(this.port),
      N8N_LISTEN_ADDRESS: "127.0.0.1",
      N8N_HOST: "127.0.0.1",
      N8N_PROTOCOL: "http",
      // Base of webhook URLs, of $execution.resumeUrl and of the URLs the A2A Trigger subscribes.
      N8N_WEBHOOK_URL: `${this.url}/`,
      N8N_RUNNERS_BROKER_PORT: String(this.brokerPort),
      N8N_COMMUNITY_PACKAGES_ENABLED: "true",
      N8N_UNVERIFIED_PACKAGES_ENABLED: "true",
      N8N_LOG_LEVEL: "info",
      N8N_LOG_OUTPUT: "console",
      N8N_SECURE_COOKIE: "false",
      // Nothing calls home: no telemetry, version checks, templates, banners or AI services.
      N8N_DIAGNOSTICS_ENABLED: "false",
      N8N_VERSION_NOTIFICATIONS_ENABLED: "false",
      N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENABLED: "false",
      N8N_TEMPLATES_ENABLED: "false",
      N8N_PERSONALIZATION_ENABLED: "false",
      N8N_DYNAMIC_BANNERS_ENABLED: "false",
      N8N_HIRING_BANNER_ENABLED: "false",
      N8N_AI_ENABLED: "false",
      N8N_MCP_ACCESS_ENABLED: "false",
      // The list of n8n-verified packages and the MCP server registry come from api.n8n.io.
      N8N_VERIFIED_PACKAGES_ENABLED: "false",
      N8N_DISABLED_MODULES: "mcp-registry",
      // Executions are read from the database afterwards: keep all of them, prune none during the run.
      EXECUTIONS_DATA_SAVE_ON_SUCCESS: "all",
      EXECUTIONS_DATA_SAVE_ON_ERROR: "all",
      EXECUTIONS_DATA_SAVE_MANUAL_EXECUTIONS: "true",
      EXECUTIONS_DATA_PRUNE: "false",
      ...extra,
    };
  }

  /** Runs `n8n <args>` on Node 24 to completion. */
  async cli(args, { extraEnv = {}, allowFailure = false } = {}) {
    const logFile = path.join(this.workDir, "n8n-cli.log");
    writeFileSync(logFile, `\n$ n8n ${args.join(" ")}\n`, { flag: "a" });
    return run(this.paths.node, [this.paths.n8nBin, ...args], { env: this.env(extraEnv), logFile, allowFailure });
  }

  /** Credentials with plain `data`; n8n encrypts them with this instance's key on import. */
  async importCredentials(credentials) {
    const file = path.join(this.workDir, "credentials.json");
    writeFileSync(file, JSON.stringify(credentials, null, 2));
    await this.cli(["import:credentials", `--input=${file}`]);
  }

  /** Every *.json workflow file of each directory. */
  async importWorkflows(dir) {
    await this.cli(["import:workflow", "--separate", `--input=${dir}`]);
  }

  /** Publishing is what activates a workflow in n8n 2.x; it takes effect at the next start. */
  async publish(workflowId) {
    await this.cli(["publish:workflow", `--id=${workflowId}`]);
  }

  async start() {
    const logFile = path.join(this.workDir, "n8n.log");
    let ready = false;
    const proc = startProcess("n8n", this.paths.node, [this.paths.n8nBin, "start"], {
      env: this.env(),
      logFile,
      onLine(line) {
        // Printed after the published workflows were activated (webhooks registered, triggers set up).
        if (line.includes("Editor is now accessible via")) ready = true;
      },
    });
    this.server = proc;
    onCleanup("stop n8n", () => proc.stop());
    await waitFor("n8n to start", async () => {
      if (!proc.running) throw new Error(`n8n exited:\n${tailFile(logFile)}`);
      if (!ready) return false;
      const res = await fetch(`${this.url}/healthz/readiness`);
      return res.ok;
    }, { timeoutMs: 120_000, intervalMs: 500 });
    log(`n8n on ${this.url} (log: ${logFile})`);
  }

  /**
   * n8n 2.x activates published workflows in the background after start; a workflow is active once
   * its webhooks (Webhook nodes, webhook-based triggers) are registered.
   */
  async waitForWebhooks(workflowIds, timeoutMs = 60_000) {
    await waitFor(`the webhooks of ${workflowIds.join(", ")} to be registered`, async () => {
      if (!this.server?.running) throw new Error(`n8n exited:\n${tailFile(this.server?.logFile ?? "")}`);
      const rows = await this.query("SELECT DISTINCT workflowId FROM webhook_entity");
      return workflowIds.every((id) => rows.some((r) => r.workflowId === id));
    }, { timeoutMs, intervalMs: 500 });
  }

  async stop() {
    await this.server?.stop();
    this.server = null;
  }

  /** Rows of a read-only SQL query on n8n's database; `flatted` columns come back parsed. */
  async query(sql, params = [], flatted = []) {
    const { stdout } = await run(this.paths.node, ["--no-warnings", DB_QUERY], {
      input: JSON.stringify({ db: this.dbFile, n8nDir: this.paths.n8nDir, sql, params, flatted }),
    });
    return JSON.parse(stdout);
  }

  /** Executions of a workflow, newest first, without their data. */
  async executions(workflowId) {
    return this.query(
      'SELECT id, status, mode, finished, startedAt, stoppedAt, waitTill FROM execution_entity WHERE workflowId = ? AND deletedAt IS NULL ORDER BY id DESC',
      [workflowId],
    );
  }

  /** One execution with its run data (data.resultData.runData[nodeName][run]). */
  async execution(id) {
    const [row] = await this.query(
      'SELECT e.id, e.status, e.mode, e.finished, e.startedAt, e.stoppedAt, e.waitTill, e.workflowId, d.data FROM execution_entity e JOIN execution_data d ON d.executionId = e.id WHERE e.id = ?',
      [Number(id)],
      ["data"],
    );
    return row;
  }

  /** Several executions with their data, for the benchmark. */
  async executionsWithData(ids) {
    if (!ids.length) return [];
    return this.query(
      `SELECT e.id, e.status, e.startedAt, e.stoppedAt, d.data FROM execution_entity e JOIN execution_data d ON d.executionId = e.id WHERE e.id IN (${ids.map(() => "?").join(",")}) ORDER BY e.id`,
      ids.map(Number),
      ["data"],
    );
  }

  /**
   * Stops a running execution as the editor's stop button does (POST /rest/executions/:id/stop),
   * signed in as the instance owner, who is set up on first use (n8n allows that once, unsigned).
   */
  async stopExecution(id) {
    const browserId = "dealscale-e2e";
    if (!this.authCookie) {
      const res = await fetch(`${this.url}/rest/owner/setup`, {
        method: "POST",
        headers: { "content-type": "application/json", "browser-id": browserId },
        body: JSON.stringify({ email: "owner@dealscale.test", firstName: "DealScale", lastName: "E2e", password: `E2e-${randomBytes(8).toString("hex")}-Pw1` }),
      });
      if (!res.ok) throw new Error(`n8n owner setup answered ${res.status}: ${await res.text()}`);
      this.authCookie = res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
    }
    const res = await fetch(`${this.url}/rest/executions/${id}/stop`, {
      method: "POST",
      headers: { cookie: this.authCookie, "browser-id": browserId },
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`stopping execution ${id} answered ${res.status}: ${text}`);
    return JSON.parse(text).data;
  }

  /** POSTs JSON to a production webhook of a published workflow. */
  async webhook(webhookPath, body) {
    const res = await fetch(`${this.url}/webhook/${webhookPath}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    let json;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  }
}

/** The output items of one node in one run of an execution's data. */
export function nodeOutput(executionData, nodeName, { run = 0, output = 0 } = {}) {
  const runs = executionData?.resultData?.runData?.[nodeName];
  if (!runs?.[run]) return undefined;
  return (runs[run].data?.main?.[output] ?? []).map((item) => item.json);
}

