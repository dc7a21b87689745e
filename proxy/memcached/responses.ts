import { Buffer } from 'node:buffer';
import type { McItem, McStoreStatus } from './backend.js';
import type { McMetaFlags } from './commands.js';

/** The bytes a command answers with, in order; empty for noreply / quiet answers. */
export interface McReply {
  chunks: Uint8Array[];
  /** The answer is `ERROR`, `CLIENT_ERROR …` or `SERVER_ERROR …` (counted, even when suppressed). */
  isError: boolean;
  /** Close the connection once this answer is written (fatal protocol errors, quit). */
  isFinal?: boolean;
}

export const CRLF: Buffer = Buffer.from('\r\n', 'latin1');

const lineCache = new Map<string, Buffer>();

/** `text\r\n` as bytes; the fixed answers are cached. */
export function line(text: string): Buffer {
  let b = lineCache.get(text);
  if (b === undefined) {
    b = Buffer.from(`${text}\r\n`, 'latin1');
    if (lineCache.size < 64) lineCache.set(text, b);
  }
  return b;
}

export const NO_REPLY: McReply = Object.freeze({ chunks: [], isError: false }) as McReply;

export function reply(text: string): McReply {
  return { chunks: [line(text)], isError: false };
}

export function errorReply(text: string, isSuppressed = false): McReply {
  return { chunks: isSuppressed ? [] : [line(text)], isError: true };
}

/** `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n` of a classic retrieval. */
export function valueChunks(key: Uint8Array, item: McItem, withCas: boolean, out: Uint8Array[]): void {
  const tail = withCas ? ` ${item.flags} ${item.value.length} ${item.cas}\r\n` : ` ${item.flags} ${item.value.length}\r\n`;
  const header = Buffer.allocUnsafe(6 + key.length + tail.length);
  header.write('VALUE ', 0, 'latin1');
  header.set(key, 6);
  header.write(tail, 6 + key.length, 'latin1');
  out.push(header);
  if (item.value.length > 0) out.push(item.value);
  out.push(CRLF);
}

/** What a meta answer may echo: the key as given and, when known, the item. */
export interface MetaEcho {
  key: Uint8Array;
  cas?: bigint;
  clientFlags?: number;
  size?: number;
  ttlSec?: number;
}

/**
 * A meta status line: `code`, then the tokens of the returning flags in request order
 * (`k`, `O`, `c`, `f`, `s`, `t`, whichever this answer carries), then `extra` (e.g. `W`).
 */
export function metaLine(code: string, flags: McMetaFlags, echo: MetaEcho, extra = ''): Buffer {
  const parts: Uint8Array[] = [Buffer.from(code, 'latin1')];
  let text = '';
  for (const f of flags.returned) {
    switch (f) {
      case 'k':
        parts.push(Buffer.from(`${text} k`, 'latin1'));
        text = '';
        parts.push(flags.isBase64Key ? Buffer.from(Buffer.from(echo.key).toString('base64'), 'latin1') : echo.key);
        if (flags.isBase64Key) text += ' b';
        break;
      case 'O':
        text += ` O${flags.opaque ?? ''}`;
        break;
      case 'c':
        if (echo.cas !== undefined) text += ` c${echo.cas}`;
        break;
      case 'f':
        if (echo.clientFlags !== undefined) text += ` f${echo.clientFlags}`;
        break;
      case 's':
        if (echo.size !== undefined) text += ` s${echo.size}`;
        break;
      case 't':
        if (echo.ttlSec !== undefined) text += ` t${echo.ttlSec}`;
        break;
    }
  }
  if (extra !== '') text += ` ${extra}`;
  parts.push(Buffer.from(`${text}\r\n`, 'latin1'));
  return Buffer.concat(parts);
}

/** A meta answer carrying the value: `VA <size> <flags>*\r\n<data>\r\n`. */
export function metaValueChunks(flags: McMetaFlags, echo: MetaEcho, value: Uint8Array, extra = ''): Uint8Array[] {
  const out: Uint8Array[] = [metaLine(`VA ${value.length}`, flags, echo, extra)];
  if (value.length > 0) out.push(value);
  out.push(CRLF);
  return out;
}

/** A shared answer of one fixed line (never mutated). */
function fixedReply(text: string): McReply {
  return Object.freeze({ chunks: [line(text)], isError: false }) as McReply;
}

/** A miss of a one-key `get`. */
export const END_REPLY: McReply = fixedReply('END');

const STORE_REPLIES: Readonly<Record<McStoreStatus, McReply>> = Object.freeze({
  STORED: fixedReply('STORED'),
  NOT_STORED: fixedReply('NOT_STORED'),
  EXISTS: fixedReply('EXISTS'),
  NOT_FOUND: fixedReply('NOT_FOUND'),
});

/** The answer of a store, one shared object per outcome. */
export function storeReply(status: McStoreStatus): McReply {
  return STORE_REPLIES[status];
}
