/**
 * The cache outside the repository that holds Node 24 and n8n for the e2e run and the benchmark:
 *
 *   $DEALSCALE_N8N_CACHE (default $XDG_CACHE_HOME/dealscale-n8n, or ~/.cache/dealscale-n8n)
 *     node24/  npm install --prefix node24 node-<platform>-<arch>@24   (a Node 24 binary from npm;
 *              n8n 2.x needs Node 22+, the system Node is left alone)
 *     n8n/     npm install n8n@$N8N_VERSION --ignore-scripts, then npm rebuild sqlite3 against
 *              node24's headers (nodedir: the network may be closed to nodejs.org)
 *
 * Each part writes a stamp file once it is complete and verified; a part whose stamp is missing or
 * names another version is installed again, so an interrupted install never counts as a cache.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { log, run } from "./util.mjs";

// 2.41.3 (the newest 2.x when this was written) depends on @n8n/agents@0.26.2, which the npm
// registry mirror this was developed against lacks; 2.41.1 installs.
export const N8N_VERSION = process.env.N8N_VERSION || "2.41.1";
const NODE_MAJOR = "24";

export function cacheDir() {
  if (process.env.DEALSCALE_N8N_CACHE) return path.resolve(process.env.DEALSCALE_N8N_CACHE);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), ".cache");
  return path.join(base, "dealscale-n8n");
}

const nodePackageName = () => `node-${process.platform}-${process.arch}`;

export function paths(cache = cacheDir()) {
  const nodePkg = path.join(cache, "node24", "node_modules", nodePackageName());
  return {
    cache,
    nodePrefix: path.join(cache, "node24"),
    nodePkg,
    node: path.join(nodePkg, "bin", "node"),
    nodeStamp: path.join(cache, "node24", ".complete"),
    n8nDir: path.join(cache, "n8n"),
    n8nBin: path.join(cache, "n8n", "node_modules", "n8n", "bin", "n8n"),
    n8nStamp: path.join(cache, "n8n", ".complete"),
  };
}

const readStamp = (file) => {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
};

/** PATH with Node 24 first, so npm and anything started with `node` run on it. */
export function node24Env(p = paths(), extra = {}) {
  return { ...process.env, PATH: `${path.dirname(p.node)}${path.delimiter}${process.env.PATH}`, ...extra };
}

async function nodeVersion(node) {
  const { stdout } = await run(node, ["--version"]);
  return stdout.trim();
}

async function verifyNode(p) {
  if (!existsSync(p.node)) return null;
  const version = await nodeVersion(p.node).catch(() => "");
  return version.startsWith(`v${NODE_MAJOR}.`) ? version : null;
}

/** n8n's installed version and that its sqlite3 binding loads under Node 24. */
async function verifyN8n(p) {
  const pkgFile = path.join(p.n8nDir, "node_modules", "n8n", "package.json");
  if (!existsSync(pkgFile)) return null;
  const { version } = JSON.parse(readFileSync(pkgFile, "utf8"));
  if (version !== N8N_VERSION) return null;
  const probe = await run(p.node, ["-e", "require('sqlite3'); require('n8n/package.json')"], { cwd: p.n8nDir, allowFailure: true });
  return probe.code === 0 ? version : null;
}

export async function ensureNode24(p = paths()) {
  const stamp = readStamp(p.nodeStamp);
  if (stamp?.major === NODE_MAJOR && existsSync(p.node)) {
    log(`Node ${stamp.version} from the cache (${p.nodePrefix})`);
    return p.node;
  }
  if (!["linux", "darwin"].includes(process.platform)) throw new Error(`no Node 24 package for ${process.platform}: install n8n's prerequisites by hand`);
  log(`installing ${nodePackageName()}@${NODE_MAJOR} into ${p.nodePrefix}`);
  rmSync(p.nodePrefix, { recursive: true, force: true });
  mkdirSync(p.nodePrefix, { recursive: true });
  await run("npm", ["install", "--prefix", p.nodePrefix, "--no-audit", "--no-fund", "--no-save", `${nodePackageName()}@${NODE_MAJOR}`], {
    logFile: path.join(p.nodePrefix, "install.log"),
  });
  const version = await verifyNode(p);
  if (!version) throw new Error(`${p.node} is not a working Node ${NODE_MAJOR}`);
  writeFileSync(p.nodeStamp, JSON.stringify({ major: NODE_MAJOR, version, at: new Date().toISOString() }) + "\n");
  log(`Node ${version} installed`);
  return p.node;
}

export async function ensureN8n(p = paths()) {
  const stamp = readStamp(p.n8nStamp);
  if (stamp?.n8n === N8N_VERSION && existsSync(p.n8nBin)) {
    log(`n8n ${stamp.n8n} from the cache (${p.n8nDir})`);
    return p.n8nBin;
  }
  rmSync(p.n8nStamp, { force: true });
  mkdirSync(p.n8nDir, { recursive: true });
  const pkgJson = path.join(p.n8nDir, "package.json");
  if (!existsSync(pkgJson)) writeFileSync(pkgJson, JSON.stringify({ name: "dealscale-n8n-cache", private: true }) + "\n");
  const env = node24Env(p);
  log(`installing n8n@${N8N_VERSION} into ${p.n8nDir} (a few minutes on a cold cache)`);
  // n8n's own install scripts (isolated-vm, ...) are not needed to run it; sqlite3's native binding is.
  await run("npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", `n8n@${N8N_VERSION}`], {
    cwd: p.n8nDir,
    env,
    logFile: path.join(p.n8nDir, "install.log"),
  });
  log("building sqlite3 for Node 24");
  await run("npm", ["rebuild", "sqlite3"], {
    cwd: p.n8nDir,
    env: { ...env, npm_config_nodedir: p.nodePkg },
    logFile: path.join(p.n8nDir, "rebuild.log"),
  });
  const version = await verifyN8n(p);
  if (!version) throw new Error(`n8n ${N8N_VERSION} in ${p.n8nDir} does not load under Node 24 (see install.log and rebuild.log there)`);
  writeFileSync(p.n8nStamp, JSON.stringify({ n8n: version, node: await nodeVersion(p.node), at: new Date().toISOString() }) + "\n");
  log(`n8n ${version} installed`);
  return p.n8nBin;
}

/** Node 24 and n8n, installed when the cache lacks them. */
export async function ensureCache() {
  const p = paths();
  mkdirSync(p.cache, { recursive: true });
  await ensureNode24(p);
  await ensureN8n(p);
  return p;
}

