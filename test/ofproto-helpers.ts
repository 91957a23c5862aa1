/**
 * Small builders for the flow-table and validation tests: a fake switch environment with a clock
 * the test moves, and FLOW_MOD / instruction / action literals with the defaults a controller
 * would send.
 */

import {
  OFPFC, OFPG, OFPIT, OFPP, OFPAT, OFPXMT, OFP_NO_BUFFER,
  type Action, type FlowMod, type Instruction, type Oxm,
} from '../src/openflow/index.js';
import type { PipelineEnv } from '../src/ofproto/flow-table.js';
import { initialControlState, type ControlParty } from '../src/ofproto/roles.js';
import type { Message } from '../src/openflow/index.js';
import type { ErrorPair } from '../proto/schema.js';

/** An in-process controller that records what the switch sends it. */
export interface FakeParty extends ControlParty {
  readonly sent: Message[];
  /** [errType, code, xid] of every error sent */
  readonly errors: [number, number, number][];
}

export function party(): FakeParty {
  const sent: Message[] = [];
  const errors: [number, number, number][] = [];
  return {
    control: initialControlState(), active: true, sent, errors,
    send(m: Message) { sent.push(m); return m.xid ?? 0; },
    sendError(pair: ErrorPair, about: Message) { errors.push([pair[0], pair[1], about.xid ?? 0]); },
  };
}

export interface FakeEnv extends PipelineEnv {
  t: number;
  readonly ports: Set<number>;
  readonly groups: Set<number>;
  readonly meters: Set<number>;
}

export function fakeEnv(init: { ports?: number[]; groups?: number[]; meters?: number[]; t?: number } = {}): FakeEnv {
  const env: FakeEnv = {
    t: init.t ?? 1_000_000,
    ports: new Set(init.ports ?? [1, 2, 3]),
    groups: new Set(init.groups ?? [1, 5]),
    meters: new Set(init.meters ?? [1]),
    portExists: (p) => env.ports.has(p),
    groupExists: (g) => env.groups.has(g),
    meterExists: (m) => env.meters.has(m),
    now: () => env.t,
  };
  return env;
}

export function flowMod(p: Partial<Omit<FlowMod, 'type'>> = {}): FlowMod {
  return {
    version: 4, type: 14, xid: 1, cookie: 0n, cookieMask: 0n, tableId: 0, command: OFPFC.ADD, idleTimeout: 0,
    hardTimeout: 0, priority: 0x8000, bufferId: OFP_NO_BUFFER, outPort: OFPP.ANY, outGroup: OFPG.ANY, flags: 0,
    match: [], instructions: [], ...p,
  };
}

export const applyActions = (...actions: Action[]): Instruction => ({ type: OFPIT.APPLY_ACTIONS, actions });
export const writeActions = (...actions: Action[]): Instruction => ({ type: OFPIT.WRITE_ACTIONS, actions });
export const clearActions = (): Instruction => ({ type: OFPIT.CLEAR_ACTIONS, actions: [] });
export const gotoTable = (tableId: number): Instruction => ({ type: OFPIT.GOTO_TABLE, tableId });
export const meter = (meterId: number): Instruction => ({ type: OFPIT.METER, meterId });

export const output = (port: number): Action => ({ type: OFPAT.OUTPUT, port, maxLen: 0 });
export const group = (groupId: number): Action => ({ type: OFPAT.GROUP, groupId });
export const setField = (field: number, value: Oxm['value'] & (number | bigint | string)): Action => ({ type: OFPAT.SET_FIELD, field: { field, value } });
export const pushVlan = (ethertype = 0x8100): Action => ({ type: OFPAT.PUSH_VLAN, ethertype });
export const pushMpls = (ethertype = 0x8847): Action => ({ type: OFPAT.PUSH_MPLS, ethertype });
export const popMpls = (ethertype = 0x0800): Action => ({ type: OFPAT.POP_MPLS, ethertype });
export const pushPbb = (ethertype = 0x88e7): Action => ({ type: OFPAT.PUSH_PBB, ethertype });
export const bare = (type: 0xb | 0xc | 0x10 | 0x12 | 0x18 | 0x1b): Action => ({ type });

export const X = OFPXMT;
export const ethType = (v: number): Oxm => ({ field: X.ETH_TYPE, value: v });
export const inPort = (v: number): Oxm => ({ field: X.IN_PORT, value: v });
export const ip4 = (): Oxm[] => [ethType(0x0800)];
