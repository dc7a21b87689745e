/**
 * A deliberately plain XXH64, written from the algorithm description with BigInt
 * arithmetic mod 2^64. It is slow and only exists so the fast implementation in
 * `shared/xxh64.ts` can be checked against something that shares none of its tricks.
 * Not a test file: the keystream tests and the vector generator import it.
 */

const MASK = (1n << 64n) - 1n;

const PRIME1 = 0x9e3779b185ebca87n;
const PRIME2 = 0xc2b2ae3d27d4eb4fn;
const PRIME3 = 0x165667b19e3779f9n;
const PRIME4 = 0x85ebca77c2b2ae63n;
const PRIME5 = 0x27d4eb2f165667c5n;

function add(a: bigint, b: bigint): bigint {
  return (a + b) & MASK;
}

function mul(a: bigint, b: bigint): bigint {
  return (a * b) & MASK;
}

function rotl(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & MASK;
}

/** Little-endian unsigned integer of `size` bytes starting at `at`. */
function readLe(bytes: Uint8Array, at: number, size: number): bigint {
  let v = 0n;
  for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[at + i]);
  return v;
}

function round(acc: bigint, lane: bigint): bigint {
  return mul(rotl(add(acc, mul(lane, PRIME2)), 31n), PRIME1);
}

function mergeRound(acc: bigint, v: bigint): bigint {
  return add(mul(acc ^ round(0n, v), PRIME1), PRIME4);
}

/** XXH64 of `bytes` with a 64-bit `seed`, as an unsigned BigInt. */
export function referenceXxh64(bytes: Uint8Array, seed: bigint | number = 0): bigint {
  const s = BigInt(seed) & MASK;
  const len = bytes.length;
  let p = 0;
  let acc: bigint;

  if (len >= 32) {
    let v1 = add(add(s, PRIME1), PRIME2);
    let v2 = add(s, PRIME2);
    let v3 = s;
    let v4 = (s - PRIME1) & MASK;
    while (p + 32 <= len) {
      v1 = round(v1, readLe(bytes, p, 8));
      v2 = round(v2, readLe(bytes, p + 8, 8));
      v3 = round(v3, readLe(bytes, p + 16, 8));
      v4 = round(v4, readLe(bytes, p + 24, 8));
      p += 32;
    }
    acc = add(add(add(rotl(v1, 1n), rotl(v2, 7n)), rotl(v3, 12n)), rotl(v4, 18n));
    acc = mergeRound(acc, v1);
    acc = mergeRound(acc, v2);
    acc = mergeRound(acc, v3);
    acc = mergeRound(acc, v4);
  } else {
    acc = add(s, PRIME5);
  }

  acc = add(acc, BigInt(len));

  while (p + 8 <= len) {
    acc ^= round(0n, readLe(bytes, p, 8));
    acc = add(mul(rotl(acc, 27n), PRIME1), PRIME4);
    p += 8;
  }
  if (p + 4 <= len) {
    acc ^= mul(readLe(bytes, p, 4), PRIME1);
    acc = add(mul(rotl(acc, 23n), PRIME2), PRIME3);
    p += 4;
  }
  while (p < len) {
    acc ^= mul(BigInt(bytes[p]), PRIME5);
    acc = mul(rotl(acc, 11n), PRIME1);
    p += 1;
  }

  acc ^= acc >> 33n;
  acc = mul(acc, PRIME2);
  acc ^= acc >> 29n;
  acc = mul(acc, PRIME3);
  acc ^= acc >> 32n;
  return acc;
}

/** The first `bitCount` bits of the keystream XXH64(key, 0) ‖ XXH64(key, 1) ‖ … */
export function referenceBucket(bytes: Uint8Array, bitCount: number): bigint {
  if (bitCount === 0) return 0n;
  const blocks = Math.ceil(bitCount / 64);
  let stream = 0n;
  for (let i = 0; i < blocks; i++) stream = (stream << 64n) | referenceXxh64(bytes, i);
  return stream >> BigInt(blocks * 64 - bitCount);
}
