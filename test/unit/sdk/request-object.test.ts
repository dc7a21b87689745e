import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { RequestTable } from '../../../sdk/lane-table.js';
import { DispatchPromise, LanePromise } from '../../../sdk/request-forms.js';
import { Dispatcher } from '../../../sdk/dispatcher.js';
import type { DispatchRequest } from '../../../sdk/dispatch-request.js';
import type { LaneRequest } from '../../../sdk/lane-contract.js';
import { LanePool } from '../../../sdk/lane-pool.js';
import { Lane } from '../../../sdk/lane.js';
import { StaticMapSource } from '../../../sdk/map-source.js';
import { connect } from '../../../sdk/index.js';
import { KvError } from '../../../shared/errors.js';
import { keyRequest } from '../../../shared/protocol/frames.js';
import type { Response } from '../../../shared/protocol/frames.js';
import { Op } from '../../../shared/protocol/ops.js';
import { Status } from '../../../shared/status.js';
import { FakeNode, echoOk } from '../../helpers/fake-node.js';
import { withDeadline } from '../../helpers/deadline.js';

const test = suite('sdk - request object');

const LANE = { connectTimeoutMs: 2000, maxInFlight: 64, maxQueued: 64, maxFramesPerMessage: 1024, maxBatchBytes: 1 << 20, heartbeatMs: 60_000 };

/** A lane request that records every outcome it is given. */
class Recorder implements LaneRequest {
  id = 0;
  isSent = false;
  readonly raw = null;
  readonly epoch = 0;
  readonly valueBytes = 0;
  readonly outcomes: string[] = [];
  readonly frame: unknown[];

  constructor(key: string, readonly deadline = Date.now() + 60_000) {
    this.frame = keyRequest(Op.GET, key);
  }

  onAnswer(r: Response): void {
    this.outcomes.push(`answer ${r.status}`);
  }

  onRawAnswer(status: number): void {
    this.outcomes.push(`raw ${status}`);
  }

  onError(err: KvError): void {
    this.outcomes.push(err.code);
  }
}

/** A dispatched request that records its outcomes, and whether one came from inside `dispatch`. */
function recorded(frame: unknown[], key: string): { req: DispatchRequest; outcomes: Array<{ status?: number; code?: string }>; settled: Promise<void> } {
  const outcomes: Array<{ status?: number; code?: string }> = [];
  let done: () => void = () => undefined;
  const settled = new Promise<void>((resolve) => { done = resolve; });
  const req: DispatchRequest = {
    frame, raw: null, key, isIdempotent: true, valueBytes: 0, deadline: Date.now() + 3000,
    onAnswer: (r) => { outcomes.push({ status: r.status }); done(); },
    onRawAnswer: (status) => { outcomes.push({ status }); done(); },
    onError: (err) => { outcomes.push({ code: (err as KvError).code }); done(); },
  };
  return { req, outcomes, settled };
}

test('the table numbers admitted requests from 1 and writes the id into their frame', () => {
  const table = new RequestTable(2, 1);
  const a = new Recorder('a');
  const b = new Recorder('b');
  table.admit(a);
  table.admit(b);
  assert.equal([a.id, b.id, a.frame[0], b.frame[0]], [1, 2, 1, 2]);
  assert.is(table.inFlight, 2);
  assert.is(table.hasRoom, false);
  assert.is(table.take(1), a);
  assert.is(table.take(1), undefined, 'an id is answered once');
  assert.is(table.hasRoom, true);
});

test('ids wrap after 2^32 - 1 to 1 and skip those still in flight', () => {
  const table = new RequestTable(8, 1, 0xffffffff - 1);
  const reqs = Array.from({ length: 4 }, (_, i) => new Recorder(`k${i}`));
  for (const r of reqs.slice(0, 3)) table.admit(r);
  assert.equal(reqs.slice(0, 3).map((r) => r.id), [0xffffffff - 1, 0xffffffff, 1]);
  // 2 is free, 1 is still in flight: after another round the next id skips 1.
  table.take(0xffffffff - 1);
  table.admit(reqs[3]!);
  assert.is(reqs[3]!.id, 2);
  const again = new RequestTable(8, 1, 0xffffffff);
  const a = new Recorder('a');
  const b = new Recorder('b');
  const c = new Recorder('c');
  again.admit(a);
  again.admit(b);
  assert.equal([a.id, b.id], [0xffffffff, 1]);
  // Far later the counter comes round to 1 again while b still waits: 2 is used instead.
  (again as unknown as { nextId: number }).nextId = 1;
  again.admit(c);
  assert.is(c.id, 2);
});

test('a request stuck in flight keeps its id: ids that would share its slot are skipped, and late answers find nothing', () => {
  const table = new RequestTable(16, 1);
  const stuck = new Recorder('stuck');
  table.admit(stuck);
  assert.is(stuck.id, 1);
  // 70 more, answered one by one, while the first never is: with 16 in flight the ring
  // has 32 slots, so ids 33 and 65 would share its slot.
  const ids: number[] = [];
  for (let i = 0; i < 70; i++) {
    const r = new Recorder(`r${i}`);
    table.admit(r);
    ids.push(r.id);
    assert.is(table.take(r.id), r);
  }
  assert.not.ok(ids.includes(33) || ids.includes(65), ids.join(','));
  assert.ok(ids.includes(17) && ids.includes(34));
  assert.is(new Set(ids).size, 70);
  assert.is(table.take(33), undefined, 'an answer to an id no request holds');
  assert.is(table.take(1), stuck);
  assert.is(table.isEmpty, true);
});

test('a table admits its maxInFlight, then only into spare slots; takeAll and takeExpired hand requests back in id order', () => {
  const table = new RequestTable(20, 1);
  const reqs = Array.from({ length: 20 }, (_, i) => new Recorder(`k${i}`, i % 2 === 0 ? 0 : Date.now() + 60_000));
  for (const r of reqs) {
    assert.ok(table.hasRoom);
    table.admit(r);
  }
  assert.is(table.hasRoom, false);
  assert.is(table.inFlight, 20);
  const expired = table.takeExpired(Date.now());
  assert.equal(expired.admitted.map((r) => r.id), reqs.filter((_, i) => i % 2 === 0).map((r) => r.id));
  assert.is(table.inFlight, 10);
  const all = table.takeAll();
  assert.equal(all.admitted.map((r) => r.id), reqs.filter((_, i) => i % 2 === 1).map((r) => r.id));
  assert.is(table.isEmpty, true);
  // Past its room a table still admits into spare slots (a lane's handshake frames, sent
  // whatever the room); once every slot of the ring is taken it refuses.
  const full = new RequestTable(64, 1);
  for (let i = 0; i < 64; i++) full.admit(new Recorder(`f${i}`));
  assert.is(full.hasRoom, false);
  for (let i = 0; i < 16; i++) full.admit(new Recorder(`handshake${i}`));
  let extra = 0;
  assert.throws(() => {
    for (;;) {
      full.admit(new Recorder(`x${extra}`));
      extra++;
    }
  }, /full/);
  assert.is(full.inFlight, 80 + extra);
  assert.is(new Set(Array.from({ length: 200 }, (_, i) => full.take(i + 1)?.id).filter((id) => id !== undefined)).size, 80 + extra, 'every id distinct');
});

test('the wait queue is bounded and hands requests back in order, only when there is room', () => {
  const table = new RequestTable(1, 2);
  table.admit(new Recorder('x'));
  const q1 = new Recorder('q1');
  const q2 = new Recorder('q2');
  table.queue(q1);
  table.queue(q2);
  assert.is(table.hasQueueRoom, false);
  assert.is(table.nextWaiting(), undefined, 'no room: nothing leaves the queue');
  table.take(1);
  assert.is(table.nextWaiting(), q1);
  table.admit(q1);
  assert.is(table.nextWaiting(), undefined);
  table.take(q1.id);
  assert.is(table.nextWaiting(), q2);
  table.admit(q2);
  table.take(q2.id);
  assert.is(table.isEmpty, true);
});

test('expired requests leave the table, admitted and queued apart; the others stay', () => {
  const table = new RequestTable(1, 4);
  const now = Date.now();
  const late = new Recorder('late', now - 1);
  const queuedLate = new Recorder('ql', now);
  const queuedOk = new Recorder('qo', now + 10_000);
  table.admit(late);
  table.queue(queuedLate);
  table.queue(queuedOk);
  const expired = table.takeExpired(now);
  assert.equal(expired.admitted, [late]);
  assert.equal(expired.queued, [queuedLate]);
  assert.is(table.inFlight, 0);
  assert.is(table.nextWaiting(), queuedOk);
  const all = table.takeAll();
  assert.is(all.admitted.length + all.queued.length, 0);
});

test('the promise form settles with what settle returns, and fails when settle throws', async () => {
  const ok = new Promise<string>((resolve, reject) => {
    new DispatchPromise(keyRequest(Op.GET, 'k'), { key: 'k', isIdempotent: true, valueBytes: 0 }, 0, (r) => `status ${r.status}`, resolve, reject)
      .onAnswer({ id: 1, status: Status.OK, value: null, cas: 0, flags: 0, extra: undefined });
  });
  assert.is(await ok, 'status 0');
  const thrown = new Promise<string>((resolve, reject) => {
    const settle = (): string => { throw KvError.exists(); };
    new DispatchPromise(keyRequest(Op.GET, 'k'), { key: 'k', isIdempotent: true, valueBytes: 0 }, 0, settle, resolve, reject)
      .onAnswer({ id: 1, status: Status.EXISTS, value: null, cas: 0, flags: 0, extra: undefined });
  });
  assert.is(await thrown.then(() => null, (e: KvError) => e.code), 'KV_ERR_EXISTS');
});

test('a raw answer given to a decoded form is decoded first', async () => {
  // [status OK, value h'6869', cas 7, flags 0]: the fields after the status, still encoded.
  const fields = Buffer.from([0x42, 0x68, 0x69, 0x07, 0x00]);
  const r = await new Promise<Response>((resolve, reject) => new LanePromise(keyRequest(Op.GET, 'k'), 0, 0, resolve, reject).onRawAnswer(Status.OK, 3, fields));
  assert.equal([r.status, Buffer.from(r.value as Uint8Array).toString(), r.cas, r.flags], [Status.OK, 'hi', 7, 0]);
});

test('a dispatched request gets exactly one outcome, never from inside dispatch', async () => {
  const fake = await FakeNode.start(echoOk);
  const pool = new LanePool(LANE, [1, 10], 1);
  const d = new Dispatcher(new StaticMapSource([fake.address]), pool, { backoffMs: [1] });
  try {
    const { req, outcomes, settled } = recorded(keyRequest(Op.GET, 'k'), 'k');
    d.dispatch(req);
    assert.is(outcomes.length, 0, 'nothing before dispatch returns');
    await withDeadline(settled, 5000, 'answer');
    assert.equal(outcomes, [{ status: Status.OK }]);
  } finally {
    await pool.close();
    await fake.close();
  }
});

test('a request refused by a closed lane still hears once, and later, from the retrying path', async () => {
  const fake = await FakeNode.start(echoOk);
  const pool = new LanePool(LANE, [1, 10], 1);
  const d = new Dispatcher(new StaticMapSource([fake.address]), pool, { backoffMs: [1], isFailFast: true });
  try {
    await pool.warm(fake.address, Date.now() + 2000);
    pool.get(fake.address).destroy(KvError.connectionClosed('gone'));
    const { req, outcomes, settled } = recorded(keyRequest(Op.GET, 'k'), 'k');
    d.dispatch(req);
    assert.is(outcomes.length, 0, 'nothing before dispatch returns');
    await withDeadline(settled, 5000, 'outcome');
    assert.is(outcomes.length, 1);
  } finally {
    await pool.close();
    await fake.close();
  }
});

test('a lane with a full queue refuses with BUSY at once; the admitted and queued ones go on', async () => {
  const fake = await FakeNode.start(echoOk);
  const lane = new Lane(fake.address, { ...LANE, maxInFlight: 1, maxQueued: 1 });
  try {
    await lane.whenOpen(Date.now() + 2000);
    const reqs = [new Recorder('a'), new Recorder('b'), new Recorder('c')];
    for (const r of reqs) lane.enqueue(r);
    assert.equal(reqs[2]!.outcomes, ['KV_ERR_BUSY']);
    await withDeadline((async () => { while (reqs[1]!.outcomes.length === 0) await new Promise((r) => setImmediate(r)); })(), 5000, 'answers');
    assert.equal(reqs.map((r) => r.outcomes), [['answer 0'], ['answer 0'], ['KV_ERR_BUSY']]);
  } finally {
    await lane.close();
    await fake.close();
  }
});

test('a timeout found by the sweep names the caller in its stack', async () => {
  const fake = await FakeNode.start(() => null);
  const db = await connect({ nodes: [fake.address], timeoutMs: 150, connectTimeoutMs: 2000 });
  try {
    async function readForTheTimeoutTest(): Promise<unknown> {
      return await db.get('never-answered');
    }
    const err = await withDeadline(readForTheTimeoutTest().then(() => null, (e: unknown) => e as KvError), 5000, 'timeout');
    assert.is(err?.code, 'KV_ERR_TIMEOUT');
    assert.match(err!.stack ?? '', /readForTheTimeoutTest/);
    const viaSend = await withDeadline((async function deleteForTheTimeoutTest() { return await db.delete('never-answered'); })().then(() => null, (e: unknown) => e as KvError), 5000, 'timeout');
    assert.is(viaSend?.code, 'KV_ERR_TIMEOUT');
    assert.match(viaSend!.stack ?? '', /deleteForTheTimeoutTest/);
  } finally {
    db.destroy();
    await fake.close();
  }
});

test.run();
