/**
 * The packed layout (docs/protocol.md §16): GET and SET requests and their answers as
 * fixed binary fields instead of CBOR, for the hottest ops. A message in this layout
 * starts with its version byte, which no CBOR message a node accepts can start with (a
 * CBOR message is an array: first byte 0x80–0x9f, or a tag 0xc0–0xdf around one), so the
 * two layouts share a connection and a node tells them apart by the first byte. Every
 * other op travels inside a packed message as an embedded CBOR frame.
 *
 * All integers are little-endian. Pure constants and checks; no I/O.
 */

/** First byte of a message in the packed layout, version 1. */
export const PACKED_V1 = 0x01;

/**
 * The header of a node's WebSocket upgrade answer that lists the packed layouts it reads
 * (comma-separated). A client writes packed messages only to a server that sent it: an
 * older node, or the proxy, gets CBOR.
 */
export const LAYOUTS_HEADER = 'pandakv-layouts';
/** The token of layout version 1 in `LAYOUTS_HEADER`. */
export const PACKED_V1_TOKEN = 'packed1';

/**
 * The token, in `LAYOUTS_HEADER`, of a server that also reads `SET_DURABLE` frames: a SET
 * with a durability travels packed to it (a server without it gets such a SET as CBOR).
 */
export const PACKED_DURABLE_TOKEN = 'packed1-durable';

/** True when an upgrade answer's `LAYOUTS_HEADER` value names `token`. */
export function offersLayout(header: string | string[] | undefined, token: string): boolean {
  if (header === undefined) return false;
  const text = Array.isArray(header) ? header.join(',') : header;
  return text.split(',').some((t) => t.trim() === token);
}

/** True when an upgrade answer's `LAYOUTS_HEADER` value names layout version 1. */
export function offersPackedV1(header: string | string[] | undefined): boolean {
  return offersLayout(header, PACKED_V1_TOKEN);
}

/** How a lane writes its requests: one CBOR array per message, or the packed layout. */
export type WireLayout = 'cbor' | 'packed';

/** The kind byte that starts each frame of a packed message. */
export const PackedKind = Object.freeze({
  /** Any frame, request or answer, as one CBOR array: `kind, length u32, CBOR bytes`. */
  CBOR: 0x00,
  /** Request `[id, GET, epoch, key]`: `kind, id u32, epoch u32, keyLength u8, key`. */
  GET: 0x01,
  /**
   * Request `[id, SET, epoch, key, value, flags, exptime, cas]`: `kind, id u32, epoch u32,
   * flags u32, exptime i32, cas u64, keyLength u8, valueLength u32, key, value`.
   */
  SET: 0x03,
  /**
   * Request `[id, SET, epoch, key, value, flags, exptime, cas, {durability}]`: the SET
   * fields, then `durability u8` (its index in `DURABILITY_LEVELS`), then key and value.
   * Only to a server that offers `PACKED_DURABLE_TOKEN`.
   */
  SET_DURABLE: 0x04,
  /** Answer `[id, OK, value, cas, flags]`: `kind, id u32, cas u64, flags u32, valueLength u32, value`. */
  ITEM: 0x10,
  /** Answer `[id, status]`: `kind, id u32, status u8`. */
  STATUS: 0x11,
  /** Answer `[id, OK, null, cas]`: `kind, id u32, cas u64`. */
  STORED: 0x12,
} as const);

/** Bytes before the key of a GET request. */
export const GET_HEAD_BYTES = 10;
/** Bytes before the key of a SET request. */
export const SET_HEAD_BYTES = 30;
/** Bytes before the key of a SET_DURABLE request. */
export const SET_DURABLE_HEAD_BYTES = 31;
/** Bytes before the CBOR bytes of an embedded CBOR frame. */
export const CBOR_HEAD_BYTES = 5;
/** Bytes before the value of an ITEM answer. */
export const ITEM_HEAD_BYTES = 21;
/** Bytes of a STATUS answer. */
export const STATUS_BYTES = 6;
/** Bytes of a STORED answer. */
export const STORED_BYTES = 13;

/** Largest id, epoch, flags, value length a packed field holds. */
export const UINT32_MAX = 0xffffffff;
/** Longest key a packed request holds (its length is one byte). */
export const PACKED_MAX_KEY_BYTES = 255;

const TWO_32 = 0x100000000;

/** True when `data` is a message in the packed layout (by its first byte). */
export function isPackedMessage(data: Uint8Array): boolean {
  return data.length > 0 && data[0] === PACKED_V1;
}

/** A uint32 at `at`, little-endian (the caller checked the bounds). */
export function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16)) + b[at + 3]! * 0x1000000;
}

/** Write `v` (0 … 2^32 − 1) at `at`, little-endian; returns the position after it. */
export function writeU32(b: Uint8Array, at: number, v: number): number {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = v >>> 24;
  return at + 4;
}

/** A uint64 at `at` (low word first) as a number; exact below 2^53, rounded above. */
export function readU64(b: Uint8Array, at: number): number {
  return readU32(b, at) + readU32(b, at + 4) * TWO_32;
}

/** Write `v` (a safe unsigned integer) as a uint64 at `at`, low word first; returns the position after it. */
export function writeU64(b: Uint8Array, at: number, v: number): number {
  const hi = Math.floor(v / TWO_32);
  writeU32(b, at, v - hi * TWO_32);
  return writeU32(b, at + 4, hi);
}

/** True for an integer id, epoch or flags value a uint32 field holds. */
export function isU32(v: unknown): v is number {
  return typeof v === 'number' && (v >>> 0) === v;
}
