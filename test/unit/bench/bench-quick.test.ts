import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { UsageError } from '../../../bin/cli-util.js';
import { MixPicker, parseMix, parseOps } from '../../../bench/mix.js';
import { parseBenchArgs } from '../../../bench/args.js';
import { BENCH_DEFAULTS, QUICK_OVERRIDES, type BenchOptions } from '../../../bench/options.js';
import { createLatencyHistogram, formatCount, formatLatencyUs, formatRunLine, recordMs, summarizeHistogram } from '../../../bench/histogram.js';
import { bestOf, makeKey, makeRandom, runWorkload, type OpExecutor } from '../../../bench/workload.js';
import { formatFigureLine, formatSummary, makeFigure } from '../../../bench/report.js';
import { computeMemory, sumNodeStats } from '../../../bench/memory-bench.js';
import { parseClientOutput } from '../../../bench/ceiling.js';
import { rawFrame } from '../../../bench/raw-lane.js';

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, UsageError);
    return err as UsageError;
  }
  assert.unreachable('expected a UsageError');
  throw new Error('unreachable');
}

function runOptions(argv: string[]): BenchOptions {
  const command = parseBenchArgs(argv);
  if (command.kind !== 'run') throw new Error(`expected a run, got ${command.kind}`);
  return command.options;
}

const mix = suite('bench - mix');

mix('parses weighted mixes and keeps their label', () => {
  const m = parseMix('get:90, set:10');
  assert.equal(m.weights, [{ op: 'get', weight: 90 }, { op: 'set', weight: 10 }]);
  assert.is(m.label, 'get:90,set:10');
});

mix('drops zero weights but refuses a mix that is all zero', () => {
  assert.equal(parseMix('get:1,set:0').weights, [{ op: 'get', weight: 1 }]);
  usageError(() => parseMix('get:0,set:0'));
});

mix('rejects unknown operations, bad weights and duplicates', () => {
  assert.match(usageError(() => parseMix('scan:10')).message, 'unknown operation "scan"');
  usageError(() => parseMix('get:x'));
  usageError(() => parseMix('get'));
  usageError(() => parseMix('get:1,get:2'));
  usageError(() => parseMix(''));
});

mix('turns --ops into one single-operation mix per name', () => {
  const mixes = parseOps('get,set');
  assert.equal(mixes.map((m) => m.label), ['get', 'set']);
  usageError(() => parseOps('get,get'));
  usageError(() => parseOps('get,frob'));
});

mix('picks operations in proportion to the weights', () => {
  const picker = new MixPicker(parseMix('get:90,set:10'));
  assert.is(picker.pick(0), 'get');
  assert.is(picker.pick(0.95), 'set');
  assert.is(picker.pick(0.999999), 'set');
  const random = makeRandom(7);
  let sets = 0;
  for (let i = 0; i < 100_000; i++) if (picker.pick(random()) === 'set') sets++;
  assert.ok(sets > 9_000 && sets < 11_000, `sets = ${sets}`);
});

mix.run();

const histogram = suite('bench - histogram summary');

histogram('summarises recorded latencies in microseconds', () => {
  const h = createLatencyHistogram();
  for (let i = 1; i <= 1000; i++) recordMs(h, i / 1000);
  const s = summarizeHistogram(h);
  assert.is(s.count, 1000);
  assert.is(s.p50Us, 500);
  assert.is(s.p99Us, 990);
  assert.is(s.p999Us, 999);
  assert.is(s.maxUs, 1000);
});

histogram('clamps latencies outside the tracked range instead of throwing', () => {
  const h = createLatencyHistogram();
  recordMs(h, 0);
  recordMs(h, 1e9);
  assert.is(summarizeHistogram(h).count, 2);
});

histogram('summarises an empty histogram as zeros', () => {
  assert.equal(summarizeHistogram(createLatencyHistogram()), { count: 0, meanUs: 0, p50Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 });
});

histogram('formats latencies, counts and run lines', () => {
  assert.is(formatLatencyUs(850), '850 µs');
  assert.is(formatLatencyUs(1250), '1.25 ms');
  assert.is(formatLatencyUs(25_400), '25.4 ms');
  assert.is(formatLatencyUs(2_500_000), '2.50 s');
  assert.is(formatCount(612_345.4), '612,345');
  assert.is(formatCount(999), '999');
  const line = formatRunLine('sdk get', 85_123, { count: 1, meanUs: 700, p50Us: 620, p99Us: 1400, p999Us: 3100, maxUs: 5000 });
  assert.match(line, '85,123 ops/s');
  assert.match(line, 'p50 620 µs');
  assert.match(line, 'p99 1.40 ms');
  assert.match(line, 'p99.9 3.10 ms');
});

histogram.run();

const args = suite('bench - arguments');

args('uses the defaults with no switches', () => {
  const o = runOptions([]);
  assert.is(o.inflight, 64);
  assert.is(o.items, 1_000_000);
  assert.is(o.jsonFile, 'bench-results.json');
  assert.equal(o.mixes.map((m) => m.label), ['get', 'set']);
  assert.equal(o.only, ['ceiling', 'sdk', 'memory', 'keystream']);
});

args('applies --quick and lets explicit switches override it', () => {
  const o = runOptions(['--quick', '--keys', '500', '--only', 'keystream,ceiling']);
  assert.is(o.items, QUICK_OVERRIDES.items);
  assert.is(o.durationS, QUICK_OVERRIDES.durationS);
  assert.is(o.keys, 500);
  assert.equal(o.only, ['ceiling', 'keystream']);
  assert.is(BENCH_DEFAULTS.keys, 100_000);
});

args('reads targets, mixes, counts and sizes', () => {
  const o = runOptions(['--target', 'ws://127.0.0.1:7000,ws://127.0.0.1:7001', '--mix', 'get:9,set:1', '--count', '1000', '--value-size', '0', '--rounds', '5']);
  assert.is(o.rounds, 5);
  assert.equal(o.targetNodes, ['ws://127.0.0.1:7000', 'ws://127.0.0.1:7001']);
  assert.is(o.mixes[0]!.label, 'get:9,set:1');
  assert.is(o.count, 1000);
  assert.is(o.valueSize, 0);
});

args('turns bad switches into usage errors', () => {
  usageError(() => parseBenchArgs(['--ops', 'get', '--mix', 'get:1']));
  usageError(() => parseBenchArgs(['--duration', '1', '--count', '5']));
  usageError(() => parseBenchArgs(['--inflight', '0']));
  usageError(() => parseBenchArgs(['--rounds', '0']));
  usageError(() => parseBenchArgs(['--duration', 'soon']));
  usageError(() => parseBenchArgs(['--only', 'disk']));
  usageError(() => parseBenchArgs(['--target', 'http://127.0.0.1:1']));
  usageError(() => parseBenchArgs(['--json', '']));
  usageError(() => parseBenchArgs(['--frobnicate']));
  usageError(() => parseBenchArgs(['frobnicate']));
  assert.match(usageError(() => parseBenchArgs(['--key-size', '3', '--keys', '100000'])).message, '--key-size');
});

args('answers help and planned subcommands without running anything', () => {
  assert.equal(parseBenchArgs(['--help']), { kind: 'help' });
  assert.equal(parseBenchArgs(['failover']), { kind: 'unavailable', name: 'failover' });
});

args.run();

const parts = suite('bench - workload and report');

parts('makes keys of exactly the requested size', () => {
  assert.is(makeKey(42, 16), 'key:000000000042');
  assert.is(makeKey(5, 2), '05');
  usageError(() => makeKey(123, 2));
});

parts('builds bare request frames per operation', () => {
  const v = new Uint8Array(3);
  assert.equal(rawFrame('get', 'k', v), [0, 1, 0, 'k', null]);
  assert.equal(rawFrame('set', 'k', v), [0, 3, 0, 'k', v]);
});

parts('runs a counted closed loop against an in-memory executor', async () => {
  const store = new Map<string, Uint8Array>();
  const exec: OpExecutor = async (op, key, value) => {
    if (op === 'set') store.set(key, value);
    else if (op === 'get') return store.get(key) ?? null;
    return null;
  };
  const r = await runWorkload(exec, {
    label: 'test', mix: parseMix('set:1'), keys: 50, count: 50, keyOrder: 'sequential',
    durationMs: 0, keySize: 8, valueSize: 4, inflight: 4, isQuiet: true,
  });
  assert.is(r.ops, 50);
  assert.is(r.errors, 0);
  assert.is(store.size, 50);
  assert.is(r.latency.count, 50);
});

parts('abandons a run whose operations keep failing', async () => {
  const exec: OpExecutor = () => Promise.reject(new Error('down'));
  try {
    await runWorkload(exec, { label: 'bad', mix: parseMix('get:1'), keys: 10, count: 100, durationMs: 0, keySize: 8, valueSize: 1, inflight: 2, maxErrors: 3, isQuiet: true });
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.match((err as Error).message, 'first: down');
  }
});

parts('keeps the fastest of several rounds and lists every rate', async () => {
  const rates = [10, 30, 20];
  const best = await bestOf(3, async (i) => ({
    label: `r${i}`, ops: 1, errors: 0, firstError: null, elapsedMs: 1, opsPerSec: rates[i]!,
    latency: { count: 1, meanUs: 1, p50Us: 1, p99Us: 1, p999Us: 1, maxUs: 1 },
  }));
  assert.is(best.label, 'r1');
  assert.equal(best.roundOpsPerSec, [10, 30, 20]);
});

parts('judges figures against their targets', () => {
  const pass = makeFigure('a', 'ceiling', 600_000, 'ops/s', { comparison: '>=', value: 500_000 });
  const miss = makeFigure('b', 'memory', 3.5, 'ratio', { comparison: '<=', value: 3 });
  const none = makeFigure('c', 'ratio', Number.NaN, 'ratio', { comparison: '>=', value: 0.5 });
  assert.is(pass.isPass, true);
  assert.is(miss.isPass, false);
  assert.is(none.isPass, null);
  assert.match(formatFigureLine(pass), 'PASS');
  assert.match(formatFigureLine(miss), 'MISS');
  assert.match(formatFigureLine(none), 'n/a');
  assert.match(formatSummary([pass, miss], [{ phase: 'sdk', message: 'no node' }]), '1 pass, 1 miss, 1 failed');
});

parts('computes marginal and total memory ratios', () => {
  const before = sumNodeStats({ a: { rss_bytes: 50_000_000, items: 0, bytes: 0 } });
  const after = sumNodeStats({ a: { rss_bytes: 50_000_000 + 1000 * 232, items: 1000, bytes: 150_000 } });
  const m = computeMemory(before, after, 1000, 16, 100);
  assert.is(m.marginalBytesPerItem, 232);
  assert.is(m.marginalRatio, 2);
  assert.is(m.engineBytesPerItem, 150);
  assert.ok(Math.abs(m.totalRatio - (50_232_000 / 116_000)) < 1e-9);
});

parts('reads the ceiling client result line and refuses output without one', () => {
  const line = JSON.stringify({ result: { label: 'ceiling', opsPerSec: 1234 } });
  assert.is(parseClientOutput(`noise\n${line}\n`).opsPerSec, 1234);
  assert.throws(() => parseClientOutput('nothing here\n'));
});

parts.run();
