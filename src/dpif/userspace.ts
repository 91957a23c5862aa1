/**
 * The userspace datapath: the default `Dpif` backend, in the shape of Open vSwitch's
 * dpif-netdev. Ports deliver batches of packets; each packet's key is extracted into a reused
 * scratch key, looked up in the exact-match cache (emc.ts), then in the megaflow classifier of its
 * input port (dpcls.ts); hits run their flow's actions (execute.ts), misses go up on `upcall$`.
 *
 * One receive batch, in order:
 *   1. classify: per packet, set in_port (= in_phy_port) and the tunnel words (from the packet's
 *      tunnel metadata: a tunnel port's packets carry it), extract, EMC, then megaflows (a
 *      megaflow hit is cached in the EMC). The EMC is skipped for a port whose classifier is
 *      cheaper to search than the EMC is to probe (few subtables with few mask words: see
 *      emcMinSearchCost), which is the measured common case of one or two masks per port;
 *   2. execute the hits in arrival order (flow stats: packets, bytes, used = now, TCP flags);
 *      misses are queued as upcalls (the packet, a copy of its key, the port);
 *   3. flush: one netdev.send per port that has frames;
 *   4. emit the queued upcalls as ONE array on upcall$. Subscribers run synchronously and
 *      typically call flowPut and execute; what those executes output is flushed, and the
 *      'action' upcalls they make are emitted as a further array, before the receive call returns.
 *
 * Re-entrancy. Work started while a batch, an execute or an emission is in progress (`depth` > 0)
 * only queues: outputs wait for the outermost flush, upcalls for the outermost emission loop, and
 * a receive batch that arrives then (a netdev that delivers synchronously, against its contract)
 * is processed after the current one. So the scratch keys are never in use twice and the stack
 * never grows with traffic.
 *
 * Counting (stats()): hit = packets a cached flow forwarded (emcHit of them from the EMC);
 * missed = packets that matched nothing (including those whose upcall was lost); lost = upcalls
 * dropped because the queue held maxUpcallsPerBatch already, nobody subscribed, or the emission
 * loop ran too many rounds; lookups = megaflow classifier lookups (EMC misses), maskHit =
 * subtables searched over those lookups.
 *
 * Ownership. Received packets belong to the datapath: a packet's last output may queue the packet
 * itself, a miss hands it to the upcall. A packet given to execute() stays the caller's: header
 * actions change it in place (as OVS's execute does), outputs send copies, so the caller may reuse
 * it once execute returns.
 *
 * Flows returned by flowGet/flowDump/flowDel share the datapath's key and mask arrays: read them,
 * do not change them.
 */

import { Subject, type Observable } from 'rxjs';
import { K, applyMask, copyKey, newKey, type FlowKey, type FlowMask } from '../packet/key.js';
import { Offsets, tunnelToKey, type Packet } from '../packet/packet.js';
import { extract } from '../packet/extract.js';
import type { Netdev } from '../netdev/netdev.js';
import type {
  Dpif, DpifFlow, DpifFlowStats, DpifOp, DpifOpResult, DpifPort, DpifStats, Execute, FlowPut, MeterConfig, MeterStats, Upcall,
} from './dpif.js';
import type { OdpAction, UserspaceCookie } from './odp.js';
import { Dpcls } from './dpcls.js';
import { ExactMatchCache, emcHash } from './emc.js';
import { executeActions, type ActionSink, type ExecCounters } from './execute.js';
import { DpMeter } from './meter.js';

export interface UserspaceDatapathOptions {
  readonly name?: string;
  /** The clock, in ms (default performance.now). */
  readonly now?: () => number;
  /** Most megaflows at once (default 200,000). */
  readonly flowLimit?: number;
  /** Exact-match cache entries (default 8192; 0 disables the cache). */
  readonly emcEntries?: number;
  /**
   * Insert a megaflow hit into the EMC once per this many hits (default 1: always; OVS's
   * emc-insert-inv-prob, made deterministic: every Nth). Larger values stop a cache that cannot
   * hold the working set from being rewritten on every packet.
   */
  readonly emcInsertInvProb?: number;
  /**
   * Consult the EMC only for ports whose megaflow classifier costs at least this much per lookup
   * (Dpcls.searchCost: mask words hashed and compared over all subtables, +2 per subtable).
   * Default 48: an EMC hit hashes 17 words and compares 45, so below that the classifier is the
   * cheaper cache (measured: one flow with a 2-word mask forwards ~1.8x faster without the EMC).
   * 0: always.
   */
  readonly emcMinSearchCost?: number;
  /** Upcalls one batch (or one emission round) may queue; beyond, they are lost (default 1024). */
  readonly maxUpcallsPerBatch?: number;
  /** false: no EMC and no megaflow lookups, every packet goes up as a miss (default true). */
  readonly cache?: boolean;
}

/** Counters beyond DpifStats (dpctl/show prints them). */
export interface UserspaceCounters {
  /** Actions that could not apply to their packet (absent header, bad value). */
  readonly actionErrors: number;
  /** Outputs to a port that does not exist. */
  readonly outputErrors: number;
  /** Packets that meters or drop actions stopped. */
  readonly dropped: number;
  /** `meter` actions naming a meter that does not exist (the packet passed). */
  readonly unknownMeter: number;
  /** Packets that arrived on a deleted port (between portDel and the netdev stopping). */
  readonly rxDeleted: number;
  /** Live exact-match cache entries. */
  readonly emcEntries: number;
  /** Megaflow subtables over all input ports. */
  readonly subtables: number;
}

/** Rounds of the emission loop (upcalls from handlers' executes) before the rest count as lost. */
const MAX_EMIT_ROUNDS = 64;

/** A datapath flow; the datapath's own record (DpifFlow snapshots are made from it). */
export class Megaflow {
  dead = false;
  packets = 0;
  bytes = 0;
  used = 0;
  tcpFlags = 0;
  constructor(
    readonly ufid: number,
    readonly inPort: number,
    readonly key: FlowKey,
    readonly mask: FlowMask,
    public actions: readonly OdpAction[],
  ) {}

  snapshot(): DpifFlow {
    const stats: DpifFlowStats = { packets: BigInt(this.packets), bytes: BigInt(this.bytes), used: this.used, tcpFlags: this.tcpFlags };
    return { ufid: this.ufid, key: this.key, mask: this.mask, actions: this.actions, stats };
  }
}

class PortState implements DpifPort {
  readonly type: string;
  readonly name: string;
  /** Frames waiting for the flush, and whether the port is on the dirty list. */
  tx: Packet[] = [];
  dirty = false;
  deleted = false;
  constructor(readonly portNo: number, readonly netdev: Netdev) {
    this.type = netdev.type;
    this.name = netdev.name;
  }
}

const isPortNo = (n: number) => Number.isInteger(n) && n >= 0 && n < 0xffffffff;

export class UserspaceDatapath implements Dpif, ActionSink {
  readonly name: string;
  readonly upcall$: Observable<readonly Upcall[]>;

  private readonly now: () => number;
  private readonly flowLimit: number;
  private readonly maxUpcalls: number;
  private readonly cache: boolean;
  private readonly emc: ExactMatchCache<Megaflow> | undefined;
  private readonly emcInsertEvery: number;
  private readonly emcMinCost: number;
  private emcInsertCount = 0;
  private readonly subject = new Subject<readonly Upcall[]>();

  private readonly ports = new Map<number, PortState>();
  private readonly flows = new Map<number, Megaflow>();
  private readonly classifiers = new Map<number, Dpcls<Megaflow>>();
  private readonly meters = new Map<number, DpMeter>();
  private nextUfid = 1;

  // Receive scratch, one slot per batch position (grown on demand; never shrunk).
  private slotKeys: FlowKey[] = [];
  private slotOffs: Offsets[] = [];
  private slotFlows: Array<Megaflow | undefined> = [];
  /** 1 where the slot's key holds tunnel words from its last packet. */
  private slotTun: number[] = [];
  private readonly execKey = newKey();
  private readonly execOff = new Offsets();

  /** > 0 while a batch, execute, operate or emission runs (see the file comment). */
  private depth = 0;
  /** Batched executes left frames in the ports' queues; a nextTick will send them. */
  private flushScheduled = false;
  private readonly flushTick = (): void => {
    this.flushScheduled = false;
    this.flush();
  };
  private dirtyPorts: PortState[] = [];
  private upcalls: Upcall[] = [];
  private pending: Array<[PortState, Packet[]]> = [];
  private closed = false;

  // Counters: plain numbers on the fast path, bigint in stats().
  private nHit = 0;
  private nEmcHit = 0;
  private nMissed = 0;
  private nLost = 0;
  private nMaskHit = 0;
  private nLookups = 0;
  private readonly exec: ExecCounters = { actionErrors: 0, dropped: 0 };
  private nOutputErrors = 0;
  private nUnknownMeter = 0;
  private nRxDeleted = 0;
  /** The batch's clock reading (meters and `used`). */
  private batchNow = 0;

  constructor(opts: UserspaceDatapathOptions = {}) {
    this.name = opts.name ?? 'ofswitch';
    this.now = opts.now ?? (() => performance.now());
    this.flowLimit = opts.flowLimit ?? 200_000;
    this.maxUpcalls = opts.maxUpcallsPerBatch ?? 1024;
    this.cache = opts.cache ?? true;
    const emcEntries = opts.emcEntries ?? 8192;
    this.emc = this.cache && emcEntries > 0 ? new ExactMatchCache<Megaflow>(emcEntries) : undefined;
    this.emcInsertEvery = Math.max(1, Math.floor(opts.emcInsertInvProb ?? 1));
    this.emcMinCost = opts.emcMinSearchCost ?? 48;
    this.upcall$ = this.subject.asObservable();
  }

  // -------------------------------------------------------------------------------------------
  // Ports
  // -------------------------------------------------------------------------------------------

  portAdd(netdev: Netdev, portNo?: number): number | string {
    if (this.closed) return 'datapath closed';
    for (const p of this.ports.values()) if (p.name === netdev.name) return `port name ${netdev.name} exists`;
    let no: number;
    if (portNo === undefined) {
      no = 1;
      while (this.ports.has(no)) no++;
    } else {
      if (!isPortNo(portNo)) return `bad port number ${portNo}`;
      if (this.ports.has(portNo)) return `port number ${portNo} is taken`;
      no = portNo;
    }
    const port = new PortState(no, netdev);
    this.ports.set(no, port);
    netdev.setReceiver((batch) => this.receive(port, batch));
    return no;
  }

  portDel(portNo: number): boolean {
    const port = this.ports.get(portNo);
    if (port === undefined) return false;
    port.netdev.setReceiver(undefined);
    port.deleted = true;
    this.ports.delete(portNo);
    return true;
  }

  portQuery(which: number | string): DpifPort | undefined {
    if (typeof which === 'number') return this.ports.get(which);
    for (const p of this.ports.values()) if (p.name === which) return p;
    return undefined;
  }

  portDump(): DpifPort[] {
    return [...this.ports.values()].sort((a, b) => a.portNo - b.portNo);
  }

  // -------------------------------------------------------------------------------------------
  // Receive path
  // -------------------------------------------------------------------------------------------

  private receive(port: PortState, batch: Packet[]): void {
    if (this.closed) return;
    if (this.depth > 0) {
      this.pending.push([port, batch]);
      return;
    }
    this.depth++;
    try {
      this.processBatch(port, batch);
    } finally {
      this.leave();
    }
  }

  private growSlots(n: number): void {
    while (this.slotKeys.length < n) {
      this.slotKeys.push(newKey());
      this.slotOffs.push(new Offsets());
      this.slotFlows.push(undefined);
      this.slotTun.push(0);
    }
  }

  private processBatch(port: PortState, batch: Packet[]): void {
    const n = batch.length;
    if (port.deleted) {
      this.nRxDeleted += n;
      return;
    }
    if (this.slotKeys.length < n) this.growSlots(n);
    const inPort = port.portNo;
    const keys = this.slotKeys;
    const offs = this.slotOffs;
    const found = this.slotFlows;
    const slotTun = this.slotTun;
    const cls = this.cache ? this.classifiers.get(inPort) : undefined;
    const emc = cls === undefined || cls.searchCost < this.emcMinCost ? undefined : this.emc;
    this.batchNow = this.now();

    // 1. Classify.
    for (let i = 0; i < n; i++) {
      const pkt = batch[i]!;
      const key = keys[i]!;
      const off = offs[i]!;
      // The slot keys' other metadata words are never written (upcalls get copies), so they are
      // still zero: setting the port is all the clearing they need (fill() cost ~50 ns here).
      // The tunnel words are the exception: a packet from a tunnel port brings metadata, written
      // here, and the next packet in this slot without any clears them (slotTun remembers).
      key[K.IN_PORT] = inPort;
      key[K.IN_PHY_PORT] = inPort;
      const tun = pkt.tunnel;
      if (tun !== undefined) {
        tunnelToKey(tun, key);
        slotTun[i] = 1;
      } else if (slotTun[i] !== 0) {
        tunnelToKey(undefined, key);
        slotTun[i] = 0;
      }
      key[K.FLAGS] = 0; // extraction keeps CSUM_PARTIAL from the slot's previous packet otherwise
      extract(pkt.buf, pkt.start, pkt.end, key, off);
      let flow: Megaflow | undefined;
      if (this.cache) {
        let h = 0;
        if (emc !== undefined) {
          h = emcHash(key);
          flow = emc.lookup(key, h);
        }
        if (flow !== undefined) this.nEmcHit++;
        else {
          this.nLookups++;
          if (cls !== undefined) {
            flow = cls.lookup(key);
            this.nMaskHit += cls.searched;
            if (flow !== undefined && emc !== undefined && ++this.emcInsertCount >= this.emcInsertEvery) {
              this.emcInsertCount = 0;
              emc.insert(key, h, flow);
            }
          }
        }
      }
      found[i] = flow;
    }

    // 2. Execute hits in arrival order; queue misses.
    const now = this.batchNow;
    const exposed = this.subject.observed;
    for (let i = 0; i < n; i++) {
      const pkt = batch[i]!;
      const flow = found[i];
      found[i] = undefined;
      if (flow !== undefined) {
        this.nHit++;
        flow.packets++;
        flow.bytes += pkt.end - pkt.start;
        flow.used = now;
        flow.tcpFlags |= keys[i]![K.TCP_FLAGS]!;
        executeActions(this, this.exec, pkt, offs[i]!, keys[i]!, flow.actions, true);
      } else {
        this.nMissed++;
        if (!exposed || this.upcalls.length >= this.maxUpcalls) this.nLost++;
        else this.upcalls.push({ type: 'miss', inPort, packet: pkt, key: copyKey(keys[i]!) });
      }
    }
  }

  /**
   * Leaves a scope; the outermost one flushes, emits queued upcalls (flushing what their handlers
   * output after each round) and then processes batches that arrived meanwhile.
   */
  private leave(): void {
    if (this.depth > 1) {
      this.depth--;
      return;
    }
    try {
      for (;;) {
        this.sendQueued();
        let rounds = 0;
        while (this.upcalls.length > 0) {
          const batch = this.upcalls;
          this.upcalls = [];
          if (++rounds > MAX_EMIT_ROUNDS || !this.subject.observed) {
            this.nLost += batch.length;
            continue;
          }
          this.subject.next(batch);
          this.sendQueued();
        }
        const next = this.pending.shift();
        if (next === undefined) break;
        this.processBatch(next[0], next[1]);
      }
    } finally {
      this.depth--;
    }
  }

  private sendQueued(): void {
    const dirty = this.dirtyPorts;
    if (dirty.length === 0) return;
    this.dirtyPorts = [];
    for (let i = 0; i < dirty.length; i++) {
      const p = dirty[i]!;
      const frames = p.tx;
      p.tx = [];
      p.dirty = false;
      if (!p.deleted) p.netdev.send(frames);
    }
  }

  // -------------------------------------------------------------------------------------------
  // ActionSink (called by the executor)
  // -------------------------------------------------------------------------------------------

  /** @internal */
  output(portNo: number, pkt: Packet): void {
    const p = this.ports.get(portNo);
    if (p === undefined) {
      this.nOutputErrors++;
      return;
    }
    p.tx.push(pkt);
    if (!p.dirty) {
      p.dirty = true;
      this.dirtyPorts.push(p);
    }
  }

  /** @internal */
  meter(meterId: number, pkt: Packet, off: Offsets): boolean {
    const m = this.meters.get(meterId);
    if (m === undefined) {
      this.nUnknownMeter++;
      return true;
    }
    return m.apply(pkt, off, this.batchNow);
  }

  /** @internal */
  userspace(pkt: Packet, key: FlowKey, cookie: UserspaceCookie): void {
    if (!this.subject.observed || this.upcalls.length >= this.maxUpcalls) {
      this.nLost++;
      return;
    }
    this.upcalls.push({ type: 'action', inPort: key[K.IN_PORT]!, packet: pkt, key, cookie });
  }

  // -------------------------------------------------------------------------------------------
  // Flows
  // -------------------------------------------------------------------------------------------

  flowPut(put: FlowPut): number | string {
    if (this.closed) return 'datapath closed';
    const { key, mask } = put;
    if (key.length !== K.WORDS || mask.length !== K.WORDS) return `key and mask must have ${K.WORDS} words`;
    if (mask[K.IN_PORT] !== 0xffffffff) return 'in_port must be exact in the mask';
    const masked = put.keyGiven === true ? key : applyMask(newKey(), key, mask);
    const inPort = masked[K.IN_PORT]!;
    let flow: Megaflow | undefined;
    if (put.ufid !== undefined) {
      flow = this.flows.get(put.ufid);
      if (flow === undefined) return `no flow ${put.ufid}`;
      if (!sameWords(flow.mask, mask) || !sameWords(flow.key, masked)) return `flow ${put.ufid} has another key or mask`;
    } else {
      flow = this.classifiers.get(inPort)?.findExact(masked, mask);
    }
    if (flow !== undefined) {
      flow.actions = put.actions;
      if (put.resetStats === true) {
        flow.packets = flow.bytes = flow.tcpFlags = 0;
        flow.used = 0;
      }
      return flow.ufid;
    }
    if (this.flows.size >= this.flowLimit) return 'flow limit reached';
    let cls = this.classifiers.get(inPort);
    if (cls === undefined) {
      cls = new Dpcls<Megaflow>();
      this.classifiers.set(inPort, cls);
    }
    // Flows of one subtable share its mask array (masks are never changed once stored).
    flow = new Megaflow(this.nextUfid++, inPort, masked, cls.maskLike(mask) ?? copyKey(mask), put.actions);
    this.flows.set(flow.ufid, flow);
    cls.insert(flow);
    return flow.ufid;
  }

  flowDel(ufid: number): DpifFlow | undefined {
    const flow = this.flows.get(ufid);
    if (flow === undefined) return undefined;
    this.unlink(flow);
    return flow.snapshot();
  }

  flowGet(ufid: number): DpifFlow | undefined {
    return this.flows.get(ufid)?.snapshot();
  }

  flowDump(): DpifFlow[] {
    const out: DpifFlow[] = [];
    for (const f of this.flows.values()) out.push(f.snapshot());
    return out;
  }

  flowFlush(): void {
    for (const f of this.flows.values()) f.dead = true;
    this.flows.clear();
    this.classifiers.clear();
    this.emc?.clear();
  }

  private unlink(flow: Megaflow): void {
    flow.dead = true; // invalidates its EMC entries
    this.flows.delete(flow.ufid);
    const cls = this.classifiers.get(flow.inPort);
    if (cls !== undefined) {
      cls.remove(flow);
      if (cls.size === 0) this.classifiers.delete(flow.inPort);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Execute and operate
  // -------------------------------------------------------------------------------------------

  execute(exec: Execute): void {
    if (this.closed) return;
    this.depth++;
    try {
      this.executeOne(exec);
    } finally {
      // A batched execute at the outermost level with nothing else to do (no upcalls to emit, no
      // receive batch waiting) leaves its frames queued for the tick's end or the next flush.
      if (exec.batch === true && this.depth === 1 && this.upcalls.length === 0 && this.pending.length === 0) {
        this.depth--;
        if (this.dirtyPorts.length > 0 && !this.flushScheduled) {
          this.flushScheduled = true;
          process.nextTick(this.flushTick);
        }
      } else {
        this.leave();
      }
    }
  }

  flush(): void {
    if (this.closed || this.depth > 0 || this.dirtyPorts.length === 0) return;
    this.depth++;
    this.leave();
  }

  private executeOne(exec: Execute): void {
    const key = this.execKey;
    const off = this.execOff;
    const pkt = exec.packet;
    key.fill(0);
    key[K.IN_PORT] = exec.inPort >>> 0;
    key[K.IN_PHY_PORT] = exec.inPort >>> 0;
    if (pkt.tunnel !== undefined) tunnelToKey(pkt.tunnel, key);
    extract(pkt.buf, pkt.start, pkt.end, key, off);
    if (this.depth === 1) this.batchNow = this.now();
    executeActions(this, this.exec, pkt, off, key, exec.actions, false);
  }

  operate(ops: readonly DpifOp[]): DpifOpResult[] {
    const out: DpifOpResult[] = [];
    this.depth++;
    try {
      for (const op of ops) {
        switch (op.op) {
          case 'put': out.push(this.flowPut(op)); break;
          case 'del': out.push(this.flowDel(op.ufid)); break;
          case 'execute':
            if (this.closed) out.push('datapath closed');
            else {
              this.batchNow = this.now();
              this.executeOne(op);
              out.push(true);
            }
            break;
          default: out.push(`unknown op ${(op as { op: unknown }).op}`);
        }
      }
    } finally {
      this.leave();
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------
  // Meters
  // -------------------------------------------------------------------------------------------

  /** Installs or replaces a meter (a replaced meter starts with full buckets and zero counters). */
  meterSet(config: MeterConfig): void {
    this.meters.set(config.id, new DpMeter(config, this.now()));
  }

  meterGet(id: number): MeterStats | undefined {
    return this.meters.get(id)?.stats();
  }

  meterDel(id: number): MeterStats | undefined {
    const m = this.meters.get(id);
    if (m === undefined) return undefined;
    this.meters.delete(id);
    return m.stats();
  }

  // -------------------------------------------------------------------------------------------
  // Stats and life
  // -------------------------------------------------------------------------------------------

  stats(): DpifStats {
    return {
      hit: BigInt(this.nHit),
      emcHit: BigInt(this.nEmcHit),
      missed: BigInt(this.nMissed),
      lost: BigInt(this.nLost),
      maskHit: BigInt(this.nMaskHit),
      lookups: BigInt(this.nLookups),
      flows: this.flows.size,
    };
  }

  counters(): UserspaceCounters {
    let subtables = 0;
    for (const c of this.classifiers.values()) subtables += c.subtableCount;
    return {
      actionErrors: this.exec.actionErrors,
      outputErrors: this.nOutputErrors,
      dropped: this.exec.dropped,
      unknownMeter: this.nUnknownMeter,
      rxDeleted: this.nRxDeleted,
      emcEntries: this.emc?.count() ?? 0,
      subtables,
    };
  }

  close(): void {
    if (this.closed) return;
    for (const p of [...this.ports.keys()]) this.portDel(p);
    this.flowFlush();
    this.meters.clear();
    this.closed = true;
    this.subject.complete();
  }
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < K.WORDS; i++) if (a[i] !== b[i]) return false;
  return true;
}
