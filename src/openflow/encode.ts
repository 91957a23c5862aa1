/**
 * Encoding: a message object to bytes. `encode` allocates exactly; `encodeInto` writes into a
 * caller's buffer at an offset (how connections batch several messages into one write).
 *
 * Encoding trusts its input's shape (the TypeScript types); a value that cannot be written (an
 * unknown type number, a malformed address string, a number out of range) throws a RangeError
 * naming it, because that is a bug in the caller, not bad input from the network.
 */

import { type Message, encodeMessageAt, messageLength } from './generated.js';

export { messageLength as encodedLength };

const MAX = 0xffff;
/** Scratch space for encode(): writing there and copying out beats a separate length pass. */
const scratch = Buffer.alloc(MAX + 1);

export function encode(msg: Message): Buffer {
  let n: number;
  try {
    n = encodeMessageAt(msg, scratch, 0);
  } catch (e) {
    // Past the end of the scratch buffer: the message is too big (typed-array writes beyond the
    // end are dropped, copies throw); report the size, otherwise rethrow the caller's error.
    const size = messageLength(msg);
    if (size > MAX) throw new RangeError(`message of ${size} bytes exceeds the 65535-byte OpenFlow limit`);
    throw e;
  }
  if (n > MAX) throw new RangeError(`message of ${n} bytes exceeds the 65535-byte OpenFlow limit`);
  return Buffer.from(scratch.subarray(0, n));
}

/**
 * Writes msg at buf[offset..]; returns the number of bytes written. Throws RangeError, with buf
 * past the end left unspecified, when the message does not fit.
 */
export function encodeInto(msg: Message, buf: Buffer, offset: number): number {
  let end: number;
  try {
    end = encodeMessageAt(msg, buf, offset);
  } catch (e) {
    const size = messageLength(msg);
    if (size > buf.length - offset) throw new RangeError(`buffer has ${buf.length - offset} bytes from offset ${offset}, message needs ${size}`);
    throw e;
  }
  if (end > buf.length) throw new RangeError(`buffer has ${buf.length - offset} bytes from offset ${offset}, message needs ${end - offset}`);
  if (end - offset > MAX) throw new RangeError(`message of ${end - offset} bytes exceeds the 65535-byte OpenFlow limit`);
  return end - offset;
}
