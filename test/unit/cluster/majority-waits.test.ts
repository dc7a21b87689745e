import * as assert from 'uvu/assert';
import { suite } from '../../helpers/suite.js';
import { rejection, withDeadline } from '../../helpers/deadline.js';
import { ErrorCode, KvError } from '../../../shared/errors.js';
import { MajorityWaits } from '../../../cluster/node/replication/majority-waits.js';

const test = suite('cluster - majority waits');

const WAIT_MS = 10_000;
const noop = (): void => undefined;

test('a write resolves once `need` distinct peers acknowledged its seqno at its epoch or later', async () => {
  const waits = new MajorityWaits();
  let done = 0;
  const w = waits.wait(7, 5, 3, 2, ['a', 'b', 'c'], 60_000, noop).then(() => { done++; });
  waits.onAcks('a', [7, 5], 3, noop);
  waits.onAcks('a', [7, 6], 3, noop);
  await Promise.resolve();
  assert.is(done, 0, 'the same peer twice counts once');
  waits.onAcks('b', [7, 4], 3, noop);
  waits.onAcks('c', [7, 9], 2, noop);
  await Promise.resolve();
  assert.is(done, 0, 'a lower seqno, or an ack from an older epoch, does not count');
  waits.onAcks('x', [7, 9], 3, noop);
  await Promise.resolve();
  assert.is(done, 0, 'a peer outside the chain does not count');
  waits.onAcks('c', [7, 5], 3, noop);
  await withDeadline(w, WAIT_MS, 'resolved');
  assert.is(done, 1);
  waits.close(KvError.unavailable('closed'));
});

test('each write times out at its own deadline and is counted; the others still resolve', async () => {
  const waits = new MajorityWaits();
  let timeouts = 0;
  const onTimeout = (): void => { timeouts++; };
  const short = waits.wait(1, 1, 0, 1, ['a'], 30, onTimeout);
  const long = waits.wait(2, 1, 0, 1, ['a'], 60_000, onTimeout);
  const shortToo = waits.wait(3, 1, 0, 1, ['a'], 60, onTimeout);
  const errA = await withDeadline(rejection(short), WAIT_MS, 'the first deadline');
  assert.is(errA.code, ErrorCode.TIMEOUT);
  assert.match(errA.message, /within 30 ms/);
  const errB = await withDeadline(rejection(shortToo), WAIT_MS, 'the second deadline');
  assert.is(errB.code, ErrorCode.TIMEOUT);
  assert.is(timeouts, 2);
  waits.onAcks('a', [2, 1], 0, noop);
  await withDeadline(long, WAIT_MS, 'the long one resolves');
  waits.close(KvError.unavailable('closed'));
});

test('malformed acks stop at the first bad pair; close fails every waiting write', async () => {
  const waits = new MajorityWaits();
  const seen: Array<[number, number]> = [];
  waits.onAcks('a', [1, 2, 'x', 3, 4, 5], 0, (u, s) => seen.push([u, s]));
  assert.equal(seen, [[1, 2]]);
  const a = waits.wait(1, 1, 0, 1, ['a'], 60_000, noop);
  const b = waits.wait(2, 1, 0, 1, ['a'], 60_000, noop);
  waits.close(KvError.unavailable('node shutting down'));
  for (const p of [a, b]) assert.is((await withDeadline(rejection(p), WAIT_MS, 'closed')).code, ErrorCode.UNAVAILABLE);
});

test.run();
