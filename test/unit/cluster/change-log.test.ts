import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ChangeLog, fingerprint, type LogRecord } from '../../../cluster/node/replication/change-log.js';
import { xxh64 } from '../../../shared/xxh64.js';

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

test('knows the fingerprint at each seqno it holds, at its anchor, and at the record evicted last', () => {
  const log = new ChangeLog();
  for (let s = 1; s <= 3; s++) log.append(rec(2, s));
  assert.is(log.printAt(2, 2), fingerprint(rec(2, 2)));
  assert.is(log.printAt(2, 4), null, 'beyond the last record');
  assert.is(log.printAt(2, 0), null, 'before the first, nothing is known');
  assert.is.not(fingerprint(rec(2, 2)), fingerprint(rec(2, 2, 'other')), 'another value, another fingerprint');
  assert.is.not(fingerprint(rec(2, 2)), fingerprint(rec(2, 2, null)), 'a delete differs from a write');
  // A copy from a snapshot at seqno 40 whose record there the source knew.
  log.anchor(2, 40, 'abc');
  assert.is(log.printAt(2, 40), 'abc');
  assert.equal(log.since(2, 40, 40), [], 'up to date at the anchor');
  log.append(rec(2, 41));
  assert.equal(log.since(2, 40, 41)!.map((r) => r[1]), [41]);
  assert.is(log.printAt(2, 1), null, 'the history before the copy is gone');
  // Eviction keeps the evicted record as the new anchor.
  const small = new ChangeLog(300);
  for (let s = 1; s <= 6; s++) small.append(rec(5, s, 'x'.repeat(40)));
  assert.ok(small.since(5, 1, 6) === null, 'old records were evicted');
  const base = [1, 2, 3, 4, 5].find((s) => small.since(5, s, 6) !== null)!;
  assert.ok(base > 1 && base < 6, `history starts after seqno ${base}`);
  assert.is(small.printAt(5, base), fingerprint(rec(5, base, 'x'.repeat(40))), 'the record evicted last anchors it');
  assert.is(small.printAt(5, base - 1), null);
});

test('offers earlier points of its history, dense at first, then ever further back', () => {
  const log = new ChangeLog();
  for (let s = 1; s <= 200; s++) log.append(rec(3, s));
  const points = log.earlierPoints(3, 200);
  assert.equal(points.slice(0, 8).map((p) => p[0]), [199, 198, 197, 196, 195, 194, 193, 192], 'the last eight, one by one');
  assert.equal(points.slice(8, 12).map((p) => p[0]), [184, 168, 136, 72], 'then doubling');
  assert.is(points[points.length - 1]![0], 1, 'down to the oldest record it holds');
  for (const [seq, print] of points) assert.is(print, fingerprint(rec(3, seq)), `fingerprint at ${seq}`);
  assert.equal(log.earlierPoints(9, 5), [], 'a unit it has no history for offers nothing');
  assert.ok(log.earlierPoints(3, 200, 8, 4).length === 4, 'bounded');
});

test('rolls a unit back to an earlier point, returning what it discards', () => {
  const log = new ChangeLog();
  for (let s = 1; s <= 10; s++) log.append(rec(4, s));
  const before = log.bytes;
  const removed = log.truncate(4, 7)!;
  assert.equal(removed.map((r) => r[1]), [8, 9, 10]);
  assert.ok(log.bytes < before, 'their bytes are freed');
  assert.is(log.printAt(4, 8), null, 'nothing after the point');
  assert.is(log.printAt(4, 7), fingerprint(rec(4, 7)), 'the point itself stays');
  log.append(rec(4, 8, 'new'));
  assert.equal(log.since(4, 7, 8)!.map((r) => r[1]), [8], 'the history goes on from the point');
  assert.is(log.printAt(4, 8), fingerprint(rec(4, 8, 'new')));
  assert.equal(log.truncate(4, 8), [], 'at the last record: nothing to discard');
  assert.is(log.truncate(4, 9), null, 'beyond the last record');
  assert.is(log.truncate(5, 1), null, 'a unit without history');
  log.anchor(4, 50, 'abc');
  assert.is(log.truncate(4, 49), null, 'before the log\'s start');
});

test('a history restored from the disk proves points and rolls back, but is never sent as a delta', () => {
  const log = new ChangeLog();
  const original = new ChangeLog();
  for (let s = 1; s <= 12; s++) original.append(rec(4, s));
  // What the disk keeps: the point before, then seqno, fingerprint and key of each record.
  const history: Array<[number, string | null, Uint8Array | null]> = [[4, original.printAt(4, 4), null]];
  for (let s = 5; s <= 12; s++) history.push([s, original.printAt(4, s), Buffer.from(`k${s}`)]);
  assert.ok(log.restore(4, history, 12));
  for (let s = 4; s <= 12; s++) assert.is(log.printAt(4, s), original.printAt(4, s), `point ${s}`);
  assert.equal(log.earlierPoints(4, 12), original.earlierPoints(4, 12).filter(([s]) => s >= 4));
  assert.is(log.since(4, 8, 12), null, 'restored records have no values to send');
  // New records continue it; those can be sent.
  log.append(rec(4, 13));
  assert.equal(log.since(4, 12, 13)!.map((r) => r[1]), [13]);
  assert.is(log.since(4, 11, 13), null);
  // A rollback to a restored point hands back the keys written after it.
  const removed = log.truncate(4, 9)!;
  assert.equal(removed.map((r) => [r[1], Buffer.from(r[2]).toString()]), [[10, 'k10'], [11, 'k11'], [12, 'k12'], [13, 'k13']]);
  assert.is(log.printAt(4, 9), original.printAt(4, 9));
  log.append(rec(4, 10, 'other'));
  assert.equal(log.since(4, 9, 10)!.map((r) => r[1]), [10], 'after the rollback, what follows the point is sendable');
});

test('a restored history that does not run whole up to the mark is refused and changes nothing', () => {
  const log = new ChangeLog();
  log.append(rec(2, 1));
  const k = (s: number): Uint8Array => Buffer.from(`k${s}`);
  assert.not.ok(log.restore(2, [[3, 'a', null], [4, 'b', k(4)], [6, 'c', k(6)]], 6), 'a gap');
  assert.not.ok(log.restore(2, [[3, 'a', null], [4, 'b', k(4)]], 5), 'ends before the mark');
  assert.not.ok(log.restore(2, [[3, 'a', null]], 3), 'only a point');
  assert.not.ok(log.restore(2, [[3, 'a', null], [4, null, k(4)]], 4), 'a record without its fingerprint');
  assert.equal(log.since(2, 0, 1)!.map((r) => r[1]), [1]);
});

test('restored records are evicted like others, the oldest first, leaving a provable anchor', () => {
  const log = new ChangeLog(40 * 6);
  const history: Array<[number, string | null, Uint8Array | null]> = [[0, null, null]];
  for (let s = 1; s <= 10; s++) history.push([s, `p${s}`, Buffer.from(`k${s}`)]);
  assert.ok(log.restore(9, history, 10));
  assert.ok(log.bytes <= 40 * 6);
  assert.is(log.printAt(9, 10), 'p10');
  assert.is(log.printAt(9, 1), null, 'evicted');
  const oldest = log.earlierPoints(9, 10).at(-1)!;
  assert.is(log.printAt(9, oldest[0]), `p${oldest[0]}`);
});

test('a fingerprint is the XXH64 of the record laid out as [present][key length][flags][expiry][key][value], in hex', () => {
  // The layout every node hashes: copies compare fingerprints, so it must never drift.
  const reference = (r: LogRecord): string => {
    const head = Buffer.alloc(13);
    head[0] = r[3] === null ? 0 : 1;
    head.writeUInt32LE(r[2].length, 1);
    head.writeUInt32LE(r[4] >>> 0, 5);
    head.writeUInt32LE(r[5] >>> 0, 9);
    return xxh64(Buffer.concat([head, r[2], r[3] ?? Buffer.alloc(0)])).toString(16);
  };
  fc.assert(fc.property(
    fc.uint8Array({ minLength: 1, maxLength: 250 }), fc.option(fc.uint8Array({ maxLength: 9000 })), fc.nat(2 ** 32 - 1), fc.nat(2 ** 32 - 1),
    (key, value, flags, expAt) => {
      const r: LogRecord = [1, 1, key, value, flags, expAt];
      return fingerprint(r) === reference(r);
    },
  ), { numRuns: 3000 });
});

test.run();
