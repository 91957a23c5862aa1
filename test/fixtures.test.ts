/**
 * The annotated hex fixtures of test/fixtures/*.txt (format: test/fixture-format.ts) against the
 * codec, and against two independent decoders: Open vSwitch's `ovs-ofctl ofp-print` and
 * Wireshark's `tshark`.
 *
 * Each fixture drives these checks:
 *   (a) decode(hex) is the fixture's message (fromJson of its JSON), also from a view at an offset
 *   (b) encode(that message) is exactly the hex
 *   (c) mirror: decode(encode(decode(hex))) is the same message and re-encodes to the same bytes
 *   (d) encodeInto a buffer at offset 13 writes exactly the hex there and nothing elsewhere
 *   (e) the JSON form survives JSON.stringify/parse and encodes to the hex
 *   (f) formatMessage gives the fixture's text line, when it has one
 *   (g) toJson(decode(hex)) is literally the fixture's JSON (the JSON form is canonical)
 */

import test from 'ava';
import {
  decode, encode, encodeInto, encodedLength, toJson, fromJson, formatMessage, type Message,
} from '../src/openflow/index.js';
import { loadFixtures, parseFixtures, FixtureSyntaxError, type Fixture } from './fixture-format.js';
import { ovsOfpPrintBatch, requireTool, tsharkDissect, type PeerVerdict } from './peers/peers.js';

const fixtures = loadFixtures();

/** A deep copy where every byte array is a `bytes:<hex>` string, so views and copies compare equal. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

function decodeOk(bytes: Uint8Array, what: string): Message {
  const r = decode(bytes);
  if (!r.ok) throw new Error(`${what}: decode failed with ${r.error.name}: ${r.error.text}`);
  return r.msg;
}

test('the fixture files parse and hold at least one fixture per message family', (t) => {
  const files = new Set(fixtures.map((f) => f.file));
  for (const f of [
    'hello.txt', 'error.txt', 'echo.txt', 'experimenter.txt', 'bundle.txt', 'features.txt', 'config.txt',
    'packet-in.txt', 'flow-removed.txt', 'port-status.txt', 'packet-out.txt', 'flow-mod.txt', 'group-mod.txt',
    'port-mod.txt', 'table-mod.txt', 'multipart-request.txt', 'multipart-reply.txt', 'barrier.txt',
    'queue-config.txt', 'role.txt', 'async.txt', 'meter-mod.txt',
  ]) t.true(files.has(f), `no fixtures in ${f}`);
  t.log(`${fixtures.length} fixtures in ${files.size} files`);
});

test('the fixture parser reads strings and repeats, and refuses what the format forbids', (t) => {
  const ok = parseFixtures('=== x\nhex:\n# a title\n04 00 0010 00000001 # header\n"ab" 00*6 # text, then zeros\njson:\n{ "a": 1 }\n', 'x.txt');
  t.is(ok.length, 1);
  t.is(ok[0]!.hex.toString('hex'), '04000010000000016162000000000000');
  t.deepEqual(ok[0]!.annotations.map((a) => [a.offset, a.length, a.comment]), [[0, 8, 'header'], [8, 8, 'text, then zeros']]);
  const bad = (src: string) => t.throws(() => parseFixtures(src, 'bad.txt'), { instanceOf: FixtureSyntaxError });
  bad('=== x\nhex:\n04 00 0008 00000001\njson:\n{}\n'); // no comment on a hex line
  bad('=== x\nhex:\n04 00 0008 0000001 # odd digits\njson:\n{}\n');
  bad('=== x\nhex:\n04000008 00000001 # header\n'); // no json
  bad('=== x\nhex:\n04000008 00000001 # header\njson:\n{ nope }\n');
  bad('=== x\nhex:\n04000008 00000001 # header\nerror:\nBAD_MATCH\n');
  bad('=== x\nhex:\n04000008 00000001 # header\njson:\n{}\ntext:\none\ntwo\n');
});

test('every hex line is annotated and the header length matches the bytes', (t) => {
  for (const f of fixtures) {
    const covered = f.annotations.reduce((n, a) => n + a.length, 0);
    t.is(covered, f.hex.length, `${f.name}: annotated bytes`);
    t.true(f.annotations.every((a) => a.comment.length > 0), `${f.name}: empty comment`);
    t.is(f.hex.readUInt16BE(2), f.hex.length, `${f.name}: header length field`);
  }
});

test('fixtures cover every OXM basic field, masked and unmasked, and every instruction, action and multipart type', (t) => {
  const fields = new Set<string>();
  const maskedFields = new Set<string>();
  const instructions = new Set<string>();
  const actions = new Set<string>();
  const mpRequest = new Set<string>();
  const mpReply = new Set<string>();
  const tableProps = new Set<string>();
  const walk = (v: unknown, key = ''): void => {
    if (Array.isArray(v)) { for (const x of v) walk(x, key); return; }
    if (v === null || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (typeof o.field === 'string' && 'value' in o) {
      fields.add(o.field);
      if ('mask' in o) maskedFields.add(o.field);
    }
    if (key === 'instructions' && typeof o.type === 'string') instructions.add(o.type);
    if (key === 'actions' && typeof o.type === 'string') actions.add(o.type);
    if (key === 'tables' && Array.isArray(o.properties)) {
      for (const p of o.properties as Array<Record<string, unknown>>) tableProps.add(String(p.type));
    }
    for (const [k, x] of Object.entries(o)) walk(x, k);
  };
  for (const f of fixtures) {
    walk(f.json);
    const j = f.json as Record<string, unknown>;
    if (j.type === 'MULTIPART_REQUEST') mpRequest.add(String(j.mpType));
    if (j.type === 'MULTIPART_REPLY') mpReply.add(String(j.mpType));
  }
  const allFields = [
    'in_port', 'in_phy_port', 'metadata', 'eth_dst', 'eth_src', 'eth_type', 'vlan_vid', 'vlan_pcp', 'ip_dscp',
    'ip_ecn', 'ip_proto', 'ipv4_src', 'ipv4_dst', 'tcp_src', 'tcp_dst', 'udp_src', 'udp_dst', 'sctp_src',
    'sctp_dst', 'icmpv4_type', 'icmpv4_code', 'arp_op', 'arp_spa', 'arp_tpa', 'arp_sha', 'arp_tha', 'ipv6_src',
    'ipv6_dst', 'ipv6_flabel', 'icmpv6_type', 'icmpv6_code', 'ipv6_nd_target', 'ipv6_nd_sll', 'ipv6_nd_tll',
    'mpls_label', 'mpls_tc', 'mpls_bos', 'pbb_isid', 'tunnel_id', 'ipv6_exthdr',
  ];
  t.deepEqual(allFields.filter((x) => !fields.has(x)), [], 'OXM fields never used');
  // Every masked wire form of a kind of value: u16, u24, u32, u64, MAC, IPv4, IPv6.
  t.deepEqual(['metadata', 'eth_dst', 'ipv4_src', 'arp_spa', 'arp_tha', 'ipv6_src', 'ipv6_flabel', 'pbb_isid',
    'tunnel_id', 'ipv6_exthdr'].filter((x) => !maskedFields.has(x)), [], 'maskable fields never masked');
  t.deepEqual(['GOTO_TABLE', 'WRITE_METADATA', 'WRITE_ACTIONS', 'APPLY_ACTIONS', 'CLEAR_ACTIONS', 'METER',
    'EXPERIMENTER'].filter((x) => !instructions.has(x)), [], 'instruction types never used');
  t.deepEqual(['OUTPUT', 'COPY_TTL_OUT', 'COPY_TTL_IN', 'SET_MPLS_TTL', 'DEC_MPLS_TTL', 'PUSH_VLAN', 'POP_VLAN',
    'PUSH_MPLS', 'POP_MPLS', 'SET_QUEUE', 'GROUP', 'SET_NW_TTL', 'DEC_NW_TTL', 'SET_FIELD', 'PUSH_PBB', 'POP_PBB',
    'EXPERIMENTER'].filter((x) => !actions.has(x)), [], 'action types never used');
  const mpTypes = ['DESC', 'FLOW', 'AGGREGATE', 'TABLE', 'PORT_STATS', 'QUEUE', 'GROUP', 'GROUP_DESC',
    'GROUP_FEATURES', 'METER', 'METER_CONFIG', 'METER_FEATURES', 'TABLE_FEATURES', 'PORT_DESC', 'EXPERIMENTER'];
  t.deepEqual(mpTypes.filter((x) => !mpRequest.has(x)), [], 'multipart request types never used');
  t.deepEqual(mpTypes.filter((x) => !mpReply.has(x)), [], 'multipart reply types never used');
  t.deepEqual(['INSTRUCTIONS', 'INSTRUCTIONS_MISS', 'NEXT_TABLES', 'NEXT_TABLES_MISS', 'WRITE_ACTIONS',
    'WRITE_ACTIONS_MISS', 'APPLY_ACTIONS', 'APPLY_ACTIONS_MISS', 'MATCH', 'WILDCARDS', 'WRITE_SETFIELD',
    'WRITE_SETFIELD_MISS', 'APPLY_SETFIELD', 'APPLY_SETFIELD_MISS', 'EXPERIMENTER', 'EXPERIMENTER_MISS']
    .filter((x) => !tableProps.has(x)), [], 'table-feature property types never used');
});

for (const f of fixtures) {
  test(`${f.file} ${f.name}: decode, encode, mirror, encodeInto, JSON, text`, (t) => {
    const expected = fromJson(f.json);

    // (a) decode gives the expected message, also when the frame is a view into a larger buffer
    const msg = decodeOk(f.hex, 'decode');
    t.deepEqual(plain(msg), plain(expected), '(a) decode');
    const host = Buffer.alloc(f.hex.length + 7, 0x55);
    f.hex.copy(host, 5);
    t.deepEqual(plain(decodeOk(host.subarray(5, 5 + f.hex.length), 'decode of a view')), plain(expected), '(a) decode of a view');
    const u8 = new Uint8Array(host.buffer, host.byteOffset + 5, f.hex.length);
    t.deepEqual(plain(decodeOk(u8, 'decode of a Uint8Array')), plain(expected), '(a) decode of a plain Uint8Array view');

    // (b) encode of the expected message gives exactly the fixture bytes
    t.is(encodedLength(expected), f.hex.length, '(b) encodedLength');
    t.is(encode(expected).toString('hex'), f.hex.toString('hex'), '(b) encode');

    // (c) mirror
    const again = encode(msg);
    t.is(again.toString('hex'), f.hex.toString('hex'), '(c) encode(decode(hex))');
    const msg2 = decodeOk(again, 'decode of re-encoded bytes');
    t.deepEqual(plain(msg2), plain(msg), '(c) decode(encode(decode(hex)))');
    t.is(encode(msg2).toString('hex'), f.hex.toString('hex'), '(c) re-encode');

    // (d) encodeInto at a non-zero offset touches exactly its bytes
    const off = 13;
    const buf = Buffer.alloc(off + f.hex.length + 11, 0xaa);
    const n = encodeInto(msg, buf, off);
    t.is(n, f.hex.length, '(d) bytes written');
    t.is(buf.subarray(off, off + n).toString('hex'), f.hex.toString('hex'), '(d) bytes at the offset');
    t.true(buf.subarray(0, off).every((x) => x === 0xaa), '(d) bytes before the offset untouched');
    t.true(buf.subarray(off + n).every((x) => x === 0xaa), '(d) bytes after the message untouched');

    // (e) JSON round trip through text
    const json = JSON.parse(JSON.stringify(toJson(msg))) as unknown;
    t.is(encode(fromJson(json)).toString('hex'), f.hex.toString('hex'), '(e) JSON round trip');

    // (f) text form
    if (f.text !== undefined) t.is(formatMessage(msg), f.text, '(f) formatMessage');

    // (g) the JSON form of the decoded message is the fixture's JSON, key for key
    t.deepEqual(toJson(msg), f.json as ReturnType<typeof toJson>, '(g) toJson');
  });
}

// ---------------------------------------------------------------------------------------------
// Peers. A rejection fails the test unless the fixture is allow-listed below with the reason, and
// the peer's complaint matches the reason; an allow-listed fixture that the peer accepts fails
// too (the list must only hold what is true).
// ---------------------------------------------------------------------------------------------

interface Allowed {
  /** Why the peer cannot decode this valid message. */
  readonly reason: string;
  /** The peer's complaint must match this, so that a different failure is not excused. */
  readonly complaint: RegExp;
}

/** Valid OpenFlow 1.3 that Open vSwitch 3.1 does not implement. */
const OVS_CANNOT: Readonly<Record<string, Allowed>> = {
  flow_mod_copy_ttl: {
    reason: 'OVS implements neither OFPAT_COPY_TTL_OUT (11) nor OFPAT_COPY_TTL_IN (12)',
    complaint: /decode error: OFPBAC_BAD_TYPE/,
  },
  flow_mod_pbb: {
    reason: 'OVS has no PBB support: no PBB_ISID match field, no PUSH_PBB/POP_PBB actions',
    complaint: /decode error: OFPBMC_BAD_FIELD/,
  },
  flow_mod_in_phy_port_ipv6_exthdr: {
    reason: 'OVS has neither the IN_PHY_PORT nor the IPV6_EXTHDR match field',
    complaint: /decode error: OFPBMC_BAD_FIELD/,
  },
  flow_mod_delete_ipv6_exthdr: {
    reason: 'OVS has no IPV6_EXTHDR match field',
    complaint: /decode error: OFPBMC_BAD_FIELD/,
  },
  flow_mod_experimenter_instruction: {
    reason: 'OVS refuses every OFPIT_EXPERIMENTER instruction, whatever the experimenter',
    complaint: /decode error: OFPBIC_BAD_EXPERIMENTER/,
  },
  meter_mod_experimenter_band: {
    reason: 'OVS implements no experimenter meter band (BAD_BAND) and sizes the band list as ' +
      '16 bytes per band, so a band with experimenter data is BAD_LEN to it',
    complaint: /decode error: OFPBRC_BAD_LEN/,
  },
};

/** Valid OpenFlow 1.3 that tshark 4.0's OpenFlow 1.3 dissector gets wrong. */
const TSHARK_CANNOT: Readonly<Record<string, Allowed>> = {
  meter_mod_experimenter_band: {
    reason: 'the dissector gives the experimenter band body the length "offset - 16 + band_len" ' +
      '(an absolute offset where a relative one is meant), which runs past the frame',
    complaint: /unreassembled/,
  },
  multipart_reply_experimenter: {
    reason: 'the dissector overruns the frame on any OFPMP_EXPERIMENTER reply, even with an empty ' +
      'body; the same body in a request dissects cleanly (multipart_request_experimenter)',
    complaint: /unreassembled/,
  },
};

function judge(f: Fixture, v: PeerVerdict, allowed: Readonly<Record<string, Allowed>>, peer: string): string | undefined {
  const entry = allowed[f.name];
  if (v.ok) return entry === undefined ? undefined : `${f.name}: ${peer} accepts it; drop it from the allow-list`;
  if (entry === undefined) return `${f.name}: ${peer} rejects it (${v.problems.join('; ')}):\n${v.text}`;
  const said = `${v.problems.join('; ')}\n${v.text}`;
  return entry.complaint.test(said) ? undefined : `${f.name}: ${peer} rejects it, but not as allow-listed (${entry.reason}):\n${said}`;
}

test('ovs-ofctl ofp-print decodes every fixture', (t) => {
  requireTool('ovs-ofctl');
  const verdicts = ovsOfpPrintBatch(fixtures.map((f) => f.hex));
  const failures = fixtures.map((f, i) => judge(f, verdicts[i]!, OVS_CANNOT, 'ovs-ofctl')).filter((x) => x !== undefined);
  t.deepEqual(failures, []);
  for (const name of Object.keys(OVS_CANNOT)) t.true(fixtures.some((f) => f.name === name), `allow-list names no fixture: ${name}`);
});

test('tshark dissects every fixture (one tshark run)', (t) => {
  requireTool('tshark');
  const verdicts = tsharkDissect(fixtures.map((f) => f.hex));
  const failures = fixtures.map((f, i) => {
    const v = verdicts[i]!;
    // The harness looks for an "OpenFlow 1.3" tree; a version 5 hello is an "OpenFlow 1.4" one.
    if (f.hex[0] === 5 && !v.ok && v.problems.length === 1 && v.problems[0] === 'no OpenFlow 1.3 dissection in frame') {
      return /^OpenFlow 1\.4$/m.test(v.text) && !/Malformed|Expert Info \(Error/.test(v.text)
        ? undefined : `${f.name}: tshark did not dissect it as OpenFlow 1.4:\n${v.text}`;
    }
    return judge(f, v, TSHARK_CANNOT, 'tshark');
  }).filter((x) => x !== undefined);
  t.deepEqual(failures, []);
  for (const name of Object.keys(TSHARK_CANNOT)) t.true(fixtures.some((f) => f.name === name), `allow-list names no fixture: ${name}`);
});
