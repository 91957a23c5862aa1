/**
 * A controller-side OpenFlow 1.3 client: connects to a switch (its passive listener), says HELLO,
 * answers echo requests, and gives the switch's messages as an RxJS stream, with request/reply
 * correlation by xid — what tests, examples and a future ofctl use to drive a switch.
 *
 * request() resolves with the reply of the same xid: one message, or for a multipart request
 * every part until the one without REPLY_MORE. An OFPT_ERROR with that xid rejects it. barrier()
 * sends BARRIER_REQUEST and resolves on its reply: everything sent before is then applied.
 */

import { connect as tcpConnect, type Socket } from 'node:net';
import { Subject, type Observable } from 'rxjs';
import { Framer, decode, encode, OFPT, OFP_VERSION, type Message } from '../openflow/index.js';

const OFPMPF_REPLY_MORE = 1;

export class OfpErrorReply extends Error {
  constructor(readonly reply: Message) {
    super(`the switch answered with OFPT_ERROR ${JSON.stringify(reply, (_k, v) => (typeof v === 'bigint' ? String(v) : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v))}`);
  }
}

interface Pending {
  readonly parts: Message[];
  resolve(msgs: Message[]): void;
  reject(e: Error): void;
}

export class OfClient {
  private readonly subject = new Subject<Message>();
  /** Every message from the switch (replies included), in order. */
  readonly messages$: Observable<Message> = this.subject.asObservable();
  private readonly framer = new Framer();
  private readonly pending = new Map<number, Pending>();
  private nextXid = 1;
  private closedWith: Error | undefined;

  private constructor(private readonly sock: Socket) {
    sock.on('data', (chunk: Buffer) => {
      const err = this.framer.push(chunk, (frame) => this.onFrame(frame));
      if (err !== undefined) this.fail(err);
    });
    sock.on('error', (e) => this.fail(e));
    sock.on('close', () => this.fail(new Error('connection closed')));
  }

  /** Connects to tcp HOST:PORT and completes the HELLO exchange. */
  static connect(port: number, host = '127.0.0.1'): Promise<OfClient> {
    return new Promise((resolve, reject) => {
      const sock = tcpConnect({ port, host });
      sock.setNoDelay(true);
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        const c = new OfClient(sock);
        const sub = c.messages$.subscribe((m) => {
          if (m.type !== OFPT.HELLO) return;
          sub.unsubscribe();
          resolve(c);
        });
        c.sendRaw({ version: OFP_VERSION, type: OFPT.HELLO, xid: 0, elements: [{ type: 1, bitmaps: [1 << OFP_VERSION] }] } as Message);
      });
    });
  }

  /** Sends a message (its xid is assigned when absent); returns the xid. */
  send(msg: Message): number {
    const xid = msg.xid ?? this.nextXid++;
    this.sendRaw({ ...msg, version: OFP_VERSION, xid } as Message);
    return xid;
  }

  /** Sends and waits for the reply (all parts of a multipart reply). */
  request(msg: Message): Promise<Message[]> {
    if (this.closedWith !== undefined) return Promise.reject(this.closedWith);
    const xid = msg.xid ?? this.nextXid++;
    return new Promise((resolve, reject) => {
      this.pending.set(xid, { parts: [], resolve, reject });
      this.send({ ...msg, xid } as Message);
    });
  }

  async barrier(): Promise<void> {
    await this.request({ type: OFPT.BARRIER_REQUEST } as Message);
  }

  close(): void {
    this.sock.destroy();
  }

  private sendRaw(msg: Message): void {
    this.sock.write(encode(msg));
  }

  private onFrame(frame: Uint8Array): void {
    const r = decode(frame);
    if (!r.ok) return; // a switch's message we cannot read: nothing to correlate
    const msg = r.msg;
    if (msg.type === OFPT.ECHO_REQUEST) {
      this.sendRaw({ version: OFP_VERSION, type: OFPT.ECHO_REPLY, xid: msg.xid ?? 0, data: (msg as { data: Uint8Array }).data } as Message);
    }
    const p = this.pending.get(msg.xid ?? -1);
    if (p !== undefined && msg.type !== OFPT.HELLO && msg.type !== OFPT.ECHO_REQUEST) {
      if (msg.type === OFPT.ERROR) {
        this.pending.delete(msg.xid!);
        p.reject(new OfpErrorReply(msg));
      } else {
        p.parts.push(msg);
        const more = msg.type === OFPT.MULTIPART_REPLY && ((msg as { flags: number }).flags & OFPMPF_REPLY_MORE) !== 0;
        if (!more) {
          this.pending.delete(msg.xid!);
          p.resolve(p.parts);
        }
      }
    }
    this.subject.next(msg);
  }

  private fail(e: Error): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = e;
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
    this.subject.complete();
    this.sock.destroy();
  }
}
