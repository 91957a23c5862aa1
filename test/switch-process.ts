/**
 * Runs the real `ofswitch start` binary for tests: spawn it, wait for the line that says where it
 * listens, and hand back the port, its stderr so far, and a promise of its exit code. Tests stop
 * it by PID (proc.kill) and await `exited`.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readPcap } from '../src/netdev/pcap.js';

/** bin/ofswitch.js (which runs dist/), or OFSWITCH_BIN: an entry point running another build. */
export const OFSWITCH_BIN = process.env['OFSWITCH_BIN'] ?? fileURLToPath(new URL('../../bin/ofswitch.js', import.meta.url));

export interface SwitchProcess {
  readonly proc: ChildProcess;
  readonly port: number;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
  /** The control socket's path (a private one unless the test gave --socket). */
  readonly socket: string;
}

/** Spawns `ofswitch start ARGS` and waits (30 s at most) for "listening on SCHEME:PORT:127.0.0.1". */
export async function startSwitch(args: readonly string[], scheme: 'ptcp' | 'pssl' = 'ptcp'): Promise<SwitchProcess> {
  // A private control socket, so that test switches never touch the machine's default one.
  const given = args.indexOf('--socket');
  const socket = given >= 0 ? args[given + 1]! : join(mkdtempSync(join(tmpdir(), 'ofswitch-test-')), 'ctl');
  const full = given >= 0 ? args : [...args, '--socket', socket];
  const proc = spawn(process.execPath, [OFSWITCH_BIN, 'start', ...full], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const listening = new RegExp(`^listening on ${scheme}:(\\d+):127\\.0\\.0\\.1$`, 'm');
  const port = await new Promise<number>((resolve, reject) => {
    // Generous: a loaded machine (two cores, tests in parallel) can take seconds to start node.
    const timer = setTimeout(() => {
      proc.kill('SIGKILL'); // never leave a switch behind
      reject(new Error(`ofswitch: no listening line within 30 s; stderr:\n${err}`));
    }, 30_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = listening.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`ofswitch exited with ${code} before listening; stderr:\n${err}`)); });
  });
  return { proc, port, stderr: () => err, exited, socket };
}

export interface OfctlResult {
  readonly status: number | null;
  readonly out: string;
  readonly err: string;
}

/**
 * Runs `ovs-ofctl -O OpenFlow13 [--options] CMD tcp:127.0.0.1:PORT [ARGS]` against a switch
 * process (options in `args` go before the command, as ovs-ofctl wants them).
 */
export function ofctlAt(ovsOfctl: string, port: number, args: readonly string[], input?: string, timeoutMs = 20_000): OfctlResult {
  const opts = args.filter((a) => a.startsWith('--'));
  const [cmd, ...rest] = args.filter((a) => !a.startsWith('--'));
  const r = spawnSync(ovsOfctl, ['-O', 'OpenFlow13', ...opts, cmd!, `tcp:127.0.0.1:${port}`, ...rest], {
    encoding: 'utf8', timeout: timeoutMs, ...(input !== undefined ? { input } : {}),
  });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

/** Frames in a dummy port's tx_pcap file (none yet: an empty list). */
export function framesIn(path: string): Uint8Array[] {
  if (!existsSync(path)) return [];
  const r = readPcap(path);
  return typeof r === 'string' ? [] : r.frames;
}

/** Polls `fn` every 25 ms until it gives a value (or throws after `ms`). */
export async function waitFor<T>(what: string, fn: () => T | undefined, ms = 10_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
