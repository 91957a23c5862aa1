/**
 * Translation: the OpenFlow 1.3 pipeline of one bridge, run on a flow, becomes datapath (ODP)
 * actions plus the megaflow mask, the rules, buckets and meters used, the MAC learning NORMAL
 * asks for, and what the result depends on (types.ts). A pure function: it reads the XBridge and
 * the input, changes neither, and gives the same result for the same bridge state and flow.
 *
 * Semantics (OF = OpenFlow 1.3.5; OVS = Open vSwitch's ofproto-dpif-xlate.c, where OF leaves a
 * choice):
 * - Pipeline (OF §5.1, §5.9): table 0 first; a rule's instructions run in OF's order whatever
 *   order they came in: meter, apply-actions, clear-actions, write-actions, write-metadata,
 *   goto-table (forward only; a backward goto is ignored). Without goto the action set runs.
 *   A table miss without a table-miss rule drops the packet and discards the action set (OF
 *   1.3 §5.4), except a miss in table 0 of a fail-open bridge, which acts as NORMAL.
 * - Action set (OF §5.10): one action per type (the last written wins), set-fields one per
 *   field; run in OF's order: copy_ttl_in, pops (vlan, pbb, mpls: outer to inner), push_mpls,
 *   push_pbb, push_vlan, copy_ttl_out, dec TTLs (mpls, nw), sets (mpls_ttl, nw_ttl, set-fields
 *   in field-number order), set_queue (ignored: no queues), then group, else output.
 * - Group buckets run as action sets too (OF calls a bucket's actions an action set; OVS's
 *   xlate_group_bucket orders them the same way), each on a copy of the packet: nothing a bucket
 *   changes is seen after the group action. A bucket that changes the packet is wrapped in a
 *   `clone`; one that only outputs is emitted inline. SELECT: weighted rendezvous hashing (for
 *   each live bucket of weight w, score = w / -ln(u), u a 32-bit hash of the flow's hash and the
 *   bucket index mapped into (0,1); the highest score wins): bucket i is chosen with probability
 *   w_i / Σw, removing a bucket moves only that bucket's flows, and nothing depends on the order
 *   of buckets. The hash covers eth src/dst, eth_type, the outer VLAN VID, IPv4/IPv6 src/dst and
 *   ip_proto, and TCP/UDP/SCTP ports (not for later fragments); exactly those are un-wildcarded.
 *   FAST_FAILOVER: the first live bucket; liveness as OVS: watch_port exists, is not PORT_DOWN
 *   and not LINK_DOWN, and watch_group has a live bucket (recursively, within the depth limit).
 * - Outputs skip the input port unless the action says IN_PORT (OF §5.12), and skip ports that
 *   do not exist or have PORT_DOWN or NO_FWD. FLOOD: every other port without NO_FWD/PORT_DOWN
 *   and not LINK_DOWN; ALL: every other port without PORT_DOWN. TABLE (packet-out only) runs the
 *   pipeline from table 0 on a copy of the packet, like an output. CONTROLLER and TTL expiry
 *   emit a `userspace` action (skipped when the input port has NO_PACKET_IN); a TTL decrement
 *   that finds TTL <= 1 sends INVALID_TTL and stops the translation (no further actions, no
 *   action set), as OVS's compose_dec_ttl does.
 * - Packet-in cookies outside a rule (packet-out) say table 0xff (OFPTT_ALL: no table was
 *   looked up, which a controller cannot mistake for table 0) and cookie all ones (OF: "-1 if
 *   the packet was not sent because of a flow entry").
 * - Header changes are committed lazily (commit.ts): before every output, userspace, clone,
 *   push, pop and meter.
 * - Megaflow: K.IN_PORT, K.ETH_TYPE and the parse-state bits of K.FLAGS always, plus every bit a
 *   lookup examined and every field an action read (TTLs for dec/copy TTL, the fields a
 *   set-field's prerequisites name, the SELECT hash fields, NORMAL's addresses and VLAN, the IP
 *   TTL a push_mpls copies, the VLAN PCP a push_pbb copies), traced back through pushes and pops
 *   to the input word they came from and left out where an action had set them (commit.ts).
 * - Limits: 64 nested levels (group in group, output:TABLE), 4096 lookups, 4096 ODP actions.
 *   Past one, the result is a drop with `error` saying which.
 * - Headers the key never held: popping an input MPLS label down to its payload, or an input
 *   PBB header, leaves the inner headers unparsed (OVS recirculates to parse them; we have no
 *   recirculation yet). Their flow words read as zero, later matches see zeros, and set-field
 *   or TTL actions on them are skipped (the trace says so). Outputs still work.
 */

import { OFPAT, OFPIT, OFPG, OFPGT, OFPP, OFPPC, OFPPS, OFPR, OFPTT, OFPXMT, isBasic, type Action, type Bucket, type Instruction, type Oxm } from '../openflow/index.js';
import { K, FRAG, hashMasked, newKey, type FlowKey, type FlowMask } from '../packet/key.js';
import type { ControllerCookie, OdpAction } from '../dpif/odp.js';
import { formatActions } from '../dpif/odp.js';
import { FlowState, ETH, FLAGS_PARSE_MASK, OPAQUE, READ_ONLY_FIELDS } from './commit.js';
import { orFieldMask, setFieldInKey } from './match.js';
import { formatGroupType, formatInstruction, formatMatch, formatOfAction, formatOfActions, formatPort } from './trace.js';
import type { BucketUse, MacLearn, TableVisit, XBridge, XGroup, XlateInput, XlateResult, XPort, XRule } from './types.js';

export const XLATE_LIMITS = { depth: 64, lookups: 4096, actions: 4096 } as const;

/** Trace note for headers left unparsed (see the header); tests look for it. */
export const UNPARSED_NOTE = 'headers behind the popped one are not parsed';

const ALL_COOKIE = 0xffff_ffff_ffff_ffffn;
const IPPROTO_TCP = 6, IPPROTO_UDP = 17, IPPROTO_SCTP = 132, IPPROTO_ICMP = 1, IPPROTO_ICMPV6 = 58;

/** Thrown inside a translation when a limit is passed; caught by xlate(). */
class LimitError extends Error {}

interface Ctx {
  readonly bridge: XBridge;
  readonly inPort: number;
  readonly lines: string[] | undefined;
  indent: number;
  st: FlowState;
  readonly mask: FlowMask;
  out: OdpAction[];
  nActions: number;
  depth: number;
  lookups: number;
  readonly tables: TableVisit[];
  readonly buckets: BucketUse[];
  readonly meters: number[];
  readonly learned: MacLearn[];
  readonly groups: Set<number>;
  readonly ports: Set<number>;
  allPorts: boolean;
  macs: boolean;
  failOpen: boolean;
  /** A lookup saw a flow the translation had changed (see XlateResult.lookupSawChanges). */
  sawChange: boolean;
  rule: XRule | undefined;
  tableId: number;
  readonly packetOut: boolean;
  /** INVALID_TTL: stop everything. */
  exit: boolean;
}

/** Translates `input` (see the header and types.ts). */
export function xlate(input: XlateInput): XlateResult {
  const mask = newKey();
  mask[K.IN_PORT] = 0xffffffff;
  mask[K.ETH_TYPE] = 0xffffffff;
  mask[K.FLAGS] = FLAGS_PARSE_MASK;
  const ctx: Ctx = {
    bridge: input.bridge, inPort: input.flow[K.IN_PORT]!, lines: input.trace === true ? [] : undefined, indent: 0,
    st: new FlowState(input.flow), mask, out: [], nActions: 0, depth: 0, lookups: 0,
    tables: [], buckets: [], meters: [], learned: [], groups: new Set(), ports: new Set(),
    allPorts: false, macs: false, failOpen: false, sawChange: false, rule: undefined, tableId: OFPTT.ALL,
    packetOut: input.actions !== undefined, exit: false,
  };
  let error: string | undefined;
  try {
    if (input.actions !== undefined) {
      if (ctx.lines !== undefined) note(ctx, `packet-out actions: ${formatOfActions(input.actions)}`);
      ctx.indent++;
      doActions(ctx, input.actions);
      ctx.indent--;
    } else {
      runPipeline(ctx, 0);
    }
  } catch (e) {
    if (!(e instanceof LimitError)) throw e;
    error = e.message;
    ctx.indent = 0;
    if (ctx.lines !== undefined) note(ctx, `>>>> ${error}: dropping <<<<`);
  }
  const result: XlateResult = {
    actions: error === undefined ? ctx.out : [],
    mask,
    finalFlow: ctx.st.flow,
    tables: ctx.tables,
    buckets: ctx.buckets,
    meters: ctx.meters,
    learned: error === undefined ? ctx.learned : [],
    deps: { groups: ctx.groups, ports: ctx.ports, allPorts: ctx.allPorts, macs: ctx.macs, failOpen: ctx.failOpen },
    lookupSawChanges: ctx.sawChange,
    ...(error !== undefined ? { error } : {}),
    ...(ctx.lines !== undefined ? { trace: ctx.lines } : {}),
  };
  return result;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

function note(ctx: Ctx, text: string): void {
  if (ctx.lines !== undefined) ctx.lines.push(' '.repeat(4 + 2 * ctx.indent) + text);
}

function emit(ctx: Ctx, a: OdpAction): void {
  if (++ctx.nActions > XLATE_LIMITS.actions) throw new LimitError(`more than ${XLATE_LIMITS.actions} datapath actions`);
  ctx.out.push(a);
}

function commit(ctx: Ctx): void {
  ctx.st.commit((a) => emit(ctx, a));
}

function enter(ctx: Ctx): void {
  if (ctx.depth >= XLATE_LIMITS.depth) throw new LimitError(`more than ${XLATE_LIMITS.depth} nested levels`);
  ctx.depth++;
}

/** A port's config/state (recorded as a dependency), or undefined when there is none. */
function portOf(ctx: Ctx, ofport: number): XPort | undefined {
  ctx.ports.add(ofport);
  return ctx.bridge.port(ofport);
}

const macText = (hi: number, lo: number): string =>
  [(hi >>> 8) & 0xff, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff]
    .map((b) => b.toString(16).padStart(2, '0')).join(':');

// ---------------------------------------------------------------------------------------------
// The pipeline
// ---------------------------------------------------------------------------------------------

const wcScratch = new Uint32Array(K.WORDS);

/** Instruction types in the order OF §5.9 runs them. */
const INSTRUCTION_ORDER = [OFPIT.METER, OFPIT.APPLY_ACTIONS, OFPIT.CLEAR_ACTIONS, OFPIT.WRITE_ACTIONS, OFPIT.WRITE_METADATA, OFPIT.GOTO_TABLE];

/**
 * True when the flow a lookup sees is not the input's own anywhere (a word written or moved).
 * Not only the bits this lookup examined: a rule added later may examine any of them.
 */
function sawChange(st: FlowState): boolean {
  for (let w = 0; w < K.WORDS; w++) if (st.written[w] !== 0 || st.origin[w] !== w) return true;
  return false;
}

function runPipeline(ctx: Ctx, start: number): void {
  const set = new ActionSet();
  let tableId = start;
  for (;;) {
    if (++ctx.lookups > XLATE_LIMITS.lookups) throw new LimitError(`more than ${XLATE_LIMITS.lookups} table lookups`);
    const wc = wcScratch.fill(0);
    const rule = tableId < ctx.bridge.nTables ? ctx.bridge.lookup(tableId, ctx.st.flow, wc) : undefined;
    ctx.st.readAll(ctx.mask, wc);
    if (!ctx.sawChange) ctx.sawChange = sawChange(ctx.st);
    ctx.tables.push({ tableId, rule });
    const head = `${' '.repeat(2 * ctx.indent)}${String(tableId).padStart(2)}. `;
    if (rule === undefined) {
      if (ctx.lines !== undefined) ctx.lines.push(`${head}No match.`);
      if (tableId === 0) ctx.failOpen = true;
      if (tableId === 0 && ctx.bridge.failOpen) {
        note(ctx, 'fail-open: NORMAL');
        ctx.rule = undefined;
        ctx.tableId = 0;
        doNormal(ctx);
      } else {
        note(ctx, 'drop (table miss)');
      }
      return;
    }
    ctx.rule = rule;
    ctx.tableId = tableId;
    if (ctx.lines !== undefined) {
      const m = rule.match === undefined ? '' : `${formatMatch(rule.match)}, `;
      ctx.lines.push(`${head}${m}priority ${rule.priority}, cookie 0x${rule.cookie.toString(16)}`);
    }
    let next = -1;
    for (const type of INSTRUCTION_ORDER) {
      const inst = rule.instructions.find((i) => i.type === type);
      if (inst === undefined) continue;
      next = doInstruction(ctx, inst, set, tableId, next);
      if (ctx.exit) return;
    }
    if (next < 0) break;
    tableId = next;
  }
  const actions = set.ordered();
  if (actions.length > 0) {
    if (ctx.lines !== undefined) note(ctx, `action set: ${formatOfActions(actions)}`);
    ctx.indent++;
    doActions(ctx, actions);
    ctx.indent--;
  }
}

/** Runs one instruction; returns the table to go to next (-1: none). */
function doInstruction(ctx: Ctx, inst: Instruction, set: ActionSet, tableId: number, next: number): number {
  if (ctx.lines !== undefined) note(ctx, formatInstruction(inst));
  switch (inst.type) {
    case OFPIT.METER:
      commit(ctx);
      emit(ctx, { type: 'meter', meterId: inst.meterId });
      ctx.meters.push(inst.meterId);
      return next;
    case OFPIT.APPLY_ACTIONS:
      ctx.indent++;
      doActions(ctx, inst.actions);
      ctx.indent--;
      return next;
    case OFPIT.CLEAR_ACTIONS:
      set.clear();
      return next;
    case OFPIT.WRITE_ACTIONS:
      set.write(inst.actions);
      return next;
    case OFPIT.WRITE_METADATA: {
      const f = ctx.st.flow;
      const hiM = Number(inst.metadataMask >> 32n) >>> 0;
      const loM = Number(inst.metadataMask & 0xffffffffn) >>> 0;
      const hiV = Number(inst.metadata >> 32n) >>> 0;
      const loV = Number(inst.metadata & 0xffffffffn) >>> 0;
      f[K.METADATA] = ((f[K.METADATA]! & ~hiM) | (hiV & hiM)) >>> 0;
      f[K.METADATA + 1] = ((f[K.METADATA + 1]! & ~loM) | (loV & loM)) >>> 0;
      ctx.st.write(K.METADATA, hiM);
      ctx.st.write(K.METADATA + 1, loM);
      return next;
    }
    case OFPIT.GOTO_TABLE:
      if (inst.tableId <= tableId || inst.tableId >= ctx.bridge.nTables) {
        if (ctx.lines !== undefined) note(ctx, ` -> goto_table:${inst.tableId} is not a later table: ignored`);
        return next;
      }
      return inst.tableId;
    default:
      return next;
  }
}

/** The action set: one action per type, set-fields one per field (OF §5.10). */
class ActionSet {
  private readonly byType = new Map<number, Action>();
  private readonly fields = new Map<number, Action>();

  write(actions: readonly Action[]): void {
    for (const a of actions) {
      if (a.type === OFPAT.SET_FIELD) this.fields.set(isBasic(a.field) ? a.field.field : -1, a);
      else this.byType.set(a.type, a);
    }
  }

  clear(): void {
    this.byType.clear();
    this.fields.clear();
  }

  /** The actions in the order the set runs them (group wins over output). */
  ordered(): Action[] {
    const out: Action[] = [];
    const take = (t: number): void => {
      const a = this.byType.get(t);
      if (a !== undefined) out.push(a);
    };
    for (const t of [OFPAT.COPY_TTL_IN, OFPAT.POP_VLAN, OFPAT.POP_PBB, OFPAT.POP_MPLS, OFPAT.PUSH_MPLS, OFPAT.PUSH_PBB,
      OFPAT.PUSH_VLAN, OFPAT.COPY_TTL_OUT, OFPAT.DEC_MPLS_TTL, OFPAT.DEC_NW_TTL, OFPAT.SET_MPLS_TTL, OFPAT.SET_NW_TTL]) take(t);
    for (const f of [...this.fields.keys()].sort((a, b) => a - b)) out.push(this.fields.get(f)!);
    if (this.byType.has(OFPAT.GROUP)) take(OFPAT.GROUP);
    else take(OFPAT.OUTPUT);
    return out;
  }
}

function actionSetOf(actions: readonly Action[]): Action[] {
  const s = new ActionSet();
  s.write(actions);
  return s.ordered();
}

// ---------------------------------------------------------------------------------------------
// Actions
// ---------------------------------------------------------------------------------------------

function doActions(ctx: Ctx, actions: readonly Action[]): void {
  for (const a of actions) {
    if (ctx.exit) return;
    if (ctx.lines !== undefined) note(ctx, formatOfAction(a));
    doAction(ctx, a);
  }
}

function doAction(ctx: Ctx, a: Action): void {
  const st = ctx.st;
  switch (a.type) {
    case OFPAT.OUTPUT: return doOutput(ctx, a.port, a.maxLen);
    case OFPAT.GROUP: return doGroup(ctx, a.groupId);
    case OFPAT.SET_FIELD: return doSetField(ctx, a.field);
    case OFPAT.SET_QUEUE: return note(ctx, ' -> no queues: ignored');
    case OFPAT.PUSH_VLAN:
      if (!st.canPushVlan(a.ethertype)) return skipped(ctx);
      commit(ctx);
      emit(ctx, { type: 'push_vlan', tpid: a.ethertype });
      return st.pushVlan(a.ethertype);
    case OFPAT.POP_VLAN:
      if (!st.canPopVlan()) return skipped(ctx);
      commit(ctx);
      emit(ctx, { type: 'pop_vlan' });
      return st.popVlan();
    case OFPAT.PUSH_MPLS:
      if (!st.canPushMpls(a.ethertype)) return skipped(ctx);
      commit(ctx);
      emit(ctx, { type: 'push_mpls', ethertype: a.ethertype });
      return st.pushMpls(a.ethertype, ctx.mask);
    case OFPAT.POP_MPLS:
      if (!st.canPopMpls()) return skipped(ctx);
      commit(ctx);
      emit(ctx, { type: 'pop_mpls', ethertype: a.ethertype });
      st.popMpls(a.ethertype);
      if (st.opaque !== OPAQUE.NONE) note(ctx, ` -> ${UNPARSED_NOTE}`);
      return;
    case OFPAT.PUSH_PBB:
      if (!st.canPushPbb(a.ethertype)) return skipped(ctx);
      commit(ctx);
      emit(ctx, { type: 'push_pbb', ethertype: a.ethertype });
      return st.pushPbb(a.ethertype, ctx.mask);
    case OFPAT.POP_PBB:
      if (!st.canPopPbb()) return skipped(ctx);
      commit(ctx);
      emit(ctx, { type: 'pop_pbb' });
      st.popPbb();
      if (st.opaque !== OPAQUE.NONE) note(ctx, ` -> ${UNPARSED_NOTE}`);
      return;
    case OFPAT.SET_NW_TTL:
      if (!nwTtlApplies(st)) return skipped(ctx);
      setNwTtl(st, a.nwTtl);
      st.write(K.NW, 0xff << 16);
      return;
    case OFPAT.DEC_NW_TTL: {
      if (!nwTtlApplies(st)) return skipped(ctx);
      st.read(ctx.mask, K.NW, 0xff << 16);
      const ttl = (st.flow[K.NW]! >>> 16) & 0xff;
      if (ttl <= 1) return ttlExpired(ctx, `nw_ttl=${ttl}`);
      setNwTtl(st, ttl - 1);
      return;
    }
    case OFPAT.SET_MPLS_TTL:
      if (!mplsTtlApplies(st)) return skipped(ctx);
      setMplsTtl(st, a.mplsTtl);
      st.write(K.MPLS0, 0xff);
      return;
    case OFPAT.DEC_MPLS_TTL: {
      if (!mplsTtlApplies(st)) return skipped(ctx);
      st.read(ctx.mask, K.MPLS0, 0xff);
      const ttl = st.flow[K.MPLS0]! & 0xff;
      if (ttl <= 1) return ttlExpired(ctx, `mpls_ttl=${ttl}`);
      setMplsTtl(st, ttl - 1);
      return;
    }
    case OFPAT.COPY_TTL_OUT: return doCopyTtlOut(ctx);
    case OFPAT.COPY_TTL_IN:
      // The inner header is not reachable by any datapath action (set_nw_ttl and set_mpls_ttl
      // change the outermost one), so this cannot be expressed: ignored, and said so.
      return note(ctx, ' -> copy_ttl_in: the inner header cannot be changed in the datapath: ignored');
    default:
      return note(ctx, ' -> unsupported action: ignored');
  }
}

function skipped(ctx: Ctx): void {
  note(ctx, ' -> the packet has no such header: skipped');
}

function nwTtlApplies(st: FlowState): boolean {
  return st.isIp() && st.opaque === OPAQUE.NONE;
}

function mplsTtlApplies(st: FlowState): boolean {
  return st.isMpls() && st.mplsCount > 0 && st.opaque !== OPAQUE.ALL;
}

function setNwTtl(st: FlowState, ttl: number): void {
  st.flow[K.NW] = ((st.flow[K.NW]! & ~(0xff << 16)) | ((ttl & 0xff) << 16)) >>> 0;
  st.nwTtlDirty = true;
}

function setMplsTtl(st: FlowState, ttl: number): void {
  st.flow[K.MPLS0] = ((st.flow[K.MPLS0]! & ~0xff) | (ttl & 0xff)) >>> 0;
  st.mplsTtlDirty = true;
}

/**
 * COPY_TTL_OUT: MPLS from the next MPLS entry (both in the key), or from the IP header under the
 * bottom of the stack when this translation pushed that label (the snapshot holds it). IP-in-IP
 * and an input label over IP: the inner TTL is not in the key: ignored.
 */
function doCopyTtlOut(ctx: Ctx): void {
  const st = ctx.st;
  if (!mplsTtlApplies(st)) return note(ctx, ' -> no MPLS header to copy into: ignored');
  st.read(ctx.mask, K.MPLS0, 0x100);
  if ((st.flow[K.MPLS0]! & 0x100) === 0 && st.mplsCount >= 2) {
    st.read(ctx.mask, K.MPLS1, 0xff);
    setMplsTtl(st, st.flow[K.MPLS1]! & 0xff);
    st.write(K.MPLS0, 0xff); // follows MPLS1 now, which read() covered
    return;
  }
  const under = st.mplsSaved[st.mplsSaved.length - 1];
  const t = under?.flow[K.ETH_TYPE];
  if (under !== undefined && (t === ETH.IPV4 || t === ETH.IPV6) && under.opaque === OPAQUE.NONE) {
    setMplsTtl(st, (under.flow[K.NW]! >>> 16) & 0xff);
    return;
  }
  note(ctx, ' -> the inner TTL is not known: ignored');
}

function ttlExpired(ctx: Ctx, what: string): void {
  if (ctx.lines !== undefined) note(ctx, ` -> TTL expired (${what}): packet-in INVALID_TTL, translation stops`);
  sendToController(ctx, OFPR.INVALID_TTL, undefined);
  ctx.exit = true;
}

// ---------------------------------------------------------------------------------------------
// set-field
// ---------------------------------------------------------------------------------------------

/**
 * Whether `field`'s header is in the packet (the field's prerequisites, OF §7.2.3.6, which is
 * also where rewrite.ts setField finds the header), reading the bits that decide it.
 */
function fieldApplies(ctx: Ctx, field: number): boolean {
  const st = ctx.st;
  const f = st.flow;
  const t = st.ethType;
  const v4 = t === ETH.IPV4;
  const v6 = t === ETH.IPV6;
  const l3 = st.opaque === OPAQUE.NONE;
  const proto = (p: number): boolean => {
    st.read(ctx.mask, K.NW, 0xff | (0xff << 24));
    return (f[K.NW]! & 0xff) === p && (f[K.NW]! >>> 24) !== FRAG.LATER;
  };
  const X = OFPXMT;
  switch (field) {
    case X.METADATA: case X.TUNNEL_ID: return true;
    case X.ETH_DST: case X.ETH_SRC: return st.opaque !== OPAQUE.ALL;
    case X.VLAN_VID: case X.VLAN_PCP: return st.opaque !== OPAQUE.ALL && st.vlanCount > 0;
    case X.IP_DSCP: case X.IP_ECN: return l3 && (v4 || v6);
    case X.IPV4_SRC: case X.IPV4_DST: return l3 && v4;
    case X.TCP_SRC: case X.TCP_DST: return l3 && (v4 || v6) && proto(IPPROTO_TCP);
    case X.UDP_SRC: case X.UDP_DST: return l3 && (v4 || v6) && proto(IPPROTO_UDP);
    case X.SCTP_SRC: case X.SCTP_DST: return l3 && (v4 || v6) && proto(IPPROTO_SCTP);
    case X.ICMPV4_TYPE: case X.ICMPV4_CODE: return l3 && v4 && proto(IPPROTO_ICMP);
    case X.ARP_OP: case X.ARP_SPA: case X.ARP_TPA: case X.ARP_SHA: case X.ARP_THA: return l3 && (t === ETH.ARP || t === ETH.RARP);
    case X.IPV6_SRC: case X.IPV6_DST: case X.IPV6_FLABEL: return l3 && v6;
    case X.ICMPV6_TYPE: case X.ICMPV6_CODE: return l3 && v6 && proto(IPPROTO_ICMPV6);
    case X.IPV6_ND_TARGET: case X.IPV6_ND_SLL: case X.IPV6_ND_TLL: {
      if (!(l3 && v6 && proto(IPPROTO_ICMPV6))) return false;
      st.read(ctx.mask, K.TP_SRC, 0xff);
      st.read(ctx.mask, K.TP_DST, 0xff);
      const type = f[K.TP_SRC]!;
      if (f[K.TP_DST] !== 0) return false;
      return field === X.IPV6_ND_TARGET ? type === 135 || type === 136 : field === X.IPV6_ND_SLL ? type === 135 : type === 136;
    }
    case X.MPLS_LABEL: case X.MPLS_TC: return st.opaque !== OPAQUE.ALL && st.isMpls() && st.mplsCount > 0;
    case X.PBB_ISID: return st.opaque !== OPAQUE.ALL && t === ETH.PBB;
    default: return false;
  }
}

function doSetField(ctx: Ctx, oxm: Oxm): void {
  if (!isBasic(oxm) || oxm.mask !== undefined || READ_ONLY_FIELDS.has(oxm.field)) return note(ctx, ' -> not a settable field: ignored');
  const field = oxm.field;
  if (!fieldApplies(ctx, field)) return skipped(ctx);
  const st = ctx.st;
  if (!setFieldInKey(st.flow, oxm)) return note(ctx, ' -> bad value: ignored');
  orFieldMask(st.written, field);
  if (field === OFPXMT.METADATA) return; // lives in the key only
  st.dirty[field] = true;
  if (field === OFPXMT.ICMPV6_TYPE || field === OFPXMT.ICMPV6_CODE) {
    // Neighbor Discovery is parsed only for types 135/136 with code 0: the ND fields follow.
    const type = st.flow[K.TP_SRC]!;
    if (!((type === 135 || type === 136) && st.flow[K.TP_DST] === 0)) {
      for (let w = K.ND_TARGET; w < K.ND_TLL + 2; w++) {
        st.flow[w] = 0;
        st.written[w] = 0xffffffff;
      }
      st.dirty[OFPXMT.IPV6_ND_TARGET] = st.dirty[OFPXMT.IPV6_ND_SLL] = st.dirty[OFPXMT.IPV6_ND_TLL] = false;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Outputs
// ---------------------------------------------------------------------------------------------

function doOutput(ctx: Ctx, port: number, maxLen: number): void {
  switch (port) {
    case OFPP.IN_PORT: return outputTo(ctx, ctx.inPort, true);
    case OFPP.TABLE: return doTable(ctx);
    case OFPP.NORMAL: return doNormal(ctx);
    case OFPP.FLOOD: return doFlood(ctx, false);
    case OFPP.ALL: return doFlood(ctx, true);
    case OFPP.CONTROLLER: return sendToController(ctx, ctx.rule?.tableMiss === true ? OFPR.NO_MATCH : OFPR.ACTION, maxLen);
    case OFPP.ANY: return note(ctx, ' -> output to ANY is not a port: ignored');
    default: return outputTo(ctx, port, false);
  }
}

/** Output to one OpenFlow port (LOCAL included), with the checks of the header. */
function outputTo(ctx: Ctx, ofport: number, inPortOk: boolean): void {
  if (ofport === ctx.inPort && !inPortOk) return note(ctx, ` -> port ${formatPort(ofport)} is the input port: skipped`);
  const p = portOf(ctx, ofport);
  if (p === undefined) return note(ctx, ` -> no port ${formatPort(ofport)}: skipped`);
  if ((p.config & OFPPC.PORT_DOWN) !== 0) return note(ctx, ` -> port ${formatPort(ofport)} is down: skipped`);
  if ((p.config & OFPPC.NO_FWD) !== 0) return note(ctx, ` -> port ${formatPort(ofport)} has no_fwd: skipped`);
  commit(ctx);
  emit(ctx, { type: 'output', port: p.odpPort });
  if (ctx.lines !== undefined) note(ctx, ` -> output to port ${formatPort(ofport)} (datapath port ${p.odpPort})`);
}

/** FLOOD (all = false) or ALL: every port but the input port that qualifies. */
function doFlood(ctx: Ctx, all: boolean): void {
  ctx.allPorts = true;
  const to: XPort[] = [];
  for (const p of ctx.bridge.ports()) {
    if (p.ofport === ctx.inPort) continue;
    if ((p.config & OFPPC.PORT_DOWN) !== 0) continue;
    if (!all && ((p.config & OFPPC.NO_FWD) !== 0 || (p.state & OFPPS.LINK_DOWN) !== 0)) continue;
    to.push(p);
  }
  if (to.length === 0) return note(ctx, ` -> ${all ? 'all' : 'flood'}: no port to send to`);
  commit(ctx);
  for (const p of to) emit(ctx, { type: 'output', port: p.odpPort });
  if (ctx.lines !== undefined) note(ctx, ` -> ${all ? 'all' : 'flood'}: ports ${to.map((p) => formatPort(p.ofport)).join(' ')}`);
}

function sendToController(ctx: Ctx, reason: number, maxLen: number | undefined): void {
  if (ctx.inPort <= OFPP.MAX || ctx.inPort === OFPP.LOCAL) {
    const p = portOf(ctx, ctx.inPort);
    if (p !== undefined && (p.config & OFPPC.NO_PACKET_IN) !== 0) {
      return note(ctx, ` -> input port ${formatPort(ctx.inPort)} has no_packet_in: no packet-in`);
    }
  }
  const f = ctx.st.flow;
  const cookie: ControllerCookie = {
    kind: 'controller', reason, tableId: ctx.rule === undefined ? ctx.tableId : ctx.rule.tableId,
    cookie: ctx.rule?.cookie ?? ALL_COOKIE, ...(maxLen !== undefined ? { maxLen } : {}),
    metadata: (BigInt(f[K.METADATA]!) << 32n) | BigInt(f[K.METADATA + 1]!), inPort: ctx.inPort, bridge: ctx.bridge.name,
  };
  commit(ctx);
  emit(ctx, { type: 'userspace', cookie });
  if (ctx.lines !== undefined) note(ctx, ` -> packet-in: ${reason === OFPR.NO_MATCH ? 'no_match' : reason === OFPR.INVALID_TTL ? 'invalid_ttl' : 'action'}`);
}

/**
 * Runs `body` on a copy of the packet: its flow changes are rolled back afterwards, and its
 * datapath actions are wrapped in a clone when they change the packet (else emitted inline).
 */
function onCopy(ctx: Ctx, body: () => void): void {
  commit(ctx);
  const saveSt = ctx.st;
  const saveOut = ctx.out;
  const saveRule = ctx.rule;
  const saveTable = ctx.tableId;
  const sub: OdpAction[] = [];
  ctx.st = saveSt.clone();
  ctx.out = sub;
  ctx.indent++;
  try {
    body();
  } finally {
    ctx.indent--;
    ctx.st = saveSt;
    ctx.out = saveOut;
    ctx.rule = saveRule;
    ctx.tableId = saveTable;
  }
  if (sub.every((a) => a.type === 'output' || a.type === 'userspace' || a.type === 'clone')) {
    for (const a of sub) ctx.out.push(a); // counted when emitted into sub
  } else if (sub.length > 0) {
    emit(ctx, { type: 'clone', actions: sub });
  }
}

/** output:TABLE: only in a packet-out (OF §7.2.5): the pipeline from table 0 on a copy. */
function doTable(ctx: Ctx): void {
  if (!ctx.packetOut) return note(ctx, ' -> output:TABLE outside a packet-out: ignored');
  enter(ctx);
  onCopy(ctx, () => runPipeline(ctx, 0));
  ctx.depth--;
}

// ---------------------------------------------------------------------------------------------
// Groups
// ---------------------------------------------------------------------------------------------

function portLive(ctx: Ctx, ofport: number): boolean {
  const p = portOf(ctx, ofport);
  return p !== undefined && (p.config & OFPPC.PORT_DOWN) === 0 && (p.state & OFPPS.LINK_DOWN) === 0;
}

function bucketLive(ctx: Ctx, b: Bucket, depth: number): boolean {
  if (b.watchPort !== OFPP.ANY && !portLive(ctx, b.watchPort)) return false;
  if (b.watchGroup !== OFPG.ANY && !groupLive(ctx, b.watchGroup, depth + 1)) return false;
  return true;
}

function groupLive(ctx: Ctx, id: number, depth: number): boolean {
  if (depth > XLATE_LIMITS.depth) return false;
  ctx.groups.add(id);
  const g = ctx.bridge.group(id);
  return g !== undefined && g.buckets.some((b) => bucketLive(ctx, b, depth));
}

function doGroup(ctx: Ctx, id: number): void {
  enter(ctx);
  ctx.groups.add(id);
  const g = ctx.bridge.group(id);
  if (g === undefined) {
    if (ctx.lines !== undefined) note(ctx, ` -> no group ${id}: dropped`);
    ctx.depth--;
    return;
  }
  if (ctx.lines !== undefined) note(ctx, ` -> group ${id} (${formatGroupType(g.type)}, ${g.buckets.length} buckets)`);
  switch (g.type) {
    case OFPGT.ALL:
      g.buckets.forEach((_, i) => runBucket(ctx, g, i));
      break;
    case OFPGT.INDIRECT:
      if (g.buckets.length > 0) runBucket(ctx, g, 0);
      break;
    case OFPGT.FF: {
      const i = g.buckets.findIndex((b, k) => {
        const live = bucketLive(ctx, b, ctx.depth);
        if (!live) note(ctx, ` bucket ${k}: not live (watch_port ${formatPort(b.watchPort)}, watch_group ${b.watchGroup === OFPG.ANY ? 'ANY' : b.watchGroup})`);
        return live;
      });
      if (i < 0) note(ctx, ' -> no live bucket: dropped');
      else runBucket(ctx, g, i);
      break;
    }
    case OFPGT.SELECT: {
      const i = selectBucket(ctx, g);
      if (i < 0) note(ctx, ' -> no live bucket: dropped');
      else runBucket(ctx, g, i);
      break;
    }
    default:
      note(ctx, ' -> unknown group type: dropped');
  }
  ctx.depth--;
}

function runBucket(ctx: Ctx, g: XGroup, i: number): void {
  ctx.buckets.push({ groupId: g.id, bucket: i });
  const actions = actionSetOf(g.buckets[i]!.actions);
  if (ctx.lines !== undefined) note(ctx, ` bucket ${i}: ${formatOfActions(actions)}`);
  onCopy(ctx, () => doActions(ctx, actions));
}

const hashMask = new Uint32Array(K.WORDS);

/** The SELECT hash of the flow over the fields the header names, read into the megaflow. */
function selectHash(ctx: Ctx): number {
  const st = ctx.st;
  const f = st.flow;
  hashMask.fill(0);
  const use = (w: number, bits: number): void => {
    hashMask[w] = (hashMask[w]! | bits) >>> 0;
    st.read(ctx.mask, w, bits);
  };
  use(K.ETH_DST, 0xffff);
  use(K.ETH_DST + 1, 0xffffffff);
  use(K.ETH_SRC, 0xffff);
  use(K.ETH_SRC + 1, 0xffffffff);
  use(K.ETH_TYPE, 0xffffffff);
  use(K.VLAN0, 0x1fff);
  const t = st.ethType;
  if ((t === ETH.IPV4 || t === ETH.IPV6) && st.opaque === OPAQUE.NONE) {
    if (t === ETH.IPV4) {
      use(K.IPV4_SRC, 0xffffffff);
      use(K.IPV4_DST, 0xffffffff);
    } else {
      for (let i = 0; i < 4; i++) {
        use(K.IPV6_SRC + i, 0xffffffff);
        use(K.IPV6_DST + i, 0xffffffff);
      }
    }
    use(K.NW, 0xff | (0xff << 24));
    const p = f[K.NW]! & 0xff;
    if ((p === IPPROTO_TCP || p === IPPROTO_UDP || p === IPPROTO_SCTP) && (f[K.NW]! >>> 24) !== FRAG.LATER) {
      use(K.TP_SRC, 0xffff);
      use(K.TP_DST, 0xffff);
    }
    // The fragment bits decided which fields count; they are not hashed themselves.
    hashMask[K.NW] = 0xff;
  }
  const words: number[] = [];
  for (let w = 0; w < K.WORDS; w++) if (hashMask[w] !== 0) words.push(w);
  return hashMasked(f, hashMask, Uint8Array.from(words));
}

/** 32-bit finalizer (murmur3's fmix32). */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Weighted rendezvous hashing over the live buckets of weight > 0; -1 when there is none. */
function selectBucket(ctx: Ctx, g: XGroup): number {
  const live: number[] = [];
  g.buckets.forEach((b, i) => {
    if (b.weight > 0 && bucketLive(ctx, b, ctx.depth)) live.push(i);
  });
  if (live.length === 0) return -1;
  const h = selectHash(ctx);
  let best = -1;
  let bestScore = -Infinity;
  for (const i of live) {
    const u = (fmix((h ^ Math.imul(i + 1, 0x9e3779b9)) >>> 0) + 0.5) / 4294967296;
    const score = g.buckets[i]!.weight / -Math.log(u);
    if (score > bestScore) {
      bestScore = score;
      best = i;
    }
  }
  return best;
}

// ---------------------------------------------------------------------------------------------
// NORMAL
// ---------------------------------------------------------------------------------------------

/**
 * A MAC-learning switch over all ports (trunks: no per-port VLAN configuration yet), VLAN-aware:
 * the outer tag's VID (0 untagged) scopes learning and lookup. Multicast sources are neither
 * learned nor forwarded (no host sends from a group address); broadcast, multicast and unknown
 * destinations flood; a destination learned on the input port is dropped (it is already there).
 */
function doNormal(ctx: Ctx): void {
  const st = ctx.st;
  const f = st.flow;
  ctx.macs = true;
  st.read(ctx.mask, K.ETH_SRC, 0xffff);
  st.read(ctx.mask, K.ETH_SRC + 1, 0xffffffff);
  st.read(ctx.mask, K.ETH_DST, 0xffff);
  st.read(ctx.mask, K.ETH_DST + 1, 0xffffffff);
  st.read(ctx.mask, K.VLAN0, 0x1fff);
  const vlan = (f[K.VLAN0]! & 0x1000) !== 0 ? f[K.VLAN0]! & 0x0fff : 0;
  const srcHi = f[K.ETH_SRC]!, srcLo = f[K.ETH_SRC + 1]!;
  const dstHi = f[K.ETH_DST]!, dstLo = f[K.ETH_DST + 1]!;
  if ((srcHi & 0x0100) !== 0) return note(ctx, ` -> NORMAL: multicast source ${macText(srcHi, srcLo)}: dropped`);
  const realPort = ctx.inPort <= OFPP.MAX || ctx.inPort === OFPP.LOCAL;
  if (realPort) {
    ctx.learned.push({ vlan, macHi: srcHi, macLo: srcLo, ofport: ctx.inPort });
    if (ctx.lines !== undefined) note(ctx, ` -> NORMAL: learned ${macText(srcHi, srcLo)} on port ${formatPort(ctx.inPort)} in VLAN ${vlan}`);
  }
  if ((dstHi & 0x0100) !== 0) {
    if (ctx.lines !== undefined) note(ctx, ` -> NORMAL: ${dstHi === 0xffff && dstLo === 0xffffffff ? 'broadcast' : 'multicast'} destination: flooding`);
    return doFlood(ctx, false);
  }
  const port = ctx.bridge.macs.lookup(vlan, dstHi, dstLo);
  if (port === undefined) {
    if (ctx.lines !== undefined) note(ctx, ` -> NORMAL: ${macText(dstHi, dstLo)} not learned in VLAN ${vlan}: flooding`);
    return doFlood(ctx, false);
  }
  if (port === ctx.inPort) return note(ctx, ` -> NORMAL: ${macText(dstHi, dstLo)} is on the input port: dropped`);
  if (ctx.lines !== undefined) note(ctx, ` -> NORMAL: ${macText(dstHi, dstLo)} learned on port ${formatPort(port)}`);
  outputTo(ctx, port, false);
}

/** The datapath actions of a result as text (re-exported for callers that print results). */
export { formatActions };
export type { FlowKey };
