/**
 * TLS for controller channels (`ssl:HOST[:PORT]` and `pssl:[PORT][:IP]`), the way Open vSwitch's
 * stream-ssl does it:
 *
 * - One switch-wide configuration: a private key, the certificate for it, and a CA certificate
 *   (ovs-vswitchd's --private-key, --certificate and --ca-cert).
 * - Mutual authentication in both directions. Whichever side opened the TCP connection, the
 *   switch presents its certificate and requires one from the peer, and the peer's certificate
 *   must chain to the configured CA. A controller without a certificate, or with one signed by
 *   another CA, is refused; so is a controller whose own certificate does not verify.
 * - No host name check. OVS verifies the CA chain only and never compares the certificate's
 *   subject or subjectAltName with the host it dialled (stream-ssl.c sets SSL_VERIFY_PEER with no
 *   host name parameters): in OpenFlow deployments the CA is private to the network and issues
 *   certificates to switches and controllers by role, usually with a CN that is a dpid or a
 *   controller name, not a DNS name, and controllers are commonly addressed by IP. A host name
 *   check would refuse such deployments, which work with OVS. We do the same, so
 *   checkServerIdentity returns undefined; trust rests entirely on the CA.
 * - TLS 1.2 or newer (OVS refuses SSLv3, TLS 1.0 and 1.1 by default too).
 * - Certificate rotation (TlsFileSource): the files are looked at again before each new TLS
 *   connection, accepted or dialled, as OVS's stream-ssl does before each new connection. When
 *   one changed, the three are checked again; good ones serve every connection from then on,
 *   while connections already up keep the session they have. A replacement that is unreadable,
 *   or whose key and certificate do not match (a rotation half done: the key written, the
 *   certificate not yet), is not used: the previous credentials stay, and one warning names the
 *   file. The files are looked at again at the next connection, so finishing the rotation is
 *   enough. "Changed" compares contents, not modification times as OVS does: timestamps have the
 *   kernel's coarse clock tick, so a key rewritten in place with the same size soon after a check
 *   could go unseen; the three files are a few KiB, and connections are rare. Checking at each
 *   connection rather than watching the files needs no watcher or timer and behaves the same on
 *   every file system (fs.watch misses changes on some, and a rename over the file ends the
 *   watch on others).
 */

import { readFileSync } from 'node:fs';
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import type { ConnectionOptions, TlsOptions, TLSSocket } from 'node:tls';

/** PEM contents: the switch's private key, its certificate (chain), and the CA certificate(s). */
export interface TlsConfig {
  readonly key: Buffer;
  readonly cert: Buffer;
  readonly ca: Buffer;
}

/** File names, as ovs-vswitchd's --private-key, --certificate and --ca-cert give them. */
export interface TlsFiles {
  readonly privateKey: string;
  readonly certificate: string;
  readonly caCert: string;
}

export const TLS_MIN_VERSION = 'TLSv1.2' as const;
/** A peer that has not completed the handshake by then is dropped (Node's default is 120 s). */
export const TLS_HANDSHAKE_TIMEOUT = 10_000;

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function describe(e: unknown): string {
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    // fs errors: "ENOENT: no such file or directory, open '/x'" -> "no such file or directory"
    if (typeof code === 'string' && code.startsWith('E')) return e.message.replace(/^E[A-Z]+: /, '').replace(/, \w+ '.*'$/, '');
    return e.message;
  }
  return String(e);
}

/**
 * Checks that the PEM contents make sense on their own: a parsable private key, a certificate
 * whose public key belongs to that private key, and at least one CA certificate. Returns what is
 * wrong, naming the option (and `files`' name for it, when given), or undefined.
 */
export function checkTlsConfig(cfg: TlsConfig, files?: TlsFiles): string | undefined {
  const name = (opt: string, file: string | undefined): string => (file === undefined ? opt : `${opt} ${file}`);
  let key: KeyObject;
  try {
    key = createPrivateKey(cfg.key);
  } catch (e) {
    return `${name('--private-key', files?.privateKey)}: not a PEM private key (${describe(e)})`;
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(cfg.cert);
  } catch (e) {
    return `${name('--certificate', files?.certificate)}: not a PEM certificate (${describe(e)})`;
  }
  if (!cert.checkPrivateKey(key)) {
    return `${name('--certificate', files?.certificate)}: the certificate does not match the private key ${files?.privateKey ?? ''}`.trimEnd();
  }
  const cas = cfg.ca.toString('latin1').match(PEM_CERT) ?? [];
  if (cas.length === 0) return `${name('--ca-cert', files?.caCert)}: no PEM certificate in it`;
  for (const pem of cas) {
    try {
      new X509Certificate(pem);
    } catch (e) {
      return `${name('--ca-cert', files?.caCert)}: a certificate in it does not parse (${describe(e)})`;
    }
  }
  return undefined;
}

/**
 * Reads and checks the three files; returns the configuration or a message naming the file that
 * is missing, unreadable or wrong.
 */
export function loadTlsFiles(files: TlsFiles): TlsConfig | string {
  const read = readTlsFiles(files);
  return typeof read === 'string' ? read : checkTlsConfig(read, files) ?? read;
}

/** The three files' contents, or a message naming the first that cannot be read. */
function readTlsFiles(files: TlsFiles): TlsConfig | string {
  const read = (opt: string, file: string): Buffer | string => {
    try {
      return readFileSync(file);
    } catch (e) {
      return `${opt} ${file}: cannot read it: ${describe(e)}`;
    }
  };
  const key = read('--private-key', files.privateKey);
  if (typeof key === 'string') return key;
  const cert = read('--certificate', files.certificate);
  if (typeof cert === 'string') return cert;
  const ca = read('--ca-cert', files.caCert);
  if (typeof ca === 'string') return ca;
  return { key, cert, ca };
}

/**
 * Options for a TLS listener (`pssl:`). The client's certificate is requested, and required; its
 * verification is done by the caller with peerVerifyError() once the handshake completes, so the
 * refusal can be reported (Node would drop the socket silently: no 'tlsClientError' fires for a
 * certificate that does not verify).
 */
export function tlsServerOptions(cfg: TlsConfig): TlsOptions {
  return {
    key: cfg.key,
    cert: cfg.cert,
    ca: cfg.ca,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: TLS_MIN_VERSION,
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT,
  };
}

/** Options for an active TLS connection (`ssl:`): the controller's certificate must chain to the CA. */
export function tlsClientOptions(cfg: TlsConfig, host: string, port: number): ConnectionOptions {
  return {
    host,
    port,
    // SNI only for a name: RFC 6066 forbids an IP address there.
    ...(isIP(host) === 0 ? { servername: host } : {}),
    key: cfg.key,
    cert: cfg.cert,
    ca: cfg.ca,
    rejectUnauthorized: true,
    minVersion: TLS_MIN_VERSION,
    // The CA chain only, as OVS: no host name check (see the top of this file).
    checkServerIdentity: () => undefined,
  };
}

/**
 * A short text for a TLS error: OpenSSL's reason ("unsupported protocol", "certificate verify
 * failed") rather than its multi-line message with library locations.
 */
export function tlsErrorText(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const reason = (e as Error & { reason?: unknown }).reason;
  if (typeof reason === 'string' && reason !== '') return reason;
  return e.message.trim().split('\n')[0]!;
}

/**
 * Why a peer that completed the handshake must be refused, or undefined when its certificate
 * was presented and chains to the CA.
 */
export function peerVerifyError(sock: TLSSocket): string | undefined {
  if (sock.authorized) return undefined;
  const err = sock.authorizationError;
  const text = err instanceof Error ? err.message : err !== undefined && err !== null ? String(err) : '';
  const cert = sock.getPeerCertificate();
  if (cert === null || cert === undefined || Object.keys(cert).length === 0) return 'the peer presented no certificate';
  const subject = typeof cert.subject?.CN === 'string' ? ` (CN=${cert.subject.CN})` : '';
  return `the peer's certificate${subject} does not verify against the CA: ${text || 'unauthorized'}`;
}

// ---------------------------------------------------------------------------------------------
// Credentials that follow their files
// ---------------------------------------------------------------------------------------------

/**
 * Where a connection manager gets its TLS credentials from, each time it needs them (a new
 * connection). `current()` returns the same object for as long as the credentials have not
 * changed, so a caller can tell a change by identity.
 */
export interface TlsSource {
  current(): TlsConfig;
}

/** A fixed configuration as a TlsSource. */
export function fixedTls(cfg: TlsConfig): TlsSource {
  return { current: () => cfg };
}

export interface TlsFileSourceHooks {
  /** The files changed and the new credentials are in use (for a log line). */
  readonly onReload?: (files: TlsFiles) => void;
  /** The files changed but cannot be used: `error` names the file; the previous credentials stay. */
  readonly onError?: (error: string) => void;
}

/** What a read of the files found, as one comparable string: a digest, or the read error. */
function signature(read: TlsConfig | string): string {
  if (typeof read === 'string') return read;
  const h = createHash('sha256');
  for (const b of [read.key, read.cert, read.ca]) h.update(String(b.length)).update(':').update(b);
  return h.digest('hex');
}

/**
 * The switch's credentials, read from its three files and read again when the files change
 * (see the top of this file). Built with load(), which reads them the first time and fails
 * with the message naming the file, as loadTlsFiles does.
 */
export class TlsFileSource implements TlsSource {
  /** The signature of the files the current credentials came from. */
  private loadedSig: string;
  /** The signature of the last change that could not be used: not checked or reported again. */
  private rejectedSig: string | undefined;

  private constructor(readonly files: TlsFiles, private cfg: TlsConfig, private readonly hooks: TlsFileSourceHooks) {
    this.loadedSig = signature(cfg);
  }

  static load(files: TlsFiles, hooks: TlsFileSourceHooks = {}): TlsFileSource | string {
    const cfg = loadTlsFiles(files);
    return typeof cfg === 'string' ? cfg : new TlsFileSource(files, cfg, hooks);
  }

  /** The credentials to use for a new connection: the files' new ones when they changed and are good. */
  current(): TlsConfig {
    const read = readTlsFiles(this.files);
    const sig = signature(read);
    if (sig === this.loadedSig || sig === this.rejectedSig) return this.cfg;
    const error = typeof read === 'string' ? read : checkTlsConfig(read, this.files);
    if (typeof read === 'string' || error !== undefined) {
      this.rejectedSig = sig;
      this.hooks.onError?.(error ?? 'unusable');
      return this.cfg;
    }
    this.cfg = read;
    this.loadedSig = sig;
    this.rejectedSig = undefined;
    this.hooks.onReload?.(this.files);
    return this.cfg;
  }
}
