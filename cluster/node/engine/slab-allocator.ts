import { PAGE_BYTES, SizeClasses, alignChunk } from './size-classes.js';

// A chunk address is one uint32: page id in the high 15 bits, offset in 8-byte units in
// the low 17 (2^17 × 8 = one page). Items larger than a slab class get a buffer of their
// own under a page id of their own, at offset 0, so every chunk is addressed alike.
const OFFSET_BITS = 17;
const OFFSET_MASK = (1 << OFFSET_BITS) - 1;
const PAGE_ID_SPAN = 1 << OFFSET_BITS;
/** Page ids available: slab pages plus dedicated buffers of large items. */
export const MAX_PAGE_IDS = 2 ** (32 - OFFSET_BITS);
/** `alloc` result when no page id is left. */
export const NO_CHUNK = -1;

/** Page id of a chunk address. */
export function pageIdOf(addr: number): number {
  return addr >>> OFFSET_BITS;
}

/** Byte offset of a chunk address inside its page. */
export function offsetOf(addr: number): number {
  return (addr & OFFSET_MASK) << 3;
}

/** Called when compaction moves a live chunk; the owner must repoint its reference. */
export type RelocateFn = (from: number, to: number) => void;

const LARGE = -1;
const UNUSED = -2;
// A class starts with small pages and doubles what it holds with each new one up to
// PAGE_BYTES, so a size that only a few items have does not pin a whole MiB.
const MIN_PAGE_BYTES = 16 * 1024;
const MIN_CHUNKS_PER_PAGE = 4;
// Empty full-size pages kept for reuse instead of handing them back to the runtime.
const POOL_MAX_PAGES = 4;
const EMPTY_BUFFER = new ArrayBuffer(0);
const EMPTY_PAGE = new Uint8Array(EMPTY_BUFFER);

interface ClassState {
  /** Stack of free chunk addresses. */
  free: Uint32Array;
  freeCount: number;
  /** Page ids carved into this class. */
  pages: number[];
  /** Bytes of those pages. */
  heldBytes: number;
  /** Chunks in the largest of them. */
  maxPageChunks: number;
  isDirty: boolean;
}

/** Counters of the allocator, for `stats()`. */
export interface SlabStats {
  slabPages: number;
  slabBytes: number;
  largeChunks: number;
  largeBytes: number;
  relocations: number;
  pagesReleased: number;
}

/**
 * memcached-style slab allocator. Each size class carves whole pages (16 KiB, growing to
 * 1 MiB as the class grows) into equal chunks and keeps a stack of free ones. The first
 * byte of a chunk is non-zero while it is live (the engine stores the key length there)
 * and zeroed when freed, so a page can be walked without other bookkeeping.
 *
 * Unlike memcached, pages do not stay with a class forever: when a class holds more
 * than one and a half of its largest page in free chunks, `compact` moves the live
 * chunks out of its emptiest page and releases that page. Real memory therefore follows
 * the live bytes however the item sizes drift.
 */
export class SlabAllocator {
  /** Page buffers by page id; unused ids hold an empty array. */
  readonly pages: Uint8Array[] = [];
  /** The pages' ArrayBuffers, by page id: building views from these is cheapest. */
  readonly buffers: ArrayBuffer[] = [];
  readonly classes = new SizeClasses();
  private readonly state: ClassState[] = [];
  private readonly pageClass = new Int32Array(MAX_PAGE_IDS).fill(UNUSED);
  private readonly pageLive = new Int32Array(MAX_PAGE_IDS);
  private readonly pageChunks = new Int32Array(MAX_PAGE_IDS);
  private readonly freeIds: number[] = [];
  private readonly pool: number[] = [];
  private readonly dirty: number[] = [];
  private slabPageCount = 0;
  private slabByteCount = 0;
  private largeCount = 0;
  private largeByteCount = 0;
  private relocations = 0;
  private pagesReleased = 0;

  constructor() {
    for (let c = 0; c < this.classes.count; c++) {
      this.state.push({
        free: new Uint32Array(0),
        freeCount: 0,
        pages: [],
        heldBytes: 0,
        maxPageChunks: 0,
        isDirty: false,
      });
    }
  }

  /** Bytes of the chunk an item of `bytes` gets; what the engine accounts. */
  chunkBytesFor(bytes: number): number {
    const c = this.classes.classOf(bytes);
    return c < 0 ? alignChunk(bytes) : this.classes.chunkBytes[c]!;
  }

  /** Bytes of the chunk at `addr`. */
  chunkBytesAt(addr: number): number {
    const id = addr >>> OFFSET_BITS;
    const c = this.pageClass[id]!;
    return c === LARGE ? this.pages[id]!.length : this.classes.chunkBytes[c]!;
  }

  /** A chunk of at least `bytes`, first byte zero, or NO_CHUNK when page ids ran out. */
  alloc(bytes: number): number {
    const c = this.classes.classOf(bytes);
    if (c < 0) return this.allocLarge(bytes);
    const st = this.state[c]!;
    if (st.freeCount === 0 && !this.addPage(c, st)) return NO_CHUNK;
    const addr = st.free[--st.freeCount]!;
    this.pageLive[addr >>> OFFSET_BITS]++;
    return addr;
  }

  /** Return a chunk. Its space is reusable at once; `compact` may later move others. */
  free(addr: number): void {
    const id = addr >>> OFFSET_BITS;
    const c = this.pageClass[id]!;
    if (c === LARGE) {
      this.largeCount--;
      this.largeByteCount -= this.pages[id]!.length;
      this.releaseId(id);
      return;
    }
    this.pages[id]![(addr & OFFSET_MASK) << 3] = 0;
    this.pageLive[id]--;
    const st = this.state[c]!;
    if (st.freeCount === st.free.length) st.free = grow(st.free, st.free.length * 2);
    st.free[st.freeCount++] = addr;
    if (st.freeCount > threshold(st) && !st.isDirty) {
      st.isDirty = true;
      this.dirty.push(c);
    }
  }

  /**
   * Evacuate and release pages of classes holding too many free chunks. Call it only
   * when every live chunk is reachable by `relocate` (between operations, not inside).
   */
  compact(relocate: RelocateFn): void {
    while (this.dirty.length > 0) {
      const c = this.dirty.pop()!;
      const st = this.state[c]!;
      while (st.freeCount > threshold(st)) this.evacuate(c, st, relocate);
      st.isDirty = false;
    }
  }

  /** Drop every page and chunk. */
  reset(): void {
    for (let id = 0; id < this.pages.length; id++) {
      this.pages[id] = EMPTY_PAGE;
      this.buffers[id] = EMPTY_BUFFER;
      this.pageClass[id] = UNUSED;
      this.pageLive[id] = 0;
      this.pageChunks[id] = 0;
    }
    this.pages.length = 0;
    this.buffers.length = 0;
    this.freeIds.length = 0;
    this.pool.length = 0;
    this.dirty.length = 0;
    for (const st of this.state) {
      st.free = new Uint32Array(0);
      st.freeCount = 0;
      st.pages.length = 0;
      st.heldBytes = 0;
      st.maxPageChunks = 0;
      st.isDirty = false;
    }
    this.slabPageCount = 0;
    this.slabByteCount = 0;
    this.largeCount = 0;
    this.largeByteCount = 0;
  }

  stats(): SlabStats {
    return {
      slabPages: this.slabPageCount,
      slabBytes: this.slabByteCount,
      largeChunks: this.largeCount,
      largeBytes: this.largeByteCount,
      relocations: this.relocations,
      pagesReleased: this.pagesReleased,
    };
  }

  private allocLarge(bytes: number): number {
    const id = this.takeId();
    if (id < 0) return NO_CHUNK;
    const buf = new ArrayBuffer(alignChunk(bytes));
    this.pages[id] = new Uint8Array(buf);
    this.buffers[id] = buf;
    this.pageClass[id] = LARGE;
    this.largeCount++;
    this.largeByteCount += buf.byteLength;
    return id * PAGE_ID_SPAN;
  }

  private addPage(c: number, st: ClassState): boolean {
    const size = this.classes.chunkBytes[c]!;
    const bytes = Math.min(PAGE_BYTES, Math.max(MIN_PAGE_BYTES, MIN_CHUNKS_PER_PAGE * size, st.heldBytes));
    const perPage = Math.floor(bytes / size);
    let id = bytes === PAGE_BYTES ? this.pool.pop() : undefined;
    if (id === undefined) {
      id = this.takeId();
      if (id < 0) return false;
      const buf = new ArrayBuffer(bytes === PAGE_BYTES ? PAGE_BYTES : perPage * size);
      this.pages[id] = new Uint8Array(buf);
      this.buffers[id] = buf;
      this.slabPageCount++;
      this.slabByteCount += this.pages[id]!.length;
    }
    this.pageClass[id] = c;
    this.pageChunks[id] = perPage;
    st.pages.push(id);
    st.heldBytes += this.pages[id]!.length;
    if (perPage > st.maxPageChunks) st.maxPageChunks = perPage;
    if (st.free.length < st.freeCount + perPage) st.free = grow(st.free, st.freeCount + perPage);
    // Pushed in reverse so that allocation walks the page upwards.
    const base = id * PAGE_ID_SPAN;
    for (let i = perPage - 1; i >= 0; i--) st.free[st.freeCount++] = base + ((i * size) >>> 3);
    return true;
  }

  private evacuate(c: number, st: ClassState, relocate: RelocateFn): void {
    let at = 0;
    for (let i = 1; i < st.pages.length; i++) {
      if (this.pageLive[st.pages[i]!]! < this.pageLive[st.pages[at]!]!) at = i;
    }
    const id = st.pages[at]!;
    const lo = id * PAGE_ID_SPAN;
    const hi = lo + PAGE_ID_SPAN;
    // Forget the page's own free chunks; the rest (more than its live count, by the
    // threshold) receive its live chunks.
    let n = 0;
    for (let i = 0; i < st.freeCount; i++) {
      const a = st.free[i]!;
      if (a < lo || a >= hi) st.free[n++] = a;
    }
    st.freeCount = n;
    const page = this.pages[id]!;
    const size = this.classes.chunkBytes[c]!;
    const end = this.pageChunks[id]! * size;
    for (let off = 0; off < end; off += size) {
      if (page[off] === 0) continue;
      const to = st.free[--st.freeCount]!;
      const toId = to >>> OFFSET_BITS;
      this.pages[toId]!.set(page.subarray(off, off + size), (to & OFFSET_MASK) << 3);
      this.pageLive[toId]++;
      relocate(lo + (off >>> 3), to);
      this.relocations++;
    }
    st.pages[at] = st.pages[st.pages.length - 1]!;
    st.pages.pop();
    st.heldBytes -= page.length;
    st.maxPageChunks = 0;
    for (const p of st.pages) st.maxPageChunks = Math.max(st.maxPageChunks, this.pageChunks[p]!);
    this.pageLive[id] = 0;
    this.pageChunks[id] = 0;
    this.pagesReleased++;
    if (page.length === PAGE_BYTES && this.pool.length < POOL_MAX_PAGES) {
      page.fill(0);
      this.pageClass[id] = UNUSED;
      this.pool.push(id);
    } else {
      this.slabPageCount--;
      this.slabByteCount -= page.length;
      this.releaseId(id);
    }
  }

  private takeId(): number {
    const id = this.freeIds.pop();
    if (id !== undefined) return id;
    if (this.pages.length >= MAX_PAGE_IDS) return -1;
    this.pages.push(EMPTY_PAGE);
    this.buffers.push(EMPTY_BUFFER);
    return this.pages.length - 1;
  }

  private releaseId(id: number): void {
    this.pages[id] = EMPTY_PAGE;
    this.buffers[id] = EMPTY_BUFFER;
    this.pageClass[id] = UNUSED;
    this.freeIds.push(id);
  }
}

/** Free chunks a class may hold before its emptiest page is evacuated. */
function threshold(st: ClassState): number {
  return st.maxPageChunks + Math.max(1, st.maxPageChunks >>> 1);
}

function grow(a: Uint32Array, capacity: number): Uint32Array {
  const next = new Uint32Array(Math.max(capacity, 64));
  next.set(a);
  return next;
}
