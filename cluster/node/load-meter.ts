/**
 * Request count and service-time percentiles of a node, for the heartbeat's load report
 * (the dashboard's ops/s and p50/p99). A log-linear histogram (8 steps per power of two,
 * so a percentile is within 9 % of the truth) that is read and cleared once per report:
 * recording is one Math.log2 and an array increment, cheap enough for every message.
 */

/** Steps per power of two. */
const STEPS = 8;
/** Up to 2^26 µs (67 s); anything slower lands in the last bucket. */
const BUCKETS = 26 * STEPS;

export class LoadMeter {
  /** Requests recorded since the meter was made: `pandakv_node_requests_total`. */
  ops = 0;
  private readonly counts = new Float64Array(BUCKETS);
  private samples = 0;

  /** Record `requests` requests that took `micros` µs of service each. */
  record(micros: number, requests = 1): void {
    if (requests <= 0) return;
    this.ops += requests;
    this.samples += requests;
    const i = micros < 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log2(micros) * STEPS));
    this.counts[i]! += requests;
  }

  /**
   * `pandakv_node_request_p50_seconds` and `pandakv_node_request_p99_seconds` (in µs here):
   * median and 99th percentile since the last call (upper bound of their bucket, µs;
   * 0 when nothing was recorded), then start a new interval.
   */
  takePercentiles(): { p50Us: number; p99Us: number } {
    const total = this.samples;
    if (total === 0) return { p50Us: 0, p99Us: 0 };
    const p50 = this.rank(total * 0.5);
    const p99 = this.rank(total * 0.99);
    this.counts.fill(0);
    this.samples = 0;
    return { p50Us: p50, p99Us: p99 };
  }

  private rank(target: number): number {
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= target) return Math.ceil(2 ** ((i + 1) / STEPS));
    }
    return Math.ceil(2 ** (BUCKETS / STEPS));
  }
}
