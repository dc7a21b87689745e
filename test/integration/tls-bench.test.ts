import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const test = suite('integration - TLS cost benchmark');

const BENCH = fileURLToPath(new URL('../../bench/tls-cost.js', import.meta.url));

/** Run the benchmark under a deadline; the child is killed when it passes. */
function runBench(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BENCH, ...args], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

test('a short run measures a plain and a TLS node with no errors and prints both and the ratio', async () => {
  const r = await runBench(['--count', '300', '--inflight', '8'], 120_000);
  assert.is(r.code, 0, r.stderr);
  const run = (label: string): RegExpExecArray | null =>
    new RegExp(`^${label}: connect [\\d.]+ ms; set \\d+ ops/s \\(p50 \\d+ µs, p99 \\d+ µs\\); get \\d+ ops/s \\(p50 \\d+ µs, p99 \\d+ µs\\); errors (\\d+)$`, 'm').exec(r.stdout);
  const plain = run('ws ');
  const tls = run('wss');
  assert.ok(plain !== null && tls !== null, r.stdout);
  assert.equal([plain[1], tls[1]], ['0', '0'], 'no failed operations on either node');
  assert.match(r.stdout, /^TLS cost, 300 ops per pass, 8 in flight, 100-byte values:$/m);
  assert.match(r.stdout, /^wss\/ws throughput: set [\d.]+, get [\d.]+$/m);
  process.stdout.write(`    (${r.stdout.trim().split('\n').join(' | ')}; loaded machine: figures are noise)\n`);
});

test('--help prints the usage and starts nothing', async () => {
  const r = await runBench(['--help'], 30_000);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: node dist\/bench\/tls-cost\.js/);
});

test('a bad count, in-flight or value size exits 2 with one line naming the switch', async () => {
  for (const [name, value] of [['--count', 'x'], ['--inflight', '0'], ['--value-size', '-5'], ['--count', '1.5']] as const) {
    const r = await runBench([`${name}=${value}`], 30_000);
    assert.is(r.code, 2, `${name} ${value}: ${r.stderr}`);
    assert.is(r.stderr, `tls-cost: ${name} must be a whole number of at least 1, not ${JSON.stringify(value)}\n`);
    assert.is(r.stdout, '');
  }
});

test.run();
