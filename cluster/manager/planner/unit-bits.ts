/**
 * Placement grain. A unit is an aligned block of 2^(bits − unitBits) buckets; the
 * planner places units, so the smallest node must get enough of them for its share
 * to round well. Raising unitBits splits units in place and moves nothing; lowering
 * would merge units with different owners, so it never happens.
 */

/** Active units the lightest placeable node should hold at least. */
export const MIN_UNITS_PER_NODE = 100;

export interface UnitBitsInput {
  bits: number;
  /** unitBits of the previous map, `null` for a new cluster. */
  previous: number | null;
  /** An explicit request, if any. */
  requested: number | undefined;
  /** Weights of the placeable nodes. */
  weights: readonly number[];
}

/** Smallest p such that the lightest node's share of 2^p units is ≥ MIN_UNITS_PER_NODE. */
export function minimumUnitBits(weights: readonly number[]): number {
  let total = 0;
  let lightest = Infinity;
  for (const w of weights) {
    total += w;
    lightest = Math.min(lightest, w);
  }
  if (weights.length === 0) return 0;
  let p = 0;
  while ((2 ** p * lightest) / total < MIN_UNITS_PER_NODE - 1e-9 && p < 52) p++;
  return p;
}

/** Pick the unit bits of the next map; explains any compromise in `warnings`. */
export function chooseUnitBits(input: UnitBitsInput, warnings: string[]): number {
  const { bits, previous, requested } = input;
  const floor = previous ?? 0;
  if (requested !== undefined) {
    if (!Number.isInteger(requested) || requested < 0) throw new RangeError(`planner: unitBits must be a non-negative integer, got ${requested}`);
    if (requested < floor) {
      warnings.push(`unitBits ${requested} is below the current ${floor}; units are never merged, keeping ${floor}`);
      return floor;
    }
    if (requested > bits) {
      warnings.push(`unitBits ${requested} exceeds bits ${bits}; using ${bits}`);
      return bits;
    }
    return requested;
  }
  const wanted = Math.max(floor, minimumUnitBits(input.weights));
  if (wanted > bits) {
    warnings.push(`${bits} bucket bits cannot give every node ${MIN_UNITS_PER_NODE} units (needs ${wanted}); balance will be coarser`);
    return bits;
  }
  return wanted;
}
