import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { BinStatus } from '../../../../proxy/memcached/binary-protocol.js';
import { until } from '../../../helpers/deadline.js';
import { MemoryBackend } from './memory-backend.js';
import { DeferredBackend } from './deferred-backend.js';
import { RawClient, withServer } from './raw-client.js';
import { BinOp, counterExtras, parseResponses, plain, readResponse, req, storeExtras, u32 } from './binary-helpers.js';

const test = suite('proxy memcached - binary protocol over a connection');

const USERS = {
  root: { password: 'root pw', roles: ['read' as const, 'write' as const, 'admin' as const] },
  app: { password: 'app pw', roles: ['read' as const, 'write' as const] },
  reader: { password: 'reader pw', roles: ['read' as const] },
};

async function login(c: RawClient, user: string, password: string): Promise<number> {
  c.send(req(BinOp.SASL_AUTH, { key: 'PLAIN', value: plain(user, password), opaque: 0xa0 }));
  const r = await readResponse(c);
  assert.is(r.opaque, 0xa0);
  return r.status;
}

test('set, get, getk, add, replace, append, prepend, delete and touch answer with memcached\'s statuses and echo the opaque', async () => {
  await withServer(new MemoryBackend(), {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(req(BinOp.SET, { key: 'k', value: 'v1', extras: storeExtras(42, 0), opaque: 1 }));
    const set = await readResponse(c);
    assert.equal([set.magic, set.opcode, set.status, set.opaque], [0x81, BinOp.SET, 0, 1]);
    assert.ok(set.cas > 0n, 'a store answers with the new cas');
    c.send(req(BinOp.GETK, { key: 'k', opaque: 2 }));
    const got = await readResponse(c);
    assert.equal([got.status, got.opaque, got.key, got.value.toString(), got.extras.readUInt32BE(0), got.cas], [0, 2, 'k', 'v1', 42, set.cas]);
    c.send(req(BinOp.ADD, { key: 'k', value: 'x', extras: storeExtras(0, 0), opaque: 3 }));
    assert.is((await readResponse(c)).status, BinStatus.KEY_EEXISTS, 'add of an existing key');
    c.send(req(BinOp.REPLACE, { key: 'nope', value: 'x', extras: storeExtras(0, 0), opaque: 4 }));
    assert.is((await readResponse(c)).status, BinStatus.KEY_ENOENT, 'replace of a missing key');
    c.send(req(BinOp.APPEND, { key: 'k', value: '-end', opaque: 5 }));
    assert.is((await readResponse(c)).status, 0);
    c.send(req(BinOp.PREPEND, { key: 'k', value: 'start-', opaque: 6 }));
    assert.is((await readResponse(c)).status, 0);
    c.send(req(BinOp.APPEND, { key: 'nope', value: 'x', opaque: 7 }));
    assert.is((await readResponse(c)).status, BinStatus.NOT_STORED, 'append to a missing key');
    c.send(req(BinOp.GET, { key: 'k', opaque: 8 }));
    const g = await readResponse(c);
    assert.equal([g.key, g.value.toString()], ['', 'start-v1-end'], 'plain get carries no key');
    c.send(req(BinOp.GET, { key: 'nope', opaque: 9 }));
    const miss = await readResponse(c);
    assert.equal([miss.status, miss.value.toString()], [BinStatus.KEY_ENOENT, 'Not found']);
    c.send(req(BinOp.GETK, { key: 'nope', opaque: 10 }));
    const missK = await readResponse(c);
    assert.equal([missK.status, missK.key], [BinStatus.KEY_ENOENT, 'nope'], 'getk echoes the key on a miss');
    c.send(req(BinOp.TOUCH, { key: 'k', extras: u32(100), opaque: 11 }));
    const t = await readResponse(c);
    assert.equal([t.status, t.extras.readUInt32BE(0), t.value.length], [0, 42, 0]);
    c.send(req(BinOp.GAT, { key: 'k', extras: u32(100), opaque: 12 }));
    assert.is((await readResponse(c)).value.toString(), 'start-v1-end');
    c.send(req(BinOp.DELETE, { key: 'k', opaque: 13 }));
    assert.is((await readResponse(c)).status, 0);
    c.send(req(BinOp.DELETE, { key: 'k', opaque: 14 }));
    assert.is((await readResponse(c)).status, BinStatus.KEY_ENOENT);
    c.send(req(BinOp.TOUCH, { key: 'k', extras: u32(1), opaque: 15 }));
    assert.is((await readResponse(c)).status, BinStatus.KEY_ENOENT);
    c.destroy();
  });
});

test('cas: a stale cas is refused with EEXISTS, a missing key with ENOENT, the right one stores', async () => {
  await withServer(new MemoryBackend(), {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(req(BinOp.SET, { key: 'k', value: 'a', extras: storeExtras(0, 0) }));
    const first = (await readResponse(c)).cas;
    c.send(req(BinOp.SET, { key: 'k', value: 'b', extras: storeExtras(0, 0), cas: first + 100n }));
    assert.is((await readResponse(c)).status, BinStatus.KEY_EEXISTS);
    c.send(req(BinOp.SET, { key: 'missing', value: 'b', extras: storeExtras(0, 0), cas: 5n }));
    assert.is((await readResponse(c)).status, BinStatus.KEY_ENOENT);
    c.send(req(BinOp.REPLACE, { key: 'k', value: 'c', extras: storeExtras(0, 0), cas: first }));
    const ok = await readResponse(c);
    assert.equal([ok.status, ok.cas > first], [0, true]);
    c.send(req(BinOp.DELETE, { key: 'k', cas: first }));
    assert.is((await readResponse(c)).status, BinStatus.KEY_EEXISTS, 'delete with a stale cas');
    c.send(req(BinOp.DELETE, { key: 'k', cas: ok.cas }));
    assert.is((await readResponse(c)).status, 0);
    c.destroy();
  });
});

test('incr/decr: initial value and expiry on a missing key, no creation with 0xffffffff, non-numeric values refused', async () => {
  await withServer(new MemoryBackend(), {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(req(BinOp.INCREMENT, { key: 'n', extras: counterExtras(5n, 100n, 0xffffffff), opaque: 1 }));
    assert.is((await readResponse(c)).status, BinStatus.KEY_ENOENT);
    c.send(req(BinOp.INCREMENT, { key: 'n', extras: counterExtras(5n, 100n, 0), opaque: 2 }));
    const created = await readResponse(c);
    assert.equal([created.status, created.value.readBigUInt64BE(0)], [0, 100n], 'created holding the initial value, delta not applied');
    c.send(req(BinOp.INCREMENT, { key: 'n', extras: counterExtras(5n, 100n, 0), opaque: 3 }));
    assert.is((await readResponse(c)).value.readBigUInt64BE(0), 105n);
    c.send(req(BinOp.DECREMENT, { key: 'n', extras: counterExtras(1000n, 0n, 0), opaque: 4 }));
    assert.is((await readResponse(c)).value.readBigUInt64BE(0), 0n, 'decr stops at 0');
    c.send(req(BinOp.INCREMENT, { key: 'n', extras: counterExtras(2n ** 64n - 1n, 0n, 0), opaque: 5 }));
    assert.is((await readResponse(c)).value.readBigUInt64BE(0), 2n ** 64n - 1n);
    c.send(req(BinOp.INCREMENT, { key: 'n', extras: counterExtras(1n, 0n, 0), opaque: 6 }));
    assert.is((await readResponse(c)).value.readBigUInt64BE(0), 0n, 'incr wraps at 2^64');
    c.send(req(BinOp.SET, { key: 's', value: 'abc', extras: storeExtras(0, 0) }));
    await readResponse(c);
    c.send(req(BinOp.INCREMENT, { key: 's', extras: counterExtras(1n, 0n, 0), opaque: 7 }));
    assert.is((await readResponse(c)).status, BinStatus.DELTA_BADVAL);
    c.send(req(BinOp.INCREMENT, { key: 'n', extras: counterExtras(1n, 0n, 0), cas: 1n, opaque: 8 }));
    assert.is((await readResponse(c)).status, BinStatus.EINVAL, 'a cas on a counter is refused, not ignored');
    // An expiry on the created counter: 1 second, with the backend's clock moved past it.
    c.destroy();
  });
  let nowMs = 1_000_000;
  const backend = new MemoryBackend({ nowMs: () => nowMs });
  await withServer(backend, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(req(BinOp.INCREMENT, { key: 'ttl', extras: counterExtras(1n, 7n, 2) }));
    assert.is((await readResponse(c)).value.readBigUInt64BE(0), 7n);
    nowMs += 3000;
    c.send(req(BinOp.GET, { key: 'ttl' }));
    assert.is((await readResponse(c)).status, BinStatus.KEY_ENOENT, 'the counter expired with the expiry it was created with');
    c.destroy();
  });
});

test('quiet commands answer only misses\' opposites and errors; noop flushes the batch in order', async () => {
  const backend = new MemoryBackend();
  await backend.store('set', Buffer.from('hit'), Buffer.from('H'), 0, 0);
  await withServer(backend, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(Buffer.concat([
      req(BinOp.GETQ, { key: 'miss', opaque: 1 }),
      req(BinOp.GETKQ, { key: 'hit', opaque: 2 }),
      req(BinOp.SETQ, { key: 'q', value: 'v', extras: storeExtras(0, 0), opaque: 3 }),
      req(BinOp.ADDQ, { key: 'q', value: 'v', extras: storeExtras(0, 0), opaque: 4 }),
      req(BinOp.DELETEQ, { key: 'q', opaque: 5 }),
      req(BinOp.INCREMENTQ, { key: 'c', extras: counterExtras(1n, 1n, 0), opaque: 6 }),
      req(BinOp.APPENDQ, { key: 'missing', value: 'x', opaque: 7 }),
      req(BinOp.GATQ, { key: 'miss', extras: u32(5), opaque: 8 }),
      req(BinOp.NOOP, { opaque: 9 }),
    ]));
    const got = [await readResponse(c), await readResponse(c), await readResponse(c), await readResponse(c)];
    assert.equal(got.map((r) => [r.opaque, r.status]), [[2, 0], [4, BinStatus.KEY_EEXISTS], [7, BinStatus.NOT_STORED], [9, 0]]);
    assert.is(got[0]!.key, 'hit');
    c.destroy();
  });
});

test('version, stat, verbosity; quit answers then closes, quitq closes silently', async () => {
  await withServer(new MemoryBackend(), { version: '1.6.21' }, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(req(BinOp.VERSION, { opaque: 1 }));
    assert.is((await readResponse(c)).value.toString(), '1.6.21');
    c.send(req(BinOp.VERBOSITY, { extras: u32(1), opaque: 2 }));
    assert.is((await readResponse(c)).status, 0);
    c.send(req(BinOp.STAT, { opaque: 3 }));
    const stats = new Map<string, string>();
    for (;;) {
      const r = await readResponse(c);
      assert.is(r.opaque, 3);
      if (r.key === '') break;
      stats.set(r.key, r.value.toString());
    }
    assert.is(stats.get('pandakv_proxy_memcached_commands_total'), '3', 'version, verbosity and this stat');
    assert.is(stats.get('version'), '1.6.21');
    c.send(req(BinOp.STAT, { key: 'slabs', opaque: 4 }));
    assert.is((await readResponse(c)).status, BinStatus.KEY_ENOENT);
    c.send(Buffer.concat([req(BinOp.QUIT, { opaque: 5 }), req(BinOp.NOOP, { opaque: 6 })]));
    assert.is((await readResponse(c)).opaque, 5);
    await c.closed();
    assert.is(c.available, 0, 'nothing after quit');
    const q = await RawClient.connect(port);
    q.send(Buffer.concat([req(BinOp.QUITQ), req(BinOp.NOOP)]));
    await q.closed();
    assert.is(q.available, 0);
  });
});

test('SASL PLAIN on a secure server: mechanisms listed, commands refused before login, wrong password refused, roles enforced', async () => {
  const backend = new MemoryBackend({ users: USERS });
  await withServer(backend, { isAuthRequired: true }, async (server, port) => {
    const c = await RawClient.connect(port);
    c.send(req(BinOp.SASL_LIST_MECHS, { opaque: 1 }));
    assert.is((await readResponse(c)).value.toString(), 'PLAIN');
    c.send(req(BinOp.GET, { key: 'k', opaque: 2 }));
    const refused = await readResponse(c);
    assert.equal([refused.status, refused.opaque], [BinStatus.AUTH_ERROR, 2]);
    c.send(req(BinOp.VERSION, { opaque: 3 }));
    assert.is((await readResponse(c)).status, 0, 'version is served before login');
    c.send(req(BinOp.SASL_AUTH, { key: 'CRAM-MD5', value: 'x', opaque: 4 }));
    assert.match((await readResponse(c)).value.toString(), /offers PLAIN/);
    assert.is(await login(c, 'app', 'wrong'), BinStatus.AUTH_ERROR);
    c.send(req(BinOp.SASL_AUTH, { key: 'PLAIN', value: plain('app', 'app pw', 'root'), opaque: 5 }));
    assert.is((await readResponse(c)).status, BinStatus.AUTH_ERROR, 'acting as another identity is refused');
    // Requests pipelined behind the login wait for it.
    c.send(Buffer.concat([
      req(BinOp.SASL_AUTH, { key: 'PLAIN', value: plain('app', 'app pw'), opaque: 6 }),
      req(BinOp.SET, { key: 'k', value: 'v', extras: storeExtras(0, 0), opaque: 7 }),
      req(BinOp.FLUSH, { opaque: 8 }),
    ]));
    const ok = await readResponse(c);
    assert.equal([ok.status, ok.value.toString()], [0, 'Authenticated']);
    assert.is((await readResponse(c)).status, 0, 'the set behind the login ran as app');
    const flush = await readResponse(c);
    assert.equal([flush.status, flush.value.toString()], [BinStatus.EACCESS, 'flush_all needs a principal with the admin role']);
    assert.is(backend.flushes, 0);
    assert.is(backend.items.size, 1);
    assert.is(await login(c, 'reader', 'reader pw'), 0, 'a connection may log in again as someone else');
    c.send(req(BinOp.SET, { key: 'k', value: 'v', extras: storeExtras(0, 0), opaque: 9 }));
    const noAccess = await readResponse(c);
    assert.equal([noAccess.status, noAccess.value.toString()], [BinStatus.EACCESS, 'No access: the principal lacks the write role']);
    assert.is(await login(c, 'root', 'root pw'), 0);
    c.send(req(BinOp.FLUSH, { opaque: 10 }));
    assert.is((await readResponse(c)).status, 0);
    assert.is(backend.flushes, 1);
    assert.is(backend.items.size, 0);
    c.destroy();
    assert.ok(server.stats().pandakv_proxy_memcached_auth_failures_total >= 2);
  });
});

test('too many failed logins close the connection; SASL on a server without auth is an unknown command', async () => {
  await withServer(new MemoryBackend({ users: USERS }), { isAuthRequired: true, maxAuthFailures: 2 }, async (_server, port) => {
    const c = await RawClient.connect(port);
    assert.is(await login(c, 'app', 'bad1'), BinStatus.AUTH_ERROR);
    assert.is(await login(c, 'app', 'bad2'), BinStatus.AUTH_ERROR);
    await c.closed();
  });
  await withServer(new MemoryBackend({ users: USERS }), {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    assert.is(await login(c, 'app', 'app pw'), BinStatus.UNKNOWN_COMMAND);
    c.send(req(BinOp.SET, { key: 'k', value: 'v', extras: storeExtras(0, 0) }));
    assert.is((await readResponse(c)).status, 0, 'without auth, data commands need no login');
    c.destroy();
  });
});

test('before login a body over maxAuthPayloadBytes is refused E2BIG and the stream stays usable', async () => {
  await withServer(new MemoryBackend({ users: USERS }), { isAuthRequired: true, maxAuthPayloadBytes: 64 }, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(req(BinOp.SET, { key: 'k', value: Buffer.alloc(10_000), extras: storeExtras(0, 0), opaque: 1 }));
    const r = await readResponse(c);
    assert.equal([r.status, r.opaque], [BinStatus.E2BIG, 1]);
    assert.is(await login(c, 'app', 'app pw'), 0);
    c.destroy();
  });
});

test('malformed: unknown opcodes and bad shapes are answered and the connection goes on', async () => {
  await withServer(new MemoryBackend(), {}, async (server, port) => {
    const c = await RawClient.connect(port);
    c.send(Buffer.concat([
      req(0x7f, { key: 'x', value: 'y', opaque: 1 }),
      req(BinOp.GET, { opaque: 2 }),
      req(BinOp.SET, { key: 'k', value: 'v', opaque: 3 }),
      req(BinOp.NOOP, { opaque: 4 }),
    ]));
    const r = [await readResponse(c), await readResponse(c), await readResponse(c), await readResponse(c)];
    assert.equal(r.map((x) => [x.opaque, x.status]), [[1, BinStatus.UNKNOWN_COMMAND], [2, BinStatus.EINVAL], [3, BinStatus.EINVAL], [4, 0]]);
    assert.is(server.stats().pandakv_proxy_memcached_errors_total, 3);
    c.destroy();
  });
});

test('oversized: a value over maxValueBytes is refused E2BIG and skipped; a body past maxSwallowBytes closes', async () => {
  await withServer(new MemoryBackend(), { maxValueBytes: 1024, maxSwallowBytes: 64 * 1024 }, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(Buffer.concat([req(BinOp.SET, { key: 'k', value: Buffer.alloc(50_000), extras: storeExtras(0, 0), opaque: 1 }), req(BinOp.NOOP, { opaque: 2 })]));
    assert.equal([(await readResponse(c)).status, (await readResponse(c)).opaque], [BinStatus.E2BIG, 2]);
    const huge = req(BinOp.SET, { key: 'k', extras: storeExtras(0, 0), opaque: 3 });
    huge.writeUInt32BE(100 * 1024 * 1024, 8);
    c.send(huge);
    const r = await readResponse(c);
    assert.equal([r.status, r.opaque], [BinStatus.E2BIG, 3]);
    await c.closed();
  });
});

test('a bad magic byte mid-stream is answered EINVAL and the connection closed', async () => {
  await withServer(new MemoryBackend(), {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(Buffer.concat([req(BinOp.NOOP, { opaque: 1 }), Buffer.from('get k\r\n'.repeat(10)), req(BinOp.NOOP, { opaque: 2 })]));
    assert.is((await readResponse(c)).opaque, 1);
    const bad = await readResponse(c);
    assert.is(bad.status, BinStatus.EINVAL);
    assert.match(bad.value.toString(), /bad magic/);
    await c.closed();
    assert.is(c.available, 0);
  });
});

test('a header cut short by the client\'s end of stream is answered EINVAL and closed', async () => {
  await withServer(new MemoryBackend(), {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(Buffer.concat([req(BinOp.NOOP, { opaque: 1 }), req(BinOp.GET, { key: 'k', opaque: 7 }).subarray(0, 20)]));
    c.end();
    assert.is((await readResponse(c)).opaque, 1);
    const cut = await readResponse(c);
    assert.equal([cut.status, cut.opaque], [BinStatus.EINVAL, 7]);
    await c.closed();
  });
});

test('idle: a client that stops mid-header holds nothing up; close() ends it after closeTimeoutMs', async () => {
  const backend = new MemoryBackend();
  await withServer(backend, { closeTimeoutMs: 200 }, async (server, port) => {
    const idle = await RawClient.connect(port);
    idle.send(req(BinOp.GET, { key: 'k' }).subarray(0, 10));
    const busy = await RawClient.connect(port);
    busy.send(req(BinOp.NOOP, { opaque: 5 }));
    assert.is((await readResponse(busy)).opaque, 5, 'other connections are served meanwhile');
    await until(() => server.stats().pandakv_proxy_memcached_connections_open === 2, 5000, 'both open');
    await server.close();
    await idle.closed();
    await busy.closed();
  });
});

test('idle: a binary client stuck mid-frame is closed by the read deadline without a text line', async () => {
  await withServer(new MemoryBackend(), { readTimeoutMs: 300 }, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(req(BinOp.NOOP, { opaque: 1 }));
    assert.is((await readResponse(c)).opaque, 1);
    c.send(req(BinOp.GET, { key: 'k' }).subarray(0, 10));
    await c.closed(10_000);
    assert.is(c.available, 0, 'nothing but binary frames reaches a binary client');
  });
});

test('answers leave in request order when the backend finishes them out of order', async () => {
  const backend = new DeferredBackend();
  await backend.store('set', Buffer.from('a'), Buffer.from('1'), 0, 0);
  await backend.store('set', Buffer.from('b'), Buffer.from('2'), 0, 0);
  await withServer(backend, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send(Buffer.concat([req(BinOp.GET, { key: 'a', opaque: 1 }), req(BinOp.NOOP, { opaque: 2 }), req(BinOp.GET, { key: 'b', opaque: 3 })]));
    await until(() => backend.parked.length === 2, 5000, 'two reads in flight');
    backend.releaseKey('b');
    backend.releaseKey('a');
    const r = [await readResponse(c), await readResponse(c), await readResponse(c)];
    assert.equal(r.map((x) => x.opaque), [1, 2, 3]);
    c.destroy();
  });
});

test('hostile: random frames after the magic byte never crash the server; it keeps serving', async () => {
  await withServer(new MemoryBackend(), { maxSwallowBytes: 4096 }, async (_server, port) => {
    for (let i = 0; i < 40; i++) {
      const c = await RawClient.connect(port);
      const junk = randomBytes(24 + (i * 37) % 300);
      junk[0] = 0x80;
      c.send(junk);
      c.end();
      await c.closed(10_000);
      for (const r of parseResponses(Buffer.from(c.peek(), 'latin1'))) assert.is(r.magic, 0x81);
    }
    const ok = await RawClient.connect(port);
    ok.send(req(BinOp.NOOP, { opaque: 99 }));
    assert.is((await readResponse(ok)).opaque, 99);
    ok.destroy();
  });
});

test.run();
