/**
 * The dashboard's what-if: the real planner (cluster/manager/planner, the functions the
 * manager runs) on a copy of the live map or on a synthetic cluster, with nodes added,
 * removed, failed, re-weighted or moved between zones, and the redundancy changed.
 * Pure: it never touches the cluster.
 */
import type { ClusterMap } from '../../../shared/cluster-map.js';
import { balanceReport, plan, promoteOnly, type BalanceReport, type PlannedMove, type PlannerNode } from '../planner/plan.js';

export type WhatIfStart =
  | { kind: 'live'; map: ClusterMap }
  | { kind: 'synthetic'; nodes: number; zones: number; bits: number; redundancy: number };

export interface WhatIfChange {
  /** New nodes. */
  add: Array<{ zone: string; weight: number }>;
  /** Ids of nodes leaving gracefully. */
  remove: string[];
  /** Ids of nodes that fail: a promote-only map first, as the manager does. */
  fail: string[];
  /** New weights by node id. */
  weights: Record<string, number>;
  /** New zones by node id. */
  zones: Record<string, string>;
  /** Copies of each item; null keeps the start's. */
  redundancy: number | null;
}

export interface WhatIfNodeRow {
  id: string;
  zone: string;
  weight: number;
  state: string;
  activeBefore: number;
  activeAfter: number;
  replicaBefore: number;
  replicaAfter: number;
  movesIn: number;
  movesOut: number;
}

export interface WhatIfResult {
  before: BalanceReport;
  after: BalanceReport;
  moves: PlannedMove[];
  activeMoves: number;
  replicaMoves: number;
  /** Present when nodes failed: units whose active changed by promotion, and units lost. */
  failover: { promotedUnits: number; lostUnits: number } | null;
  nodes: WhatIfNodeRow[];
  warnings: string[];
  start: ClusterMap;
  next: ClusterMap;
  /** Time the planner took, ms. */
  planMs: number;
}

export const NO_CHANGE: Readonly<WhatIfChange> = Object.freeze({ add: [], remove: [], fail: [], weights: {}, zones: {}, redundancy: null });

/** Copies per unit in `map` (its longest chain). */
export function redundancyOf(map: ClusterMap): number {
  // The copies most buckets have: a unit in motion holds one more until its move switches,
  // so the longest chain would overstate it in the middle of a rebalance.
  const buckets = new Map<number, number>();
  const total = 2 ** map.bits;
  for (let i = 0; i < map.runStarts.length; i++) {
    const len = map.chains[map.runChains[i]!]?.length ?? 0;
    const size = (map.runStarts[i + 1] ?? total) - map.runStarts[i]!;
    buckets.set(len, (buckets.get(len) ?? 0) + size);
  }
  let best = 1;
  let most = 0;
  for (const [len, n] of buckets) if (len >= 1 && (n > most || (n === most && len > best))) [best, most] = [len, n];
  return best;
}

/** A cluster as the planner would place it from scratch. */
export function syntheticMap(nodes: number, zones: number, bits: number, redundancy: number): { map: ClusterMap; warnings: string[] } {
  const digits = String(nodes - 1).length;
  const list: PlannerNode[] = Array.from({ length: nodes }, (_, i) => ({
    id: `node-${String(i).padStart(digits, '0')}`, address: `ws://sim-${i}:7000`, peerKey: null,
    zone: zones > 0 ? `z${i % zones}` : '', weight: 1, state: 'active',
  }));
  const r = plan({ previous: null, nodes: list, redundancy, bits });
  return { map: r.map, warnings: r.warnings };
}

function startMap(start: WhatIfStart): ClusterMap {
  return start.kind === 'live' ? start.map : syntheticMap(start.nodes, start.zones, start.bits, start.redundancy).map;
}

/** Run the planner on `start` changed by `change`. @throws Error when the change leaves no node */
export function runWhatIf(start: WhatIfStart, change: WhatIfChange, now: () => number = () => Date.now()): WhatIfResult {
  const first = startMap(start);
  const t0 = now();
  const failed = new Set(change.fail);
  const removed = new Set(change.remove);
  const taken = new Set(first.nodes.map((n) => n.id));
  let next = 0;
  const added: PlannerNode[] = change.add.map((a) => {
    while (taken.has(`new-${next}`)) next++;
    taken.add(`new-${next}`);
    return { id: `new-${next}`, address: `ws://sim-new-${next}:7000`, peerKey: null, zone: a.zone, weight: a.weight, state: 'active' };
  });
  const nodes: PlannerNode[] = [...first.nodes.map((n): PlannerNode => {
    const weight = change.weights[n.id] ?? n.weight;
    const zone = change.zones[n.id] ?? n.zone;
    if (failed.has(n.id)) return { ...n, weight, zone, state: 'failed' };
    if (removed.has(n.id)) return { ...n, weight, zone, state: 'leaving' };
    return { ...n, weight, zone };
  }), ...added];
  if (!nodes.some((n) => n.state === 'active' || n.state === 'joining')) throw new Error('the change leaves no node to hold the data');
  let from = first;
  let failover: WhatIfResult['failover'] = null;
  const failedHere = first.nodes.filter((n) => failed.has(n.id) && n.state !== 'failed').map((n) => n.id);
  if (failedHere.length > 0) {
    const promoted = promoteOnly(first, new Set(failedHere));
    failover = { promotedUnits: activeChanges(first, promoted.map), lostUnits: promoted.lostUnits.length };
    from = promoted.map;
  }
  const r = plan({ previous: from, nodes, redundancy: change.redundancy ?? redundancyOf(first) });
  const planMs = now() - t0;
  const before = balanceReport(first);
  const scale = 2 ** (r.map.unitBits - first.unitBits);
  const rows: WhatIfNodeRow[] = r.balance.nodes.map((n) => {
    const old = before.nodes.find((b) => b.id === n.id);
    return {
      id: n.id, zone: n.zone, weight: n.weight, state: n.state,
      activeBefore: (old?.activeUnits ?? 0) * scale, activeAfter: n.activeUnits,
      replicaBefore: (old?.replicaUnits ?? 0) * scale, replicaAfter: n.replicaUnits,
      movesIn: r.moves.filter((m) => m.to === n.id).length, movesOut: r.moves.filter((m) => m.from === n.id).length,
    };
  });
  const activeMoves = r.moves.filter((m) => m.role === 'active').length;
  return {
    before, after: r.balance, moves: r.moves, activeMoves, replicaMoves: r.moves.length - activeMoves, failover,
    nodes: rows, warnings: r.warnings, start: first, next: r.map, planMs,
  };
}

/** Units whose active node differs between two maps of the same grain. */
function activeChanges(a: ClusterMap, b: ClusterMap): number {
  const ga = activeIds(a);
  const gb = activeIds(b);
  let n = 0;
  for (let u = 0; u < ga.length; u++) if (ga[u] !== gb[u]) n++;
  return n;
}

function activeIds(map: ClusterMap): string[] {
  const units = 2 ** map.unitBits;
  const size = 2 ** (map.bits - map.unitBits);
  const total = 2 ** map.bits;
  const out = new Array<string>(units);
  for (let r = 0; r < map.runStarts.length; r++) {
    const end = r + 1 < map.runStarts.length ? map.runStarts[r + 1]! : total;
    const id = map.nodes[map.chains[map.runChains[r]!]![0]!]?.id ?? '';
    for (let u = Math.floor(map.runStarts[r]! / size); u * size < end; u++) out[u] = id;
  }
  return out;
}
