/**
 * Exact idle and hard timeouts: a binary min-heap of rules keyed by the earliest moment each could
 * expire, so the switch arms one timer for nextExpiry() instead of sweeping every rule.
 *
 * Why keys can be stale, and why that is safe: a rule's hard deadline never moves, and its idle
 * deadline (lastUsedAt + idle) only moves later, because the datapath pushes lastUsedAt forward
 * (credit) and never back. So the key stored in the heap is never later than the true deadline:
 * when an entry reaches the top it is re-checked against the rule's current lastUsedAt and either
 * expires or goes back in with its true deadline. A credit() therefore costs nothing here (no
 * decrease-key, no heap work per packet batch); the work is paid once per idle period instead.
 *
 * nextExpiry() refreshes stale entries at the top before answering, so the time it returns is the
 * exact deadline of the next rule to expire, not a lower bound.
 *
 * Removed rules are dropped lazily too: remove() marks the entry dead and the heap discards it
 * when it surfaces (cheaper than a positional delete, and rules are removed in bulk by DELETE).
 */

import { OFPRR } from '../openflow/index.js';
import { heapPush, heapPop } from '../common/heap.js';

/** What the queue needs from a rule (the Rule of flow-table.ts has these). */
export interface TimedRule {
  readonly idleTimeout: number;
  readonly hardTimeout: number;
  readonly installedAt: number;
  readonly lastUsedAt: number;
}

export interface Expired<R> {
  readonly rule: R;
  /** OFPRR_IDLE_TIMEOUT or OFPRR_HARD_TIMEOUT. */
  readonly reason: number;
  /** The exact deadline that passed (ms), which is when the rule stopped being valid. */
  readonly at: number;
}

interface Entry<R> {
  readonly rule: R;
  /** Never later than the rule's true deadline. */
  at: number;
  /** Tie-break: equal deadlines expire in the order the rules were added. */
  readonly seq: number;
  dead: boolean;
}

/** The rule's deadline and which timeout gives it (hard wins a tie: it cannot be postponed). */
export function deadlineOf(r: TimedRule): { at: number; reason: number } {
  const hard = r.hardTimeout > 0 ? r.installedAt + r.hardTimeout * 1000 : Infinity;
  const idle = r.idleTimeout > 0 ? r.lastUsedAt + r.idleTimeout * 1000 : Infinity;
  return hard <= idle ? { at: hard, reason: OFPRR.HARD_TIMEOUT } : { at: idle, reason: OFPRR.IDLE_TIMEOUT };
}

export class ExpiryQueue<R extends TimedRule> {
  private readonly heap: Entry<R>[] = [];
  private readonly live = new Map<R, Entry<R>>();
  private seq = 0;

  /** Rules being tracked (those with a timeout). */
  get size(): number {
    return this.live.size;
  }

  /** Starts tracking a rule; rules without timeouts are ignored. */
  add(rule: R): void {
    if (rule.idleTimeout <= 0 && rule.hardTimeout <= 0) return;
    const old = this.live.get(rule);
    if (old !== undefined) old.dead = true;
    const e: Entry<R> = { rule, at: deadlineOf(rule).at, seq: this.seq++, dead: false };
    this.live.set(rule, e);
    this.push(e);
  }

  remove(rule: R): void {
    const e = this.live.get(rule);
    if (e === undefined) return;
    e.dead = true;
    this.live.delete(rule);
    // Dead entries are dropped when they surface; if they dominate, rebuild so memory follows
    // the live count after a mass delete.
    if (this.heap.length > 64 && this.heap.length > 4 * this.live.size) this.rebuild();
  }

  /** The exact time (ms) the next tracked rule expires, or undefined when none will. */
  nextExpiry(): number | undefined {
    for (;;) {
      const top = this.heap[0];
      if (top === undefined) return undefined;
      if (top.dead) {
        this.pop();
        continue;
      }
      const d = deadlineOf(top.rule).at;
      if (d === top.at) return d;
      // Stale (the rule was used since): re-key it and look again.
      this.pop();
      top.at = d;
      this.push(top);
    }
  }

  /** Removes from the queue and returns every rule whose deadline is <= now, earliest first. */
  expire(now: number): Expired<R>[] {
    const out: Expired<R>[] = [];
    for (;;) {
      const top = this.heap[0];
      if (top === undefined || top.at > now) break;
      this.pop();
      if (top.dead) continue;
      const d = deadlineOf(top.rule);
      if (d.at > now) {
        top.at = d.at;
        this.push(top);
        continue;
      }
      this.live.delete(top.rule);
      out.push({ rule: top.rule, reason: d.reason, at: d.at });
    }
    return out;
  }

  // -------------------------------------------------------------------------------------------

  private push(e: Entry<R>): void {
    heapPush(this.heap, e, earlier);
  }

  private pop(): void {
    heapPop(this.heap, earlier);
  }

  private rebuild(): void {
    const entries = [...this.live.values()];
    this.heap.length = 0;
    for (const e of entries) this.push(e);
  }
}

/** Deadlines come out earliest first; ties in the order they were queued. */
function earlier<R>(a: Entry<R>, b: Entry<R>): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
