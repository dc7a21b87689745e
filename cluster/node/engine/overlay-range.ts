import type { Database } from 'lmdb';
import { decodeEntry, keyBytes } from './disk-record.js';
import type { DiskEntry } from './read-cache.js';

/**
 * Every key in `[start, end)` (end null: to the last key) in byte order with its newest
 * state: the overlay layers (writes not yet committed, newest layer first; null is a
 * delete) merged over the store's items. Store values are copied: lmdb may reuse the
 * buffers it hands out while iterating.
 */
export function* mergeRange(
  layers: ReadonlyArray<ReadonlyMap<string, DiskEntry | null>>,
  items: Database<Buffer, Buffer> | null,
  start: string,
  end: string | null,
): Generator<[string, DiskEntry]> {
  const overlay = new Map<string, DiskEntry | null>();
  for (const layer of layers) {
    for (const [key, e] of layer) {
      if (key >= start && (end === null || key < end) && !overlay.has(key)) overlay.set(key, e);
    }
  }
  // Binary strings: UTF-16 code unit order is byte order.
  const keys = [...overlay.keys()].sort();
  let at = 0;
  const it = items === null
    ? null
    : items.getRange({ start: start === '' ? undefined : keyBytes(start), end: end === null ? undefined : keyBytes(end) })[Symbol.iterator]();
  try {
    let next = it?.next();
    for (;;) {
      const storeKey = next === undefined || next.done === true ? null : next.value.key.toString('latin1');
      const overlayKey = at < keys.length ? keys[at]! : null;
      if (storeKey === null && overlayKey === null) return;
      if (overlayKey !== null && (storeKey === null || overlayKey <= storeKey)) {
        const e = overlay.get(overlayKey)!;
        at++;
        // The overlay's state replaces the store's for the same key.
        if (overlayKey === storeKey) next = it!.next();
        if (e !== null) yield [overlayKey, e];
        continue;
      }
      const e = decodeEntry(Buffer.from(next!.value!.value));
      next = it!.next();
      if (e !== null) yield [storeKey!, e];
    }
  } finally {
    it?.return?.();
  }
}
