/**
 * Moves with data (DESIGN §5), as pure functions over maps. A unit that gains a copy is
 * first *staged*: the new members join its chain after the existing ones (same epoch, so
 * nothing changes for clients) and backfill from the active while the stream keeps them
 * current. Once they report caught up the unit is *switched* to its planned chain (new
 * epoch when its active changes); the copies it no longer lists are dropped only then.
 */
import type { ClusterMap, MapNode, UnitMove } from '../../shared/cluster-map.js';
import { compressRuns, emptyChains, expandMap } from './planner/unit-chains.js';

/** Limits on a batch of moves. */
export interface MoveLimits {
  /** Units one node may be gaining a copy of at once. */
  perNode: number;
  /** Units being moved at once, cluster-wide. */
  total: number;
}

export interface StagedBatch {
  /** The map to publish first: batch units carry old and new members. */
  staged: ClusterMap;
  /** Units in this batch. */
  units: number[];
  /** Nodes (ids) gaining a copy: the switch waits for them to catch up. */
  gainers: Set<string>;
  /** Each batch unit's planned chain (node ids), applied by `switchBatch`. */
  final: Map<number, string[]>;
  /** Units still to move after this batch. */
  remaining: number;
  /** Copies (node ids) the staged map added to each batch unit's chain: `unstageBatch` takes them out again. */
  added: Map<number, string[]>;
}

/** Each unit's chain as node ids, at `unitBits`. */
function unitIds(map: ClusterMap, unitBits: number): string[][] {
  const { chains } = expandMap(map, unitBits);
  const out: string[][] = [];
  for (let u = 0; u < chains.units; u++) {
    const ids: string[] = [];
    if (chains.active[u]! >= 0) ids.push(map.nodes[chains.active[u]!]!.id);
    for (let k = 0; k < chains.width; k++) {
      const m = chains.replicas[u * chains.width + k]!;
      if (m >= 0) ids.push(map.nodes[m]!.id);
    }
    out.push(ids);
  }
  return out;
}

/** A map with `nodes` whose unit `u` is served by chain `ids[u]`. */
function buildMap(template: ClusterMap, nodes: MapNode[], ids: string[][], unitBits: number, epoch: number, rev: number, moves: UnitMove[]): ClusterMap {
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  let width = 0;
  for (const chain of ids) width = Math.max(width, chain.length - 1);
  const chains = emptyChains(ids.length, width);
  for (let u = 0; u < ids.length; u++) {
    const chain = ids[u]!;
    if (chain.length === 0) continue;
    chains.active[u] = index.get(chain[0]!)!;
    for (let k = 1; k < chain.length; k++) chains.replicas[u * width + k - 1] = index.get(chain[k]!)!;
  }
  const runs = compressRuns(chains, template.bits, unitBits);
  return { ...template, epoch, rev, unitBits, nodes, chains: runs.chains, runStarts: runs.runStarts, runChains: runs.runChains, moves };
}

/** Units whose planned chain has a member the current chain lacks. */
function unitsGaining(current: string[][], target: string[][]): number[] {
  const out: number[] = [];
  for (let u = 0; u < target.length; u++) {
    const have = new Set(current[u]);
    if (target[u]!.some((id) => !have.has(id))) out.push(u);
  }
  return out;
}

/** True when going from `base` to `target` creates a copy somewhere (so data must be moved first). */
export function needsDataMoves(base: ClusterMap, target: ClusterMap): boolean {
  if (base.bits !== target.bits) return false;
  const unitBits = Math.max(base.unitBits, target.unitBits);
  return unitsGaining(unitIds(base, unitBits), unitIds(target, unitBits)).length > 0;
}

/**
 * The next batch of moves from `base` towards `target`, within `limits`; null when no
 * unit gains a copy (then `target` itself can be published).
 */
export function stageBatch(base: ClusterMap, target: ClusterMap, limits: MoveLimits): StagedBatch | null {
  if (base.bits !== target.bits) return null;
  const unitBits = Math.max(base.unitBits, target.unitBits);
  const current = unitIds(base, unitBits);
  const planned = unitIds(target, unitBits);
  const gaining = unitsGaining(current, planned);
  if (gaining.length === 0) return null;
  const perNode = new Map<string, number>();
  const units: number[] = [];
  const gainers = new Set<string>();
  const final = new Map<number, string[]>();
  const addedByUnit = new Map<number, string[]>();
  const staged = current.map((c) => c.slice());
  for (const u of gaining) {
    if (units.length >= limits.total) break;
    const have = new Set(current[u]);
    const added = planned[u]!.filter((id) => !have.has(id));
    if (added.some((id) => (perNode.get(id) ?? 0) >= limits.perNode)) continue;
    for (const id of added) {
      perNode.set(id, (perNode.get(id) ?? 0) + 1);
      gainers.add(id);
    }
    units.push(u);
    final.set(u, planned[u]!);
    // A unit with no copy left has nothing to copy from: its planned chain applies at once.
    staged[u] = current[u]!.length === 0 ? planned[u]!.slice() : [...current[u]!, ...added];
    if (current[u]!.length > 0) addedByUnit.set(u, added);
  }
  // Nodes the target no longer lists stay in the staged map while they still serve units.
  const nodes = [...target.nodes];
  const known = new Set(nodes.map((n) => n.id));
  for (const n of base.nodes) if (!known.has(n.id)) nodes.push(n);
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  const moves: UnitMove[] = units.map((u) => ({
    unit: u,
    from: index.get(current[u]![0] ?? planned[u]![0]!) ?? 0,
    to: index.get(planned[u]![0]!) ?? 0,
    phase: 'backfill' as const,
  }));
  const activeChanged = units.some((u) => staged[u]![0] !== current[u]![0]);
  return {
    staged: buildMap(base, nodes, staged, unitBits, base.epoch + (activeChanged ? 1 : 0), base.rev + 1, moves),
    units, gainers, final, remaining: gaining.length - units.length, added: addedByUnit,
  };
}

/**
 * Ids of every node in the chain of a unit that `map.moves` lists as in motion: a staged
 * batch (left by an earlier leader, or by a switch the map changed under) whose new
 * copies may still be filling. Which members are the new ones is not in the map, so all
 * of them must report caught up before the batch counts as filled.
 */
export function stagedMembers(map: ClusterMap): Set<string> {
  const out = new Set<string>();
  if (map.moves.length === 0) return out;
  const chains = unitIds(map, map.unitBits);
  for (const m of map.moves) for (const id of chains[m.unit] ?? []) out.add(id);
  return out;
}

/** `map` with no unit in motion: its staged copies are filled and count as members. */
export function clearStaged(map: ClusterMap): ClusterMap {
  return { ...map, rev: map.rev + 1, moves: [] };
}

/** Units that gain a copy going from `base` to `target` (what a rebalance still has to move). */
export function countUnitsToMove(base: ClusterMap, target: ClusterMap): number {
  if (base.bits !== target.bits) return 0;
  const unitBits = Math.max(base.unitBits, target.unitBits);
  return unitsGaining(unitIds(base, unitBits), unitIds(target, unitBits)).length;
}

/**
 * A staged batch rolled back: `map` (the staged map, or whatever followed it) with the
 * copies the batch added taken out of their units' chains again, so those units are back
 * on the chains they had before the batch and nothing is left half-moved. A copy that has
 * become a unit's active since (a failover promoted it) stays. The epoch is unchanged
 * (no active changes); null when there is nothing to take out or the map was reshaped
 * (split) since the batch was staged.
 */
export function unstageBatch(map: ClusterMap, unitBits: number, added: ReadonlyMap<number, readonly string[]>): ClusterMap | null {
  if (map.unitBits !== unitBits) return null;
  const current = unitIds(map, unitBits);
  const next = current.map((c) => c.slice());
  const undone = new Set<number>();
  for (const [u, ids] of added) {
    const chain = current[u];
    if (chain === undefined || chain.length === 0) continue;
    const drop = new Set(ids.filter((id) => id !== chain[0]));
    const kept = chain.filter((id) => !drop.has(id));
    if (kept.length === chain.length) continue;
    next[u] = kept;
    undone.add(u);
  }
  if (undone.size === 0) return null;
  const moves = map.moves.filter((m) => !undone.has(m.unit));
  return buildMap(map, map.nodes, next, unitBits, map.epoch, map.rev + 1, moves);
}

/**
 * `base` (the staged map) with each batch unit switched to its planned chain: copies it
 * no longer lists are dropped, and the epoch rises when an active changed.
 */
export function switchBatch(base: ClusterMap, final: ReadonlyMap<number, string[]>): ClusterMap {
  const unitBits = base.unitBits;
  const current = unitIds(base, unitBits);
  const next = current.map((c) => c.slice());
  let activeChanged = false;
  for (const [u, chain] of final) {
    if (u >= next.length) continue;
    if (next[u]![0] !== chain[0]) activeChanged = true;
    next[u] = chain.slice();
  }
  // Keep only nodes that still serve a unit or are still known to the cluster.
  return buildMap(base, base.nodes, next, unitBits, base.epoch + (activeChanged ? 1 : 0), base.rev + 1, []);
}

/**
 * `base` with `nodeId` handing every unit it is active for to its most up-to-date
 * replica, and staying in the chain as the last replica: the first step of a graceful
 * failover. The node stops taking writes for those units, yet late records it already
 * took still stream to the new actives over links that stay up.
 */
export function demoteActive(base: ClusterMap, nodeId: string, seqnos: Readonly<Record<string, Readonly<Record<number, number>>>>): ClusterMap | null {
  const unitBits = base.unitBits;
  const current = unitIds(base, unitBits);
  const final = new Map<number, string[]>();
  for (let u = 0; u < current.length; u++) {
    const chain = current[u]!;
    if (chain[0] !== nodeId || chain.length < 2) continue;
    const replicas = chain.slice(1).sort((a, b) => (seqnos[b]?.[u] ?? 0) - (seqnos[a]?.[u] ?? 0));
    final.set(u, [...replicas, nodeId]);
  }
  return final.size === 0 ? null : switchBatch(base, final);
}
