/**
 * Framing an OpenFlow byte stream (TCP, TLS, unix socket) into whole messages.
 *
 * The length field is checked as soon as the 8-byte header is in: a length below 8 or above the
 * configured maximum can never be resynchronised, so it is reported at once, before anything of
 * the message is buffered, and the connection must be closed. Frames that lie inside one chunk
 * are handed out as views of that chunk, or in place as (chunk, offset, length) (pushAt,
 * RawFrameStream: no object per frame); only a frame split across chunks is copied into the
 * framer's own buffer. The buffer is reset whenever it drains.
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
    return this.pushAt(chunk, (b, o, n) => onFrame(o === 0 && n === b.length ? b : b.subarray(o, o + n)));
  }

  /**
   * Like push, but each frame is handed out as (buffer, offset, length) — b[o..o+n) — instead of
   * a view: no object per frame, for consumers that read it in place. `b` is the chunk or, for
   * a frame that straddled chunks, a copy of that frame alone.
   */
  pushAt(chunk: Buffer, onFrame: (b: Buffer, o: number, n: number) => void): FramingError | undefined {
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
        if (o < chunk.length) return this.pushAt(chunk.subarray(o), onFrame);
        return undefined;
      }
      const frame = Buffer.from(this.buf.subarray(0, need2));
      this.len = 0;
      if (this.buf.length > 4096) this.buf = Buffer.alloc(0);
      onFrame(frame, 0, need2);
    }
    // Whole frames inside the chunk: in place, no copy.
    while (o < chunk.length) {
      const avail = chunk.length - o;
      const need = this.needed(chunk, o, avail);
      if (typeof need !== 'number') return (this.broken = need);
      if (avail < need) break;
      onFrame(chunk, o, need);
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
 * A Writable that frames what is piped into it, handing each frame out in place as (buffer,
 * offset, length) (Framer.pushAt). Frames are handled as they are framed, synchronously, until a
 * handler returns a promise; the rest of the chunk's frames then wait for it, in order. The write
 * callback runs only after every frame of the chunk has been handled, so a slow consumer holds
 * the socket back through the ordinary stream backpressure instead of queueing without bound.
 */
export class RawFrameStream extends Writable {
  private readonly framer: Framer;

  /**
   * `onChunk` runs once per chunk received, before its frames are handled: a per-chunk hook (a
   * connection's "the peer is alive" clock) costs less than the same work per frame.
   */
  constructor(
    private readonly onFrame: (b: Buffer, o: number, n: number) => void | Promise<void>, maxLength = OFP_MAX_MESSAGE,
    private readonly onChunk?: () => void,
  ) {
    super({ highWaterMark: 64 * 1024 });
    this.framer = new Framer(maxLength);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.onChunk?.();
    // Frames behind a pending handler, as (buffer, offset, length) triples, and the next one.
    let waiting: Array<Buffer | number> | undefined;
    let i = 0;
    let err: FramingError | undefined;
    const fail = (e: unknown): void => callback(e instanceof Error ? e : new Error(String(e)));
    // Runs when the pending handler settles: the waiting frames, up to the next promise.
    const step = (): void => {
      while (i < waiting!.length) {
        const r = this.onFrame(waiting![i] as Buffer, waiting![i + 1] as number, waiting![i + 2] as number);
        i += 3;
        if (r !== undefined) {
          r.then(step, fail);
          return;
        }
      }
      callback(err ?? null);
    };
    err = this.framer.pushAt(chunk, (b, o, n) => {
      if (waiting !== undefined) {
        waiting.push(b, o, n);
        return;
      }
      const r = this.onFrame(b, o, n);
      if (r !== undefined) {
        waiting = [];
        r.then(step, fail);
      }
    });
    if (waiting === undefined) callback(err ?? null);
  }
}

/** RawFrameStream with each frame as a Buffer (a view of the chunk, or a copy). */
export class FrameStream extends RawFrameStream {
  constructor(onFrame: (frame: Buffer) => void | Promise<void>, maxLength = OFP_MAX_MESSAGE, onChunk?: () => void) {
    super((b, o, n) => onFrame(o === 0 && n === b.length ? b : b.subarray(o, o + n)), maxLength, onChunk);
  }
}
