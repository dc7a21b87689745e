import { Buffer } from 'node:buffer';
import { encodeFrame, encodeMessage } from '../shared/protocol/codec.js';
import { encodePackedRequests } from '../shared/protocol/packed-requests.js';
import { headBytes, requestFrameBytes, writeHead, writeRequestFrame } from '../shared/protocol/raw-frames.js';
import type { RawRequest } from './lane-contract.js';

/** A request as a lane sends it: an object frame, or a raw request with its id and epoch. */
export interface OutgoingFrame {
  id: number;
  /** The frame, its id already written; null for a raw request. */
  frame: unknown[] | null;
  raw: RawRequest | null;
  epoch: number;
}

/**
 * One message of a batch: in the packed layout when `isPacked` (GET and SET packed, other
 * frames embedded as CBOR; a SET with a durability packed too when `hasDurable`), else
 * the codec's encoding; built from parts when it holds raw requests (those always go as
 * CBOR).
 */
export function encodeBatch(batch: readonly OutgoingFrame[], isPacked = false, hasDurable = false): Uint8Array {
  let hasRaw = false;
  for (const p of batch) if (p.raw !== null) hasRaw = true;
  if (!hasRaw) {
    const frames = batch.map((p) => p.frame!);
    return isPacked ? encodePackedRequests(frames, hasDurable) : encodeMessage(frames);
  }
  const encoded: Array<Uint8Array | null> = new Array(batch.length);
  let size = headBytes(batch.length);
  for (let i = 0; i < batch.length; i++) {
    const p = batch[i]!;
    if (p.raw !== null) {
      encoded[i] = null;
      size += requestFrameBytes(p.id, p.raw.op, p.epoch, p.raw.tail);
    } else {
      const e = encodeFrame(p.frame!);
      encoded[i] = e;
      size += e.length;
    }
  }
  const out = Buffer.allocUnsafe(size);
  let pos = writeHead(out, 0, 4, batch.length);
  for (let i = 0; i < batch.length; i++) {
    const p = batch[i]!;
    const e = encoded[i];
    if (e == null) {
      pos = writeRequestFrame(out, pos, p.raw!.fieldCount, p.id, p.raw!.op, p.epoch, p.raw!.tail);
    } else {
      out.set(e, pos);
      pos += e.length;
    }
  }
  return out;
}
