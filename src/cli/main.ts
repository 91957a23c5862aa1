/**
 * `ofswitch`: the command line. Each subcommand is a function of (args, io) returning an exit
 * status, so tests run them in-process as well as through the binary.
 */

import { readFileSync } from 'node:fs';
import { decode, encode, fromJson, toJson, formatMessage, formatError, fromHex, toHex, OFPP } from '../openflow/index.js';
import { configureLogging, isLogLevel, logger, LOG_LEVELS, type Logger, type LogFormat, type LogLevel } from '../common/log.js';
import { dpidFor } from '../ofproto/ofproto.js';
import { buildSwitch, type RunningSwitch } from './switch.js';
import { warmUp } from './warmup.js';
import { parsePortSpec } from './port-spec.js';
import { loadConfig, type BridgeStart } from './config.js';
import { defaultSocketPath, sendCommand } from './ctl.js';
import type { PortSpec } from '../ofproto/ports.js';
import { formatTarget, isPassive, parseTarget, type Target } from '../ofproto/target.js';
import { TlsFileSource, type TlsFiles } from '../ofproto/tls.js';

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

Switch:
  start [OPTIONS]            run a switch in the foreground until SIGTERM or SIGINT; it prints
                             "listening on TARGET" for each passive listener, logs to stderr
    --bridge NAME            bridge name, also the LOCAL port's name (default br0)
    --dpid HEX               datapath id, 1 to 16 hex digits (default: derived from the name)
    --controller TARGET      connect to a controller: tcp:HOST[:PORT], ssl:HOST[:PORT],
                             unix:PATH (repeatable)
    --listen TARGET          accept controllers: ptcp:[PORT][:IP], pssl:[PORT][:IP], punix:PATH
                             (repeatable). With neither --controller nor --listen: listen on
                             ptcp:6634:127.0.0.1 and connect to a controller at tcp:127.0.0.1:6653
    --private-key FILE       PEM private key of the switch, for ssl: and pssl:
    --certificate FILE       PEM certificate for that key, presented to controllers
    --ca-cert FILE           PEM CA certificate: a controller's certificate must be signed by it
                             (both sides verify each other; host names are not checked, as in OVS)
    --port NAME[@OFPORT][,type=TYPE][,KEY=VALUE...]
                             add a port, with the OpenFlow number asked for (repeatable).
                             type=dummy (default): an in-memory port; rx_pcap=FILE frames it
                             receives at start, tx_pcap=FILE where frames it sends are appended.
                             type=patch,peer=NAME: a wire to the patch port NAME.
                             type=system: the existing interface NAME; type=tap: a TAP device
                             (both need root and the native addon).
                             type=vxlan|geneve,remote_ip=IP|flow[,key=VNI|flow][,local_ip=IP]
                             [,dst_port=N]: a UDP tunnel (key=flow: the VNI is OpenFlow's
                             tunnel_id; remote_ip=flow: learned from what arrives)
                             type=gre,remote_ip=IP|flow[,key=N|flow][,local_ip=IP][,csum=true]:
                             a GRE tunnel carrying Ethernet (the 32-bit GRE key is tunnel_id;
                             no key: none sent; root and the native addon needed)
    --socket PATH            serve the control socket there (default
                             $OFSWITCH_RUNDIR/ofswitch.ctl, OFSWITCH_RUNDIR defaulting to /tmp)
    --local-port dummy|internal
                             the LOCAL port: in memory (default), or a TAP device named after the
                             bridge, as Open vSwitch's internal port (root and the addon needed)
    --config FILE            the bridges, their ports, controllers and listeners, TLS files and
                             logging in YAML (README: Configuration file); --bridge, --dpid,
                             --port, --controller, --listen and --fail-mode cannot be given with it
    --fail-mode secure|standalone
                             what to do without a controller (default secure)
    --probe-interval SECONDS inactivity probe interval (default 5; 0 disables)
    --log-level LEVEL        error, warn, info (default) or debug
    --log-format text|json   log line format (default text)
    --warmup on|off          after the start, run a few thousand synthetic packets through a
                             private in-memory bridge so the first packets of real flows find
                             the packet paths compiled (default on; about 0.3 s of CPU, once)

  ctl [--socket PATH] COMMAND [ARGS]
                             send a command to a running switch's control socket and print the
                             answer; "ctl help" lists the commands (dpctl/show, dpctl/dump-flows,
                             dpif/flush, netdev-dummy/receive, ofproto/trace, fdb/show)

Options:
  -h, --help                 show this help
  -V, --version              show the version

Exit status: 0 when every message decoded or encoded, 1 when one did not, 2 for bad usage;
start: 0 after a clean stop on SIGTERM/SIGINT, 1 when it could not start, 2 for bad options;
ctl: 0 when the command succeeded, 1 when the switch refused it or could not be reached, 2 for
bad usage.
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
    case 'start': return usage(io, 'start runs a switch: call run() (the ofswitch binary does)');
    default: return usage(io, `unknown command ${JSON.stringify(cmd)}`);
  }
}

export const processIo: Io = {
  stdout: (line) => process.stdout.write(line.endsWith('\n') ? line : line + '\n'),
  stderr: (line) => process.stderr.write(line + '\n'),
  stdin: () => readFileSync(0, 'utf8'),
};

// ---------------------------------------------------------------------------------------------
// ofswitch start
// ---------------------------------------------------------------------------------------------

export interface StartOptions {
  readonly bridge: string;
  readonly dpid: bigint;
  readonly controllers: readonly Target[];
  readonly listens: readonly Target[];
  readonly ports: readonly PortSpec[];
  readonly failMode: 'secure' | 'standalone';
  readonly logLevel: LogLevel;
  readonly logFormat: LogFormat;
  /** ms; 0 disables */
  readonly probeInterval: number;
  /** The TLS files, when all three were given (required by ssl: and pssl: targets). */
  readonly tls?: TlsFiles;
  /** The control socket's path, when --socket was given. */
  readonly socket?: string;
  /** Every bridge to start: the one the flags describe, or those of --config. */
  readonly bridges: readonly BridgeStart[];
  /** Warm the packet paths up after the start (warmup.ts); --warmup off says no. */
  readonly warmup: boolean;
}

const START_FLAGS = new Set([
  '--bridge', '--dpid', '--controller', '--listen', '--port', '--fail-mode', '--log-level', '--log-format', '--probe-interval',
  '--private-key', '--certificate', '--ca-cert', '--socket', '--config', '--local-port', '--warmup',
]);

/** Flags that describe a bridge: --config describes the bridges instead. */
const BRIDGE_FLAGS = ['--bridge', '--dpid', '--controller', '--listen', '--port', '--fail-mode', '--local-port'];

const TLS_FLAGS = ['--private-key', '--certificate', '--ca-cert'] as const;

/** Parses the options of `ofswitch start`; a string is the problem to report. */
export function parseStartArgs(args: readonly string[]): StartOptions | string {
  let bridge = 'br0';
  let dpid: bigint | undefined;
  const controllers: Target[] = [];
  const listens: Target[] = [];
  const ports: PortSpec[] = [];
  let failMode: 'secure' | 'standalone' = 'secure';
  let logLevel: LogLevel = 'info';
  let logFormat: LogFormat = 'text';
  let probeInterval = 5000;
  let socket: string | undefined;
  let configFile: string | undefined;
  let local: 'dummy' | 'internal' = 'dummy';
  let warmup = true;
  const given = new Set<string>();
  const tlsFiles = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const flag = a.startsWith('--') && eq > 0 ? a.slice(0, eq) : a;
    if (!START_FLAGS.has(flag)) return `start: unknown option ${JSON.stringify(a)}`;
    given.add(flag);
    let value: string;
    if (flag !== a) value = a.slice(eq + 1);
    else {
      const v = args[++i];
      if (v === undefined) return `start: ${flag} needs a value`;
      value = v;
    }
    switch (flag) {
      case '--bridge':
        if (!/^[A-Za-z0-9_.-]{1,15}$/.test(value)) return `start: --bridge ${JSON.stringify(value)}: a bridge name is 1 to 15 letters, digits, '_', '-' or '.'`;
        bridge = value;
        break;
      case '--dpid': {
        const h = value.replace(/^0x/i, '');
        if (!/^[0-9a-fA-F]{1,16}$/.test(h)) return `start: --dpid ${JSON.stringify(value)}: give 1 to 16 hex digits`;
        dpid = BigInt('0x' + h);
        break;
      }
      case '--controller':
      case '--listen': {
        const t = parseTarget(value);
        if (typeof t === 'string') return `start: ${flag} ${JSON.stringify(value)}: ${t}`;
        const passive = isPassive(t);
        if (flag === '--listen' && !passive) return `start: --listen ${JSON.stringify(value)}: a listener needs a passive target (ptcp:, pssl:, punix:)`;
        if (flag === '--controller' && passive) return `start: --controller ${JSON.stringify(value)}: a controller needs an active target (tcp:, ssl:, unix:); use --listen for ${t.kind}:`;
        (passive ? listens : controllers).push(t);
        break;
      }
      case '--port': {
        const p = parsePortSpec(value);
        if (typeof p === 'string') return `start: ${p}`;
        if (ports.some((q) => q.name === p.name)) return `start: --port ${JSON.stringify(value)}: port ${p.name} is given twice`;
        if (p.ofport !== undefined && ports.some((q) => q.ofport === p.ofport)) return `start: --port ${JSON.stringify(value)}: port number ${p.ofport} is given twice`;
        ports.push(p);
        break;
      }
      case '--fail-mode':
        if (value !== 'secure' && value !== 'standalone') return `start: --fail-mode ${JSON.stringify(value)}: secure or standalone`;
        failMode = value;
        break;
      case '--log-level':
        if (!isLogLevel(value)) return `start: --log-level ${JSON.stringify(value)}: one of ${LOG_LEVELS.join(', ')}`;
        logLevel = value;
        break;
      case '--log-format':
        if (value !== 'text' && value !== 'json') return `start: --log-format ${JSON.stringify(value)}: text or json`;
        logFormat = value;
        break;
      case '--probe-interval': {
        const n = Number(value);
        if (!/^\d+(\.\d+)?$/.test(value) || !Number.isFinite(n) || n > 86400) return `start: --probe-interval ${JSON.stringify(value)}: a number of seconds (0 disables)`;
        probeInterval = Math.round(n * 1000);
        break;
      }
      case '--socket':
        if (value === '') return 'start: --socket needs a path';
        socket = value;
        break;
      case '--config':
        if (value === '') return 'start: --config needs a file name';
        configFile = value;
        break;
      case '--warmup':
        if (value !== 'on' && value !== 'off') return `start: --warmup ${JSON.stringify(value)}: on or off`;
        warmup = value === 'on';
        break;
      case '--local-port':
        if (value !== 'dummy' && value !== 'internal') return `start: --local-port ${JSON.stringify(value)}: dummy or internal`;
        local = value;
        break;
      case '--private-key':
      case '--certificate':
      case '--ca-cert':
        if (value === '') return `start: ${flag} needs a file name`;
        tlsFiles.set(flag, value);
        break;
      default:
        break;
    }
  }
  if (configFile !== undefined) {
    const clash = BRIDGE_FLAGS.filter((f) => given.has(f));
    if (clash.length > 0) return `start: --config describes the bridges; ${clash.join(', ')} cannot be given with it`;
    const cfg = loadConfig(configFile);
    if (typeof cfg === 'string') return `start: ${cfg}`;
    if (tlsFiles.size > 0 && tlsFiles.size < 3) return `start: ${[...tlsFiles.keys()].join(', ')} given without the others: TLS needs all three`;
    const tls = tlsFiles.size === 3
      ? { privateKey: tlsFiles.get('--private-key')!, certificate: tlsFiles.get('--certificate')!, caCert: tlsFiles.get('--ca-cert')! }
      : cfg.tls;
    const first = cfg.bridges[0]!;
    return {
      bridge: first.name, dpid: first.dpid, controllers: first.controllers, listens: first.listens, ports: first.ports, failMode: first.failMode,
      logLevel: given.has('--log-level') ? logLevel : cfg.logLevel ?? logLevel,
      logFormat: given.has('--log-format') ? logFormat : cfg.logFormat ?? logFormat,
      probeInterval: given.has('--probe-interval') ? probeInterval : cfg.probeInterval ?? probeInterval,
      ...(tls !== undefined ? { tls } : {}),
      ...((socket ?? cfg.socket) !== undefined ? { socket: (socket ?? cfg.socket)! } : {}),
      bridges: cfg.bridges, warmup,
    };
  }
  const tlsTargets = [...controllers, ...listens].filter((t) => t.kind === 'ssl' || t.kind === 'pssl');
  const tlsMissing = TLS_FLAGS.filter((f) => !tlsFiles.has(f));
  if (tlsTargets.length > 0 && tlsMissing.length > 0) {
    return `start: ${formatTarget(tlsTargets[0]!)} uses TLS, which needs --private-key, --certificate and --ca-cert (missing: ${tlsMissing.join(', ')})`;
  }
  if (tlsFiles.size > 0 && tlsMissing.length > 0) {
    return `start: ${[...tlsFiles.keys()].join(', ')} given without ${tlsMissing.join(', ')}: TLS needs all three`;
  }
  const tls: TlsFiles | undefined = tlsMissing.length === 0
    ? { privateKey: tlsFiles.get('--private-key')!, certificate: tlsFiles.get('--certificate')!, caCert: tlsFiles.get('--ca-cert')! }
    : undefined;
  if (ports.some((p) => p.name === bridge)) return `start: a port may not be named ${bridge}: that is the bridge's LOCAL port`;
  for (const p of ports) {
    if (p.type !== 'patch') continue;
    const peer = ports.find((q) => q.name === p.options?.['peer']);
    if (peer === undefined || peer.type !== 'patch' || peer.options?.['peer'] !== p.name) {
      return `start: patch port ${p.name}: its peer ${p.options?.['peer']} must be a patch port given with peer=${p.name}`;
    }
  }
  // The embedded default: ovs-ofctl and friends on ptcp:6634, a controller expected on 6653.
  if (listens.length === 0 && controllers.length === 0) {
    listens.push({ kind: 'ptcp', port: 6634, host: '127.0.0.1' });
    controllers.push({ kind: 'tcp', port: 6653, host: '127.0.0.1' });
  }
  const id = dpid ?? dpidFor(bridge);
  return {
    bridge, dpid: id, controllers, listens, ports, failMode, logLevel, logFormat, probeInterval,
    ...(tls !== undefined ? { tls } : {}), ...(socket !== undefined ? { socket } : {}),
    bridges: [{ name: bridge, dpid: id, ports, controllers, listens, failMode, local }], warmup,
  };
}

/** `ofswitch start`: runs until SIGTERM or SIGINT; resolves with the exit status. */
export async function start(args: readonly string[], io: Io): Promise<number> {
  const o = parseStartArgs(args);
  if (typeof o === 'string') return usage(io, o);
  // The TLS files are read here, before anything starts: a missing or bad file is a usage error.
  // Later they are read again when they change (certificate rotation, tls.ts): a replacement
  // that cannot be used is logged and the credentials in use stay.
  let log: Logger | undefined;
  const tls = o.tls === undefined ? undefined : TlsFileSource.load(o.tls, {
    onReload: (files) => log?.info('TLS credentials reloaded', { privateKey: files.privateKey, certificate: files.certificate, caCert: files.caCert }),
    onError: (error) => log?.warn('TLS files changed but cannot be used; keeping the previous credentials', { error }),
  });
  if (typeof tls === 'string') return usage(io, `start: ${tls}`);
  configureLogging({ level: o.logLevel, format: o.logFormat });
  log = logger('cli');
  // The control socket: the one asked for (its failure stops the start), or the default one
  // when it is free (a second switch on the machine runs without one and says so).
  const socketPath = o.socket ?? defaultSocketPath();
  let running: RunningSwitch;
  try {
    running = await buildSwitch({
      bridge: o.bridge, datapathId: o.dpid, ports: o.ports, probeInterval: o.probeInterval, failMode: o.failMode,
      swVersion: `ofswitch ${version()}`, socket: socketPath, ...(tls !== undefined ? { tls } : {}), local: o.bridges[0]!.local,
    });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (o.socket !== undefined || !msg.startsWith('control socket')) {
      io.stderr(`ofswitch: start: ${msg}`);
      return 1;
    }
    log.warn('running without a control socket', { reason: msg });
    try {
      running = await buildSwitch({
        bridge: o.bridge, datapathId: o.dpid, ports: o.ports, probeInterval: o.probeInterval, failMode: o.failMode,
        swVersion: `ofswitch ${version()}`, ...(tls !== undefined ? { tls } : {}), local: o.bridges[0]!.local,
      });
    } catch (e2) {
      io.stderr(`ofswitch: start: ${e2 instanceof Error ? e2.message : String(e2)}`);
      return 1;
    }
  }
  if (running.control !== undefined) io.stdout(`control socket ${running.control.path}`);
  try {
    // The other bridges of a configuration file (the first came with buildSwitch).
    for (const b of o.bridges.slice(1)) {
      const r = await running.addBridge({
        bridge: b.name, datapathId: b.dpid, ports: b.ports, failMode: b.failMode, probeInterval: o.probeInterval,
        swVersion: `ofswitch ${version()}`, local: b.local,
      });
      if (typeof r === 'string') throw new Error(`bridge ${b.name}: ${r}`);
    }
    for (const b of o.bridges) {
      const sw = running.bridgeNamed(b.name)!.ofproto;
      log.info('switch up', {
        bridge: b.name, dpid: b.dpid.toString(16).padStart(16, '0'),
        ports: sw.ports.list().map((p) => `${p.name}@${p.portNo === OFPP.LOCAL ? 'LOCAL' : p.portNo}`),
      });
      if (b.failMode === 'standalone') {
        sw.failMode.changes$.subscribe((open) => log.info(open ? 'no controller: failed open (standalone)' : 'controller back: leaving standalone', { bridge: b.name }));
      }
      if (tls !== undefined) {
        // Refused TLS peers of a listener (bad or missing certificate, failed handshake).
        sw.connmgr.events$.subscribe((ev) => {
          if (ev.type === 'accept-failed') log?.warn('controller refused', { listener: ev.target, peer: ev.peer, error: ev.error });
          else if (ev.type === 'tls-error') log?.warn('TLS credentials not taken up', { listener: ev.target, error: ev.error });
        });
      }
      for (const t of b.listens) {
        const l = await running.listen(b.name, formatTarget(t));
        io.stdout(`listening on ${l.address}`);
      }
      const err = running.setControllers(b.name, b.controllers.map(formatTarget));
      if (err !== undefined) throw new Error(err);
      for (const t of b.controllers) log.info('controller target added', { bridge: b.name, target: formatTarget(t) });
    }
  } catch (e) {
    io.stderr(`ofswitch: start: ${e instanceof Error ? e.message : String(e)}`);
    await running.close();
    return 1;
  }
  const warming = new AbortController();
  if (o.warmup) {
    warmUp({ signal: warming.signal }).then(
      (r) => log.debug('packet paths warmed up', { ...r }),
      (e: unknown) => log.warn('warm-up failed (the switch is not affected)', { error: e instanceof Error ? e.message : String(e) }),
    );
  }
  const signal = await new Promise<string>((resolve) => {
    const on = (s: string): void => {
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      resolve(s);
    };
    const onTerm = (): void => on('SIGTERM');
    const onInt = (): void => on('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  log.info('stopping', { signal });
  warming.abort();
  await running.close();
  return 0;
}

/** `ofswitch ctl [--socket PATH] COMMAND [ARGS]`. */
export async function ctl(args: readonly string[], io: Io): Promise<number> {
  let path = defaultSocketPath();
  let rest = args;
  if (rest[0] === '--socket') {
    if (rest[1] === undefined) return usage(io, 'ctl: --socket needs a path');
    path = rest[1];
    rest = rest.slice(2);
  } else if (rest[0]?.startsWith('--socket=')) {
    path = rest[0].slice('--socket='.length);
    rest = rest.slice(1);
  }
  if (rest.length === 0) return usage(io, 'ctl: give a command ("ofswitch ctl help" lists them)');
  try {
    const r = await sendCommand(path, rest);
    if (!r.ok) {
      io.stderr(`ofswitch: ctl: ${r.error ?? 'failed'}`);
      return 1;
    }
    if (r.text !== undefined && r.text !== '') io.stdout(r.text);
    return 0;
  } catch (e) {
    io.stderr(`ofswitch: ctl: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}

/** Every command, `start` included (it is asynchronous): what the binary calls. */
export function run(argv: readonly string[], io: Io): number | Promise<number> {
  if (argv[0] === 'start') return start(argv.slice(1), io);
  if (argv[0] === 'ctl') return ctl(argv.slice(1), io);
  return main(argv, io);
}
