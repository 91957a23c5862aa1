/**
 * `ofswitch start` as a process, driven by a real peer: ovs-ofctl -O OpenFlow13 runs every switch
 * command it has against the switch's passive listener, and a raw OpenFlow client of ours (the
 * OfConnection class, speaking as a controller) checks the asynchronous FLOW_REMOVED. The switch
 * listens on 127.0.0.1 only.
 */

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { firstValueFrom, filter } from 'rxjs';
import { OFPT, OFPRR, type Message, type FlowRemoved } from '../src/openflow/index.js';
import { OfConnection } from '../src/ofproto/connection.js';
import { findTool, requireTool } from './peers/peers.js';
import { startSwitch, ofctlAt, type SwitchProcess, type OfctlResult } from './switch-process.js';

const bin = fileURLToPath(new URL('../../bin/ofswitch.js', import.meta.url));



let sw: SwitchProcess;
let ovsOfctl: string;

/** ovs-ofctl against the switch under test. */
function ofctl(args: readonly string[], input?: string): OfctlResult {
  return ofctlAt(ovsOfctl, sw.port, args, input, 15_000);
}

/** Runs ovs-ofctl and fails the test unless it succeeds; returns its stdout. */
function ok(t: { fail(m: string): void }, args: readonly string[], input?: string): string {
  const r = ofctl(args, input);
  if (r.status !== 0) t.fail(`ovs-ofctl ${args.join(' ')} exited ${r.status}: ${r.err}${r.out}`);
  return r.out;
}

/**
 * The flow lines of dump-flows, with the varying field (duration) removed, sorted (ovs-ofctl
 * prints them in the switch's order, which OpenFlow leaves open).
 */
function flows(t: { fail(m: string): void }, ...args: string[]): string[] {
  return ok(t, ['dump-flows', ...args]).split('\n').filter((l) => l.startsWith(' '))
    .map((l) => l.trim().replace(/duration=[0-9.]+s, /, '')).sort();
}

test.before(async () => {
  requireTool('ovs-ofctl');
  ovsOfctl = findTool('ovs-ofctl')!;
  sw = await startSwitch(['--listen', 'ptcp:0', '--port', 'p1@1', '--port', 'p2@2', '--log-level', 'warn']);
});

test.after.always(async () => {
  if (sw !== undefined && sw.proc.exitCode === null) {
    sw.proc.kill('SIGKILL');
    await sw.exited;
  }
});

test.serial('show, dump-ports-desc, dump-tables, dump-table-features', (t) => {
  const show = ok(t, ['show']);
  t.regex(show, /n_tables:255, n_buffers:0/);
  t.regex(show, /capabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS/);
  t.regex(show, / 1\(p1\): addr:02:/);
  t.regex(show, / 2\(p2\): addr:02:/);
  t.regex(show, / LOCAL\(br0\): addr:02:/);
  const desc = ok(t, ['dump-ports-desc']);
  t.regex(desc, /1\(p1\)/);
  t.regex(desc, /state:\s+LIVE/);
  const tables = ok(t, ['dump-tables']);
  t.regex(tables, /table 0:\n\s+active=0, lookup=0, matched=0/);
  t.regex(tables, /tables 1\.\.\.254: ditto/);
  // 255 entries of about 600 bytes: the reply comes in several parts, and ovs-ofctl joins them.
  const tf = ok(t, ['dump-table-features']);
  t.regex(tf, /table 0 \("table0"\):/);
  t.regex(tf, /next tables: 1-254/);
  t.regex(tf, /table 254 \("table254"\)/);
});

test.serial('add-flow, add-flows from stdin, dump-flows gives them back as added', (t) => {
  ok(t, ['del-flows']);
  ok(t, ['add-flow', 'priority=100,ip,nw_dst=10.0.0.1,actions=output:2']);
  ok(t, ['add-flow', 'table=1,cookie=0x5,idle_timeout=30,hard_timeout=60,priority=5,tcp,tp_dst=80,actions=set_field:10.0.0.2->ip_dst,output:1']);
  ok(t, ['add-flow', 'priority=7,in_port=1,dl_vlan=10,actions=pop_vlan,goto_table:2']);
  ok(t, ['add-flows', '-'], [
    'cookie=0x10,priority=20,arp,actions=output:1',
    'cookie=0x10,priority=21,udp,tp_src=53,actions=output:2',
    'table=2,priority=1,actions=drop',
  ].join('\n') + '\n');
  t.deepEqual(flows(t), [
    'cookie=0x0, table=0, n_packets=0, n_bytes=0, priority=100,ip,nw_dst=10.0.0.1 actions=output:2',
    'cookie=0x10, table=0, n_packets=0, n_bytes=0, priority=21,udp,tp_src=53 actions=output:2',
    'cookie=0x10, table=0, n_packets=0, n_bytes=0, priority=20,arp actions=output:1',
    'cookie=0x0, table=0, n_packets=0, n_bytes=0, priority=7,in_port=1,dl_vlan=10 actions=pop_vlan,goto_table:2',
    'cookie=0x5, table=1, n_packets=0, n_bytes=0, idle_timeout=30, hard_timeout=60, priority=5,tcp,tp_dst=80 actions=set_field:10.0.0.2->ip_dst,output:1',
    'cookie=0x0, table=2, n_packets=0, n_bytes=0, priority=1 actions=drop',
  ].sort());
  t.regex(ok(t, ['dump-aggregate']), /packet_count=0 byte_count=0 flow_count=6/);
  t.regex(ok(t, ['dump-aggregate', 'table=0']), /flow_count=4/);
  t.deepEqual(flows(t, 'cookie=0x10/-1'), [
    'cookie=0x10, table=0, n_packets=0, n_bytes=0, priority=20,arp actions=output:1',
    'cookie=0x10, table=0, n_packets=0, n_bytes=0, priority=21,udp,tp_src=53 actions=output:2',
  ]);
});

test.serial('mod-flows, mod-flows --strict, del-flows with and without match, --strict', (t) => {
  ok(t, ['del-flows']);
  ok(t, ['add-flow', 'priority=10,ip,actions=output:1']);
  ok(t, ['add-flow', 'priority=20,ip,nw_src=10.0.0.0/8,actions=output:1']);
  ok(t, ['add-flow', 'priority=30,arp,actions=output:1']);
  // Non-strict: every ip flow (both priorities); the arp flow stays.
  ok(t, ['mod-flows', 'ip,actions=output:2']);
  t.deepEqual(flows(t).map((l) => l.replace(/cookie=0x0, table=0, n_packets=0, n_bytes=0, /, '')), [
    'priority=10,ip actions=output:2',
    'priority=20,ip,nw_src=10.0.0.0/8 actions=output:2',
    'priority=30,arp actions=output:1',
  ]);
  // Strict: only the exact match and priority.
  ok(t, ['mod-flows', '--strict', 'priority=10,ip,actions=output:LOCAL']);
  t.true(flows(t).includes('cookie=0x0, table=0, n_packets=0, n_bytes=0, priority=10,ip actions=LOCAL'));
  t.true(flows(t).includes('cookie=0x0, table=0, n_packets=0, n_bytes=0, priority=20,ip,nw_src=10.0.0.0/8 actions=output:2'));
  // --strict delete with the wrong priority removes nothing; with the right one, just that flow.
  ok(t, ['del-flows', '--strict', 'priority=11,ip']);
  t.is(flows(t).length, 3);
  ok(t, ['del-flows', '--strict', 'priority=10,ip']);
  t.is(flows(t).length, 2);
  // Non-strict delete with a match: ip flows at any priority (the nw_src one is more specific).
  ok(t, ['del-flows', 'ip']);
  t.deepEqual(flows(t), ['cookie=0x0, table=0, n_packets=0, n_bytes=0, priority=30,arp actions=output:1']);
  ok(t, ['del-flows']);
  t.deepEqual(flows(t), []);
});

test.serial('error paths: bad output port, goto an earlier table; the connection keeps serving', async (t) => {
  const bad = ofctl(['add-flow', 'actions=output:9']);
  t.not(bad.status, 0);
  t.regex(bad.err, /OFPBAC_BAD_OUT_PORT/);
  const back = ofctl(['add-flow', 'table=3,actions=goto_table:1']);
  t.not(back.status, 0);
  t.regex(back.err, /BAD_TABLE_ID/);
  // ovs-ofctl stops at the first error, so the stream is checked with our own client: a bad
  // flow-mod, then good ones and a request on the same connection, all answered.
  const sock = createConnection({ host: '127.0.0.1', port: sw.port });
  const seen: Message[] = [];
  const client = new OfConnection(sock, (m) => { seen.push(m); }, { probeInterval: 0 });
  try {
    await firstValueFrom(client.events$.pipe(filter((e) => e.type === 'negotiated')));
    const fm = (priority: number, port: number): Message => ({
      type: OFPT.FLOW_MOD, xid: 1000 + priority, cookie: 0n, cookieMask: 0n, tableId: 0, command: 0, idleTimeout: 0, hardTimeout: 0,
      priority, bufferId: 0xffffffff, outPort: 0xffffffff, outGroup: 0xffffffff, flags: 0, match: [],
      instructions: [{ type: 4, actions: [{ type: 0, port, maxLen: 0 }] }],
    });
    client.send(fm(3, 1));
    client.send(fm(4, 99));
    client.send(fm(5, 2));
    const features = await client.request({ type: OFPT.FEATURES_REQUEST });
    t.is(features.type, OFPT.FEATURES_REPLY);
    const errs = seen.filter((m) => m.type === OFPT.ERROR);
    t.is(errs.length, 1);
    t.is(errs[0]!.xid, 1004);
  } finally {
    client.close();
  }
  const after = flows(t).map((l) => /priority=(\d+)/.exec(l)![1]).sort();
  t.deepEqual(after, ['3', '5']);
  ok(t, ['del-flows']);
  await delay(0);
});

test.serial('dump-ports, mod-port down, queue-stats, get-frags/set-frags, packet-out', (t) => {
  const ports = ok(t, ['dump-ports']);
  t.regex(ports, /3 ports/);
  t.regex(ports, /port  1: rx pkts=0, bytes=0/);
  t.regex(ok(t, ['dump-ports', '2']), /port  2: rx pkts=0/);
  ok(t, ['mod-port', 'p1', 'down']);
  const desc = ok(t, ['dump-ports-desc']);
  t.regex(desc, /1\(p1\):[^\n]*\n\s+config:\s+PORT_DOWN\n\s+state:\s+LINK_DOWN/);
  ok(t, ['mod-port', 'p1', 'up']);
  t.regex(ok(t, ['dump-ports-desc']), /1\(p1\):[^\n]*\n\s+config:\s+0\n\s+state:\s+LIVE/);
  ok(t, ['mod-port', 'p2', 'no-flood']);
  t.regex(ok(t, ['queue-stats']), /0 queues/);
  t.is(ok(t, ['get-frags']).trim(), 'normal');
  ok(t, ['set-frags', 'drop']);
  t.is(ok(t, ['get-frags']).trim(), 'drop');
  ok(t, ['set-frags', 'normal']);
  ok(t, ['packet-out', 'in_port=controller packet=ffffffffffff00000000000108004500001400000000400000000000000000000000 actions=output:1']);
  const badPo = ofctl(['packet-out', 'in_port=controller packet=ffffffffffff0000000000010800 actions=output:77']);
  t.regex(badPo.err, /OFPBAC_BAD_OUT_PORT/);
});

test.serial('idle_timeout=1: the flow leaves dump-flows and a FLOW_REMOVED reaches a controller', async (t) => {
  const sock = createConnection({ host: '127.0.0.1', port: sw.port });
  const seen: Message[] = [];
  const client = new OfConnection(sock, (m) => { seen.push(m); }, { probeInterval: 0 });
  try {
    await firstValueFrom(client.events$.pipe(filter((e) => e.type === 'negotiated')));
    ok(t, ['del-flows']);
    // An EQUAL controller's default async config asks for idle-timeout FLOW_REMOVEDs.
    await client.request({ type: OFPT.BARRIER_REQUEST });
    const t0 = Date.now();
    ok(t, ['add-flow', 'cookie=0x77,idle_timeout=1,priority=9,send_flow_rem,ip,actions=output:1']);
    t.is(flows(t).length, 1);
    let fr: FlowRemoved | undefined;
    while (Date.now() - t0 < 5000 && fr === undefined) {
      await delay(50);
      fr = seen.find((m): m is FlowRemoved => m.type === OFPT.FLOW_REMOVED);
    }
    t.truthy(fr, 'FLOW_REMOVED arrives');
    t.is(fr!.reason, OFPRR.IDLE_TIMEOUT);
    t.is(fr!.cookie, 0x77n);
    t.is(fr!.priority, 9);
    t.is(fr!.idleTimeout, 1);
    t.is(fr!.durationSec, 1);
    const elapsed = Date.now() - t0;
    t.true(elapsed >= 900 && elapsed < 3000, `removed after ${elapsed} ms`);
    t.deepEqual(flows(t), []);
  } finally {
    client.close();
  }
});

test.serial('groups: add-group, mod-group, dump-groups, dump-group-stats, dump-group-features, del-groups', (t) => {
  ok(t, ['del-flows']);
  ok(t, ['add-group', 'group_id=1,type=all,bucket=output:1,bucket=output:2']);
  ok(t, ['add-group', 'group_id=2,type=select,bucket=weight:5,output:1,bucket=weight:3,output:2']);
  ok(t, ['mod-group', 'group_id=2,type=select,bucket=weight:7,output:1']);
  ok(t, ['add-flow', 'priority=5,actions=group:1']);
  const groups = ok(t, ['dump-groups']);
  t.regex(groups, /group_id=1,type=all,bucket=actions=output:1,bucket=actions=output:2/);
  t.regex(groups, /group_id=2,type=select,bucket=weight:7,actions=output:1\n/);
  const stats = ok(t, ['dump-group-stats']);
  t.regex(stats, /group_id=1,duration=[0-9.]+s,ref_count=1,packet_count=0,byte_count=0,bucket0:packet_count=0,byte_count=0,bucket1/);
  t.regex(ok(t, ['dump-group-features']), /select group:\n\s+max_groups=/);
  const dup = ofctl(['add-group', 'group_id=1,type=all,bucket=output:1']);
  t.regex(dup.err, /OFPGMFC_GROUP_EXISTS/);
  // Deleting a group deletes the flows that use it.
  ok(t, ['del-groups', 'group_id=1']);
  t.deepEqual(flows(t), []);
  ok(t, ['del-groups']);
  t.notRegex(ok(t, ['dump-groups']), /group_id/);
});

test.serial('meters: add-meter, mod-meter, dump-meters, meter-stats, meter-features, del-meters', (t) => {
  ok(t, ['add-meter', 'meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100']);
  ok(t, ['mod-meter', 'meter=1,kbps,bands=type=drop,rate=2000']);
  ok(t, ['add-meter', 'meter=2,pktps,bands=type=dscp_remark,rate=100,prec_level=1']);
  const m = ok(t, ['dump-meters']);
  t.regex(m, /meter=1 kbps bands=\ntype=drop rate=2000/);
  t.regex(m, /meter=2 pktps bands=\ntype=dscp_remark rate=100 prec_level=1/);
  ok(t, ['add-flow', 'priority=6,ip,actions=meter:2,output:1']);
  t.regex(ok(t, ['meter-stats']), /meter:2 flow_count:1 packet_in_count:0/);
  t.regex(ok(t, ['meter-features']), /band_types: drop dscp_remark/);
  const bad = ofctl(['add-flow', 'priority=7,ip,actions=meter:9,output:1']);
  t.regex(bad.err, /OFPMMFC_INVALID_METER/);
  // Deleting a meter deletes the flows that use it (as OVS does).
  ok(t, ['del-meters']);
  t.notRegex(ok(t, ['dump-meters']), /meter=/);
  t.deepEqual(flows(t), []);
});

test.serial('bad options: a message naming the problem, exit 2', (t) => {
  const cases: [string[], RegExp][] = [
    [['--frobnicate'], /unknown option "--frobnicate"/],
    [['--listen', 'tcp:127.0.0.1:1'], /--listen .*passive target/],
    [['--controller', 'ptcp:0'], /--controller .*active target/],
    [['--port', 'p1@0'], /OFPORT must be a number/],
    [['--port', 'p1,type=afpacket'], /port type "afpacket" is not available/],
    [['--fail-mode', 'open'], /--fail-mode "open"/],
    [['--dpid', 'xyz'], /--dpid "xyz"/],
    [['--log-level', 'loud'], /--log-level "loud"/],
    [['--probe-interval', '-1'], /--probe-interval "-1"/],
    [['--listen'], /--listen needs a value/],
  ];
  for (const [args, re] of cases) {
    const r = spawnSync(process.execPath, [bin, 'start', ...args], { encoding: 'utf8', timeout: 10_000 });
    t.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, re);
  }
});

test.serial('SIGTERM: exit 0 (run last)', async (t) => {
  sw.proc.kill('SIGTERM');
  t.is(await sw.exited, 0, sw.stderr());
});

test('SIGINT stops a switch too, with a controller target and fail-mode standalone', async (t) => {
  const s = await startSwitch(['--listen', 'ptcp:0', '--controller', 'tcp:127.0.0.1:1', '--fail-mode', 'standalone', '--bridge', 'brx', '--dpid', '0xabc', '--log-level', 'info']);
  try {
    const r = spawnSync(ovsOfctl, ['-O', 'OpenFlow13', 'show', `tcp:127.0.0.1:${s.port}`], { encoding: 'utf8', timeout: 10_000 });
    t.regex(r.stdout, /dpid:0000000000000abc/);
    t.regex(r.stdout, /LOCAL\(brx\)/);
    s.proc.kill('SIGINT');
    t.is(await s.exited, 0);
    t.regex(s.stderr(), /standalone/);
  } finally {
    if (s.proc.exitCode === null) s.proc.kill('SIGKILL');
  }
});

test('mod-table NAME: ovs-ofctl sends a TABLE_FEATURES set; the names stick and the flows stay', async (t) => {
  // ovs-ofctl 3.1 reads the table features, changes the name and sends every table back as a
  // set (REQ_MORE parts); the switch replies with the new description (table-features.ts).
  const s = await startSwitch(['--listen', 'ptcp:0', '--port', 'p1@1', '--log-level', 'warn']);
  const run = (args: readonly string[]): OfctlResult => ofctlAt(ovsOfctl, s.port, args, undefined, 15_000);
  try {
    t.is(run(['add-flow', 'table=0,priority=5,ip,actions=output:1']).status, 0);
    const r = run(['mod-table', '0', 'name:foo']);
    t.is(r.status, 0, r.err);
    t.is(run(['mod-table', '254', 'name:last']).status, 0);
    const tf = run(['dump-table-features']).out;
    t.regex(tf, /table 0 \("foo"\):/);
    t.regex(tf, /table 1 \("table1"\)/);
    t.regex(tf, /table 254 \("last"\):/);
    // The rest of the description came back unchanged: flows are accepted as before.
    t.is(run(['add-flow', 'table=0,priority=6,tcp,actions=push_vlan:0x8100,output:1']).status, 0);
    t.regex(run(['dump-flows']).out, /priority=5,ip actions=output:1/);
    t.regex(run(['dump-tables']).out, /table 0:\s+active=2/);
  } finally {
    s.proc.kill('SIGTERM');
    await s.exited;
  }
});
