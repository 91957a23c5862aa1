/**
 * A network device as the datapath sees it: frames come in as batches through a receiver the
 * datapath installs, frames go out as batches through send(). Providers: dummy (in memory, with
 * pcap files), patch (a wire to a peer netdev); later afpacket, tap, tunnels (the ports issue).
 *
 * Rules every provider keeps:
 * - receive batches are delivered from the event loop (never from inside send(), so the datapath
 *   is never re-entered while it forwards), at most `RX_BATCH` packets per call;
 * - send() takes the frames' bytes before it returns (the caller reuses the buffers);
 * - nothing a peer or a file does makes it throw: bad input is counted (rxErrors) and dropped.
 */

import type { Observable } from 'rxjs';
import type { Packet } from '../packet/packet.js';

/** Most packets one receive call hands over (OVS's NETDEV_MAX_BURST). */
export const RX_BATCH = 32;

export interface NetdevStats {
  rxPackets: bigint;
  rxBytes: bigint;
  txPackets: bigint;
  txBytes: bigint;
  rxDropped: bigint;
  txDropped: bigint;
  rxErrors: bigint;
  txErrors: bigint;
}

export function zeroStats(): NetdevStats {
  return { rxPackets: 0n, rxBytes: 0n, txPackets: 0n, txBytes: 0n, rxDropped: 0n, txDropped: 0n, rxErrors: 0n, txErrors: 0n };
}

/** Link state and what changed it (PORT_STATUS follows these). */
export interface NetdevStatus {
  readonly up: boolean;
}

/** Called with a batch of received packets; the datapath owns them from then on. */
export type Receiver = (batch: Packet[]) => void;

export interface Netdev {
  readonly name: string;
  /** Provider type: 'dummy', 'patch', ... */
  readonly type: string;
  /** The device's Ethernet address (6 bytes). */
  readonly hwAddr: Uint8Array;
  readonly mtu: number;
  /** Link up (carrier) right now. */
  readonly up: boolean;
  /** Changes of link state (PORT_STATUS). */
  readonly status$: Observable<NetdevStatus>;
  /** Installs the one receiver (the datapath); undefined stops delivery (frames are then dropped and counted). */
  setReceiver(rx: Receiver | undefined): void;
  /** Sends frames; returns how many were sent (the rest are counted as txDropped). */
  send(frames: readonly Packet[]): number;
  stats(): NetdevStats;
  close(): void;
}
