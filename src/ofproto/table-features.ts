/**
 * Table features (OFPMP_TABLE_FEATURES): the description of each flow table the switch gives a
 * controller, a controller's request to change it (a "set": the request with a body), and the
 * checks a flow-mod then meets in a table whose description was changed.
 *
 * The default description is what the pipeline accepts anyway (validate.ts enforces it): every
 * instruction, goto to any later table, every action the switch implements, every basic match
 * field (masked where the field allows it), every writable field for set-field, all 64 metadata
 * bits. A table left at the default (or set back to something equivalent) has no rules here and
 * its flow-mods take no extra step: the flow-mod rate does not pay for this feature until a
 * controller uses it.
 *
 * A set, and the decisions taken where OpenFlow 1.3.5 (§7.3.5.5, "OF") leaves room, with what
 * Open vSwitch 3.1 does ("OVS", measured with ovs-vswitchd and a hand-built request):
 *   - The request describes the whole pipeline: every table 0..n-1, each once. A request that
 *     leaves a table out would remove it, and the number of tables is fixed (FEATURES_REPLY said
 *     it), so it is refused with TABLE_FEATURES_FAILED/EPERM (OVS: EPERM too).
 *   - A table id past the last is BAD_TABLE (OF's code for it; OVS answers EPERM). A table
 *     listed twice is BAD_ARGUMENT.
 *   - Property types the codec does not know are BAD_TYPE, properties whose lengths do not add
 *     up are BAD_LEN (both from the decoder, src/openflow). An OXM id whose length is not the
 *     field's (doubled with has_mask) is BAD_LEN too.
 *   - BAD_ARGUMENT ("unsupported property value"): one of the eight non-miss properties missing
 *     (they are required in a reply, and a set is "the switch as you describe it"); a property
 *     type twice; experimenter properties, instructions, actions or OXM classes (the switch
 *     knows no experimenter); an instruction or action type this switch does not implement; a
 *     next table that is not a later, existing table; a match field this switch cannot match,
 *     or listed with has_mask when the field cannot be masked; a wildcard that is not also a
 *     match field; a set-field on a read-only field or with has_mask; config bits (1.3 has no
 *     table config flags).
 *   - BAD_METADATA ("invalid metadata mask") never happens: this switch can match and write
 *     every metadata bit, so any requested mask is one it can honour.
 *   - The *_MISS properties are optional: absent, the table-miss flow (priority 0, empty match)
 *     gets what the non-miss property says (OF: "may be omitted if it is the same").
 *   - Existing flows are not touched. A set that some flow of the switch would violate (its
 *     match, instructions, actions, or a table holding more flows than the new max_entries) is
 *     refused, as a whole, with EPERM: the alternative, deleting those flows, would remove a
 *     controller's state as a side effect of describing the tables; refusing lets it delete the
 *     flows first. (OVS never enforces a set's features, so it has no choice to copy: it takes
 *     the names only and answers EPERM for anything it cannot do, max_entries for instance.)
 *   - Success answers with the new description of every table, as a get would (OF: the reply
 *     to a set is the table features; OVS does the same), and a later get returns exactly what
 *     was set: names, masks, max_entries, and the properties as sent, in their order.
 *
 * After a set, a flow-mod's match and instructions are checked against its table's description
 * (the error codes are OF's): a match field not listed in MATCH is BAD_MATCH/BAD_FIELD, a mask on
 * a field listed without has_mask BAD_MATCH/BAD_MASK, metadata bits outside metadata_match
 * BAD_MATCH/BAD_MASK, a field listed in MATCH but not in WILDCARDS and absent from the match
 * BAD_MATCH/BAD_WILDCARDS (the table-miss flow is exempt: it has no match by definition); an
 * instruction not in INSTRUCTIONS BAD_INSTRUCTION/UNSUP_INST, a goto not in NEXT_TABLES
 * BAD_INSTRUCTION/BAD_TABLE_ID, a write-metadata mask outside metadata_write
 * BAD_INSTRUCTION/UNSUP_METADATA_MASK; an action type not in APPLY_ACTIONS / WRITE_ACTIONS
 * BAD_ACTION/BAD_TYPE, a set-field of a field not in APPLY_SETFIELD / WRITE_SETFIELD
 * BAD_ACTION/BAD_SET_TYPE. These run after validate.ts's checks, so a flow-mod that is wrong in
 * itself gets the same error as before. Deletes are never refused.
 */

import { OFPE } from '../../proto/errors.js';
import { OXM_FIELDS, KIND_SIZE } from '../../proto/oxm.js';
import type { ErrorPair } from '../../proto/schema.js';
import {
  OFPAT, OFPIT, OFPTFPT, OFPXMC, OFPXMT, isBasic,
  type Action, type Instruction, type Oxm, type OxmId, type TableFeatures, type TableFeatureProp,
} from '../openflow/index.js';

/** Rules a table may hold, as the default description says (the classifier has no fixed limit). */
export const TABLE_MAX_ENTRIES = 1_000_000;

const TF = OFPE.TABLE_FEATURES_FAILED!;
const BM = OFPE.BAD_MATCH!;
const BI = OFPE.BAD_INSTRUCTION!;
const BA = OFPE.BAD_ACTION!;

const N_FIELDS = OXM_FIELDS.length;
const ALL_METADATA = 0xffff_ffff_ffff_ffffn;

/** Fields set-field refuses (validate.ts's READ_ONLY); every other basic field can be set. */
const NOT_SETTABLE = new Set<number>([OFPXMT.ETH_TYPE, OFPXMT.IP_PROTO, OFPXMT.MPLS_BOS, OFPXMT.IN_PHY_PORT, OFPXMT.IPV6_EXTHDR]);

/** Instruction types the pipeline implements (GOTO_TABLE 1 … METER 6). */
const INSTRUCTION_TYPES = [OFPIT.GOTO_TABLE, OFPIT.WRITE_METADATA, OFPIT.WRITE_ACTIONS, OFPIT.APPLY_ACTIONS, OFPIT.CLEAR_ACTIONS, OFPIT.METER];
/** Action types validate.ts accepts in a flow-mod. */
const ACTION_TYPES = [
  OFPAT.OUTPUT, OFPAT.COPY_TTL_OUT, OFPAT.COPY_TTL_IN, OFPAT.SET_MPLS_TTL, OFPAT.DEC_MPLS_TTL, OFPAT.PUSH_VLAN,
  OFPAT.POP_VLAN, OFPAT.PUSH_MPLS, OFPAT.POP_MPLS, OFPAT.SET_QUEUE, OFPAT.GROUP, OFPAT.SET_NW_TTL, OFPAT.DEC_NW_TTL,
  OFPAT.SET_FIELD, OFPAT.PUSH_PBB, OFPAT.POP_PBB,
];
const bits = (types: readonly number[]): number => types.reduce((m, t) => (m | (1 << t)) >>> 0, 0);
const ALL_INSTRUCTIONS = bits(INSTRUCTION_TYPES);
const ALL_ACTIONS = bits(ACTION_TYPES);

const oxmId = (field: number, size: number, hasMask: boolean): OxmId =>
  ({ oxmClass: OFPXMC.OPENFLOW_BASIC, field, hasMask, length: hasMask ? 2 * size : size });

const MATCH_IDS: readonly OxmId[] = OXM_FIELDS.map((d) => oxmId(d.field, KIND_SIZE[d.kind], d.maskable));
const WILDCARD_IDS: readonly OxmId[] = OXM_FIELDS.map((d) => oxmId(d.field, KIND_SIZE[d.kind], false));
const SETFIELD_IDS: readonly OxmId[] = OXM_FIELDS.filter((d) => !NOT_SETTABLE.has(d.field)).map((d) => oxmId(d.field, KIND_SIZE[d.kind], false));
const INSTRUCTION_IDS = INSTRUCTION_TYPES.map((type) => ({ type }));
const ACTION_IDS = ACTION_TYPES.map((type) => ({ type }));

/** The default description of table `id` of `nTables`: everything the pipeline accepts. */
export function defaultTableFeatures(id: number, nTables: number): TableFeatures {
  const last = id === nTables - 1;
  const next: number[] = [];
  for (let t = id + 1; t < nTables; t++) next.push(t);
  const properties: TableFeatureProp[] = [
    // The last table has no goto_table (goto only to a later table).
    { type: OFPTFPT.INSTRUCTIONS, instructionIds: last ? INSTRUCTION_IDS.filter((i) => i.type !== OFPIT.GOTO_TABLE) : INSTRUCTION_IDS },
    { type: OFPTFPT.NEXT_TABLES, nextTableIds: next },
    { type: OFPTFPT.WRITE_ACTIONS, actionIds: ACTION_IDS },
    { type: OFPTFPT.APPLY_ACTIONS, actionIds: ACTION_IDS },
    { type: OFPTFPT.MATCH, oxmIds: MATCH_IDS },
    { type: OFPTFPT.WILDCARDS, oxmIds: WILDCARD_IDS },
    { type: OFPTFPT.WRITE_SETFIELD, oxmIds: SETFIELD_IDS },
    { type: OFPTFPT.APPLY_SETFIELD, oxmIds: SETFIELD_IDS },
  ];
  return {
    tableId: id, name: `table${id}`, metadataMatch: ALL_METADATA, metadataWrite: ALL_METADATA,
    config: 0, maxEntries: TABLE_MAX_ENTRIES, properties,
  };
}

/** One TABLE_FEATURES entry per table: the default description of a pipeline of `nTables`. */
export function tableFeatures(nTables: number): TableFeatures[] {
  return Array.from({ length: nTables }, (_, id) => defaultTableFeatures(id, nTables));
}

// ---------------------------------------------------------------------------------------------
// Compiled descriptions
// ---------------------------------------------------------------------------------------------

/** What a list of actions may hold: action types (bit per OFPAT_*) and set-field fields. */
interface ActionRules {
  readonly types: number;
  /** 1 for each basic field a set-field may write, by field number. */
  readonly setFields: Uint8Array;
}

/** What the instructions of a flow (the table-miss flow, or the others) may be. */
interface InstructionRules {
  /** Bit per OFPIT_* type. */
  readonly types: number;
  /** 1 for each table a goto may name. */
  readonly next: Uint8Array;
  readonly apply: ActionRules;
  readonly write: ActionRules;
}

/**
 * A table's description compiled for the flow-mod path: flat arrays and bitmaps, so a check is
 * a few lookups per instruction, action and field.
 */
export interface TableRules {
  readonly hit: InstructionRules;
  readonly miss: InstructionRules;
  /** Per basic field: 0 not matchable, 1 exact only, 2 maskable. */
  readonly match: Uint8Array;
  /** Fields in MATCH but not in WILDCARDS: every flow but the table-miss one must match them. */
  readonly required: readonly number[];
  readonly metadataMatch: bigint;
  readonly metadataWrite: bigint;
}

/** The accepted description: what a get returns, and the rules (undefined: default, no checks). */
export interface TableConfig {
  readonly features: TableFeatures;
  readonly rules: TableRules | undefined;
}

type Props = Map<number, TableFeatureProp>;

/** Validates one OXM id list; `masks` says whether has_mask may be set. Fills `out` (1 or 2). */
function oxmList(ids: readonly OxmId[], masks: boolean, out: Uint8Array, allowed: (field: number) => boolean): ErrorPair | undefined {
  for (const id of ids) {
    if (id.oxmClass !== OFPXMC.OPENFLOW_BASIC) return TF.BAD_ARGUMENT!;
    const d = OXM_FIELDS[id.field];
    if (d === undefined || !allowed(id.field)) return TF.BAD_ARGUMENT!;
    const size = KIND_SIZE[d.kind];
    if (id.length !== (id.hasMask ? 2 * size : size)) return TF.BAD_LEN!;
    if (id.hasMask && !(masks && d.maskable)) return TF.BAD_ARGUMENT!;
    out[id.field] = Math.max(out[id.field]!, id.hasMask ? 2 : 1);
  }
  return undefined;
}

function actionRules(p: TableFeatureProp | undefined, sf: TableFeatureProp | undefined): ActionRules | ErrorPair {
  let types = 0;
  if (p !== undefined && 'actionIds' in p) {
    for (const a of p.actionIds) {
      if (a.type >= 32 || ((ALL_ACTIONS >>> a.type) & 1) === 0) return TF.BAD_ARGUMENT!;
      types = (types | (1 << a.type)) >>> 0;
    }
  }
  const setFields = new Uint8Array(N_FIELDS);
  if (sf !== undefined && 'oxmIds' in sf) {
    const err = oxmList(sf.oxmIds, false, setFields, (f) => !NOT_SETTABLE.has(f));
    if (err !== undefined) return err;
  }
  return { types, setFields };
}

function instructionRules(tableId: number, nTables: number, props: Props, miss: boolean): InstructionRules | ErrorPair {
  // A *_MISS property is its non-miss type + 1; absent, the non-miss one stands for it.
  const get = (type: number): TableFeatureProp | undefined => (miss ? props.get(type + 1) ?? props.get(type) : props.get(type));
  const inst = get(OFPTFPT.INSTRUCTIONS);
  let types = 0;
  if (inst !== undefined && 'instructionIds' in inst) {
    for (const i of inst.instructionIds) {
      if (i.type >= 32 || ((ALL_INSTRUCTIONS >>> i.type) & 1) === 0) return TF.BAD_ARGUMENT!;
      types |= 1 << i.type;
    }
  }
  const next = new Uint8Array(256);
  const nt = get(OFPTFPT.NEXT_TABLES);
  if (nt !== undefined && 'nextTableIds' in nt) {
    for (const t of nt.nextTableIds) {
      if (t <= tableId || t >= nTables) return TF.BAD_ARGUMENT!;
      next[t] = 1;
    }
  }
  const apply = actionRules(get(OFPTFPT.APPLY_ACTIONS), get(OFPTFPT.APPLY_SETFIELD));
  if (!('types' in apply)) return apply;
  const write = actionRules(get(OFPTFPT.WRITE_ACTIONS), get(OFPTFPT.WRITE_SETFIELD));
  if (!('types' in write)) return write;
  return { types, next, apply, write };
}

const REQUIRED_PROPS = [
  OFPTFPT.INSTRUCTIONS, OFPTFPT.NEXT_TABLES, OFPTFPT.WRITE_ACTIONS, OFPTFPT.APPLY_ACTIONS,
  OFPTFPT.MATCH, OFPTFPT.WILDCARDS, OFPTFPT.WRITE_SETFIELD, OFPTFPT.APPLY_SETFIELD,
];

/** Compiles one table's requested description, or the error that refuses it. */
export function compileTable(tf: TableFeatures, nTables: number): TableRules | ErrorPair {
  if (tf.config !== 0) return TF.BAD_ARGUMENT!;
  const props: Props = new Map();
  for (const p of tf.properties) {
    if (p.type === OFPTFPT.EXPERIMENTER || p.type === OFPTFPT.EXPERIMENTER_MISS) return TF.BAD_ARGUMENT!;
    if (props.has(p.type)) return TF.BAD_ARGUMENT!;
    props.set(p.type, p);
  }
  for (const t of REQUIRED_PROPS) if (!props.has(t)) return TF.BAD_ARGUMENT!;
  const hit = instructionRules(tf.tableId, nTables, props, false);
  if (!('types' in hit)) return hit;
  const miss = instructionRules(tf.tableId, nTables, props, true);
  if (!('types' in miss)) return miss;
  const match = new Uint8Array(N_FIELDS);
  const mp = props.get(OFPTFPT.MATCH)!;
  let err = oxmList('oxmIds' in mp ? mp.oxmIds : [], true, match, () => true);
  if (err !== undefined) return err;
  // Wildcards: has_mask means nothing there; each must be a match field.
  const wild = new Uint8Array(N_FIELDS);
  const wp = props.get(OFPTFPT.WILDCARDS)!;
  err = oxmList('oxmIds' in wp ? wp.oxmIds : [], true, wild, (f) => match[f] !== 0);
  if (err !== undefined) return err;
  const required: number[] = [];
  for (let f = 0; f < N_FIELDS; f++) if (match[f] !== 0 && wild[f] === 0) required.push(f);
  return { hit, miss, match, required, metadataMatch: tf.metadataMatch, metadataWrite: tf.metadataWrite };
}

const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
const sameActions = (a: ActionRules, b: ActionRules): boolean => a.types === b.types && sameBytes(a.setFields, b.setFields);
const sameInsts = (a: InstructionRules, b: InstructionRules): boolean =>
  a.types === b.types && sameBytes(a.next, b.next) && sameActions(a.apply, b.apply) && sameActions(a.write, b.write);

/** True when two compiled descriptions accept exactly the same flows. */
export function sameRules(a: TableRules, b: TableRules): boolean {
  return sameInsts(a.hit, b.hit) && sameInsts(a.miss, b.miss) && sameBytes(a.match, b.match)
    && a.required.length === b.required.length && a.required.every((f, i) => f === b.required[i])
    && a.metadataMatch === b.metadataMatch && a.metadataWrite === b.metadataWrite;
}

const defaultRulesCache = new Map<string, TableRules>();

function defaultRules(id: number, nTables: number): TableRules {
  // Tables but the last compile alike except for their next tables; cache per (id, n).
  const key = `${id}/${nTables}`;
  let r = defaultRulesCache.get(key);
  if (r === undefined) {
    r = compileTable(defaultTableFeatures(id, nTables), nTables) as TableRules;
    if (defaultRulesCache.size > 1024) defaultRulesCache.clear();
    defaultRulesCache.set(key, r);
  }
  return r;
}

/**
 * Validates a set request (the tables of every part) for a pipeline of `nTables`: the new
 * configuration of every table in table order, or the error to refuse the whole request with.
 */
export function compileSet(tables: readonly TableFeatures[], nTables: number): TableConfig[] | ErrorPair {
  const byId: (TableFeatures | undefined)[] = new Array<TableFeatures | undefined>(nTables).fill(undefined);
  for (const tf of tables) {
    if (tf.tableId >= nTables) return TF.BAD_TABLE!;
    if (byId[tf.tableId] !== undefined) return TF.BAD_ARGUMENT!;
    byId[tf.tableId] = tf;
  }
  if (tables.length !== nTables) return TF.EPERM!;
  const out: TableConfig[] = [];
  for (let id = 0; id < nTables; id++) {
    const features = byId[id]!;
    const rules = compileTable(features, nTables);
    if (!('hit' in rules)) return rules;
    out.push({ features, rules: sameRules(rules, defaultRules(id, nTables)) ? undefined : rules });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The flow-mod checks
// ---------------------------------------------------------------------------------------------

/** A basic field's value or mask as a bigint (metadata is a u64). */
const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(v as number));

/** The match of a flow added to a table with rules `r` (the table-miss flow has none to check). */
export function checkMatch(match: readonly Oxm[], r: TableRules, tableMiss: boolean): ErrorPair | undefined {
  for (const x of match) {
    if (!isBasic(x)) return BM.BAD_FIELD!;
    const m = r.match[x.field] ?? 0;
    if (m === 0) return BM.BAD_FIELD!;
    if (x.mask !== undefined && m !== 2) return BM.BAD_MASK!;
    if (x.field === OFPXMT.METADATA) {
      const mask = x.mask === undefined ? ALL_METADATA : big(x.mask);
      if ((mask & ~r.metadataMatch) !== 0n) return BM.BAD_MASK!;
    }
  }
  if (!tableMiss) {
    for (const f of r.required) {
      if (!match.some((x) => isBasic(x) && x.field === f)) return BM.BAD_WILDCARDS!;
    }
  }
  return undefined;
}

function checkActionList(actions: readonly Action[], r: ActionRules): ErrorPair | undefined {
  for (const a of actions) {
    if (a.type >= 32 || ((r.types >>> a.type) & 1) === 0) return BA.BAD_TYPE!;
    if (a.type === OFPAT.SET_FIELD) {
      const f = a.field;
      if (!isBasic(f) || r.setFields[f.field] !== 1) return BA.BAD_SET_TYPE!;
    }
  }
  return undefined;
}

/** Instructions of a flow (the table-miss flow's when `tableMiss`) in a table with rules `r`. */
export function checkInstructions(insts: readonly Instruction[], r: TableRules, tableMiss: boolean): ErrorPair | undefined {
  const ir = tableMiss ? r.miss : r.hit;
  for (const inst of insts) {
    const t = inst.type as number;
    if (t >= 32 || ((ir.types >>> t) & 1) === 0) return BI.UNSUP_INST!;
    switch (inst.type) {
      case OFPIT.GOTO_TABLE:
        if (ir.next[inst.tableId] !== 1) return BI.BAD_TABLE_ID!;
        break;
      case OFPIT.WRITE_METADATA:
        if ((inst.metadataMask & ~r.metadataWrite) !== 0n) return BI.UNSUP_METADATA_MASK!;
        break;
      case OFPIT.APPLY_ACTIONS: {
        const err = checkActionList(inst.actions, ir.apply);
        if (err !== undefined) return err;
        break;
      }
      case OFPIT.WRITE_ACTIONS: {
        const err = checkActionList(inst.actions, ir.write);
        if (err !== undefined) return err;
        break;
      }
      default:
        break;
    }
  }
  return undefined;
}
