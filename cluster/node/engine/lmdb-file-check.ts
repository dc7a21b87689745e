import { closeSync, openSync, readSync, statSync } from 'node:fs';

/**
 * Checks an lmdb data file before lmdb maps it: lmdb trusts its file, and a foreign or
 * truncated one can crash the process on the first read past its end.
 *
 * Reads the two meta pages (lmdb as lmdb-js builds it: 24-byte page headers; in a meta
 * page the magic at byte 24, format version at 28, page size at 48, the free and main
 * trees at 48 and 96, transaction id at 152; all little-endian), then walks the newest
 * meta's trees: the main tree whole (its leaves name the databases' trees) and the branch
 * pages of every other tree. Each page read must say it is that page, and every page a
 * branch points at must lie inside the file.
 *
 * The meta's last page number is not compared with the file's length: lmdb may number
 * pages it freed before writing them, and the file then ends before that number.
 * Leaves of the data trees (and values stored on overflow pages) are not read, and lmdb
 * keeps no page checksums: a page damaged inside a file of the right length is not
 * caught here.
 */

const MAGIC = 0xbeefc0de;
const FORMAT_VERSION = 2;
const MAGIC_AT = 24;
const VERSION_AT = 28;
const PAGE_SIZE_AT = 48;
const FREE_TREE_AT = 48;
const MAIN_TREE_AT = 96;
const TXN_ID_AT = 152;
/** In a tree record (lmdb's MDB_db): its depth at byte 6, its root page at 40. */
const TREE_DEPTH_AT = 6;
const TREE_ROOT_AT = 40;
const TREE_BYTES = 48;
/** A page: its number at byte 0, flags at 18, the end of its node offsets at 20, the offsets from 24. */
const PAGE_FLAGS_AT = 18;
const PAGE_LOWER_AT = 20;
const PAGE_HEADER_BYTES = 24;
const P_BRANCH = 0x01;
const P_LEAF = 0x02;
/** A leaf node whose data is a database's tree record. */
const F_SUBDATA = 0x02;
const NODE_HEADER_BYTES = 8;
/** No page (an empty tree's root). */
const NO_PAGE = 2n ** 64n - 1n;
/** Deeper than any tree lmdb builds: a cycle or garbage. */
const MAX_DEPTH = 32;
const META_BYTES = 160;
const MIN_PAGE_BYTES = 512;
const MAX_PAGE_BYTES = 65_536;

/** What `readPage` needs: the page size, the file's pages, and a reader of one page. */
interface PageSource {
  pageBytes: number;
  pages: number;
  read(pgno: number): Buffer;
}

/** The newest meta page of `head` (the file's first bytes), or why there is none usable. */
export function newestMeta(head: Buffer, fileBytes: number): { meta: Buffer; pageBytes: number } | string {
  if (fileBytes < 2 * MIN_PAGE_BYTES || head.length < META_BYTES) return `only ${fileBytes} bytes: cut short before its meta pages`;
  const first = readMeta(head, 0);
  if (first === null) return 'no lmdb meta page at its start (not an lmdb file, or one of another format)';
  const pageBytes = head.readUInt32LE(PAGE_SIZE_AT);
  if (pageBytes < MIN_PAGE_BYTES || pageBytes > MAX_PAGE_BYTES || (pageBytes & (pageBytes - 1)) !== 0) return `bad page size ${pageBytes}`;
  if (fileBytes < 2 * pageBytes || head.length < pageBytes + META_BYTES) return `only ${fileBytes} bytes: cut short inside its meta pages`;
  const second = readMeta(head, pageBytes);
  if (second === null) return 'its second meta page is damaged';
  const at = second.txnId > first.txnId ? pageBytes : 0;
  return { meta: head.subarray(at, at + META_BYTES), pageBytes };
}

/** Why the trees of `meta` are not whole in the file; null when they are. */
export function treeProblem(meta: Buffer, source: PageSource): string | null {
  const trees: Array<[name: string, record: Buffer]> = [['free', meta.subarray(FREE_TREE_AT, FREE_TREE_AT + TREE_BYTES)]];
  const main = meta.subarray(MAIN_TREE_AT, MAIN_TREE_AT + TREE_BYTES);
  const problem = walk(source, rootOf(main), main.readUInt16LE(TREE_DEPTH_AT), true, (record) => trees.push(['database', record]));
  if (problem !== null) return `its main tree: ${problem}`;
  for (const [name, record] of trees) {
    const p = walk(source, rootOf(record), record.readUInt16LE(TREE_DEPTH_AT), false, null);
    if (p !== null) return `a ${name} tree: ${p}`;
  }
  return null;
}

function rootOf(record: Buffer): bigint {
  return record.readBigUInt64LE(TREE_ROOT_AT);
}

/**
 * Walk the tree from `root` (`depth` levels): read its branch pages, check each page they
 * point at lies in the file, and with `isWhole` read its leaves too, handing each tree
 * record found there to `onTree`.
 */
function walk(source: PageSource, root: bigint, depth: number, isWhole: boolean, onTree: ((record: Buffer) => void) | null): string | null {
  if (root === NO_PAGE) return null;
  if (depth < 1 || depth > MAX_DEPTH) return `a depth of ${depth}`;
  let level: bigint[] = [root];
  for (let d = depth; d >= 1; d--) {
    const next: bigint[] = [];
    for (const pgno of level) {
      if (pgno >= BigInt(source.pages)) return `page ${pgno} lies past the end of the file (${source.pages} pages): cut short`;
      if (d === 1 && !isWhole) continue;
      const page = source.read(Number(pgno));
      if (page.readBigUInt64LE(0) !== pgno) return `page ${pgno} does not hold itself: damaged`;
      const flags = page.readUInt16LE(PAGE_FLAGS_AT);
      const count = page.readUInt16LE(PAGE_LOWER_AT) >> 1;
      if ((flags & (d === 1 ? P_LEAF : P_BRANCH)) === 0) return `page ${pgno} is not the ${d === 1 ? 'leaf' : 'branch'} its tree's depth says`;
      for (let i = 0; i < count; i++) {
        const ptrAt = PAGE_HEADER_BYTES + i * 2;
        if (ptrAt + 2 > page.length) return `page ${pgno} has too many nodes`;
        const at = PAGE_HEADER_BYTES + page.readUInt16LE(ptrAt);
        if (at + NODE_HEADER_BYTES > page.length) return `page ${pgno} has a node past its end`;
        const lo = page.readUInt16LE(at);
        const hi = page.readUInt16LE(at + 2);
        const nodeFlags = page.readUInt16LE(at + 4);
        if (d > 1) {
          next.push(BigInt(lo) | (BigInt(hi) << 16n) | (BigInt(nodeFlags) << 32n));
        } else if ((nodeFlags & F_SUBDATA) !== 0 && onTree !== null) {
          const dataAt = at + NODE_HEADER_BYTES + page.readUInt16LE(at + 6);
          const size = lo | (hi << 16);
          if (size !== TREE_BYTES || dataAt + size > page.length) return `page ${pgno} holds a damaged database record`;
          onTree(Buffer.from(page.subarray(dataAt, dataAt + size)));
        }
      }
    }
    level = next;
  }
  return null;
}

function readMeta(b: Buffer, at: number): { txnId: number } | null {
  if (b.readUInt32LE(at + MAGIC_AT) !== MAGIC || b.readUInt32LE(at + VERSION_AT) !== FORMAT_VERSION) return null;
  const txnId = Number(b.readBigUInt64LE(at + TXN_ID_AT));
  return Number.isSafeInteger(txnId) ? { txnId } : null;
}

/** Why the lmdb data file at `path` is not usable; null when it is. */
export function checkLmdbFile(path: string): string | null {
  const size = statSync(path).size;
  const fd = openSync(path, 'r');
  try {
    const readAt = (length: number, position: number): Buffer => {
      const b = Buffer.alloc(length);
      let at = 0;
      while (at < length) {
        const n = readSync(fd, b, at, length - at, position + at);
        if (n === 0) break;
        at += n;
      }
      return b.subarray(0, at);
    };
    const found = newestMeta(readAt(Math.min(size, 2 * MAX_PAGE_BYTES), 0), size);
    if (typeof found === 'string') return found;
    const { meta, pageBytes } = found;
    return treeProblem(meta, {
      pageBytes,
      pages: Math.floor(size / pageBytes),
      read: (pgno) => {
        const page = readAt(pageBytes, pgno * pageBytes);
        return page.length === pageBytes ? page : Buffer.concat([page, Buffer.alloc(pageBytes - page.length)]);
      },
    });
  } finally {
    closeSync(fd);
  }
}
