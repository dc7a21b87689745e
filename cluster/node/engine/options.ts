/** Options of the data node's memory engine. Every limit is here so tests can shrink it. */
export interface MemoryEngineOptions {
  /**
   * Memory budget in MiB: the accounted bytes of all items (see `itemOverheadBytes`)
   * never exceed it.
   * @default 100
   */
  memorySizeMb: number;
  /**
   * Evict least recently used items to make room for a write. false behaves like
   * memcached `-M`: a write beyond the budget fails with OUT_OF_MEMORY and nothing
   * already stored is lost.
   * @default true
   */
  isEvictionEnabled: boolean;
  /** Longest key in bytes; at most 255. @default 250 */
  maxKeyBytes: number;
  /** Longest value in bytes, at most 2^30; longer writes get TOO_LARGE. @default 1048576 */
  maxValueBytes: number;
  /** Wall clock in milliseconds, used for TTLs. Tests inject a fake one. @default Date.now */
  nowMs: () => number;
  /**
   * Bookkeeping bytes charged to every item on top of its slab chunk. The default is
   * what an item really costs outside its chunk, measured at 1 M items: a 32-byte
   * metadata record, a 4-byte hash chain link plus about 4 bytes of hash buckets, and
   * about 14.5 bytes of B+tree on the JS heap (55 in all, rounded up).
   * @default 56
   */
  itemOverheadBytes: number;
}

export const MEMORY_ENGINE_DEFAULTS: Readonly<MemoryEngineOptions> = Object.freeze({
  memorySizeMb: 100,
  isEvictionEnabled: true,
  maxKeyBytes: 250,
  maxValueBytes: 1024 * 1024,
  nowMs: Date.now,
  itemOverheadBytes: 56,
});
