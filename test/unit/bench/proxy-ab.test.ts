import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../bin/cli-util.js';
import { abRoundOrder, compareTallies, median, parseProxyAbArgs, PROXY_AB_DEFAULTS, tallyLine, type AbTally, type ProxyAbOptions } from '../../../bench/proxy-ab.js';

const test = suite('bench - proxy A/B');

function options(argv: string[]): ProxyAbOptions {
  const o = parseProxyAbArgs(argv);
  if (o === 'help') throw new Error('expected options, got help');
  return o;
}

function tally(name: string, rates: number[], extra: Partial<AbTally> = {}): AbTally {
  return { name, rates, ops: 1000, proxyUs: 10_000, machineBusyUs: 24_000, machineAllUs: 30_000, ...extra };
}

test('defaults: this build twice, 6 rounds of 2 s, the peers bench memcached load, twemproxy on', () => {
  assert.equal(options([]), { ...PROXY_AB_DEFAULTS });
  assert.is(parseProxyAbArgs(['--help']), 'help');
});

test('switches: proxy switches and Node flags per side, sizes, no twemproxy', () => {
  const o = options(['--a-args', ' --idle-poll-us 0 ', '--b-node-flags=--max-semi-space-size=2 --single-threaded-gc', '--rounds', '3', '--duration', '0.5',
    '--warmup', '0', '--connections', '4', '--inflight', '16', '--keys', '500', '--mix', 'get:1', '--no-twemproxy']);
  assert.equal(o.aArgs, ['--idle-poll-us', '0']);
  assert.equal(o.bArgs, []);
  assert.equal(o.bNodeFlags, ['--max-semi-space-size=2', '--single-threaded-gc']);
  assert.equal([o.rounds, o.durationMs, o.warmupMs, o.connections, o.inflight, o.keys, o.mix, o.hasTwemproxy], [3, 500, 0, 4, 16, 500, 'get:1', false]);
  // Never more connections than requests in flight.
  assert.is(options(['--inflight', '2']).connections, 2);
});

test('bad switches are usage errors', () => {
  const bad: string[][] = [
    ['--rounds', '0'], ['--rounds', 'x'], ['--duration', '0'], ['--duration', '601'], ['--warmup', '-1'], ['--inflight', '0'], ['--connections', '1.5'],
    ['--keys', '0'], ['--mix', 'delete:1'], ['--mix', 'nope'], ['--a-node-flags', 'script.js'], ['--b-node-flags', '--ok -x'], ['--b-node-flags', '--a b'],
    ['--b-build', '/nonexistent/checkout'], ['--bogus'], ['extra'],
  ];
  for (const argv of bad) assert.throws(() => parseProxyAbArgs(argv), (err: unknown) => err instanceof UsageError, argv.join(' '));
});

test('--b-build takes a checkout with a build, and names what is missing otherwise', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-ab-'));
  try {
    assert.throws(() => parseProxyAbArgs(['--b-build', dir]), /no dist\/bin\/spawn\.js/);
    mkdirSync(join(dir, 'dist', 'bin'), { recursive: true });
    writeFileSync(join(dir, 'dist', 'bin', 'spawn.js'), 'export {};\n');
    assert.is(options(['--b-build', dir]).bBuild, dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('round order: rotated each round and reversed every other cycle, so each contender follows each other one', () => {
  assert.equal([0, 1, 2, 3, 4, 5].map((r) => abRoundOrder(r, 3)), [[0, 1, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0], [0, 2, 1], [1, 0, 2]]);
  assert.equal(abRoundOrder(0, 2), [0, 1]);
  assert.equal(abRoundOrder(2, 2), [1, 0]);
  assert.equal(abRoundOrder(4, 0), []);
  // Over six rounds of three, A (0) runs right after B (1) and right after twemproxy (2).
  const before = new Set<number>();
  for (let r = 0; r < 6; r++) {
    const o = abRoundOrder(r, 3);
    const at = o.indexOf(0);
    if (at > 0) before.add(o[at - 1]!);
  }
  assert.equal([...before].sort(), [1, 2]);
});

test('median: middle value, mean of the middle two, NaN for none', () => {
  assert.is(median([3, 1, 2]), 2);
  assert.is(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('B against A: on the fastest rounds and as the median of rounds paired by index', () => {
  const a = tally('A', [100, 80, 90]);
  const b = tally('B', [110, 72, 90]);
  const c = compareTallies(a, b);
  assert.is(c.best, 1.1);
  assert.equal(c.perRound.map((x) => Number(x.toFixed(2))), [1.1, 0.9, 1]);
  assert.is(c.medianOfRounds, 1);
  // A side with fewer rounds pairs only the rounds both have.
  assert.equal(compareTallies(a, tally('B', [50])).perRound, [0.5]);
});

test('summary line: rates, CPU per operation of the proxy and the machine, busy share; n/a where unread', () => {
  assert.is(tallyLine(tally('A', [70_000, 75_000, 72_000])), '  A          best  75,000  median  72,000 ops/s   proxy CPU 10.00 µs/op   machine CPU 24.00 µs/op, cores busy 80 %\n');
  const unread = tallyLine(tally('twemproxy', [1000], { proxyUs: null, machineBusyUs: null, machineAllUs: null }));
  assert.match(unread, /proxy CPU n\/a µs\/op {3}machine CPU n\/a µs\/op, cores busy n\/a/);
});

test.run();
