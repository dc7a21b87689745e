/**
 * Online bucket split (DESIGN §3): one more bucket bit. Bucket b becomes 2b and 2b+1,
 * both served by b's chain; units keep their numbers (each covers twice as many
 * buckets), so nothing moves and the epoch stays.
 */
import type { ClusterMap } from '../../../shared/cluster-map.js';

/** Largest bucket bits for which bucket numbers stay exact doubles. */
export const MAX_BITS = 52;

/** The same placement with `bits + 1`: every run start doubles. */
export function splitBuckets(previous: ClusterMap): ClusterMap {
  if (previous.bits >= MAX_BITS) throw new RangeError(`cannot split beyond ${MAX_BITS} bucket bits`);
  return {
    epoch: previous.epoch,
    rev: previous.rev + 1,
    bits: previous.bits + 1,
    unitBits: previous.unitBits,
    nodes: previous.nodes.map((n) => ({ ...n })),
    chains: previous.chains.map((c) => [...c]),
    runStarts: previous.runStarts.map((s) => s * 2),
    runChains: [...previous.runChains],
    moves: previous.moves.map((m) => ({ ...m })),
  };
}
