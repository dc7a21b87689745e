/**
 * The planner as an offline what-if (DESIGN §5), behind `pandakv plan`: builds a cluster
 * with no process running, applies a change (nodes added, removed, failed) and returns
 * the moves and the balance before and after. Pure: the command line is bin/commands/plan.ts.
 */
import { Encoder } from 'cbor-x';
import { chainOf, type ClusterMap } from '../../../shared/cluster-map.js';
import { balanceReport, plan, promoteOnly, type BalanceReport, type PlannedMove, type PlannerNode } from './plan.js';

export interface SimulationOptions {
  nodes: number;
  add: number;
  remove: number;
  fail: number;
  zones: number;
  weights: number[];
  redundancy: number;
  bits: number;
}

export interface NodeRow {
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
  activeRatio: number | null;
  replicaRatio: number | null;
}

export interface SimulationResult {
  options: SimulationOptions;
  unitBits: { before: number; after: number };
  /** Present when nodes failed: what the promote-only map did. */
  failover: { promotedUnits: number; lostUnits: number } | null;
  moves: { active: number; replica: number; idealActive: number; idealReplica: number };
  balance: { before: BalanceSummary; after: BalanceSummary };
  nodes: NodeRow[];
  map: { runs: number; chains: number; cborBytes: number; epoch: number; rev: number };
  warnings: string[];
}

export interface BalanceSummary {
  maxActiveRatio: number;
  minActiveRatio: number;
  maxReplicaRatio: number;
  minReplicaRatio: number;
}

function summary(b: BalanceReport): BalanceSummary {
  return { maxActiveRatio: b.maxActiveRatio, minActiveRatio: b.minActiveRatio, maxReplicaRatio: b.maxReplicaRatio, minReplicaRatio: b.minReplicaRatio };
}

function makeNodes(o: SimulationOptions): PlannerNode[] {
  const total = o.nodes + o.add;
  const digits = String(total - 1).length;
  return Array.from({ length: total }, (_, i) => ({
    id: `node-${String(i).padStart(digits, '0')}`,
    address: `ws://10.0.${Math.floor(i / 250)}.${(i % 250) + 1}:7000`,
    peerKey: null,
    zone: o.zones > 0 ? `z${i % o.zones}` : '',
    weight: o.weights[i % o.weights.length]!,
    state: 'active',
  }));
}

/** Units whose active node differs between two maps of the same grain. */
function countActiveChanges(before: ClusterMap, after: ClusterMap): number {
  const size = 2 ** (before.bits - before.unitBits);
  let changed = 0;
  for (let u = 0; u < 2 ** before.unitBits; u++) {
    const a = chainOf(before, u * size)[0]!;
    const b = chainOf(after, u * size)[0]!;
    if (before.nodes[a]!.id !== after.nodes[b]!.id) changed++;
  }
  return changed;
}

/** Run the simulation and return its figures. */
export function simulate(o: SimulationOptions): SimulationResult {
  const all = makeNodes(o);
  const initial = all.slice(0, o.nodes);
  const first = plan({ previous: null, nodes: initial, redundancy: o.redundancy, bits: o.bits });
  const failedIds = new Set(initial.slice(0, o.fail).map((n) => n.id));
  const removedIds = new Set(initial.slice(o.nodes - o.remove).map((n) => n.id));
  const changed: PlannerNode[] = all.map((n) => {
    if (failedIds.has(n.id)) return { ...n, state: 'failed' };
    if (removedIds.has(n.id)) return { ...n, state: 'leaving' };
    return n;
  });
  let start = first.map;
  let failover: SimulationResult['failover'] = null;
  if (failedIds.size > 0) {
    const promoted = promoteOnly(first.map, failedIds);
    failover = { promotedUnits: countActiveChanges(first.map, promoted.map), lostUnits: promoted.lostUnits.length };
    start = promoted.map;
  }
  const next = plan({ previous: start, nodes: changed, redundancy: o.redundancy });
  const before = balanceReport(first.map);
  const after = next.balance;
  const scale = 2 ** (next.map.unitBits - first.map.unitBits);
  const moved = (id: string, pick: (m: PlannedMove) => string | null): number => next.moves.filter((m) => pick(m) === id).length;
  const nodes: NodeRow[] = after.nodes.map((n) => {
    const old = before.nodes.find((b) => b.id === n.id);
    return {
      id: n.id, zone: n.zone, weight: n.weight, state: n.state,
      activeBefore: (old?.activeUnits ?? 0) * scale, activeAfter: n.activeUnits,
      replicaBefore: (old?.replicaUnits ?? 0) * scale, replicaAfter: n.replicaUnits,
      movesIn: moved(n.id, (m) => m.to), movesOut: moved(n.id, (m) => m.from),
      activeRatio: n.activeRatio, replicaRatio: n.replicaRatio,
    };
  });
  const weight = (list: PlannerNode[]): number => list.reduce((s, n) => s + n.weight, 0);
  const placeable = changed.filter((n) => n.state === 'active');
  const addedShare = weight(all.slice(o.nodes)) / weight(placeable);
  const copies = Math.min(o.redundancy, placeable.length);
  const active = next.moves.filter((m) => m.role === 'active').length;
  return {
    options: o,
    unitBits: { before: first.map.unitBits, after: next.map.unitBits },
    failover,
    moves: {
      active, replica: next.moves.length - active,
      idealActive: after.units * addedShare, idealReplica: after.units * addedShare * (copies - 1),
    },
    balance: { before: summary(before), after: summary(after) },
    nodes,
    map: {
      runs: next.map.runStarts.length, chains: next.map.chains.length, epoch: next.map.epoch, rev: next.map.rev,
      cborBytes: new Encoder({ useRecords: false, variableMapSize: true }).encode(next.map).length,
    },
    warnings: [...new Set([...first.warnings, ...next.warnings])],
  };
}
