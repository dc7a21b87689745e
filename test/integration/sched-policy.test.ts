import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import { suite } from '../helpers/suite.js';
import { spawnManager, spawnNode, spawnProxy } from '../../bin/spawn.js';
import { applySchedPolicy } from '../../bin/sched-policy.js';

const test = suite('integration - scheduling policy of the server processes');

/** The policies of every thread of `pid` (field 41 of /proc/PID/task/TID/stat), deduplicated. */
function policies(pid: number): string[] {
  const names: Record<string, string> = { 0: 'normal', 3: 'batch' };
  const out = new Set<string>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // The thread ended meanwhile.
    }
    const policy = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]!;
    out.add(names[policy] ?? policy);
  }
  return [...out].sort();
}

const isLinux = process.platform === 'linux';

test('a node runs every thread under SCHED_BATCH by default and under the default policy with --sched normal', async () => {
  if (!isLinux) return;
  const batch = await spawnNode(['--insecure']);
  const normal = await spawnNode(['--insecure', '--sched', 'normal']);
  try {
    assert.equal(policies(batch.pid), ['batch']);
    assert.equal(policies(normal.pid), ['normal']);
    assert.ok(!batch.stderr.some((l) => l.includes('--sched')), batch.stderr.join(' | '));
  } finally {
    await batch.stop('SIGKILL');
    await normal.stop('SIGKILL');
  }
});

test('a proxy keeps the default policy unless --sched batch', async () => {
  if (!isLinux) return;
  const manager = await spawnManager(['--insecure', '--no-dht']);
  const node = await spawnNode(['--insecure', '--manager', manager.address]);
  const plain = await spawnProxy(['--insecure', '--map', manager.address, '--no-memcached']);
  const batch = await spawnProxy(['--insecure', '--map', manager.address, '--no-memcached', '--sched', 'batch']);
  try {
    assert.equal(policies(plain.pid), ['normal']);
    assert.equal(policies(batch.pid), ['batch']);
  } finally {
    for (const p of [batch, plain, node, manager]) await p.stop('SIGKILL');
  }
});

test('applySchedPolicy moves a running process both ways, and reports a process it cannot move', async () => {
  if (!isLinux) return;
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  try {
    await once(child, 'spawn');
    assert.is(applySchedPolicy('batch', child.pid!), null);
    assert.equal(policies(child.pid!), ['batch']);
    assert.is(applySchedPolicy('normal', child.pid!), null);
    assert.equal(policies(child.pid!), ['normal']);
  } finally {
    child.kill('SIGKILL');
    await once(child, 'exit');
  }
  const gone = applySchedPolicy('batch', child.pid!);
  assert.ok(gone !== null && gone.includes('could not set --sched batch'), String(gone));
});

test.run();
