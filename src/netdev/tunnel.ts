/**
 * UDP tunnel ports: VXLAN (RFC 7348, UDP 4789) and Geneve (RFC 8926, UDP 6081), over node:dgram
 * (no native addon, no root). A tunnel port is a Netdev whose "wire" is a UDP socket: a datagram
 * that arrives becomes its inner Ethernet frame plus tunnel metadata (Packet.tunnel: the VNI as
 * tunnel_id, the outer addresses and UDP ports, Geneve options), which the datapath copies into
 * the flow key's tunnel words, so OpenFlow matches on tunnel_id and packet-ins carry it. A frame
 * sent on the port is encapsulated and sent as one datagram.
 *
 * Options (the words of OVS's tunnel interfaces):
 * - remote_ip=IP: the far end; only its datagrams are taken, and frames go to it.
 *   remote_ip=flow: datagrams from anywhere are taken; a frame goes to the far end its inner
 *   destination MAC was last seen behind (the port learns inner source MAC -> outer source
 *   address as datagrams arrive, as Linux's own vxlan device does), and a broadcast, multicast or
 *   unknown destination goes to every far end the port has heard from. OpenFlow 1.3 has no basic
 *   field for the outer destination, so a controller cannot choose it; what this gives is reply
 *   traffic: hosts behind the switch answer whoever reached them through the tunnel.
 * - key=N (a VNI, 0..2^24-1, default 0): frames are sent with VNI N and only datagrams with VNI N
 *   are taken. key=flow: every VNI is taken (it becomes tunnel_id), and a frame goes out with the
 *   low 24 bits of its tunnel_id (set_field tunnel_id in the pipeline; the VNI it came in with
 *   when it came from a tunnel and nothing changed it; 0 otherwise).
 * - local_ip=IP: the address the socket binds to (default 0.0.0.0: every address). The outer
 *   destination in the metadata (tun_dst) is known only when it is given (node:dgram does not
 *   report a datagram's destination address).
 * - dst_port=N: the UDP port to listen on and send to (default 4789 or 6081).
 *
 * Sharing a UDP port. Several tunnel ports of one type may use the same (local_ip, dst_port):
 * one socket serves them, and a datagram goes to the port that fits it best, as OVS chooses: the
 * same remote_ip and key, then the same remote_ip with key=flow, then remote_ip=flow with the same
 * key, then remote_ip=flow with key=flow. Two ports with the same remote_ip and key on one socket,
 * a VXLAN and a Geneve port on one UDP port, or a wildcard and a specific local_ip on one UDP
 * port are refused when the port is created, with the reason. A datagram no port takes, or one
 * that is not a valid VXLAN/Geneve packet, is counted on the socket's first port (rxDropped,
 * rxErrors) and dropped; nothing a peer sends makes a port throw.
 *
 * Not carried: the outer ToS and TTL of received datagrams (dgram does not report them: tun_tos
 * and tun_ttl read 0), outer IPv6 (IPv4 only), the VXLAN source-port entropy (datagrams leave
 * from the bound port), GRE (it needs a raw IP socket; not done). Geneve options are carried as
 * bytes, not interpreted (critical or not); a datagram with more than 64 bytes of them (what the
 * flow key holds) is counted as an error and dropped. Outgoing Geneve options are those the
 * packet came in with (OpenFlow 1.3 cannot set them).
 *
 * Netdev rules kept: received frames reach the datapath from setImmediate, at most RX_BATCH per
 * call, never from inside send(); send() copies each frame into its datagram before returning;
 * the receive queue is bounded (rxDropped beyond). The socket binds asynchronously: a port is up
 * until its bind fails, then it goes down (status$) with the reason logged and in `error`.
 */

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { Subject, type Observable } from 'rxjs';
import { logger } from '../common/log.js';
import { TUN_FLAG } from '../packet/key.js';
import { Packet, TUN_OPTIONS_MAX, type TunnelMeta } from '../packet/packet.js';
import { hwAddrFromName, MIN_FRAME, RxQueue } from './dummy.js';
import { zeroStats, type Netdev, type NetdevStats, type NetdevStatus, type Receiver } from './netdev.js';

export type TunnelType = 'vxlan' | 'geneve';

export const VXLAN_PORT = 4789;
export const GENEVE_PORT = 6081;
/** VXLAN header: flags (I = 0x08), 3 reserved bytes, VNI (3 bytes), 1 reserved byte. */
export const VXLAN_HLEN = 8;
/** Geneve fixed header: ver/optlen, O/C flags, protocol type, VNI (3 bytes), reserved. */
export const GENEVE_HLEN = 8;
/** Geneve protocol type for an Ethernet payload (Transparent Ethernet Bridging). */
export const ETH_P_TEB = 0x6558;
/** Frames waiting for the receiver beyond this are dropped (rxDropped). */
export const TUNNEL_RX_QUEUE_LIMIT = 8192;
/** Inner MACs a remote_ip=flow port remembers, and far ends it floods to. */
export const LEARN_LIMIT = 4096;
export const REMOTE_LIMIT = 256;
/** A learned inner MAC is forgotten after this long without a datagram from it. */
export const LEARN_AGE_MS = 300_000;

const log = logger('netdev');

// ---------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------

/** What decoding a datagram found (a scratch record, reused). */
export interface TunnelHeader {
  vni: number;
  /** Offset and length of the Geneve options (0 for VXLAN). */
  optStart: number;
  optLen: number;
  /** Geneve's O bit (an OAM packet). */
  oam: boolean;
  /** Offset of the inner Ethernet frame. */
  frameStart: number;
}

export function newTunnelHeader(): TunnelHeader {
  return { vni: 0, optStart: 0, optLen: 0, oam: false, frameStart: 0 };
}

/** Parses a VXLAN datagram (the UDP payload) into `h`; the reason when it is not one. */
export function decodeVxlan(d: Uint8Array, h: TunnelHeader): string | undefined {
  if (d.length < VXLAN_HLEN + MIN_FRAME) return `short VXLAN datagram (${d.length} bytes)`;
  // RFC 7348 §5: the I flag must be set; the other flag and reserved bits are ignored.
  if ((d[0]! & 0x08) === 0) return 'VXLAN I flag clear';
  h.vni = (d[4]! << 16) | (d[5]! << 8) | d[6]!;
  h.optStart = VXLAN_HLEN;
  h.optLen = 0;
  h.oam = false;
  h.frameStart = VXLAN_HLEN;
  return undefined;
}

/**
 * Parses a Geneve datagram into `h`; the reason when it is not one we carry: a version other
 * than 0, a payload other than Ethernet, options that do not tile their area exactly as
 * (class, type, length) TLVs, more options than the key holds, or no room for a frame.
 */
export function decodeGeneve(d: Uint8Array, h: TunnelHeader): string | undefined {
  if (d.length < GENEVE_HLEN) return `short Geneve datagram (${d.length} bytes)`;
  const ver = d[0]! >>> 6;
  if (ver !== 0) return `Geneve version ${ver}`;
  const optLen = (d[0]! & 0x3f) * 4;
  const proto = (d[2]! << 8) | d[3]!;
  if (proto !== ETH_P_TEB) return `Geneve protocol 0x${proto.toString(16).padStart(4, '0')} is not Ethernet`;
  const frameStart = GENEVE_HLEN + optLen;
  if (d.length < frameStart + MIN_FRAME) return `short Geneve datagram (${d.length} bytes, ${optLen} of options)`;
  if (optLen > TUN_OPTIONS_MAX) return `${optLen} bytes of Geneve options (at most ${TUN_OPTIONS_MAX} are kept)`;
  // Offsets and lengths are whole words, so an option's 4-byte header always fits before the end.
  for (let p = GENEVE_HLEN; p < frameStart;) {
    p += 4 + (d[p + 3]! & 0x1f) * 4;
    if (p > frameStart) return 'Geneve option overruns the options';
  }
  h.vni = (d[4]! << 16) | (d[5]! << 8) | d[6]!;
  h.optStart = GENEVE_HLEN;
  h.optLen = optLen;
  h.oam = (d[1]! & 0x80) !== 0;
  h.frameStart = frameStart;
  return undefined;
}

/** A VXLAN datagram carrying `frame` with `vni` (a fresh buffer). */
export function encodeVxlan(vni: number, frame: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(VXLAN_HLEN + frame.length);
  b.writeUInt32BE(0x08000000, 0);
  b.writeUInt32BE(((vni & 0xffffff) << 8) >>> 0, 4);
  b.set(frame, VXLAN_HLEN);
  return b;
}

/**
 * A Geneve datagram carrying `frame` with `vni` and `options` (raw TLVs, a multiple of 4 bytes
 * up to 252), the C bit set when an option is critical (type's high bit), O from `oam`.
 */
export function encodeGeneve(vni: number, frame: Uint8Array, options: Uint8Array = new Uint8Array(0), oam = false): Buffer {
  const optLen = options.length & ~3;
  const b = Buffer.allocUnsafe(GENEVE_HLEN + optLen + frame.length);
  let critical = false;
  for (let p = 0; p + 4 <= optLen; p += 4 + (options[p + 3]! & 0x1f) * 4) if ((options[p + 2]! & 0x80) !== 0) critical = true;
  b[0] = Math.min(optLen >>> 2, 0x3f);
  b[1] = (oam ? 0x80 : 0) | (critical ? 0x40 : 0);
  b.writeUInt16BE(ETH_P_TEB, 2);
  b.writeUInt32BE(((vni & 0xffffff) << 8) >>> 0, 4);
  b.set(options.subarray(0, optLen), GENEVE_HLEN);
  b.set(frame, GENEVE_HLEN + optLen);
  return b;
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

export interface TunnelNetdevOptions {
  /** The far end (dotted IPv4), or 'flow' (see the file comment). */
  readonly remoteIp: string;
  /** The address to bind (default 0.0.0.0). */
  readonly localIp?: string;
  /** The VNI (0..2^24-1), or 'flow' (default 0). */
  readonly key?: number | 'flow';
  /** UDP port to listen on and send to (default 4789 for VXLAN, 6081 for Geneve). */
  readonly dstPort?: number;
}

/** The options a tunnel port type takes on the command line and in the config file. */
export const TUNNEL_OPTION_NAMES = ['remote_ip', 'local_ip', 'key', 'dst_port'] as const;

/** Checks and converts a tunnel port's key=value options; the reason when they are wrong. */
export function parseTunnelOptions(type: TunnelType, o: Readonly<Record<string, string>>): TunnelNetdevOptions | string {
  const remote = o['remote_ip'];
  if (remote === undefined) return `a ${type} port needs remote_ip=IP or remote_ip=flow`;
  if (remote !== 'flow' && !isIPv4(remote)) return `remote_ip ${JSON.stringify(remote)} is not an IPv4 address or "flow"`;
  if (remote === '0.0.0.0') return 'remote_ip 0.0.0.0: use remote_ip=flow to take datagrams from anywhere';
  const local = o['local_ip'];
  if (local !== undefined && !isIPv4(local)) return `local_ip ${JSON.stringify(local)} is not an IPv4 address`;
  let key: number | 'flow' = 0;
  const k = o['key'];
  if (k !== undefined) {
    if (k === 'flow') key = 'flow';
    else if (/^(0x[0-9a-fA-F]{1,6}|\d{1,8})$/.test(k) && Number(k) <= 0xffffff) key = Number(k);
    else return `key ${JSON.stringify(k)} is not a VNI (0..16777215) or "flow"`;
  }
  let dstPort = type === 'vxlan' ? VXLAN_PORT : GENEVE_PORT;
  const p = o['dst_port'];
  if (p !== undefined) {
    if (!/^\d{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) return `dst_port ${JSON.stringify(p)} is not a UDP port (1..65535)`;
    dstPort = Number(p);
  }
  return { remoteIp: remote, ...(local !== undefined ? { localIp: local } : {}), key, dstPort };
}

function ipToNumber(ip: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = ip.split('.').map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// The shared socket
// ---------------------------------------------------------------------------------------------

/** Sockets by "local_ip|port" (one process: all bridges of a switch share them). */
const sockets = new Map<string, TunnelSocket>();

/** Dotted addresses to numbers, for the few far ends a switch talks to. */
const addrCache = new Map<string, number>();

function addrNumber(s: string): number {
  let n = addrCache.get(s);
  if (n === undefined) {
    n = ipToNumber(s);
    if (addrCache.size >= 1024) addrCache.clear();
    addrCache.set(s, n);
  }
  return n;
}

class TunnelSocket {
  readonly ports: TunnelNetdev[] = [];
  readonly socket: Socket;
  readonly localNum: number;
  error: string | undefined;
  readonly ready: Promise<string | undefined>;
  private readonly hdr = newTunnelHeader();
  private closed = false;

  constructor(readonly type: TunnelType, readonly localIp: string, readonly port: number, private readonly id: string) {
    this.localNum = localIp === '0.0.0.0' ? 0 : ipToNumber(localIp);
    // Every address given is an IPv4 literal: answering the lookup at once saves dns.lookup's
    // nextTick per datagram sent.
    this.socket = createSocket({ type: 'udp4', lookup: (addr, _opts, cb) => (cb as (e: null, a: string, f: number) => void)(null, addr, 4) });
    this.ready = new Promise((resolve) => {
      this.socket.once('listening', () => {
        try {
          this.socket.setRecvBufferSize(4 << 20);
        } catch {
          // The system's limit is lower: the default buffer stays; bursts may drop sooner.
        }
        resolve(undefined);
      });
      this.socket.on('error', (e: NodeJS.ErrnoException) => {
        const reason = `${type} ${localIp}:${port}: ${e.code ?? e.message}`;
        // The bind may fail inside bind() itself (the lookup answers at once), before the port
        // that made this socket is on its list: the ports hear of it a moment later.
        if (this.error === undefined) this.error = reason;
        queueMicrotask(() => {
          this.fail(reason);
          resolve(reason);
        });
      });
    });
    this.socket.on('message', this.onMessage);
    this.socket.bind({ address: localIp, port, exclusive: true });
  }

  send(buf: Buffer, port: number, addr: string, done: (e: Error | null) => void): boolean {
    if (this.closed || this.error !== undefined) return false;
    this.socket.send(buf, port, addr, done);
    return true;
  }

  remove(p: TunnelNetdev): void {
    const i = this.ports.indexOf(p);
    if (i >= 0) this.ports.splice(i, 1);
    if (this.ports.length === 0) this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (sockets.get(this.id) === this) sockets.delete(this.id);
    try {
      this.socket.close();
    } catch {
      // Closed already (a failed bind closes it).
    }
  }

  private fail(reason: string): void {
    if (this.closed) return;
    log.error('tunnel socket failed', { reason, ports: this.ports.map((p) => p.name) });
    for (const p of this.ports) p.socketFailed(reason);
    this.close();
  }

  /** The port a datagram from `src` with `vni` belongs to (see the file comment's order). */
  private portFor(src: number, vni: number): TunnelNetdev | undefined {
    let best: TunnelNetdev | undefined;
    let bestScore = -1;
    for (const p of this.ports) {
      const ipOk = p.remoteNum === undefined || p.remoteNum === src;
      const keyOk = p.fixedKey === undefined || p.fixedKey === vni;
      if (!ipOk || !keyOk) continue;
      const score = (p.remoteNum !== undefined ? 2 : 0) + (p.fixedKey !== undefined ? 1 : 0);
      if (score > bestScore) {
        best = p;
        bestScore = score;
      }
    }
    return best;
  }

  private readonly onMessage = (msg: Buffer, rinfo: RemoteInfo): void => {
    const first = this.ports[0];
    if (first === undefined) return;
    const h = this.hdr;
    const bad = this.type === 'vxlan' ? decodeVxlan(msg, h) : decodeGeneve(msg, h);
    const src = addrNumber(rinfo.address);
    if (bad !== undefined) {
      first.countRx('error');
      return;
    }
    const port = this.portFor(src, h.vni);
    if (port === undefined) {
      first.countRx('dropped');
      return;
    }
    port.deliver(msg, h, src, rinfo.address, rinfo.port, this.localNum);
  };
}

// ---------------------------------------------------------------------------------------------
// The port
// ---------------------------------------------------------------------------------------------

const NO_OPTIONS = new Uint8Array(0);

export class TunnelNetdev implements Netdev {
  readonly type: TunnelType;
  readonly name: string;
  readonly hwAddr: Uint8Array;
  readonly mtu = 1500;
  readonly options: Required<Omit<TunnelNetdevOptions, 'localIp'>> & { readonly localIp: string };
  /** Resolves when the socket is bound (undefined) or could not be (the reason). */
  readonly ready: Promise<string | undefined>;
  readonly status$: Observable<NetdevStatus>;
  /** @internal The far end as a number; undefined for remote_ip=flow. */
  readonly remoteNum: number | undefined;
  /** @internal The VNI; undefined for key=flow. */
  readonly fixedKey: number | undefined;

  private readonly sock: TunnelSocket;
  private readonly counters: NetdevStats = zeroStats();
  private readonly statusSubject = new Subject<NetdevStatus>();
  /** Received frames, delivered in batches from the event loop (the dummy port's queue). */
  private readonly rxq: RxQueue;
  private linkUp = true;
  private closed = false;
  private failure: string | undefined;
  /** remote_ip=flow: inner MAC (48 bits as a number) -> [far end, last seen]; far ends -> last seen. */
  private readonly macs = new Map<number, { addr: string; seen: number }>();
  private readonly remotes = new Map<string, number>();
  private readonly sent = (e: Error | null): void => {
    if (e !== null) this.counters.txErrors++;
  };

  private constructor(name: string, type: TunnelType, opts: TunnelNetdev['options'], sock: TunnelSocket) {
    this.name = name;
    this.type = type;
    this.hwAddr = hwAddrFromName(name);
    this.options = opts;
    this.remoteNum = opts.remoteIp === 'flow' ? undefined : ipToNumber(opts.remoteIp);
    this.fixedKey = opts.key === 'flow' ? undefined : opts.key;
    this.sock = sock;
    this.ready = sock.ready;
    this.status$ = this.statusSubject.asObservable();
    this.rxq = new RxQueue(this.counters, TUNNEL_RX_QUEUE_LIMIT);
  }

  /**
   * A tunnel port, or the reason it cannot be made: the options are wrong, or its socket would
   * clash with another port's (see the file comment). The bind itself completes later (`ready`).
   */
  static open(name: string, type: TunnelType, opts: TunnelNetdevOptions): TunnelNetdev | string {
    const checked = parseTunnelOptions(type, {
      remote_ip: opts.remoteIp,
      ...(opts.localIp !== undefined ? { local_ip: opts.localIp } : {}),
      ...(opts.key !== undefined ? { key: String(opts.key) } : {}),
      ...(opts.dstPort !== undefined ? { dst_port: String(opts.dstPort) } : {}),
    });
    if (typeof checked === 'string') return `${type} port ${name}: ${checked}`;
    const localIp = checked.localIp ?? '0.0.0.0';
    const dstPort = checked.dstPort!;
    const full = { remoteIp: checked.remoteIp, localIp, key: checked.key!, dstPort };
    const id = `${localIp}|${dstPort}`;
    for (const s of sockets.values()) {
      if (s.port === dstPort && s.localIp !== localIp && (s.localIp === '0.0.0.0' || localIp === '0.0.0.0')) {
        return `${type} port ${name}: UDP port ${dstPort} is bound to ${s.localIp} by port ${s.ports[0]?.name ?? '?'}; ports sharing a UDP port need the same local_ip`;
      }
    }
    let sock = sockets.get(id);
    if (sock !== undefined) {
      if (sock.type !== type) return `${type} port ${name}: ${localIp}:${dstPort} carries ${sock.type} for port ${sock.ports[0]?.name ?? '?'}`;
      if (sock.error !== undefined) return `${type} port ${name}: ${sock.error}`;
      for (const p of sock.ports) {
        if (p.options.remoteIp === full.remoteIp && p.options.key === full.key) {
          return `${type} port ${name}: port ${p.name} already takes remote_ip=${full.remoteIp} key=${full.key} on ${localIp}:${dstPort}`;
        }
      }
    } else {
      sock = new TunnelSocket(type, localIp, dstPort, id);
      sockets.set(id, sock);
    }
    const dev = new TunnelNetdev(name, type, full, sock);
    sock.ports.push(dev);
    return dev;
  }

  get up(): boolean {
    return this.linkUp && !this.closed;
  }

  /** Why the port's socket failed (a bind error), if it did. */
  get error(): string | undefined {
    return this.failure;
  }

  setReceiver(rx: Receiver | undefined): void {
    if (this.closed) return;
    this.rxq.setReceiver(rx);
  }

  /** @internal A datagram for this port (decoded into `h`); queues its frame. */
  deliver(msg: Buffer, h: TunnelHeader, src: number, srcAddr: string, srcPort: number, local: number): void {
    const c = this.counters;
    if (!this.up || !this.rxq.accepts()) {
      c.rxDropped++;
      return;
    }
    // The datagram's buffer is ours (dgram allocates one per message): the frame stays where it
    // is, the tunnel header becomes headroom. Options are copied, since a push would overwrite
    // the headroom they sit in.
    const pkt = new Packet(msg, h.frameStart, msg.length);
    const meta: TunnelMeta = {
      idHi: 0, idLo: h.vni, src, dst: local, tpSrc: srcPort, tpDst: this.options.dstPort, tosTtl: 0,
      flags: TUN_FLAG.KEY | (h.oam ? TUN_FLAG.OAM : 0),
      options: h.optLen > 0 ? Uint8Array.from(msg.subarray(h.optStart, h.optStart + h.optLen)) : NO_OPTIONS,
    };
    pkt.tunnel = meta;
    if (this.remoteNum === undefined) this.learn(msg, h.frameStart, srcAddr);
    this.rxq.pushPacket(pkt);
  }

  /** @internal Counts a datagram the socket could not use. */
  countRx(what: 'error' | 'dropped'): void {
    if (what === 'error') this.counters.rxErrors++;
    else this.counters.rxDropped++;
  }

  /** @internal The socket failed: the port goes down. */
  socketFailed(reason: string): void {
    this.failure = reason;
    this.setLink(false);
  }

  send(frames: readonly Packet[]): number {
    const c = this.counters;
    if (!this.up) {
      c.txDropped += BigInt(frames.length);
      return 0;
    }
    const o = this.options;
    let sent = 0;
    for (let i = 0; i < frames.length; i++) {
      const p = frames[i]!;
      const t = p.tunnel;
      const vni = this.fixedKey ?? (t !== undefined ? t.idLo & 0xffffff : 0);
      const frame = p.buf.subarray(p.start, p.end);
      const dgram = this.type === 'vxlan'
        ? encodeVxlan(vni, frame)
        : encodeGeneve(vni, frame, t?.options ?? NO_OPTIONS, t !== undefined && (t.flags & TUN_FLAG.OAM) !== 0);
      let n = 0;
      if (this.remoteNum !== undefined) {
        if (this.sock.send(dgram, o.dstPort, o.remoteIp, this.sent)) n = 1;
      } else {
        n = this.sendLearned(dgram, frame);
      }
      if (n === 0) {
        c.txDropped++;
        continue;
      }
      sent++;
      c.txPackets++;
      c.txBytes += BigInt(frame.length);
    }
    return sent;
  }

  /** remote_ip=flow: to the far end behind the inner destination, or to every far end heard from. */
  private sendLearned(dgram: Buffer, frame: Uint8Array): number {
    const now = Date.now();
    const port = this.options.dstPort;
    if ((frame[0]! & 1) === 0) {
      const e = this.macs.get(macAt(frame, 0));
      if (e !== undefined && now - e.seen < LEARN_AGE_MS) return this.sock.send(dgram, port, e.addr, this.sent) ? 1 : 0;
    }
    let n = 0;
    for (const [addr, seen] of this.remotes) {
      if (now - seen >= LEARN_AGE_MS) {
        this.remotes.delete(addr);
        continue;
      }
      if (this.sock.send(dgram, port, addr, this.sent)) n++;
    }
    return n;
  }

  private learn(msg: Buffer, at: number, addr: string): void {
    const now = Date.now();
    if (!this.remotes.has(addr) && this.remotes.size >= REMOTE_LIMIT) this.remotes.delete(this.remotes.keys().next().value!);
    this.remotes.delete(addr); // re-inserted last: the map's order is oldest first
    this.remotes.set(addr, now);
    if ((msg[at + 6]! & 1) !== 0) return; // a multicast source says nothing about where it lives
    const mac = macAt(msg, at + 6);
    const e = this.macs.get(mac);
    if (e !== undefined) {
      e.addr = addr;
      e.seen = now;
      return;
    }
    if (this.macs.size >= LEARN_LIMIT) this.macs.delete(this.macs.keys().next().value!);
    this.macs.set(mac, { addr, seen: now });
  }

  stats(): NetdevStats {
    return { ...this.counters };
  }

  /** Leaves the shared socket (closing it when no port is left); queued frames are dropped. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.rxq.close();
    this.closed = true;
    this.sock.remove(this);
    this.statusSubject.complete();
  }

  private setLink(up: boolean): void {
    if (this.closed || up === this.linkUp) return;
    this.linkUp = up;
    this.statusSubject.next({ up });
  }
}

function macAt(b: Uint8Array, at: number): number {
  return (b[at]! * 2 ** 40) + (b[at + 1]! * 2 ** 32) + (((b[at + 2]! << 24) | (b[at + 3]! << 16) | (b[at + 4]! << 8) | b[at + 5]!) >>> 0);
}
