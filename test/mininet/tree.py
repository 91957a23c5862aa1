"""
Mininet through its Python API (never the `mn` command, whose cleanup kills processes by broad
names): a tree of depth 2 and fanout 2 (three ofswitch instances, four hosts) controlled by
ovs-testcontroller in OpenFlow 1.3 mode; pingall must lose nothing. Node names carry a tag so
that nothing here collides with other Mininet networks on the machine. Prints one JSON line.

    /usr/bin/python3 test/mininet/tree.py TAG CONTROLLER_PORT
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'examples', 'mininet'))

from mininet.net import Mininet  # noqa: E402
from mininet.node import Controller  # noqa: E402
from mininet.topo import Topo  # noqa: E402
from mininet.log import setLogLevel  # noqa: E402
from ofswitch import OFSwitch  # noqa: E402

TAG = sys.argv[1]
PORT = int(sys.argv[2])


class Tree(Topo):
    "Depth 2, fanout 2: one core switch, two edge switches, two hosts on each."

    def build(self):
        core = self.addSwitch('%ss1' % TAG, dpid='%x' % 1)
        n = 0
        for e in (2, 3):
            edge = self.addSwitch('%ss%d' % (TAG, e), dpid='%x' % e)
            self.addLink(core, edge)
            for _ in range(2):
                n += 1
                self.addLink(edge, self.addHost('%sh%d' % (TAG, n), ip='10.0.0.%d/24' % n))


class TestController(Controller):
    "ovs-testcontroller, OpenFlow 1.3, with its own unixctl socket."

    def __init__(self, name, **kw):
        Controller.__init__(self, name, command='ovs-testcontroller',
                            cargs='-O OpenFlow13 --unixctl=/tmp/%s.ctl ptcp:%%d' % name, port=PORT, **kw)

    def checkListening(self):
        "Mininet's check needs telnet; the port was chosen free by the caller."


def main():
    setLogLevel('warning')
    net = Mininet(topo=Tree(), switch=OFSwitch, controller=None, autoSetMacs=True, waitConnected=False)
    net.addController('%sc0' % TAG, controller=TestController)
    result = {}
    try:
        net.start()
        # The controller learns as packets come: a first round warms it up, the second must be clean.
        net.pingAll(timeout=2)
        result['loss'] = net.pingAll(timeout=2)
        # TCP across the tree (h1 on one edge switch, h4 on the other): iperf3 for a second.
        h1, h4 = net.hosts[0], net.hosts[-1]
        h4.cmd('iperf3 -s -1 -D')
        out = h1.cmd('sleep 0.3; iperf3 -c %s -t 1 -J' % h4.IP())
        try:
            result['tcpBytes'] = json.loads(out[out.index('{'):])['end']['sum_received']['bytes']
        except (ValueError, KeyError):
            result['tcpBytes'] = 0
            result['tcpOut'] = out[-500:]
        result['switches'] = [s.name for s in net.switches]
        result['flows'] = net.switches[0].dpctl('dpctl/show')
    finally:
        net.stop()
    print(json.dumps(result))


main()
