import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import WebSocket from 'ws';
import { connect, type ClusterMap } from '../../sdk/index.js';
import { spawnProxy } from '../../bin/spawn.js';
import { encodeMessage, decodeResponses } from '../../shared/protocol/codec.js';
import { Op } from '../../shared/protocol/ops.js';
import { Status } from '../../shared/status.js';
import { withCluster } from '../helpers/cluster.js';
import { poll, withDeadline } from '../helpers/deadline.js';
import type { Response } from '../../shared/protocol/frames.js';

const test = suite('integration - proxy');

async function health(url: string): Promise<number> {
  const res = await fetch(`${url.replace('ws', 'http')}/healthz`, { signal: AbortSignal.timeout(3000) });
  await res.arrayBuffer();
  return res.status;
}

async function exchange(address: string, frames: unknown[][]): Promise<Response[]> {
  const ws = new WebSocket(address);
  ws.on('error', () => undefined);
  await withDeadline(once(ws, 'open'), 5000, 'open');
  const reply = withDeadline(once(ws, 'message'), 10_000, 'reply');
  ws.send(encodeMessage(frames));
  const out = decodeResponses((await reply)[0] as Buffer)!;
  ws.close();
  return out;
}

/** Send memcached text and read until `until` matches what came back. */
async function memcached(address: string, text: string, until: RegExp): Promise<string> {
  const [host, port] = address.split(':');
  const sock: Socket = netConnect(Number(port), host);
  sock.on('error', () => undefined);
  let got = '';
  const done = new Promise<string>((resolve) => sock.on('data', (d: Buffer) => {
    got += d.toString('latin1');
    if (until.test(got)) resolve(got);
  }));
  sock.write(text);
  try {
    return await withDeadline(done, 5000, `memcached answer for ${JSON.stringify(text.slice(0, 40))}`);
  } finally {
    sock.destroy();
  }
}

test('is healthy once its lanes are up and serves the native protocol routed to the owners', () => withCluster({ nodes: 3 }, async ({ manager }) => {
  const proxy = await spawnProxy(['--insecure', '--map', manager.address]);
  try {
    assert.is(await health(proxy.address), 200);
    // A thin client: everything goes to the proxy, which routes by key.
    const thin = await connect({ nodes: [proxy.address] });
    const keys = Array.from({ length: 600 }, (_, i) => `p:${String(i).padStart(4, '0')}`);
    await Promise.all(keys.map((k) => thin.set(k, k)));
    const direct = await connect({ map: manager.address });
    const values = await direct.getMany(keys);
    assert.ok(values.every((v, i) => v !== null && Buffer.from(v).toString() === keys[i]), 'written through the proxy, read directly');
    assert.is(await thin.incr('p:n', 2n, { initial: 5n }), 5n);
    assert.is(await thin.incr('p:n', 2n), 7n);
    // Ordered scan through the proxy, merged across the three nodes.
    const seen: string[] = [];
    for await (const e of thin.scan({ start: 'p:', end: 'p;', pageSize: 50 })) seen.push(e.key);
    assert.equal(seen.filter((k) => k !== 'p:n'), keys);
    await thin.close();
    await direct.close();
  } finally {
    await proxy.stop();
  }
}));

test('scan pages carry a signed cursor that resumes, and a forged cursor is refused', () => withCluster({ nodes: 2 }, async ({ manager }) => {
  const proxy = await spawnProxy(['--insecure', '--map', manager.address, '--no-memcached']);
  try {
    const db = await connect({ map: manager.address });
    await Promise.all(Array.from({ length: 30 }, (_, i) => db.set(`c:${String(i).padStart(2, '0')}`, 'v')));
    await db.close();
    const [first] = await exchange(proxy.address, [[1, Op.SCAN, 0, 'c:', null, 0, 0, 0, { end: 'c;', limit: 10 }]]);
    assert.is(first!.status, Status.OK);
    const keysOf = (r: Response): string[] => (r.value as unknown[]).filter((_, i) => i % 4 === 0) as string[];
    assert.equal(keysOf(first!), Array.from({ length: 10 }, (_, i) => `c:${String(i).padStart(2, '0')}`));
    const cursor = first!.extra!.cursor as string;
    assert.type(cursor, 'string');
    const [second] = await exchange(proxy.address, [[2, Op.SCAN, 0, null, null, 0, 0, 0, { end: 'c;', limit: 10, cursor }]]);
    assert.equal(keysOf(second!)[0], 'c:10');
    const forged = `${cursor.split('.')[0]}.AAAA`;
    const [bad] = await exchange(proxy.address, [[3, Op.SCAN, 0, null, null, 0, 0, 0, { limit: 10, cursor: forged }]]);
    assert.is(bad!.status, Status.BAD_REQUEST);
  } finally {
    await proxy.stop();
  }
}));

test('speaks the memcached text and meta protocol, with idle polling off, on spare cores (the default) and always, to nodes in either layout', () => withCluster({ nodes: 2 }, async ({ manager }) => {
  for (const extra of [['--idle-poll-us', '0'], [], ['--idle-poll-spare', '0'], ['--upstream-layout', 'cbor']]) {
    const proxy = await spawnProxy(['--insecure', '--map', manager.address, ...extra]);
    try {
      assert.ok(proxy.memcached !== null);
      const mc = proxy.memcached!;
      assert.match(await memcached(mc, 'set greeting 5 0 5\r\nhello\r\n', /\r\n/), /^STORED\r\n$/);
      assert.match(await memcached(mc, 'get greeting\r\n', /END\r\n/), /^VALUE greeting 5 5\r\nhello\r\nEND\r\n$/);
      assert.match(await memcached(mc, 'incr nope 1\r\n', /\r\n/), /^NOT_FOUND\r\n$/);
      assert.match(await memcached(mc, 'bogus\r\n', /\r\n/), /^ERROR\r\n$/);
      assert.match(await memcached(mc, 'mg greeting v f\r\n', /\r\n.*\r\n/s), /^VA 5 f5\r\nhello\r\n$/);
      // Pipelined one-key gets and sets (the callback path), values of every size class, a miss and noreply.
      const sizes = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 200_000];
      const sets = sizes.map((n, i) => `set size${i} ${i * 1000} 0 ${n}${i % 2 === 0 ? '' : ' noreply'}\r\n${'v'.repeat(n)}\r\n`).join('');
      const stored = (await memcached(mc, `${sets}mn\r\n`, /MN\r\n$/)).replace(/MN\r\n$/, '');
      assert.is(stored, 'STORED\r\n'.repeat(Math.ceil(sizes.length / 2)));
      const gets = sizes.map((_, i) => `get size${i}\r\n`).join('') + 'get size-none\r\n';
      const expected = sizes.map((n, i) => `VALUE size${i} ${i * 1000} ${n}\r\n${'v'.repeat(n)}\r\nEND\r\n`).join('') + 'END\r\n';
      // Only the final miss puts two ENDs in a row.
      const got = await memcached(mc, gets, /END\r\nEND\r\n$/);
      assert.ok(got === expected, `gets answered byte for byte (${got.length} of ${expected.length} bytes)`);
      const db = await connect({ map: manager.address });
      assert.is(Buffer.from((await db.get('greeting'))!).toString(), 'hello', 'the same data the SDK sees');
      await db.close();
      const thin = await connect({ nodes: [proxy.address] });
      assert.is(Buffer.from((await thin.get('greeting'))!).toString(), 'hello', 'and the native protocol');
      await thin.close();
    } finally {
      await proxy.stop();
    }
  }
}));

test('an owner that is down gives a fast retryable error, not a rehash', () => withCluster({ nodes: 2, managerArgs: ['--failover-after-ms', '60000'] }, async ({ manager, nodes }) => {
  const proxy = await spawnProxy(['--insecure', '--map', manager.address, '--no-memcached']);
  const db = await connect({ map: manager.address });
  try {
    let victimKey = '';
    for (let i = 0; victimKey === ''; i++) if (db.route(`o:${i}`).chain[0] === nodes[0]!.address) victimKey = `o:${i}`;
    await nodes[0]!.stop('SIGKILL');
    const started = Date.now();
    const [r] = await exchange(proxy.address, [[1, Op.GET, 0, victimKey]]);
    assert.is(r!.status, Status.UNAVAILABLE);
    assert.ok(Date.now() - started < 2000, 'fast, well before the request deadline');
  } finally {
    await db.close();
    await proxy.stop();
  }
}));

test('fails closed when the map is lost, and refuses new clients until it returns', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  const proxy = await spawnProxy(['--insecure', '--map', manager.address, '--map-loss-ms', '300', '--no-memcached']);
  try {
    assert.is(await health(proxy.address), 200);
    await manager.stop('SIGKILL');
    await poll(async () => ((await health(proxy.address)) === 503 ? true : null), 10_000, 'unhealthy');
    const ws = new WebSocket(proxy.address);
    const [err] = await withDeadline(once(ws, 'error'), 5000, 'refused');
    assert.match(String((err as Error).message), /503/);
  } finally {
    await proxy.stop();
  }
}));

test('the SDK falls back to the proxy when its direct path is cut, and says why', () => withCluster({ nodes: 2 }, async ({ manager }) => {
  const proxy = await spawnProxy(['--insecure', '--map', manager.address, '--no-memcached']);
  try {
    // No map at all: everything goes through the proxy.
    const noMap = await connect({ map: 'ws://127.0.0.1:1', proxy: proxy.address, connectTimeoutMs: 200 });
    const reasons: Array<string | null> = [];
    noMap.on('fallback', (r) => reasons.push(r));
    await noMap.set('fb:1', 'via proxy');
    assert.is(Buffer.from((await noMap.get('fb:1'))!).toString(), 'via proxy');
    assert.equal(reasons, ['no-map']);
    noMap.destroy();

    // A map whose node addresses cannot be reached: the owner is unreachable.
    const real = await connect({ map: manager.address });
    const bogus: ClusterMap = { ...real.map!, nodes: real.map!.nodes.map((n, i) => ({ ...n, address: `ws://127.0.0.1:${1 + i}` })) };
    await real.close();
    const { StaticMapSource } = await import('../../sdk/map-source.js');
    const source = new StaticMapSource(['ws://127.0.0.1:1'], 24);
    (source as unknown as { map: ClusterMap }).map = bogus;
    const cut = await connect({ mapSource: source, proxy: proxy.address, connectTimeoutMs: 200 });
    const why: Array<string | null> = [];
    cut.on('fallback', (r) => why.push(r));
    for (let i = 0; i < 20; i++) await cut.set(`fb:${i}`, `v${i}`);
    assert.equal(why[0], 'owner-unreachable');
    cut.destroy();
  } finally {
    await proxy.stop();
  }
}));

test('malformed, oversized and hostile native input gets a clear answer and never crashes the proxy', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  const proxy = await spawnProxy(['--insecure', '--map', manager.address, '--no-memcached']);
  try {
    const cases: Array<[string, Uint8Array | string, number]> = [
      ['garbage CBOR', Buffer.from([0x9f, 0xff, 0x1c, 0x00]), 1007],
      ['a text message', 'get foo', 1003],
      ['a frame without an id', encodeMessage([['x', Op.GET]]), 1007],
      ['a message over the size limit', encodeMessage([[1, Op.SET, 0, 'k', new Uint8Array(9 * 1024 * 1024)]]), 1009],
    ];
    for (const [what, data, code] of cases) {
      const ws = new WebSocket(proxy.address);
      ws.on('error', () => undefined);
      await withDeadline(once(ws, 'open'), 5000, 'open');
      const closed = withDeadline(once(ws, 'close'), 5000, `close after ${what}`);
      ws.send(data);
      assert.is((await closed)[0], code, what);
    }
    const [bad] = await exchange(proxy.address, [[1, 999, 0, 'k']]);
    assert.is(bad!.status, Status.BAD_REQUEST);
    const [tooLong] = await exchange(proxy.address, [[2, Op.GET, 0, 'k'.repeat(251)]]);
    assert.is(tooLong!.status, Status.TOO_LARGE);
    const [ok] = await exchange(proxy.address, [[3, Op.SET, 0, 'fine', 'v']]);
    assert.is(ok!.status, Status.OK);
    assert.is(await health(proxy.address), 200, 'still healthy');
  } finally {
    await proxy.stop();
  }
}));

test.run();
