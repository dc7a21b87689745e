import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { Backfiller } from '../../../cluster/node/replication/backfill.js';
import { ChangeLog } from '../../../cluster/node/replication/change-log.js';
import { newReplicationCounters } from '../../../cluster/node/replication/records.js';
import { noteStreamed } from '../../../cluster/node/replication/backfill-marks.js';
import { REPLICATION_DEFAULTS } from '../../../cluster/node/replication/options.js';
import { MemoryEngine } from '../../../cluster/node/engine/memory-engine.js';
import type { PeerPlane } from '../../../cluster/peer/index.js';
import { bucketOfBinary } from '../../../shared/keystream.js';
import { unitOf, type ClusterMap } from '../../../shared/cluster-map.js';
import { withDeadline } from '../../helpers/deadline.js';

const test = suite('cluster - a backfill that starts over');

const BITS = 4;

/** Nodes A (0), B (1, the copy under test) and C (2); unit 0 on A and B, unit 1 on `unitOneChain`. */
function mapOf(unitOneChain: number[]): ClusterMap {
  return {
    epoch: 3, rev: 3, bits: BITS, unitBits: 1,
    nodes: ['A', 'B', 'C'].map((peerKey, i) => ({ id: `n${i}`, address: `ws://127.0.0.1:${i + 1}`, peerKey, zone: 'z', weight: 1, state: 'active' as const })),
    chains: [[0, 1], unitOneChain], runStarts: [0, 2 ** (BITS - 1)], runChains: [0, 1], moves: [],
  };
}

function keyIn(map: ClusterMap, unit: number): string {
  for (let i = 0; ; i++) if (unitOf(map, bucketOfBinary(`k${i}`, BITS)) === unit) return `k${i}`;
}

/**
 * Copy unit 1 to B from A. The first attempt fails after the stream wrote `key` ('streamed');
 * the second gets a page where it is 'paged'. Returns what B holds at the end.
 */
async function copyAfterAFailedAttempt(map: ClusterMap, key: string, isGap = false): Promise<string | null> {
  const engine = new MemoryEngine({ memorySizeMb: 8 });
  let backfiller: Backfiller | null = null;
  let pulls = 0;
  const plane = {
    request: async (peer: string): Promise<unknown> => {
      assert.is(peer, 'A');
      if (++pulls === 1) {
        // What the replicator does with a stream record that comes during a copy.
        engine.set(key, Buffer.from('streamed'), 0, 0);
        const fill = backfiller!.active.get(1)!;
        noteStreamed(fill, key, [1, 5, Buffer.from(key, 'latin1'), Buffer.from('streamed'), 0, 0]);
        // The stream then skips seqnos 6 to 8: this node was out of the chain meanwhile.
        // The attempt's answer comes, but the marks no longer tell what is newer than it.
        if (isGap) {
          noteStreamed(fill, 'other', [1, 9, Buffer.from('other'), Buffer.from('x'), 0, 0]);
          assert.ok(fill.isTorn);
          return { items: [[Buffer.from(key, 'latin1'), Buffer.from('stale page'), 0, 0]], next: null, seqs: [[1, 4, '']] };
        }
        throw new Error('the link went down');
      }
      return { items: [[Buffer.from(key, 'latin1'), Buffer.from('paged'), 0, 0]], next: null, seqs: [[1, 9, '']] };
    },
  } as unknown as PeerPlane;
  backfiller = new Backfiller({
    map, self: 1, isClosed: false, seqs: new Map(), changes: new ChangeLog(), counters: newReplicationCounters(),
    apply: (k, value, flags, expAt) => { if (value === null) engine.delete(k); else engine.set(k, value, flags, expAt); },
    onBackfillEnded: () => undefined,
  }, engine, plane, { ...REPLICATION_DEFAULTS, backfillRetryBackoffMs: [1], backfillPace: 0 });
  await withDeadline(backfiller.start('A', [1]), 5000, 'the copy');
  assert.is(pulls, 2);
  const item = engine.peek(key);
  return item === null ? null : Buffer.from(item.value).toString();
}

// The stream and the snapshot come from the same node over one ordered link: whatever
// the stream wrote before an attempt is older than that attempt's snapshot. Keys it wrote
// during a failed attempt (a partition cut the copy off) must take the snapshot's values.
test('a retried copy from the unit\'s active takes the snapshot over what the stream wrote before it', async () => {
  const map = mapOf([0, 1]);
  assert.is(await copyAfterAFailedAttempt(map, keyIn(map, 1)), 'paged');
});

// Copying from a node that is no longer the unit's active (C is): what C streamed is newer
// than A's snapshot, whatever the attempt.
test('a retried copy from a node that is not the unit\'s active keeps what the active streamed', async () => {
  const map = mapOf([2, 1, 0]);
  assert.is(await copyAfterAFailedAttempt(map, keyIn(map, 1)), 'streamed');
});

// The answer of an attempt during which the stream skipped records is dropped: the copy
// starts over, and takes the new snapshot's value.
test('an attempt whose stream skipped records is dropped and started over', async () => {
  const map = mapOf([0, 1]);
  assert.is(await copyAfterAFailedAttempt(map, keyIn(map, 1), true), 'paged');
});

// A unit copied in full is cleared first; if that copy is then cut off, the node's old
// history of the unit must not survive the data it described. Offered on the next attempt
// (the stream's seqno landing inside it), it would get a delta from a shared point, and
// the keys the clearing removed would stay missing.
test('a unit cleared for a full copy loses its old history with its data', async () => {
  const map = mapOf([0, 1]);
  const key = keyIn(map, 1);
  const engine = new MemoryEngine({ memorySizeMb: 8 });
  const seqs = new Map<number, number>();
  const changes = new ChangeLog();
  // This node's own history of unit 1, seqnos 1 to 10, none of which the source has.
  for (let s = 1; s <= 10; s++) changes.append([1, s, Buffer.from(key, 'latin1'), Buffer.from(`mine ${s}`), 0, 0]);
  seqs.set(1, 10);
  engine.set(key, Buffer.from('mine 10'), 0, 0);
  const pulls: Array<{ since?: unknown }> = [];
  const plane = {
    request: async (_peer: string, message: { since?: unknown }): Promise<unknown> => {
      pulls.push(message);
      if (pulls.length === 1) return { items: [], next: Buffer.from('cursor'), seqs: [[1, 40, 'ff']] };
      if (pulls.length === 2) {
        // The stream meanwhile: a record whose seqno falls inside the old history.
        seqs.set(1, 5);
        throw new Error('the link went down');
      }
      return { items: [[Buffer.from(key, 'latin1'), Buffer.from('theirs'), 0, 0]], next: null, seqs: [[1, 41, 'fe']] };
    },
  } as unknown as PeerPlane;
  const backfiller = new Backfiller({
    map, self: 1, isClosed: false, seqs, changes, counters: newReplicationCounters(),
    apply: (k, value, flags, expAt) => { if (value === null) engine.delete(k); else engine.set(k, value, flags, expAt); },
    onBackfillEnded: () => undefined,
  }, engine, plane, { ...REPLICATION_DEFAULTS, backfillRetryBackoffMs: [1], backfillPace: 0 });
  await withDeadline(backfiller.start('A', [1]), 5000, 'the copy');
  assert.ok(Array.isArray(pulls[0]!.since), 'the first attempt offers the old history');
  assert.is(pulls[2]!.since, undefined, 'the retry offers nothing: the history went with the data');
  assert.is(Buffer.from(engine.peek(key)!.value).toString(), 'theirs');
});

test.run();
