/**
 * OpenFlow matches onto the flow-key layout, and back.
 *
 * compileMatch turns a list of basic-class OXMs into a (key, mask) pair over the FlowKey words of
 * src/packet/key.ts, so that "does this packet match this rule" is `(flow ^ key) & mask == 0` word
 * by word: the classifier, the datapath and the tests all use that one test. matchFromKey goes the
 * other way, for the replies that must carry a match the switch holds only in compiled form.
 *
 * Where each field lives (see key.ts for the word layouts):
 *   - one-word fields take the whole word or a bit range of it: VLAN_VID is the low 13 bits of
 *     K.VLAN0 (OFPVID_PRESENT is the key's "a tag is there" bit, so value 0 = no tag and
 *     0x1000/0x1000 = any tag fall out of plain bit matching), VLAN_PCP bits 13..15 of the same
 *     word; IP_PROTO, IP_ECN and IP_DSCP are bits 0..7, 8..9 and 10..15 of K.NW; MPLS label, TC
 *     and BOS are bits 12..31, 9..11 and 8 of K.MPLS0 (the outermost entry, as OpenFlow means);
 *   - TCP, UDP and SCTP ports share K.TP_SRC/K.TP_DST, and ICMPv4/ICMPv6 type and code go there
 *     too: the IP_PROTO prerequisite tells them apart, so two of them in one match would name the
 *     same key bits, which is refused as DUP_FIELD;
 *   - addresses and 64-bit values span words big-endian (METADATA and TUNNEL_ID two words, MACs
 *     two words with the first two bytes in the high one, IPv6 four words).
 *
 * compileWireMatch does the same straight from a flow-mod's OXM bytes (the FLOW_MOD fast path,
 * src/openflow/flowmod-wire.ts): no OXM objects, no address strings parsed back; it also says
 * whether matchFromKey gives the sent OXMs back, so that a rule need not keep them.
 *
 * Prerequisites are not checked here (checkPrerequisites in src/openflow does that, and only a
 * flow-mod needs it); what is checked is what the key itself needs: known basic fields, values
 * and masks within the field's width, masks only on maskable fields, no value bit outside the
 * mask, and no two fields claiming the same key bits.
 */

import { OXM_FIELDS, KIND_SIZE, type OxmKind } from '../../proto/oxm.js';
import { OFPXMT } from '../../proto/constants.js';
import { OFPE } from '../../proto/errors.js';
import type { ErrorPair } from '../../proto/schema.js';
import {
  isBasic, readMac, writeMac, readIpv4, writeIpv4, readIpv6, writeIpv6, type Oxm, type OxmBasic, type OxmValue,
} from '../openflow/index.js';
import { K, KeySlab, equalKeys, hashKey, type FlowKey, type FlowMask } from '../packet/key.js';

export interface CompiledMatch {
  /** Already masked: key & mask === key. */
  readonly key: FlowKey;
  readonly mask: FlowMask;
}

const BM = OFPE.BAD_MATCH!;

/**
 * Where a field goes: the first word, and for sub-word numeric fields the shift and the width
 * mask of its bits (before shifting). Multi-word kinds (mac, ipv6, u64) use `word` as the first
 * of their words.
 */
interface Slot {
  readonly word: number;
  readonly shift: number;
  readonly bits: number;
}

const X = OFPXMT;
const slot = (word: number, bits: number, shift = 0): Slot => ({ word, shift, bits });

/** Indexed by OXM field number (0..39). */
const SLOTS: readonly Slot[] = (() => {
  const s: Slot[] = [];
  s[X.IN_PORT] = slot(K.IN_PORT, 0xffffffff);
  s[X.IN_PHY_PORT] = slot(K.IN_PHY_PORT, 0xffffffff);
  s[X.METADATA] = slot(K.METADATA, 0);
  s[X.ETH_DST] = slot(K.ETH_DST, 0);
  s[X.ETH_SRC] = slot(K.ETH_SRC, 0);
  s[X.ETH_TYPE] = slot(K.ETH_TYPE, 0xffff);
  s[X.VLAN_VID] = slot(K.VLAN0, 0x1fff);
  s[X.VLAN_PCP] = slot(K.VLAN0, 0x7, 13);
  s[X.IP_DSCP] = slot(K.NW, 0x3f, 10);
  s[X.IP_ECN] = slot(K.NW, 0x3, 8);
  s[X.IP_PROTO] = slot(K.NW, 0xff);
  s[X.IPV4_SRC] = slot(K.IPV4_SRC, 0);
  s[X.IPV4_DST] = slot(K.IPV4_DST, 0);
  s[X.TCP_SRC] = s[X.UDP_SRC] = s[X.SCTP_SRC] = slot(K.TP_SRC, 0xffff);
  s[X.TCP_DST] = s[X.UDP_DST] = s[X.SCTP_DST] = slot(K.TP_DST, 0xffff);
  s[X.ICMPV4_TYPE] = s[X.ICMPV6_TYPE] = slot(K.TP_SRC, 0xff);
  s[X.ICMPV4_CODE] = s[X.ICMPV6_CODE] = slot(K.TP_DST, 0xff);
  s[X.ARP_OP] = slot(K.ARP_OP, 0xffff);
  s[X.ARP_SPA] = slot(K.ARP_SPA, 0);
  s[X.ARP_TPA] = slot(K.ARP_TPA, 0);
  s[X.ARP_SHA] = slot(K.ARP_SHA, 0);
  s[X.ARP_THA] = slot(K.ARP_THA, 0);
  s[X.IPV6_SRC] = slot(K.IPV6_SRC, 0);
  s[X.IPV6_DST] = slot(K.IPV6_DST, 0);
  s[X.IPV6_FLABEL] = slot(K.IPV6_LABEL, 0xfffff);
  s[X.IPV6_ND_TARGET] = slot(K.ND_TARGET, 0);
  s[X.IPV6_ND_SLL] = slot(K.ND_SLL, 0);
  s[X.IPV6_ND_TLL] = slot(K.ND_TLL, 0);
  s[X.MPLS_LABEL] = slot(K.MPLS0, 0xfffff, 12);
  s[X.MPLS_TC] = slot(K.MPLS0, 0x7, 9);
  s[X.MPLS_BOS] = slot(K.MPLS0, 0x1, 8);
  s[X.PBB_ISID] = slot(K.PBB, 0xffffff);
  s[X.TUNNEL_ID] = slot(K.TUN_ID, 0);
  s[X.IPV6_EXTHDR] = slot(K.IPV6_EXTHDR, 0x1ff);
  return s;
})();

const KIND: readonly OxmKind[] = OXM_FIELDS.map((d) => d.kind);
const MASKABLE: readonly boolean[] = OXM_FIELDS.map((d) => d.maskable);

// Scratch for address parsing, so that compiling a match allocates only its key and mask.
const bytes = new Uint8Array(16);
const vals = new Uint32Array(4);
const msks = new Uint32Array(4);

const be32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/**
 * Reads a value of `kind` into `out` as the key's words (1, 2 or 4 of them); false when the
 * value is not of the kind's form or does not fit.
 */
function toWords(kind: OxmKind, v: OxmValue, out: Uint32Array): boolean {
  switch (kind) {
    case 'mac':
      if (typeof v !== 'string') return false;
      try { writeMac(bytes, 0, v); } catch { return false; }
      out[0] = (bytes[0]! << 8) | bytes[1]!;
      out[1] = be32(bytes, 2);
      return true;
    case 'ipv4':
      if (typeof v !== 'string') return false;
      try { writeIpv4(bytes, 0, v); } catch { return false; }
      out[0] = be32(bytes, 0);
      return true;
    case 'ipv6':
      if (typeof v !== 'string') return false;
      try { writeIpv6(bytes, 0, v); } catch { return false; }
      for (let i = 0; i < 4; i++) out[i] = be32(bytes, 4 * i);
      return true;
    case 'u64':
      if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn) return false;
      out[0] = Number(v >> 32n);
      out[1] = Number(v & 0xffffffffn);
      return true;
    default:
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) return false;
      out[0] = v;
      return true;
  }
}

const WORDS_OF: Readonly<Record<OxmKind, number>> = { u8: 1, u16: 1, u24: 1, u32: 1, u64: 2, mac: 2, ipv4: 1, ipv6: 4 };

/**
 * The (key, mask) of a match. Errors: a non-basic class or an unknown field → BAD_FIELD; a value
 * that is not of the field's form or wider than the field → BAD_VALUE; a mask on a field that
 * takes none, or a malformed mask → BAD_MASK; value bits outside the mask → BAD_WILDCARDS; two
 * fields on the same key bits (the same field twice, or tcp_src with udp_src) → DUP_FIELD.
 */
function compileInto(match: readonly Oxm[], key: Uint32Array, mask: Uint32Array): ErrorPair | undefined {
  key.fill(0);
  mask.fill(0);
  for (let n = 0; n < match.length; n++) {
    const x = match[n]!;
    if (!isBasic(x)) return BM.BAD_FIELD!;
    const f = x.field;
    const s = SLOTS[f];
    if (s === undefined) return BM.BAD_FIELD!;
    const kind = KIND[f]!;
    if (!toWords(kind, x.value, vals)) return BM.BAD_VALUE!;
    const nw = WORDS_OF[kind];
    if (x.mask === undefined) {
      // An exact match: every bit of the field. Multi-word kinds have bits 0 in their slot and
      // fill whole words (a MAC's high word is 16 bits wide).
      for (let i = 0; i < nw; i++) msks[i] = 0xffffffff;
      if (kind === 'mac') msks[0] = 0xffff;
    } else {
      if (!MASKABLE[f]) return BM.BAD_MASK!;
      if (!toWords(kind, x.mask, msks)) return BM.BAD_MASK!;
    }
    if (s.bits !== 0) {
      // Sub-word numeric field: the value and mask must fit the field's width.
      if ((vals[0]! & ~s.bits) !== 0) return BM.BAD_VALUE!;
      if ((msks[0]! & ~s.bits) !== 0) {
        if (x.mask !== undefined) return BM.BAD_MASK!;
        msks[0] = s.bits;
      }
    }
    for (let i = 0; i < nw; i++) {
      const v = vals[i]!;
      const m = msks[i]!;
      if ((v & ~m) !== 0) return BM.BAD_WILDCARDS!;
      const w = s.word + i;
      const mw = (m << s.shift) >>> 0;
      if ((mask[w]! & mw) !== 0) return BM.DUP_FIELD!;
      mask[w] = (mask[w]! | mw) >>> 0;
      key[w] = (key[w]! | (v << s.shift)) >>> 0;
    }
  }
  return undefined;
}

// The match being compiled goes here first, so that errors and matchError() allocate nothing.
const scratchKey = new Uint32Array(K.WORDS);
const scratchMask = new Uint32Array(K.WORDS);

// A key or mask of K.WORDS words is too large for V8 to keep inside the heap: each
// `new Uint32Array(K.WORDS)` would allocate its own backing store (a malloc plus GC bookkeeping,
// about a microsecond). Compiled keys are carved from slabs instead (KeySlab); a slab lives as
// long as any key in it, which costs little because rules mostly go in bulk.
const keys = new KeySlab(32);

// Masks are interned: rules with the same mask share one array. A table holds few distinct
// masks (one per combination of fields and prefix lengths), so this removes half of a rule's
// compiled size. Interning stops growing at MAX_INTERNED distinct masks (later ones are plain
// copies), so a stream of odd masks cannot grow the table without bound.
const MAX_INTERNED = 4096;
const interned = new Map<number, Uint32Array[]>();
let internedCount = 0;

// The mask interned last: flow-mods in a row mostly share one, and comparing with it is cheaper
// than hashing all K.WORDS words.
let lastInterned: Uint32Array | undefined;

// The number of non-zero words of lastInterned.
let lastInternedWords = 0;

function setLastInterned(x: Uint32Array): void {
  lastInterned = x;
  let n = 0;
  for (let i = 0; i < K.WORDS; i++) if (x[i] !== 0) n++;
  lastInternedWords = n;
}

function internMask(m: Uint32Array): Uint32Array {
  if (lastInterned !== undefined && equalKeys(lastInterned, m)) return lastInterned;
  const h = hashKey(m);
  const list = interned.get(h);
  if (list !== undefined) {
    for (const x of list) {
      if (equalKeys(x, m)) {
        setLastInterned(x);
        return x;
      }
    }
  }
  const copy = keys.alloc();
  copy.set(m);
  if (internedCount < MAX_INTERNED) {
    internedCount++;
    if (list === undefined) interned.set(h, [copy]);
    else list.push(copy);
    setLastInterned(copy);
  }
  return copy;
}

/**
 * The (key, mask) of a match (see compileInto for the errors). The mask may be shared with other
 * compiled matches (interned): never write to it.
 */
export function compileMatch(match: readonly Oxm[]): CompiledMatch | ErrorPair {
  const err = compileInto(match, scratchKey, scratchMask);
  if (err !== undefined) return err;
  const key = keys.alloc();
  key.set(scratchKey);
  return { key, mask: internMask(scratchMask) };
}

// The key of compileMatchScratch: apart from scratchKey, so that matchError() (set-field
// validation, which runs after the match is compiled) does not overwrite it.
const transientKey = new Uint32Array(K.WORDS);

/**
 * Like compileMatch, but the key is a scratch array that the next compileMatchScratch call
 * overwrites: for callers that only read it (a flow-mod's selection, or a rule that keeps its key
 * in compact form), so that a flow-mod allocates no key. The mask is interned as in compileMatch.
 */
export function compileMatchScratch(match: readonly Oxm[]): CompiledMatch | ErrorPair {
  const err = compileInto(match, transientKey, scratchMask);
  if (err !== undefined) return err;
  return { key: transientKey, mask: internMask(scratchMask) };
}

// ---------------------------------------------------------------------------------------------
// Straight from the wire
// ---------------------------------------------------------------------------------------------

/** A compiled match, and whether matchFromKey of it gives back the OXM list it came from. */
export interface WireCompiledMatch extends CompiledMatch {
  readonly canonical: boolean;
}

// compileWireMatch's key and mask, and the words it set (only those are cleared before the next
// compilation: most of the K.WORDS words stay zero).
const wireKey = new Uint32Array(K.WORDS);
const wireMask = new Uint32Array(K.WORDS);
const dirty = new Uint8Array(K.WORDS);
let nDirty = 0;
// The result, one object rewritten by each call (its users read it before the next flow-mod).
const wireResult: { key: FlowKey; mask: FlowMask; canonical: boolean } = { key: wireKey, mask: wireMask, canonical: false };

const KIND_NUM: readonly boolean[] = OXM_FIELDS.map((d) => d.kind === 'u8' || d.kind === 'u16' || d.kind === 'u24' || d.kind === 'u32');
const SIZE_OF: readonly number[] = OXM_FIELDS.map((d) => KIND_SIZE[d.kind]);

/**
 * compileMatchScratch for basic OXMs on the wire, b[o..e), as src/openflow's decodeFlowModWire
 * accepted them (well-formed, values and masks within their fields): no OXM objects, no address
 * strings. Undefined for a match compileMatch would refuse: the caller then compiles the decoded
 * OXMs to get the exact error. The key is a scratch array, and the result one object, that the
 * next call rewrites; the mask is interned as compileMatch's are.
 *
 * `canonical` says that matchFromKey of the result equals the decoded OXM list: the fields are
 * in ascending field order (matchFromKey's), and each carries a mask exactly when its mask is
 * neither all of the field's bits nor none. (The shared L4 slots are named as the prerequisites
 * force, which is how matchFromKey names them.) A rule so compiled need not keep its match.
 */
export function compileWireMatch(b: Uint8Array, o: number, e: number): WireCompiledMatch | undefined {
  const key = wireKey;
  const mask = wireMask;
  for (let i = 0; i < nDirty; i++) {
    const w = dirty[i]!;
    key[w] = 0;
    mask[w] = 0;
  }
  nDirty = 0;
  let canonical = true;
  let lastField = -1;
  for (let p = o; p < e;) {
    const f = b[p + 2]! >>> 1;
    const hasMask = (b[p + 2]! & 1) === 1;
    const v = p + 4;
    p = v + b[p + 3]!;
    const s = SLOTS[f];
    if (s === undefined) return undefined;
    if (f <= lastField) canonical = false;
    lastField = f;
    const size = SIZE_OF[f]!;
    let nw: number;
    if (KIND_NUM[f]) {
      let x = 0;
      for (let i = 0; i < size; i++) x = (x << 8) | b[v + i]!;
      vals[0] = x;
      if (hasMask) {
        let m = 0;
        for (let i = 0; i < size; i++) m = (m << 8) | b[v + size + i]!;
        msks[0] = m;
      } else {
        msks[0] = 0xffffffff;
      }
      if ((vals[0]! & ~s.bits) !== 0) return undefined;
      if ((msks[0]! & ~s.bits) !== 0) {
        if (hasMask) return undefined;
        msks[0] = s.bits;
      }
      if (hasMask && (msks[0] === 0 || msks[0] === (s.bits >>> 0))) canonical = false;
      nw = 1;
    } else {
      // mac (a 16-bit high word), ipv4, ipv6 and u64: whole big-endian words.
      const mac = size === 6;
      nw = mac ? 2 : size >>> 2;
      wordsAt(b, v, size, vals);
      if (hasMask) {
        wordsAt(b, v + size, size, msks);
        let any = 0;
        let full = true;
        for (let i = 0; i < nw; i++) {
          any |= msks[i]!;
          if (msks[i] !== (mac && i === 0 ? 0xffff : 0xffffffff)) full = false;
        }
        if (any === 0 || full) canonical = false;
      } else {
        for (let i = 0; i < nw; i++) msks[i] = 0xffffffff;
        if (mac) msks[0] = 0xffff;
      }
    }
    for (let i = 0; i < nw; i++) {
      const x = vals[i]!;
      const m = msks[i]!;
      if ((x & ~m) !== 0) return undefined;
      const w = s.word + i;
      const mw = (m << s.shift) >>> 0;
      if ((mask[w]! & mw) !== 0) return undefined;
      if (mask[w] === 0 && mw !== 0) dirty[nDirty++] = w;
      mask[w] = (mask[w]! | mw) >>> 0;
      key[w] = (key[w]! | (x << s.shift)) >>> 0;
    }
  }
  wireResult.mask = internDirtyMask();
  wireResult.canonical = canonical;
  return wireResult;
}

/** Big-endian words of a `size`-byte value (6: a MAC, its high word 16 bits). */
function wordsAt(b: Uint8Array, o: number, size: number, out: Uint32Array): void {
  if (size === 6) {
    out[0] = (b[o]! << 8) | b[o + 1]!;
    out[1] = be32(b, o + 2);
    return;
  }
  for (let i = 0; i < size >>> 2; i++) out[i] = be32(b, o + 4 * i);
}

/** internMask(wireMask), comparing only the words set when the last interned mask is the same. */
function internDirtyMask(): Uint32Array {
  const last = lastInterned;
  if (last !== undefined && lastInternedWords === nDirty) {
    let same = true;
    for (let i = 0; i < nDirty; i++) {
      const w = dirty[i]!;
      if (last[w] !== wireMask[w]) {
        same = false;
        break;
      }
    }
    if (same) return last;
  }
  return internMask(wireMask);
}

/** The error compileMatch would return for `match`, without building the key and mask. */
export function matchError(match: readonly Oxm[]): ErrorPair | undefined {
  return compileInto(match, scratchKey, scratchMask);
}

/** True when compileMatch gave an error rather than a match. */
export function isMatchError(r: CompiledMatch | ErrorPair): r is ErrorPair {
  return Array.isArray(r);
}

// ---------------------------------------------------------------------------------------------
// Back to OXMs
// ---------------------------------------------------------------------------------------------

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;

/** The field's bits of one word as [value, mask], shifted down. */
function sub(cm: CompiledMatch, s: Slot): [number, number] {
  const m = (cm.mask[s.word]! >>> s.shift) & s.bits;
  return [((cm.key[s.word]! >>> s.shift) & s.bits & m) >>> 0, m >>> 0];
}

function wordsToBytes(src: Uint32Array, at: number, n: number, out: Uint8Array, o: number): void {
  for (let i = 0; i < n; i++) {
    const w = src[at + i]!;
    out[o + 4 * i] = w >>> 24;
    out[o + 4 * i + 1] = w >>> 16;
    out[o + 4 * i + 2] = w >>> 8;
    out[o + 4 * i + 3] = w;
  }
}

function macOf(src: Uint32Array, at: number): string {
  const b = new Uint8Array(6);
  b[0] = src[at]! >>> 8;
  b[1] = src[at]!;
  wordsToBytes(src, at + 1, 1, b, 2);
  return readMac(b, 0);
}

function ipv4Of(src: Uint32Array, at: number): string {
  const b = new Uint8Array(4);
  wordsToBytes(src, at, 1, b, 0);
  return readIpv4(b, 0);
}

function ipv6Of(src: Uint32Array, at: number): string {
  const b = new Uint8Array(16);
  wordsToBytes(src, at, 4, b, 0);
  return readIpv6(b, 0);
}

const u64Of = (src: Uint32Array, at: number): bigint => (BigInt(src[at]!) << 32n) | BigInt(src[at + 1]!);

/**
 * A canonical OXM list for a compiled match: fields in OXM field-number order (which puts every
 * prerequisite before the fields that need it: in_port, in_phy_port, metadata, eth_*, eth_type,
 * vlan, ip_*, l4 ...), a mask only where it is not the field's full width, and the shared key
 * slots (L4 ports, ICMP type/code, ND addresses) named after the protocol the match fixes.
 *
 * For a match that compileMatch built from an OXM list passing checkPrerequisites, the result
 * passes it too and compiles back to the same key and mask. Bits the compiled form holds that no
 * prerequisite explains (an L4 port with no fixed ip_proto) come out as the most likely field
 * (TCP for ports) so that nothing is silently lost; bits outside every OXM field are not shown.
 */
export function matchFromKey(cm: CompiledMatch): Oxm[] {
  const out: OxmBasic[] = [];
  const { key, mask } = cm;
  const num = (f: number): void => {
    const s = SLOTS[f]!;
    const [v, m] = sub(cm, s);
    if (m === 0) return;
    out.push(m === s.bits ? { field: f, value: v } : { field: f, value: v, mask: m });
  };
  const multi = (f: number): void => {
    const s = SLOTS[f]!;
    const kind = KIND[f]!;
    const nw = WORDS_OF[kind];
    let any = 0;
    let full = true;
    for (let i = 0; i < nw; i++) {
      const m = mask[s.word + i]!;
      any |= m;
      const want = kind === 'mac' && i === 0 ? 0xffff : 0xffffffff;
      if (((m & want) >>> 0) !== want) full = false;
    }
    if (any === 0) return;
    const masked = new Uint32Array(nw);
    for (let i = 0; i < nw; i++) masked[i] = key[s.word + i]! & mask[s.word + i]!;
    const m = mask.subarray(s.word, s.word + nw);
    const conv = (w: Uint32Array): OxmValue =>
      kind === 'mac' ? macOf(w, 0) : kind === 'ipv4' ? ipv4Of(w, 0) : kind === 'ipv6' ? ipv6Of(w, 0) : u64Of(w, 0);
    out.push(full ? { field: f, value: conv(masked) } : { field: f, value: conv(masked), mask: conv(m) });
  };

  num(X.IN_PORT);
  num(X.IN_PHY_PORT);
  multi(X.METADATA);
  multi(X.ETH_DST);
  multi(X.ETH_SRC);
  num(X.ETH_TYPE);
  num(X.VLAN_VID);
  num(X.VLAN_PCP);
  num(X.IP_DSCP);
  num(X.IP_ECN);
  num(X.IP_PROTO);
  multi(X.IPV4_SRC);
  multi(X.IPV4_DST);

  const ethType = (mask[K.ETH_TYPE]! & 0xffff) === 0xffff ? key[K.ETH_TYPE]! : -1;
  const proto = (mask[K.NW]! & 0xff) === 0xff ? key[K.NW]! & 0xff : -1;
  // The L4 slots are named by the protocol the match fixes. ICMPv6 type/code keep their field
  // position (after the IPv6 addresses) because the ND fields that follow need ICMPV6_TYPE.
  let tpSrc: number = X.TCP_SRC;
  let tpDst: number = X.TCP_DST;
  if (proto === 17) [tpSrc, tpDst] = [X.UDP_SRC, X.UDP_DST];
  else if (proto === 132) [tpSrc, tpDst] = [X.SCTP_SRC, X.SCTP_DST];
  else if (proto === 1 && ethType === ETH_IPV4) [tpSrc, tpDst] = [X.ICMPV4_TYPE, X.ICMPV4_CODE];
  else if (proto === 58 && ethType === ETH_IPV6) [tpSrc, tpDst] = [X.ICMPV6_TYPE, X.ICMPV6_CODE];
  const icmp6 = tpSrc === X.ICMPV6_TYPE;
  if (!icmp6) {
    num(tpSrc);
    num(tpDst);
  }
  num(X.ARP_OP);
  multi(X.ARP_SPA);
  multi(X.ARP_TPA);
  multi(X.ARP_SHA);
  multi(X.ARP_THA);
  multi(X.IPV6_SRC);
  multi(X.IPV6_DST);
  num(X.IPV6_FLABEL);
  if (icmp6) {
    num(X.ICMPV6_TYPE);
    num(X.ICMPV6_CODE);
  }
  multi(X.IPV6_ND_TARGET);
  multi(X.IPV6_ND_SLL);
  multi(X.IPV6_ND_TLL);
  num(X.MPLS_LABEL);
  num(X.MPLS_TC);
  num(X.MPLS_BOS);
  num(X.PBB_ISID);
  multi(X.TUNNEL_ID);
  num(X.IPV6_EXTHDR);
  return out;
}

// ---------------------------------------------------------------------------------------------
// One field at a time (set-field in xlate)
// ---------------------------------------------------------------------------------------------

/**
 * ORs the key bits of OXM basic field `field` into `mask` (all of its bits: the field's words,
 * or its bit range of a shared word). False, changing nothing, for a field the key does not hold.
 */
export function orFieldMask(mask: FlowMask, field: number): boolean {
  const s = SLOTS[field];
  if (s === undefined) return false;
  const kind = KIND[field]!;
  if (s.bits !== 0) {
    mask[s.word] = (mask[s.word]! | ((s.bits << s.shift) >>> 0)) >>> 0;
    return true;
  }
  const nw = WORDS_OF[kind];
  for (let i = 0; i < nw; i++) mask[s.word + i] = kind === 'mac' && i === 0 ? (mask[s.word]! | 0xffff) >>> 0 : 0xffffffff;
  return true;
}

/**
 * Writes the value of an unmasked OXM basic field into `key` (the whole field; the other bits of
 * a shared word stay), as set-field does to a flow. False, changing nothing, when the OXM is not
 * basic, names a field the key does not hold, carries a mask, or has a value that does not fit.
 */
export function setFieldInKey(key: FlowKey, oxm: Oxm): boolean {
  if (!isBasic(oxm) || oxm.mask !== undefined) return false;
  const f = oxm.field;
  const s = SLOTS[f];
  if (s === undefined) return false;
  const kind = KIND[f]!;
  if (!toWords(kind, oxm.value, vals)) return false;
  if (s.bits !== 0) {
    if ((vals[0]! & ~s.bits) !== 0) return false;
    const m = (s.bits << s.shift) >>> 0;
    key[s.word] = ((key[s.word]! & ~m) | (vals[0]! << s.shift)) >>> 0;
    return true;
  }
  const nw = WORDS_OF[kind];
  for (let i = 0; i < nw; i++) key[s.word + i] = vals[i]!;
  return true;
}

/**
 * The wire value of OXM basic field `field` as `key` holds it (KIND_SIZE bytes, big-endian; a
 * VLAN_VID carries OFPVID_PRESENT when the key's tag bit is set), as rewrite.ts setField takes it.
 * Undefined for a field the key does not hold.
 */
export function fieldWireValue(key: FlowKey, field: number): Uint8Array | undefined {
  const s = SLOTS[field];
  if (s === undefined) return undefined;
  const kind = KIND[field]!;
  const size = OXM_FIELDS[field]!.kind === kind ? KIND_BYTES[kind] : 0;
  const out = new Uint8Array(size);
  if (s.bits !== 0) {
    const v = (key[s.word]! >>> s.shift) & s.bits;
    for (let i = 0; i < size; i++) out[i] = (v >>> (8 * (size - 1 - i))) & 0xff;
    return out;
  }
  if (kind === 'mac') {
    out[0] = key[s.word]! >>> 8;
    out[1] = key[s.word]!;
    wordsToBytes(key, s.word + 1, 1, out, 2);
    return out;
  }
  wordsToBytes(key, s.word, WORDS_OF[kind], out, 0);
  return out;
}

const KIND_BYTES: Readonly<Record<OxmKind, number>> = { u8: 1, u16: 2, u24: 3, u32: 4, u64: 8, mac: 6, ipv4: 4, ipv6: 16 };
