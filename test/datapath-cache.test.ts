/**
 * The cache invariant, as a property over random pipelines and random packets: the same traffic
 * through (a) the switch with its datapath caches, (b) the same switch with the caches turned off
 * (every packet translated), and (c) packet by packet through xlate and execute directly, gives
 * the same frames on the same ports in the same order; (a) and (b) also give the same OpenFlow
 * counters (rules, tables, groups).
 */

import test from 'ava';
import {
  OFPAT, OFPGT, OFPMP, OFPP, OFPT, OFPTT, OFPG, OFPXMT, type Action, type Instruction, type Message, type MultipartRequest, type Oxm,
} from '../src/openflow/index.js';
import { buildSwitch, type RunningSwitch } from '../src/cli/switch.js';
import { buildPacket } from '../src/packet/build.js';
import { newKey, K } from '../src/packet/key.js';
import { Packet, Offsets } from '../src/packet/packet.js';
import { extract } from '../src/packet/extract.js';
import { xlate } from '../src/xlate/xlate.js';
import type { DummyNetdev } from '../src/netdev/dummy.js';
import { flowMod, applyActions, writeActions, gotoTable, output, setField, party } from './ofproto-helpers.js';
import { Rng, FUZZ_SEED, FUZZ_SCALE } from './rng.js';

const NPORTS = 4;

const pick = <T>(r: Rng, xs: readonly T[]): T => xs[r.int(xs.length)]!;

function randomMatch(r: Rng): Oxm[] {
  const m: Oxm[] = [];
  if (r.int(2) === 0) m.push({ field: OFPXMT.IN_PORT, value: 1 + r.int(NPORTS) });
  if (r.int(3) === 0) m.push(r.int(4) === 0 ? { field: OFPXMT.VLAN_VID, value: 0x1000, mask: 0x1000 } : { field: OFPXMT.VLAN_VID, value: pick(r, [0, 0x1000 | 5, 0x1000 | 7]) });
  if (r.int(2) === 0) {
    m.push({ field: OFPXMT.ETH_TYPE, value: 0x0800 });
    if (r.int(2) === 0) m.push(pick<Oxm>(r, [{ field: OFPXMT.IPV4_DST, value: '10.0.0.2' }, { field: OFPXMT.IPV4_DST, value: '10.0.0.3' }, { field: OFPXMT.IPV4_DST, value: '10.0.1.0', mask: '255.255.255.0' }, { field: OFPXMT.IPV4_DST, value: '10.0.0.0', mask: '255.255.255.0' }]));
    if (r.int(2) === 0) {
      m.push({ field: OFPXMT.IP_PROTO, value: 17 });
      if (r.int(2) === 0) m.push({ field: OFPXMT.UDP_DST, value: pick(r, [53, 80, 443]) });
    }
  }
  if (r.int(4) === 0) m.push({ field: OFPXMT.ETH_SRC, value: pick(r, ['00:00:00:00:00:01', '00:00:00:00:00:0a']) });
  return m.sort((a, b) => a.field - b.field);
}

function randomActions(r: Rng, tableId: number, groups: number): Action[] {
  const out: Action[] = [];
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) {
    switch (r.int(9)) {
      case 0: out.push(setField(OFPXMT.ETH_DST, pick(r, ['00:00:00:00:00:77', '00:00:00:00:00:02']))); break;
      case 1: out.push({ type: OFPAT.PUSH_VLAN, ethertype: 0x8100 }, setField(OFPXMT.VLAN_VID, 0x1000 | pick(r, [5, 9]))); break;
      case 2: if (!out.some((a) => a.type === OFPAT.POP_VLAN)) out.push({ type: OFPAT.POP_VLAN }); break;
      case 3: out.push({ type: OFPAT.DEC_NW_TTL }); break;
      case 4: if (groups > 0) out.push({ type: OFPAT.GROUP, groupId: 1 + r.int(groups) }); break;
      case 5: out.push(output(pick(r, [OFPP.FLOOD, OFPP.ALL, OFPP.IN_PORT]))); break;
      default: out.push(output(1 + r.int(NPORTS)));
    }
  }
  void tableId;
  return out;
}

interface Scenario {
  readonly mods: Message[];
  readonly frames: Array<{ port: number; frame: Uint8Array }>;
}

function scenario(r: Rng): Scenario {
  const mods: Message[] = [];
  const groups = r.int(3);
  for (let g = 1; g <= groups; g++) {
    const type = pick(r, [OFPGT.ALL, OFPGT.SELECT, OFPGT.INDIRECT, OFPGT.FF]);
    const nb = type === OFPGT.INDIRECT ? 1 : 1 + r.int(3);
    mods.push({
      type: OFPT.GROUP_MOD, xid: 1, command: 0, groupType: type, groupId: g,
      buckets: Array.from({ length: nb }, () => ({
        weight: type === OFPGT.SELECT ? 1 + r.int(3) : 0,
        watchPort: type === OFPGT.FF ? 1 + r.int(NPORTS) : OFPP.ANY, watchGroup: OFPG.ANY,
        actions: [...(r.int(2) === 0 ? [setField(OFPXMT.IPV4_DST, '10.9.9.9')] : []), output(1 + r.int(NPORTS))],
      })),
    } as unknown as Message);
  }
  for (let table = 0; table < 3; table++) {
    const nrules = 1 + r.int(5);
    for (let i = 0; i < nrules; i++) {
      const insts: Instruction[] = [];
      const acts = randomActions(r, table, groups);
      if (r.int(2) === 0) insts.push(applyActions(...acts));
      // The action set has no order for a push followed by a set of the pushed tag: leave tags out.
      else insts.push(writeActions(...acts.filter((a) => a.type !== OFPAT.PUSH_VLAN && a.type !== OFPAT.POP_VLAN && !(a.type === OFPAT.SET_FIELD && a.field.field === OFPXMT.VLAN_VID))));
      if (table < 2 && r.int(2) === 0) insts.push(gotoTable(table + 1 + r.int(2 - table)));
      // Prerequisites for set-fields on IPv4 are in the match when the rule sets them.
      const needsIp = acts.some((a) => a.type === OFPAT.DEC_NW_TTL) || JSON.stringify(acts, (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes(`"field":${OFPXMT.IPV4_DST}`);
      let match = randomMatch(r);
      // pop_vlan needs a tag the match guarantees (else MATCH_INCONSISTENT): match any tag.
      if (acts.some((a) => a.type === OFPAT.POP_VLAN)) {
        match = [...match.filter((m) => m.field !== OFPXMT.VLAN_VID), { field: OFPXMT.VLAN_VID, value: 0x1000, mask: 0x1000 }].sort((a, b) => a.field - b.field);
      }
      if (needsIp && !match.some((m) => m.field === OFPXMT.ETH_TYPE)) match = [...match, { field: OFPXMT.ETH_TYPE, value: 0x0800 }].sort((a, b) => a.field - b.field);
      mods.push(flowMod({ tableId: table, priority: r.int(4) * 10, match, instructions: insts }));
    }
  }
  const frames: Array<{ port: number; frame: Uint8Array }> = [];
  const n = 40 + r.int(40);
  for (let i = 0; i < n; i++) {
    const vlan = r.int(3) === 0 ? [{ vid: pick(r, [5, 7]) }] : undefined;
    const frame = r.int(5) === 0
      ? buildPacket({ eth: { src: pick(r, ['00:00:00:00:00:01', '00:00:00:00:00:0a']) }, ...(vlan ? { vlans: vlan } : {}), arp: {}, minLength: 60 })
      : buildPacket({
        eth: { src: pick(r, ['00:00:00:00:00:01', '00:00:00:00:00:0a']), dst: pick(r, ['00:00:00:00:00:02', 'ff:ff:ff:ff:ff:ff']) },
        ...(vlan ? { vlans: vlan } : {}),
        ipv4: { dst: pick(r, ['10.0.0.2', '10.0.0.3', '10.0.1.7']), ttl: pick(r, [1, 2, 64]) },
        udp: { dst: pick(r, [53, 80, 443, 9]) }, minLength: 60,
      });
    frames.push({ port: 1 + r.int(NPORTS), frame });
  }
  return { mods, frames };
}

async function build(cache: boolean): Promise<{ sw: RunningSwitch; p: ReturnType<typeof party> }> {
  const sw = await buildSwitch({
    ports: Array.from({ length: NPORTS }, (_, i) => ({ name: `p${i + 1}`, ofport: i + 1, type: 'dummy' as const })),
    now: () => 5000, probeInterval: 0, backer: { revalidateMs: 0 }, datapath: { cache },
  });
  const p = party();
  sw.ofproto.attach(p);
  return { sw, p };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
};

/** Frames per port, in order, as hex; plus the counters OpenFlow shows. */
async function runThrough(s: Scenario, cache: boolean, flushEvery = 0): Promise<{ out: string[][]; rules: string[]; groups: string[]; errors: string[] }> {
  const { sw, p } = await build(cache);
  try {
    for (const m of s.mods) sw.ofproto.receive(m, p);
    // One frame at a time, so that order across ports is defined; each frame twice, so the
    // second meets the cache.
    let i = 0;
    for (const { port, frame } of s.frames) {
      (sw.netdev(`p${port}`) as DummyNetdev).receive([frame, frame]);
      await settle();
      if (flushEvery > 0 && ++i % flushEvery === 0) sw.backer.flush();
    }
    const out = Array.from({ length: NPORTS }, (_, i) => (sw.netdev(`p${i + 1}`) as DummyNetdev).sent.map((f) => Buffer.from(f).toString('hex')));
    p.sent.length = 0;
    sw.ofproto.receive({ type: OFPT.MULTIPART_REQUEST, xid: 1, flags: 0, mpType: OFPMP.FLOW, tableId: OFPTT.ALL, outPort: OFPP.ANY, outGroup: OFPG.ANY, cookie: 0n, cookieMask: 0n, match: [] } as MultipartRequest, p);
    sw.ofproto.receive({ type: OFPT.MULTIPART_REQUEST, xid: 2, flags: 0, mpType: OFPMP.GROUP, groupId: OFPG.ALL } as unknown as MultipartRequest, p);
    const replies = p.sent.filter((m) => m.type === OFPT.MULTIPART_REPLY) as unknown as Array<{ mpType: number; stats: Array<Record<string, unknown>> }>;
    const text = (o: unknown): string => JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    const rules = replies.filter((r) => r.mpType === OFPMP.FLOW).flatMap((r) => r.stats.map((s) => text([s['tableId'], s['priority'], s['match'], s['packetCount'], s['byteCount']])));
    const groups = replies.filter((r) => r.mpType === OFPMP.GROUP).flatMap((r) => r.stats.map((s) => text([s['groupId'], s['packetCount'], s['bucketStats']])));
    return { out, rules: rules.sort(), groups: groups.sort(), errors: p.errors.map((e) => e.join("/")) };
  } finally {
    await sw.close();
  }
}

/** (c): each frame translated and executed on its own, no datapath flow ever installed. */
async function runDirect(s: Scenario): Promise<string[][]> {
  const { sw, p } = await build(true);
  try {
    for (const m of s.mods) sw.ofproto.receive(m, p);
    const bridge = sw.bridge;
    for (const { port, frame } of s.frames) {
      for (let k = 0; k < 2; k++) {
        const pkt = Packet.from(frame);
        const flow = newKey();
        extract(pkt.buf, pkt.start, pkt.end, flow, new Offsets());
        flow[K.IN_PORT] = port;
        flow[K.IN_PHY_PORT] = port;
        const res = xlate({ bridge: bridge.xbridge, flow });
        for (const l of res.learned) bridge.macs.learn(l);
        sw.dpif.execute({ packet: pkt, inPort: bridge.port(port)!.odpPort, actions: res.actions });
      }
      await settle();
    }
    return Array.from({ length: NPORTS }, (_, i) => (sw.netdev(`p${i + 1}`) as DummyNetdev).sent.map((f) => Buffer.from(f).toString('hex')));
  } finally {
    await sw.close();
  }
}

test('the datapath is only a cache: cached == uncached == flushed now and then == direct xlate, counters too', async (t) => {
  const seeds = Math.max(1, Math.round(FUZZ_SCALE * 25));
  const base = FUZZ_SEED;
  t.log(`seeds ${base}..${base + seeds - 1} (FUZZ_SEED to replay)`);
  let frames = 0;
  for (let i = 0; i < seeds; i++) {
    const seed = base + i;
    const s = scenario(new Rng(seed));
    const cached = await runThrough(s, true);
    const uncached = await runThrough(s, false);
    const flushed = await runThrough(s, true, 3);
    const direct = await runDirect(s);
    t.deepEqual(cached.errors, [], `seed ${seed}: the random pipeline was refused`);
    t.deepEqual(cached.out, uncached.out, `seed ${seed}: frames, cache on vs off`);
    t.deepEqual(cached.out, flushed.out, `seed ${seed}: frames, cache vs flushed`);
    t.deepEqual(cached.out, direct, `seed ${seed}: frames, cache vs direct xlate`);
    t.deepEqual(cached.rules, uncached.rules, `seed ${seed}: rule counters`);
    t.deepEqual(cached.rules, flushed.rules, `seed ${seed}: rule counters after flushes`);
    t.deepEqual(cached.groups, uncached.groups, `seed ${seed}: group counters`);
    frames += cached.out.reduce((a, o) => a + o.length, 0);
  }
  t.true(frames > 0, 'some traffic was forwarded');
  t.log(`${frames} frames out over ${seeds} pipelines`);
});
