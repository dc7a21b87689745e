/**
 * What the dashboard needs from the manager: a narrow host, so the dashboard is tested
 * without a whole manager and imports none of its parts.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { ClusterMap } from '../../../shared/cluster-map.js';
import type { NodeLoadReport } from '../../../shared/map-protocol.js';
import type { NodeRecord } from '../node-record.js';
import type { FeedEvent, FeedRebalance } from '../ui/feed-protocol.js';

/** The manager's event log, as far as the timeline reads it. */
export interface DashboardEventSource {
  recent(limit?: number): FeedEvent[];
  on(event: 'event', listener: (e: FeedEvent) => void): unknown;
  off(event: 'event', listener: (e: FeedEvent) => void): unknown;
}

/** Who may watch: checks a bearer token of the admin API. */
export interface DashboardAuth {
  /** @throws KvError AUTH_NEEDED, FORBIDDEN */
  authorizeToken(token: string, role: 'admin' | 'monitor'): { name: string; roles: readonly string[] };
}

export interface DashboardHost {
  /** The manager's own address (for the page's header). */
  readonly address: string;
  readonly map: ClusterMap | null;
  readonly records: ReadonlyMap<string, NodeRecord>;
  readonly live: ReadonlySet<string>;
  readonly appliedRev: ReadonlyMap<string, number>;
  readonly replication: ReadonlyMap<string, { backfilling: number; seqnos: Record<number, number>; copiedBytes: number }>;
  readonly load: ReadonlyMap<string, NodeLoadReport & { at: number; fencedAt?: number }>;
  readonly isLeader: boolean;
  progress(): FeedRebalance;
  /** Calls `listener` with each new map; returns the way to stop. */
  onMap(listener: (map: ClusterMap) => void): () => void;
  /** null: no timeline (the manager keeps no event log). */
  readonly events: DashboardEventSource | null;
  /**
   * The value sizes nodes report for the keys pages follow (see node-reports.ts);
   * absent: sizes are not shown.
   */
  readonly keySizes?: DashboardKeySizes;
  /** null: an `--insecure` manager (no login). */
  readonly auth: DashboardAuth | null;
  /**
   * The listener's connection limits: a feed's socket is handed over once upgraded, and
   * again once its token is accepted (it is then no longer held to the pre-auth deadline).
   */
  readonly connections: DashboardConnections | null;
}

/** Followed keys and the value sizes each copy reported for them. */
export interface DashboardKeySizes {
  /** `watcher` follows `key` (UTF-8 bytes); null stops. */
  watch(watcher: object, key: Uint8Array | null): void;
  sizesOf(key: Uint8Array): ReadonlyMap<string, { bytes: number | null; at: number }> | undefined;
}

/** The listener's connection guard, as far as the feed's sockets concern it. */
export interface DashboardConnections {
  upgraded(socket: Duplex, ws: WebSocket): void;
  authenticated(socket: Duplex): void;
}
