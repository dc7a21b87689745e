import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { WaitList } from '../../../cluster/node/wait-list.js';

const test = suite('cluster - wait list');

test('waiters are released in arrival order, only those the test accepts', async () => {
  const list = new WaitList<number>(10);
  const order: number[] = [];
  const all = [3, 1, 2, 5].map((k) => list.add(k, 60_000)!.then(() => order.push(k)));
  assert.is(list.size, 4);
  list.release((k) => k <= 3);
  await Promise.all(all.slice(0, 3));
  assert.equal(order, [3, 1, 2]);
  assert.is(list.size, 1);
  list.release();
  await all[3];
  assert.equal(order, [3, 1, 2, 5]);
  assert.is(list.size, 0);
});

test('a deadline releases its waiter alone and removes it; a full list refuses', async () => {
  const list = new WaitList<string>(2);
  let isLongDone = false;
  const long = list.add('long', 60_000)!.then(() => { isLongDone = true; });
  const short = list.add('short', 1);
  assert.is(list.add('third', 1), null, 'two wait already');
  await short;
  assert.is(list.size, 1, 'the expired waiter is gone');
  assert.is(isLongDone, false);
  assert.ok(list.add('third', 60_000) !== null, 'room again');
  list.release();
  await long;
  assert.is(list.size, 0);
});

test.run();
