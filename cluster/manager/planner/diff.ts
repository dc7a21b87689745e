/**
 * What changed between the previous map and the planned one, unit by unit: a new
 * active, or a copy on a node that did not hold the unit before.
 */
import type { MapNode } from '../../../shared/cluster-map.js';
import type { PlannedMove } from './types.js';
import { chainAt, type UnitChains } from './unit-chains.js';

export interface UnitDiff {
  /** Some unit's chain differs. */
  isChanged: boolean;
  /** Some unit's active differs. */
  isActiveChanged: boolean;
  moves: PlannedMove[];
}

/** True when unit `u` has the same chain (same members, same order) in both. */
function isSameChain(a: UnitChains, b: UnitChains, u: number): boolean {
  if (a.active[u] !== b.active[u]) return false;
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.width && a.replicas[u * a.width + i]! < 0) i++;
    while (j < b.width && b.replicas[u * b.width + j]! < 0) j++;
    if (i === a.width || j === b.width) return i === a.width && j === b.width;
    if (a.replicas[u * a.width + i] !== b.replicas[u * b.width + j]) return false;
    i++;
    j++;
  }
}

/**
 * Compare `next` with `old`, the previous map at the same unit grain. A new cluster
 * (`old` null) has no data to move, so its diff is empty.
 */
export function diffUnits(nodes: readonly MapNode[], old: UnitChains | null, next: UnitChains): UnitDiff {
  const moves: PlannedMove[] = [];
  if (!old) return { isChanged: true, isActiveChanged: true, moves };
  let isChanged = false;
  let isActiveChanged = false;
  const id = (i: number): string => nodes[i]!.id;
  for (let u = 0; u < next.units; u++) {
    if (isSameChain(old, next, u)) continue;
    isChanged = true;
    const after = chainAt(next, u);
    const before = chainAt(old, u);
    const oldActive = before.length > 0 ? before[0]! : -1;
    if (after[0] !== oldActive) {
      isActiveChanged = true;
      moves.push({ unit: u, from: oldActive >= 0 ? id(oldActive) : null, to: id(after[0]!), role: 'active' });
    }
    const dropped = before.slice(1).filter((m) => !after.includes(m));
    for (const m of after.slice(1)) {
      if (before.includes(m)) continue;
      const from = dropped.shift();
      moves.push({ unit: u, from: from === undefined ? null : id(from), to: id(m), role: 'replica' });
    }
  }
  return { isChanged, isActiveChanged, moves };
}
