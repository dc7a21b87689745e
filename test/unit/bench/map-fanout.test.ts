import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { UsageError } from '../../../bin/cli-util.js';
import { MAP_FANOUT_DEFAULTS, parseFanoutOutput, parseMapArgs, splitMapArgs, summarizeFanout, type MapFanoutOptions } from '../../../bench/map-fanout.js';
import { parsePushCounters, type FanoutReport } from '../../../bench/map-fanout-subscribers.js';

function options(argv: string[]): MapFanoutOptions {
  const o = parseMapArgs(argv);
  if (o === 'help') throw new Error('expected options, got help');
  return o;
}

function report(changes: FanoutReport['changes']): FanoutReport {
  return { changes, fullMapBytes: 1500, nodes: 54, pushes: { full: 50, delta: 5000 } };
}

const args = suite('bench - map fan-out arguments');

args('bench map takes the map switches and leaves the suite out', () => {
  assert.equal(splitMapArgs(['map', '--subscribers', '10']), { suiteArgv: null, mapArgv: ['--subscribers', '10'] });
  const o = options(['--subscribers', '10', '--changes', '5', '--json', 'out.json']);
  assert.equal([o.subscribers, o.changes, o.jsonFile], [10, 5, 'out.json']);
  assert.equal(options([]), { ...MAP_FANOUT_DEFAULTS });
  assert.is(parseMapArgs(['--help']), 'help');
});

args('--only map alone runs only the map bench, with the shared switches', () => {
  assert.equal(splitMapArgs(['--only', 'map', '--json', 'x.json', '--quick']), { suiteArgv: null, mapArgv: ['--json', 'x.json', '--quick'] });
  assert.equal(splitMapArgs(['--only=map', '--changes=7']), { suiteArgv: null, mapArgv: ['--changes', '7'] });
  assert.is(options(['--quick']).changes, 20);
});

args('--only with other phases hands the map switches to the map bench only', () => {
  const split = splitMapArgs(['--only', 'sdk,map,keystream', '--subscribers', '20', '--quick', '--json', 'r.json']);
  assert.equal(split.suiteArgv, ['--quick', '--json', 'r.json', '--only', 'sdk,keystream']);
  assert.equal(split.mapArgv, ['--subscribers', '20', '--quick']);
});

args('arguments without map are passed through untouched', () => {
  const argv = ['--only', 'sdk', '--subscribers', '3'];
  assert.equal(splitMapArgs(argv), { suiteArgv: argv, mapArgv: null });
  assert.equal(splitMapArgs([]), { suiteArgv: [], mapArgv: null });
});

args('rejects bad counts, unknown switches and stray arguments', () => {
  for (const argv of [['--subscribers', '0'], ['--changes', 'x'], ['--changes', '10001'], ['--keys', '5'], ['extra'], ['--json', ' ']]) {
    assert.throws(() => parseMapArgs(argv), (err: unknown) => err instanceof UsageError, argv.join(' '));
  }
});

const results = suite('bench - map fan-out results');

results('reads the push counters out of the manager metrics', () => {
  const text = [
    '# TYPE pandakv_manager_map_pushes_total counter',
    'pandakv_manager_map_pushes_total{kind="full"} 12',
    'pandakv_manager_map_pushes_total{kind="delta"} 3400',
  ].join('\n');
  assert.equal(parsePushCounters(text), { full: 12, delta: 3400 });
  assert.throws(() => parsePushCounters('pandakv_manager_map_epoch 3\n'), /kind="full"/);
});

results('takes the last result line of the subscriber process', () => {
  const r = report([{ rev: 9, latenciesMs: [1.5], missed: 0, deltaBytes: 300 }]);
  assert.equal(parseFanoutOutput(`noise\n${JSON.stringify({ result: r })}\n`), r);
  assert.throws(() => parseFanoutOutput('no result here\n'), /no result/);
});

results('summarizes every change × subscriber sample and judges the publish → subscriber p99 against the target', () => {
  const latencies = Array.from({ length: 100 }, (_, i) => i + 1);
  const r = summarizeFanout(report([
    { rev: 5, latenciesMs: latencies, publishLagsMs: latencies, missed: 0, deltaBytes: 200 },
    { rev: 6, latenciesMs: latencies, publishLagsMs: latencies, missed: 0, deltaBytes: null },
  ]), { ...MAP_FANOUT_DEFAULTS, subscribers: 100 });
  assert.is(r.latency.count, 200);
  assert.ok(Math.abs(r.latency.p50Us - 50_000) <= 50, `p50 ${r.latency.p50Us}`);
  assert.ok(Math.abs(r.latency.p99Us - 99_000) <= 100, `p99 ${r.latency.p99Us}`);
  assert.is(r.firstLatency.count, 2);
  assert.ok(Math.abs(r.lastLatency.maxUs - 100_000) <= 100);
  assert.is(r.meanDeltaBytes, 200);
  assert.is(r.finalRev, 6);
  assert.is(r.publishLatency.count, 200);
  assert.is(r.isPass, false);
  assert.is(summarizeFanout(report([{ rev: 5, latenciesMs: [300, 400, 500], publishLagsMs: [3, 4, 5], missed: 0, deltaBytes: 1 }]), MAP_FANOUT_DEFAULTS).isPass, true);
});

results('counts a subscriber that missed the deadline as the deadline, so it cannot pass', () => {
  const o = { ...MAP_FANOUT_DEFAULTS, subscribers: 3, changeTimeoutMs: 1000 };
  const r = summarizeFanout(report([{ rev: 5, latenciesMs: [1, 2], missed: 1, deltaBytes: 1 }]), o);
  assert.is(r.missed, 1);
  assert.is(r.latency.count, 3);
  assert.ok(r.latency.maxUs >= 999_000);
  assert.is(r.isPass, false);
});

args.run();
results.run();
