import { bucketOfBinary } from '../../../shared/keystream.js';
import { unitGridRanges, unitOf, type ClusterMap } from '../../../shared/cluster-map.js';
import { INDEX_BUCKET_BITS, type KvEngine } from '../engine/types.js';

/** Keys read per slice; one slice per event-loop turn, so requests keep being served. */
const SLICE_KEYS = 2048;

/**
 * Delete the engine's items of `units` (a backfill is about to copy them afresh), except
 * those `isKept` names (keys the stream wrote meanwhile). With a bucket index only the
 * units' own key ranges are read; otherwise every key is. Stops when `map()` turns null
 * (the node closes).
 */
export async function clearUnits(
  engine: KvEngine,
  units: ReadonlySet<number>,
  host: { map(): ClusterMap | null; isKept(unit: number, key: string): boolean },
): Promise<void> {
  const drop = (keys: readonly string[]): boolean => {
    const map = host.map();
    if (map === null) return false;
    for (const key of keys) {
      const unit = unitOf(map, bucketOfBinary(key, map.bits));
      if (units.has(unit) && !host.isKept(unit, key)) engine.delete(key);
    }
    return true;
  };
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const unitBits = host.map()?.unitBits;
  const ranges = unitBits === undefined || !engine.hasBucketIndex ? null : unitGridRanges(units, unitBits, INDEX_BUCKET_BITS);
  if (ranges !== null) {
    for (const [lo, hi] of ranges) {
      let after: string | null = null;
      do {
        const page: { keys: string[]; next: string | null } = engine.bucketKeys(lo, hi, after, SLICE_KEYS)!;
        if (!drop(page.keys)) return;
        after = page.next;
        await turn();
      } while (after !== null);
    }
    return;
  }
  let after: string | null = null;
  for (;;) {
    const page = engine.scanKeys(after === null ? '' : `${after}\0`, SLICE_KEYS);
    if (!drop(page.keys)) return;
    const last = page.keys.length > 0 ? page.keys[page.keys.length - 1]! : null;
    if (page.nextKey === null || last === null) return;
    after = last;
    await turn();
  }
}
