/**
 * A whole switch assembled from its layers, as `ofswitch start` runs it: one userspace datapath,
 * the Backer over it, one bridge (an Ofproto) with its LOCAL port and its ports on netdevs, and
 * (optionally) the control socket. Tests and examples build the same thing in-process with
 * buildSwitch, so they exercise what users run.
 */

import { Ofproto, type OfprotoOptions } from '../ofproto/ofproto.js';
import { Backer, type BackerOptions, type DatapathBridge } from '../ofproto/datapath.js';
import type { PortSpec } from '../ofproto/ports.js';
import { UserspaceDatapath, type UserspaceDatapathOptions } from '../dpif/userspace.js';
import type { Netdev } from '../netdev/netdev.js';
import { DummyNetdev } from '../netdev/dummy.js';
import { createPatchPair } from '../netdev/patch.js';
import { serveControl, type ControlServer } from './ctl.js';
import { switchCommands } from './commands.js';

export interface SwitchOptions extends OfprotoOptions {
  readonly datapath?: UserspaceDatapathOptions;
  readonly backer?: BackerOptions;
  /** Serve the control socket at this path. */
  readonly socket?: string;
}

export interface RunningSwitch {
  readonly ofproto: Ofproto;
  readonly dpif: UserspaceDatapath;
  readonly backer: Backer;
  readonly bridge: DatapathBridge;
  readonly control: ControlServer | undefined;
  /** A port's device by name (tests inject frames into dummy ports through it). */
  netdev(name: string): Netdev | undefined;
  close(): Promise<void>;
}

/** Makes the devices for port specs: dummy ports alone, patch ports in pairs. Throws with a clear message. */
export function makeNetdevs(specs: readonly PortSpec[]): Map<string, Netdev> {
  const out = new Map<string, Netdev>();
  try {
    for (const spec of specs) {
      if (out.has(spec.name)) continue;
      const o = spec.options ?? {};
      if (spec.type === 'patch') {
        const peerName = o['peer'];
        const peer = specs.find((q) => q.name === peerName && q.type === 'patch' && q.options?.['peer'] === spec.name);
        if (peer === undefined) throw new Error(`patch port ${spec.name}: its peer ${peerName} must be a patch port with peer=${spec.name}`);
        const [a, b] = createPatchPair(spec.name, peer.name);
        out.set(spec.name, a);
        out.set(peer.name, b);
      } else {
        out.set(spec.name, new DummyNetdev(spec.name, {
          ...(o['rx_pcap'] !== undefined ? { rxPcap: o['rx_pcap'] } : {}),
          ...(o['tx_pcap'] !== undefined ? { txPcap: o['tx_pcap'] } : {}),
        }));
      }
    }
  } catch (e) {
    for (const n of out.values()) n.close();
    throw e;
  }
  return out;
}

/** Builds and starts a switch (no listeners or controllers yet: the caller adds those). */
export async function buildSwitch(opts: SwitchOptions = {}): Promise<RunningSwitch> {
  const { ports = [], datapath, backer: backerOpts, socket, ...ofOpts } = opts;
  const netdevs = makeNetdevs(ports);
  const ofproto = new Ofproto(ofOpts);
  const dpif = new UserspaceDatapath({ name: 'ofswitch@dp', now: ofproto.now, ...datapath });
  const backer = new Backer(dpif, { now: ofproto.now, ...backerOpts });
  const fail = async (e: unknown): Promise<never> => {
    backer.close();
    dpif.close();
    for (const n of netdevs.values()) n.close();
    await ofproto.close();
    throw e instanceof Error ? e : new Error(String(e));
  };
  const bridge = backer.addBridge(ofproto, new DummyNetdev(ofproto.bridge));
  if (typeof bridge === 'string') return fail(new Error(bridge));
  for (const spec of ports) {
    const r = bridge.addPort(spec, netdevs.get(spec.name)!);
    if (typeof r === 'string') return fail(new Error(r));
  }
  let control: ControlServer | undefined;
  if (socket !== undefined) {
    try {
      control = await serveControl(socket, switchCommands(backer));
    } catch (e) {
      return fail(e);
    }
  }
  return {
    ofproto, dpif, backer, bridge, control,
    netdev: (name) => dpif.portQuery(name)?.netdev,
    close: async () => {
      await control?.close();
      backer.close();
      dpif.close();
      await ofproto.close();
    },
  };
}
