import type { ItemTable } from './item-table.js';

const NIL = -1;
const MIN_BUCKETS = 1024;

/**
 * Key → slot hash index: a power-of-two bucket array and a per-slot chain link, both
 * Int32Arrays (about 8 bytes per item). Keys are not stored here; candidates are
 * confirmed against the key bytes in the slot's chunk. Grows to keep at most one item
 * per bucket on average.
 */
export class HashIndex {
  private buckets: Int32Array;
  private mask: number;
  private next: Int32Array;
  private count = 0;

  constructor(
    private readonly items: ItemTable,
    slotCapacity: number,
  ) {
    this.buckets = new Int32Array(MIN_BUCKETS).fill(NIL);
    this.mask = MIN_BUCKETS - 1;
    this.next = new Int32Array(slotCapacity);
  }

  /** Slot holding `key` (whose hash is `h`), or -1. */
  find(key: string, h: number): number {
    const items = this.items;
    const next = this.next;
    for (let s = this.buckets[h & this.mask]!; s !== NIL; s = next[s]!) {
      if (items.keyEquals(s, key)) return s;
    }
    return NIL;
  }

  /** Slot whose chunk is at `addr` (key hash `h`), or -1. */
  findByAddress(h: number, addr: number): number {
    const items = this.items;
    const next = this.next;
    for (let s = this.buckets[h & this.mask]!; s !== NIL; s = next[s]!) {
      if (items.loc(s) === addr) return s;
    }
    return NIL;
  }

  insert(slot: number, h: number): void {
    if (this.count >= this.buckets.length) this.rehash(this.buckets.length * 2);
    const b = h & this.mask;
    this.next[slot] = this.buckets[b]!;
    this.buckets[b] = slot;
    this.count++;
  }

  remove(slot: number, h: number): void {
    const b = h & this.mask;
    let s = this.buckets[b]!;
    if (s === slot) {
      this.buckets[b] = this.next[slot]!;
    } else {
      while (s !== NIL && this.next[s] !== slot) s = this.next[s]!;
      if (s === NIL) return;
      this.next[s] = this.next[slot]!;
    }
    this.count--;
  }

  /** Grow the per-slot chain array to `capacity` slots. */
  resizeSlots(capacity: number): void {
    const next = new Int32Array(capacity);
    next.set(this.next.subarray(0, Math.min(capacity, this.next.length)));
    this.next = next;
  }

  clear(): void {
    this.buckets = new Int32Array(MIN_BUCKETS).fill(NIL);
    this.mask = MIN_BUCKETS - 1;
    this.count = 0;
  }

  private rehash(size: number): void {
    const buckets = new Int32Array(size).fill(NIL);
    const mask = size - 1;
    const next = this.next;
    const items = this.items;
    // Slot order rather than chain order: records and chunks are then read mostly
    // sequentially, which is several times faster than hopping along the chains.
    const end = items.highWater;
    for (let s = 0; s < end; s++) {
      if (!items.isLive(s)) continue;
      const b = items.hashOf(s) & mask;
      next[s] = buckets[b]!;
      buckets[b] = s;
    }
    this.buckets = buckets;
    this.mask = mask;
  }
}
