import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { once } from 'node:events';
import WebSocket from 'ws';
import { decodeServerMessage, encodeMapMessage, type MapServerMessage } from '../../shared/map-protocol.js';
import { decodeMap } from '../../shared/map-codec.js';
import { MapTracker } from '../../shared/map-tracker.js';
import { withCluster } from '../helpers/cluster.js';
import { withDeadline } from '../helpers/deadline.js';
import { connect } from '../../sdk/index.js';
import { generateKeyPair, keyCredentials } from '../../shared/auth/index.js';

const test = suite('integration - the /map service');

async function openMap(manager: string): Promise<WebSocket> {
  const ws = new WebSocket(`${manager.replace('http', 'ws')}/map`);
  ws.on('error', () => undefined);
  await withDeadline(once(ws, 'open'), 5000, 'open /map');
  return ws;
}

async function nextMessage(ws: WebSocket): Promise<MapServerMessage> {
  const [data] = await withDeadline(once(ws, 'message'), 10_000, 'map message');
  const msg = decodeServerMessage(data as Buffer);
  assert.ok(msg !== null, 'well-formed');
  return msg!;
}

test('a subscriber gets the full map, and after reconnecting with its rev one message brings it up to date', () => withCluster({ nodes: 3 }, async ({ manager, addNode }) => {
  const tracker = new MapTracker();
  let ws = await openMap(manager.address);
  ws.send(encodeMapMessage(tracker.subscribeMessage()));
  let msg = await nextMessage(ws);
  assert.is(msg.t, 'full');
  tracker.accept(msg);
  // Wait until all three nodes are placed before going away (a fourth keeps the unit grid).
  while (new Set(tracker.current!.runChains.map((c) => tracker.current!.chains[c]![0])).size < 3) {
    const r = tracker.accept(await nextMessage(ws));
    assert.is(r.kind, 'map');
  }
  ws.close();
  const known = tracker.current!;
  await addNode();
  ws = await openMap(manager.address);
  ws.send(encodeMapMessage(tracker.subscribeMessage()));
  msg = await nextMessage(ws);
  // A delta when it is smaller than the full map (see the unit test for that case).
  const r = tracker.accept(msg);
  assert.is(r.kind, 'map');
  assert.ok(tracker.current!.rev > known.rev);
  ws.send(encodeMapMessage({ t: 'fetch' }));
  const full = await nextMessage(ws);
  assert.is(full.t, 'full');
  assert.equal(decodeMap((full as { map: Uint8Array }).map).rev >= tracker.current!.rev, true);
  ws.close();
}));

test('malformed or unknown messages get an error answer and the connection is closed', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  const garbage: Array<Uint8Array | string> = [
    Buffer.from([0xff, 0x00, 0x13]),
    encodeMapMessage({ t: 'nope' } as never),
    encodeMapMessage({ t: 'register', node: { id: '../etc', address: 'ws://x:1', zone: '', weight: 1, peerKey: null } }),
    'text frame',
  ];
  for (const [i, g] of garbage.entries()) {
    const ws = await openMap(manager.address);
    const closed = withDeadline(once(ws, 'close'), 5000, 'close');
    ws.send(g);
    const msg = await nextMessage(ws);
    assert.is(msg.t, 'err', `garbage #${i}`);
    const [code] = await closed;
    assert.is(code, 1007);
  }
  const huge = await openMap(manager.address);
  const closed = withDeadline(once(huge, 'close'), 5000, 'close');
  huge.send(Buffer.alloc(200 * 1024));
  assert.is((await closed)[0], 1009);
  // Still serving.
  const ws = await openMap(manager.address);
  ws.send(encodeMapMessage({ t: 'sub', rev: 0, epoch: 0 }));
  assert.is((await nextMessage(ws)).t, 'full');
  ws.close();
}));

test('the admin API answers bad requests with codes, not crashes', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  const post = async (path: string, body: string): Promise<[number, { error?: { code: string } }]> => {
    const res = await fetch(`${manager.address}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    return [res.status, (await res.json()) as { error?: { code: string } }];
  };
  assert.equal((await post('/api/nodes/add', '{not json')).map((x, i) => (i === 0 ? x : (x as { error: { code: string } }).error.code)), [400, 'KV_ERR_BAD_REQUEST']);
  assert.is((await post('/api/nodes/add', '[]'))[0], 400);
  assert.is((await post('/api/nodes/add', '{"node": 5}'))[0], 400);
  assert.is((await post('/api/nodes/add', '{"node": "nobody"}'))[0], 404);
  assert.is((await post('/api/settings', '{"redundancy": 0}'))[0], 400);
  assert.is((await post('/api/nodes/add', 'x'.repeat(100 * 1024)))[0], 413);
  const notFound = await fetch(`${manager.address}/api/nope`);
  assert.is(notFound.status, 404);
  const metrics = await (await fetch(`${manager.address}/metrics`)).text();
  assert.match(metrics, /pandakv_manager_is_leader 1/);
}));

test('a client with credentials against a manager running --insecure gets a clear error, not a timeout', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  // A timeout would be KV_ERR_TIMEOUT: the code says the refusal came first.
  const err = await connect({ map: manager.address, credentials: keyCredentials('app', generateKeyPair()), timeoutMs: 20_000 }).then(
    async (db) => {
      await db.close();
      return null;
    },
    (e: unknown) => e as { code?: string; message?: string },
  );
  assert.is(err?.code, 'KV_ERR_BAD_REQUEST', String(err?.message));
  assert.match(String(err?.message), /--insecure/);
}));

test.run();
