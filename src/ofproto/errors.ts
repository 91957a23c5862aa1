/**
 * Building the OFPT_ERROR for an error pair. Pairs of type OFPET_EXPERIMENTER are ONF experimenter
 * errors on OpenFlow 1.3 (exp_code = the pair's code, experimenter = ONF): the duplicate-instruction
 * error 2600 and the bundle errors 2300.. that Open vSwitch sends on 1.3. The data is at most the
 * first 64 bytes of the offending message.
 */

import { OFPT, OFPET, OFP_VERSION, ONF_EXPERIMENTER_ID, type ErrorMsg, type ErrorExperimenterMsg } from '../openflow/index.js';
import type { ErrorPair } from '../../proto/schema.js';

export function ofpErrorMessage(pair: ErrorPair, xid: number, data: Uint8Array): ErrorMsg | ErrorExperimenterMsg {
  const bytes = data.length > 64 ? data.subarray(0, 64) : data;
  if (pair[0] === OFPET.EXPERIMENTER) {
    return { version: OFP_VERSION, type: OFPT.ERROR, xid, errType: OFPET.EXPERIMENTER, expCode: pair[1], experimenter: ONF_EXPERIMENTER_ID, data: bytes };
  }
  return { version: OFP_VERSION, type: OFPT.ERROR, xid, errType: pair[0], code: pair[1], data: bytes };
}
