import * as assert from 'uvu/assert';
import { suite } from '../helpers/suite.js';
import { connect } from '../../sdk/index.js';
import { withCluster } from '../helpers/cluster.js';
import { replicatedCluster } from '../helpers/replicated.js';

const test = suite('integration - replicas on a disk engine commit on their schedule unless a write waits');

test('r = 2, disk: majority writes cost no inline commit on either copy; persistMajority writes make both commit at once', () => withCluster({
  nodes: 2, hasDht: true, engine: 'disk', deadlineMs: 120_000, managerArgs: ['--redundancy', '2'],
}, async ({ manager }) => {
  const db = await connect({ map: manager.address, timeoutMs: 5000 });
  try {
    await replicatedCluster(db, manager.address, 2);
    const inline = async (): Promise<number[]> => Object.values(await db.stats()).map((s) => Number(s.inline_commits));
    const before = await inline();
    // 64 writers: each node is the active of half the units and the replica of the others.
    let n = 0;
    const write = (durability: 'majority' | 'persistMajority', count: number): Promise<unknown> => Promise.all(Array.from({ length: 64 }, async () => {
      while (n < count) {
        const i = n++;
        await db.set(`k${i}`, `v${i}`, { durability });
      }
    }));
    await write('majority', 3000);
    const afterMajority = await inline();
    assert.equal(afterMajority, before, 'a replica reports what it has on disk with its scheduled commits: no fsync of its own');
    n = 0;
    await write('persistMajority', 600);
    const afterPersist = await inline();
    afterPersist.forEach((c, i) => assert.ok(c > afterMajority[i]!, `node ${i}: the persistMajority records made it commit at once (${afterMajority[i]} -> ${c})`));
    for (let i = 0; i < 600; i += 37) assert.is(Buffer.from((await db.getAnyReplica(`k${i}`))!).toString(), `v${i}`);
  } finally {
    await db.close();
  }
}));

test.run();
