/**
 * The OpenFlow 1.3 wire format (version 0x04), described once.
 *
 * Layouts follow the OpenFlow 1.3.5 specification's C structures field for field (pads included)
 * and the ONF bundle extension EXT-230. Names are camelCase forms of the specification's. The
 * node `Message` is the entry point: every other node is reachable from it.
 */

import {
  OFPT, OFPAT, OFPIT, OFPMBT, OFPQT, OFPTFPT, OFPHET, OFPMP, OFPET, ONF_EXPERIMENTER_ID, ONF_ET,
} from './constants.js';
import { OFPE } from './errors.js';
import {
  type NodeDef, type StructDef, type DispatchDef, type Field, type ErrorPair,
  u8, u16, u32, u64, mac, konst, len, lenOf, pad, str, bytes, struct, list, scalars, match, oxm,
  oxmIds, message,
} from './schema.js';

const E = OFPE as Record<string, Record<string, ErrorPair>>;
const BAD_LEN = E.BAD_REQUEST!.BAD_LEN!;

const nodes: NodeDef[] = [];

function def(name: string, lenError: ErrorPair, fields: Field[], lengthStyle?: StructDef['lengthStyle']): string {
  nodes.push({ kind: 'struct', name, fields, lenError, lengthStyle });
  return name;
}

function dispatch(
  name: string, field: string, at: number, type: DispatchDef['type'],
  cases: Array<[number | number[], string]>, fallback: string | ErrorPair, lenError: ErrorPair,
): string {
  const flat: Array<[number, string]> = [];
  for (const [v, n] of cases) for (const x of Array.isArray(v) ? v : [v]) flat.push([x, n]);
  nodes.push({ kind: 'dispatch', name, field, at, type, cases: flat, fallback, lenError });
  return name;
}

// ---------------------------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------------------------

def('Port', BAD_LEN, [
  u32('portNo', { enum: 'port' }), pad(4), mac('hwAddr'), pad(2), str('name', 16),
  u32('config', { enum: 'portConfig' }), u32('state', { enum: 'portState' }),
  u32('curr', { enum: 'portFeatures' }), u32('advertised', { enum: 'portFeatures' }),
  u32('supported', { enum: 'portFeatures' }), u32('peer', { enum: 'portFeatures' }),
  u32('currSpeed'), u32('maxSpeed'),
]);

// ---------------------------------------------------------------------------------------------
// Actions (ofp_action_*): type, len (a multiple of 8, padding included)
// ---------------------------------------------------------------------------------------------

const BAD_ACTION_LEN = E.BAD_ACTION!.BAD_LEN!;
const act = (name: string, types: number[], fields: Field[]) =>
  def(name, BAD_ACTION_LEN, [konst('type', 'u16', types, 'action'), len('len'), ...fields], 'padded');

dispatch('Action', 'type', 0, 'u16', [
  [OFPAT.OUTPUT, act('ActionOutput', [OFPAT.OUTPUT], [u32('port', { enum: 'port' }), u16('maxLen'), pad(6)])],
  [[OFPAT.COPY_TTL_OUT, OFPAT.COPY_TTL_IN, OFPAT.DEC_MPLS_TTL, OFPAT.POP_VLAN, OFPAT.DEC_NW_TTL, OFPAT.POP_PBB],
    act('ActionBare', [OFPAT.COPY_TTL_OUT, OFPAT.COPY_TTL_IN, OFPAT.DEC_MPLS_TTL, OFPAT.POP_VLAN, OFPAT.DEC_NW_TTL, OFPAT.POP_PBB], [pad(4)])],
  [OFPAT.SET_MPLS_TTL, act('ActionSetMplsTtl', [OFPAT.SET_MPLS_TTL], [u8('mplsTtl'), pad(3)])],
  [[OFPAT.PUSH_VLAN, OFPAT.PUSH_MPLS, OFPAT.PUSH_PBB, OFPAT.POP_MPLS],
    act('ActionEthertype', [OFPAT.PUSH_VLAN, OFPAT.PUSH_MPLS, OFPAT.PUSH_PBB, OFPAT.POP_MPLS], [u16('ethertype'), pad(2)])],
  [OFPAT.SET_QUEUE, act('ActionSetQueue', [OFPAT.SET_QUEUE], [u32('queueId')])],
  [OFPAT.GROUP, act('ActionGroup', [OFPAT.GROUP], [u32('groupId', { enum: 'group' })])],
  [OFPAT.SET_NW_TTL, act('ActionSetNwTtl', [OFPAT.SET_NW_TTL], [u8('nwTtl'), pad(3)])],
  [OFPAT.SET_FIELD, act('ActionSetField', [OFPAT.SET_FIELD], [oxm('field')])],
  [OFPAT.EXPERIMENTER, act('ActionExperimenter', [OFPAT.EXPERIMENTER], [u32('experimenter'), bytes('data')])],
], E.BAD_ACTION!.BAD_TYPE!, BAD_ACTION_LEN);

// ---------------------------------------------------------------------------------------------
// Instructions (ofp_instruction_*): type, len (a multiple of 8)
// ---------------------------------------------------------------------------------------------

const BAD_INST_LEN = E.BAD_INSTRUCTION!.BAD_LEN!;
const inst = (name: string, types: number[], fields: Field[]) =>
  def(name, BAD_INST_LEN, [konst('type', 'u16', types, 'instruction'), len('len'), ...fields], 'padded');

dispatch('Instruction', 'type', 0, 'u16', [
  [OFPIT.GOTO_TABLE, inst('InstructionGotoTable', [OFPIT.GOTO_TABLE], [u8('tableId'), pad(3)])],
  [OFPIT.WRITE_METADATA, inst('InstructionWriteMetadata', [OFPIT.WRITE_METADATA], [pad(4), u64('metadata'), u64('metadataMask')])],
  [[OFPIT.WRITE_ACTIONS, OFPIT.APPLY_ACTIONS, OFPIT.CLEAR_ACTIONS],
    inst('InstructionActions', [OFPIT.WRITE_ACTIONS, OFPIT.APPLY_ACTIONS, OFPIT.CLEAR_ACTIONS], [pad(4), list('actions', 'Action')])],
  [OFPIT.METER, inst('InstructionMeter', [OFPIT.METER], [u32('meterId', { enum: 'meter' })])],
  [OFPIT.EXPERIMENTER, inst('InstructionExperimenter', [OFPIT.EXPERIMENTER], [u32('experimenter'), bytes('data')])],
], E.BAD_INSTRUCTION!.UNKNOWN_INST!, BAD_INST_LEN);

// ---------------------------------------------------------------------------------------------
// Groups: buckets carry their own length, actions to its end
// ---------------------------------------------------------------------------------------------

def('Bucket', E.GROUP_MOD_FAILED!.BAD_BUCKET!, [
  len('len'), u16('weight'), u32('watchPort', { enum: 'port' }), u32('watchGroup', { enum: 'group' }), pad(4),
  list('actions', 'Action'),
], 'padded');

// ---------------------------------------------------------------------------------------------
// Meters: bands are type, len, rate, burst_size, then their own fields
// ---------------------------------------------------------------------------------------------

// An unknown band type is METER_MOD_FAILED/BAD_BAND; a band whose length is wrong is a malformed
// request (BAD_REQUEST/BAD_LEN), as Open vSwitch and ofsoftswitch13 answer: the specification
// has no band-length code.
const BAD_BAND = E.METER_MOD_FAILED!.BAD_BAND!;
const band = (name: string, t: number, fields: Field[]) =>
  def(name, BAD_LEN, [konst('type', 'u16', [t], 'meterBand'), len('len'), u32('rate'), u32('burstSize'), ...fields], 'padded');

dispatch('MeterBand', 'type', 0, 'u16', [
  [OFPMBT.DROP, band('MeterBandDrop', OFPMBT.DROP, [pad(4)])],
  [OFPMBT.DSCP_REMARK, band('MeterBandDscpRemark', OFPMBT.DSCP_REMARK, [u8('precLevel'), pad(3)])],
  [OFPMBT.EXPERIMENTER, band('MeterBandExperimenter', OFPMBT.EXPERIMENTER, [u32('experimenter'), bytes('data')])],
], BAD_BAND, BAD_LEN);

// ---------------------------------------------------------------------------------------------
// Queues (queue-get-config reply)
// ---------------------------------------------------------------------------------------------

const qprop = (name: string, t: number, fields: Field[]) =>
  def(name, BAD_LEN, [konst('property', 'u16', [t], 'queueProp'), len('len'), pad(4), ...fields], 'padded');

dispatch('QueueProp', 'property', 0, 'u16', [
  [[OFPQT.MIN_RATE, OFPQT.MAX_RATE],
    def('QueuePropRate', BAD_LEN, [konst('property', 'u16', [OFPQT.MIN_RATE, OFPQT.MAX_RATE], 'queueProp'), len('len'), pad(4), u16('rate'), pad(6)], 'padded')],
  [OFPQT.EXPERIMENTER, qprop('QueuePropExperimenter', OFPQT.EXPERIMENTER, [u32('experimenter'), pad(4), bytes('data')])],
], E.BAD_REQUEST!.BAD_TYPE!, BAD_LEN);

def('PacketQueue', BAD_LEN, [u32('queueId'), u32('port', { enum: 'port' }), len('len'), pad(6), list('properties', 'QueueProp')], 'padded');

// ---------------------------------------------------------------------------------------------
// Table features: properties whose length leaves out the padding after them
// ---------------------------------------------------------------------------------------------

const TF_LEN = E.TABLE_FEATURES_FAILED!.BAD_LEN!;

// Ids in instruction and action lists: a header only (4 bytes), or an experimenter header.
dispatch('InstructionId', 'type', 0, 'u16', [
  [OFPIT.EXPERIMENTER, def('InstructionIdExperimenter', TF_LEN, [konst('type', 'u16', [OFPIT.EXPERIMENTER], 'instruction'), len('len'), u32('experimenter'), bytes('data')], 'exact')],
], def('InstructionIdStandard', TF_LEN, [u16('type', { enum: 'instruction' }), len('len')], 'exact'), TF_LEN);

dispatch('ActionId', 'type', 0, 'u16', [
  [OFPAT.EXPERIMENTER, def('ActionIdExperimenter', TF_LEN, [konst('type', 'u16', [OFPAT.EXPERIMENTER], 'action'), len('len'), u32('experimenter'), bytes('data')], 'exact')],
], def('ActionIdStandard', TF_LEN, [u16('type', { enum: 'action' }), len('len')], 'exact'), TF_LEN);

const tfp = (name: string, types: number[], fields: Field[]) =>
  def(name, TF_LEN, [konst('type', 'u16', types, 'tableFeatureProp'), len('length'), ...fields], 'unpadded');

dispatch('TableFeatureProp', 'type', 0, 'u16', [
  [[OFPTFPT.INSTRUCTIONS, OFPTFPT.INSTRUCTIONS_MISS],
    tfp('TableFeaturePropInstructions', [OFPTFPT.INSTRUCTIONS, OFPTFPT.INSTRUCTIONS_MISS], [list('instructionIds', 'InstructionId')])],
  [[OFPTFPT.NEXT_TABLES, OFPTFPT.NEXT_TABLES_MISS],
    tfp('TableFeaturePropNextTables', [OFPTFPT.NEXT_TABLES, OFPTFPT.NEXT_TABLES_MISS], [scalars('nextTableIds', 'u8')])],
  [[OFPTFPT.WRITE_ACTIONS, OFPTFPT.WRITE_ACTIONS_MISS, OFPTFPT.APPLY_ACTIONS, OFPTFPT.APPLY_ACTIONS_MISS],
    tfp('TableFeaturePropActions', [OFPTFPT.WRITE_ACTIONS, OFPTFPT.WRITE_ACTIONS_MISS, OFPTFPT.APPLY_ACTIONS, OFPTFPT.APPLY_ACTIONS_MISS], [list('actionIds', 'ActionId')])],
  [[OFPTFPT.MATCH, OFPTFPT.WILDCARDS, OFPTFPT.WRITE_SETFIELD, OFPTFPT.WRITE_SETFIELD_MISS, OFPTFPT.APPLY_SETFIELD, OFPTFPT.APPLY_SETFIELD_MISS],
    tfp('TableFeaturePropOxm', [OFPTFPT.MATCH, OFPTFPT.WILDCARDS, OFPTFPT.WRITE_SETFIELD, OFPTFPT.WRITE_SETFIELD_MISS, OFPTFPT.APPLY_SETFIELD, OFPTFPT.APPLY_SETFIELD_MISS], [oxmIds('oxmIds')])],
  [[OFPTFPT.EXPERIMENTER, OFPTFPT.EXPERIMENTER_MISS],
    tfp('TableFeaturePropExperimenter', [OFPTFPT.EXPERIMENTER, OFPTFPT.EXPERIMENTER_MISS], [u32('experimenter'), u32('expType'), bytes('data')])],
], E.TABLE_FEATURES_FAILED!.BAD_TYPE!, TF_LEN);

def('TableFeatures', TF_LEN, [
  len('length'), u8('tableId'), pad(5), str('name', 32), u64('metadataMatch'), u64('metadataWrite'),
  u32('config'), u32('maxEntries'), list('properties', 'TableFeatureProp'),
], 'padded');

// ---------------------------------------------------------------------------------------------
// Multipart bodies
// ---------------------------------------------------------------------------------------------

def('FlowStats', BAD_LEN, [
  len('length'), u8('tableId'), pad(1), u32('durationSec'), u32('durationNsec'), u16('priority'),
  u16('idleTimeout'), u16('hardTimeout'), u16('flags', { enum: 'flowModFlags' }), pad(4), u64('cookie'),
  u64('packetCount'), u64('byteCount'), match(), list('instructions', 'Instruction'),
], 'padded');
def('TableStats', BAD_LEN, [u8('tableId'), pad(3), u32('activeCount'), u64('lookupCount'), u64('matchedCount')]);
def('PortStats', BAD_LEN, [
  u32('portNo', { enum: 'port' }), pad(4), u64('rxPackets'), u64('txPackets'), u64('rxBytes'), u64('txBytes'),
  u64('rxDropped'), u64('txDropped'), u64('rxErrors'), u64('txErrors'), u64('rxFrameErr'), u64('rxOverErr'),
  u64('rxCrcErr'), u64('collisions'), u32('durationSec'), u32('durationNsec'),
]);
def('QueueStats', BAD_LEN, [
  u32('portNo', { enum: 'port' }), u32('queueId'), u64('txBytes'), u64('txPackets'), u64('txErrors'),
  u32('durationSec'), u32('durationNsec'),
]);
def('BucketCounter', BAD_LEN, [u64('packetCount'), u64('byteCount')]);
def('GroupStats', BAD_LEN, [
  len('length'), pad(2), u32('groupId', { enum: 'group' }), u32('refCount'), pad(4), u64('packetCount'),
  u64('byteCount'), u32('durationSec'), u32('durationNsec'), list('bucketStats', 'BucketCounter'),
], 'padded');
def('GroupDesc', BAD_LEN, [
  len('length'), u8('groupType', { enum: 'groupType' }), pad(1), u32('groupId', { enum: 'group' }), list('buckets', 'Bucket'),
], 'padded');
def('MeterBandStats', BAD_LEN, [u64('packetBandCount'), u64('byteBandCount')]);
def('MeterStats', BAD_LEN, [
  u32('meterId', { enum: 'meter' }), len('len'), pad(6), u32('flowCount'), u64('packetInCount'), u64('byteInCount'),
  u32('durationSec'), u32('durationNsec'), list('bandStats', 'MeterBandStats'),
], 'padded');
def('MeterConfig', BAD_LEN, [
  len('length'), u16('flags', { enum: 'meterFlags' }), u32('meterId', { enum: 'meter' }), list('bands', 'MeterBand'),
], 'padded');

// ---------------------------------------------------------------------------------------------
// Hello elements and bundle properties: lengths leave out the padding after them
// ---------------------------------------------------------------------------------------------

dispatch('HelloElem', 'type', 0, 'u16', [
  [OFPHET.VERSIONBITMAP, def('HelloElemVersionBitmap', BAD_LEN, [konst('type', 'u16', [OFPHET.VERSIONBITMAP], 'helloElem'), len('length'), scalars('bitmaps', 'u32')], 'unpadded')],
], def('HelloElemUnknown', BAD_LEN, [u16('type', { enum: 'helloElem' }), len('length'), bytes('data')], 'unpadded'), BAD_LEN);

dispatch('BundleProp', 'type', 0, 'u16', [
  [0xffff, def('BundlePropExperimenter', BAD_LEN, [konst('type', 'u16', [0xffff], 'bundleProp'), len('length'), u32('experimenter'), u32('expType'), bytes('data')], 'unpadded')],
], def('BundlePropUnknown', BAD_LEN, [u16('type', { enum: 'bundleProp' }), len('length'), bytes('data')], 'unpadded'), BAD_LEN);

// ---------------------------------------------------------------------------------------------
// Messages: header (version, type, length, xid), then the body
// ---------------------------------------------------------------------------------------------

const header = (types: number[]): Field[] => [
  u8('version', { default: 4 }), konst('type', 'u8', types, 'type'), len('length'), u32('xid', { default: 0 }),
];
const msg = (name: string, types: number[], fields: Field[]) =>
  def(name, BAD_LEN, [...header(types), ...fields], 'exact');

const mpReqHeader = (mp: number[]): Field[] => [
  ...header([OFPT.MULTIPART_REQUEST]), konst('mpType', 'u16', mp, 'multipart'), u16('flags', { enum: 'multipartFlags' }), pad(4),
];
const mpRepHeader = (mp: number[]): Field[] => [
  ...header([OFPT.MULTIPART_REPLY]), konst('mpType', 'u16', mp, 'multipart'), u16('flags', { enum: 'multipartFlags' }), pad(4),
];
const mpReq = (name: string, mp: number[], fields: Field[]) => def(name, BAD_LEN, [...mpReqHeader(mp), ...fields], 'exact');
const mpRep = (name: string, mp: number[], fields: Field[]) => def(name, BAD_LEN, [...mpRepHeader(mp), ...fields], 'exact');

const EMPTY_REQ = [OFPMP.DESC, OFPMP.TABLE, OFPMP.GROUP_DESC, OFPMP.GROUP_FEATURES, OFPMP.METER_FEATURES, OFPMP.PORT_DESC];
const flowStatsRequestBody = (): Field[] => [
  u8('tableId', { enum: 'table' }), pad(3), u32('outPort', { enum: 'port' }), u32('outGroup', { enum: 'group' }), pad(4),
  u64('cookie'), u64('cookieMask'), match(),
];
const BAD_MULTIPART = E.BAD_REQUEST!.BAD_MULTIPART!;

dispatch('MultipartRequest', 'mpType', 8, 'u16', [
  [EMPTY_REQ, mpReq('MultipartRequestEmpty', EMPTY_REQ, [])],
  [[OFPMP.FLOW, OFPMP.AGGREGATE], mpReq('MultipartRequestFlow', [OFPMP.FLOW, OFPMP.AGGREGATE], flowStatsRequestBody())],
  [OFPMP.PORT_STATS, mpReq('MultipartRequestPortStats', [OFPMP.PORT_STATS], [u32('portNo', { enum: 'port' }), pad(4)])],
  [OFPMP.QUEUE, mpReq('MultipartRequestQueue', [OFPMP.QUEUE], [u32('portNo', { enum: 'port' }), u32('queueId')])],
  [OFPMP.GROUP, mpReq('MultipartRequestGroup', [OFPMP.GROUP], [u32('groupId', { enum: 'group' }), pad(4)])],
  [[OFPMP.METER, OFPMP.METER_CONFIG], mpReq('MultipartRequestMeter', [OFPMP.METER, OFPMP.METER_CONFIG], [u32('meterId', { enum: 'meter' }), pad(4)])],
  [OFPMP.TABLE_FEATURES, mpReq('MultipartRequestTableFeatures', [OFPMP.TABLE_FEATURES], [list('tables', 'TableFeatures')])],
  [OFPMP.EXPERIMENTER, mpReq('MultipartRequestExperimenter', [OFPMP.EXPERIMENTER], [u32('experimenter'), u32('expType'), bytes('data')])],
], BAD_MULTIPART, BAD_LEN);

dispatch('MultipartReply', 'mpType', 8, 'u16', [
  [OFPMP.DESC, mpRep('MultipartReplyDesc', [OFPMP.DESC], [
    str('mfrDesc', 256), str('hwDesc', 256), str('swDesc', 256), str('serialNum', 32), str('dpDesc', 256),
  ])],
  [OFPMP.FLOW, mpRep('MultipartReplyFlow', [OFPMP.FLOW], [list('stats', 'FlowStats')])],
  [OFPMP.AGGREGATE, mpRep('MultipartReplyAggregate', [OFPMP.AGGREGATE], [u64('packetCount'), u64('byteCount'), u32('flowCount'), pad(4)])],
  [OFPMP.TABLE, mpRep('MultipartReplyTable', [OFPMP.TABLE], [list('stats', 'TableStats')])],
  [OFPMP.PORT_STATS, mpRep('MultipartReplyPortStats', [OFPMP.PORT_STATS], [list('stats', 'PortStats')])],
  [OFPMP.QUEUE, mpRep('MultipartReplyQueue', [OFPMP.QUEUE], [list('stats', 'QueueStats')])],
  [OFPMP.GROUP, mpRep('MultipartReplyGroup', [OFPMP.GROUP], [list('stats', 'GroupStats')])],
  [OFPMP.GROUP_DESC, mpRep('MultipartReplyGroupDesc', [OFPMP.GROUP_DESC], [list('stats', 'GroupDesc')])],
  [OFPMP.GROUP_FEATURES, mpRep('MultipartReplyGroupFeatures', [OFPMP.GROUP_FEATURES], [
    u32('types'), u32('capabilities', { enum: 'groupCapabilities' }), scalars('maxGroups', 'u32', 4), scalars('actions', 'u32', 4),
  ])],
  [OFPMP.METER, mpRep('MultipartReplyMeter', [OFPMP.METER], [list('stats', 'MeterStats')])],
  [OFPMP.METER_CONFIG, mpRep('MultipartReplyMeterConfig', [OFPMP.METER_CONFIG], [list('stats', 'MeterConfig')])],
  [OFPMP.METER_FEATURES, mpRep('MultipartReplyMeterFeatures', [OFPMP.METER_FEATURES], [
    u32('maxMeter'), u32('bandTypes'), u32('capabilities', { enum: 'meterFlags' }), u8('maxBands'), u8('maxColor'), pad(2),
  ])],
  [OFPMP.TABLE_FEATURES, mpRep('MultipartReplyTableFeatures', [OFPMP.TABLE_FEATURES], [list('tables', 'TableFeatures')])],
  [OFPMP.PORT_DESC, mpRep('MultipartReplyPortDesc', [OFPMP.PORT_DESC], [list('ports', 'Port')])],
  [OFPMP.EXPERIMENTER, mpRep('MultipartReplyExperimenter', [OFPMP.EXPERIMENTER], [u32('experimenter'), u32('expType'), bytes('data')])],
], BAD_MULTIPART, BAD_LEN);

const experimenterMsg = msg('ExperimenterMsg', [OFPT.EXPERIMENTER], [u32('experimenter'), u32('expType'), bytes('data')]);
const onfHeader = (expType: number): Field[] => [
  ...header([OFPT.EXPERIMENTER]), konst('experimenter', 'u32', [ONF_EXPERIMENTER_ID]), konst('expType', 'u32', [expType]),
];

dispatch('OnfMessage', 'expType', 12, 'u32', [
  [ONF_ET.BUNDLE_CONTROL, def('BundleCtrl', BAD_LEN, [
    ...onfHeader(ONF_ET.BUNDLE_CONTROL), u32('bundleId'), u16('ctrlType', { enum: 'bundleCtrl' }),
    u16('flags', { enum: 'bundleFlags' }), list('properties', 'BundleProp'),
  ], 'exact')],
  [ONF_ET.BUNDLE_ADD_MESSAGE, def('BundleAdd', BAD_LEN, [
    ...onfHeader(ONF_ET.BUNDLE_ADD_MESSAGE), u32('bundleId'), pad(2), u16('flags', { enum: 'bundleFlags' }),
    message('message'), list('properties', 'BundleProp'),
  ], 'exact')],
], experimenterMsg, BAD_LEN);

dispatch('Experimenter', 'experimenter', 8, 'u32', [[ONF_EXPERIMENTER_ID, 'OnfMessage']], experimenterMsg, BAD_LEN);

dispatch('ErrorMessage', 'errType', 8, 'u16', [
  [OFPET.EXPERIMENTER, msg('ErrorExperimenterMsg', [OFPT.ERROR], [
    konst('errType', 'u16', [OFPET.EXPERIMENTER], 'errorType'), u16('expCode'), u32('experimenter'), bytes('data'),
  ])],
], msg('ErrorMsg', [OFPT.ERROR], [u16('errType', { enum: 'errorType' }), u16('code'), bytes('data')]), BAD_LEN);

const EMPTY = [OFPT.FEATURES_REQUEST, OFPT.GET_CONFIG_REQUEST, OFPT.BARRIER_REQUEST, OFPT.BARRIER_REPLY, OFPT.GET_ASYNC_REQUEST];
const asyncMasks = (): Field[] => [scalars('packetInMask', 'u32', 2), scalars('portStatusMask', 'u32', 2), scalars('flowRemovedMask', 'u32', 2)];

dispatch('Message', 'type', 1, 'u8', [
  [OFPT.HELLO, msg('Hello', [OFPT.HELLO], [list('elements', 'HelloElem')])],
  [OFPT.ERROR, 'ErrorMessage'],
  [[OFPT.ECHO_REQUEST, OFPT.ECHO_REPLY], msg('Echo', [OFPT.ECHO_REQUEST, OFPT.ECHO_REPLY], [bytes('data')])],
  [OFPT.EXPERIMENTER, 'Experimenter'],
  [EMPTY, msg('EmptyMessage', EMPTY, [])],
  [OFPT.FEATURES_REPLY, msg('FeaturesReply', [OFPT.FEATURES_REPLY], [
    u64('datapathId'), u32('nBuffers'), u8('nTables'), u8('auxiliaryId'), pad(2),
    u32('capabilities', { enum: 'capabilities' }), u32('reserved'),
  ])],
  [[OFPT.GET_CONFIG_REPLY, OFPT.SET_CONFIG], msg('SwitchConfig', [OFPT.GET_CONFIG_REPLY, OFPT.SET_CONFIG], [
    u16('flags', { enum: 'configFlags' }), u16('missSendLen'),
  ])],
  [OFPT.PACKET_IN, msg('PacketIn', [OFPT.PACKET_IN], [
    u32('bufferId'), u16('totalLen'), u8('reason', { enum: 'packetInReason' }), u8('tableId'), u64('cookie'),
    match(), pad(2), bytes('data'),
  ])],
  [OFPT.FLOW_REMOVED, msg('FlowRemoved', [OFPT.FLOW_REMOVED], [
    u64('cookie'), u16('priority'), u8('reason', { enum: 'flowRemovedReason' }), u8('tableId'), u32('durationSec'),
    u32('durationNsec'), u16('idleTimeout'), u16('hardTimeout'), u64('packetCount'), u64('byteCount'), match(),
  ])],
  [OFPT.PORT_STATUS, msg('PortStatus', [OFPT.PORT_STATUS], [u8('reason', { enum: 'portReason' }), pad(7), struct('desc', 'Port')])],
  [OFPT.PACKET_OUT, msg('PacketOut', [OFPT.PACKET_OUT], [
    u32('bufferId'), u32('inPort', { enum: 'port' }), lenOf('actionsLen', 'actions'), pad(6),
    list('actions', 'Action', 'actionsLen'), bytes('data'),
  ])],
  [OFPT.FLOW_MOD, msg('FlowMod', [OFPT.FLOW_MOD], [
    u64('cookie'), u64('cookieMask'), u8('tableId', { enum: 'table' }), u8('command', { enum: 'flowModCommand' }),
    u16('idleTimeout'), u16('hardTimeout'), u16('priority'), u32('bufferId'), u32('outPort', { enum: 'port' }),
    u32('outGroup', { enum: 'group' }), u16('flags', { enum: 'flowModFlags' }), pad(2), match(),
    list('instructions', 'Instruction'),
  ])],
  [OFPT.GROUP_MOD, msg('GroupMod', [OFPT.GROUP_MOD], [
    u16('command', { enum: 'groupModCommand' }), u8('groupType', { enum: 'groupType' }), pad(1),
    u32('groupId', { enum: 'group' }), list('buckets', 'Bucket'),
  ])],
  [OFPT.PORT_MOD, msg('PortMod', [OFPT.PORT_MOD], [
    u32('portNo', { enum: 'port' }), pad(4), mac('hwAddr'), pad(2), u32('config', { enum: 'portConfig' }),
    u32('mask', { enum: 'portConfig' }), u32('advertise', { enum: 'portFeatures' }), pad(4),
  ])],
  [OFPT.TABLE_MOD, msg('TableMod', [OFPT.TABLE_MOD], [u8('tableId', { enum: 'table' }), pad(3), u32('config')])],
  [OFPT.MULTIPART_REQUEST, 'MultipartRequest'],
  [OFPT.MULTIPART_REPLY, 'MultipartReply'],
  [OFPT.QUEUE_GET_CONFIG_REQUEST, msg('QueueGetConfigRequest', [OFPT.QUEUE_GET_CONFIG_REQUEST], [u32('port', { enum: 'port' }), pad(4)])],
  [OFPT.QUEUE_GET_CONFIG_REPLY, msg('QueueGetConfigReply', [OFPT.QUEUE_GET_CONFIG_REPLY], [
    u32('port', { enum: 'port' }), pad(4), list('queues', 'PacketQueue'),
  ])],
  [[OFPT.ROLE_REQUEST, OFPT.ROLE_REPLY], msg('Role', [OFPT.ROLE_REQUEST, OFPT.ROLE_REPLY], [
    u32('role', { enum: 'role' }), pad(4), u64('generationId'),
  ])],
  [[OFPT.GET_ASYNC_REPLY, OFPT.SET_ASYNC], msg('AsyncConfig', [OFPT.GET_ASYNC_REPLY, OFPT.SET_ASYNC], asyncMasks())],
  [OFPT.METER_MOD, msg('MeterMod', [OFPT.METER_MOD], [
    u16('command', { enum: 'meterModCommand' }), u16('flags', { enum: 'meterFlags' }), u32('meterId', { enum: 'meter' }),
    list('bands', 'MeterBand'),
  ])],
], E.BAD_REQUEST!.BAD_TYPE!, BAD_LEN);

/** Every node of the description, by name. */
export const NODES: ReadonlyMap<string, NodeDef> = new Map(nodes.map((n) => [n.name, n]));
