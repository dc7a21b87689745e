/**
 * The cluster map model (DESIGN §3): which chain of nodes serves each bucket.
 * Routing is a binary search over run starts, so the map stays small however many
 * buckets there are. Pure data and functions; encoding lives in map-codec.ts.
 */

export type NodeState = 'active' | 'joining' | 'leaving' | 'failed';

/** One node of the cluster. `id` is stable; `address` may change. */
export interface MapNode {
  id: string;
  /** Client-facing address, e.g. `ws://127.0.0.1:7000`. */
  address: string;
  /** Hex Ed25519 public key of the node's peer plane, when it has one. */
  peerKey: string | null;
  zone: string;
  weight: number;
  state: NodeState;
}

/** A unit in motion: clients learn a move is under way. */
export interface UnitMove {
  unit: number;
  from: number;
  to: number;
  phase: 'backfill' | 'catchup' | 'switch';
}

/** A manager of the cluster, as the map lists it: nodes, SDKs and proxies learn the others from here. */
export interface MapManager {
  /** Stable for the manager's process. */
  id: string;
  /** Its HTTP address (`http://host:port`); the map service is at `/map` there. */
  address: string;
  /** Hex Ed25519 public key it authenticates with; null when it runs `--insecure`. */
  publicKey: string | null;
}

export interface ClusterMap {
  /** Raised on every failover or ownership change. */
  epoch: number;
  /** Raised on every change. */
  rev: number;
  /** The cluster has 2^bits buckets. */
  bits: number;
  /** A unit is an aligned block of 2^(bits − unitBits) buckets. */
  unitBits: number;
  nodes: MapNode[];
  /** Each chain is `[active, replica1, …]` as indexes into `nodes`. */
  chains: number[][];
  /** Sorted start buckets of the runs; run i covers [runStarts[i], runStarts[i+1]). */
  runStarts: number[];
  /** Chain index of each run. */
  runChains: number[];
  moves: UnitMove[];
  /** The managers, the leader first; absent in maps written before managers were listed. */
  managers?: MapManager[];
}

/** Index of the run that holds `bucket`. */
export function findRun(map: ClusterMap, bucket: number): number {
  const starts = map.runStarts;
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (starts[mid]! <= bucket) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The chain `[active, replicas…]` (node indexes) that serves `bucket`. */
export function chainOf(map: ClusterMap, bucket: number): readonly number[] {
  return map.chains[map.runChains[findRun(map, bucket)]!]!;
}

/** Indexes of the nodes that hold a copy (active or replica) of some bucket in `map`. */
export function holdingNodes(map: ClusterMap): Set<number> {
  const out = new Set<number>();
  for (const c of map.runChains) for (const m of map.chains[c] ?? []) out.add(m);
  return out;
}

/** Unit number of a bucket. */
export function unitOf(map: ClusterMap, bucket: number): number {
  return Math.floor(bucket / 2 ** (map.bits - map.unitBits));
}

/** True when map `a` is strictly newer than `(epoch, rev)`. */
export function isNewer(a: { epoch: number; rev: number }, b: { epoch: number; rev: number }): boolean {
  return a.epoch > b.epoch || (a.epoch === b.epoch && a.rev > b.rev);
}

/** Bucket ranges `[start, end)` the node at `nodeIndex` is active for. */
export function activeRanges(map: ClusterMap, nodeIndex: number): Array<[number, number]> {
  const total = 2 ** map.bits;
  const out: Array<[number, number]> = [];
  for (let i = 0; i < map.runStarts.length; i++) {
    if (map.chains[map.runChains[i]!]![0] !== nodeIndex) continue;
    const start = map.runStarts[i]!;
    const end = i + 1 < map.runStarts.length ? map.runStarts[i + 1]! : total;
    const last = out[out.length - 1];
    if (last && last[1] === start) last[1] = end;
    else out.push([start, end]);
  }
  return out;
}

/**
 * The ranges `[start, end)` of a grid of 2^`gridBits` buckets that cover every bucket whose
 * chain leaves out node `nodeIndex` (every bucket when it is -1), in order and merged. A grid
 * cell only partly left out is covered whole: whoever uses the ranges checks each key.
 */
export function unheldRanges(map: ClusterMap, nodeIndex: number, gridBits: number): Array<[number, number]> {
  const total = 2 ** map.bits;
  const cell = (bucket: number, isEnd: boolean): number => {
    const at = (bucket / total) * 2 ** gridBits;
    return isEnd ? Math.ceil(at) : Math.floor(at);
  };
  const out: Array<[number, number]> = [];
  for (let i = 0; i < map.runStarts.length; i++) {
    if (nodeIndex >= 0 && map.chains[map.runChains[i]!]!.includes(nodeIndex)) continue;
    const start = cell(map.runStarts[i]!, false);
    const end = cell(i + 1 < map.runStarts.length ? map.runStarts[i + 1]! : total, true);
    const last = out[out.length - 1];
    if (last !== undefined && last[1] >= start) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}

/**
 * The ranges `[start, end)` of a grid of 2^`gridBits` buckets that `units` (of a map with
 * `unitBits`) cover, in order and merged; null when units are finer than the grid.
 */
export function unitGridRanges(units: Iterable<number>, unitBits: number, gridBits: number): Array<[number, number]> | null {
  if (unitBits > gridBits) return null;
  const width = 2 ** (gridBits - unitBits);
  const out: Array<[number, number]> = [];
  for (const unit of [...units].sort((a, b) => a - b)) {
    const last = out[out.length - 1];
    if (last !== undefined && last[1] === unit * width) last[1] += width;
    else out.push([unit * width, (unit + 1) * width]);
  }
  return out;
}

/**
 * A map with no manager: the given addresses split the bucket space into equal
 * contiguous runs (client-side sharding). One address owns everything.
 */
export function staticMap(addresses: readonly string[], bits = 24): ClusterMap {
  if (addresses.length === 0) throw new RangeError('a static map needs at least one node');
  const total = 2 ** bits;
  const nodes: MapNode[] = addresses.map((address) => ({
    id: address, address, peerKey: null, zone: '', weight: 1, state: 'active' as const,
  }));
  const runStarts: number[] = [];
  const runChains: number[] = [];
  for (let i = 0; i < nodes.length; i++) {
    runStarts.push(Math.floor((i * total) / nodes.length));
    runChains.push(i);
  }
  return {
    epoch: 0, rev: 0, bits, unitBits: Math.min(bits, 10), nodes,
    chains: nodes.map((_, i) => [i]), runStarts, runChains, moves: [],
  };
}
