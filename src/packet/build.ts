/**
 * Packet builders for tests: a description in, a whole Ethernet frame out, so that tests never
 * hand-write long hex. Every length, next-header chain and checksum is filled in; defaults make a
 * small description a valid packet (10.0.0.1 → 10.0.0.2, ports 1 → 2, TTL 64, a TCP SYN...).
 *
 * Not for the fast path: this allocates freely and throws on a description it cannot encode
 * (a malformed address, IPv4 options over 40 bytes). Frames that are wrong on purpose are made
 * with the checksum modes below, or by patching the bytes this returns.
 *
 * Layout: Ethernet, VLAN tags (outer first), then one of: a PBB I-TAG and the customer frame; an
 * MPLS stack and the L3 packet; or the L3 packet (ARP, IPv4, IPv6), the L4 header and `payload`;
 * finally zero padding up to `minLength`.
 */

export interface PacketDesc {
  /** Defaults: dst 00:00:00:00:00:02, src 00:00:00:00:00:01. */
  eth?: { dst?: string; src?: string };
  /** Outer first; tpid defaults to 0x8100. */
  vlans?: Array<{ tpid?: number; vid: number; pcp?: number; dei?: number }>;
  /** The I-TAG, then the customer frame (`inner`'s eth gives C-DA/C-SA). */
  pbb?: { isid: number; pcp?: number; dei?: number; uca?: number; inner: PacketDesc };
  /** Outer first; bottom-of-stack is set on the last; ethertype 0x8847; ttl defaults to 64. */
  mpls?: Array<{ label: number; tc?: number; ttl?: number }>;
  /**
   * Replaces the ethertype after the VLAN tags (0x88e7 for PBB, 0x8847 for MPLS, else the L3's);
   * the ethertype of a frame that carries only `payload` (default 0x88b5, IEEE local experimental).
   */
  ethType?: number;
  /** Defaults: op 1 (request), sha = eth src, spa 10.0.0.1, tha 00:00:00:00:00:00, tpa 10.0.0.2. */
  arp?: { op?: number; sha?: string; spa?: string; tha?: string; tpa?: string };
  /**
   * Defaults: 10.0.0.1 → 10.0.0.2, ttl 64, dscp/ecn 0, id 0, no flags. `fragOffset` is the wire
   * field, in 8-byte units. `options` are padded with zeros (End of Option List) to a multiple of
   * 4 bytes. `proto` overrides the protocol derived from the L4 member (253 when there is none).
   */
  ipv4?: {
    src?: string; dst?: string; ttl?: number; dscp?: number; ecn?: number; id?: number;
    df?: boolean; mf?: boolean; fragOffset?: number; options?: Uint8Array; proto?: number;
  };
  /**
   * Defaults: 2001:db8::1 → 2001:db8::2, hlim 64, dscp/ecn/flabel 0. `ext` are the extension
   * headers in order; `nextHeader` overrides the upper-layer protocol that the last one (or the
   * fixed header) names, else derived from the L4 member (59 when there is neither L4 nor
   * payload, 253 for a bare payload).
   */
  ipv6?: {
    src?: string; dst?: string; hlim?: number; dscp?: number; ecn?: number; flabel?: number;
    ext?: Ipv6Ext[]; nextHeader?: number;
  };
  /** Defaults: ports 1 → 2, seq 0, ack 0, flags 0x02 (SYN), window 8192; options zero-padded to 4. */
  tcp?: { src?: number; dst?: number; seq?: number; ack?: number; flags?: number; window?: number; options?: Uint8Array };
  /** Defaults: ports 1 → 2. */
  udp?: { src?: number; dst?: number };
  /** Defaults: ports 1 → 2, vtag 1. `payload` goes in one DATA chunk (none when there is no payload). */
  sctp?: { src?: number; dst?: number; vtag?: number };
  /** ICMPv4; `rest` is the rest of the header (default 4 zero bytes), `payload` follows it. */
  icmp?: { type: number; code?: number; rest?: Uint8Array };
  /** `body` follows the checksum (default 4 zero bytes), `payload` follows it. */
  icmpv6?: { type: number; code?: number; body?: Uint8Array };
  /**
   * Neighbor solicitation (135) or advertisement (136), with source/target link-layer address
   * options when `sll`/`tll` are given. `flags` is the first byte of the reserved word: for an
   * advertisement R 0x80, S 0x40, O 0x20. Default 0.
   */
  nd?: { type: 135 | 136; target: string; sll?: string; tll?: string; flags?: number };
  payload?: Uint8Array;
  /**
   * 'valid' (default); 'zero' (the field is 0: "no checksum" for UDP over IPv4); 'bad' (the
   * valid value changed, never to 0 or 0xffff); 'partial': the folded, NOT inverted ones'-complement
   * sum of the pseudo-header only, as Linux leaves it with checksum offload (CHECKSUM_PARTIAL) —
   * 0 for ICMPv4 (no pseudo-header) and for SCTP (CRC32c offload leaves the field 0).
   */
  l4Checksum?: 'valid' | 'zero' | 'partial' | 'bad';
  ipv4Checksum?: 'valid' | 'bad';
  /** Pad the frame with zeros to this length (e.g. 60); IP lengths do not count the padding. */
  minLength?: number;
}

/**
 * One IPv6 extension header. `length` is the header's total size in bytes: a multiple of 8 for
 * hop/dest/routing (default 8), of 8 for AH (default 24: a 12-byte ICV), and for ESP the size of
 * the SPI and sequence number plus opaque data (default 8). Fragment: `offset` in 8-byte units
 * (default 0), `more` (M flag), `id` (default 0). `id` is the SPI for AH and ESP (default 1).
 * 'none' adds no bytes: it puts No Next Header (59) into the chain, and whatever follows is
 * opaque. ESP ends the chain too (its next header is encrypted): what follows is its payload.
 * Routing headers are type 253 (RFC 4727 experiment) with segments left 0, so the final
 * destination, and the pseudo-header, stay the fixed header's.
 */
export type Ipv6Ext = {
  type: 'hop' | 'dest' | 'routing' | 'ah' | 'esp' | 'none' | 'frag';
  offset?: number;
  more?: boolean;
  id?: number;
  length?: number;
};

/** IP protocol numbers used here. */
const PROTO = { HOP: 0, ICMP: 1, TCP: 6, UDP: 17, ROUTING: 43, FRAG: 44, ESP: 50, AH: 51, ICMPV6: 58, NONE: 59, DEST: 60, SCTP: 132, EXPERIMENT: 253 } as const;

const EXT_PROTO: Record<Ipv6Ext['type'], number> = {
  hop: PROTO.HOP, dest: PROTO.DEST, routing: PROTO.ROUTING, frag: PROTO.FRAG, ah: PROTO.AH, esp: PROTO.ESP, none: PROTO.NONE,
};

const EMPTY = new Uint8Array(0);

// ---------------------------------------------------------------------------------------------
// Addresses

/** 'aa:bb:cc:dd:ee:ff' (or with '-') → 6 bytes. */
export function parseMac(s: string): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6) throw new Error(`bad MAC address: ${s}`);
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    const p = parts[i]!;
    if (!/^[0-9a-fA-F]{1,2}$/.test(p)) throw new Error(`bad MAC address: ${s}`);
    out[i] = parseInt(p, 16);
  }
  return out;
}

/** Dotted-quad IPv4 → 4 bytes. */
export function parseIpv4(s: string): Uint8Array {
  const parts = s.split('.');
  if (parts.length !== 4) throw new Error(`bad IPv4 address: ${s}`);
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`bad IPv4 address: ${s}`);
    out[i] = Number(p);
  }
  return out;
}

/**
 * Any RFC 4291 §2.2 text form → 16 bytes: eight groups of 1-4 hex digits, one '::' standing for
 * one or more zero groups, and an optional dotted IPv4 address as the last 32 bits.
 */
export function parseIpv6(s: string): Uint8Array {
  const bad = (): never => {
    throw new Error(`bad IPv6 address: ${s}`);
  };
  const halves = s.split('::');
  if (halves.length > 2) bad();
  const groups = (text: string, last: boolean): number[] => {
    if (text === '') return [];
    const out: number[] = [];
    const parts = text.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (last && i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) bad();
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  let words: number[];
  if (halves.length === 2) {
    const head = groups(halves[0]!, false);
    const tail = groups(halves[1]!, true);
    const zeros = 8 - head.length - tail.length;
    if (zeros < 1) bad();
    words = [...head, ...new Array<number>(zeros).fill(0), ...tail];
  } else {
    words = groups(s, true);
    if (words.length !== 8) bad();
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i]! >> 8;
    out[2 * i + 1] = words[i]! & 0xff;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checksums (private: the builders must not depend on the code they are used to test)

/** Unfolded ones'-complement sum of big-endian 16-bit words (an odd last byte is padded). */
function sum16(b: Uint8Array, start: number, end: number, initial = 0): number {
  let s = initial;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  return s;
}

function fold(s: number): number {
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return s;
}

/** A wrong checksum that is neither 0 nor 0xffff (which could read as "none" or as the valid one). */
function spoil(valid: number): number {
  const v = valid ^ 0x8000;
  return v === 0 || v === 0xffff ? valid ^ 0x0001 : v;
}

let crcTable: Uint32Array | undefined;

/** CRC32c (Castagnoli, reflected polynomial 0x82f63b78), as SCTP uses it (RFC 9260 App. A). */
function crc32c(b: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = crcTable[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function u16(v: number): Uint8Array {
  return Uint8Array.of((v >> 8) & 0xff, v & 0xff);
}

function padTo(b: Uint8Array, multiple: number): Uint8Array {
  const n = Math.ceil(b.length / multiple) * multiple;
  if (n === b.length) return b;
  const out = new Uint8Array(n);
  out.set(b);
  return out;
}

/** The L3 context the L4 checksum needs: the pseudo-header's addresses (none for ARP/bare frames). */
interface PseudoAddrs {
  src: Uint8Array;
  dst: Uint8Array;
}

function l4Kind(d: PacketDesc): 'tcp' | 'udp' | 'sctp' | 'icmp' | 'icmpv6' | 'nd' | undefined {
  const given = (['tcp', 'udp', 'sctp', 'icmp', 'icmpv6', 'nd'] as const).filter((k) => d[k] !== undefined);
  if (given.length > 1) throw new Error(`more than one L4 header: ${given.join(', ')}`);
  return given[0];
}

function l4Proto(kind: ReturnType<typeof l4Kind>): number | undefined {
  switch (kind) {
    case 'tcp': return PROTO.TCP;
    case 'udp': return PROTO.UDP;
    case 'sctp': return PROTO.SCTP;
    case 'icmp': return PROTO.ICMP;
    case 'icmpv6':
    case 'nd': return PROTO.ICMPV6;
    default: return undefined;
  }
}

/** Writes the 16-bit ones'-complement checksum at `at` per the description's mode. */
function setInetChecksum(d: PacketDesc, b: Uint8Array, at: number, pseudo: number, isUdp: boolean): void {
  b[at] = b[at + 1] = 0;
  const mode = d.l4Checksum ?? 'valid';
  let v: number;
  if (mode === 'zero') v = 0;
  else if (mode === 'partial') v = fold(pseudo);
  else {
    v = ~fold(sum16(b, 0, b.length, pseudo)) & 0xffff;
    if (isUdp && v === 0) v = 0xffff; // 0 would mean "no checksum"
    if (mode === 'bad') v = spoil(v);
  }
  b[at] = v >> 8;
  b[at + 1] = v & 0xff;
}

/** The L4 header and payload, checksummed against `addrs` (null: no pseudo-header available). */
function buildL4(d: PacketDesc, addrs: PseudoAddrs | null): { bytes: Uint8Array; proto: number } | null {
  const kind = l4Kind(d);
  const payload = d.payload ?? EMPTY;
  if (kind === undefined) return null;
  const proto = l4Proto(kind)!;
  let b: Uint8Array;
  let csumAt = -1;
  switch (kind) {
    case 'tcp': {
      const t = d.tcp!;
      const opts = padTo(t.options ?? EMPTY, 4);
      const hlen = 20 + opts.length;
      if (hlen > 60) throw new Error('TCP options longer than 40 bytes');
      b = new Uint8Array(hlen + payload.length);
      const v = new DataView(b.buffer);
      v.setUint16(0, t.src ?? 1);
      v.setUint16(2, t.dst ?? 2);
      v.setUint32(4, (t.seq ?? 0) >>> 0);
      v.setUint32(8, (t.ack ?? 0) >>> 0);
      v.setUint16(12, ((hlen / 4) << 12) | ((t.flags ?? 0x02) & 0xfff));
      v.setUint16(14, t.window ?? 8192);
      b.set(opts, 20);
      b.set(payload, hlen);
      csumAt = 16;
      break;
    }
    case 'udp': {
      const u = d.udp!;
      b = new Uint8Array(8 + payload.length);
      const v = new DataView(b.buffer);
      v.setUint16(0, u.src ?? 1);
      v.setUint16(2, u.dst ?? 2);
      v.setUint16(4, b.length);
      b.set(payload, 8);
      csumAt = 6;
      break;
    }
    case 'sctp': {
      const s = d.sctp!;
      // One DATA chunk (RFC 9260 §3.3.1) carrying the payload: TSN 1, stream 0, SSN 0, PPID 0.
      const chunk = payload.length ? padTo(new Uint8Array(16 + payload.length), 4) : EMPTY;
      if (payload.length) {
        const cv = new DataView(chunk.buffer);
        cv.setUint8(0, 0); // DATA
        cv.setUint8(1, 0x03); // B and E: a whole message
        cv.setUint16(2, 16 + payload.length);
        cv.setUint32(4, 1);
        chunk.set(payload, 16);
      }
      b = new Uint8Array(12 + chunk.length);
      const v = new DataView(b.buffer);
      v.setUint16(0, s.src ?? 1);
      v.setUint16(2, s.dst ?? 2);
      v.setUint32(4, (s.vtag ?? 1) >>> 0);
      b.set(chunk, 12);
      const mode = d.l4Checksum ?? 'valid';
      if (mode === 'valid' || mode === 'bad') {
        // The CRC goes on the wire least significant byte first (RFC 9260 App. A).
        const crc = crc32c(b);
        v.setUint32(8, mode === 'bad' ? (crc ^ 0x00000001) >>> 0 : crc, true);
      }
      return { bytes: b, proto };
    }
    case 'icmp': {
      const c = d.icmp!;
      const rest = c.rest ?? new Uint8Array(4);
      b = new Uint8Array(4 + rest.length + payload.length);
      b[0] = c.type;
      b[1] = c.code ?? 0;
      b.set(rest, 4);
      b.set(payload, 4 + rest.length);
      setInetChecksum(d, b, 2, 0, false);
      return { bytes: b, proto };
    }
    case 'icmpv6': {
      const c = d.icmpv6!;
      const body = c.body ?? new Uint8Array(4);
      b = new Uint8Array(4 + body.length + payload.length);
      b[0] = c.type;
      b[1] = c.code ?? 0;
      b.set(body, 4);
      b.set(payload, 4 + body.length);
      csumAt = 2;
      break;
    }
    case 'nd': {
      const n = d.nd!;
      // RFC 4861 §4.3/4.4: type, code, checksum, flags + reserved, target, then options.
      const opts: Uint8Array[] = [];
      if (n.sll !== undefined) opts.push(Uint8Array.of(1, 1, ...parseMac(n.sll)));
      if (n.tll !== undefined) opts.push(Uint8Array.of(2, 1, ...parseMac(n.tll)));
      b = Buffer.concat([Uint8Array.of(n.type, 0, 0, 0, (n.flags ?? 0) & 0xff, 0, 0, 0), parseIpv6(n.target), ...opts, payload]);
      b = new Uint8Array(b); // own buffer, offset 0
      csumAt = 2;
      break;
    }
  }
  let pseudo = 0;
  if (addrs) {
    pseudo = sum16(addrs.src, 0, addrs.src.length);
    pseudo = sum16(addrs.dst, 0, addrs.dst.length, pseudo);
    pseudo += proto + (b.length & 0xffff) + Math.floor(b.length / 0x10000);
  }
  setInetChecksum(d, b, csumAt, pseudo, kind === 'udp');
  return { bytes: b, proto };
}

// ---------------------------------------------------------------------------------------------
// Layer 3

function buildArp(d: PacketDesc): Uint8Array {
  const a = d.arp!;
  return Buffer.concat([
    Uint8Array.of(0, 1, 0x08, 0x00, 6, 4),
    u16(a.op ?? 1),
    parseMac(a.sha ?? d.eth?.src ?? '00:00:00:00:00:01'),
    parseIpv4(a.spa ?? '10.0.0.1'),
    parseMac(a.tha ?? '00:00:00:00:00:00'),
    parseIpv4(a.tpa ?? '10.0.0.2'),
  ]);
}

function buildIpv4(d: PacketDesc): Uint8Array {
  const ip = d.ipv4!;
  const src = parseIpv4(ip.src ?? '10.0.0.1');
  const dst = parseIpv4(ip.dst ?? '10.0.0.2');
  const l4 = buildL4(d, { src, dst });
  const body = l4 ? l4.bytes : (d.payload ?? EMPTY);
  const proto = ip.proto ?? l4?.proto ?? PROTO.EXPERIMENT;
  const opts = padTo(ip.options ?? EMPTY, 4);
  const hlen = 20 + opts.length;
  if (hlen > 60) throw new Error('IPv4 options longer than 40 bytes');
  if (hlen + body.length > 0xffff) throw new Error('IPv4 packet longer than 65535 bytes');
  const b = new Uint8Array(hlen + body.length);
  const v = new DataView(b.buffer);
  v.setUint8(0, 0x40 | (hlen / 4));
  v.setUint8(1, (((ip.dscp ?? 0) & 0x3f) << 2) | ((ip.ecn ?? 0) & 3));
  v.setUint16(2, b.length);
  v.setUint16(4, ip.id ?? 0);
  v.setUint16(6, (ip.df ? 0x4000 : 0) | (ip.mf ? 0x2000 : 0) | ((ip.fragOffset ?? 0) & 0x1fff));
  v.setUint8(8, ip.ttl ?? 64);
  v.setUint8(9, proto);
  b.set(src, 12);
  b.set(dst, 16);
  b.set(opts, 20);
  let c = ~fold(sum16(b, 0, hlen)) & 0xffff;
  if (d.ipv4Checksum === 'bad') c = spoil(c);
  v.setUint16(10, c);
  b.set(body, hlen);
  return b;
}

/**
 * Fills `n` bytes at `at` with padding options (RFC 8200 §4.2): PadN of at most 257 bytes, never
 * leaving a single byte after one, and Pad1 only for a lone byte.
 */
function padOptions(b: Uint8Array, at: number, n: number): void {
  while (n > 0) {
    if (n === 1) {
      b[at] = 0; // Pad1
      return;
    }
    let chunk = Math.min(n, 257);
    if (n - chunk === 1) chunk--;
    b[at] = 1; // PadN
    b[at + 1] = chunk - 2;
    at += chunk;
    n -= chunk;
  }
}

function buildExt(e: Ipv6Ext, next: number): Uint8Array {
  switch (e.type) {
    case 'hop':
    case 'dest':
    case 'routing': {
      const len = e.length ?? 8;
      if (len < 8 || len % 8 || len > 2048) throw new Error(`bad ${e.type} header length ${len}`);
      const b = new Uint8Array(len);
      b[0] = next;
      b[1] = len / 8 - 1;
      if (e.type === 'routing') {
        b[2] = 253; // routing type: RFC 4727 experiment
        b[3] = 0; // segments left
      } else padOptions(b, 2, len - 2);
      return b;
    }
    case 'frag': {
      const b = new Uint8Array(8);
      const v = new DataView(b.buffer);
      b[0] = next;
      v.setUint16(2, (((e.offset ?? 0) & 0x1fff) << 3) | (e.more ? 1 : 0));
      v.setUint32(4, (e.id ?? 0) >>> 0);
      return b;
    }
    case 'ah': {
      // RFC 4302 §2: next header, payload length in 32-bit words minus 2, reserved, SPI, sequence, ICV.
      const len = e.length ?? 24;
      if (len < 16 || len % 8 || len > 1028) throw new Error(`bad AH length ${len}`);
      const b = new Uint8Array(len);
      const v = new DataView(b.buffer);
      b[0] = next;
      b[1] = len / 4 - 2;
      v.setUint32(4, (e.id ?? 1) >>> 0);
      v.setUint32(8, 1);
      return b;
    }
    case 'esp': {
      // RFC 4303 §2: SPI and sequence number; the rest (and the next header) is opaque.
      const len = e.length ?? 8;
      if (len < 8) throw new Error(`bad ESP length ${len}`);
      const b = new Uint8Array(len);
      const v = new DataView(b.buffer);
      v.setUint32(0, (e.id ?? 1) >>> 0);
      v.setUint32(4, 1);
      return b;
    }
    case 'none':
      return EMPTY;
  }
}

function buildIpv6(d: PacketDesc): Uint8Array {
  const ip = d.ipv6!;
  const src = parseIpv6(ip.src ?? '2001:db8::1');
  const dst = parseIpv6(ip.dst ?? '2001:db8::2');
  const l4 = buildL4(d, { src, dst });
  const body = l4 ? l4.bytes : (d.payload ?? EMPTY);
  const upper = ip.nextHeader ?? l4?.proto ?? (body.length ? PROTO.EXPERIMENT : PROTO.NONE);
  const ext = ip.ext ?? [];
  const parts: Uint8Array[] = [];
  for (let i = 0; i < ext.length; i++) {
    const next = i + 1 < ext.length ? EXT_PROTO[ext[i + 1]!.type] : upper;
    parts.push(buildExt(ext[i]!, next));
  }
  parts.push(body);
  const payloadLen = parts.reduce((n, p) => n + p.length, 0);
  if (payloadLen > 0xffff) throw new Error('IPv6 payload longer than 65535 bytes (jumbograms are not built)');
  const h = new Uint8Array(40);
  const v = new DataView(h.buffer);
  const tc = (((ip.dscp ?? 0) & 0x3f) << 2) | ((ip.ecn ?? 0) & 3);
  v.setUint32(0, ((6 << 28) | (tc << 20) | ((ip.flabel ?? 0) & 0xfffff)) >>> 0);
  v.setUint16(4, payloadLen);
  v.setUint8(6, ext.length ? EXT_PROTO[ext[0]!.type] : upper);
  v.setUint8(7, ip.hlim ?? 64);
  h.set(src, 8);
  h.set(dst, 24);
  return Buffer.concat([h, ...parts]);
}

// ---------------------------------------------------------------------------------------------
// The frame

/** What follows the ethertype, and the ethertype it needs. */
function buildAboveL2(d: PacketDesc): { type: number; bytes: Uint8Array } {
  if (d.pbb) {
    const p = d.pbb;
    const tag = new Uint8Array(4);
    new DataView(tag.buffer).setUint32(
      0,
      ((((p.pcp ?? 0) & 7) << 29) | (((p.dei ?? 0) & 1) << 28) | (((p.uca ?? 0) & 1) << 27) | (p.isid & 0xffffff)) >>> 0,
    );
    return { type: 0x88e7, bytes: Buffer.concat([tag, buildPacket(p.inner)]) };
  }
  let l3: { type: number; bytes: Uint8Array };
  if (d.arp) l3 = { type: 0x0806, bytes: Buffer.concat([buildArp(d), d.payload ?? EMPTY]) };
  else if (d.ipv4) l3 = { type: 0x0800, bytes: buildIpv4(d) };
  else if (d.ipv6) l3 = { type: 0x86dd, bytes: buildIpv6(d) };
  else {
    // No L3: the L4 header (if any) straight after the ethertype, without a pseudo-header.
    const l4 = buildL4(d, null);
    l3 = { type: 0x88b5, bytes: l4 ? l4.bytes : (d.payload ?? EMPTY) };
  }
  if (d.mpls?.length) {
    const stack = new Uint8Array(4 * d.mpls.length);
    const v = new DataView(stack.buffer);
    d.mpls.forEach((m, i) => {
      const bos = i === d.mpls!.length - 1 ? 1 : 0;
      v.setUint32(4 * i, (((m.label & 0xfffff) << 12) | (((m.tc ?? 0) & 7) << 9) | (bos << 8) | ((m.ttl ?? 64) & 0xff)) >>> 0);
    });
    return { type: 0x8847, bytes: Buffer.concat([stack, l3.bytes]) };
  }
  return l3;
}

/**
 * A whole Ethernet frame for `desc` (see PacketDesc for the layout and the defaults), in a Buffer
 * of its own (byteOffset 0, not a slice of Node's shared pool).
 */
export function buildPacket(desc: PacketDesc): Buffer {
  const parts: Uint8Array[] = [
    parseMac(desc.eth?.dst ?? '00:00:00:00:00:02'),
    parseMac(desc.eth?.src ?? '00:00:00:00:00:01'),
  ];
  for (const t of desc.vlans ?? []) {
    parts.push(u16(t.tpid ?? 0x8100), u16((((t.pcp ?? 0) & 7) << 13) | (((t.dei ?? 0) & 1) << 12) | (t.vid & 0xfff)));
  }
  const above = buildAboveL2(desc);
  parts.push(u16(desc.ethType ?? above.type), above.bytes);
  const frame = Buffer.concat(parts);
  const out = Buffer.alloc(Math.max(frame.length, desc.minLength ?? 0)); // zero padding
  frame.copy(out);
  return out;
}
