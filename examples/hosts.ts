/**
 * Simulated hosts on dummy ports: each has a MAC and an IPv4 address, answers ARP requests and
 * ICMP echo requests for its address, and can ping another host (ARP first when it does not know
 * the MAC). What the switch sends out of a dummy port is what the host receives, and what the
 * host sends is injected into the port — the same path frames take on a real wire.
 */

import { buildPacket } from '../src/packet/build.js';
import { extract } from '../src/packet/extract.js';
import { K, newKey } from '../src/packet/key.js';
import { Offsets } from '../src/packet/packet.js';
import type { DummyNetdev } from '../src/netdev/dummy.js';

const ipText = (w: number): string => [w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff].join('.');
const macText = (hi: number, lo: number): string =>
  [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff].map((x) => x.toString(16).padStart(2, '0')).join(':');

export class SimHost {
  private readonly arp = new Map<string, string>();
  private readonly waiting = new Map<string, () => void>();
  private seq = 0;

  constructor(readonly name: string, readonly mac: string, readonly ip: string, private readonly port: DummyNetdev, private readonly log: (line: string) => void) {
    port.tx$.subscribe((frame) => this.onFrame(frame));
  }

  /** Pings `ip` once; resolves with the round-trip time in ms, rejects after `timeoutMs`. */
  async ping(ip: string, timeoutMs = 2000): Promise<number> {
    const t0 = performance.now();
    let dstMac = this.arp.get(ip);
    if (dstMac === undefined) {
      this.log(`${this.name}: who has ${ip}? (ARP request, broadcast)`);
      await this.wait(`arp ${ip}`, timeoutMs, () => this.send(buildPacket({
        eth: { src: this.mac, dst: 'ff:ff:ff:ff:ff:ff' }, arp: { op: 1, sha: this.mac, spa: this.ip, tha: '00:00:00:00:00:00', tpa: ip }, minLength: 60,
      })));
      dstMac = this.arp.get(ip)!;
    }
    const seq = ++this.seq;
    const rest = Uint8Array.of(0x12, 0x34, seq >> 8, seq & 0xff);
    await this.wait(`echo ${ip} ${seq}`, timeoutMs, () => this.send(buildPacket({
      eth: { src: this.mac, dst: dstMac }, ipv4: { src: this.ip, dst: ip }, icmp: { type: 8, rest }, minLength: 60,
    })));
    return performance.now() - t0;
  }

  private send(frame: Uint8Array): void {
    this.port.receive(frame);
  }

  private wait(key: string, timeoutMs: number, start: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error(`${this.name}: no answer for ${key} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(key, () => {
        clearTimeout(timer);
        resolve();
      });
      start();
    });
  }

  private onFrame(frame: Uint8Array): void {
    const key = newKey();
    extract(frame, 0, frame.length, key, new Offsets());
    const dstMac = macText(key[K.ETH_DST]!, key[K.ETH_DST + 1]!);
    if (dstMac !== this.mac && dstMac !== 'ff:ff:ff:ff:ff:ff') return; // not for us (flooded)
    const srcMac = macText(key[K.ETH_SRC]!, key[K.ETH_SRC + 1]!);
    if (key[K.ETH_TYPE] === 0x0806) {
      const spa = ipText(key[K.ARP_SPA]!);
      const tpa = ipText(key[K.ARP_TPA]!);
      this.arp.set(spa, srcMac);
      if (key[K.ARP_OP] === 1 && tpa === this.ip) {
        this.log(`${this.name}: ${tpa} is at ${this.mac} (ARP reply to ${spa})`);
        this.send(buildPacket({ eth: { src: this.mac, dst: srcMac }, arp: { op: 2, sha: this.mac, spa: this.ip, tha: srcMac, tpa: spa }, minLength: 60 }));
      } else if (key[K.ARP_OP] === 2) {
        this.waiting.get(`arp ${spa}`)?.();
      }
      return;
    }
    if (key[K.ETH_TYPE] !== 0x0800 || (key[K.NW]! & 0xff) !== 1) return;
    const src = ipText(key[K.IPV4_SRC]!);
    const dst = ipText(key[K.IPV4_DST]!);
    if (dst !== this.ip) return;
    const l4 = 14 + (frame[14]! & 0x0f) * 4;
    const type = frame[l4]!;
    const seq = (frame[l4 + 6]! << 8) | frame[l4 + 7]!;
    if (type === 8) {
      this.send(buildPacket({ eth: { src: this.mac, dst: srcMac }, ipv4: { src: this.ip, dst: src }, icmp: { type: 0, rest: frame.slice(l4 + 4, l4 + 8) }, minLength: 60 }));
    } else if (type === 0) {
      this.waiting.get(`echo ${src} ${seq}`)?.();
    }
  }
}
