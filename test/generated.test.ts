/**
 * The checked-in codec is exactly what the description generates: change proto/ and forget
 * `npm run gen`, and this fails. Also checks the description itself for mistakes a generator
 * would silently carry (names, discriminators, fixed sizes the specification gives).
 */

import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { generate } from '../proto/gen.js';
import { NODES } from '../proto/of13.js';
import { structSize } from '../proto/schema.js';
import { OXM_FIELDS } from '../proto/oxm.js';
import { OFPT } from '../proto/constants.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

test('src/openflow/generated.ts is what proto/gen.ts produces', (t) => {
  const onDisk = readFileSync(`${root}src/openflow/generated.ts`, 'utf8');
  t.true(onDisk === generate(), 'run `npm run gen` and commit the result');
});

test('every node is reachable from Message, and every reference resolves', (t) => {
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    const n = NODES.get(name);
    t.truthy(n, `missing node ${name}`);
    if (n === undefined) return;
    seen.add(name);
    if (n.kind === 'dispatch') {
      for (const [, c] of n.cases) visit(c);
      if (typeof n.fallback === 'string') visit(n.fallback);
    } else {
      for (const f of n.fields) if (f.kind === 'list' || f.kind === 'struct') visit(f.of);
    }
  };
  visit('Message');
  t.deepEqual([...NODES.keys()].filter((k) => !seen.has(k)), []);
});

test('all 30 message types are described', (t) => {
  const msg = NODES.get('Message');
  if (msg?.kind !== 'dispatch') return t.fail();
  const types = new Set(msg.cases.map(([v]) => v));
  t.deepEqual(Object.values(OFPT).filter((v) => !types.has(v)), []);
  t.is(types.size, 30);
});

test('fixed sizes match the specification', (t) => {
  const size = (n: string) => {
    const d = NODES.get(n);
    return d?.kind === 'struct' ? structSize(d, NODES) : undefined;
  };
  // Sizes from the OpenFlow 1.3.5 specification's OFP_ASSERTs.
  t.is(size('Port'), 64);
  t.is(size('ActionOutput'), 16);
  t.is(size('ActionGroup'), 8);
  t.is(size('InstructionWriteMetadata'), 24);
  t.is(size('InstructionGotoTable'), 8);
  t.is(size('MeterBandDrop'), 16);
  t.is(size('MeterBandDscpRemark'), 16);
  t.is(size('QueuePropRate'), 16);
  t.is(size('TableStats'), 24);
  t.is(size('PortStats'), 112);
  t.is(size('QueueStats'), 40);
  t.is(size('BucketCounter'), 16);
  t.is(size('MeterBandStats'), 16);
  t.is(size('FeaturesReply'), 32);
  t.is(size('SwitchConfig'), 12);
  t.is(size('PortStatus'), 80);
  t.is(size('PortMod'), 40);
  t.is(size('TableMod'), 16);
  t.is(size('Role'), 24);
  t.is(size('AsyncConfig'), 32);
  t.is(size('MultipartReplyDesc'), 16 + 1056);
  t.is(size('MultipartReplyAggregate'), 16 + 24);
  t.is(size('MultipartReplyGroupFeatures'), 16 + 40);
  t.is(size('MultipartReplyMeterFeatures'), 16 + 16);
  t.is(size('MultipartRequestPortStats'), 16 + 8);
  t.is(size('QueueGetConfigRequest'), 16);
});

test('the OXM table has the 40 fields of OpenFlow 1.3, numbered 0..39', (t) => {
  t.is(OXM_FIELDS.length, 40);
  OXM_FIELDS.forEach((d, i) => t.is(d.field, i));
  t.is(OXM_FIELDS[37]!.kind, 'u24'); // PBB_ISID is 3 bytes
});
