#!/usr/bin/env node
/**
 * Dedup quality and speed on public data. Run from the repo root: `npm run bench:dedupe` (builds,
 * then runs this on the compiled domain code in agent-services/dist).
 *
 * Data: Febrl synthetic person records (Christen; BSD-3-Clause) in ../shared/datasets (relative to the
 * project root; override with DATASETS_DIR): febrl-dataset3.csv (5,000 records: 2,000 originals and
 * 3,000 duplicates, several per original) and, as a check, febrl-dataset1.csv (1,000: 500 + 500).
 * Records sharing N in `rec-N-...` are one person.
 *
 * Method: each file goes through the same CSV import code as `leads:import` (automatic header mapping:
 * given_name -> firstName, surname -> lastName, address_1 -> address, suburb -> city, postcode; every
 * other column a typed attribute), the label column rec_id is removed, and dedupeLeads' matcher
 * (findDuplicates, default threshold 0.85, nothing fitted to the labels) clusters the leads.
 * Figures: pair precision, recall and F1 over all pairs inside predicted clusters against all pairs
 * sharing a label; runtime of the matcher (normalisation, blocking, scoring, clustering, survivors),
 * median of 3 runs, and the candidate pairs that blocking produced.
 *
 * It appends the table, dated and with the machine, to bench/RESULTS.md (`--no-record` to skip).
 */
import { createRequire } from "node:module";
import { createReadStream, existsSync } from "node:fs";
import path from "node:path";
import { appendSection } from "./lib/results.mjs";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const DIST = path.join(ROOT, "agent-services/dist/agents/data-engineer/domain");
if (!existsSync(path.join(DIST, "matcher.js"))) {
  console.error("agent-services/dist is missing: run `npm run build` first (npm run bench:dedupe does)");
  process.exit(1);
}
const { findDuplicates } = require(path.join(DIST, "matcher.js"));
const { importLeadsCsv } = require(path.join(DIST, "csv-import.js"));
const DATASETS = process.env.DATASETS_DIR || path.resolve(ROOT, "../shared/datasets");

async function loadFebrl(file) {
  const leads = [];
  const labels = [];
  const sink = {
    async insertBatch(rows) {
      return rows.map((r) => {
        const { rec_id: recId, ...attributes } = r.attributes;
        const id = String(recId);
        labels.push(/^rec-(\d+)-/.exec(id)[1]);
        leads.push({ id, ...r.fields, attributes });
        return id;
      });
    },
  };
  const summary = await importLeadsCsv(createReadStream(file), sink, {});
  if (summary.rejected) throw new Error(`${file}: ${summary.rejected} rows rejected`);
  return { leads, labels };
}

function pairKey(a, b) {
  return a < b ? `${a},${b}` : `${b},${a}`;
}

function evaluate(leads, labels, clusters) {
  const index = new Map(leads.map((l, i) => [l.id, i]));
  const predicted = new Set();
  for (const c of clusters) {
    const ids = [c.survivorId, ...c.duplicateIds].map((id) => index.get(id));
    for (let a = 0; a < ids.length; a++) for (let b = a + 1; b < ids.length; b++) predicted.add(pairKey(ids[a], ids[b]));
  }
  const groups = new Map();
  labels.forEach((l, i) => groups.set(l, [...(groups.get(l) ?? []), i]));
  let truth = 0;
  let tp = 0;
  for (const g of groups.values()) {
    for (let a = 0; a < g.length; a++) {
      for (let b = a + 1; b < g.length; b++) {
        truth++;
        if (predicted.has(pairKey(g[a], g[b]))) tp++;
      }
    }
  }
  const precision = predicted.size ? tp / predicted.size : 1;
  const recall = truth ? tp / truth : 1;
  const f1 = precision + recall ? (2 * precision * recall) / (precision + recall) : 0;
  return { truePairs: truth, predictedPairs: predicted.size, truePositives: tp, precision, recall, f1 };
}

async function bench(name) {
  const file = path.join(DATASETS, name);
  const { leads, labels } = await loadFebrl(file);
  const times = [];
  let result;
  for (let i = 0; i < 3; i++) {
    const t0 = process.hrtime.bigint();
    result = findDuplicates(leads, {});
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const m = evaluate(leads, labels, result.clusters);
  return { dataset: name, records: leads.length, candidatePairs: result.candidatePairs, clusters: result.clusters.length, ...m, matcherMs: Math.round(times[1]) };
}

const rows = [];
for (const name of ["febrl-dataset3.csv", "febrl-dataset1.csv"]) {
  const r = await bench(name);
  rows.push(r);
  console.log(JSON.stringify(r));
}
const fmt = (x) => x.toFixed(4);
const table = [
  "| data set | records | true pairs | predicted pairs | precision | recall | F1 | candidate pairs | matcher ms |",
  "|---|---|---|---|---|---|---|---|---|",
  ...rows.map((r) => `| ${r.dataset} | ${r.records} | ${r.truePairs} | ${r.predictedPairs} | ${fmt(r.precision)} | ${fmt(r.recall)} | ${fmt(r.f1)} | ${r.candidatePairs} | ${r.matcherMs} |`),
];
console.log("\n" + table.join("\n"));
if (!process.argv.includes("--no-record")) {
  const lines = ["Pairs: records sharing N in rec-N-... are one person; no tuning on the labels. Bar: F1 >= 0.97 on febrl-dataset3.", "", ...table];
  console.log(`appended to ${appendSection("dedupeLeads on public data (bench/dedupe.mjs)", lines)}`);
}
