/**
 * The flow-key layout itself: a slot for every OpenFlow 1.3 match field, metadata words that
 * extraction leaves alone, and formatting of the metadata fields.
 */

import test from 'ava';
import { K, newKey, Offsets, extract, formatKey, buildPacket } from '../src/packet/index.js';

test('metadata words (in_port, in_phy_port, tunnel, registers) survive extraction and are printed', (t) => {
  const key = newKey();
  const off = new Offsets();
  key[K.IN_PORT] = 3;
  key[K.IN_PHY_PORT] = 7;
  key[K.METADATA + 1] = 0xab;
  const frame = buildPacket({ ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { src: 5, dst: 6 } });
  extract(frame, 0, frame.length, key, off);
  t.is(key[K.IN_PHY_PORT], 7);
  t.is(key[K.IN_PORT], 3);
  const text = formatKey(key);
  t.regex(text, /(^|,)in_port=3,in_phy_port=7,/);
  t.regex(text, /metadata=0xab/);
  t.regex(text, /nw_src=10\.0\.0\.1/);
});

test('the layout has no overlapping slots and fits in K.WORDS', (t) => {
  // Slot widths in words; every field of the layout must start after the previous one ended.
  const width: Record<string, number> = {
    METADATA: 2, TUN_ID: 2, TUN_IPV6_SRC: 4, TUN_IPV6_DST: 4, TUN_GENEVE: 16, ETH_DST: 2, ETH_SRC: 2,
    IPV6_SRC: 4, IPV6_DST: 4, ARP_SHA: 2, ARP_THA: 2, ND_TARGET: 4, ND_SLL: 2, ND_TLL: 2,
  };
  const slots = Object.entries(K).filter(([name]) => name !== 'WORDS' && name !== 'PACKET').sort((a, b) => a[1] - b[1]);
  let next = 0;
  for (const [name, at] of slots) {
    t.true(at >= next, `${name} at ${at} overlaps the slot before it (ends at ${next})`);
    next = at + (width[name] ?? 1);
  }
  t.is(next, K.WORDS);
  t.is(K.PACKET, K.ETH_DST);
});
