import { bucketOfBinary } from '../../../shared/keystream.js';
import type { DiskEntry } from './read-cache.js';
import { INDEX_BUCKET_BITS } from './types.js';

/**
 * An item as the disk engine stores it in lmdb: a 16-byte header, then the value.
 * `[u32 flags][u32 expAt][f64 cas][value…]`, little-endian. Keys are the key bytes.
 *
 * An entry is built once in this form (`makeEntry`) and the same bytes are what a commit
 * hands lmdb: a write copies its value once, into the record, and nothing is encoded again
 * at commit. `value` is a view into the record.
 */
export const RECORD_HEADER_BYTES = 16;

/** A new entry holding a copy of `value` (or of `head` then `tail`, for append and prepend). */
export function makeEntry(value: Uint8Array, flags: number, expAt: number, cas: number, tail?: Uint8Array): DiskEntry {
  const length = value.length + (tail?.length ?? 0);
  // allocUnsafe: records under 4 KiB are carved from Node's shared pool, not allocated each.
  const record = Buffer.allocUnsafe(RECORD_HEADER_BYTES + length);
  record.writeUInt32LE(flags >>> 0, 0);
  record.writeUInt32LE(expAt >>> 0, 4);
  record.writeDoubleLE(cas, 8);
  record.set(value, RECORD_HEADER_BYTES);
  if (tail !== undefined) record.set(tail, RECORD_HEADER_BYTES + value.length);
  return { record, value: record.subarray(RECORD_HEADER_BYTES), flags, expAt, cas };
}

/** The entry a stored record holds (sharing its bytes); null when it is too short to be one. */
export function decodeEntry(b: Buffer): DiskEntry | null {
  if (b.length < RECORD_HEADER_BYTES) return null;
  return { record: b, value: b.subarray(RECORD_HEADER_BYTES), flags: b.readUInt32LE(0), expAt: b.readUInt32LE(4), cas: b.readDoubleLE(8) };
}

/** The key bytes of a binary-string key. */
export function keyBytes(key: string): Buffer {
  return Buffer.from(key, 'latin1');
}

/** Buckets of the index: its ranges end at this at most. */
export const INDEX_BUCKETS = 2 ** INDEX_BUCKET_BITS;

/** A key's entry in the bucket index: `[u16 bucket at INDEX_BUCKET_BITS, big-endian][key bytes]`. */
export function indexKey(key: string): Buffer {
  const b = Buffer.allocUnsafe(2 + key.length);
  b.writeUInt16BE(bucketOfBinary(key, INDEX_BUCKET_BITS), 0);
  b.write(key, 2, 'latin1');
  return b;
}

/** Where the bucket index's entries of `bucket` start (`INDEX_BUCKETS`: past the end, undefined). */
export function indexStart(bucket: number): Buffer | undefined {
  if (bucket >= INDEX_BUCKETS) return undefined;
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16BE(bucket, 0);
  return b;
}

/** A unit number as a 4-byte big-endian lmdb key (so units sort in order). */
export function unitKey(unit: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(unit >>> 0, 0);
  return b;
}

/** A unit mark as stored: `[f64 seq][print, latin1]`. */
export function encodeMark(seq: number, print: string | null): Buffer {
  const p = print === null ? Buffer.alloc(0) : Buffer.from(print, 'latin1');
  const out = Buffer.allocUnsafe(8 + p.length);
  out.writeDoubleLE(seq, 0);
  out.set(p, 8);
  return out;
}

export function decodeMark(b: Buffer): { seq: number; print: string | null } | null {
  if (b.length < 8) return null;
  const seq = b.readDoubleLE(0);
  if (!Number.isSafeInteger(seq) || seq < 0) return null;
  return { seq, print: b.length > 8 ? b.subarray(8).toString('latin1') : null };
}
