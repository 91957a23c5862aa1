/**
 * TABLE_FEATURES set (OFPMP_TABLE_FEATURES with a body): the request's checks and their errors,
 * all or nothing; the reply and later gets returning what was set; and the new description
 * enforced on flow-mods (match fields, wildcards, metadata masks, instructions, next tables,
 * actions, set-fields, the *_MISS properties for the table-miss flow, max_entries). In-process:
 * Ofproto with a fake controller party, as ofproto-switch.test.ts does; ovs-ofctl's mod-table
 * against the running command is in cli-start.test.ts.
 */

import test from 'ava';
import {
  decode, encode, OFPT, OFPMP, OFPMPF, OFPE, OFPFC, OFPIT, OFPAT, OFPTFPT, OFPXMC,
  type Message, type MultipartReply, type MultipartRequest, type TableFeatures, type TableFeatureProp, type OxmId,
} from '../src/openflow/index.js';
import type { ErrorPair } from '../proto/schema.js';
import { Ofproto } from '../src/ofproto/ofproto.js';
import { Pipeline } from '../src/ofproto/flow-table.js';
import { compileSet, tableFeatures } from '../src/ofproto/table-features.js';
import {
  flowMod, applyActions, writeActions, output, group, setField, pushVlan, gotoTable, ethType, inPort, X, fakeEnv, party, type FakeParty,
} from './ofproto-helpers.js';

const N = 4;
const TF = OFPE.TABLE_FEATURES_FAILED!;

function setup(): { sw: Ofproto; p: FakeParty } {
  const sw = new Ofproto({ ports: [{ name: 'p1', ofport: 1 }, { name: 'p2', ofport: 2 }], now: () => 1000, probeInterval: 0, nTables: N });
  const p = party();
  sw.attach(p);
  return { sw, p };
}

const tfReq = (tables: readonly TableFeatures[], xid = 7, flags = 0): MultipartRequest =>
  ({ type: OFPT.MULTIPART_REQUEST, xid, flags, mpType: OFPMP.TABLE_FEATURES, tables }) as MultipartRequest;

/** Sends a set; returns the error pair, or the tables of the reply. */
function set(sw: Ofproto, p: FakeParty, tables: readonly TableFeatures[]): ErrorPair | TableFeatures[] {
  const before = p.sent.length;
  const errs = p.errors.length;
  sw.receive(tfReq(tables, 50), p);
  if (p.errors.length > errs) {
    const e = p.errors[p.errors.length - 1]!;
    return [e[0], e[1]];
  }
  return (p.sent.slice(before) as MultipartReply[]).flatMap((m) => (m.mpType === OFPMP.TABLE_FEATURES ? [...m.tables] : []));
}

function get(sw: Ofproto, p: FakeParty): TableFeatures[] {
  const r = set(sw, p, []);
  if (!Array.isArray(r) || typeof r[0] === 'number') throw new Error('get failed');
  return r as TableFeatures[];
}

/** Sends a flow-mod; returns its error pair or undefined. */
function fm(sw: Ofproto, p: FakeParty, m: Parameters<typeof flowMod>[0]): ErrorPair | undefined {
  const n = p.errors.length;
  sw.receive(flowMod(m), p);
  const e = p.errors[n];
  return e === undefined ? undefined : [e[0], e[1]];
}

/** The default description with table `id` changed by `f`. */
function withTable(id: number, f: (t: TableFeatures) => TableFeatures, base = tableFeatures(N)): TableFeatures[] {
  return base.map((t) => (t.tableId === id ? f(t) : t));
}

/** A table's properties with property `type` replaced (or added, or removed with undefined). */
function withProp(t: TableFeatures, type: number, p: TableFeatureProp | undefined): TableFeatures {
  const rest = t.properties.filter((x) => x.type !== type);
  return { ...t, properties: p === undefined ? rest : [...rest, p] };
}

const basic = (field: number, length: number, hasMask = false): OxmId => ({ oxmClass: OFPXMC.OPENFLOW_BASIC, field, hasMask, length });

test('a set answers with the new description; names and max_entries stick; a get returns exactly what was set', (t) => {
  const { sw, p } = setup();
  const want = withTable(1, (x) => ({ ...x, name: 'acl', maxEntries: 2 }), tableFeatures(N).map((x) => ({ ...x, name: `T${x.tableId}` })));
  const r = set(sw, p, want);
  t.deepEqual(p.errors, []);
  t.deepEqual(r, want);
  t.deepEqual(get(sw, p), want);
  // max_entries is the capacity: the third flow of table 1 is refused, a replacement is not.
  t.is(fm(sw, p, { tableId: 1, priority: 1 }), undefined);
  t.is(fm(sw, p, { tableId: 1, priority: 2 }), undefined);
  t.deepEqual(fm(sw, p, { tableId: 1, priority: 3 }), OFPE.FLOW_MOD_FAILED!.TABLE_FULL!);
  t.is(fm(sw, p, { tableId: 1, priority: 2, instructions: [applyActions(output(1))] }), undefined);
  t.is(sw.pipeline.tableStats()[1]!.activeCount, 2);
});

test('the request\'s checks: each refuses the whole set with the specification\'s code, nothing changes', (t) => {
  const { sw, p } = setup();
  const d = tableFeatures(N);
  const cases: [string, TableFeatures[], ErrorPair][] = [
    ['table past the last', [...d.slice(0, 3), { ...d[3]!, tableId: N }], TF.BAD_TABLE!],
    ['table twice', [...d, d[0]!], TF.BAD_ARGUMENT!],
    ['a table left out', d.slice(0, 3), TF.EPERM!],
    ['required property missing', withTable(0, (x) => withProp(x, OFPTFPT.WILDCARDS, undefined)), TF.BAD_ARGUMENT!],
    ['property twice', withTable(0, (x) => ({ ...x, properties: [...x.properties, x.properties[0]!] })), TF.BAD_ARGUMENT!],
    ['experimenter property', withTable(0, (x) => ({ ...x, properties: [...x.properties, { type: 0xfffe, experimenter: 1, expType: 0, data: new Uint8Array(0) }] })), TF.BAD_ARGUMENT!],
    ['unknown instruction', withTable(0, (x) => withProp(x, OFPTFPT.INSTRUCTIONS, { type: 0, instructionIds: [{ type: 7 }] })), TF.BAD_ARGUMENT!],
    ['experimenter instruction', withTable(0, (x) => withProp(x, OFPTFPT.INSTRUCTIONS, { type: 0, instructionIds: [{ type: 0xffff, experimenter: 1, data: new Uint8Array(0) }] })), TF.BAD_ARGUMENT!],
    ['unsupported action (1.0 SET_VLAN_VID)', withTable(0, (x) => withProp(x, OFPTFPT.APPLY_ACTIONS, { type: 6, actionIds: [{ type: 1 }] })), TF.BAD_ARGUMENT!],
    ['next table not later', withTable(2, (x) => withProp(x, OFPTFPT.NEXT_TABLES, { type: 2, nextTableIds: [1] })), TF.BAD_ARGUMENT!],
    ['next table past the last', withTable(2, (x) => withProp(x, OFPTFPT.NEXT_TABLES_MISS, { type: 3, nextTableIds: [N] })), TF.BAD_ARGUMENT!],
    ['mask on in_port', withTable(0, (x) => withProp(x, OFPTFPT.MATCH, { type: 8, oxmIds: [basic(X.IN_PORT, 8, true)] })), TF.BAD_ARGUMENT!],
    ['OXM id of the wrong length', withTable(0, (x) => withProp(x, OFPTFPT.MATCH, { type: 8, oxmIds: [basic(X.ETH_DST, 4)] })), TF.BAD_LEN!],
    ['NXM class', withTable(0, (x) => withProp(x, OFPTFPT.MATCH, { type: 8, oxmIds: [{ oxmClass: 1, field: 0, hasMask: false, length: 4 }] })), TF.BAD_ARGUMENT!],
    ['wildcard that is not a match field', withTable(0, (x) => withProp(withProp(x, OFPTFPT.MATCH, { type: 8, oxmIds: [basic(X.IN_PORT, 4)] }), OFPTFPT.WILDCARDS, { type: 0xa, oxmIds: [basic(X.ETH_DST, 6)] })), TF.BAD_ARGUMENT!],
    ['set-field of eth_type', withTable(0, (x) => withProp(x, OFPTFPT.APPLY_SETFIELD, { type: 0xe, oxmIds: [basic(X.ETH_TYPE, 2)] })), TF.BAD_ARGUMENT!],
    ['masked set-field', withTable(0, (x) => withProp(x, OFPTFPT.WRITE_SETFIELD_MISS, { type: 0xd, oxmIds: [basic(X.ETH_DST, 12, true)] })), TF.BAD_ARGUMENT!],
    ['config bits', withTable(0, (x) => ({ ...x, config: 3 })), TF.BAD_ARGUMENT!],
  ];
  const namesChanged = (ts: TableFeatures[]): TableFeatures[] => ts.map((x) => ({ ...x, name: 'changed', maxEntries: 0 }));
  for (const [what, tables, want] of cases) {
    t.deepEqual(set(sw, p, namesChanged(tables)), want, what);
    // All or nothing: the valid tables of a refused request changed nothing either.
    t.deepEqual(get(sw, p), tableFeatures(N), what);
  }
});

test('property types and lengths the decoder refuses: TABLE_FEATURES_FAILED/BAD_TYPE and BAD_LEN', (t) => {
  const msg = encode({ version: 4, ...tfReq(tableFeatures(1)) } as Message);
  // The first property (INSTRUCTIONS) starts after the 16-byte multipart header and the 64-byte table.
  const at = 16 + 64;
  const badType = Buffer.from(msg);
  badType.writeUInt16BE(9, at); // 9 is no property type (there is no OFPTFPT 9)
  const r1 = decode(badType);
  t.true(!r1.ok && r1.error.errType === TF.BAD_TYPE![0] && r1.error.code === TF.BAD_TYPE![1]);
  const badLen = Buffer.from(msg);
  badLen.writeUInt16BE(0xfff0, at + 2);
  const r2 = decode(badLen);
  t.true(!r2.ok && r2.error.errType === TF.BAD_LEN![0] && r2.error.code === TF.BAD_LEN![1]);
});

test('match fields, masks, wildcards and metadata_match are enforced on ADD; the table-miss flow needs no fields', (t) => {
  const { sw, p } = setup();
  const r = set(sw, p, withTable(0, (x) => withProp(withProp({ ...x, metadataMatch: 0xffn }, OFPTFPT.MATCH, {
    type: 8, oxmIds: [basic(X.IN_PORT, 4), basic(X.ETH_TYPE, 2), basic(X.ETH_DST, 12, true), basic(X.METADATA, 16, true)],
  }), OFPTFPT.WILDCARDS, { type: 0xa, oxmIds: [basic(X.ETH_TYPE, 2), basic(X.ETH_DST, 6), basic(X.METADATA, 8)] })));
  t.true(Array.isArray(r) && r.length === N);
  const BM = OFPE.BAD_MATCH!;
  t.is(fm(sw, p, { match: [inPort(1), ethType(0x0800)] }), undefined);
  t.is(fm(sw, p, { match: [inPort(1), { field: X.ETH_DST, value: '02:00:00:00:00:00', mask: '02:00:00:00:00:00' }] }), undefined);
  t.is(fm(sw, p, { match: [inPort(2), { field: X.METADATA, value: 5n, mask: 0x0fn }] }), undefined);
  t.deepEqual(fm(sw, p, { match: [inPort(1), { field: X.ETH_SRC, value: '02:00:00:00:00:01' }] }), BM.BAD_FIELD!);
  t.deepEqual(fm(sw, p, { match: [inPort(1), ethType(0x0800), { field: X.IPV4_SRC, value: '10.0.0.1' }] }), BM.BAD_FIELD!);
  // in_port is matchable but not wildcardable: every flow but the table-miss one names it.
  t.deepEqual(fm(sw, p, { match: [ethType(0x0800)] }), BM.BAD_WILDCARDS!);
  t.deepEqual(fm(sw, p, { priority: 5 }), BM.BAD_WILDCARDS!);
  t.is(fm(sw, p, { priority: 0, instructions: [applyActions(output(2))] }), undefined);
  // Metadata bits outside metadata_match (an exact match has all 64).
  t.deepEqual(fm(sw, p, { match: [inPort(1), { field: X.METADATA, value: 5n }] }), BM.BAD_MASK!);
  t.deepEqual(fm(sw, p, { match: [inPort(1), { field: X.METADATA, value: 0x100n, mask: 0x100n }] }), BM.BAD_MASK!);
  // Table 1 kept the default description: anything goes there.
  t.is(fm(sw, p, { tableId: 1, match: [{ field: X.ETH_SRC, value: '02:00:00:00:00:01' }] }), undefined);
  // A match that is wrong in itself keeps its usual error (validate.ts runs first).
  t.deepEqual(fm(sw, p, { match: [inPort(1), { field: X.TCP_DST, value: 80 }] }), BM.BAD_PREREQ!);
});

test('instructions, next tables, write-metadata mask, actions and set-fields are enforced; *_MISS for the table-miss flow', (t) => {
  const { sw, p } = setup();
  const BI = OFPE.BAD_INSTRUCTION!;
  const BA = OFPE.BAD_ACTION!;
  const r = set(sw, p, withTable(0, (x) => {
    let y: TableFeatures = { ...x, metadataWrite: 0xf0n };
    y = withProp(y, OFPTFPT.INSTRUCTIONS, { type: 0, instructionIds: [{ type: OFPIT.APPLY_ACTIONS }, { type: OFPIT.GOTO_TABLE }, { type: OFPIT.WRITE_METADATA }] });
    y = withProp(y, OFPTFPT.NEXT_TABLES, { type: 2, nextTableIds: [2] });
    y = withProp(y, OFPTFPT.APPLY_ACTIONS, { type: 6, actionIds: [{ type: OFPAT.OUTPUT }, { type: OFPAT.SET_FIELD }] });
    y = withProp(y, OFPTFPT.APPLY_SETFIELD, { type: 0xe, oxmIds: [basic(X.ETH_DST, 6)] });
    // The table-miss flow: write-actions with a group only, or a goto to table 3.
    y = withProp(y, OFPTFPT.INSTRUCTIONS_MISS, { type: 1, instructionIds: [{ type: OFPIT.WRITE_ACTIONS }, { type: OFPIT.GOTO_TABLE }] });
    y = withProp(y, OFPTFPT.NEXT_TABLES_MISS, { type: 3, nextTableIds: [3] });
    y = withProp(y, OFPTFPT.WRITE_ACTIONS_MISS, { type: 5, actionIds: [{ type: OFPAT.GROUP }] });
    return y;
  }));
  t.true(Array.isArray(r) && r.length === N);
  const m = [inPort(1)];
  t.is(fm(sw, p, { match: m, instructions: [applyActions(output(2), setField(X.ETH_DST, '02:00:00:00:00:09')), gotoTable(2)] }), undefined);
  t.is(fm(sw, p, { match: [inPort(2)], instructions: [{ type: OFPIT.WRITE_METADATA, metadata: 0x10n, metadataMask: 0xf0n }] }), undefined);
  t.deepEqual(fm(sw, p, { match: m, instructions: [writeActions(output(2))] }), BI.UNSUP_INST!);
  t.deepEqual(fm(sw, p, { match: m, instructions: [{ type: OFPIT.CLEAR_ACTIONS, actions: [] }] }), BI.UNSUP_INST!);
  t.deepEqual(fm(sw, p, { match: m, instructions: [gotoTable(3)] }), BI.BAD_TABLE_ID!);
  t.deepEqual(fm(sw, p, { match: m, instructions: [{ type: OFPIT.WRITE_METADATA, metadata: 1n, metadataMask: 0x1n }] }), BI.UNSUP_METADATA_MASK!);
  t.deepEqual(fm(sw, p, { match: m, instructions: [applyActions(pushVlan())] }), BA.BAD_TYPE!);
  t.deepEqual(fm(sw, p, { match: m, instructions: [applyActions(setField(X.ETH_SRC, '02:00:00:00:00:09'))] }), BA.BAD_SET_TYPE!);
  // The table-miss flow meets the *_MISS properties, not the plain ones.
  const miss = { priority: 0 };
  t.deepEqual(fm(sw, p, { ...miss, instructions: [applyActions(output(2))] }), BI.UNSUP_INST!);
  t.deepEqual(fm(sw, p, { ...miss, instructions: [gotoTable(2)] }), BI.BAD_TABLE_ID!);
  t.deepEqual(fm(sw, p, { ...miss, instructions: [writeActions(output(2))] }), BA.BAD_TYPE!);
  const nErr = p.errors.length;
  sw.receive({ type: OFPT.GROUP_MOD, xid: 3, command: 0, groupType: 0, groupId: 1, buckets: [] } as Message, p);
  t.is(p.errors.length, nErr);
  t.is(fm(sw, p, { ...miss, instructions: [writeActions(group(1))] }), undefined);
  t.is(fm(sw, p, { ...miss, instructions: [gotoTable(3)] }), undefined);
  // MODIFY: the instructions must suit each flow they land on.
  t.deepEqual(fm(sw, p, { command: OFPFC.MODIFY_STRICT, priority: 0, instructions: [gotoTable(2)] }), BI.BAD_TABLE_ID!);
  t.deepEqual(fm(sw, p, { command: OFPFC.MODIFY, match: [], instructions: [gotoTable(3)] }), BI.BAD_TABLE_ID!, 'non-strict: hits the in_port flows too');
  t.is(fm(sw, p, { command: OFPFC.MODIFY, match: [inPort(1)], instructions: [gotoTable(2)] }), undefined);
  // DELETE is never refused.
  t.is(fm(sw, p, { command: OFPFC.DELETE, match: [] }), undefined);
  t.is(sw.pipeline.size, 0);
});

test('a set that flows already in the tables would break is refused with EPERM; after deleting them it succeeds', (t) => {
  const { sw, p } = setup();
  t.is(fm(sw, p, { tableId: 2, match: [ethType(0x0800)], instructions: [applyActions(pushVlan())] }), undefined);
  t.is(fm(sw, p, { tableId: 3, priority: 1 }), undefined);
  t.is(fm(sw, p, { tableId: 3, priority: 2 }), undefined);
  const noPush = withTable(2, (x) => withProp(x, OFPTFPT.APPLY_ACTIONS, { type: 6, actionIds: [{ type: OFPAT.OUTPUT }] }));
  t.deepEqual(set(sw, p, noPush), TF.EPERM!);
  const small = withTable(3, (x) => ({ ...x, maxEntries: 1 }));
  t.deepEqual(set(sw, p, small), TF.EPERM!);
  t.deepEqual(get(sw, p), tableFeatures(N));
  t.is(fm(sw, p, { command: OFPFC.DELETE, tableId: 2 }), undefined);
  t.true(Array.isArray(set(sw, p, noPush)));
  t.deepEqual(fm(sw, p, { tableId: 2, match: [ethType(0x0800)], instructions: [applyActions(pushVlan())] }), OFPE.BAD_ACTION!.BAD_TYPE!);
});

test('a set in REQ_MORE parts is one request; a set back to the defaults lifts every check', (t) => {
  const { sw, p } = setup();
  const named = tableFeatures(N).map((x) => ({ ...x, name: `n${x.tableId}` }));
  const strict = withTable(0, (x) => withProp(x, OFPTFPT.INSTRUCTIONS, { type: 0, instructionIds: [] }), named);
  sw.receive(tfReq(strict.slice(0, 2), 60, OFPMPF.MORE), p);
  t.is(p.sent.length, 0);
  sw.receive(tfReq(strict.slice(2), 60, 0), p);
  t.deepEqual(p.errors, []);
  t.deepEqual((p.sent as MultipartReply[]).flatMap((m) => (m.mpType === OFPMP.TABLE_FEATURES ? [...m.tables] : [])), strict);
  t.deepEqual(fm(sw, p, { instructions: [applyActions(output(1))] }), OFPE.BAD_INSTRUCTION!.UNSUP_INST!);
  t.true(Array.isArray(set(sw, p, named)));
  t.is(fm(sw, p, { instructions: [applyActions(output(1))] }), undefined);
});

test('compileSet: a description equal to the default compiles to no checks (the flow-mod fast path)', (t) => {
  const n = 255;
  const echo = tableFeatures(n).map((x) => ({ ...x, name: 'renamed', maxEntries: 10 }));
  const c = compileSet(echo, n);
  if (!Array.isArray(c) || typeof c[0] === 'number') return t.fail('refused');
  t.true((c as { rules: unknown }[]).every((x) => x.rules === undefined));
  // The same fields in another order and with their masks listed differently still compile alike.
  const reordered = withTable(0, (x) => ({ ...x, properties: [...x.properties].reverse() }), tableFeatures(N));
  const c2 = compileSet(reordered, N);
  t.true(Array.isArray(c2) && (c2 as { rules: unknown }[]).every((x) => x.rules === undefined));
  const narrowed = compileSet(withTable(1, (x) => ({ ...x, metadataWrite: 1n })), N);
  t.true(Array.isArray(narrowed) && (narrowed as { rules: unknown }[])[1]!.rules !== undefined);
});

test('Pipeline.copyTableConfig: a scratch pipeline refuses what the real one would (for bundles\' dry run)', (t) => {
  const env = fakeEnv();
  const real = new Pipeline(env, { nTables: N });
  t.is(real.setTableFeatures(withTable(0, (x) => withProp({ ...x, maxEntries: 1 }, OFPTFPT.APPLY_ACTIONS, { type: 6, actionIds: [] }))), undefined);
  const scratch = new Pipeline(env, { nTables: N });
  scratch.copyTableConfig(real);
  t.deepEqual(scratch.tableFeatures(), real.tableFeatures());
  t.deepEqual(scratch.applyFlowMod(flowMod({ instructions: [applyActions(output(1))] })), OFPE.BAD_ACTION!.BAD_TYPE!);
  t.false(Array.isArray(scratch.applyFlowMod(flowMod({ priority: 1 }))));
  t.deepEqual(scratch.applyFlowMod(flowMod({ priority: 2 })), OFPE.FLOW_MOD_FAILED!.TABLE_FULL!);
});
