/**
 * Messages that Open vSwitch's own client emits, captured live: every frame that
 * `ovs-ofctl -O OpenFlow13 <command>` sends for a broad set of commands (flows with many match
 * and action kinds, groups, meters, packet-out, every stats request, bundles) must decode with our
 * codec and re-encode to exactly the same bytes, and survive the JSON form byte for byte. Cases
 * where ovs-ofctl uses Nicira/ONF extensions are included: their experimenter actions and NXM
 * fields travel as opaque bytes and must round-trip too.
 */

import test from 'ava';
import { decode, encode, toJson, fromJson, formatMessage, toHex, OFPT } from '../src/openflow/index.js';
import { OVS_OFCTL_CASES, captureOvsOfctl, requireTool, FakeSwitchLogic } from './peers/peers.js';

requireTool('ovs-ofctl');

function roundTrip(frame: Buffer): string | undefined {
  const r = decode(frame);
  if (!r.ok) return `decode failed: ${r.error.name} (${r.error.text})`;
  const again = encode(r.msg);
  if (!again.equals(frame)) return `re-encode differs:\n  ovs: ${toHex(frame)}\n  us:  ${toHex(again)}`;
  const viaJson = encode(fromJson(JSON.parse(JSON.stringify(toJson(r.msg)))));
  if (!viaJson.equals(frame)) return `JSON round trip differs: ${toHex(viaJson)}`;
  if (formatMessage(r.msg).includes('\n')) return 'text form is not one line';
  return undefined;
}

const seenTypes = new Set<number>();

for (const c of OVS_OFCTL_CASES) {
  test(`ovs-ofctl ${c.args.join(' ')}`, async (t) => {
    const cap = await captureOvsOfctl(c.args, { stdin: c.stdin, ports: c.ports });
    t.false(cap.timedOut, `ovs-ofctl timed out: ${cap.stderr}`);
    t.true(cap.frames.length > 1, `ovs-ofctl sent no command: ${cap.stderr}`);
    for (const frame of cap.frames) {
      seenTypes.add(frame[1]!);
      const problem = roundTrip(frame);
      t.is(problem, undefined, `frame ${toHex(frame.subarray(0, 64))}...`);
    }
    t.true(cap.frames.some((f) => f[1] === c.expectType), 'the expected message type was sent');
  });
}

test('the replies our test switch sends round-trip too', (t) => {
  const fake = new FakeSwitchLogic([1, 2]);
  const replies = [fake.hello()];
  for (const type of [OFPT.FEATURES_REQUEST, OFPT.GET_CONFIG_REQUEST, OFPT.BARRIER_REQUEST]) {
    replies.push(...fake.respond(Buffer.from([4, type, 0, 8, 0, 0, 0, 1])));
  }
  for (const mp of [0, 2, 8, 11, 12, 13]) {
    replies.push(...fake.respond(Buffer.from([4, OFPT.MULTIPART_REQUEST, 0, 16, 0, 0, 0, 2, 0, mp, 0, 0, 0, 0, 0, 0])));
  }
  t.true(replies.length >= 9);
  for (const r of replies) t.is(roundTrip(r), undefined, toHex(r));
});

test.after('the captures covered the message types a controller sends', (t) => {
  for (const type of [OFPT.HELLO, OFPT.FLOW_MOD, OFPT.GROUP_MOD, OFPT.METER_MOD, OFPT.PACKET_OUT, OFPT.MULTIPART_REQUEST,
    OFPT.BARRIER_REQUEST, OFPT.EXPERIMENTER, OFPT.PORT_MOD, OFPT.SET_CONFIG, OFPT.GET_CONFIG_REQUEST, OFPT.FEATURES_REQUEST]) {
    t.true(seenTypes.has(type), `no captured message of type ${type}`);
  }
});
