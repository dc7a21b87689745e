import { ErrorCode, KvError } from '../shared/errors.js';
import { Status } from '../shared/status.js';
import { Op } from '../shared/protocol/ops.js';
import { errorFromAnswer, requestFrame, type Response } from '../shared/protocol/frames.js';
import type { ClusterMap } from '../shared/cluster-map.js';
import { coversAcrossBits, readWireRanges } from '../shared/bucket-ranges.js';
import { binaryToWire, bytesToBinary, binaryToUtf8, binaryToBytes, utf8ToBinary, isAsciiString } from '../shared/protocol/binary-key.js';
import { backoffDelay, delay } from './backoff.js';
import { ScanTracker, type ScanRow, type ScanStream, type ScanTrackerStats } from './scan-tracker.js';

export interface ScanOptions {
  /** First key (inclusive). @default the smallest key */
  start?: string | Uint8Array;
  /** End key (exclusive). @default no end */
  end?: string | Uint8Array;
  /** Most entries to return in total. @default unlimited */
  limit?: number;
  /** Entries fetched per node per round trip. @default 256 */
  pageSize?: number;
  /**
   * Deadline in ms of each step that must fetch pages: the round trips, the waits for a
   * newer map and the retries it takes to stay exact. Past it the scan fails with
   * `KV_ERR_SCAN_INTERRUPTED` and `details.resumeFrom`. @default the client's timeoutMs
   */
  timeoutMs?: number;
}

export interface ScanEntry<V> {
  /** The key decoded as UTF-8. */
  key: string;
  /** The key's raw bytes. */
  keyBytes: Uint8Array;
  value: V;
  flags: number;
  cas: bigint;
}

/** What a scan needs of its client: the map, newer maps, and single requests to a node. */
export interface ScanHost<V> {
  /** The newest map, or null before the first. */
  currentMap(): ClusterMap | null;
  /** Resolve with a map of at least `minEpoch`; reject at `deadline`. */
  refreshMap(minEpoch: number, deadline: number): Promise<ClusterMap>;
  /** Send one frame to `address` once: no routing, no retry. */
  request(address: string, frame: unknown[], deadline: number): Promise<Response>;
  decode(bytes: Uint8Array): V;
  /** Waits between retries that no newer map answers. */
  backoffMs: readonly number[];
  /** Default step deadline. */
  timeoutMs: number;
  /** The client's `keyPrefix` (every scanned key starts with it): removed from keys returned. */
  keyPrefix?: Uint8Array;
}

function toBinary(key: string | Uint8Array): string {
  return typeof key === 'string' ? utf8ToBinary(key) : bytesToBinary(key);
}

function wireToBinary(v: unknown): string {
  if (typeof v === 'string') return isAsciiString(v) ? v : utf8ToBinary(v);
  if (v instanceof Uint8Array) return bytesToBinary(v);
  throw KvError.protocol('scan answer has a key that is neither text nor bytes');
}

/** Failures after which the same read may well work against a newer map or a moment later. */
const RETRYABLE: ReadonlySet<string> = new Set([
  ErrorCode.NOT_MY_BUCKET, ErrorCode.BUSY, ErrorCode.CONNECTION_CLOSED, ErrorCode.UNAVAILABLE, ErrorCode.TIMEOUT, ErrorCode.SCAN_INTERRUPTED,
]);

/**
 * An ordered scan over the cluster that stays exact while the map changes: every key of
 * `[start, end)` present for the whole scan is returned exactly once, in byte order.
 * Each node reads the bucket ranges it is active for at a stated epoch; when a node
 * answers NOT_MY_BUCKET or drops out, the scan takes a newer map, moves the ranges it had
 * not finished to their new owner and reads them after the last key it returned
 * (`ScanTracker`). A node is asked for its next page only when the merge needs it
 * (backpressure). If a step cannot stay exact within `timeoutMs`, `next()` rejects with
 * `KV_ERR_SCAN_INTERRUPTED` whose `details.resumeFrom` starts a new scan exactly where
 * this one stopped.
 */
export class ScanIterator<V> implements AsyncIterableIterator<ScanEntry<V>> {
  private readonly tracker: ScanTracker;
  private readonly pageSize: number;
  private readonly timeoutMs: number;
  private remaining: number;
  private isFinished = false;
  /** Pages asked for ahead of need, by stream; they never fail (a failed one is asked again when needed). */
  private readonly ahead = new Map<ScanStream, Promise<void>>();
  /** Raw bytes of the last key returned; resume after it with `start: lastKey + '\0'`. */
  lastKey: Uint8Array | null = null;

  constructor(opts: ScanOptions, private readonly host: ScanHost<V>) {
    const start = opts.start === undefined || opts.start.length === 0 ? '\0' : toBinary(opts.start);
    const end = opts.end === undefined ? null : toBinary(opts.end);
    this.pageSize = opts.pageSize ?? 256;
    this.remaining = opts.limit ?? Number.POSITIVE_INFINITY;
    this.timeoutMs = opts.timeoutMs ?? host.timeoutMs;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1) throw KvError.invalidArgument('pageSize must be a positive integer');
    if (!(this.remaining >= 0)) throw KvError.invalidArgument('limit must be a non-negative number');
    if (!(this.timeoutMs > 0)) throw KvError.invalidArgument('timeoutMs must be a positive number');
    this.tracker = new ScanTracker(start, end);
  }

  /** What the scan did so far: pages, re-plans, restarted streams, ignored rows. */
  get stats(): Readonly<ScanTrackerStats> {
    return this.tracker.stats;
  }

  /** Raw bytes to pass as `start` to resume exactly after the last key returned. */
  get resumeFrom(): Uint8Array {
    return this.unprefixed(binaryToBytes(this.tracker.resumeKey()));
  }

  /** `bytes` without the client's key prefix. */
  private unprefixed(bytes: Uint8Array): Uint8Array {
    const n = this.host.keyPrefix?.length ?? 0;
    return n === 0 ? bytes : bytes.subarray(Math.min(n, bytes.length));
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ScanEntry<V>> {
    return this;
  }

  async next(): Promise<IteratorResult<ScanEntry<V>>> {
    if (this.isFinished || this.remaining <= 0) return { done: true, value: undefined };
    try {
      await this.fill();
    } catch (err) {
      this.isFinished = true;
      throw err;
    }
    const row = this.tracker.take();
    if (row === null) {
      this.isFinished = true;
      return { done: true, value: undefined };
    }
    this.remaining--;
    this.readAhead();
    const keyBytes = this.unprefixed(binaryToBytes(row.key));
    this.lastKey = keyBytes;
    const key = keyBytes.length === row.key.length ? binaryToUtf8(row.key) : Buffer.from(keyBytes).toString('utf8');
    return { done: false, value: { key, keyBytes, value: this.host.decode(row.value), flags: row.flags, cas: BigInt(row.cas) } };
  }

  async return(): Promise<IteratorResult<ScanEntry<V>>> {
    this.isFinished = true;
    return { done: true, value: undefined };
  }

  /**
   * Ask for a stream's next page once half of its buffer is merged, so the merge seldom
   * waits a round trip: at most one page ahead per stream (backpressure still holds).
   */
  private readAhead(): void {
    if (this.remaining <= 0) return;
    const half = Math.max(1, this.pageSize >>> 1);
    for (const s of this.tracker.streamList) {
      if (s.isDone || s.buffered === 0 || s.buffered > half || this.ahead.has(s)) continue;
      const p = this.fetch(s, Date.now() + this.timeoutMs).catch(() => undefined).finally(() => this.ahead.delete(s));
      this.ahead.set(s, p);
    }
  }

  /** Fetch until every stream can take part in the merge, under one step deadline. */
  private async fill(): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    const tracker = this.tracker;
    let backoffs = 0;
    let lastError: KvError | null = null;
    for (;;) {
      const map = this.host.currentMap();
      if (map !== null) tracker.assign(map);
      const wanted = map === null ? [] : tracker.wanted();
      if (map !== null && wanted.length === 0 && !tracker.hasUnassigned) return;
      // The map this step needs before retrying: newer than the planned one when an
      // owner is missing or refused, at least a refusing node's epoch.
      let minEpoch = map === null ? 0 : tracker.hasUnassigned ? tracker.epoch + 1 : -1;
      if (map === null) lastError = KvError.unavailable('no cluster map yet', { isSafeToRetry: true });
      else if (tracker.hasUnassigned) lastError = KvError.unavailable('part of the key space has no live owner in the map', { isSafeToRetry: true });
      const outcomes = await Promise.allSettled(wanted.map((s) => this.ahead.get(s) ?? this.fetch(s, deadline)));
      let isAllOk = true;
      for (const o of outcomes) {
        if (o.status === 'fulfilled') continue;
        isAllOk = false;
        const err = o.reason as unknown;
        if (!(err instanceof KvError) || !RETRYABLE.has(err.code)) throw err;
        lastError = err;
        const refused = err.code === ErrorCode.NOT_MY_BUCKET ? err.details.epoch ?? tracker.epoch + 1 : tracker.epoch + 1;
        minEpoch = Math.max(minEpoch, refused);
      }
      // A page read ahead may have been stale or failed: such a stream is simply asked again.
      if (isAllOk && map !== null && !tracker.hasUnassigned) continue;
      if (Date.now() >= deadline) throw this.interrupted(lastError);
      const wait = Math.min(backoffDelay(this.host.backoffMs, backoffs++), Math.max(0, deadline - Date.now()));
      if (minEpoch > tracker.epoch || map === null) {
        // A newer map is what fixes this; wait for it, but not past this retry's turn
        // unless the node said which epoch it has (then that map is surely coming).
        const refusedBy = lastError?.code === ErrorCode.NOT_MY_BUCKET && (lastError.details.epoch ?? 0) > tracker.epoch;
        const waitedFrom = Date.now();
        await this.host.refreshMap(Math.max(minEpoch, 0), refusedBy ? deadline : Date.now() + Math.max(wait, 1)).catch(() => null);
        // A source that answers at once with the same map (a static one) must not turn
        // the retries into a busy loop: the backoff still applies.
        if (this.host.currentMap() === tracker.map) await delay(Math.max(0, waitedFrom + wait - Date.now()));
      } else {
        await delay(wait);
      }
    }
  }

  private interrupted(cause: KvError | null): KvError {
    const what = cause === null ? 'the map kept changing' : `${cause.code}: ${cause.message}`;
    return KvError.scanInterrupted(`scan interrupted: it could not stay exact within ${this.timeoutMs} ms (${what}); resume from details.resumeFrom`, {
      resumeFrom: this.unprefixed(binaryToBytes(this.tracker.resumeKey())),
    }, cause ?? undefined);
  }

  /** One page for `s` at the planned epoch, checked and handed to the tracker. */
  private async fetch(s: ScanStream, deadline: number): Promise<void> {
    const tracker = this.tracker;
    const start = s.next!;
    const generation = s.generation;
    const bits = tracker.bits;
    const ranges = s.ranges;
    const epoch = tracker.epoch;
    const extra: Record<string, unknown> = { limit: Math.min(this.pageSize, this.remaining), ranges, bits };
    if (tracker.end !== null) extra.end = binaryToWire(tracker.end);
    const frame = requestFrame(Op.SCAN, epoch, binaryToWire(start), null, 0, 0, 0, extra);
    const r = await this.host.request(s.address, frame, deadline);
    // Re-planned meanwhile (ranges or start changed): this page no longer fits the stream.
    if (s.generation !== generation || s.next !== start) return;
    if (r.status !== Status.OK) {
      const details: { node: string; epoch?: number } = { node: s.address };
      if (typeof r.extra?.epoch === 'number') details.epoch = r.extra.epoch;
      throw errorFromAnswer(r, details);
    }
    const stated = r.extra;
    // A node states the epoch and the ranges it answered for; one that answered for
    // another epoch or for less than was asked is treated as a refusal. (A node that
    // states neither predates this check: its epoch gate still holds.)
    if (typeof stated?.epoch === 'number' && stated.epoch !== epoch) throw KvError.notMyBucket(stated.epoch, { node: s.address });
    if (stated?.ranges !== undefined) {
      const answered = readWireRanges(stated.ranges, stated.bits, Number.MAX_SAFE_INTEGER);
      if (typeof answered === 'string' || !coversAcrossBits(answered.ranges, answered.bits, ranges, bits)) {
        throw KvError.notMyBucket(epoch, { node: s.address });
      }
    }
    const flat = r.value;
    if (!Array.isArray(flat) || flat.length % 4 !== 0) throw KvError.protocol(`malformed scan page from ${s.address}`);
    const rows: ScanRow[] = [];
    for (let i = 0; i < flat.length; i += 4) {
      const value: unknown = flat[i + 1];
      if (!(value instanceof Uint8Array)) throw KvError.protocol(`scan entry without a byte value from ${s.address}`);
      rows.push({ key: wireToBinary(flat[i]), value, flags: Number(flat[i + 2]) || 0, cas: Number(flat[i + 3]) || 0 });
    }
    const next = stated?.next;
    tracker.accept(s, start, rows, next === null || next === undefined ? null : wireToBinary(next));
  }
}
