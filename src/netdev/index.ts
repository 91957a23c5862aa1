/**
 * netdev: the ports the datapath reads frames from and writes frames to.
 *
 * What it is for: hiding where frames come from behind one small interface (Netdev in
 * netdev.ts): a receiver the datapath installs gets batches of Packets, send() takes batches back
 * out, stats() and status$ report counters and link changes for OpenFlow's port stats and
 * PORT_STATUS. Providers: dummy (in memory, with pcap files, for tests and demos) and patch (a
 * wire between two bridges); system (an existing Linux interface through AF_PACKET, afpacket.ts)
 * and tap/internal (a TAP device, tap.ts), both over the native addon that native.ts loads (the
 * switch runs without it; those two port types then fail to open with the reason); vxlan and
 * geneve (UDP tunnels over node:dgram) and gre (over a raw IP socket of the addon, rawip.ts), all
 * in tunnel.ts, whose packets carry tunnel metadata (Packet.tunnel) between the outer packet and
 * the flow key. pcap.ts reads
 * and writes classic capture files for the dummy provider and the tests.
 *
 * Invariants every provider keeps:
 * - received batches come from the event loop, never from inside a send() (the datapath is not
 *   re-entered while it forwards), at most RX_BATCH packets each, as fresh Packets with headroom
 *   for pushes;
 * - send() has copied what it needs from the frames when it returns (the caller reuses buffers);
 * - nothing from outside (a peer, a file, injected bytes) makes a provider throw once it exists:
 *   bad input is counted (rxErrors, rxDropped) and dropped, and memory stays bounded (queues
 *   have limits);
 * - configuration errors (an unreadable rx_pcap) are reported when the port is created, naming
 *   the file.
 */

export * from './netdev.js';
export { readPcap, parsePcap, encodePcap, PcapWriter, LINKTYPE_ETHERNET, PCAP_SNAPLEN } from './pcap.js';
export {
  DummyNetdev, RxQueue, hwAddrFromName, RX_QUEUE_LIMIT, MIN_FRAME, MAX_FRAME, SENT_RING, type DummyNetdevOptions,
} from './dummy.js';
export { PatchNetdev, createPatchPair, type PatchNetdevOptions } from './patch.js';
export {
  loadNative, errnoName, validIfName, watchLinks, completePartialChecksum, NativeNetdev, RX_BUDGET, LINK_POLL_MS,
  REC_VLAN_RESTORED, REC_CSUM_PARTIAL, REC_TRUNCATED, REC_CSUM_VALID, REC_HEADER, IFF_UP, IFF_RUNNING, IFF_PROMISC, IFF_LOWER_UP,
  type NativeBinding, type NativePort, type IfInfo, type LinkEvent, type LinkListener,
} from './native.js';
export { SystemNetdev, slotSizeFor, DEFAULT_RING_FRAMES, type SystemNetdevOptions } from './afpacket.js';
export { TapNetdev, type TapNetdevOptions } from './tap.js';
export {
  TunnelNetdev, parseTunnelOptions, tunnelOptionNames, decodeVxlan, decodeGeneve, decodeGre, encodeVxlan, encodeGeneve, encodeGre, newTunnelHeader,
  VXLAN_PORT, GENEVE_PORT, VXLAN_HLEN, GENEVE_HLEN, GRE_HLEN, GRE_FLAG, IPPROTO_GRE, ETH_P_TEB, TUNNEL_OPTION_NAMES, GRE_OPTION_NAMES,
  TUNNEL_RX_QUEUE_LIMIT, LEARN_LIMIT, REMOTE_LIMIT, LEARN_AGE_MS,
  type TunnelType, type TunnelHeader, type TunnelNetdevOptions, type TunnelPortConfig, type GreFields,
} from './tunnel.js';
export { RawIpSocket, checkIpv4, numberToIp, RAW_MAX_PACKET, type RawIpHandler } from './rawip.js';
