/**
 * The commands `ofswitch ctl` sends to a running switch (served by ctl.ts), named as ovs-appctl's:
 * netdev-dummy/receive, dpctl/show, dpctl/dump-flows, dpif/flush, ofproto/trace, fdb/show.
 * Each takes the command's arguments and returns the text to print, or throws CtlError naming
 * what is wrong with the arguments.
 */

import { OFPP, OFPXMT, parseMatchText, type Oxm } from '../openflow/index.js';
import { compileMatch, isMatchError } from '../xlate/match.js';
import { K, newKey, type FlowKey } from '../packet/key.js';
import { Offsets } from '../packet/packet.js';
import { extract, formatKey } from '../packet/extract.js';
import { formatActions } from '../dpif/odp.js';
import type { DatapathBridge } from '../ofproto/datapath.js';
import { CtlError, type CommandHandler } from './ctl.js';
import type { RunningSwitch } from './switch.js';
import { parsePortSpec } from './port-spec.js';

const HELP = `commands:
  help                                  this list
  show                                  bridges, ports with OpenFlow numbers, controllers
  list-br                               bridge names
  add-br BRIDGE [DPID]                  add a bridge (with its LOCAL port)
  del-br BRIDGE                         remove a bridge, its ports and flows
  list-ports BRIDGE                     port names of a bridge
  add-port BRIDGE NAME[@OFPORT][,type=dummy|patch|system|tap|vxlan|geneve|gre][,KEY=VALUE...]
                                        add a port (PORT_STATUS to the controllers)
  del-port [BRIDGE] PORT                remove a port
  set-controller BRIDGE TARGET...       connect to these controllers (replacing the others)
  set-fail-mode BRIDGE secure|standalone
                                        what the bridge does without a controller
  del-controller BRIDGE                 remove every controller target
  dpctl/show                            datapath counters and ports
  dpctl/dump-flows                      datapath flows: key/mask, counters, actions
  dpif/flush                            remove every datapath flow (counters are kept)
  netdev-dummy/receive PORT HEX...      a dummy port receives these frames (hex, one per argument)
  ofproto/trace BRIDGE [FLOW] [--packet HEX]
                                        how the pipeline handles a flow (ovs-ofctl syntax) or a frame
  fdb/show BRIDGE                       the MAC learning table of NORMAL`;

function hexFrame(text: string, what: string): Uint8Array {
  const h = text.replace(/[\s:]/g, '');
  if (h.length === 0 || h.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(h)) throw new CtlError(`${what}: ${JSON.stringify(text.slice(0, 40))} is not an even number of hex digits`);
  return Uint8Array.from(Buffer.from(h, 'hex'));
}

function ago(now: number, t: number): string {
  return t === 0 ? 'never' : `${Math.max(0, (now - t) / 1000).toFixed(3)}s`;
}

interface Receiving {
  receive(frames: Uint8Array | Uint8Array[]): void;
}

const canReceive = (x: unknown): x is Receiving => typeof (x as Receiving).receive === 'function';

export function switchCommands(sw: RunningSwitch): CommandHandler {
  const backer = sw.backer;
  const bridgeOf = (name: string | undefined): DatapathBridge => {
    if (name === undefined) throw new CtlError('name the bridge');
    const b = backer.bridges.get(name);
    if (b === undefined) throw new CtlError(`no bridge named ${JSON.stringify(name)} (bridges: ${[...backer.bridges.keys()].join(', ')})`);
    return b;
  };
  return (args) => {
    const [cmd, ...rest] = args;
    switch (cmd) {
      case 'help':
        return HELP;
      case 'show':
        return sw.show();
      case 'list-br':
        return sw.bridges().map((b) => b.name).join('\n');
      case 'add-br': {
        const [name, dpid] = rest;
        if (name === undefined || rest.length > 2) throw new CtlError('usage: add-br BRIDGE [DPID]');
        let datapathId: bigint | undefined;
        if (dpid !== undefined) {
          const h = dpid.replace(/^0x/i, '');
          if (!/^[0-9a-fA-F]{1,16}$/.test(h)) throw new CtlError(`DPID ${JSON.stringify(dpid)}: give 1 to 16 hex digits`);
          datapathId = BigInt('0x' + h);
        }
        return sw.addBridge({ bridge: name, ...(datapathId !== undefined ? { datapathId } : {}) }).then((r) => {
          if (typeof r === 'string') throw new CtlError(r);
          return '';
        });
      }
      case 'del-br': {
        const [name] = rest;
        if (name === undefined || rest.length > 1) throw new CtlError('usage: del-br BRIDGE');
        return sw.delBridge(name).then((err) => {
          if (err !== undefined) throw new CtlError(err);
          return '';
        });
      }
      case 'list-ports': {
        const b = bridgeOf(rest[0]);
        // By name, as ovs-vsctl lists them.
        return b.ofproto.ports.list().filter((p) => p.name !== b.name).map((p) => p.name).sort().join('\n');
      }
      case 'add-port': {
        const [br, text] = rest;
        if (br === undefined || text === undefined || rest.length > 2) throw new CtlError('usage: add-port BRIDGE NAME[@OFPORT][,type=dummy|patch|system|tap|vxlan|geneve|gre][,KEY=VALUE...]');
        const spec = parsePortSpec(text);
        if (typeof spec === 'string') throw new CtlError(spec.replace(/^--port /, ''));
        const r = sw.addPort(br, spec);
        if (typeof r === 'string') throw new CtlError(r);
        return '';
      }
      case 'del-port': {
        const [a, b] = rest;
        if (a === undefined || rest.length > 2) throw new CtlError('usage: del-port [BRIDGE] PORT');
        const err = b === undefined ? sw.delPort(a) : sw.delPort(b, a);
        if (err !== undefined) throw new CtlError(err);
        return '';
      }
      case 'set-fail-mode': {
        const [br, mode] = rest;
        if (br === undefined || (mode !== 'secure' && mode !== 'standalone') || rest.length > 2) throw new CtlError('usage: set-fail-mode BRIDGE secure|standalone');
        const h = sw.bridgeNamed(br);
        if (h === undefined) throw new CtlError(`no bridge named ${br}`);
        h.ofproto.failMode.setMode(mode);
        return '';
      }
      case 'set-controller':
      case 'del-controller': {
        const [br, ...targets] = rest;
        if (br === undefined || (cmd === 'set-controller' && targets.length === 0) || (cmd === 'del-controller' && targets.length > 0)) {
          throw new CtlError(cmd === 'set-controller' ? 'usage: set-controller BRIDGE TARGET...' : 'usage: del-controller BRIDGE');
        }
        const err = sw.setControllers(br, targets);
        if (err !== undefined) throw new CtlError(err);
        return '';
      }
      case 'dpctl/show': {
        const s = backer.dpif.stats();
        const perPkt = s.lookups === 0n ? '0.00' : (Number(s.maskHit) / Number(s.lookups)).toFixed(2);
        const lines = [
          `${backer.dpif.name}:`,
          `  lookups: hit:${s.hit} missed:${s.missed} lost:${s.lost}`,
          `  flows: ${s.flows}`,
          `  masks: hit:${s.maskHit} hit/pkt:${perPkt}`,
          `  exact-match cache: hit:${s.emcHit}`,
        ];
        for (const p of backer.dpif.portDump()) lines.push(`  port ${p.portNo}: ${p.name} (${p.type})`);
        return lines.join('\n');
      }
      case 'dpctl/dump-flows': {
        const now = backer.now();
        return backer.dpif.flowDump()
          .sort((a, b) => a.ufid - b.ufid)
          .map((f) => `${formatKey(f.key, f.mask)}, packets:${f.stats.packets}, bytes:${f.stats.bytes}, used:${ago(now, f.stats.used)}, actions:${formatActions(f.actions)}`)
          .join('\n');
      }
      case 'dpif/flush':
      case 'dpctl/del-flows':
        backer.flush();
        return '';
      case 'netdev-dummy/receive': {
        const [port, ...frames] = rest;
        if (port === undefined || frames.length === 0) throw new CtlError('usage: netdev-dummy/receive PORT HEX...');
        const p = backer.dpif.portQuery(port);
        if (p === undefined) throw new CtlError(`no port named ${JSON.stringify(port)}`);
        if (!canReceive(p.netdev)) throw new CtlError(`port ${port} is a ${p.type} port, not a dummy one`);
        p.netdev.receive(frames.map((f, i) => hexFrame(f, `frame ${i + 1}`)));
        return '';
      }
      case 'ofproto/trace':
        return trace(bridgeOf(rest[0]), rest.slice(1));
      case 'fdb/show': {
        const b = bridgeOf(rest[0]);
        const lines = [' port  VLAN  MAC                Age'];
        const now = backer.now();
        for (const e of b.macs.entries()) {
          const mac = [e.macHi >>> 8, e.macHi, e.macLo >>> 24, e.macLo >>> 16, e.macLo >>> 8, e.macLo]
            .map((x) => (x & 0xff).toString(16).padStart(2, '0')).join(':');
          const port = e.ofport === OFPP.LOCAL ? 'LOCAL' : String(e.ofport);
          lines.push(`${port.padStart(5)}  ${String(e.vlan).padStart(4)}  ${mac}  ${Math.floor((now - e.learnedAt) / 1000)}`);
        }
        return lines.join('\n');
      }
      default:
        throw new CtlError(`unknown command ${JSON.stringify(cmd)}; "help" lists them`);
    }
  };
}

/** A flow in ovs-ofctl's syntax as a key and mask; a string says what is wrong. */
function compileMatchText(text: string): { key: FlowKey; mask: FlowKey; oxms: readonly Oxm[] } | string {
  const oxms = parseMatchText(text);
  if (typeof oxms === 'string') return oxms;
  const cm = compileMatch(oxms);
  if (isMatchError(cm)) return `the match is not valid (OpenFlow error ${cm.join('/')})`;
  return { key: cm.key, mask: cm.mask, oxms };
}

/** `ofproto/trace BRIDGE [FLOW] [--packet HEX]`. */
function trace(b: DatapathBridge, args: readonly string[]): string {
  let flowText: string | undefined;
  let packetHex: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--packet') {
      packetHex = args[++i];
      if (packetHex === undefined) throw new CtlError('--packet needs a frame in hex');
    } else if (flowText === undefined) flowText = a;
    else throw new CtlError(`unexpected argument ${JSON.stringify(a)}`);
  }
  if (flowText === undefined && packetHex === undefined) throw new CtlError('usage: ofproto/trace BRIDGE [FLOW] [--packet HEX]');
  let flow: FlowKey = newKey();
  let given: { key: FlowKey; mask: FlowKey; oxms: readonly Oxm[] } | undefined;
  if (flowText !== undefined) {
    const r = compileMatchText(flowText);
    if (typeof r === 'string') throw new CtlError(`flow ${JSON.stringify(flowText)}: ${r}`);
    given = r;
  }
  if (packetHex !== undefined) {
    const frame = hexFrame(packetHex, '--packet');
    extract(frame, 0, frame.length, flow, new Offsets());
    // Fields the flow names override the frame's (in_port, metadata, tunnel id above all).
    if (given !== undefined) for (let i = 0; i < K.WORDS; i++) flow[i] = (flow[i]! & ~given.mask[i]!) | given.key[i]!;
  } else if (given !== undefined) {
    flow = Uint32Array.from(given.key);
  }
  if (given === undefined || !given.oxms.some((o) => o.field === OFPXMT.IN_PORT)) {
    throw new CtlError('the flow needs in_port=N (the OpenFlow port the packet comes in on)');
  }
  flow[K.IN_PHY_PORT] = flow[K.IN_PORT]!;
  return b.trace(flow);
}
