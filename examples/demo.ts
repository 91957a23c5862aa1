/**
 * The whole thing, no root needed: a switch (br0 with three dummy ports), the learning-switch
 * controller of learning-switch.ts connected to it over TCP, and three simulated hosts that ping
 * each other. It prints what the hosts, the controller and the datapath do, and exits 0 when
 * every ping was answered.
 *
 *   npm run demo
 */

import { buildSwitch } from '../src/cli/switch.js';
import { switchCommands } from '../src/cli/commands.js';
import type { DummyNetdev } from '../src/netdev/dummy.js';
import { runLearningSwitch } from './learning-switch.js';
import { SimHost } from './hosts.js';

export async function demo(log: (line: string) => void = (l) => console.log(l)): Promise<boolean> {
  const sw = await buildSwitch({
    ports: [1, 2, 3].map((i) => ({ name: `p${i}`, ofport: i, type: 'dummy' as const })),
    probeInterval: 0,
  });
  const listener = await sw.listen('br0', 'ptcp:0:127.0.0.1');
  log(`switch: br0 listening on ${listener.address}, ports p1 p2 p3`);
  const ctl = await runLearningSwitch(listener.port!, log);
  const hosts = [1, 2, 3].map((i) => new SimHost(`h${i}`, `00:00:00:00:00:0${i}`, `10.0.0.${i}`, sw.netdev(`p${i}`) as DummyNetdev, log));
  let ok = true;
  try {
    for (const [a, b] of [[0, 1], [1, 2], [2, 0], [0, 1]] as const) {
      const from = hosts[a]!;
      const to = hosts[b]!;
      try {
        const ms = await from.ping(to.ip);
        log(`${from.name}: ping ${to.ip}: reply in ${ms.toFixed(2)} ms`);
      } catch (e) {
        ok = false;
        log(`${from.name}: ping ${to.ip}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    const cmd = switchCommands(sw);
    log('\n$ ofswitch ctl dpctl/show');
    log(await cmd(['dpctl/show']));
    log('\n$ ofswitch ctl dpctl/dump-flows');
    log(await cmd(['dpctl/dump-flows']));
  } finally {
    ctl.close();
    await sw.close();
  }
  log(ok ? '\nevery ping was answered' : '\nsome pings were not answered');
  return ok;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = (await demo()) ? 0 : 1;
}
