/**
 * Replica placement, once actives are fixed. Valid copies are kept (a replica never
 * shares its active's domain, unless the zone has too few nodes outside it), per-group
 * targets come from replica-targets.ts, and realize-replicas.ts applies the difference
 * unit by unit.
 */
import type { PlacementContext } from './context.js';
import { makeBounds, targetCounts } from './quota.js';
import { attainableShares } from './replica-shares.js';
import { groupTargets, replicaStretch, type GroupTargets, type ReplicaGroups } from './replica-targets.js';
import { realizeReplicas } from './realize-replicas.js';
import type { UnitChains } from './unit-chains.js';

export interface ReplicaPlacement {
  replicas: Int32Array;
  /** Replica share per node that the zone rule allows (see replica-shares.ts). */
  shares: Float64Array;
  /** Factor by which replica caps exceed those shares (1 = they can be met). */
  stretch: number;
  /** Copies left above their node's cap so that other units' copies stay put. */
  overCap: number;
  /** Copies traded between units of a group to honour the targets. */
  swaps: number;
  /** Copies placed beyond their node's cap because no target fitted the unit. */
  overflows: number;
}

/** Copy the previous map's valid replicas into compact slots. */
function keepReplicas(ctx: PlacementContext, old: UnitChains | null, active: Int32Array, allowance: Int32Array, dirty: Uint8Array): Int32Array {
  const w = ctx.width;
  const rep = new Int32Array(ctx.units * w).fill(-1);
  if (!old || w === 0) return rep;
  const ow = old.width;
  for (let u = 0; u < ctx.units; u++) {
    const a = active[u]!;
    const d = ctx.domains.of[a]!;
    let k = 0;
    let inZone = 0;
    // Existing replicas in order, then the previous active (it holds the data too).
    for (let j = 0; j <= ow && k < w; j++) {
      const m = j < ow ? old.replicas[u * ow + j]! : old.active[u]!;
      if (m < 0 || m === a || !ctx.isPlaceable[m]) continue;
      let isDup = false;
      for (let i = 0; i < k; i++) if (rep[u * w + i] === m) isDup = true;
      if (isDup) continue;
      if (ctx.domains.of[m] === d) {
        if (inZone >= allowance[d]!) continue;
        inZone++;
      }
      rep[u * w + k++] = m;
    }
    if (k < w) dirty[u] = 1;
  }
  return rep;
}

function countGroups(ctx: PlacementContext, active: Int32Array, rep: Int32Array, allowance: Int32Array): ReplicaGroups {
  const n = ctx.nodes.length;
  const count = ctx.domains.count;
  const size = new Int32Array(count);
  const kept = new Int32Array(count * n);
  const activeOn = new Int32Array(n);
  for (let u = 0; u < ctx.units; u++) {
    const g = ctx.domains.of[active[u]!]!;
    size[g]!++;
    activeOn[active[u]!]!++;
    for (let k = 0; k < ctx.width; k++) {
      const m = rep[u * ctx.width + k]!;
      if (m >= 0) kept[g * n + m]!++;
    }
  }
  return { count, size, kept, activeOn, allowance };
}

/**
 * Replicas per unit that may sit in the active's own domain: only when the domain has
 * too few placeable nodes outside it for every copy.
 */
export function zoneAllowance(ctx: PlacementContext): Int32Array {
  const allowance = new Int32Array(ctx.domains.count);
  for (let d = 0; d < ctx.domains.count; d++) allowance[d] = Math.max(0, ctx.width - (ctx.placeable.length - ctx.domains.sizes[d]!));
  return allowance;
}

/** Place every unit's replicas for the given actives. */
export function placeReplicas(ctx: PlacementContext, old: UnitChains | null, active: Int32Array, dirty: Uint8Array): ReplicaPlacement {
  const n = ctx.nodes.length;
  const w = ctx.width;
  const allowance = zoneAllowance(ctx);
  const rep = keepReplicas(ctx, old, active, allowance, dirty);
  if (w === 0) return { replicas: rep, shares: new Float64Array(n), stretch: 1, overCap: 0, swaps: 0, overflows: 0 };

  const groups = countGroups(ctx, active, rep, allowance);
  const quota = attainableShares(ctx, groups.size, allowance);
  const keptPerNode = new Int32Array(n);
  for (let k = 0; k < groups.kept.length; k++) keptPerNode[k % n]! += groups.kept[k]!;
  const solve = (stretch: number): GroupTargets => {
    const bounds = makeBounds(quota, ctx.placeable, ctx.isReshaped, stretch);
    return groupTargets(ctx, groups, targetCounts(keptPerNode, bounds, ctx.placeable, ctx.units * w), bounds.cap);
  };
  let stretch = 1;
  let solved = solve(stretch);
  if (solved.overCap > 0) {
    // Over cap either because no placement fits the caps (stretch them evenly) or to
    // spare other units' copies (keep it so).
    stretch = replicaStretch(ctx, groups, quota);
    if (stretch > 1) solved = solve(stretch);
  }
  const { targets, overCap } = solved;
  const excess = new Int32Array(targets.length);
  const add = new Int32Array(targets.length);
  for (let k = 0; k < targets.length; k++) {
    excess[k] = Math.max(0, groups.kept[k]! - targets[k]!);
    add[k] = Math.max(0, targets[k]! - groups.kept[k]!);
  }
  const stats = realizeReplicas({ ctx, active, rep, excess, add, dirty, quota, allowance });
  return { replicas: rep, shares: quota, stretch, overCap, ...stats };
}
