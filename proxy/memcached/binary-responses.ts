import type { McReply } from './responses.js';
import { BinStatus, HEADER_BYTES, RESPONSE_MAGIC, isErrorStatus, type BinHeader } from './binary-protocol.js';

const EMPTY = new Uint8Array(0);

/** The parts of one binary response; absent parts are empty. */
export interface BinPacket {
  status?: number;
  cas?: bigint;
  extras?: Uint8Array;
  key?: Uint8Array;
  value?: Uint8Array;
}

/** One response packet's chunks (header, then the body parts that are not empty). */
export function packetChunks(req: BinHeader, p: BinPacket, out: Uint8Array[] = []): Uint8Array[] {
  const extras = p.extras ?? EMPTY;
  const key = p.key ?? EMPTY;
  const value = p.value ?? EMPTY;
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h[0] = RESPONSE_MAGIC;
  h[1] = req.opcode;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h[5] = 0;
  h.writeUInt16BE(p.status ?? BinStatus.SUCCESS, 6);
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(req.opaque, 12);
  h.writeBigUInt64BE(p.cas ?? 0n, 16);
  out.push(h);
  if (extras.length > 0) out.push(extras);
  if (key.length > 0) out.push(key);
  if (value.length > 0) out.push(value);
  return out;
}

/** A reply of one packet. */
export function packet(req: BinHeader, p: BinPacket): McReply {
  return { chunks: packetChunks(req, p), isError: isErrorStatus(p.status ?? BinStatus.SUCCESS) };
}

/** A reply with a status and memcached's human-readable message as the value. */
export function statusReply(req: BinHeader, status: number, message: string, isFinal = false): McReply {
  const r = packet(req, { status, value: Buffer.from(message, 'utf8') });
  if (isFinal) r.isFinal = true;
  return r;
}

/** The 4-byte flags extras of a retrieval answer. */
export function flagsExtras(flags: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(flags >>> 0, 0);
  return b;
}

/** A counter's value as the 8-byte body of an increment/decrement answer. */
export function counterValue(value: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(value, 0);
  return b;
}
