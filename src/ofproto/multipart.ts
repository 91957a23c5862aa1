/**
 * Multipart (statistics and description) requests: the reply for each type, splitting of large
 * replies, and reassembly of requests sent in several parts.
 *
 * - Replies are built as a list of entries, then cut into messages of at most 65 535 bytes (the
 *   largest an OpenFlow header's 16-bit length can say) at entry boundaries: an entry is never
 *   split, every message but the last carries OFPMPF_REPLY_MORE (OpenFlow 1.3.5 §7.3.5).
 * - Requests with OFPMPF_REQ_MORE are kept per connection until the part without it arrives, then
 *   handled as one request whose body is the parts' bodies concatenated (§7.3.5: "the switch
 *   must reassemble"). For TABLE_FEATURES that is the union of the tables; for an empty-body type
 *   every part is empty so the result is the last part; for the fixed-body types (FLOW, PORT…)
 *   concatenated bodies have the wrong length, so the request gets BAD_REQUEST/BAD_LEN as it would
 *   after byte-level reassembly. A part of another type or xid abandons the request being
 *   assembled (BAD_REQUEST/BAD_MULTIPART about it). More than `maxBytes` of parts gives
 *   BAD_REQUEST/MULTIPART_BUFFER_OVERFLOW and the parts are dropped.
 * - TABLE_FEATURES: a get (empty body) answers one entry per table: the description the pipeline
 *   holds (by default the eight properties Open vSwitch's client insists on). A set (a body with
 *   tables, all parts together) replaces the description of every table, all or nothing, and is
 *   answered like a get with the new description; the checks, the errors and the choices are in
 *   table-features.ts, the enforcement in flow-table.ts.
 * - Groups and meters answer through their tables when the switch has them; without them those
 *   types are BAD_REQUEST/BAD_MULTIPART.
 */

import { OFPE } from '../../proto/errors.js';
import type { ErrorPair } from '../../proto/schema.js';
import {
  OFPMP, OFPMPF, OFPP, OFPQ_ALL, OFPT, encodedLength,
  type GroupDesc, type GroupStats, type MeterConfig, type MeterStats, type Message, type MultipartReply,
  type MultipartRequest,
} from '../openflow/index.js';
import { flowStatsEntry, isError, type Pipeline } from './flow-table.js';
import type { PortTable } from './ports.js';

/** The largest OpenFlow message. */
export const MAX_MESSAGE = 0xffff;
/** Default bound on a request being reassembled from REQ_MORE parts (bytes of parts). */
export const DEFAULT_MAX_REASSEMBLY = 1 << 20;
/** The default table description (kept here too for the modules that read it from multipart). */
export { TABLE_MAX_ENTRIES, tableFeatures } from './table-features.js';

const BR = OFPE.BAD_REQUEST!;

/** What the switch's group table offers to multipart replies (groups.ts implements it). */
export interface GroupSource {
  descStats(): GroupDesc[];
  stats(groupId: number): GroupStats[] | ErrorPair;
  features(): { types: number; capabilities: number; maxGroups: readonly number[]; actions: readonly number[] };
}

/** What the switch's meter table offers to multipart replies (meters.ts implements it). */
export interface MeterSource {
  configStats(meterId: number): MeterConfig[] | ErrorPair;
  stats(meterId: number): MeterStats[] | ErrorPair;
  features(): { maxMeter: number; bandTypes: number; capabilities: number; maxBands: number; maxColor: number };
}

export interface MultipartContext {
  readonly pipeline: Pipeline;
  readonly ports: PortTable;
  readonly groups?: GroupSource | undefined;
  readonly meters?: MeterSource | undefined;
  readonly now: () => number;
  /** The bridge name, reported as dp_desc. */
  readonly bridge: string;
  readonly swVersion: string;
}

type ReplyHead = { type: 0x13; xid: number; mpType: number; flags: number };

/**
 * Cuts `entries` into replies of at most MAX_MESSAGE bytes under `key`, REPLY_MORE on all but
 * the last. Each entry's size is measured once, as the growth of a reply holding just it.
 */
export function splitReply<E>(head: Omit<ReplyHead, 'flags'> & Record<string, unknown>, key: string, entries: readonly E[], max = MAX_MESSAGE): MultipartReply[] {
  const mk = (list: readonly E[], more: boolean): MultipartReply =>
    ({ ...head, flags: more ? OFPMPF.MORE : 0, [key]: list }) as unknown as MultipartReply;
  const base = encodedLength(mk([], false));
  const out: MultipartReply[] = [];
  let cur: E[] = [];
  let size = base;
  for (const e of entries) {
    const n = encodedLength(mk([e], false)) - base;
    if (base + n > max) throw new RangeError(`one ${key} entry of ${n} bytes cannot fit in a message`);
    if (size + n > max && cur.length > 0) {
      out.push(mk(cur, true));
      cur = [];
      size = base;
    }
    cur.push(e);
    size += n;
  }
  out.push(mk(cur, false));
  return out;
}

/** The reply messages for a complete request, or the error to answer it with. */
export function multipartReply(req: MultipartRequest, ctx: MultipartContext): MultipartReply[] | ErrorPair {
  const xid = req.xid ?? 0;
  const head = { type: OFPT.MULTIPART_REPLY, xid, mpType: req.mpType } as const;
  switch (req.mpType) {
    case OFPMP.DESC:
      return [{
        ...head, mpType: OFPMP.DESC, flags: 0, mfrDesc: 'ofswitch', hwDesc: 'ofswitch userspace switch (Node.js)',
        swDesc: ctx.swVersion, serialNum: 'None', dpDesc: ctx.bridge,
      }];
    case OFPMP.FLOW: {
      const rules = ctx.pipeline.flowStats(req);
      if (isError(rules)) return rules;
      const now = ctx.now();
      return splitReply(head, 'stats', rules.map((r) => flowStatsEntry(r, now)));
    }
    case OFPMP.AGGREGATE: {
      const a = ctx.pipeline.aggregate(req);
      if (isError(a)) return a;
      return [{ ...head, mpType: OFPMP.AGGREGATE, flags: 0, packetCount: a.packetCount, byteCount: a.byteCount, flowCount: a.flowCount }];
    }
    case OFPMP.TABLE:
      return splitReply(head, 'stats', ctx.pipeline.tableStats());
    case OFPMP.PORT_STATS: {
      const stats = ctx.ports.stats(req.portNo);
      if (stats === undefined) return BR.BAD_PORT!;
      return splitReply(head, 'stats', stats);
    }
    case OFPMP.QUEUE: {
      // No queues exist: an existing port (or ANY) has none to report; an unknown port or a
      // specific queue id is an error (OVS: QUEUE_OP_FAILED/BAD_PORT, BAD_QUEUE).
      if (req.portNo !== OFPP.ANY && !ctx.ports.exists(req.portNo)) return OFPE.QUEUE_OP_FAILED!.BAD_PORT!;
      if (req.queueId !== OFPQ_ALL) return OFPE.QUEUE_OP_FAILED!.BAD_QUEUE!;
      return [{ ...head, mpType: OFPMP.QUEUE, flags: 0, stats: [] }];
    }
    case OFPMP.GROUP: {
      if (ctx.groups === undefined) return BR.BAD_MULTIPART!;
      const s = ctx.groups.stats(req.groupId);
      return isError(s) ? s : splitReply(head, 'stats', s);
    }
    case OFPMP.GROUP_DESC:
      if (ctx.groups === undefined) return BR.BAD_MULTIPART!;
      return splitReply(head, 'stats', ctx.groups.descStats());
    case OFPMP.GROUP_FEATURES: {
      if (ctx.groups === undefined) return BR.BAD_MULTIPART!;
      const f = ctx.groups.features();
      return [{ ...head, mpType: OFPMP.GROUP_FEATURES, flags: 0, types: f.types, capabilities: f.capabilities, maxGroups: f.maxGroups, actions: f.actions }];
    }
    case OFPMP.METER: {
      if (ctx.meters === undefined) return BR.BAD_MULTIPART!;
      const s = ctx.meters.stats(req.meterId);
      return isError(s) ? s : splitReply(head, 'stats', s);
    }
    case OFPMP.METER_CONFIG: {
      if (ctx.meters === undefined) return BR.BAD_MULTIPART!;
      const s = ctx.meters.configStats(req.meterId);
      return isError(s) ? s : splitReply(head, 'stats', s);
    }
    case OFPMP.METER_FEATURES: {
      if (ctx.meters === undefined) return BR.BAD_MULTIPART!;
      const f = ctx.meters.features();
      return [{ ...head, mpType: OFPMP.METER_FEATURES, flags: 0, ...f }];
    }
    case OFPMP.TABLE_FEATURES:
      if (req.tables.length > 0) {
        const err = ctx.pipeline.setTableFeatures(req.tables);
        if (err !== undefined) return err;
      }
      return splitReply(head, 'tables', ctx.pipeline.tableFeatures());
    case OFPMP.PORT_DESC:
      return splitReply(head, 'ports', ctx.ports.descs());
    case OFPMP.EXPERIMENTER:
      return BR.BAD_EXPERIMENTER!;
    default:
      return BR.BAD_MULTIPART!;
  }
}

// ---------------------------------------------------------------------------------------------
// REQ_MORE reassembly
// ---------------------------------------------------------------------------------------------

export type AssemblyResult =
  | { readonly kind: 'wait' }
  | { readonly kind: 'ready'; readonly req: MultipartRequest }
  /** `about` is the message the error refers to; `then` a request to go on with (after an abandoned one). */
  | { readonly kind: 'error'; readonly pair: ErrorPair; readonly about: Message; readonly then?: MultipartRequest };

/** Reassembles one connection's multipart requests sent with OFPMPF_REQ_MORE. */
export class MultipartAssembler {
  private parts: MultipartRequest[] = [];
  private bytes = 0;

  constructor(private readonly maxBytes = DEFAULT_MAX_REASSEMBLY) {}

  /** True while parts of a request wait for their last part. */
  get pending(): boolean {
    return this.parts.length > 0;
  }

  push(req: MultipartRequest): AssemblyResult {
    const first = this.parts[0];
    if (first !== undefined && (first.xid !== req.xid || first.mpType !== req.mpType)) {
      // Another request interrupts: the old one is abandoned and the new one starts afresh.
      this.reset();
      const next = this.push(req);
      const then = next.kind === 'ready' ? next.req : undefined;
      return { kind: 'error', pair: BR.BAD_MULTIPART!, about: first, ...(then !== undefined ? { then } : {}) };
    }
    const more = (req.flags & OFPMPF.MORE) !== 0;
    if (!more && first === undefined) return { kind: 'ready', req };
    this.bytes += encodedLength(req);
    if (this.bytes > this.maxBytes) {
      this.reset();
      return { kind: 'error', pair: BR.MULTIPART_BUFFER_OVERFLOW!, about: req };
    }
    this.parts.push(req);
    if (more) return { kind: 'wait' };
    const parts = this.parts;
    this.reset();
    return merge(parts);
  }

  reset(): void {
    this.parts = [];
    this.bytes = 0;
  }
}

function merge(parts: readonly MultipartRequest[]): AssemblyResult {
  const last = parts[parts.length - 1]!;
  switch (last.mpType) {
    case OFPMP.TABLE_FEATURES: {
      const tables = parts.flatMap((p) => ('tables' in p ? p.tables : []));
      return { kind: 'ready', req: { ...last, flags: 0, tables } };
    }
    case OFPMP.DESC: case OFPMP.TABLE: case OFPMP.GROUP_DESC: case OFPMP.GROUP_FEATURES:
    case OFPMP.METER_FEATURES: case OFPMP.PORT_DESC:
      return { kind: 'ready', req: { ...last, flags: 0 } };
    case OFPMP.EXPERIMENTER: {
      const data = Buffer.concat(parts.map((p) => ('data' in p ? p.data : new Uint8Array(0))));
      return { kind: 'ready', req: { ...last, flags: 0, data } as MultipartRequest };
    }
    default:
      // A fixed body repeated is a body of the wrong length.
      return { kind: 'error', pair: BR.BAD_LEN!, about: last };
  }
}
