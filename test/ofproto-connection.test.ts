/**
 * The connection layer against real peers: ovs-ofctl (probe, ping, show) over TCP and a unix
 * socket, and our own raw-socket clients for version negotiation, decode and framing errors,
 * the inactivity probe, ordered async handling, request/reply by xid and reconnect backoff.
 * Every socket is on 127.0.0.1 or in a temp dir this file creates and removes.
 */

import test from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { firstValueFrom, filter } from 'rxjs';
import {
  decode, encode, Framer, OFPT, OFPMP, OFPFC, OFPXMT, OFP_NO_BUFFER, OFPP, OFPG, OFPE,
  type Message, type FlowMod,
  ONF_EXPERIMENTER_ID,
} from '../src/openflow/index.js';
import { OfConnection, type MessageHandler } from '../src/ofproto/connection.js';
import { ConnectionManager, type ManagerEvent } from '../src/ofproto/connmgr.js';
import { ONF_DUP_INST } from '../src/ofproto/validate.js';
import { runOvsOfctl as ofctl } from './peers/peers.js';

// ---------------------------------------------------------------------------------------------
// A test switch: just enough for ovs-ofctl probe/ping/show (the real switch handler is the lead's).

const PORTS = [1, 2, 3];

const testSwitch: MessageHandler = (msg, conn) => {
  const xid = msg.xid ?? 0;
  switch (msg.type) {
    case OFPT.FEATURES_REQUEST:
      conn.send({ type: OFPT.FEATURES_REPLY, xid, datapathId: 0x42n, nBuffers: 0, nTables: 254, auxiliaryId: 0, capabilities: 0x1 | 0x2 | 0x4, reserved: 0 });
      return;
    case OFPT.BARRIER_REQUEST:
      conn.send({ type: OFPT.BARRIER_REPLY, xid });
      return;
    case OFPT.MULTIPART_REQUEST:
      if (msg.mpType === OFPMP.PORT_DESC) {
        conn.send({
          type: OFPT.MULTIPART_REPLY, xid, mpType: OFPMP.PORT_DESC, flags: 0,
          ports: PORTS.map((n) => ({
            portNo: n, hwAddr: `02:00:00:00:00:0${n}`, name: `p${n}`, config: 0, state: 0,
            curr: 0, advertised: 0, supported: 0, peer: 0, currSpeed: 0, maxSpeed: 0,
          })),
        });
      } else if (msg.mpType === OFPMP.TABLE_FEATURES) {
        // OVS wants at least one table with its eight mandatory properties.
        conn.send({
          type: OFPT.MULTIPART_REPLY, xid, mpType: OFPMP.TABLE_FEATURES, flags: 0,
          tables: [{
            tableId: 0, name: 'table0', metadataMatch: 0xffffffffffffffffn, metadataWrite: 0xffffffffffffffffn,
            config: 0, maxEntries: 1_000_000,
            properties: [
              { type: 0, instructionIds: [] }, { type: 2, nextTableIds: [] }, { type: 4, actionIds: [] },
              { type: 6, actionIds: [] }, { type: 8, oxmIds: [] }, { type: 0xa, oxmIds: [] },
              { type: 0xc, oxmIds: [] }, { type: 0xe, oxmIds: [] },
            ],
          }],
        });
      } else if (msg.mpType === OFPMP.DESC) {
        conn.send({ type: OFPT.MULTIPART_REPLY, xid, mpType: OFPMP.DESC, flags: 0, mfrDesc: 'ofswitch', hwDesc: 'test', swDesc: 'test', serialNum: '', dpDesc: '' });
      } else {
        conn.sendError(OFPE.BAD_REQUEST!.BAD_MULTIPART!, msg);
      }
      return;
    default:
      return;
  }
};

async function startManager(opts: { probeInterval?: number; handler?: MessageHandler; listen?: string } = {}) {
  const mgr = new ConnectionManager({ handler: opts.handler ?? testSwitch, probeInterval: opts.probeInterval ?? 5000 });
  const events: ManagerEvent[] = [];
  mgr.events$.subscribe((e) => events.push(e));
  const l = await mgr.listen(opts.listen ?? 'ptcp:0');
  return { mgr, events, listener: l, port: l.port ?? 0 };
}


// ---------------------------------------------------------------------------------------------
// A raw peer: bytes out, frames in, nothing interpreted.

function ofMsg(version: number, type: number, xid: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(8);
  h[0] = version;
  h[1] = type;
  h.writeUInt16BE(8 + body.length, 2);
  h.writeUInt32BE(xid, 4);
  return Buffer.concat([h, body]);
}

/** HELLO with an OFPHET_VERSIONBITMAP element. */
function helloWithBitmap(version: number, bitmap: number, xid = 1): Buffer {
  const el = Buffer.alloc(8);
  el.writeUInt16BE(1, 0);
  el.writeUInt16BE(8, 2);
  el.writeUInt32BE(bitmap, 4);
  return ofMsg(version, OFPT.HELLO, xid, el);
}

class RawPeer {
  readonly frames: Buffer[] = [];
  private read = 0;
  closed = false;
  private readonly framer = new Framer();
  private wake: (() => void) | undefined;

  private constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.framer.push(d, (f) => this.frames.push(Buffer.from(f)));
      this.wake?.();
    });
    sock.on('close', () => { this.closed = true; this.wake?.(); });
    sock.on('error', () => { /* the switch may reset us; 'close' follows */ });
  }

  static connect(where: number | string): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = typeof where === 'number' ? createConnection({ host: '127.0.0.1', port: where }) : createConnection(where);
      s.once('connect', () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  send(b: Buffer): void {
    this.sock.write(b);
  }

  /** The next unread frame (optionally: the next one of `type`, skipping others). */
  async next(type?: number, timeoutMs = 3000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.read < this.frames.length) {
        const f = this.frames[this.read++]!;
        if (type === undefined || f[1] === type) return f;
      }
      if (this.closed) throw new Error(`closed while waiting for type ${type}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for type ${type}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.wake = () => { clearTimeout(t); r(); };
      });
    }
  }

  async waitClosed(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('peer not closed');
      await delay(10);
    }
  }

  /** Connects and completes a 1.3 HELLO exchange. */
  static async negotiated(port: number): Promise<RawPeer> {
    const p = await RawPeer.connect(port);
    p.send(helloWithBitmap(4, 1 << 4));
    await p.next(OFPT.HELLO);
    return p;
  }

  destroy(): void {
    this.sock.destroy();
  }
}

function errorOf(f: Buffer): { version: number; xid: number; type: number; code: number; data: Buffer } {
  return { version: f[0]!, xid: f.readUInt32BE(4), type: f.readUInt16BE(8), code: f.readUInt16BE(10), data: f.subarray(12) };
}

// ---------------------------------------------------------------------------------------------
// ovs-ofctl

test('ovs-ofctl probe, ping and show succeed against a ptcp:0 listener', async (t) => {
  const { mgr, port, listener, events } = await startManager();
  try {
    t.regex(listener.address, /^ptcp:\d+:127\.0\.0\.1$/);
    t.not(port, 0);
    const target = `tcp:127.0.0.1:${port}`;
    const probe = await ofctl(['probe', target]);
    t.is(probe.code, 0, probe.stderr);
    const ping = await ofctl(['ping', target, '32']);
    t.is(ping.code, 0, ping.stderr);
    t.regex(ping.stdout, /32 bytes from/);
    const show = await ofctl(['show', target]);
    t.is(show.code, 0, show.stderr);
    t.regex(show.stdout, /OFPT_FEATURES_REPLY.*dpid:0000000000000042/s);
    t.regex(show.stdout, /n_tables:254/);
    t.regex(show.stdout, /1\(p1\): addr:02:00:00:00:00:01/);
    t.regex(show.stdout, /OFPT_GET_CONFIG_REPLY.*frags=normal miss_send_len=128/s);
    t.true(events.filter((e) => e.type === 'negotiated').length >= 3);
    t.false(events.some((e) => e.type === 'connection' && e.event.type === 'error-sent'));
  } finally {
    await mgr.close();
  }
});

test('ovs-ofctl show and set-frags/get-frags over a punix listener in a temp dir', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-conn-'));
  const path = join(dir, 'br0.mgmt');
  const { mgr, listener } = await startManager({ listen: `punix:${path}` });
  try {
    t.is(listener.address, `punix:${path}`);
    const show = await ofctl(['show', `unix:${path}`]);
    t.is(show.code, 0, show.stderr);
    t.regex(show.stdout, /OFPT_FEATURES_REPLY/);
    // set-frags changes the switch-wide config; get-frags reads it on a new connection.
    const set = await ofctl(['set-frags', `unix:${path}`, 'drop']);
    t.is(set.code, 0, set.stderr);
    const get = await ofctl(['get-frags', `unix:${path}`]);
    t.is(get.code, 0, get.stderr);
    t.is(get.stdout.trim(), 'drop');
  } finally {
    await mgr.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Version negotiation

test('HELLO with bitmap {1.0, 1.3} negotiates 1.3', async (t) => {
  const { mgr, port, events } = await startManager();
  try {
    const p = await RawPeer.connect(port);
    const ours = await p.next();
    t.is(ours[0], 4);
    t.is(ours[1], OFPT.HELLO);
    t.is(ours.readUInt32BE(12), 1 << 4, 'our HELLO carries the bitmap {1.3}');
    p.send(helloWithBitmap(4, (1 << 1) | (1 << 4)));
    p.send(ofMsg(4, OFPT.ECHO_REQUEST, 7, Buffer.from('hi')));
    const reply = await p.next();
    t.is(reply[1], OFPT.ECHO_REPLY);
    t.is(reply.readUInt32BE(4), 7);
    t.is(reply.subarray(8).toString(), 'hi');
    const neg = events.find((e) => e.type === 'negotiated');
    t.is(neg?.type === 'negotiated' ? neg.version : -1, 4);
    p.destroy();
  } finally {
    await mgr.close();
  }
});

test('HELLO version 5 without bitmap negotiates down to 1.3', async (t) => {
  const { mgr, port } = await startManager();
  try {
    const p = await RawPeer.connect(port);
    await p.next(OFPT.HELLO);
    p.send(ofMsg(5, OFPT.HELLO, 1));
    p.send(ofMsg(4, OFPT.FEATURES_REQUEST, 9));
    const reply = await p.next();
    t.is(reply[0], 4);
    t.is(reply[1], OFPT.FEATURES_REPLY);
    t.is(reply.readUInt32BE(4), 9);
    p.destroy();
  } finally {
    await mgr.close();
  }
});

test('HELLO offering only 1.0 gets HELLO_FAILED/INCOMPATIBLE with a text, then the close', async (t) => {
  const { mgr, port, events } = await startManager();
  try {
    const p = await RawPeer.connect(port);
    await p.next(OFPT.HELLO);
    p.send(ofMsg(1, OFPT.HELLO, 0x55));
    const f = await p.next(OFPT.ERROR);
    const e = errorOf(f);
    t.is(e.version, 1, 'the error is written in the peer\'s version');
    t.is(e.xid, 0x55);
    t.deepEqual([e.type, e.code], OFPE.HELLO_FAILED!.INCOMPATIBLE!.slice());
    t.regex(e.data.toString('ascii'), /no common OpenFlow version/);
    await p.waitClosed();
    await delay(20);
    const disc = events.find((ev) => ev.type === 'disconnected');
    t.regex(disc?.type === 'disconnected' ? disc.reason : '', /version negotiation failed/);
    t.false(events.some((ev) => ev.type === 'negotiated'));
  } finally {
    await mgr.close();
  }
});

test('bitmaps without a common version fail; a first message that is not HELLO fails', async (t) => {
  const { mgr, port } = await startManager();
  try {
    const p = await RawPeer.connect(port);
    p.send(helloWithBitmap(6, (1 << 5) | (1 << 6)));
    const e = errorOf(await p.next(OFPT.ERROR));
    t.deepEqual([e.type, e.code], [0, 0]);
    t.regex(e.data.toString(), /bitmap 0x60/);
    await p.waitClosed();

    const q = await RawPeer.connect(port);
    q.send(ofMsg(4, OFPT.FEATURES_REQUEST, 3));
    const e2 = errorOf(await q.next(OFPT.ERROR));
    t.deepEqual([e2.type, e2.code], [0, 0]);
    t.regex(e2.data.toString(), /expected HELLO/);
    await q.waitClosed();
  } finally {
    await mgr.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Errors on an established connection

function flowModFrame(xid: number): Buffer {
  const fm: FlowMod = {
    type: OFPT.FLOW_MOD, xid, cookie: 0n, cookieMask: 0n, tableId: 0, command: OFPFC.ADD,
    idleTimeout: 0, hardTimeout: 0, priority: 100, bufferId: OFP_NO_BUFFER, outPort: OFPP.ANY,
    outGroup: OFPG.ANY, flags: 0,
    match: [{ field: OFPXMT.IN_PORT, value: 1 }, { field: OFPXMT.ETH_TYPE, value: 0x0800 }, { field: OFPXMT.IPV4_DST, value: '10.0.0.1' }],
    instructions: [],
  };
  return encode(fm);
}

test('a malformed FLOW_MOD gets the decoder\'s error (xid, first 64 bytes) and the connection stays up', async (t) => {
  const seen: Message[] = [];
  const { mgr, port } = await startManager({ handler: (m, c) => { seen.push(m); testSwitch(m, c); } });
  try {
    const p = await RawPeer.negotiated(port);
    const bad = flowModFrame(0x1234);
    t.true(bad.length > 64);
    // The OXM header of IPV4_DST claims 5 bytes instead of 4.
    const oxmAt = 48 + 4 + 8 + 6;
    t.is(bad.readUInt32BE(oxmAt), 0x80001804);
    bad[oxmAt + 3] = 5;
    const expected = decode(bad);
    t.false(expected.ok);
    p.send(bad);
    const e = errorOf(await p.next(OFPT.ERROR));
    t.is(e.xid, 0x1234);
    t.deepEqual([e.type, e.code], OFPE.BAD_MATCH!.BAD_LEN!.slice());
    t.deepEqual([e.type, e.code], expected.ok ? [] : [expected.error.errType, expected.error.code]);
    t.deepEqual(e.data, bad.subarray(0, 64));
    p.send(ofMsg(4, OFPT.ECHO_REQUEST, 0x99));
    const r = await p.next();
    t.is(r[1], OFPT.ECHO_REPLY);
    t.is(r.readUInt32BE(4), 0x99);
    // A well-formed FLOW_MOD still reaches the handler.
    p.send(flowModFrame(0x77));
    p.send(ofMsg(4, OFPT.BARRIER_REQUEST, 0x78));
    t.is((await p.next()).readUInt32BE(4), 0x78);
    t.deepEqual(seen.map((m) => [m.type, m.xid]), [[OFPT.FLOW_MOD, 0x77], [OFPT.BARRIER_REQUEST, 0x78]]);
    t.false(p.closed);
    p.destroy();
  } finally {
    await mgr.close();
  }
});

test('a message in another version after negotiation gets BAD_REQUEST/BAD_VERSION', async (t) => {
  const { mgr, port } = await startManager();
  try {
    const p = await RawPeer.negotiated(port);
    p.send(ofMsg(5, OFPT.FEATURES_REQUEST, 0x10));
    const e = errorOf(await p.next(OFPT.ERROR));
    t.deepEqual([e.type, e.code, e.xid], [...OFPE.BAD_REQUEST!.BAD_VERSION!, 0x10]);
    t.deepEqual(e.data, ofMsg(5, OFPT.FEATURES_REQUEST, 0x10));
    // Echo decodes in any version, but the negotiated one still applies.
    p.send(ofMsg(5, OFPT.ECHO_REQUEST, 0x11));
    const e2 = errorOf(await p.next(OFPT.ERROR));
    t.deepEqual([e2.type, e2.code, e2.xid], [...OFPE.BAD_REQUEST!.BAD_VERSION!, 0x11]);
    p.send(ofMsg(4, OFPT.ECHO_REQUEST, 0x12));
    t.is((await p.next()).readUInt32BE(4), 0x12);
    p.destroy();
  } finally {
    await mgr.close();
  }
});

test('a header with length 4 gets BAD_REQUEST/BAD_LEN and the connection closes', async (t) => {
  const { mgr, port, events } = await startManager();
  try {
    const p = await RawPeer.negotiated(port);
    const bad = ofMsg(4, OFPT.ECHO_REQUEST, 0x20);
    bad.writeUInt16BE(4, 2);
    p.send(bad);
    const e = errorOf(await p.next(OFPT.ERROR));
    t.deepEqual([e.type, e.code, e.xid], [...OFPE.BAD_REQUEST!.BAD_LEN!, 0x20]);
    t.deepEqual(e.data, bad);
    await p.waitClosed();
    await delay(20);
    const disc = events.find((ev) => ev.type === 'disconnected');
    t.regex(disc?.type === 'disconnected' ? disc.reason : '', /framing error/);
  } finally {
    await mgr.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Liveness

test('inactivity probe: echo after one interval of silence, disconnect after another', async (t) => {
  const { mgr, port, events } = await startManager({ probeInterval: 200 });
  try {
    const p = await RawPeer.negotiated(port);
    const t0 = performance.now();
    const echo = await p.next(OFPT.ECHO_REQUEST, 2000);
    const tEcho = performance.now() - t0;
    t.is(echo[0], 4);
    await p.waitClosed(2000);
    const tClose = performance.now() - t0;
    t.true(tEcho >= 150, `echo after ${tEcho} ms`);
    t.true(tClose >= tEcho + 150, `close after ${tClose} ms, echo at ${tEcho} ms`);
    t.true(tClose < 1500, `close after ${tClose} ms`);
    await delay(20);
    const kinds = events.map((e) => (e.type === 'connection' ? e.event.type : e.type));
    t.deepEqual(kinds.filter((k) => ['connected', 'negotiated', 'probe', 'disconnected'].includes(k)),
      ['connected', 'negotiated', 'probe', 'disconnected']);
    const disc = events.find((ev) => ev.type === 'disconnected');
    t.regex(disc?.type === 'disconnected' ? disc.reason : '', /inactivity probe/);
  } finally {
    await mgr.close();
  }
});

test('inactivity probe: a peer that answers the echoes stays connected', async (t) => {
  const { mgr, port } = await startManager({ probeInterval: 100 });
  try {
    const p = await RawPeer.negotiated(port);
    for (let i = 0; i < 4; i++) {
      const echo = await p.next(OFPT.ECHO_REQUEST, 1000);
      p.send(ofMsg(4, OFPT.ECHO_REPLY, echo.readUInt32BE(4)));
    }
    t.false(p.closed);
    t.is(mgr.connections.length, 1);
    p.destroy();
  } finally {
    await mgr.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Ordered handling, request/reply

test('an async handler sees messages strictly in order, and replies follow that order', async (t) => {
  const order: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const handler: MessageHandler = async (m, c) => {
    if (m.type !== OFPT.BARRIER_REQUEST) return;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    order.push(m.xid!);
    await delay((m.xid! * 7) % 5);
    c.send({ type: OFPT.BARRIER_REPLY, xid: m.xid! });
    inFlight--;
  };
  const { mgr, port } = await startManager({ handler });
  try {
    const p = await RawPeer.negotiated(port);
    const n = 40;
    p.send(Buffer.concat(Array.from({ length: n }, (_, i) => ofMsg(4, OFPT.BARRIER_REQUEST, i + 1))));
    const replies: number[] = [];
    for (let i = 0; i < n; i++) replies.push((await p.next(OFPT.BARRIER_REPLY)).readUInt32BE(4));
    const want = Array.from({ length: n }, (_, i) => i + 1);
    t.deepEqual(order, want);
    t.deepEqual(replies, want);
    t.is(maxInFlight, 1);
    p.destroy();
  } finally {
    await mgr.close();
  }
});

test('what one tick sends leaves whole and in order, across output slabs; a message without xid gets a fresh one', async (t) => {
  const N = 12;
  const SIZE = 40_000; // 12 x 40 kB: more than one 256 KiB output slab
  let pendingAfter = 0;
  const handler: MessageHandler = (m, c) => {
    if (m.type !== OFPT.BARRIER_REQUEST) return;
    for (let i = 0; i < N; i++) c.send({ type: OFPT.ECHO_REPLY, xid: 100 + i, data: Buffer.alloc(SIZE, i + 1) } as Message);
    c.send({ type: OFPT.ECHO_REQUEST, data: Buffer.from('no xid') } as Message);
    c.send({ type: OFPT.BARRIER_REPLY, xid: m.xid! });
    pendingAfter = c.pendingBytes;
  };
  const { mgr, port } = await startManager({ handler });
  try {
    const p = await RawPeer.negotiated(port);
    p.send(ofMsg(4, OFPT.BARRIER_REQUEST, 7));
    for (let i = 0; i < N; i++) {
      const f = await p.next(OFPT.ECHO_REPLY);
      t.is(f.readUInt32BE(4), 100 + i);
      t.is(f.length, 8 + SIZE);
      t.true(f.subarray(8).every((b) => b === i + 1), `echo ${i} intact`);
    }
    const probe = await p.next(OFPT.ECHO_REQUEST);
    t.not(probe.readUInt32BE(4), 0, 'a transaction id was filled in');
    t.is(probe.subarray(8).toString(), 'no xid');
    t.is((await p.next(OFPT.BARRIER_REPLY)).readUInt32BE(4), 7);
    t.true(pendingAfter >= SIZE, `bytes not yet handed over count as pending (${pendingAfter})`);
    p.destroy();
  } finally {
    await mgr.close();
  }
});

test('a slow handler holds the socket back (backpressure), then everything is answered in order', async (t) => {
  let open!: () => void;
  const gate = new Promise<void>((r) => (open = r));
  let serverSock: Socket | undefined;
  const server = createServer((s) => {
    serverSock = s;
    new OfConnection(s, async (m, c) => {
      if (m.type !== OFPT.BARRIER_REQUEST) return;
      await gate;
      c.send({ type: OFPT.BARRIER_REPLY, xid: m.xid! });
    }, { probeInterval: 0 });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const p = await RawPeer.negotiated((server.address() as AddressInfo).port);
    p.send(ofMsg(4, OFPT.BARRIER_REQUEST, 1));
    const n = 270;
    const payload = Buffer.alloc(60_000, 0xab);
    for (let i = 0; i < n; i++) p.send(ofMsg(4, OFPT.ECHO_REQUEST, 1000 + i, payload));
    await delay(500);
    const read = serverSock!.bytesRead;
    t.log(`read ${read} bytes while gated`);
    t.true(read < 4_000_000, `the switch read only ${read} of ${n * 60_008} bytes while its handler was busy`);
    t.is(p.frames.length, 1, 'nothing answered past the busy handler (only our HELLO)');
    open();
    t.is((await p.next()).readUInt32BE(4), 1, 'the barrier reply comes first');
    for (let i = 0; i < n; i++) {
      const r = await p.next(undefined, 10_000);
      t.is(r[1], OFPT.ECHO_REPLY);
      if (r.readUInt32BE(4) !== 1000 + i) t.fail(`echo ${i} out of order`);
    }
    p.destroy();
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('request() matches replies by xid; unanswered requests time out; close rejects the rest', async (t) => {
  const { mgr, port } = await startManager();
  try {
    const sock = createConnection({ host: '127.0.0.1', port });
    const seen: Message[] = [];
    const client = new OfConnection(sock, (m) => { seen.push(m); }, { probeInterval: 0 });
    await firstValueFrom(client.events$.pipe(filter((e) => e.type === 'negotiated')));
    t.is(client.version, 4);
    const [a, b] = await Promise.all([
      client.request({ type: OFPT.FEATURES_REQUEST }),
      client.request({ type: OFPT.BARRIER_REQUEST }),
    ]);
    t.is(a.type, OFPT.FEATURES_REPLY);
    t.is(a.type === OFPT.FEATURES_REPLY ? a.datapathId : 0n, 0x42n);
    t.is(b.type, OFPT.BARRIER_REPLY);
    const parts = await client.requestMultipart({ type: OFPT.MULTIPART_REQUEST, mpType: OFPMP.PORT_DESC, flags: 0 });
    t.is(parts.length, 1);
    // SET_CONFIG has no reply.
    await t.throwsAsync(client.request({ type: OFPT.SET_CONFIG, flags: 0, missSendLen: 128 }, 100), { message: /no reply to xid/ });
    const never = client.request({ type: OFPT.SET_CONFIG, flags: 0, missSendLen: 128 }, 5000);
    client.close('test done');
    await t.throwsAsync(never, { message: /connection closed \(test done\)/ });
    t.deepEqual(seen, [], 'replies to requests do not reach the handler');
  } finally {
    await mgr.close();
  }
});

// ---------------------------------------------------------------------------------------------
// Active connections and backoff

/** Polls `cond` every 5 ms; throws after `ms` so that a broken test fails instead of hanging. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await delay(5);
  }
}

/**
 * A port nobody listens on. The backoff test that uses it runs serially (ava runs serial tests
 * before the concurrent ones), so no other test's listener can take the port meanwhile.
 */
async function closedPort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test.serial('reconnect backoff against a closed port: base, 2, 4, 8 × base, then 8 × base', async (t) => {
  const port = await closedPort();
  const base = 20;
  const mgr = new ConnectionManager({ handler: testSwitch, backoffBase: base });
  const log: Array<{ type: string; at: number; delay?: number }> = [];
  const t0 = performance.now();
  mgr.events$.subscribe((e) => log.push({ type: e.type, at: performance.now() - t0, ...(e.type === 'backoff' ? { delay: e.delay } : {}) }));
  const c = mgr.connect(`tcp:127.0.0.1:${port}`);
  await until(() => log.filter((e) => e.type === 'backoff').length >= 7);
  c.stop();
  await mgr.close();
  const delays = log.filter((e) => e.type === 'backoff').map((e) => e.delay);
  t.deepEqual(delays.slice(0, 7), [20, 40, 80, 160, 160, 160, 160]);
  // Each failed attempt comes no sooner than the delay announced before it.
  const fails = log.filter((e) => e.type === 'connect-failed');
  const backs = log.filter((e) => e.type === 'backoff');
  for (let i = 1; i < Math.min(fails.length, 7); i++) {
    t.true(fails[i]!.at - backs[i - 1]!.at >= backs[i - 1]!.delay! - 2, `attempt ${i} waited its delay`);
  }
  t.deepEqual(log.slice(0, 4).map((e) => e.type), ['connect-failed', 'backoff', 'connect-failed', 'backoff']);
});

test('the default backoff is 1, 2, 4, 8 s (unix target, checked by the first two waits)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-conn-'));
  const mgr = new ConnectionManager({ handler: testSwitch });
  const delays: number[] = [];
  mgr.events$.subscribe((e) => { if (e.type === 'backoff') delays.push(e.delay); });
  try {
    mgr.connect(`unix:${join(dir, 'nobody-listens')}`);
    await until(() => delays.length >= 2, 8000);
    t.deepEqual(delays, [1000, 2000]);
  } finally {
    await mgr.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an active connection to a controller negotiates, serves it, and reconnects after base once dropped', async (t) => {
  // The controller: a listener whose connections are OfConnections (the client side).
  const ctrlConns: OfConnection[] = [];
  const server = createServer((s) => ctrlConns.push(new OfConnection(s, () => {}, { probeInterval: 0 })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const mgr = new ConnectionManager({ handler: testSwitch, backoffBase: 30 });
  const events: ManagerEvent[] = [];
  mgr.events$.subscribe((e) => events.push(e));
  try {
    mgr.connect(`tcp:127.0.0.1:${port}`);
    await until(() => ctrlConns.length >= 1 && ctrlConns[0]!.active);
    const reply = await ctrlConns[0]!.request({ type: OFPT.FEATURES_REQUEST });
    t.is(reply.type, OFPT.FEATURES_REPLY);
    ctrlConns[0]!.close('controller restarts');
    await until(() => ctrlConns.length >= 2 && ctrlConns[1]!.active);
    const r2 = await ctrlConns[1]!.request({ type: OFPT.BARRIER_REQUEST });
    t.is(r2.type, OFPT.BARRIER_REPLY);
    const seq = events.map((e) => e.type).filter((k) => k !== 'connection');
    t.deepEqual(seq, ['connected', 'negotiated', 'disconnected', 'backoff', 'connected', 'negotiated']);
    const b = events.find((e) => e.type === 'backoff');
    t.is(b?.type === 'backoff' ? b.delay : 0, 30, 'a negotiated connection resets the backoff');
  } finally {
    await mgr.close();
    for (const c of ctrlConns) c.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

test('punix: a stale socket file is replaced, a live one is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-conn-'));
  const path = join(dir, 'stale.sock');
  try {
    // A process that dies without closing its listener leaves the socket file behind.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((r) => child.stdout.once('data', () => r()));
    process.kill(child.pid!, 'SIGKILL');
    await new Promise<void>((r) => child.once('exit', () => r()));
    const m1 = new ConnectionManager({ handler: testSwitch });
    const l = await m1.listen(`punix:${path}`);
    t.is(l.address, `punix:${path}`);
    const m2 = new ConnectionManager({ handler: testSwitch });
    await t.throwsAsync(m2.listen(`punix:${path}`), { code: 'EADDRINUSE' });
    const p = await RawPeer.connect(path);
    t.is((await p.next())[1], OFPT.HELLO);
    p.destroy();
    await m1.close();
    await m2.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('several controllers at once; TLS targets are refused without a TLS configuration', async (t) => {
  const { mgr, port } = await startManager();
  try {
    const peers = await Promise.all([1, 2, 3].map(() => RawPeer.negotiated(port)));
    await delay(20);
    t.is(mgr.connections.length, 3);
    peers.forEach((p, i) => p.send(ofMsg(4, OFPT.ECHO_REQUEST, 100 + i)));
    for (let i = 0; i < 3; i++) t.is((await peers[i]!.next(OFPT.ECHO_REPLY)).readUInt32BE(4), 100 + i);
    for (const p of peers) p.destroy();
    await t.throwsAsync(mgr.listen('pssl:0'), { message: /TLS needs a private key.*none configured/ });
    t.throws(() => mgr.connect('ssl:127.0.0.1'), { message: /TLS needs a private key.*none configured/ });
    await t.throwsAsync(mgr.listen('tcp:127.0.0.1'), { message: /active target/ });
  } finally {
    await mgr.close();
  }
});

test('an experimenter error pair goes out as an ONF experimenter error (exp_code, experimenter id)', async (t) => {
  // ONF_DUP_INST: what the flow-table validation answers a duplicate instruction with on 1.3.
  const { mgr, port } = await startManager({
    handler: (m, c) => { if (m.type === OFPT.FLOW_MOD) c.sendError(ONF_DUP_INST, m); else testSwitch(m, c); },
  });
  try {
    const p = await RawPeer.negotiated(port);
    const fm = flowModFrame(0x4242);
    p.send(fm);
    const frame = await p.next(OFPT.ERROR);
    const r = decode(frame);
    if (!r.ok) return t.fail(r.error.name);
    t.like(r.msg, { type: OFPT.ERROR, xid: 0x4242, errType: 0xffff, expCode: 2600, experimenter: ONF_EXPERIMENTER_ID });
    t.deepEqual(Buffer.from((r.msg as { data: Uint8Array }).data), fm.subarray(0, 64));
  } finally {
    await mgr.close();
  }
});
