import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import type { WebSocket } from 'ws';
import { Dispatcher } from '../../../sdk/dispatcher.js';
import type { DispatchRequest } from '../../../sdk/dispatch-request.js';
import { rawAnswerReader } from '../../../proxy/raw-answer-reader.js';
import { decodeCbor, encodeMessage } from '../../../shared/protocol/codec.js';
import { PROTOCOL_DEFAULTS } from '../../../shared/protocol/limits.js';
import { PlainField as P, plainFrames, scanPlainRequests } from '../../../shared/protocol/raw-frames.js';
import type { Response } from '../../../shared/protocol/frames.js';
import { LanePool } from '../../../sdk/lane-pool.js';
import { StaticMapSource } from '../../../sdk/map-source.js';
import { staticMap, type ClusterMap } from '../../../shared/cluster-map.js';
import { Op } from '../../../shared/protocol/ops.js';
import { Status } from '../../../shared/status.js';
import { FakeNode } from '../../helpers/fake-node.js';
import { withDeadline } from '../../helpers/deadline.js';

const test = suite('sdk - dispatcher');

const LANE = { connectTimeoutMs: 2000, maxQueued: 64, maxFramesPerMessage: 1024, maxBatchBytes: 1 << 20, heartbeatMs: 60_000 };

/** A fake node that answers every frame OK and records the connection each frame came on. */
async function withNode(lanesPerNode: number, maxInFlight: number, body: (d: Dispatcher, sockets: WebSocket[], fake: FakeNode) => Promise<void>): Promise<void> {
  const sockets: WebSocket[] = [];
  const fake = await FakeNode.start((frames, ws) => {
    for (let i = 0; i < frames.length; i++) sockets.push(ws);
    return frames.map((f) => [f[0], Status.OK, null, 1, 0]);
  });
  const pool = new LanePool({ ...LANE, maxInFlight }, [1, 10], lanesPerNode);
  const dispatcher = new Dispatcher(new StaticMapSource([fake.address]), pool, { backoffMs: [1, 10] });
  try {
    await pool.warm(fake.address, Date.now() + 2000);
    await withDeadline(body(dispatcher, sockets, fake), 10_000, 'test body');
  } finally {
    await pool.close();
    await fake.close();
  }
}

function get(d: Dispatcher, key: string): Promise<unknown> {
  return d.send([0, Op.GET, 0, key], { key, isIdempotent: true, valueBytes: 0 }, Date.now() + 2000);
}

test('requests to one node keep to one of its lanes while it has room', () => withNode(2, 1024, async (d, sockets, fake) => {
  for (let i = 0; i < 6; i++) await get(d, `k${i}`);
  await Promise.all(Array.from({ length: 8 }, (_, i) => get(d, `m${i}`)));
  assert.is(fake.sockets.size, 2, 'both lanes are open');
  assert.is(sockets.length, 14);
  assert.is(new Set(sockets).size, 1, 'every request went over the same connection');
}));

test('a full lane spills over to the next lane of the node', () => withNode(2, 2, async (d, sockets) => {
  await Promise.all(Array.from({ length: 4 }, (_, i) => get(d, `k${i}`)));
  assert.is(sockets.length, 4);
  assert.is(new Set(sockets).size, 2, 'the second lane took the requests the first had no room for');
}));

/** A one-node map source whose refresh moves to the asked epoch, as a push would. */
class SteppingMapSource extends StaticMapSource {
  private now: ClusterMap;
  refreshes = 0;

  constructor(address: string) {
    super([address]);
    this.now = { ...staticMap([address], 24), epoch: 1 };
  }

  override current(): ClusterMap {
    return this.now;
  }

  override refresh(minEpoch = 0): Promise<ClusterMap> {
    this.refreshes++;
    if (minEpoch > this.now.epoch) this.now = { ...this.now, epoch: minEpoch, rev: this.now.rev + 1 };
    return Promise.resolve(this.now);
  }
}

test('NOT_MY_BUCKET then a newer map: the retry goes at once, not after a backoff', async () => {
  // The node is a few epochs ahead and answers each older epoch with the next one, like
  // a client catching up through several quick switches.
  const fake = await FakeNode.start((frames) => frames.map((f) => (Number(f[2]) < 4 ? [f[0], Status.NOT_MY_BUCKET, null, 0, 0, { epoch: Number(f[2]) + 1 }] : [f[0], Status.OK, null, 1, 0])));
  const source = new SteppingMapSource(fake.address);
  const pool = new LanePool({ ...LANE, maxInFlight: 64 }, [1, 10], 1);
  // A backoff would outlast the deadline and fail the call: only immediate retries pass.
  const d = new Dispatcher(source, pool, { backoffMs: [60_000] });
  try {
    const r = await withDeadline(get(d, 'k') as Promise<{ status: number }>, 5000, 'request');
    assert.is(r.status, Status.OK);
    assert.is(source.refreshes, 3, 'one map wait per NOT_MY_BUCKET');
  } finally {
    await pool.close();
    await fake.close();
  }
});

test('NOT_MY_BUCKET with no newer map to be had backs off', async () => {
  const fake = await FakeNode.start((frames) => frames.map((f) => [f[0], Status.NOT_MY_BUCKET, null, 0, 0, { epoch: 1 }]));
  const pool = new LanePool({ ...LANE, maxInFlight: 64 }, [1, 10], 1);
  const d = new Dispatcher(new StaticMapSource([fake.address]), pool, { backoffMs: [60_000] });
  try {
    const err = await withDeadline(get(d, 'k').then(() => null, (e: unknown) => e), 5000, 'request');
    assert.is((err as { code?: string } | null)?.code, 'KV_ERR_NOT_MY_BUCKET');
  } finally {
    await pool.close();
    await fake.close();
  }
});

type RawOutcome = { raw: { status: number; fields: unknown[] } } | { answer: { err: unknown; response: Response | null } };

/** Send `frame` as bytes, the way the proxy forwards a plain frame. */
function sendRaw(d: Dispatcher, frame: unknown[]): Promise<RawOutcome> {
  const data = encodeMessage([frame]);
  assert.is(scanPlainRequests(data, PROTOCOL_DEFAULTS), 1);
  const f = plainFrames();
  return new Promise((resolve) => {
    const req: DispatchRequest = {
      frame: null,
      raw: { op: f[P.OP]!, fieldCount: f[P.FIELD_COUNT]!, tail: data.subarray(f[P.TAIL_START]!, f[P.FRAME_END]!) },
      key: data.subarray(f[P.KEY_START]!, f[P.KEY_END]!), isIdempotent: false, valueBytes: f[P.VALUE_BYTES]!, deadline: Date.now() + 3000,
      onRawAnswer: (status, fieldCount, fields) => {
        const decoded = decodeCbor(Buffer.concat([Buffer.from([0x80 | fieldCount]), fields])).value as unknown[];
        resolve({ raw: { status, fields: decoded } });
      },
      onAnswer: (response) => resolve({ answer: { err: null, response } }),
      onError: (err) => resolve({ answer: { err, response: null } }),
    };
    d.dispatch(req);
  });
}

test('a raw request leaves with the lane id and the map epoch, and its answer comes back as the node encoded it', async () => {
  const fake = await FakeNode.start((frames) => frames.map((f) => [f[0], Status.OK, Buffer.from(`${String(f[3])}@${String(f[2])}`), 7, 3, { n: 1 }]));
  const source = new SteppingMapSource(fake.address);
  const pool = new LanePool({ ...LANE, maxInFlight: 64, answerReader: rawAnswerReader(null) }, [1, 10], 1);
  const d = new Dispatcher(source, pool, { backoffMs: [1] });
  try {
    const out = await withDeadline(sendRaw(d, [99, Op.SET, 0, 'k', Buffer.from('v'), 5, 0, 0]), 5000, 'request');
    assert.equal(out, { raw: { status: Status.OK, fields: [Buffer.from('k@1'), 7, 3, { n: 1 }] } });
    const sent = fake.frames[0]!;
    assert.equal(sent.slice(1), [Op.SET, 1, 'k', Buffer.from('v'), 5, 0, 0]);
    assert.ok(sent[0] !== 99, 'the lane wrote its own id');
  } finally {
    await pool.close();
    await fake.close();
  }
});

test('a raw request answered NOT_MY_BUCKET is retried by the newer map and answered through the retrying path', async () => {
  const fake = await FakeNode.start((frames) => frames.map((f) => (Number(f[2]) < 2 ? [f[0], Status.NOT_MY_BUCKET, null, 0, 0, { epoch: 2 }] : [f[0], Status.OK, null, 1, 0])));
  const source = new SteppingMapSource(fake.address);
  const pool = new LanePool({ ...LANE, maxInFlight: 64, answerReader: rawAnswerReader(null) }, [1, 10], 1);
  const d = new Dispatcher(source, pool, { backoffMs: [1] });
  try {
    const out = await withDeadline(sendRaw(d, [1, Op.GET, 0, 'k']), 5000, 'request');
    assert.ok('answer' in out && out.answer.err === null && out.answer.response?.status === Status.OK, JSON.stringify(out));
    assert.equal(fake.frames.map((f) => f[2]), [1, 2], 'sent again with the newer epoch');
  } finally {
    await pool.close();
    await fake.close();
  }
});

test('a raw write whose connection drops after it left is not sent again', async () => {
  const fake = await FakeNode.start((_frames, ws) => { ws.terminate(); });
  const pool = new LanePool({ ...LANE, maxInFlight: 64, answerReader: rawAnswerReader(null) }, [1, 10], 1);
  const d = new Dispatcher(new StaticMapSource([fake.address]), pool, { backoffMs: [1] });
  try {
    const out = await withDeadline(sendRaw(d, [1, Op.SET, 0, 'k', Buffer.from('v')]), 5000, 'request');
    assert.ok('answer' in out && (out.answer.err as { code?: string }).code === 'KV_ERR_CONNECTION_CLOSED', JSON.stringify(out));
    assert.is(fake.frames.length, 1);
  } finally {
    await pool.close();
    await fake.close();
  }
});

test.run();
