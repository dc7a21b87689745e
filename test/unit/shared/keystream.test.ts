import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { ErrorCode, KvError } from '../../../shared/errors.js';
import { MAX_BUCKET_BITS, bucketOf, bucketOfBig, bucketOfBinary, keystream } from '../../../shared/keystream.js';
import { xxh64, xxh64Binary } from '../../../shared/xxh64.js';
import { referenceBucket, referenceXxh64 } from './xxh64-reference.js';

const test = suite('shared - keystream');

interface Vector {
  keyHex: string;
  utf8?: string;
  length: number;
  xxh64: Record<string, string>;
  buckets: Record<string, number>;
}

const utf8 = new TextEncoder();

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

function streamBits(bytes: Uint8Array, n: number): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v >> BigInt(bytes.length * 8 - n);
}

function hex64(v: bigint): string {
  return v.toString(16).padStart(16, '0');
}

function throwsInvalidArgument(fn: () => unknown, label: string): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, KvError, label);
    assert.is((err as KvError).code, ErrorCode.INVALID_ARGUMENT, label);
    return;
  }
  assert.unreachable(`${label} should have thrown`);
}

test('the design vectors hold for the fast hash, the reference hash and the bucket rule', () => {
  const cases: Array<[string, string, string]> = [
    ['', 'ef46db3751d8e999', 'd5afba1336a3be4b'],
    ['abc', '44bc2cf5ad770999', 'bea9ca8199328908'],
    ['user:42', 'dc1fea7da8d2d1c2', '2396108e3b1a682b'],
  ];
  for (const [key, seed0, seed1] of cases) {
    const bytes = utf8.encode(key);
    assert.is(hex64(xxh64(bytes, 0)), seed0, `fast XXH64(${JSON.stringify(key)}, 0)`);
    assert.is(hex64(xxh64(bytes, 1)), seed1, `fast XXH64(${JSON.stringify(key)}, 1)`);
    assert.is(hex64(referenceXxh64(bytes, 0)), seed0, `reference XXH64(${JSON.stringify(key)}, 0)`);
    assert.is(hex64(referenceXxh64(bytes, 1)), seed1, `reference XXH64(${JSON.stringify(key)}, 1)`);
    assert.is(hex64(xxh64Binary(key, 1)), seed1, `binary XXH64(${JSON.stringify(key)}, 1)`);
  }
  assert.is(bucketOf('user:42', 10), 880);
  assert.is(bucketOf('user:42', 16), 56351);
  assert.is(MAX_BUCKET_BITS, 32);
});

test('every entry of the shipped vectors file matches hashes, keystream and buckets', () => {
  const file = JSON.parse(readFileSync(join(process.cwd(), 'test/vectors/keystream.json'), 'utf8')) as { vectors: Vector[] };
  const lengths = new Set(file.vectors.map((v) => v.length));
  for (let len = 0; len <= 33; len++) assert.ok(lengths.has(len), `covers length ${len}`);
  assert.ok(lengths.has(100), 'covers length 100');
  for (const v of file.vectors) {
    const bytes = Uint8Array.from(Buffer.from(v.keyHex, 'hex'));
    const label = v.utf8 === undefined ? `bytes(${v.length})` : JSON.stringify(v.utf8);
    assert.is(bytes.length, v.length, label);
    assert.is(hex64(xxh64(bytes, 0)), v.xxh64['0'], `${label} seed 0`);
    assert.is(hex64(xxh64(bytes, 1)), v.xxh64['1'], `${label} seed 1`);
    assert.is(Buffer.from(keystream(bytes, 16)).toString('hex'), v.xxh64['0'] + v.xxh64['1'], `${label} keystream`);
    for (const [n, bucket] of Object.entries(v.buckets)) {
      assert.is(bucketOf(bytes, Number(n)), bucket, `${label} bucket ${n}`);
      assert.is(bucketOfBinary(latin1(bytes), Number(n)), bucket, `${label} binary bucket ${n}`);
      if (v.utf8 !== undefined) assert.is(bucketOf(v.utf8, Number(n)), bucket, `${label} string bucket ${n}`);
    }
  }
});

test('the fast hash equals the reference hash on random keys of 0 to 300 bytes and random seeds', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (key, seed) => {
      const expected = referenceXxh64(key, seed);
      assert.is(xxh64(key, seed), expected);
      assert.is(xxh64(key, 0), referenceXxh64(key, 0));
      assert.is(xxh64Binary(latin1(key), seed), expected);
    }),
    { numRuns: 400 },
  );
});

test('keys longer than the reused buffers hash correctly, before and after short keys', () => {
  const big = new Uint8Array(20_000).map((_, i) => (i * 31 + 7) & 0xff);
  assert.is(xxh64(big, 5), referenceXxh64(big, 5));
  assert.is(xxh64(big.subarray(0, 5), 0), referenceXxh64(big.subarray(0, 5), 0), 'a short key after a long one');
  for (const text of ['ж'.repeat(6_000), 'ж'.repeat(17_000) + 'a', 'a'.repeat(17_001)]) {
    const expected = referenceBucket(utf8.encode(text), 32);
    assert.is(BigInt(bucketOf(text, 32)), expected, `string of ${text.length} units`);
    assert.is(bucketOf('user:42', 16), 56351, `a short key after ${text.length} units`);
  }
});

test('raising n by one splits every bucket in two: bucket(k, n+1) >>> 1 equals bucket(k, n)', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), fc.uint8Array({ maxLength: 80 })), fc.integer({ min: 0, max: 31 }), (key, n) => {
      assert.is(bucketOf(key, n + 1) >>> 1, bucketOf(key, n));
      const big = bucketOfBig(key, n + 70);
      assert.is(big >> 1n, bucketOfBig(key, n + 69));
    }),
    { numRuns: 500 },
  );
});

test('a string key hashes exactly like its UTF-8 bytes, non-ASCII and lone surrogates included', () => {
  const fixed = ['ключ', 'キー', '😀 emoji', 'é', '\u07ff\u0800\uffff', '\ud800', 'a\udc00b', '\ud83d',
    '\ud83d\ude00\ud83d', '\udc00\udc00', '\ud800\ud800\udc00', '\udbff\udfff', '\udfff\ud800'];
  const anyUnit = fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c));
  const strings = fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), fc.string({ unit: anyUnit, maxLength: 60 }), fc.string({ maxLength: 60 }));
  const check = (text: string): void => {
    const bytes = utf8.encode(text);
    for (const n of [0, 1, 13, 32]) assert.is(bucketOf(text, n), bucketOf(bytes, n), `${JSON.stringify(text)} n=${n}`);
    assert.is(bucketOfBig(text, 128), referenceBucket(bytes, 128), JSON.stringify(text));
    assert.equal(keystream(text, 12), keystream(bytes, 12), JSON.stringify(text));
  };
  for (const text of fixed) check(text);
  fc.assert(fc.property(strings, check), { numRuns: 500 });
});

test('bucketOfBinary over a latin1 string equals bucketOf over the same bytes, and rejects wider chars', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), fc.integer({ min: 0, max: 32 }), (bytes, n) => {
      assert.is(bucketOfBinary(latin1(bytes), n), bucketOf(bytes, n));
    }),
    { numRuns: 300 },
  );
  assert.is(bucketOfBinary('user:42', 16), bucketOf('user:42', 16), 'ASCII keys agree with bucketOf');
  assert.is.not(bucketOfBinary('\u00e9', 32), bucketOf('\u00e9', 32), 'a latin1 char is one byte, not its UTF-8 form');
  throwsInvalidArgument(() => bucketOfBinary('key\u0100', 8), 'char code 0x100');
  throwsInvalidArgument(() => xxh64Binary('\u4e00'), 'xxh64Binary with char code 0x4e00');
});

test('bucketOfBig agrees with bucketOf up to 32 bits and reads the keystream beyond 64 bits', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 30 }), fc.uint8Array({ maxLength: 70 })), fc.integer({ min: 0, max: 1024 }), (key, n) => {
      if (n <= 32) assert.is(bucketOfBig(key, n), BigInt(bucketOf(key, n)));
      const stream = keystream(key, Math.ceil(n / 8));
      assert.is(bucketOfBig(key, n), n === 0 ? 0n : streamBits(stream, n));
    }),
    { numRuns: 300 },
  );
  const bytes = utf8.encode('user:42');
  assert.is(bucketOfBig('user:42', 64), referenceXxh64(bytes, 0));
  assert.is(bucketOfBig('user:42', 128), (referenceXxh64(bytes, 0) << 64n) | referenceXxh64(bytes, 1));
  assert.is(bucketOfBig('user:42', 100), referenceBucket(bytes, 100));
  assert.is(keystream('user:42', 0).length, 0);
  assert.is(Buffer.from(keystream('user:42', 3)).toString('hex'), 'dc1fea');
});

test('an invalid bucket width, byte count, key or seed throws KV_ERR_INVALID_ARGUMENT', () => {
  for (const n of [-1, 33, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 32]) {
    throwsInvalidArgument(() => bucketOf('k', n), `bucketOf n=${n}`);
    throwsInvalidArgument(() => bucketOf(new Uint8Array(1), n), `bucketOf bytes n=${n}`);
    throwsInvalidArgument(() => bucketOfBinary('k', n), `bucketOfBinary n=${n}`);
  }
  for (const n of [-1, 0.5, Number.NaN, 65_537]) throwsInvalidArgument(() => bucketOfBig('k', n), `bucketOfBig n=${n}`);
  for (const count of [-1, 2.5, Number.NaN, 8_193]) throwsInvalidArgument(() => keystream('k', count), `keystream ${count}`);
  throwsInvalidArgument(() => bucketOf(42 as unknown as string, 8), 'a key that is neither string nor bytes');
  throwsInvalidArgument(() => xxh64(new Uint8Array(1), 1.5), 'a fractional seed');
  assert.is(bucketOf('anything', 0), 0, 'n = 0 is the single bucket 0');
  assert.is(bucketOfBig('anything', 0), 0n);
});

test.run();
