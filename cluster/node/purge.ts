import { Status } from '../../shared/status.js';
import { INDEX_BUCKET_BITS, type KvEngine } from './engine/types.js';
import type { Ownership } from './ownership.js';

/**
 * Drops the items of buckets this node no longer holds a copy of (after a move switched
 * them away, or a failover took them), so an old owner's memory and disk are freed. Runs
 * in small slices on `setImmediate` so the node keeps serving, and checks ownership per
 * key at delete time: a bucket that comes back (a new move) is never purged under its
 * backfill.
 *
 * An engine with a bucket index (the disk engine) is asked only for the keys of the
 * bucket ranges this node does not hold, range by range; the memory engine's keys are
 * walked whole, each checked.
 */
export class Purger {
  private isRunning = false;
  private isRequested = false;
  private isClosed = false;
  /** Items dropped so far. */
  purged = 0;
  /** Keys looked at by the passes so far (all of them, without a bucket index). */
  keysRead = 0;

  /**
   * @param hooks `beforePass` runs as each pass starts (replication forgets the history of
   *   units about to lose their items); while `isHeld()` no item is dropped (a node back
   *   from a failover keeps its data to catch up with only what it missed)
   */
  constructor(
    private readonly engine: KvEngine,
    private readonly ownership: Ownership,
    private readonly hooks: { beforePass?: () => void; isHeld?: () => boolean } = {},
    private readonly sliceKeys = 2048,
  ) {}

  /** Start a pass (or another one after the current pass, if one is running). */
  request(): void {
    if (this.isClosed) return;
    if (this.isRunning) {
      this.isRequested = true;
      return;
    }
    if (this.hooks.isHeld?.() === true) return;
    this.isRunning = true;
    this.hooks.beforePass?.();
    if (this.engine.hasBucketIndex) this.rangePass(this.ownership.unheldRanges(INDEX_BUCKET_BITS), 0, null);
    else this.pass(null);
  }

  close(): void {
    this.isClosed = true;
  }

  /** False when the pass is to stop here (closed, or held: the release requests a new pass). */
  private isGoing(): boolean {
    if (this.isClosed) return false;
    if (this.hooks.isHeld?.() !== true) return true;
    this.isRunning = false;
    this.isRequested = false;
    return false;
  }

  private drop(keys: readonly string[]): void {
    this.keysRead += keys.length;
    for (const key of keys) {
      if (!this.ownership.holdsKey(key) && this.engine.delete(key) === Status.OK) this.purged++;
    }
  }

  /** A pass over every key. */
  private pass(after: string | null): void {
    if (!this.isGoing()) return;
    const page = this.engine.scanKeys(after === null ? '' : `${after}\0`, this.sliceKeys);
    this.drop(page.keys);
    const last = page.keys.length > 0 ? page.keys[page.keys.length - 1]! : null;
    if (page.nextKey !== null && last !== null) {
      setImmediate(() => this.pass(last));
      return;
    }
    this.finish();
  }

  /**
   * A pass over the bucket index's ranges `ranges` (at INDEX_BUCKET_BITS), from range `i`
   * at position `after`. A slice reads up to `sliceKeys` keys (an empty range counts one).
   */
  private rangePass(ranges: ReadonlyArray<readonly [number, number]>, i: number, after: string | null): void {
    if (!this.isGoing()) return;
    let budget = this.sliceKeys;
    while (i < ranges.length && budget > 0) {
      const [lo, hi] = ranges[i]!;
      const page = this.engine.bucketKeys(lo, hi, after, budget)!;
      budget -= Math.max(1, page.keys.length);
      this.drop(page.keys);
      after = page.next;
      if (after === null) i++;
    }
    if (i < ranges.length) {
      setImmediate(() => this.rangePass(ranges, i, after));
      return;
    }
    this.finish();
  }

  private finish(): void {
    this.isRunning = false;
    if (this.isRequested) {
      this.isRequested = false;
      this.request();
    }
  }
}
