import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import * as fc from 'fast-check';
import { plan } from '../../../../cluster/manager/planner/plan.js';
import {
  checkPlacement, clusterArb, countUnits, hasRoomOutsideZones, isReplicaBalanceFeasible, makeNode, unitChains,
} from './planner-fixtures.js';

const test = suite('planner - new clusters');

const RUNS = 60;

test('actives stay within 5% of the weighted quota and every placement rule holds', () => {
  fc.assert(fc.property(clusterArb(), (spec) => {
    const { map, balance } = plan({ previous: null, nodes: spec.nodes, redundancy: spec.redundancy });
    const chains = unitChains(map);
    checkPlacement(map, spec.redundancy, chains);
    assert.ok(balance.maxActiveRatio <= 1.05, `active max/mean ${balance.maxActiveRatio}`);
    const { active } = countUnits(map, chains);
    assert.equal(active, balance.nodes.map((n) => n.activeUnits));
  }), { numRuns: RUNS });
});

test('replicas stay within 5% of the weighted quota whenever some placement allows it', () => {
  fc.assert(fc.property(clusterArb(), (spec) => {
    const { map, balance } = plan({ previous: null, nodes: spec.nodes, redundancy: spec.redundancy });
    if (!hasRoomOutsideZones(map, spec.redundancy)) return;
    const chains = unitChains(map);
    // The oracle is asked for 2%: caps allow 1% slack and rounding up to whole units.
    if (!isReplicaBalanceFeasible(map, chains, 1.02)) return;
    assert.ok(balance.maxReplicaRatio <= 1.05, `replica max/mean ${balance.maxReplicaRatio}`);
  }), { numRuns: RUNS });
});

test('without zones and with no node heavier than 1/redundancy of the weight, replicas are balanced', () => {
  fc.assert(fc.property(clusterArb(3, 60), (spec) => {
    const nodes = spec.nodes.map((n) => ({ ...n, zone: '' }));
    const total = nodes.reduce((s, n) => s + n.weight, 0);
    const redundancy = Math.max(2, spec.redundancy);
    if (nodes.some((n) => n.weight / total > 0.95 / redundancy)) return;
    const { balance, warnings } = plan({ previous: null, nodes, redundancy });
    assert.ok(balance.maxReplicaRatio <= 1.05, `replica max/mean ${balance.maxReplicaRatio}`);
    assert.equal(warnings, []);
  }), { numRuns: 30 });
});

test('the same input gives the same map, whatever the order of the nodes', () => {
  fc.assert(fc.property(clusterArb(1, 50), fc.nat(), (spec, seed) => {
    const a = plan({ previous: null, nodes: spec.nodes, redundancy: spec.redundancy });
    const shuffled = [...spec.nodes].sort((x, y) => ((x.id.charCodeAt(7) * 31 + seed) % 17) - ((y.id.charCodeAt(7) * 31 + seed) % 17));
    const b = plan({ previous: null, nodes: shuffled, redundancy: spec.redundancy });
    assert.equal(b.map, a.map);
    assert.equal(b.moves, a.moves);
  }), { numRuns: 30 });
});

test('planning an unchanged cluster again changes nothing, not even the revision', () => {
  fc.assert(fc.property(clusterArb(), (spec) => {
    const first = plan({ previous: null, nodes: spec.nodes, redundancy: spec.redundancy });
    const again = plan({ previous: first.map, nodes: spec.nodes, redundancy: spec.redundancy });
    assert.equal(again.moves, []);
    assert.equal(again.map, first.map);
  }), { numRuns: RUNS });
});

test('a new cluster starts at epoch 1, rev 1, with nothing to move and a unit grain giving each node 100+ units', () => {
  const nodes = [makeNode(0, '', 1), makeNode(1, '', 10), makeNode(2, '', 2.5)];
  const { map, balance, moves } = plan({ previous: null, nodes, redundancy: 2 });
  assert.equal(moves, []);
  assert.is(map.epoch, 1);
  assert.is(map.rev, 1);
  assert.is(map.bits, 24);
  assert.ok(Math.min(...balance.nodes.map((n) => n.activeQuota)) >= 100);
  assert.ok(Math.min(...balance.nodes.map((n) => n.activeQuota)) < 200);
});

test('warnings explain what cannot be met', () => {
  const two = [makeNode(0, 'a', 1), makeNode(1, 'b', 1)];
  const { warnings } = plan({ previous: null, nodes: two, redundancy: 3 });
  assert.ok(warnings.some((w) => w.includes('only 2 placeable')), warnings.join('; '));
  const lopsided = [makeNode(0, 'a', 1), makeNode(1, 'a', 1), makeNode(2, 'a', 1), makeNode(3, 'b', 1)];
  const r3 = plan({ previous: null, nodes: lopsided, redundancy: 3 });
  assert.ok(r3.warnings.some((w) => w.includes('3 copies over 2 zones')), r3.warnings.join('; '));
  assert.ok(r3.warnings.some((w) => w.includes('zone a: only 1 placeable node(s) outside it')), r3.warnings.join('; '));
  checkPlacement(r3.map, 3);
});

test('invalid input is refused with a RangeError', () => {
  const ok = [makeNode(0, '', 1)];
  assert.throws(() => plan({ previous: null, nodes: ok, redundancy: 0 }), RangeError);
  assert.throws(() => plan({ previous: null, nodes: [makeNode(0, '', 0)], redundancy: 1 }), RangeError);
  assert.throws(() => plan({ previous: null, nodes: [makeNode(0, '', 1), makeNode(0, '', 1)], redundancy: 1 }), RangeError);
  assert.throws(() => plan({ previous: null, nodes: [makeNode(0, '', 1, 'failed')], redundancy: 1 }), RangeError);
  assert.throws(() => plan({ previous: null, nodes: ok, redundancy: 1, bits: 60 }), RangeError);
});

test.run();
