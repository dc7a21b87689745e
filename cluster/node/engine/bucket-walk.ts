import { bucketOfBinary } from '../../../shared/keystream.js';
import { INDEX_BUCKET_BITS } from './types.js';

/** Committed keys read from the store per slice of a walk. */
const SLICE_KEYS = 256;

/**
 * A key's position in the bucket index, as a binary string: its bucket at
 * INDEX_BUCKET_BITS (2 bytes, big-endian), then the key. Positions sort as the index does.
 */
function positionOf(key: string): string {
  const bucket = bucketOfBinary(key, INDEX_BUCKET_BITS);
  return String.fromCharCode(bucket >>> 8, bucket & 0xff) + key;
}

/** The bucket a position lies in. */
function bucketOfPosition(position: string): number {
  return (position.charCodeAt(0) << 8) | position.charCodeAt(1);
}

/** What a walk reads: committed positions from the index, and keys written but not yet committed. */
export interface BucketSource {
  /** Positions in `[lo, hi)` after `after` (exclusive; null: from `lo`), in order, at most `limit`. */
  storePositions(lo: number, hi: number, after: string | null, limit: number): string[];
  /** Keys in `[lo, hi)` written since the last commit (not deletes), any order. */
  pendingKeys(lo: number, hi: number): string[];
}

/**
 * Visit the keys of bucket ranges `ranges` (sorted, at INDEX_BUCKET_BITS) in index order,
 * starting after position `after` (null: from the start), committed and pending keys
 * merged, each once. `visit` returns false to stop; the walk then returns the position of
 * the key it stopped at (to go on from), or null once every range is done.
 */
export function walkBuckets(
  source: BucketSource,
  ranges: ReadonlyArray<readonly [number, number]>,
  after: string | null,
  visit: (key: string) => boolean,
): string | null {
  const startBucket = after === null ? -1 : bucketOfPosition(after);
  for (const [lo, hi] of ranges) {
    if (hi <= startBucket) continue;
    const from = after !== null && startBucket >= lo ? after : null;
    const pending = source.pendingKeys(lo, hi).map(positionOf).filter((p) => from === null || p > from).sort();
    let pi = 0;
    let slice = source.storePositions(lo, hi, from, SLICE_KEYS);
    let si = 0;
    for (;;) {
      if (si >= slice.length && slice.length === SLICE_KEYS) {
        slice = source.storePositions(lo, hi, slice[slice.length - 1]!, SLICE_KEYS);
        si = 0;
      }
      const stored = si < slice.length ? slice[si]! : null;
      const fresh = pi < pending.length ? pending[pi]! : null;
      if (stored === null && fresh === null) break;
      let position: string;
      if (fresh === null || (stored !== null && stored <= fresh)) {
        position = stored!;
        si++;
        if (fresh === stored) pi++;
      } else {
        position = fresh;
        pi++;
      }
      if (!visit(position.slice(2))) return position;
    }
  }
  return null;
}
