import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from '../helpers/suite.js';
import { connect } from '../../sdk/index.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';
import { keysOn, replicatedCluster } from '../helpers/replicated.js';

const test = suite('integration - disk node serves deltas through its restored history');

const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString());

// Both copies die at once (a power cut), the replica behind the active. Back up, the
// active knows its recent records only by key and fingerprint; it still sends the replica
// a delta (each key's last record, the value read from its engine), not a full copy.
test('after both copies are SIGKILLed, a replica behind its active catches up by delta from the restarted active', () => withCluster({
  nodes: 2, hasDht: true, engine: 'disk', deadlineMs: 240_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '600000'],
}, async ({ manager, nodes, dir, addNode }) => {
  const db = await connect({ map: manager.address, timeoutMs: 3000 });
  try {
    await replicatedCluster(db, manager.address, 2);
    const [active, behind] = [nodes[0]!, nodes[1]!];
    const map = db.map!;
    const activeIndex = map.nodes.findIndex((n) => n.address === active.address);
    const ids = map.nodes.map((n) => n.id);
    const theirs = keysOn(map, activeIndex, 'r:', 400);
    const others = keysOn(map, 1 - activeIndex, 's:', 100);
    // Every unit gets data and so a history.
    const fill = Array.from({ length: 4000 }, (_, i) => `f:${i}`);
    for (let i = 0; i < fill.length; i += 64) await Promise.all(fill.slice(i, i + 64).map((k) => db.set(k, 'f', { durability: 'majority' })));
    // On both disks (and so every write before them): only what follows is the replica's to miss.
    for (const k of [...theirs, ...others]) await db.set(k, `base:${k}`, { durability: 'persistMajority' });
    // The replica stops reading: what the active writes now reaches only its own disk
    // (values large enough that the link's buffers cannot carry them all).
    process.kill(behind.pid, 'SIGSTOP');
    const big = 'x'.repeat(4000);
    const missed = theirs.slice(0, 300);
    const twice = missed.slice(0, 60);
    const deleted = theirs.slice(300, 340);
    const want = new Map<string, string | null>([...theirs, ...others].map((k) => [k, `base:${k}`]));
    for (const k of missed) {
      await db.set(k, `new:${k}:${big}`, { durability: 'persist' });
      want.set(k, `new:${k}:${big}`);
    }
    // Keys written twice and deleted: the delta carries each key's last record only.
    for (const k of twice) {
      await db.set(k, `newer:${k}`, { durability: 'persist' });
      want.set(k, `newer:${k}`);
    }
    for (const k of deleted) {
      assert.ok(await db.delete(k, { durability: 'persist' }), k);
      want.set(k, null);
    }
    await active.stop('SIGKILL');
    await behind.stop('SIGKILL');
    // The active first, so it is there to serve the replica's pull.
    const activeBack = await addNode(['--data-dir', join(dir, 'node-0'), '--engine', 'disk']);
    const behindBack = await addNode(['--data-dir', join(dir, 'node-1'), '--engine', 'disk']);
    for (const back of [activeBack, behindBack]) {
      const loaded = back.stderr.find((l) => /unit seqnos on disk, \d+ with their recent history/.test(l));
      assert.ok(loaded !== undefined && !/, 0 with their recent history/.test(loaded), back.stderr.join(' | '));
    }
    await poll(async () => (db.map !== null && ids.every((id) => db.map!.nodes.some((n) => n.id === id && n.state === 'active' && n.address !== active.address && n.address !== behind.address)) ? true : null), 60_000, 'both back');
    const stats = await poll(async () => {
      const s = await db.stats().catch(() => null);
      const b = s?.[behindBack.address];
      const a = s?.[activeBack.address];
      if (a === undefined || b === undefined || Number(b.repl_delta_units) + Number(b.repl_full_resyncs) === 0) return null;
      return Object.values(s!).every((x) => x.repl_backfilling === 0) ? { a, b } : null;
    }, 60_000, 'the replica verified its units');
    process.stdout.write(`    (${missed.length + twice.length + deleted.length} writes reached only the active's disk; the restarted active sent `
      + `${String(stats.a.repl_delta_restored_units)} units by delta through its restored history; the replica: ${String(stats.b.repl_delta_units)} units `
      + `by delta, ${String(stats.b.repl_delta_records)} records, ${String(stats.b.repl_full_resyncs)} copied in full, ${String(stats.b.repl_backfill_items)} items copied)\n`);
    assert.ok(Number(stats.a.repl_delta_restored_units) > 0, 'the active served deltas through its restored history');
    assert.is(Number(stats.b.repl_full_resyncs), 0, 'no unit copied in full');
    assert.is(Number(stats.b.repl_backfill_items), 0, 'no item copied in full');
    // Fewer records than writes: superseded records are not sent.
    assert.ok(Number(stats.b.repl_delta_records) < missed.length + twice.length + deleted.length, String(stats.b.repl_delta_records));
    for (const [k, v] of want) {
      assert.is(text(await db.get(k)), v, k);
      assert.is(text(await db.getAnyReplica(k)), v, `${k} on the replica`);
    }
    // The replica's own history after such a delta holds on its disk: killed again while
    // the active writes on, it comes back by delta once more.
    await behindBack.stop('SIGKILL');
    for (const k of theirs.slice(0, 20)) {
      await db.set(k, `third:${k}`, { durability: 'persist' });
      want.set(k, `third:${k}`);
    }
    const again = await addNode(['--data-dir', join(dir, 'node-1'), '--engine', 'disk']);
    const third = await poll(async () => {
      const s = await db.stats().catch(() => null);
      const b = s?.[again.address];
      if (b === undefined || Number(b.repl_delta_units) + Number(b.repl_full_resyncs) === 0) return null;
      return Object.values(s!).every((x) => x.repl_backfilling === 0) ? b : null;
    }, 60_000, 'the replica verified its units again');
    assert.is(Number(third.repl_full_resyncs), 0, 'no unit copied in full the second time');
    assert.is(Number(third.repl_backfill_items), 0);
    for (const [k, v] of want) {
      assert.is(text(await db.get(k)), v, k);
      assert.is(text(await db.getAnyReplica(k)), v, `${k} on the replica, second restart`);
    }
  } finally {
    await db.close();
  }
}));

test.run();
