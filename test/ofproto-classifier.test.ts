/**
 * The classifier against a naive reference (a plain list scanned linearly, ties to the earliest
 * insertion): random rule sets over a small pool of masks (so subtables share masks and keys
 * collide), random priorities with ties, random insert/remove sequences and random flows. Also
 * the megaflow property of lookup's wildcards, and the strict-identity operations.
 */

import test from 'ava';
import fc from 'fast-check';
import { OFPXMT } from '../proto/constants.js';
import { K, newKey, equalKeys, equalMasked, type FlowKey, type FlowMask } from '../src/packet/index.js';
import { Classifier, type ClsRule } from '../src/ofproto/classifier.js';
import { compileMatch, isMatchError } from '../src/xlate/match.js';
import type { Oxm } from '../src/openflow/index.js';

interface TRule extends ClsRule {
  readonly id: number;
}

/** The reference: every operation a linear scan over the rules in insertion order. */
class Naive {
  readonly list: Array<{ rule: TRule; seq: number }> = [];
  private seq = 0;

  insert(rule: TRule): TRule | undefined {
    const e = this.list.find((x) => x.rule.priority === rule.priority && equalKeys(x.rule.mask, rule.mask) && equalMasked(x.rule.key, rule.key, rule.mask));
    if (e !== undefined) {
      const old = e.rule;
      e.rule = rule;
      return old;
    }
    this.list.push({ rule, seq: this.seq++ });
    return undefined;
  }

  remove(rule: TRule): boolean {
    const i = this.list.findIndex((x) => x.rule === rule);
    if (i < 0) return false;
    this.list.splice(i, 1);
    return true;
  }

  lookup(flow: FlowKey): TRule | undefined {
    let best: { rule: TRule; seq: number } | undefined;
    for (const e of this.list) {
      if (!equalMasked(flow, e.rule.key, e.rule.mask)) continue;
      if (best === undefined || e.rule.priority > best.rule.priority || (e.rule.priority === best.rule.priority && e.seq < best.seq)) best = e;
    }
    return best?.rule;
  }

  findExact(key: FlowKey, mask: FlowMask, priority: number): TRule | undefined {
    return this.list.find((x) => x.rule.priority === priority && equalKeys(x.rule.mask, mask) && equalMasked(x.rule.key, key, mask))?.rule;
  }

  subsumedBy(key: FlowKey, mask: FlowMask): TRule[] {
    return this.list.filter((x) => covers(x.rule.mask, mask) && equalMasked(x.rule.key, key, mask)).map((x) => x.rule);
  }

  overlaps(r: ClsRule, key: FlowKey, mask: FlowMask, priority: number): boolean {
    if (r.priority !== priority) return false;
    for (let i = 0; i < K.WORDS; i++) if (((r.key[i]! ^ key[i]!) & r.mask[i]! & mask[i]!) !== 0) return false;
    return true;
  }
}

/** Every bit of `small` is in `big` (bit by bit, to share no shortcut with the classifier). */
function covers(big: FlowMask, small: FlowMask): boolean {
  for (let i = 0; i < K.WORDS; i++) for (let b = 0; b < 32; b++) if (((small[i]! >>> b) & 1) === 1 && ((big[i]! >>> b) & 1) === 0) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Generators: a few key words, masks over them from a small pool, values from a small range so
// that rules overlap and flows hit.

const WORDS = [K.IN_PORT, K.ETH_DST + 1, K.IPV4_SRC, K.IPV4_DST, K.NW, K.TP_DST] as const;
const WORD_MASKS = [0, 0, 0xffffffff, 0xff, 0xf0, 0x3, 0x100] as const;
const smallValue = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.boolean()).map(([v, hi]) => (v | (hi ? 0x100 : 0)) >>> 0);

const maskArb = fc.array(fc.constantFrom(...WORD_MASKS), { minLength: WORDS.length, maxLength: WORDS.length }).map((ms) => {
  const m = newKey();
  WORDS.forEach((w, i) => { m[w] = ms[i]!; });
  return m;
});
const valuesArb = fc.array(smallValue, { minLength: WORDS.length, maxLength: WORDS.length });

function keyOf(values: readonly number[], mask?: FlowMask): FlowKey {
  const k = newKey();
  WORDS.forEach((w, i) => { k[w] = values[i]! & (mask === undefined ? 0xffffffff : mask[w]!); });
  return k;
}

type Op =
  | { kind: 'insert'; mask: number; values: number[]; priority: number }
  | { kind: 'remove'; pick: number }
  | { kind: 'lookup'; values: number[]; seed: number }
  | { kind: 'query'; mask: number; values: number[]; priority: number };

const scenario = fc.record({
  masks: fc.array(maskArb, { minLength: 1, maxLength: 6 }),
  ops: fc.array(
    fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant('insert' as const), mask: fc.nat(), values: valuesArb, priority: fc.integer({ min: 0, max: 4 }) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), pick: fc.nat() }) },
      { weight: 4, arbitrary: fc.record({ kind: fc.constant('lookup' as const), values: valuesArb, seed: fc.integer() }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('query' as const), mask: fc.nat(), values: valuesArb, priority: fc.integer({ min: 0, max: 4 }) }) },
    ),
    { maxLength: 80 },
  ),
});

/** A small deterministic PRNG (mulberry32) for mutating flows outside the wildcards. */
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

test('lookup, findExact, subsumedBy, overlapping and the wildcards agree with a linear scan', (t) => {
  let checkedWc = 0;
  fc.assert(
    fc.property(scenario, ({ masks, ops }) => {
      const cls = new Classifier<TRule>();
      const ref = new Naive();
      const live: TRule[] = [];
      let nextId = 0;
      for (const op of ops) {
        if (op.kind === 'insert') {
          const mask = masks[op.mask % masks.length]!;
          const rule: TRule = { id: nextId++, key: keyOf(op.values, mask), mask, priority: op.priority };
          const a = cls.insert(rule);
          const b = ref.insert(rule);
          if (a !== b) return false;
          if (a !== undefined) live.splice(live.indexOf(a), 1);
          live.push(rule);
        } else if (op.kind === 'remove') {
          if (live.length === 0) continue;
          const rule = live.splice(op.pick % live.length, 1)[0]!;
          if (!cls.remove(rule) || !ref.remove(rule)) return false;
          if (cls.remove(rule)) return false; // a second removal finds nothing
        } else if (op.kind === 'lookup') {
          const flow = keyOf(op.values);
          const wc = newKey();
          const got = cls.lookup(flow, wc);
          if (got !== ref.lookup(flow) || got !== cls.lookup(flow)) return false;
          // Megaflow property: any flow equal to `flow` on wc's bits gets the same answer.
          const rnd = prng(op.seed);
          for (let n = 0; n < 4; n++) {
            const other = newKey();
            for (let i = 0; i < K.WORDS; i++) {
              const noise = rnd() % 3 === 0 ? rnd() : rnd() & 0x1ff;
              other[i] = ((flow[i]! & wc[i]!) | (noise & ~wc[i]!)) >>> 0;
            }
            if (cls.lookup(other) !== got || ref.lookup(other) !== got) return false;
            checkedWc++;
          }
        } else {
          const mask = masks[op.mask % masks.length]!;
          const key = keyOf(op.values, mask);
          if (cls.findExact(key, mask, op.priority) !== ref.findExact(key, mask, op.priority)) return false;
          const a = new Set(cls.subsumedBy(key, mask));
          const b = ref.subsumedBy(key, mask);
          if (a.size !== b.length || !b.every((r) => a.has(r))) return false;
          const o = cls.overlapping(key, mask, op.priority);
          const anyOverlap = ref.list.some((e) => ref.overlaps(e.rule, key, mask, op.priority));
          if (o === undefined ? anyOverlap : !anyOverlap || !ref.overlaps(o, key, mask, op.priority) || !live.includes(o)) return false;
        }
        if (cls.size !== ref.list.length || cls.size !== live.length) return false;
      }
      const all = new Set(cls.rules());
      return all.size === live.length && live.every((r) => all.has(r));
    }),
    { numRuns: 400 },
  );
  t.true(checkedWc > 1000, `only ${checkedWc} wildcard checks ran`);
});

// ---------------------------------------------------------------------------------------------
// Unit cases

function rule(id: number, match: Oxm[], priority: number): TRule {
  const cm = compileMatch(match);
  if (isMatchError(cm)) throw new Error(`bad match ${cm.join('/')}`);
  return { id, key: cm.key, mask: cm.mask, priority };
}

const X = OFPXMT;
const ip4 = (dst: string, mask?: string): Oxm[] => [{ field: X.ETH_TYPE, value: 0x0800 }, mask === undefined ? { field: X.IPV4_DST, value: dst } : { field: X.IPV4_DST, value: dst, mask }];

function flow(inPort: number, dst: number): FlowKey {
  const k = newKey();
  k[K.IN_PORT] = inPort;
  k[K.ETH_TYPE] = 0x0800;
  k[K.IPV4_DST] = dst;
  return k;
}

test('insert replaces an identical rule (mask, key, priority) and returns it; remove is by identity', (t) => {
  const cls = new Classifier<TRule>();
  const a = rule(1, ip4('10.0.0.0', '255.0.0.0'), 10);
  const b = rule(2, ip4('10.0.0.0', '255.0.0.0'), 10);
  const c = rule(3, ip4('10.0.0.0', '255.0.0.0'), 11);
  t.is(cls.insert(a), undefined);
  t.is(cls.insert(b), a);
  t.is(cls.insert(c), undefined);
  t.is(cls.size, 2);
  t.false(cls.remove(a), 'the replaced rule is gone');
  t.is(cls.findExact(a.key, a.mask, 10), b);
  t.is(cls.findExact(a.key, a.mask, 11), c);
  t.is(cls.findExact(a.key, a.mask, 12), undefined);
  const other = rule(4, ip4('10.0.0.0', '255.255.0.0'), 10);
  t.is(cls.findExact(other.key, other.mask, 10), undefined, 'strict: another mask is another rule');
  t.true(cls.remove(b));
  t.false(cls.remove(b));
  t.is(cls.size, 1);
  t.deepEqual([...cls.rules()], [c]);
  t.true(cls.remove(c));
  t.is(cls.size, 0);
  t.is(cls.subtableCount, 0, 'empty subtables are dropped');
});

test('priorities: the highest wins across subtables, ties go to the earliest inserted', (t) => {
  const cls = new Classifier<TRule>();
  const wide = rule(1, ip4('10.0.0.0', '255.0.0.0'), 5);
  const narrow = rule(2, ip4('10.1.2.3'), 5);
  const port = rule(3, [{ field: X.IN_PORT, value: 7 }], 5);
  cls.insert(wide);
  cls.insert(narrow);
  cls.insert(port);
  const f = flow(7, 0x0a010203);
  t.is(cls.lookup(f), wide, 'tie: the earliest inserted');
  t.true(cls.remove(wide));
  t.is(cls.lookup(f), narrow);
  cls.insert(wide); // now the latest
  t.is(cls.lookup(f), narrow);
  const top = rule(4, [{ field: X.IN_PORT, value: 7 }], 100);
  cls.insert(top);
  t.is(cls.lookup(f), top);
  t.is(cls.lookup(flow(8, 0x0a010203)), narrow);
  t.is(cls.lookup(flow(8, 0x0b000000)), undefined);
  t.true(cls.remove(top));
  t.is(cls.lookup(f), narrow, 'removing the top rule lowers its subtable again');
});

test('lookup stops at the first subtable that cannot beat the best, and un-wildcards only what it read', (t) => {
  const cls = new Classifier<TRule>();
  const hi = rule(1, [{ field: X.IN_PORT, value: 1 }], 100);
  const lo = rule(2, ip4('10.0.0.1'), 10);
  cls.insert(lo);
  cls.insert(hi);
  const wc = newKey();
  t.is(cls.lookup(flow(1, 0x0a000001), wc), hi);
  t.is(wc[K.IN_PORT], 0xffffffff);
  t.is(wc[K.IPV4_DST], 0, 'the lower subtable was never probed');
  t.is(wc[K.ETH_TYPE], 0);
  const wc2 = newKey();
  t.is(cls.lookup(flow(2, 0x0a000001), wc2), lo);
  t.is(wc2[K.IN_PORT], 0xffffffff);
  t.is(wc2[K.IPV4_DST], 0xffffffff);
  t.is(wc2[K.ETH_TYPE], 0xffff);
  t.is(wc2[K.IPV4_SRC], 0);
});

test('subsumedBy is the non-strict selection, overlapping the CHECK_OVERLAP test', (t) => {
  const cls = new Classifier<TRule>();
  const r8 = rule(1, ip4('10.0.0.0', '255.0.0.0'), 1);
  const r16 = rule(2, ip4('10.1.0.0', '255.255.0.0'), 1);
  const r32 = rule(3, ip4('10.1.2.3'), 2);
  const other = rule(4, ip4('11.0.0.0', '255.0.0.0'), 1);
  const port = rule(5, [{ field: X.IN_PORT, value: 3 }], 1);
  for (const r of [r8, r16, r32, other, port]) cls.insert(r);
  const sel = (m: TRule) => [...cls.subsumedBy(m.key, m.mask)].map((r) => r.id).sort((a, b) => a - b);
  t.deepEqual(sel(rule(0, ip4('10.0.0.0', '255.0.0.0'), 0)), [1, 2, 3]);
  t.deepEqual(sel(rule(0, ip4('10.1.0.0', '255.255.0.0'), 0)), [2, 3]);
  t.deepEqual(sel(rule(0, [], 0)), [1, 2, 3, 4, 5], 'the empty match selects everything');
  // Deleting while iterating the selection is fine (it is a snapshot).
  for (const r of cls.subsumedBy(r8.key, r8.mask)) cls.remove(r);
  t.is(cls.size, 2);
  for (const r of [r8, r16, r32]) cls.insert(r);
  // Overlap: same priority and some packet matches both.
  const q = rule(0, ip4('10.1.2.0', '255.255.255.0'), 1);
  t.truthy(cls.overlapping(q.key, q.mask, 1));
  t.is(cls.overlapping(q.key, q.mask, 2), r32);
  t.is(cls.overlapping(q.key, q.mask, 3), undefined);
  const disjoint = rule(0, ip4('12.0.0.0', '255.0.0.0'), 1);
  t.is(cls.overlapping(disjoint.key, disjoint.mask, 1), port, 'in_port=3 and nw_dst=12/8 can both match one packet');
  cls.remove(port);
  t.is(cls.overlapping(disjoint.key, disjoint.mask, 1), undefined);
});

test('many rules: removals in priority order keep the subtable order right', (t) => {
  const cls = new Classifier<TRule>();
  const rules: TRule[] = [];
  for (let i = 0; i < 2000; i++) {
    const r = rule(i, ip4(`10.0.${(i >> 8) & 255}.${i & 255}`), i % 500);
    rules.push(r);
    cls.insert(r);
  }
  const wide = rule(-1, ip4('10.0.0.0', '255.0.0.0'), 250);
  cls.insert(wide);
  rules.sort((a, b) => b.priority - a.priority);
  for (const r of rules) {
    const f = flow(1, r.key[K.IPV4_DST]!);
    t.is(cls.lookup(f), r.priority >= 250 ? r : wide); // a tie at 250 goes to the earlier /32
    cls.remove(r);
  }
  t.is(cls.size, 1);
});
