/**
 * ofswitch between real Linux hosts: three network namespaces, each with a veth pair whose other
 * end is a system port of `ofswitch start`, controlled by ovs-testcontroller (OpenFlow 1.3
 * learning switch). Every host pings every other, and an iperf3 TCP transfer completes with
 * checksum offload left on. Then a port is removed and added back at run time with ofswitch ctl,
 * and a veth is deleted underneath the running switch.
 *
 * Needs root (namespaces, veth, AF_PACKET). Everything created here is named ofsw<pid>… and
 * removed by name at the end; processes are stopped by their PID.
 */

import test from 'ava';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toolPath } from './peers/peers.js';
import { OFSWITCH_BIN, framesIn, startSwitch, waitFor, type SwitchProcess } from './switch-process.js';

const tag = `ofsw${process.pid % 100000}`;
const hosts = [1, 2, 3].map((i) => ({ ns: `${tag}h${i}`, veth: `${tag}v${i}`, ip: `10.77.${process.pid % 200}.${i}` }));

function sh(cmd: string, args: string[], timeout = 20_000): { status: number | null; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout });
  return { status: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
}

function ip(...args: string[]): void {
  const r = sh('ip', args);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.err}`);
}

const inNs = (ns: string, ...args: string[]): { status: number | null; out: string; err: string } => sh('ip', ['netns', 'exec', ns, ...args], 60_000);

function setUp(): void {
  for (const h of hosts) {
    ip('netns', 'add', h.ns);
    ip('link', 'add', h.veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h.ns);
    ip('link', 'set', h.veth, 'up');
    ip('netns', 'exec', h.ns, 'ip', 'addr', 'add', `${h.ip}/24`, 'dev', 'eth0');
    ip('netns', 'exec', h.ns, 'ip', 'link', 'set', 'eth0', 'up');
    ip('netns', 'exec', h.ns, 'ip', 'link', 'set', 'lo', 'up');
    // Checksum offload stays on; TSO/GSO super-frames are split by the host's stack (one MSS
    // per skb), since a packet ring slot cannot hold a 64 KiB frame (see netdev/afpacket.ts).
    ip('netns', 'exec', h.ns, 'ip', 'link', 'set', 'eth0', 'gso_max_segs', '1');
  }
}

function tearDown(): void {
  for (const h of hosts) {
    sh('ip', ['netns', 'del', h.ns]);
    sh('ip', ['link', 'del', h.veth]);
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

function ctl(sw: SwitchProcess, ...args: string[]): { status: number | null; out: string; err: string } {
  return sh(process.execPath, [OFSWITCH_BIN, 'ctl', '--socket', sw.socket, ...args]);
}

test.serial('hosts in namespaces ping each other and move a TCP stream through ofswitch + ovs-testcontroller', async (t) => {
  if (process.getuid?.() !== 0) return t.fail('this test needs root (network namespaces, veth, AF_PACKET)');
  const tc = toolPath('ovs-testcontroller');
  const iperf = toolPath('iperf3');
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-sys-'));
  tearDown();
  setUp();
  const port = await freePort();
  let ctrl: ChildProcess | undefined;
  let sw: SwitchProcess | undefined;
  let server: ChildProcess | undefined;
  try {
    ctrl = spawn(tc, ['-O', 'OpenFlow13', `--unixctl=${dir}/tc.ctl`, `ptcp:${port}:127.0.0.1`], { stdio: 'ignore' });
    await waitFor('ovs-testcontroller', () => (sh('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], 2000).status === 0 ? true : undefined));
    sw = await startSwitch([
      '--listen', 'ptcp:0', '--controller', `tcp:127.0.0.1:${port}`,
      ...hosts.flatMap((h, i) => ['--port', `${h.veth}@${i + 1},type=system`]),
    ]);
    const s = sw;
    await waitFor('the controller connection', () => (/controller connected/.test(s.stderr()) ? true : undefined));
    for (const a of hosts) {
      for (const b of hosts) {
        if (a === b) continue;
        const r = inNs(a.ns, 'ping', '-c', '2', '-W', '2', b.ip);
        t.is(r.status, 0, `${a.ns} -> ${b.ip}: ${r.out}${r.err}`);
      }
    }
    server = spawn('ip', ['netns', 'exec', hosts[1]!.ns, iperf, '-s', '-1'], { stdio: 'ignore' });
    await waitFor('iperf3 server', () => (inNs(hosts[0]!.ns, 'bash', '-c', `exec 3<>/dev/tcp/${hosts[1]!.ip}/5201`).status === 0 ? true : undefined));
    // The probe above used the one-off server: start it again for the real transfer.
    await new Promise((r) => setTimeout(r, 200));
    server = spawn('ip', ['netns', 'exec', hosts[1]!.ns, iperf, '-s', '-1'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 500));
    const run = inNs(hosts[0]!.ns, iperf, '-c', hosts[1]!.ip, '-t', '2', '-J');
    t.is(run.status, 0, run.err);
    const result = JSON.parse(run.out) as { end: { sum_received: { bytes: number; bits_per_second: number } } };
    t.true(result.end.sum_received.bytes > 1_000_000, `received ${result.end.sum_received.bytes} bytes`);
    t.log(`iperf3 through ofswitch: ${(result.end.sum_received.bits_per_second / 1e6).toFixed(0)} Mbit/s`);

    // A port removed and added back at run time.
    t.is(ctl(s, 'del-port', 'br0', hosts[2]!.veth).status, 0);
    t.not(inNs(hosts[0]!.ns, 'ping', '-c', '1', '-W', '1', hosts[2]!.ip).status, 0, 'h3 is unreachable without its port');
    const add = ctl(s, 'add-port', 'br0', `${hosts[2]!.veth}@3,type=system`);
    t.is(add.status, 0, add.err);
    await waitFor('h1 reaches h3 again', () => (inNs(hosts[0]!.ns, 'ping', '-c', '1', '-W', '1', hosts[2]!.ip).status === 0 ? true : undefined), 15_000);
    // An interface deleted underneath: the port goes down, the switch carries on.
    sh('ip', ['link', 'del', hosts[2]!.veth]);
    await waitFor('the port to show link down', () => (/Port .*v3\n\s+ofport: 3, type: system \(link down\)/.test(ctl(s, 'show').out) ? true : undefined));
    const r = inNs(hosts[0]!.ns, 'ping', '-c', '1', '-W', '2', hosts[1]!.ip);
    t.is(r.status, 0, 'h1 -> h2 still works');
    t.is(s.proc.exitCode, null, 'the switch is still running');
  } finally {
    server?.kill();
    if (sw !== undefined) {
      sw.proc.kill('SIGTERM');
      await sw.exited;
    }
    ctrl?.kill('SIGTERM');
    tearDown();
  }
  return undefined;
});

test.serial('--local-port internal: the LOCAL port is a TAP named after the bridge; what the kernel sends on it enters the pipeline', async (t) => {
  if (process.getuid?.() !== 0) return t.fail('this test needs root (TAP)');
  const br = `${tag}br`;
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-local-'));
  const sw = await startSwitch(['--listen', 'ptcp:0', '--bridge', br, '--local-port', 'internal', '--port', `p1@1,tx_pcap=${dir}/p1.pcap`]);
  try {
    t.is(sh('ip', ['link', 'show', br]).status, 0, 'the TAP exists');
    const ofctl = sh('ovs-ofctl', ['-O', 'OpenFlow13', 'add-flow', `tcp:127.0.0.1:${sw.port}`, 'in_port=LOCAL,actions=output:1']);
    t.is(ofctl.status, 0, ofctl.err);
    ip('addr', 'add', '10.211.77.1/24', 'dev', br);
    ip('link', 'set', br, 'up');
    // The kernel ARPs for a neighbour on the TAP: the request enters at LOCAL and leaves by p1.
    sh('ping', ['-c', '1', '-W', '1', '10.211.77.2']);
    const frames = await waitFor('the ARP on p1', () => { const f = framesIn(join(dir, 'p1.pcap')); return f.some((x) => x[12] === 0x08 && x[13] === 0x06) ? f : undefined; });
    t.true(frames.length > 0);
  } finally {
    sw.proc.kill('SIGTERM');
    await sw.exited;
    sh('ip', ['link', 'del', br]);
  }
  t.not(sh('ip', ['link', 'show', br]).status, 0, 'the TAP went with the switch');
  return undefined;
});

test.serial('fail mode with real hosts and no controller: standalone forwards as a learning switch, secure drops', async (t) => {
  if (process.getuid?.() !== 0) return t.fail('this test needs root (network namespaces, veth, AF_PACKET)');
  tearDown();
  setUp();
  try {
    const ports = hosts.slice(0, 2).flatMap((h, i) => ['--port', `${h.veth}@${i + 1},type=system`]);
    // A controller that never answers: the switch has no controller connection.
    const secure = await startSwitch(['--listen', 'ptcp:0', '--controller', 'tcp:127.0.0.1:1', '--probe-interval', '0.1', ...ports]);
    try {
      await new Promise((r) => setTimeout(r, 500));
      t.not(inNs(hosts[0]!.ns, 'ping', '-c', '1', '-W', '1', hosts[1]!.ip).status, 0, 'secure: nothing is forwarded without a controller');
    } finally {
      secure.proc.kill('SIGTERM');
      await secure.exited;
    }
    const standalone = await startSwitch(['--listen', 'ptcp:0', '--controller', 'tcp:127.0.0.1:1', '--probe-interval', '0.1', '--fail-mode', 'standalone', ...ports]);
    try {
      await waitFor('fail-open', () => (/failed open/.test(standalone.stderr()) ? true : undefined));
      const r = inNs(hosts[0]!.ns, 'ping', '-c', '3', '-W', '1', hosts[1]!.ip);
      t.is(r.status, 0, r.out);
      const fdb = ctl(standalone, 'fdb/show', 'br0').out;
      t.regex(fdb, /\s1\s+0\s+[0-9a-f:]{17}/, 'h1 learned on port 1');
      t.regex(fdb, /\s2\s+0\s+[0-9a-f:]{17}/, 'h2 learned on port 2');
    } finally {
      standalone.proc.kill('SIGTERM');
      await standalone.exited;
    }
  } finally {
    tearDown();
  }
  return undefined;
});
