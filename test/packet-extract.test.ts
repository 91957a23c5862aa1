/**
 * Flow-key extraction (src/packet/extract.ts) against three independent readers of the same bytes:
 *
 * 1. Goldens: test/fixtures/packets/goldens.json, made by make-goldens.py with scapy. Every
 *    expected field is what scapy reads from the frame; the IPV6_EXTHDR bits come from the
 *    script's own implementation of the OpenFlow rules; the expected offsets are where scapy's
 *    headers start. Each golden (and each truncation of the well-formed ones) is extracted from
 *    inside a larger buffer, every expected field is compared, and every other packet word of the
 *    key must be zero.
 * 2. tshark reads all full goldens from one pcap, once; where it reports a field the key must
 *    agree.
 * 3. The builders (src/packet/build.ts) make frames whose layout the test knows; every offset
 *    must point at the header it names.
 * Also: formatKey, the metadata words and KF.CSUM_PARTIAL surviving extraction, and properties
 * of hashKey/hashMasked/equalMasked/maskWords (fast-check).
 */
import test from 'ava';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extract, extractPacket, formatKey } from '../src/packet/extract.js';
import {
  K, KF, FRAG, newKey, fullMask, hashKey, hashMasked, equalMasked, maskWords, type FlowKey,
} from '../src/packet/key.js';
import { Offsets, Packet } from '../src/packet/packet.js';
import { buildPacket, type PacketDesc } from '../src/packet/build.js';
import { writePcap } from './pcap.js';
import { requireTool } from './peers/peers.js';

// ---------------------------------------------------------------------------------------------
// Reading named fields out of a key
// ---------------------------------------------------------------------------------------------

type Kind = 'num' | 'mac' | 'ipv4' | 'ipv6' | 'bool';
interface Slot { word: number; kind: Kind; shift?: number; bits?: number }

const num = (word: number, shift = 0, bits = 32): Slot => ({ word, kind: 'num', shift, bits });
const flag = (bit: number): Slot => ({ word: K.FLAGS, kind: 'bool', shift: Math.log2(bit), bits: 1 });

/** Where each golden field name lives in the key (independent of formatKey's table). */
const SLOTS: Record<string, Slot> = {
  dl_dst: { word: K.ETH_DST, kind: 'mac' },
  dl_src: { word: K.ETH_SRC, kind: 'mac' },
  dl_type: num(K.ETH_TYPE),
  vlan_count: num(K.FLAGS, 16, 4),
  mpls_count: num(K.FLAGS, 20, 4),
  vlan0_tpid: num(K.VLAN0, 16, 16), vlan0_pcp: num(K.VLAN0, 13, 3), vlan0_vid: num(K.VLAN0, 0, 12),
  vlan1_tpid: num(K.VLAN1, 16, 16), vlan1_pcp: num(K.VLAN1, 13, 3), vlan1_vid: num(K.VLAN1, 0, 12),
  ...Object.fromEntries([0, 1, 2].flatMap((i) => [
    [`mpls${i}_label`, num(K.MPLS0 + i, 12, 20)], [`mpls${i}_tc`, num(K.MPLS0 + i, 9, 3)],
    [`mpls${i}_bos`, num(K.MPLS0 + i, 8, 1)], [`mpls${i}_ttl`, num(K.MPLS0 + i, 0, 8)],
  ])),
  pbb_isid: num(K.PBB, 0, 24), pbb_uca: num(K.PBB, 27, 1), pbb_dei: num(K.PBB, 28, 1), pbb_pcp: num(K.PBB, 29, 3),
  arp_op: num(K.ARP_OP),
  arp_spa: { word: K.ARP_SPA, kind: 'ipv4' },
  arp_tpa: { word: K.ARP_TPA, kind: 'ipv4' },
  arp_sha: { word: K.ARP_SHA, kind: 'mac' },
  arp_tha: { word: K.ARP_THA, kind: 'mac' },
  nw_src: { word: K.IPV4_SRC, kind: 'ipv4' },
  nw_dst: { word: K.IPV4_DST, kind: 'ipv4' },
  ipv6_src: { word: K.IPV6_SRC, kind: 'ipv6' },
  ipv6_dst: { word: K.IPV6_DST, kind: 'ipv6' },
  ipv6_label: num(K.IPV6_LABEL),
  nw_proto: num(K.NW, 0, 8), nw_ecn: num(K.NW, 8, 2), nw_dscp: num(K.NW, 10, 6), nw_ttl: num(K.NW, 16, 8), nw_frag: num(K.NW, 24, 8),
  ipv6_exthdr: num(K.IPV6_EXTHDR),
  tp_src: num(K.TP_SRC), tp_dst: num(K.TP_DST), tcp_flags: num(K.TCP_FLAGS),
  icmp_type: num(K.TP_SRC), icmp_code: num(K.TP_DST),
  nd_target: { word: K.ND_TARGET, kind: 'ipv6' },
  nd_sll: { word: K.ND_SLL, kind: 'mac' },
  nd_tll: { word: K.ND_TLL, kind: 'mac' },
  truncated: flag(KF.TRUNCATED),
  malformed: flag(KF.MALFORMED),
  deep_stack: flag(KF.DEEP_STACK),
};

const hex2 = (x: number) => x.toString(16).padStart(2, '0');
const hex8 = (x: number) => (x >>> 0).toString(16).padStart(8, '0');

function readSlot(key: FlowKey, s: Slot): string | number | boolean {
  const w = key[s.word]!;
  switch (s.kind) {
    case 'mac': {
      const lo = key[s.word + 1]!;
      return [w >>> 8, w & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff].map((b) => hex2(b & 0xff)).join(':');
    }
    case 'ipv4': return [w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff].join('.');
    case 'ipv6': return [0, 1, 2, 3].map((i) => hex8(key[s.word + i]!)).join('');
    default: {
      const bits = s.bits ?? 32;
      const v = bits === 32 ? w : (w >>> s.shift!) & (2 ** bits - 1);
      return s.kind === 'bool' ? v === 1 : v;
    }
  }
}

function clearSlot(key: FlowKey, s: Slot): void {
  const words = s.kind === 'mac' ? 2 : s.kind === 'ipv6' ? 4 : 1;
  if (s.kind !== 'num' && s.kind !== 'bool') {
    for (let i = 0; i < words; i++) key[s.word + i] = 0;
    return;
  }
  const bits = s.bits ?? 32;
  key[s.word] = bits === 32 ? 0 : key[s.word]! & ~(((2 ** bits - 1) << s.shift!) >>> 0);
}

// ---------------------------------------------------------------------------------------------
// Goldens
// ---------------------------------------------------------------------------------------------

type Expect = Record<string, string | number | boolean>;
interface Golden { name: string; hex: string; expect: Expect; offsets: Record<string, number> }
interface Truncation { of: string; length: number; expect: Expect; offsets: Record<string, number> }

const root = new URL('../../', import.meta.url);
const goldens = JSON.parse(readFileSync(new URL('test/fixtures/packets/goldens.json', root), 'utf8')) as {
  packets: Golden[];
  truncations: Truncation[];
};
const byName = new Map(goldens.packets.map((g) => [g.name, g]));

const OFFSET_NAMES = ['l2', 'vlan', 'vlanCount', 'ethType', 'pbb', 'mpls', 'mplsCount', 'l3', 'l4', 'l7', 'ndTarget', 'ndSll', 'ndTll', 'ipv6Frag'] as const;

/** The frame placed at `at` in a buffer with non-zero bytes around it (a read outside shows). */
function placed(frame: Uint8Array, at = 9, after = 23): Uint8Array {
  const buf = new Uint8Array(at + frame.length + after).fill(0xa5);
  buf.set(frame, at);
  return buf;
}

/** Compares key and offsets with a golden's expectations; returns the differences as text. */
function check(frame: Uint8Array, expect: Expect, offsets: Record<string, number>): string[] {
  const at = 9;
  const buf = placed(frame, at);
  const key = newKey();
  const off = new Offsets();
  extract(buf, at, at + frame.length, key, off);
  const problems: string[] = [];
  const rest = key.slice();
  for (const [name, want] of Object.entries(expect)) {
    const slot = SLOTS[name];
    if (slot === undefined) {
      problems.push(`unknown field ${name} in the golden`);
      continue;
    }
    const got = readSlot(key, slot);
    if (got !== want) problems.push(`${name}: got ${String(got)}, want ${String(want)}`);
    clearSlot(rest, slot);
    if (name.endsWith('_vid')) {
      // A tag in the key carries the OFPVID_PRESENT bit.
      const w = key[slot.word]!;
      if ((w & 0x1000) === 0) problems.push(`${name}: VLAN present bit not set`);
      rest[slot.word] = rest[slot.word]! & ~0x1000;
    }
  }
  for (let i = K.PACKET; i < K.WORDS; i++) {
    if (rest[i] !== 0) problems.push(`word ${i} is 0x${hex8(rest[i]!)} with no expected field there`);
  }
  for (const name of OFFSET_NAMES) {
    const isCount = name === 'vlanCount' || name === 'mplsCount';
    const want = offsets[name] === undefined ? (isCount ? 0 : -1) : isCount ? offsets[name] : offsets[name]! + at;
    if (off[name] !== want) problems.push(`offset ${name}: got ${off[name]}, want ${want}`);
  }
  return problems;
}

const fromHex = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'));

test('the goldens cover every protocol and case the issue names', (t) => {
  t.true(goldens.packets.length >= 80);
  t.true(goldens.truncations.length >= 500);
  const has = (pred: (e: Expect) => boolean) => goldens.packets.some((g) => pred(g.expect));
  const ext = (bit: number) => has((e) => typeof e.ipv6_exthdr === 'number' && (e.ipv6_exthdr & bit) !== 0);
  t.true(has((e) => e.vlan_count === 2));
  t.true(has((e) => e.vlan_count === 3 && e.deep_stack === true));
  t.true(has((e) => e.mpls_count === 3));
  t.true(has((e) => e.mpls_count === 4 && e.deep_stack === true));
  t.true(has((e) => e.pbb_isid !== undefined));
  t.true(has((e) => e.arp_op === 1) && has((e) => e.arp_op === 2) && has((e) => e.dl_type === 0x8035));
  t.true(has((e) => e.nw_frag === FRAG.FIRST && e.nw_src !== undefined) && has((e) => e.nw_frag === FRAG.LATER && e.nw_src !== undefined));
  t.true(has((e) => e.nw_frag === FRAG.FIRST && e.ipv6_src !== undefined) && has((e) => e.nw_frag === FRAG.LATER && e.ipv6_src !== undefined));
  for (const bit of [1, 2, 4, 8, 16, 32, 64, 128, 256]) t.true(ext(bit), `IPV6_EXTHDR bit ${bit}`);
  t.true(has((e) => e.nw_proto === 132 && e.nw_src !== undefined) && has((e) => e.nw_proto === 132 && e.ipv6_src !== undefined));
  t.true(has((e) => e.icmp_type === 8 && e.nw_src !== undefined) && has((e) => e.icmp_type === 128));
  t.true(has((e) => e.nd_sll !== undefined) && has((e) => e.nd_tll !== undefined));
  t.true(has((e) => e.dl_type === 0x05ff) && has((e) => e.dl_type === 0x0800 && byName.get('dot3-snap-ipv4') !== undefined));
  t.true(has((e) => e.malformed === true) && has((e) => e.truncated === true));
  t.true(has((e) => e.tcp_flags === 0xfff));
});

for (const g of goldens.packets) {
  test(`golden ${g.name}`, (t) => {
    t.deepEqual(check(fromHex(g.hex), g.expect, g.offsets), []);
  });
}

test('golden truncations: every field complete before the cut, TRUNCATED, nothing else', (t) => {
  const problems: string[] = [];
  for (const tr of goldens.truncations) {
    const frame = fromHex(byName.get(tr.of)!.hex).subarray(0, tr.length);
    for (const p of check(frame, tr.expect, tr.offsets)) problems.push(`${tr.of}[0..${tr.length}): ${p}`);
  }
  t.deepEqual(problems, []);
});

// ---------------------------------------------------------------------------------------------
// tshark
// ---------------------------------------------------------------------------------------------

const TSHARK_FIELDS = [
  'eth.dst', 'eth.src', 'eth.type', 'llc.type', 'vlan.id', 'vlan.priority', 'vlan.etype', 'ieee8021ad.id', 'ieee8021ad.priority',
  'mpls.label', 'mpls.exp', 'mpls.bottom', 'mpls.ttl', 'ieee8021ah.isid',
  'arp.opcode', 'arp.src.hw_mac', 'arp.src.proto_ipv4', 'arp.dst.hw_mac', 'arp.dst.proto_ipv4',
  'ip.src', 'ip.dst', 'ip.proto', 'ip.ttl', 'ip.dsfield', 'ip.frag_offset', 'ip.flags.mf',
  'ipv6.src', 'ipv6.dst', 'ipv6.nxt', 'ipv6.flow', 'ipv6.tclass', 'ipv6.hlim',
  'tcp.srcport', 'tcp.dstport', 'tcp.flags', 'udp.srcport', 'udp.dstport', 'sctp.srcport', 'sctp.dstport',
  'icmp.type', 'icmp.code', 'icmpv6.type', 'icmpv6.code',
  'icmpv6.nd.ns.target_address', 'icmpv6.nd.na.target_address', 'icmpv6.opt.src_linkaddr', 'icmpv6.opt.target_linkaddr',
] as const;
type TsharkField = (typeof TSHARK_FIELDS)[number];

function ipv6Bytes(s: string): string {
  // tshark prints RFC 5952 text; expand it to 32 hex digits.
  const [head, tail] = s.includes('::') ? s.split('::') as [string, string] : [s, undefined];
  const h = head === '' ? [] : head.split(':');
  const tl = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - tl.length).fill('0'), ...tl];
  return groups.map((x) => x.padStart(4, '0')).join('');
}

test('tshark reads the same fields from every well-formed golden (one tshark run)', (t) => {
  requireTool('tshark');
  const chosen = goldens.packets.filter((g) => g.expect.truncated === false && g.expect.malformed === false);
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-extract-'));
  try {
    const pcap = join(dir, 'goldens.pcap');
    writePcap(pcap, chosen.map((g) => fromHex(g.hex)));
    const args = ['-r', pcap, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=;'];
    for (const f of TSHARK_FIELDS) args.push('-e', f);
    const r = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
    t.is(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.length > 0);
    t.is(lines.length, chosen.length);
    const problems: string[] = [];
    let compared = 0;
    lines.forEach((line, i) => {
      const g = chosen[i]!;
      const cols = line.split('\t');
      const all = (f: TsharkField): string[] => {
        const v = cols[TSHARK_FIELDS.indexOf(f)] ?? '';
        return v === '' ? [] : v.split(';');
      };
      const first = (f: TsharkField) => all(f)[0];
      const key = newKey();
      const off = new Offsets();
      const frame = fromHex(g.hex);
      extract(frame, 0, frame.length, key, off);
      const read = (name: string) => readSlot(key, SLOTS[name]!);
      const same = (what: string, ours: unknown, theirs: unknown) => {
        compared++;
        if (String(ours) !== String(theirs)) problems.push(`${g.name}: ${what}: key ${String(ours)}, tshark ${String(theirs)}`);
      };
      const n = (s: string | undefined) => (s === undefined ? undefined : Number(s));

      same('eth.dst', read('dl_dst'), first('eth.dst'));
      same('eth.src', read('dl_src'), first('eth.src'));
      // eth_type: after the tags (and after LLC/SNAP); an S-tag alone shows no etype in tshark.
      const tpids = new Set([0x8100, 0x88a8, 0x9100]);
      const ethType = first('llc.type') ?? all('vlan.etype').at(-1) ?? first('eth.type');
      const dlType = read('dl_type') as number;
      if (ethType !== undefined && !tpids.has(Number(ethType))) same('eth_type', dlType, Number(ethType));
      // VLAN tags in frame order: tshark reports 802.1ad S-tags and 802.1Q tags in separate fields.
      const vids = [...all('ieee8021ad.id'), ...all('vlan.id')].map(Number);
      const pcps = [...all('ieee8021ad.priority'), ...all('vlan.priority')].map(Number);
      same('vlan count', read('vlan_count'), vids.length);
      for (let v = 0; v < Math.min(2, vids.length); v++) {
        same(`vlan${v} id`, read(`vlan${v}_vid`), vids[v]);
        same(`vlan${v} pcp`, read(`vlan${v}_pcp`), pcps[v]);
      }
      if (dlType === 0x8847 || dlType === 0x8848) {
        const labels = all('mpls.label');
        same('mpls count', read('mpls_count'), labels.length);
        for (let m = 0; m < Math.min(3, labels.length); m++) {
          same(`mpls${m} label`, read(`mpls${m}_label`), labels[m]);
          same(`mpls${m} tc`, read(`mpls${m}_tc`), all('mpls.exp')[m]);
          same(`mpls${m} bos`, read(`mpls${m}_bos`), all('mpls.bottom')[m]);
          same(`mpls${m} ttl`, read(`mpls${m}_ttl`), all('mpls.ttl')[m]);
        }
      }
      if (dlType === 0x88e7) same('I-SID', read('pbb_isid'), first('ieee8021ah.isid'));
      if ((dlType === 0x0806 || dlType === 0x8035) && first('arp.src.hw_mac') !== undefined) {
        same('arp op', read('arp_op'), first('arp.opcode'));
        same('arp sha', read('arp_sha'), first('arp.src.hw_mac'));
        same('arp spa', read('arp_spa'), first('arp.src.proto_ipv4'));
        same('arp tha', read('arp_tha'), first('arp.dst.hw_mac'));
        same('arp tpa', read('arp_tpa'), first('arp.dst.proto_ipv4'));
      }
      const proto = read('nw_proto') as number;
      const later = read('nw_frag') === FRAG.LATER;
      if (dlType === 0x0800) {
        same('ip.src', read('nw_src'), first('ip.src'));
        same('ip.dst', read('nw_dst'), first('ip.dst'));
        same('ip.proto', proto, n(first('ip.proto')));
        same('ip.ttl', read('nw_ttl'), n(first('ip.ttl')));
        same('ip.dsfield', ((read('nw_dscp') as number) << 2) | (read('nw_ecn') as number), n(first('ip.dsfield')));
        const fragOff = n(first('ip.frag_offset'))!;
        same('ip frag', read('nw_frag'), fragOff !== 0 ? FRAG.LATER : first('ip.flags.mf') === '1' ? FRAG.FIRST : FRAG.NONE);
        if (proto === 1 && !later) {
          same('icmp.type', read('icmp_type'), n(first('icmp.type')));
          same('icmp.code', read('icmp_code'), n(first('icmp.code')));
        }
      }
      if (dlType === 0x86dd) {
        same('ipv6.src', read('ipv6_src'), ipv6Bytes(first('ipv6.src')!));
        same('ipv6.dst', read('ipv6_dst'), ipv6Bytes(first('ipv6.dst')!));
        same('ipv6.flow', read('ipv6_label'), n(first('ipv6.flow')));
        same('ipv6.tclass', ((read('nw_dscp') as number) << 2) | (read('nw_ecn') as number), n(first('ipv6.tclass')));
        same('ipv6.hlim', read('nw_ttl'), n(first('ipv6.hlim')));
        if (read('ipv6_exthdr') === 0) same('ipv6.nxt', proto, n(first('ipv6.nxt')));
        if (proto === 58 && !later) {
          same('icmpv6.type', read('icmp_type'), n(first('icmpv6.type')));
          same('icmpv6.code', read('icmp_code'), n(first('icmpv6.code')));
          const type = read('icmp_type');
          if (read('icmp_code') === 0 && (type === 135 || type === 136)) {
            const target = first(type === 135 ? 'icmpv6.nd.ns.target_address' : 'icmpv6.nd.na.target_address');
            same('nd target', read('nd_target'), ipv6Bytes(target!));
            const ll = first(type === 135 ? 'icmpv6.opt.src_linkaddr' : 'icmpv6.opt.target_linkaddr') ?? '00:00:00:00:00:00';
            same(type === 135 ? 'nd sll' : 'nd tll', read(type === 135 ? 'nd_sll' : 'nd_tll'), ll);
          }
        }
      }
      if ((dlType === 0x0800 || dlType === 0x86dd) && !later) {
        // tshark does not dissect L4 inside a fragment (no reassembly): compare when it does.
        const pairs: Array<[number, TsharkField, TsharkField]> = [[6, 'tcp.srcport', 'tcp.dstport'], [17, 'udp.srcport', 'udp.dstport'], [132, 'sctp.srcport', 'sctp.dstport']];
        for (const [p, src, dst] of pairs) {
          if (proto !== p || first(src) === undefined) continue;
          same(src, read('tp_src'), n(first(src)));
          same(dst, read('tp_dst'), n(first(dst)));
          if (p === 6) same('tcp.flags', read('tcp_flags'), n(first('tcp.flags')));
        }
      }
    });
    t.deepEqual(problems, []);
    t.true(compared > 800, `only ${compared} comparisons`);
    t.log(`${chosen.length} goldens, ${compared} field comparisons with tshark`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// Offsets against the builders' layout
// ---------------------------------------------------------------------------------------------

function at(frame: Uint8Array, off: number, n: number): string {
  return Buffer.from(frame.subarray(off, off + n)).toString('hex');
}

test('every offset points at the header it names (builder frames)', (t) => {
  const cases: Array<{ desc: PacketDesc; check: (f: Uint8Array, o: Offsets) => void }> = [
    {
      desc: { vlans: [{ tpid: 0x88a8, vid: 5 }, { vid: 6 }], ipv4: { options: Uint8Array.of(0x94, 4, 0, 0) }, tcp: { src: 0x1234, dst: 0x5678, options: Uint8Array.of(2, 4, 5, 0xb4) }, payload: Uint8Array.of(0xde, 0xad) },
      check: (f, o) => {
        t.is(at(f, o.vlan, 2), '88a8');
        t.is(o.vlanCount, 2);
        t.is(at(f, o.vlan + 4, 2), '8100');
        t.is(at(f, o.ethType, 2), '0800');
        t.is(f[o.l3]! >> 4, 4);
        t.is(o.l4 - o.l3, (f[o.l3]! & 15) * 4);
        t.is(at(f, o.l4, 4), '12345678');
        t.is(at(f, o.l7, 2), 'dead');
      },
    },
    {
      desc: { mpls: [{ label: 100 }, { label: 200 }], ipv4: {}, udp: {} },
      check: (f, o) => {
        t.is(at(f, o.ethType, 2), '8847');
        t.is(o.mplsCount, 2);
        t.is((f[o.mpls]! << 12) | (f[o.mpls + 1]! << 4) | (f[o.mpls + 2]! >> 4), 100);
        t.is(f[o.mpls + 4 + 2]! & 1, 1); // bottom of stack on the second
        t.is(o.l3, -1);
      },
    },
    {
      desc: { vlans: [{ tpid: 0x88a8, vid: 9 }], pbb: { isid: 0xabcdef, inner: { ipv4: {}, udp: {} } } },
      check: (f, o) => {
        t.is(at(f, o.ethType, 2), '88e7');
        t.is(at(f, o.pbb + 1, 3), 'abcdef');
        t.is(o.l3, -1);
      },
    },
    {
      desc: { ipv6: { ext: [{ type: 'hop' }, { type: 'dest' }, { type: 'routing' }, { type: 'frag', more: true }, { type: 'ah' }] }, udp: { src: 7, dst: 8 }, payload: Uint8Array.of(1, 2, 3) },
      check: (f, o) => {
        t.is(at(f, o.ethType, 2), '86dd');
        t.is(f[o.l3]! >> 4, 6);
        t.is(f[o.l3 + 6], 0); // hop-by-hop first
        t.is(f[o.ipv6Frag - 8 + 0], 44); // the routing header before it names the fragment header
        t.is(at(f, o.l4, 4), '00070008');
        t.is(o.l7, o.l4 + 8);
        t.is(at(f, o.l7, 3), '010203');
      },
    },
    {
      desc: { ipv6: { src: 'fe80::1', dst: 'ff02::1:ff00:2' }, nd: { type: 135, target: 'fe80::2', sll: '00:11:22:33:44:55' } },
      check: (f, o) => {
        t.is(f[o.l4], 135);
        t.is(at(f, o.ndTarget, 16), 'fe800000000000000000000000000002');
        t.is(at(f, o.ndSll - 2, 8), '0101001122334455');
        t.is(o.ndTll, -1);
        t.is(o.l7, o.l4 + 24);
      },
    },
    {
      desc: { ipv6: { src: 'fe80::2', dst: 'fe80::1' }, nd: { type: 136, target: 'fe80::2', tll: '66:77:88:99:aa:bb' } },
      check: (f, o) => {
        t.is(f[o.l4], 136);
        t.is(at(f, o.ndTll - 2, 8), '020166778899aabb');
        t.is(o.ndSll, -1);
      },
    },
    {
      desc: { arp: { op: 2 }, minLength: 60 },
      check: (f, o) => {
        t.is(at(f, o.ethType, 2), '0806');
        t.is(at(f, o.l3, 8), '0001080006040002');
        t.is(o.l4, -1);
      },
    },
    {
      desc: { ipv4: {}, sctp: { src: 2905, dst: 2906 } },
      check: (f, o) => {
        t.is(at(f, o.l4, 4), '0b590b5a');
        t.is(o.l7, o.l4 + 12);
      },
    },
    {
      desc: { ipv4: {}, icmp: { type: 8 }, payload: Uint8Array.of(9) },
      check: (f, o) => {
        t.is(f[o.l4], 8);
        t.is(f[o.l7], 9);
      },
    },
  ];
  for (const c of cases) {
    const frame = buildPacket(c.desc);
    // On a Packet with headroom: offsets are absolute, so check them against the whole buffer.
    const pkt = Packet.from(frame, 40);
    const key = newKey();
    const off = new Offsets();
    extractPacket(pkt, key, off);
    t.is(off.l2, pkt.start);
    t.is(key[K.FLAGS]! & (KF.TRUNCATED | KF.MALFORMED), 0, JSON.stringify(c.desc));
    c.check(pkt.buf, off);
  }
});

// ---------------------------------------------------------------------------------------------
// Metadata and flags the caller owns
// ---------------------------------------------------------------------------------------------

test('extraction leaves the metadata words and KF.CSUM_PARTIAL alone and clears everything else', (t) => {
  const key = newKey();
  for (let i = 0; i < K.WORDS; i++) key[i] = 0xdead0000 + i;
  key[K.FLAGS] = KF.CSUM_PARTIAL | KF.MALFORMED | KF.TRUNCATED;
  const off = new Offsets();
  const frame = buildPacket({ ipv4: {}, udp: {} });
  extract(frame, 0, frame.length, key, off);
  for (let i = 0; i < K.PACKET; i++) t.is(key[i], 0xdead0000 + i);
  t.is(key[K.FLAGS], KF.CSUM_PARTIAL);
  t.is(key[K.ND_TARGET], 0);
  key[K.FLAGS] = 0;
  extract(frame, 0, frame.length, key, off);
  t.is(key[K.FLAGS], 0);
});

test('a reused key and Offsets carry nothing over from the previous packet', (t) => {
  const key = newKey();
  const off = new Offsets();
  const nd = buildPacket({ vlans: [{ vid: 3 }], ipv6: {}, nd: { type: 135, target: '2001:db8::7', sll: '00:00:00:00:00:09' } });
  const arp = buildPacket({ arp: {}, minLength: 60 });
  extract(nd, 0, nd.length, key, off);
  extract(arp, 0, arp.length, key, off);
  const fresh = newKey();
  const freshOff = new Offsets();
  extract(arp, 0, arp.length, fresh, freshOff);
  t.deepEqual(Array.from(key), Array.from(fresh));
  t.deepEqual({ ...off }, { ...freshOff });
});

// ---------------------------------------------------------------------------------------------
// formatKey
// ---------------------------------------------------------------------------------------------

function keyOf(desc: PacketDesc, inPort = 0): FlowKey {
  const frame = buildPacket(desc);
  const key = newKey();
  key[K.IN_PORT] = inPort;
  extract(frame, 0, frame.length, key, new Offsets());
  return key;
}

test('formatKey writes ovs-ofctl syntax and leaves out what does not apply', (t) => {
  t.is(
    formatKey(keyOf({ ipv4: { src: '10.0.0.1', dst: '10.0.0.2', dscp: 46, ecn: 1, ttl: 9 }, udp: { src: 1234, dst: 53 } }, 1)),
    'in_port=1,dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x0800,nw_src=10.0.0.1,nw_dst=10.0.0.2,' +
      'nw_proto=17,nw_tos=184,nw_ecn=1,nw_ttl=9,nw_frag=no,tp_src=1234,tp_dst=53',
  );
  t.is(
    formatKey(keyOf({ arp: { op: 2, spa: '10.0.0.2', tpa: '10.0.0.1', sha: '00:00:00:00:00:0a', tha: '00:00:00:00:00:0b' } })),
    'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x0806,arp_op=2,arp_spa=10.0.0.2,arp_tpa=10.0.0.1,' +
      'arp_sha=00:00:00:00:00:0a,arp_tha=00:00:00:00:00:0b',
  );
  t.is(
    formatKey(keyOf({ vlans: [{ tpid: 0x88a8, vid: 10, pcp: 3 }, { vid: 20 }], ipv6: { src: '2001:db8::1', dst: '2001:db8:0:0:1::2', flabel: 0x12345, ext: [{ type: 'frag', offset: 8 }] }, udp: {} })),
    'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x86dd,vlan_tci=0x700a,vlan_tci1=0x1014,' +
      'ipv6_src=2001:db8::1,ipv6_dst=2001:db8::1:0:0:2,ipv6_label=0x12345,nw_proto=17,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=later,ipv6_exthdr=0x010',
  );
  t.is(
    formatKey(keyOf({ ipv6: { src: 'fe80::1', dst: 'ff02::1' }, nd: { type: 135, target: 'fe80::2', sll: '00:00:00:00:00:07' } })),
    'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x86dd,ipv6_src=fe80::1,ipv6_dst=ff02::1,ipv6_label=0x00000,' +
      'nw_proto=58,nw_tos=0,nw_ecn=0,nw_ttl=64,nw_frag=no,ipv6_exthdr=0x000,icmpv6_type=135,icmpv6_code=0,nd_target=fe80::2,nd_sll=00:00:00:00:00:07',
  );
  t.is(
    formatKey(keyOf({ ipv4: {}, tcp: { src: 80, dst: 81, flags: 0x12 } })).split(',').slice(-3).join(','),
    'tp_src=80,tp_dst=81,tcp_flags=0x012',
  );
  t.is(
    formatKey(keyOf({ ipv4: {}, icmp: { type: 3, code: 1 } })).split(',').slice(-2).join(','),
    'icmp_type=3,icmp_code=1',
  );
  t.is(
    formatKey(keyOf({ mpls: [{ label: 16, tc: 2, ttl: 5 }, { label: 17 }], ipv4: {}, udp: {} })),
    'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x8847,mpls_label=16,mpls_tc=2,mpls_bos=0,mpls_ttl=5,mpls_lse1=0x11140',
  );
  t.is(
    formatKey(keyOf({ pbb: { isid: 77, uca: 1, inner: { ipv4: {}, udp: {} } } })),
    'dl_src=00:00:00:00:00:01,dl_dst=00:00:00:00:00:02,dl_type=0x88e7,pbb_isid=77,pbb_uca=1',
  );
});

test('formatKey prints metadata only when set, and masked fields as value/mask', (t) => {
  const key = keyOf({ ipv4: { src: '10.1.2.3', dst: '192.168.0.9' }, tcp: { src: 1000, dst: 2000 } }, 3);
  key[K.METADATA] = 0x1;
  key[K.METADATA + 1] = 0x2;
  key[K.TUN_ID + 1] = 0x64;
  key[K.TUN_IPV4_DST] = 0x0a000063;
  key[K.RECIRC_ID] = 5;
  t.true(formatKey(key).startsWith('recirc_id=0x5,tun_id=0x64,tun_dst=10.0.0.99,in_port=3,metadata=0x100000002,dl_src='));
  const mask = new Uint32Array(K.WORDS);
  mask[K.IN_PORT] = 0xffffffff;
  mask[K.ETH_TYPE] = 0xffffffff;
  mask[K.IPV4_SRC] = 0xffffff00;
  mask[K.IPV4_DST] = 0xff00ff00;
  mask[K.NW] = 0xff; // nw_proto only
  mask[K.TP_DST] = 0xfff0;
  mask[K.ETH_DST] = 0x0100; // the multicast bit
  t.is(
    formatKey(key, mask),
    'in_port=3,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,dl_type=0x0800,nw_src=10.1.2.0/24,nw_dst=192.0.0.0/255.0.255.0,nw_proto=6,tp_dst=2000/65520',
  );
  t.is(formatKey(newKey(), new Uint32Array(K.WORDS)), '');
  t.true(formatKey(key, fullMask()).includes('nw_frag=no'));
});

// ---------------------------------------------------------------------------------------------
// Hashing and masked comparison (key.ts), properties
// ---------------------------------------------------------------------------------------------

const arbWords = fc.uint32Array({ minLength: K.WORDS, maxLength: K.WORDS });
/** Masks that look like real ones: mostly zero or all-ones words, some partial. */
const arbMask = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0xffffffff), fc.integer({ min: 0, max: 0xffffffff })), {
  minLength: K.WORDS, maxLength: K.WORDS,
}).map((ws) => Uint32Array.from(ws));

test('keys equal under a mask hash equal under it; masked-in bits count, masked-out bits do not', (t) => {
  fc.assert(
    fc.property(arbWords, arbWords, arbMask, fc.nat(), fc.nat(31), (a, noise, mask, pick, bit) => {
      const words = maskWords(mask);
      // b agrees with a wherever the mask is set, and is random elsewhere.
      const b = new Uint32Array(K.WORDS);
      for (let i = 0; i < K.WORDS; i++) b[i] = (a[i]! & mask[i]!) | (noise[i]! & ~mask[i]!);
      if (!equalMasked(a, b, mask) || !equalMasked(a, b, mask, words)) return false;
      if (hashMasked(a, mask, words) !== hashMasked(b, mask, words)) return false;
      if (hashMasked(a, mask, words, 7) !== hashMasked(b, mask, words, 7)) return false;
      // maskWords lists exactly the non-zero words.
      for (let i = 0; i < K.WORDS; i++) if ((mask[i] !== 0) !== words.includes(i)) return false;
      // Flip one bit: masked in → unequal; masked out → still equal, same hash.
      const i = pick % K.WORDS;
      const c = b.slice();
      c[i] = c[i]! ^ (1 << bit);
      const inMask = (mask[i]! & (1 << bit)) !== 0;
      if (equalMasked(a, c, mask) === inMask) return false;
      if (equalMasked(a, c, mask, words) === inMask) return false;
      if (!inMask && hashMasked(a, mask, words) !== hashMasked(c, mask, words)) return false;
      return true;
    }),
    { numRuns: 3000 },
  );
  t.pass();
});

test('hashKey is a function of every word; fullMask hashing agrees with equality', (t) => {
  fc.assert(
    fc.property(arbWords, fc.nat(K.WORDS - 1), fc.nat(31), (a, i, bit) => {
      const b = a.slice();
      if (hashKey(a) !== hashKey(b)) return false;
      b[i] = b[i]! ^ (1 << bit);
      const mask = fullMask();
      const words = maskWords(mask);
      return !equalMasked(a, b, mask, words) && words.length === K.WORDS;
    }),
    { numRuns: 2000 },
  );
  // Collisions across single-bit flips should be rare for a 32-bit hash: none over all bits of a key.
  const base = keyOf({ ipv4: {}, udp: {} });
  const seen = new Set<number>([hashKey(base)]);
  for (let i = 0; i < K.WORDS; i++) {
    for (let bit = 0; bit < 32; bit++) {
      const k = base.slice();
      k[i] = k[i]! ^ (1 << bit);
      seen.add(hashKey(k));
    }
  }
  t.is(seen.size, K.WORDS * 32 + 1);
});
