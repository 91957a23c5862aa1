/**
 * TLS controller channels (ssl:, pssl:) against real peers. A throwaway PKI is made with the
 * openssl command in a temp dir: a CA, a switch and a controller certificate signed by it, and a
 * rogue certificate signed by another CA. Then:
 *   - `ofswitch start --listen pssl:0 …` serves ovs-ofctl over TLS with the controller's
 *     certificate, refuses ovs-ofctl with the rogue one (and keeps serving the next good client),
 *     and ovs-ofctl refuses the switch when it trusts only the other CA;
 *   - the ConnectionManager's active ssl: target connects to a node:tls controller that checks
 *     the switch's certificate, refuses (with backoff) a controller whose certificate the CA did
 *     not sign, and backs off when the controller refuses the switch's certificate;
 *   - a pssl: listener refuses TLS clients with no certificate or a rogue one, reports each, and
 *     stays up;
 *   - `ofswitch start` refuses missing, unreadable or mismatched files and ssl: without them;
 *   - certificate rotation: a pssl: listener (in-process, and `ofswitch start`) whose files are
 *     replaced by a certificate another CA signed serves new clients with it while an existing
 *     connection stays up; a replacement half done (key and certificate not matching) or a
 *     missing file keeps the previous credentials, with one warning naming the file.
 * Everything listens on 127.0.0.1 only; the temp dir is removed at the end.
 */

import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, copyFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type SecureVersion, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { Framer, OFPT } from '../src/openflow/index.js';
import { ConnectionManager, type ManagerEvent } from '../src/ofproto/connmgr.js';
import { loadTlsFiles, TlsFileSource, type TlsConfig, type TlsFiles } from '../src/ofproto/tls.js';
import { start, type Io } from '../src/cli/main.js';
import { findTool, requireTool } from './peers/peers.js';
import { startSwitch, waitFor } from './switch-process.js';
import { runOvsOfctl as ofctl } from './peers/peers.js';


// ---------------------------------------------------------------------------------------------
// A throwaway PKI

let dir: string;
const f = (name: string): string => join(dir, name);

function openssl(args: readonly string[]): void {
  const r = spawnSync(findTool('openssl')!, args, { cwd: dir, encoding: 'utf8', timeout: 20_000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function makeCa(name: string): void {
  openssl(['req', '-x509', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '2']);
}

/** A leaf key and certificate, signed by CA `ca`, usable as a TLS client and server. */
function makeLeaf(name: string, ca: string): void {
  openssl(['req', '-new', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.crt`, '-CAkey', `${ca}.key`, '-CAcreateserial',
    '-out', `${name}.crt`, '-days', '2', '-extfile', 'leaf.ext']);
}

let pki: TlsConfig; // the switch's configuration
let ctl: TlsConfig; // a controller signed by the CA
let rogue: TlsConfig; // a controller signed by another CA (which trusts that CA only)

test.before(() => {
  if (findTool('openssl') === null) throw new Error("the openssl command is missing: apt-get install -y openssl");
  requireTool('ovs-ofctl');
  dir = mkdtempSync(join(tmpdir(), 'ofswitch-tls-'));
  writeFileSync(f('leaf.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n');
  makeCa('ca');
  makeCa('rogue-ca');
  makeLeaf('switch', 'ca');
  makeLeaf('ctl', 'ca');
  makeLeaf('rogue', 'rogue-ca');
  // For rotation: a second switch certificate from a second CA that the clients also trust.
  makeCa('ca2');
  makeLeaf('switch2', 'ca2');
  writeFileSync(f('ca+ca2.crt'), Buffer.concat([readFileSync(f('ca.crt')), readFileSync(f('ca2.crt'))]));
  const load = (key: string, cert: string, ca: string): TlsConfig => {
    const c = loadTlsFiles({ privateKey: f(key), certificate: f(cert), caCert: f(ca) });
    if (typeof c === 'string') throw new Error(c);
    return c;
  };
  pki = load('switch.key', 'switch.crt', 'ca.crt');
  ctl = load('ctl.key', 'ctl.crt', 'ca.crt');
  rogue = load('rogue.key', 'rogue.crt', 'rogue-ca.crt');
});

test.after.always(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------
// Peers


/** ovs-ofctl's TLS options for a key/cert/CA triple in the temp dir. */
const ofctlTls = (key: string, cert: string, ca: string): string[] =>
  [`--private-key=${f(key)}`, `--certificate=${f(cert)}`, `--ca-cert=${f(ca)}`];

/** OpenFlow 1.3 HELLO with a version bitmap offering 1.3 only. */
function hello(xid = 1): Buffer {
  const b = Buffer.alloc(16);
  b[0] = 4;
  b[1] = OFPT.HELLO;
  b.writeUInt16BE(16, 2);
  b.writeUInt32BE(xid, 4);
  b.writeUInt16BE(1, 8); // OFPHET_VERSIONBITMAP
  b.writeUInt16BE(8, 10);
  b.writeUInt32BE(1 << 4, 12);
  return b;
}

/**
 * A controller that listens with TLS (mutual: it requires and checks the switch's certificate),
 * answers HELLO and records the first frame of each accepted connection.
 */
async function tlsController(cfg: TlsConfig): Promise<{ server: Server; port: number; accepted: Promise<{ sock: TLSSocket; first: Buffer }> }> {
  let onAccept!: (v: { sock: TLSSocket; first: Buffer }) => void;
  const accepted = new Promise<{ sock: TLSSocket; first: Buffer }>((r) => (onAccept = r));
  const server = createTlsServer({
    key: cfg.key, cert: cfg.cert, ca: cfg.ca, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2',
  }, (sock) => {
    const framer = new Framer();
    let done = false;
    sock.on('error', () => { /* the switch may go away first */ });
    sock.on('data', (d: Buffer) => framer.push(d, (fr) => {
      if (done) return;
      done = true;
      onAccept({ sock, first: Buffer.from(fr) });
    }));
    sock.write(hello());
  });
  server.on('tlsClientError', () => { /* refused switches: the test looks at the switch's side */ });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port, accepted };
}

function closeServer(s: Server): Promise<void> {
  return new Promise((r) => s.close(() => r()));
}

const noHandler = (): void => undefined;

// ---------------------------------------------------------------------------------------------
// ofswitch start --listen pssl:0 with ovs-ofctl


test('ofswitch start --listen pssl:0 serves ovs-ofctl over mutual TLS and refuses a rogue certificate', async (t) => {
  const sw = await startSwitch([
    '--listen', 'pssl:0', '--dpid', '00000000000000ab', '--port', 'p1@1', '--probe-interval', '0',
    '--private-key', f('switch.key'), '--certificate', f('switch.crt'), '--ca-cert', f('ca.crt'),
  ], 'pssl');
  try {
    const target = `ssl:127.0.0.1:${sw.port}`;
    const good = await ofctl([...ofctlTls('ctl.key', 'ctl.crt', 'ca.crt'), 'show', target]);
    t.is(good.code, 0, good.stderr);
    t.regex(good.stdout, /OFPT_FEATURES_REPLY.*dpid:00000000000000ab/s);
    t.regex(good.stdout, /1\(p1\):/);

    // A controller whose certificate another CA signed: the switch refuses it.
    const bad = await ofctl([...ofctlTls('rogue.key', 'rogue.crt', 'ca.crt'), 'show', target]);
    t.not(bad.code, 0, bad.stdout);
    t.notRegex(bad.stdout, /FEATURES_REPLY/);
    // A controller that trusts only the other CA: it refuses the switch's certificate.
    const distrust = await ofctl([...ofctlTls('rogue.key', 'rogue.crt', 'rogue-ca.crt'), 'show', target]);
    t.not(distrust.code, 0, distrust.stdout);
    t.notRegex(distrust.stdout, /FEATURES_REPLY/);

    // The switch is still up and serves the next good controller.
    const again = await ofctl([...ofctlTls('ctl.key', 'ctl.crt', 'ca.crt'), 'dump-flows', target]);
    t.is(again.code, 0, again.stderr);
    t.is(sw.proc.exitCode, null);
    t.regex(sw.stderr(), /controller refused/);
    t.regex(sw.stderr(), /CN=rogue/);
  } finally {
    sw.proc.kill('SIGTERM');
  }
  t.is(await sw.exited, 0, sw.stderr());
});

// ---------------------------------------------------------------------------------------------
// The connection manager in-process

test('an active ssl: target connects to a TLS controller that checks the switch certificate', async (t) => {
  const c = await tlsController(ctl);
  const mgr = new ConnectionManager({ handler: noHandler, probeInterval: 0, backoffBase: 50, tls: pki });
  try {
    const negotiated = firstValueFrom(mgr.events$.pipe(filter((e) => e.type === 'negotiated')));
    mgr.connect(`ssl:127.0.0.1:${c.port}`);
    const { sock, first } = await c.accepted;
    t.true(sock.authorized, String(sock.authorizationError));
    t.is(sock.getPeerCertificate().subject.CN, 'switch');
    t.is(first[1], OFPT.HELLO);
    const ev = await negotiated;
    t.is(ev.type === 'negotiated' ? ev.version : -1, 4);
    t.is(ev.target, `ssl:127.0.0.1:${c.port}`);
    t.is(mgr.connections.length, 1);
  } finally {
    await mgr.close();
    await closeServer(c.server);
  }
});

test('an active ssl: target refuses a controller whose certificate the CA did not sign, and backs off', async (t) => {
  const c = await tlsController(rogue);
  const mgr = new ConnectionManager({ handler: noHandler, probeInterval: 0, backoffBase: 50, tls: pki });
  const events: ManagerEvent[] = [];
  mgr.events$.subscribe((e) => events.push(e));
  try {
    const firstFour = firstValueFrom(mgr.events$.pipe(
      filter((e) => e.type === 'connect-failed' || e.type === 'backoff'), take(4), toArray()));
    const handle = mgr.connect(`ssl:127.0.0.1:${c.port}`);
    const log = await firstFour;
    t.deepEqual(log.map((e) => e.type), ['connect-failed', 'backoff', 'connect-failed', 'backoff']);
    const fail = log[0]!;
    t.regex(fail.type === 'connect-failed' ? fail.error : '', /certificate/i);
    t.deepEqual(log.filter((e) => e.type === 'backoff').map((e) => (e.type === 'backoff' ? e.delay : 0)), [50, 100]);
    t.false(events.some((e) => e.type === 'connected' || e.type === 'negotiated'));
    t.is(handle.connection, undefined);
  } finally {
    await mgr.close();
    await closeServer(c.server);
  }
});

test('an active ssl: target whose certificate the controller refuses never negotiates and backs off', async (t) => {
  // The controller trusts only the other CA, so the switch's certificate does not verify there.
  const c = await tlsController({ ...ctl, ca: rogue.ca });
  const mgr = new ConnectionManager({ handler: noHandler, probeInterval: 0, backoffBase: 50, tls: pki });
  const events: ManagerEvent[] = [];
  mgr.events$.subscribe((e) => events.push(e));
  try {
    const twoBackoffs = firstValueFrom(mgr.events$.pipe(filter((e) => e.type === 'backoff'), take(2), toArray()));
    mgr.connect(`ssl:127.0.0.1:${c.port}`);
    const backoffs = await twoBackoffs;
    t.deepEqual(backoffs.map((e) => (e.type === 'backoff' ? e.delay : 0)), [50, 100]);
    t.false(events.some((e) => e.type === 'negotiated'));
    t.is(await Promise.race([c.accepted.then(() => 'accepted'), delay(100, 'refused')]), 'refused');
  } finally {
    await mgr.close();
    await closeServer(c.server);
  }
});

/** A TLS client of a pssl: listener; resolves with how it ended: 'open' after 300 ms, or the error. */
function tlsClient(
  port: number,
  cfg: Partial<TlsConfig> & { ca: Buffer; minVersion?: SecureVersion; maxVersion?: SecureVersion },
): Promise<{ secure: boolean; ended: string }> {
  return new Promise((resolve) => {
    let secure = false;
    const s = tlsConnect({
      host: '127.0.0.1', port, ...(cfg.key !== undefined ? { key: cfg.key, cert: cfg.cert } : {}), ca: cfg.ca,
      // This peer only probes the switch's refusal; it does not check the switch here.
      rejectUnauthorized: false, minVersion: cfg.minVersion ?? 'TLSv1.2', ...(cfg.maxVersion !== undefined ? { maxVersion: cfg.maxVersion } : {}),
    });
    s.on('secureConnect', () => { secure = true; });
    s.on('data', () => { /* HELLO */ });
    const timer = setTimeout(() => { s.destroy(); resolve({ secure, ended: 'open' }); }, 1500);
    s.on('error', (e) => { clearTimeout(timer); resolve({ secure, ended: e.message }); });
    s.on('close', () => { clearTimeout(timer); resolve({ secure, ended: 'closed' }); });
  });
}

test('a pssl: listener refuses clients without a certificate or with a rogue one, reports them and stays up', async (t) => {
  const mgr = new ConnectionManager({ handler: noHandler, probeInterval: 0, tls: pki });
  const events: ManagerEvent[] = [];
  mgr.events$.subscribe((e) => events.push(e));
  try {
    const l = await mgr.listen('pssl:0');
    t.regex(l.address, /^pssl:\d+:127\.0\.0\.1$/);
    const port = l.port!;

    const none = await tlsClient(port, { ca: pki.ca });
    t.not(none.ended, 'open');
    const bad = await tlsClient(port, { key: rogue.key, cert: rogue.cert, ca: pki.ca });
    t.not(bad.ended, 'open');
    // TLS 1.1 and older are refused in the handshake.
    const old = await tlsClient(port, { key: ctl.key, cert: ctl.cert, ca: ctl.ca, minVersion: 'TLSv1', maxVersion: 'TLSv1.1' });
    t.false(old.secure);
    await delay(50);
    const refused = events.filter((e) => e.type === 'accept-failed');
    const texts = refused.map((e) => (e.type === 'accept-failed' ? e.error : ''));
    t.is(refused.length, 3, texts.join('; '));
    t.is(texts[0], 'the peer presented no certificate');
    t.regex(texts[1]!, /^the peer's certificate \(CN=rogue\) does not verify against the CA: /);
    t.regex(texts[2]!, /^TLS handshake failed: unsupported protocol/);
    t.false(events.some((e) => e.type === 'connected'));

    const good = await tlsClient(port, { key: ctl.key, cert: ctl.cert, ca: ctl.ca });
    t.true(good.secure);
    t.is(good.ended, 'open');
    t.is(events.filter((e) => e.type === 'connected').length, 1);
  } finally {
    await mgr.close();
  }
});

// ---------------------------------------------------------------------------------------------
// ofswitch start: option errors

function captureIo(): Io & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (l) => out.push(l), stderr: (l) => err.push(l), stdin: () => '' };
}

test('ofswitch start: TLS option errors name the file and exit 2', async (t) => {
  const tlsArgs = (key: string, cert: string, ca: string): string[] =>
    ['--private-key', key, '--certificate', cert, '--ca-cert', ca];
  const cases: Array<[string[], RegExp]> = [
    [['--listen', 'pssl:0'], /pssl:0:127\.0\.0\.1 uses TLS, which needs --private-key, --certificate and --ca-cert \(missing: --private-key, --certificate, --ca-cert\)/],
    [['--controller', 'ssl:127.0.0.1', '--private-key', f('switch.key')], /uses TLS.*missing: --certificate, --ca-cert/],
    [['--private-key', f('switch.key')], /--private-key given without --certificate, --ca-cert/],
    [['--listen', 'pssl:0', ...tlsArgs(f('nope.key'), f('switch.crt'), f('ca.crt'))], new RegExp(`--private-key ${f('nope.key')}: cannot read it: no such file or directory`)],
    [['--listen', 'pssl:0', ...tlsArgs(f('switch.key'), f('switch.crt'), f('nope.crt'))], new RegExp(`--ca-cert ${f('nope.crt')}: cannot read it`)],
    [['--listen', 'pssl:0', ...tlsArgs(f('switch.key'), f('ca.crt'), f('ca.crt'))], /--certificate .*ca\.crt: the certificate does not match the private key/],
    [['--listen', 'pssl:0', ...tlsArgs(f('switch.crt'), f('switch.crt'), f('ca.crt'))], /--private-key .*switch\.crt: not a PEM private key/],
    [['--listen', 'pssl:0', ...tlsArgs(f('switch.key'), f('switch.crt'), f('switch.key'))], /--ca-cert .*switch\.key: no PEM certificate in it/],
  ];
  // An unreadable file (root reads everything, so only when not root).
  if (process.getuid?.() !== 0) {
    writeFileSync(f('locked.key'), 'x');
    chmodSync(f('locked.key'), 0);
    cases.push([['--listen', 'pssl:0', ...tlsArgs(f('locked.key'), f('switch.crt'), f('ca.crt'))], /--private-key .*locked\.key: cannot read it: permission denied/]);
  }
  for (const [args, re] of cases) {
    const io = captureIo();
    t.is(await start(args, io), 2, args.join(' '));
    t.regex(io.err.join('\n'), re);
  }
});

// ---------------------------------------------------------------------------------------------
// Certificate rotation

/** ECHO_REQUEST (OpenFlow 1.3, no data). */
function echoRequest(xid: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 4;
  b[1] = OFPT.ECHO_REQUEST;
  b.writeUInt16BE(8, 2);
  b.writeUInt32BE(xid, 4);
  return b;
}

interface Peer {
  /** The CN of the certificate the switch presented. */
  readonly cn: string;
  /** Sends ECHO_REQUEST; true when the ECHO_REPLY came (false after 5 s or a close). */
  echo(xid: number): Promise<boolean>;
  close(): void;
}

/**
 * A controller connecting to a pssl: listener with the `ctl` certificate, trusting both CAs and
 * verifying the switch's certificate against them; it stays connected until closed.
 */
function tlsPeer(port: number): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({
      host: '127.0.0.1', port, key: ctl.key, cert: ctl.cert, ca: readFileSync(f('ca+ca2.crt')), rejectUnauthorized: true,
      minVersion: 'TLSv1.2', checkServerIdentity: () => undefined,
    });
    const framer = new Framer();
    const waiters = new Set<(fr: Buffer) => void>();
    s.on('data', (d: Buffer) => framer.push(d, (fr) => { for (const w of [...waiters]) w(Buffer.from(fr)); }));
    s.once('error', reject);
    s.on('close', () => { for (const w of [...waiters]) w(Buffer.alloc(8)); });
    s.once('secureConnect', () => {
      s.write(hello());
      resolve({
        cn: String(s.getPeerCertificate().subject.CN),
        echo: (xid) => new Promise<boolean>((res) => {
          const timer = setTimeout(() => { waiters.delete(w); res(false); }, 5000);
          const w = (fr: Buffer): void => {
            if (fr[1] === 0 && fr.readUInt32BE(4) === 0) { waiters.delete(w); clearTimeout(timer); res(false); return; } // closed
            if (fr[1] !== OFPT.ECHO_REPLY || fr.readUInt32BE(4) !== xid) return;
            waiters.delete(w);
            clearTimeout(timer);
            res(true);
          };
          waiters.add(w);
          s.write(echoRequest(xid));
        }),
        close: () => s.destroy(),
      });
    });
  });
}

/** Live copies of a key, certificate and CA that a test rotates; returns their names. */
function liveFiles(prefix: string): TlsFiles & { put(key: string, cert: string): void } {
  const files = { privateKey: f(`${prefix}.key`), certificate: f(`${prefix}.crt`), caCert: f(`${prefix}-ca.crt`) };
  copyFileSync(f('switch.key'), files.privateKey);
  copyFileSync(f('switch.crt'), files.certificate);
  copyFileSync(f('ca.crt'), files.caCert);
  return {
    ...files,
    put: (key, cert) => {
      if (key !== '') copyFileSync(f(key), files.privateKey);
      if (cert !== '') copyFileSync(f(cert), files.certificate);
    },
  };
}

test('a pssl: listener takes up a rotated certificate for new connections; the old connection stays; a bad replacement keeps the last good one', async (t) => {
  const live = liveFiles('rot');
  const reloads: string[] = [];
  const warnings: string[] = [];
  const source = TlsFileSource.load(live, { onReload: (fs) => reloads.push(fs.certificate), onError: (e) => warnings.push(e) });
  if (typeof source === 'string') return t.fail(source);
  const mgr = new ConnectionManager({ handler: noHandler, probeInterval: 0, tls: source });
  const events: ManagerEvent[] = [];
  mgr.events$.subscribe((e) => events.push(e));
  const peers: Peer[] = [];
  try {
    const port = (await mgr.listen('pssl:0')).port!;
    const a = await tlsPeer(port);
    peers.push(a);
    t.is(a.cn, 'switch');
    t.true(await a.echo(1));

    // Rotation to a certificate from the other CA: the key first, then the certificate.
    live.put('switch2.key', 'switch2.crt');
    const b = await tlsPeer(port);
    peers.push(b);
    t.is(b.cn, 'switch2', 'a new connection gets the new certificate');
    t.deepEqual(reloads, [live.certificate]);
    t.true(await a.echo(2), 'the connection made before the rotation is still served');
    t.true(await b.echo(3));

    // Half a rotation back: the certificate written, its key not yet. Refused; B stays.
    live.put('', 'switch.crt');
    const c = await tlsPeer(port);
    peers.push(c);
    t.is(c.cn, 'switch2');
    t.is(warnings.length, 1);
    t.regex(warnings[0]!, new RegExp(`^--certificate ${live.certificate}: the certificate does not match the private key ${live.privateKey}$`));
    // The same bad state is not reported again at the next connection.
    const d = await tlsPeer(port);
    peers.push(d);
    t.is(d.cn, 'switch2');
    t.is(warnings.length, 1);
    // A missing file: B stays, the warning names it.
    rmSync(live.privateKey);
    const e = await tlsPeer(port);
    peers.push(e);
    t.is(e.cn, 'switch2');
    t.regex(warnings[1] ?? '', new RegExp(`^--private-key ${live.privateKey}: cannot read it: no such file or directory$`));
    // Finishing the rotation (the key arrives) is enough.
    live.put('switch.key', '');
    const g = await tlsPeer(port);
    peers.push(g);
    t.is(g.cn, 'switch');
    t.deepEqual(reloads, [live.certificate, live.certificate]);
    t.is(warnings.length, 2);
    for (const [i, p] of peers.entries()) t.true(await p.echo(10 + i), `connection ${i} still up`);
    t.false(events.some((ev) => ev.type === 'disconnected' || ev.type === 'accept-failed' || ev.type === 'tls-error'));
    t.is(mgr.connections.length, peers.length);
  } finally {
    for (const p of peers) p.close();
    await mgr.close();
  }
});

test('an active ssl: target uses the rotated certificate from its next connect attempt', async (t) => {
  const live = liveFiles('rot-active');
  const source = TlsFileSource.load(live);
  if (typeof source === 'string') return t.fail(source);
  // A controller that trusts both CAs and records the switch certificate of each connection.
  const seen: string[] = [];
  const server = createTlsServer({
    key: ctl.key, cert: ctl.cert, ca: readFileSync(f('ca+ca2.crt')), requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2',
  }, (sock) => {
    seen.push(String(sock.getPeerCertificate().subject.CN));
    sock.on('error', () => undefined);
    sock.on('data', () => undefined); // read, so the switch's close is seen and the server can close
    sock.write(hello());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const mgr = new ConnectionManager({ handler: noHandler, probeInterval: 0, backoffBase: 20, tls: source });
  try {
    const negotiated = () => firstValueFrom(mgr.events$.pipe(filter((e) => e.type === 'negotiated')));
    let up = negotiated();
    const h = mgr.connect(`ssl:127.0.0.1:${port}`);
    await up;
    live.put('switch2.key', 'switch2.crt');
    up = negotiated();
    h.connection!.close('test: reconnect');
    await up;
    t.deepEqual(seen, ['switch', 'switch2']);
  } finally {
    await mgr.close();
    await closeServer(server);
  }
});

test('ofswitch start: rotated certificate files serve the next client; a bad replacement is logged with its file and the last good one stays', async (t) => {
  const live = liveFiles('rot-start');
  const sw = await startSwitch([
    '--listen', 'pssl:0', '--port', 'p1@1', '--probe-interval', '0',
    '--private-key', live.privateKey, '--certificate', live.certificate, '--ca-cert', live.caCert,
  ], 'pssl');
  const peers: Peer[] = [];
  try {
    const a = await tlsPeer(sw.port);
    peers.push(a);
    t.is(a.cn, 'switch');
    live.put('switch2.key', 'switch2.crt');
    const b = await tlsPeer(sw.port);
    peers.push(b);
    t.is(b.cn, 'switch2');
    t.true(await a.echo(1));
    // (The log line crosses a pipe: it may arrive after the handshake.)
    await waitFor('the reload logged', () => (/TLS credentials reloaded/.test(sw.stderr()) ? true : undefined));
    live.put('switch.key', '');
    const c = await tlsPeer(sw.port);
    peers.push(c);
    t.is(c.cn, 'switch2');
    await waitFor('the warning logged', () => (/TLS files changed but cannot be used/.test(sw.stderr()) ? true : undefined));
    t.regex(sw.stderr(), /TLS files changed but cannot be used; keeping the previous credentials/);
    t.true(sw.stderr().includes(`--certificate ${live.certificate}: the certificate does not match the private key ${live.privateKey}`), sw.stderr());
    // ovs-ofctl (trusting both CAs) is served by the rotated switch too.
    const r = await ofctl([...ofctlTls('ctl.key', 'ctl.crt', 'ca+ca2.crt'), 'show', `ssl:127.0.0.1:${sw.port}`]);
    t.is(r.code, 0, r.stderr);
    t.true(await a.echo(2));
    t.true(await b.echo(3));
  } finally {
    for (const p of peers) p.close();
    sw.proc.kill('SIGTERM');
  }
  t.is(await sw.exited, 0, sw.stderr());
});
