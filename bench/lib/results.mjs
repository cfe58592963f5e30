/** Appends a dated section, with the machine it ran on, to bench/RESULTS.md. */
import { appendFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const RESULTS_MD = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../RESULTS.md");

export function machineLine() {
  return `machine: ${os.cpus().length} cores (nproc ${os.availableParallelism?.() ?? os.cpus().length}), ${os.cpus()[0]?.model ?? "?"}; Node ${process.version}; load average at end ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}`;
}

export function appendSection(title, lines) {
  const date = new Date().toISOString().slice(0, 10);
  appendFileSync(RESULTS_MD, `\n## ${date}: ${title}\n\n${machineLine()}\n\n${lines.join("\n")}\n`);
  return RESULTS_MD;
}
