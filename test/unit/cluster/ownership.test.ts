import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { Ownership } from '../../../cluster/node/ownership.js';
import { Executor, EPOCH_WAIT_MS } from '../../../cluster/node/executor.js';
import { MemoryEngine } from '../../../cluster/node/engine/memory-engine.js';
import type { ClusterMap } from '../../../shared/cluster-map.js';
import type { Request } from '../../../shared/protocol/frames.js';
import { Op } from '../../../shared/protocol/ops.js';
import { Status } from '../../../shared/status.js';
import { withDeadline } from '../../helpers/deadline.js';

const test = suite('cluster - ownership and requests ahead of the node\'s map');

/** One node owning every bucket of a 2^4-bucket map at `epoch`. */
function soleOwner(epoch: number): ClusterMap {
  return {
    epoch, rev: epoch, bits: 4, unitBits: 2,
    nodes: [{ id: 'n0', address: 'ws://127.0.0.1:1', peerKey: null, zone: 'z', weight: 1, state: 'active' }],
    chains: [[0]], runStarts: [0], runChains: [0], moves: [],
  };
}

function request(op: number, key: string, epoch: number, value: string | null = null): Request {
  return {
    id: 1, op: op as Request['op'], epoch, key, value: value === null ? null : Buffer.from(value), flags: 0, exptime: 0, cas: 0, delta: 0n, initial: undefined,
    end: null, limit: 0, ranges: null, rangeBits: 0, cursor: undefined, group: undefined, durability: 'none', isReplicaRead: false, auth: undefined,
  };
}

const stats = { nodeStats: () => ({}) };

test('a node without a manager never holds a request', () => {
  const own = new Ownership(4);
  assert.is(own.whenEpoch(5, 1000), null);
});

test('a request with a newer epoch waits for that map, then runs', async () => {
  const own = new Ownership(4, true);
  own.applyMap(soleOwner(1), 0);
  const exec = new Executor(new MemoryEngine({ memorySizeMb: 8 }), own, stats);
  const pending = exec.execute(request(Op.SET, 'k', 2, 'v'));
  assert.instance(pending, Promise, 'held, not bounced');
  own.applyMap(soleOwner(2), 0);
  const frame = await withDeadline(pending as Promise<unknown[]>, 1000, 'held request');
  assert.is(frame[1], Status.OK);
  const read = exec.execute(request(Op.GET, 'k', 2));
  assert.is((read as unknown[])[1], Status.OK);
});

test('waiters resolve in arrival order, only when their epoch arrives', async () => {
  const own = new Ownership(4, true);
  own.applyMap(soleOwner(1), 0);
  const order: number[] = [];
  const a = own.whenEpoch(3, 5000)!.then(() => order.push(3));
  const b = own.whenEpoch(2, 5000)!.then(() => order.push(2));
  const c = own.whenEpoch(2, 5000)!.then(() => order.push(22));
  own.applyMap(soleOwner(2), 0);
  await withDeadline(Promise.all([b, c]), 1000, 'epoch 2 waiters');
  assert.equal(order, [2, 22]);
  own.applyMap(soleOwner(3), 0);
  await withDeadline(a, 1000, 'epoch 3 waiter');
  assert.equal(order, [2, 22, 3]);
});

test('a map that never comes: NOT_MY_BUCKET with the node\'s epoch after the wait', async () => {
  const own = new Ownership(4, true);
  own.applyMap(soleOwner(1), 0);
  const exec = new Executor(new MemoryEngine({ memorySizeMb: 8 }), own, stats);
  const started = Date.now();
  const frame = await withDeadline(exec.execute(request(Op.GET, 'k', 9)) as Promise<unknown[]>, 5000, 'bounded wait');
  assert.is(frame[1], Status.NOT_MY_BUCKET);
  assert.equal(frame[5], { epoch: 1 });
  assert.ok(Date.now() - started >= EPOCH_WAIT_MS - 20, 'waited for the map first');
});

test('past the waiter bound, and for stale epochs, the answer is immediate', () => {
  const own = new Ownership(4, true, 2);
  own.applyMap(soleOwner(5), 0);
  const exec = new Executor(new MemoryEngine({ memorySizeMb: 8 }), own, stats);
  assert.ok(own.whenEpoch(6, 5000) !== null);
  assert.ok(own.whenEpoch(6, 5000) !== null);
  const third = exec.execute(request(Op.GET, 'k', 6));
  assert.not.instance(third, Promise, 'bounded');
  assert.is((third as unknown[])[1], Status.NOT_MY_BUCKET);
  const stale = exec.execute(request(Op.GET, 'k', 4));
  assert.is((stale as unknown[])[1], Status.NOT_MY_BUCKET);
  own.releaseWaiters();
});

test.run();
