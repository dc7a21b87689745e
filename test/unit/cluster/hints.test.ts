import { mkdtemp, rm, readFile, stat, appendFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { HintStore } from '../../../cluster/node/replication/hint-store.js';
import { HINT_LOG_FILE, encodeHintFrame, parseHintLog, type HintRecord } from '../../../cluster/node/replication/hint-log.js';

const test = suite('cluster - hint log');

const PEER = 'ab'.repeat(32);

function rec(seq: number, value = `v${seq}`): HintRecord {
  return [7, seq, Buffer.from(`k${seq}`), Buffer.from(value), 0, 0];
}

async function withDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-hints-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const seqs = (s: HintStore): number[] => [...s.all()].map((h) => h.record[1]);

test('hints survive a reopen, with every field', () => withDir(async (dir) => {
  const a = await HintStore.open(dir);
  assert.ok(a.isDurable);
  const taken = await a.add([1, 2, 3].map((seq) => ({ intended: PEER, epoch: 4, record: rec(seq) })));
  assert.equal(taken, [true, true, true]);
  await a.add([{ intended: PEER, epoch: 5, record: [7, 4, Buffer.from('gone'), null, 0, 0] }]);
  await a.close();
  const b = await HintStore.open(dir);
  assert.equal(seqs(b), [1, 2, 3, 4]);
  const first = [...b.all()][0]!;
  assert.is(first.intended, PEER);
  assert.is(first.epoch, 4);
  assert.is(Buffer.from(first.record[3]!).toString(), 'v1');
  assert.is([...b.all()][3]!.record[3], null, 'a removal is kept as such');
  assert.is(b.loadReport.droppedTailBytes, 0);
  await b.close();
}));

test('a truncated tail is cut off on load; later appends follow the good prefix', () => withDir(async (dir) => {
  const a = await HintStore.open(dir);
  await a.add([1, 2].map((seq) => ({ intended: PEER, epoch: 1, record: rec(seq) })));
  await a.close();
  const path = join(dir, HINT_LOG_FILE);
  const good = (await stat(path)).size;
  const partial = encodeHintFrame([PEER, 1, Date.now(), 7, 3, Buffer.from('k3'), Buffer.from('v3'), 0, 0]);
  await appendFile(path, partial.subarray(0, partial.length - 3)); // a crash mid-append
  const b = await HintStore.open(dir);
  assert.equal(seqs(b), [1, 2]);
  assert.is(b.loadReport.droppedTailBytes, partial.length - 3);
  assert.is((await stat(path)).size, good, 'the bad tail is gone from the file');
  await b.add([{ intended: PEER, epoch: 1, record: rec(5) }]);
  await b.close();
  const c = await HintStore.open(dir);
  assert.equal(seqs(c), [1, 2, 5]);
  await c.close();
}));

test('a corrupt frame ends the log: it and everything after it are dropped', () => withDir(async (dir) => {
  const a = await HintStore.open(dir);
  await a.add([1, 2, 3].map((seq) => ({ intended: PEER, epoch: 1, record: rec(seq) })));
  await a.close();
  const path = join(dir, HINT_LOG_FILE);
  const data = await readFile(path);
  const frame = data.readUInt32BE(0) + 8;
  data[frame + 8 + 2] ^= 0xff; // a flipped byte inside the second frame's body
  await writeFile(path, data);
  const b = await HintStore.open(dir);
  assert.equal(seqs(b), [1]);
  assert.is(b.loadReport.droppedTailBytes, data.length - frame);
  await b.close();
  // Garbage lengths are refused too (no huge allocation, no crash).
  const junk = Buffer.alloc(16, 0xff);
  assert.equal(parseHintLog(junk, 1 << 20), { entries: [], goodBytes: 0 });
}));

test('oversized hints and hints over the byte bound are refused', () => withDir(async (dir) => {
  const s = await HintStore.open(dir, { maxHintBytes: 1024, maxBytes: 4096 });
  const big: HintRecord = [1, 1, Buffer.from('k'), Buffer.alloc(2000), 0, 0];
  assert.equal(await s.add([{ intended: PEER, epoch: 1, record: big }]), [false]);
  const mid = (seq: number): HintRecord => [1, seq, Buffer.from('k'), Buffer.alloc(900), 0, 0];
  const taken = await s.add([1, 2, 3, 4, 5].map((seq) => ({ intended: PEER, epoch: 1, record: mid(seq) })));
  assert.equal(taken, [true, true, true, true, false]);
  assert.ok(s.bytes <= 4096);
  s.remove([...s.all()].slice(0, 1));
  assert.equal(await s.add([{ intended: PEER, epoch: 1, record: mid(6) }]), [true], 'room again after a removal');
  await s.close();
}));

test('hints expire after the TTL, in memory and on load', () => withDir(async (dir) => {
  let now = 1_700_000_000_000;
  const s = await HintStore.open(dir, { ttlMs: 1000, nowMs: () => now });
  await s.add([{ intended: PEER, epoch: 1, record: rec(1) }]);
  now += 600;
  await s.add([{ intended: PEER, epoch: 1, record: rec(2) }]);
  now += 500;
  assert.is(s.expire(), 1);
  assert.equal(seqs(s), [2]);
  await s.close();
  now += 200;
  const b = await HintStore.open(dir, { ttlMs: 1000, nowMs: () => now });
  assert.equal(seqs(b), [2]);
  await b.close();
  now += 1000;
  const c = await HintStore.open(dir, { ttlMs: 1000, nowMs: () => now });
  assert.is(c.count, 0);
  assert.is(c.loadReport.expired, 1);
  await c.close();
}));

test('removing hints compacts the log; removing them all truncates it', () => withDir(async (dir) => {
  const s = await HintStore.open(dir, { compactAfterBytes: 100 });
  await s.add(Array.from({ length: 50 }, (_, i) => ({ intended: PEER, epoch: 1, record: rec(i + 1) })));
  const path = join(dir, HINT_LOG_FILE);
  const full = (await stat(path)).size;
  s.remove([...s.all()].slice(0, 40));
  await new Promise<void>((resolve) => setImmediate(resolve));
  await s.settled();
  const size = (await stat(path)).size;
  assert.ok(size < full / 3, `compacted: ${size} of ${full}`);
  s.remove([...s.all()]);
  await new Promise<void>((resolve) => setImmediate(resolve));
  await s.settled();
  assert.is((await stat(path)).size, 0);
  await s.close();
  const b = await HintStore.open(dir);
  assert.is(b.count, 0);
  await b.close();
}));

test('a store without a data dir keeps hints in memory', async () => {
  const s = await HintStore.open(null);
  assert.not.ok(s.isDurable);
  assert.equal(await s.add([{ intended: PEER, epoch: 1, record: rec(1) }]), [true]);
  assert.is(s.count, 1);
  await s.close();
});

test.run();
