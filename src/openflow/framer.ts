/**
 * Framing an OpenFlow byte stream (TCP, TLS, unix socket) into whole messages.
 *
 * The length field is checked as soon as the 8-byte header is in: a length below 8 or above the
 * configured maximum can never be resynchronised, so it is reported at once, before anything of
 * the message is buffered, and the connection must be closed. Frames that lie inside one chunk
 * are handed out as views of that chunk (no copy); only a frame split across chunks is copied
 * into the framer's own buffer. The buffer is reset whenever it drains.
 */

import { Writable } from 'node:stream';
import { OFPE } from '../../proto/errors.js';

export const OFP_MAX_MESSAGE = 0xffff;

export class FramingError extends Error {
  readonly errType: number;
  readonly code: number;
  constructor(readonly header: Buffer, readonly declared: number) {
    super(`OpenFlow header declares length ${declared}: the stream cannot be framed`);
    [this.errType, this.code] = OFPE.BAD_REQUEST!.BAD_LEN!;
  }
}

export class Framer {
  private buf: Buffer = Buffer.alloc(0);
  private len = 0;
  private broken: FramingError | undefined;

  constructor(private readonly maxLength = OFP_MAX_MESSAGE) {}

  /** Bytes held for a frame that is not complete yet. */
  get pending(): number {
    return this.len;
  }

  /**
   * Feeds a chunk; calls onFrame for every complete frame in order. Returns a FramingError when
   * the stream is unframeable (and every later call returns it too).
   */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): FramingError | undefined {
    if (this.broken) return this.broken;
    let o = 0;
    // Complete the frame held from earlier chunks.
    if (this.len > 0) {
      const need = this.needed(this.buf, 0, this.len);
      if (typeof need !== 'number') return (this.broken = need);
      const take = Math.min(need - this.len, chunk.length);
      this.hold(chunk, 0, take);
      o = take;
      const need2 = this.needed(this.buf, 0, this.len);
      if (typeof need2 !== 'number') return (this.broken = need2);
      if (this.len < need2) {
        // Header just completed: more may be needed than the first estimate.
        if (o < chunk.length) return this.push(chunk.subarray(o), onFrame);
        return undefined;
      }
      const frame = Buffer.from(this.buf.subarray(0, need2));
      this.len = 0;
      if (this.buf.length > 4096) this.buf = Buffer.alloc(0);
      onFrame(frame);
    }
    // Whole frames inside the chunk: views, no copy.
    while (o < chunk.length) {
      const avail = chunk.length - o;
      const need = this.needed(chunk, o, avail);
      if (typeof need !== 'number') return (this.broken = need);
      if (avail < need) break;
      onFrame(chunk.subarray(o, o + need));
      o += need;
    }
    if (o < chunk.length) {
      const rest = chunk.length - o;
      const head = this.needed(chunk, o, rest);
      if (typeof head !== 'number') return (this.broken = head);
      this.hold(chunk, o, rest);
    }
    return undefined;
  }

  /** Bytes the frame at b[o..] needs in all (8 until the length field is known), or an error. */
  private needed(b: Buffer, o: number, avail: number): number | FramingError {
    if (avail < 4) return 8;
    const declared = b[o + 2]! << 8 | b[o + 3]!;
    if (declared < 8 || declared > this.maxLength) {
      return new FramingError(Buffer.from(b.subarray(o, o + Math.min(avail, 8))), declared);
    }
    return declared;
  }

  private hold(src: Buffer, from: number, n: number): void {
    if (this.len + n > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.len + n, Math.min(OFP_MAX_MESSAGE, this.buf.length * 2), 64));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    src.copy(this.buf, this.len, from, from + n);
    this.len += n;
  }
}

/**
 * A Writable that frames what is piped into it. The write callback runs only after every frame
 * of the chunk has been handled (awaiting onFrame when it returns a promise), so a slow consumer
 * holds the socket back through the ordinary stream backpressure instead of queueing without
 * bound.
 */
export class FrameStream extends Writable {
  private readonly framer: Framer;

  constructor(private readonly onFrame: (frame: Buffer) => void | Promise<void>, maxLength = OFP_MAX_MESSAGE) {
    super({ highWaterMark: 64 * 1024 });
    this.framer = new Framer(maxLength);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    const frames: Buffer[] = [];
    const err = this.framer.push(chunk, (f) => frames.push(f));
    let i = 0;
    // Runs synchronously until a handler returns a promise, then resumes when it settles.
    const step = (): void => {
      while (i < frames.length) {
        const r = this.onFrame(frames[i++]!);
        if (r !== undefined) {
          r.then(step, (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))));
          return;
        }
      }
      callback(err ?? null);
    };
    step();
  }
}
