#!/usr/bin/env node
// Entry point of the `ofswitch` command: runs the compiled CLI (npm install builds it into dist/).
import { run, processIo } from '../dist/src/cli/main.js';

Promise.resolve(run(process.argv.slice(2), processIo)).then(
  (status) => { process.exitCode = status; },
  (e) => { process.stderr.write(`ofswitch: ${e instanceof Error ? e.stack : String(e)}\n`); process.exitCode = 1; },
);
