/**
 * Properties of the codec over every valid message the description allows (test/arbitraries.ts
 * generates them by walking proto/of13.ts):
 * - decode(encode(m)) deep-equals m;
 * - encodedLength(m) is the size encode(m) produces;
 * - encodeInto writes the same bytes at any offset of a dirty buffer and nothing outside them;
 * - the JSON form survives JSON.stringify/parse and encodes to the same bytes;
 * - formatMessage never throws and prints one line.
 *
 * Runs and seed: FC_RUNS and FC_SEED override the defaults (fast-check prints the seed and the
 * shrunk counterexample of a failure; rerun with FC_SEED=<seed> to reproduce it).
 */
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import {
  decode, encode, encodeInto, encodedLength, toJson, fromJson, formatMessage, type Message,
} from '../src/openflow/index.js';
import {
  arbMessage, collectStructs, messageStructs, reachableStructs, normalise, show, structOf, referenceEncode,
  MAX_BUNDLE_DEPTH,
} from './arbitraries.js';

const RUNS = Number(process.env.FC_RUNS ?? 3000);
const SEED = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED);
const params = <T>(extra: fc.Parameters<T> = {}): fc.Parameters<T> =>
  ({ numRuns: RUNS, ...(SEED === undefined ? {} : { seed: SEED }), ...extra });

/** Runs a property; fast-check's report (seed, path, shrunk counterexample) becomes the failure. */
function holds<T>(t: ExecutionContext, prop: fc.IProperty<T>, extra?: fc.Parameters<T>): void {
  const out = fc.check(prop, params(extra));
  if (out.failed) {
    t.fail(fc.defaultReportMessage(out) ?? `property failed (seed ${out.seed})`);
    return;
  }
  t.pass();
}

/** Throws unless decode(encode(m)) gives m back. */
function assertRoundTrip(m: Message): void {
  const bytes = encode(m);
  const r = decode(bytes);
  if (!r.ok) assert.fail(`decode failed: ${r.error.name} ${r.error.text}${r.error.internal ? ' (internal)' : ''}; hex ${bytes.toString('hex')}`);
  assert.deepEqual(normalise(r.msg), normalise(m), `round trip changed the message; hex ${bytes.toString('hex')}`);
}

// ---------------------------------------------------------------------------------------------
// The generator itself
// ---------------------------------------------------------------------------------------------

test('the generator covers every message kind and every struct of the description', (t) => {
  const n = Math.max(RUNS, 3000);
  const samples = fc.sample(arbMessage(), { numRuns: n, seed: SEED ?? 20240611 });
  const kinds = new Map<string, number>();
  const structs = new Set<string>();
  for (const m of samples) {
    const k = structOf('Message', m as never).name;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
    collectStructs('Message', m as never, structs);
  }
  const wantKinds = messageStructs();
  const missingKinds = wantKinds.filter((k) => !kinds.has(k));
  t.deepEqual(missingKinds, [], `message kinds never generated in ${n} runs`);
  const missingStructs = reachableStructs().filter((s) => !structs.has(s));
  t.deepEqual(missingStructs, [], `structs never generated in ${n} runs`);
  const counts = [...kinds.values()];
  t.log(`${n} messages: ${wantKinds.length} message kinds (each ${Math.min(...counts)}..${Math.max(...counts)} times), ${structs.size} structs`);
});

test('the generator gives decodable fallbacks: free discriminators avoid the case values', (t) => {
  const samples = fc.sample(arbMessage(), { numRuns: 3000, seed: SEED ?? 7 });
  const onfExperimenterMsgs = samples.filter((m) => m.type === 4 && m.experimenter === 0x4f4e4600
    && structOf('Message', m as never).name === 'ExperimenterMsg') as Array<{ expType: number }>;
  t.true(onfExperimenterMsgs.length > 0, 'ONF experimenter messages that are not bundle messages are generated');
  for (const m of onfExperimenterMsgs) t.false([2300, 2301].includes(m.expType));
  for (const m of samples) if (m.type === 1 && 'code' in m) t.not(m.errType, 0xffff);
});

test('generated messages stay inside the OpenFlow size limit and the bundle nesting bound', (t) => {
  const samples = fc.sample(arbMessage(), { numRuns: 2000, seed: SEED ?? 11 });
  let deepest = 0;
  for (const m of samples) {
    t.true(encodedLength(m) <= 0xffff);
    let d = 0;
    for (let x: Message = m; x.type === 4 && 'message' in x; x = x.message) d++;
    deepest = Math.max(deepest, d);
    if (d > MAX_BUNDLE_DEPTH) t.fail(`bundle nesting ${d}`);
  }
  t.true(deepest >= 1, 'bundle adds are generated');
});

// ---------------------------------------------------------------------------------------------
// Codec properties
// ---------------------------------------------------------------------------------------------

test('decode(encode(m)) deep-equals m', (t) => {
  holds(t, fc.property(arbMessage(), (m) => assertRoundTrip(m)));
});

test('encode(m) gives the bytes of a plain reference encoder written from the description', (t) => {
  holds(t, fc.property(arbMessage(), (m) => {
    assert.equal(encode(m).toString('hex'), referenceEncode(m).toString('hex'), show(m));
  }));
});

test('encodedLength(m) is the length of encode(m)', (t) => {
  holds(t, fc.property(arbMessage(), (m) => {
    assert.equal(encodedLength(m), encode(m).length);
  }));
});

test('encodeInto writes encode(m) at any offset of a dirty buffer and nothing else', (t) => {
  holds(t, fc.property(
    arbMessage(), fc.nat({ max: 77 }), fc.nat({ max: 40 }), fc.integer({ min: 0, max: 255 }),
    (m, offset, slack, fill) => {
      const want = encode(m);
      const buf = Buffer.alloc(offset + want.length + slack, fill);
      // Dirty with a pattern too, so that a skipped pad byte shows whatever the fill value.
      for (let i = 0; i < buf.length; i += 3) buf[i] = (fill + i * 7) & 0xff;
      const before = Buffer.from(buf);
      const n = encodeInto(m, buf, offset);
      assert.equal(n, want.length, 'encodeInto returns the encoded size');
      assert.equal(buf.subarray(offset, offset + n).toString('hex'), want.toString('hex'), 'same bytes as encode');
      assert.ok(buf.subarray(0, offset).equals(before.subarray(0, offset)), 'nothing written before the offset');
      assert.ok(buf.subarray(offset + n).equals(before.subarray(offset + n)), 'nothing written after the message');
    },
  ));
});

test('the JSON form survives stringify/parse and encodes to the same bytes', (t) => {
  holds(t, fc.property(arbMessage(), (m) => {
    const text = JSON.stringify(toJson(m));
    const back = fromJson(JSON.parse(text));
    assert.equal(encode(back).toString('hex'), encode(m).toString('hex'), `JSON ${text}`);
    assert.deepEqual(normalise(back), normalise(m), `JSON ${text}`);
  }));
});

test('formatMessage never throws and gives one line', (t) => {
  holds(t, fc.property(arbMessage(), (m) => {
    const s = formatMessage(m);
    assert.equal(typeof s, 'string');
    assert.ok(s.length > 0, 'not empty');
    assert.ok(!/[\n\r\u2028\u2029]/.test(s), `one line: ${JSON.stringify(s)}`);
  }));
});

test('formatMessage also prints decoded messages (views into a larger buffer) on one line', (t) => {
  holds(t, fc.property(arbMessage(), fc.uint8Array({ maxLength: 9 }), (m, junk) => {
    const inner = encode(m);
    const big = Buffer.concat([Buffer.from(junk), inner, Buffer.from(junk)]);
    const r = decode(big.subarray(junk.length, junk.length + inner.length));
    assert.ok(r.ok, `decodes: ${show(m)}`);
    const s = formatMessage(r.msg);
    assert.ok(!/[\n\r\u2028\u2029]/.test(s));
    assert.deepEqual(normalise(r.msg), normalise(m));
  }), { numRuns: Math.min(RUNS, 1000) });
});

// ---------------------------------------------------------------------------------------------
// The size limit
// ---------------------------------------------------------------------------------------------

test('a message of exactly 65535 bytes round-trips; one byte more is refused by encode', (t) => {
  const max: Message = { version: 4, type: 2, xid: 7, data: Buffer.alloc(65535 - 8, 0xab) };
  t.is(encodedLength(max), 65535);
  assertRoundTrip(max);
  const over: Message = { version: 4, type: 2, xid: 7, data: Buffer.alloc(65535 - 7, 0xab) };
  t.throws(() => encode(over), { instanceOf: RangeError });
  t.throws(() => encodeInto(over, Buffer.alloc(70000), 0), { instanceOf: RangeError });
  // 1023 ports: 65488 bytes of port-desc reply.
  const port = {
    portNo: 1, hwAddr: '02:00:00:00:00:01', name: 'eth1', config: 0, state: 4, curr: 0x840, advertised: 0,
    supported: 0, peer: 0, currSpeed: 10_000_000, maxSpeed: 10_000_000,
  };
  const ports: Message = { version: 4, type: 19, xid: 1, mpType: 13, flags: 0, ports: Array.from({ length: 1023 }, (_, i) => ({ ...port, portNo: i + 1 })) };
  t.is(encode(ports).length, 16 + 1023 * 64);
  assertRoundTrip(ports);
});
