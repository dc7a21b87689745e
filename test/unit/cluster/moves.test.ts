import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import * as fc from 'fast-check';
import { chainOf, type ClusterMap } from '../../../shared/cluster-map.js';
import { plan } from '../../../cluster/manager/planner/plan.js';
import { clearStaged, countUnitsToMove, demoteActive, stagedMembers, needsDataMoves, stageBatch, switchBatch, unstageBatch } from '../../../cluster/manager/moves.js';
import { makeNode } from './planner/planner-fixtures.js';

const test = suite('cluster - moves with data');

/** Chain of every unit as node ids, at the map's unit size. */
function chains(map: ClusterMap, unitBits = map.unitBits): string[][] {
  const size = 2 ** (map.bits - unitBits);
  return Array.from({ length: 2 ** unitBits }, (_, u) => chainOf(map, u * size).map((i) => map.nodes[i]!.id));
}

function cluster(nodes: number, redundancy: number): ClusterMap {
  return plan({ previous: null, nodes: Array.from({ length: nodes }, (_, i) => makeNode(i, '', 1)), redundancy, bits: 16 }).map;
}

test('staging a join keeps every active and every existing copy, and only appends new members', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 64 }), (n, r, perNode) => {
    const before = cluster(n, r);
    const nodes = Array.from({ length: n + 1 }, (_, i) => makeNode(i, '', 1));
    const target = plan({ previous: before, nodes, redundancy: r }).map;
    if (!needsDataMoves(before, target)) return;
    let base = before;
    for (let round = 0; round < 10_000; round++) {
      const batch = stageBatch(base, target, { perNode, total: perNode * 4 });
      if (batch === null) break;
      const unitBits = batch.staged.unitBits;
      const old = chains(base, unitBits);
      const staged = chains(batch.staged, unitBits);
      assert.is(batch.staged.epoch, base.epoch, 'staging never changes an active, so the epoch stays');
      assert.is(batch.staged.rev, base.rev + 1);
      for (let u = 0; u < old.length; u++) {
        assert.equal(staged[u]!.slice(0, old[u]!.length), old[u], `unit ${u}: existing chain kept in order`);
      }
      const gained = new Map<string, number>();
      for (const u of batch.units) for (const id of staged[u]!.slice(old[u]!.length)) gained.set(id, (gained.get(id) ?? 0) + 1);
      for (const [id, count] of gained) assert.ok(count <= perNode, `${id} gains ${count} > ${perNode}`);
      const switched = switchBatch(batch.staged, batch.final);
      const after = chains(switched, unitBits);
      for (const u of batch.units) assert.equal(after[u], batch.final.get(u));
      base = switched;
    }
    assert.is(stageBatch(base, target, { perNode, total: perNode * 4 }), null, 'every unit that gains a copy got it');
  }), { numRuns: 40 });
});

test('a move switches only after staging: the planned active of a staged unit was already a member', () => {
  const before = cluster(3, 2);
  const target = plan({ previous: before, nodes: Array.from({ length: 4 }, (_, i) => makeNode(i, '', 1)), redundancy: 2 }).map;
  const batch = stageBatch(before, target, { perNode: 1_000, total: 100_000 })!;
  const staged = chains(batch.staged);
  for (const [u, chain] of batch.final) for (const id of chain) assert.ok(staged[u]!.includes(id), `unit ${u}: ${id} staged before the switch`);
  assert.ok(batch.gainers.has(makeNode(3, '', 1).id), 'the new node gains copies');
});

test('rolling a staged batch back puts every unit back on the chain it had before the batch', () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 16 }), (n, r, perNode) => {
    const before = cluster(n, r);
    const target = plan({ previous: before, nodes: Array.from({ length: n + 1 }, (_, i) => makeNode(i, '', 1)), redundancy: r }).map;
    const batch = stageBatch(before, target, { perNode, total: perNode * 4 });
    if (batch === null) return;
    const unitBits = batch.staged.unitBits;
    const back = unstageBatch(batch.staged, unitBits, batch.added);
    assert.ok(back !== null, 'a staged batch has copies to take out');
    assert.equal(chains(back, unitBits), chains(before, unitBits), 'every chain as before the batch');
    assert.is(back.epoch, batch.staged.epoch, 'no active changes, so the epoch stays');
    assert.is(back.rev, batch.staged.rev + 1);
    assert.equal(back.moves, [], 'no unit is left in motion');
    assert.is(countUnitsToMove(back, target), batch.units.length + batch.remaining, 'the rolled-back units are still to move');
    assert.is(unstageBatch(back, unitBits, batch.added), null, 'rolling back twice changes nothing');
  }), { numRuns: 40 });
});

test('the members of staged units are every node of their chains; clearing the moves keeps the chains', () => {
  const before = cluster(3, 2);
  const target = plan({ previous: before, nodes: Array.from({ length: 4 }, (_, i) => makeNode(i, '', 1)), redundancy: 2 }).map;
  const batch = stageBatch(before, target, { perNode: 8, total: 8 })!;
  const members = stagedMembers(batch.staged);
  const staged = chains(batch.staged);
  for (const u of batch.units) for (const id of staged[u]!) assert.ok(members.has(id), `${id} of unit ${u}`);
  for (const id of batch.gainers) assert.ok(members.has(id), `gainer ${id}`);
  assert.is(stagedMembers(before).size, 0, 'nothing in motion, nobody to wait for');
  const cleared = clearStaged(batch.staged);
  assert.equal(cleared.moves, []);
  assert.is(cleared.rev, batch.staged.rev + 1);
  assert.equal(chains(cleared), staged);
});

test('a rolled-back copy that a failover made active stays in its chain', () => {
  const before = cluster(2, 1);
  const target = plan({ previous: before, nodes: Array.from({ length: 3 }, (_, i) => makeNode(i, '', 1)), redundancy: 2 }).map;
  const batch = stageBatch(before, target, { perNode: 1_000, total: 100_000 })!;
  const unitBits = batch.staged.unitBits;
  const [unit, added] = [...batch.added][0]!;
  // Promote the unit's first added copy to active, as a failover of its active would.
  const staged = chains(batch.staged, unitBits);
  const promotedId = added[0]!;
  const final = new Map([[unit, [promotedId, ...staged[unit]!.filter((id) => id !== promotedId)]]]);
  const promoted = switchBatch(batch.staged, final);
  const back = unstageBatch(promoted, unitBits, batch.added)!;
  assert.is(chains(back, unitBits)[unit]![0], promotedId, 'the new active is kept');
  assert.is(unstageBatch(promoted, unitBits + 1, batch.added), null, 'a reshaped map is left alone');
});

test('demoting a node hands its units to the replica with the highest seqno and keeps it as the last replica', () => {
  const map = cluster(3, 3);
  const victim = map.nodes[0]!.id;
  const seqnos: Record<string, Record<number, number>> = {};
  for (const n of map.nodes) seqnos[n.id] = {};
  const units = chains(map);
  units.forEach((chain, u) => {
    if (chain[0] === victim) seqnos[chain[2]!]![u] = 10; // the second replica is ahead
  });
  const next = demoteActive(map, victim, seqnos)!;
  assert.is(next.epoch, map.epoch + 1);
  const after = chains(next);
  units.forEach((chain, u) => {
    if (chain[0] !== victim) assert.equal(after[u], chain);
    else assert.equal(after[u], [chain[2], chain[1], victim]);
  });
  assert.is(demoteActive(cluster(1, 1), 'node-000', {}), null, 'nothing to hand over without replicas');
});

test.run();
