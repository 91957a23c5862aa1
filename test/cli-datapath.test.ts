/**
 * The real binary forwarding on dummy ports, driven the way people drive it: ovs-ofctl installs
 * flows and sends packet-outs, `ofswitch ctl` injects frames and shows the datapath, tshark reads
 * the tx_pcap files, and ovs-testcontroller (a real controller, OpenFlow 1.3) runs a learning
 * switch over it.
 */

import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildPacket } from '../src/packet/build.js';
import { requireTool, toolPath } from './peers/peers.js';
import { OFSWITCH_BIN, framesIn, ofctlAt, startSwitch, waitFor, type SwitchProcess } from './switch-process.js';
import { writePcap } from './pcap.js';

requireTool('ovs-ofctl');
const ovsOfctl = toolPath('ovs-ofctl');

function ctl(sw: SwitchProcess, ...args: string[]): { status: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [OFSWITCH_BIN, 'ctl', '--socket', sw.socket, ...args], { encoding: 'utf8', timeout: 10_000 });
  return { status: r.status, out: r.stdout, err: r.stderr };
}



const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('ovs-ofctl flows + ctl netdev-dummy/receive: frames come out in tx_pcap (tshark reads them), counters and dumps agree', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-dp-'));
  const rx = buildPacket({ eth: { src: '00:00:00:00:00:33', dst: '00:00:00:00:00:44' }, ipv4: { src: '10.1.1.3', dst: '10.1.1.4' }, udp: { src: 3333, dst: 4444 }, minLength: 60 });
  writePcap(join(dir, 'in3.pcap'), [rx, rx]);
  const sw = await startSwitch([
    '--listen', 'ptcp:0', '--port', `p1@1,tx_pcap=${dir}/p1.pcap`, '--port', `p2@2,tx_pcap=${dir}/p2.pcap`,
    '--port', `p3@3,rx_pcap=${dir}/in3.pcap,tx_pcap=${dir}/p3.pcap`,
  ]);
  try {
    const add = (flow: string): void => {
      const r = ofctlAt(ovsOfctl, sw.port, ['add-flow', flow]);
      t.is(r.status, 0, r.err);
    };
    add('in_port=1,udp,actions=set_field:10.9.9.9->ip_dst,output:2');
    add('in_port=3,actions=output:1');
    const f = buildPacket({ ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { src: 1000, dst: 53 }, minLength: 60 });
    for (let i = 0; i < 3; i++) {
      const r = ctl(sw, 'netdev-dummy/receive', 'p1', hex(f));
      t.is(r.status, 0, r.err);
    }
    const out = await waitFor('3 frames on p2', () => { const fr = framesIn(join(dir, 'p2.pcap')); return fr.length >= 3 ? fr : undefined; });
    t.is(out.length, 3);
    const dissected = spawnSync(toolPath('tshark'), ['-r', join(dir, 'p2.pcap'), '-V', '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE'], { encoding: 'utf8', timeout: 60_000 }).stdout;
    t.regex(dissected, /10\.9\.9\.9/);
    t.regex(dissected, /Destination Port: 53/);
    t.notRegex(dissected, /incorrect|Bad checksum/i, 'checksums stay right after the rewrite');
    // The rx_pcap frames of p3 arrived at start (before the flow existed: dropped) — inject again.
    t.is(ctl(sw, 'netdev-dummy/receive', 'p3', hex(rx)).status, 0);
    await waitFor('p3 frame on p1', () => (framesIn(join(dir, 'p1.pcap')).length >= 1 ? true : undefined));
    t.is(hex(framesIn(join(dir, 'p1.pcap'))[0]!), hex(rx));

    const dump = ofctlAt(ovsOfctl, sw.port, ['dump-flows']);
    t.regex(dump.out, /n_packets=3, n_bytes=180, .*in_port=1.*actions=set_field:10\.9\.9\.9->ip_dst,output:2/);
    const dp = ctl(sw, 'dpctl/dump-flows');
    t.is(dp.status, 0, dp.err);
    t.regex(dp.out, /in_port=1,.*packets:\d, bytes:\d+, used:[\d.]+s, actions:set\(ipv4_dst=10\.9\.9\.9\),2/);
    const show = ctl(sw, 'dpctl/show');
    t.regex(show.out, /lookups: hit:\d+ missed:\d+ lost:0/);
    t.regex(show.out, /port \d+: p1 \(dummy\)/);
    const tr = ctl(sw, 'ofproto/trace', 'br0', 'in_port=1,udp,nw_src=10.0.0.1,nw_dst=10.0.0.2,tp_dst=53');
    t.is(tr.status, 0, tr.err);
    t.regex(tr.out, /Datapath actions: set\(ipv4_dst=10\.9\.9\.9\),2/);
    const trp = ctl(sw, 'ofproto/trace', 'br0', 'in_port=3', '--packet', hex(rx));
    t.regex(trp.out, /Datapath actions: 1/);
    t.is(ctl(sw, 'dpif/flush').status, 0);
    t.is(ctl(sw, 'dpctl/dump-flows').out.trim(), '');
    // Errors name the problem and leave the switch running.
    const bad = ctl(sw, 'netdev-dummy/receive', 'p9', 'ffff');
    t.is(bad.status, 1);
    t.regex(bad.err, /no port named "p9"/);
    t.regex(ctl(sw, 'frobnicate').err, /unknown command "frobnicate"/);
    t.regex(ctl(sw, 'ofproto/trace', 'br0', 'in_port=1,nosuchfield=3').err, /nosuchfield/);
    t.is(ctl(sw, 'dpctl/show').status, 0);
  } finally {
    sw.proc.kill('SIGTERM');
    await sw.exited;
  }
  t.false(existsSync(sw.socket), 'the control socket is removed on exit');
});

test('PACKET_OUT from ovs-ofctl comes out of the port it names', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-po-'));
  const sw = await startSwitch(['--listen', 'ptcp:0', '--port', `p1@1,tx_pcap=${dir}/p1.pcap`, '--port', `p2@2,tx_pcap=${dir}/p2.pcap`]);
  try {
    const f = buildPacket({ ipv4: {}, tcp: {}, minLength: 60 });
    const r = ofctlAt(ovsOfctl, sw.port, ['packet-out', `in_port=controller packet=${hex(f)} actions=output:2`]);
    t.is(r.status, 0, r.err);
    const out = await waitFor('the frame on p2', () => { const fr = framesIn(join(dir, 'p2.pcap')); return fr.length > 0 ? fr : undefined; });
    t.deepEqual(out.map(hex), [hex(f)]);
    t.deepEqual(framesIn(join(dir, 'p1.pcap')), []);
  } finally {
    sw.proc.kill('SIGTERM');
    await sw.exited;
  }
});

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

test('ovs-testcontroller (OpenFlow 1.3 learning switch) drives the switch: hosts reach each other', async (t) => {
  const testController = toolPath('ovs-testcontroller');
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-tc-'));
  const port = await freePort();
  const ctrl = spawn(testController, ['-O', 'OpenFlow13', `--unixctl=${dir}/tc.ctl`, `ptcp:${port}:127.0.0.1`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let ctrlErr = '';
  ctrl.stderr!.on('data', (d: Buffer) => { ctrlErr += d.toString(); });
  const ctrlExited = new Promise((resolve) => ctrl.once('exit', resolve));
  let sw: SwitchProcess | undefined;
  try {
    // ovs-testcontroller is listening once a TCP connect succeeds.
    await waitFor('ovs-testcontroller listening', () => {
      const r = spawnSync('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], { timeout: 2000 });
      return r.status === 0 ? true : undefined;
    });
    sw = await startSwitch([
      '--listen', 'ptcp:0', '--controller', `tcp:127.0.0.1:${port}`,
      '--port', `p1@1,tx_pcap=${dir}/p1.pcap`, '--port', `p2@2,tx_pcap=${dir}/p2.pcap`, '--port', `p3@3,tx_pcap=${dir}/p3.pcap`,
    ]);
    const s = sw;
    await waitFor('the controller connection', () => (/controller connected/.test(s.stderr()) ? true : undefined));
    const a2b = buildPacket({ eth: { src: '00:00:00:00:00:0a', dst: '00:00:00:00:00:0b' }, ipv4: { src: '10.0.0.10', dst: '10.0.0.11' }, udp: {}, minLength: 60 });
    const b2a = buildPacket({ eth: { src: '00:00:00:00:00:0b', dst: '00:00:00:00:00:0a' }, ipv4: { src: '10.0.0.11', dst: '10.0.0.10' }, udp: {}, minLength: 60 });
    // The controller may need a moment after the handshake to set the switch up: retry the first frame.
    await waitFor('a->b flooded to p2', () => {
      ctl(s, 'netdev-dummy/receive', 'p1', hex(a2b));
      return framesIn(join(dir, 'p2.pcap')).some((f) => hex(f) === hex(a2b)) ? true : undefined;
    }, 15_000);
    t.true(framesIn(join(dir, 'p3.pcap')).some((f) => hex(f) === hex(a2b)), 'unknown destination: flooded to p3 as well');
    t.is(ctl(s, 'netdev-dummy/receive', 'p2', hex(b2a)).status, 0);
    await waitFor('b->a on p1', () => (framesIn(join(dir, 'p1.pcap')).some((f) => hex(f) === hex(b2a)) ? true : undefined));
    t.false(framesIn(join(dir, 'p3.pcap')).some((f) => hex(f) === hex(b2a)), 'a was learned: b->a goes to p1 only');
    const p3Before = framesIn(join(dir, 'p3.pcap')).length;
    const p2Before = framesIn(join(dir, 'p2.pcap')).filter((f) => hex(f) === hex(a2b)).length;
    t.is(ctl(s, 'netdev-dummy/receive', 'p1', hex(a2b)).status, 0);
    await waitFor('a->b on p2 again', () => (framesIn(join(dir, 'p2.pcap')).filter((f) => hex(f) === hex(a2b)).length > p2Before ? true : undefined));
    t.is(framesIn(join(dir, 'p3.pcap')).length, p3Before, 'b was learned: a->b no longer floods');
    const flows = ofctlAt(ovsOfctl, s.port, ['dump-flows']).out;
    t.regex(flows, /dl_src=00:00:00:00:00:0b,dl_dst=00:00:00:00:00:0a|dl_dst=00:00:00:00:00:0a/, 'the controller installed flows');
  } finally {
    if (sw !== undefined) {
      sw.proc.kill('SIGTERM');
      await sw.exited;
    }
    ctrl.kill('SIGTERM');
    await ctrlExited;
  }
  t.log(ctrlErr.slice(0, 2000));
});

test('ofswitch ctl without a running switch: a clear message, exit 1', (t) => {
  const sock = join(mkdtempSync(join(tmpdir(), 'ofswitch-nosw-')), 'none.ctl');
  const r = spawnSync(process.execPath, [OFSWITCH_BIN, 'ctl', '--socket', sock, 'dpctl/show'], { encoding: 'utf8', timeout: 10_000 });
  t.is(r.status, 1);
  t.regex(r.stderr, /cannot reach the control socket .*no switch is running there/);
  const u = spawnSync(process.execPath, [OFSWITCH_BIN, 'ctl'], { encoding: 'utf8', timeout: 10_000 });
  t.is(u.status, 2);
});
