#!/usr/bin/env node
/**
 * Per-step overhead of the A2A Agent node against a bare HTTP Request node calling the same REST
 * endpoint, in the same n8n, in one run (npm run bench:n8n).
 *
 * Setup as the e2e run (n8n-nodes/e2e/lib): Node 24 and n8n 2.x from the cache, the packed node
 * package installed as a community package, the gateway + workers on a throw-away database with the
 * test-agent plugin, both nodes authenticating with the same "DealScale A2A API" credential (token
 * mode). The capability is test-agent `noop` (no work: what is left is the path through n8n, the
 * gateway, Postgres, BullMQ and back).
 *
 * Four workflows, each started by its own webhook (respond when the last node finishes), run
 * interleaved after a warm-up, in a new random order (fixed seed) each round:
 *   create/a2a    A2A Agent, fire and forget: POST /agents/test-agent/tasks, outputs the 202 body.
 *   create/http   HTTP Request: the same POST with the same body and credential.
 *   wait/a2a      A2A Agent, wait for completion, poll interval 0.05 s (its minimum; later checks
 *                 back off by 1.5x).
 *   wait/http     HTTP Request POST, then Wait 0.05 s + HTTP Request GET /tasks/:taskId + IF
 *                 finished, looping to the Wait until the task is terminal: the same polling
 *                 policy built from stock nodes (without the back-off).
 * Per execution, from n8n's own run data: each node's `executionTime` (create: the one node;
 * wait: the A2A node, against the sum over all runs of the HTTP chain's Wait, GET and IF nodes plus
 * the create), and the execution's wall time (stoppedAt - startedAt). Reported: p50 and p95 over N
 * executions per workflow, the difference and ratio of the p50s, and the task's own latency on
 * the gateway (created -> completed) for the wait workflows.
 *
 * Options: --n N (executions per workflow, default 50), --warmup N (default 5), --no-append (print
 * only, do not append to bench/RESULTS.md).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { appendSection } from "./lib/results.mjs";
import { N8N_VERSION, ensureCache } from "../n8n-nodes/e2e/lib/cache.mjs";
import { DEMO_TENANT_ID, createDatabase, mintToken, ownerPool, startGateway } from "../n8n-nodes/e2e/lib/gateway.mjs";
import { AGENT_TYPE, N8n, PACKAGE_NAME, buildAndPack, createUserFolder } from "../n8n-nodes/e2e/lib/n8n.mjs";
import { freePort, log, onCleanup, percentile, runCleanups, step } from "../n8n-nodes/e2e/lib/util.mjs";

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const N = arg("n", 50);
const WARMUP = arg("warmup", 5);
const APPEND = !args.includes("--no-append");
const POLL_SECONDS = 0.05;
const CREDENTIAL = { dealScaleA2AApi: { id: "benchCredential1", name: "DealScale A2A API" } };

const webhookNode = (path) => ({
  parameters: { httpMethod: "POST", path, responseMode: "lastNode", options: {} },
  name: "Webhook",
  type: "n8n-nodes-base.webhook",
  typeVersion: 2.1,
  position: [0, 0],
  webhookId: `bench-${path.replace(/\W/g, "-")}`,
});
const inputsExpression = "={{ { n: $json.body.n } }}";
const httpCreate = (gatewayUrl, position) => ({
  parameters: {
    method: "POST",
    url: `${gatewayUrl}/agents/test-agent/tasks`,
    authentication: "predefinedCredentialType",
    nodeCredentialType: "dealScaleA2AApi",
    sendBody: true,
    specifyBody: "json",
    jsonBody: "={{ { type: 'noop', inputs: { n: $json.body.n } } }}",
    options: {},
  },
  name: "Create (HTTP)",
  type: "n8n-nodes-base.httpRequest",
  typeVersion: 4.2,
  position,
  credentials: CREDENTIAL,
});
const a2a = (name, mode) => ({
  parameters: { operation: "run", agentId: "test-agent", capability: "noop", inputMode: "json", inputsJson: inputsExpression, mode, options: { pollInterval: POLL_SECONDS } },
  name,
  type: AGENT_TYPE,
  typeVersion: 1,
  position: [220, 0],
  credentials: CREDENTIAL,
});
const chain = (...names) => Object.fromEntries(names.slice(0, -1).map((n, i) => [n, { main: [[{ node: names[i + 1], type: "main", index: 0 }]] }]));
const workflow = (id, nodes, connections) => ({ id, name: `bench ${id}`, active: false, nodes, connections, settings: { executionOrder: "v1" }, pinData: {} });

function workflows(gatewayUrl) {
  const pollLoop = {
    ...chain("Webhook", "Create (HTTP)", "Pause", "Poll (HTTP)", "Finished?"),
    "Finished?": { main: [[], [{ node: "Pause", type: "main", index: 0 }]] },
  };
  return [
    workflow("benchCreateA2a01", [webhookNode("bench/create-a2a"), a2a("Create (A2A)", "fireAndForget")], chain("Webhook", "Create (A2A)")),
    workflow("benchCreateHttp1", [webhookNode("bench/create-http"), httpCreate(gatewayUrl, [220, 0])], chain("Webhook", "Create (HTTP)")),
    workflow("benchWaitA2a001", [webhookNode("bench/wait-a2a"), a2a("Run (A2A)", "wait")], chain("Webhook", "Run (A2A)")),
    workflow("benchWaitHttp001", [
      webhookNode("bench/wait-http"),
      httpCreate(gatewayUrl, [220, 0]),
      { parameters: { resume: "timeInterval", amount: POLL_SECONDS, unit: "seconds" }, name: "Pause", type: "n8n-nodes-base.wait", typeVersion: 1.1, position: [440, 0], webhookId: "bench-pause" },
      {
        parameters: {
          method: "GET",
          url: `=${gatewayUrl}/agents/test-agent/tasks/{{ $('Create (HTTP)').first().json.taskId }}`,
          authentication: "predefinedCredentialType",
          nodeCredentialType: "dealScaleA2AApi",
          options: {},
        },
        name: "Poll (HTTP)",
        type: "n8n-nodes-base.httpRequest",
        typeVersion: 4.2,
        position: [660, 0],
        credentials: CREDENTIAL,
      },
      {
        parameters: {
          conditions: {
            options: { caseSensitive: true, leftValue: "", typeValidation: "strict", version: 2 },
            conditions: [{ id: "terminal", leftValue: "={{ ['completed', 'failed', 'cancelled', 'timeout'].includes($json.status) }}", rightValue: "", operator: { type: "boolean", operation: "true", singleValue: true } }],
            combinator: "and",
          },
          options: {},
        },
        name: "Finished?",
        type: "n8n-nodes-base.if",
        typeVersion: 2.2,
        position: [880, 0],
      },
    ], pollLoop),
  ];
}

/** Sum of executionTime over every run of the named nodes (a loop runs a node several times). */
const nodeTime = (data, names) => names.reduce((sum, name) => sum + (data.resultData.runData[name] ?? []).reduce((s, r) => s + r.executionTime, 0), 0);
const runs = (data, name) => (data.resultData.runData[name] ?? []).length;

const VARIANTS = [
  { key: "create/a2a", id: "benchCreateA2a01", path: "bench/create-a2a", nodes: ["Create (A2A)"] },
  { key: "create/http", id: "benchCreateHttp1", path: "bench/create-http", nodes: ["Create (HTTP)"] },
  { key: "wait/a2a", id: "benchWaitA2a001", path: "bench/wait-a2a", nodes: ["Run (A2A)"] },
  { key: "wait/http", id: "benchWaitHttp001", path: "bench/wait-http", nodes: ["Create (HTTP)", "Pause", "Poll (HTTP)", "Finished?"] },
];

async function main() {
  const workDir = mkdtempSync(path.join(os.tmpdir(), "dealscale-n8n-bench-"));
  // Registered first, so it runs last, after the processes writing there have stopped.
  onCleanup("work folder", () => rmSync(workDir, { recursive: true, force: true }));
  try {
    const cache = await step("Node 24 and n8n from the cache", () => ensureCache());
    const { tarball, version } = await step("build and pack n8n-nodes", () => buildAndPack(workDir));
    const userFolder = await step("install the package into a new n8n user folder", () => createUserFolder(workDir, tarball));
    const { gateway, pool } = await step("gateway + workers on a throw-away database", async () => {
      const databaseUrl = await createDatabase("ds_n8n_bench");
      const gateway = await startGateway({ databaseUrl, workDir });
      gateway.token = await mintToken(gateway.env, DEMO_TENANT_ID, "n8n-bench");
      return { gateway, pool: ownerPool(databaseUrl) };
    });
    const n8n = new N8n({ paths: cache, userFolder, workDir, port: await freePort(), brokerPort: await freePort() });
    await step("n8n: credential, the four workflows, start", async () => {
      await n8n.importCredentials([{ id: CREDENTIAL.dealScaleA2AApi.id, name: CREDENTIAL.dealScaleA2AApi.name, type: "dealScaleA2AApi", data: { baseUrl: gateway.url, authMode: "token", token: gateway.token } }]);
      const dir = path.join(workDir, "workflows");
      mkdirSync(dir);
      for (const wf of workflows(gateway.url)) writeFileSync(path.join(dir, `${wf.id}.json`), JSON.stringify(wf));
      await n8n.importWorkflows(dir);
      for (const v of VARIANTS) await n8n.publish(v.id);
      await n8n.start();
      await n8n.waitForWebhooks(VARIANTS.map((v) => v.id));
    });

    await step(`${WARMUP} warm-up + ${N} executions per workflow, interleaved`, async () => {
      // Each round runs the four in a new order: an execution is slower to start right after
      // another one (n8n is still saving it), and a fixed order would give that to the same workflow.
      let seed = 0x5eed;
      const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
      for (let i = 0; i < WARMUP + N; i++) {
        const order = VARIANTS.map((v) => [random(), v]).sort((a, b) => a[0] - b[0]).map(([, v]) => v);
        for (const v of order) {
          const res = await n8n.webhook(v.path, { n: i });
          const task = res.json;
          if (res.status !== 200 || !task?.taskId) throw new Error(`${v.key}: webhook answered ${res.status}: ${res.text.slice(0, 300)}`);
          if (v.key.startsWith("wait/") && task.status !== "completed") throw new Error(`${v.key}: task ${task.taskId} ended ${task.status}`);
        }
      }
    });

    const results = await step("read the executions' run data", async () => {
      const out = {};
      for (const v of VARIANTS) {
        const ids = (await n8n.executions(v.id)).map((e) => e.id).sort((a, b) => a - b).slice(WARMUP);
        const executions = await n8n.executionsWithData(ids);
        if (executions.length !== N || executions.some((e) => e.status !== "success")) throw new Error(`${v.key}: expected ${N} successful executions`);
        // The task is the output of the last run of the workflow's last node (the IF: its true branch).
        const taskIds = executions.map((e) => e.data.resultData.runData[v.nodes.at(-1)].at(-1).data.main.flat().find(Boolean).json.taskId);
        const { rows } = await pool.query("SELECT extract(epoch FROM completed_at - created_at) * 1000 AS ms FROM tasks WHERE id = ANY($1::uuid[])", [taskIds]);
        out[v.key] = {
          node: executions.map((e) => nodeTime(e.data, v.nodes)),
          wall: executions.map((e) => new Date(e.stoppedAt) - new Date(e.startedAt)),
          polls: executions.map((e) => (v.key === "wait/http" ? runs(e.data, "Poll (HTTP)") : null)),
          taskMs: rows.map((r) => Number(r.ms)),
        };
      }
      return out;
    });

    const p = (values, q) => percentile(values, q);
    const fmt = (x) => (Number.isFinite(x) ? x.toFixed(1) : "-");
    const lines = [
      `n8n ${N8N_VERSION} on Node 24, ${PACKAGE_NAME} ${version}; test-agent \`noop\`; ${N} executions per workflow after ${WARMUP} warm-up, interleaved; one n8n, one gateway + workers process, same machine. Times in ms from n8n's run data (node \`executionTime\`; execution = stoppedAt - startedAt).`,
      "",
      "| step | node p50 | node p95 | execution p50 | execution p95 | task created -> completed p50 (gateway) |",
      "|---|---|---|---|---|---|",
    ];
    const label = {
      "create/a2a": "create: A2A Agent, fire and forget",
      "create/http": "create: HTTP Request POST",
      "wait/a2a": `wait: A2A Agent, wait (poll ${POLL_SECONDS} s)`,
      "wait/http": `wait: HTTP POST + (Wait ${POLL_SECONDS} s + HTTP GET + IF) loop`,
    };
    for (const v of VARIANTS) {
      const r = results[v.key];
      const task = v.key.startsWith("wait/") ? fmt(p(r.taskMs, 50)) : "-";
      lines.push(`| ${label[v.key]} | ${fmt(p(r.node, 50))} | ${fmt(p(r.node, 95))} | ${fmt(p(r.wall, 50))} | ${fmt(p(r.wall, 95))} | ${task} |`);
    }
    const diff = (a, b, q) => p(results[a].node, q) - p(results[b].node, q);
    const ratio = (a, b) => p(results[a].node, 50) / p(results[b].node, 50);
    lines.push(
      "",
      `- create: A2A Agent minus HTTP Request, node time: ${fmt(diff("create/a2a", "create/http", 50))} ms at p50 (ratio ${ratio("create/a2a", "create/http").toFixed(2)}), ${fmt(diff("create/a2a", "create/http", 95))} ms at p95.`,
      `- wait: A2A Agent minus the stock-node loop, node time: ${fmt(diff("wait/a2a", "wait/http", 50))} ms at p50 (ratio ${ratio("wait/a2a", "wait/http").toFixed(2)}), ${fmt(diff("wait/a2a", "wait/http", 95))} ms at p95; the loop polled ${fmt(p(results["wait/http"].polls, 50))} time(s) at p50 (at most ${Math.max(...results["wait/http"].polls)}).`,
    );
    console.log("\n" + lines.join("\n"));
    if (APPEND) log(`appended to ${appendSection("A2A Agent node overhead in n8n (issue 5)", lines)}`);
  } finally {
    await runCleanups();
  }
}

main().catch((e) => {
  console.error(e.stack);
  process.exit(1);
});
