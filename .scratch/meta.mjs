import { open } from 'lmdb';
import { readFileSync, rmSync } from 'node:fs';
rmSync('/tmp/enginetest/meta', { recursive: true, force: true });
const r = open({ path: '/tmp/enginetest/meta', encoding: 'binary', keyEncoding: 'binary', overlappingSync: false, eventTurnBatching: false });
const d = r.openDB({ name: 'items', encoding: 'binary', keyEncoding: 'binary' });
for (let i = 0; i < 5; i++) await r.transaction(() => { for (let k = 0; k < 300; k++) d.putSync(Buffer.from('k' + i + ':' + k), Buffer.alloc(300)); });
const s = r.getStats(); console.log('last', s.lastPageNumber, 'txn', s.lastTxnId, 'ps', s.pageSize);
await r.close();
const b = readFileSync('/tmp/enginetest/meta/data.mdb');
for (const base of [0, 4096]) {
  const out = [];
  for (let o = 0; o < 200; o += 4) out.push(o + ':' + b.readUInt32LE(base + o).toString(16));
  console.log(base, out.join(' '));
}
