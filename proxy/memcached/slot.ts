import type { McStoreStatus } from './backend.js';
import type { McGetSink, McSetSink } from './callback-backend.js';
import { errorLine } from './error-map.js';
import { END_REPLY, NO_REPLY, errorReply, storeReply, type McReply } from './responses.js';
import { ITEM_REPLY, itemChunks, itemReplyBytes, writeItemReply } from './item-reply.js';

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
  /** The value and client flags of a hit, while `reply` is `ITEM_REPLY`. */
  private value: Uint8Array = EMPTY;
  private flags = 0;

  /**
   * @param deadline `Date.now()` past which the command is answered with a timeout
   * @param fail the protocol's answer for a failure or timeout (binary); text answers with a line
   */
  constructor(private readonly owner: McSlotOwner, readonly deadline: number, readonly fail: ((err: unknown) => McReply) | null = null) {}

  onItem(value: Uint8Array | null, flags: number): void {
    if (this.reply !== null) return; // answered already (timed out)
    if (value === null) {
      this.owner.settle(this, END_REPLY);
      return;
    }
    // Rendered when written (`writeItem`): a hit costs no header, chunk list or answer object.
    this.value = value;
    this.flags = flags;
    this.owner.settle(this, ITEM_REPLY);
  }

  /** Bytes of this slot's answer when `reply` is `ITEM_REPLY`. */
  itemBytes(): number {
    return itemReplyBytes(this.key, this.value, this.flags);
  }

  /** Write this slot's `ITEM_REPLY` answer at `pos` of `out`; the position after it. */
  writeItem(out: Buffer, pos: number): number {
    const end = writeItemReply(out, pos, this.key, this.value, this.flags);
    this.value = EMPTY;
    return end;
  }

  /** This slot's `ITEM_REPLY` answer as chunks, the value uncopied (for answers too large to join). */
  itemChunks(): Uint8Array[] {
    const chunks = itemChunks(this.key, this.value, this.flags);
    this.value = EMPTY;
    return chunks;
  }

  onStored(status: McStoreStatus): void {
    this.owner.settle(this, this.isNoreply ? NO_REPLY : storeReply(status));
  }

  onError(err: unknown): void {
    this.owner.settle(this, errorReply(errorLine(err), this.isNoreply));
  }
}
