#!/usr/bin/env node
// Entry point of the `ofswitch` command: runs the compiled CLI (npm install builds it into dist/).
import { main, processIo } from '../dist/src/cli/main.js';

process.exitCode = main(process.argv.slice(2), processIo);
