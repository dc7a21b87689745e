import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { EventEmitter } from 'eventemitter3';
import { waitUntil, type Subscribe } from '../../../cluster/manager/wait-until.js';

const test = suite('cluster - waitUntil');

function source(): { emitter: EventEmitter<{ tick: () => void }>; subscribe: Subscribe } {
  const emitter = new EventEmitter<{ tick: () => void }>();
  const subscribe: Subscribe = (wake) => {
    emitter.on('tick', wake);
    return () => emitter.off('tick', wake);
  };
  return { emitter, subscribe };
}

test('resolves true at once when the condition already holds, without listening', async () => {
  const { emitter, subscribe } = source();
  assert.is(await waitUntil(() => true, [subscribe], 10_000), true);
  assert.is(emitter.listenerCount('tick'), 0);
});

test('looks again on each wake-up and resolves true once the condition holds, then stops listening', async () => {
  const { emitter, subscribe } = source();
  let n = 0;
  const p = waitUntil(() => n >= 3, [subscribe], 60_000);
  for (let i = 0; i < 3; i++) {
    n++;
    emitter.emit('tick');
  }
  assert.is(await p, true);
  assert.is(emitter.listenerCount('tick'), 0);
});

test('resolves with a last look at the timeout: false when it still does not hold', async () => {
  const { emitter, subscribe } = source();
  assert.is(await waitUntil(() => false, [subscribe], 20), false);
  assert.is(emitter.listenerCount('tick'), 0);
  let isDone = false;
  const late = waitUntil(() => isDone, [], 20);
  isDone = true;
  assert.is(await late, true, 'a condition that came true without a wake-up is seen at the timeout');
});

test('resolves false at once when the signal aborts, and for an aborted signal or no time left', async () => {
  const { emitter, subscribe } = source();
  const controller = new AbortController();
  const p = waitUntil(() => false, [subscribe], 60_000, controller.signal);
  controller.abort();
  assert.is(await p, false);
  assert.is(emitter.listenerCount('tick'), 0);
  assert.is(await waitUntil(() => false, [subscribe], 60_000, controller.signal), false);
  assert.is(await waitUntil(() => false, [subscribe], 0), false);
  assert.is(await waitUntil(() => false, [subscribe], -5), false);
});

test.run();
