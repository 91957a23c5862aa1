/**
 * The meter table (src/ofproto/meters.ts): every METER_MOD error with its exact (type, code),
 * OFPM_ALL, counters and the multipart bodies, and the METER_MODs that Open vSwitch's ovs-ofctl
 * sends, applied in order.
 */

import test from 'ava';
import {
  OFPM, OFPMBT, OFPMC, OFPMF, OFPMP, OFPT, decode, encode, errorName,
  type MeterBand, type MeterMod, type Message,
} from '../src/openflow/index.js';
import type { ErrorPair } from '../proto/schema.js';
import { MeterTable, type MeterLimits } from '../src/ofproto/meters.js';
import { isError } from '../src/ofproto/flow-table.js';
import { OVS_OFCTL_CASES, OFPT as PEER_OFPT, captureOvsOfctl, ovsOfpPrint, requireTool } from './peers/peers.js';

interface Env { t: number; now(): number }

function table(limits: MeterLimits = {}): { e: Env; m: MeterTable } {
  const e: Env = { t: 10_000, now: () => e.t };
  return { e, m: new MeterTable(e, limits) };
}

const drop = (rate: number, burstSize = 0): MeterBand => ({ type: OFPMBT.DROP, rate, burstSize });
const remark = (rate: number, precLevel: number, burstSize = 0): MeterBand => ({ type: OFPMBT.DSCP_REMARK, rate, burstSize, precLevel });

function mm(meterId: number, flags: number, bands: MeterBand[], command: number = OFPMC.ADD): MeterMod {
  return { version: 4, type: OFPT.METER_MOD, xid: 1, command, flags, meterId, bands };
}

const add = (id: number, flags: number, ...bands: MeterBand[]): MeterMod => mm(id, flags, bands);
const mod = (id: number, flags: number, ...bands: MeterBand[]): MeterMod => mm(id, flags, bands, OFPMC.MODIFY);
const del = (id: number): MeterMod => mm(id, 0, [], OFPMC.DELETE);

function apply(m: MeterTable, msg: MeterMod): string {
  const r = m.applyMeterMod(msg);
  if (isError(r)) return errorName(r[0], r[1]);
  return r.deleted.length === 0 ? 'ok' : `deleted:${r.deleted.join(',')}`;
}

const KBPS = OFPMF.KBPS;
const PKTPS = OFPMF.PKTPS;

test('ADD stores the meter; ADD of an existing id is METER_EXISTS and changes nothing', (t) => {
  const { m } = table();
  t.is(apply(m, add(1, KBPS | OFPMF.STATS, drop(1000))), 'ok');
  t.true(m.exists(1));
  t.deepEqual(m.configStats(1), [{ flags: KBPS | OFPMF.STATS, meterId: 1, bands: [drop(1000)] }]);
  t.is(apply(m, add(1, PKTPS, drop(5))), 'METER_MOD_FAILED/METER_EXISTS');
  t.deepEqual(m.get(1)?.bands, [drop(1000)]);
});

test('meter ids: 0, above OFPM_MAX and OFPM_ALL are INVALID_METER; SLOWPATH and CONTROLLER are accepted', (t) => {
  const { m } = table();
  for (const id of [0, OFPM.MAX + 1, 0xfffffffc, OFPM.ALL]) {
    t.is(apply(m, add(id, KBPS, drop(1))), 'METER_MOD_FAILED/INVALID_METER', `add ${id}`);
    t.is(apply(m, mod(id, KBPS, drop(1))), 'METER_MOD_FAILED/INVALID_METER', `modify ${id}`);
  }
  t.is(apply(m, add(OFPM.MAX, KBPS, drop(1))), 'ok');
  t.is(apply(m, add(OFPM.SLOWPATH, PKTPS, drop(100))), 'ok');
  t.is(apply(m, add(OFPM.CONTROLLER, PKTPS, drop(100))), 'ok');
  t.true(m.exists(OFPM.CONTROLLER));
});

test('MODIFY of a missing meter is UNKNOWN_METER; MODIFY replaces flags and bands, resets counters, keeps the age', (t) => {
  const { e, m } = table();
  t.is(apply(m, mod(3, KBPS, drop(10))), 'METER_MOD_FAILED/UNKNOWN_METER');
  t.false(m.exists(3));
  t.is(apply(m, add(3, KBPS, drop(10), remark(5, 1))), 'ok');
  m.credit(3, 10n, 1000n);
  m.creditBand(3, 1, 2n, 200n);
  e.t += 3000;
  t.is(apply(m, mod(3, PKTPS | OFPMF.BURST, drop(100, 10))), 'ok');
  t.deepEqual(m.configStats(3), [{ flags: PKTPS | OFPMF.BURST, meterId: 3, bands: [drop(100, 10)] }]);
  t.deepEqual(m.stats(3), [{
    meterId: 3, flowCount: 0, packetInCount: 0n, byteInCount: 0n, durationSec: 3, durationNsec: 0,
    bandStats: [{ packetBandCount: 0n, byteBandCount: 0n }],
  }]);
});

test('DELETE: a missing meter is no error, OFPM_ALL deletes everything, the ids removed are returned', (t) => {
  const { m } = table();
  t.is(apply(m, del(5)), 'ok');
  for (const id of [4, 2, 9]) t.is(apply(m, add(id, KBPS, drop(1))), 'ok');
  t.is(apply(m, del(2)), 'deleted:2');
  t.is(apply(m, del(2)), 'ok');
  t.is(apply(m, del(0)), 'ok', 'DELETE does not check the id');
  t.is(apply(m, del(OFPM.ALL)), 'deleted:4,9');
  t.is(m.size, 0);
  t.is(apply(m, add(4, KBPS, drop(1))), 'ok');
});

test('unknown command: BAD_COMMAND', (t) => {
  const { m } = table();
  for (const command of [3, 0x8000, 0xffff]) t.is(apply(m, mm(1, KBPS, [drop(1)], command)), 'METER_MOD_FAILED/BAD_COMMAND');
  t.is(m.size, 0);
});

test('flags: unknown bits, both units or no unit are BAD_FLAGS', (t) => {
  const { m } = table();
  t.is(apply(m, add(1, KBPS | (1 << 4), drop(1))), 'METER_MOD_FAILED/BAD_FLAGS');
  t.is(apply(m, add(1, PKTPS | 0x8000, drop(1))), 'METER_MOD_FAILED/BAD_FLAGS');
  t.is(apply(m, add(1, KBPS | PKTPS, drop(1))), 'METER_MOD_FAILED/BAD_FLAGS');
  t.is(apply(m, add(1, 0, drop(1))), 'METER_MOD_FAILED/BAD_FLAGS');
  t.is(apply(m, add(1, OFPMF.BURST | OFPMF.STATS, drop(1, 1))), 'METER_MOD_FAILED/BAD_FLAGS');
  t.is(m.size, 0);
  t.is(apply(m, add(1, KBPS | OFPMF.BURST | OFPMF.STATS, drop(1, 1))), 'ok');
  t.is(apply(m, mod(1, KBPS | PKTPS, drop(1))), 'METER_MOD_FAILED/BAD_FLAGS');
});

test('bands: experimenter or unknown type BAD_BAND, rate 0 BAD_RATE, BURST with burst 0 BAD_BURST, prec_level > 63 BAD_BAND_VALUE', (t) => {
  const { m } = table();
  const exp = { type: OFPMBT.EXPERIMENTER, rate: 10, burstSize: 0, experimenter: 0x2320, data: new Uint8Array(0) } as MeterBand;
  t.is(apply(m, add(1, KBPS, exp)), 'METER_MOD_FAILED/BAD_BAND');
  t.is(apply(m, add(1, KBPS, drop(10), { type: 3, rate: 10, burstSize: 0 } as unknown as MeterBand)), 'METER_MOD_FAILED/BAD_BAND');
  t.is(apply(m, add(1, KBPS, drop(0))), 'METER_MOD_FAILED/BAD_RATE');
  t.is(apply(m, add(1, PKTPS, drop(10), remark(0, 1))), 'METER_MOD_FAILED/BAD_RATE');
  t.is(apply(m, add(1, KBPS | OFPMF.BURST, drop(10, 0))), 'METER_MOD_FAILED/BAD_BURST');
  t.is(apply(m, add(1, KBPS | OFPMF.BURST, drop(10, 5), remark(5, 1, 0))), 'METER_MOD_FAILED/BAD_BURST');
  t.is(apply(m, add(1, KBPS, remark(10, 64))), 'METER_MOD_FAILED/BAD_BAND_VALUE');
  t.is(apply(m, add(1, KBPS, remark(10, 255))), 'METER_MOD_FAILED/BAD_BAND_VALUE');
  t.is(m.size, 0);
  // Accepted: burst_size without BURST is ignored; prec_level up to 63; no bands at all (OVS too).
  t.is(apply(m, add(1, KBPS, drop(10, 99))), 'ok');
  t.is(apply(m, add(2, KBPS, remark(10, 63), remark(20, 0))), 'ok');
  t.is(apply(m, add(3, PKTPS)), 'ok');
  t.deepEqual(m.configStats(3), [{ flags: PKTPS, meterId: 3, bands: [] }]);
});

test('OUT_OF_BANDS past max_bands; OUT_OF_METERS when the table is full', (t) => {
  const { m } = table({ maxMeters: 2, maxBands: 2 });
  t.is(apply(m, add(1, KBPS, drop(1), drop(2), drop(3))), 'METER_MOD_FAILED/OUT_OF_BANDS');
  t.is(apply(m, add(1, KBPS, drop(1), drop(2))), 'ok');
  t.is(apply(m, mod(1, KBPS, drop(1), drop(2), remark(3, 1))), 'METER_MOD_FAILED/OUT_OF_BANDS');
  t.is(apply(m, add(2, KBPS, drop(1))), 'ok');
  t.is(apply(m, add(3, KBPS, drop(1))), 'METER_MOD_FAILED/OUT_OF_METERS');
  t.is(apply(m, mod(2, PKTPS, drop(7))), 'ok', 'a MODIFY needs no new room');
  t.is(apply(m, del(1)), 'deleted:1');
  t.is(apply(m, add(3, KBPS, drop(1))), 'ok');
  t.like(m.features(), { maxMeter: 2, maxBands: 2 });
  t.like(new MeterTable({ now: () => 0 }).features(), { maxMeter: 65536, maxBands: 8 });
});

test('which error wins: command, id, existence, room, flags, band count, then each band in order', (t) => {
  const { m } = table({ maxMeters: 1, maxBands: 1 });
  t.is(apply(m, mm(0, KBPS | PKTPS, [drop(0), drop(0)], 9)), 'METER_MOD_FAILED/BAD_COMMAND');
  t.is(apply(m, add(0, KBPS | PKTPS, drop(0), drop(0))), 'METER_MOD_FAILED/INVALID_METER');
  t.is(apply(m, mod(5, KBPS | PKTPS, drop(0), drop(0))), 'METER_MOD_FAILED/UNKNOWN_METER');
  t.is(apply(m, add(5, KBPS, drop(1))), 'ok');
  t.is(apply(m, add(5, KBPS | PKTPS, drop(0), drop(0))), 'METER_MOD_FAILED/METER_EXISTS');
  t.is(apply(m, add(6, KBPS | PKTPS, drop(0), drop(0))), 'METER_MOD_FAILED/OUT_OF_METERS');
  t.is(apply(m, mod(5, KBPS | PKTPS, drop(0), drop(0))), 'METER_MOD_FAILED/BAD_FLAGS');
  t.is(apply(m, mod(5, KBPS, drop(0), drop(0))), 'METER_MOD_FAILED/OUT_OF_BANDS');
  t.is(apply(m, mod(5, KBPS | OFPMF.BURST, drop(0))), 'METER_MOD_FAILED/BAD_RATE');
});

test('counters are zero until credited; stats and config for one meter, OFPM_ALL, or UNKNOWN_METER', (t) => {
  const { e, m } = table();
  t.is(apply(m, add(7, KBPS | OFPMF.STATS, drop(1000), remark(500, 2))), 'ok');
  t.is(apply(m, add(2, PKTPS, drop(10))), 'ok');
  t.deepEqual(m.stats(7), [{
    meterId: 7, flowCount: 0, packetInCount: 0n, byteInCount: 0n, durationSec: 0, durationNsec: 0,
    bandStats: [{ packetBandCount: 0n, byteBandCount: 0n }, { packetBandCount: 0n, byteBandCount: 0n }],
  }]);
  t.true(m.credit(7, 100n, 64_000n));
  t.true(m.creditBand(7, 1, 30n, 19_200n));
  t.true(m.creditBand(7, 0, 5n, 3_200n));
  t.false(m.creditBand(7, 2, 1n, 1n));
  t.false(m.credit(8, 1n, 1n));
  m.setFlowCounter((id) => (id === 7 ? 3 : 0));
  e.t += 1234;
  const all = m.stats(OFPM.ALL);
  if (isError(all)) return t.fail();
  t.deepEqual(all.map((s) => s.meterId), [2, 7]);
  t.deepEqual(all[1], {
    meterId: 7, flowCount: 3, packetInCount: 100n, byteInCount: 64_000n, durationSec: 1, durationNsec: 234_000_000,
    bandStats: [{ packetBandCount: 5n, byteBandCount: 3_200n }, { packetBandCount: 30n, byteBandCount: 19_200n }],
  });
  t.deepEqual((m.configStats(OFPM.ALL) as { meterId: number }[]).map((c) => c.meterId), [2, 7]);
  const unknown = ['METER_MOD_FAILED/UNKNOWN_METER', 'METER_MOD_FAILED/UNKNOWN_METER'];
  t.deepEqual([m.stats(99), m.configStats(99)].map((r) => (isError(r) ? errorName((r as ErrorPair)[0], (r as ErrorPair)[1]) : 'list')), unknown);
  t.deepEqual(new MeterTable({ now: () => 0 }).stats(OFPM.ALL), [], 'OFPM_ALL on an empty table is an empty list');
});

test('features: DROP and DSCP_REMARK bands, KBPS|PKTPS|BURST|STATS, no colours; Open vSwitch decodes the replies', (t) => {
  requireTool('ovs-ofctl');
  const { m } = table();
  t.is(apply(m, add(1, KBPS | OFPMF.BURST | OFPMF.STATS, drop(1000, 100))), 'ok');
  t.is(apply(m, add(3, KBPS, drop(1000), remark(500, 2))), 'ok');
  m.credit(3, 4n, 400n);
  const f = m.features();
  t.deepEqual(f, {
    maxMeter: 65536, bandTypes: (1 << OFPMBT.DROP) | (1 << OFPMBT.DSCP_REMARK),
    capabilities: OFPMF.KBPS | OFPMF.PKTPS | OFPMF.BURST | OFPMF.STATS, maxBands: 8, maxColor: 0,
  });
  const config = m.configStats(OFPM.ALL);
  const stats = m.stats(OFPM.ALL);
  if (isError(config) || isError(stats)) return t.fail();
  const replies = [
    { version: 4, type: OFPT.MULTIPART_REPLY, xid: 1, mpType: OFPMP.METER_CONFIG, flags: 0, stats: config },
    { version: 4, type: OFPT.MULTIPART_REPLY, xid: 2, mpType: OFPMP.METER, flags: 0, stats },
    { version: 4, type: OFPT.MULTIPART_REPLY, xid: 3, mpType: OFPMP.METER_FEATURES, flags: 0, ...f },
  ] as Message[];
  for (const r of replies) {
    const bytes = encode(r);
    const d = decode(bytes);
    t.true(d.ok);
    if (d.ok) t.deepEqual(d.msg, r);
    const v = ovsOfpPrint(bytes);
    t.true(v.ok, `${v.problems.join(', ')}\n${v.text}`);
  }
  const text = ovsOfpPrint(encode(replies[2]!)).text;
  t.regex(text, /max_meter:65536/);
  t.regex(text, /band_types: drop dscp_remark/);
  t.regex(text, /capabilities: kbps pktps burst stats/);
  t.regex(text, /max_bands:8/);
  t.regex(ovsOfpPrint(encode(replies[0]!)).text, /meter=3 kbps bands=\s*\n?\s*type=drop rate=1000\s*\n?\s*type=dscp_remark rate=500 prec_level=2/);
});

test('every METER_MOD that ovs-ofctl sends applies, in order (add, mod, delete)', async (t) => {
  requireTool('ovs-ofctl');
  const cases = OVS_OFCTL_CASES.filter((c) => c.expectType === PEER_OFPT.METER_MOD);
  t.true(cases.length >= 8);
  const captured = await Promise.all(cases.map(async (c) => {
    const cap = await captureOvsOfctl(c.args, { stdin: c.stdin, ports: c.ports });
    const mods: MeterMod[] = [];
    for (const f of cap.frames) {
      const d = decode(f);
      if (d.ok && d.msg.type === OFPT.METER_MOD) mods.push(d.msg);
    }
    return { name: c.name, mods };
  }));
  const { m } = table();
  const log: string[] = [];
  const problems: string[] = [];
  for (const { name, mods } of captured) {
    if (mods.length === 0) problems.push(`${name}: no METER_MOD captured`);
    for (const msg of mods) {
      const r = apply(m, msg);
      log.push(`${name}: ${r}`);
      if (r !== 'ok' && !r.startsWith('deleted:')) problems.push(`${name}: ${r}`);
    }
  }
  t.deepEqual(problems, []);
  // Four adds, a modify, delete-all took the four, and the last two deletes found nothing.
  t.deepEqual(log.slice(-4), [
    'mod-meter meter=1,kbps,bands=type=drop,rate=2000: ok',
    'del-meters: deleted:1,2,3,4',
    'del-meters meter=1: ok',
    'del-meter meter=2: ok',
  ]);
  t.is(m.size, 0);
});
