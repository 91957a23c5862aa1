/**
 * The flow as translation changes it, and the lazy commit of those changes to the datapath packet.
 *
 * FlowState holds:
 * - `flow`: the logical flow (what OpenFlow says the packet is now);
 * - which fields the pipeline wrote since the last commit (`dirty`, TTL flags): the datapath packet
 *   equals `flow` except in those. commit() emits one `set` per written field (even when the value
 *   equals the old one: the decision must not depend on the packet, so the written field is not
 *   un-wildcarded), then `set_nw_ttl` / `set_mpls_ttl`. Every push, pop, output, userspace, clone
 *   and meter is preceded by a commit, so pushes and pops always act on a packet equal to `flow`
 *   and mirror on it exactly what packet/rewrite.ts will do to the frame (re-extracting the frame
 *   gives `flow`'s packet words);
 * - for the megaflow, where each word of `flow` came from: `origin[w]` is the input word that
 *   flow word w holds (pushes and pops move words: after pop_vlan the outer tag is the input's
 *   second one), or -1 for a word made of constants; `written` marks bits the actions set, which
 *   depend on no input bit. read() un-wildcards the input bits behind flow bits, so a lookup after
 *   pop_vlan that matches vlan_vid un-wildcards the input's inner tag, and a lookup of a field
 *   the pipeline set un-wildcards nothing.
 * - snapshots of what a push covers (the packet under a pushed MPLS label or PBB header, a VLAN
 *   tag pushed out of the key's two slots), so that popping what this translation pushed gives
 *   back the exact inner flow. Popping an MPLS label or PBB header that came with the input
 *   exposes headers the key never held (the datapath would have to parse again: OVS recirculates
 *   there): those words become zero and `opaque` says which layers are unknown (see xlate.ts).
 */

import { K, KF, type FlowKey, type FlowMask } from '../packet/key.js';
import { OFPXMT } from '../../proto/constants.js';
import type { OdpAction } from '../dpif/odp.js';
import { fieldWireValue } from './match.js';

export const ETH = {
  IPV4: 0x0800, ARP: 0x0806, RARP: 0x8035, IPV6: 0x86dd, MPLS: 0x8847, MPLS_MC: 0x8848, PBB: 0x88e7, NONE: 0x05ff,
} as const;

/** K.FLAGS bits that say how the frame parsed (always in the megaflow). */
export const FLAGS_PARSE_MASK = (0xf << 16) | (0xf << 20) | KF.TRUNCATED | KF.MALFORMED | KF.DEEP_STACK;

/** What is known of the packet's headers. */
export const OPAQUE = { NONE: 0, L3: 1, ALL: 2 } as const;

const N_FIELDS = 40;
const VLAN_COUNT = 16;
const MPLS_COUNT = 20;
const L3_FIRST = K.PBB; // PBB and everything after it up to the flags: what an MPLS push hides
const ALL_ONES = 0xffffffff;

/**
 * The three per-state arrays (flow, written, origin) carved from shared slabs: each is larger than
 * the 64 bytes V8 keeps inside the heap, so separate arrays would each cost an off-heap backing
 * store, and a translation makes several states (clones for buckets, snapshots for pushes).
 * These are short-lived; their slabs are not shared with keys kept in flow tables.
 */
const STATE_BYTES = K.WORDS * 4 * 2 + ((K.WORDS * 2 + 3) & ~3);
const STATES_PER_SLAB = 64;
let stateSlab: ArrayBuffer | undefined;
let stateUsed = STATES_PER_SLAB;

function stateArrays(): [Uint32Array, Uint32Array, Int16Array] {
  if (stateUsed === STATES_PER_SLAB) {
    stateSlab = new ArrayBuffer(STATES_PER_SLAB * STATE_BYTES);
    stateUsed = 0;
  }
  const at = STATE_BYTES * stateUsed++;
  return [
    new Uint32Array(stateSlab!, at, K.WORDS),
    new Uint32Array(stateSlab!, at + K.WORDS * 4, K.WORDS),
    new Int16Array(stateSlab!, at + K.WORDS * 8, K.WORDS),
  ];
}

interface Snapshot {
  readonly flow: FlowKey;
  readonly written: FlowMask;
  readonly origin: Int16Array;
  readonly opaque: number;
  readonly vlanSaved: ReadonlyArray<[number, number, number]>;
}

export class FlowState {
  readonly flow: FlowKey;
  readonly written: FlowMask;
  readonly origin: Int16Array;
  /** Fields (OXM numbers) written since the last commit. */
  readonly dirty: boolean[];
  nwTtlDirty = false;
  mplsTtlDirty = false;
  opaque: number = OPAQUE.NONE;
  /** Packet under each MPLS label this translation pushed, innermost push last. */
  mplsSaved: Snapshot[] = [];
  /** Packet under each PBB header this translation pushed. */
  pbbSaved: Snapshot[] = [];
  /** VLAN1 words pushed out of the key by push_vlan onto two tags: [flow word, written, origin]. */
  vlanSaved: Array<[number, number, number]> = [];

  constructor(flow: FlowKey, from?: FlowState) {
    const [f, written, origin] = stateArrays();
    f.set(flow);
    this.flow = f;
    this.written = written;
    this.origin = origin;
    if (from === undefined) {
      for (let i = 0; i < K.WORDS; i++) this.origin[i] = i;
      this.dirty = new Array<boolean>(N_FIELDS).fill(false);
    } else {
      written.set(from.written);
      origin.set(from.origin);
      this.dirty = from.dirty.slice();
      this.nwTtlDirty = from.nwTtlDirty;
      this.mplsTtlDirty = from.mplsTtlDirty;
      this.opaque = from.opaque;
      this.mplsSaved = from.mplsSaved.slice();
      this.pbbSaved = from.pbbSaved.slice();
      this.vlanSaved = from.vlanSaved.slice();
    }
  }

  clone(): FlowState {
    return new FlowState(this.flow, this);
  }

  get ethType(): number {
    return this.flow[K.ETH_TYPE]!;
  }

  get vlanCount(): number {
    return (this.flow[K.FLAGS]! >>> VLAN_COUNT) & 0xf;
  }

  get mplsCount(): number {
    return (this.flow[K.FLAGS]! >>> MPLS_COUNT) & 0xf;
  }

  isMpls(): boolean {
    return this.ethType === ETH.MPLS || this.ethType === ETH.MPLS_MC;
  }

  isIp(): boolean {
    return this.ethType === ETH.IPV4 || this.ethType === ETH.IPV6;
  }

  /** Un-wildcards (into `mask`) the input bits behind `bits` of flow word `w`. */
  read(mask: FlowMask, w: number, bits: number): void {
    const b = (bits & ~this.written[w]!) >>> 0;
    const o = this.origin[w]!;
    if (b !== 0 && o >= 0) mask[o] = (mask[o]! | b) >>> 0;
  }

  /** read() for every bit of `wc` (the bits a lookup examined). */
  readAll(mask: FlowMask, wc: FlowMask): void {
    for (let w = 0; w < K.WORDS; w++) if (wc[w] !== 0) this.read(mask, w, wc[w]!);
  }

  /** Marks `bits` of word `w` as set by an action. */
  write(w: number, bits: number): void {
    this.written[w] = (this.written[w]! | bits) >>> 0;
  }

  /** Flow word `w` becomes a constant `v`. */
  private constant(w: number, v: number): void {
    this.flow[w] = v >>> 0;
    this.written[w] = ALL_ONES;
    this.origin[w] = -1;
  }

  private moveWord(to: number, from: number): void {
    this.flow[to] = this.flow[from]!;
    this.written[to] = this.written[from]!;
    this.origin[to] = this.origin[from]!;
  }

  private setCounts(vlans: number, mpls: number): void {
    const deep = vlans > 2 || mpls > 3 ? KF.DEEP_STACK : 0;
    const f = this.flow[K.FLAGS]! & ~((0xf << VLAN_COUNT) | (0xf << MPLS_COUNT) | KF.DEEP_STACK);
    this.flow[K.FLAGS] = (f | (Math.min(vlans, 15) << VLAN_COUNT) | (Math.min(mpls, 15) << MPLS_COUNT) | deep) >>> 0;
  }

  private clearParseErrors(): void {
    this.flow[K.FLAGS] = (this.flow[K.FLAGS]! & ~(KF.TRUNCATED | KF.MALFORMED)) >>> 0;
  }

  private snapshot(): Snapshot {
    const [flow, written, origin] = stateArrays();
    flow.set(this.flow);
    written.set(this.written);
    origin.set(this.origin);
    return { flow, written, origin, opaque: this.opaque, vlanSaved: this.vlanSaved.slice() };
  }

  /** Words [from, to) and the parse flags from a snapshot. */
  private restore(s: Snapshot, from: number, to: number): void {
    for (let w = from; w < to; w++) {
      this.flow[w] = s.flow[w]!;
      this.written[w] = s.written[w]!;
      this.origin[w] = s.origin[w]!;
    }
    const keep = KF.TRUNCATED | KF.MALFORMED;
    this.flow[K.FLAGS] = ((this.flow[K.FLAGS]! & ~keep) | (s.flow[K.FLAGS]! & keep)) >>> 0;
  }

  /** Words [from, K.FLAGS) become unknown (zero). */
  private forget(from: number): void {
    for (let w = from; w < K.FLAGS; w++) this.constant(w, 0);
    this.clearParseErrors();
  }

  // -------------------------------------------------------------------------------------------
  // Header pushes and pops: `can*` says whether rewrite.ts would do it (else it is skipped), the
  // verb mirrors it on the flow. Call commit() between the two.
  // -------------------------------------------------------------------------------------------

  canPushVlan(tpid: number): boolean {
    return this.opaque !== OPAQUE.ALL && (tpid === 0x8100 || tpid === 0x88a8 || tpid === 0x9100);
  }

  /** The new tag copies the outer tag's PCP and VID (rewrite.ts pushVlan), else 0. */
  pushVlan(tpid: number): void {
    const n = this.vlanCount;
    if (n >= 2) this.vlanSaved.push([this.flow[K.VLAN1]!, this.written[K.VLAN1]!, this.origin[K.VLAN1]!]);
    this.moveWord(K.VLAN1, K.VLAN0);
    if (n > 0) {
      this.flow[K.VLAN0] = ((tpid << 16) | 0x1000 | (this.flow[K.VLAN0]! & 0xefff)) >>> 0;
      this.write(K.VLAN0, 0xffff1000);
    } else {
      this.constant(K.VLAN0, (tpid << 16) | 0x1000);
    }
    this.setCounts(n + 1, this.mplsCount);
  }

  canPopVlan(): boolean {
    return this.opaque !== OPAQUE.ALL && this.vlanCount > 0;
  }

  popVlan(): void {
    const n = this.vlanCount;
    this.moveWord(K.VLAN0, K.VLAN1);
    const saved = n > 2 ? this.vlanSaved.pop() : undefined;
    if (saved !== undefined) {
      this.flow[K.VLAN1] = saved[0];
      this.written[K.VLAN1] = saved[1];
      this.origin[K.VLAN1] = saved[2];
    } else {
      // A third input tag is not in the key: unknown (zero).
      this.constant(K.VLAN1, 0);
    }
    this.setCounts(n - 1, this.mplsCount);
  }

  /** rewrite.ts pushMpls refuses 802.3 frames (no ethertype) and PBB frames. */
  canPushMpls(ethertype: number): boolean {
    const t = this.ethType;
    return this.opaque !== OPAQUE.ALL && (ethertype === ETH.MPLS || ethertype === ETH.MPLS_MC) && t !== ETH.NONE && t !== ETH.PBB;
  }

  /**
   * On MPLS: the new entry copies label, TC and TTL of the outer one, BoS 0. Otherwise label 0,
   * TC 0, BoS 1, TTL from the IP header (read: un-wildcarded into `mask`) or 64.
   */
  pushMpls(ethertype: number, mask: FlowMask): void {
    this.mplsSaved.push(this.snapshot());
    const n = this.mplsCount;
    if (this.isMpls()) {
      this.moveWord(K.MPLS2, K.MPLS1);
      this.moveWord(K.MPLS1, K.MPLS0);
      this.flow[K.MPLS0] = (this.flow[K.MPLS0]! & ~0x100) >>> 0;
      this.write(K.MPLS0, 0x100);
      this.setCounts(this.vlanCount, n + 1);
    } else {
      let ttl = 64;
      if (this.isIp() && this.opaque === OPAQUE.NONE) {
        this.read(mask, K.NW, 0xff << 16);
        ttl = (this.flow[K.NW]! >>> 16) & 0xff;
      }
      this.forget(L3_FIRST);
      this.constant(K.MPLS0, 0x100 | ttl);
      this.constant(K.MPLS1, 0);
      this.constant(K.MPLS2, 0);
      this.opaque = OPAQUE.NONE;
      this.setCounts(this.vlanCount, 1);
    }
    this.constant(K.ETH_TYPE, ethertype);
  }

  canPopMpls(): boolean {
    return this.opaque !== OPAQUE.ALL && this.isMpls() && this.mplsCount > 0;
  }

  /** Removes the outer entry and sets the ethertype; see the header for what is known after. */
  popMpls(ethertype: number): void {
    const n = this.mplsCount;
    const toMpls = ethertype === ETH.MPLS || ethertype === ETH.MPLS_MC;
    const saved = this.mplsSaved.pop();
    if (saved !== undefined) {
      const wasMpls = saved.flow[K.ETH_TYPE] === ETH.MPLS || saved.flow[K.ETH_TYPE] === ETH.MPLS_MC;
      if (wasMpls === toMpls && (toMpls || saved.flow[K.ETH_TYPE] === ethertype)) {
        this.restore(saved, K.MPLS0, K.FLAGS);
        this.opaque = saved.opaque;
        const savedN = (saved.flow[K.FLAGS]! >>> MPLS_COUNT) & 0xf;
        this.setCounts(this.vlanCount, savedN);
      } else {
        this.forget(K.MPLS0);
        this.opaque = OPAQUE.L3;
        this.setCounts(this.vlanCount, 0);
      }
    } else if (toMpls && n > 1) {
      this.moveWord(K.MPLS0, K.MPLS1);
      this.moveWord(K.MPLS1, K.MPLS2);
      // A fourth input entry is not in the key: unknown (zero).
      this.constant(K.MPLS2, 0);
      this.setCounts(this.vlanCount, n - 1);
    } else {
      this.forget(K.MPLS0);
      this.opaque = OPAQUE.L3;
      this.setCounts(this.vlanCount, 0);
    }
    this.constant(K.ETH_TYPE, ethertype);
  }

  canPushPbb(ethertype: number): boolean {
    return this.opaque !== OPAQUE.ALL && ethertype === ETH.PBB;
  }

  /**
   * B-DA/B-SA copy the customer addresses; the I-TAG copies an existing I-TAG, else takes the
   * outer VLAN PCP (read) as I-PCP; nothing behind the I-TAG is parsed any more.
   */
  pushPbb(ethertype: number, mask: FlowMask): void {
    this.pbbSaved.push(this.snapshot());
    let itag: number;
    let itagWritten: number;
    let itagOrigin: number;
    if (this.ethType === ETH.PBB) {
      itag = this.flow[K.PBB]!;
      itagWritten = this.written[K.PBB]!;
      itagOrigin = this.origin[K.PBB]!;
    } else {
      itag = 0;
      if (this.vlanCount > 0) {
        this.read(mask, K.VLAN0, 0xe000);
        itag = (((this.flow[K.VLAN0]! >>> 13) & 7) << 29) >>> 0;
      }
      itagWritten = ALL_ONES;
      itagOrigin = -1;
    }
    this.forget(K.VLAN0);
    this.flow[K.PBB] = itag;
    this.written[K.PBB] = itagWritten;
    this.origin[K.PBB] = itagOrigin;
    this.constant(K.ETH_TYPE, ethertype);
    this.opaque = OPAQUE.NONE;
    this.vlanSaved = [];
    this.setCounts(0, 0);
  }

  canPopPbb(): boolean {
    return this.opaque !== OPAQUE.ALL && this.ethType === ETH.PBB;
  }

  popPbb(): void {
    const saved = this.pbbSaved.pop();
    if (saved !== undefined) {
      this.restore(saved, K.PACKET, K.FLAGS);
      this.opaque = saved.opaque;
      const f = saved.flow[K.FLAGS]!;
      this.setCounts((f >>> VLAN_COUNT) & 0xf, (f >>> MPLS_COUNT) & 0xf);
      this.vlanSaved = saved.vlanSaved.slice();
      return;
    }
    this.forget(K.PACKET);
    this.opaque = OPAQUE.ALL;
    this.setCounts(0, 0);
  }

  // -------------------------------------------------------------------------------------------
  // Commit
  // -------------------------------------------------------------------------------------------

  /** True when the datapath packet differs from `flow` (a commit would emit something). */
  get pending(): boolean {
    return this.nwTtlDirty || this.mplsTtlDirty || this.dirty.includes(true);
  }

  /** Emits (through `emit`) what makes the datapath packet equal `flow`, and forgets it. */
  commit(emit: (a: OdpAction) => void): void {
    for (let f = 0; f < N_FIELDS; f++) {
      if (!this.dirty[f]) continue;
      this.dirty[f] = false;
      const value = fieldWireValue(this.flow, f);
      if (value !== undefined) emit({ type: 'set', field: f, value });
    }
    if (this.nwTtlDirty) {
      this.nwTtlDirty = false;
      emit({ type: 'set_nw_ttl', ttl: (this.flow[K.NW]! >>> 16) & 0xff });
    }
    if (this.mplsTtlDirty) {
      this.mplsTtlDirty = false;
      emit({ type: 'set_mpls_ttl', ttl: this.flow[K.MPLS0]! & 0xff });
    }
  }
}

/** Read-only fields (OpenFlow 1.3 §7.2.3.7 and OVS): set-field on them is ignored. */
export const READ_ONLY_FIELDS: ReadonlySet<number> = new Set([
  OFPXMT.IN_PORT, OFPXMT.IN_PHY_PORT, OFPXMT.ETH_TYPE, OFPXMT.IP_PROTO, OFPXMT.MPLS_BOS, OFPXMT.IPV6_EXTHDR,
]);
