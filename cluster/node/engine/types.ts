import type { StatusCode } from '../../../shared/status.js';

/** A stored item as `get` returns it. */
export interface Item {
  /** A copy the caller owns. */
  readonly value: Uint8Array;
  readonly flags: number;
  readonly cas: number;
}

/** Outcome of a write; `cas` is 0 unless the write stored something. */
export interface StoreResult {
  readonly status: StatusCode;
  readonly cas: number;
}

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
}
