/**
 * The TAP netdev against the host's own stack: the test creates a TAP with a unique name, puts
 * an address on it, and plays the host at the other end of the "wire" — it answers the kernel's
 * ARP, sees the kernel learn the address, receives the kernel's UDP datagram, and sends one back
 * that a socket of this process receives. Also: link state, the 'internal' type, the device
 * disappearing underneath, and closing removing the device.
 *
 * Needs root (CAP_NET_ADMIN) and the built addon; fails saying so otherwise, never skips.
 */

import test, { type ExecutionContext } from 'ava';
import { createSocket } from 'node:dgram';
import { execFileSync } from 'node:child_process';
import { firstValueFrom, filter, take, timeout } from 'rxjs';
import { loadNative, TapNetdev, type TapNetdevOptions } from '../src/netdev/index.js';
import { buildPacket, Packet } from '../src/packet/index.js';

let seq = 0;
function tapName(): { name: string; net: number } {
  const tag = (process.pid % 100000) * 10 + (seq++ % 10);
  // 10.<232..239>.<x>.0/24, from the tag, so parallel runs do not share a subnet.
  return { name: `oft${tag}`, net: tag % 2048 };
}

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function needRoot(t: ExecutionContext): boolean {
  if (process.getuid?.() !== 0) {
    t.fail('this test needs root (CAP_NET_ADMIN to create TAP devices): run the suite as root');
    return false;
  }
  const b = loadNative();
  if (typeof b === 'string') {
    t.fail(`the native addon is not available: ${b}`);
    return false;
  }
  return true;
}

function openTap(t: ExecutionContext, name: string, opts: TapNetdevOptions = {}): TapNetdev {
  const nd = TapNetdev.open(name, opts);
  if (typeof nd === 'string') throw new Error(nd);
  t.teardown(() => {
    nd.close();
    try { ip('link', 'del', name); } catch { /* closing removed it */ }
  });
  return nd;
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function hex(mac: Uint8Array): string {
  return Buffer.from(mac).toString('hex').replace(/(..)(?!$)/g, '$1:');
}

test('the kernel ARPs and sends UDP through the TAP; our ARP reply is learned; our UDP reaches a socket', async (t) => {
  if (!needRoot(t)) return;
  const { name, net } = tapName();
  const nd = openTap(t, name);
  t.is(nd.type, 'tap');
  t.is(nd.name, name);
  t.true(nd.up, 'a fresh TAP is brought up and has carrier while we hold it');
  const prefix = `10.${232 + (net >> 8)}.${net & 0xff}`;
  const local = `${prefix}.1`, remote = `${prefix}.2`;
  const remoteMac = '02:00:5e:00:00:02';
  ip('addr', 'add', `${local}/24`, 'dev', name);
  execFileSync('sysctl', ['-qw', `net.ipv6.conf.${name}.disable_ipv6=1`]);

  const got: Packet[] = [];
  nd.setReceiver((batch) => {
    for (const p of batch) {
      got.push(p);
      const b = p.bytes();
      // Play the host at `remote`: answer ARP requests for it.
      if (b.readUInt16BE(12) === 0x0806 && b.readUInt16BE(20) === 1 && b.subarray(38, 42).join('.') === remote) {
        const reply = buildPacket({
          eth: { src: remoteMac, dst: hex(b.subarray(6, 12)) },
          arp: { op: 2, sha: remoteMac, spa: remote, tha: hex(b.subarray(22, 28)), tpa: local },
        });
        t.is(nd.send([Packet.from(reply)]), 1);
      }
    }
  });

  // A socket of this process, bound to the TAP's address, for the way back.
  const sock = createSocket('udp4');
  t.teardown(() => sock.close());
  await new Promise<void>((r) => sock.bind(0, local, r));
  const port = sock.address().port;
  const answered = new Promise<Buffer>((r) => sock.once('message', (m) => r(m)));

  // Kernel -> TAP: the datagram makes the kernel ARP for `remote` first.
  sock.send(Buffer.from('to the tap'), 7777, remote);
  const isUdp = (p: Packet): boolean => p.bytes().readUInt16BE(12) === 0x0800 && p.bytes()[23] === 17;
  await until('the kernel UDP datagram', () => got.some(isUdp));
  const arp = got.find((p) => p.bytes().readUInt16BE(12) === 0x0806)!.bytes();
  t.deepEqual(arp.subarray(6, 12), Buffer.from(nd.hwAddr), 'the kernel ARPs from the TAP\'s own address');
  const udp = got.find(isUdp)!.bytes();
  t.is(hex(udp.subarray(0, 6)), remoteMac, 'sent to the MAC our ARP reply gave');
  t.is(udp.subarray(udp.length - 10).toString(), 'to the tap');
  t.regex(ip('neigh', 'show', 'dev', name), new RegExp(`${remote.replace(/\./g, '\\.')} lladdr ${remoteMac}`), 'the kernel learned our ARP reply');

  // TAP -> kernel: a datagram from `remote` to our socket.
  const back = buildPacket({
    eth: { src: remoteMac, dst: hex(udp.subarray(6, 12)) },
    ipv4: { src: remote, dst: local },
    udp: { src: 7777, dst: port },
    payload: Buffer.from('from the tap'),
  });
  t.is(nd.send([Packet.from(back)]), 1);
  t.is((await answered).toString(), 'from the tap');
  const s = nd.stats();
  t.true(s.rxPackets >= 2n);
  t.is(s.txPackets, 2n);
  t.is(s.rxErrors, 0n);
});

test('a TAP follows its link state; it can be the internal (LOCAL) port with a given address and MTU; closing removes it', async (t) => {
  if (!needRoot(t)) return;
  const { name } = tapName();
  const mac = Uint8Array.of(0x02, 0x00, 0x5e, 0x12, 0x34, 0x56);
  const nd = openTap(t, name, { type: 'internal', hwAddr: mac, mtu: 9000 });
  t.is(nd.type, 'internal');
  t.true(nd.up);
  t.is(nd.mtu, 9000);
  t.deepEqual(nd.hwAddr, mac);
  t.regex(ip('link', 'show', name), /mtu 9000 .*\n.*link\/ether 02:00:5e:12:34:56/);
  const down = firstValueFrom(nd.status$.pipe(take(1), timeout(5000)));
  ip('link', 'set', name, 'down');
  t.deepEqual(await down, { up: false });
  // A down TAP takes nothing: the frame is counted, not sent.
  t.is(nd.send([Packet.from(buildPacket({ arp: {} }))]), 0);
  t.is(nd.stats().txDropped, 1n);
  const up = firstValueFrom(nd.status$.pipe(take(1), timeout(5000)));
  ip('link', 'set', name, 'up');
  t.deepEqual(await up, { up: true });
  nd.close();
  t.false(nd.up);
  t.throws(() => ip('link', 'show', name), undefined, 'the device went with the port');
});

test('a TAP deleted underneath takes the port down without throwing', async (t) => {
  if (!needRoot(t)) return;
  const { name } = tapName();
  const nd = openTap(t, name);
  nd.setReceiver(() => {});
  const down = firstValueFrom(nd.status$.pipe(filter((s) => !s.up), take(1), timeout(5000)));
  ip('link', 'del', name);
  await down;
  t.false(nd.up);
  t.true(nd.detached);
  t.is(nd.send([Packet.from(buildPacket({ arp: {} }))]), 0);
  // Some time on the event loop: no exception, no spinning on a dead descriptor.
  await new Promise((r) => setTimeout(r, 200));
  t.true(nd.detached);
});

test('opening a TAP names what is wrong', (t) => {
  if (!needRoot(t)) return;
  t.is(TapNetdev.open('a-name-that-is-too-long'), 'tap port a-name-that-is-too-long: interface names are 1 to 15 bytes');
  t.is(TapNetdev.open('lo'), 'tap port lo: lo exists and is not a TAP device');
});
