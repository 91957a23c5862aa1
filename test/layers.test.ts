/**
 * The one-way rule of DESIGN.md §1: a module imports only from layers below it. This reads every
 * import in src/ and proto/ and checks it against the allowed directions, so the rule cannot rot.
 */

import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** For each layer, the layers it may import (proto/ is the declarative base everyone may use). */
const ALLOWED: Record<string, readonly string[]> = {
  proto: [],
  common: ['proto'],
  openflow: ['common', 'proto'],
  packet: ['common', 'proto'],
  netdev: ['packet', 'common', 'proto'],
  dpif: ['netdev', 'packet', 'common', 'proto'],
  xlate: ['dpif', 'packet', 'openflow', 'common', 'proto'],
  ofproto: ['xlate', 'dpif', 'netdev', 'packet', 'openflow', 'common', 'proto'],
  client: ['openflow', 'common', 'proto'],
  cli: ['client', 'ofproto', 'xlate', 'dpif', 'netdev', 'packet', 'openflow', 'common', 'proto'],
};

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

function layerOf(file: string): string {
  const parts = relative(root, file).split(sep);
  return parts[0] === 'proto' ? 'proto' : parts[1]!;
}

test('imports only point down the layers', (t) => {
  const files = [...sources(join(root, 'src')), ...sources(join(root, 'proto'))];
  t.true(files.length > 5);
  const violations: string[] = [];
  for (const file of files) {
    const from = layerOf(file);
    t.truthy(ALLOWED[from], `${relative(root, file)} is in no known layer`);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)[^'"]*from\s+['"](\.[^'"]+)['"]/gm)) {
      const target = resolve(dirname(file), m[1]!);
      const to = layerOf(target);
      if (to !== from && !ALLOWED[from]!.includes(to)) violations.push(`${relative(root, file)} imports ${to}: ${m[1]}`);
    }
  }
  t.deepEqual(violations, []);
});
