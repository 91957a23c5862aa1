/**
 * The start-up warm-up (src/cli/warmup.ts): it really drives the upcall, PACKET_IN and
 * PACKET_OUT paths of its private bridge, leaves a switch running in the same process untouched,
 * stops when asked, and `--warmup` is parsed like the other start flags.
 */

import test from 'ava';
import { OFPT, type Message } from '../src/openflow/index.js';
import { buildSwitch } from '../src/cli/switch.js';
import { parseStartArgs } from '../src/cli/main.js';
import { warmUp } from '../src/cli/warmup.js';
import { buildPacket } from '../src/packet/build.js';
import type { DummyNetdev } from '../src/netdev/dummy.js';
import { applyActions, flowMod, inPort, output, party } from './ofproto-helpers.js';

test('every warm-up frame is a miss through xlate; packet-outs and packet-ins run too', async (t) => {
  const r = await warmUp({ rounds: 10 });
  t.is(r.frames, 80);
  t.is(r.misses, r.frames, 'flows are flushed between rounds, so each frame is an upcall');
  t.is(r.packetOuts, 40);
  t.is(r.packetIns, 10, 'the port-3 rule sends one frame a round to the controller stub');
});

test('a switch in the same process sees nothing of a warm-up: no flows, misses, frames or packet-ins', async (t) => {
  const sw = await buildSwitch({ ports: [{ name: 'p1', ofport: 1, type: 'dummy' }, { name: 'p2', ofport: 2, type: 'dummy' }], probeInterval: 0 });
  try {
    const p = party();
    sw.ofproto.attach(p);
    sw.ofproto.receive(flowMod({ match: [inPort(1)], instructions: [applyActions(output(2))] }), p);
    const before = sw.dpif.stats();
    await warmUp({ rounds: 5 });
    const after = sw.dpif.stats();
    t.is(after.flows, before.flows);
    t.is(after.missed, before.missed);
    t.is(after.hit, before.hit);
    t.is((sw.netdev('p2') as DummyNetdev).sent.length, 0);
    t.deepEqual(p.sent.filter((m: Message) => m.type === OFPT.PACKET_IN), []);
    // And the switch still forwards.
    (sw.netdev('p1') as DummyNetdev).receive(buildPacket({ ipv4: {}, udp: {}, minLength: 60 }));
    for (let i = 0; i < 4; i++) await new Promise((r) => setImmediate(r));
    t.is((sw.netdev('p2') as DummyNetdev).sent.length, 1);
  } finally {
    await sw.close();
  }
});

test('an aborted warm-up stops between rounds', async (t) => {
  const ac = new AbortController();
  ac.abort();
  const r = await warmUp({ rounds: 50, signal: ac.signal });
  t.is(r.frames, 0);
});

test('--warmup on|off', (t) => {
  const on = parseStartArgs(['--port', 'p1']);
  const off = parseStartArgs(['--port', 'p1', '--warmup', 'off']);
  t.true(typeof on !== 'string' && on.warmup);
  t.true(typeof off !== 'string' && !off.warmup);
  t.is(parseStartArgs(['--warmup', 'maybe']), 'start: --warmup "maybe": on or off');
});
