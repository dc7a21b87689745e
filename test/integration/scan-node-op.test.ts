import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { once } from 'node:events';
import { EventEmitter } from 'eventemitter3';
import { connect, ManagerMapSource, StaticMapSource, type MapSource, type PandaClient } from '../../sdk/index.js';
import type { MapSourceEvents } from '../../sdk/map-source.js';
import { encodeMessage, decodeResponses } from '../../shared/protocol/codec.js';
import type { Response } from '../../shared/protocol/frames.js';
import { Op } from '../../shared/protocol/ops.js';
import { Status } from '../../shared/status.js';
import type { ClusterMap } from '../../shared/cluster-map.js';
import { activeRangesAt, hasBucket, intersectRanges, isEmptyRanges, subtractRanges, unionRanges } from '../../shared/bucket-ranges.js';
import { bucketOfBinary } from '../../shared/keystream.js';
import { withCluster } from '../helpers/cluster.js';
import { poll, withDeadline } from '../helpers/deadline.js';

const test = suite('integration - a real node\'s SCAN op: stated epoch and ranges, NOT_MY_BUCKET for what it does not own');

const N = 3000;
const keyOf = (i: number): string => `n:${String(i).padStart(5, '0')}`;

/** One raw connection to a node: one frame out, its answer back. */
class RawLane {
  private id = 0;

  private constructor(private readonly ws: WebSocket) {}

  static async open(address: string): Promise<RawLane> {
    const ws = new WebSocket(address);
    ws.on('error', () => undefined);
    await withDeadline(once(ws, 'open'), 5000, `open ${address}`);
    return new RawLane(ws);
  }

  /** A SCAN of `[n:, n;)` at `epoch`, for `ranges` at `bits` when given. */
  scan(epoch: number, ranges?: readonly number[], bits?: number): Promise<Response> {
    const extra: Record<string, unknown> = { end: 'n;', limit: 10_000 };
    if (ranges !== undefined) {
      extra.ranges = ranges;
      extra.bits = bits;
    }
    return this.send([Op.SCAN, epoch, 'n:', null, 0, 0, 0, extra]);
  }

  async send(rest: unknown[]): Promise<Response> {
    const id = ++this.id;
    const reply = withDeadline(once(this.ws, 'message'), 10_000, 'scan answer');
    this.ws.send(encodeMessage([[id, ...rest]]));
    const [r] = decodeResponses((await reply)[0] as Buffer)!;
    assert.is(r!.id, id);
    return r!;
  }

  close(): void {
    this.ws.close();
  }
}

function keysOf(r: Response): string[] {
  const flat = r.value as unknown[];
  return flat.filter((_, i) => i % 4 === 0).map(String);
}

function indexOf(map: ClusterMap, address: string): number {
  const i = map.nodes.findIndex((n) => n.address === address);
  assert.ok(i >= 0, `${address} is in the map`);
  return i;
}

async function rebalanceIdle(manager: string): Promise<boolean> {
  const res = await fetch(`${manager}/api/rebalance`);
  const p = await res.json() as { isDone: boolean; moves: { isMoving: boolean } };
  return p.isDone && !p.moves.isMoving;
}

async function settled(db: PandaClient, manager: string, nodes: number, after = -1): Promise<ClusterMap> {
  return poll(async () => {
    const map = db.map;
    if (map === null || map.epoch <= after || map.nodes.filter((n) => n.state === 'active').length < nodes) return null;
    return await rebalanceIdle(manager) && db.map === map ? map : null;
  }, 30_000, `${nodes} active nodes and an idle rebalance`);
}

/** An OK page: states `epoch`, the ranges asked for (or owned) at `bits`, and holds only keys of them. */
function assertExactPage(r: Response, epoch: number, ranges: readonly number[], bits: number, what: string): string[] {
  assert.is(r.status, Status.OK, `${what}: ${String(r.extra?.message)}`);
  assert.is(r.extra?.epoch, epoch, `${what}: the stated epoch`);
  assert.is(r.extra?.bits, bits, `${what}: the stated bits`);
  assert.equal(r.extra?.ranges, ranges, `${what}: the stated ranges`);
  assert.is(r.extra?.next, null, `${what}: read to the end`);
  const keys = keysOf(r);
  for (const k of keys) assert.ok(hasBucket(ranges, bucketOfBinary(k, bits)), `${what}: ${k} lies in the stated ranges`);
  return keys;
}

function assertRefused(r: Response, epoch: number, what: string): void {
  assert.is(r.status, Status.NOT_MY_BUCKET, what);
  assert.is(r.extra?.epoch, epoch, `${what}: the node states its epoch`);
  assert.ok(r.value === null || r.value === undefined, `${what}: nothing read`);
}

test('each node answers for the ranges it is active for at the frame\'s epoch and states them; stale epochs, foreign ranges and ranges moved away by a join get NOT_MY_BUCKET', () => withCluster({ nodes: 2, hasDht: true, deadlineMs: 58_000 }, async (c) => {
  const db = await connect({ map: c.manager.address, timeoutMs: 10_000 });
  const lanes: RawLane[] = [];
  try {
    const m1 = await settled(db, c.manager.address, 2);
    for (let i = 0; i < N; i++) await db.set(keyOf(i), `v${i}`);
    const [a, b] = await Promise.all(c.nodes.map((n) => RawLane.open(n.address)));
    lanes.push(a!, b!);
    const bits = m1.bits;
    const rangesA = activeRangesAt(m1, indexOf(m1, c.nodes[0]!.address), bits);
    const rangesB = activeRangesAt(m1, indexOf(m1, c.nodes[1]!.address), bits);
    assert.ok(!isEmptyRanges(rangesA) && !isEmptyRanges(rangesB), 'both nodes own something');

    // Without ranges (an older client): what the node owns, stated.
    const ownA = assertExactPage(await a!.scan(m1.epoch), m1.epoch, rangesA, bits, 'A, no ranges');
    const ownB = assertExactPage(await b!.scan(m1.epoch), m1.epoch, rangesB, bits, 'B, no ranges');
    // With its own ranges: the same page; the two nodes together hold every key once.
    assert.equal(assertExactPage(await a!.scan(m1.epoch, rangesA, bits), m1.epoch, rangesA, bits, 'A, its ranges'), ownA);
    const all = [...ownA, ...ownB].sort();
    assert.is(new Set(all).size, N, 'A and B together answer for every key once');
    assert.equal(all, Array.from({ length: N }, (_, i) => keyOf(i)));
    // A page is in byte order.
    assert.equal(ownA, [...ownA].sort());

    // The epoch gate: an older epoch, and a newer one the node never reaches, are refused.
    assertRefused(await a!.scan(m1.epoch - 1, rangesA, bits), m1.epoch, 'A, an older epoch');
    assertRefused(await a!.scan(m1.epoch + 5, rangesA, bits), m1.epoch, 'A, an epoch it never reaches');
    // Ranges it is not active for, wholly or in part.
    assertRefused(await a!.scan(m1.epoch, rangesB, bits), m1.epoch, 'A, B\'s ranges');
    assertRefused(await a!.scan(m1.epoch, unionRanges(rangesA, rangesB.slice(0, 2)), bits), m1.epoch, 'A, its ranges and one of B\'s');
    // At finer bits (a split the client saw first), the same buckets are still A's.
    const fine = rangesA.map((x) => x * 2);
    assertExactPage(await a!.scan(m1.epoch, fine, bits + 1), m1.epoch, fine, bits + 1, 'A, its ranges at one more bit');
    // Hostile ranges: BAD_REQUEST, and the connection still answers.
    for (const bad of [[5, 3], [0, 4, 2, 6], [0], [0, 2 ** bits + 1], ['x', 'y']]) {
      const r = await a!.scan(m1.epoch, bad as number[], bits);
      assert.is(r.status, Status.BAD_REQUEST, `ranges ${JSON.stringify(bad)}`);
    }
    assert.is((await a!.send([Op.SCAN, m1.epoch, 'n:', null, 0, 0, 0, { end: 'n;', limit: 10, ranges: rangesA }])).status, Status.BAD_REQUEST, 'ranges without bits');
    assert.is((await a!.scan(m1.epoch, rangesA, bits)).status, Status.OK, 'the lane still works');

    // A third node joins: units move away from A and B at a newer epoch.
    const cNode = await c.addNode();
    const m2 = await settled(db, c.manager.address, 3, m1.epoch);
    const newA = activeRangesAt(m2, indexOf(m2, c.nodes[0]!.address), bits);
    const rangesC = activeRangesAt(m2, indexOf(m2, cNode.address), bits);
    const movedFromA = subtractRanges(rangesA, newA);
    assert.ok(!isEmptyRanges(movedFromA), 'the join moved units away from A');
    assert.ok(!isEmptyRanges(intersectRanges(movedFromA, rangesC)), 'some of them to the new node');
    const cLane = await RawLane.open(cNode.address);
    lanes.push(cLane);
    // The frame a scan planned on the old map sent: refused with the new epoch, never a silent skip.
    assertRefused(await a!.scan(m1.epoch, rangesA, bits), m2.epoch, 'A, the old plan at the old epoch');
    assertRefused(await a!.scan(m2.epoch, rangesA, bits), m2.epoch, 'A, its old ranges at the new epoch');
    assertRefused(await a!.scan(m2.epoch, movedFromA, bits), m2.epoch, 'A, the ranges it gave away');
    // A frame with no ranges at the new epoch states what A owns now.
    const nowA = assertExactPage(await a!.scan(m2.epoch), m2.epoch, newA, bits, 'A after the join, no ranges');
    // The new owner answers for what moved, with every key of it.
    const movedToC = intersectRanges(movedFromA, rangesC);
    const fromC = assertExactPage(await cLane.scan(m2.epoch, movedToC, bits), m2.epoch, movedToC, bits, 'C, what A gave it');
    const expectedMoved = Array.from({ length: N }, (_, i) => keyOf(i)).filter((k) => hasBucket(movedToC, bucketOfBinary(k, bits)));
    assert.equal(fromC, expectedMoved, 'every key of the moved ranges is on the new owner');
    const newB = activeRangesAt(m2, indexOf(m2, c.nodes[1]!.address), bits);
    const nowB = assertExactPage(await b!.scan(m2.epoch), m2.epoch, newB, bits, 'B after the join, no ranges');
    const nowC = assertExactPage(await cLane.scan(m2.epoch), m2.epoch, rangesC, bits, 'C, no ranges');
    const after = [...nowA, ...nowB, ...nowC].sort();
    assert.equal(after, Array.from({ length: N }, (_, i) => keyOf(i)), 'the three nodes at the new epoch answer for every key once');
    process.stdout.write(`    (epoch ${m1.epoch}: A ${ownA.length} + B ${ownB.length} keys; epoch ${m2.epoch}: A ${nowA.length} + B ${nowB.length} + C ${nowC.length}; ${fromC.length} keys moved from A to C)\n`);
  } finally {
    for (const l of lanes) l.close();
    await db.close();
  }
}));

/**
 * A map source that serves an old map until a node refuses a request at it (the scan asks
 * for a newer map), then follows the manager: a client whose map lags behind the nodes'.
 */
class LaggingMapSource extends EventEmitter<MapSourceEvents> implements MapSource {
  /** The epochs the scan asked for while the old map was served. */
  readonly refusedAt: number[] = [];

  constructor(private frozen: ClusterMap | null, private readonly live: ManagerMapSource) {
    super();
  }

  current(): ClusterMap | null {
    return this.frozen ?? this.live.current();
  }

  refresh(minEpoch: number, deadlineMs: number): Promise<ClusterMap> {
    if (this.frozen !== null && minEpoch > this.frozen.epoch) {
      this.refusedAt.push(minEpoch);
      this.frozen = null;
    }
    return this.frozen !== null ? Promise.resolve(this.frozen) : this.live.refresh(minEpoch, deadlineMs);
  }

  async ready(deadlineMs: number): Promise<ClusterMap> {
    await this.live.ready(deadlineMs);
    return this.current()!;
  }

  close(): void {
    this.live.close();
    this.removeAllListeners();
  }
}

test('an SDK scan planned on a map the nodes left behind is refused (NOT_MY_BUCKET), takes the newer map and stays exact; a client that cannot get one fails with KV_ERR_SCAN_INTERRUPTED, never a partial answer', () => withCluster({ nodes: 2, hasDht: true, deadlineMs: 58_000 }, async (c) => {
  const db = await connect({ map: c.manager.address, timeoutMs: 10_000 });
  const clients: PandaClient[] = [];
  try {
    const m1 = await settled(db, c.manager.address, 2);
    for (let i = 0; i < N; i++) await db.set(keyOf(i), `v${i}`);
    await c.addNode();
    const m2 = await settled(db, c.manager.address, 3, m1.epoch);
    const all = Array.from({ length: N }, (_, i) => keyOf(i));

    // Stuck on the old map: every node refuses its epoch, and no newer map comes.
    const stuck = await connect({ mapSource: new StaticMapSource(m1), timeoutMs: 10_000 });
    clients.push(stuck);
    const got: string[] = [];
    let err = null as { code?: string; details?: { resumeFrom?: Uint8Array } } | null;
    try {
      for await (const e of stuck.scan({ start: 'n:', end: 'n;', pageSize: 100, timeoutMs: 1000 })) got.push(e.key);
    } catch (e) {
      err = e as typeof err;
    }
    assert.is(err?.code, 'KV_ERR_SCAN_INTERRUPTED', 'a client on a stale map fails instead of returning what it can');
    assert.is(got.length, 0, 'no entry came from a node that refused the epoch');
    assert.equal(Buffer.from(err!.details!.resumeFrom!).toString(), 'n:', 'it resumes from the start');

    // Lagging: the first pages are refused, the scan waits for the node's epoch and re-plans.
    const source = new LaggingMapSource(m1, new ManagerMapSource(c.manager.address));
    const lagging = await connect({ mapSource: source, timeoutMs: 10_000 });
    clients.push(lagging);
    const it = lagging.scan({ start: err!.details!.resumeFrom!, end: 'n;', pageSize: 100, timeoutMs: 10_000 });
    const keys: string[] = [];
    for await (const e of it) keys.push(e.key);
    assert.ok(source.refusedAt.length > 0 && source.refusedAt[0]! >= m2.epoch, `the nodes refused the old epoch and named theirs (asked for ${source.refusedAt.join(', ')})`);
    assert.ok(it.stats.handovers > 0, 'the ranges that moved were read from their new owner');
    assert.equal(keys, all, 'every key once, in order');
    process.stdout.write(`    (stale client: SCAN_INTERRUPTED after 0 entries; lagging client: refused at epoch ${m1.epoch}, asked for epoch ${source.refusedAt[0]}, ${keys.length} of ${N} keys, ${it.stats.replans} re-plans, ${it.stats.handovers} hand-overs)\n`);
  } finally {
    for (const client of clients) await client.close();
    await db.close();
  }
}));

test.run();
