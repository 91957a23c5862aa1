/**
 * The demo (examples/demo.ts) as users run it: the switch, the learning-switch controller over
 * TCP, three simulated hosts. Every ping must be answered, the controller must learn each host,
 * and the datapath must end up forwarding host-to-host traffic itself.
 */

import test from 'ava';
import { demo } from '../examples/demo.js';

test('demo: hosts ping each other through the switch and the learning-switch controller', async (t) => {
  const lines: string[] = [];
  t.true(await demo((l) => lines.push(l)), lines.join('\n'));
  const text = lines.join('\n');
  for (const h of [1, 2, 3]) t.regex(text, new RegExp(`controller: learned 00:00:00:00:00:0${h} is on port ${h}`));
  t.is(lines.filter((l) => /: ping 10\.0\.0\.\d: reply in/.test(l)).length, 4);
  t.regex(text, /controller: flow installed 00:00:00:00:00:01 -> 00:00:00:00:00:02 out port 2/);
  // The last h1 -> h2 ping went through the flows the controller installed: the datapath has a
  // cached flow for it that counted the packet.
  t.regex(text, /in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x0800, packets:[1-9]/);
});
