import { Status } from '../../shared/status.js';
import { answerFrame, extraAnswer, type Request } from '../../shared/protocol/frames.js';
import { binaryToWire } from '../../shared/protocol/binary-key.js';
import { bucketOfBinary } from '../../shared/keystream.js';
import { coversAcrossBits, everyBucket, fromPairs, hasBucket } from '../../shared/bucket-ranges.js';
import type { ScanResult } from './engine/types.js';

/** What the scan op reads from: the engine's ordered range read. */
export interface ScanSource {
  scan(start: string, end: string | null, limit: number): ScanResult;
}

/** What the scan op needs to know of the node's ownership. */
export interface ScanOwnership {
  readonly epoch: number;
  readonly bits: number;
  /** Ranges at `bits` the node is active for; null when it owns every bucket. */
  activeRanges(): ReadonlyArray<readonly [number, number]> | null;
}

/** Keys a frame may examine beyond its limit before it answers a short page. */
const EXTRA_KEYS_PER_FRAME = 1024;

/**
 * One SCAN frame (docs/protocol.md §7): the entries of `[start, end)` in byte order whose
 * bucket is in the ranges the frame names, which the node must be active for at the
 * frame's epoch (checked before this runs) or the answer is NOT_MY_BUCKET and nothing is
 * read. A frame without ranges gets the buckets the node owns. The answer states the
 * node's epoch and the ranges it answered for, so a client can tell an exact page from a
 * partial one.
 */
export function runScan(req: Request, engine: ScanSource, own: ScanOwnership): unknown[] {
  const owned = own.activeRanges();
  const ownedFlat = owned === null ? everyBucket(own.bits) : fromPairs(owned);
  let ranges: readonly number[];
  let bits: number;
  if (req.ranges === null) {
    ranges = ownedFlat;
    bits = own.bits;
  } else {
    if (!coversAcrossBits(ownedFlat, own.bits, req.ranges, req.rangeBits)) {
      return extraAnswer(req.id, Status.NOT_MY_BUCKET, { epoch: own.epoch, message: 'the node is not active for every range of this scan' });
    }
    ranges = req.ranges;
    bits = req.rangeBits;
  }
  const isEverything = ranges.length === 2 && ranges[0] === 0 && ranges[1] === 2 ** bits;
  // Entries flattened as key, value, flags, cas: one array for the whole page.
  const flat: unknown[] = [];
  let start = req.key;
  let next: string | null = null;
  let remaining = req.limit;
  // Keys of other buckets (replica copies, copies left over after a move) are skipped;
  // bound the keys examined per frame and hand back a resume key.
  let budget = req.limit * 4 + EXTRA_KEYS_PER_FRAME;
  while (remaining > 0 && budget > 0) {
    const page = engine.scan(start, req.end, Math.min(remaining, budget));
    budget -= page.entries.length;
    for (const e of page.entries) {
      if (!isEverything && !hasBucket(ranges, bucketOfBinary(e.key, bits))) continue;
      flat.push(binaryToWire(e.key), e.value, e.flags, e.cas);
      remaining--;
    }
    next = page.nextKey;
    if (next === null) break;
    start = next;
  }
  return answerFrame(req.id, Status.OK, flat, 0, 0, {
    next: next === null ? null : binaryToWire(next),
    epoch: own.epoch,
    bits,
    ranges,
  });
}
