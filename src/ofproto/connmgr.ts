/**
 * The connection manager (OVS's connmgr + rconn): every controller channel of one switch.
 *
 * - Passive listeners (`ptcp:`, `punix:`) accept any number of controllers; `listen` resolves
 *   with the bound address (`ptcp:0` picks a free port, and the answer says which).
 * - Active targets (`tcp:`, `unix:`) connect out and reconnect after a failure or a disconnect,
 *   waiting base, 2·base, 4·base, 8·base, 8·base, … (1, 2, 4, 8 s by default, OVS's rconn
 *   sequence). A connection that completes HELLO negotiation resets the sequence, so after a
 *   working connection drops, the first retry comes after `base` again. The base is an option so
 *   tests can run the real sequence in milliseconds. A connect attempt is abandoned after
 *   max(base, current delay) as rconn does, but never sooner than 1 s.
 * - Every connection's messages go first through the RoleManager (roles, async config, switch
 *   config, IS_SLAVE refusals), then to the switch's handler.
 * - `events$` reports listening, connects, negotiation, disconnects, failed attempts and backoff
 *   waits as plain data, for logging and for tests.
 * - TLS (`ssl:`, `pssl:`) needs a TlsConfig or a TlsSource (the `tls` option or setTls()): mutual
 *   authentication against the CA, as OVS does (see tls.ts). A passive peer whose handshake fails
 *   or whose certificate does not verify is dropped and reported as `accept-failed`; the listener
 *   stays up. An active target whose handshake or verification fails reports `connect-failed` and
 *   backs off like any failed connect. The source is asked for the credentials at every new
 *   connection (each accept, each connect attempt), so a TlsFileSource's rotated certificate is
 *   used from the next connection on; connections already up are not touched.
 */

import { createConnection, createServer, type Server, type Socket, type AddressInfo } from 'node:net';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { lstatSync, unlinkSync } from 'node:fs';
import { Subject, type Observable } from 'rxjs';
import type { Message } from '../openflow/index.js';
import { OfConnection, type ConnectionEvent, type MessageHandler } from './connection.js';
import { RoleManager } from './roles.js';
import { formatTarget, isPassive, parseTarget, type ActiveTarget, type PassiveTarget, type Target } from './target.js';
import { fixedTls, peerVerifyError, tlsClientOptions, tlsErrorText, tlsServerOptions, type TlsConfig, type TlsSource } from './tls.js';

/**
 * A connect attempt gets at least this long, however small the backoff base (tests use bases of
 * a few ms; a loaded machine can take longer than that to complete a loopback connect).
 */
const MIN_CONNECT_TIMEOUT = 1000;

export interface ConnectionManagerOptions {
  /** The switch's handler for every message the connection and role layers do not answer. */
  readonly handler: MessageHandler;
  /** Inactivity probe interval in ms for every connection (default 5000; 0 disables). */
  readonly probeInterval?: number;
  /** request() timeout in ms for every connection (default 10 000). */
  readonly requestTimeout?: number;
  /** First reconnect delay in ms (default 1000). */
  readonly backoffBase?: number;
  /** Largest reconnect delay in ms (default 8 × backoffBase). */
  readonly backoffMax?: number;
  /** Shared role state; a fresh one by default. */
  readonly roles?: RoleManager;
  /** Key, certificate and CA for `ssl:` and `pssl:` targets, or where to get them (see tls.ts; also setTls()). */
  readonly tls?: TlsConfig | TlsSource;
}

export type ManagerEvent =
  | { readonly type: 'listening'; readonly target: string; readonly address: string }
  | { readonly type: 'connected'; readonly target: string; readonly conn: OfConnection }
  | { readonly type: 'negotiated'; readonly target: string; readonly conn: OfConnection; readonly version: number }
  | { readonly type: 'disconnected'; readonly target: string; readonly conn: OfConnection; readonly reason: string }
  | { readonly type: 'connect-failed'; readonly target: string; readonly error: string }
  /** A peer of a listener dropped before it became a connection (TLS handshake or certificate). */
  | { readonly type: 'accept-failed'; readonly target: string; readonly peer: string; readonly error: string }
  /** A listener could not take up new TLS credentials; it goes on with the ones it had. */
  | { readonly type: 'tls-error'; readonly target: string; readonly error: string }
  | { readonly type: 'backoff'; readonly target: string; readonly delay: number }
  | { readonly type: 'connection'; readonly target: string; readonly conn: OfConnection; readonly event: ConnectionEvent };

export interface Listener {
  readonly target: PassiveTarget;
  /** The bound address as a target string: `ptcp:41234:127.0.0.1` or `punix:/path`. */
  readonly address: string;
  /** The bound TCP port (ptcp only). */
  readonly port?: number;
  close(): Promise<void>;
}

export interface ActiveController {
  readonly target: ActiveTarget;
  /** The live connection, when there is one. */
  readonly connection: OfConnection | undefined;
  /** Stops reconnecting and closes the connection. */
  stop(): void;
}

function listenOn(server: Server, args: { port: number; host: string } | { path: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen(args, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** True when a unix socket at `path` refuses connections: a leftover of a process that is gone. */
function isStaleSocket(path: string): Promise<boolean> {
  try {
    if (!lstatSync(path).isSocket()) return Promise.resolve(false);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

export class ConnectionManager {
  readonly roles: RoleManager;
  private readonly subject = new Subject<ManagerEvent>();
  readonly events$: Observable<ManagerEvent> = this.subject.asObservable();

  private readonly conns = new Set<OfConnection>();
  private readonly listeners = new Set<Listener>();
  private readonly actives = new Set<ActiveController>();
  private readonly base: number;
  private readonly max: number;
  private closing = false;
  private tls: TlsSource | undefined;

  constructor(private readonly opts: ConnectionManagerOptions) {
    this.roles = opts.roles ?? new RoleManager();
    this.base = opts.backoffBase ?? 1000;
    this.max = opts.backoffMax ?? 8 * this.base;
    if (opts.tls !== undefined) this.setTls(opts.tls);
  }

  /**
   * Sets the key, certificate and CA used by `ssl:` and `pssl:` targets started from now on
   * (listeners and active targets started earlier keep their source), or a source of them that
   * is asked at every new connection (tls.ts TlsFileSource: files re-read when they change).
   */
  setTls(cfg: TlsConfig | TlsSource): void {
    this.tls = 'current' in cfg ? cfg : fixedTls(cfg);
  }

  private tlsFor(t: Target): TlsSource {
    if (this.tls === undefined) {
      throw new Error(`${formatTarget(t)}: TLS needs a private key, a certificate and a CA certificate (none configured)`);
    }
    return this.tls;
  }

  /** Live connections (negotiated or still in HELLO). */
  get connections(): readonly OfConnection[] {
    return [...this.conns];
  }

  /** Starts a passive listener; resolves with the bound address. */
  async listen(spec: string | Target): Promise<Listener> {
    const t = typeof spec === 'string' ? parseTarget(spec) : spec;
    if (typeof t === 'string') throw new Error(t);
    if (!isPassive(t)) throw new Error(`${formatTarget(t)} is an active target; use connect()`);
    const sockets = new Set<Socket>();
    let server: Server;
    if (t.kind === 'pssl') {
      const source = this.tlsFor(t);
      let inUse = source.current();
      // (After a failed handshake Node has already released the socket: its address is gone.)
      const peerOf = (s: Socket): string => (s.remoteAddress !== undefined ? `${s.remoteAddress}:${s.remotePort ?? ''}` : 'unknown');
      const tlsServer = createTlsServer(tlsServerOptions(inUse), (sock: TLSSocket) => {
        const refused = peerVerifyError(sock);
        if (refused !== undefined) {
          this.subject.next({ type: 'accept-failed', target: address, peer: peerOf(sock), error: refused });
          sock.destroy();
          return;
        }
        sockets.add(sock);
        sock.once('close', () => sockets.delete(sock));
        this.adopt(sock, address);
      });
      // Before Node's own 'connection' listener wraps the socket in TLS with the server's secure
      // context: a new context here serves this connection already. Sockets up are not touched.
      tlsServer.prependListener('connection', () => {
        const cfg = source.current();
        if (cfg === inUse) return;
        try {
          tlsServer.setSecureContext(tlsServerOptions(cfg));
        } catch (e) {
          this.subject.next({ type: 'tls-error', target: address, error: `cannot use the new TLS credentials: ${tlsErrorText(e)}` });
        }
        inUse = cfg; // once: a context that failed is not tried again for every connection
      });
      // Track the TCP sockets (not only the TLS ones) so close() also ends handshakes in flight.
      tlsServer.on('connection', (raw: Socket) => {
        sockets.add(raw);
        raw.once('close', () => sockets.delete(raw));
      });
      server = tlsServer;
      server.on('tlsClientError', (e: Error, sock: TLSSocket) => {
        this.subject.next({ type: 'accept-failed', target: address, peer: peerOf(sock), error: `TLS handshake failed: ${tlsErrorText(e)}` });
      });
    } else {
      server = createServer((sock) => {
        sockets.add(sock);
        sock.once('close', () => sockets.delete(sock));
        this.adopt(sock, address);
      });
    }
    let address: string;
    let port: number | undefined;
    if (t.kind === 'ptcp' || t.kind === 'pssl') {
      await listenOn(server, { port: t.port, host: t.host });
      port = (server.address() as AddressInfo).port;
      address = formatTarget({ kind: t.kind, port, host: t.host });
    } else {
      try {
        await listenOn(server, { path: t.path });
      } catch (e) {
        // A socket file left by a process that died is removed, the way OVS does; a live one
        // (something answers) is left alone and the error stands.
        if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || !(await isStaleSocket(t.path))) throw e;
        unlinkSync(t.path);
        await listenOn(server, { path: t.path });
      }
      address = formatTarget(t);
    }
    server.on('error', () => { /* accept errors (EMFILE…) leave the listener up */ });
    const listener: Listener = {
      target: t, address, ...(port !== undefined ? { port } : {}),
      close: () => new Promise<void>((resolve) => {
        this.listeners.delete(listener);
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
    };
    this.listeners.add(listener);
    this.subject.next({ type: 'listening', target: formatTarget(t), address });
    return listener;
  }

  /** Starts an active controller connection that reconnects with backoff until stopped. */
  connect(spec: string | Target): ActiveController {
    const t = typeof spec === 'string' ? parseTarget(spec) : spec;
    if (typeof t === 'string') throw new Error(t);
    if (isPassive(t)) throw new Error(`${formatTarget(t)} is a passive target; use listen()`);
    const tlsSource = t.kind === 'ssl' ? this.tlsFor(t) : undefined;
    const label = formatTarget(t);
    let stopped = false;
    let delay = 0; // 0: no failure since the last negotiated connection
    let timer: NodeJS.Timeout | undefined;
    let conn: OfConnection | undefined;
    let sock: Socket | undefined;

    const retry = (): void => {
      if (stopped || this.closing) return;
      delay = delay === 0 ? this.base : Math.min(2 * delay, this.max);
      this.subject.next({ type: 'backoff', target: label, delay });
      timer = setTimeout(attempt, delay);
    };

    const attempt = (): void => {
      timer = undefined;
      if (stopped || this.closing) return;
      // The credentials as they are now, for this attempt (a rotated certificate from the next one on).
      const s = t.kind === 'ssl' ? tlsConnect(tlsClientOptions(tlsSource!.current(), t.host, t.port))
        : t.kind === 'tcp' ? createConnection({ host: t.host, port: t.port }) : createConnection(t.path);
      sock = s;
      let settled = false;
      let tcpUp = false;
      if (t.kind === 'ssl') s.once('connect', () => { tcpUp = true; });
      s.setTimeout(Math.max(this.base, delay, MIN_CONNECT_TIMEOUT));
      s.once('timeout', () => s.destroy(new Error('connect timed out')));
      s.once('error', (e: Error) => {
        if (settled) return;
        settled = true;
        s.destroy();
        // After the TCP connect, a TLS failure: the handshake, or the controller's certificate.
        const error = t.kind === 'ssl' && tcpUp ? `TLS handshake failed: ${tlsErrorText(e)}` : e.message;
        this.subject.next({ type: 'connect-failed', target: label, error });
        retry();
      });
      // A TLS connection is usable once the handshake is done and the controller's certificate
      // verified (tls.connect fails with 'error' otherwise, which backs off as above).
      s.once(t.kind === 'ssl' ? 'secureConnect' : 'connect', () => {
        if (settled) return;
        settled = true;
        s.setTimeout(0);
        const c = this.adopt(s, label);
        conn = c;
        c.events$.subscribe((ev) => { if (ev.type === 'negotiated') delay = 0; });
        void c.closed.then(() => {
          conn = undefined;
          retry();
        });
      });
    };

    const handle: ActiveController = {
      target: t,
      get connection() { return conn; },
      stop: () => {
        stopped = true;
        if (timer !== undefined) clearTimeout(timer);
        conn?.close('controller removed');
        if (conn === undefined) sock?.destroy();
        this.actives.delete(handle);
      },
    };
    this.actives.add(handle);
    attempt();
    return handle;
  }

  /** Stops every listener and active controller and closes every connection. */
  async close(): Promise<void> {
    this.closing = true;
    for (const a of [...this.actives]) a.stop();
    const closing = [...this.conns].map((c) => { c.close('switch shutting down'); return c.closed; });
    await Promise.all([...[...this.listeners].map((l) => l.close()), ...closing]);
    this.subject.complete();
  }

  private adopt(sock: Socket, target: string): OfConnection {
    const handler = this.opts.handler;
    const roles = this.roles;
    const conn = new OfConnection(
      sock,
      (msg: Message, c: OfConnection) => (roles.handle(c, msg) ? undefined : handler(msg, c)),
      {
        ...(this.opts.probeInterval !== undefined ? { probeInterval: this.opts.probeInterval } : {}),
        ...(this.opts.requestTimeout !== undefined ? { requestTimeout: this.opts.requestTimeout } : {}),
      },
    );
    this.conns.add(conn);
    this.subject.next({ type: 'connected', target, conn });
    conn.events$.subscribe((event) => {
      if (event.type === 'negotiated') {
        roles.attach(conn);
        this.subject.next({ type: 'negotiated', target, conn, version: event.version });
      } else if (event.type === 'closed') {
        roles.detach(conn);
        this.conns.delete(conn);
        this.subject.next({ type: 'disconnected', target, conn, reason: event.reason });
      } else {
        this.subject.next({ type: 'connection', target, conn, event });
      }
    });
    return conn;
  }
}
