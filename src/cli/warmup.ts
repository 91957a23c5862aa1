/**
 * Warming up the packet paths of a fresh switch process.
 *
 * V8 runs a function from bytecode until it has been called often enough to be optimised. The
 * switch's per-packet paths get there within a second of traffic, but the upcall path (a miss:
 * extract, xlate, megaflow install, execute) runs only when a new flow appears, so on a switch
 * that has just started, or one whose flows are mostly cached, the first packet of a new flow
 * went through interpreted code: measured on this machine, a miss took 350–800 µs in the
 * upcall handler before any warm-up and about 75 µs after, against 25 µs when misses come in a
 * stream (bench/switch-vs-ovs.ts figure 8a is the first packet of a ping).
 *
 * warmUp() builds a private switch in the same process, on dummy ports nobody can see, with a
 * small pipeline of the usual kinds (in_port, an IPv4 prefix, goto_table, a UDP port, NORMAL,
 * CONTROLLER), and pushes a few thousand synthetic frames through it as misses (its datapath
 * flows are flushed between rounds), plus PACKET_OUTs and PACKET_INs to a controller stub.
 * Nothing of it is shared with the real switch: not its ports, flows, counters, MAC tables or
 * log. It runs in slices from the event loop (setImmediate between rounds), so the real switch
 * serves controllers and traffic meanwhile, and it costs a few hundred milliseconds of CPU once.
 * `ofswitch start --no-warmup` skips it.
 */

import { OFPAT, OFPIT, OFPP, OFPT, OFPXMT, type Action, type Instruction, type Message, type Oxm } from '../openflow/index.js';
import { initialControlState } from '../ofproto/roles.js';
import { buildPacket, type PacketDesc } from '../packet/build.js';
import type { DummyNetdev } from '../netdev/dummy.js';
import { buildSwitch } from './switch.js';

export interface WarmupOptions {
  /** Rounds of frames (default 200); each round is a set of misses on every port. */
  readonly rounds?: number;
  /** Stops the warm-up between rounds (the switch is stopping). */
  readonly signal?: AbortSignal;
}

export interface WarmupReport {
  /** Frames that went through the private datapath, misses (upcalls) among them. */
  readonly frames: number;
  readonly misses: number;
  readonly packetOuts: number;
  readonly packetIns: number;
  readonly ms: number;
}

const out = (port: number): Action => ({ type: OFPAT.OUTPUT, port, maxLen: 0 });
const apply = (...actions: Action[]): Instruction => ({ type: OFPIT.APPLY_ACTIONS, actions });

function flowMod(tableId: number, priority: number, match: Oxm[], instructions: Instruction[]): Message {
  return {
    type: OFPT.FLOW_MOD, xid: 0, cookie: 0n, cookieMask: 0n, tableId, command: 0, idleTimeout: 0, hardTimeout: 0, priority,
    bufferId: 0xffffffff, outPort: OFPP.ANY, outGroup: 0xffffffff, flags: 0, match, instructions,
  } as Message;
}

/** The private pipeline: a bit of everything a controller commonly installs. */
const PIPELINE: readonly Message[] = [
  flowMod(0, 100, [{ field: OFPXMT.IN_PORT, value: 1 }, { field: OFPXMT.ETH_TYPE, value: 0x0806 }], [apply(out(OFPP.FLOOD))]),
  flowMod(0, 90, [{ field: OFPXMT.ETH_TYPE, value: 0x0800 }, { field: OFPXMT.IPV4_DST, value: '10.1.0.0', mask: '255.255.0.0' }],
    [{ type: OFPIT.GOTO_TABLE, tableId: 1 }]),
  flowMod(0, 80, [{ field: OFPXMT.IN_PORT, value: 2 }], [apply(out(1))]),
  flowMod(0, 70, [{ field: OFPXMT.ETH_TYPE, value: 0x86dd }], [apply(out(OFPP.NORMAL))]),
  flowMod(0, 60, [{ field: OFPXMT.IN_PORT, value: 3 }], [apply({ type: OFPAT.OUTPUT, port: OFPP.CONTROLLER, maxLen: 128 })]),
  flowMod(0, 0, [], [apply(out(OFPP.NORMAL))]),
  flowMod(1, 10, [{ field: OFPXMT.ETH_TYPE, value: 0x0800 }, { field: OFPXMT.IP_PROTO, value: 17 }, { field: OFPXMT.UDP_DST, value: 53 }],
    [apply({ type: OFPAT.SET_FIELD, field: { field: OFPXMT.IPV4_DST, value: '10.1.0.53' } } as Action, out(2))]),
  flowMod(1, 0, [], [apply({ type: OFPAT.DEC_NW_TTL } as Action, out(2))]),
];

/** Frames of round r: every one a different flow from the rounds before (and after a flush, a miss). */
function framesOf(r: number): Array<[port: string, frame: Uint8Array]> {
  const mac = (host: number): string => `02:00:00:00:${((host >> 8) & 0xff).toString(16).padStart(2, '0')}:${(host & 0xff).toString(16).padStart(2, '0')}`;
  const ip = (net: number, host: number): string => `10.${net}.${(host >> 8) & 0xff}.${host & 0xff}`;
  const h = (r % 250) + 1;
  const descs: Array<[string, PacketDesc]> = [
    ['w1', { eth: { src: mac(h), dst: 'ff:ff:ff:ff:ff:ff' }, arp: { sha: mac(h), spa: ip(0, h), tpa: ip(0, h + 1) } }],
    ['w1', { eth: { src: mac(h), dst: mac(h + 1) }, ipv4: { src: ip(0, h), dst: ip(1, h) }, udp: { src: 1000 + r, dst: 53 }, minLength: 60 }],
    ['w1', { eth: { src: mac(h), dst: mac(h + 1) }, ipv4: { src: ip(0, h), dst: ip(1, h) }, tcp: { src: 2000 + r, dst: 80 }, minLength: 60 }],
    ['w1', { eth: { src: mac(h), dst: mac(h + 1) }, ipv4: { src: ip(0, h), dst: ip(2, h) }, icmp: { type: 8 }, minLength: 98 }],
    ['w1', { eth: { src: mac(h), dst: mac(h + 2) }, vlans: [{ vid: 10 + (r % 8) }], ipv4: { src: ip(0, h), dst: ip(3, h) }, udp: { src: r, dst: 9 }, minLength: 64 }],
    ['w2', { eth: { src: mac(h + 1), dst: mac(h) }, ipv4: { src: ip(1, h), dst: ip(0, h) }, udp: { src: 53, dst: 1000 + r }, minLength: 60 }],
    ['w2', { eth: { src: mac(h + 1), dst: mac(h) }, ipv6: {}, udp: { src: 3000 + r, dst: 443 }, minLength: 70 }],
    ['w3', { eth: { src: mac(h + 3), dst: mac(h) }, ipv4: { src: ip(4, h), dst: ip(0, h) }, tcp: { src: 4000 + r, dst: 22 }, minLength: 60 }],
  ];
  return descs.map(([port, d]) => [port, buildPacket(d)]);
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function warmUp(opts: WarmupOptions = {}): Promise<WarmupReport> {
  const t0 = performance.now();
  const rounds = Math.max(1, opts.rounds ?? 200);
  const sw = await buildSwitch({
    bridge: 'ofswitch-warmup', ports: ['w1', 'w2', 'w3'].map((name, i) => ({ name, ofport: i + 1, type: 'dummy' as const })),
    probeInterval: 0, backer: { revalidateMs: 0 },
  });
  let packetIns = 0;
  let packetOuts = 0;
  let frames = 0;
  try {
    const of = sw.ofproto;
    const party = {
      control: initialControlState(), active: true,
      send(m: Message): number { if (m.type === OFPT.PACKET_IN) packetIns++; return 0; },
      sendError(): void { /* nothing: the private pipeline is valid */ },
    };
    of.attach(party);
    for (const m of PIPELINE) of.receive(m, party);
    const ports = new Map(['w1', 'w2', 'w3'].map((n) => [n, sw.netdev(n) as DummyNetdev]));
    for (let r = 0; r < rounds && opts.signal?.aborted !== true; r++) {
      const batch = framesOf(r);
      for (const [port, frame] of batch) ports.get(port)!.receive(frame);
      frames += batch.length;
      const data = batch[1]![1];
      for (let i = 0; i < 4; i++) {
        of.receive({ type: OFPT.PACKET_OUT, xid: 0, bufferId: 0xffffffff, inPort: OFPP.CONTROLLER, actions: [out(1 + (i % 3))], data } as Message, party);
        packetOuts++;
      }
      await tick();
      await tick();
      sw.dpif.flowFlush();
    }
    const misses = Number(sw.dpif.stats().missed);
    return { frames, misses, packetOuts, packetIns, ms: performance.now() - t0 };
  } finally {
    await sw.close();
  }
}
