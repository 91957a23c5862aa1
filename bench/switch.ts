/**
 * The whole switch in process (buildSwitch: ofproto, the Backer, the userspace datapath, dummy
 * ports), driven through its dummy ports and an in-process controller party:
 * - PACKET_INs per second delivered to a controller on table-miss (a table-miss flow to
 *   CONTROLLER; every frame an 'action' upcall and a PACKET_IN message);
 * - new megaflows per second through the full upcall path (xlate + install + execute), with a
 *   rule matching udp_dst exactly and every frame a different udp_dst;
 * - frames per second forwarded on the cached path end to end (dummy port receive, datapath,
 *   dummy port send).
 * Each figure is the median of three runs, with min and max.
 */

import { performance } from 'node:perf_hooks';
import { OFPAT, OFPP, OFPT, OFPXMT, type Message } from '../src/openflow/index.js';
import { initialControlState } from '../src/ofproto/roles.js';
import { buildSwitch } from '../src/cli/switch.js';
import { buildPacket } from '../src/packet/build.js';
import type { DummyNetdev } from '../src/netdev/dummy.js';
import { fmtRate } from './harness.js';

export interface SwitchBenchResult {
  readonly name: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

const flowMod = (priority: number, match: unknown[], actions: unknown[]): Message => ({
  type: OFPT.FLOW_MOD, xid: 1, cookie: 0n, cookieMask: 0n, tableId: 0, command: 0, idleTimeout: 0, hardTimeout: 0, priority,
  bufferId: 0xffffffff, outPort: OFPP.ANY, outGroup: 0xffffffff, flags: 0, match, instructions: [{ type: 4, actions }],
} as unknown as Message);

async function once(kind: 'packet-in' | 'upcall' | 'forward', n: number): Promise<number> {
  const sw = await buildSwitch({
    ports: [{ name: 'p1', ofport: 1, type: 'dummy' }, { name: 'p2', ofport: 2, type: 'dummy' }],
    probeInterval: 0, backer: { revalidateMs: 0 }, packetIn: { queueLimit: 1 << 20 },
  });
  let packetIns = 0;
  const party = {
    control: initialControlState(), active: true,
    send(m: Message) { if (m.type === OFPT.PACKET_IN) packetIns++; return 0; },
    sendError() {},
  };
  sw.ofproto.attach(party);
  const p1 = sw.netdev('p1') as DummyNetdev;
  const p2 = sw.netdev('p2') as DummyNetdev;
  let frames: Uint8Array[];
  if (kind === 'packet-in') {
    sw.ofproto.receive(flowMod(0, [], [{ type: OFPAT.OUTPUT, port: OFPP.CONTROLLER, maxLen: 128 }]), party);
    frames = Array.from({ length: n }, () => buildPacket({ ipv4: {}, udp: {}, minLength: 60 }));
  } else if (kind === 'upcall') {
    sw.ofproto.receive(flowMod(10, [{ field: OFPXMT.ETH_TYPE, value: 0x800 }, { field: OFPXMT.IP_PROTO, value: 17 }, { field: OFPXMT.UDP_DST, value: 7 }], [{ type: OFPAT.OUTPUT, port: 2, maxLen: 0 }]), party);
    sw.ofproto.receive(flowMod(1, [{ field: OFPXMT.ETH_TYPE, value: 0x800 }, { field: OFPXMT.IP_PROTO, value: 17 }], [{ type: OFPAT.OUTPUT, port: 2, maxLen: 0 }]), party);
    // The priority-10 rule reads udp_dst, so each udp_dst is its own megaflow.
    frames = Array.from({ length: n }, (_, i) => buildPacket({ ipv4: {}, udp: { dst: i % 65536 }, minLength: 60 }));
  } else {
    sw.ofproto.receive(flowMod(10, [{ field: OFPXMT.IN_PORT, value: 1 }], [{ type: OFPAT.OUTPUT, port: 2, maxLen: 0 }]), party);
    frames = Array.from({ length: n }, () => buildPacket({ ipv4: {}, udp: {}, minLength: 60 }));
  }
  const done = (): boolean => (kind === 'packet-in' ? packetIns >= n : p2.stats().txPackets >= BigInt(n));
  const t0 = performance.now();
  // Inject in slices so the port's queue (65,536 frames) never overflows.
  for (let i = 0; i < n; i += 8192) {
    p1.receive(frames.slice(i, i + 8192));
    while (p1.stats().rxPackets < BigInt(Math.min(n, i + 8192))) await new Promise((r) => setImmediate(r));
  }
  while (!done()) await new Promise((r) => setImmediate(r));
  const secs = (performance.now() - t0) / 1000;
  await sw.close();
  return n / secs;
}

export async function runSwitchBench(quick: boolean): Promise<SwitchBenchResult[]> {
  const out: SwitchBenchResult[] = [];
  const cases: Array<[string, 'packet-in' | 'upcall' | 'forward', number]> = [
    ['PACKET_IN to a controller (table miss)', 'packet-in', quick ? 5_000 : 50_000],
    ['new megaflows (xlate + install + execute)', 'upcall', quick ? 5_000 : 50_000],
    ['forwarded end to end, cached (dummy ports)', 'forward', quick ? 20_000 : 300_000],
  ];
  for (const [name, kind, n] of cases) {
    const runs: number[] = [];
    for (let i = 0; i < 3; i++) runs.push(await once(kind, n));
    runs.sort((a, b) => a - b);
    out.push({ name, median: runs[1]!, min: runs[0]!, max: runs[2]! });
  }
  return out;
}

export function printSwitchBench(rs: readonly SwitchBenchResult[]): void {
  console.log('\nWhole switch in process (buildSwitch, dummy ports), per second: median (min-max) of 3');
  for (const r of rs) console.log(`  ${r.name.padEnd(46)} ${fmtRate(r.median).padStart(10)}  (${fmtRate(r.min)}-${fmtRate(r.max)})`);
}
