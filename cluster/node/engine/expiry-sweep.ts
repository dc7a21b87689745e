import { isExpiredAt } from './expiry.js';
import type { DiskEntry } from './read-cache.js';

/** What the sweep needs from the disk engine. */
export interface ExpirySweepHost {
  readonly isClosed: boolean;
  /** Every key from `start` on, in byte order, with its newest state. */
  range(start: string): Iterable<[string, DiskEntry]>;
  /** Now, in seconds. */
  nowS(): number;
  /** Delete these expired keys (a no-op while writes are refused). */
  reclaim(keys: string[]): void;
}

/**
 * The disk engine's background expiry: every `intervalMs` a pass over every key, in
 * slices of `sliceKeys` keys, one slice per event-loop turn, deletes the expired ones
 * (reads already hide them; this gives their space back).
 */
export class ExpirySweeper {
  private isSweeping = false;
  private readonly timer: NodeJS.Timeout | null;

  constructor(private readonly host: ExpirySweepHost, private readonly sliceKeys: number, intervalMs: number) {
    this.timer = intervalMs > 0 ? setInterval(this.start, intervalMs) : null;
    this.timer?.unref();
  }

  /** Start a pass now, unless one runs. */
  readonly start = (): void => {
    if (this.isSweeping || this.host.isClosed) return;
    this.isSweeping = true;
    this.sweepFrom('');
  };

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  private sweepFrom(start: string): void {
    if (this.host.isClosed) {
      this.isSweeping = false;
      return;
    }
    const now = this.host.nowS();
    let seen = 0;
    let next: string | null = null;
    const expired: string[] = [];
    for (const [key, e] of this.host.range(start)) {
      if (seen++ >= this.sliceKeys) {
        next = key;
        break;
      }
      if (isExpiredAt(e.expAt, now)) expired.push(key);
    }
    this.host.reclaim(expired);
    if (next === null) {
      this.isSweeping = false;
      return;
    }
    const from = next;
    setImmediate(() => this.sweepFrom(from));
  }
}
