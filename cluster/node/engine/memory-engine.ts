import { Status, type StatusCode } from '../../../shared/status.js';
import { NOT_A_COUNTER, decrement, increment, isU64, parseCounter } from './counter-codec.js';
import { ALREADY_EXPIRED, absoluteExpiry, isExpiredAt, toSeconds } from './expiry.js';
import { PROBE_END, PROBE_START } from './item-table.js';
import { ItemStore } from './item-store.js';
import { MEMORY_ENGINE_DEFAULTS, type MemoryEngineOptions } from './options.js';
import { WRITE_LEFT_NO_ITEM, type CounterResult, type EngineStats, type Item, type ItemPage, type KvEngine, type ScanEntry, type ScanResult, type StoreResult, type UnitMark } from './types.js';
import type { HistoryEntry } from './unit-history.js';
import { KvError } from '../../../shared/errors.js';

const MAX_KEY_LIMIT = 255;
const MAX_VALUE_LIMIT = 2 ** 30;

const enum Mode {
  Set,
  Add,
  Replace,
}

function fail(status: StatusCode): StoreResult {
  return Object.freeze({ status, cas: 0 });
}
const BAD_REQUEST = fail(Status.BAD_REQUEST);
const TOO_LARGE = fail(Status.TOO_LARGE);
const NOT_STORED = fail(Status.NOT_STORED);
const NOT_FOUND = fail(Status.NOT_FOUND);
const EXISTS = fail(Status.EXISTS);
const OUT_OF_MEMORY = fail(Status.OUT_OF_MEMORY);

function counterFail(status: StatusCode): CounterResult {
  return Object.freeze({ status, value: 0n, cas: 0 });
}
const COUNTER_BAD_REQUEST = counterFail(Status.BAD_REQUEST);
const COUNTER_NOT_FOUND = counterFail(Status.NOT_FOUND);
const COUNTER_OUT_OF_MEMORY = counterFail(Status.OUT_OF_MEMORY);

function isFlags(flags: number): boolean {
  return Number.isInteger(flags) && flags >= 0 && flags <= 0xffffffff;
}

/**
 * The data node's memory engine, with memcached semantics: TTLs, CAS, counters,
 * append/prepend, LRU eviction inside a byte budget. Synchronous and free of I/O.
 *
 * Keys are binary strings (char codes 0..255 are the bytes), so string order is byte
 * order. Values live in slab pages, item metadata in typed-array records indexed by
 * slot id, a hash index finds a key's slot and a B+tree of slot ids keeps key order for
 * scans (all in `ItemStore`). See docs/engine.md.
 */
export class MemoryEngine implements KvEngine {
  readonly kind = 'memory' as const;
  readonly isDurable = false;
  readonly hasBucketIndex = false;
  readonly options: Readonly<MemoryEngineOptions>;
  private readonly limitBytes: number;
  private readonly store: ItemStore;
  private hits = 0;
  private misses = 0;
  private outOfMemory = 0;

  constructor(options: Partial<MemoryEngineOptions> = {}) {
    const opts = { ...MEMORY_ENGINE_DEFAULTS, ...options };
    if (!(opts.memorySizeMb > 0)) throw new RangeError('memorySizeMb must be positive');
    if (!Number.isInteger(opts.maxKeyBytes) || opts.maxKeyBytes < 1 || opts.maxKeyBytes > MAX_KEY_LIMIT) {
      throw new RangeError(`maxKeyBytes must be an integer in 1..${MAX_KEY_LIMIT}`);
    }
    if (!Number.isInteger(opts.maxValueBytes) || opts.maxValueBytes < 0 || opts.maxValueBytes > MAX_VALUE_LIMIT) {
      throw new RangeError(`maxValueBytes must be an integer in 0..${MAX_VALUE_LIMIT}`);
    }
    if (!Number.isInteger(opts.itemOverheadBytes) || opts.itemOverheadBytes < 0) {
      throw new RangeError('itemOverheadBytes must be a non-negative integer');
    }
    this.options = Object.freeze(opts);
    this.limitBytes = Math.floor(opts.memorySizeMb * 1024 * 1024);
    this.store = new ItemStore({
      limitBytes: this.limitBytes,
      overheadBytes: opts.itemOverheadBytes,
      isEvictionEnabled: opts.isEvictionEnabled,
      nowS: () => this.nowS(),
    });
  }

  /** Items held, including expired ones not reclaimed yet. */
  get size(): number {
    return this.store.items.count;
  }

  /** The item, or null when missing, expired or the key is invalid. Refreshes recency. */
  get(key: string): Item | null {
    const slot = this.lookup(key, this.keyHash(key));
    if (slot < 0) {
      this.misses++;
      return null;
    }
    this.hits++;
    this.store.lru.moveToFront(slot);
    const items = this.store.items;
    return { value: items.valueOf(slot), flags: items.flags(slot), cas: items.cas(slot) };
  }

  /**
   * The item as stored, with its absolute expiry (unix seconds, 0 = never), without
   * counting a hit or touching recency: what replication copies after a write.
   */
  peek(key: string): (Item & { expAt: number }) | null {
    const slot = this.lookup(key, this.keyHash(key));
    if (slot < 0) return null;
    const items = this.store.items;
    return { value: items.valueOf(slot), flags: items.flags(slot), cas: items.cas(slot), expAt: items.expAt(slot) };
  }

  /** `get` that also sets a new exptime (a negative one returns the item, then drops it). */
  getAndTouch(key: string, exptime: number): Item | null {
    const h = this.keyHash(key);
    const slot = Number.isFinite(exptime) ? this.lookup(key, h) : -1;
    if (slot < 0) {
      this.misses++;
      return null;
    }
    this.hits++;
    const items = this.store.items;
    const item = { value: items.valueOf(slot), flags: items.flags(slot), cas: items.cas(slot) };
    this.retime(slot, h, exptime);
    return item;
  }

  /** Set a new exptime: OK, NOT_FOUND, or BAD_REQUEST for a bad key or exptime. */
  touch(key: string, exptime: number): StatusCode {
    const h = this.keyHash(key);
    if (h < 0 || !Number.isFinite(exptime)) return Status.BAD_REQUEST;
    const slot = this.lookup(key, h);
    if (slot < 0) return Status.NOT_FOUND;
    this.retime(slot, h, exptime);
    return Status.OK;
  }

  /** Store unconditionally, or compare-and-swap when `cas` is given and non-zero. */
  set(key: string, value: Uint8Array, flags: number, exptime: number, cas?: number): StoreResult {
    return this.write(Mode.Set, key, value, flags, exptime, cas);
  }

  /** Store only if the key is absent (else NOT_STORED). */
  add(key: string, value: Uint8Array, flags: number, exptime: number): StoreResult {
    return this.write(Mode.Add, key, value, flags, exptime, undefined);
  }

  /** Store only if the key is present (else NOT_STORED). */
  replace(key: string, value: Uint8Array, flags: number, exptime: number, cas?: number): StoreResult {
    return this.write(Mode.Replace, key, value, flags, exptime, cas);
  }

  /** Add bytes after the value, keeping flags and exptime (NOT_STORED if absent). */
  append(key: string, value: Uint8Array, cas?: number): StoreResult {
    return this.concat(key, value, cas, true);
  }

  /** Add bytes before the value, keeping flags and exptime (NOT_STORED if absent). */
  prepend(key: string, value: Uint8Array, cas?: number): StoreResult {
    return this.concat(key, value, cas, false);
  }

  /** OK, NOT_FOUND, EXISTS when `cas` is given and differs, BAD_REQUEST for a bad key. */
  delete(key: string, cas?: number): StatusCode {
    const h = this.keyHash(key);
    if (h < 0) return Status.BAD_REQUEST;
    const slot = this.lookup(key, h);
    if (slot < 0) return Status.NOT_FOUND;
    if (cas !== undefined && cas !== 0 && this.store.items.cas(slot) !== cas) return Status.EXISTS;
    this.store.remove(slot, h);
    this.store.settle();
    return Status.OK;
  }

  /** Add `delta`, wrapping at 2^64. A missing key is created with `initial` if given. */
  incr(key: string, delta: bigint, initial?: bigint, exptime?: number): CounterResult {
    return this.count(key, delta, initial, exptime, true);
  }

  /** Subtract `delta`, never below 0. A missing key is created with `initial` if given. */
  decr(key: string, delta: bigint, initial?: bigint, exptime?: number): CounterResult {
    return this.count(key, delta, initial, exptime, false);
  }

  /**
   * Up to `limit` live items with keys in `[start, end)` in byte order (`end` null: to
   * the last key). Expired items met on the way are skipped and reclaimed.
   */
  scan(start: string, end: string | null, limit: number): ScanResult {
    const { items, order } = this.store;
    items.setProbe(PROBE_START, start);
    if (end !== null) {
      items.setProbe(PROBE_END, end);
      if (items.compare(PROBE_START, PROBE_END) >= 0) return { entries: [], nextKey: null };
    }
    const max = limit > 0 ? Math.floor(limit) : 0;
    const now = this.nowS();
    const entries: ScanEntry[] = [];
    const expired: number[] = [];
    let nextKey: string | null = null;
    // The tree must not change while iterating: expired slots are reclaimed afterwards.
    for (const slot of order.keys(PROBE_START)) {
      if (end !== null && items.compare(slot, PROBE_END) >= 0) break;
      if (isExpiredAt(items.expAt(slot), now)) {
        expired.push(slot);
        continue;
      }
      if (entries.length >= max) {
        nextKey = items.keyOf(slot);
        break;
      }
      entries.push({
        key: items.keyOf(slot),
        value: items.valueOf(slot),
        flags: items.flags(slot),
        cas: items.cas(slot),
      });
    }
    for (const slot of expired) this.store.reclaimExpired(slot, items.hashOf(slot));
    this.store.settle();
    return { entries, nextKey };
  }

  /**
   * Up to `limit` live items after `after` (exclusive; null = from the start) in key
   * order whose key passes `accept`, looking at no more than `budget` keys: a page of a
   * backfill. `next` is where to continue, null at the end.
   */
  page(after: string | null, limit: number, budget: number, accept: (key: string) => boolean): ItemPage {
    const { items, order } = this.store;
    items.setProbe(PROBE_START, after === null ? '' : after + '\0');
    const now = this.nowS();
    const out: Array<{ key: string } & Item & { expAt: number }> = [];
    let seen = 0;
    // Only accepted items have their value copied: a page may look at thousands of keys.
    for (const slot of order.keys(PROBE_START)) {
      const expAt = items.expAt(slot);
      if (isExpiredAt(expAt, now)) continue;
      const key = items.keyOf(slot);
      seen++;
      if (accept(key)) {
        out.push({ key, value: items.valueOf(slot), flags: items.flags(slot), cas: items.cas(slot), expAt });
        if (out.length >= limit) return { items: out, next: key };
      }
      if (seen >= budget) return { items: out, next: key };
    }
    return { items: out, next: null };
  }

  /**
   * Up to `limit` keys of live items in `[start, …)` in byte order, without their values:
   * what a pass over every key (purging, clearing) needs. `nextKey` as in `scan`.
   */
  /** No bucket index here: whoever wants a unit's keys walks them all (`scanKeys`). */
  bucketKeys(): null {
    return null;
  }

  bucketPage(): null {
    return null;
  }

  scanKeys(start: string, limit: number): { keys: string[]; nextKey: string | null } {
    const { items, order } = this.store;
    items.setProbe(PROBE_START, start);
    const now = this.nowS();
    const keys: string[] = [];
    for (const slot of order.keys(PROBE_START)) {
      if (isExpiredAt(items.expAt(slot), now)) continue;
      if (keys.length >= limit) return { keys, nextKey: items.keyOf(slot) };
      keys.push(items.keyOf(slot));
    }
    return { keys, nextKey: null };
  }

  /** Drop every item (memcached flush_all). Counters are kept. */
  flush(): void {
    this.store.clear();
  }

  /** Memory only: nothing is ever durable. */
  whenDurable(): Promise<void> {
    return Promise.reject(KvError.durabilityImpossible());
  }

  unitHistories(): ReadonlyMap<number, HistoryEntry[]> {
    return new Map();
  }

  unitMarks(): UnitMark[] {
    return [];
  }

  setUnitMarkSource(): void {}

  close(): Promise<void> {
    return Promise.resolve();
  }

  stats(): EngineStats {
    const store = this.store;
    const slab = store.slabs.stats();
    return {
      items: store.items.count,
      bytes: store.bytes,
      limitBytes: this.limitBytes,
      evictions: store.evictions,
      expired: store.expired,
      hits: this.hits,
      misses: this.misses,
      writes: store.lastCas,
      outOfMemory: this.outOfMemory,
      slabPages: slab.slabPages,
      slabBytes: slab.slabBytes,
      largeItems: slab.largeChunks,
      largeBytes: slab.largeBytes,
      relocations: slab.relocations,
      pagesReleased: slab.pagesReleased,
    };
  }

  private write(
    mode: Mode,
    key: string,
    value: Uint8Array,
    flags: number,
    exptime: number,
    cas: number | undefined,
  ): StoreResult {
    const h = this.keyHash(key);
    if (h < 0 || !isFlags(flags) || !Number.isFinite(exptime)) return BAD_REQUEST;
    if (value.length > this.options.maxValueBytes) return TOO_LARGE;
    const now = this.nowS();
    const store = this.store;
    const slot = this.lookup(key, h, now);
    if (slot >= 0 ? mode === Mode.Add : mode === Mode.Replace) return NOT_STORED;
    if (cas !== undefined && cas !== 0) {
      if (slot < 0) return NOT_FOUND;
      if (store.items.cas(slot) !== cas) return EXISTS;
    }
    const expAt = absoluteExpiry(exptime, now);
    if (expAt === ALREADY_EXPIRED) return { status: Status.OK, cas: this.writeExpired(slot, h).cas, expAt: WRITE_LEFT_NO_ITEM };
    const addr = store.reserve(slot, key.length, value.length);
    if (addr < 0) return this.refuse();
    store.items.writeKey(addr, key);
    store.pageOf(addr).set(value, store.valueOffset(addr, key.length));
    const stored = store.commit(slot, h, addr, value.length, flags, expAt);
    store.settle();
    // The expiry goes back with the outcome: replication copies the item without reading it back.
    return { status: Status.OK, cas: stored, expAt };
  }

  private concat(key: string, data: Uint8Array, cas: number | undefined, isAppend: boolean): StoreResult {
    const h = this.keyHash(key);
    if (h < 0) return BAD_REQUEST;
    const max = this.options.maxValueBytes;
    if (data.length > max) return TOO_LARGE;
    const slot = this.lookup(key, h);
    if (slot < 0) return NOT_STORED;
    const store = this.store;
    const items = store.items;
    if (cas !== undefined && cas !== 0 && items.cas(slot) !== cas) return EXISTS;
    const oldLen = items.valueLen(slot);
    if (oldLen + data.length > max) return TOO_LARGE;
    const addr = store.reserve(slot, key.length, oldLen + data.length);
    if (addr < 0) return this.refuse();
    // The slot's chunk is read only now: making room may move other items, never this.
    // It may also be the chunk written to (same size class); set() copies overlaps safely.
    const from = items.loc(slot);
    const src = store.pageOf(from);
    const dst = store.pageOf(addr);
    const srcValue = store.valueOffset(from, key.length);
    const dstValue = store.valueOffset(addr, key.length);
    items.writeKey(addr, key);
    dst.set(src.subarray(srcValue, srcValue + oldLen), isAppend ? dstValue : dstValue + data.length);
    dst.set(data, isAppend ? dstValue + oldLen : dstValue);
    return this.done(store.commit(slot, h, addr, oldLen + data.length, items.flags(slot), items.expAt(slot)));
  }

  private count(
    key: string,
    delta: bigint,
    initial: bigint | undefined,
    exptime: number | undefined,
    isIncr: boolean,
  ): CounterResult {
    const h = this.keyHash(key);
    if (h < 0 || !isU64(delta) || (initial !== undefined && !isU64(initial))) return COUNTER_BAD_REQUEST;
    if (exptime !== undefined && !Number.isFinite(exptime)) return COUNTER_BAD_REQUEST;
    const now = this.nowS();
    const store = this.store;
    const items = store.items;
    const slot = this.lookup(key, h, now);
    let value: bigint;
    let flags = 0;
    let expAt: number;
    if (slot < 0) {
      if (initial === undefined) return COUNTER_NOT_FOUND;
      value = initial;
      expAt = absoluteExpiry(exptime ?? 0, now);
      if (expAt === ALREADY_EXPIRED) return { status: Status.OK, value, cas: this.writeExpired(slot, h).cas };
    } else {
      const from = items.loc(slot);
      const current = parseCounter(store.pageOf(from), store.valueOffset(from, key.length), items.valueLen(slot));
      if (current === NOT_A_COUNTER) return COUNTER_BAD_REQUEST;
      value = isIncr ? increment(current, delta) : decrement(current, delta);
      flags = items.flags(slot);
      expAt = items.expAt(slot);
    }
    const digits = value.toString();
    const addr = store.reserve(slot, key.length, digits.length);
    if (addr < 0) {
      this.refuse();
      return COUNTER_OUT_OF_MEMORY;
    }
    items.writeKey(addr, key);
    const page = store.pageOf(addr);
    const at = store.valueOffset(addr, key.length);
    for (let i = 0; i < digits.length; i++) page[at + i] = digits.charCodeAt(i);
    return { status: Status.OK, value, cas: this.done(store.commit(slot, h, addr, digits.length, flags, expAt)).cas };
  }

  /** Hash of a valid key, or -1 for an empty, too long or non-binary one. */
  private keyHash(key: string): number {
    const n = key.length;
    return n === 0 || n > this.options.maxKeyBytes ? -1 : this.store.items.hashKey(key);
  }

  private nowS(): number {
    return toSeconds(this.options.nowMs());
  }

  /** Live slot of `key`, or -1; an expired item met here is reclaimed. */
  private lookup(key: string, h: number, now = -1): number {
    if (h < 0) return -1;
    const slot = this.store.find(key, h);
    if (slot < 0) return -1;
    const expAt = this.store.items.expAt(slot);
    if (expAt !== 0 && isExpiredAt(expAt, now < 0 ? this.nowS() : now)) {
      this.store.reclaimExpired(slot, h);
      this.store.settle();
      return -1;
    }
    return slot;
  }

  private retime(slot: number, h: number, exptime: number): void {
    const expAt = absoluteExpiry(exptime, this.nowS());
    if (expAt === ALREADY_EXPIRED) {
      this.store.reclaimExpired(slot, h);
      this.store.settle();
      return;
    }
    this.store.items.setExpAt(slot, expAt);
    this.store.lru.moveToFront(slot);
  }

  /** A write whose exptime has already passed succeeds and leaves nothing behind. */
  private writeExpired(slot: number, h: number): StoreResult {
    if (slot >= 0) this.store.remove(slot, h);
    return this.done(this.store.nextCas());
  }

  private done(cas: number): StoreResult {
    this.store.settle();
    return { status: Status.OK, cas };
  }

  private refuse(): StoreResult {
    this.outOfMemory++;
    this.store.settle();
    return OUT_OF_MEMORY;
  }
}
