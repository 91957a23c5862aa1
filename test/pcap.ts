/**
 * The pcap writer the tests use to hand frames to tshark: a thin front for src/netdev/pcap.ts
 * (microsecond, little-endian, Ethernet; timestamps 1 s apart), kept so the older tests' imports
 * keep working.
 */
import { writeFileSync } from 'node:fs';
import { encodePcap } from '../src/netdev/pcap.js';

export { readPcap, parsePcap, encodePcap, PcapWriter } from '../src/netdev/pcap.js';

/** Writes `frames` to `path` as a pcap file that tshark/tcpdump read as Ethernet. */
export function writePcap(path: string, frames: Uint8Array[]): void {
  writeFileSync(path, encodePcap(frames));
}
