/**
 * FLOW_MOD's fast path from the wire (src/openflow/flowmod-wire.ts, compileWireMatch in
 * src/xlate/match.ts) against the general path it stands in for.
 *
 * The fast path must take no message that decode() refuses (the caller relies on decode() for
 * the exact error), give every field decode() gives when it takes one, check prerequisites and
 * compile exactly as checkPrerequisites and compileMatch do, and call a match canonical only
 * when matchFromKey gives the sent OXMs back (a rule then keeps no match of its own). Checked on
 * generated matches that mostly satisfy their prerequisites, on byte mutations of them, on the
 * negative fixtures, and through the pipeline (flow stats and FLOW_REMOVED give the match back
 * as sent, the errors are the general path's).
 */

import test from 'ava';
import {
  OFPFC, OFPFF, OFPG, OFPP, OFPXMT, checkPrerequisites, decode, decodeFlowModWire, encode, errorName, isEmptyMatch,
  prerequisitesHoldWire, type FlowMod, type Message,
} from '../src/openflow/index.js';
import { OXM_FIELDS, KIND_SIZE } from '../proto/oxm.js';
import { compileMatchScratch, compileWireMatch, isMatchError, matchFromKey } from '../src/xlate/match.js';
import { equalKeys } from '../src/packet/key.js';
import { Pipeline, isError, flowRemovedMessage, flowStatsEntry } from '../src/ofproto/flow-table.js';
import { loadFixtures, loadNegativeFixtures } from './fixture-format.js';
import { FUZZ_SEED, FUZZ_SCALE, Rng } from './rng.js';
import { fakeEnv, applyActions, output } from './ofproto-helpers.js';

const X = OFPXMT;

/** A FLOW_MOD frame with these OXM bytes as its match (and output:1 as its instructions). */
function frameWith(oxms: Buffer, fm: Partial<FlowMod> = {}): Buffer {
  const base = encode({
    version: 4, type: 14, xid: 77, cookie: 0x1234n, cookieMask: 0n, tableId: 0, command: OFPFC.ADD, idleTimeout: 0,
    hardTimeout: 0, priority: 100, bufferId: 0xffffffff, outPort: OFPP.ANY, outGroup: OFPG.ANY, flags: 0, match: [],
    instructions: [applyActions(output(1))], ...fm,
  } as Message);
  const mlen = 4 + oxms.length;
  const match = Buffer.alloc((mlen + 7) & ~7);
  match.writeUInt16BE(1, 0);
  match.writeUInt16BE(mlen, 2);
  oxms.copy(match, 4);
  const out = Buffer.concat([base.subarray(0, 48), match, base.subarray(56)]);
  out.writeUInt16BE(out.length, 2);
  return out;
}

function oxm(field: number, value: number[], mask?: number[]): Buffer {
  const b = Buffer.alloc(4 + value.length + (mask?.length ?? 0));
  b[0] = 0x80;
  b[2] = (field << 1) | (mask === undefined ? 0 : 1);
  b[3] = value.length + (mask?.length ?? 0);
  b.set(value, 4);
  if (mask !== undefined) b.set(mask, 4 + value.length);
  return b;
}

const be = (v: number, size: number): number[] => Array.from({ length: size }, (_, i) => Math.floor(v / 256 ** (size - 1 - i)) & 0xff);

/**
 * Random OXMs that usually satisfy their prerequisites: the fields the others depend on first
 * (eth_type, ip_proto, icmpv6_type, a VLAN tag) with the values they need, then others at random,
 * sorted or not, exact or masked (all-ones and all-zero masks too), with a little of everything
 * that is refused (values out of range, value bits outside the mask, duplicates).
 */
function randomOxms(r: Rng): Buffer {
  const parts: Array<{ field: number; bytes: Buffer }> = [];
  const add = (field: number, value: number[], mask?: number[]): void => { parts.push({ field, bytes: oxm(field, value, mask) }); };
  const eth = [0x0800, 0x86dd, 0x0806, 0x8847, 0x88e7, 0x1234][r.int(6)]!;
  if (r.chance(0.9)) add(X.ETH_TYPE, be(eth, 2));
  if (r.chance(0.3)) add(X.VLAN_VID, be(0x1000 | r.int(4096), 2), r.chance(0.5) ? be(0x1000 | r.int(4096), 2) : undefined);
  const proto = [6, 17, 132, 1, 58, 47][r.int(6)]!;
  if (r.chance(0.7)) add(X.IP_PROTO, [proto]);
  if (proto === 58 && r.chance(0.6)) add(X.ICMPV6_TYPE, [[135, 136, 1][r.int(3)]!]);
  const n = r.int(5);
  for (let i = 0; i < n; i++) {
    const d = OXM_FIELDS[r.int(OXM_FIELDS.length)]!;
    const size = KIND_SIZE[d.kind];
    const bytes = (): number[] => Array.from({ length: size }, () => r.int(256));
    let value = bytes();
    if (d.validBits !== undefined && r.chance(0.9)) value = be((value.reduce((a, x) => a * 256 + x, 0) & d.validBits) >>> 0, size);
    if (d.maskable && r.chance(0.5)) {
      const kind = r.int(4);
      const mask = kind === 0 ? new Array<number>(size).fill(0xff) : kind === 1 ? new Array<number>(size).fill(0) : bytes();
      if (d.validBits !== undefined && kind === 0 && r.chance(0.5)) mask.splice(0, size, ...be(d.validBits, size));
      if (r.chance(0.9)) value = value.map((x, j) => x & mask[j]!);
      add(d.field, value, mask);
    } else {
      add(d.field, value);
    }
  }
  if (r.chance(0.5)) parts.sort((a, b) => a.field - b.field);
  else if (r.chance(0.3)) parts.reverse();
  return Buffer.concat(parts.map((p) => p.bytes));
}

/** The checks of one frame; returns what happened, for the coverage counts. */
function check(t: { deepEqual(a: unknown, b: unknown, m?: string): void; is(a: unknown, b: unknown, m?: string): void; true(v: boolean, m?: string): void; fail(m: string): void }, frame: Buffer): string {
  const r = decode(frame);
  const w = decodeFlowModWire(frame);
  if (!r.ok) {
    t.is(w, undefined, `fast path took a message decode() refuses (${r.error.name}): ${frame.toString('hex')}`);
    return 'refused';
  }
  if (r.msg.type !== 14) {
    t.is(w, undefined, 'not a flow-mod');
    return 'other-type';
  }
  const msg = r.msg;
  if (msg.match.some((x) => 'oxmClass' in x)) {
    t.is(w, undefined, 'a non-basic OXM goes the general way');
    return 'other-class';
  }
  if (w === undefined) {
    t.fail(`fast path refused a valid flow-mod: ${frame.toString('hex')}`);
    return 'missed';
  }
  const { match: _m, ...rest } = msg;
  for (const [k, v] of Object.entries(rest)) t.deepEqual((w as unknown as Record<string, unknown>)[k], v, `field ${k}`);
  t.deepEqual(w.match, msg.match, 'match');
  t.is(isEmptyMatch(w), msg.match.length === 0);
  const pre = checkPrerequisites(msg.match) === undefined;
  t.is(prerequisitesHoldWire(w.wire, w.oxmStart, w.oxmEnd), pre, `prerequisites of ${frame.toString('hex')}`);
  if (!pre) return 'prereq';
  const c = compileMatchScratch(msg.match);
  const cw = compileWireMatch(w.wire, w.oxmStart, w.oxmEnd);
  t.is(cw === undefined, isMatchError(c), `compiles alike: ${frame.toString('hex')}`);
  if (cw === undefined || isMatchError(c)) {
    return 'compile-error';
  }
  t.true(equalKeys(cw.key, c.key), 'same key');
  t.is(cw.mask, c.mask, 'the same interned mask');
  if (!cw.canonical) return 'kept';
  t.deepEqual(matchFromKey(cw), msg.match, `canonical, so matchFromKey gives it back: ${frame.toString('hex')}`);
  return 'canonical';
}

test(`generated matches: the fast path agrees with decode, checkPrerequisites and compileMatch (seed ${FUZZ_SEED})`, (t) => {
  const r = new Rng(FUZZ_SEED);
  const seen = new Map<string, number>();
  const n = 4000 * FUZZ_SCALE;
  for (let i = 0; i < n; i++) {
    const what = check(t, frameWith(randomOxms(r)));
    seen.set(what, (seen.get(what) ?? 0) + 1);
  }
  // A mask wider than vlan_vid's 13 bits decodes but does not compile (BAD_MATCH/BAD_MASK).
  t.is(check(t, frameWith(oxm(X.VLAN_VID, [0, 0], [0xe0, 0]))), 'compile-error');
  t.is(seen.get('missed'), undefined);
  // Every outcome is exercised.
  for (const k of ['refused', 'prereq', 'kept', 'canonical']) t.true((seen.get(k) ?? 0) > 10, `${k}: ${seen.get(k) ?? 0} of ${n}`);
});

test(`byte mutations: the fast path takes nothing decode refuses, and agrees on the rest (seed ${FUZZ_SEED})`, (t) => {
  const r = new Rng(FUZZ_SEED ^ 0x5a5a5a5a);
  const n = 4000 * FUZZ_SCALE;
  for (let i = 0; i < n; i++) {
    const f = frameWith(randomOxms(r));
    const flips = 1 + r.int(3);
    for (let k = 0; k < flips; k++) {
      // Mostly in the match and instructions, sometimes the header.
      const at = r.chance(0.9) ? 48 + r.int(f.length - 48) : r.int(48);
      f[at] = r.chance(0.5) ? r.int(256) : f[at]! ^ (1 << r.int(8));
    }
    check(t, f);
  }
  t.pass();
});

test('fixtures: every FLOW_MOD decodes alike on the fast path; every negative one is left to decode()', (t) => {
  let positives = 0;
  for (const f of loadFixtures()) {
    if (f.hex.length < 2 || f.hex[1] !== 14) continue;
    positives++;
    check(t, f.hex);
  }
  t.true(positives > 0);
  for (const f of loadNegativeFixtures()) {
    t.is(decodeFlowModWire(f.hex), undefined, `${f.file} ${f.name}`);
  }
});

test('instruction lists with the same bytes are shared; different ones are not', (t) => {
  const a = decodeFlowModWire(frameWith(oxm(X.ETH_TYPE, [8, 0])))!;
  const b = decodeFlowModWire(frameWith(oxm(X.IN_PORT, [0, 0, 0, 3])))!;
  const c = decodeFlowModWire(frameWith(Buffer.alloc(0), { instructions: [applyActions(output(2))] }))!;
  t.is(a.instructions, b.instructions);
  t.not(a.instructions, c.instructions);
  t.deepEqual(c.instructions, [applyActions(output(2))]);
});

// ---------------------------------------------------------------------------------------------
// Through the pipeline
// ---------------------------------------------------------------------------------------------

const CASES: Array<{ name: string; oxms: Buffer; canonical: boolean }> = [
  { name: 'eth_type, ipv4_dst (canonical)', oxms: Buffer.concat([oxm(X.ETH_TYPE, [8, 0]), oxm(X.IPV4_DST, [10, 0, 0, 1])]), canonical: true },
  { name: 'a /24 and a masked MAC (canonical)', oxms: Buffer.concat([oxm(X.ETH_DST, [0, 1, 2, 0, 0, 0], [0xff, 0xff, 0xff, 0, 0, 0]), oxm(X.ETH_TYPE, [8, 0]), oxm(X.IPV4_SRC, [10, 1, 2, 0], [255, 255, 255, 0])]), canonical: true },
  { name: 'fields out of order', oxms: Buffer.concat([oxm(X.ETH_TYPE, [8, 0]), oxm(X.IN_PORT, [0, 0, 0, 1])]), canonical: false },
  { name: 'an all-ones mask', oxms: Buffer.concat([oxm(X.ETH_TYPE, [8, 0]), oxm(X.IPV4_DST, [10, 0, 0, 1], [255, 255, 255, 255])]), canonical: false },
  { name: 'an all-zero mask', oxms: Buffer.concat([oxm(X.ETH_TYPE, [8, 0]), oxm(X.IPV4_DST, [0, 0, 0, 0], [0, 0, 0, 0])]), canonical: false },
  { name: 'vlan_vid with its full 13-bit mask', oxms: oxm(X.VLAN_VID, [0x10, 5], [0x1f, 0xff]), canonical: false },
];

for (const c of CASES) {
  test(`pipeline: ${c.name} — flow stats and FLOW_REMOVED give the match back as sent`, (t) => {
    const frame = frameWith(c.oxms, { flags: OFPFF.SEND_FLOW_REM });
    const sent = (decode(frame) as { ok: true; msg: FlowMod }).msg.match;
    const w = decodeFlowModWire(frame)!;
    t.is(compileWireMatch(w.wire, w.oxmStart, w.oxmEnd)?.canonical, c.canonical);
    const p = new Pipeline(fakeEnv());
    const r = p.applyFlowMod(w);
    if (isError(r)) return t.fail(errorName(r[0], r[1]));
    const rule = r.added[0]!;
    t.deepEqual(rule.match, sent);
    t.deepEqual(flowStatsEntry(rule, 0).match, sent);
    // The same rule through the general path is the same rule (replaced, not added).
    const again = p.applyFlowMod((decode(frame) as { ok: true; msg: FlowMod }).msg);
    if (isError(again)) return t.fail(errorName(again[0], again[1]));
    t.is(again.replaced[0], rule);
    const del = p.applyFlowMod(decodeFlowModWire(frameWith(c.oxms, { command: OFPFC.DELETE_STRICT }))!);
    if (isError(del)) return t.fail(errorName(del[0], del[1]));
    t.is(del.removed.length, 1);
    t.deepEqual(flowRemovedMessage(del.removed[0]!).match, sent);
    t.is(p.size, 0);
  });
}

test('pipeline: errors from the fast path are the general path\'s', (t) => {
  const bad: Array<[string, Buffer]> = [
    ['prerequisite missing', oxm(X.IPV4_DST, [10, 0, 0, 1])],
    ['prerequisite later in the list', Buffer.concat([oxm(X.IPV4_DST, [10, 0, 0, 1]), oxm(X.ETH_TYPE, [8, 0])])],
    ['icmpv6_type on IPv4', Buffer.concat([oxm(X.ETH_TYPE, [8, 0]), oxm(X.IP_PROTO, [58]), oxm(X.ICMPV6_TYPE, [135])])],
    ['vlan_pcp without a tag', Buffer.concat([oxm(X.VLAN_VID, [0, 0]), oxm(X.VLAN_PCP, [3])])],
  ];
  for (const [name, oxms] of bad) {
    const frame = frameWith(oxms);
    const w = decodeFlowModWire(frame)!;
    const general = new Pipeline(fakeEnv()).applyFlowMod((decode(frame) as { ok: true; msg: FlowMod }).msg);
    const fast = new Pipeline(fakeEnv()).applyFlowMod(w);
    t.true(isError(fast), name);
    t.deepEqual(fast, general, name);
  }
  // A match the key cannot hold (vlan_pcp value out of its 3 bits is refused by decode already;
  // an empty match with priority 0 is the table-miss flow either way).
  const miss = new Pipeline(fakeEnv()).applyFlowMod(decodeFlowModWire(frameWith(Buffer.alloc(0), { priority: 0 }))!);
  t.false(isError(miss));
  if (!isError(miss)) t.true(miss.added[0]!.tableMiss);
});
