import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import WebSocket from 'ws';
import { encodeMessage, decodeResponses } from '../../shared/protocol/codec.js';
import { Op } from '../../shared/protocol/ops.js';
import { Status } from '../../shared/status.js';
import { connect } from '../../sdk/index.js';
import { withNode } from '../helpers/fixtures.js';
import { withDeadline } from '../helpers/deadline.js';
import type { Response } from '../../shared/protocol/frames.js';

const test = suite('integration - node under hostile input');

async function open(address: string): Promise<WebSocket> {
  const ws = new WebSocket(address, { perMessageDeflate: false });
  ws.on('error', () => undefined);
  await withDeadline(once(ws, 'open'), 5000, 'ws open');
  return ws;
}

async function exchange(ws: WebSocket, data: Uint8Array | string): Promise<Response[]> {
  const reply = withDeadline(once(ws, 'message'), 5000, 'reply');
  ws.send(data);
  const [msg] = await reply;
  const decoded = decodeResponses(msg as Buffer);
  assert.ok(decoded !== null, 'the node answers with well-formed frames');
  return decoded!;
}

async function closeCode(ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return -1;
  const [code] = await withDeadline(once(ws, 'close'), 5000, 'close');
  return code as number;
}

/** The node still works for a well-behaved client after the abuse. */
async function stillServes(address: string): Promise<void> {
  const db = await connect({ nodes: [address] });
  try {
    await db.set('health', 'ok');
    assert.is(Buffer.from((await db.get('health'))!).toString(), 'ok');
  } finally {
    await db.close();
  }
}

test('malformed CBOR gets a BAD_REQUEST answer and the connection is closed with 1007', () => withNode([], async (node) => {
  const ws = await open(node.address);
  const closed = closeCode(ws);
  const [r] = await exchange(ws, Buffer.from([0x9f, 0xff, 0xff, 0x1c]));
  assert.is(r!.id, 0);
  assert.is(r!.status, Status.BAD_REQUEST);
  assert.is(await closed, 1007);
  await stillServes(node.address);
}));

test('messages read in one turn are answered together, and a fatal one after good ones still lets their answers out first', () => withNode([], async (node) => {
  const ws = await open(node.address);
  const answers: Response[][] = [];
  ws.on('message', (msg: Buffer) => answers.push(decodeResponses(msg) ?? []));
  const closed = closeCode(ws);
  // Three messages in one TCP write: two good ones, then garbage.
  const socket = (ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
  socket.cork();
  ws.send(encodeMessage([[1, Op.SET, 0, 'turn-a', Buffer.from('x')]]));
  ws.send(encodeMessage([[2, Op.GET, 0, 'turn-a'], [3, Op.GET, 0, 'turn-missing']]));
  ws.send(Buffer.from([0x9f, 0xff, 0xff, 0x1c]));
  socket.uncork();
  assert.is(await closed, 1007);
  const flat = answers.flat();
  assert.equal(flat.map((r) => [r.id, r.status]), [[1, Status.OK], [2, Status.OK], [3, Status.NOT_FOUND], [0, Status.BAD_REQUEST]]);
  assert.ok(answers.length <= 3, `at most one message per request message (got ${answers.length})`);
  await stillServes(node.address);
}));

test('a text message is refused with 1003', () => withNode([], async (node) => {
  const ws = await open(node.address);
  const closed = closeCode(ws);
  const [r] = await exchange(ws, 'get foo');
  assert.is(r!.status, Status.BAD_REQUEST);
  assert.is(await closed, 1003);
}));

test('a message over the size limit closes the connection with 1009 and stores nothing', () => withNode([], async (node) => {
  const ws = await open(node.address);
  const closed = closeCode(ws);
  ws.send(encodeMessage([[1, Op.SET, 0, 'huge', new Uint8Array(9 * 1024 * 1024)]]));
  assert.is(await closed, 1009);
  const db = await connect({ nodes: [node.address] });
  try {
    assert.is(await db.get('huge'), null);
  } finally {
    await db.close();
  }
}));

test('an invalid frame is answered by id while valid frames in the same message still run', () => withNode([], async (node) => {
  const ws = await open(node.address);
  const answers = await exchange(ws, encodeMessage([
    [1, Op.SET, 0, 'good', 'v'],
    [2, 999, 0, 'x'],
    [3, Op.SET, 0, 'k'.repeat(300), 'v'],
    [4, Op.SET, 0, 'f', 'v', -1],
    [5, Op.GET, 0, 'good'],
  ]));
  const byId = new Map(answers.map((r) => [r.id, r.status]));
  assert.is(byId.get(1), Status.OK);
  assert.is(byId.get(2), Status.BAD_REQUEST);
  assert.is(byId.get(3), Status.TOO_LARGE);
  assert.is(byId.get(4), Status.BAD_REQUEST);
  assert.is(byId.get(5), Status.OK);
  ws.close();
}));

test('random garbage never crashes the node', () => withNode([], async (node) => {
  for (let i = 0; i < 50; i++) {
    const ws = await open(node.address);
    const closed = closeCode(ws);
    const junk = Buffer.alloc(1 + ((i * 7919) % 300));
    for (let j = 0; j < junk.length; j++) junk[j] = (i * 31 + j * 17 + (j >> 3)) & 0xff;
    ws.send(junk);
    await Promise.race([closed, withDeadline(once(ws, 'message'), 5000, 'answer')]);
    ws.terminate();
  }
  await stillServes(node.address);
}));

test('frames beyond the in-flight limit are answered BUSY and not executed', () => withNode([], async (node) => {
  const ws = await open(node.address);
  const frames = Array.from({ length: 2000 }, (_, i) => [i + 1, Op.SET, 0, `b${i}`, 'v']);
  const answers = await exchange(ws, encodeMessage(frames));
  assert.is(answers.length, 2000);
  assert.is(answers.filter((r) => r.status === Status.BUSY).length, 2000 - 1024);
  assert.ok(answers.filter((r) => r.status === Status.BUSY).every((r) => r.id > 1024));
  const [late, early] = await exchange(ws, encodeMessage([[5001, Op.GET, 0, 'b1500'], [5002, Op.GET, 0, 'b10']]));
  assert.is(late!.status, Status.NOT_FOUND, 'a BUSY frame did not run');
  assert.is(early!.status, Status.OK);
  const tooMany = closeCode(ws);
  ws.send(encodeMessage(Array.from({ length: 5000 }, (_, i) => [i + 1, Op.PING])));
  assert.is(await tooMany, 1009, 'more frames than the message limit make the stream unusable');
}));

test('a client outside --incoming-ip is disconnected before any frame is read', () => withNode(['--incoming-ip', '10.0.0.0/8'], async (node) => {
  const url = new URL(node.address);
  const sock = netConnect(Number(url.port), url.hostname);
  sock.on('error', () => undefined);
  let received = 0;
  sock.on('data', (d: Buffer) => { received += d.length; });
  sock.write('GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  // `once` would reject on the reset; the close that follows it is what matters.
  await withDeadline(new Promise<void>((resolve) => sock.on('close', () => resolve())), 5000, 'socket close');
  assert.is(received, 0, 'not even an HTTP answer');
  const db = await connect({ nodes: [node.address], timeoutMs: 500, connectTimeoutMs: 300 });
  try {
    const err = await db.get('x').then(() => null, (e: Error & { code?: string }) => e);
    assert.ok(err !== null);
    assert.ok(['KV_ERR_UNAVAILABLE', 'KV_ERR_CONNECTION_CLOSED', 'KV_ERR_TIMEOUT'].includes(err!.code!), err!.code);
  } finally {
    await db.close();
  }
}));

test.run();
