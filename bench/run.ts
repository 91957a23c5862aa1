/**
 * `npm run bench`: every micro-benchmark, printed as a table. `--quick` runs short rounds (CI uses
 * it to keep the benchmarks working); `--json FILE` also writes the figures for later comparison.
 */

import { writeFileSync } from 'node:fs';
import { runCodecBench, printCodecBench } from './codec.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jsonAt = args.indexOf('--json');

const codec = runCodecBench(quick);
printCodecBench(codec);
if (jsonAt >= 0 && args[jsonAt + 1]) {
  writeFileSync(args[jsonAt + 1]!, JSON.stringify({ date: new Date().toISOString(), node: process.version, codec }, null, 2));
}
