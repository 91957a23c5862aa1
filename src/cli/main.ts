/**
 * `ofswitch`: the command line. Each subcommand is a function of (args, io) returning an exit
 * status, so tests run them in-process as well as through the binary.
 */

import { readFileSync } from 'node:fs';
import { decode, encode, fromJson, toJson, formatMessage, formatError, fromHex, toHex } from '../openflow/index.js';

export interface Io {
  readonly stdout: (line: string) => void;
  readonly stderr: (line: string) => void;
  readonly stdin: () => string;
}

const HELP = `usage: ofswitch COMMAND [ARGS]

OpenFlow 1.3 software switch.

Codec commands:
  ofp-print [--json] HEX     decode one or more concatenated OpenFlow messages given as hex
  ofp-print [--json] -       the same, reading the hex from standard input
  ofp-encode                 read messages in the JSON form, one per line, from standard input,
                             and print each one's hex on its own line

Options:
  -h, --help                 show this help
  -V, --version              show the version

Exit status: 0 when every message decoded or encoded, 1 when one did not, 2 for bad usage.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function ofpPrint(args: readonly string[], io: Io): number {
  const json = args.includes('--json');
  const rest = args.filter((a) => a !== '--json');
  const unknown = rest.find((a) => a.startsWith('--'));
  if (unknown !== undefined) return usage(io, `ofp-print: unknown option ${unknown}`);
  if (rest.length === 0) return usage(io, 'ofp-print: give the message as hex, or - to read it from standard input');
  const text = rest.length === 1 && rest[0] === '-' ? io.stdin() : rest.join('');
  const bytes = fromHex(text);
  if (bytes === undefined) return usage(io, 'ofp-print: the input is not hex (an even number of 0-9a-f digits)');
  if (bytes.length === 0) return usage(io, 'ofp-print: no bytes given');
  let status = 0;
  let o = 0;
  while (o < bytes.length) {
    if (bytes.length - o < 8) {
      io.stdout(`${bytes.length - o} trailing bytes, too short for an OpenFlow header: ${toHex(bytes.subarray(o))}`);
      return 1;
    }
    const len = bytes.readUInt16BE(o + 2);
    if (len < 8 || len > bytes.length - o) {
      io.stdout(`message at byte ${o} declares length ${len} but ${bytes.length - o} bytes remain: ${toHex(bytes.subarray(o, o + 8))}`);
      return 1;
    }
    const r = decode(bytes.subarray(o, o + len));
    if (r.ok) io.stdout(json ? JSON.stringify(toJson(r.msg)) : formatMessage(r.msg));
    else {
      status = 1;
      io.stdout(json
        ? JSON.stringify({ error: r.error.name, errType: r.error.errType, code: r.error.code, text: r.error.text, data: toHex(r.error.data) })
        : formatError(r.error));
    }
    o += len;
  }
  return status;
}

export function ofpEncode(args: readonly string[], io: Io): number {
  if (args.length > 0) return usage(io, 'ofp-encode: takes no arguments; it reads JSON lines from standard input');
  let status = 0;
  const lines = io.stdin().split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      io.stdout(toHex(encode(fromJson(JSON.parse(line)))));
    } catch (e) {
      status = 1;
      io.stderr(`line ${i + 1}: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  return status;
}

function usage(io: Io, problem?: string): number {
  if (problem) io.stderr(`ofswitch: ${problem}\n(run "ofswitch --help" for usage)`);
  else io.stdout(HELP);
  return problem ? 2 : 0;
}

export function main(argv: readonly string[], io: Io): number {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case undefined: case '-h': case '--help': case 'help': return usage(io);
    case '-V': case '--version': io.stdout(version()); return 0;
    case 'ofp-print': return ofpPrint(args, io);
    case 'ofp-encode': return ofpEncode(args, io);
    default: return usage(io, `unknown command ${JSON.stringify(cmd)}`);
  }
}

export const processIo: Io = {
  stdout: (line) => process.stdout.write(line.endsWith('\n') ? line : line + '\n'),
  stderr: (line) => process.stderr.write(line + '\n'),
  stdin: () => readFileSync(0, 'utf8'),
};
