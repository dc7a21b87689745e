import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import * as fc from 'fast-check';
import { chainOf } from '../../../../shared/cluster-map.js';
import { chainAt, compressRuns, expandMap, type UnitChains } from '../../../../cluster/manager/planner/unit-chains.js';
import { makeNode } from './planner-fixtures.js';

const test = suite('planner - unit chains');

/** Random per-unit chains with long stretches, as the planner produces them. */
const chainsArb = fc.record({
  unitBits: fc.integer({ min: 0, max: 10 }),
  extraBits: fc.integer({ min: 0, max: 6 }),
  width: fc.integer({ min: 0, max: 2 }),
  seed: fc.array(fc.nat({ max: 7 }), { minLength: 64, maxLength: 64 }),
});

function build(unitBits: number, width: number, seed: number[]): UnitChains {
  const units = 2 ** unitBits;
  const c: UnitChains = { units, width, active: new Int32Array(units), replicas: new Int32Array(units * width).fill(-1) };
  for (let u = 0; u < units; u++) {
    const s = seed[Math.floor((u * seed.length) / units)]!;
    c.active[u] = s;
    // Replicas follow the active around a ring of 8 nodes; every third unit shifts them
    // and leaves the last slot empty, so that chains vary within a stretch.
    const shift = u % 3 === 0 ? 1 : 0;
    for (let k = 0; k < width; k++) c.replicas[u * width + k] = shift && k === width - 1 ? -1 : (s + 1 + k + shift) % 8;
  }
  return c;
}

test("routing through compressed runs gives every bucket its unit's chain, and expanding gives the units back", () => {
  fc.assert(fc.property(chainsArb, ({ unitBits, extraBits, width, seed }) => {
    const bits = unitBits + extraBits;
    const units = build(unitBits, width, seed);
    const runs = compressRuns(units, bits, unitBits);
    assert.is(new Set(runs.chains.map((c) => c.join())).size, runs.chains.length);
    for (let i = 1; i < runs.runChains.length; i++) assert.ok(runs.runChains[i] !== runs.runChains[i - 1], 'adjacent runs share a chain');
    const map = {
      epoch: 1, rev: 1, bits, unitBits, nodes: Array.from({ length: 8 }, (_, i) => makeNode(i, '', 1)), moves: [], ...runs,
    };
    const size = 2 ** extraBits;
    for (let u = 0; u < units.units; u++) {
      const expected = chainAt(units, u);
      assert.equal([...chainOf(map, u * size)], expected);
      assert.equal([...chainOf(map, (u + 1) * size - 1)], expected);
    }
    const back = expandMap(map, unitBits);
    assert.ok(back.isAligned);
    for (let u = 0; u < units.units; u++) assert.equal(chainAt(back.chains, u), chainAt(units, u));
  }), { numRuns: 60 });
});

test.run();
