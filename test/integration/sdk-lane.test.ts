import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { connect, type PandaClient } from '../../sdk/index.js';
import { Op } from '../../shared/protocol/ops.js';
import { PACKED_V1, PackedKind } from '../../shared/protocol/packed-layout.js';
import { Status } from '../../shared/status.js';
import { FakeNode, echoOk, type Script } from '../helpers/fake-node.js';
import { rejection, until, withDeadline } from '../helpers/deadline.js';
import type { ClientOptions } from '../../sdk/options.js';

const test = suite('integration - sdk lanes against a scripted node');

async function withFake<T>(script: Script, opts: Partial<ClientOptions>, body: (fake: FakeNode, db: PandaClient) => Promise<T>): Promise<T> {
  const fake = await FakeNode.start(script);
  const db = await connect({ nodes: [fake.address], ...opts });
  try {
    return await withDeadline(body(fake, db), 15_000, 'test body');
  } finally {
    db.destroy();
    await fake.close();
  }
}

test('requests issued in one tick leave in one message and answers match by id in any order', () => withFake(
  (frames) => [...frames].reverse().map((f) => [f[0], Status.OK, Buffer.from(String(f[3])), 1, 0]),
  {},
  async (fake, db) => {
    const keys = Array.from({ length: 50 }, (_, i) => `k${i}`);
    const values = await db.getMany(keys);
    assert.equal(values.map((v) => Buffer.from(v!).toString()), keys);
    assert.is(fake.messages.length, 1);
    assert.is(fake.messages[0]!.length, 50);
  },
));

test('a lane writes the packed layout only to a server that offers it in its upgrade answer', async () => {
  const answer: Script = (frames) => frames.map((f) => (f[1] === Op.SET ? [f[0], Status.OK, null, 5] : [f[0], Status.OK, Buffer.from(String(f[3])), 1, 2]));
  for (const [isOffered, layout, expected] of [[false, 'packed', 'cbor'], [true, 'packed', 'packed'], [true, 'cbor', 'cbor']] as const) {
    const fake = await FakeNode.start(answer, isOffered);
    const db = await connect({ nodes: [fake.address], wireLayout: layout });
    try {
      assert.is(Buffer.from((await db.get('key'))!).toString(), 'key');
      assert.is(await db.set('key', 'v', { flags: 3, ttl: 60 }), 5n);
      assert.equal(fake.layouts, [expected, expected], `offered ${String(isOffered)}, asked ${layout}`);
      assert.equal(fake.frames.map((f) => f.slice(0, 2)), [[1, Op.GET], [2, Op.SET]]);
      assert.equal(fake.frames[1]!.slice(3, 4).concat(fake.frames[1]!.slice(5)), ['key', 3, 60, 0]);
    } finally {
      db.destroy();
      await fake.close();
    }
  }
});

test('a packed answer message the lane cannot parse fails its requests with KV_ERR_PROTOCOL and closes the lane', async () => {
  const answers = [
    Buffer.from([PACKED_V1, PackedKind.ITEM, 1, 0, 0, 0]),
    Buffer.from([PACKED_V1, 0x7f]),
    Buffer.from([PACKED_V1, PackedKind.CBOR, 4, 0, 0, 0, 0x9f, 0xff, 0xff, 0x1c]),
  ];
  for (const bad of answers) {
    const fake = await FakeNode.start((_frames, ws) => { ws.send(bad); }, true);
    const db = await connect({ nodes: [fake.address], timeoutMs: 3000 });
    try {
      const err = await rejection(db.get('k'));
      assert.is(err.code, 'KV_ERR_PROTOCOL', bad.toString('hex'));
      assert.equal(fake.layouts, ['packed']);
      // The next request opens a new lane and is answered.
      fake.script = echoOk;
      assert.is(Buffer.from((await db.get('again'))!).toString(), 'again');
    } finally {
      db.destroy();
      await fake.close();
    }
  }
});

test('in-flight requests are bounded per lane and the rest wait', () => {
  const held: Array<[unknown[][], (frames: unknown[][]) => void]> = [];
  return withFake(
    (frames, ws, fake) => { held.push([frames, (f) => fake.send(ws, f)]); },
    { maxInFlightPerLane: 4 },
    async (fake, db) => {
      const all = Promise.all(Array.from({ length: 10 }, (_, i) => db.get(`k${i}`)));
      await until(() => fake.frames.length >= 4, 5000, 'first frames');
      assert.is(fake.frames.length, 4, 'only 4 frames were sent');
      while (fake.frames.length < 10 || held.length > 0) {
        const next = held.shift();
        if (next) next[1](next[0].map((f) => [f[0], Status.NOT_FOUND]));
        else await until(() => held.length > 0, 5000, 'more frames');
      }
      assert.equal(await all, Array(10).fill(null));
    },
  );
});

test('a full wait queue fails at once with BUSY', () => withFake(() => null, { maxInFlightPerLane: 1, maxQueuedPerLane: 2, timeoutMs: 300 }, async (_fake, db) => {
  const ps = Array.from({ length: 4 }, (_, i) => db.get(`k${i}`).then(() => 'ok', (e: Error & { code?: string }) => e.code));
  const codes = await Promise.all(ps);
  assert.ok(codes.includes('KV_ERR_BUSY'), codes.join(','));
}));

test('a node that never answers makes the operation fail with TIMEOUT at its deadline', () => withFake(() => null, { timeoutMs: 100 }, async (_fake, db) => {
  const err = await rejection(db.get('x'));
  assert.is(err.code, 'KV_ERR_TIMEOUT');
}));

test('a half-open connection is detected by the heartbeat and reported as node-down', () => withFake(
  (frames) => frames.map((f) => [f[0], Status.NOT_FOUND]),
  { heartbeatMs: 100, timeoutMs: 5000 },
  async (fake, db) => {
    assert.is(await db.get('warm'), null);
    const down = new Promise<string>((resolve) => db.once('node-down', (address) => resolve(address)));
    fake.script = () => null; // stop answering anything, pings included
    assert.is(await withDeadline(down, 3000, 'node-down'), fake.address);
  },
));

test('a malformed answer fails the lane with PROTOCOL', () => withFake(
  (_frames, ws) => { ws.send(Buffer.from([0x01, 0x02, 0x03])); },
  { timeoutMs: 1000 },
  async (_fake, db) => {
    const err = await rejection(db.set('x', 'y'));
    assert.is(err.code, 'KV_ERR_PROTOCOL');
  },
));

test('NOT_MY_BUCKET is retried, and the node saw the request again', () => {
  let refused = 0;
  return withFake(
    (frames) => frames.map((f) => (refused++ < 2 ? [f[0], Status.NOT_MY_BUCKET, null, 0, 0, { epoch: 0 }] : [f[0], Status.OK, null, 7])),
    {},
    async (fake, db) => {
      assert.is(await db.set('k', 'v'), 7n);
      assert.is(fake.frames.filter((f) => f[1] === Op.SET).length, 3);
    },
  );
});

test('a write whose connection dropped is not re-sent, a read is', () => {
  let dropped = 0;
  return withFake(
    (frames, ws) => {
      if (dropped++ < 1) { ws.terminate(); return null; }
      return echoOk(frames, ws, null as unknown as FakeNode);
    },
    { backoffMs: [1] },
    async (fake, db) => {
      const err = await rejection(db.set('w', 'v'));
      assert.is(err.code, 'KV_ERR_CONNECTION_CLOSED');
      assert.is(fake.frames.filter((f) => f[1] === Op.SET).length, 1, 'the write was sent once');
      dropped = 0;
      assert.ok((await db.get('r')) !== null);
      assert.is(fake.frames.filter((f) => f[1] === Op.GET).length, 2, 'the read was sent twice');
    },
  );
});

test('close() lets in-flight work finish; destroy() fails it at once', async () => {
  const fake = await FakeNode.start(() => null);
  try {
    const db = await connect({ nodes: [fake.address] });
    const pending = db.get('a');
    await until(() => fake.frames.length === 1, 5000, 'frame sent');
    const closing = db.close();
    const ws = [...fake.sockets][0]!;
    fake.send(ws, [[fake.frames[0]![0], Status.OK, Buffer.from('A'), 1, 0]]);
    assert.is(Buffer.from((await pending)!).toString(), 'A');
    await withDeadline(closing, 5000, 'close');
    assert.is((await rejection(db.get('b'))).code, 'KV_ERR_CLIENT_CLOSED');

    const db2 = await connect({ nodes: [fake.address] });
    const p2 = db2.get('x');
    await until(() => fake.frames.length === 2, 5000, 'second frame');
    db2.destroy();
    db2.destroy();
    assert.is((await rejection(p2)).code, 'KV_ERR_CLIENT_CLOSED');
  } finally {
    await fake.close();
  }
});

test('an unreachable node fails fast with a retryable UNAVAILABLE', async () => {
  const fake = await FakeNode.start(echoOk);
  const address = fake.address;
  await fake.close();
  const db = await connect({ nodes: [address], timeoutMs: 300, connectTimeoutMs: 200 });
  try {
    const err = await rejection(db.get('x'));
    assert.ok(['KV_ERR_UNAVAILABLE', 'KV_ERR_TIMEOUT'].includes(err.code!), err.code);
  } finally {
    db.destroy();
  }
});

test('connect() rejects bad options with INVALID_ARGUMENT', async () => {
  assert.is((await rejection(connect({}))).code, 'KV_ERR_INVALID_ARGUMENT');
  assert.is((await rejection(connect({ nodes: ['http://x'] }))).code, 'KV_ERR_INVALID_ARGUMENT');
  assert.is((await rejection(connect({ nodes: ['ws://127.0.0.1:1'], timeoutMs: -1 }))).code, 'KV_ERR_INVALID_ARGUMENT');
});

test.run();
