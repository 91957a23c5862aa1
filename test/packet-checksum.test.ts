/**
 * Checksums: known vectors (RFC 1071's worked example, RFC 3720 B.4's CRC32c vectors), RFC 1624
 * incremental updates against full recomputation over random data (fast-check), CRC32c updates
 * from the changed bytes against recomputation, completeChecksum on partial (offloaded) frames
 * against the checksum a full computation gives, and verifyChecksums on good and bad frames.
 */
import test from 'ava';
import fc from 'fast-check';
import {
  onesSum, fold, checksumFromSum, updateChecksum16, updateChecksum32, replaceDelta, applyDelta, crc32c, crc32cUpdate,
  crc32cZeros, sctpChecksum, readSctpChecksum, l4Checksum, completeChecksum, verifyChecksums, ipv4HeaderChecksum,
  pseudoHeaderSum,
} from '../src/packet/checksum.js';
import { buildPacket, type PacketDesc } from '../src/packet/build.js';
import { extract } from '../src/packet/extract.js';
import { newKey } from '../src/packet/key.js';
import { Offsets } from '../src/packet/packet.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
/** 0 and 0xffff are the same ones'-complement number (both "zero"). */
const sameOnes = (a: number, b: number) => a === b || (a === 0 && b === 0xffff) || (a === 0xffff && b === 0);

function parse(frame: Uint8Array): Offsets {
  const off = new Offsets();
  extract(frame, 0, frame.length, newKey(), off);
  return off;
}

/** The IP datagram's end (the frame may be padded). */
function dgEnd(frame: Uint8Array, off: Offsets): number {
  const b = frame;
  if (b[off.l3]! >> 4 === 4) return off.l3 + ((b[off.l3 + 2]! << 8) | b[off.l3 + 3]!);
  return off.l3 + 40 + ((b[off.l3 + 4]! << 8) | b[off.l3 + 5]!);
}

// ---------------------------------------------------------------------------------------------
// Known vectors
// ---------------------------------------------------------------------------------------------

test('RFC 1071 §3 worked example: sum, fold and checksum', (t) => {
  const data = hex('0001 f203 f4f5 f6f7');
  t.is(onesSum(data, 0, data.length), 0x2ddf0);
  t.is(fold(onesSum(data, 0, data.length)), 0xddf2);
  t.is(checksumFromSum(onesSum(data, 0, data.length)), 0x220d);
  // Byte order independence (RFC 1071 §2(B)): the swapped sum is the swapped result.
  const swapped = hex('0100 03f2 f5f4 f7f6');
  t.is(fold(onesSum(swapped, 0, swapped.length)), 0xf2dd);
  // An odd length pads the last byte as the high half of a word.
  t.is(onesSum(hex('01 02 03'), 0, 3), 0x0102 + 0x0300);
  // An initial value carries on a sum; start/end select a range.
  t.is(onesSum(data, 2, 6, 5), 5 + 0xf203 + 0xf4f5);
});

test('fold handles large accumulators and end-around carries', (t) => {
  t.is(fold(0), 0);
  t.is(fold(0xffff), 0xffff);
  t.is(fold(0x10000), 1);
  t.is(fold(0x1fffe), 0xffff);
  t.is(fold(0xffffffff), 0xffff);
  t.is(fold(2 ** 40 + 5), fold((2 ** 40 % 0xffff) + 5));
  // A 64 KiB buffer of 0xff stays exact (the accumulator goes beyond 2^31).
  const big = new Uint8Array(65536).fill(0xff);
  t.is(fold(onesSum(big, 0, big.length)), 0xffff);
});

test('IPv4 header checksum: the RFC 1071-style example header', (t) => {
  // A classic example: 4500 0073 0000 4000 4011 [b861] c0a8 0001 c0a8 00c7.
  const h = hex('4500 0073 0000 4000 4011 0000 c0a8 0001 c0a8 00c7');
  t.is(ipv4HeaderChecksum(h, 0), 0xb861);
  h[10] = 0xb8;
  h[11] = 0x61;
  t.is(ipv4HeaderChecksum(h, 0), 0xb861, 'the field is taken as zero');
  t.is(fold(onesSum(h, 0, 20)), 0xffff, 'a right header sums to 0xffff');
});

test('CRC32c: RFC 3720 B.4 vectors and the standard check value', (t) => {
  // B.4 gives the CRC as the bytes sent, least significant first.
  const le = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex').readUInt32LE(0);
  const zeros = new Uint8Array(32);
  const ones = new Uint8Array(32).fill(0xff);
  const inc = Uint8Array.from({ length: 32 }, (_, i) => i);
  const dec = Uint8Array.from({ length: 32 }, (_, i) => 31 - i);
  t.is(crc32c(zeros, 0, 32), le('aa 36 91 8a'));
  t.is(crc32c(ones, 0, 32), le('43 ab a8 62'));
  t.is(crc32c(inc, 0, 32), le('4e 79 dd 46'));
  t.is(crc32c(dec, 0, 32), le('5c db 3f 11'));
  // The 48-byte iSCSI Read command PDU of B.4.
  const iscsiRead = hex(
    '01 c0 00 00 00 00 00 00 00 00 00 00 00 00 00 00 14 00 00 00 00 00 04 00 00 00 00 14 00 00 00 18' +
      '28 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00',
  );
  t.is(iscsiRead.length, 48);
  t.is(crc32c(iscsiRead, 0, 48), le('56 3a 96 d9'));
  t.is(crc32c(Buffer.from('123456789'), 0, 9), 0xe3069283);
  t.is(crc32c(new Uint8Array(0), 0, 0), 0);
});

// ---------------------------------------------------------------------------------------------
// Incremental updates
// ---------------------------------------------------------------------------------------------

const evenBytes = fc.integer({ min: 1, max: 200 }).chain((n) => fc.uint8Array({ minLength: 2 * n, maxLength: 2 * n }));

test('updateChecksum16 equals a full recomputation (RFC 1624 eqn. 3)', (t) => {
  fc.assert(
    fc.property(evenBytes, fc.nat(), fc.integer({ min: 0, max: 0xffff }), (data, pick, word) => {
      const at = 2 * (pick % (data.length / 2));
      const before = checksumFromSum(onesSum(data, 0, data.length));
      const old = (data[at]! << 8) | data[at + 1]!;
      data[at] = word >> 8;
      data[at + 1] = word & 0xff;
      const after = checksumFromSum(onesSum(data, 0, data.length));
      return sameOnes(updateChecksum16(before, old, word), after);
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

test('updateChecksum32 and replaceDelta/applyDelta equal a full recomputation', (t) => {
  fc.assert(
    fc.property(evenBytes, fc.nat(), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.constantFrom(4, 6, 16), (data, pick, value, n) => {
      if (data.length < n) return true;
      const at = 2 * (pick % ((data.length - n) / 2 + 1));
      const before = checksumFromSum(onesSum(data, 0, data.length));
      const old32 = ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
      const new32 = ((value[0]! << 24) | (value[1]! << 16) | (value[2]! << 8) | value[3]!) >>> 0;
      const delta = replaceDelta(data, at, value, 0, n);
      const copy = data.slice();
      for (let i = 0; i < n; i++) data[at + i] = value[i]!;
      const after = checksumFromSum(onesSum(data, 0, data.length));
      if (!sameOnes(applyDelta(before, delta), after)) return false;
      if (n === 4 && !sameOnes(updateChecksum32(before, old32, new32), after)) return false;
      // A wrong checksum stays wrong by the same amount: (bad - good) is preserved.
      const err = 1 + (pick % 0xfffe);
      const bad = checksumFromSum(onesSum(copy, 0, copy.length) + err);
      const badAfter = applyDelta(bad, delta);
      return sameOnes(badAfter, checksumFromSum(onesSum(data, 0, data.length) + err));
    }),
    { numRuns: 5000 },
  );
  t.pass();
});

test('CRC32c: linear update from the changed bytes equals recomputation', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 2, maxLength: 300 }), fc.nat(), fc.integer({ min: 0, max: 0xffff }), (data, pick, word) => {
      const at = pick % (data.length - 1);
      const before = crc32c(data, 0, data.length);
      const d = Uint8Array.of(data[at]! ^ (word >> 8), data[at + 1]! ^ (word & 0xff));
      data[at] = word >> 8;
      data[at + 1] = word & 0xff;
      const delta = crc32cZeros(crc32cUpdate(0, d, 0, 2), data.length - at - 2);
      return ((before ^ delta) >>> 0) === crc32c(data, 0, data.length);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// Whole packets: l4Checksum, verifyChecksums, completeChecksum
// ---------------------------------------------------------------------------------------------

const L4_CASES: Array<[string, PacketDesc, number]> = [
  ['TCP/IPv4', { ipv4: {}, tcp: { src: 1234, dst: 80 }, payload: Buffer.from('GET / HTTP/1.0\r\n\r\n') }, 16],
  ['TCP/IPv4 options, padded frame', { ipv4: { options: Uint8Array.of(1, 1, 1, 1) }, tcp: { options: Uint8Array.of(2, 4, 5, 0xb4) }, minLength: 80 }, 16],
  ['UDP/IPv4 odd payload', { ipv4: { src: '192.168.1.1', dst: '8.8.8.8' }, udp: { src: 5353, dst: 53 }, payload: Buffer.from('abc') }, 6],
  ['UDP/IPv4 in a 60-byte frame', { ipv4: {}, udp: {}, minLength: 60 }, 6],
  ['ICMP/IPv4', { ipv4: {}, icmp: { type: 8, rest: Uint8Array.of(0, 1, 0, 2) }, payload: Buffer.from('ping') }, 2],
  ['TCP/IPv6', { ipv6: {}, tcp: {}, payload: Buffer.from('x') }, 16],
  ['UDP/IPv6 with extension headers', { ipv6: { ext: [{ type: 'hop' }, { type: 'dest', length: 16 }, { type: 'routing' }] }, udp: {}, payload: Buffer.from('data') }, 6],
  ['ICMPv6 echo', { ipv6: {}, icmpv6: { type: 128 }, payload: Buffer.from('echo') }, 2],
  ['ND solicitation', { ipv6: { dst: 'ff02::1:ff00:2' }, nd: { type: 135, target: 'fe80::2', sll: '00:00:00:00:00:01' } }, 2],
  ['UDP/IPv6 behind two VLAN tags', { vlans: [{ vid: 1, tpid: 0x88a8 }, { vid: 2 }], ipv6: {}, udp: {}, payload: Buffer.from('q') }, 6],
];

test('l4Checksum and verifyChecksums agree with the builder', (t) => {
  for (const [name, desc, field] of L4_CASES) {
    const frame = buildPacket(desc);
    const off = parse(frame);
    t.true(off.l4 >= 0, name);
    t.is(l4Checksum(frame, off, frame.length), (frame[off.l4 + field]! << 8) | frame[off.l4 + field + 1]!, name);
    const ok = verifyChecksums(frame, off, frame.length);
    t.is(ok.l4, true, name);
    if (desc.ipv4) t.is(ok.ipv4, true, name);
    else t.is(ok.ipv4, undefined, name);

    const bad = buildPacket({ ...desc, l4Checksum: 'bad', ...(desc.ipv4 ? { ipv4Checksum: 'bad' as const } : {}) });
    const badOk = verifyChecksums(bad, parse(bad), bad.length);
    t.is(badOk.l4, false, name);
    if (desc.ipv4) t.is(badOk.ipv4, false, name);
  }
});

test('pseudoHeaderSum covers addresses, protocol and length (IPv4 and IPv6)', (t) => {
  const v4 = buildPacket({ ipv4: { src: '1.2.3.4', dst: '5.6.7.8' }, udp: {} });
  const o4 = parse(v4);
  t.is(pseudoHeaderSum(v4, o4.l3, 8, 17), 0x0102 + 0x0304 + 0x0506 + 0x0708 + 17 + 8);
  const v6 = buildPacket({ ipv6: { src: '::1', dst: '::2' }, udp: {} });
  const o6 = parse(v6);
  t.is(pseudoHeaderSum(v6, o6.l3, 0x12345, 17), 1 + 2 + 1 + 0x2345 + 17);
});

test('verifyChecksums: UDP zero checksum is "none" over IPv4, wrong over IPv6; SCTP CRC32c', (t) => {
  const z4 = buildPacket({ ipv4: {}, udp: {}, l4Checksum: 'zero' });
  t.deepEqual(verifyChecksums(z4, parse(z4), z4.length), { ipv4: true, l4: true });
  const z6 = buildPacket({ ipv6: {}, udp: {}, l4Checksum: 'zero' });
  t.deepEqual(verifyChecksums(z6, parse(z6), z6.length), { l4: false });
  for (const ip of [{ ipv4: {} }, { ipv6: {} }]) {
    const s = buildPacket({ ...ip, sctp: { src: 7, dst: 9, vtag: 0xdeadbeef }, payload: Buffer.from('sctp data!') });
    const o = parse(s);
    t.is(sctpChecksum(s, o.l4, s.length), readSctpChecksum(s, o.l4));
    t.is(verifyChecksums(s, o, s.length).l4, true);
    const bad = buildPacket({ ...ip, sctp: {}, l4Checksum: 'bad' });
    t.is(verifyChecksums(bad, parse(bad), bad.length).l4, false);
  }
  // Fragments and truncated datagrams have no verifiable L4 checksum.
  const frag = buildPacket({ ipv4: { mf: true }, tcp: {} });
  t.deepEqual(verifyChecksums(frag, parse(frag), frag.length), { ipv4: true });
  const full = buildPacket({ ipv4: {}, tcp: {}, payload: new Uint8Array(20) });
  t.deepEqual(verifyChecksums(full, parse(full), full.length - 5), { ipv4: true });
});

test('completeChecksum finishes partial (offloaded) checksums as a full computation would', (t) => {
  for (const [name, desc, field] of L4_CASES) {
    if (desc.icmp) continue; // no pseudo-header: Linux never leaves ICMPv4 partial
    const partial = buildPacket({ ...desc, l4Checksum: 'partial' });
    const valid = buildPacket(desc);
    const off = parse(partial);
    t.true(completeChecksum(partial, off.l4, field, dgEnd(partial, off)), name);
    const got = (partial[off.l4 + field]! << 8) | partial[off.l4 + field + 1]!;
    const want = (valid[off.l4 + field]! << 8) | valid[off.l4 + field + 1]!;
    t.true(sameOnes(got, want), `${name}: ${got.toString(16)} vs ${want.toString(16)}`);
    t.is(verifyChecksums(partial, off, partial.length).l4, true, name);
  }
  // Out-of-range fields are refused without touching anything.
  const f = buildPacket({ ipv4: {}, udp: {} });
  const copy = Buffer.from(f);
  t.false(completeChecksum(f, 34, 8, 42));
  t.false(completeChecksum(f, -1, 6, 42));
  t.false(completeChecksum(f, 34, 6, f.length + 1));
  t.deepEqual(f, copy);
});

test('completeChecksum on random TCP/UDP payloads over IPv4 and IPv6 (fast-check)', (t) => {
  const ipv4 = fc.record({ src: fc.ipV4(), dst: fc.ipV4() }).map((a) => ({ ipv4: a }));
  const ipv6 = fc.record({ src: fc.ipV6(), dst: fc.ipV6() }).map((a) => ({ ipv6: a }));
  fc.assert(
    fc.property(
      fc.oneof(ipv4, ipv6),
      fc.boolean(),
      fc.uint8Array({ maxLength: 300 }),
      fc.integer({ min: 0, max: 0xffff }),
      (ip, tcp, payload, port) => {
        const desc: PacketDesc = { ...ip, ...(tcp ? { tcp: { src: port } } : { udp: { src: port } }), payload };
        const field = tcp ? 16 : 6;
        const partial = buildPacket({ ...desc, l4Checksum: 'partial' });
        const valid = buildPacket(desc);
        const off = parse(partial);
        completeChecksum(partial, off.l4, field, dgEnd(partial, off));
        const got = (partial[off.l4 + field]! << 8) | partial[off.l4 + field + 1]!;
        const want = (valid[off.l4 + field]! << 8) | valid[off.l4 + field + 1]!;
        return sameOnes(got, want) && got !== 0 && l4Checksum(valid, off, valid.length) === want;
      },
    ),
    { numRuns: 2000 },
  );
  t.pass();
});
