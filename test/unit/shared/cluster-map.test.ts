import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { activeRanges, chainOf, findRun, isNewer, staticMap, unitOf } from '../../../shared/cluster-map.js';

const test = suite('shared - cluster map');

test('a static map of one node sends every bucket to it', () => {
  const map = staticMap(['ws://a'], 10);
  for (const b of [0, 1, 511, 1023]) assert.equal(chainOf(map, b), [0]);
  assert.equal(activeRanges(map, 0), [[0, 1024]]);
});

test('a static map splits the buckets into equal contiguous runs', () => {
  const map = staticMap(['ws://a', 'ws://b', 'ws://c', 'ws://d'], 8);
  assert.equal(map.runStarts, [0, 64, 128, 192]);
  assert.is(findRun(map, 63), 0);
  assert.is(findRun(map, 64), 1);
  assert.is(findRun(map, 255), 3);
  assert.equal(activeRanges(map, 2), [[128, 192]]);
});

test('routing by binary search agrees with a linear search over random runs', () => {
  const map = staticMap(['ws://a', 'ws://b', 'ws://c'], 16);
  map.runStarts = [0];
  map.runChains = [0];
  let at = 0;
  for (let i = 1; i < 500; i++) {
    at += 1 + ((i * 2654435761) % 200);
    if (at >= 65536) break;
    map.runStarts.push(at);
    map.runChains.push(i % 3);
  }
  for (let b = 0; b < 65536; b += 97) {
    let linear = 0;
    for (let i = 0; i < map.runStarts.length; i++) if (map.runStarts[i]! <= b) linear = i;
    assert.is(findRun(map, b), linear);
  }
});

test('active ranges merge adjacent runs of the same node', () => {
  const map = staticMap(['ws://a', 'ws://b'], 4);
  map.runStarts = [0, 4, 8, 12];
  map.runChains = [0, 0, 1, 0];
  assert.equal(activeRanges(map, 0), [[0, 8], [12, 16]]);
  assert.equal(activeRanges(map, 1), [[8, 12]]);
});

test('a unit is an aligned block of 2^(bits − unitBits) buckets', () => {
  const map = staticMap(['ws://a'], 12);
  map.unitBits = 4;
  assert.is(unitOf(map, 0), 0);
  assert.is(unitOf(map, 255), 0);
  assert.is(unitOf(map, 256), 1);
  assert.is(unitOf(map, 4095), 15);
});

test('newer means a higher epoch, or the same epoch and a higher rev', () => {
  assert.ok(isNewer({ epoch: 2, rev: 0 }, { epoch: 1, rev: 9 }));
  assert.ok(isNewer({ epoch: 1, rev: 3 }, { epoch: 1, rev: 2 }));
  assert.not.ok(isNewer({ epoch: 1, rev: 2 }, { epoch: 1, rev: 2 }));
  assert.not.ok(isNewer({ epoch: 0, rev: 9 }, { epoch: 1, rev: 0 }));
});

test('a static map needs at least one node', () => {
  assert.throws(() => staticMap([]), RangeError);
});

test.run();
