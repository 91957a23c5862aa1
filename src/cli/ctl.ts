/**
 * The control socket: `ofswitch start` serves one (a Unix socket), `ofswitch ctl COMMAND` sends a
 * command to it and prints the answer — as ovs-appctl talks to ovs-vswitchd.
 *
 * Wire form: one JSON object per line each way. Request `{"args": ["dpctl/show"]}`; answer
 * `{"ok": true, "text": "..."}` or `{"ok": false, "error": "..."}`. A connection may send several
 * requests; answers come in order.
 *
 * Default path: $OFSWITCH_RUNDIR/ofswitch.ctl, with OFSWITCH_RUNDIR defaulting to /tmp. A socket
 * file left by a switch that is gone is replaced; one a live switch answers on is not touched
 * (the second switch then runs without a control socket and says so).
 */

import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

export function defaultSocketPath(): string {
  return join(process.env['OFSWITCH_RUNDIR'] ?? '/tmp', 'ofswitch.ctl');
}

/** Runs one command; the text to print, or throws CtlError with what went wrong. */
export type CommandHandler = (args: readonly string[]) => string | Promise<string>;

/** A command's failure that the user should see (unknown command, bad argument). */
export class CtlError extends Error {}

export interface ControlServer {
  readonly path: string;
  close(): Promise<void>;
}

/** Largest request line accepted (a frame in hex for netdev-dummy/receive fits many times). */
const MAX_LINE = 4 * 1024 * 1024;

/** True when something answers on the socket at `path`. */
function alive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Serves `handler` on a Unix socket at `path`; rejects with a clear message when it cannot. */
export async function serveControl(path: string, handler: CommandHandler): Promise<ControlServer> {
  if (existsSync(path)) {
    if (await alive(path)) throw new Error(`control socket ${path} is in use by another switch (give --socket PATH)`);
    try {
      unlinkSync(path);
    } catch (e) {
      throw new Error(`control socket ${path}: cannot remove the stale file: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = '';
    let chain: Promise<void> = Promise.resolve();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE && !buf.includes('\n')) {
        sock.end(JSON.stringify({ ok: false, error: 'request too long' }) + '\n');
        return;
      }
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        chain = chain.then(() => answer(line, handler)).then((reply) => {
          if (!sock.destroyed) sock.write(JSON.stringify(reply) + '\n');
        });
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new Error(`control socket ${path}: ${e.message}`)));
    server.listen(path, () => resolve());
  });
  return {
    path,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => {
        try {
          unlinkSync(path);
        } catch {
          // gone already
        }
        resolve();
      });
    }),
  };
}

async function answer(line: string, handler: CommandHandler): Promise<{ ok: boolean; text?: string; error?: string }> {
  let args: unknown;
  try {
    args = (JSON.parse(line) as { args?: unknown }).args;
  } catch {
    return { ok: false, error: 'request is not JSON' };
  }
  if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string')) {
    return { ok: false, error: 'request needs "args": a non-empty list of strings' };
  }
  try {
    return { ok: true, text: await handler(args as string[]) };
  } catch (e) {
    if (e instanceof CtlError) return { ok: false, error: e.message };
    return { ok: false, error: `internal error: ${e instanceof Error ? e.message : String(e)}` };
  }
}

/** Sends one command; resolves with the answer, rejects when the socket cannot be reached. */
export function sendCommand(path: string, args: readonly string[], timeoutMs = 10_000): Promise<{ ok: boolean; text?: string; error?: string }> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${path} within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.once('connect', () => sock.write(JSON.stringify({ args }) + '\n'));
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      sock.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as { ok: boolean; text?: string; error?: string });
      } catch {
        reject(new Error(`bad answer from ${path}`));
      }
    });
    sock.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? 'no switch is running there' : e.message;
      reject(new Error(`cannot reach the control socket ${path}: ${why}`));
    });
  });
}
