import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as netConnect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { encodeMessage, decodeResponses } from '../../shared/protocol/codec.js';
import { Op } from '../../shared/protocol/ops.js';
import { Status } from '../../shared/status.js';
import { AuthClient, PASSWORD_LIMITS_MIN, writeCredentials, type Credentials, type Role } from '../../shared/auth/index.js';
import { openCfg } from '../../cluster/manager/cfg/open-cfg.js';
import { UserStore } from '../../cluster/manager/users.js';
import { spawnProxy } from '../../bin/spawn.js';
import { connect } from '../../sdk/index.js';
import { withCluster, type ClusterOptions } from '../helpers/cluster.js';
import { withNode } from '../helpers/fixtures.js';
import { poll, until, withDeadline } from '../helpers/deadline.js';
import type { Response } from '../../shared/protocol/frames.js';
import { MapAuthSession } from '../../shared/map-auth.js';
import { decodeServerMessage, encodeMapMessage, mapServiceUrl } from '../../shared/map-protocol.js';

const test = suite('integration - connection limits on every listener');

const PRINCIPALS: Array<{ name: string; roles: Role[] }> = [
  { name: 'cluster', roles: ['admin'] },
  { name: 'app', roles: ['read', 'write'] },
];
/** The proxy checks memcached passwords at the default Argon2id cost. */
const MC_USER = { name: 'mc', roles: ['read', 'write'] as Role[], password: 'memcached secret' };
/** Loopback addresses the floods come from (all of 127/8 is local on Linux). */
const FLOOD_ADDRESSES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];

interface Secure {
  map: string;
  node: string;
  dir: string;
  creds: Map<string, Credentials>;
}

function withSecureCluster(nodeArgs: string[], body: (c: Secure) => Promise<void>, managerArgs: string[] = []): Promise<void> {
  const creds = new Map<string, Credentials>();
  const opts: ClusterOptions = {
    nodes: 1,
    isSecure: true,
    nodeArgs,
    managerArgs,
    deadlineMs: 240_000,
    setup: async (cfgUrl, dir) => {
      const cfg = await openCfg(cfgUrl);
      try {
        const users = new UserStore(cfg);
        for (const p of PRINCIPALS) {
          const { credentials } = await users.add(p.name, p.roles, undefined, PASSWORD_LIMITS_MIN);
          creds.set(p.name, credentials);
          writeCredentials(join(dir, `${p.name}.json`), credentials);
        }
        await users.add(MC_USER.name, MC_USER.roles, MC_USER.password);
      } finally {
        await cfg.close();
      }
    },
    nodeArgsFor: (dir) => ['--credentials', join(dir, 'cluster.json')],
  };
  return withCluster(opts, ({ manager, nodes, dir }) => body({ map: manager.address, node: nodes[0]!.address, dir, creds }));
}

/** The soft limit on open files of this process. */
function fdLimit(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
  return m === null || m[1] === 'unlimited' ? 65_536 : Number(m[1]);
}

/** The flood's size: 4096 where descriptors allow, a multiple of the addresses. */
function floodSize(): number {
  const limit = fdLimit();
  const n = Math.min(4096, Math.floor((limit - 512) / FLOOD_ADDRESSES.length) * FLOOD_ADDRESSES.length);
  console.log(`  open-files limit ${limit}: flood of ${n} connections`);
  return n;
}

interface Flood {
  sockets: Socket[];
  /** What each closed socket was told first (empty when nothing). */
  closedWith: string[];
  destroy(): void;
}

/** Open `total` idle TCP connections spread over FLOOD_ADDRESSES, in batches. */
async function flood(host: string, port: number, total: number): Promise<Flood> {
  const f: Flood = { sockets: [], closedWith: [], destroy: () => { for (const s of f.sockets) s.destroy(); } };
  const batch = 128;
  for (let i = 0; i < total; i += batch) {
    const opened: Array<Promise<unknown>> = [];
    for (let j = i; j < Math.min(total, i + batch); j++) {
      const s = netConnect({ host, port, localAddress: FLOOD_ADDRESSES[j % FLOOD_ADDRESSES.length]! });
      let first = '';
      s.on('error', () => undefined);
      s.on('data', (d: Buffer) => {
        if (first === '') first = d.toString('latin1').split('\r\n')[0]!;
      });
      s.once('close', () => f.closedWith.push(first));
      f.sockets.push(s);
      opened.push(once(s, 'connect'));
    }
    await withDeadline(Promise.all(opened), 30_000, `flood connections ${i}..${i + batch}`);
  }
  return f;
}

/** Send text, resolve with what came back once it matches `done`. */
async function talk(socket: Socket, text: string, done: RegExp): Promise<string> {
  let got = '';
  const answered = new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      got += chunk.toString('latin1');
      if (!done.test(got)) return;
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
  });
  if (text !== '') socket.write(text);
  await withDeadline(answered, 20_000, `memcached answer to ${JSON.stringify(text.slice(0, 24))}`);
  return got;
}

async function mcConnect(address: string): Promise<Socket> {
  const [host, port] = address.split(':');
  const s = netConnect({ host: host!, port: Number(port) });
  s.on('error', () => undefined);
  await withDeadline(once(s, 'connect'), 10_000, 'memcached connect');
  return s;
}

async function mcLogin(s: Socket): Promise<void> {
  const auth = `${MC_USER.name} ${MC_USER.password}`;
  assert.is(await talk(s, `set auth 0 0 ${auth.length}\r\n${auth}\r\n`, /\r\n$/), 'STORED\r\n');
}

/** Resolve with everything a socket received once it is closed. */
function receivedUntilClose(s: Socket): Promise<string> {
  let got = '';
  s.on('data', (d: Buffer) => { got += d.toString('latin1'); });
  return new Promise((resolve) => s.once('close', () => resolve(got)));
}

async function openWs(address: string): Promise<WebSocket> {
  const ws = new WebSocket(address, { perMessageDeflate: false });
  ws.on('error', () => undefined);
  await withDeadline(once(ws, 'open'), 10_000, 'ws open');
  return ws;
}

function closeCode(ws: WebSocket, ms = 20_000): Promise<number> {
  return withDeadline(once(ws, 'close').then(([code]) => code as number), ms, 'ws close');
}

async function exchange(ws: WebSocket, frames: unknown[][]): Promise<Response[]> {
  const reply = withDeadline(once(ws, 'message'), 10_000, 'reply');
  ws.send(encodeMessage(frames));
  const [msg] = await reply;
  return decodeResponses(msg as Buffer)!;
}

/** A raw WebSocket connection authenticated as `app` with the node's handshake. */
async function authenticatedWs(node: string, creds: Credentials): Promise<WebSocket> {
  const ws = await openWs(node);
  const client = new AuthClient({ credentials: creds });
  const challenge = await poll(async () => {
    const [r] = await exchange(ws, [[1, Op.AUTH, 0, null, null, 0, 0, 0, { principal: creds.principal }]]);
    return r!.status === Status.AUTH_NEEDED ? r! : null;
  }, 10_000, 'node has its principals');
  const [ok] = await exchange(ws, [[2, Op.AUTH, 0, null, null, 0, 0, 0, { ...client.answer(challenge.extra) }]]);
  assert.is(ok!.status, Status.OK, 'authenticated');
  return ws;
}

test('thousands of idle connections to the memcached port and the node port do not keep an authenticated client out', async () => {
  const n = floodSize();
  const perAddress = n / FLOOD_ADDRESSES.length;
  const limits = ['--pre-auth-timeout-ms', '120000', '--max-connections-per-address', String(perAddress)];
  await withSecureCluster([...limits, '--max-connections', String(n)], async ({ map, node, dir, creds }) => {
    const proxy = await spawnProxy(['--map', map, '--credentials', join(dir, 'cluster.json'), ...limits, '--memcached-max-connections', String(n)], 60_000);
    try {
      // The memcached port: full of idle, unauthenticated connections.
      const [host, port] = proxy.memcached!.split(':');
      const mcFlood = await flood(host!, Number(port), n);
      try {
        const client = await mcConnect(proxy.memcached!);
        await mcLogin(client);
        assert.is(await talk(client, 'set flood-survivor 0 0 2\r\nok\r\n', /\r\n$/), 'STORED\r\n');
        assert.is(await talk(client, 'get flood-survivor\r\n', /END\r\n$/), 'VALUE flood-survivor 0 2\r\nok\r\nEND\r\n');
        const stats = await talk(client, 'stats\r\n', /END\r\n$/);
        const evicted = Number(/STAT conn_evicted (\d+)/.exec(stats)?.[1] ?? -1);
        await until(() => mcFlood.closedWith.length >= 1, 10_000, 'the evicted flood connection closed');
        assert.ok(evicted >= 1, `conn_evicted ${evicted}`);
        assert.ok(mcFlood.closedWith.every((l) => l === 'SERVER_ERROR evicted: too many unauthenticated connections'), mcFlood.closedWith.slice(0, 3).join(' | '));
        console.log(`  memcached port: ${n} idle connections, authenticated client in; ${evicted} evicted, ${n - mcFlood.closedWith.length} flood connections still open`);
        client.destroy();
      } finally {
        mcFlood.destroy();
      }

      // The node's WebSocket port: the same flood, then an SDK client with credentials.
      const url = new URL(node);
      const wsFlood = await flood(url.hostname, Number(url.port), n);
      try {
        const db = await connect({ map, credentials: creds.get('app')!, timeoutMs: 20_000 });
        try {
          await db.set('node-flood-survivor', 'ok');
          assert.is(Buffer.from((await db.get('node-flood-survivor'))!).toString(), 'ok');
        } finally {
          await db.close();
        }
        await until(() => wsFlood.closedWith.length >= 1, 10_000, 'an evicted flood connection closed');
        assert.ok(wsFlood.closedWith.every((l) => l === '' || l === 'HTTP/1.1 503 Service Unavailable'), wsFlood.closedWith.slice(0, 3).join(' | '));
        console.log(`  node port: ${n} idle connections, SDK client in; ${wsFlood.closedWith.length} flood connections evicted`);
      } finally {
        wsFlood.destroy();
      }
    } finally {
      await proxy.stop('SIGKILL');
    }
  });
});

test('pre-auth, idle and read deadlines close connections on the memcached port, the proxy and node WebSockets', async () => {
  const deadlines = ['--pre-auth-timeout-ms', '1500', '--idle-timeout-ms', '2500', '--read-timeout-ms', '1000'];
  await withSecureCluster(deadlines, async ({ map, node, dir, creds }) => {
    const proxy = await spawnProxy(['--map', map, '--credentials', join(dir, 'cluster.json'), ...deadlines], 60_000);
    try {
      // memcached: connected and silent, never authenticated.
      const silent = await mcConnect(proxy.memcached!);
      assert.is(await withDeadline(receivedUntilClose(silent), 20_000, 'pre-auth close'), 'SERVER_ERROR not authenticated in time\r\n');

      // memcached: authenticated, then idle.
      const idle = await mcConnect(proxy.memcached!);
      await mcLogin(idle);
      assert.is(await withDeadline(receivedUntilClose(idle), 20_000, 'idle close'), 'SERVER_ERROR idle timeout\r\n');

      // memcached slowloris: authenticated, then a command one byte at a time.
      const slow = await mcConnect(proxy.memcached!);
      await mcLogin(slow);
      const slowClosed = withDeadline(receivedUntilClose(slow), 20_000, 'slowloris close');
      const line = `get ${'k'.repeat(200)}\r\n`;
      let sent = 0;
      const drip = setInterval(() => {
        if (sent < line.length && !slow.destroyed) slow.write(line[sent++]!);
      }, 100);
      try {
        assert.is(await slowClosed, 'SERVER_ERROR command not completed in time\r\n');
      } finally {
        clearInterval(drip);
      }
      assert.ok(sent < line.length, `closed after ${sent} of ${line.length} bytes`);

      // The proxy's WebSocket: connected, never authenticated.
      const proxyWs = await openWs(proxy.address);
      assert.is(await closeCode(proxyWs), 4001);

      // The node's WebSocket: unauthenticated, authenticated then idle, and a frame dripped in.
      const nodeSilent = await openWs(node);
      const silentCode = closeCode(nodeSilent);
      const nodeIdle = await authenticatedWs(node, creds.get('app')!);
      assert.is(await silentCode, 4001);
      assert.is(await closeCode(nodeIdle), 4002);
      const nodeSlow = await authenticatedWs(node, creds.get('app')!);
      const slowCode = closeCode(nodeSlow);
      const frame = Buffer.from([0x82, 0x85, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // masked binary frame, 5 bytes
      const raw = (nodeSlow as unknown as { _socket: Socket })._socket;
      let dripped = 0;
      const frameDrip = setInterval(() => {
        if (dripped < frame.length && !raw.destroyed) raw.write(frame.subarray(dripped, ++dripped));
      }, 150);
      try {
        assert.is(await slowCode, 4004);
      } finally {
        clearInterval(frameDrip);
      }

      // The node's port before any upgrade: an HTTP request head dripped in.
      const url = new URL(node);
      const head = await mcConnect(`${url.hostname}:${url.port}`);
      const headClosed = withDeadline(receivedUntilClose(head), 20_000, 'request-head slowloris close');
      const request = 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n';
      let headSent = 0;
      const headDrip = setInterval(() => {
        if (headSent < request.length && !head.destroyed) head.write(request[headSent++]!);
      }, 100);
      try {
        assert.match(await headClosed, /^HTTP\/1\.1 408 /);
      } finally {
        clearInterval(headDrip);
      }
      console.log(`  closed: memcached pre-auth, idle, slowloris after ${sent} bytes; proxy ws 4001; node ws 4001, 4002, 4004 after ${dripped} frame bytes; request head 408 after ${headSent} bytes`);
    } finally {
      await proxy.stop('SIGKILL');
    }
  });
});

/** A `/map` connection authenticated as `app`; `isAutoPong` false makes it a dead peer. */
async function authenticatedMap(map: string, creds: Credentials, isAutoPong: boolean): Promise<WebSocket> {
  const ws = new WebSocket(mapServiceUrl(map), { perMessageDeflate: false, autoPong: isAutoPong });
  ws.on('error', () => undefined);
  await withDeadline(once(ws, 'open'), 10_000, '/map open');
  const session = new MapAuthSession({ credentials: creds });
  const done = new Promise<void>((resolve, reject) => {
    const onMessage = (data: Buffer): void => {
      const step = session.onMessage(decodeServerMessage(data)!);
      if (step.kind === 'send') ws.send(encodeMapMessage(step.message));
      else if (step.kind === 'done') {
        ws.off('message', onMessage);
        resolve();
      } else reject(new Error('unexpected /map message during the handshake'));
    };
    ws.on('message', onMessage);
  });
  ws.send(encodeMapMessage(session.hello()));
  await withDeadline(done, 10_000, '/map handshake');
  return ws;
}

test('the manager closes unauthenticated /map connections and dead subscribers, and keeps live ones with pings', async () => {
  const limits = ['--pre-auth-timeout-ms', '1500', '--idle-timeout-ms', '2000'];
  await withSecureCluster([], async ({ map, creds }) => {
    const stranger = new WebSocket(mapServiceUrl(map), { perMessageDeflate: false });
    stranger.on('error', () => undefined);
    const strangerCode = closeCode(stranger);
    const live = await authenticatedMap(map, creds.get('app')!, true);
    const dead = await authenticatedMap(map, creds.get('app')!, false);
    let pings = 0;
    live.on('ping', () => { pings++; });
    assert.is(await strangerCode, 4001);
    assert.is(await closeCode(dead), 4002);
    // Pinged at half the idle timeout, answered by its pongs: alive past three idle timeouts.
    await until(() => pings >= 3, 30_000, 'three pings to a live subscriber');
    assert.is(live.readyState, WebSocket.OPEN);
    live.close();
    // The admin API over HTTP still answers.
    const health = await fetch(`${map}/healthz`);
    assert.is(health.status, 200);
    console.log(`  manager: stranger 4001, dead subscriber 4002, live subscriber open after ${pings} pings`);
  }, limits);
});

test('an insecure node refuses past its per-address cap instead of evicting, and still closes idle connections', () => withNode(
  ['--max-connections-per-address', '3', '--idle-timeout-ms', '1500', '--pre-auth-timeout-ms', '500'],
  async (node) => {
    const url = new URL(node.address);
    const held: WebSocket[] = [];
    try {
      for (let i = 0; i < 3; i++) held.push(await openWs(node.address));
      const codes = held.map((ws) => closeCode(ws));
      const extra = await mcConnect(`${url.hostname}:${url.port}`);
      assert.match(await withDeadline(receivedUntilClose(extra), 20_000, 'refused connection'), /^HTTP\/1\.1 503 /);
      const other = netConnect({ host: url.hostname, port: Number(url.port), localAddress: FLOOD_ADDRESSES[0]! });
      other.on('error', () => undefined);
      await withDeadline(once(other, 'connect'), 10_000, 'another address connects');
      const otherClosed = receivedUntilClose(other);
      // No pre-auth deadline without authentication: all of them end by the idle timeout.
      assert.equal(await Promise.all(codes), [4002, 4002, 4002]);
      assert.match(await withDeadline(otherClosed, 20_000, 'idle raw connection'), /^HTTP\/1\.1 408 /);
      console.log('  insecure node: 4th connection from one address refused (503), another address admitted; idle ones closed 4002 / 408');
    } finally {
      for (const ws of held) ws.terminate();
    }
  },
  60_000,
));

test.run();
