/**
 * What xlate reads and what it returns.
 *
 * xlate reads a bridge through the narrow XBridge view below, which ofproto's tables, groups and
 * ports satisfy; it never changes anything. Everything the translation decides from is either in
 * the input flow (and then the bits it read are in the returned mask) or in the bridge (and then
 * the result's dependencies name it, so that revalidation knows which datapath flows a change of
 * the bridge can affect).
 *
 * Port numbers: the input flow and everything OpenFlow-facing use OpenFlow port numbers
 * (K.IN_PORT = the OpenFlow in_port); the datapath actions use datapath port numbers
 * (XPort.odpPort). The caller converts K.IN_PORT at the boundary.
 */

import type { Action, Bucket, Instruction, Oxm } from '../openflow/index.js';
import type { FlowKey, FlowMask } from '../packet/key.js';
import type { OdpAction } from '../dpif/odp.js';

export interface XRule {
  readonly tableId: number;
  readonly priority: number;
  readonly cookie: bigint;
  readonly instructions: readonly Instruction[];
  /** True for a table-miss flow (priority 0, empty match): its packet-ins say NO_MATCH. */
  readonly tableMiss?: boolean;
  /** The match as the controller sent it, for traces only (ofproto's Rule has it). */
  readonly match?: readonly Oxm[];
}

export interface XGroup {
  readonly id: number;
  /** OFPGT_* */
  readonly type: number;
  readonly buckets: readonly Bucket[];
}

export interface XPort {
  /** OpenFlow port number (OFPP.LOCAL for the LOCAL port). */
  readonly ofport: number;
  readonly odpPort: number;
  readonly name: string;
  /** OFPPC_* */
  readonly config: number;
  /** OFPPS_* */
  readonly state: number;
}

/** The MAC learning table NORMAL reads (mac-learning.ts). */
export interface XMacTable {
  /** The OpenFlow port `mac` (2 words as in the key: high 16 bits, low 32) was learned on in `vlan`, if any. */
  lookup(vlan: number, macHi: number, macLo: number): number | undefined;
}

export interface XBridge {
  readonly name: string;
  readonly nTables: number;
  /**
   * The rule of table `tableId` for `flow`, ORing every key bit examined into `wc`. Must not
   * count the lookup (the caller accounts for lookups from the result).
   */
  lookup(tableId: number, flow: FlowKey, wc: FlowMask): XRule | undefined;
  group(id: number): XGroup | undefined;
  port(ofport: number): XPort | undefined;
  /** Every port, LOCAL included, in OpenFlow port-number order. */
  ports(): Iterable<XPort>;
  readonly macs: XMacTable;
  /** Fail-open (standalone mode without a controller): a table miss in table 0 acts as NORMAL. */
  readonly failOpen: boolean;
}

export interface XlateInput {
  readonly bridge: XBridge;
  /** The packet's flow: K.IN_PORT and K.IN_PHY_PORT are OpenFlow port numbers. Not modified. */
  readonly flow: FlowKey;
  /**
   * PACKET_OUT: translate this action list instead of the pipeline (table 0 is reached only
   * through output:TABLE). The in_port may then be OFPP.CONTROLLER, OFPP.ANY or OFPP.LOCAL.
   */
  readonly actions?: readonly Action[];
  /** Record the trace (ofproto/trace). */
  readonly trace?: boolean;
}

/** One table visited: the rule hit, or none (a miss). */
export interface TableVisit {
  readonly tableId: number;
  readonly rule: XRule | undefined;
}

/** A bucket used: its group and index (for the group's and the bucket's counters). */
export interface BucketUse {
  readonly groupId: number;
  readonly bucket: number;
}

/** MAC learning that NORMAL asks for (a side effect the caller performs). */
export interface MacLearn {
  readonly vlan: number;
  readonly macHi: number;
  readonly macLo: number;
  readonly ofport: number;
}

/**
 * What a datapath flow built from this translation depends on besides its key: revalidation
 * re-translates the flow when one of these changes.
 */
export interface XlateDeps {
  /** Groups read (their buckets or liveness). */
  readonly groups: ReadonlySet<number>;
  /** Ports whose state or config the result read (outputs, liveness, FLOOD/ALL read every port). */
  readonly ports: ReadonlySet<number>;
  /** FLOOD, ALL or NORMAL: the result depends on the whole port list. */
  readonly allPorts: boolean;
  /** NORMAL: the result depends on the MAC learning table. */
  readonly macs: boolean;
  /** The result depends on fail-open. */
  readonly failOpen: boolean;
}

export interface XlateResult {
  /** Datapath actions (output ports are datapath numbers); empty: drop. */
  readonly actions: OdpAction[];
  /**
   * The megaflow mask: every key bit the translation read, and only those (K.IN_PORT, K.ETH_TYPE
   * and the parse-state bits of K.FLAGS always).
   */
  readonly mask: FlowMask;
  /** The flow after the pipeline's changes (metadata, set-fields, pushes and pops). */
  readonly finalFlow: FlowKey;
  /** Every table lookup in order: the rule hit or a miss (table and rule counters). */
  readonly tables: readonly TableVisit[];
  /** Buckets executed (group and bucket counters). */
  readonly buckets: readonly BucketUse[];
  /** Meters the packet went through, in order. */
  readonly meters: readonly number[];
  readonly learned: readonly MacLearn[];
  readonly deps: XlateDeps;
  /**
   * Some table lookup saw a flow the translation itself had changed before it (a set-field, push,
   * pop or write-metadata), so it did not see the packet's own fields: revalidation then cannot
   * decide from the megaflow alone whether a rule added later could match there.
   */
  readonly lookupSawChanges?: boolean;
  /**
   * Why translation stopped early (too deep, too many lookups, too many actions): the actions are
   * then empty (drop), and this says why. Undefined when it ran to the end.
   */
  readonly error?: string;
  /** With `trace`: the lines of the trace (see trace.ts). */
  readonly trace?: readonly string[];
}
