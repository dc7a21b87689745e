import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  coarsenRanges, coversAcrossBits, coversRanges, everyBucket, hasBucket, intersectRanges, readWireRanges, scaleRanges, subtractRanges, unionRanges,
} from '../../../shared/bucket-ranges.js';

const test = suite('shared - bucket ranges');

/** A normalised set over [0, 64) as the list of its buckets, for checking against plain sets. */
function bucketsOf(r: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < r.length; i += 2) for (let b = r[i]!; b < r[i + 1]!; b++) out.push(b);
  return out;
}

function fromBuckets(buckets: Iterable<number>): number[] {
  const sorted = [...new Set(buckets)].sort((a, b) => a - b);
  const out: number[] = [];
  for (const b of sorted) {
    if (out.length > 0 && out[out.length - 1] === b) out[out.length - 1] = b + 1;
    else out.push(b, b + 1);
  }
  return out;
}

const bucketSet = fc.uniqueArray(fc.integer({ min: 0, max: 63 }), { maxLength: 40 });

test('union, intersection and difference agree with plain sets and stay normalised', () => {
  fc.assert(fc.property(bucketSet, bucketSet, (a, b) => {
    const ra = fromBuckets(a);
    const rb = fromBuckets(b);
    const sa = new Set(a);
    const sb = new Set(b);
    assert.equal(unionRanges(ra, rb), fromBuckets([...a, ...b]));
    assert.equal(intersectRanges(ra, rb), fromBuckets(a.filter((x) => sb.has(x))));
    assert.equal(subtractRanges(ra, rb), fromBuckets(a.filter((x) => !sb.has(x))));
    assert.is(coversRanges(ra, rb), b.every((x) => sa.has(x)));
    for (let x = 0; x < 64; x++) assert.is(hasBucket(ra, x), sa.has(x));
  }));
});

test('scaling up keeps the same buckets, coarsening covers every half, and coverage works across bits', () => {
  fc.assert(fc.property(bucketSet, fc.integer({ min: 0, max: 3 }), (a, k) => {
    const r = fromBuckets(a);
    const up = scaleRanges(r, 6, 6 + k);
    assert.equal(bucketsOf(up).map((b) => Math.floor(b / 2 ** k)).filter((b, i, all) => i === 0 || all[i - 1] !== b), bucketsOf(r));
    assert.equal(coarsenRanges(up, 6 + k, 6), r);
    assert.ok(coversAcrossBits(r, 6, up, 6 + k));
    assert.ok(coversAcrossBits(up, 6 + k, r, 6));
  }));
  // Half a coarse bucket does not cover the whole of it.
  assert.not.ok(coversAcrossBits([0, 1], 7, [0, 1], 6));
  assert.ok(coversAcrossBits([0, 2], 7, [0, 1], 6));
  assert.throws(() => scaleRanges([0, 1], 5, 4), /cannot scale/);
});

test('wire ranges: well-formed sets are read and normalised, everything else is refused with a reason', () => {
  assert.equal(readWireRanges([0, 2, 2, 5, 7, 8], 3, 10), { ranges: [0, 5, 7, 8], bits: 3 });
  assert.equal(readWireRanges([], 0, 10), { ranges: [], bits: 0 });
  assert.equal(readWireRanges(everyBucket(32), 32, 1), { ranges: [0, 2 ** 32], bits: 32 });
  const refused: Array<[unknown, unknown]> = [
    [[0, 1], undefined], [[0, 1], -1], [[0, 1], 33], [[0, 1], 1.5], [[0, 1], '3'],
    ['0,1', 3], [{ 0: 0, 1: 1 }, 3], [[0], 3], [[0, 1, 2], 3],
    [[1, 0], 3], [[0, 0], 3], [[0, 9], 3], [[2, 4, 1, 5], 3], [[-1, 2], 3], [[0.5, 2], 3], [['0', 2], 3], [[0, 2 ** 53], 3],
    [[0, 1, 2, 3, 4, 5], 3],
  ];
  for (const [v, bits] of refused) assert.type(readWireRanges(v, bits, 2), 'string', JSON.stringify([v, bits]));
});

test.run();
