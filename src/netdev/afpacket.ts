/**
 * The system netdev (type 'system'): a switch port on an existing Linux interface (a veth, a
 * NIC), through an AF_PACKET socket of the native addon (native/ofnet.c).
 *
 * What the socket is set up with, and why:
 * - a TPACKET_V2 receive ring (mmap): the kernel writes frames into shared memory, the addon
 *   copies up to RX_BUDGET of them per wake-up into one Buffer and calls JavaScript once;
 * - PACKET_IGNORE_OUTGOING: frames we (or the host's stack) send on the interface do not come
 *   back as received frames, which would loop through the switch;
 * - PACKET_QDISC_BYPASS: transmit goes straight to the driver;
 * - the ring header's VLAN fields (what PACKET_AUXDATA gives recvmsg): a tag the kernel
 *   stripped into metadata is put back into the frame, so VLAN matches see it;
 * - frames whose checksum is still partial (a sender on a veth with checksum offload on) are
 *   completed here (completePartialChecksum), so what the switch forwards is valid on the wire;
 * - promiscuous mode (PACKET_MR_PROMISC), released by the kernel when the socket closes.
 *
 * Link state follows the interface (IFF_UP and IFF_RUNNING, i.e. admin up with carrier) through
 * rtnetlink; when the interface is deleted the port goes down (status$), the socket is closed,
 * and the port comes back by itself if an interface of the same name appears again — Mininet
 * deletes links before it stops switches, and nothing here throws because of it.
 *
 * Limits: a frame longer than a ring slot (a GSO/GRO super-frame from a veth whose peer has TSO
 * on, or a GRO-enabled NIC) cannot be received whole through a TPACKET_V2 ring: it is dropped and
 * counted (rxErrors, rxTruncated), and a TCP flow that sends such frames stalls. On a veth the
 * fix belongs to the host at the other end: `ip link set DEV gso_max_segs 1` (iproute2, no
 * ethtool needed) makes its stack send one MSS per skb while checksum offload stays on;
 * `ethtool -K DEV tso off gso off` does the same. A larger `frameSize` (65536 + 128 holds any
 * super-frame) receives them whole, but they cannot go out of another port as they are (a
 * packet socket refuses frames over the MTU) until the datapath segments them.
 */

import { loadNative, NativeNetdev, errnoName, validIfName, type IfInfo, type NativeBinding, type NativePort } from './native.js';

export interface SystemNetdevOptions {
  /** Ring slots (default 2048). The ring is the buffer while JavaScript is busy. */
  readonly ringFrames?: number;
  /** Bytes per ring slot (default: enough for the MTU plus two VLAN tags, at least 2048). */
  readonly frameSize?: number;
}

export const DEFAULT_RING_FRAMES = 2048;
/** tpacket_rcv puts the Ethernet header 66 bytes into a TPACKET_V2 slot. */
const SLOT_OVERHEAD = 66;

/** The slot size for an MTU: the frame with two VLAN tags after the kernel's header, rounded. */
export function slotSizeFor(mtu: number): number {
  const need = SLOT_OVERHEAD + mtu + 14 + 8;
  return Math.max(2048, (need + 15) & ~15);
}

export class SystemNetdev extends NativeNetdev {
  readonly type = 'system';
  private readonly ringFrames: number;
  private readonly frameSize: number | undefined;

  private constructor(name: string, binding: NativeBinding, port: NativePort, info: IfInfo, opts: SystemNetdevOptions, slot: number) {
    super(name, binding, port, info, (slot + 12) * 256);
    this.ringFrames = opts.ringFrames ?? DEFAULT_RING_FRAMES;
    this.frameSize = opts.frameSize;
  }

  /**
   * A port on the interface `name`, or a message saying why not (no addon, no CAP_NET_RAW, no
   * such interface), meant for the operator as it is.
   */
  static open(name: string, opts: SystemNetdevOptions = {}): SystemNetdev | string {
    const binding = loadNative();
    if (typeof binding === 'string') return `system port ${name}: system ports need the native addon (build failed or no compiler): ${binding}`;
    if (!validIfName(name)) return `system port ${name}: interface names are 1 to 15 bytes`;
    const info = binding.ifInfo(name);
    if (typeof info === 'number') {
      return errnoName(info) === 'ENODEV' ? `system port ${name}: no such interface` : `system port ${name}: ${errnoName(info)}`;
    }
    const slot = opts.frameSize ?? slotSizeFor(info.mtu);
    const port = openPort(binding, name, opts.ringFrames ?? DEFAULT_RING_FRAMES, slot);
    if (typeof port === 'string') return port;
    return new SystemNetdev(name, binding, port, info, opts, slot);
  }

  protected reopen(): NativePort | undefined {
    const info = this.binding.ifInfo(this.name);
    if (typeof info === 'number') return undefined;
    // A slot sized for the MTU at open; a bigger MTU now gets bigger slots only if asked.
    const port = openPort(this.binding, this.name, this.ringFrames, this.frameSize ?? slotSizeFor(info.mtu));
    return typeof port === 'string' ? undefined : port;
  }
}

function openPort(binding: NativeBinding, name: string, ringFrames: number, slot: number): NativePort | string {
  try {
    return binding.openPacket(name, ringFrames, slot);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EPERM' || err.code === 'EACCES') return `system port ${name} needs CAP_NET_RAW (run as root): ${err.message}`;
    if (err.code === 'ENODEV') return `system port ${name}: no such interface`;
    return `system port ${name}: ${err.message}`;
  }
}
