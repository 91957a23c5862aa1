/**
 * The flow classifier: rules of (key, mask, priority), and for a flow the highest-priority rule
 * that matches it. Tuple-space search, as in Open vSwitch's lib/classifier: one subtable per
 * distinct mask, each a hash map from the masked key to the rules with that key, so a lookup
 * costs one hash probe per mask rather than one comparison per rule.
 *
 * Invariants:
 * - `order` holds every non-empty subtable sorted by the highest priority it holds (descending),
 *   and a lookup stops at the first subtable whose best cannot beat the rule found so far.
 * - Inside a subtable, rules with the same masked key form one list sorted by priority
 *   (descending, each priority once): the list's head is its answer and the only one hashed.
 * - Ties between subtables are broken by the insertion sequence too (the earliest inserted rule
 *   wins), so the answer never depends on the order of subtables or of a hash map. Replacing a
 *   rule (same mask, key and priority) keeps the old rule's place in that order.
 * - lookup(flow, wc) ORs into wc the mask of every subtable it probed: the bits the search read.
 *   Subtables it skipped were skipped for their priority alone, which does not depend on the flow,
 *   so every flow equal to `flow` on wc's bits probes the same subtables, finds the same nodes,
 *   and gets the same rule: wc is a correct megaflow mask for the answer.
 * - Memory: one small object per rule, holding the masked key compactly (only the words its mask
 *   selects, as in OVS's miniflow), so a rule costs tens of bytes here rather than a K.WORDS key.
 * - An insertion or a removal touches one subtable (and its position in `order`); the structure
 *   is only changed by synchronous calls, so a lookup sees a change entirely or not at all.
 */

import { hashKey, equalKeys, finish, maskWords, mix, type FlowKey, type FlowMask } from '../packet/key.js';
import { heapPush, heapPop } from '../common/heap.js';

export interface ClsRule {
  /** The rule's key: only the bits under `mask` matter. Not read when `vals` is given. */
  readonly key: FlowKey;
  /**
   * Never written once given to the classifier (compileMatch's masks are interned and never
   * written): the classifier recognises the mask of its last subtable by identity.
   */
  readonly mask: FlowMask;
  readonly priority: number;
  /**
   * Optional compact form of the key: `(key[w] & mask[w]) | 0` for each word w of
   * maskWords(mask), in that order (see compactKey). A rule that has it need not keep a full
   * K.WORDS key at all; the classifier then never reads `key`.
   */
  readonly vals?: readonly number[];
}

/**
 * One rule in a subtable. Rules with the same masked key form a list through `down`, by priority
 * (descending; priorities are unique in it: an equal one replaces); the first of the list, its
 * head, is the answer for that key and the one in the hash map. `next` chains heads of other keys
 * with the same hash. One object per rule, holding the key's words compactly.
 */
interface Node<R> {
  /** The masked key's words under the subtable's mask, as int32 (see ClsRule.vals). */
  readonly vals: readonly number[];
  rule: R;
  readonly priority: number;
  /** Insertion sequence: ties between subtables go to the smallest. */
  readonly seq: number;
  next: Node<R> | undefined;
  down: Node<R> | undefined;
}

interface Subtable<R> {
  readonly mask: FlowMask;
  /** The words the mask selects: hashing and comparing visit only these. */
  readonly words: Uint8Array;
  readonly maskHash: number;
  readonly nodes: Map<number, Node<R>>;
  count: number;
  /** Highest priority held (-1 when empty). */
  maxPriority: number;
  /** Rules per priority: lets overlapping() skip subtables without the priority. */
  readonly priorities: Map<number, number>;
  /**
   * A max-heap of the priorities present, with stale entries (priorities whose count fell to 0)
   * dropped lazily when they reach the top: finding the next maximum after removing the last
   * rule of the highest priority costs O(log n) instead of a scan of every rule.
   */
  readonly heap: number[];
}

/**
 * The compact form of a key under a mask (ClsRule.vals): the masked words maskWords(mask)
 * selects, as int32 so that a plain array holds them as small integers (8 bytes each, no boxing).
 */
export function compactKey(key: FlowKey, mask: FlowMask, words: Uint8Array = maskWords(mask)): number[] {
  const out = new Array<number>(words.length);
  for (let j = 0; j < words.length; j++) {
    const w = words[j]!;
    out[j] = key[w]! & mask[w]!;
  }
  return out;
}

/** The full key a compact one stands for (zero outside the mask). */
export function expandKey(vals: readonly number[], mask: FlowMask, out: FlowKey, words: Uint8Array = maskWords(mask)): FlowKey {
  out.fill(0);
  for (let j = 0; j < words.length; j++) out[words[j]!] = vals[j]! >>> 0;
  return out;
}

export class Classifier<R extends ClsRule> {
  /** Non-empty subtables, highest maxPriority first. */
  private order: Subtable<R>[] = [];
  /** Subtables by the hash of their mask (chained by equalKeys on collisions). */
  private readonly byMask = new Map<number, Subtable<R>[]>();
  private n = 0;
  private seq = 0;
  /**
   * The subtable found last, and the mask argument that found it: a flow-mod looks its mask up
   * twice (findExact, then insert), and flow-mods in a row often share an (interned) mask, so an
   * identity test usually skips hashing and comparing all K.WORDS words.
   */
  private last: Subtable<R> | undefined;
  private lastArg: FlowMask | undefined;
  /**
   * The key hashed last (by findExact) and its hash in `last`: insert() of the rule a findExact
   * just probed for (same key object, same subtable) hashes nothing.
   */
  private probeKey: FlowKey | undefined;
  private probeHash = 0;

  get size(): number {
    return this.n;
  }

  /**
   * Adds a rule; a rule with the same mask, masked key and priority is replaced (it keeps its
   * place in the tie order) and returned.
   */
  insert(rule: R): R | undefined {
    const st = this.subtable(rule.mask, true)!;
    let vals = rule.vals;
    let h: number;
    if (vals !== undefined) {
      h = hashVals(vals);
    } else {
      const key = rule.key;
      h = this.probeKey === key && this.last === st ? this.probeHash : hashMaskedKey(key, st.mask, st.words);
      vals = compactKey(key, st.mask, st.words);
    }
    this.probeKey = undefined;
    const priority = rule.priority;
    let prev: Node<R> | undefined;
    const first = st.nodes.get(h);
    let head = first;
    while (head !== undefined && !sameVals(head.vals, vals)) {
      prev = head;
      head = head.next;
    }
    if (head !== undefined) {
      // The key's list: find the place of `priority` in it.
      let above: Node<R> | undefined;
      let at: Node<R> | undefined = head;
      while (at !== undefined && at.priority > priority) {
        above = at;
        at = at.down;
      }
      if (at !== undefined && at.priority === priority) {
        const old = at.rule;
        at.rule = rule;
        return old;
      }
      const node: Node<R> = { vals: head.vals, rule, priority, seq: this.seq++, next: undefined, down: at };
      if (above !== undefined) {
        above.down = node;
      } else {
        // A new head for this key: it takes the old head's place in the hash chain.
        node.next = head.next;
        head.next = undefined;
        if (prev !== undefined) prev.next = node;
        else st.nodes.set(h, node);
      }
    } else {
      st.nodes.set(h, { vals, rule, priority, seq: this.seq++, next: first, down: undefined });
    }
    st.count++;
    this.n++;
    this.addPriority(st, priority);
    return undefined;
  }

  /** Removes this rule (by identity); false when it is not in the classifier. */
  remove(rule: R): boolean {
    const st = this.subtable(rule.mask, false);
    if (st === undefined) return false;
    const vals = rule.vals;
    const h = vals !== undefined ? hashVals(vals) : hashMaskedKey(rule.key, st.mask, st.words);
    let prev: Node<R> | undefined;
    for (let head = st.nodes.get(h); head !== undefined; prev = head, head = head.next) {
      if (vals !== undefined ? !sameVals(head.vals, vals) : !equalVals(rule.key, head.vals, st.mask, st.words)) continue;
      let above: Node<R> | undefined;
      let at: Node<R> | undefined = head;
      while (at !== undefined && at.rule !== rule) {
        above = at;
        at = at.down;
      }
      if (at === undefined) return false;
      if (above !== undefined) {
        above.down = at.down;
      } else {
        // The head goes: the next of its list (if any) takes its place in the hash chain.
        const down = at.down;
        const rest = at.next;
        if (down !== undefined) {
          down.next = rest;
          if (prev !== undefined) prev.next = down;
          else st.nodes.set(h, down);
        } else if (prev !== undefined) {
          prev.next = rest;
        } else if (rest !== undefined) {
          st.nodes.set(h, rest);
        } else {
          st.nodes.delete(h);
        }
      }
      st.count--;
      this.n--;
      this.removePriority(st, rule.priority);
      if (st.count === 0) this.dropSubtable(st);
      return true;
    }
    return false;
  }

  /** The rule with exactly this mask, masked key and priority (OpenFlow's strict match). */
  findExact(key: FlowKey, mask: FlowMask, priority: number): R | undefined {
    const st = this.subtable(mask, false);
    if (st === undefined) return undefined;
    const h = hashMaskedKey(key, st.mask, st.words);
    this.probeKey = key;
    this.probeHash = h;
    if (!st.priorities.has(priority)) return undefined;
    for (let at = this.findHead(st, key, h); at !== undefined && at.priority >= priority; at = at.down) {
      if (at.priority === priority) return at.rule;
    }
    return undefined;
  }

  /**
   * The highest-priority rule matching `flow` (ties: the earliest inserted), and, when `wc` is
   * given, every key bit the search read ORed into it.
   *
   * Hot path: no allocation (index loops, Map.get, and plain loops over the words each mask
   * selects), one hash and one probe per subtable visited.
   */
  lookup(flow: FlowKey, wc?: FlowMask): R | undefined {
    const order = this.order;
    let best: Node<R> | undefined;
    let bestPriority = -1;
    for (let i = 0; i < order.length; i++) {
      const st = order[i]!;
      // Sorted by maxPriority: nothing from here on can beat the best (equal priorities may
      // still win the tie on insertion order, so those are searched).
      if (st.maxPriority < bestPriority) break;
      const mask = st.mask;
      const words = st.words;
      if (wc !== undefined) {
        for (let j = 0; j < words.length; j++) {
          const w = words[j]!;
          wc[w] = wc[w]! | mask[w]!;
        }
      }
      const node = this.findHead(st, flow, hashMaskedKey(flow, mask, words));
      if (node !== undefined && (node.priority > bestPriority || (node.priority === bestPriority && node.seq < best!.seq))) {
        best = node;
        bestPriority = node.priority;
      }
    }
    return best === undefined ? undefined : best.rule;
  }

  /**
   * Rules at least as specific as (key, mask) that agree with it on mask's bits: r.mask ⊇ mask
   * and r.key & mask == key & mask — OpenFlow's non-strict MODIFY/DELETE selection. A snapshot:
   * the caller may insert and remove while iterating.
   */
  *subsumedBy(key: FlowKey, mask: FlowMask): IterableIterator<R> {
    const out: R[] = [];
    for (const st of this.order) {
      let covers = true;
      for (let w = 0; w < mask.length; w++) {
        if ((mask[w]! & ~st.mask[w]!) !== 0) {
          covers = false;
          break;
        }
      }
      if (!covers) continue;
      // mask ⊆ st.mask, so every word mask selects is one of st.words: compare those.
      const sel = st.words;
      for (const first of st.nodes.values()) {
        for (let head: Node<R> | undefined = first; head !== undefined; head = head.next) {
          let agree = true;
          for (let j = 0; j < sel.length; j++) {
            const w = sel[j]!;
            if (((head.vals[j]! ^ key[w]!) & mask[w]!) !== 0) {
              agree = false;
              break;
            }
          }
          if (!agree) continue;
          for (let at: Node<R> | undefined = head; at !== undefined; at = at.down) out.push(at.rule);
        }
      }
    }
    yield* out;
  }

  /**
   * A rule of this priority that some packet could match together with (key, mask): the two
   * agree on every bit both masks select (CHECK_OVERLAP). A rule identical to (key, mask,
   * priority) counts; the caller decides whether a replacement is an overlap.
   */
  overlapping(key: FlowKey, mask: FlowMask, priority: number): R | undefined {
    for (const st of this.order) {
      if (!st.priorities.has(priority)) continue;
      // When the subtable's mask is within `mask`, the bits both select are the subtable's own,
      // so the one key that can overlap is found by hashing; otherwise every key is compared.
      let within = true;
      for (let j = 0; j < st.words.length; j++) {
        const w = st.words[j]!;
        if ((st.mask[w]! & ~mask[w]!) !== 0) {
          within = false;
          break;
        }
      }
      if (within) {
        const r = withPriority(this.findHead(st, key, hashMaskedKey(key, st.mask, st.words)), priority);
        if (r !== undefined) return r;
        continue;
      }
      for (const first of st.nodes.values()) {
        for (let head: Node<R> | undefined = first; head !== undefined; head = head.next) {
          let agree = true;
          for (let j = 0; j < st.words.length; j++) {
            const w = st.words[j]!;
            if (((head.vals[j]! ^ key[w]!) & st.mask[w]! & mask[w]!) !== 0) {
              agree = false;
              break;
            }
          }
          if (!agree) continue;
          const r = withPriority(head, priority);
          if (r !== undefined) return r;
        }
      }
    }
    return undefined;
  }

  /** Every rule (a snapshot, in no particular order). */
  *rules(): IterableIterator<R> {
    const out: R[] = [];
    for (const st of this.order) {
      for (const first of st.nodes.values()) {
        for (let head: Node<R> | undefined = first; head !== undefined; head = head.next) {
          for (let at: Node<R> | undefined = head; at !== undefined; at = at.down) out.push(at.rule);
        }
      }
    }
    yield* out;
  }

  /** How many subtables (distinct masks) there are: the cost of a miss, for stats and tests. */
  get subtableCount(): number {
    return this.order.length;
  }

  /** The words the subtable of this mask compares (maskWords(mask)), shared: never write to it. */
  wordsOf(mask: FlowMask): Uint8Array {
    return this.subtable(mask, false)?.words ?? maskWords(mask);
  }

  // -------------------------------------------------------------------------------------------

  /** The head of the list of `key`'s masked value in st (h: its hash), if any. */
  private findHead(st: Subtable<R>, key: FlowKey, h: number): Node<R> | undefined {
    for (let head = st.nodes.get(h); head !== undefined; head = head.next) {
      if (equalVals(key, head.vals, st.mask, st.words)) return head;
    }
    return undefined;
  }

  private subtable(mask: FlowMask, create: boolean): Subtable<R> | undefined {
    const last = this.last;
    if (last !== undefined && (this.lastArg === mask || equalKeys(last.mask, mask))) {
      this.lastArg = mask;
      return last;
    }
    const h = hashKey(mask);
    const chain = this.byMask.get(h);
    if (chain !== undefined) {
      for (const st of chain) {
        if (equalKeys(st.mask, mask)) {
          this.last = st;
          this.lastArg = mask;
          return st;
        }
      }
    }
    if (!create) return undefined;
    const copy = Uint32Array.from(mask);
    const st: Subtable<R> = {
      mask: copy, words: maskWords(copy), maskHash: h, nodes: new Map(), count: 0, maxPriority: -1,
      priorities: new Map(), heap: [],
    };
    if (chain !== undefined) chain.push(st);
    else this.byMask.set(h, [st]);
    this.order.push(st); // maxPriority -1: the end is its sorted place until a rule arrives
    this.last = st;
    this.lastArg = mask;
    return st;
  }

  private dropSubtable(st: Subtable<R>): void {
    if (this.last === st) {
      this.last = undefined;
      this.lastArg = undefined;
    }
    const chain = this.byMask.get(st.maskHash)!;
    if (chain.length === 1) this.byMask.delete(st.maskHash);
    else chain.splice(chain.indexOf(st), 1);
    this.order.splice(this.order.indexOf(st), 1);
  }

  private addPriority(st: Subtable<R>, p: number): void {
    const c = st.priorities.get(p) ?? 0;
    st.priorities.set(p, c + 1);
    if (c === 0) {
      heapPush(st.heap, p, higher);
      // Stale entries pile up when priorities come and go below the top; rebuild now and then.
      if (st.heap.length > 2 * st.priorities.size + 32) {
        st.heap.length = 0;
        for (const q of st.priorities.keys()) heapPush(st.heap, q, higher);
      }
    }
    if (p > st.maxPriority) {
      st.maxPriority = p;
      this.reposition(st);
    }
  }

  private removePriority(st: Subtable<R>, p: number): void {
    const c = st.priorities.get(p)! - 1;
    if (c > 0) {
      st.priorities.set(p, c);
      return;
    }
    st.priorities.delete(p);
    if (p !== st.maxPriority) return;
    const heap = st.heap;
    while (heap.length > 0 && !st.priorities.has(heap[0]!)) heapPop(heap, higher);
    st.maxPriority = heap.length > 0 ? heap[0]! : -1;
    this.reposition(st);
  }

  /** Moves st to its place in `order` after its maxPriority changed (one insertion-sort step). */
  private reposition(st: Subtable<R>): void {
    const order = this.order;
    let i = order.indexOf(st);
    while (i > 0 && order[i - 1]!.maxPriority < st.maxPriority) {
      order[i] = order[i - 1]!;
      i--;
    }
    while (i < order.length - 1 && order[i + 1]!.maxPriority > st.maxPriority) {
      order[i] = order[i + 1]!;
      i++;
    }
    order[i] = st;
  }
}

/**
 * Hash-map keys are cut to 30 bits: V8 keeps such numbers as small integers, while a full 32-bit
 * hash above 2^30 becomes a heap number, i.e. an allocation and a slower Map probe per lookup.
 */
const SMI = 0x3fffffff;

// murmur3 (key.ts's mix and finish), cut to a small integer for Map keys. hashMaskedKey (a full
// key under a mask) and hashVals (the compact form) must agree: both mix the same int32 words in
// the same order.
const finishSmi = (h: number, n: number): number => finish(h, n) & SMI;

function hashMaskedKey(key: FlowKey, mask: FlowMask, words: Uint8Array): number {
  let h = 0;
  for (let j = 0; j < words.length; j++) {
    const w = words[j]!;
    h = mix(h, key[w]! & mask[w]!);
  }
  return finishSmi(h, words.length);
}

function hashVals(vals: readonly number[]): number {
  let h = 0;
  for (let j = 0; j < vals.length; j++) h = mix(h, vals[j]!);
  return finishSmi(h, vals.length);
}

/** key under mask equals the compact key `vals` (see compactKey). */
function equalVals(key: FlowKey, vals: readonly number[], mask: FlowMask, words: Uint8Array): boolean {
  for (let j = 0; j < words.length; j++) {
    const w = words[j]!;
    if ((key[w]! & mask[w]!) !== vals[j]) return false;
  }
  return true;
}

function sameVals(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) return false;
  return true;
}

/** The rule of exactly this priority in the list starting at `head`. */
function withPriority<R>(head: Node<R> | undefined, priority: number): R | undefined {
  for (let at = head; at !== undefined && at.priority >= priority; at = at.down) if (at.priority === priority) return at.rule;
  return undefined;
}

/** Priorities come out highest first. */
const higher = (a: number, b: number): boolean => a > b;
