import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { connect as netConnect } from 'node:net';
import WebSocket from 'ws';
import { encodeMessage, decodeResponses } from '../../shared/protocol/codec.js';
import { encodePackedRequests } from '../../shared/protocol/packed-requests.js';
import { decodePackedAnswers } from '../../shared/protocol/packed-answers.js';
import { PACKED_V1 } from '../../shared/protocol/packed-layout.js';
import { Op } from '../../shared/protocol/ops.js';
import { Status } from '../../shared/status.js';
import { connect } from '../../sdk/index.js';
import { withNode, openSocket } from '../helpers/fixtures.js';
import { withDeadline } from '../helpers/deadline.js';
import type { Response } from '../../shared/protocol/frames.js';

const test = suite('integration - node under hostile input');

const open = openSocket;

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

/** Send `data` and read the one message that answers it, as raw bytes. */
async function exchangeRaw(ws: WebSocket, data: Uint8Array): Promise<Buffer> {
  const reply = withDeadline(once(ws, 'message'), 5000, 'reply');
  ws.send(data);
  const [msg] = await reply;
  return msg as Buffer;
}

test('a packed message is answered in the packed layout and a CBOR one on the same connection in CBOR', () => withNode([], async (node) => {
  const ws = new WebSocket(node.address, { perMessageDeflate: false });
  ws.on('error', () => undefined);
  const opened = withDeadline(once(ws, 'open'), 5000, 'ws open');
  const [res] = await withDeadline(once(ws, 'upgrade'), 5000, 'upgrade') as [IncomingMessage];
  assert.is(res.headers['pandakv-layouts'], 'packed1, packed1-durable', 'the node offers the packed layout, durable SETs included, when the connection opens');
  await opened;
  const stored = await exchangeRaw(ws, encodePackedRequests([[1, Op.SET, 0, 'pk', 'hello', 42, 0, 0], [2, Op.GET, 0, 'missing'], [3, Op.PING, 0]]));
  assert.is(stored[0], PACKED_V1);
  const a = decodePackedAnswers(stored)!;
  assert.equal(a.map((r) => [r.id, r.status]), [[1, Status.OK], [2, Status.NOT_FOUND], [3, Status.OK]]);
  assert.ok(a[0]!.cas > 0);
  assert.equal(a[2]!.extra, { epoch: 0 }, 'an op the layout has no form for is answered as embedded CBOR');
  const viaCbor = await exchangeRaw(ws, encodeMessage([[4, Op.GET, 0, 'pk']]));
  assert.is(viaCbor[0]! >> 5, 4, 'a CBOR array');
  const [c] = decodeResponses(viaCbor)!;
  const viaPacked = decodePackedAnswers(await exchangeRaw(ws, encodePackedRequests([[5, Op.GET, 0, 'pk']])))!;
  assert.equal([c!.status, c!.cas, c!.flags, Buffer.from(c!.value as Uint8Array).toString()], [Status.OK, a[0]!.cas, 42, 'hello']);
  assert.equal([viaPacked[0]!.status, viaPacked[0]!.cas, viaPacked[0]!.flags, Buffer.from(viaPacked[0]!.value as Uint8Array).toString()], [Status.OK, a[0]!.cas, 42, 'hello']);
  ws.close();
}));

test('a bad field in a packed frame is answered by id, the other frames run', () => withNode([], async (node) => {
  const ws = await open(node.address);
  const answers = decodePackedAnswers(await exchangeRaw(ws, encodePackedRequests([
    [1, Op.SET, 0, 'k'.repeat(251), 'v', 0, 0, 0],
    [2, Op.SET, 0, 'ok', 'v', 0, 0, 0],
    [3, 999, 0, 'x'],
  ])))!;
  const byId = new Map(answers.map((r) => [r.id, r]));
  assert.is(byId.get(1)!.status, Status.TOO_LARGE);
  assert.match(String(byId.get(1)!.extra?.message), /exceeds 250/);
  assert.is(byId.get(2)!.status, Status.OK);
  assert.is(byId.get(3)!.status, Status.BAD_REQUEST);
  ws.close();
}));

test('a truncated packed message or an unknown kind gets a fatal CBOR answer and 1007; too many frames 1009', () => withNode([], async (node) => {
  const whole = encodePackedRequests([[1, Op.SET, 0, 'never', 'v', 0, 0, 0], [2, Op.GET, 0, 'k']]);
  for (const bad of [whole.subarray(0, whole.length - 1), Buffer.from([PACKED_V1, 0x7f]), Buffer.from([PACKED_V1])]) {
    const ws = await open(node.address);
    const closed = closeCode(ws);
    const [r] = await exchange(ws, bad);
    assert.equal([r!.id, r!.status], [0, Status.BAD_REQUEST]);
    assert.is(await closed, 1007);
  }
  const ws = await open(node.address);
  const closed = closeCode(ws);
  const [r] = await exchange(ws, encodePackedRequests(Array.from({ length: 5000 }, (_, i): unknown[] => [i + 1, Op.GET, 0, 'k'])));
  assert.equal([r!.id, r!.status], [0, Status.TOO_LARGE]);
  assert.is(await closed, 1009);
  const db = await connect({ nodes: [node.address] });
  try {
    assert.is(await db.get('never'), null, 'nothing of a fatal message ran');
  } finally {
    await db.close();
  }
  await stillServes(node.address);
}));

test('the SDK reads and writes the same items in either layout', () => withNode([], async (node) => {
  const packed = await connect({ nodes: [node.address] });
  const cbor = await connect({ nodes: [node.address], wireLayout: 'cbor' });
  try {
    const cas = await packed.set('both', 'from packed', { flags: 7, ttl: 600 });
    const item = await cbor.getItem('both');
    assert.equal([Buffer.from(item!.value).toString(), item!.cas, item!.flags], ['from packed', cas, 7]);
    const cas2 = await cbor.set('both', Buffer.from([0, 255, 1]), { flags: 0xffffffff });
    const item2 = await packed.getItem('both');
    assert.equal([[...item2!.value], item2!.cas, item2!.flags], [[0, 255, 1], cas2, 0xffffffff]);
    assert.is(await packed.get('nobody'), null);
    const err = await packed.set('both', 'x', { cas: cas }).then(() => null, (e: Error & { code?: string }) => e);
    assert.is(err?.code, 'KV_ERR_EXISTS', 'a stale cas is refused through the packed layout');
    assert.ok(await packed.set('both', 'y', { cas: cas2 }) > cas2);
    const key = 'ключ-🔑';
    await packed.set(key, 'unicode');
    assert.is(Buffer.from((await cbor.get(key))!).toString(), 'unicode', 'a non-ASCII key is the same key in both layouts');
  } finally {
    await packed.close();
    await cbor.close();
  }
}));

test.run();
