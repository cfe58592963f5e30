/**
 * Runs bench/lib/sklearn_lookalike.py with a Python that has scikit-learn: SKLEARN_PYTHON, else
 * python3 if it imports sklearn, else a venv under ~/.cache/dealscale-bench with scikit-learn
 * installed by pip (created on first use). Returns null, with the reason on stderr, when none can be
 * had, so the bench still reports its other figures.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), "sklearn_lookalike.py");
const VENV = path.join(os.homedir(), ".cache/dealscale-bench/venv");

function sklearnVersion(python) {
  const r = spawnSync(python, ["-c", "import sklearn; print(sklearn.__version__)"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

function findPython() {
  const candidates = [process.env.SKLEARN_PYTHON, "python3", path.join(VENV, "bin/python")].filter(Boolean);
  for (const python of candidates) if (sklearnVersion(python)) return python;
  if (process.env.SKLEARN_PYTHON) return null;
  mkdirSync(path.dirname(VENV), { recursive: true });
  if (!existsSync(VENV) && spawnSync("python3", ["-m", "venv", VENV], { stdio: "inherit" }).status !== 0) return null;
  const python = path.join(VENV, "bin/python");
  spawnSync(python, ["-m", "pip", "install", "--quiet", "scikit-learn"], { stdio: "inherit" });
  return sklearnVersion(python) ? python : null;
}

export function sklearnLookalikeScores(job) {
  const python = findPython();
  if (!python) {
    console.error("scikit-learn not found and could not be installed (set SKLEARN_PYTHON)");
    return null;
  }
  const r = spawnSync(python, [SCRIPT], { input: JSON.stringify(job), encoding: "utf8", maxBuffer: 1 << 30 });
  if (r.status !== 0) {
    console.error(`sklearn_lookalike.py failed: ${r.stderr}`);
    return null;
  }
  return { version: sklearnVersion(python), ...JSON.parse(r.stdout) };
}
