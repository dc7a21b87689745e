import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { withNodes } from '../helpers/fixtures.js';

const run = promisify(execFile);
const test = suite('integration - examples run as smoke tests');
const example = (name: string): string => fileURLToPath(new URL(`../../examples/${name}.js`, import.meta.url));

test('get-set runs against two real nodes', () => withNodes([[], []], async (nodes) => {
  const { stdout } = await run(process.execPath, [example('get-set'), ...nodes.map((n) => n.address)], { timeout: 20_000 });
  assert.match(stdout, /greeting = hello, world/);
  assert.match(stdout, /stale cas refused/);
  assert.match(stdout, /visits = 1/);
  assert.match(stdout, /deleted: true/);
}));

test('scan lists the cities in key order', () => withNodes([[], []], async (nodes) => {
  const { stdout } = await run(process.execPath, [example('scan'), ...nodes.map((n) => n.address)], { timeout: 20_000 });
  const keys = stdout.split('\n').filter((l) => l.startsWith('city:')).map((l) => l.split(' ')[0]);
  assert.equal(keys, ['city:bern', 'city:kyiv', 'city:lima', 'city:nice', 'city:oslo', 'city:pune']);
  assert.match(stdout, /first page ended at city:lima/);
}));

test('pandakv up starts a node, runs its demo and exits cleanly with --exit', async () => {
  const cli = fileURLToPath(new URL('../../bin/pandakv.js', import.meta.url));
  // A failure shows what the command printed, not only that it failed.
  const { stdout } = await run(process.execPath, [cli, 'up', '--keys', '2000', '--exit'], { timeout: 60_000 }).catch((err: { message: string; stdout?: string; stderr?: string; killed?: boolean }) => {
    throw new Error(`${err.message}${err.killed === true ? ' (killed at the 60 s deadline)' : ''}\nstdout:\n${err.stdout ?? ''}\nstderr:\n${err.stderr ?? ''}`);
  });
  assert.match(stdout, /read back 2000\/2000 intact/);
  assert.match(stdout, /stats/);
});

test.run();
