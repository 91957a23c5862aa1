/**
 * Packet-ins (OVS's connmgr_send_async_msg + pinsched + rconn's packet-in queue limit): one
 * packet the pipeline sends to the controller becomes a PACKET_IN on every connection that wants
 * it, without letting a slow controller make the switch's memory grow.
 *
 * Who gets it: every active connection whose async configuration wants (packetIn, reason) now
 * (roles.wants: the master/equal half or the slave half of the mask by the current role). By
 * default master/equal get NO_MATCH and ACTION, a slave gets nothing, nobody gets INVALID_TTL.
 *
 * The message: buffer_id OFP_NO_BUFFER (the switch advertises n_buffers 0 and keeps no packet),
 * total_len = the frame's length, reason, table id and cookie of the rule that sent it, and the
 * match (in_port plus the packet's metadata fields; the caller builds it). The data is the frame
 * truncated to:
 *   - the output action's max_len, when the packet-in comes from an output:CONTROLLER action
 *     (reason ACTION, and reason NO_MATCH from a table-miss flow, which in OpenFlow 1.3 is an
 *     ordinary flow whose output action carries its own max_len; OF1.3.5 §5.4, §7.2.5);
 *     OFPCML_NO_BUFFER (0xffff) means the whole frame;
 *   - otherwise (no action: `maxLen` undefined, e.g. INVALID_TTL) the connection's miss_send_len
 *     from SET_CONFIG (default 128; OFPCML_NO_BUFFER = whole frame; 0 = no bytes). OF1.3.5 §7.3.2:
 *     miss_send_len is "the number of bytes of each packet sent to the controller by the OpenFlow
 *     pipeline when not using an output action to the OFPP_CONTROLLER logical port".
 *   OVS does the same since it dropped packet buffering: `ovs-ofctl monitor` shows
 *   "data_len=N (unbuffered)" for output:CONTROLLER:N, and a table-miss flow installed with
 *   max_len OFPCML_NO_BUFFER (what Ryu/ONOS do) delivers the whole packet. (The 1.3 text that an
 *   unbuffered packet-in carries the entire packet dates from buffering switches; truncating to
 *   max_len is what controllers asking for a prefix expect, and what OVS does.)
 *
 * Flow control, per connection, in this order:
 *   1. an optional token bucket (`rate` packet-ins per second, `burst` tokens): a packet-in with
 *      no token is dropped and counted as a rate drop (OVS's pinsched, controller_rate_limit);
 *   2. a bounded queue (`queueLimit` messages, default 100 as OVS's packet_in_queue_size): while
 *      the socket is congested (its unsent bytes reached the high-water mark) or older packet-ins
 *      still wait, a new one is queued; when the queue is full it is dropped and counted as a
 *      queue drop (OVS: "dropping packet-in due to queue overflow"). The queue is flushed at the
 *      socket's 'drain', in order, until the socket is congested again.
 * So what one connection holds is at most its socket's high-water mark plus one message, plus
 * `queueLimit` messages; other connections are unaffected. Nothing tells the controller about
 * drops (OVS sends nothing either); they show in stats() and in the log of the caller.
 *
 * Parties without backpressure (a test's in-process controller: no `congested`) are sent to
 * directly, after the rate limit.
 */

import { OFP_VERSION, OFPCML, OFPT, OFP_NO_BUFFER } from '../../proto/constants.js';
import type { Message, Oxm, PacketIn } from '../openflow/index.js';
import { wants, type ControlParty } from './roles.js';

/** One packet for the controller, as the datapath (xlate) hands it over. */
export interface PacketInRequest {
  /** OFPR_* */
  readonly reason: number;
  readonly tableId: number;
  readonly cookie: bigint;
  /** in_port and the packet's metadata fields (OXM). */
  readonly match: readonly Oxm[];
  /** The whole frame as it is at the output action. */
  readonly frame: Uint8Array;
  /** The output action's max_len (OFPCML_NO_BUFFER = whole); undefined: the connection's miss_send_len. */
  readonly maxLen?: number;
}

/** A connection as the packet-in path needs it; OfConnection has the optional backpressure part. */
export interface PacketInParty extends Pick<ControlParty, 'control' | 'active' | 'send'> {
  readonly name?: string;
  /** True while the transport wants no more data (OfConnection.congested). */
  readonly congested?: boolean;
  /** Bytes written and not yet sent (OfConnection.pendingBytes). */
  readonly pendingBytes?: number;
  /** Calls fn once when the transport drains (OfConnection.onDrain). */
  onDrain?(fn: () => void): void;
  /** Resolves when the connection is gone (OfConnection.closed): its queue is released. */
  readonly closed?: Promise<string>;
}

export interface PacketInOptions {
  /** Packet-ins queued per connection while its socket is congested (default 100). */
  readonly queueLimit?: number;
  /** Packet-ins per second per connection; 0 or undefined: no rate limit. */
  readonly rate?: number;
  /** Token bucket size (default max(1, rate / 4), as OVS's controller_burst_limit default). */
  readonly burst?: number;
  /** Monotonic clock in ms (default performance.now). */
  readonly now?: () => number;
}

export const DEFAULT_PACKET_IN_QUEUE = 100;

/** Counters of one connection (cumulative; `queued` is the current queue length). */
export interface PacketInConnStats {
  readonly name: string;
  /** Handed to the connection (written to its socket). */
  sent: number;
  /** Dropped because the queue was full. */
  queueDrops: number;
  /** Dropped by the rate limit. */
  rateDrops: number;
  queued: number;
}

export interface PacketInStats {
  /** Packet-ins the pipeline asked for (whatever the number of receivers). */
  requested: number;
  /** Requests that no connection wanted (async masks, no controller). */
  unwanted: number;
  sent: number;
  queueDrops: number;
  rateDrops: number;
  /** Live connections that were offered packet-ins. */
  readonly connections: readonly PacketInConnStats[];
}

interface ConnState {
  readonly stats: PacketInConnStats;
  readonly queue: Message[];
  tokens: number;
  refilledAt: number;
  waitingDrain: boolean;
}

/** The data bytes a packet-in carries: max_len from the action, else the connection's miss_send_len. */
export function packetInDataLength(frameLen: number, maxLen: number | undefined, missSendLen: number): number {
  const limit = maxLen ?? missSendLen;
  return limit === OFPCML.NO_BUFFER ? frameLen : Math.min(frameLen, limit);
}

export function packetInMessage(pi: PacketInRequest, dataLen: number): PacketIn {
  return {
    version: OFP_VERSION, type: OFPT.PACKET_IN, bufferId: OFP_NO_BUFFER, totalLen: pi.frame.length,
    reason: pi.reason, tableId: pi.tableId, cookie: pi.cookie, match: pi.match,
    data: dataLen >= pi.frame.length ? pi.frame : pi.frame.subarray(0, dataLen),
  };
}

export class PacketInScheduler {
  readonly queueLimit: number;
  readonly rate: number;
  readonly burst: number;
  private readonly now: () => number;
  private readonly conns = new Map<PacketInParty, ConnState>();
  private readonly totals = { requested: 0, unwanted: 0, sent: 0, queueDrops: 0, rateDrops: 0 };

  constructor(opts: PacketInOptions = {}) {
    this.queueLimit = Math.max(0, opts.queueLimit ?? DEFAULT_PACKET_IN_QUEUE);
    this.rate = Math.max(0, opts.rate ?? 0);
    this.burst = Math.max(1, opts.burst ?? Math.floor(this.rate / 4));
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * Offers one packet-in to every party: those whose async config wants it get a PACKET_IN (sent,
   * queued or dropped and counted). Returns how many parties it was sent or queued to.
   */
  submit(pi: PacketInRequest, parties: Iterable<PacketInParty>): number {
    this.totals.requested++;
    let n = 0;
    let wanted = false;
    // Messages by data length: parties with the same miss_send_len share one object.
    let cache: { len: number; msg: PacketIn } | undefined;
    for (const p of parties) {
      if (!wants(p, 'packetIn', pi.reason)) continue;
      wanted = true;
      const st = this.state(p);
      if (!this.takeToken(st)) {
        st.stats.rateDrops++;
        this.totals.rateDrops++;
        continue;
      }
      const len = packetInDataLength(pi.frame.length, pi.maxLen, p.control.missSendLen);
      if (cache === undefined || cache.len !== len) cache = { len, msg: packetInMessage(pi, len) };
      if (this.offer(p, st, cache.msg)) n++;
    }
    if (!wanted) this.totals.unwanted++;
    return n;
  }

  stats(): PacketInStats {
    return { ...this.totals, connections: [...this.conns.values()].map((s) => ({ ...s.stats, queued: s.queue.length })) };
  }

  /** The counters of one party (undefined before its first packet-in or after it closed). */
  statsFor(p: PacketInParty): PacketInConnStats | undefined {
    const s = this.conns.get(p);
    return s === undefined ? undefined : { ...s.stats, queued: s.queue.length };
  }

  /** Releases a party's queue (called when it closes; a party with `closed` is forgotten by itself). */
  forget(p: PacketInParty): void {
    this.conns.delete(p);
  }

  private state(p: PacketInParty): ConnState {
    let st = this.conns.get(p);
    if (st === undefined) {
      st = {
        stats: { name: p.name ?? 'party', sent: 0, queueDrops: 0, rateDrops: 0, queued: 0 },
        queue: [], tokens: this.burst, refilledAt: this.now(), waitingDrain: false,
      };
      this.conns.set(p, st);
      void p.closed?.then(() => this.forget(p));
    }
    return st;
  }

  private takeToken(st: ConnState): boolean {
    if (this.rate <= 0) return true;
    const t = this.now();
    const elapsed = t - st.refilledAt;
    if (elapsed > 0) {
      st.tokens = Math.min(this.burst, st.tokens + (elapsed * this.rate) / 1000);
      st.refilledAt = t;
    }
    if (st.tokens < 1) return false;
    st.tokens -= 1;
    return true;
  }

  /** Sends now, queues, or drops (queue full). True when sent or queued. */
  private offer(p: PacketInParty, st: ConnState, msg: Message): boolean {
    if (st.queue.length === 0 && p.congested !== true) {
      this.write(p, st, msg);
      return true;
    }
    if (st.queue.length >= this.queueLimit) {
      st.stats.queueDrops++;
      this.totals.queueDrops++;
      return false;
    }
    st.queue.push(msg);
    this.waitForDrain(p, st);
    return true;
  }

  private write(p: PacketInParty, st: ConnState, msg: Message): void {
    p.send(msg);
    st.stats.sent++;
    this.totals.sent++;
  }

  private waitForDrain(p: PacketInParty, st: ConnState): void {
    if (st.waitingDrain || p.onDrain === undefined) return;
    st.waitingDrain = true;
    p.onDrain(() => {
      st.waitingDrain = false;
      this.flush(p, st);
    });
  }

  private flush(p: PacketInParty, st: ConnState): void {
    if (!p.active || this.conns.get(p) !== st) {
      st.queue.length = 0;
      return;
    }
    let i = 0;
    while (i < st.queue.length && p.congested !== true) this.write(p, st, st.queue[i++]!);
    st.queue.splice(0, i);
    if (st.queue.length > 0) this.waitForDrain(p, st);
  }
}
