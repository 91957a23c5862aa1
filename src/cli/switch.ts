/**
 * A whole switch assembled from its layers, as `ofswitch start` runs it: one userspace datapath,
 * the Backer over it, and bridges (each an Ofproto with its LOCAL port, its ports on netdevs, its
 * listeners and controllers), plus the control socket. `ofswitch ctl` changes it at run time
 * through the methods here (add-br, add-port, set-controller, ...). Tests and examples build the
 * same thing in-process with buildSwitch, so they exercise what users run.
 */

import { performance } from 'node:perf_hooks';
import { OFPP, OFPPS } from '../openflow/index.js';
import { Ofproto, dpidFor, type OfprotoOptions } from '../ofproto/ofproto.js';
import { Backer, type BackerOptions, type DatapathBridge } from '../ofproto/datapath.js';
import type { ActiveController, Listener } from '../ofproto/connmgr.js';
import type { TlsConfig, TlsSource } from '../ofproto/tls.js';
import type { PortSpec, SwitchPort } from '../ofproto/ports.js';
import { UserspaceDatapath, type UserspaceDatapathOptions } from '../dpif/userspace.js';
import type { Netdev } from '../netdev/netdev.js';
import { DummyNetdev } from '../netdev/dummy.js';
import { PatchNetdev } from '../netdev/patch.js';
import { TapNetdev } from '../netdev/tap.js';
import { makeNetdevs, openNetdev } from './netdevs.js';
import { serveControl, type ControlServer } from './ctl.js';
import { switchCommands } from './commands.js';

export interface SwitchOptions extends OfprotoOptions {
  readonly datapath?: UserspaceDatapathOptions;
  readonly backer?: BackerOptions;
  /** Serve the control socket at this path. */
  readonly socket?: string;
  /** TLS credentials for ssl: and pssl: targets of every bridge, those added later included. */
  readonly tls?: TlsConfig | TlsSource;
  /** The first bridge's LOCAL port: in memory (default) or a TAP device (see addBridge). */
  readonly local?: 'dummy' | 'internal';
}

/** One bridge of a running switch. */
export interface BridgeHandle {
  readonly name: string;
  readonly ofproto: Ofproto;
  readonly dp: DatapathBridge;
  /** Active controller targets (set-controller), by target text. */
  readonly controllers: Map<string, ActiveController>;
  readonly listeners: Listener[];
}

export class RunningSwitch {
  control: ControlServer | undefined;
  private readonly handles = new Map<string, BridgeHandle>();

  private constructor(
    readonly dpif: UserspaceDatapath,
    readonly backer: Backer,
    private readonly defaults: OfprotoOptions,
    private readonly tls: TlsConfig | TlsSource | undefined,
  ) {}

  /** Builds the datapath and the first bridge (no listeners or controllers: the caller adds those). */
  static async create(opts: SwitchOptions = {}): Promise<RunningSwitch> {
    const { ports = [], datapath, backer: backerOpts, socket, tls, local, ...ofOpts } = opts;
    // One clock for the datapath and every bridge (flow timeouts compare their times).
    const now = ofOpts.now ?? (() => performance.now());
    const dpif = new UserspaceDatapath({ name: 'ofswitch@dp', now, ...datapath });
    const backer = new Backer(dpif, { now, ...backerOpts });
    const sw = new RunningSwitch(dpif, backer, { ...ofOpts, now }, tls);
    try {
      const first = await sw.addBridge({ ...ofOpts, bridge: ofOpts.bridge ?? 'br0', ports, ...(local !== undefined ? { local } : {}) });
      if (typeof first === 'string') throw new Error(first);
      if (socket !== undefined) sw.control = await serveControl(socket, switchCommands(sw));
    } catch (e) {
      await sw.close();
      throw e instanceof Error ? e : new Error(String(e));
    }
    return sw;
  }

  /** The first bridge's switch (most callers run one bridge). */
  get ofproto(): Ofproto {
    return this.first().ofproto;
  }

  get bridge(): DatapathBridge {
    return this.first().dp;
  }

  private first(): BridgeHandle {
    const h = this.handles.values().next();
    if (h.done === true) throw new Error('the switch has no bridge');
    return h.value;
  }

  bridges(): BridgeHandle[] {
    return [...this.handles.values()];
  }

  bridgeNamed(name: string): BridgeHandle | undefined {
    return this.handles.get(name);
  }

  /** A port's device by name, on any bridge. */
  netdev(name: string): Netdev | undefined {
    return this.dpif.portQuery(name)?.netdev;
  }

  /** Adds a bridge with its LOCAL port and ports; the reason when it cannot. */
  /**
   * Adds a bridge with its LOCAL port and ports; the reason when it cannot. `local: 'internal'`
   * makes the LOCAL port a TAP device named after the bridge (root and the addon needed), as
   * Open vSwitch's internal port; the default is an in-memory port.
   */
  async addBridge(opts: OfprotoOptions & { readonly bridge: string; readonly local?: 'dummy' | 'internal' }): Promise<BridgeHandle | string> {
    const name = opts.bridge;
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) return `bridge name ${JSON.stringify(name)}: 1 to 15 letters, digits, '_', '-' or '.'`;
    if (this.handles.has(name)) return `a bridge named ${name} exists already`;
    if (this.dpif.portQuery(name) !== undefined) return `a port named ${name} exists already`;
    const { ports: all = [], local = 'dummy', ...rest } = opts;
    // Patch ports whose peer is on another bridge are added one by one afterwards (addPort
    // wires each to its peer when that exists); the rest are made together.
    const crossPatch = (p: PortSpec): boolean => p.type === 'patch' && !all.some((q) => q.name === p.options?.['peer']);
    const ports = all.filter((p) => !crossPatch(p));
    let netdevs: Map<string, Netdev>;
    try {
      for (const p of all) if (this.dpif.portQuery(p.name) !== undefined) throw new Error(`a port named ${p.name} exists already`);
      netdevs = makeNetdevs(ports);
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    const ofproto = new Ofproto({ ...this.defaults, ...rest, datapathId: rest.datapathId ?? dpidFor(name) });
    if (this.tls !== undefined) ofproto.connmgr.setTls(this.tls);
    let localDev: Netdev;
    if (local === 'internal') {
      const tap = TapNetdev.open(name, { type: 'internal' });
      if (typeof tap === 'string') {
        for (const n of netdevs.values()) n.close();
        await ofproto.close();
        return tap;
      }
      localDev = tap;
    } else {
      localDev = new DummyNetdev(name);
    }
    const dp = this.backer.addBridge(ofproto, localDev);
    if (typeof dp === 'string') {
      for (const n of netdevs.values()) n.close();
      await ofproto.close();
      return dp;
    }
    const h: BridgeHandle = { name, ofproto, dp, controllers: new Map(), listeners: [] };
    this.handles.set(name, h);
    for (const spec of all) {
      const r = crossPatch(spec) ? this.addPort(name, spec) : dp.addPort(spec, netdevs.get(spec.name)!);
      if (typeof r === 'string') {
        await this.delBridge(name);
        return r;
      }
    }
    return h;
  }

  /** Removes a bridge: its controllers, listeners, flows and ports. */
  async delBridge(name: string): Promise<string | undefined> {
    const h = this.handles.get(name);
    if (h === undefined) return `no bridge named ${name}`;
    this.handles.delete(name);
    this.backer.removeBridge(name);
    await h.ofproto.close();
    return undefined;
  }

  /**
   * Adds a port to a bridge. A patch port's peer may already exist (on any bridge, unconnected):
   * the two are then wired together; otherwise it waits, link down, for its peer.
   */
  addPort(bridge: string, spec: PortSpec): SwitchPort | string {
    const h = this.handles.get(bridge);
    if (h === undefined) return `no bridge named ${bridge}`;
    if (this.dpif.portQuery(spec.name) !== undefined || this.handles.has(spec.name)) return `a port named ${spec.name} exists already`;
    let netdev: Netdev;
    try {
      if (spec.type === 'patch') {
        const mine = new PatchNetdev(spec.name);
        const peer = this.dpif.portQuery(spec.options?.['peer'] ?? '')?.netdev;
        if (peer instanceof PatchNetdev && peer.peer === undefined) mine.connect(peer);
        netdev = mine;
      } else {
        netdev = openNetdev(spec);
      }
    } catch (e) {
      return e instanceof Error ? e.message : String(e);
    }
    const r = h.dp.addPort(spec, netdev);
    if (typeof r === 'string') netdev.close();
    return r;
  }

  /** Removes a port by name (from whichever bridge holds it, or the one named). */
  delPort(name: string, bridge?: string): string | undefined {
    for (const h of this.handles.values()) {
      if (bridge !== undefined && h.name !== bridge) continue;
      const p = h.ofproto.ports.byNameOf(name);
      if (p === undefined) continue;
      if (p.name === h.name) return `${name} is the bridge's LOCAL port: use del-br`;
      return h.dp.delPort(p.portNo) ? undefined : `cannot remove port ${name}`;
    }
    return bridge === undefined ? `no port named ${name}` : `bridge ${bridge} has no port named ${name}`;
  }

  /** Replaces a bridge's controller targets (set-controller); none removes them all (del-controller). */
  setControllers(bridge: string, targets: readonly string[]): string | undefined {
    const h = this.handles.get(bridge);
    if (h === undefined) return `no bridge named ${bridge}`;
    for (const [t, a] of h.controllers) {
      if (targets.includes(t)) continue;
      a.stop();
      h.controllers.delete(t);
    }
    for (const t of targets) {
      if (h.controllers.has(t)) continue;
      try {
        h.controllers.set(t, h.ofproto.connect(t));
      } catch (e) {
        return `controller ${t}: ${e instanceof Error ? e.message : String(e)}`;
      }
    }
    return undefined;
  }

  /** Opens a passive listener on a bridge. */
  async listen(bridge: string, target: string): Promise<Listener> {
    const h = this.handles.get(bridge);
    if (h === undefined) throw new Error(`no bridge named ${bridge}`);
    const l = await h.ofproto.listen(target);
    h.listeners.push(l);
    return l;
  }

  /** Bridges, their ports with OpenFlow numbers, controllers and whether each is connected. */
  show(): string {
    const lines: string[] = [];
    for (const h of this.handles.values()) {
      const o = h.ofproto;
      lines.push(`Bridge ${h.name}`, `    datapath_id: ${o.datapathId.toString(16).padStart(16, '0')}`, `    fail_mode: ${o.failMode.mode}${o.failOpen ? ' (failed open)' : ''}`);
      for (const [t, a] of h.controllers) lines.push(`    Controller "${t}"${a.connection?.version !== undefined ? '\n        is_connected: true' : ''}`);
      for (const l of h.listeners) lines.push(`    Listener "${l.address}"`);
      for (const p of o.ports.list()) {
        const dpPort = h.dp.port(p.portNo);
        const type = dpPort?.netdev.type ?? p.type;
        const num = p.portNo === OFPP.LOCAL ? 'LOCAL' : String(p.portNo);
        const state = (p.state & OFPPS.LINK_DOWN) !== 0 ? ' (link down)' : '';
        lines.push(`    Port ${p.name}`, `        ofport: ${num}, type: ${p.name === h.name ? 'internal' : type}${state}`);
      }
    }
    return lines.join('\n');
  }

  async close(): Promise<void> {
    await this.control?.close();
    this.control = undefined;
    for (const name of [...this.handles.keys()]) await this.delBridge(name);
    this.backer.close();
    this.dpif.close();
  }
}

/** Builds and starts a switch (no listeners or controllers yet: the caller adds those). */
export function buildSwitch(opts: SwitchOptions = {}): Promise<RunningSwitch> {
  return RunningSwitch.create(opts);
}
