import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { connect } from '../../sdk/index.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';

// Without a peer plane nothing is copied: a node failed over loses its units to the other
// nodes, which start them empty, and writes go on there. When the paused node comes back,
// what it still holds is older than what was acknowledged meanwhile: it must never be
// served again (docs/replication.md).

const test = suite('integration - a node failed over without replication comes back empty');

const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString());

test('a paused node failed over, its units placed elsewhere and written there, serves none of its old values when it returns', () => withCluster({
  nodes: 3, deadlineMs: 90_000, managerArgs: ['--failover-after-ms', '1000'],
}, async ({ manager, nodes }) => {
  const db = await connect({ map: manager.address, timeoutMs: 3000 });
  const victim = nodes[1]!;
  let isPaused = false;
  try {
    await poll(async () => (db.map !== null && db.map.nodes.filter((n) => n.state === 'active').length === 3 ? true : null), 20_000, 'three active nodes');
    const keys = Array.from({ length: 600 }, (_, i) => `r:${i}`);
    for (const k of keys) await db.set(k, 'old');
    const map = db.map!;
    const victimIndex = map.nodes.findIndex((n) => n.address === victim.address);
    const victimId = map.nodes[victimIndex]!.id;
    assert.ok(map.runChains.some((c) => map.chains[c]![0] === victimIndex), 'the victim holds units before the pause');

    process.kill(victim.pid, 'SIGSTOP');
    isPaused = true;
    // Failed over, and every unit it held placed on the two others.
    await poll(async () => {
      const m = db.map!;
      const v = m.nodes.findIndex((n) => n.id === victimId);
      return m.nodes[v]?.state === 'failed' && m.runChains.every((c) => m.chains[c]![0] !== v) ? true : null;
    }, 30_000, 'failed over and placed elsewhere');
    // Acknowledged on the new owners while the victim is away.
    for (const k of keys) await poll(async () => db.set(k, 'new').then(() => true, () => null), 10_000, `write ${k}`);

    process.kill(victim.pid, 'SIGCONT');
    isPaused = false;
    await poll(async () => {
      const m = db.map!;
      const v = m.nodes.findIndex((n) => n.id === victimId);
      return m.nodes[v]?.state === 'active' && m.runChains.some((c) => m.chains[c]![0] === v) ? true : null;
    }, 30_000, 'back with units');

    // Units handed back to it start empty (nothing can copy them): a key reads its new value
    // or nothing, never the value from before the failover.
    const stale: string[] = [];
    for (const k of keys) {
      const v = text(await poll(async () => db.get(k).then((x) => ({ x }), () => null), 10_000, `read ${k}`).then((r) => r.x));
      if (v === 'old') stale.push(k);
    }
    assert.equal(stale, [], 'old values served again');
    // And it works as a node again: writes to its units stick.
    for (const k of keys) await db.set(k, 'after');
    for (const k of keys) assert.is(text(await db.get(k)), 'after', k);
    assert.ok(victim.stderr.some((l) => /event=drop-stale /.test(l)), victim.stderr.join(' | '));
    // The manager said, each time, that units changed owner with nothing to copy them.
    assert.ok(manager.stderr.filter((l) => /event=switch-without-copy .*units=\d+/.test(l)).length >= 2, manager.stderr.join('\n'));
  } finally {
    if (isPaused) process.kill(victim.pid, 'SIGCONT');
    await db.close();
  }
}));

test.run();
