/**
 * The 40 OpenFlow 1.3 OXM basic-class match fields, as data.
 *
 * For each field: its number, the kind of value it carries (which decides its in-memory form:
 * number, bigint, or an address string), its size on the wire, whether it may carry a mask, the
 * bits that may be set in a value (a value outside them is BAD_MATCH/BAD_VALUE), and its
 * prerequisites. The codec, the prerequisite check, set-field validation and the formatter are all
 * driven by this table.
 */

import { OFPXMT } from './constants.js';

/** How a value is held in memory: numbers up to 32 bits, bigint for 64, strings for addresses. */
export type OxmKind = 'u8' | 'u16' | 'u24' | 'u32' | 'u64' | 'mac' | 'ipv4' | 'ipv6';

export const KIND_SIZE: Readonly<Record<OxmKind, number>> = {
  u8: 1, u16: 2, u24: 3, u32: 4, u64: 8, mac: 6, ipv4: 4, ipv6: 16,
};

/**
 * A prerequisite: the match must also hold `field`, and its value must be one of `values` (exact
 * match), or have all of `bits` set in both value and mask. Alternatives in one entry are ORed;
 * entries in a list are ANDed.
 */
export interface Prereq {
  readonly field: number;
  readonly values?: readonly number[];
  readonly bits?: number;
}

export interface OxmFieldDef {
  readonly field: number;
  /** Lower-case name used by the formatter and the JSON form: `eth_dst`. */
  readonly name: string;
  readonly kind: OxmKind;
  readonly maskable: boolean;
  /** Bits that may be set in a value of a numeric field (undefined: all bits of the size). */
  readonly validBits?: number;
  readonly prereqs: readonly Prereq[];
}

const IP = { field: OFPXMT.ETH_TYPE, values: [0x0800, 0x86dd] };
const IPV4 = { field: OFPXMT.ETH_TYPE, values: [0x0800] };
const IPV6 = { field: OFPXMT.ETH_TYPE, values: [0x86dd] };
const ARP = { field: OFPXMT.ETH_TYPE, values: [0x0806] };
const MPLS = { field: OFPXMT.ETH_TYPE, values: [0x8847, 0x8848] };
const PBB = { field: OFPXMT.ETH_TYPE, values: [0x88e7] };
const proto = (p: number): Prereq => ({ field: OFPXMT.IP_PROTO, values: [p] });
const icmpv6 = (...types: number[]): Prereq => ({ field: OFPXMT.ICMPV6_TYPE, values: types });

/**
 * Fields the OpenFlow 1.3 table lists as not maskable but Open vSwitch accepts with a mask (and
 * ovs-ofctl sends masked: `tcp_src=0x1000/0xf000`). A switch may support more masks than the
 * table requires; we accept what OVS accepts so that its clients and the controllers tested
 * against it work unchanged.
 */
const OVS_MASK = true;

type Row = [keyof typeof OFPXMT, OxmKind, boolean, Prereq[], number?];

const rows: Row[] = [
  ['IN_PORT', 'u32', false, []],
  ['IN_PHY_PORT', 'u32', false, [{ field: OFPXMT.IN_PORT }]],
  ['METADATA', 'u64', true, []],
  ['ETH_DST', 'mac', true, []],
  ['ETH_SRC', 'mac', true, []],
  ['ETH_TYPE', 'u16', false, []],
  ['VLAN_VID', 'u16', true, [], 0x1fff],
  ['VLAN_PCP', 'u8', false, [{ field: OFPXMT.VLAN_VID, bits: 0x1000 }], 0x07],
  ['IP_DSCP', 'u8', false, [IP], 0x3f],
  ['IP_ECN', 'u8', false, [IP], 0x03],
  ['IP_PROTO', 'u8', false, [IP]],
  ['IPV4_SRC', 'ipv4', true, [IPV4]],
  ['IPV4_DST', 'ipv4', true, [IPV4]],
  ['TCP_SRC', 'u16', OVS_MASK, [proto(6)]],
  ['TCP_DST', 'u16', OVS_MASK, [proto(6)]],
  ['UDP_SRC', 'u16', OVS_MASK, [proto(17)]],
  ['UDP_DST', 'u16', OVS_MASK, [proto(17)]],
  ['SCTP_SRC', 'u16', OVS_MASK, [proto(132)]],
  ['SCTP_DST', 'u16', OVS_MASK, [proto(132)]],
  ['ICMPV4_TYPE', 'u8', false, [IPV4, proto(1)]],
  ['ICMPV4_CODE', 'u8', false, [IPV4, proto(1)]],
  ['ARP_OP', 'u16', false, [ARP]],
  ['ARP_SPA', 'ipv4', true, [ARP]],
  ['ARP_TPA', 'ipv4', true, [ARP]],
  ['ARP_SHA', 'mac', true, [ARP]],
  ['ARP_THA', 'mac', true, [ARP]],
  ['IPV6_SRC', 'ipv6', true, [IPV6]],
  ['IPV6_DST', 'ipv6', true, [IPV6]],
  ['IPV6_FLABEL', 'u32', true, [IPV6], 0x000fffff],
  ['ICMPV6_TYPE', 'u8', false, [IPV6, proto(58)]],
  ['ICMPV6_CODE', 'u8', false, [IPV6, proto(58)]],
  ['IPV6_ND_TARGET', 'ipv6', OVS_MASK, [icmpv6(135, 136)]],
  ['IPV6_ND_SLL', 'mac', OVS_MASK, [icmpv6(135)]],
  ['IPV6_ND_TLL', 'mac', OVS_MASK, [icmpv6(136)]],
  ['MPLS_LABEL', 'u32', false, [MPLS], 0x000fffff],
  ['MPLS_TC', 'u8', false, [MPLS], 0x07],
  ['MPLS_BOS', 'u8', false, [MPLS], 0x01],
  ['PBB_ISID', 'u24', true, [PBB]],
  ['TUNNEL_ID', 'u64', true, []],
  ['IPV6_EXTHDR', 'u16', true, [IPV6], 0x01ff],
];

/** Indexed by field number (0..39). */
export const OXM_FIELDS: readonly OxmFieldDef[] = rows.map(([name, kind, maskable, prereqs, validBits]) => ({
  field: OFPXMT[name],
  name: name.toLowerCase(),
  kind,
  maskable,
  validBits,
  prereqs,
}));

export const OXM_BY_NAME: ReadonlyMap<string, OxmFieldDef> = new Map(OXM_FIELDS.map((d) => [d.name, d]));
