import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from '../helpers/suite.js';
import { connect } from '../../sdk/index.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';

const test = suite('integration - a returning node\'s recovery window (--recovery-window-ms)');

// A disk node back from SIGKILL keeps the data of units it is not given back for its
// recovery window (60 s by default): a rejoin may still hand them back. Units it gives
// away meanwhile are purged only when the window ends; a shorter window frees them sooner.
test('a disk node restarted with --recovery-window-ms 1500 purges the units it gave away once the window ends', () => withCluster({
  nodes: 1, hasDht: true, engine: 'disk', deadlineMs: 120_000,
}, async ({ manager, nodes, dir, addNode }) => {
  const db = await connect({ map: manager.address, timeoutMs: 5000 });
  try {
    const keys = Array.from({ length: 3000 }, (_, i) => `w:${i}`);
    for (let i = 0; i < keys.length; i += 64) await Promise.all(keys.slice(i, i + 64).map((k) => db.set(k, `v:${k}`, { durability: 'persist' })));
    await nodes[0]!.stop('SIGKILL');
    const back = await addNode(['--data-dir', join(dir, 'node-0'), '--engine', 'disk', '--recovery-window-ms', '1500']);
    await poll(async () => (db.map?.nodes.some((n) => n.address === back.address && n.state === 'active') === true ? true : null), 30_000, 'back');
    const itemsOf = async (address: string): Promise<number | null> => {
      const s = await db.stats().catch(() => null);
      const m = s?.[address];
      return m === undefined ? null : Number(m.items);
    };
    assert.is(await poll(() => itemsOf(back.address), 10_000, 'stats'), keys.length);
    // A second node takes half the units.
    const joined = await addNode();
    await poll(async () => {
      const map = db.map;
      if (map === null || !map.nodes.some((n) => n.address === joined.address && n.state === 'active')) return null;
      const res = await fetch(`${manager.address}/api/rebalance`);
      const p = await res.json() as { isDone: boolean; moves: { isMoving: boolean } };
      return p.isDone && !p.moves.isMoving ? true : null;
    }, 60_000, 'the rebalance is done');
    // What the returning node gave away is gone from it, within the window plus a purge pass.
    const left = await poll(async () => {
      const [a, b] = [await itemsOf(back.address), await itemsOf(joined.address)];
      return a !== null && b !== null && b > 0 && a + b === keys.length ? [a, b] : null;
    }, 20_000, 'the units given away are purged');
    process.stdout.write(`    (${keys.length} items; after the move the returning node holds ${left[0]}, the new one ${left[1]})\n`);
    assert.ok(left[0]! < keys.length, 'the returning node purged what it gave away');
    for (const k of keys) assert.is(Buffer.from((await db.get(k))!).toString(), `v:${k}`, k);
  } finally {
    await db.close();
  }
}));

test.run();
