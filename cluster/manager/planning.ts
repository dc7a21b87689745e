import { holdingNodes, type ClusterMap } from '../../shared/cluster-map.js';
import type { ClusterState } from './cluster-state.js';
import type { ManagerOptions } from './options.js';
import { plan, type PlannerNode, type PlanResult } from './planner/plan.js';

/** The nodes the planner places units on: every record but the ones still joining. */
export function plannerNodes(state: ClusterState): PlannerNode[] {
  return [...state.records.values()]
    .filter((r) => r.state !== 'joining')
    .map((r) => ({ id: r.id, address: r.address, peerKey: r.peerKey, zone: r.zone, weight: r.weight, state: r.state }));
}

/** The plan from `previous` with the cluster's redundancy. */
export function planFrom(
  state: ClusterState, options: ManagerOptions, previous: ClusterMap | null,
  nodes = plannerNodes(state), pulling: ReadonlySet<string> = new Set(),
): PlanResult {
  return plan({ previous, nodes, redundancy: state.settings?.redundancy ?? options.redundancy, bits: options.bits, pulling: [...pulling] });
}

/** Ids of the placeable nodes among `nodes` that hold no copy of any unit in `map`. */
export function emptyNodes(map: ClusterMap, nodes: readonly PlannerNode[]): string[] {
  const holding = new Set([...holdingNodes(map)].map((m) => map.nodes[m]?.id));
  return nodes.filter((n) => (n.state === 'active' || n.state === 'joining') && !holding.has(n.id)).map((n) => n.id);
}
