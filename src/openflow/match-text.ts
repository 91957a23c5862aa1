/**
 * The match syntax people type: `tcp,in_port=1,nw_src=10.0.0.0/8,tp_dst=80`, as ovs-ofctl reads
 * it and as `ofswitch ctl ofproto/trace BRIDGE FLOW` takes it. parseMatchText turns it into an
 * OXM list that passes checkPrerequisites; formatMatchText writes an OXM list back in the same
 * syntax, so that format then parse gives the list back.
 *
 * The text is `name=value[/mask]` items and protocol words, separated by commas or blanks:
 *   - field names: every OXM name of proto/oxm.ts (eth_dst, ipv4_src, tcp_dst, vlan_vid,
 *     ipv6_nd_target, ...) and the ovs-ofctl names for them (in_port, dl_src, dl_dst, dl_type,
 *     dl_vlan, dl_vlan_pcp, vlan_tci, nw_src, nw_dst, nw_proto, nw_tos, ip_dscp, nw_ecn, tp_src,
 *     tp_dst, ipv6_label, nd_target, nd_sll, nd_tll, icmp_type, icmp_code, tun_id, ...);
 *   - protocol words add eth_type (and ip_proto): ip, ipv6, arp, rarp, icmp, icmp6, tcp, tcp6,
 *     udp, udp6, sctp, sctp6, mpls, mplsm;
 *   - values: decimal or 0x hex numbers; Ethernet, IPv4 and IPv6 addresses; in_port also takes
 *     the reserved port names (LOCAL, CONTROLLER, ANY or NONE, IN_PORT, TABLE, NORMAL, FLOOD,
 *     ALL, MAX) and, when the caller passes a resolver, port names;
 *   - masks: a value of the field's form, or /LEN for IPv4 and IPv6 prefixes. Value bits outside
 *     the mask are cleared (10.1.2.3/8 is 10.0.0.0/8, as ovs-ofctl does), a full mask is an exact
 *     match and an all-zero mask drops the field.
 *
 * Like ovs-ofctl, the names that OpenFlow 1.0 left ambiguous are resolved by the rest of the
 * match, whatever their position: nw_src/nw_dst are arp_spa/arp_tpa for ARP (and RARP) and
 * ipv4_src/ipv4_dst otherwise; nw_proto is arp_op for ARP; tp_src/tp_dst are the TCP, UDP or SCTP
 * ports, or ICMP type and code, by ip_proto; icmp_type/icmp_code are ICMPv6's under ip_proto=58.
 *
 * VLANs: vlan_vid takes the OXM value, in which 0x1000 (OFPVID_PRESENT) says a tag is there:
 * vlan_vid=0x1005 is VID 5, vlan_vid=0 is "no tag", vlan_vid=0x1000/0x1000 is "any tag". A value
 * with VID bits but no 0x1000 bit (vlan_vid=5) is refused, with a hint: ovs-ofctl accepts it and
 * builds a match no packet can hit, which is never what was meant. dl_vlan takes a bare VID
 * (dl_vlan=5 is vlan_vid=0x1005; dl_vlan=0xffff is "no tag", as in OpenFlow 1.0), and vlan_tci
 * the 802.1Q TCI with 0x1000 read as "tag present" (vlan_tci=0 is "no tag"), as ovs-ofctl prints
 * it. A VLAN PCP without a vlan_vid adds vlan_vid=0x1000/0x1000, its prerequisite.
 *
 * nw_tos takes the ToS byte (DSCP << 2) and refuses ECN bits; ip_dscp takes the 6-bit DSCP.
 *
 * Fields come out in OXM field-number order, which puts every prerequisite before the fields
 * that need it (the order matchFromKey uses too). Errors are sentences naming what was typed:
 *   unknown field "foo"
 *   bad value for ipv4_dst: "1.2.3"
 *   bad mask for ipv4_dst: "33"
 *   ip_proto takes no mask
 *   "tcp_dst=80" conflicts with "tcp_dst=81"
 *   tcp_dst needs ip_proto=6: add "tcp" or "tcp6"
 *   tp_dst needs ip_proto 6, 17, 132, 1 or 58: add "tcp", "udp" or "sctp"
 */

import { OFPP, OFPXMT } from '../../proto/constants.js';
import { OXM_FIELDS, OXM_BY_NAME, KIND_SIZE, type OxmFieldDef, type Prereq } from '../../proto/oxm.js';
import { checkPrerequisites, isBasic, type Oxm, type OxmBasic, type OxmValue } from './oxm.js';
import { readIpv4, readIpv6, readMac, writeIpv4, writeIpv6, writeMac } from './runtime.js';

const X = OFPXMT;

export interface MatchTextOptions {
  /** Resolves a port name that is not a number or a reserved port (in_port=p1). */
  readonly portNumber?: (name: string) => number | undefined;
}

/** A protocol word and what it adds: [eth_type, ip_proto?]. */
const SHORTHANDS: ReadonlyArray<readonly [string, number, number?]> = [
  ['ip', 0x0800], ['ipv6', 0x86dd], ['arp', 0x0806], ['rarp', 0x8035], ['mpls', 0x8847], ['mplsm', 0x8848],
  ['icmp', 0x0800, 1], ['icmp6', 0x86dd, 58], ['tcp', 0x0800, 6], ['tcp6', 0x86dd, 6],
  ['udp', 0x0800, 17], ['udp6', 0x86dd, 17], ['sctp', 0x0800, 132], ['sctp6', 0x86dd, 132],
];
const SHORTHAND_BY_NAME = new Map(SHORTHANDS.map((s) => [s[0], s]));

/** Reserved port numbers by name (OFPP_* plus ovs-ofctl's NONE). */
const PORT_BY_NAME = new Map<string, number>([...Object.entries(OFPP), ['NONE', OFPP.ANY]]);
const PORT_NAME = new Map<number, string>(Object.entries(OFPP).map(([k, v]) => [v, k]));

/** ovs-ofctl names for OXM fields that mean the same thing, value for value. */
const SAME_AS: Readonly<Record<string, number>> = {
  dl_src: X.ETH_SRC, dl_dst: X.ETH_DST, dl_type: X.ETH_TYPE, dl_vlan_pcp: X.VLAN_PCP, ip_dscp: X.IP_DSCP,
  nw_ecn: X.IP_ECN, ipv6_label: X.IPV6_FLABEL, nd_target: X.IPV6_ND_TARGET, nd_sll: X.IPV6_ND_SLL,
  nd_tll: X.IPV6_ND_TLL, tun_id: X.TUNNEL_ID,
};

/** Names whose field depends on eth_type or ip_proto; resolved after everything else. */
const DEFERRED = new Set(['nw_src', 'nw_dst', 'nw_proto', 'tp_src', 'tp_dst', 'icmp_type', 'icmp_code']);

interface Entry {
  readonly value: OxmValue;
  readonly mask?: OxmValue;
  /** The item as typed, for conflict messages. */
  readonly token: string;
  /** The field name as typed, for prerequisite messages. */
  readonly name: string;
}

const fullBits = (d: OxmFieldDef): number => d.validBits ?? 2 ** (8 * KIND_SIZE[d.kind]) - 1;

function parseUint(s: string, max: number): number | undefined {
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) && n <= max ? n : undefined;
}

function parseU64(s: string): bigint | undefined {
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(s)) return undefined;
  const n = BigInt(s);
  return n <= 0xffffffffffffffffn ? n : undefined;
}

/** Address bytes of `kind`, or undefined when `s` is not one. */
function addrBytes(kind: 'mac' | 'ipv4' | 'ipv6', s: string): Uint8Array | undefined {
  const b = new Uint8Array(KIND_SIZE[kind]);
  try {
    if (kind === 'mac') writeMac(b, 0, s);
    else if (kind === 'ipv4') writeIpv4(b, 0, s);
    else writeIpv6(b, 0, s);
  } catch {
    return undefined;
  }
  return b;
}

const readAddr = (kind: 'mac' | 'ipv4' | 'ipv6', b: Uint8Array): string =>
  kind === 'mac' ? readMac(b, 0) : kind === 'ipv4' ? readIpv4(b, 0) : readIpv6(b, 0);

function prefixBytes(size: number, len: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 0; i < size; i++) b[i] = len >= 8 * (i + 1) ? 0xff : len <= 8 * i ? 0 : (0xff << (8 - (len - 8 * i))) & 0xff;
  return b;
}

/** The prefix length of a mask, or -1 when its ones are not contiguous from the top. */
function prefixLength(b: Uint8Array): number {
  let len = 0;
  while (len < 8 * b.length && (b[len >> 3]! & (0x80 >> (len & 7))) !== 0) len++;
  for (let i = len; i < 8 * b.length; i++) if ((b[i >> 3]! & (0x80 >> (i & 7))) !== 0) return -1;
  return len;
}

type Parsed = { value: OxmValue; mask?: OxmValue } | 'drop' | 'value' | 'mask';

/**
 * One field's value and optional mask, with value bits outside the mask cleared, a full mask
 * removed and an all-zero mask turned into 'drop'. 'value'/'mask' say which part is bad.
 */
function parseTyped(d: OxmFieldDef, valueText: string, maskText: string | undefined, opts: MatchTextOptions): Parsed {
  const kind = d.kind;
  if (kind === 'mac' || kind === 'ipv4' || kind === 'ipv6') {
    const v = addrBytes(kind, valueText);
    if (v === undefined) return 'value';
    if (maskText === undefined) return { value: readAddr(kind, v) };
    let m: Uint8Array | undefined;
    if (kind !== 'mac' && /^[0-9]+$/.test(maskText)) {
      const len = Number(maskText);
      if (len > 8 * v.length) return 'mask';
      m = prefixBytes(v.length, len);
    } else {
      m = addrBytes(kind, maskText);
    }
    if (m === undefined) return 'mask';
    for (let i = 0; i < v.length; i++) v[i]! &= m[i]!;
    if (m.every((x) => x === 0)) return 'drop';
    if (m.every((x) => x === 0xff)) return { value: readAddr(kind, v) };
    return { value: readAddr(kind, v), mask: readAddr(kind, m) };
  }
  if (kind === 'u64') {
    const v = parseU64(valueText);
    if (v === undefined) return 'value';
    if (maskText === undefined) return { value: v };
    const m = parseU64(maskText);
    if (m === undefined) return 'mask';
    if (m === 0n) return 'drop';
    return m === 0xffffffffffffffffn ? { value: v & m } : { value: v & m, mask: m };
  }
  const bits = fullBits(d);
  let v = parseUint(valueText, bits);
  if (v === undefined && (d.field === X.IN_PORT || d.field === X.IN_PHY_PORT)) {
    v = PORT_BY_NAME.get(valueText.toUpperCase()) ?? opts.portNumber?.(valueText);
  }
  if (v === undefined || (v & ~bits) !== 0) return 'value';
  if (maskText === undefined) return { value: v };
  const m = parseUint(maskText, bits);
  if (m === undefined) return 'mask';
  if (m === 0) return 'drop';
  return m === bits ? { value: (v & m) >>> 0 } : { value: (v & m) >>> 0, mask: m };
}

const sameValue = (a: OxmValue | undefined, b: OxmValue | undefined): boolean => a === b;

/** The OXM list for `text`, or a sentence saying what is wrong with it. */
export function parseMatchText(text: string, opts: MatchTextOptions = {}): Oxm[] | string {
  const fields = new Map<number, Entry>();
  const deferred: Array<{ name: string; token: string; value: string; mask: string | undefined }> = [];

  const put = (field: number, e: Entry): string | undefined => {
    const have = fields.get(field);
    if (have === undefined) {
      fields.set(field, e);
      return undefined;
    }
    if (sameValue(have.value, e.value) && sameValue(have.mask, e.mask)) return undefined;
    return `"${have.token}" conflicts with "${e.token}"`;
  };

  /** Parses and stores `name`'s value as OXM field `field`. */
  const setField = (field: number, name: string, token: string, valueText: string, maskText: string | undefined): string | undefined => {
    const d = OXM_FIELDS[field]!;
    if (maskText !== undefined && !d.maskable) return `${name} takes no mask`;
    const p = parseTyped(d, valueText, maskText, opts);
    if (p === 'value') return `bad value for ${name}: "${valueText}"`;
    if (p === 'mask') return `bad mask for ${name}: "${maskText}"`;
    if (p === 'drop') return undefined;
    if (field === X.VLAN_VID) {
      const m = (p.mask ?? 0x1fff) as number;
      const v = p.value as number;
      if ((v & m & 0x0fff) !== 0 && (v & 0x1000) === 0) {
        return `bad value for ${name}: "${valueText}" (a VID needs the 0x1000 present bit: write vlan_vid=0x${(0x1000 | v).toString(16)} or dl_vlan=${v & 0xfff})`;
      }
    }
    return put(field, { value: p.value, mask: p.mask, token, name });
  };

  const setNumber = (field: number, name: string, token: string, value: number, mask?: number): string | undefined =>
    put(field, { value, mask, token, name });

  for (const token of text.split(/[\s,]+/)) {
    if (token === '') continue;
    const eq = token.indexOf('=');
    const typed = eq < 0 ? token : token.slice(0, eq);
    const name = typed.toLowerCase();
    if (eq < 0) {
      const sh = SHORTHAND_BY_NAME.get(name);
      if (sh !== undefined) {
        const err = setNumber(X.ETH_TYPE, name, token, sh[1]) ?? (sh[2] !== undefined ? setNumber(X.IP_PROTO, name, token, sh[2]) : undefined);
        if (err !== undefined) return err;
        continue;
      }
      if (OXM_BY_NAME.has(name) || name in SAME_AS || DEFERRED.has(name) || name === 'dl_vlan' || name === 'vlan_tci') {
        return `${typed} needs a value (${typed}=...)`;
      }
      return `unknown field "${typed}"`;
    }
    const rest = token.slice(eq + 1);
    const slash = rest.indexOf('/');
    const valueText = slash < 0 ? rest : rest.slice(0, slash);
    const maskText = slash < 0 ? undefined : rest.slice(slash + 1);
    let err: string | undefined;
    if (DEFERRED.has(name)) {
      deferred.push({ name, token, value: valueText, mask: maskText });
      continue;
    } else if (name === 'dl_vlan') {
      if (maskText !== undefined) return `dl_vlan takes no mask`;
      const vid = parseUint(valueText, 0xffff);
      if (vid === undefined || (vid > 0xfff && vid !== 0xffff)) return `bad value for dl_vlan: "${valueText}"`;
      err = setNumber(X.VLAN_VID, name, token, vid === 0xffff ? 0 : 0x1000 | vid);
    } else if (name === 'vlan_tci') {
      err = setTci(token, valueText, maskText);
    } else if (name === 'nw_tos') {
      if (maskText !== undefined) return `nw_tos takes no mask`;
      const tos = parseUint(valueText, 0xff);
      if (tos === undefined || (tos & 3) !== 0) return `bad value for nw_tos: "${valueText}"`;
      err = setNumber(X.IP_DSCP, name, token, tos >> 2);
    } else {
      const field = SAME_AS[name] ?? OXM_BY_NAME.get(name)?.field;
      if (field === undefined) return `unknown field "${typed}"`;
      err = setField(field, name, token, valueText, maskText);
    }
    if (err !== undefined) return err;
  }

  function setTci(token: string, valueText: string, maskText: string | undefined): string | undefined {
    const v = parseUint(valueText, 0xffff);
    if (v === undefined) return `bad value for vlan_tci: "${valueText}"`;
    const m = maskText === undefined ? 0xffff : parseUint(maskText, 0xffff);
    if (m === undefined) return `bad mask for vlan_tci: "${maskText}"`;
    const pcpMask = m >> 13;
    if (pcpMask !== 0 && pcpMask !== 7) return `bad mask for vlan_tci: "${maskText}" (the PCP bits are all or nothing)`;
    const vidMask = m & 0x1fff;
    if (vidMask !== 0) {
      const vid = v & vidMask;
      const err = setNumber(X.VLAN_VID, 'vlan_tci', token, vid, vidMask === 0x1fff ? undefined : vidMask);
      if (err !== undefined) return err;
    }
    // A PCP means nothing when the TCI says "no tag" (vlan_tci=0 is ovs-ofctl's "untagged").
    const untagged = (m & 0x1000) !== 0 && (v & 0x1000) === 0;
    if (pcpMask === 7 && !untagged) return setNumber(X.VLAN_PCP, 'vlan_tci', token, (v >> 13) & 7);
    return undefined;
  }

  const exact = (field: number): number | undefined => {
    const e = fields.get(field);
    return e !== undefined && e.mask === undefined ? (e.value as number) : undefined;
  };

  // nw_* first: nw_proto may decide what tp_* mean.
  deferred.sort((a, b) => Number(b.name.startsWith('nw_')) - Number(a.name.startsWith('nw_')));
  for (const d of deferred) {
    const ethType = exact(X.ETH_TYPE);
    const proto = exact(X.IP_PROTO);
    const arp = ethType === 0x0806 || ethType === 0x8035;
    let field: number | undefined;
    switch (d.name) {
      case 'nw_src': field = arp ? X.ARP_SPA : X.IPV4_SRC; break;
      case 'nw_dst': field = arp ? X.ARP_TPA : X.IPV4_DST; break;
      case 'nw_proto': field = arp ? X.ARP_OP : X.IP_PROTO; break;
      case 'icmp_type': field = proto === 58 ? X.ICMPV6_TYPE : X.ICMPV4_TYPE; break;
      case 'icmp_code': field = proto === 58 ? X.ICMPV6_CODE : X.ICMPV4_CODE; break;
      default: {
        const src = d.name === 'tp_src';
        if (proto === 6) field = src ? X.TCP_SRC : X.TCP_DST;
        else if (proto === 17) field = src ? X.UDP_SRC : X.UDP_DST;
        else if (proto === 132) field = src ? X.SCTP_SRC : X.SCTP_DST;
        else if (proto === 1) field = src ? X.ICMPV4_TYPE : X.ICMPV4_CODE;
        else if (proto === 58) field = src ? X.ICMPV6_TYPE : X.ICMPV6_CODE;
        else return `${d.name} needs ip_proto 6, 17, 132, 1 or 58: add "tcp", "udp" or "sctp"`;
      }
    }
    // nw_proto on ARP is the opcode's low byte, as in OpenFlow 1.0.
    if (field === X.ARP_OP && d.mask === undefined) {
      const op = parseUint(d.value, 0xff);
      if (op === undefined) return `bad value for nw_proto: "${d.value}"`;
      const err = setNumber(field, d.name, d.token, op);
      if (err !== undefined) return err;
      continue;
    }
    const err = setField(field, d.name, d.token, d.value, d.mask);
    if (err !== undefined) return err;
  }

  const pcp = fields.get(X.VLAN_PCP);
  if (pcp !== undefined && !fields.has(X.VLAN_VID)) {
    fields.set(X.VLAN_VID, { value: 0x1000, mask: 0x1000, token: pcp.token, name: pcp.name });
  }

  const order = [...fields.keys()].sort((a, b) => a - b);
  const out: OxmBasic[] = order.map((f) => {
    const e = fields.get(f)!;
    return e.mask === undefined ? { field: f, value: e.value } : { field: f, value: e.value, mask: e.mask };
  });
  if (checkPrerequisites(out) !== undefined) return prereqError(order, fields);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Prerequisite messages
// ---------------------------------------------------------------------------------------------

function listWords(xs: readonly string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]!}`;
}

function prereqHolds(pre: Prereq, have: Entry | undefined): boolean {
  if (have === undefined) return false;
  if (pre.values !== undefined) return have.mask === undefined && pre.values.includes(have.value as number);
  if (pre.bits !== undefined) {
    const m = have.mask === undefined ? 0xffff : (have.mask as number);
    return ((have.value as number) & m & pre.bits) === pre.bits;
  }
  return true;
}

/** The protocol words that alone satisfy every eth_type/ip_proto prerequisite of `d`. */
function shorthandsFor(d: OxmFieldDef): string[] {
  const pres = d.prereqs;
  if (pres.length === 0 || pres.some((p) => p.field !== X.ETH_TYPE && p.field !== X.IP_PROTO)) return [];
  const fits = SHORTHANDS.filter(([, eth, proto]) => pres.every((p) => {
    const v = p.field === X.ETH_TYPE ? eth : proto;
    return v !== undefined && p.values!.includes(v);
  }));
  const fewest = Math.min(...fits.map((s) => s.length));
  return fits.filter((s) => s.length === fewest).map((s) => `"${s[0]}"`);
}

function formatPrereqValue(field: number, v: number): string {
  return field === X.ETH_TYPE ? `0x${v.toString(16)}` : String(v);
}

/** The sentence for the first field whose prerequisites fail (the fields are in match order). */
function prereqError(order: readonly number[], fields: ReadonlyMap<number, Entry>): string {
  for (const f of order) {
    const d = OXM_FIELDS[f]!;
    for (const pre of d.prereqs) {
      const have = fields.get(pre.field);
      if (prereqHolds(pre, have)) continue;
      const preName = OXM_FIELDS[pre.field]!.name;
      let need: string;
      if (pre.values !== undefined) {
        const vs = pre.values.map((v) => formatPrereqValue(pre.field, v));
        need = vs.length === 1 ? `${preName}=${vs[0]!}` : `${preName} ${listWords(vs)}`;
      } else if (pre.bits !== undefined) {
        need = `a VLAN tag (vlan_vid with the 0x1000 bit)`;
      } else {
        need = preName;
      }
      const not = have === undefined ? '' : ` (not ${formatField(pre.field, have.value, have.mask)})`;
      const words = shorthandsFor(d);
      const hint = words.length === 0 ? '' : `: add ${listWords(words)}`;
      return `${fields.get(f)!.name} needs ${need}${not}${hint}`;
    }
  }
  return 'the match does not meet the OpenFlow 1.3 prerequisites';
}

// ---------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------

/** Fields shown in hex (bit patterns rather than quantities). */
const HEX_FIELDS = new Set<number>([X.ETH_TYPE, X.VLAN_VID, X.IPV6_FLABEL, X.IPV6_EXTHDR, X.METADATA, X.TUNNEL_ID]);

function formatValue(d: OxmFieldDef, v: OxmValue, isMask: boolean): string {
  if (typeof v === 'bigint') return `0x${v.toString(16)}`;
  if (typeof v === 'string') {
    const kind = d.kind as 'mac' | 'ipv4' | 'ipv6';
    const b = addrBytes(kind, v);
    if (b === undefined) return v;
    if (isMask && kind !== 'mac') {
      const len = prefixLength(b);
      if (len >= 0) return String(len);
    }
    return readAddr(kind, b);
  }
  if (!isMask && (d.field === X.IN_PORT || d.field === X.IN_PHY_PORT)) return PORT_NAME.get(v) ?? String(v);
  return isMask || HEX_FIELDS.has(d.field) ? `0x${v.toString(16)}` : String(v);
}

function formatField(field: number, value: OxmValue, mask?: OxmValue): string {
  const d = OXM_FIELDS[field]!;
  return `${d.name}=${formatValue(d, value, false)}${mask === undefined ? '' : `/${formatValue(d, mask, true)}`}`;
}

/**
 * The text form of a match, which parseMatchText reads back to the same OXMs: a protocol word
 * first when eth_type (and ip_proto) make one (`tcp,tcp_dst=80`), then the fields in
 * field-number order under their OXM names. Fields of other OXM classes, which the text syntax
 * cannot name, come out as `class0xCLASS:FIELD=HEX[/HEX]` so that nothing is silently left out
 * (parseMatchText refuses them). An empty match is the empty string.
 */
export function formatMatchText(match: readonly Oxm[]): string {
  const basic = match.filter(isBasic).slice().sort((a, b) => a.field - b.field);
  const byField = new Map(basic.map((x) => [x.field, x]));
  const parts: string[] = [];
  const skip = new Set<number>();
  const eth = byField.get(X.ETH_TYPE);
  const proto = byField.get(X.IP_PROTO);
  if (eth !== undefined && eth.mask === undefined) {
    const withProto = proto !== undefined && proto.mask === undefined
      ? SHORTHANDS.find((s) => s[1] === eth.value && s[2] === proto.value) : undefined;
    const plain = SHORTHANDS.find((s) => s[1] === eth.value && s[2] === undefined);
    if (withProto !== undefined) {
      parts.push(withProto[0]);
      skip.add(X.ETH_TYPE).add(X.IP_PROTO);
    } else if (plain !== undefined) {
      parts.push(plain[0]);
      skip.add(X.ETH_TYPE);
    }
  }
  for (const x of basic) {
    if (skip.has(x.field)) continue;
    if (OXM_FIELDS[x.field] === undefined) parts.push(`class0x8000:${x.field}=${String(x.value)}`);
    else parts.push(formatField(x.field, x.value, x.mask));
  }
  for (const x of match) {
    if (isBasic(x)) continue;
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    parts.push(`class0x${x.oxmClass.toString(16)}:${x.field}=${hex(x.value)}${x.mask === undefined ? '' : `/${hex(x.mask)}`}`);
  }
  return parts.join(',');
}
