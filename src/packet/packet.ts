/**
 * A packet in a buffer with headroom, and the header offsets extraction records.
 *
 * The frame lives at buf[start..end). Bytes before `start` are headroom: pushing a VLAN tag, an
 * MPLS label, a PBB I-TAG or (later) a tunnel header moves `start` back and shifts only the bytes
 * in front of the insertion point, never the payload. Rewrites never touch bytes outside the
 * frame; when headroom runs out, the packet is moved into a larger buffer (counted, rare).
 */

export const DEFAULT_HEADROOM = 64;

export class Packet {
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
