import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { KvError } from '../../../shared/errors.js';
import { MemoryBackend } from '../../unit/proxy/memcached/memory-backend.js';
import { RawClient, withServer } from '../../unit/proxy/memcached/raw-client.js';
import type { McPrincipal } from '../../../proxy/memcached/backend.js';

const test = suite('integration - memcached front end over raw TCP');

const USERS = {
  alice: { password: 'correct horse battery', roles: ['read' as const, 'write' as const] },
  bob: { password: 'bobpw', roles: ['read' as const] },
};

function authSet(user: string, password: string): string {
  const payload = `${user} ${password}`;
  return `set auth 0 0 ${Buffer.byteLength(payload)}\r\n${payload}\r\n`;
}

test('binary values round-trip byte for byte through set, get and the meta commands', async () => {
  await withServer(new MemoryBackend(), {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    const value = randomBytes(200_000);
    c.send(Buffer.concat([Buffer.from(`set bin 7 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]));
    assert.is(await c.readLine(), 'STORED\r\n');
    c.send('get bin\r\n');
    assert.is(await c.readLine(), `VALUE bin 7 ${value.length}\r\n`);
    assert.ok((await c.readBytes(value.length)).equals(value));
    assert.is(await c.read('\r\nEND\r\n'), '\r\nEND\r\n');
    c.send('mg bin v f s\r\n');
    assert.is(await c.readLine(), `VA ${value.length} f7 s${value.length}\r\n`);
    assert.ok((await c.readBytes(value.length)).equals(value));
    assert.is(await c.read('\r\n'), '\r\n');
    c.destroy();
  });
});

test('a client that writes one byte at a time is served the same', async () => {
  await withServer(new MemoryBackend(), {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    const script = 'set a 0 0 5\r\nhello\r\nget a\r\nms b 2 T0\r\nhi\r\nmg b v\r\nincr nope 1\r\nmn\r\n';
    const expected = 'STORED\r\nVALUE a 0 5\r\nhello\r\nEND\r\nHD\r\nVA 2\r\nhi\r\nNOT_FOUND\r\nMN\r\n';
    for (const byte of Buffer.from(script)) c.send(Buffer.from([byte]));
    assert.is(await c.read(expected), expected);
    c.destroy();
  });
});

test('a large pipeline is answered completely and in order', async () => {
  await withServer(new MemoryBackend(), {}, async (server, port) => {
    const c = await RawClient.connect(port);
    const n = 3000;
    let script = '';
    let expected = '';
    for (let i = 0; i < n; i++) {
      script += `set k${i} ${i} 0 ${String(i).length}\r\n${i}\r\nget k${i}\r\n`;
      expected += `STORED\r\nVALUE k${i} ${i} ${String(i).length}\r\n${i}\r\nEND\r\n`;
    }
    c.send(script);
    assert.is(await c.read(expected, 20_000), expected);
    assert.is(server.stats().pandakv_proxy_memcached_commands_total, 2 * n);
    c.destroy();
  }, 30_000);
});

test('malformed input is answered and the connection stays usable where memcached\'s does', async () => {
  await withServer(new MemoryBackend(), {}, async (server, port) => {
    const c = await RawClient.connect(port);
    c.send('bogus\r\nget\r\nset k 0 0 3\r\nabcde\r\n');
    assert.is(await c.read('ERROR\r\nERROR\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\n'), 'ERROR\r\nERROR\r\nCLIENT_ERROR bad data chunk\r\nERROR\r\n');
    c.send(`get ${'k'.repeat(251)}\r\nset k 0 0 1048577\r\n`);
    c.send(Buffer.alloc(1048577, 0x78));
    c.send('\r\nmg k v v\r\nversion\r\n');
    const expected = 'CLIENT_ERROR bad command line format\r\nSERVER_ERROR object too large for cache\r\nCLIENT_ERROR duplicate flag\r\nVERSION 1.6.21\r\n';
    assert.is(await c.read(expected), expected);
    assert.is(server.stats().pandakv_proxy_memcached_errors_total, 7);
    c.destroy();
  });
});

test('random junk on some connections never disturbs the server or other clients', async () => {
  await withServer(new MemoryBackend(), { maxLineBytes: 256, maxRetrievalLineBytes: 512 }, async (_server, port) => {
    const good = await RawClient.connect(port);
    const junkers = await Promise.all(Array.from({ length: 8 }, () => RawClient.connect(port)));
    for (let round = 0; round < 20; round++) {
      for (const j of junkers) {
        if (j.isClosed) continue;
        const junk = randomBytes(1 + ((round * 97) % 700));
        // A first byte of 0x80 (1 in 256) makes it a binary-protocol connection, whose
        // answers are binary packets: the text answers checked below are for text junk.
        if (round === 0 && junk[0] === 0x80) junk[0] = 0x7f;
        j.send(junk);
      }
    }
    good.send('set a 0 0 2\r\nok\r\nget a\r\n');
    assert.is(await good.read('STORED\r\nVALUE a 0 2\r\nok\r\nEND\r\n'), 'STORED\r\nVALUE a 0 2\r\nok\r\nEND\r\n');
    for (const j of junkers) {
      j.send('\r\nversion\r\n');
      // Each junk connection either got closed for a fatal input or still answers.
      await j.waitFor(() => j.isClosed || j.peek().endsWith('VERSION 1.6.21\r\n'), 'junk connection settles');
      assert.match(j.peek(), /^((ERROR|CLIENT_ERROR [^\r\n]+|SERVER_ERROR [^\r\n]+)\r\n|VERSION 1\.6\.21\r\n)*$/);
      j.destroy();
    }
    good.destroy();
  });
});

test('with auth required, only version and quit work before the auth set', async () => {
  const backend = new MemoryBackend({ users: USERS });
  await withServer(backend, { isAuthRequired: true }, async (server, port) => {
    const c = await RawClient.connect(port);
    c.send('version\r\nget a\r\nmg a v\r\nmn\r\ndelete a noreply\r\n');
    const pre = 'VERSION 1.6.21\r\n' + 'CLIENT_ERROR unauthenticated\r\n'.repeat(4);
    assert.is(await c.read(pre), pre);
    c.send(authSet('alice', 'wrong'));
    assert.is(await c.readLine(), 'CLIENT_ERROR authentication failure\r\n');
    c.send(`${authSet('alice', USERS.alice.password)}set a 0 0 1\r\nx\r\nget a\r\n`);
    assert.is(await c.read('STORED\r\nSTORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n'), 'STORED\r\nSTORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n');
    assert.equal(backend.authCalls, [{ user: 'alice', password: 'wrong' }, { user: 'alice', password: USERS.alice.password }]);
    assert.is(server.stats().pandakv_proxy_memcached_auth_failures_total, 1);
    c.send('stats\r\n');
    await c.waitFor(() => c.peek().endsWith('END\r\n'), 'stats');
    assert.match(c.peek(), /^STAT pid \d+\r\n/);
    assert.not.ok(c.peek().includes(USERS.alice.password), 'the password shows up nowhere');
    c.destroy();
  });
});

test('roles are enforced after authentication', async () => {
  await withServer(new MemoryBackend({ users: USERS }), { isAuthRequired: true }, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(`${authSet('bob', 'bobpw')}get a\r\nset a 0 0 1\r\nx\r\nms a 1\r\nx\r\nmg a v\r\n`);
    const expected = 'STORED\r\nEND\r\nCLIENT_ERROR unauthorized\r\nCLIENT_ERROR unauthorized\r\nEN\r\n';
    assert.is(await c.read(expected), expected);
    c.destroy();
  });
});

test('repeated authentication failures close the connection', async () => {
  await withServer(new MemoryBackend({ users: USERS }), { isAuthRequired: true, maxAuthFailures: 3 }, async (server, port) => {
    const c = await RawClient.connect(port);
    c.send(`${authSet('mallory', 'a')}${authSet('alice', 'b')}set x 0 0 5\r\nalice\r\n${authSet('alice', USERS.alice.password)}`);
    await c.closed();
    assert.is(c.peek(), 'CLIENT_ERROR authentication failure\r\n'.repeat(2) + 'CLIENT_ERROR bad authentication token format\r\n');
    assert.is(server.stats().pandakv_proxy_memcached_auth_failures_total, 3);
  });
});

test('a big data block before authentication is refused without being buffered', async () => {
  await withServer(new MemoryBackend({ users: USERS }), { isAuthRequired: true, maxAuthPayloadBytes: 64 }, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(`set x 0 0 100000\r\n${'z'.repeat(100000)}\r\n${authSet('alice', USERS.alice.password)}get a\r\n`);
    const expected = 'SERVER_ERROR object too large for cache\r\nSTORED\r\nEND\r\n';
    assert.is(await c.read(expected), expected);
    c.send('set big 0 0 100000\r\n');
    c.send(`${'z'.repeat(100000)}\r\n`);
    assert.is(await c.readLine(), 'STORED\r\n', 'after auth the normal limit applies');
    c.destroy();
  });
});

test('an authentication backend failure is retryable and does not count as a failed login', async () => {
  let isDown = true;
  const backend = new MemoryBackend({ users: USERS });
  const flaky = Object.assign(Object.create(backend) as MemoryBackend, {
    authenticate: (user: string, password: string): Promise<McPrincipal | null> =>
      isDown ? Promise.reject(KvError.unavailable('cfg down')) : backend.authenticate(user, password),
  });
  await withServer(flaky, { isAuthRequired: true, maxAuthFailures: 1 }, async (server, port) => {
    const c = await RawClient.connect(port);
    c.send(authSet('alice', USERS.alice.password));
    assert.is(await c.readLine(), 'SERVER_ERROR temporary failure: KV_ERR_UNAVAILABLE\r\n');
    isDown = false;
    c.send(authSet('alice', USERS.alice.password));
    assert.is(await c.readLine(), 'STORED\r\n');
    assert.is(server.stats().pandakv_proxy_memcached_auth_failures_total, 0);
    c.destroy();
  });
});

test.run();
