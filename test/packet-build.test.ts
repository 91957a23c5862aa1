/**
 * Proves the packet builders (src/packet/build.ts) against a real peer: every case below is built,
 * all of them are written into one pcap, and tshark reads it ONCE with checksum validation turned
 * on for IPv4, TCP, UDP and SCTP (CRC-32C); ICMP and ICMPv6 checksums tshark always checks. Each
 * case asserts the fields tshark reads (addresses, ports, tags, labels, I-SID, extension headers,
 * ND target and options...) and the status of every checksum it found: good unless the case asks
 * for a bad, zero or partial one. A missing tshark fails the tests, it never skips them.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPacket, parseIpv4, parseIpv6, parseMac, type PacketDesc } from '../src/packet/build.js';
import { writePcap } from './pcap.js';

const bytes = (...b: number[]): Uint8Array => Uint8Array.of(...b);
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** tshark's checksum status values (proto_checksum_enum_e). */
const BAD = '0';
const GOOD = '1';
const UNVERIFIED = '2';
const NOT_PRESENT = '3';
const ILLEGAL = '4';

interface Case {
  name: string;
  desc: PacketDesc;
  /** Field → exact tshark text; several occurrences joined with '|'; '' = absent. */
  expect: Record<string, string>;
  /** Expected status of these checksum fields; every other status tshark reports must be GOOD. */
  sums?: Record<string, string>;
  /** The frame to write, when it is not buildPacket(desc) (a completed partial checksum). */
  frame?: Buffer;
}

/** The fields read from tshark: everything any case asserts, in one run. */
const FIELDS = [
  'frame.len', 'frame.protocols', 'eth.dst', 'eth.src', 'eth.type', 'eth.padding',
  'vlan.id', 'vlan.priority', 'vlan.dei', 'vlan.etype', 'ieee8021ad.id', 'ieee8021ad.priority', 'ieee8021ad.dei',
  'ieee8021ah.isid', 'ieee8021ah.priority', 'ieee8021ah.drop', 'ieee8021ah.nca', 'ieee8021ah.cdst', 'ieee8021ah.csrc', 'ieee8021ah.etype',
  'mpls.label', 'mpls.exp', 'mpls.bottom', 'mpls.ttl',
  'arp.opcode', 'arp.src.hw_mac', 'arp.src.proto_ipv4', 'arp.dst.hw_mac', 'arp.dst.proto_ipv4',
  'ip.src', 'ip.dst', 'ip.ttl', 'ip.proto', 'ip.id', 'ip.len', 'ip.hdr_len', 'ip.dsfield.dscp', 'ip.dsfield.ecn',
  'ip.flags.df', 'ip.flags.mf', 'ip.frag_offset', 'ip.opt.type', 'ip.checksum.status',
  'ipv6.src', 'ipv6.dst', 'ipv6.hlim', 'ipv6.nxt', 'ipv6.plen', 'ipv6.tclass.dscp', 'ipv6.tclass.ecn', 'ipv6.flow',
  'ipv6.hopopts.nxt', 'ipv6.hopopts.len_oct', 'ipv6.dstopts.nxt', 'ipv6.dstopts.len_oct', 'ipv6.opt.type',
  'ipv6.routing.nxt', 'ipv6.routing.len_oct', 'ipv6.routing.type', 'ipv6.routing.segleft',
  'ipv6.fraghdr.nxt', 'ipv6.fraghdr.offset', 'ipv6.fraghdr.more', 'ipv6.fraghdr.ident',
  'ah.next_header', 'ah.length', 'ah.spi', 'ah.sequence', 'esp.spi', 'esp.sequence',
  'tcp.srcport', 'tcp.dstport', 'tcp.seq_raw', 'tcp.ack_raw', 'tcp.flags', 'tcp.window_size_value', 'tcp.hdr_len',
  'tcp.option_kind', 'tcp.checksum.status',
  'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum.status',
  'sctp.srcport', 'sctp.dstport', 'sctp.verification_tag', 'sctp.chunk_type', 'sctp.data_payload_proto_id', 'sctp.checksum.status',
  'icmp.type', 'icmp.code', 'icmp.ident', 'icmp.seq', 'icmp.checksum.status',
  'icmpv6.type', 'icmpv6.code', 'icmpv6.checksum.status', 'icmpv6.nd.ns.target_address', 'icmpv6.nd.na.target_address',
  'icmpv6.nd.na.flag.r', 'icmpv6.nd.na.flag.s', 'icmpv6.nd.na.flag.o', 'icmpv6.opt.type', 'icmpv6.opt.src_linkaddr', 'icmpv6.opt.target_linkaddr',
  'data.data',
] as const;

const STATUS_FIELDS = FIELDS.filter((f) => f.endsWith('checksum.status'));

/**
 * Finishes a partial L4 checksum the way a NIC does (sum from the L4 header to the end of the IP
 * payload, the field included, and store the complement): written here, from the definition, so
 * the test does not lean on src/packet/checksum.ts.
 */
function completePartial(frame: Buffer, l4: number, field: number, end = frame.length): Buffer {
  const out = Buffer.from(frame);
  let s = 0;
  for (let i = l4; i < end; i += 2) s += (out[i]! << 8) | (i + 1 < end ? out[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  out.writeUInt16BE(~s & 0xffff, l4 + field);
  return out;
}

const MSS_NOP_WS_SACKOK = bytes(2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2); // 10 bytes, padded to 12

const cases: Case[] = [
  // ---- Ethernet, ARP, bare payloads
  {
    name: 'UDP/IPv4 with defaults and a payload',
    desc: { ipv4: {}, udp: {}, payload: text('hello') },
    expect: {
      'frame.len': '47', 'frame.protocols': 'eth:ethertype:ip:udp:data', 'eth.dst': '00:00:00:00:00:02', 'eth.src': '00:00:00:00:00:01',
      'eth.type': '0x0800', 'ip.src': '10.0.0.1', 'ip.dst': '10.0.0.2', 'ip.ttl': '64', 'ip.proto': '17', 'ip.id': '0x0000', 'ip.len': '33',
      'ip.hdr_len': '20', 'ip.flags.df': '0', 'ip.flags.mf': '0', 'ip.frag_offset': '0',
      'udp.srcport': '1', 'udp.dstport': '2', 'udp.length': '13', 'data.data': '68656c6c6f',
    },
  },
  {
    name: 'TCP/IPv4 defaults: a SYN, window 8192',
    desc: { ipv4: {}, tcp: {} },
    expect: {
      'frame.len': '54', 'ip.proto': '6', 'tcp.srcport': '1', 'tcp.dstport': '2', 'tcp.seq_raw': '0', 'tcp.ack_raw': '0',
      'tcp.flags': '0x0002', 'tcp.window_size_value': '8192', 'tcp.hdr_len': '20',
    },
  },
  {
    name: 'TCP/IPv4 with every header field and options',
    desc: {
      eth: { dst: 'AA:bb:cc:dd:ee:ff', src: '02-00-00-00-00-09' },
      ipv4: { src: '192.168.1.200', dst: '172.16.0.255', ttl: 3, dscp: 46, ecn: 3, id: 0xbeef, df: true },
      tcp: { src: 40000, dst: 443, seq: 0xfffffff0, ack: 0x12345678, flags: 0x018, window: 65535, options: MSS_NOP_WS_SACKOK },
      payload: text('GET / HTTP/1.0\r\n\r\n'),
    },
    expect: {
      'eth.dst': 'aa:bb:cc:dd:ee:ff', 'eth.src': '02:00:00:00:00:09', 'ip.src': '192.168.1.200', 'ip.dst': '172.16.0.255', 'ip.ttl': '3',
      'ip.dsfield.dscp': '46', 'ip.dsfield.ecn': '3', 'ip.id': '0xbeef', 'ip.flags.df': '1', 'ip.len': String(20 + 32 + 18),
      'tcp.srcport': '40000', 'tcp.dstport': '443', 'tcp.seq_raw': String(0xfffffff0), 'tcp.ack_raw': String(0x12345678),
      'tcp.flags': '0x0018', 'tcp.window_size_value': '65535', 'tcp.hdr_len': '32', 'tcp.option_kind': '2|1|3|4|0|0',
    },
  },
  {
    name: 'ICMPv4 echo request with id, sequence and data',
    desc: { ipv4: {}, icmp: { type: 8, rest: bytes(0x12, 0x34, 0x00, 0x07) }, payload: text('ping') },
    expect: { 'ip.proto': '1', 'icmp.type': '8', 'icmp.code': '0', 'icmp.ident': '4660', 'icmp.seq': '7', 'data.data': '70696e67' },
  },
  {
    name: 'ICMPv4 port unreachable (odd length)',
    desc: { ipv4: {}, icmp: { type: 3, code: 3 }, payload: bytes(0x45, 0, 0) },
    expect: { 'icmp.type': '3', 'icmp.code': '3' },
  },
  {
    name: 'ARP request with defaults',
    desc: { arp: {} },
    expect: {
      'frame.len': '42', 'eth.type': '0x0806', 'arp.opcode': '1', 'arp.src.hw_mac': '00:00:00:00:00:01', 'arp.src.proto_ipv4': '10.0.0.1',
      'arp.dst.hw_mac': '00:00:00:00:00:00', 'arp.dst.proto_ipv4': '10.0.0.2',
    },
  },
  {
    name: 'ARP reply with every field, padded to 60',
    desc: {
      eth: { src: '00:11:22:33:44:55', dst: 'ff:ff:ff:ff:ff:ff' },
      arp: { op: 2, sha: '00:11:22:33:44:55', spa: '192.0.2.1', tha: '66:77:88:99:aa:bb', tpa: '192.0.2.254' },
      minLength: 60,
    },
    expect: {
      'frame.len': '60', 'eth.padding': '000000000000000000000000000000000000', 'arp.opcode': '2', 'arp.src.hw_mac': '00:11:22:33:44:55',
      'arp.src.proto_ipv4': '192.0.2.1', 'arp.dst.hw_mac': '66:77:88:99:aa:bb', 'arp.dst.proto_ipv4': '192.0.2.254',
    },
  },
  {
    name: 'a bare payload behind an overridden ethertype',
    desc: { ethType: 0x88b5, payload: bytes(1, 2, 3, 4) },
    expect: { 'frame.len': '18', 'eth.type': '0x88b5', 'data.data': '01020304' },
  },
  {
    name: 'minLength pads after the IP packet and leaves lengths and checksums alone',
    desc: { ipv4: {}, udp: {}, payload: bytes(0xff), minLength: 60 },
    expect: { 'frame.len': '60', 'ip.len': '29', 'udp.length': '9', 'eth.padding': '00'.repeat(60 - 43), 'data.data': 'ff' },
  },

  // ---- VLAN
  {
    name: 'one 802.1Q tag with priority and DEI',
    desc: { vlans: [{ vid: 100, pcp: 5, dei: 1 }], ipv4: {}, udp: {} },
    expect: { 'eth.type': '0x8100', 'vlan.id': '100', 'vlan.priority': '5', 'vlan.dei': '1', 'vlan.etype': '0x0800', 'udp.srcport': '1' },
  },
  {
    name: 'QinQ: an 802.1ad S-tag over an 802.1Q C-tag, TCP/IPv6',
    desc: { vlans: [{ tpid: 0x88a8, vid: 4094, pcp: 7 }, { vid: 1, pcp: 1 }], ipv6: {}, tcp: { src: 22, dst: 1022 } },
    expect: {
      'eth.type': '0x88a8', 'ieee8021ad.id': '4094', 'ieee8021ad.priority': '7', 'vlan.id': '1', 'vlan.priority': '1', 'vlan.etype': '0x86dd',
      'ipv6.src': '2001:db8::1', 'ipv6.dst': '2001:db8::2', 'tcp.srcport': '22', 'tcp.dstport': '1022',
    },
  },
  {
    name: 'two 802.1Q tags, the outer with the old 0x9100 TPID',
    desc: { vlans: [{ tpid: 0x9100, vid: 7 }, { vid: 8 }], ipv4: {}, udp: {} },
    expect: { 'eth.type': '0x9100', 'vlan.id': '7|8', 'vlan.etype': '0x8100|0x0800', 'udp.dstport': '2' },
  },

  // ---- MPLS
  {
    name: 'one MPLS label with TC and TTL over IPv4',
    desc: { mpls: [{ label: 0xfffff, tc: 5, ttl: 9 }], ipv4: {}, udp: { src: 53, dst: 5353 } },
    expect: {
      'eth.type': '0x8847', 'mpls.label': String(0xfffff), 'mpls.exp': '5', 'mpls.bottom': '1', 'mpls.ttl': '9',
      'ip.src': '10.0.0.1', 'udp.srcport': '53', 'udp.dstport': '5353',
    },
  },
  {
    name: 'three MPLS labels under a VLAN tag, TCP/IPv6 inside',
    desc: { vlans: [{ vid: 20 }], mpls: [{ label: 16 }, { label: 17, tc: 1 }, { label: 18, ttl: 1 }], ipv6: {}, tcp: {} },
    expect: {
      'vlan.id': '20', 'vlan.etype': '0x8847', 'mpls.label': '16|17|18', 'mpls.exp': '0|1|0', 'mpls.bottom': '0|0|1', 'mpls.ttl': '64|64|1',
      'ipv6.dst': '2001:db8::2', 'tcp.dstport': '2',
    },
  },

  // ---- PBB
  {
    name: 'PBB: B-tag, I-TAG, customer frame with its own tag and TCP/IPv4',
    desc: {
      eth: { dst: '00:00:00:00:0b:02', src: '00:00:00:00:0b:01' },
      vlans: [{ tpid: 0x88a8, vid: 300 }],
      pbb: {
        isid: 0xabcdef, pcp: 6, dei: 1, uca: 1,
        inner: { eth: { dst: '00:00:00:00:0c:02', src: '00:00:00:00:0c:01' }, vlans: [{ vid: 42 }], ipv4: { src: '1.2.3.4' }, tcp: {} },
      },
    },
    expect: {
      'eth.dst': '00:00:00:00:0b:02', 'eth.src': '00:00:00:00:0b:01', 'ieee8021ad.id': '300', 'ieee8021ah.isid': String(0xabcdef),
      'ieee8021ah.priority': '6', 'ieee8021ah.drop': '1', 'ieee8021ah.nca': '1', 'ieee8021ah.cdst': '00:00:00:00:0c:02',
      'ieee8021ah.csrc': '00:00:00:00:0c:01', 'ieee8021ah.etype': '0x8100', 'vlan.id': '42', 'ip.src': '1.2.3.4', 'tcp.flags': '0x0002',
    },
  },
  {
    name: 'PBB with the I-TAG straight after the B-MACs, UDP/IPv6 inside',
    desc: { pbb: { isid: 1, inner: { ipv6: { src: '::1', dst: '::2' }, udp: {} } } },
    expect: {
      'eth.type': '0x88e7', 'ieee8021ah.isid': '1', 'ieee8021ah.priority': '0', 'ieee8021ah.nca': '0', 'ieee8021ah.cdst': '00:00:00:00:00:02',
      'ieee8021ah.etype': '0x86dd', 'ipv6.src': '::1', 'ipv6.dst': '::2', 'udp.srcport': '1',
    },
  },

  // ---- IPv4 options and fragments
  {
    name: 'IPv4 options (NOP, Router Alert) padded to a multiple of 4',
    desc: { ipv4: { options: bytes(1, 0x94, 4, 0, 0) }, udp: {} },
    expect: { 'ip.hdr_len': '28', 'ip.opt.type': '1|148|0', 'ip.len': '36', 'udp.dstport': '2' },
  },
  {
    name: 'IPv4 first fragment (MF, offset 0) still carries the UDP header',
    desc: { ipv4: { id: 77, mf: true }, udp: { src: 9, dst: 10 }, payload: new Uint8Array(16) },
    expect: { 'ip.flags.mf': '1', 'ip.frag_offset': '0', 'ip.id': '0x004d', 'udp.srcport': '9', 'udp.dstport': '10' },
    // the datagram is not all here: tshark leaves the UDP checksum unverified
    sums: { 'udp.checksum.status': UNVERIFIED },
  },
  {
    name: 'IPv4 later fragment: tshark finds no UDP header',
    desc: { ipv4: { id: 77, fragOffset: 3 }, udp: {}, payload: new Uint8Array(8) },
    expect: { 'ip.flags.mf': '0', 'ip.frag_offset': '3', 'ip.proto': '17', 'udp.srcport': '', 'frame.protocols': 'eth:ethertype:ip:data' },
  },
  {
    name: 'IPv4 with an unknown protocol and a payload',
    desc: { ipv4: { proto: 253 }, payload: bytes(9, 9) },
    expect: { 'ip.proto': '253', 'ip.len': '22', 'data.data': '0909' },
  },

  // ---- IPv6 and its extension headers
  {
    name: 'UDP/IPv6 with traffic class, flow label and hop limit',
    desc: {
      ipv6: { src: '2001:DB8:0:0:8:800:200C:417A', dst: 'ff02::1:ff00:1', hlim: 1, dscp: 10, ecn: 2, flabel: 0xabcde },
      udp: { src: 546, dst: 547 },
      payload: bytes(1, 2, 3),
    },
    expect: {
      'ipv6.src': '2001:db8::8:800:200c:417a', 'ipv6.dst': 'ff02::1:ff00:1', 'ipv6.hlim': '1', 'ipv6.tclass.dscp': '10', 'ipv6.tclass.ecn': '2',
      'ipv6.flow': '0x0abcde', 'ipv6.nxt': '17', 'ipv6.plen': '11', 'udp.length': '11', 'udp.srcport': '546',
    },
  },
  {
    name: 'IPv6 addresses in the other RFC 4291 text forms',
    desc: { ipv6: { src: '::ffff:192.0.2.33', dst: '0:0:0:0:0:0:0:1' }, udp: {} },
    expect: { 'ipv6.src': '::ffff:192.0.2.33', 'ipv6.dst': '::1' },
  },
  {
    name: 'IPv6 hop-by-hop, routing, destination and fragment headers chained to TCP',
    desc: { ipv6: { ext: [{ type: 'hop' }, { type: 'routing' }, { type: 'dest', length: 16 }, { type: 'frag', id: 0x01020304 }] }, tcp: {} },
    expect: {
      'ipv6.nxt': '0', 'ipv6.hopopts.nxt': '43', 'ipv6.hopopts.len_oct': '8', 'ipv6.routing.nxt': '60', 'ipv6.routing.type': '253',
      'ipv6.routing.segleft': '0', 'ipv6.routing.len_oct': '8', 'ipv6.dstopts.nxt': '44', 'ipv6.dstopts.len_oct': '16',
      'ipv6.opt.type': '0x01|0x01', 'ipv6.fraghdr.nxt': '6', 'ipv6.fraghdr.offset': '0', 'ipv6.fraghdr.more': '0',
      'ipv6.fraghdr.ident': '0x01020304', 'ipv6.plen': String(8 + 8 + 16 + 8 + 20), 'tcp.srcport': '1', 'tcp.flags': '0x0002',
    },
  },
  {
    name: 'IPv6 long hop-by-hop and destination options (several PadN)',
    desc: { ipv6: { ext: [{ type: 'hop', length: 1288 }, { type: 'dest', length: 24 }] }, udp: {} },
    expect: {
      'ipv6.hopopts.len_oct': '1288', 'ipv6.hopopts.nxt': '60', 'ipv6.dstopts.len_oct': '24', 'ipv6.dstopts.nxt': '17',
      'ipv6.opt.type': '0x01|0x01|0x01|0x01|0x01|0x01|0x01', 'udp.dstport': '2',
    },
  },
  {
    name: 'IPv6 first fragment (M set) of UDP',
    desc: { ipv6: { ext: [{ type: 'frag', more: true, id: 9 }] }, udp: {}, payload: new Uint8Array(8) },
    expect: { 'ipv6.nxt': '44', 'ipv6.fraghdr.nxt': '17', 'ipv6.fraghdr.more': '1', 'ipv6.fraghdr.offset': '0', 'udp.srcport': '1' },
    sums: { 'udp.checksum.status': UNVERIFIED },
  },
  {
    name: 'IPv6 later fragment: no UDP header',
    desc: { ipv6: { ext: [{ type: 'frag', offset: 100, id: 9 }] }, udp: {}, payload: new Uint8Array(8) },
    expect: { 'ipv6.fraghdr.offset': '100', 'ipv6.fraghdr.more': '0', 'ipv6.fraghdr.nxt': '17', 'udp.srcport': '' },
  },
  {
    name: 'IPv6 AH then TCP',
    desc: { ipv6: { ext: [{ type: 'ah', id: 0x1000 }] }, tcp: { dst: 179 } },
    expect: { 'ipv6.nxt': '51', 'ah.next_header': '6', 'ah.length': '4', 'ah.spi': '0x00001000', 'ah.sequence': '1', 'tcp.dstport': '179' },
  },
  {
    name: 'IPv6 hop-by-hop then ESP (the rest is opaque)',
    desc: { ipv6: { ext: [{ type: 'hop' }, { type: 'esp', id: 0xcafe, length: 24 }] }, udp: {} },
    expect: { 'ipv6.nxt': '0', 'ipv6.hopopts.nxt': '50', 'esp.spi': '0x0000cafe', 'esp.sequence': '1', 'udp.srcport': '', 'ipv6.plen': String(8 + 24 + 8) },
  },
  {
    name: 'IPv6 with no next header and nothing after',
    desc: { ipv6: {} },
    expect: { 'ipv6.nxt': '59', 'ipv6.plen': '0', 'frame.len': '54' },
  },
  {
    name: 'IPv6 destination options ending the chain with No Next Header',
    desc: { ipv6: { ext: [{ type: 'dest' }, { type: 'none' }] } },
    expect: { 'ipv6.nxt': '60', 'ipv6.dstopts.nxt': '59', 'ipv6.plen': '8' },
  },
  {
    name: 'IPv6 nextHeader override',
    desc: { ipv6: { ext: [{ type: 'hop' }], nextHeader: 253 }, payload: bytes(5) },
    expect: { 'ipv6.hopopts.nxt': '253', 'data.data': '05' },
  },

  // ---- SCTP
  {
    name: 'SCTP/IPv4 with a DATA chunk',
    desc: { ipv4: {}, sctp: { src: 2905, dst: 2944, vtag: 0xdeadbeef }, payload: text('abcde') },
    expect: {
      'ip.proto': '132', 'sctp.srcport': '2905', 'sctp.dstport': '2944', 'sctp.verification_tag': '0xdeadbeef', 'sctp.chunk_type': '0',
      'sctp.data_payload_proto_id': '0', 'ip.len': String(20 + 12 + 16 + 8),
    },
  },
  {
    name: 'SCTP/IPv6 without chunks',
    desc: { ipv6: {}, sctp: {} },
    expect: { 'ipv6.nxt': '132', 'sctp.srcport': '1', 'sctp.dstport': '2', 'sctp.verification_tag': '0x00000001', 'ipv6.plen': '12' },
  },

  // ---- ICMPv6 and ND
  {
    name: 'ICMPv6 echo request',
    desc: { ipv6: {}, icmpv6: { type: 128, body: bytes(0, 1, 0, 2) }, payload: text('x') },
    expect: { 'ipv6.nxt': '58', 'icmpv6.type': '128', 'icmpv6.code': '0', 'data.data': '78' },
  },
  {
    name: 'ICMPv6 destination unreachable, code 4, behind a hop-by-hop header',
    desc: { ipv6: { ext: [{ type: 'hop' }] }, icmpv6: { type: 1, code: 4 } },
    expect: { 'ipv6.hopopts.nxt': '58', 'icmpv6.type': '1', 'icmpv6.code': '4' },
  },
  {
    name: 'ND neighbor solicitation with a source link-layer address',
    desc: { ipv6: { src: 'fe80::1', dst: 'ff02::1:ff00:2', hlim: 255 }, nd: { type: 135, target: 'fe80::2', sll: '00:00:00:00:00:01' } },
    expect: {
      'icmpv6.type': '135', 'icmpv6.nd.ns.target_address': 'fe80::2', 'icmpv6.opt.type': '1', 'icmpv6.opt.src_linkaddr': '00:00:00:00:00:01',
      'icmpv6.opt.target_linkaddr': '', 'ipv6.plen': '32',
    },
  },
  {
    name: 'ND neighbor solicitation without options (DAD)',
    desc: { ipv6: { src: '::', dst: 'ff02::1:ff00:2', hlim: 255 }, nd: { type: 135, target: '2001:db8::2' } },
    expect: { 'icmpv6.nd.ns.target_address': '2001:db8::2', 'icmpv6.opt.type': '', 'ipv6.plen': '24', 'ipv6.src': '::' },
  },
  {
    name: 'ND neighbor advertisement (S, O) with a target link-layer address',
    desc: { ipv6: { src: 'fe80::2', dst: 'fe80::1', hlim: 255 }, nd: { type: 136, target: 'fe80::2', tll: '0a:0b:0c:0d:0e:0f', flags: 0x60 } },
    expect: {
      'icmpv6.type': '136', 'icmpv6.nd.na.target_address': 'fe80::2', 'icmpv6.nd.na.flag.r': '0', 'icmpv6.nd.na.flag.s': '1',
      'icmpv6.nd.na.flag.o': '1', 'icmpv6.opt.type': '2', 'icmpv6.opt.target_linkaddr': '0a:0b:0c:0d:0e:0f',
    },
  },
  {
    name: 'ND advertisement (R) with both link-layer options',
    desc: { ipv6: {}, nd: { type: 136, target: '2001:db8::1', sll: '00:00:00:00:00:aa', tll: '00:00:00:00:00:bb', flags: 0x80 } },
    expect: {
      'icmpv6.nd.na.flag.r': '1', 'icmpv6.nd.na.flag.s': '0', 'icmpv6.opt.type': '1|2', 'icmpv6.opt.src_linkaddr': '00:00:00:00:00:aa',
      'icmpv6.opt.target_linkaddr': '00:00:00:00:00:bb',
    },
  },

  // ---- checksum modes
  { name: 'bad IPv4 header checksum', desc: { ipv4: {}, udp: {}, ipv4Checksum: 'bad' }, expect: {}, sums: { 'ip.checksum.status': BAD } },
  { name: 'bad TCP/IPv4 checksum', desc: { ipv4: {}, tcp: {}, l4Checksum: 'bad' }, expect: {}, sums: { 'tcp.checksum.status': BAD } },
  { name: 'bad TCP/IPv6 checksum', desc: { ipv6: {}, tcp: {}, l4Checksum: 'bad' }, expect: {}, sums: { 'tcp.checksum.status': BAD } },
  { name: 'bad UDP/IPv4 checksum', desc: { ipv4: {}, udp: {}, l4Checksum: 'bad' }, expect: {}, sums: { 'udp.checksum.status': BAD } },
  { name: 'bad UDP/IPv6 checksum', desc: { ipv6: {}, udp: {}, l4Checksum: 'bad' }, expect: {}, sums: { 'udp.checksum.status': BAD } },
  { name: 'bad ICMPv4 checksum', desc: { ipv4: {}, icmp: { type: 8 }, l4Checksum: 'bad' }, expect: {}, sums: { 'icmp.checksum.status': BAD } },
  { name: 'bad ICMPv6 checksum', desc: { ipv6: {}, icmpv6: { type: 128 }, l4Checksum: 'bad' }, expect: {}, sums: { 'icmpv6.checksum.status': BAD } },
  { name: 'bad ND checksum', desc: { ipv6: {}, nd: { type: 135, target: '::9' }, l4Checksum: 'bad' }, expect: {}, sums: { 'icmpv6.checksum.status': BAD } },
  { name: 'bad SCTP CRC32c', desc: { ipv4: {}, sctp: {}, payload: bytes(1), l4Checksum: 'bad' }, expect: {}, sums: { 'sctp.checksum.status': BAD } },
  { name: 'both IPv4 and TCP checksums bad', desc: { ipv4: {}, tcp: {}, ipv4Checksum: 'bad', l4Checksum: 'bad' }, expect: {}, sums: { 'ip.checksum.status': BAD, 'tcp.checksum.status': BAD } },
  { name: 'zero UDP/IPv4 checksum means none', desc: { ipv4: {}, udp: {}, l4Checksum: 'zero' }, expect: {}, sums: { 'udp.checksum.status': NOT_PRESENT } },
  { name: 'zero UDP/IPv6 checksum is illegal', desc: { ipv6: {}, udp: {}, l4Checksum: 'zero' }, expect: {}, sums: { 'udp.checksum.status': ILLEGAL } },
  { name: 'zero TCP checksum is bad', desc: { ipv4: {}, tcp: {}, l4Checksum: 'zero' }, expect: {}, sums: { 'tcp.checksum.status': BAD } },
];

/** Partial checksums: as built they must not validate; completed they must equal the valid frame. */
const partials: Array<{ name: string; desc: PacketDesc; field: string; l4: number; at: number }> = [
  { name: 'TCP/IPv4', desc: { ipv4: {}, tcp: {}, payload: text('data') }, field: 'tcp.checksum.status', l4: 34, at: 16 },
  { name: 'UDP/IPv4 in a VLAN', desc: { vlans: [{ vid: 5 }], ipv4: { options: bytes(1, 1, 1, 1) }, udp: {}, payload: text('odd') }, field: 'udp.checksum.status', l4: 42, at: 6 },
  { name: 'TCP/IPv6 behind a hop-by-hop header', desc: { ipv6: { ext: [{ type: 'hop' }] }, tcp: {} }, field: 'tcp.checksum.status', l4: 62, at: 16 },
  { name: 'UDP/IPv6', desc: { ipv6: {}, udp: {}, payload: text('hello') }, field: 'udp.checksum.status', l4: 54, at: 6 },
  { name: 'ICMPv6', desc: { ipv6: {}, icmpv6: { type: 128 } }, field: 'icmpv6.checksum.status', l4: 54, at: 2 },
  { name: 'ND', desc: { ipv6: {}, nd: { type: 135, target: 'fe80::1', sll: '00:00:00:00:00:01' } }, field: 'icmpv6.checksum.status', l4: 54, at: 2 },
];
for (const p of partials) {
  const desc: PacketDesc = { ...p.desc, l4Checksum: 'partial' };
  cases.push({ name: `partial ${p.name} checksum does not validate as is`, desc, expect: {}, sums: { [p.field]: BAD } });
  cases.push({ name: `partial ${p.name} checksum, completed, validates`, desc, expect: {}, frame: completePartial(buildPacket(desc), p.l4, p.at) });
}
cases.push(
  { name: 'partial SCTP checksum (left zero) does not validate', desc: { ipv4: {}, sctp: {}, l4Checksum: 'partial' }, expect: {}, sums: { 'sctp.checksum.status': BAD } },
  { name: 'partial ICMPv4 checksum (no pseudo-header: zero) does not validate', desc: { ipv4: {}, icmp: { type: 0 }, l4Checksum: 'partial' }, expect: {}, sums: { 'icmp.checksum.status': BAD } },
);

// ---------------------------------------------------------------------------------------------
// One tshark run over all the frames

type Row = Record<string, string>;
let rows: Row[] = [];

test.before('tshark reads every built frame', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-build-'));
  try {
    const pcap = join(dir, 'frames.pcap');
    writePcap(pcap, cases.map((c) => c.frame ?? buildPacket(c.desc)));
    const args = ['-n', '-r', pcap,
      '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
      '-o', 'sctp.checksum:CRC 32c', '-o', 'ip.defragment:FALSE', '-o', 'ipv6.defragment:FALSE',
      '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|', '-E', 'separator=/t',
      ...FIELDS.flatMap((f) => ['-e', f])];
    const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    if (r.error || r.status !== 0) throw new Error(`tshark failed: ${r.error?.message ?? r.stderr}`);
    const lines = r.stdout.split('\n').filter((l) => l !== '');
    rows = lines.map((line) => {
      const vals = line.split('\t');
      return Object.fromEntries(FIELDS.map((f, i) => [f, vals[i] ?? '']));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('tshark printed one line per frame', (t) => {
  t.is(rows.length, cases.length);
});

cases.forEach((c, i) => {
  test(`tshark: ${c.name}`, (t) => {
    const row = rows[i]!;
    t.truthy(row, 'no tshark line');
    for (const [f, v] of Object.entries(c.expect)) t.is(row[f], v, f);
    // every checksum tshark found is good, unless the case says otherwise
    for (const f of STATUS_FIELDS) {
      const want = c.sums?.[f];
      if (want !== undefined) t.is(row[f], want, f);
      else if (row[f] !== '') t.true(row[f]!.split('|').every((s) => s === GOOD), `${f} = ${row[f]}`);
    }
    t.false(row['frame.protocols']!.includes('malformed'), row['frame.protocols']);
  });
});

test('a completed partial checksum gives the valid frame byte for byte', (t) => {
  for (const p of partials) {
    const completed = completePartial(buildPacket({ ...p.desc, l4Checksum: 'partial' }), p.l4, p.at);
    t.deepEqual(completed, buildPacket(p.desc), p.name);
  }
});

// ---------------------------------------------------------------------------------------------
// Address parsers and description errors

test('parseIpv6 reads every RFC 4291 text form', (t) => {
  const hex = (s: string) => Buffer.from(parseIpv6(s)).toString('hex');
  t.is(hex('::'), '0'.repeat(32));
  t.is(hex('::1'), '0'.repeat(31) + '1');
  t.is(hex('1::'), '0001' + '0'.repeat(28));
  t.is(hex('2001:DB8:0:0:8:800:200C:417A'), '20010db80000000000080800200c417a');
  t.is(hex('2001:db8::8:800:200c:417a'), '20010db80000000000080800200c417a');
  t.is(hex('ff01::101'), 'ff010000000000000000000000000101');
  t.is(hex('::13.1.68.3'), '0'.repeat(24) + '0d014403');
  t.is(hex('::ffff:129.144.52.38'), '0'.repeat(20) + 'ffff81903426');
  t.is(hex('0:0:0:0:0:0:13.1.68.3'), '0'.repeat(24) + '0d014403');
  t.is(hex('1:2:3:4:5:6:7::'), '0001000200030004000500060007' + '0000');
  t.is(hex('::2:3:4:5:6:7:8'), '0000000200030004000500060007' + '0008');
  for (const bad of ['', ':', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::', '1:2:3:4:5:6:7:8::', '::1.2.3', '1.2.3.4::', ':1::', '1:::2']) {
    t.throws(() => parseIpv6(bad), undefined, bad);
  }
});

test('parseIpv6 agrees with the WHATWG URL parser on random addresses', (t) => {
  let seed = 12345;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  for (let k = 0; k < 2000; k++) {
    const groups = Array.from({ length: 8 }, () => (rnd(3) === 0 ? 0 : rnd(0x10000)));
    const full = groups.map((g) => g.toString(16)).join(':');
    const canonical = new URL(`http://[${full}]/`).hostname.slice(1, -1); // compressed, RFC 5952 style
    const want = Buffer.from(groups.flatMap((g) => [g >> 8, g & 0xff]));
    t.deepEqual(Buffer.from(parseIpv6(full)), want, full);
    t.deepEqual(Buffer.from(parseIpv6(canonical)), want, canonical);
  }
});

test('parseMac and parseIpv4 accept the usual forms and reject the rest', (t) => {
  t.deepEqual(Array.from(parseMac('aa:BB:0c:d:ee:ff')), [0xaa, 0xbb, 0x0c, 0x0d, 0xee, 0xff]);
  t.deepEqual(Array.from(parseMac('02-00-00-00-00-09')), [2, 0, 0, 0, 0, 9]);
  t.deepEqual(Array.from(parseIpv4('255.0.10.1')), [255, 0, 10, 1]);
  for (const bad of ['', 'aa:bb:cc:dd:ee', 'aa:bb:cc:dd:ee:ff:00', 'aaa:bb:cc:dd:ee:ff', 'xx:bb:cc:dd:ee:ff']) t.throws(() => parseMac(bad), undefined, bad);
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.x', '1..2.3']) t.throws(() => parseIpv4(bad), undefined, bad);
});

test('an empty description is a bare Ethernet header; every frame owns its memory', (t) => {
  const f = buildPacket({});
  t.is(f.toString('hex'), '000000000002' + '000000000001' + '88b5');
  t.is(f.byteOffset, 0);
  t.is(f.buffer.byteLength, f.length);
  t.is(buildPacket({ ipv4: {}, udp: {}, minLength: 60 }).buffer.byteLength, 60);
});

test('descriptions the wire cannot carry are refused', (t) => {
  t.throws(() => buildPacket({ ipv4: {}, tcp: {}, udp: {} }), { message: /more than one L4/ });
  t.throws(() => buildPacket({ ipv4: { options: new Uint8Array(41) } }), { message: /IPv4 options/ });
  t.throws(() => buildPacket({ ipv4: {}, tcp: { options: new Uint8Array(41) } }), { message: /TCP options/ });
  t.throws(() => buildPacket({ ipv6: { ext: [{ type: 'hop', length: 12 }] } }), { message: /hop header length/ });
  t.throws(() => buildPacket({ ipv4: {}, payload: new Uint8Array(65516) }), { message: /longer than 65535/ });
  t.throws(() => buildPacket({ ipv6: {}, udp: { src: 5 }, payload: new Uint8Array(65528) }), { message: /longer than 65535/ });
  t.throws(() => buildPacket({ eth: { src: '1:2:3' } }), { message: /bad MAC/ });
});
