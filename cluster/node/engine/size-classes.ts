/** Bytes of one slab page. Chunk addresses pack a page id and an 8-byte-unit offset. */
export const PAGE_BYTES = 1 << 20;
/** Every chunk starts on, and spans a multiple of, this many bytes. */
export const CHUNK_ALIGN_BYTES = 8;
/** Largest chunk carved from slab pages; bigger items get a buffer of their own. */
export const MAX_SLAB_CHUNK_BYTES = PAGE_BYTES / 2;

// 8-byte steps up to here: small items dominate a cache, and a coarse class would waste
// up to a quarter of each one. Beyond it classes grow geometrically like memcached's -f.
const FINE_LIMIT_BYTES = 1024;
const GROWTH_FACTOR = 1.25;

/** Round `bytes` up to the chunk alignment. */
export function alignChunk(bytes: number): number {
  return (bytes + CHUNK_ALIGN_BYTES - 1) & ~(CHUNK_ALIGN_BYTES - 1);
}

/**
 * The table of chunk sizes: 8, 16, … 1024, then ×1.25 (8-aligned) up to half a page.
 * `classOf` maps a byte count to the smallest class that holds it.
 */
export class SizeClasses {
  /** Chunk bytes of each class, ascending. */
  readonly chunkBytes: Int32Array;
  private readonly fineCount: number;

  constructor() {
    const sizes: number[] = [];
    for (let s = CHUNK_ALIGN_BYTES; s <= FINE_LIMIT_BYTES; s += CHUNK_ALIGN_BYTES) sizes.push(s);
    this.fineCount = sizes.length;
    let s = FINE_LIMIT_BYTES;
    while (s < MAX_SLAB_CHUNK_BYTES) {
      s = Math.min(alignChunk(Math.ceil(s * GROWTH_FACTOR)), MAX_SLAB_CHUNK_BYTES);
      sizes.push(s);
    }
    this.chunkBytes = Int32Array.from(sizes);
  }

  get count(): number {
    return this.chunkBytes.length;
  }

  /** Class index for an item of `bytes`, or -1 when it is larger than every class. */
  classOf(bytes: number): number {
    if (bytes <= FINE_LIMIT_BYTES) return bytes <= CHUNK_ALIGN_BYTES ? 0 : ((bytes + CHUNK_ALIGN_BYTES - 1) >>> 3) - 1;
    if (bytes > MAX_SLAB_CHUNK_BYTES) return -1;
    const sizes = this.chunkBytes;
    let lo = this.fineCount;
    let hi = sizes.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sizes[mid]! < bytes) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
