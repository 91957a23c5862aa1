/**
 * Patch ports: two netdevs joined by a wire in memory, the way OVS links two bridges. What one
 * sends, the other receives.
 *
 * Delivery goes through the peer's RxQueue, so it keeps the Netdev rules: send() copies the
 * frames before it returns and the peer's datapath gets them later from the event loop, in batches
 * of at most RX_BATCH. Never synchronously: forwarding on one bridge must not re-enter the other
 * bridge's datapath (or its own, when a pair loops back) while it is still running.
 *
 * A frame crosses without its tunnel metadata (Packet.tunnel), as in Open vSwitch, whose patch
 * ports clear the tunnel fields (with metadata and registers, which never leave a pipeline here):
 * the peer bridge sees a packet that came from no tunnel.
 *
 * A patch port is up while it is connected to a peer that is open; sends without one are counted
 * as txDropped. Frames that reach a peer with no receiver are the peer's rxDropped, as on a wire.
 */

import { Subject, type Observable } from 'rxjs';
import type { Packet } from '../packet/packet.js';
import { zeroStats, type Netdev, type NetdevStats, type NetdevStatus, type Receiver } from './netdev.js';
import { RxQueue, hwAddrFromName } from './dummy.js';

export interface PatchNetdevOptions {
  readonly hwAddr?: Uint8Array;
  readonly mtu?: number;
}

export class PatchNetdev implements Netdev {
  readonly type = 'patch';
  readonly name: string;
  readonly hwAddr: Uint8Array;
  readonly mtu: number;

  private other: PatchNetdev | undefined;
  private closed = false;
  private readonly counters: NetdevStats = zeroStats();
  private readonly rxq: RxQueue;
  private readonly statusSubject = new Subject<NetdevStatus>();
  readonly status$: Observable<NetdevStatus> = this.statusSubject.asObservable();

  constructor(name: string, opts: PatchNetdevOptions = {}) {
    this.name = name;
    this.mtu = opts.mtu ?? 1500;
    this.hwAddr = opts.hwAddr !== undefined ? Uint8Array.from(opts.hwAddr) : hwAddrFromName(name);
    this.rxq = new RxQueue(this.counters);
  }

  get peer(): PatchNetdev | undefined {
    return this.other;
  }

  get up(): boolean {
    return !this.closed && this.other !== undefined;
  }

  /** Joins this port and `peer` (both ways), leaving any earlier peers of either. */
  connect(peer: PatchNetdev): void {
    if (peer === this) throw new Error(`patch ${this.name}: cannot be its own peer`);
    if (this.closed || peer.closed) throw new Error(`patch ${this.name}: cannot connect a closed port`);
    if (this.other === peer) return;
    this.disconnect();
    peer.disconnect();
    this.other = peer;
    peer.other = this;
    this.statusSubject.next({ up: true });
    peer.statusSubject.next({ up: true });
  }

  /** Cuts the wire (both ends go down). */
  disconnect(): void {
    const peer = this.other;
    if (peer === undefined) return;
    this.other = undefined;
    peer.other = undefined;
    if (!this.closed) this.statusSubject.next({ up: false });
    if (!peer.closed) peer.statusSubject.next({ up: false });
  }

  setReceiver(rx: Receiver | undefined): void {
    this.rxq.setReceiver(rx);
  }

  send(frames: readonly Packet[]): number {
    const peer = this.other;
    if (this.closed || peer === undefined) {
      this.counters.txDropped += BigInt(frames.length);
      return 0;
    }
    for (const p of frames) {
      const bytes = p.buf.subarray(p.start, p.end);
      this.counters.txPackets++;
      this.counters.txBytes += BigInt(bytes.length);
      peer.rxq.push(bytes);
    }
    return frames.length;
  }

  stats(): NetdevStats {
    return { ...this.counters };
  }

  /** Disconnects from the peer (which goes down), drops what is queued. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.disconnect();
    this.closed = true;
    this.rxq.close();
    this.statusSubject.complete();
  }
}

/** Two patch ports wired to each other. */
export function createPatchPair(nameA: string, nameB: string): [PatchNetdev, PatchNetdev] {
  const a = new PatchNetdev(nameA);
  const b = new PatchNetdev(nameB);
  a.connect(b);
  return [a, b];
}
