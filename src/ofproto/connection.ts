/**
 * One OpenFlow channel (OVS's vconn + ofconn): a byte stream in, typed messages out, in order.
 *
 * Life of a connection:
 *   hello  — our HELLO (with a version bitmap) goes out at once; the first message from the peer
 *            must be its HELLO. Negotiation follows OpenFlow 1.3.5 §6.3.1: when both HELLOs carry
 *            a version bitmap, the highest version set in both; otherwise the smaller of the two
 *            header versions. This switch speaks 1.3 only, so anything but 0x04 fails with
 *            HELLO_FAILED/INCOMPATIBLE (with a text saying why) and the connection is closed. A
 *            peer whose header offers a higher version but sends no bitmap therefore lands on 1.3.
 *   active — every frame is decoded and handed to the handler in arrival order; a handler that
 *            returns a promise is awaited before the next frame (RawFrameStream's write callback
 *            waits too, so a slow handler holds back the socket instead of queueing without
 *            bound). Frames are read in place from the received chunk; a valid FLOW_MOD is
 *            decoded by the fast path (decodeFlowModWire: its match stays in its bytes, which the
 *            switch compiles directly), anything else by decode(). A frame that does not decode
 *            is answered with the decoder's OFPT_ERROR and
 *            the connection stays up; a header whose length cannot be framed is answered
 *            BAD_REQUEST/BAD_LEN and the connection closes (the stream can never resynchronise).
 *            A message whose version differs from the negotiated one gets BAD_REQUEST/BAD_VERSION.
 *            ECHO_REQUEST is answered here; replies to our own requests (by xid) resolve request().
 *   closed — after close(), a peer close or a socket error; pending requests are rejected.
 *
 * Inactivity probe: after `probeInterval` ms without a frame from the peer an ECHO_REQUEST goes
 * out; if nothing arrives within another `probeInterval`, the connection is closed. (Arrival is
 * noted per chunk received, one clock read for all the frames pipelined in it.)
 */

import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { Subject, type Observable } from 'rxjs';
import { OFP_VERSION, OFPT, OFPHET, OFPMPF } from '../../proto/constants.js';
import { OFPE, errorName } from '../../proto/errors.js';
import type { ErrorPair } from '../../proto/schema.js';
import {
  decode, decodeFlowModWire, encode, encodeInto, errorReply, RawFrameStream, FramingError,
  type Message, type Hello, type MultipartReply,
} from '../openflow/index.js';
import { initialControlState, type ControlParty, type ControlState } from './roles.js';
import { ofpErrorMessage } from './errors.js';

export type MessageHandler = (msg: Message, conn: OfConnection) => void | Promise<void>;

export interface ConnectionOptions {
  /** Inactivity probe interval in ms (default 5000); 0 disables the probe. */
  readonly probeInterval?: number;
  /** How long request() waits for a reply, in ms (default 10 000). */
  readonly requestTimeout?: number;
  /** A name for events and errors (default: the socket's remote address). */
  readonly name?: string;
}

export type ConnectionState = 'hello' | 'active' | 'closed';

export type ConnectionEvent =
  | { readonly type: 'negotiated'; readonly version: number }
  | { readonly type: 'probe'; readonly xid: number }
  | { readonly type: 'error-sent'; readonly name: string; readonly xid: number; readonly text: string }
  | { readonly type: 'handler-error'; readonly msgType: number; readonly xid: number; readonly error: unknown }
  | { readonly type: 'closed'; readonly reason: string };

export const DEFAULT_PROBE_INTERVAL = 5000;
export const DEFAULT_REQUEST_TIMEOUT = 10_000;
/** Versions this switch speaks, as a HELLO version bitmap (bit n = wire version n). */
export const SUPPORTED_VERSIONS = 1 << OFP_VERSION;
/** After close() the socket gets this long to flush before it is destroyed. */
const CLOSE_GRACE_MS = 1000;

/** Messages that answer a request: only these may resolve request() (xid spaces are per side). */
const REPLY_TYPES: ReadonlySet<number> = new Set([
  OFPT.ERROR, OFPT.ECHO_REPLY, OFPT.EXPERIMENTER, OFPT.FEATURES_REPLY, OFPT.GET_CONFIG_REPLY,
  OFPT.MULTIPART_REPLY, OFPT.BARRIER_REPLY, OFPT.QUEUE_GET_CONFIG_REPLY, OFPT.ROLE_REPLY,
  OFPT.GET_ASYNC_REPLY,
]);

interface Pending {
  readonly resolve: (m: Message[]) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
  /** Collect multipart parts until one without OFPMPF_REPLY_MORE. */
  readonly multipart: boolean;
  readonly parts: Message[];
}

/** The versions a HELLO offers: its bitmap when it has one, else every version up to its header's. */
function offeredVersions(hello: Hello | undefined): number | undefined {
  const el = hello?.elements.find((e) => e.type === OFPHET.VERSIONBITMAP);
  if (el === undefined || !('bitmaps' in el) || el.bitmaps.length === 0) return undefined;
  return el.bitmaps[0]! >>> 0;
}

/** Highest version set in a bitmap (-1 for none). */
function highestBit(bitmap: number): number {
  return bitmap === 0 ? -1 : 31 - Math.clz32(bitmap);
}

/** Bytes of one output slab, and the room a message needs before it is encoded into one (any
 *  OpenFlow message fits in 64 KiB). */
const OUT_SLAB = 256 * 1024;
const OUT_ROOM = 0x10000;

export class OfConnection implements ControlParty {
  readonly name: string;
  readonly control: ControlState = initialControlState();
  /** Resolves with the reason once the connection is closed. */
  readonly closed: Promise<string>;

  private readonly subject = new Subject<ConnectionEvent>();
  readonly events$: Observable<ConnectionEvent> = this.subject.asObservable();

  private st: ConnectionState = 'hello';
  private negotiated: number | undefined;
  private xidCounter = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly frames: RawFrameStream;
  private resolveClosed!: (reason: string) => void;

  // Inactivity probe: one timer, re-armed only when it fires. Recording activity is a single
  // number store per frame instead of a clearTimeout/setTimeout pair per message.
  private readonly probeInterval: number;
  private readonly requestTimeout: number;
  private lastRx = performance.now();
  private probeSentAt: number | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private busy = false;
  private closeTimer: NodeJS.Timeout | undefined;
  // Outgoing messages are encoded straight into a slab; what a tick encoded goes to the socket as
  // one write at the end of the tick (see write()). Bytes before outStart were handed to the
  // socket and are never written again, so the socket may keep them until they are sent.
  private out = Buffer.allocUnsafe(OUT_SLAB);
  private outStart = 0;
  private outEnd = 0;
  private flushQueued = false;
  /** onDrain() callbacks waiting for the slab's bytes to be handed to the socket. */
  private drainWaiters: Array<() => void> = [];
  private readonly flushTick = (): void => {
    this.flushQueued = false;
    this.flushOut();
  };

  // The frame (b[o..o+n)) and message being handled: sendError() about that message reuses the
  // exact bytes instead of re-encoding, and costs no allocation per message.
  private currentBuf: Buffer | undefined;
  private currentOff = 0;
  private currentLen = 0;
  private currentMsg: Message | undefined;

  constructor(private readonly socket: Duplex, private readonly handler: MessageHandler, opts: ConnectionOptions = {}) {
    this.probeInterval = opts.probeInterval ?? DEFAULT_PROBE_INTERVAL;
    this.requestTimeout = opts.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT;
    const s = socket as Duplex & { remoteAddress?: string; remotePort?: number; setNoDelay?: (b: boolean) => void };
    this.name = opts.name ?? (s.remoteAddress !== undefined ? `${s.remoteAddress}:${s.remotePort ?? ''}` : 'unix');
    this.closed = new Promise((r) => (this.resolveClosed = r));
    // Small control messages should not wait for Nagle; batching is done per tick (write()).
    s.setNoDelay?.(true);

    // Activity is recorded per chunk received (one clock read for many pipelined frames).
    this.frames = new RawFrameStream((b, o, n) => this.onRawFrame(b, o, n), undefined, () => { this.lastRx = performance.now(); });
    this.frames.on('error', (e) => this.onFramingError(e));
    socket.on('error', (e: Error) => this.finish(`socket error: ${e.message}`));
    socket.on('close', () => this.finish('connection closed by peer'));
    socket.pipe(this.frames);

    this.send({ type: OFPT.HELLO, elements: [{ type: OFPHET.VERSIONBITMAP, bitmaps: [SUPPORTED_VERSIONS] }] });
    this.armProbe(this.probeInterval);
  }

  get state(): ConnectionState {
    return this.st;
  }

  get active(): boolean {
    return this.st === 'active';
  }

  /** The negotiated version (0x04) once active. */
  get version(): number | undefined {
    return this.negotiated;
  }

  /**
   * Backpressure, for senders that queue by themselves (packet-in.ts): true while the socket holds
   * its high-water mark of unsent bytes or more (Node's writableNeedDrain), until 'drain', or
   * while this tick's bytes not yet handed to it reach that mark (handing them over at the tick's
   * end makes the socket need a drain, so 'drain' follows).
   */
  get congested(): boolean {
    return this.socket.writableNeedDrain || this.outEnd - this.outStart >= this.socket.writableHighWaterMark;
  }

  /** Bytes accepted by send() and not yet handed to the kernel (still in the slab, or in the socket). */
  get pendingBytes(): number {
    return this.socket.writableLength + this.outEnd - this.outStart;
  }

  /** Calls `fn` once, at the socket's next 'drain' (never after the connection has closed). */
  onDrain(fn: () => void): void {
    if (this.socket.writableNeedDrain || this.outEnd === this.outStart) {
      this.socket.once('drain', () => { if (this.st !== 'closed') fn(); });
    } else {
      // Congested by bytes still in the slab: see flushOut().
      this.drainWaiters.push(fn);
    }
  }

  /** A fresh transaction id (never 0, wraps at 2^32). */
  nextXid(): number {
    this.xidCounter = this.xidCounter >= 0xffffffff ? 1 : this.xidCounter + 1;
    return this.xidCounter;
  }

  /**
   * Encodes and writes a message (version and, when missing, xid filled in); returns its xid.
   * A closed connection drops it (the 'closed' event has said so already). Throws RangeError for a
   * message that cannot be encoded: that is a bug in the caller.
   */
  send(msg: Message): number {
    const xid = msg.xid ?? this.nextXid();
    if (!this.writable()) {
      // Still a RangeError for a message that cannot be encoded, as when the socket is open.
      encode({ ...msg, version: msg.version ?? OFP_VERSION, xid } as Message);
      return xid;
    }
    if (this.out.length - this.outEnd < OUT_ROOM) this.newSlab();
    // The encoder writes version 4 (OFP_VERSION) when msg has none; the xid is patched in.
    const n = encodeInto(msg, this.out, this.outEnd);
    if (msg.xid === undefined) this.out.writeUInt32BE(xid, this.outEnd + 4);
    this.outEnd += n;
    this.queueFlush();
    return xid;
  }

  /** Sends OFPT_ERROR about `about` (its xid; its first 64 bytes as data). */
  sendError(pair: ErrorPair, about: Message, text?: string): void {
    const frame = about === this.currentMsg && this.currentBuf !== undefined
      ? this.currentBuf.subarray(this.currentOff, this.currentOff + this.currentLen) : encode(about);
    this.sendErrorFor(pair, frame, text);
  }

  /**
   * Sends `msg` and resolves with the reply carrying the same xid (an OFPT_ERROR resolves too: the
   * caller inspects it). Rejects on timeout or close.
   */
  async request(msg: Message, timeoutMs = this.requestTimeout): Promise<Message> {
    const parts = await this.transact(msg, false, timeoutMs);
    return parts[0]!;
  }

  /** Like request(), for multipart requests: every part of the reply, up to the one without REPLY_MORE. */
  requestMultipart(msg: Message, timeoutMs = this.requestTimeout): Promise<Message[]> {
    return this.transact(msg, true, timeoutMs);
  }

  /** Closes the connection: what was sent is flushed, then the socket is ended. */
  close(reason = 'closed locally'): void {
    if (this.st === 'closed') return;
    this.flushOut();
    this.socket.end();
    this.closeTimer = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    this.closeTimer.unref();
    this.finish(reason);
  }

  // --- receiving -------------------------------------------------------------------------------

  /**
   * A frame in place, b[o..o+n). A FLOW_MOD of the negotiated version takes the fast path
   * (decodeFlowModWire: a valid flow-mod, its match not decoded, no view of the frame made);
   * everything else, and any flow-mod that path does not take, goes through decode(), which
   * says what is wrong.
   */
  private onRawFrame(b: Buffer, o: number, n: number): void | Promise<void> {
    if (this.st === 'active' && b[o + 1] === OFPT.FLOW_MOD && b[o] === this.negotiated) {
      const fm = decodeFlowModWire(b, o, n);
      if (fm !== undefined) return this.dispatch(fm, b, o, n);
    }
    return this.onFrame(o === 0 && n === b.length ? b : b.subarray(o, o + n));
  }

  private onFrame(frame: Buffer): void | Promise<void> {
    if (this.st === 'closed') return;
    const type = frame[1]!;
    if (this.st === 'hello') {
      this.onHello(frame);
      return;
    }
    if (frame[0] !== this.negotiated) {
      // decode() already refuses most types in another version; HELLO and echo decode in any
      // version (negotiation needs them), so the negotiated version is checked here for all.
      // An ERROR is never answered with an error (two peers could ping-pong forever).
      if (type !== OFPT.ERROR) this.sendErrorFor(OFPE.BAD_REQUEST!.BAD_VERSION!, frame, `version 0x${frame[0]!.toString(16)} after negotiating 0x${this.negotiated!.toString(16)}`);
      return;
    }
    const r = decode(frame);
    if (!r.ok) {
      this.send(errorReply(r.error));
      this.subject.next({ type: 'error-sent', name: r.error.name, xid: r.error.xid, text: r.error.text });
      return;
    }
    const msg = r.msg;
    const xid = msg.xid ?? 0;
    switch (msg.type) {
      case OFPT.ECHO_REQUEST:
        this.send({ type: OFPT.ECHO_REPLY, xid, data: msg.data });
        return;
      case OFPT.HELLO:
        return; // a repeated HELLO carries nothing new
      default:
        break;
    }
    if (REPLY_TYPES.has(msg.type) && this.pending.has(xid)) {
      this.settleReply(xid, msg);
      return;
    }
    if (msg.type === OFPT.ECHO_REPLY) return; // the answer to an inactivity probe
    return this.dispatch(msg, frame, 0, frame.length);
  }

  private dispatch(msg: Message, b: Buffer, o: number, n: number): void | Promise<void> {
    this.currentBuf = b;
    this.currentOff = o;
    this.currentLen = n;
    this.currentMsg = msg;
    let r: void | Promise<void>;
    try {
      r = this.handler(msg, this);
    } catch (e) {
      this.handlerFailed(msg, e);
      return;
    }
    if (r === undefined) return;
    // The promise FrameStream awaits never rejects: a failing handler must not break the stream.
    this.busy = true;
    return r.then(
      () => { this.busy = false; },
      (e: unknown) => { this.busy = false; this.handlerFailed(msg, e); },
    );
  }

  private handlerFailed(msg: Message, error: unknown): void {
    this.subject.next({ type: 'handler-error', msgType: msg.type, xid: msg.xid ?? 0, error });
  }

  private onHello(frame: Buffer): void {
    if (frame[1] !== OFPT.HELLO) {
      this.failHello(frame, `expected HELLO as the first message, got type ${frame[1]}`);
      return;
    }
    // A HELLO whose elements do not decode still has a usable header version (the bitmap is
    // optional), so negotiation goes on from the header alone.
    const r = decode(frame);
    const theirs = offeredVersions(r.ok && r.msg.type === OFPT.HELLO ? r.msg : undefined);
    const headerVersion = frame[0]!;
    let version: number;
    let why: string;
    if (theirs !== undefined) {
      version = highestBit(theirs & SUPPORTED_VERSIONS);
      why = `peer's version bitmap 0x${theirs.toString(16)} shares no version with ours 0x${SUPPORTED_VERSIONS.toString(16)}`;
    } else {
      version = Math.min(headerVersion, OFP_VERSION);
      why = `peer offers versions up to 0x${headerVersion.toString(16)}, this switch needs 0x${OFP_VERSION.toString(16)} (OpenFlow 1.3)`;
    }
    if (version !== OFP_VERSION) {
      this.failHello(frame, `no common OpenFlow version: ${why}`);
      return;
    }
    this.negotiated = version;
    this.st = 'active';
    this.subject.next({ type: 'negotiated', version });
  }

  /** HELLO_FAILED/INCOMPATIBLE with a text body, in the peer's own header version, then close. */
  private failHello(frame: Buffer, text: string): void {
    const [errType, code] = OFPE.HELLO_FAILED!.INCOMPATIBLE!;
    const xid = frame.readUInt32BE(4);
    // HELLO_FAILED/INCOMPATIBLE is (0, 0) in every OpenFlow version, so an error in the peer's
    // version is one it can read.
    this.write(encode({ version: frame[0]!, type: OFPT.ERROR, xid, errType, code, data: Buffer.from(text, 'ascii') }));
    this.subject.next({ type: 'error-sent', name: 'HELLO_FAILED/INCOMPATIBLE', xid, text });
    this.close(`version negotiation failed: ${text}`);
  }

  private onFramingError(e: Error): void {
    if (e instanceof FramingError) {
      this.sendErrorFor([e.errType, e.code], e.header, e.message);
      this.close(`framing error: ${e.message}`);
    } else {
      this.close(`receive error: ${e.message}`);
    }
  }

  private sendErrorFor(pair: ErrorPair, frame: Uint8Array, text?: string): void {
    const [errType, code] = pair;
    const xid = frame.length >= 8 ? Buffer.from(frame.buffer, frame.byteOffset, frame.length).readUInt32BE(4) : 0;
    this.send(ofpErrorMessage(pair, xid, Uint8Array.prototype.slice.call(frame, 0, 64)));
    this.subject.next({ type: 'error-sent', name: errorName(errType, code), xid, text: text ?? '' });
  }

  // --- requests --------------------------------------------------------------------------------

  private transact(msg: Message, multipart: boolean, timeoutMs: number): Promise<Message[]> {
    if (this.st === 'closed') return Promise.reject(new Error(`${this.name}: connection is closed`));
    const xid = msg.xid ?? this.nextXid();
    if (this.pending.has(xid)) return Promise.reject(new Error(`${this.name}: xid ${xid} already has a request waiting`));
    return new Promise<Message[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(xid);
        reject(new Error(`${this.name}: no reply to xid ${xid} (type ${msg.type}) within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(xid, { resolve, reject, timer, multipart, parts: [] });
      this.send({ ...msg, xid } as Message);
    });
  }

  private settleReply(xid: number, msg: Message): void {
    const p = this.pending.get(xid)!;
    p.parts.push(msg);
    if (p.multipart && msg.type === OFPT.MULTIPART_REPLY && ((msg as MultipartReply).flags & OFPMPF.MORE) !== 0) return;
    clearTimeout(p.timer);
    this.pending.delete(xid);
    p.resolve(p.parts);
  }

  // --- sending ---------------------------------------------------------------------------------

  private writable(): boolean {
    return this.st !== 'closed' && !this.socket.destroyed && this.socket.writable;
  }

  /**
   * Writes encoded bytes after what was sent before. Everything sent in one tick (the replies to
   * one chunk's messages, a burst of packet-ins) reaches the socket as one buffer at the tick's
   * end: one write system call instead of one per message, and no per-message allocation.
   */
  private write(bytes: Buffer): void {
    if (!this.writable()) return;
    if (this.out.length - this.outEnd < bytes.length) this.newSlab();
    bytes.copy(this.out, this.outEnd);
    this.outEnd += bytes.length;
    this.queueFlush();
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(this.flushTick);
  }

  /** Hands what was encoded since the last flush to the socket. */
  private flushOut(): void {
    if (this.outEnd === this.outStart) return;
    const chunk = this.out.subarray(this.outStart, this.outEnd);
    this.outStart = this.outEnd;
    if (this.writable()) this.socket.write(chunk);
    if (this.drainWaiters.length === 0) return;
    // Those waiting for room: the socket either needs a drain now ('drain' will come) or took
    // everything at once (a socket that writes synchronously emits no 'drain'): go on then.
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    const go = (): void => { if (this.st !== 'closed') for (const fn of waiters) fn(); };
    if (this.socket.writableNeedDrain) this.socket.once('drain', go);
    else setImmediate(go);
  }

  /** Flushes the current slab and starts a new one (the socket may still hold the old one's bytes). */
  private newSlab(): void {
    this.flushOut();
    this.out = Buffer.allocUnsafe(OUT_SLAB);
    this.outStart = 0;
    this.outEnd = 0;
  }

  // --- liveness --------------------------------------------------------------------------------

  private armProbe(ms: number): void {
    if (this.probeInterval <= 0 || this.st === 'closed') return;
    this.probeTimer = setTimeout(() => this.onProbeTimer(), Math.max(1, ms));
    this.probeTimer.unref();
  }

  private onProbeTimer(): void {
    if (this.st === 'closed') return;
    const now = performance.now();
    const silent = now - this.lastRx;
    const interval = this.probeInterval;
    if (this.busy) {
      // We are the slow side (a handler is still working): the peer's frames wait in our
      // socket, so its silence is not evidence.
      this.armProbe(interval);
      return;
    }
    if (this.st === 'hello') {
      if (silent >= 2 * interval) this.close(`no HELLO from the peer within ${2 * interval} ms`);
      else this.armProbe(2 * interval - silent);
      return;
    }
    if (this.probeSentAt === undefined || this.lastRx > this.probeSentAt) {
      this.probeSentAt = undefined;
      if (silent < interval) {
        this.armProbe(interval - silent);
        return;
      }
      const xid = this.send({ type: OFPT.ECHO_REQUEST, data: new Uint8Array(0) });
      this.probeSentAt = now;
      this.subject.next({ type: 'probe', xid });
      this.armProbe(interval);
      return;
    }
    if (now - this.probeSentAt >= interval) {
      this.close(`inactivity probe: no answer within ${interval} ms of an echo request after ${interval} ms of silence`);
    } else {
      this.armProbe(interval - (now - this.probeSentAt));
    }
  }

  // --- teardown --------------------------------------------------------------------------------

  private finish(reason: string): void {
    if (this.st === 'closed') return;
    this.st = 'closed';
    if (this.probeTimer !== undefined) clearTimeout(this.probeTimer);
    for (const [xid, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(`${this.name}: connection closed (${reason}) before the reply to xid ${xid}`));
    }
    this.pending.clear();
    this.socket.unpipe(this.frames);
    this.socket.once('close', () => { if (this.closeTimer !== undefined) clearTimeout(this.closeTimer); });
    this.subject.next({ type: 'closed', reason });
    this.subject.complete();
    this.resolveClosed(reason);
  }
}
