import { Decoder, Encoder } from 'cbor-x';
import { KvError } from '../../shared/errors.js';

/**
 * Peer-plane framing (pure, no sockets): each frame is a u32 big-endian body length
 * followed by that many bytes of CBOR. A zero length, a length over the limit, or a
 * body that is not exactly one CBOR item is a protocol error; the decoder then refuses
 * any further input (the connection it reads is to be dropped).
 */

/** Bytes of the length prefix. */
export const FRAME_HEADER_BYTES = 4;

const encoder = new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false });

/** Encode one value as a frame. @throws KvError TOO_LARGE when the body exceeds `maxFrameBytes`. */
export function encodeFrame(value: unknown, maxFrameBytes: number): Buffer {
  const body = encoder.encode(value);
  if (body.length > maxFrameBytes) {
    throw KvError.tooLarge(`peer frame of ${body.length} bytes exceeds the ${maxFrameBytes}-byte limit`);
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + body.length);
  frame.writeUInt32BE(body.length, 0);
  frame.set(body, FRAME_HEADER_BYTES);
  return frame;
}

/** Decode one CBOR body. @throws KvError PROTOCOL when it is not exactly one CBOR item. */
export function decodeBody(body: Uint8Array): unknown {
  try {
    return decoder.decode(body);
  } catch (err) {
    throw KvError.protocol(`malformed peer frame: ${err instanceof Error ? err.message : String(err)}`, err);
  }
}

/**
 * Incremental frame reader for one connection: `push` every chunk received, get back the
 * decoded values of every frame completed by it.
 */
export class FrameDecoder {
  private readonly maxFrameBytes: number;
  // Chunks not yet consumed; joined only once a whole frame is there, so a large frame
  // arriving in many chunks is copied once, not once per chunk.
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failure: KvError | null = null;

  constructor(maxFrameBytes: number) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes received but not yet part of a complete frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Consume a chunk. @throws KvError PROTOCOL (zero length, bad CBOR) or TOO_LARGE
   * (declared length over the limit, found as soon as the header arrives, before the
   * body is buffered). After a throw every later call throws the same error.
   */
  push(chunk: Uint8Array): unknown[] {
    if (this.failure !== null) throw this.failure;
    if (chunk.byteLength === 0) return [];
    this.chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    this.buffered += chunk.byteLength;
    const out: unknown[] = [];
    try {
      for (;;) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        if (this.chunks[0]!.length < FRAME_HEADER_BYTES) this.join();
        const length = this.chunks[0]!.readUInt32BE(0);
        if (length === 0) throw KvError.protocol('malformed peer frame: zero length');
        if (length > this.maxFrameBytes) {
          throw KvError.tooLarge(`peer frame of ${length} bytes exceeds the ${this.maxFrameBytes}-byte limit`);
        }
        const end = FRAME_HEADER_BYTES + length;
        if (this.buffered < end) break;
        if (this.chunks[0]!.length < end) this.join();
        const head = this.chunks[0]!;
        out.push(decodeBody(head.subarray(FRAME_HEADER_BYTES, end)));
        this.buffered -= end;
        if (head.length === end) this.chunks.shift();
        else this.chunks[0] = head.subarray(end);
      }
    } catch (err) {
      this.failure = err as KvError;
      this.chunks = [];
      this.buffered = 0;
      throw err;
    }
    return out;
  }

  private join(): void {
    this.chunks = [Buffer.concat(this.chunks, this.buffered)];
  }
}
