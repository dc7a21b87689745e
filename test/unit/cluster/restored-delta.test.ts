import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { ChangeLog, type LogRecord } from '../../../cluster/node/replication/change-log.js';
import { condense, deltaSince, DELTA_VISITS_PER_PULL, type VisitBudget } from '../../../cluster/node/replication/restored-delta.js';
import type { StoredItem } from '../../../cluster/node/engine/types.js';

const test = suite('cluster - deltas through a history restored from disk');

const UNIT = 3;
type Write = [key: string, value: string | null];

/**
 * A unit written by `writes` (seqnos 1..n) on a node that then restarted: `restoredUpTo`
 * records come back from the disk (key and fingerprint only), `after` more are written
 * since. Returns the restarted node's log and engine, and the state every key should end in.
 */
function restarted(writes: readonly Write[], restoredUpTo: number): { log: ChangeLog; engine: Map<string, StoredItem>; peek: (k: string) => StoredItem | null } {
  const original = new ChangeLog();
  const engine = new Map<string, StoredItem>();
  // As the replicator makes them: a removal has flags 0 and no expiry.
  const records: LogRecord[] = writes.map(([k, v], i) => [UNIT, i + 1, Buffer.from(k), v === null ? null : Buffer.from(v), v === null ? 0 : 7, 0]);
  for (const r of records) original.append(r);
  for (const [k, v] of writes) {
    if (v === null) engine.delete(k);
    else engine.set(k, { value: Buffer.from(v), flags: 7, cas: 1, expAt: 0 });
  }
  const log = new ChangeLog();
  const history: Array<[number, string | null, Uint8Array | null]> = [[0, null, null]];
  for (let s = 1; s <= restoredUpTo; s++) history.push([s, original.printAt(UNIT, s), records[s - 1]![2]]);
  if (restoredUpTo > 0) assert.ok(log.restore(UNIT, history, restoredUpTo));
  for (let s = restoredUpTo + 1; s <= writes.length; s++) log.append(records[s - 1]!);
  return { log, engine, peek: (k) => engine.get(k) ?? null };
}

/** What a copy holding `base` up to `since` holds after applying `delta`. */
function apply(base: Map<string, string | null>, delta: readonly LogRecord[]): Map<string, string | null> {
  const out = new Map(base);
  for (const r of delta) out.set(Buffer.from(r[2]).toString(), r[3] === null ? null : Buffer.from(r[3]).toString());
  return out;
}

const stateAt = (writes: readonly Write[], n: number): Map<string, string | null> => new Map(writes.slice(0, n));

test('each key once, at its last record, restored ones filled from the engine, in seqno order', () => {
  const writes: Write[] = [['a', '1'], ['b', '1'], ['a', '2'], ['c', '1'], ['b', null], ['d', '1'], ['a', '3']];
  const { log, peek } = restarted(writes, 5);
  assert.is(log.since(UNIT, 1, 7), null, 'restored records are not sendable as they are');
  const delta = deltaSince(log, peek, UNIT, 1, 7)!;
  assert.ok(delta.isRestored);
  assert.equal(delta.records.map((r) => [r[1], Buffer.from(r[2]).toString(), r[3] === null ? null : Buffer.from(r[3]).toString()]), [
    [4, 'c', '1'], [5, 'b', null], [6, 'd', '1'], [7, 'a', '3'],
  ]);
  assert.equal(apply(stateAt(writes, 1), delta.records), stateAt(writes, 7));
  for (const r of delta.records) assert.is(log.printOf(r), log.printAt(UNIT, r[1]), `record ${r[1]} is the one the history kept`);
});

test('a log that needs no restored record answers exactly, as before', () => {
  const writes: Write[] = [['a', '1'], ['b', '1'], ['a', '2'], ['a', '3']];
  const { log, peek } = restarted(writes, 2);
  const delta = deltaSince(log, peek, UNIT, 2, 4)!;
  assert.not.ok(delta.isRestored);
  assert.equal(delta.records.map((r) => r[1]), [3, 4], 'every record, superseded or not');
});

test('a filled record that does not match its fingerprint refuses the delta (the unit is copied in full)', () => {
  const writes: Write[] = [['a', '1'], ['b', '1'], ['c', '1']];
  const { log, engine, peek } = restarted(writes, 3);
  engine.delete('b'); // expired since, say
  assert.is(deltaSince(log, peek, UNIT, 1, 3), null);
  engine.set('b', { value: Buffer.from('1'), flags: 8, cas: 1, expAt: 0 });
  assert.is(deltaSince(log, peek, UNIT, 1, 3), null, 'other flags');
  engine.set('b', { value: Buffer.from('1'), flags: 7, cas: 1, expAt: 0 });
  assert.ok(deltaSince(log, peek, UNIT, 1, 3) !== null);
});

test('no delta from before the restored history, past the current seqno, or for a seqno the log does not reach', () => {
  const writes: Write[] = [['a', '1'], ['b', '1'], ['c', '1']];
  const { log, peek } = restarted(writes, 3);
  assert.is(deltaSince(log, peek, UNIT, 2, 4), null, 'the caller knows of a record the log lacks');
  assert.is(deltaSince(log, peek, UNIT, 4, 3), null);
  assert.equal(deltaSince(log, peek, UNIT, 3, 3)!.records, []);
  assert.equal(condense(log, peek, []), []);
});

test('a condensed delta past the byte budget is refused: the engine is read only up to it', () => {
  const writes: Write[] = Array.from({ length: 50 }, (_, i): Write => [`k${i}`, 'v'.repeat(100)]);
  const { log } = restarted(writes, 50);
  let reads = 0;
  const { peek } = restarted(writes, 0);
  const counted = (k: string): StoredItem | null => {
    reads++;
    return peek(k);
  };
  assert.is(deltaSince(log, counted, UNIT, 0, 50, 1000), null);
  assert.ok(reads < 10, `${reads} reads`);
  assert.is(deltaSince(log, counted, UNIT, 0, 50, 100_000)!.records.length, 50);
});

test('the records visited are counted across a pull: offers that fail late cannot make it read without end', () => {
  const writes: Write[] = Array.from({ length: 100 }, (_, i): Write => [`k${i}`, 'v']);
  const { log, engine, peek } = restarted(writes, 100);
  engine.delete('k0'); // the oldest record no longer matches: every delta from before it fails at its end
  let reads = 0;
  const counted = (k: string): StoredItem | null => {
    reads++;
    return peek(k);
  };
  const visits: VisitBudget = { left: 250 };
  for (let i = 0; i < 10; i++) assert.is(deltaSince(log, counted, UNIT, 0, 100, Infinity, visits), null);
  assert.ok(reads <= 250, `${reads} reads`);
  assert.ok(visits.left < 0);
  // Once spent, even a delta that would succeed is refused (that unit is copied in full).
  assert.is(deltaSince(log, counted, UNIT, 50, 100, Infinity, visits), null);
  assert.ok(deltaSince(log, counted, UNIT, 50, 100, Infinity, { left: DELTA_VISITS_PER_PULL }) !== null);
});

test('property: any point of a restored history, any writes: the delta brings that point to the current state', () => {
  const write = fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.option(fc.constantFrom('1', '2', '3'), { nil: null }));
  fc.assert(fc.property(fc.array(write, { minLength: 1, maxLength: 40 }), fc.nat(), fc.nat(), (writes, r, p) => {
    const restoredUpTo = r % (writes.length + 1);
    const since = p % (writes.length + 1);
    const { log, peek } = restarted(writes, restoredUpTo);
    const delta = deltaSince(log, peek, UNIT, since, writes.length);
    assert.ok(delta !== null, `since ${since}`);
    assert.equal(apply(stateAt(writes, since), delta.records), stateAt(writes, writes.length));
    const seqs = delta.records.map((rec) => rec[1]);
    assert.equal(seqs, [...seqs].sort((x, y) => x - y));
    if (delta.isRestored) assert.is(new Set(delta.records.map((rec) => Buffer.from(rec[2]).toString())).size, delta.records.length, 'each key once when condensed');
  }), { numRuns: 300 });
});

test.run();
