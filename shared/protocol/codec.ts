import { Decoder, Encoder } from 'cbor-x';
import { Status, type StatusCode } from '../status.js';
import { Op, opName, isKeyedOp, type OpCode } from './ops.js';
import { readWireRanges } from '../bucket-ranges.js';
import { readBackupArgs } from './backup-args.js';
import { PROTOCOL_DEFAULTS, type ProtocolLimits } from './limits.js';
import { DURABILITY_LEVELS, RequestField as F, type Durability, type FrameError, type Request, type Response } from './frames.js';
import { utf8ToBinary, isAsciiString, bytesToBinary } from './binary-key.js';

const encoder = new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** Encode a list of frames (arrays) as one message. */
export function encodeMessage(frames: readonly unknown[]): Uint8Array {
  return encoder.encode(frames);
}

/** Outcome of decoding one message. `fatal` set means the stream is unusable: answer it and close. */
export interface DecodedMessage {
  requests: Request[];
  errors: FrameError[];
  fatal: FrameError | null;
}

function fatal(status: StatusCode, message: string): DecodedMessage {
  return { requests: [], errors: [], fatal: { id: 0, status, message } };
}

/** Decode raw CBOR without throwing; `undefined` with `error` set on failure. */
export function decodeCbor(data: Uint8Array): { value: unknown; error: string | null } {
  try {
    return { value: decoder.decode(data), error: null };
  } catch (err) {
    return { value: undefined, error: err instanceof Error ? err.message : 'undecodable' };
  }
}

/**
 * Decode and validate a request message. Never throws: malformed input becomes
 * per-frame BAD_REQUEST / TOO_LARGE answers, or a fatal error when no frame id is usable.
 */
export function decodeRequests(data: Uint8Array, limits: ProtocolLimits = PROTOCOL_DEFAULTS): DecodedMessage {
  if (data.length > limits.maxMessageBytes) return fatal(Status.TOO_LARGE, `message of ${data.length} bytes exceeds ${limits.maxMessageBytes}`);
  const { value, error } = decodeCbor(data);
  if (error !== null) return fatal(Status.BAD_REQUEST, `malformed CBOR: ${error}`);
  if (!Array.isArray(value)) return fatal(Status.BAD_REQUEST, 'message must be an array of frames');
  if (value.length === 0) return fatal(Status.BAD_REQUEST, 'message has no frames');
  if (value.length > limits.maxFramesPerMessage) return fatal(Status.TOO_LARGE, `message has ${value.length} frames, limit ${limits.maxFramesPerMessage}`);
  const out: DecodedMessage = { requests: [], errors: [], fatal: null };
  for (const frame of value) {
    const result = readRequestFrame(frame, limits);
    if (result === null) {
      out.fatal = { id: 0, status: Status.BAD_REQUEST, message: 'frame must be an array starting with a positive integer id' };
      return out;
    }
    if ('status' in result) out.errors.push(result);
    else out.requests.push(result);
  }
  return out;
}

/**
 * One decoded request frame, validated: the request, a per-frame error, or null when it
 * is not an array starting with a usable id (the whole message is then unusable).
 */
export function readRequestFrame(frame: unknown, limits: ProtocolLimits): Request | FrameError | null {
  if (!Array.isArray(frame) || !isFrameId(frame[F.ID])) return null;
  return validateRequest(frame, limits);
}

/** A request with every field at its default: the one shape every decoder builds. */
export function blankRequest(id: number, op: OpCode, epoch: number): Request {
  return {
    id, op, epoch, key: '', value: null, flags: 0, exptime: 0, cas: 0,
    delta: 0n, initial: undefined, end: null, limit: 0, ranges: null, rangeBits: 0, cursor: undefined, group: undefined, durability: 'none', auth: undefined, isReplicaRead: false,
  };
}

function isFrameId(id: unknown): id is number {
  return typeof id === 'number' && Number.isSafeInteger(id) && id > 0;
}

function isUint(v: unknown, max = Number.MAX_SAFE_INTEGER): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
}

const UINT64_MAX = (1n << 64n) - 1n;

function toUint64(v: unknown): bigint | null {
  if (typeof v === 'bigint') return v >= 0n && v <= UINT64_MAX ? v : null;
  if (isUint(v)) return BigInt(v);
  return null;
}

function bad(id: number, message: string): FrameError {
  return { id, status: Status.BAD_REQUEST, message };
}

/** Normalise a wire key (UTF-8 text or bytes) to a binary string; returns an error text on failure. */
function readKey(raw: unknown, maxBytes: number): string | { status: StatusCode; message: string } {
  let key: string;
  if (typeof raw === 'string') key = isAsciiString(raw) ? raw : utf8ToBinary(raw);
  else if (raw instanceof Uint8Array) key = bytesToBinary(raw);
  else return { status: Status.BAD_REQUEST, message: 'key must be a text or byte string' };
  if (key.length === 0) return { status: Status.BAD_REQUEST, message: 'key must not be empty' };
  if (key.length > maxBytes) return { status: Status.TOO_LARGE, message: `key of ${key.length} bytes exceeds ${maxBytes}` };
  return key;
}

function validateRequest(frame: unknown[], limits: ProtocolLimits): Request | FrameError {
  const id = frame[F.ID] as number;
  if (frame.length > 9) return bad(id, 'frame has too many fields');
  const op = frame[F.OP];
  if (typeof op !== 'number' || opName(op) === undefined) return bad(id, `unknown op ${String(op)}`);
  const epoch = frame[F.EPOCH] ?? 0;
  if (!isUint(epoch)) return bad(id, 'epoch must be an unsigned integer');
  const req = blankRequest(id, op as OpCode, epoch);

  const rawKey = frame[F.KEY];
  if (isKeyedOp(req.op) || ((req.op === Op.SCAN || req.op === Op.BACKUP_PAGE) && rawKey != null)) {
    const key = readKey(rawKey, limits.maxKeyBytes);
    if (typeof key !== 'string') return { id, ...key };
    req.key = key;
  } else if (rawKey != null) {
    return bad(id, `${opName(op)} takes no key`);
  }

  const rawValue = frame[F.VALUE];
  if (rawValue != null) {
    if (typeof rawValue === 'string') req.value = Buffer.from(rawValue, 'utf8');
    else if (rawValue instanceof Uint8Array) req.value = rawValue;
    else return bad(id, 'value must be a byte or text string');
    if (req.value.length > limits.maxValueBytes) return { id, status: Status.TOO_LARGE, message: `value of ${req.value.length} bytes exceeds ${limits.maxValueBytes}` };
  }
  const needsValue = op === Op.SET || op === Op.ADD || op === Op.REPLACE || op === Op.APPEND || op === Op.PREPEND;
  if (needsValue && req.value === null) return bad(id, `${opName(op)} needs a value`);

  const flags = frame[F.FLAGS] ?? 0;
  if (!isUint(flags, 0xffffffff)) return bad(id, 'flags must be an unsigned 32-bit integer');
  req.flags = flags;
  const exptime = frame[F.EXPTIME] ?? 0;
  if (typeof exptime !== 'number' || !Number.isSafeInteger(exptime)) return bad(id, 'exptime must be an integer');
  req.exptime = exptime;
  const cas = frame[F.CAS] ?? 0;
  const cas64 = toUint64(cas);
  if (cas64 === null) return bad(id, 'cas must be an unsigned 64-bit integer');
  req.cas = Number(cas64);

  const extra = frame[F.EXTRA];
  if (extra != null && !isPlainMap(extra)) return bad(id, 'extra must be a map');
  return readExtra(req, (extra ?? {}) as Record<string, unknown>, limits);
}

function readExtra(req: Request, extra: Record<string, unknown>, limits: ProtocolLimits): Request | FrameError {
  const { id } = req;
  const durability = own(extra, 'durability');
  if (durability !== undefined) {
    if (!DURABILITY_LEVELS.includes(durability as Durability)) return bad(id, 'durability must be "none", "majority", "persist" or "persistMajority"');
    req.durability = durability as Durability;
  }
  switch (req.op) {
    case Op.INCR:
    case Op.DECR: {
      const delta = toUint64(own(extra, 'delta') ?? 1);
      if (delta === null) return bad(id, 'delta must be an unsigned 64-bit integer');
      req.delta = delta;
      const initial = own(extra, 'initial');
      if (initial !== undefined) {
        const init = toUint64(initial);
        if (init === null) return bad(id, 'initial must be an unsigned 64-bit integer');
        req.initial = init;
      }
      return req;
    }
    case Op.SCAN: {
      const end = own(extra, 'end');
      if (end != null) {
        const key = readKey(end, limits.maxKeyBytes);
        if (typeof key !== 'string') return { id, ...key };
        req.end = key;
      }
      const limit = own(extra, 'limit') ?? limits.maxScanLimit;
      if (!isUint(limit) || limit === 0) return bad(id, 'limit must be a positive integer');
      if (limit > limits.maxScanLimit) return { id, status: Status.TOO_LARGE, message: `scan limit ${limit} exceeds ${limits.maxScanLimit}` };
      req.limit = limit;
      const cursor = own(extra, 'cursor');
      if (cursor != null) {
        if (typeof cursor !== 'string' || cursor.length > 1024) return bad(id, 'cursor must be a string of at most 1024 chars');
        req.cursor = cursor;
      }
      const ranges = own(extra, 'ranges');
      if (ranges != null) {
        const read = readWireRanges(ranges, own(extra, 'bits'), limits.maxScanRanges);
        if (typeof read === 'string') return bad(id, read);
        req.ranges = read.ranges;
        req.rangeBits = read.bits;
      }
      return req;
    }
    case Op.STATS: {
      const group = own(extra, 'group');
      if (group !== undefined && typeof group !== 'string') return bad(id, 'group must be a string');
      req.group = group;
      return req;
    }
    case Op.AUTH:
      req.auth = extra;
      return req;
    case Op.BACKUP_PAGE:
    case Op.BACKUP_CHANGES: {
      const args = readBackupArgs(req.op, extra, limits.maxScanLimit);
      if ('status' in args) return { id, ...args };
      req.backup = args;
      return req;
    }
    case Op.GET: {
      const replica = own(extra, 'replica');
      if (replica !== undefined && typeof replica !== 'boolean') return bad(id, 'replica must be a boolean');
      req.isReplicaRead = replica === true;
      return req;
    }
    default:
      return req;
  }
}

// A CBOR map decodes to a plain object; tags can produce a Date, Set, Map, RegExp or tag
// wrapper instead, whose arguments would otherwise be silently ignored.
function isPlainMap(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function own(obj: Record<string, unknown>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : undefined;
}

/** Encode one frame (an array) on its own, to be placed in a message built from parts. */
export function encodeFrame(frame: readonly unknown[]): Uint8Array {
  return encoder.encode(frame);
}

/**
 * Decode a response message on the client side. Throws nothing; returns null when the
 * message is not a well-formed list of response frames (the lane must then be closed).
 */
export function decodeResponses(data: Uint8Array): Response[] | null {
  const { value, error } = decodeCbor(data);
  if (error !== null || !Array.isArray(value)) return null;
  const out: Response[] = new Array(value.length);
  for (let i = 0; i < value.length; i++) {
    const r = toResponse(value[i]);
    if (r === null) return null;
    out[i] = r;
  }
  return out;
}

/** One decoded response frame as a `Response`, or null when it is not one. */
export function toResponse(f: unknown): Response | null {
  if (!Array.isArray(f) || typeof f[0] !== 'number' || typeof f[1] !== 'number') return null;
  const cas = f[3];
  const flags = f[4];
  const extra = f[5];
  return {
    id: f[0],
    status: f[1],
    value: f[2],
    cas: typeof cas === 'number' ? cas : typeof cas === 'bigint' ? Number(cas) : 0,
    flags: typeof flags === 'number' ? flags : 0,
    extra: extra !== null && typeof extra === 'object' && !Array.isArray(extra) && !(extra instanceof Uint8Array)
      ? (extra as Record<string, unknown>) : undefined,
  };
}
