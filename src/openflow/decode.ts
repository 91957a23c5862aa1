/**
 * The codec's front door: a whole frame in, a typed message or an OpenFlow error out.
 *
 * `decode` never throws. On failure it returns the (type, code) a switch must answer with and
 * the first 64 bytes of the offending message, ready for errorReply(). HELLO, ERROR and the echo
 * messages decode in any version (version negotiation and its failures need them); every other
 * message must carry version 0x04 or gives BAD_REQUEST/BAD_VERSION.
 */

import { OFP_VERSION, OFPT } from '../../proto/constants.js';
import { OFPE, errorName, errorText } from '../../proto/errors.js';
import { type Message, type ErrorMsg, decodeMessageAt } from './generated.js';
import { OfpDecodeError } from './runtime.js';

/** A decode failure: the error to send back, and what it is about. */
export interface OfpError {
  readonly errType: number;
  readonly code: number;
  /** `BAD_MATCH/DUP_FIELD` */
  readonly name: string;
  readonly text: string;
  /** xid of the offending message (0 if the header was unreadable). */
  readonly xid: number;
  /** The first 64 bytes of the offending message, for the ERROR's data. */
  readonly data: Uint8Array;
  /**
   * True when the decoder itself failed rather than the input (a codec bug). It is still
   * reported as BAD_REQUEST/BAD_LEN so the peer gets an answer; tests assert it never happens.
   */
  readonly internal?: boolean;
}

export type DecodeResult =
  | { readonly ok: true; readonly msg: Message }
  | { readonly ok: false; readonly error: OfpError };

const ANY_VERSION = new Set<number>([OFPT.HELLO, OFPT.ERROR, OFPT.ECHO_REQUEST, OFPT.ECHO_REPLY]);

export function makeError(pair: readonly [number, number], frame: Uint8Array, detail?: string, internal?: boolean): OfpError {
  const [errType, code] = pair;
  const xid = frame.length >= 8 ? Buffer.from(frame.buffer, frame.byteOffset, frame.length).readUInt32BE(4) : 0;
  return {
    errType, code, name: errorName(errType, code), text: detail ?? errorText(errType, code), xid,
    data: Uint8Array.prototype.slice.call(frame, 0, 64), ...(internal ? { internal } : {}),
  };
}

/** Decodes one whole OpenFlow message (as the framer hands them out). */
export function decode(frame: Uint8Array): DecodeResult {
  const b = Buffer.isBuffer(frame) ? frame : Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  if (b.length < 8) return { ok: false, error: makeError(OFPE.BAD_REQUEST!.BAD_LEN!, b, 'shorter than the OpenFlow header') };
  const length = b[2]! << 8 | b[3]!;
  if (length !== b.length) return { ok: false, error: makeError(OFPE.BAD_REQUEST!.BAD_LEN!, b, `header length ${length} but ${b.length} bytes`) };
  const version = b[0]!;
  const type = b[1]!;
  if (version !== OFP_VERSION && !ANY_VERSION.has(type)) {
    return { ok: false, error: makeError(OFPE.BAD_REQUEST!.BAD_VERSION!, b, `version 0x${version.toString(16)} is not OpenFlow 1.3`) };
  }
  try {
    if (version !== OFP_VERSION && type === OFPT.HELLO && length > 8) {
      // Hellos of other versions may carry bodies this codec does not know; what matters for
      // negotiation is the header, plus the version bitmap when one decodes.
      try { return { ok: true, msg: decodeMessageAt(b, 0, length) }; }
      catch { return { ok: true, msg: { version, type: OFPT.HELLO, xid: b.readUInt32BE(4), elements: [] } }; }
    }
    return { ok: true, msg: decodeMessageAt(b, 0, length) };
  } catch (e) {
    if (e instanceof OfpDecodeError) return { ok: false, error: makeError([e.errType, e.code], b, e.message.replace(/^[^:]*: /, '')) };
    return { ok: false, error: makeError(OFPE.BAD_REQUEST!.BAD_LEN!, b, `decoder failure: ${String(e)}`, true) };
  }
}

/** The OFPT_ERROR to send for a decode failure (same xid as the offending message). */
export function errorReply(err: OfpError): ErrorMsg {
  return { version: OFP_VERSION, type: OFPT.ERROR, xid: err.xid, errType: err.errType, code: err.code, data: err.data };
}
