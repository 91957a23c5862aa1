/**
 * dpif: the datapath interface and its userspace backend.
 *
 * What it is for: the fast path under the OpenFlow pipeline. A datapath holds ports (netdevs with
 * datapath port numbers), a cache of megaflows — (key, mask, ODP actions, counters) that xlate
 * produced — and meters. It forwards every packet that a cached megaflow matches by itself, in
 * batches, and sends the rest up as upcalls on `upcall$`; the layer above translates them,
 * installs megaflows (flowPut) and sends the packets on (execute). PACKET_OUT uses execute too.
 *
 * Files: dpif.ts (the Dpif interface, after OVS's dpif class), odp.ts (the ODP action vocabulary),
 * userspace.ts (the default backend, after OVS's dpif-netdev), dpcls.ts (the per-port megaflow
 * classifier), emc.ts (the exact-match cache), execute.ts (the action executor), meter.ts (token
 * bucket meters with drop and DSCP-remark bands).
 *
 * Invariants:
 * - The datapath is only a cache: with no flows at all every packet goes up as a miss, and a
 *   correct handler forwards it exactly as a cached flow would. Flushing flows at any moment
 *   changes no forwarding result.
 * - Megaflows carry no priority; xlate makes them disjoint. The in_port is always exact.
 * - The fast path allocates nothing per packet except the frame copies an output or clone needs.
 * - Nothing from outside throws: bad puts return a string, bad actions and unknown ports or meters
 *   are counted (stats(), UserspaceDatapath.counters()).
 * - Upcalls are emitted synchronously, as one array per receive batch, before the receive call
 *   returns; what the handlers execute is flushed before that too.
 */

export * from './dpif.js';
export * from './odp.js';
export * from './userspace.js';
