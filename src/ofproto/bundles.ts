/**
 * ONF bundles (extension EXT-230) on OpenFlow 1.3: a controller collects flow-mods, group-mods,
 * meter-mods and port-mods in a bundle on its connection and commits them as one change, all or
 * nothing (DESIGN.md §5).
 * The messages are OFPT_EXPERIMENTER with experimenter ONF (0x4f4e4600): BUNDLE_CONTROL (2300)
 * and BUNDLE_ADD_MESSAGE (2301); their semantics are OpenFlow 1.4's OFPT_BUNDLE_CONTROL and
 * OFPT_BUNDLE_ADD_MESSAGE (OpenFlow 1.4.1 §6.8 and §7.3.9).
 *
 * Sources: OF = OpenFlow 1.4 §7.3.9; OVS = Open vSwitch ofproto/bundles.c (ofp_bundle_open,
 * _close, _discard, _add_message), ofproto/ofproto.c (handle_bundle_control, handle_bundle_add,
 * do_bundle_commit), lib/ofp-bundle.c (ofputil_decode_bundle_add, ofputil_is_bundlable).
 *
 * Bundles belong to one connection (a Party); a connection that closes loses its bundles
 * (discardAll). A SLAVE never reaches this module: roles.ts answers its bundle messages
 * BAD_REQUEST/IS_SLAVE (OVS reject_slave_controller does the same for both message types).
 *
 * BUNDLE_CONTROL, checked in this order:
 *   - ctrl type a *_REPLY or unknown                          BAD_TYPE (OVS)
 *   - OPEN: the id is open already -> that bundle is discarded and the request refused with
 *     BAD_ID (OF: "refers to an existing bundle ... OFPBFC_BAD_ID"; OVS also discards the old
 *     bundle, so stale messages are never committed later). Flags outside ATOMIC|ORDERED
 *     BAD_FLAGS (OF: "unsupported, unknown ... flags"; OVS does not check). More than
 *     maxBundles open on the connection                       OUT_OF_BUNDLES
 *   - CLOSE: unknown id BAD_ID; closed already -> discarded, BUNDLE_CLOSED; flags not the
 *     OPEN's -> discarded, BAD_FLAGS (OF, OVS)
 *   - COMMIT: unknown id BAD_ID; flags not the OPEN's BAD_FLAGS; otherwise every message is
 *     applied in order, all or nothing. When one fails, nothing is applied, the failing message
 *     gets its own error (its xid, its bytes as data) and the commit gets MSG_FAILED (OF, OVS
 *     do_bundle_commit). The bundle is gone afterwards whatever the outcome (OVS).
 *   - DISCARD: unknown id BAD_ID.
 *   Every success is answered by the matching *_REPLY with the request's bundle id and flags
 *   (OVS sends flags 0; OF gives the reply the request's fields).
 *
 * BUNDLE_ADD_MESSAGE, checked in this order (OVS's order: the message first, then the bundle):
 *   - inner xid not the outer xid                             MSG_BAD_XID (OF, OVS)
 *   - inner version not 1.3                                   BAD_REQUEST/BAD_VERSION (OVS has
 *     OFPBFC_BAD_VERSION only as an NX 1.4 code; 1.3 has none)
 *   - not a FLOW_MOD, GROUP_MOD, METER_MOD or PORT_MOD (a GROUP_MOD when the switch has no
 *     groups, a METER_MOD when it has no meters)                MSG_UNSUP (OF 1.4 §7.3.9: "If
 *     the message type is not supported in a bundle, ... OFPBFC_MSG_UNSUP"; OVS's answer to what
 *     ofputil_is_bundlable refuses). OF 1.4 lets a bundle hold any modifying message; OVS
 *     bundles FLOW_MOD, GROUP_MOD, PORT_MOD (never atomically: an ATOMIC commit holding one
 *     fails) and PACKET_OUT, not METER_MOD. We commit all four kinds atomically, and refuse
 *     PACKET_OUT (a packet sent cannot be taken back, so it has no place in all-or-nothing),
 *     TABLE_MOD (nothing to change in 1.3), and everything else.
 *   - the message's own validation, which the same message outside a bundle would get, except
 *     what an earlier message of the bundle may change: whether a group or a meter exists is
 *     checked at commit (a bundle may add a group or a meter and then a flow that uses it; OVS
 *     checks groups and meters at commit too, in ofproto_check_ofpacts), and so is everything
 *     a METER_MOD meets in the table (METER_EXISTS, UNKNOWN_METER, OUT_OF_METERS): ADD time
 *     checks the message alone (command, id, flags, bands). A PORT_MOD is checked against the
 *     port as it is (no bundle message adds ports or changes what the checks read), and again
 *     at commit (a port can go in between). The error is sent with the inner message's xid
 *     and bytes (OF: "the xid of the offending message, the error data field corresponding to
 *     that message"). The message is not stored, the bundle stays open.
 *   - unknown id -> a bundle is opened with the ADD's flags (OF 1.4 and OVS), with the OPEN's
 *     checks (flags, OUT_OF_BUNDLES); a closed bundle -> discarded, BUNDLE_CLOSED; flags not
 *     the OPEN's -> discarded, BAD_FLAGS (OF, OVS); maxMessages stored already  MSG_TOO_MANY
 *   A stored message gets no reply.
 *
 * Atomic commit. The switch (ofproto.ts) first runs the bundle against a scratch copy (dryRun
 * below): the same Pipeline, group table, meter table and port table code, on a copy of the
 * state the messages can touch, so every error a message can meet at commit is met there. Only when every message
 * succeeded there are they applied to the real tables, one after the other, in one synchronous
 * step (no lookup or other message can come between them in Node's one thread), each with the
 * consequences it has outside a bundle (FLOW_REMOVED, PORT_STATUS, the datapath told). A failure
 * therefore changes nothing at all and sends nothing but the errors.
 *
 * The scratch copy:
 *   - groups: the whole group table, rebuilt from its GROUP_DESC (groups are few). Links to
 *     groups deleted earlier (a bucket's group action or watch_group left pointing nowhere, as
 *     the real table allows) are rebuilt through placeholder groups deleted afterwards. Built
 *     only when the bundle holds a GROUP_MOD; otherwise the real table answers "exists?".
 *   - meters: the whole meter table, rebuilt from its METER_CONFIG (a meter's config is all a
 *     METER_MOD's checks read; counters do not matter). Only when the bundle holds a METER_MOD.
 *     A meter deleted in the copy takes the copy's flows that use it, as in the real switch.
 *   - ports: the ports a PORT_MOD of the bundle names, copied into a scratch PortTable (name,
 *     number, type, address, link, config), so each PORT_MOD runs ports.ts's own checks with
 *     the config earlier ones left. Nothing a PORT_MOD checks (existence, address, supported
 *     features) is changed by a bundle message, so this is exact; the copy is compared with
 *     the real port after it is built and the commit refused (UNKNOWN) if they ever differ.
 *   - flows: a flow-mod can fail at commit in validation (a group's or a meter's existence;
 *     ports, which no bundle message adds or removes), with OVERLAP (an ADD with CHECK_OVERLAP,
 *     against the rules of its table and priority), with TABLE_FULL (a table's max_entries), or
 *     against a table's TABLE_FEATURES description (an ADD's match and instructions; a
 *     MODIFY's instructions, judged by whether it lands on the table-miss flow, other flows, or
 *     both). So the scratch pipeline takes the real one's table descriptions and capacities
 *     (Pipeline.copyTableConfig) and a copy of every rule of each table that an ADD or MODIFY
 *     of the bundle names; every message is then applied to it in order. Which rules a DELETE
 *     or a group or meter deletion removes, or an ADD replaces, depends on each rule alone, so
 *     those tables evolve in the copy exactly as in the real pipeline; tables no ADD or MODIFY
 *     names cannot make a message fail (a DELETE fails only in validation). The cost is a copy
 *     of the named tables per commit.
 * Were the real application to fail after all (a bug: the copy and the tables disagree), the
 * switch logs it and reports the failing message and MSG_FAILED; the messages before it would
 * then stay applied.
 *
 * Limits (memory stays bounded per connection): at most maxBundles open bundles (default 64)
 * and maxMessages messages in one bundle (default 1 << 20). Bundles do not time out (OF's
 * TIMEOUT is optional); they go with their connection.
 */

import type { ErrorPair } from '../../proto/schema.js';
import {
  OFPAT, OFPE, OFPET, OFPFC, OFPFF, OFPG, OFPGC, OFPGT, OFPIT, OFPM, OFPMC, OFPP, OFPT, OFP_NO_BUFFER, OFP_VERSION,
  ONF_BCT, ONF_BF, ONF_ET, ONF_EXPERIMENTER_ID,
  type Bucket, type BundleAdd, type BundleCtrl, type FlowMod, type GroupDesc, type GroupMod, type Message, type MeterConfig,
  type MeterMod, type PortMod,
} from '../openflow/index.js';
import { isError, Pipeline, type PipelineEnv, type RemovedRule } from './flow-table.js';
import { OFPGC_ADD_OR_MOD, type GroupEnv } from './groups.js';
import { PortTable } from './ports.js';
import { validateFlowMod } from './validate.js';

/**
 * The ONF experimenter error codes for bundles (exp_code of an OFPET_EXPERIMENTER error with
 * experimenter ONF), from OVS include/openvswitch/ofp-errors.h: "ONF1.3(2300), OF1.4+(17,0)"
 * and so on; OpenFlow 1.4 numbers the same errors 0..15 under OFPET_BUNDLE_FAILED (17).
 */
export const ONFBFC = {
  UNKNOWN: 2300, EPERM: 2301, BAD_ID: 2302, BUNDLE_EXIST: 2303, BUNDLE_CLOSED: 2304, OUT_OF_BUNDLES: 2305,
  BAD_TYPE: 2306, BAD_FLAGS: 2307, MSG_BAD_LEN: 2308, MSG_BAD_XID: 2309, MSG_UNSUP: 2310, MSG_CONFLICT: 2311,
  MSG_TOO_MANY: 2312, MSG_FAILED: 2313, TIMEOUT: 2314, BUNDLE_IN_PROGRESS: 2315,
} as const;

/**
 * The same errors as ErrorPairs of type OFPET_EXPERIMENTER: by validate.ts's convention (see
 * ONF_DUP_INST there) such a pair is an ONF experimenter error whose exp_code is the pair's
 * code, and ofpErrorMessage() builds it.
 */
export const BFC = Object.fromEntries(
  Object.entries(ONFBFC).map(([k, v]) => [k, [OFPET.EXPERIMENTER, v] as ErrorPair]),
) as { readonly [K in keyof typeof ONFBFC]: ErrorPair };

/** One of the ONF bundle errors (2300..2315), rather than an error of the bundled message. */
const isBundleError = (e: ErrorPair): boolean => e[0] === OFPET.EXPERIMENTER && e[1] >= ONFBFC.UNKNOWN && e[1] <= ONFBFC.BUNDLE_IN_PROGRESS;

/** The messages a bundle may hold. */
export type Bundled = FlowMod | GroupMod | MeterMod | PortMod;

const KNOWN_FLAGS = ONF_BF.ATOMIC | ONF_BF.ORDERED;
const BR = OFPE.BAD_REQUEST!;
const GM = OFPE.GROUP_MOD_FAILED!;
const MM = OFPE.METER_MOD_FAILED!;

export const isBundleCtrl = (m: Message): m is BundleCtrl =>
  m.type === OFPT.EXPERIMENTER && m.experimenter === ONF_EXPERIMENTER_ID && m.expType === ONF_ET.BUNDLE_CONTROL && 'ctrlType' in m;
export const isBundleAdd = (m: Message): m is BundleAdd =>
  m.type === OFPT.EXPERIMENTER && m.experimenter === ONF_EXPERIMENTER_ID && m.expType === ONF_ET.BUNDLE_ADD_MESSAGE && 'message' in m;

// ---------------------------------------------------------------------------------------------
// What the switch offers a bundle
// ---------------------------------------------------------------------------------------------

/** The group table as bundles use it (groups.ts's GroupTable, or another GroupTableLike). */
export interface BundleGroupTable {
  applyGroupMod(gm: GroupMod): { readonly deleted: readonly number[] } | ErrorPair;
  exists(id: number): boolean;
  descStats(): readonly GroupDesc[];
}

/** The meter table as bundles use it (meters.ts's MeterTable, or another MeterTableLike). */
export interface BundleMeterTable {
  applyMeterMod(mm: MeterMod): { readonly deleted: readonly number[] } | ErrorPair;
  exists(id: number): boolean;
  configStats(meterId: number): readonly MeterConfig[] | ErrorPair;
}

/** What the checks and the dry run read from the switch; nothing here is changed by them. */
export interface BundleEnv {
  readonly pipeline: Pipeline;
  /** undefined: the switch has no groups (a GROUP_MOD is then MSG_UNSUP in a bundle). */
  readonly groups: BundleGroupTable | undefined;
  /** An empty group table of the switch's kind, for the scratch copy. */
  newGroupTable(env: GroupEnv): BundleGroupTable;
  /** undefined: the switch has no meters (a METER_MOD is then MSG_UNSUP in a bundle). */
  readonly meters: BundleMeterTable | undefined;
  /** An empty meter table of the switch's kind (same limits), for the scratch copy. */
  newMeterTable(): BundleMeterTable;
  /** The switch's ports, read to copy the ones a PORT_MOD names. */
  readonly ports: PortTable;
  portExists(port: number): boolean;
  meterExists(id: number): boolean;
  now(): number;
}

/** The first message of a bundle that fails, by its index in the bundle, and its error. */
export interface BundleFailure {
  readonly index: number;
  readonly error: ErrorPair;
}

/**
 * The checks of a message when it is added (the message and the switch as they are now; what
 * an earlier message of the bundle can change waits for the commit). undefined: accepted.
 */
export function checkBundled(inner: Message, outer: BundleAdd, env: BundleEnv): ErrorPair | undefined {
  if ((inner.xid ?? 0) !== (outer.xid ?? 0)) return BFC.MSG_BAD_XID;
  if (inner.version !== undefined && inner.version !== OFP_VERSION) return BR.BAD_VERSION!;
  switch (inner.type) {
    case OFPT.FLOW_MOD: {
      const isDelete = inner.command === OFPFC.DELETE || inner.command === OFPFC.DELETE_STRICT;
      if (!isDelete && inner.bufferId !== OFP_NO_BUFFER) return BR.BUFFER_UNKNOWN!;
      const r = validateFlowMod(inner, {
        portExists: (p) => env.portExists(p),
        // An earlier GROUP_MOD or METER_MOD of the bundle may add them: checked at commit.
        groupExists: () => true,
        meterExists: () => true,
      }, env.pipeline.nTables);
      return isError(r) ? r : undefined;
    }
    case OFPT.GROUP_MOD: {
      if (env.groups === undefined) return BFC.MSG_UNSUP;
      // The message alone, in groups.ts's order (steps 1-3); the rest depends on the table.
      const cmd = inner.command;
      if (cmd === OFPGC.DELETE) return undefined;
      if (cmd !== OFPGC.ADD && cmd !== OFPGC.MODIFY && cmd !== OFPGC_ADD_OR_MOD) return GM.BAD_COMMAND!;
      if ((inner.groupId >>> 0) > OFPG.MAX) return GM.INVALID_GROUP!;
      if (!([OFPGT.ALL, OFPGT.SELECT, OFPGT.INDIRECT, OFPGT.FF] as readonly number[]).includes(inner.groupType)) return GM.BAD_TYPE!;
      return undefined;
    }
    case OFPT.METER_MOD: {
      if (env.meters === undefined) return BFC.MSG_UNSUP;
      if (inner.command === OFPMC.DELETE) return undefined;
      // The message alone: meters.ts's own checks, as an ADD to an empty table of the switch's
      // kind meets them (command, id, flags, bands); what the real table holds waits for the
      // commit. An unknown command is refused here as it would be there.
      if (inner.command !== OFPMC.ADD && inner.command !== OFPMC.MODIFY) return MM.BAD_COMMAND!;
      const r = env.newMeterTable().applyMeterMod({ ...inner, command: OFPMC.ADD });
      return isError(r) && r[1] !== MM.OUT_OF_METERS![1] ? r : undefined;
    }
    case OFPT.PORT_MOD: {
      const ports = copyPorts(env, [inner.portNo]);
      const r = ports.portMod(inner);
      ports.close();
      return r;
    }
    default:
      return BFC.MSG_UNSUP;
  }
}

// ---------------------------------------------------------------------------------------------
// The dry run
// ---------------------------------------------------------------------------------------------

/**
 * Runs the bundle against a scratch copy of what it can touch (see the file comment) and returns
 * the first failing message, or undefined when applying every message in order would succeed.
 * The real tables are only read.
 */
export function dryRun(msgs: readonly Bundled[], env: BundleEnv): BundleFailure | undefined {
  // While the copy is built, what it holds was valid when it was added (a port may have gone
  // since, as the real tables allow): the switch-dependent checks pass. Then they are real.
  let building = true;
  const hasGroupMods = msgs.some((m) => m.type === OFPT.GROUP_MOD);
  const hasMeterMods = msgs.some((m) => m.type === OFPT.METER_MOD);
  const meters = hasMeterMods && env.meters !== undefined ? copyMeters(env) : env.meters;
  const meterExists = (m: number): boolean => meters?.exists(m) ?? false;
  const groups = hasGroupMods && env.groups !== undefined ? copyGroups(env, meterExists, () => building) : env.groups;
  const penv: PipelineEnv = {
    portExists: (p) => building || env.portExists(p),
    groupExists: (g) => building || (groups?.exists(g) ?? false),
    meterExists: (m) => building || meterExists(m),
    now: () => env.now(),
  };
  const pipeline = new Pipeline(penv, { nTables: env.pipeline.nTables });
  copyNamedTables(msgs, env.pipeline, pipeline);
  // After the rules: they were accepted by these descriptions already (a TABLE_FEATURES set
  // refuses to break flows that are there), and the copy must not meet a capacity twice.
  pipeline.copyTableConfig(env.pipeline);
  const portNos = msgs.filter((m): m is PortMod => m.type === OFPT.PORT_MOD).map((m) => m.portNo);
  const ports = portNos.length > 0 ? copyPorts(env, portNos) : undefined;
  building = false;

  try {
    for (let index = 0; index < msgs.length; index++) {
      const m = msgs[index]!;
      let err: ErrorPair | undefined;
      switch (m.type) {
        case OFPT.FLOW_MOD: {
          const r = pipeline.applyFlowMod(m);
          if (isError(r)) err = r;
          break;
        }
        case OFPT.GROUP_MOD: {
          if (groups === undefined) return { index, error: BFC.MSG_UNSUP };
          const r = groups.applyGroupMod(m);
          if (isError(r)) err = r;
          else for (const id of r.deleted) pipeline.deleteFlowsUsingGroup(id);
          break;
        }
        case OFPT.METER_MOD: {
          if (meters === undefined) return { index, error: BFC.MSG_UNSUP };
          const r = meters.applyMeterMod(m);
          if (isError(r)) err = r;
          else deleteFlowsUsingMeters(pipeline, r.deleted);
          break;
        }
        case OFPT.PORT_MOD:
          err = ports!.portMod(m);
          break;
        default:
          return { index, error: BFC.MSG_UNSUP };
      }
      if (err !== undefined) return { index, error: err };
    }
    return undefined;
  } finally {
    ports?.close();
  }
}

/**
 * Deletes from `pipeline` every rule whose meter instruction names one of `meterIds` (those
 * meters were deleted; OVS deletes such flows too). OpenFlow 1.3 has no METER_DELETE reason, so
 * the removed rules carry DELETE. The switch and the dry run both use it.
 */
export function deleteFlowsUsingMeters(pipeline: Pipeline, meterIds: readonly number[]): RemovedRule[] {
  if (meterIds.length === 0) return [];
  const gone = new Set(meterIds);
  const removed: RemovedRule[] = [];
  for (const rule of [...pipeline.rules()]) {
    const m = rule.instructions.find((i) => i.type === OFPIT.METER);
    if (m === undefined || m.type !== OFPIT.METER || !gone.has(m.meterId)) continue;
    const res = pipeline.applyFlowMod({
      type: OFPT.FLOW_MOD, cookie: 0n, cookieMask: 0n, tableId: rule.tableId, command: OFPFC.DELETE_STRICT,
      idleTimeout: 0, hardTimeout: 0, priority: rule.priority, bufferId: OFP_NO_BUFFER, outPort: OFPP.ANY,
      outGroup: OFPG.ANY, flags: 0, match: rule.match, instructions: [],
    });
    if (!isError(res)) removed.push(...res.removed);
  }
  return removed;
}

/** A new meter table holding the same meters (config only) as the switch's. */
function copyMeters(env: BundleEnv): BundleMeterTable {
  const m = env.newMeterTable();
  const configs = env.meters!.configStats(OFPM.ALL);
  if (isError(configs)) throw new Error(`bundle dry run: cannot list the meters: error ${configs[0]}/${configs[1]}`);
  for (const c of configs) {
    const r = m.applyMeterMod({ type: OFPT.METER_MOD, command: OFPMC.ADD, flags: c.flags, meterId: c.meterId, bands: c.bands });
    if (isError(r)) throw new Error(`bundle dry run: cannot copy meter ${c.meterId}: error ${r[0]}/${r[1]}`);
  }
  return m;
}

/**
 * A scratch PortTable holding copies of the switch's ports `portNos` (those that exist): same
 * number, name, type, address, link and config, so that PortTable.portMod checks a PORT_MOD
 * there exactly as on the real port. Throws when a copy does not describe the port as the real
 * one does (the port table grew a property the copy misses: a bug to fix here).
 */
function copyPorts(env: BundleEnv, portNos: readonly number[]): PortTable {
  const scratch = new PortTable(env.ports.bridge, env.now);
  for (const no of new Set(portNos)) {
    const real = env.ports.get(no);
    if (real === undefined) continue; // PORT_MOD on it: BAD_PORT, as in the real table
    if (no !== OFPP.LOCAL) {
      const added = scratch.add({ name: real.name, ofport: no, type: real.type, hwAddr: real.hwAddr });
      if (typeof added === 'string') throw new Error(`bundle dry run: cannot copy port ${no}: ${added}`);
    } else {
      scratch.setHwAddr(no, real.hwAddr);
    }
    scratch.setLink(no, real.carrier);
    scratch.setConfig(no, real.config);
    const copy = scratch.get(no)!;
    if (copy.hwAddr !== real.hwAddr || copy.supported !== real.supported || copy.config !== real.config || copy.state !== real.state) {
      throw new Error(`bundle dry run: the copy of port ${no} differs from the port`);
    }
  }
  return scratch;
}

/** The groups a bucket list links to (group actions and watch_group), as groups.ts counts them. */
function links(buckets: readonly Bucket[]): number[] {
  const out: number[] = [];
  for (const b of buckets) {
    if (b.watchGroup !== OFPG.ANY) out.push(b.watchGroup);
    for (const a of b.actions) if (a.type === OFPAT.GROUP) out.push(a.groupId);
  }
  return out;
}

/**
 * A new group table holding the same groups as the switch's. A group whose links point to a
 * group that is not there (deleted earlier) is rebuilt by adding a placeholder under that id
 * first and deleting it at the end, which leaves the same dangling link as in the real table.
 * Loops are impossible in the real table, so every ADD or MODIFY here succeeds.
 */
function copyGroups(env: BundleEnv, meterExists: (m: number) => boolean, building: () => boolean): BundleGroupTable {
  const g = env.newGroupTable({
    portExists: (p) => building() || env.portExists(p),
    meterExists: (m) => building() || meterExists(m),
    now: () => env.now(),
  });
  const placeholders = new Set<number>();
  const apply = (gm: Omit<GroupMod, 'type'>): void => {
    const r = g.applyGroupMod({ type: OFPT.GROUP_MOD, ...gm });
    if (isError(r)) throw new Error(`bundle dry run: cannot copy group ${gm.groupId}: error ${r[0]}/${r[1]}`);
  };
  for (const d of env.groups!.descStats()) {
    for (const t of links(d.buckets)) {
      if (t === d.groupId || g.exists(t)) continue;
      apply({ command: OFPGC.ADD, groupType: OFPGT.ALL, groupId: t, buckets: [] });
      placeholders.add(t);
    }
    const replacing = placeholders.delete(d.groupId);
    apply({ command: replacing ? OFPGC.MODIFY : OFPGC.ADD, groupType: d.groupType, groupId: d.groupId, buckets: d.buckets });
  }
  for (const t of placeholders) apply({ command: OFPGC.DELETE, groupType: OFPGT.ALL, groupId: t, buckets: [] });
  return g;
}

/** Copies into `to` every real rule of each table that an ADD or MODIFY of the bundle names. */
function copyNamedTables(msgs: readonly Bundled[], from: Pipeline, to: Pipeline): void {
  const wanted = new Set<number>();
  for (const m of msgs) {
    if (m.type !== OFPT.FLOW_MOD) continue;
    if (m.command !== OFPFC.ADD && m.command !== OFPFC.MODIFY && m.command !== OFPFC.MODIFY_STRICT) continue;
    if (m.tableId >= 0 && m.tableId < from.nTables) wanted.add(m.tableId);
  }
  for (const tableId of wanted) {
    for (const r of from.rules(tableId)) {
      const res = to.applyFlowMod({
        type: OFPT.FLOW_MOD, cookie: r.cookie, cookieMask: 0n, tableId, command: OFPFC.ADD, idleTimeout: r.idleTimeout,
        hardTimeout: r.hardTimeout, priority: r.priority, bufferId: OFP_NO_BUFFER, outPort: OFPP.ANY, outGroup: OFPG.ANY,
        flags: r.flags & ~OFPFF.CHECK_OVERLAP, match: r.match, instructions: r.instructions,
      });
      if (isError(res)) throw new Error(`bundle dry run: cannot copy a rule of table ${tableId}: error ${res[0]}/${res[1]}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Bundles per connection
// ---------------------------------------------------------------------------------------------

export interface BundleLimits {
  /** Open bundles per connection (default 64). */
  readonly maxBundles?: number;
  /** Messages per bundle (default 1 << 20). */
  readonly maxMessages?: number;
}

/** What the manager asks of the switch. */
export interface BundleHooks {
  /** ADD-time checks of a message (checkBundled with the switch's env). */
  check(inner: Message, outer: BundleAdd): ErrorPair | undefined;
  /** Applies the messages in order, all or nothing (dryRun, then the real tables). */
  commit(msgs: readonly Bundled[]): BundleFailure | undefined;
}

/** What to answer a bundle message with. */
export type BundleOutcome =
  /** A *_REPLY to send. */
  | { readonly kind: 'reply'; readonly reply: BundleCtrl }
  /** An ADD was stored: nothing to send. */
  | { readonly kind: 'stored' }
  /**
   * An error about `about` (the request, or the message inside an ADD). For a failed commit,
   * `failed` is the message that failed and its error, to be sent before the commit's.
   */
  | { readonly kind: 'error'; readonly error: ErrorPair; readonly about: Message; readonly failed?: { readonly msg: Bundled; readonly error: ErrorPair } };

interface Bundle {
  readonly id: number;
  readonly flags: number;
  closed: boolean;
  readonly msgs: Bundled[];
}

/** The bundles of every connection, and the state machine of BUNDLE_CONTROL and BUNDLE_ADD. */
export class BundleManager<P extends object> {
  private readonly byParty = new WeakMap<P, Map<number, Bundle>>();
  private readonly maxBundles: number;
  private readonly maxMessages: number;

  constructor(private readonly hooks: BundleHooks, limits: BundleLimits = {}) {
    this.maxBundles = limits.maxBundles ?? 64;
    this.maxMessages = limits.maxMessages ?? 1 << 20;
  }

  /** The open and closed bundles of `p`: id -> [flags, closed, message count] (for tests and logs). */
  list(p: P): Map<number, { readonly flags: number; readonly closed: boolean; readonly size: number }> {
    const out = new Map<number, { flags: number; closed: boolean; size: number }>();
    for (const b of this.byParty.get(p)?.values() ?? []) out.set(b.id, { flags: b.flags, closed: b.closed, size: b.msgs.length });
    return out;
  }

  /** Forgets every bundle of a connection (it closed). */
  discardAll(p: P): void {
    this.byParty.delete(p);
  }

  control(p: P, req: BundleCtrl): BundleOutcome {
    const bundles = this.bundles(p);
    const id = req.bundleId >>> 0;
    const b = bundles.get(id);
    const fail = (error: ErrorPair, discard = false): BundleOutcome => {
      if (discard) bundles.delete(id);
      return { kind: 'error', error, about: req };
    };
    const ok = (): BundleOutcome => ({ kind: 'reply', reply: reply(req) });
    switch (req.ctrlType) {
      case ONF_BCT.OPEN_REQUEST: {
        if (b !== undefined) return fail(BFC.BAD_ID, true);
        const err = this.open(bundles, id, req.flags);
        return err === undefined ? ok() : fail(err);
      }
      case ONF_BCT.CLOSE_REQUEST:
        if (b === undefined) return fail(BFC.BAD_ID);
        if (b.closed) return fail(BFC.BUNDLE_CLOSED, true);
        if (b.flags !== req.flags) return fail(BFC.BAD_FLAGS, true);
        b.closed = true;
        return ok();
      case ONF_BCT.COMMIT_REQUEST: {
        if (b === undefined) return fail(BFC.BAD_ID);
        bundles.delete(id); // whatever the outcome (OVS do_bundle_commit)
        if (b.flags !== req.flags) return fail(BFC.BAD_FLAGS);
        const f = this.hooks.commit(b.msgs);
        if (f === undefined) return ok();
        return { kind: 'error', error: BFC.MSG_FAILED, about: req, failed: { msg: b.msgs[f.index]!, error: f.error } };
      }
      case ONF_BCT.DISCARD_REQUEST:
        if (b === undefined) return fail(BFC.BAD_ID);
        bundles.delete(id);
        return ok();
      default:
        return fail(BFC.BAD_TYPE);
    }
  }

  add(p: P, req: BundleAdd): BundleOutcome {
    const inner = req.message;
    const err = this.hooks.check(inner, req);
    if (err !== undefined) {
      // A validation error is about the message itself (OF: its xid and its bytes as data); a
      // bundle error (MSG_UNSUP, MSG_BAD_XID) is about the ADD, as OVS sends it.
      return { kind: 'error', error: err, about: isBundleError(err) ? req : inner };
    }
    const bundles = this.bundles(p);
    const id = req.bundleId >>> 0;
    let b = bundles.get(id);
    if (b === undefined) {
      const e = this.open(bundles, id, req.flags);
      if (e !== undefined) return { kind: 'error', error: e, about: req };
      b = bundles.get(id)!;
    } else if (b.closed) {
      bundles.delete(id);
      return { kind: 'error', error: BFC.BUNDLE_CLOSED, about: req };
    } else if (b.flags !== req.flags) {
      bundles.delete(id);
      return { kind: 'error', error: BFC.BAD_FLAGS, about: req };
    }
    if (b.msgs.length >= this.maxMessages) return { kind: 'error', error: BFC.MSG_TOO_MANY, about: req };
    b.msgs.push(inner as Bundled);
    return { kind: 'stored' };
  }

  private bundles(p: P): Map<number, Bundle> {
    let m = this.byParty.get(p);
    if (m === undefined) this.byParty.set(p, (m = new Map()));
    return m;
  }

  private open(bundles: Map<number, Bundle>, id: number, flags: number): ErrorPair | undefined {
    if ((flags & ~KNOWN_FLAGS) !== 0) return BFC.BAD_FLAGS;
    if (bundles.size >= this.maxBundles) return BFC.OUT_OF_BUNDLES;
    bundles.set(id, { id, flags, closed: false, msgs: [] });
    return undefined;
  }
}

/** The *_REPLY to a *_REQUEST: same xid, bundle id and flags. */
function reply(req: BundleCtrl): BundleCtrl {
  return {
    version: OFP_VERSION, type: OFPT.EXPERIMENTER, xid: req.xid ?? 0, experimenter: ONF_EXPERIMENTER_ID,
    expType: ONF_ET.BUNDLE_CONTROL, bundleId: req.bundleId, ctrlType: req.ctrlType + 1, flags: req.flags, properties: [],
  };
}
