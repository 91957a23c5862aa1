/**
 * fast-check arbitraries of VALID OpenFlow 1.3 messages, derived from the wire description
 * (proto/of13.ts) rather than written per message.
 *
 * The walk:
 * - a struct becomes a record of its in-memory fields (length, lengthOf and pad fields have no
 *   in-memory form and are skipped);
 * - a dispatch becomes a weighted choice among its case targets and its fallback struct. The
 *   discriminator values that lead to a target are passed down as a constraint on the field the
 *   dispatch reads, so a target reached by several values gets one of those, and the fallback gets
 *   a value that is NOT in the case list (so that it decodes back to the fallback). Constraints
 *   accumulate along nested dispatches (ExperimenterMsg reached through the ONF experimenter gets
 *   experimenter = ONF and an expType that is not a bundle type).
 * - choices are weighted by the number of distinct structs under each branch, so every message
 *   kind is about equally likely.
 *
 * Validity rules the description alone does not carry (checked by the codec):
 * - opaque `bytes` in a 'padded' item keep the item a multiple of 8 bytes;
 * - OXM values are valid for their field (validBits, mask only where maskable, value bits within
 *   the mask, no duplicate basic fields in one match); set-field OXMs are unmasked;
 * - sizes stay well under 65535: lists are short and a BundleAdd nests a BundleAdd at most
 *   MAX_BUNDLE_DEPTH - 1 times.
 *
 * Also here, for the tests: structOf/collectStructs/reachableStructs/messageStructs (which struct
 * a value is, for coverage counts), lengthFields (where the length fields of an encoding are, for
 * targeted corruption), referenceEncode (a plain encoder written from the description, to compare
 * the codec's bytes with), normalise/show (comparison and printing).
 */

import fc from 'fast-check';
import { NODES } from '../proto/of13.js';
import { OXM_FIELDS, KIND_SIZE, type OxmFieldDef } from '../proto/oxm.js';
import { ENUMS, OFP_VERSION, OFPXMC } from '../proto/constants.js';
import { SCALAR_SIZE, fixedSize, type Field, type StructDef, type DispatchDef, type Scalar } from '../proto/schema.js';
import type { Message, Oxm, OxmId } from '../src/openflow/index.js';

type Obj = Record<string, unknown>;
type ScalarField = Extract<Field, { kind: 'scalar' }>;

/** How many BundleAdds may be nested (a BundleAdd inside a BundleAdd inside a BundleAdd). */
export const MAX_BUNDLE_DEPTH = 3;
/** Items in a list of structs (actions, instructions, buckets, ...). */
const MAX_LIST = 3;
/** Numbers in a variable-length `scalars` field. */
const MAX_SCALARS = 8;
/** Opaque bytes inside an item; top-level message payloads (echo data, packet-in data) may be longer. */
const MAX_BYTES = 24;
const MAX_MESSAGE_BYTES = 300;
/** OXMs in one match, ids in one table-feature property. */
const MAX_MATCH = 6;
const MAX_OXM_IDS = 6;
/** Bytes of an other-class OXM value (the payload stays far below the 255-byte limit). */
const MAX_OTHER_OXM_VALUE = 16;

function node(name: string): StructDef | DispatchDef {
  const n = NODES.get(name);
  if (n === undefined) throw new Error(`no node ${name} in the description`);
  return n;
}

// ---------------------------------------------------------------------------------------------
// Discriminator constraints
// ---------------------------------------------------------------------------------------------

interface Constraint {
  /** The value must be one of these (undefined: free). */
  readonly oneOf?: readonly number[];
  /** The value must not be one of these. */
  readonly noneOf: readonly number[];
}
type Constraints = ReadonlyMap<string, Constraint>;

const NO_CONSTRAINTS: Constraints = new Map();

function constrain(cs: Constraints, field: string, add: Partial<Constraint>): Constraints {
  const old = cs.get(field) ?? { noneOf: [] };
  let oneOf = old.oneOf;
  if (add.oneOf !== undefined) oneOf = oneOf === undefined ? add.oneOf : oneOf.filter((v) => add.oneOf!.includes(v));
  const noneOf = [...old.noneOf, ...(add.noneOf ?? [])];
  const out = new Map(cs);
  out.set(field, { oneOf, noneOf });
  return out;
}

/** The values a constraint allows, or undefined when it leaves the field free. */
function allowed(c: Constraint | undefined, konst?: readonly number[]): number[] | undefined {
  let vals: readonly number[] | undefined = konst;
  if (c?.oneOf !== undefined) vals = vals === undefined ? c.oneOf : vals.filter((v) => c.oneOf!.includes(v));
  if (vals === undefined) return undefined;
  return vals.filter((v) => !(c?.noneOf ?? []).includes(v));
}

function satisfiable(cs: Constraints): boolean {
  for (const c of cs.values()) if (c.oneOf !== undefined && allowed(c)!.length === 0) return false;
  return true;
}

const consKey = (cs: Constraints): string =>
  JSON.stringify([...cs.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));

// ---------------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------------

const MAX_OF: Record<'u8' | 'u16' | 'u24' | 'u32', number> = { u8: 0xff, u16: 0xffff, u24: 0xffffff, u32: 0xffffffff };

const arbU64 = (): fc.Arbitrary<bigint> => fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });

const hex2 = (x: number): string => x.toString(16).padStart(2, '0');
export const macText = (b: ArrayLike<number>): string => Array.from(b, hex2).join(':');
export const ipv4Text = (b: ArrayLike<number>): string => Array.from(b).join('.');

/** RFC 5952: lower case, no leading zeros, the longest run (2+ groups, first on ties) as `::`. */
export function ipv6Text(b: ArrayLike<number>): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push((b[i]! << 8) | b[i + 1]!);
  let bestAt = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; i++) {
    if (g[i] !== 0) continue;
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i >= 2 && j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const h = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  return bestAt < 0 ? h(g) : `${h(g.slice(0, bestAt))}::${h(g.slice(bestAt + bestLen))}`;
}

const bytesOf = (n: number): fc.Arbitrary<number[]> =>
  fc.array(fc.oneof(fc.constant(0), fc.constant(0xff), fc.integer({ min: 0, max: 0xff })), { minLength: n, maxLength: n });

/** IPv6 bytes with whole zero groups common, so that `::` compression is exercised. */
const ipv6Bytes = (): fc.Arbitrary<number[]> =>
  fc.array(fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff })),
    { minLength: 8, maxLength: 8 })
    .map((gs) => gs.flatMap((x) => [x >>> 8, x & 0xff]));

/** Values named in an enum table (or ORs of flags) that fit in `max`. */
function namedValues(f: ScalarField, max: number): fc.Arbitrary<number> | undefined {
  if (f.enum === undefined) return undefined;
  const table = ENUMS[f.enum];
  const vals = [...new Set(Object.values(table.values))].filter((v) => v >= 0 && v <= max);
  if (vals.length === 0) return undefined;
  if (table.kind === 'enum') return fc.constantFrom(...vals);
  return fc.subarray(vals).map((xs) => xs.reduce((a, x) => (a | x) >>> 0, 0));
}

function arbScalar(f: ScalarField, c: Constraint | undefined): fc.Arbitrary<unknown> {
  const vals = allowed(c, f.values);
  if (vals !== undefined) {
    if (vals.length === 0) throw new Error(`no value allowed for ${f.name}`);
    return fc.constantFrom(...vals);
  }
  if (f.name === 'version' && f.default !== undefined) return fc.constant(OFP_VERSION);
  const t: Scalar = f.type;
  switch (t) {
    case 'u64': return arbU64();
    case 'mac': return bytesOf(6).map(macText);
    case 'ipv4': return bytesOf(4).map(ipv4Text);
    default: {
      const max = MAX_OF[t];
      const named = namedValues(f, max);
      let arb: fc.Arbitrary<number> = fc.integer({ min: 0, max });
      if (named !== undefined) arb = fc.oneof(arb, named);
      const no = c?.noneOf ?? [];
      return no.length === 0 ? arb : arb.filter((v) => !no.includes(v));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Opaque bytes, text
// ---------------------------------------------------------------------------------------------

/** Uint8Array or Buffer (the codec must take both). */
function arbData(maxLength: number, multipleOf8After?: number): fc.Arbitrary<Uint8Array> {
  const raw = fc.uint8Array({ maxLength });
  const fit = multipleOf8After === undefined ? raw : raw.map((a) => {
    const r = (multipleOf8After + a.length) % 8;
    if (r === 0) return a;
    if (a.length >= r) return a.subarray(0, a.length - r);
    const out = new Uint8Array(a.length + 8 - r);
    out.set(a);
    return out;
  });
  return fc.tuple(fit, fc.boolean()).map(([a, asBuffer]) => (asBuffer ? Buffer.from(a) : Uint8Array.from(a)));
}

/** Latin-1 text without NUL, at most `size` characters. */
function arbLatin1(size: number): fc.Arbitrary<string> {
  const unit = fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 0xff }) },
  ).map((c) => String.fromCharCode(c));
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit, maxLength: Math.min(size, 40) }) },
    { weight: 1, arbitrary: fc.string({ unit, minLength: size, maxLength: size }) },
  );
}

// ---------------------------------------------------------------------------------------------
// OXM
// ---------------------------------------------------------------------------------------------

interface ValueMask { value: unknown; mask?: unknown }

function arbBasicValue(d: OxmFieldDef, masked: boolean): fc.Arbitrary<ValueMask> {
  switch (d.kind) {
    case 'u8': case 'u16': case 'u24': case 'u32': {
      const max = MAX_OF[d.kind];
      const valid = d.validBits ?? max;
      const n = fc.integer({ min: 0, max });
      if (!masked) return n.map((v) => ({ value: (v & valid) >>> 0 }));
      return fc.tuple(n, n).map(([v, m]) => ({ value: (v & m & valid) >>> 0, mask: m }));
    }
    case 'u64': {
      if (!masked) return arbU64().map((value) => ({ value }));
      return fc.tuple(arbU64(), arbU64()).map(([v, m]) => ({ value: v & m, mask: m }));
    }
    case 'mac': case 'ipv4': case 'ipv6': {
      const bytes = d.kind === 'ipv6' ? ipv6Bytes() : bytesOf(KIND_SIZE[d.kind]);
      const text = d.kind === 'mac' ? macText : d.kind === 'ipv4' ? ipv4Text : ipv6Text;
      if (!masked) return bytes.map((v) => ({ value: text(v) }));
      return fc.tuple(bytes, bytes).map(([v, m]) => ({ value: text(v.map((x, i) => x & m[i]!)), mask: text(m) }));
    }
  }
}

function arbBasicOxm(d: OxmFieldDef, allowMask: boolean): fc.Arbitrary<Oxm> {
  const masked = allowMask && d.maskable ? fc.boolean() : fc.constant(false);
  return masked.chain((m) => arbBasicValue(d, m)).map(({ value, mask }) =>
    (mask === undefined ? { field: d.field, value } : { field: d.field, value, mask }) as Oxm);
}

const arbOtherClass = (): fc.Arbitrary<number> =>
  fc.oneof(
    fc.constantFrom(OFPXMC.NXM_0, OFPXMC.NXM_1, OFPXMC.EXPERIMENTER),
    fc.integer({ min: 0, max: 0xffff }).filter((c) => c !== OFPXMC.OPENFLOW_BASIC),
  );

function arbOtherOxm(allowMask: boolean): fc.Arbitrary<Oxm> {
  return fc.record({
    oxmClass: arbOtherClass(),
    field: fc.integer({ min: 0, max: 0x7f }),
    experimenter: fc.integer({ min: 0, max: 0xffffffff }),
    value: arbData(MAX_OTHER_OXM_VALUE),
    masked: allowMask ? fc.boolean() : fc.constant(false),
    maskBytes: fc.uint8Array({ minLength: MAX_OTHER_OXM_VALUE, maxLength: MAX_OTHER_OXM_VALUE }),
  }).map(({ oxmClass, field, experimenter, value, masked, maskBytes }) => {
    const x: { oxmClass: number; field: number; experimenter?: number; value: Uint8Array; mask?: Uint8Array } =
      oxmClass === OFPXMC.EXPERIMENTER ? { oxmClass, field, experimenter, value } : { oxmClass, field, value };
    if (masked) x.mask = Buffer.from(maskBytes.subarray(0, value.length));
    return x as Oxm;
  });
}

const arbAnyBasic = (allowMask: boolean): fc.Arbitrary<Oxm> =>
  fc.constantFrom(...OXM_FIELDS).chain((d) => arbBasicOxm(d, allowMask));

/** An ofp_match's OXM list: valid values, no basic field twice, other classes mixed in. */
export function arbMatch(): fc.Arbitrary<Oxm[]> {
  const entry = fc.oneof({ weight: 5, arbitrary: arbAnyBasic(true) }, { weight: 1, arbitrary: arbOtherOxm(true) });
  return fc.uniqueArray(entry, {
    maxLength: MAX_MATCH,
    // Basic entries are unique by field; other-class entries never collide (compared by identity).
    selector: (x) => ('oxmClass' in x ? x : x.field),
  });
}

/** The OXM of a set-field action: unmasked, basic or another class. */
export function arbSetFieldOxm(): fc.Arbitrary<Oxm> {
  return fc.oneof({ weight: 4, arbitrary: arbAnyBasic(false) }, { weight: 1, arbitrary: arbOtherOxm(false) });
}

export function arbOxmId(): fc.Arbitrary<OxmId> {
  return fc.record({
    oxmClass: fc.oneof({ weight: 3, arbitrary: fc.constant(OFPXMC.OPENFLOW_BASIC) }, { weight: 2, arbitrary: arbOtherClass() }),
    field: fc.oneof(fc.integer({ min: 0, max: 39 }), fc.integer({ min: 0, max: 0x7f })),
    hasMask: fc.boolean(),
    length: fc.integer({ min: 0, max: 0xff }),
    experimenter: fc.integer({ min: 0, max: 0xffffffff }),
  }).map(({ oxmClass, field, hasMask, length, experimenter }) =>
    oxmClass === OFPXMC.EXPERIMENTER ? { oxmClass, field, hasMask, length, experimenter } : { oxmClass, field, hasMask, length });
}

// ---------------------------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------------------------

interface Built {
  readonly arb: fc.Arbitrary<unknown>;
  /** Distinct structs a choice can end in (the weight of this branch in its dispatch). */
  readonly leaves: number;
}

const memo = new Map<string, Built | null>();

const hasMessageField = (s: StructDef): boolean => s.fields.some((f) => f.kind === 'message');

/** Bytes of a struct before field index i (all fixed-size in the items that carry opaque bytes). */
function prefixSize(s: StructDef, i: number): number {
  let n = 0;
  for (const f of s.fields.slice(0, i)) {
    const k = fixedSize(f, NODES);
    if (k === undefined) throw new Error(`${s.name}: variable-size field before the bytes field`);
    n += k;
  }
  return n;
}

/** `depth` counts the messages this item is embedded in (BundleAdd nesting). */
function build(name: string, cs: Constraints, depth: number): Built | null {
  const key = `${name}|${depth}|${consKey(cs)}`;
  const hit = memo.get(key);
  if (hit !== undefined) return hit;
  const n = node(name);
  const out = n.kind === 'dispatch' ? buildDispatch(n, cs, depth) : buildStruct(n, cs, depth);
  memo.set(key, out);
  return out;
}

function buildDispatch(d: DispatchDef, cs: Constraints, depth: number): Built | null {
  const byTarget = new Map<string, number[]>();
  for (const [v, target] of d.cases) byTarget.set(target, [...(byTarget.get(target) ?? []), v]);
  const options: Built[] = [];
  for (const [target, values] of byTarget) {
    const next = constrain(cs, d.field, { oneOf: values });
    if (!satisfiable(next)) continue;
    const b = build(target, next, depth);
    if (b !== null) options.push(b);
  }
  if (typeof d.fallback === 'string') {
    const next = constrain(cs, d.field, { noneOf: d.cases.map(([v]) => v) });
    if (satisfiable(next)) {
      const b = build(d.fallback, next, depth);
      if (b !== null) options.push(b);
    }
  }
  if (options.length === 0) return null;
  const leaves = options.reduce((a, o) => a + o.leaves, 0);
  const arb = options.length === 1 ? options[0]!.arb : fc.oneof(...options.map((o) => ({ weight: o.leaves, arbitrary: o.arb })));
  return { arb, leaves };
}

function buildStruct(s: StructDef, cs: Constraints, depth: number): Built | null {
  if (hasMessageField(s) && depth >= MAX_BUNDLE_DEPTH) return null;
  const isMessage = s.fields.some((f) => f.kind === 'scalar' && f.default !== undefined);
  const rec: Record<string, fc.Arbitrary<unknown>> = {};
  s.fields.forEach((f, i) => {
    switch (f.kind) {
      case 'length': case 'lengthOf': case 'pad': return;
      case 'scalar': rec[f.name] = arbScalar(f, cs.get(f.name)); return;
      case 'str': rec[f.name] = arbLatin1(f.size); return;
      case 'bytes':
        rec[f.name] = arbData(isMessage ? MAX_MESSAGE_BYTES : MAX_BYTES, s.lengthStyle === 'padded' ? prefixSize(s, i) : undefined);
        return;
      case 'struct': rec[f.name] = need(build(f.of, NO_CONSTRAINTS, depth), f.of).arb; return;
      case 'list': rec[f.name] = fc.array(need(build(f.of, NO_CONSTRAINTS, depth), f.of).arb, { maxLength: MAX_LIST }); return;
      case 'scalars': {
        const item = fc.integer({ min: 0, max: MAX_OF[f.type] });
        rec[f.name] = f.count === undefined
          ? fc.array(item, { maxLength: MAX_SCALARS })
          : fc.array(item, { minLength: f.count, maxLength: f.count });
        return;
      }
      case 'match': rec[f.name] = arbMatch(); return;
      case 'oxm': rec[f.name] = arbSetFieldOxm(); return;
      case 'oxmIds': rec[f.name] = fc.array(arbOxmId(), { maxLength: MAX_OXM_IDS }); return;
      case 'message': rec[f.name] = need(build('Message', NO_CONSTRAINTS, depth + 1), 'Message').arb; return;
    }
  });
  return { arb: fc.record(rec), leaves: 1 };
}

function need(b: Built | null, name: string): Built {
  if (b === null) throw new Error(`cannot generate ${name}`);
  return b;
}

/**
 * Any valid item of the named node of the description. A struct asked for by name is generated
 * on its own: a fallback struct's free discriminator is then only constrained when the struct is
 * reached through its dispatch (ask for the dispatch, e.g. 'Action' or 'HelloElem', to get that).
 */
export function arbNode(name: string): fc.Arbitrary<unknown> {
  return need(build(name, NO_CONSTRAINTS, 0), name).arb;
}

/** Any valid OpenFlow 1.3 message (version 4, xid always present). */
export function arbMessage(): fc.Arbitrary<Message> {
  return arbNode('Message') as fc.Arbitrary<Message>;
}

// ---------------------------------------------------------------------------------------------
// Classifying values by the description (coverage counting, layout of encodings)
// ---------------------------------------------------------------------------------------------

/** The struct the description uses for obj, following dispatches by its discriminators. */
export function structOf(name: string, obj: Obj): StructDef {
  const n = node(name);
  if (n.kind === 'struct') return n;
  const v = obj[n.field];
  const hit = n.cases.find(([x]) => x === v);
  if (hit !== undefined) return structOf(hit[1], obj);
  if (typeof n.fallback === 'string') return structOf(n.fallback, obj);
  throw new Error(`${n.name}: ${String(v)} leads nowhere`);
}

/** Adds the names of every struct in obj (obj itself and everything nested) to `into`. */
export function collectStructs(name: string, obj: Obj, into: Set<string>): Set<string> {
  const s = structOf(name, obj);
  into.add(s.name);
  for (const f of s.fields) {
    if (f.kind === 'struct') collectStructs(f.of, obj[f.name] as Obj, into);
    else if (f.kind === 'list') for (const it of obj[f.name] as Obj[]) collectStructs(f.of, it, into);
    else if (f.kind === 'message') collectStructs('Message', obj[f.name] as Obj, into);
  }
  return into;
}

/** Every struct reachable from a node of the description. */
export function reachableStructs(root = 'Message'): string[] {
  const seen = new Set<string>();
  const structs: string[] = [];
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const n = node(name);
    if (n.kind === 'dispatch') {
      for (const [, t] of n.cases) visit(t);
      if (typeof n.fallback === 'string') visit(n.fallback);
      return;
    }
    structs.push(n.name);
    for (const f of n.fields) {
      if (f.kind === 'struct' || f.kind === 'list') visit(f.of);
      else if (f.kind === 'message') visit('Message');
    }
  };
  visit(root);
  return structs;
}

/** The structs a whole message can be (reached from `root` through dispatches only). */
export function messageStructs(root = 'Message'): string[] {
  const out = new Set<string>();
  const visit = (name: string): void => {
    const n = node(name);
    if (n.kind === 'struct') { out.add(n.name); return; }
    for (const [, t] of n.cases) visit(t);
    if (typeof n.fallback === 'string') visit(n.fallback);
  };
  visit(root);
  return [...out];
}

// ---------------------------------------------------------------------------------------------
// Where the length fields of an encoding are (for targeted corruption)
// ---------------------------------------------------------------------------------------------

export interface LengthField {
  /** Offset in the encoding. */
  readonly at: number;
  readonly size: 1 | 2;
  /** What it is the length of, for reports: `FlowMod.match`, `ActionOutput.len`, `oxm`. */
  readonly what: string;
}

const pad8 = (n: number): number => (n + 7) & ~7;

function oxmSize(x: Oxm): number {
  if ('oxmClass' in x) return 4 + (x.experimenter === undefined ? 0 : 4) + x.value.length + (x.mask?.length ?? 0);
  return 4 + KIND_SIZE[OXM_FIELDS[x.field]!.kind] * (x.mask === undefined ? 1 : 2);
}

/**
 * The offsets of every length field (item lengths, lengthOf fields, match lengths, OXM lengths)
 * in encode(msg), found by walking the description over the message. Returns the fields and the
 * size the walk arrived at (which must equal the encoding's size).
 */
export function lengthFields(msg: Message): { fields: LengthField[]; size: number } {
  const fields: LengthField[] = [];
  const walk = (name: string, obj: Obj, o: number): number => {
    const s = structOf(name, obj);
    let p = o;
    s.fields.forEach((f, i) => {
      switch (f.kind) {
        case 'scalar': p += SCALAR_SIZE[f.type]; return;
        case 'length': case 'lengthOf': fields.push({ at: p, size: 2, what: `${s.name}.${f.name}` }); p += 2; return;
        case 'pad': case 'str': p += f.size; return;
        case 'bytes': p += (obj[f.name] as Uint8Array).length; return;
        case 'struct': p = walk(f.of, obj[f.name] as Obj, p); return;
        case 'list': for (const it of obj[f.name] as Obj[]) p = walk(f.of, it, p); return;
        case 'scalars': p += (obj[f.name] as number[]).length * SCALAR_SIZE[f.type]; return;
        case 'match': {
          const m = obj[f.name] as Oxm[];
          fields.push({ at: p + 2, size: 2, what: `${s.name}.${f.name}` });
          let q = p + 4;
          for (const x of m) { fields.push({ at: q + 3, size: 1, what: 'oxm' }); q += oxmSize(x); }
          p += pad8(q - p);
          return;
        }
        case 'oxm': fields.push({ at: p + 3, size: 1, what: 'oxm' }); p += oxmSize(obj[f.name] as Oxm); return;
        case 'oxmIds':
          for (const id of obj[f.name] as OxmId[]) p += id.oxmClass === OFPXMC.EXPERIMENTER ? 8 : 4;
          return;
        case 'message': {
          p = walk('Message', obj[f.name] as Obj, p);
          const more = s.fields.slice(i + 1).some((g) => g.kind === 'list' && (obj[g.name] as unknown[]).length > 0);
          if (more) p = o + pad8(p - o);
          return;
        }
      }
    });
    if (s.lengthStyle === 'padded' || s.lengthStyle === 'unpadded') p = o + pad8(p - o);
    return p;
  };
  const size = walk('Message', msg as unknown as Obj, 0);
  return { fields, size };
}

// ---------------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------------

/** A plain form for deep comparison: bytes (Buffer or Uint8Array) become `hex:...` strings. */
export function normalise(v: unknown): unknown {
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (Array.isArray(v)) return v.map(normalise);
  if (v !== null && typeof v === 'object') {
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) out[k] = normalise((v as Obj)[k]);
    return out;
  }
  return v;
}

/** A short printable form of any in-memory message (bigints and bytes included). */
export function show(v: unknown): string {
  return JSON.stringify(normalise(v), (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x));
}

// ---------------------------------------------------------------------------------------------
// A reference encoder: slow and plain, written from the description's semantics, so that a
// mistake shared by the codec's encoder and decoder (byte order, padding, what a length counts)
// cannot hide behind a clean round trip.
// ---------------------------------------------------------------------------------------------

const OFPMT_OXM = 1;

function beBytes(v: number | bigint, size: number): number[] {
  let x = BigInt(v);
  if (x < 0n || x >= 1n << BigInt(8 * size)) throw new RangeError(`${String(v)} does not fit in ${size} bytes`);
  const out: number[] = new Array<number>(size);
  for (let i = size - 1; i >= 0; i--) { out[i] = Number(x & 0xffn); x >>= 8n; }
  return out;
}

function macBytes(s: string): number[] {
  const parts = s.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-f]{2}$/.test(p))) throw new RangeError(`not a canonical MAC: ${s}`);
  return parts.map((p) => parseInt(p, 16));
}

function ipv4Bytes(s: string): number[] {
  const parts = s.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) throw new RangeError(`not a canonical IPv4 address: ${s}`);
  return parts.map(Number);
}

function ipv6Bytes16(s: string): number[] {
  const [head, tail, extra] = s.split('::');
  if (extra !== undefined) throw new RangeError(`not an IPv6 address: ${s}`);
  const groups = (t: string | undefined): number[] => (t === undefined || t === '' ? [] : t.split(':').map((g) => {
    if (!/^[0-9a-f]{1,4}$/.test(g)) throw new RangeError(`not an IPv6 address: ${s}`);
    return parseInt(g, 16);
  }));
  const h = groups(head);
  const tl = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - tl.length).fill(0), ...tl];
  if (all.length !== 8) throw new RangeError(`not an IPv6 address: ${s}`);
  return all.flatMap((g) => [g >> 8, g & 0xff]);
}

function oxmValueBytes(d: OxmFieldDef, v: unknown): number[] {
  switch (d.kind) {
    case 'mac': return macBytes(v as string);
    case 'ipv4': return ipv4Bytes(v as string);
    case 'ipv6': return ipv6Bytes16(v as string);
    default: return beBytes(v as number | bigint, KIND_SIZE[d.kind]);
  }
}

function refOxm(x: Oxm): number[] {
  if ('oxmClass' in x) {
    const body = [...(x.experimenter === undefined ? [] : beBytes(x.experimenter, 4)), ...x.value, ...(x.mask ?? [])];
    return [...beBytes(x.oxmClass, 2), (x.field << 1) | (x.mask === undefined ? 0 : 1), body.length, ...body];
  }
  const d = OXM_FIELDS[x.field]!;
  const body = [...oxmValueBytes(d, x.value), ...(x.mask === undefined ? [] : oxmValueBytes(d, x.mask))];
  return [0x80, 0x00, (x.field << 1) | (x.mask === undefined ? 0 : 1), body.length, ...body];
}

const padTo8 = (out: number[], from: number): void => { while ((out.length - from) % 8 !== 0) out.push(0); };

function refScalar(type: Scalar, v: unknown): number[] {
  if (type === 'mac') return macBytes(v as string);
  if (type === 'ipv4') return ipv4Bytes(v as string);
  return beBytes(v as number | bigint, SCALAR_SIZE[type]);
}

function refNode(name: string, obj: Obj, out: number[]): void {
  const s = structOf(name, obj);
  const start = out.length;
  const lengthAt: number[] = [];
  const lengthOfAt = new Map<string, number>();
  const listSpan = new Map<string, number>();
  s.fields.forEach((f, i) => {
    switch (f.kind) {
      case 'scalar': {
        const v = obj[f.name] ?? f.default;
        out.push(...refScalar(f.type, v));
        return;
      }
      case 'length': lengthAt.push(out.length); out.push(0, 0); return;
      case 'lengthOf': lengthOfAt.set(f.of, out.length); out.push(0, 0); return;
      case 'pad': for (let k = 0; k < f.size; k++) out.push(0); return;
      case 'str': {
        const text = obj[f.name] as string;
        for (let k = 0; k < f.size; k++) out.push(k < text.length ? text.charCodeAt(k) : 0);
        return;
      }
      case 'bytes': out.push(...(obj[f.name] as Uint8Array)); return;
      case 'struct': refNode(f.of, obj[f.name] as Obj, out); return;
      case 'list': {
        const from = out.length;
        for (const it of obj[f.name] as Obj[]) refNode(f.of, it, out);
        listSpan.set(f.name, out.length - from);
        return;
      }
      case 'scalars': for (const x of obj[f.name] as number[]) out.push(...beBytes(x, SCALAR_SIZE[f.type])); return;
      case 'match': {
        const from = out.length;
        const body = (obj[f.name] as Oxm[]).flatMap(refOxm);
        out.push(0, OFPMT_OXM, ...beBytes(4 + body.length, 2), ...body);
        padTo8(out, from);
        return;
      }
      case 'oxm': out.push(...refOxm(obj[f.name] as Oxm)); return;
      case 'oxmIds':
        for (const id of obj[f.name] as OxmId[]) {
          out.push(...beBytes(id.oxmClass, 2), (id.field << 1) | (id.hasMask ? 1 : 0), id.length);
          if (id.oxmClass === OFPXMC.EXPERIMENTER) out.push(...beBytes(id.experimenter ?? 0, 4));
        }
        return;
      case 'message': {
        const from = out.length;
        refNode('Message', obj[f.name] as Obj, out);
        const follows = s.fields.slice(i + 1).some((g) => g.kind === 'list' && (obj[g.name] as unknown[]).length > 0);
        if (follows) padTo8(out, from);
        return;
      }
    }
  });
  const unpaddedLength = out.length - start;
  if (s.lengthStyle === 'padded' || s.lengthStyle === 'unpadded') padTo8(out, start);
  const itemLength = s.lengthStyle === 'unpadded' ? unpaddedLength : out.length - start;
  for (const at of lengthAt) out.splice(at, 2, ...beBytes(itemLength, 2));
  for (const [of, at] of lengthOfAt) out.splice(at, 2, ...beBytes(listSpan.get(of) ?? 0, 2));
}

/** The bytes of a message by the description alone (see above). */
export function referenceEncode(msg: Message): Buffer {
  const out: number[] = [];
  refNode('Message', msg as unknown as Obj, out);
  return Buffer.from(out);
}
