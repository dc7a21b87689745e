import { existsSync, readdirSync, statSync, statfsSync } from 'node:fs';
import { ensureDirSync } from '../../ensure-dir.js';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { decodeEntry, decodeMark, encodeMark, indexKey, indexStart, keyBytes, unitKey } from './disk-record.js';
import type { DiskEntry } from './read-cache.js';
import type { UnitMark } from './types.js';
import { checkLmdbFile } from './lmdb-file-check.js';
import { decodeHistory, encodeHistory, type HistoryItem, type HistoryPart } from './unit-history.js';

/**
 * The disk engine's files: one lmdb environment (`data.mdb`, `lock.mdb`) with five
 * named databases — `items` (key bytes → record, see disk-record.ts), `buckets` (the
 * bucket index: bucket and key → nothing, so a unit's keys are one range of it), `units`
 * (unit → seqno and fingerprint of its record there), `history` (unit-history.ts) and
 * `meta` (format, owner, last CAS). A commit writes all of them in one lmdb transaction,
 * fsync'd before it counts. See docs/engine.md.
 */

export const DATA_FILE = 'data.mdb';
const FORMAT = 'pandakv-disk-engine';
const FORMAT_VERSION = 1;
const META_FORMAT = 'format';
const META_LAST_CAS = 'lastCas';
/** Present once the bucket index holds every item (a store made before it had none). */
const META_INDEX = 'bucketIndex';
/** Keys indexed per transaction while an index is built for an older store. */
const INDEX_BUILD_KEYS = 50_000;
const EMPTY = Buffer.alloc(0);

/** A data dir that cannot be used: another node's, another program's, or damaged. */
export class DiskFormatError extends Error {
  override readonly name = 'DiskFormatError';
}

/** What one commit writes. */
export interface CommitBatch {
  /** Items to write (null: delete). */
  items: Map<string, DiskEntry | null>;
  /** Keys among `items` that the engine saw created (absent before): they enter the bucket index. */
  created: ReadonlySet<string>;
  /** Unit marks to write (seq null: delete the unit's mark). */
  marks: Array<[unit: number, seq: number | null, print: string | null]>;
  lastCas: number;
  /** Delete every item first (flush_all). */
  isClear: boolean;
  /** What this commit adds to the units' histories (unit-history.ts); empty: nothing. */
  history: HistoryPart[];
}

export type CommitFailure = 'no-space' | 'io';

/** Free space a commit leaves untouched on the filesystem, beyond twice its own bytes. */
export const DISK_HEADROOM_BYTES = 1024 * 1024;

interface FormatRecord {
  format: string;
  version: number;
  /** The node that owns the files; null until the node's id is known (see `bindNode`). */
  nodeId: string | null;
  createdAt: number;
}

export class DiskStore {
  readonly items: Database<Buffer, Buffer>;
  private readonly buckets: Database<Buffer, Buffer>;
  private readonly units: Database<Buffer, Buffer>;
  private readonly meta: Database<Buffer, Buffer>;
  private readonly history: Database<Buffer, Buffer>;
  /** History records on disk, oldest first: commit number and bytes (to trim by bytes). */
  private readonly historyRecords: Array<[no: number, bytes: number]> = [];
  private historyHead = 0;
  private historyBytes = 0;
  private nextHistoryNo = 1;
  /** Bytes of history kept on disk; older commits' records are deleted. */
  historyMaxBytes = 4 * 1024 * 1024;
  private isClosed = false;

  private constructor(readonly path: string, private readonly root: RootDatabase<Buffer, Buffer>) {
    const sub = { encoding: 'binary' as const, keyEncoding: 'binary' as const };
    this.items = root.openDB({ name: 'items', ...sub });
    this.buckets = root.openDB({ name: 'buckets', ...sub });
    this.units = root.openDB({ name: 'units', ...sub });
    this.meta = root.openDB({ name: 'meta', ...sub });
    this.history = root.openDB({ name: 'history', ...sub });
  }

  /**
   * Open (or create) the store in `path` for node `nodeId`.
   * @throws DiskFormatError when the files there are not this engine's, are another
   *   node's, or are cut short
   */
  static open(path: string): DiskStore {
    // Not mkdirSync({ recursive }): under /proc it spins on the main thread for ever.
    ensureDirSync(path);
    const dataFile = join(path, DATA_FILE);
    const isNew = !existsSync(dataFile);
    if (isNew && readdirSync(path).some((f) => f !== 'lock.mdb')) {
      throw new DiskFormatError(`${path} holds files that are not a PandaKV disk engine's (no ${DATA_FILE}); refusing to use it`);
    }
    if (!isNew) {
      const problem = checkLmdbFile(dataFile);
      if (problem !== null) throw new DiskFormatError(`${dataFile} is not a usable PandaKV data file: ${problem}; refusing to serve from it`);
    }
    let root: RootDatabase<Buffer, Buffer>;
    try {
      // overlappingSync off: a commit resolves only once it is fsync'd, meta page included.
      // eventTurnBatching off: only our own transactions, whose failures we handle, reach the disk.
      root = open<Buffer, Buffer>({ path, encoding: 'binary', keyEncoding: 'binary', overlappingSync: false, eventTurnBatching: false, maxDbs: 8, noMemInit: true });
    } catch (err) {
      throw new DiskFormatError(`${dataFile} is not a usable lmdb file (${(err as Error).message}); refusing to serve from it`);
    }
    let store: DiskStore;
    try {
      store = new DiskStore(path, root);
      store.checkFormat(isNew);
    } catch (err) {
      void root.close();
      if (err instanceof DiskFormatError) throw err;
      throw new DiskFormatError(`${dataFile} cannot be read (${(err as Error).message}); refusing to serve from it`);
    }
    return store;
  }

  private checkFormat(isNew: boolean): void {
    const raw = this.meta.getBinary(Buffer.from(META_FORMAT));
    if (raw === undefined) {
      const hasData = this.items.getKeysCount({ limit: 1 }) > 0 || this.units.getKeysCount({ limit: 1 }) > 0;
      if (!isNew && hasData) throw new DiskFormatError(`${join(this.path, DATA_FILE)} has no PandaKV format record; refusing to serve from it`);
      this.writeFormat({ format: FORMAT, version: FORMAT_VERSION, nodeId: null, createdAt: Date.now() });
    } else {
      this.readFormat(raw);
    }
    if (this.meta.getBinary(Buffer.from(META_INDEX)) === undefined) this.buildIndex();
  }

  /**
   * Index every stored key (a store written before the bucket index), a slice of keys per
   * transaction; the mark that it is whole is written last, so a crash part way through
   * builds it again at the next open.
   */
  private buildIndex(): void {
    let start: Buffer | undefined;
    for (;;) {
      const keys = [...this.items.getKeys({ start, limit: INDEX_BUILD_KEYS })];
      if (keys.length === 0) break;
      this.root.transactionSync(() => {
        for (const key of keys) this.buckets.putSync(indexKey(key.toString('latin1')), EMPTY);
      });
      start = Buffer.concat([keys[keys.length - 1]!, Buffer.of(0)]);
    }
    this.root.transactionSync(() => this.meta.putSync(Buffer.from(META_INDEX), Buffer.of(1)));
  }

  private writeFormat(record: FormatRecord): void {
    this.root.transactionSync(() => this.meta.putSync(Buffer.from(META_FORMAT), Buffer.from(JSON.stringify(record))));
  }

  /**
   * The files belong to node `nodeId` from now on: the first node to bind them owns them.
   * @throws DiskFormatError when another node owns them
   */
  bindNode(nodeId: string): void {
    const record = this.readFormat(this.meta.getBinary(Buffer.from(META_FORMAT)));
    if (record.nodeId === nodeId) return;
    if (record.nodeId !== null) throw new DiskFormatError(`${join(this.path, DATA_FILE)} belongs to node ${String(record.nodeId)}, not this node (${nodeId}); refusing to serve from it`);
    this.writeFormat({ ...record, nodeId });
  }

  private readFormat(raw: Buffer | undefined): FormatRecord {
    if (raw === undefined) throw new DiskFormatError(`${join(this.path, DATA_FILE)} has no PandaKV format record; refusing to serve from it`);
    let record: Partial<FormatRecord>;
    try {
      record = JSON.parse(raw.toString('utf8')) as Partial<FormatRecord>;
    } catch {
      throw new DiskFormatError(`${join(this.path, DATA_FILE)} has a damaged format record; refusing to serve from it`);
    }
    if (record.format !== FORMAT || record.version !== FORMAT_VERSION) {
      throw new DiskFormatError(`${join(this.path, DATA_FILE)} is format ${String(record.format)} v${String(record.version)}, not ${FORMAT} v${FORMAT_VERSION}; refusing to serve from it`);
    }
    if (record.nodeId !== null && typeof record.nodeId !== 'string') throw new DiskFormatError(`${join(this.path, DATA_FILE)} has a damaged format record; refusing to serve from it`);
    return record as FormatRecord;
  }

  /** Items stored (expired ones not reclaimed yet included). */
  itemCount(): number {
    return (this.items.getStats() as { entryCount?: number }).entryCount ?? 0;
  }

  lastCas(): number {
    const raw = this.meta.getBinary(Buffer.from(META_LAST_CAS));
    return raw === undefined || raw.length !== 8 ? 0 : raw.readDoubleLE(0);
  }

  unitMarks(): UnitMark[] {
    const out: UnitMark[] = [];
    for (const { key, value } of this.units.getRange({})) {
      const mark = decodeMark(value);
      if (key.length === 4 && mark !== null) out.push([key.readUInt32BE(0), mark.seq, mark.print]);
    }
    return out;
  }

  /** The stored entry of `key`, in a buffer of its own; null when absent or unreadable. */
  get(key: string): DiskEntry | null {
    // getBinaryFast hands out lmdb's scratch buffer (valid until the next read): copy it
    // into a pooled buffer, cheaper than the fresh ArrayBuffer getBinary allocates.
    const raw = this.items.getBinaryFast(keyBytes(key));
    if (raw === undefined) return null;
    // Its `length` property is the value's; the typed array underneath is larger.
    const size = raw.length;
    const own = Buffer.allocUnsafe(size);
    own.set(new Uint8Array(raw.buffer, raw.byteOffset, size), 0);
    return decodeEntry(own);
  }

  /**
   * Index positions (bucket-walk.ts) of the stored keys of buckets `[lo, hi)` (at
   * INDEX_BUCKET_BITS), in order, after position `after` (exclusive; null: from `lo`), at
   * most `limit`.
   */
  bucketPositions(lo: number, hi: number, after: string | null, limit: number): string[] {
    const start = after === null ? indexStart(lo) : Buffer.from(`${after}\0`, 'latin1');
    const out: string[] = [];
    for (const position of this.buckets.getKeys({ start, end: indexStart(hi), limit })) out.push(position.toString('latin1'));
    return out;
  }

  /** Bytes of the data file. */
  fileBytes(): number {
    try {
      return statSync(join(this.path, DATA_FILE)).size;
    } catch {
      return 0;
    }
  }

  /**
   * Write `batch` in one transaction; resolves once it is on disk. (Measured against
   * queuing the writes as one lmdb batch run whole on lmdb's writer thread: no faster here,
   * so the transaction callback stays, which also serves flush_all's walk over the keys.)
   */
  commit(batch: CommitBatch): Promise<void> {
    return this.root.transaction(() => this.writeBatch(batch)).then(() => {
      this.onHistoryCommitted();
      this.root.resetReadTxn();
    }, (err: unknown) => {
      this.pendingHistory = null;
      // lmdb hands the cause on a second promise; it must not go unhandled.
      const cause = (err as { commitError?: Promise<unknown> }).commitError;
      cause?.catch(noop);
      throw err;
    });
  }

  /**
   * Write `batch` in one transaction on this thread, fsync included: on disk when it
   * returns. Throws what the commit failed with.
   */
  commitInline(batch: CommitBatch): void {
    try {
      this.root.transactionSync(() => this.writeBatch(batch));
    } catch (err) {
      this.pendingHistory = null;
      throw err;
    }
    this.onHistoryCommitted();
    this.root.resetReadTxn();
  }

  private writeBatch(batch: CommitBatch): void {
    const { items, units } = this;
    const { buckets } = this;
    if (batch.isClear) {
      for (const key of items.getKeys({})) items.removeSync(key);
      for (const key of buckets.getKeys({})) buckets.removeSync(key);
    }
    for (const [key, e] of batch.items) {
      if (e === null) {
        if (items.removeSync(keyBytes(key))) buckets.removeSync(indexKey(key));
      } else {
        items.putSync(keyBytes(key), e.record);
        if (batch.created.has(key)) buckets.putSync(indexKey(key), EMPTY);
      }
    }
    for (const [unit, seq, print] of batch.marks) {
      if (seq === null) units.removeSync(unitKey(unit));
      else units.putSync(unitKey(unit), encodeMark(seq, print));
    }
    const cas = Buffer.allocUnsafe(8);
    cas.writeDoubleLE(batch.lastCas, 0);
    this.meta.putSync(Buffer.from(META_LAST_CAS), cas);
    if (batch.history.length > 0) this.writeHistory(batch.history);
  }

  /**
   * Append this commit's history record and delete the oldest ones past `historyMaxBytes`.
   * Runs inside the commit's transaction; the in-memory list follows only once it commits,
   * and a failed commit leaves it as the disk has it (see `commit`).
   */
  private writeHistory(parts: HistoryPart[]): void {
    const value = encodeHistory(parts);
    const no = this.nextHistoryNo;
    this.history.putSync(historyKey(no), value);
    let bytes = this.historyBytes + value.length;
    let head = this.historyHead;
    while (bytes > this.historyMaxBytes && head < this.historyRecords.length) {
      const [old, size] = this.historyRecords[head++]!;
      this.history.removeSync(historyKey(old));
      bytes -= size;
    }
    this.pendingHistory = { no, bytes: value.length, head };
  }

  /** The history record the transaction in progress wrote, applied once it commits. */
  private pendingHistory: { no: number; bytes: number; head: number } | null = null;

  private onHistoryCommitted(): void {
    const p = this.pendingHistory;
    this.pendingHistory = null;
    if (p === null) return;
    for (let i = this.historyHead; i < p.head; i++) this.historyBytes -= this.historyRecords[i]![1];
    this.historyHead = p.head;
    this.historyRecords.push([p.no, p.bytes]);
    this.historyBytes += p.bytes;
    this.nextHistoryNo = p.no + 1;
    if (this.historyHead > 1024 && this.historyHead * 2 > this.historyRecords.length) {
      this.historyRecords.splice(0, this.historyHead);
      this.historyHead = 0;
    }
  }

  /**
   * Every history record on disk, oldest first, decoded; a malformed one ends the list
   * there (what follows it cannot be shown to continue it).
   */
  loadHistory(): HistoryItem[][] {
    const out: HistoryItem[][] = [];
    for (const { key, value } of this.history.getRange({})) {
      const items = key.length === 8 ? decodeHistory(value) : null;
      if (items === null) break;
      const no = key.readUInt32BE(0) * 2 ** 32 + key.readUInt32BE(4);
      this.historyRecords.push([no, value.length]);
      this.historyBytes += value.length;
      this.nextHistoryNo = no + 1;
      out.push(items);
    }
    return out;
  }

  /**
   * False when the filesystem has less free space than a commit of `batchBytes` may need:
   * twice the batch (lmdb's pages and index entries) and `DISK_HEADROOM_BYTES` more. A
   * commit is not started then, so lmdb never meets a full disk in the middle of writing
   * its pages (lmdb 3.5's error path for that writes past a 100-byte buffer of its own).
   * True when the filesystem cannot be asked.
   */
  hasRoomFor(batchBytes: number): boolean {
    const free = this.freeBytes();
    return free === null || free >= batchBytes * 2 + DISK_HEADROOM_BYTES;
  }

  /** Why a commit failed: the filesystem is (nearly) full, or something else. */
  classifyFailure(batchBytes: number): CommitFailure {
    const free = this.freeBytes();
    return free !== null && free < batchBytes * 2 + DISK_HEADROOM_BYTES ? 'no-space' : 'io';
  }

  /** Bytes an unprivileged writer may still use on the filesystem; null when it cannot be asked. */
  private freeBytes(): number | null {
    try {
      const fs = statfsSync(this.path);
      return fs.bavail * fs.bsize;
    } catch {
      return null;
    }
  }

  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    await this.root.close();
  }
}

function noop(): void {}

/** A history record's lmdb key: the commit number, u64 big-endian (so records sort in commit order). */
function historyKey(no: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeUInt32BE(Math.floor(no / 2 ** 32), 0);
  b.writeUInt32BE(no >>> 0, 4);
  return b;
}
