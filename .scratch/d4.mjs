import { open } from 'lmdb';
const root = open({ path: '/tmp/enginetest/big/db', encoding: 'binary', keyEncoding: 'binary' });
const items = root.openDB({ name: 'items', encoding: 'binary', keyEncoding: 'binary' });
const p = root.transaction(() => { console.log('cb runs'); items.put(Buffer.from('a'), Buffer.from('c')); console.log('cb done'); return 1; });
p.then((v) => console.log('resolved', v), (e) => console.log('rejected', e));
setTimeout(() => console.log('tick', items.getBinary(Buffer.from('a'))), 2000);
