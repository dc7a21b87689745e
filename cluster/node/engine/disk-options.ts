/** Options of the data node's disk engine (lmdb). Every delay and limit is here so tests can shrink it. */
export interface DiskEngineOptions {
  /** Directory of the lmdb environment (created if missing). */
  path: string;
  /**
   * Id of the node that owns the files: a data dir of another node is refused. null binds
   * later (`bindNode`), once the node knows its id. @default null
   */
  nodeId: string | null;
  /** Read cache in front of the disk, MiB. @default 100 */
  memorySizeMb: number;
  /** Longest a write waits before its commit starts, ms (0: the next turn). @default 5 */
  commitIntervalMs: number;
  /** Longest key in bytes; at most 255. @default 250 */
  maxKeyBytes: number;
  /** Longest value in bytes; longer writes get TOO_LARGE. @default 1048576 */
  maxValueBytes: number;
  /**
   * Bytes of writes not yet committed beyond which writes get BUSY (the disk is slower
   * than the writers). @default 67108864
   */
  maxPendingBytes: number;
  /**
   * Largest the data file may grow, bytes (0: as far as the disk allows). Past it writes
   * fail with NO_SPACE exactly as on a full disk. @default 0
   */
  maxDiskBytes: number;
  /**
   * A commit that writers wait on (`persist`) runs on the event loop itself, fsync
   * included, instead of on lmdb's writer thread: no hand-off between threads, so the
   * waiters get their answers a turn sooner. Only while such commits take at most this
   * long (a moving average), so a slow disk never stalls reads for longer; 0: never.
   * @default 4
   */
  inlineCommitMaxMs: number;
  /** Batches of more writes than this always commit on the writer thread. @default 1024 */
  inlineCommitMaxWrites: number;
  /**
   * Bytes of unit history (seqno, fingerprint and key of recent records) kept on disk so a
   * node back from a crash can roll back by delta; older commits' history is deleted.
   * @default 4194304
   */
  historyMaxBytes: number;
  /** After a failed commit (disk full), try again this often, ms. @default 250 */
  commitRetryMs: number;
  /** Start a pass that reclaims expired items this often, ms (0: never). @default 60000 */
  expirySweepIntervalMs: number;
  /** Keys examined per slice of that pass (one slice per event-loop turn). @default 2048 */
  expirySweepSliceKeys: number;
  /** Wall clock in milliseconds, used for TTLs. Tests inject a fake one. @default Date.now */
  nowMs: () => number;
}

export const DISK_ENGINE_DEFAULTS: Readonly<Omit<DiskEngineOptions, 'path'>> = Object.freeze({
  nodeId: null,
  memorySizeMb: 100,
  commitIntervalMs: 5,
  maxKeyBytes: 250,
  maxValueBytes: 1024 * 1024,
  maxPendingBytes: 64 * 1024 * 1024,
  maxDiskBytes: 0,
  inlineCommitMaxMs: 4,
  inlineCommitMaxWrites: 1024,
  historyMaxBytes: 4 * 1024 * 1024,
  commitRetryMs: 250,
  expirySweepIntervalMs: 60_000,
  expirySweepSliceKeys: 2048,
  nowMs: Date.now,
});
