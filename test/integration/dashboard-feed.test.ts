import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { Manager } from '../../cluster/manager/manager.js';
import { UserStore } from '../../cluster/manager/users.js';
import type { Cfg } from '../../cluster/manager/cfg/cfg.js';
import type { Role } from '../../shared/auth/index.js';
import { toHex } from '../../shared/auth/index.js';
import { login, LoginError } from '../../cluster/manager/ui/login.js';
import type { FeedServerMessage } from '../../cluster/manager/ui/feed-protocol.js';
import { until, withDeadline, rejection } from '../helpers/deadline.js';

const test = suite('integration - dashboard page and live feed');

interface Fixture {
  manager: Manager;
  url: string;
  addUser(name: string, roles: Role[], password: string): Promise<void>;
  removeUser(name: string): Promise<void>;
}

/** A secure in-process manager with short dashboard limits; principals changed through its own store handle. */
async function withManager<T>(body: (f: Fixture) => Promise<T>, isInsecure = false): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-dash-feed-'));
  const manager = await Manager.start({
    cfg: `file:${join(dir, 'cfg.json')}`, isInsecure, preAuthTimeoutMs: 2500,
    dashboard: { authTimeoutMs: 500, pushIntervalMs: 100, maxClients: 4, maxMessageBytes: 256 },
  });
  try {
    // Refused logins are logged; this suite makes some on purpose.
    if (manager.auth !== null) (manager.auth as unknown as { log: (line: string) => void }).log = () => undefined;
    const users = new UserStore((manager as unknown as { cfg: Cfg }).cfg);
    const f: Fixture = {
      manager, url: manager.address,
      async addUser(name, roles, password) {
        const { principal } = await users.add(name, roles, password);
        const known = manager.auth!.principals;
        await until(() => known.publicKeyOf(name) !== undefined && toHex(known.publicKeyOf(name)!) === principal.publicKey, 5000, `manager knows ${name}`);
      },
      async removeUser(name) {
        await users.remove(name);
        await until(() => manager.auth!.principals.get(name) === undefined, 5000, `manager forgot ${name}`);
      },
    };
    return await withDeadline(body(f), 60_000, 'dashboard feed test');
  } finally {
    await manager.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** A feed connection that queues what it receives and remembers how it closed. */
class Feed {
  readonly ws: WebSocket;
  readonly got: FeedServerMessage[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: Array<() => void> = [];

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(`${url.replace('http', 'ws')}/ui/live`, { headers });
    this.ws.on('error', () => undefined);
    this.ws.on('message', (data, isBinary) => {
      if (!isBinary) this.got.push(JSON.parse(data.toString()) as FeedServerMessage);
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async next<K extends FeedServerMessage['t']>(t: K, ms = 5000): Promise<Extract<FeedServerMessage, { t: K }>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.got.findIndex((m) => m.t === t);
      if (i >= 0) return this.got.splice(i, 1)[0] as Extract<FeedServerMessage, { t: K }>;
      if (this.closed !== null) throw new Error(`closed ${this.closed.code} ${this.closed.reason} before ${t}`);
      if (Date.now() > deadline) throw new Error(`no ${t} within ${ms} ms`);
      await withDeadline(new Promise<void>((r) => this.waiters.push(r)), Math.max(1, deadline - Date.now()), `feed ${t}`).catch(() => undefined);
    }
  }

  async closedWith(ms = 5000): Promise<number> {
    if (this.closed === null) await withDeadline(once(this.ws, 'close'), ms, 'feed close');
    return this.closed!.code;
  }

  send(data: string | Buffer): void {
    this.ws.send(data);
  }
}

async function opened(f: Feed): Promise<Feed> {
  await withDeadline(once(f.ws, 'open'), 5000, 'feed open');
  return f;
}

test('/ redirects to /ui, which serves the page with a strict policy; the bundle is served, nothing else', () => withManager(async ({ url }) => {
  const root = await fetch(`${url}/`, { redirect: 'manual' });
  assert.is(root.status, 302);
  assert.is(root.headers.get('location'), '/ui');
  const page = await fetch(`${url}/ui`);
  assert.is(page.status, 200);
  assert.match(await page.text(), /<script type="module" src="\/ui\/app.js">/);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
  const js = await fetch(`${url}/ui/app.js`);
  assert.is(js.status, 200, 'the bundle is built (npm run build:ui)');
  assert.match(js.headers.get('content-type') ?? '', /javascript/);
  assert.ok((await js.arrayBuffer()).byteLength > 10_000);
  assert.is((await fetch(`${url}/ui/app.css`)).status, 200);
  for (const path of ['/ui/../package.json', '/ui/%2e%2e/package.json', '/ui/app.js.map', '/ui/x', '/ui/live']) {
    assert.is((await fetch(`${url}${path}`)).status, 404, path);
  }
  assert.is((await fetch(`${url}/ui`, { method: 'POST', body: 'x' })).status, 405);
}));

test('a secure feed waits for a token: login, ready, map, events, ticks; the seqnos of a followed unit', () => withManager(async (f) => {
  await f.addUser('web', ['admin'], 'pw one');
  // Log in first: Argon2id takes longer than this fixture's authTimeoutMs.
  const { token, roles } = await login({ principal: 'web', password: 'pw one' }, f.url);
  assert.ok(roles.includes('admin'));
  const feed = await opened(new Feed(f.url));
  const hello = await feed.next('hello');
  assert.equal({ isSecure: hello.isSecure, isAuthNeeded: hello.isAuthNeeded }, { isSecure: true, isAuthNeeded: true });
  assert.is(feed.got.length, 0, 'nothing before the token');
  feed.send(JSON.stringify({ t: 'auth', token }));
  const ready = await feed.next('ready');
  assert.equal(ready, { t: 'ready', principal: 'web', roles: ['admin'] });
  const events = await feed.next('events');
  assert.ok(events.isInitial);
  const tick = await feed.next('tick');
  assert.equal(tick.nodes, []);
  assert.is(typeof tick.rebalance.moves.unitsLeft, 'number');
  feed.send(JSON.stringify({ t: 'follow', unit: 3 }));
  const t2 = await feed.next('tick');
  assert.equal(t2.follow, { unit: 3, key: null, copies: [] });
  feed.send(JSON.stringify({ t: 'follow', unit: 3, key: 'user:42' }));
  let keyed = await feed.next('tick');
  // A tick already on its way still carries the previous follow.
  while (keyed.follow?.key === null) keyed = await feed.next('tick');
  assert.equal(keyed.follow, { unit: 3, key: 'user:42', copies: [] }, 'a followed key is echoed');
  // An authenticated feed outlives the listener's pre-auth deadline (2.5 s here).
  const since = Date.now();
  while (Date.now() - since < 3000) await feed.next('tick');
  assert.is(feed.closed, null);
  feed.ws.close();
}));

test('a wrong password is refused with AUTH_FAILED; a monitor may watch and read but not change', () => withManager(async (f) => {
  await f.addUser('watcher', ['monitor'], 'pw two');
  const err = await rejection(login({ principal: 'watcher', password: 'nope' }, f.url));
  assert.ok(err instanceof LoginError);
  assert.is(err.code, 'KV_ERR_AUTH_FAILED');
  const { token } = await login({ principal: 'watcher', password: 'pw two' }, f.url);
  const feed = await opened(new Feed(f.url));
  feed.send(JSON.stringify({ t: 'auth', token }));
  assert.equal((await feed.next('ready')).roles, ['monitor']);
  const auth = { authorization: `Bearer ${token}` };
  assert.is((await fetch(`${f.url}/api/status`, { headers: auth })).status, 200);
  assert.is((await fetch(`${f.url}/api/rebalance`, { headers: auth })).status, 200);
  assert.is((await fetch(`${f.url}/api/rebalance`, { method: 'POST', headers: auth })).status, 403);
  assert.is((await fetch(`${f.url}/api/split`, { method: 'POST', headers: auth })).status, 403);
  // A monitor's follow of a key gets the unit's seqnos but never the key's value sizes.
  feed.send(JSON.stringify({ t: 'follow', unit: 3, key: 'user:42' }));
  let tick = await feed.next('tick');
  // Ticks sent before the follow arrived carry none.
  while (tick.follow === null) tick = await feed.next('tick');
  assert.equal(tick.follow, { unit: 3, key: null, copies: [] });
  // Removing the principal ends its page at the next tick.
  await f.removeUser('watcher');
  assert.is(await feed.closedWith(), 4001);
}));

test('a principal with neither monitor nor admin is refused the feed', () => withManager(async (f) => {
  await f.addUser('reader', ['read', 'write'], 'pw three');
  const { token } = await login({ principal: 'reader', password: 'pw three' }, f.url);
  const feed = await opened(new Feed(f.url));
  feed.send(JSON.stringify({ t: 'auth', token }));
  const e = await feed.next('err');
  assert.is(e.code, 'KV_ERR_FORBIDDEN');
  assert.is(await feed.closedWith(), 4003);
}));

test('hostile feeds are closed: silent, unknown token, follow first, malformed, binary, oversized, cross-origin, too many', () => withManager(async (f) => {
  const silent = await opened(new Feed(f.url));
  assert.is(await silent.closedWith(), 4001, 'no token within authTimeoutMs');

  const unknown = await opened(new Feed(f.url));
  unknown.send(JSON.stringify({ t: 'auth', token: 'ab'.repeat(32) }));
  assert.is((await unknown.next('err')).code, 'KV_ERR_AUTH_NEEDED');
  assert.is(await unknown.closedWith(), 4001);

  const early = await opened(new Feed(f.url));
  early.send(JSON.stringify({ t: 'follow', unit: 1 }));
  assert.is(await early.closedWith(), 4001);

  for (const junk of ['{', 'null', '{"t":"auth","token":"zz"}', '{"t":"follow","unit":-5}', '{"t":"follow","unit":1,"key":""}', '{"t":"shutdown"}']) {
    const bad = await opened(new Feed(f.url));
    bad.send(junk);
    assert.is(await bad.closedWith(), 1008, junk);
  }
  const binary = await opened(new Feed(f.url));
  binary.send(Buffer.from([1, 2, 3]));
  assert.is(await binary.closedWith(), 1008);

  const big = await opened(new Feed(f.url));
  big.send(JSON.stringify({ t: 'auth', token: 'x'.repeat(1000) }));
  assert.is(await big.closedWith(), 1009, 'over maxMessageBytes');

  const foreign = new Feed(f.url, { origin: 'http://evil.example' });
  const code = await withDeadline(new Promise<number>((resolve) => foreign.ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0))), 5000, 'cross-origin refusal');
  assert.is(code, 403);

  const many = await Promise.all(Array.from({ length: 5 }, () => opened(new Feed(f.url))));
  const codes = await Promise.all(many.map((m) => (m.closed === null ? withDeadline(m.closedWith(2000), 3000, 'x').catch(() => 0) : Promise.resolve(m.closed.code))));
  assert.ok(codes.includes(1013), `one over maxClients is refused: ${codes.join(',')}`);
  assert.is(f.manager.isLeader, true);
}));

test('an insecure manager feeds at once, with no login', () => withManager(async (f) => {
  const feed = await opened(new Feed(f.url));
  const hello = await feed.next('hello');
  assert.is(hello.isAuthNeeded, false);
  assert.equal(await feed.next('ready'), { t: 'ready', principal: null, roles: [] });
  await feed.next('tick');
  feed.ws.close();
}, true));

test.run();
