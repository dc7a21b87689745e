import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const test = suite('integration - proxy A/B bench');

const CLI = fileURLToPath(new URL('../../bin/pandakv.js', import.meta.url));
/** The checkout this build came from: `--b-build` loads proxy B through its dist/bin/spawn.js. */
const CHECKOUT = fileURLToPath(new URL('../../../', import.meta.url));

/** Run `pandakv bench proxy-ab` under a deadline; the child is killed when it passes. */
function runBench(args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'bench', 'proxy-ab', ...args], { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

test('a short run: two proxies on one cluster, every round of both, their CPU and the ratios', async () => {
  const r = await runBench(['--rounds', '2', '--duration', '0.3', '--warmup', '0', '--keys', '300', '--inflight', '16', '--no-twemproxy',
    '--b-build', CHECKOUT, '--b-args=--idle-poll-us 0', '--a-node-flags=--max-semi-space-size=8'], 120_000);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^pandakv bench proxy-ab: A = this build \(--max-semi-space-size=8\), B = \S+ \(--idle-poll-us 0\); 2 rounds of 0.3 s/m);
  for (const n of [1, 2]) assert.match(r.stdout, new RegExp(`^  round ${n}/2: A [\\d,]+  B [\\d,]+   B / A [\\d.]+$`, 'm'), r.stdout);
  for (const name of ['A', 'B']) {
    assert.match(r.stdout, new RegExp(`^  ${name} +best +[\\d,]+  median +[\\d,]+ ops/s   proxy CPU [\\d.]+ µs/op   machine CPU [\\d.]+ µs/op, cores busy \\d+ %$`, 'm'), r.stdout);
  }
  assert.match(r.stdout, /^ {2}B \/ A: [\d.]+× on the fastest rounds, [\d.]+× median of the per-round ratios$/m);
  assert.not.match(r.stdout, /errors/);
  assert.not.match(r.stdout, /twemproxy/);
  process.stdout.write(`    (${r.stdout.trim().split('\n').slice(-3).join(' | ')})\n`);
});

test('bad switches exit 2 with the switch named, and start nothing', async () => {
  const r = await runBench(['--rounds', '0'], 30_000);
  assert.is(r.code, 2, r.stdout);
  assert.match(r.stderr, /--rounds/);
  const help = await runBench(['--help'], 30_000);
  assert.is(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: pandakv bench proxy-ab/);
});

test.run();
