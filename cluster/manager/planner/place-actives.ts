/**
 * Active placement. A unit keeps its active while that node can hold units (a lost
 * active is replaced by the first surviving replica: no data moves). Nodes above their
 * target give units away, orphans and given units go to the nodes below target, in unit
 * order and in blocks so that runs stay long.
 */
import type { PlacementContext } from './context.js';
import { makeBounds, quotas, targetCounts } from './quota.js';
import type { UnitChains } from './unit-chains.js';

export interface ActivePlacement {
  active: Int32Array;
  /** 1 for units whose chain changes in this plan (lost members, new active). */
  dirty: Uint8Array;
}

/** Old members of `u` other than the active that can still hold data. */
function liveReplicas(ctx: PlacementContext, old: UnitChains, u: number, out: number[]): number[] {
  out.length = 0;
  for (let k = 0; k < old.width; k++) {
    const m = old.replicas[u * old.width + k]!;
    if (m >= 0 && ctx.isPlaceable[m] && !out.includes(m)) out.push(m);
  }
  return out;
}

function keepActives(ctx: PlacementContext, old: UnitChains | null, active: Int32Array, dirty: Uint8Array): void {
  if (!old) return;
  const copies = ctx.width + 1;
  const w = old.width;
  for (let u = 0; u < ctx.units; u++) {
    let first = -1;
    let live = 0;
    let isLossy = false;
    for (let k = -1; k < w; k++) {
      const m = k < 0 ? old.active[u]! : old.replicas[u * w + k]!;
      if (m < 0) {
        if (k < 0) isLossy = true;
        continue;
      }
      if (!ctx.isPlaceable[m]) {
        isLossy = true;
        continue;
      }
      let isDup = m === old.active[u] && k >= 0;
      for (let j = 0; j < k && !isDup; j++) if (old.replicas[u * w + j] === m) isDup = true;
      if (isDup) continue;
      if (first < 0) first = m;
      live++;
    }
    active[u] = first;
    if (isLossy || live !== copies) dirty[u] = 1;
  }
}

/**
 * Choose which units each donor gives: units already changing first, then units a
 * receiver holds a replica of (a role swap moves no data), then units with no replica
 * in some receiver's domain, each class from the donor's highest unit down.
 */
function pickGiven(ctx: PlacementContext, old: UnitChains | null, active: Int32Array, dirty: Uint8Array, give: Int32Array, need: Int32Array): Uint8Array {
  const inPool = new Uint8Array(ctx.units);
  const donors = ctx.placeable.filter((i) => give[i]! > 0);
  if (donors.length === 0) return inPool;
  const receiverDomains = new Int32Array(ctx.domains.count);
  let receivers = 0;
  for (const i of ctx.placeable) {
    if (need[i]! > 0) {
      receiverDomains[ctx.domains.of[i]!]!++;
      receivers++;
    }
  }
  const owned = new Map<number, number[]>(donors.map((d) => [d, []]));
  for (let u = 0; u < ctx.units; u++) owned.get(active[u]!)?.push(u);
  const reps: number[] = [];
  const doms: number[] = [];
  for (const d of donors) {
    const classes: number[][] = [[], [], [], []];
    const list = owned.get(d)!;
    for (let j = list.length - 1; j >= 0; j--) {
      const u = list[j]!;
      let cls = 3;
      if (dirty[u]) cls = 0;
      else if (old) {
        liveReplicas(ctx, old, u, reps);
        doms.length = 0;
        let blocked = 0;
        let isSwap = false;
        for (const m of reps) {
          if (need[m]! > 0) isSwap = true;
          const dm = ctx.domains.of[m]!;
          if (!doms.includes(dm)) {
            doms.push(dm);
            blocked += receiverDomains[dm]!;
          }
        }
        cls = isSwap ? 1 : blocked < receivers ? 2 : 3;
      }
      classes[cls]!.push(u);
    }
    let left = give[d]!;
    for (const cls of classes) {
      for (const u of cls) {
        if (left === 0) break;
        inPool[u] = 1;
        active[u] = -1;
        left--;
      }
    }
  }
  return inPool;
}

/** Place every unit's active. `old` is the previous map at the new unit grain, if any. */
export function placeActives(ctx: PlacementContext, old: UnitChains | null): ActivePlacement {
  const active = new Int32Array(ctx.units).fill(-1);
  const dirty = new Uint8Array(ctx.units);
  keepActives(ctx, old, active, dirty);

  const counts = new Int32Array(ctx.nodes.length);
  for (let u = 0; u < ctx.units; u++) if (active[u]! >= 0) counts[active[u]!]!++;
  const bounds = makeBounds(quotas(ctx.units, ctx.weights, ctx.placeable, ctx.nodes.length), ctx.placeable, ctx.isReshaped);
  const { target } = targetCounts(counts, bounds, ctx.placeable, ctx.units);
  const give = new Int32Array(ctx.nodes.length);
  const need = new Int32Array(ctx.nodes.length);
  for (const i of ctx.placeable) {
    give[i] = Math.max(0, counts[i]! - target[i]!);
    need[i] = Math.max(0, target[i]! - counts[i]!);
  }
  const inPool = pickGiven(ctx, old, active, dirty, give, need);

  const reps: number[] = [];
  const conflicts = (u: number, n: number): boolean => {
    if (!old) return false;
    for (const m of liveReplicas(ctx, old, u, reps)) if (ctx.domains.of[m] === ctx.domains.of[n]) return true;
    return false;
  };
  let current = -1;
  for (let u = 0; u < ctx.units; u++) {
    if (active[u]! >= 0 && !inPool[u]) continue;
    let chosen = -1;
    if (old) {
      for (const m of liveReplicas(ctx, old, u, reps)) {
        if (need[m]! > 0) {
          chosen = m;
          break;
        }
      }
    }
    if (chosen < 0 && current >= 0 && need[current]! > 0 && !conflicts(u, current)) chosen = current;
    if (chosen < 0) {
      for (const i of ctx.placeable) {
        if (need[i]! > 0 && !conflicts(u, i)) {
          chosen = i;
          current = i;
          break;
        }
      }
    }
    if (chosen < 0) {
      chosen = current >= 0 && need[current]! > 0 ? current : ctx.placeable.find((i) => need[i]! > 0)!;
      current = chosen;
    }
    active[u] = chosen;
    need[chosen]!--;
    dirty[u] = 1;
  }
  return { active, dirty };
}
