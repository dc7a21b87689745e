/**
 * The map as a grid of nodes × unit columns for the dashboard's canvas. A map of 2^20
 * buckets may have tens of thousands of units, more than pixels across, so each column
 * stands for `unitsPerColumn` consecutive units and a cell shows the strongest role the
 * node has in any of them. Works from the runs: cost is units × copies, not buckets.
 */
import type { ClusterMap } from '../../../shared/cluster-map.js';

/** Cell values, strongest last: a cell keeps the highest role seen in its column. */
export const CELL = Object.freeze({ NONE: 0, REPLICA: 1, ACTIVE: 2, MOVING: 3 });

export interface MapGrid {
  nodes: number;
  columns: number;
  unitsPerColumn: number;
  /** `cells[node * columns + column]`, one of CELL. */
  cells: Uint8Array;
  /** Active and replica units per node (not per column). */
  activeUnits: Uint32Array;
  replicaUnits: Uint32Array;
}

/**
 * Build the grid with at most `maxColumns` columns.
 * @param maxColumns at least 1
 */
export function mapGrid(map: ClusterMap, maxColumns: number): MapGrid {
  const units = 2 ** map.unitBits;
  const unitsPerColumn = Math.max(1, Math.ceil(units / Math.max(1, Math.floor(maxColumns))));
  const columns = Math.ceil(units / unitsPerColumn);
  const n = map.nodes.length;
  const cells = new Uint8Array(n * columns);
  const activeUnits = new Uint32Array(n);
  const replicaUnits = new Uint32Array(n);
  const unitSize = 2 ** (map.bits - map.unitBits);
  const total = 2 ** map.bits;
  for (let r = 0; r < map.runStarts.length; r++) {
    const first = Math.floor(map.runStarts[r]! / unitSize);
    const end = Math.ceil((r + 1 < map.runStarts.length ? map.runStarts[r + 1]! : total) / unitSize);
    const chain = map.chains[map.runChains[r]!] ?? [];
    for (let k = 0; k < chain.length; k++) {
      const node = chain[k]!;
      if (node < 0 || node >= n) continue;
      const role = k === 0 ? CELL.ACTIVE : CELL.REPLICA;
      if (k === 0) activeUnits[node]! += end - first;
      else replicaUnits[node]! += end - first;
      const row = node * columns;
      // One write per column the run touches, not one per unit.
      for (let col = Math.floor(first / unitsPerColumn); col * unitsPerColumn < end; col++) {
        if (cells[row + col]! < role) cells[row + col] = role;
      }
    }
  }
  for (const m of map.moves) {
    const col = Math.floor(m.unit / unitsPerColumn);
    if (col >= columns) continue;
    for (const node of [m.from, m.to]) if (node >= 0 && node < n) cells[node * columns + col] = CELL.MOVING;
  }
  return { nodes: n, columns, unitsPerColumn, cells, activeUnits, replicaUnits };
}
