/**
 * The node list of the next map. Indexes of the previous map stay put, new nodes are
 * appended in id order, and a node that vanished from the input stays listed (as
 * `leaving`, or `failed` if it already was) so that no index shifts under a client.
 */
import type { ClusterMap, MapNode, NodeState } from '../../../shared/cluster-map.js';
import type { PlannerNode } from './types.js';

export interface NodeTable {
  nodes: MapNode[];
  /** Indexes of the nodes that may hold units (`active`, `joining`), sorted by id. */
  placeable: number[];
  /** 1 at the index of a placeable node. */
  isPlaceable: Uint8Array;
  /** True when the list differs from the previous map's. */
  isChanged: boolean;
}

/** True for the states that may hold units. */
export function isPlaceableState(state: NodeState): boolean {
  return state === 'active' || state === 'joining';
}

/** Order two node ids the same way on every platform. */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const STATES: ReadonlySet<string> = new Set(['active', 'joining', 'leaving', 'failed']);

function checkNode(n: PlannerNode): void {
  if (typeof n.id !== 'string' || n.id === '') throw new RangeError('planner: a node needs a non-empty id');
  if (!STATES.has(n.state)) throw new RangeError(`planner: node ${n.id} has unknown state "${String(n.state)}"`);
  if (!Number.isFinite(n.weight) || n.weight < 0) throw new RangeError(`planner: node ${n.id} has invalid weight ${n.weight}`);
  if (isPlaceableState(n.state) && n.weight <= 0) throw new RangeError(`planner: ${n.state} node ${n.id} needs a weight > 0`);
}

function toMapNode(n: PlannerNode): MapNode {
  return { id: n.id, address: n.address, peerKey: n.peerKey, zone: n.zone, weight: n.weight, state: n.state };
}

function sameNode(a: MapNode, b: MapNode): boolean {
  return a.id === b.id && a.address === b.address && a.peerKey === b.peerKey && a.zone === b.zone
    && a.weight === b.weight && a.state === b.state;
}

/** Build the node list of the next map from the previous one and the known nodes. */
export function buildNodeTable(previous: ClusterMap | null, input: readonly PlannerNode[]): NodeTable {
  const byId = new Map<string, PlannerNode>();
  for (const n of input) {
    checkNode(n);
    if (byId.has(n.id)) throw new RangeError(`planner: duplicate node id ${n.id}`);
    byId.set(n.id, n);
  }
  const nodes: MapNode[] = [];
  const listed = new Set<string>();
  let isChanged = previous === null;
  for (const old of previous?.nodes ?? []) {
    const next = byId.get(old.id);
    let node: MapNode;
    if (next) node = toMapNode(next);
    else node = { ...old, state: old.state === 'failed' ? 'failed' : 'leaving' };
    if (!sameNode(old, node)) isChanged = true;
    nodes.push(node);
    listed.add(old.id);
  }
  const added = input.filter((n) => !listed.has(n.id)).sort((a, b) => compareIds(a.id, b.id));
  for (const n of added) {
    nodes.push(toMapNode(n));
    isChanged = true;
  }
  const isPlaceable = new Uint8Array(nodes.length);
  const placeable: number[] = [];
  nodes.forEach((n, i) => {
    if (isPlaceableState(n.state)) {
      isPlaceable[i] = 1;
      placeable.push(i);
    }
  });
  placeable.sort((a, b) => compareIds(nodes[a]!.id, nodes[b]!.id));
  return { nodes, placeable, isPlaceable, isChanged };
}
