import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { CELL, mapGrid } from '../../../../cluster/manager/ui/map-grid.js';
import { locateKey } from '../../../../cluster/manager/ui/follow-key.js';
import { addSample, bytesLeftEstimate, rebalanceRate } from '../../../../cluster/manager/ui/rebalance-rate.js';
import { METRICS } from '../../../../cluster/manager/ui/metric-names.js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
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

test('the what-if changes zones, reports the planner\'s warnings, and reads the redundancy of a map in motion', () => {
  const start = syntheticMap(4, 0, 12, 2).map;
  const zoned = runWhatIf({ kind: 'live', map: start }, { ...NO_CHANGE, zones: { 'node-0': 'a', 'node-1': 'a', 'node-2': 'b', 'node-3': 'b' } });
  const zoneOf = new Map(zoned.next.nodes.map((n) => [n.id, n.zone]));
  assert.is(zoneOf.get('node-2'), 'b');
  const units = 2 ** zoned.next.unitBits;
  const size = 2 ** (zoned.next.bits - zoned.next.unitBits);
  let sameZone = 0;
  for (let u = 0; u < units; u++) {
    const chain = chainOf(zoned.next, u * size).map((i) => zoned.next.nodes[i]!.zone);
    if (new Set(chain).size < chain.length) sameZone++;
  }
  assert.is(sameZone, 0, 'every chain spans both zones');
  // Three copies in two zones cannot all be apart: the planner says so.
  const tight = runWhatIf({ kind: 'live', map: zoned.next }, { ...NO_CHANGE, redundancy: 3 });
  assert.ok(tight.warnings.length > 0, 'a warning for copies sharing a zone');
  // A unit in motion holds one copy more until it switches: still 2 copies.
  const moving = { ...start, chains: [...start.chains, [0, 1, 2]], runChains: [start.chains.length, ...start.runChains.slice(1)] };
  assert.is(redundancyOf(moving), 2);
});

test('bytes left are estimated from the bytes per unit moved so far', () => {
  assert.is(bytesLeftEstimate(0, 0, 10), null, 'nothing moved yet: no estimate');
  assert.is(bytesLeftEstimate(4, 4000, 6), 6000);
  assert.is(bytesLeftEstimate(4, 4000, 0), 0, 'done');
});

test("every figure's metric name follows the scheme and is in the file named as where it is counted", () => {
  const root = fileURLToPath(new URL('../../../../../', import.meta.url));
  const names = new Set<string>();
  for (const [figure, m] of Object.entries(METRICS)) {
    assert.match(m.name, /^pandakv_(manager|node)_[a-z0-9_]+$/, figure);
    assert.ok(!names.has(m.name), `${m.name} named once`);
    names.add(m.name);
    const text = readFileSync(`${root}${m.source}`, 'utf8');
    assert.ok(text.includes(m.name) || text.includes(`METRICS.${figure}`), `${m.name} (or METRICS.${figure}) in ${m.source}`);
  }
});

test.run();
