/**
 * Target strings as ovs-vsctl set-controller and ovs-ofctl write them: every form parses to the
 * right value (default port 6653, passive default 127.0.0.1, IPv6 in brackets), every mistake
 * gives a message naming it, and formatTarget reads back to the same value.
 */

import test from 'ava';
import fc from 'fast-check';
import { parseTarget, formatTarget, isPassive, type Target } from '../src/ofproto/target.js';

const good: ReadonlyArray<[string, Target]> = [
  ['tcp:10.0.0.1', { kind: 'tcp', host: '10.0.0.1', port: 6653 }],
  ['tcp:10.0.0.1:6633', { kind: 'tcp', host: '10.0.0.1', port: 6633 }],
  ['tcp:controller.example:1', { kind: 'tcp', host: 'controller.example', port: 1 }],
  ['tcp:[::1]', { kind: 'tcp', host: '::1', port: 6653 }],
  ['tcp:[fe80::1]:7000', { kind: 'tcp', host: 'fe80::1', port: 7000 }],
  ['ssl:10.0.0.2', { kind: 'ssl', host: '10.0.0.2', port: 6653 }],
  ['ssl:10.0.0.2:6654', { kind: 'ssl', host: '10.0.0.2', port: 6654 }],
  ['unix:/var/run/ofswitch/br0.mgmt', { kind: 'unix', path: '/var/run/ofswitch/br0.mgmt' }],
  ['unix:relative.sock', { kind: 'unix', path: 'relative.sock' }],
  ['ptcp:', { kind: 'ptcp', host: '127.0.0.1', port: 6653 }],
  ['ptcp:0', { kind: 'ptcp', host: '127.0.0.1', port: 0 }],
  ['ptcp:6653', { kind: 'ptcp', host: '127.0.0.1', port: 6653 }],
  ['ptcp:6653:0.0.0.0', { kind: 'ptcp', host: '0.0.0.0', port: 6653 }],
  ['ptcp::10.1.1.1', { kind: 'ptcp', host: '10.1.1.1', port: 6653 }],
  ['ptcp:6653:[::]', { kind: 'ptcp', host: '::', port: 6653 }],
  ['pssl:', { kind: 'pssl', host: '127.0.0.1', port: 6653 }],
  ['pssl:6654:192.168.0.1', { kind: 'pssl', host: '192.168.0.1', port: 6654 }],
  ['punix:/tmp/x/br0.mgmt', { kind: 'punix', path: '/tmp/x/br0.mgmt' }],
];

for (const [text, want] of good) {
  test(`parses ${text}`, (t) => {
    const got = parseTarget(text);
    t.deepEqual(got, want);
    t.is(isPassive(want), want.kind.startsWith('p'));
    t.deepEqual(parseTarget(formatTarget(want)), want, 'formatTarget reads back');
  });
}

const bad: ReadonlyArray<[string, RegExp]> = [
  ['10.0.0.1', /METHOD:ARGS/],
  ['udp:10.0.0.1', /unknown method "udp"/],
  ['tcp:', /a host is required/],
  ['tcp::6653', /a host is required/],
  ['tcp:10.0.0.1:0', /out of range \(1\.\.65535\)/],
  ['tcp:10.0.0.1:65536', /out of range/],
  ['tcp:10.0.0.1:http', /not a number/],
  ['tcp:fe80::1:6653', /more than one ":"/],
  ['tcp:[fe80::1', /unterminated "\["/],
  ['tcp:[::1]6653', /unexpected/],
  ['ssl:h:-1', /not a number/],
  ['ptcp:x', /not a number/],
  ['ptcp:70000', /out of range \(0\.\.65535\)/],
  ['ptcp:6653:', /empty listen address/],
  ['ptcp:6653:fe80::1', /IPv6 listen address as \[ADDR\]/],
  ['ptcp:6653:[::1', /unterminated/],
  ['unix:', /a socket path is required/],
  ['punix:', /a socket path is required/],
];

for (const [text, re] of bad) {
  test(`refuses ${text}`, (t) => {
    const got = parseTarget(text);
    t.is(typeof got, 'string');
    t.regex(got as string, re);
    t.true((got as string).startsWith(text), 'the message names the target');
  });
}

test('any valid TCP target round-trips through formatTarget', (t) => {
  const host = fc.oneof(fc.ipV4(), fc.ipV6(), fc.domain());
  fc.assert(fc.property(fc.constantFrom('tcp', 'ssl', 'ptcp', 'pssl') , host, fc.integer({ min: 1, max: 65535 }), (kind, h, port) => {
    const target = { kind, host: h, port } as Target;
    const back = parseTarget(formatTarget(target));
    return JSON.stringify(back) === JSON.stringify(target);
  }));
  t.pass();
});
