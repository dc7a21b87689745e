import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import memjs from 'memjs';
import Memcached from 'memcached';
import { openCfg } from '../../../cluster/manager/cfg/open-cfg.js';
import { UserStore } from '../../../cluster/manager/users.js';
import { spawnProxy, type Spawned } from '../../../bin/spawn.js';
import { writeCredentials, type Role } from '../../../shared/auth/index.js';
import { withCluster } from '../../helpers/cluster.js';
import { requireTools, run, withTempDir } from './tools.js';

const test = suite('integration - stock memcached clients against a secure proxy');

/** Password principals, created at the default Argon2id cost the proxy checks with. */
const ROOT = { name: 'mcroot', password: 'root secret pw', roles: ['admin'] as Role[] };
const APP = { name: 'mcapp', password: 'app secret pw', roles: ['read', 'write'] as Role[] };

const PYMEMCACHE_SCRIPT = fileURLToPath(new URL('../../../../test/integration/proxy-memcached/clients/pymemcache-run.py', import.meta.url));

/** One client's outcome, printed as a table at the end. */
interface Outcome {
  client: string;
  isPass: boolean;
  detail: string;
}

/** A secure cluster (2 nodes) and a proxy on it; `body` gets the proxy's memcached host and port. */
async function withSecureProxy(body: (host: string, port: number, dir: string) => Promise<void>): Promise<void> {
  await withCluster({
    nodes: 2,
    isSecure: true,
    deadlineMs: 300_000,
    setup: async (cfgUrl, dir) => {
      const cfg = await openCfg(cfgUrl);
      try {
        const users = new UserStore(cfg);
        const { credentials } = await users.add('cluster', ['admin']);
        writeCredentials(join(dir, 'cluster.json'), credentials);
        for (const p of [ROOT, APP]) await users.add(p.name, p.roles, p.password);
      } finally {
        await cfg.close();
      }
    },
    nodeArgsFor: (dir) => ['--credentials', join(dir, 'cluster.json')],
  }, async ({ manager, dir }) => {
    let proxy: (Spawned & { memcached: string | null }) | null = null;
    try {
      proxy = await spawnProxy(['--map', manager.address, '--credentials', join(dir, 'cluster.json')], 30_000);
      const [host, port] = proxy.memcached!.split(':');
      await body(host!, Number(port), dir);
    } finally {
      await proxy?.stop('SIGKILL');
    }
  });
}

/** Run one client's script; a thrown error or failed assertion becomes a FAIL row. */
async function step(outcomes: Outcome[], client: string, body: () => Promise<string>): Promise<void> {
  try {
    outcomes.push({ client, isPass: true, detail: await body() });
  } catch (err) {
    outcomes.push({ client, isPass: false, detail: describe(err) });
  }
}

/** One line for a failure; for an assertion, what was expected and what came. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const a = err as Error & { actual?: unknown; expects?: unknown };
  const text = 'expects' in a ? `${a.message.split('\n')[0]} expected ${JSON.stringify(a.expects)} got ${JSON.stringify(a.actual)}` : a.message;
  return text.replace(/\s+/g, ' ').slice(0, 600);
}

function memjsClient(host: string, port: number, user: string, password: string): memjs.Client {
  // Generous timeouts (seconds): a login derives an Argon2id key on a loaded machine.
  return memjs.Client.create(`${host}:${port}`, { username: user, password, retries: 0, timeout: 30, conntimeout: 60, logger: { log: () => undefined } });
}

async function memjsScript(host: string, port: number): Promise<string> {
  const app = memjsClient(host, port, APP.name, APP.password);
  try {
    assert.is(await app.set('memjs:k', 'v1', {}), true);
    assert.is((await app.get('memjs:k')).value?.toString(), 'v1');
    assert.is(await app.add('memjs:k', 'x', {}), false, 'add of an existing key');
    assert.is(await app.replace('memjs:k', 'v2', {}), true);
    assert.is(await app.append('memjs:k', '-a'), true);
    assert.is((await app.get('memjs:k')).value?.toString(), 'v2-a');
    // memjs 1.3.2's prepend sends the append opcode (0x0e): its own bug, so it is not exercised here.
    assert.equal(await app.increment('memjs:n', 5, { initial: 10 }), { success: true, value: 10 }, 'created with the initial value');
    assert.equal(await app.increment('memjs:n', 5, { initial: 10 }), { success: true, value: 15 });
    assert.equal(await app.decrement('memjs:n', 20, {}), { success: true, value: 0 });
    assert.is(await app.touch('memjs:k', 300), true);
    assert.is(await app.delete('memjs:n'), true);
    assert.is((await app.get('memjs:n')).value, null);
    // memjs reports every flush as done whatever the answer; the item shows it was refused.
    await app.flush();
    assert.is((await app.get('memjs:k')).value?.toString(), 'v2-a', 'a flush by a principal without admin removed nothing');
  } finally {
    app.close();
  }
  const bad = memjsClient(host, port, APP.name, 'wrong');
  try {
    let failed = false;
    await bad.get('memjs:k').catch(() => {
      failed = true;
    });
    assert.ok(failed, 'a wrong password is refused');
  } finally {
    bad.close();
  }
  const root = memjsClient(host, port, ROOT.name, ROOT.password);
  try {
    await root.flush();
    assert.is((await root.get('memjs:k')).value, null, 'the admin flush removed the item');
  } finally {
    root.close();
  }
  return 'binary + SASL PLAIN: set/get/add/replace/append/incr(initial)/decr/touch/delete (prepend not run: memjs 1.3.2 sends it as an append); wrong password refused; flush refused for mcapp, done for mcroot';
}

/** The `memcached` npm client's callbacks as promises. */
function call<T>(fn: (cb: (err: Error | undefined, result: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, result) => (err ? reject(err) : resolve(result))));
}

async function memcachedNpmScript(host: string, port: number): Promise<string> {
  // One connection: memcached's ASCII login holds for the connection that sent it.
  const m = new Memcached(`${host}:${port}`, { poolSize: 1, retries: 0, timeout: 30_000, idle: 60_000 });
  try {
    assert.is(await call<boolean>((cb) => m.set('auth', `${APP.name} ${APP.password}`, 0, cb)), true, 'login');
    assert.is(await call<boolean>((cb) => m.set('npm:k', 'v1', 0, cb)), true);
    assert.is(await call<unknown>((cb) => m.get('npm:k', cb)), 'v1');
    assert.is(await call<boolean>((cb) => m.add('npm:k', 'x', 0, cb)).catch(() => false), false, 'add of an existing key');
    assert.is(await call<boolean>((cb) => m.replace('npm:k', 'v2', 0, cb)), true);
    assert.is(await call<boolean>((cb) => m.append('npm:k', '-a', cb)), true);
    assert.is(await call<boolean>((cb) => m.prepend('npm:k', 'p-', cb)), true);
    const gets = await call<{ cas: string; [key: string]: string }>((cb) => m.gets('npm:k', cb));
    assert.is(gets['npm:k'], 'p-v2-a');
    assert.is(await call<boolean>((cb) => m.cas('npm:k', 'v3', gets.cas, 0, cb)), true);
    assert.is(await call<boolean>((cb) => m.cas('npm:k', 'v4', gets.cas, 0, cb)), false, 'a stale cas');
    assert.is(await call<boolean>((cb) => m.set('npm:n', '10', 0, cb)), true);
    assert.is(await call<number | boolean>((cb) => m.incr('npm:n', 5, cb)), 15);
    assert.is(await call<number | boolean>((cb) => m.decr('npm:n', 20, cb)), 0);
    await call<undefined>((cb) => m.touch('npm:k', 300, (err: Error | undefined) => cb(err, undefined)));
    assert.equal(await call<Record<string, unknown>>((cb) => m.getMulti(['npm:k', 'npm:n', 'npm:missing'], cb)), { 'npm:k': 'v3', 'npm:n': '0' });
    assert.is(await call<boolean>((cb) => m.del('npm:n', cb)), true);
    const flush = await call<unknown>((cb) => m.flush(cb)).then(() => 'done', (err: Error) => err.message);
    assert.match(flush, /admin role/, `flush by mcapp is refused clearly: ${flush}`);
    assert.is(await call<unknown>((cb) => m.get('npm:k', cb)), 'v3');
  } finally {
    m.end();
  }
  return 'text protocol, login by the first set (poolSize 1): set/get/add/replace/append/prepend/gets/cas/incr/decr/touch/getMulti/del; flush refused for mcapp with "flush_all needs a principal with the admin role"';
}

async function pymemcacheScript(host: string, port: number, dir: string): Promise<string> {
  const py = async (user: string, password: string, prefix: string): Promise<Record<string, unknown>> => {
    const r = await run('/usr/bin/python3', [PYMEMCACHE_SCRIPT, host, String(port), user, password, prefix], dir, 120_000);
    if (r.code !== 0) throw new Error(`pymemcache exited ${r.code}: ${r.stderr.trim().split('\n').filter((l) => /pymemcache-run|Error/.test(l)).join(' | ')}`);
    return JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  };
  const common = {
    set: true, get: 'v1', add_existing: false, replace: true, append: true, prepend: true, gets: 'p-v2-a', cas_ok: true, cas_stale: false,
    set_counter: true, incr: 15, decr: 0, touch: true, delete: true, version: '1.6.21', stats_has_commands: true,
  };
  const app = await py(APP.name, APP.password, 'py-app');
  assert.equal(app, {
    ...common, get_many: { 'py-app:k': 'v3', 'py-app:n': '0' }, flush_all: 'refused: flush_all needs a principal with the admin role', get_after_flush: 'v3',
  });
  const root = await py(ROOT.name, ROOT.password, 'py-root');
  assert.equal(root, { ...common, get_many: { 'py-root:k': 'v3', 'py-root:n': '0' }, flush_all: true, get_after_flush: null });
  return 'text protocol, login by the first set: set/get/add/replace/append/prepend/gets/cas/incr/decr/touch/get_many/delete/version/stats; flush_all refused for mcapp, done for mcroot';
}

async function libmemcachedScript(host: string, port: number, dir: string): Promise<string> {
  const bin = requireTools();
  const servers = `--servers=${host}:${port}`;
  const as = (p: { name: string; password: string }): string[] => [`--username=${p.name}`, `--password=${p.password}`];
  const data = randomBytes(200_000);
  await writeFile(join(dir, 'blob.bin'), data);
  const expectOk = async (tool: string, args: string[]): Promise<void> => {
    const r = await run(tool, args, dir, 60_000);
    assert.is(r.code, 0, `${tool} ${args.join(' ')}: ${r.stderr}`);
  };
  await expectOk(bin.cp, [servers, '--binary', ...as(APP), 'blob.bin']);
  await expectOk(bin.cat, [servers, '--binary', ...as(APP), `--file=${join(dir, 'out.bin')}`, 'blob.bin']);
  assert.ok((await readFile(join(dir, 'out.bin'))).equals(data), 'memccat returned the bytes memccp stored');
  await expectOk(bin.rm, [servers, '--binary', ...as(APP), 'blob.bin']);
  const gone = await run(bin.cat, [servers, '--binary', ...as(APP), 'blob.bin'], dir);
  assert.is.not(gone.code, 0, 'the key is gone after memcrm');
  await expectOk(bin.cp, [servers, '--binary', ...as(APP), 'blob.bin']);
  // libmemcached ignores the answer to a binary flush: exit 0 either way, so look at the data.
  await expectOk(bin.flush, [servers, '--binary', ...as(APP)]);
  await expectOk(bin.cat, [servers, '--binary', ...as(APP), `--file=${join(dir, 'out2.bin')}`, 'blob.bin']);
  await expectOk(bin.flush, [servers, '--binary', ...as(ROOT)]);
  const flushed = await run(bin.cat, [servers, '--binary', ...as(APP), 'blob.bin'], dir);
  assert.is.not(flushed.code, 0, 'the admin flush removed the file');
  const badPw = await run(bin.cp, [servers, '--binary', `--username=${APP.name}`, '--password=wrong', 'blob.bin'], dir);
  assert.is.not(badPw.code, 0, 'a wrong password is refused');
  // Text mode: libmemcached itself refuses SASL over the text protocol, before sending anything.
  const text = await run(bin.cp, [servers, ...as(APP), 'blob.bin'], dir);
  assert.is.not(text.code, 0);
  assert.match(text.stderr, /not supported via the ASCII protocol/);
  // Text mode logs in as memcached's ASCII authentication does: the first set of the
  // connection carries "user password". memccp copies its files in order on one
  // connection, so a file holding the login, copied first, logs in the ones after it.
  await writeFile(join(dir, 'login'), `${APP.name} ${APP.password}`);
  await writeFile(join(dir, 'bad-login'), `${APP.name} wrong`);
  const textNoLogin = await run(bin.cp, [servers, 'blob.bin'], dir);
  assert.is.not(textNoLogin.code, 0, 'text mode without a login is refused');
  const textBadLogin = await run(bin.cp, [servers, 'bad-login', 'blob.bin'], dir);
  assert.is.not(textBadLogin.code, 0, 'text mode with a wrong password is refused');
  const stillGone = await run(bin.cat, [servers, '--binary', ...as(APP), 'blob.bin'], dir);
  assert.is.not(stillGone.code, 0, 'nothing was stored by the refused text copies');
  await expectOk(bin.cp, [servers, 'login', 'blob.bin']);
  await expectOk(bin.cat, [servers, '--binary', ...as(APP), `--file=${join(dir, 'out3.bin')}`, 'blob.bin']);
  assert.ok((await readFile(join(dir, 'out3.bin'))).equals(data), 'the text-mode copy stored the file byte for byte');
  // memcdump: libmemcached has no binary dump and no text SASL, so it cannot log in.
  const dump = await run(bin.dump, [servers, ...as(APP)], dir);
  assert.is.not(dump.code, 0);
  return `${bin.cp}/${bin.cat}/${bin.rm}/${bin.flush} --binary --username/--password work (flush refused for mcapp: data kept; done for mcroot); ` +
    'text mode with --username is refused by libmemcached itself ("not supported via the ASCII protocol"); ' +
    `text-mode ${bin.cp} logs in with a "user password" file copied first (memcached ASCII auth), refused without it or with a wrong password; ` +
    'memcdump cannot log in (no binary dump in libmemcached)';
}

test('memjs, the memcached npm client, pymemcache and the libmemcached tools log in to a secure proxy and work', async () => {
  const outcomes: Outcome[] = [];
  await withTempDir(async (dir) => {
    await withSecureProxy(async (host, port) => {
      await step(outcomes, 'memjs (npm)', () => memjsScript(host, port));
      await step(outcomes, 'memcached (npm)', () => memcachedNpmScript(host, port));
      await step(outcomes, 'python3-pymemcache', () => pymemcacheScript(host, port, dir));
      await step(outcomes, 'libmemcached-tools', () => libmemcachedScript(host, port, dir));
    });
  });
  for (const o of outcomes) console.log(`  ${o.isPass ? 'PASS' : 'FAIL'}  ${o.client}: ${o.detail}`);
  assert.equal(outcomes.filter((o) => !o.isPass).map((o) => o.client), []);
});

test.run();
