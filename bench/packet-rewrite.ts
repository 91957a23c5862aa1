/**
 * Header rewrite speed, in rewrites per second on one core: set_field of IPv4 destination with the
 * IPv4 header and UDP checksums updated incrementally (RFC 1624), on a 64-byte UDP/IPv4 frame,
 * against the target of 3,000,000/s, with two same-run references: the same rewrite with
 * both checksums recomputed from scratch, and Buffer.writeUInt32BE of the address alone (the
 * floor: a rewrite that keeps no checksum right). Other rewrites are listed for scale.
 *
 * Run with `npm run bench` (once bench/run.ts calls runRewriteBench) or on its own:
 * `node dist/bench/packet-rewrite.js [--quick]`.
 */

import { pathToFileURL } from 'node:url';
import { OFPXMT } from '../proto/constants.js';
import { buildPacket, parseIpv4, parseIpv6 } from '../src/packet/build.js';
import { extract } from '../src/packet/extract.js';
import { newKey } from '../src/packet/key.js';
import { Packet, Offsets } from '../src/packet/packet.js';
import { ipv4HeaderChecksum, l4Checksum, completeChecksum } from '../src/packet/checksum.js';
import { setField, decNwTtl, setNwTtl, pushVlan, popVlan } from '../src/packet/rewrite.js';
import { measure, fmtRate } from './harness.js';

export interface RewriteRate {
  readonly name: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly target?: number;
}

/** A parsed packet ready for rewriting. */
function parsed(frame: Uint8Array): { pkt: Packet; off: Offsets } {
  const pkt = Packet.from(frame);
  const off = new Offsets();
  extract(pkt.buf, pkt.start, pkt.end, newKey(), off);
  return { pkt, off };
}

export const IPV4_DST_NAME = 'set_field IPV4_DST, 64-byte UDP/IPv4 (IPv4 + UDP checksums, incremental)';
export const REF_RECOMPUTE = 'reference: the same rewrite, both checksums recomputed from scratch';
export const REF_WRITE = 'reference: Buffer.writeUInt32BE of the address alone (no checksums)';

export function runRewriteBench(quick: boolean): RewriteRate[] {
  const opts = quick ? { rounds: 3, roundMs: 150 } : { rounds: 5, roundMs: 700 };
  const out: RewriteRate[] = [];

  // 14 Ethernet + 20 IPv4 + 8 UDP + 22 payload = 64 bytes.
  const udp64 = buildPacket({ ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { src: 1000, dst: 2000 }, payload: new Uint8Array(22).fill(0x61) });
  if (udp64.length !== 64) throw new Error(`frame is ${udp64.length} bytes`);
  const a4 = parseIpv4('192.168.10.1');
  const b4 = parseIpv4('172.16.99.254');
  const a4n = 0xc0a80a01;
  const b4n = 0xac1063fe;

  {
    const { pkt, off } = parsed(udp64);
    let flip = 0;
    out.push({ ...measure(IPV4_DST_NAME, () => setField(pkt, off, OFPXMT.IPV4_DST, (flip ^= 1) ? a4 : b4), opts), target: 3_000_000 });
  }
  {
    const { pkt, off } = parsed(udp64);
    const b = pkt.buf;
    let flip = 0;
    out.push(measure(REF_RECOMPUTE, () => {
      b.set((flip ^= 1) ? a4 : b4, off.l3 + 16);
      b.writeUInt16BE(ipv4HeaderChecksum(b, off.l3), off.l3 + 10);
      b.writeUInt16BE(l4Checksum(b, off, pkt.end), off.l4 + 6);
    }, opts));
  }
  {
    const { pkt, off } = parsed(udp64);
    const b = pkt.buf;
    let flip = 0;
    out.push(measure(REF_WRITE, () => b.writeUInt32BE((flip ^= 1) ? a4n : b4n, off.l3 + 16), opts));
  }

  // For scale.
  {
    const tcp6 = buildPacket({ ipv6: {}, tcp: {}, payload: new Uint8Array(6) });
    const { pkt, off } = parsed(tcp6);
    const x = parseIpv6('2001:db8::1:2');
    const y = parseIpv6('fd00::99');
    let flip = 0;
    out.push(measure('set_field IPV6_DST, TCP/IPv6 (TCP checksum, incremental)', () => setField(pkt, off, OFPXMT.IPV6_DST, (flip ^= 1) ? x : y), opts));
  }
  {
    const { pkt, off } = parsed(buildPacket({ ipv4: {}, tcp: {}, payload: new Uint8Array(10) }));
    const p1 = Uint8Array.of(0, 80);
    const p2 = Uint8Array.of(0x1f, 0x90);
    let flip = 0;
    out.push(measure('set_field TCP_DST, TCP/IPv4', () => setField(pkt, off, OFPXMT.TCP_DST, (flip ^= 1) ? p1 : p2), opts));
  }
  {
    const { pkt, off } = parsed(buildPacket({ ipv4: {}, sctp: {}, payload: new Uint8Array(6) }));
    const p1 = Uint8Array.of(0, 80);
    const p2 = Uint8Array.of(0x1f, 0x90);
    let flip = 0;
    out.push(measure('set_field SCTP_DST, 64-byte SCTP/IPv4 (CRC32c of the change)', () => setField(pkt, off, OFPXMT.SCTP_DST, (flip ^= 1) ? p1 : p2), opts));
  }
  {
    const { pkt, off } = parsed(udp64);
    out.push(measure('dec_nw_ttl + set_nw_ttl, UDP/IPv4', () => {
      decNwTtl(pkt, off);
      setNwTtl(pkt, off, 64);
    }, opts));
  }
  {
    const { pkt, off } = parsed(udp64);
    out.push(measure('push_vlan + pop_vlan, UDP/IPv4', () => {
      pushVlan(pkt, off, 0x8100);
      popVlan(pkt, off);
    }, opts));
  }
  {
    const { pkt, off } = parsed(udp64);
    const end = off.l3 + 20 + 30;
    out.push(measure('completeChecksum, 64-byte UDP/IPv4', () => completeChecksum(pkt.buf, off.l4, 6, end), opts));
  }
  return out;
}

export function printRewriteBench(rates: readonly RewriteRate[]): void {
  const main = rates.find((r) => r.name === IPV4_DST_NAME)!;
  console.log('\nHeader rewrites (per second, one core; median of rounds [min-max])');
  for (const r of rates) {
    const target = r.target !== undefined ? `  target ${fmtRate(r.target)} ${r.median >= r.target ? 'met' : 'NOT MET'}` : '';
    console.log(`  ${r.name}: ${fmtRate(r.median)} [${fmtRate(r.min)}-${fmtRate(r.max)}]${target}`);
  }
  for (const ref of [REF_RECOMPUTE, REF_WRITE]) {
    const r = rates.find((x) => x.name === ref)!;
    console.log(`  set_field IPV4_DST / ${ref.replace('reference: ', '')}: ${(main.median / r.median).toFixed(2)}x`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  printRewriteBench(runRewriteBench(process.argv.includes('--quick')));
}
