/**
 * Classifier speed on one core: lookups per second with 10,000 rules over 20 realistic masks (the
 * issue's figure), for flows that hit and flows that miss, with and without wildcard tracking
 * (the datapath asks for the wildcards on every upcall); and insertion rates for 10,000 and
 * 100,000 rules. Rules come from compileMatch on OXM lists, with random values and priorities.
 *
 * Same-run references: the naive classifier (a linear scan of the same 10,000 rules, what the
 * tuple-space search replaces) and one exact-match Map lookup of a whole key (hash all 83 words,
 * Map.get, compare: what an exact-match cache costs, the floor for any lookup).
 */

import { OFPXMT as X } from '../proto/constants.js';
import type { Oxm } from '../src/openflow/index.js';
import { Classifier, type ClsRule } from '../src/ofproto/classifier.js';
import { compileMatch, isMatchError } from '../src/xlate/match.js';
import { K, newKey, hashKey, equalKeys, equalMasked, type FlowKey } from '../src/packet/key.js';
import { measure, fmtRate } from './harness.js';

export interface ClassifierResult {
  readonly name: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly target?: number;
}

/** A seeded PRNG (mulberry32): the same rules every run, so runs compare. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const mac = (r: () => number) => Array.from({ length: 6 }, () => (r() & 0xff).toString(16).padStart(2, '0')).join(':');
const ip4 = (r: () => number) => [r() & 0xff, r() & 0xff, r() & 0xff, r() & 0xff].join('.');
const ip6 = (r: () => number, groups = 8) => Array.from({ length: 8 }, (_, g) => (g < groups ? r() & 0xffff : 0).toString(16)).join(':');
const IP = { field: X.ETH_TYPE, value: 0x0800 } as const;
const IP6 = { field: X.ETH_TYPE, value: 0x86dd } as const;
const proto = (p: number): Oxm => ({ field: X.IP_PROTO, value: p });
const masked4 = (r: () => number, field: number, bits: number): Oxm => {
  const m = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  const v = (r() & m) >>> 0;
  const dot = (x: number) => [x >>> 24, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff].join('.');
  return bits === 32 ? { field, value: dot(v) } : { field, value: dot(v), mask: dot(m) };
};

/** The 20 masks: what controllers install (L2 learning, L3 routes, ACLs, port-based rules). */
const SHAPES: ReadonlyArray<(r: () => number) => Oxm[]> = [
  (r) => [{ field: X.IN_PORT, value: 1 + (r() % 48) }],
  (r) => [{ field: X.ETH_DST, value: mac(r) }],
  (r) => [{ field: X.ETH_SRC, value: mac(r) }],
  (r) => [{ field: X.IN_PORT, value: 1 + (r() % 48) }, { field: X.ETH_DST, value: mac(r) }],
  (r) => [{ field: X.VLAN_VID, value: 0x1000 | (r() & 0xfff) }, { field: X.ETH_DST, value: mac(r) }],
  (r) => [{ field: X.IN_PORT, value: 1 + (r() % 48) }, { field: X.VLAN_VID, value: 0x1000 | (r() & 0xfff) }],
  (r) => [IP, masked4(r, X.IPV4_DST, 24)],
  (r) => [IP, masked4(r, X.IPV4_DST, 32)],
  (r) => [IP, masked4(r, X.IPV4_SRC, 32)],
  (r) => [IP, masked4(r, X.IPV4_SRC, 16), masked4(r, X.IPV4_DST, 16)],
  (r) => [IP, masked4(r, X.IPV4_SRC, 8)],
  (r) => [IP, proto(6), { field: X.TCP_DST, value: r() & 0xffff }],
  (r) => [IP, proto(6), { field: X.TCP_SRC, value: r() & 0xffff }],
  // (udp_dst alone would share tcp_dst's mask: ip_proto is in both, only its value differs.)
  (r) => [IP, proto(17), { field: X.UDP_SRC, value: r() & 0xffff }, { field: X.UDP_DST, value: r() & 0xffff }],
  (r) => [IP, proto(6), masked4(r, X.IPV4_DST, 24), { field: X.TCP_DST, value: r() & 0xffff }],
  (r) => [IP, masked4(r, X.IPV4_SRC, 32), masked4(r, X.IPV4_DST, 32), proto(6), { field: X.TCP_SRC, value: r() & 0xffff }, { field: X.TCP_DST, value: r() & 0xffff }],
  (r) => [IP, { field: X.IP_DSCP, value: r() & 0x3f }],
  (r) => [IP6, { field: X.IPV6_DST, value: ip6(r, 4), mask: 'ffff:ffff:ffff:ffff::' }],
  (r) => [IP6, { field: X.IPV6_SRC, value: ip6(r) }],
  (r) => [{ field: X.ETH_TYPE, value: 0x0806 }, masked4(r, X.ARP_TPA, 32)],
];

interface BenchRule extends ClsRule {
  readonly id: number;
}

/**
 * `banded`: priorities grouped by mask (mask i gets the band below mask i-1's), as in a routing
 * table where longer prefixes get higher priorities; lookups can then stop early. Otherwise
 * priorities are uniform over 0..65535, so every subtable's maximum is near the top and a lookup
 * probes all 20 (the worst case for tuple-space search).
 */
function makeRules(n: number, seed: number, banded = false): BenchRule[] {
  const r = prng(seed);
  const out: BenchRule[] = [];
  for (let i = 0; i < n; i++) {
    const m = SHAPES[i % SHAPES.length]!(r);
    // OXM values within a mask are stored masked; masked4 already does that.
    const cm = compileMatch(m);
    if (isMatchError(cm)) throw new Error(`bench match ${i} failed: ${cm.join('/')}`);
    const shape = i % SHAPES.length;
    out.push({ id: i, key: cm.key, mask: cm.mask, priority: banded ? (SHAPES.length - shape) * 1000 + (r() % 1000) : r() & 0xffff });
  }
  return out;
}

/** A plausible TCP/IPv4 flow: every field a real packet would have, random values. */
function randomFlow(r: () => number): FlowKey {
  const k = newKey();
  // Ports no in_port rule names: a flow meets the in_port rules only when built from one.
  k[K.IN_PORT] = 1000 + (r() % 1000);
  k[K.ETH_DST] = r() & 0xffff;
  k[K.ETH_DST + 1] = r();
  k[K.ETH_SRC] = r() & 0xffff;
  k[K.ETH_SRC + 1] = r();
  k[K.ETH_TYPE] = 0x0800;
  k[K.IPV4_SRC] = r();
  k[K.IPV4_DST] = r();
  k[K.NW] = 6 | (64 << 16);
  k[K.TP_SRC] = r() & 0xffff;
  k[K.TP_DST] = r() & 0xffff;
  return k;
}

/**
 * Flows that hit: a random flow overwritten with one rule's masked bits (so it matches that rule
 * at least). Flows that miss: IPv6 flows from unknown ports with random addresses, kept only
 * when nothing matches them (every IPv4 flow hits one of the DSCP rules), so a miss still hashes
 * and probes all 20 subtables.
 */
function makeFlows(cls: Classifier<BenchRule>, rules: readonly BenchRule[], n: number, seed: number): { hits: FlowKey[]; misses: FlowKey[] } {
  const r = prng(seed);
  const hits: FlowKey[] = [];
  const misses: FlowKey[] = [];
  while (hits.length < n) {
    const rule = rules[r() % rules.length]!;
    const f = randomFlow(r);
    for (let i = 0; i < K.WORDS; i++) f[i] = ((f[i]! & ~rule.mask[i]!) | rule.key[i]!) >>> 0;
    if (cls.lookup(f) === undefined) throw new Error('a hit flow missed');
    hits.push(f);
  }
  while (misses.length < n) {
    const f = randomFlow(r);
    f[K.ETH_TYPE] = 0x86dd;
    f[K.IPV4_SRC] = f[K.IPV4_DST] = 0;
    for (let w = 0; w < 4; w++) {
      f[K.IPV6_SRC + w] = r();
      f[K.IPV6_DST + w] = r();
    }
    if (cls.lookup(f) === undefined) misses.push(f);
  }
  return { hits, misses };
}

/** The naive reference: every rule compared in priority order (best first), stop at the first match. */
function linearScan(sorted: readonly BenchRule[], flow: FlowKey): BenchRule | undefined {
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i]!;
    if (equalMasked(flow, r.key, r.mask)) return r;
  }
  return undefined;
}

export function runClassifierBench(quick: boolean): ClassifierResult[] {
  const opts = quick ? { rounds: 3, roundMs: 150 } : { rounds: 5, roundMs: 700 };
  const out: ClassifierResult[] = [];
  const N = 10_000;
  const rules = makeRules(N, 1);
  const cls = new Classifier<BenchRule>();
  for (const r of rules) cls.insert(r);
  if (cls.subtableCount !== SHAPES.length) throw new Error(`expected ${SHAPES.length} subtables, got ${cls.subtableCount}`);
  const { hits, misses } = makeFlows(cls, rules, 1024, 2);
  const wc = newKey();
  let i = 0;
  let sink = 0;
  const bandedRules = makeRules(N, 1, true);
  const banded = new Classifier<BenchRule>();
  for (const r of bandedRules) banded.insert(r);
  const bandedHits = makeFlows(banded, bandedRules, 1024, 4).hits;

  const lookups: Array<[string, () => unknown]> = [
    ['lookup 10k rules/20 masks, hit', () => { sink ^= cls.lookup(hits[i++ & 1023]!)?.id ?? 0; }],
    ['lookup 10k rules/20 masks, hit, with wc', () => { wc.fill(0); sink ^= cls.lookup(hits[i++ & 1023]!, wc)?.id ?? 0; }],
    ['lookup 10k rules/20 masks, miss', () => { sink ^= cls.lookup(misses[i++ & 1023]!)?.id ?? 1; }],
    ['lookup 10k rules/20 masks, miss, with wc', () => { wc.fill(0); sink ^= cls.lookup(misses[i++ & 1023]!, wc)?.id ?? 1; }],
    ['lookup ..., priorities banded by mask, hit, wc', () => { wc.fill(0); sink ^= banded.lookup(bandedHits[i++ & 1023]!, wc)?.id ?? 0; }],
  ];
  // Warm every path through the same call sites before timing (see packet-extract.ts for why).
  const until = Date.now() + (quick ? 100 : 400);
  while (Date.now() < until) for (let n = 0; n < 2000; n++) for (const [, op] of lookups) op();
  for (const [name, op] of lookups) out.push(measure(name, op, opts));

  // Insertion: build a whole classifier per operation; the rate is rules per second.
  for (const n of [10_000, 100_000]) {
    const rs = n === N ? rules : makeRules(n, 3);
    const r = measure(`insert ${n / 1000}k rules (rules/s)`, () => {
      const c = new Classifier<BenchRule>();
      for (let k = 0; k < rs.length; k++) c.insert(rs[k]!);
      sink ^= c.size;
    }, quick ? { rounds: 1, roundMs: 100 } : { rounds: 3, roundMs: 1000 });
    out.push({ name: r.name, median: r.median * n, min: r.min * n, max: r.max * n });
  }

  // References.
  const sorted = [...rules].sort((a, b) => b.priority - a.priority || a.id - b.id);
  for (let k = 0; k < 64; k++) if (linearScan(sorted, hits[k]!)?.priority !== cls.lookup(hits[k]!)?.priority) throw new Error('the linear scan disagrees');
  out.push(measure('reference: linear scan of 10k rules, hit', () => { sink ^= linearScan(sorted, hits[i++ & 1023]!)?.id ?? 0; }, opts));
  const exact = new Map<number, FlowKey[]>();
  for (const f of hits) {
    const h = hashKey(f);
    const chain = exact.get(h);
    if (chain) chain.push(f);
    else exact.set(h, [f]);
  }
  const exactLookup = (f: FlowKey) => {
    const chain = exact.get(hashKey(f));
    if (chain !== undefined) for (let k = 0; k < chain.length; k++) if (equalKeys(chain[k]!, f)) return chain[k];
    return undefined;
  };
  out.push(measure('reference: exact-match Map lookup (one key)', () => { sink ^= exactLookup(hits[i++ & 1023]!) === undefined ? 0 : 1; }, opts));
  if (sink === 0x7fffffff) console.log(''); // keeps `sink` (and so every lookup) live
  return out;
}

/** The table `npm run bench` prints: rate, and ratios to the two references. */
export function printClassifierBench(results: readonly ClassifierResult[]): void {
  const linear = results.find((r) => r.name.startsWith('reference: linear'));
  const exact = results.find((r) => r.name.startsWith('reference: exact'));
  console.log('\nClassifier (operations/s, one core; median of rounds [min..max])');
  for (const r of results) {
    const isLookup = r.name.startsWith('lookup');
    const toTarget = r.target !== undefined ? `  ${(r.median / r.target).toFixed(2)}x target ${fmtRate(r.target)}` : '';
    const toRefs = isLookup && linear && exact
      ? `  ${(r.median / linear.median).toFixed(0)}x linear scan, ${((r.median / exact.median) * 100).toFixed(0)}% of exact-match`
      : '';
    console.log(`  ${r.name.padEnd(46)} ${fmtRate(r.median).padStart(8)} [${fmtRate(r.min)}..${fmtRate(r.max)}]${toTarget}${toRefs}`);
  }
}
