import type { McMetaSetCommand, McParseError, McParseResult, McRetrievalOp, McStoreCommand } from './commands.js';
import type { McStoreMode } from './backend.js';
import type { McParserOptions } from './options.js';
import { MAX_META_TOKENS, parseMetaFlags, type McMetaKind } from './meta-flags.js';
import { Tokens, decodeBase64Strict, isValidKey } from './tokens.js';

/**
 * What one command line asks of the stream: nothing more (`done`), a data block of
 * `length` bytes to hand to `command` (`data`), or a data block to discard after
 * answering `error` (`swallow`).
 */
export type LineOutcome =
  | { type: 'done'; result: McParseResult }
  | { type: 'data'; length: number; command: McStoreCommand | McMetaSetCommand }
  | { type: 'swallow'; length: number; error: McParseError };

const EMPTY = new Uint8Array(0);
const BAD_FORMAT = 'CLIENT_ERROR bad command line format';
const TOO_LARGE = 'SERVER_ERROR object too large for cache';
const DELETE_USAGE = 'CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]';

const G = 0x67;
const S = 0x73;
const E = 0x65;
const T = 0x74;

const STORE_MODES: ReadonlySet<string> = new Set(['set', 'add', 'replace', 'append', 'prepend', 'cas']);
const RETRIEVAL: ReadonlySet<string> = new Set(['get', 'gets', 'gat', 'gats']);
const META_MODE_TO_STORE: Readonly<Record<string, McStoreMode>> = Object.freeze({ E: 'add', A: 'append', P: 'prepend', R: 'replace', S: 'set' });

function done(result: McParseResult): LineOutcome {
  return { type: 'done', result };
}

function fail(line: string, isNoreply = false, isFatal = false): LineOutcome {
  return { type: 'done', result: { kind: 'error', line, isFatal, isNoreply } };
}

function swallow(length: number, line: string, isNoreply = false): LineOutcome {
  return { type: 'swallow', length, error: { kind: 'error', line, isFatal: false, isNoreply } };
}

/**
 * Whether a line (or the start of one) is a retrieval command, which may be longer than
 * other lines. Looks only at the first bytes, so the answer does not depend on how much
 * of the line has arrived once those are there.
 */
export function isRetrievalLine(buf: Uint8Array, start: number, end: number): boolean {
  let i = start;
  while (i < end && i - start <= 100 && buf[i] === 0x20) i++;
  if (i - start > 100) return false;
  for (const word of ['get ', 'gets ', 'gat ', 'gats ']) {
    if (end - i < word.length) continue;
    let isMatch = true;
    for (let j = 0; j < word.length; j++) if (buf[i + j] !== word.charCodeAt(j)) { isMatch = false; break; }
    if (isMatch) return true;
  }
  return false;
}

/** Turns complete command lines into commands. Holds reusable token storage. */
export class LineParser {
  private readonly tokens = new Tokens();

  constructor(private readonly options: Readonly<McParserOptions>) {}

  /** Parse one line (without its `\r\n`); `valueLimitBytes` caps data blocks. */
  parse(line: Uint8Array, valueLimitBytes: number): LineOutcome {
    const t = this.tokens.split(line, Math.max(this.options.maxKeysPerGet + 2, MAX_META_TOKENS + 1));
    if (t.count === 0) return fail('ERROR');
    // The two commands of nearly all traffic are told by their bytes, without a string.
    if (t.length(0) === 3 && line[t.starts[0]! + 1] === E && line[t.starts[0]! + 2] === T) {
      const first = line[t.starts[0]!];
      if (first === G) return this.retrieval('get');
      if (first === S) return this.store('set', valueLimitBytes);
    }
    const name = t.length(0) <= 9 ? t.text(0) : '';
    if (RETRIEVAL.has(name)) return this.retrieval(name as McRetrievalOp);
    if (STORE_MODES.has(name)) return this.store(name as McStoreMode, valueLimitBytes);
    switch (name) {
      case 'mg': case 'md': case 'ma': return this.meta(name);
      case 'ms': return this.metaSet(valueLimitBytes);
      case 'mn': return done({ kind: 'mn' });
      case 'delete': return this.delete();
      case 'incr': case 'decr': return this.counter(name);
      case 'touch': return this.touch();
      // memcached ignores words after `version` but refuses them after `quit`.
      case 'version': return done({ kind: 'version' });
      case 'quit': return t.count === 1 ? done({ kind: 'quit' }) : fail('ERROR');
      case 'stats': {
        const args: string[] = [];
        for (let i = 1; i < t.count && i < 8; i++) args.push(t.text(i));
        return done({ kind: 'stats', args });
      }
      case 'flush_all': return this.flushAll();
      case 'verbosity': {
        if (t.count < 2 || t.count > 3) return fail('ERROR');
        return done({ kind: 'verbosity', isNoreply: t.is(t.count - 1, 'noreply') });
      }
      default: return fail('ERROR');
    }
  }

  private key(i: number): boolean {
    return isValidKey(this.tokens.line, this.tokens.starts[i]!, this.tokens.ends[i]!, this.options.maxKeyBytes);
  }

  private retrieval(op: McRetrievalOp): LineOutcome {
    const t = this.tokens;
    const isTouch = op === 'gat' || op === 'gats';
    const first = isTouch ? 2 : 1;
    if (t.count <= first) return fail('ERROR');
    let ttl = 0;
    if (isTouch) {
      const v = t.i32(1);
      if (v === null) return fail('CLIENT_ERROR invalid exptime argument');
      ttl = v;
    }
    if (t.isTruncated || t.count - first > this.options.maxKeysPerGet) return fail('CLIENT_ERROR too many keys');
    const keys: Uint8Array[] = [];
    for (let i = first; i < t.count; i++) {
      if (!this.key(i)) return fail(BAD_FORMAT);
      keys.push(t.copy(i));
    }
    return done({ kind: 'get', op, keys, ttl });
  }

  private store(mode: McStoreMode, valueLimitBytes: number): LineOutcome {
    const t = this.tokens;
    const base = mode === 'cas' ? 6 : 5;
    if (t.isTruncated || t.count < base || t.count > base + 1) return fail('ERROR');
    const hasNoreplyToken = t.count === base + 1;
    const isNoreply = hasNoreplyToken && t.is(base, 'noreply');
    const length = t.dataLength(4);
    // Without a usable length the next bytes cannot be told apart from commands: close.
    if (length < 0) return fail(BAD_FORMAT, isNoreply, true);
    if (length > this.options.maxSwallowBytes) return fail('CLIENT_ERROR bad data chunk', isNoreply, true);
    if (hasNoreplyToken && !isNoreply) return swallow(length, BAD_FORMAT);
    if (!this.key(1)) return swallow(length, BAD_FORMAT, isNoreply);
    const flags = t.u32(2);
    const ttl = t.i32(3);
    const cas = mode === 'cas' ? t.u64(5) : 0n;
    if (flags === null || ttl === null || cas === null) return swallow(length, BAD_FORMAT, isNoreply);
    if (length > valueLimitBytes) return swallow(length, TOO_LARGE, isNoreply);
    const command: McStoreCommand = { kind: 'store', mode, key: t.copy(1), flags, ttl, value: EMPTY, cas, isNoreply };
    return { type: 'data', length, command };
  }

  private delete(): LineOutcome {
    const t = this.tokens;
    if (t.count < 2 || t.count > 4) return fail('ERROR');
    let isNoreply = false;
    if (t.count === 3) {
      isNoreply = t.is(2, 'noreply');
      if (!isNoreply && !t.is(2, '0')) return fail(DELETE_USAGE);
    } else if (t.count === 4) {
      isNoreply = t.is(3, 'noreply');
      if (!isNoreply || !t.is(2, '0')) return fail(DELETE_USAGE, isNoreply);
    }
    if (!this.key(1)) return fail(BAD_FORMAT, isNoreply);
    return done({ kind: 'delete', key: t.copy(1), isNoreply });
  }

  private counter(op: 'incr' | 'decr'): LineOutcome {
    const t = this.tokens;
    if (t.count < 3 || t.count > 4) return fail('ERROR');
    const isNoreply = t.count === 4 && t.is(3, 'noreply');
    if (t.count === 4 && !isNoreply) return fail(BAD_FORMAT);
    if (!this.key(1)) return fail(BAD_FORMAT, isNoreply);
    const delta = t.u64(2);
    if (delta === null) return fail('CLIENT_ERROR invalid numeric delta argument', isNoreply);
    return done({ kind: 'counter', op, key: t.copy(1), delta, isNoreply });
  }

  private touch(): LineOutcome {
    const t = this.tokens;
    if (t.count < 3 || t.count > 4) return fail('ERROR');
    const isNoreply = t.count === 4 && t.is(3, 'noreply');
    if (t.count === 4 && !isNoreply) return fail(BAD_FORMAT);
    if (!this.key(1)) return fail(BAD_FORMAT, isNoreply);
    const ttl = t.i32(2);
    if (ttl === null) return fail('CLIENT_ERROR invalid exptime argument', isNoreply);
    return done({ kind: 'touch', key: t.copy(1), ttl, isNoreply });
  }

  /** `flush_all [delay] [noreply]`. */
  private flushAll(): LineOutcome {
    const t = this.tokens;
    if (t.count > 3) return fail('ERROR');
    const isNoreply = t.count > 1 && t.is(t.count - 1, 'noreply');
    const delayTokens = t.count - 1 - (isNoreply ? 1 : 0);
    if (delayTokens > 1) return fail(BAD_FORMAT, isNoreply);
    let delaySec = 0;
    if (delayTokens === 1) {
      const v = t.i32(1);
      if (v === null || v < 0) return fail(BAD_FORMAT, isNoreply);
      delaySec = v;
    }
    return done({ kind: 'flush', delaySec, isNoreply });
  }

  /** The key of a meta command at token 1: decoded when `b` was given. */
  private metaKey(isBase64: boolean): Uint8Array | string {
    const t = this.tokens;
    if (t.length(1) > this.options.maxKeyBytes) return BAD_FORMAT;
    if (isBase64) return decodeBase64Strict(t.line, t.starts[1]!, t.ends[1]!) ?? 'CLIENT_ERROR error decoding key';
    return this.key(1) ? t.copy(1) : BAD_FORMAT;
  }

  private meta(kind: Exclude<McMetaKind, 'ms'>): LineOutcome {
    const t = this.tokens;
    if (t.count < 2) return fail('ERROR');
    if (t.length(1) > this.options.maxKeyBytes) return fail(BAD_FORMAT);
    if (t.isTruncated || t.count > MAX_META_TOKENS) return fail(kind === 'mg' ? 'CLIENT_ERROR options flags are too long' : 'CLIENT_ERROR options flags too long');
    const flags = parseMetaFlags(kind, t, 2);
    if (typeof flags === 'string') return fail(flags);
    const key = this.metaKey(flags.isBase64Key);
    if (typeof key === 'string') return fail(key);
    return done({ kind, key, flags });
  }

  private metaSet(valueLimitBytes: number): LineOutcome {
    const t = this.tokens;
    if (t.count < 2) return fail('ERROR');
    if (t.count === 2) return fail(BAD_FORMAT);
    const length = t.dataLength(2);
    if (length < 0) return fail(BAD_FORMAT, false, true);
    if (length > this.options.maxSwallowBytes) return fail('CLIENT_ERROR bad data chunk', false, true);
    if (t.length(1) > this.options.maxKeyBytes) return swallow(length, BAD_FORMAT);
    if (t.isTruncated || t.count > MAX_META_TOKENS) return swallow(length, 'CLIENT_ERROR options flags too long');
    const flags = parseMetaFlags('ms', t, 3);
    if (typeof flags === 'string') return swallow(length, flags);
    const key = this.metaKey(flags.isBase64Key);
    if (typeof key === 'string') return swallow(length, key);
    if (length > valueLimitBytes) return swallow(length, TOO_LARGE);
    return { type: 'data', length, command: { kind: 'ms', key, value: EMPTY, flags } };
  }
}


/** The mode a meta set stores with: `M` picks it, and a `C` turns set/replace into cas. */
export function metaStoreMode(mode: string | null, hasCompareCas: boolean): McStoreMode {
  const m = META_MODE_TO_STORE[mode ?? 'S'] ?? 'set';
  return hasCompareCas && (m === 'set' || m === 'replace') ? 'cas' : m;
}

