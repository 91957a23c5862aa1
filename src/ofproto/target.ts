/**
 * Connection targets, in the words ovs-vsctl set-controller and ovs-ofctl use:
 * active `tcp:HOST[:PORT]`, `ssl:HOST[:PORT]`, `unix:PATH`; passive `ptcp:[PORT][:IP]`,
 * `pssl:[PORT][:IP]`, `punix:PATH`. An IPv6 address is written in brackets (`tcp:[::1]:6653`,
 * `ptcp:6653:[::1]`).
 *
 * Defaults: port 6653 (IANA's OpenFlow port); a passive TCP/SSL listener binds 127.0.0.1, not
 * every interface, so that starting a switch never exposes it to the network by accident.
 * `ptcp:0` asks the kernel for a free port (tests use it; the listener reports the real one).
 */

import { OFP_DEFAULT_PORT } from '../../proto/constants.js';

// One member per kind, so that a switch on `kind` narrows to the fields that kind has.
export type Target =
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'ssl'; readonly host: string; readonly port: number }
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'ptcp'; readonly host: string; readonly port: number }
  | { readonly kind: 'pssl'; readonly host: string; readonly port: number }
  | { readonly kind: 'punix'; readonly path: string };

export type ActiveTarget = Extract<Target, { kind: 'tcp' | 'ssl' | 'unix' }>;
export type PassiveTarget = Extract<Target, { kind: 'ptcp' | 'pssl' | 'punix' }>;

export const DEFAULT_LISTEN_HOST = '127.0.0.1';

export function isPassive(t: Target): t is PassiveTarget {
  return t.kind === 'ptcp' || t.kind === 'pssl' || t.kind === 'punix';
}

/** Parses a port field: digits only, within range (0 allowed only where `allowZero`). */
function parsePort(text: string, allowZero: boolean): number | string {
  if (!/^\d{1,5}$/.test(text)) return `port "${text}" is not a number`;
  const n = Number(text);
  if (n > 65535 || (n === 0 && !allowZero)) return `port ${n} is out of range (${allowZero ? 0 : 1}..65535)`;
  return n;
}

/** Splits `HOST[:PORT]` or `[V6]:PORT`; returns [host, portText | undefined] or an error. */
function splitHostPort(text: string): readonly [string, string | undefined] | string {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return `unterminated "[" in "${text}"`;
    const host = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest === '') return [host, undefined];
    if (!rest.startsWith(':')) return `unexpected "${rest}" after "[${host}]"`;
    return [host, rest.slice(1)];
  }
  const parts = text.split(':');
  if (parts.length > 2) return `"${text}" has more than one ":" (write IPv6 addresses as [ADDR])`;
  return [parts[0]!, parts[1]];
}

/** Parses a target string; returns the typed target or a message saying what is wrong. */
export function parseTarget(text: string): Target | string {
  const colon = text.indexOf(':');
  if (colon < 0) return `${text}: a target is METHOD:ARGS (tcp, ssl, unix, ptcp, pssl, punix)`;
  const method = text.slice(0, colon);
  const rest = text.slice(colon + 1);
  switch (method) {
    case 'tcp':
    case 'ssl': {
      const hp = splitHostPort(rest);
      if (typeof hp === 'string') return `${text}: ${hp}`;
      const [host, portText] = hp;
      if (host === '') return `${text}: a host is required`;
      const port = portText === undefined || portText === '' ? OFP_DEFAULT_PORT : parsePort(portText, false);
      if (typeof port === 'string') return `${text}: ${port}`;
      return { kind: method, host, port };
    }
    case 'ptcp':
    case 'pssl': {
      // ptcp:[PORT][:IP] — the port comes first here, unlike the active form.
      let portText = rest;
      let host = DEFAULT_LISTEN_HOST;
      const sep = rest.indexOf(':');
      if (sep >= 0) {
        portText = rest.slice(0, sep);
        let ip = rest.slice(sep + 1);
        if (ip.startsWith('[')) {
          if (!ip.endsWith(']')) return `${text}: unterminated "[" in "${ip}"`;
          ip = ip.slice(1, -1);
        } else if (ip.includes(':')) {
          return `${text}: write an IPv6 listen address as [ADDR]`;
        }
        if (ip === '') return `${text}: empty listen address`;
        host = ip;
      }
      const port = portText === '' ? OFP_DEFAULT_PORT : parsePort(portText, true);
      if (typeof port === 'string') return `${text}: ${port}`;
      return { kind: method, host, port };
    }
    case 'unix':
    case 'punix':
      if (rest === '') return `${text}: a socket path is required`;
      return { kind: method, path: rest };
    default:
      return `${text}: unknown method "${method}" (tcp, ssl, unix, ptcp, pssl, punix)`;
  }
}

/** The canonical text of a target (what parseTarget reads back to the same value). */
export function formatTarget(t: Target): string {
  const host = (h: string): string => (h.includes(':') ? `[${h}]` : h);
  switch (t.kind) {
    case 'tcp':
    case 'ssl':
      return `${t.kind}:${host(t.host)}:${t.port}`;
    case 'ptcp':
    case 'pssl':
      return `${t.kind}:${t.port}:${host(t.host)}`;
    case 'unix':
    case 'punix':
      return `${t.kind}:${t.path}`;
  }
}
