/**
 * Classic libpcap files: reading a capture into frames, and appending frames to a capture.
 *
 * The dummy netdev uses these for its rx_pcap (frames to inject) and tx_pcap (everything the port
 * sent) options, and the tests use them to hand frames to tshark. Only the classic format (not
 * pcapng) with Ethernet link type is handled; that is what tcpdump -w and tshark -F pcap write and
 * what every tool reads.
 *
 * Reading accepts both byte orders and both timestamp precisions (microsecond magic 0xa1b2c3d4,
 * nanosecond magic 0xa1b23c4d); the timestamps themselves are not kept. Every problem comes back
 * as a sentence naming the file (and the record, counted from 1 like tshark's frame numbers),
 * never as an exception: a capture is input from outside.
 *
 * Writing is synchronous (fs.writeSync, one call per record, so a record is never half there
 * when the call returns): a test may read the file right after a send. A writer opened on an
 * existing capture appends in that capture's byte order and precision, so the file stays one
 * valid capture.
 */

import { closeSync, fstatSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';

export const LINKTYPE_ETHERNET = 1;
/** tcpdump's default snapshot length; larger than any frame a port carries. */
export const PCAP_SNAPLEN = 262144;

const MAGIC_USEC = 0xa1b2c3d4;
const MAGIC_NSEC = 0xa1b23c4d;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

/** What a global header says about the records that follow. */
interface PcapFormat {
  readonly littleEndian: boolean;
  readonly nanoseconds: boolean;
  readonly snaplen: number;
  readonly linktype: number;
}

/** The global header's facts, or the problem with it (without the file's name). */
function parseHeader(b: Uint8Array): PcapFormat | string {
  if (b.length < GLOBAL_HEADER) return `not a pcap file (${b.length} bytes, shorter than the 24-byte header)`;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const le = v.getUint32(0, true);
  const be = v.getUint32(0, false);
  let littleEndian: boolean;
  let nanoseconds: boolean;
  if (le === MAGIC_USEC || le === MAGIC_NSEC) [littleEndian, nanoseconds] = [true, le === MAGIC_NSEC];
  else if (be === MAGIC_USEC || be === MAGIC_NSEC) [littleEndian, nanoseconds] = [false, be === MAGIC_NSEC];
  else if (be === 0x0a0d0d0a) return 'is pcapng, not classic pcap (convert it with "editcap -F pcap")';
  else return `not a pcap file (magic 0x${be.toString(16).padStart(8, '0')})`;
  const major = v.getUint16(4, littleEndian);
  if (major !== 2) return `unsupported pcap version ${major}.${v.getUint16(6, littleEndian)}`;
  const snaplen = v.getUint32(16, littleEndian);
  // The FCS/flags bits live in the high bits of the link-type word (pcap-savefile(5)).
  const linktype = v.getUint32(20, littleEndian) & 0x0fffffff;
  if (linktype !== LINKTYPE_ETHERNET) return `link type ${linktype} is not Ethernet (1)`;
  return { littleEndian, nanoseconds, snaplen, linktype };
}

/**
 * The frames of a capture held in memory. `name` is what error messages call the data (the
 * file's path when readPcap calls this). Frames are views into `bytes`.
 */
export function parsePcap(bytes: Uint8Array, name = 'pcap data'): { frames: Uint8Array[] } | string {
  const fmt = parseHeader(bytes);
  if (typeof fmt === 'string') return `${name}: ${fmt}`;
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // libpcap refuses records longer than the larger of the file's snaplen and its own maximum;
  // anything beyond that is a corrupt length field, not a frame.
  const maxCaplen = Math.max(fmt.snaplen, PCAP_SNAPLEN);
  const frames: Uint8Array[] = [];
  let at = GLOBAL_HEADER;
  for (let n = 1; at < bytes.length; n++) {
    if (bytes.length - at < RECORD_HEADER) {
      return `${name}: record ${n} is truncated (${bytes.length - at} bytes of its 16-byte header)`;
    }
    const caplen = v.getUint32(at + 8, fmt.littleEndian);
    if (caplen > maxCaplen) return `${name}: record ${n} claims ${caplen} bytes, more than the snapshot length ${maxCaplen}`;
    const data = at + RECORD_HEADER;
    if (bytes.length - data < caplen) {
      return `${name}: record ${n} is truncated (${bytes.length - data} of ${caplen} bytes)`;
    }
    frames.push(bytes.subarray(data, data + caplen));
    at = data + caplen;
  }
  return { frames };
}

/** The frames of the capture file at `path`, or the problem (naming the file). */
export function readPcap(path: string): { frames: Uint8Array[] } | string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    return `${path}: cannot read: ${(e as Error).message}`;
  }
  return parsePcap(bytes, path);
}

function globalHeader(fmt: PcapFormat): Buffer {
  const b = Buffer.alloc(GLOBAL_HEADER);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  v.setUint32(0, fmt.nanoseconds ? MAGIC_NSEC : MAGIC_USEC, fmt.littleEndian);
  v.setUint16(4, 2, fmt.littleEndian);
  v.setUint16(6, 4, fmt.littleEndian);
  // thiszone and sigfigs stay 0, as every modern writer leaves them
  v.setUint32(16, fmt.snaplen, fmt.littleEndian);
  v.setUint32(20, fmt.linktype, fmt.littleEndian);
  return b;
}

/** Writes one record (header and captured bytes) into `out` at `at`; returns the next offset. */
function putRecord(fmt: PcapFormat, out: Buffer, at: number, frame: Uint8Array, timeMs: number): number {
  const caplen = Math.min(frame.length, fmt.snaplen);
  const v = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const ms = Math.max(0, Math.floor(timeMs));
  v.setUint32(at, Math.floor(ms / 1000) >>> 0, fmt.littleEndian);
  v.setUint32(at + 4, (ms % 1000) * (fmt.nanoseconds ? 1_000_000 : 1000), fmt.littleEndian);
  v.setUint32(at + 8, caplen, fmt.littleEndian);
  v.setUint32(at + 12, frame.length, fmt.littleEndian);
  out.set(caplen === frame.length ? frame : frame.subarray(0, caplen), at + RECORD_HEADER);
  return at + RECORD_HEADER + caplen;
}

const DEFAULT_FORMAT: PcapFormat = { littleEndian: true, nanoseconds: false, snaplen: PCAP_SNAPLEN, linktype: LINKTYPE_ETHERNET };

/**
 * A whole capture in memory (microsecond, little-endian, Ethernet). Timestamps default to 1 s,
 * 2 s, ... after the epoch, one second apart, so the frames read back in order whatever tool
 * sorts them.
 */
export function encodePcap(frames: readonly Uint8Array[], timesMs?: readonly number[]): Buffer {
  let size = GLOBAL_HEADER;
  for (const f of frames) size += RECORD_HEADER + Math.min(f.length, PCAP_SNAPLEN);
  const out = Buffer.alloc(size);
  globalHeader(DEFAULT_FORMAT).copy(out, 0);
  let at = GLOBAL_HEADER;
  frames.forEach((f, i) => {
    at = putRecord(DEFAULT_FORMAT, out, at, f, timesMs?.[i] ?? (i + 1) * 1000);
  });
  return out;
}

/**
 * Appends frames to a capture file. A missing or empty file gets a global header (microsecond,
 * little-endian, snaplen 262144, Ethernet); an existing capture is continued in its own format.
 * The constructor throws an Error naming the file when it cannot be opened or is not an Ethernet
 * pcap (a configuration problem, reported when the port is created); PcapWriter.open returns that
 * message instead. write() never throws: a failed write returns false and `error` says why.
 */
export class PcapWriter {
  readonly path: string;
  private fd: number | undefined;
  private readonly fmt: PcapFormat;
  /** The last write error, if any. */
  error: string | undefined;

  constructor(path: string) {
    this.path = path;
    let fd: number;
    try {
      fd = openSync(path, 'a+');
    } catch (e) {
      throw new Error(`${path}: cannot open for writing: ${(e as Error).message}`);
    }
    try {
      const size = fstatSync(fd).size;
      if (size === 0) {
        this.fmt = DEFAULT_FORMAT;
        writeSync(fd, globalHeader(this.fmt));
      } else {
        const head = Buffer.alloc(Math.min(size, GLOBAL_HEADER));
        readSync(fd, head, 0, head.length, 0);
        const fmt = parseHeader(head);
        if (typeof fmt === 'string') throw new Error(`${path}: cannot append: ${fmt}`);
        this.fmt = fmt;
      }
    } catch (e) {
      closeSync(fd);
      throw e instanceof Error && e.message.startsWith(path) ? e : new Error(`${path}: ${(e as Error).message}`);
    }
    this.fd = fd;
  }

  /** A writer, or the reason there is none (naming the file). */
  static open(path: string): PcapWriter | string {
    try {
      return new PcapWriter(path);
    } catch (e) {
      return (e as Error).message;
    }
  }

  /** Appends one record; false (and `error` set) when the file is closed or the write failed. */
  write(frame: Uint8Array, timeMs: number = Date.now()): boolean {
    if (this.fd === undefined) {
      this.error = `${this.path}: closed`;
      return false;
    }
    const rec = Buffer.allocUnsafe(RECORD_HEADER + Math.min(frame.length, this.fmt.snaplen));
    putRecord(this.fmt, rec, 0, frame, timeMs);
    try {
      // A regular file takes the whole record in one call; the loop only matters on a full disk.
      for (let done = 0; done < rec.length;) done += writeSync(this.fd, rec, done, rec.length - done);
      return true;
    } catch (e) {
      this.error = `${this.path}: ${(e as Error).message}`;
      return false;
    }
  }

  /** Closes the file; later writes return false. Idempotent. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // already gone: nothing left to release
    }
  }
}
