/**
 * Proves the third-party-peer harness in test/peers/peers.ts works: both
 * peers accept well-formed OpenFlow 1.3 bytes and reject malformed ones, and
 * every ovs-ofctl case really emits the message it is meant to emit.
 * A missing peer makes these tests fail, never skip.
 */
import test from 'ava';
import {
  FakeSwitchLogic,
  OVS_OFCTL_CASES,
  captureOvsOfctl,
  describeExtensions,
  ovsOfpPrint,
  ovsOfpPrintBatch,
  requireTool,
  toolVersion,
  tsharkDissect,
  type CaptureResult,
  type OvsOfctlCase,
} from './peers/peers.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** OFPT_ECHO_REQUEST, xid 1, no payload. */
const ECHO_REQUEST = hex('04 02 0008 00000001');

/** OFPT_FLOW_MOD ADD in_port=1 actions=output:2, written out field by field. */
const FLOW_MOD = hex(`
  04 0e 0058 00000006
  0000000000000000 0000000000000000
  00 00 0000 0000 8000 ffffffff ffffffff ffffffff 0000 0000
  0001 000c 80000004 00000001 00000000
  0004 0018 00000000
    0000 0010 00000002 ffe5 000000000000
`);

/** The same FLOW_MOD whose match claims 0xff bytes: runs past the message end. */
const FLOW_MOD_BAD_MATCH_LEN = Buffer.from(FLOW_MOD);
FLOW_MOD_BAD_MATCH_LEN.writeUInt16BE(0x00ff, 50);

/** The same FLOW_MOD whose OUTPUT action claims length 4 (must be 16). */
const FLOW_MOD_BAD_ACTION_LEN = Buffer.from(FLOW_MOD);
FLOW_MOD_BAD_ACTION_LEN.writeUInt16BE(4, 74);

/** ECHO_REQUEST whose header says 12 bytes but only 8 are there. */
const ECHO_TRUNCATED = hex('04 02 000c 00000002');

test.before('peers are installed (installs them when root)', (t) => {
  requireTool('ovs-ofctl');
  requireTool('tshark');
  t.log(toolVersion('ovs-ofctl'));
  t.log(toolVersion('tshark'));
});

test('hand-written constants are internally consistent', (t) => {
  t.is(FLOW_MOD.length, 0x58);
  t.is(ECHO_REQUEST.length, 8);
});

test('ovsOfpPrint accepts a correct ECHO_REQUEST and FLOW_MOD', (t) => {
  const echo = ovsOfpPrint(ECHO_REQUEST);
  t.true(echo.ok, echo.text);
  t.regex(echo.text, /OFPT_ECHO_REQUEST \(OF1\.3\) \(xid=0x1\)/);
  const fm = ovsOfpPrint(FLOW_MOD);
  t.true(fm.ok, fm.text);
  t.regex(fm.text, /OFPT_FLOW_MOD \(OF1\.3\).*ADD in_port=1 actions=output:2/);
});

test('ovsOfpPrint rejects malformed messages', (t) => {
  const badMatch = ovsOfpPrint(FLOW_MOD_BAD_MATCH_LEN);
  t.false(badMatch.ok, badMatch.text);
  t.regex(badMatch.text, /\*\*\*decode error: OFPBMC_BAD_LEN\*\*\*/);
  const badAction = ovsOfpPrint(FLOW_MOD_BAD_ACTION_LEN);
  t.false(badAction.ok, badAction.text);
  t.regex(badAction.text, /OFPBAC_BAD_LEN/);
  const truncated = ovsOfpPrint(ECHO_TRUNCATED);
  t.false(truncated.ok, truncated.text);
  t.regex(truncated.text, /\*\*\*truncated to 8 bytes from 12\*\*\*/);
  const unknownType = ovsOfpPrint(hex('04 fe 0008 00000003'));
  t.false(unknownType.ok, unknownType.text);
});

test('ovsOfpPrintBatch keeps one verdict per message, in order', (t) => {
  const msgs = [ECHO_REQUEST, FLOW_MOD_BAD_MATCH_LEN, FLOW_MOD, ECHO_TRUNCATED, FLOW_MOD_BAD_ACTION_LEN, ECHO_REQUEST];
  const r = ovsOfpPrintBatch(msgs);
  t.deepEqual(
    r.map((v) => v.ok),
    [true, false, true, false, false, true],
    r.map((v) => v.text).join('\n----\n'),
  );
  t.regex(r[2]!.text, /^OFPT_FLOW_MOD/);
  t.regex(r[5]!.text, /^OFPT_ECHO_REQUEST/);
});

test('tsharkDissect: ok for good messages, not ok for malformed ones, one verdict per message', (t) => {
  const msgs = [ECHO_REQUEST, FLOW_MOD, FLOW_MOD_BAD_MATCH_LEN, ECHO_REQUEST, ECHO_TRUNCATED, FLOW_MOD, hex('04 fe 0008 00000003')];
  const r = tsharkDissect(msgs);
  t.is(r.length, msgs.length);
  t.deepEqual(
    r.map((v) => v.ok),
    [true, true, false, true, false, true, false],
    r.map((v, i) => `#${i}: ${v.problems.join(', ')}`).join('\n'),
  );
  t.regex(r[0]!.text, /Type: OFPT_ECHO_REQUEST \(2\)/);
  t.regex(r[1]!.text, /Type: OFPT_FLOW_MOD \(14\)/);
  t.regex(r[1]!.text, /Value: 1\b/);
  t.regex(r[3]!.text, /Type: OFPT_ECHO_REQUEST \(2\)/);
  // a bad message must not disturb its neighbours
  t.regex(r[5]!.text, /Type: OFPT_FLOW_MOD \(14\)/);
});

test('both peers accept an OFPT_ERROR carrying a truncated copy of the failed request', (t) => {
  // OFPET_BAD_ACTION / OFPBAC_BAD_SET_ARGUMENT with the first 64 bytes of FLOW_MOD
  const err = Buffer.concat([hex('04 01 004c 00000006 0002 000f'), FLOW_MOD.subarray(0, 64)]);
  t.is(err.readUInt16BE(2), err.length);
  const o = ovsOfpPrint(err);
  t.true(o.ok, o.text);
  t.regex(o.text, /^OFPT_ERROR \(OF1\.3\) \(xid=0x6\): OFPBAC_BAD_SET_ARGUMENT/);
  const [ts] = tsharkDissect([err]);
  t.true(ts!.ok, ts!.problems.join(', '));
  t.regex(ts!.text, /Type: OFPT_ERROR \(1\)/);
  // but a broken error header still fails
  const bad = hex('04 01 000a 00000006 0002');
  t.false(ovsOfpPrint(bad).ok);
  t.false(tsharkDissect([bad])[0]!.ok);
});

test('tsharkDissect handles a maximal 65535-byte message (split over two segments)', (t) => {
  const big = Buffer.alloc(65535);
  ECHO_REQUEST.copy(big);
  big.writeUInt16BE(65535, 2);
  const r = tsharkDissect([ECHO_REQUEST, big, ECHO_REQUEST]);
  t.deepEqual(
    r.map((v) => v.ok),
    [true, true, true],
  );
  t.regex(r[1]!.text, /Length: 65535/);
});

test("the fake switch's replies are valid OpenFlow 1.3 for both peers", (t) => {
  const sw = new FakeSwitchLogic([1, 2]);
  const withXid = (m: Buffer, xid: number): Buffer => {
    const b = Buffer.from(m);
    b.writeUInt32BE(xid, 4);
    return b;
  };
  const requests = [
    hex('04 02 000c 00000001 01020304'), // ECHO_REQUEST with payload
    hex('04 05 0008 00000002'), // FEATURES_REQUEST
    hex('04 07 0008 00000003'), // GET_CONFIG_REQUEST
    hex('04 14 0008 00000004'), // BARRIER_REQUEST
    hex('04 18 0018 00000005 00000002 00000000 0000000000000005'), // ROLE_REQUEST master
    hex('04 16 0010 00000006 00000001 00000000'), // QUEUE_GET_CONFIG_REQUEST port 1
    hex('04 1a 0008 00000007'), // GET_ASYNC_REQUEST
    hex('04 09 000c 00000008 0002 0080'), // SET_CONFIG frags=reassemble (no reply)
    hex('04 07 0008 00000009'), // GET_CONFIG_REQUEST again: reflects SET_CONFIG
    // every standard multipart type 0..13 (DESC .. PORT_DESC)
    ...Array.from({ length: 14 }, (_, mp) => {
      const b = withXid(hex('04 12 0010 00000000 0000 0000 00000000'), 100 + mp);
      b.writeUInt16BE(mp, 8);
      return b;
    }),
    // ONF bundle control OPEN(0) / CLOSE(2) / COMMIT(4) / DISCARD(6)
    ...[0, 2, 4, 6].map((type) => {
      const b = withXid(hex('04 04 0018 00000000 4f4e4600 000008fc 00000007 0000 0003'), 300 + type);
      b.writeUInt16BE(type, 20);
      return b;
    }),
  ];
  const replies = [sw.hello(), ...requests.flatMap((r) => sw.respond(r))];
  t.is(replies.length, 1 + requests.length - 1); // SET_CONFIG has no reply
  t.is(replies.find((r) => r[1] === 8 && r.readUInt32BE(4) === 9)?.readUInt16BE(8), 2);
  const ovs = ovsOfpPrintBatch(replies);
  const ts = tsharkDissect(replies);
  const failures = replies.flatMap((r, i) => [
    ...(ovs[i]!.ok ? [] : [`ovs-ofctl ${r.toString('hex')}: ${ovs[i]!.problems.join(', ')}`]),
    ...(ts[i]!.ok ? [] : [`tshark ${r.toString('hex')}: ${ts[i]!.problems.join(', ')}`]),
  ]);
  t.deepEqual(failures, []);
  t.regex(ovs.at(-2)!.text, /bundle_id=0x7 type=COMMIT_REPLY flags=atomic ordered/);
});

// ---------------------------------------------------------------------------
// ovs-ofctl cases against the fake switch
// ---------------------------------------------------------------------------

const MAX_PARALLEL = 6;
let running = 0;
const waiting: Array<() => void> = [];

async function limited<R>(fn: () => Promise<R>): Promise<R> {
  if (running >= MAX_PARALLEL) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

const captures = new Map<OvsOfctlCase, Promise<CaptureResult>>();
function capture(c: OvsOfctlCase): Promise<CaptureResult> {
  let p = captures.get(c);
  if (p === undefined) {
    p = limited(() => captureOvsOfctl(c.args, { ...(c.stdin === undefined ? {} : { stdin: c.stdin }), ...(c.ports === undefined ? {} : { ports: c.ports }) }));
    captures.set(c, p);
  }
  return p;
}

function describe(r: CaptureResult): string {
  const types = r.frames.map((f) => (f[1] === 18 ? `18/${f.readUInt16BE(8)}` : String(f[1])));
  return `${r.argv.join(' ')}\nexit ${String(r.code)}${r.timedOut ? ' (timed out)' : ''}; frames [${types.join(' ')}]\nstderr: ${r.stderr}`;
}

test('case names are unique', (t) => {
  const names = OVS_OFCTL_CASES.map((c) => c.name);
  t.is(new Set(names).size, names.length);
});

for (const c of OVS_OFCTL_CASES) {
  test(`ovs-ofctl ${c.name}`, async (t) => {
    const r = await capture(c);
    const info = describe(r);
    t.is(r.code, 0, info);
    t.false(r.timedOut, info);
    t.true(r.frames.length >= 2, info);
    t.is(r.frames[0]![1], 0, `first frame must be HELLO\n${info}`);
    const hit = r.frames.slice(1).find(
      (f) => f[0] === 4 && f[1] === c.expectType && (c.expectMultipart === undefined || f.readUInt16BE(8) === c.expectMultipart),
    );
    t.truthy(hit, `expected type ${c.expectType}${c.expectMultipart === undefined ? '' : `/${c.expectMultipart}`}\n${info}`);
    const exts = r.frames.flatMap(describeExtensions);
    if (c.ext === undefined) t.deepEqual(exts, [], `standard case uses extensions\n${info}`);
    else t.true(exts.length > 0, `case marked as extension (${c.ext}) but none found\n${info}`);
  });
}

test('both peers accept every message ovs-ofctl sent (no false alarms)', async (t) => {
  const results = await Promise.all(OVS_OFCTL_CASES.map((c) => capture(c)));
  const frames: Buffer[] = [];
  const origin: string[] = [];
  results.forEach((r, i) => {
    for (const f of r.frames) {
      frames.push(f);
      origin.push(OVS_OFCTL_CASES[i]!.name);
    }
  });
  const ovs = ovsOfpPrintBatch(frames);
  const ts = tsharkDissect(frames);
  const failures: string[] = [];
  frames.forEach((f, i) => {
    if (!ovs[i]!.ok) failures.push(`ovs-ofctl: ${origin[i]} ${f.toString('hex')}: ${ovs[i]!.problems.join(', ')}`);
    if (!ts[i]!.ok) failures.push(`tshark: ${origin[i]} ${f.toString('hex')}: ${ts[i]!.problems.join(', ')}`);
  });
  t.deepEqual(failures, []);
  t.log(`${frames.length} frames from ${results.length} ovs-ofctl runs checked by both peers`);
});
