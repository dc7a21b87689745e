import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { UsageError } from '../../../bin/cli-util.js';
import { cpuLine, outsideNote, peersFigures, roundOrder, type PeerRun, type PeersBenchResult } from '../../../bench/peers-bench.js';
import { outsideCpuMeter, pickRound, quietRounds, shareOfMachine } from '../../../bench/outside-load.js';
import { parsePeersArgs, PEERS_BENCH_DEFAULTS, type PeersBenchOptions } from '../../../bench/peers-options.js';
import { findBinary, freePort, twemproxyConfig } from '../../../bench/peer-servers.js';
import type { WorkloadResult } from '../../../bench/workload.js';

const test = suite('bench - peers bench');

function options(argv: string[]): PeersBenchOptions {
  const o = parsePeersArgs(argv);
  if (o === 'help') throw new Error('expected options, got help');
  return o;
}

function run(label: string, opsPerSec: number, cpuUsPerOp: Record<string, number> = {}): PeerRun {
  const p50Us = 100;
  const result: WorkloadResult = { label, ops: 1, errors: 0, firstError: null, elapsedMs: 1, opsPerSec, latency: { count: 1, meanUs: p50Us, p50Us, p99Us: p50Us, p999Us: p50Us, maxUs: p50Us } };
  return { label, result, cpuUsPerOp };
}

function result(overrides: Partial<PeersBenchResult>): PeersBenchResult {
  return {
    isContended: false, skipped: [], throughput: [], mixes: [], single: [],
    sdkGetRatio: null, sdkSetRatio: null, memcachedRatio: null, proxyAddedP50Us: null, twemproxyAddedP50Us: null, ...overrides,
  };
}

test('arguments: defaults, --quick, overrides and bad switches', () => {
  assert.equal(options([]), { ...PEERS_BENCH_DEFAULTS, mixInflights: [1, 16] });
  const o = options(['--quick', '--keys', '500', '--inflight', '4', '--connections', '8', '--contend', '--json', 'p.json']);
  assert.equal([o.keys, o.inflight, o.memcachedConnections, o.rounds, o.isContended, o.jsonFile], [500, 4, 4, 1, true, 'p.json']);
  assert.is(options(['--duration', '1.5']).durationMs, 1500);
  assert.is(options(['--warmup', '0']).warmupMs, 0);
  assert.is(options(['--sched', 'normal']).sched, 'normal');
  assert.is(options([]).sched, null);
  assert.throws(() => parsePeersArgs(['--sched', 'fifo']), (e: unknown) => e instanceof UsageError, '--sched fifo');
  assert.is(options(['--peer-sched', 'batch']).peerSched, 'batch');
  assert.is(options([]).peerSched, null);
  assert.is(options(['--idle-poll-us', '0']).idlePollUs, 0);
  assert.is(options(['--idle-poll-us', '500']).idlePollUs, 500);
  assert.is(options([]).idlePollUs, null);
  for (const bad of ['-1', '1.5', 'x', '', '2000000']) assert.throws(() => parsePeersArgs(['--idle-poll-us', bad]), (e: unknown) => e instanceof UsageError, `--idle-poll-us ${bad}`);
  assert.throws(() => parsePeersArgs(['--peer-sched', 'rr']), (e: unknown) => e instanceof UsageError, '--peer-sched rr');
  assert.is(options(['--warmup', '5']).warmupMs, 5000);
  assert.is(options(['--max-outside', '0.2']).maxOutsideShare, 0.2);
  assert.is(options(['--extra-rounds', '0']).extraRounds, 0);
  assert.is(options(['--quick']).extraRounds, 0);
  for (const bad of ['0', '-0.1', '1.5', 'x', '']) assert.throws(() => parsePeersArgs(['--max-outside', bad]), (e: unknown) => e instanceof UsageError, `--max-outside ${bad}`);
  for (const bad of ['-1', '1.5', 'x', '101']) assert.throws(() => parsePeersArgs(['--extra-rounds', bad]), (e: unknown) => e instanceof UsageError, `--extra-rounds ${bad}`);
  for (const bad of ['-1', '601', 'x', '']) assert.throws(() => parsePeersArgs(['--warmup', bad]), (e: unknown) => e instanceof UsageError, `--warmup ${bad}`);
  assert.is(parsePeersArgs(['--help']), 'help');
  const isUsage = (e: unknown): boolean => e instanceof UsageError;
  assert.throws(() => parsePeersArgs(['--mix', 'get:1,delete:1']), isUsage);
  assert.throws(() => parsePeersArgs(['extra']), isUsage);
  assert.throws(() => parsePeersArgs(['--json', ' ']), isUsage);
  assert.is(options(['--cpu-prof', '/tmp/prof']).cpuProfDir, '/tmp/prof');
  assert.throws(() => parsePeersArgs(['--cpu-prof', ' ']), isUsage);
  assert.throws(() => parsePeersArgs(['--cpu-prof']), isUsage);
  for (const bad of ['0', '-1', '1.5', 'x', '99999999']) assert.throws(() => parsePeersArgs(['--keys', bad]), isUsage, `--keys ${bad}`);
  for (const bad of ['0', '-2', '601', 'NaN']) assert.throws(() => parsePeersArgs(['--duration', bad]), isUsage, `--duration ${bad}`);
  assert.throws(() => parsePeersArgs(['--no-such-switch']), isUsage);
  assert.is(options(['--only', 'sdk']).only, 'sdk');
  assert.is(options(['--only', 'proxy']).only, 'proxy');
  for (const bad of ['', 'all', 'SDK', 'redis']) assert.throws(() => parsePeersArgs(['--only', bad]), isUsage, `--only ${bad}`);
  assert.throws(() => parsePeersArgs(['--only']), isUsage);
});

test('the defaults are frozen', () => {
  assert.ok(Object.isFrozen(PEERS_BENCH_DEFAULTS));
  assert.ok(Object.isFrozen(PEERS_BENCH_DEFAULTS.mixInflights));
});

test('the twemproxy configuration is one ketama pool over every server', () => {
  const yml = twemproxyConfig('127.0.0.1:4000', ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3']);
  assert.match(yml, /^peers:\n {2}listen: 127\.0\.0\.1:4000\n/);
  assert.match(yml, /distribution: ketama/);
  assert.equal(yml.split('\n').filter((l) => l.startsWith('   - ')), ['   - 127.0.0.1:1:1', '   - 127.0.0.1:2:1', '   - 127.0.0.1:3:1']);
});

test('figures judge each ratio against its target and skip what was not measured', () => {
  const o = options([]);
  const r = result({
    throughput: [run('SDK GET', 200), run('ioredis GET', 100)],
    sdkGetRatio: 2, sdkSetRatio: 1.5, memcachedRatio: null, proxyAddedP50Us: 30, twemproxyAddedP50Us: 40,
  });
  const byId = new Map(peersFigures(r, o).map((f) => [f.id, f]));
  assert.is(byId.get('peers.sdk.get.ratio')?.isPass, true);
  assert.is(byId.get('peers.sdk.set.ratio')?.isPass, false);
  assert.not.ok(byId.has('peers.memcached.ratio'));
  assert.is(byId.get('peers.proxy.addedP50Us')?.isPass, true);
  assert.is(byId.get('peers.SDK_GET.opsPerSec')?.value, 200);
  const contended = peersFigures(result({ isContended: true, sdkGetRatio: 1, proxyAddedP50Us: 30 }), o);
  assert.ok(contended.every((f) => f.label.endsWith('(contended)')));
  // Without twemproxy there is nothing to hold the added latency against.
  assert.is(contended.find((f) => f.id === 'peers.proxy.addedP50Us')?.isPass, null);
});

test('rounds alternate the order of the contenders (A B B A): each follows a different one from round to round', () => {
  assert.equal(roundOrder(0, 4), [0, 1, 2, 3]);
  assert.equal(roundOrder(1, 4), [3, 2, 1, 0]);
  assert.equal(roundOrder(2, 4), [0, 1, 2, 3]);
  assert.equal(roundOrder(1, 1), [0]);
  assert.equal(roundOrder(3, 0), []);
  // Over two rounds, the proxy (4) follows ioredis SET (3) once and twemproxy (5) once.
  const followed = [0, 1].flatMap((r) => { const o = roundOrder(r, 6); return [o[o.indexOf(4) - 1]]; });
  assert.equal(followed, [3, 5]);
});

test('the CPU line lists every process and the total', () => {
  assert.is(cpuLine(run('x', 1, { client: 10, node1: 2.25 })), '      CPU µs/op: client 10.0  node1 2.3  total 12.3\n');
  assert.is(cpuLine(run('x', 1)), '      CPU µs/op: n/a\n');
});

test('outside load: the fastest undisturbed round counts, the fastest of all only when every round was disturbed', () => {
  assert.equal(pickRound([70, 90, 80], [0.01, 0.4, 0.02], 0.05), { index: 2, isClean: true });
  assert.equal(pickRound([70, 90, 80], [0.01, 0.05, 0.02], 0.05), { index: 1, isClean: true }, 'at the limit is undisturbed');
  assert.equal(pickRound([70, 90], [0.3, 0.4], 0.05), { index: 1, isClean: false });
  assert.equal(pickRound([70, 90], [Number.NaN, Number.NaN], 0.05), { index: 1, isClean: true }, 'unknown counts as undisturbed');
  assert.equal(pickRound([70, 90], [], 0.05), { index: 1, isClean: true });
  assert.equal(pickRound([], [], 0.05), { index: -1, isClean: false });
});

test('outside load: latency runs are judged on their undisturbed rounds, on all of them only when none was', () => {
  assert.equal(quietRounds(['a', 'b', 'c'], [0.5, 0.01, Number.NaN], 0.05), { rounds: ['b', 'c'], isClean: true });
  assert.equal(quietRounds(['a', 'b'], [0.5, 0.4], 0.05), { rounds: ['a', 'b'], isClean: false });
  assert.equal(quietRounds(['a', 'b'], [], 0.05), { rounds: ['a', 'b'], isClean: true });
  assert.equal(quietRounds([], [], 0.05), { rounds: [], isClean: true });
});

test('outside load: busy time of the machine less the bench\'s own, as a share of the cores', () => {
  let times: { idle: number; total: number } | null = { idle: 100, total: 300 };
  let own: number | null = 1_000_000;
  const meter = outsideCpuMeter(() => own, () => times);
  // 200 busy ticks = 2 s of CPU, of which the bench used 1 s.
  assert.is(meter(), 1_000_000);
  times = { idle: 150, total: 550 };
  own = 3_000_000;
  // busy 400 ticks = 4 s, own 3 s: 1 s outside.
  assert.is(meter(), 1_000_000);
  own = null;
  assert.is(meter(), null);
  own = 0;
  times = null;
  assert.is(meter(), null);
  assert.is(shareOfMachine(500_000, 1000, 2), 0.25);
  assert.is(shareOfMachine(-10, 1000, 2), 0, 'clock-tick rounding never goes below 0');
  assert.is(shareOfMachine(10, 0, 2), 0);
});

test('outside load is printed only when some round was disturbed, with a warning when every one was', () => {
  const quiet: PeerRun = { ...run('proxy memcached', 70_000), outsideShares: [0.01, 0.02] };
  assert.is(outsideNote(quiet, 0.05), '');
  assert.is(outsideNote(run('old results', 1), 0.05), '');
  const once: PeerRun = { ...run('proxy memcached', 70_000), outsideShares: [0.31, 0.01] };
  assert.is(outsideNote(once, 0.05), '   outside load 31% / 1%');
  const always: PeerRun = { ...run('proxy memcached', 70_000), outsideShares: [0.31, Number.NaN, 0.5], isDisturbed: true };
  assert.match(outsideNote(always, 0.05), /outside load 31% \/ \? \/ 50% \(every round disturbed/);
});

test('free ports are loopback ports above 1023; a missing binary is null', async () => {
  const port = await freePort();
  assert.ok(Number.isInteger(port) && port > 1023 && port < 65536);
  assert.is(findBinary('pandakv-no-such-binary'), null);
  assert.is(findBinary('sh') !== null, true);
  assert.is(findBinary('sh; echo x'), null);
});

test.run();
