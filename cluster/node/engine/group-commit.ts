import { KvError } from '../../../shared/errors.js';
import type { DiskEngineOptions } from './disk-options.js';
import type { CommitBatch, DiskStore } from './disk-store.js';
import type { DiskEntry } from './read-cache.js';
import type { UnitMarkLog } from './unit-mark-log.js';
import { DurableWaiters } from './durable-waiters.js';

/** How often unit seqnos that moved without a write are checked for a commit, ms. */
const MARK_CHECK_MS = 200;

/** The options of the disk engine that govern commits (disk-options.ts). */
export type GroupCommitOptions = Pick<
  DiskEngineOptions,
  'commitIntervalMs' | 'commitRetryMs' | 'inlineCommitMaxMs' | 'inlineCommitMaxWrites' | 'maxDiskBytes' | 'maxPendingBytes'
>;

/** What the commits write to: the disk store's transactions. */
export type CommitTarget = Pick<DiskStore, 'commit' | 'commitInline' | 'fileBytes' | 'hasRoomFor' | 'classifyFailure'>;

/** What the commits need from the engine above them. */
export interface GroupCommitHost {
  /** The CAS counter now: every commit writes it with its items. */
  lastCas(): number;
  /**
   * A batch is on disk (its waiters not yet told): from now on reads find its items in the
   * store. A key written again meanwhile is still in the overlay (`isPending`).
   */
  onBatchDurable(items: ReadonlyMap<string, DiskEntry | null>): void;
}

/**
 * Why writes are refused: the last commit failed for want of space (`no-space`) or for
 * another reason (`io`), or too many bytes wait for the disk (`busy`).
 */
export type Refusal = 'no-space' | 'io' | 'busy';

/** The layers an ordered read merges over the store (overlay-range.ts). */
export interface OverlayLayers {
  /** Newest first; null is a delete. */
  layers: ReadonlyArray<ReadonlyMap<string, DiskEntry | null>>;
  /** flush_all is pending or in flight: the store's items are not to be read. */
  isStoreHidden: boolean;
}

/** Counters for the engine's STATS. */
export interface GroupCommitStats {
  commits: number;
  commitFailures: number;
  /** Time spent in commits, ms. */
  commitMs: number;
  inlineCommits: number;
  /** Bytes of writes waiting for a commit to start (a batch in flight is not counted). */
  pendingBytes: number;
  /** The last commit failed for want of space. */
  isNoSpace: boolean;
}

/**
 * The disk engine's writes on their way to disk: the overlay of writes not yet committed
 * and the group commits that write them.
 *
 * A write puts the key's newest state in `pending` and returns; a commit takes `pending`
 * whole as one batch (`inflight` while it runs), with the unit seqnos replication holds at
 * that moment and the last CAS, and writes it in one lmdb transaction that is fsync'd
 * before it resolves: every write of the batch shares one fsync. Reads see `pending`,
 * then `inflight`, and only then the store (`lookup`, `layers`).
 *
 * Write generations number the changes: `writeGen` is bumped by each one and `durableGen`
 * is the last on disk, so `whenDurable()` waits for the commit that covers every change
 * made so far. A commit that fails puts its batch back under the newer writes, rejects its
 * waiters and makes `refusal` say why until a retry succeeds.
 */
export class GroupCommit {
  /** Writes since the current commit (if any) started; null is a delete. */
  private pending = new Map<string, DiskEntry | null>();
  private pendingBytes = 0;
  /** Keys of `pending` created by their write (absent before it): the bucket index gains them. */
  private created = new Set<string>();
  /** The batch being committed. */
  private inflight: Map<string, DiskEntry | null> | null = null;
  /** flush_all asked for: the store's items are hidden until the commit that clears them. */
  private isClearPending = false;
  private isClearInflight = false;
  /** Write generation: bumped by every change; `durableGen` is the last one on disk. */
  private writeGen = 0;
  private durableGen = 0;
  private readonly waiters = new DurableWaiters();
  private commitTimer: NodeJS.Timeout | null = null;
  private commitNow: NodeJS.Immediate | null = null;
  private committing: Promise<void> | null = null;
  /** Set while the last commit failed: writes are refused until one succeeds. */
  private failure: { code: 'no-space' | 'io'; message: string } | null = null;
  private readonly markTimer: NodeJS.Timeout;
  private isClosed = false;
  private counters = { commits: 0, commitFailures: 0, commitMs: 0, inlineCommits: 0 };
  /** Moving average of inline commits' duration, ms (see `inlineCommitMaxMs`). */
  private inlineCommitMs = 0;

  constructor(
    private readonly store: CommitTarget,
    private readonly marks: UnitMarkLog,
    private readonly options: Readonly<GroupCommitOptions>,
    private readonly host: GroupCommitHost,
  ) {
    // Seqnos can move without a write (a backfill ends): they reach the disk within this.
    this.markTimer = setInterval(this.onMarkCheck, MARK_CHECK_MS);
    this.markTimer.unref();
  }

  /**
   * Make `e` the key's newest state (null: delete). `isCreated`: the key had no state
   * before this write (its commit adds it to the bucket index).
   */
  put(key: string, e: DiskEntry | null, isCreated = false): void {
    if (isCreated) this.created.add(key);
    const old = this.pending.get(key);
    if (old !== undefined) this.pendingBytes -= sizeOf(key, old);
    this.pending.set(key, e);
    this.pendingBytes += sizeOf(key, e);
    this.touch();
  }

  /** Something to commit besides items (the CAS counter moved): a new write generation. */
  touch(): void {
    this.writeGen++;
    this.scheduleCommit();
  }

  /** Drop every item (flush_all): hidden at once, the store cleared by the next commit. */
  clear(): void {
    this.pending.clear();
    this.pendingBytes = 0;
    this.created.clear();
    this.isClearPending = true;
    this.touch();
  }

  /**
   * The key's newest state in the overlay: an entry, null when deleted (or hidden by
   * flush_all), undefined when the overlay does not know it (read the cache and store).
   */
  lookup(key: string): DiskEntry | null | undefined {
    const p = this.pending.get(key);
    if (p !== undefined) return p;
    if (this.isClearPending) return null;
    const f = this.inflight?.get(key);
    if (f !== undefined) return f;
    if (this.isClearInflight) return null;
    return undefined;
  }

  /** True when a write of `key` waits for a commit that has not started. */
  isPending(key: string): boolean {
    return this.pending.has(key);
  }

  /** The overlay's layers for an ordered read, and whether the store is to be read under them. */
  layers(): OverlayLayers {
    const layers: Array<Map<string, DiskEntry | null>> = [this.pending];
    if (!this.isClearPending && this.inflight !== null) layers.push(this.inflight);
    return { layers, isStoreHidden: this.isClearPending || this.isClearInflight };
  }

  /** Why writes are refused now; null when they are accepted. */
  refusal(): Refusal | null {
    if (this.failure !== null) return this.failure.code;
    if (this.pendingBytes > this.options.maxPendingBytes) return 'busy';
    return null;
  }

  stats(): GroupCommitStats {
    return {
      commits: this.counters.commits,
      commitFailures: this.counters.commitFailures,
      commitMs: this.counters.commitMs,
      inlineCommits: this.counters.inlineCommits,
      pendingBytes: this.pendingBytes,
      isNoSpace: this.failure?.code === 'no-space',
    };
  }

  /**
   * Resolves once every change made so far is on disk; rejects when a commit fails or on
   * close. `isUrgent`: someone waits on it (a persist write), so the commit starts in the
   * next turn, inline when it is small; false: it comes on the usual schedule, on lmdb's
   * writer thread (a replica reporting what it has on disk when nobody waits for it).
   */
  whenDurable(isUrgent = true): Promise<void> {
    if (this.durableGen >= this.writeGen && !this.isClearPending) return Promise.resolve();
    if (this.failure !== null) return Promise.reject(this.failureError());
    const durable = this.waiters.add(this.writeGen, isUrgent);
    this.scheduleCommit(isUrgent);
    return durable;
  }

  /** Stop scheduling, commit what is pending (and moved unit seqnos), reject who still waits. Idempotent. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    clearInterval(this.markTimer);
    if (this.commitTimer !== null) clearTimeout(this.commitTimer);
    if (this.commitNow !== null) clearImmediate(this.commitNow);
    this.commitTimer = null;
    this.commitNow = null;
    await this.committing?.catch(noop);
    if (this.pending.size > 0 || this.isClearPending || this.marks.hasChanged()) await this.commit().catch(noop);
    this.waiters.rejectAll(KvError.unavailable('engine closed'));
  }

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
    // Taken in the same turn as the batch: the seqnos written are those of these items.
    const { marks, history, onCommitted } = this.marks.take();
    const bytes = this.pendingBytes;
    const created = this.created;
    this.pending = new Map();
    this.pendingBytes = 0;
    this.created = new Set();
    this.inflight = batchItems;
    this.isClearPending = false;
    this.isClearInflight = isClear;
    const started = performance.now();
    const isInline = !isClear && this.isInlineCommit(batchItems.size);
    // An inline commit has ended by the time `run` is made: it must not be left marked as running.
    let isDone = false;
    const run = (async (): Promise<void> => {
      try {
        this.checkSpace(batchItems, bytes);
        const batch: CommitBatch = { items: batchItems, created, marks, lastCas: this.host.lastCas(), isClear, history };
        if (isInline) this.commitInline(batch, started);
        else await this.store.commit(batch);
      } catch (err) {
        this.onCommitFailed(err, batchItems, created, bytes, isClear);
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
      this.host.onBatchDurable(batchItems);
      this.durableGen = gen;
      this.waiters.settle(this.durableGen);
      // Writes, a flush_all or a moved CAS counter came while this commit ran: the next one.
      if (this.pending.size > 0 || this.isClearPending || this.durableGen < this.writeGen) this.scheduleCommit(this.waiters.hasUrgent);
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
    if (max <= 0 || !this.waiters.hasUrgent || writes > this.options.inlineCommitMaxWrites) return false;
    return this.inlineCommitMs <= max || this.counters.commits % 16 === 0;
  }

  private commitInline(batch: CommitBatch, started: number): void {
    this.store.commitInline(batch);
    const took = performance.now() - started;
    this.inlineCommitMs = this.counters.inlineCommits === 0 ? took : this.inlineCommitMs * 0.875 + took * 0.125;
    this.counters.inlineCommits++;
  }

  /**
   * A batch that writes items is not started past the engine's size quota, nor on a
   * filesystem without room for it (`DiskStore.hasRoomFor`): both fail it as a full disk.
   */
  private checkSpace(items: Map<string, DiskEntry | null>, bytes: number): void {
    let hasPut = false;
    for (const e of items.values()) {
      if (e !== null) {
        hasPut = true;
        break;
      }
    }
    if (!hasPut) return;
    const max = this.options.maxDiskBytes;
    if (max > 0 && this.store.fileBytes() + bytes > max) throw Object.assign(new Error('engine size quota reached'), { isNoSpace: true });
    if (!this.store.hasRoomFor(bytes)) throw Object.assign(new Error('too little free space on the filesystem for the commit'), { isNoSpace: true });
  }

  private onCommitFailed(err: unknown, items: Map<string, DiskEntry | null>, created: ReadonlySet<string>, bytes: number, isClear: boolean): void {
    this.counters.commitFailures++;
    const isNoSpace = (err as { isNoSpace?: boolean }).isNoSpace === true;
    const code = isNoSpace ? 'no-space' : this.store.classifyFailure(bytes);
    this.failure = { code, message: err instanceof Error ? err.message : String(err) };
    // Nothing of the batch reached the disk: it goes back under the newer writes.
    for (const [key, e] of items) {
      if (this.pending.has(key)) continue;
      this.pending.set(key, e);
      this.pendingBytes += sizeOf(key, e);
    }
    // Still absent from the store, whatever was written over them since.
    for (const key of created) this.created.add(key);
    if (isClear) this.isClearPending = true;
    this.waiters.rejectAll(this.failureError());
    queueMicrotask(() => this.scheduleCommit());
  }

  private failureError(): KvError {
    const f = this.failure;
    if (f?.code === 'no-space') return KvError.noSpace();
    return KvError.internal(`disk commit failed: ${f?.message ?? 'unknown'}`);
  }
}

/** What a write is charged against `maxPendingBytes`. */
function sizeOf(key: string, e: DiskEntry | null): number {
  return key.length + (e?.value.length ?? 0) + 48;
}

function noop(): void {}
