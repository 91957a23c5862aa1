/**
 * A private Open vSwitch (Debian package openvswitch-switch) for differential tests and
 * benchmarks: its own ovsdb-server and ovs-vswitchd in a temporary run directory, one bridge with
 * the userspace datapath (`datapath_type=netdev`; there is no kernel module here), OpenFlow 1.3
 * only, fail-mode secure, a passive TCP listener on 127.0.0.1 and N dummy ports.
 *
 * Nothing here touches the system's Open vSwitch: every ovs-* program gets OVS_RUNDIR,
 * OVS_LOGDIR, OVS_DBDIR and OVS_SYSCONFDIR pointing at the private directory, and is told the
 * database socket explicitly. ovs-vswitchd runs with `--enable-dummy=override --disable-system`:
 * every netdev type (including the `tap` device that the bridge's LOCAL port would otherwise
 * create) becomes an in-memory dummy, so no kernel interface is created and nothing needs TUN.
 * Stopping kills exactly the two daemons this module started (by the PIDs in their pidfiles) and
 * removes the directory; an exit hook does the same if the process ends without stop().
 *
 * Like peers.ts, this module imports nothing from src/.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { findTool } from './peers.js';

export interface OvsPortSpec {
  readonly name: string;
  readonly ofport: number;
}

export interface OvsSwitchOptions {
  /** Bridge name (also the LOCAL port's name). Default: a unique name like `ofd1a2b3c`. */
  readonly bridge?: string;
  /** Ports: a count (p1@1 … pN@N) or explicit names and numbers. Default 3. */
  readonly ports?: number | readonly OvsPortSpec[];
  /** Datapath id, 16 hex digits. Default 0000000000000001. */
  readonly dpid?: string;
}

export interface OvsSwitch {
  /** The private run directory (database, sockets, pidfiles, logs). */
  readonly dir: string;
  readonly bridge: string;
  /** The TCP port of the bridge's passive OpenFlow listener on 127.0.0.1. */
  readonly port: number;
  /** `tcp:127.0.0.1:PORT`, the OpenFlow target for ovs-ofctl. */
  readonly target: string;
  /** `unix:DIR/BRIDGE.mgmt`, the bridge's management socket (also OpenFlow). */
  readonly mgmt: string;
  /** First line of `ovs-vswitchd --version`. */
  readonly version: string;
  /** Runs ovs-vsctl against the private database; throws on failure; returns stdout. */
  vsctl(args: readonly string[]): string;
  /** The tail of ovs-vswitchd's log (for failure messages). */
  log(max?: number): string;
  /** Stops both daemons (by PID) and removes the run directory. Idempotent. */
  stop(): Promise<void>;
}

const PACKAGE = 'openvswitch-switch';
const SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';

function tail(text: string, max = 3000): string {
  return text.length <= max ? text : `...${text.slice(text.length - max)}`;
}

/** Installs openvswitch-switch when ovs-vswitchd is missing and we are root; throws otherwise. */
export function requireOvsSwitch(): void {
  if (findTool('ovs-vswitchd') !== null && findTool('ovsdb-server') !== null && findTool('ovs-vsctl') !== null) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!isRoot) {
    throw new Error(`ovs-vswitchd is not installed and we are not root; install it with 'sudo apt-get install -y ${PACKAGE}'`);
  }
  const apt = (args: string[]): SpawnSyncReturns<string> =>
    spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], {
      encoding: 'utf8',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      timeout: 15 * 60 * 1000,
      maxBuffer: 64 * 1024 * 1024,
    });
  let log = '';
  const u = apt(['update']);
  log += `$ apt-get update -> ${String(u.status)}\n${tail(u.stderr ?? '')}\n`;
  // The package's postinst tries to start the service; without systemd that is refused, harmlessly.
  const i = apt(['install', '-y', '--no-install-recommends', PACKAGE]);
  log += `$ apt-get install -y ${PACKAGE} -> ${String(i.status)}\n${tail(i.stdout ?? '')}\n${tail(i.stderr ?? '')}\n`;
  if (findTool('ovs-vswitchd') === null || findTool('ovs-vsctl') === null) {
    throw new Error(`installing Debian package ${PACKAGE} did not give ovs-vswitchd:\n${log}`);
  }
}

/** Reads a pidfile; null when it is missing or not a number. */
function readPid(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Every running instance, for the exit hook. */
const running = new Set<{ killNow(): void }>();
let hookInstalled = false;
function installExitHook(): void {
  if (hookInstalled) return;
  hookInstalled = true;
  process.once('exit', () => {
    for (const r of running) r.killNow();
  });
}

/** Starts a private ovsdb-server + ovs-vswitchd with one netdev bridge. */
export async function startOvsSwitch(opts: OvsSwitchOptions = {}): Promise<OvsSwitch> {
  requireOvsSwitch();
  const bin = (name: string): string => {
    const p = findTool(name);
    if (p === null) throw new Error(`${name} not found`);
    return p;
  };
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-ovs-'));
  const env = { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir, OVS_SYSCONFDIR: dir };
  const dbSock = join(dir, 'db.sock');
  const dbPidFile = join(dir, 'ovsdb.pid');
  const vsPidFile = join(dir, 'vswitchd.pid');
  const vsLog = join(dir, 'vswitchd.log');
  const bridge = opts.bridge ?? `ofd${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0')}`;
  const ports: readonly OvsPortSpec[] =
    typeof opts.ports === 'number' || opts.ports === undefined
      ? Array.from({ length: opts.ports ?? 3 }, (_, i) => ({ name: `p${i + 1}`, ofport: i + 1 }))
      : opts.ports;
  const dpid = opts.dpid ?? '0000000000000001';

  const run = (name: string, args: readonly string[]): string => {
    const r = spawnSync(bin(name), args, { encoding: 'utf8', env, timeout: 30_000 });
    if (r.error !== undefined || r.status !== 0) {
      throw new Error(`${name} ${args.join(' ')} failed (${r.error?.message ?? `exit ${String(r.status)}`}):\n${r.stderr}${r.stdout}`);
    }
    return r.stdout;
  };
  const log = (max = 3000): string => {
    try {
      return tail(readFileSync(vsLog, 'utf8'), max);
    } catch {
      return '(no log)';
    }
  };

  let stopped = false;
  const killNow = (): void => {
    for (const f of [vsPidFile, dbPidFile]) {
      const pid = readPid(f);
      if (pid !== null && alive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const handle = { killNow };
  running.add(handle);
  installExitHook();

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    // ovs-vswitchd first (it holds the database connection), then ovsdb-server.
    for (const f of [vsPidFile, dbPidFile]) {
      const pid = readPid(f);
      if (pid === null) continue;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        continue;
      }
      const t0 = Date.now();
      while (alive(pid) && Date.now() - t0 < 5000) await delay(20);
      if (alive(pid)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    running.delete(handle);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const version = (spawnSync(bin('ovs-vswitchd'), ['--version'], { encoding: 'utf8' }).stdout ?? '').split('\n')[0] ?? '';
    run('ovsdb-tool', ['create', join(dir, 'conf.db'), SCHEMA]);
    run('ovsdb-server', [
      `--remote=punix:${dbSock}`, `--pidfile=${dbPidFile}`, '--detach', '--no-chdir',
      `--log-file=${join(dir, 'ovsdb.log')}`, '-vconsole:off', join(dir, 'conf.db'),
    ]);
    const vsctl = (args: readonly string[]): string => run('ovs-vsctl', [`--db=unix:${dbSock}`, '--timeout=20', ...args]);
    vsctl(['--no-wait', 'init']);
    run('ovs-vswitchd', [
      `unix:${dbSock}`, '--enable-dummy=override', '--disable-system', `--pidfile=${vsPidFile}`, '--detach', '--no-chdir',
      `--log-file=${vsLog}`, '-vconsole:off',
    ]);
    const portArgs = ports.flatMap((p) => [
      '--', 'add-port', bridge, p.name, '--', 'set', 'interface', p.name, 'type=dummy', `ofport_request=${p.ofport}`,
    ]);
    vsctl([
      'add-br', bridge, '--', 'set', 'bridge', bridge, 'datapath_type=netdev', 'protocols=OpenFlow13', 'fail-mode=secure',
      `other-config:datapath-id=${dpid}`, '--', 'set-controller', bridge, 'ptcp:0:127.0.0.1', ...portArgs,
    ]);
    // The listener's port: ovs-vswitchd logs "listening on port N" once the controller is set.
    let port = 0;
    const t0 = Date.now();
    while (port === 0) {
      const m = /listening on port (\d+)/.exec(log(1_000_000));
      if (m !== null) port = Number(m[1]);
      else if (Date.now() - t0 > 10_000) throw new Error(`ovs-vswitchd did not report its OpenFlow listener:\n${log()}`);
      else await delay(20);
    }
    const mgmtPath = join(dir, `${bridge}.mgmt`);
    while (!existsSync(mgmtPath) && Date.now() - t0 < 10_000) await delay(20);
    return {
      dir, bridge, port, target: `tcp:127.0.0.1:${port}`, mgmt: `unix:${mgmtPath}`, version, vsctl, log, stop,
    };
  } catch (e) {
    const detail = log();
    await stop();
    throw new Error(`${(e as Error).message}\nvswitchd log:\n${detail}`);
  }
}
