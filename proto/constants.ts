/**
 * OpenFlow 1.3 (wire version 0x04) numbers, as plain `as const` objects.
 *
 * Every enumeration the wire format uses lives here once. The codec, the formatter and the JSON
 * form read names from these tables (see `ENUMS` at the bottom), so a value added here shows up
 * everywhere. Values are from the OpenFlow 1.3.5 specification and the ONF extensions for 1.3
 * (bundles, EXT-230); see ../shared/reference/of13-constants.md for the cross-checked list.
 */

export const OFP_VERSION = 0x04;
export const OFP_HEADER_LEN = 8;
export const OFP_DEFAULT_PORT = 6653;
export const OFP_NO_BUFFER = 0xffffffff;
export const OFP_DEFAULT_MISS_SEND_LEN = 128;
export const OFP_DEFAULT_PRIORITY = 0x8000;
export const OFP_MAX_PORT_NAME_LEN = 16;
export const OFP_MAX_TABLE_NAME_LEN = 32;
export const DESC_STR_LEN = 256;
export const SERIAL_NUM_LEN = 32;
export const ONF_EXPERIMENTER_ID = 0x4f4e4600;
export const NICIRA_EXPERIMENTER_ID = 0x00002320;

export const OFPT = {
  HELLO: 0, ERROR: 1, ECHO_REQUEST: 2, ECHO_REPLY: 3, EXPERIMENTER: 4,
  FEATURES_REQUEST: 5, FEATURES_REPLY: 6, GET_CONFIG_REQUEST: 7, GET_CONFIG_REPLY: 8,
  SET_CONFIG: 9, PACKET_IN: 10, FLOW_REMOVED: 11, PORT_STATUS: 12, PACKET_OUT: 13,
  FLOW_MOD: 14, GROUP_MOD: 15, PORT_MOD: 16, TABLE_MOD: 17, MULTIPART_REQUEST: 18,
  MULTIPART_REPLY: 19, BARRIER_REQUEST: 20, BARRIER_REPLY: 21,
  QUEUE_GET_CONFIG_REQUEST: 22, QUEUE_GET_CONFIG_REPLY: 23, ROLE_REQUEST: 24, ROLE_REPLY: 25,
  GET_ASYNC_REQUEST: 26, GET_ASYNC_REPLY: 27, SET_ASYNC: 28, METER_MOD: 29,
} as const;

export const OFPHET = { VERSIONBITMAP: 1 } as const;

export const OFPPC = { PORT_DOWN: 1 << 0, NO_RECV: 1 << 2, NO_FWD: 1 << 5, NO_PACKET_IN: 1 << 6 } as const;
export const OFPPS = { LINK_DOWN: 1 << 0, BLOCKED: 1 << 1, LIVE: 1 << 2 } as const;

export const OFPP = {
  MAX: 0xffffff00, IN_PORT: 0xfffffff8, TABLE: 0xfffffff9, NORMAL: 0xfffffffa,
  FLOOD: 0xfffffffb, ALL: 0xfffffffc, CONTROLLER: 0xfffffffd, LOCAL: 0xfffffffe, ANY: 0xffffffff,
} as const;

export const OFPPF = {
  '10MB_HD': 1 << 0, '10MB_FD': 1 << 1, '100MB_HD': 1 << 2, '100MB_FD': 1 << 3,
  '1GB_HD': 1 << 4, '1GB_FD': 1 << 5, '10GB_FD': 1 << 6, '40GB_FD': 1 << 7,
  '100GB_FD': 1 << 8, '1TB_FD': 1 << 9, OTHER: 1 << 10, COPPER: 1 << 11, FIBER: 1 << 12,
  AUTONEG: 1 << 13, PAUSE: 1 << 14, PAUSE_ASYM: 1 << 15,
} as const;

export const OFPQT = { MIN_RATE: 1, MAX_RATE: 2, EXPERIMENTER: 0xffff } as const;
export const OFPQ_ALL = 0xffffffff;

export const OFPMT = { STANDARD: 0, OXM: 1 } as const;
export const OFPXMC = { NXM_0: 0x0000, NXM_1: 0x0001, OPENFLOW_BASIC: 0x8000, EXPERIMENTER: 0xffff } as const;
export const OFPVID = { PRESENT: 0x1000, NONE: 0x0000 } as const;

export const OFPXMT = {
  IN_PORT: 0, IN_PHY_PORT: 1, METADATA: 2, ETH_DST: 3, ETH_SRC: 4, ETH_TYPE: 5, VLAN_VID: 6,
  VLAN_PCP: 7, IP_DSCP: 8, IP_ECN: 9, IP_PROTO: 10, IPV4_SRC: 11, IPV4_DST: 12, TCP_SRC: 13,
  TCP_DST: 14, UDP_SRC: 15, UDP_DST: 16, SCTP_SRC: 17, SCTP_DST: 18, ICMPV4_TYPE: 19,
  ICMPV4_CODE: 20, ARP_OP: 21, ARP_SPA: 22, ARP_TPA: 23, ARP_SHA: 24, ARP_THA: 25,
  IPV6_SRC: 26, IPV6_DST: 27, IPV6_FLABEL: 28, ICMPV6_TYPE: 29, ICMPV6_CODE: 30,
  IPV6_ND_TARGET: 31, IPV6_ND_SLL: 32, IPV6_ND_TLL: 33, MPLS_LABEL: 34, MPLS_TC: 35,
  MPLS_BOS: 36, PBB_ISID: 37, TUNNEL_ID: 38, IPV6_EXTHDR: 39,
} as const;

export const OFPIEH = {
  NONEXT: 1 << 0, ESP: 1 << 1, AUTH: 1 << 2, DEST: 1 << 3, FRAG: 1 << 4, ROUTER: 1 << 5,
  HOP: 1 << 6, UNREP: 1 << 7, UNSEQ: 1 << 8,
} as const;

export const OFPIT = {
  GOTO_TABLE: 1, WRITE_METADATA: 2, WRITE_ACTIONS: 3, APPLY_ACTIONS: 4, CLEAR_ACTIONS: 5,
  METER: 6, EXPERIMENTER: 0xffff,
} as const;

export const OFPAT = {
  OUTPUT: 0, COPY_TTL_OUT: 11, COPY_TTL_IN: 12, SET_MPLS_TTL: 15, DEC_MPLS_TTL: 16,
  PUSH_VLAN: 17, POP_VLAN: 18, PUSH_MPLS: 19, POP_MPLS: 20, SET_QUEUE: 21, GROUP: 22,
  SET_NW_TTL: 23, DEC_NW_TTL: 24, SET_FIELD: 25, PUSH_PBB: 26, POP_PBB: 27, EXPERIMENTER: 0xffff,
} as const;

export const OFPCML = { MAX: 0xffe5, NO_BUFFER: 0xffff } as const;

export const OFPC = {
  FLOW_STATS: 1 << 0, TABLE_STATS: 1 << 1, PORT_STATS: 1 << 2, GROUP_STATS: 1 << 3,
  IP_REASM: 1 << 5, QUEUE_STATS: 1 << 6, PORT_BLOCKED: 1 << 8,
} as const;

export const OFPC_FRAG = { NORMAL: 0, DROP: 1, REASM: 2, MASK: 3 } as const;

export const OFPTT = { MAX: 0xfe, ALL: 0xff } as const;

export const OFPFC = { ADD: 0, MODIFY: 1, MODIFY_STRICT: 2, DELETE: 3, DELETE_STRICT: 4 } as const;
export const OFPFF = {
  SEND_FLOW_REM: 1 << 0, CHECK_OVERLAP: 1 << 1, RESET_COUNTS: 1 << 2, NO_PKT_COUNTS: 1 << 3,
  NO_BYT_COUNTS: 1 << 4,
} as const;

export const OFPGC = { ADD: 0, MODIFY: 1, DELETE: 2 } as const;
export const OFPG = { MAX: 0xffffff00, ALL: 0xfffffffc, ANY: 0xffffffff } as const;
export const OFPGT = { ALL: 0, SELECT: 1, INDIRECT: 2, FF: 3 } as const;
export const OFPGFC = { SELECT_WEIGHT: 1 << 0, SELECT_LIVENESS: 1 << 1, CHAINING: 1 << 2, CHAINING_CHECKS: 1 << 3 } as const;

export const OFPM = { MAX: 0xffff0000, SLOWPATH: 0xfffffffd, CONTROLLER: 0xfffffffe, ALL: 0xffffffff } as const;
export const OFPMC = { ADD: 0, MODIFY: 1, DELETE: 2 } as const;
export const OFPMF = { KBPS: 1 << 0, PKTPS: 1 << 1, BURST: 1 << 2, STATS: 1 << 3 } as const;
export const OFPMBT = { DROP: 1, DSCP_REMARK: 2, EXPERIMENTER: 0xffff } as const;

export const OFPMPF = { MORE: 1 << 0 } as const;
export const OFPMP = {
  DESC: 0, FLOW: 1, AGGREGATE: 2, TABLE: 3, PORT_STATS: 4, QUEUE: 5, GROUP: 6, GROUP_DESC: 7,
  GROUP_FEATURES: 8, METER: 9, METER_CONFIG: 10, METER_FEATURES: 11, TABLE_FEATURES: 12,
  PORT_DESC: 13, EXPERIMENTER: 0xffff,
} as const;

export const OFPTFPT = {
  INSTRUCTIONS: 0, INSTRUCTIONS_MISS: 1, NEXT_TABLES: 2, NEXT_TABLES_MISS: 3,
  WRITE_ACTIONS: 4, WRITE_ACTIONS_MISS: 5, APPLY_ACTIONS: 6, APPLY_ACTIONS_MISS: 7,
  MATCH: 8, WILDCARDS: 10, WRITE_SETFIELD: 12, WRITE_SETFIELD_MISS: 13,
  APPLY_SETFIELD: 14, APPLY_SETFIELD_MISS: 15, EXPERIMENTER: 0xfffe, EXPERIMENTER_MISS: 0xffff,
} as const;

export const OFPCR_ROLE = { NOCHANGE: 0, EQUAL: 1, MASTER: 2, SLAVE: 3 } as const;
export const OFPR = { NO_MATCH: 0, ACTION: 1, INVALID_TTL: 2 } as const;
export const OFPRR = { IDLE_TIMEOUT: 0, HARD_TIMEOUT: 1, DELETE: 2, GROUP_DELETE: 3 } as const;
export const OFPPR = { ADD: 0, DELETE: 1, MODIFY: 2 } as const;

/** ONF extension EXT-230: bundles carried in OFPT_EXPERIMENTER on OpenFlow 1.3. */
export const ONF_ET = { BUNDLE_CONTROL: 2300, BUNDLE_ADD_MESSAGE: 2301 } as const;
export const ONF_BCT = {
  OPEN_REQUEST: 0, OPEN_REPLY: 1, CLOSE_REQUEST: 2, CLOSE_REPLY: 3,
  COMMIT_REQUEST: 4, COMMIT_REPLY: 5, DISCARD_REQUEST: 6, DISCARD_REPLY: 7,
} as const;
export const ONF_BF = { ATOMIC: 1 << 0, ORDERED: 1 << 1 } as const;
export const ONF_ET_BPT = { EXPERIMENTER: 0xffff } as const;

export const OFPET = {
  HELLO_FAILED: 0, BAD_REQUEST: 1, BAD_ACTION: 2, BAD_INSTRUCTION: 3, BAD_MATCH: 4,
  FLOW_MOD_FAILED: 5, GROUP_MOD_FAILED: 6, PORT_MOD_FAILED: 7, TABLE_MOD_FAILED: 8,
  QUEUE_OP_FAILED: 9, SWITCH_CONFIG_FAILED: 10, ROLE_REQUEST_FAILED: 11, METER_MOD_FAILED: 12,
  TABLE_FEATURES_FAILED: 13, EXPERIMENTER: 0xffff,
} as const;

/**
 * A name table: either an enumeration (a value has one name) or a bitmap of flags (a value is an
 * OR of names). The formatter, the JSON form and the CLI read names from here.
 */
export interface NameTable {
  readonly kind: 'enum' | 'flags';
  readonly values: Readonly<Record<string, number>>;
}

const e = (values: Record<string, number>): NameTable => ({ kind: 'enum', values });
const f = (values: Record<string, number>): NameTable => ({ kind: 'flags', values });

/** Every name table the wire description refers to, by the name used in proto/of13.ts. */
export const ENUMS = {
  type: e(OFPT),
  port: e(OFPP),
  portConfig: f(OFPPC),
  portState: f(OFPPS),
  portFeatures: f(OFPPF),
  queueProp: e(OFPQT),
  oxmField: e(OFPXMT),
  oxmClass: e(OFPXMC),
  instruction: e(OFPIT),
  action: e(OFPAT),
  capabilities: f(OFPC),
  configFlags: e(OFPC_FRAG),
  table: e(OFPTT),
  flowModCommand: e(OFPFC),
  flowModFlags: f(OFPFF),
  groupModCommand: e(OFPGC),
  group: e(OFPG),
  groupType: e(OFPGT),
  groupCapabilities: f(OFPGFC),
  meter: e(OFPM),
  meterModCommand: e(OFPMC),
  meterFlags: f(OFPMF),
  meterBand: e(OFPMBT),
  multipartFlags: f(OFPMPF),
  multipart: e(OFPMP),
  tableFeatureProp: e(OFPTFPT),
  role: e(OFPCR_ROLE),
  packetInReason: e(OFPR),
  flowRemovedReason: e(OFPRR),
  portReason: e(OFPPR),
  helloElem: e(OFPHET),
  bundleCtrl: e(ONF_BCT),
  bundleFlags: f(ONF_BF),
  bundleProp: e(ONF_ET_BPT),
  errorType: e(OFPET),
  ipv6Exthdr: f(OFPIEH),
} as const satisfies Record<string, NameTable>;

export type EnumName = keyof typeof ENUMS;

const reverse = new Map<NameTable, Map<number, string>>();

/** The name of `value` in an enumeration table, or undefined. */
export function nameOf(table: NameTable, value: number): string | undefined {
  let byValue = reverse.get(table);
  if (byValue === undefined) {
    byValue = new Map();
    for (const [name, v] of Object.entries(table.values)) if (!byValue.has(v)) byValue.set(v, name);
    reverse.set(table, byValue);
  }
  return byValue.get(value);
}

/** A value formatted with its table: `ADD`, `SEND_FLOW_REM|CHECK_OVERLAP`, or the number. */
export function formatNamed(table: NameTable, value: number): string {
  if (table.kind === 'enum') return nameOf(table, value) ?? String(value);
  if (value === 0) return '0';
  const parts: string[] = [];
  let rest = value >>> 0;
  for (const [name, bit] of Object.entries(table.values)) {
    if (bit !== 0 && (rest & bit) === bit) {
      parts.push(name);
      rest = (rest & ~bit) >>> 0;
    }
  }
  if (rest !== 0) parts.push('0x' + rest.toString(16));
  return parts.join('|');
}

/** The inverse of formatNamed; undefined when a name is unknown. Numbers are accepted as they are. */
export function parseNamed(table: NameTable, text: string): number | undefined {
  const one = (word: string): number | undefined => {
    if (/^(0x[0-9a-f]+|\d+)$/i.test(word)) return Number(word);
    return table.values[word] ?? table.values[word.toUpperCase()];
  };
  if (table.kind === 'enum') return one(text);
  let v = 0;
  for (const word of text.split('|')) {
    const bit = one(word.trim());
    if (bit === undefined) return undefined;
    v = (v | bit) >>> 0;
  }
  return v;
}
