import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { createServer } from 'node:http';
import { once } from 'node:events';
import WebSocket from 'ws';
import { MapService } from '../../../cluster/manager/map-service.js';
import type { Membership } from '../../../cluster/manager/membership.js';
import { staticMap, type ClusterMap } from '../../../shared/cluster-map.js';
import { runsFromUnits } from '../../../shared/map-codec.js';
import { decodeServerMessage, encodeMapMessage, type MapServerMessage } from '../../../shared/map-protocol.js';
import { MapTracker } from '../../../shared/map-tracker.js';
import { withDeadline } from '../../helpers/deadline.js';

const test = suite('cluster - map service deltas');

/** 8 nodes on a fragmented grid of 4096 units: runs dominate the map's size. */
function fragmented(rev: number, changed: number): ClusterMap {
  const base = staticMap(Array.from({ length: 8 }, (_, i) => `ws://127.0.0.1:${7000 + i}`), 20);
  const units = new Int32Array(4096);
  for (let u = 0; u < units.length; u++) units[u] = (u * 7 + (u >> 3)) % 8;
  for (let u = 0; u < changed; u++) units[u * 97] = (units[u * 97]! + 1) % 8;
  return { ...base, epoch: rev, rev, unitBits: 12, chains: base.nodes.map((_, i) => [i]), ...runsFromUnits(units, 12, 20) };
}

test('a subscriber that comes back with its rev gets a small delta, not the full map', async () => {
  const service = new MapService({} as Membership, 1000, 8);
  const http = createServer();
  http.on('upgrade', (req, socket, head) => service.handleUpgrade(req, socket, head));
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  const url = `ws://127.0.0.1:${(http.address() as { port: number }).port}/map`;
  const messages: MapServerMessage[] = [];
  const open = async (): Promise<WebSocket> => {
    const ws = new WebSocket(url);
    ws.on('message', (d: Buffer) => messages.push(decodeServerMessage(d)!));
    await withDeadline(once(ws, 'open'), 5000, 'open');
    return ws;
  };
  const next = async (): Promise<MapServerMessage> => {
    const end = Date.now() + 5000;
    while (messages.length === 0) {
      if (Date.now() > end) throw new Error('no message');
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return messages.shift()!;
  };
  try {
    const m1 = fragmented(1, 0);
    const m2 = fragmented(2, 5);
    service.publish(m1);
    const tracker = new MapTracker();
    let ws = await open();
    ws.send(encodeMapMessage(tracker.subscribeMessage()));
    const full = await next();
    assert.is(full.t, 'full');
    assert.is(tracker.accept(full).kind, 'map');
    ws.close();
    service.publish(m2);
    ws = await open();
    ws.send(encodeMapMessage(tracker.subscribeMessage()));
    const delta = await next();
    assert.is(delta.t, 'delta');
    const fullSize = (full as { map: Uint8Array }).map.length;
    const deltaSize = (delta as { delta: Uint8Array }).delta.length;
    assert.ok(deltaSize * 4 < fullSize, `delta ${deltaSize} B vs full ${fullSize} B`);
    assert.is(tracker.accept(delta).kind, 'map');
    assert.equal(tracker.current, m2);
    ws.close();
  } finally {
    service.close();
    http.close();
  }
});

test.run();
