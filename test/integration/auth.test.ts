import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { join } from 'node:path';
import WebSocket from 'ws';
import { encodeMessage, decodeResponses } from '../../shared/protocol/codec.js';
import { Op } from '../../shared/protocol/ops.js';
import { Status } from '../../shared/status.js';
import { decodeServerMessage, encodeMapMessage, mapServiceUrl, type MapServerMessage } from '../../shared/map-protocol.js';
import {
  AuthClient, PASSWORD_LIMITS_MIN, generateKeyPair, keyCredentials, passwordCredentials, toHex, writeCredentials,
  type Credentials,
} from '../../shared/auth/index.js';
import { openCfg } from '../../cluster/manager/cfg/open-cfg.js';
import { UserStore } from '../../cluster/manager/users.js';
import { Lane } from '../../sdk/lane.js';
import { connect, type PandaClient } from '../../sdk/index.js';
import { withCluster } from '../helpers/cluster.js';
import { spawnProxy } from '../../bin/spawn.js';
import { createConnection, type Socket } from 'node:net';
import { poll, withDeadline } from '../helpers/deadline.js';
import { openSocket } from '../helpers/fixtures.js';
import type { Response } from '../../shared/protocol/frames.js';
import type { Role } from '../../shared/auth/index.js';

const test = suite('integration - auth across the cluster');

/** Principals every test here starts with; `cluster` is what nodes use towards the manager. */
const PRINCIPALS: Array<{ name: string; roles: Role[]; password?: string }> = [
  { name: 'cluster', roles: ['admin'] },
  { name: 'app', roles: ['read', 'write'] },
  { name: 'reader', roles: ['read'] },
  { name: 'scanner', roles: ['read', 'scan'] },
  { name: 'human', roles: ['read', 'write'], password: 'correct horse battery staple' },
];
/** Created at the default Argon2id cost, which is what the proxy checks memcached passwords with. */
const MEMCACHED_USER = { name: 'mc', roles: ['read', 'write'] as Role[], password: 'memcached secret' };

interface Secure {
  creds: Map<string, Credentials>;
}

/** A secure cluster: principals created in the config store before the manager starts. */
function withSecureCluster(nodes: number, body: (c: { map: string; nodeUrls: string[]; creds: Map<string, Credentials>; dir: string }) => Promise<void>): Promise<void> {
  const s: Secure = { creds: new Map() };
  return withCluster({
    nodes,
    isSecure: true,
    nodeArgs: [],
    setup: async (cfgUrl, dir) => {
      const cfg = await openCfg(cfgUrl);
      try {
        const users = new UserStore(cfg);
        for (const p of PRINCIPALS) {
          const { credentials } = await users.add(p.name, p.roles, p.password, PASSWORD_LIMITS_MIN);
          s.creds.set(p.name, credentials);
          writeCredentials(join(dir, `${p.name}.json`), credentials);
        }
        await users.add(MEMCACHED_USER.name, MEMCACHED_USER.roles, MEMCACHED_USER.password);
      } finally {
        await cfg.close();
      }
    },
    nodeArgsFor: (dir) => ['--credentials', join(dir, 'cluster.json')],
  }, async ({ manager, nodes, dir }) => {
    await body({ map: manager.address, nodeUrls: nodes.map((n) => n.address), creds: s.creds, dir });
  });
}

const open = openSocket;

async function exchange(ws: WebSocket, frames: unknown[][]): Promise<Response[]> {
  const reply = withDeadline(once(ws, 'message'), 5000, 'reply');
  ws.send(encodeMessage(frames));
  const [msg] = await reply;
  return decodeResponses(msg as Buffer)!;
}

/** A node learns the principals from the manager shortly after it starts; until then a handshake gets UNAVAILABLE. */
async function hasPrincipals(node: string): Promise<void> {
  const ws = await open(node);
  let id = 1;
  await poll(async () => ((await exchange(ws, [[id++, Op.AUTH, 0, null, null, 0, 0, 0, {}]]))[0]!.status === Status.AUTH_NEEDED ? true : null), 5000, 'node has principals');
  ws.close();
}

async function closeCode(ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return -1;
  const [code] = await withDeadline(once(ws, 'close'), 5000, 'close');
  return code as number;
}

async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  try {
    await p;
  } catch (err) {
    assert.is((err as { code?: string }).code, code, String(err));
    return;
  }
  assert.unreachable(`expected ${code}`);
}

async function mapMessages(map: string, send: unknown[], count: number): Promise<MapServerMessage[]> {
  const ws = await open(mapServiceUrl(map));
  const got: MapServerMessage[] = [];
  const done = new Promise<void>((resolve) => {
    ws.on('message', (data: Buffer) => {
      got.push(decodeServerMessage(data)!);
      if (got.length >= count) resolve();
    });
  });
  for (const m of send) ws.send(encodeMapMessage(m as never));
  await withDeadline(done, 5000, 'map messages');
  ws.close();
  return got;
}

test('with credentials the SDK routes directly to authenticated nodes; roles are enforced per op', () => withSecureCluster(2, async ({ map, creds }) => {
  const app = await connect({ map, credentials: creds.get('app')! });
  const reader = await connect({ map, credentials: creds.get('reader')! });
  const scanner = await connect({ map, credentials: creds.get('scanner')! });
  try {
    // Until replication moves data, write only once both nodes are placed.
    await poll(async () => (app.map?.nodes.filter((n) => n.state === 'active').length === 2 ? true : null), 10_000, 'both nodes placed');
    for (let i = 0; i < 50; i++) await app.set(`k${i}`, `v${i}`);
    assert.is(Buffer.from((await reader.get('k7'))!).toString(), 'v7');
    await expectCode(reader.set('k7', 'nope'), 'KV_ERR_FORBIDDEN');
    await expectCode(collect(app), 'KV_ERR_FORBIDDEN');
    assert.is((await collect(scanner)).length, 50);
    assert.is(Buffer.from((await app.get('k7'))!).toString(), 'v7', 'the refused write changed nothing');
  } finally {
    await Promise.all([app.close(), reader.close(), scanner.close()]);
  }
}));

test('a burst past maxInFlightPerLane issued before a node\'s lane has authenticated all completes', () => withSecureCluster(1, async ({ map, creds }) => {
  const probe = await connect({ map, credentials: creds.get('app')! });
  await poll(async () => (probe.map?.nodes.some((n) => n.state === 'active') === true ? true : null), 10_000, 'the node placed');
  await probe.close();
  // A fresh client: its lane opens on the first request, and the burst fills the lane's
  // room (and its queue) while the handshake still has its own frames to send.
  const db = await connect({ map, credentials: creds.get('app')!, maxInFlightPerLane: 16, timeoutMs: 20_000 });
  try {
    const keys = Array.from({ length: 200 }, (_, i) => `burst${i}`);
    await Promise.all(keys.map((k) => db.set(k, k)));
    for (const k of keys) assert.is(Buffer.from((await db.get(k))!).toString(), k);
  } finally {
    await db.close();
  }
}));

async function collect(db: PandaClient): Promise<string[]> {
  const keys: string[] = [];
  for await (const e of db.scan({ start: 'k', end: 'l' })) keys.push(Buffer.from(e.key).toString());
  return keys;
}

test('without credentials, or with unknown ones, the SDK gets a clear auth error, not a timeout', () => withSecureCluster(1, async ({ map }) => {
  const t0 = Date.now();
  await expectCode(connect({ map, timeoutMs: 5000 }), 'KV_ERR_AUTH_NEEDED');
  const stranger = keyCredentials('stranger', generateKeyPair());
  await expectCode(connect({ map, timeoutMs: 5000, credentials: stranger }), 'KV_ERR_AUTH_FAILED');
  assert.ok(Date.now() - t0 < 4000, 'refusals arrive at once');
}));

test('a password principal authenticates with the salt the servers hand out', () => withSecureCluster(1, async ({ map }) => {
  const human = passwordCredentials('human', 'correct horse battery staple');
  const db = await connect({ map, credentials: human, passwordLimits: PASSWORD_LIMITS_MIN });
  try {
    await db.set('pw', 'ok');
    assert.is(Buffer.from((await db.get('pw'))!).toString(), 'ok');
  } finally {
    await db.close();
  }
  const wrong = passwordCredentials('human', 'wrong password');
  await expectCode(connect({ map, credentials: wrong, passwordLimits: PASSWORD_LIMITS_MIN, timeoutMs: 5000 }), 'KV_ERR_AUTH_FAILED');
}));

test('a node answers AUTH_NEEDED with a challenge, refuses bad and replayed answers, and locks out a guesser', () => withSecureCluster(1, async ({ nodeUrls, creds }) => {
  const node = nodeUrls[0]!;
  await hasPrincipals(node);
  const ws = await open(node);
  const [needed] = await exchange(ws, [[1, Op.GET, 0, 'k']]);
  assert.is(needed!.status, Status.AUTH_NEEDED);
  assert.ok(needed!.extra?.nonce instanceof Uint8Array && typeof needed!.extra?.serverId === 'string', 'the refusal carries a challenge');
  const [ping] = await exchange(ws, [[2, Op.PING, 0]]);
  assert.ok(ping!.status !== Status.AUTH_NEEDED, 'PING needs no auth');

  // A correct answer on one connection, then the same message replayed on another.
  const client = new AuthClient({ credentials: creds.get('app')! });
  const [challenge] = await exchange(ws, [[3, Op.AUTH, 0, null, null, 0, 0, 0, { principal: 'app' }]]);
  const answer = { ...client.answer(challenge!.extra) };
  const [ok] = await exchange(ws, [[4, Op.AUTH, 0, null, null, 0, 0, 0, answer]]);
  assert.is(ok!.status, Status.OK);
  assert.ok(client.verifyServer(null, ok!.extra?.serverSignature, ok!.extra?.serverPublicKey) === false, 'no TOFU unless asked');
  const [got] = await exchange(ws, [[5, Op.GET, 0, 'k']]);
  assert.ok(got!.status !== Status.AUTH_NEEDED && got!.status !== Status.FORBIDDEN, 'authenticated: the GET gets past auth');
  const other = await open(node);
  const [replayed] = await exchange(other, [[1, Op.AUTH, 0, null, null, 0, 0, 0, answer]]);
  assert.is(replayed!.status, Status.AUTH_FAILED, 'a replayed AUTH is refused');

  // Hostile AUTH messages: wrong types and sizes are refused, never crash the node.
  const hostile: unknown[] = [
    { principal: 'app', nonce: 'x', clientNonce: 1, signature: [] },
    { principal: 'a'.repeat(10_000), nonce: new Uint8Array(32), clientNonce: new Uint8Array(32), signature: new Uint8Array(64) },
    { principal: 'app', nonce: new Uint8Array(4096), clientNonce: new Uint8Array(32), signature: new Uint8Array(64) },
  ];
  let id = 10;
  for (const h of hostile) {
    const [r] = await exchange(other, [[id++, Op.AUTH, 0, null, null, 0, 0, 0, h]]);
    assert.is(r!.status, Status.AUTH_FAILED);
  }
  // The fifth failure locks the connection: it is closed with 4003.
  const [last] = await exchange(other, [[id++, Op.AUTH, 0, null, null, 0, 0, 0, { ...answer }]]);
  assert.is(last!.status, Status.AUTH_FAILED);
  assert.is(await closeCode(other), 4003);
  ws.close();

  const db = await connect({ nodes: [node], bucketBits: 0, credentials: creds.get('app')! }).catch(() => null);
  // A static node list has no keys to check against; the first key presented is trusted.
  assert.ok(db !== null);
  await db!.close();
}));

test('a node that cannot prove the key the map lists for it is refused (mutual auth)', () => withSecureCluster(1, async ({ nodeUrls, creds }) => {
  await hasPrincipals(nodeUrls[0]!);
  const impostorKey = toHex(generateKeyPair().publicKey);
  const lane = new Lane(nodeUrls[0]!, {
    connectTimeoutMs: 3000, maxInFlight: 16, maxQueued: 16, maxFramesPerMessage: 16, maxBatchBytes: 1 << 20, heartbeatMs: 5000,
    auth: { credentials: creds.get('app')!, serverKeyFor: () => impostorKey, derivedKeys: new Map() },
  });
  await expectCode(lane.whenOpen(Date.now() + 5000), 'KV_ERR_AUTH_FAILED');
}));

test('the map service wants a principal, and sends the principal list to admins only', () => withSecureCluster(1, async ({ map, creds }) => {
  const [refused] = await mapMessages(map, [{ t: 'sub', rev: 0, epoch: 0 }], 1);
  assert.is(refused!.t, 'err');
  assert.is((refused as { code: string }).code, 'KV_ERR_AUTH_NEEDED');

  for (const [name, isAdmin] of [['reader', false], ['cluster', true]] as const) {
    const ws = await open(mapServiceUrl(map));
    const client = new AuthClient({ credentials: creds.get(name)!, isTrustOnFirstUse: true });
    const seen: MapServerMessage[] = [];
    const gotMap = new Promise<void>((resolve) => {
      ws.on('message', (data: Buffer) => {
        const m = decodeServerMessage(data)!;
        seen.push(m);
        if (m.t === 'challenge') ws.send(encodeMapMessage({ t: 'auth', auth: { ...client.answer(m.challenge) } }));
        if (m.t === 'authed') {
          assert.ok(client.verifyServer(null, m.serverSignature, m.serverPublicKey), 'the manager proves its key');
          ws.send(encodeMapMessage({ t: 'sub', rev: 0, epoch: 0 }));
        }
        if (m.t === 'full') resolve();
      });
    });
    ws.send(encodeMapMessage({ t: 'hello', principal: name }));
    await withDeadline(gotMap, 5000, 'map after auth');
    const principals = seen.find((m) => m.t === 'principals') as { list: Array<{ name: string; secretKey?: unknown }> } | undefined;
    assert.is(principals !== undefined, isAdmin, `${name} ${isAdmin ? 'gets' : 'does not get'} the principal list`);
    if (principals !== undefined) {
      assert.equal(principals.list.map((p) => p.name).sort(), [...PRINCIPALS.map((p) => p.name), MEMCACHED_USER.name].sort());
      assert.ok(principals.list.every((p) => p.secretKey === undefined), 'public material only');
    }
    ws.close();
  }

  // A reader may not register as a node.
  const readerNode = await mapMessages(map, [{ t: 'register', node: { id: 'x', address: 'ws://127.0.0.1:1', zone: '', weight: 1, peerKey: null } }], 1);
  assert.is((readerNode[0] as { code: string }).code, 'KV_ERR_AUTH_NEEDED');
}));

function proxyLane(address: string, credentials: Credentials): Lane {
  return new Lane(address, {
    connectTimeoutMs: 5000, maxInFlight: 64, maxQueued: 64, maxFramesPerMessage: 64, maxBatchBytes: 1 << 20, heartbeatMs: 5000,
    auth: { credentials, serverKeyFor: () => null, derivedKeys: new Map() },
  });
}

/** Send memcached text and read until the reply ends with `terminator`. */
async function memcached(socket: Socket, text: string, terminator: RegExp): Promise<string> {
  let got = '';
  const done = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      got += chunk.toString('latin1');
      if (terminator.test(got)) {
        socket.off('data', onData);
        resolve();
      }
    };
    socket.on('data', onData);
  });
  socket.write(text);
  await withDeadline(done, 10_000, `memcached reply to ${JSON.stringify(text.slice(0, 20))}`);
  return got;
}

test('the proxy authenticates its lanes and its clients, enforces their roles, and maps memcached ASCII auth to a principal', () => withSecureCluster(2, async ({ map, creds, dir }) => {
  const proxy = await spawnProxy(['--map', map, '--credentials', join(dir, 'cluster.json')]);
  try {
    // Native protocol: nothing before auth, then the principal's roles.
    const raw = await open(proxy.address);
    const [needed] = await exchange(raw, [[1, Op.GET, 0, 'k']]);
    assert.is(needed!.status, Status.AUTH_NEEDED);
    raw.close();
    const app = proxyLane(proxy.address, creds.get('app')!);
    const reader = proxyLane(proxy.address, creds.get('reader')!);
    const deadline = Date.now() + 5000;
    assert.is((await app.request([0, Op.SET, 0, 'via-proxy', 'v1'], deadline)).status, Status.OK);
    assert.is((await reader.request([0, Op.GET, 0, 'via-proxy'], deadline)).status, Status.OK);
    assert.is((await reader.request([0, Op.SET, 0, 'via-proxy', 'v2'], deadline)).status, Status.FORBIDDEN);
    assert.is((await app.request([0, Op.SCAN, 0, null, null, 0, 0, 0, { limit: 10 }], deadline)).status, Status.FORBIDDEN);
    app.destroy();
    reader.destroy();

    // memcached: unauthenticated commands are refused; a wrong password fails; the right one works.
    const [host, port] = proxy.memcached!.split(':');
    const socket = createConnection({ host: host!, port: Number(port) });
    socket.on('error', () => undefined);
    await withDeadline(once(socket, 'connect'), 5000, 'memcached connect');
    assert.match(await memcached(socket, 'get via-proxy\r\n', /\r\n$/), /^CLIENT_ERROR/);
    const bad = 'mc wrong';
    assert.match(await memcached(socket, `set auth 0 0 ${bad.length}\r\n${bad}\r\n`, /\r\n$/), /^CLIENT_ERROR authentication failure/);
    const good = `mc ${MEMCACHED_USER.password}`;
    assert.is(await memcached(socket, `set auth 0 0 ${good.length}\r\n${good}\r\n`, /\r\n$/), 'STORED\r\n');
    assert.is(await memcached(socket, 'get via-proxy\r\n', /END\r\n$/), 'VALUE via-proxy 0 2\r\nv1\r\nEND\r\n');
    socket.destroy();
  } finally {
    await proxy.stop('SIGKILL');
  }
}));

test.run();
