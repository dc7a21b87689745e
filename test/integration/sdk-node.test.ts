import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { connect, jsonCodec, utf8Codec, type PandaClient } from '../../sdk/index.js';
import { withNode, withNodes } from '../helpers/fixtures.js';
import { rejection } from '../helpers/deadline.js';

const test = suite('integration - sdk against a real node');

async function withClient<T>(args: string[], body: (db: PandaClient) => Promise<T>): Promise<T> {
  return withNode(args, async (node) => {
    const db = await connect({ nodes: [node.address] });
    try {
      return await body(db);
    } finally {
      await db.close();
    }
  });
}

const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString('utf8'));

test('set then get returns the stored bytes, and a missing key is null', () => withClient([], async (db) => {
  const cas = await db.set('user:42', 'hello');
  assert.ok(typeof cas === 'bigint');
  assert.is(text(await db.get('user:42')), 'hello');
  assert.is(await db.get('missing'), null);
  const bin = new Uint8Array([0, 1, 2, 255]);
  await db.set(new Uint8Array([0xff, 0x00]), bin);
  assert.equal([...(await db.get(new Uint8Array([0xff, 0x00])))!], [...bin]);
}));

test('add, replace, append and prepend follow memcached rules', () => withClient([], async (db) => {
  assert.is(await db.add('k', 'a'), true);
  assert.is(await db.add('k', 'b'), false);
  assert.is(await db.replace('nope', 'x'), false);
  assert.is(await db.replace('k', 'b'), true);
  assert.is(await db.append('k', 'c'), true);
  assert.is(await db.prepend('k', 'a'), true);
  assert.is(text(await db.get('k')), 'abc');
  assert.is(await db.append('nope', 'x'), false);
}));

test('cas writes succeed only with the current cas', () => withClient([], async (db) => {
  await db.set('c', 'v1', { flags: 7 });
  const item = await db.getItem('c');
  assert.is(item!.flags, 7);
  const next = await db.set('c', 'v2', { cas: item!.cas });
  assert.ok(next !== item!.cas);
  const err = await rejection(db.set('c', 'v3', { cas: item!.cas }));
  assert.is(err.code, 'KV_ERR_EXISTS');
  const missing = await rejection(db.set('never', 'v', { cas: 12345n }));
  assert.is(missing.code, 'KV_ERR_NOT_FOUND');
  assert.is(text(await db.get('c')), 'v2');
}));

test('delete reports whether the key existed', () => withClient([], async (db) => {
  await db.set('d', 'x');
  assert.is(await db.delete('d'), true);
  assert.is(await db.delete('d'), false);
  assert.is(await db.get('d'), null);
}));

test('incr and decr are unsigned 64-bit counters', () => withClient([], async (db) => {
  assert.is((await rejection(db.incr('n'))).code, 'KV_ERR_NOT_FOUND');
  assert.is(await db.incr('n', 5n, { initial: 10n }), 10n);
  assert.is(await db.incr('n', 5n), 15n);
  assert.is(await db.decr('n', 100n), 0n);
  await db.set('big', '18446744073709551615');
  assert.is(await db.incr('big', 2n), 1n);
  await db.set('word', 'abc');
  assert.is((await rejection(db.incr('word'))).code, 'KV_ERR_BAD_REQUEST');
}));

test('touch and get-and-touch set a new time to live', () => withClient([], async (db) => {
  await db.set('t', 'x');
  assert.is(await db.touch('t', 100), true);
  assert.is(await db.touch('missing', 100), false);
  assert.is(text(await db.getAndTouch('t', -1)), 'x');
  assert.is(await db.get('t'), null, 'a negative ttl expires the item at once');
  await db.set('gone', 'x', { ttl: -1 });
  assert.is(await db.get('gone'), null);
}));

test('getMany returns values in the order asked, null where missing', () => withClient([], async (db) => {
  await Promise.all(['a', 'b', 'c'].map((k) => db.set(k, k.toUpperCase())));
  const got = await db.getMany(['c', 'x', 'a']);
  assert.equal(got.map(text), ['C', null, 'A']);
}));

test('scan yields keys in byte order within [start, end) and honours the limit', () => withClient([], async (db) => {
  const keys = Array.from({ length: 600 }, (_, i) => `s:${String(i).padStart(4, '0')}`);
  await Promise.all(keys.map((k) => db.set(k, k)));
  await db.set('t:after', 'x');
  const seen: string[] = [];
  for await (const e of db.scan({ start: 's:', end: 's;', pageSize: 64 })) seen.push(e.key);
  assert.equal(seen, keys);
  const limited: string[] = [];
  for await (const e of db.scan({ start: 's:0100', limit: 5 })) limited.push(e.key);
  assert.equal(limited, keys.slice(100, 105));
}));

test('a value over the limit fails with TOO_LARGE and stores nothing', () => withClient(['--max-value-bytes', '1024'], async (db) => {
  const err = await rejection(db.set('big', new Uint8Array(2000)));
  assert.is(err.code, 'KV_ERR_TOO_LARGE');
  assert.is(await db.get('big'), null);
  await db.set('ok', new Uint8Array(1024));
  assert.is((await db.get('ok'))!.length, 1024);
}));

test('keys that are empty or over 250 bytes are refused before sending', () => withClient([], async (db) => {
  assert.is((await rejection(db.set('', 'x'))).code, 'KV_ERR_INVALID_ARGUMENT');
  assert.is((await rejection(db.get('k'.repeat(251)))).code, 'KV_ERR_INVALID_ARGUMENT');
  assert.is((await rejection(db.set('ключ'.repeat(40), 'x'))).code, 'KV_ERR_INVALID_ARGUMENT', 'the limit counts UTF-8 bytes');
}));

test('--no-evict answers OUT_OF_MEMORY past the budget and keeps what was stored', () => withClient(['--memory-size', '1', '--no-evict'], async (db) => {
  const value = new Uint8Array(10_000);
  let stored = 0;
  let err: (Error & { code?: string }) | null = null;
  for (let i = 0; i < 500 && err === null; i++) {
    try {
      await db.set(`k${i}`, value);
      stored++;
    } catch (e) {
      err = e as Error & { code?: string };
    }
  }
  assert.ok(err !== null, 'the budget ran out');
  assert.is(err!.code, 'KV_ERR_OUT_OF_MEMORY');
  for (let i = 0; i < stored; i++) assert.ok((await db.get(`k${i}`)) !== null, `k${i} is still there`);
}));

test('with eviction, writes past the budget evict the least recently used items', () => withClient(['--memory-size', '1'], async (db) => {
  const value = new Uint8Array(10_000);
  for (let i = 0; i < 300; i++) await db.set(`k${i}`, value);
  const stats = Object.values(await db.stats())[0]!;
  assert.ok(Number(stats.evictions) > 0);
  assert.ok(Number(stats.bytes) <= 1024 * 1024);
  assert.is(await db.get('k0'), null);
  assert.ok((await db.get('k299')) !== null);
}));

test('stats report items, bytes, hits, misses and connections', () => withClient([], async (db) => {
  await db.set('a', '1');
  await db.get('a');
  await db.get('zz');
  const s = Object.values(await db.stats())[0]!;
  assert.is(s.items, 1);
  assert.ok(Number(s.bytes) > 0);
  assert.is(s.hits, 1);
  assert.is(s.misses, 1);
  assert.is(s.connections, 1);
}));

test('json and utf8 codecs round-trip values', () => withNode([], async (node) => {
  const docs = await connect({ nodes: [node.address], valueCodec: jsonCodec });
  const strings = await connect({ nodes: [node.address], valueCodec: utf8Codec });
  try {
    await docs.set('doc', { a: [1, 2], b: 'x' });
    assert.equal(await docs.get('doc'), { a: [1, 2], b: 'x' });
    await strings.set('s', 'héllo');
    assert.is(await strings.get('s'), 'héllo');
  } finally {
    await docs.close();
    await strings.close();
  }
}));

test('keys are sharded over several nodes and scans merge them in order', () => withNodes([[], [], []], async (nodes) => {
  const db = await connect({ nodes: nodes.map((n) => n.address) });
  try {
    const keys = Array.from({ length: 300 }, (_, i) => `m:${String(i).padStart(3, '0')}`);
    await Promise.all(keys.map((k) => db.set(k, k)));
    const perNode = Object.values(await db.stats()).map((s) => Number(s.items));
    assert.is(perNode.length, 3);
    assert.ok(perNode.every((n) => n > 50), `every node holds a share: ${perNode.join(',')}`);
    const seen: string[] = [];
    for await (const e of db.scan({ pageSize: 16 })) seen.push(e.key);
    assert.equal(seen, keys);
    const r = db.route('m:001');
    assert.is(r.chain.length, 1);
    assert.ok(nodes.some((n) => n.address === r.chain[0]));
  } finally {
    await db.close();
  }
}));

test.run();
