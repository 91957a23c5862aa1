/**
 * The JSON form of messages: what `ofswitch ofp-print --json` prints and `ofswitch ofp-encode`
 * reads. It is the in-memory form with three changes so that it survives JSON.stringify and stays
 * readable:
 * - numbers with a name table print as names (`"type": "FLOW_MOD"`, `"outPort": "ANY"`,
 *   `"flags": "SEND_FLOW_REM|CHECK_OVERLAP"`); a value without a name stays a number;
 * - 64-bit values are hex strings (`"cookie": "0x1f"`), opaque bytes are hex strings;
 * - match fields are `{ "field": "eth_dst", "value": "...", "mask": "..." }`.
 * Reading accepts names or numbers, decimal or hex strings for 64-bit values, and reports the
 * path of anything it cannot take. The walk is driven by the description in proto/of13.ts.
 */

import { ENUMS, formatNamed, parseNamed, type NameTable, OFPXMC } from '../../proto/constants.js';
import { NODES } from '../../proto/of13.js';
import { OXM_FIELDS, OXM_BY_NAME } from '../../proto/oxm.js';
import type { Field, StructDef, DispatchDef, Scalar } from '../../proto/schema.js';
import type { Message } from './generated.js';
import { isBasic, type Oxm, type OxmId, type OxmValue } from './oxm.js';
import { toHex, fromHex } from './runtime.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = Record<string, unknown>;

function nodeDef(name: string): StructDef | DispatchDef {
  const n = NODES.get(name);
  if (n === undefined) throw new Error(`no node ${name}`);
  return n;
}

/** The name table of a dispatch's discriminator, read from the structs it leads to. */
function discriminatorTable(d: DispatchDef): NameTable | undefined {
  const seen = new Set<string>();
  const search = (name: string): NameTable | undefined => {
    if (seen.has(name)) return undefined;
    seen.add(name);
    const n = nodeDef(name);
    if (n.kind === 'dispatch') {
      for (const [, c] of n.cases) { const t = search(c); if (t) return t; }
      return undefined;
    }
    const f = n.fields.find((x) => 'name' in x && x.name === d.field);
    return f?.kind === 'scalar' && f.enum ? ENUMS[f.enum] : undefined;
  };
  for (const [, c] of d.cases) { const t = search(c); if (t) return t; }
  return typeof d.fallback === 'string' ? search(d.fallback) : undefined;
}

/** The struct that describes obj, following dispatches by the discriminator values it holds. */
export function structFor(name: string, obj: Obj, path = '$'): StructDef {
  const n = nodeDef(name);
  if (n.kind === 'struct') return n;
  const v = obj[n.field];
  if (typeof v !== 'number') throw new TypeError(`${path}.${n.field}: expected a number`);
  const hit = n.cases.find(([x]) => x === v);
  if (hit) return structFor(hit[1], obj, path);
  if (typeof n.fallback === 'string') return structFor(n.fallback, obj, path);
  throw new TypeError(`${path}.${n.field}: ${v} is not a known ${n.name} ${n.field}`);
}

// ---------------------------------------------------------------------------------------------
// To JSON
// ---------------------------------------------------------------------------------------------

const hex64 = (v: bigint) => '0x' + v.toString(16);

function scalarToJson(f: Extract<Field, { kind: 'scalar' }>, v: unknown): Json {
  if (f.type === 'u64') return hex64(v as bigint);
  if (typeof v === 'number' && f.enum) {
    const s = formatNamed(ENUMS[f.enum], v);
    return /^\d+$/.test(s) ? v : s;
  }
  return v as Json;
}

function oxmValueToJson(v: OxmValue): Json {
  return typeof v === 'bigint' ? hex64(v) : v;
}

export function oxmToJson(x: Oxm): Json {
  if (isBasic(x)) {
    const d = OXM_FIELDS[x.field];
    const out: { [k: string]: Json } = { field: d?.name ?? x.field, value: oxmValueToJson(x.value) };
    if (x.mask !== undefined) out.mask = oxmValueToJson(x.mask);
    return out;
  }
  const out: { [k: string]: Json } = { class: x.oxmClass, field: x.field };
  if (x.experimenter !== undefined) out.experimenter = x.experimenter;
  out.value = toHex(x.value);
  if (x.mask !== undefined) out.mask = toHex(x.mask);
  return out;
}

function oxmIdToJson(id: OxmId): Json {
  const out: { [k: string]: Json } = id.oxmClass === OFPXMC.OPENFLOW_BASIC
    ? { field: OXM_FIELDS[id.field]?.name ?? id.field }
    : { class: id.oxmClass, field: id.field };
  out.hasMask = id.hasMask;
  out.length = id.length;
  if (id.experimenter !== undefined) out.experimenter = id.experimenter;
  return out;
}

function nodeToJson(name: string, obj: Obj): Json {
  const s = structFor(name, obj);
  const out: { [k: string]: Json } = {};
  for (const f of s.fields) {
    if (!('name' in f) || f.kind === 'length' || f.kind === 'lengthOf') continue;
    const v = obj[f.name];
    if (v === undefined) continue;
    switch (f.kind) {
      case 'scalar': out[f.name] = scalarToJson(f, v); break;
      case 'str': out[f.name] = v as string; break;
      case 'bytes': out[f.name] = toHex(v as Uint8Array); break;
      case 'struct': out[f.name] = nodeToJson(f.of, v as Obj); break;
      case 'list': out[f.name] = (v as Obj[]).map((it) => nodeToJson(f.of, it)); break;
      case 'scalars': out[f.name] = [...(v as number[])]; break;
      case 'match': out[f.name] = (v as Oxm[]).map(oxmToJson); break;
      case 'oxm': out[f.name] = oxmToJson(v as Oxm); break;
      case 'oxmIds': out[f.name] = (v as OxmId[]).map(oxmIdToJson); break;
      case 'message': out[f.name] = nodeToJson('Message', v as Obj); break;
    }
  }
  return out;
}

export function toJson(msg: Message): Json {
  return nodeToJson('Message', msg as unknown as Obj);
}

// ---------------------------------------------------------------------------------------------
// From JSON
// ---------------------------------------------------------------------------------------------

const MAX: Record<Scalar, number> = { u8: 0xff, u16: 0xffff, u24: 0xffffff, u32: 0xffffffff, u64: 0, mac: 0, ipv4: 0 };

function bad(path: string, what: string): never {
  throw new TypeError(`${path}: ${what}`);
}

function parseU64(v: unknown, path: string): bigint {
  try {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
    if (typeof v === 'string' && /^(0x[0-9a-f]+|\d+)$/i.test(v)) {
      const n = BigInt(v);
      if (n < 2n ** 64n) return n;
    }
  } catch { /* reported below */ }
  return bad(path, `expected a 64-bit unsigned number (decimal or 0x hex string), got ${JSON.stringify(v)}`);
}

function parseNumber(v: unknown, max: number, table: NameTable | undefined, path: string): number {
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') n = table ? parseNamed(table, v) : /^(0x[0-9a-f]+|\d+)$/i.test(v) ? Number(v) : undefined;
  if (n === undefined || !Number.isInteger(n) || n < 0 || n > max) {
    const names = table ? ` (names: ${Object.keys(table.values).join(', ')})` : '';
    return bad(path, `expected an integer 0..${max}${names}, got ${JSON.stringify(v)}`);
  }
  return n;
}

function parseScalar(f: Extract<Field, { kind: 'scalar' }>, v: unknown, path: string): unknown {
  if (f.type === 'u64') return parseU64(v, path);
  if (f.type === 'mac' || f.type === 'ipv4') {
    if (typeof v !== 'string') bad(path, `expected an address string, got ${JSON.stringify(v)}`);
    return v;
  }
  return parseNumber(v, MAX[f.type], f.enum ? ENUMS[f.enum] : undefined, path);
}

function parseBytes(v: unknown, path: string): Buffer {
  const b = typeof v === 'string' ? fromHex(v) : undefined;
  return b ?? bad(path, `expected hex bytes, got ${JSON.stringify(v)}`);
}

function oxmValueFromJson(fieldNo: number, v: unknown, path: string): OxmValue {
  const d = OXM_FIELDS[fieldNo]!;
  switch (d.kind) {
    case 'u64': return parseU64(v, path);
    case 'mac': case 'ipv4': case 'ipv6':
      if (typeof v !== 'string') bad(path, `expected an address string, got ${JSON.stringify(v)}`);
      return v;
    default: {
      const max = { u8: 0xff, u16: 0xffff, u24: 0xffffff, u32: 0xffffffff }[d.kind];
      return parseNumber(v, max, undefined, path);
    }
  }
}

function asObj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) bad(path, 'expected an object');
  return v as Obj;
}

function asArray(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) bad(path, 'expected an array');
  return v;
}

export function oxmFromJson(j: unknown, path: string): Oxm {
  const o = asObj(j, path);
  if (o.class === undefined) {
    const name = o.field;
    const d = typeof name === 'string' ? OXM_BY_NAME.get(name.toLowerCase()) : typeof name === 'number' ? OXM_FIELDS[name] : undefined;
    if (d === undefined) bad(`${path}.field`, `unknown OXM field ${JSON.stringify(name)}`);
    const value = oxmValueFromJson(d.field, o.value, `${path}.value`);
    return o.mask === undefined ? { field: d.field, value } : { field: d.field, value, mask: oxmValueFromJson(d.field, o.mask, `${path}.mask`) };
  }
  const oxmClass = parseNumber(o.class, 0xffff, undefined, `${path}.class`);
  const field = parseNumber(o.field, 0x7f, undefined, `${path}.field`);
  const value = parseBytes(o.value, `${path}.value`);
  const base: { oxmClass: number; field: number; experimenter?: number; value: Uint8Array; mask?: Uint8Array } = { oxmClass, field, value };
  if (o.experimenter !== undefined) base.experimenter = parseNumber(o.experimenter, 0xffffffff, undefined, `${path}.experimenter`);
  if (o.mask !== undefined) base.mask = parseBytes(o.mask, `${path}.mask`);
  return base;
}

function oxmIdFromJson(j: unknown, path: string): OxmId {
  const o = asObj(j, path);
  let oxmClass: number = OFPXMC.OPENFLOW_BASIC;
  let field: number;
  if (o.class === undefined) {
    const d = typeof o.field === 'string' ? OXM_BY_NAME.get(o.field.toLowerCase()) : undefined;
    field = d ? d.field : parseNumber(o.field, 0x7f, undefined, `${path}.field`);
  } else {
    oxmClass = parseNumber(o.class, 0xffff, undefined, `${path}.class`);
    field = parseNumber(o.field, 0x7f, undefined, `${path}.field`);
  }
  if (typeof o.hasMask !== 'boolean') bad(`${path}.hasMask`, 'expected true or false');
  const length = parseNumber(o.length, 0xff, undefined, `${path}.length`);
  const id: { oxmClass: number; field: number; hasMask: boolean; length: number; experimenter?: number } = { oxmClass, field, hasMask: o.hasMask, length };
  if (o.experimenter !== undefined) id.experimenter = parseNumber(o.experimenter, 0xffffffff, undefined, `${path}.experimenter`);
  return id;
}

/** Resolves discriminators (names or numbers) into numbers along the dispatch path, then the struct. */
function structFromJson(name: string, j: Obj, path: string): StructDef {
  const n = nodeDef(name);
  if (n.kind === 'struct') return n;
  const raw = j[n.field];
  if (raw === undefined) bad(`${path}.${n.field}`, 'missing');
  const v = parseNumber(raw, { u8: 0xff, u16: 0xffff, u32: 0xffffffff }[n.type], discriminatorTable(n), `${path}.${n.field}`);
  const hit = n.cases.find(([x]) => x === v);
  if (hit) return structFromJson(hit[1], j, path);
  if (typeof n.fallback === 'string') return structFromJson(n.fallback, j, path);
  return bad(`${path}.${n.field}`, `${JSON.stringify(raw)} is not a known ${n.name} ${n.field}`);
}

function nodeFromJson(name: string, j: unknown, path: string): Obj {
  const o = asObj(j, path);
  const s = structFromJson(name, o, path);
  const known = new Set<string>();
  const out: Obj = {};
  for (const f of s.fields) {
    if (!('name' in f) || f.kind === 'length' || f.kind === 'lengthOf') continue;
    known.add(f.name);
    const v = o[f.name];
    const p = `${path}.${f.name}`;
    if (v === undefined) {
      if (f.kind === 'scalar' && f.default !== undefined) continue;
      if (f.kind === 'scalar' && f.values?.length === 1) { out[f.name] = f.values[0]; continue; }
      bad(p, 'missing');
    }
    switch (f.kind) {
      case 'scalar': {
        const x = parseScalar(f, v, p);
        if (f.values && !f.values.includes(x as number)) bad(p, `must be one of ${f.values.join(', ')} here`);
        out[f.name] = x;
        break;
      }
      case 'str':
        if (typeof v !== 'string') bad(p, 'expected a string');
        out[f.name] = v;
        break;
      case 'bytes': out[f.name] = parseBytes(v, p); break;
      case 'struct': out[f.name] = nodeFromJson(f.of, v, p); break;
      case 'list': out[f.name] = asArray(v, p).map((it, i) => nodeFromJson(f.of, it, `${p}[${i}]`)); break;
      case 'scalars': {
        const max = f.type === 'u8' ? 0xff : 0xffffffff;
        const xs = asArray(v, p).map((it, i) => parseNumber(it, max, undefined, `${p}[${i}]`));
        if (f.count !== undefined && xs.length !== f.count) bad(p, `expected ${f.count} numbers`);
        out[f.name] = xs;
        break;
      }
      case 'match': out[f.name] = asArray(v, p).map((it, i) => oxmFromJson(it, `${p}[${i}]`)); break;
      case 'oxm': out[f.name] = oxmFromJson(v, p); break;
      case 'oxmIds': out[f.name] = asArray(v, p).map((it, i) => oxmIdFromJson(it, `${p}[${i}]`)); break;
      case 'message': out[f.name] = nodeFromJson('Message', v, p); break;
    }
  }
  for (const k of Object.keys(o)) if (!known.has(k)) bad(`${path}.${k}`, `not a field of ${s.name}`);
  return out;
}

/** Reads the JSON form (an already parsed value) into a message; throws TypeError naming the path. */
export function fromJson(j: unknown): Message {
  return nodeFromJson('Message', j, '$') as unknown as Message;
}
