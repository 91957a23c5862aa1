/**
 * The flow key: every OpenFlow 1.3 match field plus datapath metadata, in a fixed layout of
 * 32-bit words (a Uint32Array), so that extraction writes into a reused key without allocating,
 * and hashing, masking and comparison are plain loops over words. A mask has the same layout: a
 * set bit means "this bit of the key matters".
 *
 * Layout rules: multi-word values are big-endian across words (the high word first); addresses
 * are stored as they appear on the wire read as big-endian numbers (10.0.0.1 is 0x0a000001);
 * sub-word fields are packed as documented next to their word. Words 0..K.PACKET-1 are metadata
 * the datapath sets (port, tunnel, registers); words K.PACKET.. are parsed from the frame and are
 * the only ones extraction clears.
 */

export const K = {
  // Datapath metadata (set by the port or the datapath, not parsed).
  IN_PORT: 0,
  /** The physical port under a logical in_port (OpenFlow IN_PHY_PORT); equals IN_PORT for plain ports. */
  IN_PHY_PORT: 1,
  SKB_PRIORITY: 2,
  PKT_MARK: 3,
  RECIRC_ID: 4,
  DP_HASH: 5,
  /** OpenFlow metadata register, 64 bits: high word, low word. */
  METADATA: 6,
  /** Tunnel id (VNI/key), 64 bits. */
  TUN_ID: 8,
  TUN_IPV4_SRC: 10,
  TUN_IPV4_DST: 11,
  /** Four words each. */
  TUN_IPV6_SRC: 12,
  TUN_IPV6_DST: 16,
  /** tos << 8 | ttl */
  TUN_TOS_TTL: 20,
  /** TUN_FLAG_* bits */
  TUN_FLAGS: 21,
  /** Outer UDP ports: src << 16 | dst */
  TUN_TP: 22,
  /** Length in bytes of the Geneve options that follow (0..64). */
  TUN_GENEVE_LEN: 23,
  /** Geneve options as they are on the wire, 16 words (64 bytes). */
  TUN_GENEVE: 24,

  // Parsed from the frame.
  PACKET: 40,
  /** Ethernet addresses: high word holds the first 2 bytes, low word the last 4. */
  ETH_DST: 40,
  ETH_SRC: 42,
  /** The ethertype after any VLAN tags (OpenFlow's eth_type); 0x05ff for 802.3 frames without one. */
  ETH_TYPE: 44,
  /**
   * VLAN tags, outer first: tpid << 16 | pcp << 13 | 0x1000 (OFPVID_PRESENT: a tag is there) |
   * vid. OpenFlow has no DEI match field, so the key does not keep it (the frame does). 0 means
   * no tag.
   */
  VLAN0: 45,
  VLAN1: 46,
  /** MPLS label stack entries as on the wire (label << 12 | tc << 9 | bos << 8 | ttl), outer first. */
  MPLS0: 47,
  MPLS1: 48,
  MPLS2: 49,
  /** I-SID (24 bits) | I-PCP << 29 | I-DEI << 28 | UCA << 27 */
  PBB: 50,
  IPV4_SRC: 51,
  IPV4_DST: 52,
  /** Four words each. */
  IPV6_SRC: 53,
  IPV6_DST: 57,
  /** 20-bit flow label. */
  IPV6_LABEL: 61,
  /** ip_proto | tos << 8 (dscp << 2 | ecn) | ttl << 16 | frag << 24 (FRAG_* values) */
  NW: 62,
  /** OFPIEH_* bits (9) of the IPV6_EXTHDR match field. */
  IPV6_EXTHDR: 63,
  /** L4 ports (TCP/UDP/SCTP); ICMP type and code also go here: type in TP_SRC, code in TP_DST. */
  TP_SRC: 64,
  TP_DST: 65,
  /** TCP flags, 12 bits. */
  TCP_FLAGS: 66,
  ARP_OP: 67,
  ARP_SPA: 68,
  ARP_TPA: 69,
  /** Two words each, like the Ethernet addresses. */
  ARP_SHA: 70,
  ARP_THA: 72,
  /** Four words. */
  ND_TARGET: 74,
  /** Two words each. */
  ND_SLL: 78,
  ND_TLL: 80,
  /** Counts and parse state: KF_* bits, vlan count << 16, mpls count << 20. Not a match field. */
  FLAGS: 82,
  /** Total number of words. */
  WORDS: 83,
} as const;

/** K.NW frag values (the same meaning as OVS's nw_frag). */
export const FRAG = { NONE: 0, FIRST: 1, LATER: 3 } as const;

/** K.FLAGS bits. */
export const KF = {
  /** The frame ended before a header it announced was complete. */
  TRUNCATED: 1 << 0,
  /** A header was present but invalid (bad IHL, bad length field, option overruns). */
  MALFORMED: 1 << 1,
  /** More VLAN tags or MPLS labels than the key holds. */
  DEEP_STACK: 1 << 2,
  /** The L4 checksum is partial (offloaded, not yet computed): see completeChecksum. */
  CSUM_PARTIAL: 1 << 3,
} as const;

export const TUN_FLAG = { DONT_FRAGMENT: 1 << 0, CSUM: 1 << 1, KEY: 1 << 2, OAM: 1 << 3 } as const;

/** VLAN word: bits of the low 16 (the TCI, with 0x1000 meaning "a tag is present"). */
export const VLAN = { VID_MASK: 0x0fff, PRESENT: 0x1000, PCP_SHIFT: 13, TPID_SHIFT: 16 } as const;

export type FlowKey = Uint32Array;
export type FlowMask = Uint32Array;

/**
 * Keys carved out of shared slabs. A typed array larger than 64 bytes gets its own off-heap
 * backing store in V8 (a malloc and external-memory bookkeeping that drives the GC); a key is 332
 * bytes, and the upcall path makes several per packet. A view on a slab costs a small object.
 * A slab lives while any key in it does, so short-lived scratch keys come from their own
 * KeySlab (see xlate) rather than sharing slabs with keys kept in flow tables.
 */
export class KeySlab {
  private slab: ArrayBuffer | undefined;
  private used: number;

  constructor(private readonly perSlab = 128, private readonly words: number = K.WORDS) {
    this.used = perSlab;
  }

  /** A zeroed array of `words` 32-bit words. */
  alloc(): Uint32Array {
    if (this.used === this.perSlab) {
      this.slab = new ArrayBuffer(this.perSlab * this.words * 4);
      this.used = 0;
    }
    return new Uint32Array(this.slab!, this.words * 4 * this.used++, this.words);
  }
}

const keySlab = new KeySlab();

/** A zeroed key (from the shared slab: see KeySlab). */
export function newKey(): FlowKey {
  return keySlab.alloc();
}

/** A copy of a key or mask. */
export function copyKey(src: FlowKey): FlowKey {
  const k = keySlab.alloc();
  k.set(src);
  return k;
}

/** A mask with every bit set (exact match on everything). */
export function fullMask(): FlowMask {
  return newKey().fill(0xffffffff);
}

// ---------------------------------------------------------------------------------------------
// Hashing and comparison
// ---------------------------------------------------------------------------------------------

/** murmur3's 32-bit block mix (shared with the classifier's compact-key hash, which must agree). */
export function mix(h: number, w: number): number {
  w = Math.imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  w = Math.imul(w, 0x1b873593);
  h ^= w;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3's finalizer over `n` mixed words, as an unsigned 32-bit number. */
export function finish(h: number, n: number): number {
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function hashKey(key: FlowKey, basis = 0): number {
  let h = basis | 0;
  for (let i = 0; i < K.WORDS; i++) h = mix(h, key[i]!);
  return finish(h, K.WORDS);
}

/**
 * The words a mask selects, computed once per mask (a megaflow subtable) so that hashing and
 * comparing under it visit only those words.
 */
export function maskWords(mask: FlowMask): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < K.WORDS; i++) if (mask[i] !== 0) out.push(i);
  return Uint8Array.from(out);
}

/** Hash of key & mask over the words `words` (from maskWords(mask)). */
export function hashMasked(key: FlowKey, mask: FlowMask, words: Uint8Array, basis = 0): number {
  let h = basis | 0;
  for (let j = 0; j < words.length; j++) {
    const i = words[j]!;
    h = mix(h, key[i]! & mask[i]!);
  }
  return finish(h, words.length);
}

/** True when a and b agree on every bit the mask selects. */
export function equalMasked(a: FlowKey, b: FlowKey, mask: FlowMask, words?: Uint8Array): boolean {
  if (words !== undefined) {
    for (let j = 0; j < words.length; j++) {
      const i = words[j]!;
      if (((a[i]! ^ b[i]!) & mask[i]!) !== 0) return false;
    }
    return true;
  }
  for (let i = 0; i < K.WORDS; i++) if (((a[i]! ^ b[i]!) & mask[i]!) !== 0) return false;
  return true;
}

export function equalKeys(a: FlowKey, b: FlowKey): boolean {
  for (let i = 0; i < K.WORDS; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** dst = key & mask, word by word. */
export function applyMask(dst: FlowKey, key: FlowKey, mask: FlowMask): FlowKey {
  for (let i = 0; i < K.WORDS; i++) dst[i] = key[i]! & mask[i]!;
  return dst;
}
