/**
 * Reads the fields of a node's answer to a GET as bytes (the fields after the status,
 * still CBOR-encoded, as a lane's raw answer reader hands them over): `[value, cas,
 * flags, …]`, the value a definite byte string, cas a number and flags an unsigned
 * 32-bit integer. Only that plain shape is taken; anything else (a text or null value,
 * a tagged or indefinite item, a truncated field) is refused, and the caller decodes
 * the answer in full instead, so the codec stays the judge of what is valid.
 */

import { headArgument, readMajorHead } from '../shared/protocol/raw-frames.js';

/** Where the last `readItemFields` found the value, and the item's flags. */
export const rawItem = { valueStart: 0, valueEnd: 0, flags: 0 };

const MAJOR_UINT = 0;
const MAJOR_BYTES = 2;
const FLOAT16 = 0xf9;
const FLOAT32 = 0xfa;
const FLOAT64 = 0xfb;

/**
 * Position after a cas at `pos`, or -1: an unsigned integer, or a float as the encoder
 * writes integers wider than 32 bits. Its value is not needed here.
 */
function skipCas(b: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return -1;
  const first = b[pos]!;
  if (first >> 5 === MAJOR_UINT) return readMajorHead(b, pos, end, MAJOR_UINT);
  const size = first === FLOAT16 ? 3 : first === FLOAT32 ? 5 : first === FLOAT64 ? 9 : 0;
  return size === 0 || pos + size > end ? -1 : pos + size;
}

/**
 * Read `[value, cas, flags]` from the `fieldCount` encoded fields of an item answer into
 * `rawItem`; false when they are not in the plain shape. A missing flags field reads as
 * 0, as the codec reads it; fields after flags (an `extra`) are not looked at.
 */
export function readItemFields(fields: Uint8Array, fieldCount: number): boolean {
  const end = fields.length;
  if (fieldCount < 1) return false;
  let pos = readMajorHead(fields, 0, end, MAJOR_BYTES);
  if (pos < 0 || headArgument() > end - pos) return false;
  const valueStart = pos;
  const valueEnd = pos + headArgument();
  let flags = 0;
  if (fieldCount >= 2) {
    pos = skipCas(fields, valueEnd, end);
    if (pos < 0) return false;
  }
  if (fieldCount >= 3) {
    pos = readMajorHead(fields, pos, end, MAJOR_UINT);
    if (pos < 0 || headArgument() > 0xffffffff) return false;
    flags = headArgument();
  }
  rawItem.valueStart = valueStart;
  rawItem.valueEnd = valueEnd;
  rawItem.flags = flags;
  return true;
}
