/**
 * Trace goldens: each case sets up a bridge (flows as FLOW_MOD fields, groups, port config, MAC
 * table), translates one flow (or a packet-out action list) with tracing, and compares the whole
 * ofproto/trace text with test/fixtures/trace/<case>.txt exactly. The file's first line is the
 * case's description. UPDATE_GOLDENS=1 rewrites the files (then read the diff before committing).
 */

import test from 'ava';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { OFPAT, OFPGT, OFPIT, OFPP, OFPPC, OFPPS, OFPXMT, type Action, type Instruction } from '../src/openflow/index.js';
import { K, type FlowKey, type PacketDesc } from '../src/packet/index.js';
import { xlate, formatTrace } from '../src/xlate/index.js';
import { TestBridge, flowOf, oxm } from './xlate-bridge.test.js';
import { applyActions, writeActions, clearActions, gotoTable, meter, output } from './ofproto-helpers.js';
import { FIXTURE_DIR } from './fixture-format.js';

const DIR = join(FIXTURE_DIR, 'trace');
const X = OFPXMT;

const set = (field: number, value: number | bigint | string): Action => ({ type: OFPAT.SET_FIELD, field: oxm(field, value) });
const A = {
  pushVlan: (e = 0x8100): Action => ({ type: OFPAT.PUSH_VLAN, ethertype: e }),
  popVlan: (): Action => ({ type: OFPAT.POP_VLAN }),
  pushMpls: (e = 0x8847): Action => ({ type: OFPAT.PUSH_MPLS, ethertype: e }),
  popMpls: (e = 0x0800): Action => ({ type: OFPAT.POP_MPLS, ethertype: e }),
  pushPbb: (): Action => ({ type: OFPAT.PUSH_PBB, ethertype: 0x88e7 }),
  popPbb: (): Action => ({ type: OFPAT.POP_PBB }),
  decTtl: (): Action => ({ type: OFPAT.DEC_NW_TTL }),
  setTtl: (v: number): Action => ({ type: OFPAT.SET_NW_TTL, nwTtl: v }),
  decMplsTtl: (): Action => ({ type: OFPAT.DEC_MPLS_TTL }),
  setMplsTtl: (v: number): Action => ({ type: OFPAT.SET_MPLS_TTL, mplsTtl: v }),
  copyTtlOut: (): Action => ({ type: OFPAT.COPY_TTL_OUT }),
  group: (id: number): Action => ({ type: OFPAT.GROUP, groupId: id }),
  controller: (maxLen = 128): Action => ({ type: OFPAT.OUTPUT, port: OFPP.CONTROLLER, maxLen }),
};
const writeMetadata = (metadata: bigint, metadataMask: bigint): Instruction => ({ type: OFPIT.WRITE_METADATA, metadata, metadataMask });
const IP4 = oxm(X.ETH_TYPE, 0x0800);

interface Case {
  readonly name: string;
  readonly about: string;
  readonly setup?: (br: TestBridge) => void;
  readonly packet?: PacketDesc;
  readonly inPort?: number;
  readonly actions?: readonly Action[];
  readonly check?: (t: import('ava').ExecutionContext, r: ReturnType<typeof xlate>) => void;
}

const TCP: PacketDesc = { eth: { src: '00:00:00:00:00:01', dst: '00:00:00:00:00:02' }, ipv4: { src: '10.0.0.1', dst: '10.0.0.2', ttl: 64 }, tcp: { src: 1000, dst: 80 } };

const cases: Case[] = [
  {
    name: 'goto-chain', about: 'goto-table chain 0 -> 1 -> 3, apply in each table, write-actions run at the end',
    setup: (br) => br
      .flow({ priority: 10, match: [oxm(X.IN_PORT, 1)], cookie: 0x1n, instructions: [applyActions(set(X.ETH_DST, '00:00:00:00:00:aa')), gotoTable(1)] })
      .flow({ tableId: 1, priority: 10, match: [IP4, oxm(X.IP_PROTO, 6)], cookie: 0x2n, instructions: [writeActions(output(2)), gotoTable(3)] })
      .flow({ tableId: 3, priority: 10, match: [IP4, oxm(X.IP_PROTO, 6), oxm(X.TCP_DST, 80)], cookie: 0x3n, instructions: [applyActions(output(3))] }),
  },
  {
    name: 'metadata', about: 'write-metadata in table 0, matched (masked) in table 1; the written bits are not in the megaflow',
    setup: (br) => br
      .flow({ priority: 10, match: [], instructions: [writeMetadata(0x1234n, 0xff00n), gotoTable(1)] })
      .flow({ tableId: 1, priority: 10, match: [{ field: X.METADATA, value: 0x1200n, mask: 0xff00n }], instructions: [applyActions(output(2), A.controller(64))] }),
  },
  {
    name: 'apply-write-clear', about: 'apply-actions run at once, write-actions wait for the end, clear-actions empties the set',
    setup: (br) => br
      .flow({ priority: 10, match: [], instructions: [applyActions(output(3)), writeActions(output(2)), gotoTable(1)] })
      .flow({ tableId: 1, priority: 10, match: [], instructions: [clearActions(), writeActions(output(4))] }),
  },
  {
    name: 'action-set-order', about: 'the action set runs in the specification order whatever the write order; one action per type; group wins over output',
    setup: (br) => br
      .addGroup(1, OFPGT.INDIRECT, [{ actions: [output(4)] }])
      .flow({ priority: 10, match: [IP4], instructions: [writeActions(output(2), set(X.IPV4_DST, '10.1.1.1'), A.decTtl(), A.pushVlan(), set(X.VLAN_VID, 0x1000 | 7), set(X.VLAN_VID, 0x1000 | 9)), gotoTable(1)] })
      .flow({ tableId: 1, priority: 10, match: [], instructions: [writeActions(A.group(1), output(3))] }),
    packet: TCP,
  },
  {
    name: 'set-fields-ipv4', about: 'every Ethernet/VLAN/IPv4/TCP set-field, committed once before the output',
    setup: (br) => br.flow({
      priority: 10, match: [IP4, oxm(X.IP_PROTO, 6), oxm(X.VLAN_VID, 0x1000 | 5)], instructions: [applyActions(
        set(X.ETH_SRC, '02:00:00:00:00:01'), set(X.ETH_DST, '02:00:00:00:00:02'), set(X.VLAN_VID, 0x1000 | 6), set(X.VLAN_PCP, 3),
        set(X.IP_DSCP, 46), set(X.IP_ECN, 1), set(X.IPV4_SRC, '192.168.0.1'), set(X.IPV4_DST, '192.168.0.2'),
        set(X.TCP_SRC, 1111), set(X.TCP_DST, 2222), set(X.METADATA, 0x42n), output(2))],
    }),
    packet: { ...TCP, vlans: [{ vid: 5, pcp: 1 }] },
  },
  {
    name: 'set-fields-l4', about: 'UDP, SCTP and ICMPv4 set-fields, each on its own packet-out (TCP fields skipped on UDP)',
    packet: { ipv4: {}, udp: { src: 5, dst: 6 } }, inPort: OFPP.CONTROLLER,
    actions: [set(X.UDP_SRC, 53), set(X.UDP_DST, 5353), set(X.TCP_DST, 1), set(X.SCTP_SRC, 9), set(X.ICMPV4_TYPE, 0), output(1)],
  },
  {
    name: 'set-fields-icmp-sctp', about: 'ICMPv4 type/code, then SCTP ports on a second frame kind are skipped',
    packet: { ipv4: {}, icmp: { type: 8, code: 0 } }, inPort: OFPP.CONTROLLER,
    actions: [set(X.ICMPV4_TYPE, 0), set(X.ICMPV4_CODE, 3), set(X.SCTP_DST, 9), output(1)],
  },
  {
    name: 'set-fields-ipv6-nd', about: 'IPv6 addresses, flow label, ND target and SLL; ICMPv6 type change ends ND',
    packet: { ipv6: { src: '2001:db8::1', dst: 'ff02::1:ff00:2' }, nd: { type: 135, target: '2001:db8::2', sll: '00:00:00:00:00:01' } },
    inPort: OFPP.CONTROLLER,
    actions: [set(X.IPV6_SRC, '2001:db8::10'), set(X.IPV6_DST, '2001:db8::20'), set(X.IPV6_FLABEL, 0x12345), set(X.IPV6_ND_TARGET, '2001:db8::99'),
      set(X.IPV6_ND_SLL, '00:00:00:00:00:99'), set(X.IPV6_ND_TLL, '00:00:00:00:00:98'), output(1), set(X.ICMPV6_TYPE, 128), output(2)],
  },
  {
    name: 'set-fields-arp', about: 'ARP opcode and addresses',
    packet: { arp: { op: 1, spa: '10.0.0.1', tpa: '10.0.0.2' } }, inPort: OFPP.CONTROLLER,
    actions: [set(X.ARP_OP, 2), set(X.ARP_SPA, '10.0.0.2'), set(X.ARP_TPA, '10.0.0.1'), set(X.ARP_SHA, '00:00:00:00:00:02'), set(X.ARP_THA, '00:00:00:00:00:01'), output(1)],
  },
  {
    name: 'push-pop-vlan', about: 'push_vlan copies the outer tag, set_field after it, pop_vlan; outputs between commit the changes',
    setup: (br) => br.flow({ priority: 10, match: [oxm(X.VLAN_VID, 0x1000 | 10)], instructions: [applyActions(
      A.pushVlan(0x88a8), set(X.VLAN_VID, 0x1000 | 100), output(2), A.popVlan(), output(3), A.pushVlan(), output(4))] }),
    packet: { ...TCP, vlans: [{ vid: 10, pcp: 5 }] },
  },
  {
    name: 'push-pop-mpls', about: 'push_mpls takes the IP TTL, MPLS set-fields and TTLs, pop_mpls restores the IPv4 packet',
    setup: (br) => br.flow({ priority: 10, match: [IP4], instructions: [applyActions(
      A.pushMpls(), set(X.MPLS_LABEL, 1000), set(X.MPLS_TC, 5), A.decMplsTtl(), output(2), A.pushMpls(), A.setMplsTtl(9), A.copyTtlOut(), output(3),
      A.popMpls(0x8847), A.popMpls(0x0800), A.decTtl(), output(4))] }),
    packet: TCP,
  },
  {
    name: 'pop-mpls-input', about: 'popping the input label to its payload: the inner headers are not parsed',
    setup: (br) => br.flow({ priority: 10, match: [oxm(X.ETH_TYPE, 0x8847), oxm(X.MPLS_LABEL, 16)], instructions: [applyActions(A.popMpls(0x0800), A.decTtl(), output(2))] }),
    packet: { mpls: [{ label: 16, ttl: 20 }], ipv4: {}, udp: {} },
  },
  {
    name: 'push-pop-pbb', about: 'push_pbb (I-PCP from the VLAN PCP), set the I-SID and backbone addresses, pop_pbb gives the customer frame back',
    setup: (br) => br.flow({ priority: 10, match: [], instructions: [applyActions(
      A.pushPbb(), set(X.PBB_ISID, 0x10203), set(X.ETH_DST, '02:bb:00:00:00:02'), output(2), A.popPbb(), output(3))] }),
    packet: { ...TCP, vlans: [{ vid: 3, pcp: 6 }] },
  },
  {
    name: 'ttl-dec', about: 'dec_nw_ttl and set_nw_ttl commit as set(nw_ttl) before the output',
    setup: (br) => br.flow({ priority: 10, match: [IP4], instructions: [applyActions(A.decTtl(), output(2), A.setTtl(200), A.decTtl(), output(3))] }),
    packet: TCP,
  },
  {
    name: 'ttl-invalid', about: 'TTL 1: packet-in INVALID_TTL, nothing after, no action set',
    setup: (br) => br.flow({ priority: 10, match: [IP4], cookie: 0xabn, instructions: [applyActions(output(3), A.decTtl(), output(2)), writeActions(output(4))] }),
    packet: { ...TCP, ipv4: { ttl: 1 } },
  },
  {
    name: 'ttl-invalid-no-packet-in', about: 'TTL expiry on a port with no_packet_in: no packet-in, still stops',
    setup: (br) => {
      br.flow({ priority: 10, match: [IP4], instructions: [applyActions(A.decTtl(), output(2))] });
      br.portMap.get(1)!.config = OFPPC.NO_PACKET_IN;
    },
    packet: { ...TCP, ipv4: { ttl: 0 } },
  },
  {
    name: 'group-all', about: 'ALL group: a bucket that only outputs is inline, one that changes the packet is a clone; the packet after the group is unchanged',
    setup: (br) => br
      .addGroup(1, OFPGT.ALL, [{ actions: [output(2)] }, { actions: [set(X.IPV4_DST, '10.9.9.9'), output(3)] }, { actions: [A.pushVlan(), set(X.VLAN_VID, 0x1000 | 5), output(4)] }])
      .flow({ priority: 10, match: [IP4], instructions: [applyActions(A.group(1), output(OFPP.LOCAL))] }),
    packet: TCP,
  },
  {
    name: 'group-indirect-chained', about: 'INDIRECT group chaining to an ALL group',
    setup: (br) => br
      .addGroup(2, OFPGT.ALL, [{ actions: [output(3)] }, { actions: [output(4)] }])
      .addGroup(1, OFPGT.INDIRECT, [{ actions: [set(X.ETH_SRC, '02:00:00:00:00:0a'), A.group(2)] }])
      .flow({ priority: 10, match: [], instructions: [applyActions(A.group(1))] }),
    packet: TCP,
  },
  {
    name: 'group-select', about: 'SELECT: one bucket by the hash of the flow (its fields un-wildcarded), weight 0 never chosen',
    setup: (br) => br
      .addGroup(1, OFPGT.SELECT, [{ weight: 1, actions: [output(2)] }, { weight: 3, actions: [output(3)] }, { weight: 0, actions: [output(4)] }])
      .flow({ priority: 10, match: [], instructions: [writeActions(A.group(1))] }),
    packet: TCP,
  },
  {
    name: 'group-ff', about: 'FAST_FAILOVER: the first bucket watches a down port, the second a link-down port, the third a live group',
    setup: (br) => {
      br.addGroup(9, OFPGT.FF, [{ watchPort: 4, actions: [output(4)] }]);
      br.addGroup(1, OFPGT.FF, [{ watchPort: 2, actions: [output(2)] }, { watchPort: 3, actions: [output(3)] }, { watchGroup: 9, actions: [output(4)] }]);
      br.flow({ priority: 10, match: [], instructions: [applyActions(A.group(1))] });
      br.portMap.get(2)!.config = OFPPC.PORT_DOWN;
      br.portMap.get(3)!.state = OFPPS.LINK_DOWN;
    },
    packet: TCP,
  },
  {
    name: 'group-ff-dead', about: 'FAST_FAILOVER with no live bucket drops',
    setup: (br) => {
      br.addGroup(1, OFPGT.FF, [{ watchPort: 2, actions: [output(2)] }]);
      br.flow({ priority: 10, match: [], instructions: [applyActions(A.group(1))] });
      br.portMap.get(2)!.state = OFPPS.LINK_DOWN;
    },
    packet: TCP,
  },
  {
    name: 'group-depth-limit', about: 'a chain of 66 INDIRECT groups passes the 64-level limit: drop with an error',
    setup: (br) => {
      for (let id = 66; id >= 1; id--) br.addGroup(id, OFPGT.INDIRECT, [{ actions: [id === 66 ? output(2) : A.group(id + 1)] }]);
      br.flow({ priority: 10, match: [], instructions: [applyActions(A.group(1))] });
    },
    packet: TCP,
  },
  {
    name: 'outputs-reserved', about: 'IN_PORT, LOCAL, output to the input port (skipped), ALL, FLOOD with no_fwd and link-down ports, ANY',
    setup: (br) => {
      br.flow({ priority: 10, match: [], instructions: [applyActions(output(OFPP.IN_PORT), output(1), output(OFPP.LOCAL), output(OFPP.ALL), output(OFPP.FLOOD))] });
      br.portMap.get(3)!.config = OFPPC.NO_FWD;
      br.portMap.get(4)!.state = OFPPS.LINK_DOWN;
    },
    packet: TCP,
  },
  {
    name: 'outputs-port-config', about: 'output to a missing port, a PORT_DOWN port and a NO_FWD port are skipped',
    setup: (br) => {
      br.flow({ priority: 10, match: [], instructions: [applyActions(output(2), output(3), output(4))] });
      br.portMap.get(2)!.config = OFPPC.PORT_DOWN;
      br.portMap.get(3)!.config = OFPPC.NO_FWD;
      br.portMap.delete(4);
    },
    packet: TCP,
  },
  {
    name: 'controller', about: 'output:CONTROLLER with max_len and metadata; the packet-in sees the changed header',
    setup: (br) => br.flow({ priority: 10, match: [], cookie: 0xc0ffeen, instructions: [writeMetadata(7n, 0xffn), gotoTable(2)] })
      .flow({ tableId: 2, priority: 10, match: [], cookie: 0x2n, instructions: [applyActions(set(X.ETH_DST, '02:00:00:00:00:99'), A.controller(200))] }),
    packet: TCP,
  },
  {
    name: 'normal-unknown', about: 'NORMAL: learn the source in its VLAN, unknown destination floods',
    setup: (br) => br.flow({ priority: 10, match: [], instructions: [applyActions(output(OFPP.NORMAL))] }),
    packet: { ...TCP, vlans: [{ vid: 20 }] },
  },
  {
    name: 'normal-known', about: 'NORMAL: a learned destination on another port',
    setup: (br) => {
      br.flow({ priority: 10, match: [], instructions: [applyActions(output(OFPP.NORMAL))] });
      br.macs.learn({ vlan: 0, macHi: 0, macLo: 2, ofport: 3 });
    },
    packet: TCP,
  },
  {
    name: 'normal-same-port', about: 'NORMAL: destination learned on the input port drops; learned in another VLAN does not count',
    setup: (br) => {
      br.flow({ priority: 10, match: [], instructions: [applyActions(output(OFPP.NORMAL))] });
      br.macs.learn({ vlan: 0, macHi: 0, macLo: 2, ofport: 1 });
    },
    packet: TCP,
  },
  {
    name: 'normal-multicast', about: 'NORMAL: broadcast destination floods; a multicast source is dropped (second packet-out)',
    setup: (br) => br.flow({ priority: 10, match: [], instructions: [applyActions(output(OFPP.NORMAL))] }),
    packet: { ...TCP, eth: { src: '00:00:00:00:00:01', dst: 'ff:ff:ff:ff:ff:ff' } },
  },
  {
    name: 'normal-multicast-source', about: 'NORMAL: a multicast source is neither learned nor forwarded',
    setup: (br) => br.flow({ priority: 10, match: [], instructions: [applyActions(output(OFPP.NORMAL))] }),
    packet: { ...TCP, eth: { src: '01:00:5e:00:00:01', dst: '00:00:00:00:00:02' } },
  },
  {
    name: 'meter', about: 'meter instruction first, then apply-actions',
    setup: (br) => br.flow({ priority: 10, instructions: [applyActions(set(X.IPV4_DST, '10.0.0.9'), output(2)), meter(1)], match: [IP4] }),
    packet: TCP,
  },
  {
    name: 'table-miss-drop', about: 'a miss in table 1 without a table-miss flow drops, discarding the action set',
    setup: (br) => br.flow({ priority: 10, match: [], instructions: [writeActions(output(2)), gotoTable(1)] })
      .flow({ tableId: 1, priority: 10, match: [oxm(X.IN_PORT, 9)], instructions: [] }),
    packet: TCP,
  },
  {
    name: 'table-miss-controller', about: 'a table-miss flow sending to the controller: reason NO_MATCH',
    setup: (br) => br.flow({ priority: 0, match: [], instructions: [applyActions(A.controller(0xffff))] })
      .flow({ priority: 10, match: [oxm(X.IN_PORT, 2)], instructions: [] }),
    packet: TCP,
  },
  {
    name: 'fail-open', about: 'fail-open bridge: a table 0 miss acts as NORMAL',
    setup: (br) => {
      br.failOpen = true;
    },
    packet: TCP,
  },
  {
    name: 'packet-out-table', about: 'packet-out from the controller: output:TABLE runs the pipeline on a copy; CONTROLLER outside a rule says table 255, cookie all ones',
    setup: (br) => br.flow({ priority: 10, match: [oxm(X.IN_PORT, OFPP.CONTROLLER)], cookie: 5n, instructions: [applyActions(set(X.ETH_SRC, '02:00:00:00:00:05'), output(2))] }),
    packet: TCP, inPort: OFPP.CONTROLLER,
    actions: [output(OFPP.TABLE), output(OFPP.IN_PORT), A.controller(), output(3)],
  },
];

function run(c: Case): { text: string; result: ReturnType<typeof xlate> } {
  const br = new TestBridge();
  c.setup?.(br);
  const flow: FlowKey = flowOf(c.packet ?? TCP, c.inPort ?? 1);
  const input = { bridge: br, flow, trace: true, ...(c.actions !== undefined ? { actions: c.actions } : {}) };
  const result = xlate(input);
  return { text: `# ${c.about}\n${formatTrace(input, result)}`, result };
}

for (const c of cases) {
  test(`trace golden: ${c.name}`, (t) => {
    const { text } = run(c);
    const file = join(DIR, `${c.name}.txt`);
    if (process.env.UPDATE_GOLDENS === '1') {
      mkdirSync(DIR, { recursive: true });
      writeFileSync(file, text);
    }
    t.true(existsSync(file), `no golden ${file} (UPDATE_GOLDENS=1 writes it)`);
    t.is(text, readFileSync(file, 'utf8'));
  });
}

test('facts behind the goldens', (t) => {
  const byName = new Map(cases.map((c) => [c.name, run(c).result]));
  const r = (n: string) => byName.get(n)!;
  t.deepEqual(r('ttl-invalid').actions.map((a) => a.type), ['output', 'userspace']);
  t.deepEqual(r('ttl-invalid-no-packet-in').actions, []);
  t.true(r('normal-unknown').deps.allPorts && r('normal-unknown').deps.macs);
  t.deepEqual(r('normal-unknown').learned, [{ vlan: 20, macHi: 0, macLo: 1, ofport: 1 }]);
  t.deepEqual(r('normal-known').actions, [{ type: 'output', port: 13 }]);
  t.deepEqual(r('normal-same-port').actions, []);
  t.deepEqual(r('normal-multicast-source').learned, []);
  t.deepEqual(r('group-ff').buckets, [{ groupId: 1, bucket: 2 }]);
  t.true(r('group-ff').deps.ports.has(2) && r('group-ff').deps.groups.has(9));
  t.deepEqual(r('meter').meters, [1]);
  t.is(r('meter').actions[0]!.type, 'meter');
  t.true(r('fail-open').deps.failOpen);
  t.is(r('table-miss-drop').tables.length, 2);
  t.is(r('table-miss-drop').tables[1]!.rule, undefined);
  t.deepEqual(r('table-miss-drop').actions, []);
  const cookie = (n: string) => r(n).actions.flatMap((a) => (a.type === 'userspace' ? [a.cookie] : a.type === 'clone' ? a.actions.flatMap((b) => (b.type === 'userspace' ? [b.cookie] : [])) : []));
  t.is(cookie('table-miss-controller')[0]!.reason, 0);
  t.is(cookie('table-miss-controller')[0]!.maxLen, 0xffff);
  t.like(cookie('controller')[0]!, { reason: 1, tableId: 2, cookie: 2n, maxLen: 200, metadata: 7n, inPort: 1, bridge: 'br0' });
  t.like(cookie('packet-out-table')[0]!, { reason: 1, tableId: 0xff, cookie: 0xffff_ffff_ffff_ffffn, inPort: OFPP.CONTROLLER });
  t.is(r('group-depth-limit').error, 'more than 64 nested levels');
  t.is(K.WORDS, 83);
});
