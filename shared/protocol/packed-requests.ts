import { Buffer } from 'node:buffer';
import { Status, type StatusCode } from '../status.js';
import { Op } from './ops.js';
import { PROTOCOL_DEFAULTS, type ProtocolLimits } from './limits.js';
import type { DecodedMessage } from './codec.js';
import { blankRequest, decodeCbor, encodeFrame, readRequestFrame } from './codec.js';
import { DURABILITY_LEVELS, type Durability, type FrameError } from './frames.js';
import {
  CBOR_HEAD_BYTES, GET_HEAD_BYTES, PACKED_MAX_KEY_BYTES, PACKED_V1, PackedKind as K, SET_DURABLE_HEAD_BYTES, SET_HEAD_BYTES, UINT32_MAX,
  isU32, readU32, readU64, writeU32, writeU64,
} from './packed-layout.js';

/*
 * Requests in the packed layout (packed-layout.ts, docs/protocol.md §16): the builders a
 * lane writes a batch with, and the reader a node decodes one with. A frame the layout
 * has no fields for (any op but a plain GET or SET, a SET with a durability to a server
 * that does not read SET_DURABLE, a key longer than 255 bytes, a TTL beyond 32 bits, …)
 * is embedded as CBOR, so every request frame can be sent.
 */

const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;
/** The answer to a SET_DURABLE frame whose durability byte names no level (as the CBOR check words it). */
const DURABILITY_MESSAGE = 'durability must be "none", "majority", "persist" or "persistMajority"';

/** UTF-8 byte length of a key or value string, with an ASCII fast path. */
function utf8Length(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return Buffer.byteLength(s, 'utf8');
  return s.length;
}

function byteLength(v: unknown): number {
  if (typeof v === 'string') return utf8Length(v);
  if (v instanceof Uint8Array) return v.length;
  return -1;
}

/** The cas of a request frame as a number a uint64 field holds exactly, or -1. */
function casOf(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : -1;
  if (typeof v === 'bigint') return v >= 0n && v <= BigInt(MAX_SAFE) ? Number(v) : -1;
  return -1;
}

/**
 * The SET_DURABLE code of a SET's `extra` when it holds a known durability and nothing
 * else, or -1 (the frame then goes as CBOR).
 */
function durabilityCode(extra: unknown): number {
  if (typeof extra !== 'object' || extra === null || Object.getPrototypeOf(extra) !== Object.prototype) return -1;
  let code = -1;
  for (const k in extra) {
    if (k !== 'durability' || code !== -1) return -1;
    code = DURABILITY_LEVELS.indexOf((extra as { durability: unknown }).durability as Durability);
    if (code < 0) return -1;
  }
  return code;
}

/**
 * Bytes the request `frame` (`[id, op, epoch, key, …]`, see `RequestField`) takes in the
 * packed layout, or -1 when it must be embedded as CBOR instead. `hasDurable`: the server
 * reads SET_DURABLE, so a SET whose `extra` is only a durability is packed too.
 */
export function packedRequestBytes(frame: readonly unknown[], hasDurable = false): number {
  const op = frame[1];
  if (!isU32(frame[0]) || frame[0] === 0 || !isU32(frame[2])) return -1;
  if (op === Op.GET) {
    if (frame.length !== 4) return -1;
    const keyBytes = byteLength(frame[3]);
    return keyBytes < 1 || keyBytes > PACKED_MAX_KEY_BYTES ? -1 : GET_HEAD_BYTES + keyBytes;
  }
  if (op === Op.SET) {
    let head = SET_HEAD_BYTES;
    if (frame.length > 9) return -1;
    if (frame.length === 9 && frame[8] != null) {
      if (!hasDurable || durabilityCode(frame[8]) < 0) return -1;
      head = SET_DURABLE_HEAD_BYTES;
    }
    const keyBytes = byteLength(frame[3]);
    const valueBytes = byteLength(frame[4]);
    const flags = frame[5] ?? 0;
    const exptime = frame[6] ?? 0;
    if (keyBytes < 1 || keyBytes > PACKED_MAX_KEY_BYTES || valueBytes < 0 || valueBytes > UINT32_MAX) return -1;
    if (!isU32(flags) || typeof exptime !== 'number' || !Number.isInteger(exptime) || exptime < INT32_MIN || exptime > INT32_MAX) return -1;
    if (casOf(frame[7]) < 0) return -1;
    return head + keyBytes + valueBytes;
  }
  return -1;
}

/** `packedRequestBytes` for a server that reads SET_DURABLE. */
function packedRequestBytesDurable(frame: readonly unknown[]): number {
  return packedRequestBytes(frame, true);
}

/** Write a string or bytes at `at`; returns the position after it. */
function writeBytes(out: Buffer, at: number, v: string | Uint8Array, n: number): number {
  if (typeof v !== 'string') {
    out.set(v, at);
    return at + n;
  }
  if (n === v.length) {
    for (let i = 0; i < n; i++) out[at + i] = v.charCodeAt(i);
    return at + n;
  }
  return at + out.write(v, at, n, 'utf8');
}

/**
 * Write `frame`, for which `packedRequestBytes` gave `size` ≥ 0, at `pos`; returns the
 * position after it.
 */
export function writePackedRequest(out: Buffer, pos: number, frame: readonly unknown[], size: number): number {
  const key = frame[3] as string | Uint8Array;
  if (frame[1] === Op.GET) {
    const keyBytes = size - GET_HEAD_BYTES;
    out[pos] = K.GET;
    writeU32(out, pos + 1, frame[0] as number);
    writeU32(out, pos + 5, frame[2] as number);
    out[pos + 9] = keyBytes;
    return writeBytes(out, pos + GET_HEAD_BYTES, key, keyBytes);
  }
  const value = frame[4] as string | Uint8Array;
  const valueBytes = typeof value === 'string' ? utf8Length(value) : value.length;
  // `packedRequestBytes` accepted the frame: an `extra` here is a known durability alone.
  const extra = frame.length === 9 ? frame[8] as { durability: Durability } | null | undefined : null;
  const code = extra == null ? -1 : DURABILITY_LEVELS.indexOf(extra.durability);
  const head = code < 0 ? SET_HEAD_BYTES : SET_DURABLE_HEAD_BYTES;
  const keyBytes = size - head - valueBytes;
  out[pos] = code < 0 ? K.SET : K.SET_DURABLE;
  writeU32(out, pos + 1, frame[0] as number);
  writeU32(out, pos + 5, frame[2] as number);
  writeU32(out, pos + 9, (frame[5] as number | undefined) ?? 0);
  writeU32(out, pos + 13, ((frame[6] as number | undefined) ?? 0) >>> 0);
  writeU64(out, pos + 17, casOf(frame[7]));
  out[pos + 25] = keyBytes;
  writeU32(out, pos + 26, valueBytes);
  if (code >= 0) out[pos + 30] = code;
  const at = writeBytes(out, pos + head, key, keyBytes);
  return writeBytes(out, at, value, valueBytes);
}

/** Write an embedded CBOR frame (`encoded` is its CBOR bytes) at `pos`; returns the position after it. */
export function writeCborFrame(out: Buffer, pos: number, encoded: Uint8Array): number {
  out[pos] = K.CBOR;
  writeU32(out, pos + 1, encoded.length);
  out.set(encoded, pos + CBOR_HEAD_BYTES);
  return pos + CBOR_HEAD_BYTES + encoded.length;
}

/**
 * One packed message holding `frames` (request arrays with their id and epoch written):
 * GET and SET in their packed form, every other frame embedded as CBOR. `hasDurable`:
 * the server reads SET_DURABLE (it offered `PACKED_DURABLE_TOKEN`).
 */
export function encodePackedRequests(frames: ReadonlyArray<readonly unknown[]>, hasDurable = false): Buffer {
  return encodePackedMessage(frames, hasDurable ? packedRequestBytesDurable : packedRequestBytes, writePackedRequest);
}

/**
 * One packed message holding `frames` in order: each in its packed form where `bytesOf`
 * gives its size (≥ 0) and `write` lays it out, every other one embedded as CBOR.
 * Requests and answers both use it.
 */
export function encodePackedMessage(
  frames: ReadonlyArray<readonly unknown[]>,
  bytesOf: (f: readonly unknown[]) => number,
  write: (out: Buffer, pos: number, f: readonly unknown[], size: number) => number,
): Buffer {
  const n = frames.length;
  const sizes = new Array<number>(n);
  let embedded: Array<Uint8Array | undefined> | null = null;
  let total = 1;
  for (let i = 0; i < n; i++) {
    const f = frames[i]!;
    const size = bytesOf(f);
    sizes[i] = size;
    if (size >= 0) {
      total += size;
    } else {
      embedded ??= new Array<Uint8Array | undefined>(n);
      const e = encodeFrame(f);
      embedded[i] = e;
      total += CBOR_HEAD_BYTES + e.length;
    }
  }
  const out = Buffer.allocUnsafe(total);
  out[0] = PACKED_V1;
  let pos = 1;
  for (let i = 0; i < n; i++) {
    const size = sizes[i]!;
    pos = size >= 0 ? write(out, pos, frames[i]!, size) : writeCborFrame(out, pos, embedded![i]!);
  }
  return out;
}

function fatal(status: StatusCode, message: string): DecodedMessage {
  return { requests: [], errors: [], fatal: { id: 0, status, message } };
}

function keyError(id: number, keyBytes: number, limits: ProtocolLimits): FrameError | null {
  if (keyBytes === 0) return { id, status: Status.BAD_REQUEST, message: 'key must not be empty' };
  if (keyBytes > limits.maxKeyBytes) return { id, status: Status.TOO_LARGE, message: `key of ${keyBytes} bytes exceeds ${limits.maxKeyBytes}` };
  return null;
}

/**
 * Decode and validate a request message in the packed layout (its first byte is
 * `PACKED_V1`). Never throws. A frame whose fields break a rule becomes a per-frame
 * BAD_REQUEST / TOO_LARGE answer, as in the CBOR layout; a message whose frames cannot
 * be told apart (truncated, an unknown kind, a frame with id 0, an embedded frame that
 * is not readable CBOR) is fatal: nothing of it runs.
 */
export function decodePackedRequests(data: Uint8Array, limits: ProtocolLimits = PROTOCOL_DEFAULTS): DecodedMessage {
  const end = data.length;
  if (end > limits.maxMessageBytes) return fatal(Status.TOO_LARGE, `message of ${end} bytes exceeds ${limits.maxMessageBytes}`);
  if (end === 0 || data[0] !== PACKED_V1) return fatal(Status.BAD_REQUEST, 'not a packed message');
  if (end === 1) return fatal(Status.BAD_REQUEST, 'message has no frames');
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out: DecodedMessage = { requests: [], errors: [], fatal: null };
  let count = 0;
  for (let pos = 1; pos < end;) {
    if (++count > limits.maxFramesPerMessage) return fatal(Status.TOO_LARGE, `message has over ${limits.maxFramesPerMessage} frames`);
    const kind = b[pos]!;
    if (kind === K.GET) {
      if (pos + GET_HEAD_BYTES > end) return fatal(Status.BAD_REQUEST, `truncated GET frame at byte ${pos}`);
      const id = readU32(b, pos + 1);
      const keyBytes = b[pos + 9]!;
      const next = pos + GET_HEAD_BYTES + keyBytes;
      if (next > end) return fatal(Status.BAD_REQUEST, `truncated GET frame at byte ${pos}`);
      if (id === 0) return fatal(Status.BAD_REQUEST, 'frame id must be a positive integer');
      const err = keyError(id, keyBytes, limits);
      if (err !== null) {
        out.errors.push(err);
      } else {
        const req = blankRequest(id, Op.GET, readU32(b, pos + 5));
        req.key = b.toString('latin1', pos + GET_HEAD_BYTES, next);
        out.requests.push(req);
      }
      pos = next;
    } else if (kind === K.SET || kind === K.SET_DURABLE) {
      const isDurable = kind === K.SET_DURABLE;
      const head = isDurable ? SET_DURABLE_HEAD_BYTES : SET_HEAD_BYTES;
      if (pos + head > end) return fatal(Status.BAD_REQUEST, `truncated SET frame at byte ${pos}`);
      const id = readU32(b, pos + 1);
      const keyBytes = b[pos + 25]!;
      const valueBytes = readU32(b, pos + 26);
      const keyEnd = pos + head + keyBytes;
      const next = keyEnd + valueBytes;
      if (next > end) return fatal(Status.BAD_REQUEST, `truncated SET frame at byte ${pos}`);
      if (id === 0) return fatal(Status.BAD_REQUEST, 'frame id must be a positive integer');
      const durability = isDurable ? DURABILITY_LEVELS[b[pos + 30]!] : 'none';
      const err = keyError(id, keyBytes, limits)
        ?? (valueBytes > limits.maxValueBytes ? { id, status: Status.TOO_LARGE, message: `value of ${valueBytes} bytes exceeds ${limits.maxValueBytes}` } : null)
        ?? (durability === undefined ? { id, status: Status.BAD_REQUEST, message: DURABILITY_MESSAGE } : null);
      if (err !== null) {
        out.errors.push(err);
      } else {
        const req = blankRequest(id, Op.SET, readU32(b, pos + 5));
        req.flags = readU32(b, pos + 9);
        req.exptime = readU32(b, pos + 13) | 0;
        req.cas = readU64(b, pos + 17);
        req.key = b.toString('latin1', pos + head, keyEnd);
        req.value = b.subarray(keyEnd, next);
        req.durability = durability!;
        out.requests.push(req);
      }
      pos = next;
    } else if (kind === K.CBOR) {
      if (pos + CBOR_HEAD_BYTES > end) return fatal(Status.BAD_REQUEST, `truncated CBOR frame at byte ${pos}`);
      const next = pos + CBOR_HEAD_BYTES + readU32(b, pos + 1);
      if (next > end) return fatal(Status.BAD_REQUEST, `truncated CBOR frame at byte ${pos}`);
      const { value, error } = decodeCbor(b.subarray(pos + CBOR_HEAD_BYTES, next));
      if (error !== null) return fatal(Status.BAD_REQUEST, `malformed CBOR frame at byte ${pos}: ${error}`);
      const r = readRequestFrame(value, limits);
      if (r === null) return fatal(Status.BAD_REQUEST, 'frame must be an array starting with a positive integer id');
      if ('status' in r) out.errors.push(r);
      else out.requests.push(r);
      pos = next;
    } else {
      return fatal(Status.BAD_REQUEST, `unknown packed frame kind 0x${kind.toString(16).padStart(2, '0')} at byte ${pos}`);
    }
  }
  return out;
}
