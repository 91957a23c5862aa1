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
 *
 * The files are read once, at start (OVS re-reads them when they change: not done here).
 */

import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
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
  const cfg = { key, cert, ca };
  return checkTlsConfig(cfg, files) ?? cfg;
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
