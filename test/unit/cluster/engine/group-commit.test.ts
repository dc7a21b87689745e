import { Buffer } from 'node:buffer';
import * as assert from 'uvu/assert';
import { suite } from '../../../helpers/suite.js';
import { rejection, until, withDeadline } from '../../../helpers/deadline.js';
import { ErrorCode } from '../../../../shared/errors.js';
import { makeEntry } from '../../../../cluster/node/engine/disk-record.js';
import type { CommitBatch, CommitFailure } from '../../../../cluster/node/engine/disk-store.js';
import { GroupCommit, type CommitTarget, type GroupCommitOptions } from '../../../../cluster/node/engine/group-commit.js';
import type { DiskEntry } from '../../../../cluster/node/engine/read-cache.js';
import { UnitMarkLog } from '../../../../cluster/node/engine/unit-mark-log.js';

const test = suite('cluster - group commit');

const WAIT_MS = 10_000;

const OPTIONS: GroupCommitOptions = Object.freeze({
  commitIntervalMs: 0,
  commitRetryMs: 1,
  inlineCommitMaxMs: 0,
  inlineCommitMaxWrites: 1024,
  maxDiskBytes: 0,
  maxPendingBytes: 1024 * 1024,
});

function entry(s: string, cas = 1): DiskEntry {
  return makeEntry(Buffer.from(s, 'latin1'), 0, 0, cas);
}

function text(e: DiskEntry | null | undefined): string {
  if (e === undefined) return '<absent>';
  return e === null ? '<deleted>' : Buffer.from(e.value).toString('latin1');
}

/** A store whose commits the test holds open and ends, one at a time. */
class FakeStore implements CommitTarget {
  readonly batches: CommitBatch[] = [];
  inlineCommits = 0;
  isHeld = false;
  failure: CommitFailure = 'io';
  private held: { resolve: () => void; reject: (err: Error) => void } | null = null;

  commit(batch: CommitBatch): Promise<void> {
    this.batches.push({ ...batch, items: new Map(batch.items) });
    if (!this.isHeld) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.held = { resolve, reject };
    });
  }

  commitInline(batch: CommitBatch): void {
    this.inlineCommits++;
    this.batches.push({ ...batch, items: new Map(batch.items) });
  }

  fileBytes(): number {
    return 0;
  }

  /** What `hasRoomFor` answers: the filesystem's free space, bytes. */
  freeBytes = Number.POSITIVE_INFINITY;
  roomAsked = 0;

  hasRoomFor(batchBytes: number): boolean {
    this.roomAsked++;
    return this.freeBytes >= batchBytes * 2 + 1024 * 1024;
  }

  classifyFailure(): CommitFailure {
    return this.failure;
  }

  get isCommitOpen(): boolean {
    return this.held !== null;
  }

  end(err: Error | null): void {
    const held = this.held;
    this.held = null;
    if (held === null) throw new Error('no commit is open');
    if (err === null) held.resolve();
    else held.reject(err);
  }
}

async function withGroup(
  fn: (group: GroupCommit, store: FakeStore, durable: Array<Map<string, DiskEntry | null>>) => Promise<void>,
  options: Partial<GroupCommitOptions> = {},
): Promise<void> {
  const store = new FakeStore();
  const durable: Array<Map<string, DiskEntry | null>> = [];
  const group = new GroupCommit(store, new UnitMarkLog([]), { ...OPTIONS, ...options }, {
    lastCas: () => 7,
    onBatchDurable: (items) => durable.push(new Map(items)),
  });
  try {
    await fn(group, store, durable);
  } finally {
    store.isHeld = false;
    if (store.isCommitOpen) store.end(null);
    await group.close();
  }
}

test('a key is found in pending, then in the batch in flight, and is absent from the overlay once on disk', async () => {
  await withGroup(async (group, store, durable) => {
    store.isHeld = true;
    group.put('a', entry('A'));
    group.put('b', null);
    assert.is(text(group.lookup('a')), 'A');
    assert.is(text(group.lookup('b')), '<deleted>');
    assert.is(text(group.lookup('c')), '<absent>');
    await until(() => store.isCommitOpen, WAIT_MS, 'commit started');
    assert.is(text(group.lookup('a')), 'A', 'read from the batch in flight');
    assert.is(text(group.lookup('b')), '<deleted>');
    assert.is(group.isPending('a'), false);
    assert.is(store.batches[0]?.lastCas, 7);
    group.put('a', entry('A2'));
    assert.is(group.layers().layers.length, 2);
    store.isHeld = false;
    store.end(null);
    await until(() => durable.length === 1, WAIT_MS, 'batch durable');
    assert.equal([...durable[0]!.keys()], ['a', 'b']);
    assert.is(text(group.lookup('a')), 'A2', 'the newer write stays in the overlay');
    assert.is(group.isPending('a'), true);
    assert.is(text(group.lookup('b')), '<absent>');
    await group.whenDurable();
    assert.is(text(group.lookup('a')), '<absent>');
    assert.is(group.stats().commits, 2);
  });
});

test('flush_all hides the batch in flight and the store until the commit that clears them', async () => {
  await withGroup(async (group, store) => {
    store.isHeld = true;
    group.put('a', entry('A'));
    await until(() => store.isCommitOpen, WAIT_MS, 'commit started');
    assert.is(group.layers().isStoreHidden, false);
    group.clear();
    assert.is(text(group.lookup('a')), '<deleted>');
    assert.is(group.layers().layers.length, 1, 'the batch in flight is not read');
    assert.is(group.layers().isStoreHidden, true);
    group.put('b', entry('B'));
    store.end(null);
    await until(() => store.isCommitOpen, WAIT_MS, 'clearing commit started');
    assert.is(store.batches[1]?.isClear, true);
    assert.is(text(group.lookup('a')), '<deleted>', 'hidden while the clear is in flight');
    assert.is(text(group.lookup('b')), 'B');
    assert.is(group.layers().isStoreHidden, true);
    store.end(null);
    await group.whenDurable();
    assert.is(group.layers().isStoreHidden, false);
    assert.is(text(group.lookup('a')), '<absent>');
  });
});

test('a failed commit rejects its waiters, goes back under newer writes, refuses writes, and is retried', async () => {
  await withGroup(async (group, store, durable) => {
    store.isHeld = true;
    store.failure = 'no-space';
    group.put('a', entry('A'), true);
    group.put('b', entry('B'), true);
    group.put('c', entry('C'));
    const waiting = group.whenDurable();
    await until(() => store.isCommitOpen, WAIT_MS, 'commit started');
    group.put('a', entry('A2'));
    store.end(new Error('MDB_MAP_FULL'));
    const err = await rejection(waiting);
    assert.is(err.code, ErrorCode.NO_SPACE);
    assert.is(group.refusal(), 'no-space');
    assert.is(group.stats().isNoSpace, true);
    assert.is(group.stats().commitFailures, 1);
    assert.is(text(group.lookup('a')), 'A2', 'the newer write wins over the failed batch');
    assert.is(text(group.lookup('b')), 'B', 'the failed batch is pending again');
    assert.is((await rejection(group.whenDurable())).code, ErrorCode.NO_SPACE, 'no waiting while refused');
    await until(() => store.isCommitOpen, WAIT_MS, 'commit retried');
    assert.is(group.refusal(), 'no-space', 'refused until a commit succeeds');
    store.end(null);
    await until(() => group.refusal() === null, WAIT_MS, 'retry succeeded');
    assert.equal([...store.batches[1]!.items.keys()].sort(), ['a', 'b', 'c']);
    assert.is(text(store.batches[1]!.items.get('a')), 'A2');
    // Still new to the store, though 'a' was written over since: the retry indexes both.
    assert.equal([...store.batches[0]!.created].sort(), ['a', 'b']);
    assert.equal([...store.batches[1]!.created].sort(), ['a', 'b']);
    assert.is(durable.length, 1);
    assert.is(group.stats().isNoSpace, false);
    await group.whenDurable();
  });
});

test('a filesystem without room for a batch: no commit starts, writes are refused as no space, and resume once room returns', async () => {
  await withGroup(async (group, store, durable) => {
    store.freeBytes = 1024 * 1024;
    group.put('a', entry('A'), true);
    const err = await rejection(group.whenDurable());
    assert.is(err.code, ErrorCode.NO_SPACE);
    assert.is(store.batches.length, 0, 'the store was never asked to write');
    assert.is(group.refusal(), 'no-space');
    assert.is(text(group.lookup('a')), 'A', 'still pending, still read');
    const asked = store.roomAsked;
    await until(() => store.roomAsked > asked, WAIT_MS, 'space asked again');
    assert.is(store.batches.length, 0);
    store.freeBytes = 64 * 1024 * 1024;
    await until(() => group.refusal() === null, WAIT_MS, 'commit once room returned');
    assert.equal([...store.batches[0]!.items.keys()], ['a']);
    assert.is(durable.length, 1);
    await group.whenDurable();
  }, { commitRetryMs: 5 });
  await withGroup(async (group, store) => {
    // A batch of deletes alone frees space: it is never held back for want of it.
    store.freeBytes = 0;
    group.put('a', null);
    await group.whenDurable();
    assert.is(store.batches.length, 1);
  });
});

test('a commit failing for another cause refuses writes as an internal error; too many pending bytes as busy', async () => {
  await withGroup(async (group, store) => {
    store.isHeld = true;
    group.put('a', entry('A'));
    const waiting = group.whenDurable();
    await until(() => store.isCommitOpen, WAIT_MS, 'commit started');
    store.end(new Error('EIO'));
    assert.is((await rejection(waiting)).code, ErrorCode.INTERNAL);
    assert.is(group.refusal(), 'io');
  });
  await withGroup(async (group) => {
    group.put('big', entry('x'.repeat(200)));
    assert.is(group.refusal(), 'busy');
    await group.whenDurable();
    assert.is(group.refusal(), null);
  }, { maxPendingBytes: 100 });
});

test('an inline commit ends inside the turn that starts it and leaves no commit marked as running', async () => {
  await withGroup(async (group, store, durable) => {
    for (let i = 0; i < 3; i++) {
      group.put(`k${i}`, entry(String(i)));
      await withDeadline(group.whenDurable(), WAIT_MS, `inline commit ${i}`);
    }
    assert.is(store.inlineCommits, 3);
    assert.is(group.stats().inlineCommits, 3);
    assert.is(durable.length, 3);
    // Nobody waits: the commit goes to the writer thread.
    group.put('later', entry('L'));
    await until(() => store.batches.length === 4, WAIT_MS, 'background commit');
    assert.is(store.inlineCommits, 3);
  }, { inlineCommitMaxMs: 60_000 });
});

test('a waiter that is not urgent waits for the scheduled commit, which runs on the writer thread', async () => {
  await withGroup(async (group, store) => {
    group.put('a', entry('A'));
    let isDone = false;
    const lazy = group.whenDurable(false).then(() => { isDone = true; });
    // Commits come every second here: an urgent waiter would have one within a turn.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    assert.is(store.batches.length, 0, 'no commit started for a waiter that is not urgent');
    assert.not.ok(isDone);
    await withDeadline(lazy, WAIT_MS, 'the scheduled commit');
    assert.is(store.batches.length, 1);
    assert.is(store.inlineCommits, 0, 'nobody waits now: not inline');
    // An urgent waiter after a lazy one: the commit starts now, inline, and serves both.
    group.put('b', entry('B'));
    const second = group.whenDurable(false);
    group.put('c', entry('C'));
    await withDeadline(Promise.all([second, group.whenDurable()]), WAIT_MS, 'the urgent commit');
    assert.is(store.inlineCommits, 1);
    assert.equal([...store.batches[1]!.items.keys()], ['b', 'c']);
  }, { commitIntervalMs: 1000, inlineCommitMaxMs: 60_000 });
});

test('a CAS move alone while a commit runs gets a commit of its own: its waiter does not hang', async () => {
  await withGroup(async (group, store) => {
    store.isHeld = true;
    group.put('a', entry('A'));
    const first = group.whenDurable();
    await until(() => store.isCommitOpen, WAIT_MS, 'the first commit open');
    group.touch();
    const second = group.whenDurable();
    store.isHeld = false;
    store.end(null);
    await withDeadline(first, WAIT_MS, 'the first commit');
    await withDeadline(second, WAIT_MS, 'a second commit for the CAS move');
    assert.is(store.batches.length, 2);
    assert.is(store.batches[1]!.items.size, 0, 'nothing but the CAS counter and marks');
  }, { commitIntervalMs: 60_000 });
});

test('close commits what is pending, once', async () => {
  const store = new FakeStore();
  const group = new GroupCommit(store, new UnitMarkLog([]), { ...OPTIONS, commitIntervalMs: 60_000 }, {
    lastCas: () => 9,
    onBatchDurable: () => undefined,
  });
  group.put('a', entry('A'));
  await group.close();
  assert.is(store.batches.length, 1);
  assert.is(text(store.batches[0]!.items.get('a')), 'A');
  await group.close();
  assert.is(store.batches.length, 1, 'close is idempotent');
});

test.run();
