/**
 * Tunnels end to end, as root, in network namespaces this test creates and removes: two
 * "switch" namespaces joined by a veth (the underlay, 172.31.N.1 and .2), each running
 * `ofswitch start` (through `ip netns exec`) with a system port to a host namespace and a VXLAN,
 * Geneve or GRE port to the other side; flows installed with ovs-ofctl inside each namespace; the
 * hosts (10.79.N.1 and .2) ping each other, first with one side's remote_ip=flow (it learns the
 * far end from what arrives), then with key=flow on both. Then the same with the Linux kernel's
 * own vxlan (and geneve, when the kernel has it) device as the far end. Flows that set and match
 * tunnel_id show that the VNI or GRE key goes to and from OpenFlow: a tunnel_id the far side does
 * not match stops traffic.
 *
 * GRE has no kernel device here (no ip_gre module), so its independent far end is scapy
 * (test/peers/gre-peer.py, in the far namespace): it sends GRE packets it builds itself (keyed,
 * keyless, with and without checksums, sequence numbers, and broken ones) with an ICMP echo
 * inside to the host behind the switch, and captures the switch's GRE packets that carry the
 * replies; scapy and tshark each decode them. A GRE port is also added at run time with
 * `ofswitch ctl add-port`.
 *
 * Everything created is named ofst<pid>… (namespaces; interfaces live inside them) and removed by
 * name at the end; switch processes are stopped by their PID.
 */

import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toolPath } from './peers/peers.js';
import { OFSWITCH_BIN, waitFor } from './switch-process.js';

const tag = `ofst${process.pid % 100000}`;
const n = process.pid % 200;
const NS = { a: `${tag}a`, b: `${tag}b`, h1: `${tag}h1`, h2: `${tag}h2` };
const UNDER = { a: `172.31.${n}.1`, b: `172.31.${n}.2` };
const HOST = { h1: `10.79.${n}.1`, h2: `10.79.${n}.2` };

function sh(cmd: string, args: string[], timeout = 20_000): { status: number | null; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout });
  return { status: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
}

function ip(...args: string[]): void {
  const r = sh('ip', args);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.err}`);
}

const inNs = (ns: string, ...args: string[]) => sh('ip', ['netns', 'exec', ns, ...args], 30_000);

function kernelHas(kind: 'vxlan' | 'geneve'): boolean {
  const ns = `${tag}k`;
  sh('ip', ['netns', 'del', ns]);
  if (sh('ip', ['netns', 'add', ns]).status !== 0) return false;
  const args = kind === 'vxlan' ? ['vxlan', 'id', '1', 'dstport', '4789'] : ['geneve', 'id', '1', 'remote', '192.0.2.1'];
  const ok = sh('ip', ['-n', ns, 'link', 'add', 'probe0', 'type', ...args]).status === 0;
  sh('ip', ['netns', 'del', ns]);
  return ok;
}

const root = process.getuid?.() === 0;
const kernelGeneve = root && kernelHas('geneve');

/** The underlay between a and b, and host h1 behind a; host h2 behind b unless `noH2`. */
function setUp(noH2 = false): void {
  tearDown();
  for (const ns of Object.values(NS)) {
    if (noH2 && ns === NS.h2) continue;
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    // No IPv6: hosts stay silent until they are asked to ping (DAD and MLD would otherwise teach
    // a remote_ip=flow port where a host lives before the test means it to).
    const r = inNs(ns, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    if (r.status !== 0) throw new Error(`sysctl in ${ns}: ${r.err}`);
  }
  ip('-n', NS.a, 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u0', 'netns', NS.b);
  for (const s of ['a', 'b'] as const) {
    ip('-n', NS[s], 'addr', 'add', `${UNDER[s]}/24`, 'dev', 'u0');
    ip('-n', NS[s], 'link', 'set', 'u0', 'up');
  }
  const host = (sw: string, h: string, addr: string) => {
    ip('-n', sw, 'link', 'add', 'p1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h);
    ip('-n', sw, 'link', 'set', 'p1', 'up');
    ip('-n', h, 'addr', 'add', `${addr}/24`, 'dev', 'eth0');
    ip('-n', h, 'link', 'set', 'eth0', 'up');
  };
  host(NS.a, NS.h1, HOST.h1);
  if (!noH2) host(NS.b, NS.h2, HOST.h2);
}

function tearDown(): void {
  for (const ns of Object.values(NS)) sh('ip', ['netns', 'del', ns]);
}

interface NsSwitch {
  readonly ns: string;
  readonly proc: ChildProcess;
  readonly port: number;
  /** The control socket (ofswitch ctl --socket). */
  readonly socket: string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

/** `ofswitch start ARGS` inside `ns` (ip netns exec runs it in place: the PID is the switch's). */
async function startIn(ns: string, args: readonly string[]): Promise<NsSwitch> {
  const socket = join(mkdtempSync(join(tmpdir(), 'ofswitch-tun-')), 'ctl');
  const proc = spawn('ip', ['netns', 'exec', ns, process.execPath, OFSWITCH_BIN, 'start', '--listen', 'ptcp:0', '--socket', socket, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`ofswitch in ${ns}: no listening line within 30 s; stderr:\n${err}`));
    }, 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^listening on ptcp:(\d+):127\.0\.0\.1$/m.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`ofswitch in ${ns} exited with ${code}; stderr:\n${err}`)); });
  });
  return { ns, proc, port, socket, stderr: () => err, exited };
}

async function stop(sw: NsSwitch | undefined): Promise<void> {
  if (sw === undefined) return;
  sw.proc.kill('SIGTERM');
  await sw.exited;
}

function ofctl(sw: NsSwitch, ...args: string[]): void {
  const r = inNs(sw.ns, toolPath('ovs-ofctl'), '-O', 'OpenFlow13', args[0]!, `tcp:127.0.0.1:${sw.port}`, ...args.slice(1));
  if (r.status !== 0) throw new Error(`ovs-ofctl ${args.join(' ')} in ${sw.ns}: ${r.err}`);
}

/** Pings until one reply comes (ARP and learning settle), up to 15 s; true when one did. */
async function pings(from: string, to: string): Promise<boolean> {
  try {
    await waitFor(`${from} -> ${to}`, () => (inNs(from, 'ping', '-c', '1', '-W', '1', to).status === 0 ? true : undefined), 15_000);
    return true;
  } catch {
    return false;
  }
}

/** Three pings in a row get through (after the first one did). */
const pingsSteadily = (from: string, to: string) => inNs(from, 'ping', '-c', '3', '-i', '0.2', '-W', '2', to).status === 0;

const tunnelPort = (type: 'vxlan' | 'geneve' | 'gre', local: string, remote: string, key: string) =>
  `t0@2,type=${type},remote_ip=${remote},local_ip=${local},key=${key}`;

for (const type of ['vxlan', 'geneve', 'gre'] as const) {
  test.serial(`two ofswitch bridges joined by ${type}: hosts behind each ping; tunnel_id set and matched by flows`, async (t) => {
    if (!root) return t.fail('this test needs root (network namespaces, veth, AF_PACKET)');
    setUp();
    let a: NsSwitch | undefined;
    let b: NsSwitch | undefined;
    try {
      // A fixed key on both sides, plain in_port -> output flows. a's port has remote_ip=flow:
      // it learns where h2 lives from b's datagrams, so h2 speaks first.
      a = await startIn(NS.a, ['--port', 'p1@1,type=system', '--port', tunnelPort(type, UNDER.a, 'flow', '42')]);
      b = await startIn(NS.b, ['--port', 'p1@1,type=system', '--port', tunnelPort(type, UNDER.b, UNDER.a, '42')]);
      for (const sw of [a, b]) {
        ofctl(sw, 'add-flow', 'in_port=1,actions=output:2');
        ofctl(sw, 'add-flow', 'in_port=2,actions=output:1');
      }
      t.false(pingsSteadily(NS.h1, HOST.h2), 'a has heard from no far end yet: remote_ip=flow has nowhere to send');
      t.true(await pings(NS.h2, HOST.h1), `h2 -> h1 over ${type}`);
      t.true(pingsSteadily(NS.h1, HOST.h2), `h1 -> h2 over ${type} (a learned where h2 lives)`);
    } finally {
      await stop(a);
      await stop(b);
    }
    try {
      // key=flow: the pipeline sets tunnel_id on the way in to the tunnel and matches it on the way out.
      a = await startIn(NS.a, ['--port', 'p1@1,type=system', '--port', tunnelPort(type, UNDER.a, UNDER.b, 'flow')]);
      b = await startIn(NS.b, ['--port', 'p1@1,type=system', '--port', tunnelPort(type, UNDER.b, UNDER.a, 'flow')]);
      for (const sw of [a, b]) {
        ofctl(sw, 'add-flow', 'in_port=1,actions=set_field:4660->tunnel_id,output:2');
        ofctl(sw, 'add-flow', 'in_port=2,tunnel_id=4660,actions=output:1');
      }
      t.true(await pings(NS.h1, HOST.h2), 'tunnel_id 4660 both ways');
      t.true(pingsSteadily(NS.h2, HOST.h1));
      // a now sends another key, which b's flow does not match: h1's frames stop at b.
      ofctl(a, 'mod-flows', 'in_port=1,actions=set_field:4661->tunnel_id,output:2');
      t.false(pingsSteadily(NS.h1, HOST.h2), 'a key b does not match is dropped');
      ofctl(b, 'add-flow', 'in_port=2,tunnel_id=4661,actions=output:1');
      t.true(await pings(NS.h1, HOST.h2), 'and passes once b matches it');
      t.is(a.proc.exitCode, null);
      t.is(b.proc.exitCode, null);
    } finally {
      await stop(a);
      await stop(b);
      tearDown();
    }
    return undefined;
  });
}

const kernelTest = (kind: 'vxlan' | 'geneve', available: boolean) =>
  (available ? test.serial : test.serial.skip)(`ofswitch against the Linux kernel's ${kind} device`, async (t) => {
    if (!root) return t.fail('this test needs root (network namespaces, veth, AF_PACKET)');
    setUp(true);
    let a: NsSwitch | undefined;
    try {
      // The kernel's device in b is the far end, and b itself is the host behind it.
      const dev = kind === 'vxlan'
        ? ['vxlan', 'id', '42', 'remote', UNDER.a, 'local', UNDER.b, 'dstport', '4789', 'dev', 'u0']
        : ['geneve', 'id', '42', 'remote', UNDER.a];
      ip('-n', NS.b, 'link', 'add', 'k0', 'type', ...dev);
      ip('-n', NS.b, 'addr', 'add', `${HOST.h2}/24`, 'dev', 'k0');
      ip('-n', NS.b, 'link', 'set', 'k0', 'up');
      a = await startIn(NS.a, ['--port', 'p1@1,type=system', '--port', tunnelPort(kind, UNDER.a, UNDER.b, 'flow')]);
      ofctl(a, 'add-flow', 'in_port=1,actions=set_field:42->tunnel_id,output:2');
      ofctl(a, 'add-flow', 'in_port=2,tunnel_id=42,actions=output:1');
      t.true(await pings(NS.h1, HOST.h2), `h1 -> the kernel's ${kind} device`);
      t.true(pingsSteadily(NS.b, HOST.h1), `the kernel's side -> h1`);
      // The kernel's VNI is 42: matching another tunnel_id stops the replies.
      ofctl(a, 'del-flows', 'in_port=2');
      ofctl(a, 'add-flow', 'in_port=2,tunnel_id=43,actions=output:1');
      t.false(pingsSteadily(NS.h1, HOST.h2), 'replies with VNI 42 do not match tunnel_id=43');
    } finally {
      await stop(a);
      tearDown();
    }
    return undefined;
  });

kernelTest('vxlan', true);
kernelTest('geneve', kernelGeneve);

// ---------------------------------------------------------------------------------------------
// GRE against an independent implementation (scapy builds and parses, tshark decodes)
// ---------------------------------------------------------------------------------------------

const GRE_PEER = fileURLToPath(new URL('../../test/peers/gre-peer.py', import.meta.url));
/** The host scapy pretends to have behind the far end (h1 knows its MAC: no ARP needed). */
const FAR = { mac: '02:00:5e:00:02:02', ip: `10.79.${n}.2` };

interface GreCaptured {
  readonly outer_src: string;
  readonly outer_dst: string;
  readonly version: number;
  readonly proto: number;
  readonly routing: number;
  readonly key: number | null;
  readonly seq: number | null;
  readonly csum_ok: boolean | null;
  readonly eth_src?: string;
  readonly eth_dst?: string;
  readonly ip_src?: string;
  readonly ip_dst?: string;
  readonly icmp_type?: number;
  readonly icmp_seq?: number;
  readonly payload?: string;
}

interface GrePeerPacket {
  readonly seq: number;
  readonly key?: number;
  readonly csum?: boolean;
  readonly bad_csum?: boolean;
  readonly proto?: number;
  readonly version?: number;
  readonly gre_seq?: number;
}

/**
 * Runs gre-peer.py in b: sends `packets` to a's underlay address and captures what a sends
 * back, as scapy reads it (`captured`) and as tshark reads the same capture (`dissected`: the
 * fields below per GRE packet; flags 1/0, checksum status 1 good, 0 bad, 2 not there).
 */
function grePeer(h1Mac: string, packets: readonly GrePeerPacket[], expect: number): { captured: GreCaptured[]; dissected: Array<Record<string, string>> } {
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-gre-'));
  try {
    const pcap = join(dir, 'cap.pcap');
    const args = {
      iface: 'u0', local: UNDER.b, remote: UNDER.a, inner_src_mac: FAR.mac, inner_src_ip: FAR.ip,
      inner_dst_mac: h1Mac, inner_dst_ip: HOST.h1, pcap, expect, packets,
    };
    const r = inNs(NS.b, '/usr/bin/python3', GRE_PEER, JSON.stringify(args));
    if (r.status !== 0) throw new Error(`gre-peer.py: exit ${r.status}\n${r.err}`);
    const fields = ['gre.flags.checksum', 'gre.flags.key', 'gre.flags.sequence_number', 'gre.flags.version', 'gre.key', 'gre.proto',
      'gre.checksum.status', 'eth.dst', 'icmp.type', 'icmp.seq'];
    const ts = sh(toolPath('tshark'), ['-r', pcap, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=l', ...fields.flatMap((f) => ['-e', f]), 'gre']);
    if (ts.status !== 0) throw new Error(`tshark: ${ts.err}`);
    return {
      captured: (JSON.parse(r.out) as { captured: GreCaptured[] }).captured,
      dissected: ts.out.trim().split('\n').filter((l) => l !== '').map((l) => Object.fromEntries(l.split('|').map((v, i) => [fields[i]!, v]))),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** rx/tx counters of an OpenFlow port, as ovs-ofctl dump-ports prints them. */
function portCounters(sw: NsSwitch, port: number): { rxPkts: number; rxDrop: number; rxErrs: number; txPkts: number } {
  const r = inNs(sw.ns, toolPath('ovs-ofctl'), '-O', 'OpenFlow13', 'dump-ports', `tcp:127.0.0.1:${sw.port}`, String(port));
  const rx = /rx pkts=(\d+), bytes=\d+, drop=(\d+), errs=(\d+)/.exec(r.out);
  const tx = /tx pkts=(\d+)/.exec(r.out);
  if (rx === null || tx === null) throw new Error(`dump-ports in ${sw.ns}: ${r.out}${r.err}`);
  return { rxPkts: Number(rx[1]), rxDrop: Number(rx[2]), rxErrs: Number(rx[3]), txPkts: Number(tx[1]) };
}

test.serial('GRE against scapy and tshark: packets the switch takes, refuses and sends; a gre port added with ctl add-port', async (t) => {
  if (!root) return t.fail('this test needs root (network namespaces, veth, AF_PACKET, raw IP sockets)');
  if (sh('/usr/bin/python3', ['-c', 'import scapy']).status !== 0) {
    return t.fail('this test needs scapy for /usr/bin/python3 (Debian package python3-scapy)');
  }
  setUp(true);
  let a: NsSwitch | undefined;
  try {
    const link = JSON.parse(sh('ip', ['-n', NS.h1, '-j', 'link', 'show', 'eth0']).out) as Array<{ address: string }>;
    const h1Mac = link[0]!.address;
    ip('-n', NS.h1, 'neigh', 'replace', FAR.ip, 'lladdr', FAR.mac, 'dev', 'eth0');
    a = await startIn(NS.a, ['--port', 'p1@1,type=system', '--port', `t0@2,type=gre,remote_ip=${UNDER.b},local_ip=${UNDER.a},key=42,csum=true`]);
    ofctl(a, 'add-flow', 'in_port=1,actions=output:2');
    ofctl(a, 'add-flow', 'in_port=2,actions=output:1');
    // Five packets the port must not take, then two it must: the replies to those two are all
    // that comes back.
    const { captured, dissected } = grePeer(h1Mac, [
      { seq: 2, key: 42, bad_csum: true },
      { seq: 3, key: 43 },
      { seq: 4, key: 42, proto: 0x0800 },
      { seq: 5, key: 42, version: 1 },
      { seq: 6 }, // keyless: key 0, not 42
      { seq: 1, key: 42, csum: true, gre_seq: 1000 },
      { seq: 7, key: 42 },
    ], 2);
    t.deepEqual(captured.map((c) => c.icmp_seq), [1, 7], 'echo replies to the two good packets, and nothing else');
    for (const c of captured) {
      t.like(c, {
        outer_src: UNDER.a, outer_dst: UNDER.b, version: 0, proto: 0x6558, routing: 0, key: 42, seq: null, csum_ok: true,
        eth_src: h1Mac, eth_dst: FAR.mac, ip_src: HOST.h1, ip_dst: FAR.ip, icmp_type: 0, payload: 'ofswitch-gre-interop',
      });
    }
    t.is(dissected.length, 2);
    for (const [i, r] of dissected.entries()) {
      t.like(r, {
        'gre.flags.checksum': '1', 'gre.flags.key': '1', 'gre.flags.sequence_number': '0', 'gre.flags.version': '0',
        'gre.key': '0x0000002a', 'gre.proto': '0x6558', 'gre.checksum.status': '1', 'eth.dst': FAR.mac, 'icmp.type': '0',
        'icmp.seq': String([1, 7][i]),
      }, `tshark, packet ${i}`);
    }
    t.like(portCounters(a, 2), { rxPkts: 2, rxDrop: 2, rxErrs: 3 }, 'bad checksum, IPv4 inside and version 1 are errors; other keys are dropped');
    await stop(a);

    // A gre port without a key, added at run time: no K bit and no checksum on the wire; it takes
    // keyless packets and key 0, not key 42.
    a = await startIn(NS.a, ['--port', 'p1@1,type=system']);
    const add = sh(process.execPath, [OFSWITCH_BIN, 'ctl', '--socket', a.socket, 'add-port', 'br0', `t1@2,type=gre,remote_ip=${UNDER.b},local_ip=${UNDER.a}`]);
    t.is(add.status, 0, add.err);
    ofctl(a, 'add-flow', 'in_port=1,actions=output:2');
    ofctl(a, 'add-flow', 'in_port=2,actions=output:1');
    const second = grePeer(h1Mac, [{ seq: 8, key: 42 }, { seq: 9 }, { seq: 10, key: 0, csum: true }], 2);
    t.deepEqual(second.captured.map((c) => [c.icmp_seq, c.key, c.csum_ok]), [[9, null, null], [10, null, null]]);
    t.deepEqual(second.dissected.map((r) => [r['gre.flags.key'], r['gre.flags.checksum'], r['gre.key'], r['icmp.seq']]), [['0', '0', '', '9'], ['0', '0', '', '10']]);
    t.like(portCounters(a, 2), { rxPkts: 2, rxDrop: 1, rxErrs: 0 });
    t.is(a.proc.exitCode, null);
  } finally {
    await stop(a);
    tearDown();
  }
  return undefined;
});
