import { performance } from 'node:perf_hooks';
import { EventEmitter } from 'eventemitter3';

export interface OwnershipLeaseEvents {
  /** The lease ran out: the node stopped serving its units. */
  fence: (info: { lateMs: number; epoch: number }) => void;
  /** A renewal came back: the node serves again. */
  unfence: (info: { fencedMs: number; epoch: number }) => void;
}

/**
 * A node's lease on the units it is active for (DESIGN §4). The manager renews it by
 * acknowledging a heartbeat (or a registration) once the node's liveness lease in the
 * config store was refreshed; the node may then serve until `fenceAfterMs` after it *sent*
 * that heartbeat, on the monotonic clock. The manager fails a node over only after its
 * liveness lease (`failoverAfterMs`, strictly longer) ran out without a refresh, so a node
 * that went quiet (paused, partitioned, or cut off from every manager) has stopped
 * serving before any replica takes over. The check runs on every request, so a process
 * that was paused sees at once, on resuming, that its lease ran out.
 *
 * A node that was never given terms (no manager, or one that offers none) is not fenced.
 */
export class OwnershipLease extends EventEmitter<OwnershipLeaseEvents> {
  private fenceAfterMs: number | null = null;
  /** Serving is allowed while `now() < validUntil`. */
  private validUntil = -Infinity;
  /** The map epoch the last renewal was given at: the node's map must be at least as new. */
  private ackEpoch = 0;
  private isFencedNow = true;
  private fencedAt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly now: () => number = () => performance.now()) {
    super();
  }

  /** True once a manager set terms: from then on serving needs a valid lease. */
  get isEnforced(): boolean {
    return this.fenceAfterMs !== null;
  }

  /** The lease length the manager granted (ms); null while none is enforced. */
  get termMs(): number | null {
    return this.fenceAfterMs;
  }

  /** The lease length the manager grants; null lifts enforcement. */
  setTerms(fenceAfterMs: number | null): void {
    this.fenceAfterMs = fenceAfterMs !== null && fenceAfterMs > 0 ? fenceAfterMs : null;
  }

  /**
   * The renewal sent at `sentAt` (this lease's clock) was acknowledged at map `epoch`.
   * Late acknowledgements of old renewals never move the end backwards.
   */
  renewed(sentAt: number, epoch: number): void {
    if (this.fenceAfterMs === null) return;
    const until = sentAt + this.fenceAfterMs;
    if (until > this.validUntil) this.validUntil = until;
    if (epoch > this.ackEpoch) this.ackEpoch = epoch;
    this.arm();
  }

  /** May the node serve requests for its units now, holding a map at `mapEpoch`? */
  isValid(mapEpoch: number): boolean {
    if (this.fenceAfterMs === null) return true;
    const ok = this.now() < this.validUntil && mapEpoch >= this.ackEpoch;
    if (ok === this.isFencedNow) this.flip(ok, mapEpoch);
    return ok;
  }

  /** Milliseconds of lease left (negative once run out); Infinity when not enforced. */
  remainingMs(): number {
    return this.fenceAfterMs === null ? Infinity : this.validUntil - this.now();
  }

  get isFenced(): boolean {
    return this.fenceAfterMs !== null && this.isFencedNow;
  }

  close(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private flip(isServing: boolean, epoch: number): void {
    const now = this.now();
    this.isFencedNow = !isServing;
    if (isServing) {
      const fencedMs = this.fencedAt === 0 ? 0 : now - this.fencedAt;
      queueMicrotask(() => this.emit('unfence', { fencedMs: Math.round(fencedMs), epoch }));
    } else {
      this.fencedAt = now;
      const lateMs = Number.isFinite(this.validUntil) ? now - this.validUntil : 0;
      queueMicrotask(() => this.emit('fence', { lateMs: Math.round(lateMs), epoch }));
    }
  }

  // Notice the end of the lease even when no request arrives, so it is logged on time.
  private arm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    const ms = Math.max(0, this.validUntil - this.now());
    this.timer = setTimeout(this.onTimer, ms + 1);
    this.timer.unref();
    if (this.isFencedNow && this.now() < this.validUntil) this.flip(true, this.ackEpoch);
  }

  private readonly onTimer = (): void => {
    this.timer = null;
    if (this.now() >= this.validUntil && !this.isFencedNow) this.flip(false, this.ackEpoch);
  };
}
