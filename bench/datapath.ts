/**
 * Userspace datapath speed, in packets per second on one core, in process: fake netdevs whose
 * send() only counts, batches of 32 pre-built 64-byte UDP/IPv4 frames fed straight to the
 * receiver the datapath installs (as a netdev would), packets reused between rounds (their start
 * and end are reset before each batch, since an output may hand the packet itself to send).
 *
 * Cases (the figures):
 * - one flow (mask: in_port, eth_type), every packet the same key (target 2,000,000/s): the
 *   classifier is then cheaper than the EMC and the datapath skips the EMC; also with a header
 *   rewrite before the output, and with the EMC forced on (every packet an EMC hit);
 * - 10,000 flows exact on the 5-tuple, traffic cycling over all of them (target 1,000,000/s),
 *   learnt from upcalls; and with the EMC forced on (more keys than its 8192 entries: it thrashes);
 * - 100,000 distinct 5-tuples hitting one wildcard megaflow (in_port + eth_type);
 * - upcalls per second: every packet misses, a trivial handler installs an exact megaflow for it
 *   and executes it (flowPut + execute per upcall), the work xlate's caller will do minus xlate.
 */

import { BehaviorSubject, type Observable } from 'rxjs';
import { OFPXMT } from '../proto/constants.js';
import { buildPacket } from '../src/packet/build.js';
import { K, newKey, type FlowMask } from '../src/packet/key.js';
import { Packet } from '../src/packet/packet.js';
import type { Netdev, NetdevStats, NetdevStatus, Receiver } from '../src/netdev/netdev.js';
import { zeroStats } from '../src/netdev/netdev.js';
import { UserspaceDatapath } from '../src/dpif/userspace.js';
import type { OdpAction } from '../src/dpif/odp.js';
import { measure, fmtRate } from './harness.js';

export interface DatapathResult {
  readonly name: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly target?: number;
}

const BATCH = 32;

/** A netdev that only counts what is sent; `rx` is the receiver the datapath installed. */
class CountingNetdev implements Netdev {
  readonly type = 'bench';
  readonly hwAddr = new Uint8Array(6);
  readonly mtu = 1500;
  readonly up = true;
  readonly status$: Observable<NetdevStatus> = new BehaviorSubject<NetdevStatus>({ up: true });
  rx: Receiver | undefined;
  sent = 0;
  constructor(readonly name: string) {}
  setReceiver(rx: Receiver | undefined): void {
    this.rx = rx;
  }
  send(frames: readonly Packet[]): number {
    this.sent += frames.length;
    return frames.length;
  }
  stats(): NetdevStats {
    return zeroStats();
  }
  close(): void {}
}

function frame(i: number): Uint8Array {
  const src = `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`;
  return buildPacket({ ipv4: { src, dst: '10.255.0.1' }, udp: { src: 1024 + (i % 50000), dst: 53 }, payload: new Uint8Array(22) });
}

/** Packets cut into batches of 32; `feed` resets and delivers the next batch. */
class Traffic {
  private readonly batches: Packet[][] = [];
  private readonly starts: number[][] = [];
  private readonly ends: number[][] = [];
  private next = 0;
  constructor(frames: readonly Uint8Array[]) {
    for (let i = 0; i < frames.length; i += BATCH) {
      const b: Packet[] = [];
      for (let j = 0; j < BATCH; j++) b.push(Packet.from(frames[(i + j) % frames.length]!));
      this.batches.push(b);
      this.starts.push(b.map((p) => p.start));
      this.ends.push(b.map((p) => p.end));
    }
  }
  feed(rx: Receiver): void {
    const n = this.next;
    this.next = n + 1 === this.batches.length ? 0 : n + 1;
    const b = this.batches[n]!;
    const s = this.starts[n]!;
    const e = this.ends[n]!;
    for (let j = 0; j < BATCH; j++) {
      const p = b[j]!;
      p.start = s[j]!;
      p.end = e[j]!;
    }
    rx(b);
  }
  get size(): number {
    return this.batches.length * BATCH;
  }
}

function setup(opts: ConstructorParameters<typeof UserspaceDatapath>[0] = {}) {
  const dp = new UserspaceDatapath({ name: 'bench', ...opts });
  const a = new CountingNetdev('in');
  const b = new CountingNetdev('out');
  dp.portAdd(a, 1);
  dp.portAdd(b, 2);
  return { dp, a, b };
}

function mask(words: ReadonlyArray<[number, number]>): FlowMask {
  const m = newKey();
  for (const [w, v] of words) m[w] = v;
  return m;
}

const WILD: ReadonlyArray<[number, number]> = [[K.IN_PORT, 0xffffffff], [K.ETH_TYPE, 0xffffffff]];
const FIVE_TUPLE: ReadonlyArray<[number, number]> = [
  ...WILD, [K.IPV4_SRC, 0xffffffff], [K.IPV4_DST, 0xffffffff], [K.NW, 0xff], [K.TP_SRC, 0xffffffff], [K.TP_DST, 0xffffffff],
];
const OUT: OdpAction[] = [{ type: 'output', port: 2 }];

export function runDatapathBench(quick: boolean): DatapathResult[] {
  const opts = quick ? { rounds: 3, roundMs: 150 } : { rounds: 3, roundMs: 700 };
  const out: DatapathResult[] = [];
  const perPacket = (r: { name: string; median: number; min: number; max: number }, target?: number): DatapathResult => ({
    name: r.name, median: r.median * BATCH, min: r.min * BATCH, max: r.max * BATCH, ...(target !== undefined ? { target } : {}),
  });

  // One flow, one key.
  const one = new Traffic([frame(1)]);
  const oneFlow = (name: string, actions: OdpAction[], dpOpts: ConstructorParameters<typeof UserspaceDatapath>[0], target?: number) => {
    const { dp, a, b } = setup(dpOpts);
    const k = newKey();
    k[K.IN_PORT] = 1;
    k[K.ETH_TYPE] = 0x0800;
    if (typeof dp.flowPut({ key: k, mask: mask(WILD), actions }) !== 'number') throw new Error('put failed');
    const rx = a.rx!;
    for (let i = 0; i < 2000; i++) one.feed(rx);
    out.push(perPacket(measure(name, () => one.feed(rx), opts), target));
    if (b.sent === 0 || dp.stats().missed !== 0n) throw new Error(`${name}: nothing forwarded`);
  };
  oneFlow('1 flow, output', OUT, {}, 2_000_000);
  oneFlow('1 flow, set eth_dst + output', [{ type: 'set', field: OFPXMT.ETH_DST, value: Uint8Array.of(0, 0, 0, 0, 0, 9) }, ...OUT], {});
  oneFlow('1 flow, output, EMC forced (every packet a hit)', OUT, { emcMinSearchCost: 0 });

  // 10,000 exact flows, traffic cycling over them.
  {
    const n = 10_000;
    const frames = Array.from({ length: n }, (_, i) => frame(i));
    const traffic = new Traffic(frames);
    for (const [label, emcMinSearchCost] of [['', undefined], [', EMC forced', 0]] as const) {
      const { dp, a, b } = setup(emcMinSearchCost === undefined ? {} : { emcMinSearchCost });
      const m = mask(FIVE_TUPLE);
      // Learn the flows the way the switch would: from the first packet of each (upcalls).
      const sub = dp.upcall$.subscribe((ups) => {
        for (const u of ups) dp.flowPut({ key: u.key, mask: m, actions: OUT });
      });
      for (let i = 0; i < traffic.size / BATCH; i++) traffic.feed(a.rx!);
      sub.unsubscribe();
      if (dp.stats().flows !== n) throw new Error(`expected ${n} flows, got ${dp.stats().flows}`);
      for (let i = 0; i < 2000; i++) traffic.feed(a.rx!);
      const before = dp.stats();
      out.push(perPacket(measure(`10k exact flows, cycling${label}`, () => traffic.feed(a.rx!), opts), emcMinSearchCost === undefined ? 1_000_000 : undefined));
      if (dp.stats().missed !== before.missed || b.sent === 0) throw new Error('10k flows: misses during the run');
    }
  }

  // 100,000 distinct 5-tuples, one wildcard megaflow.
  {
    const frames = Array.from({ length: 100_000 }, (_, i) => frame(i));
    const traffic = new Traffic(frames);
    const { dp, a } = setup();
    const k = newKey();
    k[K.IN_PORT] = 1;
    k[K.ETH_TYPE] = 0x0800;
    dp.flowPut({ key: k, mask: mask(WILD), actions: OUT });
    for (let i = 0; i < 2000; i++) traffic.feed(a.rx!);
    out.push(perPacket(measure('100k 5-tuples, 1 wildcard megaflow', () => traffic.feed(a.rx!), opts)));
    if (dp.stats().missed !== 0n) throw new Error('100k: misses');
  }

  // Upcalls: every packet a miss that the handler turns into a megaflow and executes.
  {
    const frames = Array.from({ length: 65_536 }, (_, i) => frame(i));
    const traffic = new Traffic(frames);
    const { dp, a, b } = setup();
    const m = mask(FIVE_TUPLE);
    dp.upcall$.subscribe((ups) => {
      for (const u of ups) {
        dp.flowPut({ key: u.key, mask: m, actions: OUT });
        dp.execute({ packet: u.packet, inPort: u.inPort, actions: OUT });
      }
    });
    let fed = 0;
    const op = () => {
      if (fed === traffic.size) {
        dp.flowFlush();
        fed = 0;
      }
      traffic.feed(a.rx!);
      fed += BATCH;
    };
    // Every packet misses: the flows are flushed whenever the traffic wraps, and the packets of
    // one round are all distinct. Packets/s here is upcalls/s.
    out.push(perPacket(measure('upcalls (miss -> flowPut + execute)', op, opts)));
    if (dp.stats().hit !== 0n) throw new Error('upcalls: a packet hit');
    if (b.sent === 0) throw new Error('upcalls: nothing forwarded');
  }
  return out;
}

export function printDatapathBench(results: readonly DatapathResult[]): void {
  console.log('\nUserspace datapath (packets/s, one core, batches of 32 x 64-byte UDP/IPv4; median of rounds [min..max])');
  for (const r of results) {
    const toTarget = r.target !== undefined ? `  ${(r.median / r.target).toFixed(2)}x target ${fmtRate(r.target)}` : '';
    console.log(`  ${r.name.padEnd(46)} ${fmtRate(r.median).padStart(8)} [${fmtRate(r.min)}..${fmtRate(r.max)}]${toTarget}`);
  }
}

