/**
 * The action executor: runs an ODP action list (odp.ts) on one parsed packet, in order.
 *
 * It changes the packet in place with the packet layer's rewrites and hands everything that
 * leaves the packet (outputs, meters, userspace upcalls) to an ActionSink, which the datapath
 * implements (tx batches per port, its meter table, its upcall queue). This file knows nothing
 * about ports or flows.
 *
 * Copies. An `output` must not see changes made by later actions, so it normally queues a copy
 * of the frame. After the last action that can change the packet (set, TTL, push/pop, meter) no
 * copy is needed: every later output queues the same frame. When the packet is `owned` (the
 * datapath received it and nobody else holds it) that frame is the packet itself; otherwise (an
 * execute from above, whose caller keeps its packet) it is one copy shared by those outputs.
 * `clone` runs its list on a copy (with the same Offsets), so the original continues unchanged.
 *
 * Tunnel metadata. set(tunnel_id) is not a change to the frame's bytes: it replaces the packet's
 * tunnel metadata (Packet.tunnel, immutable, so outputs queued before it keep the old one), which
 * a tunnel port reads when it encapsulates (netdev/tunnel.ts). Every copy made here carries the
 * metadata along; the key words are left alone (the receive path reuses its keys), except in the
 * key handed to a `userspace` action, which gets the metadata as it is at that point.
 *
 * Failures are counted, never thrown: a rewrite whose header is absent returns false, leaves the
 * packet as it was and execution continues (actionErrors); an output to a port that does not
 * exist is counted by the sink and ignored.
 */

import { OFPXMT } from '../../proto/constants.js';
import { K, newKey, type FlowKey } from '../packet/key.js';
import { Packet, Offsets, tunnelToKey, tunnelWithId } from '../packet/packet.js';
import { extract } from '../packet/extract.js';
import {
  setField, setNwTtl, setMplsTtl, pushVlan, popVlan, pushMpls, popMpls, pushPbb, popPbb,
} from '../packet/rewrite.js';
import type { OdpAction, UserspaceCookie } from './odp.js';

export interface ActionSink {
  /** Queues `pkt` for sending on datapath port `port` (the sink counts unknown ports). */
  output(port: number, pkt: Packet): void;
  /** Runs the packet through a meter; false: the meter drops it. */
  meter(meterId: number, pkt: Packet, off: Offsets): boolean;
  /** A `userspace` action: `pkt` and `key` are fresh copies, the sink may keep them. */
  userspace(pkt: Packet, key: FlowKey, cookie: UserspaceCookie): void;
}

export interface ExecCounters {
  /** Actions that could not apply (header absent, bad value, unknown action). */
  actionErrors: number;
  /** Packets that a `drop` action, an empty list or a meter stopped. */
  dropped: number;
}

/** A copy of the whole buffer (headroom included), so offsets into it stay valid. */
export function clonePacket(pkt: Packet): Packet {
  const buf = Buffer.allocUnsafe(pkt.buf.length);
  pkt.buf.copy(buf, 0, 0, pkt.buf.length);
  const copy = new Packet(buf, pkt.start, pkt.end);
  copy.tunnel = pkt.tunnel;
  return copy;
}

/** A copy of just the frame, for output (nothing will change it, so no headroom). */
function frameCopy(pkt: Packet): Packet {
  const n = pkt.end - pkt.start;
  const buf = Buffer.allocUnsafe(n);
  pkt.buf.copy(buf, 0, pkt.start, pkt.end);
  const copy = new Packet(buf, 0, n);
  copy.tunnel = pkt.tunnel;
  return copy;
}

export function copyOffsets(dst: Offsets, src: Offsets): Offsets {
  dst.l2 = src.l2;
  dst.vlan = src.vlan;
  dst.vlanCount = src.vlanCount;
  dst.ethType = src.ethType;
  dst.pbb = src.pbb;
  dst.mpls = src.mpls;
  dst.mplsCount = src.mplsCount;
  dst.l3 = src.l3;
  dst.l4 = src.l4;
  dst.l7 = src.l7;
  dst.ndTarget = src.ndTarget;
  dst.ndSll = src.ndSll;
  dst.ndTll = src.ndTll;
  dst.ipv6Frag = src.ipv6Frag;
  return dst;
}

/** Index of the last action that can change the packet (-1: none does). */
function lastWriter(actions: readonly OdpAction[]): number {
  for (let i = actions.length - 1; i >= 0; i--) {
    const t = actions[i]!.type;
    if (t !== 'output' && t !== 'userspace' && t !== 'clone' && t !== 'drop') return i;
  }
  return -1;
}

/**
 * Runs `actions` on `pkt` (parsed into `off`; `key` supplies the metadata words for userspace
 * upcalls). `owned`: the packet may be queued for output as it is (see the file comment).
 */
export function executeActions(
  sink: ActionSink,
  counters: ExecCounters,
  pkt: Packet,
  off: Offsets,
  key: FlowKey,
  actions: readonly OdpAction[],
  owned: boolean,
): void {
  const n = actions.length;
  if (n === 0) {
    counters.dropped++;
    return;
  }
  const writer = lastWriter(actions);
  let shared: Packet | undefined = owned ? pkt : undefined;
  for (let i = 0; i < n; i++) {
    const a = actions[i]!;
    let ok = true;
    switch (a.type) {
      case 'output':
        if (i > writer) {
          if (shared === undefined) shared = frameCopy(pkt);
          sink.output(a.port, shared);
        } else {
          sink.output(a.port, frameCopy(pkt));
        }
        break;
      case 'set': ok = a.field === OFPXMT.TUNNEL_ID ? setTunnelId(pkt, a.value) : setField(pkt, off, a.field, a.value); break;
      case 'set_nw_ttl': ok = setNwTtl(pkt, off, a.ttl); break;
      case 'set_mpls_ttl': ok = setMplsTtl(pkt, off, a.ttl); break;
      case 'push_vlan': ok = pushVlan(pkt, off, a.tpid); break;
      case 'pop_vlan': ok = popVlan(pkt, off); break;
      case 'push_mpls': ok = pushMpls(pkt, off, a.ethertype); break;
      case 'pop_mpls': ok = popMpls(pkt, off, a.ethertype); break;
      case 'push_pbb': ok = pushPbb(pkt, off, a.ethertype); break;
      case 'pop_pbb': ok = popPbb(pkt, off); break;
      case 'meter':
        if (!sink.meter(a.meterId, pkt, off)) {
          counters.dropped++;
          return;
        }
        break;
      case 'clone': {
        const copy = clonePacket(pkt);
        executeActions(sink, counters, copy, copyOffsets(new Offsets(), off), key, a.actions, true);
        break;
      }
      case 'userspace': {
        const copy = frameCopyWithHeadroom(pkt);
        const k = newKey();
        k.set(key.subarray(0, K.PACKET));
        tunnelToKey(pkt.tunnel, k);
        extract(copy.buf, copy.start, copy.end, k, new Offsets());
        sink.userspace(copy, k, a.cookie);
        break;
      }
      case 'drop':
        counters.dropped++;
        return;
      default:
        ok = false; // an action this datapath does not know (from an untyped caller)
    }
    if (!ok) counters.actionErrors++;
  }
}

/** The frame with fresh headroom, for a packet the layer above may change and send again. */
function frameCopyWithHeadroom(pkt: Packet): Packet {
  const copy = Packet.from(pkt.buf.subarray(pkt.start, pkt.end));
  copy.tunnel = pkt.tunnel;
  return copy;
}

/** set(tunnel_id): the value is the field's wire form, 8 bytes big-endian (shorter: the low bytes). */
function setTunnelId(pkt: Packet, value: Uint8Array): boolean {
  if (value.length === 0 || value.length > 8) return false;
  let hi = 0;
  let lo = 0;
  for (let i = 0; i < value.length; i++) {
    hi = ((hi << 8) | (lo >>> 24)) >>> 0;
    lo = ((lo << 8) | value[i]!) >>> 0;
  }
  pkt.tunnel = tunnelWithId(pkt.tunnel, hi, lo);
  return true;
}
