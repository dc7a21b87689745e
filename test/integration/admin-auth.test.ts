import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CLI_PATH } from '../../bin/spawn.js';
import { Manager } from '../../cluster/manager/manager.js';
import { UserStore } from '../../cluster/manager/users.js';
import { AdminSessions } from '../../cluster/manager/admin-auth.js';
import type { Cfg } from '../../cluster/manager/cfg/cfg.js';
import {
  AuthClient, PASSWORD_LIMITS_MIN, fromHex, generateKeyPair, keyCredentials, loadCredentials, toHex, writeCredentials,
  type Credentials, type PasswordLimits, type Role,
} from '../../shared/auth/index.js';
import { openCfg } from '../../cluster/manager/cfg/open-cfg.js';
import { poll, until, withDeadline } from '../helpers/deadline.js';
import { withEtcd } from '../helpers/etcd.js';

const run = promisify(execFile);
/** Cluster event lines of in-process managers stay out of the test output. */
const quiet = (): void => undefined;
const test = suite('integration - admin API authentication');

interface Reply {
  status: number;
  headers: Headers;
  body: { error?: { code: string; message: string }; [field: string]: unknown };
}

interface Secure {
  manager: Manager;
  url: string;
  dir: string;
  /** What the manager logged about failed attempts. */
  logs: string[];
  /** Add a principal (through the manager's own store handle) and wait until the manager knows it. */
  addUser(name: string, roles: Role[], password?: string, limits?: Partial<PasswordLimits>): Promise<{ credentials: Credentials; file: string }>;
  removeUser(name: string): Promise<void>;
}

/**
 * A secure in-process manager on a file config store in a temp dir. A file store has one
 * owner, so principals are changed through the manager's own handle, as `pandakv user`
 * would change them in etcd while the manager runs.
 */
async function withSecureManager<T>(body: (s: Secure) => Promise<T>, ms = 30_000): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-admin-auth-'));
  const manager = await Manager.start({ cfg: `file:${join(dir, 'cfg.json')}`, logWrite: quiet });
  try {
    assert.ok(manager.auth !== null, 'secure by default');
    const logs: string[] = [];
    (manager.auth as unknown as { log: (line: string) => void }).log = (line) => logs.push(line);
    const users = new UserStore((manager as unknown as { cfg: Cfg }).cfg);
    const principals = manager.auth.principals;
    const s: Secure = {
      manager, url: manager.address, dir, logs,
      async addUser(name, roles, password, limits = PASSWORD_LIMITS_MIN) {
        const { principal, credentials } = await users.add(name, roles, password, limits);
        await until(() => principals.publicKeyOf(name) !== undefined && toHex(principals.publicKeyOf(name)!) === principal.publicKey, 5000, `manager knows ${name}`);
        const file = join(dir, `${name}.credentials.json`);
        writeCredentials(file, credentials);
        return { credentials, file };
      },
      async removeUser(name) {
        await users.remove(name);
        await until(() => !principals.has(name), 5000, `manager forgets ${name}`);
      },
    };
    return await withDeadline(body(s), ms, 'admin auth test body');
  } finally {
    await manager.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function call(url: string, method: 'GET' | 'POST', path: string, body?: unknown, token?: string): Promise<Reply> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${url}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Reply['body'] };
}

/** The handshake as a client runs it; returns the AUTH body sent (to replay it) and the answer. */
async function authenticate(url: string, credentials: Credentials): Promise<{ sent: Record<string, string>; reply: Reply; client: AuthClient }> {
  const client = new AuthClient({ credentials, isTrustOnFirstUse: true, passwordLimits: PASSWORD_LIMITS_MIN });
  const c = await call(url, 'POST', '/api/auth/challenge', { principal: credentials.principal });
  assert.is(c.status, 200, JSON.stringify(c.body));
  const m = client.answer({
    nonce: fromHex(c.body.nonce as string),
    serverId: c.body.serverId,
    ...(c.body.salt === undefined ? {} : { salt: fromHex(c.body.salt as string) }),
  });
  const sent = { principal: m.principal, nonce: toHex(m.nonce), clientNonce: toHex(m.clientNonce), signature: toHex(m.signature) };
  return { sent, reply: await call(url, 'POST', '/api/auth', sent), client };
}

async function tokenOf(url: string, credentials: Credentials): Promise<string> {
  const { reply } = await authenticate(url, credentials);
  assert.is(reply.status, 200, JSON.stringify(reply.body));
  return reply.body.token as string;
}

function codeOf(r: Reply): string | undefined {
  return r.body.error?.code;
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = { ...process.env };
  delete base.PANDAKV_CREDENTIALS;
  delete base.PANDAKV_MANAGER;
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI_PATH, 'cluster', ...args], { timeout: 20_000, env: { ...base, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('without a token every admin route is 401 AUTH_NEEDED, and nothing runs', () => withSecureManager(async ({ url }) => {
  const none = await call(url, 'GET', '/api/status');
  assert.is(none.status, 401);
  assert.is(codeOf(none), 'KV_ERR_AUTH_NEEDED');
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
  const unknown = await call(url, 'GET', '/api/status', undefined, 'ab'.repeat(32));
  assert.is(codeOf(unknown), 'KV_ERR_AUTH_NEEDED');
  const notHex = await fetch(`${url}/api/status`, { headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } });
  assert.is(notHex.status, 401);
  await notHex.arrayBuffer();
  for (const path of ['/api/split', '/api/rebalance', '/api/nodes/add', '/api/settings']) {
    const r = await call(url, 'POST', path, { node: 'x', redundancy: 2 });
    assert.is(r.status, 401, path);
    assert.is(codeOf(r), 'KV_ERR_AUTH_NEEDED', path);
  }
  // Health and metrics stay open (they carry no admin power).
  assert.is((await fetch(`${url}/healthz`)).status, 200);
}));

test('an admin principal authenticates, the manager proves its key, and status works', () => withSecureManager(async ({ url, manager, addUser }) => {
  const { credentials } = await addUser('ops', ['admin']);
  const { reply, client } = await authenticate(url, credentials);
  assert.is(reply.status, 200);
  assert.match(reply.body.token as string, /^[0-9a-f]{64}$/);
  assert.equal(reply.body.roles, ['admin']);
  assert.is(reply.body.expiresInMs, 600_000);
  assert.is(reply.body.serverPublicKey, toHex(manager.auth!.keyPair.publicKey));
  assert.ok(client.verifyServer(manager.auth!.keyPair.publicKey, fromHex(reply.body.serverSignature as string), reply.body.serverPublicKey));
  const status = await call(url, 'GET', '/api/status', undefined, reply.body.token as string);
  assert.is(status.status, 200, JSON.stringify(status.body));
  assert.is(typeof status.body.isLeader, 'boolean');
  // A password principal gets its salt from a challenge naming it.
  const { credentials: pw } = await addUser('pw-admin', ['admin'], 'correct horse battery staple');
  const t = await tokenOf(url, pw);
  assert.is((await call(url, 'GET', '/api/status', undefined, t)).status, 200);
}));

test('a wrong signature or an unknown name is AUTH_FAILED with one message, logged without secrets', () => withSecureManager(async ({ url, addUser, logs }) => {
  await addUser('ops', ['admin']);
  const impostor = keyCredentials('ops', generateKeyPair());
  const bad = await authenticate(url, impostor);
  assert.is(bad.reply.status, 401);
  assert.is(codeOf(bad.reply), 'KV_ERR_AUTH_FAILED');
  const nobody = await authenticate(url, keyCredentials('nobody', generateKeyPair()));
  assert.is(nobody.reply.status, 401);
  assert.equal(nobody.reply.body, bad.reply.body, 'the same answer for every reason');
  assert.is(bad.reply.body.token, undefined);
  assert.is(logs.length, 2);
  assert.match(logs[0]!, /\/api\/auth: auth failed from \S*127\.0\.0\.1 principal="ops" reason=bad-signature/);
  assert.match(logs[1]!, /principal="nobody" reason=unknown-principal/);
  for (const line of logs) {
    assert.not.ok(line.includes(bad.sent.signature) || line.includes(bad.sent.nonce) || line.includes(bad.sent.clientNonce), 'no secrets or nonces in logs');
  }
  // A long name is cut short in the log.
  await call(url, 'POST', '/api/auth', { principal: 'x'.repeat(64), nonce: '00'.repeat(32), clientNonce: '00'.repeat(32), signature: '00'.repeat(64) });
  assert.ok(logs[2]!.length < 300);
}));

test('a replayed /api/auth is refused and gets no token', () => withSecureManager(async ({ url, addUser, logs }) => {
  const { credentials } = await addUser('ops', ['admin']);
  const first = await authenticate(url, credentials);
  assert.is(first.reply.status, 200);
  const again = await call(url, 'POST', '/api/auth', first.sent);
  assert.is(again.status, 401);
  assert.is(codeOf(again), 'KV_ERR_AUTH_FAILED');
  assert.is(again.body.token, undefined);
  assert.match(logs.at(-1)!, /reason=replay/);
  // A nonce never issued is refused the same way.
  const madeUp = await call(url, 'POST', '/api/auth', { ...first.sent, nonce: 'ab'.repeat(32) });
  assert.is(codeOf(madeUp), 'KV_ERR_AUTH_FAILED');
  assert.match(logs.at(-1)!, /reason=unknown-nonce/);
}));

test('a principal without the admin role gets 403 FORBIDDEN', () => withSecureManager(async ({ url, addUser }) => {
  const { credentials } = await addUser('reader', ['read', 'write', 'scan']);
  const { reply } = await authenticate(url, credentials);
  assert.is(reply.status, 200);
  assert.equal(reply.body.roles, ['read', 'write', 'scan']);
  for (const [method, path] of [['GET', '/api/status'], ['POST', '/api/split']] as const) {
    const r = await call(url, method, path, undefined, reply.body.token as string);
    assert.is(r.status, 403, path);
    assert.is(codeOf(r), 'KV_ERR_FORBIDDEN', path);
  }
}));

test('removing or re-keying a principal ends its tokens at once', () => withSecureManager(async ({ url, addUser, removeUser }) => {
  const { credentials } = await addUser('ops', ['admin']);
  const token = await tokenOf(url, credentials);
  assert.is((await call(url, 'GET', '/api/status', undefined, token)).status, 200);
  await removeUser('ops');
  const gone = await call(url, 'GET', '/api/status', undefined, token);
  assert.is(gone.status, 401);
  assert.is(codeOf(gone), 'KV_ERR_AUTH_NEEDED');
  // Same name, new key: the old credentials and the old token are both dead.
  const { credentials: rekeyed } = await addUser('ops', ['admin']);
  assert.is((await call(url, 'GET', '/api/status', undefined, token)).status, 401);
  assert.is((await authenticate(url, credentials)).reply.status, 401);
  const fresh = await tokenOf(url, rekeyed);
  assert.is((await call(url, 'GET', '/api/status', undefined, fresh)).status, 200);
  await removeUser('ops');
  await addUser('ops', ['admin']);
  assert.is((await call(url, 'GET', '/api/status', undefined, fresh)).status, 401, 're-keyed while the token lived');
}));

test('hostile bodies get 400/413 with codes and the manager keeps serving', () => withSecureManager(async ({ url, addUser }) => {
  const { credentials } = await addUser('ops', ['admin']);
  const ok = { principal: 'ops', nonce: '00'.repeat(32), clientNonce: '00'.repeat(32), signature: '00'.repeat(64) };
  const cases: Array<[string, unknown, number, string]> = [
    ['/api/auth/challenge', '{not json', 400, 'KV_ERR_BAD_REQUEST'],
    ['/api/auth/challenge', '[1,2]', 400, 'KV_ERR_BAD_REQUEST'],
    ['/api/auth/challenge', { principal: 5 }, 400, 'KV_ERR_BAD_REQUEST'],
    ['/api/auth/challenge', { principal: 'x'.repeat(10_000) }, 400, 'KV_ERR_BAD_REQUEST'],
    ['/api/auth/challenge', { principal: 'a'.repeat(100 * 1024) }, 413, 'KV_ERR_TOO_LARGE'],
    ['/api/auth', 'null', 400, 'KV_ERR_BAD_REQUEST'],
    ['/api/auth', { ...ok, nonce: 7 }, 400, 'KV_ERR_BAD_REQUEST'],
    ['/api/auth', { ...ok, principal: ['ops'] }, 400, 'KV_ERR_BAD_REQUEST'],
    ['/api/auth', { ...ok, signature: 'ab'.repeat(20_000) }, 400, 'KV_ERR_BAD_REQUEST'],
    ['/api/auth', { ...ok, clientNonce: 'zz'.repeat(32) }, 400, 'KV_ERR_BAD_REQUEST'],
    ['/api/auth', { ...ok, signature: 'ab'.repeat(60 * 1024) }, 413, 'KV_ERR_TOO_LARGE'],
  ];
  for (const [path, body, status, code] of cases) {
    const r = await call(url, 'POST', path, body);
    assert.is(r.status, status, `${path} ${String(JSON.stringify(body)).slice(0, 40)}`);
    assert.is(codeOf(r), code);
  }
  // Without a token a large body is refused before it is read.
  const big = await call(url, 'POST', '/api/split', 'x'.repeat(1024 * 1024));
  assert.is(big.status, 401);
  // Still serving, and the right principal still gets in.
  const token = await tokenOf(url, credentials);
  assert.is((await call(url, 'GET', '/api/status', undefined, token)).status, 200);
  // With a token, the admin routes' own checks still apply.
  assert.is(codeOf(await call(url, 'POST', '/api/nodes/add', '{"node": 5}', token)), 'KV_ERR_BAD_REQUEST');
  assert.is((await call(url, 'POST', '/api/nodes/add', 'x'.repeat(100 * 1024), token)).status, 413);
}));

test('failed attempts from one address are rate-limited: 429 BUSY with retryAfterMs', () => withSecureManager(async ({ url, addUser, logs }) => {
  const { credentials } = await addUser('ops', ['admin']);
  const token = await tokenOf(url, credentials);
  const impostor = keyCredentials('ops', generateKeyPair());
  for (let i = 0; i < 10; i++) assert.is((await authenticate(url, impostor)).reply.status, 401, `attempt ${i}`);
  assert.match(logs.at(-1)!, /rate-limited$/);
  const limited = await call(url, 'POST', '/api/auth/challenge', { principal: 'ops' });
  assert.is(limited.status, 429);
  assert.is(codeOf(limited), 'KV_ERR_BUSY');
  assert.ok(typeof limited.body.retryAfterMs === 'number' && limited.body.retryAfterMs > 0 && limited.body.retryAfterMs <= 2000);
  assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  const direct = await call(url, 'POST', '/api/auth', { principal: 'ops', nonce: '00'.repeat(32), clientNonce: '00'.repeat(32), signature: '00'.repeat(64) });
  assert.is(direct.status, 429, 'even a well-formed attempt waits');
  assert.is(logs.length, 10, 'refusals while limited are not logged one by one');
  // A caller that already holds a token is not affected (tokens are not guessable).
  assert.is((await call(url, 'GET', '/api/status', undefined, token)).status, 200);
}));

test('sessions: tokens expire, challenges and tokens are bounded, and the limiter refills (fake clock)', () => withSecureManager(async ({ manager, addUser }) => {
  const { credentials } = await addUser('ops', ['admin']);
  let now = 1_000_000;
  const sessions = new AdminSessions(manager.auth!, { now: () => now, tokenTtlMs: 1000, maxTokens: 2, maxChallenges: 3, failureBurst: 2, failureRefillMs: 500 });
  const login = (): string => {
    const client = new AuthClient({ credentials });
    const c = sessions.challenge({ principal: 'ops' }, 'a');
    const m = client.answer({ nonce: fromHex(c.nonce), serverId: c.serverId, salt: fromHex(c.salt!) });
    return sessions.login({ principal: m.principal, nonce: toHex(m.nonce), clientNonce: toHex(m.clientNonce), signature: toHex(m.signature) }, 'a').token;
  };
  const t1 = login();
  assert.is(sessions.authorize(`Bearer ${t1}`).name, 'ops');
  assert.is(sessions.authorize(`bearer ${t1.toUpperCase()}`).name, 'ops', 'scheme and hex in either case');
  now += 1000;
  assert.throws(() => sessions.authorize(`Bearer ${t1}`), (e: { code?: string }) => e.code === 'KV_ERR_AUTH_NEEDED');
  // Bounded tokens: the third evicts the oldest.
  const [a, b, c] = [login(), login(), login()];
  assert.is(sessions.tokenCount, 2);
  assert.throws(() => sessions.authorize(`Bearer ${a}`), (e: { code?: string }) => e.code === 'KV_ERR_AUTH_NEEDED');
  sessions.authorize(`Bearer ${b}`);
  sessions.authorize(`Bearer ${c}`);
  // Bounded challenges: the oldest outstanding one is retired.
  for (let i = 0; i < 5; i++) sessions.challenge({}, 'b');
  assert.is(sessions.pendingCount, 3);
  // The limiter: 2 failures, then BUSY until it refills.
  const bad = { principal: 'ops', nonce: '00'.repeat(32), clientNonce: '00'.repeat(32), signature: '00'.repeat(64) };
  for (let i = 0; i < 2; i++) assert.throws(() => sessions.login(bad, 'c'), (e: { code?: string }) => e.code === 'KV_ERR_AUTH_FAILED');
  assert.throws(() => sessions.challenge({}, 'c'), (e: { code?: string; details?: { retryAfterMs?: number } }) => e.code === 'KV_ERR_BUSY' && e.details?.retryAfterMs === 500);
  sessions.challenge({}, 'd');
  now += 500;
  sessions.challenge({}, 'c');
  assert.throws(() => sessions.login(bad, 'c'), (e: { code?: string }) => e.code === 'KV_ERR_AUTH_FAILED');
  assert.throws(() => sessions.login(bad, 'c'), (e: { code?: string }) => e.code === 'KV_ERR_BUSY');
  now += 10_000;
  sessions.limiter.check('c');
  assert.is(sessions.limiter.size, 0, 'a refilled bucket is forgotten');
}));

test('an insecure manager needs no header and says so on the auth routes', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-admin-insecure-'));
  const manager = await Manager.start({ cfg: `file:${join(dir, 'cfg.json')}`, isInsecure: true, logWrite: quiet });
  try {
    assert.is(manager.auth, null);
    assert.is((await call(manager.address, 'GET', '/api/status')).status, 200);
    const c = await call(manager.address, 'POST', '/api/auth/challenge', {});
    assert.is(c.status, 400);
    assert.is(c.body.isInsecure, true);
    const r = await cli(['status', '--manager', manager.address]);
    assert.is(r.code, 0, r.stderr);
    // Credentials given anyway: used for nothing, with a warning; a pinned key is refused.
    const file = join(dir, 'ops.credentials.json');
    writeCredentials(file, keyCredentials('ops', generateKeyPair()));
    const warned = await cli(['status', '--manager', manager.address, '--credentials', file]);
    assert.is(warned.code, 0, warned.stderr);
    assert.match(warned.stderr, /runs --insecure/);
    const pinned = await cli(['status', '--manager', manager.address, '--credentials', file, '--manager-key', toHex(generateKeyPair().publicKey)]);
    assert.is(pinned.code, 1);
  } finally {
    await manager.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('pandakv cluster status --credentials FILE works against a secure manager and fails cleanly without', () => withSecureManager(async ({ url, manager, addUser }) => {
  const { file } = await addUser('ops', ['admin']);
  const ok = await cli(['status', '--manager', url, '--credentials', file]);
  assert.is(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^map: none yet/m);
  assert.match(ok.stdout, /^leader: /m);
  const json = await cli(['status', '--manager', url, '--json'], { PANDAKV_CREDENTIALS: file });
  assert.is(json.code, 0, json.stderr);
  assert.is(typeof (JSON.parse(json.stdout) as { isLeader: unknown }).isLeader, 'boolean');

  const without = await cli(['status', '--manager', url]);
  assert.is(without.code, 1);
  assert.is(without.stdout, '');
  assert.is(without.stderr.trim().split('\n').length, 1, without.stderr);
  assert.match(without.stderr, /--credentials/);

  // Pinning the manager's key: the right key works, another one is refused.
  const key = toHex(manager.auth!.keyPair.publicKey);
  assert.is((await cli(['status', '--manager', url, '--credentials', file, '--manager-key', key])).code, 0);
  const wrong = await cli(['status', '--manager', url, '--credentials', file, '--manager-key', toHex(generateKeyPair().publicKey)]);
  assert.is(wrong.code, 1);
  assert.match(wrong.stderr, /could not prove its identity/);
  assert.is((await cli(['status', '--manager', url, '--credentials', file, '--manager-key', 'nothex'])).code, 2);

  // A reader is told it lacks the role.
  const { file: readerFile } = await addUser('reader', ['read']);
  const reader = await cli(['status', '--manager', url, '--credentials', readerFile]);
  assert.is(reader.code, 1);
  assert.match(reader.stderr, /KV_ERR_FORBIDDEN/);
  // A password principal (the CLI derives its key at the default cost, as `pandakv user` made it).
  const { file: pwFile } = await addUser('pw-ops', ['admin'], 'correct horse battery staple', {});
  const pw = await cli(['status', '--manager', url, '--credentials', pwFile]);
  assert.is(pw.code, 0, pw.stderr);
}));

test('the CLI follows a follower to the leader and authenticates again there (each manager has its own key)', () => withEtcd(async (etcd) => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-admin-redirect-'));
  const managers: Manager[] = [];
  try {
    const cfg = await openCfg(etcd.url);
    let file: string;
    try {
      const { credentials } = await new UserStore(cfg).add('ops', ['admin']);
      file = join(dir, 'ops.credentials.json');
      writeCredentials(file, credentials);
    } finally {
      await cfg.close();
    }
    for (let i = 0; i < 2; i++) managers.push(await Manager.start({ cfg: etcd.url, leaderLeaseMs: 2000, logWrite: quiet }));
    const leader = await poll(async () => managers.find((m) => m.isLeader) ?? null, 10_000, 'a leader');
    const follower = managers.find((m) => m !== leader)!;
    await until(() => managers.every((m) => m.auth!.principals.has('ops')), 5000, 'both managers know ops');
    const keys = managers.map((m) => toHex(m.auth!.keyPair.publicKey));

    // Sent to the follower, answered 503 + leader, re-sent to the leader with a new token.
    const set = await cli(['set', '--redundancy', '2', '--stop', '--manager', follower.address, '--credentials', file, '--manager-key', keys.join(',')]);
    assert.not.match(set.stderr, /not the leader|AUTH/, set.stderr);
    const token = await tokenOf(leader.address, loadCredentials(file));
    const status = await call(leader.address, 'GET', '/api/status', undefined, token);
    assert.equal(status.body.settings, { redundancy: 2 });

    // Pinning only the follower's key: the leader cannot prove it, so the CLI stops there.
    const pinned = await cli(['set', '--redundancy', '3', '--stop', '--manager', follower.address, '--credentials', file, '--manager-key', toHex(follower.auth!.keyPair.publicKey)]);
    assert.is(pinned.code, 1);
    assert.match(pinned.stderr, new RegExp(`manager at ${leader.address.replace(/[.]/g, '[.]')} could not prove its identity`));
    assert.equal((await call(leader.address, 'GET', '/api/status', undefined, token)).body.settings, { redundancy: 2 });
  } finally {
    for (const m of managers.reverse()) await m.close();
    await rm(dir, { recursive: true, force: true });
  }
}));

test.run();
