/**
 * The TAP netdev (type 'tap', and 'internal' for a bridge's LOCAL port): a Linux TAP device that
 * this process creates through /dev/net/tun (TUNSETIFF, IFF_TAP | IFF_NO_PI) and brings up.
 * Frames the host's stack sends on the device arrive here; frames sent here arrive at the host's
 * stack as if received on the device — which is what makes the LOCAL port the bridge's own
 * interface, named after the bridge.
 *
 * The descriptor is polled by libuv in the addon, read in a bounded loop per wake-up, and handed
 * to JavaScript once per wake-up, as for system ports (NativeNetdev). No IFF_VNET_HDR: the kernel
 * completes checksums, inserts VLAN tags and segments before frames reach us, so the TAP never
 * delivers a partial checksum or a super-frame.
 *
 * The device lives as long as the port: closing the port (or the process ending) removes it. If
 * someone deletes it underneath, the port goes down (status$) and stays down; it is not
 * recreated behind the operator's back.
 */

import { loadNative, NativeNetdev, errnoName, validIfName, type IfInfo, type NativeBinding, type NativePort } from './native.js';

export interface TapNetdevOptions {
  /** 'tap' (default) or 'internal' (the LOCAL port). */
  readonly type?: 'tap' | 'internal';
  /** Bring the device up (default true). */
  readonly up?: boolean;
  /** The device's Ethernet address (default: the kernel's random one). */
  readonly hwAddr?: Uint8Array;
  /** The device's MTU (default 1500). */
  readonly mtu?: number;
}

/** Largest frame read from a TAP: the largest MTU a TAP takes plus an Ethernet header and two tags. */
const TAP_MAX_FRAME = 65536 + 32;

export class TapNetdev extends NativeNetdev {
  readonly type: 'tap' | 'internal';

  private constructor(name: string, binding: NativeBinding, port: NativePort, info: IfInfo, type: 'tap' | 'internal') {
    // Room for a full budget of MTU-sized frames plus one of the largest.
    super(name, binding, port, info, 256 * (info.mtu + 32 + 8) + TAP_MAX_FRAME + 8);
    this.type = type;
  }

  /**
   * Creates the TAP `name` (or attaches to a persistent one) and brings it up; or a message
   * saying why not (no addon, no CAP_NET_ADMIN, the name taken by another kind of device).
   */
  static open(name: string, opts: TapNetdevOptions = {}): TapNetdev | string {
    const type = opts.type ?? 'tap';
    const what = `${type} port ${name}`;
    const binding = loadNative();
    if (typeof binding === 'string') return `${what}: ${type} ports need the native addon (build failed or no compiler): ${binding}`;
    if (name !== '' && !validIfName(name)) return `${what}: interface names are 1 to 15 bytes`;
    let port: NativePort & { readonly name: string };
    try {
      port = binding.openTap(name, TAP_MAX_FRAME);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      switch (err.code) {
        case 'EPERM': case 'EACCES': return `${what} needs CAP_NET_ADMIN (run as root): ${err.message}`;
        case 'ENOENT': case 'ENODEV': return `${what}: no /dev/net/tun (TUN/TAP is not available): ${err.message}`;
        case 'EINVAL': return `${what}: ${name} exists and is not a TAP device`;
        case 'EBUSY': return `${what}: ${name} is a TAP already attached to another process`;
        default: return `${what}: ${err.message}`;
      }
    }
    // Address and MTU first: both are refused on a device that is up and has carrier on some
    // kernels, and neither should change under traffic.
    if (opts.hwAddr !== undefined) {
      const r = opts.hwAddr.length === 6 ? binding.setIfMac(port.name, Buffer.from(opts.hwAddr)) : -22;
      if (r < 0) {
        binding.close(port);
        return `${what}: cannot set the address of ${port.name}: ${errnoName(r)}`;
      }
    }
    if (opts.mtu !== undefined) {
      const r = binding.setIfMtu(port.name, opts.mtu);
      if (r < 0) {
        binding.close(port);
        return `${what}: cannot set the MTU of ${port.name} to ${opts.mtu}: ${errnoName(r)}`;
      }
    }
    if (opts.up !== false) {
      const r = binding.setIfUp(port.name, true);
      if (r < 0) {
        binding.close(port);
        return `${what}: cannot bring ${port.name} up: ${errnoName(r)}`;
      }
    }
    const info = binding.ifInfo(port.name);
    if (typeof info === 'number') {
      binding.close(port);
      return `${what}: ${port.name} vanished while opening: ${errnoName(info)}`;
    }
    return new TapNetdev(port.name, binding, port, info, type);
  }

  /** A TAP deleted underneath is not recreated. */
  protected reopen(): NativePort | undefined {
    return undefined;
  }
}
