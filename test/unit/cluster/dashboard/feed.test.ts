import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { DashboardFeed } from '../../../../cluster/manager/dashboard/feed.js';
import type { DashboardHost } from '../../../../cluster/manager/dashboard/contract.js';
import type { NodeRecord } from '../../../../cluster/manager/node-record.js';
import type { NodeLoadReport } from '../../../../shared/map-protocol.js';
import type { ClusterMap } from '../../../../shared/cluster-map.js';

const test = suite('dashboard - what each tick reports');

const record = (id: string): NodeRecord => ({ id, address: `ws://${id}:1`, zone: '', weight: 1, peerKey: null, state: 'active' });
const load = (ops: number, at: number): NodeLoadReport & { at: number } => ({ ops, items: 1, memoryBytes: 2, p50Us: 3, p99Us: 4, hintsPending: 0, at });

function host(map: ClusterMap | null = null): DashboardHost & { loads: Map<string, NodeLoadReport & { at: number }>; repl: Map<string, { backfilling: number; seqnos: Record<number, number>; copiedBytes: number }> } {
  const loads = new Map<string, NodeLoadReport & { at: number }>();
  const repl = new Map<string, { backfilling: number; seqnos: Record<number, number>; copiedBytes: number }>();
  return {
    loads, repl, address: 'http://m', map, records: new Map([['a', record('a')], ['b', record('b')]]), live: new Set(['a']),
    appliedRev: new Map([['a', 3]]), replication: repl, load: loads, isLeader: true,
    progress: () => ({ rev: 1, applied: 1, total: 1, isDone: true, isRestoreHeld: false, moves: { isMoving: false, isStopped: false, unitsMoved: 0, unitsLeft: 0, batches: 0, bytesCopied: 0, lastWarning: null } }),
    onMap: () => () => undefined, events: null, auth: null, connections: null,
  };
}

test('ops/s is the rate between two load reports; a restarted node has none for that interval', () => {
  const h = host();
  const feed = new DashboardFeed(h);
  let [a, b] = feed.nodes();
  assert.equal({ id: a!.id, isLive: a!.isLive, appliedRev: a!.appliedRev, load: a!.load, ops: a!.opsPerSec }, { id: 'a', isLive: true, appliedRev: 3, load: null, ops: null });
  assert.equal({ isLive: b!.isLive, appliedRev: b!.appliedRev, backfilling: b!.backfilling }, { isLive: false, appliedRev: null, backfilling: null });
  h.loads.set('a', load(100, 1000));
  assert.is(feed.nodes()[0]!.opsPerSec, null, 'one report: no rate yet');
  h.loads.set('a', load(600, 2000));
  assert.is(feed.nodes()[0]!.opsPerSec, 500);
  assert.is(feed.nodes()[0]!.opsPerSec, 500, 'the same report again keeps its rate');
  h.loads.set('a', load(10, 3000));
  assert.is(feed.nodes()[0]!.opsPerSec, null, 'the counter went back: a restart');
  h.repl.set('b', { backfilling: 2, seqnos: {}, copiedBytes: 7 });
  [, b] = feed.nodes();
  assert.equal({ backfilling: b!.backfilling, copiedBytes: b!.copiedBytes }, { backfilling: 2, copiedBytes: 7 });
});

test("a followed unit lists every reported copy, and the chain's members even before they report", () => {
  const map: ClusterMap = {
    epoch: 1, rev: 1, bits: 2, unitBits: 1, nodes: [{ ...record('a'), state: 'active' }, { ...record('b'), state: 'active' }],
    chains: [[0, 1]], runStarts: [0], runChains: [0], moves: [],
  };
  const h = host(map);
  const feed = new DashboardFeed(h);
  assert.equal(feed.follow(1), { unit: 1, copies: [{ id: 'a', seqno: null }, { id: 'b', seqno: null }] });
  h.repl.set('b', { backfilling: 0, seqnos: { 1: 42 }, copiedBytes: 0 });
  assert.equal(feed.follow(1), { unit: 1, copies: [{ id: 'b', seqno: 42 }, { id: 'a', seqno: null }] });
  assert.equal(feed.follow(99), { unit: 99, copies: [] }, 'a unit outside the map');
});

test.run();
