/**
 * Small helpers shared by the generated codec and the hand-written parts (OXM, framing).
 *
 * Decoders signal bad input by throwing OfpDecodeError, which carries the OpenFlow (type, code)
 * to answer with; the public entry points in decode.ts catch it and return it as a value, so no
 * exception ever leaves the codec. `cur.p` is how a decoder hands back the offset after the item
 * it read without allocating a result pair for every item.
 */

import { errorName, errorText } from '../../proto/errors.js';

export class OfpDecodeError extends Error {
  constructor(readonly errType: number, readonly code: number, detail?: string) {
    super(`${errorName(errType, code)}: ${detail ?? errorText(errType, code)}`);
    this.name = 'OfpDecodeError';
  }
}

/** Where the last decoder stopped (the offset after the item, padding included). */
export const cur = { p: 0 };

export function fail(type: number, code: number, detail?: string): never {
  throw new OfpDecodeError(type, code, detail);
}

export const pad8 = (n: number): number => (n + 7) & ~7;

export function sum<T>(items: readonly T[], size: (item: T) => number): number {
  let n = 0;
  for (const it of items) n += size(it);
  return n;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** `00:11:22:aa:bb:cc` */
export function readMac(b: Uint8Array, o: number): string {
  return `${HEX[b[o]!]}:${HEX[b[o + 1]!]}:${HEX[b[o + 2]!]}:${HEX[b[o + 3]!]}:${HEX[b[o + 4]!]}:${HEX[b[o + 5]!]}`;
}

/** Value of a hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** Parses `aa:bb:cc:dd:ee:ff` (one or two hex digits a group) without allocating. */
export function writeMac(b: Uint8Array, o: number, mac: string): void {
  let i = 0;
  for (let k = 0; k < 6; k++) {
    if (k > 0) {
      if (mac.charCodeAt(i) !== 58) throw new RangeError(`not an Ethernet address: ${JSON.stringify(mac)}`);
      i++;
    }
    const d1 = hexDigit(mac.charCodeAt(i));
    if (d1 < 0) throw new RangeError(`not an Ethernet address: ${JSON.stringify(mac)}`);
    const d2 = hexDigit(mac.charCodeAt(i + 1));
    if (d2 < 0) { b[o + k] = d1; i += 1; } else { b[o + k] = d1 * 16 + d2; i += 2; }
  }
  if (i !== mac.length) throw new RangeError(`not an Ethernet address: ${JSON.stringify(mac)}`);
}

export function readIpv4(b: Uint8Array, o: number): string {
  return `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
}

/** Parses dotted-quad IPv4 text without allocating. */
export function writeIpv4(b: Uint8Array, o: number, ip: string): void {
  let i = 0;
  for (let k = 0; k < 4; k++) {
    if (k > 0) {
      if (ip.charCodeAt(i) !== 46) throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
      i++;
    }
    let v = 0;
    const start = i;
    for (let c = ip.charCodeAt(i); c >= 48 && c <= 57 && i - start < 3; c = ip.charCodeAt(++i)) v = v * 10 + c - 48;
    if (i === start || v > 255) throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
    b[o + k] = v;
  }
  if (i !== ip.length) throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
}

const U64_MAX = (1n << 64n) - 1n;

// One 8-byte scratch cell seen as a bigint and as bytes: converting through it costs one bigint
// and no shifts (Buffer's readBigUInt64BE builds two intermediate bigints per value).
const cell64 = new BigUint64Array(1);
const cell8 = new Uint8Array(cell64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Reads a 64-bit unsigned big-endian value as a bigint. */
export function readU64(b: Uint8Array, o: number): bigint {
  // Zero (most cookies, every ADD's cookie mask) is the shared literal: no BigInt allocated.
  if ((b[o]! | b[o + 1]! | b[o + 2]! | b[o + 3]! | b[o + 4]! | b[o + 5]! | b[o + 6]! | b[o + 7]!) === 0) return 0n;
  if (LITTLE) for (let i = 0; i < 8; i++) cell8[i] = b[o + 7 - i]!;
  else for (let i = 0; i < 8; i++) cell8[i] = b[o + i]!;
  return cell64[0]!;
}

/** Writes a 64-bit unsigned bigint big-endian (a typed array would wrap: the range is checked). */
export function writeU64(b: Uint8Array, o: number, v: bigint): void {
  if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new RangeError(`not a 64-bit unsigned bigint: ${String(v)}`);
  cell64[0] = v;
  if (LITTLE) for (let i = 0; i < 8; i++) b[o + i] = cell8[7 - i]!;
  else for (let i = 0; i < 8; i++) b[o + i] = cell8[i]!;
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of zero groups (two or more) as `::`. */
export function readIpv6(b: Uint8Array, o: number): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push(b[o + 2 * i]! << 8 | b[o + 2 * i + 1]!);
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) best = i, bestLen = j - i;
    i = j;
  }
  const hex = (xs: number[]) => xs.map((x) => x.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export function writeIpv6(b: Uint8Array, o: number, ip: string): void {
  const bad = () => new RangeError(`not an IPv6 address: ${JSON.stringify(ip)}`);
  const halves = ip.split('::');
  if (halves.length > 2) throw bad();
  const groups = (s: string): number[] => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i]!;
      if (i === parts.length - 1 && part.includes('.')) {
        const v4 = new Uint8Array(4);
        writeIpv4(v4, 0, part);
        out.push(v4[0]! << 8 | v4[1]!, v4[2]! << 8 | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(part)) throw bad();
        out.push(parseInt(part, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (halves.length === 1 ? head.length !== 8 : head.length + tail.length > 7) throw bad();
  const all = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  for (let i = 0; i < 8; i++) {
    b[o + 2 * i] = all[i]! >>> 8;
    b[o + 2 * i + 1] = all[i]! & 0xff;
  }
}

/** Fixed-size NUL-padded text; bytes are taken as Latin-1 so that every byte survives a round trip. */
export function readStr(b: Uint8Array, o: number, size: number): string {
  let e = o;
  const end = o + size;
  while (e < end && b[e] !== 0) e++;
  return Buffer.from(b.buffer, b.byteOffset + o, e - o).toString('latin1');
}

export function writeStr(b: Uint8Array, o: number, size: number, s: string): void {
  if (s.length > size) throw new RangeError(`text longer than ${size} bytes: ${JSON.stringify(s)}`);
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`text is not Latin-1: ${JSON.stringify(s)}`);
    b[o + i] = c;
  }
  for (; i < size; i++) b[o + i] = 0;
}

export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!];
  return s;
}

/** Hex text to bytes; spaces, newlines, colons and a 0x prefix are ignored. Undefined if not hex. */
export function fromHex(text: string): Buffer | undefined {
  const clean = text.replace(/0x/gi, '').replace(/[\s:.,]/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) return undefined;
  return Buffer.from(clean, 'hex');
}
