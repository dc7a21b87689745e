/** The PandaKV SDK: `import { connect } from 'pandakv'`. */
export { connect } from './connect.js';
export { PandaClient } from './client.js';
export type { ClientEvents, Item, OpOptions, ReadOptions, WriteOptions, CounterOptions } from './client.js';
export type { ClientOptions } from './options.js';
export { CLIENT_DEFAULTS } from './options.js';
export type { ScanEntry, ScanOptions } from './scan.js';
export type { RouteInfo } from './router.js';
export { StaticMapSource } from './map-source.js';
export { ManagerMapSource } from './manager-map-source.js';
export type { ManagerMapSourceOptions } from './manager-map-source.js';
export type { MapDiff } from '../shared/map-tracker.js';
export type { MapSource, MapSourceEvents } from './map-source.js';
export { bytesCodec, utf8Codec, jsonCodec } from './value-codec.js';
export type { ValueCodec } from './value-codec.js';
export { KvError, ErrorCode } from '../shared/errors.js';
export type { KvErrorCode, KvErrorDetails } from '../shared/errors.js';
export type { ClusterMap, MapNode } from '../shared/cluster-map.js';
export type { Durability } from '../shared/protocol/frames.js';
