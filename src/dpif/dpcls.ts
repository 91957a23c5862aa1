/**
 * The megaflow classifier of the userspace datapath (OVS's dpcls): one per input port, made of
 * subtables, one per distinct mask. A subtable is an open-addressing hash table of masked keys;
 * a lookup hashes the packet's key under each subtable's mask in turn and stops at the first hit.
 *
 * Megaflows carry no priority: a correct translation never installs two megaflows that one
 * packet could match (each megaflow's mask covers every field the pipeline read), so whichever
 * subtable is searched first gives the same answer. If overlapping megaflows are installed anyway
 * the first matching subtable in the current order wins; nothing breaks.
 *
 * Subtables are re-ordered by hit count every SORT_INTERVAL lookups, so the masks that most
 * traffic hits are searched first (fewer subtables searched per packet: the mask-hit figure).
 *
 * Invariants:
 * - A megaflow's key is stored masked (key & mask === key); within one subtable masked keys are
 *   unique (the datapath turns a second put of the same (mask, key) into a modify).
 * - Lookup allocates nothing; insert and remove allocate only when a table grows or a subtable
 *   is created.
 */

import { hashMasked, maskWords, type FlowKey, type FlowMask } from '../packet/key.js';

/** What the classifier needs from a flow (the datapath's Megaflow has more). */
export interface ClsFlow {
  readonly key: FlowKey;
  readonly mask: FlowMask;
}

/** Lookups between re-orderings of the subtables by hits. */
export const SORT_INTERVAL = 1 << 14;

const MIN_CAPACITY = 8;

export class Subtable<F extends ClsFlow> {
  readonly mask: FlowMask;
  /** The words the mask selects (hashing and comparing visit only these). */
  readonly words: Uint8Array;
  /** Hits since the last re-ordering. */
  hits = 0;
  count = 0;
  private hashes: Uint32Array;
  private flows: Array<F | undefined>;
  private cap: number;

  constructor(mask: FlowMask) {
    this.mask = mask;
    this.words = maskWords(mask);
    this.cap = MIN_CAPACITY;
    this.hashes = new Uint32Array(this.cap);
    this.flows = new Array<F | undefined>(this.cap).fill(undefined);
  }

  /** The flow whose masked key equals `key & mask`, if any. */
  find(key: FlowKey): F | undefined {
    const h = hashMasked(key, this.mask, this.words);
    const m = this.cap - 1;
    const mask = this.mask;
    const words = this.words;
    const hashes = this.hashes;
    const flows = this.flows;
    for (let i = h & m; ; i = (i + 1) & m) {
      const f = flows[i];
      if (f === undefined) return undefined;
      if (hashes[i] === h) {
        const fk = f.key;
        let j = 0;
        for (; j < words.length; j++) {
          const w = words[j]!;
          if (((key[w]! ^ fk[w]!) & mask[w]!) !== 0) break;
        }
        if (j === words.length) return f;
      }
    }
  }

  insert(flow: F): void {
    if ((this.count + 1) * 2 > this.cap) this.resize(this.cap * 2);
    this.place(flow, hashMasked(flow.key, this.mask, this.words));
    this.count++;
  }

  /** Removes exactly this flow object; false when it is not here. */
  remove(flow: F): boolean {
    const m = this.cap - 1;
    let i = hashMasked(flow.key, this.mask, this.words) & m;
    for (;;) {
      const f = this.flows[i];
      if (f === undefined) return false;
      if (f === flow) break;
      i = (i + 1) & m;
    }
    // Backward-shift deletion: move later entries of the probe run into the hole, so lookups
    // never need tombstones.
    this.flows[i] = undefined;
    let hole = i;
    for (let j = (i + 1) & m; ; j = (j + 1) & m) {
      const f = this.flows[j];
      if (f === undefined) break;
      const home = this.hashes[j]! & m;
      // Move f when its home slot is not in (hole, j] (cyclically).
      const between = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (!between) {
        this.flows[hole] = f;
        this.hashes[hole] = this.hashes[j]!;
        this.flows[j] = undefined;
        hole = j;
      }
    }
    this.count--;
    if (this.cap > MIN_CAPACITY && this.count * 8 < this.cap) this.resize(this.cap / 2);
    return true;
  }

  *all(): IterableIterator<F> {
    for (const f of this.flows) if (f !== undefined) yield f;
  }

  private place(flow: F, h: number): void {
    const m = this.cap - 1;
    let i = h & m;
    while (this.flows[i] !== undefined) i = (i + 1) & m;
    this.flows[i] = flow;
    this.hashes[i] = h;
  }

  private resize(cap: number): void {
    const old = this.flows;
    const oldHashes = this.hashes;
    this.cap = cap;
    this.hashes = new Uint32Array(cap);
    this.flows = new Array<F | undefined>(cap).fill(undefined);
    for (let i = 0; i < old.length; i++) {
      const f = old[i];
      if (f !== undefined) this.place(f, oldHashes[i]!);
    }
  }
}

function sameMask(a: FlowMask, b: FlowMask): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export class Dpcls<F extends ClsFlow> {
  /** Search order (most hit first after each re-ordering). */
  private subtables: Array<Subtable<F>> = [];
  private sinceSort = 0;
  /** Subtables searched by the last lookup (the datapath sums these into maskHit). */
  searched = 0;
  size = 0;
  /**
   * Words a lookup that searches every subtable hashes and compares, plus two per subtable for
   * its fixed costs: the datapath compares it with the exact-match cache's cost (emc.ts).
   */
  searchCost = 0;

  get subtableCount(): number {
    return this.subtables.length;
  }

  lookup(key: FlowKey): F | undefined {
    if (++this.sinceSort >= SORT_INTERVAL) this.sort();
    const subs = this.subtables;
    for (let s = 0; s < subs.length; s++) {
      const st = subs[s]!;
      const f = st.find(key);
      if (f !== undefined) {
        st.hits++;
        this.searched = s + 1;
        return f;
      }
    }
    this.searched = subs.length;
    return undefined;
  }

  /** The flow with exactly this mask and masked key (for put-as-modify), if any. */
  findExact(maskedKey: FlowKey, mask: FlowMask): F | undefined {
    const st = this.subtableFor(mask);
    return st?.find(maskedKey);
  }

  /** The mask array of the subtable whose mask equals `mask`, if there is one. */
  maskLike(mask: FlowMask): FlowMask | undefined {
    return this.subtableFor(mask)?.mask;
  }

  insert(flow: F): void {
    let st = this.subtableFor(flow.mask);
    if (st === undefined) {
      st = new Subtable<F>(flow.mask);
      this.subtables.push(st);
      this.searchCost += st.words.length + 2;
    }
    st.insert(flow);
    this.size++;
  }

  remove(flow: F): boolean {
    const st = this.subtableFor(flow.mask);
    if (st === undefined || !st.remove(flow)) return false;
    this.size--;
    if (st.count === 0) {
      this.subtables.splice(this.subtables.indexOf(st), 1);
      this.searchCost -= st.words.length + 2;
    }
    return true;
  }

  /** Orders subtables by hits since the last sort (stable for ties) and starts counting again. */
  sort(): void {
    this.sinceSort = 0;
    if (this.subtables.length > 1) this.subtables.sort((a, b) => b.hits - a.hits);
    for (const st of this.subtables) st.hits = 0;
  }

  private subtableFor(mask: FlowMask): Subtable<F> | undefined {
    for (const st of this.subtables) if (sameMask(st.mask, mask)) return st;
    return undefined;
  }
}
