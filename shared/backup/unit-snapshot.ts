import type { BackupItem } from './backup-format.js';

/**
 * One unit's items as a backup assembles them: the pages read from seqno S0 on, then the
 * change records (S0, S1] applied over them in order. Records carry an item's whole
 * state after each write (or its removal), so the result is the unit's state at S1: a
 * key written during the paging ends as its last record says, and a key no record
 * touched did not change while it was paged. Keys are binary strings (latin1).
 */
export class UnitSnapshot {
  private readonly items = new Map<string, BackupItem>();
  private keyBytes = 0;
  private valueBytes = 0;

  /** Seqno the paging started at (S0). */
  constructor(readonly unit: number, readonly startSeq: number) {}

  get size(): number {
    return this.items.size;
  }

  /** Bytes of keys and values held. */
  get bytes(): number {
    return this.keyBytes + this.valueBytes;
  }

  /** An item as a page returned it. */
  put(key: Uint8Array, value: Uint8Array, flags: number, expAt: number): void {
    this.remove(key);
    const k = Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1');
    this.items.set(k, { key, value, flags, expAt });
    this.keyBytes += key.length;
    this.valueBytes += value.length;
  }

  /** A change record: the item's state after a write, or its removal (`value` null). */
  apply(key: Uint8Array, value: Uint8Array | null, flags: number, expAt: number): void {
    if (value === null) this.remove(key);
    else this.put(key, value, flags, expAt);
  }

  /** The items in key (byte) order, without those expired at `nowS` (unix seconds). */
  sorted(nowS: number): BackupItem[] {
    const keys = [...this.items.keys()].sort();
    const out: BackupItem[] = [];
    for (const k of keys) {
      const it = this.items.get(k)!;
      if (it.expAt !== 0 && it.expAt <= nowS) continue;
      out.push(it);
    }
    return out;
  }

  private remove(key: Uint8Array): void {
    const k = Buffer.from(key.buffer, key.byteOffset, key.length).toString('latin1');
    const old = this.items.get(k);
    if (old === undefined) return;
    this.items.delete(k);
    this.keyBytes -= old.key.length;
    this.valueBytes -= old.value.length;
  }
}
