/**
 * Flow-key extraction speed, in packets per second on one core: a 64-byte UDP/IPv4 frame (the
 * issue's target: 5,000,000/s) and a TCP/IPv6 frame (with TCP options), each extracted into one
 * reused key and Offsets, as the datapath does. With them, a same-run reference: a plain loop
 * that only reads the same frame's bytes into an Int32 sum, the ceiling for any parser that looks
 * at every byte once (extraction reads fewer bytes than that, but writes ~40 words and branches).
 */

import { buildPacket } from '../src/packet/build.js';
import { extract } from '../src/packet/extract.js';
import { newKey } from '../src/packet/key.js';
import { Offsets } from '../src/packet/packet.js';
import { measure, fmtRate } from './harness.js';

export interface ExtractResult {
  readonly name: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly target?: number;
}

const TARGET = 5_000_000;

/** The frames: exactly 64 bytes of UDP/IPv4, and a 94-byte TCP/IPv6 SYN with 12 bytes of options. */
export function benchFrames(): { udp4: Uint8Array; tcp6: Uint8Array } {
  const udp4 = Uint8Array.from(buildPacket({ ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { src: 1234, dst: 5678 }, payload: new Uint8Array(22) }));
  const tcp6 = Uint8Array.from(
    buildPacket({
      ipv6: { src: '2001:db8::1', dst: '2001:db8::2', flabel: 0x12345 },
      tcp: { src: 40000, dst: 443, options: Uint8Array.of(2, 4, 5, 0xa0, 4, 2, 8, 10, 0, 0, 0, 1) },
      payload: new Uint8Array(8),
    }),
  );
  if (udp4.length !== 64) throw new Error(`the UDP/IPv4 frame is ${udp4.length} bytes, not 64`);
  return { udp4, tcp6 };
}

export function runExtractBench(quick: boolean): ExtractResult[] {
  const opts = quick ? { rounds: 3, roundMs: 150 } : { rounds: 5, roundMs: 700 };
  const { udp4, tcp6 } = benchFrames();
  const key = newKey();
  const off = new Offsets();
  const out: ExtractResult[] = [];

  // Warm up both frames through the same call site first: measure()'s own calibration is short,
  // and on a loaded machine TurboFan's background compile can land after it, so the first figure
  // would time the unoptimised tiers.
  const until = Date.now() + (quick ? 100 : 400);
  while (Date.now() < until) {
    for (let i = 0; i < 10_000; i++) {
      extract(udp4, 0, udp4.length, key, off);
      extract(tcp6, 0, tcp6.length, key, off);
    }
  }

  const r1 = measure('extract UDP/IPv4 (64 bytes)', () => extract(udp4, 0, udp4.length, key, off), opts);
  out.push({ ...r1, target: TARGET });
  const r2 = measure(`extract TCP/IPv6 (${tcp6.length} bytes)`, () => extract(tcp6, 0, tcp6.length, key, off), opts);
  out.push({ ...r2, target: TARGET });

  // Reference: read every byte of the 64-byte frame into an Int32 sum (kept observable so the JIT
  // cannot drop the loop).
  let sink = 0;
  const touch = () => {
    let s = 0;
    for (let i = 0; i < udp4.length; i++) s = (s + udp4[i]!) | 0;
    sink = (sink + s) | 0;
  };
  const ref = measure('reference: read 64 bytes into an Int32 sum', touch, opts);
  if (sink === 0x7fffffff) console.log(''); // never true in practice; keeps `sink` live
  out.push(ref);
  return out;
}

/** The table `npm run bench` prints: rate, ratio to the target, ratio to the reference. */
export function printExtractBench(results: readonly ExtractResult[]): void {
  const ref = results.find((r) => r.name.startsWith('reference'));
  console.log('\nFlow-key extraction (packets/s, one core; median of rounds [min..max])');
  for (const r of results) {
    const toTarget = r.target !== undefined ? `  ${(r.median / r.target).toFixed(2)}x target ${fmtRate(r.target)}` : '';
    const toRef = ref !== undefined && r !== ref ? `  ${((r.median / ref.median) * 100).toFixed(0)}% of reference` : '';
    console.log(`  ${r.name.padEnd(46)} ${fmtRate(r.median).padStart(8)} [${fmtRate(r.min)}..${fmtRate(r.max)}]${toTarget}${toRef}`);
  }
}
