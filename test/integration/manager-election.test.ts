import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { spawnManager, spawnNode, type Spawned } from '../../bin/spawn.js';
import { withEtcd } from '../helpers/etcd.js';
import { poll } from '../helpers/deadline.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const test = suite('integration - several managers on etcd');

interface Status {
  isLeader: boolean;
  map: { epoch: number; rev: number; bits: number } | null;
}

async function status(m: Spawned): Promise<Status> {
  const res = await fetch(`${m.address}/api/status`, { signal: AbortSignal.timeout(5000) });
  return (await res.json()) as Status;
}

async function post(m: Spawned, path: string): Promise<number> {
  const res = await fetch(`${m.address}${path}`, { method: 'POST', signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  return res.status;
}

/** Ask the managers (HTTP on loopback) until one says it leads. */
async function leaderOf(managers: Spawned[], ms: number): Promise<Spawned> {
  return poll(async () => {
    for (const m of managers) if ((await status(m).catch(() => null))?.isLeader) return m;
    return null;
  }, ms, 'a leader');
}

test('one manager leads; when it dies another takes over within the lease TTL and a paused leader cannot write', () => withEtcd(async (etcd) => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-election-'));
  const procs: Spawned[] = [];
  const leaseMs = 2000;
  try {
    const args = ['--insecure', '--cfg', etcd.url, '--leader-lease-ms', String(leaseMs), '--failover-after-ms', '3000'];
    const a = await spawnManager(args);
    procs.push(a);
    const b = await spawnManager(args);
    procs.push(b);
    const c = await spawnManager(args);
    procs.push(c);
    const first = await leaderOf([a, b, c], 10_000);
    const followers = [a, b, c].filter((m) => m !== first);
    // A node registers with a follower so the map exists and survives the leader's death.
    const node = await spawnNode(['--insecure', '--manager', followers[0]!.address, '--data-dir', join(dir, 'n1')]);
    procs.push(node);
    const before = await poll(async () => {
      const s = await status(followers[0]!);
      return s.map === null ? null : s;
    }, 10_000, 'a map');

    // Kill the leader: a follower takes over within the lease TTL (plus one renewal period).
    const killedAt = Date.now();
    await first.stop('SIGKILL');
    const second = await leaderOf(followers, leaseMs * 2 + 2000);
    const takeover = Date.now() - killedAt;
    assert.ok(takeover <= leaseMs * 2 + 2000, `took over after ${takeover} ms`);

    // Pause the new leader, let a third manager take over and write, then resume the old one.
    const third = followers.find((m) => m !== second)!;
    second.child.kill('SIGSTOP');
    try {
      await leaderOf([third], leaseMs * 2 + 2000);
      assert.is(await post(third, '/api/split'), 200);
    } finally {
      second.child.kill('SIGCONT');
    }
    const afterSplit = await status(third);
    assert.is(afterSplit.map!.bits, before.map!.bits + 1);
    // The resumed manager may still believe it leads for a moment: its write must not land.
    const code = await post(second, '/api/split');
    assert.is(code, 503, 'the deposed leader is refused');
    const final = await status(third);
    assert.is(final.map!.bits, before.map!.bits + 1, 'no second split landed');
    process.stdout.write(`  (takeover after ${takeover} ms with a ${leaseMs} ms lease)\n`);
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}, { bodyTimeoutMs: 90_000 }));

test.run();
