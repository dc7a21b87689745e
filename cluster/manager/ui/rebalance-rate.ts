/**
 * Rate and ETA of a rebalance from the progress samples the page receives each tick:
 * units and bytes per second over a sliding window, and the time the units left take at
 * that rate.
 */

export interface ProgressSample {
  at: number;
  unitsMoved: number;
  bytesCopied: number;
}

export interface RebalanceRate {
  unitsPerSec: number;
  bytesPerSec: number;
  /** null while nothing moves (no rate to project). */
  etaMs: number | null;
}

/** Keep samples of the last `windowMs`; returns the kept list. */
export function addSample(samples: ProgressSample[], s: ProgressSample, windowMs: number): ProgressSample[] {
  const last = samples[samples.length - 1];
  // Counters restart with a new rebalance (or manager): start over.
  const kept = last !== undefined && (s.unitsMoved < last.unitsMoved || s.bytesCopied < last.bytesCopied) ? [] : samples.filter((x) => x.at >= s.at - windowMs);
  kept.push(s);
  return kept;
}

/**
 * Bytes still to copy, estimated as the units left times the bytes copied per unit moved
 * so far in this rebalance; null before a unit has moved (nothing to estimate from).
 */
export function bytesLeftEstimate(unitsMoved: number, bytesCopied: number, unitsLeft: number): number | null {
  if (unitsLeft === 0) return 0;
  return unitsMoved > 0 ? Math.round((bytesCopied / unitsMoved) * unitsLeft) : null;
}

export function rebalanceRate(samples: readonly ProgressSample[], unitsLeft: number): RebalanceRate {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (first === undefined || last === undefined || last.at <= first.at) return { unitsPerSec: 0, bytesPerSec: 0, etaMs: null };
  const secs = (last.at - first.at) / 1000;
  const unitsPerSec = (last.unitsMoved - first.unitsMoved) / secs;
  const bytesPerSec = (last.bytesCopied - first.bytesCopied) / secs;
  return { unitsPerSec, bytesPerSec, etaMs: unitsPerSec > 0 ? Math.round((unitsLeft / unitsPerSec) * 1000) : null };
}
