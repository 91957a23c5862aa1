/**
 * The group table (OpenFlow 1.3.5 §5.6, GROUP_MOD §7.3.4.2, group multiparts §7.3.5.9–11).
 *
 * A GROUP_MOD is checked completely before anything changes, then applied in one step, so a
 * refused message leaves the table exactly as it was. Errors are values (ErrorPair).
 *
 * Sources: OF = the OpenFlow 1.3.5 specification; OVS = Open vSwitch: lib/ofp-group.c
 * (ofputil_check_group_mod, ofputil_pull_ofp11_buckets), ofproto/ofproto.c (add_group,
 * modify_group, delete_group, handle_group_stats_request, the group features set up in
 * ofproto_create). Where the two differ, the choice and the reason are written next to the check.
 *
 * Order of checks (which error wins when several apply):
 *   1. command: ADD, MODIFY, DELETE, and OVS's ADD_OR_MOD extension (0x8000, what
 *      `ovs-ofctl --may-create mod-group` sends; OVS accepts it on 1.3 too); anything else
 *      GROUP_MOD_FAILED/BAD_COMMAND (OF, OVS).
 *   DELETE stops here: it never fails. A missing group is not an error (OF: "no error is
 *   recorded"); OFPG_ALL deletes every group. The type field is ignored (OF: "the group type
 *   need not be specified for the delete request"; OVS checks it even there — we follow OF, so
 *   a DELETE with any type byte works).
 *   2. group id > OFPG_MAX (this includes OFPG_ALL and OFPG_ANY)    INVALID_GROUP (OVS add_group)
 *   3. type not ALL/SELECT/INDIRECT/FF                               BAD_TYPE      (OF, OVS)
 *   4. ADD of an existing id                                         GROUP_EXISTS  (OF, OVS)
 *      MODIFY of a missing id                                        UNKNOWN_GROUP (OF, OVS)
 *   5. no room for one more group of this type (an ADD, or a MODIFY that changes the type)
 *                                                                    OUT_OF_GROUPS (OF, OVS)
 *   6. more buckets than the per-group limit                         OUT_OF_BUCKETS (OF)
 *   7. INDIRECT without exactly one bucket                           INVALID_GROUP
 *      (OF: "supports only a single bucket"; OVS ofputil_check_group_mod: !singleton ->
 *      OFPGMFC_INVALID_GROUP)
 *   8. per bucket, in order:
 *      - weight != 0 in a group that is not SELECT                   INVALID_GROUP
 *        (OF: "includes fields such as weight that are undefined for the specified group type"
 *        -> INVALID_GROUP; OVS the same). A SELECT bucket of weight 0 is allowed: it is never
 *        chosen (OVS allows it too).
 *      - a watch (watch_port != ANY or watch_group != ANY) on an ALL or INDIRECT group
 *                                                                    WATCH_UNSUPPORTED
 *        (OVS ofputil_check_group_mod; liveness means nothing for these types)
 *      - an FF bucket with neither watch_port nor watch_group        INVALID_GROUP
 *        (OVS ofputil_check_group_mod returns OFPGMFC_INVALID_GROUP; OF names no code, and
 *        BAD_WATCH — "error in watch port/group" — would also read well; we keep OVS's code
 *        because controllers are tested against it)
 *      - watch_port neither ANY nor a port of this switch            BAD_WATCH
 *        (OF's BAD_WATCH. OVS only refuses numbers in the unused range 0xff00..0xfffffeff and
 *        accepts any other port, existing or not, treating a missing one as dead. We are
 *        stricter, as the design asks: a bucket watching a port that does not exist is almost
 *        always a controller bug. LOCAL counts as a port when the switch says it exists; the
 *        other reserved ports have no liveness and are refused.)
 *      - watch_group neither ANY nor an existing group (the group being written counts, as
 *        does the watch of itself, which then fails as a loop)       BAD_WATCH (OF; OVS does
 *        not check)
 *      - the bucket's actions, validated as the actions of a flow entry without a match
 *        (validatePacketOutActions from validate.ts: ports exist, groups exist, no experimenter
 *        actions, set-field values...) plus output to TABLE refused (it "can only be used in
 *        packet-out", OF §7.2.5)                                     BAD_ACTION/*  (OF: "The
 *        action set for each bucket must be validated using the same rules as those for flow
 *        mods ... OFPET_BAD_ACTION")
 *   9. chaining: a group reached from itself through group actions in buckets or through
 *      watch_group links                                              LOOP
 *      (OF: a switch that checks chaining must refuse a loop with OFPGMFC_LOOP. OVS does no
 *      check and caps the recursion when translating. A watch_group cycle makes liveness
 *      undefined, so it is refused too.)
 *
 * Delete and chained groups. OF 1.3.5 lets a switch that checks chaining refuse to delete a group
 * that another group forwards to (OFPGMFC_CHAINED_GROUP). OVS does not: delete_group__ removes
 * the group and the flows whose actions use it (out_group = the group), and leaves groups whose
 * buckets point to it alone, their group action then pointing nowhere (xlate drops there). We
 * follow OVS: DELETE never fails, `deleted` lists the ids removed (the switch deletes the flows
 * using them), and a later ADD under the same id is loop-checked against those leftover links.
 * Because the delete half of OFPGFC_CHAINING_CHECKS ("check chaining for loops and delete") is
 * not done, that capability bit is not advertised, although loops are refused.
 *
 * Counters. The datapath credits packets to a group and to the buckets it ran (credit()); until
 * it does, every counter is zero. MODIFY resets the group's and buckets' counters (the buckets
 * they counted are gone; OF says the old entry "must be removed, and the new group entry added")
 * but keeps the creation time, so duration counts from the ADD (OVS modify_group keeps `created`
 * and only sets `modified`).
 * ref_count is "the number of flows or groups that directly forward to this group" (OF): the
 * flows come from the switch (setRefCounter), the groups from this table. (OVS counts flows only.)
 */

import type { ErrorPair } from '../../proto/schema.js';
import {
  OFPAT, OFPE, OFPG, OFPGC, OFPGFC, OFPGT, OFPP,
  type Action, type Bucket, type GroupDesc, type GroupMod, type GroupStats, type MultipartReplyGroupFeatures,
} from '../openflow/index.js';
import { duration } from './flow-table.js';
import { validatePacketOutActions, type ValidationEnv } from './validate.js';

const GM = OFPE.GROUP_MOD_FAILED!;

/** OVS's OFPGC11_ADD_OR_MOD (include/openflow/openflow-1.1.h): add, or modify if it exists. */
export const OFPGC_ADD_OR_MOD = 0x8000;

/** What the group table needs from the switch. */
export interface GroupEnv {
  portExists(port: number): boolean;
  meterExists?(id: number): boolean;
  /** ms, monotonic */
  now(): number;
}

/** Limits; both are advertised in the features reply or enforced with the spec's errors. */
export interface GroupLimits {
  /** Groups per type (max_groups[type]); default 65535. */
  readonly maxGroups?: number;
  /** Buckets per group; default 4096 (more than one 64 KiB GROUP_MOD can carry). */
  readonly maxBuckets?: number;
}

export interface BucketCounters {
  readonly packetCount: bigint;
  readonly byteCount: bigint;
}

/** A group as stored: buckets exactly as sent, plus counters. */
export interface Group {
  readonly id: number;
  readonly type: number;
  readonly buckets: readonly Bucket[];
  readonly packetCount: bigint;
  readonly byteCount: bigint;
  /** flows (from the switch's counter) plus groups whose buckets forward here; see the header */
  readonly refCount?: number;
  readonly bucketCounters: readonly BucketCounters[];
  /** env.now() at the ADD */
  readonly createdAt: number;
}

interface Entry {
  readonly id: number;
  type: number;
  buckets: readonly Bucket[];
  packetCount: bigint;
  byteCount: bigint;
  bucketCounters: Array<{ packetCount: bigint; byteCount: bigint }>;
  readonly createdAt: number;
}

export type GroupFeatures = Pick<MultipartReplyGroupFeatures, 'types' | 'capabilities' | 'maxGroups' | 'actions'>;

const TYPES = [OFPGT.ALL, OFPGT.SELECT, OFPGT.INDIRECT, OFPGT.FF] as const;

/** Every standard action the validator accepts, as 1 << OFPAT_* (all fit in 32 bits). */
const ACTIONS_BITMAP = [
  OFPAT.OUTPUT, OFPAT.COPY_TTL_OUT, OFPAT.COPY_TTL_IN, OFPAT.SET_MPLS_TTL, OFPAT.DEC_MPLS_TTL, OFPAT.PUSH_VLAN,
  OFPAT.POP_VLAN, OFPAT.PUSH_MPLS, OFPAT.POP_MPLS, OFPAT.SET_QUEUE, OFPAT.GROUP, OFPAT.SET_NW_TTL, OFPAT.DEC_NW_TTL,
  OFPAT.SET_FIELD, OFPAT.PUSH_PBB, OFPAT.POP_PBB,
].reduce<number>((m, a) => (m | (1 << a)) >>> 0, 0);

const hasWatch = (b: Bucket): boolean => b.watchPort !== OFPP.ANY || b.watchGroup !== OFPG.ANY;

const NO_DELETE = Object.freeze({ deleted: Object.freeze([]) as readonly number[] });

export class GroupTable {
  private readonly groups = new Map<number, Entry>();
  private readonly perType = [0, 0, 0, 0];
  /** For each group id, how many groups link to it (group action or watch_group): loop checks
   *  start only where a cycle is possible at all. */
  private readonly inbound = new Map<number, number>();
  private readonly maxGroups: number;
  private readonly maxBuckets: number;
  private refCounter: (groupId: number) => number = () => 0;

  constructor(private readonly env: GroupEnv, limits: GroupLimits = {}) {
    this.maxGroups = limits.maxGroups ?? 65535;
    this.maxBuckets = limits.maxBuckets ?? 4096;
  }

  /** The switch's count of flow entries whose actions use a group (for ref_count). */
  setRefCounter(fn: (groupId: number) => number): void {
    this.refCounter = fn;
  }

  exists(id: number): boolean {
    return this.groups.has(id);
  }

  get size(): number {
    return this.groups.size;
  }

  get(id: number): Group | undefined {
    const e = this.groups.get(id);
    return e === undefined ? undefined : this.view(e);
  }

  applyGroupMod(gm: GroupMod): { readonly deleted: readonly number[] } | ErrorPair {
    let cmd = gm.command;
    if (cmd === OFPGC.DELETE) return { deleted: this.delete(gm.groupId) };
    if (cmd === OFPGC_ADD_OR_MOD) cmd = this.groups.has(gm.groupId) ? OFPGC.MODIFY : OFPGC.ADD;
    if (cmd !== OFPGC.ADD && cmd !== OFPGC.MODIFY) return GM.BAD_COMMAND!;
    const id = gm.groupId >>> 0;
    if (id > OFPG.MAX) return GM.INVALID_GROUP!;
    const type = gm.groupType;
    if (!(TYPES as readonly number[]).includes(type)) return GM.BAD_TYPE!;
    const old = this.groups.get(id);
    if (cmd === OFPGC.ADD ? old !== undefined : old === undefined) {
      return cmd === OFPGC.ADD ? GM.GROUP_EXISTS! : GM.UNKNOWN_GROUP!;
    }
    if ((old === undefined || old.type !== type) && this.perType[type]! >= this.maxGroups) return GM.OUT_OF_GROUPS!;
    const err = this.checkBuckets(id, type, gm.buckets);
    if (err !== undefined) return err;

    const now = this.env.now();
    const fresh = gm.buckets.map(() => ({ packetCount: 0n, byteCount: 0n }));
    if (old === undefined) {
      this.groups.set(id, { id, type, buckets: gm.buckets, packetCount: 0n, byteCount: 0n, bucketCounters: fresh, createdAt: now });
      this.link(gm.buckets, 1);
    } else {
      this.perType[old.type]!--;
      old.type = type;
      this.link(old.buckets, -1);
      old.buckets = gm.buckets;
      this.link(gm.buckets, 1);
      old.packetCount = 0n;
      old.byteCount = 0n;
      old.bucketCounters = fresh;
    }
    this.perType[type]!++;
    return NO_DELETE;
  }

  /**
   * Credits `packets`/`bytes` to the group once, and to each bucket in `bucketIndex` (one index,
   * several for an ALL group, or none: -1 or []). Returns false when the group does not exist
   * (the datapath may report for a group deleted meanwhile; that is dropped).
   */
  credit(groupId: number, bucketIndex: number | readonly number[], packets: bigint, bytes: bigint): boolean {
    const e = this.groups.get(groupId);
    if (e === undefined) return false;
    e.packetCount += packets;
    e.byteCount += bytes;
    for (const i of typeof bucketIndex === 'number' ? [bucketIndex] : bucketIndex) {
      const c = e.bucketCounters[i];
      if (c !== undefined) {
        c.packetCount += packets;
        c.byteCount += bytes;
      }
    }
    return true;
  }

  /** GROUP_DESC: every group, by id. */
  descStats(): GroupDesc[] {
    return this.sorted().map((e) => ({ groupType: e.type, groupId: e.id, buckets: e.buckets }));
  }

  /**
   * GROUP stats for one group or OFPG_ALL. An id that names no group gives an empty list, as OVS
   * answers (handle_group_stats_request appends nothing); no error is defined for it in OF 1.3.
   */
  stats(groupId: number): GroupStats[] | ErrorPair {
    const list = groupId === OFPG.ALL ? this.sorted() : [this.groups.get(groupId)].filter((e): e is Entry => e !== undefined);
    const now = this.env.now();
    const fromGroups = list.length > 1 ? this.groupRefs() : undefined;
    return list.map((e) => {
      const d = duration(e.createdAt, now);
      return {
        groupId: e.id, refCount: this.refCount(e.id, fromGroups), packetCount: e.packetCount, byteCount: e.byteCount,
        durationSec: d.sec, durationNsec: d.nsec,
        bucketStats: e.bucketCounters.map((c) => ({ packetCount: c.packetCount, byteCount: c.byteCount })),
      };
    });
  }

  /**
   * GROUP_FEATURES. Capabilities: SELECT_WEIGHT (weights honoured), SELECT_LIVENESS (select buckets
   * may watch), CHAINING (bucket group actions) — what OVS advertises too. CHAINING_CHECKS is not
   * advertised: loops are refused but deleting a chained group is allowed (see the header).
   */
  features(): GroupFeatures {
    return {
      types: TYPES.reduce<number>((m, t) => m | (1 << t), 0),
      capabilities: OFPGFC.SELECT_WEIGHT | OFPGFC.SELECT_LIVENESS | OFPGFC.CHAINING,
      maxGroups: TYPES.map(() => this.maxGroups),
      actions: TYPES.map(() => ACTIONS_BITMAP),
    };
  }

  // -------------------------------------------------------------------------------------------

  private view(e: Entry): Group {
    return {
      id: e.id, type: e.type, buckets: e.buckets, packetCount: e.packetCount, byteCount: e.byteCount,
      refCount: this.refCount(e.id),
      bucketCounters: e.bucketCounters.map((c) => ({ packetCount: c.packetCount, byteCount: c.byteCount })),
      createdAt: e.createdAt,
    };
  }

  /** ref_count of `id`; `fromGroups` (groupRefs()) saves a pass over the table per group. */
  private refCount(id: number, fromGroups?: ReadonlyMap<number, number>): number {
    const flows = this.refCounter(id);
    if (fromGroups !== undefined) return flows + (fromGroups.get(id) ?? 0);
    let n = 0;
    for (const g of this.groups.values()) if (forwardsTo(g).has(id)) n++;
    return flows + n;
  }

  /** For every group id, how many groups forward to it (each group counted once per target). */
  private groupRefs(): Map<number, number> {
    const m = new Map<number, number>();
    for (const g of this.groups.values()) for (const t of forwardsTo(g)) m.set(t, (m.get(t) ?? 0) + 1);
    return m;
  }

  private sorted(): Entry[] {
    return [...this.groups.values()].sort((a, b) => a.id - b.id);
  }

  private delete(groupId: number): number[] {
    const ids = groupId === OFPG.ALL ? [...this.groups.keys()].sort((a, b) => a - b) : this.groups.has(groupId) ? [groupId] : [];
    for (const id of ids) {
      this.perType[this.groups.get(id)!.type]!--;
      this.link(this.groups.get(id)!.buckets, -1);
      this.groups.delete(id);
    }
    return ids;
  }

  /** Steps 6–9 of the header for group `id` of `type` about to hold `buckets`. */
  private checkBuckets(id: number, type: number, buckets: readonly Bucket[]): ErrorPair | undefined {
    if (buckets.length > this.maxBuckets) return GM.OUT_OF_BUCKETS!;
    if (type === OFPGT.INDIRECT && buckets.length !== 1) return GM.INVALID_GROUP!;
    // The group being written exists for its own buckets' references, so that pointing at
    // itself is reported as the loop it is rather than as a missing group.
    const groupExists = (g: number): boolean => g === id || this.groups.has(g);
    const venv: ValidationEnv = {
      portExists: (p) => this.env.portExists(p),
      groupExists,
      meterExists: (m) => this.env.meterExists?.(m) ?? false,
    };
    for (const b of buckets) {
      if (b.weight !== 0 && type !== OFPGT.SELECT) return GM.INVALID_GROUP!;
      const watched = hasWatch(b);
      if (watched && (type === OFPGT.ALL || type === OFPGT.INDIRECT)) return GM.WATCH_UNSUPPORTED!;
      if (!watched && type === OFPGT.FF) return GM.INVALID_GROUP!;
      if (b.watchPort !== OFPP.ANY && !this.watchablePort(b.watchPort)) return GM.BAD_WATCH!;
      if (b.watchGroup !== OFPG.ANY && !groupExists(b.watchGroup)) return GM.BAD_WATCH!;
      const err = checkBucketActions(b.actions, venv);
      if (err !== undefined) return err;
    }
    if (this.reachesItself(id, buckets)) return GM.LOOP!;
    return undefined;
  }

  private watchablePort(port: number): boolean {
    if (port === OFPP.LOCAL) return this.env.portExists(port);
    return port >= 1 && port <= OFPP.MAX && this.env.portExists(port);
  }

  private link(buckets: readonly Bucket[], delta: 1 | -1): void {
    for (const t of links(buckets)) {
      const n = (this.inbound.get(t) ?? 0) + delta;
      if (n === 0) this.inbound.delete(t);
      else this.inbound.set(t, n);
    }
  }

  /**
   * Whether `id`, holding `buckets`, would reach itself through the links of the table as it
   * would be (`id`'s old buckets replaced). Links: group actions and watch_group. Links to ids
   * with no group (left behind by a DELETE) lead nowhere until a group takes that id.
   */
  private reachesItself(id: number, buckets: readonly Bucket[]): boolean {
    const stack = [...links(buckets)];
    if (stack.includes(id)) return true;
    // A cycle through `id` needs a link into it from another group.
    if ((this.inbound.get(id) ?? 0) === 0) return false;
    const seen = new Set<number>();
    while (stack.length > 0) {
      const g = stack.pop()!;
      if (g === id) return true;
      if (seen.has(g)) continue;
      seen.add(g);
      const e = this.groups.get(g);
      if (e !== undefined) for (const l of links(e.buckets)) if (!seen.has(l)) stack.push(l);
    }
    return false;
  }
}

/** The groups that `g`'s buckets forward to with a group action (not itself: loops are refused). */
function forwardsTo(g: Entry): Set<number> {
  const out = new Set<number>();
  for (const b of g.buckets) for (const a of b.actions) if (a.type === OFPAT.GROUP && a.groupId !== g.id) out.add(a.groupId);
  return out;
}

/** The groups a bucket list links to, through watch_group or a group action. */
function links(buckets: readonly Bucket[]): Set<number> {
  const out = new Set<number>();
  for (const b of buckets) {
    if (b.watchGroup !== OFPG.ANY) out.add(b.watchGroup);
    for (const a of b.actions) if (a.type === OFPAT.GROUP) out.add(a.groupId);
  }
  return out;
}

/** A bucket's action list: a packet-out's rules (validate.ts) without output to TABLE. */
function checkBucketActions(actions: readonly Action[], env: ValidationEnv): ErrorPair | undefined {
  for (const a of actions) if (a.type === OFPAT.OUTPUT && a.port === OFPP.TABLE) return OFPE.BAD_ACTION!.BAD_OUT_PORT!;
  return validatePacketOutActions(actions, env);
}
