/**
 * The datapath's action vocabulary (ODP actions), after the Linux/OVS datapath ABI
 * (../shared/reference/odp-abi.md, OVS_ACTION_ATTR_*): what xlate produces and what a datapath
 * executes on a packet, in order.
 *
 * Where this vocabulary departs from the kernel's attribute encoding, it does so to stay close to
 * what the packet layer can do in one call:
 * - `set` names one OpenFlow (OXM basic) field and its wire value, as packet/rewrite.ts setField
 *   takes it, instead of a nested OVS_KEY_ATTR_* header;
 * - TTL changes are explicit values (`set_nw_ttl`, `set_mpls_ttl`): xlate reads the TTL (it is
 *   then part of the megaflow) and writes the result, as OVS does with set(ipv4(ttl=…));
 * - `push_vlan` / `push_mpls` / `push_pbb` have OpenFlow's meaning (the new header copies its
 *   fields from the one it covers, see rewrite.ts); xlate follows with `set` for the fields the
 *   pipeline changed afterwards;
 * - `userspace` carries a typed cookie (the OpenFlow packet-in facts) instead of opaque bytes.
 *
 * Port numbers in `output` are datapath (ODP) port numbers, not OpenFlow ones.
 */

import { OXM_FIELDS } from '../../proto/oxm.js';

/** OVS_ACTION_ATTR_* numbers of the actions here (for reference and for a netlink backend). */
export const ODP_ACTION = {
  OUTPUT: 1,
  USERSPACE: 2,
  SET: 3,
  PUSH_VLAN: 4,
  POP_VLAN: 5,
  PUSH_MPLS: 9,
  POP_MPLS: 10,
  METER: 19,
  CLONE: 20,
  DROP: 24,
} as const;

/**
 * What a `userspace` action tells the layer above when it runs (OVS_USERSPACE_ATTR_USERDATA):
 * a packet-in to the controllers with these facts about where in the pipeline it was sent.
 */
export interface ControllerCookie {
  readonly kind: 'controller';
  /** OFPR_* (NO_MATCH, ACTION, INVALID_TTL) */
  readonly reason: number;
  readonly tableId: number;
  /** Cookie of the rule that sent it (all ones for none, as OpenFlow says). */
  readonly cookie: bigint;
  /** Bytes of the packet to send (OFPCML_NO_BUFFER 0xffff: all; absent: the connection's miss_send_len). */
  readonly maxLen?: number;
  /** The OpenFlow metadata register when the packet was sent (the packet-in match carries it). */
  readonly metadata: bigint;
  /** The OpenFlow port the packet came in on (the packet-in match's in_port). */
  readonly inPort: number;
  /** Which bridge's controllers (a datapath may hold several bridges). */
  readonly bridge: string;
}

export type UserspaceCookie = ControllerCookie;

export type OdpAction =
  | { readonly type: 'output'; readonly port: number }
  | { readonly type: 'userspace'; readonly cookie: UserspaceCookie }
  /** One OXM basic field (OFPXMT_*) set to a wire value, as rewrite.ts setField takes it. */
  | { readonly type: 'set'; readonly field: number; readonly value: Uint8Array }
  | { readonly type: 'set_nw_ttl'; readonly ttl: number }
  | { readonly type: 'set_mpls_ttl'; readonly ttl: number }
  | { readonly type: 'push_vlan'; readonly tpid: number }
  | { readonly type: 'pop_vlan' }
  | { readonly type: 'push_mpls'; readonly ethertype: number }
  | { readonly type: 'pop_mpls'; readonly ethertype: number }
  | { readonly type: 'push_pbb'; readonly ethertype: number }
  | { readonly type: 'pop_pbb' }
  /** Run the packet through a datapath meter; the meter may drop it or remark its DSCP. */
  | { readonly type: 'meter'; readonly meterId: number }
  /** Run `actions` on a copy of the packet; the original continues unchanged afterwards. */
  | { readonly type: 'clone'; readonly actions: readonly OdpAction[] }
  /** Stop: the packet is dropped here, for this reason (an empty action list drops too). */
  | { readonly type: 'drop'; readonly reason: string };

/** How a `set` prints: `name=value` for one OXM field and its wire value. */
export type FieldNamer = (field: number, value: Uint8Array) => string;

/** `ipv4_dst=10.0.0.1`, `eth_src=00:00:00:00:00:01`, `vlan_vid=4196` (the OXM names of proto/oxm.ts). */
export const formatSetField: FieldNamer = (field, value) => {
  const def = OXM_FIELDS[field];
  const b = value;
  if (def === undefined) return `field${field}=0x${Buffer.from(b).toString('hex')}`;
  let v: string;
  switch (def.kind) {
    case 'mac': v = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(':'); break;
    case 'ipv4': v = Array.from(b).join('.'); break;
    case 'ipv6': {
      const groups: string[] = [];
      for (let i = 0; i + 1 < b.length; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
      v = groups.join(':');
      break;
    }
    default: {
      let n = 0n;
      for (const x of b) n = (n << 8n) | BigInt(x);
      v = def.kind === 'u64' ? `0x${n.toString(16)}` : n.toString();
    }
  }
  return `${def.name}=${v}`;
};

const defaultNamer = formatSetField;

function formatCookie(c: UserspaceCookie): string {
  const parts = [`reason=${c.reason}`, `table=${c.tableId}`, `cookie=0x${c.cookie.toString(16)}`];
  if (c.maxLen !== undefined) parts.push(`max_len=${c.maxLen}`);
  if (c.metadata !== 0n) parts.push(`metadata=0x${c.metadata.toString(16)}`);
  return `controller(${parts.join(',')})`;
}

/** One action as text, in the style of OVS's datapath actions (`2`, `set(...)`, `push_vlan(...)`). */
export function formatAction(a: OdpAction, namer: FieldNamer = defaultNamer): string {
  switch (a.type) {
    case 'output': return String(a.port);
    case 'userspace': return `userspace(${formatCookie(a.cookie)})`;
    case 'set': return `set(${namer(a.field, a.value)})`;
    case 'set_nw_ttl': return `set(nw_ttl=${a.ttl})`;
    case 'set_mpls_ttl': return `set(mpls_ttl=${a.ttl})`;
    case 'push_vlan': return `push_vlan(tpid=0x${a.tpid.toString(16)})`;
    case 'pop_vlan': return 'pop_vlan';
    case 'push_mpls': return `push_mpls(eth_type=0x${a.ethertype.toString(16)})`;
    case 'pop_mpls': return `pop_mpls(eth_type=0x${a.ethertype.toString(16)})`;
    case 'push_pbb': return `push_pbb(eth_type=0x${a.ethertype.toString(16)})`;
    case 'pop_pbb': return 'pop_pbb';
    case 'meter': return `meter(${a.meterId})`;
    case 'clone': return `clone(${formatActions(a.actions, namer)})`;
    case 'drop': return a.reason === '' ? 'drop' : `drop(${a.reason})`;
  }
}

/** An action list as text; the empty list is `drop`, as OVS prints it. */
export function formatActions(actions: readonly OdpAction[], namer: FieldNamer = defaultNamer): string {
  return actions.length === 0 ? 'drop' : actions.map((a) => formatAction(a, namer)).join(',');
}
