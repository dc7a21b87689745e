/**
 * Failure domains. With two or more zones among the placeable nodes a domain is a
 * zone; otherwise every node is its own domain. A replica never shares its active's
 * domain, so one rule covers "not on the active's node" and "not in its zone".
 */
import type { MapNode } from '../../../shared/cluster-map.js';
import { compareIds } from './node-table.js';

export interface Domains {
  /** True when at least two zones hold placeable nodes. */
  hasZones: boolean;
  /** Number of distinct zones among placeable nodes. */
  zoneCount: number;
  /** Number of domains. */
  count: number;
  /** Domain of each node index; -1 for nodes that hold nothing. */
  of: Int32Array;
  /** Placeable nodes per domain. */
  sizes: number[];
  /** A label per domain, for warnings. */
  labels: string[];
}

export function buildDomains(nodes: readonly MapNode[], placeable: readonly number[]): Domains {
  const zones = [...new Set(placeable.map((i) => nodes[i]!.zone))].sort(compareIds);
  const hasZones = zones.length >= 2;
  const of = new Int32Array(nodes.length).fill(-1);
  let labels: string[];
  if (hasZones) {
    const index = new Map(zones.map((z, i) => [z, i]));
    for (const i of placeable) of[i] = index.get(nodes[i]!.zone)!;
    labels = zones.map((z) => (z === '' ? 'zone ""' : `zone ${z}`));
  } else {
    placeable.forEach((i, k) => { of[i] = k; });
    labels = placeable.map((i) => `node ${nodes[i]!.id}`);
  }
  const sizes = new Array<number>(labels.length).fill(0);
  for (const i of placeable) sizes[of[i]!]!++;
  return { hasZones, zoneCount: zones.length, count: labels.length, of, sizes, labels };
}
