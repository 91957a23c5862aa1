/**
 * `ofswitch start --config FILE`: the YAML form, its errors (file and key path named), and the
 * real binary started from a file with two bridges joined by patch ports, each with its own
 * listener, forwarding a frame from a port of one to a port of the other.
 */

import test from 'ava';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseConfig } from '../src/cli/config.js';
import { parseStartArgs } from '../src/cli/main.js';
import { formatTarget } from '../src/ofproto/target.js';
import { buildPacket } from '../src/packet/build.js';
import { requireTool, toolPath } from './peers/peers.js';
import { OFSWITCH_BIN, framesIn, ofctlAt, startSwitch, waitFor } from './switch-process.js';

const YAML = `
bridges:
  br0:
    datapath-id: 0xa
    fail-mode: standalone
    listen: [ptcp:0]
    ports:
      p1: {ofport: 1}
      pa: {ofport: 9, type: patch, peer: pb}
  br1:
    listen: ptcp:0
    controllers: [tcp:127.0.0.1:1]
    ports:
      q1: {ofport: 1, type: dummy, tx_pcap: TXFILE}
      pb: {ofport: 9, type: patch, peer: pa}
log-level: warn
probe-interval: 2.5
`;

test('a configuration file: bridges, ports with their options, targets, logging', (t) => {
  const c = parseConfig(YAML.replace('TXFILE', '/tmp/q1.pcap'), 'sw.yaml');
  if (typeof c === 'string') return t.fail(c);
  t.deepEqual(c.bridges.map((b) => [b.name, b.dpid, b.failMode]), [['br0', 0xan, 'standalone'], ['br1', c.bridges[1]!.dpid, 'secure']]);
  t.deepEqual(c.bridges[0]!.ports, [{ name: 'p1', ofport: 1, type: 'dummy' }, { name: 'pa', ofport: 9, type: 'patch', options: { peer: 'pb' } }]);
  t.deepEqual(c.bridges[1]!.ports[0], { name: 'q1', ofport: 1, type: 'dummy', options: { tx_pcap: '/tmp/q1.pcap' } });
  t.deepEqual(c.bridges[1]!.listens.map(formatTarget), ['ptcp:0:127.0.0.1']);
  t.deepEqual(c.bridges[1]!.controllers.map(formatTarget), ['tcp:127.0.0.1:1']);
  t.is(c.logLevel, 'warn');
  t.is(c.probeInterval, 2500);
  return undefined;
});

test('configuration mistakes name the file and the key', (t) => {
  const cases: Array<[string, RegExp]> = [
    ['bridges: [', /^f\.yaml: not valid YAML/],
    ['bridgez: {}', /^f\.yaml: the file\.bridgez: unknown key/],
    ['bridges: {}', /^f\.yaml: bridges: name at least one bridge/],
    ['bridges: {br0: {ports: {p1: {type: frob}}}}', /^f\.yaml: bridges\.br0\.ports\.p1: port type "frob" is not available/],
    ['bridges: {br0: {ports: {p1: {ofport: 0}}}}', /^f\.yaml: bridges\.br0\.ports\.p1: OFPORT must be a number/],
    ['bridges: {br0: {ports: {pa: {type: patch, peer: zz}}}}', /^f\.yaml: bridges\.br0\.ports\.pa: its peer zz must be a patch port/],
    ['bridges: {br0: {listen: [tcp:1.2.3.4]}}', /^f\.yaml: bridges\.br0\.listen\[0\]: a listener needs a passive target/],
    ['bridges: {br0: {controllers: ssl:1.2.3.4}}', /^f\.yaml: tls: ssl: and pssl: targets need tls/],
    ['bridges: {br0: {fail-mode: open}}', /^f\.yaml: bridges\.br0\.fail-mode: secure or standalone/],
    ['bridges: {br0: {datapath-id: xyz}}', /^f\.yaml: bridges\.br0\.datapath-id: give 1 to 16 hex digits/],
    ['bridges: {br0: {ports: {br0: {}}}}', /LOCAL port/],
    ['bridges: {br0: {ports: {p1: {}}}, br1: {ports: {p1: {}}}}', /bridges\.br1\.ports\.p1: the name is used by a port of br0 too/],
    ['bridges: {br0: {}}\nlog-level: loud', /^f\.yaml: log-level: one of/],
    ['bridges: {br0: {}}\nprobe-interval: -1', /^f\.yaml: probe-interval/],
  ];
  for (const [text, re] of cases) {
    const r = parseConfig(text, 'f.yaml');
    t.is(typeof r, 'string', text);
    t.regex(r as string, re, text);
  }
  t.regex(parseStartArgs(['--config', '/nonexistent/x.yaml']) as string, /^start: \/nonexistent\/x\.yaml: cannot read/);
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-cfg-'));
  writeFileSync(join(dir, 'a.yaml'), 'bridges: {br0: {}}');
  t.regex(parseStartArgs(['--config', join(dir, 'a.yaml'), '--port', 'p1']) as string, /--config describes the bridges; --port cannot be given with it/);
});

test('ofswitch start --config: two bridges joined by patch ports forward a frame end to end', async (t) => {
  requireTool('ovs-ofctl');
  const ovsOfctl = toolPath('ovs-ofctl');
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-cfg-'));
  const file = join(dir, 'sw.yaml');
  writeFileSync(file, YAML.replace('TXFILE', join(dir, 'q1.pcap')).replace('fail-mode: standalone', 'fail-mode: secure').replace('log-level: warn', 'log-level: info'));
  const sw = await startSwitch(['--config', file]);
  try {
    // startSwitch waited for the first "listening" line; the second bridge's follows.
    const show = spawnSync(process.execPath, [OFSWITCH_BIN, 'ctl', '--socket', sw.socket, 'show'], { encoding: 'utf8' }).stdout;
    t.regex(show, /Bridge br0\n {4}datapath_id: 000000000000000a/);
    t.regex(show, /Bridge br1/);
    t.regex(show, /Controller "tcp:127\.0\.0\.1:1"/);
    const ports = [...show.matchAll(/Listener "ptcp:(\d+):127\.0\.0\.1"/g)].map((m) => Number(m[1]));
    t.is(ports.length, 2);
    t.is(ofctlAt(ovsOfctl, ports[0]!, ['add-flow', 'in_port=1,actions=output:9']).status, 0);
    t.is(ofctlAt(ovsOfctl, ports[1]!, ['add-flow', 'in_port=9,actions=output:1']).status, 0);
    const f = buildPacket({ ipv4: {}, udp: {}, minLength: 60 });
    const r = spawnSync(process.execPath, [OFSWITCH_BIN, 'ctl', '--socket', sw.socket, 'netdev-dummy/receive', 'p1', Buffer.from(f).toString('hex')], { encoding: 'utf8' });
    t.is(r.status, 0, r.stderr);
    const out = await waitFor('the frame on br1\'s q1', () => { const fr = framesIn(join(dir, 'q1.pcap')); return fr.length > 0 ? fr : undefined; });
    t.is(Buffer.from(out[0]!).toString('hex'), Buffer.from(f).toString('hex'));
  } finally {
    sw.proc.kill('SIGTERM');
    await sw.exited;
  }
});
