/**
 * Throughput of the tunnel ports (netdev/tunnel.ts): frames per second from one tunnel port to
 * another over loopback addresses, both in this process, for VXLAN and Geneve (node:dgram, one
 * send call per datagram) and GRE (a raw IP socket of the addon: one sendmmsg per batch, one
 * recvmmsg per 32 packets). The sender sends batches of 32 frames while fewer than WINDOW are in
 * flight (sent and not yet received), so it never overruns the receiver, and the receiver counts
 * what arrives; the rate is frames received over the measuring window. Sender and receiver share
 * one core, so the figure is the cost of a frame through both ends, encapsulation and
 * decapsulation included, not a wire rate. GRE needs root and the addon (skipped otherwise).
 *
 * Run: `node dist/bench/tunnel.js [--quick]`.
 */

import { fileURLToPath } from 'node:url';
import { buildPacket, Packet } from '../src/packet/index.js';
import { TunnelNetdev, type TunnelType } from '../src/netdev/tunnel.js';
import { fmtRate } from './harness.js';

export interface TunnelBenchResult {
  readonly name: string;
  /** Frames per second received. */
  readonly rate: number;
  readonly note: string;
}

/** Frames in flight at most. */
const WINDOW = 512;

const LO = (h: number) => `127.${1 + (process.pid % 250)}.${(process.pid >>> 8) & 0xff}.${h}`;

async function oneRun(type: TunnelType, size: number, ms: number): Promise<TunnelBenchResult | string> {
  const frame = buildPacket({ eth: { src: '02:00:00:00:00:aa', dst: '02:00:00:00:00:bb' }, ipv4: {}, udp: {}, minLength: size });
  const port = type === 'gre' ? {} : { dstPort: 47000 + (process.pid % 1000) };
  const a = TunnelNetdev.open(`bench-${type}-a`, type, { remoteIp: LO(2), localIp: LO(1), key: 1, ...port });
  if (typeof a === 'string') return a;
  const b = TunnelNetdev.open(`bench-${type}-b`, type, { remoteIp: LO(1), localIp: LO(2), key: 1, ...port });
  if (typeof b === 'string') {
    a.close();
    return b;
  }
  try {
    if ((await a.ready) !== undefined || (await b.ready) !== undefined) return `${type}: ${a.error ?? b.error}`;
    let received = 0;
    let running = true;
    let sent = 0;
    const batch = Array.from({ length: 32 }, () => Packet.from(frame));
    const pump = (): void => {
      while (running && sent - received - writtenOff < WINDOW) {
        const n = a.send(batch);
        sent += n;
        if (n < batch.length) break; // the socket is full: the next delivery pumps again
      }
    };
    // A frame lost on the way would shrink the window for good: what has not arrived 20 ms
    // later is written off (counted apart from what was received).
    let writtenOff = 0;
    let lastSeen = -1;
    const topUp = setInterval(() => {
      if (received === lastSeen) writtenOff = sent - received;
      lastSeen = received;
      pump();
    }, 20);
    b.setReceiver((got) => {
      received += got.length;
      pump();
    });
    await new Promise((r) => setTimeout(r, 100)); // sockets settle
    const start = process.hrtime.bigint();
    const before = received;
    pump();
    await new Promise((r) => setTimeout(r, ms));
    const got = received - before;
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    running = false;
    clearInterval(topUp);
    await new Promise((r) => setTimeout(r, 50));
    const st = b.stats();
    return {
      name: `${type} ${size} B`, rate: got / elapsed,
      note: `sent ${fmtRate(sent / elapsed)}/s, written off ${writtenOff}, receiver dropped ${st.rxDropped}, errors ${st.rxErrors}`,
    };
  } finally {
    a.close();
    b.close();
  }
}

export async function runTunnelBench(quick = false): Promise<Array<TunnelBenchResult | string>> {
  const ms = quick ? 300 : 2000;
  const out: Array<TunnelBenchResult | string> = [];
  for (const size of [60, 1400]) {
    for (const type of ['vxlan', 'geneve', 'gre'] as const) out.push(await oneRun(type, size, ms));
  }
  return out;
}

export function printTunnelBench(rs: ReadonlyArray<TunnelBenchResult | string>): void {
  console.log('\ntunnel ports, one process, loopback (frames/s received)');
  for (const r of rs) {
    if (typeof r === 'string') console.log(`  skipped: ${r}`);
    else console.log(`  ${r.name.padEnd(14)} ${fmtRate(r.rate).padStart(10)}/s   ${r.note}`);
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  printTunnelBench(await runTunnelBench(process.argv.includes('--quick')));
}
