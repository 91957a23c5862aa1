/**
 * Build an OpenFlow 1.3 FLOW_MOD, encode it, decode it back, and print it three ways.
 *
 *   npm run build && node dist/examples/flow-mod.js
 *
 * The hex this prints can be checked with Open vSwitch: `ovs-ofctl ofp-print HEX`.
 */

import {
  encode, decode, formatMessage, toJson, toHex, checkPrerequisites,
  OFPT, OFPFC, OFPIT, OFPAT, OFPXMT, OFPP, OFPG, OFP_NO_BUFFER, type FlowMod,
} from '../src/openflow/index.js';

const flowMod: FlowMod = {
  type: OFPT.FLOW_MOD, xid: 1, cookie: 0x10n, cookieMask: 0n, tableId: 0, command: OFPFC.ADD,
  idleTimeout: 0, hardTimeout: 0, priority: 100, bufferId: OFP_NO_BUFFER, outPort: OFPP.ANY, outGroup: OFPG.ANY,
  flags: 0,
  // Prerequisites come first: tcp_dst needs ip_proto=6, which needs an IP eth_type.
  match: [
    { field: OFPXMT.ETH_TYPE, value: 0x0800 },
    { field: OFPXMT.IP_PROTO, value: 6 },
    { field: OFPXMT.TCP_DST, value: 80 },
  ],
  instructions: [{ type: OFPIT.APPLY_ACTIONS, actions: [{ type: OFPAT.OUTPUT, port: OFPP.CONTROLLER, maxLen: 0xffff }] }],
};

if (checkPrerequisites(flowMod.match) !== undefined) throw new Error('prerequisites not met');
const bytes = encode(flowMod);
console.log(toHex(bytes));
const r = decode(bytes);
if (!r.ok) throw new Error(r.error.name);
console.log(formatMessage(r.msg));
console.log(JSON.stringify(toJson(r.msg)));
