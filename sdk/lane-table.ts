import type { LaneRequest } from './lane-contract.js';

/** Largest request id: ids fit the packed layout's 32-bit field. */
const MAX_ID = 0xffffffff;

/**
 * A lane's unanswered requests: those admitted (an id, sent or about to be) by id, at
 * most `maxInFlight`, and behind them a wait queue of at most `maxQueued`. Pure
 * bookkeeping, no I/O: the lane decides what to send and when.
 */
export class RequestTable {
  private readonly pending = new Map<number, LaneRequest>();
  private waiting: LaneRequest[] = [];
  private waitingHead = 0;
  private nextId = 1;
  /** Ids passed `MAX_ID` once: a new id may collide with one still in flight. */
  private hasWrapped = false;

  /** @param firstId the first id handed out (tests start near the wrap) */
  constructor(private readonly maxInFlight: number, private readonly maxQueued: number, firstId = 1) {
    this.nextId = firstId;
  }

  /** True while a new request would be admitted at once rather than queued. */
  get hasRoom(): boolean {
    return this.pending.size < this.maxInFlight;
  }

  /** True while the wait queue takes one more. */
  get hasQueueRoom(): boolean {
    return this.waiting.length - this.waitingHead < this.maxQueued;
  }

  /** Admitted requests, not yet answered. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Nothing admitted and nothing waiting. */
  get isEmpty(): boolean {
    return this.pending.size === 0 && this.waitingHead >= this.waiting.length;
  }

  /**
   * Give `req` the next id (written into its array frame too) and count it in flight.
   * Ids count up from 1 and wrap after 2^32 − 1 (the packed layout's id is 32 bits),
   * skipping any still in flight.
   */
  admit(req: LaneRequest): void {
    let id = this.nextId;
    if (this.hasWrapped) while (this.pending.has(id)) id = id >= MAX_ID ? 1 : id + 1;
    if (id >= MAX_ID) {
      this.nextId = 1;
      this.hasWrapped = true;
    } else {
      this.nextId = id + 1;
    }
    req.id = id;
    if (req.frame !== null) req.frame[0] = id;
    this.pending.set(id, req);
  }

  /** Put `req` at the end of the wait queue (the caller checked `hasQueueRoom`). */
  queue(req: LaneRequest): void {
    this.waiting.push(req);
  }

  /** The next queued request when there is room to admit it; undefined otherwise. */
  nextWaiting(): LaneRequest | undefined {
    if (this.pending.size >= this.maxInFlight || this.waitingHead >= this.waiting.length) return undefined;
    const req = this.waiting[this.waitingHead]!;
    this.waiting[this.waitingHead++] = undefined as unknown as LaneRequest;
    if (this.waitingHead > 1024 && this.waitingHead * 2 > this.waiting.length) {
      this.waiting = this.waiting.slice(this.waitingHead);
      this.waitingHead = 0;
    }
    return req;
  }

  /** The admitted request with `id`, removed; undefined when there is none (it timed out). */
  take(id: number): LaneRequest | undefined {
    const req = this.pending.get(id);
    if (req !== undefined) this.pending.delete(id);
    return req;
  }

  /** Remove and return every request: admitted ones, then queued ones. */
  takeAll(): { admitted: LaneRequest[]; queued: LaneRequest[] } {
    const admitted = [...this.pending.values()];
    this.pending.clear();
    const queued = this.waiting.slice(this.waitingHead);
    this.waiting = [];
    this.waitingHead = 0;
    return { admitted, queued };
  }

  /** Remove and return the requests whose deadline is not after `now`. */
  takeExpired(now: number): { admitted: LaneRequest[]; queued: LaneRequest[] } {
    const admitted: LaneRequest[] = [];
    const queued: LaneRequest[] = [];
    for (const [id, req] of this.pending) {
      if (req.deadline > now) continue;
      this.pending.delete(id);
      admitted.push(req);
    }
    for (let i = this.waitingHead; i < this.waiting.length; i++) {
      const req = this.waiting[i]!;
      if (req.deadline > now) continue;
      this.waiting.splice(i, 1);
      i--;
      queued.push(req);
    }
    return { admitted, queued };
  }
}
