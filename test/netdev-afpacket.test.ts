/**
 * The system netdev (AF_PACKET through the native addon) on real interfaces: each test makes a
 * veth pair with unique names, one end in a network namespace of its own, and deletes only what
 * it made. The far end is driven by a second node process inside the namespace (`ip netns exec`)
 * that opens a SystemNetdev of its own, so frames cross the kernel both ways.
 *
 * These tests need root (CAP_NET_ADMIN for the namespaces, CAP_NET_RAW for the sockets) and the
 * built addon: without either they fail, saying which; they are never skipped silently.
 * completePartialChecksum is also tested on built frames, which needs neither.
 */

import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { firstValueFrom, filter, take, timeout, toArray } from 'rxjs';
import { completePartialChecksum, loadNative, RX_BATCH, SystemNetdev, type NetdevStatus } from '../src/netdev/index.js';
import { buildPacket, extract, newKey, Offsets, Packet, verifyChecksums } from '../src/packet/index.js';

// ---------------------------------------------------------------------------------------------
// Partial checksums, on built frames (no root)

function checksumsOf(frame: Uint8Array): { ipv4?: boolean; l4?: boolean } {
  const off = new Offsets();
  extract(frame, 0, frame.length, newKey(), off);
  return verifyChecksums(frame, off, frame.length);
}

const partialCases: Array<[string, Parameters<typeof buildPacket>[0]]> = [
  ['UDP over IPv4', { ipv4: {}, udp: { src: 5000, dst: 53 }, payload: Buffer.from('hello world') }],
  ['TCP over IPv4 with options', { ipv4: { options: Uint8Array.of(1, 1, 1, 1) }, tcp: { flags: 0x18 }, payload: Buffer.alloc(333, 7) }],
  ['UDP over IPv6 with extension headers', { ipv6: { ext: [{ type: 'hop' }, { type: 'dest', length: 16 }] }, udp: {}, payload: Buffer.from('x') }],
  ['TCP in two VLAN tags, padded to 60', { vlans: [{ tpid: 0x88a8, vid: 7 }, { vid: 10 }], ipv4: {}, tcp: {}, minLength: 60 }],
  ['SCTP (CRC32c offload)', { ipv4: {}, sctp: {}, payload: Buffer.from('data chunk') }],
];

for (const [name, desc] of partialCases) {
  test(`completePartialChecksum: ${name}`, (t) => {
    const valid = buildPacket({ ...desc, l4Checksum: 'valid' });
    const partial = buildPacket({ ...desc, l4Checksum: 'partial' });
    t.is(checksumsOf(partial).l4, false, 'the partial frame does not verify before');
    // Work in a buffer with headroom, as the receive path does.
    const pkt = Packet.from(partial);
    t.true(completePartialChecksum(pkt.buf, pkt.start, pkt.end));
    t.deepEqual(pkt.bytes(), valid);
    t.is(checksumsOf(pkt.bytes()).l4, true);
  });
}

test('completePartialChecksum leaves what it cannot complete alone', (t) => {
  for (const desc of [{ arp: {} }, { ipv4: {}, payload: Buffer.alloc(4) }, { ethType: 0x88b5, payload: Buffer.alloc(30) }] as const) {
    const f = buildPacket(desc);
    const copy = Buffer.from(f);
    t.false(completePartialChecksum(f, 0, f.length));
    t.deepEqual(f, copy);
  }
  // Cut short inside the IP header.
  const f = buildPacket({ ipv4: {}, udp: {}, l4Checksum: 'partial' }).subarray(0, 24);
  t.false(completePartialChecksum(f, 0, f.length));
});

// ---------------------------------------------------------------------------------------------
// Real interfaces

let seq = 0;
/** Names unique to this process (interface names are at most 15 bytes). */
function names(): { ns: string; a: string; b: string; tag: number } {
  const tag = (process.pid % 100000) * 10 + (seq++ % 10);
  return { ns: `ofsw-afp-${tag}`, a: `ofa${tag}`, b: `ofb${tag}`, tag };
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Fails the test (with the reason) unless we are root and the addon is built. */
function needRoot(t: ExecutionContext): boolean {
  if (process.getuid?.() !== 0) {
    t.fail('this test needs root (CAP_NET_ADMIN for namespaces and veths, CAP_NET_RAW for AF_PACKET): run the suite as root');
    return false;
  }
  const b = loadNative();
  if (typeof b === 'string') {
    t.fail(`the native addon is not available: ${b}`);
    return false;
  }
  return true;
}

interface Pair {
  ns: string;
  a: string;
  b: string;
  tag: number;
  cleanup(): void;
}

/** A veth pair a <-> b with b in a new namespace; both ends up. */
function makePair(t: ExecutionContext): Pair {
  const n = names();
  ip('netns', 'add', n.ns);
  const cleanup = (): void => {
    try { ip('link', 'del', n.a); } catch { /* already gone */ }
    try { ip('netns', 'del', n.ns); } catch { /* already gone */ }
  };
  t.teardown(cleanup);
  ip('link', 'add', n.a, 'type', 'veth', 'peer', 'name', n.b);
  ip('link', 'set', n.b, 'netns', n.ns);
  ip('link', 'set', n.a, 'up');
  ip('-n', n.ns, 'link', 'set', n.b, 'up');
  // No IPv6 on the test end: router/neighbour solicitations would mix with the frames we count.
  ip('netns', 'exec', n.ns, 'sysctl', '-qw', `net.ipv6.conf.${n.b}.disable_ipv6=1`);
  execFileSync('sysctl', ['-qw', `net.ipv6.conf.${n.a}.disable_ipv6=1`]);
  return { ...n, cleanup };
}

function openSystem(t: ExecutionContext, name: string): SystemNetdev {
  const nd = SystemNetdev.open(name);
  if (typeof nd === 'string') throw new Error(nd);
  t.teardown(() => nd.close());
  return nd;
}

/** Collects every batch the netdev delivers. */
function collect(nd: SystemNetdev): Packet[][] {
  const batches: Packet[][] = [];
  nd.setReceiver((b) => batches.push(b));
  return batches;
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * A node process inside the namespace with a SystemNetdev on `ifname`. Protocol, one JSON object
 * a line: we send {send: [hex]}; it answers {sent: n}; it reports every batch it receives as
 * {rx: [hex]}; it prints {ready: true} once open and exits when its stdin closes.
 */
class Peer {
  private readonly proc: ChildProcessWithoutNullStreams;
  readonly received: string[] = [];
  private readonly waiters: Array<(m: Record<string, unknown>) => void> = [];

  constructor(ns: string, ifname: string) {
    const index = new URL('../src/netdev/index.js', import.meta.url).href;
    const code = `
      import { SystemNetdev } from ${JSON.stringify(index)};
      import { createInterface } from 'node:readline';
      import { existsSync, renameSync, writeFileSync } from 'node:fs';
      import { Packet } from ${JSON.stringify(new URL('../src/packet/index.js', import.meta.url).href)};
      const nd = SystemNetdev.open(${JSON.stringify(ifname)});
      if (typeof nd === 'string') { console.log(JSON.stringify({ error: nd })); process.exit(1); }
      nd.setReceiver((b) => console.log(JSON.stringify({ rx: b.map((p) => p.bytes().toString('hex')) })));
      const rl = createInterface({ input: process.stdin });
      rl.on('line', (line) => {
        const m = JSON.parse(line);
        const frames = m.send.map((h) => Packet.from(Buffer.from(h, 'hex')));
        if (m.go === undefined) {
          console.log(JSON.stringify({ sent: nd.send(frames) }));
          return;
        }
        // Armed: send when the go file appears, and say so in the flag file.
        const timer = setInterval(() => {
          if (!existsSync(m.go)) return;
          clearInterval(timer);
          const n = nd.send(frames);
          writeFileSync(m.flag + '.tmp', String(n));
          renameSync(m.flag + '.tmp', m.flag);
        }, 1);
        console.log(JSON.stringify({ armed: true }));
      });
      rl.on('close', () => { nd.close(); });
      console.log(JSON.stringify({ ready: true }));
    `;
    this.proc = spawn('ip', ['netns', 'exec', ns, process.execPath, '--input-type=module', '-e', code]);
    this.proc.stderr.on('data', (d: Buffer) => process.stderr.write(d));
    createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const m = JSON.parse(line) as Record<string, unknown>;
      if (Array.isArray(m['rx'])) this.received.push(...(m['rx'] as string[]));
      else this.waiters.shift()?.(m);
    });
  }

  private next(): Promise<Record<string, unknown>> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async ready(): Promise<void> {
    const m = await this.next();
    if (m['ready'] !== true) throw new Error(`peer did not open: ${String(m['error'])}`);
  }

  async send(frames: readonly Uint8Array[]): Promise<number> {
    const reply = this.next();
    this.proc.stdin.write(JSON.stringify({ send: frames.map((f) => Buffer.from(f).toString('hex')) }) + '\n');
    return (await reply)['sent'] as number;
  }

  /**
   * Sends without letting this process's event loop run until the peer's send() returned: the
   * frames are then all in our ring (a veth delivers within the sender's system call) before
   * our port hears of the first one. Returns how many the peer sent.
   */
  async sendBlocking(frames: readonly Uint8Array[]): Promise<number> {
    const dir = mkdtempSync(join(tmpdir(), 'ofsw-afp-'));
    const flag = join(dir, 'sent');
    const go = join(dir, 'go');
    // Arm the peer over the pipe (asynchronous), then start it through a file (synchronous) and
    // block until it has sent.
    const armed = this.next();
    this.proc.stdin.write(JSON.stringify({ send: frames.map((f) => Buffer.from(f).toString('hex')), go, flag }) + '\n');
    if ((await armed)['armed'] !== true) throw new Error('the peer was not armed');
    writeFileSync(go, '');
    const nap = new Int32Array(new SharedArrayBuffer(4));
    const end = Date.now() + 20000;
    while (!existsSync(flag)) {
      if (Date.now() > end) throw new Error('the peer did not send');
      Atomics.wait(nap, 0, 0, 2);
    }
    const n = Number(readFileSync(flag, 'utf8'));
    rmSync(dir, { recursive: true, force: true });
    return n;
  }

  async close(): Promise<void> {
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.stdin.end();
    await exited;
  }
}

/** A frame of our experimental ethertype carrying `i`, from a fixed source, padded to 60. */
function probe(i: number, len = 60): Buffer {
  const payload = Buffer.alloc(len - 14);
  payload.writeUInt32BE(i, 0);
  return buildPacket({ eth: { src: '02:00:00:00:00:aa', dst: '02:00:00:00:00:bb' }, ethType: 0x88b5, payload });
}

function isProbe(p: Packet | Buffer): boolean {
  const b = p instanceof Packet ? p.bytes() : p;
  return b.length >= 18 && b.readUInt16BE(12) === 0x88b5;
}

test('opening a system port names what is missing', (t) => {
  if (!needRoot(t)) return;
  t.is(SystemNetdev.open('ofnosuch0'), 'system port ofnosuch0: no such interface');
  t.is(SystemNetdev.open('a-name-that-is-too-long'), 'system port a-name-that-is-too-long: interface names are 1 to 15 bytes');
});

test('frames from the namespace arrive in batches of at most RX_BATCH, in order, whole', async (t) => {
  if (!needRoot(t)) return;
  const pair = makePair(t);
  const nd = openSystem(t, pair.a);
  t.is(nd.type, 'system');
  t.true(nd.up);
  t.is(nd.mtu, 1500);
  t.is(nd.hwAddr.length, 6);
  const batches = collect(nd);
  const peer = new Peer(pair.ns, pair.b);
  t.teardown(() => peer.close());
  await peer.ready();
  const frames = Array.from({ length: 200 }, (_, i) => probe(i, 60 + (i % 5) * 300));
  t.is(await peer.sendBlocking(frames), 200);
  await until('200 frames', () => batches.flat().filter(isProbe).length >= 200);
  const got = batches.flat().filter(isProbe);
  t.is(got.length, 200);
  got.forEach((p, i) => t.deepEqual(p.bytes(), frames[i], `frame ${i}`));
  // Fresh packets with headroom, as the datapath needs for pushes.
  t.true(got.every((p) => p.start >= 64));
  t.true(batches.every((b) => b.length >= 1 && b.length <= RX_BATCH));
  // The 200 frames were all in the ring before our event loop heard of them, so one wake-up
  // took them all (RX_BUDGET is 256) and handed them over in full batches.
  t.deepEqual(batches.map((b) => b.length), [32, 32, 32, 32, 32, 32, 8]);
  t.is(nd.rxWakeups, 1);
  const s = nd.stats();
  t.true(s.rxPackets >= 200n);
  t.is(s.rxErrors, 0n);
});

test('a receiver may close the port in the middle of a wake-up', async (t) => {
  if (!needRoot(t)) return;
  const pair = makePair(t);
  const nd = openSystem(t, pair.a);
  let calls = 0;
  let seen = 0;
  nd.setReceiver((b) => {
    calls++;
    seen += b.length;
    nd.close();
  });
  const peer = new Peer(pair.ns, pair.b);
  t.teardown(() => peer.close());
  await peer.ready();
  t.is(await peer.send(Array.from({ length: 100 }, (_, i) => probe(i))), 100);
  await until('a batch', () => calls > 0);
  await new Promise((r) => setTimeout(r, 100));
  t.is(calls, 1, 'nothing is delivered after close');
  t.true(seen >= 1 && seen <= RX_BATCH);
  t.false(nd.up);
});

test('frames the port sends arrive at the peer', async (t) => {
  if (!needRoot(t)) return;
  const pair = makePair(t);
  const nd = openSystem(t, pair.a);
  const peer = new Peer(pair.ns, pair.b);
  t.teardown(() => peer.close());
  await peer.ready();
  const frames = Array.from({ length: 100 }, (_, i) => probe(1000 + i, 60 + i * 14));
  // Packets with headroom and a frame in the middle of their buffer: send() takes only the frame.
  const sent = nd.send(frames.map((f) => Packet.from(f)));
  t.is(sent, 100);
  await until('100 frames at the peer', () => peer.received.filter((h) => isProbe(Buffer.from(h, 'hex'))).length >= 100);
  const got = peer.received.map((h) => Buffer.from(h, 'hex')).filter(isProbe);
  t.deepEqual(got, frames);
  const s = nd.stats();
  t.is(s.txPackets, 100n);
  t.is(s.txBytes, BigInt(frames.reduce((n, f) => n + f.length, 0)));
  t.is(s.txDropped, 0n);
  // A frame longer than the MTU allows is refused by the device and counted, the rest go out.
  const big = probe(7, 1600);
  t.is(nd.send([Packet.from(probe(5)), Packet.from(big), Packet.from(probe(6))]), 2);
  t.is(nd.stats().txDropped, 1n);
});

test('VLAN tags the kernel stripped into metadata are put back, 802.1Q and 802.1ad', async (t) => {
  if (!needRoot(t)) return;
  const pair = makePair(t);
  const nd = openSystem(t, pair.a);
  const batches = collect(nd);
  const peer = new Peer(pair.ns, pair.b);
  t.teardown(() => peer.close());
  await peer.ready();
  // The receive path of the kernel (__netif_receive_skb_core) moves an in-band tag into skb
  // metadata before packet sockets see the frame, on every interface: the ring reports it in
  // tp_vlan_tci/tp_vlan_tpid, and the addon must put it back where it was.
  const tagged = [
    buildPacket({ vlans: [{ vid: 10, pcp: 5 }], ipv4: {}, udp: {}, minLength: 64 }),
    buildPacket({ vlans: [{ tpid: 0x88a8, vid: 100 }, { vid: 20 }], ipv4: {}, tcp: {}, minLength: 64 }),
    buildPacket({ vlans: [{ vid: 0, pcp: 3 }], arp: {}, minLength: 64 }),
  ];
  t.is(await peer.send(tagged), 3);
  await until('3 tagged frames', () => batches.flat().length >= 3);
  t.deepEqual(batches.flat().map((p) => p.bytes()), tagged);
  t.is(nd.rxVlanRestored, 3n, 'each frame came through the restore path');
});

test('a partial UDP checksum from the namespace stack (veth checksum offload) is completed', async (t) => {
  if (!needRoot(t)) return;
  const pair = makePair(t);
  const nd = openSystem(t, pair.a);
  const batches = collect(nd);
  // An address and a neighbour in the namespace, so its stack sends at once without ARP. The
  // veth offers checksum offload, so the UDP checksum leaves as CHECKSUM_PARTIAL.
  ip('-n', pair.ns, 'addr', 'add', '10.231.10.2/24', 'dev', pair.b);
  ip('-n', pair.ns, 'neigh', 'add', '10.231.10.9', 'lladdr', '02:00:00:00:00:09', 'dev', pair.b);
  const payload = 'checksum me '.repeat(20);
  execFileSync('ip', ['netns', 'exec', pair.ns, process.execPath, '-e', `
    const s = require('node:dgram').createSocket('udp4');
    s.send(Buffer.from(${JSON.stringify(payload)}), 9999, '10.231.10.9', () => s.close());`]);
  const isUdp = (p: Packet): boolean => p.bytes().readUInt16BE(12) === 0x0800 && p.bytes()[23] === 17;
  await until('the UDP frame', () => batches.flat().some(isUdp));
  const f = batches.flat().find(isUdp)!.bytes();
  t.is(f.subarray(f.length - payload.length).toString(), payload);
  t.deepEqual(checksumsOf(f), { ipv4: true, l4: true });
  t.true(nd.rxCsumCompleted >= 1n, 'the veth delivered a partial checksum that we completed');
  t.is(nd.csumUncompleted, 0n);
});

test('our interface going down and up shows in status$, and frames flow again after', async (t) => {
  if (!needRoot(t)) return;
  const pair = makePair(t);
  const nd = openSystem(t, pair.a);
  const batches = collect(nd);
  const peer = new Peer(pair.ns, pair.b);
  t.teardown(() => peer.close());
  await peer.ready();
  const down = firstValueFrom(nd.status$.pipe(take(1), timeout(5000)));
  // Admin down makes the kernel report ENETDOWN on the socket (POLLERR): the port must take
  // the error and keep polling, not go deaf.
  ip('link', 'set', pair.a, 'down');
  t.deepEqual(await down, { up: false });
  const up = firstValueFrom(nd.status$.pipe(filter((s) => s.up), take(1), timeout(5000)));
  ip('link', 'set', pair.a, 'up');
  await up;
  t.false(nd.detached);
  await until('the peer to see carrier', () => ip('-n', pair.ns, 'link', 'show', pair.b).includes('LOWER_UP'));
  t.is(await peer.send([probe(77)]), 1);
  await until('a frame after the interface came back up', () => batches.flat().some(isProbe));
  t.true(nd.stats().rxErrors >= 1n, 'the ENETDOWN was counted');
  const sent = nd.send([Packet.from(probe(78))]);
  t.is(sent, 1);
  await until('the peer to receive', () => peer.received.some((h) => isProbe(Buffer.from(h, 'hex'))));
});

test('link down on the peer shows in status$, and back up', async (t) => {
  if (!needRoot(t)) return;
  const pair = makePair(t);
  const nd = openSystem(t, pair.a);
  t.true(nd.up);
  const down = firstValueFrom(nd.status$.pipe(take(1), timeout(5000)));
  ip('-n', pair.ns, 'link', 'set', pair.b, 'down');
  t.deepEqual(await down, { up: false });
  t.false(nd.up);
  const up = firstValueFrom(nd.status$.pipe(take(1), timeout(5000)));
  ip('-n', pair.ns, 'link', 'set', pair.b, 'up');
  t.deepEqual(await up, { up: true });
  t.true(nd.up);
});

test('deleting the interface underneath takes the port down without throwing; it comes back with the interface', async (t) => {
  if (!needRoot(t)) return;
  const pair = makePair(t);
  const nd = openSystem(t, pair.a);
  const batches = collect(nd);
  const events: NetdevStatus[] = [];
  nd.status$.subscribe((s) => events.push(s));
  const down = firstValueFrom(nd.status$.pipe(filter((s) => !s.up), take(1), timeout(5000)));
  ip('link', 'del', pair.a);
  await down;
  t.false(nd.up);
  t.true(nd.detached);
  t.is(nd.send([Packet.from(probe(1))]), 0);
  t.is(nd.stats().txDropped, 1n);
  // The same name again (a new veth, a new ifindex): the port reattaches and receives.
  const back = firstValueFrom(nd.status$.pipe(filter((s) => s.up), take(1), timeout(5000)));
  ip('link', 'add', pair.a, 'type', 'veth', 'peer', 'name', pair.b);
  ip('link', 'set', pair.b, 'netns', pair.ns);
  ip('link', 'set', pair.a, 'up');
  ip('-n', pair.ns, 'link', 'set', pair.b, 'up');
  await back;
  t.false(nd.detached);
  t.is(nd.detaches, 1);
  const peer = new Peer(pair.ns, pair.b);
  t.teardown(() => peer.close());
  await peer.ready();
  await peer.send([probe(42)]);
  await until('a frame after reattaching', () => batches.flat().some(isProbe));
  t.deepEqual(events.map((e) => e.up).slice(0, 2), [false, true]);
  // Closing completes status$.
  const done = firstValueFrom(nd.status$.pipe(toArray(), timeout(1000)));
  nd.close();
  await done;
  t.false(nd.up);
});

test('a TCP transfer between two namespaces through two system ports that forward to each other completes', async (t) => {
  if (!needRoot(t)) return;
  const h1 = makePair(t);
  const h2 = makePair(t);
  // Checksum offload stays on (so every segment arrives partial and is completed here); each
  // host sends one MSS per skb (gso_max_segs 1), since a TPACKET_V2 slot cannot hold a TSO
  // super-frame (see afpacket.ts).
  const hosts = [h1, h2].map((h, i) => {
    ip('-n', h.ns, 'addr', 'add', `10.231.20.${i + 1}/24`, 'dev', h.b);
    ip('-n', h.ns, 'link', 'set', h.b, 'gso_max_segs', '1');
    return `10.231.20.${i + 1}`;
  });
  const a = openSystem(t, h1.a);
  const b = openSystem(t, h2.a);
  a.setReceiver((batch) => b.send(batch));
  b.setReceiver((batch) => a.send(batch));
  const bytes = 5_000_000;
  const server = spawn('ip', ['netns', 'exec', h2.ns, process.execPath, '-e', `
    const srv = require('node:net').createServer((s) => {
      let n = 0;
      s.on('data', (d) => (n += d.length));
      s.on('end', () => { console.log(n); s.end(); srv.close(); });
    });
    srv.listen(5001, '${hosts[1]}', () => console.log('listening'));`]);
  t.teardown(() => server.kill());
  const lines = createInterface({ input: server.stdout })[Symbol.asyncIterator]();
  t.is((await lines.next()).value, 'listening');
  // The client runs asynchronously: this process must keep forwarding meanwhile.
  const client = spawn('ip', ['netns', 'exec', h1.ns, process.execPath, '-e', `
    const s = require('node:net').connect(5001, '${hosts[1]}', () => s.end(Buffer.alloc(${bytes}, 0x5a)));
    s.resume();`]);
  t.teardown(() => client.kill());
  t.is(Number((await lines.next()).value), bytes);
  t.is(a.rxTruncated + b.rxTruncated, 0n);
  t.true(a.rxCsumCompleted > 100n, 'data segments arrived with partial checksums and were completed');
  t.is(a.csumUncompleted + b.csumUncompleted, 0n);
});
