import { Buffer } from 'node:buffer';
import type { McMetaSetCommand, McParseError, McParseResult, McStoreCommand } from './commands.js';
import { MEMCACHED_DEFAULTS, type McParserOptions } from './options.js';
import { LineParser, isRetrievalLine } from './line-parser.js';

const LF = 0x0a;
const CR = 0x0d;
const EMPTY = Buffer.alloc(0);
/** Capacity of the first owned buffer; it grows by doubling. */
const MIN_OWNED_BYTES = 4096;
/** An emptied owned buffer larger than this is released rather than kept for reuse. */
const KEEP_OWNED_BYTES = 64 * 1024;

type State = 'line' | 'data' | 'swallow' | 'closed';

/**
 * Incremental parser of memcached's text and meta protocol. Feed it TCP chunks with
 * `push()` (split anywhere) and pull commands with `next()`, one at a time, so the caller
 * decides how many are in flight. Lines are buffered only up to their limits; data blocks
 * are copied once, straight into a buffer of the declared size.
 *
 * Malformed input yields an `McParseError` carrying memcached's exact answer. After a
 * fatal one (oversized line, unusable data length) the parser is closed and yields
 * nothing more. Whatever the chunking, the same bytes give the same results.
 *
 * The parser keeps a reference to a pushed chunk until it is consumed: do not reuse it.
 */
export class McParser {
  private readonly options: Readonly<McParserOptions>;
  private readonly lines: LineParser;
  private buf: Buffer = EMPTY;
  private head = 0;
  private tail = 0;
  private isOwned = false;
  /** Where the search for the next line feed resumes (bytes before it hold none). */
  private scanFrom = 0;
  private state: State = 'line';
  private pending: McStoreCommand | McMetaSetCommand | null = null;
  private value: Buffer = EMPTY;
  private valueFilled = 0;
  private trailerSeen = 0;
  private isTrailerOk = true;
  private swallowLeft = 0;
  private valueLimitBytes: number;

  constructor(options: Partial<McParserOptions> = {}) {
    this.options = { ...pickParserOptions(MEMCACHED_DEFAULTS), ...definedOnly(options) };
    this.lines = new LineParser(this.options);
    this.valueLimitBytes = this.options.maxValueBytes;
  }

  /** Bytes received but not yet consumed. */
  get bufferedBytes(): number {
    return this.tail - this.head;
  }

  /** True while a command line or data block has started arriving and is not complete. */
  get isMidCommand(): boolean {
    return this.state === 'data' || this.state === 'swallow' || (this.state === 'line' && this.tail > this.head);
  }

  /** True after a fatal error: nothing more will be parsed. */
  get isClosed(): boolean {
    return this.state === 'closed';
  }

  /**
   * Cap data blocks below `maxValueBytes` (used before a connection authenticates). Takes
   * effect for command lines parsed after the call.
   */
  setValueLimit(bytes: number): void {
    this.valueLimitBytes = Math.min(bytes, this.options.maxValueBytes);
  }

  push(chunk: Uint8Array): void {
    if (this.state === 'closed' || chunk.length === 0) return;
    const avail = this.tail - this.head;
    if (avail === 0) {
      // Nothing left over: read the chunk in place.
      this.buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      this.head = 0;
      this.tail = chunk.length;
      this.scanFrom = 0;
      this.isOwned = false;
      return;
    }
    const need = avail + chunk.length;
    if (this.isOwned && this.tail + chunk.length <= this.buf.length) {
      this.buf.set(chunk, this.tail);
      this.tail += chunk.length;
      return;
    }
    if (this.isOwned && need <= this.buf.length) {
      this.buf.copyWithin(0, this.head, this.tail);
    } else {
      const grown = Buffer.allocUnsafe(Math.max(MIN_OWNED_BYTES, need * 2));
      this.buf.copy(grown, 0, this.head, this.tail);
      this.buf = grown;
      this.isOwned = true;
    }
    this.scanFrom -= this.head;
    this.head = 0;
    this.tail = avail;
    this.buf.set(chunk, this.tail);
    this.tail = need;
  }

  /** The next complete command or error, or null when more bytes are needed. */
  next(): McParseResult | null {
    for (;;) {
      switch (this.state) {
        case 'closed':
          return null;
        case 'swallow': {
          const n = Math.min(this.tail - this.head, this.swallowLeft);
          this.consume(n);
          this.swallowLeft -= n;
          if (this.swallowLeft > 0) return null;
          this.state = 'line';
          break;
        }
        case 'data':
          return this.readData();
        case 'line': {
          const r = this.readLine();
          if (r !== undefined) return r;
          if (this.state === 'line') return null;
          break;
        }
      }
    }
  }

  /** Fill the pending data block and check its `\r\n`; null until complete. */
  private readData(): McParseResult | null {
    const want = this.value.length - this.valueFilled;
    if (want > 0) {
      const n = Math.min(want, this.tail - this.head);
      this.buf.copy(this.value, this.valueFilled, this.head, this.head + n);
      this.valueFilled += n;
      this.consume(n);
      if (this.valueFilled < this.value.length) return null;
    }
    while (this.trailerSeen < 2) {
      if (this.head === this.tail) return null;
      const b = this.buf[this.head]!;
      if (b !== (this.trailerSeen === 0 ? CR : LF)) this.isTrailerOk = false;
      this.trailerSeen++;
      this.consume(1);
    }
    const command = this.pending!;
    const value = this.value;
    this.pending = null;
    this.value = EMPTY;
    this.state = 'line';
    if (!this.isTrailerOk) {
      // memcached answers and goes on with the byte after the declared block and two more.
      return { kind: 'error', line: 'CLIENT_ERROR bad data chunk', isFatal: false, isNoreply: command.kind === 'store' && command.isNoreply };
    }
    command.value = value;
    return command;
  }

  /**
   * Parse the next line. Returns a result, null when the line is incomplete, or
   * undefined when the line started a data block (the state says which).
   */
  private readLine(): McParseResult | null | undefined {
    const { maxLineBytes, maxRetrievalLineBytes } = this.options;
    const view = this.buf.subarray(0, this.tail);
    const nl = view.indexOf(LF, Math.max(this.scanFrom, this.head));
    if (nl < 0) {
      const pendingBytes = this.tail - this.head;
      // One byte of slack: a trailing '\r' may be the start of the line's terminator.
      if (pendingBytes > maxLineBytes + 1) {
        const limit = isRetrievalLine(this.buf, this.head, this.tail) ? maxRetrievalLineBytes : maxLineBytes;
        if (pendingBytes > limit + 1) return this.fatal('CLIENT_ERROR line too long');
      }
      this.scanFrom = this.tail;
      return null;
    }
    let end = nl;
    if (end > this.head && this.buf[end - 1] === CR) end--;
    const lineBytes = end - this.head;
    if (lineBytes > maxLineBytes && (lineBytes > maxRetrievalLineBytes || !isRetrievalLine(this.buf, this.head, end))) {
      return this.fatal('CLIENT_ERROR line too long');
    }
    const line = this.buf.subarray(this.head, end);
    const outcome = this.lines.parse(line, this.valueLimitBytes);
    this.consume(nl + 1 - this.head);
    switch (outcome.type) {
      case 'done': {
        const r = outcome.result;
        if (r.kind === 'error' && r.isFatal) this.close();
        return r;
      }
      case 'data':
        this.pending = outcome.command;
        // Small blocks come from Node's shared pool, not an ArrayBuffer each: a block lives
        // only until its node answers, and it is filled whole before anyone reads it.
        this.value = Buffer.allocUnsafe(outcome.length);
        this.valueFilled = 0;
        this.trailerSeen = 0;
        this.isTrailerOk = true;
        this.state = 'data';
        return undefined;
      case 'swallow':
        this.swallowLeft = outcome.length + 2;
        this.state = 'swallow';
        return outcome.error;
    }
  }

  private consume(n: number): void {
    this.head += n;
    if (this.head === this.tail) {
      this.head = 0;
      this.tail = 0;
      this.scanFrom = 0;
      if (!this.isOwned || this.buf.length > KEEP_OWNED_BYTES) {
        this.buf = EMPTY;
        this.isOwned = false;
      }
    }
  }

  private fatal(line: string): McParseError {
    this.close();
    return { kind: 'error', line, isFatal: true, isNoreply: false };
  }

  private close(): void {
    this.state = 'closed';
    this.buf = EMPTY;
    this.value = EMPTY;
    this.pending = null;
    this.head = 0;
    this.tail = 0;
    this.scanFrom = 0;
    this.isOwned = false;
  }
}

function pickParserOptions(o: Readonly<McParserOptions>): McParserOptions {
  return {
    maxLineBytes: o.maxLineBytes,
    maxRetrievalLineBytes: o.maxRetrievalLineBytes,
    maxKeyBytes: o.maxKeyBytes,
    maxValueBytes: o.maxValueBytes,
    maxSwallowBytes: o.maxSwallowBytes,
    maxKeysPerGet: o.maxKeysPerGet,
  };
}

function definedOnly<T extends object>(o: Partial<T>): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
