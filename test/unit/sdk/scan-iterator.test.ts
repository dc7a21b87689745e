import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { ScanIterator, type ScanHost } from '../../../sdk/scan.js';
import { connect } from '../../../sdk/index.js';
import { KvError } from '../../../shared/errors.js';
import { staticMap, type ClusterMap } from '../../../shared/cluster-map.js';
import { Status } from '../../../shared/status.js';
import type { Response } from '../../../shared/protocol/frames.js';
import { bucketOfBinary } from '../../../shared/keystream.js';
import { hasBucket } from '../../../shared/bucket-ranges.js';
import { FakeNode } from '../../helpers/fake-node.js';
import { withDeadline } from '../../helpers/deadline.js';

const test = suite('sdk - scan iterator against scripted and hostile nodes');

const KEYS = Array.from({ length: 300 }, (_, i) => `h:${String(i).padStart(4, '0')}`);

/** What a scripted node answers to one SCAN frame. */
type Script = (address: string, frame: unknown[], map: ClusterMap) => Response;

/** An honest answer: the requested ranges' keys from `start`, stating epoch and ranges. */
function honest(address: string, frame: unknown[], map: ClusterMap, keys = KEYS): Response {
  void address;
  const extra = frame[8] as { limit: number; ranges: number[]; bits: number; end?: string };
  const start = frame[3] as string;
  const flat: unknown[] = [];
  let next: string | null = null;
  for (const key of keys) {
    if (key < start || (extra.end !== undefined && key >= extra.end) || !hasBucket(extra.ranges, bucketOfBinary(key, extra.bits))) continue;
    if (flat.length / 4 >= extra.limit) {
      next = key;
      break;
    }
    flat.push(key, new Uint8Array([1]), 0, 1);
  }
  return response(Status.OK, flat, { next, epoch: map.epoch, bits: extra.bits, ranges: extra.ranges });
}

function response(status: number, value: unknown, extra: Record<string, unknown>): Response {
  return { id: 1, status, value, cas: 0, flags: 0, extra };
}

/** A host over a static two-node map whose answers come from `script`; `maps` are handed out on refresh. */
function host(script: Script, maps: ClusterMap[] = [], timeoutMs = 300): ScanHost<Uint8Array> & { requests: number } {
  let map = staticMap(['n0', 'n1'], 4);
  const h = {
    requests: 0,
    currentMap: () => map,
    refreshMap: async (minEpoch: number) => {
      const next = maps.find((m) => m.epoch >= minEpoch);
      if (next === undefined) throw Object.assign(new Error('no newer map'), { code: 'KV_ERR_TIMEOUT' });
      map = next;
      return map;
    },
    request: async (address: string, frame: unknown[]) => {
      h.requests++;
      return script(address, frame, map);
    },
    decode: (b: Uint8Array) => b,
    backoffMs: [1, 5],
    timeoutMs,
  };
  return h;
}

async function drain(it: ScanIterator<Uint8Array>): Promise<{ keys: string[]; err: { code?: string; details?: { resumeFrom?: Uint8Array } } | null }> {
  const keys: string[] = [];
  try {
    for await (const e of it) keys.push(e.key);
    return { keys, err: null };
  } catch (err) {
    return { keys, err: err as { code?: string } };
  }
}

test('honest nodes: every key once, in order', async () => {
  const { keys, err } = await drain(new ScanIterator({ pageSize: 17 }, host(honest)));
  assert.is(err, null);
  assert.equal(keys, KEYS);
});

test('a node that moved on (NOT_MY_BUCKET with a newer epoch) is re-planned by the newer map; nothing is lost or repeated', async () => {
  // Epoch 2: n1 took everything. n0 refuses from then on.
  const moved: ClusterMap = { ...staticMap(['n0', 'n1'], 4), epoch: 2, rev: 2, runStarts: [0], runChains: [1] };
  let pagesFromN0 = 0;
  const h = host((address, frame, map) => {
    if (address === 'n0' && (frame[2] !== map.epoch || map.epoch === 2 || ++pagesFromN0 > 2)) return response(Status.NOT_MY_BUCKET, null, { epoch: 2 });
    if (address === 'n1' && frame[2] !== map.epoch) return response(Status.NOT_MY_BUCKET, null, { epoch: map.epoch });
    return honest(address, frame, map);
  }, [moved]);
  const it = new ScanIterator({ pageSize: 10 }, h);
  const { keys, err } = await drain(it);
  assert.is(err, null);
  assert.equal(keys, KEYS);
  assert.ok(it.stats.replans >= 1);
});

test('a node that states another epoch, or fewer ranges than asked, is never trusted: the scan fails with a resume key instead of skipping', async () => {
  const liars: Script[] = [
    (a, f, m) => ({ ...honest(a, f, m), extra: { ...honest(a, f, m).extra, epoch: m.epoch + 5 } }),
    (a, f, m) => ({ ...honest(a, f, m), extra: { ...honest(a, f, m).extra, ranges: [0, 1] } }),
    (a, f, m) => ({ ...honest(a, f, m), extra: { ...honest(a, f, m).extra, ranges: 'everything' } }),
  ];
  for (const liar of liars) {
    const { keys, err } = await drain(new ScanIterator({ pageSize: 10 }, host((a, f, m) => (a === 'n1' ? liar(a, f, m) : honest(a, f, m)))));
    assert.is(err?.code, 'KV_ERR_SCAN_INTERRUPTED');
    assert.equal(keys, []);
    assert.equal([...err!.details!.resumeFrom!], [0]);
  }
});

test('malformed pages and out-of-order keys are protocol errors, not silent gaps', async () => {
  const broken: Script[] = [
    (a, f, m) => ({ ...honest(a, f, m), value: 'not a list' }),
    (a, f, m) => ({ ...honest(a, f, m), value: [KEYS[0], new Uint8Array(1), 0] }),
    (a, f, m) => ({ ...honest(a, f, m), value: [KEYS[0], 'text value', 0, 1] }),
    (a, f, m) => ({ ...honest(a, f, m), value: [42, new Uint8Array(1), 0, 1] }),
    (a, f, m) => {
      const r = honest(a, f, m);
      const flat = (r.value as unknown[]).slice();
      if (flat.length >= 8) [flat[0], flat[4]] = [flat[4], flat[0]];
      return { ...r, value: flat };
    },
    (a, f, m) => ({ ...honest(a, f, m), extra: { ...honest(a, f, m).extra, next: f[3] } }),
  ];
  for (const [i, script] of broken.entries()) {
    const { err } = await drain(new ScanIterator({ pageSize: 10 }, host(script)));
    assert.is(err?.code, 'KV_ERR_PROTOCOL', `case ${i}`);
  }
});

test('an owner that never answers: the step fails at its deadline with KV_ERR_SCAN_INTERRUPTED and the key after the last one returned', async () => {
  // n1 goes silent after its first page (a real node that stopped answering).
  const fake = await FakeNode.start((frames) => {
    const f = frames[0]!;
    const map = staticMap([fake.address], 4);
    if ((fake.messages.length) > 1) return null;
    return frames.map(() => {
      const r = honest(fake.address, f, map);
      return [f[0], r.status, r.value, 0, 0, r.extra];
    });
  });
  const db = await connect({ nodes: [fake.address], timeoutMs: 400, heartbeatMs: 60_000 });
  try {
    const it = db.scan({ pageSize: 25 });
    const { keys, err } = await withDeadline(drain(it), 10_000, 'scan');
    assert.equal(keys, KEYS.slice(0, 25));
    assert.is(err?.code, 'KV_ERR_SCAN_INTERRUPTED');
    assert.is(Buffer.from(err!.details!.resumeFrom!).toString('latin1'), `${KEYS[24]}\0`);
    // The iterator is finished after the failure.
    assert.equal(await it.next(), { done: true, value: undefined });
  } finally {
    await db.close();
    await fake.close();
  }
});

test('a node that fails at once under a map source that never changes is retried with backoff, not in a busy loop', async () => {
  const map = staticMap(['n0', 'n1'], 4);
  let requests = 0;
  const h: ScanHost<Uint8Array> = {
    currentMap: () => map,
    // A static source: answers at once with the map it has.
    refreshMap: async () => map,
    request: async () => {
      requests++;
      throw Object.assign(new Error('refused'), { code: 'KV_ERR_UNAVAILABLE' });
    },
    decode: (b) => b,
    backoffMs: [20],
    timeoutMs: 300,
  };
  const { err } = await drain(new ScanIterator({}, h));
  // The error is not a KvError instance: it is passed through as it is.
  assert.is(err?.code, 'KV_ERR_UNAVAILABLE');
  assert.is(requests, 2);
  const kv: ScanHost<Uint8Array> = { ...h, request: async () => {
    requests++;
    throw KvError.unavailable('refused', { isSafeToRetry: true });
  } };
  requests = 0;
  const second = await drain(new ScanIterator({}, kv));
  assert.is(second.err?.code, 'KV_ERR_SCAN_INTERRUPTED');
  // Two streams, one try per 20 ms backoff for 300 ms: a few dozen at most, not thousands.
  assert.ok(requests >= 2 && requests < 100, `${requests} requests`);
});

test('bad options are refused before anything is sent', () => {
  const h = host(honest);
  for (const opts of [{ pageSize: 0 }, { pageSize: 1.5 }, { limit: -1 }, { timeoutMs: 0 }]) {
    assert.throws(() => new ScanIterator(opts, h), (e: { code?: string }) => e.code === 'KV_ERR_INVALID_ARGUMENT');
  }
  assert.is(h.requests, 0);
});

test.run();
