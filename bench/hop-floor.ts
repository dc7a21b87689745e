import { createLatencyHistogram, recordMs, summarizeHistogram, type LatencySummary } from './histogram.js';
import { RawLane } from './raw-lane.js';
import { Op } from '../shared/protocol/ops.js';

/** One way to a node measured by the hop comparison. */
export interface HopPath {
  /** Stable key in figure ids, e.g. `tcpRelay`. */
  name: string;
  label: string;
  /** WebSocket address the bare client connects to. */
  address: string;
}

/** Latency of single GETs, one in flight, over each path. */
export interface HopResult {
  /** Per path, in the order given; the first is the direct one. */
  paths: Array<{ name: string; label: string; latency: LatencySummary }>;
  /** Operations per path. */
  count: number;
}

export interface HopOptions {
  /** Keys the node behind every path owns (already written). */
  keys: readonly string[];
  /** The map epoch the node serves (stamped into each frame). */
  epoch: number;
  /** Timed operations per path. */
  count: number;
  /** Operations per block; blocks alternate between the paths. */
  block: number;
  /** Untimed operations at the start of each block. */
  warm: number;
  connectTimeoutMs: number;
}

/**
 * Single GETs at one in flight over several paths to the same node, from one bare client
 * (no routing, no retries; see `RawLane`): straight to the node, through a TCP relay,
 * through the proxy. Blocks of `block` operations alternate between the paths, so that a
 * change in the machine's load lands on all of them; the first `warm` of each block are
 * not timed (the path's processes were asleep during the other blocks).
 */
export async function measureHops(paths: readonly HopPath[], o: HopOptions): Promise<HopResult> {
  if (o.keys.length === 0) throw new Error('no keys to measure the hop with');
  const lanes: RawLane[] = [];
  try {
    for (const p of paths) lanes.push(await RawLane.open(p.address, o.connectTimeoutMs));
    const histograms = paths.map(() => createLatencyHistogram());
    let next = 0;
    for (let done = 0; done < o.count; done += o.block) {
      const timed = Math.min(o.block, o.count - done);
      for (let k = 0; k < lanes.length; k++) {
        const lane = lanes[k]!;
        for (let i = 0; i < o.warm + timed; i++) {
          const frame: unknown[] = [0, Op.GET, o.epoch, o.keys[next++ % o.keys.length], null];
          const started = performance.now();
          await lane.request(frame);
          if (i >= o.warm) recordMs(histograms[k]!, performance.now() - started);
        }
      }
    }
    return { paths: paths.map((p, k) => ({ name: p.name, label: p.label, latency: summarizeHistogram(histograms[k]!) })), count: o.count };
  } finally {
    for (const lane of lanes) lane.close();
  }
}

/** p50 of path `k` minus the direct path's p50, µs. */
export function addedP50Us(r: HopResult, k: number): number {
  return r.paths[k]!.latency.p50Us - r.paths[0]!.latency.p50Us;
}
