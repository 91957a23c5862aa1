/**
 * Internet checksums (RFC 1071) and CRC32c (RFC 3309/4960), computed and updated in place.
 *
 * Everything here is a plain loop over bytes of a caller's buffer: no allocation, no exceptions.
 * The ones'-complement sum is kept unfolded in a JS number while summing (it cannot overflow a
 * double for any frame) and folded to 16 bits once at the end.
 *
 * Conventions:
 * - A "sum" is an unfolded accumulator of big-endian 16-bit words; fold() reduces it to 16 bits.
 * - A "checksum" is the 16-bit value stored in a header: the complement of the folded sum of the
 *   data with the checksum field taken as zero. A header verifies when the folded sum of all its
 *   words, checksum included, is 0xffff.
 * - Offsets are absolute indices into `buf`; functions that take an Offsets read the headers it
 *   names and never look past `end`.
 *
 * Incremental updates follow RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): they give exactly what a
 * recomputation gives when the old checksum was right, and they keep a wrong checksum wrong (by
 * the same amount), which is what hardware and other switches do: a switch must not make a
 * corrupted packet look valid.
 */

import type { Offsets } from './packet.js';

const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_SCTP = 132;

// ---------------------------------------------------------------------------------------------
// Ones'-complement sums
// ---------------------------------------------------------------------------------------------

/**
 * The ones'-complement sum of the big-endian 16-bit words of buf[start..end), added to `initial`,
 * unfolded. An odd last byte counts as the high byte of a word whose low byte is zero (RFC 1071).
 */
export function onesSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  const last = end - 1;
  // Two words per iteration: halves the loop overhead on the common even-length headers.
  for (; i + 3 < end; i += 4) sum += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!);
  for (; i < last; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i === last) sum += buf[i]! << 8;
  return sum;
}

/** Folds an unfolded sum to 16 bits with end-around carry. */
export function fold(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum > 0xffffffff ? Math.floor(sum / 65536) : sum >>> 16);
  return sum;
}

/** The checksum to store for data whose unfolded sum (checksum field as zero) is `sum`. */
export function checksumFromSum(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/**
 * RFC 1624 eqn. 3: the checksum after one 16-bit word of the covered data changes from oldWord
 * to newWord. Cheaper than any recomputation; keeps a wrong checksum wrong.
 */
export function updateChecksum16(csum: number, oldWord: number, newWord: number): number {
  return ~fold((~csum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff)) & 0xffff;
}

/** updateChecksum16 for a 32-bit field (an IPv4 address): both halves at once. */
export function updateChecksum32(csum: number, oldValue: number, newValue: number): number {
  return ~fold(
    (~csum & 0xffff) + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff) + (newValue >>> 16) + (newValue & 0xffff),
  ) & 0xffff;
}

/**
 * The unfolded sum that, added to ~checksum, turns a checksum over buf[at..at+n) into one over
 * `next`[from..from+n) (n even). Compute it before writing the new bytes; applyDelta then updates
 * every checksum that covers the field (IPv4 header and L4 pseudo-header for an address).
 */
export function replaceDelta(buf: Uint8Array, at: number, next: Uint8Array, from: number, n: number): number {
  let d = 0;
  for (let i = 0; i < n; i += 2) {
    d += (~((buf[at + i]! << 8) | buf[at + i + 1]!) & 0xffff) + ((next[from + i]! << 8) | next[from + i + 1]!);
  }
  return d;
}

/** Applies a replaceDelta result to a checksum (RFC 1624 eqn. 3 over several words). */
export function applyDelta(csum: number, delta: number): number {
  return ~fold((~csum & 0xffff) + delta) & 0xffff;
}

// ---------------------------------------------------------------------------------------------
// IPv4, pseudo-headers, L4
// ---------------------------------------------------------------------------------------------

/**
 * The IPv4 header checksum for the header at l3 (IHL from the header, checksum field taken as
 * zero). The header must be in `buf`: the caller checks IHL*4 bytes are present; bytes past the
 * end of `buf` are not read (the sum stops there).
 */
export function ipv4HeaderChecksum(buf: Uint8Array, l3: number): number {
  const end = Math.min(l3 + (buf[l3]! & 0x0f) * 4, buf.length);
  const sum = onesSum(buf, l3, end) - ((buf[l3 + 10]! << 8) | buf[l3 + 11]!);
  return checksumFromSum(sum);
}

/**
 * The unfolded sum of the TCP/UDP/ICMPv6 pseudo-header for the IP header at `l3` (IPv4 or IPv6,
 * told apart by the version nibble): source and destination addresses, protocol, and the L4
 * length `l4Len`. For IPv6 the destination is the one in the fixed header, which is the final
 * destination once any routing header has no segments left (RFC 8200 §8.1).
 */
export function pseudoHeaderSum(buf: Uint8Array, l3: number, l4Len: number, proto: number): number {
  if (buf[l3]! >> 4 === 6) {
    return onesSum(buf, l3 + 8, l3 + 40) + (l4Len >>> 16) + (l4Len & 0xffff) + proto;
  }
  return onesSum(buf, l3 + 12, l3 + 20) + (l4Len >>> 16) + (l4Len & 0xffff) + proto;
}

/**
 * Where the upper-layer protocol of an IP header is, found by walking IPv6 extension headers.
 * Results are left in `ipInfo` (a module-level scratch record, so that the walk allocates
 * nothing); they describe the header passed to the last ipWalk call.
 */
export const ipInfo = {
  /** The upper-layer protocol number (IPv4 protocol, or the last IPv6 next-header value). */
  proto: -1,
  /** Absolute offset of the byte that holds `proto` (IPv4 l3+9, or an IPv6 next-header field). */
  protoAt: -1,
  /** Absolute offset of the upper-layer header, or -1 (truncated, later fragment, ESP). */
  upper: -1,
  /** End of the IP datagram (from its length field), clamped to `end`. */
  end: -1,
  /** True when the length field says the datagram runs past `end`. */
  truncated: false,
  /** True for a fragment (any: first or later). */
  fragment: false,
  /** True for a fragment other than the first (no L4 header in it). */
  laterFragment: false,
  /** An IPv6 routing header still has segments left: the pseudo-header's destination is not the
   * fixed header's. */
  routing: false,
};

const IPV6_HOP = 0, IPV6_ROUTING = 43, IPV6_FRAG = 44, IPV6_AH = 51, IPV6_DEST = 60;

/**
 * Walks the IP header at l3 (version nibble 4 or 6) within buf[..end) and fills ipInfo. Returns
 * false, leaving ipInfo.proto -1, when the fixed header is not complete or the version is neither.
 */
export function ipWalk(buf: Uint8Array, l3: number, end: number): boolean {
  ipInfo.proto = ipInfo.protoAt = ipInfo.upper = ipInfo.end = -1;
  ipInfo.truncated = ipInfo.fragment = ipInfo.laterFragment = ipInfo.routing = false;
  if (l3 < 0 || l3 >= end) return false;
  const version = buf[l3]! >> 4;
  if (version === 4) {
    if (l3 + 20 > end) return false;
    const ihl = (buf[l3]! & 0x0f) * 4;
    const total = (buf[l3 + 2]! << 8) | buf[l3 + 3]!;
    const frag = (buf[l3 + 6]! << 8) | buf[l3 + 7]!;
    ipInfo.proto = buf[l3 + 9]!;
    ipInfo.protoAt = l3 + 9;
    ipInfo.end = Math.min(l3 + total, end);
    ipInfo.truncated = l3 + total > end;
    ipInfo.fragment = (frag & 0x3fff) !== 0;
    ipInfo.laterFragment = (frag & 0x1fff) !== 0;
    if (ihl >= 20 && total >= ihl && !ipInfo.laterFragment && l3 + ihl <= end) ipInfo.upper = l3 + ihl;
    return true;
  }
  if (version !== 6 || l3 + 40 > end) return false;
  const plen = (buf[l3 + 4]! << 8) | buf[l3 + 5]!;
  // A payload length of 0 is a jumbogram (RFC 2675) or a lie: the frame end is all we have.
  const dgEnd = plen === 0 ? end : l3 + 40 + plen;
  ipInfo.end = Math.min(dgEnd, end);
  ipInfo.truncated = dgEnd > end;
  // The walk stops where extraction's does: at a header that does not fit in the datagram (its
  // type is then the protocol), at ESP or no-next-header, after a later fragment's header.
  const lim = ipInfo.end;
  let nh = buf[l3 + 6]!;
  let nhAt = l3 + 6;
  let p = l3 + 40;
  for (;;) {
    if (nh !== IPV6_HOP && nh !== IPV6_ROUTING && nh !== IPV6_DEST && nh !== IPV6_AH && nh !== IPV6_FRAG) break;
    if (p + 8 > lim) { p = -1; break; }
    const len = nh === IPV6_FRAG ? 8 : nh === IPV6_AH ? (buf[p + 1]! + 2) * 4 : (buf[p + 1]! + 1) * 8;
    if (p + len > lim) { p = -1; break; }
    if (nh === IPV6_ROUTING && buf[p + 3]! !== 0) ipInfo.routing = true;
    const frag = nh === IPV6_FRAG;
    nhAt = p;
    nh = buf[p]!;
    if (frag) {
      ipInfo.fragment = true;
      if ((((buf[p + 2]! << 8) | buf[p + 3]!) & 0xfff8) !== 0) { ipInfo.laterFragment = true; p = -1; break; }
    }
    p += len;
  }
  ipInfo.proto = nh;
  ipInfo.protoAt = nhAt;
  ipInfo.upper = p >= 0 && p <= lim ? p : -1;
  return true;
}

/**
 * The checksum to store in the TCP, UDP, ICMPv4 or ICMPv6 header at off.l4, computed from scratch
 * over the pseudo-header (not for ICMPv4) and the L4 bytes up to the IP datagram's end (its length
 * field, clamped to `end`), with the checksum field taken as zero. A UDP result of 0 is returned as
 * 0xffff (0 means "no checksum"). Returns -1 when there is no such header.
 */
export function l4Checksum(buf: Uint8Array, off: Offsets, end: number): number {
  if (off.l3 < 0 || off.l4 < 0 || !ipWalk(buf, off.l3, end)) return -1;
  const l4 = off.l4;
  const dgEnd = ipInfo.end;
  const proto = ipInfo.proto;
  const at = csumFieldOffset(proto);
  if (at < 0 || l4 + at + 2 > dgEnd) return -1;
  let sum = onesSum(buf, l4, dgEnd) - ((buf[l4 + at]! << 8) | buf[l4 + at + 1]!);
  if (proto !== IPPROTO_ICMP) sum += pseudoHeaderSum(buf, off.l3, dgEnd - l4, proto);
  const c = checksumFromSum(sum);
  return proto === IPPROTO_UDP && c === 0 ? 0xffff : c;
}

/** Offset of the 16-bit checksum in an L4 header, or -1 for protocols without one we handle. */
export function csumFieldOffset(proto: number): number {
  switch (proto) {
    case IPPROTO_TCP: return 16;
    case IPPROTO_UDP: return 6;
    case IPPROTO_ICMP: case IPPROTO_ICMPV6: return 2;
    default: return -1;
  }
}

/**
 * Finishes a partial checksum the way a NIC does for Linux CHECKSUM_PARTIAL / virtio-net
 * VIRTIO_NET_HDR_F_NEEDS_CSUM frames: the field at csumStart+csumOffset holds the folded (not
 * inverted) pseudo-header sum; sum buf[csumStart..end) with the field as it is, and store the
 * complement. A result of 0 is stored as 0xffff, as Linux does (for UDP 0 would mean "none"; for
 * TCP the two are the same value). `end` is the end of the L4 data (the IP datagram's end, not
 * the frame's, when the frame is padded). Returns false, touching nothing, when the field does
 * not lie inside [csumStart, end).
 */
export function completeChecksum(buf: Uint8Array, csumStart: number, csumOffset: number, end: number): boolean {
  const at = csumStart + csumOffset;
  if (csumStart < 0 || csumOffset < 0 || at + 2 > end || end > buf.length) return false;
  const c = checksumFromSum(onesSum(buf, csumStart, end));
  const v = c === 0 ? 0xffff : c;
  buf[at] = v >>> 8;
  buf[at + 1] = v & 0xff;
  return true;
}

// ---------------------------------------------------------------------------------------------
// CRC32c (Castagnoli), for SCTP
// ---------------------------------------------------------------------------------------------

/** Reflected CRC32c table (polynomial 0x1EDC6F41, reversed 0x82F63B78), built once at load. */
const CRC32C = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  CRC32C[n] = c;
}

/**
 * Runs the raw reflected CRC32c register `crc` over buf[start..end) (no initial value, no final
 * xor). crc32c(b) is crc32cUpdate(~0, b) ^ ~0; the raw register is linear in (register, data),
 * which is what lets SCTP checksums be updated from the bytes that changed.
 */
export function crc32cUpdate(crc: number, buf: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) crc = CRC32C[(crc ^ buf[i]!) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

/** Runs the raw register over `n` zero bytes. */
export function crc32cZeros(crc: number, n: number): number {
  for (let i = 0; i < n; i++) crc = CRC32C[crc & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

/** CRC32c of buf[start..end) (RFC 3720 B.4 / RFC 4960 appendix B), as an unsigned 32-bit number. */
export function crc32c(buf: Uint8Array, start: number, end: number): number {
  return (crc32cUpdate(0xffffffff, buf, start, end) ^ 0xffffffff) >>> 0;
}

/**
 * The SCTP checksum of the SCTP packet buf[l4..end) (checksum field taken as zero), as the number
 * whose little-endian bytes go in the field (RFC 4960 stores the reflected CRC least significant
 * byte first).
 */
export function sctpChecksum(buf: Uint8Array, l4: number, end: number): number {
  let crc = crc32cUpdate(0xffffffff, buf, l4, l4 + 8);
  crc = crc32cZeros(crc, 4);
  crc = crc32cUpdate(crc, buf, l4 + 12, end);
  return (crc ^ 0xffffffff) >>> 0;
}

export function readSctpChecksum(buf: Uint8Array, l4: number): number {
  return (buf[l4 + 8]! | (buf[l4 + 9]! << 8) | (buf[l4 + 10]! << 16) | (buf[l4 + 11]! << 24)) >>> 0;
}

export function writeSctpChecksum(buf: Uint8Array, l4: number, v: number): void {
  buf[l4 + 8] = v & 0xff;
  buf[l4 + 9] = (v >>> 8) & 0xff;
  buf[l4 + 10] = (v >>> 16) & 0xff;
  buf[l4 + 11] = v >>> 24;
}

// ---------------------------------------------------------------------------------------------
// Verification (tests)
// ---------------------------------------------------------------------------------------------

/**
 * Recomputes every checksum of a parsed frame from scratch and says whether each is right.
 * `ipv4` is present for an IPv4 header that is complete; `l4` for a TCP, UDP, ICMP, ICMPv6 or SCTP
 * header when the whole datagram is in the frame and is not a fragment (a fragment's L4 checksum
 * covers bytes that are not there). A UDP checksum of 0 over IPv4 means "none" and counts as
 * right; over IPv6 it is wrong (RFC 8200 §8.1), though rewrites leave it 0 (RFC 6935 tunnels).
 */
export function verifyChecksums(buf: Uint8Array, off: Offsets, end: number): { ipv4?: boolean; l4?: boolean } {
  const out: { ipv4?: boolean; l4?: boolean } = {};
  if (off.l3 < 0 || !ipWalk(buf, off.l3, end)) return out;
  const l3 = off.l3;
  if (buf[l3]! >> 4 === 4) {
    const ihl = (buf[l3]! & 0x0f) * 4;
    if (ihl >= 20 && l3 + ihl <= end) out.ipv4 = fold(onesSum(buf, l3, l3 + ihl)) === 0xffff;
  }
  const l4 = off.l4;
  if (l4 < 0 || ipInfo.fragment || ipInfo.truncated || ipInfo.routing) return out;
  const proto = ipInfo.proto;
  const dgEnd = ipInfo.end;
  if (proto === IPPROTO_SCTP) {
    if (l4 + 12 <= dgEnd) out.l4 = sctpChecksum(buf, l4, dgEnd) === readSctpChecksum(buf, l4);
    return out;
  }
  const at = csumFieldOffset(proto);
  if (at < 0 || l4 + at + 2 > dgEnd) return out;
  if (proto === IPPROTO_UDP && buf[l4 + 6] === 0 && buf[l4 + 7] === 0) {
    out.l4 = buf[l3]! >> 4 === 4;
    return out;
  }
  let sum = onesSum(buf, l4, dgEnd);
  if (proto !== IPPROTO_ICMP) sum += pseudoHeaderSum(buf, l3, dgEnd - l4, proto);
  out.l4 = fold(sum) === 0xffff;
  return out;
}
