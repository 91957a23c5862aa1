/**
 * A learning-switch controller written with the project's own client (src/client): the classic
 * first OpenFlow program. On connect it installs a table-miss flow that sends packets to it; on
 * each PACKET_IN it learns which port the source MAC is on, and then either installs a flow for
 * the destination (when it knows where that is) and sends the packet there, or floods it.
 *
 *   npm run build && node dist/examples/learning-switch.js PORT   (a switch listening on ptcp:PORT)
 */

import { OfClient } from '../src/client/client.js';
import {
  OFPAT, OFPFC, OFPIT, OFPP, OFPT, OFPXMT, OFP_NO_BUFFER, OFPG,
  type Message, type PacketIn,
} from '../src/openflow/index.js';

const mac = (b: Uint8Array, at: number): string => Array.from(b.subarray(at, at + 6), (x) => x.toString(16).padStart(2, '0')).join(':');

export interface LearningSwitch {
  /** MAC -> port learned so far. */
  readonly table: Map<string, number>;
  close(): void;
}

/** Connects to a switch's listener and runs the learning switch on it; `log` hears what it does. */
export async function runLearningSwitch(port: number, log: (line: string) => void = () => {}): Promise<LearningSwitch> {
  const c = await OfClient.connect(port);
  const table = new Map<string, number>();
  const flow = (priority: number, match: unknown[], actions: unknown[], idleTimeout = 0): Message => ({
    type: OFPT.FLOW_MOD, cookie: 0n, cookieMask: 0n, tableId: 0, command: OFPFC.ADD, idleTimeout, hardTimeout: 0,
    priority, bufferId: OFP_NO_BUFFER, outPort: OFPP.ANY, outGroup: OFPG.ANY, flags: 0, match,
    instructions: [{ type: OFPIT.APPLY_ACTIONS, actions }],
  } as unknown as Message);
  // Table miss: to the controller, whole packets.
  c.send(flow(0, [], [{ type: OFPAT.OUTPUT, port: OFPP.CONTROLLER, maxLen: 0xffff }]));
  await c.barrier();
  log('controller: table-miss flow installed (send everything unknown to me)');
  c.messages$.subscribe((m) => {
    if (m.type !== OFPT.PACKET_IN) return;
    const pi = m as PacketIn;
    const inPort = pi.match.find((o) => o.field === OFPXMT.IN_PORT)?.value as number | undefined;
    if (inPort === undefined || pi.data.length < 14) return;
    const dst = mac(pi.data, 0);
    const src = mac(pi.data, 6);
    if (table.get(src) !== inPort) {
      table.set(src, inPort);
      log(`controller: learned ${src} is on port ${inPort}`);
    }
    const out = table.get(dst);
    if (out !== undefined && out !== inPort) {
      // Known destination: a flow so the switch forwards the rest of this conversation itself.
      c.send(flow(10, [{ field: OFPXMT.IN_PORT, value: inPort }, { field: OFPXMT.ETH_DST, value: dst }, { field: OFPXMT.ETH_SRC, value: src }],
        [{ type: OFPAT.OUTPUT, port: out, maxLen: 0 }], 60));
      log(`controller: flow installed ${src} -> ${dst} out port ${out}`);
    }
    c.send({
      type: OFPT.PACKET_OUT, bufferId: OFP_NO_BUFFER, inPort,
      actions: [{ type: OFPAT.OUTPUT, port: out ?? OFPP.FLOOD, maxLen: 0 }], data: pi.data,
    } as unknown as Message);
    if (out === undefined) log(`controller: ${dst} unknown, flooding`);
  });
  return { table, close: () => c.close() };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const port = Number(process.argv[2] ?? 6653);
  await runLearningSwitch(port, (l) => console.log(l));
}
