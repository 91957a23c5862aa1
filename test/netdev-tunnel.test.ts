/**
 * Tunnel ports (src/netdev/tunnel.ts). VXLAN and Geneve without root: the header codecs (Geneve
 * options included, bad datagrams refused with a reason), option parsing, two ports talking over
 * UDP on the loopback (127.0.0.1 <-> 127.0.0.2), the demultiplexing of one UDP port between
 * several tunnel ports, remote_ip=flow learning, garbage counted and never thrown; and the
 * datapath side of tunnel metadata: the key's tunnel words on receive (cleared for the next
 * packet in the same slot), set(tunnel_id) in the executor, and the exact-match cache telling
 * tunnels apart.
 *
 * GRE: the codec (annotated fixtures, one of them as scapy builds it), malformed packets refused
 * with a reason, its options; and, as root (raw IP sockets), GRE ports on loopback addresses
 * 127.A.B.x of this test's own (A.B from the PID): frames and metadata both ways, what goes on
 * the wire with and without key= (read by a raw socket of the test's), demultiplexing by remote
 * and key, malformed packets counted, a frame too long for IP, closing; and the
 * messages when the addon or CAP_NET_RAW is missing.
 */

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { OFPXMT } from '../proto/constants.js';
import { K, newKey, TUN_FLAG } from '../src/packet/key.js';
import { Packet, tunnelToKey, type TunnelMeta } from '../src/packet/packet.js';
import { buildPacket, parseIpv4 } from '../src/packet/build.js';
import type { Upcall } from '../src/dpif/dpif.js';
import { ExactMatchCache, emcHash } from '../src/dpif/emc.js';
import {
  TunnelNetdev, decodeGeneve, decodeGre, decodeVxlan, encodeGeneve, encodeGre, encodeVxlan, newTunnelHeader, parseTunnelOptions, ETH_P_TEB,
  IPPROTO_GRE, type TunnelType,
} from '../src/netdev/tunnel.js';
import { RawIpSocket } from '../src/netdev/rawip.js';
import { fold, onesSum } from '../src/packet/checksum.js';
import { parseConfig } from '../src/cli/config.js';
import { OFSWITCH_BIN } from './switch-process.js';
import type { Netdev } from '../src/netdev/netdev.js';
import { parsePortSpec } from '../src/cli/port-spec.js';
import { makeDp, match, udp, hex } from './dpif-fakes.js';

const ip4 = (s: string): number => Buffer.from(parseIpv4(s)).readUInt32BE(0);

const frame = (src = '10.0.0.1', dst = '10.0.0.2', ethSrc = '02:00:00:00:00:01', ethDst = '02:00:00:00:00:02'): Buffer =>
  buildPacket({ eth: { src: ethSrc, dst: ethDst }, ipv4: { src, dst }, udp: { src: 1000, dst: 53 }, payload: new Uint8Array(8) });

// ---------------------------------------------------------------------------------------------
// Codecs
// ---------------------------------------------------------------------------------------------

test('VXLAN: encode gives the RFC 7348 header, decode finds the VNI and the frame', (t) => {
  const f = frame();
  const d = encodeVxlan(0x123456, f);
  // flags I=0x08, 3 reserved, VNI 0x123456, 1 reserved
  t.is(hex(d.subarray(0, 8)), '0800000012345600');
  t.is(hex(d.subarray(8)), hex(f));
  const h = newTunnelHeader();
  t.is(decodeVxlan(d, h), undefined);
  t.is(h.vni, 0x123456);
  t.is(h.frameStart, 8);
  t.is(h.optLen, 0);
  t.is(encodeVxlan(0x1ffffff, f).readUInt32BE(4), 0xffffff00, 'a VNI keeps 24 bits');
});

test('VXLAN: short datagrams and a clear I flag are refused with a reason', (t) => {
  const h = newTunnelHeader();
  t.regex(decodeVxlan(new Uint8Array(8 + 13), h) ?? '', /short VXLAN datagram \(21 bytes\)/);
  const d = encodeVxlan(1, frame());
  d[0] = 0;
  t.is(decodeVxlan(d, h), 'VXLAN I flag clear');
  d[0] = 0xff; // other flag bits are ignored (RFC 7348 §5)
  t.is(decodeVxlan(d, h), undefined);
});

test('Geneve: options travel as TLVs; O and C bits; decode checks version, protocol and option tiling', (t) => {
  const f = frame();
  // Two options: class 0x0102 type 0x03 with 4 bytes of data; class 0xffff type 0x80 (critical), no data.
  const opts = Uint8Array.from([0x01, 0x02, 0x03, 0x01, 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0x80, 0x00]);
  const d = encodeGeneve(42, f, opts, true);
  t.is(hex(d.subarray(0, 8)), '03c06558' + '00002a00', 'optlen 3 words, O and C set, TEB, VNI 42');
  t.is(hex(d.subarray(8, 20)), hex(opts));
  t.is(hex(d.subarray(20)), hex(f));
  const h = newTunnelHeader();
  t.is(decodeGeneve(d, h), undefined);
  t.deepEqual({ ...h }, { vni: 42, flags: TUN_FLAG.KEY | TUN_FLAG.OAM, optStart: 8, optLen: 12, frameStart: 20 });
  t.is(encodeGeneve(7, f)[1], 0, 'no options: no C bit');

  const bad = (mutate: (b: Buffer) => Buffer | Uint8Array): string | undefined => decodeGeneve(mutate(Buffer.from(d)), newTunnelHeader());
  t.is(bad((b) => { b[0] = 0x40 | 3; return b; }), 'Geneve version 1');
  t.is(bad((b) => { b.writeUInt16BE(0x0800, 2); return b; }), 'Geneve protocol 0x0800 is not Ethernet');
  t.is(bad((b) => { b[11] = 0x03; return b; }), 'Geneve option overruns the options', 'the first option claims 12 bytes of data');
  t.is(bad((b) => { b[0] = 1; return b; }), 'Geneve option overruns the options', 'the area ends inside the first option');
  t.is(bad((b) => { b[11] = 0x00; return b; }), 'Geneve option overruns the options', 'the second header is read from the first one\'s data');
  t.is(bad((b) => { b[0] = 2; b[11] = 0x00; b[15] = 0x00; return b; }), undefined, 'two empty options tile 8 bytes');
  t.regex(bad((b) => b.subarray(0, 7)) ?? '', /short Geneve datagram \(7 bytes\)/);
  t.regex(bad((b) => b.subarray(0, 20 + 13)) ?? '', /short Geneve datagram \(33 bytes, 12 of options\)/);
  const big = encodeGeneve(1, f, Uint8Array.from({ length: 68 }, (_, i) => (i % 4 === 3 ? 0 : 1)));
  t.is(decodeGeneve(big, newTunnelHeader()), '68 bytes of Geneve options (at most 64 are kept)');
  t.is(ETH_P_TEB, 0x6558);
});

// An ICMP echo inside Ethernet, as scapy 2.5 builds it:
// Ether(src='02:00:00:00:00:01', dst='02:00:00:00:00:02')/IP(src='10.0.0.1', dst='10.0.0.2')/ICMP()
const ICMP_FRAME = '020000000002' + '020000000001' + '0800' + '4500001c00010000400166de0a0000010a000002' + '0800f7ff00000000';

test('GRE: encode gives the RFC 2784/2890 header; decode reads key, checksum and sequence back', (t) => {
  const f = Buffer.from(ICMP_FRAME, 'hex');
  const h = newTunnelHeader();
  // Nothing optional: flags/version 0, protocol 0x6558 (TEB), then the frame.
  const plain = encodeGre(f);
  t.is(hex(plain), '0000' + '6558' + ICMP_FRAME);
  t.is(decodeGre(plain, h), undefined);
  t.deepEqual({ ...h }, { vni: 0, flags: 0, optStart: 4, optLen: 0, frameStart: 4 });
  // K: the key word follows the base header; all 32 bits kept.
  const keyed = encodeGre(f, { key: 0xdeadbeef });
  t.is(hex(keyed.subarray(0, 8)), '2000' + '6558' + 'deadbeef');
  t.is(decodeGre(keyed, h), undefined);
  t.deepEqual({ ...h }, { vni: 0xdeadbeef, flags: TUN_FLAG.KEY, optStart: 8, optLen: 0, frameStart: 8 });
  t.is(hex(encodeGre(f, { key: 0 }).subarray(0, 8)), '2000655800000000', 'key 0 is a key: the K bit is set');
  // C, K and S as scapy writes them for GRE(chksum_present=1, key_present=1, key=42,
  // seqnum_present=1, proto=0x6558): checksum de79, reserved1 0, key 42, sequence 0.
  const all = encodeGre(f, { key: 42, csum: true, seq: 0 });
  t.is(hex(all), 'b000' + '6558' + 'de79' + '0000' + '0000002a' + '00000000' + ICMP_FRAME);
  t.is(decodeGre(all, h), undefined);
  t.deepEqual({ ...h }, { vni: 42, flags: TUN_FLAG.KEY | TUN_FLAG.CSUM, optStart: 16, optLen: 0, frameStart: 16 });
  // C and S without K: the sequence word is read past, the frame found after it.
  const cs = encodeGre(f, { csum: true, seq: 0x01020304 });
  t.is(hex(cs.subarray(0, 12).subarray(8)), '01020304');
  t.is(decodeGre(cs, h), undefined);
  t.deepEqual([h.vni, h.flags, h.frameStart], [0, TUN_FLAG.CSUM, 12]);
  // Checksums of odd lengths verify too (the last byte is padded with zero, RFC 1071).
  for (const n of [60, 61, 1499]) {
    const g = encodeGre(Buffer.alloc(n, 0xa5), { csum: true, key: n });
    t.is(fold(onesSum(g, 0, g.length)), 0xffff, `${n} bytes`);
    t.is(decodeGre(g, h), undefined);
    t.is(h.vni, n);
  }
});

test('GRE: malformed packets are refused with a reason; bits 6-12 are ignored', (t) => {
  const f = Buffer.from(ICMP_FRAME, 'hex');
  const good = encodeGre(f, { key: 7, csum: true });
  const bad = (mutate: (b: Buffer) => Buffer | Uint8Array): string | undefined => decodeGre(mutate(Buffer.from(good)), newTunnelHeader());
  t.is(bad((b) => b.subarray(0, 3)), 'short GRE packet (3 bytes)');
  t.is(bad((b) => b.subarray(0, 12 + 13)), 'short GRE packet (25 bytes, 12 of header)', 'no room for a frame after C and K');
  t.is(bad((b) => { b[1] = b[1]! | 1; return b; }), 'GRE version 1');
  t.is(bad((b) => { b[0] = b[0]! | 0x40; return b; }), 'GRE flags 0xe000: routing and strict source route (RFC 1701) are not supported');
  t.is(bad((b) => { b[0] = b[0]! | 0x08; return b; }), 'GRE flags 0xa800: routing and strict source route (RFC 1701) are not supported');
  t.is(bad((b) => { b.writeUInt16BE(0x0800, 2); return b; }), 'GRE protocol 0x0800 is not Ethernet');
  t.is(bad((b) => { b[b.length - 1] = b[b.length - 1]! ^ 0x10; return b; }), 'GRE checksum wrong', 'a payload byte changed');
  t.is(bad((b) => { b[11] = 8; return b; }), 'GRE checksum wrong', 'the key changed: the checksum covers the header too');
  t.is(bad((b) => { b[0] = b[0]! & 0x7f; return b; }), undefined, 'without C the same bytes are taken (the checksum word is not read as one)');
  // Bits 6-12 (recursion's low bits, flags) must be ignored on receipt (RFC 2784 §2.3).
  const quirky = encodeGre(f, { key: 7 });
  quirky[0] = quirky[0]! | 0x03;
  quirky[1] = quirky[1]! | 0xf8;
  const h = newTunnelHeader();
  t.is(decodeGre(quirky, h), undefined);
  t.is(h.vni, 7);
});

test('decoders never throw on random bytes', (t) => {
  let seed = 7;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
  const h = newTunnelHeader();
  for (let i = 0; i < 5000; i++) {
    const b = Uint8Array.from({ length: i % 120 }, rnd);
    if (i % 3 === 0 && b.length > 4) { b[0] = b[0]! & 0x3f; b[2] = 0x65; b[3] = 0x58; }
    const g = decodeGeneve(b, h);
    if (g === undefined) t.true(h.frameStart + 14 <= b.length && h.optLen <= 64);
    const v = decodeVxlan(b, h);
    if (v === undefined) t.true(b.length >= 22);
    if (i % 5 === 0 && b.length > 4) { b[0] = b[0]! & 0xb0; b[1] = 0; b[2] = 0x65; b[3] = 0x58; }
    const r = decodeGre(b, h);
    if (r === undefined) t.true(h.frameStart >= 4 && h.frameStart + 14 <= b.length && (h.flags & TUN_FLAG.KEY) === (b[0]! & 0x20 ? TUN_FLAG.KEY : 0));
  }
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

test('options: remote_ip required, IPv4 or flow; key a VNI or flow; dst_port; defaults', (t) => {
  t.deepEqual(parseTunnelOptions('vxlan', { remote_ip: '10.0.0.2' }), { remoteIp: '10.0.0.2', key: 0, dstPort: 4789 });
  t.deepEqual(parseTunnelOptions('geneve', { remote_ip: 'flow', key: 'flow', local_ip: '10.0.0.1', dst_port: '7000' }),
    { remoteIp: 'flow', localIp: '10.0.0.1', key: 'flow', dstPort: 7000 });
  t.deepEqual(parseTunnelOptions('geneve', { remote_ip: '1.2.3.4', key: '0xffffff' }), { remoteIp: '1.2.3.4', key: 0xffffff, dstPort: 6081 });
  t.is(parseTunnelOptions('vxlan', {}), 'a vxlan port needs remote_ip=IP or remote_ip=flow');
  t.is(parseTunnelOptions('vxlan', { remote_ip: 'host' }), 'remote_ip "host" is not an IPv4 address or "flow"');
  t.regex(String(parseTunnelOptions('vxlan', { remote_ip: '0.0.0.0' })), /use remote_ip=flow/);
  t.is(parseTunnelOptions('vxlan', { remote_ip: '1.2.3.4', key: '16777216' }), 'key "16777216" is not a VNI (0..16777215) or "flow"');
  t.is(parseTunnelOptions('vxlan', { remote_ip: '1.2.3.4', dst_port: '0' }), 'dst_port "0" is not a UDP port (1..65535)');
  t.is(parseTunnelOptions('vxlan', { remote_ip: '1.2.3.4', local_ip: '::1' }), 'local_ip "::1" is not an IPv4 address');

  t.deepEqual(parsePortSpec('vx0@3,type=vxlan,remote_ip=10.1.1.2,key=42'),
    { name: 'vx0', ofport: 3, type: 'vxlan' as never, options: { remote_ip: '10.1.1.2', key: '42' } });
  t.is(parsePortSpec('gn0,type=geneve,remote_ip=10.1.1.2,peer=x'),
    '--port "gn0,type=geneve,remote_ip=10.1.1.2,peer=x": unknown option "peer" for a geneve port (remote_ip, local_ip, key, dst_port)');
  t.is(parsePortSpec('gn0,type=geneve,key=1'), '--port "gn0,type=geneve,key=1": a geneve port needs remote_ip=IP or remote_ip=flow');
});

test('gre options: key absent, 0, 32 bits or flow; csum; no dst_port; the YAML form', (t) => {
  t.deepEqual(parseTunnelOptions('gre', { remote_ip: '10.0.0.2' }), { remoteIp: '10.0.0.2', csum: false }, 'no key: none sent');
  t.deepEqual(parseTunnelOptions('gre', { remote_ip: 'flow', key: '0', csum: 'true', local_ip: '10.0.0.1' }),
    { remoteIp: 'flow', localIp: '10.0.0.1', key: 0, csum: true });
  t.deepEqual(parseTunnelOptions('gre', { remote_ip: '1.2.3.4', key: '4294967295' }), { remoteIp: '1.2.3.4', key: 0xffffffff, csum: false });
  t.deepEqual(parseTunnelOptions('gre', { remote_ip: '1.2.3.4', key: '0xFFFFFFFF', csum: 'false' }), { remoteIp: '1.2.3.4', key: 0xffffffff, csum: false });
  t.deepEqual(parseTunnelOptions('gre', { remote_ip: '1.2.3.4', key: 'flow' }), { remoteIp: '1.2.3.4', key: 'flow', csum: false });
  t.is(parseTunnelOptions('gre', { remote_ip: '1.2.3.4', key: '4294967296' }), 'key "4294967296" is not a GRE key (0..4294967295) or "flow"');
  t.is(parseTunnelOptions('gre', { remote_ip: '1.2.3.4', key: '-1' }), 'key "-1" is not a GRE key (0..4294967295) or "flow"');
  t.is(parseTunnelOptions('gre', { remote_ip: '1.2.3.4', csum: 'yes' }), 'csum "yes" is not true or false');
  t.is(parseTunnelOptions('gre', { remote_ip: '1.2.3.4', dst_port: '47' }), 'a gre port takes no option "dst_port" (remote_ip, local_ip, key, csum)');
  t.is(parseTunnelOptions('vxlan', { remote_ip: '1.2.3.4', csum: 'true' }), 'a vxlan port takes no option "csum" (remote_ip, local_ip, key, dst_port)');
  t.is(parseTunnelOptions('gre', {}), 'a gre port needs remote_ip=IP or remote_ip=flow');
  t.is(TunnelNetdev.open('g-bad', 'gre', { remoteIp: '1.2.3.4', dstPort: 4789 }), 'gre port g-bad: a gre port takes no option "dst_port" (remote_ip, local_ip, key, csum)');

  t.deepEqual(parsePortSpec('g0@4,type=gre,remote_ip=10.1.1.2,key=flow,csum=true'),
    { name: 'g0', ofport: 4, type: 'gre', options: { remote_ip: '10.1.1.2', key: 'flow', csum: 'true' } });
  t.is(parsePortSpec('g0,type=gre,remote_ip=10.1.1.2,dst_port=1'),
    '--port "g0,type=gre,remote_ip=10.1.1.2,dst_port=1": unknown option "dst_port" for a gre port (remote_ip, local_ip, key, csum)');
  t.is(parsePortSpec('g0,type=gre,remote_ip=10.1.1.2,key=x'), '--port "g0,type=gre,remote_ip=10.1.1.2,key=x": key "x" is not a GRE key (0..4294967295) or "flow"');
  const c = parseConfig('bridges:\n  br0:\n    ports:\n      gre0: {ofport: 3, type: gre, remote_ip: 192.0.2.2, key: 42, csum: true}\n', 'sw.yaml');
  if (typeof c === 'string') return t.fail(c);
  t.deepEqual(c.bridges[0]!.ports, [{ name: 'gre0', ofport: 3, type: 'gre', options: { remote_ip: '192.0.2.2', key: '42', csum: 'true' } }]);
  t.is(parseConfig('bridges:\n  br0:\n    ports:\n      gre0: {type: gre, remote_ip: 192.0.2.2, csum: maybe}\n', 'sw.yaml'),
    'sw.yaml: bridges.br0.ports.gre0: csum "maybe" is not true or false');
  return undefined;
});

// ---------------------------------------------------------------------------------------------
// Ports on the loopback
// ---------------------------------------------------------------------------------------------

/** A UDP port free on 127.0.0.1 right now (tunnel ports of a test use it on .1 and .2). */
async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

function open(name: string, type: TunnelType, o: Record<string, string>): TunnelNetdev {
  const opts = parseTunnelOptions(type, o);
  if (typeof opts === 'string') throw new Error(opts);
  const d = TunnelNetdev.open(name, type, opts);
  if (typeof d === 'string') throw new Error(d);
  return d;
}

/** Collects batches a netdev delivers; `next(n)` waits for n packets in all. */
function collect(dev: Netdev): { got: Packet[][]; next: (n: number) => Promise<Packet[]> } {
  const got: Packet[][] = [];
  const w = arrivals(dev.name, () => got.flat());
  dev.setReceiver((b) => { got.push(b); w.arrived(); });
  return { got, next: w.next };
}

/** Waiting for things to arrive: next(n) resolves with all() once it holds n (10 s at most). */
function arrivals<T>(what: string, all: () => T[]): { arrived: () => void; next: (n: number) => Promise<T[]> } {
  let waiter: (() => void) | undefined;
  return {
    arrived: () => waiter?.(),
    next: (n) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: ${all().length} of ${n} packets`)), 10_000);
      const check = () => {
        if (all().length >= n) { clearTimeout(timer); waiter = undefined; resolve(all()); }
      };
      waiter = check;
      check();
    }),
  };
}

async function raw(): Promise<Socket> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.3', () => r()));
  return s;
}

const sendRaw = (s: Socket, b: Uint8Array, port: number, addr: string) => new Promise<void>((r, j) => s.send(b, port, addr, (e) => (e ? j(e) : r())));
const tick = () => new Promise((r) => setImmediate(r));
const settle = () => new Promise((r) => setTimeout(r, 100));

for (const type of ['vxlan', 'geneve'] as const) {
  test.serial(`${type}: two ports exchange frames with the key; metadata on receive; delivery from the event loop`, async (t) => {
    const port = String(await freeUdpPort());
    const a = open('ta', type, { remote_ip: '127.0.0.2', local_ip: '127.0.0.1', key: '42', dst_port: port });
    const b = open('tb', type, { remote_ip: '127.0.0.1', local_ip: '127.0.0.2', key: '42', dst_port: port });
    try {
      t.is(await a.ready, undefined);
      t.is(await b.ready, undefined);
      const rb = collect(b);
      const f = frame();
      const p = Packet.from(f);
      t.is(a.send([p, p]), 2);
      const got = await rb.next(2);
      t.is(hex(got[0]!.bytes()), hex(f));
      const m = got[0]!.tunnel!;
      t.deepEqual({ ...m, options: [...m.options] }, {
        idHi: 0, idLo: 42, src: ip4('127.0.0.1'), dst: ip4('127.0.0.2'), tpSrc: Number(port), tpDst: Number(port),
        tosTtl: 0, flags: TUN_FLAG.KEY, options: [],
      });
      t.is(a.stats().txPackets, 2n);
      t.is(b.stats().rxPackets, 2n);
      t.is(b.stats().rxBytes, BigInt(2 * f.length));
      // A frame with room to grow: a push into the headroom (where the header was) works.
      const g = got[1]!;
      g.insert(12, 4);
      t.is(g.length, f.length + 4);
    } finally {
      a.close();
      b.close();
    }
  });

  test.serial(`${type}: bad datagrams, other VNIs and other senders are counted, dropped, never thrown`, async (t) => {
    const port = Number(await freeUdpPort());
    const b = open('tb', type, { remote_ip: '127.0.0.3', local_ip: '127.0.0.2', key: '5', dst_port: String(port) });
    const s = await raw();
    try {
      await b.ready;
      const rb = collect(b);
      await sendRaw(s, new Uint8Array(3), port, '127.0.0.2');
      await sendRaw(s, new Uint8Array(200).fill(0x41), port, '127.0.0.2');
      const enc = (vni: number) => (type === 'vxlan' ? encodeVxlan(vni, frame()) : encodeGeneve(vni, frame()));
      await sendRaw(s, enc(6), port, '127.0.0.2'); // another VNI
      await sendRaw(s, enc(5), port, '127.0.0.2'); // this one is ours
      await rb.next(1);
      await settle();
      const st = b.stats();
      t.is(st.rxErrors, 2n);
      t.is(st.rxDropped, 1n);
      t.is(st.rxPackets, 1n);
    } finally {
      s.close();
      b.close();
    }
  });
}

test.serial('one UDP port, several tunnel ports: demultiplexed by remote_ip and key; clashes refused', async (t) => {
  const port = String(await freeUdpPort());
  const exact = open('t-exact', 'vxlan', { remote_ip: '127.0.0.3', local_ip: '127.0.0.2', key: '7', dst_port: port });
  const anyKey = open('t-anykey', 'vxlan', { remote_ip: '127.0.0.3', local_ip: '127.0.0.2', key: 'flow', dst_port: port });
  const anyIp = open('t-anyip', 'vxlan', { remote_ip: 'flow', local_ip: '127.0.0.2', key: '7', dst_port: port });
  const devs = [exact, anyKey, anyIp];
  const s = await raw();
  const s4 = createSocket('udp4');
  await new Promise<void>((r) => s4.bind(0, '127.0.0.4', () => r()));
  try {
    t.is(TunnelNetdev.open('t-dup', 'vxlan', { remoteIp: '127.0.0.3', localIp: '127.0.0.2', key: 7, dstPort: Number(port) }),
      `vxlan port t-dup: port t-exact already takes remote_ip=127.0.0.3 key=7 on 127.0.0.2:${port}`);
    t.is(TunnelNetdev.open('t-gn', 'geneve', { remoteIp: '127.0.0.3', localIp: '127.0.0.2', dstPort: Number(port) }),
      `geneve port t-gn: 127.0.0.2:${port} carries vxlan for port t-exact`);
    t.regex(String(TunnelNetdev.open('t-wild', 'vxlan', { remoteIp: '127.0.0.3', dstPort: Number(port) })),
      /UDP port \d+ is bound to 127\.0\.0\.2 by port t-exact; ports sharing a UDP port need the same local_ip/);
    for (const d of devs) t.is(await d.ready, undefined);
    const rx = devs.map(collect);
    await sendRaw(s, encodeVxlan(7, frame()), Number(port), '127.0.0.2'); // exact
    await sendRaw(s, encodeVxlan(8, frame()), Number(port), '127.0.0.2'); // same remote, other key
    await sendRaw(s4, encodeVxlan(7, frame()), Number(port), '127.0.0.2'); // other remote, key 7
    await sendRaw(s4, encodeVxlan(9, frame()), Number(port), '127.0.0.2'); // nobody's
    await Promise.all(rx.map((r) => r.next(1)));
    await settle();
    t.deepEqual(rx.map((r) => r.got.flat().map((p) => p.tunnel!.idLo)), [[7], [8], [7]]);
    t.is(rx[2]!.got[0]![0]!.tunnel!.src, ip4('127.0.0.4'));
    t.is(exact.stats().rxDropped, 1n, 'what no port takes is counted on the first');
    // The socket stays while a port uses it; a new port may take the freed (remote, key).
    exact.close();
    const again = open('t-again', 'vxlan', { remote_ip: '127.0.0.3', local_ip: '127.0.0.2', key: '7', dst_port: port });
    devs.push(again);
    t.is(await again.ready, undefined);
  } finally {
    s.close();
    s4.close();
    for (const d of devs) d.close();
  }
});

test.serial('key=flow sends the packet\'s tunnel_id; remote_ip=flow learns where inner MACs live', async (t) => {
  const port = String(await freeUdpPort());
  const a = open('ta', 'geneve', { remote_ip: '127.0.0.2', local_ip: '127.0.0.1', key: 'flow', dst_port: port });
  const b = open('tb', 'geneve', { remote_ip: 'flow', local_ip: '127.0.0.2', key: 'flow', dst_port: port });
  try {
    await a.ready;
    await b.ready;
    const ra = collect(a);
    const rb = collect(b);
    const p = Packet.from(frame('10.0.0.1', '10.0.0.2', '02:00:00:00:00:0a', '02:00:00:00:00:0b'));
    const opts = Uint8Array.from([0x01, 0x02, 0x03, 0x01, 1, 2, 3, 4]);
    p.tunnel = { idHi: 0, idLo: 0x1000077, src: 0, dst: 0, tpSrc: 0, tpDst: 0, tosTtl: 0, flags: 0, options: opts };
    t.is(b.send([Packet.from(frame())]), 0, 'remote_ip=flow has heard from nobody yet: dropped');
    t.is(b.stats().txDropped, 1n);
    t.is(a.send([p]), 1);
    const [got] = await rb.next(1);
    t.is(got!.tunnel!.idLo, 0x77, 'the low 24 bits of tunnel_id');
    t.deepEqual([...got!.tunnel!.options], [...opts], 'Geneve options the packet carries go out');
    // b learned 02:..:0a behind 127.0.0.1: a reply to it goes there, with its tunnel_id (none: 0).
    t.is(b.send([Packet.from(frame('10.0.0.2', '10.0.0.1', '02:00:00:00:00:0b', '02:00:00:00:00:0a'))]), 1);
    const [back] = await ra.next(1);
    t.is(back!.tunnel!.idLo, 0);
    t.is(back!.tunnel!.src, ip4('127.0.0.2'));
    // Broadcast goes to every far end heard from (one here).
    t.is(b.send([Packet.from(frame('10.0.0.2', '10.0.0.1', '02:00:00:00:00:0b', 'ff:ff:ff:ff:ff:ff'))]), 1);
    await ra.next(2);
  } finally {
    a.close();
    b.close();
  }
});

test.serial('a port whose UDP port is taken goes down with the reason', async (t) => {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  t.teardown(() => { try { s.close(); } catch { /* closed by the test */ } });
  const d = open('tbusy', 'vxlan', { remote_ip: '127.0.0.2', local_ip: '127.0.0.1', dst_port: String(port) });
  const states: boolean[] = [];
  d.status$.subscribe((st) => states.push(st.up));
  try {
    t.is(await d.ready, `vxlan 127.0.0.1:${port}: EADDRINUSE`);
    t.false(d.up);
    t.deepEqual(states, [false]);
    t.is(d.error, `vxlan 127.0.0.1:${port}: EADDRINUSE`);
    t.is(d.send([Packet.from(frame())]), 0);
    t.is(d.stats().txDropped, 1n);
    // The failed socket is forgotten: once the port is free, a new tunnel port binds it.
    d.close();
    await new Promise<void>((r) => s.close(() => r()));
    const e = open('tfree', 'vxlan', { remote_ip: '127.0.0.2', local_ip: '127.0.0.1', dst_port: String(port) });
    t.is(await e.ready, undefined);
    e.close();
  } finally {
    d.close();
  }
});

test.serial('receive is never synchronous with send, even to oneself', async (t) => {
  const port = String(await freeUdpPort());
  const a = open('tself', 'vxlan', { remote_ip: '127.0.0.1', local_ip: '127.0.0.1', dst_port: port });
  try {
    await a.ready;
    let inSend = false;
    let sawInSend = false;
    let n = 0;
    a.setReceiver((b) => { if (inSend) sawInSend = true; n += b.length; });
    inSend = true;
    a.send(Array.from({ length: 40 }, () => Packet.from(frame())));
    inSend = false;
    for (let i = 0; i < 50 && n < 40; i++) await settle();
    t.is(n, 40);
    t.false(sawInSend);
  } finally {
    a.close();
  }
});

// ---------------------------------------------------------------------------------------------
// GRE ports over raw IP sockets (root)
// ---------------------------------------------------------------------------------------------

/** Loopback addresses of this test's own: 127.A.B.h (every 127/8 address is the host's). */
const LO = (h: number) => `127.${1 + (process.pid % 250)}.${(process.pid >>> 8) & 0xff}.${h}`;
const root = process.getuid?.() === 0;
const NEEDS_ROOT = 'GRE ports need root (CAP_NET_RAW for raw IP sockets): run the suite as root';

function openGre(name: string, o: Record<string, string>): TunnelNetdev {
  return open(name, 'gre', o);
}

/** A raw GRE socket of the test's own, bound to `local`: what arrives there, and a way to send crafted payloads. */
function greWire(local: string): { got: Buffer[]; next: (n: number) => Promise<Buffer[]>; send: (payload: Uint8Array, to: string) => void; close: () => void } {
  const got: Buffer[] = [];
  const w = arrivals(`wire ${local}`, () => got);
  const s = RawIpSocket.open('test socket', IPPROTO_GRE, ip4(local), {
    packet: (buf, start) => { got.push(buf.subarray(start)); w.arrived(); },
    bad: () => {},
    error: () => {},
  });
  if (typeof s === 'string') throw new Error(s);
  return {
    got,
    next: w.next,
    send: (payload, to) => {
      const sent = new Uint8Array(1);
      if (s.send([payload], [ip4(to)], 1, sent) !== 1) throw new Error(`wire ${local}: not sent`);
    },
    close: () => s.close(),
  };
}

/** Frames told apart by their payload. */
const numbered = (i: number): Buffer =>
  buildPacket({ eth: { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { src: 1000, dst: 53 }, payload: Buffer.alloc(8 + (i % 50), i & 0xff) });

const defaultTtl = () => Number(readFileSync('/proc/sys/net/ipv4/ip_default_ttl', 'utf8').trim());

test.serial('gre: two ports exchange frames with the key; metadata from the outer IP header; a batch arrives whole and in order', async (t) => {
  if (!root) return t.fail(NEEDS_ROOT);
  const a = openGre('ga', { remote_ip: LO(2), local_ip: LO(1), key: '42', csum: 'true' });
  const b = openGre('gb', { remote_ip: LO(1), local_ip: LO(2), key: '42' });
  try {
    t.is(await a.ready, undefined);
    const ra = collect(a);
    const rb = collect(b);
    const frames = Array.from({ length: 100 }, (_, i) => numbered(i));
    t.is(a.send(frames.map((f) => Packet.from(f))), 100);
    const got = await rb.next(100);
    t.deepEqual(got.map((p) => hex(p.bytes())), frames.map(hex), 'every frame, intact, in order');
    t.true(rb.got.every((batch) => batch.length <= 32), 'batches of at most RX_BATCH');
    const m = got[0]!.tunnel!;
    t.deepEqual({ ...m, options: [...m.options] }, {
      idHi: 0, idLo: 42, src: ip4(LO(1)), dst: ip4(LO(2)), tpSrc: 0, tpDst: 0, tosTtl: defaultTtl(),
      flags: TUN_FLAG.KEY | TUN_FLAG.CSUM, options: [],
    }, 'a sends checksums (csum=true): the metadata says so');
    t.is(b.send([Packet.from(frames[3]!)]), 1);
    const [back] = await ra.next(1);
    t.is(hex(back!.bytes()), hex(frames[3]!));
    t.is(back!.tunnel!.flags, TUN_FLAG.KEY, 'b sends none');
    t.is(back!.tunnel!.dst, ip4(LO(1)));
    t.is(a.stats().txPackets, 100n);
    t.is(a.stats().txBytes, BigInt(frames.reduce((n, f) => n + f.length, 0)));
    t.is(b.stats().rxPackets, 100n);
    t.is(b.stats().rxErrors, 0n);
    // The GRE header is headroom now: a push in front of the frame needs no copy of it.
    const g = got[1]!;
    const buf = g.buf;
    g.insert(12, 4);
    t.is(g.buf, buf);
    t.is(g.length, frames[1]!.length + 4);
  } finally {
    a.close();
    b.close();
  }
  return undefined;
});

test.serial('gre: no key sends no K bit, key=0 sends key 0 and both take keyless and key-0 packets; key=flow sends tunnel_id', async (t) => {
  if (!root) return t.fail(NEEDS_ROOT);
  const wire = greWire(LO(3));
  const f = frame();
  let none = openGre('g-none', { remote_ip: LO(3), local_ip: LO(1) });
  const flow = openGre('g-flow', { remote_ip: LO(3), local_ip: LO(1), key: 'flow' });
  let zero: TunnelNetdev | undefined;
  try {
    t.is(TunnelNetdev.open('g-zero', 'gre', { remoteIp: LO(3), localIp: LO(1), key: 0 }),
      `gre port g-zero: port g-none already takes remote_ip=${LO(3)} key=0 on ${LO(1)} (GRE)`, 'no key and key=0 take the same packets');
    t.is(none.send([Packet.from(f)]), 1);
    const p = Packet.from(f);
    p.tunnel = { idHi: 7, idLo: 0x89abcdef, src: 0, dst: 0, tpSrc: 0, tpDst: 0, tosTtl: 0, flags: 0, options: new Uint8Array(0) };
    t.is(flow.send([p]), 1);
    await wire.next(2);
    t.is(hex(wire.got[0]!), '00006558' + hex(f), 'no key: no K bit, no key word');
    t.is(hex(wire.got[1]!), '20006558' + '89abcdef' + hex(f), 'key=flow: the low 32 bits of tunnel_id');
    // The far end sends a keyless packet, one with key 0 and one with key 5: the first two are
    // the no-key port's, the last is key=flow's.
    const rn = collect(none);
    const rf = collect(flow);
    wire.send(encodeGre(f), LO(1));
    wire.send(encodeGre(f, { key: 0 }), LO(1));
    wire.send(encodeGre(f, { key: 5, seq: 99 }), LO(1));
    const [keyless, key0] = await rn.next(2);
    t.deepEqual([keyless!.tunnel!.idLo, keyless!.tunnel!.flags], [0, 0], 'keyless: tunnel_id 0, no KEY flag');
    t.deepEqual([key0!.tunnel!.idLo, key0!.tunnel!.flags], [0, TUN_FLAG.KEY]);
    const [five] = await rf.next(1);
    t.is(five!.tunnel!.idLo, 5);
    none.close();
    zero = openGre('g-zero', { remote_ip: LO(3), local_ip: LO(1), key: '0' });
    t.is(zero.send([Packet.from(f)]), 1);
    await wire.next(3);
    t.is(hex(wire.got[2]!), '20006558' + '00000000' + hex(f), 'key=0: the K bit with key 0');
    const rz = collect(zero);
    wire.send(encodeGre(f), LO(1));
    t.is((await rz.next(1))[0]!.tunnel!.idLo, 0, 'key=0 takes keyless packets too');
    none = zero;
  } finally {
    wire.close();
    none.close();
    flow.close();
    zero?.close();
  }
  return undefined;
});

test.serial('gre: demultiplexed by remote and key; malformed packets and clashes refused, counted, never thrown', async (t) => {
  if (!root) return t.fail(NEEDS_ROOT);
  const exact = openGre('g-exact', { remote_ip: LO(3), local_ip: LO(2), key: '7' });
  const anyKey = openGre('g-anykey', { remote_ip: LO(3), local_ip: LO(2), key: 'flow' });
  const anyIp = openGre('g-anyip', { remote_ip: 'flow', local_ip: LO(2), key: '7' });
  const devs = [exact, anyKey, anyIp];
  const w3 = greWire(LO(3));
  const w4 = greWire(LO(4));
  try {
    t.is(TunnelNetdev.open('g-dup', 'gre', { remoteIp: LO(3), localIp: LO(2), key: 7 }),
      `gre port g-dup: port g-exact already takes remote_ip=${LO(3)} key=7 on ${LO(2)} (GRE)`);
    t.is(TunnelNetdev.open('g-far', 'gre', { remoteIp: LO(3), localIp: '192.0.2.77' }),
      'gre port g-far: local_ip 192.0.2.77 is not an address of this host (bind 192.0.2.77: Cannot assign requested address)');
    t.is(TunnelNetdev.open('g-wild', 'gre', { remoteIp: LO(3) }),
      `gre port g-wild: GRE is taken on ${LO(2)} by port g-exact; a GRE socket on every address and one on a single address would both get each packet: give the ports the same local_ip`);
    const rx = devs.map(collect);
    const f = frame();
    w3.send(encodeGre(f, { key: 7 }), LO(2)); // exact
    w3.send(encodeGre(f, { key: 8, csum: true }), LO(2)); // same remote, other key
    w4.send(encodeGre(f, { key: 7, seq: 1 }), LO(2)); // other remote, key 7
    w4.send(encodeGre(f, { key: 9 }), LO(2)); // nobody's
    w4.send(encodeGre(f), LO(2)); // keyless is key 0: nobody's either
    // Malformed, from the exact port's far end.
    const good = encodeGre(f, { key: 7, csum: true });
    const corrupt = Buffer.from(good);
    corrupt[corrupt.length - 1] = corrupt[corrupt.length - 1]! ^ 1;
    const v1 = Buffer.from(good);
    v1[1] = 1;
    const ipInside = Buffer.from(good);
    ipInside.writeUInt16BE(0x0800, 2);
    const routed = Buffer.from(good);
    routed[0] = routed[0]! | 0x40;
    for (const b of [new Uint8Array(3), corrupt, v1, ipInside, routed, good.subarray(0, 20)]) w3.send(b, LO(2));
    w3.send(good, LO(2)); // and a last good one: everything before it has been read
    await rx[0]!.next(2);
    await Promise.all([rx[1]!.next(1), rx[2]!.next(1)]);
    await settle();
    t.deepEqual(rx.map((r) => r.got.flat().map((p) => p.tunnel!.idLo)), [[7, 7], [8], [7]]);
    t.is(rx[1]!.got[0]![0]!.tunnel!.flags, TUN_FLAG.KEY | TUN_FLAG.CSUM);
    t.is(rx[2]!.got[0]![0]!.tunnel!.src, ip4(LO(4)));
    t.is(exact.stats().rxErrors, 6n, 'short, bad checksum, version 1, IPv4 inside, routing, no room for a frame');
    t.is(exact.stats().rxDropped, 2n, 'what no port takes is counted on the first');
    t.is(anyKey.stats().rxErrors + anyIp.stats().rxErrors, 0n);
  } finally {
    w3.close();
    w4.close();
    for (const d of devs) d.close();
  }
  return undefined;
});

test.serial('gre: remote_ip=flow learns where inner MACs live, as the UDP tunnels do', async (t) => {
  if (!root) return t.fail(NEEDS_ROOT);
  const a = openGre('ga', { remote_ip: LO(2), local_ip: LO(1), key: '3' });
  const b = openGre('gb', { remote_ip: 'flow', local_ip: LO(2), key: '3' });
  try {
    const ra = collect(a);
    const rb = collect(b);
    t.is(b.send([Packet.from(frame())]), 0, 'heard from nobody yet');
    t.is(a.send([Packet.from(frame('10.0.0.1', '10.0.0.2', '02:00:00:00:00:0a', '02:00:00:00:00:0b'))]), 1);
    await rb.next(1);
    t.is(b.send([Packet.from(frame('10.0.0.2', '10.0.0.1', '02:00:00:00:00:0b', '02:00:00:00:00:0a'))]), 1);
    const [back] = await ra.next(1);
    t.is(back!.tunnel!.src, ip4(LO(2)));
    t.is(back!.tunnel!.idLo, 3);
  } finally {
    a.close();
    b.close();
  }
  return undefined;
});

test.serial('gre: a frame too long for IP is dropped and counted, the rest of its batch goes; close is safe and idempotent', async (t) => {
  if (!root) return t.fail(NEEDS_ROOT);
  const a = openGre('ga', { remote_ip: LO(2), local_ip: LO(1) });
  const b = openGre('gb', { remote_ip: LO(1), local_ip: LO(2) });
  try {
    const rb = collect(b);
    const huge = Packet.from(Buffer.alloc(65_600, 1));
    t.is(a.send([huge, Packet.from(numbered(1)), huge, Packet.from(numbered(2))]), 2);
    t.is(a.stats().txDropped, 2n);
    const got = await rb.next(2);
    t.deepEqual(got.map((p) => hex(p.bytes())), [hex(numbered(1)), hex(numbered(2))]);
    // b leaves (twice: closing is idempotent); a still sends (what becomes of it is the far
    // end's business: an unconnected raw socket hears nothing of the ICMP answer).
    b.close();
    b.close();
    t.is(a.send([Packet.from(frame())]), 1);
    a.close();
    a.close();
    t.is(a.send([Packet.from(frame())]), 0);
    t.is(a.stats().txDropped, 3n);
    // The socket is gone with its last port: a new port on the same address opens a new one.
    const again = openGre('gagain', { remote_ip: LO(2), local_ip: LO(1) });
    t.is(again.send([Packet.from(frame())]), 1);
    again.close();
  } finally {
    a.close();
    b.close();
  }
  return undefined;
});

test('gre: without the native addon, or without CAP_NET_RAW, the port is refused naming what is missing', (t) => {
  const run = (env: NodeJS.ProcessEnv, uid?: number) => spawnSync(process.execPath, [OFSWITCH_BIN, 'start', '--port', 'g0,type=gre,remote_ip=192.0.2.2', '--socket', '/nonexistent/ctl'], {
    encoding: 'utf8', env: { ...process.env, ...env }, cwd: '/', ...(uid !== undefined ? { uid, gid: uid } : {}),
  });
  const noAddon = run({ OFSWITCH_NATIVE: '/nonexistent/ofnet.node' });
  t.is(noAddon.status, 1);
  t.regex(noAddon.stderr, /gre port g0: raw IP sockets need the native addon .*\/nonexistent\/ofnet\.node was not built.*npm run build:native/);
  if (!root) return t.log('not root: the CAP_NET_RAW case needs a user to drop to');
  const noCap = run({}, 65534);
  t.is(noCap.status, 1);
  t.regex(noCap.stderr, /gre port g0 needs CAP_NET_RAW for a raw IP socket \(run as root\): socket\(AF_INET, SOCK_RAW\): Operation not permitted/);
  return undefined;
});

// ---------------------------------------------------------------------------------------------
// The datapath side
// ---------------------------------------------------------------------------------------------

const meta = (vni: number, src = '192.0.2.1', options: number[] = []): TunnelMeta => ({
  idHi: 0, idLo: vni, src: ip4(src), dst: ip4('192.0.2.2'), tpSrc: 50000, tpDst: 4789, tosTtl: 0, flags: TUN_FLAG.KEY,
  options: Uint8Array.from(options),
});

const withTunnel = (f: Uint8Array, m: TunnelMeta | undefined): Packet => {
  const p = Packet.from(f);
  p.tunnel = m;
  return p;
};

test('tunnelToKey writes the tunnel words and clears them', (t) => {
  const k = newKey().fill(0xaaaaaaaa);
  tunnelToKey({ ...meta(0x42, '192.0.2.1', [1, 2, 3, 4, 5, 6, 7, 8]), idHi: 9 }, k);
  t.is(k[K.TUN_ID], 9);
  t.is(k[K.TUN_ID + 1], 0x42);
  t.is(k[K.TUN_IPV4_SRC], ip4('192.0.2.1'));
  t.is(k[K.TUN_IPV6_SRC], 0);
  t.is(k[K.TUN_TP], (50000 << 16 | 4789) >>> 0);
  t.is(k[K.TUN_GENEVE_LEN], 8);
  t.deepEqual([...k.subarray(K.TUN_GENEVE, K.TUN_GENEVE + 3)], [0x01020304, 0x05060708, 0]);
  t.is(k[K.METADATA], 0xaaaaaaaa, 'other metadata untouched');
  tunnelToKey(undefined, k);
  t.true(k.subarray(K.TUN_ID, K.PACKET).every((w) => w === 0));
  t.is(k[K.PACKET], 0xaaaaaaaa);
});

test('receive: the key gets the tunnel words; a later packet in the same slot gets none', (t) => {
  const { dp, ports } = makeDp(2);
  const got: Upcall[] = [];
  dp.upcall$.subscribe((u) => got.push(...u));
  const f = udp();
  ports[0]!.rx!([withTunnel(f, meta(42, '192.0.2.1', [0, 1, 2, 0])), Packet.from(f)]);
  ports[0]!.rx!([Packet.from(f)]);
  t.is(got.length, 3);
  t.is(got[0]!.key[K.TUN_ID + 1], 42);
  t.is(got[0]!.key[K.TUN_IPV4_SRC], ip4('192.0.2.1'));
  t.is(got[0]!.key[K.TUN_GENEVE_LEN], 4);
  for (const u of got.slice(1)) t.true(u.key.subarray(K.TUN_ID, K.PACKET).every((w) => w === 0), 'no stale tunnel words');
  t.is(got[0]!.packet.tunnel?.idLo, 42, 'the upcall packet keeps its metadata (execute and output read it)');
});

test('a megaflow on tunnel_id sorts tunneled packets; the EMC keeps them apart', (t) => {
  // emcMinSearchCost 0: the EMC is consulted even for this one cheap flow.
  const { dp, ports } = makeDp(3, { emcMinSearchCost: 0 });
  dp.flowPut({ ...match(1, [[K.TUN_ID, 0], [K.TUN_ID + 1, 42]]), actions: [{ type: 'output', port: 2 }] });
  dp.flowPut({ ...match(1, [[K.TUN_ID, 0], [K.TUN_ID + 1, 43]]), actions: [{ type: 'output', port: 3 }] });
  const f = udp();
  for (let i = 0; i < 3; i++) {
    ports[0]!.rx!([withTunnel(f, meta(42)), withTunnel(f, meta(43)), withTunnel(f, meta(42)), withTunnel(f, meta(43))]);
  }
  t.is(ports[1]!.sent.length, 6);
  t.is(ports[2]!.sent.length, 6);
  const st = dp.stats();
  t.is(st.hit, 12n);
  t.true(st.emcHit >= 8n, `EMC hits ${st.emcHit}`);
});

test('EMC: tunnel words are compared (options up to their length); keys with tunnel words but no source are refused', (t) => {
  const emc = new ExactMatchCache<{ dead: boolean }>(64);
  const base = newKey();
  base[K.IN_PORT] = base[K.IN_PHY_PORT] = 1;
  base[K.ETH_TYPE] = 0x0800;
  const a = base.slice();
  tunnelToKey(meta(42, '192.0.2.1', [1, 1, 1, 0]), a);
  const flow = { dead: false };
  emc.insert(a, emcHash(a), flow);
  t.is(emc.lookup(a, emcHash(a)), flow);
  const variants: Array<[string, Uint32Array]> = [];
  const v = (name: string, m: TunnelMeta) => { const k = base.slice(); tunnelToKey(m, k); variants.push([name, k]); };
  v('source', meta(42, '192.0.2.9', [1, 1, 1, 0]));
  v('options', meta(42, '192.0.2.1', [1, 1, 2, 0]));
  v('option length', meta(42, '192.0.2.1', [1, 1, 1, 0, 0, 0, 0, 0]));
  v('udp ports', { ...meta(42, '192.0.2.1', [1, 1, 1, 0]), tpSrc: 1 });
  variants.push(['no tunnel', base]);
  for (const [name, k] of variants) {
    t.is(emc.lookup(k, emcHash(a)), undefined, name); // the same hash: only the compare tells them apart
  }
  // The other way round: a stored plain key must not match a tunneled one.
  const plain = new ExactMatchCache<{ dead: boolean }>(64);
  plain.insert(base, emcHash(base), flow);
  t.is(plain.lookup(a, emcHash(base)), undefined);
  // Tunnel words without an outer source: refused (the compare would skip them).
  const odd = base.slice();
  odd[K.TUN_ID + 1] = 5;
  const before = plain.count();
  plain.insert(odd, 12345, flow);
  t.is(plain.count(), before);
});

test('execute: set(tunnel_id) changes the metadata outputs see, not earlier copies; upcall keys follow it', (t) => {
  const { dp, ports } = makeDp(3);
  const ups: Upcall[] = [];
  dp.upcall$.subscribe((u) => ups.push(...u));
  const id = (n: bigint) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(n); return new Uint8Array(b); };
  dp.flowPut({
    ...match(1), actions: [
      { type: 'output', port: 2 },
      { type: 'set', field: OFPXMT.TUNNEL_ID, value: id(0x1_0000_0099n) },
      { type: 'output', port: 3 },
      { type: 'userspace', cookie: { kind: 'controller', reason: 1, tableId: 0, cookie: 0n, metadata: 0n, inPort: 1, bridge: 'br0' } },
    ],
  });
  const p = withTunnel(udp(), meta(7));
  ports[0]!.rx!([p]);
  t.is(ports[1]!.sentPackets[0]!.tunnel?.idLo, 7);
  t.deepEqual([ports[2]!.sentPackets[0]!.tunnel?.idHi, ports[2]!.sentPackets[0]!.tunnel?.idLo], [1, 0x99]);
  t.is(ports[2]!.sentPackets[0]!.tunnel?.src, ip4('192.0.2.1'), 'the rest of the metadata stays');
  t.is(ups.length, 1);
  t.deepEqual([ups[0]!.key[K.TUN_ID], ups[0]!.key[K.TUN_ID + 1]], [1, 0x99]);
  t.is(dp.counters().actionErrors, 0);

  // A packet from no tunnel gets metadata with only the id; execute() fills the key from metadata.
  const q = Packet.from(udp());
  dp.execute({ packet: q, inPort: 1, actions: [{ type: 'set', field: OFPXMT.TUNNEL_ID, value: id(5n) }, { type: 'output', port: 2 }] });
  t.is(ports[1]!.sentPackets[1]!.tunnel?.idLo, 5);
  t.is(ports[1]!.sentPackets[1]!.tunnel?.src, 0);
  t.is(q.tunnel?.idLo, 5, 'the caller\'s packet changed in place, as header actions do');
  dp.execute({ packet: withTunnel(udp(), meta(77)), inPort: 1, actions: [{ type: 'userspace', cookie: { kind: 'controller', reason: 1, tableId: 0, cookie: 0n, metadata: 0n, inPort: 1, bridge: 'br0' } }] });
  t.is(ups[1]!.key[K.TUN_ID + 1], 77);
});
