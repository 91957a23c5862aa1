/**
 * The benchmark suite of issue 7: ofswitch side by side with Open vSwitch (userspace datapath,
 * `datapath_type=netdev`) and with a plain C forwarder (the machine's ceiling), on the same veth
 * ports, the same rules and the same traffic, in one run. Needs root (namespaces, veth,
 * AF_PACKET), a C compiler, the native addon and Debian's openvswitch-switch.
 *
 * Topology: namespace `ofbN-s` (the sender) holds eth0, whose peer `ofbNs` is in the root
 * namespace; namespace `ofbN-r` (the receiver) holds eth0 with peer `ofbNr`. The device under
 * test forwards between ofbNs (OpenFlow port 1) and ofbNr (port 2). N is our PID; everything is
 * removed by name at the end (and by an exit hook), processes are stopped by their PID.
 * Traffic is 60-byte UDP frames from bench/native/blast.c (sendmmsg) in the sender namespace;
 * frames are counted from the receiver's eth0 counters (read through /proc/PID/net/dev of a
 * process that sits in the receiver namespace, so reading costs no fork in the timed window).
 * The blasted frames are addressed to a MAC the receiver does not own, so its stack drops them
 * at once and spends no CPU that the switch needs.
 *
 * Figures (each the median of 3 runs with min and max, 1 run in --short mode):
 *  1. frames/s forwarded with one rule in_port=1 -> 2;
 *  2. frames/s with 10,000 exact-match 5-tuple rules and traffic cycling over them (1,000 short);
 *  3. frames/s with 100,000 distinct 5-tuples against one wildcard rule (10,000 short);
 *  4. FLOW_MODs/s over TCP (bench/flowmod.ts, its own switches with dummy ports);
 *  5. PACKET_INs/s delivered to a client over TCP on table-miss while the sender blasts;
 *  6. PACKET_OUTs/s (pipelined, barrier at the end) turned into frames on port 2;
 *  7. resident memory per rule: RSS of the switch process before and after 100,000 rules
 *     (and 1,000,000 in full mode; 10,000 short), pipelined flow-mods confirmed by a barrier;
 *  8. ping round trip through the switch: first packet after the datapath cache is flushed
 *     (the upcall path) and steady state.
 *
 * Run: `npm run bench:switch` (full) or `node dist/bench/switch-vs-ovs.js [--short] [--json FILE]
 * [--only ofswitch,ovs,ceiling] [--no-flowmod]`.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { cpus, tmpdir, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { OFPT, OFPFC, OFPIT, OFPAT, OFPP, OFPXMT, encode, type Message } from '../src/openflow/index.js';
import { findTool } from '../test/peers/peers.js';
import { requireOvsSwitch } from '../test/peers/ovs-switch.js';
import { OFSWITCH_BIN, startSwitch, type SwitchProcess } from '../test/switch-process.js';
import { runFlowModBench } from './flowmod.js';

export type SystemName = 'ofswitch' | 'ovs' | 'ceiling';
const SYSTEMS: readonly SystemName[] = ['ofswitch', 'ovs', 'ceiling'];

export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly samples: readonly number[];
}

export interface Figure {
  /** "1" … "8" (with a suffix where a figure has several rows). */
  readonly id: string;
  readonly title: string;
  readonly unit: string;
  readonly higherIsBetter: boolean;
  /** The systems this figure applies to (the C forwarder has no OpenFlow side). */
  readonly systems: readonly SystemName[];
  readonly values: Partial<Record<SystemName, Stat>>;
  /** What went wrong for a system, when it gave no value. */
  readonly errors: Partial<Record<SystemName, string>>;
}

export interface SwitchBenchResult {
  readonly date: string;
  readonly mode: 'short' | 'full';
  readonly machine: { readonly cpus: number; readonly model: string; readonly kernel: string; readonly loadavg: string };
  readonly ovsVersion: string;
  readonly figures: Figure[];
}

export interface SwitchBenchOptions {
  readonly short: boolean;
  /** The devices to measure (default all three; the others' cells stay empty). */
  readonly systems?: readonly SystemName[];
  /** Skip figure 4 (bench/flowmod.ts, which starts switches of its own). */
  readonly skipFlowMods?: boolean;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

function sh(cmd: string, args: readonly string[], opts: { input?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): { status: number | null; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 60_000, maxBuffer: 64 << 20, ...(opts.input !== undefined ? { input: opts.input } : {}), ...(opts.env !== undefined ? { env: opts.env } : {}) });
  return { status: r.status, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error !== undefined ? r.error.message : '') };
}

function must(cmd: string, args: readonly string[], opts: { input?: string; timeout?: number; env?: NodeJS.ProcessEnv } = {}): string {
  const r = sh(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${String(r.status)}: ${r.err.trim()}`);
  return r.out;
}

function stat(samples: readonly number[]): Stat {
  const s = [...samples].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)]!, min: s[0]!, max: s[s.length - 1]!, samples };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stopPid(pid: number | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (pid === undefined || !alive(pid)) return;
  try { process.kill(pid, signal); } catch { return; }
  const t0 = Date.now();
  while (alive(pid) && Date.now() - t0 < 5000) await delay(20);
  if (alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/**
 * The processes this run started and has not stopped yet, for the exit hook: an interrupted run
 * must not leave a switch or a daemon holding the veths it is about to delete.
 */
const started = new Set<() => readonly (number | undefined)[]>();

function killStarted(): void {
  for (const pids of started) for (const pid of pids()) if (pid !== undefined && alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  started.clear();
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Compiles bench/native/NAME.c into `dir`; returns the binary's path. */
function compile(name: string, dir: string): string {
  const src = fileURLToPath(new URL(`../../bench/native/${name}.c`, import.meta.url));
  const out = join(dir, name);
  must('cc', ['-O2', '-o', out, src]);
  return out;
}

// The blasted frame: 02:00:00:00:00:aa -> 02:00:00:00:00:bb, IPv4 10.0.0.1 -> 10.0.0.2, UDP 1 -> 2
// (the same bytes as blast.c's single flow).
const FRAME = Buffer.from([
  2, 0, 0, 0, 0, 0xbb, 2, 0, 0, 0, 0, 0xaa, 0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0x66, 0xce,
  10, 0, 0, 1, 10, 0, 0, 2, 0, 1, 0, 2, 0, 8, 0xff, 0xe4, ...new Array<number>(18).fill(0),
]);

/** The 5-tuple of blast.c's flow i (see its header): source address and UDP source port. */
function tupleOf(i: number): { src: string; sport: number } {
  return { src: `10.${16 + ((i >>> 16) & 255)}.${(i >>> 8) & 255}.${i & 255}`, sport: 1024 + (i & 0x7fff) };
}

// ---------------------------------------------------------------------------------------------
// The topology
// ---------------------------------------------------------------------------------------------

class Topology {
  readonly tag = `ofb${process.pid % 100000}`;
  readonly nsS = `${this.tag}-s`;
  readonly nsR = `${this.tag}-r`;
  readonly vS = `${this.tag}s`;
  readonly vR = `${this.tag}r`;
  /** A process parked in the receiver namespace: its /proc/PID/net/dev is that namespace's. */
  private parked: ChildProcess | undefined;

  create(): void {
    this.destroy();
    for (const [ns, veth, mac, addr] of [[this.nsS, this.vS, '02:00:00:00:00:01', '10.0.0.1/24'], [this.nsR, this.vR, '02:00:00:00:00:02', '10.0.0.2/24']] as const) {
      must('ip', ['netns', 'add', ns]);
      must('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      must('sysctl', ['-qw', `net.ipv6.conf.${veth}.disable_ipv6=1`]);
      must('ip', ['link', 'set', veth, 'up']);
      const inNs = (...a: string[]): string => must('ip', ['netns', 'exec', ns, ...a]);
      inNs('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1');
      inNs('ip', 'link', 'set', 'eth0', 'address', mac);
      inNs('ip', 'addr', 'add', addr, 'dev', 'eth0');
      inNs('ip', 'link', 'set', 'eth0', 'up');
      inNs('ip', 'link', 'set', 'lo', 'up');
    }
    // Static neighbours: a ping is then exactly one ICMP echo each way (no ARP in the timing).
    must('ip', ['netns', 'exec', this.nsS, 'ip', 'neigh', 'replace', '10.0.0.2', 'lladdr', '02:00:00:00:00:02', 'dev', 'eth0', 'nud', 'permanent']);
    must('ip', ['netns', 'exec', this.nsR, 'ip', 'neigh', 'replace', '10.0.0.1', 'lladdr', '02:00:00:00:00:01', 'dev', 'eth0', 'nud', 'permanent']);
    // `ip netns exec` execs the command, so the child's PID is the parked process itself.
    this.parked = spawn('ip', ['netns', 'exec', this.nsR, 'sleep', '1000000'], { stdio: 'ignore' });
  }

  /** Frames received on the receiver's eth0 so far. */
  rx(): number {
    const pid = this.parked?.pid;
    if (pid === undefined) throw new Error('no receiver process');
    const line = readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').find((l) => l.trim().startsWith('eth0:'));
    if (line === undefined) throw new Error('no eth0 in the receiver namespace');
    return Number(line.split(':')[1]!.trim().split(/\s+/)[1]);
  }

  inNs(ns: string, args: readonly string[], timeout = 60_000): { status: number | null; out: string; err: string } {
    return sh('ip', ['netns', 'exec', ns, ...args], { timeout });
  }

  destroy(): void {
    const pid = this.parked?.pid;
    if (pid !== undefined && alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    this.parked = undefined;
    for (const l of [this.vS, this.vR, `${this.tag}b`]) if (existsSync(`/sys/class/net/${l}`)) sh('ip', ['link', 'del', l]);
    for (const ns of [this.nsS, this.nsR]) if (existsSync(`/run/netns/${ns}`)) sh('ip', ['netns', 'del', ns]);
  }
}

// ---------------------------------------------------------------------------------------------
// A minimal OpenFlow connection: raw bytes out; barriers, errors and PACKET_INs counted
// ---------------------------------------------------------------------------------------------

class OfConn {
  private buf: Buffer = Buffer.alloc(0);
  private waiters = new Map<number, () => void>();
  private nextXid = 100;
  readonly errors: string[] = [];
  packetIns = 0;

  private constructor(private readonly sock: Socket) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => { /* close follows */ });
  }

  static async connect(port: number): Promise<OfConn> {
    const sock = createConnection({ host: '127.0.0.1', port });
    await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    const c = new OfConn(sock);
    sock.write(encode({ version: 4, type: OFPT.HELLO, xid: 1, elements: [{ type: 1, bitmaps: [1 << 4] }] } as Message));
    // Open vSwitch treats a connection accepted on a ptcp: listener like a service connection,
    // which gets no asynchronous messages until it asks: OFPT_SET_ASYNC with every reason on.
    const async = Buffer.alloc(32);
    async.writeUInt8(4, 0);
    async.writeUInt8(OFPT.SET_ASYNC, 1);
    async.writeUInt16BE(32, 2);
    async.writeUInt32BE(2, 4);
    for (const [i, mask] of [7, 7, 7, 7, 15, 15].entries()) async.writeUInt32BE(mask, 8 + 4 * i);
    sock.write(async);
    await c.barrier();
    return c;
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let off = 0;
    while (this.buf.length - off >= 8) {
      const len = this.buf.readUInt16BE(off + 2);
      if (len < 8 || this.buf.length - off < len) break;
      const type = this.buf[off + 1]!;
      const xid = this.buf.readUInt32BE(off + 4);
      if (type === OFPT.PACKET_IN) this.packetIns++;
      else if (type === OFPT.ERROR) this.errors.push(`xid ${xid}: type ${this.buf.readUInt16BE(off + 8)} code ${this.buf.readUInt16BE(off + 10)}`);
      else if (type === OFPT.ECHO_REQUEST) {
        const reply = Buffer.from(this.buf.subarray(off, off + len));
        reply[1] = OFPT.ECHO_REPLY;
        this.sock.write(reply);
      } else if (type === OFPT.BARRIER_REPLY) {
        const w = this.waiters.get(xid);
        this.waiters.delete(xid);
        w?.();
      }
      off += len;
    }
    this.buf = this.buf.subarray(off);
  }

  /** Writes, waiting for the socket to drain when its buffer is full. */
  async write(bytes: Buffer): Promise<void> {
    if (!this.sock.write(bytes)) await new Promise((r) => this.sock.once('drain', r));
  }

  barrier(timeoutMs = 900_000): Promise<void> {
    const xid = this.nextXid++;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no BARRIER_REPLY within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.set(xid, () => { clearTimeout(timer); resolve(); });
      this.sock.write(encode({ version: 4, type: OFPT.BARRIER_REQUEST, xid } as Message));
    });
  }

  close(): void {
    this.sock.destroy();
  }
}

function ruleFlowMod(i: number): Buffer {
  return encode({
    version: 4, type: OFPT.FLOW_MOD, xid: 1000, cookie: 0n, cookieMask: 0n, tableId: 0, command: OFPFC.ADD,
    idleTimeout: 0, hardTimeout: 0, priority: 50, bufferId: 0xffffffff, outPort: OFPP.ANY, outGroup: 0xffffffff, flags: 0,
    match: [{ field: OFPXMT.ETH_TYPE, value: 0x0800 }, { field: OFPXMT.IPV4_DST, value: `11.${(i >>> 16) & 0xff}.${(i >>> 8) & 0xff}.${i & 0xff}` }],
    instructions: [{ type: OFPIT.APPLY_ACTIONS, actions: [{ type: OFPAT.OUTPUT, port: 2, maxLen: 0 }] }],
  } as Message);
}

// ---------------------------------------------------------------------------------------------
// The devices under test
// ---------------------------------------------------------------------------------------------

interface Device {
  readonly name: SystemName;
  /** The OpenFlow listener (TCP port on 127.0.0.1); undefined for the C forwarder. */
  readonly ofPort: number | undefined;
  /** The process whose memory is the switch's. */
  readonly pid: number | undefined;
  /** Replaces all rules with these (ovs-ofctl flow syntax). */
  setFlows(lines: readonly string[]): void;
  /** Empties the datapath's flow cache, so that the next packet takes the upcall path. */
  flushCache(): void;
  stop(): Promise<void>;
}

function ofctl(): string {
  const p = findTool('ovs-ofctl');
  if (p === null) throw new Error('ovs-ofctl not found (Debian package openvswitch-common)');
  return p;
}

function setFlowsAt(port: number, lines: readonly string[], dir: string): void {
  const file = join(dir, 'flows.txt');
  writeFileSync(file, lines.join('\n') + '\n');
  must(ofctl(), ['-O', 'OpenFlow13', 'del-flows', `tcp:127.0.0.1:${port}`], { timeout: 300_000 });
  if (lines.length > 0) must(ofctl(), ['-O', 'OpenFlow13', 'add-flows', `tcp:127.0.0.1:${port}`, file], { timeout: 600_000 });
}

async function startOfswitchDevice(t: Topology, dir: string, extra: readonly string[] = []): Promise<Device> {
  const sw: SwitchProcess = await startSwitch([
    '--listen', 'ptcp:0', '--fail-mode', 'secure', '--log-level', 'warn', ...extra,
    '--port', `${t.vS}@1,type=system`, '--port', `${t.vR}@2,type=system`, '--socket', join(dir, 'ofswitch.ctl'),
  ]);
  const pids = (): number[] => [sw.proc.pid!];
  started.add(pids);
  return {
    name: 'ofswitch', ofPort: sw.port, pid: sw.proc.pid,
    setFlows: (lines) => setFlowsAt(sw.port, lines, dir),
    flushCache: () => { must(process.execPath, [OFSWITCH_BIN, 'ctl', '--socket', sw.socket, 'dpctl/del-flows']); },
    stop: async () => { await stopPid(sw.proc.pid); started.delete(pids); },
  };
}

/**
 * A private ovsdb-server + ovs-vswitchd whose bridge has the two veths as system ports. Unlike
 * test/peers/ovs-switch.ts there is no --enable-dummy=override here: the ports must be real. The
 * bridge's LOCAL port becomes a TAP named `ofbNb` (left down), deleted by name when it stops.
 */
async function startOvsDevice(t: Topology, dir: string): Promise<Device & { version: string }> {
  requireOvsSwitch();
  const tool = (n: string): string => {
    const p = findTool(n);
    if (p === null) throw new Error(`${n} not found`);
    return p;
  };
  const env = { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir, OVS_SYSCONFDIR: dir };
  const db = join(dir, 'db.sock');
  const dbPid = join(dir, 'ovsdb.pid');
  const vsPid = join(dir, 'vswitchd.pid');
  const vsLog = join(dir, 'vswitchd.log');
  const ctl = join(dir, 'vswitchd.ctl');
  const readPid = (f: string): number | undefined => {
    try { return Number(readFileSync(f, 'utf8').trim()) || undefined; } catch { return undefined; }
  };
  const br = `${t.tag}b`;
  const pids = (): Array<number | undefined> => [readPid(vsPid), readPid(dbPid)];
  started.add(pids);
  const stop = async (): Promise<void> => {
    await stopPid(readPid(vsPid));
    await stopPid(readPid(dbPid));
    started.delete(pids);
    // The LOCAL port's TAP outlives ovs-vswitchd here; it is ours by name.
    if (existsSync(`/sys/class/net/${br}`)) sh('ip', ['link', 'del', br]);
  };
  try {
    const version = must(tool('ovs-vswitchd'), ['--version']).split('\n')[0] ?? '';
    must(tool('ovsdb-tool'), ['create', join(dir, 'conf.db'), '/usr/share/openvswitch/vswitch.ovsschema'], { env });
    must(tool('ovsdb-server'), [`--remote=punix:${db}`, `--pidfile=${dbPid}`, '--detach', '--no-chdir', `--log-file=${join(dir, 'ovsdb.log')}`, '-vconsole:off', join(dir, 'conf.db')], { env });
    const vsctl = (args: readonly string[]): string => must(tool('ovs-vsctl'), [`--db=unix:${db}`, '--timeout=30', ...args], { env });
    vsctl(['--no-wait', 'init']);
    must(tool('ovs-vswitchd'), [`unix:${db}`, '--disable-system', `--pidfile=${vsPid}`, `--unixctl=${ctl}`, '--detach', '--no-chdir', `--log-file=${vsLog}`, '-vconsole:off'], { env });
    vsctl([
      'add-br', br, '--', 'set', 'bridge', br, 'datapath_type=netdev', 'protocols=OpenFlow13', 'fail-mode=secure',
      '--', 'set-controller', br, 'ptcp:0:127.0.0.1',
      '--', 'add-port', br, t.vS, '--', 'set', 'interface', t.vS, 'ofport_request=1',
      '--', 'add-port', br, t.vR, '--', 'set', 'interface', t.vR, 'ofport_request=2',
    ]);
    let port = 0;
    const t0 = Date.now();
    while (port === 0) {
      const m = existsSync(vsLog) ? /listening on port (\d+)/.exec(readFileSync(vsLog, 'utf8')) : null;
      if (m !== null) port = Number(m[1]);
      else if (Date.now() - t0 > 15_000) throw new Error('ovs-vswitchd did not report its OpenFlow listener');
      else await delay(20);
    }
    const pid = readPid(vsPid);
    return {
      name: 'ovs', ofPort: port, pid, version,
      setFlows: (lines) => setFlowsAt(port, lines, dir),
      flushCache: () => { must(tool('ovs-appctl'), ['-t', ctl, 'dpctl/del-flows'], { env }); },
      stop,
    };
  } catch (e) {
    const logText = existsSync(vsLog) ? readFileSync(vsLog, 'utf8').slice(-2000) : '';
    await stop();
    throw new Error(`${(e as Error).message}\n${logText}`);
  }
}

/** The C forwarder, one process per direction (the reverse one only matters for ping). */
async function startCeilingDevice(t: Topology, fwd: string): Promise<Device> {
  const procs = [spawn(fwd, [t.vS, t.vR, 'ring'], { stdio: 'ignore' }), spawn(fwd, [t.vR, t.vS, 'ring'], { stdio: 'ignore' })];
  const pids = (): Array<number | undefined> => procs.map((p) => p.pid);
  started.add(pids);
  await delay(200);
  const dead = procs.find((p) => p.exitCode !== null);
  if (dead !== undefined) {
    for (const p of procs) await stopPid(p.pid);
    started.delete(pids);
    throw new Error(`fwd exited with ${String(dead.exitCode)}`);
  }
  return {
    name: 'ceiling', ofPort: undefined, pid: undefined,
    setFlows: () => undefined,
    flushCache: () => undefined,
    stop: async () => { for (const p of procs) await stopPid(p.pid); started.delete(pids); },
  };
}

// ---------------------------------------------------------------------------------------------
// The measurements
// ---------------------------------------------------------------------------------------------

interface Plan {
  readonly runs: number;
  readonly seconds: number;
  readonly exactFlows: number;
  readonly tuples: number;
  readonly memRules: readonly number[];
  readonly packetOuts: number;
  readonly firstPings: number;
  readonly steadyPings: number;
}

const WARM_MS = 300;

/**
 * One forwarding run: the sender blasts for warm-up + window + tail; the receiver's counter is
 * read at both ends of the window, while the sender is still going. Frames per second.
 */
async function forwardRun(t: Topology, blast: string, flows: number, seconds: number, during?: { start(): void; stop(): number }): Promise<number> {
  const total = WARM_MS + seconds * 1000 + 200;
  const child = spawn('ip', ['netns', 'exec', t.nsS, blast, 'eth0', String(total), String(flows)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', r));
  try {
    await delay(WARM_MS);
    const c0 = t.rx();
    during?.start();
    const t0 = process.hrtime.bigint();
    await delay(seconds * 1000);
    const c1 = t.rx();
    const counted = during?.stop();
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    const code = await exited;
    if (code !== 0) throw new Error(`blast exited with ${String(code)}: ${err}`);
    return (counted ?? c1 - c0) / s;
  } finally {
    if (child.exitCode === null) await stopPid(child.pid, 'SIGKILL');
  }
}

async function repeat(n: number, f: () => Promise<number>): Promise<Stat> {
  const xs: number[] = [];
  for (let i = 0; i < n; i++) xs.push(await f());
  return stat(xs);
}

function pingTimes(t: Topology, count: number, interval: number): number[] {
  const r = t.inNs(t.nsS, ['ping', '-n', '-c', String(count), '-i', String(interval), '-W', '2', '10.0.0.2']);
  const times = [...r.out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
  if (times.length === 0) throw new Error(`no ping reply through the switch: ${r.out}${r.err}`);
  return times;
}

type Recorder = (id: string, sys: SystemName, f: () => Promise<Stat>) => Promise<void>;

async function measureDevice(dev: Device, t: Topology, blast: string, plan: Plan, record: Recorder, log: (s: string) => void): Promise<void> {
  const sys = dev.name;
  const fwd = (flows: number) => async (): Promise<Stat> => repeat(plan.runs, () => forwardRun(t, blast, flows, plan.seconds));

  log(`${sys}: (1) one rule`);
  await record('1', sys, async () => { dev.setFlows(['in_port=1,actions=output:2']); return fwd(1)(); });

  log(`${sys}: (3) ${plan.tuples} 5-tuples, one wildcard rule`);
  await record('3', sys, async () => { dev.setFlows(['priority=10,ip,in_port=1,nw_dst=10.0.0.0/8,actions=output:2']); return fwd(plan.tuples)(); });

  log(`${sys}: (8) ping`);
  await record('8a', sys, async () => {
    dev.setFlows(['in_port=1,actions=output:2', 'in_port=2,actions=output:1']);
    pingTimes(t, 1, 0.2); // the path works
    const xs: number[] = [];
    for (let i = 0; i < plan.firstPings; i++) {
      dev.flushCache();
      await delay(100);
      xs.push(pingTimes(t, 1, 0.2)[0]! * 1000);
    }
    return stat(xs);
  });
  await record('8b', sys, async () => {
    const xs: number[] = [];
    for (let i = 0; i < plan.runs; i++) {
      const times = pingTimes(t, plan.steadyPings + 1, 0.01).slice(1);
      xs.push(stat(times).median * 1000);
    }
    return stat(xs);
  });

  log(`${sys}: (2) ${plan.exactFlows} exact-match rules`);
  await record('2', sys, async () => {
    dev.setFlows(Array.from({ length: plan.exactFlows }, (_, i) => {
      const { src, sport } = tupleOf(i);
      return `priority=100,udp,in_port=1,nw_src=${src},nw_dst=10.0.0.2,tp_src=${sport},tp_dst=9,actions=output:2`;
    }));
    return fwd(plan.exactFlows)();
  });

  const ofPort = dev.ofPort;
  if (ofPort === undefined) return;

  log(`${sys}: (5) PACKET_IN`);
  await record('5', sys, async () => {
    dev.setFlows(['priority=0,actions=CONTROLLER:65535']);
    const c = await OfConn.connect(ofPort);
    try {
      let base = 0;
      return await repeat(plan.runs, () => forwardRun(t, blast, 1, plan.seconds, {
        start: () => { base = c.packetIns; },
        stop: () => c.packetIns - base,
      }));
    } finally {
      c.close();
    }
  });

  log(`${sys}: (6) PACKET_OUT`);
  await record('6', sys, async () => {
    dev.setFlows([]);
    const one = encode({ version: 4, type: OFPT.PACKET_OUT, xid: 7, bufferId: 0xffffffff, inPort: OFPP.CONTROLLER, actions: [{ type: OFPAT.OUTPUT, port: 2, maxLen: 0 }], data: new Uint8Array(FRAME) } as Message);
    const bytes = Buffer.concat(Array.from({ length: plan.packetOuts }, () => one));
    const c = await OfConn.connect(ofPort);
    try {
      return await repeat(plan.runs, async () => {
        const r0 = t.rx();
        const t0 = process.hrtime.bigint();
        await c.write(bytes);
        await c.barrier();
        const s = Number(process.hrtime.bigint() - t0) / 1e9;
        await delay(100);
        if (c.errors.length > 0) throw new Error(`PACKET_OUT: ${c.errors.length} errors, first ${c.errors[0]!}`);
        return (t.rx() - r0) / s;
      });
    } finally {
      c.close();
    }
  });

}

/**
 * Figure 7 on a freshly started device (the other figures leave heap behind that new rules would
 * fill without growing the process): RSS with one rule, then after each size's rules are in.
 */
async function measureMemory(dev: Device, plan: Plan, record: Recorder, log: (s: string) => void): Promise<void> {
  const sys = dev.name;
  const pid = dev.pid;
  const ofPort = dev.ofPort;
  if (pid === undefined || ofPort === undefined) return;
  log(`${sys}: (7) memory`);
  dev.setFlows(['in_port=1,actions=output:2']);
  await delay(500);
  const base = rssBytes(pid);
  let installed = 0;
  let c: OfConn | undefined;
  try {
    c = await OfConn.connect(ofPort);
    for (const n of plan.memRules) {
      const conn = c;
      await record(`7/${n}`, sys, async () => {
        for (let i = installed; i < n; i += 10_000) {
          const chunk: Buffer[] = [];
          for (let j = i; j < Math.min(n, i + 10_000); j++) chunk.push(ruleFlowMod(j));
          await conn.write(Buffer.concat(chunk));
        }
        await conn.barrier();
        if (conn.errors.length > 0) throw new Error(`FLOW_MOD: ${conn.errors.length} errors, first ${conn.errors[0]!}`);
        installed = n;
        await delay(1000);
        return stat([(rssBytes(pid) - base) / n]);
      });
    }
  } finally {
    c?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------------

export async function runSwitchBench(opts: SwitchBenchOptions): Promise<SwitchBenchResult> {
  if (process.getuid?.() !== 0) throw new Error('bench:switch needs root (network namespaces, veth, AF_PACKET)');
  const log = opts.log ?? ((): void => undefined);
  const short = opts.short;
  const plan: Plan = short
    ? { runs: 1, seconds: 1, exactFlows: 1_000, tuples: 10_000, memRules: [10_000], packetOuts: 20_000, firstPings: 2, steadyPings: 10 }
    : { runs: 3, seconds: 3, exactFlows: 10_000, tuples: 100_000, memRules: [100_000, 1_000_000], packetOuts: 200_000, firstPings: 5, steadyPings: 50 };
  const k = (n: number): string => n.toLocaleString('en-US');
  const figures: Figure[] = [];
  const fig = (id: string, title: string, unit: string, higherIsBetter: boolean, systems: readonly SystemName[] = SYSTEMS): void => {
    figures.push({ id, title, unit, higherIsBetter, systems, values: {}, errors: {} });
  };
  fig('1', 'forwarding, one rule in_port=1 -> 2', 'frames/s', true);
  fig('2', `forwarding, ${k(plan.exactFlows)} exact 5-tuple rules, traffic cycling over them`, 'frames/s', true);
  fig('3', `forwarding, ${k(plan.tuples)} 5-tuples on one wildcard rule`, 'frames/s', true);
  if (opts.skipFlowMods !== true) fig('4a', 'FLOW_MODs over TCP, 10,000 flows, barrier at the end', 'flow-mods/s', true, ['ofswitch', 'ovs']);
  if (!short && opts.skipFlowMods !== true) fig('4b', 'FLOW_MODs over TCP, 100,000 flows, barrier at the end', 'flow-mods/s', true, ['ofswitch', 'ovs']);
  fig('5', 'PACKET_INs to a TCP client on table-miss', 'packet-ins/s', true, ['ofswitch', 'ovs']);
  fig('6', `PACKET_OUTs turned into frames on a port (${k(plan.packetOuts)} pipelined)`, 'frames/s', true, ['ofswitch', 'ovs']);
  for (const n of plan.memRules) fig(`7/${n}`, `resident memory per rule at ${k(n)} rules`, 'bytes/rule', false, ['ofswitch', 'ovs']);
  fig('8a', 'ping RTT through the switch, first packet (cache flushed)', 'us', false);
  fig('8b', 'ping RTT through the switch, steady state (median)', 'us', false);

  const record: Recorder = async (id, sys, f) => {
    const row = figures.find((x) => x.id === id);
    if (row === undefined) throw new Error(`no figure ${id}`);
    try {
      (row.values as Record<string, Stat>)[sys] = await f();
    } catch (e) {
      (row.errors as Record<string, string>)[sys] = (e as Error).message.split('\n').slice(0, 6).join('\n');
      log(`  ${sys} figure ${id} failed: ${(e as Error).message.split('\n')[0]!}`);
    }
  };

  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-bench-switch-'));
  const t = new Topology();
  const onExit = (): void => { killStarted(); t.destroy(); };
  process.once('exit', onExit);
  let ovsVersion = '';
  try {
    const blast = compile('blast', dir);
    const fwd = compile('fwd', dir);
    t.create();
    // For figure 7 the switch starts without its warm-up: what a rule costs is the figure, and
    // the heap the warm-up leaves behind (free, but still resident) would hide that cost.
    const starters: Array<[SystemName, (forMemory?: boolean) => Promise<Device>]> = [
      ['ofswitch', (forMemory) => startOfswitchDevice(t, dir, forMemory === true ? ['--warmup', 'off'] : [])],
      ['ovs', async () => { const d = await startOvsDevice(t, mkdtempSync(join(dir, 'ovs-'))); ovsVersion = d.version; return d; }],
      ['ceiling', () => startCeilingDevice(t, fwd)],
    ];
    for (const [name, start] of starters) {
      if (opts.systems !== undefined && !opts.systems.includes(name)) continue;
      log(`starting ${name}`);
      let dev: Device | undefined;
      try {
        dev = await start();
        await measureDevice(dev, t, blast, plan, record, log);
        if (dev.pid !== undefined) {
          await dev.stop();
          dev = undefined;
          dev = await start(true);
          await measureMemory(dev, plan, record, log);
        }
      } catch (e) {
        for (const row of figures) if (row.systems.includes(name) && row.values[name] === undefined && row.errors[name] === undefined) (row.errors as Record<string, string>)[name] = `device: ${(e as Error).message.split('\n')[0]!}`;
        log(`  ${name} failed: ${(e as Error).message}`);
      } finally {
        await dev?.stop();
      }
    }
    log('(4) FLOW_MODs (bench/flowmod.ts)');
    if (opts.skipFlowMods !== true) try {
      const fm = await runFlowModBench(short);
      for (const s of fm.sizes) {
        const row = figures.find((x) => x.id === (s.flows === 10_000 ? '4a' : '4b'));
        if (row === undefined) continue;
        const values = row.values as Record<string, Stat>;
        values['ofswitch'] = { median: s.ofswitch.median, min: s.ofswitch.min, max: s.ofswitch.max, samples: [] };
        values['ovs'] = { median: s.ovs.median, min: s.ovs.min, max: s.ovs.max, samples: [] };
      }
    } catch (e) {
      for (const row of figures) if (row.id.startsWith('4')) (row.errors as Record<string, string>)['ofswitch'] = (row.errors as Record<string, string>)['ovs'] = (e as Error).message.split('\n')[0]!;
    }
  } finally {
    t.destroy();
    process.removeListener('exit', onExit);
    rmSync(dir, { recursive: true, force: true });
  }
  const cpu = cpus();
  const loadavg = existsSync('/proc/loadavg') ? readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ') : '';
  return {
    date: new Date().toISOString(), mode: short ? 'short' : 'full',
    machine: { cpus: cpu.length, model: cpu[0]?.model ?? '', kernel: release(), loadavg },
    ovsVersion, figures,
  };
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

function num(v: number, unit: string): string {
  if (unit === 'us' || unit === 'bytes/rule') return v.toFixed(0);
  return v >= 1e6 ? `${(v / 1e6).toFixed(2)}M` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k` : v.toFixed(0);
}

export function formatSwitchBench(r: SwitchBenchResult): string {
  const lines: string[] = [];
  lines.push(`ofswitch vs Open vSwitch (${r.ovsVersion || 'not run'}, userspace datapath) vs a C forwarder, ${r.mode} mode, ${r.date}`);
  lines.push(`machine: ${r.machine.cpus} x ${r.machine.model}, Linux ${r.machine.kernel}, load average at the end ${r.machine.loadavg}`);
  lines.push('each cell: median (min-max); ratios of medians');
  const head = ['#', 'figure', 'unit', 'ofswitch', 'Open vSwitch', 'C ceiling', 'ofs/OVS', 'ofs/ceiling'];
  const rows: string[][] = [head];
  const cell = (f: Figure, s: SystemName): string => {
    if (!f.systems.includes(s)) return '-';
    const v = f.values[s];
    if (v === undefined) return f.errors[s] !== undefined ? 'failed' : 'not run';
    return v.min === v.max ? num(v.median, f.unit) : `${num(v.median, f.unit)} (${num(v.min, f.unit)}-${num(v.max, f.unit)})`;
  };
  const ratio = (f: Figure, s: SystemName): string => {
    const a = f.values.ofswitch;
    const b = f.values[s];
    return a !== undefined && b !== undefined && b.median !== 0 ? `${(a.median / b.median).toFixed(2)}x` : '-';
  };
  for (const f of r.figures) rows.push([f.id, f.title, f.unit, cell(f, 'ofswitch'), cell(f, 'ovs'), cell(f, 'ceiling'), ratio(f, 'ovs'), ratio(f, 'ceiling')]);
  const widths = head.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) lines.push(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
  const errs = r.figures.flatMap((f) => Object.entries(f.errors).map(([s, e]) => `  ${f.id} ${s}: ${e!.split('\n')[0]!}`));
  if (errs.length > 0) lines.push('failures:', ...errs);
  lines.push('frames/s and rates: higher is better; us and bytes/rule: lower is better');
  return lines.join('\n');
}

async function main(argv: readonly string[]): Promise<number> {
  const short = argv.includes('--short') || argv.includes('--quick');
  const j = argv.indexOf('--json');
  const jsonFile = j >= 0 ? argv[j + 1] : undefined;
  const o = argv.indexOf('--only');
  const systems = o >= 0 ? (argv[o + 1] ?? '').split(',') as SystemName[] : undefined;
  // Ctrl-C: exit through the 'exit' hook, which stops what we started and removes the veths.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));
  const r = await runSwitchBench({ short, ...(systems !== undefined ? { systems } : {}), skipFlowMods: argv.includes('--no-flowmod'), log: (s) => console.error(s) });
  console.log(formatSwitchBench(r));
  if (jsonFile !== undefined) writeFileSync(jsonFile, JSON.stringify(r, null, 2) + '\n');
  return 0;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then((s) => { process.exitCode = s; }, (e: unknown) => { console.error(e); process.exitCode = 1; });
}
