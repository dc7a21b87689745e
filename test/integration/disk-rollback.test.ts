import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from '../helpers/suite.js';
import { connect } from '../../sdk/index.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';
import { keysOn, replicatedCluster, rollbackCounts } from '../helpers/replicated.js';

const test = suite('integration - disk engine rollback after SIGKILL');

const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString());

test('a disk active SIGKILLed with writes its replica never got comes back, rolls them back by delta and copies no unit in full', () => withCluster({
  nodes: 2, hasDht: true, engine: 'disk', deadlineMs: 240_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '4000'],
}, async ({ manager, nodes, dir, addNode }) => {
  const db = await connect({ map: manager.address, timeoutMs: 3000 });
  try {
    await replicatedCluster(db, manager.address, 2);
    const [victim, survivor] = [nodes[0]!, nodes[1]!];
    const map = db.map!;
    const victimIndex = map.nodes.findIndex((n) => n.address === victim.address);
    const victimId = map.nodes[victimIndex]!.id;
    const theirs = keysOn(map, victimIndex, 'r:', 400);
    const mine = keysOn(map, 1 - victimIndex, 's:', 200);
    // Every unit gets data and so a history: a unit with none is copied, empty, in full.
    const fill = Array.from({ length: 4000 }, (_, i) => `f:${i}`);
    for (let i = 0; i < fill.length; i += 64) await Promise.all(fill.slice(i, i + 64).map((k) => db.set(k, 'f', { durability: 'majority' })));
    for (const k of [...theirs, ...mine]) await db.set(k, `base:${k}`, { durability: 'majority' });
    // The replica stops reading: what the active writes now reaches only its own disk. The
    // values are large enough that the link's buffers cannot carry them all to the paused
    // replica before the active dies.
    process.kill(survivor.pid, 'SIGSTOP');
    const lost = theirs.slice(0, 300);
    const big = 'x'.repeat(4000);
    for (const k of lost) await db.set(k, `lost:${big}`, { durability: 'persist' });
    await victim.stop('SIGKILL');
    process.kill(survivor.pid, 'SIGCONT');
    await poll(async () => (db.map?.nodes.some((n) => n.id === victimId && n.state === 'failed') === true ? true : null), 60_000, 'failed over');
    // The cluster goes on without the victim's last writes: some keys are written again.
    const rewritten = lost.slice(0, 100);
    for (const k of rewritten) {
      await poll(() => db.set(k, `after:${k}`).then(() => true, () => null), 20_000, `write ${k} after the failover`);
    }
    const back = await addNode(['--data-dir', join(dir, 'node-0'), '--engine', 'disk']);
    const loaded = back.stderr.find((l) => /unit seqnos on disk, \d+ with their recent history/.test(l));
    assert.ok(loaded !== undefined && !/, 0 with their recent history/.test(loaded), back.stderr.join(' | '));
    await poll(async () => (db.map?.nodes.some((n) => n.id === victimId && n.state === 'active') === true ? true : null), 60_000, 'back');
    const stats = await poll(async () => {
      const s = await db.stats().catch(() => null);
      const m = s?.[back.address];
      if (m === undefined || Number(m.repl_delta_units) + Number(m.repl_full_resyncs) === 0) return null;
      return Object.values(s!).every((x) => x.repl_backfilling === 0) ? m : null;
    }, 60_000, 'the returning node verified its units');
    const events = rollbackCounts(back.stderr);
    process.stdout.write(`    (${lost.length} writes reached only the victim's disk; back: ${String(stats.repl_rollback_units)} units rolled back by delta `
      + `(${String(stats.repl_rollback_records)} records discarded), ${String(stats.repl_delta_units)} units by delta in all, `
      + `${String(stats.repl_full_resyncs)} copied in full, ${String(stats.repl_backfill_items)} items copied)\n`);
    assert.ok(Number(stats.repl_rollback_units) > 0, 'units with writes the cluster lost were rolled back');
    assert.is(Number(stats.repl_full_resyncs), 0, 'no unit copied in full');
    assert.is(events.copiedUnits, 0);
    assert.is(Number(stats.repl_backfill_items), 0, 'no item copied in full');
    assert.ok(events.deltaUnits > 0);
    // Every copy holds what the cluster holds: the lost writes are gone everywhere.
    for (const k of [...theirs, ...mine]) {
      const want = rewritten.includes(k) ? `after:${k}` : `base:${k}`;
      assert.is(text(await db.get(k)), want, k);
      assert.is(text(await db.getAnyReplica(k)), want, `${k} on a replica`);
    }
  } finally {
    await db.close();
  }
}));

test.run();
