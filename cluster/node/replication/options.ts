/** Options of the replicator, its backfill and its hinted handoff; every delay and limit, so tests shrink them. */
export interface ReplicationOptions {
  /** Longest a `majority` write waits for replica acks before answering TIMEOUT. @default 2000 */
  majorityTimeoutMs: number;
  /** Items per backfill page. @default 256 */
  backfillPageItems: number;
  /** Keys examined per backfill page request. @default 16384 */
  backfillPageBudget: number;
  /**
   * After each backfill page, wait this many times as long as the page took before the
   * next (0 = copy flat out). @default 1
   */
  backfillPace: number;
  /**
   * Most bytes (keys and values) per second this node copies in by backfill, all sources
   * together; the next page waits until the last one is paid for. 0 = no limit. A move
   * then takes longer, and client requests on the source and here keep their share of
   * the cores and the network. @default 0
   */
  backfillBytesPerSec: number;
  /** Bytes of recent records kept for delta recovery, all units together. @default 33554432 */
  changeLogBytes: number;
  /** Most bytes of records one delta answer carries; units beyond it are copied in full. @default 4194304 */
  maxDeltaBytes: number;
  /** Hints per replay request. @default 512 */
  hintReplayBatch: number;
  /** Retry replaying held hints this often while any are left, ms. @default 1000 */
  hintRetryMs: number;
  /**
   * Bytes of records sent to a replica and not yet acknowledged that are kept per peer,
   * to be hinted if its link goes down; beyond that they are not kept (the replica
   * backfills the gap). @default 16777216
   */
  maxUnackedBytesPerPeer: number;
  /**
   * Longest a node that becomes a unit's active holds it for its previous active's
   * handover (takeover.ts) when it serves under no lease; under one, the lease term.
   * @default 5000
   */
  handoverWaitMs: number;
  /** Retry schedule (ms, jittered) of a backfill that failed (link not up, source busy). @default [50, 100, 200, 400, 800, 1600, 2000] */
  backfillRetryBackoffMs: number[];
}

export const REPLICATION_DEFAULTS: Readonly<ReplicationOptions> = Object.freeze({
  majorityTimeoutMs: 2000,
  backfillPageItems: 256,
  backfillPageBudget: 16_384,
  backfillPace: 1,
  backfillBytesPerSec: 0,
  changeLogBytes: 32 * 1024 * 1024,
  maxDeltaBytes: 4 * 1024 * 1024,
  hintReplayBatch: 512,
  hintRetryMs: 1000,
  maxUnackedBytesPerPeer: 16 * 1024 * 1024,
  handoverWaitMs: 5000,
  backfillRetryBackoffMs: [50, 100, 200, 400, 800, 1600, 2000],
});

/** Options of the hint store (hint-store.ts). */
export interface HintStoreOptions {
  /** Hints older than this are dropped. @default 10800000 (3 h) */
  ttlMs: number;
  /** Bytes of live hints held at most; further hints are refused. @default 67108864 */
  maxBytes: number;
  /** Largest single hint (frame) accepted. @default 2097152 */
  maxHintBytes: number;
  /** Rewrite the log once garbage is over this and over the live bytes. @default 1048576 */
  compactAfterBytes: number;
  nowMs: () => number;
}

export const HINT_STORE_DEFAULTS: Readonly<HintStoreOptions> = Object.freeze({
  ttlMs: 3 * 60 * 60 * 1000,
  maxBytes: 64 * 1024 * 1024,
  maxHintBytes: 2 * 1024 * 1024,
  compactAfterBytes: 1024 * 1024,
  nowMs: Date.now,
});
