#!/usr/bin/env node
/**
 * Where a .cpuprofile's time goes: self time by area (our source folders, each npm package, node
 * internals, GC, idle) and the top functions by self time. `node bench/lib/cpuprofile-summary.mjs
 * FILE [top]`. The areas are what bench/RESULTS.md's profiles quote.
 */
import { readFileSync } from "node:fs";

function areaOf(url, name) {
  if (name === "(garbage collector)") return "GC";
  if (name === "(idle)") return "idle";
  if (name === "(program)") return "(program)";
  if (!url) return "native/V8";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  const ours = /agent-services\/dist\/([^/]+(?:\/[^/]+)?)\//.exec(url);
  if (ours) return `ours: ${ours[1].replace(/^agents\/[^/]+$/, "agents")}`;
  if (url.startsWith("node:")) return "node core";
  return url;
}

export function summarize(profile, top = 25) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) self.set(profile.samples[i], (self.get(profile.samples[i]) ?? 0) + (dt[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const areas = new Map();
  const fns = new Map();
  for (const [id, us] of self) {
    const n = byId.get(id);
    const { url, functionName, lineNumber } = n.callFrame;
    const area = areaOf(url, functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const key = `${functionName || "(anonymous)"} ${url.replace(/^.*node_modules\//, "").replace(/^.*agent-services\/dist\//, "")}:${lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  const busy = total - (areas.get("idle") ?? 0);
  const rows = (m) => [...m].sort((a, b) => b[1] - a[1]).map(([k, us]) => ({ what: k, ms: Math.round(us / 1000), ofBusy: us / busy }));
  return { totalMs: Math.round(total / 1000), busyMs: Math.round(busy / 1000), areas: rows(areas), functions: rows(fns).slice(0, top) };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = summarize(JSON.parse(readFileSync(process.argv[2], "utf8")), Number(process.argv[3] ?? 25));
  console.log(`profile ${s.totalMs} ms, busy ${s.busyMs} ms`);
  console.log("\nself time by area (share of busy):");
  for (const r of s.areas) console.log(`  ${(r.ofBusy * 100).toFixed(1).padStart(5)} %  ${String(r.ms).padStart(6)} ms  ${r.what}`);
  console.log("\ntop functions by self time:");
  for (const r of s.functions) console.log(`  ${(r.ofBusy * 100).toFixed(1).padStart(5)} %  ${String(r.ms).padStart(6)} ms  ${r.what}`);
}
