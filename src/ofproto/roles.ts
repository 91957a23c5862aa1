/**
 * Controller roles, asynchronous-message configuration and switch configuration: the per-switch
 * control state that several controllers share (OpenFlow 1.3.5 §6.3.6 "Multiple controllers",
 * §7.3.10 role request, §7.3.5/§7.3.4 async and switch config).
 *
 * - A connection starts EQUAL. ROLE_REQUEST MASTER or SLAVE carries a generation_id; the switch
 *   keeps the largest one seen and refuses an older one with ROLE_REQUEST_FAILED/STALE. "Older"
 *   is the spec's wrap-around comparison: (int64)(new - cached) < 0, so ids may count past 2^64.
 * - A new MASTER turns every other MASTER into a SLAVE (OpenFlow 1.3 sends no notification;
 *   role-status messages arrived with 1.4).
 * - A SLAVE may read, but every message that changes the switch is answered BAD_REQUEST/IS_SLAVE
 *   (isModifying lists them). SET_ASYNC and SET_CONFIG's miss_send_len are per connection, so a
 *   slave may send them; a slave's SET_CONFIG does not change the switch-wide fragment handling.
 * - Async masks come in pairs [master-or-equal, slave]; which half applies is chosen when a
 *   message is about to be sent, by the connection's role at that moment (so a role change
 *   needs no mask rewrite). The defaults are Open vSwitch's.
 */

import { OFPT, OFPCR_ROLE, OFPR, OFPPR, OFPRR, OFPMP, OFPC_FRAG, ONF_EXPERIMENTER_ID, ONF_ET, OFP_DEFAULT_MISS_SEND_LEN } from '../../proto/constants.js';
import { OFPE } from '../../proto/errors.js';
import type { ErrorPair } from '../../proto/schema.js';
import type { Message } from '../openflow/index.js';

/** [applies while MASTER or EQUAL, applies while SLAVE] */
export type MaskPair = readonly [number, number];

export interface AsyncMasks {
  readonly packetIn: MaskPair;
  readonly portStatus: MaskPair;
  readonly flowRemoved: MaskPair;
}

export type AsyncKind = keyof AsyncMasks;

const bit = (n: number): number => 1 << n;

/**
 * Open vSwitch's defaults (DESIGN.md §4): master/equal get packet-ins for every reason but
 * INVALID_TTL, every port status and every flow-removed reason; a slave gets port status only.
 */
export const DEFAULT_ASYNC: AsyncMasks = {
  packetIn: [bit(OFPR.NO_MATCH) | bit(OFPR.ACTION), 0],
  portStatus: [bit(OFPPR.ADD) | bit(OFPPR.DELETE) | bit(OFPPR.MODIFY), bit(OFPPR.ADD) | bit(OFPPR.DELETE) | bit(OFPPR.MODIFY)],
  flowRemoved: [bit(OFPRR.IDLE_TIMEOUT) | bit(OFPRR.HARD_TIMEOUT) | bit(OFPRR.DELETE) | bit(OFPRR.GROUP_DELETE), 0],
};

/** What the switch remembers about one controller connection. Mutated only by RoleManager. */
export interface ControlState {
  role: number;
  async: AsyncMasks;
  missSendLen: number;
}

export function initialControlState(): ControlState {
  return { role: OFPCR_ROLE.EQUAL, async: DEFAULT_ASYNC, missSendLen: OFP_DEFAULT_MISS_SEND_LEN };
}

/** The part of a connection the control logic needs (OfConnection implements it). */
export interface ControlParty {
  readonly control: ControlState;
  /** True once HELLO negotiation has succeeded and until the connection closes. */
  readonly active: boolean;
  send(msg: Message): number;
  /** Sends OFPT_ERROR about `about` (same xid, its first 64 bytes as data). */
  sendError(pair: ErrorPair, about: Message, text?: string): void;
}

/**
 * Whether a connection wants an asynchronous message of `kind` with `reason` (OFPR_*, OFPPR_*,
 * OFPRR_*) now: the switch calls this for each connection before sending PACKET_IN,
 * PORT_STATUS or FLOW_REMOVED.
 */
export function wants(conn: Pick<ControlParty, 'control' | 'active'>, kind: AsyncKind, reason: number): boolean {
  if (!conn.active || reason < 0 || reason > 31) return false;
  const pair = conn.control.async[kind];
  const mask = conn.control.role === OFPCR_ROLE.SLAVE ? pair[1] : pair[0];
  return ((mask >>> reason) & 1) === 1;
}

/** The spec's stale test: true when `id` is older than `cached` in signed 64-bit wrap-around order. */
export function isStale(id: bigint, cached: bigint): boolean {
  return BigInt.asIntN(64, id - cached) < 0n;
}

/**
 * Messages that change the switch, which a SLAVE may not send (OpenFlow 1.3.5 §6.3.6): flow,
 * group, port, table and meter mods, packet-out, ONF bundle control and bundle add, and a
 * TABLE_FEATURES multipart request that carries tables (a set; an empty body only reads).
 */
export function isModifying(msg: Message): boolean {
  switch (msg.type) {
    case OFPT.FLOW_MOD:
    case OFPT.GROUP_MOD:
    case OFPT.PORT_MOD:
    case OFPT.TABLE_MOD:
    case OFPT.METER_MOD:
    case OFPT.PACKET_OUT:
      return true;
    case OFPT.EXPERIMENTER:
      return msg.experimenter === ONF_EXPERIMENTER_ID
        && (msg.expType === ONF_ET.BUNDLE_CONTROL || msg.expType === ONF_ET.BUNDLE_ADD_MESSAGE);
    case OFPT.MULTIPART_REQUEST:
      return msg.mpType === OFPMP.TABLE_FEATURES && 'tables' in msg && msg.tables.length > 0;
    default:
      return false;
  }
}

export type RoleResult = { readonly role: number; readonly generationId: bigint } | ErrorPair;

/**
 * Shared control state of one switch: the generation id, the set of connections (to demote an
 * old master) and the switch-wide configuration flags (fragment handling). `handle` consumes the
 * messages this layer answers by itself; the switch's own handler sees the rest.
 */
export class RoleManager {
  /** Largest generation_id seen in a MASTER/SLAVE request; undefined until the first one. */
  private cachedGenerationId: bigint | undefined;
  private readonly parties = new Set<ControlParty>();
  /** OFPC_FRAG_* (switch-wide; OVS keeps it per switch too). */
  configFlags: number = OFPC_FRAG.NORMAL;

  get generationId(): bigint | undefined {
    return this.cachedGenerationId;
  }

  attach(p: ControlParty): void {
    this.parties.add(p);
  }

  /** A closed connection leaves; if it was master the switch simply has none. */
  detach(p: ControlParty): void {
    this.parties.delete(p);
  }

  /** The current master connection, if any. */
  master(): ControlParty | undefined {
    for (const p of this.parties) if (p.control.role === OFPCR_ROLE.MASTER) return p;
    return undefined;
  }

  /** Applies a role request from `p`: the new role and the generation id to report, or the error. */
  requestRole(p: ControlParty, role: number, generationId: bigint): RoleResult {
    switch (role) {
      case OFPCR_ROLE.NOCHANGE:
        break;
      case OFPCR_ROLE.EQUAL:
        p.control.role = role;
        break;
      case OFPCR_ROLE.MASTER:
      case OFPCR_ROLE.SLAVE:
        if (this.cachedGenerationId !== undefined && isStale(generationId, this.cachedGenerationId)) {
          return OFPE.ROLE_REQUEST_FAILED!.STALE!;
        }
        this.cachedGenerationId = generationId;
        if (role === OFPCR_ROLE.MASTER) {
          for (const other of this.parties) {
            if (other !== p && other.control.role === OFPCR_ROLE.MASTER) other.control.role = OFPCR_ROLE.SLAVE;
          }
        }
        p.control.role = role;
        break;
      default:
        return OFPE.ROLE_REQUEST_FAILED!.BAD_ROLE!;
    }
    return { role: p.control.role, generationId: this.cachedGenerationId ?? 0n };
  }

  /**
   * Answers the control messages of this layer (ROLE_REQUEST, GET/SET_ASYNC, GET_CONFIG,
   * SET_CONFIG) and refuses modifying messages from a slave. Returns true when the message was
   * consumed (answered or refused), false when the switch should handle it.
   */
  handle(p: ControlParty, msg: Message): boolean {
    switch (msg.type) {
      case OFPT.ROLE_REQUEST: {
        const r = this.requestRole(p, msg.role, msg.generationId);
        if (Array.isArray(r)) p.sendError(r as ErrorPair, msg);
        else {
          const ok = r as Exclude<RoleResult, ErrorPair>;
          p.send({ type: OFPT.ROLE_REPLY, xid: msg.xid ?? 0, role: ok.role, generationId: ok.generationId });
        }
        return true;
      }
      case OFPT.GET_ASYNC_REQUEST: {
        const a = p.control.async;
        p.send({
          type: OFPT.GET_ASYNC_REPLY, xid: msg.xid ?? 0,
          packetInMask: a.packetIn, portStatusMask: a.portStatus, flowRemovedMask: a.flowRemoved,
        });
        return true;
      }
      case OFPT.SET_ASYNC: {
        const pair = (m: readonly number[]): MaskPair => [m[0]! >>> 0, m[1]! >>> 0];
        p.control.async = { packetIn: pair(msg.packetInMask), portStatus: pair(msg.portStatusMask), flowRemoved: pair(msg.flowRemovedMask) };
        return true;
      }
      case OFPT.GET_CONFIG_REQUEST:
        p.send({ type: OFPT.GET_CONFIG_REPLY, xid: msg.xid ?? 0, flags: this.configFlags, missSendLen: p.control.missSendLen });
        return true;
      case OFPT.SET_CONFIG:
        if (p.control.role !== OFPCR_ROLE.SLAVE) this.configFlags = msg.flags & OFPC_FRAG.MASK;
        p.control.missSendLen = msg.missSendLen;
        return true;
      default:
        if (p.control.role === OFPCR_ROLE.SLAVE && isModifying(msg)) {
          p.sendError(OFPE.BAD_REQUEST!.IS_SLAVE!, msg);
          return true;
        }
        return false;
    }
  }
}
