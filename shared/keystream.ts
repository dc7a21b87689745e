/**
 * The keystream hash (DESIGN §2): block i = XXH64(key bytes, seed i), big-endian; the
 * keystream is B0 ‖ B1 ‖ …; `bucket(key, n)` is its first n bits. Byte-exact: every
 * client in every language must agree with `test/vectors/keystream.json`.
 */

import { KvError } from './errors.js';
import { xxh64BinaryInto, xxh64BytesInto, xxh64Out } from './xxh64.js';

/** Largest n accepted by {@link bucketOf}: the bucket is read from B0's high word. */
export const MAX_BUCKET_BITS = 32;

/** Largest n accepted by {@link bucketOfBig} (1024 blocks); bounds the work per call. */
const MAX_BIG_BITS = 65536;

/** Keys longer than this many UTF-16 units are encoded into a fresh buffer, not the scratch. */
const MAX_SCRATCH_CHARS = 16384;

/** Reusable UTF-8 output for non-ASCII string keys; grows up to 3 × MAX_SCRATCH_CHARS. */
let utf8Scratch = new Uint8Array(768);

/**
 * Encodes `s` as UTF-8 into `out` (which must hold 3 bytes per UTF-16 unit) and returns
 * the byte count. Lone surrogates become U+FFFD, as `TextEncoder` does.
 */
function encodeUtf8Into(s: string, out: Uint8Array): number {
  let n = 0;
  const len = s.length;
  for (let i = 0; i < len; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      out[n++] = c;
    } else if (c < 0x800) {
      out[n++] = 0xc0 | (c >>> 6);
      out[n++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < len ? s.charCodeAt(i + 1) : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          i++;
          out[n++] = 0xf0 | (c >>> 18);
          out[n++] = 0x80 | ((c >>> 12) & 0x3f);
          out[n++] = 0x80 | ((c >>> 6) & 0x3f);
          out[n++] = 0x80 | (c & 0x3f);
          continue;
        }
        c = 0xfffd;
      }
      out[n++] = 0xe0 | (c >>> 12);
      out[n++] = 0x80 | ((c >>> 6) & 0x3f);
      out[n++] = 0x80 | (c & 0x3f);
    }
  }
  return n;
}

/** Hashes a non-ASCII string key as its UTF-8 bytes with the given seed. */
function hashUtf8(key: string, seed: number): void {
  const need = key.length * 3;
  let out = utf8Scratch;
  if (need > out.length) {
    out = new Uint8Array(need);
    if (key.length <= MAX_SCRATCH_CHARS) utf8Scratch = out;
  }
  xxh64BytesInto(out, encodeUtf8Into(key, out), 0, seed);
}

/** Block `seed` of a string or byte key into xxh64Out. */
function hashKey(key: string | Uint8Array, seed: number): void {
  if (typeof key === 'string') {
    // Optimistic: an ASCII string's char codes are its UTF-8 bytes.
    if (xxh64BinaryInto(key, 0, seed) >= 0x80) hashUtf8(key, seed);
  } else if (key instanceof Uint8Array) {
    xxh64BytesInto(key, key.length, 0, seed);
  } else {
    throw KvError.invalidArgument('key must be a string or a Uint8Array');
  }
}

function invalidBits(n: number, max: number): KvError {
  return KvError.invalidArgument(`bucket bits must be an integer in 0..${max}, got ${String(n)}`);
}

/**
 * The bucket of `key` in a cluster of 2^n buckets: the top n bits of XXH64(key, 0), as an
 * unsigned number. A string key is hashed as its UTF-8 bytes. `n` is an integer in
 * 0..{@link MAX_BUCKET_BITS}; anything else throws `KV_ERR_INVALID_ARGUMENT`.
 * Once the reused buffers have grown, no allocation for keys of up to 16 KiB (UTF-8).
 */
export function bucketOf(key: string | Uint8Array, n: number): number {
  // `>>> 0` rejects negatives, fractions, NaN and infinities in one comparison.
  if (n >>> 0 !== n || n > MAX_BUCKET_BITS) throw invalidBits(n, MAX_BUCKET_BITS);
  hashKey(key, 0);
  return n === 0 ? 0 : xxh64Out[0] >>> (32 - n);
}

/**
 * {@link bucketOf} for a binary (latin1) string whose char codes are the key bytes, the
 * way the data node keeps keys. For ASCII keys it equals `bucketOf`. A char code above
 * 0xff throws `KV_ERR_INVALID_ARGUMENT`.
 */
export function bucketOfBinary(key: string, n: number): number {
  if (n >>> 0 !== n || n > MAX_BUCKET_BITS) throw invalidBits(n, MAX_BUCKET_BITS);
  if (xxh64BinaryInto(key, 0, 0) > 0xff) {
    throw KvError.invalidArgument('binary key has a char code above 0xff');
  }
  return n === 0 ? 0 : xxh64Out[0] >>> (32 - n);
}

/**
 * The first n bits of the keystream of `key` as a BigInt, for any integer n in 0..65536.
 * For n ≤ 32 it equals `BigInt(bucketOf(key, n))`. Allocates; not for the hot path.
 */
export function bucketOfBig(key: string | Uint8Array, n: number): bigint {
  if (!Number.isInteger(n) || n < 0 || n > MAX_BIG_BITS) throw invalidBits(n, MAX_BIG_BITS);
  if (n === 0) return 0n;
  const blocks = Math.ceil(n / 64);
  let stream = 0n;
  for (let i = 0; i < blocks; i++) {
    hashKey(key, i);
    stream = (stream << 64n) | (BigInt(xxh64Out[0]) << 32n) | BigInt(xxh64Out[1]);
  }
  return stream >> BigInt(blocks * 64 - n);
}

/**
 * The first `byteCount` bytes of the keystream of `key`: XXH64(key, 0), XXH64(key, 1), …
 * each written as 8 bytes, most significant first. `byteCount` is an integer in 0..8192.
 */
export function keystream(key: string | Uint8Array, byteCount: number): Uint8Array {
  if (!Number.isInteger(byteCount) || byteCount < 0 || byteCount > MAX_BIG_BITS / 8) {
    throw KvError.invalidArgument(`keystream byte count must be an integer in 0..${MAX_BIG_BITS / 8}, got ${String(byteCount)}`);
  }
  const out = new Uint8Array(byteCount);
  for (let i = 0; i * 8 < byteCount; i++) {
    hashKey(key, i);
    const hi = xxh64Out[0];
    const lo = xxh64Out[1];
    const at = i * 8;
    const end = Math.min(8, byteCount - at);
    for (let j = 0; j < end; j++) {
      out[at + j] = j < 4 ? hi >>> (24 - 8 * j) : lo >>> (56 - 8 * j);
    }
  }
  return out;
}
