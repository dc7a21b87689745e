import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { Writable } from 'node:stream';
import { UsageError } from '../../../bin/cli-util.js';
import { parseWakeArgs, runWakeBench, wakeFigures, WAKE_BENCH_DEFAULTS, type WakeBenchOptions, type WakeSeries } from '../../../bench/wake-bench.js';

const test = suite('bench - wake bench');

function options(argv: string[]): WakeBenchOptions {
  const o = parseWakeArgs(argv);
  if (o === 'help') throw new Error('expected options, got help');
  return o;
}

const series = (server: string, connections: number, user: number): WakeSeries => ({ server, connections, messagesPerSec: 1000, userUsPerMessage: user, sysUsPerMessage: 1 });

test('arguments: defaults, overrides, help and bad values', () => {
  assert.equal(options([]), { ...WAKE_BENCH_DEFAULTS });
  const o = options(['--requests', '16', '--busy', '4', '--seconds', '2', '--rounds', '2', '--warmup', '0.5', '--json', 'w.json']);
  assert.equal([o.requests, o.busy, o.seconds, o.rounds, o.warmupMs, o.jsonFile], [16, 4, 2, 2, 500, 'w.json']);
  assert.is(parseWakeArgs(['--help']), 'help');
  for (const [flag, bad] of [['--requests', '0'], ['--requests', '1.5'], ['--busy', '257'], ['--seconds', '0'], ['--rounds', 'x'], ['--warmup', '-1'], ['--nope', '1']]) {
    assert.throws(() => parseWakeArgs([flag!, bad!]), (e: unknown) => e instanceof UsageError, `${flag} ${bad}`);
  }
});

test('figures: a wake-up costs woken minus busy, per server, and the ratio when both ran', () => {
  const both = wakeFigures({ requests: 4, skipped: [], series: [series('PandaKV node', 1, 27), series('PandaKV node', 8, 9), series('memcached', 1, 5), series('memcached', 8, 3)] });
  const by = new Map(both.map((f) => [f.id, f.value]));
  assert.is(by.get('wake.node.wakeUserUs'), 18);
  assert.is(by.get('wake.memcached.wakeUserUs'), 2);
  assert.is(by.get('wake.userRatio'), 9);
  assert.ok(both.every((f) => f.target === null && f.isPass === null), 'informational figures');
  const alone = wakeFigures({ requests: 4, skipped: ['memcached: not found'], series: [series('PandaKV node', 1, 20), series('PandaKV node', 8, 8)] });
  assert.equal(alone.map((f) => f.id), ['wake.node.wokenUserUs', 'wake.node.busyUserUs', 'wake.node.wakeUserUs']);
});

test('a short run against a real node measures every series with answered messages', async () => {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const r = await runWakeBench({ ...WAKE_BENCH_DEFAULTS, busy: 2, seconds: 0.4, rounds: 1, warmupMs: 100 }, sink);
  const node = r.series.filter((s) => s.server === 'PandaKV node');
  assert.equal(node.map((s) => s.connections), [1, 2]);
  for (const s of r.series) {
    assert.ok(s.messagesPerSec > 0, `${s.server}, ${s.connections}: messages answered`);
    assert.ok(Number.isFinite(s.userUsPerMessage) && s.userUsPerMessage >= 0, `${s.server}: user CPU per message`);
  }
  assert.is(r.series.length, r.skipped.length === 0 ? 4 : 2);
});

test.run();
