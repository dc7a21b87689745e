/** PandaKV's pure core: `import { bucketOf } from 'pandakv/shared'`. No sockets, no servers. */
export { bucketOf, bucketOfBig, bucketOfBinary, keystream, MAX_BUCKET_BITS } from './keystream.js';
export { xxh64 } from './xxh64.js';
export { Status, statusName, isStatusCode } from './status.js';
export type { StatusCode, StatusName } from './status.js';
export { KvError, ErrorCode, errorFromStatus, statusFromError } from './errors.js';
export type { KvErrorCode, KvErrorDetails } from './errors.js';
export { Op, opName, isKeyedOp, isMutation, isIdempotent } from './protocol/ops.js';
export type { OpCode, OpName } from './protocol/ops.js';
export { PROTOCOL_DEFAULTS } from './protocol/limits.js';
export type { ProtocolLimits } from './protocol/limits.js';
export { encodeMessage, decodeRequests, decodeResponses } from './protocol/codec.js';
export type { Request, Response, Durability } from './protocol/frames.js';
export { chainOf, findRun, unitOf, isNewer, activeRanges, staticMap } from './cluster-map.js';
export type { ClusterMap, MapNode, NodeState, UnitMove } from './cluster-map.js';
export { encodeMap, decodeMap, diffMaps, applyDelta, encodeDelta, decodeDelta } from './map-codec.js';
export type { MapDelta } from './map-codec.js';
export { MapTracker, diffSummary } from './map-tracker.js';
export type { MapDiff } from './map-tracker.js';
export {
  keyCredentials, passwordCredentials, parseCredentials, formatCredentials, loadCredentials, writeCredentials, generateKeyPair,
  PASSWORD_LIMITS_INTERACTIVE, PASSWORD_LIMITS_MIN,
} from './auth/index.js';
export type { Credentials, KeyCredentials, PasswordCredentials, KeyPair, PasswordLimits, Principal, Role } from './auth/index.js';
