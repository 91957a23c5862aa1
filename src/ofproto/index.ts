/**
 * ofproto: the OpenFlow 1.3 switch that controllers and ovs-ofctl talk to.
 *
 * What it is for: everything a controller can see. Connections (target.ts, connection.ts,
 * connmgr.ts) negotiate HELLO, keep the channel alive and hand decoded messages, in order, to the
 * switch; roles.ts applies roles, async masks and switch config before any handler; ofproto.ts
 * answers every message for one bridge over its ports (ports.ts), flow tables (flow-table.ts on
 * the classifier, classifier.ts, with matches compiled by match.ts and modifications checked by
 * validate.ts), groups (groups.ts) and meters (meters.ts); multipart.ts builds and splits the
 * statistics replies; bundles.ts keeps ONF bundles (EXT-230) and commits them atomically.
 *
 * Invariants:
 * - Messages on one connection are handled strictly in order; a BARRIER_REPLY leaves only after
 *   everything before it was applied.
 * - A modification is validated completely before anything changes, and applied in one
 *   synchronous step: lookups see all of it or none of it.
 * - Bad input from a controller is answered with the OpenFlow error the specification names (or
 *   Open vSwitch's, where controllers rely on it; the choice is written next to the check) and
 *   the connection goes on.
 * - A classifier lookup reports every key bit it examined, so the datapath can cache the answer
 *   as a megaflow.
 *
 * packet-in.ts sends PACKET_INs to the connections whose async config wants them, through a
 * bounded queue per connection (a slow controller costs drops, never memory) with an optional rate
 * limit; fail-mode.ts decides when a standalone switch fails open; tls.ts holds the certificates
 * for ssl:/pssl:.
 *
 * Not yet here (issue 4 continues): the datapath (packet-outs are validated and counted but not
 * executed; nothing calls sendPacketIn yet; standalone forwarding), TABLE_FEATURES set.
 */

export * from './target.js';
export * from './connection.js';
export * from './roles.js';
export * from './connmgr.js';
export * from './tls.js';
export * from '../xlate/match.js';
export * from './classifier.js';
export * from './validate.js';
export * from './flow-table.js';
export * from './timeouts.js';
export * from './groups.js';
export * from './meters.js';
export * from './ports.js';
export * from './multipart.js';
export * from './bundles.js';
export * from './packet-in.js';
export * from './fail-mode.js';
export * from './ofproto.js';
