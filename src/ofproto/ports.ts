/**
 * The OpenFlow port table of one bridge: port numbers, names, hardware addresses, the
 * config/state/feature words of ofp_port, PORT_MOD, PORT_STATUS events and port statistics.
 *
 * - Numbers: a port gets the number it asks for (1..OFPP_MAX) when that is free, else the lowest
 *   free number from 1. The LOCAL port (OFPP_LOCAL) always exists and carries the bridge's name,
 *   as in OVS; it cannot be deleted.
 * - Hardware addresses are locally administered unicast (first octet 0x02…), derived from the
 *   name by a hash, so a port keeps its address across restarts and two switches started with the
 *   same ports describe them identically.
 * - Every add, delete and change of config/state/advertised goes out on `status$` as a
 *   PORT_STATUS-shaped event (reason OFPPR_ADD/DELETE/MODIFY with the port as it is afterwards,
 *   or as it was for DELETE); the switch sends them to the connections whose async config wants
 *   them.
 * - PORT_MOD (OpenFlow 1.3.5 §7.3.3): the port must exist (else PORT_MOD_FAILED/BAD_PORT), the
 *   hw_addr must be the port's (else BAD_HW_ADDR), only PORT_DOWN, NO_RECV, NO_FWD and
 *   NO_PACKET_IN may be set through the mask (else BAD_CONFIG), and `advertise` (when non-zero)
 *   must be a subset of what the port supports (else BAD_ADVERTISE). PORT_DOWN also shows in the
 *   state as LINK_DOWN for a dummy port (nothing else holds its link up), and LIVE follows.
 * - Type `dummy` only, for now: an in-memory port with no traffic. Its counters stay zero until
 *   the datapath exists; the duration is real.
 */

import { Subject, type Observable } from 'rxjs';
import { OFPE } from '../../proto/errors.js';
import type { ErrorPair } from '../../proto/schema.js';
import { OFPP, OFPPC, OFPPF, OFPPR, OFPPS, type Port, type PortMod, type PortStats } from '../openflow/index.js';
import { duration } from './flow-table.js';

/**
 * dummy: in memory; internal: the LOCAL port; patch: a wire to a peer port (netdev/patch.ts);
 * system: an existing Linux interface (netdev/afpacket.ts); tap: a TAP device (netdev/tap.ts);
 * vxlan, geneve: UDP tunnels; gre: GRE over a raw IP socket (netdev/tunnel.ts).
 */
export type PortType = 'dummy' | 'internal' | 'patch' | 'system' | 'tap' | 'vxlan' | 'geneve' | 'gre';

export interface PortSpec {
  readonly name: string;
  /** Requested OpenFlow port number; the lowest free one when absent or taken. */
  readonly ofport?: number;
  readonly type?: PortType;
  /** Ethernet address as aa:bb:cc:dd:ee:ff (default: derived from the name, hwAddrFor). */
  readonly hwAddr?: string;
  /** Provider options (rx_pcap, tx_pcap, peer, ...), passed to the netdev. */
  readonly options?: Readonly<Record<string, string>>;
}

export interface SwitchPort {
  readonly portNo: number;
  readonly name: string;
  readonly type: PortType;
  hwAddr: string;
  config: number;
  /** The device's link (carrier); false makes the port LINK_DOWN whatever its config. */
  carrier: boolean;
  state: number;
  curr: number;
  advertised: number;
  readonly supported: number;
  readonly peer: number;
  readonly currSpeed: number;
  readonly maxSpeed: number;
  /** ms, monotonic (now()) */
  readonly createdAt: number;
  // Counters: zero until the datapath moves packets.
  rxPackets: bigint;
  txPackets: bigint;
  rxBytes: bigint;
  txBytes: bigint;
  rxDropped: bigint;
  txDropped: bigint;
  /** What the device could not use (malformed, undecodable) or failed to send. */
  rxErrors: bigint;
  txErrors: bigint;
}

export interface PortStatusEvent {
  /** OFPPR_* */
  readonly reason: number;
  readonly desc: Port;
}

/** Config bits a PORT_MOD may change (OFPPC_*). */
const MODIFIABLE_CONFIG = OFPPC.PORT_DOWN | OFPPC.NO_RECV | OFPPC.NO_FWD | OFPPC.NO_PACKET_IN;

/** What a dummy port says about itself: a 10 Gb/s copper full-duplex link (as OVS's dummy). */
const DUMMY_FEATURES = OFPPF['10GB_FD'] | OFPPF.COPPER;
const DUMMY_SPEED_KBPS = 10_000_000;

const PM = OFPE.PORT_MOD_FAILED!;

/** A locally administered unicast MAC derived from `name` (FNV-1a, 32 bits, over its bytes). */
export function hwAddrFor(name: string, salt = 0): string {
  let h = 0x811c9dc5 ^ salt;
  for (const b of Buffer.from(name, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  const h2 = Math.imul(h ^ 0x5bd1e995, 0x01000193) >>> 0;
  const bytes = [0x02, (h >>> 24) & 0xff, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff, h2 & 0xff];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export class PortTable {
  private readonly byNo = new Map<number, SwitchPort>();
  private readonly byName = new Map<string, SwitchPort>();
  private readonly subject = new Subject<PortStatusEvent>();
  /** PORT_STATUS events: add, delete, modify. */
  readonly status$: Observable<PortStatusEvent> = this.subject.asObservable();

  constructor(readonly bridge: string, private readonly now: () => number) {
    this.insert({ name: bridge, type: 'internal' }, OFPP.LOCAL);
  }

  get size(): number {
    return this.byNo.size;
  }

  /** Ports in number order (LOCAL, 0xfffffffe, last). */
  list(): SwitchPort[] {
    return [...this.byNo.values()].sort((a, b) => a.portNo - b.portNo);
  }

  get(portNo: number): SwitchPort | undefined {
    return this.byNo.get(portNo);
  }

  byNameOf(name: string): SwitchPort | undefined {
    return this.byName.get(name);
  }

  exists(portNo: number): boolean {
    return this.byNo.has(portNo);
  }

  /** Adds a port; the error is a sentence (bad name, duplicate name, bad number). */
  add(spec: PortSpec): SwitchPort | string {
    const name = spec.name;
    if (name === '' || Buffer.byteLength(name) > 15) return `port name ${JSON.stringify(name)} must be 1 to 15 bytes`;
    if (this.byName.has(name)) return `a port named ${JSON.stringify(name)} exists already`;
    if (spec.ofport !== undefined && !(Number.isInteger(spec.ofport) && spec.ofport >= 1 && spec.ofport <= OFPP.MAX)) {
      return `port number ${spec.ofport} is not in 1..${OFPP.MAX}`;
    }
    let no = spec.ofport !== undefined && !this.byNo.has(spec.ofport) ? spec.ofport : 0;
    if (no === 0) {
      no = 1;
      while (this.byNo.has(no)) no++;
      if (no > OFPP.MAX) return 'no free port number';
    }
    const p = this.insert({ name, type: spec.type ?? 'dummy', ...(spec.hwAddr !== undefined ? { hwAddr: spec.hwAddr } : {}) }, no);
    this.subject.next({ reason: OFPPR.ADD, desc: toOfpPort(p) });
    return p;
  }

  /** Deletes a port by number; false when there is none (LOCAL cannot be deleted). */
  delete(portNo: number): boolean {
    const p = this.byNo.get(portNo);
    if (p === undefined || portNo === OFPP.LOCAL) return false;
    this.byNo.delete(portNo);
    this.byName.delete(p.name);
    this.subject.next({ reason: OFPPR.DELETE, desc: toOfpPort(p) });
    return true;
  }

  /** Applies a PORT_MOD: undefined when done (a MODIFY event when something changed), or the error. */
  portMod(pm: PortMod): ErrorPair | undefined {
    const p = this.byNo.get(pm.portNo);
    if (p === undefined) return PM.BAD_PORT!;
    if (pm.hwAddr.toLowerCase() !== p.hwAddr) return PM.BAD_HW_ADDR!;
    if ((pm.mask & ~MODIFIABLE_CONFIG) !== 0 || (pm.config & pm.mask & ~MODIFIABLE_CONFIG) !== 0) return PM.BAD_CONFIG!;
    if (pm.advertise !== 0 && (pm.advertise & ~p.supported) !== 0) return PM.BAD_ADVERTISE!;
    const config = (p.config & ~pm.mask) | (pm.config & pm.mask);
    const advertised = pm.advertise !== 0 ? pm.advertise : p.advertised;
    this.update(p, config, advertised);
    return undefined;
  }

  /**
   * The link (carrier) of the device under a port went up or down: LINK_DOWN and LIVE follow,
   * with a MODIFY event when they changed. A port that is PORT_DOWN stays LINK_DOWN.
   */
  setLink(portNo: number, up: boolean): boolean {
    const p = this.byNo.get(portNo);
    if (p === undefined) return false;
    p.carrier = up;
    this.update(p, p.config, p.advertised);
    return true;
  }

  /** Gives a port's LOCAL/bridge-side hardware address (the LOCAL port takes its netdev's). */
  setHwAddr(portNo: number, hwAddr: string): boolean {
    const p = this.byNo.get(portNo);
    if (p === undefined) return false;
    p.hwAddr = hwAddr;
    return true;
  }

  /** Changes a port's config word (and the link state a dummy port derives from it). */
  setConfig(portNo: number, config: number): boolean {
    const p = this.byNo.get(portNo);
    if (p === undefined) return false;
    this.update(p, config, p.advertised);
    return true;
  }

  private update(p: SwitchPort, config: number, advertised: number): void {
    const down = (config & OFPPC.PORT_DOWN) !== 0 || !p.carrier;
    const state = down ? (p.state | OFPPS.LINK_DOWN) & ~OFPPS.LIVE : (p.state & ~OFPPS.LINK_DOWN) | OFPPS.LIVE;
    if (config === p.config && state === p.state && advertised === p.advertised) return;
    p.config = config;
    p.state = state;
    p.advertised = advertised;
    this.subject.next({ reason: OFPPR.MODIFY, desc: toOfpPort(p) });
  }

  /** PORT_DESC entries in number order. */
  descs(): Port[] {
    return this.list().map(toOfpPort);
  }

  /** Port statistics for one port or, with OFPP_ANY, every port; undefined for an unknown port. */
  stats(portNo: number): PortStats[] | undefined {
    const now = this.now();
    if (portNo === OFPP.ANY) return this.list().map((p) => portStats(p, now));
    const p = this.byNo.get(portNo);
    return p === undefined ? undefined : [portStats(p, now)];
  }

  /** Ends the status stream (the switch is going away). */
  close(): void {
    this.subject.complete();
  }

  private insert(spec: { name: string; type: PortType; hwAddr?: string }, no: number): SwitchPort {
    const features = DUMMY_FEATURES;
    const p: SwitchPort = {
      portNo: no, name: spec.name, type: spec.type, hwAddr: spec.hwAddr ?? hwAddrFor(spec.name),
      config: 0, carrier: true, state: OFPPS.LIVE, curr: features, advertised: features, supported: features, peer: 0,
      currSpeed: DUMMY_SPEED_KBPS, maxSpeed: DUMMY_SPEED_KBPS, createdAt: this.now(),
      rxPackets: 0n, txPackets: 0n, rxBytes: 0n, txBytes: 0n, rxDropped: 0n, txDropped: 0n, rxErrors: 0n, txErrors: 0n,
    };
    this.byNo.set(no, p);
    this.byName.set(spec.name, p);
    return p;
  }
}

export function toOfpPort(p: SwitchPort): Port {
  return {
    portNo: p.portNo, hwAddr: p.hwAddr, name: p.name, config: p.config, state: p.state, curr: p.curr,
    advertised: p.advertised, supported: p.supported, peer: p.peer, currSpeed: p.currSpeed, maxSpeed: p.maxSpeed,
  };
}

function portStats(p: SwitchPort, now: number): PortStats {
  const d = duration(p.createdAt, now);
  return {
    portNo: p.portNo, rxPackets: p.rxPackets, txPackets: p.txPackets, rxBytes: p.rxBytes, txBytes: p.txBytes,
    rxDropped: p.rxDropped, txDropped: p.txDropped, rxErrors: p.rxErrors, txErrors: p.txErrors, rxFrameErr: 0n, rxOverErr: 0n,
    rxCrcErr: 0n, collisions: 0n, durationSec: d.sec, durationNsec: d.nsec,
  };
}
