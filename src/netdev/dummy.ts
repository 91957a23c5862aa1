/**
 * The dummy netdev: a port that lives in memory, for tests, demos and `ofswitch ctl
 * netdev-dummy/receive`. Frames "arrive" when someone calls receive() (or from an rx_pcap file
 * when the datapath starts listening); frames the datapath sends are kept (the `sent` ring),
 * emitted on tx$, and appended to a tx_pcap file that tcpdump or tshark can read. It is what OVS's
 * netdev-dummy is to its test suite: the whole switch runs unchanged on top of it.
 *
 * Also here: RxQueue, the receive path the in-memory providers (dummy, patch) share. It keeps the
 * Netdev rules: frames handed in are copied into fresh Packets right away (the caller may reuse
 * its buffers), and delivered later from the event loop, at most RX_BATCH per call, one batch per
 * turn of the loop so that a flood of injected frames cannot starve controller connections.
 *
 * Link state: a dummy port is up until setUp(false). A down port neither receives (injected frames
 * are counted as rxDropped, as a NIC without carrier would) nor sends (txDropped).
 */

import { createHash } from 'node:crypto';
import { Subject, type Observable } from 'rxjs';
import { Packet } from '../packet/packet.js';
import { RX_BATCH, zeroStats, type Netdev, type NetdevStats, type NetdevStatus, type Receiver } from './netdev.js';
import { PcapWriter, readPcap } from './pcap.js';

/** Frames waiting for the receiver beyond this are dropped (rxDropped): memory stays bounded. */
export const RX_QUEUE_LIMIT = 65536;
/** Shortest frame accepted: an Ethernet header. */
export const MIN_FRAME = 14;
/** Longest frame accepted (the largest IPv4 datagram's worth; no port carries more). */
export const MAX_FRAME = 65535;
/** Frames the dummy remembers in `sent` unless told otherwise. */
export const SENT_RING = 1024;

/**
 * A bounded queue of received packets that delivers batches to the receiver from setImmediate.
 * Counts rxPackets/rxBytes when a batch is delivered, rxDropped for frames that found no receiver
 * or no room, rxErrors for frames of impossible length.
 */
export class RxQueue {
  private queue: Packet[] = [];
  private head = 0;
  private receiver: Receiver | undefined;
  private scheduled: NodeJS.Immediate | undefined;
  private closed = false;

  constructor(
    private readonly counters: NetdevStats,
    private readonly limit = RX_QUEUE_LIMIT,
  ) {}

  get pending(): number {
    return this.queue.length - this.head;
  }

  get hasReceiver(): boolean {
    return this.receiver !== undefined;
  }

  setReceiver(rx: Receiver | undefined): void {
    if (this.closed) return;
    this.receiver = rx;
    if (rx === undefined) this.dropAll();
    else this.schedule();
  }

  /** Whether a packet pushed now would be queued (a receiver, room, not closed). */
  accepts(): boolean {
    return !this.closed && this.receiver !== undefined && this.pending < this.limit;
  }

  /** Queues a copy of `frame`; false when it was dropped (and counted). */
  push(frame: Uint8Array): boolean {
    if (frame.length < MIN_FRAME || frame.length > MAX_FRAME) {
      this.counters.rxErrors++;
      return false;
    }
    return this.pushPacket(Packet.from(frame));
  }

  /** Queues `pkt` itself (the caller hands it over); false when it was dropped (and counted). */
  pushPacket(pkt: Packet): boolean {
    if (!this.accepts()) {
      this.counters.rxDropped++;
      return false;
    }
    this.queue.push(pkt);
    this.schedule();
    return true;
  }

  /** Stops delivery for good; what is still queued is dropped (and counted). */
  close(): void {
    if (this.closed) return;
    this.dropAll();
    this.receiver = undefined;
    this.closed = true;
  }

  private dropAll(): void {
    this.counters.rxDropped += BigInt(this.pending);
    this.queue = [];
    this.head = 0;
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
    this.scheduled = undefined;
  }

  private schedule(): void {
    if (this.scheduled === undefined && this.pending > 0 && this.receiver !== undefined) {
      this.scheduled = setImmediate(this.deliver);
    }
  }

  private readonly deliver = (): void => {
    this.scheduled = undefined;
    const rx = this.receiver;
    if (rx === undefined || this.pending === 0) return;
    const end = Math.min(this.queue.length, this.head + RX_BATCH);
    const batch = this.queue.slice(this.head, end);
    if (end === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else {
      this.head = end;
      // Drop the delivered prefix now and then, so a long backlog does not pin its packets.
      if (this.head >= 4096 && this.head * 2 >= this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
    }
    let bytes = 0;
    for (const p of batch) bytes += p.length;
    this.counters.rxPackets += BigInt(batch.length);
    this.counters.rxBytes += BigInt(bytes);
    // The next batch is scheduled before this one is handed over, so a receiver that throws
    // (a bug upstream) cannot strand the rest of the queue.
    this.schedule();
    rx(batch);
  };
}

/**
 * A stable, locally administered unicast Ethernet address for a port name: 02 followed by five
 * bytes of the name's SHA-1 (02: the local bit set, the multicast bit clear, and easy to spot as
 * ours). The same name gets the same address in every run, so expected outputs do not change.
 */
export function hwAddrFromName(name: string): Uint8Array {
  const h = createHash('sha1').update(name).digest();
  const mac = Uint8Array.from(h.subarray(0, 6));
  mac[0] = 0x02;
  return mac;
}

export interface DummyNetdevOptions {
  /** A capture whose frames are received once, when the datapath first sets its receiver. */
  readonly rxPcap?: string;
  /** A capture every sent frame is appended to. */
  readonly txPcap?: string;
  readonly hwAddr?: Uint8Array;
  readonly mtu?: number;
  /** How many sent frames `sent` remembers (0: none). */
  readonly sentRing?: number;
}

export class DummyNetdev implements Netdev {
  readonly type = 'dummy';
  readonly name: string;
  readonly hwAddr: Uint8Array;
  readonly mtu: number;

  private linkUp = true;
  private closed = false;
  private readonly counters: NetdevStats = zeroStats();
  private readonly rxq: RxQueue;
  private rxPending: Uint8Array[] | undefined;
  private readonly writer: PcapWriter | undefined;
  private readonly statusSubject = new Subject<NetdevStatus>();
  private readonly txSubject = new Subject<Uint8Array>();
  private readonly ring: Uint8Array[] = [];
  private ringNext = 0;
  private readonly ringSize: number;

  readonly status$: Observable<NetdevStatus> = this.statusSubject.asObservable();
  /** A copy of every frame sent, as it is sent (for tests). */
  readonly tx$: Observable<Uint8Array> = this.txSubject.asObservable();

  /**
   * Throws an Error naming the file when rx_pcap cannot be read or tx_pcap cannot be opened: both
   * are configuration, reported when the port is added. DummyNetdev.open returns the message
   * instead.
   */
  constructor(name: string, opts: DummyNetdevOptions = {}) {
    this.name = name;
    this.mtu = opts.mtu ?? 1500;
    if (opts.hwAddr !== undefined && opts.hwAddr.length !== 6) throw new Error(`${name}: hwAddr must be 6 bytes, not ${opts.hwAddr.length}`);
    this.hwAddr = opts.hwAddr !== undefined ? Uint8Array.from(opts.hwAddr) : hwAddrFromName(name);
    this.ringSize = opts.sentRing ?? SENT_RING;
    this.rxq = new RxQueue(this.counters);
    if (opts.rxPcap !== undefined) {
      const r = readPcap(opts.rxPcap);
      if (typeof r === 'string') throw new Error(`rx_pcap ${r}`);
      this.rxPending = r.frames;
    }
    if (opts.txPcap !== undefined) {
      const w = PcapWriter.open(opts.txPcap);
      if (typeof w === 'string') throw new Error(`tx_pcap ${w}`);
      this.writer = w;
    }
  }

  /** A dummy port, or the reason its options are wrong (naming the file). */
  static open(name: string, opts: DummyNetdevOptions = {}): DummyNetdev | string {
    try {
      return new DummyNetdev(name, opts);
    } catch (e) {
      return (e as Error).message;
    }
  }

  get up(): boolean {
    return this.linkUp && !this.closed;
  }

  setReceiver(rx: Receiver | undefined): void {
    this.rxq.setReceiver(rx);
    if (rx !== undefined && this.rxPending !== undefined) {
      const frames = this.rxPending;
      this.rxPending = undefined;
      this.receive(frames);
    }
  }

  /**
   * Frames arriving on the port (copied now, delivered from the event loop). Returns how many
   * were queued; the others are counted (rxErrors for bad lengths, rxDropped otherwise).
   */
  receive(frames: Uint8Array | readonly Uint8Array[]): number {
    const list = frames instanceof Uint8Array ? [frames] : frames;
    let queued = 0;
    for (const f of list) {
      if (!this.up && f.length >= MIN_FRAME && f.length <= MAX_FRAME) this.counters.rxDropped++;
      else if (this.rxq.push(f)) queued++;
    }
    return queued;
  }

  send(frames: readonly Packet[]): number {
    if (!this.up) {
      this.counters.txDropped += BigInt(frames.length);
      return 0;
    }
    let sent = 0;
    const tap = this.txSubject.observed;
    for (const p of frames) {
      const bytes = p.buf.subarray(p.start, p.end);
      if (this.writer !== undefined && !this.writer.write(bytes)) {
        this.counters.txErrors++;
        continue;
      }
      sent++;
      this.counters.txPackets++;
      this.counters.txBytes += BigInt(bytes.length);
      if (this.ringSize > 0 || tap) {
        const copy = Uint8Array.from(bytes);
        if (this.ringSize > 0) this.remember(copy);
        if (tap) this.txSubject.next(copy);
      }
    }
    return sent;
  }

  /** The last frames sent (up to the ring's size), oldest first. */
  get sent(): Uint8Array[] {
    return this.ring.length < this.ringSize ? this.ring.slice() : [...this.ring.slice(this.ringNext), ...this.ring.slice(0, this.ringNext)];
  }

  clearSent(): void {
    this.ring.length = 0;
    this.ringNext = 0;
  }

  private remember(frame: Uint8Array): void {
    if (this.ring.length < this.ringSize) {
      this.ring.push(frame);
      return;
    }
    this.ring[this.ringNext] = frame;
    this.ringNext = (this.ringNext + 1) % this.ringSize;
  }

  /** Sets the carrier; status$ hears of changes only. */
  setUp(up: boolean): void {
    if (this.closed || up === this.linkUp) return;
    this.linkUp = up;
    this.statusSubject.next({ up });
  }

  stats(): NetdevStats {
    return { ...this.counters };
  }

  /** Stops delivery (queued frames are dropped), closes tx_pcap, completes the streams. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.rxPending = undefined;
    this.rxq.close();
    this.writer?.close();
    this.statusSubject.complete();
    this.txSubject.complete();
  }
}
