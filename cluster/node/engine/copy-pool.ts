// Typed arrays over 64 bytes get a backing store of their own from V8, which costs about
// a microsecond each, far more than the rest of a get. Small copies are therefore carved
// out of a shared block, as Node's Buffer pool does; a copy that outlives its siblings
// keeps at most one block alive.
const BLOCK_BYTES = 16 * 1024;
const MAX_POOLED_BYTES = 1024;
// Copies start 8-byte aligned, like a fresh allocation.
const ALIGN = 8;

/** Hands out caller-owned copies of byte ranges. */
export class CopyPool {
  private block = new ArrayBuffer(BLOCK_BYTES);
  private used = 0;

  /** A new Uint8Array holding bytes `[start, start + length)` of `src`, shared with no one's data. */
  copy(src: ArrayBuffer, start: number, length: number): Uint8Array {
    if (length > MAX_POOLED_BYTES) return new Uint8Array(src.slice(start, start + length));
    if (this.used + length > BLOCK_BYTES) {
      this.block = new ArrayBuffer(BLOCK_BYTES);
      this.used = 0;
    }
    const out = new Uint8Array(this.block, this.used, length);
    this.used += (length + ALIGN - 1) & ~(ALIGN - 1);
    // A view built from the ArrayBuffer costs half of what subarray() does.
    out.set(new Uint8Array(src, start, length));
    return out;
  }
}
