import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { parseRelayTarget, startRelay } from '../../../bench/relays.js';
import { addedP50Us, measureHops } from '../../../bench/hop-floor.js';
import { Op } from '../../../shared/protocol/ops.js';
import { FakeNode } from '../../helpers/fake-node.js';
import { rejection, withDeadline } from '../../helpers/deadline.js';

const test = suite('bench - hop floor and relays');

test('the relay target must be a loopback host:port', () => {
  assert.equal(parseRelayTarget('127.0.0.1:80'), { host: '127.0.0.1', port: 80 });
  assert.equal(parseRelayTarget('ws://127.1.2.3:65535'), { host: '127.1.2.3', port: 65535 });
  for (const bad of ['', '10.0.0.1:80', '8.8.8.8:53', 'localhost:80', '127.0.0.1', '127.0.0.1:0', '127.0.0.1:70000',
    '127.0.0.300:80', '127.0.0.1:80; rm -rf /', '::1:80', 'x'.repeat(10_000)]) {
    assert.throws(() => parseRelayTarget(bad), (e: unknown) => e instanceof RangeError, `refuses ${JSON.stringify(bad.slice(0, 40))}`);
  }
});

test('the relay copies bytes both ways and closes the pair together', async () => {
  const upstreams: Socket[] = [];
  const echo = createServer((s) => {
    upstreams.push(s);
    s.on('data', (d) => s.write(Buffer.concat([Buffer.from('>'), d])));
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  const relay = await startRelay('tcp', `127.0.0.1:${(echo.address() as AddressInfo).port}`);
  try {
    const client = connect(relay.port, '127.0.0.1');
    await withDeadline(once(client, 'connect'), 5000, 'connect to the relay');
    const answer = withDeadline(once(client, 'data'), 5000, 'echo through the relay');
    client.write('hello');
    assert.is(String((await answer)[0]), '>hello');
    // The client going away takes the upstream connection with it.
    const upstreamClosed = withDeadline(once(upstreams[0]!, 'close'), 5000, 'upstream close');
    client.destroy();
    await upstreamClosed;
  } finally {
    await relay.close();
    echo.close();
  }
});

test('hops are measured per path from one bare client, and added p50 is against the first path', async () => {
  const node = await FakeNode.start((frames) => frames.map((f) => [f[0], 0, new Uint8Array([1, 2, 3])]));
  const tcp = await startRelay('tcp', node.address);
  const ws = await startRelay('ws', node.address);
  try {
    const r = await measureHops([
      { name: 'direct', label: 'direct', address: node.address },
      { name: 'tcp', label: 'tcp', address: `ws://127.0.0.1:${tcp.port}` },
      { name: 'ws', label: 'ws', address: `ws://127.0.0.1:${ws.port}` },
    ], { keys: ['a', 'b'], epoch: 7, count: 30, block: 10, warm: 2, connectTimeoutMs: 5000 });
    assert.equal(r.paths.map((p) => [p.label, p.latency.count]), [['direct', 30], ['tcp', 30], ['ws', 30]]);
    assert.is(addedP50Us(r, 1), r.paths[1]!.latency.p50Us - r.paths[0]!.latency.p50Us);
    // Every request is a single GET stamped with the epoch, keys taken in turn: 3 × (30 + 3 blocks × 2 warm).
    const frames = node.frames;
    assert.is(frames.length, 108);
    assert.ok(frames.every((f) => f[1] === Op.GET && f[2] === 7 && (f[3] === 'a' || f[3] === 'b')));
  } finally {
    await tcp.close();
    await ws.close();
    await node.close();
  }
});

test('the WebSocket relay forwards messages in order, also those sent before its upstream is open, and closes with its client', async () => {
  const node = await FakeNode.start((frames) => frames.map((f) => [f[0], 0, f[3]]));
  const relay = await startRelay('ws', node.address);
  try {
    const { default: WebSocket } = await import('ws');
    const { encodeMessage, decodeResponses } = await import('../../../shared/protocol/codec.js');
    const client = new WebSocket(`ws://127.0.0.1:${relay.port}`);
    await withDeadline(once(client, 'open'), 5000, 'open the relay');
    const answers: unknown[] = [];
    const allIn = new Promise<void>((resolve) => client.on('message', (d: Buffer) => {
      for (const r of decodeResponses(d) ?? []) answers.push(r.id);
      if (answers.length === 5) resolve();
    }));
    // Sent at once: the first ones reach the relay before its own connection to the node is open.
    for (let id = 1; id <= 5; id++) client.send(encodeMessage([[id, Op.GET, 1, `k${id}`]]));
    await withDeadline(allIn, 5000, 'five answers through the relay');
    assert.equal(answers, [1, 2, 3, 4, 5]);
    const nodeSide = [...node.sockets][0]!;
    const closed = withDeadline(once(nodeSide, 'close'), 5000, 'node side closes');
    client.close();
    await closed;
  } finally {
    await relay.close();
    await node.close();
  }
});

test('a path whose node refuses fails the measurement instead of timing errors', async () => {
  const node = await FakeNode.start((frames) => frames.map((f) => [f[0], 4, null]));
  try {
    const refused = await rejection(measureHops([{ name: 'direct', label: 'direct', address: node.address }], {
      keys: ['a'], epoch: 1, count: 5, block: 5, warm: 0, connectTimeoutMs: 5000,
    }));
    assert.match(refused.message, /status 4/);
    const empty = await rejection(measureHops([{ name: 'direct', label: 'direct', address: node.address }], {
      keys: [], epoch: 1, count: 5, block: 5, warm: 0, connectTimeoutMs: 5000,
    }));
    assert.match(empty.message, /no keys/);
  } finally {
    await node.close();
  }
});

test.run();
