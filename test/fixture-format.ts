/**
 * The annotated hex fixture format of test/fixtures/*.txt, and its parser.
 *
 * A fixture file holds any number of fixtures. Each one is:
 *
 *   === flow_mod_minimal                        <- "=== " and a name, unique over all files
 *   hex:
 *   04 0e 0048 00000001   # version 4, FLOW_MOD (14), length 72, xid 1
 *   0000000000000000      # cookie
 *   00*8                  # cookie_mask (eight zero bytes)
 *   "eth0" 00*12          # name: ASCII text, then NUL padding
 *   json:
 *   { "version": 4, "type": "FLOW_MOD", ... }  <- the JSON form (fromJson input), strict JSON,
 *                                                 any number of lines
 *   text:
 *   FLOW_MOD (xid=0x1): ...                    <- optional: formatMessage's line, one line
 *
 * A negative fixture (test/fixtures/negative/*.txt) has, instead of json and text, the error the
 * decoder must answer with: its type and code numbers from the specification, and its name:
 *
 *   error:
 *   4 10 BAD_MATCH/DUP_FIELD
 *
 * Rules:
 * - Every hex line carries a `#` comment naming the fields it holds; the parser refuses a hex
 *   line without one. A line that is only a comment may stand anywhere (section titles).
 * - Hex tokens are pairs of hex digits, freely grouped (`0e`, `0048`, `00000001`); `XX*N` is
 *   the byte XX repeated N times; `"text"` is the text's ASCII bytes (no `#` or `"` inside).
 * - Lines starting with `#` are comments everywhere (in the hex section they carry no bytes).
 *   Blank lines are ignored.
 *
 * Written for these tests: the hex is typed from the OpenFlow 1.3.5 specification's structure
 * layouts, never produced by the codec under test.
 */

import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One annotated hex line: where its bytes sit in the message and what the comment says. */
export interface Annotation {
  readonly offset: number;
  readonly length: number;
  readonly comment: string;
  readonly line: number;
}

export interface Fixture {
  /** The file it comes from, relative to test/fixtures (`flow-mod.txt`). */
  readonly file: string;
  readonly name: string;
  /** 1-based line of the `===` header. */
  readonly line: number;
  readonly hex: Buffer;
  /** The expected message in the JSON form, as parsed by JSON.parse (undefined for a negative fixture). */
  readonly json: unknown;
  /** For a negative fixture: the (type, code) and name of the OpenFlow error decoding must give. */
  readonly error?: { readonly errType: number; readonly code: number; readonly name: string };
  /** The expected formatMessage() line, when the fixture gives one. */
  readonly text?: string;
  readonly annotations: readonly Annotation[];
}

export class FixtureSyntaxError extends Error {
  constructor(file: string, line: number, what: string) {
    super(`${file}:${line}: ${what}`);
    this.name = 'FixtureSyntaxError';
  }
}

type Section = 'hex' | 'json' | 'text' | 'error';

interface Draft {
  name: string;
  line: number;
  bytes: number[];
  annotations: Annotation[];
  jsonLines: string[];
  jsonLine: number;
  textLines: string[];
  errorLines: string[];
  seen: Set<Section>;
}

/** Splits a hex line into its data part and its comment (the first `#` outside a string). */
function splitComment(raw: string): { data: string; comment: string | undefined } {
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '"') inString = !inString;
    else if (c === '#' && !inString) return { data: raw.slice(0, i), comment: raw.slice(i + 1).trim() };
  }
  return { data: raw, comment: undefined };
}

/** The bytes of the data part of one hex line. */
function hexBytes(data: string, fail: (what: string) => never): number[] {
  const out: number[] = [];
  for (const token of data.match(/"[^"]*"|\S+/g) ?? []) {
    if (token.startsWith('"')) {
      if (token.length < 2 || !token.endsWith('"')) fail(`unterminated string ${token}`);
      for (const ch of token.slice(1, -1)) {
        const code = ch.charCodeAt(0);
        if (code > 0x7e || code < 0x20) fail(`string ${token} is not printable ASCII`);
        out.push(code);
      }
      continue;
    }
    const rep = /^([0-9a-fA-F]{2})\*(\d+)$/.exec(token);
    if (rep !== null) {
      const n = Number(rep[2]);
      if (n < 1) fail(`repeat count must be at least 1 in ${token}`);
      for (let i = 0; i < n; i++) out.push(parseInt(rep[1]!, 16));
      continue;
    }
    if (!/^(?:[0-9a-fA-F]{2})+$/.test(token)) fail(`not hex (pairs of digits), a repeat XX*N or a "string": ${token}`);
    for (let i = 0; i < token.length; i += 2) out.push(parseInt(token.slice(i, i + 2), 16));
  }
  return out;
}

/** Parses the text of one fixture file. */
export function parseFixtures(source: string, file: string): Fixture[] {
  const lines = source.split(/\r?\n/);
  const out: Fixture[] = [];
  let draft: Draft | undefined;
  let section: Section | undefined;

  const finish = (): void => {
    if (draft === undefined) return;
    const d = draft;
    const fail = (what: string): never => { throw new FixtureSyntaxError(file, d.line, `fixture ${d.name}: ${what}`); };
    if (!d.seen.has('hex') || d.bytes.length === 0) fail('has no hex bytes');
    if (d.seen.has('error')) {
      if (d.seen.has('json') || d.seen.has('text')) fail('a negative fixture has an error section and no json or text');
      const m = d.errorLines.length === 1 ? /^(\d+)\s+(\d+)\s+([A-Z_]+\/[A-Z_]+)$/.exec(d.errorLines[0]!) : null;
      if (m === null) fail('error must be one line: TYPE CODE NAME, e.g. "4 10 BAD_MATCH/DUP_FIELD"');
      out.push({
        file, name: d.name, line: d.line, hex: Buffer.from(d.bytes), json: undefined, annotations: d.annotations,
        error: { errType: Number(m![1]), code: Number(m![2]), name: m![3]! },
      });
      draft = undefined;
      section = undefined;
      return;
    }
    if (!d.seen.has('json')) fail('has no json section');
    let json: unknown;
    try {
      json = JSON.parse(d.jsonLines.join('\n'));
    } catch (e) {
      throw new FixtureSyntaxError(file, d.jsonLine, `fixture ${d.name}: json does not parse: ${(e as Error).message}`);
    }
    let text: string | undefined;
    if (d.seen.has('text')) {
      if (d.textLines.length !== 1) fail(`text must be exactly one line, found ${d.textLines.length}`);
      text = d.textLines[0];
    }
    out.push({
      file, name: d.name, line: d.line, hex: Buffer.from(d.bytes), json, annotations: d.annotations,
      ...(text === undefined ? {} : { text }),
    });
    draft = undefined;
    section = undefined;
  };

  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!;
    const lineNo = i + 1;
    const fail = (what: string): never => { throw new FixtureSyntaxError(file, lineNo, what); };
    const header = /^===\s+(\S+)\s*$/.exec(raw);
    if (header !== null) {
      finish();
      draft = {
        name: header[1]!, line: lineNo, bytes: [], annotations: [], jsonLines: [], jsonLine: lineNo,
        textLines: [], errorLines: [], seen: new Set(),
      };
      continue;
    }
    if (raw.startsWith('===')) fail('a fixture header is "=== name" (one word)');
    const d: Draft | undefined = draft;
    const sectionHeader = /^(hex|json|text|error):\s*$/.exec(raw);
    if (sectionHeader !== null) {
      if (d === undefined) return fail(`${sectionHeader[1]}: outside a fixture`);
      const s = sectionHeader[1] as Section;
      if (d.seen.has(s)) fail(`second ${s}: section in fixture ${d.name}`);
      d.seen.add(s);
      section = s;
      if (s === 'json') d.jsonLine = lineNo + 1;
      continue;
    }
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    if (section === 'json' && d !== undefined) {
      d.jsonLines.push(raw);
      continue;
    }
    if (d === undefined || section === undefined) return fail(`text outside a fixture section: ${trimmed}`);
    if (section === 'text') {
      d.textLines.push(trimmed);
      continue;
    }
    if (section === 'error') {
      d.errorLines.push(trimmed);
      continue;
    }
    const { data, comment } = splitComment(raw);
    if (comment === undefined || comment === '') fail('a hex line must carry a # comment naming its fields');
    const bytes = hexBytes(data, fail);
    if (bytes.length === 0) fail('a hex line with a comment but no bytes (start comment-only lines with #)');
    d.annotations.push({ offset: d.bytes.length, length: bytes.length, comment: comment!, line: lineNo });
    for (const b of bytes) d.bytes.push(b);
  }
  finish();
  return out;
}

/** The project root: the nearest directory upwards holding package.json. */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = resolve(dir, '..');
    if (up === dir) throw new Error('fixture-format: no package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** test/fixtures in the source tree (fixtures are not compiled, so dist/ has none). */
export const FIXTURE_DIR = join(projectRoot(), 'test', 'fixtures');

/** Every fixture of every *.txt file in `dir`, in file then source order; names are unique. */
function loadDir(dir: string): Fixture[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
  const all: Fixture[] = [];
  const seen = new Map<string, string>();
  for (const f of files) {
    for (const fx of parseFixtures(readFileSync(join(dir, f), 'utf8'), f)) {
      const where = `${f}:${fx.line}`;
      const other = seen.get(fx.name);
      if (other !== undefined) throw new FixtureSyntaxError(f, fx.line, `fixture name ${fx.name} also used at ${other}`);
      seen.set(fx.name, where);
      all.push(fx);
    }
  }
  return all;
}

/** The valid messages: every fixture of test/fixtures/*.txt. */
export function loadFixtures(dir = FIXTURE_DIR): Fixture[] {
  const all = loadDir(dir);
  const negative = all.find((f) => f.error !== undefined);
  if (negative !== undefined) throw new FixtureSyntaxError(negative.file, negative.line, 'negative fixtures belong in negative/');
  return all;
}

/** The invalid messages: every fixture of test/fixtures/negative/*.txt, each with its error. */
export function loadNegativeFixtures(dir = join(FIXTURE_DIR, 'negative')): Fixture[] {
  const all = loadDir(dir);
  const positive = all.find((f) => f.error === undefined);
  if (positive !== undefined) throw new FixtureSyntaxError(positive.file, positive.line, 'fixtures in negative/ need an error section');
  return all;
}
