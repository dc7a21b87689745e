import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { runScan, type ScanOwnership, type ScanSource } from '../../../cluster/node/scan-op.js';
import { decodeRequests, encodeMessage } from '../../../shared/protocol/codec.js';
import { PROTOCOL_DEFAULTS } from '../../../shared/protocol/limits.js';
import { Op } from '../../../shared/protocol/ops.js';
import { Status } from '../../../shared/status.js';
import type { Request } from '../../../shared/protocol/frames.js';
import { bucketOfBinary } from '../../../shared/keystream.js';
import { hasBucket } from '../../../shared/bucket-ranges.js';

const test = suite('cluster node - scan op (stated epoch and ranges)');

const KEYS = Array.from({ length: 500 }, (_, i) => `k:${String(i).padStart(4, '0')}`);

/** The engine's ordered read over KEYS. */
const engine: ScanSource = {
  scan(start, end, limit) {
    const entries = [];
    for (const key of KEYS) {
      if (key < start || (end !== null && key >= end)) continue;
      if (entries.length >= limit) return { entries, nextKey: key };
      entries.push({ key, value: new Uint8Array([1]), flags: 0, cas: 1 });
    }
    return { entries, nextKey: null };
  },
};

/** A node at epoch 7 and 4 bits, active for buckets [0, 4) and [8, 12). */
const own: ScanOwnership = { epoch: 7, bits: 4, activeRanges: () => [[0, 4], [8, 12]] };

function request(extra: Record<string, unknown>, key: string | null = null): Request {
  const { requests, errors, fatal } = decodeRequests(encodeMessage([[1, Op.SCAN, 7, key, null, 0, 0, 0, { limit: 1000, ...extra }]]), PROTOCOL_DEFAULTS);
  if (fatal !== null || errors.length > 0) throw new Error(JSON.stringify(fatal ?? errors[0]));
  return requests[0]!;
}

function keysOf(frame: unknown[]): string[] {
  return (frame[2] as unknown[]).filter((_, i) => i % 4 === 0) as string[];
}

test('answers only the requested ranges it owns, and states its epoch and those ranges', () => {
  const frame = runScan(request({ ranges: [0, 2, 9, 10], bits: 4 }), engine, own);
  assert.is(frame[1], Status.OK);
  const want = KEYS.filter((k) => hasBucket([0, 2, 9, 10], bucketOfBinary(k, 4)));
  assert.ok(want.length > 0);
  assert.equal(keysOf(frame), want);
  assert.equal(frame[5], { next: null, epoch: 7, bits: 4, ranges: [0, 2, 9, 10] });
});

test('ranges it is not active for, even in part, get NOT_MY_BUCKET with its epoch and nothing read', () => {
  for (const ranges of [[0, 5], [4, 8], [11, 13], [0, 16]]) {
    const frame = runScan(request({ ranges, bits: 4 }), engine, own);
    assert.is(frame[1], Status.NOT_MY_BUCKET, JSON.stringify(ranges));
    assert.is((frame[5] as { epoch: number }).epoch, 7);
    assert.is(frame[2], null);
  }
});

test('ranges at other bits than the node\'s (a split seen by one side first) are checked per bucket', () => {
  // Finer: bucket 3 at 4 bits is 6..7 at 5 bits.
  const finer = runScan(request({ ranges: [6, 8], bits: 5 }), engine, own);
  assert.is(finer[1], Status.OK);
  assert.equal(keysOf(finer), KEYS.filter((k) => hasBucket([6, 8], bucketOfBinary(k, 5))));
  assert.is(runScan(request({ ranges: [7, 9], bits: 5 }), engine, own)[1], Status.NOT_MY_BUCKET);
  // Coarser: bucket 0 at 3 bits is 0..1 at 4 bits (owned); bucket 2 is 4..5 (not).
  assert.is(runScan(request({ ranges: [0, 1], bits: 3 }), engine, own)[1], Status.OK);
  assert.is(runScan(request({ ranges: [2, 3], bits: 3 }), engine, own)[1], Status.NOT_MY_BUCKET);
});

test('a frame without ranges (an older client) gets what the node owns, and the ranges are stated', () => {
  const frame = runScan(request({}), engine, own);
  assert.equal(keysOf(frame), KEYS.filter((k) => hasBucket([0, 4, 8, 12], bucketOfBinary(k, 4))));
  assert.equal(frame[5], { next: null, epoch: 7, bits: 4, ranges: [0, 4, 8, 12] });
  const everything = runScan(request({}), engine, { epoch: 0, bits: 4, activeRanges: () => null });
  assert.equal(keysOf(everything), KEYS);
});

test('a page stops at the limit and at the examined-keys budget with a resume key', () => {
  const page = runScan(request({ ranges: [0, 16], bits: 4, limit: 10 }), engine, { epoch: 7, bits: 4, activeRanges: () => null });
  assert.equal(keysOf(page), KEYS.slice(0, 10));
  assert.is((page[5] as { next: string }).next, KEYS[10]);
  // One bucket of sixteen, limit 1: the node may look at 1 × 4 + 1024 keys before answering short.
  const sparse = runScan(request({ ranges: [5, 6], bits: 4, limit: 1 }, 'k:0000'), engine, { epoch: 7, bits: 4, activeRanges: () => null });
  assert.ok(keysOf(sparse).length <= 1);
});

test('malformed or hostile ranges are refused by the decoder with BAD_REQUEST, naming the field', () => {
  const hostile: Array<Record<string, unknown>> = [
    { ranges: [0, 1] },
    { ranges: [0, 1], bits: 33 },
    { ranges: [0, 1], bits: -1 },
    { ranges: 'all', bits: 4 },
    { ranges: [0], bits: 4 },
    { ranges: [3, 1], bits: 4 },
    { ranges: [0, 17], bits: 4 },
    { ranges: [0, 4, 2, 6], bits: 4 },
    { ranges: [0, 1.5], bits: 4 },
    { ranges: [{}, 1], bits: 4 },
    { ranges: Array.from({ length: 2 * PROTOCOL_DEFAULTS.maxScanRanges + 2 }, (_, i) => i), bits: 32 },
  ];
  for (const extra of hostile) {
    const { requests, errors } = decodeRequests(encodeMessage([[1, Op.SCAN, 7, null, null, 0, 0, 0, { limit: 10, ...extra }]]), PROTOCOL_DEFAULTS);
    assert.is(requests.length, 0, JSON.stringify(extra).slice(0, 80));
    assert.is(errors[0]?.status, Status.BAD_REQUEST);
    assert.match(errors[0]!.message, /ranges|bits/);
  }
});

test.run();
