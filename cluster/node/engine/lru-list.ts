import { F_NEXT, F_PREV, RECORD_SHIFT } from './item-layout.js';

const NIL = -1;

/** The record words the list links through; replaced when the table grows. */
export interface LinkSource {
  readonly links: Int32Array;
}

/**
 * Intrusive doubly linked recency list over item slots. The links live in the slots'
 * metadata records (see item-layout.ts), so the list owns no memory of its own. Head
 * is the most recently used.
 */
export class LruList {
  head = NIL;
  tail = NIL;

  constructor(private readonly source: LinkSource) {}

  /** The slot just more recent than `slot`, or -1. */
  prevOf(slot: number): number {
    return this.source.links[(slot << RECORD_SHIFT) + F_PREV]!;
  }

  pushFront(slot: number): void {
    const links = this.source.links;
    const head = this.head;
    const at = slot << RECORD_SHIFT;
    links[at + F_PREV] = NIL;
    links[at + F_NEXT] = head;
    if (head === NIL) this.tail = slot;
    else links[(head << RECORD_SHIFT) + F_PREV] = slot;
    this.head = slot;
  }

  remove(slot: number): void {
    const links = this.source.links;
    const at = slot << RECORD_SHIFT;
    const p = links[at + F_PREV]!;
    const n = links[at + F_NEXT]!;
    if (p === NIL) this.head = n;
    else links[(p << RECORD_SHIFT) + F_NEXT] = n;
    if (n === NIL) this.tail = p;
    else links[(n << RECORD_SHIFT) + F_PREV] = p;
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
