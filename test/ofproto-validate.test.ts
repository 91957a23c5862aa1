/**
 * FLOW_MOD and PACKET_OUT validation (src/ofproto/validate.ts): each refusal gives the error the
 * module's header documents, and the accepted forms are accepted.
 */

import test from 'ava';
import {
  OFPFC, OFPP, OFPAT, OFPIT, OFPET, ONF_EXPERIMENTER_ID, OFPE, decode, encode, errorName,
  type Action, type FlowMod, type Instruction,
} from '../src/openflow/index.js';
import { validateFlowMod, validatePacketOutActions, ofpErrorMessage, ONF_DUP_INST } from '../src/ofproto/validate.js';
import { isMatchError } from '../src/xlate/match.js';
import {
  fakeEnv, flowMod, applyActions, writeActions, clearActions, gotoTable, meter, output, group, setField, pushVlan,
  pushMpls, popMpls, pushPbb, bare, X, ethType, inPort, ip4,
} from './ofproto-helpers.js';

const env = fakeEnv();
const N = 255;

/** The error's name, or 'ok'. */
function check(fm: FlowMod, nTables = N): string {
  const r = validateFlowMod(fm, env, nTables);
  return isMatchError(r) ? errorName(r[0], r[1]) : 'ok';
}

const withActions = (actions: Action[], match = flowMod().match): string =>
  check(flowMod({ match, instructions: [applyActions(...actions)] }));

test('a plain flow-mod is valid and gives back its compiled match', (t) => {
  const r = validateFlowMod(flowMod({ match: [inPort(1)], instructions: [applyActions(output(2))] }), env, N);
  t.false(isMatchError(r));
  if (!isMatchError(r)) t.is(r.key[0], 1);
});

test('unknown command: FLOW_MOD_FAILED/BAD_COMMAND', (t) => {
  t.is(check(flowMod({ command: 5 })), 'FLOW_MOD_FAILED/BAD_COMMAND');
  t.is(check(flowMod({ command: 0xff })), 'FLOW_MOD_FAILED/BAD_COMMAND');
});

test('table 0xff only for DELETE and DELETE_STRICT; tables past the last are refused', (t) => {
  for (const command of [OFPFC.ADD, OFPFC.MODIFY, OFPFC.MODIFY_STRICT]) {
    t.is(check(flowMod({ command, tableId: 0xff })), 'FLOW_MOD_FAILED/BAD_TABLE_ID');
  }
  for (const command of [OFPFC.DELETE, OFPFC.DELETE_STRICT]) t.is(check(flowMod({ command, tableId: 0xff })), 'ok');
  t.is(check(flowMod({ tableId: 254 })), 'ok');
  t.is(check(flowMod({ tableId: 8 }), 8), 'FLOW_MOD_FAILED/BAD_TABLE_ID');
  t.is(check(flowMod({ tableId: 7 }), 8), 'ok');
  t.is(check(flowMod({ command: OFPFC.DELETE, tableId: 9 }), 8), 'FLOW_MOD_FAILED/BAD_TABLE_ID');
});

test('unknown flag bits: FLOW_MOD_FAILED/BAD_FLAGS; every known flag is fine', (t) => {
  t.is(check(flowMod({ flags: 1 << 5 })), 'FLOW_MOD_FAILED/BAD_FLAGS');
  t.is(check(flowMod({ flags: 1 << 15 })), 'FLOW_MOD_FAILED/BAD_FLAGS');
  t.is(check(flowMod({ flags: 0x1f })), 'ok');
});

test('match prerequisites and compile errors', (t) => {
  t.is(check(flowMod({ match: [{ field: X.IPV4_DST, value: '10.0.0.1' }] })), 'BAD_MATCH/BAD_PREREQ');
  t.is(check(flowMod({ match: [...ip4(), { field: X.TCP_DST, value: 80 }] })), 'BAD_MATCH/BAD_PREREQ');
  t.is(check(flowMod({ match: [{ oxmClass: 1, field: 3, value: new Uint8Array(1) }] })), 'BAD_MATCH/BAD_FIELD');
  t.is(check(flowMod({ match: [...ip4(), { field: X.IP_PROTO, value: 6 }, { field: X.TCP_DST, value: 80 }] })), 'ok');
  // DELETE checks its match too.
  t.is(check(flowMod({ command: OFPFC.DELETE, match: [{ field: X.TCP_DST, value: 80 }] })), 'BAD_MATCH/BAD_PREREQ');
});

test('an instruction type twice: the ONF duplicate-instruction error (as OVS on 1.3)', (t) => {
  const r = validateFlowMod(flowMod({ instructions: [applyActions(), applyActions()] }), env, N);
  t.deepEqual(r, ONF_DUP_INST);
  t.deepEqual(validateFlowMod(flowMod({ tableId: 0, instructions: [gotoTable(1), gotoTable(2)] }), env, N), ONF_DUP_INST);
  // It encodes as an experimenter error (type 0xffff, exp_code 2600, experimenter ONF) and decodes back.
  const msg = ofpErrorMessage(ONF_DUP_INST, 7, new Uint8Array(8));
  const back = decode(encode(msg));
  t.true(back.ok);
  if (back.ok) t.like(back.msg as object, { errType: OFPET.EXPERIMENTER, expCode: 2600, experimenter: ONF_EXPERIMENTER_ID, xid: 7 });
  const plain = decode(encode(ofpErrorMessage(OFPE.BAD_ACTION!.BAD_OUT_PORT!, 8, new Uint8Array(8))));
  t.true(plain.ok);
  if (plain.ok) t.like(plain.msg as object, { errType: 2, code: 4 });
});

test('experimenter and unknown instructions', (t) => {
  const exp: Instruction = { type: OFPIT.EXPERIMENTER, experimenter: 0x2320, data: new Uint8Array(4) };
  t.is(check(flowMod({ instructions: [exp] })), 'BAD_INSTRUCTION/BAD_EXPERIMENTER');
  t.is(check(flowMod({ instructions: [{ type: 9 } as unknown as Instruction] })), 'BAD_INSTRUCTION/UNKNOWN_INST');
  t.is(check(flowMod({ instructions: [{ type: OFPIT.CLEAR_ACTIONS, actions: [output(1)] }] })), 'BAD_INSTRUCTION/BAD_LEN');
});

test('goto_table only to a later table that exists', (t) => {
  t.is(check(flowMod({ tableId: 3, instructions: [gotoTable(3)] })), 'BAD_INSTRUCTION/BAD_TABLE_ID');
  t.is(check(flowMod({ tableId: 3, instructions: [gotoTable(1)] })), 'BAD_INSTRUCTION/BAD_TABLE_ID');
  t.is(check(flowMod({ tableId: 3, instructions: [gotoTable(4)] })), 'ok');
  t.is(check(flowMod({ tableId: 3, instructions: [gotoTable(8)] }), 8), 'BAD_INSTRUCTION/BAD_TABLE_ID');
  t.is(check(flowMod({ tableId: 253, instructions: [gotoTable(254)] })), 'ok');
  t.is(check(flowMod({ tableId: 254, instructions: [gotoTable(255)] })), 'BAD_INSTRUCTION/BAD_TABLE_ID');
});

test('meter instruction: the meter must exist (METER_MOD_FAILED/INVALID_METER, as OVS)', (t) => {
  t.is(check(flowMod({ instructions: [meter(1)] })), 'ok');
  t.is(check(flowMod({ instructions: [meter(2)] })), 'METER_MOD_FAILED/INVALID_METER');
});

test('output ports', (t) => {
  for (const p of [1, 2, 3, OFPP.IN_PORT, OFPP.NORMAL, OFPP.FLOOD, OFPP.ALL, OFPP.CONTROLLER, OFPP.LOCAL]) {
    t.is(withActions([output(p)]), 'ok', `port ${p}`);
    t.is(check(flowMod({ instructions: [writeActions(output(p))] })), 'ok', `write-actions port ${p}`);
  }
  for (const p of [0, 4, OFPP.ANY, OFPP.TABLE, 0xffffff01, 0xfffffff7]) {
    t.is(withActions([output(p)]), 'BAD_ACTION/BAD_OUT_PORT', `port ${p}`);
  }
  t.is(check(flowMod({ instructions: [writeActions(output(9))] })), 'BAD_ACTION/BAD_OUT_PORT');
});

test('packet-out actions: TABLE is allowed there, the rest as in a flow-mod', (t) => {
  t.is(validatePacketOutActions([output(OFPP.TABLE)], env), undefined);
  t.is(validatePacketOutActions([output(1), output(OFPP.FLOOD)], env), undefined);
  t.deepEqual(validatePacketOutActions([output(0)], env), OFPE.BAD_ACTION!.BAD_OUT_PORT);
  t.deepEqual(validatePacketOutActions([group(9)], env), OFPE.BAD_ACTION!.BAD_OUT_GROUP);
  t.deepEqual(validatePacketOutActions([pushVlan(0x0800)], env), OFPE.BAD_ACTION!.BAD_ARGUMENT);
  // Without the packet's headers set-field prerequisites are not checked; with them they are.
  t.is(validatePacketOutActions([setField(X.IPV4_DST, '10.0.0.1')], env), undefined);
  t.deepEqual(validatePacketOutActions([setField(X.IPV4_DST, '10.0.0.1')], env, [ethType(0x0806)]), OFPE.BAD_ACTION!.MATCH_INCONSISTENT);
  t.is(validatePacketOutActions([setField(X.IPV4_DST, '10.0.0.1')], env, ip4()), undefined);
});

test('group action: the group must exist', (t) => {
  t.is(withActions([group(1)]), 'ok');
  t.is(withActions([group(2)]), 'BAD_ACTION/BAD_OUT_GROUP');
  t.is(check(flowMod({ instructions: [writeActions(group(7))] })), 'BAD_ACTION/BAD_OUT_GROUP');
});

test('push ethertypes', (t) => {
  t.is(withActions([pushVlan(0x8100)]), 'ok');
  t.is(withActions([pushVlan(0x88a8)]), 'ok');
  t.is(withActions([pushVlan(0x0800)]), 'BAD_ACTION/BAD_ARGUMENT');
  t.is(withActions([pushMpls(0x8847)], ip4()), 'ok');
  t.is(withActions([pushMpls(0x8848)], ip4()), 'ok');
  t.is(withActions([pushMpls(0x8100)], ip4()), 'BAD_ACTION/BAD_ARGUMENT');
  t.is(withActions([pushPbb(0x88e7)]), 'ok');
  t.is(withActions([pushPbb(0x8100)]), 'BAD_ACTION/BAD_ARGUMENT');
});

test('set-field prerequisites against the match', (t) => {
  t.is(withActions([setField(X.IPV4_DST, '10.0.0.1')]), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([setField(X.IPV4_DST, '10.0.0.1')], ip4()), 'ok');
  t.is(withActions([setField(X.IPV4_DST, '10.0.0.1')], [ethType(0x86dd)]), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([setField(X.TCP_DST, 80)], ip4()), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([setField(X.TCP_DST, 80)], [...ip4(), { field: X.IP_PROTO, value: 6 }]), 'ok');
  t.is(withActions([setField(X.ETH_DST, '00:11:22:33:44:55'), output(1)]), 'ok');
  t.is(withActions([setField(X.TUNNEL_ID, 5n), setField(X.METADATA, 1n)]), 'ok');
  // The same check in write-actions.
  t.is(check(flowMod({ instructions: [writeActions(setField(X.IPV4_SRC, '10.0.0.1'))] })), 'BAD_ACTION/MATCH_INCONSISTENT');
  // ND fields need the ICMPv6 type; a set-field of icmpv6_type earlier in the list provides it.
  const icmp6 = [ethType(0x86dd), { field: X.IP_PROTO, value: 58 }];
  t.is(withActions([setField(X.IPV6_ND_TARGET, 'fe80::1')], icmp6), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([setField(X.ICMPV6_TYPE, 135), setField(X.IPV6_ND_TARGET, 'fe80::1')], icmp6), 'ok');
});

test('push/pop earlier in the list change what set-field may touch (as OVS)', (t) => {
  // VLAN: vlan_vid/vlan_pcp need a tag, which a push_vlan provides.
  t.is(withActions([setField(X.VLAN_VID, 0x1064)]), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([setField(X.VLAN_PCP, 3)]), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([pushVlan(), setField(X.VLAN_VID, 0x1064), setField(X.VLAN_PCP, 3)]), 'ok');
  t.is(withActions([setField(X.VLAN_VID, 0x1064)], [{ field: X.VLAN_VID, value: 0x1000, mask: 0x1000 }]), 'ok');
  // pop_vlan needs a tag and removes it.
  t.is(withActions([bare(OFPAT.POP_VLAN)]), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([bare(OFPAT.POP_VLAN)], [{ field: X.VLAN_VID, value: 0x1005 }]), 'ok');
  t.is(withActions([bare(OFPAT.POP_VLAN), setField(X.VLAN_PCP, 1)], [{ field: X.VLAN_VID, value: 0x1005 }]), 'BAD_ACTION/MATCH_INCONSISTENT');
  // MPLS: after push_mpls the IP header is payload, MPLS fields are settable.
  t.is(withActions([pushMpls(), setField(X.IPV4_DST, '10.0.0.1')], ip4()), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([setField(X.IPV4_DST, '10.0.0.1'), pushMpls(), setField(X.MPLS_LABEL, 10)], ip4()), 'ok');
  t.is(withActions([setField(X.MPLS_LABEL, 10)], ip4()), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([popMpls()], ip4()), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([popMpls(0x0800), setField(X.IPV4_DST, '10.0.0.1')], [ethType(0x8847)]), 'ok');
  t.is(withActions([bare(OFPAT.DEC_MPLS_TTL)], ip4()), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([{ type: OFPAT.SET_MPLS_TTL, mplsTtl: 3 }], [ethType(0x8848)]), 'ok');
  t.is(withActions([pushMpls(), bare(OFPAT.COPY_TTL_OUT)], ip4()), 'ok');
  // IP TTL needs IP.
  t.is(withActions([bare(OFPAT.DEC_NW_TTL)]), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([{ type: OFPAT.SET_NW_TTL, nwTtl: 9 }], [ethType(0x86dd)]), 'ok');
  // PBB.
  t.is(withActions([pushPbb(), setField(X.PBB_ISID, 77)]), 'ok');
  t.is(withActions([setField(X.PBB_ISID, 77)]), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([bare(OFPAT.POP_PBB)]), 'BAD_ACTION/MATCH_INCONSISTENT');
  t.is(withActions([bare(OFPAT.POP_PBB)], [ethType(0x88e7)]), 'ok');
  // A push in apply-actions counts for write-actions (they run later).
  t.is(check(flowMod({ instructions: [applyActions(pushVlan()), writeActions(setField(X.VLAN_VID, 0x1001))] })), 'ok');
});

test('set-field values: read-only fields, masks, ranges, OFPVID_PRESENT, other classes', (t) => {
  t.is(withActions([setField(X.ETH_TYPE, 0x0800)]), 'BAD_ACTION/BAD_SET_ARGUMENT');
  t.is(withActions([setField(X.IP_PROTO, 6)], ip4()), 'BAD_ACTION/BAD_SET_ARGUMENT');
  t.is(withActions([setField(X.MPLS_BOS, 1)], [ethType(0x8847)]), 'BAD_ACTION/BAD_SET_ARGUMENT');
  t.is(withActions([setField(X.IN_PHY_PORT, 1)], [inPort(1)]), 'BAD_ACTION/BAD_SET_ARGUMENT');
  t.is(withActions([pushVlan(), setField(X.VLAN_VID, 100)]), 'BAD_ACTION/BAD_SET_ARGUMENT');
  t.is(withActions([pushVlan(), setField(X.VLAN_PCP, 8)]), 'BAD_ACTION/BAD_SET_ARGUMENT');
  t.is(withActions([setField(X.IPV4_DST, 'not-an-address')], ip4()), 'BAD_ACTION/BAD_SET_ARGUMENT');
  t.is(withActions([{ type: OFPAT.SET_FIELD, field: { field: X.ETH_DST, value: '00:00:00:00:00:01', mask: 'ff:ff:ff:ff:ff:ff' } }]), 'BAD_ACTION/BAD_SET_ARGUMENT');
  t.is(withActions([{ type: OFPAT.SET_FIELD, field: { oxmClass: 1, field: 0, value: new Uint8Array(4) } }]), 'BAD_ACTION/BAD_SET_TYPE');
});

test('experimenter and unknown actions', (t) => {
  t.is(withActions([{ type: OFPAT.EXPERIMENTER, experimenter: 0x2320, data: new Uint8Array(8) }]), 'BAD_ACTION/BAD_EXPERIMENTER');
  t.is(withActions([{ type: 99 } as unknown as Action]), 'BAD_ACTION/BAD_TYPE');
});

test('write-actions may repeat an action type (the action set keeps the last, as OVS)', (t) => {
  t.is(check(flowMod({ instructions: [writeActions(output(1), output(2), setField(X.ETH_DST, '00:00:00:00:00:01'), setField(X.ETH_DST, '00:00:00:00:00:02'))] })), 'ok');
});

test('every instruction once together is fine', (t) => {
  t.is(check(flowMod({
    tableId: 1,
    instructions: [meter(1), applyActions(output(1)), clearActions(), writeActions(group(1), output(2)),
      { type: OFPIT.WRITE_METADATA, metadata: 0x10n, metadataMask: 0xf0n }, gotoTable(3)],
  })), 'ok');
});

test('a DELETE is not refused for its instructions (they are ignored)', (t) => {
  t.is(check(flowMod({ command: OFPFC.DELETE, instructions: [applyActions(output(0))] })), 'ok');
  t.is(check(flowMod({ command: OFPFC.DELETE_STRICT, instructions: [meter(99)] })), 'ok');
});
