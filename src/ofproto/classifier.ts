/**
 * The flow classifier: rules of (key, mask, priority), and for a flow the highest-priority rule
 * that matches it. Tuple-space search, as in Open vSwitch's lib/classifier: one subtable per
 * distinct mask, each a hash map from the masked key to the rules with that key, so a lookup
 * costs one hash probe per mask rather than one comparison per rule.
 *
 * Invariants:
 * - `order` holds every non-empty subtable sorted by the highest priority it holds (descending),
 *   and a lookup stops at the first subtable whose best cannot beat the rule found so far.
 * - Inside a subtable, rules with the same masked key sit in one node, sorted by priority
 *   (descending) then insertion sequence (ascending): the node's first entry is its answer.
 * - Ties between subtables are broken by the insertion sequence too (the earliest inserted rule
 *   wins), so the answer never depends on the order of subtables or of a hash map. Replacing a
 *   rule (same mask, key and priority) keeps the old rule's place in that order.
 * - lookup(flow, wc) ORs into wc the mask of every subtable it probed: the bits the search read.
 *   Subtables it skipped were skipped for their priority alone, which does not depend on the flow,
 *   so every flow equal to `flow` on wc's bits probes the same subtables, finds the same nodes,
 *   and gets the same rule: wc is a correct megaflow mask for the answer.
 * - An insertion or a removal touches one subtable (and its position in `order`); the structure
 *   is only changed by synchronous calls, so a lookup sees a change entirely or not at all.
 */

import { hashKey, hashMasked, equalMasked, equalKeys, maskWords, type FlowKey, type FlowMask } from '../packet/key.js';
import { heapPush, heapPop } from '../common/heap.js';

export interface ClsRule {
  readonly key: FlowKey;
  readonly mask: FlowMask;
  readonly priority: number;
}

interface Entry<R> {
  rule: R;
  readonly priority: number;
  /** Insertion sequence: ties go to the smallest. */
  readonly seq: number;
}

/** The rules of one subtable that share one masked key; `next` chains hash collisions. */
interface Node<R> {
  /** One of its rules' keys: only the bits under the subtable's mask are meaningful. */
  readonly key: FlowKey;
  readonly entries: Entry<R>[];
  next: Node<R> | undefined;
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

export class Classifier<R extends ClsRule> {
  /** Non-empty subtables, highest maxPriority first. */
  private order: Subtable<R>[] = [];
  /** Subtables by the hash of their mask (chained by equalKeys on collisions). */
  private readonly byMask = new Map<number, Subtable<R>[]>();
  private n = 0;
  private seq = 0;
  /**
   * The subtable found last: a flow-mod looks its mask up twice (findExact, then insert), and
   * flow-mods in a row often share a mask; comparing with it skips hashing all K.WORDS words.
   */
  private last: Subtable<R> | undefined;

  get size(): number {
    return this.n;
  }

  /**
   * Adds a rule; a rule with the same mask, masked key and priority is replaced (it keeps its
   * place in the tie order) and returned.
   */
  insert(rule: R): R | undefined {
    const st = this.subtable(rule.mask, true)!;
    // slot() and findNode() read the key through the subtable's mask: no masked copy needed.
    const key = rule.key;
    const h = slot(key, st);
    let node = this.findNode(st, key, h);
    if (node !== undefined) {
      const es = node.entries;
      let i = 0;
      while (i < es.length && es[i]!.priority > rule.priority) i++;
      if (i < es.length && es[i]!.priority === rule.priority) {
        const old = es[i]!.rule;
        es[i]!.rule = rule;
        return old;
      }
      // A new rule is the latest, so it goes after every entry of its own priority — there is
      // none (checked above), so right here.
      es.splice(i, 0, { rule, priority: rule.priority, seq: this.seq++ });
    } else {
      // The node keeps the first rule's key, not a masked copy: every comparison with node.key
      // goes through the subtable's mask (or a narrower one), under which all the node's rules
      // agree, and a rule's key never changes. That saves allocating a K.WORDS array (a separate
      // backing store in V8, microseconds) per new node.
      node = { key: rule.key, entries: [{ rule, priority: rule.priority, seq: this.seq++ }], next: st.nodes.get(h) };
      st.nodes.set(h, node);
    }
    st.count++;
    this.n++;
    this.addPriority(st, rule.priority);
    return undefined;
  }

  /** Removes this rule (by identity); false when it is not in the classifier. */
  remove(rule: R): boolean {
    const st = this.subtable(rule.mask, false);
    if (st === undefined) return false;
    // slot() and findNode() read the key through the subtable's mask: no masked copy needed.
    const key = rule.key;
    const h = slot(key, st);
    let prev: Node<R> | undefined;
    for (let node = st.nodes.get(h); node !== undefined; prev = node, node = node.next) {
      if (!equalMasked(key, node.key, st.mask, st.words)) continue;
      const i = node.entries.findIndex((e) => e.rule === rule);
      if (i < 0) return false;
      node.entries.splice(i, 1);
      if (node.entries.length === 0) {
        if (prev !== undefined) prev.next = node.next;
        else if (node.next !== undefined) st.nodes.set(h, node.next);
        else st.nodes.delete(h);
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
    if (st === undefined || !st.priorities.has(priority)) return undefined;
    const node = this.findNode(st, key, slot(key, st));
    if (node === undefined) return undefined;
    for (const e of node.entries) if (e.priority === priority) return e.rule;
    return undefined;
  }

  /**
   * The highest-priority rule matching `flow` (ties: the earliest inserted), and, when `wc` is
   * given, every key bit the search read ORed into it.
   *
   * Hot path: no allocation (index loops, Map.get, and the key.ts helpers over the words each
   * mask selects), one hash and one probe per subtable visited.
   */
  lookup(flow: FlowKey, wc?: FlowMask): R | undefined {
    const order = this.order;
    let best: Entry<R> | undefined;
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
      let node = st.nodes.get(hashMasked(flow, mask, words) & SMI);
      while (node !== undefined) {
        if (equalMasked(flow, node.key, mask, words)) {
          const e = node.entries[0]!;
          if (e.priority > bestPriority || (e.priority === bestPriority && e.seq < best!.seq)) {
            best = e;
            bestPriority = e.priority;
          }
          break;
        }
        node = node.next;
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
    const words = maskWords(mask);
    const out: R[] = [];
    for (const st of this.order) {
      let covers = true;
      for (let j = 0; j < words.length; j++) {
        const w = words[j]!;
        if ((mask[w]! & ~st.mask[w]!) !== 0) {
          covers = false;
          break;
        }
      }
      if (!covers) continue;
      for (const head of st.nodes.values()) {
        for (let node: Node<R> | undefined = head; node !== undefined; node = node.next) {
          if (!equalMasked(node.key, key, mask, words)) continue;
          for (const e of node.entries) out.push(e.rule);
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
      // so the one node that can overlap is found by hashing; otherwise every node is compared.
      let within = true;
      for (let j = 0; j < st.words.length; j++) {
        const w = st.words[j]!;
        if ((st.mask[w]! & ~mask[w]!) !== 0) {
          within = false;
          break;
        }
      }
      if (within) {
        const node = this.findNode(st, key, slot(key, st));
        const e = node?.entries.find((x) => x.priority === priority);
        if (e !== undefined) return e.rule;
        continue;
      }
      for (const head of st.nodes.values()) {
        for (let node: Node<R> | undefined = head; node !== undefined; node = node.next) {
          let agree = true;
          for (let j = 0; j < st.words.length; j++) {
            const w = st.words[j]!;
            if (((node.key[w]! ^ key[w]!) & st.mask[w]! & mask[w]!) !== 0) {
              agree = false;
              break;
            }
          }
          if (!agree) continue;
          const e = node.entries.find((x) => x.priority === priority);
          if (e !== undefined) return e.rule;
        }
      }
    }
    return undefined;
  }

  /** Every rule (a snapshot, in no particular order). */
  *rules(): IterableIterator<R> {
    const out: R[] = [];
    for (const st of this.order) {
      for (const head of st.nodes.values()) {
        for (let node: Node<R> | undefined = head; node !== undefined; node = node.next) {
          for (const e of node.entries) out.push(e.rule);
        }
      }
    }
    yield* out;
  }

  /** How many subtables (distinct masks) there are: the cost of a miss, for stats and tests. */
  get subtableCount(): number {
    return this.order.length;
  }

  // -------------------------------------------------------------------------------------------

  private findNode(st: Subtable<R>, key: FlowKey, h: number): Node<R> | undefined {
    for (let node = st.nodes.get(h); node !== undefined; node = node.next) {
      if (equalMasked(key, node.key, st.mask, st.words)) return node;
    }
    return undefined;
  }

  private subtable(mask: FlowMask, create: boolean): Subtable<R> | undefined {
    const last = this.last;
    if (last !== undefined && (last.mask === mask || equalKeys(last.mask, mask))) return last;
    const h = hashKey(mask);
    const chain = this.byMask.get(h);
    if (chain !== undefined) {
      for (const st of chain) {
        if (equalKeys(st.mask, mask)) {
          this.last = st;
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
    return st;
  }

  private dropSubtable(st: Subtable<R>): void {
    if (this.last === st) this.last = undefined;
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

function slot<R>(key: FlowKey, st: Subtable<R>): number {
  return hashMasked(key, st.mask, st.words) & SMI;
}

/** Priorities come out highest first. */
const higher = (a: number, b: number): boolean => a > b;
