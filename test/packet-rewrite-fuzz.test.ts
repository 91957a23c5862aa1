/**
 * Fuzzing the rewrites: at least 1,000,000 mutated and truncated frames per run, each extracted and
 * put through one to three rewrites chosen by a seeded PRNG (every rewrite function, every
 * set_field field, and the checksum functions the port layer and the tests call).
 *
 * Each frame is run twice, with different guard bytes around it (in the headroom in front and
 * after its end). For each run:
 * - nothing throws;
 * - no write outside the frame: bytes before min(old start, new start) and from the frame's end on
 *   are still the guard bytes (a push legitimately takes headroom in front; a pop leaves stale bytes
 *   where the frame used to start, which are no longer the frame's);
 * - the Offsets the rewrites kept are those extraction gives for the resulting frame.
 * Between the two runs: the same results, the same frame bytes and the same offsets. A read of a
 * guard byte that changed anything would make them differ: no read outside the frame.
 * Every operation must also have changed some frames (not just returned false), so that each gets
 * its share of real work.
 *
 * The seed is random unless FUZZ_SEED is set; it is printed, and with every failure.
 * FUZZ_SCALE scales the number of frames (1 = 1,000,000).
 */
import test from 'ava';
import { OFPXMT } from '../proto/constants.js';
import { buildPacket, type PacketDesc } from '../src/packet/build.js';
import { extract } from '../src/packet/extract.js';
import { newKey } from '../src/packet/key.js';
import { Packet, Offsets } from '../src/packet/packet.js';
import { completeChecksum, l4Checksum, verifyChecksums } from '../src/packet/checksum.js';
import {
  setField, pushVlan, popVlan, pushMpls, popMpls, setMplsTtl, decMplsTtl, setNwTtl, decNwTtl, copyTtlOut, copyTtlIn,
  pushPbb, popPbb,
} from '../src/packet/rewrite.js';
import { Rng, FUZZ_SEED as SEED, FUZZ_SCALE } from './rng.js';

/** Byte values the rewrites branch on: ethertype and IP version/protocol bytes. */
const INTERESTING = [0x81, 0x88, 0x86, 0x08, 0x06, 0xdd, 0xa8, 0x47, 0xe7, 0x45, 0x60, 0x11, 0x3a, 0x84, 0x80, 0x8f];

const FRAMES = Math.round(1_000_000 * FUZZ_SCALE);


// ---------------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------------

const t = (s: string) => Uint8Array.from(Buffer.from(s));
const ip4Body = (d: PacketDesc) => buildPacket(d).subarray(14);

const BASES: PacketDesc[] = [
  { ipv4: {}, tcp: { options: Uint8Array.of(2, 4, 5, 0xb4) }, payload: t('tcp payload') },
  { ipv4: { options: Uint8Array.of(0x94, 4, 0, 0) }, udp: {}, payload: t('udp'), minLength: 60 },
  { ipv4: {}, udp: {}, l4Checksum: 'zero' },
  { ipv4: {}, icmp: { type: 8 }, payload: t('ping') },
  { ipv4: {}, sctp: {}, payload: t('sctp data') },
  { ipv4: { mf: true }, tcp: {} },
  { ipv4: { fragOffset: 5, proto: 17 }, payload: t('later') },
  { ipv4: { proto: 4 }, payload: ip4Body({ ipv4: { ttl: 9 }, udp: {} }) },
  { ipv6: {}, tcp: {}, payload: t('v6 tcp') },
  { ipv6: { ext: [{ type: 'hop' }, { type: 'routing' }, { type: 'dest', length: 16 }] }, udp: {}, payload: t('ext') },
  { ipv6: { ext: [{ type: 'frag', more: true }] }, udp: {} },
  { ipv6: { ext: [{ type: 'ah' }] }, sctp: {}, payload: t('ah sctp') },
  { ipv6: { ext: [{ type: 'esp' }] }, payload: t('encrypted') },
  { ipv6: {}, sctp: {}, payload: t('v6 sctp') },
  { ipv6: {}, icmpv6: { type: 128 }, payload: t('echo') },
  { ipv6: {}, nd: { type: 135, target: 'fe80::2', sll: '02:00:00:00:00:01' } },
  { ipv6: {}, nd: { type: 136, target: 'fe80::2', tll: '02:00:00:00:00:02' } },
  { ipv6: { nextHeader: 41 }, payload: buildPacket({ ipv6: { hlim: 7 }, udp: {} }).subarray(14) },
  { arp: {} },
  { arp: { op: 2 }, vlans: [{ vid: 5 }] },
  { vlans: [{ vid: 1, pcp: 7 }], ipv4: {}, tcp: {} },
  { vlans: [{ tpid: 0x88a8, vid: 2 }, { vid: 3 }], ipv6: {}, udp: {} },
  { vlans: [{ vid: 1 }, { vid: 2 }, { vid: 3 }], ipv4: {}, udp: {} },
  { mpls: [{ label: 1, ttl: 5 }], ipv4: {}, udp: {} },
  { mpls: [{ label: 1 }, { label: 2 }], ipv6: {}, tcp: {} },
  { mpls: [{ label: 1 }, { label: 2 }, { label: 3 }, { label: 4 }], ipv4: {}, icmp: { type: 0 } },
  { vlans: [{ vid: 9 }], mpls: [{ label: 7 }], arp: {} },
  { pbb: { isid: 77, pcp: 2, inner: { ipv4: {}, tcp: {} } } },
  { vlans: [{ tpid: 0x88a8, vid: 4 }], pbb: { isid: 1, inner: { vlans: [{ vid: 8 }], ipv6: {}, udp: {} } } },
  { ethType: 46, payload: Uint8Array.from([0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00, ...ip4Body({ ipv4: {}, udp: {} })]) },
  { ethType: 30, payload: new Uint8Array(30).fill(0x42) },
  { payload: t('opaque ethertype') },
  { ipv4: {}, tcp: {}, payload: new Uint8Array(1400).fill(7) },
];
const CORPUS = BASES.map((d) => buildPacket(d));

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

const SIZES: Record<number, number> = {
  [OFPXMT.ETH_DST]: 6, [OFPXMT.ETH_SRC]: 6, [OFPXMT.ETH_TYPE]: 2, [OFPXMT.VLAN_VID]: 2, [OFPXMT.VLAN_PCP]: 1,
  [OFPXMT.IP_DSCP]: 1, [OFPXMT.IP_ECN]: 1, [OFPXMT.IP_PROTO]: 1, [OFPXMT.IPV4_SRC]: 4, [OFPXMT.IPV4_DST]: 4,
  [OFPXMT.TCP_SRC]: 2, [OFPXMT.TCP_DST]: 2, [OFPXMT.UDP_SRC]: 2, [OFPXMT.UDP_DST]: 2, [OFPXMT.SCTP_SRC]: 2,
  [OFPXMT.SCTP_DST]: 2, [OFPXMT.ICMPV4_TYPE]: 1, [OFPXMT.ICMPV4_CODE]: 1, [OFPXMT.ARP_OP]: 2, [OFPXMT.ARP_SPA]: 4,
  [OFPXMT.ARP_TPA]: 4, [OFPXMT.ARP_SHA]: 6, [OFPXMT.ARP_THA]: 6, [OFPXMT.IPV6_SRC]: 16, [OFPXMT.IPV6_DST]: 16,
  [OFPXMT.IPV6_FLABEL]: 4, [OFPXMT.ICMPV6_TYPE]: 1, [OFPXMT.ICMPV6_CODE]: 1, [OFPXMT.IPV6_ND_TARGET]: 16,
  [OFPXMT.IPV6_ND_SLL]: 6, [OFPXMT.IPV6_ND_TLL]: 6, [OFPXMT.MPLS_LABEL]: 4, [OFPXMT.MPLS_TC]: 1, [OFPXMT.MPLS_BOS]: 1,
  [OFPXMT.PBB_ISID]: 3, [OFPXMT.TUNNEL_ID]: 8, [OFPXMT.METADATA]: 8, [OFPXMT.IN_PORT]: 4, [OFPXMT.IN_PHY_PORT]: 4, [OFPXMT.IPV6_EXTHDR]: 2,
};
/** Fields that never apply (metadata, not settable): called, but not required to change frames. */
const NEVER: ReadonlySet<number> = new Set([OFPXMT.TUNNEL_ID, OFPXMT.METADATA, OFPXMT.IN_PORT, OFPXMT.IN_PHY_PORT, OFPXMT.IPV6_EXTHDR]);

const value = new Uint8Array(16);
const ETHERTYPES = [0x0800, 0x86dd, 0x0806, 0x8847, 0x8848, 0x88e7, 0x8100, 0x1234];

interface OpDef {
  readonly name: string;
  /** Runs the op; `r` is a number from the PRNG (the same in both runs) for its arguments. */
  readonly run: (pkt: Packet, off: Offsets, r: number) => unknown;
  readonly mustApply: boolean;
}

const OPS: OpDef[] = [];
for (const [f, size] of Object.entries(SIZES)) {
  const field = Number(f);
  OPS.push({
    name: `set_field ${field}`,
    mustApply: !NEVER.has(field),
    run: (pkt, off, r) => {
      // Derive the value bytes from r; now and then one byte short.
      let x = r;
      for (let i = 0; i < 16; i++) {
        value[i] = x & 0xff;
        x = Math.imul(x ^ (x >>> 13), 0x5bd1e995) >>> 0;
        x ^= x >>> 15;
      }
      const n = r % 53 === 0 ? size - 1 : size;
      return setField(pkt, off, field, value.subarray(0, n));
    },
  });
}
OPS.push(
  { name: 'push_vlan', mustApply: true, run: (p, o, r) => pushVlan(p, o, r & 1 ? 0x8100 : 0x88a8) },
  { name: 'pop_vlan', mustApply: true, run: (p, o) => popVlan(p, o) },
  { name: 'push_mpls', mustApply: true, run: (p, o, r) => pushMpls(p, o, r & 1 ? 0x8847 : 0x8848) },
  { name: 'pop_mpls', mustApply: true, run: (p, o, r) => popMpls(p, o, ETHERTYPES[r % ETHERTYPES.length]!) },
  { name: 'set_mpls_ttl', mustApply: true, run: (p, o, r) => setMplsTtl(p, o, r & 0xff) },
  { name: 'dec_mpls_ttl', mustApply: true, run: (p, o) => decMplsTtl(p, o) },
  { name: 'set_nw_ttl', mustApply: true, run: (p, o, r) => setNwTtl(p, o, r & 0xff) },
  { name: 'dec_nw_ttl', mustApply: true, run: (p, o) => decNwTtl(p, o) },
  { name: 'copy_ttl_out', mustApply: true, run: (p, o) => copyTtlOut(p, o) },
  { name: 'copy_ttl_in', mustApply: true, run: (p, o) => copyTtlIn(p, o) },
  { name: 'push_pbb', mustApply: true, run: (p, o) => pushPbb(p, o, 0x88e7) },
  { name: 'pop_pbb', mustApply: true, run: (p, o) => popPbb(p, o) },
  {
    // As the port layer calls it: the L4 header's own checksum field, up to the datagram's end
    // (here the frame's end, minus up to 3 bytes). Now and then at a random start: the function
    // must stay inside [start, end) whatever it is given; the bytes it wrote there may change how
    // the frame parses, so the offsets are re-extracted after it, as a caller writing raw bytes
    // would have to.
    name: 'completeChecksum', mustApply: true,
    run: (p, o, r) => {
      const end = p.end - ((r >>> 8) & 3);
      if ((r & 7) !== 0) {
        if (o.l4 < 0 || o.l3 < 0) return false;
        const proto = p.buf[o.l3]! >> 4 === 4 ? p.buf[o.l3 + 9] : -1;
        return completeChecksum(p.buf, o.l4, proto === 6 || (r & 8) !== 0 ? 16 : 6, end);
      }
      const done = completeChecksum(p.buf, p.start + (r % (p.length + 1)), r & 16 ? 16 : 6, end);
      extract(p.buf, p.start, p.end, key, o);
      return done;
    },
  },
  // Read-only: results compared between the two runs.
  { name: 'l4Checksum', mustApply: false, run: (p, o) => l4Checksum(p.buf, o, p.end) },
  {
    name: 'verifyChecksums', mustApply: false,
    run: (p, o) => {
      const v = verifyChecksums(p.buf, o, p.end);
      return (v.ipv4 === undefined ? 0 : v.ipv4 ? 1 : 2) * 3 + (v.l4 === undefined ? 0 : v.l4 ? 1 : 2);
    },
  },
);

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

const HEAD = 96; // headroom: room for pushes without growing the buffer
const TAIL = 64;
const MAX = 1600;
const mem = Buffer.alloc(HEAD + MAX + TAIL);
const frame = new Uint8Array(MAX);
const OFF_FIELDS = ['l2', 'vlan', 'vlanCount', 'ethType', 'pbb', 'mpls', 'mplsCount', 'l3', 'l4', 'l7', 'ndTarget', 'ndSll', 'ndTll', 'ipv6Frag'] as const;

/** What one run produced, to compare between the two runs. */
class Result {
  results: unknown[] = [];
  start = 0;
  end = 0;
  bytes = Buffer.alloc(MAX + HEAD);
  length = 0;
  offs = new Int32Array(OFF_FIELDS.length);
  error = '';
}

const key = newKey();
const off = new Offsets();
const check = new Offsets();
const snapshot = Buffer.alloc(HEAD + MAX);

/**
 * For each operation, the corpus frames it changes when they are not mutated. Each fuzz frame
 * starts from an operation drawn uniformly, and most of the time from a base frame it applies to
 * (then mutated): every rewrite gets an even share, on frames that have its header, not only on
 * frames it refuses.
 */
function relevantBases(): number[][] {
  return OPS.map((op) => {
    const out: number[] = [];
    CORPUS.forEach((f, i) => {
      const pkt = Packet.from(f, HEAD);
      extract(pkt.buf, pkt.start, pkt.end, key, off);
      const before = Buffer.from(pkt.bytes());
      op.run(pkt, off, 0x9e3779b9);
      if (!before.equals(pkt.bytes())) out.push(i);
    });
    return out;
  });
}

/**
 * Runs `ops` on the frame in buf with guard byte `guard`; fills `res`. Returns a failure message,
 * or '' when nothing was wrong within the run.
 */
function runOnce(len: number, ops: number[], args: number[], guard: number, res: Result, changed: Uint32Array): string {
  mem.fill(guard, 0, HEAD);
  mem.set(frame.subarray(0, len), HEAD);
  mem.fill(guard, HEAD + len);
  const pkt = new Packet(mem, HEAD, HEAD + len);
  res.results.length = 0;
  // The lowest start the frame had: headroom down to it was legitimately taken by a push (and may
  // hold stale bytes after a later pop).
  let lowest = HEAD;
  try {
    extract(pkt.buf, pkt.start, pkt.end, key, off);
    for (let i = 0; i < ops.length; i++) {
      const s0 = pkt.start;
      mem.copy(snapshot, 0, s0, pkt.end);
      const r = OPS[ops[i]!]!.run(pkt, off, args[i]!);
      res.results.push(r);
      if (pkt.start !== s0 || mem.compare(snapshot, 0, pkt.end - s0, s0, pkt.end) !== 0) changed[ops[i]!]!++;
      if (pkt.start < lowest) lowest = pkt.start;
    }
  } catch (e) {
    return `threw: ${(e as Error).stack}`;
  }
  if (pkt.buf !== mem) return 'the buffer was replaced (headroom should have sufficed)';
  if (pkt.end !== HEAD + len) return `the frame end moved: ${pkt.end - HEAD} vs ${len}`;
  for (let i = 0; i < lowest; i++) if (mem[i] !== guard) return `write in front of the frame at ${i - HEAD}`;
  for (let i = HEAD + len; i < mem.length; i++) if (mem[i] !== guard) return `write after the frame at +${i - HEAD - len}`;
  extract(pkt.buf, pkt.start, pkt.end, key, check);
  for (let i = 0; i < OFF_FIELDS.length; i++) {
    const f = OFF_FIELDS[i]!;
    if (off[f] !== check[f]) return `offsets kept are not extraction's: ${f} ${off[f]} vs ${check[f]}`;
    res.offs[i] = off[f];
  }
  res.start = pkt.start;
  res.end = pkt.end;
  res.length = pkt.length;
  mem.copy(res.bytes, 0, pkt.start, pkt.end);
  return '';
}

function same(a: Result, b: Result): string {
  if (a.start !== b.start || a.end !== b.end) return `layout differs: ${a.start}-${a.end} vs ${b.start}-${b.end}`;
  for (let i = 0; i < a.results.length; i++) if (a.results[i] !== b.results[i]) return `result ${i} differs: ${a.results[i]} vs ${b.results[i]}`;
  if (a.bytes.compare(b.bytes, 0, a.length, 0, a.length) !== 0) return 'frame bytes differ';
  for (let i = 0; i < a.offs.length; i++) if (a.offs[i] !== b.offs[i]) return `offset ${OFF_FIELDS[i]} differs`;
  return '';
}

test(`rewrites on ${FRAMES} mutated and truncated frames: no exception, no access outside the frame`, async (t) => {
  t.log(`FUZZ_SEED=${SEED}`);
  const rng = new Rng(SEED, INTERESTING);
  const relevant = relevantBases();
  const a = new Result();
  const b = new Result();
  const calls = new Uint32Array(OPS.length);
  const changedA = new Uint32Array(OPS.length);
  const changedB = new Uint32Array(OPS.length);
  const failures = new Map<string, string>();
  const ops: number[] = [];
  const args: number[] = [];
  const started = Date.now();

  for (let n = 0; n < FRAMES; n++) {
    const first = rng.int(OPS.length);
    const near = relevant[first]!;
    const base = CORPUS[near.length > 0 && rng.chance(0.7) ? near[rng.int(near.length)]! : rng.int(CORPUS.length)]!;
    let len = base.length;
    frame.set(base);
    // Mutations: a few bytes (mostly in the headers), a truncation, trailing junk.
    const flips = rng.int(4);
    for (let i = 0; i < flips; i++) frame[rng.int(Math.min(len, 90))] = rng.byte();
    if (rng.chance(0.3)) len = rng.int(len + 1);
    else if (rng.chance(0.05) && len + 16 <= MAX) {
      for (let i = 0; i < 16; i++) frame[len + i] = rng.byte();
      len += 16;
    }
    ops.length = args.length = 0;
    const count = 1 + rng.int(3);
    for (let i = 0; i < count; i++) {
      const op = i === 0 ? first : rng.int(OPS.length);
      ops.push(op);
      args.push(rng.u32());
      calls[op]!++;
    }
    const failA = runOnce(len, ops, args, 0x00, a, changedA);
    const failB = failA || runOnce(len, ops, args, 0xff, b, changedB);
    const fail = failA || failB || same(a, b);
    if (fail) {
      const kind = fail.split('\n')[0]!.replace(/\d+/g, 'N') + ` [${ops.map((o) => OPS[o]!.name).join(', ')}]`;
      const input = Buffer.from(frame.subarray(0, len)).toString('hex');
      const prev = failures.get(kind);
      if (prev === undefined || input.length < prev.length) failures.set(kind, `${fail.split('\n').slice(0, 6).join('\n')}\n  frame ${input}\n  args ${args.join(',')}`);
    }
  }
  const ms = Date.now() - started;
  t.log(`${FRAMES} frames, ${calls.reduce((x, y) => x + y, 0)} operations in ${ms} ms`);
  for (const [kind, detail] of failures) t.log(`${kind}\n${detail}`);
  if (process.env.FUZZ_DUMP) (await import('node:fs')).writeFileSync(process.env.FUZZ_DUMP, [...failures].map(([k, d]) => `${k}\n${d}`).join('\n\n'));
  t.is(failures.size, 0, `failures (FUZZ_SEED=${SEED})`);

  // Every operation got a large share, and every rewrite actually changed frames.
  const idle: string[] = [];
  const rows: string[] = [];
  for (let i = 0; i < OPS.length; i++) {
    rows.push(`${OPS[i]!.name}: ${calls[i]} calls, ${changedA[i]} changed`);
    if (calls[i]! < FRAMES / OPS.length / 2) idle.push(`${OPS[i]!.name} called ${calls[i]} times`);
    if (OPS[i]!.mustApply && changedA[i]! < FRAMES / 400) idle.push(`${OPS[i]!.name} changed ${changedA[i]} frames`);
  }
  t.log(rows.join('; '));
  t.deepEqual(idle, []);
});
