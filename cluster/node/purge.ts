import type { KvEngine } from './engine/types.js';
import type { Ownership } from './ownership.js';

/**
 * Drops the items of buckets this node no longer holds a copy of (after a move switched
 * them away, or a failover took them), so an old owner's memory is freed. Runs in small
 * slices on `setImmediate` so the node keeps serving, and checks ownership per key at
 * delete time: a bucket that comes back (a new move) is never purged under its backfill.
 */
export class Purger {
  private isRunning = false;
  private isRequested = false;
  private isClosed = false;
  /** Items dropped so far. */
  purged = 0;

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
    this.pass(null);
  }

  close(): void {
    this.isClosed = true;
  }

  private pass(after: string | null): void {
    if (this.isClosed) return;
    if (this.hooks.isHeld?.() === true) {
      // Held mid-pass; the release requests a new pass.
      this.isRunning = false;
      this.isRequested = false;
      return;
    }
    const page = this.engine.scanKeys(after === null ? '' : `${after}\0`, this.sliceKeys);
    for (const key of page.keys) {
      if (!this.ownership.holdsKey(key)) {
        this.engine.delete(key);
        this.purged++;
      }
    }
    const last = page.keys.length > 0 ? page.keys[page.keys.length - 1]! : null;
    if (page.nextKey !== null && last !== null) {
      setImmediate(() => this.pass(last));
      return;
    }
    this.isRunning = false;
    if (this.isRequested) {
      this.isRequested = false;
      this.request();
    }
  }
}
