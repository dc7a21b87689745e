import { open } from 'lmdb';
const root = open({ path: '/tmp/enginetest/small/db', encoding: 'binary', keyEncoding: 'binary', separateFlushed: true });
const items = root.openDB({ name: 'items', encoding: 'binary', keyEncoding: 'binary' });
const v = Buffer.alloc(1000, 1);
let i = 0;
for (let round = 0; round < 20; round++) {
  const start = i;
  try {
    const p = root.transaction(() => { for (let k = 0; k < 500; k++) items.put(Buffer.from('k' + (i++)), v); });
    await p; await p.flushed;
    console.log('ok', round, i);
  } catch (e) { e.commitError?.catch((c) => console.log('commitError', c.code, c.message)); console.log('fail', round, e.code, e.message); i = start; 
    console.log('read still', items.getBinary(Buffer.from('k1'))?.length);
    break; }
}
// free space: delete half
try {
const p = root.transaction(() => { for (let k = 0; k < i; k += 1) items.remove(Buffer.from('k' + k)); });
await p; await p.flushed; console.log('deleted');
} catch (e) { e.commitError?.catch(()=>{}); console.log('delete fail', e.code, e.message); }
try {
const p = root.transaction(() => { for (let k = 0; k < 100; k++) items.put(Buffer.from('z' + k), v); });
await p; await p.flushed; console.log('write after delete ok');
} catch (e) { e.commitError?.catch(()=>{}); console.log('write after fail', e.code, e.message); }
console.log('count', [...items.getKeys()].length);
const p3 = root.transaction(() => { for (let k = 0; k < 100; k++) items.put(Buffer.from('y' + k), v); }); await p3; console.log('again ok', [...items.getKeys()].length);
