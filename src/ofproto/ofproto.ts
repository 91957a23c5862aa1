/**
 * One OpenFlow switch (a bridge): its datapath id, ports, the pipeline of flow tables, groups and
 * meters when those tables are present, the connection manager, and the handler that answers
 * every controller message the connection and role layers pass on.
 *
 * Order and barriers: each connection hands messages to `handle` one at a time, in arrival order,
 * and waits for a returned promise before the next (connection.ts). Every handler here applies
 * its change synchronously before it returns, so when a BARRIER_REQUEST is handled everything
 * before it is applied and the reply can go at once. When the datapath arrives, a change that must
 * reach it returns a promise and the barrier is still correct.
 *
 * Buffers: n_buffers is 0 and no packet is kept, so every buffer_id other than OFP_NO_BUFFER in a
 * FLOW_MOD or PACKET_OUT is BAD_REQUEST/BUFFER_UNKNOWN (DESIGN.md §5: never advertise buffers that
 * are not kept). A FLOW_MOD with a bad buffer id is refused before it is applied (OVS applies the
 * flow-mod and then reports the buffer error; refusing is the honest reading of "buffer unknown").
 *
 * Timeouts: one timer, armed at pipeline.nextExpiry() and re-armed after each change that can
 * move it; when it fires the expired rules go and their FLOW_REMOVED messages go out.
 *
 * Asynchronous messages (FLOW_REMOVED, PORT_STATUS) go to every negotiated connection whose async
 * configuration wants that reason (roles.wants), FLOW_REMOVED only for rules with SEND_FLOW_REM.
 *
 * ONF bundles (bundles.ts): BUNDLE_CONTROL and BUNDLE_ADD_MESSAGE go to the BundleManager; a
 * commit runs the bundle against a scratch copy first (bundles.ts dryRun) and only then applies
 * every message to the real tables with the same code as an unbundled FLOW_MOD / GROUP_MOD /
 * METER_MOD / PORT_MOD (applyFlowMod, applyGroupMod, applyMeterMod, ports.portMod below), so a
 * failed commit changes nothing and sends no FLOW_REMOVED or PORT_STATUS. A connection's
 * bundles go when it disconnects.
 */

import { performance } from 'node:perf_hooks';
import type { Subscription } from 'rxjs';
import { OFPE } from '../../proto/errors.js';
import type { ErrorPair } from '../../proto/schema.js';
import {
  OFPC, OFPFC, OFPG, OFPIT, OFPMPF, OFPP, OFPT, OFPTT, OFP_NO_BUFFER, OFP_VERSION, ONF_EXPERIMENTER_ID,
  type FlowMod, type GroupMod, type Message, type MeterMod, type MultipartRequest, type PacketOut, type PortMod, type TableMod,
} from '../openflow/index.js';
import { logger, type Logger } from '../common/log.js';
import { BFC, BundleManager, checkBundled, deleteFlowsUsingMeters, dryRun, isBundleAdd, isBundleCtrl, type BundleEnv, type BundleLimits, type BundleOutcome, type Bundled } from './bundles.js';
import { ConnectionManager, type ActiveController, type Listener, type ManagerEvent } from './connmgr.js';
import { flowRemovedMessage, isError, Pipeline, usesGroup, wantsFlowRemoved, type PipelineEnv, type RemovedRule, type Rule } from './flow-table.js';
import { GroupTable, type Group, type GroupEnv } from './groups.js';
import { MeterTable, type Meter } from './meters.js';
import { MultipartAssembler, multipartReply, DEFAULT_MAX_REASSEMBLY, type GroupSource, type MeterSource } from './multipart.js';
import { PortTable, type PortSpec, type PortStatusEvent } from './ports.js';
import { RoleManager, wants, type ControlParty } from './roles.js';
import { validatePacketOutActions } from './validate.js';
import { PacketInScheduler, type PacketInOptions, type PacketInRequest, type PacketInStats } from './packet-in.js';
import { FailModeMonitor, type FailMode } from './fail-mode.js';

/** The group table as the switch uses it (groups.ts's GroupTable). */
export interface GroupTableLike extends GroupSource {
  applyGroupMod(gm: GroupMod): { readonly deleted: readonly number[] } | ErrorPair;
  exists(id: number): boolean;
  setRefCounter(fn: (groupId: number) => number): void;
  get(id: number): Group | undefined;
  credit(groupId: number, bucketIndex: number | readonly number[], packets: bigint, bytes: bigint): boolean;
}

/** The meter table as the switch uses it (meters.ts's MeterTable). */
export interface MeterTableLike extends MeterSource {
  applyMeterMod(mm: MeterMod): { readonly deleted: readonly number[] } | ErrorPair;
  exists(id: number): boolean;
  setFlowCounter?(fn: (meterId: number) => number): void;
  get(id: number): Meter | undefined;
  credit(meterId: number, packets: bigint, bytes: bigint): boolean;
  creditBand(meterId: number, bandIndex: number, packets: bigint, bytes: bigint): boolean;
}

export interface OfprotoOptions {
  /** Bridge name (default br0): the LOCAL port's name too. */
  readonly bridge?: string;
  /** Datapath id (default: derived from the bridge name, see dpidFor). */
  readonly datapathId?: bigint;
  /** Number of flow tables (default 255: 0..254). */
  readonly nTables?: number;
  readonly ports?: readonly PortSpec[];
  /** Monotonic clock in ms (default performance.now). */
  readonly now?: () => number;
  /** Inactivity probe interval in ms for every connection (default 5000). */
  readonly probeInterval?: number;
  readonly backoffBase?: number;
  /** Largest multipart request reassembled from REQ_MORE parts, bytes (default 1 MiB). */
  readonly maxMultipartRequest?: number;
  /** Builds the group table (default groups.ts's GroupTable; false: no groups, GROUP_MOD refused). */
  readonly groups?: ((env: GroupEnv) => GroupTableLike) | false;
  /** Builds the meter table (default meters.ts's MeterTable; false: no meters, METER_MOD refused). */
  readonly meters?: ((env: { now(): number }) => MeterTableLike) | false;
  /** ONF bundles per connection and messages per bundle (bundles.ts's defaults). */
  readonly bundles?: BundleLimits;
  readonly swVersion?: string;
  readonly log?: Logger;
  /** Packet-in queue per connection and rate limit (packet-in.ts). */
  readonly packetIn?: PacketInOptions;
  /** secure (default) or standalone (fail-mode.ts). */
  readonly failMode?: FailMode;
}

/**
 * What the switch tells its datapath (datapath.ts's DatapathBridge), synchronously, so that a
 * BARRIER_REPLY sent after a change also covers the datapath: cached flows the change can
 * affect are re-translated or gone before the next message is handled.
 */
export interface DatapathHooks {
  /** Rules were added, replaced, modified or removed (counters of removed rules are pushed first). */
  flowsChanged(r: { readonly added?: readonly Rule[]; readonly replaced?: readonly Rule[]; readonly modified?: readonly Rule[]; readonly removed?: readonly RemovedRule[] }): void;
  /** Groups were added, changed or deleted. */
  groupsChanged(ids: readonly number[]): void;
  /** A meter was added, changed or deleted (read the meter table for its config). */
  metersChanged(ids: readonly number[]): void;
  /**
   * Executes a validated PACKET_OUT; an error to answer with, or undefined. Its frames may wait
   * for the end of the tick, batched with the PACKET_OUTs that follow, until flush().
   */
  packetOut(po: PacketOut): ErrorPair | undefined;
  /** Sends the frames PACKET_OUTs left waiting (before a BARRIER_REPLY). */
  flush(): void;
  /** Pushes the datapath's counters into the tables, groups, meters and ports (before stats and expiry). */
  sync(): void;
}

/** Something a message can be answered on: an OfConnection, or a test's fake. */
export type Party = ControlParty;

export interface SwitchCounters {
  flowMods: number;
  packetOuts: number;
  errors: number;
}

/** A stable 48-bit datapath id from a bridge name (FNV-1a 64, low 48 bits), as OVS derives one from a MAC. */
export function dpidFor(bridge: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const b of Buffer.from(bridge, 'utf8')) h = BigInt.asUintN(64, (h ^ BigInt(b)) * 0x100000001b3n);
  return h & 0xffff_ffff_ffffn;
}

const BR = OFPE.BAD_REQUEST!;
const CAPABILITIES = OFPC.FLOW_STATS | OFPC.TABLE_STATS | OFPC.PORT_STATS | OFPC.GROUP_STATS;

export class Ofproto {
  readonly bridge: string;
  readonly datapathId: bigint;
  readonly ports: PortTable;
  readonly pipeline: Pipeline;
  readonly groups: GroupTableLike | undefined;
  readonly meters: MeterTableLike | undefined;
  readonly roles = new RoleManager();
  readonly connmgr: ConnectionManager;
  readonly counters: SwitchCounters = { flowMods: 0, packetOuts: 0, errors: 0 };
  readonly now: () => number;
  /** Packet-ins to controllers: async masks, truncation, bounded queues, rate limit (packet-in.ts). */
  readonly packetIns: PacketInScheduler;
  /** Fail mode: `failMode.failOpen` / `failMode.changes$` (fail-mode.ts). */
  readonly failMode: FailModeMonitor;

  private readonly log: Logger;
  /** What validation and the pipeline know about the switch. */
  private readonly env: PipelineEnv;
  private readonly swVersion: string;
  private readonly maxMultipart: number;
  private readonly assemblers = new WeakMap<Party, MultipartAssembler>();
  /** Parties attached without the connection manager (in-process tests). */
  private readonly attached = new Set<Party>();
  private expiryTimer: NodeJS.Timeout | undefined;
  private expiryAt: number | undefined;
  private readonly subs: Subscription[] = [];
  private closed = false;
  /** The datapath, once one is attached (attachDatapath). */
  private dp: DatapathHooks | undefined;
  /** ONF bundles of every connection (bundles.ts). */
  private readonly bundles: BundleManager<Party>;
  /** What a bundle's checks and dry run read from the switch. */
  private readonly bundleEnv: BundleEnv;

  /** The message handler (after roles): bound, so it can be handed around. */
  readonly handle = (msg: Message, conn: Party): void => this.onMessage(msg, conn);

  constructor(opts: OfprotoOptions = {}) {
    this.bridge = opts.bridge ?? 'br0';
    this.datapathId = opts.datapathId ?? dpidFor(this.bridge);
    this.now = opts.now ?? (() => performance.now());
    this.log = opts.log ?? logger('ofproto');
    this.swVersion = opts.swVersion ?? 'ofswitch';
    this.maxMultipart = opts.maxMultipartRequest ?? DEFAULT_MAX_REASSEMBLY;
    this.ports = new PortTable(this.bridge, this.now);
    const env: PipelineEnv = this.env = {
      portExists: (p) => this.ports.exists(p),
      groupExists: (g) => this.groups?.exists(g) ?? false,
      meterExists: (m) => this.meters?.exists(m) ?? false,
      now: this.now,
    };
    this.pipeline = new Pipeline(env, opts.nTables !== undefined ? { nTables: opts.nTables } : {});
    const makeMeters = opts.meters ?? ((e: { now(): number }) => new MeterTable(e));
    const makeGroups = opts.groups ?? ((e: GroupEnv) => new GroupTable(e));
    this.meters = makeMeters === false ? undefined : makeMeters({ now: this.now });
    this.groups = makeGroups === false ? undefined : makeGroups({
      portExists: (p) => this.ports.exists(p),
      meterExists: (m) => this.meters?.exists(m) ?? false,
      now: this.now,
    });
    this.groups?.setRefCounter((id) => this.groupRefs(id));
    const groupsFor = makeGroups;
    const metersFor = makeMeters;
    this.bundleEnv = {
      pipeline: this.pipeline,
      groups: this.groups,
      newGroupTable: (e) => {
        if (groupsFor === false) throw new Error('no group table');
        return groupsFor(e);
      },
      meters: this.meters,
      newMeterTable: () => {
        if (metersFor === false) throw new Error('no meter table');
        return metersFor({ now: this.now });
      },
      ports: this.ports,
      portExists: (p) => this.ports.exists(p),
      meterExists: (m) => this.meters?.exists(m) ?? false,
      now: this.now,
    };
    this.bundles = new BundleManager<Party>({
      check: (inner, outer) => {
        try {
          return checkBundled(inner, outer, this.bundleEnv);
        } catch (e) {
          // A scratch copy could not be built (a bug): refuse the message, change nothing.
          this.log.error('bundle add check failed', { error: String(e) });
          return BFC.UNKNOWN;
        }
      },
      commit: (msgs) => this.commitBundle(msgs),
    }, opts.bundles);
    this.meters?.setFlowCounter?.((id) => this.meterRefs(id));
    for (const spec of opts.ports ?? []) {
      const r = this.ports.add(spec);
      if (typeof r === 'string') throw new Error(`port ${spec.name}: ${r}`);
    }
    this.subs.push(this.ports.status$.subscribe((ev) => this.onPortStatus(ev)));
    this.connmgr = new ConnectionManager({
      handler: this.handle,
      roles: this.roles,
      ...(opts.probeInterval !== undefined ? { probeInterval: opts.probeInterval } : {}),
      ...(opts.backoffBase !== undefined ? { backoffBase: opts.backoffBase } : {}),
    });
    this.subs.push(this.connmgr.events$.subscribe((ev) => this.onManagerEvent(ev)));
    this.packetIns = new PacketInScheduler({ now: this.now, ...opts.packetIn });
    this.failMode = new FailModeMonitor({
      mode: opts.failMode ?? 'secure', now: this.now,
      ...(opts.probeInterval !== undefined ? { probeInterval: opts.probeInterval } : {}),
    });
    this.subs.push(this.connmgr.events$.subscribe((ev) => {
      if (ev.type === 'negotiated') this.failMode.controllerUp();
      else if (ev.type === 'disconnected' && ev.conn.version !== undefined) this.failMode.controllerDown();
    }));
  }

  /**
   * Sends one packet to the controllers as PACKET_IN (the datapath calls this for output:CONTROLLER
   * and table-miss flows): to every connection whose async config wants the reason, truncated to
   * `maxLen` (from the action; OFPCML_NO_BUFFER = whole) or, without one, to the connection's
   * miss_send_len; queued and rate limited per connection (packet-in.ts). Returns the number of
   * connections it was sent or queued to.
   */
  sendPacketIn(pi: PacketInRequest): number {
    return this.packetIns.submit(pi, this.parties());
  }

  /** Connects the datapath: from now on changes reach it and PACKET_OUTs execute on it. */
  attachDatapath(dp: DatapathHooks | undefined): void {
    this.dp = dp;
  }

  /** Packet-in counters: sent, queue drops, rate drops, per connection and in total. */
  packetInStats(): PacketInStats {
    return this.packetIns.stats();
  }

  /** True while in fail-open (standalone mode, no controller for three probe intervals). */
  get failOpen(): boolean {
    return this.failMode.failOpen;
  }

  listen(target: string): Promise<Listener> {
    return this.connmgr.listen(target);
  }

  connect(target: string): ActiveController {
    return this.connmgr.connect(target);
  }

  /**
   * Makes `p` receive asynchronous messages although it is not a connection of the manager (a
   * test's in-process controller). Roles see it too.
   */
  attach(p: Party): void {
    this.attached.add(p);
    this.roles.attach(p);
  }

  /** Roles first (as the connection manager does), then the switch: for in-process callers. */
  receive(msg: Message, p: Party): void {
    if (!this.roles.handle(p, msg)) this.handle(msg, p);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.failMode.close();
    await this.connmgr.close();
    for (const s of this.subs) s.unsubscribe();
    this.ports.close();
  }

  // -------------------------------------------------------------------------------------------
  // Messages
  // -------------------------------------------------------------------------------------------

  private onMessage(msg: Message, conn: Party): void {
    const xid = msg.xid ?? 0;
    switch (msg.type) {
      case OFPT.FEATURES_REQUEST:
        conn.send({
          type: OFPT.FEATURES_REPLY, xid, datapathId: this.datapathId, nBuffers: 0, nTables: this.pipeline.nTables,
          auxiliaryId: 0, capabilities: CAPABILITIES, reserved: 0,
        });
        return;
      case OFPT.BARRIER_REQUEST:
        // Everything before it was applied when its handler returned (see the file comment); the
        // frames of earlier PACKET_OUTs leave now, before the reply.
        this.dp?.flush();
        conn.send({ type: OFPT.BARRIER_REPLY, xid });
        return;
      case OFPT.FLOW_MOD:
        this.flowMod(msg, conn);
        return;
      case OFPT.GROUP_MOD:
        this.groupMod(msg, conn);
        return;
      case OFPT.METER_MOD:
        this.meterMod(msg, conn);
        return;
      case OFPT.PORT_MOD:
        this.portMod(msg, conn);
        return;
      case OFPT.TABLE_MOD:
        this.tableMod(msg, conn);
        return;
      case OFPT.PACKET_OUT:
        this.packetOut(msg, conn);
        return;
      case OFPT.MULTIPART_REQUEST:
        this.multipart(msg, conn);
        return;
      case OFPT.QUEUE_GET_CONFIG_REQUEST:
        // No queues: an existing port (or ANY) has an empty list.
        if (msg.port !== OFPP.ANY && !this.ports.exists(msg.port)) this.error(conn, OFPE.QUEUE_OP_FAILED!.BAD_PORT!, msg);
        else conn.send({ type: OFPT.QUEUE_GET_CONFIG_REPLY, xid, port: msg.port, queues: [] });
        return;
      case OFPT.EXPERIMENTER:
        // ONF bundles (EXT-230) are the only experimenter messages known.
        if (isBundleCtrl(msg)) this.bundleOutcome(this.bundles.control(conn, msg), conn);
        else if (isBundleAdd(msg)) this.bundleOutcome(this.bundles.add(conn, msg), conn);
        else this.error(conn, msg.experimenter === ONF_EXPERIMENTER_ID ? BR.BAD_EXP_TYPE! : BR.BAD_EXPERIMENTER!, msg);
        return;
      case OFPT.ERROR:
        return; // never answer an error with an error
      default:
        this.error(conn, BR.BAD_TYPE!, msg);
    }
  }

  private error(conn: Party, pair: ErrorPair, about: Message, text?: string): void {
    this.counters.errors++;
    conn.sendError(pair, about, text);
  }

  private flowMod(fm: FlowMod, conn: Party): void {
    const isDelete = fm.command === OFPFC.DELETE || fm.command === OFPFC.DELETE_STRICT;
    // A delete carries no packet to release; OVS ignores its buffer id as well.
    if (!isDelete && fm.bufferId !== OFP_NO_BUFFER) {
      this.counters.flowMods++;
      this.error(conn, BR.BUFFER_UNKNOWN!, fm, 'this switch keeps no buffers (n_buffers 0)');
      return;
    }
    const err = this.applyFlowMod(fm);
    if (err !== undefined) this.error(conn, err, fm);
  }

  /** Applies a flow-mod with its consequences (FLOW_REMOVED, the expiry timer); bundles too. */
  private applyFlowMod(fm: FlowMod): ErrorPair | undefined {
    this.counters.flowMods++;
    const r = this.pipeline.applyFlowMod(fm);
    if (isError(r)) return r;
    this.dp?.flowsChanged(r);
    if (r.removed.length > 0) this.flowsRemoved(r.removed);
    if (r.added.length > 0) this.armExpiry();
    return undefined;
  }

  private groupMod(gm: GroupMod, conn: Party): void {
    if (this.groups === undefined) {
      this.error(conn, BR.BAD_TYPE!, gm, 'groups are not available in this switch yet');
      return;
    }
    const err = this.applyGroupMod(gm);
    if (err !== undefined) this.error(conn, err, gm);
  }

  /** Applies a group-mod with its consequences (flows using a deleted group go); bundles too. */
  private applyGroupMod(gm: GroupMod): ErrorPair | undefined {
    const r = this.groups!.applyGroupMod(gm);
    if (isError(r)) return r;
    for (const id of r.deleted) {
      const removed = this.pipeline.deleteFlowsUsingGroup(id);
      this.dp?.flowsChanged({ removed });
      this.flowsRemoved(removed);
    }
    this.dp?.groupsChanged(r.deleted.includes(gm.groupId) ? r.deleted : [gm.groupId, ...r.deleted]);
    this.armExpiry();
    return undefined;
  }

  /** Sends what the bundle manager decided: a reply, nothing, or the error(s). */
  private bundleOutcome(o: BundleOutcome, conn: Party): void {
    if (o.kind === 'reply') conn.send(o.reply);
    else if (o.kind === 'error') {
      if (o.failed !== undefined) this.error(conn, o.failed.error, o.failed.msg);
      this.error(conn, o.error, o.about);
    }
  }

  /**
   * A bundle's commit: the dry run on a scratch copy, then every message on the real tables.
   * Returns the first failing message (nothing applied), or undefined (everything applied).
   */
  private commitBundle(msgs: readonly Bundled[]): { readonly index: number; readonly error: ErrorPair } | undefined {
    let f: ReturnType<typeof dryRun>;
    try {
      f = dryRun(msgs, this.bundleEnv);
    } catch (e) {
      // The scratch copy could not be built (a bug): refuse the commit, change nothing.
      this.log.error('bundle dry run failed', { error: String(e) });
      return { index: 0, error: BFC.UNKNOWN };
    }
    if (f !== undefined) return f;
    for (let index = 0; index < msgs.length; index++) {
      const m = msgs[index]!;
      const err = m.type === OFPT.FLOW_MOD ? this.applyFlowMod(m)
        : m.type === OFPT.GROUP_MOD ? this.applyGroupMod(m)
        : m.type === OFPT.METER_MOD ? this.applyMeterMod(m)
        : this.ports.portMod(m); // PORT_STATUS and the datapath follow from ports.status$
      if (err !== undefined) {
        // A bug: the dry run and the tables disagree. The messages before stay applied.
        this.log.error('bundle commit failed after its dry run succeeded', { index, msgType: m.type, error: err });
        return { index, error: err };
      }
    }
    return undefined;
  }

  private meterMod(mm: MeterMod, conn: Party): void {
    if (this.meters === undefined) {
      this.error(conn, BR.BAD_TYPE!, mm, 'meters are not available in this switch yet');
      return;
    }
    const err = this.applyMeterMod(mm);
    if (err !== undefined) this.error(conn, err, mm);
  }

  /** Applies a meter-mod with its consequences (flows using a deleted meter go); bundles too. */
  private applyMeterMod(mm: MeterMod): ErrorPair | undefined {
    const r = this.meters!.applyMeterMod(mm);
    if (isError(r)) return r;
    this.dp?.metersChanged(r.deleted.length > 0 ? r.deleted : [mm.meterId]);
    if (r.deleted.length > 0) {
      // Flows that use a deleted meter go too (as in OVS); OpenFlow 1.3 has no METER_DELETE
      // reason, so their FLOW_REMOVED says DELETE.
      const removed = deleteFlowsUsingMeters(this.pipeline, r.deleted);
      this.dp?.flowsChanged({ removed });
      this.flowsRemoved(removed);
      this.armExpiry();
    }
    return undefined;
  }

  private portMod(pm: PortMod, conn: Party): void {
    const err = this.ports.portMod(pm);
    if (err !== undefined) this.error(conn, err, pm);
  }

  private tableMod(tm: TableMod, conn: Party): void {
    if (tm.tableId !== OFPTT.ALL && tm.tableId >= this.pipeline.nTables) {
      this.error(conn, OFPE.TABLE_MOD_FAILED!.BAD_TABLE!, tm);
      return;
    }
    // OpenFlow 1.3 defines no table config flags (the 1.1/1.2 miss bits are deprecated).
    if (tm.config !== 0) this.error(conn, OFPE.TABLE_MOD_FAILED!.BAD_CONFIG!, tm);
  }

  private packetOut(po: PacketOut, conn: Party): void {
    if (po.bufferId !== OFP_NO_BUFFER) {
      this.error(conn, BR.BUFFER_UNKNOWN!, po, 'this switch keeps no buffers (n_buffers 0)');
      return;
    }
    const inPort = po.inPort;
    if (!(this.ports.exists(inPort) || inPort === OFPP.CONTROLLER || inPort === OFPP.ANY || inPort === OFPP.LOCAL)) {
      this.error(conn, BR.BAD_PORT!, po);
      return;
    }
    const err = validatePacketOutActions(po.actions, this.env);
    if (err !== undefined) {
      this.error(conn, err, po);
      return;
    }
    this.counters.packetOuts++;
    // Without a datapath (an ofproto alone, in tests) a valid packet-out is counted and goes nowhere.
    const dpErr = this.dp?.packetOut(po);
    if (dpErr !== undefined) this.error(conn, dpErr, po);
  }

  private multipart(req: MultipartRequest, conn: Party): void {
    let asm = this.assemblers.get(conn);
    if (asm === undefined && (req.flags & OFPMPF.MORE) !== 0) {
      asm = new MultipartAssembler(this.maxMultipart);
      this.assemblers.set(conn, asm);
    }
    if (asm === undefined) {
      this.answerMultipart(req, conn);
      return;
    }
    const r = asm.push(req);
    if (r.kind === 'wait') return;
    if (r.kind === 'ready') {
      this.answerMultipart(r.req, conn);
      return;
    }
    this.error(conn, r.pair, r.about);
    if (r.then !== undefined) this.answerMultipart(r.then, conn);
  }

  private answerMultipart(req: MultipartRequest, conn: Party): void {
    // Counters the datapath holds are pushed first, so that stats replies are exact.
    this.dp?.sync();
    const r = multipartReply(req, {
      pipeline: this.pipeline, ports: this.ports, groups: this.groups, meters: this.meters, now: this.now,
      bridge: this.bridge, swVersion: this.swVersion,
    });
    if (isError(r)) {
      this.error(conn, r, req);
      return;
    }
    for (const m of r) conn.send(m);
  }

  // -------------------------------------------------------------------------------------------
  // Asynchronous messages
  // -------------------------------------------------------------------------------------------

  /** Every party that may receive asynchronous messages. */
  private parties(): Party[] {
    return [...this.connmgr.connections, ...this.attached];
  }

  private flowsRemoved(removed: readonly RemovedRule[]): void {
    let parties: Party[] | undefined;
    for (const r of removed) {
      if (!wantsFlowRemoved(r)) continue;
      parties ??= this.parties();
      let msg: Message | undefined;
      for (const p of parties) {
        if (!wants(p, 'flowRemoved', r.reason)) continue;
        msg ??= flowRemovedMessage(r);
        p.send(msg);
      }
    }
  }

  private onPortStatus(ev: PortStatusEvent): void {
    for (const p of this.parties()) {
      if (wants(p, 'portStatus', ev.reason)) p.send({ version: OFP_VERSION, type: OFPT.PORT_STATUS, reason: ev.reason, desc: ev.desc });
    }
  }

  /** Arms the one expiry timer at the pipeline's next deadline (when that moved earlier or went). */
  private armExpiry(): void {
    if (this.closed) return;
    const next = this.pipeline.nextExpiry();
    if (next === this.expiryAt) return;
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.expiryTimer = undefined;
    this.expiryAt = next;
    if (next === undefined) return;
    this.expiryTimer = setTimeout(() => this.onExpiry(), Math.max(0, next - this.now()));
    this.expiryTimer.unref();
  }

  private onExpiry(): void {
    this.expiryTimer = undefined;
    this.expiryAt = undefined;
    // Last-used times live in the datapath until pushed: an idle rule must not expire while its
    // cached flow is still hitting.
    this.dp?.sync();
    const removed = this.pipeline.expire();
    if (removed.length > 0) {
      this.dp?.flowsChanged({ removed });
      this.log.debug('flows expired', { count: removed.length });
      this.flowsRemoved(removed);
    }
    this.armExpiry();
  }

  /** Runs expiry now (tests with an injected clock call it after moving the clock). */
  runExpiry(): void {
    if (this.expiryTimer !== undefined) clearTimeout(this.expiryTimer);
    this.onExpiry();
  }

  /** Flow references of a group, for its ref_count (a scan: group stats are rare). */
  private groupRefs(groupId: number): number {
    let n = 0;
    for (const r of this.pipeline.rules()) if (usesGroup(r.instructions, groupId)) n++;
    return n;
  }

  /** Flows whose meter instruction names the meter, for its flow_count (a scan, as above). */
  private meterRefs(meterId: number): number {
    let n = 0;
    for (const r of this.pipeline.rules()) {
      for (const i of r.instructions) if (i.type === OFPIT.METER && i.meterId === meterId) n++;
    }
    return n;
  }

  private onManagerEvent(ev: ManagerEvent): void {
    switch (ev.type) {
      case 'listening': this.log.info('listening', { target: ev.target, address: ev.address }); break;
      case 'negotiated': this.log.info('controller connected', { target: ev.target, peer: ev.conn.name }); break;
      case 'disconnected':
        this.bundles.discardAll(ev.conn);
        this.log.info('controller disconnected', { target: ev.target, peer: ev.conn.name, reason: ev.reason });
        break;
      case 'connect-failed': this.log.warn('connect failed', { target: ev.target, error: ev.error }); break;
      case 'backoff': this.log.debug('reconnect backoff', { target: ev.target, delayMs: ev.delay }); break;
      case 'connection':
        if (ev.event.type === 'handler-error') this.log.error('handler failed', { target: ev.target, msgType: ev.event.msgType, error: String(ev.event.error) });
        else if (ev.event.type === 'error-sent') this.log.debug('error sent', { target: ev.target, name: ev.event.name, xid: ev.event.xid, text: ev.event.text });
        break;
      default: break;
    }
  }
}
