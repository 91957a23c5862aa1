/**
 * Flow-key extraction: one pass over a frame that fills a reused FlowKey and Offsets.
 *
 * This runs once per packet on the fast path, so it allocates nothing, throws nothing, creates no
 * closures and reads bytes straight from the Uint8Array (no DataView). A frame that ends early or
 * carries an impossible length gives a key with everything that was complete plus a flag.
 *
 * What is parsed (see key.ts for where each value goes):
 * - Ethernet II, and 802.3 with LLC: an LLC/SNAP header with OUI 00-00-00 gives its ethertype;
 *   any other 802.3 frame gets eth_type 0x05ff. Offsets.ethType points at the type/length field
 *   after the tags; for SNAP, l3 starts after the 8-byte LLC/SNAP header.
 * - VLAN tags with TPID 0x8100, 0x88a8 or 0x9100: the first two go in the key, deeper ones are
 *   skipped and flagged DEEP_STACK.
 * - MPLS (0x8847, 0x8848): up to three entries in the key, the rest of the stack skipped (DEEP_STACK)
 *   up to the bottom-of-stack entry; nothing inside the stack is parsed.
 * - PBB (0x88e7): the I-TAG goes in the key; the customer frame behind it is not parsed.
 * - ARP and RARP (0x0806, 0x8035) for Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4).
 * - IPv4 with options; IPv6 with its extension headers; TCP, UDP, SCTP, ICMPv4, ICMPv6 and
 *   Neighbor Discovery (NS/NA target, SLL option in an NS, TLL option in an NA).
 *
 * Completeness rules (what "everything fully present" means):
 * - A header's fields are recorded only when its whole fixed part is in the frame: Ethernet 14
 *   bytes (MACs and the first type), a VLAN tag 4, an MPLS entry 4, an I-TAG 4, ARP 28, the IPv4
 *   fixed header 20 (addresses, tos, ttl, proto and frag come from it even when options are cut
 *   off), IPv6 40, each extension header its full length, TCP its data offset, UDP 8, SCTP 12,
 *   ICMPv4/ICMPv6 8, an NS/NA 24, each ND option its full length. An offset in Offsets is set only
 *   for a header whose fields were recorded, so a rewrite that trusts it stays inside the frame.
 * - The IP datagram ends where its length field says (IPv4 total length, IPv6 payload length;
 *   an IPv6 payload length of 0 followed by a hop-by-hop header is a jumbogram, RFC 2675, taken
 *   to run to the end of the frame; the Jumbo Payload option itself is not read). Ethernet padding
 *   after it is never parsed (it would read as ND options). A frame shorter than the datagram is
 *   TRUNCATED, and headers that run off the frame are TRUNCATED; headers that run off a datagram
 *   the frame holds completely are MALFORMED.
 * - MALFORMED also marks: an IPv4 version other than 4, IHL < 5 or total length < IHL * 4 (the
 *   fixed-header fields are still recorded, nothing after them); an IPv6 version other than 6
 *   (likewise); a TCP data offset < 5 (no TCP fields); an ND option of length 0 or one that
 *   overruns the datagram (option parsing stops there; options before it stay recorded).
 * - Fragments: an IPv4 packet is a fragment when MF is set or the offset is non-zero; an IPv6
 *   packet is one when it has a fragment header (an "atomic" fragment with offset 0 and M clear
 *   is FIRST, as in OVS). A FIRST fragment's L4 header is parsed; a LATER one has no L4 fields
 *   and nw_proto is the protocol the IP header or the fragment header names.
 * - nw_proto for IPv6 is the next-header value of the last header walked: the upper-layer
 *   protocol, or 50 for ESP, 59 for no-next-header, or the type of an extension header that was
 *   cut off.
 * - Neighbor Discovery is parsed only for code 0 (RFC 4861). The first SLL option of an NS and
 *   the first TLL option of an NA with length 1 (an Ethernet address) count; later ones, options
 *   of another length and SLL/TLL in the other message are skipped.
 *
 * Words 0..K.PACKET-1 (datapath metadata) are never touched. K.FLAGS is a packet word, but its
 * KF.CSUM_PARTIAL bit belongs to the port layer (it knows whether the NIC left a partial checksum)
 * and survives extraction unchanged; the port layer sets or clears it per packet.
 */

import { OFPIEH } from '../../proto/constants.js';
import { K, KF, FRAG, VLAN, type FlowKey, type FlowMask } from './key.js';
import type { Offsets, Packet } from './packet.js';

const ETH_IPV4 = 0x0800;
const ETH_ARP = 0x0806;
const ETH_RARP = 0x8035;
const ETH_IPV6 = 0x86dd;
const ETH_MPLS = 0x8847;
const ETH_MPLS_MC = 0x8848;
const ETH_PBB = 0x88e7;
const ETH_8021Q = 0x8100;
const ETH_8021AD = 0x88a8;
const ETH_QINQ_OLD = 0x9100;
const ETH_TYPE_NONE = 0x05ff;

const IPPROTO_HOPOPTS = 0;
const IPPROTO_ICMP = 1;
const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;
const IPPROTO_ROUTING = 43;
const IPPROTO_FRAGMENT = 44;
const IPPROTO_ESP = 50;
const IPPROTO_AH = 51;
const IPPROTO_ICMPV6 = 58;
const IPPROTO_NONE = 59;
const IPPROTO_DSTOPTS = 60;
const IPPROTO_SCTP = 132;

const ND_NS = 135;
const ND_NA = 136;
const ND_OPT_SLL = 1;
const ND_OPT_TLL = 2;

/** Count fields of K.FLAGS. */
const VLAN_COUNT_SHIFT = 16;
const MPLS_COUNT_SHIFT = 20;
const COUNT_MAX = 15;

function rd16(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}

function rd32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
}

/**
 * Parses buf[start..end) into `key` and `off`. Clears the packet words of the key (K.PACKET..,
 * keeping KF.CSUM_PARTIAL) and resets `off` first; the metadata words are left alone.
 */
export function extract(buf: Uint8Array, start: number, end: number, key: FlowKey, off: Offsets): void {
  const keep = key[K.FLAGS]! & KF.CSUM_PARTIAL;
  key.fill(0, K.PACKET); // measured: as fast as set() from a zero array, faster than a JS loop
  off.reset();
  off.l2 = start;
  key[K.FLAGS] = keep;
  if (end - start < 14) {
    key[K.FLAGS] = keep | KF.TRUNCATED;
    return;
  }
  const b = buf;
  key[K.ETH_DST] = (b[start]! << 8) | b[start + 1]!;
  key[K.ETH_DST + 1] = rd32(b, start + 2);
  key[K.ETH_SRC] = (b[start + 6]! << 8) | b[start + 7]!;
  key[K.ETH_SRC + 1] = rd32(b, start + 8);

  let p = start + 12;
  let type = rd16(b, p);
  let tags = 0;
  while (type === ETH_8021Q || type === ETH_8021AD || type === ETH_QINQ_OLD) {
    if (p + 4 > end) {
      key[K.FLAGS] |= KF.TRUNCATED;
      type = -1;
      break;
    }
    if (tags === 0) off.vlan = p;
    if (tags < 2) key[K.VLAN0 + tags] = (type << VLAN.TPID_SHIFT) | rd16(b, p + 2) | VLAN.PRESENT;
    else key[K.FLAGS] |= KF.DEEP_STACK;
    tags++;
    p += 4;
    if (p + 2 > end) {
      key[K.FLAGS] |= KF.TRUNCATED;
      type = -1;
      break;
    }
    type = rd16(b, p);
  }
  off.vlanCount = tags;
  if (type >= 0) {
    off.ethType = p;
    p += 2;
    if (type < 0x0600) {
      // 802.3: the field is a length and an LLC header follows.
      if (p + 3 > end) {
        key[K.FLAGS] |= KF.TRUNCATED;
        type = ETH_TYPE_NONE;
      } else if (b[p] === 0xaa && b[p + 1] === 0xaa && b[p + 2] === 0x03) {
        if (p + 8 > end) {
          key[K.FLAGS] |= KF.TRUNCATED;
          type = ETH_TYPE_NONE;
        } else {
          const snapType = rd16(b, p + 6);
          if ((b[p + 3]! | b[p + 4]! | b[p + 5]!) === 0 && snapType >= 0x0600) {
            type = snapType;
            p += 8;
          } else {
            type = ETH_TYPE_NONE;
          }
        }
      } else {
        type = ETH_TYPE_NONE;
      }
    }
    key[K.ETH_TYPE] = type;
    if (type === ETH_IPV4) parseIpv4(b, p, end, key, off);
    else if (type === ETH_IPV6) parseIpv6(b, p, end, key, off);
    else if (type === ETH_ARP || type === ETH_RARP) parseArp(b, p, end, key, off);
    else if (type === ETH_MPLS || type === ETH_MPLS_MC) parseMpls(b, p, end, key, off);
    else if (type === ETH_PBB) {
      if (p + 4 > end) key[K.FLAGS] |= KF.TRUNCATED;
      else {
        off.pbb = p;
        key[K.PBB] = rd32(b, p) & 0xf8ffffff; // drop the 3 reserved bits
      }
    }
  }
  key[K.FLAGS] |=
    (Math.min(tags, COUNT_MAX) << VLAN_COUNT_SHIFT) | (Math.min(off.mplsCount, COUNT_MAX) << MPLS_COUNT_SHIFT);
}

/** extract() on a Packet's frame. */
export function extractPacket(pkt: Packet, key: FlowKey, off: Offsets): void {
  extract(pkt.buf, pkt.start, pkt.end, key, off);
}

function parseMpls(b: Uint8Array, p: number, end: number, key: FlowKey, off: Offsets): void {
  let n = 0;
  for (;;) {
    if (p + 4 > end) {
      key[K.FLAGS] |= KF.TRUNCATED;
      break;
    }
    const lse = rd32(b, p);
    if (n === 0) off.mpls = p;
    if (n < 3) key[K.MPLS0 + n] = lse;
    else key[K.FLAGS] |= KF.DEEP_STACK;
    n++;
    p += 4;
    if ((lse & 0x100) !== 0) break;
  }
  off.mplsCount = n;
}

function parseArp(b: Uint8Array, p: number, end: number, key: FlowKey, off: Offsets): void {
  if (p + 8 > end) {
    key[K.FLAGS] |= KF.TRUNCATED;
    return;
  }
  // Only Ethernet/IPv4 ARP has OpenFlow fields; other hardware or protocol types parse to nothing.
  if (rd16(b, p) !== 1 || rd16(b, p + 2) !== ETH_IPV4 || b[p + 4] !== 6 || b[p + 5] !== 4) {
    off.l3 = p;
    return;
  }
  if (p + 28 > end) {
    key[K.FLAGS] |= KF.TRUNCATED;
    return;
  }
  off.l3 = p;
  key[K.ARP_OP] = rd16(b, p + 6);
  key[K.ARP_SHA] = rd16(b, p + 8);
  key[K.ARP_SHA + 1] = rd32(b, p + 10);
  key[K.ARP_SPA] = rd32(b, p + 14);
  key[K.ARP_THA] = rd16(b, p + 18);
  key[K.ARP_THA + 1] = rd32(b, p + 20);
  key[K.ARP_TPA] = rd32(b, p + 24);
}

function parseIpv4(b: Uint8Array, p: number, end: number, key: FlowKey, off: Offsets): void {
  if (p + 20 > end) {
    key[K.FLAGS] |= KF.TRUNCATED;
    return;
  }
  off.l3 = p;
  const vihl = b[p]!;
  const ihl = (vihl & 0x0f) << 2;
  const total = rd16(b, p + 2);
  const fragField = rd16(b, p + 6);
  const proto = b[p + 9]!;
  const frag = (fragField & 0x1fff) !== 0 ? FRAG.LATER : (fragField & 0x2000) !== 0 ? FRAG.FIRST : FRAG.NONE;
  key[K.IPV4_SRC] = rd32(b, p + 12);
  key[K.IPV4_DST] = rd32(b, p + 16);
  key[K.NW] = proto | (b[p + 1]! << 8) | (b[p + 8]! << 16) | (frag << 24);
  if (vihl >>> 4 !== 4 || ihl < 20 || total < ihl) {
    key[K.FLAGS] |= KF.MALFORMED;
    return;
  }
  let limit = p + total;
  let overrun: number = KF.MALFORMED;
  if (limit > end) {
    key[K.FLAGS] |= KF.TRUNCATED;
    limit = end;
    overrun = KF.TRUNCATED;
  }
  // Options cut off by the end of the frame (the datagram itself is long enough: total >= ihl).
  if (p + ihl > limit) return;
  if (frag === FRAG.LATER) return;
  parseL4(b, p + ihl, limit, proto, false, overrun, key, off);
}

/**
 * The IPV6_EXTHDR bits (OpenFlow 1.3.5, §7.2.3.8 / A.2.3.7, "IPv6 Extension Header pseudo-field"):
 *   HOP     a hop-by-hop options header is present as the FIRST extension header;
 *   ROUTER  a routing header is present;            FRAG   a fragment header is present;
 *   DEST    one or two destination options headers; AUTH   an authentication header;
 *   ESP     an ESP header;                          NONEXT "no next header" (59) encountered;
 *   UNREP   more than one of a given header is unexpectedly encountered ("two destination
 *           options headers may be expected and would not cause this bit to be set");
 *   UNSEQ   the headers are not in the order RFC 2460 §4.1 prefers (but does not require):
 *           hop-by-hop, destination options, routing, fragment, AH, ESP, destination options.
 * How this implements the two judgement bits:
 *   - Each header has a rank in that order: hop 1, dest 2 (the one before routing), routing 3,
 *     fragment 4, AH 5, ESP 6, dest 7 (the one before the upper layer). A destination options
 *     header takes rank 2 if it is the first one and nothing ranked above 1 came before it,
 *     otherwise rank 7.
 *   - UNSEQ when a header's rank is below the highest rank seen so far, and when a hop-by-hop
 *     header is not the first extension header (RFC 2460 requires it to come right after the IPv6
 *     header). Equal ranks (a repeated header) are UNREP's business, not UNSEQ's.
 *   - UNREP when hop-by-hop, routing, fragment or AH appears a second time, or a destination
 *     options header a third time. (ESP and no-next-header end the walk, so cannot repeat.)
 *   - Only headers that are complete count; the walk stops at ESP (the rest is encrypted), at
 *     no-next-header, at a later fragment (the rest is not in this fragment), and at a header cut
 *     off by the end of the datagram or frame.
 */
const RANK_HOP = 1;
const RANK_DEST1 = 2;
const RANK_ROUTING = 3;
const RANK_FRAG = 4;
const RANK_AH = 5;
const RANK_ESP = 6;
const RANK_DEST2 = 7;

function parseIpv6(b: Uint8Array, p: number, end: number, key: FlowKey, off: Offsets): void {
  if (p + 40 > end) {
    key[K.FLAGS] |= KF.TRUNCATED;
    return;
  }
  off.l3 = p;
  const w0 = rd32(b, p);
  const tc = (w0 >>> 20) & 0xff;
  const plen = rd16(b, p + 4);
  let nh = b[p + 6]!;
  const hlim = b[p + 7]!;
  key[K.IPV6_LABEL] = w0 & 0xfffff;
  key[K.IPV6_SRC] = rd32(b, p + 8);
  key[K.IPV6_SRC + 1] = rd32(b, p + 12);
  key[K.IPV6_SRC + 2] = rd32(b, p + 16);
  key[K.IPV6_SRC + 3] = rd32(b, p + 20);
  key[K.IPV6_DST] = rd32(b, p + 24);
  key[K.IPV6_DST + 1] = rd32(b, p + 28);
  key[K.IPV6_DST + 2] = rd32(b, p + 32);
  key[K.IPV6_DST + 3] = rd32(b, p + 36);
  if (w0 >>> 28 !== 6) {
    key[K.NW] = nh | (tc << 8) | (hlim << 16);
    key[K.FLAGS] |= KF.MALFORMED;
    return;
  }
  // Payload length 0 with a hop-by-hop header is a jumbogram (RFC 2675): the datagram runs to the
  // end of the frame, so a header that overruns it can only be cut off, not malformed.
  const jumbo = plen === 0 && nh === IPPROTO_HOPOPTS;
  let limit = jumbo ? end : p + 40 + plen;
  let overrun: number = jumbo ? KF.TRUNCATED : KF.MALFORMED;
  if (limit > end) {
    key[K.FLAGS] |= KF.TRUNCATED;
    limit = end;
    overrun = KF.TRUNCATED;
  }

  let q = p + 40;
  let bits = 0;
  let top = 0; // highest rank seen
  let seen = 0; // bit per rank of the headers seen (for UNREP)
  let dests = 0;
  let frag: number = FRAG.NONE;
  let more = true; // false: the walk stopped before an upper-layer header
  for (;;) {
    let rank: number;
    if (nh === IPPROTO_HOPOPTS) rank = RANK_HOP;
    else if (nh === IPPROTO_DSTOPTS) rank = dests === 0 && top < RANK_DEST1 ? RANK_DEST1 : RANK_DEST2;
    else if (nh === IPPROTO_ROUTING) rank = RANK_ROUTING;
    else if (nh === IPPROTO_FRAGMENT) rank = RANK_FRAG;
    else if (nh === IPPROTO_AH) rank = RANK_AH;
    else if (nh === IPPROTO_ESP) {
      bits |= OFPIEH.ESP;
      if (top > RANK_ESP) bits |= OFPIEH.UNSEQ;
      more = false;
      break;
    } else if (nh === IPPROTO_NONE) {
      bits |= OFPIEH.NONEXT;
      more = false;
      break;
    } else break; // an upper-layer protocol

    // Every extension header is at least 8 bytes.
    if (q + 8 > limit) {
      key[K.FLAGS] |= overrun;
      more = false;
      break;
    }
    const len = nh === IPPROTO_FRAGMENT ? 8 : nh === IPPROTO_AH ? (b[q + 1]! + 2) << 2 : (b[q + 1]! + 1) << 3;
    if (q + len > limit) {
      key[K.FLAGS] |= overrun;
      more = false;
      break;
    }
    if (rank === RANK_HOP) {
      if (q === p + 40) bits |= OFPIEH.HOP;
      else bits |= OFPIEH.UNSEQ;
      if ((seen & (1 << RANK_HOP)) !== 0) bits |= OFPIEH.UNREP;
    } else if (rank === RANK_DEST1 || rank === RANK_DEST2) {
      bits |= OFPIEH.DEST;
      dests++;
      if (dests > 2) bits |= OFPIEH.UNREP;
    } else {
      bits |= rank === RANK_ROUTING ? OFPIEH.ROUTER : rank === RANK_FRAG ? OFPIEH.FRAG : OFPIEH.AUTH;
      if ((seen & (1 << rank)) !== 0) bits |= OFPIEH.UNREP;
    }
    if (rank < top) bits |= OFPIEH.UNSEQ;
    else top = rank;
    seen |= 1 << rank;

    const next = b[q]!;
    if (nh === IPPROTO_FRAGMENT) {
      off.ipv6Frag = q;
      const fo = rd16(b, q + 2);
      frag = (fo & 0xfff8) !== 0 ? FRAG.LATER : FRAG.FIRST;
    }
    q += len;
    nh = next;
    if (frag === FRAG.LATER) {
      more = false;
      break;
    }
  }
  key[K.NW] = nh | (tc << 8) | (hlim << 16) | (frag << 24);
  key[K.IPV6_EXTHDR] = bits;
  if (more) parseL4(b, q, limit, nh, true, overrun, key, off);
}

/**
 * The L4 header at q, inside the datagram [.., limit). `overrun` is the flag for a header that
 * runs past limit: TRUNCATED when the frame cut the datagram short, MALFORMED otherwise.
 */
function parseL4(
  b: Uint8Array, q: number, limit: number, proto: number, v6: boolean, overrun: number, key: FlowKey, off: Offsets,
): void {
  if (proto === IPPROTO_TCP) {
    if (q + 20 > limit) {
      key[K.FLAGS] |= overrun;
      return;
    }
    const doff = b[q + 12]! >>> 4;
    if (doff < 5) {
      key[K.FLAGS] |= KF.MALFORMED;
      return;
    }
    if (q + (doff << 2) > limit) {
      key[K.FLAGS] |= overrun;
      return;
    }
    off.l4 = q;
    off.l7 = q + (doff << 2);
    key[K.TP_SRC] = rd16(b, q);
    key[K.TP_DST] = rd16(b, q + 2);
    key[K.TCP_FLAGS] = rd16(b, q + 12) & 0x0fff;
  } else if (proto === IPPROTO_UDP) {
    if (q + 8 > limit) {
      key[K.FLAGS] |= overrun;
      return;
    }
    off.l4 = q;
    off.l7 = q + 8;
    key[K.TP_SRC] = rd16(b, q);
    key[K.TP_DST] = rd16(b, q + 2);
  } else if (proto === IPPROTO_SCTP) {
    if (q + 12 > limit) {
      key[K.FLAGS] |= overrun;
      return;
    }
    off.l4 = q;
    off.l7 = q + 12;
    key[K.TP_SRC] = rd16(b, q);
    key[K.TP_DST] = rd16(b, q + 2);
  } else if (v6 ? proto === IPPROTO_ICMPV6 : proto === IPPROTO_ICMP) {
    if (q + 8 > limit) {
      key[K.FLAGS] |= overrun;
      return;
    }
    const type = b[q]!;
    const code = b[q + 1]!;
    off.l4 = q;
    off.l7 = q + 8;
    key[K.TP_SRC] = type;
    key[K.TP_DST] = code;
    if (v6 && code === 0 && (type === ND_NS || type === ND_NA)) parseNd(b, q, limit, type, overrun, key, off);
  }
}

function parseNd(b: Uint8Array, q: number, limit: number, type: number, overrun: number, key: FlowKey, off: Offsets): void {
  if (q + 24 > limit) {
    key[K.FLAGS] |= overrun;
    return;
  }
  off.ndTarget = q + 8;
  off.l7 = q + 24;
  key[K.ND_TARGET] = rd32(b, q + 8);
  key[K.ND_TARGET + 1] = rd32(b, q + 12);
  key[K.ND_TARGET + 2] = rd32(b, q + 16);
  key[K.ND_TARGET + 3] = rd32(b, q + 20);
  let o = q + 24;
  while (o < limit) {
    if (o + 2 > limit) {
      key[K.FLAGS] |= overrun;
      return;
    }
    const len = b[o + 1]! << 3;
    if (len === 0) {
      key[K.FLAGS] |= KF.MALFORMED;
      return;
    }
    if (o + len > limit) {
      key[K.FLAGS] |= overrun;
      return;
    }
    const opt = b[o]!;
    if (len === 8) {
      if (opt === ND_OPT_SLL && type === ND_NS && off.ndSll < 0) {
        off.ndSll = o + 2;
        key[K.ND_SLL] = rd16(b, o + 2);
        key[K.ND_SLL + 1] = rd32(b, o + 4);
      } else if (opt === ND_OPT_TLL && type === ND_NA && off.ndTll < 0) {
        off.ndTll = o + 2;
        key[K.ND_TLL] = rd16(b, o + 2);
        key[K.ND_TLL + 1] = rd32(b, o + 4);
      }
    }
    o += len;
  }
}

// ---------------------------------------------------------------------------------------------
// Formatting (not on the fast path)
// ---------------------------------------------------------------------------------------------

const hex = (v: number, digits = 0) => '0x' + v.toString(16).padStart(digits, '0');

function macText(hi: number, lo: number): string {
  const bytes = [(hi >>> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
  return bytes.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function ipv4Text(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 0xff}.${(v >>> 8) & 0xff}.${v & 0xff}`;
}

/** RFC 5952 text: lower case, the longest run (two or more) of zero groups as "::", first on a tie. */
export function ipv6Text(w: ArrayLike<number>, at = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 4; i++) g.push(w[at + i]! >>> 16, w[at + i]! & 0xffff);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const part = (a: number[]) => a.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return part(g);
  return `${part(g.slice(0, bestAt))}::${part(g.slice(bestAt + bestLen))}`;
}

/** Length of the prefix when `m` (words, big-endian across words) is a CIDR mask, else -1. */
function prefixLen(m: ArrayLike<number>, at: number, words: number): number {
  let n = 0;
  let i = 0;
  for (; i < words && m[at + i] === 0xffffffff; i++) n += 32;
  if (i === words) return n;
  const w = m[at + i]!;
  const ones = Math.clz32(~w);
  if ((w << ones) !== 0 && ones !== 32) return -1;
  n += ones;
  for (i++; i < words; i++) if (m[at + i] !== 0) return -1;
  return n;
}

type Kind = 'dec' | 'hex' | 'hex4' | 'hex3' | 'hex5' | 'mac' | 'ipv4' | 'ipv6' | 'u64' | 'frag';

/** Which packets a field applies to (used only without a mask, to leave out what does not apply). */
type When =
  | 'meta' | 'always' | 'vlan0' | 'vlan1' | 'mpls0' | 'mpls1' | 'mpls2' | 'pbb' | 'arp' | 'ip' | 'ipv4' | 'ipv6'
  | 'ports' | 'tcp' | 'icmp4' | 'icmp6' | 'nd' | 'ns' | 'na';

interface FieldFmt {
  readonly name: string;
  readonly word: number;
  /** For sub-word fields: shift and width in bits. Multi-word kinds ignore them. */
  readonly shift: number;
  readonly bits: number;
  readonly kind: Kind;
  readonly when: When;
}

const f = (name: string, word: number, kind: Kind, when: When, shift = 0, bits = 32): FieldFmt => ({ name, word, kind, when, shift, bits });

/** The order and names of ovs-ofctl's flow syntax (metadata first, then outer to inner headers). */
const FIELDS: readonly FieldFmt[] = [
  f('recirc_id', K.RECIRC_ID, 'hex', 'meta'),
  f('dp_hash', K.DP_HASH, 'hex', 'meta'),
  f('skb_priority', K.SKB_PRIORITY, 'hex', 'meta'),
  f('pkt_mark', K.PKT_MARK, 'hex', 'meta'),
  f('tun_id', K.TUN_ID, 'u64', 'meta'),
  f('tun_src', K.TUN_IPV4_SRC, 'ipv4', 'meta'),
  f('tun_dst', K.TUN_IPV4_DST, 'ipv4', 'meta'),
  f('tun_ipv6_src', K.TUN_IPV6_SRC, 'ipv6', 'meta'),
  f('tun_ipv6_dst', K.TUN_IPV6_DST, 'ipv6', 'meta'),
  f('tun_tos', K.TUN_TOS_TTL, 'dec', 'meta', 8, 8),
  f('tun_ttl', K.TUN_TOS_TTL, 'dec', 'meta', 0, 8),
  f('tun_flags', K.TUN_FLAGS, 'hex', 'meta'),
  f('tun_tp_src', K.TUN_TP, 'dec', 'meta', 16, 16),
  f('tun_tp_dst', K.TUN_TP, 'dec', 'meta', 0, 16),
  f('in_port', K.IN_PORT, 'dec', 'meta'),
  f('in_phy_port', K.IN_PHY_PORT, 'dec', 'meta'),
  f('metadata', K.METADATA, 'u64', 'meta'),
  f('dl_src', K.ETH_SRC, 'mac', 'always'),
  f('dl_dst', K.ETH_DST, 'mac', 'always'),
  f('dl_type', K.ETH_TYPE, 'hex4', 'always'),
  f('vlan_tci', K.VLAN0, 'hex4', 'vlan0', 0, 16),
  f('vlan_tci1', K.VLAN1, 'hex4', 'vlan1', 0, 16),
  f('mpls_label', K.MPLS0, 'dec', 'mpls0', 12, 20),
  f('mpls_tc', K.MPLS0, 'dec', 'mpls0', 9, 3),
  f('mpls_bos', K.MPLS0, 'dec', 'mpls0', 8, 1),
  f('mpls_ttl', K.MPLS0, 'dec', 'mpls0', 0, 8),
  f('mpls_lse1', K.MPLS1, 'hex', 'mpls1'),
  f('mpls_lse2', K.MPLS2, 'hex', 'mpls2'),
  f('pbb_isid', K.PBB, 'dec', 'pbb', 0, 24),
  f('pbb_uca', K.PBB, 'dec', 'pbb', 27, 1),
  f('arp_op', K.ARP_OP, 'dec', 'arp'),
  f('arp_spa', K.ARP_SPA, 'ipv4', 'arp'),
  f('arp_tpa', K.ARP_TPA, 'ipv4', 'arp'),
  f('arp_sha', K.ARP_SHA, 'mac', 'arp'),
  f('arp_tha', K.ARP_THA, 'mac', 'arp'),
  f('nw_src', K.IPV4_SRC, 'ipv4', 'ipv4'),
  f('nw_dst', K.IPV4_DST, 'ipv4', 'ipv4'),
  f('ipv6_src', K.IPV6_SRC, 'ipv6', 'ipv6'),
  f('ipv6_dst', K.IPV6_DST, 'ipv6', 'ipv6'),
  f('ipv6_label', K.IPV6_LABEL, 'hex5', 'ipv6', 0, 20),
  f('nw_proto', K.NW, 'dec', 'ip', 0, 8),
  f('nw_tos', K.NW, 'dec', 'ip', 8, 8), // printed as the tos byte's DSCP bits (tos & 0xfc), as OVS does
  f('nw_ecn', K.NW, 'dec', 'ip', 8, 2),
  f('nw_ttl', K.NW, 'dec', 'ip', 16, 8),
  f('nw_frag', K.NW, 'frag', 'ip', 24, 8),
  f('ipv6_exthdr', K.IPV6_EXTHDR, 'hex3', 'ipv6', 0, 9),
  f('tp_src', K.TP_SRC, 'dec', 'ports', 0, 16),
  f('tp_dst', K.TP_DST, 'dec', 'ports', 0, 16),
  f('tcp_flags', K.TCP_FLAGS, 'hex3', 'tcp', 0, 12),
  f('icmp_type', K.TP_SRC, 'dec', 'icmp4', 0, 8),
  f('icmp_code', K.TP_DST, 'dec', 'icmp4', 0, 8),
  f('icmpv6_type', K.TP_SRC, 'dec', 'icmp6', 0, 8),
  f('icmpv6_code', K.TP_DST, 'dec', 'icmp6', 0, 8),
  f('nd_target', K.ND_TARGET, 'ipv6', 'nd'),
  f('nd_sll', K.ND_SLL, 'mac', 'ns'),
  f('nd_tll', K.ND_TLL, 'mac', 'na'),
];

/** Fields sharing words with another name; with a mask, the one that fits the packet is used. */
const ALIASED: ReadonlySet<When> = new Set<When>(['ports', 'icmp4', 'icmp6', 'nd', 'ns', 'na']);

const WIDTH: Partial<Record<Kind, number>> = { mac: 2, ipv4: 1, ipv6: 4, u64: 2 };

function applies(when: When, key: FlowKey): boolean {
  const type = key[K.ETH_TYPE]!;
  const nw = key[K.NW]!;
  const proto = nw & 0xff;
  const later = (nw >>> 24) === FRAG.LATER;
  const v4 = type === ETH_IPV4;
  const v6 = type === ETH_IPV6;
  switch (when) {
    case 'meta': return false; // decided by value
    case 'always': return true;
    case 'vlan0': return key[K.VLAN0] !== 0;
    case 'vlan1': return key[K.VLAN1] !== 0;
    case 'mpls0': return (type === ETH_MPLS || type === ETH_MPLS_MC) && key[K.MPLS0] !== 0;
    case 'mpls1': return (type === ETH_MPLS || type === ETH_MPLS_MC) && key[K.MPLS1] !== 0;
    case 'mpls2': return (type === ETH_MPLS || type === ETH_MPLS_MC) && key[K.MPLS2] !== 0;
    case 'pbb': return type === ETH_PBB;
    case 'arp': return type === ETH_ARP || type === ETH_RARP;
    case 'ip': return v4 || v6;
    case 'ipv4': return v4;
    case 'ipv6': return v6;
    case 'ports': return (v4 || v6) && !later && (proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP);
    case 'tcp': return (v4 || v6) && !later && proto === IPPROTO_TCP;
    case 'icmp4': return v4 && !later && proto === IPPROTO_ICMP;
    case 'icmp6': return v6 && !later && proto === IPPROTO_ICMPV6;
    case 'nd': return v6 && !later && proto === IPPROTO_ICMPV6 && (key[K.TP_SRC] === ND_NS || key[K.TP_SRC] === ND_NA) && key[K.TP_DST] === 0;
    case 'ns': return v6 && !later && proto === IPPROTO_ICMPV6 && key[K.TP_SRC] === ND_NS && key[K.TP_DST] === 0;
    case 'na': return v6 && !later && proto === IPPROTO_ICMPV6 && key[K.TP_SRC] === ND_NA && key[K.TP_DST] === 0;
  }
}

function valueText(fd: FieldFmt, w: ArrayLike<number>): string {
  switch (fd.kind) {
    case 'mac': return macText(w[fd.word]!, w[fd.word + 1]!);
    case 'ipv4': return ipv4Text(w[fd.word]!);
    case 'ipv6': return ipv6Text(w, fd.word);
    case 'u64': return '0x' + ((BigInt(w[fd.word]!) << 32n) | BigInt(w[fd.word + 1]!)).toString(16);
    default: {
      let v = fd.bits === 32 ? w[fd.word]! : (w[fd.word]! >>> fd.shift) & ((1 << fd.bits) - 1);
      if (fd.name === 'nw_tos') v &= 0xfc;
      switch (fd.kind) {
        case 'hex': return hex(v);
        case 'hex3': return hex(v, 3);
        case 'hex4': return hex(v, 4);
        case 'hex5': return hex(v, 5);
        case 'frag': return v === FRAG.NONE ? 'no' : v === FRAG.FIRST ? 'first' : v === FRAG.LATER ? 'later' : hex(v);
        default: return String(v);
      }
    }
  }
}

/** The field's bits of `w` (a key or a mask) are all zero / all one. */
function fieldBits(fd: FieldFmt, w: ArrayLike<number>, want: 0 | 1): boolean {
  const n = WIDTH[fd.kind];
  if (n !== undefined) {
    for (let i = 0; i < n; i++) {
      let m = w[fd.word + i]!;
      if (fd.kind === 'mac' && i === 0) m &= 0xffff;
      const full = fd.kind === 'mac' && i === 0 ? 0xffff : 0xffffffff;
      if (want === 0 ? m !== 0 : m !== full) return false;
    }
    return true;
  }
  const fieldMask = fd.bits === 32 ? 0xffffffff : ((1 << fd.bits) - 1) << fd.shift;
  const effective = fd.name === 'nw_tos' ? (0xfc << 8) : fieldMask;
  const m = (w[fd.word]! & effective) >>> 0;
  return want === 0 ? m === 0 : m === effective >>> 0;
}

function maskText(fd: FieldFmt, mask: FlowMask): string {
  if (fd.kind === 'ipv4' || fd.kind === 'ipv6') {
    const n = prefixLen(mask, fd.word, fd.kind === 'ipv4' ? 1 : 4);
    if (n >= 0) return String(n);
  }
  return valueText(fd, mask);
}

/**
 * The key as ovs-ofctl writes a flow: `field=value` joined by commas. Without a mask, metadata
 * fields that are zero and fields that do not apply to the packet (tp_src for ARP...) are left
 * out. With a mask, a field appears when any of its bits is masked in, as `value/mask` when only
 * some are (addresses with a CIDR mask as `value/prefix`).
 */
export function formatKey(key: FlowKey, mask?: FlowMask): string {
  const parts: string[] = [];
  const masked = new Uint32Array(K.WORDS);
  for (let i = 0; i < K.WORDS; i++) masked[i] = mask === undefined ? key[i]! : key[i]! & mask[i]!;
  for (const fd of FIELDS) {
    if (mask === undefined) {
      if (fd.when === 'meta' ? fieldBits(fd, key, 0) : !applies(fd.when, key)) continue;
      parts.push(`${fd.name}=${valueText(fd, key)}`);
    } else {
      if (fieldBits(fd, mask, 0)) continue;
      // TP_SRC/TP_DST hold ports or ICMP type/code: name them after the packet's protocol.
      if (ALIASED.has(fd.when) && !applies(fd.when, key)) {
        if (fd.when !== 'ports' || applies('icmp4', key) || applies('icmp6', key)) continue;
      }
      const text = `${fd.name}=${valueText(fd, masked)}`;
      parts.push(fieldBits(fd, mask, 1) ? text : `${text}/${maskText(fd, mask)}`);
    }
  }
  return parts.join(',');
}
