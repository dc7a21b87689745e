import BTreeModule from 'sorted-btree';
import { Status, type StatusCode } from '../../../shared/status.js';
import { NOT_A_COUNTER, decrement, increment, isU64, parseCounter } from './counter-codec.js';
import { ALREADY_EXPIRED, absoluteExpiry, isExpiredAt, toSeconds } from './expiry.js';
import { HashIndex } from './hash-index.js';
import { ItemTable, PROBE_END, PROBE_START } from './item-table.js';
import { hashKey } from './key-hash.js';
import { LruList } from './lru-list.js';
import { MEMORY_ENGINE_DEFAULTS, type MemoryEngineOptions } from './options.js';
import { NO_CHUNK, SlabAllocator, offsetOf, pageIdOf } from './slab-allocator.js';
import type { CounterResult, EngineStats, Item, ScanEntry, ScanResult, StoreResult } from './types.js';

const BTree = BTreeModule.default;
type SlotTree = InstanceType<typeof BTree<number, undefined>>;

const INITIAL_SLOTS = 1024;
// Leaves of 64 keys: measured as the smallest tree for random inserts.
const TREE_NODE_KEYS = 64;
// Without eviction, a write that does not fit still reclaims expired items near the
// LRU tail, but looks at no more than this many live ones.
const NO_EVICT_SCAN_ITEMS = 64;
const MAX_KEY_LIMIT = 255;

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

function isFlags(flags: number): boolean {
  return Number.isInteger(flags) && flags >= 0 && flags <= 0xffffffff;
}

/**
 * The data node's memory engine, with memcached semantics: TTLs, CAS, counters,
 * append/prepend, LRU eviction inside a byte budget. Synchronous and free of I/O.
 *
 * Keys are binary strings (char codes 0..255 are the bytes), so string order is byte
 * order. Values live in slab pages, item metadata in typed arrays indexed by slot id,
 * a hash index finds a key's slot and a B+tree of slot ids keeps key order for scans.
 * See docs/engine.md.
 */
export class MemoryEngine {
  readonly options: Readonly<MemoryEngineOptions>;
  private readonly limitBytes: number;
  private readonly overheadBytes: number;
  private readonly slabs = new SlabAllocator();
  private readonly items: ItemTable;
  private readonly index: HashIndex;
  private readonly lru: LruList;
  private readonly order: SlotTree;
  private bytes = 0;
  private casSeq = 0;
  private evictions = 0;
  private expired = 0;
  private hits = 0;
  private misses = 0;
  private writes = 0;
  private outOfMemory = 0;

  constructor(options: Partial<MemoryEngineOptions> = {}) {
    const opts = { ...MEMORY_ENGINE_DEFAULTS, ...options };
    if (!(opts.memorySizeMb > 0)) throw new RangeError('memorySizeMb must be positive');
    if (!Number.isInteger(opts.maxKeyBytes) || opts.maxKeyBytes < 1 || opts.maxKeyBytes > MAX_KEY_LIMIT) {
      throw new RangeError(`maxKeyBytes must be an integer in 1..${MAX_KEY_LIMIT}`);
    }
    if (!Number.isInteger(opts.maxValueBytes) || opts.maxValueBytes < 0) {
      throw new RangeError('maxValueBytes must be a non-negative integer');
    }
    if (!Number.isInteger(opts.itemOverheadBytes) || opts.itemOverheadBytes < 0) {
      throw new RangeError('itemOverheadBytes must be a non-negative integer');
    }
    this.options = Object.freeze(opts);
    this.limitBytes = Math.floor(opts.memorySizeMb * 1024 * 1024);
    this.overheadBytes = opts.itemOverheadBytes;
    this.items = new ItemTable(this.slabs, INITIAL_SLOTS);
    this.index = new HashIndex(this.items, INITIAL_SLOTS);
    this.lru = new LruList(INITIAL_SLOTS);
    const items = this.items;
    this.order = new BTree<number, undefined>(undefined, (a, b) => items.compare(a, b), TREE_NODE_KEYS);
  }

  /** Items held, including expired ones not reclaimed yet. */
  get size(): number {
    return this.items.count;
  }

  /** The item, or null when missing, expired or the key is invalid. Refreshes recency. */
  get(key: string): Item | null {
    const slot = this.lookup(key, this.keyHash(key));
    if (slot < 0) {
      this.misses++;
      return null;
    }
    this.hits++;
    this.lru.moveToFront(slot);
    const items = this.items;
    return { value: items.valueOf(slot), flags: items.flags[slot]!, cas: items.cas[slot]! };
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
    const items = this.items;
    const item = { value: items.valueOf(slot), flags: items.flags[slot]!, cas: items.cas[slot]! };
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
    return this.store(Mode.Set, key, value, flags, exptime, cas);
  }

  /** Store only if the key is absent (else NOT_STORED). */
  add(key: string, value: Uint8Array, flags: number, exptime: number): StoreResult {
    return this.store(Mode.Add, key, value, flags, exptime, undefined);
  }

  /** Store only if the key is present (else NOT_STORED). */
  replace(key: string, value: Uint8Array, flags: number, exptime: number, cas?: number): StoreResult {
    return this.store(Mode.Replace, key, value, flags, exptime, cas);
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
    if (cas !== undefined && cas !== 0 && this.items.cas[slot] !== cas) return Status.EXISTS;
    this.remove(slot, h);
    this.settle();
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
    const items = this.items;
    items.setProbe(PROBE_START, start);
    if (end !== null) {
      items.setProbe(PROBE_END, end);
      if (items.compare(PROBE_START, PROBE_END) >= 0) return { entries: [], nextKey: null };
    }
    const now = this.nowS();
    const entries: ScanEntry[] = [];
    const expired: number[] = [];
    let nextKey: string | null = null;
    // The tree must not change while iterating: expired slots are reclaimed afterwards.
    for (const slot of this.order.keys(PROBE_START)) {
      if (end !== null && items.compare(slot, PROBE_END) >= 0) break;
      if (isExpiredAt(items.expAt[slot]!, now)) {
        expired.push(slot);
        continue;
      }
      if (entries.length >= limit) {
        nextKey = items.keyOf(slot);
        break;
      }
      entries.push({ key: items.keyOf(slot), value: items.valueOf(slot), flags: items.flags[slot]!, cas: items.cas[slot]! });
    }
    for (const slot of expired) {
      this.remove(slot, items.hashOf(slot));
      this.expired++;
    }
    this.settle();
    return { entries, nextKey };
  }

  /** Drop every item (memcached flush_all). Counters are kept. */
  flush(): void {
    this.order.clear();
    this.index.clear();
    this.lru.clear();
    this.items.clear();
    this.slabs.reset();
    this.bytes = 0;
  }

  stats(): EngineStats {
    const slab = this.slabs.stats();
    return {
      items: this.items.count,
      bytes: this.bytes,
      limitBytes: this.limitBytes,
      evictions: this.evictions,
      expired: this.expired,
      hits: this.hits,
      misses: this.misses,
      writes: this.writes,
      outOfMemory: this.outOfMemory,
      slabPages: slab.slabPages,
      slabBytes: slab.slabBytes,
      largeItems: slab.largeChunks,
      largeBytes: slab.largeBytes,
      relocations: slab.relocations,
      pagesReleased: slab.pagesReleased,
    };
  }

  private store(mode: Mode, key: string, value: Uint8Array, flags: number, exptime: number, cas: number | undefined): StoreResult {
    const h = this.keyHash(key);
    if (h < 0 || !isFlags(flags) || !Number.isFinite(exptime)) return BAD_REQUEST;
    if (value.length > this.options.maxValueBytes) return TOO_LARGE;
    const now = this.nowS();
    const slot = this.lookup(key, h, now);
    if (slot >= 0 ? mode === Mode.Add : mode === Mode.Replace) return NOT_STORED;
    if (cas !== undefined && cas !== 0) {
      if (slot < 0) return NOT_FOUND;
      if (this.items.cas[slot] !== cas) return EXISTS;
    }
    const expAt = absoluteExpiry(exptime, now);
    if (expAt === ALREADY_EXPIRED) return this.storeExpired(slot, h);
    const addr = this.reserve(slot, key.length, value.length);
    if (addr < 0) return this.refuse();
    this.items.writeKey(addr, key);
    this.slabs.pages[pageIdOf(addr)]!.set(value, offsetOf(addr) + 1 + key.length);
    return { status: Status.OK, cas: this.commit(slot, h, addr, value.length, flags, expAt) };
  }

  private concat(key: string, data: Uint8Array, cas: number | undefined, isAppend: boolean): StoreResult {
    const h = this.keyHash(key);
    if (h < 0) return BAD_REQUEST;
    const max = this.options.maxValueBytes;
    if (data.length > max) return TOO_LARGE;
    const slot = this.lookup(key, h);
    if (slot < 0) return NOT_STORED;
    const items = this.items;
    if (cas !== undefined && cas !== 0 && items.cas[slot] !== cas) return EXISTS;
    const oldLen = items.valueLen[slot]!;
    if (oldLen + data.length > max) return TOO_LARGE;
    const addr = this.reserve(slot, key.length, oldLen + data.length);
    if (addr < 0) return this.refuse();
    // Read the old chunk only now: making room may have changed other slots, never this.
    const from = items.loc[slot]!;
    const src = this.slabs.pages[pageIdOf(from)]!;
    const dst = this.slabs.pages[pageIdOf(addr)]!;
    const head = 1 + key.length;
    const srcValue = offsetOf(from) + head;
    const dstValue = offsetOf(addr) + head;
    dst.set(src.subarray(offsetOf(from), srcValue), offsetOf(addr));
    dst.set(src.subarray(srcValue, srcValue + oldLen), isAppend ? dstValue : dstValue + data.length);
    dst.set(data, isAppend ? dstValue + oldLen : dstValue);
    const newCas = this.commit(slot, h, addr, oldLen + data.length, items.flags[slot]!, items.expAt[slot]!);
    return { status: Status.OK, cas: newCas };
  }

  private count(key: string, delta: bigint, initial: bigint | undefined, exptime: number | undefined, isIncr: boolean): CounterResult {
    const h = this.keyHash(key);
    if (h < 0 || !isU64(delta) || (initial !== undefined && !isU64(initial))) return counterFail(Status.BAD_REQUEST);
    if (exptime !== undefined && !Number.isFinite(exptime)) return counterFail(Status.BAD_REQUEST);
    const now = this.nowS();
    const slot = this.lookup(key, h, now);
    const items = this.items;
    let value: bigint;
    let flags = 0;
    let expAt: number;
    if (slot < 0) {
      if (initial === undefined) return counterFail(Status.NOT_FOUND);
      value = initial;
      expAt = absoluteExpiry(exptime ?? 0, now);
      if (expAt === ALREADY_EXPIRED) return { status: Status.OK, value, cas: this.storeExpired(slot, h).cas };
    } else {
      const addr = items.loc[slot]!;
      const current = parseCounter(this.slabs.pages[pageIdOf(addr)]!, offsetOf(addr) + 1 + key.length, items.valueLen[slot]!);
      if (current === NOT_A_COUNTER) return counterFail(Status.BAD_REQUEST);
      value = isIncr ? increment(current, delta) : decrement(current, delta);
      flags = items.flags[slot]!;
      expAt = items.expAt[slot]!;
    }
    const digits = value.toString();
    const addr = this.reserve(slot, key.length, digits.length);
    if (addr < 0) return counterFail(this.refuse().status);
    items.writeKey(addr, key);
    const page = this.slabs.pages[pageIdOf(addr)]!;
    const at = offsetOf(addr) + 1 + key.length;
    for (let i = 0; i < digits.length; i++) page[at + i] = digits.charCodeAt(i);
    return { status: Status.OK, value, cas: this.commit(slot, h, addr, digits.length, flags, expAt) };
  }

  /** Hash of a valid key, or -1 for an empty, too long or non-binary one. */
  private keyHash(key: string): number {
    const n = key.length;
    return n === 0 || n > this.options.maxKeyBytes ? -1 : hashKey(key);
  }

  private nowS(): number {
    return toSeconds(this.options.nowMs());
  }

  /** Live slot of `key`, or -1; an expired item met here is reclaimed. */
  private lookup(key: string, h: number, now = -1): number {
    if (h < 0) return -1;
    const slot = this.index.find(key, h);
    if (slot < 0) return -1;
    const expAt = this.items.expAt[slot]!;
    if (expAt !== 0 && isExpiredAt(expAt, now < 0 ? this.nowS() : now)) {
      this.remove(slot, h);
      this.expired++;
      this.settle();
      return -1;
    }
    return slot;
  }

  private retime(slot: number, h: number, exptime: number): void {
    const expAt = absoluteExpiry(exptime, this.nowS());
    if (expAt === ALREADY_EXPIRED) {
      this.remove(slot, h);
      this.expired++;
      this.settle();
      return;
    }
    this.items.expAt[slot] = expAt;
    this.lru.moveToFront(slot);
  }

  /** A write whose exptime has already passed succeeds and leaves nothing behind. */
  private storeExpired(slot: number, h: number): StoreResult {
    if (slot >= 0) {
      this.remove(slot, h);
      this.settle();
    }
    this.writes++;
    return { status: Status.OK, cas: ++this.casSeq };
  }

  private refuse(): StoreResult {
    this.outOfMemory++;
    this.settle();
    return OUT_OF_MEMORY;
  }

  /**
   * Make room for `slot` (-1: a new item) to take a chunk for `keyBytes + valueBytes`
   * and allocate it. Returns the chunk address, or -1 when it does not fit. The slot's
   * current chunk stays valid until `commit`.
   */
  private reserve(slot: number, keyBytes: number, valueBytes: number): number {
    const need = 1 + keyBytes + valueBytes;
    const chunk = this.slabs.chunkBytesFor(need);
    if (chunk + this.overheadBytes > this.limitBytes) return -1;
    const delta = slot < 0 ? chunk + this.overheadBytes : chunk - this.slabs.chunkBytesAt(this.items.loc[slot]!);
    if (this.bytes + delta > this.limitBytes && !this.makeRoom(delta, slot)) return -1;
    const addr = this.slabs.alloc(need);
    return addr === NO_CHUNK ? -1 : addr;
  }

  /** Walk the LRU from the tail reclaiming expired items and, if enabled, evicting. */
  private makeRoom(delta: number, keep: number): boolean {
    const limit = this.limitBytes - delta;
    const now = this.nowS();
    const items = this.items;
    const isEvicting = this.options.isEvictionEnabled;
    let live = 0;
    let s = this.lru.tail;
    while (s >= 0 && this.bytes > limit) {
      const prev = this.lru.prev[s]!;
      if (s !== keep) {
        if (isExpiredAt(items.expAt[s]!, now)) {
          this.remove(s, items.hashOf(s));
          this.expired++;
        } else if (isEvicting) {
          this.remove(s, items.hashOf(s));
          this.evictions++;
        } else if (++live >= NO_EVICT_SCAN_ITEMS) {
          break;
        }
      }
      s = prev;
    }
    return this.bytes <= limit;
  }

  /** Point `slot` (or a new slot for -1) at the written chunk `addr`; returns the CAS. */
  private commit(slot: number, h: number, addr: number, valueLen: number, flags: number, expAt: number): number {
    const items = this.items;
    const chunk = this.slabs.chunkBytesAt(addr);
    if (slot < 0) {
      if (items.isFull) this.growSlots();
      slot = items.allocSlot();
      items.loc[slot] = addr;
      this.index.insert(slot, h);
      this.order.set(slot, undefined);
      this.lru.pushFront(slot);
      this.bytes += chunk + this.overheadBytes;
    } else {
      const old = items.loc[slot]!;
      this.bytes += chunk - this.slabs.chunkBytesAt(old);
      items.loc[slot] = addr;
      this.slabs.free(old);
      this.lru.moveToFront(slot);
    }
    items.valueLen[slot] = valueLen;
    items.flags[slot] = flags;
    items.expAt[slot] = expAt;
    const cas = ++this.casSeq;
    items.cas[slot] = cas;
    this.writes++;
    this.settle();
    return cas;
  }

  /** Unlink and free a slot. Its chunk is read (tree delete) before it is freed. */
  private remove(slot: number, h: number): void {
    const items = this.items;
    const addr = items.loc[slot]!;
    this.index.remove(slot, h);
    this.order.delete(slot);
    this.lru.remove(slot);
    this.bytes -= this.slabs.chunkBytesAt(addr) + this.overheadBytes;
    this.slabs.free(addr);
    items.freeSlot(slot);
  }

  private growSlots(): void {
    const capacity = this.items.capacity * 2;
    this.items.grow(capacity);
    this.index.resizeSlots(capacity);
    this.lru.resize(capacity);
  }

  /** Let the allocator compact now that every live chunk is reachable from its slot. */
  private settle(): void {
    this.slabs.compact(this.onRelocate);
  }

  private readonly onRelocate = (from: number, to: number): void => {
    const slot = this.index.findByAddress(this.items.hashAt(to), from);
    if (slot >= 0) this.items.loc[slot] = to;
  };
}
