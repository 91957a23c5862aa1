/**
 * The userspace datapath on fake netdevs: ports, the receive path (hits, misses, the EMC and the
 * megaflow classifier), flow puts/deletes, upcall emission (one array per batch, bounds, lost
 * counts, re-entrant handlers) and execute with every action kind, checked against frames the
 * packet builder makes with the expected headers.
 */

import test from 'ava';
import { OFPXMT } from '../proto/constants.js';
import { K, newKey } from '../src/packet/key.js';
import { Packet } from '../src/packet/packet.js';
import { buildPacket, parseIpv4 } from '../src/packet/build.js';
import type { Upcall } from '../src/dpif/dpif.js';
import { ODPP_LOCAL, ODPP_NONE } from '../src/dpif/dpif.js';
import type { ControllerCookie, OdpAction } from '../src/dpif/odp.js';
import { UserspaceDatapath } from '../src/dpif/index.js';
import { FakeNetdev, makeDp, match, udp, keyOf, hex } from './dpif-fakes.js';

const out = (port: number): OdpAction => ({ type: 'output', port });
const IPV4: [number, number] = [K.ETH_TYPE, 0x0800];
const cookie: ControllerCookie = { kind: 'controller', reason: 1, tableId: 0, cookie: 7n, metadata: 0n, inPort: 1, bridge: 'br0' };

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

test('ports: numbering, LOCAL on request, name and number clashes, query, dump, del', (t) => {
  const dp = new UserspaceDatapath();
  const a = new FakeNetdev('a'), b = new FakeNetdev('b'), c = new FakeNetdev('c'), l = new FakeNetdev('br0');
  t.is(dp.portAdd(a), 1);
  t.is(dp.portAdd(b, 5), 5);
  t.is(dp.portAdd(c), 2);
  t.is(dp.portAdd(l, ODPP_LOCAL), 0);
  t.is(dp.portAdd(new FakeNetdev('a')), 'port name a exists');
  t.is(dp.portAdd(new FakeNetdev('d'), 5), 'port number 5 is taken');
  t.regex(String(dp.portAdd(new FakeNetdev('e'), -1)), /bad port number/);
  t.is(dp.portQuery('b')?.portNo, 5);
  t.is(dp.portQuery(2)?.name, 'c');
  t.is(dp.portQuery(2)?.type, 'fake');
  t.deepEqual(dp.portDump().map((p) => p.portNo), [0, 1, 2, 5]);
  t.truthy(a.rx);
  t.true(dp.portDel(1));
  t.is(a.rx, undefined);
  t.false(dp.portDel(1));
  t.is(dp.portQuery('a'), undefined);
  t.is(dp.portAdd(new FakeNetdev('f')), 1, 'the lowest free number is reused');
});

test('portDel keeps flows; output to a deleted port is counted and ignored', (t) => {
  const { dp, ports } = makeDp(3);
  dp.flowPut({ ...match(1), actions: [out(2), out(3)] });
  dp.portDel(2);
  ports[0]!.receive(udp());
  t.is(dp.stats().flows, 1);
  t.is(ports[1]!.sent.length, 0);
  t.is(ports[2]!.sent.length, 1);
  t.is(dp.counters().outputErrors, 1);
});

// ---------------------------------------------------------------------------------------------
// Receive path
// ---------------------------------------------------------------------------------------------

test('a miss goes up with the packet, a copy of its key and the port; after flowPut it hits', (t) => {
  const { dp, ports } = makeDp(2);
  const got: Upcall[][] = [];
  dp.upcall$.subscribe((u) => got.push([...u]));
  const f = udp();
  ports[0]!.receive(f);
  t.is(got.length, 1);
  const up = got[0]![0]!;
  t.is(up.type, 'miss');
  t.is(up.inPort, 1);
  t.is(hex(up.packet.bytes()), hex(f));
  t.deepEqual([...up.key], [...keyOf(f, 1)], 'in_port and in_phy_port set, the rest extracted');
  t.deepEqual(dp.stats(), { hit: 0n, emcHit: 0n, missed: 1n, lost: 0n, maskHit: 0n, lookups: 1n, flows: 0 });

  const ufid = dp.flowPut({ key: up.key, mask: match(1, [IPV4]).mask, actions: [out(2)] });
  t.is(typeof ufid, 'number');
  ports[0]!.receive(f, f);
  t.is(got.length, 1, 'no new upcalls');
  t.is(ports[1]!.sent.length, 2);
  t.is(hex(ports[1]!.sent[0]!), hex(f));
  t.is(ports[1]!.sends, 1, 'one send per port per batch');
  const s = dp.stats();
  t.is(s.hit, 2n);
  t.is(s.missed, 1n);
  t.is(s.lookups, 3n);
  t.is(s.maskHit, 2n, 'one subtable searched per hit');
  const fl = dp.flowGet(ufid as number)!;
  t.is(fl.stats.packets, 2n);
  t.is(fl.stats.bytes, BigInt(2 * f.length));
});

test('a wildcard megaflow covers many keys; flows count once', (t) => {
  const { dp, ports } = makeDp(2);
  dp.flowPut({ ...match(1, [IPV4]), actions: [out(2)] });
  const frames = Array.from({ length: 40 }, (_, i) => udp(`10.0.${i}.1`, '10.9.9.9', 1000 + i, 80));
  ports[0]!.receive(...frames);
  t.deepEqual(ports[1]!.sent.map(hex), frames.map(hex));
  t.is(dp.stats().hit, 40n);
  t.is(dp.stats().flows, 1);
  // Another port's traffic does not match this port's megaflow.
  ports[1]!.receive(frames[0]!);
  t.is(dp.stats().missed, 1n);
});

test('TCP flags and used are recorded per flow', (t) => {
  let now = 1000;
  const { dp, ports } = makeDp(2, { now: () => now });
  const ufid = dp.flowPut({ ...match(1, [IPV4]), actions: [out(2)] }) as number;
  t.is(dp.flowGet(ufid)!.stats.used, 0);
  ports[0]!.receive(buildPacket({ ipv4: {}, tcp: { flags: 0x02 } }));
  now = 2000;
  ports[0]!.receive(buildPacket({ ipv4: {}, tcp: { flags: 0x10 } }));
  const st = dp.flowGet(ufid)!.stats;
  t.is(st.tcpFlags, 0x12);
  t.is(st.used, 2000);
});

test('the EMC on, off and forced give the same outputs; forced, it hits', (t) => {
  const frames = Array.from({ length: 64 }, (_, i) => udp(`10.0.0.${i % 8}`, `10.1.0.${i % 5}`, 1000 + (i % 3), 53));
  const run = (opts: ConstructorParameters<typeof UserspaceDatapath>[0]) => {
    const { dp, ports } = makeDp(4, opts);
    // Disjoint megaflows over three masks.
    dp.flowPut({ ...match(1, [IPV4, [K.IPV4_SRC, 0x0a000000, 0xfffffffc]]), actions: [out(2)] });
    dp.flowPut({ ...match(1, [IPV4, [K.IPV4_SRC, 0x0a000004, 0xfffffffc], [K.IPV4_DST, 0x0a010000, 0xfffffffe]]), actions: [out(3)] });
    dp.flowPut({ ...match(1, [IPV4, [K.IPV4_SRC, 0x0a000004, 0xfffffffc], [K.IPV4_DST, 0x0a010002, 0xfffffffe]]), actions: [out(4)] });
    for (let r = 0; r < 3; r++) for (let i = 0; i < frames.length; i += 16) ports[0]!.receive(...frames.slice(i, i + 16));
    return { sent: ports.map((p) => p.sent.map(hex)), stats: dp.stats() };
  };
  const off = run({ emcEntries: 0 });
  const dflt = run({});
  const forced = run({ emcMinSearchCost: 0 });
  t.deepEqual(dflt.sent, off.sent);
  t.deepEqual(forced.sent, off.sent);
  t.is(off.stats.emcHit, 0n);
  t.true(forced.stats.emcHit > 0n);
  t.is(forced.stats.hit, off.stats.hit);
  t.is(forced.stats.missed, off.stats.missed);
  t.true(forced.stats.lookups < off.stats.lookups, 'EMC hits skip the classifier');
});

test('overlapping megaflows: the packet goes out once, nothing crashes', (t) => {
  const { dp, ports } = makeDp(3);
  dp.flowPut({ ...match(1, [IPV4]), actions: [out(2)] });
  dp.flowPut({ ...match(1, [IPV4, [K.IPV4_DST, 0x0a000002]]), actions: [out(3)] });
  ports[0]!.receive(udp());
  t.is(ports[1]!.sent.length + ports[2]!.sent.length, 1);
  t.is(dp.stats().hit, 1n);
});

test('subtables are re-ordered by hits (mask-hit falls to 1)', (t) => {
  const { dp, ports } = makeDp(2, { emcEntries: 0 });
  // Three masks; traffic hits only the one inserted last.
  dp.flowPut({ ...match(1, [[K.ETH_TYPE, 0x86dd]]), actions: [out(2)] });
  dp.flowPut({ ...match(1, [[K.ETH_TYPE, 0x0806], [K.ARP_OP, 1]]), actions: [out(2)] });
  dp.flowPut({ ...match(1, [IPV4, [K.IPV4_DST, 0x0a000002]]), actions: [out(2)] });
  const f = udp();
  const batch = Array.from({ length: 32 }, () => f);
  ports[0]!.receive(...batch);
  t.is(dp.stats().maskHit, 32n * 3n, 'the hit subtable is searched last at first');
  for (let i = 0; i < (1 << 14) / 32; i++) ports[0]!.receive(...batch);
  const before = dp.stats();
  ports[0]!.receive(...batch);
  const after = dp.stats();
  t.is(after.maskHit - before.maskHit, 32n);
});

// ---------------------------------------------------------------------------------------------
// Flow table operations
// ---------------------------------------------------------------------------------------------

test('flowPut of the same (mask, masked key) modifies: actions replaced, stats kept unless resetStats', (t) => {
  const { dp, ports } = makeDp(3);
  const m = match(1, [IPV4]);
  const u1 = dp.flowPut({ ...m, actions: [out(2)] }) as number;
  ports[0]!.receive(udp(), udp());
  // The same match given with other bits outside the mask set is the same flow.
  const k2 = m.key.slice();
  k2[K.IPV4_SRC] = 0x01020304;
  const u2 = dp.flowPut({ key: k2, mask: m.mask, actions: [out(3)] });
  t.is(u2, u1);
  t.is(dp.stats().flows, 1);
  ports[0]!.receive(udp());
  t.is(ports[1]!.sent.length, 2);
  t.is(ports[2]!.sent.length, 1);
  t.is(dp.flowGet(u1)!.stats.packets, 3n);
  t.deepEqual(dp.flowGet(u1)!.actions, [out(3)]);
  t.is(dp.flowGet(u1)!.key[K.IPV4_SRC], 0, 'stored masked');
  t.is(dp.flowPut({ ...m, actions: [out(2)], ufid: u1, resetStats: true }), u1);
  t.is(dp.flowGet(u1)!.stats.packets, 0n);
  t.is(dp.flowPut({ ...match(1), actions: [], ufid: u1 }), `flow ${u1} has another key or mask`);
  t.is(dp.flowPut({ ...m, actions: [], ufid: 999 }), 'no flow 999');
});

test('flows of one mask share one stored mask array, never the caller\'s; keyGiven keeps the given key itself', (t) => {
  const { dp, ports } = makeDp(3);
  const a = match(1, [IPV4, [K.IPV4_DST, 0x0a000001]]);
  const b = match(1, [IPV4, [K.IPV4_DST, 0x0a000002]]);
  const ua = dp.flowPut({ ...a, actions: [out(2)] }) as number;
  const ub = dp.flowPut({ ...b, actions: [out(3)], keyGiven: true }) as number;
  const fa = dp.flowGet(ua)!;
  const fb = dp.flowGet(ub)!;
  t.is(fa.mask, fb.mask, 'one mask array for the subtable');
  t.not(fa.mask, a.mask, 'a copy, not the caller\'s array');
  t.not(fa.key, a.key, 'a masked copy of the key');
  t.is(fb.key, b.key, 'keyGiven: the array handed over is the flow\'s key');
  a.mask.fill(0); // the caller's arrays are its own again
  ports[0]!.receive(buildPacket({ ipv4: { dst: '10.0.0.1' }, udp: {}, minLength: 60 }), buildPacket({ ipv4: { dst: '10.0.0.2' }, udp: {}, minLength: 60 }));
  t.is(ports[1]!.sent.length, 1);
  t.is(ports[2]!.sent.length, 1);
});

test('flowPut refuses an in_port that is not exact, and bad lengths', (t) => {
  const { dp } = makeDp(1);
  const m = match(1, [IPV4]);
  m.mask[K.IN_PORT] = 0xffff;
  t.is(dp.flowPut({ ...m, actions: [] }), 'in_port must be exact in the mask');
  t.regex(String(dp.flowPut({ key: new Uint32Array(3), mask: new Uint32Array(3), actions: [] })), /83 words/);
  t.is(dp.stats().flows, 0);
});

test('flow limit: the put beyond it fails, a modify still works, a delete makes room', (t) => {
  const { dp } = makeDp(1, { flowLimit: 3 });
  const ids = [1, 2, 3].map((i) => dp.flowPut({ ...match(1, [[K.ETH_TYPE, i]]), actions: [] }));
  t.deepEqual(ids, [1, 2, 3]);
  t.is(dp.flowPut({ ...match(1, [[K.ETH_TYPE, 4]]), actions: [] }), 'flow limit reached');
  t.is(dp.flowPut({ ...match(1, [[K.ETH_TYPE, 2]]), actions: [out(1)] }), 2);
  t.truthy(dp.flowDel(1));
  t.is(dp.flowPut({ ...match(1, [[K.ETH_TYPE, 4]]), actions: [] }), 4, 'ufids are never reused');
});

test('flowDel returns final stats and invalidates EMC entries; flowFlush empties everything', (t) => {
  const { dp, ports } = makeDp(2, { emcMinSearchCost: 0 });
  let misses = 0;
  dp.upcall$.subscribe((u) => (misses += u.length));
  const ufid = dp.flowPut({ ...match(1, [IPV4]), actions: [out(2)] }) as number;
  const f = udp();
  ports[0]!.receive(f);
  ports[0]!.receive(f);
  t.is(dp.stats().emcHit, 1n, 'the second packet hit the EMC');
  t.is(dp.counters().emcEntries, 1);
  const gone = dp.flowDel(ufid)!;
  t.is(gone.stats.packets, 2n);
  t.is(dp.counters().emcEntries, 0);
  ports[0]!.receive(f);
  t.is(misses, 1, 'the EMC entry of the deleted flow is not used');
  t.is(ports[1]!.sent.length, 2);
  t.is(dp.flowDel(ufid), undefined);

  dp.flowPut({ ...match(1, [IPV4]), actions: [out(2)] });
  dp.flowPut({ ...match(2, [IPV4]), actions: [out(1)] });
  t.is(dp.flowDump().length, 2);
  dp.flowFlush();
  t.is(dp.flowDump().length, 0);
  t.is(dp.stats().flows, 0);
  ports[0]!.receive(f);
  t.is(misses, 2);
});

test('flowDump snapshots: key masked, counters as bigint', (t) => {
  const { dp, ports } = makeDp(2);
  const k = match(1, [IPV4, [K.IPV4_DST, 0x0a000000, 0xff000000]]);
  k.key[K.IPV4_DST] = 0x0a0b0c0d;
  dp.flowPut({ ...k, actions: [out(2)] });
  ports[0]!.receive(udp());
  const [f] = dp.flowDump();
  t.is(f!.key[K.IPV4_DST], 0x0a000000);
  t.is(f!.stats.packets, 1n);
  t.is(typeof f!.stats.bytes, 'bigint');
});

// ---------------------------------------------------------------------------------------------
// Upcalls
// ---------------------------------------------------------------------------------------------

test('misses of one batch come up as ONE array, one upcall per packet (same key too)', (t) => {
  const { dp, ports } = makeDp(1);
  const arrays: number[] = [];
  dp.upcall$.subscribe((u) => arrays.push(u.length));
  ports[0]!.receive(udp(), udp(), udp('10.0.0.9'));
  t.deepEqual(arrays, [3]);
});

test('the upcall queue bound: beyond it upcalls are lost and counted', (t) => {
  const { dp, ports } = makeDp(1, { maxUpcallsPerBatch: 4 });
  const arrays: number[] = [];
  dp.upcall$.subscribe((u) => arrays.push(u.length));
  ports[0]!.receive(...Array.from({ length: 10 }, (_, i) => udp(`10.0.0.${i}`)));
  t.deepEqual(arrays, [4]);
  const s = dp.stats();
  t.is(s.missed, 10n);
  t.is(s.lost, 6n);
});

test('no subscriber: upcalls are lost and counted', (t) => {
  const { dp, ports } = makeDp(1);
  ports[0]!.receive(udp(), udp());
  t.is(dp.stats().lost, 2n);
  t.is(dp.stats().missed, 2n);
  const sub = dp.upcall$.subscribe(() => {});
  ports[0]!.receive(udp());
  t.is(dp.stats().lost, 2n);
  sub.unsubscribe();
  ports[0]!.receive(udp());
  t.is(dp.stats().lost, 3n);
});

test('a re-entrant handler (flowPut + execute inside the subscription) forwards within the same receive call', (t) => {
  const { dp, ports } = makeDp(3);
  const seen: string[] = [];
  dp.upcall$.subscribe((ups) => {
    for (const u of ups) {
      seen.push(u.type);
      if (u.type !== 'miss') continue;
      dp.flowPut({ key: u.key, mask: match(1, [IPV4]).mask, actions: [out(2), { type: 'userspace', cookie }] });
      dp.execute({ packet: u.packet, inPort: u.inPort, actions: [out(2), { type: 'userspace', cookie }] });
    }
  });
  const f = udp();
  ports[0]!.receive(f, f);
  // Both packets of the batch missed (flows are installed only after emission); both forwarded.
  t.is(ports[1]!.sent.length, 2, 'sent before receive returned');
  t.deepEqual(seen, ['miss', 'miss', 'action', 'action'], "the executes' userspace actions came up in a further array");
  t.is(dp.stats().flows, 1);
  ports[0]!.receive(f);
  t.is(ports[1]!.sent.length, 3);
  t.deepEqual(seen.slice(4), ['action'], 'the hit ran the userspace action of the installed flow');
});

test('userspace action on the hit path: an action upcall with the packet as it was then', (t) => {
  const { dp, ports } = makeDp(2);
  const ups: Upcall[] = [];
  dp.upcall$.subscribe((u) => ups.push(...u));
  dp.flowPut({
    ...match(1, [IPV4]),
    actions: [
      { type: 'set', field: OFPXMT.IPV4_DST, value: parseIpv4('10.5.5.5') },
      { type: 'userspace', cookie },
      { type: 'set', field: OFPXMT.IPV4_DST, value: parseIpv4('10.6.6.6') },
      out(2),
    ],
  });
  ports[0]!.receive(udp());
  t.is(ups.length, 1);
  const u = ups[0]!;
  t.is(u.type, 'action');
  t.is(u.cookie, cookie);
  t.is(u.inPort, 1);
  t.is(hex(u.packet.bytes()), hex(udp('10.0.0.1', '10.5.5.5')));
  t.is(u.key[K.IPV4_DST], 0x0a050505, 'the key is of the packet as it was');
  t.is(u.key[K.IN_PORT], 1);
  t.is(hex(ports[1]!.sent[0]!), hex(udp('10.0.0.1', '10.6.6.6')));
});

test('a handler that keeps executing userspace actions is cut off, the rest counted lost', (t) => {
  const { dp } = makeDp(1);
  dp.upcall$.subscribe((ups) => {
    for (const u of ups) dp.execute({ packet: u.packet, inPort: 1, actions: [{ type: 'userspace', cookie }] });
  });
  dp.execute({ packet: Packet.from(udp()), inPort: 1, actions: [{ type: 'userspace', cookie }] });
  t.true(dp.stats().lost >= 1n);
});

// ---------------------------------------------------------------------------------------------
// Batched executes (PACKET_OUT bursts)
// ---------------------------------------------------------------------------------------------

const udpTo = (dst: number): Uint8Array => buildPacket({ ipv4: {}, udp: { dst }, minLength: 60 });
const dstOf = (b: Buffer): number => b.readUInt16BE(14 + 20 + 2);

test('batched executes wait for flush(), then leave in one send per port, in order', (t) => {
  const { dp, ports } = makeDp(3);
  for (let i = 1; i <= 3; i++) dp.execute({ packet: Packet.from(udpTo(i)), inPort: ODPP_NONE, actions: [out(2)], batch: true });
  dp.execute({ packet: Packet.from(udpTo(4)), inPort: ODPP_NONE, actions: [out(3)], batch: true });
  t.is(ports[1]!.sent.length, 0, 'nothing sent yet');
  t.is(ports[2]!.sent.length, 0);
  dp.flush();
  t.deepEqual(ports[1]!.sent.map(dstOf), [1, 2, 3]);
  t.is(ports[1]!.sends, 1, 'one send for the three');
  t.deepEqual(ports[2]!.sent.map(dstOf), [4]);
  dp.flush();
  t.is(ports[1]!.sent.length, 3, 'a second flush sends nothing again');
});

test('batched executes leave by themselves at the end of the tick; a plain execute takes them along, first', async (t) => {
  const { dp, ports } = makeDp(2);
  dp.execute({ packet: Packet.from(udpTo(1)), inPort: ODPP_NONE, actions: [out(2)], batch: true });
  dp.execute({ packet: Packet.from(udpTo(2)), inPort: ODPP_NONE, actions: [out(2)] });
  t.deepEqual(ports[1]!.sent.map(dstOf), [1, 2], 'the held frame went first, with the plain one');
  dp.execute({ packet: Packet.from(udpTo(3)), inPort: ODPP_NONE, actions: [out(2)], batch: true });
  t.is(ports[1]!.sent.length, 2);
  await new Promise<void>((r) => process.nextTick(r));
  t.deepEqual(ports[1]!.sent.map(dstOf), [1, 2, 3]);
});

test('a batched execute that makes an upcall is not held: the upcall and its frames go at once', (t) => {
  const { dp, ports } = makeDp(2);
  const ups: Upcall[] = [];
  dp.upcall$.subscribe((u) => ups.push(...u));
  dp.execute({ packet: Packet.from(udpTo(9)), inPort: ODPP_NONE, actions: [out(2), { type: 'userspace', cookie }], batch: true });
  t.is(ups.length, 1);
  t.deepEqual(ports[1]!.sent.map(dstOf), [9]);
});

// ---------------------------------------------------------------------------------------------
// Execute: every action kind
// ---------------------------------------------------------------------------------------------

function exec(actions: OdpAction[], frame: Uint8Array = udp(), opts = {}) {
  const { dp, ports } = makeDp(4, opts);
  const ups: Upcall[] = [];
  dp.upcall$.subscribe((u) => ups.push(...u));
  const packet = Packet.from(frame);
  dp.execute({ packet, inPort: ODPP_NONE, actions });
  return { dp, ports, ups, packet, sent: (p: number) => ports[p - 1]!.sent.map(hex) };
}

const BASE = { ipv4: { src: '10.0.0.1', dst: '10.0.0.2', ttl: 64 }, udp: { src: 1000, dst: 53 }, payload: new Uint8Array(8) };

test('execute: output sends a copy and flushes at once; the caller keeps its packet', (t) => {
  const { ports, packet, sent } = exec([out(2), out(3)]);
  t.deepEqual(sent(2), [hex(udp())]);
  t.deepEqual(sent(3), [hex(udp())]);
  t.not(ports[1]!.sentPackets[0], packet);
  t.is(ports[1]!.sentPackets[0], ports[2]!.sentPackets[0], 'outputs after the last change share one copy');
});

const cases: Array<[string, OdpAction[], Parameters<typeof buildPacket>[0], Parameters<typeof buildPacket>[0]]> = [
  ['set ipv4_dst', [{ type: 'set', field: OFPXMT.IPV4_DST, value: parseIpv4('192.168.1.1') }], BASE, { ...BASE, ipv4: { ...BASE.ipv4, dst: '192.168.1.1' } }],
  ['set udp_dst', [{ type: 'set', field: OFPXMT.UDP_DST, value: Uint8Array.of(0x1f, 0x90) }], BASE, { ...BASE, udp: { src: 1000, dst: 8080 } }],
  ['set_nw_ttl', [{ type: 'set_nw_ttl', ttl: 5 }], BASE, { ...BASE, ipv4: { ...BASE.ipv4, ttl: 5 } }],
  ['push_vlan + set vlan_vid', [{ type: 'push_vlan', tpid: 0x8100 }, { type: 'set', field: OFPXMT.VLAN_VID, value: Uint8Array.of(0x10, 0x0a) }], BASE, { ...BASE, vlans: [{ vid: 10 }] }],
  ['pop_vlan', [{ type: 'pop_vlan' }], { ...BASE, vlans: [{ vid: 7 }] }, BASE],
  ['push_mpls', [{ type: 'push_mpls', ethertype: 0x8847 }], BASE, { ...BASE, mpls: [{ label: 0, ttl: 64 }] }],
  ['push_mpls + set_mpls_ttl', [{ type: 'push_mpls', ethertype: 0x8847 }, { type: 'set_mpls_ttl', ttl: 9 }], BASE, { ...BASE, mpls: [{ label: 0, ttl: 9 }] }],
  ['pop_mpls', [{ type: 'pop_mpls', ethertype: 0x0800 }], { ...BASE, mpls: [{ label: 33, ttl: 20 }] }, BASE],
];

for (const [name, actions, from, to] of cases) {
  test(`execute: ${name}`, (t) => {
    const { sent, dp } = exec([...actions, out(2)], buildPacket(from));
    t.deepEqual(sent(2), [hex(buildPacket(to))]);
    t.is(dp.counters().actionErrors, 0);
  });
}

test('execute: push_pbb then pop_pbb gives the frame back; in between it is PBB', (t) => {
  const f = udp();
  const { sent } = exec([{ type: 'push_pbb', ethertype: 0x88e7 }, out(2), { type: 'pop_pbb' }, out(3)], f);
  const pbb = Buffer.from(sent(2)[0]!, 'hex');
  t.is(keyOf(pbb)[K.ETH_TYPE], 0x88e7);
  t.deepEqual(sent(3), [hex(f)]);
});

test('execute: clone runs on a copy, the original continues unchanged', (t) => {
  const { sent, packet } = exec([
    { type: 'clone', actions: [{ type: 'set', field: OFPXMT.IPV4_DST, value: parseIpv4('10.9.9.9') }, out(2)] },
    out(3),
  ]);
  t.deepEqual(sent(2), [hex(udp('10.0.0.1', '10.9.9.9'))]);
  t.deepEqual(sent(3), [hex(udp())]);
  t.is(hex(packet.bytes()), hex(udp()));
});

test('execute: an output before a change sends the frame as it was', (t) => {
  const { sent, packet } = exec([out(2), { type: 'set', field: OFPXMT.IPV4_DST, value: parseIpv4('10.9.9.9') }, out(3)]);
  t.deepEqual(sent(2), [hex(udp())]);
  t.deepEqual(sent(3), [hex(udp('10.0.0.1', '10.9.9.9'))]);
  t.is(hex(packet.bytes()), hex(udp('10.0.0.1', '10.9.9.9')), "header actions change the caller's packet, as OVS's execute does");
});

test('execute: userspace makes an action upcall, emitted after the execute', (t) => {
  const { ups } = exec([{ type: 'set', field: OFPXMT.IPV4_SRC, value: parseIpv4('10.3.3.3') }, { type: 'userspace', cookie }]);
  t.is(ups.length, 1);
  t.is(ups[0]!.type, 'action');
  t.is(ups[0]!.inPort, ODPP_NONE);
  t.is(hex(ups[0]!.packet.bytes()), hex(udp('10.3.3.3')));
});

test('execute: drop stops; an empty list drops; both counted', (t) => {
  const { sent, dp } = exec([out(2), { type: 'drop', reason: 'test' }, out(3)]);
  t.is(sent(2).length, 1);
  t.is(sent(3).length, 0);
  t.is(dp.counters().dropped, 1);
  const e = exec([]);
  t.is(e.dp.counters().dropped, 1);
});

test('execute: a rewrite that cannot apply leaves the packet and execution continues (counted)', (t) => {
  const { sent, dp } = exec([{ type: 'pop_vlan' }, { type: 'set', field: OFPXMT.TCP_DST, value: Uint8Array.of(0, 1) }, out(2)]);
  t.deepEqual(sent(2), [hex(udp())]);
  t.is(dp.counters().actionErrors, 2);
});

test('execute: output to a missing port is counted; an unknown action is counted', (t) => {
  const { sent, dp } = exec([out(42), { type: 'bogus' } as unknown as OdpAction, out(2)]);
  t.is(sent(2).length, 1);
  t.is(dp.counters().outputErrors, 1);
  t.is(dp.counters().actionErrors, 1);
});

test('operate: puts, deletes and executes in order, per-op results', (t) => {
  const { dp, ports } = makeDp(2);
  const m = match(1, [IPV4]);
  const r = dp.operate([
    { op: 'put', ...m, actions: [out(2)] },
    { op: 'execute', packet: Packet.from(udp()), inPort: 1, actions: [out(2)] },
    { op: 'del', ufid: 1 },
    { op: 'del', ufid: 1 },
    { op: 'put', ...m, mask: newKey(), actions: [] },
  ]);
  t.is(r[0], 1);
  t.is(r[1], true);
  t.is((r[2] as { ufid: number }).ufid, 1);
  t.is(r[3], undefined);
  t.is(r[4], 'in_port must be exact in the mask');
  t.is(ports[1]!.sent.length, 1);
});

test('cache off: every packet goes up as a miss even with flows installed', (t) => {
  const { dp, ports } = makeDp(2, { cache: false });
  let n = 0;
  dp.upcall$.subscribe((u) => (n += u.length));
  dp.flowPut({ ...match(1, [IPV4]), actions: [out(2)] });
  ports[0]!.receive(udp(), udp());
  t.is(n, 2);
  t.is(ports[1]!.sent.length, 0);
  t.is(dp.stats().hit, 0n);
});

test('close: ports released, upcall$ completes, later calls are refused', (t) => {
  const { dp, ports } = makeDp(1);
  let completed = false;
  dp.upcall$.subscribe({ complete: () => (completed = true) });
  dp.close();
  t.true(completed);
  t.is(ports[0]!.rx, undefined);
  t.is(dp.flowPut({ ...match(1), actions: [] }), 'datapath closed');
  t.is(dp.portAdd(new FakeNetdev('x')), 'datapath closed');
});
