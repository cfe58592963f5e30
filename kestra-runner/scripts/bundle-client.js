"use strict";
/**
 * npm pack's prepack and postpack: puts the a2a-client package (a workspace sibling, not on any
 * registry) into kestra-runner/node_modules so the tarball bundles it (bundleDependencies), and
 * takes it out again afterwards, so the workspace keeps resolving the live sibling.
 */
const fs = require("node:fs");
const path = require("node:path");

const source = path.resolve(__dirname, "../../a2a-client");
const target = path.resolve(__dirname, "../node_modules/@dealscale/a2a-client");

fs.rmSync(target, { recursive: true, force: true });
if (process.argv[2] === "--remove") {
  // The scope folder too, when nothing else is in it.
  const scope = path.dirname(target);
  if (fs.existsSync(scope) && fs.readdirSync(scope).length === 0) fs.rmdirSync(scope);
} else {
  fs.mkdirSync(target, { recursive: true });
  for (const file of ["package.json", "index.js", "index.d.ts"]) fs.copyFileSync(path.join(source, file), path.join(target, file));
}
