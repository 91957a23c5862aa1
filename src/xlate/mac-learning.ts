/**
 * The MAC learning table behind the NORMAL action: (VLAN, MAC) -> the OpenFlow port the address
 * was last seen on.
 *
 * xlate only reads it (XMacTable.lookup) and reports what it would learn (XlateResult.learned);
 * the caller applies that with learn(), so translation stays a pure function. Invariants:
 * - one entry per (vlan, mac); learning an address again moves it to the new port and makes it
 *   the youngest entry;
 * - an entry older than `agingMs` (last learned more than that long ago by `now()`) is gone:
 *   lookup() does not return it and expire() removes it;
 * - at most `maxEntries` entries: learning a new address into a full table evicts the entry
 *   learned longest ago first (the same order aging uses).
 * Entries live in a Map whose insertion order is the order of last learning (an entry learned
 * again is deleted and re-inserted), so the oldest entry is always the first one: eviction and
 * expiry are O(1) per entry without a separate queue.
 */

import type { MacLearn, XMacTable } from './types.js';

export interface MacLearningOptions {
  /** Seconds an entry lives after it was last learned (default 300, as OVS's mac-aging-time). */
  readonly agingSec?: number;
  /** Largest number of entries (default 2048, as OVS's mac-table-size default). */
  readonly maxEntries?: number;
  /** ms, monotonic; injectable for tests. */
  readonly now?: () => number;
}

export interface MacEntry {
  readonly vlan: number;
  readonly macHi: number;
  readonly macLo: number;
  readonly ofport: number;
  /** ms (now()) when last learned */
  readonly learnedAt: number;
}

/** 12-bit VLAN, 16 + 32 bits of MAC: one exact number (60 bits fits no double; use a string). */
const keyOf = (vlan: number, hi: number, lo: number): string => `${vlan}/${hi}/${lo}`;

export class MacLearningTable implements XMacTable {
  private readonly entries_ = new Map<string, MacEntry>();
  private readonly agingMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(opts: MacLearningOptions = {}) {
    this.agingMs = (opts.agingSec ?? 300) * 1000;
    this.maxEntries = Math.max(1, opts.maxEntries ?? 2048);
    this.now = opts.now ?? (() => performance.now());
  }

  get size(): number {
    return this.entries_.size;
  }

  lookup(vlan: number, macHi: number, macLo: number): number | undefined {
    const e = this.entries_.get(keyOf(vlan, macHi, macLo));
    if (e === undefined || this.now() - e.learnedAt > this.agingMs) return undefined;
    return e.ofport;
  }

  /** Learns `l`; true when that changed what lookup() answers (a new address, or a move). */
  learn(l: MacLearn): boolean {
    const k = keyOf(l.vlan, l.macHi, l.macLo);
    const now = this.now();
    const old = this.entries_.get(k);
    const changed = old === undefined || old.ofport !== l.ofport || now - old.learnedAt > this.agingMs;
    if (old !== undefined) this.entries_.delete(k);
    else if (this.entries_.size >= this.maxEntries) {
      const first = this.entries_.keys().next();
      if (first.done !== true) this.entries_.delete(first.value);
    }
    this.entries_.set(k, { vlan: l.vlan, macHi: l.macHi, macLo: l.macLo, ofport: l.ofport, learnedAt: now });
    return changed;
  }

  /** Removes entries past their age; returns how many. */
  expire(): number {
    const now = this.now();
    let n = 0;
    for (const [k, e] of this.entries_) {
      if (now - e.learnedAt <= this.agingMs) break; // insertion order is learning order
      this.entries_.delete(k);
      n++;
    }
    return n;
  }

  /** Forgets the entries of one port (it went away or down), or every entry. */
  flush(ofport?: number): void {
    if (ofport === undefined) {
      this.entries_.clear();
      return;
    }
    for (const [k, e] of this.entries_) if (e.ofport === ofport) this.entries_.delete(k);
  }

  /** Live entries, oldest first (for display: fdb/show). */
  entries(): MacEntry[] {
    const now = this.now();
    return [...this.entries_.values()].filter((e) => now - e.learnedAt <= this.agingMs);
  }
}
