import { open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { HINT_LOG_FILE, encodeHintFrame, parseHintLog, type Hint, type HintRecord } from './hint-log.js';
import { HINT_STORE_DEFAULTS, type HintStoreOptions } from './options.js';

/**
 * Hinted handoff storage (DESIGN §7) on the fallback node: the records an active could
 * not deliver to a replica that was down, kept until the replica comes back.
 *
 * Every hint is held in memory (bounded by `maxBytes`) and, with a data dir, appended
 * to `<dataDir>/hints.log`: frames of `[u32 BE length][u32 BE crc32][CBOR body]`,
 * written and fsync'd in batches; `add` resolves only after its batch is on disk.
 * Removing hints only drops them from memory; the log is compacted (rewritten with the
 * live hints, or truncated when none are left) once garbage outweighs live data. On
 * load, a truncated or corrupt tail (a crash mid-append) is cut off; the frames before
 * it are kept. Hints older than `ttlMs` expire.
 */

/** What a load found in the log. */
export interface HintLoadReport {
  loaded: number;
  expired: number;
  /** Bytes cut off the tail: a truncated or corrupt frame and everything after it. */
  droppedTailBytes: number;
}

export class HintStore {
  readonly options: HintStoreOptions;
  /** The log's path; null keeps hints in memory only (a node without a data dir). */
  readonly path: string | null;
  readonly loadReport: HintLoadReport = { loaded: 0, expired: 0, droppedTailBytes: 0 };
  private readonly hints = new Map<number, Hint>();
  private nextId = 1;
  private liveBytes = 0;
  private fileBytes = 0;
  private fh: FileHandle | null = null;
  private pending: Array<{ frame: Buffer; done: () => void; fail: (err: Error) => void }> = [];
  private isWriteScheduled = false;
  /** File operations run one at a time, in order. */
  private io: Promise<void> = Promise.resolve();
  private isCompactScheduled = false;
  private isClosed = false;

  private constructor(path: string | null, options: HintStoreOptions) {
    this.path = path;
    this.options = options;
  }

  /** Open (and load) the hint log in `dataDir`, or an in-memory store when `dataDir` is null. */
  static async open(dataDir: string | null, options: Partial<HintStoreOptions> = {}): Promise<HintStore> {
    const store = new HintStore(dataDir === null ? null : join(dataDir, HINT_LOG_FILE), { ...HINT_STORE_DEFAULTS, ...options });
    if (store.path !== null) await store.load(store.path);
    return store;
  }

  get isDurable(): boolean {
    return this.path !== null;
  }

  get count(): number {
    return this.hints.size;
  }

  get bytes(): number {
    return this.liveBytes;
  }

  /** Live hints, oldest first. */
  all(): IterableIterator<Hint> {
    return this.hints.values();
  }

  /**
   * Store hints; resolves once they are durable (fsync'd), with whether each was taken.
   * A hint is refused when it alone exceeds `maxHintBytes` or would take the store over
   * `maxBytes`.
   */
  async add(entries: ReadonlyArray<{ intended: string; epoch: number; record: HintRecord }>): Promise<boolean[]> {
    const taken: boolean[] = [];
    const frames: Buffer[] = [];
    const now = this.options.nowMs();
    for (const e of entries) {
      if (this.isClosed) {
        taken.push(false);
        continue;
      }
      const [unit, seq, key, value, flags, expAt] = e.record;
      const frame = encodeHintFrame([e.intended, e.epoch, now, unit, seq, key, value, flags, expAt]);
      if (frame.length > this.options.maxHintBytes || this.liveBytes + frame.length > this.options.maxBytes) {
        taken.push(false);
        continue;
      }
      this.insert({ id: this.nextId++, intended: e.intended, epoch: e.epoch, storedAt: now, record: e.record, bytes: frame.length });
      frames.push(frame);
      taken.push(true);
    }
    if (this.path !== null && frames.length > 0) await this.append(frames);
    return taken;
  }

  /** Forget hints (delivered or no longer needed); the log is compacted later. */
  remove(hints: Iterable<Hint>): void {
    for (const h of hints) {
      if (!this.hints.delete(h.id)) continue;
      this.liveBytes -= h.bytes;
    }
    this.maybeCompact();
  }

  /** Drop hints older than `ttlMs`; returns how many. */
  expire(): number {
    const cutoff = this.options.nowMs() - this.options.ttlMs;
    const old: Hint[] = [];
    // Insertion order is storage order, so the old ones come first.
    for (const h of this.hints.values()) {
      if (h.storedAt > cutoff) break;
      old.push(h);
    }
    this.remove(old);
    return old.length;
  }

  /** Settle pending writes and close the log. Idempotent. */
  async close(): Promise<void> {
    if (this.isClosed) return this.io;
    this.isClosed = true;
    this.writePending();
    this.io = this.io.then(async () => {
      await this.fh?.close();
      this.fh = null;
    });
    return this.io;
  }

  /** Wait for every write and compaction queued so far (tests). */
  settled(): Promise<void> {
    this.writePending();
    return this.io;
  }

  private insert(h: Hint): void {
    this.hints.set(h.id, h);
    this.liveBytes += h.bytes;
  }

  private append(frames: Buffer[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      for (let i = 0; i < frames.length; i++) {
        this.pending.push({ frame: frames[i]!, done: i === frames.length - 1 ? resolve : noop, fail: i === frames.length - 1 ? reject : noop });
      }
      if (!this.isWriteScheduled) {
        this.isWriteScheduled = true;
        // Gather what arrives in this turn into one write and one fsync.
        setImmediate(() => this.writePending());
      }
    });
  }

  private writePending(): void {
    this.isWriteScheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.io = this.io.then(async () => {
      try {
        const fh = await this.handle();
        const data = Buffer.concat(batch.map((p) => p.frame));
        await fh.write(data, 0, data.length, null);
        await fh.sync();
        this.fileBytes += data.length;
        for (const p of batch) p.done();
      } catch (err) {
        for (const p of batch) p.fail(err as Error);
      }
    });
  }

  private async handle(): Promise<FileHandle> {
    this.fh ??= await open(this.path!, 'a');
    return this.fh;
  }

  private maybeCompact(): void {
    if (this.path === null || this.isCompactScheduled || this.isClosed) return;
    const garbage = this.fileBytes - this.liveBytes;
    if (!(this.hints.size === 0 && this.fileBytes > 0) && !(garbage > this.options.compactAfterBytes && garbage > this.liveBytes)) return;
    this.isCompactScheduled = true;
    setImmediate(() => {
      // Appends queued before the compaction are in the file it replaces, and in memory.
      this.writePending();
      this.io = this.io.then(() => this.compact()).catch(noop).finally(() => {
        this.isCompactScheduled = false;
      });
    });
  }

  /** Rewrite the log with the live hints only (or truncate it when there are none). */
  private async compact(): Promise<void> {
    if (this.isClosed) return;
    const path = this.path!;
    if (this.hints.size === 0) {
      const fh = await this.handle();
      await fh.truncate(0);
      await fh.sync();
      this.fileBytes = 0;
      return;
    }
    const tmp = `${path}.compact`;
    const out = await open(tmp, 'w');
    let written = 0;
    try {
      const chunk: Buffer[] = [];
      let chunkBytes = 0;
      for (const h of this.hints.values()) {
        const [unit, seq, key, value, flags, expAt] = h.record;
        const frame = encodeHintFrame([h.intended, h.epoch, h.storedAt, unit, seq, key, value, flags, expAt]);
        chunk.push(frame);
        chunkBytes += frame.length;
        if (chunkBytes >= 1 << 20) {
          await out.write(Buffer.concat(chunk, chunkBytes));
          written += chunkBytes;
          chunk.length = 0;
          chunkBytes = 0;
        }
      }
      if (chunkBytes > 0) await out.write(Buffer.concat(chunk, chunkBytes));
      written += chunkBytes;
      await out.sync();
    } finally {
      await out.close();
    }
    await this.fh?.close();
    this.fh = null;
    await rename(tmp, path);
    await syncDir(path);
    this.fileBytes = written;
  }

  private async load(path: string): Promise<void> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await unlink(`${path}.compact`).catch(noop);
    const { entries, goodBytes } = parseHintLog(data, this.options.maxHintBytes);
    this.loadReport.droppedTailBytes = data.length - goodBytes;
    const cutoff = this.options.nowMs() - this.options.ttlMs;
    for (const e of entries) {
      if (e.storedAt <= cutoff || this.liveBytes + e.bytes > this.options.maxBytes) {
        this.loadReport.expired++;
        continue;
      }
      this.insert({ id: this.nextId++, ...e });
      this.loadReport.loaded++;
    }
    this.fileBytes = data.length;
    // Cut a bad tail off before appending after it; drop expired hints from the file.
    if (goodBytes < data.length || this.loadReport.expired > 0) await this.compact();
  }
}

async function syncDir(path: string): Promise<void> {
  const dir = path.slice(0, Math.max(path.lastIndexOf('/'), 1));
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Not every platform can fsync a directory.
  }
}

function noop(): void {}
