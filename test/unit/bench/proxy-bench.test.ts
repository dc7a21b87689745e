import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { UsageError } from '../../../bin/cli-util.js';
import { McAnswerParser } from '../../../bench/memcached-load.js';
import { judgeProxy, medianByP50, ownerAddresses, parseProxyArgs, procCpuMeter, PROXY_BENCH_DEFAULTS, proxyFigures, selfCpuMeter, type ProxyBenchOptions } from '../../../bench/proxy-bench.js';
import type { WorkloadResult } from '../../../bench/workload.js';
import type { ClusterMap } from '../../../sdk/index.js';

const test = suite('bench - proxy bench');

function options(argv: string[]): ProxyBenchOptions {
  const o = parseProxyArgs(argv);
  if (o === 'help') throw new Error('expected options, got help');
  return o;
}

function run(opsPerSec: number, p50Us: number): WorkloadResult {
  return { label: 'x', ops: 1, errors: 0, firstError: null, elapsedMs: 1, opsPerSec, latency: { count: 1, meanUs: p50Us, p50Us, p99Us: p50Us, p999Us: p50Us, maxUs: p50Us } };
}

test('arguments', () => {
  assert.equal(options([]), { ...PROXY_BENCH_DEFAULTS });
  const o = options(['--quick', '--keys', '500', '--inflight', '2', '--connections', '8', '--duration', '0.5', '--json', 'p.json']);
  assert.equal([o.keys, o.inflight, o.memcachedConnections, o.durationMs, o.rounds, o.jsonFile], [500, 2, 2, 500, 1, 'p.json']);
  assert.is(parseProxyArgs(['--help']), 'help');
  assert.throws(() => parseProxyArgs(['--mix', 'get:1,delete:1']), (e: unknown) => e instanceof UsageError);
  assert.throws(() => parseProxyArgs(['extra']), (e: unknown) => e instanceof UsageError);
  assert.is(options(['--idle-poll-us', '0']).proxyIdlePollUs, 0);
  for (const bad of ['-5', '0.5', 'x']) assert.throws(() => parseProxyArgs(['--idle-poll-us', bad]), (e: unknown) => e instanceof UsageError);
});

test('the memcached answer parser handles hits, misses and answers split anywhere', () => {
  const text = 'VALUE key:1 0 5\r\nhe\r\nl\r\nEND\r\nEND\r\nSTORED\r\nNOT_STORED\r\nSERVER_ERROR out of memory\r\n';
  for (const step of [1, 3, 7, text.length]) {
    const parser = new McAnswerParser();
    const out: Array<boolean | string> = [];
    for (let i = 0; i < text.length; i += step) {
      for (const o of parser.feed(Buffer.from(text.slice(i, i + step), 'latin1'))) out.push(o instanceof Error ? o.message : o);
    }
    assert.equal(out, [true, false, true, false, 'memcached: SERVER_ERROR out of memory'], `chunks of ${step}`);
  }
});

test('owners are the active heads of the chains the runs use', () => {
  const node = (id: string, state: 'active' | 'joining'): ClusterMap['nodes'][number] => ({ id, address: `ws://127.0.0.1:${id}`, peerKey: null, zone: 'z', weight: 1, state });
  const map: ClusterMap = {
    epoch: 1, rev: 1, bits: 4, unitBits: 2, nodes: [node('1', 'active'), node('2', 'active'), node('3', 'joining')],
    chains: [[0, 1], [1, 0], [2, 0]], runStarts: [0, 8], runChains: [0, 2], moves: [],
  };
  assert.equal([...ownerAddresses(map)], ['ws://127.0.0.1:1']);
});

test('verdict and figures', () => {
  const pass = judgeProxy({ throughput: run(100, 500), single: run(10, 100) }, { throughput: run(70, 800), single: run(5, 150) },
    { throughput: run(50, 900), single: null }, run(20, 60), 0.6);
  assert.equal([pass.sdkRatio, pass.memcachedRatio, pass.addedP50Us, pass.roundTripP50Us, pass.isPass], [0.7, 0.5, 50, 60, true]);
  const figures = proxyFigures(pass);
  assert.equal(figures.map((f) => f.isPass), [null, null, true, null, null, true]);
  const hop = { count: 10, paths: [
    { name: 'direct', label: 'direct', latency: run(1, 80).latency },
    { name: 'tcpRelay', label: 'TCP relay', latency: run(1, 140).latency },
    { name: 'proxy', label: 'proxy', latency: run(1, 200).latency },
  ] };
  const withHop = proxyFigures({ ...pass, hop });
  assert.equal(withHop.slice(6).map((f) => [f.id, f.value, f.isPass]), [['proxy.hop.tcpRelay.roundTrips', 0.75, null], ['proxy.hop.proxy.roundTrips', 1.5, null]], 'hop figures are reported, not judged');
  const slow = judgeProxy(pass.direct, { throughput: run(70, 800), single: run(5, 200) }, pass.memcached, run(20, 60), 0.6);
  assert.is(slow.isPass, false);
});

test('the one-in-flight run that counts is the one with the median p50', () => {
  assert.is(medianByP50([run(1, 300), run(2, 100), run(3, 200)]).opsPerSec, 3);
  assert.is(medianByP50([run(1, 300), run(2, 100)]).opsPerSec, 2, 'the lower middle of an even count');
  assert.is(medianByP50([run(7, 50)]).opsPerSec, 7);
});

test('CPU meters read this process and give null for a process that does not exist', () => {
  const self = selfCpuMeter()();
  assert.ok(self !== null && self > 0);
  if (process.platform === 'linux') {
    const viaProc = procCpuMeter(process.pid)();
    assert.ok(viaProc !== null && viaProc >= 0 && viaProc <= self + 20_000, `proc ${viaProc} µs, self ${self} µs`);
  }
  assert.is(procCpuMeter(0x7ffffffe)(), null);
});

test.run();
