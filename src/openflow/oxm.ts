/**
 * OXM: the match fields of ofp_match, set-field actions and table-feature OXM id lists.
 *
 * Driven by the table in proto/oxm.ts. Basic-class fields decode to typed values (numbers,
 * bigints, address strings); other classes (NXM, experimenter) travel as opaque bytes and
 * round-trip exactly. Structural checks happen here, in the order a switch reports them: length,
 * unknown field, mask on a non-maskable field, duplicate, value out of range, value bits outside
 * the mask. Prerequisites are a separate check (checkPrerequisites) because whether they apply
 * depends on the message: a flow-mod must satisfy them, a packet-in's match need not.
 */

import { OFPXMC, OFPMT } from '../../proto/constants.js';
import { OFPE } from '../../proto/errors.js';
import { OXM_FIELDS, KIND_SIZE, type OxmFieldDef } from '../../proto/oxm.js';
import type { ErrorPair } from '../../proto/schema.js';
import { cur, fail, pad8, readMac, writeMac, readIpv4, writeIpv4, readIpv6, writeIpv6, readU64, writeU64 } from './runtime.js';

export type OxmValue = number | bigint | string;

/** A basic-class (0x8000) field: `{ field: OFPXMT.ETH_DST, value: '00:00:00:00:00:01' }`. */
export interface OxmBasic {
  readonly field: number;
  readonly value: OxmValue;
  readonly mask?: OxmValue;
}

/** Any other class, kept as bytes. Experimenter-class (0xffff) fields carry the experimenter id. */
export interface OxmOther {
  readonly oxmClass: number;
  readonly field: number;
  readonly experimenter?: number;
  readonly value: Uint8Array;
  readonly mask?: Uint8Array;
}

export type Oxm = OxmBasic | OxmOther;

/** An OXM header as listed in table features (no value). */
export interface OxmId {
  readonly oxmClass: number;
  readonly field: number;
  readonly hasMask: boolean;
  readonly length: number;
  readonly experimenter?: number;
}

export const isBasic = (x: Oxm): x is OxmBasic => !('oxmClass' in x);

const BM = OFPE.BAD_MATCH!;
const BA = OFPE.BAD_ACTION!;

// Per-field facts in flat arrays indexed by field number, so the match loop reads numbers
// instead of chasing a record and comparing kind strings for every OXM it decodes.
const KIND_CODE: Readonly<Record<OxmFieldDef['kind'], number>> = { u8: 0, u16: 1, u24: 2, u32: 3, u64: 4, mac: 5, ipv4: 6, ipv6: 7 };
const N_FIELDS = OXM_FIELDS.length;
const F_KIND = Uint8Array.from(OXM_FIELDS, (d) => KIND_CODE[d.kind]);
const F_SIZE = Uint8Array.from(OXM_FIELDS, (d) => KIND_SIZE[d.kind]);
const F_MASKABLE = Uint8Array.from(OXM_FIELDS, (d) => (d.maskable ? 1 : 0));
/** Bits a numeric value may not have set (0 when every bit is allowed). */
const F_INVALID = Int32Array.from(OXM_FIELDS, (d) => (d.validBits === undefined ? 0 : ~d.validBits));

function readKind(kind: number, b: Uint8Array, o: number): OxmValue {
  switch (kind) {
    case 0: return b[o]!;
    case 1: return b[o]! << 8 | b[o + 1]!;
    case 2: return b[o]! << 16 | b[o + 1]! << 8 | b[o + 2]!;
    case 3: return (b[o]! << 24 >>> 0) + (b[o + 1]! << 16 | b[o + 2]! << 8 | b[o + 3]!);
    case 4: return readU64(b, o);
    case 5: return readMac(b, o);
    case 6: return readIpv4(b, o);
    default: return readIpv6(b, o);
  }
}

function writeKind(kind: number, name: string, b: Buffer, o: number, v: OxmValue): void {
  if (kind <= 3) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new RangeError(`${name}: expected a non-negative integer, got ${String(v)}`);
    switch (kind) {
      case 0: b[o] = v; return;
      case 1: b[o] = v >>> 8; b[o + 1] = v; return;
      case 2: b[o] = v >>> 16; b[o + 1] = v >>> 8; b[o + 2] = v; return;
      default: b[o] = v >>> 24; b[o + 1] = v >>> 16; b[o + 2] = v >>> 8; b[o + 3] = v; return;
    }
  }
  switch (kind) {
    case 4:
      if (typeof v !== 'bigint') throw new RangeError(`${name}: expected a bigint, got ${String(v)}`);
      writeU64(b, o, v);
      return;
    case 5: writeMac(b, o, String(v)); return;
    case 6: writeIpv4(b, o, String(v)); return;
    default: writeIpv6(b, o, String(v)); return;
  }
}

/**
 * Decodes one OXM TLV at b[p..e); `errs` says which errors to report. Sets cur.p after it.
 */
function decodeOne(b: Buffer, p: number, e: number, errs: OxmErrors): Oxm {
  if (e - p < 4) fail(...errs.len);
  const oxmClass = b[p]! << 8 | b[p + 1]!;
  const field = b[p + 2]! >>> 1;
  const hasMask = (b[p + 2]! & 1) === 1;
  const len = b[p + 3]!;
  const v = p + 4;
  if (len > e - v) fail(...errs.len);
  cur.p = v + len;
  if (oxmClass !== OFPXMC.OPENFLOW_BASIC) {
    let vo = v;
    let n = len;
    let experimenter: number | undefined;
    if (oxmClass === OFPXMC.EXPERIMENTER) {
      if (len < 4) fail(...errs.len);
      experimenter = b.readUInt32BE(v);
      vo += 4;
      n -= 4;
    }
    if (hasMask && (n & 1) !== 0) fail(...errs.len);
    const vs = hasMask ? n / 2 : n;
    const value = b.subarray(vo, vo + vs);
    const base = experimenter === undefined ? { oxmClass, field } : { oxmClass, field, experimenter };
    return hasMask ? { ...base, value, mask: b.subarray(vo + vs, vo + n) } : { ...base, value };
  }
  if (field >= N_FIELDS) fail(...errs.field);
  const size = F_SIZE[field]!;
  if (len !== (hasMask ? 2 * size : size)) fail(...errs.len);
  const kind = F_KIND[field]!;
  const value = readKind(kind, b, v);
  if (F_INVALID[field] !== 0 && ((value as number) & F_INVALID[field]!) !== 0) fail(...errs.value);
  if (!hasMask) return { field, value };
  if (!errs.allowMask || F_MASKABLE[field] === 0) fail(...errs.mask);
  for (let i = 0; i < size; i++) if ((b[v + i]! & ~b[v + size + i]!) !== 0) fail(...BM.BAD_WILDCARDS!);
  return { field, value, mask: readKind(kind, b, v + size) };
}

interface OxmErrors {
  readonly len: ErrorPair;
  readonly field: ErrorPair;
  readonly mask: ErrorPair;
  readonly value: ErrorPair;
  readonly allowMask: boolean;
}

const MATCH_ERRORS: OxmErrors = {
  len: BM.BAD_LEN!, field: BM.BAD_FIELD!, mask: BM.BAD_MASK!, value: BM.BAD_VALUE!, allowMask: true,
};
const SET_FIELD_ERRORS: OxmErrors = {
  len: BA.BAD_SET_LEN!, field: BA.BAD_SET_TYPE!, mask: BA.BAD_SET_ARGUMENT!, value: BA.BAD_SET_ARGUMENT!, allowMask: false,
};

/** ofp_match at b[o..end): type OXM, length, OXMs, padding to 8. Sets cur.p after the padding. */
export function decodeMatch(b: Buffer, o: number, end: number): Oxm[] {
  if (end - o < 4) fail(...BM.BAD_LEN!);
  const type = b[o]! << 8 | b[o + 1]!;
  const len = b[o + 2]! << 8 | b[o + 3]!;
  if (type !== OFPMT.OXM) fail(...BM.BAD_TYPE!);
  if (len < 4 || pad8(len) > end - o) fail(...BM.BAD_LEN!);
  const e = o + len;
  const out: Oxm[] = [];
  let seenLo = 0; // basic fields 0..19
  let seenHi = 0; // basic fields 20..39
  let p = o + 4;
  while (p < e) {
    if (b[p] !== 0x80 || b[p + 1] !== 0x00 || e - p < 4) {
      out.push(decodeOne(b, p, e, MATCH_ERRORS));
      p = cur.p;
      continue;
    }
    // The basic class, inline: the same checks in the same order as decodeOne.
    const f = b[p + 2]! >>> 1;
    const hasMask = (b[p + 2]! & 1) === 1;
    const n = b[p + 3]!;
    const v = p + 4;
    if (n > e - v) fail(...BM.BAD_LEN!);
    if (f >= N_FIELDS) fail(...BM.BAD_FIELD!);
    const size = F_SIZE[f]!;
    if (n !== (hasMask ? 2 * size : size)) fail(...BM.BAD_LEN!);
    const kind = F_KIND[f]!;
    const value = readKind(kind, b, v);
    if (F_INVALID[f] !== 0 && ((value as number) & F_INVALID[f]!) !== 0) fail(...BM.BAD_VALUE!);
    if (hasMask) {
      if (F_MASKABLE[f] === 0) fail(...BM.BAD_MASK!);
      for (let i = 0; i < size; i++) if ((b[v + i]! & ~b[v + size + i]!) !== 0) fail(...BM.BAD_WILDCARDS!);
    }
    const bit = 1 << (f < 20 ? f : f - 20);
    if (f < 20) { if (seenLo & bit) fail(...BM.DUP_FIELD!); seenLo |= bit; }
    else { if (seenHi & bit) fail(...BM.DUP_FIELD!); seenHi |= bit; }
    out.push(hasMask ? { field: f, value, mask: readKind(kind, b, v + size) } : { field: f, value });
    p = v + n;
  }
  cur.p = o + pad8(len);
  return out;
}

/** The OXM of a set-field action, followed by padding to the end of the action. */
export function decodeSetFieldOxm(b: Buffer, p: number, e: number): Oxm {
  const x = decodeOne(b, p, e, SET_FIELD_ERRORS);
  if (e - cur.p >= 8) fail(...BA.BAD_LEN!, 'set-field action longer than its field and padding');
  return x;
}

function payloadLength(x: Oxm): number {
  if (isBasic(x)) {
    const d = OXM_FIELDS[x.field];
    if (d === undefined) throw new RangeError(`unknown OXM field ${x.field}`);
    return KIND_SIZE[d.kind] * (x.mask === undefined ? 1 : 2);
  }
  return (x.experimenter === undefined ? 0 : 4) + x.value.length + (x.mask?.length ?? 0);
}

export function oxmLength(x: Oxm): number {
  return 4 + payloadLength(x);
}

export function encodeOxm(x: Oxm, b: Buffer, o: number): number {
  if ((x as OxmOther).oxmClass !== undefined) return encodeOther(x as OxmOther, b, o);
  const basic = x as OxmBasic;
  const f = basic.field;
  if (!(f >= 0 && f < N_FIELDS)) throw new RangeError(`unknown OXM field ${f}`);
  const size = F_SIZE[f]!;
  const kind = F_KIND[f]!;
  const masked = basic.mask !== undefined;
  b[o] = 0x80;
  b[o + 1] = 0x00;
  b[o + 2] = (f << 1) | (masked ? 1 : 0);
  b[o + 3] = masked ? 2 * size : size;
  writeKind(kind, OXM_FIELDS[f]!.name, b, o + 4, basic.value);
  if (!masked) return o + 4 + size;
  writeKind(kind, OXM_FIELDS[f]!.name, b, o + 4 + size, basic.mask!);
  return o + 4 + 2 * size;
}

function encodeOther(x: OxmOther, b: Buffer, o: number): number {
  const n = payloadLength(x);
  if (n > 255) throw new RangeError('OXM payload longer than 255 bytes');
  b[o] = x.oxmClass >>> 8;
  b[o + 1] = x.oxmClass;
  b[o + 2] = (x.field << 1) | (x.mask === undefined ? 0 : 1);
  b[o + 3] = n;
  let p = o + 4;
  if (x.experimenter !== undefined) {
    b.writeUInt32BE(x.experimenter >>> 0, p);
    p += 4;
  }
  b.set(x.value, p);
  p += x.value.length;
  if (x.mask !== undefined) {
    b.set(x.mask, p);
    p += x.mask.length;
  }
  return p;
}

export function matchLength(m: readonly Oxm[]): number {
  let n = 4;
  for (const x of m) n += 4 + payloadLength(x);
  return pad8(n);
}

export function encodeMatch(m: readonly Oxm[], b: Buffer, o: number): number {
  let p = o + 4;
  for (const x of m) p = encodeOxm(x, b, p);
  const len = p - o;
  b[o] = 0;
  b[o + 1] = OFPMT.OXM;
  b[o + 2] = len >>> 8;
  b[o + 3] = len;
  while (((p - o) & 7) !== 0) b[p++] = 0;
  return p;
}

const TF_LEN = OFPE.TABLE_FEATURES_FAILED!.BAD_LEN!;

export function decodeOxmIds(b: Buffer, p: number, e: number): OxmId[] {
  const out: OxmId[] = [];
  while (p < e) {
    if (e - p < 4) fail(...TF_LEN);
    const oxmClass = b[p]! << 8 | b[p + 1]!;
    const field = b[p + 2]! >>> 1;
    const hasMask = (b[p + 2]! & 1) === 1;
    const length = b[p + 3]!;
    if (oxmClass === OFPXMC.EXPERIMENTER) {
      if (e - p < 8) fail(...TF_LEN);
      out.push({ oxmClass, field, hasMask, length, experimenter: b.readUInt32BE(p + 4) });
      p += 8;
    } else {
      out.push({ oxmClass, field, hasMask, length });
      p += 4;
    }
  }
  return out;
}

export function oxmIdsLength(ids: readonly OxmId[]): number {
  let n = 0;
  for (const id of ids) n += id.oxmClass === OFPXMC.EXPERIMENTER ? 8 : 4;
  return n;
}

export function encodeOxmIds(ids: readonly OxmId[], b: Buffer, o: number): number {
  for (const id of ids) {
    b[o] = id.oxmClass >>> 8;
    b[o + 1] = id.oxmClass;
    b[o + 2] = (id.field << 1) | (id.hasMask ? 1 : 0);
    b[o + 3] = id.length;
    o += 4;
    if (id.oxmClass === OFPXMC.EXPERIMENTER) {
      b.writeUInt32BE((id.experimenter ?? 0) >>> 0, o);
      o += 4;
    }
  }
  return o;
}

/**
 * The OpenFlow 1.3 prerequisite rule: a field is allowed only when the fields before it in the
 * match satisfy its prerequisites (the specification says prerequisites precede, and Open vSwitch
 * checks each field against the match built so far). Returns BAD_MATCH/BAD_PREREQ for the first
 * field that fails, undefined when the match is consistent.
 */
export function checkPrerequisites(match: readonly Oxm[]): ErrorPair | undefined {
  for (let n = 0; n < match.length; n++) {
    const x = match[n]!;
    if (!isBasic(x)) continue;
    const prereqs = OXM_FIELDS[x.field]?.prereqs;
    if (prereqs === undefined) continue;
    for (const pre of prereqs) {
      // The field it needs, earlier in the list (matches are short: a scan allocates nothing).
      const have = basicBefore(match, n, pre.field);
      if (have === undefined) return BM.BAD_PREREQ!;
      if (pre.values !== undefined && (have.mask !== undefined || !pre.values.includes(have.value as number))) return BM.BAD_PREREQ!;
      if (pre.bits !== undefined) {
        const v = have.value as number;
        const m = have.mask === undefined ? 0xffff : (have.mask as number);
        if ((v & m & pre.bits) !== pre.bits) return BM.BAD_PREREQ!;
      }
    }
  }
  return undefined;
}

/** The last basic OXM of `field` among match[0..n) (the one a Map filled in order would hold). */
function basicBefore(match: readonly Oxm[], n: number, field: number): OxmBasic | undefined {
  for (let i = n - 1; i >= 0; i--) {
    const y = match[i]!;
    if (isBasic(y) && y.field === field) return y;
  }
  return undefined;
}
