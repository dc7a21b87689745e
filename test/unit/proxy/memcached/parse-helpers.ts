import { McParser } from '../../../../proxy/memcached/parser.js';
import type { McParseResult } from '../../../../proxy/memcached/commands.js';
import type { McParserOptions } from '../../../../proxy/memcached/options.js';

/** A parse result as plain data: bytes as latin1 text, bigints as decimal strings. */
export type Plain = Record<string, unknown>;

export function plain(r: McParseResult): Plain {
  const out: Plain = {};
  for (const [k, v] of Object.entries(r)) out[k] = plainValue(v);
  return out;
}

function plainValue(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1');
  if (typeof v === 'bigint') return v.toString();
  if (Array.isArray(v)) return v.map(plainValue);
  if (v !== null && typeof v === 'object') {
    const o: Plain = {};
    for (const [k, x] of Object.entries(v)) o[k] = plainValue(x);
    return o;
  }
  return v;
}

/** Drain every result the parser has ready. */
export function drain(parser: McParser, into: Plain[] = []): Plain[] {
  for (let r = parser.next(); r !== null; r = parser.next()) into.push(plain(r));
  return into;
}

/** Parse `input` fed as chunks cut at `cuts` (sorted byte offsets), pulling after each chunk. */
export function parseChunks(input: Uint8Array | string, cuts: readonly number[] = [], options: Partial<McParserOptions> = {}): Plain[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'latin1') : Buffer.from(input);
  const parser = new McParser(options);
  const out: Plain[] = [];
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut < at || cut > bytes.length) continue;
    // A copy, so the parser cannot lean on the chunks being slices of one buffer.
    parser.push(Uint8Array.from(bytes.subarray(at, cut)));
    drain(parser, out);
    at = cut;
  }
  return out;
}

/** Parse `input` pushed in one piece. */
export function parseAll(input: Uint8Array | string, options: Partial<McParserOptions> = {}): Plain[] {
  return parseChunks(input, [], options);
}

/** Shorthand for an expected error result. */
export function err(line: string, isFatal = false, isNoreply = false): Plain {
  return { kind: 'error', line, isFatal, isNoreply };
}
