import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { connect, type PandaClient } from '../../sdk/index.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';
import { existsSync } from 'node:fs';
import { chainOf } from '../../shared/cluster-map.js';
import { join } from 'node:path';

const test = suite('integration - replication over the peer plane');

/** Until every node is placed with `copies` copies of each unit and a majority write goes through. */
async function replicated(db: PandaClient, nodes: number, copies = 2): Promise<void> {
  await poll(async () => {
    const map = db.map;
    if (map === null || map.nodes.filter((n) => n.state === 'active').length < nodes) return null;
    if (!map.runChains.every((c) => map.chains[c]!.length >= copies)) return null;
    try {
      await db.set('probe', 'x', { durability: 'majority', timeoutMs: 1000 });
      return true;
    } catch {
      return null;
    }
  }, 60_000, 'a replicated cluster');
}

async function idle(db: PandaClient): Promise<void> {
  await poll(async () => {
    const stats = await db.stats().catch(() => null);
    if (stats === null) return null;
    return Object.values(stats).every((s) => s.repl_backfilling === 0) ? true : null;
  }, 20_000, 'backfills done');
}

const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString());

test('a write streams to its replica, which serves replica reads', () => withCluster({ nodes: 2, hasDht: true, managerArgs: ['--redundancy', '2'] }, async ({ manager }) => {
  const db = await connect({ map: manager.address });
  try {
    await replicated(db, 2);
    for (let i = 0; i < 200; i++) await db.set(`r:${i}`, `v${i}`, { durability: i % 2 === 0 ? 'majority' : 'none' });
    await db.set('r:0', 'v0-new', { durability: 'majority' });
    // A majority write is on the replica when it is acknowledged.
    assert.is(text(await db.get('r:0', { replica: true })), 'v0-new');
    await poll(async () => (text(await db.get('r:199', { replica: true })) === 'v199' ? true : null), 5000, 'async write replicated');
    await db.delete('r:5', { durability: 'majority' });
    assert.is(await db.get('r:5', { replica: true }), null, 'deletes replicate');
    assert.is(text(await db.getAnyReplica('r:7')), 'v7');
  } finally {
    await db.close();
  }
}));

test('SIGKILL of a node under a majority write load loses no acknowledged write', () => withCluster({
  nodes: 3, hasDht: true, deadlineMs: 120_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '1000'],
}, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address, durability: 'majority', timeoutMs: 3000 });
  try {
    await replicated(db, 3);
    // Nodes joined one by one, each placed over several batches of moves: every node
    // still ends with its share of copies, replicas included.
    await rebalanceDone(manager.address, 3, db);
    const map = db.map!;
    const size = 2 ** (map.bits - map.unitBits);
    const copies = map.nodes.map(() => 0);
    for (let u = 0; u < 2 ** map.unitBits; u++) for (const m of chainOf(map, u * size)) copies[m]!++;
    for (const c of copies) assert.ok(Math.abs(c - (2 * 2 ** map.unitBits) / 3) <= 0.02 * 2 ** map.unitBits, `copies per node ${copies.join(' / ')}`);
    await idle(db);
    const acked = new Map<string, string>();
    let isRunning = true;
    let failures = 0;
    const writer = async (w: number): Promise<void> => {
      for (let i = 0; isRunning; i++) {
        const key = `w${w}:${i}`;
        const value = `${w}-${i}-${Date.now()}`;
        try {
          await db.set(key, value);
          acked.set(key, value);
        } catch {
          failures++;
        }
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    await poll(async () => (acked.size >= 2000 ? true : null), 30_000, '2000 acknowledged writes');
    const victim = nodes[1]!;
    await victim.stop('SIGKILL');
    // Keep writing through failover: the failed node's units come back on their replicas.
    await poll(async () => (db.map?.nodes.some((n) => n.address === victim.address && n.state === 'failed') === true ? true : null), 20_000, 'failover');
    const afterFailover = acked.size;
    await poll(async () => (acked.size >= afterFailover + 1000 ? true : null), 30_000, 'writes after failover');
    isRunning = false;
    await Promise.all(writers);
    await idle(db);
    let checked = 0;
    for (const [key, value] of acked) {
      assert.is(text(await db.get(key)), value, key);
      checked++;
    }
    process.stdout.write(`    (checked ${checked} acknowledged writes; ${failures} writes failed during the failover window)\n`);
    assert.ok(checked >= 3000);
  } finally {
    await db.close();
  }
}));

async function rebalanceDone(manager: string, nodes: number, db: PandaClient): Promise<void> {
  await poll(async () => {
    const res = await fetch(`${manager}/api/rebalance`);
    const p = await res.json() as { isDone: boolean; moves: { isMoving: boolean } };
    const map = db.map;
    const active = map?.nodes.filter((n) => n.state === 'active' && map.chains.some((c, i) => c.includes(map.nodes.indexOf(n)) && map.runChains.includes(i))).length;
    return p.isDone && !p.moves.isMoving && active === nodes ? true : null;
  }, 60_000, `rebalance onto ${nodes} nodes`);
}

/** Writers of unique keys at full speed, each remembering what was acknowledged, until stopped. */
function startWriters(db: PandaClient, prefix: string, count: number): {
  acked: Map<string, string>; ackedAt: Map<string, number>; errors: string[]; t0: number; stop(): Promise<void>;
} {
  const acked = new Map<string, string>();
  const ackedAt = new Map<string, number>();
  const errors: string[] = [];
  const t0 = Date.now();
  let isRunning = true;
  const writer = async (w: number): Promise<void> => {
    for (let i = 0; isRunning; i++) {
      const key = `${prefix}${w}:${i}`;
      const value = `${w}-${i}`;
      try {
        await db.set(key, value);
        acked.set(key, value);
        ackedAt.set(key, Date.now() - t0);
      } catch (err) {
        errors.push(String(err));
      }
    }
  };
  const writers = Array.from({ length: count }, (_, w) => writer(w));
  return {
    acked, ackedAt, errors, t0,
    async stop() {
      isRunning = false;
      await Promise.all(writers);
    },
  };
}

test('unique keys written at full speed through an add-node and a remove-node rebalance are all readable, with no caller error', () => withCluster({
  nodes: 3, hasDht: true, deadlineMs: 150_000, managerArgs: ['--redundancy', '2'],
}, async ({ manager, addNode }) => {
  const db = await connect({ map: manager.address, timeoutMs: 5000 });
  try {
    await replicated(db, 3);
    await idle(db);
    const { acked, ackedAt, errors, t0, stop } = startWriters(db, 'm', 4);
    let phaseAdd = 0; let phaseAddDone = 0; let phaseRemove = 0; let phaseRemoveDone = 0;
    await poll(async () => (acked.size >= 1000 ? true : null), 30_000, 'writes before the add');
    phaseAdd = Date.now() - t0;
    const added = await addNode();
    await rebalanceDone(manager.address, 4, db);
    phaseAddDone = Date.now() - t0;
    // The old owners drop the copies the move took away from them.
    await poll(async () => {
      const stats = await db.stats().catch(() => null);
      return stats !== null && Object.values(stats).reduce((n, s) => n + Number(s.purged_items ?? 0), 0) > 0 ? true : null;
    }, 20_000, 'old copies purged');
    const afterAdd = acked.size;
    await poll(async () => (acked.size >= afterAdd + 1000 ? true : null), 30_000, 'writes after the add');
    // Remove one of the original nodes (not the one just added) while writing goes on.
    const victim = db.map!.nodes.find((n) => n.address !== added.address && n.state === 'active')!;
    phaseRemove = Date.now() - t0;
    const res = await fetch(`${manager.address}/api/nodes/remove`, { method: 'POST', body: JSON.stringify({ node: victim.id }) });
    assert.is(res.status, 200, await res.text());
    await rebalanceDone(manager.address, 3, db);
    phaseRemoveDone = Date.now() - t0;
    await stop();
    assert.equal(errors.slice(0, 5), [], `${errors.length} writes failed`);
    let missing = 0;
    const missed: string[] = [];
    for (const [key, value] of acked) {
      if (text(await db.get(key)) !== value) {
        missing++;
        if (missed.length < 8) {
          const replica = text(await db.get(key, { replica: true }).catch(() => null));
          missed.push(`${key}@${ackedAt.get(key)} route=${JSON.stringify(db.route(key))} replica=${replica}`);
        }
      }
    }
    if (missing > 0) process.stdout.write(`    phases: add@${phaseAdd} addDone@${phaseAddDone} remove@${phaseRemove} removeDone@${phaseRemoveDone}\n    ${missed.join('\n    ')}\n`);
    process.stdout.write(`    (${acked.size} acknowledged writes through both rebalances; ${missing} missing)\n`);
    assert.is(missing, 0);
  } finally {
    await db.close();
  }
}));

test('graceful failover hands a node\'s units to caught-up replicas with no error seen by writers', () => withCluster({
  nodes: 3, hasDht: true, deadlineMs: 120_000, managerArgs: ['--redundancy', '2'],
}, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address, timeoutMs: 5000 });
  try {
    await replicated(db, 3);
    await idle(db);
    const { acked, errors, stop } = startWriters(db, 'g', 4);
    await poll(async () => (acked.size >= 1000 ? true : null), 30_000, 'writes before the failover');
    const victim = db.map!.nodes.find((n) => n.address === nodes[2]!.address)!;
    const res = await fetch(`${manager.address}/api/nodes/failover`, { method: 'POST', body: JSON.stringify({ node: victim.id, graceful: true }) });
    assert.is(res.status, 200, await res.text());
    await poll(async () => (db.map?.nodes.some((n) => n.id === victim.id && n.state === 'failed') === true ? true : null), 10_000, 'failed over');
    const at = acked.size;
    await poll(async () => (acked.size >= at + 1000 ? true : null), 30_000, 'writes after the failover');
    await stop();
    assert.equal(errors.slice(0, 5), [], `${errors.length} writes failed`);
    await idle(db);
    let missing = 0;
    for (const [key, value] of acked) if (text(await db.get(key)) !== value) missing++;
    process.stdout.write(`    (${acked.size} acknowledged writes around a graceful failover; ${missing} missing)\n`);
    assert.is(missing, 0);
  } finally {
    await db.close();
  }
}));

/** Until the map shows node `id` in `state`. */
async function nodeState(db: PandaClient, id: string, state: 'failed' | 'active', ms: number): Promise<void> {
  await poll(async () => (db.map?.nodes.some((n) => n.id === id && n.state === state) === true ? true : null), ms, state === 'failed' ? 'failed over' : 'back');
}

/** What a node away from the cluster misses: 300 new keys, 100 overwrites (`new`) and 50 deletes. */
/**
 * The start both recovery tests share: every unit on both nodes, nothing backfilling,
 * 3,000 majority writes under `prefix` (each on both nodes before the victim goes away),
 * and the victim's id.
 */
async function loadBeforeLosing(db: PandaClient, prefix: string, victimAddress: string): Promise<string> {
  await replicated(db, 2);
  await idle(db);
  for (let i = 0; i < 3000; i++) await db.set(`${prefix}:${i}`, `v${i}`, { durability: 'majority' });
  return db.map!.nodes.find((n) => n.address === victimAddress)!.id;
}

async function writeWhileAway(db: PandaClient, prefix: string, overwrite: string): Promise<void> {
  for (let i = 3000; i < 3300; i++) await db.set(`${prefix}:${i}`, `v${i}`);
  for (let i = 0; i < 100; i++) await db.set(`${prefix}:${i}`, `${overwrite}${i}`);
  for (let i = 100; i < 150; i++) await db.delete(`${prefix}:${i}`);
}

/** Every key of `writeWhileAway` reads back right from the active and from a replica. */
async function checkAfterReturn(db: PandaClient, prefix: string, overwrite: string): Promise<void> {
  for (let i = 0; i < 3300; i++) {
    const want = i < 100 ? `${overwrite}${i}` : i < 150 ? null : `v${i}`;
    assert.is(text(await db.get(`${prefix}:${i}`)), want, `${prefix}:${i}`);
    assert.is(text(await db.getAnyReplica(`${prefix}:${i}`)), want, `${prefix}:${i} on a replica`);
  }
}

/** The returning node's delta-recovery counters, printed under `what`. */
function recoveryStats(stats: Record<string, number | string>, what: string): Record<string, number | string> {
  process.stdout.write(`    (${what}: ${String(stats.repl_delta_units)} units by delta, ${String(stats.repl_delta_records)} records; `
    + `${String(stats.repl_full_resyncs)} units re-copied, ${String(stats.repl_backfill_items)} items copied in full)\n`);
  return stats;
}

// Two nodes with r = 2: the returning node gets every unit back, and may not see the maps
// that failed it (its link to the manager is re-established past them).
test('a node failed over while paused comes back with delta recovery and serves no stale data', () => withCluster({
  nodes: 2, hasDht: true, deadlineMs: 150_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '1000'],
}, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address, timeoutMs: 5000 });
  try {
    // Majority: every write is on both nodes before the pause (a `none` write the
    // paused node took last may be lost in the failover, by design).
    const victim = nodes[1]!;
    const victimId = await loadBeforeLosing(db, 'd', victim.address);
    process.kill(victim.pid, 'SIGSTOP');
    await nodeState(db, victimId, 'failed', 20_000);
    await rebalanceDone(manager.address, 1, db);
    await writeWhileAway(db, 'd', 'w');
    process.kill(victim.pid, 'SIGCONT');
    await nodeState(db, victimId, 'active', 30_000);
    await rebalanceDone(manager.address, 2, db);
    await idle(db);
    const mine = recoveryStats((await db.stats())[victim.address]!, 'delta recovery');
    assert.ok(Number(mine.repl_delta_units) > 0, 'units caught up by delta');
    assert.ok(Number(mine.repl_backfill_items) < 3300, 'not every item was copied again');
    await checkAfterReturn(db, 'd', 'w');
  } finally {
    await db.close();
  }
}));

// A graceful stop keeps the items and unit seqnos in the data dir; the restarted node
// (same data dir) catches up by delta instead of a full copy.
test('a node stopped gracefully and started again with its data dir catches up by delta (warm restart)', () => withCluster({
  nodes: 2, hasDht: true, deadlineMs: 150_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '1000'],
}, async ({ manager, nodes, dir, addNode }) => {
  const db = await connect({ map: manager.address, timeoutMs: 5000 });
  try {
    const victim = nodes[1]!;
    const victimId = await loadBeforeLosing(db, 'w', victim.address);
    assert.is(await victim.stop('SIGTERM'), 0, 'a graceful stop');
    assert.ok(victim.stderr.some((l) => /warm restart: kept 3\d{3} items/.test(l)), victim.stderr.join(' | '));
    await nodeState(db, victimId, 'failed', 20_000);
    await rebalanceDone(manager.address, 1, db);
    await writeWhileAway(db, 'w', 'x');
    // node-1 is the victim's data dir (the fixture numbers them in start order).
    const back = await addNode(['--data-dir', join(dir, 'node-1')]);
    assert.ok(back.stderr.some((l) => /warm restart: 3\d{3} items and \d+ unit seqnos loaded/.test(l)), back.stderr.join(' | '));
    await nodeState(db, victimId, 'active', 30_000);
    await rebalanceDone(manager.address, 2, db);
    await idle(db);
    const mine = recoveryStats((await db.stats())[back.address]!, 'warm restart');
    assert.ok(Number(mine.repl_delta_units) > 0, 'units caught up by delta');
    assert.is(Number(mine.repl_full_resyncs), 0, 'no unit copied again');
    assert.is(Number(mine.repl_backfill_items), 0, 'no item copied in full');
    await checkAfterReturn(db, 'w', 'x');
    // The snapshot is read once: it is gone from the data dir.
    assert.not.ok(existsSync(join(dir, 'node-1', 'memory.snapshot')));
  } finally {
    await db.close();
  }
}));

test('a replica still copying its units sends replica reads on to the active: no read misses a key', () => withCluster({
  nodes: 1, hasDht: true, deadlineMs: 120_000, managerArgs: ['--redundancy', '2'],
}, async ({ manager, addNode }) => {
  const db = await connect({ map: manager.address, timeoutMs: 5000 });
  try {
    const keys = 1000;
    const value = (i: number): string => `${i}:`.padEnd(1000, 'r');
    for (let i = 0; i < keys; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => db.set(`rr:${i + j}`, value(i + j))));
    // The new node copies in at most 64 KiB/s: its copy of the megabyte takes some 15 s.
    const joined = await addNode(['--backfill-rate', '64']);
    const metricsUrl = `${joined.address.replace(/^ws/, 'http')}/metrics`;
    await poll(async () => {
      const text = await (await fetch(metricsUrl)).text();
      return Number(/^pandakv_node_backfills_active (\d+)$/m.exec(text)?.[1] ?? 0) > 0 ? true : null;
    }, 60_000, 'the new node copying its units');
    let read = 0;
    for (let i = 0; i < keys; i += 100) {
      const got = await Promise.all(Array.from({ length: 100 }, (_, j) => db.get(`rr:${i + j}`, { replica: true })));
      got.forEach((v, j) => assert.is(text(v), value(i + j), `rr:${i + j}`));
      read += got.length;
    }
    const redirected = Number(/^pandakv_node_replica_read_redirects_total (\d+)$/m.exec(await (await fetch(metricsUrl)).text())?.[1]);
    process.stdout.write(`    (${read} replica reads during the copy, every one right; ${redirected} sent on to the active)\n`);
    assert.ok(redirected > 0, 'reads reached the copying replica and were sent on');
    await idle(db);
  } finally {
    await db.close();
  }
}));

test('redundancy 3: SIGKILL of a node under majority writes loses no acknowledged write, and every unit keeps its copies', () => withCluster({
  nodes: 4, hasDht: true, deadlineMs: 150_000, managerArgs: ['--redundancy', '3', '--failover-after-ms', '1000'],
}, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address, durability: 'majority', timeoutMs: 3000 });
  try {
    await replicated(db, 4, 3);
    await rebalanceDone(manager.address, 4, db);
    await idle(db);
    const writers = startWriters(db, 'r3-', 4);
    await poll(async () => (writers.acked.size >= 2000 ? true : null), 30_000, '2000 acknowledged writes');
    const victim = nodes[2]!;
    await victim.stop('SIGKILL');
    await poll(async () => (db.map?.nodes.some((n) => n.address === victim.address && n.state === 'failed') === true ? true : null), 20_000, 'failover');
    const afterFailover = writers.acked.size;
    await poll(async () => (writers.acked.size >= afterFailover + 1000 ? true : null), 30_000, 'writes after failover');
    await writers.stop();
    await idle(db);
    let lost = 0;
    for (const [key, value] of writers.acked) if (text(await db.get(key)) !== value) lost++;
    // The survivors take the failed node's copies back: three per unit again.
    const map = await poll(async () => {
      const m = db.map;
      return m !== null && m.runChains.every((c) => m.chains[c]!.length >= 3) && m.moves.length === 0 ? m : null;
    }, 60_000, 'three copies of every unit again');
    process.stdout.write(`    (r = 3: ${writers.acked.size} majority writes acknowledged, ${lost} lost; ${writers.errors.length} failed during the failover; ${map.nodes.filter((n) => n.state === 'active').length} nodes left)\n`);
    assert.is(lost, 0, 'acknowledged writes lost');
    assert.ok(writers.acked.size >= 3000);
  } finally {
    await db.close();
  }
}));

test.run();
