/**
 * The ovs-vsctl-like commands of `ofswitch ctl` on a switch built in-process (the same handler
 * the control socket serves): bridges and ports come and go at run time, controllers hear
 * PORT_STATUS, patch ports join two bridges, and bad requests name the problem.
 */

import test from 'ava';
import { OFPPR, OFPT, type Message, type PortStatus } from '../src/openflow/index.js';
import { buildSwitch } from '../src/cli/switch.js';
import { switchCommands } from '../src/cli/commands.js';
import { CtlError } from '../src/cli/ctl.js';
import { parseStartArgs } from '../src/cli/main.js';
import { parsePortSpec } from '../src/cli/port-spec.js';
import { formatTarget } from '../src/ofproto/target.js';
import type { DummyNetdev } from '../src/netdev/dummy.js';
import { buildPacket } from '../src/packet/build.js';
import { applyActions, flowMod, inPort, output, party } from './ofproto-helpers.js';

const settle = async (): Promise<void> => {
  for (let i = 0; i < 8; i++) await new Promise((r) => setImmediate(r));
};

test('add-br, add-port, list-ports, show, del-port, del-br; PORT_STATUS for each port change', async (t) => {
  const sw = await buildSwitch({ ports: [{ name: 'p1', ofport: 1, type: 'dummy' }], probeInterval: 0, backer: { revalidateMs: 0 } });
  const ctl = switchCommands(sw);
  const run = async (...args: string[]): Promise<string> => ctl(args);
  try {
    t.is(await run('list-br'), 'br0');
    t.is(await run('add-br', 'br1', '0xbeef'), '');
    t.is(await run('list-br'), 'br0\nbr1');
    const p = party();
    sw.bridgeNamed('br1')!.ofproto.attach(p);
    t.is(await run('add-port', 'br1', 'q1@5'), '');
    t.is(await run('add-port', 'br1', 'q2'), '');
    t.is(await run('list-ports', 'br1'), 'q1\nq2');
    const status = (): Array<[number, string]> => p.sent.filter((m): m is PortStatus => m.type === OFPT.PORT_STATUS).map((m) => [m.reason, m.desc.name]);
    t.deepEqual(status(), [[OFPPR.ADD, 'q1'], [OFPPR.ADD, 'q2']]);
    const show = await run('show');
    t.regex(show, /Bridge br1\n {4}datapath_id: 000000000000beef/);
    t.regex(show, /Port q1\n {8}ofport: 5, type: dummy/);
    t.regex(show, /Port br1\n {8}ofport: LOCAL, type: internal/);
    t.is(await run('del-port', 'br1', 'q2'), '');
    t.is(await run('del-port', 'q1'), '');
    t.deepEqual(status().slice(2), [[OFPPR.DELETE, 'q2'], [OFPPR.DELETE, 'q1']]);
    t.is(await run('list-ports', 'br1'), '');
    t.is(await run('del-br', 'br1'), '');
    t.is(await run('list-br'), 'br0');
    t.deepEqual(sw.dpif.portDump().map((x) => x.name).sort(), ['br0', 'p1'], 'the bridge\'s datapath ports went with it');
  } finally {
    await sw.close();
  }
});

test('patch ports join two bridges at run time: a frame crosses from br0 to br1', async (t) => {
  const sw = await buildSwitch({ ports: [{ name: 'p1', ofport: 1, type: 'dummy' }], probeInterval: 0, backer: { revalidateMs: 0 } });
  const ctl = switchCommands(sw);
  try {
    await ctl(['add-br', 'br1']);
    await ctl(['add-port', 'br1', 'q1@1']);
    await ctl(['add-port', 'br0', 'pa@9,type=patch,peer=pb']);
    t.regex(await ctl(['show']), /Port pa\n {8}ofport: 9, type: patch \(link down\)/, 'a patch port without its peer is down');
    await ctl(['add-port', 'br1', 'pb@9,type=patch,peer=pa']);
    t.notRegex(await ctl(['show']), /link down/);
    const p0 = party();
    const p1 = party();
    sw.bridgeNamed('br0')!.ofproto.receive(flowMod({ match: [inPort(1)], instructions: [applyActions(output(9))] }), p0);
    sw.bridgeNamed('br1')!.ofproto.receive(flowMod({ match: [inPort(9)], instructions: [applyActions(output(1))] }), p1);
    const f = buildPacket({ ipv4: {}, udp: {}, minLength: 60 });
    (sw.netdev('p1') as DummyNetdev).receive(f);
    await settle();
    t.deepEqual((sw.netdev('q1') as DummyNetdev).sent.map((x) => Buffer.from(x).toString('hex')), [Buffer.from(f).toString('hex')]);
    t.deepEqual([...p0.errors, ...p1.errors], []);
  } finally {
    await sw.close();
  }
});

test('bad requests name the problem and change nothing', async (t) => {
  const sw = await buildSwitch({ ports: [{ name: 'p1', ofport: 1, type: 'dummy' }], probeInterval: 0, backer: { revalidateMs: 0 } });
  const ctl = switchCommands(sw);
  const fails = async (args: string[], re: RegExp): Promise<void> => {
    const e = await t.throwsAsync(async () => ctl(args), { instanceOf: CtlError });
    t.regex(e!.message, re, args.join(' '));
  };
  try {
    await fails(['add-port', 'nobr', 'x'], /no bridge named nobr/);
    await fails(['add-port', 'br0', 'p1'], /a port named p1 exists already/);
    await fails(['add-port', 'br0', 'x,type=tap0'], /port type "tap0" is not available/);
    await fails(['add-port', 'br0'], /usage: add-port/);
    await fails(['del-port', 'br0'], /is the bridge's LOCAL port/);
    await fails(['del-port', 'nope'], /no port named nope/);
    await fails(['add-br', 'br0'], /exists already/);
    await fails(['add-br', 'p1'], /a port named p1 exists already/);
    await fails(['add-br', 'bad name!'], /bridge name/);
    await fails(['del-br', 'nobr'], /no bridge named nobr/);
    await fails(['set-controller', 'br0'], /usage: set-controller/);
    await fails(['set-controller', 'br0', 'bogus:1'], /controller bogus:1/);
    t.is(await ctl(['list-ports', 'br0']), 'p1');
    t.is(await ctl(['list-br']), 'br0');
  } finally {
    await sw.close();
  }
});

test('set-controller and del-controller change the targets show lists', async (t) => {
  const sw = await buildSwitch({ probeInterval: 0, backer: { revalidateMs: 0 } });
  const ctl = switchCommands(sw);
  try {
    await ctl(['set-controller', 'br0', 'tcp:127.0.0.1:1', 'tcp:127.0.0.1:2']);
    const show = await ctl(['show']);
    t.regex(show, /Controller "tcp:127\.0\.0\.1:1"/);
    t.regex(show, /Controller "tcp:127\.0\.0\.1:2"/);
    await ctl(['set-controller', 'br0', 'tcp:127.0.0.1:2']);
    t.notRegex(await ctl(['show']), /127\.0\.0\.1:1"/);
    await ctl(['del-controller', 'br0']);
    t.notRegex(await ctl(['show']), /Controller/);
  } finally {
    await sw.close();
  }
});

test('start options: with no target the switch listens on ptcp:6634 and connects to tcp:127.0.0.1:6653; port syntax', (t) => {
  const o = parseStartArgs(['--port', 'p1@3,tx_pcap=/tmp/x.pcap', '--port', 'pa,type=patch,peer=pb', '--port', 'pb,type=patch,peer=pa']);
  if (typeof o === 'string') return t.fail(o);
  t.deepEqual(o.listens.map(formatTarget), ['ptcp:6634:127.0.0.1']);
  t.deepEqual(o.controllers.map(formatTarget), ['tcp:127.0.0.1:6653']);
  t.deepEqual(o.ports, [
    { name: 'p1', ofport: 3, type: 'dummy', options: { tx_pcap: '/tmp/x.pcap' } },
    { name: 'pa', type: 'patch', options: { peer: 'pb' } },
    { name: 'pb', type: 'patch', options: { peer: 'pa' } },
  ]);
  const only = parseStartArgs(['--listen', 'ptcp:0']);
  if (typeof only === 'string') return t.fail(only);
  t.deepEqual(only.controllers, [], 'a listener given: no default controller');
  t.regex(parseStartArgs(['--port', 'pa,type=patch,peer=pz']) as string, /its peer pz must be a patch port/);
  t.regex(parseStartArgs(['--port', 'p1,rx_pcap']) as string, /needs a value/);
  t.regex(parseStartArgs(['--port', 'p1,peer=x']) as string, /unknown option "peer" for a dummy port/);
  t.regex(parsePortSpec('pa,type=patch') as string, /needs peer=NAME/);
  return undefined;
});

test('a port deleted and added back: cached flows that output to it work again at once', async (t) => {
  const sw = await buildSwitch({ ports: [{ name: 'p1', ofport: 1, type: 'dummy' }, { name: 'p2', ofport: 2, type: 'dummy' }], probeInterval: 0, backer: { revalidateMs: 0 } });
  const ctl = switchCommands(sw);
  try {
    const p = party();
    sw.ofproto.attach(p);
    sw.ofproto.receive(flowMod({ match: [inPort(1)], instructions: [applyActions(output(2))] }), p);
    const f = buildPacket({ ipv4: {}, udp: {}, minLength: 60 });
    (sw.netdev('p1') as DummyNetdev).receive(f);
    await settle();
    t.is((sw.netdev('p2') as DummyNetdev).sent.length, 1);
    await ctl(['del-port', 'p2']);
    (sw.netdev('p1') as DummyNetdev).receive(f);
    await settle();
    await ctl(['add-port', 'br0', 'p2@2']);
    (sw.netdev('p1') as DummyNetdev).receive(f);
    await settle();
    t.is((sw.netdev('p2') as DummyNetdev).sent.length, 1, 'the new p2 got the frame sent after it came back');
  } finally {
    await sw.close();
  }
});

test('set-fail-mode switches between secure and standalone at run time', async (t) => {
  const clock = { t: 1_000_000 };
  const sw = await buildSwitch({ now: () => clock.t, probeInterval: 100, backer: { revalidateMs: 0 } });
  const ctl = switchCommands(sw);
  try {
    t.is(sw.ofproto.failMode.mode, 'secure');
    clock.t += 1000;
    t.false(sw.ofproto.failMode.check(), 'secure never fails open');
    await ctl(['set-fail-mode', 'br0', 'standalone']);
    t.true(sw.ofproto.failOpen, 'standalone, and no controller for longer than three probe intervals: open at once');
    t.regex(await ctl(['show']), /fail_mode: standalone \(failed open\)/);
    await ctl(['set-fail-mode', 'br0', 'secure']);
    t.false(sw.ofproto.failOpen);
    await t.throwsAsync(async () => ctl(['set-fail-mode', 'br0', 'open']), { message: /usage: set-fail-mode/ });
  } finally {
    await sw.close();
  }
});
