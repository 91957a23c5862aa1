#!/usr/bin/python3
"""A GRE far end made with scapy, for test/tunnels.test.ts (run inside the far end's namespace).

Crafts GRE packets carrying Ethernet (Transparent Ethernet Bridging, or whatever a case asks
for), each with an ICMP echo request inside, sends them to the switch under test, and captures
the GRE packets the switch sends back until it has `expect` of them (or 15 s have passed). Prints
one JSON object: what scapy reads from each captured packet (GRE flags, key, whether the
checksum verifies, the inner Ethernet, IP and ICMP fields), and writes the capture to a pcap
file for tshark to read independently.

argv[1] is a JSON object:
  iface, local, remote          the underlay interface and addresses (this end, the switch)
  inner_src_mac, inner_src_ip   the host this end pretends to have behind it
  inner_dst_mac, inner_dst_ip   the host behind the switch
  pcap                          where to write the capture
  expect                        how many GRE packets to wait for
  packets                       a list of {seq, key?, csum?, bad_csum?, proto?, version?, gre_seq?}
"""

import json
import sys
import time

from scapy.all import GRE, ICMP, IP, AsyncSniffer, Ether, Raw, conf, raw, send, wrpcap

conf.verb = 0


def craft(c, p):
    inner = (Ether(src=c["inner_src_mac"], dst=c["inner_dst_mac"])
             / IP(src=c["inner_src_ip"], dst=c["inner_dst_ip"])
             / ICMP(type=8, id=0x4242, seq=p["seq"]) / Raw(b"ofswitch-gre-interop"))
    proto = p.get("proto", 0x6558)
    if proto != 0x6558:
        inner = inner[IP]  # what a GRE header with that protocol type would really carry
    gre = GRE(proto=proto, version=p.get("version", 0))
    if "key" in p:
        gre.key_present = 1
        gre.key = p["key"]
    if "gre_seq" in p:
        gre.seqnum_present = 1
        gre.sequence_number = p["gre_seq"]
    if p.get("csum") or p.get("bad_csum"):
        gre.chksum_present = 1
    pkt = IP(src=c["local"], dst=c["remote"]) / gre / inner
    if p.get("bad_csum"):
        # Build with the right checksum, then spoil it.
        b = bytearray(raw(pkt))
        b[24] ^= 0xff
        pkt = IP(bytes(b))
    return pkt


def checksum_ok(g):
    """Whether a captured GRE header's checksum verifies (None when it has none)."""
    if not g.chksum_present:
        return None
    data = bytes(g)
    total = 0
    for i in range(0, len(data) - 1, 2):
        total += (data[i] << 8) | data[i + 1]
    if len(data) % 2:
        total += data[-1] << 8
    while total > 0xffff:
        total = (total & 0xffff) + (total >> 16)
    return total == 0xffff


def describe(pkt):
    g = pkt[GRE]
    out = {
        "outer_src": pkt[IP].src, "outer_dst": pkt[IP].dst, "outer_ttl": pkt[IP].ttl,
        "version": g.version, "proto": g.proto, "routing": g.routing_present,
        "key": g.key if g.key_present else None,
        "seq": g.sequence_number if g.seqnum_present else None,
        "csum_ok": checksum_ok(g),
    }
    if g.proto == 0x6558:
        e = Ether(bytes(g.payload))
        out["eth_src"], out["eth_dst"] = e.src, e.dst
        if ICMP in e:
            out["ip_src"], out["ip_dst"] = e[IP].src, e[IP].dst
            out["icmp_type"], out["icmp_seq"] = e[ICMP].type, e[ICMP].seq
            out["payload"] = bytes(e[ICMP].payload).decode("latin-1")
    return out


def main():
    c = json.loads(sys.argv[1])
    sniffer = AsyncSniffer(iface=c["iface"], filter="ip proto 47 and src host %s" % c["remote"],
                           count=c["expect"], timeout=15)
    sniffer.start()
    time.sleep(0.5)  # let the capture open before anything is sent
    for p in c["packets"]:
        send(craft(c, p))
    sniffer.join()
    got = sniffer.results or []
    wrpcap(c["pcap"], got)
    print(json.dumps({"captured": [describe(p) for p in got if GRE in p]}))


if __name__ == "__main__":
    main()
