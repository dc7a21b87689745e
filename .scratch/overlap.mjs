import { open } from 'lmdb';
import { rmSync } from 'node:fs';
const v = Buffer.alloc(116, 1);
for (const overlapping of [false, true]) {
  rmSync('/tmp/enginetest/ov', { recursive: true, force: true });
  const root = open({ path: '/tmp/enginetest/ov', encoding: 'binary', keyEncoding: 'binary', overlappingSync: overlapping, separateFlushed: overlapping, eventTurnBatching: false });
  const items = root.openDB({ name: 'items', encoding: 'binary', keyEncoding: 'binary' });
  const t0 = performance.now(); let n = 0; const flushes = [];
  while (performance.now() - t0 < 3000) {
    const p = root.transaction(() => { for (let k = 0; k < 64; k++) items.putSync(Buffer.from('k' + (n++ % 20000)), v); });
    await p;
    if (overlapping) { flushes.push(p.flushed); if (flushes.length > 1) await flushes.shift(); }
  }
  await Promise.all(flushes);
  console.log('overlapping', overlapping, 'puts/s', Math.round(n / ((performance.now() - t0) / 1000)));
  await root.close();
}
