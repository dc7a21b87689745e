import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { connect } from '../../sdk/index.js';
import type { Spawned } from '../../bin/spawn.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';

const test = suite('integration - writes during a rebalance whose old actives are paused at the switch');

interface Progress { rev: number; isDone: boolean; moves: { isMoving: boolean; unitsMoved: number; unitsLeft: number } }

async function progress(manager: string): Promise<Progress> {
  return await (await fetch(`${manager}/api/rebalance`)).json() as Progress;
}

async function mapRev(manager: string): Promise<number> {
  const st = await (await fetch(`${manager}/api/status`)).json() as { map: { rev: number } };
  return st.map.rev;
}

const WRITERS = 12;
/** Writers w and w + WRITERS / 2 write the same keys: each key has two writers at once. */
const KEYS_PER_WRITER = 20;

/** One write of a key: when it was sent, when it was acknowledged (Infinity: unknown outcome). */
interface Write { start: number; end: number }
const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString());

/**
 * Writers keep writing `majority` while a node joins and units move to it. At a switch the
 * unit's old active is paused (SIGSTOP) until the manager has published a newer map, so it
 * wakes up on an older map with client requests queued in its sockets. Every key is then
 * read from its active and from a replica: no acknowledged write may be older than what
 * the copies hold, and the copies must agree.
 */
test('no acknowledged majority write is reverted or lost, and the copies agree, when old actives are paused across switches', () => withCluster({
  nodes: 3, hasDht: true, deadlineMs: 240_000,
  managerArgs: ['--redundancy', '2', '--failover-after-ms', '30000', '--moves-per-node', '8'],
}, async ({ manager, nodes, addNode }) => {
  const original = [...nodes];
  const db = await connect({ map: manager.address, timeoutMs: 4000 });
  const writers: Promise<void>[] = [];
  let isWriting = true;
  /** Every write sent, by key and value (values are unique: `writer.n`). */
  const writes = new Map<string, Map<string, Write>>();
  let ok = 0;
  let failed = 0;
  try {
    await poll(async () => {
      const map = db.map;
      if (map === null || map.nodes.filter((n) => n.state === 'active').length < 3) return null;
      if (!map.runChains.every((c) => map.chains[c]!.length >= 2)) return null;
      await db.set('probe', 'x', { durability: 'majority', timeoutMs: 1000 });
      return true;
    }, 60_000, 'a replicated cluster');
    for (let w = 0; w < WRITERS; w++) {
      writers.push((async () => {
        for (let n = 1; isWriting; n++) {
          const key = `rw:${w % (WRITERS / 2)}:${n % KEYS_PER_WRITER}`;
          const value = `${w}.${n}`;
          const write: Write = { start: performance.now(), end: Infinity };
          let byValue = writes.get(key);
          if (byValue === undefined) writes.set(key, byValue = new Map());
          byValue.set(value, write);
          try {
            await db.set(key, value, { durability: 'majority', timeoutMs: 4000 });
            write.end = performance.now();
            ok++;
          } catch {
            // Outcome unknown (a timeout, a node paused): the value may or may not be there.
            failed++;
          }
        }
      })());
    }
    await poll(async () => (ok >= WRITERS * KEYS_PER_WRITER ? true : null), 30_000, 'every key written once');
    const joined = await addNode();
    await poll(async () => {
      const p = await progress(manager.address);
      return p.moves.isMoving && p.moves.unitsMoved > 0 ? true : null;
    }, 60_000, 'units moving', 20);
    // Pause each of the original nodes in turn until two newer maps are out (a batch staged
    // and switched, or switched and the next staged), while units move; then the joining
    // node, the new active of every unit that moves to it (the old actives' records and the
    // switched map then wait in its sockets together).
    const pauses: string[] = [];
    for (const victim of [...original, joined] as Spawned[]) {
      const p = await progress(manager.address);
      if (p.isDone && !p.moves.isMoving) break;
      const rev = await mapRev(manager.address);
      process.kill(victim.pid, 'SIGSTOP');
      const stoppedAt = performance.now();
      try {
        await poll(async () => ((await mapRev(manager.address)) >= rev + 2 ? true : null), 4000, 'maps published while a node is paused', 20)
          .catch(() => undefined);
      } finally {
        process.kill(victim.pid, 'SIGCONT');
      }
      pauses.push(`${(performance.now() - stoppedAt).toFixed(0)} ms`);
      const before = ok;
      await poll(async () => (ok >= before + 200 ? true : null), 30_000, 'writes going on after the pause');
    }
    await poll(async () => {
      const p = await progress(manager.address);
      return p.isDone && !p.moves.isMoving && p.moves.unitsLeft === 0 ? p : null;
    }, 120_000, 'the rebalance finished');
    const after = ok;
    await poll(async () => (ok >= after + 200 ? true : null), 30_000, 'writes on the final map');
    isWriting = false;
    await Promise.all(writers);

    // A key's value is stale when the write that made it was acknowledged before another
    // acknowledged write of the key was sent: that later write was reverted (or lost).
    let lost = 0;
    let phantom = 0;
    const revertedKeys: string[] = [];
    const keys = [...writes.keys()];
    const values = new Map<string, string | null>();
    for (const key of keys) {
      const byValue = writes.get(key)!;
      const v = text(await db.get(key));
      values.set(key, v);
      const latestStart = Math.max(...[...byValue.values()].filter((x) => x.end !== Infinity).map((x) => x.start));
      if (v === null) {
        if (latestStart > -Infinity) lost++;
        continue;
      }
      const made = byValue.get(v);
      if (made === undefined) phantom++;
      else if (made.end < latestStart) revertedKeys.push(`${key}=${v}`);
    }
    // The replicas catch up with the actives (replication is asynchronous past `majority`).
    let divergent: string[] = [];
    await poll(async () => {
      divergent = [];
      for (const key of keys) {
        const r = await db.get(key, { replica: true }).then(text, () => 'error');
        if (r !== values.get(key)) divergent.push(`${key}: active ${values.get(key)} replica ${r}`);
      }
      return divergent.length === 0 ? true : null;
    }, 30_000, 'replicas as their actives', 250).catch(() => undefined);

    const stats = await db.stats();
    const sum = (name: string): number => Object.values(stats).reduce<number>((n, st) => n + Number((st as Record<string, unknown> | undefined)?.[name] ?? 0), 0);
    const most = (name: string): number => Math.max(...Object.values(stats).map((st) => Number((st as Record<string, unknown> | undefined)?.[name] ?? 0)));
    const waits = sum('repl_handover_waits');
    process.stdout.write(`    (${ok} majority writes acknowledged, ${failed} with an unknown outcome; pauses ${pauses.join(', ')}; `
      + `${keys.length} keys, two writers each: ${revertedKeys.length} reverted, ${lost} lost, ${phantom} never sent, ${divergent.length} copies disagreeing; `
      + `${waits} units held for a handover, ${(sum('repl_handover_held_ms') / Math.max(1, waits)).toFixed(0)} ms on average, at most ${most('repl_handover_held_ms_max').toFixed(0)} ms; `
      + `${sum('repl_handover_timeouts')} served when the wait ran out, ${sum('repl_late_refused')} late records refused)\n`);
    assert.equal(revertedKeys, [], 'no acknowledged write reverted');
    assert.is(lost, 0, 'no acknowledged key lost');
    assert.is(phantom, 0);
    assert.equal(divergent.slice(0, 5), [], 'the copies agree');
    assert.ok(waits > 0, 'units changed active and were handed over');
    assert.ok(most('repl_handover_held_ms_max') > 0, 'the time they were held is counted');
  } finally {
    isWriting = false;
    await Promise.allSettled(writers);
    db.destroy();
  }
}));

test.run();
