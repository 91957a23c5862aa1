/**
 * xlate: the OpenFlow pipeline turned into datapath actions.
 *
 * What it is for: given a bridge (its tables, groups, ports and MAC table, seen through the
 * read-only XBridge of types.ts) and a flow, xlate() answers what the datapath must do with every
 * packet of that flow: ODP actions (src/dpif/odp.ts), the megaflow mask that says which packets
 * count as "that flow", the rules, buckets and meters to credit, the MAC learning to apply, and
 * the bridge state the answer depends on (for revalidation). formatTrace() turns a traced
 * translation into ofproto/trace text.
 *
 * Invariants:
 * - xlate is pure: it changes neither its input nor the bridge; side effects (MAC learning,
 *   packet-ins, counters) come back as data for the caller to perform.
 * - The mask holds every input bit the result depends on and, as far as the key allows, only
 *   those: two flows that agree on the mask get the same actions.
 * - Executing the actions on a packet whose key is the input flow (packet/rewrite.ts) and
 *   re-extracting the frame at the end gives finalFlow's packet words (commit.ts explains the
 *   cases the key cannot follow: headers behind a popped input MPLS label or PBB header).
 * - Nothing from outside makes it throw: limits give a drop with `error`.
 *
 * Modules: xlate.ts (the pipeline, actions, groups, NORMAL), commit.ts (the flow as actions
 * change it, and the lazy commit of those changes), match.ts (OpenFlow matches and fields on the
 * flow-key layout), mac-learning.ts (NORMAL's table), trace.ts (text), types.ts (the contract).
 */

export * from './types.js';
export { xlate, XLATE_LIMITS, UNPARSED_NOTE } from './xlate.js';
export { formatTrace, formatMatch, formatOfAction, formatOfActions, formatPort, type TraceFormatOptions } from './trace.js';
export { MacLearningTable, type MacEntry, type MacLearningOptions } from './mac-learning.js';
export {
  compileMatch, matchFromKey, matchError, isMatchError, orFieldMask, setFieldInKey, fieldWireValue, type CompiledMatch,
} from './match.js';
