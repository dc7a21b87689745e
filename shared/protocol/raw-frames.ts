import { Buffer } from 'node:buffer';
import { Op } from './ops.js';
import type { ProtocolLimits } from './limits.js';
import type { Response } from './frames.js';
import { decodeCbor, toResponse } from './codec.js';

/**
 * Frames as bytes, for a forwarder that has no use for their values: find the few fields
 * it must read or rewrite (id, op, epoch, key; an answer's id and status) and copy the
 * rest of each frame through as it came, instead of decoding every value into objects and
 * encoding it again. Only definite-length CBOR in minimal form is read here; anything
 * else is left to the full codec (`codec.ts`), which stays the one authority on what is
 * valid.
 */

const NOT_PLAIN = -1;

/** Fields of one plain request in the array `scanPlainRequests` fills, 8 numbers each. */
export const PlainField = Object.freeze({
  ID: 0, OP: 1, FIELD_COUNT: 2, KEY_START: 3, KEY_END: 4, TAIL_START: 5, FRAME_END: 6, VALUE_BYTES: 7,
} as const);
/** Numbers per frame in `plainFrames()`. */
export const PLAIN_STRIDE = 8;
const STRIDE = PLAIN_STRIDE;

let plain = new Float64Array(64 * STRIDE);

// The argument read by the last readArg: an integer, a length or a count.
let argValue = 0;

/**
 * Position after the head of the item at `pos`, setting `argValue` to its argument
 * (the integer, length or count), or -1 when it is truncated or indefinite-length.
 */
function readArg(b: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return NOT_PLAIN;
  const info = b[pos]! & 31;
  if (info < 24) {
    argValue = info;
    return pos + 1;
  }
  if (info === 24) {
    if (pos + 2 > end) return NOT_PLAIN;
    argValue = b[pos + 1]!;
    return pos + 2;
  }
  if (info === 25) {
    if (pos + 3 > end) return NOT_PLAIN;
    argValue = (b[pos + 1]! << 8) | b[pos + 2]!;
    return pos + 3;
  }
  if (info === 26) {
    if (pos + 5 > end) return NOT_PLAIN;
    argValue = readUint32(b, pos + 1);
    return pos + 5;
  }
  if (info === 27) {
    if (pos + 9 > end) return NOT_PLAIN;
    // Above 2^53 the value is not exact; callers that need it exact bound `argValue`.
    argValue = readUint32(b, pos + 1) * 0x100000000 + readUint32(b, pos + 5);
    return pos + 9;
  }
  return NOT_PLAIN;
}

function readUint32(b: Uint8Array, at: number): number {
  return b[at]! * 0x1000000 + ((b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!);
}

/** Position after the unsigned integer at `pos` (its value in `argValue`), or -1. */
function readUint(b: Uint8Array, pos: number, end: number): number {
  return readMajorHead(b, pos, end, 0);
}

/**
 * Position after the head of an item of CBOR major type `major` at `pos`, or -1 (another
 * type, truncated, indefinite-length); its argument is then `headArgument()`.
 */
export function readMajorHead(b: Uint8Array, pos: number, end: number, major: number): number {
  return pos < end && b[pos]! >> 5 === major ? readArg(b, pos, end) : NOT_PLAIN;
}

/** The argument (integer, length or count) of the head the last `readMajorHead` read. */
export function headArgument(): number {
  return argValue;
}

/**
 * Position after the CBOR item at `pos`, or -1 when it is malformed, truncated,
 * indefinite-length or nested deeper than `depth`.
 */
export function skipItem(b: Uint8Array, pos: number, end: number, depth = 16): number {
  if (pos >= end || depth < 0) return NOT_PLAIN;
  const major = b[pos]! >> 5;
  if (major === 7) {
    const info = b[pos]! & 31;
    if (info < 24) return pos + 1;
    const size = info === 24 ? 2 : info === 25 ? 3 : info === 26 ? 5 : info === 27 ? 9 : 0;
    return size === 0 || pos + size > end ? NOT_PLAIN : pos + size;
  }
  let at = readArg(b, pos, end);
  if (at < 0) return NOT_PLAIN;
  const n = argValue;
  switch (major) {
    case 0:
    case 1:
      return at;
    case 2:
    case 3:
      return n > end - at ? NOT_PLAIN : at + n;
    case 4:
    case 5: {
      const items = major === 4 ? n : n * 2;
      if (items > end - at) return NOT_PLAIN;
      for (let i = 0; i < items && at >= 0; i++) at = skipItem(b, at, end, depth - 1);
      return at;
    }
    default:
      return skipItem(b, at, end, depth - 1);
  }
}

/** Head of a definite array at `pos`: position after it (the count in `argValue`), or -1. */
function readArrayHead(b: Uint8Array, pos: number, end: number): number {
  return pos < end && b[pos]! >> 5 === 4 ? readArg(b, pos, end) : NOT_PLAIN;
}

// Start of the last key read by readKey.
let keyStart = 0;

/** Position after a non-empty byte string or ASCII text of at most `maxBytes` at `pos`, or -1. */
function readKey(b: Uint8Array, pos: number, end: number, maxBytes: number): number {
  if (pos >= end) return NOT_PLAIN;
  const major = b[pos]! >> 5;
  if (major !== 2 && major !== 3) return NOT_PLAIN;
  const at = readArg(b, pos, end);
  if (at < 0) return NOT_PLAIN;
  const n = argValue;
  if (n === 0 || n > maxBytes || n > end - at) return NOT_PLAIN;
  // A text key is its UTF-8 bytes; only ASCII is taken as is (the codec checks the rest).
  if (major === 3) for (let i = at; i < at + n; i++) if (b[i]! > 0x7f) return NOT_PLAIN;
  keyStart = at;
  return at + n;
}

// Keyed ops whose frame needs nothing from `extra`: forwarded as they came.
const PLAIN_OPS = new Uint8Array(16);
for (const op of [Op.GET, Op.GAT, Op.SET, Op.ADD, Op.REPLACE, Op.APPEND, Op.PREPEND, Op.DELETE, Op.TOUCH]) PLAIN_OPS[op] = 1;
const VALUE_OPS = new Uint8Array(16);
for (const op of [Op.SET, Op.ADD, Op.REPLACE, Op.APPEND, Op.PREPEND]) VALUE_OPS[op] = 1;

const CBOR_NULL = 0xf6;

/**
 * Read a request message whose every frame is *plain*: a keyed op that needs no `extra`
 * (GET, GAT, SET, ADD, REPLACE, APPEND, PREPEND, DELETE, TOUCH), with `id`, `op`,
 * `epoch` and key present, a byte-string value (or null), integer flags, exptime and
 * cas, `extra` absent or null, and nothing the codec would refuse. Returns the number of
 * frames, their fields in `plainFrames()` (`PlainField` order, 8 numbers per frame), or
 * -1 when any frame is not plain; such a message goes to `decodeRequests`.
 */
export function scanPlainRequests(b: Uint8Array, limits: ProtocolLimits): number {
  const end = b.length;
  if (end > limits.maxMessageBytes) return NOT_PLAIN;
  let pos = readArrayHead(b, 0, end);
  if (pos < 0) return NOT_PLAIN;
  const count = argValue;
  if (count === 0 || count > limits.maxFramesPerMessage || count > end) return NOT_PLAIN;
  if (plain.length < count * STRIDE) plain = new Float64Array(Math.max(count, plain.length / STRIDE * 2) * STRIDE);
  const out = plain;
  for (let i = 0; i < count; i++) {
    const base = i * STRIDE;
    const head = b[pos];
    // A frame has 4 to 9 fields: an array head of one byte.
    if (head === undefined || head < 0x84 || head > 0x89) return NOT_PLAIN;
    const fields = head & 31;
    if (isWide(b, pos + 1)) return NOT_PLAIN;
    pos = readUint(b, pos + 1, end);
    if (pos < 0 || argValue === 0 || argValue > Number.MAX_SAFE_INTEGER) return NOT_PLAIN;
    out[base + PlainField.ID] = argValue;
    const op = b[pos];
    if (op === undefined || op >= 16 || PLAIN_OPS[op] !== 1) return NOT_PLAIN;
    out[base + PlainField.OP] = op;
    if (isWide(b, pos + 1)) return NOT_PLAIN;
    pos = readUint(b, pos + 1, end);
    if (pos < 0 || argValue > Number.MAX_SAFE_INTEGER) return NOT_PLAIN;
    const tailStart = pos;
    const keyEnd = readKey(b, pos, end, limits.maxKeyBytes);
    if (keyEnd < 0) return NOT_PLAIN;
    out[base + PlainField.KEY_START] = keyStart;
    out[base + PlainField.KEY_END] = keyEnd;
    pos = keyEnd;
    let valueBytes = 0;
    let hasValue = false;
    if (fields >= 5) {
      if (b[pos] === CBOR_NULL) {
        pos++;
      } else {
        if (pos >= end || b[pos]! >> 5 !== 2) return NOT_PLAIN;
        const at = readArg(b, pos, end);
        if (at < 0 || argValue > limits.maxValueBytes || argValue > end - at) return NOT_PLAIN;
        valueBytes = argValue;
        hasValue = true;
        pos = at + valueBytes;
      }
    }
    if (!hasValue && VALUE_OPS[op] === 1) return NOT_PLAIN;
    if (fields >= 6) {
      if (isWide(b, pos)) return NOT_PLAIN;
      pos = readUint(b, pos, end);
      if (pos < 0 || argValue > 0xffffffff) return NOT_PLAIN;
    }
    if (fields >= 7) {
      pos = readExptime(b, pos, end);
      if (pos < 0) return NOT_PLAIN;
    }
    if (fields >= 8) {
      pos = readUint(b, pos, end);
      if (pos < 0) return NOT_PLAIN;
    }
    if (fields === 9) {
      if (b[pos] !== CBOR_NULL) return NOT_PLAIN;
      pos++;
    }
    if (pos > end) return NOT_PLAIN;
    out[base + PlainField.FIELD_COUNT] = fields;
    out[base + PlainField.TAIL_START] = tailStart;
    out[base + PlainField.FRAME_END] = pos;
    out[base + PlainField.VALUE_BYTES] = valueBytes;
  }
  return pos === end ? count : NOT_PLAIN;
}

/** The frames found by the last `scanPlainRequests`; valid until the next call. */
export function plainFrames(): Float64Array {
  return plain;
}

/**
 * True when the integer whose head is at `pos` has an 8-byte argument: the decoder reads
 * it as a BigInt, which id, epoch, flags and exptime refuse, so such a frame is left to it.
 */
function isWide(b: Uint8Array, pos: number): boolean {
  return pos < b.length && (b[pos]! & 31) === 27;
}

/** Position after an exptime: an integer (either sign) within the safe range, or -1. */
function readExptime(b: Uint8Array, pos: number, end: number): number {
  if (pos >= end) return NOT_PLAIN;
  if (b[pos]! >> 5 > 1 || isWide(b, pos)) return NOT_PLAIN;
  const at = readArg(b, pos, end);
  return at < 0 || argValue >= Number.MAX_SAFE_INTEGER ? NOT_PLAIN : at;
}

/** Fields of one answer in the array `scanAnswers` fills, 4 numbers each. */
export const AnswerField = Object.freeze({ ID: 0, STATUS: 1, FIELD_COUNT: 2, FIELDS_START: 3, FRAME_START: 4, FRAME_END: 5 } as const);
/** Numbers per frame in `scannedAnswers()`. */
export const ANSWER_STRIDE = 6;

let answers = new Float64Array(64 * ANSWER_STRIDE);

/**
 * Read a response message: for each frame its id, status, the number of fields after the
 * status and where they are, in `scannedAnswers()` (`AnswerField` order, 6 numbers per
 * frame). Returns the number of frames, or -1 when the message is not a definite array
 * of frames that start with two unsigned integers (`decodeResponses` then decides).
 */
export function scanAnswers(b: Uint8Array): number {
  const end = b.length;
  let pos = readArrayHead(b, 0, end);
  if (pos < 0) return NOT_PLAIN;
  const count = argValue;
  if (count > end) return NOT_PLAIN;
  if (answers.length < count * ANSWER_STRIDE) answers = new Float64Array(Math.max(count, answers.length / ANSWER_STRIDE * 2) * ANSWER_STRIDE);
  const out = answers;
  for (let i = 0; i < count; i++) {
    const base = i * ANSWER_STRIDE;
    out[base + AnswerField.FRAME_START] = pos;
    pos = readArrayHead(b, pos, end);
    if (pos < 0 || argValue < 2) return NOT_PLAIN;
    const fields = argValue - 2;
    pos = readUint(b, pos, end);
    if (pos < 0 || argValue > Number.MAX_SAFE_INTEGER) return NOT_PLAIN;
    out[base + AnswerField.ID] = argValue;
    pos = readUint(b, pos, end);
    if (pos < 0 || argValue > Number.MAX_SAFE_INTEGER) return NOT_PLAIN;
    out[base + AnswerField.STATUS] = argValue;
    out[base + AnswerField.FIELD_COUNT] = fields;
    out[base + AnswerField.FIELDS_START] = pos;
    for (let f = 0; f < fields && pos >= 0; f++) pos = skipItem(b, pos, end);
    if (pos < 0) return NOT_PLAIN;
    out[base + AnswerField.FRAME_END] = pos;
  }
  return pos === end ? count : NOT_PLAIN;
}

/** The answers found by the last `scanAnswers`; valid until the next call. */
export function scannedAnswers(): Float64Array {
  return answers;
}

/** Bytes of the head of an item whose argument is `n`. */
export function headBytes(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

/** Write the head of an item of `major` type with argument `n` (a safe integer); the position after it. */
export function writeHead(b: Uint8Array, pos: number, major: number, n: number): number {
  const type = major << 5;
  if (n < 24) {
    b[pos] = type | n;
    return pos + 1;
  }
  if (n < 0x100) {
    b[pos] = type | 24;
    b[pos + 1] = n;
    return pos + 2;
  }
  if (n < 0x10000) {
    b[pos] = type | 25;
    b[pos + 1] = n >>> 8;
    b[pos + 2] = n & 0xff;
    return pos + 3;
  }
  if (n < 0x100000000) {
    b[pos] = type | 26;
    writeUint32(b, pos + 1, n);
    return pos + 5;
  }
  b[pos] = type | 27;
  writeUint32(b, pos + 1, Math.floor(n / 0x100000000));
  writeUint32(b, pos + 5, n >>> 0);
  return pos + 9;
}

function writeUint32(b: Uint8Array, at: number, n: number): void {
  b[at] = n >>> 24;
  b[at + 1] = (n >>> 16) & 0xff;
  b[at + 2] = (n >>> 8) & 0xff;
  b[at + 3] = n & 0xff;
}

/** Bytes of a request frame `[id, op, epoch, …tail]` of `fieldCount` fields. */
export function requestFrameBytes(id: number, op: number, epoch: number, tail: Uint8Array): number {
  return 1 + headBytes(id) + headBytes(op) + headBytes(epoch) + tail.length;
}

/** Write a request frame `[id, op, epoch, …tail]`, `tail` being its encoded fields from the key on. */
export function writeRequestFrame(b: Uint8Array, pos: number, fieldCount: number, id: number, op: number, epoch: number, tail: Uint8Array): number {
  pos = writeHead(b, pos, 4, fieldCount);
  pos = writeHead(b, pos, 0, id);
  pos = writeHead(b, pos, 0, op);
  pos = writeHead(b, pos, 0, epoch);
  b.set(tail, pos);
  return pos + tail.length;
}

/** Bytes of an answer frame `[id, status, …fields]`. */
export function answerFrameBytes(id: number, status: number, fieldCount: number, fields: Uint8Array): number {
  return headBytes(fieldCount + 2) + headBytes(id) + headBytes(status) + fields.length;
}

/** Write an answer frame `[id, status, …fields]`, `fields` being its encoded fields after the status. */
export function writeAnswerFrame(b: Uint8Array, pos: number, id: number, status: number, fieldCount: number, fields: Uint8Array): number {
  pos = writeHead(b, pos, 4, fieldCount + 2);
  pos = writeHead(b, pos, 0, id);
  pos = writeHead(b, pos, 0, status);
  b.set(fields, pos);
  return pos + fields.length;
}

/** A raw request frame as the array the codec would give (id and epoch 0), for the retrying path. */
export function requestFrameArray(fieldCount: number, op: number, tail: Uint8Array): unknown[] {
  const b = Buffer.allocUnsafe(requestFrameBytes(0, op, 0, tail));
  writeRequestFrame(b, 0, fieldCount, 0, op, 0, tail);
  const { value } = decodeCbor(b);
  return value as unknown[];
}

/** A raw answer as the codec's `Response` (id 0), for the retrying path. */
export function answerResponse(status: number, fieldCount: number, fields: Uint8Array): Response {
  const b = Buffer.allocUnsafe(answerFrameBytes(0, status, fieldCount, fields));
  writeAnswerFrame(b, 0, 0, status, fieldCount, fields);
  return toResponse(decodeCbor(b).value) ?? { id: 0, status, value: null, cas: 0, flags: 0, extra: undefined };
}

/** The frame between `start` and `end` of a response message as a `Response`, or null. */
export function decodeAnswerFrame(b: Uint8Array, start: number, end: number): Response | null {
  const { value, error } = decodeCbor(b.subarray(start, end));
  return error === null ? toResponse(value) : null;
}
