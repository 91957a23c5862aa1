/**
 * Framing: every fixture (test/fixtures/*.txt) concatenated into one byte stream must come out of
 * the Framer as exactly the original frames, in order, however the stream is cut into chunks;
 * an unframeable header is reported at once and for good; FrameStream holds its source back
 * while a slow consumer works through the frames.
 */

import test from 'ava';
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Framer, FrameStream, RawFrameStream, FramingError } from '../src/openflow/index.js';
import { loadFixtures } from './fixture-format.js';
import { Rng } from './rng.js';

const frames = loadFixtures().map((f) => f.hex);
const stream = Buffer.concat(frames);
const expectedHex = frames.map((f) => f.toString('hex'));

/** Feeds the chunks to a fresh Framer; returns the frames (as hex) or throws on a FramingError. */
function frameAll(chunks: readonly Buffer[]): string[] {
  const framer = new Framer();
  const out: string[] = [];
  for (const c of chunks) {
    const err = framer.push(c, (f) => out.push(f.toString('hex')));
    if (err !== undefined) throw err;
  }
  if (framer.pending !== 0) throw new Error(`${framer.pending} bytes left pending at the end`);
  return out;
}

test('the stream holds every fixture and frames whole', (t) => {
  t.true(frames.length > 50, `only ${frames.length} fixtures`);
  t.deepEqual(frameAll([stream]), expectedHex);
});

test('split into two chunks at every byte position', (t) => {
  let failures = 0;
  for (let cut = 0; cut <= stream.length; cut++) {
    const framer = new Framer();
    const out: string[] = [];
    const push = (c: Buffer) => framer.push(c, (f) => out.push(f.toString('hex')));
    const e1 = push(stream.subarray(0, cut));
    const e2 = push(stream.subarray(cut));
    const ok = e1 === undefined && e2 === undefined && framer.pending === 0 &&
      out.length === expectedHex.length && out.every((h, i) => h === expectedHex[i]);
    if (!ok) {
      failures++;
      if (failures <= 3) t.log(`cut at ${cut}: ${out.length} frames, pending ${framer.pending}, errors ${String(e1)} ${String(e2)}`);
    }
  }
  t.is(failures, 0);
});

test('chunks of one byte', (t) => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1));
  t.deepEqual(frameAll(chunks), expectedHex);
});

test('random chunkings', (t) => {
  for (let seed = 1; seed <= 200; seed++) {
    const rng = new Rng(seed);
    const rand = () => rng.next();
    const chunks: Buffer[] = [];
    // Mostly small chunks, sometimes large ones, sometimes empty ones.
    for (let o = 0; o < stream.length;) {
      const r = rand();
      const n = r < 0.05 ? 0 : r < 0.8 ? 1 + Math.floor(rand() * 40) : 1 + Math.floor(rand() * 3000);
      chunks.push(stream.subarray(o, o + n));
      o += n;
    }
    t.deepEqual(frameAll(chunks), expectedHex, `seed ${seed}`);
  }
});

test('several whole messages per chunk, and chunks ending mid-message', (t) => {
  const starts: number[] = [];
  for (let i = 0, o = 0; i < frames.length; o += frames[i]!.length, i++) starts.push(o);
  const cutAt = (cuts: number[]): Buffer[] => {
    const out: Buffer[] = [];
    let o = 0;
    for (const c of [...cuts, stream.length]) {
      out.push(stream.subarray(o, c));
      o = c;
    }
    return out;
  };
  for (let k = 1; k <= 7; k++) {
    const whole: number[] = [];
    const ragged: number[] = [];
    for (let i = k; i < frames.length; i += k) {
      whole.push(starts[i]!);
      ragged.push(starts[i]! + (frames[i]!.length >> 1)); // k messages and half of the next
    }
    t.deepEqual(frameAll(cutAt(whole)), expectedHex, `${k} whole messages per chunk`);
    t.deepEqual(frameAll(cutAt(ragged)), expectedHex, `${k} messages and a half per chunk`);
  }
});

test('frames inside one chunk are views of it; a frame across chunks is a copy that later pushes do not change', (t) => {
  const framer = new Framer();
  const a = frames[0]!;
  const b = frames[1]!;
  const chunk = Buffer.concat([a, b.subarray(0, 3)]);
  const got: Buffer[] = [];
  t.is(framer.push(chunk, (f) => got.push(f)), undefined);
  t.is(got.length, 1);
  t.is(got[0]!.buffer, chunk.buffer, 'a whole frame is handed out as a view of the chunk');
  const rest = Buffer.from(b.subarray(3));
  t.is(framer.push(rest, (f) => got.push(f)), undefined);
  t.is(got.length, 2);
  t.true(got[1]!.equals(b));
  rest.fill(0);
  t.is(framer.push(Buffer.from(frames[2]!), () => undefined), undefined);
  t.true(got[1]!.equals(b), 'the reassembled frame does not share memory with the framer or the chunk');
});

// ---------------------------------------------------------------------------------------------
// Unframeable headers
// ---------------------------------------------------------------------------------------------

const BAD_LEN = [1, 6]; // BAD_REQUEST/BAD_LEN

function assertFramingError(t: import('ava').ExecutionContext, err: FramingError | undefined, declared: number): void {
  t.true(err instanceof FramingError, 'a FramingError');
  t.deepEqual([err?.errType, err?.code], BAD_LEN);
  t.is(err?.declared, declared);
}

for (const declared of [0, 1, 4, 7]) {
  test(`a header declaring length ${declared} fails at once, before anything else is buffered`, (t) => {
    const framer = new Framer();
    const header = Buffer.from([0x04, 0x00, declared >> 8, declared & 0xff, 0, 0, 0, 9]);
    const chunk = Buffer.concat([header, Buffer.alloc(4000, 0x42)]);
    const seen: Buffer[] = [];
    const err = framer.push(chunk, (f) => seen.push(f));
    assertFramingError(t, err, declared);
    t.is(seen.length, 0);
    t.true(framer.pending <= 8, `pending ${framer.pending}`);
    // and it stays broken: valid messages are not framed any more
    const again = framer.push(frames[0]!, (f) => seen.push(f));
    t.is(again, err);
    t.is(seen.length, 0);
    t.true(framer.pending <= 8, `pending ${framer.pending}`);
  });
}

test('a bad header split over chunks fails as soon as its length field is in', (t) => {
  const framer = new Framer();
  const seen: Buffer[] = [];
  t.is(framer.push(Buffer.from([0x04, 0x0e, 0x00]), (f) => seen.push(f)), undefined, 'length not known yet');
  t.true(framer.pending <= 3);
  const err = framer.push(Buffer.concat([Buffer.from([0x05, 0, 0, 0, 1]), Buffer.alloc(2000)]), (f) => seen.push(f));
  assertFramingError(t, err, 5);
  t.is(seen.length, 0);
  t.true(framer.pending <= 8, `pending ${framer.pending}`);
  t.is(framer.push(frames[0]!, (f) => seen.push(f)), err);
});

test('good frames before a bad header are delivered, then the error', (t) => {
  const framer = new Framer();
  const seen: string[] = [];
  const bad = Buffer.from([0x04, 0x02, 0x00, 0x06, 0, 0, 0, 1]);
  const err = framer.push(Buffer.concat([frames[0]!, frames[1]!, bad, frames[2]!]), (f) => seen.push(f.toString('hex')));
  assertFramingError(t, err, 6);
  t.deepEqual(seen, expectedHex.slice(0, 2));
  t.true(framer.pending <= 8);
});

test('a header declaring more than the configured maximum fails at once', (t) => {
  const framer = new Framer(1024);
  const header = Buffer.from([0x04, 0x0e, 0x08, 0x00, 0, 0, 0, 1]); // length 2048
  const err = framer.push(Buffer.concat([header, Buffer.alloc(100)]), () => t.fail('no frame expected'));
  t.true(err instanceof FramingError);
  t.deepEqual([err?.errType, err?.code], BAD_LEN);
  t.true(framer.pending <= 8);
});

// ---------------------------------------------------------------------------------------------
// FrameStream
// ---------------------------------------------------------------------------------------------

test('FrameStream: a slow consumer holds the source back, and frames arrive in order, one at a time', async (t) => {
  const copies = 12; // the fixtures 12 times over: well past the writable's 64 KiB high-water mark
  const all = Buffer.concat(Array.from({ length: copies }, () => stream));
  const chunks: Buffer[] = [];
  for (let o = 0; o < all.length; o += 4096) chunks.push(all.subarray(o, o + 4096));
  const want = Array.from({ length: copies }, () => expectedHex).flat();
  t.true(all.length > 64 * 1024 + 16 * 1024, `the stream is only ${all.length} bytes`);

  const got: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let handledAtFirstRefusal = -1;
  const sink = new FrameStream(async (f) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    got.push(f.toString('hex'));
    await delay(1);
    inFlight--;
  });
  const write = sink.write.bind(sink) as (chunk: Buffer) => boolean;
  let refusals = 0;
  (sink as unknown as { write: (c: Buffer) => boolean }).write = (c: Buffer) => {
    const accepted = write(c);
    if (!accepted) {
      refusals++;
      if (handledAtFirstRefusal < 0) handledAtFirstRefusal = got.length;
    }
    return accepted;
  };
  let drains = 0;
  sink.on('drain', () => drains++);
  const source = Readable.from(chunks, { objectMode: false, highWaterMark: 4096 });
  let pauses = 0;
  source.on('pause', () => pauses++);

  await new Promise<void>((resolve, reject) => {
    sink.on('finish', resolve);
    sink.on('error', reject);
    source.on('error', reject);
    source.pipe(sink);
  });

  t.true(refusals > 0, 'write() returned false while frames waited');
  t.true(drains > 0, "the sink emitted 'drain' when the consumer caught up");
  t.true(pauses > 0, 'the source was paused');
  t.true(handledAtFirstRefusal >= 0 && handledAtFirstRefusal < want.length / 2,
    `the source was held back early (${handledAtFirstRefusal} of ${want.length} frames handled)`);
  t.is(maxInFlight, 1, 'onFrame calls never overlap');
  t.is(got.length, want.length);
  t.deepEqual(got, want);
});

test('FrameStream: an unframeable header fails the stream with the FramingError', async (t) => {
  const seen: Buffer[] = [];
  const sink = new FrameStream((f) => { seen.push(f); });
  const bad = Buffer.from([0x04, 0x00, 0x00, 0x02, 0, 0, 0, 1]);
  const err = await new Promise<unknown>((resolve) => {
    sink.on('error', resolve);
    sink.on('finish', () => resolve(undefined));
    sink.write(frames[0]!);
    sink.write(bad);
    sink.end();
  });
  t.true(err instanceof FramingError);
  t.deepEqual([(err as FramingError).errType, (err as FramingError).code], BAD_LEN);
  t.is(seen.length, 1);
  t.true(seen[0]!.equals(frames[0]!));
});

test('RawFrameStream: frames in place, in order, handlers sometimes async; pushAt agrees with push', async (t) => {
  const r = new Rng(7);
  const chunks: Buffer[] = [];
  const all = Buffer.concat([stream, stream, stream]);
  for (let o = 0; o < all.length;) {
    const n = 1 + r.int(700);
    chunks.push(all.subarray(o, o + n));
    o += n;
  }
  const want = [...expectedHex, ...expectedHex, ...expectedHex];
  const got: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let inPlace = 0;
  const sink = new RawFrameStream((b, o, n) => {
    // Each frame is b[o..o+n): read it now (the chunk is not ours to keep).
    got.push(b.subarray(o, o + n).toString('hex'));
    if (o !== 0 || n !== b.length) inPlace++;
    if (got.length % 3 !== 0) return undefined;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    return delay(0).then(() => { inFlight--; });
  });
  await new Promise<void>((resolve, reject) => {
    sink.on('finish', resolve);
    sink.on('error', reject);
    Readable.from(chunks, { objectMode: false }).pipe(sink);
  });
  t.deepEqual(got, want);
  t.is(maxInFlight, 1, 'a pending handler holds the frames after it');
  t.true(inPlace > 0, 'frames inside a chunk come out in place');

  // The same chunks through Framer.pushAt and Framer.push.
  const a = new Framer();
  const b = new Framer();
  const viaAt: string[] = [];
  const viaPush: string[] = [];
  for (const c of chunks) {
    t.is(a.pushAt(c, (buf, o, n) => viaAt.push(buf.subarray(o, o + n).toString('hex'))), undefined);
    t.is(b.push(c, (f) => viaPush.push(f.toString('hex'))), undefined);
  }
  t.deepEqual(viaAt, want);
  t.deepEqual(viaPush, want);
});
