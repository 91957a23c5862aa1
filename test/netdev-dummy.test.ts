/**
 * The in-memory netdevs (src/netdev/dummy.ts, patch.ts) against the Netdev rules: received
 * frames come from the event loop in batches of at most RX_BATCH, never from inside the call that
 * produced them; they are copies with headroom; bad lengths, missing receivers, a down link and a
 * closed port are counted, never thrown; rx_pcap frames arrive when the receiver is set; tx_pcap
 * files hold what was sent and tshark reads them.
 */

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DummyNetdev, PatchNetdev, RX_BATCH, createPatchPair, hwAddrFromName, readPcap, zeroStats, type NetdevStatus,
} from '../src/netdev/index.js';
import { DEFAULT_HEADROOM, Packet, tunnelWithId } from '../src/packet/packet.js';
import { buildPacket } from '../src/packet/build.js';
import { writePcap } from './pcap.js';
import { findTool, requireTool } from './peers/peers.js';

const dir = mkdtempSync(join(tmpdir(), 'ofswitch-dummy-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const tmp = (name = 'f.pcap') => join(dir, `${fileNo++}-${name}`);

/** A distinct, valid frame: UDP to port n. */
const frame = (n: number): Buffer => buildPacket({ ipv4: {}, udp: { src: 1, dst: n } });
const dstPort = (b: Uint8Array): number => (b[14 + 20 + 2]! << 8) | b[14 + 20 + 3]!;

/** Turns the event loop until `done()` or `max` turns (no clocks: each turn is a setImmediate). */
async function turns(done: () => boolean, max = 10_000): Promise<void> {
  for (let i = 0; i < max && !done(); i++) await new Promise((r) => setImmediate(r));
}

/** A receiver that records its batches and whether it was called while `busy` was set. */
function recorder() {
  const batches: Packet[][] = [];
  const state = { busy: false, reentered: false };
  const rx = (b: Packet[]) => {
    if (state.busy) state.reentered = true;
    batches.push(b);
  };
  const count = () => batches.reduce((n, b) => n + b.length, 0);
  return { batches, state, rx, count };
}

test('receive: batches of at most RX_BATCH, in order, from the event loop, as copies with headroom', async (t) => {
  const d = new DummyNetdev('p1');
  const r = recorder();
  d.setReceiver(r.rx);
  const input = Array.from({ length: 100 }, (_, i) => frame(1000 + i));
  r.state.busy = true;
  t.is(d.receive(input), 100);
  t.is(d.receive(frame(2000)), 1);
  r.state.busy = false;
  t.is(r.batches.length, 0, 'nothing is delivered inside receive()');
  for (const f of input) f.fill(0); // the caller reuses its buffers
  await turns(() => r.count() === 101);
  t.false(r.state.reentered);
  t.is(r.count(), 101);
  t.true(r.batches.every((b) => b.length >= 1 && b.length <= RX_BATCH));
  t.deepEqual(r.batches.map((b) => b.length), [32, 32, 32, 5]);
  const ports = r.batches.flat().map((p) => dstPort(p.bytes()));
  t.deepEqual(ports, [...Array.from({ length: 100 }, (_, i) => 1000 + i), 2000]);
  const p0 = r.batches[0]![0]!;
  t.is(p0.start, DEFAULT_HEADROOM);
  t.is(p0.length, frame(1000).length);
  const s = d.stats();
  t.is(s.rxPackets, 101n);
  t.is(s.rxBytes, BigInt(101 * frame(1).length));
  t.is(s.rxDropped, 0n);
  d.close();
});

test('receive: bad lengths are rxErrors, no receiver is rxDropped, nothing throws', async (t) => {
  const d = new DummyNetdev('p1');
  t.is(d.receive([new Uint8Array(13), new Uint8Array(65536), new Uint8Array(0)]), 0);
  t.is(d.receive(frame(1)), 0);
  t.deepEqual(d.stats(), { ...zeroStats(), rxErrors: 3n, rxDropped: 1n });
  const r = recorder();
  d.setReceiver(r.rx);
  t.is(d.receive([new Uint8Array(14), new Uint8Array(65535)]), 2);
  await turns(() => r.count() === 2);
  t.deepEqual(r.batches.flat().map((p) => p.length), [14, 65535]);
  // unsetting the receiver drops what is queued, and what comes later
  d.receive([frame(1), frame(2)]);
  d.setReceiver(undefined);
  d.receive(frame(3));
  await turns(() => false, 5);
  t.is(r.count(), 2);
  t.deepEqual(d.stats(), { ...zeroStats(), rxErrors: 3n, rxDropped: 4n, rxPackets: 2n, rxBytes: 65549n });
  d.close();
});

test('receive: the queue is bounded', async (t) => {
  const d = new DummyNetdev('p1');
  const r = recorder();
  d.setReceiver(r.rx);
  const f = frame(9);
  let queued = 0;
  for (let i = 0; i < 65536 + 10; i++) queued += d.receive(f);
  t.is(queued, 65536);
  t.is(d.stats().rxDropped, 10n);
  await turns(() => r.count() === 65536, 100_000);
  t.is(r.count(), 65536);
  t.true(r.batches.every((b) => b.length <= RX_BATCH));
  d.close();
});

test('rx_pcap: the file\'s frames arrive once the receiver is set, in batches', async (t) => {
  const path = tmp();
  const input = Array.from({ length: 40 }, (_, i) => frame(i + 1));
  input.push(Buffer.alloc(10)); // a runt in the capture: counted, not delivered
  writePcap(path, input);
  const d = new DummyNetdev('p1', { rxPcap: path });
  await turns(() => false, 5);
  t.is(d.stats().rxDropped, 0n, 'nothing is dropped before the receiver exists');
  const r = recorder();
  r.state.busy = true;
  d.setReceiver(r.rx);
  r.state.busy = false;
  await turns(() => r.count() === 40);
  t.false(r.state.reentered);
  t.deepEqual(r.batches.map((b) => b.length), [32, 8]);
  t.deepEqual(r.batches.flat().map((p) => dstPort(p.bytes())), input.slice(0, 40).map((_, i) => i + 1));
  t.is(d.stats().rxErrors, 1n);
  // a second receiver does not replay the file
  const r2 = recorder();
  d.setReceiver(r2.rx);
  await turns(() => false, 5);
  t.is(r2.count(), 0);
  d.close();
});

test('rx_pcap / tx_pcap problems are reported when the port is made, naming the file', (t) => {
  const missing = join(dir, 'missing.pcap');
  const bad = tmp('bad.pcap');
  writeFileSync(bad, 'hello, this is not a capture');
  t.is(DummyNetdev.open('p1', { rxPcap: bad }), `rx_pcap ${bad}: not a pcap file (magic 0x68656c6c)`);
  t.is(t.throws(() => new DummyNetdev('p1', { rxPcap: missing }))?.message,
    `rx_pcap ${missing}: cannot read: ENOENT: no such file or directory, open '${missing}'`);
  t.is(DummyNetdev.open('p1', { txPcap: bad }), `tx_pcap ${bad}: cannot append: not a pcap file (magic 0x68656c6c)`);
  t.true(DummyNetdev.open('p1', { rxPcap: undefined }) instanceof DummyNetdev);
});

test('send: counted, kept in `sent`, emitted on tx$, written to tx_pcap that tshark reads', (t) => {
  const path = tmp();
  const d = new DummyNetdev('p1', { txPcap: path });
  const seen: Uint8Array[] = [];
  const sub = d.tx$.subscribe((f) => seen.push(f));
  const pkts = [Packet.from(frame(80)), Packet.from(frame(443))];
  // a pushed header: the frame starts inside the headroom
  const tagged = Packet.from(frame(53));
  const gap = tagged.insert(12, 4);
  tagged.buf.set([0x81, 0x00, 0x00, 0x05], gap);
  pkts.push(tagged);
  t.is(d.send(pkts), 3);
  const expect = pkts.map((p) => Buffer.from(p.bytes()));
  for (const p of pkts) p.buf.fill(0xee); // the datapath reuses its buffers
  t.deepEqual(d.sent.map((f) => Buffer.from(f)), expect);
  t.deepEqual(seen.map((f) => Buffer.from(f)), expect);
  const file = readPcap(path);
  t.deepEqual(typeof file === 'string' ? file : file.frames.map((f) => Buffer.from(f)), expect);
  const s = d.stats();
  t.is(s.txPackets, 3n);
  t.is(s.txBytes, BigInt(expect.reduce((n, f) => n + f.length, 0)));
  sub.unsubscribe();

  requireTool('tshark');
  const r = spawnSync(findTool('tshark')!, ['-n', '-r', path, '-T', 'fields', '-e', 'udp.dstport', '-e', 'vlan.id'], {
    encoding: 'utf8',
    env: { ...process.env, HOME: dir, WIRESHARK_CONFIG_DIR: dir },
  });
  t.is(r.status, 0, r.stderr);
  t.deepEqual(r.stdout.split('\n').filter((l) => l !== ''), ['80\t', '443\t', '53\t5']);
  d.close();
});

test('send: the sent ring keeps the last frames, oldest first', (t) => {
  const d = new DummyNetdev('p1', { sentRing: 4 });
  for (let i = 1; i <= 10; i++) d.send([Packet.from(frame(i))]);
  t.deepEqual(d.sent.map(dstPort), [7, 8, 9, 10]);
  d.clearSent();
  t.deepEqual(d.sent, []);
  const none = new DummyNetdev('p2', { sentRing: 0 });
  none.send([Packet.from(frame(1))]);
  t.deepEqual(none.sent, []);
  t.is(none.stats().txPackets, 1n);
});

test('link down: status$ on changes only; sends and receives dropped and counted', async (t) => {
  const d = new DummyNetdev('p1');
  const status: NetdevStatus[] = [];
  d.status$.subscribe((s) => status.push(s));
  const r = recorder();
  d.setReceiver(r.rx);
  t.true(d.up);
  d.setUp(true);
  d.setUp(false);
  d.setUp(false);
  t.false(d.up);
  t.is(d.send([Packet.from(frame(1)), Packet.from(frame(2))]), 0);
  t.is(d.receive(frame(3)), 0);
  d.setUp(true);
  t.deepEqual(status, [{ up: false }, { up: true }]);
  t.is(d.send([Packet.from(frame(4))]), 1);
  t.is(d.receive(frame(5)), 1);
  await turns(() => r.count() === 1);
  t.deepEqual(r.batches.flat().map((p) => dstPort(p.bytes())), [5]);
  const s = d.stats();
  t.is(s.txDropped, 2n);
  t.is(s.rxDropped, 1n);
  t.is(s.txPackets, 1n);
  t.deepEqual(d.sent.map(dstPort), [4]);
});

test('close: stops delivery, drops later sends, completes the streams, is idempotent', async (t) => {
  const path = tmp();
  const d = new DummyNetdev('p1', { txPcap: path });
  const r = recorder();
  d.setReceiver(r.rx);
  let completed = 0;
  d.status$.subscribe({ complete: () => completed++ });
  d.tx$.subscribe({ complete: () => completed++ });
  d.receive([frame(1), frame(2)]);
  d.close();
  d.close();
  t.is(completed, 2);
  t.false(d.up);
  t.is(d.send([Packet.from(frame(3))]), 0);
  t.is(d.receive(frame(4)), 0);
  await turns(() => false, 5);
  t.is(r.count(), 0);
  const s = d.stats();
  t.is(s.rxDropped, 3n);
  t.is(s.txDropped, 1n);
  t.deepEqual(readPcap(path), { frames: [] });
});

test('hwAddr: stable, unicast, locally administered; or as given', (t) => {
  const a = new DummyNetdev('br0-p1');
  t.deepEqual(a.hwAddr, hwAddrFromName('br0-p1'));
  t.deepEqual(new DummyNetdev('br0-p1').hwAddr, a.hwAddr);
  t.notDeepEqual(new DummyNetdev('br0-p2').hwAddr, a.hwAddr);
  for (const name of ['a', 'b', 'eth0', 'p1', 'p2', 'xyz']) {
    const mac = hwAddrFromName(name);
    t.is(mac.length, 6);
    t.is(mac[0]! & 0x03, 0x02, name);
  }
  const given = Uint8Array.of(0, 1, 2, 3, 4, 5);
  const b = new DummyNetdev('x', { hwAddr: given, mtu: 9000 });
  given[0] = 9;
  t.deepEqual(b.hwAddr, Uint8Array.of(0, 1, 2, 3, 4, 5));
  t.is(b.mtu, 9000);
  t.is(b.type, 'dummy');
  t.is(a.mtu, 1500);
  t.throws(() => new DummyNetdev('x', { hwAddr: new Uint8Array(5) }), { message: 'x: hwAddr must be 6 bytes, not 5' });
});

// ---------------------------------------------------------------------------------------------
// Patch

test('patch: what one end sends the other receives, later, in batches, as copies', async (t) => {
  const [a, b] = createPatchPair('patch-a', 'patch-b');
  t.is(a.type, 'patch');
  t.is(a.peer, b);
  t.is(b.peer, a);
  t.true(a.up && b.up);
  const ra = recorder();
  const rb = recorder();
  a.setReceiver(ra.rx);
  b.setReceiver(rb.rx);
  const pkts = Array.from({ length: 70 }, (_, i) => Packet.from(frame(i + 1)));
  rb.state.busy = true;
  t.is(a.send(pkts), 70);
  rb.state.busy = false;
  t.is(rb.count(), 0, 'nothing is delivered inside send()');
  for (const p of pkts) p.buf.fill(0);
  await turns(() => rb.count() === 70);
  t.false(rb.state.reentered);
  t.deepEqual(rb.batches.map((x) => x.length), [32, 32, 6]);
  t.deepEqual(rb.batches.flat().map((p) => dstPort(p.bytes())), pkts.map((_, i) => i + 1));
  t.is(rb.batches[0]![0]!.start, DEFAULT_HEADROOM);
  t.is(ra.count(), 0);
  t.is(a.stats().txPackets, 70n);
  t.is(b.stats().rxPackets, 70n);
  t.is(b.stats().rxBytes, a.stats().txBytes);
});

test('patch: tunnel metadata does not cross (as in Open vSwitch, the peer bridge sees a packet from no tunnel)', async (t) => {
  const [a, b] = createPatchPair('patch-c', 'patch-d');
  const rb = recorder();
  b.setReceiver(rb.rx);
  const p = Packet.from(frame(7));
  p.tunnel = tunnelWithId(undefined, 0, 42);
  a.send([p]);
  await turns(() => rb.count() === 1);
  t.is(rb.batches[0]![0]!.tunnel, undefined);
  t.is(p.tunnel?.idLo, 42, 'the sender\'s packet is left as it was');
});

test('patch: a loop (each end sends back what it gets) never re-enters a receiver', async (t) => {
  const [a, b] = createPatchPair('a', 'b');
  let depth = 0;
  let maxDepth = 0;
  let hops = 0;
  const bounce = (self: PatchNetdev) => (batch: Packet[]) => {
    depth++;
    maxDepth = Math.max(maxDepth, depth);
    if (++hops < 50) self.send(batch);
    depth--;
  };
  a.setReceiver(bounce(a));
  b.setReceiver(bounce(b));
  a.send([Packet.from(frame(1))]);
  await turns(() => hops >= 50);
  t.is(hops, 50);
  t.is(maxDepth, 1);
});

test('patch: no peer, closed peer, no receiver: counted, not thrown', async (t) => {
  const lone = new PatchNetdev('lone');
  t.false(lone.up);
  t.is(lone.send([Packet.from(frame(1))]), 0);
  t.is(lone.stats().txDropped, 1n);

  const [a, b] = createPatchPair('a', 'b');
  const statusA: boolean[] = [];
  a.status$.subscribe((s) => statusA.push(s.up));
  // no receiver on b: the frames reach b and are b's rxDropped
  t.is(a.send([Packet.from(frame(1))]), 1);
  t.is(b.stats().rxDropped, 1n);
  b.close();
  b.close();
  t.false(a.up);
  t.is(a.peer, undefined);
  t.is(a.send([Packet.from(frame(2)), Packet.from(frame(3))]), 0);
  t.is(a.stats().txDropped, 2n);
  t.deepEqual(statusA, [false]);
  t.throws(() => a.connect(b), { message: 'patch a: cannot connect a closed port' });
  t.throws(() => a.connect(a), { message: 'patch a: cannot be its own peer' });

  // reconnecting to a new peer brings the link up again
  const c = new PatchNetdev('c');
  a.connect(c);
  t.deepEqual(statusA, [false, true]);
  const rc = recorder();
  c.setReceiver(rc.rx);
  a.send([Packet.from(frame(7))]);
  await turns(() => rc.count() === 1);
  t.deepEqual(rc.batches.flat().map((p) => dstPort(p.bytes())), [7]);
});

test('patch: closing with frames in flight drops them (counted)', async (t) => {
  const [a, b] = createPatchPair('a', 'b');
  const rb = recorder();
  b.setReceiver(rb.rx);
  a.send([Packet.from(frame(1)), Packet.from(frame(2))]);
  b.close();
  await turns(() => false, 5);
  t.is(rb.count(), 0);
  t.is(b.stats().rxDropped, 2n);
});
