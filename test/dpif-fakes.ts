/**
 * Test doubles for the dpif tests: a netdev that records what the datapath sends (copies of the
 * bytes, plus the Packet objects themselves so ownership can be checked) and hands out the
 * receiver the datapath installed; and small helpers to build keys, masks and frames.
 * Written here (not the dummy netdev) so the datapath tests depend on nothing else in progress.
 */

import { BehaviorSubject, type Observable } from 'rxjs';
import type { Netdev, NetdevStats, NetdevStatus, Receiver } from '../src/netdev/netdev.js';
import { zeroStats } from '../src/netdev/netdev.js';
import { Packet, Offsets } from '../src/packet/packet.js';
import { K, newKey, type FlowKey, type FlowMask } from '../src/packet/key.js';
import { extract } from '../src/packet/extract.js';
import { buildPacket, type PacketDesc } from '../src/packet/build.js';
import { UserspaceDatapath, type UserspaceDatapathOptions } from '../src/dpif/userspace.js';

export class FakeNetdev implements Netdev {
  readonly type = 'fake';
  readonly hwAddr = new Uint8Array(6);
  readonly mtu = 1500;
  readonly up = true;
  readonly status$: Observable<NetdevStatus> = new BehaviorSubject<NetdevStatus>({ up: true });
  rx: Receiver | undefined;
  /** Bytes of every frame sent, in order. */
  readonly sent: Buffer[] = [];
  /** The Packet objects handed to send. */
  readonly sentPackets: Packet[] = [];
  /** Number of send() calls. */
  sends = 0;
  constructor(readonly name: string) {}
  setReceiver(rx: Receiver | undefined): void {
    this.rx = rx;
  }
  send(frames: readonly Packet[]): number {
    this.sends++;
    for (const f of frames) {
      this.sent.push(Buffer.from(f.bytes()));
      this.sentPackets.push(f);
    }
    return frames.length;
  }
  stats(): NetdevStats {
    return zeroStats();
  }
  close(): void {}
  /** Delivers frames as one batch (fresh packets), as a netdev would. */
  receive(...frames: Uint8Array[]): void {
    if (this.rx === undefined) throw new Error(`${this.name}: no receiver`);
    this.rx(frames.map((f) => Packet.from(f)));
  }
}

/** A datapath with fake ports p1..pN numbered 1..N. */
export function makeDp(nPorts: number, opts: UserspaceDatapathOptions = {}): { dp: UserspaceDatapath; ports: FakeNetdev[] } {
  const dp = new UserspaceDatapath({ name: 'test', ...opts });
  const ports: FakeNetdev[] = [];
  for (let i = 1; i <= nPorts; i++) {
    const nd = new FakeNetdev(`p${i}`);
    const r = dp.portAdd(nd);
    if (r !== i) throw new Error(`port ${i}: ${String(r)}`);
    ports.push(nd);
  }
  return { dp, ports };
}

/** Key and mask from word settings: [word, value, mask (default all ones)]. */
export function match(inPort: number, fields: ReadonlyArray<[number, number, number?]> = []): { key: FlowKey; mask: FlowMask } {
  const key = newKey();
  const mask = newKey();
  key[K.IN_PORT] = inPort;
  mask[K.IN_PORT] = 0xffffffff;
  for (const [w, v, m] of fields) {
    const mm = (m ?? 0xffffffff) >>> 0;
    key[w] = (v & mm) >>> 0;
    mask[w] = mm;
  }
  return { key, mask };
}

export function udp(src = '10.0.0.1', dst = '10.0.0.2', sport = 1000, dport = 53, extra: PacketDesc = {}): Buffer {
  return buildPacket({ ipv4: { src, dst }, udp: { src: sport, dst: dport }, payload: new Uint8Array(8), ...extra });
}

/** The key extraction gives for a frame (metadata zero apart from in_port). */
export function keyOf(frame: Uint8Array, inPort = 0): FlowKey {
  const k = newKey();
  k[K.IN_PORT] = k[K.IN_PHY_PORT] = inPort;
  extract(frame, 0, frame.length, k, new Offsets());
  return k;
}

export const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
