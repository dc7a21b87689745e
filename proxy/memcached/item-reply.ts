import { Buffer } from 'node:buffer';
import type { McReply } from './responses.js';

/*
 * The answer to a one-key `get` that hit, `VALUE <key> <flags> <bytes>\r\n<data>\r\nEND\r\n`,
 * written straight into the connection's output buffer when the answers of a turn are
 * joined, instead of being built as a header buffer, a chunk list and an answer object.
 */

/**
 * Marks a slot whose answer is such a hit: the slot holds key, value and flags and
 * renders them itself. Its `chunks` are never written.
 */
export const ITEM_REPLY: McReply = Object.freeze({ chunks: [], isError: false }) as McReply;

const VALUE_PREFIX = Buffer.from('VALUE ', 'latin1');
const VALUE_END = Buffer.from('\r\nEND\r\n', 'latin1');
const SPACE = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const ZERO = 0x30;

/** Decimal digits of a non-negative integer below 2^53. */
function digits(n: number): number {
  let count = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    count++;
  }
  return count;
}

/** Write `n` (a non-negative integer below 2^53) in decimal at `pos`; the position after it. */
function writeDecimal(out: Uint8Array, pos: number, n: number): number {
  const end = pos + digits(n);
  let at = end;
  do {
    const next = Math.floor(n / 10);
    out[--at] = ZERO + (n - next * 10);
    n = next;
  } while (n > 0);
  return end;
}

/** Bytes of the answer's first line. */
function headerBytes(key: Uint8Array, valueBytes: number, flags: number): number {
  return VALUE_PREFIX.length + key.length + 1 + digits(flags) + 1 + digits(valueBytes) + 2;
}

/** Write `VALUE <key> <flags> <bytes>\r\n` at `pos`; the position after it. */
function writeHeader(out: Uint8Array, pos: number, key: Uint8Array, valueBytes: number, flags: number): number {
  out.set(VALUE_PREFIX, pos);
  pos += VALUE_PREFIX.length;
  for (let i = 0; i < key.length; i++) out[pos + i] = key[i]!;
  pos += key.length;
  out[pos++] = SPACE;
  pos = writeDecimal(out, pos, flags);
  out[pos++] = SPACE;
  pos = writeDecimal(out, pos, valueBytes);
  out[pos++] = CR;
  out[pos++] = LF;
  return pos;
}

/** Bytes of the answer. */
export function itemReplyBytes(key: Uint8Array, value: Uint8Array, flags: number): number {
  return headerBytes(key, value.length, flags) + value.length + VALUE_END.length;
}

/** Write the answer at `pos` of `out` (which has room for `itemReplyBytes`); the position after it. */
export function writeItemReply(out: Uint8Array, pos: number, key: Uint8Array, value: Uint8Array, flags: number): number {
  pos = writeHeader(out, pos, key, value.length, flags);
  out.set(value, pos);
  pos += value.length;
  out.set(VALUE_END, pos);
  return pos + VALUE_END.length;
}

/** The answer as chunks, the value uncopied. */
export function itemChunks(key: Uint8Array, value: Uint8Array, flags: number): Uint8Array[] {
  const header = Buffer.allocUnsafe(headerBytes(key, value.length, flags));
  writeHeader(header, 0, key, value.length, flags);
  return value.length > 0 ? [header, value, VALUE_END] : [header, VALUE_END];
}
