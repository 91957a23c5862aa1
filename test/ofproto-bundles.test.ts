/**
 * ONF bundles (src/ofproto/bundles.ts and their wiring in ofproto.ts): the control state machine
 * with the exact ONF experimenter error codes, ADD-time validation, atomic commits of flow-,
 * group-, meter- and port-mods (a failing message leaves the tables, groups, meters, ports,
 * counters, the datapath and FLOW_REMOVED / PORT_STATUS exactly as they were), order with
 * BARRIER, roles and disconnects; then `ovs-ofctl --bundle` and a raw client against
 * `ofswitch start`.
 */

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createConnection } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { firstValueFrom, filter } from 'rxjs';
import {
  OFPCR_ROLE, OFPE, OFPET, OFPFC, OFPFF, OFPG, OFPGC, OFPGT, OFPM, OFPMBT, OFPMC, OFPMF, OFPP, OFPPC, OFPPR, OFPRR, OFPT,
  OFPTT, ONF_BCT, ONF_BF, ONF_ET, ONF_EXPERIMENTER_ID, encode,
  type Bucket, type BundleAdd, type BundleCtrl, type FlowMod, type GroupMod, type Message, type MeterMod, type PortMod,
} from '../src/openflow/index.js';
import type { ErrorPair } from '../proto/schema.js';
import { Ofproto } from '../src/ofproto/ofproto.js';
import { OfConnection } from '../src/ofproto/connection.js';
import { BFC, BundleManager, ONFBFC, type Bundled } from '../src/ofproto/bundles.js';
import { initialControlState, type ControlParty } from '../src/ofproto/roles.js';
import { flowMod, applyActions, output, group, meter, ethType, X } from './ofproto-helpers.js';
import type { DatapathHooks } from '../src/ofproto/ofproto.js';
import { findTool, requireTool } from './peers/peers.js';
import { startSwitch, ofctlAt, type SwitchProcess, type OfctlResult } from './switch-process.js';

// ---------------------------------------------------------------------------------------------
// In-process switch and a recording controller
// ---------------------------------------------------------------------------------------------

interface FakeParty extends ControlParty {
  readonly sent: Message[];
}

/** A party that records everything; errors are kept as [errType, code, xid] like the wire says. */
function party(): FakeParty {
  const sent: Message[] = [];
  return {
    control: initialControlState(), active: true, sent,
    send(m: Message) { sent.push(m); return m.xid ?? 0; },
    sendError(pair: ErrorPair, about: Message) {
      sent.push({ type: OFPT.ERROR, xid: about.xid ?? 0, errType: pair[0], code: pair[1], data: encode(about).subarray(0, 64) });
    },
  };
}

function setup(): { sw: Ofproto; p: FakeParty; clock: { t: number } } {
  const clock = { t: 1000 };
  const sw = new Ofproto({ ports: [{ name: 'p1', ofport: 1 }, { name: 'p2', ofport: 2 }], now: () => clock.t, probeInterval: 0 });
  const p = party();
  sw.attach(p);
  return { sw, p, clock };
}

/** [errType, code-or-exp_code, xid] of an OFPT_ERROR, experimenter errors as [0xffff, exp_code, xid]. */
function errOf(m: Message): [number, number, number] | undefined {
  if (m.type !== OFPT.ERROR) return undefined;
  if ('expCode' in m) {
    if (m.experimenter !== ONF_EXPERIMENTER_ID) throw new Error(`experimenter error from ${m.experimenter}`);
    return [m.errType, m.expCode, m.xid ?? 0];
  }
  return [m.errType, m.code, m.xid ?? 0];
}

const errs = (p: FakeParty): [number, number, number][] => p.sent.map(errOf).filter((e): e is [number, number, number] => e !== undefined);
const e = (pair: ErrorPair, xid: number): [number, number, number] => [pair[0], pair[1], xid];
const replies = (p: FakeParty): [number, number, number, number][] =>
  p.sent.filter((m): m is BundleCtrl => m.type === OFPT.EXPERIMENTER && 'ctrlType' in m).map((m) => [m.xid ?? 0, m.bundleId, m.ctrlType, m.flags]);

const AO = ONF_BF.ATOMIC | ONF_BF.ORDERED;

function ctrl(xid: number, ctrlType: number, bundleId = 0, flags = AO): BundleCtrl {
  return { version: 4, type: OFPT.EXPERIMENTER, xid, experimenter: ONF_EXPERIMENTER_ID, expType: ONF_ET.BUNDLE_CONTROL, bundleId, ctrlType, flags, properties: [] };
}

function add(xid: number, message: Message, bundleId = 0, flags = AO): BundleAdd {
  return {
    version: 4, type: OFPT.EXPERIMENTER, xid, experimenter: ONF_EXPERIMENTER_ID, expType: ONF_ET.BUNDLE_ADD_MESSAGE, bundleId, flags,
    message: { ...message, version: 4, xid } as Message, properties: [],
  };
}

const ipDst = (a: string) => [ethType(0x0800), { field: X.IPV4_DST, value: a }];
const fmTo = (dst: string, port: number, p: Partial<FlowMod> = {}): FlowMod =>
  flowMod({ priority: 100, match: ipDst(dst), instructions: [applyActions(output(port))], ...p });
const bucket = (actions: Bucket['actions'], p: Partial<Bucket> = {}): Bucket =>
  ({ weight: 0, watchPort: OFPP.ANY, watchGroup: OFPG.ANY, actions, ...p });
const gmod = (groupId: number, command: number, buckets: Bucket[], groupType: number = OFPGT.ALL): GroupMod =>
  ({ version: 4, type: OFPT.GROUP_MOD, xid: 1, command, groupType, groupId, buckets });

/** The rules as comparable text: table, priority, match, instructions, cookie, counters, age. */
function snapshot(sw: Ofproto): string[] {
  return [...sw.pipeline.rules()].map((r) => JSON.stringify({
    t: r.tableId, p: r.priority, m: r.match, i: r.instructions, c: String(r.cookie), f: r.flags,
    n: String(r.packetCount), b: String(r.byteCount), at: r.installedAt,
  }, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))).sort();
}

function groupsText(sw: Ofproto): string {
  return JSON.stringify(sw.groups!.descStats());
}

// ---------------------------------------------------------------------------------------------
// Codes
// ---------------------------------------------------------------------------------------------

test('the ONF bundle error codes are OVS ofp-errors.h ONF1.3 numbers, as OFPET_EXPERIMENTER pairs', (t) => {
  t.deepEqual(ONFBFC, {
    UNKNOWN: 2300, EPERM: 2301, BAD_ID: 2302, BUNDLE_EXIST: 2303, BUNDLE_CLOSED: 2304, OUT_OF_BUNDLES: 2305,
    BAD_TYPE: 2306, BAD_FLAGS: 2307, MSG_BAD_LEN: 2308, MSG_BAD_XID: 2309, MSG_UNSUP: 2310, MSG_CONFLICT: 2311,
    MSG_TOO_MANY: 2312, MSG_FAILED: 2313, TIMEOUT: 2314, BUNDLE_IN_PROGRESS: 2315,
  });
  t.deepEqual(BFC.MSG_FAILED, [OFPET.EXPERIMENTER, 2313]);
});

// ---------------------------------------------------------------------------------------------
// Control
// ---------------------------------------------------------------------------------------------

test('open, add, close, commit: replies with the same id and flags; the flows arrive at commit', (t) => {
  const { sw, p } = setup();
  sw.receive(ctrl(1, ONF_BCT.OPEN_REQUEST, 7), p);
  sw.receive(add(2, fmTo('10.0.0.1', 1), 7), p);
  sw.receive(add(3, fmTo('10.0.0.2', 2), 7), p);
  sw.receive(add(4, fmTo('10.0.0.3', 1, { tableId: 3 }), 7), p);
  t.is(sw.pipeline.size, 0, 'nothing before the commit');
  sw.receive(ctrl(5, ONF_BCT.CLOSE_REQUEST, 7), p);
  t.is(sw.pipeline.size, 0);
  sw.receive(ctrl(6, ONF_BCT.COMMIT_REQUEST, 7), p);
  sw.receive({ type: OFPT.BARRIER_REQUEST, xid: 8 }, p);
  t.deepEqual(errs(p), []);
  t.deepEqual(replies(p), [[1, 7, ONF_BCT.OPEN_REPLY, AO], [5, 7, ONF_BCT.CLOSE_REPLY, AO], [6, 7, ONF_BCT.COMMIT_REPLY, AO]]);
  t.deepEqual(p.sent.map((m) => m.type), [OFPT.EXPERIMENTER, OFPT.EXPERIMENTER, OFPT.EXPERIMENTER, OFPT.BARRIER_REPLY]);
  t.is(sw.pipeline.size, 3);
  // Committed bundles are gone: the id is free again.
  sw.receive(ctrl(9, ONF_BCT.COMMIT_REQUEST, 7), p);
  t.deepEqual(errs(p), [e(BFC.BAD_ID, 9)]);
});

test('control errors: BAD_ID, BUNDLE_CLOSED, BAD_FLAGS, BAD_TYPE, and which of them discard the bundle', (t) => {
  const { sw, p } = setup();
  // Unknown ids.
  sw.receive(ctrl(1, ONF_BCT.CLOSE_REQUEST, 1), p);
  sw.receive(ctrl(2, ONF_BCT.COMMIT_REQUEST, 1), p);
  sw.receive(ctrl(3, ONF_BCT.DISCARD_REQUEST, 1), p);
  // Open twice: refused, and the open bundle is discarded too (OVS).
  sw.receive(ctrl(4, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(5, fmTo('10.0.0.1', 1), 1), p);
  sw.receive(ctrl(6, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(ctrl(7, ONF_BCT.COMMIT_REQUEST, 1), p);
  // Unknown flag bits; a reply type sent as a request; an unknown type.
  sw.receive(ctrl(8, ONF_BCT.OPEN_REQUEST, 2, 4), p);
  sw.receive(ctrl(9, ONF_BCT.OPEN_REPLY, 2), p);
  sw.receive(ctrl(10, 99, 2), p);
  // Close twice: BUNDLE_CLOSED, discarded.
  sw.receive(ctrl(11, ONF_BCT.OPEN_REQUEST, 3), p);
  sw.receive(ctrl(12, ONF_BCT.CLOSE_REQUEST, 3), p);
  sw.receive(ctrl(13, ONF_BCT.CLOSE_REQUEST, 3), p);
  sw.receive(ctrl(14, ONF_BCT.DISCARD_REQUEST, 3), p);
  // Close with other flags: BAD_FLAGS, discarded.
  sw.receive(ctrl(15, ONF_BCT.OPEN_REQUEST, 4, ONF_BF.ATOMIC), p);
  sw.receive(ctrl(16, ONF_BCT.CLOSE_REQUEST, 4, AO), p);
  sw.receive(ctrl(17, ONF_BCT.DISCARD_REQUEST, 4), p);
  // Commit with other flags: BAD_FLAGS, discarded, nothing applied.
  sw.receive(ctrl(18, ONF_BCT.OPEN_REQUEST, 5, ONF_BF.ORDERED), p);
  sw.receive(add(19, fmTo('10.0.0.1', 1), 5, ONF_BF.ORDERED), p);
  sw.receive(ctrl(20, ONF_BCT.COMMIT_REQUEST, 5, AO), p);
  sw.receive(ctrl(21, ONF_BCT.DISCARD_REQUEST, 5), p);
  t.deepEqual(errs(p), [
    e(BFC.BAD_ID, 1), e(BFC.BAD_ID, 2), e(BFC.BAD_ID, 3),
    e(BFC.BAD_ID, 6), e(BFC.BAD_ID, 7),
    e(BFC.BAD_FLAGS, 8), e(BFC.BAD_TYPE, 9), e(BFC.BAD_TYPE, 10),
    e(BFC.BUNDLE_CLOSED, 13), e(BFC.BAD_ID, 14),
    e(BFC.BAD_FLAGS, 16), e(BFC.BAD_ID, 17),
    e(BFC.BAD_FLAGS, 20), e(BFC.BAD_ID, 21),
  ]);
  t.deepEqual(replies(p).map((r) => r[0]), [4, 11, 12, 15, 18]);
  t.is(sw.pipeline.size, 0);
});

test('discard drops the messages; an ADD with an unknown id opens a bundle with its flags', (t) => {
  const { sw, p } = setup();
  sw.receive(ctrl(1, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(2, fmTo('10.0.0.1', 1), 1), p);
  sw.receive(ctrl(3, ONF_BCT.DISCARD_REQUEST, 1), p);
  sw.receive(ctrl(4, ONF_BCT.COMMIT_REQUEST, 1), p);
  // Implicit open (OpenFlow 1.4 and OVS): then commit with the ADD's flags.
  sw.receive(add(5, fmTo('10.0.0.2', 2), 9, ONF_BF.ATOMIC), p);
  sw.receive(ctrl(6, ONF_BCT.COMMIT_REQUEST, 9, ONF_BF.ATOMIC), p);
  t.deepEqual(errs(p), [e(BFC.BAD_ID, 4)]);
  t.deepEqual(replies(p), [[1, 1, ONF_BCT.OPEN_REPLY, AO], [3, 1, ONF_BCT.DISCARD_REPLY, AO], [6, 9, ONF_BCT.COMMIT_REPLY, ONF_BF.ATOMIC]]);
  t.is(sw.pipeline.size, 1);
});

test('adding to a closed bundle or with other flags: BUNDLE_CLOSED / BAD_FLAGS, and the bundle is discarded', (t) => {
  const { sw, p } = setup();
  sw.receive(ctrl(1, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(2, fmTo('10.0.0.1', 1), 1), p);
  sw.receive(ctrl(3, ONF_BCT.CLOSE_REQUEST, 1), p);
  sw.receive(add(4, fmTo('10.0.0.2', 1), 1), p);
  sw.receive(ctrl(5, ONF_BCT.COMMIT_REQUEST, 1), p);
  sw.receive(ctrl(6, ONF_BCT.OPEN_REQUEST, 2), p);
  sw.receive(add(7, fmTo('10.0.0.3', 1), 2, ONF_BF.ATOMIC), p);
  sw.receive(ctrl(8, ONF_BCT.COMMIT_REQUEST, 2), p);
  t.deepEqual(errs(p), [e(BFC.BUNDLE_CLOSED, 4), e(BFC.BAD_ID, 5), e(BFC.BAD_FLAGS, 7), e(BFC.BAD_ID, 8)]);
  t.is(sw.pipeline.size, 0);
});

test('ADD validates the message: MSG_UNSUP, MSG_BAD_XID, the flow-mod\'s own error with its xid; the bundle goes on', (t) => {
  const { sw, p } = setup();
  sw.receive(ctrl(1, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(2, { type: OFPT.TABLE_MOD, tableId: 0, config: 0 } as Message, 1), p);
  sw.receive(add(3, { type: OFPT.BARRIER_REQUEST } as Message, 1), p);
  sw.receive(add(4, { type: OFPT.PACKET_OUT, bufferId: 0xffffffff, inPort: OFPP.CONTROLLER, actions: [], data: new Uint8Array(0) } as Message, 1), p);
  const badXid: BundleAdd = { ...add(5, fmTo('10.0.0.1', 1), 1), message: { ...fmTo('10.0.0.1', 1), version: 4, xid: 55 } };
  sw.receive(badXid, p);
  sw.receive(add(6, fmTo('10.0.0.1', 9), 1), p); // no port 9
  sw.receive(add(7, fmTo('10.0.0.1', 1, { tableId: 0, instructions: [{ type: 1, tableId: 0 }] }), 1), p); // goto its own table
  sw.receive(add(8, fmTo('10.0.0.1', 1, { bufferId: 3 }), 1), p);
  sw.receive(add(9, gmod(1, 7, []), 1), p);
  sw.receive(add(10, gmod(OFPG.ALL, OFPGC.ADD, []), 1), p);
  sw.receive(add(11, fmTo('10.0.0.8', 1), 1), p); // valid: stored
  sw.receive(ctrl(12, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p), [
    e(BFC.MSG_UNSUP, 2), e(BFC.MSG_UNSUP, 3), e(BFC.MSG_UNSUP, 4), e(BFC.MSG_BAD_XID, 5),
    e(OFPE.BAD_ACTION!.BAD_OUT_PORT!, 6), e(OFPE.BAD_INSTRUCTION!.BAD_TABLE_ID!, 7), e(OFPE.BAD_REQUEST!.BUFFER_UNKNOWN!, 8),
    e(OFPE.GROUP_MOD_FAILED!.BAD_COMMAND!, 9), e(OFPE.GROUP_MOD_FAILED!.INVALID_GROUP!, 10),
  ]);
  // A validation error's data is the offending (inner) message; a bundle error's is the ADD.
  const dataOf = (xid: number) => {
    const m = p.sent.find((x) => x.type === OFPT.ERROR && x.xid === xid);
    return m !== undefined && m.type === OFPT.ERROR ? Buffer.from(m.data) : Buffer.alloc(0);
  };
  t.is(dataOf(6)[1], OFPT.FLOW_MOD);
  t.is(dataOf(2)[1], OFPT.EXPERIMENTER);
  t.deepEqual(replies(p), [[1, 1, ONF_BCT.OPEN_REPLY, AO], [12, 1, ONF_BCT.COMMIT_REPLY, AO]]);
  t.is(sw.pipeline.size, 1);
});

test('a slave may not open, add to or commit a bundle (BAD_REQUEST/IS_SLAVE); an equal one may', (t) => {
  const { sw, p } = setup();
  sw.receive(ctrl(1, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(2, fmTo('10.0.0.1', 1), 1), p);
  sw.receive({ type: OFPT.ROLE_REQUEST, xid: 3, role: OFPCR_ROLE.SLAVE, generationId: 1n }, p);
  sw.receive(add(4, fmTo('10.0.0.2', 1), 1), p);
  sw.receive(ctrl(5, ONF_BCT.COMMIT_REQUEST, 1), p);
  sw.receive(ctrl(6, ONF_BCT.OPEN_REQUEST, 2), p);
  const slave = OFPE.BAD_REQUEST!.IS_SLAVE!;
  t.deepEqual(errs(p), [e(slave, 4), e(slave, 5), e(slave, 6)]);
  t.is(sw.pipeline.size, 0);
});

test('limits: OUT_OF_BUNDLES past maxBundles, MSG_TOO_MANY past maxMessages', (t) => {
  const sw = new Ofproto({ ports: [{ name: 'p1', ofport: 1 }], probeInterval: 0, bundles: { maxBundles: 2, maxMessages: 2 } });
  const p = party();
  sw.attach(p);
  sw.receive(ctrl(1, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(ctrl(2, ONF_BCT.OPEN_REQUEST, 2), p);
  sw.receive(ctrl(3, ONF_BCT.OPEN_REQUEST, 3), p);
  sw.receive(add(4, fmTo('10.0.0.9', 1), 4), p); // an implicit open counts too
  for (let i = 0; i < 3; i++) sw.receive(add(10 + i, fmTo(`10.0.1.${i}`, 1), 1), p);
  sw.receive(ctrl(20, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p), [e(BFC.OUT_OF_BUNDLES, 3), e(BFC.OUT_OF_BUNDLES, 4), e(BFC.MSG_TOO_MANY, 12)]);
  t.is(sw.pipeline.size, 2);
});

test('BundleManager alone: bundles are per connection, and discardAll forgets one connection\'s', (t) => {
  const committed: Bundled[][] = [];
  const m = new BundleManager<object>({ check: () => undefined, commit: (msgs) => { committed.push([...msgs]); return undefined; } });
  const a = {};
  const b = {};
  t.is(m.control(a, ctrl(1, ONF_BCT.OPEN_REQUEST, 1)).kind, 'reply');
  t.is(m.control(b, ctrl(1, ONF_BCT.OPEN_REQUEST, 1)).kind, 'reply', 'the same id on another connection');
  t.is(m.add(a, add(2, fmTo('10.0.0.1', 1), 1)).kind, 'stored');
  t.deepEqual([...m.list(a)], [[1, { flags: AO, closed: false, size: 1 }]]);
  m.discardAll(a);
  t.is(m.list(a).size, 0);
  t.is(m.list(b).size, 1);
  t.is(m.control(b, ctrl(3, ONF_BCT.COMMIT_REQUEST, 1)).kind, 'reply');
  t.deepEqual(committed, [[]]);
});

// ---------------------------------------------------------------------------------------------
// Atomic commit
// ---------------------------------------------------------------------------------------------

test('atomic: the 3rd of 5 flow-mods overlaps the 1st (CHECK_OVERLAP) -> nothing applied, no FLOW_REMOVED, both errors', (t) => {
  const { sw, p, clock } = setup();
  // Existing state: two flows, one asking for FLOW_REMOVED, one with counters.
  sw.receive(fmTo('10.0.0.1', 1, { xid: 1, priority: 10, flags: OFPFF.SEND_FLOW_REM, cookie: 0x11n }), p);
  sw.receive(fmTo('10.0.0.2', 2, { xid: 2, priority: 20, idleTimeout: 30 }), p);
  const r2 = [...sw.pipeline.rules()].find((r) => r.priority === 20)!;
  sw.pipeline.credit(r2, 5n, 500n, clock.t);
  clock.t += 1500;
  const before = snapshot(sw);
  const expiry = sw.pipeline.nextExpiry();
  p.sent.length = 0;

  sw.receive(ctrl(10, ONF_BCT.OPEN_REQUEST, 1), p);
  // 1: ADD 10.0.0.0/24 at priority 50 (valid).
  sw.receive(add(11, flowMod({ priority: 50, match: [ethType(0x0800), { field: X.IPV4_DST, value: '10.0.0.0', mask: '255.255.255.0' }], instructions: [applyActions(output(1))] }), 1), p);
  // 2: DELETE the SEND_FLOW_REM flow (valid; would send FLOW_REMOVED).
  sw.receive(add(12, flowMod({ command: OFPFC.DELETE, tableId: OFPTT.ALL, cookie: 0x11n, cookieMask: 0xffff_ffff_ffff_ffffn }), 1), p);
  // 3: ADD 10.0.0.5 at priority 50 with CHECK_OVERLAP: valid alone, overlaps message 1.
  sw.receive(add(13, fmTo('10.0.0.5', 2, { priority: 50, flags: OFPFF.CHECK_OVERLAP }), 1), p);
  // 4, 5: valid.
  sw.receive(add(14, fmTo('10.0.0.6', 2, { priority: 60 }), 1), p);
  sw.receive(add(15, flowMod({ command: OFPFC.MODIFY, tableId: 0, match: ipDst('10.0.0.2'), instructions: [applyActions(output(1))], flags: OFPFF.RESET_COUNTS }), 1), p);
  t.deepEqual(errs(p), [], 'each message is valid alone');
  sw.receive(ctrl(16, ONF_BCT.COMMIT_REQUEST, 1), p);
  sw.receive({ type: OFPT.BARRIER_REQUEST, xid: 17 }, p);

  t.deepEqual(errs(p), [e(OFPE.FLOW_MOD_FAILED!.OVERLAP!, 13), e(BFC.MSG_FAILED, 16)]);
  const failedData = p.sent.find((m) => m.type === OFPT.ERROR && m.xid === 13);
  if (failedData?.type !== OFPT.ERROR) return t.fail();
  // The failing message's own bytes (its first 64), not the ADD's.
  t.is(failedData.data[1], OFPT.FLOW_MOD);
  t.is(Buffer.from(failedData.data).readUInt32BE(4), 13);
  t.false(p.sent.some((m) => m.type === OFPT.FLOW_REMOVED), 'no FLOW_REMOVED for a delete that was not committed');
  t.is(p.sent.at(-1)!.type, OFPT.BARRIER_REPLY);
  t.deepEqual(snapshot(sw), before, 'rules, counters and ages unchanged');
  t.is(sw.pipeline.nextExpiry(), expiry);
  // The bundle is gone; the same messages without the conflict commit.
  sw.receive(ctrl(18, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p).at(-1), e(BFC.BAD_ID, 18));
});

test('the same bundle without the conflict commits: FLOW_REMOVED for the delete, counters reset by the modify', (t) => {
  const { sw, p, clock } = setup();
  sw.receive(fmTo('10.0.0.1', 1, { xid: 1, priority: 10, flags: OFPFF.SEND_FLOW_REM, cookie: 0x11n }), p);
  sw.receive(fmTo('10.0.0.2', 2, { xid: 2, priority: 20 }), p);
  sw.pipeline.credit([...sw.pipeline.rules()].find((r) => r.priority === 20)!, 5n, 500n, clock.t);
  p.sent.length = 0;
  sw.receive(ctrl(10, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(11, flowMod({ priority: 50, match: [ethType(0x0800), { field: X.IPV4_DST, value: '10.0.0.0', mask: '255.255.255.0' }], instructions: [applyActions(output(1))] }), 1), p);
  sw.receive(add(12, flowMod({ command: OFPFC.DELETE, tableId: OFPTT.ALL, cookie: 0x11n, cookieMask: 0xffff_ffff_ffff_ffffn }), 1), p);
  sw.receive(add(13, fmTo('10.0.0.5', 2, { priority: 51, flags: OFPFF.CHECK_OVERLAP }), 1), p);
  sw.receive(add(15, flowMod({ command: OFPFC.MODIFY, tableId: 0, match: ipDst('10.0.0.2'), instructions: [applyActions(output(1))], flags: OFPFF.RESET_COUNTS }), 1), p);
  sw.receive(ctrl(16, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p), []);
  const fr = p.sent.filter((m) => m.type === OFPT.FLOW_REMOVED);
  t.is(fr.length, 1);
  t.is(fr[0]!.type === OFPT.FLOW_REMOVED ? fr[0]!.reason : -1, OFPRR.DELETE);
  t.deepEqual([...sw.pipeline.rules()].map((r) => r.priority).sort((a, b) => a - b), [20, 50, 51]);
  t.is([...sw.pipeline.rules()].find((r) => r.priority === 20)!.packetCount, 0n);
});

test('CHECK_OVERLAP against a flow an earlier message of the bundle deleted: no overlap, as applied in order', (t) => {
  const { sw, p } = setup();
  sw.receive(fmTo('10.0.0.1', 1, { xid: 1, priority: 10 }), p);
  sw.receive(ctrl(10, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(11, flowMod({ command: OFPFC.DELETE_STRICT, priority: 10, match: ipDst('10.0.0.1') }), 1), p);
  sw.receive(add(12, flowMod({ priority: 10, match: [ethType(0x0800)], flags: OFPFF.CHECK_OVERLAP, instructions: [applyActions(output(2))] }), 1), p);
  sw.receive(ctrl(13, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p), []);
  t.deepEqual([...sw.pipeline.rules()].map((r) => r.match), [[ethType(0x0800)]]);
  // And against an existing flow it fails.
  sw.receive(ctrl(20, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(21, fmTo('10.0.0.7', 1, { priority: 10, flags: OFPFF.CHECK_OVERLAP }), 1), p);
  sw.receive(ctrl(22, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p), [e(OFPE.FLOW_MOD_FAILED!.OVERLAP!, 21), e(BFC.MSG_FAILED, 22)]);
});

test('groups in a bundle: add a group then a flow that uses it; a group-mod failing late undoes an earlier delete', (t) => {
  const { sw, p } = setup();
  // A group and a flow using it exist.
  sw.receive({ ...gmod(1, OFPGC.ADD, [bucket([output(1)])]), xid: 1 }, p);
  sw.receive(flowMod({ xid: 2, priority: 5, flags: OFPFF.SEND_FLOW_REM, instructions: [applyActions(group(1))] }), p);
  t.deepEqual(errs(p), []);
  const rulesBefore = snapshot(sw);
  const groupsBefore = groupsText(sw);

  // DELETE group 1 (would delete the flow), ADD group 1 anew (valid only after the delete),
  // a flow to group 1, group 2 chained to group 1, then ADD group 1 again: GROUP_EXISTS.
  sw.receive(ctrl(10, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(11, gmod(1, OFPGC.DELETE, []), 1), p);
  sw.receive(add(12, gmod(1, OFPGC.ADD, [bucket([output(2)])]), 1), p);
  sw.receive(add(13, flowMod({ priority: 6, instructions: [applyActions(group(1))] }), 1), p);
  sw.receive(add(14, gmod(2, OFPGC.ADD, [bucket([group(1)])]), 1), p);
  sw.receive(add(15, gmod(1, OFPGC.ADD, [bucket([output(1)])]), 1), p);
  sw.receive(ctrl(16, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p), [e(OFPE.GROUP_MOD_FAILED!.GROUP_EXISTS!, 15), e(BFC.MSG_FAILED, 16)]);
  t.false(p.sent.some((m) => m.type === OFPT.FLOW_REMOVED));
  t.deepEqual(snapshot(sw), rulesBefore);
  t.is(groupsText(sw), groupsBefore);
  t.false(sw.groups!.exists(2));

  // Without the last message it commits: the old flow goes (GROUP_DELETE), the new ones come.
  p.sent.length = 0;
  sw.receive(ctrl(20, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(21, gmod(1, OFPGC.DELETE, []), 1), p);
  sw.receive(add(22, gmod(1, OFPGC.ADD, [bucket([output(2)])]), 1), p);
  sw.receive(add(23, flowMod({ priority: 6, instructions: [applyActions(group(1))] }), 1), p);
  sw.receive(add(24, gmod(2, OFPGC.ADD, [bucket([group(1)])]), 1), p);
  sw.receive(ctrl(25, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p), []);
  const fr = p.sent.find((m) => m.type === OFPT.FLOW_REMOVED);
  t.is(fr?.type === OFPT.FLOW_REMOVED ? fr.reason : -1, OFPRR.GROUP_DELETE);
  t.deepEqual([...sw.pipeline.rules()].map((r) => r.priority), [6]);
  t.true(sw.groups!.exists(2));
});

test('a flow to a group that an earlier message deleted fails at commit with BAD_OUT_GROUP', (t) => {
  const { sw, p } = setup();
  sw.receive({ ...gmod(1, OFPGC.ADD, [bucket([output(1)])]), xid: 1 }, p);
  sw.receive(ctrl(10, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(11, gmod(1, OFPGC.DELETE, []), 1), p);
  sw.receive(add(12, flowMod({ priority: 6, instructions: [applyActions(group(1))] }), 1), p);
  sw.receive(ctrl(13, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p), [e(OFPE.BAD_ACTION!.BAD_OUT_GROUP!, 12), e(BFC.MSG_FAILED, 13)]);
  t.true(sw.groups!.exists(1));
});

test('the scratch copy keeps links left dangling by a delete: a loop through them is still found', (t) => {
  const { sw, p } = setup();
  // 1 -> 2 -> 3; delete 3 (2 keeps pointing at it), delete 2 (1 keeps pointing at it).
  sw.receive({ ...gmod(3, OFPGC.ADD, [bucket([output(1)])]), xid: 1 }, p);
  sw.receive({ ...gmod(2, OFPGC.ADD, [bucket([group(3)])]), xid: 2 }, p);
  sw.receive({ ...gmod(1, OFPGC.ADD, [bucket([group(2)])]), xid: 3 }, p);
  sw.receive({ ...gmod(2, OFPGC.DELETE, []), xid: 4 }, p);
  t.deepEqual(errs(p), []);
  const before = groupsText(sw);
  // Group 2 again, pointing at 1: a loop 1 -> 2 -> 1 (the dangling link counts) -> LOOP, both
  // outside a bundle and in one.
  sw.receive({ ...gmod(2, OFPGC.ADD, [bucket([group(1)])]), xid: 5 }, p);
  sw.receive(ctrl(10, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(11, gmod(9, OFPGC.ADD, [bucket([output(2)])]), 1), p);
  sw.receive(add(12, gmod(2, OFPGC.ADD, [bucket([group(1)])]), 1), p);
  sw.receive(ctrl(13, ONF_BCT.COMMIT_REQUEST, 1), p);
  const loop = OFPE.GROUP_MOD_FAILED!.LOOP!;
  t.deepEqual(errs(p), [e(loop, 5), e(loop, 12), e(BFC.MSG_FAILED, 13)]);
  t.is(groupsText(sw), before);
  t.false(sw.groups!.exists(9));
  // Group 2 pointing elsewhere commits.
  sw.receive(ctrl(20, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(21, gmod(2, OFPGC.ADD, [bucket([output(2)])]), 1), p);
  sw.receive(ctrl(22, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p).length, 3);
  t.true(sw.groups!.exists(2));
});

test('a switch without groups: a GROUP_MOD in a bundle is MSG_UNSUP', (t) => {
  const sw = new Ofproto({ ports: [{ name: 'p1', ofport: 1 }], probeInterval: 0, groups: false });
  const p = party();
  sw.attach(p);
  sw.receive(add(1, gmod(1, OFPGC.ADD, [bucket([output(1)])]), 1), p);
  t.deepEqual(errs(p), [e(BFC.MSG_UNSUP, 1)]);
});

// ---------------------------------------------------------------------------------------------
// Meter-mods and port-mods in bundles
// ---------------------------------------------------------------------------------------------

const mmod = (meterId: number, command: number = OFPMC.ADD, rate = 1000, flags: number = OFPMF.KBPS): MeterMod =>
  ({ version: 4, type: OFPT.METER_MOD, xid: 1, command, flags, meterId, bands: [{ type: OFPMBT.DROP, rate, burstSize: 0 }] });
const pmod = (sw: Ofproto, portNo: number, config: number, mask: number): PortMod =>
  ({ version: 4, type: OFPT.PORT_MOD, xid: 1, portNo, hwAddr: sw.ports.get(portNo)?.hwAddr ?? '02:00:00:00:00:99', config, mask, advertise: 0 });

/** Every DatapathHooks call, by name, in order (a datapath that records what it is told). */
function recordingDatapath(sw: Ofproto): string[] {
  const calls: string[] = [];
  const dp: DatapathHooks = {
    flowsChanged: (r) => calls.push(`flows +${r.added?.length ?? 0} -${r.removed?.length ?? 0}`),
    groupsChanged: (ids) => calls.push(`groups ${ids.join(',')}`),
    metersChanged: (ids) => calls.push(`meters ${ids.join(',')}`),
    packetOut: () => undefined,
    sync: () => undefined,
    flush: () => undefined,
  };
  sw.attachDatapath(dp);
  return calls;
}

const metersText = (sw: Ofproto): string => JSON.stringify(sw.meters!.configStats(OFPM.ALL));
const portsText = (sw: Ofproto): string => JSON.stringify(sw.ports.descs());

test('ADD checks a METER_MOD alone and a PORT_MOD against its port; what the tables decide waits for the commit', (t) => {
  const { sw, p } = setup();
  sw.receive(ctrl(1, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(2, mmod(1, OFPMC.ADD, 1000, OFPMF.KBPS | OFPMF.PKTPS), 1), p); // both units
  sw.receive(add(3, mmod(0), 1), p); // meter id 0
  sw.receive(add(4, mmod(1, 9), 1), p); // no such command
  sw.receive(add(5, mmod(1, OFPMC.ADD, 0), 1), p); // rate 0
  sw.receive(add(6, pmod(sw, 9, 0, 0), 1), p); // no port 9
  sw.receive(add(7, { ...pmod(sw, 1, 0, 0), hwAddr: '02:00:00:00:00:01' }, 1), p);
  sw.receive(add(8, pmod(sw, 1, 1 << 1, 1 << 1), 1), p); // a config bit PORT_MOD may not set
  // Valid alone; MODIFY of a meter that is not there (yet) is for the commit to judge.
  sw.receive(add(9, mmod(5, OFPMC.MODIFY), 1), p);
  sw.receive(add(10, mmod(5), 1), p);
  sw.receive(add(11, pmod(sw, OFPP.LOCAL, OFPPC.NO_PACKET_IN, OFPPC.NO_PACKET_IN), 1), p);
  sw.receive(add(12, mmod(OFPM.ALL, OFPMC.DELETE), 1), p);
  const MM = OFPE.METER_MOD_FAILED!;
  const PM = OFPE.PORT_MOD_FAILED!;
  t.deepEqual(errs(p), [
    e(MM.BAD_FLAGS!, 2), e(MM.INVALID_METER!, 3), e(MM.BAD_COMMAND!, 4), e(MM.BAD_RATE!, 5),
    e(PM.BAD_PORT!, 6), e(PM.BAD_HW_ADDR!, 7), e(PM.BAD_CONFIG!, 8),
  ]);
  t.deepEqual([...(sw as unknown as { bundles: BundleManager<object> }).bundles.list(p).values()].map((b) => b.size), [4]);
  // At commit, the MODIFY comes before the ADD: UNKNOWN_METER, and nothing is applied.
  sw.receive(ctrl(13, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p).slice(7), [e(MM.UNKNOWN_METER!, 9), e(BFC.MSG_FAILED, 13)]);
  t.false(sw.meters!.exists(5));
  t.is(sw.ports.get(OFPP.LOCAL)!.config, 0);
});

test('a switch without meters: a METER_MOD in a bundle is MSG_UNSUP; a PORT_MOD is always bundlable', (t) => {
  const sw = new Ofproto({ ports: [{ name: 'p1', ofport: 1 }], probeInterval: 0, meters: false });
  const p = party();
  sw.attach(p);
  sw.receive(add(1, mmod(1), 1), p);
  sw.receive(add(2, pmod(sw, 1, OFPPC.NO_FWD, OFPPC.NO_FWD), 1), p);
  sw.receive(ctrl(3, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p), [e(BFC.MSG_UNSUP, 1)]);
  t.is(sw.ports.get(1)!.config, OFPPC.NO_FWD);
});

test('a bundle of all four kinds commits in order: meter, group, a flow using both, port-mods; PORT_STATUS and the datapath told', (t) => {
  const { sw, p } = setup();
  const dp = recordingDatapath(sw);
  sw.receive(ctrl(1, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(2, mmod(3), 1), p);
  sw.receive(add(3, gmod(4, OFPGC.ADD, [bucket([output(1)]), bucket([output(2)])]), 1), p);
  // Uses meter 3 and group 4, which exist only once the messages before it are applied.
  sw.receive(add(4, flowMod({ priority: 5, match: ipDst('10.5.0.1'), instructions: [meter(3), applyActions(group(4))] }), 1), p);
  sw.receive(add(5, pmod(sw, 2, OFPPC.NO_FWD | OFPPC.PORT_DOWN, OFPPC.NO_FWD | OFPPC.PORT_DOWN), 1), p);
  // A second PORT_MOD on the same port sees the first one's config: only NO_FWD is cleared.
  sw.receive(add(6, pmod(sw, 2, 0, OFPPC.NO_FWD), 1), p);
  t.deepEqual(errs(p), []);
  t.deepEqual(dp, [], 'nothing reaches the datapath before the commit');
  t.false(p.sent.some((m) => m.type === OFPT.PORT_STATUS));
  sw.receive(ctrl(7, ONF_BCT.COMMIT_REQUEST, 1), p);
  sw.receive({ type: OFPT.BARRIER_REQUEST, xid: 8 }, p);
  t.deepEqual(errs(p), []);
  t.deepEqual(replies(p).at(-1), [7, 1, ONF_BCT.COMMIT_REPLY, AO]);
  t.true(sw.meters!.exists(3));
  t.true(sw.groups!.exists(4));
  t.is(sw.pipeline.size, 1);
  t.is(sw.ports.get(2)!.config, OFPPC.PORT_DOWN);
  const status = p.sent.filter((m) => m.type === OFPT.PORT_STATUS);
  t.deepEqual(status.map((m) => (m.type === OFPT.PORT_STATUS ? [m.reason, m.desc.portNo, m.desc.config] : [])),
    [[OFPPR.MODIFY, 2, OFPPC.NO_FWD | OFPPC.PORT_DOWN], [OFPPR.MODIFY, 2, OFPPC.PORT_DOWN]]);
  t.deepEqual(dp, ['meters 3', 'groups 4', 'flows +1 -0']);
  t.is(p.sent.at(-1)!.type, OFPT.BARRIER_REPLY);
});

test('atomic: a failing message in the middle leaves ports, meters, groups and flows alone, and sends no PORT_STATUS or FLOW_REMOVED', (t) => {
  const { sw, p } = setup();
  // Existing state: meter 1 with a flow that uses it and asks for FLOW_REMOVED; group 1.
  sw.receive(mmod(1), p);
  sw.receive(gmod(1, OFPGC.ADD, [bucket([output(1)])]), p);
  sw.receive(flowMod({ xid: 3, priority: 9, match: ipDst('10.6.0.1'), flags: OFPFF.SEND_FLOW_REM, instructions: [meter(1), applyActions(output(2))] }), p);
  t.deepEqual(errs(p), []);
  const before = { flows: snapshot(sw), meters: metersText(sw), groups: groupsText(sw), ports: portsText(sw) };
  const dp = recordingDatapath(sw);
  p.sent.length = 0;

  sw.receive(ctrl(10, ONF_BCT.OPEN_REQUEST, 1), p);
  sw.receive(add(11, pmod(sw, 1, OFPPC.PORT_DOWN, OFPPC.PORT_DOWN), 1), p);
  sw.receive(add(12, mmod(1, OFPMC.DELETE), 1), p); // would delete the flow: FLOW_REMOVED
  sw.receive(add(13, mmod(2), 1), p);
  sw.receive(add(14, gmod(1, OFPGC.DELETE, []), 1), p);
  sw.receive(add(15, fmTo('10.6.0.2', 1, { instructions: [meter(2), applyActions(output(1))] }), 1), p);
  sw.receive(add(16, mmod(7, OFPMC.MODIFY), 1), p); // no meter 7: fails at commit
  sw.receive(add(17, pmod(sw, 2, OFPPC.NO_FWD, OFPPC.NO_FWD), 1), p);
  t.deepEqual(errs(p), []);
  sw.receive(ctrl(18, ONF_BCT.COMMIT_REQUEST, 1), p);
  sw.receive({ type: OFPT.BARRIER_REQUEST, xid: 19 }, p);

  t.deepEqual(errs(p), [e(OFPE.METER_MOD_FAILED!.UNKNOWN_METER!, 16), e(BFC.MSG_FAILED, 18)]);
  const failed = p.sent.find((m) => m.type === OFPT.ERROR && m.xid === 16);
  t.is(failed?.type === OFPT.ERROR ? failed.data[1] : -1, OFPT.METER_MOD, 'the error carries the failing METER_MOD');
  t.deepEqual({ flows: snapshot(sw), meters: metersText(sw), groups: groupsText(sw), ports: portsText(sw) }, before);
  t.false(p.sent.some((m) => m.type === OFPT.PORT_STATUS), 'no PORT_STATUS');
  t.false(p.sent.some((m) => m.type === OFPT.FLOW_REMOVED), 'no FLOW_REMOVED');
  t.deepEqual(dp, [], 'the datapath was told nothing');

  // The same bundle without message 16 commits, with every consequence of each message.
  sw.receive(ctrl(20, ONF_BCT.OPEN_REQUEST, 2), p);
  for (const [xid, m] of [[21, pmod(sw, 1, OFPPC.PORT_DOWN, OFPPC.PORT_DOWN)], [22, mmod(1, OFPMC.DELETE)], [23, mmod(2)],
    [24, gmod(1, OFPGC.DELETE, [])], [25, fmTo('10.6.0.2', 1, { instructions: [meter(2), applyActions(output(1))] })],
    [26, pmod(sw, 2, OFPPC.NO_FWD, OFPPC.NO_FWD)]] as const) sw.receive(add(xid, m, 2), p);
  sw.receive(ctrl(27, ONF_BCT.COMMIT_REQUEST, 2), p);
  t.deepEqual(errs(p).length, 2);
  t.deepEqual(replies(p).at(-1), [27, 2, ONF_BCT.COMMIT_REPLY, AO]);
  t.deepEqual(p.sent.filter((m) => m.type === OFPT.PORT_STATUS).map((m) => (m.type === OFPT.PORT_STATUS ? m.desc.portNo : 0)), [1, 2]);
  const removed = p.sent.filter((m) => m.type === OFPT.FLOW_REMOVED);
  t.deepEqual(removed.map((m) => (m.type === OFPT.FLOW_REMOVED ? [m.priority, m.reason] : [])), [[9, OFPRR.DELETE]]);
  t.false(sw.meters!.exists(1));
  t.true(sw.meters!.exists(2));
  t.false(sw.groups!.exists(1));
  t.deepEqual([...sw.pipeline.rules()].map((r) => r.priority), [100]);
  // (A group delete reports its flows to the datapath even when none used it, as unbundled.)
  t.deepEqual(dp, ['meters 1', 'flows +0 -1', 'meters 2', 'flows +0 -0', 'groups 1', 'flows +1 -0']);
});

test('meters in the dry run: a flow naming a meter added later in the bundle fails; a meter delete frees a CHECK_OVERLAP', (t) => {
  const { sw, p } = setup();
  sw.receive(mmod(1), p);
  sw.receive(fmTo('10.7.0.1', 1, { priority: 40, instructions: [meter(1), applyActions(output(1))] }), p);
  const before = snapshot(sw);
  // Order matters: the flow comes before the meter it names.
  sw.receive(add(2, fmTo('10.7.0.2', 1, { instructions: [meter(6), applyActions(output(1))] }), 1), p);
  sw.receive(add(3, mmod(6), 1), p);
  sw.receive(ctrl(4, ONF_BCT.COMMIT_REQUEST, 1), p);
  // A flow naming a missing meter is INVALID_METER (validate.ts, as OVS).
  t.deepEqual(errs(p), [e(OFPE.METER_MOD_FAILED!.INVALID_METER!, 2), e(BFC.MSG_FAILED, 4)]);
  t.false(sw.meters!.exists(6));
  t.deepEqual(snapshot(sw), before);
  // Deleting meter 1 takes its flow, so an overlapping CHECK_OVERLAP add after it succeeds.
  sw.receive(add(5, mmod(1, OFPMC.DELETE), 2), p);
  sw.receive(add(6, fmTo('10.7.0.1', 2, { priority: 40, flags: OFPFF.CHECK_OVERLAP }), 2), p);
  sw.receive(ctrl(7, ONF_BCT.COMMIT_REQUEST, 2), p);
  t.is(errs(p).length, 2);
  t.deepEqual([...sw.pipeline.rules()].map((r) => JSON.stringify(r.instructions)), [JSON.stringify([applyActions(output(2))])]);
});

test('a table\'s capacity counts the flows already there: the 2nd ADD of a bundle into a table with 1 free entry fails, nothing applied', (t) => {
  const { sw, p } = setup();
  sw.pipeline.setMaxEntries(2, 3);
  sw.receive(fmTo('10.8.0.1', 1, { tableId: 2 }), p);
  sw.receive(fmTo('10.8.0.2', 1, { tableId: 2 }), p);
  const before = snapshot(sw);
  sw.receive(add(1, mmod(4), 1), p);
  sw.receive(add(2, fmTo('10.8.0.3', 1, { tableId: 2 }), 1), p);
  sw.receive(add(3, fmTo('10.8.0.4', 1, { tableId: 2 }), 1), p);
  sw.receive(ctrl(4, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p), [e(OFPE.FLOW_MOD_FAILED!.TABLE_FULL!, 3), e(BFC.MSG_FAILED, 4)]);
  t.deepEqual(snapshot(sw), before);
  t.false(sw.meters!.exists(4));
  // A DELETE earlier in the bundle frees an entry: then both fit.
  sw.receive(add(5, flowMod({ command: OFPFC.DELETE_STRICT, tableId: 2, priority: 100, match: ipDst('10.8.0.1') }), 2), p);
  sw.receive(add(6, fmTo('10.8.0.3', 1, { tableId: 2 }), 2), p);
  sw.receive(add(7, fmTo('10.8.0.4', 1, { tableId: 2 }), 2), p);
  sw.receive(ctrl(8, ONF_BCT.COMMIT_REQUEST, 2), p);
  t.is(errs(p).length, 2);
  t.is([...sw.pipeline.rules(2)].length, 3);
});

test('a PORT_MOD valid when added fails at commit when its port went in between; nothing of the bundle applied', (t) => {
  const { sw, p } = setup();
  sw.receive(add(1, mmod(8), 1), p);
  sw.receive(add(2, pmod(sw, 1, OFPPC.NO_RECV, OFPPC.NO_RECV), 1), p);
  sw.receive(add(3, pmod(sw, 2, OFPPC.NO_RECV, OFPPC.NO_RECV), 1), p);
  t.deepEqual(errs(p), []);
  t.true(sw.ports.delete(2));
  p.sent.length = 0;
  sw.receive(ctrl(4, ONF_BCT.COMMIT_REQUEST, 1), p);
  t.deepEqual(errs(p), [e(OFPE.PORT_MOD_FAILED!.BAD_PORT!, 3), e(BFC.MSG_FAILED, 4)]);
  t.false(sw.meters!.exists(8));
  t.is(sw.ports.get(1)!.config, 0);
  t.false(p.sent.some((m) => m.type === OFPT.PORT_STATUS));
});

// ---------------------------------------------------------------------------------------------
// Over TCP: wire encoding of the experimenter errors, order with BARRIER, disconnects
// ---------------------------------------------------------------------------------------------

async function client(port: number): Promise<{ c: OfConnection; seen: Message[] }> {
  const sock = createConnection({ host: '127.0.0.1', port });
  const seen: Message[] = [];
  const c = new OfConnection(sock, (m) => { seen.push(m); }, { probeInterval: 0 });
  await firstValueFrom(c.events$.pipe(filter((ev) => ev.type === 'negotiated')));
  return { c, seen };
}

test('over TCP: replies, then the commit, then the barrier reply; ONF errors on the wire; a disconnect discards', async (t) => {
  const sw = new Ofproto({ ports: [{ name: 'p1', ofport: 1 }, { name: 'p2', ofport: 2 }], probeInterval: 0 });
  const l = await sw.listen('ptcp:0:127.0.0.1');
  const port = Number(/^ptcp:(\d+):/.exec(l.address)![1]);
  try {
    const { c, seen } = await client(port);
    const open = await c.request(ctrl(c.nextXid(), ONF_BCT.OPEN_REQUEST, 3));
    t.like(open, { type: OFPT.EXPERIMENTER, bundleId: 3, ctrlType: ONF_BCT.OPEN_REPLY, flags: AO });
    for (let i = 0; i < 50; i++) {
      const xid = c.nextXid();
      c.send(add(xid, fmTo(`10.1.0.${i}`, 1 + (i % 2)), 3));
    }
    const commitXid = c.nextXid();
    c.send(ctrl(commitXid, ONF_BCT.COMMIT_REQUEST, 3));
    const barrier = await c.request({ type: OFPT.BARRIER_REQUEST });
    t.is(barrier.type, OFPT.BARRIER_REPLY);
    // The commit reply came before the barrier reply (it was not pending, so the handler saw it).
    t.like(seen.at(-1), { type: OFPT.EXPERIMENTER, xid: commitXid, ctrlType: ONF_BCT.COMMIT_REPLY, bundleId: 3 });
    t.is(sw.pipeline.size, 50);

    // An experimenter error as the wire carries it: type 0xffff, exp_code, experimenter ONF.
    const bad = await c.request(ctrl(c.nextXid(), ONF_BCT.COMMIT_REQUEST, 3));
    t.like(bad, { type: OFPT.ERROR, errType: OFPET.EXPERIMENTER, expCode: ONFBFC.BAD_ID, experimenter: ONF_EXPERIMENTER_ID });

    // A bundle left open goes with its connection.
    await c.request(ctrl(c.nextXid(), ONF_BCT.OPEN_REQUEST, 4));
    c.send(add(c.nextXid(), fmTo('10.2.0.1', 1), 4));
    await c.request({ type: OFPT.BARRIER_REQUEST });
    const serverSide = [...sw.connmgr.connections][0]!;
    const mgr = (sw as unknown as { bundles: BundleManager<object> }).bundles;
    t.is(mgr.list(serverSide).size, 1);
    c.close();
    for (let i = 0; i < 100 && mgr.list(serverSide).size > 0; i++) await delay(10);
    t.is(mgr.list(serverSide).size, 0);
    t.is(sw.pipeline.size, 50);
  } finally {
    await sw.close();
  }
});

// ---------------------------------------------------------------------------------------------
// ovs-ofctl --bundle and a raw client against `ofswitch start`
// ---------------------------------------------------------------------------------------------



let sw: SwitchProcess | undefined;
let ovsOfctl = '';


function ofctl(args: readonly string[], input?: string): OfctlResult {
  return ofctlAt(ovsOfctl, sw!.port, args, input);
}

function ok(t: { fail(m: string): void }, args: readonly string[], input?: string): string {
  const r = ofctl(args, input);
  if (r.status !== 0) t.fail(`ovs-ofctl ${args.join(' ')} exited ${r.status}: ${r.err}${r.out}`);
  return r.out;
}

const flowLines = (t: { fail(m: string): void }): string[] =>
  ok(t, ['dump-flows']).split('\n').filter((l) => l.startsWith(' ')).map((l) => l.trim().replace(/duration=[0-9.]+s, /, '')).sort();

test.before(async () => {
  if (findTool('ovs-ofctl') === null) return;
  ovsOfctl = findTool('ovs-ofctl')!;
  sw = await startSwitch(['--listen', 'ptcp:0', '--port', 'p1@1', '--port', 'p2@2', '--log-level', 'warn']);
});

test.after.always(async () => {
  if (sw !== undefined && sw.proc.exitCode === null) {
    sw.proc.kill('SIGKILL');
    await sw.exited;
  }
});

test.serial('ovs-ofctl --bundle add-flows: 300 flows in one commit; --bundle del-flows', (t) => {
  requireTool('ovs-ofctl');
  ok(t, ['del-flows']);
  const lines = Array.from({ length: 300 }, (_, i) => `priority=${i + 1},ip,nw_dst=10.3.${i >> 8}.${i & 255},actions=output:${1 + (i % 2)}`);
  ok(t, ['--bundle', 'add-flows', '-'], lines.join('\n') + '\n');
  const got = flowLines(t);
  t.is(got.length, 300);
  t.true(got.includes('cookie=0x0, table=0, n_packets=0, n_bytes=0, priority=300,ip,nw_dst=10.3.1.43 actions=output:2'), got.slice(0, 3).join('\n'));
  ok(t, ['--bundle', 'del-flows', 'ip,nw_dst=10.3.0.0/24']);
  t.is(flowLines(t).length, 300 - 256);
  ok(t, ['--bundle', 'del-flows']);
  t.deepEqual(flowLines(t), []);
});

test.serial('ovs-ofctl --bundle add-groups, then a flow using them; a bundle with a bad flow changes nothing', (t) => {
  requireTool('ovs-ofctl');
  ok(t, ['del-flows']);
  ok(t, ['del-groups']);
  ok(t, ['--bundle', 'add-groups', '-'], [
    'group_id=1,type=all,bucket=output:1,bucket=output:2',
    'group_id=2,type=select,bucket=weight:10,output:1,bucket=weight:20,output:2',
    'group_id=3,type=indirect,bucket=group:1',
  ].join('\n') + '\n');
  const groups = ok(t, ['dump-groups']);
  t.regex(groups, /group_id=1,type=all,bucket=actions=output:1,bucket=actions=output:2/);
  t.regex(groups, /group_id=3,type=indirect,bucket=actions=group:1/);
  ok(t, ['--bundle', 'add-flow', 'priority=9,ip,actions=group:3']);
  const before = flowLines(t);
  t.is(before.length, 1);
  // The 2nd flow names a missing group: valid alone when added (groups are checked at commit),
  // fails at commit; the 1st flow is not applied either.
  const r = ofctl(['--bundle', 'add-flows', '-'], 'priority=10,ip,actions=output:1\npriority=11,ip,actions=group:99\npriority=12,ip,actions=output:2\n');
  t.not(r.status, 0);
  t.regex(r.err, /OFPBAC_BAD_OUT_GROUP/);
  t.regex(r.err, /OFPBFC_MSG_FAILED/);
  t.deepEqual(flowLines(t), before);
});

test.serial('raw client against ofswitch start: 5 ADDs, the 3rd overlaps the 1st at commit -> dump-flows unchanged; discard', async (t) => {
  requireTool('ovs-ofctl');
  ok(t, ['del-flows']);
  ok(t, ['add-flow', 'priority=7,ip,nw_dst=10.9.0.1,actions=output:1']);
  const before = flowLines(t);
  const { c, seen } = await client(sw!.port);
  try {
    const opened = await c.request(ctrl(c.nextXid(), ONF_BCT.OPEN_REQUEST, 42));
    t.like(opened, { ctrlType: ONF_BCT.OPEN_REPLY, bundleId: 42 });
    const xids: number[] = [];
    const msgs: FlowMod[] = [
      fmTo('10.9.1.0', 1, { priority: 30, match: [ethType(0x0800), { field: X.IPV4_DST, value: '10.9.1.0', mask: '255.255.255.0' }] }),
      // Deletes the flow that exists (it would be gone after a commit).
      flowMod({ command: OFPFC.DELETE_STRICT, tableId: 0, priority: 7, match: ipDst('10.9.0.1') }),
      fmTo('10.9.1.5', 2, { priority: 30, flags: OFPFF.CHECK_OVERLAP }),
      fmTo('10.9.2.1', 2, { priority: 31 }),
      fmTo('10.9.2.2', 2, { priority: 32 }),
    ];
    for (const m of msgs) {
      const xid = c.nextXid();
      xids.push(xid);
      c.send(add(xid, m, 42));
    }
    const commit = await c.request(ctrl(c.nextXid(), ONF_BCT.COMMIT_REQUEST, 42));
    t.like(commit, { type: OFPT.ERROR, errType: OFPET.EXPERIMENTER, expCode: ONFBFC.MSG_FAILED, experimenter: ONF_EXPERIMENTER_ID });
    const failed = seen.filter((m) => m.type === OFPT.ERROR);
    t.is(failed.length, 1);
    t.like(failed[0], { xid: xids[2], errType: OFPE.FLOW_MOD_FAILED!.OVERLAP![0], code: OFPE.FLOW_MOD_FAILED!.OVERLAP![1] });
    t.deepEqual(flowLines(t), before);

    // Discard: open, add, discard -> nothing; the id is free again.
    await c.request(ctrl(c.nextXid(), ONF_BCT.OPEN_REQUEST, 43));
    c.send(add(c.nextXid(), fmTo('10.9.3.1', 1), 43));
    const d = await c.request(ctrl(c.nextXid(), ONF_BCT.DISCARD_REQUEST, 43));
    t.like(d, { ctrlType: ONF_BCT.DISCARD_REPLY, bundleId: 43 });
    const again = await c.request(ctrl(c.nextXid(), ONF_BCT.COMMIT_REQUEST, 43));
    t.like(again, { type: OFPT.ERROR, expCode: ONFBFC.BAD_ID });
    t.deepEqual(flowLines(t), before);
  } finally {
    c.close();
  }
});

test.serial('raw client against ofswitch start: PORT_MOD and METER_MOD in bundles, committed together or not at all', async (t) => {
  // ovs-ofctl 3.1 has no way to put these in a bundle: `--bundle mod-port` and `--bundle
  // add-meter` send a plain PORT_MOD / METER_MOD (seen with -vvconn), so a raw client does it.
  requireTool('ovs-ofctl');
  ok(t, ['del-flows']);
  ok(t, ['del-meters']);
  ok(t, ['mod-port', 'p1', 'up']);
  ok(t, ['mod-port', 'p2', 'forward']);
  const { c, seen } = await client(sw!.port);
  try {
    const hw = new Map<number, string>();
    for (const m of ok(t, ['dump-ports-desc']).matchAll(/^ (\d+)\(\w+\): addr:([0-9a-f:]{17})$/gm)) hw.set(Number(m[1]), m[2]!);
    t.deepEqual([...hw.keys()].sort(), [1, 2]);
    const pm = (portNo: number, config: number, mask: number): PortMod =>
      ({ type: OFPT.PORT_MOD, portNo, hwAddr: hw.get(portNo)!, config, mask, advertise: 0 });
    const send = (id: number, msgs: Message[]): number[] => msgs.map((m) => {
      const xid = c.nextXid();
      c.send(add(xid, m, id));
      return xid;
    });

    send(50, [pm(1, OFPPC.PORT_DOWN, OFPPC.PORT_DOWN), mmod(3), fmTo('10.11.0.1', 2, { instructions: [meter(3), applyActions(output(2))] })]);
    const commit = await c.request(ctrl(c.nextXid(), ONF_BCT.COMMIT_REQUEST, 50));
    t.like(commit, { ctrlType: ONF_BCT.COMMIT_REPLY, bundleId: 50 });
    t.regex(ok(t, ['dump-ports-desc']), /1\(p1\):[^\n]*\n\s+config:\s+PORT_DOWN/);
    t.regex(ok(t, ['dump-meters']), /meter=3 kbps/);
    t.regex(ok(t, ['dump-flows']), /meter:3,output:2/);

    const beforePorts = ok(t, ['dump-ports-desc']);
    const xids = send(51, [pm(2, OFPPC.NO_FWD, OFPPC.NO_FWD), mmod(3, OFPMC.DELETE), mmod(99, OFPMC.MODIFY)]);
    const failed = await c.request(ctrl(c.nextXid(), ONF_BCT.COMMIT_REQUEST, 51));
    t.like(failed, { type: OFPT.ERROR, errType: OFPET.EXPERIMENTER, expCode: ONFBFC.MSG_FAILED });
    t.like(seen.find((m) => m.type === OFPT.ERROR && m.xid === xids[2]), {
      errType: OFPE.METER_MOD_FAILED!.UNKNOWN_METER![0], code: OFPE.METER_MOD_FAILED!.UNKNOWN_METER![1],
    });
    t.false(seen.some((m) => m.type === OFPT.PORT_STATUS && m.desc.portNo === 2), 'no PORT_STATUS for p2');
    t.is(ok(t, ['dump-ports-desc']).replace(/xid=0x[0-9a-f]+/, ''), beforePorts.replace(/xid=0x[0-9a-f]+/, ''));
    t.regex(ok(t, ['dump-meters']), /meter=3 kbps/);
    t.regex(ok(t, ['dump-flows']), /meter:3,output:2/);
  } finally {
    c.close();
    ok(t, ['mod-port', 'p1', 'up']);
  }
});
