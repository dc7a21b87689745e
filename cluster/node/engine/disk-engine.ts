import { Status, type StatusCode } from '../../../shared/status.js';
import { KvError } from '../../../shared/errors.js';
import { NOT_A_COUNTER, decrement, increment, isU64, parseCounter } from './counter-codec.js';
import { ALREADY_EXPIRED, absoluteExpiry, isExpiredAt, toSeconds } from './expiry.js';
import { DISK_ENGINE_DEFAULTS, type DiskEngineOptions } from './disk-options.js';
import { DiskStore } from './disk-store.js';
import { makeEntry } from './disk-record.js';
import { ReadCache, type DiskEntry } from './read-cache.js';
import { mergeRange } from './overlay-range.js';
import { UnitMarkLog } from './unit-mark-log.js';
import { rebuildHistories, type HistoryEntry } from './unit-history.js';
import { DurableWaiters } from './durable-waiters.js';
import { ExpirySweeper } from './expiry-sweep.js';
import type {
  CounterResult, EngineStats, Item, ItemPage, KvEngine, ScanEntry, ScanResult, StoreResult, StoredItem, UnitMark, UnitMarkSource,
} from './types.js';

const MAX_KEY_LIMIT = 255;
/** How often unit seqnos that moved without a write are checked for a commit, ms. */
const MARK_CHECK_MS = 200;

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
const NO_SPACE = fail(Status.NO_SPACE);
const BUSY = fail(Status.BUSY);

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
 * Writes land in `pending` (the newest state of each key written since the last commit
 * started) and are answered at once; a commit takes `pending` as one batch, with the unit
 * seqnos replication holds at that moment and the last CAS, and writes it in one lmdb
 * transaction that is fsync'd before it resolves (group commit: every write of the batch
 * shares one fsync). Reads look at `pending`, then the batch in flight, then the read
 * cache, then lmdb. `whenDurable()` resolves when the commit holding every write made so
 * far is on disk: the `persist` durability level.
 *
 * A commit that fails (disk full) leaves its writes pending; writes are refused with
 * NO_SPACE while the disk stays full, reads go on, and commits are retried until one
 * succeeds, after which writes are accepted again. See docs/engine.md.
 *
 * Beside it: which unit seqnos each commit writes (unit-mark-log.ts), the callers waiting
 * for a commit (durable-waiters.ts) and the background expiry pass (expiry-sweep.ts).
 */
export class DiskEngine implements KvEngine {
  readonly kind = 'disk' as const;
  readonly isDurable = true;
  readonly options: Readonly<DiskEngineOptions>;
  private readonly store: DiskStore;
  private readonly cache: ReadCache;
  /** Writes since the current commit (if any) started; null is a delete. */
  private pending = new Map<string, DiskEntry | null>();
  private pendingBytes = 0;
  /** The batch being committed. */
  private inflight: Map<string, DiskEntry | null> | null = null;
  /** flush_all asked for: the store's items are hidden until the commit that clears them. */
  private isClearPending = false;
  private isClearInflight = false;
  private lastCas: number;
  private itemCount: number;
  /** Write generation: bumped by every change; `durableGen` is the last one on disk. */
  private writeGen = 0;
  private durableGen = 0;
  private readonly waiters = new DurableWaiters();
  private commitTimer: NodeJS.Timeout | null = null;
  private commitNow: NodeJS.Immediate | null = null;
  private committing: Promise<void> | null = null;
  /** Set while the last commit failed: writes are refused until one succeeds. */
  private failure: { code: 'no-space' | 'io'; message: string } | null = null;
  private readonly marks: UnitMarkLog;
  private readonly histories: ReadonlyMap<number, HistoryEntry[]>;
  private isClosed = false;
  private readonly sweeper: ExpirySweeper;
  private readonly markTimer: NodeJS.Timeout;
  private counters = { commits: 0, commitFailures: 0, expired: 0, writes: 0, commitMs: 0, inlineCommits: 0 };
  /** Moving average of inline commits' duration, ms (see `inlineCommitMaxMs`). */
  private inlineCommitMs = 0;

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
    // Seqnos can move without a write (a backfill ends): they reach the disk within this.
    this.markTimer = setInterval(this.onMarkCheck, MARK_CHECK_MS);
    this.markTimer.unref();
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

  /** Drop every item (memcached flush_all): hidden at once, cleared on disk by the next commit. */
  flush(): void {
    this.pending.clear();
    this.pendingBytes = 0;
    this.cache.clear();
    this.isClearPending = true;
    this.itemCount = 0;
    this.writeGen++;
    this.scheduleCommit();
  }

  stats(): EngineStats {
    return {
      items: this.itemCount,
      bytes: this.cache.bytes + this.pendingBytes,
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
      commits: this.counters.commits,
      commitFailures: this.counters.commitFailures,
      commitMs: Math.round(this.counters.commitMs),
      inlineCommits: this.counters.inlineCommits,
      noSpace: this.failure?.code === 'no-space' ? 1 : 0,
    };
  }

  whenDurable(): Promise<void> {
    if (this.durableGen >= this.writeGen && !this.isClearPending) return Promise.resolve();
    if (this.failure !== null) return Promise.reject(this.failureError());
    const durable = this.waiters.add(this.writeGen);
    this.scheduleCommit(true);
    return durable;
  }

  /** Commit what is pending, wait for it, and close the store. Idempotent. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    this.sweeper.close();
    clearInterval(this.markTimer);
    if (this.commitTimer !== null) clearTimeout(this.commitTimer);
    if (this.commitNow !== null) clearImmediate(this.commitNow);
    this.commitTimer = null;
    this.commitNow = null;
    await this.committing?.catch(noop);
    if (this.pending.size > 0 || this.isClearPending || this.marks.hasChanged()) await this.commit().catch(noop);
    this.waiters.rejectAll(KvError.unavailable('engine closed'));
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
      else this.touchGen();
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
      this.touchGen();
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
    if (this.failure !== null) return this.failure.code === 'no-space' ? NO_SPACE : fail(Status.INTERNAL);
    if (this.pendingBytes > this.options.maxPendingBytes) return BUSY;
    return null;
  }

  /**
   * Make `e` the key's newest state (null: delete). `existed`: the key had a state before,
   * expired or not (the caller has just read it). The read cache is left as it is: pending
   * and in-flight writes are read before it, and the commit updates it.
   */
  private put(key: string, e: DiskEntry | null, existed: boolean): void {
    if (existed && e === null) this.itemCount--;
    else if (!existed && e !== null) this.itemCount++;
    const old = this.pending.get(key);
    if (old !== undefined) this.pendingBytes -= sizeOf(key, old);
    this.pending.set(key, e);
    this.pendingBytes += sizeOf(key, e);
    this.counters.writes++;
    this.touchGen();
  }

  private touchGen(): void {
    this.writeGen++;
    this.scheduleCommit();
  }

  // ---- reads ----

  /** The key's newest state, expired or not; null when absent. */
  private read(key: string): DiskEntry | null {
    const p = this.pending.get(key);
    if (p !== undefined) return p;
    if (this.isClearPending) return null;
    const f = this.inflight?.get(key);
    if (f !== undefined) return f;
    if (this.isClearInflight) return null;
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
    const layers: Array<Map<string, DiskEntry | null>> = [this.pending];
    if (!this.isClearPending && this.inflight !== null) layers.push(this.inflight);
    const isStoreHidden = this.isClearPending || this.isClearInflight;
    return mergeRange(layers, isStoreHidden ? null : this.store.items, start, end);
  }

  private isKey(key: string): boolean {
    return key.length > 0 && key.length <= this.options.maxKeyBytes;
  }

  private nowS(): number {
    return toSeconds(this.options.nowMs());
  }

  // ---- commits ----

  /**
   * Start a commit within `commitIntervalMs`, or in the next turn when someone waits for it
   * (`persist`): the writes of this turn join it, and writes arriving while its fsync runs
   * gather for the next one, so waiting writers share fsyncs without an added delay.
   */
  private scheduleCommit(isUrgent = false): void {
    if (this.isClosed || this.committing !== null || this.commitNow !== null) return;
    if (this.failure === null && (isUrgent || this.options.commitIntervalMs === 0)) {
      if (this.commitTimer !== null) clearTimeout(this.commitTimer);
      this.commitTimer = null;
      this.commitNow = setImmediate(this.onCommitTimer);
      return;
    }
    if (this.commitTimer !== null) return;
    this.commitTimer = setTimeout(this.onCommitTimer, this.failure !== null ? this.options.commitRetryMs : this.options.commitIntervalMs);
  }

  private readonly onCommitTimer = (): void => {
    if (this.commitTimer !== null) clearTimeout(this.commitTimer);
    if (this.commitNow !== null) clearImmediate(this.commitNow);
    this.commitTimer = null;
    this.commitNow = null;
    void this.commit().catch(noop);
  };

  private readonly onMarkCheck = (): void => {
    if (this.committing === null && this.pending.size === 0 && this.marks.hasChanged()) this.scheduleCommit();
  };

  /** Commit `pending` (and the unit marks of this moment) as one transaction. */
  private commit(): Promise<void> {
    const batchItems = this.pending;
    const gen = this.writeGen;
    const isClear = this.isClearPending;
    const { marks, history, onCommitted } = this.marks.take();
    const bytes = this.pendingBytes;
    this.pending = new Map();
    this.pendingBytes = 0;
    this.inflight = batchItems;
    this.isClearPending = false;
    this.isClearInflight = isClear;
    const started = performance.now();
    const isInline = !isClear && this.isInlineCommit(batchItems.size);
    // An inline commit has ended by the time `run` is made: it must not be left marked as running.
    let isDone = false;
    const run = (async (): Promise<void> => {
      try {
        this.checkQuota(batchItems, bytes);
        const batch = { items: batchItems, marks, lastCas: this.lastCas, isClear, history };
        if (isInline) this.commitInline(batch, started);
        else await this.store.commit(batch);
      } catch (err) {
        this.onCommitFailed(err, batchItems, bytes, isClear);
        throw err;
      } finally {
        this.inflight = null;
        this.isClearInflight = false;
        this.committing = null;
        isDone = true;
      }
      this.counters.commits++;
      this.counters.commitMs += performance.now() - started;
      onCommitted();
      this.failure = null;
      // Committed items are what reads find next: keep the recent ones at hand. A key
      // written again meanwhile is read from pending until its own commit.
      for (const [key, e] of batchItems) {
        if (e === null) this.cache.delete(key);
        else if (!this.pending.has(key)) this.cache.set(key, e);
      }
      this.durableGen = gen;
      this.waiters.settle(this.durableGen);
      if (this.pending.size > 0 || this.isClearPending) this.scheduleCommit(this.waiters.size > 0);
    })();
    if (!isDone) this.committing = run;
    return run;
  }

  /**
   * Writers wait on this commit (`persist`), it is small, and inline commits have been
   * quick: run it on the event loop. A slow disk (the average over `inlineCommitMaxMs`)
   * sends commits back to lmdb's writer thread; one in 16 of those is tried inline again,
   * so the average follows the disk when it recovers.
   */
  private isInlineCommit(writes: number): boolean {
    const max = this.options.inlineCommitMaxMs;
    if (max <= 0 || this.waiters.size === 0 || writes > this.options.inlineCommitMaxWrites) return false;
    return this.inlineCommitMs <= max || this.counters.commits % 16 === 0;
  }

  private commitInline(batch: Parameters<DiskStore['commitInline']>[0], started: number): void {
    this.store.commitInline(batch);
    const took = performance.now() - started;
    this.inlineCommitMs = this.counters.inlineCommits === 0 ? took : this.inlineCommitMs * 0.875 + took * 0.125;
    this.counters.inlineCommits++;
  }

  /** The engine's size quota stands in for a full disk (same path as ENOSPC). */
  private checkQuota(items: Map<string, DiskEntry | null>, bytes: number): void {
    const max = this.options.maxDiskBytes;
    if (max <= 0) return;
    let hasPut = false;
    for (const e of items.values()) if (e !== null) hasPut = true;
    if (hasPut && this.store.fileBytes() + bytes > max) throw Object.assign(new Error('engine size quota reached'), { isQuota: true });
  }

  private onCommitFailed(err: unknown, items: Map<string, DiskEntry | null>, bytes: number, isClear: boolean): void {
    this.counters.commitFailures++;
    const isQuota = (err as { isQuota?: boolean }).isQuota === true;
    const code = isQuota ? 'no-space' : this.store.classifyFailure(bytes);
    this.failure = { code, message: err instanceof Error ? err.message : String(err) };
    // Nothing of the batch reached the disk: it goes back under the newer writes.
    for (const [key, e] of items) {
      if (this.pending.has(key)) continue;
      this.pending.set(key, e);
      this.pendingBytes += sizeOf(key, e);
    }
    if (isClear) this.isClearPending = true;
    this.waiters.rejectAll(this.failureError());
    queueMicrotask(() => this.scheduleCommit());
  }

  private failureError(): KvError {
    const f = this.failure;
    if (f?.code === 'no-space') return KvError.noSpace();
    return KvError.internal(`disk commit failed: ${f?.message ?? 'unknown'}`);
  }

  /** Start a reclaim pass now (tests; the timer does it every `expirySweepIntervalMs`). */
  sweepExpired(): void {
    this.sweeper.start();
  }
}

function sizeOf(key: string, e: DiskEntry | null): number {
  return key.length + (e?.value.length ?? 0) + 48;
}

function noop(): void {}
