import * as assert from 'uvu/assert';
import { suite } from '../helpers/suite.js';
import { connect, type PandaClient } from '../../sdk/index.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';

const test = suite('integration - disk nodes giving units away');

const KEYS = 8000;

const text = (v: Uint8Array | null): string | null => (v === null ? null : Buffer.from(v).toString());

async function rebalanced(manager: string, db: PandaClient, nodes: number): Promise<void> {
  await poll(async () => {
    const p = await (await fetch(`${manager}/api/rebalance`)).json() as { isDone: boolean; moves: { isMoving: boolean } };
    const map = db.map;
    const placed = map?.nodes.filter((n, i) => n.state === 'active' && map.runChains.some((c) => map.chains[c]!.includes(i))).length;
    return p.isDone && !p.moves.isMoving && placed === nodes ? true : null;
  }, 90_000, `rebalance onto ${nodes} nodes`);
}

test('after an added node takes units, the old disk nodes drop them by reading only those units\' keys', () => withCluster({
  nodes: 2, hasDht: true, engine: 'disk', deadlineMs: 150_000, managerArgs: ['--redundancy', '1'],
}, async ({ manager, addNode }) => {
  const db = await connect({ map: manager.address, timeoutMs: 5000 });
  try {
    await rebalanced(manager.address, db, 2);
    for (let i = 0; i < KEYS; i += 200) {
      await Promise.all(Array.from({ length: 200 }, (_, j) => db.set(`r:${i + j}`, `v${i + j}`, { durability: 'persist' })));
    }
    const before = await db.stats();
    const held = new Map(Object.entries(before).map(([address, s]) => [address, Number(s.items)]));
    assert.is([...held.values()].reduce((a, b) => a + b, 0), KEYS);
    await addNode();
    await rebalanced(manager.address, db, 3);
    const after = await poll(async () => {
      const stats = await db.stats();
      const total = Object.values(stats).reduce((n, s) => n + Number(s.items), 0);
      return Object.keys(stats).length === 3 && total === KEYS ? stats : null;
    }, 30_000, 'every copy moved away dropped');
    for (const [address, items] of held) {
      const s = after[address]!;
      const purged = Number(s.purged_items);
      const read = Number(s.purge_keys_read);
      process.stdout.write(`    (${address}: held ${items}, purged ${purged}, purge read ${read} keys)\n`);
      assert.ok(purged > 0, `${address} gave units away`);
      assert.is(Number(s.items), items - purged);
      // A walk over every key would read all it held; the bucket index reads the units given away.
      assert.ok(read < items, `${address} read ${read} keys to purge ${purged} of ${items}`);
      assert.ok(read <= purged * 1.25 + 100, `${address} read ${read} keys to purge ${purged}`);
    }
    for (let i = 0; i < KEYS; i++) assert.is(text(await db.get(`r:${i}`)), `v${i}`, `r:${i}`);
  } finally {
    await db.close();
  }
}));

test.run();
