import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ChangeLog, type LogRecord } from '../../../cluster/node/change-log.js';

const test = suite('cluster - change log for delta recovery');

const rec = (unit: number, seq: number, value: string | null = `v${seq}`): LogRecord =>
  [unit, seq, Buffer.from(`k${seq}`), value === null ? null : Buffer.from(value), 0, 0];

test('answers the records after a seqno only when it holds all of them up to the current one', () => {
  const log = new ChangeLog();
  for (let s = 1; s <= 10; s++) log.append(rec(7, s));
  assert.equal(log.since(7, 4, 10)!.map((r) => r[1]), [5, 6, 7, 8, 9, 10]);
  assert.equal(log.since(7, 10, 10), []);
  assert.is(log.since(7, 4, 11), null, 'the caller knows of a record the log lacks');
  assert.is(log.since(8, 0, 3), null, 'an unknown unit with history');
  assert.equal(log.since(8, 0, 0), [], 'an unknown unit without history');
});

test('a jump in seqnos starts the unit again, and drop forgets it', () => {
  const log = new ChangeLog();
  for (let s = 1; s <= 5; s++) log.append(rec(1, s));
  log.append(rec(1, 9));
  assert.is(log.since(1, 3, 9), null, 'history before the jump is gone');
  assert.equal(log.since(1, 8, 9)!.map((r) => r[1]), [9]);
  log.drop(1);
  assert.is(log.bytes, 0);
  assert.is(log.since(1, 8, 9), null);
});

test('stays within its byte bound by evicting the oldest records first', () => {
  const log = new ChangeLog(10_000);
  for (let s = 1; s <= 1000; s++) log.append(rec(s % 3, Math.ceil(s / 3), 'x'.repeat(50)));
  assert.ok(log.bytes <= 10_000, `${log.bytes} bytes`);
  const last = Math.ceil(1000 / 3);
  assert.equal(log.since(1, last - 3, last)!.map((r) => r[1]), [last - 2, last - 1, last], 'recent records stay');
  assert.is(log.since(1, 1, last), null, 'old ones were evicted');
  const none = new ChangeLog(0);
  none.append(rec(1, 1));
  assert.is(none.bytes, 0, 'a zero bound keeps nothing');
});

test.run();
