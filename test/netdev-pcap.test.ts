/**
 * src/netdev/pcap.ts: captures in both byte orders and both precisions read back to the frames
 * written, every malformed file gives its exact error string (naming the file and the record),
 * PcapWriter appends records that are there as soon as write() returns, continues an existing
 * capture in its own format, and writes files tshark reads.
 */

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter, encodePcap, parsePcap, readPcap } from '../src/netdev/pcap.js';
import { buildPacket } from '../src/packet/build.js';
import { writePcap } from './pcap.js';
import { findTool, requireTool } from './peers/peers.js';

const dir = mkdtempSync(join(tmpdir(), 'ofswitch-pcap-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;
const tmp = (name = 'f.pcap') => join(dir, `${fileNo++}-${name}`);

const frames = [
  buildPacket({ ipv4: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { src: 1234, dst: 80 } }),
  buildPacket({ vlans: [{ vid: 7 }], ipv6: {}, udp: { src: 53, dst: 5353 }, payload: Buffer.from('hello') }),
  buildPacket({ arp: { op: 2 } }),
];

/** A capture made by hand: `le` byte order, `nsec` magic, one record per frame. */
function handmade(le: boolean, nsec: boolean, fs: readonly Uint8Array[], linktype = 1): Buffer {
  const parts: Buffer[] = [];
  const g = Buffer.alloc(24);
  const u32 = (b: Buffer, v: number, o: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  const u16 = (b: Buffer, v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  u32(g, nsec ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  u16(g, 2, 4);
  u16(g, 4, 6);
  u32(g, 65535, 16);
  u32(g, linktype, 20);
  parts.push(g);
  fs.forEach((f, i) => {
    const r = Buffer.alloc(16);
    u32(r, 1000 + i, 0);
    u32(r, nsec ? 999_999_999 : 999_999, 4);
    u32(r, f.length, 8);
    u32(r, f.length + 4, 12); // as if 4 bytes (an FCS) were not captured
    parts.push(r, Buffer.from(f));
  });
  return Buffer.concat(parts);
}

const asBuffers = (r: { frames: Uint8Array[] } | string) => (typeof r === 'string' ? r : r.frames.map((f) => Buffer.from(f)));

for (const le of [true, false]) {
  for (const nsec of [false, true]) {
    test(`reads ${le ? 'little' : 'big'}-endian ${nsec ? 'nanosecond' : 'microsecond'} captures`, (t) => {
      const path = tmp();
      writeFileSync(path, handmade(le, nsec, frames));
      t.deepEqual(asBuffers(readPcap(path)), frames);
    });
  }
}

test('encodePcap and writePcap (the tests\' helper) round-trip through parsePcap', (t) => {
  t.deepEqual(asBuffers(parsePcap(encodePcap(frames))), frames);
  const path = tmp();
  writePcap(path, frames);
  t.deepEqual(asBuffers(readPcap(path)), frames);
  t.deepEqual(asBuffers(parsePcap(encodePcap([]))), []);
});

test('a capture with only a header has no frames', (t) => {
  t.deepEqual(parsePcap(handmade(true, false, [])), { frames: [] });
});

test('malformed captures give exact errors naming the data and the record', (t) => {
  const good = handmade(true, false, frames);
  t.is(parsePcap(good.subarray(0, 10), 'x.pcap'), 'x.pcap: not a pcap file (10 bytes, shorter than the 24-byte header)');
  t.is(parsePcap(Buffer.alloc(0)), 'pcap data: not a pcap file (0 bytes, shorter than the 24-byte header)');
  t.is(parsePcap(Buffer.from('GET / HTTP/1.1\r\nHost: example\r\n\r\n'), 'x.pcap'), 'x.pcap: not a pcap file (magic 0x47455420)');
  const ng = Buffer.alloc(28);
  ng.writeUInt32BE(0x0a0d0d0a, 0);
  t.is(parsePcap(ng, 'x.pcapng'), 'x.pcapng: is pcapng, not classic pcap (convert it with "editcap -F pcap")');
  t.is(parsePcap(handmade(true, false, frames, 105), 'w.pcap'), 'w.pcap: link type 105 is not Ethernet (1)');
  t.is(parsePcap(handmade(false, true, frames, 113), 'w.pcap'), 'w.pcap: link type 113 is not Ethernet (1)');
  const v1 = Buffer.from(good);
  v1.writeUInt16LE(1, 4);
  t.is(parsePcap(v1, 'v.pcap'), 'v.pcap: unsupported pcap version 1.4');
  // cut inside the third record's data, then inside its header
  const third = 24 + 16 + frames[0]!.length + 16 + frames[1]!.length;
  t.is(parsePcap(good.subarray(0, third + 16 + 5), 't.pcap'), `t.pcap: record 3 is truncated (5 of ${frames[2]!.length} bytes)`);
  t.is(parsePcap(good.subarray(0, third + 7), 't.pcap'), 't.pcap: record 3 is truncated (7 bytes of its 16-byte header)');
  const huge = Buffer.from(good);
  huge.writeUInt32LE(0x7fffffff, 24 + 8);
  t.is(parsePcap(huge, 'h.pcap'), 'h.pcap: record 1 claims 2147483647 bytes, more than the snapshot length 262144');
  t.is(readPcap(join(dir, 'missing.pcap')), `${join(dir, 'missing.pcap')}: cannot read: ENOENT: no such file or directory, open '${join(dir, 'missing.pcap')}'`);
});

test('garbage never throws: random bytes give frames or an error string', (t) => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let i = 0; i < 500; i++) {
    const b = Buffer.from(handmade(rnd() < 0.5, rnd() < 0.5, frames));
    const n = Math.floor(rnd() * 8);
    for (let k = 0; k < n; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    const cut = b.subarray(0, Math.floor(rnd() * (b.length + 1)));
    const r = parsePcap(cut, 'g.pcap');
    t.true(typeof r === 'string' ? r.startsWith('g.pcap: ') : Array.isArray(r.frames));
  }
});

test('PcapWriter: header on a new file, each record readable right after write()', (t) => {
  const path = tmp();
  const w = new PcapWriter(path);
  t.deepEqual(asBuffers(readPcap(path)), []);
  const head = readFileSync(path);
  t.is(head.length, 24);
  t.is(head.readUInt32LE(0), 0xa1b2c3d4);
  t.is(head.readUInt32LE(16), 262144);
  t.is(head.readUInt32LE(20), 1);
  for (let i = 0; i < frames.length; i++) {
    t.true(w.write(frames[i]!, 1_700_000_000_123 + i));
    t.deepEqual(asBuffers(readPcap(path)), frames.slice(0, i + 1));
  }
  const rec = readFileSync(path);
  t.is(rec.readUInt32LE(24), 1_700_000_000);
  t.is(rec.readUInt32LE(28), 123_000);
  w.close();
  w.close();
  t.false(w.write(frames[0]!));
  t.is(w.error, `${path}: closed`);
});

test('PcapWriter appends to an existing capture in its own byte order and precision', (t) => {
  const path = tmp();
  writeFileSync(path, handmade(false, true, frames.slice(0, 1)));
  const w = new PcapWriter(path);
  t.true(w.write(frames[1]!, 5_500));
  w.close();
  const again = new PcapWriter(path);
  t.true(again.write(frames[2]!));
  again.close();
  const bytes = readFileSync(path);
  t.is(bytes.readUInt32BE(0), 0xa1b23c4d);
  const second = 24 + 16 + frames[0]!.length;
  t.is(bytes.readUInt32BE(second), 5);
  t.is(bytes.readUInt32BE(second + 4), 500_000_000);
  t.deepEqual(asBuffers(readPcap(path)), frames);
});

test('PcapWriter refuses what it cannot append to, naming the file', (t) => {
  const text = tmp('notes.txt');
  writeFileSync(text, 'not a capture at all, just some words');
  t.is(PcapWriter.open(text), `${text}: cannot append: not a pcap file (magic 0x6e6f7420)`);
  const err = t.throws(() => new PcapWriter(text));
  t.is(err?.message, `${text}: cannot append: not a pcap file (magic 0x6e6f7420)`);
  const nodir = join(dir, 'no', 'such', 'dir.pcap');
  t.regex(PcapWriter.open(nodir) as string, new RegExp(`^${nodir.replace(/[.]/g, '\\.')}: cannot open for writing: ENOENT`));
  const raw = tmp('raw.pcap');
  writeFileSync(raw, handmade(true, false, [], 101));
  t.is(PcapWriter.open(raw), `${raw}: cannot append: link type 101 is not Ethernet (1)`);
});

test('tshark reads what PcapWriter wrote', (t) => {
  requireTool('tshark');
  const path = tmp();
  const w = new PcapWriter(path);
  for (const f of frames) w.write(f);
  w.close();
  const r = spawnSync(findTool('tshark')!, ['-n', '-r', path, '-T', 'fields', '-e', 'frame.len', '-e', 'eth.type', '-e', 'tcp.dstport', '-e', 'udp.dstport', '-e', 'arp.opcode', '-e', 'vlan.id'], {
    encoding: 'utf8',
    env: { ...process.env, HOME: dir, WIRESHARK_CONFIG_DIR: dir },
  });
  t.is(r.status, 0, r.stderr);
  const rows = r.stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
  t.deepEqual(rows, [
    [String(frames[0]!.length), '0x0800', '80', '', '', ''],
    [String(frames[1]!.length), '0x8100', '', '5353', '', '7'],
    [String(frames[2]!.length), '0x0806', '', '', '2', ''],
  ]);
});
