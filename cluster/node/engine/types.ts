import type { StatusCode } from '../../../shared/status.js';
import type { HistoryEntry } from './unit-history.js';

/** A stored item as `get` returns it. */
export interface Item {
  /** The memory engine hands out a copy; the disk engine a buffer it shares: never write into it. */
  readonly value: Uint8Array;
  readonly flags: number;
  readonly cas: number;
}

/** Outcome of a write; `cas` is 0 unless the write stored something. */
export interface StoreResult {
  readonly status: StatusCode;
  readonly cas: number;
  /**
   * After an OK SET, ADD or REPLACE: the absolute expiry stored (unix seconds, 0 = never),
   * or `WRITE_LEFT_NO_ITEM` when the expiry was already past. Absent when the engine does
   * not say (then whoever needs the item reads it back).
   */
  readonly expAt?: number;
}

/** `StoreResult.expAt` of a store whose expiry had already passed: no item is left. */
export const WRITE_LEFT_NO_ITEM = -1;

/** Outcome of incr/decr: the new value when `status` is OK. */
export interface CounterResult {
  readonly status: StatusCode;
  readonly value: bigint;
  readonly cas: number;
}

export interface ScanEntry {
  readonly key: string;
  readonly value: Uint8Array;
  readonly flags: number;
  readonly cas: number;
}

export interface ScanResult {
  readonly entries: ScanEntry[];
  /** First key not returned, to resume from (inclusive); null when the range is done. */
  readonly nextKey: string | null;
}

/** Engine counters, flat so they can be merged into the node's STATS answer. */
export interface EngineStats {
  /** Items held, including expired ones not reclaimed yet. */
  items: number;
  /** Accounted bytes: per item its chunk plus `itemOverheadBytes`. */
  bytes: number;
  limitBytes: number;
  /** Live items dropped to make room. */
  evictions: number;
  /** Expired items reclaimed (on access, by the eviction walk, by a scan). */
  expired: number;
  hits: number;
  misses: number;
  /** Successful writes (every new CAS). */
  writes: number;
  /** Writes refused with OUT_OF_MEMORY. */
  outOfMemory: number;
  /** Slab pages held (including a few empty ones kept for reuse). */
  slabPages: number;
  slabBytes: number;
  /** Items too large for a slab class, each in a buffer of its own. */
  largeItems: number;
  largeBytes: number;
  /** Chunks moved by slab compaction, and pages it released. */
  relocations: number;
  pagesReleased: number;
  /** Disk engine only: bytes of the data file, items and bytes in the read cache, commits. */
  diskBytes?: number;
  cacheItems?: number;
  cacheBytes?: number;
  commits?: number;
  commitFailures?: number;
  /** Disk engine only: time from the start of each commit to its fsync'd end, summed, ms. */
  commitMs?: number;
  /** Disk engine only: commits run on the event loop because writers waited on them. */
  inlineCommits?: number;
  /** Disk engine only: 1 while writes are refused for lack of space. */
  noSpace?: number;
}

/** A stored item with its absolute expiry (unix seconds, 0 = never): what replication copies. */
export type StoredItem = Item & { readonly expAt: number };

/** A page of items in key order, as backfill and snapshots read them. */
export interface ItemPage {
  readonly items: Array<{ key: string } & StoredItem>;
  /** Where to continue (exclusive), null at the end. */
  readonly next: string | null;
}

/**
 * Bucket bits of the disk engine's bucket index (`KvEngine.bucketKeys`). A unit of a map
 * with `unitBits` ≤ 16 is one contiguous range of it, whatever the map's `bits`.
 */
export const INDEX_BUCKET_BITS = 16;

/** A unit's position in its history: its seqno and the fingerprint of its record there. */
export type UnitMark = [unit: number, seq: number, print: string | null];

/**
 * What the disk engine asks of replication when it commits: each unit's seqno now, and
 * the fingerprint of the unit's record at a seqno. Written in the same commit as the data.
 */
export interface UnitMarkSource {
  unitSeqs(): ReadonlyMap<number, number>;
  printAt(unit: number, seq: number): string | null;
  /**
   * The unit's records after `since` up to `to` (its seqno now): seqno, fingerprint and
   * key of each, for the history on disk; null when the change log no longer holds them all.
   */
  historySince(unit: number, since: number, to: number): Array<[seq: number, print: string, key: Uint8Array]> | null;
}

/**
 * The engine contract the node runs on: `MemoryEngine` (memcached semantics, in memory)
 * and `DiskEngine` (the same semantics on lmdb). Keys are binary strings (char codes
 * 0..255 are the bytes), so string order is byte order. Everything but `whenDurable` and
 * `close` is synchronous.
 */
export interface KvEngine {
  readonly kind: 'memory' | 'disk';
  /** True when writes survive a crash once `whenDurable` resolves. */
  readonly isDurable: boolean;
  /** True when `bucketKeys` reads a bucket index (the disk engine); false when it answers null. */
  readonly hasBucketIndex: boolean;
  /** Items held, including expired ones not reclaimed yet. */
  readonly size: number;
  get(key: string): Item | null;
  peek(key: string): StoredItem | null;
  getAndTouch(key: string, exptime: number): Item | null;
  touch(key: string, exptime: number): StatusCode;
  set(key: string, value: Uint8Array, flags: number, exptime: number, cas?: number): StoreResult;
  add(key: string, value: Uint8Array, flags: number, exptime: number): StoreResult;
  replace(key: string, value: Uint8Array, flags: number, exptime: number, cas?: number): StoreResult;
  append(key: string, value: Uint8Array, cas?: number): StoreResult;
  prepend(key: string, value: Uint8Array, cas?: number): StoreResult;
  delete(key: string, cas?: number): StatusCode;
  incr(key: string, delta: bigint, initial?: bigint, exptime?: number): CounterResult;
  decr(key: string, delta: bigint, initial?: bigint, exptime?: number): CounterResult;
  scan(start: string, end: string | null, limit: number): ScanResult;
  page(after: string | null, limit: number, budget: number, accept: (key: string) => boolean): ItemPage;
  scanKeys(start: string, limit: number): { keys: string[]; nextKey: string | null };
  /**
   * The keys of buckets `[lo, hi)` at INDEX_BUCKET_BITS, a slice at a time, read from the
   * bucket index (keys written but not yet committed merged in): a unit's keys without a
   * walk over every key. `after` null starts a walk; otherwise it is the `next` the last
   * slice returned (null at the end). Expired keys are included. Null when the engine
   * keeps no such index (`hasBucketIndex`).
   */
  bucketKeys(lo: number, hi: number, after: string | null, limit: number): { keys: string[]; next: string | null } | null;
  /**
   * `page` for the keys of bucket ranges `ranges` (sorted, at INDEX_BUCKET_BITS) only, read
   * from the bucket index in its order: `after` and `next` are index positions, not keys.
   * Null without a bucket index.
   */
  bucketPage(ranges: ReadonlyArray<readonly [number, number]>, after: string | null, limit: number, budget: number): ItemPage | null;
  flush(): void;
  stats(): EngineStats;
  /**
   * Resolves once every write made so far is on disk (fsync'd); rejects with a KvError
   * (`KV_ERR_NO_SPACE`, `KV_ERR_INTERNAL`) when the commit that holds them failed. The
   * memory engine rejects with `KV_ERR_DURABILITY_IMPOSSIBLE`. `isUrgent` (default): a
   * caller waits on it, so the commit starts now; false: the commit comes on its usual
   * schedule (`--commit-interval-ms`).
   */
  whenDurable(isUrgent?: boolean): Promise<void>;
  /** Unit seqnos as last committed with the data (empty for the memory engine). */
  unitMarks(): UnitMark[];
  /**
   * Each unit's recent history as last committed with the data, whole up to its mark
   * (unit-history.ts): the first entry is the point it starts from. Empty for the memory engine.
   */
  unitHistories(): ReadonlyMap<number, HistoryEntry[]>;
  /** Where `whenDurable` commits take unit seqnos from (ignored by the memory engine). */
  setUnitMarkSource(source: UnitMarkSource | null): void;
  /** Commit what is pending and release the store. Idempotent. */
  close(): Promise<void>;
}
