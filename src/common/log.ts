/**
 * Logging: one winston logger per process, and a child per layer that stamps its records with
 * the layer's label (`ofproto`, `connmgr`, `cli` …). Library code logs only through these; the
 * output goes to stderr so that a command's stdout stays for its results (`ofswitch start`
 * prints its listening addresses there).
 *
 * Two formats: `text` (a line a person reads: time, level, [label], message, then the record's
 * extra fields as JSON) and `json` (one JSON object per line, for machines).
 *
 * A library that is used without anyone calling configureLogging() logs at `warn` in text, so
 * embedding the switch in a test stays quiet unless something goes wrong.
 */

import winston from 'winston';

export type LogFormat = 'text' | 'json';
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LogOptions {
  readonly level?: LogLevel;
  readonly format?: LogFormat;
}

export type Logger = winston.Logger;

const textFormat = winston.format.printf((info) => {
  const { level, message, timestamp, label, ...rest } = info as Record<string, unknown>;
  const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) : '';
  return `${String(timestamp)} ${String(level)} [${String(label ?? '-')}] ${String(message)}${extra}`;
});

/** JSON.stringify cannot do bigints (64-bit OpenFlow fields): they are logged as decimal strings. */
const bigintSafe = winston.format((info) => {
  for (const k of Object.keys(info)) {
    const v = (info as Record<string, unknown>)[k];
    if (typeof v === 'bigint') (info as Record<string, unknown>)[k] = v.toString();
  }
  return info;
});

function formatFor(format: LogFormat): winston.Logform.Format {
  return format === 'json'
    ? winston.format.combine(bigintSafe(), winston.format.timestamp(), winston.format.json())
    : winston.format.combine(winston.format.timestamp(), textFormat);
}

const root: winston.Logger = winston.createLogger({
  level: 'warn',
  format: formatFor('text'),
  transports: [new winston.transports.Console({ stderrLevels: [...LOG_LEVELS] })],
});

/** Sets the level and format of every logger (existing children follow their parent). */
export function configureLogging(opts: LogOptions): void {
  if (opts.level !== undefined) root.level = opts.level;
  if (opts.format !== undefined) root.format = formatFor(opts.format);
}

export function isLogLevel(s: string): s is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(s);
}

/** The logger of one layer or component: its records carry `label`. */
export function logger(label: string): Logger {
  return root.child({ label });
}
