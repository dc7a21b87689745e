import { crc32 } from 'node:zlib';
import { Decoder, Encoder } from 'cbor-x';

/**
 * The hint log's format (pure): `<dataDir>/hints.log` holds frames of
 * `[u32 BE length][u32 BE crc32][CBOR body]`, one hint each. `HintStore` (hint-store.ts)
 * appends, compacts and loads it.
 */

/** `[unit, seq, key, value | null, flags, expAt]`: the item's state after the write (as streamed). */
export type HintRecord = [unit: number, seq: number, key: Uint8Array, value: Uint8Array | null, flags: number, expAt: number];

export interface Hint {
  /** In-memory id, for removal. */
  readonly id: number;
  /** Peer key (hex) of the replica the record was meant for. */
  readonly intended: string;
  /** Map epoch when the hint was made. */
  readonly epoch: number;
  /** When the fallback stored it (ms since the epoch). */
  readonly storedAt: number;
  readonly record: HintRecord;
  /** Bytes it takes in the log (and is charged against `maxBytes`). */
  readonly bytes: number;
  /** Nodes that already took it (applied or found it stale); not persisted. */
  done?: Set<string>;
}

export const HINT_LOG_FILE = 'hints.log';
const HEADER_BYTES = 8;

const encoder = new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false });

/** Encode one log frame: header (length, crc32 of the body) and the CBOR body. */
export function encodeHintFrame(body: unknown[]): Buffer {
  const payload = encoder.encode(body);
  const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.writeUInt32BE(crc32(payload), 4);
  frame.set(payload, HEADER_BYTES);
  return frame;
}

/**
 * Parse a hint log (pure). Stops at the first frame that is truncated, oversized, fails
 * its checksum or does not decode to a hint; `goodBytes` is where the valid prefix ends.
 */
export function parseHintLog(data: Uint8Array, maxHintBytes: number): { entries: Array<Omit<Hint, 'id'>>; goodBytes: number } {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const entries: Array<Omit<Hint, 'id'>> = [];
  let at = 0;
  while (at + HEADER_BYTES <= buf.length) {
    const len = buf.readUInt32BE(at);
    if (len === 0 || HEADER_BYTES + len > maxHintBytes || at + HEADER_BYTES + len > buf.length) break;
    const payload = buf.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len);
    if (crc32(payload) !== buf.readUInt32BE(at + 4)) break;
    let body: unknown;
    try {
      body = decoder.decode(payload);
    } catch {
      break;
    }
    const e = hintOf(body, HEADER_BYTES + len);
    if (e === null) break;
    entries.push(e);
    at += HEADER_BYTES + len;
  }
  return { entries, goodBytes: at };
}

function hintOf(b: unknown, bytes: number): Omit<Hint, 'id'> | null {
  if (!Array.isArray(b) || b.length !== 9) return null;
  const [intended, epoch, storedAt, unit, seq, key, value, flags, expAt] = b as unknown[];
  if (typeof intended !== 'string' || !isUint(epoch) || !isUint(storedAt) || !isUint(unit) || !isUint(seq) || !(key instanceof Uint8Array)
    || !(value === null || value instanceof Uint8Array) || !isUint(flags) || !isUint(expAt)) return null;
  return { intended, epoch, storedAt, record: [unit, seq, key, value, flags, expAt], bytes };
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
