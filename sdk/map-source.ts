import { EventEmitter } from 'eventemitter3';
import { staticMap, type ClusterMap } from '../shared/cluster-map.js';

export interface MapSourceEvents {
  /** A newer map was adopted. */
  map: (map: ClusterMap, previous: ClusterMap | null) => void;
  /** The subscription connected (true) or dropped (false). */
  status: (isConnected: boolean) => void;
  error: (err: Error) => void;
  /** The manager's principal list (sent to admin principals only; the proxy uses it). */
  principals: (list: unknown[]) => void;
}

/**
 * Where the client's cluster map comes from. Pluggable: a fixed list of nodes today,
 * the manager's live subscription when there is one.
 */
export interface MapSource extends EventEmitter<MapSourceEvents> {
  /** The newest map, or null before the first one arrived. */
  current(): ClusterMap | null;
  /** Resolve with a map no older than `minEpoch`, or reject at the deadline. */
  refresh(minEpoch: number, deadlineMs: number): Promise<ClusterMap>;
  /** Resolve once a first map is known. */
  ready(deadlineMs: number): Promise<ClusterMap>;
  close(): void;
}

/** A map that never changes: the nodes split the buckets evenly, or a map given whole. */
export class StaticMapSource extends EventEmitter<MapSourceEvents> implements MapSource {
  private readonly map: ClusterMap;

  /** Shard over `addresses` (client-side sharding), or serve a given map as it is. */
  constructor(addresses: readonly string[] | ClusterMap, bits = 24) {
    super();
    this.map = Array.isArray(addresses) ? staticMap(addresses, bits) : (addresses as ClusterMap);
  }

  current(): ClusterMap {
    return this.map;
  }

  refresh(): Promise<ClusterMap> {
    return Promise.resolve(this.map);
  }

  ready(): Promise<ClusterMap> {
    return Promise.resolve(this.map);
  }

  close(): void {
    this.removeAllListeners();
  }
}
