import { open } from 'lmdb';
globalThis.__lmdbDebug = (n, s) => { if (globalThis.__on) console.log('CREATE', n, s.split('\n').slice(2,6).join(' | ')); };
import { writeFileSync, rmSync } from 'node:fs';
process.on('unhandledRejection', (r, p) => console.log('UNHANDLED', r.message, p));
writeFileSync('/tmp/enginetest/small/filler', Buffer.alloc(2.5 * 1024 * 1024));
let root, items;
function openIt() {
  root = open({ path: '/tmp/enginetest/small/db', encoding: 'binary', keyEncoding: 'binary', overlappingSync: false, eventTurnBatching: false });
  items = root.openDB({ name: 'items', encoding: 'binary', keyEncoding: 'binary' });
}
openIt();
const v = Buffer.alloc(1000, 1);
let i = 0;
async function commit(fn) {
  const p = root.transaction(fn);
  try { await p; return 'ok'; } catch (e) { e.commitError?.catch(() => {}); return 'fail:' + e.message; }
}
for (let round = 0; round < 10; round++) {
  const start = i;
  const r = await commit(() => { for (let k = 0; k < 300; k++) { const q = items.put(Buffer.from('k' + (i++)), v); if (k===0) console.log('put returns', q); } });
  console.log(round, r, i);
  if (r !== 'ok') { i = start; break; }
}
globalThis.__on = true; console.log('read', items.getBinary(Buffer.from('k1'))?.length, [...items.getKeys()].length);
if (process.argv[2] === 'reopen') { await root.close(); openIt(); console.log('reopened', [...items.getKeys()].length); }
console.log('retry', await commit(() => { items.put(Buffer.from('x'), v); }));
rmSync('/tmp/enginetest/small/filler');
console.log('after space back', await commit(() => { for (let k = 0; k < 300; k++) items.put(Buffer.from('k' + (i++)), v); }));
console.log('count', [...items.getKeys()].length);
await root.close();
openIt();
console.log('reopen count', [...items.getKeys()].length);
