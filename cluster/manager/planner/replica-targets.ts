/**
 * How many replicas each node should hold for each group of units (the units whose
 * active is in one domain). Solved on the aggregate as a min-cost flow, so that zone
 * constraints that only a careful split satisfies (one zone's units must use exactly
 * the others' spare room) are met with as few moved copies as possible.
 *
 * Costs encode the planner's priorities. A new copy costs m. A node earns `a` per copy
 * up to its target, or `b` if it pulls copies from others (a new node), nothing up to
 * its cap, and beyond it pays `p` per copy, or only `q` when the plan merely removes
 * nodes (nothing was added, reweighted or rezoned). With
 * a < m < b < m + a and q < m − a, p ≫ m:
 * - an existing copy is never moved just to even out shares (a − m < 0);
 * - a copy moves from a node above its target to a node pulling (b − m > 0), so a new
 *   node fills up, but not from a node within its target (b − m − a < 0);
 * - when the cluster's shape changed, copies above a cap move to nodes with room, even
 *   through chains of moves (p ≫ m): a node whose weight dropped sheds replicas, and a
 *   join that shifts zone weights rebalances them;
 * - but a lost copy goes above a cap rather than push another unit's copy out of its
 *   place (q < m − a), and so do existing copies when nodes were only removed: a removal
 *   moves only the removed node's copies, at the price of some imbalance when zones or a
 *   heavy node leave no room, and planning again keeps that.
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

const COST_NEW = 8;
const GAIN_SHARE = 4;
const GAIN_PULL = 10;
const COST_OVER_CAP = 200;
/** Graded, so that copies that must go above caps spread over the nodes: [share of cap, cost]. */
const OVER_CAP_ON_REMOVAL: ReadonlyArray<readonly [number, number]> = [[0.05, 1], [0.25, 2], [Infinity, 3]];

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

/** Vertices: 0 source, 1 sink, per group g `2 + g` and its in-zone twin `2 + G + g`, per node i `2 + 2G + i`. */
class Layout {
  constructor(readonly groups: number, readonly nodes: number) {}
  get size(): number { return 2 + 2 * this.groups + this.nodes; }
  group(g: number): number { return 2 + g; }
  inZone(g: number): number { return 2 + this.groups + g; }
  node(i: number): number { return 2 + 2 * this.groups + i; }
}

/**
 * Source → group → node edges; the caller adds the node → sink edges. Copies inside the
 * group's own zone (only when it has too few nodes outside) pass through the in-zone
 * twin, whose capacity is the allowance, so every unit uses every node outside first.
 */
function buildPairs(ctx: PlacementContext, groups: ReplicaGroups, layout: Layout, withCosts: boolean): PairEdges {
  const n = ctx.nodes.length;
  const G = groups.count;
  const net = new MinCostFlow(layout.size);
  const sticky = new Int32Array(G * n).fill(-1);
  const fresh = new Int32Array(G * n).fill(-1);
  for (let g = 0; g < G; g++) {
    net.addEdge(0, layout.group(g), groups.size[g]! * ctx.width, 0);
    if (groups.allowance[g]! > 0) net.addEdge(layout.group(g), layout.inZone(g), groups.size[g]! * groups.allowance[g]!, 0);
    for (const i of ctx.placeable) {
      const cap = pairCapacity(ctx, groups, g, i);
      if (cap <= 0) continue;
      const from = ctx.domains.of[i] === g ? layout.inZone(g) : layout.group(g);
      const kept = withCosts ? Math.min(cap, groups.kept[g * n + i]!) : 0;
      if (kept > 0) sticky[g * n + i] = net.addEdge(from, layout.node(i), kept, 0);
      if (cap > kept) fresh[g * n + i] = net.addEdge(from, layout.node(i), cap - kept, withCosts ? COST_NEW : 0);
    }
  }
  return { net, sticky, fresh };
}

function isFeasible(ctx: PlacementContext, groups: ReplicaGroups, quota: Float64Array, stretch: number): boolean {
  const layout = new Layout(groups.count, ctx.nodes.length);
  const { net } = buildPairs(ctx, groups, layout, false);
  for (const i of ctx.placeable) net.addEdge(layout.node(i), 1, Math.ceil(stretch * quota[i]! - 1e-9), 0);
  return net.run(0, 1) === totalSlots(ctx, groups);
}

/**
 * The smallest factor (≥ 1, to 1e-4) by which replica caps must exceed the weighted
 * quota for a placement to exist: above 1 when zones or heavy nodes forbid balance.
 */
export function replicaStretch(ctx: PlacementContext, groups: ReplicaGroups, quota: Float64Array): number {
  if (isFeasible(ctx, groups, quota, 1)) return 1;
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

export interface GroupTargets {
  /** Replicas per (group, node), `[g * nodeCount + n]`, summing to every slot. */
  targets: Int32Array;
  /** Copies placed beyond their node's cap. */
  overCap: number;
}

/** Replica targets per (group, node) for node-level `targets` (water-filled, then pulled) and caps. */
export function groupTargets(ctx: PlacementContext, groups: ReplicaGroups, targets: Targets, cap: Int32Array): GroupTargets {
  const layout = new Layout(groups.count, ctx.nodes.length);
  const { net, sticky, fresh } = buildPairs(ctx, groups, layout, true);
  const isReshaping = ctx.isReshaped.includes(1);
  const overEdges: number[] = [];
  for (const i of ctx.placeable) {
    const node = layout.node(i);
    const target = targets.target[i]!;
    // A pulling node earns the pull gain on every copy up to its target, so copies that
    // land there anyway (a donor's surplus) do not use up its appetite for pulled ones.
    if (target > 0) net.addEdge(node, 1, target, target > targets.filled[i]! ? -GAIN_PULL : -GAIN_SHARE);
    if (cap[i]! > target) net.addEdge(node, 1, cap[i]! - target, 0);
    if (isReshaping) {
      overEdges.push(net.addEdge(node, 1, ctx.units, COST_OVER_CAP));
      continue;
    }
    let below = 0;
    for (const [share, cost] of OVER_CAP_ON_REMOVAL) {
      const size = share === Infinity ? ctx.units : Math.max(1, Math.ceil(share * cap[i]!)) - below;
      overEdges.push(net.addEdge(node, 1, size, cost));
      below += size;
    }
  }
  if (net.run(0, 1) !== totalSlots(ctx, groups)) throw new Error('planner: replica slots exceed what the nodes can hold');
  const out = new Int32Array(groups.count * ctx.nodes.length);
  for (let k = 0; k < out.length; k++) {
    if (sticky[k]! >= 0) out[k]! += net.flowOn(sticky[k]!);
    if (fresh[k]! >= 0) out[k]! += net.flowOn(fresh[k]!);
  }
  let overCap = 0;
  for (const e of overEdges) overCap += net.flowOn(e);
  return { targets: out, overCap };
}
