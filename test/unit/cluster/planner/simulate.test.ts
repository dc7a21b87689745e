import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { UsageError } from '../../../../bin/cli-util.js';
import { simulate } from '../../../../cluster/manager/planner/simulate.js';
import { formatSimulation, parseSimulationArgs } from '../../../../bin/commands/plan.js';

const test = suite('planner - simulator');

test('switches map onto simulation options, with defaults', () => {
  assert.equal(parseSimulationArgs([]), { nodes: 10, add: 0, remove: 0, fail: 0, zones: 0, redundancy: 2, bits: 24, weights: [1], isJson: false });
  const o = parseSimulationArgs(['--nodes', '6', '--add', '2', '--remove', '1', '--fail', '1', '--zones', '3', '--weights', '1, 2.5', '--redundancy', '3', '--bits', '20', '--json']);
  assert.equal(o, { nodes: 6, add: 2, remove: 1, fail: 1, zones: 3, redundancy: 3, bits: 20, weights: [1, 2.5], isJson: true });
  assert.is(parseSimulationArgs(['--help']), 'help');
});

test('bad switches raise a UsageError', () => {
  for (const args of [['--nodes', '0'], ['--nodes', 'x'], ['--weights', '1,-2'], ['--remove', '3', '--nodes', '3'], ['--fail', '4', '--nodes', '3', '--add', '5'], ['--bogus'], ['extra']]) {
    assert.throws(() => parseSimulationArgs(args), (e: Error) => e instanceof UsageError, args.join(' '));
  }
});

test('a simulated join reports moves close to the ideal share and a balanced cluster', () => {
  const r = simulate({ nodes: 10, add: 1, remove: 0, fail: 0, zones: 0, weights: [1], redundancy: 2, bits: 20 });
  assert.ok(Math.abs(r.moves.active - r.moves.idealActive) <= 2, JSON.stringify(r.moves));
  assert.ok(Math.abs(r.moves.replica - r.moves.idealReplica) <= 2, JSON.stringify(r.moves));
  assert.ok(r.balance.after.maxActiveRatio <= 1.05);
  const joiner = r.nodes.find((n) => n.id === 'node-10')!;
  assert.is(joiner.movesIn, r.moves.active + r.moves.replica);
  const text = formatSimulation(r);
  assert.ok(text.includes(`moves: ${r.moves.active} active, ${r.moves.replica} replica`), text);
  assert.ok(text.includes('node-10'), text);
});

test('a simulated failure promotes first, then restores the copies', () => {
  const r = simulate({ nodes: 6, add: 0, remove: 0, fail: 1, zones: 2, weights: [1, 2], redundancy: 2, bits: 20 });
  assert.ok(r.failover !== null && r.failover.promotedUnits > 0 && r.failover.lostUnits === 0, JSON.stringify(r.failover));
  const failed = r.nodes.find((n) => n.id === 'node-0')!;
  assert.is(failed.state, 'failed');
  assert.is(failed.activeAfter + failed.replicaAfter, 0);
});

test.run();
