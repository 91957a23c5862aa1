/**
 * FLOW_MOD's fast path from the wire: a flow-mod whose match stays in its OXM bytes.
 *
 * Why: a controller installing flows sends little else, and the general decoder turns every
 * match into OXM objects with address strings that the switch then parses back into its key
 * (src/xlate/match.ts). decodeFlowModWire does what decode() does for a FLOW_MOD that is valid
 * on the wire, except that the match is only checked, not decoded: `match` is decoded on first
 * read (a getter), and the switch compiles its key straight from the bytes (compileWireMatch).
 *
 * It never reports an error itself: for anything it does not accept (a malformed or truncated
 * message, a non-basic OXM, a bad instruction) it returns undefined, and the caller runs the
 * general decoder, which gives the exact OpenFlow error. So it must refuse at least everything
 * decode() refuses — the match checks below are decodeMatch's, in its order — and may refuse
 * more. For what it accepts, every field equals decode()'s, `match` included.
 *
 * The instruction lists of consecutive flow-mods are mostly byte-for-byte identical (the same
 * output for a batch of destinations): the last decoded list is kept with its bytes, and a
 * flow-mod carrying the same bytes shares it. Instructions are readonly data, never written.
 */

import { OFP_VERSION, OFPMT, OFPT } from '../../proto/constants.js';
import { KIND_SIZE, OXM_FIELDS } from '../../proto/oxm.js';
import { decodeInstructionsAt, type FlowMod, type Instruction } from './generated.js';
import { decodeMatch, type Oxm } from './oxm.js';
import { pad8, readU64 } from './runtime.js';

const N_FIELDS = OXM_FIELDS.length;
const F_SIZE = Uint8Array.from(OXM_FIELDS, (d) => KIND_SIZE[d.kind]);
const F_NUMERIC = Uint8Array.from(OXM_FIELDS, (d) => (KIND_SIZE[d.kind] <= 4 && d.kind !== 'ipv4' ? 1 : 0));
const F_MASKABLE = Uint8Array.from(OXM_FIELDS, (d) => (d.maskable ? 1 : 0));
const F_INVALID = Int32Array.from(OXM_FIELDS, (d) => (d.validBits === undefined ? 0 : ~d.validBits));

/** A FLOW_MOD decoded by decodeFlowModWire: its OXMs are b[oxmStart..oxmEnd) of `wire`. */
export class WireFlowMod implements FlowMod {
  readonly type: typeof OFPT.FLOW_MOD;
  private decoded: readonly Oxm[] | undefined;

  constructor(
    readonly version: number,
    readonly xid: number,
    readonly cookie: bigint,
    readonly cookieMask: bigint,
    readonly tableId: number,
    readonly command: number,
    readonly idleTimeout: number,
    readonly hardTimeout: number,
    readonly priority: number,
    readonly bufferId: number,
    readonly outPort: number,
    readonly outGroup: number,
    readonly flags: number,
    readonly instructions: readonly Instruction[],
    /** The buffer the message is in (the received chunk, usually: not a copy). */
    readonly wire: Buffer,
    /** In `wire`: the first OXM, the end of the last (before the match's padding), the message's end. */
    readonly oxmStart: number,
    readonly oxmEnd: number,
    readonly wireEnd: number,
  ) {
    // Assigned here rather than as class fields: one initialiser less per message.
    this.type = OFPT.FLOW_MOD;
    this.decoded = undefined;
  }

  /** The match as decode() gives it, decoded on first read. */
  get match(): readonly Oxm[] {
    // The bytes passed decodeMatch's checks already (matchEnd): this cannot throw.
    return (this.decoded ??= decodeMatch(this.wire, this.oxmStart - 4, this.wireEnd));
  }
}

/** The flow-mod's OXMs on the wire, when it came through decodeFlowModWire. */
export function wireFlowMod(fm: FlowMod): WireFlowMod | undefined {
  return fm instanceof WireFlowMod ? fm : undefined;
}

/** True when the flow-mod's match has no fields (without decoding a wire match). */
export function isEmptyMatch(fm: FlowMod): boolean {
  return fm instanceof WireFlowMod ? fm.oxmStart === fm.oxmEnd : fm.match.length === 0;
}

/**
 * The end of the ofp_match at b[o..end) (its padding included) when decodeMatch would accept it
 * and every OXM is of the basic class; -1 otherwise. The same checks in the same order as
 * decodeMatch, without building anything.
 */
function matchEnd(b: Buffer, o: number, end: number): number {
  if (end - o < 4) return -1;
  if ((b[o]! << 8 | b[o + 1]!) !== OFPMT.OXM) return -1;
  const len = b[o + 2]! << 8 | b[o + 3]!;
  if (len < 4 || pad8(len) > end - o) return -1;
  const e = o + len;
  let seenLo = 0;
  let seenHi = 0;
  let p = o + 4;
  while (p < e) {
    if (e - p < 4 || b[p] !== 0x80 || b[p + 1] !== 0x00) return -1;
    const f = b[p + 2]! >>> 1;
    const hasMask = (b[p + 2]! & 1) === 1;
    const n = b[p + 3]!;
    const v = p + 4;
    if (n > e - v || f >= N_FIELDS) return -1;
    const size = F_SIZE[f]!;
    if (n !== (hasMask ? 2 * size : size)) return -1;
    if (F_INVALID[f] !== 0) {
      if (F_NUMERIC[f] === 0) return -1; // (no such field: the table gives valid bits to numbers only)
      let x = 0;
      for (let i = 0; i < size; i++) x = (x << 8) | b[v + i]!;
      if ((x & F_INVALID[f]!) !== 0) return -1;
    }
    if (hasMask) {
      if (F_MASKABLE[f] === 0) return -1;
      for (let i = 0; i < size; i++) if ((b[v + i]! & ~b[v + size + i]!) !== 0) return -1;
    }
    const bit = 1 << (f < 20 ? f : f - 20);
    if (f < 20) { if (seenLo & bit) return -1; seenLo |= bit; }
    else { if (seenHi & bit) return -1; seenHi |= bit; }
    p = v + n;
  }
  return o + pad8(len);
}

// The last instruction list decoded, and its bytes.
let lastInstBytes: Uint8Array | undefined;
let lastInsts: readonly Instruction[] | undefined;
const MAX_SHARED_INSTS = 256;

function instructionsAt(b: Buffer, p: number, e: number): readonly Instruction[] {
  const n = e - p;
  const last = lastInstBytes;
  if (last !== undefined && last.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (last[i] !== b[p + i]) {
        same = false;
        break;
      }
    }
    if (same) return lastInsts!;
  }
  const insts = decodeInstructionsAt(b, p, e);
  if (n <= MAX_SHARED_INSTS) {
    lastInstBytes = Uint8Array.prototype.slice.call(b, p, e);
    lastInsts = insts;
  }
  return insts;
}

/**
 * The FLOW_MOD that is b[o..o+n) (one whole message, as the framer hands them out), or undefined
 * when it is not one that this path takes: decode() then says what is wrong with it, if anything.
 * The result reads `b` (its match, when asked for): the bytes must not change while it is in use.
 */
export function decodeFlowModWire(b: Buffer, o = 0, n = b.length - o): WireFlowMod | undefined {
  const end = o + n;
  if (n < 48 || b[o] !== OFP_VERSION || b[o + 1] !== OFPT.FLOW_MOD || (b[o + 2]! << 8 | b[o + 3]!) !== n) return undefined;
  const p = matchEnd(b, o + 48, end);
  if (p < 0) return undefined;
  let instructions: readonly Instruction[];
  try {
    instructions = instructionsAt(b, p, end);
  } catch {
    return undefined;
  }
  return new WireFlowMod(
    OFP_VERSION, u32(b, o + 4), readU64(b, o + 8), readU64(b, o + 16), b[o + 24]!, b[o + 25]!, b[o + 26]! << 8 | b[o + 27]!,
    b[o + 28]! << 8 | b[o + 29]!, b[o + 30]! << 8 | b[o + 31]!, u32(b, o + 32), u32(b, o + 36), u32(b, o + 40),
    b[o + 44]! << 8 | b[o + 45]!, instructions, b, o + 52, o + 48 + (b[o + 50]! << 8 | b[o + 51]!), end,
  );
}

/** Big-endian u32 within bounds already checked (Buffer's readUInt32BE checks them again). */
const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/**
 * The OpenFlow 1.3 prerequisite rule (checkPrerequisites in oxm.ts) over basic OXMs on the wire,
 * b[o..e) as matchEnd accepted them: true when every field's prerequisites are met by the fields
 * before it.
 */
export function prerequisitesHoldWire(b: Uint8Array, o: number, e: number): boolean {
  for (let p = o; p < e; p += 4 + b[p + 3]!) {
    const prereqs = OXM_FIELDS[b[p + 2]! >>> 1]!.prereqs;
    for (let k = 0; k < prereqs.length; k++) {
      const pre = prereqs[k]!;
      // The last earlier OXM of the field needed.
      let at = -1;
      for (let q = o; q < p; q += 4 + b[q + 3]!) if (b[q + 2]! >>> 1 === pre.field) at = q;
      if (at < 0) return false;
      const masked = (b[at + 2]! & 1) === 1;
      const size = F_SIZE[pre.field]!;
      const value = numberAt(b, at + 4, size);
      if (pre.values !== undefined && (masked || !pre.values.includes(value))) return false;
      if (pre.bits !== undefined) {
        const m = masked ? numberAt(b, at + 4 + size, size) : 0xffff;
        if ((value & m & pre.bits) !== pre.bits) return false;
      }
    }
  }
  return true;
}

function numberAt(b: Uint8Array, o: number, size: number): number {
  let x = 0;
  for (let i = 0; i < size; i++) x = x * 256 + b[o + i]!;
  return x;
}
