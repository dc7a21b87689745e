import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { itemChunks, itemReplyBytes, writeItemReply } from '../../../../proxy/memcached/item-reply.js';

const test = suite('proxy memcached - a one-key get hit rendered in place');

const CASES: Array<[key: string, valueBytes: number, flags: number]> = [
  ['k', 0, 0], ['k', 1, 9], ['key:0001', 10, 10], ['x'.repeat(250), 99, 4294967295], ['a', 100, 1_000_000], ['b', 65_536, 7], ['c', 1_000_000, 0],
];

test('the answer is byte for byte memcached\'s, written in place or as chunks', () => {
  for (const [k, n, flags] of CASES) {
    const key = Buffer.from(k, 'latin1');
    const value = Buffer.alloc(n, 0x76);
    const expected = Buffer.concat([Buffer.from(`VALUE ${k} ${flags} ${n}\r\n`, 'latin1'), value, Buffer.from('\r\nEND\r\n', 'latin1')]);
    assert.is(itemReplyBytes(key, value, flags), expected.length, `size for ${k.slice(0, 8)} ${n} ${flags}`);
    const out = Buffer.alloc(expected.length + 6, 0xee);
    assert.is(writeItemReply(out, 3, key, value, flags), 3 + expected.length);
    assert.ok(out.subarray(3, 3 + expected.length).equals(expected), `in place for ${k.slice(0, 8)} ${n} ${flags}`);
    assert.ok(out.subarray(0, 3).every((b) => b === 0xee) && out.subarray(3 + expected.length).every((b) => b === 0xee), 'nothing written outside');
    const chunks = itemChunks(key, value, flags);
    assert.ok(Buffer.concat(chunks).equals(expected), `chunks for ${k.slice(0, 8)} ${n} ${flags}`);
    if (n > 0) assert.is(chunks[1], value, 'the value is not copied');
  }
});

test.run();
