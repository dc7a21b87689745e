/**
 * Weight-proportional quotas and per-node target counts. Targets move as few units as
 * possible: a node keeps what it has up to its cap, the surplus and the orphans fill the
 * emptiest nodes first (water-filling), and only a new or reweighted node pulls units
 * from the fullest ones.
 */

/**
 * Caps sit this far above the quota (plus rounding up), so that splitting units in place
 * (×2^k units, each node's count scaled exactly) never pushes a node over its cap: with
 * ≥ 100 units per node before the split, rounding adds at most 1% afterwards.
 */
export const CAP_SLACK = 0.01;

export interface Bounds {
  /** Weighted share of each node index (0 for nodes that hold nothing). */
  quota: Float64Array;
  /**
   * A node with fewer than this after orphans are placed pulls units from the fullest
   * nodes: ⌊quota⌋ if it is new or its share was changed on purpose (weight, zone), else
   * 0. Other nodes never pull, so a removal never moves units of the remaining nodes and
   * planning an unchanged cluster again moves nothing.
   */
  pullFloor: Int32Array;
  /** A node never holds more than this. */
  cap: Int32Array;
}

/** Split `total` by weight over the placeable nodes. */
export function quotas(total: number, weights: ArrayLike<number>, placeable: readonly number[], nodeCount: number): Float64Array {
  const q = new Float64Array(nodeCount);
  let sum = 0;
  for (const i of placeable) sum += weights[i]!;
  for (const i of placeable) q[i] = (total * weights[i]!) / sum;
  return q;
}

/**
 * Bounds for `quota`, with caps stretched by `stretch` (≥ 1) when balance is
 * unattainable. Only nodes flagged in `mayPull` get a pull floor.
 */
export function makeBounds(quota: Float64Array, placeable: readonly number[], mayPull: Uint8Array, stretch = 1): Bounds {
  const n = quota.length;
  const pullFloor = new Int32Array(n);
  const cap = new Int32Array(n);
  for (const i of placeable) {
    cap[i] = Math.ceil(stretch * quota[i]! * (1 + CAP_SLACK) - 1e-9);
    pullFloor[i] = mayPull[i] ? Math.floor(quota[i]! + 1e-9) : 0;
  }
  return { quota, pullFloor, cap };
}

function waterLevelAdds(t: Int32Array, b: Bounds, placeable: readonly number[], level: number): number {
  let added = 0;
  for (const i of placeable) added += Math.max(0, Math.min(b.cap[i]!, Math.floor(level * b.quota[i]!)) - t[i]!);
  return added;
}

export interface Targets {
  /** After keeping and water-filling, before pulls. */
  filled: Int32Array;
  /** After pulls: what each node should hold. */
  target: Int32Array;
}

/**
 * Target count per node index: `current` kept up to the cap, then `total − Σ kept`
 * spread over the emptiest nodes, then pulls toward `pullFloor`. `placeable` is the
 * tie-break order. Σ targets = total.
 */
export function targetCounts(current: ArrayLike<number>, b: Bounds, placeable: readonly number[], total: number): Targets {
  const t = new Int32Array(b.quota.length);
  let kept = 0;
  for (const i of placeable) {
    t[i] = Math.min(current[i]!, b.cap[i]!);
    kept += t[i]!;
  }
  let pool = total - kept;
  if (pool > 0) {
    let lo = 0;
    let hi = 1;
    for (const i of placeable) if (b.quota[i]! > 0) hi = Math.max(hi, (b.cap[i]! + 1) / b.quota[i]!);
    for (let k = 0; k < 60; k++) {
      const mid = (lo + hi) / 2;
      if (waterLevelAdds(t, b, placeable, mid) <= pool) lo = mid;
      else hi = mid;
    }
    for (const i of placeable) {
      const raised = Math.max(t[i]!, Math.min(b.cap[i]!, Math.floor(lo * b.quota[i]!)));
      pool -= raised - t[i]!;
      t[i] = raised;
    }
    while (pool > 0) {
      let best = -1;
      for (const i of placeable) {
        if (t[i]! >= b.cap[i]!) continue;
        if (best < 0 || (t[i]! + 1) / b.quota[i]! < (t[best]! + 1) / b.quota[best]!) best = i;
      }
      if (best < 0) throw new RangeError('planner: caps leave no room for every unit');
      t[best]!++;
      pool--;
    }
  }
  const filled = t.slice();
  for (;;) {
    let receiver = -1;
    let donor = -1;
    for (const i of placeable) {
      const ratio = t[i]! / b.quota[i]!;
      if (t[i]! < b.pullFloor[i]! && (receiver < 0 || ratio < t[receiver]! / b.quota[receiver]!)) receiver = i;
      if (t[i]! > Math.floor(b.quota[i]!) && (donor < 0 || ratio > t[donor]! / b.quota[donor]!)) donor = i;
    }
    if (receiver < 0 || donor < 0) break;
    t[receiver]!++;
    t[donor]!--;
  }
  return { filled, target: t };
}
