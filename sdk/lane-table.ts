import type { LaneRequest } from './lane-contract.js';

/** Largest request id: ids fit the packed layout's 32-bit field. */
const MAX_ID = 0xffffffff;

/** Most slots a table keeps: `maxInFlight` beyond this admits at most this many at once. */
const MAX_SLOTS = 1 << 16;

/**
 * Slots kept beyond `maxInFlight`: the authentication handshake admits its frames
 * whatever the room (requests admitted while the lane was connecting may fill it).
 */
const SPARE_SLOTS = 16;

/**
 * A lane's unanswered requests: those admitted (an id, sent or about to be) by id, at
 * most `maxInFlight`, and behind them a wait queue of at most `maxQueued`. Pure
 * bookkeeping, no I/O: the lane decides what to send and when.
 *
 * Admitted requests sit in a ring of slots indexed by the low bits of their id (ids count
 * up, so consecutive requests take consecutive slots). A Map keyed by id did the same
 * work, but every few dozen answers it rebuilt its backing store, and each store, held
 * by a long-lived table, kept the requests it referenced alive past the young
 * generation: at full load nearly everything an operation allocated was promoted
 * (179.5 MB in 3 s of GETs against 1.9 MB with the ring; docs/benchmarks.md).
 */
export class RequestTable {
  private readonly slots: Array<LaneRequest | undefined>;
  private readonly mask: number;
  private readonly maxAdmitted: number;
  private count = 0;
  private waiting: LaneRequest[] = [];
  private waitingHead = 0;
  private nextId = 1;

  /** @param firstId the first id handed out (tests start near the wrap) */
  constructor(maxInFlight: number, private readonly maxQueued: number, firstId = 1) {
    this.nextId = firstId;
    let size = 16;
    while (size < maxInFlight + SPARE_SLOTS && size < MAX_SLOTS) size *= 2;
    this.slots = new Array<LaneRequest | undefined>(size).fill(undefined);
    this.mask = size - 1;
    this.maxAdmitted = Math.min(maxInFlight, size - SPARE_SLOTS);
  }

  /** True while a new request would be admitted at once rather than queued. */
  get hasRoom(): boolean {
    return this.count < this.maxAdmitted;
  }

  /** True while the wait queue takes one more. */
  get hasQueueRoom(): boolean {
    return this.waiting.length - this.waitingHead < this.maxQueued;
  }

  /** Admitted requests, not yet answered. */
  get inFlight(): number {
    return this.count;
  }

  /** Nothing admitted and nothing waiting. */
  get isEmpty(): boolean {
    return this.count === 0 && this.waitingHead >= this.waiting.length;
  }

  /**
   * Give `req` the next id (written into its array frame too) and count it in flight.
   * Ids count up from 1 and wrap after 2^32 − 1 (the packed layout's id is 32 bits),
   * skipping any whose slot is still taken (so no two in flight share an id). Admits
   * past `hasRoom` too, into the spare slots (the handshake's frames).
   * @throws Error when every slot is taken
   */
  admit(req: LaneRequest): void {
    if (this.count >= this.slots.length) throw new Error('request table full');
    let id = this.nextId;
    while (this.slots[id & this.mask] !== undefined) id = id >= MAX_ID ? 1 : id + 1;
    this.nextId = id >= MAX_ID ? 1 : id + 1;
    req.id = id;
    if (req.frame !== null) req.frame[0] = id;
    this.slots[id & this.mask] = req;
    this.count++;
  }

  /** Put `req` at the end of the wait queue (the caller checked `hasQueueRoom`). */
  queue(req: LaneRequest): void {
    this.waiting.push(req);
  }

  /** The next queued request when there is room to admit it; undefined otherwise. */
  nextWaiting(): LaneRequest | undefined {
    if (this.count >= this.maxAdmitted || this.waitingHead >= this.waiting.length) return undefined;
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
    const at = id & this.mask;
    const req = this.slots[at];
    if (req === undefined || req.id !== id) return undefined;
    this.slots[at] = undefined;
    this.count--;
    return req;
  }

  /** Remove and return every request: admitted ones, then queued ones. */
  takeAll(): { admitted: LaneRequest[]; queued: LaneRequest[] } {
    const admitted: LaneRequest[] = [];
    for (let i = 0; i < this.slots.length && this.count > 0; i++) {
      const req = this.slots[i];
      if (req === undefined) continue;
      this.slots[i] = undefined;
      this.count--;
      admitted.push(req);
    }
    admitted.sort((a, b) => a.id - b.id);
    const queued = this.waiting.slice(this.waitingHead);
    this.waiting = [];
    this.waitingHead = 0;
    return { admitted, queued };
  }

  /** Remove and return the requests whose deadline is not after `now`. */
  takeExpired(now: number): { admitted: LaneRequest[]; queued: LaneRequest[] } {
    const admitted: LaneRequest[] = [];
    const queued: LaneRequest[] = [];
    let seen = 0;
    for (let i = 0; i < this.slots.length && seen < this.count; i++) {
      const req = this.slots[i];
      if (req === undefined) continue;
      seen++;
      if (req.deadline > now) continue;
      this.slots[i] = undefined;
      admitted.push(req);
    }
    this.count -= admitted.length;
    admitted.sort((a, b) => a.id - b.id);
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
