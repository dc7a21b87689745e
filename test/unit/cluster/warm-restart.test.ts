import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Encoder } from 'cbor-x';
import { MemoryEngine } from '../../../cluster/node/engine/memory-engine.js';
import { SNAPSHOT_FILE, SnapshotError, loadSnapshot, parseSnapshot, saveSnapshot, type UnitMark } from '../../../cluster/node/warm-restart.js';

const test = suite('cluster - warm restart snapshot');

const encoder = new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: false });
const text = (v: Uint8Array | undefined): string | undefined => (v === undefined ? undefined : Buffer.from(v).toString());

function withDir<T>(body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-snap-'));
  try {
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function frame(value: unknown): Buffer {
  const body = encoder.encode(value);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

const MAGIC = Buffer.from('PKVSNAP1', 'latin1');
const header = (nodeId = 'n1', units: unknown = [[3, 7, 'abcd']]): Buffer => frame({ v: 1, nodeId, savedAt: 1, units });
const row = (k: string, v: string): unknown[] => [Buffer.from(k), Buffer.from(v), 0, 0];

test('round trip: items (binary keys, flags, expiry) and unit marks come back; the file is read once', () => withDir((dir) => {
  const a = new MemoryEngine({ memorySizeMb: 16 });
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 10_000; i++) a.set(`k${i}`, Buffer.from(`v${i}`), i % 7, 0);
  a.set('with-ttl', Buffer.from('t'), 42, now + 3600);
  a.set(Buffer.from([0xff, 0x00, 0x80]).toString('latin1'), Buffer.alloc(0), 0, 0);
  a.set('gone', Buffer.from('x'), 0, 0);
  a.delete('gone');
  const marks: UnitMark[] = [[0, 12, 'f00d'], [5, 1, null]];
  const saved = saveSnapshot(dir, 'node-a', a, marks);
  assert.is(saved.items, 10_002);
  assert.ok(existsSync(join(dir, SNAPSHOT_FILE)));
  assert.not.ok(existsSync(join(dir, `${SNAPSHOT_FILE}.tmp`)));

  const b = new MemoryEngine({ memorySizeMb: 16 });
  const loaded = loadSnapshot(dir, 'node-a', b)!;
  assert.is(loaded.items, 10_002);
  assert.equal(loaded.marks, marks);
  assert.not.ok(existsSync(join(dir, SNAPSHOT_FILE)), 'read once');
  for (const i of [0, 1, 4999, 9999]) {
    const it = b.get(`k${i}`)!;
    assert.is(text(it.value), `v${i}`);
    assert.is(it.flags, i % 7);
  }
  assert.is(b.peek('with-ttl')!.expAt, now + 3600);
  assert.is(b.get(Buffer.from([0xff, 0x00, 0x80]).toString('latin1'))!.value.length, 0);
  assert.is(b.get('gone'), null);
  assert.is(loadSnapshot(dir, 'node-a', b), null, 'nothing left to load');
}));

test('a snapshot written by another node is refused, removed, and nothing is loaded', () => withDir((dir) => {
  const a = new MemoryEngine({ memorySizeMb: 8 });
  a.set('k', Buffer.from('v'), 0, 0);
  saveSnapshot(dir, 'node-a', a, []);
  const b = new MemoryEngine({ memorySizeMb: 8 });
  assert.throws(() => loadSnapshot(dir, 'node-b', b), (e: Error) => e instanceof SnapshotError && /not this one/.test(e.message));
  assert.is(b.get('k'), null);
  assert.not.ok(existsSync(join(dir, SNAPSHOT_FILE)));
}));

const hostile: Array<[string, () => Buffer, RegExp]> = [
  ['an empty file', () => Buffer.alloc(0), /bad magic/],
  ['another magic', () => Buffer.concat([Buffer.from('PKVSNAP2'), header()]), /bad magic/],
  ['no trailer', () => Buffer.concat([MAGIC, header(), frame([row('a', '1')])]), /cut short/],
  ['a frame cut short', () => { const f = frame([row('a', '1')]); return Buffer.concat([MAGIC, header(), f.subarray(0, f.length - 2)]); }, /cut short inside a frame/],
  ['a zero length', () => Buffer.concat([MAGIC, header(), Buffer.alloc(4)]), /bad frame length 0/],
  ['an oversized length', () => Buffer.concat([MAGIC, header(), Buffer.from([0xff, 0xff, 0xff, 0xff])]), /bad frame length/],
  ['garbage CBOR', () => Buffer.concat([MAGIC, header(), Buffer.from([0, 0, 0, 3, 0xff, 0xfe, 0xfd])]), /malformed CBOR|bad/],
  ['a header of another version', () => Buffer.concat([MAGIC, frame({ v: 2, nodeId: 'n1', units: [] }), frame({ end: true, items: 0 })]), /version/],
  ['a bad unit mark', () => Buffer.concat([MAGIC, header('n1', [[1, -1, null]]), frame({ end: true, items: 0 })]), /unit mark/],
  ['units that are not a list', () => Buffer.concat([MAGIC, header('n1', 'all'), frame({ end: true, items: 0 })]), /without units/],
  ['an item row of the wrong shape', () => Buffer.concat([MAGIC, header(), frame([[Buffer.from('k'), 'v', 0, 0]]), frame({ end: true, items: 1 })]), /item row/],
  ['an empty key', () => Buffer.concat([MAGIC, header(), frame([[Buffer.alloc(0), Buffer.from('v'), 0, 0]]), frame({ end: true, items: 1 })]), /item row/],
  ['a trailer with the wrong count', () => Buffer.concat([MAGIC, header(), frame([row('a', '1')]), frame({ end: true, items: 2 })]), /trailer/],
  ['bytes after the trailer', () => Buffer.concat([MAGIC, header(), frame({ end: true, items: 0 }), Buffer.from([1])]), /after the trailer/],
];

for (const [what, bytes, reason] of hostile) {
  test(`${what}: refused with a reason, nothing loaded, file removed`, () => withDir((dir) => {
    writeFileSync(join(dir, SNAPSHOT_FILE), bytes());
    const engine = new MemoryEngine({ memorySizeMb: 8 });
    let err: unknown = null;
    try {
      loadSnapshot(dir, 'n1', engine);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof SnapshotError, `${what}: ${String(err)}`);
    assert.match((err as Error).message, reason);
    assert.is(engine.stats().items, 0, 'nothing put into the engine');
    assert.not.ok(existsSync(join(dir, SNAPSHOT_FILE)));
  }));
}

test('a well-formed file parses; every one-byte truncation of it is refused', () => {
  const good = Buffer.concat([MAGIC, header(), frame([row('a', '1'), row('b', '2')]), frame({ end: true, items: 2 })]);
  assert.is(parseSnapshot(good, 'n1').items, 2);
  for (let cut = 0; cut < good.length; cut++) {
    assert.throws(() => parseSnapshot(good.subarray(0, cut), 'n1'), (e: Error) => e instanceof SnapshotError, `cut at ${cut}`);
  }
});

test('saving over an old snapshot replaces it whole', () => withDir((dir) => {
  const a = new MemoryEngine({ memorySizeMb: 8 });
  a.set('old', Buffer.from('1'), 0, 0);
  saveSnapshot(dir, 'n', a, []);
  a.delete('old');
  a.set('new', Buffer.from('2'), 0, 0);
  saveSnapshot(dir, 'n', a, []);
  const parsed = parseSnapshot(readFileSync(join(dir, SNAPSHOT_FILE)), 'n');
  assert.equal(parsed.pages.flat().map((r) => Buffer.from(r[0]).toString()), ['new']);
}));

test.run();
