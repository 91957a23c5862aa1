/**
 * Keeps the side-by-side benchmark (bench/switch-vs-ovs.ts) working: runs it in its short mode
 * (about a minute) and checks that every figure got a value from every system it applies to —
 * ofswitch, Open vSwitch and the C forwarder — that traffic really went through (a forwarding
 * figure of zero frames means the rules or the traffic are wrong, not that a switch is slow), and
 * that the namespaces and veths it made are gone afterwards. No speed is asserted: the figures
 * are for reading, and this machine is shared.
 *
 * Needs root, a C compiler, the native addon and openvswitch-switch (installed on demand).
 */

import test from 'ava';
import { existsSync } from 'node:fs';
import { formatSwitchBench, runSwitchBench } from '../bench/switch-vs-ovs.js';

test.serial('the side-by-side benchmark produces every figure for ofswitch, Open vSwitch and the C forwarder', async (t) => {
  if (process.getuid?.() !== 0) return t.fail('this test needs root (network namespaces, veth, AF_PACKET)');
  t.timeout(10 * 60_000);
  const lines: string[] = [];
  const r = await runSwitchBench({ short: true, log: (s) => lines.push(s) });
  const table = formatSwitchBench(r);
  t.log(table);
  t.is(r.mode, 'short');
  t.regex(r.ovsVersion, /Open vSwitch/);
  const ids = r.figures.map((f) => f.id);
  for (const id of ['1', '2', '3', '4a', '5', '6', '8a', '8b']) t.true(ids.includes(id), `figure ${id} is in the result`);
  t.true(ids.some((id) => id.startsWith('7/')), 'a memory figure is in the result');
  for (const f of r.figures) {
    t.true(f.systems.includes('ofswitch') && f.systems.includes('ovs'), `figure ${f.id} compares ofswitch with Open vSwitch`);
    for (const s of f.systems) {
      const v = f.values[s];
      t.not(v, undefined, `figure ${f.id} (${f.title}) has no value for ${s}: ${f.errors[s] ?? ''}`);
      if (v === undefined) continue;
      t.true(Number.isFinite(v.median) && v.min <= v.median && v.median <= v.max, `figure ${f.id} ${s}: ${JSON.stringify(v)}`);
      // Memory per rule can come out near zero (the heap had room); everything else is a count.
      if (!f.id.startsWith('7/')) t.true(v.median > 0, `figure ${f.id} ${s} is ${v.median} ${f.unit}`);
    }
    t.true(table.includes(f.title), `the table shows figure ${f.id}`);
  }
  t.true(r.figures.find((f) => f.id === '1')!.systems.includes('ceiling'), 'forwarding is compared with the C ceiling');
  const tag = `ofb${process.pid % 100000}`;
  for (const name of [`${tag}s`, `${tag}r`, `${tag}b`]) t.false(existsSync(`/sys/class/net/${name}`), `${name} was removed`);
  for (const ns of [`${tag}-s`, `${tag}-r`]) t.false(existsSync(`/run/netns/${ns}`), `namespace ${ns} was removed`);
  return undefined;
});
