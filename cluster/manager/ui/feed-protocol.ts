/**
 * Messages of the dashboard's live feed (`ws://manager/ui/live`), JSON text frames.
 * Shared by the manager (cluster/manager/dashboard/) and the page (ui/web/): types only.
 */
import type { ClusterMap, NodeState } from '../../../shared/cluster-map.js';
import type { NodeLoadReport } from '../../../shared/map-protocol.js';

/** Page → manager. */
export type FeedClientMessage =
  /** The bearer token from `POST /api/auth` (a secure manager waits for it first). */
  | { t: 'auth'; token: string }
  /**
   * Report the copies' seqnos of this unit with every tick; null stops. With `key` (the
   * key in that unit, 1 to 250 bytes of UTF-8), also each copy's value size for it, to a
   * principal with the `read` or `admin` role (a size tells whether the key exists).
   */
  | { t: 'follow'; unit: number | null; key?: string };

/** One cluster event, as the manager's event log records it. */
export interface FeedEvent {
  at: number;
  name: string;
  component: string;
  id?: string;
  fields: Record<string, string | number | boolean | null>;
}

/** A node as the dashboard shows it. */
export interface FeedNode {
  id: string;
  address: string;
  zone: string;
  weight: number;
  state: NodeState;
  isLive: boolean;
  /** Rev of the map the node last reported applying. */
  appliedRev: number | null;
  /** Units it is backfilling now (null: it does not replicate). */
  backfilling: number | null;
  /** Bytes it copied by backfill since it started. */
  copiedBytes: number;
  /**
   * Its last load report (null: none yet), with when it arrived and when a report last
   * said it was fenced (absent: never since the manager started).
   */
  load: (NodeLoadReport & { at: number; fencedAt?: number }) | null;
  /** Requests per second between its last two load reports; null until there are two. */
  opsPerSec: number | null;
}

/** The rebalance as the admin API's `GET /api/rebalance` reports it. */
export interface FeedRebalance {
  rev: number;
  applied: number;
  total: number;
  isDone: boolean;
  isRestoreHeld: boolean;
  moves: {
    isMoving: boolean;
    isStopped: boolean;
    unitsMoved: number;
    unitsLeft: number;
    batches: number;
    bytesCopied: number;
    lastWarning: string | null;
  };
}

/** What a copy's node last reported of the followed key's value. */
export interface FeedValueSize {
  /** Bytes of the value; null: this copy holds no value for the key. */
  bytes: number | null;
  /** When the heartbeat that reported it arrived, ms since the epoch. */
  at: number;
}

/**
 * Seqno of each copy of a followed unit, by node id (null: the node reported none), and
 * when a key is followed, the size of its value in each copy (null: no report yet).
 */
export interface FeedFollow {
  unit: number;
  /** The key whose sizes are reported; null when none was asked or the principal may not see sizes. */
  key: string | null;
  copies: Array<{ id: string; seqno: number | null; value: FeedValueSize | null }>;
}

/** Manager → page. */
export type FeedServerMessage =
  /** First message. `isAuthNeeded`: send `auth` before anything else arrives. */
  | { t: 'hello'; isSecure: boolean; isAuthNeeded: boolean; manager: string }
  /** Authenticated (or an insecure manager): the principal's roles. */
  | { t: 'ready'; principal: string | null; roles: string[] }
  /** The whole current map, on connect and on every change. */
  | { t: 'map'; map: ClusterMap }
  /** Recent events on connect (oldest first), then each new batch. */
  | { t: 'events'; events: FeedEvent[]; isInitial: boolean }
  /** Every push interval: nodes, rebalance, and the followed unit. */
  | { t: 'tick'; at: number; isLeader: boolean; nodes: FeedNode[]; rebalance: FeedRebalance; follow: FeedFollow | null }
  | { t: 'err'; code: string; message: string };
