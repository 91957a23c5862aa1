/**
 * Codec speed: decode and encode of the three messages the foundation issue names, in messages
 * per second on one core, with the targets, and a same-run reference (JSON.stringify and
 * JSON.parse of the message's JSON form: what a codec built on JSON objects would cost).
 */

import {
  decode, encode, encodeInto, toJson, OFPT, OFPIT, OFPAT, OFPXMT, OFPP, OFPG, OFPMP, OFPR, OFP_NO_BUFFER,
  type FlowMod, type PacketIn, type MultipartReplyFlow, type FlowStats, type Message,
} from '../src/openflow/index.js';
import { measure, fmtRate, type Rate } from './harness.js';

/** FLOW_MOD with 10 OXM fields and 3 instructions (apply-actions, write-metadata, goto-table). */
export const flowMod: FlowMod = {
  version: 4, type: OFPT.FLOW_MOD, xid: 1, cookie: 0x1234n, cookieMask: 0n, tableId: 0, command: 0,
  idleTimeout: 60, hardTimeout: 0, priority: 1000, bufferId: OFP_NO_BUFFER, outPort: OFPP.ANY, outGroup: OFPG.ANY, flags: 1,
  match: [
    { field: OFPXMT.IN_PORT, value: 1 },
    { field: OFPXMT.ETH_DST, value: '00:11:22:33:44:55' },
    { field: OFPXMT.ETH_SRC, value: '66:77:88:00:00:00', mask: 'ff:ff:ff:00:00:00' },
    { field: OFPXMT.ETH_TYPE, value: 0x0800 },
    { field: OFPXMT.VLAN_VID, value: 0x1000 | 10 },
    { field: OFPXMT.IP_PROTO, value: 6 },
    { field: OFPXMT.IPV4_SRC, value: '10.0.0.0', mask: '255.255.0.0' },
    { field: OFPXMT.IPV4_DST, value: '192.168.1.1' },
    { field: OFPXMT.TCP_SRC, value: 1234 },
    { field: OFPXMT.TCP_DST, value: 80 },
  ],
  instructions: [
    { type: OFPIT.APPLY_ACTIONS, actions: [
      { type: OFPAT.SET_FIELD, field: { field: OFPXMT.IPV4_DST, value: '10.1.1.1' } },
      { type: OFPAT.OUTPUT, port: 2, maxLen: 0 },
    ] },
    { type: OFPIT.WRITE_METADATA, metadata: 0xabn, metadataMask: 0xffn },
    { type: OFPIT.GOTO_TABLE, tableId: 1 },
  ],
};

/** PACKET_IN of 128 bytes: in_port in the match and a 86-byte frame. */
export const packetIn: PacketIn = {
  version: 4, type: OFPT.PACKET_IN, xid: 0, bufferId: OFP_NO_BUFFER, totalLen: 86, reason: OFPR.NO_MATCH, tableId: 0,
  cookie: 0n, match: [{ field: OFPXMT.IN_PORT, value: 3 }], data: Buffer.alloc(86, 0x5a),
};

function flowStats(i: number): FlowStats {
  return {
    tableId: 0, durationSec: i, durationNsec: 0, priority: 100, idleTimeout: 0, hardTimeout: 0, flags: 0,
    cookie: BigInt(i), packetCount: BigInt(i * 10), byteCount: BigInt(i * 1000),
    match: [{ field: OFPXMT.IN_PORT, value: 1 + (i % 4) }, { field: OFPXMT.ETH_DST, value: '00:00:00:00:00:01' }],
    instructions: [{ type: OFPIT.APPLY_ACTIONS, actions: [{ type: OFPAT.OUTPUT, port: 2, maxLen: 0 }] }],
  };
}

/** FLOW multipart reply with 100 entries. */
export const flowReply: MultipartReplyFlow = {
  version: 4, type: OFPT.MULTIPART_REPLY, xid: 9, mpType: OFPMP.FLOW, flags: 0,
  stats: Array.from({ length: 100 }, (_, i) => flowStats(i)),
};

export interface CodecResult {
  readonly rate: Rate;
  readonly target?: number;
  readonly reference: Rate;
}

export function runCodecBench(quick = false): CodecResult[] {
  const opts = quick ? { rounds: 3, roundMs: 150 } : { rounds: 3, roundMs: 700 };
  const out: CodecResult[] = [];
  const scratch = Buffer.alloc(70000);
  const cases: Array<[string, Message, number | undefined, number | undefined]> = [
    ['FLOW_MOD (10 OXM, 3 instructions)', flowMod, 500_000, 500_000],
    ['PACKET_IN (128 bytes)', packetIn, undefined, 1_000_000],
    ['FLOW reply (100 entries)', flowReply, undefined, undefined],
  ];
  for (const [name, msg, decodeTarget, encodeTarget] of cases) {
    const bytes = encode(msg);
    const check = decode(bytes);
    if (!check.ok) throw new Error(`benchmark message ${name} does not decode: ${check.error.name}`);
    const json = JSON.stringify(toJson(msg));
    const jsonObj = JSON.parse(json) as unknown;
    let sink = 0;
    const dec = measure(`decode ${name}`, () => { const r = decode(bytes); if (r.ok) sink++; }, opts);
    const decRef = measure(`JSON.parse ${name}`, () => { sink += (JSON.parse(json) as object) ? 1 : 0; }, opts);
    out.push({ rate: dec, target: decodeTarget, reference: decRef });
    const enc = measure(`encode ${name}`, () => { sink += encodeInto(msg, scratch, 0); }, opts);
    const encRef = measure(`JSON.stringify ${name}`, () => { sink += JSON.stringify(jsonObj).length; }, opts);
    out.push({ rate: enc, target: encodeTarget, reference: encRef });
    if (sink === -1) console.log('unreachable');
  }
  return out;
}

export function printCodecBench(results: readonly CodecResult[]): void {
  console.log('\nOpenFlow codec, messages per second on one core (median of 3 rounds; min-max)');
  console.log('operation'.padEnd(44) + 'rate'.padStart(8) + '  min-max'.padEnd(18) + 'target'.padStart(8) + '  vs target' + '  reference (JSON)' + '  vs ref');
  for (const r of results) {
    const t = r.target === undefined ? '' : fmtRate(r.target);
    const vsT = r.target === undefined ? '' : `${(r.rate.median / r.target).toFixed(2)}x`;
    console.log(
      r.rate.name.padEnd(44) + fmtRate(r.rate.median).padStart(8) + `  ${fmtRate(r.rate.min)}-${fmtRate(r.rate.max)}`.padEnd(18)
      + t.padStart(8) + vsT.padStart(11) + fmtRate(r.reference.median).padStart(18) + `${(r.rate.median / r.reference.median).toFixed(2)}x`.padStart(9),
    );
  }
}
