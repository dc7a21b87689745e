import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { CELL, mapGrid } from '../../../../cluster/manager/ui/map-grid.js';
import { locateKey } from '../../../../cluster/manager/ui/follow-key.js';
import { addSample, rebalanceRate } from '../../../../cluster/manager/ui/rebalance-rate.js';
import { NO_CHANGE, redundancyOf, runWhatIf, syntheticMap } from '../../../../cluster/manager/ui/what-if.js';
import { balanceReport } from '../../../../cluster/manager/planner/plan.js';
import { chainOf, unitOf, type ClusterMap } from '../../../../shared/cluster-map.js';
import { bucketOf } from '../../../../shared/keystream.js';

const test = suite('dashboard - the page\'s pure parts (grid, key, rate, what-if)');

/** 2 nodes, 8 buckets, 4 units: units 0-1 on [0,1], units 2-3 on [1,0]; unit 3 moving 1 → 0. */
function small(): ClusterMap {
  const node = (id: string) => ({ id, address: `ws://${id}:1`, peerKey: null, zone: '', weight: 1, state: 'active' as const });
  return {
    epoch: 2, rev: 5, bits: 3, unitBits: 2, nodes: [node('a'), node('b')], chains: [[0, 1], [1, 0]],
    runStarts: [0, 4], runChains: [0, 1], moves: [{ unit: 3, from: 1, to: 0, phase: 'backfill' }],
  };
}

test('the grid marks active, replica and moving cells per node and column', () => {
  const g = mapGrid(small(), 4);
  assert.is(g.columns, 4);
  assert.is(g.unitsPerColumn, 1);
  assert.equal([...g.cells.subarray(0, 4)], [CELL.ACTIVE, CELL.ACTIVE, CELL.REPLICA, CELL.MOVING]);
  assert.equal([...g.cells.subarray(4, 8)], [CELL.REPLICA, CELL.REPLICA, CELL.ACTIVE, CELL.MOVING]);
  assert.equal([...g.activeUnits], [2, 2]);
  assert.equal([...g.replicaUnits], [2, 2]);
  // Two units per column: a column keeps its strongest role.
  const h = mapGrid(small(), 2);
  assert.is(h.unitsPerColumn, 2);
  assert.equal([...h.cells], [CELL.ACTIVE, CELL.MOVING, CELL.REPLICA, CELL.MOVING]);
  assert.is(mapGrid(small(), 0).columns, 1);
});

test('a big map becomes a grid of at most the columns asked for, every unit counted', () => {
  const { map } = syntheticMap(100, 0, 20, 2);
  const g = mapGrid(map, 960);
  assert.ok(g.columns <= 960);
  assert.is(g.activeUnits.reduce((a, b) => a + b, 0), 2 ** map.unitBits);
  assert.is(g.replicaUnits.reduce((a, b) => a + b, 0), 2 ** map.unitBits);
});

test('a key is located with the SDK\'s keystream and routing', () => {
  const map = small();
  const p = locateKey(map, 'user:42');
  assert.is(p.bucket, bucketOf('user:42', 3));
  assert.is(p.unit, unitOf(map, p.bucket));
  assert.equal(p.chain, chainOf(map, p.bucket).map((i) => map.nodes[i]!.id));
  assert.is(p.epoch, 2);
  const moving = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'k1', 'k2', 'k3'].map((k) => locateKey(map, k)).find((x) => x.unit === 3);
  assert.ok(moving !== undefined, 'some key lands in the moving unit');
  assert.equal(moving.move, { unit: 3, from: 'b', to: 'a', phase: 'backfill' });
});

test('the rebalance rate is taken over a window and projects an ETA', () => {
  let s = addSample([], { at: 0, unitsMoved: 0, bytesCopied: 0 }, 10_000);
  assert.equal(rebalanceRate(s, 10), { unitsPerSec: 0, bytesPerSec: 0, etaMs: null });
  s = addSample(s, { at: 2000, unitsMoved: 10, bytesCopied: 2000 }, 10_000);
  const r = rebalanceRate(s, 50);
  assert.is(r.unitsPerSec, 5);
  assert.is(r.bytesPerSec, 1000);
  assert.is(r.etaMs, 10_000);
  s = addSample(s, { at: 20_000, unitsMoved: 10, bytesCopied: 2000 }, 10_000);
  assert.is(s.length, 1, 'old samples leave the window');
  s = addSample([...s, { at: 21_000, unitsMoved: 12, bytesCopied: 2100 }], { at: 22_000, unitsMoved: 1, bytesCopied: 0 }, 10_000);
  assert.is(s.length, 1, 'a counter going back starts over');
});

test('the what-if runs the planner: adding a node moves about its share', () => {
  const start = syntheticMap(4, 0, 16, 2).map;
  const r = runWhatIf({ kind: 'live', map: start }, { ...NO_CHANGE, add: [{ zone: '', weight: 1 }] });
  const units = 2 ** r.next.unitBits;
  assert.ok(r.activeMoves > 0 && r.activeMoves <= units / 5 * 1.2, `active moves ${r.activeMoves} of ${units}`);
  assert.ok(r.replicaMoves > 0);
  assert.is(r.nodes.length, 5);
  assert.is(r.nodes.find((n) => n.id === 'new-0')?.activeBefore, 0);
  assert.ok(r.after.maxActiveRatio < 1.1, `balanced after: ${r.after.maxActiveRatio}`);
  assert.equal(r.before, balanceReport(start));
  assert.is(r.failover, null);
  assert.is(redundancyOf(r.next), 2);
});

test('the what-if fails, removes, re-weights and changes redundancy, never touching its input', () => {
  const start = syntheticMap(5, 0, 16, 2).map;
  const frozen = JSON.stringify(start);
  const failed = runWhatIf({ kind: 'live', map: start }, { ...NO_CHANGE, fail: ['node-0'] });
  assert.ok(failed.failover !== null && failed.failover.promotedUnits > 0 && failed.failover.lostUnits === 0);
  assert.is(failed.after.nodes.find((n) => n.id === 'node-0')?.activeUnits, 0);
  const removed = runWhatIf({ kind: 'live', map: start }, { ...NO_CHANGE, remove: ['node-4'], weights: { 'node-0': 2 } });
  assert.is(removed.after.nodes.find((n) => n.id === 'node-4')?.activeUnits, 0);
  const heavy = removed.after.nodes.find((n) => n.id === 'node-0')!.activeUnits;
  const light = removed.after.nodes.find((n) => n.id === 'node-1')!.activeUnits;
  assert.ok(heavy > light * 1.5, `weight 2 holds more: ${heavy} vs ${light}`);
  const three = runWhatIf({ kind: 'synthetic', nodes: 5, zones: 0, bits: 16, redundancy: 2 }, { ...NO_CHANGE, redundancy: 3 });
  assert.is(redundancyOf(three.next), 3);
  assert.ok(three.moves.every((m) => m.role === 'replica'));
  assert.throws(() => runWhatIf({ kind: 'live', map: start }, { ...NO_CHANGE, fail: start.nodes.map((n) => n.id) }), /no node/);
  assert.is(JSON.stringify(start), frozen);
});

test.run();
