import { Status, type StatusCode } from '../../../shared/status.js';
import { bucketOfBinary } from '../../../shared/keystream.js';
import { NOT_A_COUNTER, decrement, increment, isU64, parseCounter } from './counter-codec.js';
import { ALREADY_EXPIRED, absoluteExpiry, isExpiredAt, toSeconds } from './expiry.js';
import { DISK_ENGINE_DEFAULTS, type DiskEngineOptions } from './disk-options.js';
import { DiskStore } from './disk-store.js';
import { makeEntry } from './disk-record.js';
import { ReadCache, type DiskEntry } from './read-cache.js';
import { mergeRange } from './overlay-range.js';
import { UnitMarkLog } from './unit-mark-log.js';
import { rebuildHistories, type HistoryEntry } from './unit-history.js';
import { GroupCommit, type Refusal } from './group-commit.js';
import { ExpirySweeper } from './expiry-sweep.js';
import { walkBuckets, type BucketSource } from './bucket-walk.js';
import {
  INDEX_BUCKET_BITS, type CounterResult, type EngineStats, type Item, type ItemPage, type KvEngine, type ScanEntry, type ScanResult,
  type StoreResult, type StoredItem, type UnitMark, type UnitMarkSource,
} from './types.js';

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
const REFUSED: Readonly<Record<Refusal, StoreResult>> = Object.freeze({
  'no-space': fail(Status.NO_SPACE),
  io: fail(Status.INTERNAL),
  busy: fail(Status.BUSY),
});

function counterFail(status: StatusCode): CounterResult {
  return Object.freeze({ status, value: 0n, cas: 0 });
}

function isFlags(flags: number): boolean {
  return Number.isInteger(flags) && flags >= 0 && flags <= 0xffffffff;
}

/**
 * The data node's disk engine: the memory engine's semantics (TTL, CAS, counters,
 * append/prepend, ordered scans) on lmdb, for data that must survive a crash and may be
 * larger than memory.
 *
 * Writes go to the overlay of uncommitted writes and are answered at once; group commits
 * write them to lmdb, many writes per fsync (group-commit.ts). Reads look at the overlay,
 * then the read cache, then lmdb. `whenDurable()` resolves when the commit holding every
 * write made so far is on disk: the `persist` durability level.
 *
 * A commit that fails (disk full) leaves its writes pending; writes are refused with
 * NO_SPACE while the disk stays full, reads go on, and commits are retried until one
 * succeeds, after which writes are accepted again. See docs/engine.md.
 *
 * Beside it: which unit seqnos each commit writes (unit-mark-log.ts) and the background
 * expiry pass (expiry-sweep.ts).
 */
export class DiskEngine implements KvEngine {
  readonly kind = 'disk' as const;
  readonly isDurable = true;
  readonly hasBucketIndex = true;
  readonly options: Readonly<DiskEngineOptions>;
  private readonly store: DiskStore;
  private readonly cache: ReadCache;
  /** Writes not yet on disk, and the commits that write them. */
  private readonly overlay: GroupCommit;
  private lastCas: number;
  private itemCount: number;
  private readonly marks: UnitMarkLog;
  private readonly histories: ReadonlyMap<number, HistoryEntry[]>;
  private isClosed = false;
  private readonly sweeper: ExpirySweeper;
  private counters = { expired: 0, writes: 0 };

  /** @throws DiskFormatError when the data dir cannot be used (see DiskStore.open) */
  constructor(options: Partial<DiskEngineOptions> & Pick<DiskEngineOptions, 'path'>) {
    const opts = { ...DISK_ENGINE_DEFAULTS, ...options };
    if (!(opts.memorySizeMb > 0)) throw new RangeError('memorySizeMb must be positive');
    if (!Number.isInteger(opts.maxKeyBytes) || opts.maxKeyBytes < 1 || opts.maxKeyBytes > MAX_KEY_LIMIT) {
      throw new RangeError(`maxKeyBytes must be an integer in 1..${MAX_KEY_LIMIT}`);
    }
    if (!(opts.commitIntervalMs >= 0)) throw new RangeError('commitIntervalMs must be 0 or more');
    this.options = Object.freeze(opts);
    this.store = DiskStore.open(opts.path);
    if (opts.nodeId !== null) this.store.bindNode(opts.nodeId);
    this.cache = new ReadCache(Math.floor(opts.memorySizeMb * 1024 * 1024));
    this.lastCas = this.store.lastCas();
    this.itemCount = this.store.itemCount();
    this.store.historyMaxBytes = opts.historyMaxBytes;
    const marks = this.store.unitMarks();
    this.marks = new UnitMarkLog(marks);
    this.histories = rebuildHistories(this.store.loadHistory(), new Map(marks.map(([unit, seq]) => [unit, seq])));
    this.overlay = new GroupCommit(this.store, this.marks, this.options, {
      lastCas: () => this.lastCas,
      onBatchDurable: (items) => this.onBatchDurable(items),
    });
    const self = this;
    this.sweeper = new ExpirySweeper({
      get isClosed() { return self.isClosed; },
      range: (start) => this.range(start, null),
      nowS: () => this.nowS(),
      reclaim: (keys) => {
        if (this.refusal() !== null) return;
        for (const key of keys) {
          this.put(key, null, true);
          this.counters.expired++;
        }
      },
    }, opts.expirySweepSliceKeys, opts.expirySweepIntervalMs);
  }

  get size(): number {
    return this.itemCount;
  }

  /** The unit marks found on disk at open: where each unit's history stood at the last commit. */
  unitMarks(): UnitMark[] {
    return this.marks.loadedMarks();
  }

  /** Each unit's recent history found on disk at open (unit-history.ts). */
  unitHistories(): ReadonlyMap<number, HistoryEntry[]> {
    return this.histories;
  }

  /** The files belong to `nodeId`. @throws DiskFormatError when they are another node's */
  bindNode(nodeId: string): void {
    this.store.bindNode(nodeId);
  }

  setUnitMarkSource(source: UnitMarkSource | null): void {
    this.marks.setSource(source);
  }

  get(key: string): Item | null {
    const e = this.live(key);
    if (e === null) return null;
    return { value: e.value, flags: e.flags, cas: e.cas };
  }

  peek(key: string): StoredItem | null {
    if (!this.isKey(key)) return null;
    const e = this.read(key);
    if (e === null || isExpiredAt(e.expAt, this.nowS())) return null;
    return { value: e.value, flags: e.flags, cas: e.cas, expAt: e.expAt };
  }

  getAndTouch(key: string, exptime: number): Item | null {
    if (!Number.isFinite(exptime)) return null;
    const e = this.live(key);
    if (e === null) return null;
    if (this.refusal() === null) this.retime(key, e, exptime);
    return { value: e.value, flags: e.flags, cas: e.cas };
  }

  touch(key: string, exptime: number): StatusCode {
    if (!this.isKey(key) || !Number.isFinite(exptime)) return Status.BAD_REQUEST;
    const e = this.live(key);
    if (e === null) return Status.NOT_FOUND;
    const refused = this.refusal();
    if (refused !== null) return refused.status;
    this.retime(key, e, exptime);
    return Status.OK;
  }

  set(key: string, value: Uint8Array, flags: number, exptime: number, cas?: number): StoreResult {
    return this.write(Mode.Set, key, value, flags, exptime, cas);
  }

  add(key: string, value: Uint8Array, flags: number, exptime: number): StoreResult {
    return this.write(Mode.Add, key, value, flags, exptime, undefined);
  }

  replace(key: string, value: Uint8Array, flags: number, exptime: number, cas?: number): StoreResult {
    return this.write(Mode.Replace, key, value, flags, exptime, cas);
  }

  append(key: string, value: Uint8Array, cas?: number): StoreResult {
    return this.concat(key, value, cas, true);
  }

  prepend(key: string, value: Uint8Array, cas?: number): StoreResult {
    return this.concat(key, value, cas, false);
  }

  delete(key: string, cas?: number): StatusCode {
    if (!this.isKey(key)) return Status.BAD_REQUEST;
    const e = this.live(key);
    if (e === null) return Status.NOT_FOUND;
    if (cas !== undefined && cas !== 0 && e.cas !== cas) return Status.EXISTS;
    const refused = this.refusal();
    if (refused !== null) return refused.status;
    this.put(key, null, true);
    return Status.OK;
  }

  incr(key: string, delta: bigint, initial?: bigint, exptime?: number): CounterResult {
    return this.count(key, delta, initial, exptime, true);
  }

  decr(key: string, delta: bigint, initial?: bigint, exptime?: number): CounterResult {
    return this.count(key, delta, initial, exptime, false);
  }

  scan(start: string, end: string | null, limit: number): ScanResult {
    if (end !== null && start >= end) return { entries: [], nextKey: null };
    const max = limit > 0 ? Math.floor(limit) : 0;
    const now = this.nowS();
    const entries: ScanEntry[] = [];
    for (const [key, e] of this.range(start, end)) {
      if (isExpiredAt(e.expAt, now)) continue;
      if (entries.length >= max) return { entries, nextKey: key };
      entries.push({ key, value: e.value, flags: e.flags, cas: e.cas });
    }
    return { entries, nextKey: null };
  }

  page(after: string | null, limit: number, budget: number, accept: (key: string) => boolean): ItemPage {
    const now = this.nowS();
    const out: Array<{ key: string } & StoredItem> = [];
    let seen = 0;
    for (const [key, e] of this.range(after === null ? '' : `${after}\0`, null)) {
      if (isExpiredAt(e.expAt, now)) continue;
      seen++;
      if (accept(key)) {
        out.push({ key, value: e.value, flags: e.flags, cas: e.cas, expAt: e.expAt });
        if (out.length >= limit) return { items: out, next: key };
      }
      if (seen >= budget) return { items: out, next: key };
    }
    return { items: out, next: null };
  }

  scanKeys(start: string, limit: number): { keys: string[]; nextKey: string | null } {
    const now = this.nowS();
    const keys: string[] = [];
    for (const [key, e] of this.range(start, null)) {
      if (isExpiredAt(e.expAt, now)) continue;
      if (keys.length >= limit) return { keys, nextKey: key };
      keys.push(key);
    }
    return { keys, nextKey: null };
  }

  bucketKeys(lo: number, hi: number, after: string | null, limit: number): { keys: string[]; next: string | null } {
    const keys: string[] = [];
    const next = walkBuckets(this.bucketSource, [[lo, hi]], after, (key) => {
      keys.push(key);
      return keys.length < limit;
    });
    return { keys, next };
  }

  bucketPage(ranges: ReadonlyArray<readonly [number, number]>, after: string | null, limit: number, budget: number): ItemPage {
    const now = this.nowS();
    const items: Array<{ key: string } & StoredItem> = [];
    let seen = 0;
    const next = walkBuckets(this.bucketSource, ranges, after, (key) => {
      seen++;
      // Not through the read cache: a copy of cold units must not push the hot items out.
      const o = this.overlay.lookup(key);
      const e = o !== undefined ? o : this.cache.get(key) ?? this.store.get(key);
      if (e !== null && !isExpiredAt(e.expAt, now)) items.push({ key, value: e.value, flags: e.flags, cas: e.cas, expAt: e.expAt });
      return items.length < limit && seen < budget;
    });
    return { items, next };
  }

  /** What bucket walks read: the index on disk, and the keys written since the last commit. */
  private readonly bucketSource: BucketSource = {
    storePositions: (lo, hi, after, limit) => (this.overlay.layers().isStoreHidden ? [] : this.store.bucketPositions(lo, hi, after, limit)),
    pendingKeys: (lo, hi) => {
      const keys: string[] = [];
      for (const layer of this.overlay.layers().layers) {
        for (const [key, e] of layer) {
          if (e === null) continue;
          const bucket = bucketOfBinary(key, INDEX_BUCKET_BITS);
          if (bucket >= lo && bucket < hi) keys.push(key);
        }
      }
      return keys;
    },
  };

  /** Drop every item (memcached flush_all): hidden at once, cleared on disk by the next commit. */
  flush(): void {
    this.overlay.clear();
    this.cache.clear();
    this.itemCount = 0;
  }

  stats(): EngineStats {
    const commits = this.overlay.stats();
    return {
      items: this.itemCount,
      bytes: this.cache.bytes + commits.pendingBytes,
      limitBytes: Math.floor(this.options.memorySizeMb * 1024 * 1024),
      evictions: 0,
      expired: this.counters.expired,
      hits: this.cache.hits,
      misses: this.cache.misses,
      writes: this.counters.writes,
      outOfMemory: 0,
      slabPages: 0,
      slabBytes: 0,
      largeItems: 0,
      largeBytes: 0,
      relocations: 0,
      pagesReleased: 0,
      diskBytes: this.store.fileBytes(),
      cacheItems: this.cache.count,
      cacheBytes: this.cache.bytes,
      commits: commits.commits,
      commitFailures: commits.commitFailures,
      commitMs: Math.round(commits.commitMs),
      inlineCommits: commits.inlineCommits,
      noSpace: commits.isNoSpace ? 1 : 0,
    };
  }

  whenDurable(isUrgent = true): Promise<void> {
    return this.overlay.whenDurable(isUrgent);
  }

  /** Commit what is pending, wait for it, and close the store. Idempotent. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.sweeper.close();
    await this.overlay.close();
    await this.store.close();
  }

  // ---- writes ----

  private write(mode: Mode, key: string, value: Uint8Array, flags: number, exptime: number, cas: number | undefined): StoreResult {
    if (!this.isKey(key) || !isFlags(flags) || !Number.isFinite(exptime)) return BAD_REQUEST;
    if (value.length > this.options.maxValueBytes) return TOO_LARGE;
    const now = this.nowS();
    const current = this.live(key, now);
    if (current !== null ? mode === Mode.Add : mode === Mode.Replace) return NOT_STORED;
    if (cas !== undefined && cas !== 0) {
      if (current === null) return NOT_FOUND;
      if (current.cas !== cas) return EXISTS;
    }
    const refused = this.refusal();
    if (refused !== null) return refused;
    const expAt = absoluteExpiry(exptime, now);
    const next = ++this.lastCas;
    if (expAt === ALREADY_EXPIRED) {
      if (current !== null) this.put(key, null, true);
      else this.overlay.touch();
      return { status: Status.OK, cas: next };
    }
    // The caller may reuse its buffer: the record holds a copy.
    this.put(key, makeEntry(value, flags, expAt, next), current !== null);
    return { status: Status.OK, cas: next };
  }

  private concat(key: string, data: Uint8Array, cas: number | undefined, isAppend: boolean): StoreResult {
    if (!this.isKey(key)) return BAD_REQUEST;
    const max = this.options.maxValueBytes;
    if (data.length > max) return TOO_LARGE;
    const current = this.live(key);
    if (current === null) return NOT_STORED;
    if (cas !== undefined && cas !== 0 && current.cas !== cas) return EXISTS;
    if (current.value.length + data.length > max) return TOO_LARGE;
    const refused = this.refusal();
    if (refused !== null) return refused;
    const next = ++this.lastCas;
    const [head, tail] = isAppend ? [current.value, data] : [data, current.value];
    this.put(key, makeEntry(head, current.flags, current.expAt, next, tail), true);
    return { status: Status.OK, cas: next };
  }

  private count(key: string, delta: bigint, initial: bigint | undefined, exptime: number | undefined, isIncr: boolean): CounterResult {
    if (!this.isKey(key) || !isU64(delta) || (initial !== undefined && !isU64(initial))) return counterFail(Status.BAD_REQUEST);
    if (exptime !== undefined && !Number.isFinite(exptime)) return counterFail(Status.BAD_REQUEST);
    const now = this.nowS();
    const current = this.live(key, now);
    let value: bigint;
    let flags = 0;
    let expAt: number;
    if (current === null) {
      if (initial === undefined) return counterFail(Status.NOT_FOUND);
      value = initial;
      expAt = absoluteExpiry(exptime ?? 0, now);
    } else {
      const parsed = parseCounter(current.value, 0, current.value.length);
      if (parsed === NOT_A_COUNTER) return counterFail(Status.BAD_REQUEST);
      value = isIncr ? increment(parsed, delta) : decrement(parsed, delta);
      flags = current.flags;
      expAt = current.expAt;
    }
    const refused = this.refusal();
    if (refused !== null) return counterFail(refused.status);
    const next = ++this.lastCas;
    if (expAt === ALREADY_EXPIRED) {
      this.overlay.touch();
      return { status: Status.OK, value, cas: next };
    }
    this.put(key, makeEntry(Buffer.from(value.toString(), 'latin1'), flags, expAt, next), current !== null);
    return { status: Status.OK, value, cas: next };
  }

  private retime(key: string, e: DiskEntry, exptime: number): void {
    const expAt = absoluteExpiry(exptime, this.nowS());
    if (expAt === ALREADY_EXPIRED) this.put(key, null, true);
    else this.put(key, makeEntry(e.value, e.flags, expAt, e.cas), true);
  }

  /** NO_SPACE while the disk is full, BUSY while too much waits for the disk; else null. */
  private refusal(): StoreResult | null {
    const why = this.overlay.refusal();
    return why === null ? null : REFUSED[why];
  }

  /**
   * Make `e` the key's newest state (null: delete). `existed`: the key had a state before,
   * expired or not (the caller has just read it). The read cache is left as it is: pending
   * and in-flight writes are read before it, and the commit updates it.
   */
  private put(key: string, e: DiskEntry | null, existed: boolean): void {
    if (existed && e === null) this.itemCount--;
    else if (!existed && e !== null) this.itemCount++;
    this.counters.writes++;
    this.overlay.put(key, e, !existed && e !== null);
  }

  /** Committed items are what reads find next: keep the recent ones at hand. */
  private onBatchDurable(items: ReadonlyMap<string, DiskEntry | null>): void {
    for (const [key, e] of items) {
      if (e === null) this.cache.delete(key);
      // A key written again meanwhile is read from the overlay until its own commit.
      else if (!this.overlay.isPending(key)) this.cache.set(key, e);
    }
  }

  // ---- reads ----

  /** The key's newest state, expired or not; null when absent. */
  private read(key: string): DiskEntry | null {
    const o = this.overlay.lookup(key);
    if (o !== undefined) return o;
    const c = this.cache.get(key);
    if (c !== undefined) return c;
    const e = this.store.get(key);
    if (e === null) return null;
    this.cache.set(key, e);
    return e;
  }

  /** The key's live state: null when absent, expired (and then reclaimed) or the key is invalid. */
  private live(key: string, now = -1): DiskEntry | null {
    if (!this.isKey(key)) return null;
    const e = this.read(key);
    if (e === null) return null;
    if (e.expAt !== 0 && isExpiredAt(e.expAt, now < 0 ? this.nowS() : now)) {
      if (this.refusal() === null) {
        this.put(key, null, true);
        this.counters.expired++;
      }
      return null;
    }
    return e;
  }

  /** Every key in `[start, end)` in byte order with its newest state; deleted keys left out. */
  private range(start: string, end: string | null): Iterable<[string, DiskEntry]> {
    const { layers, isStoreHidden } = this.overlay.layers();
    return mergeRange(layers, isStoreHidden ? null : this.store.items, start, end);
  }

  private isKey(key: string): boolean {
    return key.length > 0 && key.length <= this.options.maxKeyBytes;
  }

  private nowS(): number {
    return toSeconds(this.options.nowMs());
  }

  /** Start a reclaim pass now (tests; the timer does it every `expirySweepIntervalMs`). */
  sweepExpired(): void {
    this.sweeper.start();
  }
}

