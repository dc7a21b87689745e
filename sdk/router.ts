import { Buffer } from 'node:buffer';
import { bucketOf } from '../shared/keystream.js';
import { findRun, unitOf, type ClusterMap } from '../shared/cluster-map.js';
import { KvError } from '../shared/errors.js';

/** Where a key goes, as `route(key)` explains it. */
export interface RouteInfo {
  bucket: number;
  unit: number;
  /** Node addresses of the chain, active first. */
  chain: string[];
  /** Node ids of the chain, active first. */
  chainIds: string[];
  epoch: number;
  rev: number;
  /** True when the key's unit is being moved. */
  isMoving: boolean;
}

/** Byte length of a key, with an ASCII fast path. */
export function keyByteLength(key: string | Uint8Array): number {
  if (typeof key !== 'string') return key.length;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) > 0x7f) return Buffer.byteLength(key, 'utf8');
  return key.length;
}

/** Throw INVALID_ARGUMENT unless `key` is a non-empty string/bytes within the limit. */
export function checkKey(key: unknown, maxKeyBytes: number): asserts key is string | Uint8Array {
  if (typeof key !== 'string' && !(key instanceof Uint8Array)) throw KvError.invalidArgument('key must be a string or a Uint8Array');
  const n = keyByteLength(key);
  if (n === 0) throw KvError.invalidArgument('key must not be empty');
  if (n > maxKeyBytes) throw KvError.invalidArgument(`key of ${n} bytes exceeds ${maxKeyBytes}`);
}

/** Routes keys with one map; rebuilt whenever the map changes. */
export class Router {
  readonly map: ClusterMap;
  private readonly isSingleRun: boolean;

  constructor(map: ClusterMap) {
    this.map = map;
    this.isSingleRun = map.runStarts.length === 1;
  }

  /** Address of the active node for `key`, or null when the chain has no live active. */
  activeAddress(key: string | Uint8Array): string | null {
    const map = this.map;
    const run = this.isSingleRun ? 0 : findRun(map, bucketOf(key, map.bits));
    const node = map.nodes[map.chains[map.runChains[run]!]![0]!];
    return node === undefined || node.state === 'failed' ? null : node.address;
  }

  /** Addresses of the replicas (not the active) for `key`. */
  replicaAddresses(key: string | Uint8Array): string[] {
    const map = this.map;
    const chain = map.chains[map.runChains[findRun(map, bucketOf(key, map.bits))]!]!;
    return chain.slice(1).map((i) => map.nodes[i]).filter((n) => n !== undefined && n.state !== 'failed').map((n) => n!.address);
  }

  explain(key: string | Uint8Array): RouteInfo {
    const map = this.map;
    const bucket = bucketOf(key, map.bits);
    const unit = unitOf(map, bucket);
    const chain = map.chains[map.runChains[findRun(map, bucket)]!]!;
    return {
      bucket,
      unit,
      chain: chain.map((i) => map.nodes[i]!.address),
      chainIds: chain.map((i) => map.nodes[i]!.id),
      epoch: map.epoch,
      rev: map.rev,
      isMoving: map.moves.some((m) => m.unit === unit),
    };
  }

  /** Addresses of every node that is active for some bucket. */
  activeNodes(): string[] {
    const map = this.map;
    const seen = new Set<number>();
    for (const c of map.runChains) seen.add(map.chains[c]![0]!);
    return [...seen].sort((a, b) => a - b).map((i) => map.nodes[i]!.address);
  }
}
