/**
 * Fuzzing the decoder and the framer.
 *
 * decode() must never throw and never fail internally: for any bytes it returns either a message
 * or an OpenFlow error whose (type, code) exists in ERROR_TYPES, without `internal`. When it
 * returns a message, encoding that message must not throw and must decode back to the same
 * message (idempotence after one normalisation: padding, bytes after a NUL in a string and the
 * like may change once, never again). Its JSON form must read back to it, and formatMessage must
 * print it on one line.
 *
 * Inputs (well over 100,000 per run), from a seeded PRNG so that they are cheap to make:
 * - random bodies behind a plausible header (version 4, type 0..35, correct or wrong length);
 * - every truncation of valid encodings (header length left alone, and set to the new size);
 * - byte flips, overwrites, insertions, deletions and duplications in valid encodings;
 * - corruptions of the nested length fields of valid encodings (item lengths, match lengths,
 *   OXM lengths, actions_len), located by walking the description over the message.
 * The valid encodings come from test/arbitraries.ts. A property run through fast-check adds
 * mutations of generated messages with shrinking. The framer is fed random chunkings of
 * concatenated valid messages and must hand back exactly those frames.
 *
 * The seed is random unless FUZZ_SEED is set; it is printed with every failure, and each kind of
 * failure is reported with the shortest input that showed it.
 */
import test from 'ava';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import {
  decode, encode, Framer, FramingError, ERROR_TYPES, toJson, fromJson, formatMessage, type Message,
} from '../src/openflow/index.js';
import { arbMessage, lengthFields, normalise, show, type LengthField } from './arbitraries.js';
import { Rng, FUZZ_SEED as SEED, FUZZ_SCALE as SCALE } from './rng.js';

/** Byte values the OpenFlow decoder branches on: lengths in multiples of 8. */
const INTERESTING = Array.from({ length: 32 }, (_, i) => 8 * i);



// ---------------------------------------------------------------------------------------------
// The invariant, and failure collection
// ---------------------------------------------------------------------------------------------

const ERROR_PAIRS = new Set(ERROR_TYPES.flatMap((t) => t.codes.map((c) => `${t.type}/${c.code}`)));

interface Finding { kind: string; hex: string; detail: string; origin: string; count: number }

class Checker {
  inputs = 0;
  decoded = 0;
  readonly findings = new Map<string, Finding>();
  readonly errors = new Map<string, number>();

  private report(kind: string, input: Uint8Array, detail: string, origin: string): void {
    const hex = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('hex');
    const old = this.findings.get(kind);
    if (old === undefined) this.findings.set(kind, { kind, hex, detail, origin, count: 1 });
    else {
      old.count++;
      if (hex.length < old.hex.length) Object.assign(old, { hex, detail, origin });
    }
  }

  /** Checks one input; returns a failure description (also recorded) or undefined. */
  check(input: Uint8Array, origin: string): string | undefined {
    this.inputs++;
    let r: ReturnType<typeof decode>;
    try {
      r = decode(input);
    } catch (e) {
      return this.fail(`decode threw ${errorKind(e)}`, input, String(e), origin);
    }
    if (!r.ok) {
      const { errType, code, internal, text, name } = r.error;
      this.errors.set(name, (this.errors.get(name) ?? 0) + 1);
      if (internal) return this.fail(`internal error: ${text.replace(/\d+/g, 'N').slice(0, 80)}`, input, text, origin);
      if (!ERROR_PAIRS.has(`${errType}/${code}`)) return this.fail(`unknown error pair ${errType}/${code}`, input, text, origin);
      return undefined;
    }
    this.decoded++;
    const x = r.msg;
    let again: Buffer;
    try {
      again = encode(x);
    } catch (e) {
      return this.fail(`re-encoding a decoded message threw ${errorKind(e)}`, input, `${String(e)}; decoded ${show(x)}`, origin);
    }
    const r2 = decode(again);
    if (!r2.ok) {
      return this.fail(`re-encoded message does not decode: ${r2.error.name}`, input,
        `${r2.error.text}; decoded ${show(x)}; re-encoded ${again.toString('hex')}`, origin);
    }
    if (!isDeepStrictEqual(normalise(r2.msg), normalise(x))) {
      return this.fail('decode(encode(x)) differs from x', input,
        `x = ${show(x)}; decode(encode(x)) = ${show(r2.msg)}; encode(x) = ${again.toString('hex')}`, origin);
    }
    // What decode accepts, the JSON form and the text form must take too.
    let j: Message;
    try {
      j = fromJson(JSON.parse(JSON.stringify(toJson(x))));
    } catch (e) {
      return this.fail(`JSON form of a decoded message fails: ${errorKind(e)}`, input, `${String(e)}; decoded ${show(x)}`, origin);
    }
    if (!isDeepStrictEqual(normalise(j), normalise(x))) {
      return this.fail('JSON form of a decoded message reads back different', input, `x = ${show(x)}; from JSON ${show(j)}`, origin);
    }
    let line: string;
    try {
      line = formatMessage(x);
    } catch (e) {
      return this.fail(`formatMessage of a decoded message threw ${errorKind(e)}`, input, `${String(e)}; decoded ${show(x)}`, origin);
    }
    if (/[\n\r\u2028\u2029]/.test(line)) return this.fail('formatMessage printed more than one line', input, line, origin);
    return undefined;
  }

  private fail(kind: string, input: Uint8Array, detail: string, origin: string): string {
    this.report(kind, input, detail, origin);
    return `${kind}: ${detail}`;
  }

  summary(): string {
    return [...this.findings.values()]
      .map((f) => `- ${f.kind} (${f.count} inputs; shortest from ${f.origin}):\n    input ${f.hex}\n    ${f.detail.slice(0, 1500)}`)
      .join('\n');
  }
}

function errorKind(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message.replace(/\d+/g, 'N').slice(0, 60)}` : typeof e;
}

/** Sets the header length to the buffer's size (so the input reaches the body decoders). */
function fixHeaderLength(b: Buffer): Buffer {
  if (b.length >= 4 && b.length <= 0xffff) b.writeUInt16BE(b.length, 2);
  return b;
}

/** Sometimes hands decode a plain Uint8Array view inside a larger buffer instead of a Buffer. */
function asInput(rng: Rng, b: Buffer): Uint8Array {
  if (!rng.chance(0.1)) return b;
  const before = rng.int(8);
  const ab = new ArrayBuffer(before + b.length + rng.int(8));
  const u = new Uint8Array(ab, before, b.length);
  u.set(b);
  new Uint8Array(ab, 0, before).fill(0xee);
  return u;
}

// ---------------------------------------------------------------------------------------------
// The corpus of valid encodings
// ---------------------------------------------------------------------------------------------

interface Sample { msg: Message; bytes: Buffer; lengths: LengthField[] }

function corpus(n: number, seed: number): Sample[] {
  return fc.sample(arbMessage(), { numRuns: n, seed }).map((msg) => {
    const bytes = encode(msg);
    const { fields, size } = lengthFields(msg);
    if (size !== bytes.length) throw new Error(`length-field walk ended at ${size}, encoding has ${bytes.length}: ${show(msg)}`);
    return { msg, bytes, lengths: fields };
  });
}

// ---------------------------------------------------------------------------------------------
// Input makers
// ---------------------------------------------------------------------------------------------

function randomHeaderInput(rng: Rng): Buffer {
  const body = rng.bytes(rng.chance(0.05) ? rng.size(2000) : rng.size(160));
  const b = Buffer.concat([Buffer.alloc(8), body]);
  b[0] = rng.chance(0.9) ? 4 : rng.byte();
  b[1] = rng.range(0, 35);
  b.writeUInt32BE(rng.int(2 ** 32), 4);
  const n = b.length;
  const len = rng.chance(0.75) ? n : rng.pick([0, 7, 8, n - 1, n + 1, n + 8, rng.int(0x10000)]);
  b.writeUInt16BE(Math.max(0, Math.min(0xffff, len)), 2);
  return b;
}

function mutate(rng: Rng, src: Buffer): Buffer {
  let b = Buffer.from(src);
  const ops = rng.range(1, 4);
  for (let k = 0; k < ops; k++) {
    const at = rng.int(b.length + 1);
    switch (rng.int(6)) {
      case 0: if (at < b.length) b[at] ^= 1 << rng.int(8); break;
      case 1: if (at < b.length) b[at] = rng.byte(); break;
      case 2: b = Buffer.concat([b.subarray(0, at), rng.bytes(rng.range(1, 9)), b.subarray(at)]); break;
      case 3: b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.range(1, 9)))]); break;
      case 4: { // duplicate a chunk (repeats a TLV now and then)
        const from = rng.int(b.length + 1);
        const chunk = b.subarray(from, Math.min(b.length, from + rng.range(1, 24)));
        b = Buffer.concat([b.subarray(0, at), chunk, b.subarray(at)]);
        break;
      }
      default: if (at + 1 < b.length) b.writeUInt16BE(rng.pick([0, 1, 4, 8, 0xffff, rng.int(0x10000)]), at); break;
    }
  }
  return rng.chance(0.85) ? fixHeaderLength(b) : b;
}

function corruptLength(rng: Rng, s: Sample): Buffer {
  const b = Buffer.from(s.bytes);
  const nested = s.lengths.filter((f) => f.at !== 2);
  const f = nested.length > 0 && rng.chance(0.95) ? rng.pick(nested) : rng.pick(s.lengths);
  const max = f.size === 1 ? 0xff : 0xffff;
  const old = f.size === 1 ? b[f.at]! : b.readUInt16BE(f.at);
  const v = rng.pick([
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 15, 16, 17, 24, max,
    old - 1, old + 1, old - 2, old + 2, old - 4, old + 4, old - 8, old + 8, old * 2, old >> 1, rng.int(max + 1),
  ]);
  const val = Math.max(0, Math.min(max, v));
  if (f.size === 1) b[f.at] = val;
  else b.writeUInt16BE(val, f.at);
  // Now and then a second corruption elsewhere, or a resize that the header length follows.
  if (rng.chance(0.2)) {
    const g = rng.pick(s.lengths);
    if (g.size === 1) b[g.at] = rng.byte();
    else b.writeUInt16BE(rng.int(0x10000), g.at);
  }
  if (rng.chance(0.2)) {
    const cut = rng.range(1, 16);
    return fixHeaderLength(rng.chance(0.5) ? Buffer.concat([b, rng.bytes(cut)]) : b.subarray(0, Math.max(8, b.length - cut)));
  }
  return rng.chance(0.9) && f.at !== 2 ? b : fixHeaderLength(b);
}

// ---------------------------------------------------------------------------------------------
// The fuzz run
// ---------------------------------------------------------------------------------------------

test('decode never throws, never fails internally, and is idempotent on what it accepts', (t) => {
  const rng = new Rng(SEED, INTERESTING);
  const checker = new Checker();
  const started = process.hrtime.bigint();
  const samples = corpus(Math.round(400 * SCALE), SEED);
  const counts: Record<string, number> = {};
  const run = (origin: string, n: number, make: () => Buffer): void => {
    const before = checker.inputs;
    for (let i = 0; i < n; i++) checker.check(asInput(rng, make()), origin);
    counts[origin] = (counts[origin] ?? 0) + checker.inputs - before;
  };

  // The valid encodings themselves (sanity: the fuzz corpus round-trips).
  for (const s of samples) checker.check(s.bytes, 'valid encoding');
  counts['valid encoding'] = samples.length;

  run('random header + body', Math.round(40_000 * SCALE), () => randomHeaderInput(rng));

  // Every truncation of every corpus message, raw and with the header length following the cut.
  const beforeTrunc = checker.inputs;
  for (const s of samples) {
    for (let n = 0; n < s.bytes.length; n++) {
      const cut = s.bytes.subarray(0, n);
      checker.check(cut, 'truncation');
      if (n >= 4) checker.check(fixHeaderLength(Buffer.from(cut)), 'truncation, length fixed');
    }
  }
  counts.truncation = checker.inputs - beforeTrunc;

  run('byte mutation', Math.round(50_000 * SCALE), () => mutate(rng, rng.pick(samples).bytes));
  const withLengths = samples.filter((s) => s.lengths.length > 1);
  run('nested length corruption', Math.round(50_000 * SCALE), () => corruptLength(rng, rng.pick(withLengths)));

  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.log(`seed ${SEED}: ${checker.inputs} inputs in ${ms.toFixed(0)} ms (${JSON.stringify(counts)}); ${checker.decoded} decoded to a message`);
  t.log(`errors returned: ${JSON.stringify(Object.fromEntries([...checker.errors].sort((a, b) => b[1] - a[1]).slice(0, 12)))}`);
  t.true(checker.inputs >= 100_000 * Math.min(1, SCALE), 'at least 100,000 inputs');
  t.true(checker.errors.size > 10, 'the inputs reach many different decoder errors');
  if (checker.findings.size > 0) t.fail(`seed ${SEED} (rerun with FUZZ_SEED=${SEED}):\n${checker.summary()}`);
});

test('mutations of generated messages (fast-check, shrinking)', (t) => {
  const checker = new Checker();
  const mutation = fc.record({
    op: fc.constantFrom('flip', 'set', 'insert', 'delete', 'u16'),
    at: fc.nat(),
    value: fc.nat({ max: 0xffff }),
    span: fc.integer({ min: 1, max: 8 }),
  });
  const out = fc.check(fc.property(arbMessage(), fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (m, muts, fix) => {
    let b = encode(m);
    for (const { op, at: raw, value, span } of muts) {
      const at = raw % (b.length + 1);
      if (op === 'flip' && at < b.length) b[at] ^= 1 << (value & 7);
      else if (op === 'set' && at < b.length) b[at] = value & 0xff;
      else if (op === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.alloc(span, value & 0xff), b.subarray(at)]);
      else if (op === 'delete') b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + span))]);
      else if (op === 'u16' && at + 1 < b.length) b.writeUInt16BE(value, at);
    }
    if (fix) fixHeaderLength(b);
    const failure = checker.check(b, 'fast-check mutation');
    if (failure !== undefined) throw new Error(`${failure}\ninput ${b.toString('hex')}`);
  }), { numRuns: Number(process.env.FC_FUZZ_RUNS ?? 3000), seed: SEED });
  if (out.failed) t.fail(fc.defaultReportMessage(out) ?? `failed with seed ${out.seed}`);
  else t.pass();
});

// ---------------------------------------------------------------------------------------------
// The framer
// ---------------------------------------------------------------------------------------------

/** Feeds `stream` to a new framer in chunks of the given sizes (cycled); returns the frames. */
function frameAll(stream: Buffer, sizes: readonly number[]): { frames: string[]; error?: FramingError; pending: number } {
  const framer = new Framer();
  const frames: string[] = [];
  let error: FramingError | undefined;
  let o = 0;
  for (let i = 0; o < stream.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, stream.length - o);
    const e = framer.push(stream.subarray(o, o + n), (f) => frames.push(f.toString('hex')));
    if (e !== undefined && error === undefined) error = e;
    o += n;
  }
  return { frames, ...(error ? { error } : {}), pending: framer.pending };
}

const arbChunkSizes = fc.array(
  fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 5000 })),
  { minLength: 1, maxLength: 12 },
).filter((xs) => xs.some((x) => x > 0));

test('framer: any chunking of concatenated messages gives back the same frames', (t) => {
  const out = fc.check(fc.property(fc.array(arbMessage(), { minLength: 1, maxLength: 8 }), arbChunkSizes, (msgs, sizes) => {
    const encoded = msgs.map((m) => encode(m));
    const got = frameAll(Buffer.concat(encoded), sizes);
    if (got.error !== undefined) throw new Error(`framing error ${got.error.message}`);
    if (got.pending !== 0) throw new Error(`${got.pending} bytes left pending`);
    if (!isDeepStrictEqual(got.frames, encoded.map((b) => b.toString('hex')))) {
      throw new Error(`frames differ:\n got ${got.frames.join(' ')}\nwant ${encoded.map((b) => b.toString('hex')).join(' ')}`);
    }
  }), { numRuns: Number(process.env.FC_RUNS ?? 1000), seed: SEED });
  if (out.failed) t.fail(fc.defaultReportMessage(out) ?? `failed with seed ${out.seed}`);
  else t.pass();
});

test('framer: many random chunkings of a long stream (seeded loop), one byte at a time included', (t) => {
  const rng = new Rng(SEED ^ 0x5eed, INTERESTING);
  const samples = corpus(200, SEED ^ 1);
  let runs = 0;
  const started = Date.now();
  for (let k = 0; k < 2000; k++) {
    const picked = Array.from({ length: rng.range(1, 30) }, () => rng.pick(samples).bytes);
    const stream = Buffer.concat(picked);
    const sizes: number[] = k === 0 ? [1] : Array.from({ length: rng.range(1, 20) }, () => (rng.chance(0.1) ? 0 : rng.range(1, rng.pick([3, 16, 100, 3000]))));
    if (!sizes.some((x) => x > 0)) sizes.push(1);
    const got = frameAll(stream, sizes);
    runs++;
    const want = picked.map((b) => b.toString('hex'));
    if (got.error !== undefined || got.pending !== 0 || !isDeepStrictEqual(got.frames, want)) {
      t.fail(`seed ${SEED}, run ${k}: chunk sizes ${sizes.join(',')}; stream ${stream.toString('hex').slice(0, 400)}; error ${String(got.error)}; pending ${got.pending}; ${got.frames.length}/${want.length} frames`);
      return;
    }
  }
  t.log(`${runs} chunkings in ${Date.now() - started} ms`);
  t.pass();
});

test('framer: a header with an impossible length is reported after every frame before it', (t) => {
  const out = fc.check(fc.property(
    fc.array(arbMessage(), { maxLength: 5 }), fc.integer({ min: 0, max: 7 }), fc.uint8Array({ maxLength: 20 }), arbChunkSizes,
    (msgs, badLen, tail, sizes) => {
      const encoded = msgs.map((m) => encode(m));
      const bad = Buffer.from([4, 0, badLen >> 8, badLen & 0xff, 0, 0, 0, 1]);
      const got = frameAll(Buffer.concat([...encoded, bad, tail]), sizes);
      if (got.error === undefined) throw new Error('no framing error for a header of length ' + badLen);
      if (!isDeepStrictEqual(got.frames, encoded.map((b) => b.toString('hex')))) throw new Error('frames before the bad header were not all delivered');
    },
  ), { numRuns: 300, seed: SEED });
  if (out.failed) t.fail(fc.defaultReportMessage(out) ?? `failed with seed ${out.seed}`);
  else t.pass();
});

test('framer: large frames (up to 65535 bytes) across random chunk boundaries', (t) => {
  const rng = new Rng(SEED ^ 0xb16, INTERESTING);
  const small = corpus(50, SEED ^ 2).map((s) => s.bytes);
  for (let k = 0; k < 40; k++) {
    const picked: Buffer[] = [];
    for (let i = rng.range(1, 6); i > 0; i--) {
      if (rng.chance(0.5)) picked.push(rng.pick(small));
      else {
        const size = rng.chance(0.3) ? 65535 : rng.range(8, 65535);
        picked.push(encode({ version: 4, type: rng.chance(0.5) ? 2 : 3, xid: k, data: rng.bytes(size - 8) }));
      }
    }
    const sizes = Array.from({ length: rng.range(1, 6) }, () => rng.pick([1, 7, 4096, 4097, 65535, 65536, rng.range(1, 100_000)]));
    const got = frameAll(Buffer.concat(picked), sizes);
    const want = picked.map((b) => b.toString('hex'));
    if (got.error !== undefined || got.pending !== 0 || !isDeepStrictEqual(got.frames, want)) {
      t.fail(`seed ${SEED}, run ${k}: chunk sizes ${sizes.join(',')}, frame sizes ${picked.map((b) => b.length).join(',')}; error ${String(got.error)}; pending ${got.pending}; ${got.frames.length}/${want.length} frames`);
      return;
    }
  }
  t.pass();
});
