import type { McStoreStatus } from './backend.js';
import type { McGetSink, McSetSink } from './callback-backend.js';
import { errorLine } from './error-map.js';
import { END_REPLY, NO_REPLY, errorReply, singleValueReply, storeReply, type McReply } from './responses.js';

/** What a slot reports its answer to: the connection that owns it. */
export interface McSlotOwner {
  settle(slot: McSlot, rep: McReply): void;
}

const EMPTY = new Uint8Array(0);

/**
 * One command's place in a connection's answer order. It is also where the callback
 * forms of `get` and `set` report (`McGetSink`, `McSetSink`), so those commands cost
 * this one object and no closure or promise.
 */
export class McSlot implements McGetSink, McSetSink {
  reply: McReply | null = null;
  /** Close the connection once this answer is written. */
  isLast = false;
  /** The key a one-key `get` echoes. */
  key: Uint8Array = EMPTY;
  /** A `set` with `noreply`: success and failure answer nothing. */
  isNoreply = false;

  /**
   * @param deadline `Date.now()` past which the command is answered with a timeout
   * @param fail the protocol's answer for a failure or timeout (binary); text answers with a line
   */
  constructor(private readonly owner: McSlotOwner, readonly deadline: number, readonly fail: ((err: unknown) => McReply) | null = null) {}

  onItem(value: Uint8Array | null, flags: number): void {
    this.owner.settle(this, value === null ? END_REPLY : singleValueReply(this.key, value, flags));
  }

  onStored(status: McStoreStatus): void {
    this.owner.settle(this, this.isNoreply ? NO_REPLY : storeReply(status));
  }

  onError(err: unknown): void {
    this.owner.settle(this, errorReply(errorLine(err), this.isNoreply));
  }
}
