/**
 * The whole switch in-process: ofproto over the userspace datapath on dummy ports (buildSwitch,
 * the same assembly `ofswitch start` runs). Frames go in through dummy ports; what comes out of
 * which port, what reaches the controller, and what the counters say are checked — including the
 * cache invariant: the datapath is only a cache, so flushing it or turning it off changes nothing.
 */

import test from 'ava';
import {
  OFPAT, OFPFC, OFPFF, OFPGT, OFPIT, OFPMBT, OFPMF, OFPMP, OFPP, OFPPC, OFPR, OFPRR, OFPT, OFPTT, OFPG, OFPXMT, OFP_NO_BUFFER,
  type Action, type FlowRemoved, type Message, type MultipartRequest, type PacketIn,
} from '../src/openflow/index.js';
import { buildSwitch, type RunningSwitch } from '../src/cli/switch.js';
import { buildPacket, type PacketDesc } from '../src/packet/build.js';
import type { DummyNetdev } from '../src/netdev/dummy.js';
import { applyActions, flowMod, gotoTable, inPort, ethType, output, writeActions, setField, meter, party, type FakeParty } from './ofproto-helpers.js';

interface Harness {
  readonly sw: RunningSwitch;
  readonly p: FakeParty;
  readonly clock: { t: number };
  port(name: string): DummyNetdev;
  /** Frames sent on each port since the last call (and forgets them). */
  out(): Record<string, string[]>;
  send(msg: Message): void;
  close(): Promise<void>;
}

async function harness(opts: { ports?: number; cache?: boolean } = {}): Promise<Harness> {
  const clock = { t: 1_000_000 };
  const n = opts.ports ?? 3;
  const sw = await buildSwitch({
    ports: Array.from({ length: n }, (_, i) => ({ name: `p${i + 1}`, ofport: i + 1, type: 'dummy' as const })),
    now: () => clock.t,
    probeInterval: 0,
    backer: { revalidateMs: 0 },
    ...(opts.cache === false ? { datapath: { cache: false } } : {}),
  });
  const p = party();
  sw.ofproto.attach(p);
  const port = (name: string): DummyNetdev => sw.netdev(name) as DummyNetdev;
  const names = ['br0', ...Array.from({ length: n }, (_, i) => `p${i + 1}`)];
  return {
    sw, p, clock, port,
    out() {
      const r: Record<string, string[]> = {};
      for (const name of names) {
        const d = port(name);
        const frames = d.sent.map((f) => Buffer.from(f).toString('hex'));
        d.clearSent();
        if (frames.length > 0) r[name] = frames;
      }
      return r;
    },
    send(msg) {
      sw.ofproto.receive(msg, p);
    },
    close: () => sw.close(),
  };
}

/** Lets the dummy ports deliver what was injected (they deliver from the event loop). */
async function settle(rounds = 4): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
}

const frame = (d: PacketDesc = {}): Buffer => buildPacket({ ipv4: {}, udp: {}, minLength: 60, ...d });
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const packetIns = (p: FakeParty): PacketIn[] => p.sent.filter((m): m is PacketIn => m.type === OFPT.PACKET_IN);

function flowStats(h: Harness): Array<{ priority: number; packetCount: bigint; byteCount: bigint }> {
  h.p.sent.length = 0;
  h.send({
    type: OFPT.MULTIPART_REQUEST, xid: 9, flags: 0, mpType: OFPMP.FLOW, tableId: OFPTT.ALL, outPort: OFPP.ANY,
    outGroup: OFPG.ANY, cookie: 0n, cookieMask: 0n, match: [],
  } as MultipartRequest);
  const reply = h.p.sent.find((m) => m.type === OFPT.MULTIPART_REPLY) as unknown as { stats: Array<{ priority: number; packetCount: bigint; byteCount: bigint }> };
  return reply.stats.map((s) => ({ priority: s.priority, packetCount: s.packetCount, byteCount: s.byteCount }));
}

test('a flow forwards: the first packet through an upcall, the rest from the cache; counters count both', async (t) => {
  const h = await harness();
  try {
    h.send(flowMod({ match: [inPort(1)], instructions: [applyActions(output(2))] }));
    const f = frame();
    h.port('p1').receive([f, f, f]);
    await settle();
    h.port('p1').receive([f, f]);
    await settle();
    t.deepEqual(h.out(), { p2: Array(5).fill(hex(f)) });
    const s = h.sw.dpif.stats();
    t.is(s.flows, 1);
    t.true(s.missed >= 1n && s.missed <= 3n, `missed ${s.missed}`);
    t.is(s.hit + s.missed, 5n);
    t.deepEqual(flowStats(h), [{ priority: 0x8000, packetCount: 5n, byteCount: 5n * BigInt(f.length) }]);
    t.deepEqual(h.p.errors, []);
  } finally {
    await h.close();
  }
});

test('output to the in_port is skipped unless the action says IN_PORT', async (t) => {
  const h = await harness();
  try {
    h.send(flowMod({ priority: 10, match: [inPort(1)], instructions: [applyActions(output(1), output(2))] }));
    h.send(flowMod({ priority: 10, match: [inPort(2)], instructions: [applyActions(output(OFPP.IN_PORT))] }));
    const f = frame();
    h.port('p1').receive(f);
    h.port('p2').receive(f);
    await settle();
    t.deepEqual(h.out(), { p2: [hex(f), hex(f)] });
  } finally {
    await h.close();
  }
});

test('table miss drops (OpenFlow 1.3); a table-miss flow sends PACKET_IN with reason NO_MATCH and the in_port', async (t) => {
  const h = await harness();
  try {
    const f = frame();
    h.port('p2').receive(f);
    await settle();
    t.deepEqual(h.out(), {});
    t.deepEqual(packetIns(h.p), []);
    h.send(flowMod({ priority: 0, instructions: [applyActions({ type: OFPAT.OUTPUT, port: OFPP.CONTROLLER, maxLen: 0xffff })] }));
    h.port('p2').receive(f);
    await settle();
    const pis = packetIns(h.p);
    t.is(pis.length, 1);
    t.is(pis[0]!.reason, OFPR.NO_MATCH);
    t.is(pis[0]!.tableId, 0);
    t.deepEqual(pis[0]!.match, [{ field: OFPXMT.IN_PORT, value: 2 }]);
    t.is(hex(pis[0]!.data), hex(f));
    t.is(pis[0]!.bufferId, OFP_NO_BUFFER);
  } finally {
    await h.close();
  }
});

test('output:CONTROLLER in a rule: reason ACTION, the rule\'s table and cookie, truncated to max_len', async (t) => {
  const h = await harness();
  try {
    h.send(flowMod({ tableId: 0, match: [inPort(1)], instructions: [gotoTable(3)] }));
    h.send(flowMod({ tableId: 3, cookie: 0xabcn, instructions: [applyActions({ type: OFPAT.OUTPUT, port: OFPP.CONTROLLER, maxLen: 20 })] }));
    const f = frame();
    h.port('p1').receive([f, f]);
    await settle();
    const pis = packetIns(h.p);
    t.is(pis.length, 2, 'every packet, the cached one too, comes up');
    for (const pi of pis) {
      t.is(pi.reason, OFPR.ACTION);
      t.is(pi.tableId, 3);
      t.is(pi.cookie, 0xabcn);
      t.is(pi.totalLen, f.length);
      t.is(hex(pi.data), hex(f.subarray(0, 20)));
    }
  } finally {
    await h.close();
  }
});

test('PACKET_OUT: the action list runs on the packet; output:TABLE goes through the pipeline; CONTROLLER comes back', async (t) => {
  const h = await harness();
  try {
    const f = frame();
    const po = (actions: Action[], inPortNo: number = OFPP.CONTROLLER): Message => ({
      type: OFPT.PACKET_OUT, xid: 5, bufferId: OFP_NO_BUFFER, inPort: inPortNo, actions, data: f,
    } as Message);
    h.send(po([output(2), output(3)]));
    await settle();
    t.deepEqual(h.out(), { p2: [hex(f)], p3: [hex(f)] });
    h.send(flowMod({ match: [inPort(1)], instructions: [applyActions(output(3))] }));
    h.send(po([output(OFPP.TABLE)], 1));
    await settle();
    t.deepEqual(h.out(), { p3: [hex(f)] });
    h.send(po([setField(OFPXMT.ETH_DST, '0a:00:00:00:00:09'), { type: OFPAT.OUTPUT, port: OFPP.CONTROLLER, maxLen: 0xffff }]));
    await settle();
    const pis = packetIns(h.p);
    t.is(pis.length, 1);
    t.is(hex(pis[0]!.data.subarray(0, 6)), '0a0000000009');
    t.is(pis[0]!.reason, OFPR.ACTION);
    t.deepEqual(h.p.errors, []);
    // Too short to be a frame: BAD_REQUEST/BAD_PACKET, and the connection carries on.
    h.send({ type: OFPT.PACKET_OUT, xid: 6, bufferId: OFP_NO_BUFFER, inPort: OFPP.CONTROLLER, actions: [output(2)], data: new Uint8Array(3) } as Message);
    t.deepEqual(h.p.errors, [[1, 12, 6]]);
  } finally {
    await h.close();
  }
});

test('the frames of a burst of PACKET_OUTs are out before the BARRIER_REPLY that follows it', async (t) => {
  const h = await harness();
  try {
    const p2 = h.port('p2');
    const before = p2.stats().txPackets;
    let atBarrier: bigint | undefined;
    const send = h.p.send.bind(h.p);
    h.p.send = (m: Message): number => {
      if (m.type === OFPT.BARRIER_REPLY) atBarrier = p2.stats().txPackets - before;
      return send(m);
    };
    const frames = Array.from({ length: 20 }, (_, i) => frame({ udp: { dst: 1000 + i } }));
    for (const f of frames) {
      h.send({ type: OFPT.PACKET_OUT, xid: 5, bufferId: OFP_NO_BUFFER, inPort: OFPP.CONTROLLER, actions: [output(2)], data: f } as Message);
    }
    h.send({ type: OFPT.BARRIER_REQUEST, xid: 6 } as Message);
    t.is(atBarrier, 20n, 'every frame was out when the barrier reply left');
    t.deepEqual(h.out(), { p2: frames.map(hex) });
    // Without a barrier they leave at the end of the tick.
    h.send({ type: OFPT.PACKET_OUT, xid: 7, bufferId: OFP_NO_BUFFER, inPort: OFPP.CONTROLLER, actions: [output(3)], data: frames[0]! } as Message);
    await new Promise<void>((r) => process.nextTick(r));
    t.deepEqual(h.out(), { p3: [hex(frames[0]!)] });
    t.deepEqual(h.p.errors, []);
  } finally {
    await h.close();
  }
});

test('a change is in force for the next packet (what a barrier promises): modify, add above, delete', async (t) => {
  const h = await harness();
  try {
    const f = frame();
    const run = async (): Promise<Record<string, string[]>> => {
      h.port('p1').receive(f);
      await settle();
      return h.out();
    };
    h.send(flowMod({ priority: 100, match: [inPort(1)], instructions: [applyActions(output(2))] }));
    t.deepEqual(await run(), { p2: [hex(f)] });
    t.deepEqual(await run(), { p2: [hex(f)] });
    h.send(flowMod({ command: OFPFC.MODIFY, match: [inPort(1)], instructions: [applyActions(output(3))] }));
    t.deepEqual(await run(), { p3: [hex(f)] });
    h.send(flowMod({ priority: 200, match: [inPort(1), ethType(0x0800)], instructions: [applyActions(output(2), output(3))] }));
    t.deepEqual(await run(), { p2: [hex(f)], p3: [hex(f)] });
    h.send(flowMod({ command: OFPFC.DELETE, tableId: OFPTT.ALL, match: [] }));
    t.deepEqual(await run(), {});
    t.deepEqual(h.p.errors, []);
  } finally {
    await h.close();
  }
});

test('FLOW_REMOVED on delete carries the packets the datapath forwarded', async (t) => {
  const h = await harness();
  try {
    h.send(flowMod({ match: [inPort(1)], flags: OFPFF.SEND_FLOW_REM, instructions: [applyActions(output(2))] }));
    const f = frame();
    for (let i = 0; i < 4; i++) {
      h.port('p1').receive([f, f, f]);
      await settle();
    }
    t.is(h.out()['p2']?.length, 12);
    h.send(flowMod({ command: OFPFC.DELETE, tableId: OFPTT.ALL }));
    const fr = h.p.sent.filter((m): m is FlowRemoved => m.type === OFPT.FLOW_REMOVED);
    t.is(fr.length, 1);
    t.is(fr[0]!.reason, OFPRR.DELETE);
    t.is(fr[0]!.packetCount, 12n);
    t.is(fr[0]!.byteCount, 12n * BigInt(f.length));
    // The cached flow was re-translated: with the rule gone, the same megaflow now drops.
    t.deepEqual(h.sw.dpif.flowDump().map((fl) => fl.actions), [[]]);
    h.port('p1').receive(f);
    await settle();
    t.deepEqual(h.out(), {});
  } finally {
    await h.close();
  }
});

test('idle timeout: hits in the datapath keep the rule alive; when they stop it expires with their counts', async (t) => {
  const h = await harness();
  try {
    h.send(flowMod({ match: [inPort(1)], idleTimeout: 2, flags: OFPFF.SEND_FLOW_REM, instructions: [applyActions(output(2))] }));
    const f = frame();
    for (let i = 0; i < 5; i++) {
      h.port('p1').receive(f);
      await settle();
      h.clock.t += 1000;
      h.sw.ofproto.runExpiry();
    }
    t.is(flowStats(h).length, 1, 'still there after 5 s of traffic with a 2 s idle timeout');
    h.clock.t += 2500;
    h.sw.ofproto.runExpiry();
    const fr = h.p.sent.filter((m): m is FlowRemoved => m.type === OFPT.FLOW_REMOVED);
    t.is(fr.length, 1);
    t.is(fr[0]!.reason, OFPRR.IDLE_TIMEOUT);
    t.is(fr[0]!.packetCount, 5n);
  } finally {
    await h.close();
  }
});

test('groups: ALL copies to every bucket, SELECT picks one per flow; group and bucket counters', async (t) => {
  const h = await harness({ ports: 4 });
  try {
    h.send({ type: OFPT.GROUP_MOD, xid: 2, command: 0, groupType: OFPGT.ALL, groupId: 1, buckets: [
      { weight: 0, watchPort: OFPP.ANY, watchGroup: OFPG.ANY, actions: [output(2)] },
      { weight: 0, watchPort: OFPP.ANY, watchGroup: OFPG.ANY, actions: [setField(OFPXMT.VLAN_VID, 0x1005), output(3)] },
    ] } as unknown as Message);
    h.send(flowMod({ match: [inPort(1)], instructions: [applyActions({ type: OFPAT.GROUP, groupId: 1 } as Action)] }));
    const f = frame();
    h.port('p1').receive([f, f]);
    await settle();
    const out = h.out();
    t.deepEqual(out['p2'], [hex(f), hex(f)]);
    t.is(out['p3']?.length, 2);
    t.deepEqual(h.p.errors, []);
    h.p.sent.length = 0;
    h.send({ type: OFPT.MULTIPART_REQUEST, xid: 3, flags: 0, mpType: OFPMP.GROUP, groupId: 1 } as unknown as Message);
    const reply = h.p.sent.find((m) => m.type === OFPT.MULTIPART_REPLY) as unknown as { stats: Array<{ packetCount: bigint; bucketStats: Array<{ packetCount: bigint }> }> };
    t.is(reply.stats[0]!.packetCount, 2n);
    t.deepEqual(reply.stats[0]!.bucketStats.map((b) => b.packetCount), [2n, 2n]);
  } finally {
    await h.close();
  }
});

test('NORMAL: floods while the destination is unknown, then forwards to the learned port only', async (t) => {
  const h = await harness();
  try {
    h.send(flowMod({ priority: 0, instructions: [applyActions(output(OFPP.NORMAL))] }));
    const a2b = frame({ eth: { src: '00:00:00:00:00:0a', dst: '00:00:00:00:00:0b' } });
    const b2a = frame({ eth: { src: '00:00:00:00:00:0b', dst: '00:00:00:00:00:0a' } });
    h.port('p1').receive(a2b);
    await settle();
    t.deepEqual(Object.keys(h.out()).sort(), ['br0', 'p2', 'p3'], 'flooded to every other port, LOCAL too');
    h.port('p2').receive(b2a);
    await settle();
    t.deepEqual(h.out(), { p1: [hex(b2a)] }, 'a was learned on p1');
    h.port('p1').receive(a2b);
    await settle();
    t.deepEqual(h.out(), { p2: [hex(a2b)] }, 'b was learned on p2: the cached flooding flow was revalidated');
  } finally {
    await h.close();
  }
});

test('a port going down is left out of FLOOD at once; PORT_MOD NO_FWD likewise', async (t) => {
  const h = await harness();
  try {
    h.send(flowMod({ instructions: [applyActions(output(OFPP.FLOOD))] }));
    const f = frame();
    h.port('p1').receive(f);
    await settle();
    t.deepEqual(Object.keys(h.out()).sort(), ['br0', 'p2', 'p3']);
    h.port('p3').setUp(false);
    h.port('p1').receive(f);
    await settle();
    t.deepEqual(Object.keys(h.out()).sort(), ['br0', 'p2']);
    const hw = h.sw.ofproto.ports.get(2)!.hwAddr;
    h.send({ type: OFPT.PORT_MOD, xid: 4, portNo: 2, hwAddr: hw, config: OFPPC.NO_FWD, mask: OFPPC.NO_FWD, advertise: 0 } as Message);
    t.deepEqual(h.p.errors, []);
    h.port('p1').receive(f);
    await settle();
    t.deepEqual(Object.keys(h.out()).sort(), ['br0']);
  } finally {
    await h.close();
  }
});

test('meters: a PKTPS drop band limits what a flow forwards; meter stats count it', async (t) => {
  const h = await harness();
  try {
    h.send({ type: OFPT.METER_MOD, xid: 2, command: 0, flags: OFPMF.PKTPS | OFPMF.BURST | OFPMF.STATS, meterId: 1,
      bands: [{ type: OFPMBT.DROP, rate: 10, burstSize: 10 }] } as unknown as Message);
    h.send(flowMod({ match: [inPort(1)], instructions: [meter(1), applyActions(output(2))] }));
    t.deepEqual(h.p.errors, []);
    const f = frame();
    h.port('p1').receive(Array(40).fill(f));
    await settle(8);
    const sent = h.out()['p2']?.length ?? 0;
    t.true(sent >= 10 && sent <= 12, `forwarded ${sent} of 40 (burst 10, clock frozen)`);
    h.p.sent.length = 0;
    h.send({ type: OFPT.MULTIPART_REQUEST, xid: 3, flags: 0, mpType: OFPMP.METER, meterId: 1 } as unknown as Message);
    const reply = h.p.sent.find((m) => m.type === OFPT.MULTIPART_REPLY) as unknown as { stats: Array<{ packetInCount: bigint; bandStats: Array<{ packetBandCount: bigint }> }> };
    t.is(reply.stats[0]!.packetInCount, 40n);
    t.is(reply.stats[0]!.bandStats[0]!.packetBandCount, BigInt(40 - sent));
  } finally {
    await h.close();
  }
});

test('the datapath is only a cache: flushing it changes no forwarding and no counter', async (t) => {
  const h = await harness();
  try {
    h.send(flowMod({ match: [inPort(1)], instructions: [applyActions(output(2))] }));
    h.send(flowMod({ priority: 1, instructions: [writeActions(output(3))] }));
    const f = frame();
    const g = frame({ udp: { src: 7, dst: 9 } });
    h.port('p1').receive([f, g]);
    h.port('p2').receive([f, g]);
    await settle();
    const before = h.out();
    h.sw.backer.flush();
    t.is(h.sw.dpif.stats().flows, 0);
    h.port('p1').receive([f, g]);
    h.port('p2').receive([f, g]);
    await settle();
    t.deepEqual(h.out(), before);
    t.deepEqual(flowStats(h).map((s) => s.packetCount).sort(), [4n, 4n]);
  } finally {
    await h.close();
  }
});

test('patch ports: a frame sent into one comes in on its peer and goes on through the pipeline', async (t) => {
  const sw = await buildSwitch({
    ports: [
      { name: 'p1', ofport: 1, type: 'dummy' }, { name: 'p2', ofport: 2, type: 'dummy' },
      { name: 'pa', ofport: 10, type: 'patch', options: { peer: 'pb' } }, { name: 'pb', ofport: 11, type: 'patch', options: { peer: 'pa' } },
    ],
    probeInterval: 0, backer: { revalidateMs: 0 },
  });
  try {
    const p = party();
    sw.ofproto.attach(p);
    sw.ofproto.receive(flowMod({ match: [inPort(1)], instructions: [applyActions(output(10))] }), p);
    sw.ofproto.receive(flowMod({ match: [inPort(11)], instructions: [applyActions(output(2))] }), p);
    const f = frame();
    (sw.netdev('p1') as DummyNetdev).receive([f, f]);
    await settle(10);
    t.deepEqual((sw.netdev('p2') as DummyNetdev).sent.map(hex), [hex(f), hex(f)]);
    t.deepEqual(p.errors, []);
  } finally {
    await sw.close();
  }
});

test('fail-mode standalone: after three probe intervals without a controller the switch forwards as NORMAL; a controller ends it', async (t) => {
  const clock = { t: 1_000_000 };
  const sw = await buildSwitch({
    ports: [{ name: 'p1', ofport: 1, type: 'dummy' }, { name: 'p2', ofport: 2, type: 'dummy' }, { name: 'p3', ofport: 3, type: 'dummy' }],
    now: () => clock.t, probeInterval: 100, failMode: 'standalone', backer: { revalidateMs: 0 },
  });
  try {
    const port = (n: string): DummyNetdev => sw.netdev(n) as DummyNetdev;
    const sent = (): string[] => ['p1', 'p2', 'p3'].filter((n) => port(n).sent.length > 0);
    const clear = (): void => ['br0', 'p1', 'p2', 'p3'].forEach((n) => port(n).clearSent());
    const a2b = frame({ eth: { src: '00:00:00:00:00:0a', dst: '00:00:00:00:00:0b' } });
    const b2a = frame({ eth: { src: '00:00:00:00:00:0b', dst: '00:00:00:00:00:0a' } });
    port('p1').receive(a2b);
    await settle();
    t.deepEqual(sent(), [], 'not yet: secure until the controller has been missing for 3 probe intervals');
    clock.t += 301;
    t.true(sw.ofproto.failMode.check());
    port('p1').receive(a2b);
    await settle();
    t.deepEqual(sent(), ['p2', 'p3'], 'fail-open: a miss floods (NORMAL)');
    clear();
    port('p2').receive(b2a);
    await settle();
    t.deepEqual(sent(), ['p1'], 'and learns');
    clear();
    sw.ofproto.failMode.controllerUp();
    port('p2').receive(b2a);
    await settle();
    t.deepEqual(sent(), [], 'a controller is back: table misses drop again (the cached NORMAL flow was revalidated)');
  } finally {
    await sw.close();
  }
});

test('a rule added where an earlier table had changed the flow still takes effect (set, set back, then a lookup)', async (t) => {
  const h = await harness();
  try {
    const f = frame({ eth: { src: '00:00:00:00:00:01', dst: '00:00:00:00:00:02' } });
    // Table 0 (exact on eth_dst) rewrites eth_dst; table 1 writes it back; table 2 misses: drop.
    h.send(flowMod({ tableId: 0, match: [{ field: OFPXMT.ETH_DST, value: '00:00:00:00:00:02' }], instructions: [applyActions(setField(OFPXMT.ETH_DST, '00:00:00:00:00:99')), gotoTable(1)] }));
    h.send(flowMod({ tableId: 1, priority: 1, instructions: [applyActions(setField(OFPXMT.ETH_DST, '00:00:00:00:00:02')), gotoTable(2)] }));
    h.port('p1').receive(f);
    await settle();
    t.deepEqual(h.out(), {});
    t.is(h.sw.dpif.stats().flows, 1, 'a cached drop flow, exact on eth_dst 00:..:02');
    // Table 1 saw eth_dst 00:..:99, which the megaflow (eth_dst 00:..:02) does not show.
    h.send(flowMod({ tableId: 1, priority: 10, match: [{ field: OFPXMT.ETH_DST, value: '00:00:00:00:00:99' }], instructions: [applyActions(output(3))] }));
    h.port('p1').receive(f);
    await settle();
    t.deepEqual(Object.keys(h.out()), ['p3']);
  } finally {
    await h.close();
  }
});
