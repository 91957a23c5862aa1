/**
 * Every OpenFlow 1.3 error: (type, code), its name and a one-line text.
 *
 * This table is the single source for error identity. A decoder failure carries one of these
 * (type, code) pairs and *is* the OFPT_ERROR the switch answers with; the formatter prints the
 * names. The texts are ours, written to say what the peer got wrong.
 */

import { OFPET } from './constants.js';

export interface ErrorCodeDef {
  readonly code: number;
  readonly name: string;
  readonly text: string;
}

export interface ErrorTypeDef {
  readonly type: number;
  readonly name: string;
  readonly text: string;
  readonly codes: readonly ErrorCodeDef[];
}

const codes = (...list: Array<[string, string]>): ErrorCodeDef[] =>
  list.map(([name, text], code) => ({ code, name, text }));

export const ERROR_TYPES: readonly ErrorTypeDef[] = [
  {
    type: OFPET.HELLO_FAILED, name: 'HELLO_FAILED', text: 'hello protocol failed',
    codes: codes(
      ['INCOMPATIBLE', 'no common OpenFlow version'],
      ['EPERM', 'permission denied'],
    ),
  },
  {
    type: OFPET.BAD_REQUEST, name: 'BAD_REQUEST', text: 'request not understood',
    codes: codes(
      ['BAD_VERSION', 'header version is not the negotiated one'],
      ['BAD_TYPE', 'message type not supported'],
      ['BAD_MULTIPART', 'multipart type not supported'],
      ['BAD_EXPERIMENTER', 'experimenter id not supported'],
      ['BAD_EXP_TYPE', 'experimenter type not supported'],
      ['EPERM', 'permission denied'],
      ['BAD_LEN', 'wrong length for this message type'],
      ['BUFFER_EMPTY', 'buffer already used'],
      ['BUFFER_UNKNOWN', 'buffer does not exist'],
      ['BAD_TABLE_ID', 'table id invalid or missing'],
      ['IS_SLAVE', 'denied: the controller is a slave'],
      ['BAD_PORT', 'invalid port'],
      ['BAD_PACKET', 'invalid packet in packet-out'],
      ['MULTIPART_BUFFER_OVERFLOW', 'multipart request too large to reassemble'],
    ),
  },
  {
    type: OFPET.BAD_ACTION, name: 'BAD_ACTION', text: 'error in an action',
    codes: codes(
      ['BAD_TYPE', 'unknown action type'],
      ['BAD_LEN', 'bad action length'],
      ['BAD_EXPERIMENTER', 'unknown experimenter id in action'],
      ['BAD_EXP_TYPE', 'unknown experimenter action type'],
      ['BAD_OUT_PORT', 'invalid output port'],
      ['BAD_ARGUMENT', 'bad action argument'],
      ['EPERM', 'permission denied'],
      ['TOO_MANY', 'too many actions'],
      ['BAD_QUEUE', 'invalid output queue'],
      ['BAD_OUT_GROUP', 'invalid group in group action'],
      ['MATCH_INCONSISTENT', 'action inconsistent with the match or a missing set-field prerequisite'],
      ['UNSUPPORTED_ORDER', 'action order not supported in apply-actions'],
      ['BAD_TAG', 'unsupported tag or encapsulation'],
      ['BAD_SET_TYPE', 'unsupported field in set-field'],
      ['BAD_SET_LEN', 'bad length in set-field'],
      ['BAD_SET_ARGUMENT', 'bad value in set-field'],
    ),
  },
  {
    type: OFPET.BAD_INSTRUCTION, name: 'BAD_INSTRUCTION', text: 'error in an instruction',
    codes: codes(
      ['UNKNOWN_INST', 'unknown instruction type'],
      ['UNSUP_INST', 'instruction not supported by this table'],
      ['BAD_TABLE_ID', 'invalid goto-table target'],
      ['UNSUP_METADATA', 'metadata value not supported'],
      ['UNSUP_METADATA_MASK', 'metadata mask not supported'],
      ['BAD_EXPERIMENTER', 'unknown experimenter id in instruction'],
      ['BAD_EXP_TYPE', 'unknown experimenter instruction type'],
      ['BAD_LEN', 'bad instruction length'],
      ['EPERM', 'permission denied'],
    ),
  },
  {
    type: OFPET.BAD_MATCH, name: 'BAD_MATCH', text: 'error in a match',
    codes: codes(
      ['BAD_TYPE', 'match type not supported (only OXM)'],
      ['BAD_LEN', 'bad match or OXM length'],
      ['BAD_TAG', 'unsupported tag or encapsulation in match'],
      ['BAD_DL_ADDR_MASK', 'unsupported Ethernet address mask'],
      ['BAD_NW_ADDR_MASK', 'unsupported network address mask'],
      ['BAD_WILDCARDS', 'value has bits set outside its mask'],
      ['BAD_FIELD', 'unknown or unsupported match field'],
      ['BAD_VALUE', 'value out of range for the field'],
      ['BAD_MASK', 'mask not allowed or not supported for the field'],
      ['BAD_PREREQ', 'a prerequisite of a field is missing'],
      ['DUP_FIELD', 'a field appears twice'],
      ['EPERM', 'permission denied'],
    ),
  },
  {
    type: OFPET.FLOW_MOD_FAILED, name: 'FLOW_MOD_FAILED', text: 'flow modification failed',
    codes: codes(
      ['UNKNOWN', 'unspecified failure'],
      ['TABLE_FULL', 'table full'],
      ['BAD_TABLE_ID', 'table does not exist'],
      ['OVERLAP', 'overlapping flow exists (CHECK_OVERLAP)'],
      ['EPERM', 'permission denied'],
      ['BAD_TIMEOUT', 'unsupported idle or hard timeout'],
      ['BAD_COMMAND', 'unknown flow-mod command'],
      ['BAD_FLAGS', 'unsupported flow-mod flags'],
    ),
  },
  {
    type: OFPET.GROUP_MOD_FAILED, name: 'GROUP_MOD_FAILED', text: 'group modification failed',
    codes: codes(
      ['GROUP_EXISTS', 'group already exists'],
      ['INVALID_GROUP', 'invalid group id'],
      ['WEIGHT_UNSUPPORTED', 'unequal weights not supported'],
      ['OUT_OF_GROUPS', 'group table full'],
      ['OUT_OF_BUCKETS', 'too many buckets'],
      ['CHAINING_UNSUPPORTED', 'groups forwarding to groups not supported'],
      ['WATCH_UNSUPPORTED', 'cannot watch that port or group'],
      ['LOOP', 'group would create a loop'],
      ['UNKNOWN_GROUP', 'group to modify does not exist'],
      ['CHAINED_GROUP', 'group is referenced by another group'],
      ['BAD_TYPE', 'unknown group type'],
      ['BAD_COMMAND', 'unknown group-mod command'],
      ['BAD_BUCKET', 'error in a bucket'],
      ['BAD_WATCH', 'error in watch port or group'],
      ['EPERM', 'permission denied'],
    ),
  },
  {
    type: OFPET.PORT_MOD_FAILED, name: 'PORT_MOD_FAILED', text: 'port modification failed',
    codes: codes(
      ['BAD_PORT', 'port does not exist'],
      ['BAD_HW_ADDR', 'hardware address does not match the port'],
      ['BAD_CONFIG', 'invalid port config'],
      ['BAD_ADVERTISE', 'invalid advertised features'],
      ['EPERM', 'permission denied'],
    ),
  },
  {
    type: OFPET.TABLE_MOD_FAILED, name: 'TABLE_MOD_FAILED', text: 'table modification failed',
    codes: codes(
      ['BAD_TABLE', 'table does not exist'],
      ['BAD_CONFIG', 'invalid table config'],
      ['EPERM', 'permission denied'],
    ),
  },
  {
    type: OFPET.QUEUE_OP_FAILED, name: 'QUEUE_OP_FAILED', text: 'queue operation failed',
    codes: codes(
      ['BAD_PORT', 'port does not exist'],
      ['BAD_QUEUE', 'queue does not exist'],
      ['EPERM', 'permission denied'],
    ),
  },
  {
    type: OFPET.SWITCH_CONFIG_FAILED, name: 'SWITCH_CONFIG_FAILED', text: 'switch config failed',
    codes: codes(
      ['BAD_FLAGS', 'invalid config flags'],
      ['BAD_LEN', 'invalid miss_send_len'],
      ['EPERM', 'permission denied'],
    ),
  },
  {
    type: OFPET.ROLE_REQUEST_FAILED, name: 'ROLE_REQUEST_FAILED', text: 'role request failed',
    codes: codes(
      ['STALE', 'generation id is stale'],
      ['UNSUP', 'role change not supported'],
      ['BAD_ROLE', 'invalid role'],
    ),
  },
  {
    type: OFPET.METER_MOD_FAILED, name: 'METER_MOD_FAILED', text: 'meter modification failed',
    codes: codes(
      ['UNKNOWN', 'unspecified failure'],
      ['METER_EXISTS', 'meter already exists'],
      ['INVALID_METER', 'invalid meter id'],
      ['UNKNOWN_METER', 'meter to modify does not exist'],
      ['BAD_COMMAND', 'unknown meter-mod command'],
      ['BAD_FLAGS', 'unsupported meter flags'],
      ['BAD_RATE', 'unsupported rate'],
      ['BAD_BURST', 'unsupported burst size'],
      ['BAD_BAND', 'unsupported or malformed band'],
      ['BAD_BAND_VALUE', 'unsupported band value'],
      ['OUT_OF_METERS', 'no more meters'],
      ['OUT_OF_BANDS', 'too many bands'],
    ),
  },
  {
    type: OFPET.TABLE_FEATURES_FAILED, name: 'TABLE_FEATURES_FAILED', text: 'table features request failed',
    codes: codes(
      ['BAD_TABLE', 'table does not exist'],
      ['BAD_METADATA', 'invalid metadata mask'],
      ['BAD_TYPE', 'unknown property type'],
      ['BAD_LEN', 'bad property length'],
      ['BAD_ARGUMENT', 'unsupported property value'],
      ['EPERM', 'permission denied'],
    ),
  },
  { type: OFPET.EXPERIMENTER, name: 'EXPERIMENTER', text: 'experimenter error', codes: [] },
];

/** `OFPE.BAD_MATCH.DUP_FIELD` is `[4, 10]`: every (type, code) pair by name. */
type Pairs = Record<string, Record<string, readonly [number, number]>>;
export const OFPE: Pairs = Object.fromEntries(
  ERROR_TYPES.map((t) => [t.name, Object.fromEntries(t.codes.map((c) => [c.name, [t.type, c.code] as const]))]),
);

const byType = new Map(ERROR_TYPES.map((t) => [t.type, t]));

/** `BAD_MATCH/DUP_FIELD`-style name of a pair, with numbers for unknown parts. */
export function errorName(type: number, code: number): string {
  const t = byType.get(type);
  if (t === undefined) return `type${type}/code${code}`;
  const c = t.codes[code];
  return `${t.name}/${c?.name ?? `code${code}`}`;
}

export function errorText(type: number, code: number): string {
  const t = byType.get(type);
  return t?.codes[code]?.text ?? t?.text ?? 'unknown error';
}

/** The inverse of errorName, for the CLI and the JSON form. */
export function parseErrorName(text: string): readonly [number, number] | undefined {
  const [tn, cn] = text.split('/');
  const t = ERROR_TYPES.find((x) => x.name === tn);
  const c = t?.codes.find((x) => x.name === cn);
  return t && c ? [t.type, c.code] : undefined;
}
