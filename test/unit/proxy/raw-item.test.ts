import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { encodeFrame } from '../../../shared/protocol/codec.js';
import { rawItem, readItemFields } from '../../../proxy/raw-item.js';

const test = suite('proxy - raw item answer fields');

/** The encoded fields of an answer (what follows its id and status) and their count. */
function fields(...items: unknown[]): { bytes: Uint8Array; count: number } {
  const frame = encodeFrame([1, 0, ...items]);
  // [1, 0, …]: an array head of one byte, then id 1 and status 0 of one byte each.
  return { bytes: frame.subarray(3), count: items.length };
}

function read(f: { bytes: Uint8Array; count: number }): { value: string; flags: number } | null {
  if (!readItemFields(f.bytes, f.count)) return null;
  return { value: Buffer.from(f.bytes.subarray(rawItem.valueStart, rawItem.valueEnd)).toString('latin1'), flags: rawItem.flags };
}

test('a found item gives its value as a slice and its flags, whatever the widths of cas and flags', () => {
  assert.equal(read(fields(Buffer.from('hello'), 7, 3)), { value: 'hello', flags: 3 });
  assert.equal(read(fields(Buffer.alloc(300, 0x61), 2 ** 40, 0xffffffff)), { value: 'a'.repeat(300), flags: 0xffffffff });
  assert.equal(read(fields(Buffer.alloc(70_000, 0x62), 2 ** 53, 65_536)), { value: 'b'.repeat(70_000), flags: 65_536 });
  assert.equal(read(fields(Buffer.from('w'), 1.5, 1)), { value: 'w', flags: 1 }, 'a cas the encoder wrote as a float');
  assert.equal(read(fields(Buffer.from('w'), BigInt(2) ** BigInt(63), 1)), { value: 'w', flags: 1 }, 'a 64-bit cas');
  assert.equal(read(fields(Buffer.alloc(0), 0, 0)), { value: '', flags: 0 });
});

test('fields after flags are not looked at, and missing trailing fields read as the codec reads them', () => {
  assert.equal(read(fields(Buffer.from('v'), 1, 2, { note: 'x' })), { value: 'v', flags: 2 });
  assert.equal(read(fields(Buffer.from('v'), 1)), { value: 'v', flags: 0 });
  assert.equal(read(fields(Buffer.from('v'))), { value: 'v', flags: 0 });
});

test('anything but the plain shape is refused, to be decoded in full', () => {
  assert.is(read(fields()), null, 'no fields');
  assert.is(read(fields(null, 1, 0)), null, 'null value');
  assert.is(read(fields('text', 1, 0)), null, 'text value');
  assert.is(read(fields(Buffer.from('v'), 'cas', 0)), null, 'text cas');
  assert.is(read(fields(Buffer.from('v'), -1, 0)), null, 'negative cas');
  assert.is(read(fields(Buffer.from('v'), null, 0)), null, 'null cas');
  assert.is(read(fields(Buffer.from('v'), 1, -2)), null, 'negative flags');
  assert.is(read(fields(Buffer.from('v'), 1, 2 ** 32)), null, 'flags wider than 32 bits');
  assert.is(read(fields(Buffer.from('v'), 1, 1.5)), null, 'float flags');
});

test('truncated, indefinite and lying input is refused without reading past the end', () => {
  const whole = fields(Buffer.from('value'), 9, 4).bytes;
  for (let n = 0; n < whole.length; n++) {
    assert.is(readItemFields(whole.subarray(0, n), 3), false, `cut at ${n}`);
  }
  assert.is(readItemFields(Uint8Array.of(0x5f, 0x41, 0x61, 0xff, 0x00, 0x00), 3), false, 'indefinite byte string');
  assert.is(readItemFields(Uint8Array.of(0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00), 1), false, 'length past 2^53');
  assert.is(readItemFields(Uint8Array.of(0x5a, 0x7f, 0xff, 0xff, 0xff, 0x61), 1), false, 'length past the end');
  assert.is(readItemFields(Uint8Array.of(0x41, 0x61, 0x1c), 2), false, 'reserved additional info');
  assert.is(readItemFields(Uint8Array.of(0x41, 0x61, 0x00, 0x1f), 3), false, 'indefinite flags');
});

test('hostile bytes of every kind never throw', () => {
  let seed = 12345;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 256;
  for (let i = 0; i < 2000; i++) {
    const b = Uint8Array.from({ length: i % 40 }, rnd);
    const ok = readItemFields(b, 1 + (i % 4));
    if (ok) assert.ok(rawItem.valueStart <= rawItem.valueEnd && rawItem.valueEnd <= b.length, 'value within the input');
  }
});

test.run();
