import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { CLI_PATH } from '../../bin/spawn.js';
import { withDeadline } from '../helpers/deadline.js';
import { withNode } from '../helpers/fixtures.js';

const test = suite('integration - pandakv node command line');

async function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI_PATH, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const code = await withDeadline(new Promise<number | null>((resolve) => child.once('exit', resolve)), 10_000, `pandakv ${args.join(' ')}`);
  return { code, stdout, stderr };
}

const badSwitches: Array<[string, string[]]> = [
  ['buckets that are not a power of two', ['--buckets', '1000']],
  ['more buckets than 2^32', ['--buckets', '2^33']],
  ['a negative memory size', ['--memory-size', '-5']],
  ['a memory size that is not a number', ['--memory-size', 'lots']],
  ['a port out of range', ['--port', '70000']],
  ['an invalid CIDR', ['--incoming-ip', '10.0.0.0/99']],
  ['an unknown switch', ['--frobnicate']],
  ['a redundancy of zero', ['--redundancy', '0']],
  ['a stray argument', ['extra']],
];

for (const [what, args] of badSwitches) {
  test(`exits with code 2 and a one-line reason for ${what}`, async () => {
    const r = await runCli(['node', ...args]);
    assert.is(r.code, 2);
    const lines = r.stderr.trim().split('\n');
    assert.is(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^pandakv node: /);
  });
}

test('--help prints every seed switch and exits 0', async () => {
  const r = await runCli(['node', '--help']);
  assert.is(r.code, 0);
  for (const s of ['--memory-size', '--incoming-ip', '--port', '--ip', '--buckets', '--ringnode', '--redundancy', '--no-evict']) assert.ok(r.stdout.includes(s), s);
});

test('an unknown command exits 2', async () => {
  const r = await runCli(['frobnicate']);
  assert.is(r.code, 2);
});

test('prints its listening line with the port it picked and stops on SIGTERM', () => withNode(['--buckets', '2^10', '--incoming-ip', '127.0.0.0/8', '--incoming-ip', '::1/128'], async (node) => {
  assert.match(node.address, /^ws:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(Number(node.address.split(':')[2]) > 0);
  assert.is(await node.stop('SIGTERM'), 0);
}));

test.run();
