/**
 * The switch over its datapath (OVS's ofproto-dpif, upcall handler and revalidator in one place):
 * a Backer owns one Dpif and the bridges on it; each DatapathBridge ties one Ofproto to it.
 *
 * How a packet travels: the datapath forwards what its cached flows cover and sends the rest up
 * as 'miss' upcalls. For each, the owning bridge runs xlate on the packet's flow (with OpenFlow
 * port numbers), performs the MAC learning NORMAL asked for, installs the megaflow (key & mask,
 * actions) with a ukey that remembers what the translation depended on, credits the packet to the
 * rules, tables and buckets it went through, and executes the actions on it. A 'userspace' action
 * comes back as an 'action' upcall and becomes a PACKET_IN.
 *
 * The cache invariant: a datapath flow is kept only while re-translating its ukey's flow would give
 * the same mask and actions. Every change that can break that is followed, synchronously (so a
 * BARRIER_REPLY covers it), by revalidation of just the ukeys it can affect:
 * - a rule removed, modified or replaced: the ukeys that hit it;
 * - a rule added in table T: the ukeys that looked T up, hit nothing or a lower priority, and —
 *   when their translation changed no field before the lookups ("pure") — whose megaflow overlaps
 *   the new rule's match (some packet could match both); impure ones are re-translated regardless;
 * - a group changed: the ukeys that read it; a port changed: the ukeys that read that port or all
 *   ports (FLOOD, ALL, NORMAL) or came in on it; a MAC learned or moved: the NORMAL ukeys for that
 *   destination; fail-open changed: the ukeys whose table-0 miss read it.
 * Revalidating a ukey re-translates its flow: same mask and actions, it stays (its references are
 * updated); same mask, other actions, the flow's actions change in place; another mask, it goes.
 * Open vSwitch re-translates every flow after every change; this is the targeted version.
 *
 * Counters: datapath flows count packets; the revalidator (every 500 ms), sync() (before every
 * stats reply and before timeouts are checked) and the removal of a flow push the difference since
 * the last push to what the ukey's translation went through. The packet that caused an upcall is
 * credited at once. Idle datapath flows (10 s without a packet) are removed.
 */

import { performance } from 'node:perf_hooks';
import type { Subscription } from 'rxjs';
import { OFPE } from '../../proto/errors.js';
import type { ErrorPair } from '../../proto/schema.js';
import { OFPFF, OFPMBT, OFPP, OFPXMT, type Oxm, type PacketOut } from '../openflow/index.js';
import { logger, type Logger } from '../common/log.js';
import { K, applyMask, equalKeys, maskWords, newKey, type FlowKey, type FlowMask } from '../packet/key.js';
import { Packet, Offsets } from '../packet/packet.js';
import { extract, formatKey } from '../packet/extract.js';
import type { Netdev } from '../netdev/netdev.js';
import { ODPP_NONE, type Dpif, type DpifFlow, type MeterBandConfig, type Upcall } from '../dpif/dpif.js';
import { formatActions, type ControllerCookie, type OdpAction } from '../dpif/odp.js';
import type { BucketUse, TableVisit, XBridge, XlateDeps, XlateResult, XPort } from '../xlate/types.js';
import { xlate } from '../xlate/xlate.js';
import { MacLearningTable } from '../xlate/mac-learning.js';
import { formatTrace } from '../xlate/trace.js';
import type { Ofproto } from './ofproto.js';
import type { RemovedRule, Rule } from './flow-table.js';
import type { PortSpec, SwitchPort } from './ports.js';

/** Datapath flows idle this long go (DESIGN.md §4: 10 s). */
export const DEFAULT_DP_IDLE_MS = 10_000;
/** The revalidator's period (DESIGN.md §4: at least every 500 ms). */
export const DEFAULT_REVALIDATE_MS = 500;

export interface BackerOptions {
  readonly now?: () => number;
  readonly idleMs?: number;
  /** 0: no periodic pass (tests drive revalidate() themselves). */
  readonly revalidateMs?: number;
  readonly log?: Logger;
}

/** A cached datapath flow and what its translation depended on. */
interface Ukey {
  ufid: number;
  readonly bridge: DatapathBridge;
  /**
   * The flow it was translated from (OpenFlow port numbers), kept for re-translation: the
   * upcall's own copy of the packet's key. The megaflow is flow & mask.
   */
  readonly flow: FlowKey;
  mask: FlowMask;
  actions: readonly OdpAction[];
  tables: readonly TableVisit[];
  buckets: readonly BucketUse[];
  deps: XlateDeps;
  /** The translation wrote no field before a lookup could read it (see the file comment). */
  pure: boolean;
  pushedPackets: bigint;
  pushedBytes: bigint;
  pushedUsed: number;
  readonly createdAt: number;
}

export interface BackerStats {
  /** Upcalls handled (misses translated), of which installed as flows. */
  misses: number;
  installed: number;
  /** flowPut refusals (the flow limit): the packet was still forwarded. */
  installFailed: number;
  /** Packet-ins raised by 'action' upcalls. */
  packetIns: number;
  /** Ukeys re-translated by targeted revalidation, and what became of them. */
  revalidated: number;
  revalidatedKept: number;
  revalidatedChanged: number;
  revalidatedDeleted: number;
  /** Misses whose in_port belongs to no bridge, or whose translation failed (limits). */
  dropped: number;
}

export class Backer {
  readonly now: () => number;
  readonly stats: BackerStats = {
    misses: 0, installed: 0, installFailed: 0, packetIns: 0, revalidated: 0, revalidatedKept: 0,
    revalidatedChanged: 0, revalidatedDeleted: 0, dropped: 0,
  };
  readonly idleMs: number;
  /** Bridges by name. */
  readonly bridges = new Map<string, DatapathBridge>();
  /** Datapath port -> its bridge and OpenFlow number. */
  readonly byOdp = new Map<number, { readonly bridge: DatapathBridge; readonly ofport: number }>();
  /** Ukeys of every bridge, by ufid. */
  readonly ukeys = new Map<number, Ukey>();
  readonly log: Logger;
  private readonly sub: Subscription;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(readonly dpif: Dpif, opts: BackerOptions = {}) {
    this.now = opts.now ?? (() => performance.now());
    this.idleMs = opts.idleMs ?? DEFAULT_DP_IDLE_MS;
    this.log = opts.log ?? logger('datapath');
    this.sub = dpif.upcall$.subscribe((batch) => this.onUpcalls(batch));
    const period = opts.revalidateMs ?? DEFAULT_REVALIDATE_MS;
    if (period > 0) {
      this.timer = setInterval(() => this.revalidate(), period);
      this.timer.unref();
    }
  }

  /** Puts a switch on this datapath, its LOCAL port on `local`. */
  addBridge(ofproto: Ofproto, local: Netdev): DatapathBridge | string {
    if (this.bridges.has(ofproto.bridge)) return `a bridge named ${ofproto.bridge} exists already`;
    const b = new DatapathBridge(this, ofproto);
    const err = b.attachLocal(local);
    if (err !== undefined) return err;
    this.bridges.set(ofproto.bridge, b);
    ofproto.attachDatapath(b);
    return b;
  }

  /**
   * Takes a bridge off the datapath: its datapath flows go (counters pushed first), its ports and
   * their devices are removed, and its switch no longer has a datapath. The switch itself is the
   * caller's to close.
   */
  removeBridge(name: string): boolean {
    const b = this.bridges.get(name);
    if (b === undefined) return false;
    b.detach();
    this.bridges.delete(name);
    b.ofproto.attachDatapath(undefined);
    return true;
  }

  /**
   * The periodic pass: counters pushed, idle flows removed, flows without a ukey (left by a
   * failure) removed. Returns the number of flows removed.
   */
  revalidate(): number {
    if (this.closed) return 0;
    const now = this.now();
    let removed = 0;
    for (const f of this.dpif.flowDump()) {
      const u = this.ukeys.get(f.ufid);
      if (u === undefined) {
        this.dpif.flowDel(f.ufid);
        removed++;
        continue;
      }
      u.bridge.push(u, f);
      const last = Math.max(f.stats.used, u.createdAt);
      if (now - last >= this.idleMs) {
        u.bridge.deleteUkey(u);
        removed++;
      }
    }
    for (const b of this.bridges.values()) {
      b.syncMetersAndPorts();
      b.expireMacs();
    }
    return removed;
  }

  /** Counters only (before stats replies and timeouts). */
  sync(): void {
    for (const f of this.dpif.flowDump()) {
      const u = this.ukeys.get(f.ufid);
      if (u !== undefined) u.bridge.push(u, f);
    }
    for (const b of this.bridges.values()) b.syncMetersAndPorts();
  }

  /** Removes every datapath flow (counters pushed first): `dpif/flush`. */
  flush(): number {
    let n = 0;
    for (const u of [...this.ukeys.values()]) {
      u.bridge.deleteUkey(u);
      n++;
    }
    this.dpif.flowFlush();
    return n;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.sub.unsubscribe();
    for (const b of this.bridges.values()) b.close();
  }

  private onUpcalls(batch: readonly Upcall[]): void {
    for (const up of batch) {
      try {
        if (up.type === 'action') this.onAction(up);
        else {
          const owner = this.byOdp.get(up.inPort);
          if (owner === undefined) this.stats.dropped++;
          else owner.bridge.handleMiss(up, owner.ofport);
        }
      } catch (e) {
        // A bug in translation must not take the switch down: the packet is dropped and logged.
        this.stats.dropped++;
        this.log.error('upcall failed', { type: up.type, inPort: up.inPort, error: e instanceof Error ? e.stack ?? e.message : String(e) });
      }
    }
  }

  private onAction(up: Upcall): void {
    const c = up.cookie;
    if (c === undefined || c.kind !== 'controller') return;
    const b = this.bridges.get(c.bridge);
    if (b === undefined) return;
    this.stats.packetIns++;
    b.packetIn(c, up.packet, up.key);
  }
}

/** A bridge's view of a port on the datapath. */
interface BridgePort extends XPort {
  readonly netdev: Netdev;
  readonly sub: Subscription;
}

export class DatapathBridge {
  readonly macs: MacLearningTable;
  readonly xbridge: XBridge;
  private readonly ports = new Map<number, BridgePort>();
  /** Ukey indexes for targeted revalidation. */
  private readonly byRule = new Map<Rule, Set<Ukey>>();
  private readonly byTable: Array<Set<Ukey>>;
  private readonly byGroup = new Map<number, Set<Ukey>>();
  private readonly mine = new Set<Ukey>();
  private readonly subs: Subscription[] = [];
  private readonly meterPushed = new Map<number, { packets: bigint; bytes: bigint; bands: bigint[][] }>();
  private readonly log: Logger;
  private readonly off = new Offsets();

  constructor(readonly backer: Backer, readonly ofproto: Ofproto) {
    this.log = backer.log;
    this.macs = new MacLearningTable({ now: () => backer.now() });
    this.byTable = Array.from({ length: ofproto.pipeline.nTables }, () => new Set<Ukey>());
    const pipeline = ofproto.pipeline;
    const self = this;
    this.xbridge = {
      name: ofproto.bridge,
      nTables: pipeline.nTables,
      lookup: (tableId, flow, wc) => pipeline.peek(tableId, flow, wc),
      group: (id) => ofproto.groups?.get(id),
      port: (ofport) => this.ports.get(ofport),
      ports: () => [...this.ports.values()].sort((a, b) => a.ofport - b.ofport),
      macs: this.macs,
      get failOpen() {
        return self.ofproto.failOpen;
      },
    };
    this.subs.push(ofproto.ports.status$.subscribe((ev) => this.portChanged(ev.desc.portNo)));
    this.subs.push(ofproto.failMode.changes$.subscribe(() => this.revalidateWhere((u) => u.deps.failOpen)));
  }

  get name(): string {
    return this.ofproto.bridge;
  }

  // -------------------------------------------------------------------------------------------
  // Ports
  // -------------------------------------------------------------------------------------------

  /** Gives the LOCAL port its device. */
  attachLocal(netdev: Netdev): string | undefined {
    const odp = this.backer.dpif.portAdd(netdev, this.backer.dpif.portQuery(0) === undefined ? 0 : undefined);
    if (typeof odp === 'string') return `LOCAL port ${netdev.name}: ${odp}`;
    this.ofproto.ports.setHwAddr(OFPP.LOCAL, macText(netdev.hwAddr));
    this.bind(OFPP.LOCAL, odp, netdev);
    return undefined;
  }

  /** Adds a port with its device: a datapath port, an OpenFlow port, PORT_STATUS. */
  addPort(spec: PortSpec, netdev: Netdev): SwitchPort | string {
    if (this.ofproto.ports.byNameOf(spec.name) !== undefined) return `a port named ${JSON.stringify(spec.name)} exists already`;
    const odp = this.backer.dpif.portAdd(netdev);
    if (typeof odp === 'string') return `port ${spec.name}: ${odp}`;
    const sp = this.ofproto.ports.add({ ...spec, hwAddr: macText(netdev.hwAddr) });
    if (typeof sp === 'string') {
      this.backer.dpif.portDel(odp);
      return sp;
    }
    this.bind(sp.portNo, odp, netdev);
    if (!netdev.up) this.ofproto.ports.setLink(sp.portNo, false);
    // The PORT_STATUS of ports.add came before the port had its datapath number: flows that
    // were revalidated then could not output to it yet.
    this.portChanged(sp.portNo);
    return sp;
  }

  /** Removes a port (PORT_STATUS DELETE); the device is closed. */
  delPort(ofport: number): boolean {
    const p = this.ports.get(ofport);
    if (p === undefined || ofport === OFPP.LOCAL) return false;
    this.ports.delete(ofport);
    this.backer.byOdp.delete(p.odpPort);
    p.sub.unsubscribe();
    this.backer.dpif.portDel(p.odpPort);
    p.netdev.close();
    this.ofproto.ports.delete(ofport);
    return true;
  }

  port(ofport: number): BridgePort | undefined {
    return this.ports.get(ofport);
  }

  /** Ports with their datapath numbers, in OpenFlow order. */
  portList(): Array<{ readonly ofport: number; readonly odpPort: number; readonly name: string; readonly netdev: Netdev }> {
    return [...this.ports.values()].sort((a, b) => a.ofport - b.ofport);
  }

  private bind(ofport: number, odpPort: number, netdev: Netdev): void {
    const ports = this.ofproto.ports;
    const sp = ports.get(ofport)!;
    const sub = netdev.status$.subscribe((st) => ports.setLink(ofport, st.up));
    this.ports.set(ofport, {
      ofport, odpPort, name: sp.name, netdev, sub,
      get config() {
        return ports.get(ofport)?.config ?? 0;
      },
      get state() {
        return ports.get(ofport)?.state ?? 0;
      },
    });
    this.backer.byOdp.set(odpPort, { bridge: this, ofport });
  }

  private portChanged(ofport: number): void {
    this.revalidateWhere((u) => u.deps.allPorts || u.deps.ports.has(ofport) || u.flow[K.IN_PORT] === ofport);
  }

  // -------------------------------------------------------------------------------------------
  // Upcalls
  // -------------------------------------------------------------------------------------------

  handleMiss(up: Upcall, ofport: number): void {
    const b = this.backer;
    b.stats.misses++;
    const flow = up.key;
    flow[K.IN_PORT] = ofport;
    flow[K.IN_PHY_PORT] = ofport;
    const res = xlate({ bridge: this.xbridge, flow });
    this.learn(res);
    const len = BigInt(up.packet.length);
    const now = b.now();
    this.credit(res.tables, res.buckets, 1n, len, now);
    if (res.error !== undefined) {
      b.stats.dropped++;
      this.log.warn('translation stopped', { bridge: this.name, error: res.error, flow: formatKey(flow) });
    }
    this.install(flow, res, up.inPort, now);
    b.dpif.execute({ packet: up.packet, inPort: up.inPort, actions: res.actions });
  }

  /**
   * Installs the megaflow for a translation (with its ukey); a refusal (flow limit) is counted.
   * The ukey keeps `flow` itself (an upcall's key: nobody else holds it).
   */
  private install(flow: FlowKey, res: XlateResult, odpIn: number, now: number): void {
    const b = this.backer;
    const dpKey = newKey();
    applyMask(dpKey, flow, res.mask);
    dpKey[K.IN_PORT] = odpIn;
    if (res.mask[K.IN_PHY_PORT] !== 0) dpKey[K.IN_PHY_PORT] = odpIn & res.mask[K.IN_PHY_PORT]!;
    const ufid = b.dpif.flowPut({ key: dpKey, mask: res.mask, actions: res.actions, keyGiven: true });
    if (typeof ufid === 'string') {
      b.stats.installFailed++;
      return;
    }
    b.stats.installed++;
    const old = b.ukeys.get(ufid);
    if (old !== undefined) {
      // The same megaflow again (two misses of one flow in a batch): the ukey is refreshed.
      this.unindex(old);
      this.mine.delete(old);
    }
    const u: Ukey = {
      ufid, bridge: this, flow, mask: res.mask,
      actions: res.actions, tables: res.tables, buckets: res.buckets, deps: res.deps,
      pure: isPure(res), pushedPackets: old?.pushedPackets ?? 0n, pushedBytes: old?.pushedBytes ?? 0n,
      pushedUsed: old?.pushedUsed ?? 0, createdAt: now,
    };
    b.ukeys.set(ufid, u);
    this.mine.add(u);
    this.index(u);
  }

  /** MAC learning asked for by NORMAL; NORMAL flows for a destination that moved are revalidated. */
  private learn(res: XlateResult): void {
    for (const l of res.learned) {
      if (!this.macs.learn(l)) continue;
      this.revalidateWhere((u) => u.deps.macs && ((u.flow[K.ETH_DST]! ^ l.macHi) & u.mask[K.ETH_DST]!) === 0
        && ((u.flow[K.ETH_DST + 1]! ^ l.macLo) & u.mask[K.ETH_DST + 1]!) === 0);
    }
  }

  /** MAC entries past their age go; NORMAL flows then re-translate (they may have to flood now). */
  expireMacs(): void {
    if (this.macs.expire() > 0) this.revalidateWhere((u) => u.deps.macs);
  }

  /** A 'userspace' controller action ran: PACKET_IN to this bridge's controllers. */
  packetIn(c: ControllerCookie, packet: Packet, key: FlowKey): void {
    const match: Oxm[] = [{ field: OFPXMT.IN_PORT, value: c.inPort }];
    if (c.metadata !== 0n) match.push({ field: OFPXMT.METADATA, value: c.metadata });
    if (key[K.TUN_ID] !== 0 || key[K.TUN_ID + 1] !== 0) {
      match.push({ field: OFPXMT.TUNNEL_ID, value: (BigInt(key[K.TUN_ID]!) << 32n) | BigInt(key[K.TUN_ID + 1]!) });
    }
    this.ofproto.sendPacketIn({
      reason: c.reason, tableId: c.tableId, cookie: c.cookie, match, frame: packet.bytes(),
      ...(c.maxLen !== undefined ? { maxLen: c.maxLen } : {}),
    });
  }

  // -------------------------------------------------------------------------------------------
  // PACKET_OUT
  // -------------------------------------------------------------------------------------------

  /** Runs a validated PACKET_OUT: xlate of its action list for its packet, then execute. */
  packetOut(po: PacketOut): ErrorPair | undefined {
    const b = this.backer;
    // Shorter than an Ethernet header: nothing a port could send (OpenFlow's "invalid packet").
    if (po.data.length < 14) return OFPE.BAD_REQUEST!.BAD_PACKET!;
    const packet = Packet.from(po.data);
    const flow = newKey();
    extract(packet.buf, packet.start, packet.end, flow, this.off);
    flow[K.IN_PORT] = po.inPort;
    flow[K.IN_PHY_PORT] = po.inPort;
    const res = xlate({ bridge: this.xbridge, flow, actions: po.actions });
    this.learn(res);
    this.credit(res.tables, res.buckets, 1n, BigInt(packet.length), b.now());
    const inOdp = this.ports.get(po.inPort)?.odpPort ?? ODPP_NONE;
    b.dpif.execute({ packet, inPort: inOdp, actions: res.actions, batch: true });
    return undefined;
  }

  flush(): void {
    this.backer.dpif.flush();
  }

  // -------------------------------------------------------------------------------------------
  // Counters
  // -------------------------------------------------------------------------------------------

  /** Pushes what a datapath flow counted since the last push to what its ukey went through. */
  push(u: Ukey, f: DpifFlow): void {
    const dp = f.stats.packets - u.pushedPackets;
    const db = f.stats.bytes - u.pushedBytes;
    if (dp <= 0n) return;
    u.pushedPackets = f.stats.packets;
    u.pushedBytes = f.stats.bytes;
    const used = f.stats.used > u.pushedUsed ? f.stats.used : u.pushedUsed;
    u.pushedUsed = used;
    this.credit(u.tables, u.buckets, dp, db, used);
  }

  private credit(tables: readonly TableVisit[], buckets: readonly BucketUse[], packets: bigint, bytes: bigint, usedAt: number): void {
    const pipeline = this.ofproto.pipeline;
    for (const v of tables) {
      if (v.rule !== undefined) pipeline.credit(v.rule as Rule, packets, bytes, usedAt);
      else pipeline.countLookups(v.tableId, Number(packets), 0);
    }
    if (buckets.length === 0 || this.ofproto.groups === undefined) return;
    // One credit per group the packet went through, with every bucket of it that ran.
    const byGroup = new Map<number, number[]>();
    for (const u of buckets) {
      const idx = byGroup.get(u.groupId);
      if (idx === undefined) byGroup.set(u.groupId, [u.bucket]);
      else idx.push(u.bucket);
    }
    for (const [g, idx] of byGroup) this.ofproto.groups.credit(g, idx, packets, bytes);
  }

  /** Meter counters from the datapath's meters; port counters from the devices. */
  syncMetersAndPorts(): void {
    const meters = this.ofproto.meters;
    if (meters !== undefined) {
      for (const [id, last] of this.meterPushed) {
        const s = this.backer.dpif.meterGet(id);
        if (s === undefined) continue;
        const dp = s.packetsIn - last.packets;
        if (dp > 0n) meters.credit(id, dp, s.bytesIn - last.bytes);
        last.packets = s.packetsIn;
        last.bytes = s.bytesIn;
        s.bands.forEach((band, i) => {
          const prev = last.bands[i] ?? [0n, 0n];
          const n = band.packets - prev[0]!;
          if (n > 0n) meters.creditBand(id, i, n, band.bytes - prev[1]!);
          last.bands[i] = [band.packets, band.bytes];
        });
      }
    }
    for (const p of this.ports.values()) {
      const sp = this.ofproto.ports.get(p.ofport);
      if (sp === undefined) continue;
      const s = p.netdev.stats();
      sp.rxPackets = s.rxPackets;
      sp.txPackets = s.txPackets;
      sp.rxBytes = s.rxBytes;
      sp.txBytes = s.txBytes;
      sp.rxDropped = s.rxDropped;
      sp.txDropped = s.txDropped;
      sp.rxErrors = s.rxErrors;
      sp.txErrors = s.txErrors;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Revalidation (DatapathHooks)
  // -------------------------------------------------------------------------------------------

  flowsChanged(r: { readonly added?: readonly Rule[]; readonly replaced?: readonly Rule[]; readonly modified?: readonly Rule[]; readonly removed?: readonly RemovedRule[] }): void {
    // No cached flow of this bridge: nothing to revalidate (a controller filling its tables
    // before traffic flows pays nothing here).
    if (this.mine.size === 0) return;
    const affected = new Set<Ukey>();
    const collect = (rule: Rule): void => {
      const set = this.byRule.get(rule);
      if (set !== undefined) for (const u of set) affected.add(u);
    };
    for (const x of r.removed ?? []) collect(x.rule);
    for (const rule of r.modified ?? []) collect(rule);
    // A replaced rule's pending counters belong to its successor unless RESET_COUNTS said otherwise.
    const replaced = r.replaced ?? [];
    for (let i = 0; i < replaced.length; i++) {
      const old = replaced[i]!;
      const successor = r.added?.[i];
      const set = this.byRule.get(old);
      if (set === undefined) continue;
      for (const u of set) {
        affected.add(u);
        const f = this.backer.dpif.flowGet(u.ufid);
        if (f === undefined || successor === undefined || (successor.flags & OFPFF.RESET_COUNTS) !== 0) continue;
        const before = old.packetCount;
        const beforeBytes = old.byteCount;
        this.push(u, f);
        this.ofproto.pipeline.credit(successor, old.packetCount - before, old.byteCount - beforeBytes, u.pushedUsed);
      }
    }
    for (const rule of r.added ?? []) {
      for (const u of this.byTable[rule.tableId] ?? []) {
        if (affected.has(u)) continue;
        if (this.addedRuleCanAffect(u, rule)) affected.add(u);
      }
    }
    for (const u of affected) this.revalidateUkey(u);
  }

  groupsChanged(ids: readonly number[]): void {
    const affected = new Set<Ukey>();
    for (const id of ids) for (const u of this.byGroup.get(id) ?? []) affected.add(u);
    for (const u of affected) this.revalidateUkey(u);
  }

  metersChanged(ids: readonly number[]): void {
    const meters = this.ofproto.meters;
    for (const id of ids) {
      const m = meters?.get(id);
      if (m === undefined) {
        this.backer.dpif.meterDel(id);
        this.meterPushed.delete(id);
        continue;
      }
      const bands: MeterBandConfig[] = [];
      for (const band of m.bands) {
        if (band.type === OFPMBT.DROP) bands.push({ type: 'drop', rate: band.rate, burst: band.burstSize });
        else if (band.type === OFPMBT.DSCP_REMARK) bands.push({ type: 'dscp_remark', rate: band.rate, burst: band.burstSize, precLevel: band.precLevel });
      }
      // A changed meter starts its datapath counters again; what was pushed stays in the table.
      this.syncMetersAndPorts();
      this.backer.dpif.meterSet({ id, flags: m.flags, bands });
      this.meterPushed.set(id, { packets: 0n, bytes: 0n, bands: [] });
    }
  }

  sync(): void {
    this.backer.sync();
  }

  /**
   * Could a rule just added to table T change what `u`'s translation did there? Not when `u` hit
   * a rule of higher priority in T (equal: the older rule wins the tie); not when `u` is pure and
   * no packet of its megaflow can match the rule.
   */
  private addedRuleCanAffect(u: Ukey, rule: Rule): boolean {
    const visit = u.tables.find((v) => v.tableId === rule.tableId);
    if (visit === undefined) return false;
    if (visit.rule !== undefined && visit.rule.priority >= rule.priority) return false;
    if (!u.pure) return true;
    // The rule keeps its key compactly (the words its mask selects, in order): compare those.
    const words = wordsOf(rule.mask);
    for (let j = 0; j < words.length; j++) {
      const i = words[j]!;
      if (((u.flow[i]! ^ rule.vals[j]!) & u.mask[i]! & rule.mask[i]!) !== 0) return false;
    }
    return true;
  }

  private revalidateWhere(pred: (u: Ukey) => boolean): void {
    for (const u of [...this.mine]) if (pred(u)) this.revalidateUkey(u);
  }

  /** Re-translates one ukey's flow and keeps, changes or removes its datapath flow. */
  private revalidateUkey(u: Ukey): void {
    const b = this.backer;
    if (!b.ukeys.has(u.ufid)) return;
    b.stats.revalidated++;
    const f = b.dpif.flowGet(u.ufid);
    if (f === undefined) {
      this.forget(u);
      return;
    }
    this.push(u, f);
    const res = xlate({ bridge: this.xbridge, flow: u.flow });
    if (res.error !== undefined || !equalKeys(res.mask, u.mask)) {
      b.stats.revalidatedDeleted++;
      this.deleteUkey(u);
      return;
    }
    if (formatActions(res.actions) !== formatActions(u.actions)) {
      const r = b.dpif.flowPut({ key: f.key, mask: f.mask, actions: res.actions, ufid: u.ufid });
      if (typeof r === 'string') {
        b.stats.revalidatedDeleted++;
        this.deleteUkey(u);
        return;
      }
      b.stats.revalidatedChanged++;
      u.actions = res.actions;
    } else {
      b.stats.revalidatedKept++;
    }
    this.unindex(u);
    u.tables = res.tables;
    u.buckets = res.buckets;
    u.deps = res.deps;
    u.pure = isPure(res);
    this.index(u);
  }

  /** Removes a ukey's datapath flow, pushing its last counters first. */
  deleteUkey(u: Ukey): void {
    const f = this.backer.dpif.flowDel(u.ufid);
    if (f !== undefined) this.push(u, f);
    this.forget(u);
  }

  private forget(u: Ukey): void {
    this.backer.ukeys.delete(u.ufid);
    this.mine.delete(u);
    this.unindex(u);
  }

  private index(u: Ukey): void {
    for (const v of u.tables) {
      this.byTable[v.tableId]?.add(u);
      if (v.rule !== undefined) {
        const rule = v.rule as Rule;
        let set = this.byRule.get(rule);
        if (set === undefined) this.byRule.set(rule, (set = new Set()));
        set.add(u);
      }
    }
    for (const g of u.deps.groups) {
      let set = this.byGroup.get(g);
      if (set === undefined) this.byGroup.set(g, (set = new Set()));
      set.add(u);
    }
  }

  private unindex(u: Ukey): void {
    for (const v of u.tables) {
      this.byTable[v.tableId]?.delete(u);
      if (v.rule !== undefined) {
        const set = this.byRule.get(v.rule as Rule);
        if (set !== undefined && set.delete(u) && set.size === 0) this.byRule.delete(v.rule as Rule);
      }
    }
    for (const g of u.deps.groups) {
      const set = this.byGroup.get(g);
      if (set !== undefined && set.delete(u) && set.size === 0) this.byGroup.delete(g);
    }
  }

  // -------------------------------------------------------------------------------------------
  // What the control socket shows
  // -------------------------------------------------------------------------------------------

  /** ofproto/trace: the translation of `flow` (OpenFlow in_port), as text. */
  trace(flow: FlowKey): string {
    const res = xlate({ bridge: this.xbridge, flow, trace: true });
    return formatTrace({ bridge: this.xbridge, flow, trace: true }, res);
  }

  /** Ukeys of this bridge (for tests and dump-flows). */
  ukeyCount(): number {
    return this.mine.size;
  }

  /** Removes everything this bridge put on the datapath: its flows, then its ports (LOCAL too). */
  detach(): void {
    for (const u of [...this.mine]) this.deleteUkey(u);
    for (const p of [...this.ports.values()]) {
      this.ports.delete(p.ofport);
      this.backer.byOdp.delete(p.odpPort);
      p.sub.unsubscribe();
      this.backer.dpif.portDel(p.odpPort);
      p.netdev.close();
    }
    for (const s of this.subs) s.unsubscribe();
  }

  close(): void {
    for (const s of this.subs) s.unsubscribe();
    for (const p of this.ports.values()) {
      p.sub.unsubscribe();
      p.netdev.close();
    }
  }
}

/**
 * A translation is pure when every lookup saw the packet's own fields (xlate tracks whether a
 * lookup examined bits it had changed: set-field, push, pop, write-metadata); then the megaflow
 * alone says which packets a new rule's lookup would see.
 */
function isPure(res: XlateResult): boolean {
  return res.lookupSawChanges !== true;
}

/** The words a (usually interned, so shared) rule mask selects, computed once per mask. */
const maskWordsCache = new WeakMap<FlowMask, Uint8Array>();
function wordsOf(mask: FlowMask): Uint8Array {
  let w = maskWordsCache.get(mask);
  if (w === undefined) maskWordsCache.set(mask, (w = maskWords(mask)));
  return w;
}

function macText(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':');
}
