/**
 * The datapath interface: the operations of Open vSwitch's dpif class, as a TypeScript interface.
 * A datapath holds ports (netdevs with datapath port numbers), a cache of megaflows (key, mask,
 * actions, counters), meters, and sends what it cannot forward itself up as upcalls.
 *
 * The one backend today is the userspace datapath (userspace.ts); a Linux kernel backend over
 * generic netlink would implement the same interface.
 *
 * Conventions:
 * - Port numbers here are datapath (ODP) port numbers; 0 is OVSP_LOCAL.
 * - A flow key's K.IN_PORT holds the datapath port number the packet came in on.
 * - Times are milliseconds on the datapath's clock (performance.now() unless injected); 0 = never.
 * - Nothing here throws on bad input from outside: failures are values (a string saying why).
 */

import type { Observable } from 'rxjs';
import type { FlowKey, FlowMask } from '../packet/key.js';
import type { Packet } from '../packet/packet.js';
import type { Netdev } from '../netdev/netdev.js';
import type { OdpAction, UserspaceCookie } from './odp.js';

/** OVSP_LOCAL: the bridge-internal port's datapath number. */
export const ODPP_LOCAL = 0;
/** Not a port (OVS's ODPP_NONE). */
export const ODPP_NONE = 0xffffffff;

export interface DpifPort {
  readonly portNo: number;
  readonly name: string;
  readonly type: string;
  readonly netdev: Netdev;
}

export interface DpifFlowStats {
  readonly packets: bigint;
  readonly bytes: bigint;
  /** Last time a packet hit it (ms, the datapath's clock; 0 = never). */
  readonly used: number;
  /** TCP flags seen (ORed). */
  readonly tcpFlags: number;
}

export interface DpifFlow {
  /** The flow's id (OVS's ufid), unique for the datapath's life. */
  readonly ufid: number;
  /** Already masked: key & mask === key. */
  readonly key: FlowKey;
  readonly mask: FlowMask;
  readonly actions: readonly OdpAction[];
  readonly stats: DpifFlowStats;
}

export interface FlowPut {
  readonly key: FlowKey;
  readonly mask: FlowMask;
  readonly actions: readonly OdpAction[];
  /**
   * An existing flow to change (its actions are replaced, its counters kept unless resetStats).
   * Absent: a new flow; if a flow with the same masked key and mask exists already, that one is
   * changed instead (as OVS's DPIF_FP_CREATE | DPIF_FP_MODIFY).
   */
  readonly ufid?: number;
  readonly resetStats?: boolean;
  /**
   * The key is already masked (key & mask === key) and handed over: a new flow keeps this very
   * array instead of a masked copy. The caller must not change it afterwards.
   */
  readonly keyGiven?: boolean;
}

/** What came up: a packet that matched no flow, or one that ran a `userspace` action. */
export interface Upcall {
  readonly type: 'miss' | 'action';
  /** Datapath port it came in on. */
  readonly inPort: number;
  /** The packet: for a miss as received, for an action as it was when the action ran. Owned by the receiver. */
  readonly packet: Packet;
  /** The key as extracted on receipt (K.IN_PORT = inPort); the receiver may keep it. */
  readonly key: FlowKey;
  /** The action's cookie (type 'action' only). */
  readonly cookie?: UserspaceCookie;
}

export interface Execute {
  readonly packet: Packet;
  /** Datapath port the packet is said to come from (ODPP_NONE: none, e.g. from the controller). */
  readonly inPort: number;
  readonly actions: readonly OdpAction[];
  /**
   * The frames it outputs may wait, with those of other batched executes, until the end of the
   * current tick (process.nextTick) or the next flush(): a burst of PACKET_OUTs then leaves a
   * port in one transmit call instead of one each. Order per port is kept.
   */
  readonly batch?: boolean;
}

export type DpifOp =
  | ({ readonly op: 'put' } & FlowPut)
  | { readonly op: 'del'; readonly ufid: number }
  | ({ readonly op: 'execute' } & Execute);

/** Per operation: a ufid (put), the removed flow or undefined (del), true (execute), or a failure string. */
export type DpifOpResult = number | DpifFlow | undefined | true | string;

export interface MeterBandConfig {
  readonly type: 'drop' | 'dscp_remark';
  /** kb/s or packets/s, as the meter's flags say. */
  readonly rate: number;
  /** kb or packets; 0: a burst of one rate's second is not assumed, see the backend. */
  readonly burst: number;
  /** dscp_remark: how much to raise the drop precedence. */
  readonly precLevel?: number;
}

export interface MeterConfig {
  readonly id: number;
  /** OFPMF_* (KBPS, PKTPS, BURST, STATS). */
  readonly flags: number;
  readonly bands: readonly MeterBandConfig[];
}

export interface MeterStats {
  readonly packetsIn: bigint;
  readonly bytesIn: bigint;
  readonly bands: ReadonlyArray<{ readonly packets: bigint; readonly bytes: bigint }>;
}

export interface DpifStats {
  /** Packets forwarded by a cached flow (exact-match cache or megaflow). */
  readonly hit: bigint;
  /** Of those, found in the exact-match cache. */
  readonly emcHit: bigint;
  /** Packets that matched no flow and went up as upcalls. */
  readonly missed: bigint;
  /** Upcalls dropped (the queue was full, or nobody listens). */
  readonly lost: bigint;
  /** Subtables searched over all megaflow lookups (mask-hit = maskHit / megaflow lookups). */
  readonly maskHit: bigint;
  /** Megaflow classifier lookups (packets that missed the exact-match cache). */
  readonly lookups: bigint;
  /** Flows installed now. */
  readonly flows: number;
}

export interface Dpif {
  readonly name: string;
  /** Adds a port; returns its number, or why not (name taken, number taken). */
  portAdd(netdev: Netdev, portNo?: number): number | string;
  portDel(portNo: number): boolean;
  portQuery(which: number | string): DpifPort | undefined;
  portDump(): DpifPort[];

  /** Installs or changes a flow; returns its ufid, or why not (the flow limit). */
  flowPut(put: FlowPut): number | string;
  /** Removes a flow; returns it with its final counters. */
  flowDel(ufid: number): DpifFlow | undefined;
  flowGet(ufid: number): DpifFlow | undefined;
  flowDump(): DpifFlow[];
  flowFlush(): void;

  /** Runs actions on a packet (OVS_PACKET_CMD_EXECUTE); `userspace` actions come back as upcalls. */
  execute(exec: Execute): void;
  /** Sends now what batched executes left waiting. */
  flush(): void;
  /** A batch of puts, deletes and executes, in order. */
  operate(ops: readonly DpifOp[]): DpifOpResult[];

  meterSet(config: MeterConfig): void;
  meterGet(id: number): MeterStats | undefined;
  meterDel(id: number): MeterStats | undefined;

  stats(): DpifStats;
  /** Batches of upcalls, emitted synchronously at the end of each receive batch. */
  readonly upcall$: Observable<readonly Upcall[]>;
  close(): void;
}
