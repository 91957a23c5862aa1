"""
A Mininet switch class for ofswitch.

    mn --custom examples/mininet/ofswitch.py --switch ofswitch --controller remote ...

or from Mininet's Python API: Mininet(topo, switch=OFSwitch, ...). Each switch runs as its own
`ofswitch start` process with the node's interfaces as system ports (OpenFlow port numbers as
Mininet assigns them), its controllers as --controller targets, a private control socket
(/tmp/ofswitch-NAME.ctl, for `ofswitch ctl --socket ...`) and a log in /tmp/ofswitch-NAME.log.
It is stopped by the PID it was started with, never by name.

OFSWITCH_BIN (environment) overrides the path of bin/ofswitch.js; NODE the node binary.
"""

import os

from mininet.node import Switch
from mininet.log import error

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get('OFSWITCH_BIN', os.path.join(HERE, '..', '..', 'bin', 'ofswitch.js'))
NODE = os.environ.get('NODE', 'node')


class OFSwitch(Switch):
    "An ofswitch process in the root namespace, one per Mininet switch."

    def __init__(self, name, failMode='secure', protocols=None, **params):
        Switch.__init__(self, name, **params)
        self.failMode = failMode
        self.ofpid = None

    @classmethod
    def setup(cls):
        "Nothing to load: ofswitch needs no kernel module."

    def socketPath(self):
        return '/tmp/ofswitch-%s.ctl' % self.name

    def start(self, controllers):
        "Start ofswitch with our interfaces and the controllers."
        args = [NODE, BIN, 'start', '--bridge', self.name, '--dpid', self.dpid,
                '--fail-mode', self.failMode, '--socket', self.socketPath(), '--log-level', 'info']
        if self.listenPort:
            args += ['--listen', 'ptcp:%d:127.0.0.1' % self.listenPort]
        for c in controllers:
            args += ['--controller', '%s:%s:%d' % (c.protocol, c.IP(), c.port)]
        for intf in self.intfList():
            if intf.name == 'lo' or self.ports.get(intf) is None:
                continue
            args += ['--port', '%s@%d,type=system' % (intf.name, self.ports[intf])]
            self.splitSegments(intf)
        if not controllers and not self.listenPort:
            # Without any target ofswitch would take its embedded default: ask for nothing instead.
            args += ['--listen', 'punix:/tmp/ofswitch-%s.mgmt' % self.name]
        log = '/tmp/ofswitch-%s.log' % self.name
        out = self.cmd(' '.join(args) + ' >%s 2>&1 & echo $!' % log)
        try:
            self.ofpid = int(out.strip().split()[-1])
        except (ValueError, IndexError):
            error('ofswitch %s did not start: %s\n' % (self.name, out))

    @staticmethod
    def splitSegments(intf):
        """Ask the far end of a link to send one TCP segment per packet (checksum offload stays
        on): a packet ring slot cannot hold a 64 KiB GSO super-frame, so TCP through the
        switch needs this (see src/netdev/afpacket.ts)."""
        link = getattr(intf, 'link', None)
        if link is None:
            return
        other = link.intf2 if link.intf1 is intf else link.intf1
        other.node.cmd('ip link set %s gso_max_segs 1' % other.name)

    def stop(self, deleteIntfs=True):
        "Stop our ofswitch process (by its PID)."
        if self.ofpid is not None:
            self.cmd('kill %d' % self.ofpid)
            self.cmd('wait %d 2>/dev/null' % self.ofpid)
            self.ofpid = None
        Switch.stop(self, deleteIntfs)

    def dpctl(self, *args):
        "Run an `ofswitch ctl` command against this switch."
        return self.cmd(' '.join([NODE, BIN, 'ctl', '--socket', self.socketPath()] + list(args)))


switches = {'ofswitch': OFSwitch}
