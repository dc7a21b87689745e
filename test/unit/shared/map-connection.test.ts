import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { backoffDelay } from '../../../shared/backoff.js';
import { MapConnection, type MapConnectionClose } from '../../../shared/map-connection.js';
import { withDeadline } from '../../helpers/deadline.js';

const test = suite('shared - backoff and the reconnecting map connection');

test('backoff follows its schedule, stays on the last step, and jitters ±20 %', () => {
  const schedule = [50, 100, 1000];
  const rows: Array<[number, number, number]> = [[0, 0.5, 50], [1, 0.5, 100], [2, 0.5, 1000], [9, 0.5, 1000], [0, 0, 40], [0, 1, 60], [2, 0, 800]];
  for (const [attempt, random, want] of rows) assert.is(backoffDelay(schedule, attempt, () => random), want, `attempt ${attempt}, random ${random}`);
  assert.is(backoffDelay([], 3), 0);
});

/** A port nobody listens on: taken from a server that is closed again. */
async function deadPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

test('moves on to the next manager at once, is ready there, and drops a connection that sends garbage', async () => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const live = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/map`;
  const dead = `ws://127.0.0.1:${await deadPort()}/map`;
  const conn = new MapConnection([dead, live], { reconnectBackoffMs: [10_000], connectTimeoutMs: 5000 });
  const closes: MapConnectionClose[] = [];
  const onClose = (info: MapConnectionClose): void => {
    closes.push(info);
    if (closes.length === 1) conn.reconnect();
  };
  conn.on('close', onClose);
  conn.on('socket-error', noop);
  try {
    const serverSide = once(wss, 'connection') as Promise<[WebSocket]>;
    const ready = new Promise<string>((resolve) => conn.once('ready', resolve));
    conn.start();
    // The dead seed fails, and the next one is tried without waiting out the 10 s backoff.
    const url = await withDeadline(ready, 20_000, 'ready on the live manager');
    assert.is(url, live);
    assert.is(conn.url, live);
    assert.equal(closes.map((c) => [c.url, c.isCurrent]), [[dead, true]]);
    const [socket] = await serverSide;
    const closed = new Promise<MapConnectionClose>((resolve) => conn.once('close', resolve));
    socket.send(Buffer.from([0xff, 0x00, 0x13, 0x37]));
    const info = await withDeadline(closed, 20_000, 'the garbage connection dropped');
    assert.is(info.url, live);
    assert.is(info.isCurrent, true);
  } finally {
    conn.close();
    for (const client of wss.clients) client.terminate();
    wss.close();
  }
});

function noop(): void {}

test.run();
