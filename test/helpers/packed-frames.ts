import { decodeCbor } from '../../shared/protocol/codec.js';
import { Op } from '../../shared/protocol/ops.js';
import { DURABILITY_LEVELS } from '../../shared/protocol/frames.js';
import { CBOR_HEAD_BYTES, GET_HEAD_BYTES, PackedKind, SET_DURABLE_HEAD_BYTES, SET_HEAD_BYTES, readU32, readU64 } from '../../shared/protocol/packed-layout.js';

/**
 * The request frames of a packed message as the arrays the CBOR layout carries, for a
 * scripted node: keys as UTF-8 text, values as bytes, embedded frames as they decode.
 * Test input only: a malformed message throws.
 */
export function packedFrames(data: Buffer): unknown[][] {
  const frames: unknown[][] = [];
  for (let pos = 1; pos < data.length;) {
    const kind = data[pos]!;
    if (kind === PackedKind.GET) {
      const end = pos + GET_HEAD_BYTES + data[pos + 9]!;
      frames.push([readU32(data, pos + 1), Op.GET, readU32(data, pos + 5), data.toString('utf8', pos + GET_HEAD_BYTES, end)]);
      pos = end;
    } else if (kind === PackedKind.SET || kind === PackedKind.SET_DURABLE) {
      const head = kind === PackedKind.SET ? SET_HEAD_BYTES : SET_DURABLE_HEAD_BYTES;
      const keyEnd = pos + head + data[pos + 25]!;
      const end = keyEnd + readU32(data, pos + 26);
      const frame: unknown[] = [
        readU32(data, pos + 1), Op.SET, readU32(data, pos + 5), data.toString('utf8', pos + head, keyEnd), data.subarray(keyEnd, end),
        readU32(data, pos + 9), readU32(data, pos + 13) | 0, readU64(data, pos + 17),
      ];
      if (kind === PackedKind.SET_DURABLE) frame.push({ durability: DURABILITY_LEVELS[data[pos + 30]!] });
      frames.push(frame);
      pos = end;
    } else if (kind === PackedKind.CBOR) {
      const end = pos + CBOR_HEAD_BYTES + readU32(data, pos + 1);
      frames.push(decodeCbor(data.subarray(pos + CBOR_HEAD_BYTES, end)).value as unknown[]);
      pos = end;
    } else {
      throw new Error(`unknown packed frame kind ${kind}`);
    }
  }
  return frames;
}
