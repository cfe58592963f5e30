#!/usr/bin/env node
"use strict";
// Exits only once stdout and stderr are flushed, so the Kestra protocol lines are never cut off.
const exit = (code) => process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
require("../src/cli").main(process.argv.slice(2)).then(exit, (e) => {
  process.stderr.write(`a2a-task: internal error: ${(e && e.stack) || e}\n`);
  exit(70);
});
