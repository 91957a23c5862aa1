/**
 * Every rewrite, on packets made by the builders, checked four ways:
 * 1. re-extraction: the key of the rewritten frame differs from the original's in exactly the
 *    words the action must change (listed per case), and equals the key of the frame the builder
 *    makes from the description after the action;
 * 2. bytes: the rewritten frame is byte for byte the builder's frame for that description, whose
 *    checksums the builder computed from scratch (so incremental updates equal recomputation);
 * 3. verifyChecksums (recomputation from scratch with src/packet/checksum.ts) finds nothing wrong,
 *    and the Offsets the rewrite kept equal those extraction gives for the new frame;
 * 4. tshark, with checksum validation on, decodes every rewritten frame without a bad checksum
 *    (one run for all, including checksums inside MPLS and PBB that our parser does not reach).
 * Cases that cannot apply return false and leave bytes and offsets as they were.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OFPXMT } from '../proto/constants.js';
import { buildPacket, parseIpv4, parseIpv6, parseMac, type PacketDesc } from '../src/packet/build.js';
import { extract } from '../src/packet/extract.js';
import { K, newKey, type FlowKey } from '../src/packet/key.js';
import { Packet, Offsets } from '../src/packet/packet.js';
import { verifyChecksums } from '../src/packet/checksum.js';
import {
  setField, pushVlan, popVlan, pushMpls, popMpls, setMplsTtl, decMplsTtl, setNwTtl, decNwTtl, copyTtlOut, copyTtlIn,
  pushPbb, popPbb,
} from '../src/packet/rewrite.js';
import { writePcap } from './pcap.js';

// ---------------------------------------------------------------------------------------------
// Values and packets
// ---------------------------------------------------------------------------------------------

const u8 = (v: number) => Uint8Array.of(v);
const u16 = (v: number) => Uint8Array.of(v >> 8, v & 0xff);
const u24 = (v: number) => Uint8Array.of(v >> 16, (v >> 8) & 0xff, v & 0xff);
const u32 = (v: number) => Uint8Array.of(v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff);
const u64 = (v: number) => Uint8Array.of(0, 0, 0, 0, ...u32(v));
const text = (s: string) => Uint8Array.from(Buffer.from(s));

const ETH = { dst: '02:00:00:00:00:0d', src: '02:00:00:00:00:05' };
const tcp4: PacketDesc = {
  eth: ETH, ipv4: { src: '10.1.1.1', dst: '10.2.2.2', ttl: 40, dscp: 10, ecn: 1, id: 77 },
  tcp: { src: 1000, dst: 80, flags: 0x18, seq: 12345 }, payload: text('hello, world'),
};
const udp4: PacketDesc = { eth: ETH, ipv4: { src: '192.168.0.1', dst: '192.168.0.2', ttl: 9 }, udp: { src: 5000, dst: 53 }, payload: text('query?') };
const udp4z: PacketDesc = { ...udp4, l4Checksum: 'zero' };
const icmp4: PacketDesc = { eth: ETH, ipv4: {}, icmp: { type: 8, rest: Uint8Array.of(0, 7, 0, 1) }, payload: text('ping data') };
const sctp4: PacketDesc = { eth: ETH, ipv4: {}, sctp: { src: 100, dst: 200, vtag: 0x01020304 }, payload: text('sctp chunk data') };
const tcp6: PacketDesc = {
  eth: ETH, ipv6: { src: '2001:db8::10', dst: '2001:db8:1::20', flabel: 0x12345, dscp: 4, ecn: 2, hlim: 44 },
  tcp: { src: 40000, dst: 443, flags: 0x10 }, payload: text('tls?'),
};
const udp6: PacketDesc = { eth: ETH, ipv6: {}, udp: { src: 546, dst: 547 }, payload: text('dhcpv6') };
const udp6ext: PacketDesc = {
  eth: ETH, ipv6: { ext: [{ type: 'hop' }, { type: 'dest', length: 16 }, { type: 'routing' }] }, udp: { src: 7, dst: 9 }, payload: text('x'),
};
const sctp6: PacketDesc = { eth: ETH, ipv6: {}, sctp: { src: 5060, dst: 5061 }, payload: text('sip over sctp') };
const icmp6: PacketDesc = { eth: ETH, ipv6: {}, icmpv6: { type: 128, body: Uint8Array.of(0, 1, 0, 2) }, payload: text('echo') };
const ns: PacketDesc = { eth: ETH, ipv6: { src: 'fe80::1', dst: 'ff02::1:ff00:2', hlim: 255 }, nd: { type: 135, target: 'fe80::2', sll: '02:00:00:00:00:05' } };
const na: PacketDesc = { eth: ETH, ipv6: { src: 'fe80::2', dst: 'fe80::1', hlim: 255 }, nd: { type: 136, target: 'fe80::2', tll: '02:00:00:00:00:0d', flags: 0x60 } };
const arp: PacketDesc = { eth: ETH, arp: { op: 1, sha: '02:00:00:00:00:05', spa: '10.0.0.5', tha: '00:00:00:00:00:00', tpa: '10.0.0.13' } };
const vlan1: PacketDesc = { ...tcp4, vlans: [{ vid: 10, pcp: 3, dei: 1 }] };
const vlan2: PacketDesc = { ...udp4, vlans: [{ tpid: 0x88a8, vid: 100, pcp: 5 }, { vid: 10, pcp: 3 }] };
const mpls1: PacketDesc = { eth: ETH, mpls: [{ label: 100, tc: 2, ttl: 20 }], ipv4: { ttl: 33 }, udp: { src: 1, dst: 2 }, payload: text('in mpls') };
const mpls2: PacketDesc = { eth: ETH, mpls: [{ label: 100, tc: 1, ttl: 20 }, { label: 200, tc: 3, ttl: 30 }], ipv6: { hlim: 44 }, tcp: {}, payload: text('2 labels') };
const pbb: PacketDesc = { eth: { dst: '02:00:00:00:0b:0d', src: '02:00:00:00:0b:05' }, pbb: { isid: 0x123456, pcp: 3, dei: 1, uca: 1, inner: tcp4 } };
const pbbBtag: PacketDesc = { ...pbb, vlans: [{ tpid: 0x88a8, vid: 7, pcp: 1 }] };
const fragFirst: PacketDesc = { eth: ETH, ipv4: { mf: true, id: 9 }, tcp: { src: 22, dst: 2222 }, payload: text('first fragment') };
// Another datagram id than fragFirst's: tshark would otherwise reassemble the two.
const fragLater: PacketDesc = { eth: ETH, ipv4: { fragOffset: 3, id: 10, proto: 6 }, payload: text('later fragment data') };
const opts4: PacketDesc = { eth: ETH, ipv4: { options: Uint8Array.of(0x94, 4, 0, 0) }, udp: {}, payload: text('router alert'), minLength: 60 };
/** An IPv4/UDP packet (without Ethernet) to carry in IP-in-IP. */
const innerIp4 = (ttl: number) => buildPacket({ ipv4: { ttl, src: '172.16.0.1', dst: '172.16.0.2' }, udp: {}, payload: text('inner') }).subarray(14);
const ipip: PacketDesc = { eth: ETH, ipv4: { ttl: 5, proto: 4, src: '1.1.1.1', dst: '2.2.2.2' }, payload: innerIp4(77) };
const dot3: PacketDesc = { eth: ETH, ethType: 20, payload: new Uint8Array(20).fill(0x42) };
const opaque: PacketDesc = { eth: ETH, payload: text('no l3 here') };

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

type Op = (pkt: Packet, off: Offsets) => boolean;

interface Case {
  readonly name: string;
  readonly desc: PacketDesc;
  readonly op: Op;
  /** The description after the action; 'unchanged': the op returns false and touches nothing. */
  readonly after: PacketDesc | 'unchanged';
  /** The key words the action must change (every other word must stay). */
  readonly words: readonly number[];
  /** Skip the comparison with the builder (for frames the builder cannot describe). */
  readonly check?: (t: { true(v: boolean, m?: string): void; is(a: unknown, b: unknown, m?: string): void }, buf: Buffer, off: Offsets) => void;
  /** Headroom to give the packet (default 64). */
  readonly headroom?: number;
  /** The op returns true without changing anything. */
  readonly noop?: boolean;
}

const set = (field: number, value: Uint8Array): Op => (p, o) => setField(p, o, field, value);

/** Words of L3 and L4 (what an encapsulation hides or a decapsulation reveals). */
const L3L4 = [K.IPV4_SRC, K.IPV4_DST, K.NW, K.TP_SRC, K.TP_DST, K.TCP_FLAGS];

function mergeIp4(d: PacketDesc, ip: NonNullable<PacketDesc['ipv4']>): PacketDesc {
  return { ...d, ipv4: { ...d.ipv4, ...ip } };
}
function mergeIp6(d: PacketDesc, ip: NonNullable<PacketDesc['ipv6']>): PacketDesc {
  return { ...d, ipv6: { ...d.ipv6, ...ip } };
}

const CASES: Case[] = [
  // --- Ethernet and VLAN
  { name: 'ETH_DST', desc: tcp4, op: set(OFPXMT.ETH_DST, parseMac('0a:0b:0c:0d:0e:0f')), after: { ...tcp4, eth: { ...ETH, dst: '0a:0b:0c:0d:0e:0f' } }, words: [K.ETH_DST, K.ETH_DST + 1] },
  { name: 'ETH_SRC tagged', desc: vlan1, op: set(OFPXMT.ETH_SRC, parseMac('0a:0b:0c:0d:0e:0f')), after: { ...vlan1, eth: { ...ETH, src: '0a:0b:0c:0d:0e:0f' } }, words: [K.ETH_SRC, K.ETH_SRC + 1] },
  { name: 'ETH_TYPE', desc: opaque, op: set(OFPXMT.ETH_TYPE, u16(0x88b6)), after: { ...opaque, ethType: 0x88b6 }, words: [K.ETH_TYPE] },
  { name: 'ETH_TYPE on 802.3', desc: dot3, op: set(OFPXMT.ETH_TYPE, u16(0x0800)), after: 'unchanged', words: [] },
  { name: 'VLAN_VID', desc: vlan1, op: set(OFPXMT.VLAN_VID, u16(0x1000 | 77)), after: { ...vlan1, vlans: [{ vid: 77, pcp: 3, dei: 1 }] }, words: [K.VLAN0] },
  { name: 'VLAN_VID outer of two', desc: vlan2, op: set(OFPXMT.VLAN_VID, u16(0x1000 | 4095)), after: { ...vlan2, vlans: [{ tpid: 0x88a8, vid: 4095, pcp: 5 }, { vid: 10, pcp: 3 }] }, words: [K.VLAN0] },
  { name: 'VLAN_VID untagged', desc: tcp4, op: set(OFPXMT.VLAN_VID, u16(0x1000 | 5)), after: 'unchanged', words: [] },
  { name: 'VLAN_PCP', desc: vlan1, op: set(OFPXMT.VLAN_PCP, u8(6)), after: { ...vlan1, vlans: [{ vid: 10, pcp: 6, dei: 1 }] }, words: [K.VLAN0] },
  { name: 'VLAN_PCP untagged', desc: udp6, op: set(OFPXMT.VLAN_PCP, u8(6)), after: 'unchanged', words: [] },

  // --- IPv4
  { name: 'IP_DSCP IPv4', desc: tcp4, op: set(OFPXMT.IP_DSCP, u8(46)), after: mergeIp4(tcp4, { dscp: 46 }), words: [K.NW] },
  { name: 'IP_ECN IPv4', desc: tcp4, op: set(OFPXMT.IP_ECN, u8(3)), after: mergeIp4(tcp4, { ecn: 3 }), words: [K.NW] },
  { name: 'IP_PROTO IPv4', desc: tcp4, op: set(OFPXMT.IP_PROTO, u8(253)), after: mergeIp4(tcp4, { proto: 253 }), words: [K.NW, K.TP_SRC, K.TP_DST, K.TCP_FLAGS] },
  { name: 'IPV4_SRC TCP', desc: tcp4, op: set(OFPXMT.IPV4_SRC, parseIpv4('203.0.113.9')), after: mergeIp4(tcp4, { src: '203.0.113.9' }), words: [K.IPV4_SRC] },
  { name: 'IPV4_DST TCP', desc: tcp4, op: set(OFPXMT.IPV4_DST, parseIpv4('198.51.100.200')), after: mergeIp4(tcp4, { dst: '198.51.100.200' }), words: [K.IPV4_DST] },
  { name: 'IPV4_DST UDP', desc: udp4, op: set(OFPXMT.IPV4_DST, parseIpv4('255.255.255.255')), after: mergeIp4(udp4, { dst: '255.255.255.255' }), words: [K.IPV4_DST] },
  { name: 'IPV4_SRC UDP zero checksum stays zero', desc: udp4z, op: set(OFPXMT.IPV4_SRC, parseIpv4('0.0.0.0')), after: mergeIp4(udp4z, { src: '0.0.0.0' }), words: [K.IPV4_SRC] },
  { name: 'IPV4_DST UDP behind two tags', desc: vlan2, op: set(OFPXMT.IPV4_DST, parseIpv4('10.9.8.7')), after: mergeIp4(vlan2, { dst: '10.9.8.7' }), words: [K.IPV4_DST] },
  { name: 'IPV4_DST ICMP (no pseudo-header)', desc: icmp4, op: set(OFPXMT.IPV4_DST, parseIpv4('10.0.0.99')), after: mergeIp4(icmp4, { dst: '10.0.0.99' }), words: [K.IPV4_DST] },
  { name: 'IPV4_SRC SCTP (CRC does not cover IP)', desc: sctp4, op: set(OFPXMT.IPV4_SRC, parseIpv4('10.0.0.77')), after: mergeIp4(sctp4, { src: '10.0.0.77' }), words: [K.IPV4_SRC] },
  { name: 'IPV4_DST first fragment', desc: fragFirst, op: set(OFPXMT.IPV4_DST, parseIpv4('10.0.5.5')), after: mergeIp4(fragFirst, { dst: '10.0.5.5' }), words: [K.IPV4_DST] },
  { name: 'IPV4_DST later fragment', desc: fragLater, op: set(OFPXMT.IPV4_DST, parseIpv4('10.0.5.5')), after: mergeIp4(fragLater, { dst: '10.0.5.5' }), words: [K.IPV4_DST] },
  { name: 'IPV4_SRC with options, padded', desc: opts4, op: set(OFPXMT.IPV4_SRC, parseIpv4('100.64.0.1')), after: mergeIp4(opts4, { src: '100.64.0.1' }), words: [K.IPV4_SRC] },
  { name: 'IPV4_DST on IPv6', desc: tcp6, op: set(OFPXMT.IPV4_DST, parseIpv4('1.2.3.4')), after: 'unchanged', words: [] },
  { name: 'TCP_SRC', desc: tcp4, op: set(OFPXMT.TCP_SRC, u16(65535)), after: { ...tcp4, tcp: { ...tcp4.tcp, src: 65535 } }, words: [K.TP_SRC] },
  { name: 'TCP_DST IPv6', desc: tcp6, op: set(OFPXMT.TCP_DST, u16(8443)), after: { ...tcp6, tcp: { ...tcp6.tcp, dst: 8443 } }, words: [K.TP_DST] },
  { name: 'TCP_SRC on UDP', desc: udp4, op: set(OFPXMT.TCP_SRC, u16(1)), after: 'unchanged', words: [] },
  { name: 'UDP_SRC', desc: udp4, op: set(OFPXMT.UDP_SRC, u16(0)), after: { ...udp4, udp: { ...udp4.udp, src: 0 } }, words: [K.TP_SRC] },
  { name: 'UDP_DST zero checksum stays zero', desc: udp4z, op: set(OFPXMT.UDP_DST, u16(4789)), after: { ...udp4z, udp: { ...udp4z.udp, dst: 4789 } }, words: [K.TP_DST] },
  { name: 'UDP_DST IPv6 extension headers', desc: udp6ext, op: set(OFPXMT.UDP_DST, u16(999)), after: { ...udp6ext, udp: { ...udp6ext.udp, dst: 999 } }, words: [K.TP_DST] },
  { name: 'SCTP_SRC', desc: sctp4, op: set(OFPXMT.SCTP_SRC, u16(3868)), after: { ...sctp4, sctp: { ...sctp4.sctp, src: 3868 } }, words: [K.TP_SRC] },
  { name: 'SCTP_DST IPv6', desc: sctp6, op: set(OFPXMT.SCTP_DST, u16(2905)), after: { ...sctp6, sctp: { ...sctp6.sctp, dst: 2905 } }, words: [K.TP_DST] },
  { name: 'SCTP_DST no payload', desc: { ...sctp4, payload: undefined }, op: set(OFPXMT.SCTP_DST, u16(1)), after: { ...sctp4, payload: undefined, sctp: { ...sctp4.sctp, dst: 1 } }, words: [K.TP_DST] },
  { name: 'SCTP_SRC on a fragment', desc: { ...sctp4, ipv4: { mf: true } }, op: set(OFPXMT.SCTP_SRC, u16(1)), after: 'unchanged', words: [] },
  { name: 'ICMPV4_TYPE', desc: icmp4, op: set(OFPXMT.ICMPV4_TYPE, u8(0)), after: { ...icmp4, icmp: { ...icmp4.icmp!, type: 0 } }, words: [K.TP_SRC] },
  { name: 'ICMPV4_CODE', desc: icmp4, op: set(OFPXMT.ICMPV4_CODE, u8(255)), after: { ...icmp4, icmp: { ...icmp4.icmp!, code: 255 } }, words: [K.TP_DST] },
  { name: 'ICMPV4_TYPE on ICMPv6', desc: icmp6, op: set(OFPXMT.ICMPV4_TYPE, u8(0)), after: 'unchanged', words: [] },

  // --- ARP
  { name: 'ARP_OP', desc: arp, op: set(OFPXMT.ARP_OP, u16(2)), after: { ...arp, arp: { ...arp.arp, op: 2 } }, words: [K.ARP_OP] },
  { name: 'ARP_SPA', desc: arp, op: set(OFPXMT.ARP_SPA, parseIpv4('10.0.0.13')), after: { ...arp, arp: { ...arp.arp, spa: '10.0.0.13' } }, words: [K.ARP_SPA] },
  { name: 'ARP_TPA', desc: arp, op: set(OFPXMT.ARP_TPA, parseIpv4('10.0.0.5')), after: { ...arp, arp: { ...arp.arp, tpa: '10.0.0.5' } }, words: [K.ARP_TPA] },
  { name: 'ARP_SHA', desc: arp, op: set(OFPXMT.ARP_SHA, parseMac('02:00:00:00:00:0d')), after: { ...arp, arp: { ...arp.arp, sha: '02:00:00:00:00:0d' } }, words: [K.ARP_SHA + 1] },
  { name: 'ARP_THA', desc: arp, op: set(OFPXMT.ARP_THA, parseMac('02:00:00:00:00:05')), after: { ...arp, arp: { ...arp.arp, tha: '02:00:00:00:00:05' } }, words: [K.ARP_THA, K.ARP_THA + 1] },
  { name: 'ARP_OP on IPv4', desc: tcp4, op: set(OFPXMT.ARP_OP, u16(2)), after: 'unchanged', words: [] },

  // --- IPv6
  { name: 'IP_DSCP IPv6', desc: tcp6, op: set(OFPXMT.IP_DSCP, u8(63)), after: mergeIp6(tcp6, { dscp: 63 }), words: [K.NW] },
  { name: 'IP_ECN IPv6', desc: tcp6, op: set(OFPXMT.IP_ECN, u8(0)), after: mergeIp6(tcp6, { ecn: 0 }), words: [K.NW] },
  { name: 'IP_PROTO IPv6 after extension headers', desc: udp6ext, op: set(OFPXMT.IP_PROTO, u8(253)), after: mergeIp6(udp6ext, { nextHeader: 253 }), words: [K.NW, K.TP_SRC, K.TP_DST] },
  { name: 'IPV6_SRC TCP', desc: tcp6, op: set(OFPXMT.IPV6_SRC, parseIpv6('fd00::abcd')), after: mergeIp6(tcp6, { src: 'fd00::abcd' }), words: [K.IPV6_SRC, K.IPV6_SRC + 3] },
  { name: 'IPV6_DST TCP', desc: tcp6, op: set(OFPXMT.IPV6_DST, parseIpv6('ffff:ffff::ffff')), after: mergeIp6(tcp6, { dst: 'ffff:ffff::ffff' }), words: [K.IPV6_DST, K.IPV6_DST + 1, K.IPV6_DST + 3] },
  { name: 'IPV6_SRC UDP', desc: udp6, op: set(OFPXMT.IPV6_SRC, parseIpv6('::')), after: mergeIp6(udp6, { src: '::' }), words: [K.IPV6_SRC, K.IPV6_SRC + 3] },
  { name: 'IPV6_DST UDP extension headers', desc: udp6ext, op: set(OFPXMT.IPV6_DST, parseIpv6('2001:db8::99')), after: mergeIp6(udp6ext, { dst: '2001:db8::99' }), words: [K.IPV6_DST + 3] },
  { name: 'IPV6_SRC UDP zero checksum stays zero', desc: { ...udp6, l4Checksum: 'zero' }, op: set(OFPXMT.IPV6_SRC, parseIpv6('2001:db8::77')), after: { ...mergeIp6(udp6, { src: '2001:db8::77' }), l4Checksum: 'zero' }, words: [K.IPV6_SRC + 3] },
  { name: 'IPV6_DST ICMPv6', desc: icmp6, op: set(OFPXMT.IPV6_DST, parseIpv6('2001:db8::3')), after: mergeIp6(icmp6, { dst: '2001:db8::3' }), words: [K.IPV6_DST + 3] },
  { name: 'IPV6_SRC SCTP', desc: sctp6, op: set(OFPXMT.IPV6_SRC, parseIpv6('2001:db8::3')), after: mergeIp6(sctp6, { src: '2001:db8::3' }), words: [K.IPV6_SRC + 3] },
  { name: 'IPV6_SRC ND', desc: ns, op: set(OFPXMT.IPV6_SRC, parseIpv6('::')), after: mergeIp6(ns, { src: '::' }), words: [K.IPV6_SRC, K.IPV6_SRC + 3] },
  { name: 'IPV6_FLABEL', desc: tcp6, op: set(OFPXMT.IPV6_FLABEL, u32(0xabcde)), after: mergeIp6(tcp6, { flabel: 0xabcde }), words: [K.IPV6_LABEL] },
  { name: 'IPV6_SRC on IPv4', desc: tcp4, op: set(OFPXMT.IPV6_SRC, parseIpv6('::1')), after: 'unchanged', words: [] },
  { name: 'ICMPV6_TYPE', desc: icmp6, op: set(OFPXMT.ICMPV6_TYPE, u8(129)), after: { ...icmp6, icmpv6: { ...icmp6.icmpv6!, type: 129 } }, words: [K.TP_SRC] },
  { name: 'ICMPV6_CODE', desc: icmp6, op: set(OFPXMT.ICMPV6_CODE, u8(3)), after: { ...icmp6, icmpv6: { ...icmp6.icmpv6!, code: 3 } }, words: [K.TP_DST] },
  { name: 'ICMPV6_TYPE NS to NA (SLL no longer counts)', desc: ns, op: set(OFPXMT.ICMPV6_TYPE, u8(136)), after: { ...ns, nd: { ...ns.nd!, type: 136 } }, words: [K.TP_SRC, K.ND_SLL, K.ND_SLL + 1] },
  { name: 'IPV6_ND_TARGET NS', desc: ns, op: set(OFPXMT.IPV6_ND_TARGET, parseIpv6('2001:db8::1:2:3')), after: { ...ns, nd: { ...ns.nd!, target: '2001:db8::1:2:3' } }, words: [K.ND_TARGET, K.ND_TARGET + 2, K.ND_TARGET + 3] },
  { name: 'IPV6_ND_TARGET NA', desc: na, op: set(OFPXMT.IPV6_ND_TARGET, parseIpv6('fe80::99')), after: { ...na, nd: { ...na.nd!, target: 'fe80::99' } }, words: [K.ND_TARGET + 3] },
  { name: 'IPV6_ND_SLL', desc: ns, op: set(OFPXMT.IPV6_ND_SLL, parseMac('aa:bb:cc:dd:ee:ff')), after: { ...ns, nd: { ...ns.nd!, sll: 'aa:bb:cc:dd:ee:ff' } }, words: [K.ND_SLL, K.ND_SLL + 1] },
  { name: 'IPV6_ND_TLL', desc: na, op: set(OFPXMT.IPV6_ND_TLL, parseMac('aa:bb:cc:dd:ee:ff')), after: { ...na, nd: { ...na.nd!, tll: 'aa:bb:cc:dd:ee:ff' } }, words: [K.ND_TLL, K.ND_TLL + 1] },
  { name: 'IPV6_ND_SLL on an NA', desc: na, op: set(OFPXMT.IPV6_ND_SLL, parseMac('aa:bb:cc:dd:ee:ff')), after: 'unchanged', words: [] },
  { name: 'IPV6_ND_TLL on an NS without the option', desc: ns, op: set(OFPXMT.IPV6_ND_TLL, parseMac('aa:bb:cc:dd:ee:ff')), after: 'unchanged', words: [] },

  // --- MPLS and PBB fields
  { name: 'MPLS_LABEL', desc: mpls1, op: set(OFPXMT.MPLS_LABEL, u32(0xfffff)), after: { ...mpls1, mpls: [{ label: 0xfffff, tc: 2, ttl: 20 }] }, words: [K.MPLS0] },
  { name: 'MPLS_TC outer of two', desc: mpls2, op: set(OFPXMT.MPLS_TC, u8(7)), after: { ...mpls2, mpls: [{ label: 100, tc: 7, ttl: 20 }, mpls2.mpls![1]!] }, words: [K.MPLS0] },
  {
    name: 'MPLS_BOS outer of two', desc: mpls2, op: set(OFPXMT.MPLS_BOS, u8(1)), after: 'unchanged', words: [K.MPLS0, K.MPLS1, K.FLAGS],
    check: (t, buf, off) => {
      t.is(off.mplsCount, 1);
      t.is(buf[off.mpls + 2]! & 1, 1);
    },
  },
  { name: 'MPLS_LABEL without MPLS', desc: tcp4, op: set(OFPXMT.MPLS_LABEL, u32(1)), after: 'unchanged', words: [] },
  { name: 'PBB_ISID', desc: pbb, op: set(OFPXMT.PBB_ISID, u24(0xabcdef)), after: { ...pbb, pbb: { ...pbb.pbb!, isid: 0xabcdef } }, words: [K.PBB] },
  { name: 'PBB_ISID without PBB', desc: tcp4, op: set(OFPXMT.PBB_ISID, u24(1)), after: 'unchanged', words: [] },
  { name: 'TUNNEL_ID is metadata', desc: udp4, op: set(OFPXMT.TUNNEL_ID, u64(5)), after: 'unchanged', words: [] },
  { name: 'METADATA is metadata', desc: udp4, op: set(OFPXMT.METADATA, u64(5)), after: 'unchanged', words: [] },
  { name: 'IN_PORT is not settable', desc: udp4, op: set(OFPXMT.IN_PORT, u32(5)), after: 'unchanged', words: [] },
  { name: 'IN_PHY_PORT is not settable', desc: udp4, op: set(OFPXMT.IN_PHY_PORT, u32(5)), after: 'unchanged', words: [] },
  { name: 'IPV6_EXTHDR is not settable', desc: udp6ext, op: set(OFPXMT.IPV6_EXTHDR, u16(1)), after: 'unchanged', words: [] },
  { name: 'a value too short', desc: tcp4, op: set(OFPXMT.IPV4_DST, u16(1)), after: 'unchanged', words: [] },

  // --- push/pop VLAN
  { name: 'push_vlan untagged', desc: tcp4, op: (p, o) => pushVlan(p, o, 0x8100), after: { ...tcp4, vlans: [{ vid: 0 }] }, words: [K.VLAN0, K.FLAGS] },
  { name: 'push_vlan 0x88a8 copies VID/PCP', desc: vlan1, op: (p, o) => pushVlan(p, o, 0x88a8), after: { ...vlan1, vlans: [{ tpid: 0x88a8, vid: 10, pcp: 3 }, ...vlan1.vlans!] }, words: [K.VLAN0, K.VLAN1, K.FLAGS] },
  { name: 'push_vlan third tag', desc: vlan2, op: (p, o) => pushVlan(p, o, 0x8100), after: { ...vlan2, vlans: [{ vid: 100, pcp: 5 }, ...vlan2.vlans!] }, words: [K.VLAN0, K.VLAN1, K.FLAGS] },
  { name: 'push_vlan without headroom', desc: udp6, op: (p, o) => pushVlan(p, o, 0x8100), after: { ...udp6, vlans: [{ vid: 0 }] }, words: [K.VLAN0, K.FLAGS], headroom: 0 },
  { name: 'push_vlan on MPLS', desc: mpls1, op: (p, o) => pushVlan(p, o, 0x8100), after: { ...mpls1, vlans: [{ vid: 0 }] }, words: [K.VLAN0, K.FLAGS] },
  { name: 'push_vlan on PBB (a B-TAG)', desc: pbb, op: (p, o) => pushVlan(p, o, 0x88a8), after: { ...pbb, vlans: [{ tpid: 0x88a8, vid: 0 }] }, words: [K.VLAN0, K.FLAGS] },
  { name: 'push_vlan with a TPID that is not a VLAN TPID', desc: tcp4, op: (p, o) => pushVlan(p, o, 0x0800), after: 'unchanged', words: [] },
  { name: 'pop_vlan', desc: vlan1, op: popVlan, after: tcp4, words: [K.VLAN0, K.FLAGS] },
  { name: 'pop_vlan outer of two', desc: vlan2, op: popVlan, after: { ...vlan2, vlans: [{ vid: 10, pcp: 3 }] }, words: [K.VLAN0, K.VLAN1, K.FLAGS] },
  { name: 'pop_vlan untagged', desc: tcp4, op: popVlan, after: 'unchanged', words: [] },

  // --- push/pop MPLS
  { name: 'push_mpls IPv4 (TTL copied)', desc: tcp4, op: (p, o) => pushMpls(p, o, 0x8847), after: { ...tcp4, mpls: [{ label: 0, ttl: 40 }] }, words: [K.ETH_TYPE, K.MPLS0, K.FLAGS, ...L3L4] },
  { name: 'push_mpls IPv6 0x8848 (hop limit copied)', desc: udp6, op: (p, o) => pushMpls(p, o, 0x8848), after: { ...udp6, mpls: [{ label: 0, ttl: 64 }], ethType: 0x8848 }, words: [K.ETH_TYPE, K.MPLS0, K.FLAGS, K.NW, K.TP_SRC, K.TP_DST, K.IPV6_SRC, K.IPV6_SRC + 3, K.IPV6_DST, K.IPV6_DST + 3] },
  { name: 'push_mpls after VLAN tags', desc: vlan1, op: (p, o) => pushMpls(p, o, 0x8847), after: { ...vlan1, mpls: [{ label: 0, ttl: 40 }] }, words: [K.ETH_TYPE, K.MPLS0, K.FLAGS, ...L3L4] },
  { name: 'push_mpls ARP (TTL 64)', desc: arp, op: (p, o) => pushMpls(p, o, 0x8847), after: { ...arp, mpls: [{ label: 0, ttl: 64 }] }, words: [K.ETH_TYPE, K.MPLS0, K.FLAGS, K.ARP_OP, K.ARP_SPA, K.ARP_TPA, K.ARP_SHA, K.ARP_SHA + 1] },
  { name: 'push_mpls onto MPLS copies the outer entry', desc: mpls1, op: (p, o) => pushMpls(p, o, 0x8847), after: { ...mpls1, mpls: [{ label: 100, tc: 2, ttl: 20 }, ...mpls1.mpls!] }, words: [K.MPLS0, K.MPLS1, K.FLAGS] },
  { name: 'push_mpls on 802.3', desc: dot3, op: (p, o) => pushMpls(p, o, 0x8847), after: 'unchanged', words: [] },
  { name: 'push_mpls with a non-MPLS ethertype', desc: tcp4, op: (p, o) => pushMpls(p, o, 0x0800), after: 'unchanged', words: [] },
  { name: 'push_mpls on PBB', desc: pbb, op: (p, o) => pushMpls(p, o, 0x8847), after: 'unchanged', words: [] },
  { name: 'pop_mpls to IPv4', desc: mpls1, op: (p, o) => popMpls(p, o, 0x0800), after: { ...mpls1, mpls: undefined }, words: [K.ETH_TYPE, K.MPLS0, K.FLAGS, K.IPV4_SRC, K.IPV4_DST, K.NW, K.TP_SRC, K.TP_DST] },
  { name: 'pop_mpls outer of two', desc: mpls2, op: (p, o) => popMpls(p, o, 0x8847), after: { ...mpls2, mpls: [mpls2.mpls![1]!] }, words: [K.MPLS0, K.MPLS1, K.FLAGS] },
  { name: 'pop_mpls without MPLS', desc: tcp4, op: (p, o) => popMpls(p, o, 0x0800), after: 'unchanged', words: [] },

  // --- MPLS TTL
  { name: 'set_mpls_ttl', desc: mpls2, op: (p, o) => setMplsTtl(p, o, 255), after: { ...mpls2, mpls: [{ label: 100, tc: 1, ttl: 255 }, mpls2.mpls![1]!] }, words: [K.MPLS0] },
  { name: 'dec_mpls_ttl', desc: mpls1, op: decMplsTtl, after: { ...mpls1, mpls: [{ label: 100, tc: 2, ttl: 19 }] }, words: [K.MPLS0] },
  { name: 'dec_mpls_ttl at 1', desc: { ...mpls1, mpls: [{ label: 100, ttl: 1 }] }, op: decMplsTtl, after: 'unchanged', words: [] },
  { name: 'dec_mpls_ttl at 0', desc: { ...mpls1, mpls: [{ label: 100, ttl: 0 }] }, op: decMplsTtl, after: 'unchanged', words: [] },
  { name: 'dec_mpls_ttl without MPLS does nothing', desc: tcp4, op: decMplsTtl, after: 'unchanged', words: [], noop: true },
  { name: 'set_mpls_ttl without MPLS', desc: tcp4, op: (p, o) => setMplsTtl(p, o, 1), after: 'unchanged', words: [] },

  // --- IP TTL
  { name: 'set_nw_ttl IPv4', desc: tcp4, op: (p, o) => setNwTtl(p, o, 255), after: mergeIp4(tcp4, { ttl: 255 }), words: [K.NW] },
  { name: 'set_nw_ttl IPv6', desc: tcp6, op: (p, o) => setNwTtl(p, o, 0), after: mergeIp6(tcp6, { hlim: 0 }), words: [K.NW] },
  { name: 'dec_nw_ttl IPv4', desc: udp4, op: decNwTtl, after: mergeIp4(udp4, { ttl: 8 }), words: [K.NW] },
  { name: 'dec_nw_ttl IPv4 tagged', desc: vlan2, op: decNwTtl, after: mergeIp4(vlan2, { ttl: 8 }), words: [K.NW] },
  { name: 'dec_nw_ttl IPv6', desc: udp6ext, op: decNwTtl, after: mergeIp6(udp6ext, { hlim: 63 }), words: [K.NW] },
  { name: 'dec_nw_ttl IPv4 at 1', desc: mergeIp4(udp4, { ttl: 1 }), op: decNwTtl, after: 'unchanged', words: [] },
  { name: 'dec_nw_ttl IPv4 at 0', desc: mergeIp4(udp4, { ttl: 0 }), op: decNwTtl, after: 'unchanged', words: [] },
  { name: 'dec_nw_ttl IPv6 at 1', desc: mergeIp6(udp6, { hlim: 1 }), op: decNwTtl, after: 'unchanged', words: [] },
  { name: 'dec_nw_ttl ARP does nothing', desc: arp, op: decNwTtl, after: 'unchanged', words: [], noop: true },
  { name: 'set_nw_ttl ARP', desc: arp, op: (p, o) => setNwTtl(p, o, 3), after: 'unchanged', words: [] },

  // --- copy TTL
  { name: 'copy_ttl_out IP to MPLS', desc: mpls1, op: copyTtlOut, after: { ...mpls1, mpls: [{ label: 100, tc: 2, ttl: 33 }] }, words: [K.MPLS0] },
  { name: 'copy_ttl_out IPv6 to MPLS', desc: { ...mpls1, mpls: [{ label: 1 }], ipv4: undefined, ipv6: { hlim: 3 } }, op: copyTtlOut, after: { ...mpls1, mpls: [{ label: 1, ttl: 3 }], ipv4: undefined, ipv6: { hlim: 3 } }, words: [K.MPLS0] },
  { name: 'copy_ttl_out MPLS to MPLS', desc: mpls2, op: copyTtlOut, after: { ...mpls2, mpls: [{ label: 100, tc: 1, ttl: 30 }, mpls2.mpls![1]!] }, words: [K.MPLS0] },
  { name: 'copy_ttl_out IP to IP', desc: ipip, op: copyTtlOut, after: mergeIp4(ipip, { ttl: 77 }), words: [K.NW] },
  { name: 'copy_ttl_out nothing inside', desc: tcp4, op: copyTtlOut, after: 'unchanged', words: [] },
  { name: 'copy_ttl_in MPLS to IPv4', desc: mpls1, op: copyTtlIn, after: mergeIp4(mpls1, { ttl: 20 }), words: [] },
  { name: 'copy_ttl_in MPLS to IPv6', desc: { ...mpls1, ipv4: undefined, ipv6: { hlim: 3 } }, op: copyTtlIn, after: { ...mpls1, ipv4: undefined, ipv6: { hlim: 20 } }, words: [] },
  { name: 'copy_ttl_in MPLS to MPLS', desc: mpls2, op: copyTtlIn, after: { ...mpls2, mpls: [mpls2.mpls![0]!, { label: 200, tc: 3, ttl: 20 }] }, words: [K.MPLS1] },
  { name: 'copy_ttl_in IP to IP', desc: ipip, op: copyTtlIn, after: { ...ipip, payload: innerIp4(5) }, words: [] },
  { name: 'copy_ttl_in nothing inside', desc: udp6, op: copyTtlIn, after: 'unchanged', words: [] },

  // --- push/pop PBB
  { name: 'push_pbb', desc: tcp4, op: (p, o) => pushPbb(p, o, 0x88e7), after: { eth: ETH, pbb: { isid: 0, inner: tcp4 } }, words: [K.ETH_TYPE, ...L3L4] },
  { name: 'push_pbb tagged (I-PCP from the VLAN PCP)', desc: vlan1, op: (p, o) => pushPbb(p, o, 0x88e7), after: { eth: ETH, pbb: { isid: 0, pcp: 3, inner: vlan1 } }, words: [K.ETH_TYPE, K.PBB, K.VLAN0, K.FLAGS, ...L3L4] },
  { name: 'push_pbb onto PBB copies the I-TAG', desc: pbb, op: (p, o) => pushPbb(p, o, 0x88e7), after: { eth: pbb.eth, pbb: { ...pbb.pbb!, inner: pbb } }, words: [] },
  { name: 'push_pbb without headroom', desc: arp, op: (p, o) => pushPbb(p, o, 0x88e7), after: { eth: ETH, pbb: { isid: 0, inner: arp } }, words: [K.ETH_TYPE, K.ARP_OP, K.ARP_SPA, K.ARP_TPA, K.ARP_SHA, K.ARP_SHA + 1], headroom: 0 },
  { name: 'push_pbb with another ethertype', desc: tcp4, op: (p, o) => pushPbb(p, o, 0x8100), after: 'unchanged', words: [] },
  { name: 'pop_pbb', desc: pbb, op: popPbb, after: tcp4, words: [K.ETH_DST + 1, K.ETH_SRC + 1, K.ETH_TYPE, K.PBB, ...L3L4] },
  { name: 'pop_pbb with a B-TAG', desc: pbbBtag, op: popPbb, after: tcp4, words: [K.ETH_DST + 1, K.ETH_SRC + 1, K.ETH_TYPE, K.PBB, K.VLAN0, K.FLAGS, ...L3L4] },
  { name: 'pop_pbb without PBB', desc: vlan1, op: popPbb, after: 'unchanged', words: [] },
];

// ---------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------

const OFFSET_FIELDS = ['l2', 'vlan', 'vlanCount', 'ethType', 'pbb', 'mpls', 'mplsCount', 'l3', 'l4', 'l7', 'ndTarget', 'ndSll', 'ndTll', 'ipv6Frag'] as const;

function offsetsOf(o: Offsets): Record<string, number> {
  const out: Record<string, number> = {};
  for (const f of OFFSET_FIELDS) out[f] = o[f];
  return out;
}

function changedWords(a: FlowKey, b: FlowKey): number[] {
  const out: number[] = [];
  for (let i = 0; i < K.WORDS; i++) if (a[i] !== b[i]) out.push(i);
  return out;
}

function keyOf(frame: Uint8Array): { key: FlowKey; off: Offsets } {
  const key = newKey();
  const off = new Offsets();
  extract(frame, 0, frame.length, key, off);
  return { key, off };
}

interface Run {
  frame: Buffer;
  pkt: Packet;
  ok: boolean;
  key0: FlowKey;
  off0: Record<string, number>;
  off: Offsets;
  before: { ipv4?: boolean; l4?: boolean };
}

function runCase(c: Case): Run {
  const frame = buildPacket(c.desc);
  const pkt = Packet.from(frame, c.headroom ?? 64);
  const key0 = newKey();
  const off = new Offsets();
  extract(pkt.buf, pkt.start, pkt.end, key0, off);
  const before = verifyChecksums(pkt.buf, off, pkt.end);
  const off0 = offsetsOf(off);
  const ok = c.op(pkt, off);
  return { frame, pkt, ok, key0, off0, off, before };
}

for (const c of CASES) {
  test(c.name, (t) => {
    const { frame, pkt, ok, key0, off0, off, before } = runCase(c);
    const key1 = newKey();
    const off1 = new Offsets();
    extract(pkt.buf, pkt.start, pkt.end, key1, off1);
    t.deepEqual(offsetsOf(off), offsetsOf(off1), 'the offsets kept are those extraction gives');
    t.deepEqual(changedWords(key0, key1), [...c.words].sort((a, b) => a - b), 'key words changed');

    if (c.after === 'unchanged') {
      if (c.check) {
        t.true(ok);
        c.check(t, pkt.buf, off);
      } else {
        t.is(ok, c.noop === true, 'returns false (true for a no-op)');
        t.deepEqual(Buffer.from(pkt.bytes()), frame, 'bytes unchanged');
        t.deepEqual(offsetsOf(off), off0, 'offsets unchanged');
      }
    } else {
      t.true(ok, 'applies');
      const want = buildPacket(c.after);
      t.is(Buffer.from(pkt.bytes()).toString('hex'), want.toString('hex'), 'bytes equal the builder frame');
      t.deepEqual(Array.from(key1), Array.from(keyOf(want).key), 'key equals the builder frame key');
    }

    // Recomputed from scratch: nothing the rewrite touched is wrong (a UDP/IPv6 zero checksum is
    // wrong before and stays zero, on purpose).
    const after = verifyChecksums(pkt.buf, off1, pkt.end);
    t.not(after.ipv4, false, 'IPv4 header checksum');
    if (before.l4 !== false) t.not(after.l4, false, 'L4 checksum');
    if (before.l4 === true && off1.l4 >= 0) t.is(after.l4, true, 'L4 checksum still verified');
  });
}

// ---------------------------------------------------------------------------------------------
// Other behaviour
// ---------------------------------------------------------------------------------------------

test('a wrong checksum stays wrong after an incremental update (not "fixed")', (t) => {
  for (const [desc, field, value] of [
    [{ ...tcp4, l4Checksum: 'bad', ipv4Checksum: 'bad' }, OFPXMT.IPV4_DST, parseIpv4('9.9.9.9')],
    [{ ...udp6, l4Checksum: 'bad' }, OFPXMT.IPV6_SRC, parseIpv6('::9')],
    [{ ...sctp4, l4Checksum: 'bad' }, OFPXMT.SCTP_DST, u16(9)],
    [{ ...icmp4, l4Checksum: 'bad' }, OFPXMT.ICMPV4_TYPE, u8(0)],
  ] as Array<[PacketDesc, number, Uint8Array]>) {
    const pkt = Packet.from(buildPacket(desc));
    const off = new Offsets();
    extract(pkt.buf, pkt.start, pkt.end, newKey(), off);
    t.true(setField(pkt, off, field, value));
    const v = verifyChecksums(pkt.buf, off, pkt.end);
    t.is(v.l4, false);
    if (desc.ipv4Checksum === 'bad') t.is(v.ipv4, false);
  }
});

test('dec_nw_ttl down to the limit, then refuses', (t) => {
  const pkt = Packet.from(buildPacket(mergeIp4(udp4, { ttl: 3 })));
  const off = new Offsets();
  extract(pkt.buf, pkt.start, pkt.end, newKey(), off);
  t.true(decNwTtl(pkt, off));
  t.true(decNwTtl(pkt, off));
  const at1 = Buffer.from(pkt.bytes());
  t.false(decNwTtl(pkt, off));
  t.deepEqual(Buffer.from(pkt.bytes()), at1);
  t.deepEqual(Buffer.from(pkt.bytes()), buildPacket(mergeIp4(udp4, { ttl: 1 })));
});

test('push then pop restores the frame (VLAN, MPLS, PBB), with offsets kept throughout', (t) => {
  for (const desc of [tcp4, vlan2, udp6ext, arp, mpls1]) {
    const frame = buildPacket(desc);
    const pkt = Packet.from(frame, 8); // small headroom: pushes grow the buffer
    const off = new Offsets();
    extract(pkt.buf, pkt.start, pkt.end, newKey(), off);
    t.true(pushVlan(pkt, off, 0x88a8));
    t.true(pushPbb(pkt, off, 0x88e7));
    t.true(pushVlan(pkt, off, 0x8100));
    t.true(popVlan(pkt, off));
    t.true(popPbb(pkt, off));
    t.true(pushMpls(pkt, off, 0x8847));
    t.true(pushMpls(pkt, off, 0x8847));
    const check = new Offsets();
    extract(pkt.buf, pkt.start, pkt.end, newKey(), check);
    t.deepEqual(offsetsOf(off), offsetsOf(check));
    t.true(popMpls(pkt, off, 0x8847));
    const inner = desc.mpls ? 0x8847 : desc.arp ? 0x0806 : desc.ipv6 ? 0x86dd : 0x0800;
    t.true(popMpls(pkt, off, inner));
    t.true(popVlan(pkt, off));
    t.deepEqual(Buffer.from(pkt.bytes()), frame);
    extract(pkt.buf, pkt.start, pkt.end, newKey(), check);
    t.deepEqual(offsetsOf(off), offsetsOf(check));
  }
});

test('tshark validates every checksum of the rewritten frames (one run)', (t) => {
  // Every case that changed its frame (one or more per action kind), including the encapsulated
  // ones whose inner checksums only tshark reaches.
  const frames: Buffer[] = [];
  const names: string[] = [];
  for (const c of CASES) {
    const r = runCase(c);
    if (r.ok && !r.pkt.bytes().equals(r.frame)) {
      frames.push(Buffer.from(r.pkt.bytes()));
      names.push(c.name);
    }
  }
  t.true(frames.length >= 90, `${frames.length} frames`);
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-rewrite-'));
  try {
    const file = join(dir, 'rewritten.pcap');
    writePcap(file, frames);
    const out = execFileSync('tshark', [
      '-r', file, '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
      '-o', 'sctp.checksum:CRC-32C', '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,',
      '-e', 'frame.number', '-e', 'frame.protocols',
      '-e', 'ip.checksum.status', '-e', 'tcp.checksum.status', '-e', 'udp.checksum.status',
      '-e', 'icmp.checksum.status', '-e', 'icmpv6.checksum.status', '-e', 'sctp.checksum.status',
    ], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const lines = out.trim().split('\n');
    t.is(lines.length, frames.length);
    let good = 0;
    const bad: string[] = [];
    for (const line of lines) {
      const [num, protos, ...statuses] = line.split('\t');
      const all = statuses.flatMap((s) => (s ? s.split(',') : []));
      // 0 = bad; 1 = good; 2 = unverified (fragments); 3 = not present (UDP zero checksum).
      if (all.includes('0')) bad.push(`${names[Number(num) - 1]}: ${protos} ${statuses.join(' ')}`);
      if (all.includes('1')) good++;
    }
    t.deepEqual(bad, []);
    t.true(good >= frames.length - 15, `${good} frames with a checksum tshark validated`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
