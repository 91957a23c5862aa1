/**
 * Roles, generation ids, async and switch configuration: the pure rules (wrap-around stale
 * compare, which messages modify, the async defaults) and then two real controllers over TCP
 * (our own OfConnection as the client side) taking turns as master, slave and equal.
 */

import test from 'ava';
import fc from 'fast-check';
import { createConnection } from 'node:net';
import { firstValueFrom, filter } from 'rxjs';
import {
  encode, OFPT, OFPCR_ROLE, OFPR, OFPPR, OFPRR, OFPFC, OFPMP, OFPE, OFP_NO_BUFFER, OFPP, OFPG,
  ONF_EXPERIMENTER_ID, ONF_BCT, type Message,
} from '../src/openflow/index.js';
import { OfConnection } from '../src/ofproto/connection.js';
import { ConnectionManager } from '../src/ofproto/connmgr.js';
import {
  isStale, isModifying, wants, RoleManager, DEFAULT_ASYNC, initialControlState,
  type ControlParty, type AsyncKind,
} from '../src/ofproto/roles.js';

const U64 = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------------------------
// Pure rules

test('generation ids compare in signed 64-bit wrap-around order', (t) => {
  t.false(isStale(5n, 5n));
  t.false(isStale(6n, 5n));
  t.true(isStale(4n, 5n));
  t.false(isStale(0n, U64), '0 comes right after 2^64-1');
  t.true(isStale(U64, 0n));
  t.false(isStale(1n << 62n, 0n));
  t.true(isStale(1n << 63n, 0n), 'exactly half way round counts as older');
  t.false(isStale(1n, (1n << 63n) + 2n), 'more than half way round is newer');
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: U64 }), fc.bigInt({ min: 0n, max: U64 }), (a, b) => {
    const d = (a - b) & U64;
    if (d === 0n || d === 1n << 63n) return true;
    return isStale(a, b) !== isStale(b, a);
  }));
});

function flowMod(xid?: number): Message {
  return {
    type: OFPT.FLOW_MOD, ...(xid !== undefined ? { xid } : {}), cookie: 0n, cookieMask: 0n, tableId: 0,
    command: OFPFC.ADD, idleTimeout: 0, hardTimeout: 0, priority: 1, bufferId: OFP_NO_BUFFER,
    outPort: OFPP.ANY, outGroup: OFPG.ANY, flags: 0, match: [], instructions: [],
  };
}

test('isModifying: mods, packet-out, bundles and table-features sets; not reads or SET_ASYNC', (t) => {
  const yes: Message[] = [
    flowMod(),
    { type: OFPT.GROUP_MOD, command: 0, groupType: 0, groupId: 1, buckets: [] },
    { type: OFPT.PORT_MOD, portNo: 1, hwAddr: '02:00:00:00:00:01', config: 0, mask: 0, advertise: 0 },
    { type: OFPT.TABLE_MOD, tableId: 0, config: 0 },
    { type: OFPT.METER_MOD, command: 0, flags: 1, meterId: 1, bands: [] },
    { type: OFPT.PACKET_OUT, bufferId: OFP_NO_BUFFER, inPort: OFPP.CONTROLLER, actions: [], data: new Uint8Array(0) },
    { type: OFPT.EXPERIMENTER, experimenter: ONF_EXPERIMENTER_ID, expType: 0x8fc, bundleId: 1, ctrlType: ONF_BCT.OPEN_REQUEST, flags: 0, properties: [] },
    { type: OFPT.EXPERIMENTER, experimenter: ONF_EXPERIMENTER_ID, expType: 0x8fd, bundleId: 1, flags: 0, message: flowMod(), properties: [] },
    {
      type: OFPT.MULTIPART_REQUEST, mpType: OFPMP.TABLE_FEATURES, flags: 0,
      tables: [{ tableId: 0, name: 't', metadataMatch: 0n, metadataWrite: 0n, config: 0, maxEntries: 1, properties: [] }],
    },
  ];
  const no: Message[] = [
    { type: OFPT.SET_ASYNC, packetInMask: [0, 0], portStatusMask: [0, 0], flowRemovedMask: [0, 0] },
    { type: OFPT.SET_CONFIG, flags: 0, missSendLen: 128 },
    { type: OFPT.ROLE_REQUEST, role: 2, generationId: 0n },
    { type: OFPT.BARRIER_REQUEST },
    { type: OFPT.FEATURES_REQUEST },
    { type: OFPT.MULTIPART_REQUEST, mpType: OFPMP.TABLE_FEATURES, flags: 0, tables: [] },
    { type: OFPT.MULTIPART_REQUEST, mpType: OFPMP.PORT_DESC, flags: 0 },
    { type: OFPT.EXPERIMENTER, experimenter: 0x2320, expType: 1, data: new Uint8Array(0) },
  ];
  for (const m of yes) t.true(isModifying(m), `type ${m.type} modifies`);
  for (const m of no) t.false(isModifying(m), `type ${m.type} does not modify`);
  // Every message here encodes: the test messages are real ones.
  for (const m of [...yes, ...no]) t.true(encode(m).length >= 8);
});

test('async defaults: master/equal all but INVALID_TTL, port status, flow removed; slave port status only', (t) => {
  const conn = { control: initialControlState(), active: true };
  const table: ReadonlyArray<[AsyncKind, number, boolean, boolean]> = [
    // kind, reason, master/equal wants, slave wants
    ['packetIn', OFPR.NO_MATCH, true, false],
    ['packetIn', OFPR.ACTION, true, false],
    ['packetIn', OFPR.INVALID_TTL, false, false],
    ['portStatus', OFPPR.ADD, true, true],
    ['portStatus', OFPPR.DELETE, true, true],
    ['portStatus', OFPPR.MODIFY, true, true],
    ['flowRemoved', OFPRR.IDLE_TIMEOUT, true, false],
    ['flowRemoved', OFPRR.HARD_TIMEOUT, true, false],
    ['flowRemoved', OFPRR.DELETE, true, false],
    ['flowRemoved', OFPRR.GROUP_DELETE, true, false],
  ];
  for (const [kind, reason, me, sl] of table) {
    for (const role of [OFPCR_ROLE.EQUAL, OFPCR_ROLE.MASTER]) {
      conn.control.role = role;
      t.is(wants(conn, kind, reason), me, `${kind} ${reason} role ${role}`);
    }
    conn.control.role = OFPCR_ROLE.SLAVE;
    t.is(wants(conn, kind, reason), sl, `${kind} ${reason} slave`);
  }
  t.false(wants({ control: initialControlState(), active: false }, 'portStatus', OFPPR.ADD), 'nothing before negotiation');
  t.is(initialControlState().missSendLen, 128);
  t.deepEqual(DEFAULT_ASYNC, { packetIn: [3, 0], portStatus: [7, 7], flowRemoved: [15, 0] });
});

/** A party that records what it is sent. */
function party(): ControlParty & { out: Array<Message | string> } {
  const out: Array<Message | string> = [];
  return {
    control: initialControlState(), active: true, out,
    send: (m) => { out.push(m); return m.xid ?? 0; },
    sendError: (pair, about) => { out.push(`error ${pair.join('/')} xid ${about.xid ?? 0}`); },
  };
}

test('RoleManager: master, slave, stale, demotion, nochange, equal, bad role', (t) => {
  const rm = new RoleManager();
  const a = party();
  const b = party();
  rm.attach(a);
  rm.attach(b);
  t.deepEqual(rm.requestRole(a, OFPCR_ROLE.NOCHANGE, 99n), { role: OFPCR_ROLE.EQUAL, generationId: 0n }, 'nochange reports, checks nothing');
  t.is(rm.generationId, undefined);
  t.deepEqual(rm.requestRole(a, OFPCR_ROLE.MASTER, 10n), { role: OFPCR_ROLE.MASTER, generationId: 10n });
  t.deepEqual(rm.requestRole(b, OFPCR_ROLE.MASTER, 9n), OFPE.ROLE_REQUEST_FAILED!.STALE!);
  t.is(b.control.role, OFPCR_ROLE.EQUAL, 'a refused request changes nothing');
  t.deepEqual(rm.requestRole(b, OFPCR_ROLE.SLAVE, 9n), OFPE.ROLE_REQUEST_FAILED!.STALE!, 'slave requests are checked too');
  t.deepEqual(rm.requestRole(b, OFPCR_ROLE.MASTER, 10n), { role: OFPCR_ROLE.MASTER, generationId: 10n }, 'an equal id is not stale');
  t.is(a.control.role, OFPCR_ROLE.SLAVE, 'the old master is demoted');
  t.is(rm.master(), b);
  t.deepEqual(rm.requestRole(a, OFPCR_ROLE.EQUAL, 0n), { role: OFPCR_ROLE.EQUAL, generationId: 10n }, 'EQUAL ignores the id');
  t.deepEqual(rm.requestRole(a, 7, 11n), OFPE.ROLE_REQUEST_FAILED!.BAD_ROLE!);
  rm.detach(b);
  t.is(rm.master(), undefined);
  // handle(): a slave's flow-mod is refused, a master's goes to the switch.
  a.control.role = OFPCR_ROLE.SLAVE;
  t.true(rm.handle(a, flowMod(5)));
  t.deepEqual(a.out, ['error 1/10 xid 5']);
  a.control.role = OFPCR_ROLE.MASTER;
  t.false(rm.handle(a, flowMod(6)));
  t.true(rm.handle(a, { type: OFPT.SET_CONFIG, flags: 1, missSendLen: 0xffff }));
  t.is(rm.configFlags, 1);
  a.control.role = OFPCR_ROLE.SLAVE;
  rm.handle(a, { type: OFPT.SET_CONFIG, flags: 2, missSendLen: 64 });
  t.is(rm.configFlags, 1, 'a slave does not change switch-wide fragment handling');
  t.is(a.control.missSendLen, 64, 'but its own miss_send_len');
});

// ---------------------------------------------------------------------------------------------
// Two controllers over TCP

async function controller(port: number): Promise<OfConnection> {
  const c = new OfConnection(createConnection({ host: '127.0.0.1', port }), () => {}, { probeInterval: 0, requestTimeout: 3000 });
  await firstValueFrom(c.events$.pipe(filter((e) => e.type === 'negotiated')));
  return c;
}

async function role(c: OfConnection, r: number, gen: bigint): Promise<string> {
  const m = await c.request({ type: OFPT.ROLE_REQUEST, role: r, generationId: gen });
  if (m.type === OFPT.ROLE_REPLY) return `${['nochange', 'equal', 'master', 'slave'][m.role]} ${m.generationId}`;
  if (m.type === OFPT.ERROR && 'code' in m) return `error ${m.errType}/${m.code}`;
  return `unexpected ${m.type}`;
}

/** A flow-mod then a barrier: 'ok' when the barrier answers first, else the error. */
async function tryFlowMod(c: OfConnection): Promise<string> {
  const xid = c.nextXid();
  const errors: string[] = [];
  const err = c.request(flowMod(xid), 3000).then((m) => { if (m.type === OFPT.ERROR && 'code' in m) errors.push(`error ${m.errType}/${m.code}`); }, () => {});
  await c.request({ type: OFPT.BARRIER_REQUEST });
  // An error for the flow-mod would have arrived before the barrier reply (handled in order).
  if (errors.length > 0) return errors[0]!;
  void err;
  return 'ok';
}

test('two controllers: master/slave, IS_SLAVE, stale ids, demotion, wrap-around, async and config per connection', async (t) => {
  const applied: number[] = [];
  const mgr = new ConnectionManager({
    handler: (m, c) => {
      if (m.type === OFPT.FLOW_MOD) applied.push(m.xid ?? 0);
      if (m.type === OFPT.BARRIER_REQUEST) c.send({ type: OFPT.BARRIER_REPLY, xid: m.xid ?? 0 });
    },
  });
  const l = await mgr.listen('ptcp:0');
  const a = await controller(l.port!);
  const b = await controller(l.port!);
  try {
    t.is(await role(a, OFPCR_ROLE.NOCHANGE, 0n), 'equal 0');
    t.is(await tryFlowMod(a), 'ok', 'an equal controller may modify');
    t.is(await role(a, OFPCR_ROLE.MASTER, 1n), 'master 1');
    t.is(await role(b, OFPCR_ROLE.SLAVE, 2n), 'slave 2');
    t.is(await tryFlowMod(b), `error ${OFPE.BAD_REQUEST!.IS_SLAVE!.join('/')}`);
    t.is(await role(b, OFPCR_ROLE.MASTER, 1n), `error ${OFPE.ROLE_REQUEST_FAILED!.STALE!.join('/')}`);
    t.is(await role(b, OFPCR_ROLE.MASTER, 3n), 'master 3');
    t.is(await role(a, OFPCR_ROLE.NOCHANGE, 0n), 'slave 3', 'the old master was demoted');
    t.is(await tryFlowMod(a), `error ${OFPE.BAD_REQUEST!.IS_SLAVE!.join('/')}`);
    t.is(await tryFlowMod(b), 'ok');
    // Wrap-around: 2^64-1 is older than 3; 2^63+2 is newer; then 1 is newer than that.
    t.is(await role(b, OFPCR_ROLE.MASTER, U64), `error ${OFPE.ROLE_REQUEST_FAILED!.STALE!.join('/')}`);
    t.is(await role(b, OFPCR_ROLE.MASTER, (1n << 63n) + 2n), `master ${(1n << 63n) + 2n}`);
    t.is(await role(a, OFPCR_ROLE.MASTER, 1n), 'master 1');
    t.is(await role(b, OFPCR_ROLE.NOCHANGE, 0n), 'slave 1');
    t.is(await role(b, 9, 5n), `error ${OFPE.ROLE_REQUEST_FAILED!.BAD_ROLE!.join('/')}`);

    // Async config: a slave reads the defaults, changes its own masks; the other is untouched.
    const g1 = await b.request({ type: OFPT.GET_ASYNC_REQUEST });
    t.like(g1, { type: OFPT.GET_ASYNC_REPLY, packetInMask: [3, 0], portStatusMask: [7, 7], flowRemovedMask: [15, 0] });
    b.send({ type: OFPT.SET_ASYNC, packetInMask: [1, 1], portStatusMask: [0, 1], flowRemovedMask: [0, 4] });
    const g2 = await b.request({ type: OFPT.GET_ASYNC_REQUEST });
    t.like(g2, { packetInMask: [1, 1], portStatusMask: [0, 1], flowRemovedMask: [0, 4] });
    const g3 = await a.request({ type: OFPT.GET_ASYNC_REQUEST });
    t.like(g3, { packetInMask: [3, 0] });
    // The switch side: wants() follows each connection's role and masks.
    // A connected (and negotiated) before B did, so it was adopted first.
    const [serverA, serverB] = mgr.connections as [OfConnection, OfConnection];
    t.is(mgr.connections.length, 2);
    t.true(wants(serverA, 'packetIn', OFPR.NO_MATCH));
    t.true(wants(serverB, 'packetIn', OFPR.NO_MATCH), 'slave half of B\'s own mask');
    t.false(wants(serverB, 'packetIn', OFPR.ACTION));
    t.true(wants(serverB, 'flowRemoved', OFPRR.DELETE));
    t.false(wants(serverB, 'portStatus', OFPPR.DELETE));

    // Switch config: miss_send_len per connection, fragment flags switch-wide and master-only.
    a.send({ type: OFPT.SET_CONFIG, flags: 1, missSendLen: 256 });
    t.like(await a.request({ type: OFPT.GET_CONFIG_REQUEST }), { type: OFPT.GET_CONFIG_REPLY, flags: 1, missSendLen: 256 });
    t.like(await b.request({ type: OFPT.GET_CONFIG_REQUEST }), { flags: 1, missSendLen: 128 });

    // The master leaves: no master; the slave stays a slave until it asks.
    a.close();
    await a.closed;
    for (let i = 0; i < 100 && mgr.roles.master() !== undefined; i++) await new Promise((r) => setTimeout(r, 5));
    t.is(mgr.roles.master(), undefined);
    t.is(await role(b, OFPCR_ROLE.NOCHANGE, 0n), 'slave 1');
    t.is(await role(b, OFPCR_ROLE.EQUAL, 0n), 'equal 1');
    t.is(await tryFlowMod(b), 'ok');
    t.is(applied.length, 3);
  } finally {
    a.close();
    b.close();
    await mgr.close();
  }
});
