#!/usr/bin/env node
/**
 * The node package in a real n8n (npm run test:n8n; .ci/run runs it).
 *
 * 1. Node 24 and n8n 2.x from the cache outside the repository (installed there when missing; see
 *    lib/cache.mjs). The system Node runs this script and the gateway.
 * 2. n8n-nodes is built and packed; the tarball is installed into a fresh n8n user folder the way a
 *    user installs a community package by hand (npm install in ~/.n8n/nodes), so the node types are
 *    n8n-nodes-dealscale-a2a.a2aAgent / .a2aTrigger, as in the workflow files.
 * 3. The gateway + workers on a throw-away Postgres database (demo tenant seeded) and Redis, a real
 *    SMTP server in this process, a ZoomInfo-shaped provider API (see lib/receivers.mjs).
 * 4. n8n CLI: the "DealScale A2A API" credential and workflows/n8n/*.json (plus the e2e fixtures in
 *    e2e/workflows) imported, the webhook and trigger workflows published.
 * 5. `n8n execute --id` runs lookalike_campaign from its Manual Trigger (the demo input); then
 *    `n8n start`, and lookalike_campaign runs again through n8n's own webhook. Both campaigns are
 *    checked in Postgres and in the SMTP server's mailbox.
 * 6. The A2A Trigger workflow: its subscription on the gateway, the delivery of the scoring task's
 *    completion starting it (its Notify node posts to a receiver here), a forged delivery refused.
 * 7. parallel_enrichment, enrich_with_fallback and distributed_enrichment (10,000 leads in 20
 *    batches) through their webhooks, checked in their answers, n8n's executions and Postgres.
 * 8. A credential in signing-secret mode: n8n mints the gateway token (preAuthentication); batch
 *    mode: one task for all input items; an execution stopped (as by the editor's stop button)
 *    while the node waits cancels its task.
 * 9. Release and resume: an execution waits (status "waiting", no worker held) while a slow task
 *    runs, and finishes with the task's outputs after the gateway's callback to its resume URL;
 *    again with n8n restarted while the execution waits (the A2A Trigger must then find its
 *    subscription rather than make a second one).
 *
 * Exit code 0 when every check passed. Processes, the database and Redis keys are cleaned up on any
 * exit; the work folder (logs, n8n's database) is removed on success and kept on failure.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureCache } from "./lib/cache.mjs";
import { DEMO_TENANT_ID, ROOT, createDatabase, gatewayClient, mintToken, ownerPool, startGateway, startSmtp } from "./lib/gateway.mjs";
import { AGENT_TYPE, N8n, TRIGGER_TYPE, buildAndPack, createUserFolder, nodeOutput } from "./lib/n8n.mjs";
import { startReceiver, startZoomInfo } from "./lib/receivers.mjs";
import { CheckError, check, checkCount, freePort, log, onCleanup, run, runCleanups, sleep, step, tailFile, waitFor } from "./lib/util.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKFLOWS_DIR = path.join(ROOT, "workflows", "n8n");
const FIXTURES_DIR = path.join(HERE, "workflows");
const CREDENTIAL = { id: "dsA2aCredential1", name: "DealScale A2A API", type: "dealScaleA2AApi" };
// The e2e fixture signing_secret.json uses this one: n8n mints the tokens itself (preAuthentication).
const MINTING_CREDENTIAL = { id: "dsA2aCredMinted1", name: "DealScale A2A API (signing secret)", type: "dealScaleA2AApi" };
const WF = {
  lookalike: "DsLookalikeCmp01",
  parallel: "DsParallelEnr001",
  distributed: "DsDistribEnr0001",
  fallback: "DsEnrichFallbk01",
  notify: "DsScoringNotify1",
  releaseAndResume: "DsE2eReleaseRes1",
  signingSecret: "DsE2eMintedTok01",
  batch: "DsE2eBatch000001",
  stopWhileWaiting: "DsE2eStopWait001",
};
const ZOOMINFO_LOGIN = { username: "n8n-e2e@dealscale.test", password: "zoominfo-e2e-password" };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const WELL_FORMED_EMAIL = /^[^@\s.,][^@\s,]*@[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}$/;
const VALID_EMAIL = `email ~ '${WELL_FORMED_EMAIL.source}'`;
/** What the Manual Trigger path of lookalike_campaign runs on (its "Demo input" node). */
const DEMO_INPUT = JSON.parse(
  JSON.parse(readFileSync(path.join(WORKFLOWS_DIR, "lookalike_campaign.json"), "utf8")).nodes.find((n) => n.name === "Demo input").parameters.jsonOutput,
).body;

const t0 = Date.now();
const workDir = mkdtempSync(path.join(os.tmpdir(), "dealscale-n8n-e2e-"));
let passed = false;
// Registered first, so it runs last: after the processes that write into the folder have stopped.
onCleanup("work folder", () => {
  if (passed) rmSync(workDir, { recursive: true, force: true });
  else console.error(`\nkept ${workDir} (logs, n8n's database)`);
});
let n8n;
let gateway;

async function main() {
  log(`work folder ${workDir}`);
  const cache = await step("Node 24 and n8n from the cache", () => ensureCache());

  const { tarball } = await step("build and pack n8n-nodes", async () => {
    const packed = await buildAndPack(workDir);
    for (const file of ["package.json", "dist/credentials/DealScaleA2AApi.credentials.js", "dist/nodes/A2aAgent/A2aAgent.node.js", "dist/nodes/A2aAgent/A2aAgent.node.json", "dist/nodes/A2aTrigger/A2aTrigger.node.js"]) {
      check(packed.files.includes(file), `the package contains ${file}`, packed.files);
    }
    check(!packed.files.some((f) => /^(e2e|test|nodes|credentials)\//.test(f)), "the package ships dist/ only (no sources, tests or e2e)", packed.files);
    return packed;
  });

  const userFolder = await step("install the package into a new n8n user folder (~/.n8n/nodes)", () => createUserFolder(workDir, tarball));

  // ---- the DealScale stack ------------------------------------------------------------------
  const { pool, zoominfo, smtp, request } = await step("gateway + workers, Postgres, Redis, SMTP, ZoomInfo-shaped provider", async () => {
    const databaseUrl = await createDatabase("ds_n8n_e2e");
    const pool = ownerPool(databaseUrl);
    const smtp = await startSmtp();
    const zoominfo = await startZoomInfo({ ...ZOOMINFO_LOGIN, delayMs: 150 });
    gateway = await startGateway({
      databaseUrl,
      smtpPort: smtp.port,
      workDir,
      extraEnv: { ZOOMINFO_USERNAME: ZOOMINFO_LOGIN.username, ZOOMINFO_PASSWORD: ZOOMINFO_LOGIN.password, ZOOMINFO_BASE_URL: zoominfo.url },
    });
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM leads WHERE tenant_id = $1", [DEMO_TENANT_ID]);
    check(rows[0].n === 400, "the demo tenant was seeded with 400 leads", rows[0].n);
    gateway.token = await mintToken(gateway.env, DEMO_TENANT_ID, "n8n-e2e");
    return { pool, zoominfo, smtp, request: gatewayClient(gateway.url, gateway.token) };
  });

  const receiver = await startReceiver();

  // ---- n8n: credential, workflows, publishing -------------------------------------------------
  n8n = new N8n({ paths: cache, userFolder, workDir, port: await freePort(), brokerPort: await freePort() });
  await step("n8n CLI: import the credential and the workflows, publish them", async () => {
    await n8n.importCredentials([
      { ...CREDENTIAL, data: { baseUrl: gateway.url, authMode: "token", token: gateway.token } },
      {
        ...MINTING_CREDENTIAL,
        data: { baseUrl: gateway.url, authMode: "signingSecret", agentId: "n8n-e2e-minted", tenantId: DEMO_TENANT_ID, signingSecret: gateway.env.A2A_JWT_SECRET },
      },
    ]);
    const importDir = path.join(workDir, "workflows");
    mkdirSync(importDir);
    const files = readdirSync(WORKFLOWS_DIR).filter((f) => f.endsWith(".json"));
    check(
      ["lookalike_campaign.json", "parallel_enrichment.json", "distributed_enrichment.json", "enrich_with_fallback.json", "notify_on_scoring.json"].every((f) => files.includes(f)),
      "workflows/n8n has the five workflows",
      files,
    );
    for (const [dir, file] of [...files.map((f) => [WORKFLOWS_DIR, f]), ...readdirSync(FIXTURES_DIR).map((f) => [FIXTURES_DIR, f])]) {
      const workflow = JSON.parse(readFileSync(path.join(dir, file), "utf8"));
      for (const node of workflow.nodes.filter((n) => dir === WORKFLOWS_DIR && (n.type === AGENT_TYPE || n.type === TRIGGER_TYPE))) {
        check(node.credentials?.dealScaleA2AApi?.id === CREDENTIAL.id, `${file}: "${node.name}" uses the "${CREDENTIAL.name}" credential`, node.credentials);
      }
      // The notification goes to this run's receiver instead of the placeholder Slack URL.
      if (workflow.id === WF.notify) workflow.nodes.find((n) => n.name === "Notify").parameters.url = receiver.url;
      writeFileSync(path.join(importDir, file), JSON.stringify(workflow));
    }
    await n8n.importWorkflows(importDir);
    const imported = await n8n.query("SELECT id, name FROM workflow_entity ORDER BY id");
    check(Object.values(WF).every((id) => imported.some((w) => w.id === id)), "n8n has the workflows under their ids", imported);
    for (const id of Object.values(WF)) await n8n.publish(id);
    const published = await n8n.query("SELECT id FROM workflow_entity WHERE activeVersionId IS NOT NULL");
    check(published.length === Object.values(WF).length, "the webhook and trigger workflows are published", published);
  });

  // ---- lookalike_campaign through `n8n execute` -------------------------------------------------
  await step("lookalike_campaign through `n8n execute --id` (Manual Trigger, demo input)", async () => {
    const mailsBefore = smtp.received.length;
    const result = await n8n.cli(["execute", `--id=${WF.lookalike}`, "--rawOutput"], {
      extraEnv: { N8N_RUNNERS_BROKER_PORT: String(await freePort()) },
    });
    const start = result.stdout.indexOf("{\n");
    check(start >= 0, "n8n execute printed the run as JSON", result.stdout.slice(-2000));
    const runData = JSON.parse(result.stdout.slice(start));
    check(runData.status === "success" && !runData.data.resultData.error, "the execution succeeded", runData.data?.resultData?.error);
    const [campaign] = nodeOutput(runData.data, "Campaign");
    await checkCampaign(pool, smtp, campaign, { name: DEMO_INPUT.campaignName, audienceSize: DEMO_INPUT.audienceSize, seeds: DEMO_INPUT.seedLeadIds, mailsBefore });
    check(nodeOutput(runData.data, "Demo input") && !nodeOutput(runData.data, "Webhook"), "it started at the Manual Trigger, not the Webhook");
  });

  // ---- n8n start ------------------------------------------------------------------------------
  await step("n8n start: published workflows active, the A2A Trigger subscribed", async () => {
    await n8n.start();
    await n8n.waitForWebhooks(Object.values(WF));
    log("n8n registered the webhooks of the published workflows, the A2A Trigger's included");
    const subscription = await waitFor("the A2A Trigger's subscription on the gateway", async () => {
      const { webhooks } = await request("GET", "/webhooks");
      return webhooks.find((w) => w.url.startsWith(n8n.url));
    }, { timeoutMs: 20_000 });
    check(subscription, "the A2A Trigger subscribed to the gateway (POST /webhooks) on activation", subscription);
    check(subscription.agentId === "audience-architect" && subscription.capability === "scoreLookalike", "for audience-architect.scoreLookalike", subscription);
    check([...subscription.events].sort().join(",") === "completed,failed" && subscription.active, "for completed and failed, active", subscription);
    n8n.subscription = subscription;
  });

  // ---- lookalike_campaign through the webhook ---------------------------------------------------
  const lookalike = await step("lookalike_campaign through n8n's webhook", async () => {
    const { rows } = await pool.query(`SELECT id FROM leads WHERE tenant_id = $1 AND industry = 'Fintech' AND ${VALID_EMAIL} ORDER BY id LIMIT 12`, [DEMO_TENANT_ID]);
    const seeds = rows.map((r) => r.id).filter((id) => !DEMO_INPUT.seedLeadIds.includes(id)).slice(0, 6);
    const mailsBefore = smtp.received.length;
    const res = await n8n.webhook("dealscale/lookalike-campaign", { seedLeadIds: seeds, tenantId: DEMO_TENANT_ID, audienceSize: 15, campaignName: "e2e webhook campaign" });
    check(res.status === 200, "the webhook answered 200", res.text.slice(0, 1000));
    await checkCampaign(pool, smtp, res.json, { name: "e2e webhook campaign", audienceSize: 15, seeds, mailsBefore });
    const [execution] = await n8n.executions(WF.lookalike);
    check(execution.mode === "webhook" && execution.status === "success", "n8n recorded a successful webhook execution", execution);
    return res.json;
  });

  // ---- the A2A Trigger ------------------------------------------------------------------------
  await step("A2A Trigger: the scoring task's completion starts notify_on_scoring", async () => {
    const scoreTaskId = lookalike.tasks.score;
    const notification = await waitFor("the Notify node's POST", () => receiver.received.find((r) => r.body?.taskId === scoreTaskId), { timeoutMs: 30_000 });
    check(notification.body.event === "completed", "the notification is for the completed event", notification.body);
    check(/^Lookalike scoring done: 15 top leads/.test(notification.body.text), "its text summarises the scoring", notification.body.text);
    check(JSON.stringify(notification.body.topScoredLeadIds) === JSON.stringify(lookalike.audienceLeadIds), "it carries the scored audience of the campaign", notification.body);
    const executions = await n8n.executions(WF.notify);
    const execution = await n8n.execution(executions[0].id);
    check(execution.mode === "webhook", "n8n started it from the trigger's webhook", execution.mode);
    check(execution.status === "success", "the trigger's execution succeeded", execution.status);
    const [delivery] = nodeOutput(execution.data, "Scoring finished");
    check(delivery.event === "completed" && delivery.task?.taskId === scoreTaskId && typeof delivery.deliveredAt === "string", "the trigger emitted the delivery {event, deliveredAt, task}", delivery);
    check(delivery.task.status === "completed" && delivery.task.outputs?.modelVersion, "with the finished task as GET /agents/:agentId/tasks/:taskId returns it", delivery.task);
    const { rows } = await pool.query("SELECT outcome, status_code FROM webhook_deliveries WHERE task_id = $1 AND subscription_id = $2", [scoreTaskId, n8n.subscription.id]);
    check(rows.some((r) => r.outcome === "delivered" && r.status_code === 200), "the gateway recorded the delivery to n8n as delivered (200)", rows);

    const before = (await n8n.executions(WF.notify)).length;
    const body = JSON.stringify({ event: "completed", deliveredAt: new Date().toISOString(), task: delivery.task });
    const forged = await fetch(n8n.subscription.url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-dealscale-signature": `t=${Math.floor(Date.now() / 1000)},v1=${"0".repeat(64)}` },
      body,
    });
    check(forged.status === 401, "a delivery with a forged signature is refused with 401", forged.status);
    const unsigned = await fetch(n8n.subscription.url, { method: "POST", headers: { "content-type": "application/json" }, body });
    check(unsigned.status === 401, "an unsigned delivery is refused with 401", unsigned.status);
    await sleep(1000);
    check((await n8n.executions(WF.notify)).length === before, "neither started an execution");
  });

  // ---- parallel_enrichment --------------------------------------------------------------------
  const enrichmentLeads = async (industry, count) =>
    (await pool.query(`SELECT id, email, first_name, last_name, company FROM leads WHERE tenant_id = $1 AND industry = $2 AND ${VALID_EMAIL} AND enriched_at IS NULL ORDER BY id LIMIT $3`, [DEMO_TENANT_ID, industry, count])).rows;
  const knownToZoomInfo = (leads) => {
    for (const [i, lead] of leads.entries()) {
      const companyId = 7000 + zoominfo.directory.size;
      zoominfo.directory.set(lead.email.toLowerCase(), {
        contact: { id: 90000 + zoominfo.directory.size, firstName: lead.first_name, lastName: lead.last_name, email: lead.email, jobTitle: i % 2 ? "VP of Revenue Operations" : "Head of Growth", managementLevel: [i % 2 ? "VP-Level" : "Director"], companyId, companyName: lead.company, city: "Denver", country: "United States", contactAccuracyScore: 93 },
        company: { id: companyId, name: `${lead.company} Inc.`, website: `www.${lead.email.split("@")[1]}`, employeeCount: 640, primaryIndustry: ["Software"], revenue: 81000000 },
      });
    }
  };
  const tasksById = async (ids) => (await pool.query("SELECT id, status, error, created_at, completed_at, inputs, idempotency_key FROM tasks WHERE id = ANY($1::uuid[])", [ids])).rows;

  await step("parallel_enrichment: three providers at once, merged best-effort", async () => {
    const leads = await enrichmentLeads("Healthcare", 4);
    knownToZoomInfo(leads.slice(0, 2));
    const res = await n8n.webhook("dealscale/parallel-enrichment", { leadIds: leads.map((l) => l.id), tenantId: DEMO_TENANT_ID });
    check(res.status === 200, "the webhook answered 200", res.text.slice(0, 1000));
    const out = res.json;
    check(JSON.stringify([...out.enrichedByProvider.zoominfo].sort()) === JSON.stringify(leads.slice(0, 2).map((l) => l.id).sort()), "ZoomInfo enriched the two leads it knows", out);
    check(!out.enrichedByProvider.apollo && !out.enrichedByProvider.clearbit, "Apollo and Clearbit enriched nothing", out.enrichedByProvider);
    check(out.errors.apollo?.code === "provider_not_configured" && out.errors.clearbit?.code === "provider_not_configured", "their failures are reported (provider_not_configured), the merge went on", out.errors);
    check(out.enrichedLeadIds.length === 2, "the union of enriched leads", out.enrichedLeadIds);
    const tasks = await tasksById(Object.values(out.tasks).map((t) => t.taskId));
    check(tasks.length === 3, "three tasks, one per provider", out.tasks);
    const created = tasks.map((t) => t.created_at.getTime());
    const finished = Math.min(...tasks.filter((t) => t.inputs.provider === "zoominfo").map((t) => t.completed_at.getTime()));
    check(Math.max(...created) < finished && Math.max(...created) - Math.min(...created) < 1000, "the three tasks ran at the same time (all created before ZoomInfo's finished, within 1 s)", tasks.map((t) => ({ provider: t.inputs.provider, created: t.created_at, completed: t.completed_at })));
    const { rows } = await pool.query("SELECT id, enriched_at, attributes #> '{enrichment,zoominfo}' AS zi FROM leads WHERE id = ANY($1::uuid[])", [leads.map((l) => l.id)]);
    check(rows.filter((r) => r.enriched_at && r.zi?.personId).length === 2, "Postgres: the two leads carry enriched_at and ZoomInfo's data", rows);
  });

  // ---- enrich_with_fallback -------------------------------------------------------------------
  await step("enrich_with_fallback: Apollo -> Clearbit -> ZoomInfo, next provider on failure", async () => {
    const leads = await enrichmentLeads("Logistics", 3);
    knownToZoomInfo(leads.slice(0, 2));
    const res = await n8n.webhook("dealscale/enrich-with-fallback", { leadIds: leads.map((l) => l.id), tenantId: DEMO_TENANT_ID });
    check(res.status === 200, "the webhook answered 200", res.text.slice(0, 1000));
    const out = res.json;
    check(out.provider === "zoominfo", "the result is ZoomInfo's", out);
    check(JSON.stringify([...out.enrichedLeadIds].sort()) === JSON.stringify(leads.slice(0, 2).map((l) => l.id).sort()) && out.failedLeadIds.length === 1, "two leads enriched, the unknown one failed", out);
    for (const provider of ["apollo", "clearbit"]) {
      check(out.failedProviders[provider]?.status === "failed" && out.failedProviders[provider]?.error?.code === "provider_not_configured", `${provider} was asked first and failed (provider_not_configured)`, out.failedProviders);
    }
    const [execution] = await n8n.executions(WF.fallback);
    const { data } = await n8n.execution(execution.id);
    check(["Apollo", "Clearbit", "ZoomInfo"].every((n) => data.resultData.runData[n]) && !data.resultData.runData["Every provider failed"], "n8n ran Apollo, Clearbit, ZoomInfo in turn and not the failure branch", Object.keys(data.resultData.runData));
    const tasks = await tasksById([out.failedProviders.apollo.taskId, out.failedProviders.clearbit.taskId, out.taskId]);
    const order = tasks.sort((a, b) => a.created_at - b.created_at).map((t) => t.inputs.provider);
    check(order.join(",") === "apollo,clearbit,zoominfo", "the gateway saw the tasks in fallback order", order);
  });

  // ---- distributed_enrichment -----------------------------------------------------------------
  await step("distributed_enrichment: 10,000 leads in batches of 500", async () => {
    const csv = ["email,first_name,last_name,title"];
    const { rows: domains } = await pool.query(`SELECT DISTINCT domain FROM leads WHERE tenant_id = $1 AND domain IS NOT NULL ORDER BY domain`, [DEMO_TENANT_ID]);
    const titles = ["sr. account exec", "vp sales", "Head of Data", "marketing mgr", "software eng", "CFO"];
    for (let i = 0; i < 9600; i++) csv.push(`lead${i}.e2e@${domains[i % domains.length].domain},Lead${i},Bulk,${titles[i % titles.length]}`);
    const file = path.join(workDir, "bulk-leads.csv");
    writeFileSync(file, csv.join("\n") + "\n");
    const { stdout } = await run(process.execPath, [path.join(ROOT, "agent-services/dist/cli/main.js"), "leads:import", "--tenant", DEMO_TENANT_ID, "--file", file], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, NODE_ENV: gateway.env.NODE_ENV, DATABASE_URL: gateway.env.DATABASE_URL, A2A_JWT_SECRET: gateway.env.A2A_JWT_SECRET },
    });
    check(JSON.parse(stdout).imported === 9600, "9,600 leads imported with the operator CLI (10,000 with the demo leads)");
    const { rows } = await pool.query("SELECT id FROM leads WHERE tenant_id = $1 ORDER BY created_at, id", [DEMO_TENANT_ID]);
    const leadIds = rows.map((r) => r.id);
    check(leadIds.length === 10_000, "the tenant has 10,000 leads", leadIds.length);
    const started = Date.now();
    const res = await n8n.webhook("dealscale/distributed-enrichment", { leadIds, tenantId: DEMO_TENANT_ID, batchSize: 500, provider: "internal" });
    check(res.status === 200, `the webhook answered 200 after ${((Date.now() - started) / 1000).toFixed(1)} s`, res.text.slice(0, 1000));
    const out = res.json;
    check(out.leads === 10_000 && out.batches === 20 && out.completedBatches === 20, "20 batches of 500, all completed", { ...out, perBatch: undefined });
    check(out.perBatch.every((b) => b.leads === 500 && UUID.test(b.taskId)), "each batch was one task of 500 leads", out.perBatch.slice(0, 3));
    check(out.enriched + out.failed === 10_000 && out.enriched >= 9_600, `enriched ${out.enriched}, failed ${out.failed}: every lead accounted for`, out);
    const tasks = await tasksById(out.perBatch.map((b) => b.taskId));
    check(tasks.length === 20 && tasks.every((t) => t.status === "completed" && t.inputs.leadIds.length === 500), "Postgres: 20 completed enrichLeads tasks of 500 leads", tasks.length);
    check(new Set(tasks.flatMap((t) => t.inputs.leadIds)).size === 10_000, "together they cover the 10,000 leads once each");
    const spread = Math.max(...tasks.map((t) => t.created_at.getTime())) - Math.min(...tasks.map((t) => t.created_at.getTime()));
    check(spread < 10_000, `the batches were fanned out at once (created within ${spread} ms)`, spread);
    const { rows: enriched } = await pool.query("SELECT count(*)::int AS n FROM leads WHERE tenant_id = $1 AND enriched_at IS NOT NULL", [DEMO_TENANT_ID]);
    check(enriched[0].n >= out.enriched, `Postgres: ${enriched[0].n} leads carry enriched_at`, enriched[0].n);
  });

  // ---- the signing-secret credential ---------------------------------------------------------
  await step("signing-secret credential: n8n mints the gateway token itself", async () => {
    const message = `minted-${Date.now()}`;
    const res = await n8n.webhook("dealscale-e2e/signing-secret", { message });
    check(res.status === 200 && res.json?.status === "completed" && res.json.outputs?.echoed?.message === message, "the task ran with the token minted by the credential's preAuthentication", res.text.slice(0, 500));
    const { rows } = await pool.query("SELECT calling_agent, tenant_id FROM tasks WHERE id = $1", [res.json.taskId]);
    check(rows[0]?.calling_agent === "n8n-e2e-minted" && rows[0].tenant_id === DEMO_TENANT_ID, "the gateway saw the credential's agent and tenant in the token", rows[0]);
  });

  // ---- batch --------------------------------------------------------------------------------
  await step("batch: one task for all input items", async () => {
    const marker = `batch-${Date.now()}`;
    const groups = [{ leadIds: ["a1", "a2"], message: marker }, { leadIds: ["b1"], message: "second item" }, { leadIds: ["c1", "c2"], message: "third item" }];
    const res = await n8n.webhook("dealscale-e2e/batch", { groups });
    check(res.status === 200 && res.json?.status === "completed", "the batch task completed", res.text.slice(0, 500));
    check(JSON.stringify(res.json.outputs.echoed) === JSON.stringify({ leadIds: ["a1", "a2", "b1", "c1", "c2"], message: marker }), "array inputs concatenated in item order, the rest from the first item", res.json.outputs);
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM tasks WHERE type = 'echo' AND inputs->>'message' = $1", [marker]);
    check(rows[0].n === 1, "the gateway got one task for the three items", rows[0].n);
    const [execution] = await n8n.executions(WF.batch);
    const run = (await n8n.execution(execution.id)).data.resultData.runData["Echo all items as one task"][0];
    const [item] = run.data.main[0];
    check(run.data.main[0].length === 1 && JSON.stringify(item.pairedItem) === JSON.stringify([{ item: 0 }, { item: 1 }, { item: 2 }]), "one output item, paired with the three input items", item.pairedItem);
  });

  // ---- stopping an execution ------------------------------------------------------------------
  await step("stopping an execution that waits for its task cancels the task", async () => {
    const marker = `stop-${Date.now()}`;
    const res = await n8n.webhook("dealscale-e2e/stop-while-waiting", { ms: 60_000, marker });
    check(res.status === 200, "the webhook answered at once (respond immediately)", res.status);
    const task = await waitFor("the slow task to be working", async () => {
      const { rows } = await pool.query("SELECT id, status FROM tasks WHERE type = 'slow' AND inputs->>'marker' = $1", [marker]);
      return rows[0]?.status === "working" ? rows[0] : false;
    }, { timeoutMs: 15_000 });
    const [execution] = await n8n.executions(WF.stopWhileWaiting);
    check(execution?.status === "running", `execution ${execution?.id} is running, its node waiting for task ${task.id}`, execution);
    const stopped = await n8n.stopExecution(execution.id);
    check(stopped.status === "canceled", "n8n stopped the execution", stopped);
    const cancelled = await waitFor("the task to be cancelled", async () => {
      const { rows } = await pool.query("SELECT status, error FROM tasks WHERE id = $1", [task.id]);
      return rows[0].status === "working" || rows[0].status === "submitted" ? false : rows[0];
    }, { timeoutMs: 10_000 });
    check(cancelled.status === "cancelled" && cancelled.error?.message === "n8n execution stopped", "the node cancelled its task on the gateway (reason \"n8n execution stopped\")", cancelled);
  });

  // ---- release and resume ---------------------------------------------------------------------
  /** Starts the release-and-resume fixture on a slow task and waits for the execution to wait. */
  const startWaiting = async (ms) => {
    const marker = `e2e-${ms}-${Date.now()}`;
    const res = await n8n.webhook("dealscale-e2e/release-and-resume", { ms, marker });
    check(res.status === 200, "the webhook answered at once (respond immediately)", res.status);
    const execution = await waitFor("the execution to go to waiting", async () => {
      const [latest] = await n8n.executions(WF.releaseAndResume);
      return latest?.status === "waiting" ? latest : false;
    }, { timeoutMs: 15_000 });
    check(execution.waitTill, `n8n records execution ${execution.id} as waiting, with a waitTill`, execution);
    const { rows } = await pool.query("SELECT id, status, callback_url FROM tasks WHERE type = 'slow' AND inputs->>'marker' = $1", [marker]);
    check(rows.length === 1 && ["submitted", "working"].includes(rows[0].status), "meanwhile the task is still running on the gateway", rows);
    // n8n 2.x signs resume URLs (?signature=...).
    check(rows[0].callback_url.startsWith(`${n8n.url}/webhook-waiting/${execution.id}?`), "its callbackUrl is the execution's resume URL", rows[0].callback_url);
    return { execution, task: rows[0], marker, ms };
  };
  const checkResumed = async ({ execution, task, marker, ms }, timeoutMs) => {
    const done = await waitFor("the execution to finish after the callback", async () => {
      const e = await n8n.execution(execution.id);
      return ["success", "error", "crashed"].includes(e.status) ? e : false;
    }, { timeoutMs, intervalMs: 500 });
    check(done.status === "success", "the execution resumed and succeeded", done.status);
    const [after] = nodeOutput(done.data, "After resume");
    check(after.taskId === task.id && after.status === "completed" && after.sleptMs === ms && after.marker === marker, "the node after it got the finished task's outputs", after);
    const { rows } = await pool.query("SELECT completed_at FROM tasks WHERE id = $1", [task.id]);
    check(new Date(done.stoppedAt).getTime() >= rows[0].completed_at.getTime(), "it finished after the task did");
    const { rows: deliveries } = await pool.query("SELECT attempt, outcome, status_code, error FROM webhook_deliveries WHERE task_id = $1 ORDER BY attempt", [task.id]);
    check(deliveries.some((d) => d.outcome === "delivered" && d.status_code === 200), "the gateway's callback to the resume URL was delivered (200)", deliveries);
    return deliveries;
  };

  await step("release and resume: the execution waits while the task runs, resumes on the callback", async () => {
    await checkResumed(await startWaiting(6000), 45_000);
  });

  await step("release and resume across an n8n restart (callback retried); the trigger keeps its one subscription", async () => {
    const waiting = await startWaiting(3000);
    await n8n.stop();
    log("n8n stopped while the execution waits");
    // The task finishes while n8n is down: the first callback fails and the gateway retries it.
    const refused = await waitFor("a failed callback attempt while n8n is down", async () => {
      const { rows } = await pool.query("SELECT attempt, outcome, error FROM webhook_deliveries WHERE task_id = $1 AND outcome = 'retry'", [waiting.task.id]);
      return rows[0];
    }, { timeoutMs: 20_000 });
    check(refused, `the gateway's callback attempt ${refused.attempt} failed while n8n was down (${refused.error}) and is retried`, refused);
    await n8n.start();
    await n8n.waitForWebhooks(Object.values(WF));
    const deliveries = await checkResumed(waiting, 60_000);
    log(`callback attempts: ${deliveries.map((d) => `${d.attempt}: ${d.outcome ?? "-"} ${d.status_code ?? d.error ?? ""}`).join(", ")}`);
    const { webhooks } = await request("GET", "/webhooks");
    const mine = webhooks.filter((w) => w.url.startsWith(n8n.url));
    check(mine.length === 1 && mine[0].id === n8n.subscription.id && mine[0].active, "after the restart the A2A Trigger found its subscription (checkExists) instead of making another", mine);
  });
}

/** A campaign a lookalike_campaign run answered with, checked in Postgres and the SMTP mailbox. */
async function checkCampaign(pool, smtp, campaign, { name, audienceSize, seeds, mailsBefore }) {
  check(campaign && UUID.test(campaign.campaignId), `the run produced a campaign (${campaign?.campaignId})`, campaign);
  check(campaign.audienceLeadIds.length === audienceSize && campaign.membersAdded === audienceSize, `${audienceSize} lookalike leads became members`, campaign);
  check(campaign.audienceLeadIds.every((id) => !seeds.includes(id)), "the audience excludes the seeds", campaign.audienceLeadIds);
  check(campaign.enrichedSeedIds.length > 0 && campaign.enrichedSeedIds.every((id) => seeds.includes(id)), "the seeds were enriched first", campaign.enrichedSeedIds);
  const { rows: [row] } = await pool.query("SELECT name, status, channels, tenant_id, task_id FROM campaigns WHERE id = $1", [campaign.campaignId]);
  check(row && row.name === name && row.tenant_id === DEMO_TENANT_ID && row.channels.join() === "email", `Postgres: campaign "${name}" of the demo tenant, email`, row);
  check(row.task_id === campaign.tasks.launch, "made by the launchCampaign task the workflow ran", row);
  const members = await waitFor("the campaign's mails to be sent", async () => {
    const { rows } = await pool.query("SELECT m.lead_id, m.status, l.email FROM campaign_members m JOIN leads l ON l.id = m.lead_id WHERE m.campaign_id = $1", [campaign.campaignId]);
    return rows.every((m) => m.status !== "pending") ? rows : false;
  }, { timeoutMs: 30_000 });
  check(JSON.stringify(members.map((m) => m.lead_id).sort()) === JSON.stringify([...campaign.audienceLeadIds].sort()), "Postgres: the members are the scored audience", members.length);
  const sent = members.filter((m) => m.status === "sent");
  const count = (status) => members.filter((m) => m.status === status).length;
  // The demo leads include missing and malformed addresses: both are skipped, never handed to SMTP.
  check(
    sent.length >= audienceSize / 2 && members.every((m) => ["sent", "skipped", "bounced"].includes(m.status)),
    `${sent.length} sent, ${count("skipped")} skipped, ${count("bounced")} bounced`,
    members.map((m) => [m.status, m.email]),
  );
  const mails = smtp.received.slice(mailsBefore);
  const to = new Set(mails.flatMap((m) => (Array.isArray(m.to) ? m.to : [m.to]).flatMap((a) => a.value.map((v) => v.address.toLowerCase()))));
  const missing = sent.filter((m) => !WELL_FORMED_EMAIL.test(m.email.toLowerCase()) || !to.has(m.email.toLowerCase()));
  check(
    missing.length === 0 && [...to].every((address) => sent.some((m) => m.email.toLowerCase() === address)),
    `the SMTP server received exactly the mails of the ${sent.length} sent members, all well-formed addresses`,
    { missing: missing.map((m) => m.email), received: [...to] },
  );
  const sample = mails.find((m) => m.subject?.startsWith("Hi "));
  check(sample && !sample.subject.includes("{{") && sample.headerLines.some((h) => h.key === "list-unsubscribe"), "rendered from the workflow's template, with List-Unsubscribe", sample?.subject);
  const { rows: tasks } = await pool.query("SELECT type, status FROM tasks WHERE id = ANY($1::uuid[])", [Object.values(campaign.tasks)]);
  check(tasks.length === 3 && tasks.every((t) => t.status === "completed"), "enrichLeads, scoreLookalike and launchCampaign completed on the gateway", tasks);
}

try {
  await main();
  passed = true;
  log(`all ${checkCount()} checks passed in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
} catch (e) {
  console.error(`\n${e instanceof CheckError ? e.message : e.stack}`);
  for (const [label, file] of [["n8n", n8n?.server?.logFile ?? path.join(workDir, "n8n.log")], ["gateway", gateway?.logFile], ["n8n CLI", path.join(workDir, "n8n-cli.log")]]) {
    const tail = file ? tailFile(file, 25) : "";
    if (tail) console.error(`\n--- last lines of the ${label} log (${file}) ---\n${tail}`);
  }
} finally {
  await runCleanups();
}
process.exit(passed ? 0 : 1);
