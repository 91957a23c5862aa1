/**
 * ofproto/trace text: what a translation did, for people and for golden tests.
 *
 * xlate (with input.trace) records one line per step as it goes (tables and rules hit, each
 * instruction and action, what an output or NORMAL decided); formatTrace puts them between the
 * input flow and the summary, in the shape of Open vSwitch's ofproto/trace:
 *
 *   Flow: in_port=1,dl_src=…,dl_type=0x0800,…
 *
 *   bridge("br0")
 *   -------------
 *    0. in_port=1, priority 100, cookie 0x1
 *       apply_actions:
 *         output:2
 *          -> output to port 2
 *
 *   Final flow: unchanged
 *   Megaflow: in_port=1,dl_type=0x0800
 *   Datapath actions: 2
 *
 * The format is ours (not byte-for-byte OVS's) and golden tests compare it exactly: change it
 * only together with test/fixtures/trace. OpenFlow actions print in ovs-ofctl's syntax
 * (output:2, set_field:10.0.0.1->ipv4_dst, push_vlan:0x8100, group:1), reserved ports by name.
 */

import { OXM_FIELDS } from '../../proto/oxm.js';
import { OFPAT, OFPIT, OFPP, isBasic, type Action, type Instruction, type Oxm } from '../openflow/index.js';
import { applyMask, equalKeys, K } from '../packet/key.js';
import { formatKey as fmtKey } from '../packet/extract.js';
import { formatActions } from '../dpif/odp.js';
import type { XlateInput, XlateResult } from './types.js';


const RESERVED: ReadonlyMap<number, string> = new Map([
  [OFPP.IN_PORT, 'IN_PORT'], [OFPP.TABLE, 'TABLE'], [OFPP.NORMAL, 'NORMAL'], [OFPP.FLOOD, 'FLOOD'],
  [OFPP.ALL, 'ALL'], [OFPP.CONTROLLER, 'CONTROLLER'], [OFPP.LOCAL, 'LOCAL'], [OFPP.ANY, 'ANY'],
]);

/** An OpenFlow port number: decimal, or the reserved port's name. */
export function formatPort(port: number): string {
  return RESERVED.get(port) ?? String(port);
}

export const GROUP_TYPE_NAMES: readonly string[] = ['all', 'select', 'indirect', 'ff'];

export function formatGroupType(t: number): string {
  return GROUP_TYPE_NAMES[t] ?? `type${t}`;
}

function oxmValueText(x: Oxm): string {
  if (!isBasic(x)) return '?';
  const v = x.value;
  const def = OXM_FIELDS[x.field];
  const text = (y: unknown): string => (typeof y === 'bigint' ? `0x${y.toString(16)}` : typeof y === 'number' && def?.name === 'eth_type' ? `0x${y.toString(16)}` : String(y));
  return x.mask === undefined ? text(v) : `${text(v)}/${text(x.mask)}`;
}

function oxmName(x: Oxm): string {
  return isBasic(x) ? (OXM_FIELDS[x.field]?.name ?? `field${x.field}`) : 'experimenter';
}

/** A match as `field=value[/mask]` joined by commas; the empty match is `any`. */
export function formatMatch(match: readonly Oxm[]): string {
  return match.length === 0 ? 'any' : match.map((x) => `${oxmName(x)}=${oxmValueText(x)}`).join(',');
}

/** One OpenFlow action in ovs-ofctl's syntax. */
export function formatOfAction(a: Action): string {
  switch (a.type) {
    case OFPAT.OUTPUT: return a.port === OFPP.CONTROLLER ? `output:CONTROLLER:${a.maxLen}` : `output:${formatPort(a.port)}`;
    case OFPAT.COPY_TTL_OUT: return 'copy_ttl_out';
    case OFPAT.COPY_TTL_IN: return 'copy_ttl_in';
    case OFPAT.SET_MPLS_TTL: return `set_mpls_ttl:${a.mplsTtl}`;
    case OFPAT.DEC_MPLS_TTL: return 'dec_mpls_ttl';
    case OFPAT.PUSH_VLAN: return `push_vlan:0x${a.ethertype.toString(16)}`;
    case OFPAT.POP_VLAN: return 'pop_vlan';
    case OFPAT.PUSH_MPLS: return `push_mpls:0x${a.ethertype.toString(16)}`;
    case OFPAT.POP_MPLS: return `pop_mpls:0x${a.ethertype.toString(16)}`;
    case OFPAT.SET_QUEUE: return `set_queue:${a.queueId}`;
    case OFPAT.GROUP: return `group:${a.groupId}`;
    case OFPAT.SET_NW_TTL: return `set_nw_ttl:${a.nwTtl}`;
    case OFPAT.DEC_NW_TTL: return 'dec_nw_ttl';
    case OFPAT.SET_FIELD: return `set_field:${oxmValueText(a.field)}->${oxmName(a.field)}`;
    case OFPAT.PUSH_PBB: return `push_pbb:0x${a.ethertype.toString(16)}`;
    case OFPAT.POP_PBB: return 'pop_pbb';
    default: return `experimenter:0x${(a as { experimenter: number }).experimenter.toString(16)}`;
  }
}

export function formatOfActions(actions: readonly Action[]): string {
  return actions.length === 0 ? '(none)' : actions.map(formatOfAction).join(',');
}

/** One instruction's head line (apply/write print their actions as they run or are written). */
export function formatInstruction(i: Instruction): string {
  switch (i.type) {
    case OFPIT.GOTO_TABLE: return `goto_table:${i.tableId}`;
    case OFPIT.WRITE_METADATA: return `write_metadata:0x${i.metadata.toString(16)}/0x${i.metadataMask.toString(16)}`;
    case OFPIT.WRITE_ACTIONS: return `write_actions(${formatOfActions(i.actions)})`;
    case OFPIT.APPLY_ACTIONS: return 'apply_actions:';
    case OFPIT.CLEAR_ACTIONS: return 'clear_actions';
    case OFPIT.METER: return `meter:${i.meterId}`;
    default: return 'experimenter instruction (ignored)';
  }
}

export interface TraceFormatOptions {
  /** Leave out the "Flow:" line (the caller printed the packet some other way). */
  readonly noFlowLine?: boolean;
}

/** The whole ofproto/trace text for a translation (see the header for the shape). */
export function formatTrace(input: XlateInput, result: XlateResult, opts: TraceFormatOptions = {}): string {
  const out: string[] = [];
  if (opts.noFlowLine !== true) out.push(`Flow: ${fmtKey(input.flow)}`, '');
  const title = `bridge("${input.bridge.name}")`;
  out.push(title, '-'.repeat(title.length));
  if (result.trace !== undefined) out.push(...result.trace);
  out.push('');
  out.push(equalKeys(result.finalFlow, input.flow) ? 'Final flow: unchanged' : `Final flow: ${fmtKey(result.finalFlow)}`);
  const masked = applyMask(new Uint32Array(K.WORDS), input.flow, result.mask);
  out.push(`Megaflow: ${fmtKey(masked, result.mask)}`);
  if (result.error !== undefined) out.push(`Translation failed: ${result.error}`);
  out.push(`Datapath actions: ${formatActions(result.actions)}`);
  return out.join('\n') + '\n';
}
