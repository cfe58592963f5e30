#!/usr/bin/env node
"use strict";
/**
 * Runs the design document's patterns (examples/*.ts) against a running gateway:
 *   A2A_GATEWAY_URL=http://localhost:8080 A2A_TOKEN=<token with a2a:call> npm run examples [-- names...]
 * names: sequential, parallel, map-reduce, fallback, cancel (default: all). The examples import 60
 * leads of their own first (importLeads); enrichment needs the providers configured (APOLLO_API_KEY,
 * CLEARBIT_API_KEY, ZOOMINFO_USERNAME/PASSWORD on the workers), the campaign SMTP_URL and PUBLIC_URL.
 * The TypeScript is compiled on load with @swc/core, so the document's code runs without a build.
 */
const fs = require("node:fs");
const { transformSync } = require("@swc/core");

require.extensions[".ts"] = (module, filename) => {
  const { code } = transformSync(fs.readFileSync(filename, "utf8"), {
    filename,
    jsc: { parser: { syntax: "typescript" }, target: "es2022" },
    module: { type: "commonjs" },
  });
  module._compile(code, filename);
};

const { a2aClient, setCandidateLeads } = require("./support.ts");

function tenantOf(token) {
  return JSON.parse(Buffer.from(String(token).split(".")[1] || "", "base64url").toString("utf8")).tenantId;
}

async function main(names) {
  const tenantId = tenantOf(process.env.A2A_TOKEN);
  const csv = ["email,first_name,last_name,company,title"];
  for (let i = 0; i < 60; i++) csv.push(`example${i}@example-${i % 7}.com,Example${i},Lead,Example ${i % 7},${i % 3 ? "Engineer" : "VP Sales"}`);
  const imported = await a2aClient.createTask({ targetAgentId: "DataEngineer", type: "importLeads", inputs: { csv: csv.join("\n"), source: "examples" } });
  const leadIds = (await a2aClient.waitForTask(imported.taskId)).outputs.leadIds;
  setCandidateLeads(leadIds.slice(20));
  const runs = {
    sequential: async () => (await require("./sequential-chain.ts").sequentialAgentChain(leadIds.slice(0, 20), tenantId)).status,
    parallel: async () => `${(await require("./parallel-enrichment.ts").parallelEnrichment(leadIds.slice(0, 10), tenantId)).length} merged leads`,
    "map-reduce": async () => `${(await require("./map-reduce.ts").distributedEnrichment(leadIds, tenantId)).length} enriched leads`,
    fallback: async () => `${(await require("./fallback.ts").enrichWithFallback(leadIds.slice(0, 5), tenantId)).length} enriched leads`,
    cancel: async () => {
      const task = await a2aClient.createTask({ targetAgentId: "DataEngineer", type: "validateLeads", inputs: {} });
      return JSON.stringify(await require("./cancel-with-refund.ts").cancelTask(task.taskId, "example").catch((e) => e.message));
    },
  };
  let failed = 0;
  for (const name of names.length ? names : Object.keys(runs)) {
    if (!runs[name]) throw new Error(`unknown example "${name}"; known: ${Object.keys(runs).join(", ")}`);
    try {
      console.log(`${name}: ${await runs[name]()}`);
    } catch (e) {
      failed++;
      console.log(`${name}: failed: ${e.message}`);
    }
  }
  return failed ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code), (e) => {
  console.error(e.message);
  process.exit(2);
});
