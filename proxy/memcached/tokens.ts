/**
 * Byte-level helpers of the line parser: splitting a command line into tokens without
 * copying, strict number parsing, key checks and strict base64. Pure functions.
 */
import { Buffer } from 'node:buffer';

const SPACE = 0x20;
const U32_MAX = 0xffffffff;
const I32_MIN = -0x80000000;
const I32_MAX = 0x7fffffff;
const U64_LIMIT = 1n << 64n;

/** Token offsets into one line; reused between lines to avoid allocating per command. */
export class Tokens {
  readonly starts: number[] = [];
  readonly ends: number[] = [];
  count = 0;
  /** More tokens than the limit given to `split` were present. */
  isTruncated = false;
  line: Uint8Array = new Uint8Array(0);

  /**
   * Split `line` on spaces (memcached splits on ' ' only; other bytes stay in tokens).
   * Stops after `limit` tokens and sets `isTruncated` when more follow.
   */
  split(line: Uint8Array, limit: number): this {
    this.line = line;
    this.count = 0;
    this.isTruncated = false;
    const n = line.length;
    let i = 0;
    while (i < n) {
      while (i < n && line[i] === SPACE) i++;
      if (i >= n) break;
      if (this.count === limit) {
        this.isTruncated = true;
        break;
      }
      const start = i;
      while (i < n && line[i] !== SPACE) i++;
      this.starts[this.count] = start;
      this.ends[this.count] = i;
      this.count++;
    }
    return this;
  }

  length(i: number): number {
    return this.ends[i]! - this.starts[i]!;
  }

  /** Token `i` as a latin1 string (for short tokens: command names, flags). */
  text(i: number): string {
    return Buffer.from(this.line.buffer, this.line.byteOffset + this.starts[i]!, this.length(i)).toString('latin1');
  }

  /** A copy of token `i`'s bytes, safe to keep after the line buffer is reused. */
  copy(i: number): Uint8Array {
    const start = this.starts[i]!;
    const out = Buffer.allocUnsafe(this.ends[i]! - start);
    for (let j = 0; j < out.length; j++) out[j] = this.line[start + j]!;
    return out;
  }

  /** Whether token `i` equals the ASCII word `word`. */
  is(i: number, word: string): boolean {
    if (i >= this.count || this.length(i) !== word.length) return false;
    const s = this.starts[i]!;
    for (let j = 0; j < word.length; j++) if (this.line[s + j] !== word.charCodeAt(j)) return false;
    return true;
  }

  /** Token `i` (from byte `skip` on) as an unsigned 32-bit number, or null. */
  u32(i: number, skip = 0): number | null {
    const v = parseDigits(this.line, this.starts[i]! + skip, this.ends[i]!, 10);
    return v === null || v > U32_MAX ? null : v;
  }

  /** Token `i` (from byte `skip` on) as a signed 32-bit number, or null. */
  i32(i: number, skip = 0): number | null {
    let s = this.starts[i]! + skip;
    const negative = this.line[s] === 0x2d;
    if (negative) s++;
    const v = parseDigits(this.line, s, this.ends[i]!, 10);
    if (v === null) return null;
    const signed = negative ? -v : v;
    return signed < I32_MIN || signed > I32_MAX ? null : signed;
  }

  /** Token `i` (from byte `skip` on) as an unsigned 64-bit number, or null. */
  u64(i: number, skip = 0): bigint | null {
    const s = this.starts[i]! + skip;
    const e = this.ends[i]!;
    if (e - s > 20 || parseDigits(this.line, s, e, 20) === null) return null;
    const v = BigInt(Buffer.from(this.line.buffer, this.line.byteOffset + s, e - s).toString('latin1'));
    return v < U64_LIMIT ? v : null;
  }

  /**
   * Token `i` as a data block length: the number, -1 when it is not a plain decimal, or
   * `Infinity` when it has more digits than any length could.
   */
  dataLength(i: number): number {
    const s = this.starts[i]!;
    const e = this.ends[i]!;
    if (e - s > 15) return parseDigits(this.line, s, e, Infinity) === null ? -1 : Infinity;
    const v = parseDigits(this.line, s, e, 15);
    return v === null ? -1 : v;
  }
}

/** Decimal digits in `[s, e)` (at least one, at most `maxDigits`), or null. */
function parseDigits(line: Uint8Array, s: number, e: number, maxDigits: number): number | null {
  if (e <= s || e - s > maxDigits) return null;
  let v = 0;
  for (let i = s; i < e; i++) {
    const d = line[i]! - 0x30;
    if (d < 0 || d > 9) return null;
    v = v * 10 + d;
  }
  return v;
}

/** A key must be 1..max bytes with no control characters (spaces never reach here). */
export function isValidKey(line: Uint8Array, s: number, e: number, maxKeyBytes: number): boolean {
  if (e <= s || e - s > maxKeyBytes) return false;
  for (let i = s; i < e; i++) {
    const b = line[i]!;
    if (b < 0x21 || b === 0x7f) return false;
  }
  return true;
}

const B64 = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * Strict base64 (standard alphabet, padded, length a multiple of 4) to bytes, or null.
 * Node's own decoder skips bad characters, which would let two spellings name one key.
 */
export function decodeBase64Strict(line: Uint8Array, s: number, e: number): Uint8Array | null {
  const n = e - s;
  if (n === 0 || n % 4 !== 0) return null;
  let pad = 0;
  if (line[e - 1] === 0x3d) pad = line[e - 2] === 0x3d ? 2 : 1;
  for (let i = s; i < e - pad; i++) if (B64[line[i]!]! < 0) return null;
  const out = Buffer.from(Buffer.from(line.buffer, line.byteOffset + s, n).toString('latin1'), 'base64');
  if (out.length === 0) return null;
  // Reject non-canonical encodings (stray bits in the last character) so a key has one spelling.
  if (out.toString('base64') !== Buffer.from(line.buffer, line.byteOffset + s, n).toString('latin1')) return null;
  return out;
}
