/**
 * The two caches alone: the exact-match cache (keys that share a hash are still told apart, dead
 * flows are not served, replacement) and the megaflow classifier (inserts and removes against a
 * reference list, through table growth, shrinking and backward-shift deletion).
 */

import test from 'ava';
import { K, newKey, equalMasked } from '../src/packet/key.js';
import { ExactMatchCache, emcHash } from '../src/dpif/emc.js';
import { Dpcls } from '../src/dpif/dpcls.js';
import { Rng, FUZZ_SEED } from './rng.js';
import { match } from './dpif-fakes.js';

test('EMC: keys differing only in unhashed words share a hash but do not share an entry', (t) => {
  const emc = new ExactMatchCache<{ dead: boolean }>(16);
  const a = newKey();
  a[K.IN_PORT] = 1;
  a[K.IPV6_SRC] = 0x20010db8;
  const b = a.slice();
  b[K.IPV6_SRC] = 0x20010db9;
  t.is(emcHash(a), emcHash(b));
  const fa = { dead: false };
  emc.insert(a, emcHash(a), fa);
  t.is(emc.lookup(a, emcHash(a)), fa);
  t.is(emc.lookup(b, emcHash(b)), undefined);
  const fb = { dead: false };
  emc.insert(b, emcHash(b), fb);
  t.is(emc.lookup(b, emcHash(b)), fb);
  t.is(emc.lookup(a, emcHash(a)), fa, 'both fit: two candidate entries');
  fa.dead = true;
  t.is(emc.lookup(a, emcHash(a)), undefined, 'a dead flow is not served');
  t.is(emc.count(), 1);
  emc.clear();
  t.is(emc.lookup(b, emcHash(b)), undefined);
});

test('EMC: insert refuses keys with metadata beyond in_port (the compare skips those words)', (t) => {
  const emc = new ExactMatchCache<{ dead: boolean }>(16);
  const k = newKey();
  k[K.TUN_ID + 1] = 5;
  emc.insert(k, emcHash(k), { dead: false });
  t.is(emc.count(), 0);
});

test('EMC: re-inserting a key updates its entry', (t) => {
  const emc = new ExactMatchCache<{ dead: boolean }>(2);
  const k = newKey();
  const f1 = { dead: false }, f2 = { dead: false };
  emc.insert(k, emcHash(k), f1);
  emc.insert(k, emcHash(k), f2);
  t.is(emc.lookup(k, emcHash(k)), f2);
  t.is(emc.count(), 1);
});

test(`dpcls: random inserts and removes agree with a linear reference (seed ${FUZZ_SEED})`, (t) => {
  const r = new Rng(FUZZ_SEED);
  const cls = new Dpcls<{ key: Uint32Array; mask: Uint32Array; id: number }>();
  const masks = [
    match(1, [[K.IPV4_DST, 0, 0xffffff00]]).mask,
    match(1, [[K.IPV4_DST, 0, 0xffffffff], [K.TP_DST, 0]]).mask,
    match(1, [[K.ETH_TYPE, 0]]).mask,
  ];
  const live: Array<{ key: Uint32Array; mask: Uint32Array; id: number }> = [];
  let id = 0;
  for (let step = 0; step < 4000; step++) {
    if (r.chance(0.6) || live.length === 0) {
      const mask = r.pick(masks);
      const key = newKey();
      key[K.IN_PORT] = 1;
      key[K.IPV4_DST] = (r.int(64) << 8) & mask[K.IPV4_DST]!;
      key[K.TP_DST] = r.int(4) & mask[K.TP_DST]!;
      key[K.ETH_TYPE] = r.int(64) & mask[K.ETH_TYPE]!;
      if (cls.findExact(key, mask) !== undefined) continue;
      const f = { key, mask, id: id++ };
      cls.insert(f);
      live.push(f);
    } else {
      const i = r.int(live.length);
      t.true(cls.remove(live[i]!));
      t.false(cls.remove(live[i]!));
      live.splice(i, 1);
    }
    if (step % 50 === 0) {
      t.is(cls.size, live.length);
      for (const f of live) t.is(cls.findExact(f.key, f.mask), f);
    }
  }
  // Lookups of probe keys: the classifier finds a flow iff some flow matches, and it matches.
  for (let i = 0; i < 500; i++) {
    const k = newKey();
    k[K.IN_PORT] = 1;
    k[K.IPV4_DST] = r.int(64) << 8 | r.int(2);
    k[K.TP_DST] = r.int(4);
    k[K.ETH_TYPE] = r.int(64);
    const got = cls.lookup(k);
    const any = live.some((f) => equalMasked(k, f.key, f.mask));
    t.is(got !== undefined, any);
    if (got) t.true(equalMasked(k, got.key, got.mask));
    t.true(cls.searched >= 1 && cls.searched <= cls.subtableCount);
  }
});
