import { ErrorCode, KvError, type KvErrorCode } from '../../shared/errors.js';

/**
 * What one peer-plane frame carries (pure). Frames are CBOR arrays, kind first:
 *
 *   [0, version]                 HELLO, the first frame each side sends on a connection
 *   [1, message]                 one-way message
 *   [2, id, message]             request; answered by REPLY or FAIL with the same id
 *   [3, id, message]             reply
 *   [4, id, code, text]          failed request (code is a KvErrorCode)
 */
export const Kind = Object.freeze({
  HELLO: 0,
  MESSAGE: 1,
  REQUEST: 2,
  REPLY: 3,
  FAIL: 4,
} as const);

/** Version of the envelope spoken by this code, sent in HELLO. */
export const PEER_PROTOCOL_VERSION = 1;

export type Envelope =
  | { kind: typeof Kind.HELLO; version: number }
  | { kind: typeof Kind.MESSAGE; message: unknown }
  | { kind: typeof Kind.REQUEST; id: number; message: unknown }
  | { kind: typeof Kind.REPLY; id: number; message: unknown }
  | { kind: typeof Kind.FAIL; id: number; code: KvErrorCode; text: string };

const CODES: ReadonlySet<string> = new Set(Object.values(ErrorCode));

function isId(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

/** Validate a decoded frame. @throws KvError PROTOCOL when it is not a known envelope. */
export function parseEnvelope(frame: unknown): Envelope {
  if (!Array.isArray(frame) || frame.length < 2) throw KvError.protocol('peer frame is not an envelope array');
  const kind: unknown = frame[0];
  switch (kind) {
    case Kind.HELLO:
      if (frame.length === 2 && typeof frame[1] === 'number') return { kind, version: frame[1] };
      break;
    case Kind.MESSAGE:
      if (frame.length === 2) return { kind, message: frame[1] };
      break;
    case Kind.REQUEST:
    case Kind.REPLY:
      if (frame.length === 3 && isId(frame[1])) return { kind, id: frame[1], message: frame[2] };
      break;
    case Kind.FAIL:
      if (frame.length === 4 && isId(frame[1]) && typeof frame[3] === 'string') {
        // An unknown code from a newer peer still fails the request, as INTERNAL.
        const code = typeof frame[2] === 'string' && CODES.has(frame[2]) ? (frame[2] as KvErrorCode) : ErrorCode.INTERNAL;
        return { kind, id: frame[1], code, text: frame[3] };
      }
      break;
    default:
      throw KvError.protocol(`unknown peer frame kind ${String(kind)}`);
  }
  throw KvError.protocol(`malformed peer frame of kind ${String(kind)}`);
}

export function helloFrame(): unknown[] {
  return [Kind.HELLO, PEER_PROTOCOL_VERSION];
}

export function messageFrame(message: unknown): unknown[] {
  return [Kind.MESSAGE, message];
}

export function requestFrame(id: number, message: unknown): unknown[] {
  return [Kind.REQUEST, id, message];
}

export function replyFrame(id: number, message: unknown): unknown[] {
  return [Kind.REPLY, id, message];
}

export function failFrame(id: number, code: KvErrorCode, text: string): unknown[] {
  return [Kind.FAIL, id, code, text];
}
