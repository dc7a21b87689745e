import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { IdlePoller } from '../../../shared/idle-poll.js';

const test = suite('shared - idle poller');

/** Turns of the event loop until `predicate` holds; fails after `deadlineMs`. */
async function turnsUntil(predicate: () => boolean, deadlineMs: number): Promise<number> {
  const end = performance.now() + deadlineMs;
  let turns = 0;
  while (!predicate()) {
    if (performance.now() > end) throw new Error(`not true within ${deadlineMs} ms`);
    await new Promise((resolve) => setImmediate(resolve));
    turns++;
  }
  return turns;
}

test('a window of 0 is off: kicks do nothing', () => {
  const p = new IdlePoller(0);
  assert.is(p.isEnabled, false);
  p.kick();
  assert.is(p.isActive, false);
});

test('a negative or non-finite window is refused', () => {
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new IdlePoller(bad), (e: unknown) => e instanceof RangeError);
  }
});

test('a kick keeps the loop polling for the window, then lets it sleep', async () => {
  const p = new IdlePoller(5);
  assert.is(p.isEnabled, true);
  const started = performance.now();
  p.kick();
  assert.is(p.isActive, true);
  await turnsUntil(() => !p.isActive, 2000);
  assert.ok(performance.now() - started >= 5, 'polled at least the window');
});

test('kicks within the window extend it; timers still fire while polling', async () => {
  const p = new IdlePoller(20);
  let timerFired = false;
  setTimeout(() => { timerFired = true; }, 1);
  const started = performance.now();
  let lastKick = started;
  // Keep kicking for 60 ms (three windows): the poller must stay active throughout.
  while (performance.now() - started < 60) {
    lastKick = performance.now();
    p.kick();
    assert.is(p.isActive, true);
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert.ok(timerFired, 'a timer fired while the loop was polling');
  await turnsUntil(() => !p.isActive, 2000);
  assert.ok(performance.now() - lastKick >= 20, 'polled a whole window after the last kick');
});

test('stop ends polling at the next turn and later kicks are ignored', async () => {
  const p = new IdlePoller(10_000);
  p.kick();
  assert.is(p.isActive, true);
  p.stop();
  assert.is(p.isEnabled, false);
  const turns = await turnsUntil(() => !p.isActive, 2000);
  assert.ok(turns <= 2, `stopped within ${turns} turns`);
  p.kick();
  assert.is(p.isActive, false);
});

/** A gate the test opens and closes. */
function manualGate(isOpen: boolean): { isOpen: boolean } {
  return { isOpen };
}

test('a closed gate: kicks start no polling', () => {
  const gate = manualGate(false);
  const p = new IdlePoller(50, gate);
  assert.is(p.isEnabled, true);
  p.kick();
  assert.is(p.isActive, false);
  gate.isOpen = true;
  p.kick();
  assert.is(p.isActive, true);
  p.stop();
});

test('a gate that closes ends the polling at the next turn', async () => {
  const gate = manualGate(true);
  const p = new IdlePoller(10_000, gate);
  p.kick();
  await new Promise((resolve) => setImmediate(resolve));
  assert.is(p.isActive, true);
  gate.isOpen = false;
  const turns = await turnsUntil(() => !p.isActive, 2000);
  assert.ok(turns <= 2, `stopped within ${turns} turns`);
  p.stop();
});

test('time polled with nothing arriving is counted; turns with a kick are not', async () => {
  const gate = manualGate(true);
  const p = new IdlePoller(20, gate);
  const started = performance.now();
  p.kick();
  await turnsUntil(() => !p.isActive, 2000);
  const spent = performance.now() - started;
  assert.ok(p.emptyPollMs >= 15 && p.emptyPollMs <= spent + 1, `empty ${p.emptyPollMs} of ${spent} ms`);
  // Kicked on every turn: no turn is empty.
  const before = p.emptyPollMs;
  p.kick();
  for (let i = 0; i < 50; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    p.kick();
  }
  assert.ok(p.emptyPollMs - before < 1, `counted ${p.emptyPollMs - before} ms while kicked every turn`);
  p.stop();
});

test.run();
