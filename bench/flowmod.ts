/**
 * FLOW_MODs applied per second, from a client over TCP, for ofswitch and Open vSwitch in the same
 * run (issue 4, "Speed").
 *
 * Both switches get exactly the same bytes from the same client: N distinct ADD flow-mods
 * (eth_type=IPv4, ipv4_dst=10.x.y.z, priority 100, apply-actions output:1) are encoded once with
 * src/openflow, written pipelined on one TCP connection, followed by a BARRIER_REQUEST; the time
 * runs from the first byte written to the BARRIER_REPLY (every flow-mod is then applied: that is
 * what a barrier promises). Any OFPT_ERROR makes the run fail. Between runs the table is emptied
 * (DELETE on all tables + barrier, not timed). Untimed warm-up runs of the same batch come first
 * (WARM_UP_FLOWS).
 *
 * ofswitch runs as a child process (`node bin/ofswitch.js start`), Open vSwitch as a private
 * ovs-vswitchd with a netdev bridge (test/peers/ovs-switch.ts). The figure is the median of 3 runs
 * (1 with --quick) for 10,000 and 100,000 flows (10,000 only with --quick). For reference,
 * `ovs-ofctl add-flows` of the 10,000 flows from a file is timed against both too (that includes
 * ovs-ofctl's parsing and its own connection setup).
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OFPT, OFPFC, OFPIT, OFPAT, OFPP, OFPXMT, encode, type Message } from '../src/openflow/index.js';
import { startOvsSwitch, type OvsSwitch } from '../test/peers/ovs-switch.js';
import { findTool } from '../test/peers/peers.js';

const bin = fileURLToPath(new URL('../../bin/ofswitch.js', import.meta.url));

export interface SwitchFigure {
  /** Flow-mods per second: median, min and max over the runs. */
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Milliseconds of the median run. */
  readonly ms: number;
}

export interface FlowModSize {
  readonly flows: number;
  readonly ofswitch: SwitchFigure;
  readonly ovs: SwitchFigure;
  /** ofswitch / OVS (medians). */
  readonly ratio: number;
}

export interface FlowModBenchResult {
  readonly runs: number;
  readonly ovsVersion: string;
  readonly sizes: FlowModSize[];
  /** `ovs-ofctl add-flows` of 10,000 flows from a file, flow-mods per second (one run). */
  readonly ofctlAddFlows?: { readonly flows: number; readonly ofswitch: number; readonly ovs: number };
}

// ---------------------------------------------------------------------------------------------
// A minimal OpenFlow client: raw bytes out, frames in
// ---------------------------------------------------------------------------------------------

class RawClient {
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<{ xid: number; resolve: () => void; reject: (e: Error) => void }> = [];
  readonly errors: string[] = [];

  private constructor(private readonly sock: Socket) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('close', () => {
      for (const w of this.waiters) w.reject(new Error('connection closed'));
      this.waiters = [];
    });
    sock.on('error', () => { /* close follows */ });
  }

  static async connect(port: number): Promise<RawClient> {
    const sock = createConnection({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new RawClient(sock);
    sock.write(encode({ version: 4, type: OFPT.HELLO, xid: 1, elements: [{ type: 1, bitmaps: [1 << 4] }] } as Message));
    // A barrier answered means the HELLO exchange is done.
    await c.barrier(2);
    return c;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let off = 0;
    while (this.buf.length - off >= 8) {
      const len = this.buf.readUInt16BE(off + 2);
      if (this.buf.length - off < len) break;
      const type = this.buf[off + 1]!;
      const xid = this.buf.readUInt32BE(off + 4);
      if (type === OFPT.ERROR) {
        this.errors.push(`xid ${xid}: type ${this.buf.readUInt16BE(off + 8)} code ${this.buf.readUInt16BE(off + 10)}`);
      } else if (type === OFPT.ECHO_REQUEST) {
        const reply = Buffer.from(this.buf.subarray(off, off + len));
        reply[1] = OFPT.ECHO_REPLY;
        this.sock.write(reply);
      } else if (type === OFPT.BARRIER_REPLY) {
        const i = this.waiters.findIndex((w) => w.xid === xid);
        if (i >= 0) this.waiters.splice(i, 1)[0]!.resolve();
      }
      off += len;
    }
    this.buf = this.buf.subarray(off);
  }

  write(bytes: Buffer): void {
    this.sock.write(bytes);
  }

  barrier(xid: number, timeoutMs = 300_000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no BARRIER_REPLY within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ xid, resolve: () => { clearTimeout(timer); resolve(); }, reject: (e) => { clearTimeout(timer); reject(e); } });
      this.sock.write(encode({ version: 4, type: OFPT.BARRIER_REQUEST, xid } as Message));
    });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The workload
// ---------------------------------------------------------------------------------------------

function ipOf(i: number): string {
  return `10.${(i >>> 16) & 0xff}.${(i >>> 8) & 0xff}.${i & 0xff}`;
}

function flowMod(i: number): Message {
  return {
    version: 4, type: OFPT.FLOW_MOD, xid: 1000 + i, cookie: 0n, cookieMask: 0n, tableId: 0, command: OFPFC.ADD,
    idleTimeout: 0, hardTimeout: 0, priority: 100, bufferId: 0xffffffff, outPort: OFPP.ANY, outGroup: 0xffffffff, flags: 0,
    match: [{ field: OFPXMT.ETH_TYPE, value: 0x0800 }, { field: OFPXMT.IPV4_DST, value: ipOf(i) }],
    instructions: [{ type: OFPIT.APPLY_ACTIONS, actions: [{ type: OFPAT.OUTPUT, port: 1, maxLen: 0 }] }],
  } as Message;
}

const deleteAll = encode({
  version: 4, type: OFPT.FLOW_MOD, xid: 3, cookie: 0n, cookieMask: 0n, tableId: 0xff, command: OFPFC.DELETE,
  idleTimeout: 0, hardTimeout: 0, priority: 0, bufferId: 0xffffffff, outPort: OFPP.ANY, outGroup: 0xffffffff, flags: 0,
  match: [], instructions: [],
} as Message);

/** One timed run: the flow-mods and a barrier on a fresh, empty table. Returns milliseconds. */
async function timedRun(port: number, bytes: Buffer, what: string): Promise<number> {
  const c = await RawClient.connect(port);
  try {
    c.write(deleteAll);
    await c.barrier(4);
    const t0 = process.hrtime.bigint();
    c.write(bytes);
    await c.barrier(5);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (c.errors.length > 0) throw new Error(`${what}: ${c.errors.length} errors, first ${c.errors[0]!}`);
    c.write(deleteAll);
    await c.barrier(6);
    return ms;
  } finally {
    c.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The switches
// ---------------------------------------------------------------------------------------------

async function startOfswitch(): Promise<{ proc: ChildProcess; port: number }> {
  // A private control socket: a benchmark must not take the machine's default one.
  const socket = join(mkdtempSync(join(tmpdir(), 'ofswitch-bench-')), 'ctl');
  const proc = spawn(process.execPath, [bin, 'start', '--listen', 'ptcp:0', '--port', 'p1@1', '--port', 'p2@2', '--log-level', 'warn', '--socket', socket], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`ofswitch did not start within 10 s: ${err}`)), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^listening on ptcp:(\d+):127\.0\.0\.1$/m.exec(out);
      if (m !== null) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`ofswitch exited with ${code}: ${err}`)); });
  });
  return { proc, port };
}

function figure(msList: number[], n: number): SwitchFigure {
  const rates = msList.map((ms) => (n / ms) * 1000).sort((a, b) => a - b);
  const sortedMs = [...msList].sort((a, b) => a - b);
  return { median: rates[Math.floor(rates.length / 2)]!, min: rates[0]!, max: rates[rates.length - 1]!, ms: sortedMs[Math.floor(sortedMs.length / 2)]! };
}

/** ovs-ofctl add-flows of `n` flows from a file; flow-mods per second. */
function ofctlAddFlows(target: string, file: string, n: number): number {
  const ofctl = findTool('ovs-ofctl');
  if (ofctl === null) return NaN;
  spawnSync(ofctl, ['-O', 'OpenFlow13', 'del-flows', target], { timeout: 120_000 });
  const t0 = process.hrtime.bigint();
  const r = spawnSync(ofctl, ['-O', 'OpenFlow13', 'add-flows', target, file], { encoding: 'utf8', timeout: 300_000 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`ovs-ofctl add-flows ${target}: ${r.stderr}`);
  spawnSync(ofctl, ['-O', 'OpenFlow13', 'del-flows', target], { timeout: 120_000 });
  return (n / ms) * 1000;
}

/**
 * Flow-mods sent untimed before the timed runs of each size. V8 compiles the switch's hot path on
 * background threads once it has run enough: measured on a 2-core machine under load, runs of
 * 10,000 stayed 2-10 times below their steady rate for the first 20,000-40,000 flow-mods (a
 * 2,000-flow warm-up, as this used to be, leaves the 10,000-flow figure mostly measuring the
 * JIT). Open vSwitch gets the same warm-up.
 */
const WARM_UP_FLOWS = 50_000;

export async function runFlowModBench(quick: boolean): Promise<FlowModBenchResult> {
  const sizes = quick ? [10_000] : [10_000, 100_000];
  const runs = quick ? 1 : 3;
  let ovs: OvsSwitch | undefined;
  let ours: { proc: ChildProcess; port: number } | undefined;
  const tmp = mkdtempSync(join(tmpdir(), 'ofswitch-bench-'));
  try {
    ovs = await startOvsSwitch({ ports: 2 });
    ours = await startOfswitch();
    const out: FlowModSize[] = [];
    for (const n of sizes) {
      const bytes = Buffer.concat(Array.from({ length: n }, (_, i) => encode(flowMod(i))));
      // Untimed warm-up runs per switch, the same batch as the timed ones, WARM_UP_FLOWS flow-mods
      // or more in all (at least one run): the JIT, and the allocation of the table structures.
      for (let w = 0; w < Math.max(1, Math.ceil(WARM_UP_FLOWS / n)); w++) {
        await timedRun(ours.port, bytes, 'ofswitch warm-up');
        await timedRun(ovs.port, bytes, 'OVS warm-up');
      }
      const a: number[] = [];
      const b: number[] = [];
      for (let r = 0; r < runs; r++) {
        a.push(await timedRun(ours.port, bytes, `ofswitch, ${n} flows`));
        b.push(await timedRun(ovs.port, bytes, `OVS, ${n} flows`));
      }
      const fa = figure(a, n);
      const fb = figure(b, n);
      out.push({ flows: n, ofswitch: fa, ovs: fb, ratio: fa.median / fb.median });
    }
    const refN = 10_000;
    const file = join(tmp, 'flows.txt');
    writeFileSync(file, Array.from({ length: refN }, (_, i) => `priority=100,ip,nw_dst=${ipOf(i)},actions=output:1`).join('\n') + '\n');
    const ofctlAdd = {
      flows: refN,
      ofswitch: ofctlAddFlows(`tcp:127.0.0.1:${ours.port}`, file, refN),
      ovs: ofctlAddFlows(ovs.target, file, refN),
    };
    return { runs, ovsVersion: ovs.version, sizes: out, ofctlAddFlows: ofctlAdd };
  } finally {
    if (ours !== undefined && ours.proc.exitCode === null) {
      const exited = new Promise((r) => ours!.proc.once('exit', r));
      ours.proc.kill('SIGTERM');
      await exited;
    }
    if (ovs !== undefined) await ovs.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

const k = (r: number): string => (r >= 1e6 ? `${(r / 1e6).toFixed(2)}M` : `${(r / 1e3).toFixed(1)}k`);

export function printFlowModBench(r: FlowModBenchResult): void {
  console.log(`\nFLOW_MODs per second over TCP, pipelined, barrier at the end (median of ${r.runs}; ${r.ovsVersion})`);
  console.log(`  ${'flows'.padEnd(9)} ${'ofswitch'.padEnd(37)}${'Open vSwitch'.padEnd(37)}ofswitch/OVS`);
  for (const s of r.sizes) {
    const col = (f: SwitchFigure): string => `${k(f.median)}/s (${k(f.min)}-${k(f.max)}, ${f.ms.toFixed(0)} ms)`.padEnd(36) + " ";
    console.log(`  ${String(s.flows).padEnd(9)} ${col(s.ofswitch)}${col(s.ovs)}${s.ratio.toFixed(2)}x`);
  }
  if (r.ofctlAddFlows !== undefined) {
    const a = r.ofctlAddFlows;
    console.log(`  reference: ovs-ofctl add-flows of ${a.flows} flows from a file: ofswitch ${k(a.ofswitch)}/s, Open vSwitch ${k(a.ovs)}/s`);
  }
}
