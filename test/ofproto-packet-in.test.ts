/**
 * Packet-ins (packet-in.ts through Ofproto.sendPacketIn) and fail mode (fail-mode.ts): async
 * masks per role, truncation by max_len and miss_send_len, the bounded queue per connection
 * against a controller that never reads, the rate limit, and the fail-open state machine.
 */

import test from 'ava';
import { createConnection, type Socket } from 'node:net';
import { firstValueFrom, filter } from 'rxjs';
import {
  encode, OFPT, OFPCR_ROLE, OFPR, OFPCML, OFPHET, OFPXMT, OFP_NO_BUFFER, type Message, type PacketIn,
} from '../src/openflow/index.js';
import { OfConnection } from '../src/ofproto/connection.js';
import { Ofproto, type Party } from '../src/ofproto/ofproto.js';
import { initialControlState } from '../src/ofproto/roles.js';
import { packetInDataLength, PacketInScheduler, type PacketInRequest } from '../src/ofproto/packet-in.js';
import { FailModeMonitor } from '../src/ofproto/fail-mode.js';




interface Fake extends Party {
  readonly got: Message[];
  readonly name: string;
}

function fake(name: string): Fake {
  const got: Message[] = [];
  return {
    name, got, control: initialControlState(), active: true,
    send: (m: Message) => { got.push(m); return m.xid ?? 0; },
    sendError: () => { throw new Error('unexpected error'); },
  };
}

const pins = (f: Fake): PacketIn[] => f.got.filter((m): m is PacketIn => m.type === OFPT.PACKET_IN);

function frame(len: number, seq = 0): Uint8Array {
  const b = Buffer.alloc(len, 0xab);
  if (len >= 4) b.writeUInt32BE(seq, 0);
  return b;
}

function req(p: Partial<PacketInRequest> = {}): PacketInRequest {
  return {
    reason: OFPR.ACTION, tableId: 3, cookie: 0x1234n, match: [{ field: OFPXMT.IN_PORT, value: 1 }],
    frame: frame(300), ...p,
  };
}

function newSwitch(extra: ConstructorParameters<typeof Ofproto>[0] = {}): Ofproto {
  return new Ofproto({ ...extra });
}

test('data length: max_len from the action, else miss_send_len; OFPCML_NO_BUFFER is the whole frame', (t) => {
  t.is(packetInDataLength(300, 64, 128), 64);
  t.is(packetInDataLength(300, OFPCML.NO_BUFFER, 128), 300);
  t.is(packetInDataLength(300, 0, 128), 0);
  t.is(packetInDataLength(300, 1000, 128), 300);
  t.is(packetInDataLength(300, undefined, 128), 128);
  t.is(packetInDataLength(300, undefined, 0), 0);
  t.is(packetInDataLength(300, undefined, OFPCML.NO_BUFFER), 300);
  t.is(packetInDataLength(100, undefined, 128), 100);
});

test('async masks: equal and master get NO_MATCH and ACTION, not INVALID_TTL; slave none; SET_ASYNC changes it', async (t) => {
  const sw = newSwitch();
  const eq = fake('equal');
  const ma = fake('master');
  const sl = fake('slave');
  for (const f of [eq, ma, sl]) sw.attach(f);
  try {
    sw.receive({ type: OFPT.ROLE_REQUEST, xid: 1, role: OFPCR_ROLE.MASTER, generationId: 1n }, ma);
    sw.receive({ type: OFPT.ROLE_REQUEST, xid: 2, role: OFPCR_ROLE.SLAVE, generationId: 1n }, sl);
    t.is(sw.sendPacketIn(req({ reason: OFPR.NO_MATCH, maxLen: OFPCML.NO_BUFFER })), 2);
    t.is(sw.sendPacketIn(req({ reason: OFPR.ACTION, maxLen: OFPCML.NO_BUFFER })), 2);
    t.is(sw.sendPacketIn(req({ reason: OFPR.INVALID_TTL })), 0);
    t.deepEqual(pins(eq).map((m) => m.reason), [OFPR.NO_MATCH, OFPR.ACTION]);
    t.deepEqual(pins(ma).map((m) => m.reason), [OFPR.NO_MATCH, OFPR.ACTION]);
    t.deepEqual(pins(sl), []);
    const m = pins(eq)[0]!;
    t.like(m, { bufferId: OFP_NO_BUFFER, totalLen: 300, tableId: 3, cookie: 0x1234n });
    t.deepEqual(m.match, [{ field: OFPXMT.IN_PORT, value: 1 }]);
    t.is(m.data.length, 300);
    // The message encodes (the wire form a controller sees).
    t.true(encode(m).length > 300);

    // SET_ASYNC: the slave asks for INVALID_TTL in its slave half; the master turns ACTION off.
    sw.receive({ type: OFPT.SET_ASYNC, xid: 3, packetInMask: [0, 1 << OFPR.INVALID_TTL], portStatusMask: [0, 0], flowRemovedMask: [0, 0] }, sl);
    sw.receive({ type: OFPT.SET_ASYNC, xid: 4, packetInMask: [1 << OFPR.NO_MATCH | 1 << OFPR.INVALID_TTL, 0], portStatusMask: [0, 0], flowRemovedMask: [0, 0] }, ma);
    t.is(sw.sendPacketIn(req({ reason: OFPR.INVALID_TTL })), 2);
    t.is(sw.sendPacketIn(req({ reason: OFPR.ACTION })), 1, 'only the equal one still wants ACTION');
    t.deepEqual(pins(sl).map((x) => x.reason), [OFPR.INVALID_TTL]);
    t.deepEqual(pins(ma).map((x) => x.reason), [OFPR.NO_MATCH, OFPR.ACTION, OFPR.INVALID_TTL]);
    t.deepEqual(pins(eq).map((x) => x.reason), [OFPR.NO_MATCH, OFPR.ACTION, OFPR.ACTION]);
    // Demotion moves the old master to its slave half (0 by its own SET_ASYNC).
    sw.receive({ type: OFPT.ROLE_REQUEST, xid: 5, role: OFPCR_ROLE.MASTER, generationId: 2n }, eq);
    t.is(sw.sendPacketIn(req({ reason: OFPR.NO_MATCH })), 1);
    const st = sw.packetInStats();
    t.is(st.requested, 6);
    t.is(st.sent, 2 + 2 + 2 + 1 + 1);
    t.is(st.queueDrops + st.rateDrops, 0);
  } finally {
    await sw.close();
  }
});

test('truncation: max_len from the action, miss_send_len per connection when there is none', async (t) => {
  const sw = newSwitch();
  const a = fake('a');
  const b = fake('b');
  sw.attach(a);
  sw.attach(b);
  try {
    sw.receive({ type: OFPT.SET_CONFIG, xid: 1, flags: 0, missSendLen: 200 }, b);
    const f = frame(300, 7);
    sw.sendPacketIn(req({ frame: f, maxLen: 64 }));
    sw.sendPacketIn(req({ frame: f, maxLen: OFPCML.NO_BUFFER }));
    sw.sendPacketIn(req({ frame: f, reason: OFPR.NO_MATCH, maxLen: 0 }));
    sw.sendPacketIn(req({ frame: f })); // no action: miss_send_len (128 default, 200 for b)
    t.deepEqual(pins(a).map((m) => m.data.length), [64, 300, 0, 128]);
    t.deepEqual(pins(b).map((m) => m.data.length), [64, 300, 0, 200]);
    t.true(pins(a).every((m) => m.totalLen === 300 && m.bufferId === OFP_NO_BUFFER));
    t.deepEqual([...pins(a)[0]!.data], [...f.subarray(0, 64)], 'the first bytes of the frame');
    sw.receive({ type: OFPT.SET_CONFIG, xid: 2, flags: 0, missSendLen: OFPCML.NO_BUFFER }, a);
    sw.receive({ type: OFPT.SET_CONFIG, xid: 3, flags: 0, missSendLen: 0 }, b);
    sw.sendPacketIn(req({ frame: f, reason: OFPR.NO_MATCH }));
    t.is(pins(a).at(-1)!.data.length, 300);
    t.is(pins(b).at(-1)!.data.length, 0);
  } finally {
    await sw.close();
  }
});

test('rate limit: a token bucket per connection, drops counted apart from queue drops', async (t) => {
  let now = 1000;
  const sw = newSwitch({ now: () => now, packetIn: { rate: 10, burst: 5 } });
  const a = fake('a');
  const b = fake('b');
  sw.attach(a);
  sw.attach(b);
  try {
    for (let i = 0; i < 20; i++) sw.sendPacketIn(req());
    t.is(pins(a).length, 5, 'the burst');
    t.is(pins(b).length, 5, 'each connection has its own bucket');
    now += 500; // 10/s for 0.5 s: 5 tokens
    for (let i = 0; i < 20; i++) sw.sendPacketIn(req());
    t.is(pins(a).length, 10);
    now += 10_000; // refills up to the burst only
    for (let i = 0; i < 20; i++) sw.sendPacketIn(req());
    t.is(pins(a).length, 15);
    const st = sw.packetInStats();
    t.is(st.rateDrops, 2 * (15 + 15 + 15));
    t.is(st.queueDrops, 0);
    t.is(st.sent, 30);
    t.like(st.connections.find((c) => c.name === 'a'), { sent: 15, rateDrops: 45, queueDrops: 0, queued: 0 });
  } finally {
    await sw.close();
  }
});

test('no rate limit by default; the default queue is 100', (t) => {
  const s = new PacketInScheduler();
  t.is(s.queueLimit, 100);
  t.is(s.rate, 0);
  const a = fake('a');
  for (let i = 0; i < 1000; i++) s.submit(req(), [a]);
  t.is(pins(a).length, 1000);
});

const until = async (cond: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 2));
  }
};

test('bounded queue: a controller that never reads loses packet-ins (counted), memory stays bounded, a fast one gets all', async (t) => {
  const sw = newSwitch({ probeInterval: 0 });
  const l = await sw.listen('ptcp:0');
  let slow: Socket | undefined;
  let fast: OfConnection | undefined;
  try {
    // The slow controller: sends HELLO and never reads a byte.
    slow = createConnection({ host: '127.0.0.1', port: l.port! });
    slow.pause();
    slow.write(encode({ version: 4, type: OFPT.HELLO, xid: 1, elements: [{ type: OFPHET.VERSIONBITMAP, bitmaps: [1 << 4] }] }));
    await until(() => sw.connmgr.connections.filter((c) => c.active).length === 1);
    const serverSlow = sw.connmgr.connections[0]!;
    const seqs: number[] = [];
    fast = new OfConnection(createConnection({ host: '127.0.0.1', port: l.port! }), (m) => {
      if (m.type === OFPT.PACKET_IN) seqs.push(Buffer.from(m.data).readUInt32BE(0));
    }, { probeInterval: 0 });
    await firstValueFrom(fast.events$.pipe(filter((e) => e.type === 'negotiated')));
    await until(() => sw.connmgr.connections.filter((c) => c.active).length === 2);

    const SIZE = 32 * 1024;
    const BATCH = 20;
    let sent = 0;
    let maxPending = 0;
    let maxQueued = 0;
    for (let batch = 0; batch < 1000; batch++) {
      for (let i = 0; i < BATCH; i++) sw.sendPacketIn(req({ frame: frame(SIZE, sent++), maxLen: OFPCML.NO_BUFFER }));
      maxPending = Math.max(maxPending, serverSlow.pendingBytes);
      maxQueued = Math.max(maxQueued, sw.packetIns.statsFor(serverSlow)?.queued ?? 0);
      await until(() => seqs.length === sent);
      maxPending = Math.max(maxPending, serverSlow.pendingBytes);
      if ((sw.packetIns.statsFor(serverSlow)?.queueDrops ?? 0) >= 200) break;
    }
    const slowStats = sw.packetIns.statsFor(serverSlow)!;
    t.log(`sent ${sent}, slow: ${JSON.stringify(slowStats)}, max socket backlog ${maxPending}`);
    t.true(slowStats.queueDrops >= 200, `the slow controller's packet-ins were dropped (${slowStats.queueDrops})`);
    t.is(slowStats.queued, 100, 'its queue is full, not larger');
    t.true(maxQueued <= 100);
    // What the switch holds for it: the socket's high-water mark plus one message, plus the queue.
    t.true(maxPending <= 16 * 1024 + SIZE + 1024, `socket backlog ${maxPending}`);
    t.is(slowStats.sent + slowStats.queued + slowStats.queueDrops, sent);
    // The fast controller got every packet-in, in order, none dropped.
    t.is(seqs.length, sent);
    t.true(seqs.every((s, i) => s === i));
    const st = sw.packetInStats();
    t.is(st.queueDrops, slowStats.queueDrops, 'only the slow connection dropped');
    t.is(st.rateDrops, 0);
    // When the slow controller goes, its queue goes with it.
    slow.destroy();
    await until(() => sw.packetIns.statsFor(serverSlow) === undefined);
    t.is(sw.packetInStats().queueDrops, slowStats.queueDrops, 'totals survive the connection');
  } finally {
    fast?.close();
    slow?.destroy();
    await sw.close();
  }
});

test('fail mode standalone: three probe intervals without a controller enter fail-open; a controller leaves it', (t) => {
  let now = 0;
  const m = new FailModeMonitor({ mode: 'standalone', probeInterval: 5000, now: () => now, timer: false });
  const seen: boolean[] = [];
  m.changes$.subscribe((v) => seen.push(v));
  t.is(m.triggerAfter, 15_000);
  now = 14_999;
  t.false(m.check());
  now = 15_000;
  t.true(m.check());
  t.true(m.failOpen);
  m.controllerUp();
  t.false(m.failOpen, 'a negotiated controller leaves fail-open');
  now = 100_000;
  t.false(m.check(), 'never while a controller is connected');
  m.controllerUp();
  m.controllerDown();
  now = 200_000;
  t.false(m.check(), 'one controller is still there');
  m.controllerDown();
  now = 214_999;
  t.false(m.check(), 'the time counts from the last disconnect');
  now = 215_000;
  t.true(m.check());
  m.controllerDown(); // spurious: ignored
  t.is(m.controllers, 0);
  t.deepEqual(seen, [false, true, false, true]);
  m.close();
});

test('fail mode secure never enters fail-open', (t) => {
  let now = 0;
  const m = new FailModeMonitor({ mode: 'secure', probeInterval: 10, now: () => now, timer: false });
  now = 1e9;
  t.false(m.check());
  m.controllerUp();
  m.controllerDown();
  now = 2e9;
  t.false(m.check());
  m.close();
});

test('fail mode through the switch: real timers, a controller connecting and leaving', async (t) => {
  const sw = newSwitch({ failMode: 'standalone', probeInterval: 30 });
  const l = await sw.listen('ptcp:0');
  let c: OfConnection | undefined;
  try {
    t.false(sw.failOpen);
    await until(() => sw.failOpen, 5000);
    c = new OfConnection(createConnection({ host: '127.0.0.1', port: l.port! }), () => {}, { probeInterval: 0 });
    await firstValueFrom(c.events$.pipe(filter((e) => e.type === 'negotiated')));
    await until(() => !sw.failOpen, 5000);
    c.close();
    await until(() => sw.connmgr.connections.length === 0, 5000);
    t.false(sw.failOpen, 'not at once');
    await until(() => sw.failOpen, 5000);
    t.pass();
  } finally {
    c?.close();
    await sw.close();
  }
});

test('fail mode secure through the switch stays secure', async (t) => {
  const sw = newSwitch({ probeInterval: 5 });
  await new Promise((r) => setTimeout(r, 60));
  t.false(sw.failOpen);
  t.is(sw.failMode.mode, 'secure');
  await sw.close();
});
