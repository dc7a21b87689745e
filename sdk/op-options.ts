/** The per-operation options and the events of `PandaClient` (client.ts): its public contract. */
import type { KvError } from '../shared/errors.js';
import type { Durability } from '../shared/protocol/frames.js';
import type { ClusterMap } from '../shared/cluster-map.js';
import type { MapDiff } from '../shared/map-tracker.js';
import type { FallbackReason } from './dispatcher.js';

/** Per-operation options. */
export interface OpOptions {
  /** Deadline of this operation in ms. */
  timeoutMs?: number;
}

export interface ReadOptions extends OpOptions {
  /** Read from a replica instead of the active node. */
  replica?: boolean;
}

export interface WriteOptions extends OpOptions {
  /** Seconds to live: ≤ 30 days is relative, larger is a unix time; 0 = forever. */
  ttl?: number;
  /** 32-bit client flags stored with the item. */
  flags?: number;
  /** Only write when the item's cas still equals this. */
  cas?: bigint;
  durability?: Durability;
}

export interface CounterOptions extends OpOptions {
  /**
   * When the key does not exist, create it holding exactly this value (the delta is not
   * applied, as memcached's binary protocol and Couchbase counters do) and return it.
   * Without it a missing key fails with NOT_FOUND. When the key exists it is ignored.
   */
  initial?: bigint | number;
  ttl?: number;
  durability?: Durability;
}

/** An item with its metadata. */
export interface Item<V> {
  value: V;
  cas: bigint;
  flags: number;
}

export interface ClientEvents {
  /** A newer map was adopted; `diff` says what changed. */
  map: (map: ClusterMap, diff: MapDiff) => void;
  'node-down': (address: string, err: KvError | null) => void;
  'node-up': (address: string) => void;
  /** Requests started going through the proxy (`reason`), or came back to direct routing (null). */
  fallback: (reason: FallbackReason | null) => void;
  /** The client has a map and can serve requests: after `connect()`, and again after each reconnection. */
  ready: () => void;
  /** The map subscription dropped; the client is reconnecting (requests go on with the last map). */
  reconnecting: () => void;
  /** The client was closed (`close()` or `destroy()`); emitted once. */
  close: () => void;
  /** The map subscription was lost (UNAVAILABLE), or the manager refused the client. */
  error: (err: KvError) => void;
}
