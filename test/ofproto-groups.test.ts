/**
 * The group table (src/ofproto/groups.ts): every GROUP_MOD error with its exact (type, code),
 * chaining and loop detection, fast-failover watch rules, counters and the multipart bodies, and
 * the GROUP_MODs that Open vSwitch's ovs-ofctl sends, applied in order.
 */

import test from 'ava';
import fc from 'fast-check';
import {
  OFPAT, OFPG, OFPGC, OFPGFC, OFPGT, OFPMP, OFPP, OFPT, decode, encode, errorName,
  type Action, type Bucket, type GroupMod, type Message,
} from '../src/openflow/index.js';
import type { ErrorPair } from '../proto/schema.js';
import { GroupTable, OFPGC_ADD_OR_MOD, type GroupLimits } from '../src/ofproto/groups.js';
import { isError } from '../src/ofproto/flow-table.js';
import { OVS_OFCTL_CASES, OFPT as PEER_OFPT, captureOvsOfctl, ovsOfpPrint, requireTool } from './peers/peers.js';
import { output, group, setField, X } from './ofproto-helpers.js';

// ---------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------

interface Env { t: number; ports: Set<number>; portExists(p: number): boolean; now(): number }

function env(ports: number[] = [1, 2, 3]): Env {
  const e: Env = { t: 5_000, ports: new Set(ports), portExists: (p) => e.ports.has(p), now: () => e.t };
  return e;
}

function table(limits: GroupLimits = {}, ports?: number[]): { e: Env; g: GroupTable } {
  const e = env(ports);
  return { e, g: new GroupTable(e, limits) };
}

const bucket = (actions: Action[], p: Partial<Omit<Bucket, 'actions'>> = {}): Bucket =>
  ({ weight: 0, watchPort: OFPP.ANY, watchGroup: OFPG.ANY, actions, ...p });

function gm(groupId: number, groupType: number, buckets: Bucket[], command: number = OFPGC.ADD): GroupMod {
  return { version: 4, type: OFPT.GROUP_MOD, xid: 1, command, groupType, groupId, buckets };
}

const add = (id: number, type: number, ...buckets: Bucket[]): GroupMod => gm(id, type, buckets);
const mod = (id: number, type: number, ...buckets: Bucket[]): GroupMod => gm(id, type, buckets, OFPGC.MODIFY);
const del = (id: number, type = 0): GroupMod => gm(id, type, [], OFPGC.DELETE);

/** 'ok', 'deleted:1,2' or the error's name. */
function apply(g: GroupTable, m: GroupMod): string {
  const r = g.applyGroupMod(m);
  if (isError(r)) return errorName(r[0], r[1]);
  return r.deleted.length === 0 ? 'ok' : `deleted:${r.deleted.join(',')}`;
}

const errName = (p: ErrorPair): string => errorName(p[0], p[1]);

// ---------------------------------------------------------------------------------------------
// ADD / MODIFY / DELETE
// ---------------------------------------------------------------------------------------------

test('ADD stores the group as sent; ADD of an existing id is GROUP_EXISTS and changes nothing', (t) => {
  const { g } = table();
  const b = [bucket([output(1)]), bucket([output(2)])];
  t.is(apply(g, add(1, OFPGT.ALL, ...b)), 'ok');
  t.true(g.exists(1));
  t.deepEqual(g.get(1)?.buckets, b);
  t.is(g.get(1)?.type, OFPGT.ALL);
  t.is(apply(g, add(1, OFPGT.SELECT, bucket([output(3)]))), 'GROUP_MOD_FAILED/GROUP_EXISTS');
  t.is(g.get(1)?.type, OFPGT.ALL);
  t.deepEqual(g.get(1)?.buckets, b);
});

test('group ids above OFPG_MAX (including ALL and ANY) are INVALID_GROUP; OFPG_MAX itself is fine', (t) => {
  const { g } = table();
  for (const id of [OFPG.MAX + 1, OFPG.ALL, OFPG.ANY]) {
    t.is(apply(g, add(id, OFPGT.ALL)), 'GROUP_MOD_FAILED/INVALID_GROUP');
    t.is(apply(g, mod(id, OFPGT.ALL)), 'GROUP_MOD_FAILED/INVALID_GROUP');
  }
  t.is(apply(g, add(OFPG.MAX, OFPGT.ALL)), 'ok');
  t.is(apply(g, add(0, OFPGT.ALL)), 'ok');
});

test('MODIFY of a missing group is UNKNOWN_GROUP; MODIFY may change the type and the buckets', (t) => {
  const { e, g } = table();
  t.is(apply(g, mod(7, OFPGT.ALL)), 'GROUP_MOD_FAILED/UNKNOWN_GROUP');
  t.false(g.exists(7));
  t.is(apply(g, add(7, OFPGT.ALL, bucket([output(1)]), bucket([output(2)]))), 'ok');
  g.credit(7, [0, 1], 3n, 300n);
  const created = g.get(7)!.createdAt;
  e.t += 1500;
  t.is(apply(g, mod(7, OFPGT.SELECT, bucket([output(3)], { weight: 5 }))), 'ok');
  const after = g.get(7)!;
  t.is(after.type, OFPGT.SELECT);
  t.deepEqual(after.buckets, [bucket([output(3)], { weight: 5 })]);
  // Counters start again (the buckets are new), the duration does not (OVS modify_group).
  t.is(after.packetCount, 0n);
  t.deepEqual(after.bucketCounters, [{ packetCount: 0n, byteCount: 0n }]);
  t.is(after.createdAt, created);
  t.like((g.stats(7) as { durationSec: number; durationNsec: number }[])[0], { durationSec: 1, durationNsec: 500_000_000 });
});

test('DELETE: a missing group is no error, OFPG_ALL deletes everything, the ids removed are returned', (t) => {
  const { g } = table();
  t.is(apply(g, del(9)), 'ok');
  for (const id of [3, 1, 2]) t.is(apply(g, add(id, OFPGT.ALL)), 'ok');
  t.is(apply(g, del(2)), 'deleted:2');
  t.false(g.exists(2));
  t.is(apply(g, del(2)), 'ok');
  t.is(apply(g, del(OFPG.ALL)), 'deleted:1,3');
  t.is(g.size, 0);
  // ...and a deleted id can be added again without GROUP_EXISTS.
  t.is(apply(g, add(1, OFPGT.ALL)), 'ok');
});

test('DELETE ignores the type field (OF: it need not be specified)', (t) => {
  const { g } = table();
  t.is(apply(g, add(1, OFPGT.SELECT)), 'ok');
  t.is(apply(g, del(1, 200)), 'deleted:1');
});

test('unknown command: BAD_COMMAND; unknown type: BAD_TYPE', (t) => {
  const { g } = table();
  for (const command of [3, 4, 0x7fff, 0xffff]) t.is(apply(g, gm(1, OFPGT.ALL, [], command)), 'GROUP_MOD_FAILED/BAD_COMMAND');
  for (const type of [4, 0x80, 0xff]) t.is(apply(g, add(1, type)), 'GROUP_MOD_FAILED/BAD_TYPE');
  t.is(g.size, 0);
});

test("OVS's ADD_OR_MOD (0x8000) adds a missing group and modifies an existing one", (t) => {
  const { g } = table();
  t.is(apply(g, gm(1, OFPGT.ALL, [bucket([output(1)])], OFPGC_ADD_OR_MOD)), 'ok');
  t.is(apply(g, gm(1, OFPGT.INDIRECT, [bucket([output(2)])], OFPGC_ADD_OR_MOD)), 'ok');
  t.is(g.get(1)?.type, OFPGT.INDIRECT);
  t.is(apply(g, gm(OFPG.ALL, OFPGT.ALL, [], OFPGC_ADD_OR_MOD)), 'GROUP_MOD_FAILED/INVALID_GROUP');
});

// ---------------------------------------------------------------------------------------------
// Buckets
// ---------------------------------------------------------------------------------------------

test('INDIRECT needs exactly one bucket: INVALID_GROUP otherwise', (t) => {
  const { g } = table();
  t.is(apply(g, add(1, OFPGT.INDIRECT)), 'GROUP_MOD_FAILED/INVALID_GROUP');
  t.is(apply(g, add(1, OFPGT.INDIRECT, bucket([output(1)]), bucket([output(2)]))), 'GROUP_MOD_FAILED/INVALID_GROUP');
  t.is(apply(g, add(1, OFPGT.INDIRECT, bucket([output(1)]))), 'ok');
  t.is(apply(g, mod(1, OFPGT.INDIRECT)), 'GROUP_MOD_FAILED/INVALID_GROUP');
});

test('weights: only SELECT buckets may carry one (INVALID_GROUP); weight 0 in SELECT is allowed', (t) => {
  const { g } = table();
  for (const type of [OFPGT.ALL, OFPGT.INDIRECT]) t.is(apply(g, add(1, type, bucket([output(1)], { weight: 1 }))), 'GROUP_MOD_FAILED/INVALID_GROUP');
  t.is(apply(g, add(1, OFPGT.FF, bucket([output(1)], { weight: 1, watchPort: 1 }))), 'GROUP_MOD_FAILED/INVALID_GROUP');
  t.is(apply(g, add(1, OFPGT.SELECT, bucket([output(1)], { weight: 0 }), bucket([output(2)], { weight: 65535 }))), 'ok');
  t.is(apply(g, add(2, OFPGT.ALL, bucket([output(1)]), bucket([]))), 'ok');
});

test('watches: refused on ALL and INDIRECT (WATCH_UNSUPPORTED), required on FF (INVALID_GROUP), allowed on SELECT', (t) => {
  const { g } = table();
  t.is(apply(g, add(10, OFPGT.ALL)), 'ok');
  for (const type of [OFPGT.ALL, OFPGT.INDIRECT]) {
    t.is(apply(g, add(1, type, bucket([output(1)], { watchPort: 1 }))), 'GROUP_MOD_FAILED/WATCH_UNSUPPORTED');
    t.is(apply(g, add(1, type, bucket([output(1)], { watchGroup: 10 }))), 'GROUP_MOD_FAILED/WATCH_UNSUPPORTED');
  }
  t.is(apply(g, add(1, OFPGT.FF, bucket([output(1)]))), 'GROUP_MOD_FAILED/INVALID_GROUP');
  t.is(apply(g, add(1, OFPGT.FF, bucket([output(1)], { watchPort: 1 }), bucket([output(2)]))), 'GROUP_MOD_FAILED/INVALID_GROUP');
  t.is(apply(g, add(1, OFPGT.FF, bucket([output(1)], { watchPort: 1 }), bucket([output(2)], { watchGroup: 10 }))), 'ok');
  t.is(apply(g, add(2, OFPGT.SELECT, bucket([output(1)], { weight: 1, watchPort: 2 }), bucket([output(2)], { weight: 1 }))), 'ok');
  // An FF group with no buckets at all watches nothing and is valid (it drops).
  t.is(apply(g, add(3, OFPGT.FF)), 'ok');
});

test('watch_port must be a port of the switch (or ANY); watch_group an existing group (or ANY): BAD_WATCH', (t) => {
  const { e, g } = table();
  t.is(apply(g, add(1, OFPGT.FF, bucket([output(1)], { watchPort: 9 }))), 'GROUP_MOD_FAILED/BAD_WATCH');
  for (const p of [0, OFPP.MAX + 1, 0xfffffeff, OFPP.IN_PORT, OFPP.TABLE, OFPP.NORMAL, OFPP.FLOOD, OFPP.ALL, OFPP.CONTROLLER]) {
    t.is(apply(g, add(1, OFPGT.FF, bucket([output(1)], { watchPort: p }))), 'GROUP_MOD_FAILED/BAD_WATCH', `port ${p}`);
  }
  t.is(apply(g, add(1, OFPGT.FF, bucket([output(1)], { watchPort: OFPP.LOCAL }))), 'GROUP_MOD_FAILED/BAD_WATCH');
  e.ports.add(OFPP.LOCAL);
  t.is(apply(g, add(1, OFPGT.FF, bucket([output(1)], { watchPort: OFPP.LOCAL }))), 'ok');
  t.is(apply(g, add(2, OFPGT.FF, bucket([output(1)], { watchGroup: 77 }))), 'GROUP_MOD_FAILED/BAD_WATCH');
  t.is(apply(g, add(2, OFPGT.FF, bucket([output(1)], { watchPort: 1, watchGroup: 77 }))), 'GROUP_MOD_FAILED/BAD_WATCH');
  t.is(apply(g, add(2, OFPGT.FF, bucket([output(1)], { watchPort: 1, watchGroup: 1 }))), 'ok');
  t.is(apply(g, add(3, OFPGT.SELECT, bucket([output(1)], { watchPort: 8 }))), 'GROUP_MOD_FAILED/BAD_WATCH');
});

test('bucket actions are validated like a flow entry\'s: BAD_ACTION codes', (t) => {
  const { g } = table();
  const one = (a: Action[]): string => apply(g, add(1, OFPGT.ALL, bucket(a)));
  t.is(one([output(9)]), 'BAD_ACTION/BAD_OUT_PORT');
  t.is(one([output(0)]), 'BAD_ACTION/BAD_OUT_PORT');
  t.is(one([output(OFPP.ANY)]), 'BAD_ACTION/BAD_OUT_PORT');
  t.is(one([output(OFPP.TABLE)]), 'BAD_ACTION/BAD_OUT_PORT');
  t.is(one([group(5)]), 'BAD_ACTION/BAD_OUT_GROUP');
  t.is(one([{ type: OFPAT.EXPERIMENTER, experimenter: 0x2320, data: new Uint8Array(4) } as Action]), 'BAD_ACTION/BAD_EXPERIMENTER');
  t.is(one([{ type: OFPAT.PUSH_VLAN, ethertype: 0x0800 }]), 'BAD_ACTION/BAD_ARGUMENT');
  t.is(one([setField(X.VLAN_VID, 5)]), 'BAD_ACTION/BAD_SET_ARGUMENT');
  t.is(one([setField(X.ETH_TYPE, 0x0800)]), 'BAD_ACTION/BAD_SET_ARGUMENT');
  t.is(g.size, 0);
  // Reserved outputs and set-fields that depend on the packet are fine: a group has no match.
  t.is(one([output(OFPP.IN_PORT), output(OFPP.CONTROLLER), output(OFPP.FLOOD), output(OFPP.ALL), output(OFPP.NORMAL), output(OFPP.LOCAL)]), 'ok');
  t.is(apply(g, add(2, OFPGT.ALL, bucket([setField(X.IPV4_DST, '10.0.0.1'), { type: OFPAT.DEC_NW_TTL }, output(2)]))), 'ok');
  t.is(apply(g, add(3, OFPGT.INDIRECT, bucket([{ type: OFPAT.SET_QUEUE, queueId: 1 } as Action, output(3)]))), 'ok');
  // The error of the first bad bucket wins; later buckets are not looked at.
  t.is(apply(g, add(4, OFPGT.ALL, bucket([output(1)]), bucket([output(9)]), bucket([group(99)]))), 'BAD_ACTION/BAD_OUT_PORT');
});

test('OUT_OF_GROUPS per type; a MODIFY that changes the type counts against the new type', (t) => {
  const { g } = table({ maxGroups: 2 });
  t.is(apply(g, add(1, OFPGT.ALL)), 'ok');
  t.is(apply(g, add(2, OFPGT.ALL)), 'ok');
  t.is(apply(g, add(3, OFPGT.ALL)), 'GROUP_MOD_FAILED/OUT_OF_GROUPS');
  t.is(apply(g, add(3, OFPGT.SELECT)), 'ok');
  t.is(apply(g, mod(1, OFPGT.ALL, bucket([output(1)]))), 'ok', 'same type: no new room needed');
  t.is(apply(g, add(4, OFPGT.SELECT)), 'ok');
  t.is(apply(g, mod(1, OFPGT.SELECT)), 'GROUP_MOD_FAILED/OUT_OF_GROUPS');
  t.is(apply(g, mod(4, OFPGT.ALL)), 'GROUP_MOD_FAILED/OUT_OF_GROUPS');
  t.is(apply(g, del(2)), 'deleted:2');
  t.is(apply(g, mod(4, OFPGT.ALL)), 'ok');
  t.is(apply(g, add(5, OFPGT.SELECT)), 'ok', 'the move freed a SELECT slot');
  t.deepEqual(g.features().maxGroups, [2, 2, 2, 2]);
  t.deepEqual(new GroupTable(env()).features().maxGroups, [65535, 65535, 65535, 65535]);
});

test('OUT_OF_BUCKETS past the per-group limit', (t) => {
  const { g } = table({ maxBuckets: 2 });
  const b = bucket([output(1)]);
  t.is(apply(g, add(1, OFPGT.ALL, b, b, b)), 'GROUP_MOD_FAILED/OUT_OF_BUCKETS');
  t.is(apply(g, add(1, OFPGT.ALL, b, b)), 'ok');
  t.is(apply(g, mod(1, OFPGT.ALL, b, b, b)), 'GROUP_MOD_FAILED/OUT_OF_BUCKETS');
  t.is(g.get(1)?.buckets.length, 2);
});

// ---------------------------------------------------------------------------------------------
// Chaining
// ---------------------------------------------------------------------------------------------

test('chaining: buckets may forward to existing groups; a missing target is BAD_OUT_GROUP', (t) => {
  const { g } = table();
  t.is(apply(g, add(1, OFPGT.ALL, bucket([group(2)]))), 'BAD_ACTION/BAD_OUT_GROUP');
  t.is(apply(g, add(2, OFPGT.ALL, bucket([output(1)]))), 'ok');
  t.is(apply(g, add(1, OFPGT.ALL, bucket([group(2)]))), 'ok');
  t.is(apply(g, add(3, OFPGT.SELECT, bucket([group(1)], { weight: 1 }), bucket([group(2)], { weight: 1 }))), 'ok');
  t.is(apply(g, add(4, OFPGT.INDIRECT, bucket([group(3)]))), 'ok');
  t.true((g.features().capabilities & OFPGFC.CHAINING) !== 0);
});

test('loops are refused with LOOP, whatever their length; the refused change leaves the table as it was', (t) => {
  const { g } = table();
  // itself, directly (ADD and MODIFY)
  t.is(apply(g, add(1, OFPGT.ALL, bucket([group(1)]))), 'GROUP_MOD_FAILED/LOOP');
  t.false(g.exists(1));
  t.is(apply(g, add(1, OFPGT.ALL, bucket([output(1)]))), 'ok');
  t.is(apply(g, mod(1, OFPGT.ALL, bucket([output(2)]), bucket([group(1)]))), 'GROUP_MOD_FAILED/LOOP');
  // 1 <- 2 <- 3 <- 4, then 1 -> 4 closes a cycle of four
  t.is(apply(g, add(2, OFPGT.INDIRECT, bucket([group(1)]))), 'ok');
  t.is(apply(g, add(3, OFPGT.ALL, bucket([group(2)]))), 'ok');
  t.is(apply(g, add(4, OFPGT.SELECT, bucket([group(3)], { weight: 2 }))), 'ok');
  t.is(apply(g, mod(1, OFPGT.ALL, bucket([group(4)]))), 'GROUP_MOD_FAILED/LOOP');
  t.is(apply(g, mod(2, OFPGT.INDIRECT, bucket([group(3)]))), 'GROUP_MOD_FAILED/LOOP');
  t.deepEqual(g.get(1)?.buckets, [bucket([output(1)])]);
  t.deepEqual(g.get(2)?.buckets, [bucket([group(1)])]);
  // a diamond is not a loop: 5 -> 3 and 5 -> 2 both reach 1
  t.is(apply(g, add(5, OFPGT.ALL, bucket([group(3)]), bucket([group(2)]))), 'ok');
  // a MODIFY that removes the back edge lets the other direction in
  t.is(apply(g, mod(2, OFPGT.INDIRECT, bucket([output(1)]))), 'ok');
  t.is(apply(g, mod(1, OFPGT.ALL, bucket([group(4)]))), 'ok');
});

test('watch_group links count for loops too: liveness that depends on itself is refused', (t) => {
  const { g } = table();
  t.is(apply(g, add(1, OFPGT.FF, bucket([output(1)], { watchGroup: 1 }))), 'GROUP_MOD_FAILED/LOOP');
  t.is(apply(g, add(1, OFPGT.FF, bucket([output(1)], { watchPort: 1 }))), 'ok');
  t.is(apply(g, add(2, OFPGT.FF, bucket([output(2)], { watchGroup: 1 }))), 'ok');
  t.is(apply(g, mod(1, OFPGT.FF, bucket([output(1)], { watchGroup: 2 }))), 'GROUP_MOD_FAILED/LOOP');
  t.is(apply(g, mod(1, OFPGT.FF, bucket([group(2)], { watchPort: 1 }))), 'GROUP_MOD_FAILED/LOOP');
});

test('deleting a group another group forwards to succeeds (OVS); the dangling link still counts for loops', (t) => {
  const { g } = table();
  t.is(apply(g, add(2, OFPGT.ALL, bucket([output(1)]))), 'ok');
  t.is(apply(g, add(1, OFPGT.INDIRECT, bucket([group(2)]))), 'ok');
  t.is(apply(g, del(2)), 'deleted:2');
  t.true(g.exists(1));
  t.deepEqual(g.get(1)?.buckets, [bucket([group(2)])]);
  // Re-adding 2 so that it forwards to 1 would close 1 -> 2 -> 1.
  t.is(apply(g, add(2, OFPGT.ALL, bucket([group(1)]))), 'GROUP_MOD_FAILED/LOOP');
  t.is(apply(g, add(2, OFPGT.ALL, bucket([output(2)]))), 'ok');
  t.is((g.features().capabilities & OFPGFC.CHAINING_CHECKS), 0, 'the delete half of CHAINING_CHECKS is not done');
});

test('property: loop detection agrees with a brute-force cycle search over random add/modify/delete', (t) => {
  const ids = [1, 2, 3, 4, 5, 6];
  const op = fc.record({
    kind: fc.constantFrom('add', 'mod', 'del'),
    id: fc.constantFrom(...ids),
    targets: fc.uniqueArray(fc.constantFrom(...ids), { maxLength: 3 }),
    watch: fc.option(fc.constantFrom(...ids), { nil: undefined }),
  });
  /** Whether the link graph has a cycle (links to missing ids lead nowhere). */
  const cyclic = (graph: Map<number, number[]>): boolean => {
    const state = new Map<number, 1 | 2>();
    const visit = (n: number): boolean => {
      if (state.get(n) === 2 || !graph.has(n)) return false;
      if (state.get(n) === 1) return true;
      state.set(n, 1);
      const hit = graph.get(n)!.some(visit);
      state.set(n, 2);
      return hit;
    };
    return [...graph.keys()].some(visit);
  };
  fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
    const { g } = table();
    const model = new Map<number, number[]>();
    for (const o of ops) {
      if (o.kind === 'del') {
        apply(g, del(o.id));
        model.delete(o.id);
        continue;
      }
      // SELECT takes both a watch and several buckets
      const bs = o.targets.map((x, i) => bucket([group(x)], { weight: 1, ...(i === 0 && o.watch !== undefined ? { watchGroup: o.watch } : {}) }));
      if (bs.length === 0 && o.watch !== undefined) bs.push(bucket([output(1)], { weight: 1, watchGroup: o.watch }));
      const r = apply(g, o.kind === 'add' ? add(o.id, OFPGT.SELECT, ...bs) : mod(o.id, OFPGT.SELECT, ...bs));
      const next = new Map(model).set(o.id, [...o.targets, ...(o.watch === undefined ? [] : [o.watch])]);
      const exists = model.has(o.id);
      const refsOk = [...o.targets, ...(o.watch === undefined ? [] : [o.watch])].every((x) => x === o.id || model.has(x));
      let expected: string;
      if (o.kind === 'add' && exists) expected = 'GROUP_MOD_FAILED/GROUP_EXISTS';
      else if (o.kind === 'mod' && !exists) expected = 'GROUP_MOD_FAILED/UNKNOWN_GROUP';
      else if (!refsOk) expected = 'refs';
      else if (cyclic(next)) expected = 'GROUP_MOD_FAILED/LOOP';
      else expected = 'ok';
      if (expected === 'refs') {
        if (r !== 'BAD_ACTION/BAD_OUT_GROUP' && r !== 'GROUP_MOD_FAILED/BAD_WATCH') return false;
      } else if (r !== expected) return false;
      if (r === 'ok') model.set(o.id, next.get(o.id)!);
    }
    return !cyclic(model) && [...model.keys()].every((id) => g.exists(id)) && g.size === model.size;
  }), { numRuns: 300 });
  t.pass();
});

// ---------------------------------------------------------------------------------------------
// Counters and multipart bodies
// ---------------------------------------------------------------------------------------------

test('counters are zero until credited; credit adds once to the group and to each bucket named', (t) => {
  const { e, g } = table();
  t.is(apply(g, add(1, OFPGT.ALL, bucket([output(1)]), bucket([output(2)]), bucket([output(3)]))), 'ok');
  t.is(apply(g, add(2, OFPGT.SELECT, bucket([output(1)], { weight: 1 }), bucket([output(2)], { weight: 3 }))), 'ok');
  const zero = g.stats(1) as Exclude<ReturnType<GroupTable['stats']>, ErrorPair>;
  t.deepEqual(zero, [{
    groupId: 1, refCount: 0, packetCount: 0n, byteCount: 0n, durationSec: 0, durationNsec: 0,
    bucketStats: [0, 1, 2].map(() => ({ packetCount: 0n, byteCount: 0n })),
  }]);
  t.true(g.credit(1, [0, 1, 2], 2n, 128n));
  t.true(g.credit(2, 1, 1n, 64n));
  t.true(g.credit(2, 0, 4n, 400n));
  t.true(g.credit(2, -1, 1n, 10n), 'a packet no bucket took counts for the group only');
  t.false(g.credit(3, 0, 1n, 1n));
  e.t += 2250;
  const all = g.stats(OFPG.ALL) as Exclude<ReturnType<GroupTable['stats']>, ErrorPair>;
  t.deepEqual(all.map((s) => s.groupId), [1, 2]);
  t.like(all[0], { packetCount: 2n, byteCount: 128n, durationSec: 2, durationNsec: 250_000_000 });
  t.deepEqual(all[0]!.bucketStats, [0, 1, 2].map(() => ({ packetCount: 2n, byteCount: 128n })));
  t.like(all[1], { packetCount: 6n, byteCount: 474n });
  t.deepEqual(all[1]!.bucketStats, [{ packetCount: 4n, byteCount: 400n }, { packetCount: 1n, byteCount: 64n }]);
  t.deepEqual(g.stats(42), [], 'a missing group gives an empty reply (OVS)');
});

test('ref_count: flows from the switch plus groups whose buckets forward to the group', (t) => {
  const { g } = table();
  t.is(apply(g, add(1, OFPGT.ALL, bucket([output(1)]))), 'ok');
  t.is(apply(g, add(2, OFPGT.ALL, bucket([group(1)]), bucket([group(1)]))), 'ok');
  t.is(apply(g, add(3, OFPGT.INDIRECT, bucket([group(1)]))), 'ok');
  t.is(apply(g, add(4, OFPGT.FF, bucket([output(1)], { watchGroup: 1 }))), 'ok');
  t.is(g.get(1)?.refCount, 2, 'two groups forward (group 2 counted once; a watch is no forwarding)');
  g.setRefCounter((id) => (id === 1 ? 5 : 0));
  t.is(g.get(1)?.refCount, 7);
  t.like((g.stats(1) as { refCount: number }[])[0], { refCount: 7 });
  t.is(g.get(2)?.refCount, 0);
});

test('descStats, stats and features have the codec\'s shapes and Open vSwitch decodes the replies', (t) => {
  requireTool('ovs-ofctl');
  const { g } = table();
  t.is(apply(g, add(3, OFPGT.FF, bucket([output(1)], { watchPort: 1 }), bucket([output(2)], { watchPort: 2 }))), 'ok');
  t.is(apply(g, add(1, OFPGT.ALL, bucket([output(1)]), bucket([setField(X.ETH_DST, '00:11:22:33:44:55'), output(2)]))), 'ok');
  t.is(apply(g, add(2, OFPGT.SELECT, bucket([group(1)], { weight: 7 }))), 'ok');
  g.credit(1, [0, 1], 9n, 900n);
  const desc = g.descStats();
  t.deepEqual(desc.map((d) => [d.groupId, d.groupType, d.buckets.length]), [[1, OFPGT.ALL, 2], [2, OFPGT.SELECT, 1], [3, OFPGT.FF, 2]]);
  const f = g.features();
  t.is(f.types, (1 << OFPGT.ALL) | (1 << OFPGT.SELECT) | (1 << OFPGT.INDIRECT) | (1 << OFPGT.FF));
  t.is(f.capabilities, OFPGFC.SELECT_WEIGHT | OFPGFC.SELECT_LIVENESS | OFPGFC.CHAINING);
  t.is(f.actions.length, 4);
  for (const a of [OFPAT.OUTPUT, OFPAT.GROUP, OFPAT.SET_FIELD, OFPAT.PUSH_VLAN, OFPAT.POP_PBB, OFPAT.SET_QUEUE]) {
    t.true(((f.actions[0]! >>> a) & 1) === 1, `action ${a}`);
  }
  t.is((f.actions[0]! >>> 1) & 1, 0, 'no bit for an action number OpenFlow 1.3 does not define');
  const stats = g.stats(OFPG.ALL);
  if (isError(stats)) return t.fail();
  const replies: Message[] = [
    { version: 4, type: OFPT.MULTIPART_REPLY, xid: 1, mpType: OFPMP.GROUP_DESC, flags: 0, stats: desc },
    { version: 4, type: OFPT.MULTIPART_REPLY, xid: 2, mpType: OFPMP.GROUP, flags: 0, stats },
    { version: 4, type: OFPT.MULTIPART_REPLY, xid: 3, mpType: OFPMP.GROUP_FEATURES, flags: 0, ...f },
  ] as Message[];
  for (const m of replies) {
    const bytes = encode(m);
    const d = decode(bytes);
    t.true(d.ok);
    if (d.ok) t.deepEqual(d.msg, m);
    const v = ovsOfpPrint(bytes);
    t.true(v.ok, `${v.problems.join(', ')}\n${v.text}`);
  }
  const text = ovsOfpPrint(encode(replies[2]!)).text;
  // ovs-ofctl prints the bitmaps in hex: all four types, weight|liveness|chaining.
  t.regex(text, /Types:\s+0xf\b/);
  t.regex(text, /Capabilities:\s+0x7\b/);
  t.is(text.match(/max_groups=0xffff\b/g)?.length, 4);
  t.is(text.match(/actions: output group set_field/g)?.length, 4);
});

// ---------------------------------------------------------------------------------------------
// Real peer: the GROUP_MODs ovs-ofctl sends
// ---------------------------------------------------------------------------------------------

test('every GROUP_MOD that ovs-ofctl sends applies, in order (add, mod, delete)', async (t) => {
  requireTool('ovs-ofctl');
  const cases = OVS_OFCTL_CASES.filter((c) => c.expectType === PEER_OFPT.GROUP_MOD);
  t.true(cases.length >= 10);
  const captured = await Promise.all(cases.map(async (c) => {
    const cap = await captureOvsOfctl(c.args, { stdin: c.stdin, ports: c.ports });
    const mods: GroupMod[] = [];
    for (const f of cap.frames) {
      const d = decode(f);
      if (d.ok && d.msg.type === OFPT.GROUP_MOD) mods.push(d.msg);
    }
    return { name: c.name, mods };
  }));
  // ports 1..3 exist: the cases output to and watch them
  const { g } = table();
  const problems: string[] = [];
  const log: string[] = [];
  for (const { name, mods } of captured) {
    if (mods.length === 0) problems.push(`${name}: no GROUP_MOD captured`);
    if (name.startsWith('add-groups')) {
      // Groups 1 and 2 exist by now, so in sequence the right answer is GROUP_EXISTS; on their
      // own (a fresh table) both apply.
      const fresh = table().g;
      for (const m of mods) {
        if (apply(g, m) !== 'GROUP_MOD_FAILED/GROUP_EXISTS') problems.push(`${name} in sequence: expected GROUP_EXISTS`);
        const r = apply(fresh, m);
        if (r !== 'ok') problems.push(`${name} alone: ${r}`);
      }
      continue;
    }
    for (const m of mods) {
      const r = apply(g, m);
      log.push(`${name}: ${r}`);
      if (r !== 'ok' && !r.startsWith('deleted:')) problems.push(`${name}: ${r}`);
    }
  }
  t.deepEqual(problems, []);
  // What the sequence did: six adds, two modifies (one of them OVS's ADD_OR_MOD), delete-all
  // removed the six groups, and the last delete found nothing, without error.
  t.deepEqual(log.slice(-4), [
    'mod-group group_id=1,type=all,bucket=output:3: ok',
    '--may-create mod-group group_id=1,type=all,bucket=output:3: ok',
    'del-groups: deleted:1,2,3,4,5,6',
    'del-groups group_id=1: ok',
  ]);
  t.is(g.size, 0);
});
