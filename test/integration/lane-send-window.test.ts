import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { Lane } from '../../sdk/lane.js';
import type { LaneOptions } from '../../sdk/lane-contract.js';
import { Op } from '../../shared/protocol/ops.js';
import { Status } from '../../shared/status.js';
import { FakeNode, type Script } from '../helpers/fake-node.js';
import { until, withDeadline } from '../helpers/deadline.js';

const test = suite('integration - a lane\'s send window against a scripted node');

const BASE: LaneOptions = {
  connectTimeoutMs: 5000, maxInFlight: 1024, maxQueued: 1024, maxFramesPerMessage: 1024, maxBatchBytes: 1 << 20, heartbeatMs: 60_000,
};

/** Answers every frame OK with its key as the value. */
const answerOf = (frames: unknown[][]): unknown[][] => frames.map((f) => [f[0], Status.OK, Buffer.from(String(f[3])), 1, 0]);

/** A script that keeps the first message's frames unanswered (to be answered by the test) and answers the rest. */
function holdFirst(): { script: Script; first: () => unknown[][] } {
  let first: unknown[][] | null = null;
  return {
    script: (frames) => {
      if (first === null) {
        first = frames;
        return null;
      }
      return answerOf(frames);
    },
    first: () => first ?? [],
  };
}

async function withLane<T>(script: Script, options: Partial<LaneOptions>, body: (fake: FakeNode, lane: Lane) => Promise<T>): Promise<T> {
  const fake = await FakeNode.start(script);
  const lane = new Lane(fake.address, { ...BASE, ...options });
  try {
    await lane.whenOpen(Date.now() + 5000);
    return await withDeadline(body(fake, lane), 15_000, 'test body');
  } finally {
    lane.destroy();
    await fake.close();
  }
}

const get = (lane: Lane, key: string): Promise<string> =>
  lane.request([0, Op.GET, 0, key], Date.now() + 10_000).then((r) => Buffer.from(r.value as Uint8Array).toString());

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The messages the node received, as lists of keys. */
const keysSent = (fake: FakeNode): string[][] => fake.messages.map((m) => m.map((f) => String(f[3])));

/** Request `a` and wait until its message is at the node (boxed: awaiting must not wait for the answer). */
async function sendFirst(fake: FakeNode, lane: Lane): Promise<{ a: Promise<string> }> {
  const a = get(lane, 'a');
  await until(() => fake.messages.length === 1, 5000, 'the first message');
  return { a };
}

/** Answer `frames` on the node's one connection. */
const answer = (fake: FakeNode, frames: unknown[][]): void => fake.send([...fake.sockets][0]!, answerOf(frames));

/**
 * One request goes out; then b and c in one turn, d two turns later; then the first is
 * answered. The messages the node received, as lists of keys.
 */
async function burstBehindOne(sendWindow: number): Promise<string[][]> {
  const held = holdFirst();
  return withLane(held.script, { sendWindow, maxHoldMs: 60_000 }, async (fake, lane) => {
    const { a } = await sendFirst(fake, lane);
    const rest = [get(lane, 'b'), get(lane, 'c')];
    await turn();
    await turn();
    rest.push(get(lane, 'd'));
    await turn();
    await turn();
    answer(fake, held.first());
    assert.equal(await Promise.all([a, ...rest]), ['a', 'b', 'c', 'd']);
    return keysSent(fake);
  });
}

test('with a window of 1, requests admitted while a message is unanswered leave together once the node answers', async () => {
  assert.equal(await burstBehindOne(1), [['a'], ['b', 'c', 'd']]);
});

test('with no window (0), every turn\'s requests leave at once, answered or not', async () => {
  assert.equal(await burstBehindOne(0), [['a'], ['b', 'c'], ['d']]);
});

test('a lane with nothing unanswered sends at once: one request at a time is never held', () => withLane(
  (frames) => answerOf(frames), { sendWindow: 1, maxHoldMs: 60_000 },
  async (fake, lane) => {
    for (let i = 0; i < 20; i++) assert.is(await get(lane, `k${i}`), `k${i}`);
    assert.is(fake.messages.length, 20);
  },
));

test('sendWhenIdle: a lane with nothing in flight sends the requests of one task together, at the end of that task', () => withLane(
  (frames) => answerOf(frames), { sendWhenIdle: true },
  async (fake, lane) => {
    assert.equal(await Promise.all(['a', 'b', 'c'].map((k) => get(lane, k))), ['a', 'b', 'c']);
    assert.equal(keysSent(fake), [['a', 'b', 'c']]);
  },
));

test('sendWhenIdle: a lone request leaves at the end of its task, before callbacks already queued for the turn', async () => {
  for (const [sendWhenIdle, expected] of [[true, [['a'], ['b']]], [false, [['a', 'b']]]] as const) {
    await withLane((frames) => answerOf(frames), { sendWhenIdle }, async (fake, lane) => {
      let b: Promise<string> | null = null;
      setImmediate(() => { b = get(lane, 'b'); });
      const a = get(lane, 'a');
      assert.is(await a, 'a');
      await until(() => b !== null, 5000, 'the second request');
      assert.is(await b!, 'b');
      assert.equal(keysSent(fake), expected, `sendWhenIdle ${String(sendWhenIdle)}`);
    });
  }
});

test('held requests leave after maxHoldMs when the node\'s answer is late, and the late answer still settles the first', async () => {
  const held = holdFirst();
  await withLane(held.script, { sendWindow: 1, maxHoldMs: 20 }, async (fake, lane) => {
    const { a } = await sendFirst(fake, lane);
    const b = get(lane, 'b');
    // The node has not answered a: b leaves when the hold runs out.
    assert.is(await b, 'b');
    assert.equal(keysSent(fake), [['a'], ['b']]);
    answer(fake, held.first());
    assert.is(await a, 'a');
  });
});

test('close() while requests are held sends them when the node answers, and waits for their answers', async () => {
  const held = holdFirst();
  await withLane(held.script, { sendWindow: 1, maxHoldMs: 60_000 }, async (fake, lane) => {
    const { a } = await sendFirst(fake, lane);
    const b = get(lane, 'b');
    await turn();
    const closed = lane.close();
    answer(fake, held.first());
    assert.equal(await Promise.all([a, b]), ['a', 'b']);
    await closed;
    assert.ok(lane.isClosed);
  });
});

test('a window of 2 lets two messages go unanswered before holding', async () => {
  let answered = 0;
  const pending: unknown[][][] = [];
  await withLane((frames) => { pending.push(frames); }, { sendWindow: 2, maxHoldMs: 60_000 }, async (fake, lane) => {
    const out = [(await sendFirst(fake, lane)).a];
    out.push(get(lane, 'b'));
    await until(() => fake.messages.length === 2, 5000, 'the second message');
    out.push(get(lane, 'c'));
    await turn();
    await turn();
    out.push(get(lane, 'd'));
    await turn();
    await turn();
    assert.is(fake.messages.length, 2, 'c and d are held');
    fake.script = (frames) => answerOf(frames);
    for (const frames of pending) {
      answer(fake, frames);
      answered++;
    }
    assert.equal(await Promise.all(out), ['a', 'b', 'c', 'd']);
    assert.is(answered, 2);
    assert.equal(keysSent(fake), [['a'], ['b'], ['c', 'd']]);
  });
});

test.run();
