import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '../../sdk/index.js';
import { spawnManager, spawnNode, type Spawned } from '../../bin/spawn.js';
import { withEtcd } from '../helpers/etcd.js';
import { poll } from '../helpers/deadline.js';
import { replicatedCluster } from '../helpers/replicated.js';

const test = suite('integration - manager tier HA on etcd');

const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString());

async function isLeader(m: Spawned): Promise<boolean> {
  const res = await fetch(`${m.address}/api/status`);
  return ((await res.json()) as { isLeader?: boolean }).isLeader === true;
}

// Two managers on one etcd; the nodes are given only the leader's address (they learn the
// other from the map). The leader is SIGKILLed under majority writes: it held the nodes'
// liveness leases and ran failure detection. The nodes move to the other manager, which
// re-attaches their leases before they run out and takes over the lead: no node is
// failed, no acknowledged write is lost, no caller sees an error.
test('SIGKILL of the manager the nodes registered with fails no node and loses no acknowledged write', () => withEtcd(async (etcd) => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-ha-'));
  const procs: Spawned[] = [];
  try {
    const args = ['--insecure', '--cfg', etcd.url, '--redundancy', '2', '--failover-after-ms', '3000', '--leader-lease-ms', '2000'];
    const a = await spawnManager(args);
    procs.push(a);
    const b = await spawnManager(args);
    procs.push(b);
    const leader = await poll(async () => ((await isLeader(a)) ? a : (await isLeader(b)) ? b : null), 20_000, 'a leader');
    for (let i = 0; i < 3; i++) {
      procs.push(await spawnNode(['--insecure', '--manager', leader.address, '--data-dir', join(dir, `n${i}`)]));
    }
    const db = await connect({ map: [a.address, b.address], durability: 'majority', timeoutMs: 8000 });
    try {
      await replicatedCluster(db, leader.address, 3);
      await poll(async () => (db.map?.managers?.length === 2 ? true : null), 20_000, 'the map lists both managers');

      let failedSeen = 0;
      const watch = setInterval(() => {
        if (db.map?.nodes.some((n) => n.state === 'failed') === true) failedSeen++;
      }, 50);
      const acked = new Map<string, string>();
      const errors: string[] = [];
      let isRunning = true;
      const writer = async (w: number): Promise<void> => {
        for (let i = 0; isRunning; i++) {
          const key = `ha${w}:${i}`;
          try {
            await db.set(key, `${w}-${i}`);
            acked.set(key, `${w}-${i}`);
          } catch (err) {
            errors.push(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
          }
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      try {
        await poll(async () => (acked.size >= 1000 ? true : null), 60_000, '1000 acknowledged writes');
        // The manager the nodes are registered with now (they follow the leader).
        const victim = await poll(async () => {
          const used = new Set(Object.values(await db.stats()).map((st) => String(st.manager)));
          const hit = [a, b].filter((m) => used.has(`${m.address.replace(/^http/, 'ws')}/map`));
          return used.size === 1 && hit.length === 1 ? hit[0]! : null;
        }, 20_000, 'every node on one manager');
        const survivor = victim === a ? b : a;
        const killedAt = Date.now();
        await victim.stop('SIGKILL');
        await poll(async () => ((await isLeader(survivor)) ? true : null), 30_000, 'the other manager leads');
        const takeoverMs = Date.now() - killedAt;
        // Past the failover time several times over: any node whose lease was not
        // re-attached would have been failed by now.
        const until = Date.now() + 3 * 3000;
        const before = acked.size;
        await poll(async () => (Date.now() >= until && acked.size >= before + 500 ? true : null), 60_000, 'writes after the manager died');
        clearInterval(watch);
        isRunning = false;
        await Promise.all(writers);
        let lost = 0;
        const lostKeys: string[] = [];
        for (const [k, v] of acked) {
          const got = text(await db.get(k));
          if (got !== v) {
            lost++;
            if (lostKeys.length < 5) lostKeys.push(`${k}=${String(got)} (wanted ${v})`);
          }
        }
        if (lostKeys.length > 0 || errors.length > 0) {
          process.stdout.write(`    lost: ${lostKeys.join('; ')}; errors: ${[...new Set(errors)].join(', ')}\n`);
          process.stdout.write(`    killed ${victim.address} (leader at start: ${leader.address})\n`);
          for (const p of procs) for (const l of p.stderr.filter((x) => x.includes('event=')).slice(-12)) process.stdout.write(`      ${p.address}: ${l}\n`);
        }
        const states = db.map!.nodes.map((n) => n.state).join(',');
        process.stdout.write(`    (the nodes' manager SIGKILLed; the other led after ${takeoverMs} ms; node states ${states}; maps showing a failed node: ${failedSeen}; `
          + `${acked.size} majority writes acknowledged, ${lost} lost, ${errors.length} caller errors)\n`);
        assert.is(failedSeen, 0, 'a live node was failed');
        assert.ok(db.map!.nodes.every((n) => n.state === 'active'), states);
        assert.is(lost, 0);
        assert.equal(errors, []);
      } finally {
        clearInterval(watch);
        isRunning = false;
        await Promise.all(writers);
      }
    } finally {
      await db.close();
    }
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}, { bodyTimeoutMs: 180_000 }));

test.run();
