/**
 * How many replicas each node should hold for each group of units (the units whose
 * active is in one domain). Solved on the aggregate as a min-cost flow, so that zone
 * constraints that only a careful split satisfies (one zone's units must use exactly
 * the others' spare room) are met with as few moved copies as possible.
 *
 * Costs encode the planner's priorities. With m the cost of a new copy, a node earns
 * `a` per copy up to its target, or `b` if it pulls copies from others (a new node),
 * nothing beyond, and never exceeds its cap. With a < m < b < m + a:
 * - an existing copy is never moved just to even out shares (a − m < 0), so removing a
 *   node re-places only that node's copies;
 * - a copy is moved from a node above its target to a node pulling (b − m > 0), so a
 *   new node fills up;
 * - but not from a node that is within its target (b − m − a < 0).
 */
import type { PlacementContext } from './context.js';
import { MinCostFlow } from './min-cost-flow.js';
import type { Targets } from './quota.js';

export interface ReplicaGroups {
  /** Number of groups (one per domain). */
  count: number;
  /** Units whose active is in each group. */
  size: Int32Array;
  /** Valid replicas that exist today, per (group, node): `kept[g * nodeCount + n]`. */
  kept: Int32Array;
  /** Units active on each node. */
  activeOn: Int32Array;
  /** Replicas per unit allowed in the active's own zone (too few nodes outside it). */
  allowance: Int32Array;
}

const COST_NEW = 4;
const GAIN_SHARE = 2;
const GAIN_PULL = 5;

/** How many copies of group `g`'s units node `n` may hold at most; 0 = none. */
function pairCapacity(ctx: PlacementContext, groups: ReplicaGroups, g: number, n: number): number {
  if (ctx.domains.of[n] !== g) return groups.size[g]!;
  if (groups.allowance[g]! === 0) return 0;
  return groups.size[g]! - groups.activeOn[n]!;
}

function totalSlots(ctx: PlacementContext, groups: ReplicaGroups): number {
  let total = 0;
  for (let g = 0; g < groups.count; g++) total += groups.size[g]! * ctx.width;
  return total;
}

interface PairEdges {
  net: MinCostFlow;
  sticky: Int32Array;
  fresh: Int32Array;
}

/**
 * Source → group → node edges; the caller adds node → sink edges (node vertex =
 * 2 + 2 × count + index). Copies inside the group's own zone (only when it has too few
 * nodes outside) pass through a second group vertex whose capacity is the allowance,
 * so every unit still uses every node outside its zone first.
 */
function buildPairs(ctx: PlacementContext, groups: ReplicaGroups, withCosts: boolean): PairEdges {
  const n = ctx.nodes.length;
  const G = groups.count;
  const net = new MinCostFlow(2 + 2 * G + n);
  const sticky = new Int32Array(G * n).fill(-1);
  const fresh = new Int32Array(G * n).fill(-1);
  for (let g = 0; g < G; g++) {
    net.addEdge(0, 2 + g, groups.size[g]! * ctx.width, 0);
    if (groups.allowance[g]! > 0) net.addEdge(2 + g, 2 + G + g, groups.size[g]! * groups.allowance[g]!, 0);
    for (const i of ctx.placeable) {
      const cap = pairCapacity(ctx, groups, g, i);
      if (cap <= 0) continue;
      const from = ctx.domains.of[i] === g ? 2 + G + g : 2 + g;
      const kept = withCosts ? Math.min(cap, groups.kept[g * n + i]!) : 0;
      if (kept > 0) sticky[g * n + i] = net.addEdge(from, 2 + 2 * G + i, kept, 0);
      if (cap > kept) fresh[g * n + i] = net.addEdge(from, 2 + 2 * G + i, cap - kept, withCosts ? COST_NEW : 0);
    }
  }
  return { net, sticky, fresh };
}

function isFeasible(ctx: PlacementContext, groups: ReplicaGroups, quota: Float64Array, stretch: number): boolean {
  const { net } = buildPairs(ctx, groups, false);
  for (const i of ctx.placeable) net.addEdge(2 + 2 * groups.count + i, 1, Math.ceil(stretch * quota[i]! - 1e-9), 0);
  return net.run(0, 1) === totalSlots(ctx, groups);
}

/**
 * The smallest factor (> 1, to 1e-4) by which replica caps must exceed the weighted
 * quota for a placement to exist, when caps at the quota admit none (zones or heavy
 * nodes forbid balance).
 */
export function replicaStretch(ctx: PlacementContext, groups: ReplicaGroups, quota: Float64Array): number {
  let lo = 1;
  let hi = 1;
  for (const i of ctx.placeable) hi = Math.max(hi, (ctx.units + 1) / quota[i]!);
  for (let k = 0; k < 40 && hi - lo > 1e-4; k++) {
    const mid = (lo + hi) / 2;
    if (isFeasible(ctx, groups, quota, mid)) hi = mid;
    else lo = mid;
  }
  return hi;
}

/**
 * Replicas per (group, node), `[g * nodeCount + n]`, summing to every slot; `null` when
 * `cap` admits no placement. `targets` are the node-level shares (water-filled, then pulled).
 */
export function groupTargets(ctx: PlacementContext, groups: ReplicaGroups, targets: Targets, cap: Int32Array): Int32Array | null {
  const { net, sticky, fresh } = buildPairs(ctx, groups, true);
  for (const i of ctx.placeable) {
    const node = 2 + 2 * groups.count + i;
    const target = targets.target[i]!;
    // A pulling node earns the pull gain on every copy up to its target, so copies that
    // land there anyway (a donor's surplus) do not use up its appetite for pulled ones.
    if (target > 0) net.addEdge(node, 1, target, target > targets.filled[i]! ? -GAIN_PULL : -GAIN_SHARE);
    if (cap[i]! > target) net.addEdge(node, 1, cap[i]! - target, 0);
  }
  if (net.run(0, 1) !== totalSlots(ctx, groups)) return null;
  const out = new Int32Array(groups.count * ctx.nodes.length);
  for (let k = 0; k < out.length; k++) {
    if (sticky[k]! >= 0) out[k]! += net.flowOn(sticky[k]!);
    if (fresh[k]! >= 0) out[k]! += net.flowOn(fresh[k]!);
  }
  return out;
}
