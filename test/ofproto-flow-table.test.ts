/**
 * The pipeline (src/ofproto/flow-table.ts, timeouts.ts): every FLOW_MOD command and flag, the
 * selection filters, counters, exact timeouts and FLOW_REMOVED, stats; and a differential check
 * that every standard flow-mod Open vSwitch's own client sends (captured live from ovs-ofctl) is
 * accepted in sequence.
 */

import test from 'ava';
import {
  OFPFC, OFPFF, OFPP, OFPG, OFPRR, OFPT, decode, encode, errorName,
  type FlowMod, type Oxm,
} from '../src/openflow/index.js';
import {
  Pipeline, isError, wantsFlowRemoved, flowRemovedMessage, flowStatsEntry, duration,
  type FlowModResult, type Rule, type FlowStatsRequest,
} from '../src/ofproto/flow-table.js';
import { compileMatch, isMatchError } from '../src/xlate/match.js';
import type { ErrorPair } from '../proto/schema.js';
import { OVS_OFCTL_STANDARD_CASES, captureOvsOfctl, requireTool } from './peers/peers.js';
import {
  fakeEnv, flowMod, applyActions, writeActions, gotoTable, output, group, X, ethType, inPort, ip4, type FakeEnv,
} from './ofproto-helpers.js';

function ok(t: { fail(m: string): void }, r: FlowModResult | ErrorPair): FlowModResult {
  if (isError(r)) {
    t.fail(`unexpected error ${errorName(r[0], r[1])}`);
    return { removed: [], added: [], replaced: [], modified: [] };
  }
  return r;
}

/** The same rules (by identity), in any order. */
function same(t: { true(v: boolean, m?: string): void }, actual: Iterable<Rule | undefined>, expected: Iterable<Rule | undefined>, m?: string): void {
  const a = [...actual];
  const b = [...expected];
  t.true(a.length === b.length && a.every((x) => b.includes(x)), m ?? `${a.length} rules vs ${b.length} expected`);
}

const errName = (r: FlowModResult | ErrorPair): string => (isError(r) ? errorName(r[0], r[1]) : 'ok');

/** A flow key with these exact fields (enough for lookups against rules on the same fields). */
function flow(match: Oxm[]): Uint32Array {
  const cm = compileMatch(match);
  if (isMatchError(cm)) throw new Error('bad flow');
  return cm.key;
}

function setup(opts: { nTables?: number; maxEntries?: number } = {}): { env: FakeEnv; p: Pipeline } {
  const env = fakeEnv();
  return { env, p: new Pipeline(env, opts) };
}

const stats = (p: Pipeline, req: Partial<FlowStatsRequest> = {}): Rule[] => {
  const r = p.flowStats({ tableId: 0xff, outPort: OFPP.ANY, outGroup: OFPG.ANY, cookie: 0n, cookieMask: 0n, match: [], ...req });
  if (isError(r)) throw new Error(errorName(r[0], r[1]));
  return r;
};

// ---------------------------------------------------------------------------------------------
// ADD
// ---------------------------------------------------------------------------------------------

test('ADD installs; lookup takes the highest priority and counts per table', (t) => {
  const { p } = setup();
  ok(t, p.applyFlowMod(flowMod({ priority: 10, match: [inPort(1)], instructions: [applyActions(output(2))] })));
  ok(t, p.applyFlowMod(flowMod({ priority: 20, match: [inPort(1), ...ip4()], instructions: [applyActions(output(3))] })));
  t.is(p.size, 2);
  t.is(p.lookup(0, flow([inPort(1), ...ip4()]))?.priority, 20);
  t.is(p.lookup(0, flow([inPort(1), ethType(0x86dd)]))?.priority, 10);
  t.is(p.lookup(0, flow([inPort(2)])), undefined);
  t.is(p.lookup(1, flow([inPort(1)])), undefined);
  const ts = p.tableStats();
  t.is(ts.length, 255);
  t.deepEqual(ts[0], { tableId: 0, activeCount: 2, lookupCount: 3n, matchedCount: 2n });
  t.deepEqual(ts[1], { tableId: 1, activeCount: 0, lookupCount: 1n, matchedCount: 0n });
});

test('ADD of an identical match and priority replaces: counters kept, duration restarted', (t) => {
  const { env, p } = setup();
  const first = ok(t, p.applyFlowMod(flowMod({ priority: 5, match: [inPort(1)], cookie: 1n, instructions: [applyActions(output(2))] }))).added[0]!;
  p.credit(first, 10n, 1000n, env.t + 5);
  env.t += 2500;
  const r = ok(t, p.applyFlowMod(flowMod({ priority: 5, match: [inPort(1)], cookie: 2n, instructions: [applyActions(output(3))] })));
  t.deepEqual(r.replaced, [first]);
  t.deepEqual(r.removed, []);
  const now = r.added[0]!;
  t.is(p.size, 1);
  t.is(now.packetCount, 10n);
  t.is(now.byteCount, 1000n);
  t.is(now.cookie, 2n);
  t.is(now.installedAt, env.t);
  t.is(p.lookup(0, flow([inPort(1)])), now);
  // A different priority is another rule.
  ok(t, p.applyFlowMod(flowMod({ priority: 6, match: [inPort(1)] })));
  t.is(p.size, 2);
});

test('ADD with RESET_COUNTS replacing a rule starts its counters at zero', (t) => {
  const { env, p } = setup();
  const first = ok(t, p.applyFlowMod(flowMod({ match: [inPort(1)] }))).added[0]!;
  p.credit(first, 3n, 300n, env.t);
  const now = ok(t, p.applyFlowMod(flowMod({ match: [inPort(1)], flags: OFPFF.RESET_COUNTS }))).added[0]!;
  t.is(now.packetCount, 0n);
  t.is(now.byteCount, 0n);
});

test('CHECK_OVERLAP: FLOW_MOD_FAILED/OVERLAP for a same-priority rule some packet could match too', (t) => {
  const { p } = setup();
  ok(t, p.applyFlowMod(flowMod({ priority: 100, match: [inPort(1)] })));
  const co = (match: Oxm[], priority = 100): string => errName(p.applyFlowMod(flowMod({ priority, match, flags: OFPFF.CHECK_OVERLAP })));
  t.is(co([...ip4()]), 'FLOW_MOD_FAILED/OVERLAP'); // in_port=1,ip matches both
  t.is(co([inPort(1)]), 'FLOW_MOD_FAILED/OVERLAP'); // identical
  t.is(co([ethType(0x0800)], 99), 'ok'); // another priority
  t.is(co([inPort(2), ...ip4()]), 'ok'); // disjoint on in_port
  t.is(p.size, 3);
  // Without the flag the overlapping ADD goes in.
  t.is(errName(p.applyFlowMod(flowMod({ priority: 100, match: [ethType(0x86dd)] }))), 'ok');
});

test('table full: TABLE_FULL for a new rule, replacing still works', (t) => {
  const { p } = setup({ maxEntries: 2 });
  ok(t, p.applyFlowMod(flowMod({ match: [inPort(1)] })));
  ok(t, p.applyFlowMod(flowMod({ match: [inPort(2)] })));
  t.is(errName(p.applyFlowMod(flowMod({ match: [inPort(3)] }))), 'FLOW_MOD_FAILED/TABLE_FULL');
  t.is(errName(p.applyFlowMod(flowMod({ match: [inPort(2)], instructions: [applyActions(output(1))] }))), 'ok');
  t.is(errName(p.applyFlowMod(flowMod({ tableId: 1, match: [inPort(3)] }))), 'ok', 'the limit is per table');
  p.setMaxEntries(0, 3);
  t.is(errName(p.applyFlowMod(flowMod({ match: [inPort(3)] }))), 'ok');
});

test('a refused flow-mod changes nothing', (t) => {
  const { p } = setup();
  ok(t, p.applyFlowMod(flowMod({ match: [inPort(1)], instructions: [applyActions(output(2))] })));
  const before = [...p.rules()];
  t.is(errName(p.applyFlowMod(flowMod({ command: OFPFC.MODIFY, instructions: [applyActions(output(2)), applyActions()] }))), 'EXPERIMENTER/code2600');
  t.is(errName(p.applyFlowMod(flowMod({ command: OFPFC.MODIFY, instructions: [applyActions(output(9))] }))), 'BAD_ACTION/BAD_OUT_PORT');
  t.deepEqual([...p.rules()], before);
  t.deepEqual(before[0]!.instructions, [applyActions(output(2))]);
});

// ---------------------------------------------------------------------------------------------
// MODIFY
// ---------------------------------------------------------------------------------------------

test('MODIFY never adds, changes instructions of the rules it selects, keeps the rest', (t) => {
  const { env, p } = setup();
  t.deepEqual(ok(t, p.applyFlowMod(flowMod({ command: OFPFC.MODIFY, match: [inPort(1)] }))).modified, []);
  t.is(p.size, 0, 'MODIFY on an empty table adds nothing (OF 1.3)');
  const a = ok(t, p.applyFlowMod(flowMod({ priority: 1, cookie: 7n, idleTimeout: 50, flags: OFPFF.SEND_FLOW_REM, match: [inPort(1), ...ip4()] }))).added[0]!;
  const b = ok(t, p.applyFlowMod(flowMod({ priority: 2, match: [inPort(1)] }))).added[0]!;
  const c = ok(t, p.applyFlowMod(flowMod({ priority: 3, match: [inPort(2)] }))).added[0]!;
  p.credit(a, 4n, 40n, env.t);
  env.t += 1000;
  const r = ok(t, p.applyFlowMod(flowMod({ command: OFPFC.MODIFY, cookie: 99n, idleTimeout: 1, flags: 0, priority: 77, match: [inPort(1)], instructions: [applyActions(output(3))] })));
  same(t, r.modified, [a, b]);
  t.deepEqual(a.instructions, [applyActions(output(3))]);
  t.deepEqual(b.instructions, [applyActions(output(3))]);
  t.deepEqual(c.instructions, []);
  t.is(a.cookie, 7n, 'cookie unchanged');
  t.is(a.idleTimeout, 50);
  t.is(a.flags, OFPFF.SEND_FLOW_REM);
  t.is(a.packetCount, 4n, 'counters kept');
  t.is(a.installedAt, env.t - 1000, 'duration kept');
  t.is(p.size, 3);
  // RESET_COUNTS on a modify clears them.
  ok(t, p.applyFlowMod(flowMod({ command: OFPFC.MODIFY, flags: OFPFF.RESET_COUNTS, match: [inPort(1), ...ip4()] })));
  t.is(a.packetCount, 0n);
  t.is(a.byteCount, 0n);
});

test('MODIFY_STRICT selects only the same match and priority', (t) => {
  const { p } = setup();
  const a = ok(t, p.applyFlowMod(flowMod({ priority: 1, match: [inPort(1)] }))).added[0]!;
  const b = ok(t, p.applyFlowMod(flowMod({ priority: 2, match: [inPort(1)] }))).added[0]!;
  ok(t, p.applyFlowMod(flowMod({ priority: 2, match: [inPort(1), ...ip4()] })));
  const r = ok(t, p.applyFlowMod(flowMod({ command: OFPFC.MODIFY_STRICT, priority: 2, match: [inPort(1)], instructions: [applyActions(output(2))] })));
  t.deepEqual(r.modified, [b]);
  t.deepEqual(a.instructions, []);
  t.deepEqual(ok(t, p.applyFlowMod(flowMod({ command: OFPFC.MODIFY_STRICT, priority: 3, match: [inPort(1)] }))).modified, []);
  t.is(p.size, 3);
});

test('MODIFY: the cookie mask filters, out_port/out_group do not', (t) => {
  const { p } = setup();
  const a = ok(t, p.applyFlowMod(flowMod({ cookie: 0x10n, match: [inPort(1)], instructions: [applyActions(output(1))] }))).added[0]!;
  const b = ok(t, p.applyFlowMod(flowMod({ cookie: 0x20n, match: [inPort(2)], instructions: [applyActions(output(1))] }))).added[0]!;
  const r = ok(t, p.applyFlowMod(flowMod({ command: OFPFC.MODIFY, cookie: 0x10n, cookieMask: 0xf0n, outPort: 3, instructions: [applyActions(output(2))] })));
  t.deepEqual(r.modified, [a]);
  t.deepEqual(b.instructions, [applyActions(output(1))]);
  // Full cookie mask (the cookie index path).
  t.deepEqual(ok(t, p.applyFlowMod(flowMod({ command: OFPFC.MODIFY, cookie: 0x20n, cookieMask: 0xffff_ffff_ffff_ffffn }))).modified, [b]);
});

// ---------------------------------------------------------------------------------------------
// DELETE
// ---------------------------------------------------------------------------------------------

function populate(p: Pipeline, t: { fail(m: string): void }): Rule[] {
  return [
    flowMod({ tableId: 0, priority: 1, cookie: 0x11n, match: [inPort(1)], instructions: [applyActions(output(2))], flags: OFPFF.SEND_FLOW_REM }),
    flowMod({ tableId: 0, priority: 2, cookie: 0x12n, match: [inPort(1), ...ip4()], instructions: [writeActions(output(3))] }),
    flowMod({ tableId: 0, priority: 3, cookie: 0x21n, match: [inPort(2)], instructions: [applyActions(group(1))] }),
    flowMod({ tableId: 1, priority: 1, cookie: 0x11n, match: [inPort(1)], instructions: [applyActions(output(2), group(5))] }),
    flowMod({ tableId: 2, priority: 9, cookie: 0x31n, match: [], instructions: [writeActions(group(1))] }),
  ].map((fm) => ok(t, p.applyFlowMod(fm)).added[0]!);
}

const del = (p: Pipeline, x: Partial<FlowMod>): FlowModResult | ErrorPair => p.applyFlowMod(flowMod({ command: OFPFC.DELETE, ...x }));

test('DELETE non-strict by match, and table 0xff for every table', (t) => {
  const { p } = setup();
  const rs = populate(p, t);
  const r = ok(t, del(p, { tableId: 0, match: [inPort(1)] }));
  same(t, r.removed.map((x) => x.rule), [rs[0], rs[1]]);
  t.true(r.removed.every((x) => x.reason === OFPRR.DELETE));
  t.is(p.size, 3);
  same(t, ok(t, del(p, { tableId: 0xff, match: [inPort(1)] })).removed.map((x) => x.rule), [rs[3]]);
  same(t, ok(t, del(p, { tableId: 0xff })).removed.map((x) => x.rule), [rs[2], rs[4]]);
  t.is(p.size, 0);
});

test('DELETE_STRICT: same match and priority only, in one table or all', (t) => {
  const { p } = setup();
  const rs = populate(p, t);
  t.deepEqual(ok(t, p.applyFlowMod(flowMod({ command: OFPFC.DELETE_STRICT, priority: 2, match: [inPort(1)] }))).removed, []);
  t.deepEqual(ok(t, p.applyFlowMod(flowMod({ command: OFPFC.DELETE_STRICT, tableId: 0xff, priority: 1, match: [inPort(1)] }))).removed.map((x) => x.rule), [rs[0], rs[3]]);
  t.is(p.size, 3);
});

test('DELETE filters: cookie mask, out_port (apply or write), out_group', (t) => {
  const { p } = setup();
  const rs = populate(p, t);
  const ids = (r: FlowModResult | ErrorPair): number[] => ok(t, r).removed.map((x) => rs.indexOf(x.rule)).sort();
  const fresh = (): Pipeline => {
    const q = new Pipeline(fakeEnv());
    rs.splice(0, rs.length, ...populate(q, t));
    return q;
  };
  t.deepEqual(ids(del(p, { tableId: 0xff, cookie: 0x10n, cookieMask: 0xf0n })), [0, 1, 3]);
  let q = fresh();
  t.deepEqual(ids(del(q, { tableId: 0xff, cookie: 0x11n, cookieMask: 0xffff_ffff_ffff_ffffn })), [0, 3]);
  q = fresh();
  t.deepEqual(ids(del(q, { tableId: 0xff, outPort: 2 })), [0, 3]);
  q = fresh();
  t.deepEqual(ids(del(q, { tableId: 0xff, outPort: 3 })), [1], 'write-actions output counts');
  q = fresh();
  t.deepEqual(ids(del(q, { tableId: 0xff, outGroup: 1 })), [2, 4]);
  q = fresh();
  t.deepEqual(ids(del(q, { tableId: 0xff, outPort: 2, outGroup: 5 })), [3], 'both filters at once');
  q = fresh();
  t.deepEqual(ids(p.applyFlowMod(flowMod({ command: OFPFC.DELETE_STRICT, priority: 1, match: [inPort(1)], outPort: 3 }))), []);
  t.deepEqual(ids(q.applyFlowMod(flowMod({ command: OFPFC.DELETE_STRICT, priority: 1, match: [inPort(1)], outPort: 2 }))), [0]);
});

test('DELETE returns every removed rule; wantsFlowRemoved picks those with SEND_FLOW_REM', (t) => {
  const { p } = setup();
  populate(p, t);
  const r = ok(t, del(p, { tableId: 0xff }));
  t.is(r.removed.length, 5);
  t.deepEqual(r.removed.filter(wantsFlowRemoved).map((x) => x.rule.cookie), [0x11n]);
});

test('the cookie index agrees with a scan (full-mask selection)', (t) => {
  const { p } = setup();
  let seed = 12345;
  const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
  for (let i = 0; i < 400; i++) {
    const m: Oxm[] = [inPort(1 + rnd(4))];
    if (rnd(2) === 1) m.push(ethType(rnd(2) === 1 ? 0x0800 : 0x86dd));
    p.applyFlowMod(flowMod({ tableId: rnd(3), priority: rnd(5), cookie: BigInt(rnd(6)), match: m }));
  }
  let seen = 0;
  for (let c = 0n; c < 6n; c++) {
    for (const match of [[], [inPort(2)], [inPort(3), ethType(0x0800)]]) {
      const viaIndex = stats(p, { cookie: c, cookieMask: 0xffff_ffff_ffff_ffffn, match });
      const all = stats(p, { match });
      same(t, viaIndex, all.filter((r) => r.cookie === c), `cookie ${c}`);
      seen += viaIndex.length;
    }
  }
  t.true(seen > 100, `only ${seen} rules selected: the comparison would prove little`);
});

test('a rule keeps its key compactly; rule.key rebuilds the compiled key, whatever came after', (t) => {
  const { p } = setup();
  const matches: Oxm[][] = [
    [inPort(7), ethType(0x0800), { field: X.IPV4_DST, value: '192.168.1.200' }],
    [ethType(0x0800), { field: X.IPV4_SRC, value: '10.1.0.0', mask: '255.255.0.0' }],
    [inPort(0xfffffff0)],
  ];
  const rules = matches.map((m, i) => ok(t, p.applyFlowMod(flowMod({ priority: 10 + i, match: m }))).added[0]!);
  // Later flow-mods reuse the compilation scratch: the rules must not have kept it.
  ok(t, p.applyFlowMod(flowMod({ priority: 1, match: [inPort(3)] })));
  matches.forEach((m, i) => {
    const cm = compileMatch(m);
    if (isMatchError(cm)) throw new Error('bad match');
    const r = rules[i]!;
    t.deepEqual([...r.key], [...cm.key], `rule ${i}: key`);
    t.deepEqual([...r.mask], [...cm.mask], `rule ${i}: mask`);
    t.true(r.vals.length < 8, `rule ${i}: ${r.vals.length} words kept`);
    t.is(p.lookup(0, cm.key), r, `rule ${i}: found by a flow with its fields`);
  });
});

test('deleteFlowsUsingGroup: reason GROUP_DELETE, follows MODIFY changes', (t) => {
  const { p } = setup();
  const rs = populate(p, t);
  const gone = p.deleteFlowsUsingGroup(1);
  same(t, gone.map((x) => x.rule), [rs[2], rs[4]]);
  t.true(gone.every((x) => x.reason === OFPRR.GROUP_DELETE));
  t.deepEqual(p.deleteFlowsUsingGroup(1), []);
  // A MODIFY that drops the group action takes the rule off the group's list.
  ok(t, p.applyFlowMod(flowMod({ command: OFPFC.MODIFY, tableId: 1, match: [inPort(1)], instructions: [applyActions(output(1))] })));
  t.deepEqual(p.deleteFlowsUsingGroup(5), []);
  ok(t, p.applyFlowMod(flowMod({ command: OFPFC.MODIFY, tableId: 1, match: [inPort(1)], instructions: [applyActions(group(5))] })));
  t.deepEqual(p.deleteFlowsUsingGroup(5).map((x) => x.rule), [rs[3]]);
  same(t, p.rules(), [rs[0], rs[1]]);
});

// ---------------------------------------------------------------------------------------------
// Timeouts and FLOW_REMOVED
// ---------------------------------------------------------------------------------------------

test('hard timeout expires at exactly installedAt + hard, and nextExpiry says when', (t) => {
  const { env, p } = setup();
  const t0 = env.t;
  const r = ok(t, p.applyFlowMod(flowMod({ hardTimeout: 3, match: [inPort(1)], flags: OFPFF.SEND_FLOW_REM }))).added[0]!;
  t.is(p.nextExpiry(), t0 + 3000);
  p.credit(r, 1n, 64n, t0 + 2999); // use does not postpone a hard timeout
  env.t = t0 + 2999;
  t.deepEqual(p.expire(), []);
  t.is(p.nextExpiry(), t0 + 3000);
  env.t = t0 + 3000;
  const gone = p.expire();
  t.is(gone.length, 1);
  t.like(gone[0], { rule: r, reason: OFPRR.HARD_TIMEOUT, at: t0 + 3000 });
  t.is(p.size, 0);
  t.is(p.nextExpiry(), undefined);
});

test('idle timeout: exact, postponed by credit(), re-armed at the true deadline', (t) => {
  const { env, p } = setup();
  const t0 = env.t;
  const r = ok(t, p.applyFlowMod(flowMod({ idleTimeout: 2, match: [inPort(1)] }))).added[0]!;
  t.is(p.nextExpiry(), t0 + 2000);
  env.t = t0 + 1500;
  p.credit(r, 5n, 500n, t0 + 1400);
  t.is(p.nextExpiry(), t0 + 3400, 'exact after the credit, not the stale key');
  env.t = t0 + 2000;
  t.deepEqual(p.expire(), []);
  p.credit(r, 1n, 100n, t0 + 1000); // an older report changes nothing
  t.is(r.lastUsedAt, t0 + 1400);
  env.t = t0 + 3399;
  t.deepEqual(p.expire(), []);
  env.t = t0 + 3400;
  const gone = p.expire();
  t.like(gone[0], { rule: r, reason: OFPRR.IDLE_TIMEOUT, at: t0 + 3400 });
  t.is(r.packetCount, 6n);
});

test('idle and hard together: whichever comes first; a late expire() reports the true deadline', (t) => {
  const { env, p } = setup();
  const t0 = env.t;
  const a = ok(t, p.applyFlowMod(flowMod({ idleTimeout: 1, hardTimeout: 5, match: [inPort(1)] }))).added[0]!;
  const b = ok(t, p.applyFlowMod(flowMod({ idleTimeout: 10, hardTimeout: 2, match: [inPort(2)] }))).added[0]!;
  const c = ok(t, p.applyFlowMod(flowMod({ idleTimeout: 3, hardTimeout: 3, match: [inPort(3)] }))).added[0]!;
  t.is(p.nextExpiry(), t0 + 1000);
  env.t = t0 + 60_000; // the timer fired late
  const gone = p.expire();
  t.deepEqual(gone.map((x) => [x.rule, x.reason, x.at]), [
    [a, OFPRR.IDLE_TIMEOUT, t0 + 1000],
    [b, OFPRR.HARD_TIMEOUT, t0 + 2000],
    [c, OFPRR.HARD_TIMEOUT, t0 + 3000], // a tie goes to hard
  ]);
});

test('timers follow the rules: deleted, replaced and modified rules', (t) => {
  const { env, p } = setup();
  const t0 = env.t;
  ok(t, p.applyFlowMod(flowMod({ hardTimeout: 1, match: [inPort(1)] })));
  ok(t, del(p, { match: [inPort(1)] }));
  t.is(p.nextExpiry(), undefined, 'a deleted rule has no timer');
  ok(t, p.applyFlowMod(flowMod({ hardTimeout: 1, match: [inPort(2)] })));
  env.t = t0 + 500;
  const r = ok(t, p.applyFlowMod(flowMod({ hardTimeout: 4, match: [inPort(2)] }))).added[0]!;
  t.is(p.nextExpiry(), t0 + 4500, 'the replacement has its own timer, the old one is gone');
  ok(t, p.applyFlowMod(flowMod({ command: OFPFC.MODIFY, hardTimeout: 1, match: [inPort(2)] })));
  t.is(p.nextExpiry(), t0 + 4500, 'MODIFY does not touch timeouts');
  env.t = t0 + 1500;
  t.deepEqual(p.expire(), []);
  env.t = t0 + 4500;
  t.deepEqual(p.expire().map((x) => x.rule), [r]);
  // Rules without timeouts never expire.
  ok(t, p.applyFlowMod(flowMod({ match: [inPort(3)] })));
  t.is(p.nextExpiry(), undefined);
});

test('many rules expire in deadline order, one timer at a time', (t) => {
  const { env, p } = setup();
  const t0 = env.t;
  for (let i = 0; i < 200; i++) p.applyFlowMod(flowMod({ hardTimeout: 1 + ((i * 37) % 50), match: [inPort(1 + i)] }));
  let last = 0;
  let n = 0;
  for (let next = p.nextExpiry(); next !== undefined; next = p.nextExpiry()) {
    t.true(next >= last);
    env.t = next;
    const gone = p.expire();
    t.true(gone.length > 0);
    for (const g of gone) t.is(g.at, next);
    n += gone.length;
    last = next;
  }
  t.is(n, 200);
  t.is(last, t0 + 50_000);
});

test('FLOW_REMOVED: reason, exact duration, counters, timeouts and the match as sent; it encodes', (t) => {
  const { env, p } = setup();
  const t0 = env.t;
  const match: Oxm[] = [...ip4(), { field: X.IPV4_DST, value: '10.0.0.0', mask: '255.0.0.0' }];
  const r = ok(t, p.applyFlowMod(flowMod({ tableId: 3, priority: 0x1000, cookie: 0xabcdn, idleTimeout: 10, hardTimeout: 0, flags: OFPFF.SEND_FLOW_REM, match }))).added[0]!;
  p.credit(r, 100n, 40000n, t0 + 50_500);
  env.t = t0 + 60_500;
  const gone = p.expire();
  t.is(gone.length, 1);
  t.true(wantsFlowRemoved(gone[0]!));
  const msg = flowRemovedMessage(gone[0]!);
  t.deepEqual(msg, {
    version: 4, type: OFPT.FLOW_REMOVED, xid: 0, cookie: 0xabcdn, priority: 0x1000, reason: OFPRR.IDLE_TIMEOUT, tableId: 3,
    durationSec: 60, durationNsec: 500_000_000, idleTimeout: 10, hardTimeout: 0, packetCount: 100n, byteCount: 40000n, match,
  });
  const back = decode(encode(msg));
  t.true(back.ok);
  if (back.ok) t.deepEqual(back.msg, msg);
  // Sub-millisecond clocks give nanoseconds.
  t.deepEqual(duration(1000, 1000 + 1234.5678), { sec: 1, nsec: 234_567_800 });
  t.deepEqual(duration(5, 5), { sec: 0, nsec: 0 });
});

test('a DELETE reports removal time now; the FLOW_REMOVED reason is DELETE', (t) => {
  const { env, p } = setup();
  ok(t, p.applyFlowMod(flowMod({ match: [inPort(1)], flags: OFPFF.SEND_FLOW_REM })));
  env.t += 1234;
  const [removed] = ok(t, del(p, {})).removed;
  t.like(flowRemovedMessage(removed!), { reason: OFPRR.DELETE, durationSec: 1, durationNsec: 234_000_000 });
});

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

test('flow stats and aggregate: table, out_port, out_group, cookie and match filters', (t) => {
  const { env, p } = setup();
  const rs = populate(p, t);
  p.credit(rs[0]!, 2n, 200n, env.t);
  p.credit(rs[3]!, 3n, 300n, env.t);
  t.is(stats(p).length, 5);
  t.deepEqual(stats(p, { tableId: 0 }).length, 3);
  same(t, stats(p, { match: [inPort(1)] }), [rs[0], rs[1], rs[3]]);
  t.deepEqual(stats(p, { outPort: 2 }), [rs[0], rs[3]]);
  same(t, stats(p, { outGroup: 1 }), [rs[2], rs[4]]);
  t.deepEqual(stats(p, { cookie: 0x30n, cookieMask: 0xf0n }), [rs[4]]);
  t.deepEqual(p.aggregate({ tableId: 0xff, outPort: OFPP.ANY, outGroup: OFPG.ANY, cookie: 0x11n, cookieMask: 0xffn, match: [] }), { packetCount: 5n, byteCount: 500n, flowCount: 2 });
  const small = new Pipeline(fakeEnv(), { nTables: 4 });
  t.is(errName(small.flowStats({ tableId: 4, outPort: OFPP.ANY, outGroup: OFPG.ANY, cookie: 0n, cookieMask: 0n, match: [] }) as ErrorPair), 'BAD_REQUEST/BAD_TABLE_ID');
  t.is(errName(p.flowStats({ tableId: 0xff, outPort: OFPP.ANY, outGroup: OFPG.ANY, cookie: 0n, cookieMask: 0n, match: [{ field: X.TCP_DST, value: 1 }] }) as ErrorPair), 'BAD_MATCH/BAD_PREREQ');
  // A flow-stats entry ages from installation.
  env.t += 2500;
  t.like(flowStatsEntry(rs[0]!, env.t), { durationSec: 2, durationNsec: 500_000_000, packetCount: 2n, cookie: 0x11n, tableId: 0 });
});

test('credit counts as matched lookups in the rule table', (t) => {
  const { env, p } = setup();
  const r = ok(t, p.applyFlowMod(flowMod({ tableId: 2, match: [inPort(1)], instructions: [gotoTable(3)] }))).added[0]!;
  p.credit(r, 10n, 1000n, env.t);
  t.like(p.tableStats()[2], { activeCount: 1, lookupCount: 10n, matchedCount: 10n });
});

// ---------------------------------------------------------------------------------------------
// Differential: what Open vSwitch's client sends is accepted
// ---------------------------------------------------------------------------------------------

const FLOW_CASES = OVS_OFCTL_STANDARD_CASES.filter((c) => c.expectType === OFPT.FLOW_MOD);

test('every standard flow-mod ovs-ofctl sends is accepted, applied in sequence', async (t) => {
  requireTool('ovs-ofctl');
  t.true(FLOW_CASES.length > 60);
  // Capture concurrently (each ovs-ofctl run waits on sockets, not CPU), then apply in order.
  const frames: Array<{ name: string; fms: FlowMod[] }> = [];
  const caps = new Array<Promise<void>>();
  const queue = [...FLOW_CASES.entries()];
  const worker = async (): Promise<void> => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      const [i, c] = item;
      const cap = await captureOvsOfctl(c.args, { stdin: c.stdin, ports: c.ports });
      const fms: FlowMod[] = [];
      for (const f of cap.frames) {
        const d = decode(f);
        if (d.ok && d.msg.type === OFPT.FLOW_MOD) fms.push(d.msg);
      }
      frames[i] = { name: c.name, fms };
    }
  };
  for (let w = 0; w < 6; w++) caps.push(worker());
  await Promise.all(caps);

  const env = fakeEnv({ ports: [1, 2, 3], groups: [1], meters: [1] });
  const p = new Pipeline(env);
  const problems: string[] = [];
  let applied = 0;
  for (const { name, fms } of frames) {
    if (fms.length === 0) problems.push(`${name}: no FLOW_MOD captured`);
    for (const fm of fms) {
      // Each case alone on an empty pipeline...
      const alone = new Pipeline(env).applyFlowMod(fm);
      if (isError(alone)) problems.push(`${name} (alone): ${errName(alone)}`);
      // ...and all of them in sequence, where the only refusal allowed is CHECK_OVERLAP's.
      const r = p.applyFlowMod(fm);
      applied++;
      if (isError(r) && !((fm.flags & OFPFF.CHECK_OVERLAP) !== 0 && errName(r) === 'FLOW_MOD_FAILED/OVERLAP')) {
        problems.push(`${name}: ${errName(r)}`);
      }
    }
  }
  t.deepEqual(problems, []);
  t.true(applied >= FLOW_CASES.length);
  t.log(`${FLOW_CASES.length} ovs-ofctl cases, ${applied} flow-mods applied; ${p.size} rules left`);
});
