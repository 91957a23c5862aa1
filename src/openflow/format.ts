/**
 * The text form of messages, one line each, for people: what `ofswitch ofp-print` prints.
 *
 *   FLOW_MOD (xid=0x1): cookie=0x0 tableId=0 command=ADD ... match=in_port=1,eth_type=0x800
 *     instructions=[APPLY_ACTIONS{actions=[OUTPUT{port=2 maxLen=0}]}]
 *
 * It is built on the JSON form (so it covers every message the description covers), with match
 * fields written ovs-ofctl style (`field=value/mask`) and union members named by their type.
 */

import { ENUMS, formatNamed } from '../../proto/constants.js';
import type { Message } from './generated.js';
import { toJson, type Json } from './json.js';
import type { OfpError } from './decode.js';
import { toHex } from './runtime.js';

const DISCRIMINATORS = new Set(['type', 'mpType', 'property', 'errType']);

function formatOxm(j: Json): string {
  const o = j as Record<string, Json>;
  const field = typeof o.field === 'string' ? o.field : `class${String(o.class)}:${String(o.field)}`;
  const fmt = (v: Json | undefined) => (typeof v === 'number' && field.startsWith('eth_type') ? '0x' + v.toString(16) : String(v));
  return `${field}=${fmt(o.value)}${o.mask !== undefined ? '/' + fmt(o.mask) : ''}`;
}

function formatValue(k: string, v: Json): string {
  if (Array.isArray(v)) {
    if (k === 'match') return v.length === 0 ? 'any' : v.map(formatOxm).join(',');
    return `[${v.map((x) => formatValue('', x)).join(', ')}]`;
  }
  if (v !== null && typeof v === 'object') {
    if (k === 'field' && 'value' in v) return formatOxm(v);
    const tag = DISCRIMINATORS.has(Object.keys(v)[0] ?? '') ? String(v[Object.keys(v)[0]!]) : '';
    const rest = Object.entries(v).filter(([kk]) => !(tag && kk === Object.keys(v)[0]));
    return `${tag}{${rest.map(([kk, vv]) => `${kk}=${formatValue(kk, vv)}`).join(' ')}}`;
  }
  if (typeof v === 'string') return /\s/.test(v) || v === '' ? JSON.stringify(v) : v;
  return String(v);
}

export function formatMessage(msg: Message): string {
  const j = toJson(msg) as Record<string, Json>;
  const { version, type, xid, ...body } = j;
  const head = `${String(type)}${version !== 4 ? ` (OF 0x${Number(version).toString(16)})` : ''} (xid=0x${Number(xid ?? 0).toString(16)})`;
  const parts = Object.entries(body).map(([k, v]) => `${k}=${formatValue(k, v)}`);
  return parts.length ? `${head}: ${parts.join(' ')}` : head;
}

export function formatError(err: OfpError): string {
  return `decode error ${err.name} (type ${formatNamed(ENUMS.errorType, err.errType)}=${err.errType}, code ${err.code}): ${err.text}; offending bytes ${toHex(err.data)}`;
}
