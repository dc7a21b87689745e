import { spawnNode } from '../dist/cluster/spawn.js';
import { connect } from '../dist/sdk/index.js';
import { rmSync } from 'node:fs';
rmSync('/tmp/enginetest/p2', { recursive: true, force: true });
const node = await spawnNode(['--insecure', '--data-dir', '/tmp/enginetest/p2']);
const db = await connect({ nodes: [node.address] });
const v = Buffer.alloc(100, 1);
for (const d of ['none', 'persist']) {
  const before = (await db.stats())[node.address];
  let ops = 0; const until = performance.now() + 3000; const t0 = performance.now();
  await Promise.all(Array.from({ length: 64 }, async (_, w) => { let i = 0; while (performance.now() < until) { await db.set(`k${w}:${i++ % 300}`, v, { durability: d }); ops++; } }));
  const s = (await db.stats())[node.address];
  const commits = s.commits - before.commits;
  console.log(d, 'commitMs avg', ((s.commitMs - before.commitMs) / commits).toFixed(2), 'ops/s', Math.round(ops / ((performance.now() - t0) / 1000)), 'commits', commits, 'per commit', (ops / commits).toFixed(1));
}
await db.close(); await node.stop('SIGKILL');
