/**
 * Datapath meters with an injected clock (deterministic): PKTPS and KBPS drop rates, bucket
 * refill, which band applies when several are exceeded, DSCP remark of AF code points with valid
 * checksums afterwards, per-band stats, unknown meters and deletion.
 */

import test from 'ava';
import { OFPMF } from '../proto/constants.js';
import { buildPacket } from '../src/packet/build.js';
import { extract } from '../src/packet/extract.js';
import { newKey } from '../src/packet/key.js';
import { Offsets } from '../src/packet/packet.js';
import { verifyChecksums } from '../src/packet/checksum.js';
import { raiseDropPrecedence } from '../src/dpif/meter.js';
import type { OdpAction } from '../src/dpif/odp.js';
import { makeDp, match } from './dpif-fakes.js';

const METER: OdpAction = { type: 'meter', meterId: 1 };
const OUT: OdpAction = { type: 'output', port: 2 };

function setup(frame: Uint8Array) {
  const clock = { now: 0 };
  const { dp, ports } = makeDp(2, { now: () => clock.now });
  dp.flowPut({ ...match(1), actions: [METER, OUT] });
  const send = (n: number) => {
    const before = ports[1]!.sent.length;
    for (let i = 0; i < n; i += 32) ports[0]!.receive(...Array.from({ length: Math.min(32, n - i) }, () => frame));
    return ports[1]!.sent.length - before;
  };
  return { dp, ports, clock, send };
}

const frame100 = buildPacket({ ipv4: {}, udp: {}, payload: new Uint8Array(100 - 42) });

test('PKTPS drop: the burst passes at once, then the rate', (t) => {
  const { dp, clock, send } = setup(frame100);
  dp.meterSet({ id: 1, flags: OFPMF.PKTPS | OFPMF.BURST, bands: [{ type: 'drop', rate: 100, burst: 10 }] });
  t.is(send(50), 10, 'a bucket of 10 packets');
  clock.now = 100; // 100 ms at 100 pkt/s: 10 packets
  t.is(send(50), 10);
  clock.now = 10_000; // long idle: the bucket holds its size, no more
  t.is(send(50), 10);
  clock.now = 10_050;
  t.is(send(3), 3, '5 tokens after 50 ms');
  t.is(send(3), 2);
  const st = dp.meterGet(1)!;
  t.is(st.packetsIn, 156n);
  t.is(st.bytesIn, 156n * 100n);
  t.is(st.bands[0]!.packets, 156n - 35n);
  t.is(st.bands[0]!.bytes, (156n - 35n) * 100n);
  t.is(dp.counters().dropped, 156 - 35);
});

test('PKTPS without BURST: one second of the rate', (t) => {
  const { dp, send } = setup(frame100);
  dp.meterSet({ id: 1, flags: OFPMF.PKTPS, bands: [{ type: 'drop', rate: 20, burst: 5 }] });
  t.is(send(100), 20);
});

test('KBPS drop: bytes x 8 against kbit/s', (t) => {
  const { dp, clock, send } = setup(frame100);
  // 64 kbit/s, burst 8 kbit = 10 packets of 800 bits.
  dp.meterSet({ id: 1, flags: OFPMF.KBPS | OFPMF.BURST, bands: [{ type: 'drop', rate: 64, burst: 8 }] });
  t.is(send(40), 10);
  clock.now = 125; // 125 ms x 64 bit/ms = 8000 bits
  t.is(send(40), 10);
  clock.now = 150; // 1600 bits
  t.is(send(40), 2);
});

test('a clock going backwards refills nothing', (t) => {
  const { dp, clock, send } = setup(frame100);
  clock.now = 1000;
  dp.meterSet({ id: 1, flags: OFPMF.PKTPS | OFPMF.BURST, bands: [{ type: 'drop', rate: 100, burst: 5 }] });
  t.is(send(10), 5);
  clock.now = 500;
  t.is(send(10), 0);
  clock.now = 1010;
  t.is(send(10), 1);
});

const af11 = buildPacket({ ipv4: { dscp: 10 }, udp: {}, payload: new Uint8Array(20) });
const dscpOf = (b: Uint8Array) => b[14 + 1]! >> 2;

test('dscp_remark raises AF drop precedence, the checksum stays valid; highest exceeded band applies', (t) => {
  const { dp, ports, send } = setup(af11);
  // remark at 5 pkt/s, drop at 10 pkt/s (bucket = one second of each rate).
  dp.meterSet({
    id: 1,
    flags: OFPMF.PKTPS,
    bands: [{ type: 'dscp_remark', rate: 5, burst: 0, precLevel: 1 }, { type: 'drop', rate: 10, burst: 0 }],
  });
  t.is(send(20), 10);
  const sent = ports[1]!.sent;
  t.deepEqual(sent.map(dscpOf), [10, 10, 10, 10, 10, 12, 12, 12, 12, 12], 'AF11 -> AF12 once the 5/s band is exceeded');
  for (const f of sent) {
    const off = new Offsets();
    extract(f, 0, f.length, newKey(), off);
    t.deepEqual(verifyChecksums(f, off, f.length), { ipv4: true, l4: true });
  }
  const st = dp.meterGet(1)!;
  t.is(st.bands[0]!.packets, 5n, 'remark band: packets 6-10');
  t.is(st.bands[1]!.packets, 10n, 'drop band (the higher rate): packets 11-20');
});

test('dscp_remark on IPv6 and on a non-AF code point', (t) => {
  const v6 = buildPacket({ ipv6: { dscp: 18 }, udp: {}, payload: new Uint8Array(10) });
  const ef = buildPacket({ ipv4: { dscp: 46 }, udp: {}, payload: new Uint8Array(10) });
  for (const [f, expect] of [[v6, 22], [ef, 46]] as const) {
    const { dp, ports, send } = setup(f);
    dp.meterSet({ id: 1, flags: OFPMF.PKTPS | OFPMF.BURST, bands: [{ type: 'dscp_remark', rate: 1, burst: 1, precLevel: 2 }] });
    t.is(send(2), 2);
    const out = ports[1]!.sent[1]!;
    const off = new Offsets();
    const k = newKey();
    extract(out, 0, out.length, k, off);
    t.is((k[62]! >> 10) & 0x3f, expect);
    t.is(verifyChecksums(out, off, out.length).l4, true);
    t.is(dp.meterGet(1)!.bands[0]!.packets, 1n, 'the band counts the packet either way');
  }
});

test('raiseDropPrecedence: AFxy -> AFx(y+p) capped at 3; others unchanged', (t) => {
  t.is(raiseDropPrecedence(10, 1), 12); // AF11 -> AF12
  t.is(raiseDropPrecedence(10, 5), 14); // AF11 -> AF13
  t.is(raiseDropPrecedence(34, 1), 36); // AF41 -> AF42
  t.is(raiseDropPrecedence(38, 1), 38); // AF43 stays
  for (const d of [0, 8, 46, 48, 11, 40]) t.is(raiseDropPrecedence(d, 1), d);
});

test('unknown meter: the packet passes, counted; meterDel returns stats and removes', (t) => {
  const { dp, send } = setup(frame100);
  t.is(send(3), 3);
  t.is(dp.counters().unknownMeter, 3);
  dp.meterSet({ id: 1, flags: OFPMF.PKTPS | OFPMF.BURST, bands: [{ type: 'drop', rate: 1, burst: 1 }] });
  t.is(send(3), 1);
  const st = dp.meterDel(1)!;
  t.is(st.packetsIn, 3n);
  t.is(dp.meterGet(1), undefined);
  t.is(dp.meterDel(1), undefined);
  t.is(send(3), 3);
});

test('meterSet on an existing id replaces it: full buckets, zero counters', (t) => {
  const { dp, send } = setup(frame100);
  const cfg = { id: 1, flags: OFPMF.PKTPS | OFPMF.BURST, bands: [{ type: 'drop' as const, rate: 1, burst: 2 }] };
  dp.meterSet(cfg);
  t.is(send(5), 2);
  dp.meterSet(cfg);
  t.is(dp.meterGet(1)!.packetsIn, 0n);
  t.is(send(5), 2);
});
