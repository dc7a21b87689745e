import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { suite } from '../helpers/suite.js';
import { spawnManager, spawnNode, spawnProxy, type Spawned } from '../../bin/spawn.js';
import { SERVER_NODE_FLAGS } from '../../bin/server-flags.js';
import { sampleOf } from '../helpers/prom-text.js';

const test = suite('integration - Node flags of the launched servers');

const MIB = 1024 * 1024;

/** The young generation's size (one semi-space) a server reports on its /metrics. */
async function newSpaceBytes(p: Spawned): Promise<number> {
  const res = await fetch(`${p.address.replace(/^ws/, 'http')}/metrics`);
  assert.is(res.status, 200);
  const v = sampleOf(await res.text(), 'nodejs_heap_space_size_total_bytes', { space: 'new' });
  assert.ok(v !== null, 'no nodejs_heap_space_size_total_bytes{space="new"} sample');
  return v;
}

/** `--min-semi-space-size=N`, MiB, from the server's command line as the kernel has it. */
function minSemiSpaceMib(pid: number): number[] {
  const argv = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0');
  return argv.filter((a) => a.startsWith('--min-semi-space-size=')).map((a) => Number(a.split('=')[1]));
}

test('the launcher starts nodes and proxies with a young generation of at least 16 MiB, before any load', async () => {
  assert.ok(SERVER_NODE_FLAGS.includes('--min-semi-space-size=16'));
  const manager = await spawnManager(['--insecure', '--no-dht']);
  const procs: Spawned[] = [manager];
  try {
    const node = await spawnNode(['--insecure', '--engine', 'memory', '--manager', manager.address]);
    procs.push(node);
    const proxy = await spawnProxy(['--insecure', '--map', manager.address, '--no-memcached']);
    procs.push(proxy);
    for (const p of [node, proxy]) {
      const bytes = await newSpaceBytes(p);
      assert.ok(bytes >= 16 * MIB, `${p.readyLine}: ${bytes} bytes`);
    }
    // Nothing else gets it: the manager starts with V8's own 1 MiB.
    if (process.platform === 'linux') assert.equal(minSemiSpaceMib(manager.pid), []);
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGKILL');
  }
});

test('flags given to the launcher come after its own, and V8 takes the later of two', async () => {
  const node = await spawnNode(['--insecure', '--engine', 'memory'], undefined, ['--min-semi-space-size=1']);
  try {
    if (process.platform === 'linux') assert.equal(minSemiSpaceMib(node.pid), [16, 1]);
  } finally {
    await node.stop('SIGKILL');
  }
  const sizeWith = (flags: string[]): number => Number(execFileSync(process.execPath, [...flags, '-e',
    'process.stdout.write(String(require("node:v8").getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size))'], { encoding: 'latin1' }));
  assert.is(sizeWith([...SERVER_NODE_FLAGS]), 16 * MIB);
  assert.ok(sizeWith([...SERVER_NODE_FLAGS, '--min-semi-space-size=1']) < 16 * MIB);
});

test.run();
