/**
 * XXH64 in plain JavaScript, without BigInt on the hot path.
 *
 * A 64-bit value is carried as two int32 halves (hi, lo). A product by a 64-bit prime
 * P = (PH, PL) is, mod 2^64:
 *   lo = imul(al, PL)
 *   hi = mulHi32(al, PL) + imul(al, PH) + imul(ah, PL)
 * where mulHi32, the high word of the unsigned 32×32 product, comes from 16-bit limbs
 * (a = a1·2^16 + a0, b likewise):
 *   m1 = a1·b0 + (a0·b0 >>> 16),  m2 = a0·b1 + (m1 & 0xffff)
 *   mulHi32 = a1·b1 + (m1 >>> 16) + (m2 >>> 16)
 * Each partial sum is below 2^32, so wrapping it to int32 keeps its exact bits.
 * The hot loops spell every product out inline: as helper
 * functions they exhaust V8's inlining budget, and a call that is not inlined passes and
 * returns int32s outside the small-integer range as heap-allocated numbers. For the same
 * reason digests land in `xxh64Out` instead of being returned.
 */

import { KvError } from './errors.js';

// The XXH64 primes as (high, low) int32 halves, and the 16-bit limbs of each low half.
const P1H = 0x9e3779b1 | 0, P1L = 0x85ebca87 | 0, P1L1 = 0x85eb, P1L0 = 0xca87;
const P2H = 0xc2b2ae3d | 0, P2L = 0x27d4eb4f | 0, P2L1 = 0x27d4, P2L0 = 0xeb4f;
const P3H = 0x165667b1 | 0, P3L = 0x9e3779f9 | 0, P3L1 = 0x9e37, P3L0 = 0x79f9;
const P4H = 0x85ebca77 | 0, P4L = 0xc2b2ae63 | 0;
const P5H = 0x27d4eb2f | 0, P5L = 0x165667c5 | 0, P5L1 = 0x1656, P5L0 = 0x67c5;
/** PRIME64_1 + PRIME64_2 mod 2^64, the first stripe accumulator's seed offset. */
const P12H = 0x60ea27ee | 0, P12L = 0xadc0b5d6 | 0;
/** 2^64 − PRIME64_1, the fourth stripe accumulator's seed offset. */
const NEG_P1H = 0x61c8864e | 0, NEG_P1L = 0x7a143579 | 0;

/** Inputs up to this many bytes are packed into the reused word buffer; longer ones get a fresh one. */
const MAX_SCRATCH_BYTES = 16384;

/**
 * Output of the most recent `xxh64BytesInto` / `xxh64BinaryInto` call:
 * `[0]` the high 32 bits, `[1]` the low 32 bits.
 */
export const xxh64Out = new Uint32Array(2);

const CONVERGE_ROTATIONS = new Int32Array([1, 7, 12, 18]);
/** Stripe accumulators v1..v4 as (hi, lo) pairs; [0], [1] also carry an accumulator into `finish`. */
const V = new Int32Array(8);
/** The input packed as little-endian 32-bit words, the last one zero-padded. */
let wordScratch = new Int32Array(64);

/** A word buffer for `length` input bytes: the reused scratch unless the input is huge. */
function wordsFor(length: number): Int32Array {
  const count = (length + 3) >>> 2;
  if (count <= wordScratch.length) return wordScratch;
  const words = new Int32Array(count);
  if (length <= MAX_SCRATCH_BYTES) wordScratch = words;
  return words;
}

/**
 * Carry out of the 32-bit addition a + b = sum. Branch-free on purpose: V8 compiles
 * `sum >>> 0 < a >>> 0 ? 1 : 0` to a conditional jump, and hash carries are coin flips.
 */
function carry(a: number, b: number, sum: number): number {
  return ((a & b) | ((a | b) & ~sum)) >>> 31;
}

/** Avalanche of the accumulator in V[0], V[1]: acc ^= acc >> 33; ·= P2; ^= >> 29; ·= P3; ^= >> 32. */
function finish(): void {
  let h = V[0];
  let l = V[1] ^ (h >>> 1);
  let m1 = (Math.imul(l >>> 16, P2L0) + (Math.imul(l & 0xffff, P2L0) >>> 16)) | 0;
  let m2 = (Math.imul(l & 0xffff, P2L1) + (m1 & 0xffff)) | 0;
  h = (Math.imul(l >>> 16, P2L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(l, P2H) + Math.imul(h, P2L)) | 0;
  l = Math.imul(l, P2L);
  l ^= (l >>> 29) | (h << 3);
  h ^= h >>> 29;
  m1 = (Math.imul(l >>> 16, P3L0) + (Math.imul(l & 0xffff, P3L0) >>> 16)) | 0;
  m2 = (Math.imul(l & 0xffff, P3L1) + (m1 & 0xffff)) | 0;
  h = (Math.imul(l >>> 16, P3L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(l, P3H) + Math.imul(h, P3L)) | 0;
  xxh64Out[0] = h;
  xxh64Out[1] = Math.imul(l, P3L) ^ h;
}

/** Consumes whole 32-byte stripes and converges them; the accumulator lands in V[0], V[1]. */
function stripes(w: Int32Array, length: number, seedHi: number, seedLo: number): number {
  let l = (seedLo + P12L) | 0;
  V[0] = (seedHi + P12H + carry(seedLo, P12L, l)) | 0;
  V[1] = l;
  l = (seedLo + P2L) | 0;
  V[2] = (seedHi + P2H + carry(seedLo, P2L, l)) | 0;
  V[3] = l;
  V[4] = seedHi;
  V[5] = seedLo;
  l = (seedLo + NEG_P1L) | 0;
  V[6] = (seedHi + NEG_P1H + carry(seedLo, NEG_P1L, l)) | 0;
  V[7] = l;
  let m1: number, m2: number, xh: number, xl: number, rh: number, rl: number;
  // q counts words; each 8-byte lane is two of them, lane k feeds accumulator k mod 4.
  const end = (length - (length & 31)) >>> 2;
  let q = 0;
  for (; q < end; q += 2) {
    // v = rotl(v + lane·P2, 31)·P1
    const j = q & 7;
    const il = w[q];
    m1 = (Math.imul(il >>> 16, P2L0) + (Math.imul(il & 0xffff, P2L0) >>> 16)) | 0;
    m2 = (Math.imul(il & 0xffff, P2L1) + (m1 & 0xffff)) | 0;
    xh = (Math.imul(il >>> 16, P2L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(il, P2H) + Math.imul(w[q + 1], P2L)) | 0;
    xl = Math.imul(il, P2L);
    const vl = V[j + 1];
    const sl = (vl + xl) | 0;
    const sh = (V[j] + xh + carry(vl, xl, sl)) | 0;
    rh = (sh << 31) | (sl >>> 1);
    rl = (sl << 31) | (sh >>> 1);
    m1 = (Math.imul(rl >>> 16, P1L0) + (Math.imul(rl & 0xffff, P1L0) >>> 16)) | 0;
    m2 = (Math.imul(rl & 0xffff, P1L1) + (m1 & 0xffff)) | 0;
    V[j] = (Math.imul(rl >>> 16, P1L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(rl, P1H) + Math.imul(rh, P1L)) | 0;
    V[j + 1] = Math.imul(rl, P1L);
  }
  // acc = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18)
  let h = 0;
  l = 0;
  for (let j = 0; j < 8; j += 2) {
    const r = CONVERGE_ROTATIONS[j >>> 1];
    const vh = V[j];
    const vl = V[j + 1];
    rl = (vl << r) | (vh >>> (32 - r));
    const sl = (l + rl) | 0;
    h = (h + ((vh << r) | (vl >>> (32 - r))) + carry(l, rl, sl)) | 0;
    l = sl;
  }
  for (let j = 0; j < 8; j += 2) {
    // acc ^= rotl(v·P2, 31)·P1; acc = acc·P1 + P4
    const vh = V[j];
    const vl = V[j + 1];
    m1 = (Math.imul(vl >>> 16, P2L0) + (Math.imul(vl & 0xffff, P2L0) >>> 16)) | 0;
    m2 = (Math.imul(vl & 0xffff, P2L1) + (m1 & 0xffff)) | 0;
    xh = (Math.imul(vl >>> 16, P2L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(vl, P2H) + Math.imul(vh, P2L)) | 0;
    xl = Math.imul(vl, P2L);
    rh = (xh << 31) | (xl >>> 1);
    rl = (xl << 31) | (xh >>> 1);
    m1 = (Math.imul(rl >>> 16, P1L0) + (Math.imul(rl & 0xffff, P1L0) >>> 16)) | 0;
    m2 = (Math.imul(rl & 0xffff, P1L1) + (m1 & 0xffff)) | 0;
    h ^= (Math.imul(rl >>> 16, P1L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(rl, P1H) + Math.imul(rh, P1L)) | 0;
    l ^= Math.imul(rl, P1L);
    m1 = (Math.imul(l >>> 16, P1L0) + (Math.imul(l & 0xffff, P1L0) >>> 16)) | 0;
    m2 = (Math.imul(l & 0xffff, P1L1) + (m1 & 0xffff)) | 0;
    xh = (Math.imul(l >>> 16, P1L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(l, P1H) + Math.imul(h, P1L)) | 0;
    xl = Math.imul(l, P1L);
    l = (xl + P4L) | 0;
    h = (xh + P4H + carry(xl, P4L, l)) | 0;
  }
  V[0] = h;
  V[1] = l;
  return q;
}

/** XXH64 of `length` bytes packed in `w`; the digest lands in xxh64Out. */
function hashWords(w: Int32Array, length: number, seedHi: number, seedLo: number): void {
  // q counts words; `whole` of them are full.
  const whole = length >>> 2;
  let q = 0;
  let h: number;
  let l: number;
  if (length >= 32) {
    q = stripes(w, length, seedHi, seedLo);
    h = V[0];
    l = V[1];
  } else {
    l = (seedLo + P5L) | 0;
    h = (seedHi + P5H + carry(seedLo, P5L, l)) | 0;
  }
  const sum = (l + length) | 0;
  h = (h + carry(l, length, sum)) | 0;
  l = sum;
  let m1: number, m2: number, xh: number, xl: number, rh: number, rl: number;
  for (; q + 2 <= whole; q += 2) {
    const il = w[q];
    const ih = w[q + 1];
    // acc ^= rotl(lane·P2, 31)·P1
    m1 = (Math.imul(il >>> 16, P2L0) + (Math.imul(il & 0xffff, P2L0) >>> 16)) | 0;
    m2 = (Math.imul(il & 0xffff, P2L1) + (m1 & 0xffff)) | 0;
    xh = (Math.imul(il >>> 16, P2L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(il, P2H) + Math.imul(ih, P2L)) | 0;
    xl = Math.imul(il, P2L);
    rh = (xh << 31) | (xl >>> 1);
    rl = (xl << 31) | (xh >>> 1);
    m1 = (Math.imul(rl >>> 16, P1L0) + (Math.imul(rl & 0xffff, P1L0) >>> 16)) | 0;
    m2 = (Math.imul(rl & 0xffff, P1L1) + (m1 & 0xffff)) | 0;
    h ^= (Math.imul(rl >>> 16, P1L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(rl, P1H) + Math.imul(rh, P1L)) | 0;
    l ^= Math.imul(rl, P1L);
    // acc = rotl(acc, 27)·P1 + P4
    rh = (h << 27) | (l >>> 5);
    rl = (l << 27) | (h >>> 5);
    m1 = (Math.imul(rl >>> 16, P1L0) + (Math.imul(rl & 0xffff, P1L0) >>> 16)) | 0;
    m2 = (Math.imul(rl & 0xffff, P1L1) + (m1 & 0xffff)) | 0;
    xh = (Math.imul(rl >>> 16, P1L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(rl, P1H) + Math.imul(rh, P1L)) | 0;
    xl = Math.imul(rl, P1L);
    l = (xl + P4L) | 0;
    h = (xh + P4H + carry(xl, P4L, l)) | 0;
  }
  if (q < whole) {
    const u = w[q++];
    // acc = rotl(acc ^ u·P1, 23)·P2 + P3
    m1 = (Math.imul(u >>> 16, P1L0) + (Math.imul(u & 0xffff, P1L0) >>> 16)) | 0;
    m2 = (Math.imul(u & 0xffff, P1L1) + (m1 & 0xffff)) | 0;
    h ^= (Math.imul(u >>> 16, P1L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(u, P1H)) | 0;
    l ^= Math.imul(u, P1L);
    rh = (h << 23) | (l >>> 9);
    rl = (l << 23) | (h >>> 9);
    m1 = (Math.imul(rl >>> 16, P2L0) + (Math.imul(rl & 0xffff, P2L0) >>> 16)) | 0;
    m2 = (Math.imul(rl & 0xffff, P2L1) + (m1 & 0xffff)) | 0;
    xh = (Math.imul(rl >>> 16, P2L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(rl, P2H) + Math.imul(rh, P2L)) | 0;
    xl = Math.imul(rl, P2L);
    l = (xl + P3L) | 0;
    h = (xh + P3H + carry(xl, P3L, l)) | 0;
  }
  // Never read w[q] when no byte is left: it may lie past the end of the buffer.
  if ((length & 3) !== 0) {
    const last = w[q];
    for (let shift = 0; shift < (length & 3) << 3; shift += 8) {
      const c = (last >>> shift) & 0xff;
      // acc = rotl(acc ^ c·P5, 11)·P1; c < 2^8 keeps the high limb of c·P5 zero.
      m2 = (Math.imul(c, P5L1) + (Math.imul(c, P5L0) >>> 16)) | 0;
      h ^= ((m2 >>> 16) + Math.imul(c, P5H)) | 0;
      l ^= Math.imul(c, P5L);
      rh = (h << 11) | (l >>> 21);
      rl = (l << 11) | (h >>> 21);
      m1 = (Math.imul(rl >>> 16, P1L0) + (Math.imul(rl & 0xffff, P1L0) >>> 16)) | 0;
      m2 = (Math.imul(rl & 0xffff, P1L1) + (m1 & 0xffff)) | 0;
      h = (Math.imul(rl >>> 16, P1L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(rl, P1H) + Math.imul(rh, P1L)) | 0;
      l = Math.imul(rl, P1L);
    }
  }
  V[0] = h;
  V[1] = l;
  finish();
}

/**
 * XXH64 of a binary string shorter than 32 chars, read straight from its char codes:
 * with no stripes to feed, packing it into the word buffer first would only cost time.
 * Returns the OR of the char codes.
 */
function hashShortString(s: string, length: number, seedHi: number, seedLo: number): number {
  let l = (seedLo + P5L) | 0;
  let h = (seedHi + P5H + carry(seedLo, P5L, l)) | 0;
  const sum = (l + length) | 0;
  h = (h + carry(l, length, sum)) | 0;
  l = sum;
  let m1: number, m2: number, xh: number, xl: number, rh: number, rl: number;
  let bits = 0;
  let i = 0;
  for (; i + 8 <= length; i += 8) {
    const c0 = s.charCodeAt(i), c1 = s.charCodeAt(i + 1), c2 = s.charCodeAt(i + 2), c3 = s.charCodeAt(i + 3);
    const c4 = s.charCodeAt(i + 4), c5 = s.charCodeAt(i + 5), c6 = s.charCodeAt(i + 6), c7 = s.charCodeAt(i + 7);
    bits |= c0 | c1 | c2 | c3 | c4 | c5 | c6 | c7;
    const il = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
    const ih = c4 | (c5 << 8) | (c6 << 16) | (c7 << 24);
    // acc ^= rotl(lane·P2, 31)·P1
    m1 = (Math.imul(il >>> 16, P2L0) + (Math.imul(il & 0xffff, P2L0) >>> 16)) | 0;
    m2 = (Math.imul(il & 0xffff, P2L1) + (m1 & 0xffff)) | 0;
    xh = (Math.imul(il >>> 16, P2L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(il, P2H) + Math.imul(ih, P2L)) | 0;
    xl = Math.imul(il, P2L);
    rh = (xh << 31) | (xl >>> 1);
    rl = (xl << 31) | (xh >>> 1);
    m1 = (Math.imul(rl >>> 16, P1L0) + (Math.imul(rl & 0xffff, P1L0) >>> 16)) | 0;
    m2 = (Math.imul(rl & 0xffff, P1L1) + (m1 & 0xffff)) | 0;
    h ^= (Math.imul(rl >>> 16, P1L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(rl, P1H) + Math.imul(rh, P1L)) | 0;
    l ^= Math.imul(rl, P1L);
    // acc = rotl(acc, 27)·P1 + P4
    rh = (h << 27) | (l >>> 5);
    rl = (l << 27) | (h >>> 5);
    m1 = (Math.imul(rl >>> 16, P1L0) + (Math.imul(rl & 0xffff, P1L0) >>> 16)) | 0;
    m2 = (Math.imul(rl & 0xffff, P1L1) + (m1 & 0xffff)) | 0;
    xh = (Math.imul(rl >>> 16, P1L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(rl, P1H) + Math.imul(rh, P1L)) | 0;
    xl = Math.imul(rl, P1L);
    l = (xl + P4L) | 0;
    h = (xh + P4H + carry(xl, P4L, l)) | 0;
  }
  if (i + 4 <= length) {
    const c0 = s.charCodeAt(i), c1 = s.charCodeAt(i + 1), c2 = s.charCodeAt(i + 2), c3 = s.charCodeAt(i + 3);
    bits |= c0 | c1 | c2 | c3;
    const u = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
    i += 4;
    // acc = rotl(acc ^ u·P1, 23)·P2 + P3
    m1 = (Math.imul(u >>> 16, P1L0) + (Math.imul(u & 0xffff, P1L0) >>> 16)) | 0;
    m2 = (Math.imul(u & 0xffff, P1L1) + (m1 & 0xffff)) | 0;
    h ^= (Math.imul(u >>> 16, P1L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(u, P1H)) | 0;
    l ^= Math.imul(u, P1L);
    rh = (h << 23) | (l >>> 9);
    rl = (l << 23) | (h >>> 9);
    m1 = (Math.imul(rl >>> 16, P2L0) + (Math.imul(rl & 0xffff, P2L0) >>> 16)) | 0;
    m2 = (Math.imul(rl & 0xffff, P2L1) + (m1 & 0xffff)) | 0;
    xh = (Math.imul(rl >>> 16, P2L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(rl, P2H) + Math.imul(rh, P2L)) | 0;
    xl = Math.imul(rl, P2L);
    l = (xl + P3L) | 0;
    h = (xh + P3H + carry(xl, P3L, l)) | 0;
  }
  for (; i < length; i++) {
    const code = s.charCodeAt(i);
    bits |= code;
    const c = code & 0xff;
    // acc = rotl(acc ^ c·P5, 11)·P1; c < 2^8 keeps the high limb of c·P5 zero.
    m2 = (Math.imul(c, P5L1) + (Math.imul(c, P5L0) >>> 16)) | 0;
    h ^= ((m2 >>> 16) + Math.imul(c, P5H)) | 0;
    l ^= Math.imul(c, P5L);
    rh = (h << 11) | (l >>> 21);
    rl = (l << 11) | (h >>> 21);
    m1 = (Math.imul(rl >>> 16, P1L0) + (Math.imul(rl & 0xffff, P1L0) >>> 16)) | 0;
    m2 = (Math.imul(rl & 0xffff, P1L1) + (m1 & 0xffff)) | 0;
    h = (Math.imul(rl >>> 16, P1L1) + (m1 >>> 16) + (m2 >>> 16) + Math.imul(rl, P1H) + Math.imul(rh, P1L)) | 0;
    l = Math.imul(rl, P1L);
  }
  V[0] = h;
  V[1] = l;
  finish();
  return bits;
}

/**
 * XXH64 of `b[0..length)` with the 64-bit seed (seedHi, seedLo); the digest lands in
 * {@link xxh64Out}. No allocation for inputs up to 16 KiB.
 */
export function xxh64BytesInto(b: Uint8Array, length: number, seedHi: number, seedLo: number): void {
  const w = wordsFor(length);
  let i = 0;
  let k = 0;
  for (; i + 4 <= length; i += 4) w[k++] = b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
  let v = 0;
  for (let shift = 0; i < length; i++, shift += 8) v |= b[i] << shift;
  if ((length & 3) !== 0) w[k] = v;
  hashWords(w, length, seedHi, seedLo);
}

/**
 * XXH64 of a binary string (each char code is one byte) with the 64-bit seed
 * (seedHi, seedLo); the digest lands in {@link xxh64Out}. Returns the OR of all char
 * codes: below 0x80 means the string is ASCII (its UTF-8 bytes are its char codes);
 * above 0xff means it is not a binary string and the digest is meaningless.
 * No allocation for strings up to 16 KiB.
 */
export function xxh64BinaryInto(s: string, seedHi: number, seedLo: number): number {
  const length = s.length;
  if (length < 32) return hashShortString(s, length, seedHi, seedLo);
  const w = wordsFor(length);
  let bits = 0;
  let i = 0;
  let k = 0;
  for (; i + 4 <= length; i += 4) {
    const c0 = s.charCodeAt(i), c1 = s.charCodeAt(i + 1), c2 = s.charCodeAt(i + 2), c3 = s.charCodeAt(i + 3);
    bits |= c0 | c1 | c2 | c3;
    w[k++] = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
  }
  let v = 0;
  for (let shift = 0; i < length; i++, shift += 8) {
    const c = s.charCodeAt(i);
    bits |= c;
    v |= (c & 0xff) << shift;
  }
  if ((length & 3) !== 0) w[k] = v;
  hashWords(w, length, seedHi, seedLo);
  return bits;
}

function digest(): bigint {
  return (BigInt(xxh64Out[0]) << 32n) | BigInt(xxh64Out[1]);
}

/** Half of a 64-bit seed; negative seeds wrap mod 2^64. */
function seedHalf(seed: number | bigint, high: boolean): number {
  if (typeof seed === 'number' && !Number.isSafeInteger(seed)) {
    throw KvError.invalidArgument(`seed must be an integer, got ${seed}`);
  }
  const s = BigInt.asUintN(64, BigInt(seed));
  return Number(high ? s >> 32n : s & 0xffffffffn) | 0;
}

/** XXH64 of `key` as an unsigned 64-bit BigInt. Convenience form; allocates. */
export function xxh64(key: Uint8Array, seed: number | bigint = 0): bigint {
  xxh64BytesInto(key, key.length, seedHalf(seed, true), seedHalf(seed, false));
  return digest();
}

/** XXH64 of a binary (latin1) string as an unsigned 64-bit BigInt. Char codes above 0xff throw. */
export function xxh64Binary(key: string, seed: number | bigint = 0): bigint {
  if (xxh64BinaryInto(key, seedHalf(seed, true), seedHalf(seed, false)) > 0xff) {
    throw KvError.invalidArgument('binary key has a char code above 0xff');
  }
  return digest();
}
