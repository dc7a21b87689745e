import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { until } from '../../../helpers/deadline.js';
import { KvError } from '../../../../shared/errors.js';
import { CallbackMemoryBackend } from './callback-backend.js';
import { MemoryBackend } from './memory-backend.js';
import { RawClient, withServer } from './raw-client.js';

const test = suite('proxy memcached - get and set through the backend callbacks');

/** Everything a script of commands is answered with, up to `expectedBytes`. */
async function answers(backend: MemoryBackend, script: string, expectedBytes: number): Promise<string> {
  let out = '';
  await withServer(backend, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(script);
    out = (await c.readBytes(expectedBytes)).toString('latin1');
    c.destroy();
  });
  return out;
}

test('a one-key get and a plain set use the callbacks and answer byte for byte as the promise path', async () => {
  const script = 'set a 5 0 3\r\nabc\r\nget a\r\nget nope\r\nset e 0 0 0\r\n\r\nget e\r\nset q 1 0 1 noreply\r\nx\r\nget q\r\n'
    + 'get a e q\r\ngets a\r\nadd a 0 0 1\r\nz\r\nset big 4294967295 -1 2\r\nhi\r\nget big\r\nmn\r\n';
  // The promise path's answer (a backend without callbacks), then the callbacks' one.
  const reference = await (async () => {
    let text = '';
    await withServer(new MemoryBackend(), {}, async (_server, port) => {
      const c = await RawClient.connect(port);
      c.send(script);
      await c.waitFor(() => c.peek().endsWith('MN\r\n'), 'every answer');
      text = c.peek();
      c.destroy();
    });
    return text;
  })();
  assert.ok(reference.startsWith('STORED\r\nVALUE a 5 3\r\nabc\r\nEND\r\nEND\r\nSTORED\r\nVALUE e 0 0\r\n\r\nEND\r\nVALUE q 1 1\r\nx\r\nEND\r\n'), reference);
  const backend = new CallbackMemoryBackend();
  assert.is(await answers(backend, script, Buffer.byteLength(reference, 'latin1')), reference);
  assert.is(backend.getCalls, 5, 'get a, get nope, get e, get q, get big');
  assert.is(backend.setCalls, 4, 'set a, set e, set q, set big');
});

test('answers leave in request order when the callbacks finish in reverse', async () => {
  const backend = new CallbackMemoryBackend();
  await backend.store('set', Buffer.from('k1'), Buffer.from('1'), 0, 0);
  await backend.store('set', Buffer.from('k2'), Buffer.from('22'), 0, 0);
  backend.isHolding = true;
  await withServer(backend, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send('get k1\r\nversion\r\nset k3 0 0 1\r\n3\r\nget k2\r\n');
    await until(() => backend.parked.length === 3, 5000, 'three callback calls parked');
    for (const p of backend.parked.splice(0).reverse()) p.release();
    assert.is(await c.read('VALUE k1 0 1\r\n1\r\nEND\r\nVERSION 1.6.21\r\nSTORED\r\nVALUE k2 0 2\r\n22\r\nEND\r\n'),
      'VALUE k1 0 1\r\n1\r\nEND\r\nVERSION 1.6.21\r\nSTORED\r\nVALUE k2 0 2\r\n22\r\nEND\r\n');
    c.destroy();
  });
});

test('a callback that never answers is answered as a timeout; its late answer is dropped', async () => {
  const backend = new CallbackMemoryBackend();
  backend.isHolding = true;
  await withServer(backend, { commandTimeoutMs: 100 }, async (server, port) => {
    const c = await RawClient.connect(port);
    c.send('get stuck\r\nset stuck2 0 0 1\r\nv\r\n');
    assert.is(await c.readLine(), 'SERVER_ERROR temporary failure: KV_ERR_TIMEOUT\r\n');
    assert.is(await c.readLine(), 'SERVER_ERROR temporary failure: KV_ERR_TIMEOUT\r\n');
    assert.is(server.stats().pandakv_proxy_memcached_timeouts_total, 2);
    for (const p of backend.parked.splice(0)) p.release();
    backend.isHolding = false;
    c.send('mn\r\n');
    assert.is(await c.readLine(), 'MN\r\n', 'nothing of the late answers is written');
    c.destroy();
  });
});

test('failures answer with the mapped line; a noreply set stays silent, also when answered from inside the call', async () => {
  const backend = new CallbackMemoryBackend();
  backend.failure = KvError.unavailable('owner down');
  await withServer(backend, {}, async (server, port) => {
    const c = await RawClient.connect(port);
    c.send('get a\r\nset b 0 0 1\r\nv\r\nset c 0 0 1 noreply\r\nv\r\nmn\r\n');
    const expected = 'SERVER_ERROR temporary failure: KV_ERR_UNAVAILABLE\r\n'.repeat(2) + 'MN\r\n';
    assert.is(await c.read(expected), expected);
    backend.isSync = true;
    c.send('get a\r\nset c 0 0 1 noreply\r\nv\r\nmn\r\n');
    const again = 'SERVER_ERROR temporary failure: KV_ERR_UNAVAILABLE\r\nMN\r\n';
    assert.is(await c.read(again), again);
    assert.is(server.stats().pandakv_proxy_memcached_errors_total, 5, 'silent failures are still counted');
    c.destroy();
  });
});

test('with authentication on, the roles are checked first: allowed commands take the callbacks, refused ones are answered by the executor', async () => {
  const backend = new CallbackMemoryBackend({ users: { reader: { password: 'pw', roles: ['read'] }, writer: { password: 'pw', roles: ['read', 'write'] } } });
  await withServer(backend, { isAuthRequired: true }, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send('get a\r\n');
    assert.is(await c.readLine(), 'CLIENT_ERROR unauthenticated\r\n');
    c.send('set auth 0 0 9\r\nreader pw\r\n');
    assert.is(await c.readLine(), 'STORED\r\n');
    c.send('get a\r\nset a 0 0 1\r\nv\r\nget a\r\n');
    assert.is(await c.read('END\r\nCLIENT_ERROR unauthorized\r\nEND\r\n'), 'END\r\nCLIENT_ERROR unauthorized\r\nEND\r\n');
    assert.is(backend.getCalls, 2, 'the reader\'s gets ran by callback');
    assert.is(backend.setCalls, 0, 'the refused set never reached the backend');
    c.destroy();
    const w = await RawClient.connect(port);
    w.send('set auth 0 0 9\r\nwriter pw\r\nset a 0 0 1\r\nv\r\nget a\r\nflush_all\r\n');
    const expected = `STORED\r\nSTORED\r\nVALUE a 0 1\r\nv\r\nEND\r\nCLIENT_ERROR ${'flush_all needs a principal with the admin role'}\r\n`;
    assert.is(await w.read(expected), expected);
    assert.is(backend.setCalls, 1, 'the writer\'s set ran by callback');
    assert.is(backend.getCalls, 3);
    w.destroy();
  });
});

test('answers over the joining limit go out whole and in order among small ones', async () => {
  const backend = new CallbackMemoryBackend();
  const big = Buffer.alloc(200_000, 0x62);
  await backend.store('set', Buffer.from('big'), big, 7, 0);
  await backend.store('set', Buffer.from('s'), Buffer.from('x'), 0, 0);
  await withServer(backend, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send('get s\r\nget big\r\nget s\r\n');
    const expected = Buffer.concat([Buffer.from('VALUE s 0 1\r\nx\r\nEND\r\nVALUE big 7 200000\r\n'), big, Buffer.from('\r\nEND\r\nVALUE s 0 1\r\nx\r\nEND\r\n')]);
    const got = await c.readBytes(expected.length, 10_000);
    assert.ok(got.equals(expected), 'byte-exact');
    c.destroy();
  });
});

test('garbage between callback commands is answered in place and the stream goes on', async () => {
  const backend = new CallbackMemoryBackend();
  await withServer(backend, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    const junk = '\x00\x01\xff get\r\nget ' + 'k'.repeat(251) + '\r\nset x 0 0 -1\r\n';
    c.send(`set a 0 0 1\r\n1\r\n${junk}`);
    assert.is(await c.readLine(), 'STORED\r\n');
    assert.is(await c.readLine(), 'ERROR\r\n');
    assert.is(await c.readLine(), 'CLIENT_ERROR bad command line format\r\n');
    assert.is(await c.readLine(), 'CLIENT_ERROR bad command line format\r\n', 'an unusable data length');
    await c.closed();
  });
});

test.run();
