/**
 * Writes `test/vectors/keystream.json`, the compatibility vectors of the keystream hash
 * (DESIGN §2, docs/keystream.md). Every value comes from the plain BigInt reference
 * XXH64 and is cross-checked against the fast implementation before anything is written.
 *
 * Run after a build: `node dist/bench/gen-keystream-vectors.js [output path]`.
 */

import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bucketOf, bucketOfBig, keystream } from '../shared/keystream.js';
import { referenceBucket, referenceXxh64 } from '../test/unit/shared/xxh64-reference.js';

/** Bucket widths every vector records. */
export const VECTOR_BUCKET_BITS: readonly number[] = [1, 10, 16, 24, 32];
/** Seeds (block indexes) every vector records. */
export const VECTOR_SEEDS: readonly number[] = [0, 1];
/** Key lengths of the byte-pattern vectors: 0..33 and 100. */
export const VECTOR_LENGTHS: readonly number[] = [...Array.from({ length: 34 }, (_, i) => i), 100];
/** String keys, hashed as their UTF-8 bytes. */
export const VECTOR_STRINGS: readonly string[] = ['', 'abc', 'user:42', 'ключ', 'キー', '😀 emoji'];

export interface KeystreamVector {
  keyHex: string;
  /** Present for string keys: the string whose UTF-8 bytes are `keyHex`. */
  utf8?: string;
  length: number;
  /** Seed → XXH64 digest, 16 lowercase hex digits. */
  xxh64: Record<string, string>;
  /** n → bucket(key, n). */
  buckets: Record<string, number>;
}

export interface KeystreamVectorFile {
  spec: string;
  vectors: KeystreamVector[];
}

const SPEC =
  'PandaKV keystream v1: key bytes = raw bytes (strings as UTF-8, no normalisation); ' +
  'block i = XXH64(key, seed=i) as 8 bytes big-endian; keystream = B0 || B1 || ...; ' +
  'bucket(key, n) = first n bits of the keystream as a big-endian unsigned integer. ' +
  'Byte-pattern keys have byte[i] = i mod 251.';

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function patternKey(length: number): Uint8Array {
  const key = new Uint8Array(length);
  for (let i = 0; i < length; i++) key[i] = i % 251;
  return key;
}

/** Throws unless the fast implementation agrees with the reference on `key`. */
function crossCheck(key: Uint8Array, text: string | undefined): void {
  const label = text === undefined ? `bytes(${key.length})` : JSON.stringify(text);
  const stream = keystream(key, 16);
  const expected = (referenceXxh64(key, 0) << 64n) | referenceXxh64(key, 1);
  if (BigInt(`0x${hex(stream)}`) !== expected) throw new Error(`keystream mismatch for ${label}`);
  for (const n of [...VECTOR_BUCKET_BITS, 0, 7, 63, 64, 65, 100, 128]) {
    const reference = referenceBucket(key, n);
    if (bucketOfBig(key, n) !== reference) throw new Error(`bucketOfBig(${label}, ${n}) mismatch`);
    if (n <= 32 && BigInt(bucketOf(key, n)) !== reference) throw new Error(`bucketOf(${label}, ${n}) mismatch`);
    if (text !== undefined && n <= 32 && BigInt(bucketOf(text, n)) !== reference) {
      throw new Error(`bucketOf(string ${label}, ${n}) mismatch`);
    }
  }
}

function vectorFor(key: Uint8Array, text?: string): KeystreamVector {
  crossCheck(key, text);
  const xxh64: Record<string, string> = {};
  for (const seed of VECTOR_SEEDS) xxh64[String(seed)] = referenceXxh64(key, seed).toString(16).padStart(16, '0');
  const buckets: Record<string, number> = {};
  for (const n of VECTOR_BUCKET_BITS) buckets[String(n)] = Number(referenceBucket(key, n));
  const keyHex = hex(key);
  return text === undefined
    ? { keyHex, length: key.length, xxh64, buckets }
    : { keyHex, utf8: text, length: key.length, xxh64, buckets };
}

/** Builds the vector file, cross-checking fast against reference for every key. */
export function buildKeystreamVectors(): KeystreamVectorFile {
  const encoder = new TextEncoder();
  const vectors = VECTOR_LENGTHS.map((length) => vectorFor(patternKey(length)));
  for (const text of VECTOR_STRINGS) vectors.push(vectorFor(encoder.encode(text), text));
  return { spec: SPEC, vectors };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] ?? fileURLToPath(new URL('../../test/vectors/keystream.json', import.meta.url));
  const file = buildKeystreamVectors();
  writeFileSync(out, `${JSON.stringify(file, null, 2)}\n`);
  process.stdout.write(`wrote ${file.vectors.length} vectors to ${out}\n`);
}
