/**
 * FLOW_MOD and PACKET_OUT validation: everything a switch must refuse before it touches a table,
 * with the OpenFlow 1.3 error the controller gets back.
 *
 * Why a separate step: a flow-mod is applied as one atomic change, so every check that can fail
 * runs first, on the message alone plus what exists in the switch (ports, groups, meters, the
 * number of tables). Nothing here mutates anything.
 *
 * The error chosen for each case, and where the choice comes from (OF = OpenFlow 1.3.5
 * specification, OVS = Open vSwitch's ofproto / ofp-actions behaviour):
 *   - unknown command                        FLOW_MOD_FAILED/BAD_COMMAND    OF §7.3.4.1, OVS
 *   - table id >= nTables, or 0xff (OFPTT_ALL) on anything but DELETE*
 *                                            FLOW_MOD_FAILED/BAD_TABLE_ID   OF §7.3.4.1 (OVS answers
 *                                            BAD_REQUEST/BAD_TABLE_ID for a table past its last)
 *   - unknown flag bits                      FLOW_MOD_FAILED/BAD_FLAGS      OF, OVS
 *   - missing prerequisite in the match      BAD_MATCH/BAD_PREREQ           OF §7.2.3.6, OVS
 *   - match not compilable                   BAD_MATCH/* from compileMatch
 *   - an instruction type twice              ONF experimenter error 2600 (EXT-260 "duplicate
 *                                            instruction"), as ONF_DUP_INST below: OVS sends that
 *                                            on 1.2/1.3 (OFPBIC_DUP_INST is a 1.4 code)
 *   - experimenter instruction               BAD_INSTRUCTION/BAD_EXPERIMENTER  OVS
 *   - unknown instruction type               BAD_INSTRUCTION/UNKNOWN_INST   OF
 *   - goto_table not to a later, existing table  BAD_INSTRUCTION/BAD_TABLE_ID  OF §5.1, OVS
 *   - meter instruction to a missing meter   METER_MOD_FAILED/INVALID_METER  OF (the code's text:
 *                                            "invalid meter in meter action"), OVS
 *   - output to 0, ANY, a reserved number that is no port, a port that does not exist, or TABLE
 *     outside a packet-out                   BAD_ACTION/BAD_OUT_PORT        OF §7.2.5 (TABLE "can
 *                                            only be used in packet-out"); OVS accepts TABLE and
 *                                            any port number below its maximum
 *   - group action to a missing group        BAD_ACTION/BAD_OUT_GROUP       OF, OVS
 *   - push_vlan not 0x8100/0x88a8, push_mpls not 0x8847/0x8848, push_pbb not 0x88e7
 *                                            BAD_ACTION/BAD_ARGUMENT        OF §7.2.5, OVS
 *   - set-field: non-basic field             BAD_ACTION/BAD_SET_TYPE        OVS
 *                read-only field (eth_type, ip_proto, mpls_bos, in_phy_port, ipv6_exthdr), a
 *                mask, a value out of range, or vlan_vid without OFPVID_PRESENT
 *                                            BAD_ACTION/BAD_SET_ARGUMENT    OVS (and OF 1.5's text
 *                                            for OFPVID_PRESENT)
 *                prerequisite not met by the match as changed by earlier push/pop actions, or
 *                vlan_vid/vlan_pcp with no VLAN tag
 *                                            BAD_ACTION/MATCH_INCONSISTENT  OF, OVS
 *   - pop_vlan with no tag, pop_mpls/set_mpls_ttl/dec_mpls_ttl/copy_ttl_* on a non-MPLS packet,
 *     set_nw_ttl/dec_nw_ttl on a non-IP packet, pop_pbb on a non-PBB packet
 *                                            BAD_ACTION/MATCH_INCONSISTENT  OVS (ofpacts_check)
 *   - experimenter action                    BAD_ACTION/BAD_EXPERIMENTER    OF, OVS (no experimenter
 *                                            actions are known to this switch)
 * Write-actions holding two actions of one type are accepted: the spec's action-set rule is
 * "if an action of the given type exists in the current set, overwrite it" (§5.10), and OVS
 * accepts such lists and keeps the last of each type; xlate must do the same.
 * A DELETE's instructions are ignored (the spec says they are), so they are not validated.
 */

import { OFPE } from '../../proto/errors.js';
import { OXM_FIELDS } from '../../proto/oxm.js';
import type { ErrorPair } from '../../proto/schema.js';
import {
  OFPAT, OFPFC, OFPFF, OFPIT, OFPP, OFPTT, OFPXMT, OFPET, isBasic, checkPrerequisites, wireFlowMod, prerequisitesHoldWire,
  type Action, type Instruction, type FlowMod, type Oxm, type OxmBasic,
} from '../openflow/index.js';
import { compileMatchScratch, compileWireMatch, isMatchError, matchError, type CompiledMatch } from '../xlate/match.js';

/** What validation needs to know about the switch. */
export interface ValidationEnv {
  portExists(port: number): boolean;
  groupExists(id: number): boolean;
  meterExists(id: number): boolean;
}

const FM = OFPE.FLOW_MOD_FAILED!;
const BA = OFPE.BAD_ACTION!;
const BI = OFPE.BAD_INSTRUCTION!;

/**
 * ONF extension EXT-260's "duplicate instruction" error (ONFBIC_DUP_INSTRUCTION), which Open
 * vSwitch sends on OpenFlow 1.2 and 1.3 where the specification has no code for it. The pair's
 * type is OFPET_EXPERIMENTER; by this module's convention an ErrorPair of that type is an ONF
 * experimenter error whose exp_code is the pair's code: ofpErrorMessage() builds it.
 */
export const ONF_DUP_INST: ErrorPair = [OFPET.EXPERIMENTER, 2600];

export { ofpErrorMessage } from './errors.js';

const KNOWN_FLAGS = OFPFF.SEND_FLOW_REM | OFPFF.CHECK_OVERLAP | OFPFF.RESET_COUNTS | OFPFF.NO_PKT_COUNTS | OFPFF.NO_BYT_COUNTS;

/**
 * Validates a flow-mod for a pipeline of `nTables` tables. Returns the compiled match (so the
 * caller does not compile it twice) or the error to answer with. The match's key is a scratch
 * array (compileMatchScratch) valid until the next call: copy it to keep it.
 *
 * A flow-mod that came from the wire fast path (WireFlowMod) is compiled from its OXM bytes
 * (compileWireMatch, which also says whether the rule need keep its match: `canonical`); when
 * that refuses it, the decoded OXMs go through the checks below, which give the exact error.
 */
export function validateFlowMod(fm: FlowMod, env: ValidationEnv, nTables: number): CompiledMatch | ErrorPair {
  const cmd = fm.command;
  if (cmd !== OFPFC.ADD && cmd !== OFPFC.MODIFY && cmd !== OFPFC.MODIFY_STRICT && cmd !== OFPFC.DELETE && cmd !== OFPFC.DELETE_STRICT) {
    return FM.BAD_COMMAND!;
  }
  const isDelete = cmd === OFPFC.DELETE || cmd === OFPFC.DELETE_STRICT;
  if (fm.tableId === OFPTT.ALL ? !isDelete : !(fm.tableId >= 0 && fm.tableId < nTables)) return FM.BAD_TABLE_ID!;
  if ((fm.flags & ~KNOWN_FLAGS) !== 0) return FM.BAD_FLAGS!;
  const w = wireFlowMod(fm);
  let cm: CompiledMatch | undefined = w !== undefined && prerequisitesHoldWire(w.wire, w.oxmStart, w.oxmEnd)
    ? compileWireMatch(w.wire, w.oxmStart, w.oxmEnd) : undefined;
  if (cm === undefined) {
    const pre = checkPrerequisites(fm.match);
    if (pre !== undefined) return pre;
    const c = compileMatchScratch(fm.match);
    if (isMatchError(c)) return c;
    cm = c;
  }
  if (!isDelete) {
    const err = validateInstructions(fm.instructions, fm.tableId, fm, env, nTables);
    if (err !== undefined) return err;
  }
  return cm;
}

/** Bit per standard instruction type (1..6), for the at-most-once rule. */
const instBit = (type: number): number => 1 << type;

/**
 * The instruction list of a flow entry in table `tableId` whose match is `of.match`.
 * Order of checks (which error wins when there are several): the list's shape (duplicates,
 * unknown and experimenter types), then apply-actions and write-actions in that order (as the
 * pipeline runs them), then goto_table, then the meter.
 */
export function validateInstructions(
  insts: readonly Instruction[], tableId: number, of: { readonly match: readonly Oxm[] }, env: ValidationEnv, nTables: number,
): ErrorPair | undefined {
  let seen = 0;
  let apply: readonly Action[] | undefined;
  let write: readonly Action[] | undefined;
  let gotoTable = -1;
  let meter = -1;
  for (const inst of insts) {
    const t = inst.type as number;
    if (t === OFPIT.EXPERIMENTER) return BI.BAD_EXPERIMENTER!;
    if (!(t >= OFPIT.GOTO_TABLE && t <= OFPIT.METER)) return BI.UNKNOWN_INST!;
    if ((seen & instBit(t)) !== 0) return ONF_DUP_INST;
    seen |= instBit(t);
    switch (inst.type) {
      case OFPIT.APPLY_ACTIONS: apply = inst.actions; break;
      case OFPIT.WRITE_ACTIONS: write = inst.actions; break;
      case OFPIT.CLEAR_ACTIONS: if (inst.actions.length !== 0) return BI.BAD_LEN!; break;
      case OFPIT.GOTO_TABLE: gotoTable = inst.tableId; break;
      case OFPIT.METER: meter = inst.meterId; break;
      default: break;
    }
  }
  if (apply !== undefined || write !== undefined) {
    // One state through both lists: write-actions run after this table's apply-actions, so a
    // push_vlan there makes a later vlan set-field consistent (OVS checks them the same way).
    // Most rules only output or go to groups: the match state (a Map) is built only when an
    // action depends on or changes the headers, which saves its allocation on the common path.
    // `of.match` is read only then: a wire flow-mod's match is decoded on first read.
    const state = needsState(apply) || needsState(write) ? matchState(of.match) : undefined;
    if (apply !== undefined) {
      const err = checkActions(apply, env, false, state);
      if (err !== undefined) return err;
    }
    if (write !== undefined) {
      const err = checkActions(write, env, false, state);
      if (err !== undefined) return err;
    }
  }
  if (gotoTable >= 0 && (gotoTable <= tableId || gotoTable >= nTables)) return BI.BAD_TABLE_ID!;
  if (meter >= 0 && !env.meterExists(meter)) return OFPE.METER_MOD_FAILED!.INVALID_METER!;
  return undefined;
}

/**
 * The action list of a PACKET_OUT: like a flow-mod's, except that output to TABLE is allowed.
 * There is no match; when the caller has the packet's headers as OXMs (say, matchFromKey of the
 * extracted flow) it passes them as `match` and set-field prerequisites are checked against them,
 * as OVS does against the packet; without it only the match-independent checks run.
 */
export function validatePacketOutActions(actions: readonly Action[], env: ValidationEnv, match?: readonly Oxm[]): ErrorPair | undefined {
  return checkActions(actions, env, true, match === undefined ? undefined : matchState(match));
}

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

/**
 * What is known about the packet at a point of an action list: the match's basic fields by
 * field number, updated as push/pop/set-field actions change the headers.
 */
type State = Map<number, OxmBasic>;

function needsState(actions: readonly Action[] | undefined): boolean {
  if (actions !== undefined) {
    for (const a of actions) if (a.type !== OFPAT.OUTPUT && a.type !== OFPAT.GROUP && a.type !== OFPAT.SET_QUEUE) return true;
  }
  return false;
}

function matchState(match: readonly Oxm[]): State {
  const s: State = new Map();
  for (const x of match) if (isBasic(x)) s.set(x.field, x);
  return s;
}

const X = OFPXMT;
const ETH_VLAN = [0x8100, 0x88a8];
const ETH_MPLS = [0x8847, 0x8848];
const ETH_IP = [0x0800, 0x86dd];
const ETH_PBB = 0x88e7;

/** Fields a set-field may not write: they describe the packet's structure, not a value in it. */
const READ_ONLY = new Set<number>([X.ETH_TYPE, X.IP_PROTO, X.MPLS_BOS, X.IN_PHY_PORT, X.IPV6_EXTHDR]);

function ethTypeIn(s: State, types: readonly number[]): boolean {
  const e = s.get(X.ETH_TYPE);
  return e !== undefined && e.mask === undefined && types.includes(e.value as number);
}

function vlanPresent(s: State): boolean {
  const v = s.get(X.VLAN_VID);
  if (v === undefined) return false;
  const m = v.mask === undefined ? 0x1fff : (v.mask as number);
  return ((v.value as number) & m & 0x1000) !== 0;
}

/** The field's prerequisites against the state (the rule of checkPrerequisites). */
function prereqsMet(field: number, s: State): boolean {
  for (const pre of OXM_FIELDS[field]?.prereqs ?? []) {
    const have = s.get(pre.field);
    if (have === undefined) return false;
    if (pre.values !== undefined && (have.mask !== undefined || !pre.values.includes(have.value as number))) return false;
    if (pre.bits !== undefined) {
      const m = have.mask === undefined ? 0xffff : (have.mask as number);
      if (((have.value as number) & m & pre.bits) !== pre.bits) return false;
    }
  }
  return true;
}

const PRESENT = { field: X.VLAN_VID, value: 0x1000, mask: 0x1000 } as const;

function setEthType(s: State, ethertype: number): void {
  s.set(X.ETH_TYPE, { field: X.ETH_TYPE, value: ethertype });
  // The old L3/L4 headers are now payload (or gone): nothing may be assumed about them.
  s.delete(X.IP_PROTO);
  s.delete(X.ICMPV6_TYPE);
}

/**
 * Checks an action list. `state` is undefined when there is nothing to be consistent with (a
 * packet-out without headers); otherwise it is updated in place as the list is walked.
 */
function checkActions(actions: readonly Action[], env: ValidationEnv, packetOut: boolean, state: State | undefined): ErrorPair | undefined {
  const inconsistent = BA.MATCH_INCONSISTENT!;
  for (const a of actions) {
    switch (a.type) {
      case OFPAT.OUTPUT: {
        const err = checkOutPort(a.port, env, packetOut);
        if (err !== undefined) return err;
        break;
      }
      case OFPAT.GROUP:
        if (!env.groupExists(a.groupId)) return BA.BAD_OUT_GROUP!;
        break;
      case OFPAT.SET_QUEUE:
        break;
      case OFPAT.PUSH_VLAN:
        if (!ETH_VLAN.includes(a.ethertype)) return BA.BAD_ARGUMENT!;
        if (state !== undefined) {
          state.set(X.VLAN_VID, PRESENT);
          state.delete(X.VLAN_PCP);
        }
        break;
      case OFPAT.POP_VLAN:
        if (state !== undefined) {
          if (!vlanPresent(state)) return inconsistent;
          // The key keeps one VLAN tag's worth of match: after a pop the next tag is unknown.
          state.delete(X.VLAN_VID);
          state.delete(X.VLAN_PCP);
        }
        break;
      case OFPAT.PUSH_MPLS:
        if (!ETH_MPLS.includes(a.ethertype)) return BA.BAD_ARGUMENT!;
        if (state !== undefined) setEthType(state, a.ethertype);
        break;
      case OFPAT.POP_MPLS:
        if (state !== undefined) {
          if (!ethTypeIn(state, ETH_MPLS)) return inconsistent;
          setEthType(state, a.ethertype);
        }
        break;
      case OFPAT.PUSH_PBB:
        if (a.ethertype !== ETH_PBB) return BA.BAD_ARGUMENT!;
        if (state !== undefined) {
          setEthType(state, ETH_PBB);
          // The new outer Ethernet header carries no VLAN tag: the old tags are inside the I-TAG.
          state.delete(X.VLAN_VID);
          state.delete(X.VLAN_PCP);
        }
        break;
      case OFPAT.POP_PBB:
        if (state !== undefined) {
          if (!ethTypeIn(state, [ETH_PBB])) return inconsistent;
          // The inner frame is unknown.
          state.delete(X.ETH_TYPE);
          state.delete(X.VLAN_VID);
          state.delete(X.VLAN_PCP);
          state.delete(X.IP_PROTO);
          state.delete(X.ICMPV6_TYPE);
        }
        break;
      case OFPAT.SET_MPLS_TTL:
      case OFPAT.DEC_MPLS_TTL:
      case OFPAT.COPY_TTL_IN:
      case OFPAT.COPY_TTL_OUT:
        if (state !== undefined && !ethTypeIn(state, ETH_MPLS)) return inconsistent;
        break;
      case OFPAT.SET_NW_TTL:
      case OFPAT.DEC_NW_TTL:
        if (state !== undefined && !ethTypeIn(state, ETH_IP)) return inconsistent;
        break;
      case OFPAT.SET_FIELD: {
        const err = checkSetField(a.field, state);
        if (err !== undefined) return err;
        break;
      }
      case OFPAT.EXPERIMENTER:
        return BA.BAD_EXPERIMENTER!;
      default:
        return BA.BAD_TYPE!;
    }
  }
  return undefined;
}

function checkOutPort(port: number, env: ValidationEnv, packetOut: boolean): ErrorPair | undefined {
  switch (port) {
    case OFPP.IN_PORT:
    case OFPP.NORMAL:
    case OFPP.FLOOD:
    case OFPP.ALL:
    case OFPP.CONTROLLER:
    case OFPP.LOCAL:
      return undefined;
    case OFPP.TABLE:
      return packetOut ? undefined : BA.BAD_OUT_PORT!;
    default:
      // 0 and ANY are never ports; numbers between OFPP_MAX and the reserved ones are unused.
      return port >= 1 && port <= OFPP.MAX && env.portExists(port) ? undefined : BA.BAD_OUT_PORT!;
  }
}

function checkSetField(x: Oxm, state: State | undefined): ErrorPair | undefined {
  if (!isBasic(x) || OXM_FIELDS[x.field] === undefined) return BA.BAD_SET_TYPE!;
  const f = x.field;
  if (READ_ONLY.has(f) || x.mask !== undefined) return BA.BAD_SET_ARGUMENT!;
  // The value must be one a match could hold: the match compiler checks form and width exactly as
  // the match path does (matchError builds no key or mask).
  if (matchError([x]) !== undefined) return BA.BAD_SET_ARGUMENT!;
  if (f === X.VLAN_VID && ((x.value as number) & 0x1000) === 0) return BA.BAD_SET_ARGUMENT!;
  if (state !== undefined) {
    if (!prereqsMet(f, state)) return BA.MATCH_INCONSISTENT!;
    if (f === X.VLAN_VID && !vlanPresent(state)) return BA.MATCH_INCONSISTENT!;
    // The field now holds a known, exact value (an icmpv6_type set-field decides which ND
    // fields may follow, for instance).
    state.set(f, x);
  }
  return undefined;
}
