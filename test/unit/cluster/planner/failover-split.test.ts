import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import * as fc from 'fast-check';
import { chainOf } from '../../../../shared/cluster-map.js';
import { balanceReport, plan, promoteOnly, splitBuckets, type PlannerNode } from '../../../../cluster/manager/planner/plan.js';
import { checkPlacement, clusterArb, makeNode, unitChains } from './planner-fixtures.js';

const test = suite('planner - failover and split');

test('promoteOnly hands each unit of a failed active to its highest-seqno replica and changes nothing else', () => {
  fc.assert(fc.property(clusterArb(2, 40), fc.array(fc.nat(), { minLength: 1, maxLength: 4 }), fc.nat(), (spec, picks, salt) => {
    const redundancy = Math.max(2, spec.redundancy);
    const { map } = plan({ previous: null, nodes: spec.nodes, redundancy, bits: 20 });
    const failed = new Set(picks.map((p) => spec.nodes[p % spec.nodes.length]!.id));
    const units = 2 ** map.unitBits;
    const seqnos: Record<string, Record<number, number>> = {};
    spec.nodes.forEach((n, i) => {
      if ((i + salt) % 3 === 0) return; // some nodes report nothing: seqno 0
      seqnos[n.id] = {};
      for (let u = 0; u < units; u += 1 + ((i * 7 + salt) % 5)) seqnos[n.id]![u] = (u * 31 + i * 17 + salt) % 11;
    });
    const seq = (node: number, unit: number): number => seqnos[map.nodes[node]!.id]?.[unit] ?? 0;
    const { map: next, lostUnits } = promoteOnly(map, failed, seqnos);
    assert.is(next.epoch, map.epoch + 1);
    assert.is(next.rev, map.rev + 1);
    assert.is(next.unitBits, map.unitBits);
    const isFailed = (i: number): boolean => failed.has(map.nodes[i]!.id);
    next.nodes.forEach((n, i) => assert.is(n.state, isFailed(i) ? 'failed' : map.nodes[i]!.state));
    const before = unitChains(map);
    const after = unitChains(next);
    const lost: number[] = [];
    before.forEach((chain, u) => {
      const survivors = chain.slice(1).filter((m) => !isFailed(m));
      let expected: number[];
      if (!isFailed(chain[0]!)) {
        expected = chain.filter((m) => !isFailed(m));
      } else if (survivors.length === 0) {
        expected = [chain[0]!];
        lost.push(u);
      } else {
        const best = survivors.reduce((b, m) => (seq(m, u) > seq(b, u) ? m : b));
        expected = [best, ...survivors.filter((m) => m !== best)];
      }
      if (expected.join() !== after[u]!.join()) assert.unreachable(`unit ${u}: ${chain.join()} → ${after[u]!.join()}, expected ${expected.join()}`);
    });
    assert.equal(lostUnits, lost);
  }), { numRuns: 40 });
});

test('after promoteOnly, a plan restores the copies without touching units that kept theirs', () => {
  const nodes = Array.from({ length: 8 }, (_, i) => makeNode(i, `z${i % 3}`, 1 + (i % 3)));
  const { map } = plan({ previous: null, nodes, redundancy: 3 });
  const { map: promoted, lostUnits } = promoteOnly(map, new Set([nodes[2]!.id]));
  assert.equal(lostUnits, []);
  const failedNodes: PlannerNode[] = nodes.map((n, i) => (i === 2 ? { ...n, state: 'failed' } : n));
  const restored = plan({ previous: promoted, nodes: failedNodes, redundancy: 3 });
  checkPlacement(restored.map, 3);
  assert.ok(restored.balance.maxActiveRatio <= 1.05);
  const before = unitChains(map);
  const after = unitChains(restored.map);
  before.forEach((chain, u) => {
    if (!chain.includes(2) && chain.join() !== after[u]!.join()) assert.unreachable(`unit ${u} changed`);
  });
});

test('promoteOnly reports units whose every copy failed, and keeps them routed', () => {
  const nodes = [makeNode(0, '', 1), makeNode(1, '', 1)];
  const { map } = plan({ previous: null, nodes, redundancy: 1, bits: 12 });
  const { map: next, lostUnits } = promoteOnly(map, new Set([nodes[0]!.id]));
  const owned = unitChains(map).flatMap((c, u) => (c[0] === 0 ? [u] : []));
  assert.equal(lostUnits, owned);
  for (const u of owned) assert.equal(chainOf(next, u * 2 ** (next.bits - next.unitBits)), [0]);
});

test('splitBuckets keeps every key with its owner: bucket b before is 2b and 2b+1 after', () => {
  fc.assert(fc.property(clusterArb(1, 30), fc.array(fc.nat(), { minLength: 50, maxLength: 50 }), (spec, draws) => {
    const { map } = plan({ previous: null, nodes: spec.nodes, redundancy: spec.redundancy, bits: 18 });
    const next = splitBuckets(map);
    assert.is(next.bits, map.bits + 1);
    assert.is(next.unitBits, map.unitBits);
    assert.is(next.epoch, map.epoch);
    assert.is(next.rev, map.rev + 1);
    const edges = map.runStarts.flatMap((s) => [s, Math.max(0, s - 1)]);
    for (const b of [...edges, ...draws.map((d) => d % 2 ** map.bits), 2 ** map.bits - 1]) {
      const owner = chainOf(map, b);
      assert.equal(chainOf(next, 2 * b), owner);
      assert.equal(chainOf(next, 2 * b + 1), owner);
    }
    const again = plan({ previous: next, nodes: spec.nodes, redundancy: spec.redundancy });
    assert.equal(again.moves, []);
  }), { numRuns: 30 });
});

test('balanceReport counts units from the runs and flags units on nodes that should hold none', () => {
  const nodes = [makeNode(0, '', 1), makeNode(1, '', 3)];
  const { map, balance } = plan({ previous: null, nodes, redundancy: 2, bits: 16 });
  assert.is(balance.units, 2 ** map.unitBits);
  assert.is(balance.nodes[0]!.activeUnits + balance.nodes[1]!.activeUnits, balance.units);
  assert.is(balance.nodes[0]!.replicaUnits + balance.nodes[1]!.replicaUnits, balance.units);
  assert.ok(Math.abs(balance.nodes[1]!.activeQuota - 0.75 * balance.units) < 1e-9);
  assert.is(balance.strandedUnits, 0);
  const leaving = { ...map, nodes: map.nodes.map((n, i) => (i === 0 ? { ...n, state: 'leaving' as const } : n)) };
  const report = balanceReport(leaving);
  assert.is(report.strandedUnits, balance.nodes[0]!.activeUnits + balance.nodes[0]!.replicaUnits);
  assert.is(report.nodes[0]!.activeRatio, null);
  assert.ok(Math.abs(report.maxActiveRatio - balance.nodes[1]!.activeUnits / balance.units) < 1e-9);
});

test.run();
