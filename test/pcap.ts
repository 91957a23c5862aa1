/**
 * A minimal pcap (libpcap 2.4, microsecond) writer for handing frames to tshark in tests.
 * Frames are written as Ethernet (linktype 1), one per record, with timestamps 1 s apart.
 */
import { writeFileSync } from 'node:fs';

const LINKTYPE_ETHERNET = 1;

/** Writes `frames` to `path` as a pcap file that tshark/tcpdump read as Ethernet. */
export function writePcap(path: string, frames: Uint8Array[]): void {
  let size = 24;
  for (const f of frames) size += 16 + f.length;
  const out = Buffer.alloc(size);
  out.writeUInt32LE(0xa1b2c3d4, 0); // magic: microsecond timestamps, little-endian fields
  out.writeUInt16LE(2, 4); // version 2.4
  out.writeUInt16LE(4, 6);
  out.writeInt32LE(0, 8); // thiszone
  out.writeUInt32LE(0, 12); // sigfigs
  out.writeUInt32LE(262144, 16); // snaplen
  out.writeUInt32LE(LINKTYPE_ETHERNET, 20);
  let at = 24;
  frames.forEach((f, i) => {
    out.writeUInt32LE(i + 1, at); // ts_sec
    out.writeUInt32LE(0, at + 4); // ts_usec
    out.writeUInt32LE(f.length, at + 8); // captured length
    out.writeUInt32LE(f.length, at + 12); // original length
    out.set(f, at + 16);
    at += 16 + f.length;
  });
  writeFileSync(path, out);
}
