/**
 * `npm run bench`: every micro-benchmark, printed as tables. `--quick` runs short rounds (to keep
 * the benchmarks working); `--json FILE` also writes the figures for later comparison.
 */

import { writeFileSync } from 'node:fs';
import { runCodecBench, printCodecBench } from './codec.js';
import { runExtractBench, printExtractBench } from './packet-extract.js';
import { runRewriteBench, printRewriteBench } from './packet-rewrite.js';
import { runClassifierBench, printClassifierBench } from './classifier.js';
import { runFlowModBench, printFlowModBench } from './flowmod.js';
import { runDatapathBench, printDatapathBench } from './datapath.js';
import { runSwitchBench, printSwitchBench } from './switch.js';
import { runNetdevBench, printNetdevBench } from './netdev.js';
import { runTunnelBench, printTunnelBench } from './tunnel.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const jsonAt = args.indexOf('--json');

const codec = runCodecBench(quick);
printCodecBench(codec);
const extract = runExtractBench(quick);
printExtractBench(extract);
const rewrite = runRewriteBench(quick);
printRewriteBench(rewrite);
const classifier = runClassifierBench(quick);
printClassifierBench(classifier);
const flowmod = await runFlowModBench(quick);
printFlowModBench(flowmod);
const datapath = runDatapathBench(quick);
printDatapathBench(datapath);
const whole = await runSwitchBench(quick);
printSwitchBench(whole);
const netdev = await runNetdevBench(quick);
printNetdevBench(netdev);
const tunnel = await runTunnelBench(quick);
printTunnelBench(tunnel);
if (jsonAt >= 0 && args[jsonAt + 1]) {
  writeFileSync(args[jsonAt + 1]!, JSON.stringify({ date: new Date().toISOString(), node: process.version, codec, extract, rewrite, classifier, flowmod, datapath, switch: whole, netdev, tunnel }, null, 2));
}
