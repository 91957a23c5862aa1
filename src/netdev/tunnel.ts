/**
 * Tunnel ports: VXLAN (RFC 7348, UDP 4789) and Geneve (RFC 8926, UDP 6081) over node:dgram (no
 * native addon, no root), and GRE (RFC 2784 with the key and sequence number of RFC 2890, IP
 * protocol 47, carrying Ethernet as Transparent Ethernet Bridging, 0x6558, as Open vSwitch's gre
 * port does) over a raw IPv4 socket of the native addon (rawip.ts; root or CAP_NET_RAW). A tunnel
 * port is a Netdev whose "wire" is a socket: a packet that arrives becomes its inner Ethernet
 * frame plus tunnel metadata (Packet.tunnel: the VNI or GRE key as tunnel_id, the outer
 * addresses, UDP ports, ToS and TTL, Geneve options), which the datapath copies into the flow
 * key's tunnel words, so OpenFlow matches on tunnel_id and packet-ins carry it. A frame sent on
 * the port is encapsulated and sent as one packet.
 *
 * Options (the words of OVS's tunnel interfaces):
 * - remote_ip=IP: the far end; only its packets are taken, and frames go to it.
 *   remote_ip=flow: packets from anywhere are taken; a frame goes to the far end its inner
 *   destination MAC was last seen behind (the port learns inner source MAC -> outer source
 *   address as packets arrive, as Linux's own vxlan device does), and a broadcast, multicast or
 *   unknown destination goes to every far end the port has heard from. OpenFlow 1.3 has no basic
 *   field for the outer destination, so a controller cannot choose it; what this gives is reply
 *   traffic: hosts behind the switch answer whoever reached them through the tunnel.
 * - key=N: frames are sent with key N and only packets with key N are taken; key=flow: every key
 *   is taken (it becomes tunnel_id), and a frame goes out with its tunnel_id (set_field
 *   tunnel_id in the pipeline; the key it came in with when it came from a tunnel and nothing
 *   changed it; 0 otherwise). For VXLAN and Geneve the key is the 24-bit VNI (default 0; a
 *   tunnel_id keeps its low 24 bits). For GRE it is the 32-bit key, and as in OVS an absent key
 *   and key=0 take the same packets (keyless ones and those with key 0: a keyless packet's
 *   tunnel_id is 0), but only a port given key= (a number, 0 included, or flow) sends the key:
 *   without it frames leave with no K bit. The metadata's KEY flag tells which arrived with one.
 * - local_ip=IP: the address the socket binds to (default 0.0.0.0: every address). For UDP
 *   tunnels the outer destination in the metadata (tun_dst) is known only when it is given
 *   (node:dgram does not report a datagram's destination address); GRE reads it, and the outer
 *   ToS and TTL, from the IP header.
 * - dst_port=N (VXLAN, Geneve): the UDP port to listen on and send to (default 4789 or 6081).
 * - csum=true (GRE): frames are sent with the C bit and a checksum over the GRE header and the
 *   frame. Whatever the option, a packet that arrives with C set is checked, and one whose
 *   checksum is wrong is counted (rxErrors) and dropped; a good one has the CSUM flag in its
 *   metadata.
 *
 * GRE on receive: the K and S bits are understood (the sequence number is read past and not
 * enforced: OVS does not enforce it either); a version other than 0, the RFC 1701 routing and
 * strict-source-route bits, or a protocol type other than Ethernet is counted as an error and
 * dropped. The raw socket sees every GRE packet addressed to the host (to local_ip when given),
 * alongside any other GRE user of the host, which gets its own copy.
 *
 * Sharing a socket. Several tunnel ports of one type may use the same (local_ip, dst_port), or
 * for GRE the same local_ip: one socket serves them, and a packet goes to the port that fits it
 * best, as OVS chooses: the same remote_ip and key, then the same remote_ip with key=flow, then
 * remote_ip=flow with the same key, then remote_ip=flow with key=flow. Two ports with the same
 * remote_ip and key on one socket, a VXLAN and a Geneve port on one UDP port, or a wildcard and
 * a specific local_ip on one UDP port, or for GRE at all (both raw sockets would get every
 * packet), are refused when the port is created, with the reason. A packet no port takes, or one that is not
 * a valid packet of its type, is counted on the socket's first port (rxDropped, rxErrors) and
 * dropped; nothing a peer sends makes a port throw.
 *
 * The transport is what differs: UdpTransport (node:dgram) for VXLAN and Geneve, RawIpTransport
 * (rawip.ts, sendmmsg batches with a destination per packet) for GRE. Demultiplexing, learning,
 * metadata, counters and the receive queue are shared.
 *
 * Not carried: the outer ToS and TTL of received UDP datagrams (dgram does not report them:
 * tun_tos and tun_ttl read 0), outer IPv6 (IPv4 only), the VXLAN source-port entropy (datagrams
 * leave from the bound port), GRE sequence numbers on transmit, outer ToS/TTL chosen per frame
 * or per port (the kernel's defaults go out: the system's default TTL, ToS 0). Geneve options are carried as bytes, not interpreted
 * (critical or not); a datagram with more than 64 bytes of them (what the flow key holds) is
 * counted as an error and dropped. Outgoing Geneve options are those the packet came in with
 * (OpenFlow 1.3 cannot set them).
 *
 * Netdev rules kept: received frames reach the datapath from setImmediate, at most RX_BATCH per
 * call, never from inside send(); send() copies each frame into its packet before returning;
 * the receive queue is bounded (rxDropped beyond). A UDP socket binds asynchronously: a port is
 * up until its bind fails, then it goes down (status$) with the reason logged and in `error`. A
 * GRE socket opens at once, or the port is not made (no addon, no CAP_NET_RAW, a local_ip the
 * host does not have: the reason says which).
 */

import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import { Subject, type Observable } from 'rxjs';
import { logger } from '../common/log.js';
import { fold, onesSum, checksumFromSum } from '../packet/checksum.js';
import { TUN_FLAG } from '../packet/key.js';
import { Packet, TUN_OPTIONS_MAX, type TunnelMeta } from '../packet/packet.js';
import { hwAddrFromName, MIN_FRAME, RxQueue } from './dummy.js';
import { zeroStats, type Netdev, type NetdevStats, type NetdevStatus, type Receiver } from './netdev.js';
import { errnoName } from './native.js';
import { numberToIp, RawIpSocket, type RawIpHandler } from './rawip.js';

export type TunnelType = 'vxlan' | 'geneve' | 'gre';

export const VXLAN_PORT = 4789;
export const GENEVE_PORT = 6081;
/** VXLAN header: flags (I = 0x08), 3 reserved bytes, VNI (3 bytes), 1 reserved byte. */
export const VXLAN_HLEN = 8;
/** Geneve fixed header: ver/optlen, O/C flags, protocol type, VNI (3 bytes), reserved. */
export const GENEVE_HLEN = 8;
/** Protocol type for an Ethernet payload (Transparent Ethernet Bridging), in Geneve and GRE. */
export const ETH_P_TEB = 0x6558;
/** GRE's IP protocol number. */
export const IPPROTO_GRE = 47;
/** GRE base header: flags and version (16 bits), protocol type (16 bits). */
export const GRE_HLEN = 4;
/**
 * Bits of GRE's first 16: C (checksum present), K (key present, RFC 2890), S (sequence number
 * present, RFC 2890). VERSION is the low 3 bits; REJECT are RFC 2784's reserved bits 1-5 other
 * than K and S (RFC 1701's routing and strict source route, and the top recursion bit), which
 * a receiver must discard; bits 6-12 are ignored.
 */
export const GRE_FLAG = { C: 0x8000, K: 0x2000, S: 0x1000, VERSION: 0x0007, REJECT: 0x4000 | 0x0800 | 0x0400 } as const;
/** Frames waiting for the receiver beyond this are dropped (rxDropped). */
export const TUNNEL_RX_QUEUE_LIMIT = 8192;
/** Inner MACs a remote_ip=flow port remembers, and far ends it floods to. */
export const LEARN_LIMIT = 4096;
export const REMOTE_LIMIT = 256;
/** A learned inner MAC is forgotten after this long without a packet from it. */
export const LEARN_AGE_MS = 300_000;

const log = logger('netdev');

// ---------------------------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------------------------

/** What decoding a packet found (a scratch record, reused). */
export interface TunnelHeader {
  /** The VNI or the GRE key (0 when the packet has none). */
  vni: number;
  /** TUN_FLAG bits for the metadata: KEY when the packet carries one, OAM (Geneve O), CSUM (GRE C). */
  flags: number;
  /** Offset and length of the Geneve options (0 for the others). */
  optStart: number;
  optLen: number;
  /** Offset of the inner Ethernet frame. */
  frameStart: number;
}

export function newTunnelHeader(): TunnelHeader {
  return { vni: 0, flags: 0, optStart: 0, optLen: 0, frameStart: 0 };
}

/** Parses a VXLAN datagram (the UDP payload) into `h`; the reason when it is not one. */
export function decodeVxlan(d: Uint8Array, h: TunnelHeader): string | undefined {
  if (d.length < VXLAN_HLEN + MIN_FRAME) return `short VXLAN datagram (${d.length} bytes)`;
  // RFC 7348 §5: the I flag must be set; the other flag and reserved bits are ignored.
  if ((d[0]! & 0x08) === 0) return 'VXLAN I flag clear';
  h.vni = (d[4]! << 16) | (d[5]! << 8) | d[6]!;
  h.flags = TUN_FLAG.KEY;
  h.optStart = VXLAN_HLEN;
  h.optLen = 0;
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
  h.flags = TUN_FLAG.KEY | ((d[1]! & 0x80) !== 0 ? TUN_FLAG.OAM : 0);
  h.optStart = GENEVE_HLEN;
  h.optLen = optLen;
  h.frameStart = frameStart;
  return undefined;
}

/**
 * Parses a GRE packet (the IP payload) into `h`; the reason when it is not one we carry: a
 * version other than 0, RFC 1701 routing, a payload other than Ethernet, a wrong checksum, or no
 * room for a frame after the optional checksum, key and sequence number words.
 */
export function decodeGre(d: Uint8Array, h: TunnelHeader): string | undefined {
  if (d.length < GRE_HLEN) return `short GRE packet (${d.length} bytes)`;
  const fv = (d[0]! << 8) | d[1]!;
  const ver = fv & GRE_FLAG.VERSION;
  if (ver !== 0) return `GRE version ${ver}`;
  if ((fv & GRE_FLAG.REJECT) !== 0) return `GRE flags 0x${fv.toString(16).padStart(4, '0')}: routing and strict source route (RFC 1701) are not supported`;
  const proto = (d[2]! << 8) | d[3]!;
  if (proto !== ETH_P_TEB) return `GRE protocol 0x${proto.toString(16).padStart(4, '0')} is not Ethernet`;
  const c = (fv & GRE_FLAG.C) !== 0;
  const k = (fv & GRE_FLAG.K) !== 0;
  const hlen = GRE_HLEN + (c ? 4 : 0) + (k ? 4 : 0) + ((fv & GRE_FLAG.S) !== 0 ? 4 : 0);
  if (d.length < hlen + MIN_FRAME) return `short GRE packet (${d.length} bytes, ${hlen} of header)`;
  // RFC 2784 §2.5: the checksum covers the GRE header and the payload; summed with it, all ones.
  if (c && fold(onesSum(d, 0, d.length)) !== 0xffff) return 'GRE checksum wrong';
  const keyAt = GRE_HLEN + (c ? 4 : 0);
  h.vni = k ? ((d[keyAt]! << 24) | (d[keyAt + 1]! << 16) | (d[keyAt + 2]! << 8) | d[keyAt + 3]!) >>> 0 : 0;
  h.flags = (k ? TUN_FLAG.KEY : 0) | (c ? TUN_FLAG.CSUM : 0);
  h.optStart = hlen;
  h.optLen = 0;
  h.frameStart = hlen;
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

/** What a GRE header carries besides the protocol type. */
export interface GreFields {
  /** The key (32 bits); absent: no K bit. */
  readonly key?: number | undefined;
  /** Set the C bit and the checksum. */
  readonly csum?: boolean;
  /** A sequence number (32 bits); absent: no S bit. */
  readonly seq?: number | undefined;
}

/** A GRE packet (the IP payload) carrying `frame` as Transparent Ethernet Bridging (a fresh buffer). */
export function encodeGre(frame: Uint8Array, f: GreFields = {}): Buffer {
  const c = f.csum === true;
  const hlen = GRE_HLEN + (c ? 4 : 0) + (f.key !== undefined ? 4 : 0) + (f.seq !== undefined ? 4 : 0);
  const b = Buffer.allocUnsafe(hlen + frame.length);
  b.writeUInt16BE((c ? GRE_FLAG.C : 0) | (f.key !== undefined ? GRE_FLAG.K : 0) | (f.seq !== undefined ? GRE_FLAG.S : 0), 0);
  b.writeUInt16BE(ETH_P_TEB, 2);
  let p = GRE_HLEN;
  if (c) {
    b.writeUInt32BE(0, p); // checksum and reserved1, zero while summing
    p += 4;
  }
  if (f.key !== undefined) {
    b.writeUInt32BE(f.key >>> 0, p);
    p += 4;
  }
  if (f.seq !== undefined) {
    b.writeUInt32BE(f.seq >>> 0, p);
    p += 4;
  }
  b.set(frame, hlen);
  if (c) b.writeUInt16BE(checksumFromSum(onesSum(b, 0, b.length)), GRE_HLEN);
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
  /** The VNI (0..2^24-1) or GRE key (0..2^32-1), or 'flow'. Default: 0 (GRE: none sent). */
  readonly key?: number | 'flow';
  /** UDP port to listen on and send to (default 4789 for VXLAN, 6081 for Geneve; not GRE). */
  readonly dstPort?: number;
  /** GRE: send with a checksum (default false). */
  readonly csum?: boolean;
}

/** A port's options once checked, with every default filled in. */
export interface TunnelPortConfig {
  readonly remoteIp: string;
  readonly localIp: string;
  /** The key taken (a GRE port without key= takes key 0, which keyless packets have) or 'flow'. */
  readonly key: number | 'flow';
  /** Whether frames go out with a key: always for VXLAN and Geneve; for GRE when key= was given. */
  readonly sendKey: boolean;
  /** The UDP port (0 for GRE). */
  readonly dstPort: number;
  readonly csum: boolean;
}

/** The options a UDP tunnel port (vxlan, geneve) takes on the command line and in the config file. */
export const TUNNEL_OPTION_NAMES = ['remote_ip', 'local_ip', 'key', 'dst_port'] as const;
/** The options a gre port takes. */
export const GRE_OPTION_NAMES = ['remote_ip', 'local_ip', 'key', 'csum'] as const;

/** The option names of a tunnel type. */
export function tunnelOptionNames(type: TunnelType): readonly string[] {
  return type === 'gre' ? GRE_OPTION_NAMES : TUNNEL_OPTION_NAMES;
}

/** Checks and converts a tunnel port's key=value options; the reason when they are wrong. */
export function parseTunnelOptions(type: TunnelType, o: Readonly<Record<string, string>>): TunnelNetdevOptions | string {
  const remote = o['remote_ip'];
  if (remote === undefined) return `a ${type} port needs remote_ip=IP or remote_ip=flow`;
  if (remote !== 'flow' && !isIPv4(remote)) return `remote_ip ${JSON.stringify(remote)} is not an IPv4 address or "flow"`;
  if (remote === '0.0.0.0') return 'remote_ip 0.0.0.0: use remote_ip=flow to take packets from anywhere';
  const local = o['local_ip'];
  if (local !== undefined && !isIPv4(local)) return `local_ip ${JSON.stringify(local)} is not an IPv4 address`;
  for (const k of Object.keys(o)) {
    if (!tunnelOptionNames(type).includes(k)) return `a ${type} port takes no option ${JSON.stringify(k)} (${tunnelOptionNames(type).join(', ')})`;
  }
  const base = { remoteIp: remote, ...(local !== undefined ? { localIp: local } : {}) };
  const k = o['key'];
  if (type === 'gre') {
    let key: number | 'flow' | undefined;
    if (k === 'flow') key = 'flow';
    else if (k !== undefined) {
      if (!/^(0x[0-9a-fA-F]{1,8}|\d{1,10})$/.test(k) || Number(k) > 0xffffffff) return `key ${JSON.stringify(k)} is not a GRE key (0..4294967295) or "flow"`;
      key = Number(k);
    }
    const c = o['csum'];
    if (c !== undefined && c !== 'true' && c !== 'false') return `csum ${JSON.stringify(c)} is not true or false`;
    return { ...base, ...(key !== undefined ? { key } : {}), csum: c === 'true' };
  }
  let key: number | 'flow' = 0;
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
  return { ...base, key, dstPort };
}

/** The options of `opts` as the key=value words parseTunnelOptions reads. */
function optionWords(opts: TunnelNetdevOptions): Record<string, string> {
  return {
    remote_ip: opts.remoteIp,
    ...(opts.localIp !== undefined ? { local_ip: opts.localIp } : {}),
    ...(opts.key !== undefined ? { key: String(opts.key) } : {}),
    ...(opts.dstPort !== undefined ? { dst_port: String(opts.dstPort) } : {}),
    ...(opts.csum !== undefined ? { csum: String(opts.csum) } : {}),
  };
}

function ipToNumber(ip: string): number {
  const [a = 0, b = 0, c = 0, d = 0] = ip.split('.').map(Number);
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** Dotted addresses to numbers and back, for the few far ends a switch talks to. */
const addrNumbers = new Map<string, number>();
const addrStrings = new Map<number, string>();

function addrNumber(s: string): number {
  let n = addrNumbers.get(s);
  if (n === undefined) {
    n = ipToNumber(s);
    if (addrNumbers.size >= 1024) addrNumbers.clear();
    addrNumbers.set(s, n);
  }
  return n;
}

function addrString(n: number): string {
  let s = addrStrings.get(n);
  if (s === undefined) {
    s = numberToIp(n);
    if (addrStrings.size >= 1024) addrStrings.clear();
    addrStrings.set(n, s);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// Transports
// ---------------------------------------------------------------------------------------------

/** Packets one send() hands a transport: out[i] goes to dsts[i] (i < n); sent[i] says whether it went. */
interface TxBatch {
  readonly out: readonly Buffer[];
  readonly dsts: readonly number[];
  readonly n: number;
  readonly sent: Uint8Array;
}

/** How a tunnel type's packets travel; the endpoint (TunnelEndpoint) does the rest. */
interface TunnelTransport {
  /** Resolves once the socket is usable (undefined), or with the reason it is not. */
  readonly ready: Promise<string | undefined>;
  /** Why the socket failed, once it has. */
  readonly error: string | undefined;
  /** Sends a batch; `failed` hears of errors the kernel reports later (dgram). */
  send(b: TxBatch, failed: (e: Error | null) => void): void;
  close(): void;
}

/** VXLAN and Geneve: a UDP socket bound to (local_ip, dst_port). */
class UdpTransport implements TunnelTransport {
  readonly ready: Promise<string | undefined>;
  error: string | undefined;
  private readonly socket: Socket;
  private closed = false;

  constructor(private readonly ep: TunnelEndpoint, private readonly port: number) {
    const where = `${ep.type} ${ep.localIp}:${port}`;
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
        const reason = `${where}: ${e.code ?? e.message}`;
        // The bind may fail inside bind() itself (the lookup answers at once), before the port
        // that made this socket is on its list: the ports hear of it a moment later.
        if (this.error === undefined) this.error = reason;
        queueMicrotask(() => {
          ep.fail(reason);
          resolve(reason);
        });
      });
    });
    this.socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => ep.arrive(msg, 0, addrNumber(rinfo.address), ep.localNum, rinfo.port, 0));
    this.socket.bind({ address: ep.localIp, port, exclusive: true });
  }

  send(b: TxBatch, failed: (e: Error | null) => void): void {
    const ok = !this.closed && this.error === undefined;
    for (let i = 0; i < b.n; i++) {
      if (ok) this.socket.send(b.out[i]!, this.port, addrString(b.dsts[i]!), failed);
      b.sent[i] = ok ? 1 : 0;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // Closed already (a failed bind closes it).
    }
  }
}

/** GRE: a raw IP socket of the addon for protocol 47, bound to local_ip. */
class RawIpTransport implements TunnelTransport {
  readonly ready = Promise.resolve(undefined);
  readonly error = undefined;

  constructor(private readonly sock: RawIpSocket) {}

  /** The transport, or why it cannot be had (no addon, no CAP_NET_RAW, ...), naming `what`. */
  static open(what: string, ep: TunnelEndpoint): RawIpTransport | string {
    const handler: RawIpHandler = {
      packet: (buf, start, src, dst, tosTtl) => ep.arrive(buf, start, src, dst, 0, tosTtl),
      bad: () => ep.ports[0]?.countRx('error'),
      // An error pending on the socket concerns what was sent; which port sent it is unknown:
      // the first port counts it.
      error: (errno) => {
        ep.ports[0]?.countTxError();
        log.debug('tunnel socket error', { type: ep.type, local: ep.localIp, error: errnoName(errno) });
      },
    };
    const sock = RawIpSocket.open(what, IPPROTO_GRE, ep.localNum, handler);
    return typeof sock === 'string' ? sock : new RawIpTransport(sock);
  }

  send(b: TxBatch): void {
    this.sock.send(b.out, b.dsts, b.n, b.sent);
  }

  close(): void {
    this.sock.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The shared socket
// ---------------------------------------------------------------------------------------------

/** Endpoints by "transport|local_ip" (one process: all bridges of a switch share them). */
const endpoints = new Map<string, TunnelEndpoint>();

/** One socket and the ports it serves: demultiplexing and the errors no port can own. */
class TunnelEndpoint {
  readonly ports: TunnelNetdev[] = [];
  readonly localNum: number;
  /** Set by open() before any port joins. */
  transport!: TunnelTransport;
  private readonly hdr = newTunnelHeader();
  private readonly decode: (d: Uint8Array, h: TunnelHeader) => string | undefined;
  private closed = false;

  constructor(
    readonly type: TunnelType,
    readonly localIp: string,
    /** "udp:PORT" or "ip:47": what a wildcard and a specific local_ip must not both take. */
    readonly transportId: string,
    /** How messages name the socket: "127.0.0.1:4789", "127.0.0.1 (GRE)". */
    readonly where: string,
    private readonly id: string,
  ) {
    this.localNum = localIp === '0.0.0.0' ? 0 : ipToNumber(localIp);
    this.decode = type === 'vxlan' ? decodeVxlan : type === 'geneve' ? decodeGeneve : decodeGre;
  }

  /** Opens the transport; the reason when it cannot be (then nothing is left open). */
  open(what: string, dstPort: number): string | undefined {
    if (this.type !== 'gre') {
      this.transport = new UdpTransport(this, dstPort);
      return undefined;
    }
    const t = RawIpTransport.open(what, this);
    if (typeof t === 'string') return t;
    this.transport = t;
    return undefined;
  }

  get error(): string | undefined {
    return this.transport.error;
  }

  remove(p: TunnelNetdev): void {
    const i = this.ports.indexOf(p);
    if (i >= 0) this.ports.splice(i, 1);
    if (this.ports.length === 0) this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    if (endpoints.get(this.id) === this) endpoints.delete(this.id);
    this.transport.close();
  }

  /** The transport failed (a UDP bind): every port goes down. */
  fail(reason: string): void {
    if (this.closed) return;
    log.error('tunnel socket failed', { reason, ports: this.ports.map((p) => p.name) });
    for (const p of this.ports) p.socketFailed(reason);
    this.close();
  }

  /** The port a packet from `src` with `key` belongs to (see the file comment's order). */
  private portFor(src: number, key: number): TunnelNetdev | undefined {
    let best: TunnelNetdev | undefined;
    let bestScore = -1;
    for (const p of this.ports) {
      const ipOk = p.remoteNum === undefined || p.remoteNum === src;
      const keyOk = p.fixedKey === undefined || p.fixedKey === key;
      if (!ipOk || !keyOk) continue;
      const score = (p.remoteNum !== undefined ? 2 : 0) + (p.fixedKey !== undefined ? 1 : 0);
      if (score > bestScore) {
        best = p;
        bestScore = score;
      }
    }
    return best;
  }

  /**
   * A packet arrived: msg[start..] is the tunnel header and what it carries (msg is ours to
   * keep), from `src` to `dst` (numbers; dst 0 when unknown), with the outer UDP source port and
   * ToS/TTL when known.
   */
  arrive(msg: Buffer, start: number, src: number, dst: number, srcPort: number, tosTtl: number): void {
    const first = this.ports[0];
    if (first === undefined) return;
    const h = this.hdr;
    if (this.decode(start === 0 ? msg : msg.subarray(start), h) !== undefined) {
      first.countRx('error');
      return;
    }
    const port = this.portFor(src, h.vni);
    if (port === undefined) {
      first.countRx('dropped');
      return;
    }
    port.deliver(msg, start, h, src, dst, srcPort, tosTtl);
  }
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
  readonly options: TunnelPortConfig;
  /** Resolves when the socket is bound (undefined) or could not be (the reason). */
  readonly ready: Promise<string | undefined>;
  readonly status$: Observable<NetdevStatus>;
  /** @internal The far end as a number; undefined for remote_ip=flow. */
  readonly remoteNum: number | undefined;
  /** @internal The key taken; undefined for key=flow. */
  readonly fixedKey: number | undefined;

  private readonly ep: TunnelEndpoint;
  private readonly counters: NetdevStats = zeroStats();
  private readonly statusSubject = new Subject<NetdevStatus>();
  /** Received frames, delivered in batches from the event loop (the dummy port's queue). */
  private readonly rxq: RxQueue;
  private linkUp = true;
  private closed = false;
  private failure: string | undefined;
  /** remote_ip=flow: inner MAC (48 bits as a number) -> far end and last seen; far ends -> last seen. */
  private readonly macs = new Map<number, { addr: number; seen: number }>();
  private readonly remotes = new Map<number, number>();
  private readonly sent = (e: Error | null): void => {
    if (e !== null) this.counters.txErrors++;
  };

  private constructor(name: string, type: TunnelType, opts: TunnelPortConfig, ep: TunnelEndpoint) {
    this.name = name;
    this.type = type;
    this.hwAddr = hwAddrFromName(name);
    this.options = opts;
    this.remoteNum = opts.remoteIp === 'flow' ? undefined : ipToNumber(opts.remoteIp);
    this.fixedKey = opts.key === 'flow' ? undefined : opts.key;
    this.ep = ep;
    this.ready = ep.transport.ready;
    this.status$ = this.statusSubject.asObservable();
    this.rxq = new RxQueue(this.counters, TUNNEL_RX_QUEUE_LIMIT);
  }

  /**
   * A tunnel port, or the reason it cannot be made: the options are wrong, its socket would
   * clash with another port's (see the file comment), or (GRE) the raw socket cannot be opened.
   * A UDP bind completes later (`ready`).
   */
  static open(name: string, type: TunnelType, opts: TunnelNetdevOptions): TunnelNetdev | string {
    const what = `${type} port ${name}`;
    const checked = parseTunnelOptions(type, optionWords(opts));
    if (typeof checked === 'string') return `${what}: ${checked}`;
    const localIp = checked.localIp ?? '0.0.0.0';
    const gre = type === 'gre';
    const dstPort = gre ? 0 : checked.dstPort!;
    const cfg: TunnelPortConfig = {
      remoteIp: checked.remoteIp, localIp, key: checked.key ?? 0, sendKey: !gre || checked.key !== undefined, dstPort, csum: checked.csum === true,
    };
    const transportId = gre ? `ip:${IPPROTO_GRE}` : `udp:${dstPort}`;
    const where = gre ? `${localIp} (GRE)` : `${localIp}:${dstPort}`;
    const id = `${transportId}|${localIp}`;
    for (const s of endpoints.values()) {
      if (s.transportId === transportId && s.localIp !== localIp && (s.localIp === '0.0.0.0' || localIp === '0.0.0.0')) {
        const other = s.ports[0]?.name ?? '?';
        return gre
          ? `${what}: GRE is taken on ${s.localIp} by port ${other}; a GRE socket on every address and one on a single address would both get each packet: give the ports the same local_ip`
          : `${what}: UDP port ${dstPort} is bound to ${s.localIp} by port ${other}; ports sharing a UDP port need the same local_ip`;
      }
    }
    let ep = endpoints.get(id);
    if (ep !== undefined) {
      if (ep.type !== type) return `${what}: ${where} carries ${ep.type} for port ${ep.ports[0]?.name ?? '?'}`;
      if (ep.error !== undefined) return `${what}: ${ep.error}`;
      const remoteNum = cfg.remoteIp === 'flow' ? undefined : ipToNumber(cfg.remoteIp);
      const fixedKey = cfg.key === 'flow' ? undefined : cfg.key;
      for (const p of ep.ports) {
        if (p.remoteNum === remoteNum && p.fixedKey === fixedKey) {
          return `${what}: port ${p.name} already takes remote_ip=${cfg.remoteIp} key=${cfg.key} on ${where}`;
        }
      }
    } else {
      ep = new TunnelEndpoint(type, localIp, transportId, where, id);
      const bad = ep.open(what, dstPort);
      if (bad !== undefined) return bad;
      endpoints.set(id, ep);
    }
    const dev = new TunnelNetdev(name, type, cfg, ep);
    ep.ports.push(dev);
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

  /** @internal A packet for this port, msg[start..] decoded into `h`; queues its frame. */
  deliver(msg: Buffer, start: number, h: TunnelHeader, src: number, dst: number, srcPort: number, tosTtl: number): void {
    const c = this.counters;
    if (!this.up || !this.rxq.accepts()) {
      c.rxDropped++;
      return;
    }
    // The packet's buffer is ours (dgram and rawip.ts allocate one per packet): the frame stays
    // where it is, the tunnel header becomes headroom. Options are copied, since a push would
    // overwrite the headroom they sit in.
    const at = start + h.frameStart;
    const pkt = new Packet(msg, at, msg.length);
    const meta: TunnelMeta = {
      idHi: 0, idLo: h.vni, src, dst, tpSrc: srcPort, tpDst: this.options.dstPort, tosTtl, flags: h.flags,
      options: h.optLen > 0 ? Uint8Array.from(msg.subarray(start + h.optStart, start + h.optStart + h.optLen)) : NO_OPTIONS,
    };
    pkt.tunnel = meta;
    if (this.remoteNum === undefined) this.learn(msg, at, src);
    this.rxq.pushPacket(pkt);
  }

  /** @internal Counts a packet the socket could not use. */
  countRx(what: 'error' | 'dropped'): void {
    if (what === 'error') this.counters.rxErrors++;
    else this.counters.rxDropped++;
  }

  /** @internal Counts a transmit error the kernel reported after the fact. */
  countTxError(): void {
    this.counters.txErrors++;
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
    const out: Buffer[] = [];
    const dsts: number[] = [];
    const frameOf: number[] = [];
    for (let i = 0; i < frames.length; i++) {
      const p = frames[i]!;
      const frame = p.buf.subarray(p.start, p.end);
      const packet = this.encapsulate(p, frame);
      if (this.remoteNum !== undefined) {
        out.push(packet);
        dsts.push(this.remoteNum);
        frameOf.push(i);
      } else {
        this.learnedDestinations(frame, (addr) => {
          out.push(packet);
          dsts.push(addr);
          frameOf.push(i);
        });
      }
    }
    const sentFlags = new Uint8Array(out.length);
    if (out.length > 0) this.ep.transport.send({ out, dsts, n: out.length, sent: sentFlags }, this.sent);
    // A frame counts as sent when at least one of its copies went.
    let sent = 0;
    let last = -1;
    for (let j = 0; j < out.length; j++) {
      const f = frameOf[j]!;
      if (sentFlags[j] === 0 || f === last) continue;
      last = f;
      sent++;
      c.txBytes += BigInt(frames[f]!.length);
    }
    c.txPackets += BigInt(sent);
    c.txDropped += BigInt(frames.length - sent);
    return sent;
  }

  /** The packet that carries `frame` (a fresh buffer), with the key and options `p` says. */
  private encapsulate(p: Packet, frame: Uint8Array): Buffer {
    const t = p.tunnel;
    const key = this.fixedKey ?? (t !== undefined ? t.idLo : 0);
    switch (this.type) {
      case 'vxlan': return encodeVxlan(key & 0xffffff, frame);
      case 'geneve': return encodeGeneve(key & 0xffffff, frame, t?.options ?? NO_OPTIONS, t !== undefined && (t.flags & TUN_FLAG.OAM) !== 0);
      case 'gre': return encodeGre(frame, { key: this.options.sendKey ? key >>> 0 : undefined, csum: this.options.csum });
    }
  }

  /** remote_ip=flow: the far end behind the inner destination, or every far end heard from. */
  private learnedDestinations(frame: Uint8Array, to: (addr: number) => void): void {
    const now = Date.now();
    if ((frame[0]! & 1) === 0) {
      const e = this.macs.get(macAt(frame, 0));
      if (e !== undefined && now - e.seen < LEARN_AGE_MS) {
        to(e.addr);
        return;
      }
    }
    for (const [addr, seen] of this.remotes) {
      if (now - seen >= LEARN_AGE_MS) {
        this.remotes.delete(addr);
        continue;
      }
      to(addr);
    }
  }

  private learn(msg: Buffer, at: number, addr: number): void {
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
    this.ep.remove(this);
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
