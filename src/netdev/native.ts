/**
 * The native addon (native/ofnet.c, built by node-gyp into build/Release/ofnet.node) and what
 * the Linux port providers share on top of it.
 *
 * - loadNative() returns the binding, or the reason it is unavailable (not built: no compiler
 *   at install time; built for another ABI). Nothing here loads it at import time, so the
 *   switch runs without it on dummy, patch and UDP tunnel ports.
 * - watchLinks() shares one rtnetlink (RTMGRP_LINK) socket between every port of the process:
 *   the kernel tells us when an interface changes flags, MTU or disappears, and each port
 *   re-reads its own state. If the socket cannot be opened, a 500 ms poll stands in.
 * - NativeNetdev is the common body of SystemNetdev (AF_PACKET) and TapNetdev: the receive
 *   callback that turns one wake-up's records into Packets in batches of at most RX_BATCH, the
 *   packed send, counters, link state and status$, and surviving the interface vanishing.
 *
 * Receive records, as the addon writes them into one Buffer per port: u32 length, u16 flags,
 * u16 zero, then the frame (little-endian, no padding). One JavaScript call per wake-up, never
 * one per frame.
 */

import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { Subject, type Observable } from 'rxjs';
import { csumFieldOffset, completeChecksum, ipInfo, ipWalk, sctpChecksum, writeSctpChecksum } from '../packet/checksum.js';
import { DEFAULT_HEADROOM, Packet } from '../packet/packet.js';
import { RX_BATCH, zeroStats, type Netdev, type NetdevStats, type NetdevStatus, type Receiver } from './netdev.js';

/** Flags in a receive record (native/ofnet.c OFNET_F_*). */
export const REC_VLAN_RESTORED = 1;
export const REC_CSUM_PARTIAL = 2;
export const REC_TRUNCATED = 4;
export const REC_CSUM_VALID = 8;
/** Bytes of a receive record's header. */
export const REC_HEADER = 8;
/** The addon's record layout and API version this file speaks. */
const ABI = 1;

/** Interface flags from SIOCGIFFLAGS / rtnetlink (linux/if.h). */
export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;
export const IFF_PROMISC = 0x100;
export const IFF_LOWER_UP = 0x10000;

/** An open descriptor in the addon (an AF_PACKET socket with its ring, or a TAP). */
export interface NativePort {
  readonly ifindex: number;
  /** Largest frame received whole. */
  readonly maxFrame: number;
  /** Ring slots (AF_PACKET only). */
  readonly ringFrames?: number;
  /** The device's name (TAP: the kernel's choice when asked for a pattern). */
  readonly name?: string;
}

export interface IfInfo {
  readonly index: number;
  readonly flags: number;
  readonly mtu: number;
  readonly mac: Buffer;
}

export interface LinkEvent {
  readonly index: number;
  readonly name: string;
  readonly flags: number;
  readonly mtu: number;
  readonly deleted: boolean;
}

export interface NativeMonitor {
  readonly __monitor?: never;
}

/** The addon's exports (native/ofnet.c Init). Functions throw only on bad arguments or at open. */
export interface NativeBinding {
  readonly abi: number;
  readonly recordHeader: number;
  /** AF_PACKET socket bound to ifname, TPACKET_V2 ring, promiscuous. Throws Error{code}. */
  openPacket(ifname: string, ringFrames: number, frameSize: number): NativePort;
  /** Creates (or attaches to) a TAP. Throws Error{code}. */
  openTap(name: string, maxFrame: number): NativePort & { readonly name: string };
  /** Starts polling; each wake-up calls cb(count, err) with count records in rxBuffer. Returns the budget used. */
  start(port: NativePort | RawIpNativePort, rxBuffer: Buffer, budget: number, cb: (count: number, err: number) => void): number;
  /** Sends count frames packed back to back in buf; lens[i] is zeroed for each frame not sent. */
  send(port: NativePort, buf: Buffer, lens: Uint32Array, count: number): number;
  close(port: NativePort | RawIpNativePort): void;
  /** [packets, drops] counted by the kernel since the last call (AF_PACKET). */
  ringStats(port: NativePort): [number, number];
  /** The interface's index, flags, MTU and address, or -errno. */
  ifInfo(name: string): IfInfo | number;
  /** Sets IFF_UP; 0 or -errno. */
  setIfUp(name: string, up: boolean): number;
  /** Sets the Ethernet address; 0 or -errno. */
  setIfMac(name: string, mac: Buffer): number;
  /** Sets the MTU; 0 or -errno. */
  setIfMtu(name: string, mtu: number): number;
  linkMonitor(cb: (events: LinkEvent[], err: number) => void): NativeMonitor;
  closeMonitor(m: NativeMonitor): void;
  /**
   * A raw IPv4 socket for `protocol`, bound to `localAddr` (a number; 0: every address), whose
   * receive records each hold a whole IP packet of at most maxFrame bytes. Throws Error{code}.
   * Absent from an addon built before raw IP ports (rawip.ts says so).
   */
  openRawIp?(protocol: number, localAddr: number, maxFrame?: number): RawIpNativePort;
  /** Sends count packets packed in buf, packet i to dsts[i]; lens[i] is zeroed for each one not sent. */
  sendTo?(port: RawIpNativePort, buf: Buffer, lens: Uint32Array, count: number, dsts: Uint32Array): number;
}

/** A raw IP socket in the addon (start, close and the receive records as for NativePort). */
export interface RawIpNativePort {
  readonly protocol: number;
  readonly maxFrame: number;
}

let loaded: NativeBinding | string | undefined;

/**
 * The addon, or why it cannot be used. Looks in $OFSWITCH_NATIVE, then build/Release under the
 * project root (this file runs from <root>/<outDir>/src/netdev/).
 */
export function loadNative(): NativeBinding | string {
  if (loaded !== undefined) return loaded;
  const require = createRequire(import.meta.url);
  const path = process.env['OFSWITCH_NATIVE'] ?? new URL('../../../build/Release/ofnet.node', import.meta.url).pathname;
  if (process.platform !== 'linux') {
    loaded = `the native addon is Linux-only (this is ${process.platform})`;
    return loaded;
  }
  try {
    const b = require(path) as NativeBinding;
    loaded = b.abi === ABI && b.recordHeader === REC_HEADER
      ? b
      : `${path} speaks ABI ${b.abi}, not ${ABI}: rebuild it with \`npm run build:native\``;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    loaded = err.code === 'MODULE_NOT_FOUND'
      ? `${path} was not built (no compiler when the package was installed?): run \`npm run build:native\``
      : `${path} did not load: ${err.message}`;
  }
  return loaded;
}

/** Linux interface names: 1 to 15 bytes (IFNAMSIZ less the NUL), no '/', no whitespace. */
export function validIfName(name: string): boolean {
  const n = Buffer.byteLength(name);
  return n >= 1 && n <= 15 && !/[\s/:]/.test(name);
}

const ERRNO_NAMES = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));

/** 'ENODEV' for -19 or 19. */
export function errnoName(err: number): string {
  return ERRNO_NAMES.get(Math.abs(err)) ?? `errno ${Math.abs(err)}`;
}

// ---------------------------------------------------------------------------------------------
// Link changes, shared by all ports of the process
// ---------------------------------------------------------------------------------------------

/** Called with one event, or with undefined when events were lost and every port must re-read. */
export type LinkListener = (ev: LinkEvent | undefined) => void;

const linkListeners = new Set<LinkListener>();
let monitor: NativeMonitor | undefined;
let pollTimer: NodeJS.Timeout | undefined;
/** Link state is re-read this often when rtnetlink is unavailable. */
export const LINK_POLL_MS = 500;

function onLinkEvents(events: LinkEvent[], err: number): void {
  // Listeners may unsubscribe (a port closing) while we iterate: iterate a copy.
  const ls = [...linkListeners];
  if (err !== 0) for (const l of ls) l(undefined);
  for (const ev of events) for (const l of ls) l(ev);
}

/** Subscribes to link changes; returns the unsubscribe function. The socket closes with the last listener. */
export function watchLinks(binding: NativeBinding, fn: LinkListener): () => void {
  linkListeners.add(fn);
  if (monitor === undefined && pollTimer === undefined) {
    try {
      monitor = binding.linkMonitor(onLinkEvents);
    } catch {
      pollTimer = setInterval(() => onLinkEvents([], -1), LINK_POLL_MS);
    }
  }
  return () => {
    linkListeners.delete(fn);
    if (linkListeners.size > 0) return;
    if (monitor !== undefined) binding.closeMonitor(monitor);
    if (pollTimer !== undefined) clearInterval(pollTimer);
    monitor = undefined;
    pollTimer = undefined;
  };
}

// ---------------------------------------------------------------------------------------------
// Partial checksums
// ---------------------------------------------------------------------------------------------

const ETH_VLAN = 0x8100, ETH_QINQ = 0x88a8, ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd;
const IPPROTO_SCTP = 132;

/**
 * Completes the L4 checksum of a frame the kernel handed over as CHECKSUM_PARTIAL (its sender
 * left the checksum to a NIC; a veth has none). AF_PACKET gives only the status bit, not the
 * skb's csum_start/csum_offset, so they are found from the headers: csum_start is the L4 header
 * (after the Ethernet header, any 802.1Q/802.1ad tags, the IPv4 options or IPv6 extension
 * headers), csum_offset the protocol's checksum field (TCP 16, UDP 6; SCTP's CRC32c at 8 is
 * computed whole). Returns false, touching nothing, when the frame is not one we can complete.
 */
export function completePartialChecksum(buf: Uint8Array, start: number, end: number): boolean {
  let p = start + 12;
  if (p + 2 > end) return false;
  let type = (buf[p]! << 8) | buf[p + 1]!;
  for (let tags = 0; (type === ETH_VLAN || type === ETH_QINQ) && tags < 4; tags++) {
    p += 4;
    if (p + 2 > end) return false;
    type = (buf[p]! << 8) | buf[p + 1]!;
  }
  if (type !== ETH_IPV4 && type !== ETH_IPV6) return false;
  if (!ipWalk(buf, p + 2, end) || ipInfo.upper < 0) return false;
  const l4 = ipInfo.upper;
  if (ipInfo.proto === IPPROTO_SCTP) {
    if (l4 + 12 > ipInfo.end) return false;
    writeSctpChecksum(buf, l4, sctpChecksum(buf, l4, ipInfo.end));
    return true;
  }
  const at = csumFieldOffset(ipInfo.proto);
  return at >= 0 && completeChecksum(buf, l4, at, ipInfo.end);
}

// ---------------------------------------------------------------------------------------------
// The common body of the Linux port providers
// ---------------------------------------------------------------------------------------------

/** Most frames one wake-up copies out of the kernel (then the event loop gets its turn). */
export const RX_BUDGET = 256;
/** Send staging starts at this size and grows to the largest batch seen. */
const TX_STAGING = 64 * 1024;

/**
 * A Netdev over a native port. Subclasses open the port and say how to reopen it; this class
 * owns the receive path, send, counters and link state.
 */
export abstract class NativeNetdev implements Netdev {
  abstract readonly type: string;
  readonly name: string;
  readonly hwAddr: Uint8Array;

  protected port: NativePort | undefined;
  protected readonly binding: NativeBinding;
  protected readonly counters: NetdevStats = zeroStats();
  private receiver: Receiver | undefined;
  private rxBuf: Buffer;
  private txBuf = Buffer.allocUnsafe(TX_STAGING);
  private txLens = new Uint32Array(RX_BATCH);
  private linkMtu: number;
  private ifFlags: number;
  private ifIndex: number;
  private lastUp: boolean;
  private closed = false;
  private readonly statusSubject = new Subject<NetdevStatus>();
  private readonly unwatch: () => void;
  /** Frames whose L4 checksum arrived partial (CHECKSUM_PARTIAL) and was completed here. */
  rxCsumCompleted = 0n;
  /** Frames whose partial checksum could not be completed (passed on as they were). */
  csumUncompleted = 0n;
  /** Frames whose VLAN tag the kernel had stripped and the addon put back. */
  rxVlanRestored = 0n;
  /** Frames longer than a ring slot (GSO/GRO super-frames): dropped, counted as rxErrors too. */
  rxTruncated = 0n;
  /** Wake-ups that delivered frames (rxPackets / rxWakeups: frames per wake-up). */
  rxWakeups = 0;
  /** Times the interface went away underneath the port. */
  detaches = 0;

  readonly status$: Observable<NetdevStatus> = this.statusSubject.asObservable();

  protected constructor(name: string, binding: NativeBinding, port: NativePort, info: IfInfo, rxBytes: number) {
    this.name = name;
    this.binding = binding;
    this.port = port;
    this.hwAddr = Uint8Array.from(info.mac);
    this.linkMtu = info.mtu;
    this.ifFlags = info.flags;
    this.ifIndex = info.index;
    this.rxBuf = Buffer.allocUnsafe(rxBytes);
    this.lastUp = this.up;
    this.unwatch = watchLinks(binding, this.onLink);
    this.startPort(port);
  }

  get mtu(): number {
    return this.linkMtu;
  }

  /** The interface's flags as last read (IFF_*). */
  get flags(): number {
    return this.ifFlags;
  }

  get ifindex(): number {
    return this.ifIndex;
  }

  /** Administratively up with carrier, and the interface still there. */
  get up(): boolean {
    return !this.closed && this.port !== undefined && (this.ifFlags & IFF_UP) !== 0 && (this.ifFlags & IFF_RUNNING) !== 0;
  }

  /** The port is gone from under us (interface deleted) and waits for it to come back. */
  get detached(): boolean {
    return this.port === undefined && !this.closed;
  }

  setReceiver(rx: Receiver | undefined): void {
    if (!this.closed) this.receiver = rx;
  }

  send(frames: readonly Packet[]): number {
    const port = this.port;
    if (port === undefined || this.closed) {
      this.counters.txDropped += BigInt(frames.length);
      return 0;
    }
    let sent = 0;
    for (let i = 0; i < frames.length;) {
      // Pack as many frames as fit the staging buffer (at least one: it grows for a big one).
      let off = 0;
      let n = 0;
      const first = frames[i]!;
      if (first.length > this.txBuf.length) this.txBuf = Buffer.allocUnsafe(first.length * 2);
      if (this.txLens.length < frames.length - i) this.txLens = new Uint32Array(frames.length - i);
      while (i + n < frames.length) {
        const p = frames[i + n]!;
        if (off + p.length > this.txBuf.length) break;
        p.buf.copy(this.txBuf, off, p.start, p.end);
        this.txLens[n] = p.length;
        off += p.length;
        n++;
      }
      const ok = this.binding.send(port, this.txBuf, this.txLens, n);
      let bytes = 0;
      for (let k = 0; k < n; k++) bytes += this.txLens[k]!;
      sent += ok;
      this.counters.txPackets += BigInt(ok);
      this.counters.txBytes += BigInt(bytes);
      this.counters.txDropped += BigInt(n - ok);
      i += n;
      if (ok === 0) {
        // Nothing of this chunk went out (link down, buffer full): do not hammer the kernel.
        this.counters.txDropped += BigInt(frames.length - i);
        break;
      }
    }
    return sent;
  }

  stats(): NetdevStats {
    this.pullRingStats();
    return { ...this.counters };
  }

  /** Stops receiving, closes the descriptor, completes status$. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.pullRingStats();
    this.closed = true;
    this.receiver = undefined;
    this.unwatch();
    if (this.port !== undefined) this.binding.close(this.port);
    this.port = undefined;
    this.onClosed();
    this.statusSubject.complete();
  }

  /** Re-reads the interface's flags, MTU and address; emits status$ on a change of link state. */
  refresh(): void {
    if (this.closed) return;
    const info = this.binding.ifInfo(this.name);
    if (typeof info === 'number') {
      if (this.port !== undefined) this.detach();
      this.emitIfChanged();
      return;
    }
    if (this.port === undefined) {
      if (!this.reattach(info)) {
        this.emitIfChanged();
        return;
      }
    } else if (info.index !== this.ifIndex) {
      // Deleted and recreated between two looks: the socket is bound to the old one.
      this.detach();
      if (!this.reattach(info)) {
        this.emitIfChanged();
        return;
      }
    }
    this.ifFlags = info.flags;
    this.linkMtu = info.mtu;
    this.hwAddr.set(info.mac.subarray(0, 6));
    this.emitIfChanged();
  }

  /** Opens the descriptor again for an interface that came back; undefined when it cannot. */
  protected abstract reopen(): NativePort | undefined;
  protected onClosed(): void {}

  private startPort(port: NativePort): void {
    this.binding.start(port, this.rxBuf, RX_BUDGET, this.onRx);
  }

  private reattach(info: IfInfo): boolean {
    const port = this.reopen();
    if (port === undefined) return false;
    this.port = port;
    this.ifIndex = info.index;
    this.ifFlags = info.flags;
    this.startPort(port);
    return true;
  }

  private detach(): void {
    if (this.port === undefined) return;
    this.pullRingStats();
    this.binding.close(this.port);
    this.port = undefined;
    this.ifFlags = 0;
    this.detaches++;
  }

  private emitIfChanged(): void {
    const up = this.up;
    if (up !== this.lastUp) {
      this.lastUp = up;
      this.statusSubject.next({ up });
    }
  }

  private pullRingStats(): void {
    if (this.port === undefined) return;
    const [, drops] = this.binding.ringStats(this.port);
    if (drops > 0) this.counters.rxDropped += BigInt(drops);
  }

  private readonly onLink = (ev: LinkEvent | undefined): void => {
    if (ev === undefined || ev.name === this.name || ev.index === this.ifIndex) this.refresh();
  };

  /** One wake-up: count records in rxBuf, err a negative errno from the descriptor (or 0). */
  private readonly onRx = (count: number, err: number): void => {
    let firstError: unknown;
    if (count > 0) {
      this.rxWakeups++;
      firstError = this.deliver(count);
    }
    // ENETDOWN (the interface went down or was unregistered), EBADFD (the TAP was deleted):
    // re-read the interface; refresh() detaches the port if it is gone.
    if (err !== 0) {
      this.counters.rxErrors++;
      this.refresh();
    }
    if (firstError !== undefined) throw firstError;
  };

  /** Turns count records into Packets and hands them over in batches; returns a receiver's exception. */
  private deliver(count: number): unknown {
    const rx = this.rxBuf;
    const c = this.counters;
    let firstError: unknown;
    let batch: Packet[] = [];
    let bytes = 0;
    let off = 0;
    for (let i = 0; i < count; i++) {
      const len = rx.readUInt32LE(off);
      const flags = rx.readUInt16LE(off + 4);
      const at = off + REC_HEADER;
      off = at + len;
      if ((flags & REC_TRUNCATED) !== 0) {
        this.rxTruncated++;
        c.rxErrors++;
        continue;
      }
      if (len < 14) {
        c.rxErrors++;
        continue;
      }
      if (this.receiver === undefined) {
        c.rxDropped++;
        continue;
      }
      const buf = Buffer.allocUnsafe(DEFAULT_HEADROOM + len);
      buf.fill(0, 0, DEFAULT_HEADROOM);
      rx.copy(buf, DEFAULT_HEADROOM, at, at + len);
      if ((flags & REC_CSUM_PARTIAL) !== 0) {
        if (completePartialChecksum(buf, DEFAULT_HEADROOM, DEFAULT_HEADROOM + len)) this.rxCsumCompleted++;
        else this.csumUncompleted++;
      }
      if ((flags & REC_VLAN_RESTORED) !== 0) this.rxVlanRestored++;
      batch.push(new Packet(buf, DEFAULT_HEADROOM, DEFAULT_HEADROOM + len));
      bytes += len;
      if (batch.length === RX_BATCH) {
        firstError ??= this.handOver(batch, bytes);
        batch = [];
        bytes = 0;
      }
    }
    if (batch.length > 0) firstError ??= this.handOver(batch, bytes);
    return firstError;
  }

  private handOver(batch: Packet[], bytes: number): unknown {
    const rx = this.receiver;
    if (rx === undefined) {
      // The receiver went away in the middle of a wake-up (it unset itself).
      this.counters.rxDropped += BigInt(batch.length);
      return undefined;
    }
    this.counters.rxPackets += BigInt(batch.length);
    this.counters.rxBytes += BigInt(bytes);
    // A receiver that throws (a bug upstream) does not strand the rest of the wake-up: the
    // exception is rethrown after every batch was delivered.
    try {
      rx(batch);
      return undefined;
    } catch (e) {
      return e;
    }
  }
}
