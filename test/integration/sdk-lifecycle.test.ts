import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { connect, StaticMapSource, type ClusterMap, type KvError, type PandaClient } from '../../sdk/index.js';
import { withCluster } from '../helpers/cluster.js';
import { rejection, until, withDeadline } from '../helpers/deadline.js';

const test = suite('integration - sdk lifecycle, key prefix and counters');

/** A loopback port nothing listens on (bound, read back, closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

function mapWhere(db: PandaClient, pred: (m: ClusterMap) => boolean, ms: number, what: string): Promise<ClusterMap> {
  if (db.map !== null && pred(db.map)) return Promise.resolve(db.map);
  return withDeadline(new Promise<ClusterMap>((resolve) => {
    const onMap = (m: ClusterMap): void => {
      if (!pred(m)) return;
      db.off('map', onMap);
      resolve(m);
    };
    db.on('map', onMap);
  }), ms, what);
}

const hasOwners = (m: ClusterMap): boolean => m.runChains.length > 0 && m.nodes.length > 0;
const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString('utf8'));

test('no reachable map source fails at once with UNAVAILABLE naming every URL, not at the deadline', async () => {
  const a = `ws://127.0.0.1:${await closedPort()}`;
  const b = `http://127.0.0.1:${await closedPort()}`;
  // The deadline is far beyond the test's own: only a fast refusal passes.
  const err = await withDeadline(rejection(connect({ map: [a, b], timeoutMs: 600_000 })), 30_000, 'connect to nothing');
  assert.is(err.code, 'KV_ERR_UNAVAILABLE');
  assert.match(err.message, 'cannot reach the cluster map service');
  assert.match(err.message, `127.0.0.1:${new URL(a).port}`);
  assert.match(err.message, `127.0.0.1:${new URL(b).port}`);
  assert.match(err.message, 'connection refused');
  const bad = await rejection(connect({ map: a, keyPrefix: 5 as unknown as string }));
  assert.is(bad.code, 'KV_ERR_INVALID_ARGUMENT');
  const single = await withDeadline(rejection(connect({ map: a, timeoutMs: 600_000 })), 30_000, 'connect to one closed port');
  assert.is(single.code, 'KV_ERR_UNAVAILABLE');
});

test('keyPrefix applies to every key op and scan, and scans return keys without it', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  const plain = await connect({ map: manager.address, timeoutMs: 10_000 });
  const app = await connect({ map: manager.address, keyPrefix: 'app1:', timeoutMs: 10_000 });
  try {
    await mapWhere(plain, hasOwners, 10_000, 'an owner');
    await mapWhere(app, hasOwners, 10_000, 'an owner');
    await plain.set('other', 'x');
    await plain.set('app0:z', 'x');
    await plain.set('app2:a', 'x');
    for (const k of ['a', 'b', 'c']) await app.set(k, `v-${k}`);
    assert.is(text(await plain.get('app1:a')), 'v-a');
    assert.is(text(await app.get('a')), 'v-a');
    assert.is(await app.get('other'), null);
    assert.is(await app.add('a', 'again'), false);
    assert.is(await app.append('a', '!'), true);
    assert.is(text(await plain.get('app1:a')), 'v-a!');
    assert.is((await app.getItem('b'))!.flags, 0);
    assert.is(await app.touch('b', 100), true);
    assert.is(await app.incr('n', 1, { initial: 5 }), 5n);
    assert.is(text(await plain.get('app1:n')), '5');
    assert.is(await app.delete('c'), true);
    assert.is(await plain.get('app1:c'), null);
    assert.equal(app.route('a').bucket, plain.route('app1:a').bucket);
    const keys: string[] = [];
    for await (const e of app.scan()) keys.push(e.key);
    assert.equal(keys, ['a', 'b', 'n']);
    const bytes: number[][] = [];
    for await (const e of app.scan({ start: 'b', end: 'z' })) bytes.push([...e.keyBytes]);
    assert.equal(bytes, [[...Buffer.from('b')], [...Buffer.from('n')]]);
    const all: string[] = [];
    for await (const e of plain.scan()) all.push(e.key);
    assert.equal(all, ['app0:z', 'app1:a', 'app1:b', 'app1:n', 'app2:a', 'other']);
  } finally {
    await app.close();
    await plain.close();
  }
}));

test('incr with initial: a missing key is set to initial (delta not applied), an existing one gets the delta', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  const db = await connect({ map: manager.address, timeoutMs: 10_000 });
  try {
    await mapWhere(db, hasOwners, 10_000, 'an owner');
    assert.is(await db.incr('c', 5, { initial: 0 }), 0n);
    assert.is(await db.incr('c', 5, { initial: 0 }), 5n);
    assert.is(await db.incr('c', 5), 10n);
    assert.is(await db.decr('d', 3, { initial: 7 }), 7n);
    assert.is(await db.decr('d', 3, { initial: 7 }), 4n);
    const missing = await rejection(db.incr('none', 1));
    assert.is(missing.code, 'KV_ERR_NOT_FOUND');
  } finally {
    await db.close();
  }
}));

test('lifecycle events: ready after connect, error and reconnecting when the map is lost, close once', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  const db = await connect({ map: manager.address, timeoutMs: 10_000 });
  const seen: string[] = [];
  const errors: KvError[] = [];
  let isInsideCall = false;
  const record = (name: string) => (): void => {
    assert.is(isInsideCall, false, `${name} emitted synchronously`);
    seen.push(name);
  };
  db.on('ready', record('ready'));
  db.on('reconnecting', record('reconnecting'));
  db.on('close', record('close'));
  db.on('error', function onError(err: KvError) {
    errors.push(err);
  });
  try {
    await until(() => seen.includes('ready'), 10_000, 'ready');
    await manager.stop('SIGKILL');
    await until(() => seen.includes('reconnecting') && errors.length > 0, 20_000, 'reconnecting and error');
    assert.is(errors[0]!.code, 'KV_ERR_UNAVAILABLE');
  } finally {
    isInsideCall = true;
    await db.close();
    db.destroy();
    isInsideCall = false;
  }
  await until(() => seen.includes('close'), 10_000, 'close');
  assert.equal(seen.filter((s) => s === 'close').length, 1);
  assert.equal(seen.filter((s) => s === 'ready').length, 1);
}));

test('ready again after a reconnection; reconnecting and error once per loss; nothing emitted inside the call', async () => {
  const source = new StaticMapSource(['ws://127.0.0.1:9']);
  const db = await connect({ mapSource: source });
  const seen: string[] = [];
  let isInsideCall = false;
  for (const name of ['ready', 'reconnecting', 'close', 'error'] as const) {
    db.on(name, function onEvent() {
      assert.is(isInsideCall, false, `${name} emitted synchronously`);
      seen.push(name);
    });
  }
  await until(() => seen.length === 1, 10_000, 'ready');
  isInsideCall = true;
  source.emit('status', false);
  source.emit('status', false);
  isInsideCall = false;
  await until(() => seen.length === 3, 10_000, 'error and reconnecting');
  isInsideCall = true;
  source.emit('status', true);
  isInsideCall = false;
  await until(() => seen.length === 4, 10_000, 'ready again');
  isInsideCall = true;
  await db.close();
  isInsideCall = false;
  await until(() => seen.length === 5, 10_000, 'close');
  source.emit('status', false);
  await new Promise<void>((resolve) => setImmediate(resolve));
  await new Promise<void>((resolve) => setImmediate(resolve));
  assert.equal(seen, ['ready', 'error', 'reconnecting', 'ready', 'close']);
});

test.run();
