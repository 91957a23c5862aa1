/**
 * The language the OpenFlow wire format is described in (see of13.ts for the description).
 *
 * Two kinds of node:
 * - a Struct: fields in wire order. Discriminators are `const` fields; a struct may carry its own
 *   length (`len` field) which bounds its region; otherwise it is either fixed-size or runs to the
 *   end of the region its container gives it.
 * - a Dispatch: looks at a number at a fixed offset of the item and picks the struct to decode;
 *   unknown numbers go to a fallback struct or become an OpenFlow error.
 *
 * From this one model, proto/gen.ts generates TypeScript types and the decode/encode/length
 * functions (src/openflow/generated.ts), and src/openflow/json.ts and format.ts walk it at run
 * time for the JSON form and the text form.
 */

import type { EnumName } from './constants.js';

export type Scalar = 'u8' | 'u16' | 'u24' | 'u32' | 'u64' | 'mac' | 'ipv4';

export type ErrorPair = readonly [type: number, code: number];

export type Field =
  /** A number (bigint for u64, string for mac/ipv4). `values` makes it a discriminator. */
  | {
      readonly kind: 'scalar'; readonly name: string; readonly type: Scalar;
      readonly enum?: EnumName; readonly values?: readonly number[];
      /** Optional in memory; written as `default` when absent (version, xid). */
      readonly default?: number;
    }
  /** The item's own length: computed on encode, checked on decode, not held in memory. */
  | { readonly kind: 'length'; readonly name: string; readonly type: 'u16' }
  /** Length in bytes of a later list field, computed on encode (packet-out's actions_len). */
  | { readonly kind: 'lengthOf'; readonly name: string; readonly type: 'u16'; readonly of: string }
  | { readonly kind: 'pad'; readonly size: number }
  /** Fixed-size NUL-padded text. */
  | { readonly kind: 'str'; readonly name: string; readonly size: number }
  /** Opaque bytes to the end of the region. */
  | { readonly kind: 'bytes'; readonly name: string }
  /** A fixed-size struct inline. */
  | { readonly kind: 'struct'; readonly name: string; readonly of: string }
  /** Items of a node, to the end of the region or for `lengthFrom` bytes. */
  | { readonly kind: 'list'; readonly name: string; readonly of: string; readonly lengthFrom?: string }
  /** Numbers: `count` of them, or to the end of the region. */
  | { readonly kind: 'scalars'; readonly name: string; readonly type: 'u8' | 'u32'; readonly count?: number }
  /** ofp_match (type OXM), padded to 8 bytes. */
  | { readonly kind: 'match'; readonly name: string }
  /** One OXM TLV, then padding to the end of the region (set-field). */
  | { readonly kind: 'oxm'; readonly name: string }
  /** OXM headers (table-feature properties): 4 bytes each, 8 for the experimenter class. */
  | { readonly kind: 'oxmIds'; readonly name: string }
  /** A whole OpenFlow message, padded to 8 bytes when anything follows it (bundle add). */
  | { readonly kind: 'message'; readonly name: string };

export interface StructDef {
  readonly kind: 'struct';
  /** TypeScript interface name. */
  readonly name: string;
  readonly fields: readonly Field[];
  /**
   * How the item's `length` field counts: 'padded' (includes padding to 8 bytes, which must then
   * be a multiple of 8), 'unpadded' (excludes the padding that follows it), or 'exact' (no
   * alignment: messages).
   */
  readonly lengthStyle?: 'padded' | 'unpadded' | 'exact';
  /** (type, code) for any length or bounds problem inside this item. */
  readonly lenError: ErrorPair;
}

export interface DispatchDef {
  readonly kind: 'dispatch';
  /** TypeScript union name. */
  readonly name: string;
  /** The in-memory property that holds the discriminator, and where it sits on the wire. */
  readonly field: string;
  readonly at: number;
  readonly type: 'u8' | 'u16' | 'u32';
  readonly cases: ReadonlyArray<readonly [value: number, node: string]>;
  /** A struct for every other value, or the error to report. */
  readonly fallback: string | ErrorPair;
  readonly lenError: ErrorPair;
}

export type NodeDef = StructDef | DispatchDef;

export const SCALAR_SIZE: Readonly<Record<Scalar | 'u8' | 'u32', number>> = {
  u8: 1, u16: 2, u24: 3, u32: 4, u64: 8, mac: 6, ipv4: 4,
};

// Constructors, so the description reads like the C structures it mirrors.
type Opts = { enum?: EnumName; default?: number };
const scalar = (type: Scalar) => (name: string, opts: Opts = {}): Field => ({ kind: 'scalar', name, type, ...opts });
export const u8 = scalar('u8');
export const u16 = scalar('u16');
export const u24 = scalar('u24');
export const u32 = scalar('u32');
export const u64 = scalar('u64');
export const mac = scalar('mac');
export const konst = (name: string, type: 'u8' | 'u16' | 'u32', values: number[], e?: EnumName): Field =>
  ({ kind: 'scalar', name, type, values, enum: e });
export const len = (name = 'length'): Field => ({ kind: 'length', name, type: 'u16' });
export const lenOf = (name: string, of: string): Field => ({ kind: 'lengthOf', name, type: 'u16', of });
export const pad = (size: number): Field => ({ kind: 'pad', size });
export const str = (name: string, size: number): Field => ({ kind: 'str', name, size });
export const bytes = (name: string): Field => ({ kind: 'bytes', name });
export const struct = (name: string, of: string): Field => ({ kind: 'struct', name, of });
export const list = (name: string, of: string, lengthFrom?: string): Field => ({ kind: 'list', name, of, lengthFrom });
export const scalars = (name: string, type: 'u8' | 'u32', count?: number): Field => ({ kind: 'scalars', name, type, count });
export const match = (name = 'match'): Field => ({ kind: 'match', name });
export const oxm = (name: string): Field => ({ kind: 'oxm', name });
export const oxmIds = (name: string): Field => ({ kind: 'oxmIds', name });
export const message = (name: string): Field => ({ kind: 'message', name });

/** Size in bytes of a field that has one, or undefined for variable-size fields. */
export function fixedSize(f: Field, nodes: ReadonlyMap<string, NodeDef>): number | undefined {
  switch (f.kind) {
    case 'scalar': return SCALAR_SIZE[f.type];
    case 'length': case 'lengthOf': return 2;
    case 'pad': case 'str': return f.size;
    case 'struct': {
      const n = nodes.get(f.of);
      if (n?.kind !== 'struct') throw new Error(`struct field ${f.name}: ${f.of} is not a struct`);
      return structSize(n, nodes);
    }
    case 'scalars': return f.count === undefined ? undefined : f.count * SCALAR_SIZE[f.type];
    default: return undefined;
  }
}

/** Size of a struct whose every field is fixed, else undefined. */
export function structSize(s: StructDef, nodes: ReadonlyMap<string, NodeDef>): number | undefined {
  let n = 0;
  for (const f of s.fields) {
    const size = fixedSize(f, nodes);
    if (size === undefined) return undefined;
    n += size;
  }
  return n;
}

/** Bytes before the first variable-size field: the least an item can be. */
export function minSize(s: StructDef, nodes: ReadonlyMap<string, NodeDef>): number {
  let n = 0;
  for (const f of s.fields) {
    const size = fixedSize(f, nodes);
    if (size === undefined) break;
    n += size;
  }
  return n;
}
