/**
 * Throughput of the Linux ports (needs root and the native addon): frames per second through the
 * AF_PACKET ring into JavaScript, through sendmmsg out of it, and forwarded from one veth to
 * another by a receiver that sends every batch it gets — the switch's I/O with no pipeline. A
 * 10 ms interval timer runs through each receive measurement; how often it fired says whether
 * the bounded work per wake-up keeps the event loop responsive.
 *
 * The far ends live in network namespaces made here and removed afterwards. The sender is a node
 * process in a namespace with a SystemNetdev of its own, sending 60-byte frames in batches of 32.
 * Figures are for this machine (2 cores: sender and receiver each get one), not assertions.
 *
 * Run: `node dist/bench/netdev.js [--quick]`.
 */

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNative, SystemNetdev, type NetdevStats } from '../src/netdev/index.js';
import { buildPacket, Packet } from '../src/packet/index.js';
import { fmtRate } from './harness.js';

export interface NetdevBenchResult {
  readonly name: string;
  /** Frames per second. */
  readonly rate: number;
  /** Extra figures (timer ticks, ring drops, sender rate). */
  readonly note: string;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

interface Pair { ns: string; a: string; b: string }

function makePair(tag: string): Pair {
  const p = { ns: `ofsw-bench-${tag}`, a: `obna${tag}`, b: `obnb${tag}` };
  ip('netns', 'add', p.ns);
  ip('link', 'add', p.a, 'type', 'veth', 'peer', 'name', p.b);
  ip('link', 'set', p.b, 'netns', p.ns);
  ip('link', 'set', p.a, 'up');
  ip('-n', p.ns, 'link', 'set', p.b, 'up');
  execFileSync('sysctl', ['-qw', `net.ipv6.conf.${p.a}.disable_ipv6=1`]);
  return p;
}

function removePair(p: Pair): void {
  try { ip('link', 'del', p.a); } catch { /* gone */ }
  try { ip('netns', 'del', p.ns); } catch { /* gone */ }
}

const FRAME = buildPacket({ eth: { src: '02:00:00:00:00:aa', dst: '02:00:00:00:00:bb' }, ipv4: {}, udp: {}, minLength: 60 });

/**
 * The C blaster (bench/native/blast.c) compiled into a temporary directory, or undefined when
 * there is no compiler (the node sender is used then).
 */
function buildBlaster(): string | undefined {
  const src = fileURLToPath(new URL('../../bench/native/blast.c', import.meta.url));
  const out = join(mkdtempSync(join(tmpdir(), 'ofsw-blast-')), 'blast');
  try {
    execFileSync('cc', ['-O2', '-o', out, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    return out;
  } catch {
    return undefined;
  }
}

function startBlaster(blaster: string, ns: string, ifname: string, ms: number): Promise<number> {
  // The same 200 ms head start as the node sender gets, so the receiver's window is the same.
  const child = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', `sleep 0.2; exec ${blaster} ${ifname} ${ms}`], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => child.once('exit', (c) => (c === 0 ? resolve(Number(out.trim())) : reject(new Error(`blaster exited ${c}`)))));
}

/** A node process in `ns` that sends 60-byte frames on `ifname` for `ms`, then prints its count. */
function startSender(ns: string, ifname: string, ms: number): Promise<number> {
  const index = new URL('../src/netdev/index.js', import.meta.url).href;
  const pkt = new URL('../src/packet/index.js', import.meta.url).href;
  const code = `
    import { SystemNetdev } from ${JSON.stringify(index)};
    import { Packet } from ${JSON.stringify(pkt)};
    const nd = SystemNetdev.open(${JSON.stringify(ifname)});
    if (typeof nd === 'string') { console.error(nd); process.exit(1); }
    const frame = Buffer.from(${JSON.stringify(FRAME.toString('hex'))}, 'hex');
    const batch = Array.from({ length: 32 }, () => Packet.from(frame));
    const end = Date.now() + ${ms};
    let sent = 0;
    const burst = () => {
      for (let i = 0; i < 64; i++) sent += nd.send(batch);
      if (Date.now() < end) setImmediate(burst);
      else { console.log(sent); nd.close(); }
    };
    setTimeout(burst, 200);
  `;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) => child.once('exit', (c) => (c === 0 ? resolve(Number(out.trim())) : reject(new Error(`sender exited ${c}`)))));
}

function open(name: string): SystemNetdev {
  const nd = SystemNetdev.open(name);
  if (typeof nd === 'string') throw new Error(nd);
  return nd;
}

type Sender = (ns: string, ifname: string, ms: number) => Promise<number>;

/** Counts frames (and timer ticks) over the sender's run; the window opens with the first frame. */
async function receiveRun(sender: Sender, ns: string, sendIf: string, rx: SystemNetdev, onBatch: (b: Packet[]) => void, ms: number): Promise<{ rate: number; ticks: number; window: number; sent: number; stats: NetdevStats; frames: number; wakeups: number; cpuUs: number }> {
  let count = 0;
  let first = 0n;
  let last = 0n;
  rx.setReceiver((b) => {
    if (count === 0) first = process.hrtime.bigint();
    count += b.length;
    last = process.hrtime.bigint();
    onBatch(b);
  });
  let ticks = 0;
  const wake0 = rx.rxWakeups;
  const cpu0 = process.cpuUsage();
  const timer = setInterval(() => ticks++, 10);
  const sent = await sender(ns, sendIf, ms);
  const cpu = process.cpuUsage(cpu0);
  await new Promise((r) => setTimeout(r, 100));
  clearInterval(timer);
  rx.setReceiver(undefined);
  const window = Number(last - first) / 1e9;
  return { rate: count / window, ticks, window, sent, stats: rx.stats(), frames: count, wakeups: rx.rxWakeups - wake0, cpuUs: (cpu.user + cpu.system) / count };
}

export async function runNetdevBench(quick: boolean): Promise<NetdevBenchResult[] | string> {
  if (process.getuid?.() !== 0) return 'netdev bench skipped: needs root';
  const b = loadNative();
  if (typeof b === 'string') return `netdev bench skipped: ${b}`;
  const ms = quick ? 500 : 2000;
  const tag = String(process.pid % 100000);
  const p1 = makePair(`${tag}1`);
  const p2 = makePair(`${tag}2`);
  const out: NetdevBenchResult[] = [];
  const blaster = buildBlaster();
  const senders: Array<[string, Sender]> = [['node sender', startSender]];
  if (blaster !== undefined) senders.push(['C sender', (ns, i, m) => startBlaster(blaster, ns, i, m)]);
  try {
    const a1 = open(p1.a);
    const a2 = open(p2.a);
    for (const [who, sender] of senders) {
      // Receive only.
      const d0 = a1.stats().rxDropped;
      const r = await receiveRun(sender, p1.ns, p1.b, a1, () => {}, ms);
      out.push({
        name: `receive (ring -> JS Packets), ${who}`,
        rate: r.rate,
        note: `${r.cpuUs.toFixed(2)} µs CPU/frame; sender ${fmtRate(r.sent / (ms / 1000))}/s; ${(r.frames / r.wakeups).toFixed(1)} frames/wake-up; ring drops ${r.stats.rxDropped - d0}; 10 ms timer ${r.ticks}/${Math.round((ms + 300) / 10)}`,
      });
      // Forward a1 -> a2.
      const before = a2.stats().txPackets;
      const d1 = a1.stats().rxDropped;
      const f = await receiveRun(sender, p1.ns, p1.b, a1, (batch) => a2.send(batch), ms);
      const fwd = Number(a2.stats().txPackets - before);
      out.push({
        name: `forward veth -> veth, ${who}`,
        rate: fwd / f.window,
        note: `${f.cpuUs.toFixed(2)} µs CPU/frame; sender ${fmtRate(f.sent / (ms / 1000))}/s; ${(f.frames / f.wakeups).toFixed(1)} frames/wake-up; ring drops ${f.stats.rxDropped - d1}; 10 ms timer ${f.ticks}/${Math.round((ms + 300) / 10)}`,
      });
    }

    // Transmit: sendmmsg of 32 frames per call against one frame per call.
    for (const per of [32, 1]) {
      const batch = Array.from({ length: per }, () => Packet.from(FRAME));
      let n = 0;
      const start = process.hrtime.bigint();
      let el = 0;
      while (el < ms / 2) {
        for (let i = 0; i < 1024 / per; i++) n += a2.send(batch);
        el = Number(process.hrtime.bigint() - start) / 1e6;
      }
      out.push({ name: `send, ${per} frame${per > 1 ? 's' : ''} per call`, rate: (n / el) * 1000, note: per === 1 ? 'one sendmmsg per frame, as sendto would' : 'one sendmmsg per batch' });
    }
    a1.close();
    a2.close();
  } finally {
    if (blaster !== undefined) rmSync(dirname(blaster), { recursive: true, force: true });
    removePair(p1);
    removePair(p2);
  }
  return out;
}

export function printNetdevBench(rs: readonly NetdevBenchResult[] | string): void {
  console.log('\nLinux ports (AF_PACKET, 60-byte frames)');
  if (typeof rs === 'string') {
    console.log(`  ${rs}`);
    return;
  }
  for (const r of rs) console.log(`  ${r.name.padEnd(46)} ${fmtRate(r.rate).padStart(7)} frames/s   ${r.note}`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  printNetdevBench(await runNetdevBench(process.argv.includes('--quick')));
}
