import { build, type Histogram } from 'hdr-histogram-js';

/** Longest latency tracked, µs; slower operations are recorded as this value. */
export const MAX_TRACKED_US = 60_000_000;

/** Latency percentiles of a run, in microseconds. */
export interface LatencySummary {
  count: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

/** A latency histogram in µs, 1 µs .. 60 s at 3 significant digits (pure-JS build). */
export function createLatencyHistogram(): Histogram {
  return build({
    useWebAssembly: false,
    bitBucketSize: 32,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKED_US,
    numberOfSignificantValueDigits: 3,
  });
}

/** Record one latency measured in milliseconds (as `performance.now()` deltas are). */
export function recordMs(h: Histogram, ms: number): void {
  const us = Math.round(ms * 1000);
  h.recordValue(us < 1 ? 1 : us > MAX_TRACKED_US ? MAX_TRACKED_US : us);
}

export function summarizeHistogram(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { count: 0, meanUs: 0, p50Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 };
  return {
    count: h.totalCount,
    meanUs: Math.round(h.mean),
    p50Us: h.getValueAtPercentile(50),
    p99Us: h.getValueAtPercentile(99),
    p999Us: h.getValueAtPercentile(99.9),
    maxUs: h.maxValue,
  };
}

/** `850 µs`, `1.25 ms`, `2.50 s`. */
export function formatLatencyUs(us: number): string {
  if (us < 1000) return `${Math.round(us)} µs`;
  if (us < 1_000_000) return `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`;
  return `${(us / 1_000_000).toFixed(2)} s`;
}

/** `612,345` — whole numbers with thousands separators, locale-independent. */
export function formatCount(n: number): string {
  return Math.round(n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** One line for a finished run: rate and the three percentiles. */
export function formatRunLine(label: string, opsPerSec: number, s: LatencySummary): string {
  return `${label.padEnd(14)} ${formatCount(opsPerSec).padStart(11)} ops/s   p50 ${formatLatencyUs(s.p50Us)}   p99 ${formatLatencyUs(s.p99Us)}   p99.9 ${formatLatencyUs(s.p999Us)}`;
}
