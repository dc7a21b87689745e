/**
 * Sets of bucket ranges, the grain a scan tracks: which part of the bucket space a node
 * answers for and which part a scan has still to read. A set is a flat array
 * `[start0, end0, start1, end1, …]` of half-open ranges at a stated number of bucket
 * bits, sorted, disjoint and never adjacent (adjacent ranges are merged), so two sets
 * covering the same buckets are equal element by element. Pure functions, no I/O.
 *
 * Raising the bits splits every bucket in two (`b` → `2b`, `2b + 1`), so a set at `n`
 * bits is the same set at `n + k` bits with every bound times 2^k.
 */
import { activeRanges, type ClusterMap } from './cluster-map.js';
import { MAX_BUCKET_BITS } from './keystream.js';

/** A normalised flat range set: `[start0, end0, start1, end1, …]`. */
export type BucketRanges = readonly number[];

/** Every bucket at `bits`. */
export function everyBucket(bits: number): number[] {
  return [0, 2 ** bits];
}

/** The set at `toBits` (≥ `fromBits`) that covers the same buckets. */
export function scaleRanges(r: BucketRanges, fromBits: number, toBits: number): number[] {
  if (toBits < fromBits) throw new RangeError(`cannot scale ranges down from ${fromBits} to ${toBits} bits`);
  const f = 2 ** (toBits - fromBits);
  return f === 1 ? r.slice() : r.map((x) => x * f);
}

/**
 * The smallest set at `toBits` (< `fromBits`) that covers every bucket of `r`: a bucket at
 * the coarser bits is in it when any of its halves is.
 */
export function coarsenRanges(r: BucketRanges, fromBits: number, toBits: number): number[] {
  const f = 2 ** (fromBits - toBits);
  const out: number[] = [];
  for (let i = 0; i < r.length; i += 2) push(out, Math.floor(r[i]! / f), Math.ceil(r[i + 1]! / f));
  return out;
}

/** The ranges the node at `nodeIndex` is active for in `map`, at `bits` (≥ map.bits). */
export function activeRangesAt(map: ClusterMap, nodeIndex: number, bits: number): number[] {
  const out: number[] = [];
  for (const [s, e] of activeRanges(map, nodeIndex)) push(out, s, e);
  return scaleRanges(out, map.bits, bits);
}

/** Convert `[start, end)` pairs into a normalised set. */
export function fromPairs(pairs: ReadonlyArray<readonly [number, number]>): number[] {
  const out: number[] = [];
  for (const [s, e] of pairs) push(out, s, e);
  return out;
}

/** True when `bucket` lies in `r`. */
export function hasBucket(r: BucketRanges, bucket: number): boolean {
  // Binary search over range starts: the last start ≤ bucket.
  let lo = 0;
  let hi = (r.length >>> 1) - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (bucket < r[2 * mid]!) hi = mid - 1;
    else if (bucket >= r[2 * mid + 1]!) lo = mid + 1;
    else return true;
  }
  return false;
}

export function isEmptyRanges(r: BucketRanges): boolean {
  return r.length === 0;
}

export function sameRanges(a: BucketRanges, b: BucketRanges): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function unionRanges(a: BucketRanges, b: BucketRanges): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! <= b[j]!)) {
      push(out, a[i]!, a[i + 1]!);
      i += 2;
    } else {
      push(out, b[j]!, b[j + 1]!);
      j += 2;
    }
  }
  return out;
}

export function intersectRanges(a: BucketRanges, b: BucketRanges): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const s = Math.max(a[i]!, b[j]!);
    const e = Math.min(a[i + 1]!, b[j + 1]!);
    if (s < e) push(out, s, e);
    if (a[i + 1]! < b[j + 1]!) i += 2;
    else j += 2;
  }
  return out;
}

/** The buckets of `a` that are not in `b`. */
export function subtractRanges(a: BucketRanges, b: BucketRanges): number[] {
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i += 2) {
    let s = a[i]!;
    const e = a[i + 1]!;
    while (j < b.length && b[j + 1]! <= s) j += 2;
    let k = j;
    while (k < b.length && b[k]! < e) {
      if (b[k]! > s) push(out, s, b[k]!);
      s = Math.max(s, b[k + 1]!);
      k += 2;
    }
    if (s < e) push(out, s, e);
  }
  return out;
}

/** True when every bucket of `inner` is in `outer` (both at the same bits). */
export function coversRanges(outer: BucketRanges, inner: BucketRanges): boolean {
  return subtractRanges(inner, outer).length === 0;
}

/**
 * True when `owned` (at `ownedBits`) covers `wanted` (at `wantedBits`), whichever bits
 * are finer: ownership is decided per bucket at `ownedBits`.
 */
export function coversAcrossBits(owned: BucketRanges, ownedBits: number, wanted: BucketRanges, wantedBits: number): boolean {
  if (wantedBits >= ownedBits) return coversRanges(scaleRanges(owned, ownedBits, wantedBits), wanted);
  return coversRanges(owned, scaleRanges(wanted, wantedBits, ownedBits));
}

/**
 * Read a range set off the wire: a flat array of unsigned integers below 2^bits, each
 * range non-empty, sorted and not overlapping (adjacent ranges are allowed and merged).
 * Returns the normalised set, or a message saying what is wrong.
 */
export function readWireRanges(v: unknown, bits: unknown, maxRanges: number): { ranges: number[]; bits: number } | string {
  if (typeof bits !== 'number' || bits >>> 0 !== bits || bits > MAX_BUCKET_BITS) return `bits must be an integer in 0..${MAX_BUCKET_BITS}`;
  if (!Array.isArray(v)) return 'ranges must be an array of bucket numbers';
  if (v.length % 2 !== 0) return 'ranges must hold start and end pairs';
  if (v.length > 2 * maxRanges) return `ranges holds more than ${maxRanges} ranges`;
  const total = 2 ** bits;
  const out: number[] = [];
  let last = 0;
  for (let i = 0; i < v.length; i += 2) {
    const s: unknown = v[i];
    const e: unknown = v[i + 1];
    if (typeof s !== 'number' || typeof e !== 'number' || !Number.isInteger(s) || !Number.isInteger(e)) return 'ranges must hold integers';
    if (s < last || e <= s || e > total) return 'ranges must be sorted, non-empty and within 2^bits';
    push(out, s, e);
    last = e;
  }
  return { ranges: out, bits };
}

/** A short text form for logs and errors: `[0,4)[9,12)@5`. */
export function formatRanges(r: BucketRanges, bits: number, maxShown = 8): string {
  const parts: string[] = [];
  for (let i = 0; i < r.length && parts.length < maxShown; i += 2) parts.push(`[${r[i]},${r[i + 1]})`);
  if (r.length / 2 > maxShown) parts.push(`…+${r.length / 2 - maxShown}`);
  return `${parts.join('')}@${bits}`;
}

// Append [s, e) to a normalised set whose last range starts at or before s.
function push(out: number[], s: number, e: number): void {
  if (e <= s) return;
  const n = out.length;
  if (n > 0 && out[n - 1]! >= s) {
    if (e > out[n - 1]!) out[n - 1] = e;
    return;
  }
  out.push(s, e);
}
