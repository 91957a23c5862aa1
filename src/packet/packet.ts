/**
 * A packet in a buffer with headroom, and the header offsets extraction records.
 *
 * The frame lives at buf[start..end). Bytes before `start` are headroom: pushing a VLAN tag, an
 * MPLS label, a PBB I-TAG or (later) a tunnel header moves `start` back and shifts only the bytes
 * in front of the insertion point, never the payload. Rewrites never touch bytes outside the
 * frame; when headroom runs out, the packet is moved into a larger buffer (counted, rare).
 *
 * A packet may also carry tunnel metadata (`tunnel`): what a tunnel port decapsulated it from
 * (the tunnel id, outer addresses and ports, Geneve options), changed by the datapath's
 * set(tunnel_id), and read by a tunnel port that encapsulates it. It travels with the packet
 * rather than in the flow key because the receive path reuses its keys and outputs send copies:
 * the copy must carry the metadata as it was when the output ran.
 */

import { K, type FlowKey } from './key.js';

export const DEFAULT_HEADROOM = 64;

/** Most bytes of Geneve options a key (and so a packet's metadata) holds: K.TUN_GENEVE's 16 words. */
export const TUN_OPTIONS_MAX = 64;

/**
 * A packet's tunnel metadata, in the key's terms (see K.TUN_*). Immutable: a change makes a new
 * object, so packets copied for earlier outputs keep what they had.
 */
export interface TunnelMeta {
  /** Tunnel id (VNI or key), 64 bits as two words, high first. */
  readonly idHi: number;
  readonly idLo: number;
  /** Outer IPv4 source and destination as big-endian numbers (0: not known). */
  readonly src: number;
  readonly dst: number;
  /** Outer UDP source and destination ports (0: none). */
  readonly tpSrc: number;
  readonly tpDst: number;
  /** Outer tos << 8 | ttl (0: not known). */
  readonly tosTtl: number;
  /** TUN_FLAG_* bits. */
  readonly flags: number;
  /** Geneve options as on the wire (a multiple of 4 bytes, at most TUN_OPTIONS_MAX), or empty. */
  readonly options: Uint8Array;
}

const NO_OPTIONS = new Uint8Array(0);

/** Metadata with only a tunnel id (what set(tunnel_id) gives a packet that had none). */
export function tunnelWithId(t: TunnelMeta | undefined, idHi: number, idLo: number): TunnelMeta {
  if (t === undefined) return { idHi, idLo, src: 0, dst: 0, tpSrc: 0, tpDst: 0, tosTtl: 0, flags: 0, options: NO_OPTIONS };
  return { ...t, idHi, idLo };
}

/** Writes `t` into the key's tunnel words (K.TUN_ID .. the end of K.TUN_GENEVE); undefined clears them. */
export function tunnelToKey(t: TunnelMeta | undefined, key: FlowKey): void {
  if (t === undefined) {
    key.fill(0, K.TUN_ID, K.TUN_GENEVE + TUN_OPTIONS_MAX / 4);
    return;
  }
  key[K.TUN_ID] = t.idHi;
  key[K.TUN_ID + 1] = t.idLo;
  key[K.TUN_IPV4_SRC] = t.src;
  key[K.TUN_IPV4_DST] = t.dst;
  key.fill(0, K.TUN_IPV6_SRC, K.TUN_TOS_TTL);
  key[K.TUN_TOS_TTL] = t.tosTtl;
  key[K.TUN_FLAGS] = t.flags;
  key[K.TUN_TP] = ((t.tpSrc << 16) | t.tpDst) >>> 0;
  const o = t.options;
  const n = Math.min(o.length, TUN_OPTIONS_MAX) & ~3;
  key[K.TUN_GENEVE_LEN] = n;
  let w = K.TUN_GENEVE;
  for (let i = 0; i < n; i += 4) key[w++] = ((o[i]! << 24) | (o[i + 1]! << 16) | (o[i + 2]! << 8) | o[i + 3]!) >>> 0;
  key.fill(0, w, K.TUN_GENEVE + TUN_OPTIONS_MAX / 4);
}

export class Packet {
  /** Tunnel metadata (see the file comment); undefined for a packet that came in on no tunnel. */
  tunnel: TunnelMeta | undefined = undefined;

  constructor(
    public buf: Buffer,
    public start: number,
    public end: number,
  ) {}

  /** A copy of `frame` with `headroom` spare bytes in front. */
  static from(frame: Uint8Array, headroom = DEFAULT_HEADROOM): Packet {
    const buf = Buffer.allocUnsafe(headroom + frame.length);
    buf.fill(0, 0, headroom);
    buf.set(frame, headroom);
    return new Packet(buf, headroom, headroom + frame.length);
  }

  get length(): number {
    return this.end - this.start;
  }

  /** The frame's bytes (a view, not a copy). */
  bytes(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  /**
   * Opens `n` bytes at frame offset `at` (relative to start) by moving the `at` bytes in front of
   * it back into the headroom; returns the absolute offset of the gap. Grows the buffer when the
   * headroom is short.
   */
  insert(at: number, n: number): number {
    if (this.start < n) this.grow(n);
    this.buf.copyWithin(this.start - n, this.start, this.start + at);
    this.start -= n;
    return this.start + at;
  }

  /** Removes `n` bytes at frame offset `at` by moving the bytes in front of it forward. */
  remove(at: number, n: number): void {
    this.buf.copyWithin(this.start + n, this.start, this.start + at);
    this.start += n;
  }

  private grow(need: number): void {
    const headroom = Math.max(DEFAULT_HEADROOM, need * 2);
    const buf = Buffer.allocUnsafe(headroom + this.length);
    buf.fill(0, 0, headroom);
    this.buf.copy(buf, headroom, this.start, this.end);
    this.buf = buf;
    this.end = headroom + this.length;
    this.start = headroom;
  }
}

/**
 * Where the headers of a parsed frame are, as absolute offsets into the buffer (-1: absent).
 * Extraction fills one of these (reused, like the key); rewrites use it to find what they change
 * and keep it right after changing the layout (push/pop shift the offsets).
 */
export class Offsets {
  /** Start of the Ethernet header (= packet start). */
  l2 = -1;
  /** First VLAN tag (its TPID), or -1. */
  vlan = -1;
  /** Number of VLAN tags parsed (each 4 bytes, from `vlan`). */
  vlanCount = 0;
  /** The ethertype field after the tags (2 bytes). */
  ethType = -1;
  /** PBB I-TAG (4 bytes after its 0x88e7 ethertype), or -1; the customer frame follows. */
  pbb = -1;
  /** First MPLS label stack entry, or -1. */
  mpls = -1;
  /** Number of MPLS entries parsed (each 4 bytes). */
  mplsCount = 0;
  /** IPv4/IPv6/ARP header. */
  l3 = -1;
  /** TCP/UDP/SCTP/ICMP/ICMPv6 header (after IPv6 extension headers), or -1. */
  l4 = -1;
  /** Payload after the L4 header, or -1. */
  l7 = -1;
  /** For ND: offset of the target address, and of the SLL/TLL option values (-1 if none). */
  ndTarget = -1;
  ndSll = -1;
  ndTll = -1;
  /** Offset of the IPv6 fragment header, if any. */
  ipv6Frag = -1;

  reset(): void {
    this.l2 = this.vlan = this.ethType = this.pbb = this.mpls = this.l3 = this.l4 = this.l7 = -1;
    this.ndTarget = this.ndSll = this.ndTll = this.ipv6Frag = -1;
    this.vlanCount = this.mplsCount = 0;
  }
}
