/**
 * packet: header views, flow-key extraction, header rewrites and checksums (pure: no I/O).
 *
 * What it is for: the per-packet work of the datapath. `extract` reads a frame into a FlowKey
 * (a fixed layout of 32-bit words holding every OpenFlow 1.3 match field plus datapath metadata)
 * and records where each header is (Offsets); the rewrite functions apply OpenFlow's
 * packet-changing actions to the bytes (set-field on every settable field, push/pop VLAN, MPLS
 * and PBB, TTL actions) and keep every checksum right; `buildPacket` makes frames from a
 * description for tests and demos.
 *
 * Invariants:
 * - Nothing here allocates per packet or throws on a bad frame: extraction records what it could
 *   parse and flags truncation (KF.TRUNCATED) or malformation (KF.MALFORMED); a rewrite that
 *   does not apply returns false and leaves the frame as it was.
 * - Nothing reads or writes outside the frame [start, end), except that a push grows the frame
 *   into the packet's headroom.
 * - After a rewrite, re-extracting gives the old key with exactly the action's change.
 * - Checksums that were right stay right (incrementally where that is cheaper); a UDP checksum of
 *   zero over IPv4 (no checksum) stays zero; a checksum that was wrong stays wrong.
 */

export * from './key.js';
export { Packet, Offsets, DEFAULT_HEADROOM, TUN_OPTIONS_MAX, tunnelToKey, tunnelWithId, type TunnelMeta } from './packet.js';
export * from './extract.js';
export * from './checksum.js';
export * from './rewrite.js';
export * from './build.js';
