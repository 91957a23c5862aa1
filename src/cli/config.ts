/**
 * `ofswitch start --config FILE`: the switch described in YAML. Every mistake is reported with
 * the file and the path of the key (`switch.yaml: bridges.br0.ports.p1.type: ...`), and nothing
 * starts until the whole file is right.
 *
 *   bridges:
 *     br0:
 *       datapath-id: 0x1              # hex; default: derived from the name
 *       fail-mode: secure             # or standalone
 *       controllers: [tcp:127.0.0.1:6653]
 *       listen: [ptcp:6634]
 *       local: internal               # the LOCAL port as a TAP (root); default: in memory
 *       ports:
 *         p1: {ofport: 1, type: dummy, tx_pcap: /tmp/p1.pcap}
 *         veth0: {type: system}
 *         pa: {type: patch, peer: pb}
 *         gre0: {type: gre, remote_ip: 192.0.2.2, key: 42, csum: true}   # root, native addon
 *   tls: {private-key: key.pem, certificate: cert.pem, ca-cert: ca.pem}
 *   log-level: info                   # error, warn, info, debug
 *   log-format: text                  # or json
 *   probe-interval: 5                 # seconds; 0 disables
 *   socket: /tmp/ofswitch.ctl         # the control socket
 *
 * A port's keys other than ofport and type are its options, checked as `--port` checks them.
 */

import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { isLogLevel, LOG_LEVELS, type LogFormat, type LogLevel } from '../common/log.js';
import { dpidFor } from '../ofproto/ofproto.js';
import { isPassive, parseTarget, type Target } from '../ofproto/target.js';
import type { TlsFiles } from '../ofproto/tls.js';
import type { PortSpec } from '../ofproto/ports.js';
import { parsePortSpec } from './port-spec.js';

export interface BridgeStart {
  readonly name: string;
  readonly dpid: bigint;
  readonly ports: readonly PortSpec[];
  readonly controllers: readonly Target[];
  readonly listens: readonly Target[];
  readonly failMode: 'secure' | 'standalone';
  /** The LOCAL port: in memory (dummy, default) or a TAP device named after the bridge (internal). */
  readonly local: 'dummy' | 'internal';
}

export interface SwitchConfig {
  readonly bridges: readonly BridgeStart[];
  readonly tls?: TlsFiles;
  readonly logLevel?: LogLevel;
  readonly logFormat?: LogFormat;
  /** ms */
  readonly probeInterval?: number;
  readonly socket?: string;
}

const TOP_KEYS = ['bridges', 'tls', 'log-level', 'log-format', 'probe-interval', 'socket'];
const BRIDGE_KEYS = ['datapath-id', 'fail-mode', 'controllers', 'listen', 'ports', 'local'];

class ConfigError extends Error {}

const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function fail(path: string, msg: string): never {
  throw new ConfigError(`${path}: ${msg}`);
}

function mapAt(v: unknown, path: string, allowed?: readonly string[]): Record<string, unknown> {
  if (!isMap(v)) fail(path, 'expected a mapping (key: value)');
  if (allowed !== undefined) {
    for (const k of Object.keys(v)) if (!allowed.includes(k)) fail(`${path}.${k}`, `unknown key (known: ${allowed.join(', ')})`);
  }
  return v;
}

function stringAt(v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') fail(path, 'expected a non-empty string');
  return v;
}

function targets(v: unknown, path: string, passive: boolean): Target[] {
  if (v === undefined || v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  return list.map((x, i) => {
    const at = `${path}[${i}]`;
    const t = parseTarget(stringAt(x, at));
    if (typeof t === 'string') fail(at, t);
    if (isPassive(t) !== passive) fail(at, passive ? 'a listener needs a passive target (ptcp:, pssl:, punix:)' : 'a controller needs an active target (tcp:, ssl:, unix:)');
    return t;
  });
}

function portOf(name: string, v: unknown, path: string): PortSpec {
  const m = v === null || v === undefined ? {} : mapAt(v, path);
  // Reuse the --port syntax's checks: NAME[@OFPORT],type=T,key=value...
  let text = name;
  const opts: string[] = [];
  for (const [k, x] of Object.entries(m)) {
    // A boolean for flags such as a gre port's csum: true.
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') fail(`${path}.${k}`, 'expected a string, a number or true/false');
    if (k === 'ofport') text = `${name}@${x}`;
    else opts.push(`${k}=${x}`);
  }
  const spec = parsePortSpec([text, ...opts].join(','));
  if (typeof spec === 'string') fail(path, spec.replace(/^--port "[^"]*": /, ''));
  return spec;
}

function bridgeOf(name: string, v: unknown, path: string): BridgeStart {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) fail(path, 'a bridge name is 1 to 15 letters, digits, \'_\', \'-\' or \'.\'');
  const m = v === null || v === undefined ? {} : mapAt(v, path, BRIDGE_KEYS);
  let dpid = dpidFor(name);
  const d = m['datapath-id'];
  if (d !== undefined) {
    const h = (typeof d === 'number' ? d.toString(16) : stringAt(d, `${path}.datapath-id`)).replace(/^0x/i, '');
    if (!/^[0-9a-fA-F]{1,16}$/.test(h)) fail(`${path}.datapath-id`, 'give 1 to 16 hex digits');
    dpid = BigInt('0x' + h);
  }
  const local = m['local'] ?? 'dummy';
  if (local !== 'dummy' && local !== 'internal') fail(`${path}.local`, 'dummy or internal');
  const fm = m['fail-mode'] ?? 'secure';
  if (fm !== 'secure' && fm !== 'standalone') fail(`${path}.fail-mode`, 'secure or standalone');
  const ports: PortSpec[] = [];
  const pm = m['ports'] === undefined || m['ports'] === null ? {} : mapAt(m['ports'], `${path}.ports`);
  for (const [pn, pv] of Object.entries(pm)) {
    if (pn === name) fail(`${path}.ports.${pn}`, 'that is the bridge\'s LOCAL port');
    ports.push(portOf(pn, pv, `${path}.ports.${pn}`));
  }
  return {
    name, dpid, ports, failMode: fm, local,
    controllers: targets(m['controllers'], `${path}.controllers`, false),
    listens: targets(m['listen'], `${path}.listen`, true),
  };
}

/** Parses a configuration's text; a string is the problem, naming `file` and the key. */
export function parseConfig(text: string, file: string): SwitchConfig | string {
  try {
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (e) {
      return `${file}: not valid YAML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`;
    }
    const top = mapAt(doc, 'the file', TOP_KEYS);
    const bm = mapAt(top['bridges'], 'bridges');
    const bridges = Object.entries(bm).map(([n, v]) => bridgeOf(n, v, `bridges.${n}`));
    if (bridges.length === 0) fail('bridges', 'name at least one bridge');
    const seen = new Map<string, string>();
    for (const b of bridges) {
      for (const p of b.ports) {
        const other = seen.get(p.name);
        if (other !== undefined || bridges.some((x) => x.name === p.name)) fail(`bridges.${b.name}.ports.${p.name}`, `the name is used ${other !== undefined ? `by a port of ${other}` : 'by a bridge'} too`);
        seen.set(p.name, b.name);
      }
    }
    for (const b of bridges) {
      for (const p of b.ports) {
        if (p.type !== 'patch') continue;
        const peerName = p.options?.['peer'];
        const peer = bridges.flatMap((x) => x.ports).find((q) => q.name === peerName);
        if (peer === undefined || peer.type !== 'patch' || peer.options?.['peer'] !== p.name) fail(`bridges.${b.name}.ports.${p.name}`, `its peer ${peerName} must be a patch port with peer: ${p.name}`);
      }
    }
    let tls: TlsFiles | undefined;
    if (top['tls'] !== undefined) {
      const t = mapAt(top['tls'], 'tls', ['private-key', 'certificate', 'ca-cert']);
      tls = { privateKey: stringAt(t['private-key'], 'tls.private-key'), certificate: stringAt(t['certificate'], 'tls.certificate'), caCert: stringAt(t['ca-cert'], 'tls.ca-cert') };
    }
    const usesTls = bridges.some((b) => [...b.controllers, ...b.listens].some((x) => x.kind === 'ssl' || x.kind === 'pssl'));
    if (usesTls && tls === undefined) fail('tls', 'ssl: and pssl: targets need tls: {private-key, certificate, ca-cert}');
    const level = top['log-level'];
    if (level !== undefined && (typeof level !== 'string' || !isLogLevel(level))) fail('log-level', `one of ${LOG_LEVELS.join(', ')}`);
    const format = top['log-format'];
    if (format !== undefined && format !== 'text' && format !== 'json') fail('log-format', 'text or json');
    const probe = top['probe-interval'];
    if (probe !== undefined && (typeof probe !== 'number' || !(probe >= 0 && probe <= 86400))) fail('probe-interval', 'seconds, 0 to 86400 (0 disables)');
    const socket = top['socket'] === undefined ? undefined : stringAt(top['socket'], 'socket');
    return {
      bridges,
      ...(tls !== undefined ? { tls } : {}),
      ...(level !== undefined ? { logLevel: level as LogLevel } : {}),
      ...(format !== undefined ? { logFormat: format as LogFormat } : {}),
      ...(probe !== undefined ? { probeInterval: Math.round((probe as number) * 1000) } : {}),
      ...(socket !== undefined ? { socket } : {}),
    };
  } catch (e) {
    if (e instanceof ConfigError) return `${file}: ${e.message}`;
    throw e;
  }
}

/** Reads and parses a configuration file; a string is the problem. */
export function loadConfig(file: string): SwitchConfig | string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return `${file}: cannot read: ${e instanceof Error ? e.message : String(e)}`;
  }
  return parseConfig(text, file);
}
