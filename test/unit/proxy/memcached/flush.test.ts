import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { McFlushScheduler } from '../../../../proxy/memcached/flush-scheduler.js';
import { until } from '../../../helpers/deadline.js';
import { MemoryBackend } from './memory-backend.js';
import { RawClient, withServer } from './raw-client.js';

const test = suite('proxy memcached - flush_all');

const USERS = {
  root: { password: 'root pw', roles: ['read' as const, 'write' as const, 'admin' as const] },
  app: { password: 'app pw', roles: ['read' as const, 'write' as const] },
};

function authSet(user: string, password: string): string {
  const payload = `${user} ${password}`;
  return `set auth 0 0 ${Buffer.byteLength(payload)}\r\n${payload}\r\n`;
}

test('text flush_all: refused with a clear error without the admin role, served with it', async () => {
  const backend = new MemoryBackend({ users: USERS });
  await backend.store('set', Buffer.from('k'), Buffer.from('v'), 0, 0);
  await withServer(backend, { isAuthRequired: true }, async (_server, port) => {
    const anon = await RawClient.connect(port);
    anon.send('flush_all\r\n');
    assert.is(await anon.readLine(), 'CLIENT_ERROR unauthenticated\r\n');
    anon.destroy();
    const app = await RawClient.connect(port);
    app.send(`${authSet('app', 'app pw')}flush_all\r\nflush_all noreply\r\nmn\r\n`);
    assert.is(await app.read('STORED\r\nCLIENT_ERROR flush_all needs a principal with the admin role\r\nMN\r\n'),
      'STORED\r\nCLIENT_ERROR flush_all needs a principal with the admin role\r\nMN\r\n');
    assert.is(backend.flushes, 0);
    app.destroy();
    const root = await RawClient.connect(port);
    root.send(`${authSet('root', 'root pw')}flush_all\r\nget k\r\nflush_all noreply\r\nmn\r\n`);
    assert.is(await root.read('STORED\r\nOK\r\nEND\r\nMN\r\n'), 'STORED\r\nOK\r\nEND\r\nMN\r\n');
    assert.is(backend.flushes, 2);
    root.destroy();
  });
});

test('text flush_all on a server without auth; a delayed one runs once the delay is over', async () => {
  const backend = new MemoryBackend();
  await withServer(backend, {}, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send('set k 0 0 1\r\nv\r\nflush_all 1\r\nget k\r\n');
    assert.is(await c.read('STORED\r\nOK\r\nVALUE k 0 1\r\nv\r\nEND\r\n'), 'STORED\r\nOK\r\nVALUE k 0 1\r\nv\r\nEND\r\n', 'still there before the delay');
    await until(() => backend.flushes === 1, 10_000, 'the delayed flush ran');
    c.send('get k\r\nflush_all x\r\n');
    assert.is(await c.read('END\r\nCLIENT_ERROR bad command line format\r\n'), 'END\r\nCLIENT_ERROR bad command line format\r\n');
    c.destroy();
  });
});

test('stats cachedump lists keys in slab class 1 for principals with the scan role (memcdump)', async () => {
  const backend = new MemoryBackend({ users: { ...USERS, scanner: { password: 'scan pw', roles: ['read', 'scan'] } } });
  for (const k of ['b', 'a', 'c']) await backend.store('set', Buffer.from(k), Buffer.from(`v-${k}`), 0, 0);
  await withServer(backend, { isAuthRequired: true }, async (_server, port) => {
    const app = await RawClient.connect(port);
    app.send(`${authSet('app', 'app pw')}stats cachedump 1 0\r\n`);
    assert.is(await app.read('STORED\r\nCLIENT_ERROR unauthorized\r\n'), 'STORED\r\nCLIENT_ERROR unauthorized\r\n');
    app.destroy();
    const s = await RawClient.connect(port);
    s.send(`${authSet('scanner', 'scan pw')}stats cachedump 1 0\r\nstats cachedump 2 0\r\nstats cachedump 1 2\r\nstats cachedump 1\r\nstats cachedump x 0\r\n`);
    const expected = 'STORED\r\nITEM a [3 b; 0 s]\r\nITEM b [3 b; 0 s]\r\nITEM c [3 b; 0 s]\r\nEND\r\nEND\r\nITEM a [3 b; 0 s]\r\nITEM b [3 b; 0 s]\r\nEND\r\n'
      + 'CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\n';
    assert.is(await s.read(expected), expected);
    s.destroy();
  });
  await withServer(backend, { maxDumpKeys: 2 }, async (_server, port) => {
    const c = await RawClient.connect(port);
    c.send('stats cachedump 1 0\r\n');
    assert.is(await c.read('ITEM a [3 b; 0 s]\r\nITEM b [3 b; 0 s]\r\nEND\r\n'), 'ITEM a [3 b; 0 s]\r\nITEM b [3 b; 0 s]\r\nEND\r\n', 'capped at maxDumpKeys');
    c.destroy();
  });
});

test('scheduler: a later flush replaces a pending delayed one; flushes never overlap; close drops the pending one', async () => {
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  let release: (() => void) | null = null;
  const s = new McFlushScheduler(async () => {
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise<void>((resolve) => {
      release = resolve;
    });
    running--;
    runs++;
  });
  await s.request(3600);
  assert.ok(s.isPending);
  const first = s.request(0);
  assert.not.ok(s.isPending, 'the immediate flush replaced the delayed one');
  const second = s.request(0);
  await until(() => release !== null, 5000, 'first flush started');
  const r1 = release!;
  release = null;
  r1();
  await first;
  await until(() => release !== null, 5000, 'second flush started after the first');
  release!();
  await second;
  assert.equal([runs, maxRunning], [2, 1]);
  await s.request(3600);
  s.close();
  assert.not.ok(s.isPending);
  await s.request(0);
  assert.is(runs, 2, 'nothing runs after close');
});

test('a failing flush answers an error and the next flush still runs', async () => {
  let calls = 0;
  const s = new McFlushScheduler(async () => {
    calls++;
    if (calls === 1) throw new Error('boom');
  });
  let failed = false;
  await s.request(0).catch(() => {
    failed = true;
  });
  await s.request(0);
  assert.equal([failed, calls], [true, 2]);
});

test.run();
