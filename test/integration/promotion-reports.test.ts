import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import WebSocket from 'ws';
import { decodeServerMessage, encodeMapMessage, mapServiceUrl, type MapClientMessage } from '../../shared/map-protocol.js';
import { MapTracker } from '../../shared/map-tracker.js';
import { chainOf, type ClusterMap } from '../../shared/cluster-map.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';

const test = suite('integration - promotion asks the replicas for their seqnos now');

/**
 * A node as the map service sees it: registers, follows the map, heartbeats with the
 * seqnos `periodic` gives every unit, and answers a `report` request with `fresh`.
 */
class ReportingNode {
  readonly peerKey = randomBytes(32).toString('hex');
  readonly tracker = new MapTracker();
  /** Every map adopted, in order. */
  readonly maps: ClusterMap[] = [];
  isBeating = true;
  reportRequests = 0;
  private ws: WebSocket | null = null;
  private seq = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly id: string, readonly port: number, private readonly periodic: number, private readonly fresh: number) {}

  async start(manager: string): Promise<void> {
    const ws = new WebSocket(mapServiceUrl(manager));
    this.ws = ws;
    ws.on('error', () => undefined);
    await once(ws, 'open');
    ws.on('message', (data: Buffer) => {
      const m = decodeServerMessage(data);
      if (m === null) return;
      if (m.t === 'registered') {
        ws.send(encodeMapMessage(this.tracker.subscribeMessage()));
        this.timer = setInterval(() => this.beat(this.periodic), m.heartbeatMs);
        this.beat(this.periodic);
      } else if (m.t === 'report') {
        this.reportRequests++;
        this.beat(this.fresh, m.n);
      } else if (m.t === 'full' || m.t === 'delta') {
        const result = this.tracker.accept(m);
        if (result.kind === 'resync') ws.send(encodeMapMessage({ t: 'fetch' }));
        else if (result.kind === 'map') this.maps.push(result.map);
      }
    });
    ws.send(encodeMapMessage({ t: 'register', node: { id: this.id, address: `ws://127.0.0.1:${this.port}`, zone: '', weight: 1, peerKey: this.peerKey } }));
  }

  private beat(seqno: number, re?: number): void {
    const map = this.tracker.current;
    if (!this.isBeating || this.ws === null || this.ws.readyState !== WebSocket.OPEN) return;
    const seqnos: number[] = [];
    if (map !== null) for (let u = 0; u < 2 ** map.unitBits; u++) seqnos.push(u, seqno);
    const hb: MapClientMessage = {
      t: 'hb', id: this.id, rev: map?.rev ?? 0, epoch: map?.epoch ?? 0, seq: ++this.seq, repl: { backfilling: 0, seqnos }, ...(re === undefined ? {} : { re }),
    };
    this.ws.send(encodeMapMessage(hb));
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.ws?.terminate();
  }
}

/** Units whose chain starts with node index `i`. */
function activeUnitsOf(map: ClusterMap, i: number): number[] {
  const out: number[] = [];
  const perUnit = 2 ** (map.bits - map.unitBits);
  for (let u = 0; u < 2 ** map.unitBits; u++) if (chainOf(map, u * perUnit)[0] === i) out.push(u);
  return out;
}

// r = 3: a write acknowledged by a majority is on the active and one replica. When the
// active fails, the replica to promote is the one that has the most, which the periodic
// reports (up to a heartbeat old) can get wrong. Here node B's periodic reports say less
// than C's, while B holds more by the time the failed node has fenced itself: only a
// report asked for at promotion time shows it.
test('the replica with the highest seqno after the fence is promoted, not the one that reported more before', () => withCluster({
  nodes: 0, deadlineMs: 60_000, managerArgs: ['--redundancy', '3', '--failover-after-ms', '1000'],
}, async ({ manager }) => {
  // Addresses the nodes advertise: ports held open (and never dialled) for the test.
  const holders: Server[] = [];
  const port = async (): Promise<number> => {
    const srv = createServer().listen(0, '127.0.0.1');
    holders.push(srv);
    await once(srv, 'listening');
    return (srv.address() as { port: number }).port;
  };
  const a = new ReportingNode('node-a', await port(), 5, 5);
  const b = new ReportingNode('node-b', await port(), 5, 10);
  const c = new ReportingNode('node-c', await port(), 6, 6);
  const nodes = [a, b, c];
  try {
    for (const n of nodes) await n.start(manager.address);
    const full = await poll(async () => {
      const map = b.tracker.current;
      return map !== null && map.nodes.length === 3 && map.nodes.every((n) => n.state === 'active') && map.moves.length === 0
        && chainOf(map, 0).length === 3 ? map : null;
    }, 30_000, 'a map with three copies of every unit');
    assert.ok(full.nodes.length === 3);

    // A stops heartbeating (paused): its lease runs out and it is failed over. The first map
    // showing it failed is the promote-only one; the map before it says what A was active for.
    a.isBeating = false;
    const at = await poll(async () => {
      const i = b.maps.findIndex((m) => m.nodes.some((n) => n.id === 'node-a' && n.state === 'failed'));
      return i > 0 ? i : null;
    }, 30_000, 'the failover map');
    const before = b.maps[at - 1]!;
    const after = b.maps[at]!;
    const wasA = activeUnitsOf(before, before.nodes.findIndex((n) => n.id === 'node-a'));
    assert.ok(wasA.length > 0, 'node A was the active of some units');
    const toB = wasA.filter((u) => {
      const chain = chainOf(after, u * 2 ** (after.bits - after.unitBits));
      return after.nodes[chain[0]!]?.id === 'node-b';
    }).length;
    process.stdout.write(`    (A was the active of ${wasA.length} units; ${toB} went to B, whose report asked for at promotion said seqno 10 `
      + `against C's 6, though B's periodic reports said 5; report requests answered: B ${b.reportRequests}, C ${c.reportRequests})\n`);
    assert.ok(b.reportRequests >= 1 && c.reportRequests >= 1, 'both replicas were asked');
    assert.is(toB, wasA.length, 'every unit of the failed node went to the replica holding the most');
  } finally {
    for (const n of nodes) n.close();
    for (const srv of holders) srv.close();
  }
}));

test.run();
