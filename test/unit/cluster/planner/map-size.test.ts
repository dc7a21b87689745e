import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { Encoder } from 'cbor-x';
import type { ClusterMap } from '../../../../shared/cluster-map.js';
import { plan, type PlannerNode } from '../../../../cluster/manager/planner/plan.js';
import { makeNode } from './planner-fixtures.js';

const test = suite('planner - map size');

// The same settings as the wire codec.
const encoder = new Encoder({ useRecords: false, variableMapSize: true });
const sizeOf = (map: ClusterMap): number => encoder.encode(map).length;

/** 100 nodes over 4 zones, weights 1..10. */
function hundredNodes(): PlannerNode[] {
  return Array.from({ length: 100 }, (_, i) => makeNode(i, `z${i % 4}`, 1 + ((i * 37) % 10)));
}

test('a 2^20-bucket map of 100 nodes encodes to tens of KiB, also after churn', () => {
  let nodes = hundredNodes();
  let result = plan({ previous: null, nodes, redundancy: 3, bits: 20 });
  assert.ok(sizeOf(result.map) < 32 * 1024, `new cluster: ${sizeOf(result.map)} bytes`);
  // Joins and removals, one plan each.
  for (let k = 0; k < 6; k++) {
    nodes = [...nodes, makeNode(100 + k, `z${k % 4}`, 1 + (k % 10))];
    result = plan({ previous: result.map, nodes, redundancy: 3 });
    nodes = nodes.filter((_, i) => i !== 7 * k + 3);
    result = plan({ previous: result.map, nodes, redundancy: 3 });
  }
  assert.ok(sizeOf(result.map) < 64 * 1024, `after churn: ${sizeOf(result.map)} bytes, ${result.map.runStarts.length} runs`);
});

test.run();
