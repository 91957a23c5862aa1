/**
 * The OpenFlow pipeline: up to 255 flow tables of rules, and FLOW_MOD applied to them exactly as
 * OpenFlow 1.3 says. This is where a flow-mod lands after decoding (validate.ts checks it first).
 *
 * Semantics, with their source (OF = OpenFlow 1.3.5 §6.4 "Flow Table Modification Messages"):
 *   - ADD: a rule with the same match and priority in the table is replaced. Its counters carry
 *     over unless the new flow-mod has RESET_COUNTS; its duration does not ("that entry,
 *     including its duration, must be cleared" — OF; OVS also restarts `created` on ADD). No
 *     FLOW_REMOVED for a replaced rule (OF 1.3 has no reason for it). CHECK_OVERLAP refuses an
 *     ADD that some packet could match together with an existing rule of the same priority
 *     with FLOW_MOD_FAILED/OVERLAP, an identical rule included: the specification's reading
 *     (Open vSwitch 3.1 instead replaces an identical rule; test/ovs-diff.test.ts records it).
 *     A table holding maxEntries rules refuses a new (not replacing) rule with TABLE_FULL.
 *   - MODIFY / MODIFY_STRICT: never add (OF 1.3; 1.0's "modify adds" is gone). Only the
 *     instructions change; cookie, timeouts, flags, counters and duration stay (OF, and OVS with
 *     its new_cookie = "unchanged" for 1.2+). RESET_COUNTS on the modify clears the counters.
 *   - DELETE / DELETE_STRICT: table 0xff means every table; out_port / out_group select rules
 *     with an output action to that port / a group action to that group in their apply- or
 *     write-actions (OF: "include this as an output port"; the same test as OVS's
 *     ofpacts_output_to_port / _to_group, groups' buckets are not looked into). These filters are
 *     ignored by MODIFY* (OF). Deleted rules come back in `removed` with reason DELETE.
 *   - The cookie mask filters MODIFY*, DELETE* and flow stats, never ADD (OF).
 *   - Non-strict selection: rules whose match is at least as specific as the request's and
 *     agrees with it on the request's fields (Classifier.subsumedBy); priority is ignored.
 *     Strict: the same match and priority exactly (Classifier.findExact).
 *
 * `removed` lists every rule that left the tables by DELETE*, group deletion or timeout, whether
 * or not it has SEND_FLOW_REM: the datapath must forget them all, and only the caller knows the
 * connections' async masks. wantsFlowRemoved() says whether a FLOW_REMOVED is due.
 *
 * Atomicity: applyFlowMod validates everything before it changes anything, and the whole change
 * is one synchronous call, so a lookup sees a flow-mod entirely or not at all.
 *
 * Counters: NO_PKT_COUNTS / NO_BYT_COUNTS are kept as flags but the counts are kept anyway (the
 * flags only allow a switch not to count; OVS counts too).
 *
 * Table features: each table has a description (table-features.ts), the default one until a
 * TABLE_FEATURES set replaces it (setTableFeatures). A table whose description differs from the
 * default holds compiled rules that ADD and MODIFY* then meet after validate.ts's checks; a table
 * at the default holds none, so its flow-mods cost one undefined test more than before.
 */

import { OFPE } from '../../proto/errors.js';
import type { ErrorPair } from '../../proto/schema.js';
import {
  OFPFC, OFPFF, OFPG, OFPIT, OFPAT, OFPP, OFPRR, OFPTT, OFPT, OFP_VERSION, checkPrerequisites, isEmptyMatch,
  type FlowMod, type FlowRemoved, type FlowStats, type TableStats, type Instruction, type Oxm, type MultipartRequestFlow,
  type TableFeatures,
} from '../openflow/index.js';
import { KeySlab, maskWords, type FlowKey, type FlowMask } from '../packet/key.js';
import { Classifier, compactKey, expandKey, type ClsRule } from './classifier.js';
import { compileMatch, isMatchError, matchFromKey, type CompiledMatch, type WireCompiledMatch } from '../xlate/match.js';
import { ExpiryQueue } from './timeouts.js';
import { validateFlowMod, type ValidationEnv } from './validate.js';
import {
  checkInstructions, checkMatch, compileSet, defaultTableFeatures, type TableRules,
} from './table-features.js';

export interface Rule extends ClsRule {
  /**
   * The rule's key in compact form (ClsRule.vals): the masked words its mask selects. `key`,
   * the full K.WORDS form, is rebuilt from it on each read (an allocation): for occasional use.
   */
  readonly vals: readonly number[];
  readonly tableId: number;
  cookie: bigint;
  readonly idleTimeout: number;
  readonly hardTimeout: number;
  flags: number;
  /**
   * As the controller sent it: flow stats and FLOW_REMOVED give it back unchanged. Rebuilt from
   * the compiled form on each read when that gives it back exactly (see FlowRule): read it when
   * needed, not in a loop.
   */
  readonly match: readonly Oxm[];
  instructions: readonly Instruction[];
  packetCount: bigint;
  byteCount: bigint;
  /** ms, monotonic (env.now()) */
  readonly installedAt: number;
  lastUsedAt: number;
  /** Priority 0 with an empty match: OpenFlow's table-miss flow (its packet-ins say NO_MATCH). */
  readonly tableMiss: boolean;
}

export interface PipelineEnv extends ValidationEnv {
  /** ms, monotonic; injectable for tests. */
  now(): number;
}

export interface RemovedRule {
  readonly rule: Rule;
  /** OFPRR_* */
  readonly reason: number;
  /** ms: when the rule stopped being valid (for a timeout, the exact deadline). */
  readonly at: number;
}

export interface FlowModResult {
  /** Rules deleted (reason DELETE): FLOW_REMOVED candidates, and datapath flows to forget. */
  readonly removed: readonly RemovedRule[];
  /** New rules (ADD). */
  readonly added: readonly Rule[];
  /** Rules an ADD replaced (no FLOW_REMOVED; their counters went to the new rule unless reset). */
  readonly replaced: readonly Rule[];
  /** Rules whose instructions a MODIFY* changed. */
  readonly modified: readonly Rule[];
}

/** The selection fields of a FLOW or AGGREGATE multipart request. */
export type FlowStatsRequest = Pick<MultipartRequestFlow, 'tableId' | 'outPort' | 'outGroup' | 'cookie' | 'cookieMask' | 'match'>;

export interface AggregateResult {
  readonly packetCount: bigint;
  readonly byteCount: bigint;
  readonly flowCount: number;
}

export interface PipelineOptions {
  /** Number of tables, 1..255 (default 255: ids 0..254). */
  readonly nTables?: number;
  /** Largest number of rules per table (default: unlimited). */
  readonly maxEntries?: number;
}

interface Table {
  readonly cls: Classifier<Rule>;
  lookupCount: number;
  matchedCount: number;
  maxEntries: number;
  /** What a TABLE_FEATURES set said (undefined: never set, the default description). */
  features: TableFeatures | undefined;
  /** The set description's checks (undefined: it accepts what the default accepts). */
  rules: TableRules | undefined;
}

// Rebuilt full keys (FlowRule.key) come from their own slabs: they are short-lived, and must not
// keep a slab of long-lived keys alive or be kept alive by one.
const expandSlab = new KeySlab(128);
// The last key rebuilt and its rule: a caller reading rule.key[i] in a loop rebuilds it once.
let expandedRule: FlowRule | undefined;
let expandedKey: FlowKey | undefined;

/**
 * A flow entry. Its key is kept compactly (`vals`, about 8 bytes per word its mask selects,
 * instead of a 332-byte K.WORDS key), and the mask is interned (shared by every rule with the
 * same fields and prefix lengths): that is most of what a rule costs in memory.
 *
 * The match as sent is kept only when the compiled form cannot give it back: a flow-mod from
 * the wire whose OXMs are in matchFromKey's canonical form (compileWireMatch's `canonical`, the
 * common case) keeps none, and `match` is rebuilt on each read (flow stats, FLOW_REMOVED).
 */
class FlowRule implements Rule {
  constructor(
    readonly vals: readonly number[],
    readonly mask: FlowMask,
    readonly priority: number,
    readonly tableId: number,
    public cookie: bigint,
    readonly idleTimeout: number,
    readonly hardTimeout: number,
    public flags: number,
    /** The match as sent, or undefined when matchFromKey gives it back exactly. */
    private readonly sent: readonly Oxm[] | undefined,
    public instructions: readonly Instruction[],
    public packetCount: bigint,
    public byteCount: bigint,
    readonly installedAt: number,
    public lastUsedAt: number,
    readonly tableMiss: boolean,
  ) {}

  get match(): readonly Oxm[] {
    return this.sent ?? matchFromKey({ key: this.key, mask: this.mask });
  }

  /** The full key (zero outside the mask), rebuilt from `vals`: never write to it. */
  get key(): FlowKey {
    if (expandedRule === this) return expandedKey!;
    const k = expandKey(this.vals, this.mask, expandSlab.alloc());
    expandedRule = this;
    expandedKey = k;
    return k;
  }
}

/** The words of an interned mask (maskWords), cached: the same few masks come again and again. */
const wordsCache = new WeakMap<FlowMask, Uint8Array>();
// The last mask asked for and its words: flow-mods in a row mostly share one.
let lastWordsMask: FlowMask | undefined;
let lastWords: Uint8Array | undefined;
function wordsOfMask(mask: FlowMask): Uint8Array {
  if (mask === lastWordsMask) return lastWords!;
  let w = wordsCache.get(mask);
  if (w === undefined) wordsCache.set(mask, (w = maskWords(mask)));
  lastWordsMask = mask;
  lastWords = w;
  return w;
}

/** Shared empty lists for results (never written). */
const NONE: readonly never[] = Object.freeze([]);

const ALL_COOKIE_BITS = 0xffff_ffff_ffff_ffffn;
const FM = OFPE.FLOW_MOD_FAILED!;

/** An ErrorPair rather than a result (a Rule[] is an array too: the pair holds two numbers). */
export const isError = (x: unknown): x is ErrorPair =>
  Array.isArray(x) && x.length === 2 && typeof x[0] === 'number' && typeof x[1] === 'number';

/** True when the rule asked for a FLOW_REMOVED when it goes (SEND_FLOW_REM). */
export const wantsFlowRemoved = (r: RemovedRule): boolean => (r.rule.flags & OFPFF.SEND_FLOW_REM) !== 0;

export class Pipeline {
  readonly nTables: number;
  private readonly tables: Table[];
  private readonly expiry = new ExpiryQueue<Rule>();
  /**
   * Rules by cookie: a MODIFY/DELETE/stats request with a full cookie mask (how controllers
   * address "their" flows) visits only the rules with that cookie instead of every rule.
   */
  private readonly byCookie = new Map<bigint, Set<Rule>>(); // cookie 0 is not indexed
  /** Rules with a group action, by group id: group deletion without a scan of every rule. */
  private readonly byGroup = new Map<number, Set<Rule>>();

  constructor(private readonly env: PipelineEnv, opts: PipelineOptions = {}) {
    const n = opts.nTables ?? 255;
    if (!(Number.isInteger(n) && n >= 1 && n <= 255)) throw new RangeError(`nTables must be 1..255, got ${n}`);
    this.nTables = n;
    const max = opts.maxEntries ?? Infinity;
    this.tables = Array.from({ length: n }, () => ({
      cls: new Classifier<Rule>(), lookupCount: 0, matchedCount: 0, maxEntries: max, features: undefined, rules: undefined,
    }));
  }

  /** Number of rules over all tables. */
  get size(): number {
    let n = 0;
    for (const t of this.tables) n += t.cls.size;
    return n;
  }

  /** Changes a table's capacity (TABLE_FEATURES set); existing rules beyond it stay. */
  setMaxEntries(tableId: number, maxEntries: number): void {
    this.tables[tableId]!.maxEntries = maxEntries;
  }

  /** The description of every table (TABLE_FEATURES get): what was set, or the default. */
  tableFeatures(): TableFeatures[] {
    return this.tables.map((t, id) => t.features ?? defaultTableFeatures(id, this.nTables));
  }

  /**
   * TABLE_FEATURES set: replaces the description of every table, all or nothing (the request's
   * checks and decisions are in table-features.ts). Refused with TABLE_FEATURES_FAILED/EPERM when
   * a flow already in a table would break its new description or a table holds more flows than
   * its new max_entries: flows are never removed by a set. Nothing about the flows changes, so
   * the datapath has nothing to learn.
   */
  setTableFeatures(tables: readonly TableFeatures[]): ErrorPair | undefined {
    const configs = compileSet(tables, this.nTables);
    if (isError(configs)) return configs;
    for (let id = 0; id < this.nTables; id++) {
      const c = configs[id]!;
      const t = this.tables[id]!;
      if (t.cls.size > c.features.maxEntries) return OFPE.TABLE_FEATURES_FAILED!.EPERM!;
      if (c.rules === undefined) continue;
      for (const r of t.cls.rules()) {
        if (checkMatch(r.match, c.rules, r.tableMiss) !== undefined || checkInstructions(r.instructions, c.rules, r.tableMiss) !== undefined) {
          return OFPE.TABLE_FEATURES_FAILED!.EPERM!;
        }
      }
    }
    for (let id = 0; id < this.nTables; id++) {
      const c = configs[id]!;
      const t = this.tables[id]!;
      t.features = c.features;
      t.rules = c.rules;
      t.maxEntries = c.features.maxEntries;
    }
    return undefined;
  }

  /**
   * Takes `from`'s table descriptions and capacities (same number of tables): a scratch copy of
   * the pipeline (bundles' dry run) must refuse what the real one would.
   */
  copyTableConfig(from: Pipeline): void {
    if (from.nTables !== this.nTables) throw new RangeError('copyTableConfig: different numbers of tables');
    from.tables.forEach((f, id) => {
      const t = this.tables[id]!;
      t.features = f.features;
      t.rules = f.rules;
      t.maxEntries = f.maxEntries;
    });
  }

  /** Every rule of one table, or of all tables in table order. */
  *rules(tableId?: number): IterableIterator<Rule> {
    if (tableId !== undefined) {
      yield* this.tables[tableId]!.cls.rules();
      return;
    }
    for (const t of this.tables) yield* t.cls.rules();
  }

  // -------------------------------------------------------------------------------------------
  // FLOW_MOD
  // -------------------------------------------------------------------------------------------

  applyFlowMod(fm: FlowMod): FlowModResult | ErrorPair {
    const cm = validateFlowMod(fm, this.env, this.nTables);
    if (isMatchError(cm)) return cm;
    switch (fm.command) {
      case OFPFC.ADD: {
        const tr = this.tables[fm.tableId]!.rules;
        if (tr !== undefined) {
          const miss = fm.priority === 0 && isEmptyMatch(fm);
          const err = checkMatch(fm.match, tr, miss) ?? checkInstructions(fm.instructions, tr, miss);
          if (err !== undefined) return err;
        }
        return this.add(fm, cm);
      }
      case OFPFC.MODIFY:
      case OFPFC.MODIFY_STRICT: return this.modify(fm, cm);
      default: return this.delete(fm, cm);
    }
  }

  private add(fm: FlowMod, cm: CompiledMatch): FlowModResult | ErrorPair {
    const t = this.tables[fm.tableId]!;
    const old = t.cls.findExact(cm.key, cm.mask, fm.priority);
    if ((fm.flags & OFPFF.CHECK_OVERLAP) !== 0 && t.cls.overlapping(cm.key, cm.mask, fm.priority) !== undefined) return FM.OVERLAP!;
    if (old === undefined && t.cls.size >= t.maxEntries) return FM.TABLE_FULL!;
    const now = this.env.now();
    const keep = old !== undefined && (fm.flags & OFPFF.RESET_COUNTS) === 0;
    // cm.key is validateFlowMod's scratch: the rule keeps the compact form only. A zero cookie
    // (as decoded, a fresh BigInt each time) becomes the shared literal.
    const vals = compactKey(cm.key, cm.mask, wordsOfMask(cm.mask));
    const rule = new FlowRule(
      vals, cm.mask, fm.priority, fm.tableId, fm.cookie === 0n ? 0n : fm.cookie, fm.idleTimeout, fm.hardTimeout,
      fm.flags, (cm as Partial<WireCompiledMatch>).canonical === true ? undefined : fm.match, fm.instructions,
      keep ? old.packetCount : 0n, keep ? old.byteCount : 0n, now, now, fm.priority === 0 && isEmptyMatch(fm),
    );
    t.cls.insert(rule);
    if (old !== undefined) this.unindex(old);
    this.index(rule);
    return { removed: NONE, added: [rule], replaced: old === undefined ? NONE : [old], modified: NONE };
  }

  private modify(fm: FlowMod, cm: CompiledMatch): FlowModResult | ErrorPair {
    const rules = this.select(fm.tableId, cm, fm.command === OFPFC.MODIFY_STRICT, fm.priority, fm.cookie, fm.cookieMask, OFPP.ANY, OFPG.ANY);
    const tr = this.tables[fm.tableId]!.rules;
    if (tr !== undefined) {
      // The new instructions must suit every flow they land on: the table-miss flow meets the
      // *_MISS description, the others the plain one.
      let hit = false;
      let miss = false;
      for (const r of rules) {
        if (r.tableMiss) miss = true;
        else hit = true;
      }
      const err = (hit ? checkInstructions(fm.instructions, tr, false) : undefined) ?? (miss ? checkInstructions(fm.instructions, tr, true) : undefined);
      if (err !== undefined) return err;
    }
    const reset = (fm.flags & OFPFF.RESET_COUNTS) !== 0;
    for (const r of rules) {
      this.unindexGroups(r);
      r.instructions = fm.instructions;
      this.indexGroups(r);
      if (reset) {
        r.packetCount = 0n;
        r.byteCount = 0n;
      }
    }
    return { removed: NONE, added: NONE, replaced: NONE, modified: rules };
  }

  private delete(fm: FlowMod, cm: CompiledMatch): FlowModResult {
    const rules = this.select(fm.tableId, cm, fm.command === OFPFC.DELETE_STRICT, fm.priority, fm.cookie, fm.cookieMask, fm.outPort, fm.outGroup);
    return { removed: this.removeAll(rules, OFPRR.DELETE), added: NONE, replaced: NONE, modified: NONE };
  }

  /** Deletes every rule with a group action to `groupId` (the group is being deleted). */
  deleteFlowsUsingGroup(groupId: number): RemovedRule[] {
    const set = this.byGroup.get(groupId);
    return set === undefined ? [] : this.removeAll([...set], OFPRR.GROUP_DELETE);
  }

  private removeAll(rules: readonly Rule[], reason: number): RemovedRule[] {
    const at = this.env.now();
    const out: RemovedRule[] = [];
    for (const r of rules) {
      this.tables[r.tableId]!.cls.remove(r);
      this.unindex(r);
      out.push({ rule: r, reason, at });
    }
    return out;
  }

  /**
   * The rules a MODIFY/DELETE/stats request addresses, tables in ascending order. `tableId`
   * 0xff is every table; the caller has checked it otherwise.
   */
  private select(
    tableId: number, cm: CompiledMatch, strict: boolean, priority: number, cookie: bigint, cookieMask: bigint,
    outPort: number, outGroup: number,
  ): Rule[] {
    const out: Rule[] = [];
    const want = cookie & cookieMask;
    const keep = (r: Rule): boolean =>
      (r.cookie & cookieMask) === want
      && (outPort === OFPP.ANY || outputsTo(r.instructions, outPort))
      && (outGroup === OFPG.ANY || usesGroup(r.instructions, outGroup));
    const first = tableId === OFPTT.ALL ? 0 : tableId;
    const last = tableId === OFPTT.ALL ? this.nTables - 1 : tableId;
    if (strict) {
      for (let id = first; id <= last; id++) {
        const r = this.tables[id]!.cls.findExact(cm.key, cm.mask, priority);
        if (r !== undefined && keep(r)) out.push(r);
      }
      return out;
    }
    // Cookie 0 (what most flows carry) is not indexed: that selection scans like any other.
    if (cookieMask === ALL_COOKIE_BITS && cookie !== 0n) {
      const set = this.byCookie.get(cookie);
      if (set === undefined) return out;
      for (const r of set) if (r.tableId >= first && r.tableId <= last && subsumes(r, cm) && keep(r)) out.push(r);
      return out.sort((a, b) => a.tableId - b.tableId);
    }
    for (let id = first; id <= last; id++) {
      const t = this.tables[id]!;
      if (t.cls.size === 0) continue;
      for (const r of t.cls.subsumedBy(cm.key, cm.mask)) if (keep(r)) out.push(r);
    }
    return out;
  }

  private index(r: Rule): void {
    if (r.cookie !== 0n) {
      let set = this.byCookie.get(r.cookie);
      if (set === undefined) this.byCookie.set(r.cookie, (set = new Set()));
      set.add(r);
    }
    this.indexGroups(r);
    if (r.idleTimeout > 0 || r.hardTimeout > 0) this.expiry.add(r);
  }

  private unindex(r: Rule): void {
    if (r.cookie !== 0n) {
      const set = this.byCookie.get(r.cookie);
      if (set !== undefined && set.delete(r) && set.size === 0) this.byCookie.delete(r.cookie);
    }
    this.unindexGroups(r);
    if (r.idleTimeout > 0 || r.hardTimeout > 0) this.expiry.remove(r);
  }

  private indexGroups(r: Rule): void {
    // Most rules have no group action: a plain scan first, without the callback's closure.
    if (!hasGroupAction(r.instructions)) return;
    forEachAction(r.instructions, (type, arg) => {
      if (type !== OFPAT.GROUP) return;
      let set = this.byGroup.get(arg);
      if (set === undefined) this.byGroup.set(arg, (set = new Set()));
      set.add(r);
    });
  }

  private unindexGroups(r: Rule): void {
    if (!hasGroupAction(r.instructions)) return;
    forEachAction(r.instructions, (type, arg) => {
      if (type !== OFPAT.GROUP) return;
      const set = this.byGroup.get(arg);
      if (set !== undefined && set.delete(r) && set.size === 0) this.byGroup.delete(arg);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Lookups, counters, timeouts
  // -------------------------------------------------------------------------------------------

  /**
   * The rule of table `tableId` for `flow` (undefined: table miss), counting the lookup in the
   * table's stats; `wc` collects the key bits examined (see Classifier.lookup).
   */
  lookup(tableId: number, flow: FlowKey, wc?: FlowMask): Rule | undefined {
    const t = this.tables[tableId]!;
    t.lookupCount++;
    const r = t.cls.lookup(flow, wc);
    if (r !== undefined) t.matchedCount++;
    return r;
  }

  /**
   * The rule of table `tableId` for `flow` without counting the lookup: for translations that
   * are not a packet's (revalidation, trace), and for the datapath, which accounts for lookups
   * when it pushes its counters back (credit, countLookups).
   */
  peek(tableId: number, flow: FlowKey, wc?: FlowMask): Rule | undefined {
    return this.tables[tableId]!.cls.lookup(flow, wc);
  }

  /** Counts lookups in a table that the datapath made on the pipeline's behalf (`matched` of them hit). */
  countLookups(tableId: number, lookups: number, matched: number): void {
    const t = this.tables[tableId];
    if (t === undefined) return;
    t.lookupCount += lookups;
    t.matchedCount += matched;
  }

  /**
   * The datapath pushes back what its cached flows did for this rule: counts, and when it was
   * last used (which postpones an idle timeout). Those packets count as lookups that matched in
   * the rule's table too, since the cache stood in for those lookups. `usedAt` earlier than what
   * is known already is ignored (reports may arrive out of order).
   */
  credit(rule: Rule, packets: bigint, bytes: bigint, usedAt: number): void {
    rule.packetCount += packets;
    rule.byteCount += bytes;
    if (usedAt > rule.lastUsedAt) rule.lastUsedAt = usedAt;
    const t = this.tables[rule.tableId]!;
    const n = Number(packets);
    t.lookupCount += n;
    t.matchedCount += n;
  }

  /** Removes and returns the rules whose idle or hard timeout has passed at env.now(). */
  expire(): RemovedRule[] {
    const out: RemovedRule[] = [];
    for (const e of this.expiry.expire(this.env.now())) {
      this.tables[e.rule.tableId]!.cls.remove(e.rule);
      this.unindex(e.rule);
      out.push(e);
    }
    return out;
  }

  /** The exact time (ms, env.now()'s clock) of the next timeout, for one timer. */
  nextExpiry(): number | undefined {
    return this.expiry.nextExpiry();
  }

  // -------------------------------------------------------------------------------------------
  // Statistics
  // -------------------------------------------------------------------------------------------

  /**
   * Rules for a flow-stats request: table (0xff all), out_port, out_group, cookie/mask, and
   * non-strict match selection. A table past the last, a match failing its prerequisites or not
   * compiling give the error to answer with (BAD_REQUEST/BAD_TABLE_ID as OVS answers, BAD_MATCH/*).
   */
  flowStats(req: FlowStatsRequest): Rule[] | ErrorPair {
    if (req.tableId !== OFPTT.ALL && !(req.tableId >= 0 && req.tableId < this.nTables)) return OFPE.BAD_REQUEST!.BAD_TABLE_ID!;
    const pre = checkPrerequisites(req.match);
    if (pre !== undefined) return pre;
    const cm = compileMatch(req.match);
    if (isMatchError(cm)) return cm;
    return this.select(req.tableId, cm, false, 0, req.cookie, req.cookieMask, req.outPort, req.outGroup);
  }

  aggregate(req: FlowStatsRequest): AggregateResult | ErrorPair {
    const rules = this.flowStats(req);
    if (isError(rules)) return rules;
    let packetCount = 0n;
    let byteCount = 0n;
    for (const r of rules) {
      packetCount += r.packetCount;
      byteCount += r.byteCount;
    }
    return { packetCount, byteCount, flowCount: rules.length };
  }

  tableStats(): TableStats[] {
    return this.tables.map((t, tableId) => ({
      tableId, activeCount: t.cls.size, lookupCount: BigInt(t.lookupCount), matchedCount: BigInt(t.matchedCount),
    }));
  }
}

// ---------------------------------------------------------------------------------------------
// Rules and their instructions
// ---------------------------------------------------------------------------------------------

/** Calls f(type, port-or-group) for each output and group action in apply- and write-actions. */
function forEachAction(insts: readonly Instruction[], f: (type: number, arg: number) => void): void {
  for (const inst of insts) {
    if (inst.type !== OFPIT.APPLY_ACTIONS && inst.type !== OFPIT.WRITE_ACTIONS) continue;
    for (const a of inst.actions) {
      if (a.type === OFPAT.OUTPUT) f(a.type, a.port);
      else if (a.type === OFPAT.GROUP) f(a.type, a.groupId);
    }
  }
}

/** Some apply- or write-actions instruction holds a group action. */
function hasGroupAction(insts: readonly Instruction[]): boolean {
  for (let i = 0; i < insts.length; i++) {
    const inst = insts[i]!;
    if (inst.type !== OFPIT.APPLY_ACTIONS && inst.type !== OFPIT.WRITE_ACTIONS) continue;
    for (let j = 0; j < inst.actions.length; j++) if (inst.actions[j]!.type === OFPAT.GROUP) return true;
  }
  return false;
}

/** The rule's instructions hold an output action to `port` (out_port filter). */
export function outputsTo(insts: readonly Instruction[], port: number): boolean {
  let hit = false;
  forEachAction(insts, (type, arg) => { if (type === OFPAT.OUTPUT && arg === port) hit = true; });
  return hit;
}

/** The rule's instructions hold a group action to `groupId` (out_group filter). */
export function usesGroup(insts: readonly Instruction[], groupId: number): boolean {
  let hit = false;
  forEachAction(insts, (type, arg) => { if (type === OFPAT.GROUP && arg === groupId) hit = true; });
  return hit;
}

/** r is at least as specific as cm and agrees with it on cm's bits (non-strict selection). */
function subsumes(r: Rule, cm: CompiledMatch): boolean {
  const m = cm.mask;
  const k = cm.key;
  for (let i = 0; i < m.length; i++) {
    if ((m[i]! & ~r.mask[i]!) !== 0) return false;
  }
  // cm's mask is within r's, so its words are among r's: compare there.
  const words = wordsOfMask(r.mask);
  for (let j = 0; j < words.length; j++) {
    const i = words[j]!;
    if (((r.vals[j]! ^ k[i]!) & m[i]!) !== 0) return false;
  }
  return true;
}

/** Time from `from` to `to` (ms) as OpenFlow's duration_sec + duration_nsec. */
export function duration(from: number, to: number): { readonly sec: number; readonly nsec: number } {
  const d = Math.max(0, to - from);
  let sec = Math.floor(d / 1000);
  let nsec = Math.round((d - sec * 1000) * 1e6);
  if (nsec >= 1e9) {
    sec++;
    nsec -= 1e9;
  }
  return { sec, nsec };
}

/** The FLOW_REMOVED for a removed rule: age at removal, counters, the match as it was sent. */
export function flowRemovedMessage(r: RemovedRule): FlowRemoved {
  const rule = r.rule;
  const d = duration(rule.installedAt, r.at);
  return {
    version: OFP_VERSION, type: OFPT.FLOW_REMOVED, xid: 0, cookie: rule.cookie, priority: rule.priority, reason: r.reason,
    tableId: rule.tableId, durationSec: d.sec, durationNsec: d.nsec, idleTimeout: rule.idleTimeout,
    hardTimeout: rule.hardTimeout, packetCount: rule.packetCount, byteCount: rule.byteCount, match: rule.match,
  };
}

/** One entry of a flow-stats reply for a rule, aged at `now`. */
export function flowStatsEntry(rule: Rule, now: number): FlowStats {
  const d = duration(rule.installedAt, now);
  return {
    tableId: rule.tableId, durationSec: d.sec, durationNsec: d.nsec, priority: rule.priority,
    idleTimeout: rule.idleTimeout, hardTimeout: rule.hardTimeout, flags: rule.flags, cookie: rule.cookie,
    packetCount: rule.packetCount, byteCount: rule.byteCount, match: rule.match, instructions: rule.instructions,
  };
}
