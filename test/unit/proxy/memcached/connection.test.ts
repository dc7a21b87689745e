import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { until } from '../../../helpers/deadline.js';
import { DeferredBackend } from './deferred-backend.js';
import { MemoryBackend } from './memory-backend.js';
import { RawClient, withServer } from './raw-client.js';

const test = suite('proxy memcached - connection ordering and flow control');

async function seed(backend: MemoryBackend, items: Record<string, string | Buffer>): Promise<void> {
  for (const [k, v] of Object.entries(items)) await backend.store('set', Buffer.from(k), typeof v === 'string' ? Buffer.from(v) : v, 0, 0);
}

test('answers leave in request order even when the backend finishes them in reverse', async () => {
  const backend = new DeferredBackend();
  await seed(backend, { a: '1', b: '22', c: '333' });
  await withServer(backend, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send('get a\r\nversion\r\nget b\r\nmn\r\nget c\r\n');
    await until(() => backend.parked.length === 3, 5000, 'three reads in flight');
    assert.equal(backend.started, ['a', 'b', 'c'], 'all three run concurrently');
    backend.releaseKey('c');
    backend.releaseKey('b');
    await until(() => backend.parked.length === 1, 5000, 'released');
    assert.is(c.available, 0, 'nothing is written while the first answer is pending');
    backend.releaseKey('a');
    assert.is(await c.read('VALUE a 0 1\r\n1\r\nEND\r\nVERSION 1.6.21\r\nVALUE b 0 2\r\n22\r\nEND\r\nMN\r\nVALUE c 0 3\r\n333\r\nEND\r\n'),
      'VALUE a 0 1\r\n1\r\nEND\r\nVERSION 1.6.21\r\nVALUE b 0 2\r\n22\r\nEND\r\nMN\r\nVALUE c 0 3\r\n333\r\nEND\r\n');
    c.destroy();
  });
});

test('no more than maxPipelinedCommands run at once; the rest wait in the socket', async () => {
  const backend = new DeferredBackend();
  await seed(backend, { k0: '0', k1: '1', k2: '2', k3: '3', k4: '4', k5: '5' });
  await withServer(backend, { maxPipelinedCommands: 2 }, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send([0, 1, 2, 3, 4, 5].map((i) => `get k${i}\r\n`).join(''));
    for (let i = 0; i < 6; i++) {
      await until(() => backend.parked.length > 0, 5000, `read k${i} parked`);
      backend.releaseKey(`k${i}`);
      assert.is(await c.read(`VALUE k${i} 0 1\r\n${i}\r\nEND\r\n`), `VALUE k${i} 0 1\r\n${i}\r\nEND\r\n`);
    }
    assert.is(backend.maxConcurrent, 2);
    c.destroy();
  });
});

test('a backend call that never returns is answered as a temporary failure and the connection goes on', async () => {
  const backend = new DeferredBackend();
  await withServer(backend, { commandTimeoutMs: 100 }, async (server, port) => {
    const c = await RawClient.connect(port);
    c.send('get stuck\r\n');
    assert.is(await c.readLine(), 'SERVER_ERROR temporary failure: KV_ERR_TIMEOUT\r\n');
    assert.is(server.stats().pandakv_proxy_memcached_timeouts_total, 1);
    backend.releaseKey('stuck');
    backend.isHolding = false;
    c.send('version\r\n');
    assert.is(await c.readLine(), 'VERSION 1.6.21\r\n', 'the late answer is dropped');
    c.destroy();
  });
});

test('the server stops reading while the client does not read its answers, and catches up after', async () => {
  const backend = new DeferredBackend();
  backend.isHolding = false;
  const value = Buffer.alloc(1024 * 1024, 0x61);
  value.write('start', 0);
  value.write('end', value.length - 3);
  await seed(backend, { big: value });
  const total = 40;
  await withServer(backend, { writeHighWaterBytes: 64 * 1024, maxPipelinedCommands: 1 }, async (server, port) => {
    const c = await RawClient.connect(port);
    c.pause();
    for (let i = 0; i < total; i++) c.send('get big\r\n');
    await until(() => server.stats().pandakv_proxy_memcached_read_pauses_total >= 1, 10_000, 'server pauses reading');
    const seen = backend.started.length;
    assert.ok(seen < total, `only ${seen} of ${total} commands ran before the pause`);
    c.resume();
    const header = `VALUE big 0 ${value.length}\r\n`;
    for (let i = 0; i < total; i++) {
      assert.is((await c.readBytes(header.length, 10_000)).toString('latin1'), header);
      const body = await c.readBytes(value.length + 2, 10_000);
      assert.ok(body.subarray(0, value.length).equals(value), `answer ${i} intact`);
      assert.is((await c.readBytes(5)).toString('latin1'), 'END\r\n');
    }
    assert.is(backend.started.length, total);
    c.destroy();
  }, 60_000);
});

test('quit answers what came before it and closes', async () => {
  const backend = new MemoryBackend();
  await seed(backend, { a: 'x' });
  await withServer(backend, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send('get a\r\nquit\r\nget a\r\n');
    await c.closed();
    assert.is(c.peek(), 'VALUE a 0 1\r\nx\r\nEND\r\n');
  });
});

test('after the client half-closes, the commands it sent are still answered', async () => {
  await withServer(new MemoryBackend(), {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send('set a 0 0 1\r\nx\r\nget a\r\nget');
    c.end();
    await c.closed();
    assert.is(c.peek(), 'STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n', 'the unfinished line is dropped');
  });
});

test('a fatal parse error is answered after the earlier answers, then the connection closes', async () => {
  await withServer(new MemoryBackend(), {}, async (server, port) => {
    const c = await RawClient.connect(port);
    c.send('get a\r\nset k 0 0 abc\r\nget a\r\n');
    await c.closed();
    assert.is(c.peek(), 'END\r\nCLIENT_ERROR bad command line format\r\n');
    const long = await RawClient.connect(port);
    long.send('x'.repeat(3000));
    await long.closed();
    assert.is(long.peek(), 'CLIENT_ERROR line too long\r\n');
    assert.ok(server.stats().pandakv_proxy_memcached_errors_total >= 2);
  });
});

test('connections over the limit are refused with memcached\'s message', async () => {
  await withServer(new MemoryBackend(), { maxConnections: 1 }, async (server, port) => {
    const first = await RawClient.connect(port);
    first.send('version\r\n');
    await first.readLine();
    const second = await RawClient.connect(port);
    await second.closed();
    assert.is(second.peek(), 'SERVER_ERROR too many open connections\r\n');
    assert.is(server.stats().pandakv_proxy_memcached_connections_rejected_total, 1);
    first.send('version\r\n');
    assert.is(await first.readLine(), 'VERSION 1.6.21\r\n');
    first.destroy();
  });
});

test('close() lets in-flight answers finish, refuses new connections, and is idempotent', async () => {
  const backend = new DeferredBackend();
  await seed(backend, { a: 'x' });
  await withServer(backend, {}, async (server, port) => {
    const idle = await RawClient.connect(port);
    const busy = await RawClient.connect(port);
    busy.send('get a\r\n');
    await until(() => backend.parked.length === 1, 5000, 'read parked');
    const closing = server.close();
    assert.is(server.close(), closing);
    await idle.closed();
    assert.is(busy.isClosed, false, 'the busy connection waits for its answer');
    backend.releaseKey('a');
    await busy.closed();
    assert.is(busy.peek(), 'VALUE a 0 1\r\nx\r\nEND\r\n');
    await closing;
    assert.is(server.address(), null);
    assert.is(server.stats().pandakv_proxy_memcached_connections_open, 0);
    server.destroy();
  });
});

test('destroy() drops every connection at once', async () => {
  const backend = new DeferredBackend();
  await withServer(backend, {}, async (server, port) => {
    const c = await RawClient.connect(port);
    c.send('get a\r\n');
    await until(() => backend.parked.length === 1, 5000, 'read parked');
    server.destroy();
    server.destroy();
    await c.closed();
    assert.is(c.peek(), '');
    await server.close();
  });
});

test('a backend that throws instead of rejecting is answered as an internal error', async () => {
  const backend = new MemoryBackend({ users: { u: { password: 'p', roles: ['read'] } } });
  const broken = Object.assign(Object.create(backend) as MemoryBackend, {
    get: (): never => { throw new TypeError('sync bug'); },
    authenticate: (): never => { throw new TypeError('sync bug'); },
  });
  await withServer(broken, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send('get a\r\nversion\r\n');
    assert.is(await c.read('SERVER_ERROR KV_ERR_INTERNAL\r\nVERSION 1.6.21\r\n'), 'SERVER_ERROR KV_ERR_INTERNAL\r\nVERSION 1.6.21\r\n');
    c.destroy();
  });
  await withServer(broken, { isAuthRequired: true }, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send('set x 0 0 3\r\nu p\r\nversion\r\n');
    assert.is(await c.read('SERVER_ERROR KV_ERR_INTERNAL\r\nVERSION 1.6.21\r\n'), 'SERVER_ERROR KV_ERR_INTERNAL\r\nVERSION 1.6.21\r\n');
    c.destroy();
  });
});

test('a cachedump of 100,000 keys (300,000 answer chunks) arrives whole, and the connection goes on', async () => {
  const backend = new MemoryBackend();
  const keys = Array.from({ length: 100_000 }, (_, i) => `key:${String(i).padStart(6, '0')}`);
  for (const k of keys) await backend.store('set', Buffer.from(k), Buffer.from('v'), 0, 0);
  await withServer(backend, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send('stats cachedump 1 0\r\nversion\r\n');
    const expected = keys.map((k) => `ITEM ${k} [1 b; 0 s]\r\n`).join('') + 'END\r\nVERSION 1.6.21\r\n';
    assert.ok((await c.read(expected, 20_000)) === expected, 'every key listed, in order, then the next answer');
    c.destroy();
  });
});

test.run();
