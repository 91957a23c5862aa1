/**
 * Harness for checking our OpenFlow 1.3 byte output against real third-party
 * peers: Open vSwitch's `ovs-ofctl` (Debian package openvswitch-common) and
 * Wireshark's `tshark` (Debian package tshark).
 *
 * Everything here works on raw bytes (Buffer) only; nothing is imported from
 * src/, so the harness stays independent of the codec it is used to check.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

// ---------------------------------------------------------------------------
// Tool discovery / installation
// ---------------------------------------------------------------------------

export type PeerTool = 'ovs-ofctl' | 'tshark' | 'ovs-testcontroller' | 'iperf3';

const TOOL_PACKAGE: Record<PeerTool, string> = {
  'ovs-ofctl': 'openvswitch-common',
  tshark: 'tshark',
  'ovs-testcontroller': 'openvswitch-testcontroller',
  iperf3: 'iperf3',
};

const EXTRA_BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable named `name`, or null. */
export function findTool(name: string): string | null {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''), ...EXTRA_BIN_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

const toolPaths = new Map<PeerTool, string>();

/** The tool's absolute path, installing it first when needed (requireTool). */
export function toolPath(name: PeerTool): string {
  const cached = toolPaths.get(name);
  if (cached !== undefined) return cached;
  requireTool(name);
  const found = toolPaths.get(name);
  if (found === undefined) throw new Error(`requireTool(${name}) did not resolve a path`);
  return found;
}

function tail(text: string, max = 2000): string {
  return text.length <= max ? text : `...${text.slice(text.length - max)}`;
}

function runApt(args: string[]): SpawnSyncReturns<string> {
  return spawnSync('apt-get', ['-o', 'DPkg::Lock::Timeout=300', ...args], {
    encoding: 'utf8',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeout: 15 * 60 * 1000,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * Makes sure `name` is installed and runs. When it is missing and we are
 * root, installs its Debian package (apt-get update + apt-get install -y).
 * Throws a descriptive Error when the tool still is not usable, so that tests
 * relying on a peer fail instead of silently skipping.
 */
export function requireTool(name: PeerTool): void {
  if (toolPaths.has(name)) return;
  const pkg = TOOL_PACKAGE[name];
  let path = findTool(name);
  let installLog = '';
  if (path === null) {
    const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
    if (!isRoot) {
      throw new Error(
        `peer tool '${name}' is not installed and we are not root; install it with ` +
          `'sudo apt-get install -y ${pkg}' (Debian package ${pkg})`,
      );
    }
    const update = runApt(['update']);
    installLog += `$ apt-get update -> ${String(update.status)}\n${tail(update.stderr ?? '')}\n`;
    const install = runApt(['install', '-y', '--no-install-recommends', pkg]);
    installLog += `$ apt-get install -y ${pkg} -> ${String(install.status)}\n${tail(install.stdout ?? '')}\n${tail(install.stderr ?? '')}\n`;
    path = findTool(name);
    if (path === null) {
      throw new Error(`peer tool '${name}' is missing and installing Debian package '${pkg}' failed:\n${installLog}`);
    }
  }
  const probe = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 60_000 });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      `peer tool '${name}' at ${path} does not run: ${probe.error?.message ?? `exit ${String(probe.status)}`}\n` +
        `${tail(probe.stderr ?? '')}${installLog}`,
    );
  }
  toolPaths.set(name, path);
}

/** First line of `<tool> --version` (e.g. "ovs-ofctl (Open vSwitch) 3.1.0"). */
export function toolVersion(name: PeerTool): string {
  const r = spawnSync(toolPath(name), ['--version'], { encoding: 'utf8', timeout: 60_000 });
  return (r.stdout ?? '').split('\n')[0] ?? '';
}

// ---------------------------------------------------------------------------
// ovs-ofctl ofp-print / ofp-parse
// ---------------------------------------------------------------------------

export interface PeerVerdict {
  /** true when the peer decoded the message without any error marker. */
  ok: boolean;
  /** the peer's rendering of the message (plus stderr, if any). */
  text: string;
  /** the markers that made `ok` false (empty when ok). */
  problems: string[];
}

/**
 * What `ovs-ofctl ofp-print` / `ofp-parse` prints when it cannot decode a
 * message (OVS lib/ofp-print.c and the decoders it calls). The exit status is
 * 0 in all of these cases, so the text must be inspected.
 */
const OVS_ERROR_MARKERS: ReadonlyArray<[RegExp, string]> = [
  [/\*\*\*decode error/, 'decode error'], // "***decode error: OFPBMC_BAD_LEN***"
  [/\*\*\*truncated/, 'truncated'], // "(***truncated to 10 bytes from 56***)"
  [/\*\*\*only uses/, 'trailing bytes'], // "(***only uses 8 bytes out of 10***)"
  // any other "***...***" remark, e.g. "(***total_len != data_len***)"
  [/\*\*\*(?!decode error|truncated|only uses)[^*\n]*\*\*\*/, 'ovs *** remark'],
  [/^OpenFlow packet too short/m, 'too short'],
  [/^OpenFlow message is empty/m, 'empty'],
  [/^Bad OpenFlow version/m, 'bad version'],
  [/\bbad (?:action|instruction|reply)\b/i, 'bad'], // "bad action at offset 0 (OFPBAC_BAD_LEN)"
  [/\|(?:WARN|ERR|EMER)\|/, 'ovs log warning'], // stderr: "ofp_actions|WARN|..."
];

function ovsProblems(text: string): string[] {
  const found: string[] = [];
  for (const [re, label] of OVS_ERROR_MARKERS) {
    if (re.test(text) && !found.includes(label)) found.push(label);
  }
  return found;
}

/**
 * The first stderr line that is not an informational log line, or null.
 * OVS logs some remarks at INFO level for messages it decodes fine, e.g.
 * "ofp_actions|INFO|OFPAT_SET_MPLS_TTL is deprecated in OpenFlow13 (use
 * Set-Field)"; those are not decode failures.
 */
function ovsStderrComplaint(stderr: string): string | null {
  for (const line of stderr.split('\n')) {
    if (line.trim() === '') continue;
    if (/\|(?:INFO|DBG)\|/.test(line)) continue;
    return line.trim();
  }
  return null;
}

/** The header length must match the buffer, or ofp-print reports it. */
function ovsHeaderProblems(msg: Buffer): string[] {
  if (msg.length < 8) return ['shorter than an OpenFlow header'];
  const len = msg.readUInt16BE(2);
  if (len !== msg.length) return [`header length ${len} != buffer length ${msg.length}`];
  return [];
}

/** OFPT_ERROR: its data is (usually a truncated copy of) the failed request. */
function isErrorMessage(msg: Buffer): boolean {
  return msg.length >= 8 && msg[1] === 1;
}

/**
 * Decodes one message with `ovs-ofctl ofp-print <hex>` (one process).
 * ok is false when the exit status is non-zero or the output contains any of
 * OVS's decode-failure markers (see OVS_ERROR_MARKERS), or ovs-ofctl logged a
 * warning/error on stderr.
 *
 * For OFPT_ERROR only the first line (the error itself) is judged: OVS then
 * prints the failed request carried in the error's data, which is normally
 * truncated to 64 bytes (and so "***truncated***") or is the bad message.
 */
export function ovsOfpPrint(msg: Buffer, verbosity = 2): PeerVerdict {
  const bin = toolPath('ovs-ofctl');
  const hex = msg.toString('hex');
  // ofp-print ignores whitespace in the hex string, but the unspaced form
  // keeps even a 65535-byte message under Linux's 128 KiB per-argument limit.
  const r = spawnSync(bin, ['ofp-print', hex, String(verbosity)], {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  const stdout = r.stdout ?? '';
  const stderr = r.stderr ?? '';
  const text = stderr === '' ? stdout : `${stdout}${stderr}`;
  const errorMsg = isErrorMessage(msg);
  const judged = errorMsg ? (stdout.split('\n')[0] ?? '') : text;
  const problems = [...ovsHeaderProblems(msg), ...ovsProblems(judged)];
  // ofp-print logs its decoders' complaints ("ofp_actions|WARN|...") on stderr
  const complaint = errorMsg ? null : ovsStderrComplaint(stderr);
  if (complaint !== null && !problems.includes('ovs log warning')) problems.push(`stderr: ${complaint}`);
  if (r.error !== undefined) problems.push(`spawn failed: ${r.error.message}`);
  if (r.status !== 0) problems.push(`exit status ${String(r.status)}${r.signal !== null ? ` (${r.signal})` : ''}`);
  return { ok: problems.length === 0, text, problems };
}

/**
 * Decodes many messages with a single `ovs-ofctl ofp-parse -` process: the
 * messages are concatenated on stdin, each followed by a separator
 * ECHO_REQUEST with a per-run random xid so the output can be split again.
 * ofp-parse frames its input by the OpenFlow header length, so a message
 * whose header length does not match its buffer is decoded with its own
 * `ofp-print` process instead (it would otherwise desynchronise the stream),
 * and so is every OFPT_ERROR (see ovsOfpPrint). If ofp-parse logs a warning,
 * which cannot be attributed to one message, all are redone one by one.
 */
export function ovsOfpPrintBatch(msgs: readonly Buffer[], verbosity = 2): PeerVerdict[] {
  const results: Array<PeerVerdict | undefined> = new Array<PeerVerdict | undefined>(msgs.length);
  const batched: number[] = [];
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i]!;
    if (m.length >= 8 && m.readUInt16BE(2) === m.length && !isErrorMessage(m)) batched.push(i);
    else results[i] = ovsOfpPrint(m, verbosity);
  }
  if (batched.length > 0) {
    const sepXid = (Math.random() * 0xffffffff) >>> 0 || 1;
    const sep = Buffer.from([4, 2, 0, 8, 0, 0, 0, 0]);
    sep.writeUInt32BE(sepXid, 4);
    const sepLine = `OFPT_ECHO_REQUEST (OF1.3) (xid=0x${sepXid.toString(16)}): 0 bytes of payload`;
    const input = Buffer.concat(batched.flatMap((i) => [msgs[i]!, sep]));
    // ofp-parse uses verbosity + 2 where verbosity counts -m flags.
    const more = Array.from({ length: Math.max(0, verbosity - 2) }, () => '-m');
    const r = spawnSync(toolPath('ovs-ofctl'), [...more, 'ofp-parse', '-'], {
      input,
      encoding: 'utf8',
      timeout: 120_000,
      maxBuffer: 256 * 1024 * 1024,
    });
    const stdout = r.stdout ?? '';
    const stderr = r.stderr ?? '';
    const chunks = stdout.split('\n');
    const texts: string[] = [];
    let current: string[] = [];
    for (const line of chunks) {
      if (line === sepLine) {
        texts.push(current.join('\n') + '\n');
        current = [];
      } else {
        current.push(line);
      }
    }
    const failed = r.error !== undefined || r.status !== 0 || texts.length !== batched.length;
    if (failed) {
      // Something went wrong with the batch (crash, fatal error): redo one by one.
      for (const i of batched) results[i] = ovsOfpPrint(msgs[i]!, verbosity);
    } else {
      batched.forEach((i, k) => {
        const text = texts[k]!;
        const problems = ovsProblems(text);
        results[i] = { ok: problems.length === 0, text, problems };
      });
      // Log lines cannot be attributed to one message: recheck them one by one.
      if (ovsStderrComplaint(stderr) !== null) {
        for (const i of batched) results[i] = ovsOfpPrint(msgs[i]!, verbosity);
      }
    }
  }
  return results.map((r, i) => {
    if (r === undefined) throw new Error(`no ovs-ofctl result for message ${i}`);
    return r;
  });
}

// ---------------------------------------------------------------------------
// pcap writer + tshark
// ---------------------------------------------------------------------------

const PCAP_SNAPLEN = 262_144;
const MAX_TCP_PAYLOAD = 65_535 - 20 - 20; // IPv4 total length is 16 bits
const CLIENT_PORT = 40_000;
const OPENFLOW_PORT = 6653;

function ipv4Checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

interface Segment {
  payload: Buffer;
  seq: number;
  ack: number;
  flags: number;
  fromClient: boolean;
}

const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;

function ethIpv4Tcp(seg: Segment, ipId: number): Buffer {
  const eth = Buffer.alloc(14);
  // dst / src MACs: locally administered, different per direction
  Buffer.from(seg.fromClient ? '020000000002020000000001' : '020000000001020000000002', 'hex').copy(eth, 0);
  eth.writeUInt16BE(0x0800, 12);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 20 + seg.payload.length, 2);
  ip.writeUInt16BE(ipId & 0xffff, 4);
  ip.writeUInt16BE(0x4000, 6); // DF
  ip[8] = 64;
  ip[9] = 6; // TCP
  Buffer.from([127, 0, 0, 1]).copy(ip, 12);
  Buffer.from([127, 0, 0, 1]).copy(ip, 16);
  ip.writeUInt16BE(ipv4Checksum(ip), 10);
  const tcp = Buffer.alloc(20);
  tcp.writeUInt16BE(seg.fromClient ? CLIENT_PORT : OPENFLOW_PORT, 0);
  tcp.writeUInt16BE(seg.fromClient ? OPENFLOW_PORT : CLIENT_PORT, 2);
  tcp.writeUInt32BE(seg.seq >>> 0, 4);
  tcp.writeUInt32BE(seg.ack >>> 0, 8);
  tcp[12] = 5 << 4;
  tcp[13] = seg.flags;
  tcp.writeUInt16BE(65535, 14); // window
  // checksum (16) left zero: tshark does not verify TCP checksums by default
  return Buffer.concat([eth, ip, tcp, seg.payload]);
}

export interface PcapLayout {
  pcap: Buffer;
  /** 1-based frame number in which message i ends (where tshark shows it). */
  frameOfMessage: number[];
}

/**
 * Builds a classic pcap (linktype Ethernet) of one TCP connection
 * 127.0.0.1:40000 -> 127.0.0.1:6653: a three-way handshake, then each
 * message in its own segment(s) with increasing sequence numbers (a message
 * larger than one IPv4 packet is split), then FIN/ACK.
 */
export function buildOpenFlowPcap(msgs: readonly Buffer[]): PcapLayout {
  const clientIsn = 1000;
  const serverIsn = 5000;
  const segments: Segment[] = [];
  segments.push({ payload: Buffer.alloc(0), seq: clientIsn, ack: 0, flags: TCP_SYN, fromClient: true });
  segments.push({ payload: Buffer.alloc(0), seq: serverIsn, ack: clientIsn + 1, flags: TCP_SYN | TCP_ACK, fromClient: false });
  let seq = clientIsn + 1;
  const ack = serverIsn + 1;
  segments.push({ payload: Buffer.alloc(0), seq, ack, flags: TCP_ACK, fromClient: true });
  const frameOfMessage: number[] = [];
  for (const msg of msgs) {
    if (msg.length === 0) throw new Error('buildOpenFlowPcap: empty message');
    for (let off = 0; off < msg.length; off += MAX_TCP_PAYLOAD) {
      const payload = msg.subarray(off, Math.min(msg.length, off + MAX_TCP_PAYLOAD));
      segments.push({ payload, seq, ack, flags: TCP_PSH | TCP_ACK, fromClient: true });
      seq += payload.length;
    }
    frameOfMessage.push(segments.length);
  }
  // the "switch" acknowledges everything, then the client closes
  segments.push({ payload: Buffer.alloc(0), seq: ack, ack: seq, flags: TCP_ACK, fromClient: false });
  segments.push({ payload: Buffer.alloc(0), seq, ack, flags: TCP_FIN | TCP_ACK, fromClient: true });

  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeInt32LE(0, 8); // thiszone
  global.writeUInt32LE(0, 12); // sigfigs
  global.writeUInt32LE(PCAP_SNAPLEN, 16);
  global.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const parts: Buffer[] = [global];
  const baseSec = 1_700_000_000;
  segments.forEach((seg, i) => {
    const frame = ethIpv4Tcp(seg, i + 1);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(baseSec + Math.floor(i / 1000), 0);
    rec.writeUInt32LE((i % 1000) * 1000, 4);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, frame);
  });
  return { pcap: Buffer.concat(parts), frameOfMessage };
}

export interface TsharkVerdict extends PeerVerdict {
  /** "Undecoded" notes (e.g. experimenter bodies the dissector does not know). */
  notes: string[];
}

/**
 * Markers in `tshark -V` output that mean the OpenFlow 1.3 dissector did not
 * decode the message cleanly. (The dissector's own expert infos are all
 * "Note/Undecoded" remarks such as "Unknown OXM body." or "Experimenter action
 * body." for things it does not know; those are returned as `notes` and do
 * not make a message fail.)
 */
const TSHARK_ERROR_MARKERS: ReadonlyArray<[RegExp, string]> = [
  [/\[Malformed Packet/, 'malformed packet'], // _ws.malformed
  [/\[Expert Info \(Error\//, 'expert error'], // any expert info with severity Error
  [/Dissector bug/i, 'dissector bug'],
  [/\[Packet size limited during capture/, 'short frame'], // _ws.short
  // e.g. "[BoundError Unreassembled Packet: openflow_v4]": the message ran
  // past the end of its frame (length fields pointing beyond the data)
  [/Unreassembled Packet/, 'unreassembled (data runs past the end)'],
  [/\[Expert Info \([^)]*\): Unknown message body/, 'unknown message body'], // openflow_v4.message.undecoded
  // "Type: Unknown (254)" right under "OpenFlow 1.3": unknown message type,
  // or unknown multipart/error type at the same level
  [/^ {4}Type: Unknown \(\d+\)$/m, 'unknown type'],
];

/**
 * Dissects all messages with ONE tshark run over ONE pcap file (see
 * buildOpenFlowPcap) and returns one verdict per message. ok is true only if
 * the frame carrying the message has exactly one "OpenFlow 1.3" (openflow_v4)
 * tree, and none of TSHARK_ERROR_MARKERS. `text` is the OpenFlow part of the
 * frame's `tshark -V` output.
 *
 * When every message fits in a single TCP segment (the normal case), TCP
 * reassembly is disabled so each frame is dissected on its own: a message
 * with a wrong length field then shows up as malformed in its own frame
 * instead of swallowing the following messages.
 */
export function tsharkDissect(msgs: readonly Buffer[]): TsharkVerdict[] {
  if (msgs.length === 0) return [];
  const bin = toolPath('tshark');
  const { pcap, frameOfMessage } = buildOpenFlowPcap(msgs);
  const needsReassembly = msgs.some((m) => m.length > MAX_TCP_PAYLOAD);
  const dir = mkdtempSync(join(tmpdir(), 'ofswitch-tshark-'));
  try {
    const file = join(dir, 'openflow.pcap');
    writeFileSync(file, pcap);
    const r = spawnSync(
      bin,
      [
        '-n',
        '-r',
        file,
        '-d',
        `tcp.port==${OPENFLOW_PORT},openflow`,
        '-o',
        `tcp.desegment_tcp_streams:${needsReassembly ? 'TRUE' : 'FALSE'}`,
        // Sequence analysis remembers where the previous PDU claimed to end
        // and would start dissecting the next frame at that offset.
        '-o',
        `tcp.analyze_sequence_numbers:${needsReassembly ? 'TRUE' : 'FALSE'}`,
        '-o',
        'tcp.check_checksum:FALSE',
        '-o',
        'ip.check_checksum:TRUE',
        '-V',
      ],
      {
        encoding: 'utf8',
        timeout: 300_000,
        maxBuffer: 1024 * 1024 * 1024,
        env: { ...process.env, HOME: dir, WIRESHARK_CONFIG_DIR: dir },
      },
    );
    if (r.error !== undefined || r.status !== 0) {
      throw new Error(
        `tshark failed (${r.error?.message ?? `exit ${String(r.status)}`}): ${tail(r.stderr ?? '')}`,
      );
    }
    const frames = splitTsharkFrames(r.stdout ?? '');
    return msgs.map((_, i) => {
      const frameNo = frameOfMessage[i]!;
      const text = frames.get(frameNo) ?? '';
      const problems: string[] = [];
      if (text === '') problems.push(`tshark printed no frame ${frameNo}`);
      else {
        const trees = text.match(/^OpenFlow 1\.3$/gm)?.length ?? 0;
        if (trees === 0) problems.push('no OpenFlow 1.3 dissection in frame');
        // the header length is shorter than the data: tshark found a 2nd message
        if (trees > 1) problems.push(`${trees} OpenFlow messages in one frame`);
      }
      for (const [re, label] of TSHARK_ERROR_MARKERS) {
        if (re.test(text)) problems.push(label);
      }
      const notes = [...text.matchAll(/\[Expert Info \(Note\/Undecoded\): ([^\]]*)\]/g)].map((m) => m[1]!);
      const msg = msgs[i]!;
      if (isErrorMessage(msg) && msg.length >= 12 && msg.readUInt16BE(2) === msg.length && problems.length > 0) {
        // tshark dissects the failed request carried in an OFPT_ERROR as a
        // whole message and throws when it is truncated (as the spec's "at
        // least 64 bytes" usually makes it). The fixed error header fits in
        // the frame, so the exception came from that embedded copy.
        const benign = ['unreassembled (data runs past the end)', 'malformed packet', 'expert error'];
        if (problems.every((p) => benign.includes(p))) {
          notes.push(`embedded failed request not dissectable (${problems.join(', ')})`);
          problems.length = 0;
        }
      }
      return { ok: problems.length === 0, text: openflowPart(text), problems, notes };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The part of one frame's `tshark -V` text after the Frame/Ethernet/IPv4/TCP
 * trees: the OpenFlow tree(s) and any malformed/reassembly remarks. The whole
 * frame text if there is no such part.
 */
function openflowPart(frameText: string): string {
  const lines = frameText.split('\n');
  const tcp = lines.findIndex((l) => l.startsWith('Transmission Control Protocol'));
  if (tcp < 0) return frameText;
  const next = lines.findIndex((l, i) => i > tcp && l !== '' && !/^\s/.test(l));
  return next < 0 ? frameText : lines.slice(next).join('\n').trimEnd() + '\n';
}

function splitTsharkFrames(out: string): Map<number, string> {
  const frames = new Map<number, string>();
  const re = /^Frame (\d+): /gm;
  const starts: Array<{ no: number; at: number }> = [];
  for (const m of out.matchAll(re)) starts.push({ no: Number(m[1]), at: m.index });
  starts.forEach((s, k) => {
    const end = k + 1 < starts.length ? starts[k + 1]!.at : out.length;
    frames.set(s.no, out.slice(s.at, end));
  });
  return frames;
}

// ---------------------------------------------------------------------------
// Fake OpenFlow 1.3 switch for capturing what ovs-ofctl sends
// ---------------------------------------------------------------------------

const OFP_VERSION = 4;
const T = {
  HELLO: 0,
  ERROR: 1,
  ECHO_REQUEST: 2,
  ECHO_REPLY: 3,
  EXPERIMENTER: 4,
  FEATURES_REQUEST: 5,
  FEATURES_REPLY: 6,
  GET_CONFIG_REQUEST: 7,
  GET_CONFIG_REPLY: 8,
  SET_CONFIG: 9,
  MULTIPART_REQUEST: 18,
  MULTIPART_REPLY: 19,
  BARRIER_REQUEST: 20,
  BARRIER_REPLY: 21,
  QUEUE_GET_CONFIG_REQUEST: 22,
  QUEUE_GET_CONFIG_REPLY: 23,
  ROLE_REQUEST: 24,
  ROLE_REPLY: 25,
  GET_ASYNC_REQUEST: 26,
  GET_ASYNC_REPLY: 27,
} as const;

const ONF_EXPERIMENTER = 0x4f4e4600;
const ONFT_BUNDLE_CONTROL = 2300;

/** ofp_header with the given type/xid and body; length is filled in. */
function ofpMessage(type: number, xid: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(8);
  h[0] = OFP_VERSION;
  h[1] = type;
  h.writeUInt16BE(8 + body.length, 2);
  h.writeUInt32BE(xid >>> 0, 4);
  return Buffer.concat([h, body]);
}

/** HELLO with one OFPHET_VERSIONBITMAP element announcing OpenFlow 1.3 only. */
const HELLO_BODY = Buffer.from([0x00, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00, 0x10]);

/** OFPT_FEATURES_REPLY body: datapath_id 1, n_buffers 0, n_tables 254. */
function featuresReplyBody(): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64BE(1n, 0); // datapath_id
  b.writeUInt32BE(0, 8); // n_buffers
  b[12] = 254; // n_tables
  b[13] = 0; // auxiliary_id
  // capabilities: FLOW_STATS|TABLE_STATS|PORT_STATS|GROUP_STATS|QUEUE_STATS
  b.writeUInt32BE(0x1 | 0x2 | 0x4 | 0x8 | 0x40, 16);
  return b;
}

// Multipart types (OFPMP_*)
const MP = {
  DESC: 0,
  FLOW: 1,
  AGGREGATE: 2,
  TABLE: 3,
  PORT_STATS: 4,
  QUEUE: 5,
  GROUP: 6,
  GROUP_DESC: 7,
  GROUP_FEATURES: 8,
  METER: 9,
  METER_CONFIG: 10,
  METER_FEATURES: 11,
  TABLE_FEATURES: 12,
  PORT_DESC: 13,
  EXPERIMENTER: 0xffff,
} as const;

/** struct ofp_port (64 bytes) for PORT_DESC replies. */
function ofpPort(portNo: number): Buffer {
  const p = Buffer.alloc(64);
  p.writeUInt32BE(portNo, 0);
  Buffer.from([0x02, 0, 0, 0, (portNo >>> 8) & 0xff, portNo & 0xff]).copy(p, 8); // hw_addr
  p.write(`p${portNo}`, 16, 'latin1'); // name[16]
  // config 0, state 0 (link up), features 0, speeds 0
  return p;
}

/**
 * struct ofp_table_features for table `tableId` with the 8 properties OVS
 * insists on (INSTRUCTIONS, NEXT_TABLES, WRITE_ACTIONS, APPLY_ACTIONS, MATCH,
 * WILDCARDS, WRITE_SETFIELD, APPLY_SETFIELD), each an empty list padded to 8.
 */
function tableFeatures(tableId: number): Buffer {
  const t = Buffer.alloc(64 + 8 * 8);
  t.writeUInt16BE(t.length, 0); // length
  t[2] = tableId;
  t.write(`table${tableId}`, 8, 'latin1'); // name[32]
  t.writeBigUInt64BE(0xffffffffffffffffn, 40); // metadata_match
  t.writeBigUInt64BE(0xffffffffffffffffn, 48); // metadata_write
  t.writeUInt32BE(0, 56); // config
  t.writeUInt32BE(1_000_000, 60); // max_entries
  for (let k = 0; k < 8; k++) {
    t.writeUInt16BE(2 * k, 64 + 8 * k); // OFPTFPT_* (even: not the _MISS variant)
    t.writeUInt16BE(4, 64 + 8 * k + 2); // property length without padding
  }
  return t;
}

function multipartReplyBody(mpType: number, reqBody: Buffer, ports: readonly number[]): Buffer {
  switch (mpType) {
    case MP.DESC:
      return Buffer.alloc(256 + 256 + 256 + 32 + 256); // ofp_desc
    case MP.AGGREGATE:
      return Buffer.alloc(24); // packet_count, byte_count, flow_count, pad
    case MP.GROUP_FEATURES:
      return Buffer.alloc(40); // types, capabilities, max_groups[4], actions[4]
    case MP.METER_FEATURES:
      return Buffer.alloc(16); // max_meter, band_types, capabilities, max_bands, max_color, pad
    case MP.PORT_DESC:
      return Buffer.concat(ports.map(ofpPort));
    case MP.TABLE_FEATURES:
      // OVS rejects an empty TABLE_FEATURES reply ("must be exactly 80 bytes
      // or longer"), and add-flow & co. ask for it first: report one table.
      return tableFeatures(0);
    case MP.EXPERIMENTER:
      // echo experimenter + exp_type, no data
      return reqBody.length >= 8 ? Buffer.from(reqBody.subarray(0, 8)) : Buffer.alloc(8);
    default:
      return Buffer.alloc(0); // an empty array of stats
  }
}

/**
 * The fake switch's protocol logic without any I/O (one instance per
 * connection): what it answers to each message of the controller. Every
 * reply is built from hand-written byte layouts of the OpenFlow 1.3 spec.
 */
export class FakeSwitchLogic {
  private configFlags = 0;
  private missSendLen = 128;

  constructor(private readonly ports: readonly number[] = []) {}

  /** OFPT_HELLO (xid 1) with a version bitmap announcing OpenFlow 1.3 only. */
  hello(): Buffer {
    return ofpMessage(T.HELLO, 1, HELLO_BODY);
  }

  /** The replies to one message from the controller (often none). */
  respond(m: Buffer): Buffer[] {
    if (m.length < 8) return [];
    const type = m[1]!;
    const xid = m.readUInt32BE(4);
    const body = m.subarray(8);
    switch (type) {
      case T.ECHO_REQUEST:
        return [ofpMessage(T.ECHO_REPLY, xid, Buffer.from(body))];
      case T.FEATURES_REQUEST:
        return [ofpMessage(T.FEATURES_REPLY, xid, featuresReplyBody())];
      case T.GET_CONFIG_REQUEST: {
        const b = Buffer.alloc(4);
        b.writeUInt16BE(this.configFlags, 0);
        b.writeUInt16BE(this.missSendLen, 2);
        return [ofpMessage(T.GET_CONFIG_REPLY, xid, b)];
      }
      case T.SET_CONFIG:
        // remembered so that set-frags can read its change back
        if (body.length >= 4) {
          this.configFlags = body.readUInt16BE(0);
          this.missSendLen = body.readUInt16BE(2);
        }
        return [];
      case T.BARRIER_REQUEST:
        return [ofpMessage(T.BARRIER_REPLY, xid)];
      case T.ROLE_REQUEST: {
        const b = Buffer.alloc(16);
        if (body.length >= 16) body.copy(b, 0, 0, 16); // role, pad, generation_id
        return [ofpMessage(T.ROLE_REPLY, xid, b)];
      }
      case T.QUEUE_GET_CONFIG_REQUEST: {
        const b = Buffer.alloc(8); // port, pad[4], no queues
        if (body.length >= 4) body.copy(b, 0, 0, 4);
        return [ofpMessage(T.QUEUE_GET_CONFIG_REPLY, xid, b)];
      }
      case T.GET_ASYNC_REQUEST:
        return [ofpMessage(T.GET_ASYNC_REPLY, xid, Buffer.alloc(24))];
      case T.MULTIPART_REQUEST: {
        if (body.length < 8) return [];
        const mpType = body.readUInt16BE(0);
        const flags = body.readUInt16BE(2);
        // OFPMPF_REQ_MORE: answer once the last part of the request arrived
        if (flags & 1) return [];
        const head = Buffer.alloc(8);
        head.writeUInt16BE(mpType, 0); // flags 0 (no more), pad
        const replyBody = multipartReplyBody(mpType, body.subarray(8), this.ports);
        return [ofpMessage(T.MULTIPART_REPLY, xid, Buffer.concat([head, replyBody]))];
      }
      case T.EXPERIMENTER: {
        if (body.length < 8) return [];
        const experimenter = body.readUInt32BE(0);
        const expType = body.readUInt32BE(4);
        if (experimenter === ONF_EXPERIMENTER && expType === ONFT_BUNDLE_CONTROL && body.length >= 16) {
          // bundle_id u32, type u16, flags u16: *_REQUEST (even) -> *_REPLY (odd)
          const b = Buffer.alloc(16);
          b.writeUInt32BE(experimenter, 0);
          b.writeUInt32BE(expType, 4);
          b.writeUInt32BE(body.readUInt32BE(8), 8);
          const ctrlType = body.readUInt16BE(12);
          b.writeUInt16BE(ctrlType % 2 === 0 ? ctrlType + 1 : ctrlType, 12);
          b.writeUInt16BE(body.readUInt16BE(14), 14);
          return [ofpMessage(T.EXPERIMENTER, xid, b)];
        }
        return []; // BUNDLE_ADD_MESSAGE and other experimenter messages
      }
      default:
        // HELLO, ECHO_REPLY, FLOW_MOD, GROUP_MOD, ...: no answer
        break;
    }
    return [];
  }
}

/** One TCP connection of the fake switch: frames the stream, answers. */
class FakeSwitchConnection {
  private pending: Buffer = Buffer.alloc(0);
  private readonly logic: FakeSwitchLogic;

  constructor(
    private readonly sock: Socket,
    private readonly onFrame: (frame: Buffer) => void,
    ports: readonly number[],
  ) {
    this.logic = new FakeSwitchLogic(ports);
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(d));
    sock.on('error', () => {
      // ovs-ofctl may reset the connection when it exits; nothing to do
    });
    this.send(this.logic.hello());
  }

  private send(msg: Buffer): void {
    if (!this.sock.destroyed) this.sock.write(msg);
  }

  private onData(data: Buffer): void {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    while (this.pending.length >= 8) {
      const len = this.pending.readUInt16BE(2);
      if (len < 8) {
        // not OpenFlow framing any more: keep the rest as one frame and stop
        this.onFrame(Buffer.from(this.pending));
        this.pending = Buffer.alloc(0);
        this.sock.destroy();
        return;
      }
      if (this.pending.length < len) return;
      const frame = Buffer.from(this.pending.subarray(0, len));
      this.pending = this.pending.subarray(len);
      this.onFrame(frame);
      for (const reply of this.logic.respond(frame)) this.send(reply);
    }
  }
}

export interface CaptureOptions {
  /** written to ovs-ofctl's stdin (e.g. for `add-flows SWITCH -`). */
  stdin?: string;
  /** kill ovs-ofctl (by PID) after this long; default 10 000 ms. */
  timeoutMs?: number;
  /** port numbers the fake switch reports in PORT_DESC replies (default none). */
  ports?: readonly number[];
}

export interface CaptureResult {
  /** every OpenFlow message ovs-ofctl sent, in arrival order, HELLO included. */
  frames: Buffer[];
  stdout: string;
  stderr: string;
  /** exit code, or null if ovs-ofctl was killed (timeout) or died by a signal. */
  code: number | null;
  timedOut: boolean;
  /** number of TCP connections ovs-ofctl made to the fake switch. */
  connections: number;
  /** the full command line that was run. */
  argv: string[];
}

/**
 * Runs `ovs-ofctl -O OpenFlow13 [OPTIONS] <args[0]> tcp:127.0.0.1:PORT <args[1..]>`
 * against a minimal fake OpenFlow 1.3 switch listening on 127.0.0.1 (random
 * port) and returns every frame ovs-ofctl sent once it has exited.
 * Many commands open several connections (e.g. add-flow first fetches
 * TABLE_FEATURES and PORT_DESC on connections of their own to map names), so
 * `frames` holds several HELLOs; frames are in arrival order over all
 * connections. The fake switch answers as FakeSwitchLogic describes.
 * Leading elements of `args` that start with "-" are ovs-ofctl options (e.g.
 * "--strict", "--bundle") and are placed before the command.
 */
export async function captureOvsOfctl(args: readonly string[], opts: CaptureOptions = {}): Promise<CaptureResult> {
  const bin = toolPath('ovs-ofctl');
  const firstNonOption = args.findIndex((a) => !a.startsWith('-'));
  if (firstNonOption < 0) throw new Error(`captureOvsOfctl: no command in ${JSON.stringify(args)}`);
  const options = args.slice(0, firstNonOption);
  const command = args[firstNonOption]!;
  const rest = args.slice(firstNonOption + 1);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const ports = opts.ports ?? [];

  const frames: Buffer[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    new FakeSwitchConnection(sock, (f) => frames.push(f), ports);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const argv = ['-O', 'OpenFlow13', ...options, command, `tcp:127.0.0.1:${port}`, ...rest];

  try {
    const child = spawn(bin, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => {
      // ovs-ofctl may exit without reading stdin
    });
    child.stdin.end(opts.stdin ?? '');
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, timeoutMs);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    }).finally(() => clearTimeout(timer));
    // Let the kernel deliver whatever ovs-ofctl wrote before exiting.
    await waitForSocketsToClose(sockets, 2000);
    return { frames, stdout, stderr, code: timedOut ? null : code, timedOut, connections, argv: [bin, ...argv] };
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function waitForSocketsToClose(sockets: Set<Socket>, maxMs: number): Promise<void> {
  const deadline = Date.now() + maxMs;
  while (sockets.size > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---------------------------------------------------------------------------
// Spotting OpenFlow extensions (Nicira / ONF experimenter) in raw messages
// ---------------------------------------------------------------------------

const NX_VENDOR = 0x00002320;

function vendorName(id: number): string {
  if (id === NX_VENDOR) return 'NX';
  if (id === ONF_EXPERIMENTER) return 'ONF';
  return `0x${id.toString(16).padStart(8, '0')}`;
}

function scanOxms(b: Buffer, start: number, end: number, where: string, out: string[]): void {
  for (let p = start; p + 4 <= end; ) {
    const cls = b.readUInt16BE(p);
    const field = b[p + 2]! >> 1;
    const masked = (b[p + 2]! & 1) === 1 ? '/masked' : '';
    if (cls === 0xffff) {
      out.push(`${where}: experimenter OXM ${vendorName(b.readUInt32BE(p + 4))} field ${field}${masked}`);
    } else if (cls !== 0x8000) {
      const name = cls === 0 ? 'NXM_OF' : cls === 1 ? 'NXM_NX' : `class 0x${cls.toString(16)}`;
      out.push(`${where}: ${name} field ${field}${masked}`);
    }
    p += 4 + b[p + 3]!;
  }
}

/** Scans an ofp_match at `at`; returns the offset just after it (padded). */
function scanMatch(b: Buffer, at: number, out: string[]): number {
  const type = b.readUInt16BE(at);
  const len = b.readUInt16BE(at + 2);
  if (type !== 1) out.push(`match: type ${type} (not OFPMT_OXM)`);
  scanOxms(b, at + 4, at + len, 'match', out);
  return at + ((len + 7) & ~7);
}

function scanActions(b: Buffer, start: number, end: number, where: string, out: string[]): void {
  for (let p = start; p + 4 <= end; ) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    if (len < 4) return;
    if (type === 0xffff) {
      const vendor = b.readUInt32BE(p + 4);
      const sub = vendor === NX_VENDOR ? ` subtype ${b.readUInt16BE(p + 8)}` : '';
      out.push(`${where}: experimenter action ${vendorName(vendor)}${sub}`);
    } else if (type === 25) {
      scanOxms(b, p + 4, p + 8 + b[p + 7]!, `${where} set_field`, out);
    }
    p += len;
  }
}

function scanInstructions(b: Buffer, start: number, end: number, out: string[]): void {
  for (let p = start; p + 4 <= end; ) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    if (len < 4) return;
    if (type === 3 || type === 4) scanActions(b, p + 8, p + len, type === 3 ? 'write_actions' : 'apply_actions', out);
    else if (type === 0xffff) out.push(`experimenter instruction ${vendorName(b.readUInt32BE(p + 4))}`);
    p += len;
  }
}

/**
 * Lists the non-standard (Nicira NX / ONF experimenter / OVS-specific) parts
 * of an OpenFlow 1.3 message as found in its raw bytes: experimenter
 * messages, NXM or experimenter OXM fields in matches and set_field actions,
 * experimenter actions and instructions, OVS's OFPGC_ADD_OR_MOD group
 * command, the NX fragment mode in SET_CONFIG. Empty for a message that only
 * uses the OpenFlow 1.3 specification. This is a scanner for test
 * bookkeeping, not a codec: it does not validate anything.
 */
export function describeExtensions(msg: Buffer): string[] {
  const out: string[] = [];
  try {
    if (msg.length < 8 || msg[0] !== OFP_VERSION) return [`not an OpenFlow 1.3 message`];
    const end = Math.min(msg.length, msg.readUInt16BE(2));
    switch (msg[1]) {
      case T.EXPERIMENTER: {
        const vendor = msg.readUInt32BE(8);
        const expType = msg.readUInt32BE(12);
        out.push(`experimenter message ${vendorName(vendor)} type ${expType}`);
        if (vendor === ONF_EXPERIMENTER && expType === ONFT_BUNDLE_CONTROL + 1 && end > 24) {
          out.push(...describeExtensions(msg.subarray(24, end)).map((e) => `bundled ${e}`));
        }
        break;
      }
      case 9: // SET_CONFIG
        if ((msg.readUInt16BE(8) & 3) === 3) out.push('SET_CONFIG frags=nx-match (OVS value 3)');
        break;
      case 13: // PACKET_OUT
        scanActions(msg, 24, 24 + msg.readUInt16BE(16), 'packet_out', out);
        break;
      case 14: // FLOW_MOD
        scanInstructions(msg, scanMatch(msg, 48, out), end, out);
        break;
      case 15: {
        // GROUP_MOD
        const command = msg.readUInt16BE(8);
        if (command > 2) out.push(`group_mod command 0x${command.toString(16)} (not OFPGC_ADD/MODIFY/DELETE)`);
        if (msg[10]! > 3) out.push(`group type ${msg[10]!}`);
        for (let p = 16; p + 16 <= end; ) {
          const len = msg.readUInt16BE(p);
          if (len < 16) break;
          scanActions(msg, p + 16, p + len, 'bucket', out);
          p += len;
        }
        break;
      }
      case T.MULTIPART_REQUEST: {
        const mpType = msg.readUInt16BE(8);
        if (mpType === MP.EXPERIMENTER) out.push(`experimenter multipart ${vendorName(msg.readUInt32BE(16))}`);
        else if (mpType === MP.FLOW || mpType === MP.AGGREGATE) scanMatch(msg, 48, out);
        break;
      }
      default:
        break;
    }
  } catch (e) {
    out.push(`unparseable: ${(e as Error).message}`);
  }
  return out;
}

// ---------------------------------------------------------------------------
// ovs-ofctl command lines that emit OpenFlow 1.3 messages
// ---------------------------------------------------------------------------

export interface OvsOfctlCase {
  name: string;
  /** [options..., command, args...]; the switch target is inserted after the command. */
  args: string[];
  stdin?: string;
  /** OpenFlow message type ovs-ofctl must send for this command (after HELLO). */
  expectType: number;
  /** for MULTIPART_REQUEST (18): the OFPMP_* type expected. */
  expectMultipart?: number;
  /** ports the fake switch must report (commands that look a port up first). */
  ports?: number[];
  /**
   * Set when ovs-ofctl encodes this command with Nicira/ONF extensions in
   * OpenFlow 1.3 (what describeExtensions() finds); absent for cases whose
   * messages are pure OpenFlow 1.3.
   */
  ext?: string;
}

export const OFPT = {
  ECHO_REQUEST: 2,
  EXPERIMENTER: 4,
  FEATURES_REQUEST: 5,
  GET_CONFIG_REQUEST: 7,
  SET_CONFIG: 9,
  PACKET_OUT: 13,
  FLOW_MOD: 14,
  GROUP_MOD: 15,
  PORT_MOD: 16,
  MULTIPART_REQUEST: 18,
  QUEUE_GET_CONFIG_REQUEST: 22,
  METER_MOD: 29,
} as const;

const ARP_PACKET = 'ffffffffffff00112233445508060001080006040001001122334455c0a80001000000000000c0a80002';

function addFlow(flow: string, ext?: string): OvsOfctlCase {
  return { name: `add-flow ${flow}`, args: ['add-flow', flow], expectType: OFPT.FLOW_MOD, ...(ext === undefined ? {} : { ext }) };
}

function cmd(args: string[], expectType: number, extra: Partial<OvsOfctlCase> = {}): OvsOfctlCase {
  const name = extra.name ?? args.join(' ');
  return { ...extra, name, args, expectType };
}

function stats(args: string[], mp: number): OvsOfctlCase {
  return cmd(args, OFPT.MULTIPART_REQUEST, { expectMultipart: mp });
}

/**
 * ovs-ofctl (Open vSwitch 3.1) command lines, each verified to run against
 * the fake switch of captureOvsOfctl with `-O OpenFlow13`.
 *
 * Not expressible with this OVS in OpenFlow 1.3, so left out:
 * - matches pbb_isid, ipv6_exthdr, in_phy_port: "unknown keyword" (OVS has
 *   no such fields at all);
 * - actions push_pbb, pop_pbb, copy_ttl_in, copy_ttl_out: "unknown action"
 *   (OVS does not implement them);
 * - mod-table: its OF1.3 forms ("drop", "controller", "continue") are
 *   refused ("requires OpenFlow11, OpenFlow12"; OF1.3 deprecated the table
 *   config bits) and "evict"/"vacancy" need OpenFlow 1.4+, so no OFPT_TABLE_MOD
 *   is ever sent in 1.3; only "mod-table T name:X" works, as a
 *   TABLE_FEATURES multipart request carrying the new features;
 * - insert-buckets / remove-buckets, dump-table-desc: OpenFlow 1.4/1.5 only;
 * - group selection_method / bucket_id: accepted but silently dropped in 1.3;
 * - diff-flows compares against a file only (its switch side is dump-flows);
 * - dump-tlv-map, dump-ipfix-*, ct-flush: Nicira-only requests whose replies
 *   the fake switch does not produce.
 */
export const OVS_OFCTL_CASES: OvsOfctlCase[] = [
  // --- matches -------------------------------------------------------------
  addFlow('in_port=1,actions=output:2'),
  addFlow('in_port=LOCAL,actions=output:CONTROLLER'),
  addFlow('dl_src=00:11:22:33:44:55,dl_dst=66:77:88:99:aa:bb,actions=drop'),
  addFlow('dl_src=00:11:22:33:44:55/ff:ff:ff:00:00:00,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=drop'),
  addFlow('dl_vlan=100,actions=drop'),
  addFlow('vlan_vid=0x1064,actions=drop'),
  addFlow('vlan_vid=0x1000/0x1000,actions=drop'),
  addFlow('dl_vlan=100,dl_vlan_pcp=3,actions=drop'),
  addFlow('vlan_tci=0x1064/0x1fff,vlan_pcp=5,actions=drop'),
  addFlow('dl_type=0x0800,actions=drop'),
  addFlow('ip,actions=drop'),
  addFlow('ipv6,actions=drop'),
  addFlow('arp,actions=drop'),
  addFlow('tcp,actions=drop'),
  addFlow('udp,actions=drop'),
  addFlow('sctp,actions=drop'),
  addFlow('icmp,actions=drop'),
  addFlow('icmp6,actions=drop'),
  addFlow('tcp6,tp_dst=22,actions=drop'),
  addFlow('udp6,udp_dst=53,actions=drop'),
  addFlow('sctp6,sctp_dst=53,actions=drop'),
  addFlow('ip,nw_src=10.0.0.0/8,nw_dst=192.168.1.0/255.255.255.0,actions=drop'),
  addFlow('ip,nw_src=10.1.2.3,nw_dst=10.3.2.1,nw_proto=17,actions=drop'),
  addFlow('ipv6,ipv6_src=2001:db8::/32,ipv6_dst=fe80::1/64,actions=drop'),
  addFlow('ipv6,ipv6_src=2001:db8::1,ipv6_dst=2001:db8::2,actions=drop'),
  addFlow('ipv6,ipv6_label=0x12345,actions=drop'),
  addFlow('ipv6,ipv6_label=0x12345/0xf0000,actions=drop'),
  addFlow('ip,nw_tos=32,actions=drop'),
  addFlow('ip,ip_dscp=8,actions=drop'),
  addFlow('ip,nw_ecn=1,actions=drop'),
  addFlow('ip,ip_ecn=2,actions=drop'),
  addFlow('tcp,tp_src=80,tp_dst=443,actions=drop'),
  addFlow('tcp,tcp_src=0x1000/0xf000,tcp_dst=8080,actions=drop'),
  addFlow('udp,udp_src=53,udp_dst=0x0100/0xff00,actions=drop'),
  addFlow('sctp,sctp_src=9,sctp_dst=10,actions=drop'),
  addFlow('icmp,icmp_type=8,icmp_code=0,actions=drop'),
  addFlow('icmp6,icmp_type=128,icmp_code=0,actions=drop'),
  addFlow('icmp6,icmpv6_type=129,icmpv6_code=0,actions=drop'),
  addFlow('arp,arp_op=1,arp_spa=10.0.0.1,arp_tpa=10.0.0.0/24,arp_sha=00:11:22:33:44:55,arp_tha=00:00:00:00:00:00,actions=drop'),
  addFlow('arp,arp_sha=00:11:22:00:00:00/ff:ff:ff:00:00:00,arp_tha=00:00:00:00:00:01/00:00:00:00:00:ff,actions=drop'),
  addFlow('icmp6,icmp_type=135,nd_target=fe80::1,nd_sll=00:11:22:33:44:55,actions=drop'),
  addFlow('icmp6,icmp_type=136,nd_target=fe80::2,nd_tll=00:11:22:33:44:66,actions=drop'),
  addFlow('mpls,mpls_label=100,mpls_tc=3,mpls_bos=1,actions=drop'),
  addFlow('dl_type=0x8848,mpls_label=5,actions=drop'),
  addFlow('tun_id=0x1234,actions=drop'),
  addFlow('tun_id=0x1234/0xffff,actions=drop'),
  addFlow('tunnel_id=0x5678/0xff00,actions=drop'),
  addFlow('metadata=0x1,actions=drop'),
  addFlow('metadata=0x1/0xff,actions=drop'),
  // --- flow_mod fields and flags -------------------------------------------
  addFlow('cookie=0x123456789abcdef0,table=5,priority=1000,idle_timeout=30,hard_timeout=60,actions=drop'),
  addFlow('send_flow_rem,actions=drop'),
  addFlow('check_overlap,actions=drop'),
  addFlow('reset_counts,actions=drop'),
  addFlow('no_packet_counts,no_byte_counts,actions=drop'),
  addFlow('send_flow_rem,check_overlap,reset_counts,no_packet_counts,no_byte_counts,actions=drop'),
  // --- actions and instructions ---------------------------------------------
  addFlow('actions=in_port'),
  addFlow('in_port=1,actions=IN_PORT'),
  addFlow('actions=CONTROLLER:128'),
  addFlow('actions=controller'),
  addFlow('actions=FLOOD,ALL,LOCAL,NORMAL'),
  addFlow('actions=drop'),
  addFlow('actions='),
  addFlow('actions=set_queue:1,output:2'),
  addFlow('actions=group:1'),
  addFlow('actions=push_vlan:0x8100,set_field:4196->vlan_vid,output:1'),
  addFlow('vlan_tci=0x1000/0x1000,actions=pop_vlan,output:1'),
  addFlow('dl_vlan=10,actions=strip_vlan,output:1'),
  addFlow('ip,actions=push_mpls:0x8847,set_mpls_label:10,set_mpls_tc:3,set_mpls_ttl:64,output:1'),
  addFlow('mpls,actions=pop_mpls:0x0800,output:1'),
  addFlow('mpls,actions=dec_mpls_ttl,output:1'),
  addFlow('mpls,actions=set_mpls_ttl:10,output:1'),
  addFlow('ip,actions=set_nw_ttl:10,output:1'),
  addFlow('ip,actions=mod_nw_ttl:3,output:1'),
  addFlow('ip,actions=dec_ttl,output:1'),
  addFlow('ip,actions=set_field:10.0.0.1->nw_src,set_field:10.0.0.2->ip_dst,output:1'),
  addFlow('actions=set_field:00:11:22:33:44:55->eth_dst,set_field:00:11:22:33:44:66->eth_src,output:1'),
  addFlow('ip,actions=set_field:5->ip_dscp,set_field:1->ip_ecn,output:1'),
  addFlow('tcp,actions=set_field:80->tcp_dst,set_field:81->tcp_src,output:1'),
  addFlow('udp,actions=set_field:53->udp_dst,set_field:54->udp_src,output:1'),
  addFlow('sctp,actions=set_field:9->sctp_dst,output:1'),
  addFlow('ipv6,actions=set_field:2001:db8::1->ipv6_src,set_field:2001:db8::2->ipv6_dst,set_field:0x12345->ipv6_label,output:1'),
  addFlow('mpls,actions=set_field:100->mpls_label,set_field:3->mpls_tc,output:1'),
  addFlow('actions=set_field:0x1234->tun_id,output:1'),
  addFlow('actions=set_field:0x1->metadata,goto_table:1'),
  addFlow('arp,actions=set_field:2->arp_op,set_field:10.0.0.1->arp_spa,set_field:10.0.0.2->arp_tpa,set_field:00:11:22:33:44:55->arp_sha,set_field:00:11:22:33:44:66->arp_tha,output:1'),
  addFlow('icmp,actions=set_field:0->icmp_type,set_field:0->icmp_code,output:1'),
  addFlow('icmp6,icmp_type=135,actions=set_field:fe80::9->nd_target,set_field:00:11:22:33:44:55->nd_sll,output:1'),
  addFlow('dl_vlan=1,actions=set_field:5->vlan_pcp,output:1'),
  addFlow('actions=mod_dl_src:00:11:22:33:44:55,mod_dl_dst:00:11:22:33:44:66,output:1'),
  addFlow('ip,actions=mod_nw_src:10.0.0.1,mod_nw_dst:10.0.0.2,mod_nw_tos:32,mod_nw_ecn:1,output:1'),
  addFlow('tcp,actions=mod_tp_src:1,mod_tp_dst:2,output:1'),
  addFlow('actions=mod_vlan_vid:10,mod_vlan_pcp:3,output:1'),
  addFlow('actions=write_actions(output:1)'),
  addFlow('actions=clear_actions'),
  addFlow('actions=write_metadata:0x1/0xff,goto_table:2'),
  addFlow('actions=write_metadata:0x1234'),
  addFlow('actions=goto_table:1'),
  addFlow('actions=meter:1,output:1'),
  addFlow('table=1,actions=meter:1,output:1,clear_actions,write_actions(group:1,output:2),write_metadata:0x10/0xf0,goto_table:3'),
  // --- Nicira / ONF extensions that ovs-ofctl uses even in OpenFlow 1.3 ------
  addFlow('ip,nw_frag=first,actions=drop', 'match nw_frag -> NXM_NX_IP_FRAG (class 0x0001)'),
  addFlow('ip,nw_ttl=5,actions=drop', 'match nw_ttl -> NXM_NX_IP_TTL (class 0x0001): no OXM for IP TTL in 1.3'),
  addFlow('reg0=5,actions=drop', 'match reg0 -> NXM_NX_REG0 (class 0x0001)'),
  addFlow('tcp,tcp_flags=+syn-ack,actions=drop', 'match tcp_flags -> ONF experimenter OXM (class 0xffff, ONF 0x4f4e4600, field 42)'),
  addFlow('actions=controller(max_len=200,reason=no_match)', 'NXAST_CONTROLLER (20) when reason/id is given'),
  addFlow('actions=controller(userdata=01.02)', 'NXAST_CONTROLLER2 (37)'),
  addFlow('actions=enqueue:2:1', 'enqueue -> set_queue, output, NXAST_POP_QUEUE (5)'),
  addFlow('ip,actions=dec_ttl(1,2),output:1', 'dec_ttl with controller ids -> NXAST_DEC_TTL_CNT_IDS (21)'),
  addFlow('actions=set_field:0x1/0xff->metadata,goto_table:1', 'masked set_field -> NXAST_REG_LOAD (7)'),
  addFlow('ip,actions=set_field:10.0.0.0/255.0.0.0->nw_src,output:1', 'masked set_field -> NXAST_REG_LOAD (7)'),
  addFlow('actions=resubmit(,2)', 'NXAST_RESUBMIT_TABLE (14)'),
  addFlow('actions=load:0x5->NXM_NX_REG0[]', 'NXAST_REG_LOAD (7)'),
  addFlow('actions=move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]', 'NXAST_REG_MOVE (6)'),
  addFlow('actions=note:01.02', 'NXAST_NOTE (8)'),
  addFlow('actions=learn(table=1,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[])', 'NXAST_LEARN (16)'),
  addFlow('actions=output:NXM_NX_REG0[0..15]', 'NXAST_OUTPUT_REG (15)'),
  addFlow('ip,actions=ct(commit)', 'NXAST_CT (35)'),
  // --- flow table modifications ----------------------------------------------
  cmd(['mod-flows', 'in_port=1,actions=output:3'], OFPT.FLOW_MOD),
  cmd(['mod-flows', 'cookie=0x10/0xff,actions=output:3'], OFPT.FLOW_MOD),
  cmd(['--strict', 'mod-flows', 'priority=100,in_port=1,actions=output:3'], OFPT.FLOW_MOD),
  cmd(['del-flows'], OFPT.FLOW_MOD),
  cmd(['del-flows', 'in_port=1'], OFPT.FLOW_MOD),
  cmd(['del-flows', 'table=1,cookie=0x10/0xff'], OFPT.FLOW_MOD),
  cmd(['--strict', 'del-flows', 'priority=100,in_port=1,out_port=2'], OFPT.FLOW_MOD),
  cmd(['del-flows', 'out_group=1'], OFPT.FLOW_MOD),
  cmd(['del-flows', 'in_port=1,out_port=2,out_group=5'], OFPT.FLOW_MOD),
  cmd(['add-flows', '-'], OFPT.FLOW_MOD, {
    name: 'add-flows - (stdin)',
    stdin: 'in_port=1,actions=output:2\npriority=5,ip,actions=drop\n',
  }),
  cmd(['replace-flows', '-'], OFPT.FLOW_MOD, { name: 'replace-flows - (stdin)', stdin: 'in_port=1,actions=output:2\n' }),
  cmd(['--bundle', 'add-flows', '-'], OFPT.EXPERIMENTER, {
    name: '--bundle add-flows - (stdin)',
    stdin: 'in_port=1,actions=output:2\npriority=5,ip,actions=drop\n',
    ext: 'ONF bundle extension (experimenter 0x4f4e4600): BUNDLE_CONTROL 2300 OPEN, BUNDLE_ADD_MESSAGE 2301 per flow_mod, barrier, BUNDLE_CONTROL COMMIT (no CLOSE)',
  }),
  cmd(['--bundle', 'add-flow', 'in_port=1,actions=output:2'], OFPT.EXPERIMENTER, { ext: 'ONF bundle extension' }),
  cmd(['--bundle', 'del-flows'], OFPT.EXPERIMENTER, { ext: 'ONF bundle extension' }),
  cmd(['--bundle', 'add-group', 'group_id=1,type=all,bucket=output:1'], OFPT.EXPERIMENTER, { ext: 'ONF bundle extension' }),
  // --- groups ------------------------------------------------------------------
  cmd(['add-group', 'group_id=1,type=all,bucket=output:1,bucket=output:2'], OFPT.GROUP_MOD),
  cmd(['add-group', 'group_id=2,type=select,bucket=weight:10,actions=output:1,bucket=weight:20,actions=output:2'], OFPT.GROUP_MOD),
  cmd(['add-group', 'group_id=3,type=indirect,bucket=actions=set_field:00:11:22:33:44:55->eth_dst,output:1'], OFPT.GROUP_MOD),
  cmd(['add-group', 'group_id=4,type=ff,bucket=watch_port:1,actions=output:1,bucket=watch_group:3,actions=group:3'], OFPT.GROUP_MOD),
  cmd(['add-group', 'group_id=5,type=fast_failover,bucket=watch_port:1,watch_group:3,actions=output:1'], OFPT.GROUP_MOD),
  cmd(['add-group', 'group_id=6,type=all'], OFPT.GROUP_MOD),
  cmd(['add-groups', '-'], OFPT.GROUP_MOD, {
    name: 'add-groups - (stdin)',
    stdin: 'group_id=1,type=all,bucket=output:1\ngroup_id=2,type=indirect,bucket=output:2\n',
  }),
  cmd(['mod-group', 'group_id=1,type=all,bucket=output:3'], OFPT.GROUP_MOD),
  cmd(['--may-create', 'mod-group', 'group_id=1,type=all,bucket=output:3'], OFPT.GROUP_MOD, {
    ext: 'group_mod command OFPGC_ADD_OR_MOD 0x8000 (OVS extension value)',
  }),
  cmd(['del-groups'], OFPT.GROUP_MOD),
  cmd(['del-groups', 'group_id=1'], OFPT.GROUP_MOD),
  // --- meters ------------------------------------------------------------------
  cmd(['add-meter', 'meter=1,kbps,burst,stats,bands=type=drop,rate=1000,burst_size=100'], OFPT.METER_MOD),
  cmd(['add-meter', 'meter=2,pktps,bands=type=dscp_remark,rate=100,prec_level=1'], OFPT.METER_MOD),
  cmd(['add-meter', 'meter=3,kbps,bands=type=drop,rate=1000,type=dscp_remark,rate=500,prec_level=2'], OFPT.METER_MOD),
  cmd(['add-meter', 'meter=4,pktps,burst,stats,bands=type=drop,rate=10,burst_size=5'], OFPT.METER_MOD),
  cmd(['mod-meter', 'meter=1,kbps,bands=type=drop,rate=2000'], OFPT.METER_MOD),
  cmd(['del-meters'], OFPT.METER_MOD),
  cmd(['del-meters', 'meter=1'], OFPT.METER_MOD),
  cmd(['del-meter', 'meter=2'], OFPT.METER_MOD),
  // --- packet-out ----------------------------------------------------------------
  cmd(['packet-out', `in_port=1 packet=${ARP_PACKET} actions=output:2`], OFPT.PACKET_OUT),
  cmd(['packet-out', `in_port=1,packet=${ARP_PACKET},actions=output:2,output:3`], OFPT.PACKET_OUT),
  cmd(['packet-out', `in_port=controller packet=${ARP_PACKET} actions=set_field:00:11:22:33:44:66->eth_src,flood`], OFPT.PACKET_OUT),
  cmd(['packet-out', `in_port=local packet=${ARP_PACKET} actions=all`], OFPT.PACKET_OUT),
  cmd(['packet-out', '1', 'output:2', ARP_PACKET], OFPT.PACKET_OUT, { name: 'packet-out 1 output:2 <packet> (positional form)' }),
  cmd(['packet-out', 'none', 'output:1', ARP_PACKET], OFPT.PACKET_OUT, { name: 'packet-out none output:1 <packet> (positional form)' }),
  // --- statistics / descriptions ---------------------------------------------
  stats(['dump-flows'], MP.FLOW),
  stats(['dump-flows', 'in_port=1'], MP.FLOW),
  stats(['dump-flows', 'table=1,cookie=0x10/0xff,out_port=2'], MP.FLOW),
  stats(['dump-aggregate'], MP.AGGREGATE),
  stats(['dump-aggregate', 'ip,nw_src=10.0.0.0/8'], MP.AGGREGATE),
  stats(['dump-tables'], MP.TABLE),
  stats(['dump-table-features'], MP.TABLE_FEATURES),
  stats(['dump-desc'], MP.DESC),
  stats(['dump-ports'], MP.PORT_STATS),
  stats(['dump-ports', '1'], MP.PORT_STATS),
  stats(['dump-ports-desc'], MP.PORT_DESC),
  stats(['dump-ports-desc', '1'], MP.PORT_DESC),
  stats(['queue-stats'], MP.QUEUE),
  stats(['queue-stats', '1'], MP.QUEUE),
  stats(['queue-stats', '1', '2'], MP.QUEUE),
  cmd(['queue-get-config'], OFPT.QUEUE_GET_CONFIG_REQUEST),
  cmd(['queue-get-config', '1'], OFPT.QUEUE_GET_CONFIG_REQUEST),
  cmd(['queue-get-config', '1', '2'], OFPT.QUEUE_GET_CONFIG_REQUEST),
  stats(['dump-groups'], MP.GROUP_DESC),
  stats(['dump-groups', '1'], MP.GROUP_DESC),
  stats(['dump-group-stats'], MP.GROUP),
  stats(['dump-group-stats', 'group_id=1'], MP.GROUP),
  stats(['dump-group-features'], MP.GROUP_FEATURES),
  stats(['dump-meters'], MP.METER_CONFIG),
  stats(['dump-meters', 'meter=1'], MP.METER_CONFIG),
  stats(['meter-stats'], MP.METER),
  stats(['meter-stats', 'meter=1'], MP.METER),
  stats(['meter-features'], MP.METER_FEATURES),
  // --- switch configuration ---------------------------------------------------
  cmd(['show'], OFPT.FEATURES_REQUEST),
  cmd(['get-frags'], OFPT.GET_CONFIG_REQUEST),
  cmd(['set-frags', 'normal'], OFPT.GET_CONFIG_REQUEST, { name: 'set-frags normal (already normal: only reads the config)' }),
  cmd(['set-frags', 'drop'], OFPT.SET_CONFIG),
  cmd(['set-frags', 'reassemble'], OFPT.SET_CONFIG),
  cmd(['set-frags', 'nx-match'], OFPT.SET_CONFIG, { ext: 'SET_CONFIG flags=3 (OVS OFPC_FRAG_NX_MATCH; 3 is OFPC_FRAG_MASK in OF1.3)' }),
  ...['up', 'down', 'no-flood', 'flood', 'no-receive', 'receive', 'no-forward', 'forward', 'no-packet-in', 'packet-in'].map((act) =>
    cmd(['mod-port', '1', act], OFPT.PORT_MOD, { ports: [1] }),
  ),
  cmd(['mod-port', 'p1', 'down'], OFPT.PORT_MOD, { ports: [1] }),
  cmd(['mod-table', '0', 'name:foo'], OFPT.MULTIPART_REQUEST, {
    expectMultipart: MP.TABLE_FEATURES,
    name: 'mod-table 0 name:foo (TABLE_FEATURES set request)',
  }),
  cmd(['probe'], OFPT.ECHO_REQUEST),
  cmd(['ping', '16'], OFPT.ECHO_REQUEST),
];

/** The cases whose messages use only the OpenFlow 1.3 specification. */
export const OVS_OFCTL_STANDARD_CASES: OvsOfctlCase[] = OVS_OFCTL_CASES.filter((c) => c.ext === undefined);

/**
 * Runs `ovs-ofctl -O OpenFlow13 ARGS` asynchronously (the switch under test may live in this same
 * process, so the event loop must keep running); SIGKILL by PID after `timeoutMs`.
 */
export function runOvsOfctl(args: readonly string[], timeoutMs = 15_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  requireTool('ovs-ofctl');
  return new Promise((resolve, reject) => {
    const child = spawn(findTool('ovs-ofctl')!, ['-O', 'OpenFlow13', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => { if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL'); }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}
