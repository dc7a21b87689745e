import { closeSync, openSync, readSync, statSync } from 'node:fs';

/**
 * Checks an lmdb data file before lmdb maps it: lmdb trusts its file, and a foreign or
 * truncated one can crash the process on the first read past its end. Reads the two
 * meta pages (lmdb 3.x as lmdb-js builds it: magic at byte 24, format version at 28, page
 * size at 48, last page number at 144, transaction id at 152, all little-endian) and
 * checks that the newest meta's pages all lie inside the file.
 *
 * It does not checksum data pages: a page damaged inside a file of the right length is
 * not caught here (lmdb keeps no page checksums).
 */

const MAGIC = 0xbeefc0de;
const FORMAT_VERSION = 2;
const MAGIC_AT = 24;
const VERSION_AT = 28;
const PAGE_SIZE_AT = 48;
const LAST_PAGE_AT = 144;
const TXN_ID_AT = 152;
const META_BYTES = 160;
const MIN_PAGE_BYTES = 512;
const MAX_PAGE_BYTES = 65_536;

/** Why `head` (the file's first bytes, at least two pages) of a file of `fileBytes` is not usable; null when it is. */
export function lmdbFileProblem(head: Buffer, fileBytes: number): string | null {
  if (fileBytes < 2 * MIN_PAGE_BYTES || head.length < META_BYTES) return `only ${fileBytes} bytes: cut short before its meta pages`;
  const first = readMeta(head, 0);
  if (first === null) return 'no lmdb meta page at its start (not an lmdb file, or one of another format)';
  const pageBytes = head.readUInt32LE(PAGE_SIZE_AT);
  if (pageBytes < MIN_PAGE_BYTES || pageBytes > MAX_PAGE_BYTES || (pageBytes & (pageBytes - 1)) !== 0) return `bad page size ${pageBytes}`;
  if (fileBytes < 2 * pageBytes || head.length < pageBytes + META_BYTES) return `only ${fileBytes} bytes: cut short inside its meta pages`;
  const second = readMeta(head, pageBytes);
  if (second === null) return 'its second meta page is damaged';
  const newest = second.txnId > first.txnId ? second : first;
  const needBytes = (newest.lastPage + 1) * pageBytes;
  if (fileBytes < needBytes) return `cut short: ${fileBytes} bytes, its last transaction needs ${needBytes}`;
  return null;
}

function readMeta(b: Buffer, at: number): { lastPage: number; txnId: number } | null {
  if (b.readUInt32LE(at + MAGIC_AT) !== MAGIC || b.readUInt32LE(at + VERSION_AT) !== FORMAT_VERSION) return null;
  const lastPage = Number(b.readBigUInt64LE(at + LAST_PAGE_AT));
  const txnId = Number(b.readBigUInt64LE(at + TXN_ID_AT));
  return Number.isSafeInteger(lastPage) && Number.isSafeInteger(txnId) ? { lastPage, txnId } : null;
}

/** `lmdbFileProblem` for the file at `path`. */
export function checkLmdbFile(path: string): string | null {
  const size = statSync(path).size;
  const head = Buffer.alloc(Math.min(size, 2 * MAX_PAGE_BYTES));
  const fd = openSync(path, 'r');
  try {
    let at = 0;
    while (at < head.length) {
      const n = readSync(fd, head, at, head.length - at, at);
      if (n === 0) break;
      at += n;
    }
  } finally {
    closeSync(fd);
  }
  return lmdbFileProblem(head, size);
}
