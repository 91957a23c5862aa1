/**
 * Property: the datapath's forwarding equals a brute-force reference that scans every installed
 * megaflow, over random sequences of flow puts (new and modifying), deletes, flushes and receive
 * batches, for every cache configuration (default, EMC off, EMC forced on every port, a tiny EMC
 * full of collisions). Megaflows are random but disjoint (as a correct xlate makes them), so the
 * reference's answer is unique. Seeded: FUZZ_SEED replays a run, FUZZ_SCALE scales it.
 */

import test from 'ava';
import { K, equalMasked, type FlowKey, type FlowMask } from '../src/packet/key.js';
import { buildPacket } from '../src/packet/build.js';
import type { UserspaceDatapathOptions } from '../src/dpif/userspace.js';
import { Rng, FUZZ_SEED, FUZZ_SCALE } from './rng.js';
import { makeDp, match, keyOf, hex, FakeNetdev } from './dpif-fakes.js';

interface RefFlow {
  key: FlowKey;
  mask: FlowMask;
  port: number;
  ufid: number;
}

const IN_PORTS = [1, 2, 3];
const OUT_PORTS = [11, 12, 13, 14, 15];
const SRCS = ['10.0.0.1', '10.0.0.2', '10.0.0.129', '10.0.1.1'];
const DSTS = ['10.0.2.1', '10.0.2.2', '192.168.0.1'];
const MACS = ['00:00:00:00:00:02', '00:00:00:00:00:03'];
const ip = (s: string) => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);

function randomPacket(r: Rng): { frame: Buffer; inPort: number } {
  const l4 = r.pick(['udp', 'tcp', 'none'] as const);
  const desc = {
    eth: { dst: r.pick(MACS) },
    ipv4: { src: r.pick(SRCS), dst: r.pick(DSTS) },
    ...(l4 === 'udp' ? { udp: { src: r.range(1, 3), dst: r.range(1, 3) } } : l4 === 'tcp' ? { tcp: { src: r.range(1, 3), dst: r.range(1, 3) } } : {}),
    ...(r.chance(0.1) ? { vlans: [{ vid: r.range(1, 2) }] } : {}),
  };
  return { frame: buildPacket(r.chance(0.05) ? { arp: {} } : desc), inPort: r.pick(IN_PORTS) };
}

function randomMegaflow(r: Rng): { key: FlowKey; mask: FlowMask } {
  const fields: Array<[number, number, number?]> = [];
  if (r.chance(0.8)) fields.push([K.ETH_TYPE, 0x0800]);
  if (r.chance(0.4)) fields.push([K.IPV4_SRC, ip(r.pick(SRCS)), r.pick([0xffffffff, 0xffffff00, 0xffffff80])]);
  if (r.chance(0.4)) fields.push([K.IPV4_DST, ip(r.pick(DSTS)), r.pick([0xffffffff, 0xff000000])]);
  if (r.chance(0.3)) fields.push([K.NW, r.pick([6, 17, 253]), 0xff]);
  if (r.chance(0.3)) fields.push([K.TP_DST, r.range(1, 3)]);
  if (r.chance(0.2)) fields.push([K.TP_SRC, r.range(0, 3)]);
  if (r.chance(0.2)) fields.push([K.ETH_DST + 1, r.pick([2, 3])]);
  if (r.chance(0.15)) fields.push([K.VLAN0, 0, 0xffffffff]);
  return match(r.pick(IN_PORTS), fields);
}

function overlaps(a: { key: FlowKey; mask: FlowMask }, b: { key: FlowKey; mask: FlowMask }): boolean {
  for (let i = 0; i < K.WORDS; i++) if (((a.key[i]! ^ b.key[i]!) & a.mask[i]! & b.mask[i]!) !== 0) return false;
  return true;
}

function runOnce(seed: number, opts: UserspaceDatapathOptions, steps: number): { sent: string[][]; misses: string[]; expectSent: string[][]; expectMisses: string[]; flows: number } {
  const r = new Rng(seed);
  const { dp, ports } = makeDp(3, opts);
  const outs = OUT_PORTS.map((n) => {
    const nd = new FakeNetdev(`o${n}`);
    dp.portAdd(nd, n);
    return nd;
  });
  const misses: string[] = [];
  dp.upcall$.subscribe((ups) => {
    for (const u of ups) misses.push(`${u.inPort}:${hex(u.packet.bytes())}`);
  });
  const ref: RefFlow[] = [];
  const expectSent: string[][] = OUT_PORTS.map(() => []);
  const expectMisses: string[] = [];
  for (let step = 0; step < steps; step++) {
    const x = r.next();
    if (x < 0.25) {
      const mf = randomMegaflow(r);
      const port = r.pick(OUT_PORTS);
      const same = ref.find((f) => f.key[K.IN_PORT] === mf.key[K.IN_PORT] && equalMasked(f.key, mf.key, f.mask) && f.mask.every((w, i) => w === mf.mask[i]));
      if (same) {
        t_assert(dp.flowPut({ ...mf, actions: [{ type: 'output', port }] }) === same.ufid, 'a same-match put modifies');
        same.port = port;
      } else if (!ref.some((f) => overlaps(f, mf))) {
        const ufid = dp.flowPut({ ...mf, actions: [{ type: 'output', port }] });
        if (typeof ufid !== 'number') throw new Error(String(ufid));
        ref.push({ key: mf.key.map((w, i) => w & mf.mask[i]!), mask: mf.mask, port, ufid });
      }
    } else if (x < 0.32 && ref.length > 0) {
      const i = r.int(ref.length);
      t_assert(dp.flowDel(ref[i]!.ufid) !== undefined, 'delete finds the flow');
      ref.splice(i, 1);
    } else if (x < 0.34) {
      dp.flowFlush();
      ref.length = 0;
    } else {
      const inPort = r.pick(IN_PORTS);
      const n = r.range(1, 32);
      const frames: Buffer[] = [];
      for (let i = 0; i < n; i++) {
        // Repeat earlier packets often, so the EMC gets hits.
        frames.push(r.chance(0.5) && frames.length > 0 ? r.pick(frames) : randomPacket(r).frame);
      }
      for (const f of frames) {
        const k = keyOf(f, inPort);
        const hit = ref.find((fl) => equalMasked(k, fl.key, fl.mask));
        if (hit) expectSent[OUT_PORTS.indexOf(hit.port)]!.push(hex(f));
        else expectMisses.push(`${inPort}:${hex(f)}`);
      }
      ports[inPort - 1]!.receive(...frames);
    }
  }
  return { sent: outs.map((o) => o.sent.map(hex)), misses, expectSent, expectMisses, flows: dp.stats().flows };
}

function t_assert(cond: boolean, what: string): void {
  if (!cond) throw new Error(what);
}

const CONFIGS: Array<[string, UserspaceDatapathOptions]> = [
  ['default', {}],
  ['EMC off', { emcEntries: 0 }],
  ['EMC forced', { emcMinSearchCost: 0 }],
  ['tiny EMC, forced', { emcEntries: 4, emcMinSearchCost: 0 }],
];

for (const [name, opts] of CONFIGS) {
  test(`forwarding equals a brute-force scan of all megaflows (${name}; seed ${FUZZ_SEED})`, (t) => {
    const runs = Math.max(1, Math.round(20 * FUZZ_SCALE));
    let sent = 0;
    let missed = 0;
    for (let i = 0; i < runs; i++) {
      const seed = (FUZZ_SEED + i * 7919) >>> 0;
      const res = runOnce(seed, opts, 200);
      t.deepEqual(res.sent, res.expectSent, `seed ${seed}: frames per output port`);
      t.deepEqual(res.misses, res.expectMisses, `seed ${seed}: misses`);
      sent += res.sent.reduce((a, s) => a + s.length, 0);
      missed += res.misses.length;
    }
    t.true(sent > runs * 50 && missed > runs * 50, `both paths exercised (${sent} forwarded, ${missed} missed)`);
  });
}
