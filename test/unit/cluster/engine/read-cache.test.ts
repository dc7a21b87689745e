import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { ReadCache } from '../../../../cluster/node/engine/read-cache.js';
import { makeEntry } from '../../../../cluster/node/engine/disk-record.js';

const test = suite('cluster - disk engine read cache');

/** An entry whose charge is key (2) + value (2) + 96 = 100 bytes. */
const entry = (v: string): ReturnType<typeof makeEntry> => makeEntry(Buffer.from(v), 0, 0, 1);

test('stays within its byte budget; replacing an entry recharges it', () => {
  const cache = new ReadCache(1000);
  for (let i = 0; i < 50; i++) cache.set(`k${i % 10}`.padEnd(2, '_').slice(0, 2), entry(`${i % 100}`.padStart(2, '0')));
  assert.ok(cache.bytes <= 1000, `bytes ${cache.bytes}`);
  const big = new ReadCache(1000);
  for (let i = 0; i < 100; i++) big.set(`${i}`.padStart(2, '0'), entry('vv'));
  assert.is(big.count, 10);
  assert.is(big.bytes, 1000);
  big.set('99', makeEntry(Buffer.alloc(2000), 0, 0, 2));
  assert.is(big.get('99'), undefined, 'an entry larger than the whole budget is not kept');
  assert.ok(big.bytes <= 1000);
});

test('CLOCK: an entry read since the hand passed survives the next eviction; unread ones go first', () => {
  const cache = new ReadCache(1000);
  for (let i = 0; i < 10; i++) cache.set(`${i}`.padStart(2, '0'), entry('vv'));
  // 00 is the oldest; read it, then make room for two more.
  assert.ok(cache.get('00') !== undefined);
  cache.set('10', entry('vv'));
  cache.set('11', entry('vv'));
  assert.ok(cache.get('00') !== undefined, 'the referenced entry got a second chance');
  assert.is(cache.get('01'), undefined, 'the oldest unreferenced entry was evicted');
  assert.is(cache.get('02'), undefined);
  assert.is(cache.count, 10);
  assert.is(cache.hits, 2);
  assert.is(cache.misses, 2);
});

test('delete and clear release their bytes', () => {
  const cache = new ReadCache(1000);
  cache.set('aa', entry('vv'));
  cache.set('bb', entry('vv'));
  cache.delete('aa');
  cache.delete('zz');
  assert.is(cache.bytes, 100);
  assert.is(cache.get('aa'), undefined);
  cache.clear();
  assert.is(cache.bytes, 0);
  assert.is(cache.count, 0);
});

test.run();
