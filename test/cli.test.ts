/**
 * The command line: ofp-print and ofp-encode in-process (exact output and exit status), and the
 * `ofswitch` binary itself once, the way a person runs it.
 */

import test from 'ava';
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { main, type Io } from '../src/cli/main.js';

const bin = fileURLToPath(new URL('../../bin/ofswitch.js', import.meta.url));

function run(argv: string[], stdin = ''): { status: number; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { stdout: (l) => out.push(l), stderr: (l) => err.push(l), stdin: () => stdin };
  return { status: main(argv, io), out, err };
}

const ECHO = '0402000c0000000168656c6c';
const BARRIER = '0414000800000002';
// FLOW_MOD: add in_port=1 -> output:2 (apply-actions), priority 100.
const FLOW_MOD = '040e005800000003' + '0000000000000000' + '0000000000000000' + '0000' + '00000000' + '0064'
  + 'ffffffff' + 'ffffffff' + 'ffffffff' + '0000' + '0000'
  + '0001000c' + '8000000400000001' + '00000000'
  + '00040018' + '00000000' + '0000001000000002' + '0000000000000000';

test('ofp-print decodes concatenated messages, one line each', (t) => {
  const r = run(['ofp-print', ECHO + BARRIER]);
  t.is(r.status, 0);
  t.deepEqual(r.out, ['ECHO_REQUEST (xid=0x1): data=68656c6c', 'BARRIER_REQUEST (xid=0x2)']);
});

test('ofp-print prints a flow-mod with names', (t) => {
  const r = run(['ofp-print', FLOW_MOD]);
  t.is(r.status, 0, r.out.join('\n'));
  t.regex(r.out[0]!, /^FLOW_MOD \(xid=0x3\): .*command=ADD .*priority=100 .*match=in_port=1 instructions=\[APPLY_ACTIONS\{actions=\[OUTPUT\{port=2 maxLen=0\}\]\}\]$/);
});

test('ofp-print reads hex from standard input, with spaces and newlines', (t) => {
  const r = run(['ofp-print', '-'], '04 02 00 0c 00 00 00 01\n68 65 6c 6c\n');
  t.is(r.status, 0);
  t.deepEqual(r.out, ['ECHO_REQUEST (xid=0x1): data=68656c6c']);
});

test('ofp-print reports a decode error with its OpenFlow identity and exits 1', (t) => {
  // FLOW_MOD whose match has type 0 (OFPMT_STANDARD): BAD_MATCH/BAD_TYPE.
  const bad = FLOW_MOD.slice(0, 96) + '0000' + FLOW_MOD.slice(100);
  const r = run(['ofp-print', bad]);
  t.is(r.status, 1);
  t.regex(r.out[0]!, /^decode error BAD_MATCH\/BAD_TYPE \(type BAD_MATCH=4, code 0\)/);
  const j = run(['ofp-print', '--json', bad]);
  t.like(JSON.parse(j.out[0]!), { error: 'BAD_MATCH/BAD_TYPE', errType: 4, code: 0 });
});

test('ofp-print names bad usage and exits 2', (t) => {
  t.is(run(['ofp-print']).status, 2);
  const r = run(['ofp-print', 'xyz']);
  t.is(r.status, 2);
  t.regex(r.err[0]!, /not hex/);
  t.is(run(['ofp-print', '--frobnicate', ECHO]).status, 2);
  t.is(run(['no-such-command']).status, 2);
});

test('ofp-print reports a truncated or mis-framed input', (t) => {
  const r = run(['ofp-print', ECHO + '0414']);
  t.is(r.status, 1);
  t.regex(r.out[1]!, /too short for an OpenFlow header/);
  const r2 = run(['ofp-print', '0402ffff00000001']);
  t.is(r2.status, 1);
  t.regex(r2.out[0]!, /declares length 65535/);
});

test('ofp-encode(ofp-print --json(x)) == x', (t) => {
  for (const hex of [ECHO, BARRIER, FLOW_MOD]) {
    const j = run(['ofp-print', '--json', hex]);
    t.is(j.status, 0);
    const e = run(['ofp-encode'], j.out.join('\n'));
    t.is(e.status, 0, e.err.join('\n'));
    t.deepEqual(e.out, [hex]);
  }
});

test('ofp-encode names the line and the field it cannot take', (t) => {
  const r = run(['ofp-encode'], '{"type":"BARRIER_REQUEST","xid":1}\n{"type":"FLOW_MOD","xid":1}\n{"type":"NOPE"}\nnot json\n');
  t.is(r.status, 1);
  t.deepEqual(r.out, ['0414000800000001']);
  t.is(r.err.length, 3);
  t.regex(r.err[0]!, /^line 2: \$\.cookie: missing/);
  t.regex(r.err[1]!, /^line 3: \$\.type: expected an integer/);
  t.regex(r.err[2]!, /^line 4: /);
});

test('the ofswitch binary prints help, and decodes through stdin', (t) => {
  const help = execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  t.regex(help, /^usage: ofswitch COMMAND/);
  const r = spawnSync(process.execPath, [bin, 'ofp-print', '-'], { input: ECHO, encoding: 'utf8' });
  t.is(r.status, 0);
  t.is(r.stdout, 'ECHO_REQUEST (xid=0x1): data=68656c6c\n');
  const e = spawnSync(process.execPath, [bin, 'ofp-encode'], { input: '{"type":"HELLO","xid":5,"elements":[{"type":"VERSIONBITMAP","bitmaps":[16]}]}', encoding: 'utf8' });
  t.is(e.status, 0, e.stderr);
  // HELLO, 16 bytes, xid 5; element VERSIONBITMAP (1), length 8, bitmap 0x10 (bit 4: OpenFlow 1.3).
  t.is(e.stdout, '04000010' + '00000005' + '00010008' + '00000010' + '\n');
});
