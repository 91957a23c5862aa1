/**
 * The port syntax of `ofswitch start --port` and `ofswitch ctl add-port`:
 * NAME[@OFPORT][,type=TYPE][,KEY=VALUE...], with the options each type takes.
 */

import { OFPP } from '../openflow/index.js';
import type { PortSpec, PortType } from '../ofproto/ports.js';
import { GRE_OPTION_NAMES, parseTunnelOptions, TUNNEL_OPTION_NAMES } from '../netdev/tunnel.js';

/** Options each port type takes. */
const PORT_OPTIONS: Readonly<Record<string, readonly string[]>> = {
  dummy: ['rx_pcap', 'tx_pcap'],
  patch: ['peer'],
  system: [],
  tap: [],
  internal: [],
  vxlan: TUNNEL_OPTION_NAMES,
  geneve: TUNNEL_OPTION_NAMES,
  gre: GRE_OPTION_NAMES,
};

/** The types a port may be given (internal is the LOCAL port's own). */
const PORT_TYPES: readonly string[] = ['dummy', 'patch', 'system', 'tap', 'vxlan', 'geneve', 'gre'];

/**
 * Parses `NAME[@OFPORT][,type=dummy|patch|system|tap|vxlan|geneve|gre][,key=value…]`. Tunnel
 * ports take remote_ip=IP|flow (required), local_ip=IP and key=N|flow; vxlan and geneve also
 * dst_port=N, gre csum=true|false (netdev/tunnel.ts).
 */
export function parsePortSpec(text: string): PortSpec | string {
  const [head = '', ...opts] = text.split(',');
  const at = head.lastIndexOf('@');
  const name = at < 0 ? head : head.slice(0, at);
  if (name === '') return `--port ${JSON.stringify(text)}: the port needs a name`;
  if (Buffer.byteLength(name) > 15) return `--port ${JSON.stringify(text)}: a port name has at most 15 bytes`;
  let ofport: number | undefined;
  if (at >= 0) {
    const n = head.slice(at + 1);
    if (!/^\d{1,10}$/.test(n) || Number(n) < 1 || Number(n) > OFPP.MAX) return `--port ${JSON.stringify(text)}: OFPORT must be a number in 1..${OFPP.MAX}`;
    ofport = Number(n);
  }
  let type: string = 'dummy';
  const options: Record<string, string> = {};
  for (const o of opts) {
    const eq = o.indexOf('=');
    const k = eq < 0 ? o : o.slice(0, eq);
    const v = eq < 0 ? '' : o.slice(eq + 1);
    if (v === '') return `--port ${JSON.stringify(text)}: option ${JSON.stringify(k)} needs a value (key=value)`;
    if (k === 'type') {
      if (!(PORT_TYPES as readonly string[]).includes(v)) return `--port ${JSON.stringify(text)}: port type ${JSON.stringify(v)} is not available (${PORT_TYPES.join(', ')})`;
      type = v;
    } else {
      if (k in options) return `--port ${JSON.stringify(text)}: option ${JSON.stringify(k)} given twice`;
      options[k] = v;
    }
  }
  const allowed = PORT_OPTIONS[type]!;
  for (const k of Object.keys(options)) {
    if (!allowed.includes(k)) return `--port ${JSON.stringify(text)}: unknown option ${JSON.stringify(k)} for a ${type} port (${allowed.length > 0 ? allowed.join(', ') : 'it takes none'})`;
  }
  if (type === 'patch' && options['peer'] === undefined) return `--port ${JSON.stringify(text)}: a patch port needs peer=NAME`;
  if (type === 'patch' && options['peer'] === name) return `--port ${JSON.stringify(text)}: a patch port cannot be its own peer`;
  if (type === 'vxlan' || type === 'geneve' || type === 'gre') {
    const t = parseTunnelOptions(type, options);
    if (typeof t === 'string') return `--port ${JSON.stringify(text)}: ${t}`;
  }
  return { name, ...(ofport !== undefined ? { ofport } : {}), type: type as PortType, ...(Object.keys(options).length > 0 ? { options } : {}) };
}
