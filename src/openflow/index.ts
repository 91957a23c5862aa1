/**
 * openflow: the OpenFlow 1.3 wire codec (pure: no I/O, no state).
 *
 * What it is for: turning bytes from a controller or switch into typed, readonly message objects
 * and back, exactly (64-bit fields are bigints; unknown experimenter payloads are kept as bytes).
 *
 * Where it comes from: proto/of13.ts describes the wire format once; proto/gen.ts generates
 * generated.ts (types plus decode/encode/length per structure) from it; json.ts and format.ts
 * walk the same description for the JSON and text forms; oxm.ts does match fields from the OXM
 * table in proto/oxm.ts.
 *
 * Invariants:
 * - decode() never throws: bad bytes give an OfpError carrying the (type, code) the switch must
 *   answer with (errorReply() builds that answer), never any other exception.
 * - For every valid message m: decode(encode(m)) deep-equals m, and fromJson(toJson(m)) too.
 * - The framer checks a header's length before buffering the rest, and hands out views of the
 *   chunk for frames that do not straddle chunks.
 */

export * from './generated.js';
export { decode, errorReply, makeError, type DecodeResult, type OfpError } from './decode.js';
export { encode, encodeInto, encodedLength } from './encode.js';
export { Framer, FrameStream, RawFrameStream, FramingError, OFP_MAX_MESSAGE } from './framer.js';
export { toJson, fromJson, oxmToJson, oxmFromJson, type Json } from './json.js';
export { formatMessage, formatError } from './format.js';
export {
  type Oxm, type OxmBasic, type OxmOther, type OxmId, type OxmValue, isBasic, checkPrerequisites,
} from './oxm.js';
export {
  OfpDecodeError, toHex, fromHex, readMac, writeMac, readIpv4, writeIpv4, readIpv6, writeIpv6,
} from './runtime.js';
export * from '../../proto/constants.js';
export { OFPE, ERROR_TYPES, errorName, errorText, parseErrorName } from '../../proto/errors.js';
export { decodeFlowModWire, WireFlowMod, wireFlowMod, isEmptyMatch, prerequisitesHoldWire } from './flowmod-wire.js';
export { parseMatchText, formatMatchText, type MatchTextOptions } from './match-text.js';
