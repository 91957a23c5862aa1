/**
 * The shared binary heap (src/common/heap.ts): any sequence of pushes and pops keeps h[0] the
 * first item under the comparator, checked against a sorted reference.
 */

import test from 'ava';
import fc from 'fast-check';
import { heapPush, heapPop } from '../src/common/heap.js';

const ops = fc.array(fc.oneof(fc.integer({ min: -50, max: 50 }), fc.constant(null)), { maxLength: 200 });

for (const [name, before, order] of [
  ['max-heap (classifier priorities)', (a: number, b: number) => a > b, (a: number, b: number) => b - a],
  ['min-heap (timeouts)', (a: number, b: number) => a < b, (a: number, b: number) => a - b],
] as const) {
  test(`${name}: h[0] is always the first under the comparator`, (t) => {
    fc.assert(fc.property(ops, (seq) => {
      const h: number[] = [];
      const ref: number[] = [];
      for (const op of seq) {
        if (op === null) {
          if (h.length === 0) continue;
          heapPop(h, before);
          ref.sort(order).shift();
        } else {
          heapPush(h, op, before);
          ref.push(op);
        }
        ref.sort(order);
        if (h.length !== ref.length || (h.length > 0 && h[0] !== ref[0])) return false;
      }
      return true;
    }), { numRuns: 500 });
    t.pass();
  });
}
