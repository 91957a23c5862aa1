/**
 * Datapath meters: token buckets, one per band, enforced on packets that run a `meter` action.
 *
 * Units. Every bucket counts in thousandths of the meter's unit so that one formula serves both:
 * a KBPS band's rate in kbit/s is bits per ms, a PKTPS band's rate in packets/s is
 * milli-packets per ms. Refill = elapsed ms x rate; a packet costs its length x 8 (bits) or 1000
 * (one packet). A meter without the KBPS flag counts packets (as OVS's userspace datapath does;
 * ofproto refuses such a meter anyway).
 *
 * Bucket size. With OFPMF_BURST and a non-zero burst, burst kbit (or packets); otherwise one
 * second of the rate (OVS uses the rate as the default burst, which is the same thing). Buckets
 * start full, so a new meter passes its burst at once.
 *
 * Which band applies (OpenFlow 1.3.5 §5.7.1: "the band with the highest configured rate that is
 * lower than the current measured rate"). On each packet every bucket is refilled; each band whose
 * bucket covers the packet is debited; among the bands whose bucket cannot cover it, the one with
 * the highest rate applies (the OVS rule). No band applies: the packet passes untouched.
 *
 * dscp_remark raises the drop precedence of an Assured Forwarding code point (RFC 2597: AFxy is
 * DSCP 8x + 2y, class x 1..4, drop precedence y 1..3): AFxy becomes AFx(min(3, y + precLevel)).
 * Other code points (best effort, class selectors, EF, anything unassigned) have no drop
 * precedence to raise and are left as they are; the band still counts the packet. The new DSCP is
 * written with setField(IP_DSCP), so the IPv4 header checksum stays right. A packet that is not
 * IP passes unchanged (and is counted by the band).
 *
 * A clock that goes backwards refills nothing (the meter waits for it to pass its last reading).
 */

import { OFPMF, OFPXMT } from '../../proto/constants.js';
import type { Packet, Offsets } from '../packet/packet.js';
import { setField } from '../packet/rewrite.js';
import type { MeterConfig, MeterStats } from './dpif.js';

interface Band {
  readonly drop: boolean;
  /** Refill per ms, in thousandths of the unit. */
  readonly rate: number;
  readonly capacity: number;
  readonly precLevel: number;
  tokens: number;
  packets: number;
  bytes: number;
}

const dscpScratch = new Uint8Array(1);

/** The DSCP of AFxy raised by `prec` drop-precedence levels; other code points unchanged. */
export function raiseDropPrecedence(dscp: number, prec: number): number {
  const cls = dscp >> 3;
  const drop = (dscp >> 1) & 3;
  if (cls < 1 || cls > 4 || drop === 0 || (dscp & 1) !== 0) return dscp;
  return (cls << 3) | (Math.min(3, drop + prec) << 1);
}

/** The DSCP of the IPv4 or IPv6 header at off.l3, or -1 when there is none. */
function readDscp(pkt: Packet, off: Offsets): number {
  const l3 = off.l3;
  if (l3 < pkt.start || l3 + 2 > pkt.end) return -1;
  const b = pkt.buf;
  const v = b[l3]! >> 4;
  if (v === 4) return b[l3 + 1]! >> 2;
  if (v === 6) return (((b[l3]! & 0x0f) << 4) | (b[l3 + 1]! >> 4)) >> 2;
  return -1;
}

export class DpMeter {
  readonly id: number;
  readonly config: MeterConfig;
  private readonly kbps: boolean;
  /** In configuration order (stats report them so). */
  private readonly bands: Band[];
  private last: number;
  packetsIn = 0;
  bytesIn = 0;
  /** Packets whose DSCP a dscp_remark band changed. */
  remarked = 0;

  constructor(config: MeterConfig, now: number) {
    this.id = config.id;
    this.config = config;
    this.kbps = (config.flags & OFPMF.KBPS) !== 0;
    const burstFlag = (config.flags & OFPMF.BURST) !== 0;
    this.bands = config.bands.map((b) => {
      const rate = Math.max(0, b.rate);
      const capacity = (burstFlag && b.burst > 0 ? b.burst : rate) * 1000;
      return { drop: b.type === 'drop', rate, capacity, precLevel: b.precLevel ?? 0, tokens: capacity, packets: 0, bytes: 0 };
    });
    this.last = now;
  }

  /** Meters one packet at time `now` (ms); false: a drop band applies and the packet must go. */
  apply(pkt: Packet, off: Offsets, now: number): boolean {
    const len = pkt.end - pkt.start;
    this.packetsIn++;
    this.bytesIn += len;
    const bands = this.bands;
    const elapsed = now - this.last;
    if (elapsed > 0) {
      this.last = now;
      for (let i = 0; i < bands.length; i++) {
        const b = bands[i]!;
        const t = b.tokens + elapsed * b.rate;
        b.tokens = t > b.capacity ? b.capacity : t;
      }
    }
    const cost = this.kbps ? len * 8 : 1000;
    let hit: Band | undefined;
    for (let i = 0; i < bands.length; i++) {
      const b = bands[i]!;
      if (b.tokens >= cost) b.tokens -= cost;
      else if (hit === undefined || b.rate > hit.rate) hit = b;
    }
    if (hit === undefined) return true;
    hit.packets++;
    hit.bytes += len;
    if (hit.drop) return false;
    const dscp = readDscp(pkt, off);
    if (dscp >= 0) {
      const next = raiseDropPrecedence(dscp, hit.precLevel);
      if (next !== dscp) {
        dscpScratch[0] = next;
        if (setField(pkt, off, OFPXMT.IP_DSCP, dscpScratch)) this.remarked++;
      }
    }
    return true;
  }

  stats(): MeterStats {
    return {
      packetsIn: BigInt(this.packetsIn),
      bytesIn: BigInt(this.bytesIn),
      bands: this.bands.map((b) => ({ packets: BigInt(b.packets), bytes: BigInt(b.bytes) })),
    };
  }
}
