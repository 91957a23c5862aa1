/**
 * A binary heap kept in a caller's plain array: `h[0]` is the item that comes first under
 * `before`. Callers keep the array (to peek at h[0], to empty it, to rebuild it after lazy
 * deletions) and pass the same `before` to every call.
 */

/** Adds `v`. */
export function heapPush<T>(h: T[], v: T, before: (a: T, b: T) => boolean): void {
  let i = h.length;
  h.push(v);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(v, h[parent]!)) break;
    h[i] = h[parent]!;
    i = parent;
  }
  h[i] = v;
}

/** Removes h[0] (the array must not be empty). */
export function heapPop<T>(h: T[], before: (a: T, b: T) => boolean): void {
  const last = h.pop()!;
  if (h.length === 0) return;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= h.length) break;
    const r = l + 1;
    const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
    if (!before(h[c]!, last)) break;
    h[i] = h[c]!;
    i = c;
  }
  h[i] = last;
}
