/**
 * A small XBridge over the real ofproto Pipeline and GroupTable, for xlate's tests (and anyone
 * who wants to translate without a whole Ofproto): ports are plain objects the test changes,
 * NORMAL's table is a real MacLearningTable on a clock the test moves. Datapath port numbers are
 * OpenFlow numbers + 10 (LOCAL is datapath port 0) so a test sees when the two are confused.
 *
 * The tests in this file check the adapter and the MAC learning table; the pipeline's are in
 * xlate-trace.test.ts (goldens) and xlate-props.test.ts (properties).
 */

import test from 'ava';
import { OFPGC, OFPP, OFPG, type FlowMod, type GroupMod, type Bucket, type Oxm, type Action } from '../src/openflow/index.js';
import { Pipeline } from '../src/ofproto/flow-table.js';
import { GroupTable } from '../src/ofproto/groups.js';
import { K, newKey, extract, buildPacket, Offsets, type FlowKey, type FlowMask, type PacketDesc } from '../src/packet/index.js';
import { MacLearningTable } from '../src/xlate/mac-learning.js';
import type { XBridge, XGroup, XPort, XRule } from '../src/xlate/types.js';
import { flowMod } from './ofproto-helpers.js';

export interface TestPort {
  ofport: number;
  odpPort: number;
  name: string;
  config: number;
  state: number;
}

export class TestBridge implements XBridge {
  readonly name: string;
  readonly nTables: number;
  t = 1_000_000;
  failOpen = false;
  readonly portMap = new Map<number, TestPort>();
  readonly meters = new Set<number>([1, 2]);
  readonly pipeline: Pipeline;
  readonly groups: GroupTable;
  readonly macs: MacLearningTable;

  constructor(opts: { name?: string; ports?: number[]; nTables?: number } = {}) {
    this.name = opts.name ?? 'br0';
    this.nTables = opts.nTables ?? 8;
    for (const p of opts.ports ?? [1, 2, 3, 4]) this.addPort(p);
    this.addPort(OFPP.LOCAL, this.name);
    const env = {
      portExists: (p: number) => this.portMap.has(p),
      groupExists: (g: number) => this.groups.exists(g),
      meterExists: (m: number) => this.meters.has(m),
      now: () => this.t,
    };
    this.pipeline = new Pipeline(env, { nTables: this.nTables });
    this.groups = new GroupTable(env);
    this.macs = new MacLearningTable({ now: () => this.t });
  }

  addPort(ofport: number, name = `p${ofport}`): TestPort {
    const p = { ofport, odpPort: ofport === OFPP.LOCAL ? 0 : ofport + 10, name, config: 0, state: 0 };
    this.portMap.set(ofport, p);
    return p;
  }

  /** Adds a flow (FLOW_MOD ADD with the given fields); throws on an error (a test bug). */
  flow(p: Partial<Omit<FlowMod, 'type'>>): this {
    const r = this.pipeline.applyFlowMod(flowMod(p));
    if (Array.isArray(r)) throw new Error(`flow-mod refused: ${JSON.stringify(r)}`);
    return this;
  }

  addGroup(groupId: number, groupType: number, buckets: Array<Partial<Bucket> & { actions: readonly Action[] }>): this {
    const gm: GroupMod = {
      version: 4, type: 0xf, xid: 1, command: OFPGC.ADD, groupType, groupId,
      buckets: buckets.map((b) => ({ weight: 0, watchPort: OFPP.ANY, watchGroup: OFPG.ANY, ...b })),
    };
    const r = this.groups.applyGroupMod(gm);
    if (Array.isArray(r)) throw new Error(`group-mod refused: ${JSON.stringify(r)}`);
    return this;
  }

  // XBridge

  lookup(tableId: number, flow: FlowKey, wc: FlowMask): XRule | undefined {
    const r = this.pipeline.lookup(tableId, flow, wc);
    if (r === undefined) return undefined;
    return {
      tableId: r.tableId, priority: r.priority, cookie: r.cookie, instructions: r.instructions, match: r.match,
      tableMiss: r.priority === 0 && r.match.length === 0,
    };
  }

  group(id: number): XGroup | undefined {
    return this.groups.get(id);
  }

  port(ofport: number): XPort | undefined {
    return this.portMap.get(ofport);
  }

  *ports(): Iterable<XPort> {
    yield* [...this.portMap.values()].sort((a, b) => a.ofport - b.ofport);
  }
}
/** The flow key of a frame built from `desc`, arriving on `inPort`. */
export function flowOf(desc: PacketDesc, inPort: number): FlowKey {
  const key = newKey();
  const frame = buildPacket(desc);
  extract(frame, 0, frame.length, key, new Offsets());
  key[K.IN_PORT] = inPort;
  key[K.IN_PHY_PORT] = inPort;
  return key;
}

export const oxm = (field: number, value: Oxm['value'] & (number | bigint | string)): Oxm => ({ field, value });

// ---------------------------------------------------------------------------------------------

test('the adapter: flows, groups and ports are visible through XBridge', (t) => {
  const br = new TestBridge();
  br.flow({ priority: 10, match: [oxm(0, 1)], instructions: [] });
  br.addGroup(7, 2, [{ actions: [] }]);
  const wc = new Uint32Array(K.WORDS);
  const f = flowOf({}, 1);
  const r = br.lookup(0, f, wc);
  t.is(r?.priority, 10);
  t.is(wc[K.IN_PORT], 0xffffffff);
  t.is(br.group(7)?.buckets.length, 1);
  t.is(br.port(OFPP.LOCAL)?.odpPort, 0);
  t.deepEqual([...br.ports()].map((p) => p.ofport), [1, 2, 3, 4, OFPP.LOCAL]);
});

test('MacLearningTable: learn, move, age, evict, flush', (t) => {
  let now = 0;
  const m = new MacLearningTable({ now: () => now, agingSec: 10, maxEntries: 2 });
  t.true(m.learn({ vlan: 0, macHi: 0, macLo: 1, ofport: 1 }));
  t.false(m.learn({ vlan: 0, macHi: 0, macLo: 1, ofport: 1 }), 'relearning the same place changes nothing');
  t.is(m.lookup(0, 0, 1), 1);
  t.is(m.lookup(5, 0, 1), undefined, 'the VLAN scopes learning');
  t.true(m.learn({ vlan: 0, macHi: 0, macLo: 1, ofport: 2 }), 'a move is a change');
  t.is(m.lookup(0, 0, 1), 2);
  now = 5000;
  m.learn({ vlan: 0, macHi: 0, macLo: 2, ofport: 3 });
  now = 10_001;
  t.is(m.lookup(0, 0, 1), undefined, 'aged out');
  t.is(m.lookup(0, 0, 2), 3);
  t.is(m.expire(), 1);
  t.is(m.size, 1);
  m.learn({ vlan: 0, macHi: 0, macLo: 3, ofport: 1 });
  m.learn({ vlan: 0, macHi: 0, macLo: 4, ofport: 1 });
  t.is(m.size, 2, 'the size limit evicts the oldest');
  t.is(m.lookup(0, 0, 2), undefined);
  t.deepEqual(m.entries().map((e) => e.macLo), [3, 4]);
  m.flush(1);
  t.is(m.size, 0);
  m.learn({ vlan: 1, macHi: 0, macLo: 9, ofport: 4 });
  m.flush();
  t.is(m.size, 0);
});
