/**
 * Generates src/openflow/generated.ts from the description in of13.ts: one TypeScript interface
 * per struct, one union per dispatch, and for each node a decoder, an encoder and a length
 * function specialised to its layout (fixed offsets where the layout allows, a bounds check
 * once per run of fixed fields, no per-field checks). Run with `npm run gen`; a test asserts the
 * checked-in file is what this script produces.
 */

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NODES } from './of13.js';
import { type Field, type NodeDef, type StructDef, type DispatchDef, fixedSize, structSize, minSize, SCALAR_SIZE } from './schema.js';

const nodes = NODES;

function node(name: string): NodeDef {
  const n = nodes.get(name);
  if (n === undefined) throw new Error(`unknown node ${name}`);
  return n;
}

const hex = (n: number) => (n < 10 ? String(n) : '0x' + n.toString(16));
const errArgs = (e: readonly [number, number]) => `${e[0]}, ${e[1]}`;

// ---------------------------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------------------------

function tsFieldType(f: Field): string | undefined {
  switch (f.kind) {
    case 'scalar':
      if (f.values !== undefined) return f.values.map(hex).join(' | ');
      return f.type === 'u64' ? 'bigint' : f.type === 'mac' || f.type === 'ipv4' ? 'string' : 'number';
    case 'str': return 'string';
    case 'bytes': return 'Uint8Array';
    case 'struct': return f.of;
    case 'list': return `readonly ${f.of}[]`;
    case 'scalars': return 'readonly number[]';
    case 'match': return 'readonly Oxm[]';
    case 'oxm': return 'Oxm';
    case 'oxmIds': return 'readonly OxmId[]';
    case 'message': return 'Message';
    default: return undefined; // length, lengthOf, pad: not held in memory
  }
}

function unionMembers(d: DispatchDef): string[] {
  const out: string[] = [];
  const add = (n: string) => { if (!out.includes(n)) out.push(n); };
  for (const [, n] of d.cases) add(n);
  if (typeof d.fallback === 'string') add(d.fallback);
  return out;
}

function genTypes(): string {
  let s = '';
  for (const n of nodes.values()) {
    if (n.kind === 'dispatch') {
      s += `export type ${n.name} =\n  | ${unionMembers(n).join('\n  | ')};\n\n`;
      continue;
    }
    s += `export interface ${n.name} {\n`;
    for (const f of n.fields) {
      const t = tsFieldType(f);
      if (t === undefined || !('name' in f)) continue;
      const opt = f.kind === 'scalar' && f.default !== undefined ? '?' : '';
      s += `  readonly ${f.name}${opt}: ${t};\n`;
    }
    s += '}\n\n';
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Decoders
// ---------------------------------------------------------------------------------------------

function readScalar(type: string, at: string): string {
  switch (type) {
    case 'u8': return `b[${at}]!`;
    case 'u16': return `(b[${at}]! << 8 | b[${at} + 1]!)`;
    case 'u24': return `(b[${at}]! << 16 | b[${at} + 1]! << 8 | b[${at} + 2]!)`;
    case 'u32': return `b.readUInt32BE(${at})`;
    case 'u64': return `readU64(b, ${at})`;
    case 'mac': return `readMac(b, ${at})`;
    case 'ipv4': return `readIpv4(b, ${at})`;
    default: throw new Error(type);
  }
}

/** True when every item a node can decode carries a padded (multiple of 8) length. */
function itemsPadded(name: string): boolean {
  const n = node(name);
  if (n.kind === 'struct') return n.lengthStyle === 'padded';
  const all = [...n.cases.map(([, c]) => c), ...(typeof n.fallback === 'string' ? [n.fallback] : [])];
  return all.every(itemsPadded);
}

interface Layout {
  /** Offset of the length field, if the struct carries its own length. */
  lenAt?: number;
  size?: number;
  min: number;
}

function layout(s: StructDef): Layout {
  let at = 0;
  let lenAt: number | undefined;
  for (const f of s.fields) {
    const size = fixedSize(f, nodes);
    if (f.kind === 'length') lenAt = at;
    if (size === undefined) break;
    at += size;
  }
  return { lenAt, size: structSize(s, nodes), min: minSize(s, nodes) };
}

function genStructDecoder(s: StructDef): string {
  const L = layout(s);
  const le = errArgs(s.lenError);
  let c = `function d${s.name}(b: Buffer, o: number, end: number): ${s.name} {\n`;
  if (L.lenAt !== undefined) {
    c += `  if (end - o < ${Math.max(L.min, L.lenAt + 2)}) fail(${le});\n`;
    c += `  const len = ${readScalar('u16', `o + ${L.lenAt}`)};\n`;
    const style = s.lengthStyle ?? 'exact';
    if (L.size !== undefined) c += `  if (len !== ${L.size}) fail(${le});\n`;
    else c += `  if (len < ${L.min}) fail(${le});\n`;
    if (style === 'padded') c += `  if (len > end - o || (len & 7) !== 0) fail(${le});\n`;
    else if (style === 'unpadded') c += `  if (((len + 7) & ~7) > end - o) fail(${le});\n`;
    else c += `  if (len > end - o) fail(${le});\n`;
    c += `  const e = o + len;\n`;
    c += `  const next = ${style === 'unpadded' ? 'o + ((len + 7) & ~7)' : 'e'};\n`;
  } else if (L.size !== undefined) {
    c += `  if (end - o < ${L.size}) fail(${le});\n  const e = o + ${L.size};\n  const next = e;\n`;
  } else {
    c += `  if (end - o < ${L.min}) fail(${le});\n  const e = end;\n  const next = end;\n`;
  }

  // Fields: fixed offsets from o while the layout is fixed; then a running cursor p.
  let fixed = true;
  let off = 0;
  const at = (k: number) => (fixed ? `o + ${off + k}` : `p + ${k}`);
  const vals: string[] = [];
  const lengthOfLocals = new Map<string, string>();
  const fields = s.fields;
  let checkedUntil = 0;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const size = fixedSize(f, nodes);
    if (!fixed && size !== undefined && i >= checkedUntil) {
      // A run of fixed fields after a variable one: one bounds check for the whole run.
      let run = 0;
      let j = i;
      for (; j < fields.length && fixedSize(fields[j]!, nodes) !== undefined; j++) run += fixedSize(fields[j]!, nodes)!;
      c += `  if (e - p < ${run}) fail(${le});\n`;
      checkedUntil = j;
    }
    switch (f.kind) {
      case 'scalar':
        if (f.values !== undefined && f.values.length === 1) vals.push(`${f.name}: ${hex(f.values[0]!)}`);
        else if (f.values !== undefined) vals.push(`${f.name}: ${readScalar(f.type, at(0))} as ${f.values.map(hex).join(' | ')}`);
        else {
          c += `  const v_${f.name} = ${readScalar(f.type, at(0))};\n`;
          vals.push(`${f.name}: v_${f.name}`);
        }
        break;
      case 'lengthOf':
        c += `  const n_${f.name} = ${readScalar('u16', at(0))};\n`;
        lengthOfLocals.set(f.of, `n_${f.name}`);
        break;
      case 'length': case 'pad':
        break;
      case 'str':
        c += `  const v_${f.name} = readStr(b, ${at(0)}, ${f.size});\n`;
        vals.push(`${f.name}: v_${f.name}`);
        break;
      case 'struct':
        c += `  const v_${f.name} = d${f.of}(b, ${at(0)}, e);\n`;
        vals.push(`${f.name}: v_${f.name}`);
        break;
      case 'scalars': {
        const sz = SCALAR_SIZE[f.type];
        const rd = (x: string) => readScalar(f.type, x);
        if (f.count !== undefined) {
          const items = Array.from({ length: f.count }, (_, k) => rd(at(k * sz)));
          vals.push(`${f.name}: [${items.join(', ')}]`);
        } else {
          if (fixed) c += `  let p = o + ${off};\n`, (fixed = false);
          c += `  if ((e - p) % ${sz} !== 0) fail(${le});\n`;
          c += `  const v_${f.name}: number[] = [];\n  for (; p < e; p += ${sz}) v_${f.name}.push(${rd('p')});\n`;
          vals.push(`${f.name}: v_${f.name}`);
        }
        break;
      }
      default: {
        // Variable-size fields.
        if (fixed) c += `  let p = o + ${off};\n`, (fixed = false);
        switch (f.kind) {
          case 'bytes':
            c += `  const v_${f.name} = b.subarray(p, e);\n  p = e;\n`;
            break;
          case 'list': {
            const n = lengthOfLocals.get(f.name);
            if (n !== undefined) {
              // A byte count of 8-aligned items (actions) that is not a multiple of 8 is the
              // container's own length error (BAD_REQUEST/BAD_LEN for packet-out's actions_len).
              const aligned = itemsPadded(f.of) ? ` || (${n} & 7) !== 0` : '';
              c += `  if (${n} > e - p${aligned}) fail(${le});\n`;
              c += `  const v_${f.name} = dl${f.of}(b, p, p + ${n});\n  p += ${n};\n`;
            } else {
              c += `  const v_${f.name} = dl${f.of}(b, p, e);\n  p = e;\n`;
            }
            break;
          }
          case 'match':
            c += `  const v_${f.name} = decodeMatch(b, p, e);\n  p = cur.p;\n`;
            break;
          case 'oxm':
            c += `  const v_${f.name} = decodeSetFieldOxm(b, p, e);\n  p = e;\n`;
            break;
          case 'oxmIds':
            c += `  const v_${f.name} = decodeOxmIds(b, p, e);\n  p = e;\n`;
            break;
          case 'message':
            c += `  const v_${f.name} = dMessage(b, p, e);\n  p = cur.p;\n`;
            c += `  if (p < e) { p = o + ((p - o + 7) & ~7); if (p > e) fail(${le}); }\n`;
            break;
          default: throw new Error(`unhandled field ${JSON.stringify(f)}`);
        }
        vals.push(`${f.name}: v_${f.name}`);
      }
    }
    if (size !== undefined) {
      if (fixed) off += size;
      else c += `  p += ${size};\n`;
    }
  }
  if (!fixed) c += `  if (p !== e) fail(${le});\n`;
  else if (L.lenAt === undefined && L.size === undefined) c += `  if (o + ${off} !== e) fail(${le});\n`;
  c += `  cur.p = next;\n  return { ${vals.join(', ')} };\n}\n\n`;
  return c;
}

function genDispatchDecoder(d: DispatchDef): string {
  const sz = SCALAR_SIZE[d.type];
  let c = `function d${d.name}(b: Buffer, o: number, end: number): ${d.name} {\n`;
  c += `  if (end - o < ${d.at + sz}) fail(${errArgs(d.lenError)});\n`;
  c += `  switch (${readScalar(d.type, `o + ${d.at}`)}) {\n`;
  const byNode = new Map<string, number[]>();
  for (const [v, n] of d.cases) byNode.set(n, [...(byNode.get(n) ?? []), v]);
  for (const [n, vs] of byNode) c += `    ${vs.map((v) => `case ${hex(v)}:`).join(' ')} return d${n}(b, o, end);\n`;
  if (typeof d.fallback === 'string') c += `    default: return d${d.fallback}(b, o, end);\n`;
  else c += `    default: return fail(${errArgs(d.fallback)});\n`;
  c += '  }\n}\n\n';
  return c;
}

function genListDecoder(n: NodeDef): string {
  const size = n.kind === 'struct' ? structSize(n, nodes) : undefined;
  const le = errArgs(n.lenError);
  let c = `function dl${n.name}(b: Buffer, o: number, e: number): ${n.name}[] {\n  const out: ${n.name}[] = [];\n`;
  if (size !== undefined && layout(n as StructDef).lenAt === undefined) {
    c += `  if ((e - o) % ${size} !== 0) fail(${le});\n`;
    c += `  for (; o < e; o += ${size}) out.push(d${n.name}(b, o, e));\n`;
  } else {
    c += `  while (o < e) {\n    out.push(d${n.name}(b, o, e));\n    o = cur.p;\n  }\n`;
  }
  c += '  return out;\n}\n\n';
  return c;
}

// ---------------------------------------------------------------------------------------------
// Encoders and lengths
// ---------------------------------------------------------------------------------------------

function writeScalar(type: string, at: string, v: string): string {
  switch (type) {
    case 'u8': return `b[${at}] = ${v};`;
    case 'u16': return `{ const t = ${v}; b[${at}] = t >>> 8; b[${at} + 1] = t; }`;
    case 'u24': return `{ const t = ${v}; b[${at}] = t >>> 16; b[${at} + 1] = t >>> 8; b[${at} + 2] = t; }`;
    case 'u32': return `{ const t = ${v}; b[${at}] = t >>> 24; b[${at} + 1] = t >>> 16; b[${at} + 2] = t >>> 8; b[${at} + 3] = t; }`;
    case 'u64': return `writeU64(b, ${at}, ${v});`;
    case 'mac': return `writeMac(b, ${at}, ${v});`;
    case 'ipv4': return `writeIpv4(b, ${at}, ${v});`;
    default: throw new Error(type);
  }
}

function genStructEncoder(s: StructDef): string {
  const style = s.lengthStyle ?? 'exact';
  let c = `function e${s.name}(v: ${s.name}, b: Buffer, o: number): number {\n  let p = o;\n`;
  let lenAt: string | undefined;
  const fields = s.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    switch (f.kind) {
      case 'scalar': {
        const src = f.values !== undefined && f.values.length === 1 ? hex(f.values[0]!)
          : f.default !== undefined ? `(v.${f.name} ?? ${f.default})` : `v.${f.name}`;
        c += `  ${writeScalar(f.type, 'p', src)}\n  p += ${SCALAR_SIZE[f.type]};\n`;
        break;
      }
      case 'length':
        lenAt = `at_len`;
        c += `  const at_len = p;\n  p += 2;\n`;
        break;
      case 'lengthOf':
        c += `  const at_${f.name} = p;\n  p += 2;\n`;
        break;
      case 'pad':
        c += f.size <= 4
          ? `  ${Array.from({ length: f.size }, (_, k) => `b[p + ${k}] = 0;`).join(' ')}\n  p += ${f.size};\n`
          : `  b.fill(0, p, p + ${f.size});\n  p += ${f.size};\n`;
        break;
      case 'str':
        c += `  writeStr(b, p, ${f.size}, v.${f.name});\n  p += ${f.size};\n`;
        break;
      case 'bytes':
        c += `  b.set(v.${f.name}, p);\n  p += v.${f.name}.length;\n`;
        break;
      case 'struct':
        c += `  p = e${f.of}(v.${f.name}, b, p);\n`;
        break;
      case 'list': {
        const lo = fields.find((x) => x.kind === 'lengthOf' && x.of === f.name);
        if (lo !== undefined) c += `  const start_${f.name} = p;\n`;
        c += `  for (const it of v.${f.name}) p = e${f.of}(it, b, p);\n`;
        if (lo !== undefined && lo.kind === 'lengthOf') {
          c += `  ${writeScalar('u16', `at_${lo.name}`, `p - start_${f.name}`)}\n`;
        }
        break;
      }
      case 'scalars': {
        const sz = SCALAR_SIZE[f.type];
        if (f.count !== undefined) c += `  if (v.${f.name}.length !== ${f.count}) throw new RangeError('${s.name}.${f.name} must hold ${f.count} numbers');\n`;
        c += `  for (const x of v.${f.name}) { ${writeScalar(f.type, 'p', 'x')} p += ${sz}; }\n`;
        break;
      }
      case 'match':
        c += `  p = encodeMatch(v.${f.name}, b, p);\n`;
        break;
      case 'oxm':
        c += `  p = encodeOxm(v.${f.name}, b, p);\n`;
        break;
      case 'oxmIds':
        c += `  p = encodeOxmIds(v.${f.name}, b, p);\n`;
        break;
      case 'message': {
        const next = fields[i + 1];
        c += `  p = eMessage(v.${f.name}, b, p);\n`;
        if (next !== undefined && next.kind === 'list') c += `  if (v.${next.name}.length > 0) while (((p - o) & 7) !== 0) b[p++] = 0;\n`;
        break;
      }
    }
  }
  if (lenAt !== undefined) {
    if (style === 'padded') c += `  while (((p - o) & 7) !== 0) b[p++] = 0;\n`;
    c += `  ${writeScalar('u16', lenAt, 'p - o')}\n`;
    if (style === 'unpadded') c += `  while (((p - o) & 7) !== 0) b[p++] = 0;\n`;
  }
  c += '  return p;\n}\n\n';
  return c;
}

function genStructLength(s: StructDef): string {
  let fixedPart = 0;
  const parts: string[] = [];
  const fields = s.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    const size = fixedSize(f, nodes);
    if (size !== undefined) { fixedPart += size; continue; }
    switch (f.kind) {
      case 'bytes': parts.push(`v.${f.name}.length`); break;
      case 'list': {
        const n = node(f.of);
        const sz = n.kind === 'struct' && layout(n).lenAt === undefined ? structSize(n, nodes) : undefined;
        parts.push(sz !== undefined ? `v.${f.name}.length * ${sz}` : `sum(v.${f.name}, l${f.of})`);
        break;
      }
      case 'scalars': parts.push(`v.${f.name}.length * ${SCALAR_SIZE[f.type]}`); break;
      case 'match': parts.push(`matchLength(v.${f.name})`); break;
      case 'oxm': parts.push(`oxmLength(v.${f.name})`); break;
      case 'oxmIds': parts.push(`oxmIdsLength(v.${f.name})`); break;
      case 'message': {
        const next = fields[i + 1];
        parts.push(next !== undefined && next.kind === 'list'
          ? `(v.${next.name}.length > 0 ? pad8(lMessage(v.${f.name})) : lMessage(v.${f.name}))`
          : `lMessage(v.${f.name})`);
        break;
      }
      default: throw new Error(`length of ${f.kind}`);
    }
  }
  const sum = [String(fixedPart), ...parts].join(' + ');
  const aligned = s.lengthStyle === 'padded' || s.lengthStyle === 'unpadded';
  return `function l${s.name}(v: ${s.name}): number {\n  return ${aligned && parts.length > 0 ? `pad8(${sum})` : sum};\n}\n\n`;
}

function genDispatchEncoders(d: DispatchDef): string {
  const byNode = new Map<string, number[]>();
  for (const [v, n] of d.cases) byNode.set(n, [...(byNode.get(n) ?? []), v]);
  const sw = (fn: 'e' | 'l', args: string) => {
    let c = `  switch (v.${d.field}) {\n`;
    for (const [n, vs] of byNode) c += `    ${vs.map((v) => `case ${hex(v)}:`).join(' ')} return ${fn}${n}(v as ${n}${args});\n`;
    if (typeof d.fallback === 'string') c += `    default: return ${fn}${d.fallback}(v as ${d.fallback}${args});\n`;
    else c += `    default: throw new RangeError(\`${d.name}: unknown ${d.field} \${String((v as { ${d.field}?: unknown }).${d.field})}\`);\n`;
    return c + '  }\n';
  };
  return `function e${d.name}(v: ${d.name}, b: Buffer, o: number): number {\n${sw('e', ', b, o')}}\n\n`
    + `function l${d.name}(v: ${d.name}): number {\n${sw('l', '')}}\n\n`;
}

// ---------------------------------------------------------------------------------------------

export function generate(): string {
  const listed = new Set<string>();
  for (const n of nodes.values()) {
    if (n.kind === 'struct') for (const f of n.fields) if (f.kind === 'list') listed.add(f.of);
  }
  let out = `// Generated by proto/gen.ts from proto/of13.ts: do not edit. Run \`npm run gen\` after changing the description.
/* eslint-disable */

import { cur, fail, pad8, sum, readMac, writeMac, readIpv4, writeIpv4, readU64, writeU64, readStr, writeStr } from './runtime.js';
import {
  type Oxm, type OxmId, decodeMatch, encodeMatch, matchLength, decodeSetFieldOxm, encodeOxm, oxmLength,
  decodeOxmIds, encodeOxmIds, oxmIdsLength,
} from './oxm.js';

`;
  out += genTypes();
  for (const n of nodes.values()) {
    if (n.kind === 'struct') out += genStructDecoder(n) + genStructEncoder(n) + genStructLength(n);
    else out += genDispatchDecoder(n) + genDispatchEncoders(n);
    if (listed.has(n.name)) out += genListDecoder(n);
  }
  out += `/** Decodes the message at b[o..end) (end is o + the header's length); sets cur.p to its end. */
export const decodeMessageAt = dMessage;
/** Encodes a message at b[o..]; returns the offset after it. */
export const encodeMessageAt = eMessage;
/** The encoded size of a message in bytes. */
export const messageLength = lMessage;
/** Decodes the instruction list at b[o..e) (a flow-mod's, for its fast path in flowmod-wire.ts). */
export const decodeInstructionsAt = dlInstruction;
`;
  return out;
}

const target = fileURLToPath(new URL('../../src/openflow/generated.ts', import.meta.url));
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(target, generate());
  console.log(`wrote ${target}`);
}
