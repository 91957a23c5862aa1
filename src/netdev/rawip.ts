/**
 * A raw IPv4 socket for one IP protocol, through the native addon (native/ofnet.c openRawIp and
 * sendTo): the transport of GRE tunnel ports (tunnel.ts), which have no UDP port to hide behind.
 *
 * - Receive: the kernel hands the socket every packet of its protocol addressed to the host (to
 *   the bound address only, when one is given), reassembled, IP header first. The addon copies
 *   up to RX_BUDGET of them per wake-up into one Buffer (the records of native.ts); here each
 *   record's IPv4 header is checked and read (source, destination, ToS, TTL: what a UDP socket
 *   cannot tell) and the payload after it is handed on as a Buffer of its own.
 * - Transmit: a batch of payloads, each with its own destination, packed into one staging buffer
 *   and sent with one sendmmsg(2); the kernel builds the IP headers (TTL from the system default,
 *   ToS 0, fragmenting what is longer than the path MTU).
 * - An error pending on the socket comes back as an errno, counted by the owner. (ICMP answers
 *   to what was sent are not among them: Linux reports those only to a connected raw socket or
 *   one with IP_RECVERR, and this one is neither, like node:dgram's UDP sockets.) Nothing a peer
 *   sends makes this throw.
 *
 * Opening needs CAP_NET_RAW; without it, or without the addon, open() says so.
 */

import { DEFAULT_HEADROOM } from '../packet/packet.js';
import { loadNative, REC_HEADER, REC_TRUNCATED, RX_BUDGET, type NativeBinding, type RawIpNativePort } from './native.js';

/** Largest packet read whole: any IPv4 datagram once reassembled. */
export const RAW_MAX_PACKET = 65535;
/** One wake-up's buffer: room for recvmmsg to fill 32 largest-size slots at once. */
const RX_BYTES = 32 * (RAW_MAX_PACKET + REC_HEADER);
const TX_STAGING = 64 * 1024;

/** What the socket's owner is told. */
export interface RawIpHandler {
  /**
   * A packet's payload, in a Buffer of its own from `start` to the end (what precedes `start` is
   * spare headroom), and its outer header's fields: addresses as numbers, tos << 8 | ttl.
   */
  packet(buf: Buffer, start: number, src: number, dst: number, tosTtl: number): void;
  /** A packet that could not be used: longer than the socket reads whole, or a malformed IPv4 header. */
  bad(reason: string): void;
  /** An error pending on the socket (a negative errno). */
  error(errno: number): void;
}

/** The checks of an IPv4 header at the start of rec[at..at+len); the reason when it fails them. */
export function checkIpv4(b: Uint8Array, at: number, len: number): string | undefined {
  if (len < 20) return `short IP packet (${len} bytes)`;
  const v = b[at]! >>> 4;
  if (v !== 4) return `IP version ${v}`;
  const ihl = (b[at]! & 0x0f) * 4;
  const total = (b[at + 2]! << 8) | b[at + 3]!;
  if (ihl < 20 || ihl > len) return `IP header length ${ihl} in a ${len}-byte packet`;
  if (total < ihl || total > len) return `IP total length ${total} in a ${len}-byte packet`;
  return undefined;
}

export class RawIpSocket {
  private port: RawIpNativePort | undefined;
  private readonly rxBuf = Buffer.allocUnsafe(RX_BYTES);
  private txBuf = Buffer.allocUnsafe(TX_STAGING);
  private txLens = new Uint32Array(64);
  private txDsts = new Uint32Array(64);

  private constructor(private readonly binding: NativeBinding, port: RawIpNativePort, private readonly handler: RawIpHandler) {
    this.port = port;
    binding.start(port, this.rxBuf, RX_BUDGET, this.onRx);
  }

  /**
   * A socket for `protocol` bound to `localAddr` (0: every address), or why there is none: no
   * addon, an addon built before raw sockets, no CAP_NET_RAW, an address the host does not have.
   * `what` names the user of the socket in those messages ("gre port t0").
   */
  static open(what: string, protocol: number, localAddr: number, handler: RawIpHandler): RawIpSocket | string {
    const binding = loadNative();
    if (typeof binding === 'string') return `${what}: raw IP sockets need the native addon (build failed or no compiler): ${binding}`;
    if (binding.openRawIp === undefined || binding.sendTo === undefined) {
      return `${what}: the native addon was built before raw IP sockets existed: rebuild it with \`npm run build:native\``;
    }
    let port: RawIpNativePort;
    try {
      port = binding.openRawIp(protocol, localAddr, RAW_MAX_PACKET);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      switch (err.code) {
        case 'EPERM': case 'EACCES': return `${what} needs CAP_NET_RAW for a raw IP socket (run as root): ${err.message}`;
        case 'EADDRNOTAVAIL': return `${what}: local_ip ${numberToIp(localAddr)} is not an address of this host (${err.message})`;
        case 'EPROTONOSUPPORT': case 'ESOCKTNOSUPPORT': return `${what}: this kernel has no raw IPv4 sockets (${err.message})`;
        default: return `${what}: ${err.message}`;
      }
    }
    return new RawIpSocket(binding, port, handler);
  }

  get closed(): boolean {
    return this.port === undefined;
  }

  /**
   * Sends out[i] (a payload, no IP header) to dsts[i] for i < n; sent[i] says whether it went.
   * Returns how many went.
   */
  send(out: readonly Uint8Array[], dsts: ArrayLike<number>, n: number, sent: Uint8Array): number {
    sent.fill(0, 0, n);
    const port = this.port;
    if (port === undefined) return 0;
    let total = 0;
    for (let i = 0; i < n;) {
      // As many as fit the staging buffer (at least one: it grows for a big one).
      if (out[i]!.length > this.txBuf.length) this.txBuf = Buffer.allocUnsafe(out[i]!.length * 2);
      if (this.txLens.length < n - i) {
        this.txLens = new Uint32Array(n - i);
        this.txDsts = new Uint32Array(n - i);
      }
      let off = 0;
      let k = 0;
      while (i + k < n && off + out[i + k]!.length <= this.txBuf.length) {
        const b = out[i + k]!;
        this.txBuf.set(b, off);
        this.txLens[k] = b.length;
        this.txDsts[k] = dsts[i + k]!;
        off += b.length;
        k++;
      }
      const ok = this.binding.sendTo!(port, this.txBuf, this.txLens, k, this.txDsts);
      for (let j = 0; j < k; j++) sent[i + j] = this.txLens[j] !== 0 ? 1 : 0;
      total += ok;
      i += k;
      if (ok === 0) break; // the socket buffer is full: the rest would fail the same way
    }
    return total;
  }

  /** Stops receiving and closes the socket. Idempotent. */
  close(): void {
    if (this.port === undefined) return;
    this.binding.close(this.port);
    this.port = undefined;
  }

  private readonly onRx = (count: number, err: number): void => {
    const rx = this.rxBuf;
    let off = 0;
    for (let i = 0; i < count && this.port !== undefined; i++) {
      const len = rx.readUInt32LE(off);
      const flags = rx.readUInt16LE(off + 4);
      const at = off + REC_HEADER;
      off = at + len;
      if ((flags & REC_TRUNCATED) !== 0) {
        this.handler.bad(`IP packet longer than ${RAW_MAX_PACKET} bytes`);
        continue;
      }
      const bad = checkIpv4(rx, at, len);
      if (bad !== undefined) {
        this.handler.bad(bad);
        continue;
      }
      const ihl = (rx[at]! & 0x0f) * 4;
      const total = (rx[at + 2]! << 8) | rx[at + 3]!;
      // The payload gets a buffer of its own with headroom: the tunnel header after it becomes
      // more headroom once decoded, so the inner frame can grow in place.
      const plen = total - ihl;
      const payload = Buffer.allocUnsafe(DEFAULT_HEADROOM + plen);
      payload.fill(0, 0, DEFAULT_HEADROOM);
      rx.copy(payload, DEFAULT_HEADROOM, at + ihl, at + total);
      this.handler.packet(payload, DEFAULT_HEADROOM, rx.readUInt32BE(at + 12), rx.readUInt32BE(at + 16), (rx[at + 1]! << 8) | rx[at + 8]!);
    }
    if (err !== 0 && this.port !== undefined) this.handler.error(err);
  };
}

/** 0x0a000001 -> '10.0.0.1'. */
export function numberToIp(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}
