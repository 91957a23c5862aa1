/**
 * Our own controller client (src/client) drives the real binary over TCP, as a controller would:
 * a table-miss flow to the controller, PACKET_IN for an injected frame, PACKET_OUT back out of a
 * port, flow stats and FLOW_REMOVED counting what the datapath forwarded.
 */

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { OfClient } from '../src/client/client.js';
import {
  OFPAT, OFPFC, OFPFF, OFPG, OFPMP, OFPP, OFPR, OFPRR, OFPT, OFPTT, OFPXMT, OFP_NO_BUFFER,
  type FlowRemoved, type Message, type PacketIn,
} from '../src/openflow/index.js';
import { buildPacket } from '../src/packet/build.js';
import { OFSWITCH_BIN, framesIn, startSwitch, waitFor } from './switch-process.js';
import { applyActions, flowMod, output } from './ofproto-helpers.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');



test('PACKET_IN to our client, PACKET_OUT back, flow stats and FLOW_REMOVED count the datapath\'s packets', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-client-'));
  const sw = await startSwitch(['--listen', 'ptcp:0', '--port', `p1@1,tx_pcap=${dir}/p1.pcap`, '--port', `p2@2,tx_pcap=${dir}/p2.pcap`]);
  const inject = (port: string, frame: Uint8Array): void => {
    const r = spawnSync(process.execPath, [OFSWITCH_BIN, 'ctl', '--socket', sw.socket, 'netdev-dummy/receive', port, hex(frame)], { encoding: 'utf8', timeout: 10_000 });
    t.is(r.status, 0, r.stderr);
  };
  const c = await OfClient.connect(sw.port);
  try {
    const [features] = await c.request({ type: OFPT.FEATURES_REQUEST } as Message);
    t.is(features!.type, OFPT.FEATURES_REPLY);
    c.send(flowMod({ xid: undefined, priority: 0, instructions: [applyActions({ type: OFPAT.OUTPUT, port: OFPP.CONTROLLER, maxLen: 0xffff })] }) as Message);
    await c.barrier();
    const f = buildPacket({ ipv4: {}, udp: { dst: 5000 }, minLength: 60 });
    const pin = firstValueFrom(c.messages$.pipe(filter((m): m is PacketIn => m.type === OFPT.PACKET_IN)));
    inject('p1', f);
    const pi = await pin;
    t.is(pi.reason, OFPR.NO_MATCH);
    t.deepEqual(pi.match, [{ field: OFPXMT.IN_PORT, value: 1 }]);
    t.is(hex(pi.data), hex(f));
    // The controller answers with a PACKET_OUT, as a learning switch would.
    c.send({ type: OFPT.PACKET_OUT, bufferId: OFP_NO_BUFFER, inPort: 1, actions: [output(2)], data: pi.data } as unknown as Message);
    const out = await waitFor('the packet-out on p2', () => { const fr = framesIn(join(dir, 'p2.pcap')); return fr.length > 0 ? fr : undefined; });
    t.deepEqual(out.map(hex), [hex(f)]);

    c.send(flowMod({ xid: undefined, priority: 100, match: [{ field: OFPXMT.IN_PORT, value: 1 }], flags: OFPFF.SEND_FLOW_REM, instructions: [applyActions(output(2))] }) as Message);
    await c.barrier();
    for (let i = 0; i < 3; i++) inject('p1', f);
    await waitFor('3 more on p2', () => (framesIn(join(dir, 'p2.pcap')).length >= 4 ? true : undefined));
    const replies = await c.request({
      type: OFPT.MULTIPART_REQUEST, flags: 0, mpType: OFPMP.FLOW, tableId: OFPTT.ALL, outPort: OFPP.ANY, outGroup: OFPG.ANY,
      cookie: 0n, cookieMask: 0n, match: [{ field: OFPXMT.IN_PORT, value: 1 }],
    } as unknown as Message);
    const stats = replies.flatMap((r) => (r as unknown as { stats: Array<{ priority: number; packetCount: bigint }> }).stats);
    t.deepEqual(stats.map((s) => [s.priority, s.packetCount]), [[100, 3n]]);
    const removed = firstValueFrom(c.messages$.pipe(filter((m): m is FlowRemoved => m.type === OFPT.FLOW_REMOVED), take(1), toArray()));
    c.send(flowMod({ xid: undefined, command: OFPFC.DELETE_STRICT, priority: 100, match: [{ field: OFPXMT.IN_PORT, value: 1 }] }) as Message);
    const [fr] = await removed;
    t.is(fr!.reason, OFPRR.DELETE);
    t.is(fr!.packetCount, 3n);
    t.is(fr!.byteCount, 180n);
  } finally {
    c.close();
    sw.proc.kill('SIGTERM');
    await sw.exited;
  }
});
