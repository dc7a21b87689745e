/**
 * Per-unit view of a map: the planner works on one chain per unit (typed arrays),
 * and the map stores runs of consecutive units that share a chain. This file converts
 * between the two.
 */
import type { ClusterMap } from '../../../shared/cluster-map.js';

/** One chain per unit: `active[u]`, then `replicas[u * width + k]` (-1 = empty slot). */
export interface UnitChains {
  units: number;
  /** Replica slots per unit. */
  width: number;
  active: Int32Array;
  replicas: Int32Array;
}

export function emptyChains(units: number, width: number): UnitChains {
  return { units, width, active: new Int32Array(units).fill(-1), replicas: new Int32Array(units * width).fill(-1) };
}

/** Members of unit `u`'s chain, active first, empty slots skipped. */
export function chainAt(c: UnitChains, u: number): number[] {
  const out: number[] = [];
  if (c.active[u]! >= 0) out.push(c.active[u]!);
  for (let k = 0; k < c.width; k++) {
    const m = c.replicas[u * c.width + k]!;
    if (m >= 0) out.push(m);
  }
  return out;
}

/**
 * Chains of `map` at `unitBits` (≥ the map's own): each unit takes the chain of its
 * first bucket. `isAligned` is false when some run starts inside a unit, in which case
 * the rest of that unit changes owner.
 */
export function expandMap(map: ClusterMap, unitBits: number): { chains: UnitChains; isAligned: boolean } {
  const units = 2 ** unitBits;
  const size = 2 ** (map.bits - unitBits);
  let width = 0;
  for (const chain of map.chains) width = Math.max(width, chain.length - 1);
  const out = emptyChains(units, width);
  const starts = map.runStarts;
  let isAligned = starts.length > 0 && starts[0] === 0;
  for (const s of starts) if (s % size !== 0) isAligned = false;
  for (let run = 0; run < starts.length; run++) {
    // Units whose first bucket lies in this run.
    const from = run === 0 ? 0 : Math.ceil(starts[run]! / size);
    const to = run + 1 < starts.length ? Math.ceil(starts[run + 1]! / size) : units;
    if (from >= to) continue;
    const chain = map.chains[map.runChains[run]!] ?? [];
    out.active.fill(chain.length > 0 ? chain[0]! : -1, from, to);
    for (let k = 1; k < chain.length; k++) {
      for (let u = from; u < to; u++) out.replicas[u * width + k - 1] = chain[k]!;
    }
  }
  return { chains: out, isAligned };
}

function sameSlots(c: UnitChains, a: number, b: number): boolean {
  if (c.active[a] !== c.active[b]) return false;
  for (let k = 0; k < c.width; k++) if (c.replicas[a * c.width + k] !== c.replicas[b * c.width + k]) return false;
  return true;
}

/** Runs (in bucket space) and a deduplicated chain table for `c`, chains in order of first use. */
export function compressRuns(c: UnitChains, bits: number, unitBits: number): { chains: number[][]; runStarts: number[]; runChains: number[] } {
  const size = 2 ** (bits - unitBits);
  const chains: number[][] = [];
  const index = new Map<string, number>();
  const runStarts: number[] = [];
  const runChains: number[] = [];
  let current = -1;
  for (let u = 0; u < c.units; u++) {
    if (u > 0 && sameSlots(c, u, u - 1)) continue;
    const chain = chainAt(c, u);
    const key = chain.join(',');
    let at = index.get(key);
    if (at === undefined) {
      at = chains.length;
      chains.push(chain);
      index.set(key, at);
    }
    if (at === current) continue;
    runStarts.push(u * size);
    runChains.push(at);
    current = at;
  }
  return { chains, runStarts, runChains };
}
