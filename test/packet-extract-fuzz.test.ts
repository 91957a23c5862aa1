/**
 * Fuzzing flow-key extraction: over 1,000,000 mutated and truncated frames per run.
 *
 * For every input, extract() must not throw, and must not read outside [start, end): the frame is
 * placed inside a larger buffer between random guard bytes, extracted, the guard bytes are
 * replaced by different random ones, and it is extracted again into a second key and Offsets;
 * both must be identical (a read outside the frame would see the difference). Every recorded
 * offset must lie within [start, end]. A sample is also extracted from a tight copy (start 0, no
 * bytes around it) and must give the same key.
 *
 * Inputs, from a seeded PRNG (FUZZ_SEED to replay; the seed is printed):
 * - every truncation of every golden frame and of a set of builder frames;
 * - random bytes behind plausible ethertypes (IPv4/IPv6 with a believable first byte, ARP,
 *   VLAN/QinQ, MPLS, PBB, 802.3 with LLC/SNAP);
 * - byte flips, overwrites, insertions and deletions in the base frames;
 * - corruptions of length fields, located from a clean extraction: IPv4 IHL and total length,
 *   IPv6 payload length and extension header lengths, TCP data offset, UDP length, ND option
 *   lengths, MPLS bottom-of-stack bits, VLAN TPIDs;
 * each mutated frame also cut short at a random length a third of the time.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { extract } from '../src/packet/extract.js';
import { K, KF, newKey } from '../src/packet/key.js';
import { Offsets } from '../src/packet/packet.js';
import { buildPacket, type PacketDesc } from '../src/packet/build.js';
import { Rng, FUZZ_SEED as SEED, FUZZ_SCALE as SCALE } from './rng.js';

/** Byte values extraction branches on: IP protocol and extension-header numbers, ND types. */
const INTERESTING = [0, 6, 17, 43, 44, 50, 51, 58, 59, 60, 132, 135, 136, 1, 2];



// ---------------------------------------------------------------------------------------------
// Base frames
// ---------------------------------------------------------------------------------------------

const root = new URL('../../', import.meta.url);
const goldens = JSON.parse(readFileSync(new URL('test/fixtures/packets/goldens.json', root), 'utf8')) as {
  packets: Array<{ name: string; hex: string }>;
};

const built: PacketDesc[] = [
  { ipv4: {}, udp: {}, payload: new Uint8Array(18) },
  { vlans: [{ vid: 1 }, { tpid: 0x88a8, vid: 2 }, { vid: 3 }], ipv4: { options: Uint8Array.of(0x94, 4, 0, 0, 1, 1, 1, 0) }, tcp: { options: Uint8Array.of(2, 4, 5, 0xb4, 1, 1, 4, 2) } },
  { mpls: [{ label: 1 }, { label: 2 }, { label: 3 }, { label: 4 }, { label: 5 }], ipv6: {}, udp: {} },
  { pbb: { isid: 5, inner: { vlans: [{ vid: 7 }], ipv4: {}, tcp: {} } } },
  { ipv6: { ext: [{ type: 'hop', length: 16 }, { type: 'dest' }, { type: 'routing', length: 24 }, { type: 'frag', more: true }, { type: 'ah' }, { type: 'dest' }] }, tcp: {} },
  { ipv6: { ext: [{ type: 'frag', offset: 100 }] }, udp: {}, payload: new Uint8Array(30) },
  { ipv6: { ext: [{ type: 'ah' }, { type: 'esp', length: 24 }] } },
  { ipv6: { ext: [{ type: 'dest' }, { type: 'none' }] }, payload: new Uint8Array(9) },
  { ipv6: {}, nd: { type: 135, target: 'fe80::2', sll: '00:00:00:00:00:05' } },
  { ipv6: {}, nd: { type: 136, target: 'fe80::2', tll: '00:00:00:00:00:06', flags: 0x60 }, minLength: 120 },
  { ipv6: {}, icmpv6: { type: 128 }, payload: new Uint8Array(12) },
  { ipv4: { mf: true }, sctp: {}, payload: new Uint8Array(16) },
  { ipv4: {}, icmp: { type: 0 }, payload: new Uint8Array(8) },
  { arp: { op: 2 }, minLength: 60 },
  { vlans: [{ vid: 9 }], arp: {}, minLength: 64 },
];

const bases: Uint8Array[] = [
  ...goldens.packets.map((g) => Uint8Array.from(Buffer.from(g.hex, 'hex'))),
  ...built.map((d) => Uint8Array.from(buildPacket(d))),
].filter((f) => f.length > 0);

/** Where the length fields of a base frame are, from a clean extraction. */
interface Fields { ipv4?: number; ipv6?: number; ext: number[]; tcp?: number; udp?: number; ndOpts: number[]; mpls: number[]; tpids: number[] }

function locate(frame: Uint8Array): Fields {
  const key = newKey();
  const off = new Offsets();
  extract(frame, 0, frame.length, key, off);
  const f: Fields = { ext: [], ndOpts: [], mpls: [], tpids: [] };
  const type = key[K.ETH_TYPE];
  if (off.l3 >= 0 && type === 0x0800) f.ipv4 = off.l3;
  if (off.l3 >= 0 && type === 0x86dd) {
    f.ipv6 = off.l3;
    // Walk the extension headers the same way the wire says: (next, len) at each.
    let nh = frame[off.l3 + 6]!;
    let q = off.l3 + 40;
    while ([0, 43, 44, 51, 60].includes(nh) && q + 2 <= frame.length) {
      f.ext.push(q);
      const len = nh === 44 ? 8 : nh === 51 ? (frame[q + 1]! + 2) * 4 : (frame[q + 1]! + 1) * 8;
      nh = frame[q]!;
      q += len;
    }
  }
  const proto = key[K.NW]! & 0xff;
  if (off.l4 >= 0 && proto === 6) f.tcp = off.l4;
  if (off.l4 >= 0 && proto === 17) f.udp = off.l4;
  if (off.ndTarget >= 0) for (let o = off.ndTarget + 16; o + 2 <= frame.length && frame[o + 1]! > 0; o += frame[o + 1]! * 8) f.ndOpts.push(o);
  for (let i = 0; i < off.mplsCount; i++) f.mpls.push(off.mpls + 4 * i);
  for (let i = 0; i < off.vlanCount; i++) f.tpids.push(off.vlan + 4 * i);
  return f;
}

const located = bases.map(locate);

// ---------------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------------

const GUARD = 24;
const buf = new Uint8Array(GUARD + 4096 + GUARD);
const k1 = newKey();
const k2 = newKey();
const k3 = newKey();
const o1 = new Offsets();
const o2 = new Offsets();
const o3 = new Offsets();
const OFFSET_FIELDS = ['l2', 'vlan', 'ethType', 'pbb', 'mpls', 'l3', 'l4', 'l7', 'ndTarget', 'ndSll', 'ndTll', 'ipv6Frag'] as const;

interface Stats { inputs: number; truncated: number; malformed: number; deep: number; l4: number; nd: number; exthdr: number }

/** Runs one input; returns a description of the failure, or undefined. */
function runOne(rng: Rng, frame: Uint8Array, len: number, stats: Stats, tight: boolean): string | undefined {
  const before = 1 + rng.int(GUARD - 1);
  const start = before;
  const end = start + len;
  for (let i = 0; i < start; i++) buf[i] = rng.int(256);
  buf.set(frame.subarray(0, len), start);
  for (let i = end; i < end + GUARD; i++) buf[i] = rng.int(256);
  try {
    k1[K.FLAGS] = 0;
    extract(buf, start, end, k1, o1);
    for (let i = 0; i < start; i++) buf[i] = ~buf[i]! & 0xff;
    for (let i = end; i < end + GUARD; i++) buf[i] = ~buf[i]! & 0xff;
    k2[K.FLAGS] = 0;
    extract(buf, start, end, k2, o2);
  } catch (e) {
    return `threw ${String(e)}`;
  }
  for (let i = 0; i < K.WORDS; i++) if (k1[i] !== k2[i]) return `key word ${i} depends on bytes outside the frame`;
  for (const name of OFFSET_FIELDS) {
    const v = o1[name];
    if (v !== o2[name]) return `offset ${name} depends on bytes outside the frame`;
    if (v !== -1 && (v < start || v > end)) return `offset ${name}=${v} outside [${start}, ${end}]`;
  }
  if (o1.vlanCount !== o2.vlanCount || o1.mplsCount !== o2.mplsCount) return 'counts depend on bytes outside the frame';
  if (o1.vlanCount > 0 && o1.vlan + 4 * o1.vlanCount > end) return 'VLAN tags run past the end';
  if (o1.mplsCount > 0 && o1.mpls + 4 * o1.mplsCount > end) return 'MPLS entries run past the end';
  if (o1.ndSll >= 0 && o1.ndSll + 6 > end) return 'nd_sll runs past the end';
  if (o1.ndTll >= 0 && o1.ndTll + 6 > end) return 'nd_tll runs past the end';
  if (o1.ndTarget >= 0 && o1.ndTarget + 16 > end) return 'nd_target runs past the end';
  if (tight) {
    const copy = buf.slice(start, end);
    k3[K.FLAGS] = 0;
    extract(copy, 0, copy.length, k3, o3);
    for (let i = 0; i < K.WORDS; i++) if (k1[i] !== k3[i]) return `key word ${i} differs in a tight copy`;
    if (o3.l4 !== (o1.l4 < 0 ? -1 : o1.l4 - start)) return 'l4 differs in a tight copy';
  }
  const flags = k1[K.FLAGS]!;
  stats.inputs++;
  if (flags & KF.TRUNCATED) stats.truncated++;
  if (flags & KF.MALFORMED) stats.malformed++;
  if (flags & KF.DEEP_STACK) stats.deep++;
  if (o1.l4 >= 0) stats.l4++;
  if (o1.ndSll >= 0 || o1.ndTll >= 0) stats.nd++;
  if (k1[K.IPV6_EXTHDR] !== 0) stats.exthdr++;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Mutators (write into `scratch`, return the length)
// ---------------------------------------------------------------------------------------------

const scratch = new Uint8Array(4096);

function randomBehindEthertype(rng: Rng): number {
  for (let i = 0; i < 12; i++) scratch[i] = rng.int(256);
  let p = 12;
  const put16 = (v: number) => { scratch[p++] = v >>> 8; scratch[p++] = v & 0xff; };
  const tags = rng.chance(0.3) ? rng.int(4) : 0;
  for (let i = 0; i < tags; i++) {
    put16(rng.pick([0x8100, 0x88a8, 0x9100]));
    put16(rng.int(0x10000));
  }
  const type = rng.pick([0x0800, 0x0800, 0x86dd, 0x86dd, 0x0806, 0x8035, 0x8847, 0x8848, 0x88e7, 0x8100, 0x0040, 0x05dc, 0x88cc]);
  put16(type);
  if (type < 0x600 && rng.chance(0.7)) {
    scratch.set([0xaa, 0xaa, 0x03, 0, 0, rng.chance(0.8) ? 0 : 1], p);
    p += 6;
    put16(rng.pick([0x0800, 0x86dd, 0x0806, 0x8847, 0x1234]));
  }
  const n = rng.int(rng.chance(0.5) ? 80 : 300);
  for (let i = 0; i < n; i++) scratch[p + i] = rng.byte();
  // Make the L3 header believable often enough to get deep into it.
  if (n > 0 && rng.chance(0.8)) {
    const l3Type = (scratch[p - 2]! << 8) | scratch[p - 1]!;
    if (l3Type === 0x0800) {
      scratch[p] = 0x40 | (rng.chance(0.8) ? 5 : rng.int(16));
      if (n > 4 && rng.chance(0.7)) { scratch[p + 2] = 0; scratch[p + 3] = Math.min(n, 255); }
      if (n > 8 && rng.chance(0.7)) { scratch[p + 6] = 0; scratch[p + 7] = 0; }
      if (n > 9) scratch[p + 9] = rng.pick([1, 6, 17, 132, 50, 47]);
    } else if (l3Type === 0x86dd) {
      scratch[p] = 0x60 | rng.int(16);
      if (n > 6 && rng.chance(0.7)) { scratch[p + 4] = 0; scratch[p + 5] = Math.max(0, n - 40); }
      if (n > 6) scratch[p + 6] = rng.pick([0, 6, 17, 43, 44, 50, 51, 58, 59, 60, 132]);
      if (n > 44 && scratch[p + 6] === 58 && rng.chance(0.6)) { scratch[p + 40] = rng.pick([135, 136]); scratch[p + 41] = 0; }
    } else if (l3Type === 0x0806 && n >= 6) {
      scratch.set([0, 1, 8, 0, 6, 4], p);
    }
  }
  return p + n;
}

function mutate(rng: Rng, base: Uint8Array): number {
  let len = base.length;
  scratch.set(base);
  const edits = 1 + rng.int(4);
  for (let e = 0; e < edits; e++) {
    switch (rng.int(5)) {
      case 0: // flip a bit
        if (len > 0) { const i = rng.int(len); scratch[i] = scratch[i]! ^ (1 << rng.int(8)); }
        break;
      case 1: // overwrite a byte
        if (len > 0) scratch[rng.int(len)] = rng.byte();
        break;
      case 2: { // insert bytes
        const at = rng.int(len + 1);
        const n = 1 + rng.int(8);
        if (len + n > scratch.length) break;
        scratch.copyWithin(at + n, at, len);
        for (let i = 0; i < n; i++) scratch[at + i] = rng.byte();
        len += n;
        break;
      }
      case 3: { // delete bytes
        if (len === 0) break;
        const at = rng.int(len);
        const n = Math.min(len - at, 1 + rng.int(8));
        scratch.copyWithin(at, at + n, len);
        len -= n;
        break;
      }
      default: { // duplicate a slice (repeats headers)
        if (len < 8) break;
        const from = rng.int(len - 4);
        const n = Math.min(4 + rng.int(24), len - from, scratch.length - len);
        const at = rng.int(len + 1);
        const slice = scratch.slice(from, from + n);
        scratch.copyWithin(at + n, at, len);
        scratch.set(slice, at);
        len += n;
      }
    }
  }
  return len;
}

function corruptLengths(rng: Rng, base: Uint8Array, f: Fields): number {
  scratch.set(base);
  const len = base.length;
  const choices: Array<() => void> = [];
  const any16 = (at: number) => {
    const v = rng.pick([0, 1, 7, 8, 19, 20, 39, 40, 0xffff, 0x8000, rng.int(0x10000), len, len - 14, len + 1]);
    scratch[at] = v >>> 8;
    scratch[at + 1] = v & 0xff;
  };
  if (f.ipv4 !== undefined) {
    const p = f.ipv4;
    choices.push(() => { scratch[p] = (scratch[p]! & 0xf0) | rng.int(16); });
    choices.push(() => any16(p + 2));
    choices.push(() => { scratch[p + 6] = rng.int(256); scratch[p + 7] = rng.int(256); });
  }
  if (f.ipv6 !== undefined) {
    const p = f.ipv6;
    choices.push(() => any16(p + 4));
    choices.push(() => { scratch[p + 6] = rng.pick([0, 43, 44, 50, 51, 59, 60, 6, 17, 58]); });
  }
  for (const q of f.ext) {
    choices.push(() => { scratch[q + 1] = rng.pick([0, 1, 2, 255, rng.int(256)]); });
    choices.push(() => { scratch[q] = rng.pick([0, 43, 44, 50, 51, 59, 60, 6, 17, 58]); });
    choices.push(() => { scratch[q + 2] = rng.int(256); scratch[q + 3] = rng.int(256); });
  }
  if (f.tcp !== undefined) {
    const q = f.tcp;
    choices.push(() => { scratch[q + 12] = (rng.int(16) << 4) | (scratch[q + 12]! & 0x0f); });
  }
  if (f.udp !== undefined) choices.push(() => any16(f.udp! + 4));
  for (const o of f.ndOpts) {
    choices.push(() => { scratch[o + 1] = rng.pick([0, 1, 2, 3, 255]); });
    choices.push(() => { scratch[o] = rng.pick([1, 2, 3, 14]); });
  }
  for (const m of f.mpls) choices.push(() => { scratch[m + 2] = scratch[m + 2]! ^ 1; });
  for (const v of f.tpids) choices.push(() => { scratch[v] = 0x81; scratch[v + 1] = rng.pick([0x00, 0x01]); });
  if (choices.length === 0) return mutate(rng, base);
  const n = 1 + rng.int(3);
  for (let i = 0; i < n; i++) rng.pick(choices)();
  return len;
}

// ---------------------------------------------------------------------------------------------

test('extraction survives 1,000,000+ mutated and truncated frames without reading outside them', (t) => {
  t.log(`FUZZ_SEED=${SEED}`);
  const rng = new Rng(SEED, INTERESTING);
  const stats: Stats = { inputs: 0, truncated: 0, malformed: 0, deep: 0, l4: 0, nd: 0, exthdr: 0 };
  const failures = new Map<string, string>();
  const note = (what: string | undefined, frame: Uint8Array, len: number) => {
    if (what !== undefined && !failures.has(what)) failures.set(what, Buffer.from(frame.subarray(0, len)).toString('hex'));
  };
  const t0 = process.hrtime.bigint();

  // Every truncation of every base frame.
  let truncations = 0;
  for (const base of bases) {
    for (let len = 0; len <= base.length; len++) {
      note(runOne(rng, base, len, stats, (len & 7) === 0), base, len);
      truncations++;
    }
  }

  const random = Math.round(1_050_000 * SCALE);
  const kinds = [0, 0, 0];
  for (let i = 0; i < random; i++) {
    const which = rng.int(10);
    let len: number;
    if (which < 3) {
      len = randomBehindEthertype(rng);
      kinds[0]++;
    } else {
      const b = rng.int(bases.length);
      len = which < 7 ? mutate(rng, bases[b]!) : corruptLengths(rng, bases[b]!, located[b]!);
      kinds[which < 7 ? 1 : 2]++;
    }
    if (rng.chance(0.33)) len = rng.int(len + 1);
    note(runOne(rng, scratch, len, stats, (i & 15) === 0), scratch, len);
  }
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  t.log(
    `${stats.inputs} inputs (${truncations} truncations of ${bases.length} base frames; random: ${kinds[0]} behind ethertypes, ` +
      `${kinds[1]} byte mutations, ${kinds[2]} length corruptions) in ${(ms / 1000).toFixed(1)} s; ` +
      `truncated ${stats.truncated}, malformed ${stats.malformed}, deep stack ${stats.deep}, with L4 ${stats.l4}, ` +
      `with ND options ${stats.nd}, with IPv6 ext bits ${stats.exthdr}`,
  );
  t.deepEqual([...failures].map(([what, hex]) => `${what} (seed ${SEED}): ${hex}`), []);
  t.true(stats.inputs >= 1_000_000 * SCALE);
  // The mix reaches every part of the parser.
  for (const [name, n] of Object.entries(stats)) t.true(n > 1000, `only ${n} inputs with ${name}`);
});
