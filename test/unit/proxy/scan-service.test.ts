import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { ScanService } from '../../../proxy/scan-service.js';
import { CursorSigner } from '../../../proxy/scan-cursor.js';
import type { ScanHost } from '../../../sdk/scan.js';
import { KvError } from '../../../shared/errors.js';
import { staticMap } from '../../../shared/cluster-map.js';
import { Status } from '../../../shared/status.js';
import { Op } from '../../../shared/protocol/ops.js';
import { decodeRequests, encodeMessage } from '../../../shared/protocol/codec.js';
import type { Request, Response } from '../../../shared/protocol/frames.js';
import { bucketOfBinary } from '../../../shared/keystream.js';
import { hasBucket } from '../../../shared/bucket-ranges.js';

const test = suite('proxy - scan service pages (exact, short, interrupted)');

const KEYS = Array.from({ length: 1000 }, (_, i) => `p:${String(i).padStart(4, '0')}`);
const MAP = staticMap(['n0', 'n1'], 4);

/** An honest node answer over KEYS for one SCAN frame. */
function honest(frame: unknown[]): Response {
  const extra = frame[8] as { limit: number; ranges: number[]; bits: number; end?: string };
  const start = frame[3] as string;
  const flat: unknown[] = [];
  let next: string | null = null;
  for (const key of KEYS) {
    if (key < start || (extra.end !== undefined && key >= extra.end) || !hasBucket(extra.ranges, bucketOfBinary(key, extra.bits))) continue;
    if (flat.length / 4 >= extra.limit) {
      next = key;
      break;
    }
    flat.push(key, new Uint8Array([7]), 0, 1);
  }
  return { id: 1, status: Status.OK, value: flat, cas: 0, flags: 0, extra: { next, epoch: MAP.epoch, bits: extra.bits, ranges: extra.ranges } };
}

/** A host whose node `n1` answers `healthy` requests, then is unreachable. */
function host(healthyN1Requests = Number.POSITIVE_INFINITY): ScanHost<Uint8Array> {
  let n1 = 0;
  return {
    currentMap: () => MAP,
    refreshMap: () => Promise.reject(KvError.timeout('no newer map')),
    request: async (address, frame) => {
      if (address === 'n1' && ++n1 > healthyN1Requests) throw KvError.unavailable('n1 is down', { isSafeToRetry: true });
      return honest(frame);
    },
    decode: (b) => b,
    backoffMs: [1, 5],
    timeoutMs: 200,
  };
}

function scanFrame(limit: number, cursor?: string): Request {
  const extra: Record<string, unknown> = { end: 'p;', limit };
  if (cursor !== undefined) extra.cursor = cursor;
  const { requests } = decodeRequests(encodeMessage([[1, Op.SCAN, 0, cursor === undefined ? 'p:' : null, null, 0, 0, 0, extra]]));
  return requests[0]!;
}

function keysOf(frame: unknown[]): string[] {
  return ((frame[2] as unknown[] | null) ?? []).filter((_, i) => i % 4 === 0) as string[];
}

const signer = new CursorSigner('00112233445566778899aabbccddeeff');

test('pages joined by their cursors return every key once, in order', async () => {
  const service = new ScanService(host(), signer);
  const all: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 100; pages++) {
    const req = scanFrame(30, cursor);
    const frame = await service.scan(req, req.cursor);
    assert.is(frame[1], Status.OK);
    all.push(...keysOf(frame));
    const next = (frame[5] as { cursor: string | null }).cursor;
    if (next === null) break;
    cursor = next;
  }
  assert.equal(all, KEYS);
});

test('an owner lost in the middle of a page: the page comes back short with a cursor after its last key, which resumes exactly', async () => {
  const first = await new ScanService(host(1), signer).scan(scanFrame(600), undefined);
  assert.is(first[1], Status.OK);
  const got = keysOf(first);
  assert.ok(got.length > 0 && got.length < 600, `a short page (${got.length} entries)`);
  const cursor = (first[5] as { cursor: string | null }).cursor;
  assert.type(cursor, 'string');
  const rest: string[] = [];
  let c: string | null = cursor;
  while (c !== null) {
    const req = scanFrame(600, c);
    const frame = await new ScanService(host(), signer).scan(req, req.cursor);
    rest.push(...keysOf(frame));
    c = (frame[5] as { cursor: string | null }).cursor;
  }
  assert.equal([...got, ...rest], KEYS);
});

test('an owner lost before any entry: SCAN_INTERRUPTED with the cursor to send again (none for a first page) and the start key', async () => {
  const noCursor = await new ScanService(host(0), signer).scan(scanFrame(50), undefined);
  assert.is(noCursor[1], Status.SCAN_INTERRUPTED);
  assert.equal(noCursor[5], { message: (noCursor[5] as { message: string }).message, next: 'p:', cursor: null });
  assert.match((noCursor[5] as { message: string }).message, /KV_ERR_UNAVAILABLE/);
  const cursor = signer.sign(1, 'p:0099');
  const req = scanFrame(50, cursor);
  const withCursor = await new ScanService(host(0), signer).scan(req, req.cursor);
  assert.is(withCursor[1], Status.SCAN_INTERRUPTED);
  assert.is((withCursor[5] as { cursor: string }).cursor, cursor);
  // Sent again to a healthy cluster, that cursor resumes right after its key.
  const again = await new ScanService(host(), signer).scan(req, req.cursor);
  assert.equal(keysOf(again), KEYS.slice(100, 150));
});

test('forged, foreign and oversized cursors are refused with BAD_REQUEST; a node breaking the protocol is an error, not a page', async () => {
  const service = new ScanService(host(), signer);
  const good = signer.sign(1, 'p:0010');
  for (const bad of [`${good.split('.')[0]}.AAAA`, new CursorSigner(null).sign(1, 'p:0010'), 'x'.repeat(2000), 'no-dot', 42, {}]) {
    const frame = await service.scan(scanFrame(10), bad);
    assert.is(frame[1], Status.BAD_REQUEST, String(bad).slice(0, 40));
  }
  const broken: ScanHost<Uint8Array> = { ...host(), request: async () => ({ id: 1, status: Status.OK, value: 'junk', cas: 0, flags: 0, extra: undefined }) };
  try {
    await new ScanService(broken, signer).scan(scanFrame(10), undefined);
    assert.unreachable('a malformed page must not become an answer');
  } catch (err) {
    assert.is((err as { code?: string }).code, 'KV_ERR_PROTOCOL');
  }
});

test.run();
