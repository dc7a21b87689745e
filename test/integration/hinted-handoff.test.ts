import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { connect, type PandaClient } from '../../sdk/index.js';
import { StaticMapSource } from '../../sdk/map-source.js';
import { startDhtBootstrap } from '../../cluster/peer/dht-bootstrap.js';
import { PeerPlane, type PeerPlaneOptions } from '../../cluster/peer/index.js';
import { MemoryEngine } from '../../cluster/node/engine/memory-engine.js';
import { Replicator } from '../../cluster/node/replication/replicator.js';
import { HintStore } from '../../cluster/node/replication/hint-store.js';
import { generateKeyPair } from '../../shared/auth/keys.js';
import { bucketOf } from '../../shared/keystream.js';
import { chainOf, unitOf, type ClusterMap } from '../../shared/cluster-map.js';
import { withCluster } from '../helpers/cluster.js';
import { replicatedCluster } from '../helpers/replicated.js';
import { poll, until, withDeadline } from '../helpers/deadline.js';

const test = suite('integration - hinted handoff');

const FAST: Partial<PeerPlaneOptions> = { backoffsMs: [100, 250, 500, 1000], backoffJitterMs: 20, helloTimeoutMs: 3000, requestTimeoutMs: 5000 };
const text = (v: Uint8Array | null | undefined): string | null => (v === null || v === undefined ? null : Buffer.from(v).toString());

interface Member {
  plane: PeerPlane;
  engine: MemoryEngine;
  hints: HintStore;
  repl: Replicator;
}

/**
 * Three in-process nodes on one local DHT: A is the active and B the replica of every
 * unit, C is outside the chain (the fallback). `stopB` takes B off the peer plane (it
 * drops and refuses every link, keeping its data), `startB` brings it back.
 */
async function withTrio<T>(body: (t: { a: Member; b: Member; c: Member; map: ClusterMap; stopB: () => Promise<void>; startB: () => Promise<void> }) => Promise<T>): Promise<T> {
  const boot = await startDhtBootstrap();
  const keys = [generateKeyPair(), generateKeyPair(), generateKeyPair()];
  const hex = keys.map((k) => Buffer.from(k.publicKey).toString('hex'));
  const map: ClusterMap = {
    epoch: 1, rev: 1, bits: 4, unitBits: 2,
    nodes: hex.map((peerKey, i) => ({ id: `n${i}`, address: `ws://127.0.0.1:${1000 + i}`, peerKey, zone: '', weight: 1, state: 'active' as const })),
    chains: [[0, 1]], runStarts: [0], runChains: [0], moves: [],
  };
  const members: Member[] = [];
  for (const k of keys) {
    const plane = new PeerPlane(k, [boot.address], FAST);
    const engine = new MemoryEngine({});
    const hints = await HintStore.open(null);
    const repl = new Replicator(engine, plane, { hintRetryMs: 200 }, hints);
    members.push({ plane, engine, hints, repl });
  }
  const [a, b, c] = members as [Member, Member, Member];
  try {
    await a.plane.start();
    await c.plane.start();
    await b.plane.start();
    members.forEach((m, i) => m.repl.applyMap(map, i));
    await until(() => b.plane.isUp(a.plane.publicKey) && b.plane.isUp(c.plane.publicKey) && a.plane.isUp(c.plane.publicKey), 10_000, 'all linked');
    await until(() => b.repl.backfilling === 0, 10_000, 'first backfill done');
    const stopB = async (): Promise<void> => {
      // B drops its links and refuses new ones: to A and C it is down.
      b.plane.setPeers([]);
      await until(() => !a.plane.isUp(b.plane.publicKey) && !c.plane.isUp(b.plane.publicKey), 10_000, 'B down');
    };
    const startB = async (): Promise<void> => {
      b.plane.setPeers([a.plane.publicKey, c.plane.publicKey]);
    };
    return await withDeadline(body({ a, b, c, map, stopB, startB }), 60_000, 'hinted handoff body');
  } finally {
    for (const m of members.reverse()) {
      m.repl.close();
      await m.plane.close().catch(() => {});
      await m.hints.close();
    }
    await boot.close();
  }
}

/** A write on the active, as the executor does it. */
function write(a: Member, key: string, value: string): void {
  a.engine.set(key, Buffer.from(value), 0, 0);
  void a.repl.onWrite(key, 'none');
}

test('records for a down replica are held by the fallback and replayed when it comes up', () => withTrio(async ({ a, b, c, stopB, startB }) => {
  await stopB();
  const n = 20_000;
  for (let i = 0; i < n; i++) write(a, `k${i}`, `v${i}`);
  await until(() => c.repl.counters.hintsStored === n && a.repl.counters.hintsSent === n, 10_000, 'C holds the hints');
  assert.is(a.repl.counters.hintsDropped, 0);
  assert.is(b.engine.get('k1'), null);
  let upAt = 0;
  c.plane.once('peer-up', () => {
    upAt = Date.now();
  });
  await startB();
  await until(() => c.repl.counters.hintsDelivered === n, 20_000, 'hints delivered');
  const ms = Math.max(1, Date.now() - upAt);
  process.stdout.write(`    (${n} hints replayed in ${ms} ms from the peer-up: ${Math.round(n / (ms / 1000))}/s)\n`);
  assert.is(c.repl.counters.hintsStored, 0);
  assert.is(b.repl.counters.hintsApplied, n);
  for (const i of [0, 1, 777, n - 1]) assert.is(text(b.engine.get(`k${i}`)?.value), `v${i}`);
  // Replayed in seqno order without a gap: no backfill was needed.
  assert.is(b.repl.counters.gaps, 0);
  // The stream goes on where the hints left off.
  write(a, 'k1', 'after');
  await until(() => text(b.engine.get('k1')?.value) === 'after', 5000, 'streamed after replay');
  assert.is(b.repl.counters.gaps, 0);
}));

test('a hint never overwrites newer data: the receiver applies it only above its own seqno', () => withTrio(async ({ a, b, c, map }) => {
  write(a, 'x', 'v1');
  write(a, 'x', 'v2');
  await until(() => text(b.engine.get('x')?.value) === 'v2', 5000, 'v2 streamed');
  const unit = unitOf(map, bucketOf('x', map.bits));
  const hrep = (seq: number, value: string, epoch = map.epoch): Promise<unknown> => c.plane.request(b.plane.publicKey, { t: 'hrep', r: [[unit, seq, Buffer.from('x'), Buffer.from(value), 0, 0]], e: [epoch] });
  // The v1 record (seq 1) as a late hint: B is at seq 2, so it is stale and ignored.
  assert.equal(await hrep(1, 'v1'), { s: [1] });
  assert.is(text(b.engine.get('x')?.value), 'v2');
  assert.is(b.repl.counters.hintsStale, 1);
  // A hint above B's seqno is applied and advances it.
  assert.equal(await hrep(3, 'v3'), { s: [0] });
  assert.is(text(b.engine.get('x')?.value), 'v3');
  assert.equal(await hrep(3, 'v3-again'), { s: [1] });
  assert.is(text(b.engine.get('x')?.value), 'v3');
  // A hint made under an older map may come from an active failed over since: stale,
  // whatever its seqno; so is one that names no epoch.
  assert.ok(map.epoch > 0);
  assert.equal(await hrep(9, 'from-an-older-map', map.epoch - 1), { s: [1] });
  assert.equal(await c.plane.request(b.plane.publicKey, { t: 'hrep', r: [[unit, 9, Buffer.from('x'), Buffer.from('no-epoch'), 0, 0]] }), { s: [1] });
  assert.is(text(b.engine.get('x')?.value), 'v3');
}));

// ---- real processes ----

/** STATS of one node (at the cluster's current epoch), even while another node is stopped. */
async function nodeStats(db: PandaClient, address: string): Promise<Record<string, number | string> | null> {
  const map = db.map!;
  const at = map.nodes.findIndex((n) => n.address === address);
  const one = await connect({ mapSource: new StaticMapSource({ ...map, chains: [[at]], runStarts: [0], runChains: [0], moves: [] }), timeoutMs: 1000 });
  try {
    return Object.values(await one.stats())[0] ?? null;
  } finally {
    one.destroy();
  }
}

test('a stopped replica gets its writes from the fallback when it resumes; a newer write is not overwritten', () => withCluster({
  nodes: 3, hasDht: true, deadlineMs: 150_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '60000'],
  // Links to the stopped replica drop after 4 s instead of the default 20.
  nodeArgs: ['--peer-idle-timeout-ms', '4000'],
}, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address, timeoutMs: 3000 });
  try {
    // Moves done first: keys are picked by the map's chains, which must not change under them.
    await replicatedCluster(db, manager.address, 3);
    const map = db.map!;
    const victim = nodes[1]!;
    const v = map.nodes.findIndex((n) => n.address === victim.address);
    assert.ok(v >= 0);
    // Keys whose chain is [other, victim]: the victim is their replica.
    const keys: string[] = [];
    for (let i = 0; keys.length < 300; i++) {
      const chain = chainOf(map, bucketOf(`h:${i}`, map.bits));
      if (chain.length === 2 && chain[1] === v) keys.push(`h:${i}`);
    }
    const fallbacks = nodes.filter((n) => n !== victim);
    process.kill(victim.pid, 'SIGSTOP');
    try {
      // The active hands off once its link to the victim is down (--peer-idle-timeout-ms).
      let probe = 0;
      const stoppedAt = Date.now();
      const hintsHeld = async (): Promise<number> => {
        let held = 0;
        for (const n of fallbacks) held += Number((await nodeStats(db, n.address))?.repl_hints_stored ?? 0);
        return held;
      };
      await poll(async () => {
        await db.set(keys[probe++ % keys.length]!, 'probe');
        return (await hintsHeld()) > 0 ? true : null;
      }, 60_000, 'first hint stored', 250);
      process.stdout.write(`    (first hint ${Date.now() - stoppedAt} ms after the stop, ${probe} probes)\n`);
      for (const key of keys) await db.set(key, `hinted-${key}`);
      const held = await poll(async () => {
        const h = await hintsHeld();
        return h >= keys.length ? h : null;
        // Each active hands off once its own link to the victim times out; what it sent
        // into the stopped link meanwhile is hinted then (sent, never acknowledged).
      }, 40_000, 'every write hinted').catch(async (err: Error) => {
        for (const n of fallbacks) {
          const st = await nodeStats(db, n.address);
          process.stdout.write(`${n.address}: ${JSON.stringify(Object.fromEntries(Object.entries(st ?? {}).filter(([k]) => k.startsWith('repl_'))))}\n`);
        }
        throw err;
      });
      process.stdout.write(`    (${held} hints held for the stopped replica)\n`);
    } finally {
      process.kill(victim.pid, 'SIGCONT');
    }
    // A newer write right after the resume must win over the hint of the older one,
    // whichever arrives first.
    await db.set(keys[0]!, 'newer');
    const resumedAt = Date.now();
    await poll(async () => {
      for (const n of fallbacks) if (Number((await nodeStats(db, n.address))?.repl_hints_stored ?? 1) !== 0) return null;
      return true;
    }, 60_000, 'hints delivered and deleted');
    process.stdout.write(`    (hints delivered ${Date.now() - resumedAt} ms after the resume)\n`);
    // A map change may be on its way (the resumed replica is re-planned): a node not yet at
    // the snapshot's epoch answers NOT_MY_BUCKET, so ask until every fallback answers.
    const delivered = await poll(async () => {
      let sum = 0;
      for (const n of fallbacks) sum += Number((await nodeStats(db, n.address))?.repl_hints_delivered ?? 0);
      return sum;
    }, 10_000, 'STATS of the fallbacks');
    assert.ok(delivered >= keys.length, `delivered ${delivered}`);
    assert.ok(fallbacks.some((n) => n.stderr.some((l) => l.includes('event=hint-replay'))), 'a fallback logged its hint replay');
    // The resumed node's links (peers and clients) may still be coming back: ask until it answers.
    const vs = await poll(() => nodeStats(db, victim.address), 10_000, 'STATS of the resumed replica');
    assert.ok(Number(vs.repl_hints_applied ?? 0) + Number(vs.repl_hints_stale ?? 0) >= keys.length);
    // Paused past its lease, the replica verifies its units when it resumes (copying some
    // again); until a unit is whole it sends replica reads on to the active. Once it is
    // done, every read below must come from the replica itself.
    const whole = await poll(async () => {
      const st = await nodeStats(db, victim.address);
      return st !== null && Number(st.repl_backfilling) === 0 ? st : null;
    }, 30_000, 'the resumed replica done verifying');
    await poll(async () => (text(await db.get(keys[0]!, { replica: true })) === 'newer' ? true : null), 10_000, 'newer write on the replica');
    await poll(async () => (text(await db.get(keys[1]!, { replica: true })) === `hinted-${keys[1]!}` ? true : null), 10_000, 'replica reads');
    for (const key of keys.slice(1)) assert.is(text(await db.get(key, { replica: true })), `hinted-${key}`, key);
    assert.is(text(await db.get(keys[0]!, { replica: true })), 'newer', 'the hint did not overwrite the newer write');
    const after = await poll(() => nodeStats(db, victim.address), 10_000, 'STATS of the replica after the reads');
    assert.is(Number(after.replica_redirects), Number(whole.replica_redirects), 'every replica read answered by the replica');
  } finally {
    await db.close();
  }
}));

test.run();
