/**
 * Shared generators and checks for the planner tests: random clusters, per-unit chains
 * read back through routing (`chainOf`), the placement invariants, and an independent
 * max-flow oracle that says whether balanced replicas exist at all.
 */
import * as fc from 'fast-check';
import * as assert from 'uvu/assert';
import { chainOf, type ClusterMap, type NodeState } from '../../../../shared/cluster-map.js';
import type { PlannerNode } from '../../../../cluster/manager/planner/plan.js';

export interface ClusterSpec {
  nodes: PlannerNode[];
  redundancy: number;
  /** Number of zones drawn (0 = no zones). */
  zones: number;
}

export function makeNode(i: number, zone: string, weight: number, state: NodeState = 'active'): PlannerNode {
  return { id: `node-${String(i).padStart(3, '0')}`, address: `ws://10.0.0.${i}:7000`, peerKey: null, zone, weight, state };
}

/** Integer or fractional weights in [1, 10]. */
export const weightArb: fc.Arbitrary<number> = fc.oneof(
  fc.integer({ min: 1, max: 10 }),
  fc.integer({ min: 10, max: 100 }).map((x) => x / 10),
  fc.double({ min: 1, max: 10, noNaN: true, noDefaultInfinity: true }),
);

/** Random clusters: 1..maxNodes nodes, 0..4 zones, redundancy 1..3. */
export function clusterArb(minNodes = 1, maxNodes = 100): fc.Arbitrary<ClusterSpec> {
  return fc.record({
    count: fc.integer({ min: minNodes, max: maxNodes }),
    zones: fc.integer({ min: 0, max: 4 }),
    redundancy: fc.integer({ min: 1, max: 3 }),
    weights: fc.array(weightArb, { minLength: maxNodes, maxLength: maxNodes }),
    zoneDraws: fc.array(fc.nat(), { minLength: maxNodes, maxLength: maxNodes }),
  }).map(({ count, zones, redundancy, weights, zoneDraws }) => ({
    zones,
    redundancy,
    nodes: Array.from({ length: count }, (_, i) => makeNode(i, zones === 0 ? '' : `z${zoneDraws[i]! % zones}`, weights[i]!)),
  }));
}

/** Each unit's chain, read through routing (`chainOf`) at the unit's first bucket; runs must start on units. */
export function unitChains(map: ClusterMap): number[][] {
  const units = 2 ** map.unitBits;
  const size = 2 ** (map.bits - map.unitBits);
  for (const start of map.runStarts) if (start % size !== 0) assert.unreachable(`run at ${start} splits a unit`);
  const out: number[][] = [];
  for (let u = 0; u < units; u++) out.push(chainOf(map, u * size) as number[]);
  return out;
}

function isPlaceable(state: NodeState): boolean {
  return state === 'active' || state === 'joining';
}

/**
 * Every unit has min(redundancy, placeable) distinct placeable copies; no replica on the
 * active's node; and with ≥ 2 zones, no replica in the active's zone unless the zone has
 * too few nodes outside it (then exactly as many as needed stay inside).
 */
export function checkPlacement(map: ClusterMap, redundancy: number, chains = unitChains(map)): void {
  const placeable = map.nodes.flatMap((n, i) => (isPlaceable(n.state) ? [i] : []));
  const copies = Math.min(redundancy, placeable.length);
  const zones = new Set(placeable.map((i) => map.nodes[i]!.zone));
  const outsideOf = new Map<string, number>();
  for (const z of zones) outsideOf.set(z, placeable.filter((i) => map.nodes[i]!.zone !== z).length);
  // Checked without assert calls per unit: one message per failure, not per unit.
  for (let u = 0; u < chains.length; u++) {
    const chain = chains[u]!;
    if (chain.length !== copies) assert.unreachable(`unit ${u} has ${chain.length} copies, expected ${copies}`);
    if (new Set(chain).size !== chain.length) assert.unreachable(`unit ${u} repeats a node: ${chain.join(',')}`);
    for (const m of chain) if (!isPlaceable(map.nodes[m]!.state)) assert.unreachable(`unit ${u} is on ${map.nodes[m]!.state} node ${m}`);
    if (zones.size >= 2) {
      const zone = map.nodes[chain[0]!]!.zone;
      let outside = 0;
      for (let k = 1; k < chain.length; k++) if (map.nodes[chain[k]!]!.zone !== zone) outside++;
      if (outside !== Math.min(copies - 1, outsideOf.get(zone)!)) assert.unreachable(`unit ${u} has replicas in its active's zone: ${chain.join(',')}`);
    }
  }
}

/** Per node index: active and replica units. */
export function countUnits(map: ClusterMap, chains: number[][]): { active: number[]; replica: number[] } {
  const active = new Array<number>(map.nodes.length).fill(0);
  const replica = new Array<number>(map.nodes.length).fill(0);
  for (const chain of chains) chain.forEach((m, k) => (k === 0 ? active[m]!++ : replica[m]!++));
  return { active, replica };
}

/**
 * Oracle: can the replicas of `chains` (actives fixed) be placed with every node at most
 * `factor` × its weighted replica quota, under the zone rule? Units are grouped by the
 * active's domain (its zone with ≥ 2 zones, else its node); a group's units may put at
 * most one copy on each node outside the domain. Dense Dinic, independent of the planner's.
 * Only meaningful when every zone has enough nodes outside it.
 */
export function isReplicaBalanceFeasible(map: ClusterMap, chains: number[][], factor: number): boolean {
  const placeable = map.nodes.flatMap((n, i) => (isPlaceable(n.state) ? [i] : []));
  const copies = chains[0]?.length ?? 0;
  if (copies <= 1) return true;
  const zones = new Set(placeable.map((i) => map.nodes[i]!.zone));
  const domainOf = (i: number): string => (zones.size >= 2 ? map.nodes[i]!.zone : `#${i}`);
  const domains = [...new Set(placeable.map(domainOf))];
  const size = new Map<string, number>();
  for (const chain of chains) size.set(domainOf(chain[0]!), (size.get(domainOf(chain[0]!)) ?? 0) + 1);
  const weight = placeable.reduce((s, i) => s + map.nodes[i]!.weight, 0);
  const slots = chains.length * (copies - 1);
  // Vertices: 0 source, 1 sink, 2.. domains, then nodes.
  const V = 2 + domains.length + placeable.length;
  const cap: number[][] = Array.from({ length: V }, () => new Array<number>(V).fill(0));
  domains.forEach((d, gi) => {
    cap[0]![2 + gi] = (size.get(d) ?? 0) * (copies - 1);
    placeable.forEach((i, ni) => {
      if (domainOf(i) !== d) cap[2 + gi]![2 + domains.length + ni] = size.get(d) ?? 0;
    });
  });
  placeable.forEach((i, ni) => {
    cap[2 + domains.length + ni]![1] = Math.floor(factor * (slots * map.nodes[i]!.weight) / weight);
  });
  return denseMaxFlow(cap) === slots;
}

/** Dinic on a dense capacity matrix, source 0, sink 1. */
function denseMaxFlow(cap: number[][]): number {
  const V = cap.length;
  let flow = 0;
  for (;;) {
    const level = new Array<number>(V).fill(-1);
    level[0] = 0;
    const queue = [0];
    for (let qi = 0; qi < queue.length; qi++) {
      const v = queue[qi]!;
      for (let w = 0; w < V; w++) {
        if (level[w] === -1 && cap[v]![w]! > 0) {
          level[w] = level[v]! + 1;
          queue.push(w);
        }
      }
    }
    if (level[1] === -1) return flow;
    const next = new Array<number>(V).fill(0);
    const push = (v: number, limit: number): number => {
      if (v === 1) return limit;
      for (; next[v]! < V; next[v]!++) {
        const w = next[v]!;
        if (level[w] !== level[v]! + 1 || cap[v]![w]! <= 0) continue;
        const f = push(w, Math.min(limit, cap[v]![w]!));
        if (f > 0) {
          cap[v]![w]! -= f;
          cap[w]![v]! += f;
          return f;
        }
      }
      return 0;
    };
    for (let f = push(0, Infinity); f > 0; f = push(0, Infinity)) flow += f;
  }
}

/** True when every zone has enough placeable nodes outside it for all replicas. */
export function hasRoomOutsideZones(map: ClusterMap, redundancy: number): boolean {
  const placeable = map.nodes.flatMap((n, i) => (isPlaceable(n.state) ? [i] : []));
  const zones = new Set(placeable.map((i) => map.nodes[i]!.zone));
  if (zones.size < 2) return true;
  const copies = Math.min(redundancy, placeable.length);
  for (const z of zones) if (placeable.filter((i) => map.nodes[i]!.zone !== z).length < copies - 1) return false;
  return true;
}
