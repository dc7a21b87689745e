const NIL = -1;

/**
 * Intrusive doubly linked recency list over item slot ids, kept in two Int32Arrays so
 * it costs 8 bytes per slot and no objects. Head is the most recently used.
 */
export class LruList {
  /** Neighbour towards the head, or -1. */
  prev: Int32Array;
  /** Neighbour towards the tail, or -1. */
  next: Int32Array;
  head = NIL;
  tail = NIL;

  constructor(capacity: number) {
    this.prev = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
  }

  /** Grow the link arrays to `capacity` slots, keeping the links. */
  resize(capacity: number): void {
    const prev = new Int32Array(capacity);
    const next = new Int32Array(capacity);
    prev.set(this.prev.subarray(0, Math.min(capacity, this.prev.length)));
    next.set(this.next.subarray(0, Math.min(capacity, this.next.length)));
    this.prev = prev;
    this.next = next;
  }

  pushFront(slot: number): void {
    const head = this.head;
    this.prev[slot] = NIL;
    this.next[slot] = head;
    if (head === NIL) this.tail = slot;
    else this.prev[head] = slot;
    this.head = slot;
  }

  remove(slot: number): void {
    const p = this.prev[slot]!;
    const n = this.next[slot]!;
    if (p === NIL) this.head = n;
    else this.next[p] = n;
    if (n === NIL) this.tail = p;
    else this.prev[n] = p;
  }

  moveToFront(slot: number): void {
    if (this.head === slot) return;
    this.remove(slot);
    this.pushFront(slot);
  }

  clear(): void {
    this.head = NIL;
    this.tail = NIL;
  }
}
