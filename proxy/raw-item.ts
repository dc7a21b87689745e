/**
 * Reads the fields of a node's answer to a GET as bytes (the fields after the status,
 * still CBOR-encoded, as a lane's raw answer reader hands them over): `[value, cas,
 * flags, …]`, the value a definite byte string, cas a number and flags an unsigned
 * 32-bit integer. Only that plain shape is taken; anything else (a text or null value,
 * a tagged or indefinite item, a truncated field) is refused, and the caller decodes
 * the answer in full instead, so the codec stays the judge of what is valid.
 */

/** Where the last `readItemFields` found the value, and the item's flags. */
export const rawItem = { valueStart: 0, valueEnd: 0, flags: 0 };

const MAJOR_UINT = 0;
const MAJOR_BYTES = 2;
const FLOAT16 = 0xf9;
const FLOAT32 = 0xfa;
const FLOAT64 = 0xfb;

// The argument of the last head read by readHead.
let headArg = 0;

/** Position after the head of a `major` item at `pos` (its argument in `headArg`), or -1. */
function readHead(b: Uint8Array, pos: number, end: number, major: number): number {
  if (pos >= end) return -1;
  const first = b[pos]!;
  if (first >> 5 !== major) return -1;
  const info = first & 31;
  if (info < 24) {
    headArg = info;
    return pos + 1;
  }
  if (info === 24) {
    if (pos + 2 > end) return -1;
    headArg = b[pos + 1]!;
    return pos + 2;
  }
  if (info === 25) {
    if (pos + 3 > end) return -1;
    headArg = (b[pos + 1]! << 8) | b[pos + 2]!;
    return pos + 3;
  }
  if (info === 26) {
    if (pos + 5 > end) return -1;
    headArg = b[pos + 1]! * 0x1000000 + ((b[pos + 2]! << 16) | (b[pos + 3]! << 8) | b[pos + 4]!);
    return pos + 5;
  }
  if (info === 27) {
    if (pos + 9 > end) return -1;
    // Only cas may be this wide, and its value is not needed: no exactness required.
    headArg = Number.MAX_SAFE_INTEGER;
    return pos + 9;
  }
  return -1;
}

/**
 * Position after a cas at `pos`, or -1: an unsigned integer, or a float as the encoder
 * writes integers wider than 32 bits. Its value is not needed here.
 */
function skipCas(b: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return -1;
  const first = b[pos]!;
  if (first >> 5 === MAJOR_UINT) return readHead(b, pos, end, MAJOR_UINT);
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
  let pos = readHead(fields, 0, end, MAJOR_BYTES);
  if (pos < 0 || headArg > end - pos) return false;
  const valueStart = pos;
  const valueEnd = pos + headArg;
  let flags = 0;
  if (fieldCount >= 2) {
    pos = skipCas(fields, valueEnd, end);
    if (pos < 0) return false;
  }
  if (fieldCount >= 3) {
    pos = readHead(fields, pos, end, MAJOR_UINT);
    if (pos < 0 || headArg > 0xffffffff) return false;
    flags = headArg;
  }
  rawItem.valueStart = valueStart;
  rawItem.valueEnd = valueEnd;
  rawItem.flags = flags;
  return true;
}
