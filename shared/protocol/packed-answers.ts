import { Buffer } from 'node:buffer';
import { Status } from '../status.js';
import { decodeCbor, toResponse } from './codec.js';
import type { Response } from './frames.js';
import {
  CBOR_HEAD_BYTES, ITEM_HEAD_BYTES, PACKED_V1, PackedKind as K, STATUS_BYTES, STORED_BYTES, UINT32_MAX,
  isU32, readU32, readU64, writeU32, writeU64,
} from './packed-layout.js';
import { encodePackedMessage } from './packed-requests.js';

/*
 * Answers in the packed layout (packed-layout.ts, docs/protocol.md §16): the node writes
 * the answers to packed messages with `encodePackedAnswers`, picking the packed form by
 * the answer's shape (a found item, a bare status, a stored write) and embedding every
 * other answer as CBOR; a lane reads them with `decodePackedAnswers`.
 */

function isCas(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Bytes the answer `f` (`[id, status, value?, cas?, flags?, extra?]`) takes packed, or -1 when it goes as CBOR. */
export function packedAnswerBytes(f: readonly unknown[]): number {
  if (!isU32(f[0])) return -1;
  const status = f[1];
  switch (f.length) {
    case 2:
      return typeof status === 'number' && status >= 0 && status <= 0xff && Number.isInteger(status) ? STATUS_BYTES : -1;
    case 4:
      return status === Status.OK && f[2] === null && isCas(f[3]) ? STORED_BYTES : -1;
    case 5: {
      const value = f[2];
      return status === Status.OK && value instanceof Uint8Array && value.length <= UINT32_MAX && isCas(f[3]) && isU32(f[4])
        ? ITEM_HEAD_BYTES + value.length : -1;
    }
    default:
      return -1;
  }
}

/** Write the answer `f`, for which `packedAnswerBytes` gave `size` ≥ 0, at `pos`; returns the position after it. */
export function writePackedAnswer(out: Buffer, pos: number, f: readonly unknown[], size: number): number {
  const id = f[0] as number;
  if (size === STATUS_BYTES && f.length === 2) {
    out[pos] = K.STATUS;
    writeU32(out, pos + 1, id);
    out[pos + 5] = f[1] as number;
    return pos + STATUS_BYTES;
  }
  if (f.length === 4) {
    out[pos] = K.STORED;
    writeU32(out, pos + 1, id);
    return writeU64(out, pos + 5, f[3] as number);
  }
  const value = f[2] as Uint8Array;
  out[pos] = K.ITEM;
  writeU32(out, pos + 1, id);
  writeU64(out, pos + 5, f[3] as number);
  writeU32(out, pos + 13, f[4] as number);
  writeU32(out, pos + 17, value.length);
  out.set(value, pos + ITEM_HEAD_BYTES);
  return pos + ITEM_HEAD_BYTES + value.length;
}

/** One packed message holding the answers `frames`, in order. */
export function encodePackedAnswers(frames: ReadonlyArray<readonly unknown[]>): Buffer {
  return encodePackedMessage(frames, packedAnswerBytes, writePackedAnswer);
}

/**
 * Decode an answer message in the packed layout. Throws nothing; null when the message
 * is not a well-formed list of answers (truncated, an unknown kind, an embedded frame
 * that is not an answer): the lane must then be closed. Values are views into `data`.
 */
export function decodePackedAnswers(data: Uint8Array): Response[] | null {
  const end = data.length;
  if (end < 2 || data[0] !== PACKED_V1) return null;
  const b = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const out: Response[] = [];
  for (let pos = 1; pos < end;) {
    const kind = b[pos]!;
    if (kind === K.ITEM) {
      if (pos + ITEM_HEAD_BYTES > end) return null;
      const valueEnd = pos + ITEM_HEAD_BYTES + readU32(b, pos + 17);
      if (valueEnd > end) return null;
      out.push({ id: readU32(b, pos + 1), status: Status.OK, value: b.subarray(pos + ITEM_HEAD_BYTES, valueEnd), cas: readU64(b, pos + 5), flags: readU32(b, pos + 13), extra: undefined });
      pos = valueEnd;
    } else if (kind === K.STATUS) {
      if (pos + STATUS_BYTES > end) return null;
      out.push({ id: readU32(b, pos + 1), status: b[pos + 5]!, value: undefined, cas: 0, flags: 0, extra: undefined });
      pos += STATUS_BYTES;
    } else if (kind === K.STORED) {
      if (pos + STORED_BYTES > end) return null;
      out.push({ id: readU32(b, pos + 1), status: Status.OK, value: null, cas: readU64(b, pos + 5), flags: 0, extra: undefined });
      pos += STORED_BYTES;
    } else if (kind === K.CBOR) {
      if (pos + CBOR_HEAD_BYTES > end) return null;
      const next = pos + CBOR_HEAD_BYTES + readU32(b, pos + 1);
      if (next > end) return null;
      const { value, error } = decodeCbor(b.subarray(pos + CBOR_HEAD_BYTES, next));
      const r = error === null ? toResponse(value) : null;
      if (r === null) return null;
      out.push(r);
      pos = next;
    } else {
      return null;
    }
  }
  return out;
}
