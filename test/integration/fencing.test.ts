import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { connect, type PandaClient } from '../../sdk/index.js';
import { StaticMapSource } from '../../sdk/map-source.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';
import type { Spawned } from '../../bin/spawn.js';
import { keysOn, replicatedCluster, rollbackCounts, seqOf } from '../helpers/replicated.js';

const test = suite('integration - fencing: a paused active loses no acknowledged write');

const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString());



// The scenario of the zombie active: three nodes, r = 2, failover after 2 s. The active of
// a third of the units is paused (SIGSTOP) for longer than the failover time while a
// client on the live map keeps writing `majority` to its keys; then it resumes while a
// second client, still holding the map from before the failover, writes (`majority` and
// `none`) and reads through it. The resumed node must have fenced itself: it acknowledges
// nothing, serves no read, and pushes none of its history onto the new chain.
/** SIGSTOP an active of `nodeCount` nodes at redundancy `r` past its failover, with clients on the live and the old map. */
const pausedActive = (nodeCount: number, r: number) => () => withCluster({
  nodes: nodeCount, hasManagerDht: true, deadlineMs: 240_000, managerArgs: ['--redundancy', String(r), '--failover-after-ms', '2000'],
}, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address, timeoutMs: 6000, durability: 'majority' });
  let old: PandaClient | null = null;
  try {
    await replicatedCluster(db, manager.address, nodeCount);
    const before = db.map!;
    assert.ok(before.runChains.every((c) => before.chains[c]!.length === r), `${r} copies of every unit`);
    const victim: Spawned = nodes[0]!;
    const v = before.nodes.findIndex((n) => n.address === victim.address);
    assert.ok(v >= 0, 'the victim is in the map');
    const victimId = before.nodes[v]!.id;
    const liveKeys = keysOn(before, v, 'live:', 200);
    const oldMajority = keysOn(before, v, 'oldm:', 100);
    const oldNone = keysOn(before, v, 'oldn:', 100);
    for (const k of liveKeys) await db.set(k, 'live:0');

    // The client on the live map writes round-robin: key -> last acknowledged seq.
    const lastAcked = new Map<string, number>();
    let seq = 0;
    let isWriting = true;
    let liveErrors = 0;
    const writer = (async () => {
      while (isWriting) {
        const k = liveKeys[seq % liveKeys.length]!;
        const n = ++seq;
        try {
          await db.set(k, `live:${n}`);
          lastAcked.set(k, Math.max(lastAcked.get(k) ?? 0, n));
        } catch {
          liveErrors++;
        }
      }
    })();

    const counts = { majorityTried: 0, majorityAcked: 0, noneTried: 0, noneAcked: 0, readsTried: 0, readsServed: 0, staleReads: 0 };
    const ackedOld = new Map<string, string>();
    const oldOps = async (i: number): Promise<void> => {
      const km = oldMajority[i % oldMajority.length]!;
      const kn = oldNone[i % oldNone.length]!;
      const kr = liveKeys[i % liveKeys.length]!;
      const wantAtLeast = lastAcked.get(kr) ?? 0;
      counts.majorityTried++;
      counts.noneTried++;
      counts.readsTried++;
      await Promise.all([
        old!.set(km, `oldm:${i}`, { durability: 'majority' }).then(() => { counts.majorityAcked++; ackedOld.set(km, `oldm:${i}`); }, () => undefined),
        old!.set(kn, `oldn:${i}`, { durability: 'none' }).then(() => { counts.noneAcked++; ackedOld.set(kn, `oldn:${i}`); }, () => undefined),
        old!.get(kr).then((value) => {
          counts.readsServed++;
          if (seqOf(text(value)) < wantAtLeast) counts.staleReads++;
        }, () => undefined),
      ]);
    };

    // The old-map client's lane to the victim is open before the pause.
    old = await connect({ mapSource: new StaticMapSource(before), timeoutMs: 5000 });
    await old.get(oldMajority[0]!);
    process.kill(victim.pid, 'SIGSTOP');
    let oldBatch: Array<Promise<void>> = [];
    try {
      await poll(async () => (db.map?.nodes.some((n) => n.id === victimId && n.state === 'failed') === true ? true : null), 30_000, 'failover');
      // The new actives take writes the paused node never saw.
      const atFailover = seq;
      await poll(async () => (seq >= atFailover + 300 ? true : null), 30_000, 'writes on the new actives');
      // The old-map client's requests wait in the paused node's socket: the first thing it
      // reads when it resumes, before or after the maps that failed it over.
      oldBatch = Array.from({ length: 100 }, (_, i) => oldOps(i));
    } finally {
      process.kill(victim.pid, 'SIGCONT');
    }
    await Promise.all(oldBatch);
    // And once more after the resume.
    await Promise.all(Array.from({ length: 100 }, (_, i) => oldOps(100 + i)));

    isWriting = false;
    await writer;
    // The resumed node registers again and takes copies back; everything settles.
    await poll(async () => (db.map?.nodes.some((n) => n.id === victimId && n.state === 'active') === true ? true : null), 60_000, 'the victim back');
    await replicatedCluster(db, manager.address, nodeCount);

    let lost = 0;
    let reverted = 0;
    for (const [k, want] of lastAcked) {
      const got = seqOf(text(await db.get(k)));
      if (got < want) reverted++;
    }
    for (const [k, value] of ackedOld) if (text(await db.get(k)) !== value) lost++;
    const fenceLogged = victim.stderr.some((l) => l.includes('event=fence'));
    const back = rollbackCounts(victim.stderr);
    process.stdout.write(`    (r = ${r}, ${nodeCount} nodes; old-map client after the resume: majority ${counts.majorityAcked}/${counts.majorityTried} acknowledged, none ${counts.noneAcked}/${counts.noneTried} acknowledged, `
      + `reads ${counts.readsServed}/${counts.readsTried} served, ${counts.staleReads} stale; live client: ${lastAcked.size} keys, last writes checked, ${reverted} reverted, `
      + `${liveErrors} errors; old-map acknowledged writes lost: ${lost}; fence logged: ${fenceLogged}; on return: ${back.deltaUnits} units rolled back and caught up by delta `
      + `(${back.discarded} records discarded), ${back.copiedUnits} copied in full)\n`);
    assert.is(counts.staleReads, 0, 'stale reads served after the failover');
    assert.is(reverted, 0, 'majority-acknowledged writes reverted');
    assert.is(lost, 0, 'acknowledged old-map writes lost');
    assert.is(counts.majorityAcked + counts.noneAcked, 0, 'the fenced node acknowledged writes');
    assert.ok(fenceLogged, 'the node logged that it fenced itself');
  } finally {
    old?.destroy();
    await db.close();
  }
});

test('a paused active fences itself: after the failover it acknowledges no write, serves no stale read, and reverts nothing', pausedActive(3, 2));

test('the same at redundancy 3 on 4 nodes: a majority is the active and one of two replicas', pausedActive(4, 3));

// Nodes started exactly as docs/operations.md shows (`--manager URL --data-dir DIR`, no
// `--dht`): they join the peer plane the manager runs, so `majority` means two copies.
test('nodes started without --dht replicate through the manager\'s peer plane: SIGKILL under majority writes loses nothing', () => withCluster({
  nodes: 3, hasManagerDht: true, deadlineMs: 180_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '1000'],
}, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address, durability: 'majority', timeoutMs: 4000 });
  try {
    await replicatedCluster(db, manager.address, 3);
    const stats = await db.stats();
    assert.ok(Object.values(stats).every((s) => s.replicating === 1), 'every node replicates');
    const acked = new Map<string, string>();
    let isRunning = true;
    let failures = 0;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; isRunning; i++) {
        const key = `k${w}:${i}`;
        try {
          await db.set(key, `${w}-${i}`);
          acked.set(key, `${w}-${i}`);
        } catch {
          failures++;
        }
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    await poll(async () => (acked.size >= 2000 ? true : null), 60_000, '2000 acknowledged writes');
    const victim = nodes[2]!;
    await victim.stop('SIGKILL');
    await poll(async () => (db.map?.nodes.some((n) => n.address === victim.address && n.state === 'failed') === true ? true : null), 30_000, 'failover');
    const after = acked.size;
    await poll(async () => (acked.size >= after + 1000 ? true : null), 60_000, 'writes after the failover');
    isRunning = false;
    await Promise.all(writers);
    let lost = 0;
    for (const [k, value] of acked) if (text(await db.get(k)) !== value) lost++;
    process.stdout.write(`    (${acked.size} majority writes acknowledged, ${lost} lost after SIGKILL of one of 3 nodes; ${failures} failed during the failover window)\n`);
    assert.is(lost, 0);
  } finally {
    await db.close();
  }
}));

test('a majority write the cluster cannot replicate is refused with KV_ERR_DURABILITY_IMPOSSIBLE and not executed', () => withCluster({
  nodes: 2, deadlineMs: 60_000, managerArgs: ['--redundancy', '2'],
}, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address, timeoutMs: 3000 });
  try {
    await poll(async () => (db.map !== null && db.map.runChains.every((c) => db.map!.chains[c]!.length === 2) ? true : null), 30_000, 'chains of two');
    const err = await db.set('dur:1', 'x', { durability: 'majority' }).then(() => null, (e: { code?: string }) => e);
    assert.is(err?.code, 'KV_ERR_DURABILITY_IMPOSSIBLE');
    assert.is(await db.get('dur:1'), null, 'the refused write did not run');
    await db.set('dur:1', 'y', { durability: 'none' });
    assert.is(text(await db.get('dur:1')), 'y');
    const warned = nodes.some((n) => n.stderr.some((l) => l.includes('does not replicate')));
    assert.ok(warned, 'a node without a peer plane says so');
  } finally {
    await db.close();
  }
}));

test.run();
