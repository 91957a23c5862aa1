/**
 * The devices behind ports, by port type: what `start --port` and `ctl add-port` create.
 * dummy (in memory, pcap files), patch (in pairs), system and tap (the native addon), vxlan and
 * geneve (UDP tunnels) and gre (a raw IP socket of the native addon), netdev/tunnel.ts.
 */

import type { PortSpec } from '../ofproto/ports.js';
import type { Netdev } from '../netdev/netdev.js';
import { DummyNetdev } from '../netdev/dummy.js';
import { createPatchPair } from '../netdev/patch.js';
import { SystemNetdev } from '../netdev/afpacket.js';
import { TapNetdev } from '../netdev/tap.js';
import { TunnelNetdev, parseTunnelOptions } from '../netdev/tunnel.js';

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
        out.set(spec.name, openNetdev(spec));
      }
    }
  } catch (e) {
    for (const n of out.values()) n.close();
    throw e;
  }
  return out;
}

/** The device for a port that is not a patch port; throws with the operator's message. */
export function openNetdev(spec: PortSpec): Netdev {
  if (spec.type === 'system' || spec.type === 'tap') {
    const d = spec.type === 'system' ? SystemNetdev.open(spec.name) : TapNetdev.open(spec.name);
    if (typeof d === 'string') throw new Error(d);
    return d;
  }
  // A string: the port types of ofproto/ports.ts may not list the tunnel types yet.
  const type: string = spec.type ?? 'dummy';
  if (type === 'vxlan' || type === 'geneve' || type === 'gre') {
    const opts = parseTunnelOptions(type, spec.options ?? {});
    if (typeof opts === 'string') throw new Error(`${type} port ${spec.name}: ${opts}`);
    const d = TunnelNetdev.open(spec.name, type, opts);
    if (typeof d === 'string') throw new Error(d);
    return d;
  }
  return dummyFor(spec);
}

function dummyFor(spec: PortSpec): DummyNetdev {
  const o = spec.options ?? {};
  return new DummyNetdev(spec.name, {
    ...(o['rx_pcap'] !== undefined ? { rxPcap: o['rx_pcap'] } : {}),
    ...(o['tx_pcap'] !== undefined ? { txPcap: o['tx_pcap'] } : {}),
  });
}
