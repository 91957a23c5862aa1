/**
 * The meter table (OpenFlow 1.3.5 §5.7, METER_MOD §7.3.4.4, meter multiparts §7.3.5.12–14).
 * Enforcement (token buckets, drop, DSCP remark) belongs to the datapath; this module keeps the
 * configuration, validates changes and holds the counters the datapath credits.
 *
 * Sources: OF = the OpenFlow 1.3.5 specification; OVS = Open vSwitch: lib/ofp-meter.c
 * (ofputil_decode_meter_mod, ofputil_pull_bands), ofproto/ofproto.c (handle_meter_mod,
 * handle_meter_request), ofproto/ofproto-dpif.c meter_set (datapath errno -> OpenFlow error),
 * lib/dpif-netdev.c and lib/dpif-netlink.c meter_set.
 *
 * Order of checks (which error wins):
 *   1. command not ADD/MODIFY/DELETE                      METER_MOD_FAILED/BAD_COMMAND (OF, OVS)
 *   DELETE stops here and never fails: OFPM_ALL deletes every meter; a missing id is no error
 *   (OVS handle_delete_meter; OF names no error for it). `deleted` lists the ids removed; the
 *   switch deletes the flows that use them, as OVS does.
 *   2. meter id 0, above OFPM_MAX, or OFPM_ALL             INVALID_METER (OF, OVS). The virtual
 *      meters OFPM_SLOWPATH and OFPM_CONTROLLER are accepted (OVS handle_meter_mod lets exactly
 *      these two through; OF defines them as meters "for slow datapath" and "for controller
 *      connection"). The switch may use the CONTROLLER meter to rate-limit packet-ins.
 *   3. ADD of an existing id                               METER_EXISTS  (OF, OVS)
 *      MODIFY of a missing id                              UNKNOWN_METER (OF, OVS)
 *   4. ADD when the table holds maxMeters meters           OUT_OF_METERS (OF). OVS's userspace
 *      datapath limits the id instead (EFBIG -> OUT_OF_METERS); we limit the count, so any id up
 *      to OFPM_MAX is usable. max_meter in the features reply is that count.
 *   5. flags: a bit other than KBPS/PKTPS/BURST/STATS      BAD_FLAGS (OVS: datapath EBADF)
 *      both KBPS and PKTPS                                 BAD_FLAGS (OVS ofputil_decode_meter_mod)
 *      neither KBPS nor PKTPS                              BAD_FLAGS. OVS accepts this and meters
 *      in packets per second; OF gives no default unit, and we refuse to guess.
 *   6. more than maxBands bands                            OUT_OF_BANDS (OF, OVS)
 *   7. per band, in order:
 *      - not DROP or DSCP_REMARK (EXPERIMENTER included)   BAD_BAND (OVS: ofputil_pull_bands and
 *        the datapaths' ENODEV -> OFPMMFC_BAD_BAND). OVS supports DROP only; DSCP_REMARK is one
 *        of the places we go beyond it (DESIGN §5).
 *      - rate 0                                            BAD_RATE (OVS: dpif-netdev EBADRQC
 *        "rate must be non-zero" -> OFPMMFC_BAD_RATE)
 *      - BURST set and burst_size 0                        BAD_BURST: a bucket of size zero can
 *        pass nothing. Without BURST the burst_size is ignored (OF: "only used if flags has
 *        OFPMF_BURST"), so a leftover value there is no error. OVS never sends BAD_BURST.
 *      - DSCP_REMARK with prec_level > 63                  BAD_BAND_VALUE: the DSCP field has six
 *        bits, so a larger increase of drop precedence cannot be expressed.
 *   A meter with no bands is accepted (OVS accepts it; it meters nothing).
 *
 * Counters. The datapath credits packets entering a meter (credit) and packets a band applied to
 * (creditBand); until then everything is zero. Statistics are kept whether or not the STATS flag
 * is set (collecting is harmless). MODIFY resets the counters (the bands they counted are gone)
 * and keeps the creation time, so duration counts from the ADD, as for groups. flow_count comes
 * from the switch (setFlowCounter).
 */

import type { ErrorPair } from '../../proto/schema.js';
import {
  OFPE, OFPM, OFPMBT, OFPMC, OFPMF,
  type MeterBand, type MeterConfig, type MeterMod, type MeterStats, type MultipartReplyMeterFeatures,
} from '../openflow/index.js';
import { duration } from './flow-table.js';

const MM = OFPE.METER_MOD_FAILED!;

export interface MeterEnv {
  /** ms, monotonic */
  now(): number;
}

export interface MeterLimits {
  /** Meters in the table (max_meter); default 65536. */
  readonly maxMeters?: number;
  /** Bands per meter (max_bands, at most 255); default 8. */
  readonly maxBands?: number;
}

export interface Meter {
  readonly id: number;
  readonly flags: number;
  readonly bands: readonly MeterBand[];
  readonly packetInCount: bigint;
  readonly byteInCount: bigint;
  readonly bandCounters: ReadonlyArray<{ readonly packetCount: bigint; readonly byteCount: bigint }>;
  readonly createdAt: number;
}

interface Entry {
  readonly id: number;
  flags: number;
  bands: readonly MeterBand[];
  packetInCount: bigint;
  byteInCount: bigint;
  bandCounters: Array<{ packetCount: bigint; byteCount: bigint }>;
  readonly createdAt: number;
}

export type MeterFeatures = Pick<MultipartReplyMeterFeatures, 'maxMeter' | 'bandTypes' | 'capabilities' | 'maxBands' | 'maxColor'>;

const KNOWN_FLAGS = OFPMF.KBPS | OFPMF.PKTPS | OFPMF.BURST | OFPMF.STATS;
const NO_DELETE = Object.freeze({ deleted: Object.freeze([]) as readonly number[] });

export class MeterTable {
  private readonly meters = new Map<number, Entry>();
  private readonly maxMeters: number;
  private readonly maxBands: number;
  private flowCounter: (meterId: number) => number = () => 0;

  constructor(private readonly env: MeterEnv, limits: MeterLimits = {}) {
    this.maxMeters = limits.maxMeters ?? 65536;
    this.maxBands = Math.min(255, limits.maxBands ?? 8);
  }

  /** The switch's count of flow entries whose meter instruction names a meter (flow_count). */
  setFlowCounter(fn: (meterId: number) => number): void {
    this.flowCounter = fn;
  }

  exists(id: number): boolean {
    return this.meters.has(id);
  }

  get size(): number {
    return this.meters.size;
  }

  get(id: number): Meter | undefined {
    const e = this.meters.get(id);
    if (e === undefined) return undefined;
    return {
      id: e.id, flags: e.flags, bands: e.bands, packetInCount: e.packetInCount, byteInCount: e.byteInCount,
      bandCounters: e.bandCounters.map((c) => ({ ...c })), createdAt: e.createdAt,
    };
  }

  applyMeterMod(mm: MeterMod): { readonly deleted: readonly number[] } | ErrorPair {
    const cmd = mm.command;
    if (cmd === OFPMC.DELETE) return { deleted: this.delete(mm.meterId >>> 0) };
    if (cmd !== OFPMC.ADD && cmd !== OFPMC.MODIFY) return MM.BAD_COMMAND!;
    const id = mm.meterId >>> 0;
    if (id === 0 || (id > OFPM.MAX && id !== OFPM.SLOWPATH && id !== OFPM.CONTROLLER)) return MM.INVALID_METER!;
    const old = this.meters.get(id);
    if (cmd === OFPMC.ADD && old !== undefined) return MM.METER_EXISTS!;
    if (cmd === OFPMC.MODIFY && old === undefined) return MM.UNKNOWN_METER!;
    if (old === undefined && this.meters.size >= this.maxMeters) return MM.OUT_OF_METERS!;
    const err = this.checkConfig(mm.flags, mm.bands);
    if (err !== undefined) return err;

    const counters = mm.bands.map(() => ({ packetCount: 0n, byteCount: 0n }));
    if (old === undefined) {
      this.meters.set(id, {
        id, flags: mm.flags, bands: mm.bands, packetInCount: 0n, byteInCount: 0n, bandCounters: counters, createdAt: this.env.now(),
      });
    } else {
      old.flags = mm.flags;
      old.bands = mm.bands;
      old.packetInCount = 0n;
      old.byteInCount = 0n;
      old.bandCounters = counters;
    }
    return NO_DELETE;
  }

  /** Packets that entered meter `meterId`. Returns false when it does not exist. */
  credit(meterId: number, packets: bigint, bytes: bigint): boolean {
    const e = this.meters.get(meterId);
    if (e === undefined) return false;
    e.packetInCount += packets;
    e.byteInCount += bytes;
    return true;
  }

  /** Packets band `bandIndex` of meter `meterId` applied to (dropped or remarked). */
  creditBand(meterId: number, bandIndex: number, packets: bigint, bytes: bigint): boolean {
    const c = this.meters.get(meterId)?.bandCounters[bandIndex];
    if (c === undefined) return false;
    c.packetCount += packets;
    c.byteCount += bytes;
    return true;
  }

  /**
   * METER_CONFIG for one meter or OFPM_ALL. A missing meter is METER_MOD_FAILED/UNKNOWN_METER,
   * as OVS answers (handle_meter_request).
   */
  configStats(meterId: number): MeterConfig[] | ErrorPair {
    const list = this.select(meterId);
    if (list === undefined) return MM.UNKNOWN_METER!;
    return list.map((e) => ({ flags: e.flags, meterId: e.id, bands: e.bands }));
  }

  /** METER stats for one meter or OFPM_ALL; a missing meter is UNKNOWN_METER (OVS). */
  stats(meterId: number): MeterStats[] | ErrorPair {
    const list = this.select(meterId);
    if (list === undefined) return MM.UNKNOWN_METER!;
    const now = this.env.now();
    return list.map((e) => {
      const d = duration(e.createdAt, now);
      return {
        meterId: e.id, flowCount: this.flowCounter(e.id), packetInCount: e.packetInCount, byteInCount: e.byteInCount,
        durationSec: d.sec, durationNsec: d.nsec,
        bandStats: e.bandCounters.map((c) => ({ packetBandCount: c.packetCount, byteBandCount: c.byteCount })),
      };
    });
  }

  /** METER_FEATURES: drop and DSCP remark bands, all four flags, no colour-aware metering. */
  features(): MeterFeatures {
    return {
      maxMeter: this.maxMeters,
      bandTypes: (1 << OFPMBT.DROP) | (1 << OFPMBT.DSCP_REMARK),
      capabilities: KNOWN_FLAGS,
      maxBands: this.maxBands,
      maxColor: 0,
    };
  }

  // -------------------------------------------------------------------------------------------

  private select(meterId: number): Entry[] | undefined {
    if (meterId >>> 0 === OFPM.ALL) return [...this.meters.values()].sort((a, b) => a.id - b.id);
    const e = this.meters.get(meterId >>> 0);
    return e === undefined ? undefined : [e];
  }

  private delete(meterId: number): number[] {
    const ids = meterId === OFPM.ALL ? [...this.meters.keys()].sort((a, b) => a - b) : this.meters.has(meterId) ? [meterId] : [];
    for (const id of ids) this.meters.delete(id);
    return ids;
  }

  /** Steps 5–7 of the header. */
  private checkConfig(flags: number, bands: readonly MeterBand[]): ErrorPair | undefined {
    if ((flags & ~KNOWN_FLAGS) !== 0) return MM.BAD_FLAGS!;
    const units = flags & (OFPMF.KBPS | OFPMF.PKTPS);
    if (units === 0 || units === (OFPMF.KBPS | OFPMF.PKTPS)) return MM.BAD_FLAGS!;
    if (bands.length > this.maxBands) return MM.OUT_OF_BANDS!;
    for (const b of bands) {
      if (b.type !== OFPMBT.DROP && b.type !== OFPMBT.DSCP_REMARK) return MM.BAD_BAND!;
      if (b.rate === 0) return MM.BAD_RATE!;
      if ((flags & OFPMF.BURST) !== 0 && b.burstSize === 0) return MM.BAD_BURST!;
      if (b.type === OFPMBT.DSCP_REMARK && b.precLevel > 63) return MM.BAD_BAND_VALUE!;
    }
    return undefined;
  }
}
