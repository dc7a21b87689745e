import { chainOf, type ClusterMap } from '../../../shared/cluster-map.js';
import type { LogRecord } from './change-log.js';

/**
 * What the replication stream brought while a unit was being copied (backfill.ts): which
 * keys it wrote, so an older snapshot page does not overwrite them, and its records, which
 * continue the unit's history after the copy. The marks hold only while the stream has no
 * gap and the attempt is the one they were taken during.
 */
export interface Backfill {
  source: string;
  /** Keys the stream wrote while the snapshot was being copied: the snapshot must not overwrite them. */
  touched: Set<string>;
  /** Highest seqno the stream brought meanwhile. */
  streamed: number;
  /** The stream's records meanwhile, in order: they continue the unit's history after the copy. */
  records: LogRecord[];
  /**
   * The stream skipped seqnos during this attempt (this node was out of the unit's chain
   * for a while, as a returning node is between two cuts), or the node must verify what
   * it holds: `touched` no longer says which keys are newer than the snapshot, so the
   * attempt's answers are dropped and the copy starts over.
   */
  isTorn: boolean;
}

export function newBackfill(source: string): Backfill {
  return { source, touched: new Set(), streamed: 0, records: [], isTorn: false };
}

/** A stream record of `key` (`record`, seqno `record[1]`) applied while its unit is copied. */
export function noteStreamed(fill: Backfill, key: string, record: LogRecord): void {
  const seq = record[1];
  if (fill.streamed > 0 && seq > fill.streamed + 1) fill.isTorn = true;
  fill.touched.add(key);
  if (seq > fill.streamed) {
    fill.streamed = seq;
    fill.records.push(record);
  }
}

/**
 * Before another attempt to copy `units` from `source`: what the stream brought during
 * the attempts before is older than the snapshot this one copies, when the stream comes
 * from the source itself (it is the units' active, and its records and its answers share
 * one ordered link). Still marked, those keys would skip the snapshot's newer values, and
 * be spared when a unit copied in full is cleared, for good: a copy cut off by a partition
 * and resumed after it would keep the values from before the cut. From a source that is no
 * longer the active, what the active streamed stays newer than any snapshot: kept.
 */
export function forgetStreamed(fills: ReadonlyMap<number, Backfill>, map: ClusterMap, source: string, units: readonly number[]): void {
  const perUnit = 2 ** (map.bits - map.unitBits);
  for (const u of units) {
    const fill = fills.get(u);
    if (fill === undefined || fill.source !== source) continue;
    fill.isTorn = false;
    if (map.nodes[chainOf(map, u * perUnit)[0] ?? -1]?.peerKey !== source) continue;
    fill.touched.clear();
    fill.streamed = 0;
    fill.records = [];
  }
}
