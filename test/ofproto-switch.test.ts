/**
 * The switch's message handler in-process (Ofproto.receive: roles first, then the switch), with
 * fake controller parties that record what they are sent, and one test over real TCP for barrier
 * ordering. ovs-ofctl against the running command is in cli-start.test.ts.
 */

import test from 'ava';
import { createConnection } from 'node:net';
import { firstValueFrom, filter } from 'rxjs';
import {
  decode, encode, encodedLength, OFPT, OFPMP, OFPMPF, OFPP, OFPPC, OFPPR, OFPRR, OFPFF, OFPFC, OFPCR_ROLE, OFPE,
  ONF_EXPERIMENTER_ID, ONF_ET, OFPQ_ALL, OFPTT, OFPG,
  type Message, type MultipartReply, type MultipartRequest, type FlowStats, type PortMod,
} from '../src/openflow/index.js';
import type { ErrorPair } from '../proto/schema.js';
import { Ofproto, dpidFor } from '../src/ofproto/ofproto.js';
import { OfConnection } from '../src/ofproto/connection.js';
import { hwAddrFor } from '../src/ofproto/ports.js';
import { flowMod, applyActions, output, ethType, X, party, type FakeParty } from './ofproto-helpers.js';

function setup(opts: ConstructorParameters<typeof Ofproto>[0] = {}): { sw: Ofproto; p: FakeParty; clock: { t: number } } {
  const clock = { t: 1000 };
  const sw = new Ofproto({ ports: [{ name: 'p1', ofport: 1 }, { name: 'p2', ofport: 2 }], now: () => clock.t, probeInterval: 0, ...opts });
  const p = party();
  sw.attach(p);
  return { sw, p, clock };
}

const err = (pair: ErrorPair, xid: number): [number, number, number] => [pair[0], pair[1], xid];
const mp = (p: Partial<MultipartRequest> & { mpType: number }): MultipartRequest =>
  ({ type: OFPT.MULTIPART_REQUEST, xid: 7, flags: 0, ...p }) as MultipartRequest;
const flowStatsReq = (xid = 7): MultipartRequest => mp({
  xid, mpType: OFPMP.FLOW, tableId: OFPTT.ALL, outPort: OFPP.ANY, outGroup: OFPG.ANY, cookie: 0n, cookieMask: 0n, match: [],
} as Partial<MultipartRequest> & { mpType: 1 });

test('FEATURES_REPLY: dpid, no buffers, the pipeline\'s tables, capabilities as 1<<bit', (t) => {
  const { sw, p } = setup({ bridge: 'brz' });
  sw.receive({ type: OFPT.FEATURES_REQUEST, xid: 3 }, p);
  const r = p.sent[0]!;
  if (r.type !== OFPT.FEATURES_REPLY) return t.fail();
  t.is(r.xid, 3);
  t.is(r.datapathId, dpidFor('brz'));
  t.is(r.nBuffers, 0);
  t.is(r.nTables, 255);
  t.is(r.capabilities, 0b1111);
});

test('multipart replies over 64 KiB split at entry boundaries, REPLY_MORE on all but the last', (t) => {
  const { sw, p } = setup();
  const n = 3000;
  for (let i = 0; i < n; i++) {
    sw.receive(flowMod({
      priority: i, cookie: BigInt(i),
      match: [ethType(0x0800), { field: X.IPV4_SRC, value: `10.${(i >> 8) & 255}.${i & 255}.1` }, { field: X.IP_PROTO, value: 6 }, { field: X.TCP_DST, value: i & 0xffff }],
      instructions: [applyActions(output(1), output(2))],
    }), p);
  }
  t.deepEqual(p.errors, []);
  t.is(sw.pipeline.size, n);
  sw.receive(flowStatsReq(9), p);
  const parts = p.sent as MultipartReply[];
  t.true(parts.length > 1, `${parts.length} parts`);
  const seen: FlowStats[] = [];
  parts.forEach((m, i) => {
    t.is(m.xid, 9);
    t.is(m.flags & OFPMPF.MORE, i < parts.length - 1 ? OFPMPF.MORE : 0);
    const bytes = encode({ ...m, version: 4 } as Message);
    t.true(bytes.length <= 0xffff);
    // Every part decodes on its own: no entry is cut between messages.
    const d = decode(bytes);
    if (!d.ok || d.msg.type !== OFPT.MULTIPART_REPLY || d.msg.mpType !== OFPMP.FLOW) return t.fail('part does not decode');
    seen.push(...d.msg.stats);
  });
  t.is(seen.length, n);
  t.deepEqual(new Set(seen.map((s) => s.cookie)).size, n);
  // Parts are filled: each but the last has no room for one more entry.
  for (const m of parts.slice(0, -1)) t.true(encodedLength({ ...m, version: 4 } as Message) > 0xffff - 200);
});

test('TABLE_FEATURES get: one entry per table with the 8 required properties, split into parts', (t) => {
  const { sw, p } = setup();
  sw.receive(mp({ mpType: OFPMP.TABLE_FEATURES, tables: [] } as Partial<MultipartRequest> & { mpType: 12 }), p);
  const parts = p.sent as MultipartReply[];
  t.true(parts.length > 1);
  const tables = parts.flatMap((m) => (m.mpType === OFPMP.TABLE_FEATURES ? m.tables : []));
  t.is(tables.length, 255);
  t.deepEqual(tables[0]!.properties.map((x) => x.type), [0, 2, 4, 6, 8, 0xa, 0xc, 0xe]);
  const last = tables[254]!.properties.find((x) => x.type === 2);
  t.deepEqual(last && 'nextTableIds' in last ? last.nextTableIds : undefined, []);
});

test('REQ_MORE: parts are reassembled before the request is handled', (t) => {
  const { sw, p } = setup();
  // Empty-body type: nothing is answered until the last part.
  sw.receive(mp({ xid: 20, mpType: OFPMP.DESC, flags: OFPMPF.MORE }), p);
  sw.receive(mp({ xid: 20, mpType: OFPMP.DESC, flags: OFPMPF.MORE }), p);
  t.is(p.sent.length, 0);
  sw.receive(mp({ xid: 20, mpType: OFPMP.DESC, flags: 0 }), p);
  t.is(p.sent.length, 1);
  const desc = p.sent[0]!;
  t.true(desc.type === OFPT.MULTIPART_REPLY && desc.mpType === OFPMP.DESC && desc.mfrDesc === 'ofswitch');
  // TABLE_FEATURES: the tables of all parts form one set request, refused as a whole (EPERM).
  const tf = (flags: number, tableId: number): MultipartRequest => mp({
    xid: 21, mpType: OFPMP.TABLE_FEATURES, flags,
    tables: [{ tableId, name: 'x', metadataMatch: 0n, metadataWrite: 0n, config: 0, maxEntries: 10, properties: [] }],
  } as Partial<MultipartRequest> & { mpType: 12 });
  sw.receive(tf(OFPMPF.MORE, 0), p);
  t.deepEqual(p.errors, []);
  sw.receive(tf(0, 1), p);
  t.deepEqual(p.errors, [err(OFPE.TABLE_FEATURES_FAILED!.EPERM!, 21)]);
  // A fixed body sent twice has the wrong length once joined.
  const ps = (flags: number): MultipartRequest => mp({ xid: 22, mpType: OFPMP.PORT_STATS, flags, portNo: OFPP.ANY } as Partial<MultipartRequest> & { mpType: 4 });
  sw.receive(ps(OFPMPF.MORE), p);
  sw.receive(ps(0), p);
  t.deepEqual(p.errors[1], err(OFPE.BAD_REQUEST!.BAD_LEN!, 22));
  // Another xid interrupts an assembly: the abandoned one gets BAD_MULTIPART, the new one is served.
  sw.receive(mp({ xid: 23, mpType: OFPMP.DESC, flags: OFPMPF.MORE }), p);
  const before = p.sent.length;
  sw.receive(mp({ xid: 24, mpType: OFPMP.PORT_DESC, flags: 0 }), p);
  t.deepEqual(p.errors[2], err(OFPE.BAD_REQUEST!.BAD_MULTIPART!, 23));
  t.is(p.sent.length, before + 1);
  t.is(p.sent[before]!.xid, 24);
});

test('REQ_MORE is bounded: too many bytes gives MULTIPART_BUFFER_OVERFLOW and drops the parts', (t) => {
  const { sw, p } = setup({ maxMultipartRequest: 100 });
  for (let i = 0; i < 7; i++) sw.receive(mp({ xid: 30, mpType: OFPMP.DESC, flags: OFPMPF.MORE }), p);
  t.deepEqual(p.errors, [err(OFPE.BAD_REQUEST!.MULTIPART_BUFFER_OVERFLOW!, 30)]);
  // The assembler starts afresh.
  sw.receive(mp({ xid: 31, mpType: OFPMP.DESC, flags: 0 }), p);
  t.is(p.sent.length, 1);
});

test('barrier over TCP: the reply comes after every earlier flow-mod is applied', async (t) => {
  const sw = new Ofproto({ ports: [{ name: 'p1', ofport: 1 }], probeInterval: 0 });
  const l = await sw.listen('ptcp:0');
  const client = new OfConnection(createConnection({ host: '127.0.0.1', port: l.port! }), () => {}, { probeInterval: 0 });
  try {
    await firstValueFrom(client.events$.pipe(filter((e) => e.type === 'negotiated')));
    for (let round = 0; round < 5; round++) {
      const n = 500;
      for (let i = 0; i < n; i++) client.send(flowMod({ priority: round * n + i, match: [ethType(0x0800), { field: X.IPV4_DST, value: `10.0.${round}.${i & 255}` }, { field: X.IP_PROTO, value: 17 }, { field: X.UDP_DST, value: i }], instructions: [applyActions(output(1))] }));
      const reply = await client.request({ type: OFPT.BARRIER_REQUEST });
      t.is(reply.type, OFPT.BARRIER_REPLY);
      t.is(sw.pipeline.size, (round + 1) * n);
    }
  } finally {
    client.close();
    await sw.close();
  }
});

test('no buffers: a buffer id in FLOW_MOD or PACKET_OUT is BUFFER_UNKNOWN and nothing is applied', (t) => {
  const { sw, p } = setup();
  sw.receive(flowMod({ xid: 40, bufferId: 5, instructions: [applyActions(output(1))] }), p);
  t.is(sw.pipeline.size, 0);
  sw.receive({ type: OFPT.PACKET_OUT, xid: 41, bufferId: 5, inPort: OFPP.CONTROLLER, actions: [output(1)], data: new Uint8Array(0) }, p);
  sw.receive({ type: OFPT.PACKET_OUT, xid: 42, bufferId: 0xffffffff, inPort: OFPP.CONTROLLER, actions: [output(1)], data: new Uint8Array(60) }, p);
  sw.receive({ type: OFPT.PACKET_OUT, xid: 43, bufferId: 0xffffffff, inPort: 77, actions: [output(1)], data: new Uint8Array(60) }, p);
  sw.receive({ type: OFPT.PACKET_OUT, xid: 44, bufferId: 0xffffffff, inPort: OFPP.CONTROLLER, actions: [output(9)], data: new Uint8Array(60) }, p);
  // A delete carries no packet: its buffer id is ignored.
  sw.receive(flowMod({ xid: 45, command: OFPFC.DELETE, tableId: OFPTT.ALL, bufferId: 5 }), p);
  t.deepEqual(p.errors, [
    err(OFPE.BAD_REQUEST!.BUFFER_UNKNOWN!, 40), err(OFPE.BAD_REQUEST!.BUFFER_UNKNOWN!, 41),
    err(OFPE.BAD_REQUEST!.BAD_PORT!, 43), err(OFPE.BAD_ACTION!.BAD_OUT_PORT!, 44),
  ]);
  t.is(sw.counters.packetOuts, 1);
});

test('TABLE_MOD: config 0 accepted, other bits BAD_CONFIG, a missing table BAD_TABLE', (t) => {
  const { sw, p } = setup({ nTables: 10 });
  sw.receive({ type: OFPT.TABLE_MOD, xid: 50, tableId: 3, config: 0 }, p);
  sw.receive({ type: OFPT.TABLE_MOD, xid: 51, tableId: OFPTT.ALL, config: 0 }, p);
  sw.receive({ type: OFPT.TABLE_MOD, xid: 52, tableId: 3, config: 3 }, p);
  sw.receive({ type: OFPT.TABLE_MOD, xid: 53, tableId: 20, config: 0 }, p);
  t.deepEqual(p.errors, [err(OFPE.TABLE_MOD_FAILED!.BAD_CONFIG!, 52), err(OFPE.TABLE_MOD_FAILED!.BAD_TABLE!, 53)]);
  t.is(p.sent.length, 0);
});

test('PORT_MOD: errors, and a change goes out as PORT_STATUS MODIFY', (t) => {
  const { sw, p } = setup();
  const hw = sw.ports.get(1)!.hwAddr;
  t.is(hw, hwAddrFor('p1'));
  t.regex(hw, /^02:/);
  const pm = (x: Partial<PortMod>): PortMod => ({ type: OFPT.PORT_MOD, xid: 60, portNo: 1, hwAddr: hw, config: 0, mask: 0, advertise: 0, ...x });
  sw.receive(pm({ xid: 61, portNo: 9 }), p);
  sw.receive(pm({ xid: 62, hwAddr: '02:00:00:00:00:99' }), p);
  sw.receive(pm({ xid: 63, config: 1 << 3, mask: 1 << 3 }), p);
  sw.receive(pm({ xid: 64, advertise: 1 }), p);
  t.deepEqual(p.errors, [
    err(OFPE.PORT_MOD_FAILED!.BAD_PORT!, 61), err(OFPE.PORT_MOD_FAILED!.BAD_HW_ADDR!, 62),
    err(OFPE.PORT_MOD_FAILED!.BAD_CONFIG!, 63), err(OFPE.PORT_MOD_FAILED!.BAD_ADVERTISE!, 64),
  ]);
  t.is(p.sent.length, 0);
  sw.receive(pm({ xid: 65, config: OFPPC.PORT_DOWN | OFPPC.NO_FWD, mask: OFPPC.PORT_DOWN | OFPPC.NO_FWD }), p);
  const st = p.sent[0]!;
  if (st.type !== OFPT.PORT_STATUS) return t.fail();
  t.is(st.reason, OFPPR.MODIFY);
  t.is(st.desc.config, OFPPC.PORT_DOWN | OFPPC.NO_FWD);
  t.is(st.desc.state & 1, 1, 'LINK_DOWN');
  // The same change again changes nothing and says nothing.
  sw.receive(pm({ xid: 66, config: OFPPC.PORT_DOWN, mask: OFPPC.PORT_DOWN }), p);
  t.is(p.sent.length, 1);
  // Adding and deleting ports: ADD and DELETE.
  const p3 = sw.ports.add({ name: 'p3' });
  t.is(typeof p3 === 'string' ? -1 : p3.portNo, 3);
  t.true(sw.ports.delete(3));
  t.deepEqual(p.sent.slice(1).map((m) => (m.type === OFPT.PORT_STATUS ? m.reason : -1)), [OFPPR.ADD, OFPPR.DELETE]);
  t.is((sw.ports.add({ name: 'p4', ofport: 2 }) as { portNo: number }).portNo, 3, 'a taken number gives the lowest free one');
});

test('slave refusals come from roles; a slave may still read', (t) => {
  const { sw, p } = setup();
  sw.receive({ type: OFPT.ROLE_REQUEST, xid: 70, role: OFPCR_ROLE.SLAVE, generationId: 1n }, p);
  t.is(p.sent[0]!.type, OFPT.ROLE_REPLY);
  sw.receive(flowMod({ xid: 71, instructions: [applyActions(output(1))] }), p);
  sw.receive({ type: OFPT.PORT_MOD, xid: 72, portNo: 1, hwAddr: hwAddrFor('p1'), config: 0, mask: 0, advertise: 0 }, p);
  sw.receive({ type: OFPT.PACKET_OUT, xid: 73, bufferId: 0xffffffff, inPort: OFPP.CONTROLLER, actions: [], data: new Uint8Array(0) }, p);
  t.deepEqual(p.errors, [71, 72, 73].map((x) => err(OFPE.BAD_REQUEST!.IS_SLAVE!, x)));
  t.is(sw.pipeline.size, 0);
  sw.receive(flowStatsReq(74), p);
  t.is(p.sent[1]!.type, OFPT.MULTIPART_REPLY);
});

test('timeouts: one timer, FLOW_REMOVED to parties whose async config wants the reason', (t) => {
  const { sw, p, clock } = setup();
  const quiet = party();
  sw.attach(quiet);
  quiet.control.async = { ...quiet.control.async, flowRemoved: [1 << OFPRR.DELETE, 0] };
  sw.receive(flowMod({ xid: 80, idleTimeout: 2, priority: 1, flags: OFPFF.SEND_FLOW_REM, instructions: [applyActions(output(1))] }), p);
  sw.receive(flowMod({ xid: 81, hardTimeout: 5, priority: 2, instructions: [applyActions(output(1))] }), p);
  t.is(sw.pipeline.nextExpiry(), 3000);
  clock.t = 3000;
  sw.runExpiry();
  t.is(sw.pipeline.size, 1);
  const fr = p.sent.find((m) => m.type === OFPT.FLOW_REMOVED);
  if (fr?.type !== OFPT.FLOW_REMOVED) return t.fail();
  t.is(fr.reason, OFPRR.IDLE_TIMEOUT);
  t.is(fr.durationSec, 2);
  t.is(quiet.sent.length, 0, 'a party without idle-timeout in its mask gets nothing');
  clock.t = 6000;
  sw.runExpiry();
  t.is(sw.pipeline.size, 0);
  t.is(p.sent.filter((m) => m.type === OFPT.FLOW_REMOVED).length, 1, 'no SEND_FLOW_REM, no message');
  // DELETE reason reaches the quiet party, which asked for it.
  sw.receive(flowMod({ xid: 82, flags: OFPFF.SEND_FLOW_REM, instructions: [applyActions(output(1))] }), p);
  sw.receive(flowMod({ xid: 83, command: OFPFC.DELETE, tableId: OFPTT.ALL }), p);
  t.is(quiet.sent.length, 1);
  t.is(quiet.sent[0]!.type === OFPT.FLOW_REMOVED ? quiet.sent[0]!.reason : -1, OFPRR.DELETE);
});

test('other messages: queue config, experimenters, unknown types, multipart errors', (t) => {
  const { sw, p } = setup();
  sw.receive({ type: OFPT.QUEUE_GET_CONFIG_REQUEST, xid: 90, port: 1 }, p);
  sw.receive({ type: OFPT.QUEUE_GET_CONFIG_REQUEST, xid: 91, port: 9 }, p);
  sw.receive({ type: OFPT.EXPERIMENTER, xid: 92, experimenter: 0x2320, expType: 1, data: new Uint8Array(0) }, p);
  // An ONF experimenter type other than the bundle messages (bundles: ofproto-bundles.test.ts).
  sw.receive({ type: OFPT.EXPERIMENTER, xid: 93, experimenter: ONF_EXPERIMENTER_ID, expType: 2500, data: new Uint8Array(0) }, p);
  sw.receive({ type: OFPT.PACKET_IN, xid: 94, bufferId: 0, totalLen: 0, reason: 0, tableId: 0, cookie: 0n, match: [], data: new Uint8Array(0) }, p);
  sw.receive(mp({ xid: 95, mpType: OFPMP.PORT_STATS, portNo: 9 } as Partial<MultipartRequest> & { mpType: 4 }), p);
  sw.receive(mp({ xid: 96, mpType: OFPMP.QUEUE, portNo: 9, queueId: OFPQ_ALL } as Partial<MultipartRequest> & { mpType: 5 }), p);
  sw.receive(mp({ xid: 97, mpType: OFPMP.QUEUE, portNo: OFPP.ANY, queueId: OFPQ_ALL } as Partial<MultipartRequest> & { mpType: 5 }), p);
  sw.receive({ type: OFPT.ERROR, xid: 98, errType: 1, code: 1, data: new Uint8Array(0) }, p);
  t.deepEqual(p.errors, [
    err(OFPE.QUEUE_OP_FAILED!.BAD_PORT!, 91), err(OFPE.BAD_REQUEST!.BAD_EXPERIMENTER!, 92),
    err(OFPE.BAD_REQUEST!.BAD_EXP_TYPE!, 93), err(OFPE.BAD_REQUEST!.BAD_TYPE!, 94),
    err(OFPE.BAD_REQUEST!.BAD_PORT!, 95), err(OFPE.QUEUE_OP_FAILED!.BAD_PORT!, 96),
  ]);
  t.deepEqual(p.sent.map((m) => m.xid), [90, 97]);
});

test('deleting a group deletes its flows with FLOW_REMOVED reason GROUP_DELETE', (t) => {
  const { sw, p } = setup();
  sw.receive({ type: OFPT.GROUP_MOD, xid: 100, command: 0, groupType: 0, groupId: 7, buckets: [{ weight: 0, watchPort: OFPP.ANY, watchGroup: OFPG.ANY, actions: [output(1)] }] }, p);
  sw.receive(flowMod({ xid: 101, flags: OFPFF.SEND_FLOW_REM, instructions: [applyActions({ type: 22, groupId: 7 })] }), p);
  sw.receive(flowMod({ xid: 102, priority: 9, instructions: [applyActions(output(2))] }), p);
  t.deepEqual(p.errors, []);
  sw.receive({ type: OFPT.GROUP_MOD, xid: 103, command: 2, groupType: 0, groupId: 7, buckets: [] }, p);
  t.is(sw.pipeline.size, 1);
  const fr = p.sent.filter((m) => m.type === OFPT.FLOW_REMOVED);
  t.is(fr.length, 1);
  t.is(fr[0]!.type === OFPT.FLOW_REMOVED ? fr[0]!.reason : -1, OFPRR.GROUP_DELETE);
  // Without group and meter tables, their mods are refused.
  const bare = setup({ groups: false, meters: false });
  bare.sw.receive({ type: OFPT.GROUP_MOD, xid: 104, command: 0, groupType: 0, groupId: 1, buckets: [] }, bare.p);
  bare.sw.receive({ type: OFPT.METER_MOD, xid: 105, command: 0, flags: 1, meterId: 1, bands: [] }, bare.p);
  t.deepEqual(bare.p.errors, [err(OFPE.BAD_REQUEST!.BAD_TYPE!, 104), err(OFPE.BAD_REQUEST!.BAD_TYPE!, 105)]);
});
