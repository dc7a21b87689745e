import { DiskEngine } from '../dist/cluster/node/engine/disk-engine.js';
import { MemoryEngine } from '../dist/cluster/node/engine/memory-engine.js';
import { rmSync } from 'node:fs';
rmSync('/tmp/enginetest/g', { recursive: true, force: true });
const d = new DiskEngine({ path: '/tmp/enginetest/g', nodeId: 'x', memorySizeMb: 512 });
const m = new MemoryEngine({ memorySizeMb: 512 });
const v = Buffer.alloc(100, 1);
for (let i = 0; i < 20000; i++) { d.set(`k:${i}`, v, 0, 0); m.set(`k:${i}`, v, 0, 0); }
await d.whenDurable();
for (const [name, e] of [['memory', m], ['disk', d], ['memory', m], ['disk', d]]) {
  const t0 = performance.now(); let seed = 1;
  for (let i = 0; i < 1_000_000; i++) { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; e.get(`k:${seed % 20000}`); }
  console.log(name, Math.round(1_000_000 / ((performance.now() - t0) / 1000)), 'gets/s');
}
await d.close();
