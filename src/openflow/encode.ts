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

export function encode(msg: Message): Buffer {
  const n = messageLength(msg);
  if (n > 0xffff) throw new RangeError(`message of ${n} bytes exceeds the 65535-byte OpenFlow limit`);
  const b = Buffer.allocUnsafe(n);
  const end = encodeMessageAt(msg, b, 0);
  if (end !== n) throw new Error(`encoder wrote ${end} bytes for a ${n}-byte message`);
  return b;
}

/** Writes msg at buf[offset..]; returns the number of bytes written. */
export function encodeInto(msg: Message, buf: Buffer, offset: number): number {
  const n = messageLength(msg);
  if (n > 0xffff) throw new RangeError(`message of ${n} bytes exceeds the 65535-byte OpenFlow limit`);
  if (buf.length - offset < n) throw new RangeError(`buffer has ${buf.length - offset} bytes from offset ${offset}, message needs ${n}`);
  return encodeMessageAt(msg, buf, offset) - offset;
}
