/**
 * ofswitch as Mininet's switch (examples/mininet/ofswitch.py), driven through Mininet's Python
 * API (test/mininet/tree.py): a tree of depth 2 with ovs-testcontroller, pingall with 0% loss.
 * Needs root; Mininet comes from Debian (package mininet). Node names carry a per-run tag, and
 * Mininet's own net.stop() removes what it made; the switches are stopped by their PIDs.
 */

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const script = fileURLToPath(new URL('../../test/mininet/tree.py', import.meta.url));

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

test('Mininet tree (depth 2, 3 ofswitches, 4 hosts) with ovs-testcontroller: pingall loses nothing, TCP crosses it', async (t) => {
  if (process.getuid?.() !== 0) return t.fail('this test needs root (Mininet)');
  if (!existsSync('/usr/lib/python3/dist-packages/mininet')) return t.fail('Mininet is not installed (Debian package mininet; .ci/run installs it)');
  const tag = `m${process.pid % 10000}`;
  const port = await freePort();
  const r = spawnSync('/usr/bin/python3', [script, tag, String(port)], { encoding: 'utf8', timeout: 180_000, env: { ...process.env, NODE: process.execPath } });
  const last = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  let result: { loss?: number; switches?: string[]; flows?: string; tcpBytes?: number; tcpOut?: string };
  try {
    result = JSON.parse(last) as typeof result;
  } catch {
    return t.fail(`tree.py printed no result (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  t.deepEqual(result.switches, [`${tag}s1`, `${tag}s2`, `${tag}s3`]);
  t.is(result.loss, 0, r.stdout + r.stderr);
  t.true((result.tcpBytes ?? 0) > 100_000, `TCP across the tree: ${result.tcpBytes} bytes; ${result.tcpOut ?? ''}`);
  t.regex(result.flows ?? '', /lookups: hit:\d+ missed:\d+ lost:0/);
  return undefined;
});
