/**
 * Differential tests: the same `ovs-ofctl -O OpenFlow13` scripts run against `ofswitch start` and
 * against Open vSwitch itself (a private ovs-vswitchd with a netdev bridge and the same three
 * dummy ports, test/peers/ovs-switch.ts), with the outputs normalized and compared.
 *
 * Normalization (normalize() below) removes what legitimately differs between two switches or two
 * runs: xids, flow durations, packet and byte counters (no traffic flows yet), port hardware
 * addresses, the order of flows and groups in a dump (OpenFlow leaves it open), ovs-ofctl's own
 * log lines, and the request that an OFPT_ERROR echoes back (only the error itself is compared;
 * how much of the request is echoed is one of the reported differences at the end).
 *
 * Where ofswitch differs from Open vSwitch on purpose, the step says why and asserts OUR answer
 * explicitly (and OVS's, so that a change on either side is noticed):
 *   - 255 flow tables (0-254) where OVS has 254 (0-253; its table 254 is hidden, EPERM): issue 4.
 *   - an output to a port that does not exist, or to port 0, is refused with
 *     BAD_ACTION/BAD_OUT_PORT (src/ofproto/validate.ts header; OVS accepts any port number below
 *     its maximum); so is a fast-failover bucket watching a missing port (BAD_WATCH,
 *     src/ofproto/groups.ts) and a bucket's group action to a missing group (BAD_OUT_GROUP: bucket
 *     actions are validated like a flow's, groups.ts step 8).
 *   - a group's ref_count counts the groups that forward to it as well as the flows (OF;
 *     groups.ts: "OVS counts flows only").
 *   - DSCP_REMARK meter bands (OVS: METER_MOD_FAILED/BAD_BAND) and PBB matches and actions (OVS
 *     refuses them; ovs-ofctl cannot even write them, so our own client sends them): DESIGN §5,
 *     src/ofproto/meters.ts header.
 *   - group and meter table sizes (max_groups 65535, max_meter 65536), the switch description,
 *     no queues and no QUEUE_STATS capability (OVS lists a default queue 0 per port).
 *   - port properties that come from the port type: OVS's dummy netdevs report no features
 *     (speed 0) and "?" for the counters they do not keep; ofswitch's dummy ports report 10GB-FD
 *     COPPER and zeros. Normalized away.
 * Differences that are not (yet) deliberate are `test.failing` cases at the end: each asserts the
 * OVS behaviour, so it turns into a "passed unexpectedly" failure the day ofswitch matches OVS.
 */

import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { createConnection } from 'node:net';
import { firstValueFrom, filter } from 'rxjs';
import { OFPT, OFPFC, OFPIT, OFPAT, OFPP, OFPXMT, errorName, type Message, type Action, type Instruction, type Oxm } from '../src/openflow/index.js';
import { OfConnection } from '../src/ofproto/connection.js';
import { findTool, requireTool } from './peers/peers.js';
import { startOvsSwitch, type OvsSwitch } from './peers/ovs-switch.js';
import { startSwitch, type SwitchProcess } from './switch-process.js';



let ovs: OvsSwitch;
let ours: SwitchProcess;
let ovsOfctl: string;

test.before(async () => {
  requireTool('ovs-ofctl');
  ovsOfctl = findTool('ovs-ofctl')!;
  ovs = await startOvsSwitch({ ports: 3, dpid: '0000000000000001' });
  ours = await startSwitch([
    '--bridge', ovs.bridge, '--dpid', '0x1', '--listen', 'ptcp:0',
    '--port', 'p1@1', '--port', 'p2@2', '--port', 'p3@3', '--log-level', 'warn',
  ]);
});

test.after.always(async () => {
  if (ours !== undefined && ours.proc.exitCode === null) {
    ours.proc.kill('SIGTERM');
    await ours.exited;
  }
  if (ovs !== undefined) await ovs.stop();
});

// ---------------------------------------------------------------------------------------------
// Running a command on both switches
// ---------------------------------------------------------------------------------------------

interface Step {
  /** ovs-ofctl arguments without the target: options (--strict) anywhere, then the command. */
  readonly args: readonly string[];
  readonly stdin?: string;
  /** A deliberate difference: why, and the answers (normalized) each switch must give. */
  readonly differs?: { readonly why: string; readonly ours: RegExp | string; readonly ovs?: RegExp | string };
}

interface Raw { readonly status: number | null; readonly text: string }

function ofctl(target: string, step: Step): Raw {
  const opts = step.args.filter((a) => a.startsWith('--'));
  const [cmd, ...rest] = step.args.filter((a) => !a.startsWith('--'));
  const r = spawnSync(ovsOfctl, ['-O', 'OpenFlow13', ...opts, cmd!, target, ...rest], {
    encoding: 'utf8', timeout: 30_000, ...(step.stdin !== undefined ? { input: step.stdin } : {}),
  });
  return { status: r.status, text: `${r.stdout}${r.stderr}` };
}

const LOG_LINE = /^\d{4}-\d\d-\d\dT[\d:.]+Z\|\d+\|/;

/** The comparable form of one ovs-ofctl run (see the file comment). */
export function normalize(raw: Raw): string {
  const lines = raw.text.split('\n').filter((l) => !LOG_LINE.test(l));
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    let l = lines[i]!;
    l = l.replace(/\(xid=0x[0-9a-f]+\)/g, '(xid=X)');
    l = l.replace(/duration=[0-9.]+s(, )?/g, '');
    l = l.replace(/n_packets=\d+, n_bytes=\d+, /g, '');
    l = l.replace(/addr:[0-9a-f:]{17}/g, 'addr:X');
    // Port counters OVS's dummy netdevs do not keep print as "?" (all ones): a port-type matter.
    l = l.replace(/=\?/g, '=0');
    if (/^\s+(current|advertised|supported|peer):/.test(l)) continue;
    if (/^\s+speed: /.test(l)) continue;
    if (l.trim() === '' && lines[i]!.trim() !== '') continue; // a line that held only a duration
    out.push(l);
    // An OFPT_ERROR is followed by the request it is about: only the error is compared.
    if (/^OFPT_ERROR /.test(l)) break;
  }
  // Flow, group, meter and port-stats entries come in the switch's order, which OpenFlow leaves
  // open: sorted. An entry is its first line plus the deeper-indented lines that follow it.
  const sorted: string[] = [];
  let run: string[] = [];
  const flush = (): void => { sorted.push(...run.sort()); run = []; };
  for (const l of out) {
    if (/^ (cookie=|group_id=)|^\s+port /.test(l)) run.push(l);
    else if (run.length > 0 && /^\s{9,}\S/.test(l)) run[run.length - 1] += `\n${l}`;
    else { flush(); sorted.push(l); }
  }
  flush();
  return `[exit ${raw.status === 0 ? 0 : 'nonzero'}]\n${sorted.join('\n')}`.trim();
}

function matches(text: string, want: RegExp | string): boolean {
  return typeof want === 'string' ? text === want : want.test(text);
}

/**
 * Runs every step on both switches; collects the steps whose normalized outputs differ (or, for
 * deliberate differences, do not give the stated answers) and fails with all of them at once.
 */
function script(t: ExecutionContext, steps: readonly Step[]): void {
  const problems: string[] = [];
  for (const step of steps) {
    const a = normalize(ofctl(ovs.target, step));
    const b = normalize(ofctl(`tcp:127.0.0.1:${ours.port}`, step));
    const name = `ovs-ofctl ${step.args.join(' ')}${step.stdin !== undefined ? ` <<< ${JSON.stringify(step.stdin)}` : ''}`;
    if (step.differs === undefined) {
      if (a !== b) problems.push(`${name}\n--- Open vSwitch:\n${a}\n--- ofswitch:\n${b}`);
    } else {
      if (!matches(b, step.differs.ours)) problems.push(`${name} (deliberate: ${step.differs.why})\n--- ofswitch gave:\n${b}\n--- expected: ${String(step.differs.ours)}`);
      if (step.differs.ovs !== undefined && !matches(a, step.differs.ovs)) {
        problems.push(`${name} (deliberate: ${step.differs.why})\n--- Open vSwitch gave:\n${a}\n--- expected: ${String(step.differs.ovs)}`);
      }
    }
  }
  t.deepEqual(problems, [], problems.join('\n\n'));
}

const s = (...args: string[]): Step => ({ args });
const stdin = (input: string, ...args: string[]): Step => ({ args, stdin: input });
const reset: Step[] = [s('del-flows'), s('del-groups'), s('del-meters')];

/** The dump-tables answer for `active` flows in table 0 and none elsewhere, with our 255 tables. */
const TABLES_DIFF = (active0: number): Step => ({
  args: ['dump-tables'],
  differs: {
    why: '255 tables (0-254) where OVS has 254',
    ours: new RegExp(`table 0:\\n\\s+active=${active0}, lookup=0, matched=0\\n[\\s\\S]*tables? [0-9.]+254: ditto$`),
    ovs: new RegExp(`table 0:\\n\\s+active=${active0}, lookup=0, matched=0\\n[\\s\\S]*tables? [0-9.]+253: ditto$`),
  },
});

// ---------------------------------------------------------------------------------------------
// Features
// ---------------------------------------------------------------------------------------------

test.serial('features: show, dump-ports-desc, get-frags, dump-tables, group and meter features', (t) => {
  script(t, [
    s('dump-ports-desc'),
    s('get-frags'),
    s('dump-ports'),
    s('dump-ports', '2'),
    {
      args: ['queue-stats'],
      differs: { why: 'ofswitch has no queues (and does not claim QUEUE_STATS); OVS lists a default queue 0 per port', ours: /: 0 queues$/, ovs: /: 4 queues\n/ },
    },
    TABLES_DIFF(0),
    {
      args: ['dump-group-features'],
      differs: { why: 'group table size 65535 per type (OVS 0xffffff00)', ours: /max_groups=0xffff\n/, ovs: /max_groups=0xffffff00\n/ },
    },
    {
      args: ['meter-features'],
      differs: {
        why: 'DSCP_REMARK bands (OVS: drop only) and 65536 meters (OVS 262144)',
        ours: '[exit 0]\nOFPST_METER_FEATURES reply (OF1.3) (xid=X):\nmax_meter:65536 max_bands:8 max_color:0\nband_types: drop dscp_remark\ncapabilities: kbps pktps burst stats',
        ovs: '[exit 0]\nOFPST_METER_FEATURES reply (OF1.3) (xid=X):\nmax_meter:262144 max_bands:8 max_color:0\nband_types: drop\ncapabilities: kbps pktps burst stats',
      },
    },
    {
      args: ['dump-desc'],
      differs: { why: 'our own description', ours: /Manufacturer: ofswitch\n/, ovs: /Manufacturer: Nicira, Inc\.\n/ },
    },
  ]);
  // show: features reply + port descriptions + get-config. n_tables and QUEUE_STATS are deliberate;
  // miss_send_len is a reported difference (see the failing tests at the end).
  const a = normalize(ofctl(ovs.target, s('show')));
  const b = normalize(ofctl(`tcp:127.0.0.1:${ours.port}`, s('show')));
  t.regex(b, /n_tables:255, n_buffers:0\ncapabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS\n/);
  t.regex(a, /n_tables:254, n_buffers:0\ncapabilities: FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS QUEUE_STATS\n/);
  const body = (x: string): string => x.replace(/^[\s\S]*?OFPST_PORT_DESC/m, 'OFPST_PORT_DESC').replace(/miss_send_len=\d+/, '');
  t.is(body(b), body(a));
});

// ---------------------------------------------------------------------------------------------
// Flow tables
// ---------------------------------------------------------------------------------------------

const MATCH_KINDS = [
  'priority=10,in_port=1,actions=output:2',
  'priority=11,dl_src=00:11:22:33:44:55,dl_dst=66:77:88:99:aa:bb,actions=drop',
  'priority=12,dl_src=00:11:22:33:44:55/ff:ff:ff:00:00:00,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=drop',
  'priority=13,dl_vlan=100,dl_vlan_pcp=3,actions=drop',
  'priority=14,vlan_tci=0x1000/0x1000,actions=drop',
  'priority=15,ip,nw_src=10.0.0.0/8,nw_dst=192.168.1.0/255.255.255.0,actions=drop',
  'priority=16,ipv6,ipv6_src=2001:db8::/32,ipv6_label=0x12345,actions=drop',
  'priority=17,ip,ip_dscp=8,ip_ecn=2,actions=drop',
  'priority=18,tcp,tcp_src=0x1000/0xf000,tcp_dst=8080,actions=drop',
  'priority=19,udp,udp_src=53,actions=drop',
  'priority=20,sctp,sctp_dst=10,actions=drop',
  'priority=21,icmp,icmp_type=8,icmp_code=0,actions=drop',
  'priority=22,icmp6,icmpv6_type=135,nd_target=fe80::1,nd_sll=00:11:22:33:44:55,actions=drop',
  'priority=23,arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/24,arp_sha=00:11:22:33:44:55,actions=drop',
  'priority=24,mpls,mpls_label=100,mpls_tc=3,mpls_bos=1,actions=drop',
  'priority=25,tun_id=0x1234/0xffff,actions=drop',
  'priority=26,metadata=0x1/0xff,actions=drop',
  'priority=27,ip,actions=set_field:10.0.0.1->nw_src,dec_ttl,output:1',
  'priority=28,actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:1',
  'priority=29,actions=write_metadata:0x1/0xff,goto_table:2',
  'priority=30,actions=clear_actions,write_actions(output:1)',
  'priority=34,in_port=1,actions=output:in_port',
  'priority=35,actions=output:1,output:LOCAL,CONTROLLER:128,FLOOD,ALL',
  'priority=36,actions=NORMAL',
  'priority=37,actions=set_queue:1,output:1',
  'priority=38,ip,actions=push_mpls:0x8847,set_field:10->mpls_label,output:1',
  'priority=39,mpls,actions=pop_mpls:0x0800,output:1',
  'priority=40,ipv6,actions=set_field:2001:db8::1->ipv6_src,set_field:0x12345->ipv6_label,output:2',
  'priority=41,tcp6,tp_dst=22,actions=set_field:23->tcp_dst,output:3',
  'priority=42,arp,actions=set_field:2->arp_op,set_field:00:11:22:33:44:66->arp_tha,output:1',
  'priority=43,dl_vlan=5,actions=set_field:3->vlan_pcp,pop_vlan,output:1',
  'priority=44,mpls,actions=dec_mpls_ttl,set_mpls_ttl:9,output:1',
  'priority=45,ip,actions=mod_nw_ttl:3,mod_nw_tos:32,output:1',
  'table=1,priority=46,actions=write_actions(set_field:00:00:00:00:00:01->eth_dst,output:2),goto_table:7',
  'table=7,priority=47,vlan_tci=0x0000/0x1fff,actions=drop',
  'table=200,priority=0,actions=CONTROLLER:65535',
];

test.serial('flows: many match kinds and actions, then dump-flows (with filters), dump-aggregate, dump-tables', (t) => {
  script(t, [
    ...reset,
    ...MATCH_KINDS.map((f) => s('add-flow', f)),
    s('dump-flows'),
    s('dump-flows', 'ip'),
    s('dump-flows', 'table=0,tcp'),
    s('dump-flows', 'out_port=1'),
    s('dump-flows', 'out_port=LOCAL'),
    s('dump-flows', 'table=1'),
    s('dump-flows', 'dl_vlan=100'),
    s('--strict', 'dump-flows', 'priority=10,in_port=1'),
    s('--strict', 'dump-flows', 'priority=11,in_port=1'),
    s('dump-aggregate'),
    s('dump-aggregate', 'table=0,ip'),
    s('dump-aggregate', 'out_port=2'),
    {
      args: ['dump-tables'],
      differs: {
        why: '255 tables (0-254) where OVS has 254',
        ours: /table 0:\n\s+active=33,[\s\S]*table 1:\n\s+active=1,[\s\S]*table 7:\n\s+active=1,[\s\S]*table 200:\n\s+active=1,[\s\S]*tables 202...254: ditto$/,
        ovs: /table 0:\n\s+active=33,[\s\S]*table 1:\n\s+active=1,[\s\S]*table 7:\n\s+active=1,[\s\S]*table 200:\n\s+active=1,[\s\S]*tables 202...253: ditto$/,
      },
    },
  ]);
});

test.serial('flows: add-flows, replace by identical match, mod-flows and del-flows (strict, cookies, out_port, priorities)', (t) => {
  const base = [
    'cookie=0x10,priority=100,ip,nw_dst=10.0.0.1,actions=output:2',
    'cookie=0x11,priority=100,ip,nw_dst=10.0.0.2,actions=output:1',
    'cookie=0x21,priority=200,ip,actions=output:3',
    'cookie=0x22,priority=50,arp,actions=output:1,output:2',
    'cookie=0x1f0,idle_timeout=30,hard_timeout=60,priority=5,tcp,tp_dst=80,actions=output:1',
    'cookie=0x2f0,table=3,idle_timeout=10,priority=5,udp,actions=output:2',
    'cookie=0x10,table=3,priority=7,actions=output:LOCAL',
    'table=4,priority=1,send_flow_rem,actions=drop',
  ].join('\n') + '\n';
  script(t, [
    ...reset,
    stdin(base, 'add-flows', '-'),
    s('dump-flows'),
    // ADD of an identical match and priority replaces the entry (actions, cookie, timeouts).
    s('add-flow', 'cookie=0x99,priority=100,ip,nw_dst=10.0.0.1,idle_timeout=7,actions=output:3'),
    s('dump-flows', 'ip'),
    // mod-flows: non-strict (every flow the match covers), strict, with cookie masks.
    s('mod-flows', 'ip,actions=output:1'),
    s('dump-flows'),
    s('--strict', 'mod-flows', 'priority=100,ip,nw_dst=10.0.0.2,actions=LOCAL'),
    s('--strict', 'mod-flows', 'priority=101,ip,nw_dst=10.0.0.2,actions=output:3'),
    s('mod-flows', 'cookie=0x10/0xff,actions=output:2'),
    s('mod-flows', 'cookie=0x0f0/0x0f0,actions=output:3'),
    s('mod-flows', 'table=3,cookie=0x2f0/-1,actions=output:1'),
    s('dump-flows'),
    // MODIFY never adds.
    s('mod-flows', 'ip,nw_dst=99.0.0.0/8,actions=output:1'),
    s('--strict', 'mod-flows', 'priority=9,icmp,actions=output:1'),
    s('dump-aggregate'),
    // del-flows: out_port filter, strict with and without the right priority, cookie masks, tables.
    s('del-flows', 'out_port=3'),
    s('dump-flows'),
    s('--strict', 'del-flows', 'priority=99,ip,nw_dst=10.0.0.2'),
    s('--strict', 'del-flows', 'priority=100,ip,nw_dst=10.0.0.2'),
    s('dump-flows'),
    s('del-flows', 'cookie=0x20/0xf0'),
    s('dump-flows'),
    s('del-flows', 'table=3,cookie=0x10/-1'),
    s('del-flows', 'table=4'),
    s('dump-flows'),
    s('--strict', 'del-flows', 'table=0,priority=5,tcp,tp_dst=80,out_port=2'),
    s('--strict', 'del-flows', 'table=0,priority=5,tcp,tp_dst=80,out_port=1'),
    s('dump-flows'),
    s('del-flows', 'ip,nw_dst=10.0.0.0/24'),
    s('dump-flows'),
    s('del-flows'),
    s('dump-flows'),
    s('dump-aggregate'),
    TABLES_DIFF(0),
  ]);
});

test.serial('flows: check_overlap, priorities, replace-flows, diff-flows', (t) => {
  script(t, [
    ...reset,
    s('add-flow', 'priority=10,ip,nw_src=10.0.0.0/8,actions=output:1'),
    s('add-flow', 'check_overlap,priority=10,ip,nw_dst=10.0.0.0/8,actions=output:2'),
    s('add-flow', 'check_overlap,priority=11,ip,nw_dst=10.0.0.0/8,actions=output:2'),
    s('add-flow', 'check_overlap,priority=10,arp,actions=output:2'),
    s('add-flow', 'check_overlap,priority=10,ip,nw_src=10.1.0.0/16,actions=output:3'),
    s('add-flow', 'priority=0,actions=drop'),
    s('add-flow', 'priority=65535,actions=drop'),
    s('dump-flows'),
    stdin('priority=10,ip,nw_src=10.0.0.0/8,actions=output:1\npriority=5,udp,actions=output:2\n', 'replace-flows', '-'),
    s('dump-flows'),
    stdin('priority=10,ip,nw_src=10.0.0.0/8,actions=output:1\npriority=5,udp,actions=output:2\n', 'diff-flows', '-'),
    stdin('priority=10,ip,nw_src=10.0.0.0/8,actions=output:3\n', 'diff-flows', '-'),
  ]);
});

// ---------------------------------------------------------------------------------------------
// Groups and meters
// ---------------------------------------------------------------------------------------------

test.serial('groups: add-group, mod-group, del-groups, dump-groups, dump-group-stats, flows that use groups', (t) => {
  script(t, [
    ...reset,
    s('add-group', 'group_id=1,type=all,bucket=output:1,bucket=output:2'),
    s('add-group', 'group_id=2,type=select,bucket=weight:5,output:1,bucket=weight:3,output:2'),
    s('add-group', 'group_id=3,type=indirect,bucket=actions=set_field:00:11:22:33:44:55->eth_dst,output:1'),
    s('add-group', 'group_id=4,type=ff,bucket=watch_port:1,actions=output:1,bucket=watch_port:2,actions=output:2'),
    s('add-group', 'group_id=5,type=all,bucket=actions=group:3'),
    s('add-group', 'group_id=6,type=all'),
    s('dump-groups'),
    s('dump-groups', '2'),
    s('add-group', 'group_id=1,type=all,bucket=output:3'),
    s('mod-group', 'group_id=2,type=select,bucket=weight:7,output:3'),
    s('mod-group', 'group_id=9,type=all,bucket=output:3'),
    s('--may-create', 'mod-group', 'group_id=9,type=all,bucket=output:3'),
    s('mod-group', 'group_id=6,type=indirect,bucket=output:1'),
    s('add-group', 'group_id=7,type=indirect,bucket=output:1,bucket=output:2'),
    {
      args: ['add-group', 'group_id=8,type=all,bucket=actions=group:77'],
      differs: {
        why: 'bucket actions are validated like a flow\'s (src/ofproto/groups.ts, step 8; OF 1.3.5 §6.5): a group action to a missing group is refused; OVS accepts it',
        ours: /^\[exit nonzero\]\nOFPT_ERROR \(OF1\.3\) \(xid=X\): OFPBAC_BAD_OUT_GROUP$/,
        ovs: '[exit 0]',
      },
    },
    { args: ['del-groups', 'group_id=8'], differs: { why: 'cleanup of group 8 (only in OVS)', ours: '[exit 0]', ovs: '[exit 0]' } },
    s('dump-groups'),
    s('add-flow', 'priority=5,actions=group:1'),
    s('add-flow', 'priority=6,ip,actions=group:2'),
    s('add-flow', 'priority=7,actions=group:99'),
    {
      args: ['dump-group-stats'],
      differs: {
        why: 'ref_count counts groups that forward to the group as well as flows (OF; src/ofproto/groups.ts: "OVS counts flows only"): group 5 forwards to group 3',
        ours: /group_id=3,,ref_count=1,/,
        ovs: /group_id=3,,ref_count=0,/,
      },
    },
    s('dump-group-stats', 'group_id=2'),
    s('dump-flows', 'out_group=1'),
    s('del-flows', 'out_group=2'),
    s('dump-flows'),
    // Deleting a group deletes the flows that use it.
    s('del-groups', 'group_id=1'),
    s('del-groups', 'group_id=100'),
    s('dump-flows'),
    s('dump-groups'),
    s('del-groups'),
    s('dump-groups'),
  ]);
});

test.serial('meters: add-meter, mod-meter, del-meters, dump-meters, flows that use meters', (t) => {
  script(t, [
    ...reset,
    s('add-meter', 'meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100'),
    s('add-meter', 'meter=4,pktps,burst,stats,bands=type=drop,rate=10,burst_size=5'),
    s('add-meter', 'meter=5,kbps,bands=type=drop,rate=2000'),
    s('dump-meters'),
    s('dump-meters', 'meter=4'),
    s('add-meter', 'meter=1,kbps,bands=type=drop,rate=5'),
    s('mod-meter', 'meter=1,kbps,bands=type=drop,rate=3000'),
    s('mod-meter', 'meter=9,kbps,bands=type=drop,rate=3000'),
    s('dump-meters'),
    s('add-flow', 'priority=6,ip,actions=meter:1,output:1'),
    s('add-flow', 'priority=7,ip,actions=meter:8,output:1'),
    s('dump-flows'),
    {
      args: ['add-meter', 'meter=2,pktps,bands=type=dscp_remark,rate=100,prec_level=1'],
      differs: { why: 'DSCP_REMARK bands are supported (DESIGN §5)', ours: '[exit 0]', ovs: /OFPT_ERROR \(OF1\.3\) \(xid=X\): OFPMMFC_BAD_BAND$/ },
    },
    { args: ['del-meter', 'meter=2'], differs: { why: 'meter 2 exists only in ofswitch', ours: '[exit 0]' } },
    // Deleting a meter deletes the flows that use it (as OVS does).
    s('del-meters', 'meter=1'),
    s('dump-flows'),
    s('del-meters'),
    s('dump-meters'),
  ]);
});

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

test.serial('errors: the same OpenFlow error from both switches for invalid requests', (t) => {
  script(t, [
    ...reset,
    s('add-flow', 'table=3,actions=goto_table:1'),
    s('add-flow', 'table=3,actions=goto_table:3'),
    s('add-flow', 'actions=group:7'),
    s('add-flow', 'actions=meter:7'),
    s('add-flow', 'ip,actions=set_field:80->tcp_dst'),
    s('add-flow', 'actions=set_field:10.0.0.1->ip_src'),
    s('add-flow', 'actions=dec_ttl'),
    s('add-flow', 'actions=pop_vlan'),
    s('add-flow', 'actions=pop_mpls:0x0800'),
    s('add-flow', 'actions=push_vlan:0x0800'),
    s('add-flow', 'actions=set_field:5->vlan_pcp'),
    {
      args: ['add-flow', 'table=254,actions=drop'],
      differs: {
        why: 'table 254 exists in ofswitch; in OVS it is a hidden internal table',
        ours: '[exit 0]',
        ovs: /^\[exit nonzero\]\nOFPT_ERROR \(OF1\.3\) \(xid=X\): OFPBRC_EPERM$/,
      },
    },
    {
      args: ['del-flows', 'table=254'],
      differs: { why: 'cleanup of the table-254 flow (OVS: EPERM, its table 254 is hidden)', ours: '[exit 0]', ovs: /OFPBRC_EPERM$/ },
    },
    // ovs-ofctl reads table=255 on add-flow as "no table given": the flow goes to table 0.
    s('add-flow', 'table=255,actions=drop'),
    s('del-flows', 'table=250'),
    s('mod-flows', 'table=255,actions=drop'),
    s('add-group', 'group_id=0xffffff01,type=all'),
    s('add-group', 'group_id=1,type=indirect'),
    s('add-group', 'group_id=1,type=all,bucket=weight:5,output:1'),
    s('add-group', 'group_id=1,type=all,bucket=watch_port:1,output:1'),
    s('add-group', 'group_id=1,type=ff,bucket=output:1'),
    s('add-meter', 'meter=0,kbps,bands=type=drop,rate=1'),
    s('add-meter', 'meter=3,kbps,bands=type=drop,rate=0'),
    s('add-meter', 'meter=3,kbps,bands=type=drop,rate=1,type=drop,rate=2,type=drop,rate=3,type=drop,rate=4,type=drop,rate=5,type=drop,rate=6,type=drop,rate=7,type=drop,rate=8,type=drop,rate=9'),
    s('dump-flows', 'table=255'),
    s('dump-flows'),
    s('dump-groups'),
    s('dump-meters'),
    {
      args: ['add-flow', 'actions=output:9'],
      differs: {
        why: 'an output to a port that does not exist is refused (src/ofproto/validate.ts); OVS accepts it',
        ours: /^\[exit nonzero\]\nOFPT_ERROR \(OF1\.3\) \(xid=X\): OFPBAC_BAD_OUT_PORT$/,
        ovs: '[exit 0]',
      },
    },
    {
      args: ['add-group', 'group_id=1,type=ff,bucket=watch_port:9,output:1'],
      differs: {
        why: 'a fast-failover bucket watching a port that does not exist is refused (src/ofproto/groups.ts); OVS accepts it',
        ours: /^\[exit nonzero\]\nOFPT_ERROR \(OF1\.3\) \(xid=X\): OFPGMFC_BAD_WATCH$/,
        ovs: '[exit 0]',
      },
    },
    { args: ['del-flows'], differs: { why: 'cleanup after the accepted output:9 above', ours: '[exit 0]' } },
    { args: ['del-groups'], differs: { why: 'cleanup after the accepted watch_port:9 above', ours: '[exit 0]' } },
  ]);
});

// ---------------------------------------------------------------------------------------------
// Messages ovs-ofctl cannot write: the same bytes from our own client to both switches
// ---------------------------------------------------------------------------------------------

/** Sends `msgs` then a barrier on a fresh connection; returns the errors, as "TYPE/CODE" per xid. */
async function rawErrors(port: number, msgs: readonly Message[]): Promise<string[]> {
  const sock = createConnection({ host: '127.0.0.1', port });
  const errs: string[] = [];
  const client = new OfConnection(sock, (m) => {
    if (m.type === OFPT.ERROR) errs.push(`xid ${String(m.xid)}: ${'code' in m ? errorName(m.errType, m.code) : `experimenter ${m.experimenter}/${m.expCode}`}`);
  }, { probeInterval: 0 });
  try {
    await firstValueFrom(client.events$.pipe(filter((e) => e.type === 'negotiated')));
    msgs.forEach((m, i) => client.send({ ...m, xid: 100 + i } as Message));
    await client.request({ type: OFPT.BARRIER_REQUEST });
    return errs;
  } finally {
    client.close();
  }
}

function flowMod(match: Oxm[], actions: Action[], priority = 1000): Message {
  return {
    type: OFPT.FLOW_MOD, cookie: 0n, cookieMask: 0n, tableId: 0, command: OFPFC.ADD, idleTimeout: 0, hardTimeout: 0,
    priority, bufferId: 0xffffffff, outPort: OFPP.ANY, outGroup: 0xffffffff, flags: 0, match,
    instructions: [{ type: OFPIT.APPLY_ACTIONS, actions }],
  } as Message;
}

test.serial('raw messages: PBB match and actions (deliberately beyond OVS)', async (t) => {
  const msgs: Message[] = [
    // pbb_isid (OXM 37) with its prerequisite eth_type=0x88e7: OVS has no PBB.
    flowMod([{ field: OFPXMT.ETH_TYPE, value: 0x88e7 }, { field: OFPXMT.PBB_ISID, value: 5 }], []),
    // push_pbb: OVS has no PBB actions.
    flowMod([], [{ type: OFPAT.PUSH_PBB, ethertype: 0x88e7 }, { type: OFPAT.OUTPUT, port: 1, maxLen: 0 }], 1001),
    // A plain good flow, to show the connection keeps serving.
    flowMod([], [{ type: OFPAT.OUTPUT, port: 2, maxLen: 0 }], 1002),
  ];
  const delAll = { ...flowMod([], []), command: OFPFC.DELETE, tableId: 0xff } as Message;
  await rawErrors(ovs.port, [delAll]);
  await rawErrors(ours.port, [delAll]);
  const a = await rawErrors(ovs.port, msgs);
  const b = await rawErrors(ours.port, msgs);
  t.log('Open vSwitch:', a, 'ofswitch:', b);
  t.deepEqual(b, [], 'ofswitch accepts PBB (DESIGN §5)');
  t.true(a.some((e) => e.startsWith('xid 100: BAD_MATCH/')), `OVS refuses the pbb_isid match: ${a.join(', ')}`);
  t.true(a.some((e) => e.startsWith('xid 101: BAD_ACTION/')), `OVS refuses push_pbb: ${a.join(', ')}`);
  t.false(a.some((e) => e.startsWith('xid 102')));
});

test.serial('raw messages: the same errors for bad prerequisites, bad tables and bad instructions', async (t) => {
  const apply = (actions: Action[]): Instruction => ({ type: OFPIT.APPLY_ACTIONS, actions });
  const fm = (tableId: number, match: Oxm[], instructions: Instruction[], command: number = OFPFC.ADD): Message =>
    ({ ...flowMod(match, []), tableId, command, instructions } as Message);
  const msgs: Message[] = [
    fm(0, [{ field: OFPXMT.TCP_DST, value: 80 }], [apply([])]), // no ip_proto / eth_type
    fm(0, [{ field: OFPXMT.ETH_TYPE, value: 0x0800 }, { field: OFPXMT.TCP_DST, value: 80 }], [apply([])]), // no ip_proto
    fm(0, [{ field: OFPXMT.IPV4_SRC, value: '10.0.0.1' }], [apply([])]), // no eth_type
    fm(0, [{ field: OFPXMT.ETH_TYPE, value: 0x86dd }, { field: OFPXMT.ARP_OP, value: 1 }], [apply([])]),
    fm(0, [{ field: OFPXMT.VLAN_PCP, value: 1 }], [apply([])]), // vlan_pcp without a VLAN
    fm(5, [], [{ type: OFPIT.GOTO_TABLE, tableId: 2 }]), // goto backwards
    fm(0, [], [apply([]), apply([])]), // an instruction twice
    fm(0, [], [apply([{ type: OFPAT.OUTPUT, port: OFPP.ANY, maxLen: 0 }])]),
    fm(0, [], [apply([{ type: OFPAT.OUTPUT, port: 0, maxLen: 0 }])]),
    fm(0xff, [], [apply([])]), // table ALL on an add
    fm(0, [], [apply([])], 9), // unknown command
    fm(0, [], [{ type: OFPIT.METER, meterId: 42 }]),
    fm(0, [], [apply([{ type: OFPAT.GROUP, groupId: 42 }])]),
    fm(0, [], [apply([{ type: OFPAT.SET_FIELD, field: { field: OFPXMT.IPV4_SRC, value: '1.2.3.4' } }])]),
  ];
  const a = await rawErrors(ovs.port, msgs);
  const b = await rawErrors(ours.port, msgs);
  // Deliberate (src/ofproto/validate.ts): an output to port 0 is refused; OVS accepts it.
  t.true(b.includes('xid 108: BAD_ACTION/BAD_OUT_PORT'), b.join(', '));
  t.false(a.some((e) => e.startsWith('xid 108:')), a.join(', '));
  t.deepEqual(b.filter((e) => !e.startsWith('xid 108:')), a);
  await rawErrors(ovs.port, [{ ...flowMod([], []), command: OFPFC.DELETE, tableId: 0xff } as Message]);
});

// ---------------------------------------------------------------------------------------------
// Reported differences that are not (yet) decided: each asserts what OVS does.
// ---------------------------------------------------------------------------------------------

test.serial.failing('REPORTED: miss_send_len of a connection to a passive listener (OVS 0: a "service" connection)', (t) => {
  const a = ofctl(ovs.target, s('show')).text;
  const b = ofctl(`tcp:127.0.0.1:${ours.port}`, s('show')).text;
  t.regex(a, /miss_send_len=0/);
  t.regex(b, /miss_send_len=0/);
});

test.serial.failing('REPORTED: an OFPT_ERROR echoes the whole request in OVS, its first 64 bytes in ofswitch', (t) => {
  const step = s('add-flow', 'priority=1,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2,actions=group:77');
  const a = ofctl(ovs.target, step).text;
  const b = ofctl(`tcp:127.0.0.1:${ours.port}`, step).text;
  t.notRegex(a, /truncated/);
  t.notRegex(b, /truncated/);
});

test.serial.failing('REPORTED: CHECK_OVERLAP with an identical match and priority: OVS replaces the flow, ofswitch answers OVERLAP', (t) => {
  // OVS (ofproto.c add_flow_start) looks for the overlap only when no identical rule exists; the
  // header of src/ofproto/flow-table.ts says "an identical rule included, as in OVS".
  const steps = [
    s('del-flows'),
    s('add-flow', 'priority=10,ip,nw_src=10.0.0.0/8,actions=output:1'),
    s('add-flow', 'check_overlap,priority=10,ip,nw_src=10.0.0.0/8,actions=output:3'),
    s('dump-flows'),
    s('del-flows'),
  ];
  const a = steps.map((st) => normalize(ofctl(ovs.target, st)));
  const b = steps.map((st) => normalize(ofctl(`tcp:127.0.0.1:${ours.port}`, st)));
  t.is(a[2], '[exit 0]');
  t.deepEqual(b, a);
});

test.serial.failing('REPORTED: tp_dst without ip/tcp: ovs-ofctl sends an OXM packet_type=0 (OF1.5 field 44) that OVS accepts', (t) => {
  // ovs-ofctl drops tp_dst ("normalization changed ofp_match") and puts OXM_OF_PACKET_TYPE in the match.
  const step = s('add-flow', 'priority=3,tp_dst=80,actions=drop');
  const a = normalize(ofctl(ovs.target, step));
  const b = normalize(ofctl(`tcp:127.0.0.1:${ours.port}`, step));
  ofctl(ovs.target, s('del-flows'));
  ofctl(`tcp:127.0.0.1:${ours.port}`, s('del-flows'));
  t.is(a, '[exit 0]');
  t.is(b, a);
});
