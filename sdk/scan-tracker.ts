import { KvError } from '../shared/errors.js';
import type { ClusterMap } from '../shared/cluster-map.js';
import { bucketOfBinary } from '../shared/keystream.js';
import {
  activeRangesAt, everyBucket, hasBucket, intersectRanges, isEmptyRanges, sameRanges, scaleRanges, subtractRanges, unionRanges,
} from '../shared/bucket-ranges.js';

/** One entry of a scan page, key as a binary string (one char per byte). */
export interface ScanRow {
  key: string;
  value: Uint8Array;
  flags: number;
  cas: number;
}

/** Counters of one scan, for tests, logs and benches. */
export interface ScanTrackerStats {
  /** Pages accepted. */
  pages: number;
  /** Maps the scan re-planned its streams for. */
  replans: number;
  /** Streams restarted after the last key returned because they took over ranges. */
  restarts: number;
  /** Times a node took over ranges mid-scan (a move, a promotion): they are read from it after the last key returned. */
  handovers: number;
  /** Buffered rows dropped because their ranges moved (they are read again from the new owner). */
  droppedRows: number;
  /** Rows a node sent for ranges it was not asked for, or outside `[start, end)`: ignored. */
  foreignRows: number;
  /** Rows a node sent twice in a row: ignored. */
  duplicateRows: number;
}

/**
 * One node's ordered stream: the ranges it reads for the scan, its buffered rows and where
 * it resumes. `next` null: every key of its ranges up to the end has been fetched.
 */
export class ScanStream {
  rows: ScanRow[] = [];
  index = 0;
  /** Raised whenever a re-plan changes the stream: a page asked for before then is stale. */
  generation = 0;

  constructor(readonly address: string, public ranges: number[], public next: string | null) {}

  get head(): ScanRow | undefined {
    return this.rows[this.index];
  }

  get isDone(): boolean {
    return this.next === null;
  }

  /** True when the merge cannot go on before this stream's next page arrives. */
  get needsPage(): boolean {
    return this.index >= this.rows.length && this.next !== null;
  }

  /** Buffered rows not yet merged. */
  get buffered(): number {
    return this.rows.length - this.index;
  }
}

/**
 * The pure heart of an exact scan: which bucket ranges each node reads, from which key,
 * and the k-way merge of their ordered streams. No I/O: the iterator asks it which pages
 * to fetch, hands the pages in, and tells it about each newer map.
 *
 * Invariants (docs/protocol.md "Scans across map changes"):
 * - the ranges of every stream and the unassigned ranges partition the bucket space;
 * - every key ≤ `lastKey` of every range was returned once; every key > `lastKey` of a
 *   stream's ranges that existed when it was read is buffered or at/after its `next`.
 * So when a map moves ranges away from a stream, the stream forgets its buffered rows of
 * those ranges and the new owner reads them after `lastKey`; a stream that takes ranges
 * over restarts after `lastKey` (dropping at most one buffered page), which keeps one
 * reading stream per node and the merge k-way.
 */
export class ScanTracker {
  /** Bucket bits every range is kept at: the finest map seen. */
  bits = 0;
  /** Epoch of the map the streams were planned for; requests carry it. */
  epoch = 0;
  /** The map the streams were planned for. */
  map: ClusterMap | null = null;
  /** Raw key (binary string) of the last row returned. */
  lastKey: string | null = null;
  readonly stats: ScanTrackerStats = { pages: 0, replans: 0, restarts: 0, handovers: 0, droppedRows: 0, foreignRows: 0, duplicateRows: 0 };
  private streams: ScanStream[] = [];
  /** Ranges no live node owns in `map` (their active failed): wait for a newer map. */
  private unassigned: number[] = everyBucket(0);

  /**
   * @param start first key (binary string, inclusive)
   * @param end end key (binary string, exclusive), or null for no end
   */
  constructor(readonly start: string, readonly end: string | null) {}

  /** The key to read from after the last row returned: exactly what is left. */
  resumeKey(): string {
    return this.lastKey === null ? this.start : `${this.lastKey}\0`;
  }

  /** True when part of the bucket space has no live owner in the current map. */
  get hasUnassigned(): boolean {
    return !isEmptyRanges(this.unassigned);
  }

  /** Streams in the merge (for tests and stats). */
  get streamList(): readonly ScanStream[] {
    return this.streams;
  }

  /** Streams whose next page must arrive before the merge can go on. */
  wanted(): ScanStream[] {
    return this.streams.filter((s) => s.needsPage);
  }

  /**
   * Re-plan for `map`: ranges whose active owner changed leave their stream (its buffered
   * rows of them are dropped) and go to the new owner's stream, read after the last key
   * returned. Ranges of a stream that read to the end stay with it whatever the map says.
   */
  assign(map: ClusterMap): void {
    if (map === this.map) return;
    const isReplan = this.map !== null;
    if (isReplan) this.stats.replans++;
    this.map = map;
    this.epoch = map.epoch;
    if (map.bits > this.bits) this.rescale(map.bits);
    const owners = new Map<string, number[]>();
    map.nodes.forEach((node, i) => {
      if (node.state === 'failed') return;
      const r = activeRangesAt(map, i, this.bits);
      if (!isEmptyRanges(r)) owners.set(node.address, unionRanges(owners.get(node.address) ?? [], r));
    });
    for (const s of this.streams) {
      if (s.isDone) continue;
      const keep = intersectRanges(s.ranges, owners.get(s.address) ?? []);
      if (sameRanges(keep, s.ranges)) continue;
      this.unassigned = unionRanges(this.unassigned, subtractRanges(s.ranges, keep));
      s.ranges = keep;
      s.generation++;
      this.keepRows(s);
    }
    this.streams = this.streams.filter((s) => s.isDone || !isEmptyRanges(s.ranges));
    for (const [address, owned] of owners) {
      const piece = intersectRanges(this.unassigned, owned);
      if (isEmptyRanges(piece)) continue;
      this.unassigned = subtractRanges(this.unassigned, piece);
      if (isReplan) this.stats.handovers++;
      const live = this.streams.find((s) => s.address === address && !s.isDone);
      if (live === undefined) {
        this.streams.push(new ScanStream(address, piece, this.resumeKey()));
        continue;
      }
      // Its buffered rows are after the last key returned: reading again from there
      // covers them and the new ranges with one stream.
      this.stats.droppedRows += live.rows.length - live.index;
      this.stats.restarts++;
      live.ranges = unionRanges(live.ranges, piece);
      live.generation++;
      live.rows = [];
      live.index = 0;
      live.next = this.resumeKey();
    }
  }

  /**
   * A page for `s`, read from `start` (its `next` when asked) for its current ranges,
   * appended to the rows it still buffers (a page may be read ahead): rows must come in strictly
   * increasing key order (else KV_ERR_PROTOCOL: a node that cannot keep order cannot be
   * merged exactly); rows outside the stream's ranges or `[start, end)` are ignored, as
   * is a row repeating the one before. `next` must be past every row and past `start`.
   */
  accept(s: ScanStream, start: string, rows: readonly ScanRow[], next: string | null): void {
    let previous: string | null = null;
    const kept: ScanRow[] = [];
    for (const row of rows) {
      if (previous !== null && row.key <= previous) {
        if (row.key === previous) {
          this.stats.duplicateRows++;
          continue;
        }
        throw KvError.protocol(`scan page from ${s.address} is out of key order`);
      }
      previous = row.key;
      if (row.key < start || (this.end !== null && row.key >= this.end) || !hasBucket(s.ranges, bucketOfBinary(row.key, this.bits))) {
        this.stats.foreignRows++;
        continue;
      }
      kept.push(row);
    }
    if (next !== null && (next <= start || (previous !== null && next <= previous))) {
      throw KvError.protocol(`scan page from ${s.address} resumes at a key it already passed`);
    }
    this.stats.pages++;
    s.rows = s.index < s.rows.length ? s.rows.slice(s.index).concat(kept) : kept;
    s.index = 0;
    s.next = next;
  }

  /**
   * The smallest buffered row, taken out of the merge; null when every stream is drained.
   * Call only when `wanted()` is empty and nothing is unassigned.
   */
  take(): ScanRow | null {
    for (;;) {
      let best: ScanStream | null = null;
      for (const s of this.streams) {
        const h = s.head;
        if (h !== undefined && (best === null || h.key < best.head!.key)) best = s;
      }
      if (best === null) {
        this.streams = this.streams.filter((s) => !s.isDone);
        return null;
      }
      const row = best.head!;
      best.index++;
      if (best.isDone && best.head === undefined) this.streams = this.streams.filter((s) => s !== best);
      // Ranges are disjoint, so this only trips on a node breaking the protocol; never
      // return a key twice or out of order.
      if (this.lastKey !== null && row.key <= this.lastKey) {
        this.stats.duplicateRows++;
        continue;
      }
      this.lastKey = row.key;
      return row;
    }
  }

  private rescale(bits: number): void {
    for (const s of this.streams) s.ranges = scaleRanges(s.ranges, this.bits, bits);
    this.unassigned = scaleRanges(this.unassigned, this.bits, bits);
    this.bits = bits;
  }

  // Drop buffered rows outside the stream's ranges (after it lost some).
  private keepRows(s: ScanStream): void {
    const rest = s.rows.slice(s.index);
    const kept = rest.filter((row) => hasBucket(s.ranges, bucketOfBinary(row.key, this.bits)));
    this.stats.droppedRows += rest.length - kept.length;
    s.rows = kept;
    s.index = 0;
  }
}
