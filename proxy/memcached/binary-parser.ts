import type { BinParseError, BinParseResult } from './binary-commands.js';
import { BinOp, BinStatus, HEADER_BYTES, NO_CREATE_EXPIRATION, REQUEST_MAGIC } from './binary-protocol.js';
import { MEMCACHED_DEFAULTS, type McParserOptions } from './options.js';

const EMPTY = Buffer.alloc(0);
/** The largest extras a request can carry (increment/decrement). */
const MAX_EXTRAS_BYTES = 20;
/** Longest SASL mechanism name (RFC 4422: 20 characters). */
const MAX_MECHANISM_BYTES = 20;

type State = 'header' | 'body' | 'swallow' | 'closed';

/** The fixed fields of the request header being read. */
interface Header {
  opcode: number;
  keyBytes: number;
  extrasBytes: number;
  dataType: number;
  bodyBytes: number;
  opaque: number;
  cas: bigint;
}

/** The shape each opcode's request must have: extras lengths allowed, key and value rules. */
interface Shape {
  extras: readonly number[];
  key: 'none' | 'required' | 'optional';
  hasValue: boolean;
}

const NOTHING: Shape = { extras: [0], key: 'none', hasValue: false };
const KEY_ONLY: Shape = { extras: [0], key: 'required', hasValue: false };
const SHAPES: ReadonlyMap<number, Shape> = new Map<number, Shape>([
  ...[BinOp.GET, BinOp.GETQ, BinOp.GETK, BinOp.GETKQ].map((op) => [op, KEY_ONLY] as const),
  ...[BinOp.GAT, BinOp.GATQ, BinOp.GATK, BinOp.GATKQ, BinOp.TOUCH].map((op) => [op, { extras: [4], key: 'required', hasValue: false }] as const),
  ...[BinOp.SET, BinOp.SETQ, BinOp.ADD, BinOp.ADDQ, BinOp.REPLACE, BinOp.REPLACEQ].map((op) => [op, { extras: [8], key: 'required', hasValue: true }] as const),
  ...[BinOp.APPEND, BinOp.APPENDQ, BinOp.PREPEND, BinOp.PREPENDQ].map((op) => [op, { extras: [0], key: 'required', hasValue: true }] as const),
  // Old clients send a 4-byte expiration with delete; only 0 is accepted, as memcached does.
  ...[BinOp.DELETE, BinOp.DELETEQ].map((op) => [op, { extras: [0, 4], key: 'required', hasValue: false }] as const),
  ...[BinOp.INCREMENT, BinOp.INCREMENTQ, BinOp.DECREMENT, BinOp.DECREMENTQ].map((op) => [op, { extras: [20], key: 'required', hasValue: false }] as const),
  ...[BinOp.QUIT, BinOp.QUITQ, BinOp.NOOP, BinOp.VERSION, BinOp.SASL_LIST_MECHS].map((op) => [op, NOTHING] as const),
  ...[BinOp.FLUSH, BinOp.FLUSHQ].map((op) => [op, { extras: [0, 4], key: 'none', hasValue: false }] as const),
  [BinOp.STAT, { extras: [0], key: 'optional', hasValue: false }],
  [BinOp.VERBOSITY, { extras: [4], key: 'none', hasValue: false }],
  [BinOp.SASL_AUTH, { extras: [0], key: 'required', hasValue: true }],
  [BinOp.SASL_STEP, { extras: [0], key: 'required', hasValue: true }],
]);

const QUIET: ReadonlySet<number> = new Set([
  BinOp.GETQ, BinOp.GETKQ, BinOp.GATQ, BinOp.GATKQ, BinOp.SETQ, BinOp.ADDQ, BinOp.REPLACEQ, BinOp.APPENDQ,
  BinOp.PREPENDQ, BinOp.DELETEQ, BinOp.INCREMENTQ, BinOp.DECREMENTQ, BinOp.QUITQ, BinOp.FLUSHQ,
]);

const STORE_MODES: ReadonlyMap<number, 'set' | 'add' | 'replace' | 'append' | 'prepend'> = new Map([
  [BinOp.SET, 'set'], [BinOp.SETQ, 'set'], [BinOp.ADD, 'add'], [BinOp.ADDQ, 'add'], [BinOp.REPLACE, 'replace'],
  [BinOp.REPLACEQ, 'replace'], [BinOp.APPEND, 'append'], [BinOp.APPENDQ, 'append'], [BinOp.PREPEND, 'prepend'],
  [BinOp.PREPENDQ, 'prepend'],
] as const);

/**
 * Incremental parser of memcached's binary protocol. Feed it TCP chunks with `push()`
 * (split anywhere) and pull requests with `next()`, one at a time. A body is copied once,
 * into a buffer of the declared size, and only when the declared size is within limits.
 *
 * Refused requests come back as `BinParseError` with the status to answer. A body over
 * the limit is read and discarded (`E2BIG`) up to `maxSwallowBytes`; past that, or on a
 * header whose magic byte is wrong, the stream cannot be followed: the error is fatal and
 * the parser yields nothing more.
 */
export class McBinaryParser {
  private readonly options: Readonly<McParserOptions>;
  private buf: Buffer = EMPTY;
  private head = 0;
  private state: State = 'header';
  private header: Header | null = null;
  private body: Buffer = EMPTY;
  private bodyFilled = 0;
  private swallowLeft = 0;
  private valueLimitBytes: number;

  constructor(options: Partial<McParserOptions> = {}) {
    const o = { ...MEMCACHED_DEFAULTS } as McParserOptions;
    for (const [k, v] of Object.entries(options)) if (v !== undefined) (o as unknown as Record<string, unknown>)[k] = v;
    this.options = o;
    this.valueLimitBytes = o.maxValueBytes;
  }

  /** Bytes received but not yet consumed, the partial body included. */
  get bufferedBytes(): number {
    return this.buf.length - this.head + this.bodyFilled;
  }

  /** True after a fatal error: nothing more will be parsed. */
  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Cap values below `maxValueBytes` (before a connection authenticates). */
  setValueLimit(bytes: number): void {
    this.valueLimitBytes = Math.min(bytes, this.options.maxValueBytes);
  }

  push(chunk: Buffer): void {
    if (this.state === 'closed' || chunk.length === 0) return;
    if (this.head >= this.buf.length) {
      this.buf = chunk;
    } else {
      // Only a partial header (or the tail of a body chunk) is ever left over: small.
      this.buf = Buffer.concat([this.buf.subarray(this.head), chunk]);
    }
    this.head = 0;
  }

  /**
   * The next request or refusal, or null when more bytes are needed. With `isEnded` (the
   * peer sent all it will), a request cut short is answered as a fatal `EINVAL`.
   */
  next(isEnded = false): BinParseResult | null {
    for (;;) {
      switch (this.state) {
        case 'closed':
          return null;
        case 'swallow': {
          const n = Math.min(this.available, this.swallowLeft);
          this.head += n;
          this.swallowLeft -= n;
          if (this.swallowLeft > 0) return null;
          this.state = 'header';
          break;
        }
        case 'header': {
          if (this.available < HEADER_BYTES) {
            if (isEnded && this.available > 0) return this.fatal(this.partialHeader(), BinStatus.EINVAL, 'incomplete request header');
            return null;
          }
          const r = this.readHeader();
          if (r !== null) return r;
          break;
        }
        case 'body': {
          const r = this.readBody();
          if (r === null && isEnded) return this.fatal(this.header!, BinStatus.EINVAL, 'incomplete request body');
          return r;
        }
      }
    }
  }

  private get available(): number {
    return this.buf.length - this.head;
  }

  /** Read a header; a result when it is refused at once, null when its body follows. */
  private readHeader(): BinParseResult | null {
    const b = this.buf;
    const at = this.head;
    const h: Header = {
      opcode: b[at + 1]!,
      keyBytes: b.readUInt16BE(at + 2),
      extrasBytes: b[at + 4]!,
      dataType: b[at + 5]!,
      bodyBytes: b.readUInt32BE(at + 8),
      opaque: b.readUInt32BE(at + 12),
      cas: b.readBigUInt64BE(at + 16),
    };
    if (b[at] !== REQUEST_MAGIC) return this.fatal(h, BinStatus.EINVAL, 'bad magic byte: not a binary protocol request');
    this.head += HEADER_BYTES;
    const limit = this.valueLimitBytes + this.options.maxKeyBytes + MAX_EXTRAS_BYTES;
    if (h.bodyBytes > limit) {
      if (h.bodyBytes > this.options.maxSwallowBytes) return this.fatal(h, BinStatus.E2BIG, 'request body too large');
      this.swallowLeft = h.bodyBytes;
      this.state = 'swallow';
      return error(h, BinStatus.E2BIG, 'Too large.');
    }
    this.header = h;
    this.body = h.bodyBytes === 0 ? EMPTY : Buffer.allocUnsafe(h.bodyBytes);
    this.bodyFilled = 0;
    this.state = 'body';
    return null;
  }

  private readBody(): BinParseResult | null {
    const want = this.body.length - this.bodyFilled;
    if (want > 0) {
      const n = Math.min(want, this.available);
      this.buf.copy(this.body, this.bodyFilled, this.head, this.head + n);
      this.head += n;
      this.bodyFilled += n;
      if (this.bodyFilled < this.body.length) return null;
    }
    const h = this.header!;
    const body = this.body;
    this.header = null;
    this.body = EMPTY;
    this.bodyFilled = 0;
    this.state = 'header';
    if (this.head >= this.buf.length) {
      this.buf = EMPTY;
      this.head = 0;
    }
    return this.command(h, body);
  }

  /** Check the request's shape against its opcode and build the command. */
  private command(h: Header, body: Buffer): BinParseResult {
    const shape = SHAPES.get(h.opcode);
    if (shape === undefined) return error(h, BinStatus.UNKNOWN_COMMAND, 'Unknown command');
    if (h.dataType !== 0) return error(h, BinStatus.EINVAL, 'Invalid arguments: data type must be 0 (raw bytes)');
    if (h.extrasBytes + h.keyBytes > h.bodyBytes) return error(h, BinStatus.EINVAL, 'Invalid arguments: extras and key longer than the body');
    const valueBytes = h.bodyBytes - h.extrasBytes - h.keyBytes;
    if (!shape.extras.includes(h.extrasBytes)) return error(h, BinStatus.EINVAL, 'Invalid arguments: wrong extras length');
    if (shape.key === 'none' && h.keyBytes > 0) return error(h, BinStatus.EINVAL, 'Invalid arguments: no key expected');
    if (shape.key === 'required' && h.keyBytes === 0) return error(h, BinStatus.EINVAL, 'Invalid arguments: key required');
    if (!shape.hasValue && valueBytes > 0) return error(h, BinStatus.EINVAL, 'Invalid arguments: no value expected');
    const isSasl = h.opcode === BinOp.SASL_AUTH || h.opcode === BinOp.SASL_STEP;
    if (h.keyBytes > (isSasl ? MAX_MECHANISM_BYTES : this.options.maxKeyBytes)) return error(h, BinStatus.EINVAL, 'Invalid arguments: key too long');
    if (valueBytes > this.valueLimitBytes) return error(h, BinStatus.E2BIG, 'Too large.');
    const extras = body.subarray(0, h.extrasBytes);
    const key = body.subarray(h.extrasBytes, h.extrasBytes + h.keyBytes);
    const value = body.subarray(h.extrasBytes + h.keyBytes);
    const base = { opcode: h.opcode, opaque: h.opaque };
    const isQuiet = QUIET.has(h.opcode);
    const storeMode = STORE_MODES.get(h.opcode);
    if (storeMode !== undefined) {
      const flags = h.extrasBytes === 8 ? extras.readUInt32BE(0) : 0;
      const ttl = h.extrasBytes === 8 ? extras.readInt32BE(4) : 0;
      return { ...base, kind: 'store', mode: storeMode, key, value, flags, ttl, cas: h.cas, isQuiet };
    }
    switch (h.opcode) {
      case BinOp.GET: case BinOp.GETQ: case BinOp.GETK: case BinOp.GETKQ:
        return { ...base, kind: 'get', key, ttl: null, isQuiet, withKey: h.opcode === BinOp.GETK || h.opcode === BinOp.GETKQ };
      case BinOp.GAT: case BinOp.GATQ: case BinOp.GATK: case BinOp.GATKQ:
        return { ...base, kind: 'get', key, ttl: extras.readInt32BE(0), isQuiet, withKey: h.opcode === BinOp.GATK || h.opcode === BinOp.GATKQ };
      case BinOp.TOUCH:
        return { ...base, kind: 'touch', key, ttl: extras.readInt32BE(0) };
      case BinOp.DELETE: case BinOp.DELETEQ:
        if (h.extrasBytes === 4 && extras.readUInt32BE(0) !== 0) return error(h, BinStatus.EINVAL, 'Invalid arguments: delete takes no expiration');
        return { ...base, kind: 'delete', key, cas: h.cas, isQuiet };
      case BinOp.INCREMENT: case BinOp.INCREMENTQ: case BinOp.DECREMENT: case BinOp.DECREMENTQ: {
        const expiration = extras.readUInt32BE(16);
        const isIncr = h.opcode === BinOp.INCREMENT || h.opcode === BinOp.INCREMENTQ;
        return {
          ...base, kind: 'counter', op: isIncr ? 'incr' : 'decr', key, delta: extras.readBigUInt64BE(0), initial: extras.readBigUInt64BE(8),
          ttl: expiration === NO_CREATE_EXPIRATION ? null : expiration | 0, cas: h.cas, isQuiet,
        };
      }
      case BinOp.FLUSH: case BinOp.FLUSHQ:
        return { ...base, kind: 'flush', delaySec: h.extrasBytes === 4 ? extras.readUInt32BE(0) : 0, isQuiet };
      case BinOp.QUIT: case BinOp.QUITQ:
        return { ...base, kind: 'quit', isQuiet };
      case BinOp.STAT:
        return { ...base, kind: 'stat', group: key.toString('latin1') };
      case BinOp.SASL_AUTH:
        return { ...base, kind: 'sasl-auth', mechanism: key.toString('latin1'), data: value };
      case BinOp.SASL_STEP:
        return { ...base, kind: 'sasl-step' };
      case BinOp.SASL_LIST_MECHS: return { ...base, kind: 'sasl-list' };
      case BinOp.NOOP: return { ...base, kind: 'noop' };
      case BinOp.VERSION: return { ...base, kind: 'version' };
      case BinOp.VERBOSITY: return { ...base, kind: 'verbosity' };
      default: return error(h, BinStatus.UNKNOWN_COMMAND, 'Unknown command');
    }
  }

  /** Opcode and opaque of a header cut short, as far as they arrived. */
  private partialHeader(): { opcode: number; opaque: number } {
    const n = this.available;
    const b = this.buf;
    return { opcode: n > 1 ? b[this.head + 1]! : 0, opaque: n >= 16 ? b.readUInt32BE(this.head + 12) : 0 };
  }

  private fatal(h: { opcode: number; opaque: number }, status: number, message: string): BinParseError {
    this.state = 'closed';
    this.buf = EMPTY;
    this.head = 0;
    this.body = EMPTY;
    this.bodyFilled = 0;
    this.header = null;
    return { kind: 'error', opcode: h.opcode, opaque: h.opaque, status, message, isFatal: true };
  }
}

function error(h: { opcode: number; opaque: number }, status: number, message: string): BinParseError {
  return { kind: 'error', opcode: h.opcode, opaque: h.opaque, status, message, isFatal: false };
}
