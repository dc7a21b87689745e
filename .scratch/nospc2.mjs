import { open } from 'lmdb';
import { writeFileSync, rmSync } from 'node:fs';
writeFileSync('/tmp/enginetest/small/filler', Buffer.alloc(2.5 * 1024 * 1024));
const root = open({ path: '/tmp/enginetest/small/db', encoding: 'binary', keyEncoding: 'binary', overlappingSync: false });
const items = root.openDB({ name: 'items', encoding: 'binary', keyEncoding: 'binary' });
const v = Buffer.alloc(1000, 1);
let i = 0;
async function commit(fn) {
  const p = root.transaction(fn);
  try { await p; return 'ok'; } catch (e) { e.commitError?.catch(() => {}); return 'fail:' + e.message; }
}
for (let round = 0; round < 10; round++) {
  const start = i;
  const r = await commit(() => { for (let k = 0; k < 300; k++) items.put(Buffer.from('k' + (i++)), v); });
  console.log(round, r, i);
  if (r !== 'ok') { i = start; break; }
}
console.log('read', items.getBinary(Buffer.from('k1'))?.length, [...items.getKeys()].length);
console.log('retry', await commit(() => { items.put(Buffer.from('x'), v); }));
rmSync('/tmp/enginetest/small/filler');
console.log('after space back', await commit(() => { for (let k = 0; k < 300; k++) items.put(Buffer.from('k' + (i++)), v); }));
console.log('count', [...items.getKeys()].length);
await root.close();
const r2 = open({ path: '/tmp/enginetest/small/db', encoding: 'binary', keyEncoding: 'binary' });
console.log('reopen count', [...r2.openDB({ name: 'items', encoding: 'binary', keyEncoding: 'binary' }).getKeys()].length);
