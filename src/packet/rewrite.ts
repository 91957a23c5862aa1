/**
 * Header rewrites: one function per OpenFlow 1.3 action that changes a packet, applied in place to
 * a parsed frame (a Packet and the Offsets extraction recorded for it).
 *
 * Rules every function keeps:
 * - It checks that the header it changes is there and complete inside [pkt.start, pkt.end); if
 *   not, it returns false and leaves the packet (and the Offsets) as they were (the two TTL
 *   decrements differ: their false means "TTL expired", see decNwTtl). It never throws
 *   and never reads or writes a byte outside the frame; pushes grow the frame into the headroom
 *   through pkt.insert, pops shrink it through pkt.remove.
 * - Offsets stay right: after a push or pop they are what extraction of the new frame gives
 *   (tracked where that is cheap and exact; re-extracted where the new outer layer was never
 *   parsed: the customer frame after pop_pbb, the payload after pop_mpls, and after set-fields
 *   that change how the rest of the frame reads: ETH_TYPE, IP_PROTO, ICMPV6_TYPE/CODE, MPLS_BOS).
 * - Checksums stay right: IPv4 header, TCP/UDP/ICMPv6 (pseudo-header) when addresses change,
 *   TCP/UDP when ports change, ICMPv4/ICMPv6 when type, code or ND fields change, all by RFC 1624
 *   incremental update; SCTP's CRC32c from the bytes that changed (see setSctpPort). An incremental
 *   update keeps a wrong checksum wrong by the same amount: a switch must not make a corrupted
 *   packet look valid, and real switches behave so. A UDP checksum of 0 ("none") stays 0, and a
 *   UDP checksum that updates to 0 is stored as 0xffff.
 * - Checksums are assumed complete: frames arriving with a partial (offloaded) checksum go
 *   through completeChecksum at the port before the pipeline sees them; an incremental update of
 *   a partial field would be wrong (it holds a non-inverted pseudo-header sum).
 */

import { OFPXMT } from '../../proto/constants.js';
import { K } from './key.js';
import type { Packet, Offsets } from './packet.js';
import { extract } from './extract.js';
import { updateChecksum16, replaceDelta, applyDelta, ipWalk, ipInfo, crc32cUpdate, crc32cZeros, readSctpChecksum, writeSctpChecksum } from './checksum.js';

const ETH_IPV4 = 0x0800, ETH_ARP = 0x0806, ETH_RARP = 0x8035, ETH_IPV6 = 0x86dd, ETH_MPLS = 0x8847, ETH_MPLS_MC = 0x8848;
const ETH_PBB = 0x88e7;
const IPPROTO_ICMP = 1, IPPROTO_IPIP = 4, IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_IPV6 = 41;
const IPPROTO_ICMPV6 = 58, IPPROTO_SCTP = 132;
/** MPLS TTL of a label pushed onto a frame with neither MPLS nor IP to copy it from. */
const MPLS_DEFAULT_TTL = 64;

const rd16 = (b: Uint8Array, o: number): number => (b[o]! << 8) | b[o + 1]!;
const rd32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
function wr16(b: Uint8Array, o: number, v: number): void {
  b[o] = (v >>> 8) & 0xff;
  b[o + 1] = v & 0xff;
}
function wr32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** The type/length field after the VLAN tags as it is on the wire, or -1 when it is not there. */
function rawType(pkt: Packet, off: Offsets): number {
  const e = off.ethType;
  return e >= pkt.start && e + 2 <= pkt.end ? rd16(pkt.buf, e) : -1;
}

/**
 * Where OpenFlow's eth_type is: the field after the tags, or for 802.3 LLC/SNAP with OUI
 * 00-00-00 the SNAP type 8 bytes further (as extraction reads it); -1 when there is none.
 */
function typeAt(pkt: Packet, off: Offsets): number {
  const e = off.ethType;
  if (e < pkt.start || e + 2 > pkt.end) return -1;
  const b = pkt.buf;
  if (rd16(b, e) >= 0x0600) return e;
  if (e + 10 > pkt.end || b[e + 2] !== 0xaa || b[e + 3] !== 0xaa || b[e + 4] !== 0x03) return -1;
  if ((b[e + 5]! | b[e + 6]! | b[e + 7]!) !== 0 || rd16(b, e + 8) < 0x0600) return -1;
  return e + 8;
}

/** OpenFlow's eth_type (see typeAt), or -1 for none (plain 802.3, or no field). */
function ethType(pkt: Packet, off: Offsets): number {
  const at = typeAt(pkt, off);
  return at >= 0 ? rd16(pkt.buf, at) : -1;
}

/** off.l3 when the frame is `type` (ETH_IPV4 / ETH_IPV6 / ETH_ARP) and `need` bytes of it are there. */
function l3Of(pkt: Packet, off: Offsets, type: number, need: number): number {
  const l3 = off.l3;
  return l3 >= pkt.start && l3 + need <= pkt.end && ethType(pkt, off) === type ? l3 : -1;
}

/**
 * The protocol of the L4 header at off.l4 (IPv4 protocol, or the last IPv6 next-header), or -1
 * when there is no L4 header or the IP header does not lead to it.
 */
function l4Proto(pkt: Packet, off: Offsets): number {
  const l4 = off.l4;
  if (l4 < pkt.start || l4 >= pkt.end) return -1;
  const t = ethType(pkt, off);
  if (t === ETH_IPV4) return off.l3 >= pkt.start && off.l3 + 20 <= pkt.end ? pkt.buf[off.l3 + 9]! : -1;
  if (t === ETH_IPV6 && ipWalk(pkt.buf, off.l3, pkt.end) && ipInfo.upper === l4) return ipInfo.proto;
  return -1;
}

/** Updates a 16-bit checksum at `at` by a replaceDelta result (UDP rules when `udp`). */
function fixCsum(b: Uint8Array, at: number, delta: number, udp: boolean): void {
  const c = rd16(b, at);
  if (udp && c === 0) return; // no checksum: stays none
  const n = applyDelta(c, delta);
  wr16(b, at, udp && n === 0 ? 0xffff : n);
}

/** Where the L4 checksum covering the pseudo-header is for `proto`, if the field is in the frame. */
function pseudoCsumAt(pkt: Packet, l4: number, proto: number): number {
  const at = proto === IPPROTO_TCP ? l4 + 16 : proto === IPPROTO_UDP ? l4 + 6 : proto === IPPROTO_ICMPV6 ? l4 + 2 : -1;
  return at >= 0 && at + 2 <= pkt.end ? at : -1;
}

// ---------------------------------------------------------------------------------------------
// Offsets after a layout change
// ---------------------------------------------------------------------------------------------

/** Scratch key for re-extraction (the caller's key is not ours to touch). */
const scratchKey = new Uint32Array(K.WORDS);

/** Re-parses the frame into `off` (after a change that alters how the frame reads). */
function reparse(pkt: Packet, off: Offsets): void {
  extract(pkt.buf, pkt.start, pkt.end, scratchKey, off);
}

/** A frame offset after `insert(at, n)`: relative to the old start it moves to the new start. */
function movedIns(v: number, oldStart: number, newStart: number, at: number, n: number): number {
  if (v < 0) return v;
  const rel = v - oldStart;
  return newStart + (rel < at ? rel : rel + n);
}

function shiftInsert(off: Offsets, oldStart: number, newStart: number, at: number, n: number): void {
  off.l2 = movedIns(off.l2, oldStart, newStart, at, n);
  off.vlan = movedIns(off.vlan, oldStart, newStart, at, n);
  off.ethType = movedIns(off.ethType, oldStart, newStart, at, n);
  off.pbb = movedIns(off.pbb, oldStart, newStart, at, n);
  off.mpls = movedIns(off.mpls, oldStart, newStart, at, n);
  off.l3 = movedIns(off.l3, oldStart, newStart, at, n);
  off.l4 = movedIns(off.l4, oldStart, newStart, at, n);
  off.l7 = movedIns(off.l7, oldStart, newStart, at, n);
  off.ndTarget = movedIns(off.ndTarget, oldStart, newStart, at, n);
  off.ndSll = movedIns(off.ndSll, oldStart, newStart, at, n);
  off.ndTll = movedIns(off.ndTll, oldStart, newStart, at, n);
  off.ipv6Frag = movedIns(off.ipv6Frag, oldStart, newStart, at, n);
}

/** After `remove(at, n)`, bytes in front of `at` moved forward by n; the rest did not move. */
function shiftRemove(off: Offsets, at: number, n: number, oldStart: number): void {
  const cut = oldStart + at;
  if (off.l2 >= 0 && off.l2 < cut) off.l2 += n;
  if (off.vlan >= 0 && off.vlan < cut) off.vlan += n;
  if (off.ethType >= 0 && off.ethType < cut) off.ethType += n;
  if (off.pbb >= 0 && off.pbb < cut) off.pbb += n;
  if (off.mpls >= 0 && off.mpls < cut) off.mpls += n;
}

// ---------------------------------------------------------------------------------------------
// set_field
// ---------------------------------------------------------------------------------------------

/**
 * OFPAT_SET_FIELD: writes `value` (the OXM wire value: 6 bytes for a MAC, 4 for an IPv4 address,
 * 2 for VLAN_VID with the 0x1000 present bit, 3 for PBB_ISID, ...) into the field's header and
 * keeps every checksum right. Returns false, changing nothing, when the header is not in the
 * frame, the value is too short, or the field is not a packet field (see the cases below).
 */
export function setField(pkt: Packet, off: Offsets, field: number, value: Uint8Array): boolean {
  switch (field) {
    case OFPXMT.ETH_DST: return setMac(pkt, off.l2 >= 0 ? off.l2 : -1, value);
    case OFPXMT.ETH_SRC: return setMac(pkt, off.l2 >= 0 ? off.l2 + 6 : -1, value);
    case OFPXMT.ETH_TYPE: return setEthType(pkt, off, value);
    case OFPXMT.VLAN_VID: return setVlan(pkt, off, value, 0x0fff);
    case OFPXMT.VLAN_PCP: return setVlan(pkt, off, value, 0xe000);
    case OFPXMT.IP_DSCP: return setTos(pkt, off, value, 0xfc);
    case OFPXMT.IP_ECN: return setTos(pkt, off, value, 0x03);
    case OFPXMT.IP_PROTO: return setIpProto(pkt, off, value);
    case OFPXMT.IPV4_SRC: return setIpv4Addr(pkt, off, 12, value);
    case OFPXMT.IPV4_DST: return setIpv4Addr(pkt, off, 16, value);
    case OFPXMT.TCP_SRC: return setPort(pkt, off, IPPROTO_TCP, 0, value);
    case OFPXMT.TCP_DST: return setPort(pkt, off, IPPROTO_TCP, 2, value);
    case OFPXMT.UDP_SRC: return setPort(pkt, off, IPPROTO_UDP, 0, value);
    case OFPXMT.UDP_DST: return setPort(pkt, off, IPPROTO_UDP, 2, value);
    case OFPXMT.SCTP_SRC: return setSctpPort(pkt, off, 0, value);
    case OFPXMT.SCTP_DST: return setSctpPort(pkt, off, 2, value);
    case OFPXMT.ICMPV4_TYPE: return setIcmp(pkt, off, ETH_IPV4, IPPROTO_ICMP, 0, value);
    case OFPXMT.ICMPV4_CODE: return setIcmp(pkt, off, ETH_IPV4, IPPROTO_ICMP, 1, value);
    case OFPXMT.ARP_OP: return setArp(pkt, off, 6, 2, value);
    case OFPXMT.ARP_SHA: return setArp(pkt, off, 8, 6, value);
    case OFPXMT.ARP_SPA: return setArp(pkt, off, 14, 4, value);
    case OFPXMT.ARP_THA: return setArp(pkt, off, 18, 6, value);
    case OFPXMT.ARP_TPA: return setArp(pkt, off, 24, 4, value);
    case OFPXMT.IPV6_SRC: return setIpv6Addr(pkt, off, 8, value);
    case OFPXMT.IPV6_DST: return setIpv6Addr(pkt, off, 24, value);
    case OFPXMT.IPV6_FLABEL: return setFlowLabel(pkt, off, value);
    case OFPXMT.ICMPV6_TYPE: return setIcmp(pkt, off, ETH_IPV6, IPPROTO_ICMPV6, 0, value);
    case OFPXMT.ICMPV6_CODE: return setIcmp(pkt, off, ETH_IPV6, IPPROTO_ICMPV6, 1, value);
    case OFPXMT.IPV6_ND_TARGET: return setNd(pkt, off, off.ndTarget, 16, value);
    case OFPXMT.IPV6_ND_SLL: return setNd(pkt, off, off.ndSll, 6, value);
    case OFPXMT.IPV6_ND_TLL: return setNd(pkt, off, off.ndTll, 6, value);
    case OFPXMT.MPLS_LABEL: return setMpls(pkt, off, value, 4, 0xfffff, 12);
    case OFPXMT.MPLS_TC: return setMpls(pkt, off, value, 1, 0x7, 9);
    case OFPXMT.MPLS_BOS: return setMpls(pkt, off, value, 1, 0x1, 8);
    case OFPXMT.PBB_ISID: return setIsid(pkt, off, value);
    // TUNNEL_ID and METADATA are datapath metadata, not packet bytes: the tunnel id is applied
    // when the packet is encapsulated on a tunnel port, and metadata lives in the flow key. The
    // caller sets them on its key/tunnel state; there is nothing to write into the frame.
    case OFPXMT.TUNNEL_ID:
    case OFPXMT.METADATA:
      return false;
    // IN_PORT, IN_PHY_PORT and IPV6_EXTHDR are not settable (OpenFlow 1.3 §7.2.3.7).
    default:
      return false;
  }
}

function setMac(pkt: Packet, at: number, v: Uint8Array): boolean {
  if (at < pkt.start || at + 6 > pkt.end || v.length < 6) return false;
  const b = pkt.buf;
  for (let i = 0; i < 6; i++) b[at + i] = v[i]!;
  return true;
}

/**
 * ETH_TYPE: the ethertype after the tags, or the SNAP type of an LLC/SNAP frame. A plain 802.3
 * frame has no type to set (its field is a length): false. The frame is re-parsed: the bytes
 * after the field now read as another protocol.
 */
function setEthType(pkt: Packet, off: Offsets, v: Uint8Array): boolean {
  const at = typeAt(pkt, off);
  if (at < 0 || v.length < 2) return false;
  const t = (v[0]! << 8) | v[1]!;
  if (t === rd16(pkt.buf, at)) return true;
  wr16(pkt.buf, at, t);
  reparse(pkt, off);
  return true;
}

/** VLAN_VID (mask 0x0fff; the value's 0x1000 present bit is not a TCI bit) or VLAN_PCP. */
function setVlan(pkt: Packet, off: Offsets, v: Uint8Array, mask: number): boolean {
  const at = off.vlan;
  if (off.vlanCount <= 0 || at < pkt.start || at + 4 > pkt.end) return false;
  let bits: number;
  if (mask === 0x0fff) {
    if (v.length < 2) return false;
    bits = ((v[0]! << 8) | v[1]!) & 0x0fff;
  } else {
    if (v.length < 1) return false;
    bits = (v[0]! & 7) << 13;
  }
  const b = pkt.buf;
  wr16(b, at + 2, (rd16(b, at + 2) & ~mask) | bits);
  return true;
}

/** IP_DSCP (tos mask 0xfc) or IP_ECN (0x03), IPv4 (header checksum) or IPv6 (traffic class). */
function setTos(pkt: Packet, off: Offsets, v: Uint8Array, mask: number): boolean {
  if (v.length < 1) return false;
  const bits = mask === 0xfc ? (v[0]! << 2) & 0xfc : v[0]! & 0x03;
  const b = pkt.buf;
  let l3 = l3Of(pkt, off, ETH_IPV4, 20);
  if (l3 >= 0) {
    const old = rd16(b, l3);
    const now = (old & 0xff00) | (old & 0xff & ~mask) | bits;
    wr16(b, l3 + 10, updateChecksum16(rd16(b, l3 + 10), old, now));
    b[l3 + 1] = now & 0xff;
    return true;
  }
  l3 = l3Of(pkt, off, ETH_IPV6, 40);
  if (l3 < 0) return false;
  // Version(4) | traffic class(8) | flow label(20): the class straddles bytes 0 and 1.
  const tc = (((b[l3]! & 0x0f) << 4) | (b[l3 + 1]! >> 4)) & ~mask | bits;
  b[l3] = (b[l3]! & 0xf0) | (tc >> 4);
  b[l3 + 1] = (b[l3 + 1]! & 0x0f) | ((tc & 0x0f) << 4);
  return true;
}

/**
 * IP_PROTO: the IPv4 protocol (header checksum updated) or the IPv6 next-header that names the
 * upper layer (the last one of the extension chain). The L4 checksum is left alone: its
 * pseudo-header now names another protocol, whose header (if any) is not the old one's.
 */
function setIpProto(pkt: Packet, off: Offsets, v: Uint8Array): boolean {
  if (v.length < 1) return false;
  const p = v[0]!;
  const b = pkt.buf;
  let l3 = l3Of(pkt, off, ETH_IPV4, 20);
  let at: number;
  if (l3 >= 0) {
    at = l3 + 9;
    if (b[at] === p) return true;
    const old = rd16(b, l3 + 8);
    const now = (old & 0xff00) | p;
    wr16(b, l3 + 10, updateChecksum16(rd16(b, l3 + 10), old, now));
  } else {
    l3 = l3Of(pkt, off, ETH_IPV6, 40);
    if (l3 < 0 || !ipWalk(b, l3, pkt.end) || ipInfo.protoAt < 0) return false;
    at = ipInfo.protoAt;
    if (b[at] === p) return true;
  }
  b[at] = p;
  reparse(pkt, off);
  return true;
}

function setIpv4Addr(pkt: Packet, off: Offsets, field: number, v: Uint8Array): boolean {
  const l3 = l3Of(pkt, off, ETH_IPV4, 20);
  if (l3 < 0 || v.length < 4) return false;
  const b = pkt.buf;
  const at = l3 + field;
  const delta = replaceDelta(b, at, v, 0, 4);
  fixCsum(b, l3 + 10, delta, false);
  // The L4 checksum covers the addresses through the pseudo-header (TCP, UDP; not ICMP, SCTP).
  const l4 = off.l4;
  if (l4 >= pkt.start) {
    const proto = b[l3 + 9]!;
    const c = proto === IPPROTO_TCP || proto === IPPROTO_UDP ? pseudoCsumAt(pkt, l4, proto) : -1;
    if (c >= 0) fixCsum(b, c, delta, proto === IPPROTO_UDP);
  }
  b[at] = v[0]!;
  b[at + 1] = v[1]!;
  b[at + 2] = v[2]!;
  b[at + 3] = v[3]!;
  return true;
}

function setIpv6Addr(pkt: Packet, off: Offsets, field: number, v: Uint8Array): boolean {
  const l3 = l3Of(pkt, off, ETH_IPV6, 40);
  if (l3 < 0 || v.length < 16) return false;
  const b = pkt.buf;
  const at = l3 + field;
  const proto = l4Proto(pkt, off);
  // With a routing header that still has segments left, the pseudo-header's destination is the
  // final one in the routing header, not this field (RFC 8200 §8.1): the checksum does not change.
  const routed = field === 24 && proto >= 0 && ipInfo.routing;
  const c = proto >= 0 && !routed ? pseudoCsumAt(pkt, off.l4, proto) : -1;
  if (c >= 0) fixCsum(b, c, replaceDelta(b, at, v, 0, 16), proto === IPPROTO_UDP);
  for (let i = 0; i < 16; i++) b[at + i] = v[i]!;
  return true;
}

function setFlowLabel(pkt: Packet, off: Offsets, v: Uint8Array): boolean {
  const l3 = l3Of(pkt, off, ETH_IPV6, 40);
  if (l3 < 0 || v.length < 4) return false;
  const b = pkt.buf;
  b[l3 + 1] = (b[l3 + 1]! & 0xf0) | (v[1]! & 0x0f);
  b[l3 + 2] = v[2]!;
  b[l3 + 3] = v[3]!;
  return true;
}

/** TCP or UDP port at l4 + `which` (0 source, 2 destination). */
function setPort(pkt: Packet, off: Offsets, proto: number, which: number, v: Uint8Array): boolean {
  const l4 = off.l4;
  if (v.length < 2 || l4Proto(pkt, off) !== proto) return false;
  const csumAt = proto === IPPROTO_TCP ? l4 + 16 : l4 + 6;
  if (csumAt + 2 > pkt.end) return false;
  const b = pkt.buf;
  const at = l4 + which;
  const old = rd16(b, at);
  const now = (v[0]! << 8) | v[1]!;
  const c = rd16(b, csumAt);
  if (proto === IPPROTO_TCP) {
    wr16(b, csumAt, updateChecksum16(c, old, now));
  } else if (c !== 0) {
    const n = updateChecksum16(c, old, now);
    wr16(b, csumAt, n === 0 ? 0xffff : n);
  }
  wr16(b, at, now);
  return true;
}

/**
 * SCTP port. CRC32c is not a sum, but the raw CRC register is linear, so crc(new) = crc(old) ^
 * raw(0, old ^ new): the change is the CRC (zero initial value, no final xor) of the two changed
 * bytes followed by as many zeros as the packet has after them. One pass over the tail of the
 * packet instead of two over all of it, and a wrong CRC stays wrong. The whole SCTP packet must be
 * in the frame and not fragmented (the tail length is unknown otherwise): else false.
 */
function setSctpPort(pkt: Packet, off: Offsets, which: number, v: Uint8Array): boolean {
  const l4 = off.l4;
  if (v.length < 2 || l4Proto(pkt, off) !== IPPROTO_SCTP) return false;
  const b = pkt.buf;
  // l4Proto ran ipWalk only for IPv6; do it for IPv4 too, for the datagram's end and fragments.
  if (!ipWalk(b, off.l3, pkt.end) || ipInfo.upper !== l4) return false;
  const end = ipInfo.end;
  if (ipInfo.fragment || ipInfo.truncated || l4 + 12 > end) return false;
  const at = l4 + which;
  const d0 = b[at]! ^ v[0]!;
  const d1 = b[at + 1]! ^ v[1]!;
  scratch2[0] = d0;
  scratch2[1] = d1;
  let crc = crc32cUpdate(0, scratch2, 0, 2);
  crc = crc32cZeros(crc, end - at - 2);
  writeSctpChecksum(b, l4, (readSctpChecksum(b, l4) ^ crc) >>> 0);
  b[at] = v[0]!;
  b[at + 1] = v[1]!;
  return true;
}
const scratch2 = new Uint8Array(2);

/** ICMPv4/ICMPv6 type (which = 0) or code (1), with the checksum. */
function setIcmp(pkt: Packet, off: Offsets, family: number, proto: number, which: number, v: Uint8Array): boolean {
  const l4 = off.l4;
  if (v.length < 1 || ethType(pkt, off) !== family || l4Proto(pkt, off) !== proto || l4 + 4 > pkt.end) return false;
  const b = pkt.buf;
  const old = rd16(b, l4);
  const now = which === 0 ? (v[0]! << 8) | (old & 0xff) : (old & 0xff00) | v[0]!;
  if (now === old) return true;
  wr16(b, l4 + 2, updateChecksum16(rd16(b, l4 + 2), old, now));
  wr16(b, l4, now);
  // A new ICMPv6 type or code may start or stop the message being Neighbor Discovery (types 135
  // and 136 with code 0): the ND offsets follow it.
  if (proto === IPPROTO_ICMPV6) reparse(pkt, off);
  return true;
}

/** ARP (and RARP, which extraction reads the same way) fields of Ethernet/IPv4 ARP. */
function setArp(pkt: Packet, off: Offsets, field: number, n: number, v: Uint8Array): boolean {
  const t = ethType(pkt, off);
  const l3 = l3Of(pkt, off, t === ETH_RARP ? ETH_RARP : ETH_ARP, 28);
  const b = pkt.buf;
  // OpenFlow's ARP fields exist for Ethernet/IPv4 ARP only (htype 1, ptype 0x0800, lengths 6, 4).
  if (l3 < 0 || v.length < n || rd16(b, l3) !== 1 || rd16(b, l3 + 2) !== ETH_IPV4 || b[l3 + 4] !== 6 || b[l3 + 5] !== 4) {
    return false;
  }
  for (let i = 0; i < n; i++) b[l3 + field + i] = v[i]!;
  return true;
}

/** ND target (16 bytes) or SLL/TLL option value (6 bytes) at `at`, with the ICMPv6 checksum. */
function setNd(pkt: Packet, off: Offsets, at: number, n: number, v: Uint8Array): boolean {
  const l4 = off.l4;
  if (at < pkt.start || at + n > pkt.end || v.length < n || l4 + 4 > pkt.end) return false;
  // The incremental update sums 16-bit words from `at`: they must be the checksum's words, i.e.
  // at an even distance from l4 (the target is at +8, an option's value at an 8-aligned +2).
  if (((at - l4) & 1) !== 0 || l4Proto(pkt, off) !== IPPROTO_ICMPV6) return false;
  const b = pkt.buf;
  fixCsum(b, l4 + 2, replaceDelta(b, at, v, 0, n), false);
  for (let i = 0; i < n; i++) b[at + i] = v[i]!;
  return true;
}

/** MPLS_LABEL / MPLS_TC / MPLS_BOS of the outermost label stack entry. */
function setMpls(pkt: Packet, off: Offsets, v: Uint8Array, size: number, mask: number, shift: number): boolean {
  const at = off.mpls;
  if (at < pkt.start || at + 4 > pkt.end || v.length < size) return false;
  const value = (size === 4 ? rd32(v, 0) : v[0]!) & mask;
  const b = pkt.buf;
  const old = rd32(b, at);
  const now = ((old & ~(mask << shift)) | (value << shift)) >>> 0;
  wr32(b, at, now);
  // The bottom-of-stack bit decides where the stack ends and what extraction reads after it.
  if (shift === 8 && now !== old) reparse(pkt, off);
  return true;
}

function setIsid(pkt: Packet, off: Offsets, v: Uint8Array): boolean {
  const at = off.pbb;
  if (at < pkt.start || at + 4 > pkt.end || v.length < 3) return false;
  const b = pkt.buf;
  b[at + 1] = v[0]!;
  b[at + 2] = v[1]!;
  b[at + 3] = v[2]!;
  return true;
}

// ---------------------------------------------------------------------------------------------
// VLAN
// ---------------------------------------------------------------------------------------------

/**
 * OFPAT_PUSH_VLAN: a new outermost tag with TPID `tpid` right after the Ethernet addresses.
 * OpenFlow 1.3 §5.12.1: the new tag's VID and PCP are copied from the current outermost tag, or
 * are 0 when there is none (set them with set_field after the push). DEI is not an OpenFlow field
 * and starts at 0. `tpid` must be a VLAN TPID (0x8100, 0x88a8; also the pre-standard 0x9100 that
 * extraction reads as a tag): any other value would not be a tag, and is refused (false).
 */
export function pushVlan(pkt: Packet, off: Offsets, tpid: number): boolean {
  if (tpid !== 0x8100 && tpid !== 0x88a8 && tpid !== 0x9100) return false;
  if (off.l2 !== pkt.start || pkt.start + 14 > pkt.end) return false;
  let tci = 0;
  if (off.vlanCount > 0 && off.vlan >= pkt.start && off.vlan + 4 <= pkt.end) tci = rd16(pkt.buf, off.vlan + 2) & 0xefff;
  const oldStart = pkt.start;
  const gap = pkt.insert(12, 4);
  shiftInsert(off, oldStart, pkt.start, 12, 4);
  const b = pkt.buf;
  wr16(b, gap, tpid);
  wr16(b, gap + 2, tci);
  off.vlan = gap;
  off.vlanCount++;
  return true;
}

/** OFPAT_POP_VLAN: removes the outermost tag. */
export function popVlan(pkt: Packet, off: Offsets): boolean {
  const v = off.vlan;
  if (off.vlanCount <= 0 || v !== pkt.start + 12 || v + 4 > pkt.end) return false;
  const oldStart = pkt.start;
  pkt.remove(12, 4);
  shiftRemove(off, 12, 4, oldStart);
  // The next tag, if any, did not move: it now follows the addresses.
  off.vlanCount--;
  off.vlan = off.vlanCount > 0 ? v + 4 : -1;
  return true;
}

// ---------------------------------------------------------------------------------------------
// MPLS
// ---------------------------------------------------------------------------------------------

/** IP TTL (IPv4) or hop limit (IPv6) of the IP header at `ip` (version from its first nibble). */
function ipTtlAt(b: Uint8Array, ip: number, end: number): number {
  const version = b[ip]! >> 4;
  if (version === 4 && ip + 20 <= end) return b[ip + 8]!;
  if (version === 6 && ip + 40 <= end) return b[ip + 7]!;
  return -1;
}

/** Sets the TTL of the IP header at `ip` (IPv4 with its checksum); false when not IP. */
function setIpTtlAt(b: Uint8Array, ip: number, end: number, ttl: number): boolean {
  const version = b[ip]! >> 4;
  if (version === 4 && ip + 20 <= end) {
    const old = rd16(b, ip + 8);
    const now = (ttl << 8) | (old & 0xff);
    wr16(b, ip + 10, updateChecksum16(rd16(b, ip + 10), old, now));
    b[ip + 8] = ttl;
    return true;
  }
  if (version === 6 && ip + 40 <= end) {
    b[ip + 7] = ttl;
    return true;
  }
  return false;
}

/**
 * OFPAT_PUSH_MPLS: a new outermost label stack entry after the Ethernet header and any VLAN tags,
 * and the ethertype set to `ethertype` (0x8847 or 0x8848). Field values (OpenFlow 1.3 §5.12.1,
 * "copied from the existing outer header"): when the frame already has MPLS, label, TC and TTL are
 * copied from the current outermost entry and BoS is 0; otherwise label 0, TC 0, BoS 1 and the TTL
 * copied from the IP TTL / hop limit, or 64 for a frame that is not IP (as Open vSwitch does: 0
 * would make the packet undeliverable).
 *
 * Placement: OpenFlow 1.3 §5.12 says "immediately after the Ethernet header and before other
 * tags", i.e. before VLAN tags; we place it after them, as OpenFlow 1.1/1.2 and Open vSwitch do
 * (a VLAN tag inside an MPLS payload has no Ethernet header to belong to, and extraction reads
 * tags before labels). Frames that are 802.3 (no ethertype) or PBB are left alone (false), and
 * so is an `ethertype` other than 0x8847/0x8848.
 */
export function pushMpls(pkt: Packet, off: Offsets, ethertype: number): boolean {
  if (ethertype !== ETH_MPLS && ethertype !== ETH_MPLS_MC) return false;
  const et = rawType(pkt, off);
  if (et < 0x0600 || off.pbb >= 0 || off.l2 !== pkt.start) return false;
  const b0 = pkt.buf;
  const wasMpls = et === ETH_MPLS || et === ETH_MPLS_MC;
  let lse: number;
  if (wasMpls) {
    lse = off.mpls >= pkt.start && off.mpls + 4 <= pkt.end ? rd32(b0, off.mpls) & ~0x100 : MPLS_DEFAULT_TTL;
  } else {
    let ttl = -1;
    if ((et === ETH_IPV4 || et === ETH_IPV6) && off.l3 >= pkt.start) ttl = ipTtlAt(b0, off.l3, pkt.end);
    lse = 0x100 | (ttl >= 0 ? ttl : MPLS_DEFAULT_TTL);
  }
  const oldStart = pkt.start;
  const at = off.ethType + 2 - oldStart;
  const gap = pkt.insert(at, 4);
  shiftInsert(off, oldStart, pkt.start, at, 4);
  const b = pkt.buf;
  wr16(b, off.ethType, ethertype);
  wr32(b, gap, lse >>> 0);
  off.mpls = gap;
  off.mplsCount++;
  if (!wasMpls) {
    // Nothing inside an MPLS stack is parsed.
    off.l3 = off.l4 = off.l7 = off.ndTarget = off.ndSll = off.ndTll = off.ipv6Frag = -1;
  }
  return true;
}

/**
 * OFPAT_POP_MPLS: removes the outermost label stack entry and sets the ethertype to `ethertype`.
 * The frame is re-parsed: what follows (the next entry, or the payload once the stack is empty)
 * was not parsed before.
 */
export function popMpls(pkt: Packet, off: Offsets, ethertype: number): boolean {
  const m = off.mpls;
  if (m < pkt.start || m + 4 > pkt.end || off.ethType < pkt.start || off.ethType + 2 !== m) return false;
  const oldStart = pkt.start;
  pkt.remove(m - oldStart, 4);
  shiftRemove(off, m - oldStart, 4, oldStart);
  wr16(pkt.buf, off.ethType, ethertype);
  reparse(pkt, off);
  return true;
}

/** OFPAT_SET_MPLS_TTL on the outermost entry. */
export function setMplsTtl(pkt: Packet, off: Offsets, ttl: number): boolean {
  const m = off.mpls;
  if (m < pkt.start || m + 4 > pkt.end) return false;
  pkt.buf[m + 3] = ttl & 0xff;
  return true;
}

/**
 * OFPAT_DEC_MPLS_TTL. false means one thing only: the TTL was 0 or 1, the packet is unchanged and
 * goes to the controller (packet-in INVALID_TTL). A frame without an MPLS entry is left alone and
 * gives true (nothing expired; as Open vSwitch, which ignores the action then).
 */
export function decMplsTtl(pkt: Packet, off: Offsets): boolean {
  const m = off.mpls;
  if (m < pkt.start || m + 4 > pkt.end) return true;
  const ttl = pkt.buf[m + 3]!;
  if (ttl <= 1) return false;
  pkt.buf[m + 3] = ttl - 1;
  return true;
}

// ---------------------------------------------------------------------------------------------
// IP TTL
// ---------------------------------------------------------------------------------------------

/** The IP header the NW TTL actions apply to (IPv4 or IPv6 by ethertype), or -1. */
function nwHeader(pkt: Packet, off: Offsets): number {
  const t = ethType(pkt, off);
  const l3 = off.l3;
  if (l3 < pkt.start) return -1;
  if (t === ETH_IPV4 && l3 + 20 <= pkt.end && pkt.buf[l3]! >> 4 === 4) return l3;
  if (t === ETH_IPV6 && l3 + 40 <= pkt.end && pkt.buf[l3]! >> 4 === 6) return l3;
  return -1;
}

/** OFPAT_SET_NW_TTL: IPv4 TTL (with the header checksum) or IPv6 hop limit. */
export function setNwTtl(pkt: Packet, off: Offsets, ttl: number): boolean {
  const l3 = nwHeader(pkt, off);
  return l3 >= 0 && setIpTtlAt(pkt.buf, l3, pkt.end, ttl & 0xff);
}

/**
 * OFPAT_DEC_NW_TTL: IPv4 TTL (with the header checksum) or IPv6 hop limit. false means one thing
 * only: the TTL was 0 or 1, the packet is unchanged and goes to the controller (packet-in
 * INVALID_TTL). A frame without an IP header is left alone and gives true.
 */
export function decNwTtl(pkt: Packet, off: Offsets): boolean {
  const l3 = nwHeader(pkt, off);
  if (l3 < 0) return true;
  const ttl = ipTtlAt(pkt.buf, l3, pkt.end);
  if (ttl <= 1) return false;
  return setIpTtlAt(pkt.buf, l3, pkt.end, ttl - 1);
}

// ---------------------------------------------------------------------------------------------
// Copy TTL
// ---------------------------------------------------------------------------------------------

/**
 * The header that is next-to-outermost for the copy-TTL actions, when the outermost one is IP:
 * the inner IP header of IP-in-IP (protocol 4 or 41, not fragmented), or -1.
 */
function innerIp(pkt: Packet, off: Offsets): number {
  const l3 = nwHeader(pkt, off);
  if (l3 < 0 || !ipWalk(pkt.buf, l3, pkt.end) || ipInfo.fragment || ipInfo.upper < 0) return -1;
  const inner = ipInfo.upper;
  const want = ipInfo.proto === IPPROTO_IPIP ? 4 : ipInfo.proto === IPPROTO_IPV6 ? 6 : 0;
  return want !== 0 && inner < pkt.end && pkt.buf[inner]! >> 4 === want ? inner : -1;
}

/**
 * OFPAT_COPY_TTL_OUT: copies the TTL of the next-to-outermost header into the outermost one:
 * MPLS-to-MPLS, IP-to-MPLS (the IP header after the bottom of the stack, told by its version
 * nibble), or IP-to-IP (IP-in-IP). False when there is no such pair.
 */
export function copyTtlOut(pkt: Packet, off: Offsets): boolean {
  const b = pkt.buf;
  const m = off.mpls;
  if (m >= pkt.start && m + 4 <= pkt.end) {
    let ttl: number;
    if ((b[m + 2]! & 1) === 0) ttl = m + 8 <= pkt.end ? b[m + 7]! : -1;
    else ttl = m + 4 < pkt.end ? ipTtlAt(b, m + 4, pkt.end) : -1;
    if (ttl < 0) return false;
    b[m + 3] = ttl;
    return true;
  }
  const inner = innerIp(pkt, off);
  if (inner < 0) return false;
  const ttl = ipTtlAt(b, inner, pkt.end);
  return ttl >= 0 && setIpTtlAt(b, off.l3, pkt.end, ttl);
}

/**
 * OFPAT_COPY_TTL_IN: copies the outermost TTL into the next-to-outermost header: MPLS-to-MPLS,
 * MPLS-to-IP (IPv4 with its header checksum), or IP-to-IP. False when there is no such pair.
 */
export function copyTtlIn(pkt: Packet, off: Offsets): boolean {
  const b = pkt.buf;
  const m = off.mpls;
  if (m >= pkt.start && m + 4 <= pkt.end) {
    const ttl = b[m + 3]!;
    if ((b[m + 2]! & 1) === 0) {
      if (m + 8 > pkt.end) return false;
      b[m + 7] = ttl;
      return true;
    }
    return m + 4 < pkt.end && setIpTtlAt(b, m + 4, pkt.end, ttl);
  }
  const inner = innerIp(pkt, off);
  if (inner < 0) return false;
  const ttl = ipTtlAt(b, off.l3, pkt.end);
  return ttl >= 0 && setIpTtlAt(b, inner, pkt.end, ttl);
}

// ---------------------------------------------------------------------------------------------
// PBB (802.1ah)
// ---------------------------------------------------------------------------------------------

/**
 * OFPAT_PUSH_PBB: encapsulates the frame in 802.1ah: B-DA, B-SA, `ethertype` (0x88e7), I-TAG, then
 * the original frame from its C-DA/C-SA on. OpenFlow 1.3 §5.12.1: B-DA/B-SA are copied from the
 * customer addresses (ETH_DST/ETH_SRC), the I-SID from an existing I-TAG (else 0), the I-PCP from
 * the existing I-TAG or else the outermost VLAN PCP (else 0); DEI and UCA are copied from an
 * existing I-TAG, else 0. The result stops at the I-TAG for extraction (no VLAN, MPLS or L3).
 * `ethertype` must be 0x88e7 (the only one OpenFlow allows; else false).
 */
export function pushPbb(pkt: Packet, off: Offsets, ethertype: number): boolean {
  if (ethertype !== ETH_PBB || off.l2 !== pkt.start || pkt.start + 14 > pkt.end) return false;
  const b0 = pkt.buf;
  let itag = 0;
  if (off.pbb >= pkt.start && off.pbb + 4 <= pkt.end) itag = rd32(b0, off.pbb);
  else if (off.vlanCount > 0 && off.vlan >= pkt.start && off.vlan + 4 <= pkt.end) itag = ((b0[off.vlan + 2]! >> 5) << 29) >>> 0;
  const gap = pkt.insert(0, 18);
  const b = pkt.buf;
  b.copyWithin(gap, gap + 18, gap + 30);
  wr16(b, gap + 12, ethertype);
  wr32(b, gap + 14, itag);
  off.reset();
  off.l2 = gap;
  off.ethType = gap + 12;
  off.pbb = gap + 14;
  return true;
}

/**
 * OFPAT_POP_PBB: removes the backbone header (B-DA, B-SA, any B-TAG, the 0x88e7 ethertype and the
 * I-TAG), leaving the customer frame, which is then parsed. False when the frame is not PBB or the
 * customer addresses are not all there.
 */
export function popPbb(pkt: Packet, off: Offsets): boolean {
  const p = off.pbb;
  if (p < pkt.start || p + 4 + 12 > pkt.end) return false;
  pkt.remove(0, p + 4 - pkt.start);
  reparse(pkt, off);
  return true;
}
